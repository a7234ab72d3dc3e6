"""An independent Python implementation of the client side of Apache TVM's RPC protocol
(tracker JSON frames, RPC handshake, session packets of the tvm-ffi era, protocol "0.8.0").
Written from the project's protocol specs only; it shares no code with the C implementation
it tests. Every reply is decoded strictly: a wrong length, count or type raises ProtocolError.

Main entry points (see tests/e2e/test_server_session.py for use):
  TrackerClient(host, port)      .request(key, priority, user) -> (addr, port, matchkey),
                                 .summary(), .put(), .update_info(), .register_server(),
                                 .get_pending_matchkeys(), .ping(), .stop(), send/recv_json
  Session.connect(host, port, key, timeout=N | full_key=...)   handshake + InitServer
      .get_global_func / .get_function / .call / .call_raw / .syscall / .free_handle
      .dev_* syscalls, .copy_to_remote / .copy_from_remote (stock chunking), .shutdown()
      .upload / .download / .listdir / .remove / .load_module / .module_get_function
      .time_evaluator(...)(*args) -> floats, .tensor(np_array) / .empty(shape) -> RemoteTensor
  Values: None, int, bool, float, str (RawStr), bytes (object path), OpaquePtr, DataType,
      Device, TensorHeader, ByteArray (9), ObjStr/ObjBytes (object path), ObjectRef (115),
      ModuleHandle (73), FunctionHandle (68), RawArg (anything, for hostile tests)
  RPCError / RPCSessionTimeoutError (remote Exception), KeyMismatchError, DuplicateKeyError
  server_handshake() + ServerEndpoint: pose as a device server behind a proxy
  Codec: encode_packet/decode_packet, encode_value/decode_value, decode_typed_return
  Recordings: load_vector, RecordedSession, ReplayServer, packet_structure,
      tracker_structure, assert_same_structure (handles, matchkeys, IPs, ports masked)"""
import enum
import json
import math
import socket
import struct

RPC_MAGIC = 0x000FF271
RPC_CODE_SUCCESS = 0x000FF271
RPC_CODE_DUPLICATE = 0x000FF272
RPC_CODE_MISMATCH = 0x000FF273
TRACKER_MAGIC = 0x0002F271
PROTOCOL_VERSION = "0.8.0"
TIMEOUT_ERROR_PREFIX = "RPCSessionTimeoutError: "
MAX_KEY_LEN = 4096            # longest handshake key we accept from a peer
MAX_TRACKER_FRAME = 1 << 20   # the tracker's own limit; we hold replies to it too


class RPCCode(enum.IntEnum):
    NONE = 0
    SHUTDOWN = 1
    INIT_SERVER = 2
    CALL_FUNC = 3
    RETURN = 4
    EXCEPTION = 5
    COPY_FROM_REMOTE = 6
    COPY_TO_REMOTE = 7
    COPY_ACK = 8
    GET_GLOBAL_FUNC = 9
    FREE_HANDLE = 10
    DEV_SET_DEVICE = 11
    DEV_GET_ATTR = 12
    DEV_ALLOC_DATA = 13
    DEV_FREE_DATA = 14
    DEV_STREAM_SYNC = 15
    COPY_AMONG_REMOTE = 16
    DEV_ALLOC_DATA_WITH_SCOPE = 17
    DEV_CREATE_STREAM = 18
    DEV_FREE_STREAM = 19
    DEV_SET_STREAM = 20
    DEV_GET_CURRENT_STREAM = 21


SYSCALL_FIRST = RPCCode.GET_GLOBAL_FUNC


class TI(enum.IntEnum):
    """tvm-ffi type indices that appear on the wire (docs/session-protocol.md §2.2)."""
    NONE = 0
    INT = 1
    BOOL = 2
    FLOAT = 3
    OPAQUE_PTR = 4
    DATA_TYPE = 5
    DEVICE = 6
    DLTENSOR_PTR = 7
    RAW_STR = 8
    BYTE_ARRAY_PTR = 9
    OBJECT_RVALUE_REF = 10
    SMALL_STR = 11
    SMALL_BYTES = 12
    OBJECT = 64
    STR = 65
    BYTES = 66
    ERROR = 67
    FUNCTION = 68
    SHAPE = 69
    TENSOR = 70
    ARRAY = 71
    MAP = 72
    MODULE = 73
    RPC_OBJECT_REF = 115


class TrackerCode(enum.IntEnum):
    FAIL = -1
    SUCCESS = 0
    PING = 1
    STOP = 2
    PUT = 3
    REQUEST = 4
    UPDATE_INFO = 5
    SUMMARY = 6
    GET_PENDING_MATCHKEYS = 7


class DevAttr(enum.IntEnum):
    EXIST = 0
    DEVICE_NAME = 5
    TOTAL_GLOBAL_MEMORY = 14


# ------------------------------------------------------------------------------------------
# Errors


class ProtocolError(Exception):
    """The peer broke the wire protocol (bad length, count, type, magic...)."""


class RPCError(RuntimeError):
    """The server answered with an Exception packet; .text is its message."""

    def __init__(self, text):
        super().__init__("RPCError: Error caught from RPC call:\n" + text)
        self.text = text


class RPCSessionTimeoutError(RPCError):
    pass


class HandshakeError(Exception):
    pass


class KeyMismatchError(HandshakeError):
    pass


class DuplicateKeyError(HandshakeError):
    pass


def exception_from_text(text):
    if text.startswith(TIMEOUT_ERROR_PREFIX):
        return RPCSessionTimeoutError(text)
    return RPCError(text)


# ------------------------------------------------------------------------------------------
# Values. Plain Python values map to what the stock client sends (§2.5); the wrapper types
# below give access to the other encodings and keep decoded values re-encodable byte for byte.


class OpaquePtr(int):
    """Type 4: a remote pointer, stream or handle."""

    def __repr__(self):
        return "OpaquePtr(0x%x)" % int(self)


class ByteArray(bytes):
    """Type 9 (ByteArrayPtr): u64 length + bytes, no inner index."""


class ObjStr(str):
    """A string sent through the object path (outer 11 or 65, inner 65)."""

    def __new__(cls, value, outer=None):
        o = super().__new__(cls, value)
        o.outer = outer if outer is not None else (TI.SMALL_STR if len(value.encode()) <= 7
                                                   else TI.STR)
        return o


class ObjBytes(bytes):
    """Bytes through the object path (outer 12 or 66, inner 66)."""

    def __new__(cls, value, outer=None):
        o = super().__new__(cls, value)
        o.outer = outer if outer is not None else (TI.SMALL_BYTES if len(value) <= 7
                                                   else TI.BYTES)
        return o


class ObjectRef:
    """A remote object handle travelling as outer/inner 115 (or another outer index)."""

    def __init__(self, handle, outer=TI.RPC_OBJECT_REF):
        self.handle = int(handle)
        self.outer = int(outer)

    def __eq__(self, other):
        return (isinstance(other, ObjectRef) and other.handle == self.handle
                and other.outer == self.outer)

    def __hash__(self):
        return hash((self.handle, self.outer))

    def __repr__(self):
        return "ObjectRef(0x%x, outer=%d)" % (self.handle, self.outer)


class HandleArg:
    """Types 68 (Function) and 73 (Module) as arguments: a bare u64 handle."""
    type_index = None

    def __init__(self, handle):
        self.handle = int(handle)

    def __eq__(self, other):
        return type(other) is type(self) and other.handle == self.handle

    def __hash__(self):
        return hash((type(self), self.handle))

    def __repr__(self):
        return "%s(0x%x)" % (type(self).__name__, self.handle)


class FunctionHandle(HandleArg):
    type_index = TI.FUNCTION


class ModuleHandle(HandleArg):
    type_index = TI.MODULE


class RawArg:
    """An arbitrary type index with a hand-made payload, for robustness tests."""

    def __init__(self, type_index, payload=b""):
        self.type_index = int(type_index)
        self.payload = bytes(payload)


class DataType:
    """DLDataType: u8 code, u8 bits, u16 lanes."""
    _NAMES = {0: "int", 1: "uint", 2: "float", 3: "handle", 4: "bfloat", 6: "bool"}

    def __init__(self, code, bits, lanes=1):
        self.code, self.bits, self.lanes = int(code), int(bits), int(lanes)

    @classmethod
    def parse(cls, text):
        import re
        m = re.fullmatch(r"(int|uint|float|bfloat|bool)(\d*)(?:x(\d+))?", text)
        if not m:
            raise ValueError("unknown dtype %r" % text)
        code = {"int": 0, "uint": 1, "float": 2, "bfloat": 4, "bool": 6}[m.group(1)]
        bits = int(m.group(2) or 8)
        return cls(code, bits, int(m.group(3) or 1))

    @classmethod
    def from_numpy(cls, dtype):
        import numpy as np
        dtype = np.dtype(dtype)
        if dtype == np.bool_:
            return cls(6, 8, 1)
        kind = {"i": 0, "u": 1, "f": 2}.get(dtype.kind)
        if kind is None:
            raise ValueError("no TVM dtype for numpy %s" % dtype)
        return cls(kind, dtype.itemsize * 8, 1)

    def to_numpy(self):
        import numpy as np
        if self.lanes != 1:
            raise ValueError("vector dtype %r has no numpy equivalent" % self)
        if self.code == 6:
            return np.dtype(np.bool_)
        kind = {0: "i", 1: "u", 2: "f"}.get(self.code)
        if kind is None:
            raise ValueError("dtype %r has no numpy equivalent" % self)
        return np.dtype("<%s%d" % (kind, self.bits // 8))

    @property
    def itemsize(self):
        return (self.bits * self.lanes + 7) // 8

    def __eq__(self, other):
        return (isinstance(other, DataType)
                and (other.code, other.bits, other.lanes) == (self.code, self.bits, self.lanes))

    def __hash__(self):
        return hash((self.code, self.bits, self.lanes))

    def __repr__(self):
        name = self._NAMES.get(self.code, "code%d_" % self.code)
        return "DataType(%s%d%s)" % (name, self.bits, "x%d" % self.lanes if self.lanes != 1
                                     else "")


class Device:
    """DLDevice: i32 device_type, i32 device_id."""

    def __init__(self, device_type, device_id=0):
        self.device_type, self.device_id = int(device_type), int(device_id)

    def __eq__(self, other):
        return (isinstance(other, Device) and other.device_type == self.device_type
                and other.device_id == self.device_id)

    def __hash__(self):
        return hash((self.device_type, self.device_id))

    def __repr__(self):
        return "Device(%d, %d)" % (self.device_type, self.device_id)


CPU = Device(1, 0)


class TensorHeader:
    """The DLTensor header of §2.3 (type 7 payload and the copy packets' prefix)."""

    def __init__(self, data, device, shape, dtype, byte_offset=0):
        self.data = int(data)
        self.device = device
        self.shape = tuple(int(x) for x in shape)
        self.dtype = dtype
        self.byte_offset = int(byte_offset)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def nbytes(self):
        n = 1
        for s in self.shape:
            n *= s
        return (n * self.dtype.bits * self.dtype.lanes + 7) // 8

    def replace(self, **kw):
        d = dict(data=self.data, device=self.device, shape=self.shape, dtype=self.dtype,
                 byte_offset=self.byte_offset)
        d.update(kw)
        return TensorHeader(**d)

    def __eq__(self, other):
        return (isinstance(other, TensorHeader) and other.data == self.data
                and other.device == self.device and other.shape == self.shape
                and other.dtype == self.dtype and other.byte_offset == self.byte_offset)

    def __repr__(self):
        return "TensorHeader(data=0x%x, %r, shape=%r, %r, off=%d)" % (
            self.data, self.device, self.shape, self.dtype, self.byte_offset)


# ------------------------------------------------------------------------------------------
# Byte codec


class Reader:
    """Bounds-checked little-endian reader over one packet body."""

    def __init__(self, data, what="packet"):
        self.data = memoryview(bytes(data))
        self.pos = 0
        self.what = what

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("%s: need %d bytes at offset %d, only %d left" %
                                (self.what, n, self.pos, len(self.data) - self.pos))
        b = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return b

    def unpack(self, fmt):
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size))

    def i32(self):
        return self.unpack("i")[0]

    def u32(self):
        return self.unpack("I")[0]

    def i64(self):
        return self.unpack("q")[0]

    def u64(self):
        return self.unpack("Q")[0]

    def blob(self):
        n = self.u64()
        if n > len(self.data) - self.pos:
            raise ProtocolError("%s: length %d exceeds the %d bytes left" %
                                (self.what, n, len(self.data) - self.pos))
        return self.take(n)

    def remaining(self):
        return len(self.data) - self.pos

    def end(self):
        if self.pos != len(self.data):
            raise ProtocolError("%s: %d trailing bytes after offset %d" %
                                (self.what, len(self.data) - self.pos, self.pos))


def _blob(b):
    return struct.pack("<Q", len(b)) + b


def encode_header(h):
    return (struct.pack("<QiiiBBH", h.data & (2**64 - 1), h.device.device_type,
                        h.device.device_id, len(h.shape), h.dtype.code, h.dtype.bits,
                        h.dtype.lanes)
            + b"".join(struct.pack("<q", s) for s in h.shape)
            + struct.pack("<Q", h.byte_offset))


MAX_NDIM = 64


def decode_header(r):
    data, dt, di, ndim, code, bits, lanes = r.unpack("QiiiBBH")
    if ndim < 0 or ndim > MAX_NDIM:
        raise ProtocolError("%s: tensor ndim %d out of range" % (r.what, ndim))
    shape = r.unpack("%dq" % ndim) if ndim else ()
    off = r.u64()
    return TensorHeader(data, Device(dt, di), shape, DataType(code, bits, lanes), off)


def encode_value(v):
    """One argument: i32 type index + payload."""
    t = lambda i: struct.pack("<i", int(i))  # noqa: E731
    if v is None:
        return t(TI.NONE)
    if isinstance(v, RawArg):
        return t(v.type_index) + v.payload
    if isinstance(v, bool):
        return t(TI.BOOL) + struct.pack("<q", int(v))
    if isinstance(v, OpaquePtr):
        return t(TI.OPAQUE_PTR) + struct.pack("<Q", int(v) & (2**64 - 1))
    if isinstance(v, int):
        return t(TI.INT) + struct.pack("<q", v)
    if isinstance(v, float):
        return t(TI.FLOAT) + struct.pack("<d", v)
    if isinstance(v, DataType):
        return t(TI.DATA_TYPE) + struct.pack("<BBHi", v.code, v.bits, v.lanes, 0)
    if isinstance(v, Device):
        return t(TI.DEVICE) + struct.pack("<ii", v.device_type, v.device_id)
    if isinstance(v, TensorHeader):
        return t(TI.DLTENSOR_PTR) + encode_header(v)
    if isinstance(v, ObjStr):
        return t(v.outer) + struct.pack("<I", TI.STR) + _blob(v.encode())
    if isinstance(v, str):
        return t(TI.RAW_STR) + _blob(v.encode())
    if isinstance(v, ByteArray):
        return t(TI.BYTE_ARRAY_PTR) + _blob(bytes(v))
    if isinstance(v, ObjBytes):
        return t(v.outer) + struct.pack("<I", TI.BYTES) + _blob(bytes(v))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return encode_value(ObjBytes(bytes(v)))
    if isinstance(v, ObjectRef):
        return t(v.outer) + struct.pack("<IQ", TI.RPC_OBJECT_REF, v.handle)
    if isinstance(v, HandleArg):
        return t(v.type_index) + struct.pack("<Q", v.handle)
    if isinstance(v, (RemoteModule,)):
        return encode_value(ModuleHandle(v.handle))
    if isinstance(v, RemoteObject):
        return encode_value(ObjectRef(v.handle))
    if isinstance(v, (RemoteTensor, ReturnedTensor)):
        return encode_value(v.header)
    raise TypeError("cannot encode %r" % (v,))


def encode_seq(values):
    return struct.pack("<i", len(values)) + b"".join(encode_value(v) for v in values)


OBJECT_PATH = {TI.SMALL_STR, TI.SMALL_BYTES} | set(range(64, 68)) | set(range(69, 73)) | \
    set(range(74, 78)) | {TI.RPC_OBJECT_REF}
MAX_SEQ = 1 << 20


def decode_value(r):
    ti = r.i32()
    if ti == TI.NONE:
        return None
    if ti == TI.INT:
        return r.i64()
    if ti == TI.BOOL:
        v = r.i64()
        if v not in (0, 1):
            raise ProtocolError("%s: Bool payload %d is not 0 or 1" % (r.what, v))
        return bool(v)
    if ti == TI.FLOAT:
        return r.unpack("d")[0]
    if ti == TI.OPAQUE_PTR:
        return OpaquePtr(r.u64())
    if ti == TI.DATA_TYPE:
        code, bits, lanes, pad = r.unpack("BBHi")
        if pad != 0:
            raise ProtocolError("%s: DataType padding is %d, must be 0" % (r.what, pad))
        return DataType(code, bits, lanes)
    if ti == TI.DEVICE:
        return Device(*r.unpack("ii"))
    if ti == TI.DLTENSOR_PTR:
        return decode_header(r)
    if ti == TI.RAW_STR:
        b = r.blob()
        if b"\0" in b:
            raise ProtocolError("%s: RawStr with an embedded NUL" % r.what)
        return b.decode("utf-8")
    if ti == TI.BYTE_ARRAY_PTR:
        return ByteArray(r.blob())
    if ti == TI.TENSOR:
        raise ProtocolError("%s: type index 70 (Tensor) is never on the wire" % r.what)
    if ti in (TI.FUNCTION, TI.MODULE):
        h = r.u64()
        return FunctionHandle(h) if ti == TI.FUNCTION else ModuleHandle(h)
    if ti in OBJECT_PATH or ti >= 128:
        inner = r.u32()
        if inner == TI.STR:
            return ObjStr(r.blob().decode("utf-8"), outer=ti)
        if inner == TI.BYTES:
            return ObjBytes(r.blob(), outer=ti)
        if inner == TI.RPC_OBJECT_REF:
            return ObjectRef(r.u64(), outer=ti)
        raise ProtocolError("%s: object path with unsupported inner index %d (outer %d)" %
                            (r.what, inner, ti))
    raise ProtocolError("%s: unknown type index %d" % (r.what, ti))


def decode_seq(r):
    n = r.i32()
    if n < 0 or n > MAX_SEQ:
        raise ProtocolError("%s: argument count %d out of range" % (r.what, n))
    return [decode_value(r) for _ in range(n)]


# ------------------------------------------------------------------------------------------
# Packets


class Packet:
    """One session packet. Fields used depend on code:
    INIT_SERVER: version, args; CALL_FUNC: handle, args; RETURN/EXCEPTION and syscalls: args;
    COPY_TO_REMOTE: header, data; COPY_FROM_REMOTE: header, nbytes; COPY_ACK: data;
    SHUTDOWN: nothing. Unknown codes keep their raw body."""

    def __init__(self, code, args=None, handle=None, version=None, header=None, nbytes=None,
                 data=None, body=None):
        self.code = int(code)
        self.args = list(args) if args is not None else None
        self.handle = handle
        self.version = version
        self.header = header
        self.nbytes = nbytes
        self.data = data
        self.body = body

    @property
    def name(self):
        try:
            return RPCCode(self.code).name
        except ValueError:
            return "code%d" % self.code

    def __repr__(self):
        parts = [self.name]
        for k in ("version", "handle", "header", "nbytes"):
            v = getattr(self, k)
            if v is not None:
                parts.append("%s=%r" % (k, v))
        if self.args is not None:
            parts.append("args=%r" % (self.args,))
        if self.data is not None:
            parts.append("data=<%d bytes>" % len(self.data))
        return "Packet(%s)" % ", ".join(parts)


def encode_body(p):
    c = p.code
    if c == RPCCode.SHUTDOWN:
        return b""
    if c == RPCCode.INIT_SERVER:
        return _blob(p.version.encode()) + encode_seq(p.args or [])
    if c == RPCCode.CALL_FUNC:
        return struct.pack("<Q", p.handle) + encode_seq(p.args)
    if c == RPCCode.COPY_TO_REMOTE:
        return encode_header(p.header) + _blob(bytes(p.data))
    if c == RPCCode.COPY_FROM_REMOTE:
        return encode_header(p.header) + struct.pack("<Q", p.nbytes)
    if c == RPCCode.COPY_ACK:
        return bytes(p.data)
    if c in (RPCCode.RETURN, RPCCode.EXCEPTION) or SYSCALL_FIRST <= c <= max(RPCCode):
        return encode_seq(p.args)
    return bytes(p.body or b"")


def encode_packet(p):
    body = struct.pack("<i", p.code) + encode_body(p)
    return struct.pack("<Q", len(body)) + body


def decode_body(code, body):
    """Decode a packet body (after the code). Every byte must be consumed."""
    name = RPCCode(code).name if code in RPCCode._value2member_map_ else "code %d" % code
    r = Reader(body, name)
    if code == RPCCode.SHUTDOWN:
        p = Packet(code)
    elif code == RPCCode.INIT_SERVER:
        ver = r.blob().decode("utf-8")
        p = Packet(code, version=ver, args=decode_seq(r))
    elif code == RPCCode.CALL_FUNC:
        h = r.u64()
        p = Packet(code, handle=h, args=decode_seq(r))
    elif code == RPCCode.COPY_TO_REMOTE:
        hdr = decode_header(r)
        p = Packet(code, header=hdr, data=r.blob())
    elif code == RPCCode.COPY_FROM_REMOTE:
        hdr = decode_header(r)
        p = Packet(code, header=hdr, nbytes=r.u64())
    elif code == RPCCode.COPY_ACK:
        p = Packet(code, data=r.take(r.remaining()))
    elif code in (RPCCode.RETURN, RPCCode.EXCEPTION) or SYSCALL_FIRST <= code <= max(RPCCode):
        p = Packet(code, args=decode_seq(r))
    else:
        raise ProtocolError("unknown RPC code %d" % code)
    r.end()
    return p


def decode_packet(data):
    """Decode exactly one framed packet (u64 length included)."""
    r = Reader(data, "frame")
    n = r.u64()
    if n != r.remaining():
        raise ProtocolError("frame says %d bytes, has %d" % (n, r.remaining()))
    if n < 4:
        raise ProtocolError("packet of %d bytes has no code" % n)
    code = r.i32()
    return decode_body(code, r.take(r.remaining()))


def split_packets(stream):
    """Split a byte stream into framed packets; returns (list of raw packets, rest)."""
    out = []
    pos = 0
    while len(stream) - pos >= 8:
        n = struct.unpack_from("<Q", stream, pos)[0]
        if len(stream) - pos - 8 < n:
            break
        out.append(bytes(stream[pos:pos + 8 + n]))
        pos += 8 + n
    return out, bytes(stream[pos:])


def exception_packet(text):
    return encode_packet(Packet(RPCCode.EXCEPTION, args=[text]))


def return_packet(values):
    return encode_packet(Packet(RPCCode.RETURN, args=values))


# --- typed returns (§3.3) -----------------------------------------------------------------


class RemoteFunction:
    def __init__(self, session, handle):
        self.session, self.handle = session, int(handle)

    def __call__(self, *args):
        return self.session.call(self.handle, *args)

    def free(self):
        if self.handle:
            self.session.free_handle(self.handle)
            self.handle = 0

    def __repr__(self):
        return "RemoteFunction(0x%x)" % self.handle


class RemoteModule:
    def __init__(self, session, handle):
        self.session, self.handle = session, int(handle)

    def free(self):
        if self.handle:
            self.session.free_handle(self.handle)
            self.handle = 0

    def __repr__(self):
        return "RemoteModule(0x%x)" % self.handle


class RemoteObject:
    """Any other returned object (Array, Map, Shape...): an opaque handle, passed back as 115."""

    def __init__(self, session, type_index, handle):
        self.session, self.type_index, self.handle = session, int(type_index), int(handle)

    def free(self):
        if self.handle:
            self.session.free_handle(self.handle)
            self.handle = 0

    def __repr__(self):
        return "RemoteObject(type=%d, 0x%x)" % (self.type_index, self.handle)


class ReturnedTensor:
    """A Tensor returned by a CallFunc: header + owner handle, released with FreeHandle."""

    def __init__(self, session, header, handle):
        self.session, self.header, self.handle = session, header, int(handle)

    def numpy(self, chunked=True):
        raw = self.session.copy_from_remote(self.header, self.header.nbytes, chunked)
        self.session.dev_stream_sync(self.header.device, 0)
        return _to_numpy(raw, self.header)

    def free(self):
        if self.handle:
            self.session.free_handle(self.handle)
            self.handle = 0


def _expect_type(values, i, cls, what):
    v = values[i]
    if cls is bool:
        ok = isinstance(v, bool)
    elif cls is int:
        ok = isinstance(v, int) and not isinstance(v, (bool, OpaquePtr))
    else:
        ok = isinstance(v, cls)
    if not ok:
        raise ProtocolError("%s: element %d is %r, expected %s" % (what, i, v, cls.__name__))
    return v


def decode_typed_return(values, session=None):
    """Interpret a CallFunc Return sequence ([Int type_index, value...]) like the stock
    client. Raises ProtocolError for any shape the client would not accept."""
    what = "CallFunc return %r" % (values,)
    if not values:
        raise ProtocolError(what + ": empty (a CallFunc reply needs the type-index prefix)")
    ti = _expect_type(values, 0, int, what)
    rest = values[1:]

    def one(cls):
        if len(rest) != 1:
            raise ProtocolError("%s: expected exactly 2 elements" % what)
        return _expect_type(values, 1, cls, what)

    if ti == TI.NONE:
        if len(rest) > 1 or (rest and rest[0] is not None):
            raise ProtocolError(what + ": void return must be [Int 0] or [Int 0, None]")
        return None
    if ti == TI.INT:
        return one(int)
    if ti == TI.BOOL:
        return one(bool)
    if ti == TI.FLOAT:
        return one(float)
    if ti == TI.OPAQUE_PTR:
        return one(OpaquePtr)
    if ti == TI.DATA_TYPE:
        return one(DataType)
    if ti == TI.DEVICE:
        d = one(Device)
        if d.device_type >= 128:
            raise ProtocolError(what + ": device carries a session mask")
        return d
    if ti in (TI.STR, TI.SMALL_STR):
        v = one(str)
        if isinstance(v, ObjStr):
            raise ProtocolError(what + ": string return must be a RawStr")
        return v
    if ti in (TI.BYTES, TI.SMALL_BYTES):
        return bytes(one(ByteArray))
    if ti == TI.FUNCTION:
        return RemoteFunction(session, one(OpaquePtr))
    if ti == TI.MODULE:
        return RemoteModule(session, one(OpaquePtr))
    if ti == TI.TENSOR:
        if len(rest) != 2:
            raise ProtocolError(what + ": Tensor return must have exactly 3 elements")
        hdr = _expect_type(values, 1, TensorHeader, what)
        h = _expect_type(values, 2, OpaquePtr, what)
        if hdr.device.device_type >= 128:
            raise ProtocolError(what + ": tensor device carries a session mask")
        return ReturnedTensor(session, hdr, h)
    if ti >= 64:
        return RemoteObject(session, ti, one(OpaquePtr))
    raise ProtocolError(what + ": type index %d is not a valid CallFunc return" % ti)


# ------------------------------------------------------------------------------------------
# Socket helpers


def recv_exact(sock, n, what="data"):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            raise TimeoutError("timed out reading %s (%d of %d bytes)" % (what, len(buf), n))
        if not chunk:
            raise EOFError("connection closed while reading %s (%d of %d bytes)" %
                           (what, len(buf), n))
        buf += chunk
    return bytes(buf)


def expect_eof(sock, timeout=5.0):
    """True when the peer closes without sending anything more."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        return True
    if data:
        raise ProtocolError("expected the peer to close, got byte %r" % data)
    return True


def connect(host, port, timeout=10.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# --- RPC handshake (docs/control-plane.md §3) ----------------------------------------------


def handshake_bytes(key):
    k = key.encode()
    return struct.pack("<ii", RPC_MAGIC, len(k)) + k


def send_handshake(sock, key, one_write=False):
    k = key.encode()
    if one_write:
        sock.sendall(handshake_bytes(key))
    else:  # the stock client's three writes
        sock.sendall(struct.pack("<i", RPC_MAGIC))
        sock.sendall(struct.pack("<i", len(k)))
        if k:
            sock.sendall(k)


def read_handshake_reply(sock):
    """Returns the peer key on SUCCESS; raises on MISMATCH/DUPLICATE/garbage."""
    code = struct.unpack("<i", recv_exact(sock, 4, "handshake code"))[0]
    if code == RPC_CODE_MISMATCH:
        raise KeyMismatchError("server answered MISMATCH (0xff273)")
    if code == RPC_CODE_DUPLICATE:
        raise DuplicateKeyError("server answered DUPLICATE (0xff272)")
    if code != RPC_CODE_SUCCESS:
        raise ProtocolError("not a TVM RPC server: handshake code 0x%x" % (code & 0xffffffff))
    n = struct.unpack("<i", recv_exact(sock, 4, "handshake key length"))[0]
    if n < 0 or n > MAX_KEY_LEN:
        raise ProtocolError("handshake key length %d out of range" % n)
    return recv_exact(sock, n, "handshake key").decode("utf-8")


def client_key(key, timeout=None, options=()):
    s = "client:" + key
    if timeout:
        s += " -timeout=%s" % (timeout if not float(timeout).is_integer() else int(timeout))
    for o in options:
        s += " " + o
    return s


def server_handshake(host, port, key, timeout=10.0):
    """Pose as a device server behind a proxy: send `server:<key>`, wait for pairing.
    Returns (socket, client key incl. options). The caller then serves packets."""
    s = connect(host, port, timeout)
    try:
        send_handshake(s, "server:" + key)
        peer = read_handshake_reply(s)
    except BaseException:
        s.close()
        raise
    return s, peer


# --- Tracker (docs/control-plane.md §2) ----------------------------------------------------


def tracker_frame(obj):
    text = json.dumps(obj)
    data = text.encode("ascii")
    return struct.pack("<i", len(data)) + data


def decode_tracker_frames(stream):
    """Split a tracker byte stream (after the magic) into JSON values; strict."""
    out = []
    r = Reader(stream, "tracker stream")
    while r.remaining():
        n = r.i32()
        if n <= 0 or n > MAX_TRACKER_FRAME:
            raise ProtocolError("tracker frame length %d out of range" % n)
        text = r.take(n).decode("utf-8")
        out.append((json.loads(text), text))
    return out


class TrackerClient:
    """A connection to a tracker; usable as client (request/summary) or as a server (put...).
    handshake=False leaves the magic to the caller (tests that send raw bytes); source binds
    the local address."""

    def __init__(self, host, port, timeout=10.0, two_writes=True, handshake=True, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.two_writes = two_writes
        self.local = self.sock.getsockname()
        if not handshake:
            return
        try:
            self.sock.sendall(struct.pack("<i", TRACKER_MAGIC))
            magic = struct.unpack("<i", recv_exact(self.sock, 4, "tracker magic"))[0]
        except BaseException:
            self.sock.close()
            raise
        if magic != TRACKER_MAGIC:
            self.sock.close()
            raise ProtocolError("%s:%d is not an RPC tracker (magic 0x%x)" % (host, port, magic))

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        return recv_exact(self.sock, n, "tracker data")

    def send_json(self, obj, two_writes=None):
        frame = tracker_frame(obj)
        if two_writes if two_writes is not None else self.two_writes:
            self.sock.sendall(frame[:4])
            self.sock.sendall(frame[4:])
        else:
            self.sock.sendall(frame)

    def recv_text(self):
        """One frame's JSON text, exactly as the tracker wrote it."""
        n = struct.unpack("<i", recv_exact(self.sock, 4, "tracker frame length"))[0]
        if n <= 0 or n > MAX_TRACKER_FRAME:
            raise ProtocolError("tracker frame length %d out of range" % n)
        return recv_exact(self.sock, n, "tracker frame").decode("utf-8")

    def recv_json(self):
        text = self.recv_text()
        try:
            return json.loads(text)
        except ValueError as e:
            raise ProtocolError("tracker sent invalid JSON %r: %s" % (text, e))

    def call(self, obj):
        self.send_json(obj)
        return self.recv_json()

    def has_data(self, wait=0.2):
        """True if the peer sent something (or closed) within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # b"" (closed) counts as something too
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)

    def closed_without_reply(self, wait=5.0):
        """True if the peer closed the connection without sending a single byte."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        return data == b""

    def _expect_success(self, reply, what):
        if reply != TrackerCode.SUCCESS or isinstance(reply, bool):
            raise ProtocolError("%s: tracker replied %r, expected 0" % (what, reply))

    def ping(self):
        self._expect_success(self.call([TrackerCode.PING]), "PING")

    def stop(self, key):
        return self.call([TrackerCode.STOP, key])

    def put(self, key, port, matchkey, custom_addr=None):
        self._expect_success(self.call([TrackerCode.PUT, key, [port, matchkey], custom_addr]),
                             "PUT")

    def update_info(self, info):
        self._expect_success(self.call([TrackerCode.UPDATE_INFO, info]), "UPDATE_INFO")

    def register_server(self, key, port, matchkey, custom_addr=None):
        self.update_info({"key": "server:" + key, "addr": [custom_addr, port]})
        self.put(key, port, matchkey, custom_addr)

    def get_pending_matchkeys(self):
        r = self.call([TrackerCode.GET_PENDING_MATCHKEYS])
        if not isinstance(r, list) or not all(isinstance(x, str) for x in r):
            raise ProtocolError("GET_PENDING_MATCHKEYS: expected a list of strings, got %r" % r)
        return r

    def summary(self):
        r = self.call([TrackerCode.SUMMARY])
        if (not isinstance(r, list) or len(r) != 2 or r[0] != 0 or not isinstance(r[1], dict)
                or set(r[1]) != {"queue_info", "server_info"}):
            raise ProtocolError("SUMMARY: unexpected reply %r" % (r,))
        return r[1]

    def send_request(self, key, priority=1, user=""):
        self.send_json([TrackerCode.REQUEST, key, user, priority])

    def recv_assignment(self):
        r = self.recv_json()
        if (not isinstance(r, list) or len(r) != 2 or r[0] != 0 or not isinstance(r[1], list)
                or len(r[1]) != 3 or not isinstance(r[1][0], str)
                or not isinstance(r[1][1], int) or isinstance(r[1][1], bool)
                or not isinstance(r[1][2], str)):
            raise ProtocolError("REQUEST: unexpected reply %r" % (r,))
        return tuple(r[1])

    def request(self, key, priority=1, user=""):
        """Blocks (up to the socket timeout) until a server is assigned: (addr, port, matchkey)."""
        self.send_request(key, priority, user)
        return self.recv_assignment()


def tracker_summary(port, host="127.0.0.1"):
    """The tracker's SUMMARY ({"queue_info", "server_info"}) over a fresh connection."""
    with TrackerClient(host, port) as c:
        return c.summary()


# ------------------------------------------------------------------------------------------
# Session (client endpoint)


MAX_PACKET_SIZE_FUNC = "tvm.rpc.server.GetCRTMaxPacketSize"


class Session:
    """A client session over an established socket. Requests are strictly one at a time."""

    def __init__(self, sock, server_key="", max_reply=1 << 31):
        self.sock = sock
        self.server_key = server_key
        self.max_reply = max_reply
        self.max_packet = None     # None: not asked yet; -1 unlimited (re-asked, like stock)
        self.globals = {}
        self.closed = False
        self.log = []              # (direction, Packet) when record=True
        self.record = False

    # --- construction
    @classmethod
    def connect(cls, host, port, key="", timeout=None, sock_timeout=60.0, init=True,
                full_key=None):
        s = connect(host, port, sock_timeout)
        try:
            send_handshake(s, full_key if full_key is not None else client_key(key, timeout))
            peer = read_handshake_reply(s)
        except BaseException:
            s.close()
            raise
        sess = cls(s, peer)
        if init:
            try:
                sess.init_server()
            except BaseException:
                sess.close()
                raise
        return sess

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            self.sock.close()

    # --- framing
    def send_packet(self, p):
        raw = encode_packet(p)
        if self.record:
            self.log.append(("c2s", p))
        self.sock.sendall(raw)

    def recv_packet(self):
        """Read one reply packet, skipping empty packets (§1.3)."""
        while True:
            n = struct.unpack("<Q", recv_exact(self.sock, 8, "packet length"))[0]
            if n == 0:
                continue
            if n < 4 or n > self.max_reply:
                raise ProtocolError("reply packet length %d out of range" % n)
            body = recv_exact(self.sock, n, "packet body")
            code = struct.unpack_from("<i", body)[0]
            if code not in (RPCCode.RETURN, RPCCode.EXCEPTION, RPCCode.COPY_ACK):
                raise ProtocolError("server sent code %d; only Return, Exception and CopyAck "
                                    "may reach a client" % code)
            p = decode_body(code, body[4:])
            if self.record:
                self.log.append(("s2c", p))
            return p

    def _reply(self, allowed=(RPCCode.RETURN,)):
        p = self.recv_packet()
        if p.code == RPCCode.EXCEPTION:
            if len(p.args) != 1 or not isinstance(p.args[0], str) or isinstance(p.args[0],
                                                                                 ObjStr):
                raise ProtocolError("Exception packet must carry exactly one RawStr, got %r" %
                                    (p.args,))
            raise exception_from_text(p.args[0])
        if p.code not in allowed:
            raise ProtocolError("expected %s, got %s" %
                                ("/".join(RPCCode(a).name for a in allowed), p.name))
        return p

    def request(self, p, allowed=(RPCCode.RETURN,)):
        self.send_packet(p)
        return self._reply(allowed)

    # --- core requests
    def init_server(self, version=PROTOCOL_VERSION, ctor_args=()):
        return self.request(Packet(RPCCode.INIT_SERVER, version=version,
                                   args=list(ctor_args))).args

    def call_raw(self, handle, *args):
        """CallFunc; returns the raw Return sequence."""
        return self.request(Packet(RPCCode.CALL_FUNC, handle=int(handle), args=list(args))).args

    def call(self, handle, *args):
        """CallFunc; returns the decoded typed value (§3.3)."""
        return decode_typed_return(self.call_raw(handle, *args), self)

    def syscall(self, code, *args):
        vals = self.request(Packet(code, args=list(args))).args
        if len(vals) != 1:
            raise ProtocolError("%s reply must carry exactly one value, got %r" %
                                (RPCCode(code).name, vals))
        return vals[0]

    def _void_syscall(self, code, *args):
        v = self.syscall(code, *args)
        if v is not None:
            raise ProtocolError("%s must reply [None], got %r" % (RPCCode(code).name, v))

    def _ptr_syscall(self, code, *args):
        v = self.syscall(code, *args)
        if not isinstance(v, OpaquePtr):
            raise ProtocolError("%s must reply an OpaquePtr, got %r" % (RPCCode(code).name, v))
        return int(v)

    def get_global_func(self, name):
        """Handle of a global function, 0 when absent (OpaquePtr 0 or None)."""
        v = self.syscall(RPCCode.GET_GLOBAL_FUNC, name)
        if v is None:
            return 0
        if not isinstance(v, OpaquePtr):
            raise ProtocolError("GetGlobalFunc must reply an OpaquePtr, got %r" % (v,))
        return int(v)

    def get_function(self, name):
        h = self.get_global_func(name)
        return RemoteFunction(self, h) if h else None

    def free_handle(self, handle):
        self._void_syscall(RPCCode.FREE_HANDLE, OpaquePtr(handle))

    def dev_set_device(self, dev):
        self._void_syscall(RPCCode.DEV_SET_DEVICE, dev)

    def dev_get_attr(self, dev, kind):
        return self.syscall(RPCCode.DEV_GET_ATTR, dev, int(kind))

    def dev_alloc_data(self, dev, nbytes, alignment, type_hint):
        return self._ptr_syscall(RPCCode.DEV_ALLOC_DATA, dev, int(nbytes), int(alignment),
                                 type_hint)

    def dev_alloc_data_with_scope(self, header, scope=None):
        return self._ptr_syscall(RPCCode.DEV_ALLOC_DATA_WITH_SCOPE,
                                 header.replace(data=0, byte_offset=0), scope)

    def dev_free_data(self, dev, ptr):
        self._void_syscall(RPCCode.DEV_FREE_DATA, dev, OpaquePtr(ptr))

    def dev_stream_sync(self, dev, stream=0):
        self._void_syscall(RPCCode.DEV_STREAM_SYNC, dev, OpaquePtr(stream))

    def copy_among_remote(self, src, dst, stream=0):
        self._void_syscall(RPCCode.COPY_AMONG_REMOTE, src, dst, OpaquePtr(stream))

    def dev_create_stream(self, dev):
        return self._ptr_syscall(RPCCode.DEV_CREATE_STREAM, dev)

    def dev_free_stream(self, dev, stream):
        self._void_syscall(RPCCode.DEV_FREE_STREAM, dev, OpaquePtr(stream))

    def dev_set_stream(self, dev, stream):
        self._void_syscall(RPCCode.DEV_SET_STREAM, dev, OpaquePtr(stream))

    def dev_get_current_stream(self, dev):
        return self._ptr_syscall(RPCCode.DEV_GET_CURRENT_STREAM, dev)

    def shutdown(self):
        """Send Shutdown (no reply) and wait for the server to close the connection."""
        self.send_packet(Packet(RPCCode.SHUTDOWN))
        try:
            expect_eof(self.sock)
        finally:
            self.close()

    # --- copies (§4)
    def get_max_packet_size(self):
        """Like the stock client: ask before every copy until a limit is known."""
        if self.max_packet is not None and self.max_packet > 0:
            return self.max_packet
        h = self.get_global_func(MAX_PACKET_SIZE_FUNC)
        if not h:
            self.max_packet = -1
            return -1
        vals = self.call_raw(h)
        if len(vals) != 2 or vals[0] != TI.INT or type(vals[1]) is not int or vals[1] <= 0:
            raise ProtocolError("%s must return [Int 1, Int N>0], got %r" %
                                (MAX_PACKET_SIZE_FUNC, vals))
        self.max_packet = vals[1]   # the handle is never freed (stock client quirk)
        return self.max_packet

    def _blocks(self, header, nbytes, chunked):
        """(data offset, packet byte_offset, size) of each copy packet. chunked=True follows
        the stock client: ask for the limit, send full blocks then a non-empty remainder (so
        0 bytes send nothing), each packet's byte_offset being its chunk offset (the tensor's
        own byte_offset is discarded). chunked=False sends exactly one packet of nbytes, even
        an empty one, with the header's own byte_offset."""
        if not chunked:
            return [(0, header.byte_offset, nbytes)]
        limit = self.get_max_packet_size()
        if limit <= 0:
            return [(0, 0, nbytes)] if nbytes else []
        block = limit - (44 + 8 * header.ndim)
        if block <= 0:
            raise ProtocolError("max packet size %d leaves no room for data" % limit)
        out = [(k * block, k * block, block) for k in range(nbytes // block)]
        if nbytes % block:
            out.append((len(out) * block, len(out) * block, nbytes % block))
        return out

    def copy_to_remote(self, header, data, chunked=True):
        data = bytes(data)
        for pos, off, n in self._blocks(header, len(data), chunked):
            # the client ignores the values of this Return
            self.request(Packet(RPCCode.COPY_TO_REMOTE, header=header.replace(byte_offset=off),
                                data=data[pos:pos + n]))

    def copy_from_remote(self, header, nbytes, chunked=True):
        out = bytearray()
        for _, off, n in self._blocks(header, nbytes, chunked):
            p = self.request(Packet(RPCCode.COPY_FROM_REMOTE,
                                    header=header.replace(byte_offset=off), nbytes=n),
                             allowed=(RPCCode.COPY_ACK,))
            if len(p.data) != n:
                raise ProtocolError("CopyAck carries %d bytes, asked for %d" % (len(p.data), n))
            out += p.data
        return bytes(out)

    # --- conveniences built on globals, cached like the stock session
    def _cached(self, name):
        h = self.globals.get(name)
        if h is None:
            h = self.get_global_func(name)
            if not h:
                raise AttributeError("remote function %s is missing" % name)
            self.globals[name] = h
        return h

    def free_cached(self):
        for h in self.globals.values():
            self.free_handle(h)
        self.globals.clear()

    def upload(self, name, data):
        v = self.call(self._cached("tvm.rpc.server.upload"), name, bytes(data))
        if v is not None:
            raise ProtocolError("upload returned %r, expected void" % (v,))

    def download(self, name):
        v = self.call(self._cached("tvm.rpc.server.download"), name)
        if not isinstance(v, bytes):
            raise ProtocolError("download returned %r, expected bytes" % (v,))
        return v

    def listdir(self, path="."):
        v = self.call(self._cached("tvm.rpc.server.listdir"), path)
        if not isinstance(v, str):
            raise ProtocolError("listdir returned %r, expected str" % (v,))
        return [e for e in v.split(",") if e]

    def remove(self, name):
        v = self.call(self._cached("tvm.rpc.server.remove"), name)
        if v is not None:
            raise ProtocolError("remove returned %r, expected void" % (v,))

    def load_module(self, path):
        v = self.call(self._cached("tvm.rpc.server.load_module"), path)
        if not isinstance(v, RemoteModule):
            raise ProtocolError("load_module returned %r, expected a Module" % (v,))
        return v

    def module_get_function(self, module, name, query_imports=True):
        v = self.call(self._cached("tvm.rpc.server.ModuleGetFunction"), module, name,
                      bool(query_imports))
        if v is None:
            return None
        if not isinstance(v, RemoteFunction):
            raise ProtocolError("ModuleGetFunction returned %r" % (v,))
        return v

    get_module_function = module_get_function

    def time_evaluator(self, module, name, dev=CPU, number=10, repeat=1, min_repeat_ms=0,
                       limit_zero_time_iterations=100, cooldown_interval_ms=0,
                       repeats_to_cooldown=1, cache_flush_bytes=0, f_preproc=""):
        f = self.call(self._cached("runtime.RPCTimeEvaluator"), module, name, dev.device_type,
                      dev.device_id, number, repeat, min_repeat_ms, limit_zero_time_iterations,
                      cooldown_interval_ms, repeats_to_cooldown, cache_flush_bytes, f_preproc)
        if not isinstance(f, RemoteFunction):
            raise ProtocolError("RPCTimeEvaluator returned %r, expected a Function" % (f,))
        return TimeEvaluator(f, repeat)

    def tensor(self, array, dev=CPU, chunked=True):
        return RemoteTensor.from_numpy(self, array, dev, chunked)

    def empty(self, shape, dtype="float32", dev=CPU):
        return RemoteTensor.empty(self, shape, dtype, dev)


class TimeEvaluator:
    def __init__(self, func, repeat):
        self.func, self.repeat = func, repeat

    def __call__(self, *args):
        v = self.func(*args)
        if not isinstance(v, bytes) or len(v) != 8 * self.repeat:
            raise ProtocolError("time evaluator returned %r, expected %d bytes" %
                                (v, 8 * self.repeat))
        return struct.unpack("<%dd" % self.repeat, v)

    def free(self):
        self.func.free()


def _to_numpy(raw, header):
    import numpy as np
    return np.frombuffer(raw, dtype=header.dtype.to_numpy()).reshape(header.shape).copy()


class RemoteTensor:
    """A tensor allocated by this client (DevAllocDataWithScope), freed with DevFreeData."""

    def __init__(self, session, header):
        self.session, self.header = session, header

    @classmethod
    def empty(cls, session, shape, dtype="float32", dev=CPU, scope=None):
        dt = dtype if isinstance(dtype, DataType) else DataType.from_numpy(dtype)
        hdr = TensorHeader(0, dev, shape, dt, 0)
        ptr = session.dev_alloc_data_with_scope(hdr, scope)
        if ptr == 0 and hdr.nbytes:
            raise ProtocolError("DevAllocDataWithScope returned NULL without an Exception")
        return cls(session, hdr.replace(data=ptr))

    @classmethod
    def from_numpy(cls, session, array, dev=CPU, chunked=True):
        import numpy as np
        a = np.ascontiguousarray(array)
        t = cls.empty(session, a.shape, a.dtype, dev)
        t.copyfrom(a, chunked)
        return t

    def copyfrom(self, array, chunked=True):
        import numpy as np
        a = np.ascontiguousarray(array, dtype=self.header.dtype.to_numpy())
        if a.shape != self.header.shape:
            raise ValueError("shape %r does not match %r" % (a.shape, self.header.shape))
        self.session.copy_to_remote(self.header, a.tobytes(), chunked)
        self.session.dev_stream_sync(self.header.device, 0)

    def numpy(self, chunked=True):
        raw = self.session.copy_from_remote(self.header, self.header.nbytes, chunked)
        self.session.dev_stream_sync(self.header.device, 0)
        return _to_numpy(raw, self.header)

    def free(self):
        if self.header.data:
            self.session.dev_free_data(self.header.device, self.header.data)
            self.header = self.header.replace(data=0)


# ------------------------------------------------------------------------------------------
# A minimal server endpoint, to pose as a device server in proxy tests


class ServerEndpoint:
    """The server side of a session on an already paired socket: read requests, send replies."""

    def __init__(self, sock):
        self.sock = sock

    def recv_request(self):
        """Next request packet; None at a clean EOF on a packet boundary."""
        while True:
            head = self.sock.recv(8, socket.MSG_WAITALL)
            if not head:
                return None
            if len(head) != 8:
                raise EOFError("connection closed inside a packet header")
            n = struct.unpack("<Q", head)[0]
            if n == 0:
                continue
            body = recv_exact(self.sock, n, "request body")
            code = struct.unpack_from("<i", body)[0]
            return decode_body(code, body[4:])

    def send_return(self, values):
        self.sock.sendall(return_packet(values))

    def send_exception(self, text):
        self.sock.sendall(exception_packet(text))

    def send_copy_ack(self, data):
        self.sock.sendall(encode_packet(Packet(RPCCode.COPY_ACK, data=data)))


# ------------------------------------------------------------------------------------------
# Recorded vectors: parse, replay, compare by structure


def load_vector(path):
    with open(path) as f:
        v = json.load(f)
    if set(v) != {"scenario", "description", "exchanges"}:
        raise ProtocolError("%s: unexpected keys %r" % (path, sorted(v)))
    for e in v["exchanges"]:
        if e["dir"] not in ("c2s", "s2c"):
            raise ProtocolError("%s: bad direction %r" % (path, e["dir"]))
        e["bytes"] = bytes.fromhex(e["hex"])
    return v


def iter_exchanges(vector):
    """Yield (direction, bytes) in recorded order."""
    for e in vector["exchanges"]:
        yield e["dir"], e["bytes"]


def direction_stream(vector, direction):
    return b"".join(b for d, b in iter_exchanges(vector) if d == direction)


def parse_initiator_handshake(stream):
    """`magic, len, key` from the side that opened the RPC connection -> (key, rest)."""
    r = Reader(stream, "handshake")
    magic = r.i32()
    if magic != RPC_MAGIC:
        raise ProtocolError("handshake magic 0x%x" % magic)
    n = r.i32()
    if n < 0 or n > MAX_KEY_LEN:
        raise ProtocolError("handshake key length %d" % n)
    key = r.take(n).decode("utf-8")
    return key, stream[r.pos:]


def parse_acceptor_handshake(stream):
    """Reply of the accepting side -> (code, key or None, rest)."""
    r = Reader(stream, "handshake reply")
    code = r.i32()
    if code != RPC_CODE_SUCCESS:
        if code not in (RPC_CODE_MISMATCH, RPC_CODE_DUPLICATE):
            raise ProtocolError("handshake reply code 0x%x" % code)
        r.end()
        return code, None, b""
    n = r.i32()
    if n < 0 or n > MAX_KEY_LEN:
        raise ProtocolError("handshake key length %d" % n)
    key = r.take(n).decode("utf-8")
    return code, key, stream[r.pos:]


def decode_packet_stream(stream):
    """All packets of a direction's stream; the stream must end on a packet boundary."""
    raws, rest = split_packets(stream)
    if rest:
        raise ProtocolError("%d bytes of an incomplete packet at the end" % len(rest))
    return [(raw, decode_packet(raw)) for raw in raws]


def pair_requests(requests, replies):
    """Pair requests with their replies (everything but Shutdown gets exactly one)."""
    pairs = []
    it = iter(replies)
    for req in requests:
        if req.code == RPCCode.SHUTDOWN:
            pairs.append((req, None))
            continue
        rep = next(it, None)
        if rep is None:
            raise ProtocolError("request %r has no reply" % (req,))
        pairs.append((req, rep))
    left = list(it)
    if left:
        raise ProtocolError("%d replies without a request" % len(left))
    return pairs


def check_reply_shape(req, rep):
    """Raise ProtocolError if rep is not a valid reply to req for the stock client."""
    if rep.code == RPCCode.EXCEPTION:
        if len(rep.args) != 1 or type(rep.args[0]) is not str:
            raise ProtocolError("Exception must carry one RawStr: %r" % (rep,))
        return
    if req.code == RPCCode.COPY_FROM_REMOTE:
        if rep.code != RPCCode.COPY_ACK or len(rep.data) != req.nbytes:
            raise ProtocolError("bad CopyAck %r for %r" % (rep, req))
        return
    if rep.code != RPCCode.RETURN:
        raise ProtocolError("%r answered with %r" % (req, rep))
    if req.code == RPCCode.CALL_FUNC:
        decode_typed_return(rep.args)
    elif req.code >= SYSCALL_FIRST and len(rep.args) != 1:
        raise ProtocolError("syscall reply must have 1 value: %r" % (rep,))


# --- structural comparison ----------------------------------------------------------------

HANDLE = "<handle>"
NULL = "<null>"


def _mask_value(v, keep_bytes):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, OpaquePtr):
        return ("ptr", NULL if v == 0 else HANDLE)
    if isinstance(v, HandleArg):
        return (type(v).__name__, NULL if v.handle == 0 else HANDLE)
    if isinstance(v, ObjectRef):
        return ("objref", v.outer, HANDLE)
    if isinstance(v, TensorHeader):
        return ("tensor", NULL if v.data == 0 else HANDLE, v.device.device_type,
                v.device.device_id, v.shape, (v.dtype.code, v.dtype.bits, v.dtype.lanes),
                v.byte_offset)
    if isinstance(v, DataType):
        return ("dtype", v.code, v.bits, v.lanes)
    if isinstance(v, Device):
        return ("device", v.device_type, v.device_id)
    if isinstance(v, ObjStr):
        return ("objstr", v.outer, str(v))
    if isinstance(v, ObjBytes):
        return ("objbytes", v.outer, bytes(v) if keep_bytes else len(v))
    if isinstance(v, ByteArray):
        return ("bytearray", bytes(v) if keep_bytes else len(v))
    if isinstance(v, float):
        return ("float", v if keep_bytes else "<float>")
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, str):
        return ("str", v)
    return ("?", repr(v))


def packet_structure(p, keep_bytes=False, keep_floats=True):
    """A comparable form of a packet with handles/pointers masked. With keep_bytes False,
    blob payloads (upload contents, timings, copy data) are reduced to their length."""
    args = None
    if p.args is not None:
        args = tuple(_mask_value(a, keep_bytes) if not (isinstance(a, float) and keep_floats)
                     else ("float", a) for a in p.args)
    hdr = _mask_value(p.header, True) if p.header is not None else None
    data = None
    if p.data is not None:
        data = bytes(p.data) if keep_bytes else len(p.data)
    return (p.name, p.version, NULL if p.handle == 0 else (HANDLE if p.handle else None),
            hdr, p.nbytes, args, data)


def mask_matchkey(s):
    """`key:random` -> `key:<rand>`; other strings unchanged."""
    if isinstance(s, str) and ":" in s:
        head, _, tail = s.rpartition(":")
        try:
            float(tail)
            return head + ":<rand>"
        except ValueError:
            pass
    return s


def _looks_like_ip(s):
    parts = s.split(".") if isinstance(s, str) else []
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def tracker_structure(obj):
    """Mask matchkeys, IPs and ports (ints > 1023 next to an address) in tracker JSON."""
    if isinstance(obj, list):
        out = [tracker_structure(x) for x in obj]
        # [addr, port, ...] or [port, matchkey]
        for i, x in enumerate(obj):
            if isinstance(x, (int, str)) and not isinstance(x, bool):
                near_addr = any(_looks_like_ip(y) or y is None for y in obj[:i])
                near_key = any(isinstance(y, str) and mask_matchkey(y) != y for y in obj)
                if (isinstance(x, int) and x > 1023) or (isinstance(x, str) and x.isdigit()
                                                         and int(x) > 1023):
                    if near_addr or near_key:
                        out[i] = "<port>"
        return out
    if isinstance(obj, dict):
        return {k: tracker_structure(v) for k, v in obj.items()}
    if isinstance(obj, str):
        if _looks_like_ip(obj):
            return "<ip>"
        return mask_matchkey(obj)
    return obj


def assert_same_structure(live, recorded, what="packet"):
    if live != recorded:
        raise AssertionError("%s differs from the recording:\n  live:     %r\n  recorded: %r" %
                             (what, live, recorded))


class RecordedSession:
    """A recorded client<->server session (handshake + packets), decoded and paired."""

    def __init__(self, vector, server_first_handshake=False):
        self.vector = vector
        c2s = direction_stream(vector, "c2s")
        s2c = direction_stream(vector, "s2c")
        if server_first_handshake:
            # proxy_server_side*: c2s is the RPC server; it handshakes with the proxy, and
            # then receives the client's requests on s2c.
            self.client_key, c2s = parse_initiator_handshake(c2s)
            self.reply_code, self.server_key, s2c = parse_acceptor_handshake(s2c)
            req_stream, rep_stream = s2c, c2s
        else:
            self.client_key, c2s = parse_initiator_handshake(c2s)
            self.reply_code, self.server_key, s2c = parse_acceptor_handshake(s2c)
            req_stream, rep_stream = c2s, s2c
        self.requests = decode_packet_stream(req_stream)
        self.replies = decode_packet_stream(rep_stream)
        self.pairs = pair_requests([p for _, p in self.requests], [p for _, p in self.replies])


class ReplayServer:
    """Plays the server half of a recorded session on a socket: answers the client handshake
    with the recorded reply, then answers each request with the recorded reply bytes after
    checking that the request is byte-identical to the recorded one (handles agree because
    they come from the recorded replies). Runs in a thread; .error holds the first problem."""

    def __init__(self, recorded, sock, check_key=True):
        import threading
        self.rec = recorded
        self.sock = sock
        self.check_key = check_key
        self.error = None
        self.served = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            ep = ServerEndpoint(self.sock)
            magic, n = struct.unpack("<ii", recv_exact(self.sock, 8, "handshake"))
            key = recv_exact(self.sock, n, "key").decode()
            if magic != RPC_MAGIC or (self.check_key and key != self.rec.client_key):
                raise ProtocolError("handshake %x %r, recorded %r" % (magic, key,
                                                                       self.rec.client_key))
            reply = struct.pack("<i", self.rec.reply_code)
            if self.rec.server_key is not None:
                reply += struct.pack("<i", len(self.rec.server_key)) + self.rec.server_key.encode()
            self.sock.sendall(reply)
            replies = iter(raw for raw, _ in self.rec.replies)
            for raw, _ in self.rec.requests:
                got = ep.recv_request()
                if got is None:
                    raise ProtocolError("client closed; recording expects %r" %
                                        (decode_packet(raw),))
                if encode_packet(got) != raw:
                    raise ProtocolError("request %d differs:\n  live:     %r\n  recorded: %r" %
                                        (self.served, got, decode_packet(raw)))
                self.served += 1
                if got.code != RPCCode.SHUTDOWN:
                    self.sock.sendall(next(replies))
        except Exception as e:
            self.error = e
        finally:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join(self, timeout=10):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("replay server still running")
        if self.error is not None:
            raise self.error
        return self.served


def is_finite(x):
    return isinstance(x, float) and math.isfinite(x)
