"""Multi-hop sessions: a client asks server A to open an RPC session to server B (rpc.Connect)
and uses B's globals and modules through A. Values cross both hops: strings, bytes, far
objects as handles, tensors copied to B and back (outputs written in place), far tensors
copied back. Also a third hop, the far session's death, CloseRPCConnection, and the module
globals' work-directory confinement on a real session."""
import os

import numpy as np
import pytest

import tvm_wire as w
from conftest import ROOT
from test_server_session import connect, services  # noqa: F401 (fixture)

ADD_ONE = ROOT + "/tests/fixtures/add_one.so"
MATMUL = ROOT + "/tests/fixtures/matmul.so"


def fixture_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def far_session(s, srv):
    return s.call(s.get_global_func("rpc.Connect"), "127.0.0.1", srv.port, "k", False)


def far_function(s, mod, name):
    return s.call(s.get_global_func("ffi.ModuleGetFunction"), mod, name, False)


def test_globals_and_objects_through_a_second_server(services):  # noqa: F811
    a, b = services.server(), services.server()
    with connect(a) as s:
        sess = far_session(s, b)
        assert isinstance(sess, w.RemoteModule)
        assert s.call(s.get_global_func("ffi.ModuleGetKind"), sess) == "rpc"
        echo = far_function(s, sess, "ffi.String")
        assert echo("through two servers, a long string") == "through two servers, a long string"
        as_bytes = far_function(s, sess, "ffi.Bytes")
        assert as_bytes(w.ObjBytes(b"\x00\x01binary\xff" * 10)) == b"\x00\x01binary\xff" * 10
        # The far workpath is B's own work directory.
        workpath = far_function(s, sess, "tvm.rpc.server.workpath")
        assert workpath("x").startswith(str(b.work))
        # A far array stays on B; A passes its handle back.
        arr = far_function(s, sess, "ffi.Array")(1, 2, "three")
        assert isinstance(arr, w.RemoteObject) and arr.type_index == w.TI.RPC_OBJECT_REF
        assert far_function(s, sess, "ffi.ArraySize")(arr) == 3
        assert far_function(s, sess, "ffi.ArrayGetItem")(arr, 2) == "three"
        # A far error keeps its kind and the session goes on.
        with pytest.raises(w.RPCError, match="IndexError"):
            far_function(s, sess, "ffi.ArrayGetItem")(arr, 7)
        assert far_function(s, sess, "no.such.global") is None
        assert echo("still here") == "still here"


def test_far_module_runs_on_local_tensors(services):  # noqa: F811
    a, b = services.server(), services.server()
    with connect(a) as s:
        sess = far_session(s, b)
        far_function(s, sess, "tvm.rpc.server.upload")("far_add_one.so",
                                                       fixture_bytes(ADD_ONE))
        mod = s.call(s.get_global_func("rpc.LoadRemoteModule"), sess, "far_add_one.so")
        assert s.call(s.get_global_func("ffi.ModuleGetKind"), mod) == "rpc"
        add_one = s.module_get_function(mod, "add_one")
        x = np.arange(1024, dtype="float32") * 0.25 - 128
        tx, ty = s.tensor(x), s.empty((1024,), "float32")
        assert add_one(tx.header, ty.header) is None
        np.testing.assert_array_equal(ty.numpy(), x + 1)  # written on B, copied back to A
        # Two far modules: one imports the other on B, lookups then reach it.
        far_function(s, sess, "tvm.rpc.server.upload")("far_matmul.so",
                                                       fixture_bytes(MATMUL))
        mm = s.call(s.get_global_func("rpc.LoadRemoteModule"), sess, "far_matmul.so")
        assert s.module_get_function(mod, "matmul") is None
        s.call(s.get_global_func("rpc.ImportRemoteModule"), mod, mm)
        assert s.module_get_function(mod, "matmul") is not None
        with pytest.raises(w.RPCError, match="RuntimeError"):  # a cycle, refused on B
            s.call(s.get_global_func("ffi.ModuleImportModule"), mm, mod)
        # A module of A itself cannot be handed to B.
        s.upload("add_one.so", fixture_bytes(ADD_ONE))
        mine = s.load_module("add_one.so")
        with pytest.raises(w.RPCError, match="ValueError"):
            s.call(s.get_global_func("rpc.ImportRemoteModule"), mod, mine)


def test_far_tensor_results_come_back_as_local_tensors(services):  # noqa: F811
    a, b = services.server(), services.server()
    with connect(a) as s:
        sess = far_session(s, b)
        shape = far_function(s, sess, "ffi.Shape")(2, 3)
        alloc = far_function(s, sess, "runtime.TVMTensorAllocWithScope")
        t = alloc(shape, w.DataType.parse("float32"), w.Device(1, 0), None)
        assert isinstance(t, w.ReturnedTensor)
        assert list(t.header.shape) == [2, 3]
        np.testing.assert_array_equal(t.numpy(), np.zeros((2, 3), "float32"))
        # Both tensors are A's: copied to B for the call, and back (dst is written on B).
        copy = far_function(s, sess, "runtime.TVMTensorCopyFromTo")
        data = np.arange(6, dtype="float32").reshape(2, 3)
        copy(s.tensor(data).header, t.header)
        np.testing.assert_array_equal(t.numpy(), data)


def test_three_hops(services):  # noqa: F811
    a, b, c = services.server(), services.server(), services.server()
    with connect(a) as s:
        sess_b = far_session(s, b)
        connect_on_b = far_function(s, sess_b, "rpc.Connect")
        sess_c = connect_on_b("127.0.0.1", c.port, "k", False)
        assert isinstance(sess_c, w.RemoteModule)
        workpath_c = s.module_get_function(sess_c, "tvm.rpc.server.workpath")
        assert workpath_c("y").startswith(str(c.work))
        assert s.module_get_function(sess_c, "ffi.String")("abc" * 20) == "abc" * 20


def test_far_server_death_and_close(services):  # noqa: F811
    a, b = services.server(), services.server()
    with connect(a) as s:
        sess = far_session(s, b)
        echo = far_function(s, sess, "ffi.String")
        assert echo("before") == "before"
        close = far_function(s, sess, "CloseRPCConnection")
        assert close() is None
        with pytest.raises(w.RPCError, match="RuntimeError: .*closed"):
            echo("after close")
        # A new session to B works; then B goes away under it.
        sess2 = far_session(s, b)
        echo2 = far_function(s, sess2, "ffi.String")
        assert echo2("alive") == "alive"
        b.stop()
        with pytest.raises(w.RPCError, match="RuntimeError"):
            echo2("B is gone")
        # A's own session is unharmed.
        assert s.call(s.get_global_func("ffi.String"), "A lives") == "A lives"
    services.all.remove(b)


def test_connect_errors(services):  # noqa: F811
    a, b = services.server(), services.server()
    with connect(a) as s:
        conn = s.get_global_func("rpc.Connect")
        with pytest.raises(w.RPCError, match="InternalError"):
            s.call(conn, "127.0.0.1", 1, "k", False)
        with pytest.raises(w.RPCError, match="InternalError"):
            s.call(conn, "127.0.0.1", b.port, "wrong-key", False)
        with pytest.raises(w.RPCError, match="TypeError"):
            s.call(conn, "127.0.0.1")
        with pytest.raises(w.RPCError, match="ValueError"):
            s.call(conn, "127.0.0.1", 70000, "k", False)
        with pytest.raises(w.RPCError, match="TypeError"):
            s.call(conn, "127.0.0.1", b.port, "k", False, 1.5)
        # A session constructor on the far side: rpc.LocalSession is what B accepts.
        sess = s.call(conn, "127.0.0.1", b.port, "k", False, "rpc.LocalSession")
        assert far_function(s, sess, "ffi.String")("ctor") == "ctor"
        with pytest.raises(w.RPCError, match="InternalError"):
            s.call(conn, "127.0.0.1", b.port, "k", False, "no.such.constructor")


def test_module_files_stay_in_the_work_directory(services):  # noqa: F811
    a = services.server()
    with connect(a) as s:
        s.upload("add_one.so", fixture_bytes(ADD_ONE))
        load = s.get_global_func("ffi.ModuleLoadFromFile")
        assert isinstance(s.call(load, "add_one.so"), w.RemoteModule)  # relative: work dir
        with pytest.raises(w.RPCError, match="PermissionError"):
            s.call(load, ADD_ONE)  # absolute, outside the work directory
        with pytest.raises(w.RPCError, match="PermissionError"):
            s.call(load, "../add_one.so")
        with pytest.raises(w.RPCError, match="PermissionError"):
            s.call(s.get_global_func("ffi.Module.load_from_file.so"), ADD_ONE, "so")
        names = s.call(s.get_global_func("ffi.Array"), "k1")
        s.upload("k.o", b"object bytes")
        lib = s.call(s.get_global_func("runtime.ModuleLoadStaticLibrary"), "k.o", names)
        write = s.get_global_func("ffi.ModuleWriteToFile")
        s.call(write, lib, "copy.o", "o")
        assert s.download("copy.o") == b"object bytes"
        for bad in ("/tmp/escaped.o", "../escaped.o", "sub/../../escaped.o"):
            with pytest.raises(w.RPCError, match="PermissionError|InternalError"):
                s.call(write, lib, bad, "o")
        link = s.call(s.get_global_func("tvm.rpc.server.workpath"), "escape")
        os.symlink("/tmp", link)
        with pytest.raises(w.RPCError, match="PermissionError"):
            s.call(write, lib, "escape/escaped.o", "o")


def test_session_constructor_makes_a_relay(services):  # noqa: F811
    """InitServer ["rpc.Connect", host, port, key, ...]: every later packet goes to B."""
    a, b = services.server(), services.server()
    s = w.Session.connect("127.0.0.1", a.port, key="k", init=False, sock_timeout=30)
    with s:
        s.init_server(ctor_args=["rpc.Connect", "127.0.0.1", b.port, "k", False])
        assert s.call(s.get_global_func("tvm.rpc.server.workpath"), "x").startswith(str(b.work))
        s.upload("add_one.so", fixture_bytes(ADD_ONE))
        add_one = s.module_get_function(s.load_module("add_one.so"), "add_one")
        x = np.arange(1024, dtype="float32")
        tx, ty = s.tensor(x), s.empty((1024,), "float32")  # allocated on B
        add_one(tx.header, ty.header)
        np.testing.assert_array_equal(ty.numpy(), x + 1)
        s.shutdown()
    assert "relaying to a far server" in a.text()
    # A's next client is served by A itself again.
    with connect(a) as s2:
        assert s2.call(s2.get_global_func("tvm.rpc.server.workpath"), "x").startswith(str(a.work))


def test_bad_session_constructors(services):  # noqa: F811
    a = services.server()
    s = w.Session.connect("127.0.0.1", a.port, key="k", init=False, sock_timeout=30)
    with s:
        for args, text in ((["no.such.constructor"], "Cannot find session constructor"),
                           (["ffi.String", "x"], "need to return an RPCModule"),
                           (["rpc.Connect", "127.0.0.1", 1, "k", False],
                            "Error caught from session constructor"),
                           (["rpc.Connect", "127.0.0.1", w.Device(1, 0)], "type index")):
            with pytest.raises(w.RPCError, match=text):
                s.init_server(ctor_args=args)
        s.init_server(ctor_args=["rpc.LocalSession"])  # still possible: serves locally
        assert s.call(s.get_global_func("ffi.String"), "local") == "local"
        s.shutdown()
