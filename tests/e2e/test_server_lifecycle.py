"""The device server's service side (docs/control-plane.md §3.3, §4.7, §5):
handshakes (match, mismatch, empty key, byte-by-byte, silent peers), tracker registration seen
by a fake tracker and by our real tracker, matchkey regeneration, tracker restarts, crashed and
hung session children, session timeouts, work directories, and registration through a proxy.
Clients are tests/e2e/tvm_wire.py (independent of the C code); only 127.0.0.1 is used."""
import json
import os
import select
import signal
import socket
import stat
import struct
import threading
import time

import pytest

import tvm_wire as w
from conftest import BUILD, free_port, run, wait_port

HOST = "127.0.0.1"
MODELS = os.path.join(BUILD, "models")
MATCHKEY_SUFFIX = 32  # hex digits of 128 random bits


def check_clean_exit(proc):
    rc, _, err = proc.stop()
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert rc == 0, err
    return err


@pytest.fixture
def server(spawn):
    """Start a device server; returns (port, process)."""
    started = []

    def start(*flags, key="x1", port=None, listen=True):
        port = port or free_port()
        args = ["--headless", "server", "--host", HOST, "--port", str(port),
                "--port-end", str(port + 1), "--key", key, *flags]
        p = spawn(*args)
        if listen:
            wait_port(port)
        started.append(p)
        return port, p

    yield start
    for p in started:
        check_clean_exit(p)


def wait_for(cond, timeout=10.0, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def wait_pushed(sock, timeout=10.0):
    """Wait until the server sends something unasked (the session-timeout error it pushes when
    the deadline passes), instead of sleeping past the deadline and hoping it has passed."""
    r, _, _ = select.select([sock], [], [], timeout)
    assert r, "the server pushed nothing within %gs" % timeout


def session_works(sess):
    """Real round trips through the session engine, in a fresh private work directory."""
    sess.upload("probe", b"x")
    names = sess.listdir(".")
    assert len(names) == 1 and names[0].endswith("probe"), names


def kernel(sess, name, func):
    """Upload build/models/<name>.so, load it in the session and return its function."""
    with open(os.path.join(MODELS, name + ".so"), "rb") as f:
        sess.upload(name + ".so", f.read())
    mod = sess.load_module(name + ".so")
    fn = sess.module_get_function(mod, func)
    assert fn is not None
    return fn


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


# --- a fake tracker that records what the server sends -------------------------------------


class FakeTracker:
    """Echoes the magic, answers UPDATE_INFO/PUT with 0 and GET_PENDING_MATCHKEYS with the
    matchkeys PUT on that connection that the test has not marked as taken."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.frames = []        # (connection number, message)
        self.taken = set()
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
                n = len(self.conns)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        puts = []
        try:
            assert w.recv_exact(c, 4) == struct.pack("<i", w.TRACKER_MAGIC)
            c.sendall(struct.pack("<i", w.TRACKER_MAGIC))
            while True:
                size = struct.unpack("<i", w.recv_exact(c, 4))[0]
                msg = json.loads(w.recv_exact(c, size))
                with self.lock:
                    self.frames.append((n, msg))
                    if msg[0] == 3:
                        puts.append(msg[2][1])
                    pending = [k for k in puts if k not in self.taken]
                reply = pending if msg[0] == 7 else 0
                c.sendall(w.tracker_frame(reply))
        except (OSError, EOFError, AssertionError, ValueError):
            pass

    def messages(self, code):
        with self.lock:
            return [m for _, m in self.frames if m[0] == code]

    def take(self, matchkey):
        with self.lock:
            self.taken.add(matchkey)

    def close(self):
        self.stopped = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


@pytest.fixture
def fake_tracker():
    t = FakeTracker()
    yield t
    t.close()


@pytest.fixture
def tracker(spawn):
    """Our real tracker; returns (port, start function to restart it on the same port)."""
    port = free_port()
    procs = []

    def start():
        p = spawn("--headless", "tracker", "--host", HOST, "--port", str(port),
                  "--port-end", str(port + 1))
        wait_port(port)
        procs.append(p)
        return p

    start()
    yield port, start, procs


def free_count(tracker_port, key):
    with w.TrackerClient(HOST, tracker_port) as t:
        q = t.summary()["queue_info"].get(key)
        return q["free"] if q else 0


# --- standalone handshakes (docs/control-plane.md §3.3) ------------------------------------


def test_standalone_match_and_mismatch(server):
    port, _ = server(key="x1")
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:wrong")
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    assert w.expect_eof(s)
    s.close()
    # The same key as a prefix of a longer token is not a match either.
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:x1x")
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    s.close()
    # A server role is refused too.
    s = w.connect(HOST, port)
    w.send_handshake(s, "server:x1")
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    s.close()
    # The server kept serving: a correct client gets SUCCESS + server:<key> and a session.
    with w.Session.connect(HOST, port, key="x1", timeout=10) as sess:
        assert sess.server_key == "server:x1"
        session_works(sess)


def test_empty_key_accepts_client_colon(server):
    port, _ = server(key="")
    with w.Session.connect(HOST, port, full_key="client:") as sess:
        assert sess.server_key == "server:"
        session_works(sess)
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:x")
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    s.close()


def test_handshake_one_byte_at_a_time(server):
    port, _ = server(key="x1")
    s = w.connect(HOST, port)
    for b in w.handshake_bytes("client:x1 -timeout=10"):
        s.sendall(bytes([b]))
        time.sleep(0.005)  # the subject: each byte in its own segment
    assert w.read_handshake_reply(s) == "server:x1"
    sess = w.Session(s, "server:x1")
    sess.init_server()
    session_works(sess)
    sess.close()


def test_silent_and_bad_peers_do_not_block_others(server):
    port, _ = server("--handshake-timeout", "1", key="x1")
    silent = w.connect(HOST, port)
    half = w.connect(HOST, port)
    half.sendall(struct.pack("<i", w.RPC_MAGIC))  # magic, then nothing
    garbage = w.connect(HOST, port)
    garbage.sendall(b"GET / HTTP/1.1\r\n\r\n")
    huge = w.connect(HOST, port)
    huge.sendall(struct.pack("<ii", w.RPC_MAGIC, 1 << 30))
    negative = w.connect(HOST, port)
    negative.sendall(struct.pack("<ii", w.RPC_MAGIC, -5))
    # Served while the others are still pending.
    with w.Session.connect(HOST, port, key="x1") as sess:
        session_works(sess)
    for s in (garbage, huge, negative):
        assert w.expect_eof(s, timeout=5)
    t0 = time.time()
    for s in (silent, half):
        assert w.expect_eof(s, timeout=10)
    print("silent peers cut off %.2fs after the check started" % (time.time() - t0))
    for s in (silent, half, garbage, huge, negative):
        s.close()


def test_one_host_cannot_hold_every_handshake_slot(server):
    port, proc = server("--handshake-timeout", "30", "--log-level", "debug", key="x1")
    # The fixture's port probe holds a slot until the server has read its EOF (a debug line):
    # under load that can come after the hogs connect, and one hog would be refused instead.
    proc.wait_log("closed during the handshake (EOF)")
    hogs = [w.connect(HOST, port) for _ in range(16)]
    extra = w.connect(HOST, port)
    try:
        assert w.expect_eof(extra, timeout=10)  # at once, not after the 30 s timeout
    finally:
        extra.close()
    proc.wait_log("handshakes already in progress from this host")
    # Another loopback address is another host: still served.
    s = socket.create_connection((HOST, port), timeout=10, source_address=("127.0.0.2", 0))
    w.send_handshake(s, "client:x1")
    assert w.read_handshake_reply(s) == "server:x1"
    sess = w.Session(s, "server:x1")
    sess.init_server()
    session_works(sess)
    sess.close()
    for h in hogs:
        h.close()


def test_bad_timeout_option_is_a_mismatch_not_a_crash(server):
    port, proc = server(key="x1")
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:x1 -timeout=abc")
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    s.close()
    with w.Session.connect(HOST, port, key="x1", timeout=1.5) as sess:
        session_works(sess)
    assert proc.p.poll() is None


# --- sessions: timeouts, work directory, crashes -------------------------------------------


def test_client_timeout_sends_timeout_error(server):
    port, _ = server(key="x1")
    sess = w.Session.connect(HOST, port, key="x1", timeout=1)
    session_works(sess)
    wait_pushed(sess.sock)
    with pytest.raises(w.RPCSessionTimeoutError) as e:
        sess.listdir(".")
    assert "RPCSessionTimeoutError: " in str(e.value)
    assert w.expect_eof(sess.sock)
    sess.close()
    # The board is free again.
    with w.Session.connect(HOST, port, key="x1") as sess:
        session_works(sess)


def test_server_session_timeout_applies_without_client_timeout(server):
    port, _ = server("--session-timeout", "1", key="x1")
    sess = w.Session.connect(HOST, port, key="x1")
    wait_pushed(sess.sock)
    with pytest.raises(w.RPCSessionTimeoutError):
        sess.listdir(".")
    sess.close()


def test_hung_child_is_killed_and_parent_sends_timeout_error(server):
    """A child that cannot answer (stopped here; a hung kernel in real life) is killed at
    deadline + grace, and the parent writes the timeout exception itself."""
    port, proc = server(key="x1")
    sess = w.Session.connect(HOST, port, key="x1", timeout=1)
    session_works(sess)
    kids = wait_for(lambda: children_of(proc.p.pid), what="session child")
    os.kill(kids[0], signal.SIGSTOP)
    sess.sock.settimeout(15)
    t0 = time.time()
    with pytest.raises(w.RPCSessionTimeoutError) as e:
        sess.listdir(".")
    print("hung session answered by the parent after %.2fs" % (time.time() - t0))
    assert str(e.value).count("RPCSessionTimeoutError: ") == 1
    assert w.expect_eof(sess.sock)
    sess.close()
    with w.Session.connect(HOST, port, key="x1") as sess:
        session_works(sess)


def test_kernel_stuck_past_timeout_gets_error_from_parent(server):
    """A kernel that runs past the session timeout keeps the engine from answering; the
    parent kills the child at deadline + 2 s and sends the timeout error itself."""
    port, _ = server(key="x1")
    sess = w.Session.connect(HOST, port, key="x1", timeout=1)
    sleep_ms = kernel(sess, "sleep_kernel", "sleep_ms")
    sess.sock.settimeout(20)
    t0 = time.time()
    with pytest.raises(w.RPCSessionTimeoutError) as e:
        sleep_ms(10000)
    print("stuck kernel cut off after %.2fs" % (time.time() - t0))
    assert str(e.value).count("RPCSessionTimeoutError: ") == 1
    assert w.expect_eof(sess.sock)
    sess.close()
    with w.Session.connect(HOST, port, key="x1") as sess:
        session_works(sess)


def test_crashing_kernel_takes_only_its_session(server, tracker):
    tport, _, _ = tracker
    port, proc = server("--tracker", "%s:%d" % (HOST, tport), key="rasp")
    wait_for(lambda: free_count(tport, "rasp") == 1, what="registration")
    with w.TrackerClient(HOST, tport) as t:
        _, _, mk = t.request("rasp")
    sess = w.Session.connect(HOST, port, full_key="client:" + mk)
    crash = kernel(sess, "crash_null", "crash")
    with pytest.raises((EOFError, ConnectionResetError)):
        crash()
    sess.close()
    assert proc.p.poll() is None
    wait_for(lambda: free_count(tport, "rasp") == 1, what="re-registration after the crash")
    with w.TrackerClient(HOST, tport) as t:
        _, _, mk2 = t.request("rasp")
    with w.Session.connect(HOST, port, full_key="client:" + mk2) as sess:
        session_works(sess)


def test_load_library_preloaded_in_every_session(server):
    lib = os.path.join(MODELS, "syslib_scale.so")
    port, _ = server("--load-library", lib, key="x1")
    for _ in range(2):
        with w.Session.connect(HOST, port, key="x1") as sess:
            syslib = sess.call(sess.get_global_func("ffi.SystemLib"))
            assert sess.module_get_function(syslib, "syslib_scale") is not None


def test_load_library_missing_refuses_to_start(tmp_path):
    r = run("--headless", "server", "--host", HOST, "--port", str(free_port()), "--key", "x",
            "--load-library", str(tmp_path / "nope.so"), timeout=20)
    assert r.returncode != 0
    assert "nope.so" in r.stderr


def test_work_dir_private_and_removed(server, tmp_path):
    base = tmp_path / "work"
    port, _ = server("--work-dir", str(base), key="x1")
    sess = w.Session.connect(HOST, port, key="x1")
    sess.upload("model.bin", b"\x00" * 100)
    dirs = os.listdir(base)
    assert len(dirs) == 1
    st = os.stat(base / dirs[0])
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert os.listdir(base / dirs[0]) == ["model.bin"]
    sess.shutdown()
    sess.close()
    wait_for(lambda: os.listdir(base) == [], what="work dir removal")


def test_killed_child_dir_removed_and_next_client_served(server, tmp_path):
    base = tmp_path / "work"
    port, proc = server("--work-dir", str(base), key="x1")
    sess = w.Session.connect(HOST, port, key="x1")
    sess.upload("a", b"1")
    kids = wait_for(lambda: children_of(proc.p.pid), what="session child")
    # The child kept only its own connection: no listening socket, no other clients.
    fds = os.listdir("/proc/%d/fd" % kids[0])
    sockets = [f for f in fds if os.readlink("/proc/%d/fd/%s" % (kids[0], f)).startswith(
        "socket:")]
    assert len(sockets) == 1, fds
    os.kill(kids[0], signal.SIGKILL)
    assert w.expect_eof(sess.sock)
    sess.close()
    wait_for(lambda: os.listdir(base) == [], what="work dir removal by the parent")
    with w.Session.connect(HOST, port, key="x1") as sess:
        session_works(sess)


def test_settings_from_ini_file(spawn, tmp_path):
    port = free_port()
    ini = tmp_path / "board.ini"
    ini.write_text("[server]\nhost = %s\nport = %d\nport_end = %d\nkey = inikey\n"
                   "session_timeout = 1\nwork_dir = %s\n" % (HOST, port, port + 1,
                                                             tmp_path / "w"))
    p = spawn("--headless", "--config", str(ini))
    wait_port(port)
    sess = w.Session.connect(HOST, port, key="inikey")
    assert sess.server_key == "server:inikey"
    session_works(sess)
    assert len(os.listdir(tmp_path / "w")) == 1
    wait_pushed(sess.sock)
    with pytest.raises(w.RPCSessionTimeoutError):
        sess.listdir(".")
    sess.close()
    check_clean_exit(p)


def test_second_client_waits_for_the_board(server):
    port, _ = server(key="x1")
    first = w.Session.connect(HOST, port, key="x1")
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:x1")
    s.settimeout(0.5)
    with pytest.raises(OSError):
        s.recv(1)  # no reply while the board is busy
    first.close()
    s.settimeout(10)
    assert w.read_handshake_reply(s) == "server:x1"
    sess = w.Session(s, "server:x1")
    sess.init_server()
    session_works(sess)
    sess.close()


def test_sigterm_ends_running_session(server, tmp_path):
    base = tmp_path / "work"
    port, proc = server("--work-dir", str(base), key="x1")
    sess = w.Session.connect(HOST, port, key="x1")
    session_works(sess)
    t0 = time.time()
    proc.p.terminate()
    proc.p.wait(timeout=10)
    print("server with a running session exited %.2fs after SIGTERM" % (time.time() - t0))
    assert proc.p.returncode == 0
    assert w.expect_eof(sess.sock)
    sess.close()
    assert os.listdir(base) == []


# --- tracker registration (docs/control-plane.md §2.6, §5.3) -------------------------------


def test_registration_shapes_and_one_put_per_session(server, fake_tracker):
    port, _ = server("--tracker", "%s:%d" % (HOST, fake_tracker.port), "--custom-addr",
                     "10.9.8.7", key="rasp")
    puts = wait_for(lambda: fake_tracker.messages(3), what="PUT")
    info = fake_tracker.messages(5)
    assert len(info) == 1 and info[0][1].pop("compiler").startswith("/")
    assert info[0][1].pop("devices").startswith("cpu")
    assert info == [[5, {"key": "server:rasp", "addr": ["10.9.8.7", port]}]]
    assert isinstance(info[0][1]["addr"][1], int)
    put = puts[0]
    assert put[:2] == [3, "rasp"] and put[2][0] == port and put[3] == "10.9.8.7"
    mk = put[2][1]
    assert mk.startswith("rasp:") and len(mk) == len("rasp:") + MATCHKEY_SUFFIX
    int(mk[5:], 16)
    # UPDATE_INFO comes first on the connection.
    assert [m[0] for _, m in fake_tracker.frames][:2] == [5, 3]
    wait_for(lambda: fake_tracker.messages(7), what="a GET_PENDING_MATCHKEYS poll")
    # With the tracker up, the plain key is refused; the matchkey opens a session.
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:rasp")
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    s.close()
    fake_tracker.take(mk)
    with w.Session.connect(HOST, port, full_key="client:%s -timeout=20" % mk) as sess:
        session_works(sess)
        # The consumed matchkey is not accepted a second time, not even during the session.
        s = w.connect(HOST, port)
        w.send_handshake(s, "client:" + mk)
        with pytest.raises(w.KeyMismatchError):
            w.read_handshake_reply(s)
        s.close()
    puts = wait_for(lambda: len(fake_tracker.messages(3)) >= 2 and fake_tracker.messages(3),
                    what="the PUT after the session")
    time.sleep(2.5)  # an observation window of one poll period: still exactly one new PUT
    puts = fake_tracker.messages(3)
    assert len(puts) == 2
    assert puts[1][2][1] != mk and puts[1][2][1].startswith("rasp:")


def test_real_tracker_request_session_and_regeneration(server, tracker):
    tport, _, _ = tracker
    port, proc = server("--tracker", "%s:%d" % (HOST, tport), key="rasp")
    wait_for(lambda: free_count(tport, "rasp") == 1, what="registration")
    with w.TrackerClient(HOST, tport) as t:
        addr, rport, mk = t.request("rasp", priority=0)
    assert rport == port and mk.startswith("rasp:")
    with w.Session.connect(HOST, rport, full_key="client:%s -timeout=20" % mk) as sess:
        session_works(sess)
    wait_for(lambda: free_count(tport, "rasp") == 1, what="re-PUT after the session")
    # A REQUEST whose client never comes: the server regenerates (about 4 polls x 2 s).
    with w.TrackerClient(HOST, tport) as t:
        _, _, stale = t.request("rasp")
    assert stale != mk
    t0 = time.time()
    wait_for(lambda: free_count(tport, "rasp") == 1, timeout=20, step=0.2,
             what="regenerated matchkey")
    print("unclaimed matchkey regenerated after %.1fs" % (time.time() - t0))
    s = w.connect(HOST, port)
    w.send_handshake(s, "client:" + stale)
    with pytest.raises(w.KeyMismatchError):
        w.read_handshake_reply(s)
    s.close()
    with w.TrackerClient(HOST, tport) as t:
        _, _, fresh = t.request("rasp")
    assert fresh not in (mk, stale)
    with w.Session.connect(HOST, port, full_key="client:" + fresh) as sess:
        session_works(sess)
    wait_for(lambda: free_count(tport, "rasp") == 1, what="re-PUT")
    # SIGTERM deregisters: the tracker stops offering the board at once.
    check_clean_exit(proc)
    assert free_count(tport, "rasp") == 0


def test_tracker_restart_reregisters(server, tracker):
    tport, start_tracker, procs = tracker
    # At debug level the server logs each refused reconnect ("next try in").
    port, proc = server("--tracker", "%s:%d" % (HOST, tport), "--log-level", "debug",
                        key="rasp")
    wait_for(lambda: free_count(tport, "rasp") == 1, what="registration")
    check_clean_exit(procs[-1])
    proc.wait_log("tracker %s:%d: connection lost" % (HOST, tport))
    # Meanwhile the board still serves clients with the plain key (no tracker to hand out
    # matchkeys).
    with w.Session.connect(HOST, port, key="rasp") as sess:
        session_works(sess)
    proc.wait_log("next try in")  # a reconnect was refused: the server backs off
    start_tracker()
    t0 = time.time()
    wait_for(lambda: free_count(tport, "rasp") == 1, timeout=20, step=0.05,
             what="re-registration")
    print("server re-registered %.2fs after the tracker came back" % (time.time() - t0))
    with w.TrackerClient(HOST, tport) as t:
        _, _, mk = t.request("rasp")
    with w.Session.connect(HOST, port, full_key="client:" + mk) as sess:
        session_works(sess)


def test_crashed_child_reregisters_and_serves_next(server, tracker):
    tport, _, _ = tracker
    port, proc = server("--tracker", "%s:%d" % (HOST, tport), key="rasp")
    wait_for(lambda: free_count(tport, "rasp") == 1, what="registration")
    with w.TrackerClient(HOST, tport) as t:
        _, _, mk = t.request("rasp")
    sess = w.Session.connect(HOST, port, full_key="client:" + mk)
    session_works(sess)
    assert free_count(tport, "rasp") == 0
    kids = wait_for(lambda: children_of(proc.p.pid), what="session child")
    os.kill(kids[0], signal.SIGSEGV)
    assert w.expect_eof(sess.sock)
    sess.close()
    wait_for(lambda: free_count(tport, "rasp") == 1, what="re-registration after the crash")
    with w.TrackerClient(HOST, tport) as t:
        _, _, mk2 = t.request("rasp")
    assert mk2 != mk
    with w.Session.connect(HOST, port, full_key="client:" + mk2) as sess:
        session_works(sess)


# --- through a proxy (§4.7) ----------------------------------------------------------------


def accept_hello(listener, key):
    listener.settimeout(15)
    c, _ = listener.accept()
    c.settimeout(10)
    magic, n = struct.unpack("<ii", w.recv_exact(c, 8))
    assert magic == w.RPC_MAGIC
    assert w.recv_exact(c, n).decode() == "server:" + key
    return c


def test_through_fake_proxy(server):
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(4)
    pport = listener.getsockname()[1]
    _, _ = server("--through-proxy", key="board", port=pport, listen=False)
    # 1: DUPLICATE -> the server logs and retries after a back-off.
    c = accept_hello(listener, "board")
    t0 = time.time()
    c.sendall(struct.pack("<i", w.RPC_CODE_DUPLICATE))
    c.close()
    c = accept_hello(listener, "board")
    print("retry after DUPLICATE in %.2fs" % (time.time() - t0))
    # 2: MISMATCH, same.
    c.sendall(struct.pack("<i", w.RPC_CODE_MISMATCH))
    c.close()
    c = accept_hello(listener, "board")
    # 3: pairing. The client's key and its first packet arrive in one segment, as the proxy
    # forwards them; the server must not swallow the packet with the handshake.
    reply = w.handshake_bytes("client:board -timeout=1")
    init = w.encode_packet(w.Packet(w.RPCCode.INIT_SERVER, version=w.PROTOCOL_VERSION, args=[]))
    c.sendall(reply + init)
    sess = w.Session(c, "server:board")
    sess._reply()  # the InitServer reply
    session_works(sess)
    # The -timeout=1 of the client's key applies.
    wait_pushed(sess.sock)
    with pytest.raises(w.RPCSessionTimeoutError):
        sess.listdir(".")
    sess.close()
    # 4: after the session the server registers again.
    c = accept_hello(listener, "board")
    c.close()
    listener.close()


def test_through_real_proxy(server, spawn):
    pport = free_port()
    spawn("--headless", "proxy", "--host", HOST, "--port", str(pport), "--port-end",
          str(pport + 1))
    wait_port(pport)
    server("--through-proxy", key="viaproxy", port=pport, listen=False)
    # The server registers with the proxy; a client with the plain key is paired with it.
    sess = wait_for(lambda: _try_session(pport, "viaproxy"), timeout=15, what="pairing")
    session_works(sess)
    sess.close()
    # And again after the session: the server re-registered.
    sess = wait_for(lambda: _try_session(pport, "viaproxy"), timeout=15, what="re-pairing")
    session_works(sess)
    sess.close()


def _try_session(port, key):
    try:
        return w.Session.connect(HOST, port, key=key, timeout=10, sock_timeout=5)
    except (w.HandshakeError, OSError, EOFError):
        time.sleep(0.2)  # the step of wait_for's poll: a connection attempt is costly
        return None


# --- recorded TVM traffic (tests/vectors, recorded against stock TVM; see its README) ------

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors")


def vector(name):
    return w.load_vector(os.path.join(VECTORS, name))


@pytest.mark.parametrize("name", ["handshake.json", "handshake_timeout.json",
                                  "handshake_mismatch.json"])
def test_replay_client_vectors_byte_exact(server, name):
    """Play the recorded client's bytes; our answers equal the stock C++ server's."""
    port, _ = server(key="vec")
    v = vector(name)
    s = w.connect(HOST, port)
    for e in v["exchanges"]:
        if e["dir"] == "c2s":
            s.sendall(e["bytes"])
        else:
            assert w.recv_exact(s, len(e["bytes"])) == e["bytes"]
    assert w.expect_eof(s)  # after MISMATCH, or after the recorded Shutdown
    s.close()


def test_replay_server_side_of_proxy_vector(server):
    """proxy_server_side.json: our server's hello to the proxy is the recorded one byte for
    byte, and the proxy's SUCCESS + client key + InitServer (one segment) gets the recorded
    InitServer reply."""
    v = vector("proxy_server_side.json")
    ex = v["exchanges"]
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)
    pport = listener.getsockname()[1]
    server("--through-proxy", key="vecp", port=pport, listen=False)
    listener.settimeout(15)
    c, _ = listener.accept()
    c.settimeout(10)
    assert ex[0]["dir"] == "c2s"
    assert w.recv_exact(c, len(ex[0]["bytes"])) == ex[0]["bytes"]
    c.sendall(ex[1]["bytes"])
    assert w.recv_exact(c, len(ex[2]["bytes"])) == ex[2]["bytes"]
    c.close()
    listener.close()


def test_tracker_conversation_matches_recorded_server(server, fake_tracker):
    """tracker_server_register.json (stock C++ server): the same requests in the same order
    (magic alone, UPDATE_INFO, PUT, then polls), the port as a JSON int like Python's server."""
    v = vector("tracker_server_register.json")
    c2s = b"".join(e["bytes"] for e in v["exchanges"] if e["dir"] == "c2s")
    recorded = [m for m, _ in w.decode_tracker_frames(c2s[4:])]
    port, _ = server("--tracker", "%s:%d" % (HOST, fake_tracker.port), key="vec")
    wait_for(lambda: len(fake_tracker.messages(7)) >= 1, what="a poll")
    with fake_tracker.lock:
        ours = [m for _, m in fake_tracker.frames]
    assert [m[0] for m in ours[:3]] == [m[0] for m in recorded[:3]] == [5, 3, 7]
    info = recorded[0][1]
    # Ours adds how it links .o/.tar uploads and its devices (TVM's tracker keeps unknown
    # fields).
    assert ours[0][0] == 5 and ours[0][1].pop("compiler").startswith("/")
    assert ours[0][1].pop("devices").startswith("cpu")
    assert ours[0] == [5, {"key": info["key"], "addr": [None, port]}]
    assert recorded[1][:2] == ours[1][:2] == [3, "vec"]
    assert ours[1][3] is None and recorded[1][3] is None
