"""An independent WebSocket (RFC 6455) implementation for the tests of the proxy's web port
(docs/control-plane.md §4.6): a client that upgrades a TCP connection and sends masked frames,
and a server side used by the recorder (tests/conformance/record_websocket.py). Written from
the RFC, sharing no code with libwebsockets; frames can be built wrong on purpose (unmasked,
text, oversized) to test how the proxy refuses them."""
import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode, payload, mask=True, fin=True, length=None):
    """One frame. `length` overrides the length field (to lie about it)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 1 << 16:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 else \
        _mask_fast(payload, key)
    return head + key + body


def _mask_fast(payload, key):
    k = int.from_bytes(key * ((len(payload) + 3) // 4), "little")
    p = int.from_bytes(payload + b"\0" * (-len(payload) % 4), "little")
    return (p ^ k).to_bytes(len(payload) + (-len(payload) % 4), "little")[:len(payload)]


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def read_frame(sock, expect_masked=False):
    """(opcode, payload, fin) of the next frame."""
    b0, b1 = _read_exact(sock, 2)
    masked, n = b1 & 0x80, b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(sock, 8))[0]
    if bool(masked) != expect_masked:
        raise ValueError("frame masking is wrong for this direction")
    key = _read_exact(sock, 4) if masked else None
    payload = _read_exact(sock, n)
    if key:
        payload = _mask_fast(payload, key)
    return b0 & 0x0F, payload, bool(b0 & 0x80)


class Client:
    """A WebSocket client on one TCP connection. send()/recv_bytes() carry the RPC byte
    stream in binary frames; frame boundaries are the caller's choice."""

    def __init__(self, host, port, path="/ws", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise EOFError("closed during the upgrade: %r" % head)
            head += chunk
        self.status = int(head.split(b" ", 2)[1])
        self.headers = head.decode(errors="replace")
        if self.status == 101:
            want = accept_key(key)
            if ("Sec-WebSocket-Accept: %s" % want).lower() not in self.headers.lower():
                raise ValueError("wrong Sec-WebSocket-Accept in %r" % self.headers)
        self.pending = b""

    def send(self, data, chunks=None):
        """data as binary frames: one, or split at the given sizes."""
        if not chunks:
            self.sock.sendall(frame(OP_BINARY, data))
            return
        at = 0
        for n in chunks:
            self.sock.sendall(frame(OP_BINARY, data[at:at + n]))
            at += n
        if at < len(data):
            self.sock.sendall(frame(OP_BINARY, data[at:]))

    def send_raw(self, raw):
        self.sock.sendall(raw)

    def recv_frame(self):
        return read_frame(self.sock)

    def recv_bytes(self, n):
        """Exactly n bytes of the stream, over as many binary frames as it takes."""
        while len(self.pending) < n:
            op, payload, _ = read_frame(self.sock)
            if op == OP_CLOSE:
                raise EOFError("close frame after %d of %d bytes" % (len(self.pending), n))
            if op == OP_PING:
                self.sock.sendall(frame(OP_PONG, payload))
                continue
            assert op in (OP_BINARY, OP_CONT), "unexpected opcode %d" % op
            self.pending += payload
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def closed(self, timeout=10):
        """True once the server ends the connection (close frame or EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                op, _, _ = read_frame(self.sock)
                if op == OP_CLOSE:
                    return True
        except (EOFError, ConnectionError):
            return True

    def close(self):
        try:
            self.sock.sendall(frame(OP_CLOSE, struct.pack(">H", 1000)))
        except OSError:
            pass
        self.sock.close()


def server_handshake(sock):
    """Accept a client's upgrade on sock (the recorder's side facing TVM's peer); returns the
    request path."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("closed during the upgrade")
        head += chunk
    lines = head.decode().split("\r\n")
    key = next(l.split(":", 1)[1].strip() for l in lines
               if l.lower().startswith("sec-websocket-key:"))
    sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                  % accept_key(key)).encode())
    return lines[0].split(" ")[1]
