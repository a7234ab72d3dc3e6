"""Tests of tvm_wire itself (no server needed): every type index round-trips, the tensor
header layout, and the byte layouts of docs/session-protocol.md reproduced byte for byte."""
import json
import socket
import struct
import threading

import pytest

import tvm_wire as w


def hx(s):
    return bytes.fromhex(s.replace("|", " ").replace("\n", " "))


HEADER_2x3 = hx("00 00 10 00 00 00 00 00 | 01 00 00 00 | 00 00 00 00 | 02 00 00 00 | 02 20 01 00 |"
                "02 00 00 00 00 00 00 00 | 03 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00")
T2x3 = w.TensorHeader(0x100000, w.CPU, (2, 3), w.DataType(2, 32, 1), 0)


# --- byte layouts of docs/session-protocol.md ------------------------------------------------


def test_initserver_29_bytes():
    raw = hx("15 00 00 00 00 00 00 00 | 02 00 00 00 | 05 00 00 00 00 00 00 00 | 30 2e 38 2e 30 |"
             "00 00 00 00")
    p = w.Packet(w.RPCCode.INIT_SERVER, version="0.8.0", args=[])
    assert w.encode_packet(p) == raw and len(raw) == 29
    d = w.decode_packet(raw)
    assert d.code == w.RPCCode.INIT_SERVER and d.version == "0.8.0" and d.args == []


def test_initserver_reply_none():
    raw = hx("0c 00 00 00 00 00 00 00 | 04 00 00 00 | 01 00 00 00 | 00 00 00 00")
    assert w.return_packet([None]) == raw
    assert w.decode_packet(raw).args == [None]


def test_get_global_func_upload_49_bytes():
    raw = hx("29 00 00 00 00 00 00 00 | 09 00 00 00 | 01 00 00 00 | 08 00 00 00 |"
             "15 00 00 00 00 00 00 00 |"
             "74 76 6d 2e 72 70 63 2e 73 65 72 76 65 72 2e 75 70 6c 6f 61 64")
    assert len(raw) == 49
    assert w.encode_packet(w.Packet(w.RPCCode.GET_GLOBAL_FUNC,
                                    args=["tvm.rpc.server.upload"])) == raw
    reply = hx("14 00 00 00 00 00 00 00 | 04 00 00 00 | 01 00 00 00 | 04 00 00 00 |"
               "00 50 00 00 00 00 00 00")
    assert w.return_packet([w.OpaquePtr(0x5000)]) == reply
    v = w.decode_packet(reply).args
    assert v == [0x5000] and isinstance(v[0], w.OpaquePtr)


def test_callfunc_upload_74_bytes():
    raw = hx("42 00 00 00 00 00 00 00 | 03 00 00 00 | 00 50 00 00 00 00 00 00 | 02 00 00 00 |"
             "08 00 00 00 06 00 00 00 00 00 00 00 6c 69 62 2e 73 6f |"
             "42 00 00 00 42 00 00 00 10 00 00 00 00 00 00 00") + b"0123456789abcdef"
    assert len(raw) == 74
    p = w.Packet(w.RPCCode.CALL_FUNC, handle=0x5000, args=["lib.so", b"0123456789abcdef"])
    assert w.encode_packet(p) == raw
    d = w.decode_packet(raw)
    assert d.handle == 0x5000 and d.args == ["lib.so", b"0123456789abcdef"]
    assert isinstance(d.args[1], w.ObjBytes) and d.args[1].outer == 66


def test_void_return_32_bytes():
    raw = hx("18 00 00 00 00 00 00 00 | 04 00 00 00 | 02 00 00 00 | 01 00 00 00"
             "00 00 00 00 00 00 00 00 | 00 00 00 00")
    assert w.return_packet([0, None]) == raw
    assert w.decode_typed_return(w.decode_packet(raw).args) is None
    assert w.decode_typed_return([0]) is None


def test_int42_return():
    raw = hx("20 00 00 00 00 00 00 00 | 04 00 00 00 | 02 00 00 00 | 01 00 00 00"
             "01 00 00 00 00 00 00 00 | 01 00 00 00 2a 00 00 00 00 00 00 00")
    assert w.return_packet([1, 42]) == raw
    assert w.decode_typed_return(w.decode_packet(raw).args) == 42


def test_tensor_return_92_bytes():
    raw = (hx("54 00 00 00 00 00 00 00 | 04 00 00 00 | 03 00 00 00 | 01 00 00 00"
              "46 00 00 00 00 00 00 00 | 07 00 00 00") + HEADER_2x3
           + hx("04 00 00 00 30 50 00 00 00 00 00 00"))
    assert len(raw) == 92
    assert w.return_packet([70, T2x3, w.OpaquePtr(0x5030)]) == raw
    t = w.decode_typed_return(w.decode_packet(raw).args)
    assert isinstance(t, w.ReturnedTensor) and t.header == T2x3 and t.handle == 0x5030


def test_exception_boom_32_bytes():
    raw = hx("18 00 00 00 00 00 00 00 | 05 00 00 00 | 01 00 00 00 | 08 00 00 00 |"
             "04 00 00 00 00 00 00 00 | 62 6f 6f 6d")
    assert w.exception_packet("boom") == raw
    assert w.decode_packet(raw).args == ["boom"]


def test_free_handle_28_bytes():
    raw = hx("14 00 00 00 00 00 00 00 | 0a 00 00 00 | 01 00 00 00 | 04 00 00 00 |"
             "10 50 00 00 00 00 00 00")
    assert w.encode_packet(w.Packet(w.RPCCode.FREE_HANDLE, args=[w.OpaquePtr(0x5010)])) == raw


def test_dev_stream_sync_40_bytes():
    raw = hx("20 00 00 00 00 00 00 00 | 0f 00 00 00 | 02 00 00 00 |"
             "06 00 00 00 01 00 00 00 00 00 00 00 | 04 00 00 00 00 00 00 00 00 00 00 00")
    assert w.encode_packet(w.Packet(w.RPCCode.DEV_STREAM_SYNC,
                                    args=[w.CPU, w.OpaquePtr(0)])) == raw
    d = w.decode_packet(raw)
    assert d.args == [w.CPU, 0]


def test_dev_alloc_with_scope_72_bytes():
    raw = (hx("40 00 00 00 00 00 00 00 | 11 00 00 00 | 02 00 00 00 | 07 00 00 00")
           + HEADER_2x3.replace(HEADER_2x3[:8], bytes(8), 1) + hx("00 00 00 00"))
    assert len(raw) == 72
    p = w.Packet(w.RPCCode.DEV_ALLOC_DATA_WITH_SCOPE, args=[T2x3.replace(data=0), None])
    assert w.encode_packet(p) == raw
    reply = hx("14 00 00 00 00 00 00 00 | 04 00 00 00 | 01 00 00 00 | 04 00 00 00 |"
               "00 00 10 00 00 00 00 00")
    assert w.decode_packet(reply).args == [0x100000]


def test_tensor_header_layout_48_bytes():
    assert w.encode_header(T2x3) == HEADER_2x3 and len(HEADER_2x3) == 48
    assert w.decode_header(w.Reader(HEADER_2x3)) == T2x3
    assert T2x3.nbytes == 24
    # header size is 32 + 8*ndim; byte offset is the last field
    h = w.TensorHeader(1, w.Device(2, 3), (), w.DataType(0, 8, 4), 77)
    raw = w.encode_header(h)
    assert len(raw) == 32 and struct.unpack_from("<Q", raw, 24)[0] == 77
    assert w.decode_header(w.Reader(raw)) == h
    h5 = h.replace(shape=(1, 2, 3, 4, 5))
    assert len(w.encode_header(h5)) == 32 + 40
    assert h5.nbytes == 120 * 4


def test_copy_to_remote_92_bytes():
    payload = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    raw = (hx("54 00 00 00 00 00 00 00 | 07 00 00 00") + HEADER_2x3
           + hx("18 00 00 00 00 00 00 00") + payload)
    assert len(raw) == 92 == 8 + 44 + 8 * 2 + 24
    assert w.encode_packet(w.Packet(w.RPCCode.COPY_TO_REMOTE, header=T2x3, data=payload)) == raw
    d = w.decode_packet(raw)
    assert d.header == T2x3 and d.data == payload


def test_copy_from_remote_and_ack():
    raw = hx("3c 00 00 00 00 00 00 00 | 06 00 00 00") + HEADER_2x3 + hx("18 00 00 00 00 00 00 00")
    assert len(raw) == 68
    assert w.encode_packet(w.Packet(w.RPCCode.COPY_FROM_REMOTE, header=T2x3, nbytes=24)) == raw
    payload = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    ack = hx("1c 00 00 00 00 00 00 00 | 08 00 00 00") + payload
    assert len(ack) == 36
    assert w.encode_packet(w.Packet(w.RPCCode.COPY_ACK, data=payload)) == ack
    assert w.decode_packet(ack).data == payload


def test_small_bytes_and_object_ref_examples():
    assert w.encode_value(b"ab") == hx("0c 00 00 00 | 42 00 00 00 | 02 00 00 00 00 00 00 00 |"
                                       "61 62")
    assert w.encode_value(w.ObjectRef(0x5040)) == hx("73 00 00 00 | 73 00 00 00 |"
                                                     "40 50 00 00 00 00 00 00")
    # outer index depends only on the length: <= 7 -> 12, else 66
    assert w.encode_value(b"1234567")[:4] == struct.pack("<i", 12)
    assert w.encode_value(b"12345678")[:4] == struct.pack("<i", 66)


def test_timeeval_bytes_return():
    vals = [0.25, 1.5e-6]
    blob = struct.pack("<2d", *vals)
    raw = w.return_packet([66, w.ByteArray(blob)])
    assert raw[12:] == hx("02 00 00 00 | 01 00 00 00 42 00 00 00 00 00 00 00 |"
                          "09 00 00 00 10 00 00 00 00 00 00 00") + blob
    assert w.decode_typed_return(w.decode_packet(raw).args) == blob


def test_shutdown_packet():
    assert w.encode_packet(w.Packet(w.RPCCode.SHUTDOWN)) == hx("04 00 00 00 00 00 00 00"
                                                               "01 00 00 00")


# --- round trips of every type index ---------------------------------------------------------

VALUES = [
    (None, 0), (0, 1), (-1, 1), (2**63 - 1, 1), (-2**63, 1), (True, 2), (False, 2),
    (3.5, 3), (-0.0, 3), (float("inf"), 3), (w.OpaquePtr(0), 4), (w.OpaquePtr(2**64 - 1), 4),
    (w.DataType(2, 32, 1), 5), (w.DataType(0, 8, 4), 5), (w.Device(1, 0), 6),
    (w.Device(2, 7), 6), (T2x3, 7), (w.TensorHeader(0, w.CPU, (), w.DataType(2, 64), 8), 7),
    ("", 8), ("tvm", 8), ("ünïcode", 8), (w.ByteArray(b""), 9), (w.ByteArray(b"\0\1\2"), 9),
    (w.ObjStr("abc"), 11), (w.ObjStr("a longer string"), 65), (b"", 12), (b"1234567", 12),
    (b"12345678", 66), (w.ObjStr("x", outer=64), 64), (w.FunctionHandle(0x10), 68),
    (w.ModuleHandle(0x20), 73), (w.ObjectRef(0x30), 115), (w.ObjectRef(0x40, outer=71), 71),
    (w.ObjectRef(0x50, outer=200), 200),
]


@pytest.mark.parametrize("value,index", VALUES, ids=[repr(v)[:40] for v, _ in VALUES])
def test_value_round_trip(value, index):
    raw = w.encode_value(value)
    assert struct.unpack_from("<i", raw)[0] == index
    r = w.Reader(raw)
    back = w.decode_value(r)
    r.end()
    if isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) is type(value) or (
            isinstance(value, bytes) and isinstance(back, w.ObjBytes) and back == value)
    assert w.encode_value(back) == raw


def test_sequence_round_trip_all_types():
    vals = [v for v, _ in VALUES]
    raw = w.encode_seq(vals)
    r = w.Reader(raw)
    back = w.decode_seq(r)
    r.end()
    assert w.encode_seq(back) == raw


@pytest.mark.parametrize("bad,msg", [
    (struct.pack("<i", 10), "unknown type index 10"),
    (struct.pack("<i", 13), "unknown type index 13"),
    (struct.pack("<iIQ", 70, 115, 1), "never on the wire"),
    (struct.pack("<i", 71), "need 4 bytes"),
    (struct.pack("<iI", 65, 67), "unsupported inner index 67"),
    (struct.pack("<i", 1) + b"\0" * 7, "need 8 bytes"),
    (struct.pack("<iQ", 8, 100) + b"abc", "exceeds"),
    (struct.pack("<iBBHi", 5, 2, 32, 1, 9), "padding"),
    (struct.pack("<iq", 2, 5), "not 0 or 1"),
    (struct.pack("<iQ", 8, 3) + b"a\0b", "NUL"),
])
def test_decode_refuses(bad, msg):
    with pytest.raises(w.ProtocolError, match=msg):
        w.decode_value(w.Reader(bad))


def test_strict_packet_lengths():
    good = w.return_packet([None])
    with pytest.raises(w.ProtocolError, match="trailing"):
        w.decode_packet(good[:8].replace(b"\x0c", b"\x0d") + good[8:] + b"\0")
    with pytest.raises(w.ProtocolError):
        w.decode_packet(good[:-1])
    with pytest.raises(w.ProtocolError, match="argument count"):
        w.decode_packet(struct.pack("<Qii", 8, 4, -1))
    with pytest.raises(w.ProtocolError, match="unknown RPC code"):
        w.decode_packet(struct.pack("<Qi", 4, 99))
    with pytest.raises(w.ProtocolError, match="ndim"):
        w.decode_header(w.Reader(struct.pack("<QiiiBBH", 0, 1, 0, -1, 2, 32, 1)))


@pytest.mark.parametrize("values,msg", [
    ([], "empty"),
    ([None], "element 0"),
    ([0, 5], "void return"),
    ([1], "exactly 2"),
    ([1, 2, 3], "exactly 2"),
    ([1, 1.0], "expected int"),
    ([2, 1], "expected bool"),
    ([4, 7], "expected OpaquePtr"),
    ([65, w.ObjStr("abc")], "RawStr"),
    ([66, b"abc"], "expected ByteArray"),
    ([70, T2x3], "exactly 3"),
    ([70, T2x3, w.OpaquePtr(1), None], "exactly 3"),
    ([70, T2x3.replace(device=w.Device(129, 0)), w.OpaquePtr(1)], "session mask"),
    ([6, w.Device(129, 0)], "session mask"),
    ([10, None], "not a valid"),
])
def test_typed_return_refuses(values, msg):
    with pytest.raises(w.ProtocolError, match=msg):
        w.decode_typed_return(values)


def test_typed_returns():
    assert w.decode_typed_return([1, -5]) == -5
    assert w.decode_typed_return([2, True]) is True
    assert w.decode_typed_return([3, 0.5]) == 0.5
    assert w.decode_typed_return([4, w.OpaquePtr(9)]) == 9
    assert w.decode_typed_return([5, w.DataType(2, 16)]) == w.DataType(2, 16)
    assert w.decode_typed_return([6, w.Device(1, 2)]) == w.Device(1, 2)
    assert w.decode_typed_return([11, "abc"]) == "abc"
    assert w.decode_typed_return([65, "a longer one"]) == "a longer one"
    assert w.decode_typed_return([12, w.ByteArray(b"x")]) == b"x"
    assert isinstance(w.decode_typed_return([68, w.OpaquePtr(1)]), w.RemoteFunction)
    assert isinstance(w.decode_typed_return([73, w.OpaquePtr(1)]), w.RemoteModule)
    o = w.decode_typed_return([71, w.OpaquePtr(0x77)])
    assert isinstance(o, w.RemoteObject) and o.type_index == 71 and o.handle == 0x77
    # a returned object goes back as outer/inner 115
    assert w.encode_value(o) == struct.pack("<iIQ", 115, 115, 0x77)
    assert w.encode_value(w.RemoteModule(None, 0x99)) == struct.pack("<iQ", 73, 0x99)


def test_datatype_helpers():
    import numpy as np
    assert w.DataType.parse("float32") == w.DataType(2, 32, 1)
    assert w.DataType.parse("int8x4") == w.DataType(0, 8, 4)
    assert w.DataType.from_numpy(np.uint16) == w.DataType(1, 16, 1)
    assert w.DataType.from_numpy(np.bool_) == w.DataType(6, 8, 1)
    assert w.DataType(2, 64).to_numpy() == np.float64
    assert w.DataType(4, 1, 1).itemsize == 1


# --- handshake and tracker frames ------------------------------------------------------------


def test_handshake_bytes():
    assert w.handshake_bytes("client:") == hx("71 f2 0f 00 07 00 00 00") + b"client:"
    key = w.client_key("rasp:0.6394267984578837", timeout=600)
    assert key == "client:rasp:0.6394267984578837 -timeout=600"
    assert w.handshake_bytes(key)[:8] == hx("71 f2 0f 00 2b 00 00 00")
    assert w.client_key("k", timeout=1.5) == "client:k -timeout=1.5"
    assert w.client_key("") == "client:"


def test_tracker_frames_match_python_json():
    assert w.tracker_frame([1]) == hx("03 00 00 00 5b 31 5d")
    f = w.tracker_frame([3, "rasp", [9090, "rasp:0.6394267984578837"], None])
    assert f[:4] == hx("34 00 00 00")
    assert w.tracker_frame([4, "rasp", "", 1])[:4] == struct.pack("<i", 18)
    frames = w.decode_tracker_frames(f + hx("01 00 00 00 30"))
    assert [o for o, _ in frames] == [[3, "rasp", [9090, "rasp:0.6394267984578837"], None], 0]
    with pytest.raises(w.ProtocolError, match="out of range"):
        w.decode_tracker_frames(struct.pack("<i", 0))


def test_tracker_structure_masks():
    rec = [0, ["10.0.0.5", 9090, "rasp:0.6394267984578837"]]
    live = [0, ["127.0.0.1", 40123, "rasp:0.1"]]
    assert w.tracker_structure(rec) == w.tracker_structure(live)
    assert w.tracker_structure([0, ["127.0.0.1", 1, "other:0.1"]]) != w.tracker_structure(rec)
    put = [3, "k", [9090, "k:0.5"], None]
    assert w.tracker_structure(put) == [3, "k", ["<port>", "k:<rand>"], None]
    info = {"key": "server:k", "addr": [None, "9090"]}
    assert w.tracker_structure(info) == {"key": "server:k", "addr": [None, "<port>"]}


def test_packet_structure_masks_handles():
    a = w.Packet(w.RPCCode.CALL_FUNC, handle=0x5000, args=[w.ModuleHandle(5), "add", True])
    b = w.Packet(w.RPCCode.CALL_FUNC, handle=0x7000, args=[w.ModuleHandle(9), "add", True])
    c = w.Packet(w.RPCCode.CALL_FUNC, handle=0x7000, args=[w.ModuleHandle(0), "add", True])
    assert w.packet_structure(a) == w.packet_structure(b)
    assert w.packet_structure(a) != w.packet_structure(c)
    with pytest.raises(AssertionError, match="differs"):
        w.assert_same_structure(w.packet_structure(a), w.packet_structure(c))


# --- the client logic against a scripted peer on a socketpair ---------------------------------


class Peer:
    """Runs a scripted server on one end of a socketpair: a list of (expected request
    check, reply bytes) steps. Used only to test this library's client logic."""

    def __init__(self, steps):
        self.a, self.b = socket.socketpair()
        self.a.settimeout(5)
        self.b.settimeout(5)
        self.steps = steps
        self.seen = []
        self.error = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        ep = w.ServerEndpoint(self.b)
        try:
            for reply in self.steps:
                req = ep.recv_request()
                self.seen.append(req)
                if reply is not None:
                    self.b.sendall(reply(req) if callable(reply) else reply)
        except Exception as e:  # reported by join()
            self.error = e

    def join(self):
        self.t.join(5)
        assert self.error is None, self.error
        self.a.close()
        self.b.close()


def test_session_exception_classes():
    peer = Peer([w.exception_packet("ValueError: bad"),
                 w.exception_packet("RPCSessionTimeoutError: Your 1.0s session has expired"),
                 w.return_packet([1, 3])])
    s = w.Session(peer.a)
    with pytest.raises(w.RPCError) as e:
        s.call(1)
    assert e.value.text == "ValueError: bad" and not isinstance(e.value,
                                                                   w.RPCSessionTimeoutError)
    assert "Error caught from RPC call:\nValueError: bad" in str(e.value)
    with pytest.raises(w.RPCSessionTimeoutError):
        s.call(1)
    assert s.call(1) == 3
    peer.join()


def test_session_rejects_bad_replies():
    peer = Peer([w.return_packet([None]),                      # bare [None] to a CallFunc
                 w.return_packet([None, None]),                # 2 values to a syscall
                 w.encode_packet(w.Packet(w.RPCCode.CALL_FUNC, handle=1, args=[])),
                 w.encode_packet(w.Packet(w.RPCCode.COPY_ACK, data=b"abc"))])
    s = w.Session(peer.a)
    with pytest.raises(w.ProtocolError, match="element 0"):
        s.call(1)
    with pytest.raises(w.ProtocolError, match="exactly one value"):
        s.free_handle(1)
    with pytest.raises(w.ProtocolError, match="only Return"):
        s.free_handle(1)
    with pytest.raises(w.ProtocolError, match="carries 3 bytes"):
        s.copy_from_remote(T2x3, 24, chunked=False)
    peer.join()


def test_chunking_like_stock_client():
    """N = 500, float32[300]: three CopyToRemote packets of 500, 500, 356 bytes with offsets
    0, 448, 896 (docs/session-protocol.md §4.3); the limit is asked once per session."""
    hdr = w.TensorHeader(0x1000, w.CPU, (300,), w.DataType(2, 32))
    data = bytes(range(256)) * 4 + bytes(176)
    steps = [w.return_packet([w.OpaquePtr(0x77)]), w.return_packet([1, 500])]
    steps += [w.return_packet([None])] * 3
    steps += [lambda req: w.encode_packet(w.Packet(w.RPCCode.COPY_ACK,
                                                   data=data[req.header.byte_offset:
                                                             req.header.byte_offset
                                                             + req.nbytes]))] * 3
    peer = Peer(steps)
    s = w.Session(peer.a)
    s.copy_to_remote(hdr, data)
    assert s.copy_from_remote(hdr, len(data)) == data
    peer.join()
    seen = peer.seen
    assert seen[0].code == w.RPCCode.GET_GLOBAL_FUNC
    assert seen[0].args == [w.MAX_PACKET_SIZE_FUNC]
    assert seen[1].code == w.RPCCode.CALL_FUNC and seen[1].handle == 0x77 and seen[1].args == []
    copies = seen[2:5]
    assert [len(w.encode_packet(p)) - 8 for p in copies] == [500, 500, 356]
    assert [p.header.byte_offset for p in copies] == [0, 448, 896]
    assert [len(p.data) for p in copies] == [448, 448, 304]
    assert [p.nbytes for p in seen[5:]] == [448, 448, 304]
    assert all(p.header.data == 0x1000 and p.header.shape == (300,) for p in seen[2:])


def test_unlimited_copy_reasks_every_time():
    hdr = w.TensorHeader(0x1000, w.CPU, (2, 3), w.DataType(2, 32))
    null = w.return_packet([w.OpaquePtr(0)])
    data = bytes(range(24))
    peer = Peer([null, w.return_packet([None]), null,
                 w.encode_packet(w.Packet(w.RPCCode.COPY_ACK, data=data)), null])
    s = w.Session(peer.a)
    s.copy_to_remote(hdr, data)
    assert s.copy_from_remote(hdr, 24) == data
    s.copy_to_remote(hdr.replace(shape=(0,)), b"")   # 0 bytes: the lookup, then no packet
    peer.join()
    assert [p.code for p in peer.seen] == [9, 7, 9, 6, 9]
    assert peer.seen[1].header.byte_offset == 0 and peer.seen[1].data == data


def test_tracker_client_two_write_and_one_write():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = []

    def tracker():
        c, _ = srv.accept()
        c.settimeout(5)
        got.append(w.recv_exact(c, 4))
        c.sendall(struct.pack("<i", w.TRACKER_MAGIC))
        for reply in ([0, {"queue_info": {}, "server_info": []}],
                      [0, ["127.0.0.1", 9090, "k:0.5"]], ["k:0.5"]):
            n = struct.unpack("<i", w.recv_exact(c, 4))[0]
            got.append(json.loads(w.recv_exact(c, n)))
            c.sendall(w.tracker_frame(reply))
        c.close()

    t = threading.Thread(target=tracker, daemon=True)
    t.start()
    with w.TrackerClient("127.0.0.1", port, timeout=5) as tc:
        assert tc.summary() == {"queue_info": {}, "server_info": []}
        assert tc.request("k", priority=0) == ("127.0.0.1", 9090, "k:0.5")
        tc.two_writes = False
        assert tc.get_pending_matchkeys() == ["k:0.5"]
    t.join(5)
    srv.close()
    assert got == [struct.pack("<i", w.TRACKER_MAGIC), [6], [4, "k", "", 0], [7]]
