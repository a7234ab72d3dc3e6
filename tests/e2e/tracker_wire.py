"""An independent Python client for TVM's tracker protocol (control-plane.md §2), written from
the spec for the tests: it shares no code with the C implementation. Frames are i32
little-endian length + JSON text in Python json.dumps style, as TVM's base.sendjson writes
them. Every socket operation has a timeout."""
import json
import socket
import struct
import time

TRACKER_MAGIC = 0x2F271
FAIL, SUCCESS, PING, STOP, PUT, REQUEST, UPDATE_INFO, SUMMARY, GET_PENDING_MATCHKEYS = (
    -1, 0, 1, 2, 3, 4, 5, 6, 7)


def frame(obj):
    """The bytes TVM's base.sendjson puts on the wire for obj."""
    data = json.dumps(obj).encode()
    return struct.pack("<i", len(data)) + data


class TrackerConn:
    """One connection to a tracker. handshake=False leaves the magic to the test."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, handshake=True, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local = self.sock.getsockname()
        if handshake:
            self.sock.sendall(struct.pack("<i", TRACKER_MAGIC))
            echo = self.recv_exact(4)
            assert struct.unpack("<i", echo)[0] == TRACKER_MAGIC, echo

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.sock.sendall(frame(obj))

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def recv_text(self):
        (n,) = struct.unpack("<i", self.recv_exact(4))
        assert 0 < n <= 64 << 20, n
        return self.recv_exact(n).decode()

    def recv(self):
        return json.loads(self.recv_text())

    def call(self, obj):
        self.send(obj)
        return self.recv()

    def has_data(self, wait=0.2):
        """True if the peer sent something (or closed) within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # b"" (closed) counts as something too
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(5.0)

    def closed_without_reply(self, wait=5.0):
        """True if the peer closed the connection without sending a single byte."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return data == b""


def summary(port):
    with TrackerConn(port) as c:
        reply = c.call([SUMMARY])
    assert reply[0] == SUCCESS, reply
    return reply[1]


def wait_until(pred, timeout=5.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)
