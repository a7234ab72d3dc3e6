"""Shared fixtures for end-to-end tests: the binary under test, free loopback ports, and
process management that always cleans up. Every test talks only to 127.0.0.1."""
import os
import socket
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TVMRPC_BIN", os.path.join(ROOT, "tvmrpc-console"))
BUILD = os.environ.get("TVMRPC_BUILD", os.path.join(ROOT, "build"))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("nothing listens on port %d" % port)


def wait_until(pred, timeout=10.0, what="condition"):
    """Poll pred() until it returns something true (returned) or `timeout` seconds pass
    (AssertionError naming `what`). Tests wait on observable state with this, never on sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(0.01)


class Proc:
    """A started tvmrpc-console process; stopped (SIGTERM, then SIGKILL) at teardown. Two
    threads drain its stdout and stderr as they come, so a test can wait for a log line
    (wait_log) and a chatty process never blocks on a full pipe."""

    def __init__(self, args, env=None, cmd=None):
        self.args = list(cmd or [BIN]) + list(args)
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)
        self._out, self._err = bytearray(), bytearray()
        self._eof = 0
        self._cursor = 0           # wait_log searches stderr from here
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._drain, args=(f, buf), daemon=True)
                         for f, buf in ((self.p.stdout, self._out), (self.p.stderr, self._err))]
        for t in self._readers:
            t.start()

    def _drain(self, pipe, buf):
        for chunk in iter(lambda: pipe.read1(65536), b""):
            with self._cond:
                buf += chunk
                self._cond.notify_all()
        with self._cond:
            self._eof += 1
            self._cond.notify_all()

    def log(self):
        """Everything the process wrote to stderr so far."""
        with self._cond:
            return self._err.decode(errors="replace")

    def wait_log(self, needle, timeout=10.0):
        """Wait until stderr, after the previous wait_log's match, holds `needle`; returns
        that stretch of the log (up to what has arrived). Waits follow the order of events."""
        want = needle.encode()
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                at = self._err.find(want, self._cursor)
                if at >= 0:
                    text = self._err[self._cursor:].decode(errors="replace")
                    self._cursor = at + len(want)
                    return text
                left = deadline - time.monotonic()
                if left <= 0 or self._eof == 2:
                    raise AssertionError("no %r in the log of %s:\n%s" % (
                        needle, " ".join(self.args[1:3]), self._err.decode(errors="replace")))
                self._cond.wait(left)

    def stop_clean(self, timeout=10.0):
        """Stop the process: it must exit 0 with no sanitizer or UBSan report (the ASan run of
        the suite checks leaks this way). Returns its stderr."""
        rc, _, err = self.stop(timeout)
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert rc == 0, err
        return err

    def stop(self, timeout=10.0):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for t in self._readers:
            t.join()
        with self._cond:
            return (self.p.returncode, self._out.decode(errors="replace"),
                    self._err.decode(errors="replace"))


@pytest.fixture
def spawn():
    procs = []

    def start(*args, env=None, cmd=None):
        p = Proc(args, env, cmd)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


def run(*args, timeout=30, input=None):
    """Run the binary to completion; returns CompletedProcess with text output."""
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          input=input)
