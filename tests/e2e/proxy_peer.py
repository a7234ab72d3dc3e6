"""A tiny RPC handshake peer for the proxy tests: speaks the §3.1 handshake itself over plain
sockets (magic, key length, key; replies SUCCESS + key, MISMATCH or DUPLICATE)."""
import socket
import struct
import time

RPC_MAGIC = 0xFF271
CODE_SUCCESS = 0xFF271
CODE_DUPLICATE = 0xFF272
CODE_MISMATCH = 0xFF273


def handshake_bytes(key, magic=RPC_MAGIC):
    k = key.encode()
    return struct.pack("<ii", magic, len(k)) + k


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return bytes(out)


def read_reply(s):
    """Returns (code, key); key is None for a bare MISMATCH/DUPLICATE."""
    code = struct.unpack("<i", recv_exact(s, 4))[0]
    if code != CODE_SUCCESS:
        return code, None
    n = struct.unpack("<i", recv_exact(s, 4))[0]
    return code, recv_exact(s, n).decode()


def open_peer(port, key, chunk=None):
    """Connect and send the handshake (in pieces of `chunk` bytes if given)."""
    s = connect(port)
    data = handshake_bytes(key)
    if chunk:
        for i in range(0, len(data), chunk):
            s.sendall(data[i:i + chunk])
            time.sleep(0.002)  # the subject: each piece in its own segment
    else:
        s.sendall(data)
    return s


def closed_soon(s, timeout=5.0):
    """True if the peer closes (EOF or reset) within timeout, discarding any bytes."""
    s.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False
