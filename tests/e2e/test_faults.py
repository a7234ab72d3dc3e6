"""Faults survived, end to end with the real binaries (issue #8): the tracker killed and
restarted under registered servers and waiting clients, a device server killed in the middle of
a 64 MiB copy, the proxy restarted under a --through-proxy server, 1,000 idle connections on the
tracker and on the proxy while normal traffic goes on, one-byte-a-second peers cut off by the
handshake timeout, a silent session ended by its timeout, and a full session checked for leaks
(valgrind on the plain build, LeakSanitizer in the session child on the ASan build)."""
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

import numpy as np
import pytest

import tvm_wire as w
from conftest import BIN, BUILD, free_port

HOST = "127.0.0.1"
VECTOR_ADD = os.path.join(BUILD, "models", "vector_add.so")
LEAK_BYTES = os.path.join(BUILD, "models", "leak_bytes.so")
ASAN = "build-asan" in BUILD or "build-asan" in BIN
# The skipifs on ASAN below are legitimate: the plain build runs the valgrind variant of a
# leak test, the ASan build (whose allocator valgrind cannot follow) its LeakSanitizer variant.


# --- processes ---------------------------------------------------------------------------------


class Service:
    """One `tvmrpc-console --headless` service, output to a file (a full pipe would block it)."""

    def __init__(self, tmp_path, name, mode, port, args, prefix=(), env=None, preexec=None):
        self.name, self.mode, self.port = name, mode, port
        self.log = tmp_path / ("%s.log" % name)
        self.argv = list(prefix) + [BIN, "--headless", mode, "--host", HOST, "--port", str(port),
                                    "--port-end", str(port + 1)] + list(args)
        self.env = dict(os.environ, **(env or {}))
        self.preexec = preexec
        self.p = None
        self.start()

    def start(self):
        out = open(self.log, "ab")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, env=self.env,
                                  preexec_fn=self.preexec)
        out.close()

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def text(self):
        return self.log.read_text(errors="replace")

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self, timeout=20):
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class Services:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.all = []

    def start(self, mode, args=(), port=None, listen=True, **kw):
        port = port or free_port()
        svc = Service(self.tmp, "%s%d" % (mode, len(self.all)), mode, port, args, **kw)
        self.all.append(svc)
        if listen:
            wait_listening(svc)
        return svc

    def tracker(self, *args, **kw):
        return self.start("tracker", args, **kw)

    def proxy(self, *args, **kw):
        return self.start("proxy", args, **kw)

    def server(self, key, *args, tracker=None, proxy=None, **kw):
        work = self.tmp / ("work%d" % len(self.all))
        work.mkdir()
        extra = ["--key", key, "--work-dir", str(work)] + list(args)
        if tracker is not None:
            extra += ["--tracker", "%s:%d" % (HOST, tracker.port)]
        if proxy is not None:
            return self.start("server", ["--through-proxy"] + extra, port=proxy.port,
                              listen=False, **kw)
        return self.start("server", extra, **kw)

    def close(self):
        for s in self.all:
            s.stop()


def wait_listening(svc, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not svc.alive():
            pytest.fail("%s exited with %s:\n%s" % (svc.name, svc.p.returncode, svc.text()))
        try:
            with socket.create_connection((HOST, svc.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    pytest.fail("%s does not listen on %d:\n%s" % (svc.name, svc.port, svc.text()))


@pytest.fixture
def services(tmp_path):
    svcs = Services(tmp_path)
    yield svcs
    svcs.close()
    for s in svcs.all:
        if getattr(s, "leak_expected", False):
            continue
        text = s.text()
        assert "Sanitizer" not in text and "runtime error:" not in text, (s.name, text)


def eventually(fn, what, timeout=15.0, step=0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except (OSError, EOFError, w.ProtocolError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(step)
    pytest.fail("timed out waiting for %s (last: %r)" % (what, last))


def summary(tracker):
    with w.TrackerClient(HOST, tracker.port, timeout=5) as tc:
        return tc.summary()


def free_count(tracker, key):
    q = summary(tracker)["queue_info"].get(key)
    return q["free"] if q else 0


def server_keys(tracker):
    return sorted(s["key"] for s in summary(tracker)["server_info"])


def session_via_tracker(tracker, key, sock_timeout=30):
    """REQUEST key from the tracker and open a session with the assigned server."""
    with w.TrackerClient(HOST, tracker.port, timeout=20) as tc:
        addr, port, matchkey = tc.request(key)
    return w.Session.connect(addr, port, full_key="client:%s -timeout=60" % matchkey,
                             sock_timeout=sock_timeout)


def add_check(s, n=257):
    """A small remote tensor round trip: the session still answers correctly."""
    x = np.arange(n, dtype="float32")
    t = s.tensor(x)
    np.testing.assert_array_equal(t.numpy(), x)
    t.free()


def peer_closed(sock):
    """True once the peer closed (EOF or reset); never blocks."""
    # poll first: a socket with a timeout would wait in recv even with MSG_DONTWAIT
    try:
        p = select.poll()
        p.register(sock, select.POLLIN)
        if not p.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, socket.timeout):
        return False
    except OSError:
        return True


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < n:  # legitimate skip: the host's hard limit, not the code, is too low
        pytest.skip("RLIMIT_NOFILE hard limit %d is below the %d descriptors needed" % (hard, n))


# --- tracker killed and restarted -----------------------------------------------------------------


def restart_and_time(tracker, down):
    """kill -9 the tracker, keep it down `down` seconds, restart it on the same port; returns
    the seconds from its listening again to all three servers being registered."""
    tracker.kill9()
    time.sleep(down)  # the subject: how long the tracker stays down
    tracker.start()
    wait_listening(tracker)
    t_up = time.monotonic()
    eventually(lambda: free_count(tracker, "fk") == 3 and
               server_keys(tracker) == ["server:fk"] * 3, "servers registered again",
               timeout=20, step=0.02)
    return time.monotonic() - t_up


def test_tracker_killed_servers_reregister_and_waiting_clients_get_errors(services):
    tracker = services.tracker()
    servers = [services.server("fk", tracker=tracker) for _ in range(3)]
    eventually(lambda: free_count(tracker, "fk") == 3, "three servers registered")
    # clients waiting in REQUEST for a key nobody serves, and one idle client connection
    waiting = []
    for i in range(4):
        tc = w.TrackerClient(HOST, tracker.port, timeout=10)
        tc.send_request("nobody-%d" % (i % 2))
        waiting.append(tc)
    idle = w.TrackerClient(HOST, tracker.port, timeout=10)
    eventually(lambda: sum(q["pending"] for q in summary(tracker)["queue_info"].values()) == 4,
               "four pending requests")

    tracker.kill9()
    t_kill = time.monotonic()
    # waiting clients get an error (connection closed), not a hang: the socket timeout is 10 s
    for tc in waiting + [idle]:
        with pytest.raises((EOFError, ConnectionResetError)):
            tc.recv_assignment()
        tc.close()
    print("\nwaiting clients saw the tracker's death after %.3f s" % (time.monotonic() - t_kill))
    time.sleep(1.0)  # the subject: the tracker stays down 1 s (the servers back off meanwhile)
    tracker.start()
    wait_listening(tracker)
    t_up = time.monotonic()
    eventually(lambda: free_count(tracker, "fk") == 3 and
               server_keys(tracker) == ["server:fk"] * 3, "servers registered again",
               timeout=20, step=0.02)
    short = time.monotonic() - t_up
    # down long enough for the back-off to reach its cap: the worst case
    long = restart_and_time(tracker, 9.0)
    print("servers registered again %.3f s after the tracker came back from 1 s down, "
          "%.3f s after 9 s down" % (short, long))
    for took in (short, long):
        assert took < 5.0, "re-registration took %.2f s (issue #8 asks for < 5 s)" % took
    # the restarted tracker hands out working matchkeys
    with session_via_tracker(tracker, "fk") as s:
        add_check(s)
        s.shutdown()
    eventually(lambda: free_count(tracker, "fk") == 3, "the board back in the pool")
    for srv in servers:
        assert srv.alive()


# --- device server killed in the middle of a copy ---------------------------------------------------


def test_server_killed_mid_copy(services):
    tracker = services.tracker()
    victim = services.server("ka", tracker=tracker)
    other = services.server("kb", tracker=tracker)
    eventually(lambda: free_count(tracker, "ka") == 1 and free_count(tracker, "kb") == 1,
               "both servers registered")
    bystander = session_via_tracker(tracker, "kb")
    add_check(bystander)

    s = session_via_tracker(tracker, "ka", sock_timeout=15)
    size = 64 << 20
    t = s.empty((size,), "uint8")
    packet = w.encode_packet(w.Packet(w.RPCCode.COPY_TO_REMOTE, header=t.header,
                                      data=bytes(size)))
    view = memoryview(packet)
    sent = 0
    while sent < 16 << 20:                  # a quarter of the copy is on its way
        sent += s.sock.send(view[sent:sent + (1 << 20)])
    victim.kill9()
    t_kill = time.monotonic()
    with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
        s.sock.sendall(view[sent:])
        s.recv_packet()
    noticed = time.monotonic() - t_kill
    print("\nclient noticed the killed server after %.3f s (socket timeout 15 s)" % noticed)
    s.close()
    # no orphan session child keeps the board (or the socket) after its server died
    eventually(lambda: not any(_cmdline_has(pid, BIN)
                               for pid in _pids_with_socket_peer(victim.port)),
               "no orphan session child")
    eventually(lambda: "server:ka" not in server_keys(tracker) and
               free_count(tracker, "ka") == 0, "the tracker drops the killed server")
    # the other server and its open session are unaffected
    add_check(bystander)
    bystander.shutdown()
    bystander.close()
    eventually(lambda: free_count(tracker, "kb") == 1, "kb free again")
    with session_via_tracker(tracker, "kb") as s2:
        add_check(s2)
        s2.shutdown()
    assert other.alive()


def _cmdline_has(pid, text):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def _pids_with_socket_peer(port):
    """Processes holding a TCP socket whose local port is `port` (the server's sessions)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % d):
                link = os.readlink("/proc/%s/fd/%s" % (d, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.append(int(d))
                    break
        except OSError:
            continue
    return pids


# --- proxy restarted ------------------------------------------------------------------------------


def test_proxy_restarted_server_reconnects_with_backoff(services):
    proxy = services.proxy()
    srv = services.server("pk", proxy=proxy)
    with w.Session.connect(HOST, proxy.port, key="pk", timeout=30, sock_timeout=30) as s:
        add_check(s)
        # a live proxied session when the proxy dies: the client gets an error, not a hang
        proxy.kill9()
        t_kill = time.monotonic()
        with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
            add_check(s)
    print("\nclient of the proxied session saw the proxy's death after %.3f s" %
          (time.monotonic() - t_kill))
    down = 3.0
    time.sleep(down)  # the subject: the retries counted over a fixed 3 s of the proxy down
    retries = srv.text().count("retrying in")
    # back-off (0.5 s doubling), not a tight loop: a handful of attempts in 3 s
    assert 1 <= retries <= 8, srv.text()
    proxy.start()
    wait_listening(proxy)
    t_up = time.monotonic()
    with w.Session.connect(HOST, proxy.port, key="pk", timeout=30, sock_timeout=30) as s:
        paired = time.monotonic() - t_up
        add_check(s)
        s.shutdown()
    print("server paired again %.3f s after the proxy came back (%d retries while it was "
          "down %.1f s)" % (paired, retries, down))
    assert srv.alive()


# --- 1,000 idle connections ------------------------------------------------------------------------


IDLE = 1000


def low_soft_nofile():
    """In the service: a soft descriptor limit below the connections it is asked to hold (as
    a login shell's 1024 is below max_connections' default 4096); it must raise its own."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))


def open_many(port, n, first_bytes, reply_len):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((HOST, port), timeout=10)
            if first_bytes:
                s.sendall(first_bytes)
            socks.append(s)
        if reply_len:
            for s in socks:
                assert w.recv_exact(s, reply_len, "reply") is not None
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def test_thousand_idle_connections_on_tracker_and_proxy(services):
    raise_nofile(2 * IDLE + 256)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 64:  # legitimate: a host limit
        pytest.skip("the hard descriptor limit %d is below %d" % (hard, IDLE + 64))
    tracker = services.tracker("--handshake-timeout", "60", preexec=low_soft_nofile)
    proxy = services.proxy("--handshake-timeout", "60", preexec=low_soft_nofile)
    srv = services.server("pk", proxy=proxy)
    magic = struct.pack("<i", w.TRACKER_MAGIC)
    held = []
    try:
        # tracker: each one past the magic exchange, then silent
        held += open_many(tracker.port, IDLE, magic, 4)
        # proxy: clients that completed the handshake and wait for a key nobody serves
        held += open_many(proxy.port, IDLE, w.handshake_bytes("client:idle"), 0)
        eventually(lambda: proxy.text().count("waits as client for key idle") >= IDLE,
                   "the proxy holds %d waiting clients" % IDLE, timeout=30, step=0.2)
        # normal traffic: a PUT/REQUEST cycle on the tracker ...
        with w.TrackerClient(HOST, tracker.port, timeout=10) as board:
            board.register_server("busy", 9999, "busy:mk")
            with w.TrackerClient(HOST, tracker.port, timeout=10) as client:
                assert client.request("busy") == (HOST, 9999, "busy:mk")
            assert summary(tracker)["queue_info"]["busy"]["free"] == 0
        # ... and a proxied session
        with w.Session.connect(HOST, proxy.port, key="pk", timeout=30, sock_timeout=30) as s:
            add_check(s)
            s.shutdown()
        assert all(not peer_closed(s) for s in held), "a held connection was dropped"
    finally:
        for s in held:
            s.close()
    for svc in (tracker, proxy):
        assert "accept failed" not in svc.text() and "too many open files" not in \
            svc.text().lower(), svc.text()[-2000:]
    assert srv.alive()


# --- slow peers -------------------------------------------------------------------------------------


def test_slow_peers_cut_off_by_handshake_timeout(services):
    tracker = services.tracker("--handshake-timeout", "2")
    proxy = services.proxy("--handshake-timeout", "2")
    server = services.server("sk", "--handshake-timeout", "2")
    streams = {
        # the magic, then a PING frame: 11 s at a byte a second
        tracker: struct.pack("<i", w.TRACKER_MAGIC) + w.tracker_frame([w.TrackerCode.PING]),
        proxy: w.handshake_bytes("client:slow-peer-key"),
        server: w.handshake_bytes("client:sk"),
    }
    socks = {svc: socket.create_connection((HOST, svc.port), timeout=5) for svc in streams}
    sent = {svc: 0 for svc in streams}
    cut = {}
    start = time.monotonic()
    for second in range(12):
        for svc, data in streams.items():
            if svc in cut:
                continue
            if peer_closed(socks[svc]):
                cut[svc] = time.monotonic() - start
                continue
            try:
                socks[svc].send(data[sent[svc]:sent[svc] + 1])
                sent[svc] += 1
            except OSError:
                cut[svc] = time.monotonic() - start
        if len(cut) == len(streams):
            break
        time.sleep(1.0)  # the subject: a slowloris peer sends one byte a second
    for svc, s in socks.items():
        s.close()
    print("\ncut off after: " + ", ".join("%s %.1f s (%d of %d bytes)" %
                                          (svc.mode, cut.get(svc, -1), sent[svc],
                                           len(streams[svc])) for svc in streams))
    for svc, data in streams.items():
        assert svc in cut, "%s did not cut off a one-byte-a-second peer" % svc.mode
        assert sent[svc] < len(data)
    assert "message not completed within 2 s" in tracker.text() or \
        "no magic within 2 s" in tracker.text(), tracker.text()
    assert "handshake not completed in time" in proxy.text(), proxy.text()
    assert "no complete handshake within 2s" in server.text(), server.text()
    # and they keep serving
    with w.TrackerClient(HOST, tracker.port) as tc:
        tc.ping()
    with w.Session.connect(HOST, server.port, key="sk", sock_timeout=10) as s:
        add_check(s)
        s.shutdown()


# --- stale session ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["client-key", "server-flag"])
def test_stale_session_ended_and_board_freed(services, where):
    tracker = services.tracker()
    args = ["--session-timeout", "2"] if where == "server-flag" else []
    services.server("st", *args, tracker=tracker)
    eventually(lambda: free_count(tracker, "st") == 1, "server registered")
    with w.TrackerClient(HOST, tracker.port, timeout=20) as tc:
        addr, port, matchkey = tc.request("st")
    key = "client:%s" % matchkey + (" -timeout=2" if where == "client-key" else "")
    s = w.Session.connect(addr, port, full_key=key, sock_timeout=20)
    add_check(s)
    assert free_count(tracker, "st") == 0
    t0 = time.monotonic()
    # the client goes silent; the server ends the session and offers the board again
    eventually(lambda: free_count(tracker, "st") == 1, "the board free again", timeout=20,
               step=0.1)
    print("\nboard free again %.1f s after the client went silent (timeout 2 s)" %
          (time.monotonic() - t0))
    with pytest.raises((w.RPCSessionTimeoutError, EOFError, ConnectionResetError,
                        BrokenPipeError)):
        add_check(s)
        add_check(s)
    s.close()
    with session_via_tracker(tracker, "st") as s2:
        add_check(s2)
        s2.shutdown()


# --- leaks over a full session ----------------------------------------------------------------------


def full_session(port, key):
    with w.Session.connect(HOST, port, key=key, sock_timeout=120) as s:
        with open(VECTOR_ADD, "rb") as f:
            s.upload("vector_add.so", f.read())
        mod = s.load_module("vector_add.so")
        fn = s.module_get_function(mod, "add")
        x = np.arange(1 << 16, dtype="float32")
        a, b, c = s.tensor(x), s.tensor(2 * x), s.empty((1 << 16,), "float32")
        assert fn(a, b, c) is None
        np.testing.assert_array_equal(c.numpy(), 3 * x)
        # error paths leave nothing behind either
        with pytest.raises(w.RPCError):
            fn(a)
        with pytest.raises(w.RPCError):
            s.download("missing.bin")
        s.upload("junk.so", b"not an ELF file")
        with pytest.raises(w.RPCError):
            s.load_module("junk.so")
        big = np.frombuffer(os.urandom(4 << 20), dtype="uint8")
        t = s.tensor(big)
        np.testing.assert_array_equal(t.numpy(), big)
        for o in (fn, mod, a, b, c, t):
            o.free()
        s.shutdown()
    # and one that ends by EOF with objects still held, which the engine must free
    with w.Session.connect(HOST, port, key=key, sock_timeout=120) as s:
        with open(VECTOR_ADD, "rb") as f:
            s.upload("v.so", f.read())
        mod = s.load_module("v.so")
        assert s.module_get_function(mod, "add") is not None
        s.tensor(np.ones(1000, dtype="float32"))


def leaking_session(port, key, nbytes):
    """A session whose kernel leaks nbytes (tests/models/leak_bytes.c); ends cleanly."""
    with w.Session.connect(HOST, port, key=key, sock_timeout=120) as s:
        with open(LEAK_BYTES, "rb") as f:
            s.upload("leak_bytes.so", f.read())
        mod = s.load_module("leak_bytes.so")
        fn = s.module_get_function(mod, "leak")
        assert fn(nbytes) == nbytes
        fn.free()
        mod.free()
        s.shutdown()


def valgrind_prefix(tmp_path):
    if not shutil.which("valgrind"):  # legitimate: the tool is absent on this host
        pytest.skip("valgrind is not installed (scripts/deps.sh check)")
    # valgrind follows forked children by itself; each process writes its own log
    return ["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--error-exitcode=42", "--trace-children=yes",
            "--child-silent-after-fork=no", "--log-file=%s" % (tmp_path / "vg.%p.log")]


@pytest.mark.skipif(ASAN, reason="the ASan build runs the LeakSanitizer variant")
def test_valgrind_catches_a_leaking_kernel(services, tmp_path):
    """The check below can fail: a kernel's leak in a session child is reported."""
    srv = services.server("lk", prefix=valgrind_prefix(tmp_path))
    srv.leak_expected = True
    wait_listening(srv, timeout=60)
    leaking_session(srv.port, "lk", 4321)
    eventually(lambda: "exited with code 42" in srv.text(), "the child's valgrind error exit",
               timeout=60)
    report = "".join(p.read_text(errors="replace") for p in tmp_path.glob("vg.*.log"))
    assert re.search(r"4,321 bytes in 1 blocks are definitely lost", report), report
    # the server goes on serving
    with w.Session.connect(HOST, srv.port, key="lk", sock_timeout=60) as s:
        add_check(s)
        s.shutdown()


@pytest.mark.skipif(not ASAN, reason="needs the ASan build (make BUILD=build-asan SAN=1)")
def test_lsan_catches_a_leaking_kernel(services):
    """The check below can fail: a kernel's leak in a session child is reported."""
    srv = services.server("lk", env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    srv.leak_expected = True
    leaking_session(srv.port, "lk", 4321)
    eventually(lambda: "exited with code 23" in srv.text(), "the child's leak exit")
    text = srv.text()
    assert "LeakSanitizer" in text and "4321 byte(s) leaked" in text, text
    assert "leak check: the session leaked" in text, text
    with w.Session.connect(HOST, srv.port, key="lk", sock_timeout=60) as s:
        add_check(s)
        s.shutdown()


@pytest.mark.skipif(ASAN, reason="the ASan build runs the LeakSanitizer variant")
def test_full_session_leak_free_under_valgrind(services, tmp_path):
    srv = services.server("lk", prefix=valgrind_prefix(tmp_path))
    wait_listening(srv, timeout=60)
    full_session(srv.port, "lk")
    eventually(lambda: "session 127.0.0.1" in srv.text() and
               srv.text().count(" after ") >= 2, "both sessions ended", timeout=60)
    assert srv.stop(timeout=60) == 0, srv.text()
    logs = sorted(tmp_path.glob("vg.*.log"))
    assert len(logs) >= 3, "expected the server and two session children: %s" % logs
    report = "".join(p.read_text(errors="replace") for p in logs)
    print("\nvalgrind: %d processes checked" % len(logs))
    assert "definitely lost" not in report and "Invalid " not in report, report
    assert "crashed" not in srv.text(), srv.text()


@pytest.mark.skipif(not ASAN, reason="needs the ASan build (make BUILD=build-asan SAN=1)")
def test_full_session_leak_free_under_lsan(services):
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23"}
    srv = services.server("lk", env=env)
    full_session(srv.port, "lk")
    eventually(lambda: srv.text().count("session 127.0.0.1") >= 4 and
               srv.text().count(" after ") >= 2, "both sessions ended", timeout=30)
    assert srv.stop() == 0, srv.text()
    text = srv.text()
    assert "LeakSanitizer" not in text and "crashed" not in text, text
    # the children really were checked: the hook logs that it ran
    assert text.count("leak check: clean") >= 2, text
