"""Autotuning out of the box: MetaSchedule's stock RPC runner against a device server started
with its defaults. The runner's session was recorded with the real TVM Python client against
TVM's own tvm_rpc (tests/vectors/python_metaschedule_runner.json, made by
tests/conformance/client_scripts/metaschedule_runner.py): upload of the builder's .tar (gzip,
as MetaSchedule's `tar -czf`), load_module (the server links it), random_fill_for_measure on
each argument, time_evaluator of "main" with the CPU cache flush, then remove. Here the same
requests go to our server, with a .tar this test builds, and every reply must have the
recorded shape; `--compiler none` and a board without a compiler refuse with a clear error."""
import os
import struct
import subprocess
import tarfile
import time

import numpy as np
import pytest

import live_replay
import tvm_wire as w
from conftest import ROOT
from test_server_session import Services

VECTOR = os.path.join(ROOT, "tests", "vectors", "python_metaschedule_runner.json")
KERNEL = os.path.join(ROOT, "tests", "models", "vector_add.c")


@pytest.fixture
def services(tmp_path):
    svcs = Services(tmp_path)
    yield svcs
    svcs.close()


def build_artifact(tmp_path):
    """What MetaSchedule's builder uploads: `tar -czf tvm_tmp_mod.tar lib0.o`."""
    obj = tmp_path / "lib0.o"
    subprocess.run(["cc", "-c", "-fPIC", "-O2", "-o", str(obj), KERNEL], check=True)
    art = tmp_path / "tvm_tmp_mod.tar"
    with tarfile.open(art, "w:gz") as t:
        t.add(obj, arcname="lib0.o")
    return art.read_bytes()


def start_server(services, extra=(), env=None):
    args = ["--key", "cpu"] + list(extra)
    if env is None:
        return services.start("the device server", "server", args)
    old = dict(os.environ)
    os.environ.update(env)
    try:
        return services.start("the device server", "server", args)
    finally:
        os.environ.clear()
        os.environ.update(old)


def wait_log(srv, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in srv.text():
            return
        time.sleep(0.02)
    raise AssertionError("%r not in the server log:\n%s" % (text, srv.text()))


def test_default_server_runs_the_recorded_runner(services, tmp_path):
    tar = build_artifact(tmp_path)
    srv = start_server(services)
    wait_log(srv, "linking uploads with /")
    rec = w.RecordedSession(w.load_vector(VECTOR))
    uploads = []

    def substitute(i, p):
        # The upload carries the test's own .tar instead of the recorded one.
        if p.code == w.RPCCode.CALL_FUNC and len(p.args) == 2 and isinstance(p.args[1], bytes) \
                and p.args[0] == "tvm_tmp_mod.tar":
            uploads.append(i)
            return w.Packet(p.code, handle=p.handle, args=[p.args[0], w.ObjBytes(tar)])
        return p

    with w.Session.connect("127.0.0.1", srv.port, "cpu") as s:
        pairs = live_replay.replay(s, rec, substitute)
    assert len(uploads) == 1
    # The time evaluator's answer: repeat=2 positive costs.
    costs = [struct.unpack("<2d", bytes(rep.args[1])) for _, rep in pairs
             if rep is not None and rep.code == w.RPCCode.RETURN and len(rep.args) == 2
             and isinstance(rep.args[1], bytes) and len(rep.args[1]) == 16]
    assert len(costs) == 1 and all(c > 0 for c in costs[0]), costs
    # The three arguments copied back after the run: C = A + B on random data.
    acks = [np.frombuffer(rep.data, "<f4") for _, rep in pairs
            if rep is not None and rep.code == w.RPCCode.COPY_ACK]
    a, b, c = acks[-3:]
    assert a.any() and b.any()
    np.testing.assert_array_equal(c, a + b)
    assert "linked" in srv.text()


def load_error(srv, tar):
    with w.Session.connect("127.0.0.1", srv.port, "cpu") as s:
        s.upload("tvm_tmp_mod.tar", tar)
        with pytest.raises(w.RPCError) as e:
            s.load_module("tvm_tmp_mod.tar")
        s.shutdown()
    return e.value.text


def test_compiler_none_refuses_with_the_fixes(services, tmp_path):
    tar = build_artifact(tmp_path)
    srv = start_server(services, ["--compiler", "none"])
    wait_log(srv, "switched off (compiler = none)")
    text = load_error(srv, tar)
    assert text.startswith("RuntimeError: cannot link")
    assert "compiler = none" in text and "--compiler" in text and ".so" in text


def test_board_without_a_compiler_says_so(services, tmp_path):
    tar = build_artifact(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    srv = start_server(services, env={"PATH": str(empty)})
    wait_log(srv, "no C compiler on PATH")
    text = load_error(srv, tar)
    assert "found no C compiler" in text and "--compiler" in text and ".so" in text


def test_explicit_compiler_is_used(services, tmp_path):
    tar = build_artifact(tmp_path)
    srv = start_server(services, ["--compiler", "gcc -O1"])
    wait_log(srv, "linking uploads with gcc -O1")
    with w.Session.connect("127.0.0.1", srv.port, "cpu") as s:
        s.upload("tvm_tmp_mod.tar", tar)
        mod = s.load_module("tvm_tmp_mod.tar")
        f = s.module_get_function(mod, "main")
        x = s.tensor(np.arange(8, dtype="float32"))
        y = s.tensor(np.ones(8, dtype="float32"))
        z = s.empty((8,), "float32")
        f(x, y, z)
        np.testing.assert_array_equal(z.numpy(), np.arange(8, dtype="float32") + 1)
        for o in (f, mod, x, y, z):
            o.free()
        s.shutdown()


def test_tracker_and_console_see_how_a_board_links(services):
    tracker = services.tracker()
    srv = start_server(services, ["--tracker", "127.0.0.1:%d" % tracker.port])
    wait_log(srv, "linking uploads with /")
    deadline = time.time() + 10
    info = []
    while time.time() < deadline and not info:
        with w.TrackerClient("127.0.0.1", tracker.port) as t:
            info = [s for s in t.summary()["server_info"] if s.get("key") == "server:cpu"]
        time.sleep(0.05)
    assert info and info[0]["compiler"].startswith("/") and "addr" in info[0]
