"""The whole TVM-compiled model (tests/fixtures/mlp_digits.so, a Relax VM executable) run with
`tvmrpc-console --run` along every path a lab uses: a board registered with the tracker, and a
board behind the proxy reached through the tracker (tracker -> proxy -> board). The logits
must match TVM's within 1e-5 and every prediction its label."""
import os

import numpy as np

from conftest import ROOT, free_port, run, wait_port, wait_until
from tvm_wire import TrackerClient

FIX = os.path.join(ROOT, "tests", "fixtures")


def fixture(name):
    return os.path.join(FIX, name)


def start_tracker(spawn):
    port = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end",
          str(port + 1))
    wait_port(port)
    return port


def wait_free(tracker, key, timeout=20.0):
    with TrackerClient("127.0.0.1", tracker) as t:
        wait_until(lambda: t.summary()["queue_info"].get(key, {}).get("free", 0) >= 1,
                   timeout, "a free %s in the tracker" % key)


def run_mlp(tracker, key, out, timed=False):
    args = ["--run", key, "--tracker", "127.0.0.1:%d" % tracker, "--wait", "30",
            fixture("mlp_digits.so"), "main", "--in", fixture("mlp_digits_input.npy"),
            "--out", str(out)]
    if timed:
        args.append("--time")
    r = run(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    np.testing.assert_allclose(got, np.load(fixture("mlp_digits_expected.npy")), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(got.argmax(axis=1), np.load(fixture("mlp_digits_labels.npy")))
    return r


def test_model_through_the_tracker(spawn, tmp_path):
    tracker = start_tracker(spawn)
    port = free_port()
    spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(port), "--port-end",
          str(port + 1), "--tracker", "127.0.0.1:%d" % tracker, "--key", "mlp-board")
    wait_free(tracker, "mlp-board")
    r = run_mlp(tracker, "mlp-board", tmp_path / "y.npy", timed=True)
    assert "mean" in r.stdout or "mean" in r.stderr


def test_model_through_the_tracker_and_the_proxy(spawn, tmp_path):
    tracker = start_tracker(spawn)
    proxy = free_port()
    spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(proxy), "--port-end",
          str(proxy + 1), "--tracker", "127.0.0.1:%d" % tracker)
    wait_port(proxy)
    spawn("--headless", "server", "--through-proxy", "--host", "127.0.0.1", "--port",
          str(proxy), "--key", "nat-board")
    wait_free(tracker, "nat-board")
    run_mlp(tracker, "nat-board", tmp_path / "y.npy")
    # The board registers again behind the proxy and serves a second run.
    wait_free(tracker, "nat-board")
    run_mlp(tracker, "nat-board", tmp_path / "y2.npy")
