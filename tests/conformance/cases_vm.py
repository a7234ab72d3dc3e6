"""Conformance cases: the Relax VM's vm.builtin.* globals (TVM's runtime/vm/builtin.cc,
tensor_cache_support.cc and memory_manager.cc), called as a remote client calls them: shapes
and the shape heap (a tensor the client owns), the checks compiled code makes, tuples, values,
the tensor cache and its loader on uploaded cache files, and the refused Python-function
registry. Remote tensors arrive as DLTensor*, so the globals TVM types as Tensor refuse them
with a TypeError on both servers. Builtins that need the running VM (%vm) are only called with
arguments TVM itself refuses (an Int where void* is declared): TVM would dereference any
pointer. See harness.py for the runner API."""
import json
import struct

import numpy as np

import harness as h

W = h.w


def shape(r, *dims):
    """A Shape object made by vm.builtin.make_shape with immediates (code 0)."""
    args = [None, len(dims)]
    for d in dims:
        args += [0, d]
    return r.call("vm.builtin.make_shape", *args)


def function(r, name):
    """A remote handle to the global `name`, to pass as a Function argument."""
    return h.Ref(W.TI.FUNCTION, r._func(name))


def case_make_and_match_shape(r):
    s = shape(r, 3, 4)
    r.call("vm.builtin.check_shape_info", s, 2, None)
    r.call("vm.builtin.check_shape_info", s, -1, "ctx")
    r.call("vm.builtin.check_shape_info", s, 3, "ctx", kind="ValueError")
    r.call("vm.builtin.check_shape_info", s, 2, kind="TypeError")
    r.call("vm.builtin.check_shape_info", 5, 2, None, kind="TypeError")
    r.call("vm.builtin.check_shape_info", "abc", 2, None, kind="TypeError")
    r.call("vm.builtin.check_shape_info", s, "2", None, kind="TypeError")
    r.call("vm.builtin.check_shape_info", s, 2, 5, kind="TypeError")
    # match against immediates (code 0) and no-ops (code 2)
    r.call("vm.builtin.match_shape", s, None, 2, 0, 3, 0, 4, "ctx")
    r.call("vm.builtin.match_shape", s, None, 2, 2, 0, 2, 0, "ctx")
    r.call("vm.builtin.match_shape", s, None, 2, 0, 3, 0, 5, "ctx", kind="RuntimeError")
    r.call("vm.builtin.match_shape", s, None, 3, 0, 3, 0, 4, 0, 1, "ctx", kind="RuntimeError")
    r.call("vm.builtin.match_shape", s, None, 5, 0, 3, 0, 4, "ctx", kind="InternalError")
    r.call("vm.builtin.match_shape", s, None, 2, 0, 3, 9, 4, "ctx", kind="InternalError")
    r.call("vm.builtin.match_shape", s, None, 2, 0, 3, 0, 4, None, kind="TypeError")
    r.call("vm.builtin.match_shape", 7, None, 2, 0, 3, 0, 4, "ctx", kind="TypeError")
    r.call("vm.builtin.match_shape", s, None, "2", 0, 3, 0, 4, "ctx", kind="TypeError")
    r.call("vm.builtin.match_shape", s, None, 2, 0, "3", 0, 4, "ctx", kind="TypeError")
    # make_shape: immediates only; an unknown code
    r.call("vm.builtin.make_shape", None, 0)
    r.call("vm.builtin.make_shape", None, 2, 0, 1, 5, 2, kind="InternalError")
    r.call("vm.builtin.make_shape", None, "2", 0, 1, kind="TypeError")
    # the dims of a tensor argument
    t = r.tensor(np.zeros((2, 5), "float32"))
    r.call("vm.builtin.match_shape", t, None, 2, 0, 2, 0, 5, "ctx")
    r.call("vm.builtin.match_shape", t, None, 2, 0, 2, 0, 6, "ctx", kind="RuntimeError")


def case_shape_heap(r):
    """Store dims into a heap the client allocated, load them back (codes 1 and 3)."""
    heap = r.tensor(np.zeros(3, "int64"))
    s = shape(r, 6, 7)
    r.call("vm.builtin.match_shape", s, heap, 2, 1, 0, 1, 2, "ctx")
    r.numpy(heap)
    r.call("vm.builtin.match_shape", s, heap, 2, 3, 0, 3, 2, "ctx")
    r.call("vm.builtin.match_shape", s, heap, 2, 3, 2, 3, 0, "ctx", kind="RuntimeError")
    back = r.call("vm.builtin.make_shape", heap, 3, 1, 2, 0, 9, 1, 0)
    r.call("vm.builtin.check_shape_info", back, 3, None)
    r.call("vm.builtin.match_shape", back, None, 3, 0, 7, 0, 9, 0, 6, "ctx")
    r.call("vm.builtin.make_prim_value", heap, 1, 0)
    r.call("vm.builtin.make_prim_value", heap, 0, 42)
    r.call("vm.builtin.make_prim_value", heap, 2, 0, kind="InternalError")
    r.call("vm.builtin.make_prim_value", None, 0, 1, kind="TypeError")
    r.call("vm.builtin.make_prim_value", heap, 0, kind="TypeError")
    r.call("vm.builtin.match_prim_value", 11, heap, 1, 1, "ctx")
    r.numpy(heap)
    r.call("vm.builtin.match_prim_value", 11, heap, 3, 1, None)
    r.call("vm.builtin.match_prim_value", 12, heap, 3, 1, "ctx", kind="RuntimeError")
    r.call("vm.builtin.match_prim_value", 5, heap, 0, 5, "ctx")
    r.call("vm.builtin.match_prim_value", 5, heap, 0, 6, "ctx", kind="RuntimeError")
    r.call("vm.builtin.match_prim_value", 5, heap, 2, 0, "ctx")
    r.call("vm.builtin.match_prim_value", 5, heap, 7, 0, "ctx", kind="InternalError")
    r.call("vm.builtin.match_prim_value", 5, None, 0, 5, "ctx", kind="TypeError")
    r.call("vm.builtin.match_prim_value", 5.5, heap, 0, 5, "ctx", kind="TypeError")
    r.call("vm.builtin.match_prim_value", 5, heap, 0, 5, kind="TypeError")
    # Any tensor serves as a heap: its bytes are read and written as int64 slots.
    f = r.tensor(np.array([0.0, 1.0, 2.0, 3.0], "float32"))
    r.call("vm.builtin.check_shape_info", r.call("vm.builtin.make_shape", f, 2, 1, 0, 1, 1), 2,
           None)
    r.call("vm.builtin.make_prim_value", f, 1, 1)
    r.call("vm.builtin.match_prim_value", 1 << 40, f, 1, 0, "ctx")
    r.numpy(f)


def case_needs_the_vm(r):
    """Builtins that take the VM (%vm): a remote caller cannot supply it."""
    s = shape(r, 16)
    r.call("vm.builtin.alloc_shape_heap", 1, 4, kind="TypeError")
    r.call("vm.builtin.alloc_shape_heap", "vm", 4, kind="TypeError")
    r.call("vm.builtin.alloc_shape_heap", 4, kind="TypeError")
    r.call("vm.builtin.alloc_storage", 1, s, 0, "uint8", "global", kind="TypeError")
    r.call("vm.builtin.alloc_storage", 1, s, 0, "uint8", kind="TypeError")
    r.call("vm.builtin.alloc_tensor", 1, 0, s, "float32", kind="TypeError")
    r.call("vm.builtin.alloc_tensor", s, 0, s, "float32", kind="TypeError")
    r.call("vm.builtin.make_closure", 1, kind="TypeError")
    r.call("vm.builtin.make_closure", s, 2, kind="TypeError")
    r.call("vm.builtin.invoke_closure", 1, 2, kind="TypeError")
    r.call("vm.builtin.invoke_closure", "vm", s, kind="TypeError")


def case_check_tensor_info(r):
    t = r.tensor(np.zeros((2, 3), "float32"))
    r.call("vm.builtin.check_tensor_info", t, 2, "ctx")
    r.call("vm.builtin.check_tensor_info", t, -1, None)
    r.call("vm.builtin.check_tensor_info", t, 2, "float32", "ctx")
    r.call("vm.builtin.check_tensor_info", t, 2, W.DataType(2, 32), "ctx")
    r.call("vm.builtin.check_tensor_info", t, 2, None, "ctx")
    r.call("vm.builtin.check_tensor_info", t, 3, "ctx", kind="ValueError")
    r.call("vm.builtin.check_tensor_info", t, 2, "int32", "ctx", kind="ValueError")
    r.call("vm.builtin.check_tensor_info", t, 2, W.DataType(2, 16), None, kind="ValueError")
    r.call("vm.builtin.check_tensor_info", t, 2, "blah", "ctx", kind="ValueError")
    r.call("vm.builtin.check_tensor_info", t, 2, 5, "ctx", kind="TypeError")
    r.call("vm.builtin.check_tensor_info", t, 2, 5, kind="TypeError")
    r.call("vm.builtin.check_tensor_info", t, "2", "ctx", kind="TypeError")
    r.call("vm.builtin.check_tensor_info", 1, 2, "ctx", kind="TypeError")
    r.call("vm.builtin.check_tensor_info", shape(r, 2, 3), 2, "ctx", kind="TypeError")


def case_check_values(r):
    r.call("vm.builtin.check_prim_value_info", 1, "int32", "ctx")
    r.call("vm.builtin.check_prim_value_info", True, "bool", "ctx")
    r.call("vm.builtin.check_prim_value_info", 3, "uint8", None)
    r.call("vm.builtin.check_prim_value_info", 1, "float32", "ctx")
    r.call("vm.builtin.check_prim_value_info", 2.5, "float64", "ctx")
    r.call("vm.builtin.check_prim_value_info", 1, W.DataType(0, 64), "ctx")
    r.call("vm.builtin.check_prim_value_info", 2.5, "int32", "ctx", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", "x", "int32", "ctx", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", 1, "bfloat16", "ctx", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", 1, "void", "ctx", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", 1, "handle", "ctx", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", 1, "blah", "ctx", kind="ValueError")
    r.call("vm.builtin.check_prim_value_info", 1, 5, "ctx", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", shape(r, 1), "int32", "c", kind="TypeError")
    r.call("vm.builtin.check_prim_value_info", 1, "int32", kind="TypeError")
    tup = r.call("vm.builtin.make_tuple", 1, 2)
    r.call("vm.builtin.check_tuple_info", tup, 2, "ctx")
    r.call("vm.builtin.check_tuple_info", tup, 3, "ctx", kind="ValueError")
    r.call("vm.builtin.check_tuple_info", shape(r, 1), 1, None, kind="TypeError")
    r.call("vm.builtin.check_tuple_info", 1, 1, None, kind="TypeError")
    r.call("vm.builtin.check_tuple_info", tup, 2, kind="TypeError")
    r.call("vm.builtin.check_func_info", function(r, "ffi.Array"), "ctx")
    r.call("vm.builtin.check_func_info", function(r, "ffi.Array"), None)
    r.call("vm.builtin.check_func_info", tup, "ctx", kind="TypeError")
    r.call("vm.builtin.check_func_info", 1, "ctx", kind="TypeError")
    r.call("vm.builtin.check_func_info", tup, kind="TypeError")


def case_tuples(r):
    tup = r.call("vm.builtin.make_tuple", "abc", 1.5, None, "a longer string", 7)
    r.call("ffi.ArraySize", tup)
    for i in range(5):
        r.call("vm.builtin.tuple_getitem", tup, i)
    r.call("vm.builtin.tuple_getitem", tup, 5, kind="IndexError")
    r.call("vm.builtin.tuple_getitem", tup, -1, kind="IndexError")
    r.call("vm.builtin.tuple_getitem", tup, "0", kind="TypeError")
    r.call("vm.builtin.tuple_getitem", 1, 0, kind="TypeError")
    r.call("vm.builtin.tuple_reset_item", tup, 0)
    r.call("ffi.ArrayGetItem", tup, 0)
    r.call("ffi.ArraySize", tup)
    r.call("vm.builtin.tuple_reset_item", tup, 7, kind="IndexError")
    r.call("vm.builtin.tuple_reset_item", shape(r, 1), 0, kind="TypeError")
    r.call("vm.builtin.tuple_reset_item", tup, kind="TypeError")
    empty = r.call("vm.builtin.make_tuple")
    r.call("ffi.ArraySize", empty)
    nested = r.call("vm.builtin.make_tuple", tup, empty)
    r.call("vm.builtin.tuple_getitem", nested, 1)
    # A tensor in a tuple: the tuple is made (TVM keeps the raw pointer; ours a copy).
    t = r.tensor(np.arange(3, dtype="int32"))
    r.call("ffi.ArraySize", r.call("vm.builtin.make_tuple", t, 1))


def case_values(r):
    for v in (5, 2.5, True, None, "abc", "a longer string", b"\x00bytes\xff",
              W.DataType(2, 32)):
        r.call("vm.builtin.copy", v)
    r.call("vm.builtin.copy", kind="TypeError")
    r.call("vm.builtin.copy", 1, 2, kind="TypeError")
    r.call("vm.builtin.null_value")
    r.call("vm.builtin.null_value", 1, kind="TypeError")
    r.call("vm.builtin.read_if_cond", 0)
    r.call("vm.builtin.read_if_cond", 5)
    r.call("vm.builtin.read_if_cond", True)
    r.call("vm.builtin.read_if_cond", 2.0, kind="TypeError")
    r.call("vm.builtin.read_if_cond", "x", kind="TypeError")
    r.call("vm.builtin.read_if_cond", r.tensor(np.ones(1, "int32")), kind="TypeError")
    r.call("vm.builtin.memory_manager.clear")
    r.call("vm.builtin.memory_manager.clear", 1, kind="TypeError")


def case_tensor_views(r):
    t = r.tensor(np.arange(6, dtype="float32"))
    s = r.call("vm.builtin.shape_of", t)
    r.call("vm.builtin.check_shape_info", s, 1, None)
    r.call("vm.builtin.match_shape", s, None, 1, 0, 6, "ctx")
    r.call("vm.builtin.shape_of", 1, kind="TypeError")
    r.call("vm.builtin.shape_of", shape(r, 2), kind="TypeError")
    v = r.call("vm.builtin.reshape", t, shape(r, 2, 3))
    r.numpy(v)
    r.numpy(r.call("vm.builtin.reshape", t, r.call("ffi.Array", 3, 2)))
    r.call("vm.builtin.reshape", t, shape(r, 4, 3), kind="ValueError")
    r.call("vm.builtin.reshape", t, 6, kind="TypeError")
    r.call("vm.builtin.reshape", 1, shape(r, 6), kind="TypeError")
    r.call("vm.builtin.reshape", t, r.call("ffi.Array", "a"), kind="TypeError")
    # Tensor-typed globals refuse the DLTensor* a remote tensor travels as.
    i = r.tensor(np.array([2, 3], "int64"))
    r.call("vm.builtin.tensor_to_shape", i, kind="TypeError")
    r.call("vm.builtin.ensure_zero_offset", i, kind="TypeError")
    r.call("vm.builtin.to_device", i, 1, 0, kind="TypeError")
    r.call("vm.builtin.to_device", i, 1, 0, "global", kind="TypeError")
    r.call("vm.builtin.tensor_to_shape", 1, kind="TypeError")
    r.call("vm.builtin.ensure_zero_offset", shape(r, 1), kind="TypeError")


def case_calls(r):
    arr = function(r, "ffi.Array")
    out = r.call("vm.builtin.call_tir_dyn", arr, 1, "x", shape(r, 2, 3))
    r.call("ffi.ArraySize", out)
    for k in range(4):
        r.call("ffi.ArrayGetItem", out, k)
    out = r.call("vm.builtin.call_tir_dyn", arr, shape(r))
    r.call("ffi.ArraySize", out)
    out = r.call("vm.builtin.call_tir_dyn", arr, 5, r.call("ffi.Array", 8, 9))
    r.call("ffi.ArraySize", out)
    r.call("vm.builtin.call_tir_dyn", arr, 1, 2, kind="TypeError")
    r.call("vm.builtin.call_tir_dyn", 1, shape(r, 2), kind="TypeError")
    r.call("vm.builtin.call_tir_dyn", function(r, "ffi.ArraySize"), shape(r, 2),
           kind="TypeError")
    # invoke_debug_func(io_effect=None, name, line_info, args...) calls the global
    r.call("vm.builtin.invoke_debug_func", None, "ffi.String", "line")
    r.call("vm.builtin.invoke_debug_func", None, "ffi.Array", "line", 1, 2)
    r.call("vm.builtin.invoke_debug_func", None, "no.such.global", "line", kind="ValueError")
    r.call("vm.builtin.invoke_debug_func", shape(r, 1), "ffi.String", "line",
           kind="ValueError")
    r.call("vm.builtin.invoke_debug_func", "effect", "ffi.String", "line", kind="ValueError")
    r.call("vm.builtin.invoke_debug_func", 1, "ffi.String", "line", kind="TypeError")
    r.call("vm.builtin.invoke_debug_func", None, "ffi.String", kind="InternalError")
    r.call("vm.builtin.invoke_debug_func", None, 5, "line", kind="TypeError")
    r.call("vm.builtin.invoke_debug_func", None, "ffi.ArraySize", "line", kind="TypeError")


def case_tensor_cache(r):
    r.call("vm.builtin.tensor_cache.clear")
    w0 = r.tensor(np.array([1.5, -2.0], "float32"))
    w1 = r.tensor(np.arange(6, dtype="int32").reshape(2, 3))
    r.call("vm.builtin.tensor_cache.get", "w_0")
    r.call("vm.builtin.tensor_cache.update", "w_0", w0)
    r.call("vm.builtin.tensor_cache.update", "w_1", w1, False)
    r.call("vm.builtin.tensor_cache.update", "w_0", w1, kind="InternalError")
    r.call("vm.builtin.tensor_cache.update", "w_0", w1, False, kind="InternalError")
    r.call("vm.builtin.tensor_cache.update", "w_0", w0, True)
    w0.copyfrom(np.array([9.0, 9.0], "float32"))  # the cache holds its own copy
    r.numpy(r.call("vm.builtin.tensor_cache.get", "w_0"))
    r.numpy(r.call("vm.builtin.tensor_cache.get", "w_1"))
    r.call("vm.builtin.tensor_cache.update", "w_2", 5, kind="TypeError")
    r.call("vm.builtin.tensor_cache.update", 5, w0, kind="TypeError")
    r.call("vm.builtin.tensor_cache.update", "w_2", w0, "yes", kind="TypeError")
    r.call("vm.builtin.tensor_cache.update", "w_2", kind="InternalError")
    r.call("vm.builtin.tensor_cache.update", "w_2", w0, True, 1, kind="InternalError")
    r.call("vm.builtin.tensor_cache.get", kind="TypeError")
    r.call("vm.builtin.tensor_cache.get", 1, kind="TypeError")
    # arrays and modules of params, by prefix and by name
    a = r.call("vm.builtin.param_array_from_cache", "w", -1)
    r.call("ffi.ArraySize", a)
    r.numpy(r.call("ffi.ArrayGetItem", a, 1))
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "w", 1))
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "w", 0))
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "nope", -1))
    r.call("vm.builtin.param_array_from_cache", "w", 3, kind="InternalError")
    r.call("vm.builtin.param_array_from_cache", "w", kind="TypeError")
    r.call("vm.builtin.param_array_from_cache", 1, 1, kind="TypeError")
    m = r.call("vm.builtin.param_module_from_cache", "w", 2)
    r.call("ffi.ModuleGetKind", m)
    get = r.call("tvm.rpc.server.ModuleGetFunction", m, "get_params", False)
    params = r.call_ref(get)
    r.call("ffi.ArraySize", params)
    r.numpy(r.call("ffi.ArrayGetItem", params, 0))
    r.call("tvm.rpc.server.ModuleGetFunction", m, "other", False)
    r.call("vm.builtin.param_module_from_cache", "w", 5, kind="InternalError")
    names = r.call("ffi.Array", "w_1", "w_0")
    by_name = r.call("vm.builtin.param_array_from_cache_by_name", names)
    r.numpy(r.call("ffi.ArrayGetItem", by_name, 0))
    m = r.call("vm.builtin.param_module_from_cache_by_name", names)
    r.call("ffi.ModuleGetKind", m)
    r.call("vm.builtin.param_array_from_cache_by_name", r.call("ffi.Array", "zz"),
           kind="ValueError")
    r.call("vm.builtin.param_module_from_cache_by_name", r.call("ffi.Array", "w_0", "zz"),
           kind="ValueError")
    r.call("vm.builtin.param_array_from_cache_by_name", r.call("ffi.Array", 1),
           kind="TypeError")
    r.call("vm.builtin.param_array_from_cache_by_name", "w_0", kind="TypeError")
    un = r.call("vm.builtin.param_array_from_cache_by_name_unpacked", "w_0", "w_1", "w_0")
    r.call("ffi.ArraySize", un)
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache_by_name_unpacked"))
    r.call("vm.builtin.param_array_from_cache_by_name_unpacked", "w_0", 1, kind="ValueError")
    r.call("vm.builtin.param_array_from_cache_by_name_unpacked", "zz", kind="ValueError")
    # remove (twice, and a name never cached), clear
    r.call("vm.builtin.tensor_cache.remove", "w_0")
    r.call("vm.builtin.tensor_cache.remove", "w_0")
    r.call("vm.builtin.tensor_cache.remove", "never")
    r.call("vm.builtin.tensor_cache.get", "w_0")
    r.call("vm.builtin.tensor_cache.remove", 1, kind="TypeError")
    r.call("vm.builtin.tensor_cache.clear")
    r.call("vm.builtin.tensor_cache.get", "w_1")
    r.call("vm.builtin.tensor_cache.clear", 1, kind="TypeError")


def _record(name, shape, dtype, nbytes, offset, fmt="raw"):
    return {"name": name, "shape": shape, "dtype": dtype, "format": fmt, "nbytes": nbytes,
            "byteOffset": offset}


def _cache_json(shards):
    return json.dumps({"metadata": {}, "records": shards}).encode()


SHARD0 = np.array([1.5, -2.0, 3.25], "float32").tobytes() + np.array([7, -8], "int16").tobytes()
# bfloat16 1.0 and -3.0: the upper halves of the float32 values
SHARD1 = struct.pack("<HH", 0x3F80, 0xC040) + np.arange(4, dtype="uint8").tobytes()
GOOD = [
    {"dataPath": "params_shard_0.bin", "format": "raw-shard", "nbytes": len(SHARD0),
     "records": [_record("p_0", [3], "float32", 12, 0), _record("p_1", [1, 2], "int16", 4, 12)]},
    {"dataPath": "params_shard_1.bin", "format": "raw-shard", "nbytes": len(SHARD1),
     "records": [_record("p_2", [2], "float32", 4, 0, "f32-to-bf16"),
                 _record("p_3", [2, 2], "uint8", 4, 4)]},
]


def _load(r, wd, kind=None):
    return r.call("vm.builtin.tensor_cache.load", wd, 1, 0, kind=kind)


def case_tensor_cache_load(r):
    """A cache directory uploaded to the work directory, loaded by its absolute path."""
    r.call("vm.builtin.tensor_cache.clear")
    wd = r.call("tvm.rpc.server.workpath", "", volatile=True)
    r.upload("params_shard_0.bin", SHARD0)
    r.upload("params_shard_1.bin", SHARD1)
    r.upload("tensor-cache.json", _cache_json(GOOD))
    _load(r, wd)
    for i in range(4):
        r.numpy(r.call("vm.builtin.tensor_cache.get", "p_%d" % i))
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "p", -1))
    _load(r, wd)  # loading again replaces the names
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "p", -1))
    r.call("vm.builtin.tensor_cache.load", wd, 1, kind="TypeError")
    r.call("vm.builtin.tensor_cache.load", 1, 1, 0, kind="TypeError")
    r.call("vm.builtin.tensor_cache.load", wd + "/no-such-dir", 1, 0, kind="InternalError")
    r.call("vm.builtin.tensor_cache.clear")


def case_tensor_cache_load_malformed(r):
    """Malformed metadata and shards: errors with TVM's kinds, and the session goes on."""
    r.call("vm.builtin.tensor_cache.clear")
    wd = r.call("tvm.rpc.server.workpath", "", volatile=True)
    r.upload("params_shard_0.bin", SHARD0)
    r.upload("params_shard_1.bin", SHARD1)
    bad = [
        (b"{\"records\": [", "InternalError"),
        (b"\x00\xffgarbage", "InternalError"),
        (b"", "InternalError"),
        (b"[1, 2]", "ValueError"),
        (b"{}", "KeyError"),
        (b"{\"records\": 5}", "TypeError"),
        (b"{\"records\": [5]}", "TypeError"),
        (_cache_json([{"dataPath": "params_shard_0.bin"}]), "KeyError"),
        (_cache_json([dict(GOOD[0], nbytes="20")]), "TypeError"),
        (_cache_json([dict(GOOD[0], records=[dict(GOOD[0]["records"][0], dtype="floaty")])]),
         "ValueError"),
        (_cache_json([dict(GOOD[0], records=[{"name": "p_0"}])]), "KeyError"),
        (_cache_json([dict(GOOD[0], format="zip")]), "ValueError"),
        (_cache_json([dict(GOOD[0], nbytes=21)]), "ValueError"),
        (_cache_json([dict(GOOD[0], dataPath="missing.bin")]), "InternalError"),
        (_cache_json([dict(GOOD[0], records=[_record("p_0", [4], "float32", 12, 0)])]),
         "InternalError"),
    ]
    for data, kind in bad:
        r.upload("tensor-cache.json", data)
        _load(r, wd, kind)
    r.call("vm.builtin.tensor_cache.get", "p_0")
    # the first shard stays loaded when the second fails
    broken = dict(GOOD[1], records=[_record("p_2", [9], "uint8", 4, 0)])
    r.upload("tensor-cache.json", _cache_json([GOOD[0], broken]))
    _load(r, wd, "InternalError")
    r.numpy(r.call("vm.builtin.tensor_cache.get", "p_0"))
    r.call("vm.builtin.tensor_cache.get", "p_2")
    r.call("vm.builtin.tensor_cache.clear")


def case_python_functions_refused(r):
    r.call("vm.builtin.call_py_func", r.call("ffi.Array", "f", r.call("ffi.Array")),
           refused=True)
    r.call("vm.builtin.get_py_func", "f", refused=True)
    r.call("vm.builtin.clear_py_func_registry", refused=True)
    r.call("vm.builtin.register_py_func", "f", function(r, "ffi.Array"), refused=True)


def case_lists_where_arrays_are_declared(r):
    """tvm-ffi converts a List where an Array<Any>, Array<str> or Shape is declared, but not
    where the builtin takes the Array object itself."""
    lst = r.call("ffi.List", 1, 2)
    r.call("vm.builtin.tuple_getitem", lst, 1)
    r.call("vm.builtin.tuple_getitem", lst, 2, kind="IndexError")
    r.call("vm.builtin.tuple_reset_item", lst, 0, kind="TypeError")
    r.call("vm.builtin.check_tuple_info", lst, 2, None, kind="TypeError")
    t = r.tensor(np.arange(4, dtype="float32"))
    r.numpy(r.call("vm.builtin.reshape", t, r.call("ffi.List", 2, 2)))
    r.call("vm.builtin.reshape", t, r.call("ffi.List", 2, "x"), kind="TypeError")
    out = r.call("vm.builtin.call_tir_dyn", function(r, "ffi.Array"), 0, r.call("ffi.List", 2))
    r.call("ffi.ArraySize", out)
    r.call("vm.builtin.match_shape", r.call("ffi.List", 3, 4), None, 2, 0, 3, 0, 4, "ctx")
    r.call("vm.builtin.match_shape", r.call("ffi.Array", 3, 4), None, 2, 0, 3, 0, 5, "ctx",
           kind="RuntimeError")
    r.call("vm.builtin.tensor_cache.update", "l_0", t)
    names = r.call("ffi.List", "l_0")
    r.numpy(r.call("ffi.ArrayGetItem", r.call("vm.builtin.param_array_from_cache_by_name",
                                              names), 0))
    r.call("vm.builtin.param_array_from_cache_by_name", r.call("ffi.List", "l_0", 3),
           kind="TypeError")
    r.call("vm.builtin.tensor_cache.clear")


def case_tensor_cache_quirks(r):
    """What tvm-ffi's conversions make of odd arguments: a None tensor is cached (the name is
    then taken, but lookups miss it), std::string parameters take bytes, and C++ `int`
    parameters keep the low 32 bits of an int64."""
    r.call("vm.builtin.tensor_cache.clear")
    t = r.tensor(np.arange(3, dtype="int32"))
    r.call("vm.builtin.tensor_cache.update", "q_0", None)
    r.call("vm.builtin.tensor_cache.get", "q_0")
    r.call("vm.builtin.tensor_cache.update", "q_0", t, kind="InternalError")
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "q", -1))
    r.call("vm.builtin.param_array_from_cache", "q", 1, kind="InternalError")
    r.call("vm.builtin.tensor_cache.update", "q_0", t, True)
    r.numpy(r.call("vm.builtin.tensor_cache.get", "q_0"))
    r.call("ffi.ModuleGetKind", r.call("vm.builtin.param_module_from_cache", b"q", 1))
    r.call("vm.builtin.param_array_from_cache", b"q", 1, kind="TypeError")
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "q", 2 ** 32))
    r.call("ffi.ArraySize", r.call("vm.builtin.param_array_from_cache", "q", 2 ** 32 + 1))
    r.call("vm.builtin.param_module_from_cache", "q", 2 ** 33 + 2, kind="InternalError")
    r.call("vm.builtin.check_shape_info", shape(r, 1, 2), 2 ** 32 + 2, None)
    r.call("vm.builtin.tensor_cache.load", b"no-such-dir", 1, 0, kind="InternalError")
    r.call("vm.builtin.tensor_cache.clear")
