"""Conformance cases: the container globals of tvm-ffi's container.cc (ffi.Array*, ffi.List*,
ffi.Map*, ffi.Dict*, the forward iterators, ffi.ContainerFindFirstNonCPUDevice), ffi.Shape,
the type-table globals of object.cc and ffi.String / ffi.Bytes. Objects come back as handles,
so each case inspects them with further calls. See harness.py for the runner API."""
import numpy as np

import harness as h

W = h.w
BIG = 2 ** 62


def items(r, seq, n, prefix="ffi.List"):
    """Read n items of an Array or List back, one call each."""
    for i in range(n):
        r.call(prefix + "GetItem", seq, i)


def walk(r, it, limit=64):
    """Walk a forward iterator function to its end as the Python client does."""
    for _ in range(limit):
        r.call_ref(it, 0)
        r.call_ref(it, 1)
        if not r.call_ref(it, 2):
            break


def case_array(r):
    a = r.call("ffi.Array", 1, "x", 2.5, None, True, "a longer string", b"\x00bytes\xff",
               W.DataType(2, 32), W.Device(1, 0))
    r.call("ffi.ArraySize", a)
    items(r, a, 9, "ffi.Array")
    r.call("ffi.ArrayGetItem", a, True)  # bool converts to int
    r.call("ffi.ArrayGetItem", a, 9, kind="IndexError")
    r.call("ffi.ArrayGetItem", a, -1, kind="IndexError")
    r.call("ffi.ArrayGetItem", a, BIG, kind="IndexError")
    r.call("ffi.ArrayGetItem", a, 1.0, kind="TypeError")
    r.call("ffi.ArrayGetItem", a, "0", kind="TypeError")
    r.call("ffi.ArrayGetItem", a, kind="TypeError")
    r.call("ffi.ArrayGetItem", a, 0, 1, kind="TypeError")
    r.call("ffi.ArraySize", kind="TypeError")
    r.call("ffi.ArraySize", None, kind="TypeError")
    r.call("ffi.ArraySize", "abc", kind="TypeError")
    r.call("ffi.ArraySize", 7, kind="TypeError")
    empty = r.call("ffi.Array")
    r.call("ffi.ArraySize", empty)
    r.call("ffi.ArrayGetItem", empty, 0, kind="IndexError")
    nested = r.call("ffi.Array", a, empty)
    r.call("ffi.ArraySize", nested)
    inner = r.call("ffi.ArrayGetItem", nested, 0)
    r.call("ffi.ArraySize", inner)


def case_array_contains(r):
    a = r.call("ffi.Array", 1, "x", 2.5, None, "a longer string", b"by", W.DataType(2, 32))
    for v in (1, "x", 2.5, None, "a longer string", W.ObjStr("a longer string"), W.ObjStr("x"),
              b"by", W.DataType(2, 32), W.DataType(2, 16)):
        r.call("ffi.ArrayContains", a, v)
    # Int 1, Bool true and Float 1.0 are different values; so are str and bytes.
    r.call("ffi.ArrayContains", a, True)
    r.call("ffi.ArrayContains", a, 1.0)
    r.call("ffi.ArrayContains", a, b"x")
    r.call("ffi.ArrayContains", a, "by")
    r.call("ffi.ArrayContains", a, 0)
    b = r.call("ffi.Array", 0.0, a)
    r.call("ffi.ArrayContains", b, -0.0)  # floats compare by bits
    r.call("ffi.ArrayContains", b, a)  # objects by identity
    r.call("ffi.ArrayContains", b, r.call("ffi.Array"))
    lst = r.call("ffi.List", 1)
    r.call("ffi.ArrayContains", lst, 1, kind="TypeError")
    r.call("ffi.ArrayContains", a, kind="TypeError")


def case_list_basic(r):
    lst = r.call("ffi.List", 1, "two", 3.0)
    r.call("ffi.ListSize", lst)
    items(r, lst, 3)
    r.call("ffi.ListAppend", lst, "appended string")
    r.call("ffi.ListInsert", lst, 0, "first")
    r.call("ffi.ListInsert", lst, 2, None)
    r.call("ffi.ListInsert", lst, 6, b"end")
    r.call("ffi.ListSize", lst)
    items(r, lst, 7)
    r.call("ffi.ListSetItem", lst, 1, 100)
    r.call("ffi.ListSetItem", lst, 6, "last")
    items(r, lst, 7)
    r.call("ffi.ListContains", lst, 100)
    r.call("ffi.ListContains", lst, "last")
    r.call("ffi.ListContains", lst, 1)
    r.call("ffi.ListContains", lst, True)
    r.call("ffi.ListGetItem", lst, 7, kind="IndexError")
    r.call("ffi.ListGetItem", lst, -1, kind="IndexError")
    r.call("ffi.ListSetItem", lst, 7, 0, kind="IndexError")
    r.call("ffi.ListSetItem", lst, -1, 0, kind="IndexError")
    r.call("ffi.ListInsert", lst, 8, 0, kind="IndexError")
    r.call("ffi.ListInsert", lst, -1, 0, kind="IndexError")
    # (TVM computes begin() + index as a pointer: an index of 2**60 or more wraps around.)
    r.call("ffi.ListInsert", lst, 10 ** 12, 0, kind="IndexError")
    r.call("ffi.ListInsert", lst, -10 ** 12, 0, kind="IndexError")
    r.call("ffi.ListSize", lst)
    r.call("ffi.ListGetItem", lst, 0.0, kind="TypeError")
    r.call("ffi.ListSetItem", lst, 0, kind="TypeError")
    r.call("ffi.ListAppend", lst, kind="TypeError")
    r.call("ffi.ListAppend", lst, 1, 2, kind="TypeError")
    r.call("ffi.ListInsert", lst, "0", 1, kind="TypeError")
    r.call("ffi.ListSize", lst, lst, kind="TypeError")
    r.call("ffi.ListContains", kind="TypeError")
    empty = r.call("ffi.List")
    r.call("ffi.ListSize", empty)
    r.call("ffi.ListInsert", empty, 0, "only")
    items(r, empty, 1)


def case_list_pop_erase(r):
    lst = r.call("ffi.List", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    r.call("ffi.ListPop", lst, 9)
    r.call("ffi.ListPop", lst, 0)
    r.call("ffi.ListPop", lst, 8, kind="IndexError")
    r.call("ffi.ListPop", lst, -1, kind="IndexError")
    r.call("ffi.ListErase", lst, 3)
    r.call("ffi.ListErase", lst, 7, kind="IndexError")
    r.call("ffi.ListErase", lst, -BIG, kind="IndexError")
    r.call("ffi.ListSize", lst)
    items(r, lst, 7)
    r.call("ffi.ListEraseRange", lst, 1, 3)
    items(r, lst, 5)
    r.call("ffi.ListEraseRange", lst, 2, 2)
    r.call("ffi.ListEraseRange", lst, 100, 100)  # empty range: accepted anywhere
    r.call("ffi.ListEraseRange", lst, -7, -7)
    r.call("ffi.ListEraseRange", lst, 3, 2, kind="IndexError")
    r.call("ffi.ListEraseRange", lst, -1, 2, kind="IndexError")
    r.call("ffi.ListEraseRange", lst, 0, 6, kind="IndexError")
    r.call("ffi.ListEraseRange", lst, 0, BIG, kind="IndexError")
    r.call("ffi.ListEraseRange", lst, -BIG, BIG, kind="IndexError")
    r.call("ffi.ListEraseRange", lst, 0, kind="TypeError")
    r.call("ffi.ListSize", lst)
    r.call("ffi.ListReverse", lst)
    items(r, lst, 5)
    r.call("ffi.ListEraseRange", lst, 0, 5)
    r.call("ffi.ListSize", lst)
    r.call("ffi.ListReverse", lst)
    r.call("ffi.ListPop", lst, 0, kind="IndexError")
    r.call("ffi.ListAppend", lst, "again")
    r.call("ffi.ListAppend", lst, "more")
    r.call("ffi.ListClear", lst)
    r.call("ffi.ListSize", lst)
    r.call("ffi.ListClear", lst)
    r.call("ffi.ListClear", kind="TypeError")
    r.call("ffi.ListReverse", lst, 1, kind="TypeError")


def case_list_replace_slice(r):
    lst = r.call("ffi.List", 0, 1, 2, 3, 4, 5)
    rep = r.call("ffi.List", "a", "b", "c")
    r.call("ffi.ListReplaceSlice", lst, 1, 3, rep)  # [0 a b c 3 4 5]
    r.call("ffi.ListSize", lst)
    items(r, lst, 7)
    arr = r.call("ffi.Array", 10, 11)
    r.call("ffi.ListReplaceSlice", lst, 0, 0, arr)  # an Array as replacement; insert at 0
    r.call("ffi.ListSize", lst)
    items(r, lst, 9)
    r.call("ffi.ListReplaceSlice", lst, 9, 9, rep)  # append at the end
    r.call("ffi.ListReplaceSlice", lst, 0, 12, r.call("ffi.List"))  # erase all
    r.call("ffi.ListSize", lst)
    r.call("ffi.ListAppend", lst, 1)
    r.call("ffi.ListAppend", lst, 2)
    r.call("ffi.ListReplaceSlice", lst, 1, 2, lst)  # the list replaces a slice of itself
    r.call("ffi.ListSize", lst)
    items(r, lst, 3)
    empty = r.call("ffi.List")
    r.call("ffi.ListReplaceSlice", lst, 50, 50, empty)  # nothing to do: no error
    r.call("ffi.ListReplaceSlice", lst, 50, 50, rep, kind="IndexError")
    r.call("ffi.ListReplaceSlice", lst, 2, 1, rep, kind="IndexError")
    r.call("ffi.ListReplaceSlice", lst, -1, 1, rep, kind="IndexError")
    r.call("ffi.ListReplaceSlice", lst, 0, BIG, rep, kind="IndexError")
    r.call("ffi.ListReplaceSlice", lst, -BIG, BIG, empty, kind="IndexError")
    r.call("ffi.ListSize", lst)
    r.call("ffi.ListReplaceSlice", lst, 0, 1, 5, kind="TypeError")
    r.call("ffi.ListReplaceSlice", lst, 0, 1, kind="TypeError")
    r.call("ffi.ListReplaceSlice", arr, 0, 1, rep)  # on an Array: a copy changes
    r.call("ffi.ArraySize", arr)


def case_list_ops_on_array(r):
    # A List<Any> parameter accepts an Array by copying it to a new List: no error, and the
    # Array does not change.
    arr = r.call("ffi.Array", 1, 2, 3)
    r.call("ffi.ListAppend", arr, 4)
    r.call("ffi.ListInsert", arr, 0, 0)
    r.call("ffi.ListSetItem", arr, 0, 9)
    r.call("ffi.ListPop", arr, 2)
    r.call("ffi.ListErase", arr, 0)
    r.call("ffi.ListEraseRange", arr, 0, 2)
    r.call("ffi.ListReverse", arr)
    r.call("ffi.ListClear", arr)
    r.call("ffi.ArraySize", arr)
    items(r, arr, 3, "ffi.Array")
    r.call("ffi.ListSetItem", arr, 3, 0, kind="IndexError")
    r.call("ffi.ListPop", arr, 3, kind="IndexError")
    # const ListObj* parameters do not.
    r.call("ffi.ListSize", arr, kind="TypeError")
    r.call("ffi.ListGetItem", arr, 0, kind="TypeError")
    r.call("ffi.ListContains", arr, 1, kind="TypeError")
    for bad in (5, None, "list", 1.5):
        r.call("ffi.ListAppend", bad, 1, kind="TypeError")
    m = r.call("ffi.Map", 1, 2)
    r.call("ffi.ListAppend", m, 1, kind="TypeError")
    r.call("ffi.ListSize", m, kind="TypeError")


def case_map(r):
    m = r.call("ffi.Map", "a", 1, "b", 2, "a", 3, "a longer key", "a longer value")
    r.call("ffi.MapSize", m)
    r.call("ffi.MapGetItem", m, "a")
    r.call("ffi.MapGetItem", m, W.ObjStr("a"))
    r.call("ffi.MapGetItem", m, "a longer key")
    r.call("ffi.MapGetItem", m, W.ObjStr("a longer key"))
    r.call("ffi.MapCount", m, "b")
    r.call("ffi.MapCount", m, "zz")
    r.call("ffi.MapCount", m, b"a")
    r.call("ffi.MapGetItem", m, "zz", kind="KeyError")
    r.call("ffi.MapGetItem", m, b"a", kind="KeyError")
    r.call("ffi.MapGetItem", m, None, kind="KeyError")
    r.call("ffi.MapGetItemOrMissing", m, "b")
    r.call("ffi.MapGetItemOrMissing", m, "zz")
    r.call("ffi.MapSize", kind="TypeError")
    r.call("ffi.MapSize", m, m, kind="TypeError")
    r.call("ffi.MapSize", "m", kind="TypeError")
    r.call("ffi.MapGetItem", m, kind="TypeError")
    r.call("ffi.MapCount", m, "a", "b", kind="TypeError")
    r.call("ffi.MapGetItemOrMissing", None, "a", kind="TypeError")
    d = r.call("ffi.Dict", "a", 1)
    r.call("ffi.MapSize", d, kind="TypeError")
    r.call("ffi.MapGetItem", d, "a", kind="TypeError")
    r.call("ffi.Map", 1, kind="InternalError")
    r.call("ffi.Map", 1, 2, 3, kind="InternalError")
    empty = r.call("ffi.Map")
    r.call("ffi.MapSize", empty)
    r.call("ffi.MapCount", empty, 0)


def case_map_key_kinds(r):
    # Int 1, Bool true and Float 1.0 are three keys; str and bytes differ; None is a key.
    m = r.call("ffi.Map", 1, "int", True, "bool", 1.0, "float", "k", "str", b"k", "bytes",
               None, "none", W.DataType(0, 32), "dtype", W.Device(1, 0), "device",
               0.0, "zero", -0.0, "negative zero")
    r.call("ffi.MapSize", m)
    for k in (1, True, 1.0, "k", b"k", None, W.DataType(0, 32), W.Device(1, 0), 0.0, -0.0):
        r.call("ffi.MapGetItem", m, k)
    for k in (2, False, W.DataType(0, 64), W.Device(1, 1), "K"):
        r.call("ffi.MapCount", m, k)
    inner = r.call("ffi.Array", 1)
    m2 = r.call("ffi.Map", inner, "by identity")
    r.call("ffi.MapGetItem", m2, inner)
    r.call("ffi.MapCount", m2, r.call("ffi.Array", 1))


def case_map_iteration(r):
    m = r.call("ffi.Map", "x", 1, "y", 2, "z", 3)
    r.call("ffi.MapSize", m)
    it = r.call("ffi.MapForwardIterFunctor", m)
    walk(r, it)
    r.call_ref(it, 2)  # past the end stays there
    r.call_ref(it, 7)
    it2 = r.call("ffi.MapForwardIterFunctor", m)
    r.call_ref(it2, 1)
    r.call_ref(it2, 5)  # any command but 0 and 1 steps
    r.call_ref(it2, 0)
    r.call_ref(it2, -1)
    r.call_ref(it2, 0)
    r.call_ref(it2, 1.5, kind="TypeError")
    r.call_ref(it2, kind="TypeError")
    r.call_ref(it2, 0, 1, kind="TypeError")
    # A map past the small layout (more than 4 entries) keeps insertion order too.
    args = []
    for i in range(40):
        args += ["key%d" % (i * 37 % 41), i]
    big = r.call("ffi.Map", *args)
    r.call("ffi.MapSize", big)
    walk(r, r.call("ffi.MapForwardIterFunctor", big))
    empty = r.call("ffi.Map")
    r.call_ref(r.call("ffi.MapForwardIterFunctor", empty), 2)
    r.call("ffi.MapForwardIterFunctor", kind="TypeError")
    r.call("ffi.MapForwardIterFunctor", r.call("ffi.Dict"), kind="TypeError")


def case_dict(r):
    d = r.call("ffi.Dict", "a", 1, "b", 2)
    r.call("ffi.DictSize", d)
    r.call("ffi.DictSetItem", d, "c", "a longer value")
    r.call("ffi.DictSetItem", d, "a", 10)
    r.call("ffi.DictSetItem", d, 5, None)
    r.call("ffi.DictSize", d)
    r.call("ffi.DictGetItem", d, "a")
    r.call("ffi.DictGetItem", d, "c")
    r.call("ffi.DictGetItem", d, 5)
    r.call("ffi.DictGetItem", d, "zz", kind="KeyError")
    r.call("ffi.DictCount", d, "b")
    r.call("ffi.DictCount", d, "zz")
    r.call("ffi.DictGetItemOrMissing", d, "c")
    r.call("ffi.DictGetItemOrMissing", d, "zz")
    r.call("ffi.DictErase", d, "b")
    r.call("ffi.DictErase", d, "b")  # absent: no error
    r.call("ffi.DictSize", d)
    r.call("ffi.DictCount", d, "b")
    r.call("ffi.DictClear", d)
    r.call("ffi.DictSize", d)
    r.call("ffi.DictSetItem", d, "again", 1)
    r.call("ffi.DictSize", d)
    # A Map given to a Dict<Any, Any> parameter: a copy changes, the Map does not.
    m = r.call("ffi.Map", "a", 1)
    r.call("ffi.DictSetItem", m, "b", 2)
    r.call("ffi.DictErase", m, "a")
    r.call("ffi.DictClear", m)
    r.call("ffi.MapSize", m)
    r.call("ffi.DictSize", m, kind="TypeError")
    r.call("ffi.DictGetItem", m, "a", kind="TypeError")
    r.call("ffi.DictCount", m, "a", kind="TypeError")
    r.call("ffi.DictGetItemOrMissing", m, "a", kind="TypeError")
    r.call("ffi.DictSetItem", d, "k", kind="TypeError")
    r.call("ffi.DictSetItem", 1, "k", 2, kind="TypeError")
    r.call("ffi.DictErase", d, kind="TypeError")
    r.call("ffi.DictClear", None, kind="TypeError")
    r.call("ffi.Dict", "odd", kind="InternalError")


def case_dict_order_after_erase(r):
    d = r.call("ffi.Dict")
    for i in range(12):
        r.call("ffi.DictSetItem", d, i, i * i)
    for k in (0, 3, 4, 11):
        r.call("ffi.DictErase", d, k)
    r.call("ffi.DictSetItem", d, 3, "back")  # re-inserted: goes last
    r.call("ffi.DictSetItem", d, 5, "kept place")  # replaced: keeps its place
    r.call("ffi.DictSize", d)
    walk(r, r.call("ffi.DictForwardIterFunctor", d))
    small = r.call("ffi.Dict", "p", 1, "q", 2, "r", 3)
    r.call("ffi.DictErase", small, "p")
    r.call("ffi.DictSetItem", small, "p", 4)
    walk(r, r.call("ffi.DictForwardIterFunctor", small))
    r.call("ffi.DictForwardIterFunctor", r.call("ffi.Map"), kind="TypeError")
    r.call("ffi.DictForwardIterFunctor", d, d, kind="TypeError")


def case_replace_order_small_and_dense(r):
    # Up to 4 entries a map keeps a replaced entry in place; a set on a full 4-entry map, and
    # any later replacement, moves the entry to the end.
    d = r.call("ffi.Dict", "a", 1, "b", 2, "c", 3)
    r.call("ffi.DictSetItem", d, "a", 10)
    walk(r, r.call("ffi.DictForwardIterFunctor", d))
    r.call("ffi.DictSetItem", d, "d", 4)
    r.call("ffi.DictSetItem", d, "b", 20)
    walk(r, r.call("ffi.DictForwardIterFunctor", d))
    r.call("ffi.DictClear", d)
    r.call("ffi.DictSetItem", d, "x", 1)
    r.call("ffi.DictSetItem", d, "y", 2)
    r.call("ffi.DictSetItem", d, "x", 3)
    walk(r, r.call("ffi.DictForwardIterFunctor", d))
    m = r.call("ffi.Map", "p", 1, "q", 2, "p", 3)
    walk(r, r.call("ffi.MapForwardIterFunctor", m))
    m = r.call("ffi.Map", "p", 1, "q", 2, "r", 3, "s", 4, "p", 5)
    walk(r, r.call("ffi.MapForwardIterFunctor", m))


def case_shape(r):
    r.call("ffi.Shape", 1, 2, 3)
    r.call("ffi.Shape")
    r.call("ffi.Shape", True, -1, BIG)
    r.call("ffi.Shape", 1, 2.0, kind="ValueError")
    r.call("ffi.Shape", "1", kind="ValueError")
    r.call("ffi.Shape", None, kind="ValueError")
    s = r.call("ffi.Shape", 4, 5)
    r.call("ffi.ContainerFindFirstNonCPUDevice", s)


def case_find_first_non_cpu_device(r):
    inner = r.call("ffi.Dict", "k", r.call("ffi.List", 1, 2))
    outer = r.call("ffi.Array", 1, inner, r.call("ffi.Map", "m", "v"))
    r.call("ffi.ContainerFindFirstNonCPUDevice", outer)
    r.call("ffi.ContainerFindFirstNonCPUDevice", inner)
    r.call("ffi.ContainerFindFirstNonCPUDevice", 5)
    r.call("ffi.ContainerFindFirstNonCPUDevice", None)
    r.call("ffi.ContainerFindFirstNonCPUDevice", "text")
    t = r.tensor(np.arange(4, dtype="float32"))
    r.call("ffi.ContainerFindFirstNonCPUDevice", t)
    r.call("ffi.ContainerFindFirstNonCPUDevice", kind="TypeError")
    r.call("ffi.ContainerFindFirstNonCPUDevice", 1, 2, kind="TypeError")


def case_type_table(r):
    keys = r.call("ffi.GetRegisteredTypeKeys", volatile=True)  # TVM knows many more types
    for k in ("None", "int", "bool", "float", "void*", "DataType", "Device", "DLTensor*",
              "const char*", "ffi.Object", "ffi.String", "ffi.Bytes", "ffi.Error",
              "ffi.Function", "ffi.Shape", "ffi.Tensor", "ffi.Array", "ffi.Map", "ffi.Module",
              "ffi.List", "ffi.Dict", "no.such.Type"):
        r.call("ffi.ArrayContains", keys, k)
    r.call("ffi.GetRegisteredTypeKeys", 1, kind="TypeError")
    invalid = r.call("ffi.GetInvalidObject")
    kwargs = r.call("ffi.GetKwargsObject")
    missing = r.call("ffi.MapGetItemOrMissing", r.call("ffi.Map"), "absent")
    # One process-wide object each: the missing marker is GetInvalidObject's object.
    both = r.call("ffi.Array", invalid, kwargs)
    r.call("ffi.ArrayContains", both, missing)
    r.call("ffi.ArrayContains", both, r.call("ffi.GetInvalidObject"))
    r.call("ffi.ArrayContains", both, r.call("ffi.GetKwargsObject"))
    r.call("ffi.ArrayContains", r.call("ffi.Array", kwargs), missing)
    r.call("ffi.GetInvalidObject", None, kind="TypeError")
    r.call("ffi.GetKwargsObject", 0, kind="TypeError")


def case_string_and_bytes(r):
    r.call("ffi.String", "short")
    r.call("ffi.String", "a string longer than seven bytes")
    r.call("ffi.String", W.ObjStr("object string"))
    r.call("ffi.String", "")
    r.call("ffi.String", 1, kind="TypeError")
    r.call("ffi.String", None, kind="TypeError")
    r.call("ffi.String", kind="TypeError")
    r.call("ffi.String", "a", "b", kind="TypeError")
    r.call("ffi.String", b"bytes", kind="TypeError")
    r.call("ffi.Bytes", b"\x00\x01")
    r.call("ffi.Bytes", b"bytes longer than seven")
    r.call("ffi.Bytes", W.ByteArray(b"raw array"))
    r.call("ffi.Bytes", 1, kind="TypeError")
    r.call("ffi.Bytes", "str", kind="TypeError")
    r.call("ffi.Bytes", b"a", b"b", kind="TypeError")
    r.call("ffi.Bytes", kind="TypeError")


def case_structural_key_as_map_key(r):
    """StructuralKey has tvm-ffi's custom AnyHash/AnyEqual: two keys wrapping structurally
    equal values are one key of a Map or Dict."""
    a1 = r.call("ffi.Array", 1, 2, "x")
    a2 = r.call("ffi.Array", 1, 2, "x")
    a3 = r.call("ffi.Array", 1, 2, "y")
    k1, k2, k3 = (r.call("ffi.StructuralKey", a) for a in (a1, a2, a3))
    m = r.call("ffi.Map", k1, 10, k3, 30)
    r.call("ffi.MapSize", m)
    r.call("ffi.MapCount", m, k2)
    r.call("ffi.MapGetItem", m, k2)
    r.call("ffi.MapCount", m, a1)
    d = r.call("ffi.Dict", k1, 1, k2, 2)
    r.call("ffi.DictSize", d)
    r.call("ffi.DictGetItem", d, k1)
    r.call("ffi.StructuralKeyEqual", k1, k2)
    r.call("ffi.StructuralKeyEqual", k1, k3)
