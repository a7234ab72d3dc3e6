"""Device-server limits and access control that had no end-to-end test (issue #8): the allow
list, the per-session memory cap (session_memory), and the fixed caps on connections in the
handshake and on clients waiting for a busy board; the descriptor limit raised to fit
max_connections at start and on SIGHUP. Tracker and proxy limits (max_message,
max_connections, allow) are covered by test_tracker.py and test_proxy.py; handshake timeouts of
all three services by test_faults.py; max_packet by test_server_session.py."""
import resource
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

import tvm_wire as w
from conftest import BIN, free_port, wait_port
from test_faults import HOST, add_check, eventually, low_soft_nofile, services  # noqa: F401

KEY = "lim"


def refusals(srv):
    return [l for l in srv.text().splitlines() if "not in the allow list" in l]


def session_when_free(srv, what, timeout=30.0):
    """A session once the board takes one (MISMATCH while its waiting queue is full)."""
    deadline = time.time() + timeout
    while True:
        try:
            return w.Session.connect(HOST, srv.port, key=KEY, sock_timeout=30)
        except (w.KeyMismatchError, OSError, EOFError):
            if time.time() > deadline:
                pytest.fail("no session: %s" % what)
            time.sleep(0.1)


def connect_from(port, source):
    s = socket.socket()
    s.settimeout(10)
    s.bind((source, 0))
    s.connect((HOST, port))
    return s


def closed_without_reply(sock, timeout=5.0):
    """The service closed the connection without sending a byte."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_server_allow_list_refuses_logs_and_counts(services):
    srv = services.server(KEY, "--allow", "127.0.0.2/32")
    # (the start-up probe from 127.0.0.1 was refused already)
    before = eventually(lambda: refusals(srv), "the probe's refusal logged")
    # 127.0.0.1 is not in the list: closed at once, before any handshake byte is read
    refused = connect_from(srv.port, "127.0.0.1")
    port = refused.getsockname()[1]
    refused.sendall(w.handshake_bytes("client:" + KEY))
    assert closed_without_reply(refused)
    refused.close()
    # one warning line per refusal, naming the peer
    eventually(lambda: len(refusals(srv)) == len(before) + 1, "the refusal logged")
    assert "127.0.0.1:%d: not in the allow list" % port in refusals(srv)[-1], srv.text()
    # 127.0.0.2 is: a full session
    sock = connect_from(srv.port, "127.0.0.2")
    w.send_handshake(sock, "client:" + KEY)
    s = w.Session(sock, w.read_handshake_reply(sock))
    s.init_server()
    add_check(s)
    s.shutdown()
    s.close()


def test_server_session_memory_cap(services):
    srv = services.server(KEY, "--session-memory", "1M")
    with w.Session.connect(HOST, srv.port, key=KEY, sock_timeout=30) as s:
        # one allocation over the cap
        with pytest.raises(w.RPCError) as e:
            s.empty((300 * 1024,), "float32")          # 1.2 MiB
        assert "1048576" in str(e.value) or "memory" in str(e.value).lower(), e.value
        # the cap counts the sum of live allocations, and freeing gives room back
        a = s.empty((100 * 1024,), "float32")            # 400 KiB
        b = s.empty((100 * 1024,), "float32")            # 800 KiB live
        with pytest.raises(w.RPCError):
            s.empty((100 * 1024,), "float32")            # 1.2 MiB live: refused
        a.free()
        c = s.tensor(np.ones(100 * 1024, dtype="float32"))
        np.testing.assert_array_equal(c.numpy(), np.ones(100 * 1024, dtype="float32"))
        add_check(s, 1000)
        b.free()
        c.free()
        s.shutdown()
    # the cap is per session: the next one starts from zero
    with w.Session.connect(HOST, srv.port, key=KEY, sock_timeout=30) as s:
        t = s.empty((200 * 1024,), "float32")            # 800 KiB
        t.free()
        s.shutdown()


def test_server_handshake_and_waiting_caps(services):
    srv = services.server(KEY, "--handshake-timeout", "60")
    # 64 connections that never finish the handshake fill the server's handshake slots (16
    # per host is the per-host cap, so they come from four loopback addresses)
    silent = [connect_from(srv.port, "127.0.0.%d" % (2 + i // 16)) for i in range(64)]
    eventually(lambda: _closed_now(connect_from(srv.port, "127.0.0.9")),
               "the 65th connection refused")
    assert "64 handshakes already in progress; closing" in srv.text(), srv.text()
    for s in silent:
        s.close()
    # slots come back: a session runs, and while it does 16 clients may wait for the board
    busy = session_when_free(srv, "a session after the silent connections left")
    waiting = []
    try:
        for _ in range(16):
            sock = socket.create_connection((HOST, srv.port), timeout=10)
            w.send_handshake(sock, "client:" + KEY)
            waiting.append(sock)
        eventually(lambda: srv.text().count("client waits for the running session") >= 16,
                   "16 clients waiting")
        with pytest.raises(w.KeyMismatchError):
            w.Session.connect(HOST, srv.port, key=KEY, sock_timeout=10)
        assert "16 clients already wait for this board; MISMATCH" in srv.text()
        add_check(busy)
    finally:
        busy.close()
        for s in waiting:
            s.close()
    with session_when_free(srv, "the board free again") as s:
        add_check(s)
        s.shutdown()


def _closed_now(sock):
    try:
        return closed_without_reply(sock, timeout=2)
    except socket.timeout:
        return False
    finally:
        sock.close()


# --- descriptors -----------------------------------------------------------------------------


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[3]
                return float("inf") if v == "unlimited" else int(v)
    raise AssertionError("no 'Max open files' in /proc/%d/limits" % pid)


def tracker_ini(path, port, max_connections):
    path.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n"
                    "max_connections = %d\n" % (port, port + 1, max_connections))


def test_descriptor_limit_raised_at_start_and_on_reload(tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4256:  # legitimate: a host limit
        pytest.skip("the hard descriptor limit %d is too low for this test" % hard)
    port = free_port()
    ini = tmp_path / "t.ini"
    tracker_ini(ini, port, 1000)
    log = tmp_path / "t.log"
    with open(log, "wb") as out:
        # started with a soft limit of 512, below the 1000 connections it may hold
        p = subprocess.Popen([BIN, "--headless", "--config", str(ini)], stdout=out,
                             stderr=subprocess.STDOUT, preexec_fn=low_soft_nofile)
    try:
        wait_port(port)
        assert soft_nofile(p.pid) >= 1000 + 256
        tracker_ini(ini, port, 4000)
        p.send_signal(signal.SIGHUP)
        eventually(lambda: "reload done" in log.read_text(), "the reload")
        assert soft_nofile(p.pid) >= 4000 + 256
        assert "descriptor limit" not in log.read_text()
    finally:
        p.terminate()
        p.wait(10)


def test_descriptor_limit_too_low_is_reported(tmp_path):
    port = free_port()
    log = tmp_path / "t.log"

    def tight():
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))

    with open(log, "wb") as out:
        p = subprocess.Popen([BIN, "--headless", "tracker", "--host", HOST, "--port", str(port),
                              "--port-end", str(port + 1), "--max-connections", "1000"],
                             stdout=out, stderr=subprocess.STDOUT, preexec_fn=tight)
    try:
        wait_port(port)
        text = log.read_text()
        assert "descriptor limit 300 is below the 1256 that max_connections needs" in text, text
    finally:
        p.terminate()
        p.wait(10)
