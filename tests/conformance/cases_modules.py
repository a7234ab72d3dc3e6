"""Conformance cases: module, function-registry and rpc.* globals (ffi.Module*, ffi.Function*,
ffi.GetGlobalFuncMetadata, the static_library / const_loader / relax.VMExecutable loaders,
rpc.Connect and friends). See harness.py for the runner API.

Modules to inspect come from tests/fixtures (TVM-compiled add_one.so, matmul.so, the Relax
executable inside mlp_digits.so) or from a tiny C library built here with `cc` (it defines a
function with the metadata and doc symbols TVM_FFI_DLL_EXPORT_TYPED_FUNC would emit). Paths
given to the file globals come from tvm.rpc.server.workpath, so both servers read and write in
their own work directories. rpc.Connect needs a second server (both serve one session at a
time, so a server cannot reach itself): MODULES_FAR_PORT names one (recording on TVM:
MODULES_FAR_PORT=9091 record.py --group modules --server 127.0.0.1:9090, with a second tvm_rpc
on 9091); without it the case starts one of ours (TVMRPC_BIN) for its duration.
"""
import contextlib
import os
import socket
import struct
import subprocess
import tempfile
import time

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")

HELLO_C = r"""
#include <stdint.h>
#include <string.h>
typedef struct { int32_t type_index; uint32_t size; union { int64_t v; char b[8]; }; } any_t;
static int small_str(any_t *out, const char *s)
{
	out->type_index = 11; /* SmallStr: up to 7 bytes inline */
	out->size = (uint32_t)strlen(s);
	memset(out->b, 0, 8);
	memcpy(out->b, s, out->size);
	return 0;
}
int __tvm_ffi_hello(void *self, const any_t *args, int32_t n, any_t *out)
{
	(void)self; (void)args;
	out->type_index = 1;
	out->size = 0;
	out->v = 42 + n;
	return 0;
}
int __tvm_ffi__metadata_hello(void *self, const any_t *args, int32_t n, any_t *out)
{
	(void)self; (void)args; (void)n;
	return small_str(out, "{\"a\":1}");
}
int __tvm_ffi__doc_hello(void *self, const any_t *args, int32_t n, any_t *out)
{
	(void)self; (void)args; (void)n;
	return small_str(out, "hi doc");
}
"""


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def hello_library():
    """Bytes of a shared library built from HELLO_C."""
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "hello.c"), os.path.join(d, "hello.so")
        with open(src, "w") as f:
            f.write(HELLO_C)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", out, src], check=True)
        with open(out, "rb") as f:
            return f.read()


def relax_executable():
    """The serialised relax.VMExecutable embedded in mlp_digits.so (its library blob names
    the kind, then the payload as u64 length + bytes)."""
    lib = fixture("mlp_digits.so")
    kind = b"relax.VMExecutable"
    at = lib.index(struct.pack("<Q", len(kind)) + kind) + 8 + len(kind)
    (size,) = struct.unpack_from("<Q", lib, at)
    return lib[at + 8:at + 8 + size]


@contextlib.contextmanager
def far_server():
    """The port of a second server for rpc.Connect: MODULES_FAR_PORT, or one of ours started
    here and stopped afterwards."""
    if os.environ.get("MODULES_FAR_PORT"):
        yield int(os.environ["MODULES_FAR_PORT"])
        return
    from conftest import BIN
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([BIN, "--headless", "server", "--host", "127.0.0.1", "--port",
                             str(port), "--port-end", str(port + 1), "--key", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the far server on port %d did not start" % port)
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def workpath(r, name):
    return r.call("tvm.rpc.server.workpath", name, volatile=True)


def case_library_module(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.load_module("add_one.so")
    r.call("ffi.ModuleGetKind", mod)
    r.call("ffi.ModuleGetPropertyMask", mod)
    formats = r.call("ffi.ModuleGetWriteFormats", mod)
    r.call("ffi.ArraySize", formats)
    r.call("ffi.ModuleInspectSource", mod, "")
    r.call("ffi.ModuleInspectSource", mod, "asm")
    r.call("ffi.ModuleImplementsFunction", mod, "add_one", True)
    r.call("ffi.ModuleImplementsFunction", mod, "add_one", False)
    r.call("ffi.ModuleImplementsFunction", mod, "no_such_function", True)
    r.call("ffi.ModuleGetFunctionMetadata", mod, "add_one", True)
    r.call("ffi.ModuleGetFunctionDoc", mod, "add_one", False)
    f = r.call("ffi.ModuleGetFunction", mod, "add_one", True)
    x = r.tensor(np.arange(1024, dtype="float32") * 0.5)
    y = r.empty((1024,), "float32")
    r.call_ref(f, x, y)
    r.numpy(y)
    r.call("ffi.ModuleGetFunction", mod, "no_such_function", False)
    r.call("ffi.ModuleWriteToFile", mod, workpath(r, "copy.so"), "so", kind="RuntimeError")


def case_library_module_bad_arguments(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.load_module("add_one.so")
    r.call("ffi.ModuleGetKind", kind="TypeError")
    r.call("ffi.ModuleGetKind", 3, kind="TypeError")
    r.call("ffi.ModuleGetKind", "add_one.so", kind="TypeError")
    r.call("ffi.ModuleGetPropertyMask", None, kind="TypeError")
    r.call("ffi.ModuleGetWriteFormats", 1.5, kind="TypeError")
    r.call("ffi.ModuleInspectSource", mod, kind="TypeError")
    r.call("ffi.ModuleInspectSource", mod, 7, kind="TypeError")
    r.call("ffi.ModuleImplementsFunction", mod, "add_one", kind="TypeError")
    r.call("ffi.ModuleImplementsFunction", mod, 5, True, kind="TypeError")
    r.call("ffi.ModuleGetFunction", mod, "add_one", kind="TypeError")
    r.call("ffi.ModuleGetFunction", 1, "add_one", True, kind="TypeError")
    r.call("ffi.ModuleGetFunctionMetadata", mod, kind="TypeError")
    r.call("ffi.ModuleGetFunctionDoc", "x", "add_one", True, kind="TypeError")
    r.call("ffi.ModuleWriteToFile", mod, "x.so", kind="TypeError")
    r.call("ffi.ModuleImportModule", mod, kind="TypeError")
    r.call("ffi.ModuleImportModule", mod, 5, kind="TypeError")
    r.call("ffi.ModuleClearImports", kind="TypeError")
    r.call("ffi.ModuleGlobalsAdd", "m", kind="TypeError")
    r.call("ffi.ModuleGlobalsRemove", kind="TypeError")
    r.call("ffi.ModuleGetKind", mod)  # the session goes on


def case_metadata_and_doc(r):
    r.upload("hello.so", hello_library())
    mod = r.load_module("hello.so")
    r.call("ffi.ModuleGetFunctionMetadata", mod, "hello", False)
    r.call("ffi.ModuleGetFunctionDoc", mod, "hello", True)
    r.call("ffi.ModuleGetFunctionMetadata", mod, "missing", True)
    r.call("ffi.ModuleGetFunctionDoc", mod, "missing", False)
    f = r.call("ffi.ModuleGetFunction", mod, "hello", False)
    r.call_ref(f)
    r.call_ref(f, 1, 2)
    # Through an import: only with query_imports.
    r.upload("add_one.so", fixture("add_one.so"))
    parent = r.load_module("add_one.so")
    r.call("ffi.ModuleImportModule", parent, mod)
    r.call("ffi.ModuleGetFunctionMetadata", parent, "hello", True)
    r.call("ffi.ModuleGetFunctionMetadata", parent, "hello", False)
    r.call("ffi.ModuleGetFunctionDoc", parent, "hello", True)
    r.call("ffi.ModuleClearImports", parent)


def case_imports(r):
    r.upload("add_one.so", fixture("add_one.so"))
    r.upload("matmul.so", fixture("matmul.so"))
    a = r.load_module("add_one.so")
    m = r.load_module("matmul.so")
    r.call("ffi.ModuleImplementsFunction", a, "matmul", True)
    r.call("ffi.ModuleImportModule", a, m)
    r.call("ffi.ModuleImplementsFunction", a, "matmul", True)
    r.call("ffi.ModuleImplementsFunction", a, "matmul", False)
    f = r.call("ffi.ModuleGetFunction", a, "matmul", True)
    r.call("ffi.ModuleGetFunction", a, "matmul", False)
    x = r.tensor(np.eye(64, dtype="float32") * 2)
    y = r.tensor(np.arange(64 * 64, dtype="float32").reshape(64, 64) % 7)
    z = r.empty((64, 64), "float32")
    r.call_ref(f, x, y, z)
    r.numpy(z)
    r.call("ffi.ModuleImportModule", m, a, kind="RuntimeError")  # a cycle
    r.call("ffi.ModuleImportModule", a, a, kind="RuntimeError")
    r.call("tvm.rpc.server.ImportModule", m, a, kind="RuntimeError")
    r.call("ffi.ModuleClearImports", a)
    r.call("ffi.ModuleGetFunction", a, "matmul", True)
    r.call("ffi.ModuleImplementsFunction", a, "matmul", True)
    r.call("ffi.ModuleImportModule", m, a)  # no cycle any more
    r.call("ffi.ModuleImplementsFunction", m, "add_one", True)
    r.call("ffi.ModuleClearImports", m)


def case_system_library(r):
    lib = r.call("ffi.SystemLib")
    r.call("ffi.ModuleGetKind", lib)
    r.call("ffi.ModuleGetPropertyMask", lib)
    r.call("ffi.ModuleImplementsFunction", lib, "no_such_function", True)
    r.call("ffi.ModuleGetFunction", lib, "no_such_function", False)
    r.call("ffi.ModuleGetFunctionDoc", lib, "no_such_function", False)
    prefixed = r.call("ffi.SystemLib", "some_prefix_")
    r.call("ffi.ModuleGetKind", prefixed)
    r.call("ffi.SystemLib", 5, kind="TypeError")


def case_module_globals(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.load_module("add_one.so")
    r.call("ffi.ModuleGlobalsAdd", mod)
    r.call("ffi.ModuleGlobalsAdd", mod)
    r.call("ffi.ModuleGlobalsRemove", mod)
    r.call("ffi.ModuleGlobalsRemove", mod)
    r.call("ffi.ModuleGetKind", mod)


def case_load_from_file(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.call("ffi.ModuleLoadFromFile", workpath(r, "add_one.so"))
    r.call("ffi.ModuleGetKind", mod)
    r.call("ffi.ModuleImplementsFunction", mod, "add_one", False)
    r.call("ffi.Module.load_from_file.so", workpath(r, "add_one.so"), "so")
    r.call("ffi.Module.load_from_file.so", workpath(r, "missing.so"), "so", kind="InternalError")
    r.call("ffi.Module.load_from_file.so", 3, "so", kind="TypeError")
    r.upload("add_one.dso", fixture("add_one.so"))
    r.call("ffi.ModuleLoadFromFile", workpath(r, "add_one.dso"))
    r.call("ffi.ModuleLoadFromFile", "no_extension", kind="RuntimeError")
    r.call("ffi.ModuleLoadFromFile", workpath(r, "x.weird"), kind="RuntimeError")
    r.call("ffi.ModuleLoadFromFile", workpath(r, "missing.so"), kind="InternalError")
    r.call("ffi.ModuleLoadFromFile", 5, kind="TypeError")
    r.call("ffi.ModuleLoadFromFile", kind="TypeError")


def case_static_library(r):
    obj = b"\x7fELF not really an object file, but bytes to carry" * 3
    r.upload("kernels.o", obj)
    names = r.call("ffi.Array", "kernel_a", "kernel_b")
    lib = r.call("runtime.ModuleLoadStaticLibrary", workpath(r, "kernels.o"), names)
    r.call("ffi.ModuleGetKind", lib)
    r.call("ffi.ModuleGetPropertyMask", lib)
    r.call("ffi.ModuleImplementsFunction", lib, "kernel_b", False)
    r.call("ffi.ModuleImplementsFunction", lib, "kernel_c", True)
    r.call("ffi.ModuleImplementsFunction", lib, "get_func_names", False)
    f = r.call("ffi.ModuleGetFunction", lib, "get_func_names", False)
    got = r.call_ref(f)
    r.call("ffi.ArraySize", got)
    r.call("ffi.ArrayGetItem", got, 1)
    r.call("ffi.ModuleGetFunction", lib, "kernel_a", True)
    r.call("ffi.ModuleWriteToFile", lib, workpath(r, "written.o"), "o")
    r.call("tvm.rpc.server.download", "written.o")
    blob = struct.pack("<Q", len(obj)) + obj + struct.pack("<Q", 1) + struct.pack("<Q", 3) + b"fn1"
    lib2 = r.call("ffi.Module.load_from_bytes.static_library", blob)
    r.call("ffi.ModuleImplementsFunction", lib2, "fn1", False)
    r.call("ffi.ModuleGetKind", lib2)
    r.call("ffi.Module.load_from_bytes.static_library", blob[:10], kind="InternalError")
    r.call("ffi.Module.load_from_bytes.static_library", blob[:len(obj) + 12],
           kind="InternalError")
    r.call("runtime.ModuleLoadStaticLibrary", workpath(r, "kernels.o"), kind="TypeError")
    r.call("runtime.ModuleLoadStaticLibrary", workpath(r, "kernels.o"), 5, kind="TypeError")
    r.call("runtime.ModuleLoadStaticLibrary", workpath(r, "missing.o"), names,
           kind="InternalError")


def case_relax_executable_files(r):
    r.upload("mlp.exec", relax_executable())
    exe = r.call("relax.ExecutableLoadFromFile", workpath(r, "mlp.exec"))
    r.call("ffi.ModuleGetKind", exe)
    r.call("ffi.ModuleGetPropertyMask", exe)
    r.call("ffi.ModuleImplementsFunction", exe, "vm_load_executable", False)
    exe2 = r.call("ffi.Module.load_from_file.relax.VMExecutable", workpath(r, "mlp.exec"))
    r.call("ffi.ModuleGetKind", exe2)
    r.call("relax.ExecutableLoadFromFile", workpath(r, "missing.exec"), kind="InternalError")
    r.call("ffi.Module.load_from_file.relax.VMExecutable", workpath(r, "mlp.exec"), "x",
           kind="TypeError")
    r.call("relax.ExecutableLoadFromFile", kind="TypeError")
    r.call("relax.ExecutableLoadFromFile", 1, kind="TypeError")


def case_relax_library_module_tree(r):
    r.upload("mlp.so", fixture("mlp_digits.so"))
    exe = r.load_module("mlp.so")
    r.call("ffi.ModuleGetKind", exe)
    r.call("ffi.ModuleGetPropertyMask", exe)
    r.call("ffi.ModuleImplementsFunction", exe, "add", True)  # a kernel of the imported _lib
    r.call("ffi.ModuleImplementsFunction", exe, "add", False)
    r.call("ffi.ModuleGetFunction", exe, "relu", True)
    r.call("ffi.ModuleGetFunctionMetadata", exe, "relu", True)
    load = r.call("ffi.ModuleGetFunction", exe, "vm_load_executable", False)
    vm = r.call_ref(load)
    r.call("ffi.ModuleGetKind", vm)
    r.call("ffi.ModuleGetPropertyMask", vm)
    formats = r.call("ffi.ModuleGetWriteFormats", vm)
    r.call("ffi.ArraySize", formats)
    r.call("ffi.ModuleInspectSource", vm, "")
    r.call("ffi.ModuleWriteToFile", vm, workpath(r, "vm.bin"), "bin", kind="RuntimeError")


def case_const_loader(r):
    empty = r.call("ffi.Map")
    syms = r.call("ffi.Map", "fn_a", r.call("ffi.Array"))
    cl = r.call("ffi.Module.create.const_loader", empty, syms)
    r.call("ffi.ModuleGetKind", cl)
    r.call("ffi.ModuleGetPropertyMask", cl)
    get = r.call("ffi.ModuleGetFunction", cl, "get_const_var_tensor", False)
    m = r.call_ref(get)
    r.call("ffi.MapSize", m)
    r.upload("add_one.so", fixture("add_one.so"))
    lib = r.load_module("add_one.so")
    r.call("ffi.ModuleImportModule", cl, lib)
    r.call("ffi.ModuleGetFunction", cl, "add_one", False)
    r.call("ffi.ModuleGetFunction", cl, "fn_a", False)
    r.call("ffi.ModuleImplementsFunction", cl, "add_one", False)
    missing = r.call("ffi.Map", "fn_b", r.call("ffi.Array", "w0"))
    r.call("ffi.Module.create.const_loader", empty, missing, kind="InternalError")
    r.call("ffi.Module.create.const_loader", empty, kind="TypeError")
    r.call("ffi.Module.create.const_loader", 1, syms, kind="TypeError")
    blob = struct.pack("<QQ", 0, 0) + struct.pack("<Q", 1) + struct.pack("<Q", 3) + b"fnx" + \
        struct.pack("<Q", 1) + struct.pack("<Q", 0)
    cl2 = r.call("ffi.Module.load_from_bytes.const_loader", blob)
    r.call("ffi.ModuleGetKind", cl2)
    r.call("ffi.Module.load_from_bytes.const_loader", blob[:12], kind="InternalError")
    r.call("ffi.Module.load_from_bytes.const_loader", b"\x01\x00\x00\x00\x00\x00\x00\x00x" * 2,
           kind="InternalError")


def case_const_loader_tensor_blob(r):
    data = np.arange(6, dtype="float32")
    tensor = struct.pack("<QQiiiBBH", 0xDD5E40F096B4A13F, 0, 1, 0, 1, 2, 32, 1) + \
        struct.pack("<q", 6) + struct.pack("<q", data.nbytes) + data.tobytes()
    blob = (struct.pack("<Q", 1) + struct.pack("<Q", 2) + b"w0" + struct.pack("<Q", 1) + tensor +
            struct.pack("<Q", 1) + struct.pack("<Q", 2) + b"f0" + struct.pack("<Q", 1) +
            struct.pack("<Q", 1) + struct.pack("<Q", 2) + b"w0")
    cl = r.call("ffi.Module.load_from_bytes.const_loader", blob)
    get = r.call("ffi.ModuleGetFunction", cl, "get_const_var_tensor", False)
    m = r.call_ref(get)
    r.call("ffi.MapSize", m)
    t = r.call("ffi.MapGetItem", m, "w0")
    r.numpy(t)
    bad = blob[:26] + b"\xff" + blob[27:]  # the tensor magic
    r.call("ffi.Module.load_from_bytes.const_loader", bad, kind="InternalError")


def case_global_registry(r):
    functor = r.call("ffi.FunctionListGlobalNamesFunctor")
    n = r.call_ref(functor, -1, volatile=True)
    r.call_ref(functor, 0, volatile=True)
    # Read the whole list outside the trace: its length differs between the servers.
    names = [r.session.call(functor.handle, i) for i in range(n)]
    wanted = ["ffi.ModuleGetKind", "ffi.FunctionListGlobalNamesFunctor", "rpc.Connect",
              "tvm.rpc.server.upload", "ffi.Module.load_from_file.so"]
    r.note("listed", sorted(x for x in wanted if x in names))
    r.call_ref(functor, n, kind="IndexError")
    r.call_ref(functor, "x", kind="TypeError")
    r.call_ref(functor, kind="TypeError")
    r.call("ffi.FunctionListGlobalNamesFunctor", 1, kind="TypeError")
    r.call("ffi.GetGlobalFuncMetadata", "tvm.rpc.server.workpath")
    r.call("ffi.GetGlobalFuncMetadata", "no.such.global", kind="RuntimeError")
    r.call("ffi.GetGlobalFuncMetadata", 3, kind="TypeError")
    r.call("ffi.FunctionRemoveGlobal", "no.such.global")
    r.call("ffi.FunctionRemoveGlobal", "rpc.LocalSession")
    r.call("ffi.FunctionRemoveGlobal", "rpc.LocalSession")
    r.call("ffi.GetGlobalFuncMetadata", "rpc.LocalSession", kind="RuntimeError")
    r.call("ffi.FunctionRemoveGlobal", kind="TypeError")
    r.call("ffi.FunctionFromExternC", refused=True)


def case_rpc_connect_multihop(r):
    with far_server() as port:
        sess = r.call("rpc.Connect", "127.0.0.1", port, r.key, False)
        r.call("ffi.ModuleGetKind", sess)
        r.call("ffi.ModuleGetPropertyMask", sess)
        r.call("rpc.SessTableIndex", sess)
        f = r.call("tvm.rpc.server.ModuleGetFunction", sess, "ffi.String", True)
        r.call_ref(f, "a string that goes through two servers")
        r.call("tvm.rpc.server.ModuleGetFunction", sess, "no.such.global", True)
        r.call("ffi.ModuleImplementsFunction", sess, "ffi.Bytes", True)
        r.call("ffi.ModuleImplementsFunction", sess, "no.such.global", True)
        make = r.call("ffi.ModuleGetFunction", sess, "ffi.Array", False)
        arr = r.call_ref(make, 1, 2, "three")
        size = r.call("ffi.ModuleGetFunction", sess, "ffi.ArraySize", False)
        r.call_ref(size, arr)
        up = r.call("ffi.ModuleGetFunction", sess, "tvm.rpc.server.upload", False)
        r.call_ref(up, "far.so", fixture("add_one.so"))
        far = r.call("rpc.LoadRemoteModule", sess, "far.so")
        r.call("ffi.ModuleGetKind", far)
        r.call("rpc.SessTableIndex", far)
        r.call("ffi.ModuleGetFunction", far, "add_one", True)
        r.call("ffi.ModuleGetFunction", far, "no_such_function", True)
        r.call("rpc.LoadRemoteModule", sess, "missing.so", kind="FileNotFoundError")
        r.call("ffi.ModuleGetKind", sess)  # both sessions go on
        close = r.call("ffi.ModuleGetFunction", sess, "CloseRPCConnection", False)
        r.call_ref(close)


def case_rpc_bad_input(r):
    r.upload("add_one.so", fixture("add_one.so"))
    lib = r.load_module("add_one.so")
    r.call("rpc.Connect", "127.0.0.1", 1, r.key, False, kind="InternalError")
    with far_server() as port:
        r.call("rpc.Connect", "127.0.0.1", port, "no-such-key", False, kind="InternalError")
    r.call("rpc.SessTableIndex", lib, kind="InternalError")
    r.call("rpc.LoadRemoteModule", lib, "add_one.so", kind="InternalError")
    r.call("rpc.LoadRemoteModule", 1, "add_one.so", kind="TypeError")
    r.call("rpc.ImportRemoteModule", lib, lib, kind="InternalError")
    r.call("rpc.ImportRemoteModule", 1, lib, kind="TypeError")
    t = r.empty((2, 3), "float32")
    sess = r.call("rpc.LocalSession")
    r.call("tvm.rpc.TensorFromRemoteOpaqueHandle", sess, h_ptr(0), t, dev_cpu(), h_ptr(0),
           kind="InternalError")
    r.call("tvm.rpc.TensorFromRemoteOpaqueHandle", lib, h_ptr(0), t, dev_cpu(), h_ptr(0),
           kind="ValueError")
    r.call("tvm.rpc.TensorFromRemoteOpaqueHandle", sess, kind="TypeError")
    r.call("ffi.ModuleGetKind", lib)


def case_rpc_local_session(r):
    sess = r.call("rpc.LocalSession")
    r.call("ffi.ModuleGetKind", sess)
    r.call("ffi.ModuleGetPropertyMask", sess)
    r.call("rpc.SessTableIndex", sess)
    f = r.call("ffi.ModuleGetFunction", sess, "ffi.String", False)
    r.call_ref(f, "local")
    r.call("ffi.ModuleGetFunction", sess, "no.such.global", False)
    r.call("rpc.LocalSession", 1, kind="TypeError")


def case_rpc_refused(r):
    r.call("rpc.ServerLoop", "not a descriptor", refused=True)
    r.call("rpc.ReturnException", -1, "message", refused=True)
    r.call("rpc.CreatePipeClient", 5, refused=True)
    r.call("rpc.CreateEventDrivenServer", 1, "name", "key", refused=True)
    r.call("rpc.ServerCreate", refused=True)
    r.call("device_api.rpc", refused=True)


def h_ptr(v):
    import tvm_wire as w
    return w.OpaquePtr(v)


def dev_cpu():
    import tvm_wire as w
    return w.Device(1, 0)
