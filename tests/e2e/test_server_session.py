"""End-to-end tests of the device server (`--headless server`) with the independent Python
client tvm_wire: handshake, InitServer, every CallFunc argument type (through the argecho test
module), the file service and its path checks, tensor copies of 0 B, 1 B and 64 MiB, errors
that leave the session usable, Shutdown, session timeouts, and tracker registration,
including re-registration after a session child is killed."""
import os
import signal
import socket
import struct
import subprocess
import time

import numpy as np
import pytest

import tvm_wire as w
from conftest import BIN, BUILD, free_port

ARGECHO = os.path.join(BUILD, "models", "argecho.so")
KEY = "k"


# --- processes -------------------------------------------------------------------------------


class Service:
    """A tvmrpc-console service whose output goes to a file (a pipe could fill and block it)."""

    def __init__(self, tmp_path, name, args):
        self.name = name
        self.log = tmp_path / ("%s.log" % name)
        self.out = open(self.log, "wb")
        self.args = [BIN] + list(args)
        env = dict(os.environ)
        # Under ASan (make SAN=1) a huge allocation request aborts instead of failing like
        # malloc does in production; the tests want to see the server handle the failure.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                     "allocator_may_return_null=1"]))
        self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.out,
                                  stderr=subprocess.STDOUT, env=env)

    @property
    def pid(self):
        return self.p.pid

    def text(self):
        return self.log.read_text(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()


def listens(pid, port):
    """True when process pid itself holds a listening TCP socket on port (not someone else
    who took the port first), from /proc/net/tcp and the process's descriptors."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    if not inodes:
        return False
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


class Services:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.all = []

    def start(self, what, mode, args, attempts=5):
        """Start `--headless <mode> ... --port P --port-end P+1`, wait until it listens. A port
        taken by someone else between free_port() and the bind is retried on another one."""
        for _ in range(attempts):
            svc = self._start_once(what, mode, args)
            if svc is not None:
                return svc
        pytest.fail("%s: no free port after %d attempts" % (what, attempts))

    def _start_once(self, what, mode, args):
        port = free_port()
        svc = Service(self.tmp, "%s%d" % (mode, len(self.all)),
                      ["--headless", mode, "--host", "127.0.0.1", "--port", str(port),
                       "--port-end", str(port + 1)] + list(args))
        self.all.append(svc)
        svc.port = port
        deadline = time.time() + 15
        while time.time() < deadline:
            if not svc.alive():
                text = svc.text()
                if "address already in use" in text:
                    return None
                pytest.fail("%s exited with %s:\n%s" % (what, svc.p.returncode, text))
            if listens(svc.pid, port):
                svc.listening = True
                return svc
            time.sleep(0.02)
        pytest.fail("%s does not listen on %d:\n%s" % (what, port, svc.text()))

    def tracker(self):
        return self.start("the tracker", "tracker", [])

    def server(self, key=KEY, tracker=None, extra=()):
        work = self.tmp / ("work%d" % len(self.all))
        work.mkdir()
        args = ["--key", key, "--work-dir", str(work)] + list(extra)
        if tracker is not None:
            args += ["--tracker", "127.0.0.1:%d" % tracker.port]
        svc = self.start("the device server", "server", args)
        svc.work = work
        return svc

    def close(self):
        dead = [s for s in self.all if getattr(s, "listening", False) and not s.alive()]
        for s in self.all:
            s.stop()
        return dead


# Sanitizer reports (make SAN=1) from the service or its session children.
SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")


@pytest.fixture
def services(tmp_path):
    svcs = Services(tmp_path)
    yield svcs
    dead = svcs.close()
    # a service that died during the test (crash, abort) fails it
    assert not dead, "%s died: rc=%s\n%s" % (dead[0].name, dead[0].p.returncode, dead[0].text())
    for svc in svcs.all:
        text = svc.text()
        assert not any(m in text for m in SANITIZER_MARKS), "%s:\n%s" % (svc.name, text)


@pytest.fixture
def server(services):
    return services.server()


def connect(srv, key=KEY, timeout=None, init=True):
    return w.Session.connect("127.0.0.1", srv.port, key=key, timeout=timeout, init=init,
                             sock_timeout=30)


def children(pid):
    """Direct children of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
            except OSError:
                continue
            # the command name may contain spaces: ppid is the 2nd field after ')'
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out


def eventually(fn, what, timeout=15.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail("timed out waiting for %s (last: %r)" % (what, last))


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
    return h - 2**64 if h >= 2**63 else h


def assert_usable(s):
    """The session still answers requests correctly."""
    assert s.get_global_func("tvm.rpc.server.upload") != 0


# --- handshake and InitServer ------------------------------------------------------------------


def test_handshake_accepts_key_and_refuses_others(server):
    with pytest.raises(w.KeyMismatchError):
        connect(server, key="wrong")
    with pytest.raises(w.KeyMismatchError):
        connect(server, key="")
    # a mismatch closes only that connection; the right key still works, with options
    with connect(server, timeout=30) as s:
        assert s.server_key == "server:" + KEY
        assert_usable(s)
        s.shutdown()


def test_handshake_options(server):
    # a fractional timeout (the Python client's format) and unknown options are accepted
    for key in ("client:k -timeout=1.5", "client:k -foo=bar", "client:k  -timeout=30 -x"):
        with w.Session.connect("127.0.0.1", server.port, full_key=key, sock_timeout=30) as s:
            assert_usable(s)
            s.shutdown()


def test_silent_connection_does_not_block_others(server):
    silent = w.connect("127.0.0.1", server.port)
    half = w.connect("127.0.0.1", server.port)
    half.sendall(struct.pack("<i", w.RPC_MAGIC))          # magic, then nothing
    with connect(server) as s:
        assert_usable(s)
        s.shutdown()
    silent.close()
    half.close()


def test_second_client_waits_for_the_running_session(server):
    import threading
    first = connect(server)
    result = {}

    def second():
        try:
            with connect(server) as s2:
                result["usable"] = s2.get_global_func("tvm.rpc.server.upload") != 0
                s2.shutdown()
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=second, daemon=True)
    t.start()
    eventually(lambda: "client waits for the running session" in server.text(),
               "the second client queued behind the running session")
    assert_usable(first)                 # the running session is not disturbed
    first.shutdown()
    t.join(30)
    assert not t.is_alive() and result == {"usable": True}, result


def test_handshake_mismatch_then_close(server):
    sock = w.connect("127.0.0.1", server.port)
    w.send_handshake(sock, "client:nope")
    assert sock.recv(4, socket.MSG_WAITALL) == struct.pack("<i", w.RPC_CODE_MISMATCH)
    assert w.expect_eof(sock)
    sock.close()


def test_handshake_bad_magic_is_closed_silently(server):
    sock = w.connect("127.0.0.1", server.port)
    sock.sendall(struct.pack("<ii", 0x1234, 8) + b"client:k")
    assert w.expect_eof(sock, timeout=15)
    sock.close()
    with connect(server) as s:
        s.shutdown()


def test_handshake_one_byte_per_segment(server):
    sock = w.connect("127.0.0.1", server.port)
    for b in w.handshake_bytes("client:" + KEY + " -timeout=20"):
        sock.sendall(bytes([b]))
        time.sleep(0.002)  # the subject: each byte in its own segment
    assert w.read_handshake_reply(sock) == "server:" + KEY
    s = w.Session(sock)
    assert s.init_server() == [None]
    s.shutdown()


def test_initserver_rules(server):
    with connect(server, init=False) as s:
        # requests before InitServer are refused with an Exception, not a crash
        with pytest.raises(w.RPCError):
            s.get_global_func("tvm.rpc.server.upload")
        with pytest.raises(w.RPCError, match="(?i)version|protocol"):
            s.init_server(version="0.7.0")
        assert s.init_server() == [None]
        with pytest.raises(w.RPCError):
            s.init_server()                      # a second InitServer
        assert_usable(s)
        s.shutdown()


def test_initserver_with_unknown_constructor_is_refused(server):
    with connect(server, init=False) as s:
        with pytest.raises(w.RPCError):
            s.init_server(ctor_args=[w.ObjStr("no.such.constructor"), w.ObjStr("x"), 1])
        assert s.init_server() == [None]
        assert_usable(s)
        s.shutdown()
    with connect(server, init=False) as s:
        # "rpc.LocalSession" (what the server is anyway) may be accepted or refused
        try:
            assert s.init_server(ctor_args=[w.ObjStr("rpc.LocalSession")]) == [None]
        except w.RPCError:
            assert s.init_server() == [None]
        assert_usable(s)
        s.shutdown()


def test_empty_packets_are_ignored(server):
    with connect(server) as s:
        s.sock.sendall(struct.pack("<Q", 0) * 3)
        assert_usable(s)
        s.shutdown()


# --- syscalls --------------------------------------------------------------------------------


def test_global_lookup_and_free(server):
    with connect(server) as s:
        h = s.get_global_func("tvm.rpc.server.upload")
        h2 = s.get_global_func("tvm.rpc.server.upload")
        assert h and h2
        assert s.get_global_func("no.such.function") == 0   # not an Exception
        s.free_handle(h)
        s.free_handle(h2)
        assert_usable(s)
        s.shutdown()


def test_device_attributes_and_streams(server):
    with connect(server) as s:
        assert s.dev_get_attr(w.CPU, w.DevAttr.EXIST) == 1
        assert s.dev_get_attr(w.Device(2, 0), w.DevAttr.EXIST) == 0    # no CUDA here
        mem = s.dev_get_attr(w.CPU, w.DevAttr.TOTAL_GLOBAL_MEMORY)
        assert type(mem) is int and (mem > 0 or mem == -1)
        assert s.dev_get_attr(w.CPU, 1) is None                          # MaxThreadsPerBlock
        s.dev_set_device(w.CPU)
        st = s.dev_create_stream(w.CPU)
        s.dev_set_stream(w.CPU, st)
        assert s.dev_get_current_stream(w.CPU) == st
        s.dev_stream_sync(w.CPU, st)
        s.dev_free_stream(w.CPU, st)
        s.dev_stream_sync(w.CPU, 0)
        s.shutdown()


def test_alloc_free_and_copy_among_remote(server):
    with connect(server) as s:
        p = s.dev_alloc_data(w.CPU, 1000, 64, w.DataType(2, 32))
        assert p and p % 64 == 0
        s.dev_free_data(w.CPU, p)
        for scope in (None, "", "global"):
            t = w.RemoteTensor.empty(s, (3, 5), "float32", scope=scope)
            assert t.header.data % 64 == 0
            t.free()
        with pytest.raises(w.RPCError):
            w.RemoteTensor.empty(s, (4,), "float32", scope="texture")
        x = np.arange(15, dtype="float32").reshape(3, 5)
        a = s.tensor(x)
        b = s.empty((3, 5), "float32")
        s.copy_among_remote(a.header, b.header)
        s.dev_stream_sync(w.CPU)
        np.testing.assert_array_equal(b.numpy(), x)
        with pytest.raises(w.RPCError):                 # sizes differ
            s.copy_among_remote(a.header, b.header.replace(shape=(3, 4)))
        a.free()
        b.free()
        s.shutdown()


def test_session_memory_cap(services):
    srv = services.server(extra=["--session-memory", str(1 << 20)])
    with connect(srv) as s:
        with pytest.raises(w.RPCError):
            s.empty((2 << 20,), "uint8")
        a = s.empty((600 << 10,), "uint8")
        with pytest.raises(w.RPCError):          # 600 KiB + 600 KiB > 1 MiB
            s.dev_alloc_data(w.CPU, 600 << 10, 64, w.DataType(1, 8))
        a.free()
        b = s.empty((600 << 10,), "uint8")       # freed memory is available again
        b.free()
        with pytest.raises(w.RPCError):          # alignment must be a power of two
            s.dev_alloc_data(w.CPU, 64, 48, w.DataType(1, 8))
        with pytest.raises(w.RPCError):          # not an allocation of this session
            s.dev_free_data(w.CPU, 0x1000)
        assert_usable(s)
        s.shutdown()


def test_unknown_code_and_bad_arguments_leave_session_usable(server):
    with connect(server) as s:
        with pytest.raises(w.RPCError):
            s.request(w.Packet(22, body=b"", args=[]))
        with pytest.raises(w.RPCError):
            s.syscall(w.RPCCode.FREE_HANDLE, "not a handle")
        with pytest.raises(w.RPCError):
            s.syscall(w.RPCCode.DEV_ALLOC_DATA_WITH_SCOPE)   # no arguments
        with pytest.raises(w.RPCError):
            s.call(0xdead0000)                             # never issued
        assert_usable(s)
        s.shutdown()


def test_object_handles_and_rpc_object_ref(server):
    """Returned objects (type >= 64) are opaque handles that travel back as RPCObjectRef 115."""
    with connect(server) as s:
        array = s.get_function("ffi.Array")
        size = s.get_function("ffi.ArraySize")
        item = s.get_function("ffi.ArrayGetItem")
        string = s.get_function("ffi.String")
        arr = array(7, -1.5, "tvm", True)
        assert isinstance(arr, w.RemoteObject) and arr.type_index == w.TI.ARRAY
        assert size(arr) == 4
        assert item(arr, 0) == 7 and item(arr, 1) == -1.5 and item(arr, 2) == "tvm"
        assert item(arr, 3) is True
        nested = array(arr, arr)
        inner = item(nested, 1)
        assert isinstance(inner, w.RemoteObject) and size(inner) == 4
        inner.free()
        nested.free()
        assert size(arr) == 4                  # still alive: nested held its own reference
        for text in ("", "abc", "a longer string than seven", "ünï"):
            assert string(text) == text
        with pytest.raises(w.RPCError):
            size("not-an-array")
        with pytest.raises(w.RPCError):
            item(arr, 99)
        released = arr.handle
        arr.free()
        with pytest.raises(w.RPCError):      # released and forged handles are refused
            size(w.ObjectRef(released))
        with pytest.raises(w.RPCError):
            size(w.ObjectRef(0xbad0))
        for f in (array, size, item, string):
            f.free()
        assert_usable(s)
        s.shutdown()


# --- file service ----------------------------------------------------------------------------


def test_upload_download_listdir_remove(server):
    with connect(server) as s:
        big = os.urandom(3 << 20)
        s.upload("a.bin", big)
        s.upload("small", b"1234567")                    # outer 12, inner 66
        s.upload("empty", b"")
        up = s._cached("tvm.rpc.server.upload")
        assert s.call(up, "raw", w.ByteArray(b"via ByteArrayPtr")) is None
        assert s.download("a.bin") == big
        assert s.download("small") == b"1234567"
        assert s.download("empty") == b""
        assert s.download("raw") == b"via ByteArrayPtr"
        s.upload("small", b"overwritten")
        assert s.download("small") == b"overwritten"
        entries = s.listdir(".")
        names = sorted(os.path.basename(e) for e in entries)
        assert names == ["a.bin", "empty", "raw", "small"]
        assert all(os.path.isabs(e) for e in entries)
        # the work directory is below --work-dir and holds the real files
        wd = os.path.dirname(os.path.normpath(entries[0]))
        assert os.path.realpath(wd).startswith(os.path.realpath(server.work))
        with open(os.path.join(wd, "a.bin"), "rb") as f:
            assert f.read() == big
        s.remove("a.bin")
        s.remove("a.bin")                                # missing: never fails
        s.remove("")
        s.remove("nothing.so")
        assert sorted(os.path.basename(e) for e in s.listdir(".")) == ["empty", "raw", "small"]
        with pytest.raises(w.RPCError):
            s.download("a.bin")
        assert s.listdir("no-such-dir") == []
        s.shutdown()
    # the session's directory is gone after the session
    eventually(lambda: not os.path.exists(wd), "the session directory to be removed")


ESCAPED = b"escaped! 7f3a9c"


@pytest.mark.parametrize("path", ["../victim", "../../victim", "a/../../victim", "..",
                                  "sub/../../../victim", "{tmp}/abs_victim", "/"])
def test_paths_outside_the_work_dir_are_refused(server, tmp_path, path):
    path = path.format(tmp=tmp_path)
    victims = [tmp_path / "victim", server.work / "victim", tmp_path / "abs_victim"]
    for v in victims:
        v.write_bytes(b"keep")
    with connect(server) as s:
        with pytest.raises(w.RPCError):
            s.upload(path, ESCAPED)
        with pytest.raises(w.RPCError):
            s.download(path)
        with pytest.raises(w.RPCError):
            s.load_module(path)
        try:
            s.remove(path)   # may refuse; must not delete anything outside
        except w.RPCError:
            pass
        assert_usable(s)
        s.shutdown()
    for v in victims:
        assert v.read_bytes() == b"keep"
    for root, _, files in os.walk(tmp_path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert fh.read() != ESCAPED, os.path.join(root, f)


def test_symlinks_out_of_the_work_dir_are_refused(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not read")
    with connect(server) as s:
        s.upload("marker", b"m")
        wd = os.path.dirname(os.path.normpath(s.listdir(".")[0]))
        os.symlink(str(secret), os.path.join(wd, "link"))
        os.symlink(str(tmp_path), os.path.join(wd, "dirlink"))
        with pytest.raises(w.RPCError):
            s.download("link")
        with pytest.raises(w.RPCError):
            s.upload("link", b"overwritten")
        with pytest.raises(w.RPCError):
            s.upload("dirlink/new.txt", b"x")
        with pytest.raises(w.RPCError):
            s.download("dirlink/secret.txt")
        s.remove("dirlink/secret.txt")
        assert_usable(s)
        s.shutdown()
    assert secret.read_bytes() == b"do not read"
    assert not (tmp_path / "new.txt").exists()


# --- tensor copies -----------------------------------------------------------------------------


def test_copy_zero_bytes(server):
    with connect(server) as s:
        t = s.empty((0,), "float32")         # stock-style: the size lookup, then no packet
        t.copyfrom(np.zeros((0,), "float32"))
        assert t.numpy().shape == (0,)
        t.free()
        one = s.tensor(np.array([7.5], "float32"))
        s.copy_to_remote(one.header, b"", chunked=False)      # explicit empty packets
        assert s.copy_from_remote(one.header, 0, chunked=False) == b""
        np.testing.assert_array_equal(one.numpy(), [7.5])
        one.free()
        s.shutdown()


def test_copy_one_byte(server):
    with connect(server) as s:
        t = s.tensor(np.array([0xA5], "uint8"))
        assert t.numpy().tolist() == [0xA5]
        s.copy_to_remote(t.header, b"\x3c", chunked=False)
        assert s.copy_from_remote(t.header, 1, chunked=False) == b"\x3c"
        t.free()
        s.shutdown()


def test_copy_64_mib_both_ways(server):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, size=64 << 20, dtype=np.uint8)
    with connect(server) as s:
        t = s.tensor(x)                                  # chunked like the stock client
        limit = s.max_packet
        assert limit == -1 or limit > 44 + 8
        np.testing.assert_array_equal(t.numpy(), x)
        # and as single packets when the server's limit allows them
        single = limit == -1 or limit >= len(x) + 52
        y = x[::-1].copy()
        s.copy_to_remote(t.header, y.tobytes(), chunked=not single)
        raw = s.copy_from_remote(t.header, len(y), chunked=not single)
        assert raw == y.tobytes()
        t.free()
        s.shutdown()


def test_copy_out_of_bounds_and_bad_pointer(server):
    with connect(server) as s:
        t = s.tensor(np.arange(4, dtype="float32"))
        # single packets with the header's own byte_offset: past the 16-byte tensor
        with pytest.raises(w.RPCError):
            s.copy_to_remote(t.header.replace(byte_offset=8), bytes(12), chunked=False)
        with pytest.raises(w.RPCError):
            s.copy_from_remote(t.header, 20, chunked=False)
        with pytest.raises(w.RPCError):
            s.copy_from_remote(t.header.replace(byte_offset=1 << 20), 4, chunked=False)
        with pytest.raises(w.RPCError):
            s.copy_to_remote(t.header.replace(byte_offset=2**64 - 4), bytes(8), chunked=False)
        # a header that claims more than was allocated
        with pytest.raises(w.RPCError):
            s.copy_from_remote(t.header.replace(shape=(1 << 20,)), 1 << 22, chunked=False)
        # in bounds with an offset: the bytes land at data + byte_offset
        s.copy_to_remote(t.header.replace(byte_offset=8), struct.pack("<2f", 9, 10),
                         chunked=False)
        assert s.copy_from_remote(t.header.replace(byte_offset=4), 8, chunked=False) == \
            struct.pack("<2f", 1, 9)
        with pytest.raises(w.RPCError):
            s.copy_to_remote(t.header.replace(data=0x10), bytes(16), chunked=False)
        with pytest.raises(w.RPCError):
            s.copy_from_remote(t.header.replace(data=t.header.data + (1 << 40)), 16,
                               chunked=False)
        np.testing.assert_array_equal(t.numpy(), np.array([0, 1, 9, 10], "float32"))
        t.free()
        s.shutdown()


# --- CallFunc with every argument type (argecho test module) -----------------------------------


def load_argecho(s):
    if not os.path.exists(ARGECHO):
        pytest.fail("%s is not built (make models)" % ARGECHO)
    loader = s.get_global_func("ffi.Module.load_from_file.so")
    if not loader:
        pytest.fail("no global ffi.Module.load_from_file.so: the .so loader was not linked in")
    s.free_handle(loader)
    with open(ARGECHO, "rb") as f:
        s.upload("argecho.so", f.read())
    mod = s.load_module("argecho.so")
    return mod, lambda name: s.module_get_function(mod, name)


@pytest.fixture
def argecho(server):
    s = connect(server)
    mod, fn = load_argecho(s)
    yield s, mod, fn
    s.close()


def test_scalar_arguments_round_trip(argecho):
    s, mod, fn = argecho
    echo = fn("echo")
    for v in (None, 0, 1, -1, 2**63 - 1, -2**63, True, False, 0.0, -0.0, 3.25, -1e300,
              float("inf"), w.OpaquePtr(0), w.OpaquePtr(0xfeedface), w.DataType(2, 32, 1),
              w.DataType(0, 8, 4), w.DataType(4, 16, 1), w.Device(1, 0), w.Device(2, 3)):
        got = echo(v)
        assert got == v and type(got) is type(v), (v, got)
    nan = echo(float("nan"))
    assert nan != nan
    echo.free()


def test_type_index_seen_by_the_callee(argecho, server):
    s, mod, fn = argecho
    ti = fn("type_index")
    assert ti(None) == 0 and ti(5) == 1 and ti(True) == 2 and ti(1.5) == 3
    assert ti(w.OpaquePtr(1)) == 4 and ti(w.DataType(2, 32)) == 5 and ti(w.CPU) == 6
    t = s.tensor(np.ones(3, "float32"))
    assert ti(t) in (7, 70)
    assert ti("str") in (8, 11, 65)
    assert ti("a longer string") in (8, 65)
    assert ti(b"abc") in (9, 12, 66)
    assert ti(b"a longer blob") in (9, 66)
    assert ti(w.ByteArray(b"xyz")) in (9, 12, 66)
    assert ti(mod) == 73                                     # Module 73 handle
    assert ti(w.ObjectRef(mod.handle)) == 73                 # RPCObjectRef 115 to a module
    t.free()


def test_strings_and_bytes_arrive_intact(argecho):
    s, mod, fn = argecho
    digest = fn("digest")
    for text in ("", "a", "tvm", "1234567", "12345678", "ünïcödé ✓", "x" * 100000):
        assert digest(text) == fnv1a(text.encode()), text[:20]
        assert digest(w.ObjStr(text)) == fnv1a(text.encode())   # object path, inner 65
    for blob in (b"", b"\0", b"ab\0cd", b"1234567", b"12345678", os.urandom(1 << 20)):
        assert digest(blob) == fnv1a(blob)
        assert digest(w.ByteArray(blob)) == fnv1a(blob)


def test_mixed_arguments_and_counts(argecho):
    s, mod, fn = argecho
    assert fn("sum")(1, True, 2.5, -4) == 0.5
    assert fn("sum")() == 0.0
    nargs = fn("nargs")
    assert nargs() == 0
    assert nargs(*range(300)) == 300
    assert nargs(None, 1, True, 1.0, w.OpaquePtr(0), w.DataType(2, 32), w.CPU, "s", b"b",
                 w.ByteArray(b"c"), mod) == 11


def test_tensor_arguments(argecho):
    s, mod, fn = argecho
    x = np.arange(10, dtype="float32")
    a = s.tensor(x)
    assert fn("tensor_sum")(a) == float(x.sum())
    # a view: the byte_offset of a call argument is kept (unlike in copies)
    view = a.header.replace(shape=(6,), byte_offset=16)
    assert fn("tensor_sum")(view) == float(x[4:].sum())
    fn("fill")(a, 2.5)
    np.testing.assert_array_equal(a.numpy(), np.full(10, 2.5, "float32"))
    b = s.empty((10,), "float32")
    assert fn("add_one")(a, b) is None
    np.testing.assert_array_equal(b.numpy(), np.full(10, 3.5, "float32"))
    with pytest.raises(w.RPCError):
        fn("tensor_sum")(a.header.replace(shape=(1 << 20,)))   # larger than the allocation
    a.free()
    b.free()


def test_exceptions_leave_the_session_usable(argecho):
    s, mod, fn = argecho
    with pytest.raises(w.RPCError) as e:
        fn("raise_error")("boom")
    assert "argecho: boom" in e.value.text and not isinstance(e.value, w.RPCSessionTimeoutError)
    with pytest.raises(w.RPCError, match="expects 1 arguments"):
        fn("echo")(1, 2)
    with pytest.raises(w.RPCError):
        fn("echo")("strings are not echoed")
    assert fn("echo")(42) == 42
    assert fn("no_such_kernel") is None


def test_module_and_function_handles(argecho):
    s, mod, fn = argecho
    f1 = fn("echo")
    f2 = fn("echo")
    assert f1(1) == 1 and f2(2) == 2
    f1.free()
    assert f2(3) == 3                          # one reference released, the other lives
    f2.free()
    mod2 = s.load_module("argecho.so")
    f3 = s.module_get_function(mod2, "nargs")
    mod2.free()                                # the function keeps its module alive
    assert f3(1, 2) == 2
    f3.free()
    # a module passed as RPCObjectRef (115) works where a Module is expected
    f4 = s.call(s._cached("tvm.rpc.server.ModuleGetFunction"), w.ObjectRef(mod.handle),
                "nargs", True)
    assert isinstance(f4, w.RemoteFunction) and f4() == 0
    f4.free()


def test_time_evaluator(argecho):
    s, mod, fn = argecho
    h = s.get_global_func("runtime.RPCTimeEvaluator")
    assert h, "no global runtime.RPCTimeEvaluator"
    s.free_handle(h)
    a = s.tensor(np.zeros(256, "float32"))
    b = s.empty((256,), "float32")
    ev = s.time_evaluator(mod, "add_one", w.CPU, number=3, repeat=2)
    times = ev(a, b)
    assert len(times) == 2 and all(t >= 0 and np.isfinite(t) for t in times)
    np.testing.assert_array_equal(b.numpy(), np.ones(256, "float32"))
    ev.free()
    with pytest.raises(w.RPCError):
        s.time_evaluator(mod, "no_such_kernel", w.CPU)
    a.free()
    b.free()


# --- real TVM-compiled modules (the bytes uploaded in the recorded vectors) ----------------------

VEC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")


def recorded_run(name):
    """From a recorded python_kernel_*/relax session: the uploaded .so, the arrays copied to
    the server and the arrays read back (what real TVM computed)."""
    rec = w.RecordedSession(w.load_vector(os.path.join(VEC_DIR, name + ".json")))
    so = rec.pairs[2][0].args[1]
    inputs = [np.frombuffer(q.data, "<f4").reshape(q.header.shape) for q, _ in rec.pairs
              if q.code == w.RPCCode.COPY_TO_REMOTE]
    outputs = [np.frombuffer(r.data, "<f4").reshape(q.header.shape) for q, r in rec.pairs
               if q.code == w.RPCCode.COPY_FROM_REMOTE]
    return bytes(so), inputs, outputs


def need_so_loader(s):
    loader = s.get_global_func("ffi.Module.load_from_file.so")
    if not loader:
        pytest.fail("no global ffi.Module.load_from_file.so: the .so loader was not linked in")
    s.free_handle(loader)


def test_tvm_compiled_add_one(server):
    so, (x,), (expected,) = recorded_run("python_kernel_add_one")
    with connect(server) as s:
        need_so_loader(s)
        s.upload("add_one.so", so)
        mod = s.load_module("add_one.so")
        a, b = s.tensor(x), s.empty((1024,), "float32")
        f = s.module_get_function(mod, "add_one")
        assert f(a, b) is None
        np.testing.assert_array_equal(b.numpy(), expected)      # bit-exact, as in TVM
        main = s.module_get_function(mod, "main")                # the weak alias
        b2 = s.empty((1024,), "float32")
        assert main(a, b2) is None
        np.testing.assert_array_equal(b2.numpy(), expected)
        # the generated argument checks report errors; the session goes on
        with pytest.raises(w.RPCError):
            f(a)
        with pytest.raises(w.RPCError):
            f(a, s.empty((16,), "float32"))
        for o in (f, main, mod, a, b, b2):
            o.free()
        s.shutdown()


def test_tvm_compiled_matmul_and_time_evaluator(server):
    so, (xa, xb), (expected, _) = recorded_run("python_kernel_matmul_timeeval")
    with connect(server) as s:
        need_so_loader(s)
        s.upload("matmul.so", so)
        mod = s.load_module("matmul.so")
        a, b = s.tensor(xa), s.tensor(xb)
        c = s.empty((64, 64), "float32")
        f = s.module_get_function(mod, "matmul")
        assert f(a, b, c) is None
        np.testing.assert_allclose(c.numpy(), expected, rtol=1e-5, atol=1e-5)
        h = s.get_global_func("runtime.RPCTimeEvaluator")
        if h:
            s.free_handle(h)
            ev = s.time_evaluator(mod, "matmul", w.CPU, number=10, repeat=3)
            times = ev(a, b, c)
            assert len(times) == 3 and all(t >= 0 and np.isfinite(t) for t in times)
            ev.free()
        np.testing.assert_allclose(c.numpy(), expected, rtol=1e-5, atol=1e-5)
        for o in (f, mod, a, b, c):
            o.free()
        s.shutdown()


def test_tvm_compiled_relax_mlp(server):
    so, (x,), (expected,) = recorded_run("python_relax_mlp")
    with connect(server) as s:
        need_so_loader(s)
        s.upload("mlp_digits.so", so)
        lib = s.load_module("mlp_digits.so")
        load = s.module_get_function(lib, "vm_load_executable")
        assert load is not None, "the library has no vm_load_executable"
        vm = load()
        assert isinstance(vm, w.RemoteModule)
        init = s.module_get_function(vm, "vm_initialization")
        assert init(1, 0, 2) is None
        a = s.tensor(x)
        main = s.module_get_function(vm, "main")
        out = main(a)
        assert isinstance(out, w.ReturnedTensor)
        assert out.header.shape == (16, 10) and out.header.dtype == w.DataType(2, 32)
        assert out.header.device == w.CPU and out.header.byte_offset == 0
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
        assert (out.numpy().argmax(1) == expected.argmax(1)).all()
        out.free()          # FreeHandle of the tensor owner
        out2 = main(a)      # runs again after the first result was released
        np.testing.assert_allclose(out2.numpy(), expected, rtol=1e-4, atol=1e-4)
        for o in (out2, main, init, load, vm, lib, a):
            o.free()
        s.shutdown()


# --- session end -------------------------------------------------------------------------------


def test_shutdown_and_eof_then_next_session(server):
    s = connect(server)
    s.upload("f", b"data")
    s.shutdown()                                 # server closes after Shutdown
    s = connect(server)                          # a fresh session, fresh directory
    assert s.listdir(".") == []
    s.close()                                    # EOF at a packet boundary: same as Shutdown
    s = connect(server)
    assert_usable(s)
    # EOF inside a packet: the server drops the session and keeps serving
    s.sock.sendall(struct.pack("<Q", 100) + b"\x03\x00")
    s.close()
    with connect(server) as s:
        assert_usable(s)
        s.shutdown()


def test_oversized_packet_is_refused(services):
    srv = services.server(extra=["--max-packet", "65536"])
    with connect(srv) as s:
        # a complete packet over the limit: an Exception (the session may go on) or a close
        try:
            s.upload("big", bytes(100000))
            pytest.fail("a 100 kB packet passed --max-packet 65536")
        except w.RPCError:
            assert_usable(s)
            s.upload("small", bytes(1000))
            s.shutdown()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            pass
    with connect(srv) as s:
        assert_usable(s)
        s.shutdown()


def test_session_timeout(server):
    """-timeout=1: without any request from the client, the session ends with one Exception
    packet starting with `RPCSessionTimeoutError: ` (docs/control-plane.md §3.6), then closes."""
    s = connect(server, timeout=1)
    s.sock.settimeout(20)
    with pytest.raises(w.RPCSessionTimeoutError) as e:
        s._reply()
    assert e.value.text.startswith(w.TIMEOUT_ERROR_PREFIX)
    assert w.expect_eof(s.sock, timeout=20)
    s.close()
    with connect(server) as s2:
        assert_usable(s2)
        s2.shutdown()


# --- through the tracker -----------------------------------------------------------------------


def free_count(tc, key):
    q = tc.summary()["queue_info"].get(key)
    return q["free"] if q else 0


def test_tracker_registration_and_session(services):
    tracker = services.tracker()
    srv = services.server(tracker=tracker)
    with w.TrackerClient("127.0.0.1", tracker.port, timeout=30) as tc:
        eventually(lambda: free_count(tc, KEY) == 1, "the server to register")
        info = tc.summary()["server_info"]
        assert any(i.get("key") == "server:" + KEY for i in info)
        addr, port, matchkey = tc.request(KEY, priority=1)
        assert port == srv.port and matchkey.startswith(KEY + ":")
        # with a tracker, the plain key is not enough
        with pytest.raises(w.KeyMismatchError):
            connect(srv)
        with w.Session.connect(addr, port, full_key="client:%s -timeout=60" % matchkey,
                               sock_timeout=30) as s:
            assert s.server_key == "server:" + KEY
            s.upload("t", b"through the tracker")
            assert s.download("t") == b"through the tracker"
            s.shutdown()
        # after the session the server is offered again, under a fresh match key
        eventually(lambda: free_count(tc, KEY) == 1, "the server to register again")
        _, _, matchkey2 = tc.request(KEY)
        assert matchkey2 != matchkey
        with pytest.raises(w.KeyMismatchError):   # the consumed key is dead
            w.Session.connect(addr, port, full_key="client:" + matchkey)
        with w.Session.connect(addr, port, full_key="client:" + matchkey2) as s:
            assert_usable(s)
            s.shutdown()


def test_killed_session_child_registers_again(services):
    tracker = services.tracker()
    srv = services.server(tracker=tracker)
    with w.TrackerClient("127.0.0.1", tracker.port, timeout=30) as tc:
        eventually(lambda: free_count(tc, KEY) == 1, "the server to register")
        before = set(children(srv.pid))
        addr, port, matchkey = tc.request(KEY)
        s = w.Session.connect(addr, port, full_key="client:" + matchkey, sock_timeout=30)
        assert_usable(s)
        child = eventually(lambda: sorted(set(children(srv.pid)) - before),
                           "the session child process")
        assert len(child) == 1
        os.kill(child[0], signal.SIGKILL)
        with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
            s.get_global_func("tvm.rpc.server.upload")
        s.close()
        eventually(lambda: free_count(tc, KEY) == 1, "the server to register again")
        assert srv.alive()
        _, _, matchkey2 = tc.request(KEY)
        assert matchkey2 != matchkey
        with w.Session.connect(addr, port, full_key="client:" + matchkey2) as s:
            assert_usable(s)
            s.shutdown()
