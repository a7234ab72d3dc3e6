"""Shared fixtures for end-to-end tests: the binary under test, free loopback ports, and
process management that always cleans up. Every test talks only to 127.0.0.1."""
import os
import socket
import subprocess
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
    """A started tvmrpc-console process; stopped (SIGTERM, then SIGKILL) at teardown."""

    def __init__(self, args, env=None):
        self.args = [BIN] + list(args)
        e = dict(os.environ)
        if env:
            e.update(env)
        self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)

    def stop(self, timeout=10.0):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        out, err = self.p.communicate()
        return self.p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
def spawn():
    procs = []

    def start(*args, env=None):
        p = Proc(args, env)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


def run(*args, timeout=30, input=None):
    """Run the binary to completion; returns CompletedProcess with text output."""
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout,
                          input=input)
