"""`tvmrpc-console --run KEY --tracker H:P` / `--connect H:P`: real TVM-compiled modules run on
our device server (direct and through our tracker), outputs compared byte for byte with the
expected .npy files, the time evaluator summary, and the exit status and message of each
failure (usage 2; missing files, unknown functions, unreachable peers, remote errors 1)."""
import os
import re
import socket
import time

import numpy as np
import pytest

from conftest import BUILD, free_port, run, wait_port

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def fixture(name):
    path = os.path.join(FIXTURES, name)
    if not os.path.exists(path):
        pytest.fail("fixture %s is missing from tests/fixtures" % name)
    return path


def check_clean(err):
    assert "Sanitizer" not in err and "runtime error" not in err, err


def start_server(spawn, *flags):
    """A device server on a free loopback port."""
    port = free_port()
    p = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(port),
              "--port-end", str(port + 1), *flags)
    deadline = time.time() + 10
    while time.time() < deadline:
        if p.p.poll() is not None:
            rc, _, err = p.stop()
            raise AssertionError("server exited with %d: %s" % (rc, err))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return port
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("server did not listen on %d" % port)


def start_tracker(spawn):
    port = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port),
          "--port-end", str(port + 1))
    wait_port(port)
    return port


def run_ok(*args, timeout=60):
    r = run(*args, timeout=timeout)
    check_clean(r.stderr)
    assert r.returncode == 0, r.stderr
    return r


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


# ---- usage errors: exit 2, nothing contacted ----

def test_help_documents_outputs():
    r = run("--run", "k", "--help")
    assert r.returncode == 0
    assert "--shape DTYPE" in r.stdout and "--like" in r.stdout and "--time" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--connect", "127.0.0.1:1", "m.so"], "needs MODULE.so and FUNC"),
    (["--run", "k", "m.so", "f"], "needs --tracker"),
    (["--connect", "nohostport", "m.so", "f"], "HOST:PORT"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "--shape", "float32[2]"], "must follow"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "--out", "y.npy", "--shape", "float99[2]"],
     "unknown dtype"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "--out", "y.npy", "--shape", "float32[2,x]"],
     "dimension"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "--repeat", "0"], "--repeat"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "--bogus", "1"], "unknown option"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "g"], "unexpected argument"),
    (["--connect", "127.0.0.1:1", "m.so", "f", "--device", "tpu"], "unknown device"),
])
def test_usage_errors(args, needle):
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr


# ---- local and connection errors: exit 1 ----

def test_missing_module_file(tmp_path):
    r = run("--connect", "127.0.0.1:%d" % free_port(), str(tmp_path / "nope.so"), "f")
    assert r.returncode == 1
    assert "nope.so" in r.stderr and "No such file" in r.stderr


def test_bad_input_npy(tmp_path):
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    bad = tmp_path / "f.npy"
    np.save(bad, np.asfortranarray(np.ones((2, 3), np.float32)))
    r = run("--connect", "127.0.0.1:%d" % free_port(), str(mod), "f", "--in", str(bad))
    assert r.returncode == 1
    assert "f.npy" in r.stderr and "fortran_order" in r.stderr


def test_unreachable_server(tmp_path):
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    port = free_port()
    r = run("--connect", "127.0.0.1:%d" % port, str(mod), "f")
    assert r.returncode == 1
    assert "cannot connect to 127.0.0.1:%d" % port in r.stderr


def test_unreachable_tracker(tmp_path):
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    port = free_port()
    r = run("--run", "k", "--tracker", "127.0.0.1:%d" % port, "--retries", "2", str(mod), "f")
    assert r.returncode == 1
    assert "tracker 127.0.0.1:%d" % port in r.stderr and "2 attempt" in r.stderr


def test_tracker_without_device_gives_up_after_wait(spawn, tmp_path):
    tracker = start_tracker(spawn)
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    t0 = time.time()
    r = run("--run", "nobody", "--tracker", "127.0.0.1:%d" % tracker, "--wait", "0.5",
            str(mod), "f", timeout=20)
    assert r.returncode == 1
    assert "no free 'nobody' device within 0.5 s" in r.stderr
    assert time.time() - t0 < 15


def test_not_an_rpc_server(spawn, tmp_path):
    # A tracker port speaks another protocol: the handshake fails with a clear message.
    tracker = start_tracker(spawn)
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    r = run("--connect", "127.0.0.1:%d" % tracker, "--connect-timeout", "3", str(mod), "f")
    assert r.returncode == 1
    assert "127.0.0.1:%d" % tracker in r.stderr


# ---- real modules on the real server ----

def test_add_one_direct_byte_exact(spawn, tmp_path):
    port = start_server(spawn)
    out = tmp_path / "b.npy"
    r = run_ok("--connect", "127.0.0.1:%d" % port, fixture("add_one.so"), "add_one",
               "--in", fixture("add_one_input.npy"),
               "--out", str(out), "--like", fixture("add_one_expected.npy"))
    assert same_file(out, fixture("add_one_expected.npy"))
    assert "b.npy: float32[1024]" in r.stdout


def test_matmul_with_shape_and_time(spawn, tmp_path):
    port = start_server(spawn)
    out = tmp_path / "c.npy"
    r = run_ok("--connect", "127.0.0.1:%d" % port, fixture("matmul.so"), "matmul",
               "--in", fixture("matmul_a.npy"), "--in", fixture("matmul_b.npy"),
               "--out", str(out), "--shape", "float32[64,64]",
               "--time", "--number", "2", "--repeat", "3")
    assert same_file(out, fixture("matmul_expected.npy"))
    lines = r.stdout.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("Execution time summary"))
    assert "repeat 3 x number 2" in lines[i]
    assert lines[i + 1].split() == ["mean", "(ms)", "median", "(ms)", "max", "(ms)", "min",
                                    "(ms)", "std", "(ms)"]
    mean, median, mx, mn, std = (float(x) for x in lines[i + 2].split())
    assert 0 < mn <= median <= mx and mn <= mean <= mx and std >= 0


def test_relax_vm_main(spawn, tmp_path):
    port = start_server(spawn)
    out = tmp_path / "logits.npy"
    r = run_ok("--connect", "127.0.0.1:%d" % port, fixture("mlp_digits.so"), "main",
               "--in", fixture("mlp_digits_input.npy"), "--out", str(out),
               "--time", "--number", "1", "--repeat", "2")
    assert "logits.npy: float32[16,10]" in r.stdout
    assert "Execution time summary (repeat 2 x number 1)" in r.stdout
    got = np.load(out)
    expected = np.load(fixture("mlp_digits_expected.npy"))
    assert got.shape == (16, 10) and got.dtype == np.float32
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert (got.argmax(axis=1) == np.load(fixture("mlp_digits_labels.npy"))).all()


def test_through_tracker(spawn, tmp_path):
    tracker = start_tracker(spawn)
    start_server(spawn, "--tracker", "127.0.0.1:%d" % tracker, "--key", "board")
    for attempt in range(2):  # the server's session ends and it registers again
        out = tmp_path / ("b%d.npy" % attempt)
        r = run_ok("--run", "board", "--tracker", "127.0.0.1:%d" % tracker, "--wait", "20",
                   "--priority", "3", "--session-timeout", "30",
                   fixture("add_one.so"), "add_one", "--in", fixture("add_one_input.npy"),
                   "--out", str(out), "--shape", "float32[1024]", timeout=60)
        assert same_file(out, fixture("add_one_expected.npy")), r.stderr


def test_unknown_function(spawn, tmp_path):
    port = start_server(spawn)
    r = run("--connect", "127.0.0.1:%d" % port, fixture("add_one.so"), "no_such_kernel",
            "--in", fixture("add_one_input.npy"))
    check_clean(r.stderr)
    assert r.returncode == 1
    assert "add_one.so has no function 'no_such_kernel'" in r.stderr


def test_remote_error_is_reported(spawn, tmp_path):
    # Wrong input shape: the kernel's own argument check fails on the device.
    port = start_server(spawn)
    small = tmp_path / "small.npy"
    np.save(small, np.zeros(10, np.float32))
    out = tmp_path / "b.npy"
    r = run("--connect", "127.0.0.1:%d" % port, fixture("add_one.so"), "add_one",
            "--in", str(small), "--out", str(out), "--shape", "float32[10]")
    check_clean(r.stderr)
    assert r.returncode == 1
    assert "add_one failed" in r.stderr
    assert not out.exists()


def test_result_out_without_result(spawn, tmp_path):
    # A kernel returns nothing: a result-style --out explains how to pass an output buffer.
    port = start_server(spawn)
    r = run("--connect", "127.0.0.1:%d" % port, fixture("add_one.so"), "add_one",
            "--in", fixture("add_one_input.npy"), "--in", fixture("add_one_input.npy"),
            "--out", str(tmp_path / "b.npy"))
    check_clean(r.stderr)
    assert r.returncode == 1
    assert "returned nothing" in r.stderr and "--shape" in r.stderr


def test_missing_file_on_a_live_server(spawn, tmp_path):
    port = start_server(spawn)
    r = run("--connect", "127.0.0.1:%d" % port, str(tmp_path / "gone.so"), "f")
    assert r.returncode == 1
    assert "gone.so" in r.stderr and "No such file" in r.stderr


def start_proxy(spawn, *flags):
    port = free_port()
    spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
          "--port-end", str(port + 1), *flags)
    wait_port(port)
    return port


def test_proxy_without_device_refuses_key(spawn, tmp_path):
    proxy = start_proxy(spawn, "--timeout-client", "0.3")
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    r = run("--connect", "127.0.0.1:%d" % proxy, "--key", "nobody", str(mod), "f")
    check_clean(r.stderr)
    assert r.returncode == 1
    assert "refused key 'nobody'" in r.stderr


def test_through_proxy(spawn, tmp_path):
    proxy = start_proxy(spawn)
    server = spawn("--headless", "server", "--through-proxy", "--host", "127.0.0.1",
                   "--port", str(proxy), "--key", "board")
    server.wait_log(", waiting for a client")  # registered with the proxy
    out = tmp_path / "b.npy"
    run_ok("--connect", "127.0.0.1:%d" % proxy, "--key", "board", fixture("add_one.so"),
           "add_one", "--in", fixture("add_one_input.npy"), "--out", str(out),
           "--like", fixture("add_one_expected.npy"))
    assert same_file(out, fixture("add_one_expected.npy"))


def test_scalar_argument_and_result(spawn):
    # sleep_ms(ms: int) -> int, a test kernel built from tests/models/sleep_kernel.c
    port = start_server(spawn)
    r = run_ok("--connect", "127.0.0.1:%d" % port, os.path.join(BUILD, "models",
               "sleep_kernel.so"), "sleep_ms", "--arg", "5")
    assert "result: 5" in r.stdout


def test_session_timeout_is_reported(spawn):
    port = start_server(spawn)
    r = run("--connect", "127.0.0.1:%d" % port, "--session-timeout", "1",
            os.path.join(BUILD, "models", "sleep_kernel.so"), "sleep_ms", "--arg", "8000",
            timeout=30)
    check_clean(r.stderr)
    assert r.returncode == 1
    assert "sleep_ms failed: RPCSessionTimeoutError: " in r.stderr
