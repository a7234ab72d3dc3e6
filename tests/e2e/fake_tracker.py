"""A recording stand-in for TVM's tracker, for proxy tests: echoes the magic, records every JSON
frame per connection, answers 0 to PUT/UPDATE_INFO and lists the connection's PUT matchkeys
(minus those the test marked as handed out) to GET_PENDING_MATCHKEYS. It checks nothing itself;
tests assert on what it recorded."""
import json
import socket
import struct
import threading
import time

TRACKER_MAGIC = 0x2F271


def _recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


class FakeTracker:
    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []      # list of dicts: {"sock", "frames": [...], "puts": [...]}
        self.handed_out = set()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            c = {"sock": s, "frames": [], "puts": []}
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        s = c["sock"]
        try:
            if struct.unpack("<i", _recv_exact(s, 4))[0] != TRACKER_MAGIC:
                s.close()
                return
            s.sendall(struct.pack("<i", TRACKER_MAGIC))
            while True:
                n = struct.unpack("<i", _recv_exact(s, 4))[0]
                msg = json.loads(_recv_exact(s, n))
                with self.lock:
                    c["frames"].append(msg)
                    if msg[0] == 3:
                        c["puts"].append(msg[2][1])
                    pending = [k for k in c["puts"] if k not in self.handed_out]
                reply = pending if msg[0] == 7 else 0
                text = json.dumps(reply).encode()
                s.sendall(struct.pack("<i", len(text)) + text)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            s.close()

    def frames(self, conn=-1, code=None):
        with self.lock:
            if not self.conns:
                return []
            fr = list(self.conns[conn]["frames"])
        return [f for f in fr if code is None or f[0] == code]

    def connections(self):
        with self.lock:
            return len(self.conns)

    def wait_for(self, pred, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.02)
        raise TimeoutError("fake tracker: condition not met")

    def drop(self, conn=-1):
        """Close a proxy's tracker connection from the tracker side."""
        with self.lock:
            s = self.conns[conn]["sock"]
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hand_out(self, matchkey):
        """Act as if a REQUEST took this matchkey: it leaves the pending lists."""
        with self.lock:
            self.handed_out.add(matchkey)

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c["sock"].close()
                except OSError:
                    pass
