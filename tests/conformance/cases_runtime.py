"""Conformance cases: the runtime.*, device_api.cpu and tvm.contrib.* globals of TVM's CPU runtime
(tensor allocation, views and copies, parameter blobs, FunctionInfo metadata, device streams, the
thread pool, the CPU timer, RuntimeEnabled, the contrib sort and random libraries). Tensors the
server returns travel back as DLTensor headers; where TVM wants a Tensor object (CreateView,
IsStorageShared, Map values) the case passes the tensor's handle as an object reference.
See harness.py for the runner API."""
import json

import numpy as np

import harness as h

W = h.w
CPU = W.Device(1, 0)
CUDA = W.Device(2, 0)
F32 = W.DataType(2, 32)
U8 = W.DataType(1, 8)
I64 = W.DataType(0, 64)


def obj(ref):
    """Pass a returned object (a Tensor Ref) as an object reference, not a DLTensor header."""
    return W.ObjectRef(ref.handle)


def alloc(r, shape, dtype=F32, scope=None):
    return r.call("runtime.TVMTensorAllocWithScope", r.call("ffi.Shape", *shape), dtype, CPU,
                  scope)


# ---- tensors -----------------------------------------------------------------------------

def case_tensor_alloc(r):
    t = alloc(r, (2, 3))
    r.numpy(t)  # zeroed
    alloc(r, (), I64, "global")
    alloc(r, (0, 5), U8, "")
    arr = r.call("ffi.Array", 4)
    r.call("runtime.TVMTensorAllocWithScope", arr, F32, CPU, None)  # an Array converts to Shape
    r.call("runtime.TVMTensorAllocWithScope", arr, "int8", CPU, None)  # so does a dtype string
    r.call("runtime.TVMTensorAllocWithScope", arr, "floatx", CPU, None, kind="ValueError")
    shp = r.call("ffi.Shape", 2)
    r.call("runtime.TVMTensorAllocWithScope", shp, F32, CPU, "texture", kind="InternalError")
    r.call("runtime.TVMTensorAllocWithScope", shp, F32, CUDA, None, kind="InternalError")
    r.call("runtime.TVMTensorAllocWithScope", shp, F32, 1, None, kind="TypeError")
    r.call("runtime.TVMTensorAllocWithScope", shp, 7, CPU, None, kind="TypeError")
    r.call("runtime.TVMTensorAllocWithScope", 3, F32, CPU, None, kind="TypeError")
    r.call("runtime.TVMTensorAllocWithScope", shp, F32, CPU, kind="TypeError")
    r.call("runtime.TVMTensorAllocWithScope", shp, F32, CPU, None, 1, kind="TypeError")
    r.call("runtime.TVMTensorAllocWithScope", shp, F32, CPU, 5, kind="TypeError")


def case_tensor_copies(r):
    a = r.tensor(np.arange(6, dtype="float32").reshape(2, 3))
    t = alloc(r, (2, 3))
    r.call("runtime.TVMTensorCopyFromTo", a, t)
    r.numpy(t)
    b = r.empty((6,), "float32")
    r.call("runtime.TVMTensorCopyFromTo", t, b)  # same size, other shape
    r.numpy(b)
    r.call("runtime.TVMTensorCopyFromTo", a, r.empty((5,), "float32"), kind="InternalError")
    r.call("runtime.TVMTensorCopyFromTo", a, 3, kind="TypeError")
    # Bytes from / to a data pointer this session allocated.
    src = r.tensor(np.array([7, 8, 9, 10], dtype="int32"))
    dst = r.empty((4,), "int32")
    r.call("runtime.TVMTensorCopyFromBytes", dst, W.OpaquePtr(src.header.data), 16)
    r.numpy(dst)
    out = r.empty((4,), "int32")
    r.call("runtime.TVMTensorCopyToBytes", dst, W.OpaquePtr(out.header.data), 16)
    r.numpy(out)
    r.call("runtime.TVMTensorCopyFromBytes", dst, W.OpaquePtr(src.header.data), 12,
           kind="InternalError")
    r.call("runtime.TVMTensorCopyToBytes", dst, W.OpaquePtr(out.header.data), 20,
           kind="InternalError")
    r.call("runtime.TVMTensorCopyToBytes", dst, 5, 16, kind="TypeError")
    r.call("runtime.TVMTensorCopyFromBytes", 1, W.OpaquePtr(src.header.data), 16,
           kind="TypeError")


def case_tensor_views(r):
    a = r.tensor(np.arange(6, dtype="float32"))
    t = alloc(r, (2, 3))
    r.call("runtime.TVMTensorCopyFromTo", a, t)
    v = r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Shape", 3), F32, 12)
    # A returned view's byte offset is not read back alike (TVM's copy ignores it, ours folds it
    # into the data pointer): copy the view into a fresh tensor on the server to see it.
    seen = r.empty((3,), "float32")
    r.call("runtime.TVMTensorCopyFromTo", v, seen)
    r.numpy(seen)
    whole = r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Shape", 6), F32, 0)
    r.numpy(whole)
    bytes_view = r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Shape", 4), U8, 4)
    seen = r.empty((4,), "uint8")
    r.call("runtime.TVMTensorCopyFromTo", bytes_view, seen)
    r.numpy(seen)
    r.call("runtime.TVMTensorIsStorageShared", obj(t), obj(t))
    r.call("runtime.TVMTensorIsStorageShared", obj(t), obj(whole))
    r.call("runtime.TVMTensorIsStorageShared", obj(t), obj(v))
    r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Shape", 3), F32, 16,
           kind="ValueError")
    r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Shape", 7), F32, 0,
           kind="ValueError")
    # A DLTensor* is not a Tensor: TVM's typed signatures refuse it.
    r.call("runtime.TVMTensorCreateView", a, r.call("ffi.Shape", 3), F32, 0, kind="TypeError")
    r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Array", 2), "int32", 4)
    r.call("runtime.TVMTensorCreateView", obj(t), r.call("ffi.Shape", 2), F32, kind="TypeError")
    r.call("runtime.TVMTensorIsStorageShared", a, a, kind="TypeError")
    r.call("runtime.TVMTensorIsStorageShared", obj(t), 1, kind="TypeError")


# ---- parameter blobs ------------------------------------------------------------------------

def _params(r):
    a = r.tensor(np.arange(6, dtype="float32").reshape(2, 3))
    w = alloc(r, (2, 3))
    r.call("runtime.TVMTensorCopyFromTo", a, w)
    half = r.call("runtime.TVMTensorCreateView", obj(w), r.call("ffi.Shape", 3), F32, 12)
    u8 = alloc(r, (5,), U8)
    r.call("runtime.TVMTensorCopyFromTo", r.tensor(np.array([1, 2, 3, 250, 255], "uint8")), u8)
    scalar = alloc(r, (), I64)
    r.call("runtime.TVMTensorCopyFromTo", r.tensor(np.array(-5, "int64")), scalar)
    empty = alloc(r, (0, 4))
    return r.call("ffi.Map", "weight", obj(w), "b", obj(half), "bytes", obj(u8),
                  "a-longer-parameter-name", obj(scalar), "empty", obj(empty))


def case_params_roundtrip(r):
    m = _params(r)
    blob = r.call("runtime.SaveParams", m)
    back = r.call("runtime.LoadParams", blob)
    r.call("ffi.MapSize", back)
    for name in ("weight", "b", "bytes", "a-longer-parameter-name", "empty"):
        r.numpy(r.call("ffi.MapGetItem", back, name))
    r.call("runtime.SaveParams", back)  # the same bytes again
    r.call("runtime.SaveParams", r.call("ffi.Map"))
    r.call("runtime.LoadParams", r.call("runtime.SaveParams", r.call("ffi.Map")))


def case_params_files(r):
    m = _params(r)
    path = r.call("tvm.rpc.server.workpath", "model.params", volatile=True)
    r.call("runtime.SaveParamsToFile", m, path)
    back = r.call("runtime.LoadParamsFromFile", path)
    r.call("ffi.MapSize", back)
    r.numpy(r.call("ffi.MapGetItem", back, "weight"))
    r.call("runtime.SaveParams", back)
    r.upload("garbage.params", b"not a parameter blob at all")
    garbage = r.call("tvm.rpc.server.workpath", "garbage.params", volatile=True)
    r.call("runtime.LoadParamsFromFile", garbage, kind="InternalError")
    missing = r.call("tvm.rpc.server.workpath", "missing.params", volatile=True)
    r.call("runtime.LoadParamsFromFile", missing, kind="InternalError")
    r.call("runtime.LoadParamsFromFile", 3, kind="TypeError")
    r.call("runtime.SaveParamsToFile", m, kind="TypeError")


def _blob_variants(blob):
    """Malformed blobs every reader must refuse (header and length fields)."""
    n_names = int.from_bytes(blob[16:24], "little")
    assert n_names == 1
    name_len = int.from_bytes(blob[24:32], "little")
    tensor_at = 32 + name_len + 8
    return [
        ("empty", b""),
        ("short header", blob[:12]),
        ("bad magic", b"\0" * 8 + blob[8:]),
        ("truncated names", blob[:28]),
        ("huge name count", blob[:16] + b"\xff" * 8 + blob[24:]),
        ("huge name length", blob[:24] + b"\xff" * 8 + blob[32:]),
        ("count mismatch", blob[:tensor_at - 8] + (2).to_bytes(8, "little") + blob[tensor_at:]),
        ("bad tensor magic", blob[:tensor_at] + b"\0" * 8 + blob[tensor_at + 8:]),
        ("not cpu", blob[:tensor_at + 16] + (2).to_bytes(4, "little") + blob[tensor_at + 20:]),
        ("truncated tensor header", blob[:tensor_at + 20]),
        ("size mismatch", blob[:tensor_at + 40] + (7).to_bytes(8, "little") +
         blob[tensor_at + 48:]),
    ]


def case_params_malformed(r):
    one = r.call("ffi.Map", "p", obj(alloc(r, (2,))))
    blob = r.call("runtime.SaveParams", one)
    for label, bad in _blob_variants(blob):
        r.note("variant", label)
        r.call("runtime.LoadParams", bad, kind="InternalError")
    r.call("runtime.LoadParams", "text", kind="TypeError")
    r.call("runtime.LoadParams", kind="TypeError")
    r.call("runtime.SaveParams", 5, kind="TypeError")
    r.call("runtime.SaveParams", r.call("ffi.Map", "x", 1), kind="TypeError")
    r.call("runtime.SaveParams", r.call("ffi.Map", 1, obj(alloc(r, (1,)))), kind="TypeError")


def _blob(names, tensors):
    """A parameter blob built by hand: (name, float32 values) pairs, TVM's layout."""
    import struct
    out = struct.pack("<QQQ", 0xF7E58D4F05049CB7, 0, len(names))
    for n in names:
        out += struct.pack("<Q", len(n)) + n.encode()
    out += struct.pack("<Q", len(tensors))
    for v in tensors:
        data = np.asarray(v, "float32").tobytes()
        out += struct.pack("<QQiiiBBHq", 0xDD5E40F096B4A13F, 0, 1, 0, 1, 2, 32, 1, len(v))
        out += struct.pack("<q", len(data)) + data
    return out


def case_params_duplicates(r):
    """A name given twice: the later tensor wins, and the map keeps TVM's order."""
    for names in (["a", "b", "a"], ["p1", "p2", "p3", "p4", "p5", "p2"]):
        blob = _blob(names, [[float(i)] * (i + 1) for i in range(len(names))])
        m = r.call("runtime.LoadParams", blob)
        r.call("ffi.MapSize", m)
        r.numpy(r.call("ffi.MapGetItem", m, names[1]))
        r.call("runtime.SaveParams", m)
    # Trailing bytes after the last tensor are ignored by both readers.
    r.call("ffi.MapSize", r.call("runtime.LoadParams", _blob(["x"], [[1.0]]) + b"tail"))


def case_metadata_json(r):
    doc = {"tvm_version": "0.1.0", "func_info": {
        "add": {"name": "add", "arg_types": ["float32", "float32", "int64x4", "bool"],
                "launch_param_tags": ["threadIdx.x"], "arg_extra_tags": [0, 1]},
        "old": {"name": "old", "arg_types": [], "thread_axis_tags": ["blockIdx.x"]},
        "bare": {"name": "bare", "arg_types": ["handle"]}}}
    m = r.call("runtime.LoadMetaDataFromJSON", json.dumps(doc))
    r.call("ffi.MapSize", m)
    r.call("ffi.MapGetItem", m, "add")
    r.call("ffi.MapGetItem", m, "old")
    r.call("ffi.MapSize", r.call("runtime.LoadMetaDataFromJSON", '{"func_info": {}}'))
    bad = [("{", "ValueError"), ("{}", "KeyError"), ("[]", "TypeError"),
           ('{"func_info": []}', "TypeError"), ('{"func_info": {"f": 1}}', "TypeError"),
           ('{"func_info": {"f": {"arg_types": []}}}', "KeyError"),
           ('{"func_info": {"f": {"name": 1, "arg_types": []}}}', "TypeError"),
           ('{"func_info": {"f": {"name": "f"}}}', "KeyError"),
           ('{"func_info": {"f": {"name": "f", "arg_types": ["floatx"]}}}', "ValueError"),
           ('{"func_info": {"f": {"name": "f", "arg_types": [3]}}}', "TypeError"),
           ('{"func_info": {"f": {"name": "f", "arg_types": [], "arg_extra_tags": ["x"]}}}',
            "TypeError")]
    for text, kind in bad:
        r.call("runtime.LoadMetaDataFromJSON", text, kind=kind)
    r.call("runtime.LoadMetaDataFromJSON", 1, kind="TypeError")


# ---- devices, threads, timers ------------------------------------------------------------------

def case_device_streams(r):
    r.call("device_api.cpu")
    r.call("runtime.Device_StreamCreate", CPU)
    r.call("runtime.Device_StreamFree", CPU, 0)
    r.call("runtime.Device_SetStream", CPU, 0)
    r.call("runtime.Device_StreamSync", CPU, 0)
    r.call("runtime.Device_StreamSyncFromTo", CPU, 0, 0)
    r.call("runtime.TVMSetStream", 1, 0, None)
    r.call("runtime.TVMSetStream", 1, 0, W.OpaquePtr(0))
    r.call("runtime.Device_StreamCreate", CUDA, kind="InternalError")
    r.call("runtime.Device_StreamSync", CUDA, 0, kind="InternalError")
    r.call("runtime.Device_SetStream", W.Device(4, 0), 0, kind="InternalError")
    r.call("runtime.TVMSetStream", 2, 0, None, kind="InternalError")
    r.call("runtime.Device_StreamCreate", 1, kind="TypeError")
    r.call("runtime.Device_StreamSync", CPU, "s", kind="TypeError")
    r.call("runtime.Device_StreamSyncFromTo", CPU, 0, kind="TypeError")
    r.call("runtime.TVMSetStream", 1, 0, 5, kind="TypeError")


def case_threads(r):
    r.call("runtime.NumThreads", volatile=True)  # the machine's cores (TVM: half on x86)
    r.call("runtime.config_threadpool", 1, 1)
    r.call("runtime.NumThreads")
    r.call("runtime.config_threadpool", 0, 1, r.call("ffi.Array", "0"))
    r.call("runtime.NumThreads")
    r.call("runtime.config_threadpool", 1, 0)
    r.call("runtime.NumThreads", volatile=True)
    r.call("runtime.config_threadpool", 1, -3)
    r.call("runtime.NumThreads")
    r.call("runtime.config_threadpool", -2, 0, r.call("ffi.Array", "a"), kind="InternalError")
    r.call("runtime.config_threadpool", "big", 0, kind="TypeError")


def case_typed_arity(r):
    """Typed globals check their argument count before anything else (TypeError)."""
    a = r.tensor(np.zeros(2, "float32"))
    r.call("runtime.NumThreads", 5, kind="TypeError")
    r.call("runtime.RuntimeEnabled", "cpu", 1, kind="TypeError")
    r.call("runtime.timer.cpu", CPU, 1, kind="TypeError")
    r.call("runtime.TVMTensorCopyFromTo", a, a, 1, kind="TypeError")
    r.call("runtime.TVMTensorCopyFromBytes", a, W.OpaquePtr(a.header.data), kind="TypeError")
    r.call("runtime.TVMTensorCopyToBytes", a, kind="TypeError")
    r.call("runtime.TVMTensorIsStorageShared", kind="TypeError")
    r.call("runtime.SaveParams", r.call("ffi.Map"), 1, kind="TypeError")
    r.call("runtime.SaveParamsToFile", r.call("ffi.Map"), "x.params", 1, kind="TypeError")
    r.call("runtime.LoadParams", b"x", 1, kind="TypeError")
    r.call("runtime.LoadParamsFromFile", kind="TypeError")
    r.call("runtime.LoadMetaDataFromJSON", "{}", 1, kind="TypeError")
    r.call("runtime.Device_StreamCreate", CPU, 5, kind="TypeError")
    r.call("runtime.TVMSetStream", 1, 0, kind="TypeError")
    r.call("device_api.cpu", 1)  # untyped: extra arguments are ignored


def case_timer_and_runtimes(r):
    r.call("runtime.timer.cpu", CPU)
    r.call("runtime.timer.cpu", CUDA)
    r.call("runtime.timer.cpu", 1, kind="TypeError")
    for target in ("cpu", "cuda", "gpu", "opencl", "metal", "vulkan", "rpc", "rocm", "nvptx",
                   "llvm -mcpu=skylake", "hexagon", "tflite"):
        r.call("runtime.RuntimeEnabled", target)
    r.call("runtime.RuntimeEnabled", "abacus", kind="InternalError")
    r.call("runtime.RuntimeEnabled", 3, kind="TypeError")


# ---- tvm.contrib.sort ---------------------------------------------------------------------------

def _sort_data():
    x = np.array([[3, 1, 2, 1, np.nan, 7, -2, 1, 0, 9, 9, -0.0, 4, 2, 8, 1, 3],
                  [5, 5, 5, np.nan, np.nan, 1, 2, 3, 0.5, -1, 6, 6, 0, 0, 2, 2, 1]],
                 dtype="float32")
    return x


def case_sort_argsort(r):
    x = r.tensor(_sort_data())
    for dtype, ascend, axis in (("int32", True, 1), ("int64", False, -1), ("float32", True, 0),
                                ("float64", False, 1)):
        out = r.empty((2, 17), dtype)
        r.call("tvm.contrib.sort.argsort", x, out, axis, ascend)
        r.numpy(out)
    for dtype in ("int32", "int64", "float16", "float64"):
        ints = r.tensor(np.array([[4, -1, 4, 2, 0, 2, 7, 4, 1, 3]], dtype=dtype))
        out = r.empty((1, 10), "int32")
        r.call("tvm.contrib.sort.argsort", ints, out, 1, False)
        r.numpy(out)
    out = r.empty((2, 17), "int32")
    r.call("tvm.contrib.sort.argsort", x, out, 2, True, kind="InternalError")
    r.call("tvm.contrib.sort.argsort", x, r.empty((2, 17), "int8"), 1, True,
           kind="InternalError")
    r.call("tvm.contrib.sort.argsort", r.tensor(np.zeros((3,), "uint8")), out, 0, True,
           kind="InternalError")
    r.call("tvm.contrib.sort.argsort", x, 5, 0, True, kind="TypeError")


def case_sort_values(r):
    x = r.tensor(_sort_data())
    out = r.empty((2, 17), "float32")
    r.call("tvm.contrib.sort.sort", x, out, 1, True)
    r.numpy(out)
    r.call("tvm.contrib.sort.sort", x, out, 0, False)
    r.numpy(out)
    for dtype in ("int32", "int64", "float16", "float64"):
        v = r.tensor(np.array([4, -1, 4, 2, 0, 2, 7, 4, 1, 3, 11, -6, 0, 5, 5], dtype=dtype))
        o = r.empty((15,), dtype)
        r.call("tvm.contrib.sort.sort", v, o, 0, False)
        r.numpy(o)
    r.call("tvm.contrib.sort.sort", x, r.empty((2, 17), "int32"), 1, True, kind="InternalError")
    r.call("tvm.contrib.sort.sort", x, out, 2, True, kind="InternalError")
    r.call("tvm.contrib.sort.sort", r.tensor(np.zeros((4,), "int8")), r.empty((4,), "int8"), 0,
           True, kind="InternalError")


def case_sort_topk(r):
    x = r.tensor(_sort_data())
    for k, axis, ascend, idx in ((3, 1, False, "int32"), (5, -1, True, "int64"),
                                 (0, 1, False, "float32"), (-1, 0, True, "float64"),
                                 (1, 0, False, "int32")):
        extent = 17 if axis in (1, -1) else 2
        kk = extent if k < 1 else k
        shape = (2, kk) if axis in (1, -1) else (kk, 17)
        values, indices = r.empty(shape, "float32"), r.empty(shape, idx)
        r.call("tvm.contrib.sort.topk", x, values, indices, k, axis, "both", ascend)
        r.numpy(values)
        r.numpy(indices)
    values = r.empty((2, 4), "float32")
    r.call("tvm.contrib.sort.topk", x, values, 4, 1, "values", True)
    r.numpy(values)
    indices = r.empty((2, 4), "int64")
    r.call("tvm.contrib.sort.topk", x, indices, 4, 1, "indices", False)
    r.numpy(indices)
    for dtype, idx in (("uint8", "uint8"), ("int8", "int8"), ("int32", "int64"),
                       ("int64", "int32"), ("float16", "int32"), ("float64", "int64")):
        v = r.tensor(np.array([[4, 1, 4, 2, 0, 2, 7, 4, 1, 3]], dtype=dtype))
        vals, inds = r.empty((1, 3), dtype), r.empty((1, 3), idx)
        r.call("tvm.contrib.sort.topk", v, vals, inds, 3, 1, "both", False)
        r.numpy(vals)
        r.numpy(inds)
    r.call("tvm.contrib.sort.topk", x, values, indices, -2, 1, "both", False,
           kind="InternalError")
    r.call("tvm.contrib.sort.topk", x, values, indices, 4, 2, "both", False,
           kind="InternalError")
    r.call("tvm.contrib.sort.topk", x, values, 4, 1, "top", False, kind="InternalError")
    r.call("tvm.contrib.sort.topk", x, values, r.empty((2, 4), "int8"), 4, 1, "both", False,
           kind="InternalError")
    r.call("tvm.contrib.sort.topk", r.tensor(np.zeros((2,), "uint16")), values, 1, 0, "values",
           False, kind="InternalError")
    r.call("tvm.contrib.sort.topk", x, values, 4, 1, 7, False, kind="TypeError")


def case_sort_argsort_nms(r):
    x = r.tensor(np.array([[0.5, 0.9, 0.1, 0.9, 0.3], [1, 2, 3, 4, 5],
                           [5, 4, 3, 2, 1]], dtype="float32"))
    counts = r.tensor(np.array([4, 0, 5], dtype="int32"))
    out = r.empty((3, 5), "int32")
    r.call("tvm.contrib.sort.argsort_nms", x, counts, out, 1, False)
    r.numpy(out)
    r.call("tvm.contrib.sort.argsort_nms", x, counts, out, -1, True)
    r.numpy(out)
    r.call("tvm.contrib.sort.argsort_nms", x, counts, out, 2, True, kind="InternalError")
    r.call("tvm.contrib.sort.argsort_nms", r.tensor(np.zeros((2, 2), "float64")), counts, out, 1,
           True, kind="InternalError")
    r.call("tvm.contrib.sort.argsort_nms", r.tensor(np.zeros((2, 2), "int32")), counts, out, 1,
           True, kind="InternalError")
    r.call("tvm.contrib.sort.argsort_nms", x, 4, out, 1, True, kind="TypeError")


# ---- tvm.contrib.random -------------------------------------------------------------------------

def case_random_seeded(r):
    out = r.empty((3, 5), "float32")
    # (seed, seed2) pairs give the same numbers on every call and on both servers.
    for seed, seed2 in ((1, 2), (1, 2), (42, 0), (-7, 123456789)):
        r.call("tvm.contrib.random.uniform", seed, seed2, -1.5, 2.0, out)
        r.numpy(out)
        r.call("tvm.contrib.random.normal", seed, seed2, 3.0, 0.5, out)
        r.numpy(out)
    odd = r.empty((7,), "float32")
    r.call("tvm.contrib.random.normal", 5, 6, 0, 1, odd)  # ints convert to float
    r.numpy(odd)


def case_random_unseeded(r):
    out = r.empty((2000,), "float32")
    r.call("tvm.contrib.random.uniform", 2.0, 5.0, out)
    a = r.session.copy_from_remote(out.header, out.header.nbytes)
    v = np.frombuffer(a, "float32")
    r.note("uniform within [2, 5)", bool(v.min() >= 2.0 and v.max() < 5.0))
    r.note("uniform mean", float(v.mean()), tol=0.15)
    r.call("tvm.contrib.random.uniform", 0, 0, 2.0, 5.0, out)  # seeds 0, 0: unseeded
    r.call("tvm.contrib.random.normal", 10.0, 2.0, out)
    v = np.frombuffer(r.session.copy_from_remote(out.header, out.header.nbytes), "float32")
    r.note("normal mean", float(v.mean()), tol=0.3)
    r.note("normal std", float(v.std()), tol=0.3)
    for dtype, lo, hi in (("int32", -5, 5), ("uint8", 10, 300), ("int8", -200, 0),
                          ("int16", 0, 3), ("uint32", 0, 2 ** 40)):
        t = r.empty((500,), dtype)
        r.call("tvm.contrib.random.randint", lo, hi, t)
        v = np.frombuffer(r.session.copy_from_remote(t.header, t.header.nbytes), dtype)
        info = np.iinfo(dtype)
        r.note("randint %s in range" % dtype,
               bool(v.min() >= max(lo, info.min) and v.max() < min(hi, info.max + 1)))


def case_random_errors(r):
    out = r.empty((4,), "float32")
    r.call("tvm.contrib.random.uniform", 1.0, 1.0, out, kind="InternalError")
    r.call("tvm.contrib.random.uniform", 1.0, out, kind="InternalError")
    r.call("tvm.contrib.random.uniform", 0.0, 1.0, r.empty((4,), "float64"),
           kind="InternalError")
    r.call("tvm.contrib.random.uniform", 0.0, 1.0, 3, kind="TypeError")
    r.call("tvm.contrib.random.normal", 0.0, 0.0, out, kind="InternalError")
    r.call("tvm.contrib.random.normal", 1, 2, 0.0, -1.0, out, kind="InternalError")
    r.call("tvm.contrib.random.normal", 0.0, 1.0, r.empty((4,), "int32"), kind="InternalError")
    r.call("tvm.contrib.random.normal", 1, 2, 3, out, kind="InternalError")
    r.call("tvm.contrib.random.randint", 5, 5, r.empty((4,), "int32"), kind="InternalError")
    r.call("tvm.contrib.random.randint", 0, 5, out, kind="InternalError")
    r.call("tvm.contrib.random.randint", 0, 5, r.empty((4,), "int64"), kind="InternalError")
    r.call("tvm.contrib.random.randint", "0", 5, r.empty((4,), "int32"), kind="TypeError")


def case_random_fill(r):
    for name in ("tvm.contrib.random.random_fill", "tvm.contrib.random.random_fill_for_measure"):
        for dtype in ("float32", "float64", "uint8", "int32", "float16"):
            t = r.empty((300,), dtype)
            r.call(name, t)
            v = np.frombuffer(r.session.copy_from_remote(t.header, t.header.nbytes), dtype)
            if dtype == "int32":
                v = v.view("float32")  # filled by width, as floats
            r.note("%s %s within [1, 10]" % (name, dtype),
                   bool(v.min() >= 1 and v.max() <= 10 and v.max() > v.min()))
        r.call(name, 3, kind="TypeError")
