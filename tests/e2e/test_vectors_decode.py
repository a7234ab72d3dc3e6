"""Every recorded vector (tests/vectors/, copied from real Apache TVM traffic, see its README)
decodes with tvm_wire and re-encodes byte for byte; and tvm_wire's client, replayed against
the recorded server replies, sends byte-identical requests. This shows the Python client used
by the end-to-end tests speaks the same protocol as stock TVM."""
import glob
import json
import os
import socket
import struct

import numpy as np
import pytest

import tvm_wire as w

VEC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")
TRACKER = {"tracker_all_codes", "tracker_client_request", "tracker_request_wait_client",
           "tracker_request_wait_server", "tracker_server_register", "tracker_summary",
           "python_tracker", "proxy_tracker_register"}
SERVER_FIRST = {"proxy_server_side", "proxy_server_side_tracker_mode"}
SESSIONS = {"callfunc", "exception", "handshake", "handshake_mismatch", "handshake_timeout",
            "initserver_constructor", "proxy_client_side", "python_kernel_add_one",
            "python_kernel_matmul_timeeval", "python_relax_mlp", "python_session",
            "python_tracker_session", "shutdown", "tensor", "timeeval", "upload",
            "python_metaschedule_runner", "python_remote_surface",
            "python_opencl_fixtures"} | SERVER_FIRST


# WebSocket vectors (tests/conformance/record_websocket.py): both peers of a proxy link, the
# device server's side as WebSocket frames ("ws") and the client's as TCP chunks ("tcp").
WEBSOCKET = {"python_websocket_server"}


def vector(name):
    return w.load_vector(os.path.join(VEC_DIR, name + ".json"))


def all_names():
    return sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(VEC_DIR, "*.json")))


def test_every_vector_is_classified():
    names = set(all_names())
    assert len(names) >= 26
    assert names == TRACKER | SESSIONS | WEBSOCKET, names ^ (TRACKER | SESSIONS | WEBSOCKET)


def _message_ends(stream, first_len):
    """Offsets where messages end in a stream: after the handshake part, then per packet."""
    ends = [first_len]
    raws, rest = w.split_packets(stream[first_len:])
    assert rest == b""
    pos = first_len
    for raw in raws:
        pos += len(raw)
        ends.append(pos)
    return set(ends)


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_session_vector_decodes_and_reencodes(name):
    v = vector(name)
    rec = w.RecordedSession(v, server_first_handshake=name in SERVER_FIRST)
    # handshake re-encodes exactly
    c2s = w.direction_stream(v, "c2s")
    s2c = w.direction_stream(v, "s2c")
    assert c2s.startswith(w.handshake_bytes(rec.client_key))
    reply = struct.pack("<i", rec.reply_code)
    if rec.server_key is not None:
        reply = w.handshake_bytes(rec.server_key)
    assert s2c.startswith(reply)
    if name in SERVER_FIRST:
        assert rec.client_key.startswith("server:") and rec.server_key.startswith("client:")
    elif name == "handshake_mismatch":
        assert rec.reply_code == w.RPC_CODE_MISMATCH and not rec.pairs
        return
    else:
        assert rec.client_key.startswith("client:") and rec.server_key.startswith("server:")
    # every packet re-encodes byte for byte
    for raw, p in rec.requests + rec.replies:
        assert w.encode_packet(p) == raw, p
    # each recorded exchange holds whole messages (request/response discipline)
    for d, hs_len in (("c2s", len(c2s) - sum(len(r) for r, _ in
                                              (rec.requests if name not in SERVER_FIRST
                                               else rec.replies))),
                      ("s2c", len(s2c) - sum(len(r) for r, _ in
                                              (rec.replies if name not in SERVER_FIRST
                                               else rec.requests)))):
        ends = _message_ends(w.direction_stream(v, d), hs_len)
        pos = 0
        for dd, b in w.iter_exchanges(v):
            if dd == d:
                pos += len(b)
                assert pos in ends, (d, pos)
    # the session starts with InitServer "0.8.0"; every reply fits its request
    assert rec.pairs[0][0].code == w.RPCCode.INIT_SERVER
    assert rec.pairs[0][0].version == w.PROTOCOL_VERSION
    for req, rep in rec.pairs:
        assert req.code in w.RPCCode.__members__.values() and req.code not in (4, 5, 8)
        if rep is None:
            assert req.code == w.RPCCode.SHUTDOWN
            assert req is rec.pairs[-1][0]
        else:
            w.check_reply_shape(req, rep)


@pytest.mark.parametrize("name", sorted(TRACKER))
def test_tracker_vector_decodes(name):
    v = vector(name)
    c2s = w.direction_stream(v, "c2s")
    s2c = w.direction_stream(v, "s2c")
    magic = struct.pack("<i", w.TRACKER_MAGIC)
    assert c2s[:4] == magic and s2c[:4] == magic
    reqs = w.decode_tracker_frames(c2s[4:])
    reps = w.decode_tracker_frames(s2c[4:])
    for obj, text in reqs + reps:
        # Python json.dumps style: our encoder produces the identical frame
        assert json.dumps(obj) == text
        assert w.tracker_frame(obj)[4:] == text.encode()
    for obj, _ in reqs:
        assert isinstance(obj, list) and obj[0] in (1, 2, 3, 4, 5, 6, 7)
    # replies match their requests in shape (REQUEST's reply may be deferred, it is last)
    plain = [o for o, _ in reqs]
    assert len(reps) == len(plain), (plain, reps)
    for req, (rep, _) in zip(plain, reps):
        code = req[0]
        if code in (1, 3, 5):
            assert rep == 0
        elif code == 2:
            assert rep == -1
        elif code == 7:
            assert isinstance(rep, list) and all(isinstance(x, str) for x in rep)
        elif code == 6:
            assert rep[0] == 0 and set(rep[1]) == {"queue_info", "server_info"}
        elif code == 4:
            assert rep[0] == 0 and len(rep[1]) == 3 and rep[1][2].startswith(req[1] + ":")


def test_tracker_all_codes_structure():
    """The masked structure keeps what matters (codes, keys) and hides IPs/ports/matchkeys."""
    v = vector("tracker_all_codes")
    reps = [o for o, _ in w.decode_tracker_frames(w.direction_stream(v, "s2c")[4:])]
    assert w.tracker_structure(reps[5]) == [0, ["<ip>", "<port>", "veccodes:<rand>"]]
    assert w.tracker_structure(reps[3]) == ["veccodes:<rand>"]


def test_python_sessions_have_the_same_structure():
    """python_session (direct) and python_tracker_session (through the tracker) are the same
    calls in two runs: after masking handles, the packets agree (the check used later to
    compare our server's live replies with the recording)."""
    a = w.RecordedSession(vector("python_session"))
    b = w.RecordedSession(vector("python_tracker_session"))
    assert len(a.pairs) == len(b.pairs)
    # the only recorded difference that is not a handle: the server's session directory
    listdir = [i for i, (q, r) in enumerate(a.pairs) if r is not None and r.args
               and isinstance(r.args[-1], str) and r.args[-1].startswith("/srv/")]
    assert len(listdir) == 1
    i = listdir[0]
    assert a.pairs[i][1].args[1].replace("/s2/", "/s1/") == b.pairs[i][1].args[1]
    b.pairs[i][1].args[1] = a.pairs[i][1].args[1]
    for (qa, ra), (qb, rb) in zip(a.pairs, b.pairs):
        w.assert_same_structure(w.packet_structure(qa), w.packet_structure(qb))
        if ra is not None:
            w.assert_same_structure(w.packet_structure(ra, keep_floats=False),
                                    w.packet_structure(rb, keep_floats=False))
    # and the masking is not blind: the handle of a null lookup is distinguished
    nulls = [i for i, (q, r) in enumerate(a.pairs)
             if q.code == w.RPCCode.GET_GLOBAL_FUNC and r.args == [0]]
    assert nulls and w.packet_structure(a.pairs[nulls[0]][1]) != \
        w.packet_structure(a.pairs[1][1])


def test_relax_tensor_return_is_three_elements():
    rec = w.RecordedSession(vector("python_relax_mlp"))
    tensors = [w.decode_typed_return(r.args) for q, r in rec.pairs
               if q.code == w.RPCCode.CALL_FUNC and r.args and r.args[0] == w.TI.TENSOR]
    assert len(tensors) == 1
    t = tensors[0]
    assert t.header.shape == (16, 10) and t.header.dtype == w.DataType(2, 32)
    assert t.header.byte_offset == 0 and t.handle != 0


# --- replay: our client against the recorded server replies ------------------------------------


def replay(name, drive, check_key=True):
    rec = w.RecordedSession(vector(name))
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    server = w.ReplayServer(rec, b, check_key)
    try:
        w.send_handshake(a, rec.client_key)
        peer = w.read_handshake_reply(a)
        assert peer == rec.server_key
        s = w.Session(a, peer)
        drive(s)
    finally:
        a.close()   # a failed drive must not leave the replay server waiting
        served = server.join()
        b.close()
    assert served == len(rec.requests)


def test_replay_handshake_and_shutdown():
    for name in ("handshake", "shutdown", "handshake_timeout"):
        replay(name, lambda s: (s.init_server(), s.shutdown()))


def test_replay_initserver_constructor():
    def drive(s):
        assert s.init_server(ctor_args=[w.ObjStr("rpc.LocalSession")]) == [None]
        s.shutdown()
    replay("initserver_constructor", drive)


def test_replay_callfunc():
    def drive(s):
        s.init_server()
        arr = s.get_function("ffi.Array")
        obj = arr(7, -1.5, "tvm")
        assert isinstance(obj, w.RemoteObject) and obj.type_index == w.TI.ARRAY
        string = s.get_function("ffi.String")
        assert string("abc") == "abc"
        obj.free()
        string.free()
        arr.free()
        s.shutdown()
    replay("callfunc", drive)


def test_replay_exception():
    def drive(s):
        s.init_server()
        assert s.get_function("peer.no_such_function") is None
        f = s.get_function("ffi.ArraySize")
        with pytest.raises(w.RPCError) as e:
            f("not an array")
        assert e.value.text.startswith("Mismatched type on argument #0")
        f.free()
        s.shutdown()
    replay("exception", drive)


def test_replay_tensor():
    def drive(s):
        s.init_server()
        t = w.RemoteTensor.empty(s, (2, 3), "float32")
        x = np.arange(1, 7, dtype="float32").reshape(2, 3)
        t.copyfrom(x)
        np.testing.assert_array_equal(t.numpy(), x)
        t.free()
        s.shutdown()
    replay("tensor", drive)


def test_replay_timeeval():
    def drive(s):
        s.init_server()
        ev = s.time_evaluator(None, "ffi.String", w.CPU, number=10, repeat=2)
        times = ev("x")
        assert len(times) == 2 and all(0 < t < 1 for t in times)
        ev.free()
        s.shutdown()
    replay("timeeval", drive)


def test_replay_upload_listdir():
    def drive(s):
        s.init_server()
        up = s.get_function("tvm.rpc.server.upload")
        assert up("vec.bin", b"0123456789abcdef") is None
        up.free()
        ls = s.get_function("tvm.rpc.server.listdir")
        assert ls(".") == "/srv/tvm_rpc_vec/s2/.cache/./vec.bin,"
        ls.free()
        s.shutdown()
    replay("upload", drive)


def _python_session(s, listing):
    """The stock Python client's sequence of python_session.json, through our conveniences."""
    s.init_server()
    msg = b"hello from the stock tvm python client\n"
    s.upload("py_upload.txt", msg)
    assert s.listdir(".") == [listing]
    assert s.download("py_upload.txt") == msg
    assert s.dev_get_attr(w.CPU, w.DevAttr.TOTAL_GLOBAL_MEMORY) > 0
    x = np.arange(1024, dtype="float32") * 0.5 - 7.25   # the recorded input
    a = s.tensor(x)
    np.testing.assert_array_equal(a.numpy(), x)
    gda = s.get_function("runtime.GetDeviceAttr")
    assert gda(1, 0, 0) == 1
    string = s.get_function("ffi.String")
    assert string("tvm-py") == "tvm-py"
    fill = s.get_function("tvm.contrib.random.random_fill_for_measure")
    r = s.empty((16,), "float32")
    assert fill(r) is None
    assert r.numpy().shape == (16,)
    r.free()
    ev = s.time_evaluator(None, "ffi.String", w.CPU, number=10, repeat=2)
    assert len(ev("x")) == 2
    assert s.get_function("peer.no_such_function") is None
    size = s.get_function("ffi.ArraySize")
    with pytest.raises(w.RPCError, match="Mismatched type"):
        size("not-an-array")
    assert string("after-error") == "after-error"
    s.remove("py_upload.txt")
    a.free()
    for f in (gda, size, string, fill, ev):
        f.free()
    for name in ("runtime.RPCTimeEvaluator", "tvm.rpc.server.upload",
                 "tvm.rpc.server.listdir", "tvm.rpc.server.download", "tvm.rpc.server.remove"):
        s.free_handle(s.globals.pop(name))
    s.shutdown()


def test_replay_python_session():
    replay("python_session",
           lambda s: _python_session(s, "/srv/tvmpy_vec/s2/.cache/./py_upload.txt"))


def test_replay_python_tracker_session():
    replay("python_tracker_session",
           lambda s: _python_session(s, "/srv/tvmpy_vec/s1/.cache/./py_upload.txt"))


def test_replay_kernel_add_one():
    rec = w.RecordedSession(vector("python_kernel_add_one"))
    so = rec.pairs[2][0].args[1]
    assert so[:4] == b"\x7fELF"

    def drive(s):
        s.init_server()
        s.upload("add_one.so", so)
        mod = s.load_module("add_one.so")
        x = (np.arange(1024, dtype="float32") * 0.25 - 128).astype("float32")
        a = s.tensor(x)
        b = s.empty((1024,), "float32")
        f = s.module_get_function(mod, "add_one")
        assert f(a, b) is None
        f.free()
        np.testing.assert_array_equal(b.numpy(), x + 1)
        mod.free()
        s.free_handle(s.globals.pop("tvm.rpc.server.ModuleGetFunction"))
        a.free()
        b.free()
        s.free_handle(s.globals.pop("tvm.rpc.server.load_module"))
        s.free_handle(s.globals.pop("tvm.rpc.server.upload"))
        s.shutdown()
    replay("python_kernel_add_one", drive)


def _recorded_inputs(rec):
    """The arrays the recording copied to the server, in order."""
    return [np.frombuffer(q.data, "<f4").reshape(q.header.shape) for q, _ in rec.pairs
            if q.code == w.RPCCode.COPY_TO_REMOTE]


def test_replay_kernel_matmul_timeeval():
    rec = w.RecordedSession(vector("python_kernel_matmul_timeeval"))
    so = rec.pairs[2][0].args[1]
    xa, xb = _recorded_inputs(rec)

    def drive(s):
        s.init_server()
        s.upload("matmul.so", so)
        mod = s.load_module("matmul.so")
        a, b = s.tensor(xa), s.tensor(xb)
        c = s.empty((64, 64), "float32")
        f = s.module_get_function(mod, "matmul")
        assert f(a, b, c) is None
        f.free()
        got = c.numpy()
        np.testing.assert_allclose(got, xa @ xb, rtol=1e-4, atol=1e-3)
        ev = s.time_evaluator(mod, "matmul", w.CPU, number=10, repeat=3)
        assert len(ev(a, b, c)) == 3
        np.testing.assert_array_equal(c.numpy(), got)
        mod.free()
        s.free_handle(s.globals.pop("tvm.rpc.server.ModuleGetFunction"))
        s.free_handle(s.globals.pop("runtime.RPCTimeEvaluator"))
        for t in (a, b, c):
            t.free()
        ev.free()
        s.free_handle(s.globals.pop("tvm.rpc.server.load_module"))
        s.free_handle(s.globals.pop("tvm.rpc.server.upload"))
        s.shutdown()
    replay("python_kernel_matmul_timeeval", drive)


def test_replay_relax_mlp_tensor_return():
    rec = w.RecordedSession(vector("python_relax_mlp"))
    so = rec.pairs[2][0].args[1]
    (x,) = _recorded_inputs(rec)
    names = ["invoke_closure", "save_function", "set_input", "invoke_stateful", "get_output",
             "get_output_arity", "get_function_arity", "get_function_param_name",
             "set_instrument"]

    def drive(s):
        s.init_server()
        s.upload("mlp_digits.so", so)
        lib = s.load_module("mlp_digits.so")
        load = s.module_get_function(lib, "vm_load_executable")
        vm = load()
        assert isinstance(vm, w.RemoteModule)
        load.free()
        # the stock client caches ModuleGetFunction per module proxy: the VM's proxy looks
        # it up again, and each proxy frees its own reference at the end
        lib_mgf = s.globals.pop("tvm.rpc.server.ModuleGetFunction")
        kept = [s.module_get_function(vm, n) for n in names]
        init = s.module_get_function(vm, "vm_initialization")
        assert init(1, 0, 2) is None
        init.free()
        a = s.tensor(x)
        main = s.module_get_function(vm, "main")
        out = main(a)
        assert isinstance(out, w.ReturnedTensor) and out.header.shape == (16, 10)
        main.free()
        logits = out.numpy()
        assert logits.shape == (16, 10) and np.isfinite(logits).all()
        lib.free()
        s.free_handle(lib_mgf)
        vm.free()
        s.free_handle(s.globals.pop("tvm.rpc.server.ModuleGetFunction"))
        for f in kept:
            f.free()
        a.free()
        out.free()
        s.free_handle(s.globals.pop("tvm.rpc.server.load_module"))
        s.free_handle(s.globals.pop("tvm.rpc.server.upload"))
        s.shutdown()
    replay("python_relax_mlp", drive)


def test_replay_detects_a_different_request():
    """The replay check is not blind: a different argument is reported."""
    with pytest.raises(w.ProtocolError, match="request 1 differs"):
        def drive(s):
            s.init_server()
            try:
                s.get_function("ffi.Arrax")
            except (EOFError, OSError):
                pass
        replay("callfunc", drive)


@pytest.mark.parametrize("name", sorted(WEBSOCKET))
def test_websocket_vector_decodes_and_reencodes(name):
    """The server's frames and the client's chunks are whole streams: a handshake, then
    packets that re-encode byte for byte; only binary frames; requests start with InitServer
    and every reply fits its request."""
    with open(os.path.join(VEC_DIR, name + ".json")) as f:
        v = json.load(f)
    events = [(e["peer"], e["dir"], bytes.fromhex(e["hex"]), e.get("opcode")) for e in v["events"]]
    assert all(op == 2 for peer, _, _, op in events if peer == "ws")
    streams = {}
    for peer, d, data, _ in events:
        streams[(peer, d)] = streams.get((peer, d), b"") + data
    key = v["key"]
    hs = {("ws", "send"): "server:" + key, ("tcp", "send"): "client:" + key,
          ("ws", "recv"): "client:" + key, ("tcp", "recv"): "server:" + key}
    packets, skip = {}, {}
    for where, k in hs.items():
        stream = streams[where]
        code, n = struct.unpack_from("<ii", stream)
        # sends start with the magic, the proxy's answers with SUCCESS; the key may carry
        # options after a blank (the client's "-timeout=60")
        assert code == (w.RPC_MAGIC if where[1] == "send" else w.RPC_CODE_SUCCESS), where
        assert stream[8:8 + n].decode().split(" ")[0] == k, where
        skip[where] = 8 + n
        raws, rest = w.split_packets(stream[8 + n:])
        assert rest == b"", where
        for raw in raws:
            assert w.encode_packet(w.decode_packet(raw)) == raw
        packets[where] = [w.decode_packet(raw) for raw in raws]
    # What one side sent is what the other received: the proxy relays bytes unchanged.
    for a, b in ((("tcp", "send"), ("ws", "recv")), (("ws", "send"), ("tcp", "recv"))):
        assert streams[a][skip[a]:] == streams[b][skip[b]:], (a, b)
    requests, replies = packets[("tcp", "send")], packets[("ws", "send")]
    assert requests[0].code == w.RPCCode.INIT_SERVER
    assert requests[0].version == w.PROTOCOL_VERSION
    for req, rep in zip(requests, replies):
        w.check_reply_shape(req, rep)
