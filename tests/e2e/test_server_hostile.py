"""Hostile session input against the real device server, crafted with tvm_wire: malformed
values, lying lengths, impossible sizes and forged handles must each get an Exception or a
closed connection, never a crash or a hang, and the server must keep serving. Ends with a
bounded, seeded mutation run over valid requests of a live session."""
import random
import struct

import pytest

import tvm_wire as w
from test_server_session import KEY, assert_usable, connect, services  # noqa: F401

@pytest.fixture
def server(services):  # noqa: F811
    return services.server()


def frame(code, body):
    return struct.pack("<Qi", 4 + len(body), code) + body


def seq(*encoded):
    return struct.pack("<i", len(encoded)) + b"".join(encoded)


def ti(index, payload=b""):
    return struct.pack("<i", index) + payload


def blob(b):
    return struct.pack("<Q", len(b)) + b


def header(data=0, dev=(1, 0), shape=(4,), dtype=(2, 32, 1), off=0, ndim=None):
    n = len(shape) if ndim is None else ndim
    return (struct.pack("<QiiiBBH", data, dev[0], dev[1], n, *dtype)
            + b"".join(struct.pack("<q", x) for x in shape) + struct.pack("<Q", off))


def outcome(s, raw, timeout=5.0):
    """Send raw bytes on an initialised session and classify the server's answer."""
    s.sock.settimeout(timeout)
    try:
        s.sock.sendall(raw)
        p = s.recv_packet()
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return "closed", None
    except TimeoutError:
        return "waiting", None
    except w.ProtocolError as e:
        return "garbage", str(e)
    if p.code == w.RPCCode.EXCEPTION:
        assert len(p.args) == 1 and type(p.args[0]) is str, p
        return "exception", p.args[0]
    return "reply", p


def check_refused(srv, make_raw, allow_waiting=False):
    """The crafted request (bytes, or a function of the live session returning bytes) is
    refused: an Exception, or the connection closed. After an Exception the same session
    still works; either way the server takes a new session."""
    s = connect(srv)
    raw = make_raw(s) if callable(make_raw) else make_raw
    kind, detail = outcome(s, raw)
    allowed = ("exception", "closed") + (("waiting",) if allow_waiting else ())
    assert kind in allowed, (kind, detail)
    if kind == "exception":
        assert detail, "empty Exception text"
        assert_usable(s)
    s.close()
    with connect(srv) as s2:
        assert_usable(s2)


CALL = w.RPCCode.CALL_FUNC


def call_body(args_seq, handle=None):
    return struct.pack("<Q", handle or 0) + args_seq


CASES = {
    # type indices that must be refused
    "object_rvalue_ref_10": seq(ti(10, b"\0" * 8)),
    "unused_index_13": seq(ti(13, b"\0" * 8)),
    "tensor_70_on_wire": seq(ti(70, struct.pack("<IQ", 115, 1))),
    "negative_index": seq(ti(-5)),
    "error_object_inner_67": seq(ti(67, struct.pack("<I", 67) + blob(b"x"))),
    "unknown_inner_index": seq(ti(65, struct.pack("<I", 999) + blob(b"x"))),
    # lengths that lie
    "rawstr_longer_than_packet": seq(ti(8, struct.pack("<Q", 1 << 40) + b"abc")),
    "bytes_longer_than_packet": seq(ti(66, struct.pack("<IQ", 66, 1 << 62) + b"ab")),
    "negative_arg_count": struct.pack("<i", -1),
    "huge_arg_count": struct.pack("<i", 1 << 30) + ti(1, b"\0" * 8),
    "truncated_int": seq(ti(1, b"\0" * 3)),
    "tensor_negative_ndim": seq(ti(7, header(ndim=-1, shape=()))),
    "tensor_huge_ndim": seq(ti(7, header(ndim=1 << 20, shape=()))),
    "tensor_truncated_shape": seq(ti(7, header(ndim=3, shape=(2,)))),
    # forged handles and pointers
    "forged_module_73": seq(ti(73, struct.pack("<Q", 0xdeadbeef)), ti(8, blob(b"f")),
                            ti(2, struct.pack("<q", 1))),
    "forged_function_68": seq(ti(68, struct.pack("<Q", 0xdeadbeef))),
    "forged_object_ref": seq(ti(115, struct.pack("<IQ", 115, 0xdeadbeef))),
    "tensor_forged_data": seq(ti(7, header(data=0x1000, shape=(1 << 20,)))),
    "tensor_overflowing_shape": seq(ti(7, header(data=0x1000, shape=(1 << 62, 1 << 62)))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_call_arguments(server, name):
    """Each body goes to a real global (ModuleGetFunction, which takes a Module, a string and
    a bool): the arguments are wrong in a way the decoder or the callee must catch."""
    def make(s):
        h = s.get_global_func("tvm.rpc.server.ModuleGetFunction")
        assert h
        return frame(CALL, call_body(CASES[name], h))
    check_refused(server, make)


SYSCALL_CASES = {
    "alloc_huge": (w.RPCCode.DEV_ALLOC_DATA,
                   seq(ti(6, struct.pack("<ii", 1, 0)), ti(1, struct.pack("<q", 1 << 62)),
                       ti(1, struct.pack("<q", 64)), ti(5, struct.pack("<BBHi", 2, 32, 1, 0)))),
    "alloc_negative": (w.RPCCode.DEV_ALLOC_DATA,
                       seq(ti(6, struct.pack("<ii", 1, 0)), ti(1, struct.pack("<q", -1)),
                           ti(1, struct.pack("<q", 64)),
                           ti(5, struct.pack("<BBHi", 2, 32, 1, 0)))),
    "alloc_on_cuda": (w.RPCCode.DEV_ALLOC_DATA,
                      seq(ti(6, struct.pack("<ii", 2, 0)), ti(1, struct.pack("<q", 64)),
                          ti(1, struct.pack("<q", 64)),
                          ti(5, struct.pack("<BBHi", 2, 32, 1, 0)))),
    "alloc_scope_overflow": (w.RPCCode.DEV_ALLOC_DATA_WITH_SCOPE,
                             seq(ti(7, header(shape=(1 << 40, 1 << 40))), ti(0))),
    "alloc_scope_wrong_types": (w.RPCCode.DEV_ALLOC_DATA_WITH_SCOPE,
                                seq(ti(1, struct.pack("<q", 5)), ti(0))),
    "free_forged_pointer": (w.RPCCode.DEV_FREE_DATA,
                            seq(ti(6, struct.pack("<ii", 1, 0)),
                                ti(4, struct.pack("<Q", 0x7fff0000)))),
    "free_handle_no_args": (w.RPCCode.FREE_HANDLE, seq()),
    "get_global_not_a_string": (w.RPCCode.GET_GLOBAL_FUNC, seq(ti(1, b"\0" * 8))),
    "copy_among_forged": (w.RPCCode.COPY_AMONG_REMOTE,
                          seq(ti(7, header(data=0x1000)), ti(7, header(data=0x2000)),
                              ti(4, b"\0" * 8))),
    "stream_sync_bad_device": (w.RPCCode.DEV_STREAM_SYNC,
                               seq(ti(6, struct.pack("<ii", 99, 0)), ti(4, b"\0" * 8))),
    "copy_from_huge": (w.RPCCode.COPY_FROM_REMOTE,
                       header(data=0x1000) + struct.pack("<Q", 1 << 62)),
    "copy_from_forged": (w.RPCCode.COPY_FROM_REMOTE,
                         header(data=0x1000) + struct.pack("<Q", 16)),
    "copy_to_length_mismatch": (w.RPCCode.COPY_TO_REMOTE,
                                header(data=0x1000) + struct.pack("<Q", 100) + b"\0" * 16),
    "init_server_again_bad_version": (w.RPCCode.INIT_SERVER, blob(b"9.9.9") + seq()),
    "init_server_version_length_lies": (w.RPCCode.INIT_SERVER,
                                        struct.pack("<Q", 1 << 50) + b"0.8.0"),
    "code_zero": (0, b""),
    "code_return_from_client": (w.RPCCode.RETURN, seq(ti(0))),
    "code_copy_ack_from_client": (w.RPCCode.COPY_ACK, b"\0" * 8),
    "code_negative": (-7, b""),
}


@pytest.mark.parametrize("name", sorted(SYSCALL_CASES))
def test_malformed_requests(server, name):
    code, body = SYSCALL_CASES[name]
    check_refused(server, frame(code, body))


def test_packet_shorter_than_its_code(server):
    check_refused(server, struct.pack("<Q", 2) + b"\x03\x00")


def test_length_claims_more_than_is_sent(server):
    # the server waits for the rest (or refuses); our close must end the session cleanly
    check_refused(server, struct.pack("<Qi", 1 << 20, 3) + b"\0" * 100, allow_waiting=True)


def test_handshake_garbage(server):
    for raw in (struct.pack("<ii", w.RPC_MAGIC, -1),
                struct.pack("<ii", w.RPC_MAGIC, 1 << 30) + b"client:k",
                struct.pack("<ii", w.RPC_MAGIC, 3) + b"\xff\xfe\x00",
                struct.pack("<ii", w.RPC_MAGIC, 7) + b"server:",
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
        sock = w.connect("127.0.0.1", server.port, timeout=20)
        sock.sendall(raw)
        sock.settimeout(20)
        try:
            data = sock.recv(64)
        except ConnectionResetError:
            data = b""
        # nothing, or a MISMATCH code; never SUCCESS
        assert data in (b"", struct.pack("<i", w.RPC_CODE_MISMATCH)), (raw, data)
        sock.close()
    with connect(server) as s:
        assert_usable(s)
        s.shutdown()


def valid_requests(s):
    """Well-formed requests that are valid in this live session (its own handles), in the
    shapes the stock client sends (see the recorded python_session)."""
    up = s.get_global_func("tvm.rpc.server.upload")
    ls = s.get_global_func("tvm.rpc.server.listdir")
    arr = s.get_global_func("ffi.Array")
    mgf = s.get_global_func("tvm.rpc.server.ModuleGetFunction")
    t = s.empty((4, 4), "float32")
    hdr = t.header
    P = w.Packet
    reqs = [
        P(w.RPCCode.GET_GLOBAL_FUNC, args=["tvm.rpc.server.download"]),
        P(w.RPCCode.CALL_FUNC, handle=up, args=["f.bin", b"0123456789abcdef"]),
        P(w.RPCCode.CALL_FUNC, handle=ls, args=["."]),
        P(w.RPCCode.CALL_FUNC, handle=arr, args=[1, 2.5, "s", True, None, w.CPU,
                                                  w.DataType(2, 32)]),
        P(w.RPCCode.CALL_FUNC, handle=mgf, args=[w.ModuleHandle(0), "f", True]),
        P(w.RPCCode.DEV_ALLOC_DATA_WITH_SCOPE, args=[hdr.replace(data=0), None]),
        P(w.RPCCode.DEV_ALLOC_DATA, args=[w.CPU, 256, 64, w.DataType(2, 32)]),
        P(w.RPCCode.COPY_TO_REMOTE, header=hdr, data=bytes(range(64))),
        P(w.RPCCode.COPY_FROM_REMOTE, header=hdr, nbytes=64),
        P(w.RPCCode.COPY_AMONG_REMOTE, args=[hdr, hdr, w.OpaquePtr(0)]),
        P(w.RPCCode.DEV_STREAM_SYNC, args=[w.CPU, w.OpaquePtr(0)]),
        P(w.RPCCode.DEV_GET_ATTR, args=[w.CPU, 14]),
        P(w.RPCCode.DEV_FREE_DATA, args=[w.CPU, w.OpaquePtr(hdr.data)]),
        P(w.RPCCode.FREE_HANDLE, args=[w.OpaquePtr(ls)]),
    ]
    return [w.encode_packet(p) for p in reqs]


def test_seeded_mutations_of_recorded_requests(server):
    """250 mutated valid requests (bit flips, truncations with corrected lengths,
    random type words), several per connection: every answer is a well-formed packet or a
    close, and the server serves a normal session afterwards."""
    rng = random.Random(20261125)
    counts = {}
    s = connect(server)
    pool = valid_requests(s)
    for i in range(250):
        raw = bytearray(rng.choice(pool))
        how = rng.randrange(3)
        if how == 0:
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(8, len(raw))
                raw[pos] ^= 1 << rng.randrange(8)
        elif how == 1:
            cut = rng.randrange(12, len(raw) + 1)
            raw = raw[:cut]
            struct.pack_into("<Q", raw, 0, len(raw) - 8)
        else:
            pos = rng.randrange(12, max(13, len(raw) - 3))
            struct.pack_into("<i", raw, min(pos, len(raw) - 4), rng.choice(
                [-1, 0, 7, 10, 13, 64, 67, 68, 70, 73, 115, 128, 1 << 30]))
        kind, detail = outcome(s, bytes(raw), timeout=3.0)
        counts[kind] = counts.get(kind, 0) + 1
        assert kind != "garbage", detail
        if kind != "exception" and kind != "reply":
            s.close()
            s = connect(server)
            pool = valid_requests(s)
    s.close()
    assert counts.get("exception", 0) > 20, counts     # the mutations did reach the decoder
    with connect(server) as s:
        assert_usable(s)
        s.upload("after", b"fuzz")
        assert s.download("after") == b"fuzz"
        s.shutdown()
