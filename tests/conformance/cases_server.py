"""Conformance cases: the server's own globals (file service, modules, device attributes, time
evaluator). See harness.py for the runner API."""
import os

import numpy as np

import harness as h

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def case_file_service(r):
    r.call("tvm.rpc.server.upload", "notes.txt", b"hello, board 0123456789")
    r.call("tvm.rpc.server.download", "notes.txt")
    r.call("tvm.rpc.server.listdir", ".", volatile=True)  # absolute paths in the work dir
    r.call("tvm.rpc.server.workpath", "notes.txt", volatile=True)
    r.call("tvm.rpc.server.remove", "notes.txt")
    r.call("tvm.rpc.server.listdir", ".")
    r.call("tvm.rpc.server.download", "notes.txt", kind="FileNotFoundError")
    r.call("tvm.rpc.server.upload", "x.bin", kind="TypeError")


def case_load_and_run_add_one(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.load_module("add_one.so")
    f = r.call("tvm.rpc.server.ModuleGetFunction", mod, "add_one", True)
    r.call("tvm.rpc.server.ModuleGetFunction", mod, "no_such_function", True)
    x = r.tensor(np.arange(1024, dtype="float32"))
    y = r.empty((1024,), "float32")
    r.call_ref(f, x, y)
    r.numpy(y)
    r.call("tvm.rpc.server.load_module", "missing.so", kind="FileNotFoundError")


def case_device_attributes(r):
    for kind in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13):
        r.call("runtime.GetDeviceAttr", 1, 0, kind)
    r.call("runtime.GetDeviceAttr", 1, 0, 14, volatile=True)
    r.call("runtime.GetDeviceAttr", 1, 0, kind="TypeError")


def library_blob(so_bytes_path):
    """The bytes of `__tvm_ffi__library_bin` in a library file, found with binutils (nm for
    the symbol's address and size, readelf for the section that holds it)."""
    import subprocess
    sym = subprocess.run(["nm", "-S", "-D", so_bytes_path], capture_output=True, text=True,
                         check=True).stdout
    addr, size = next((int(p[0], 16), int(p[1], 16)) for p in
                      (line.split() for line in sym.splitlines())
                      if len(p) == 4 and p[3] == "__tvm_ffi__library_bin")
    secs = subprocess.run(["readelf", "-W", "-S", so_bytes_path], capture_output=True,
                          text=True, check=True).stdout
    for line in secs.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 5 and parts[0].startswith("[") and parts[1].startswith("."):
            sec_addr, sec_off, sec_size = (int(parts[3], 16), int(parts[4], 16),
                                           int(parts[5], 16))
            if sec_addr <= addr < sec_addr + sec_size:
                with open(so_bytes_path, "rb") as f:
                    f.seek(sec_off + addr - sec_addr)
                    return f.read(size)
    raise ValueError("no section holds __tvm_ffi__library_bin")


def executable_payload(blob):
    """The relax.VMExecutable payload of a library blob (docs/relax-vm.md §1.2)."""
    import struct
    pos = 8
    for _ in range(2):  # indptr, child
        (n,) = struct.unpack_from("<Q", blob, pos)
        pos += 8 + 8 * n
    (klen,) = struct.unpack_from("<Q", blob, pos)
    kind = blob[pos + 8:pos + 8 + klen]
    assert kind == b"relax.VMExecutable", kind
    pos += 8 + klen
    (plen,) = struct.unpack_from("<Q", blob, pos)
    return blob[pos + 8:pos + 8 + plen]


def case_executable_from_bytes(r):
    payload = executable_payload(library_blob(os.path.join(FIXTURES, "mlp_digits.so")))
    ex = r.call("ffi.Module.load_from_bytes.relax.VMExecutable", payload)
    r.call("ffi.ModuleGetKind", ex)
    r.call("ffi.ModuleImplementsFunction", ex, "vm_load_executable", False)
    # Written back, the executable is the very bytes it was loaded from.
    path = r.call("tvm.rpc.server.workpath", "exec.bin", volatile=True)
    r.call("ffi.ModuleWriteToFile", ex, path, "bin")
    r.note("written back unchanged", r.session.download("exec.bin") == payload)
    r.call("ffi.Module.load_from_bytes.relax.VMExecutable", b"not an executable",
           kind="ValueError")
    r.call("ffi.Module.load_from_bytes.relax.VMExecutable", payload[:40], kind="ValueError")


def case_system_lib(r):
    lib = r.call("ffi.SystemLib")
    r.call("ffi.ModuleGetKind", lib)
    r.call("ffi.ModuleGetFunction", lib, "no_such_kernel", True)
    r.call("ffi.SystemLib", "myprefix_")


def case_time_evaluator_and_cache_flush(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.load_module("add_one.so")
    x = r.tensor(np.arange(1024, dtype="float32"))
    y = r.empty((1024,), "float32")
    r.call("cache_flush_cpu_non_first_arg", x, y)
    ev = r.call("runtime.RPCTimeEvaluator", mod, "add_one", 1, 0, 3, 2, 0, 100, 0, 1, 0,
                "cache_flush_cpu_non_first_arg")
    r.call_ref(ev, x, y, volatile=True)  # 2 repeats: 16 bytes of timings
    r.numpy(y)
    r.call("runtime.RPCTimeEvaluator", mod, "no_such_function", 1, 0, 3, 2, 0, 100, 0, 1, 0,
           "", kind="AttributeError")


def case_download_linked_module(r):
    import subprocess
    import tempfile
    kernel = os.path.join(os.path.dirname(FIXTURES), "models", "vector_add.c")
    with tempfile.TemporaryDirectory() as tmp:
        obj = os.path.join(tmp, "lib0.o")
        subprocess.run(["cc", "-c", "-fPIC", "-O2", "-o", obj, kernel], check=True)
        with open(obj, "rb") as f:
            r.upload("kernel.o", f.read())
    r.call("tvm.rpc.server.download_linked_module", "kernel.o", volatile=True)
    r.call("tvm.rpc.server.download_linked_module", "missing.o", kind="FileNotFoundError")


def case_global_metadata(r):
    """ffi.GetGlobalFuncMetadata: the type schema of typed globals, the packed form of untyped
    ones, "" for the server's file service, across every group."""
    for name in ("ffi.MapSize", "ffi.Array", "ffi.json.Parse", "ffi.StructuralHash",
                 "ffi.ModuleGetKind", "ffi.Shape", "runtime.SaveParams", "runtime.NumThreads",
                 "runtime.TVMTensorAllocWithScope", "tvm.contrib.sort.topk",
                 "tvm.contrib.random.uniform", "vm.builtin.make_shape",
                 "vm.builtin.tensor_cache.get", "rpc.Connect", "rpc.LoadRemoteModule",
                 "device_api.cpu", "__tvm_set_device", "tvm.rpc.server.workpath",
                 "tvm.rpc.server.upload", "runtime.RPCTimeEvaluator",
                 "vm.builtin.call_py_func", "ffi.FunctionFromExternC"):
        r.call("ffi.GetGlobalFuncMetadata", name)
