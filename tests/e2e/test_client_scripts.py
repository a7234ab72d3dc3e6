"""The real TVM Python client's scripts, beyond the basics, against our server.

tests/conformance/client_scripts/remote_surface.py is a script written with the stock
`tvm.rpc` client: printing remote objects with ffi.ReprPrint, compiled kernels that call
tvm.contrib.sort / tvm.contrib.random by name inside the session, parameter blobs, thread
control and timers, containers built on the board, JSON and structural helpers, module
introspection, listing the globals, tensor helpers, rpc.Connect from the board to a second
board (a multi-hop session) and the VM's builtins. Its session with TVM's own tvm_rpc was
recorded (tests/vectors/python_remote_surface.json); here every request of that session goes to
our server and every reply must have the recorded shape and values (handles and pointers
mapped, blob contents compared by length). Where the peer is built, running the script itself
against our server prints the same lines as against tvm_rpc (see README, Compatibility)."""
import os

import pytest

import live_replay
import tvm_wire as w
from conftest import BUILD, ROOT
from test_server_session import SANITIZER_MARKS, Services

VECTOR = os.path.join(ROOT, "tests", "vectors", "python_remote_surface.json")
CONTRIB_SO = os.path.join(BUILD, "models", "contrib_calls.so")
RECORDED_FAR_PORT = 9092


@pytest.fixture
def boards(tmp_path):
    svcs = Services(tmp_path)
    near = svcs.start("the near board", "server", ["--key", "cpu"])
    far = svcs.start("the far board", "server", ["--key", "cpu"])
    yield near, far
    dead = svcs.close()
    assert not dead, "a server died:\n%s" % dead[0].text()
    for s in (near, far):
        assert not any(m in s.text() for m in SANITIZER_MARKS), s.text()


def global_names(rec):
    """Recorded handle -> global name, from the GetGlobalFunc exchanges."""
    names = {}
    for req, rep in rec.pairs:
        if req.code == w.RPCCode.GET_GLOBAL_FUNC and rep is not None and rep.args:
            names[int(rep.args[0])] = req.args[0]
    return names


def test_remote_surface_script_replays_on_our_server(boards):
    near, far = boards
    rec = w.RecordedSession(w.load_vector(VECTOR))
    names = global_names(rec)
    with open(CONTRIB_SO, "rb") as f:
        contrib = f.read()
    seen = {"connect": 0, "upload": 0}
    paths = {}  # recorded work-dir paths -> ours

    def substitute(i, p):
        if p.code != w.RPCCode.CALL_FUNC:
            return p
        if any(isinstance(a, str) and a in paths for a in p.args):
            p = w.Packet(p.code, handle=p.handle,
                         args=[paths.get(a, a) if isinstance(a, str) else a for a in p.args])
        name = names.get(rec.pairs[i][0].handle)
        if name == "rpc.Connect":
            # The far board listens on another port here than in the recording.
            assert p.args[1] == RECORDED_FAR_PORT
            seen["connect"] += 1
            return w.Packet(p.code, handle=p.handle, args=[p.args[0], far.port] + p.args[2:])
        if name == "tvm.rpc.server.upload" and p.args[0] == "contrib_calls.so":
            seen["upload"] += 1
            return w.Packet(p.code, handle=p.handle, args=[p.args[0], w.ObjBytes(contrib)])
        return p

    def equivalent(i, req, rep, live):
        """Answers that differ by design: thread counts of the machine's own pool and the
        number of globals (ours leaves out disco, tests and the LLM builtins)."""
        name = names.get(req.handle) if req.code == w.RPCCode.CALL_FUNC else None
        if name == "tvm.rpc.server.workpath":
            ok = (live.args[0] == w.TI.STR and live.args[1].startswith("/")
                  and os.path.basename(live.args[1]) == os.path.basename(rep.args[1]))
            paths[rep.args[1]] = live.args[1]
            return ok
        if name == "runtime.NumThreads":
            return live.args[0] == w.TI.INT and live.args[1] >= 1
        if req.code == w.RPCCode.CALL_FUNC and req.args == [-1] and name is None:
            return live.args[0] == w.TI.INT and 190 <= live.args[1] <= rep.args[1]
        return False

    with w.Session.connect("127.0.0.1", near.port, "cpu") as s:
        pairs = live_replay.replay(s, rec, substitute, equivalent=equivalent)
    assert seen == {"connect": 1, "upload": 1}
    assert len(pairs) == len(rec.pairs) - 1  # all but InitServer
    assert "linked" not in near.text()  # a .so: nothing to link
