"""Conformance cases: JSON, structural hash/equality, recursive compare/hash, deep copy, repr and
the JSON object graph of tvm-ffi (src/ffi/extra/*), over the value types our server has. Values
are built with ffi.Array/List/Map/Dict/Shape and ffi.json.Parse and inspected through
ffi.json.Stringify, ffi.ReprPrint and the hashes. See harness.py for the runner API."""
import harness as h
import tvm_wire as w

J = "ffi.json.Parse"
S = "ffi.json.Stringify"


def arr(r, *items):
    return r.call("ffi.Array", *items)


def parse(r, text):
    return r.call(J, text)


def case_json_parse_scalars(r):
    for text in ("1", "-0", "9223372036854775807", "-9223372036854775808",
                 "9223372036854775808", "1.5", "-2.5e3", "1E2", "0.1", "+5", "0123", ".5",
                 "true", "false", "null", "  7  ", "NaN", "Infinity", "-Infinity",
                 '"abc"', '"a long string of text"', '"\\u00e9\\ud83d\\ude00\\n\\t\\/\\\\"',
                 '"\u00e9 utf8"', '""'):
        r.call(J, text)


def case_json_parse_containers(r):
    for text in ('{"a": 1, "b": [1, 2.5, null, true, "x"], "c": {}}', "[]", "{}",
                 '[[[]], {"k": [{"z": 0}]}]', '{"a": 1, "a": 2, "b": 3}',
                 '\n[\n 1,\n 2\n]\n', '{"\\u0041": "\\"q\\""}'):
        v = parse(r, text)
        r.call(S, v, None)
        r.call("ffi.ReprPrint", v)


def case_json_parse_errors(r):
    for text in ("", "   ", "[", "[1,", "[1,]", "[1 2]", "{", '{"a"', '{"a" 1}', '{"a":}',
                 '{"a":1,}', '{1: 2}', "tru", "nul", "fals", "-", "--1", "1-2", "1e", "1e400",
                 "-Infinit", "NaX", "Inf", '"abc', '"a\\x"', '"a\\u12"', '"\\ud800"',
                 '"\\ud800\\u0041"', '"\\udc00"', '"a\x01b"', "[1] x", "{} {}", "\n\n  ]",
                 '"\\', "1.2.3", "0x10", "[" * 50 + "]" * 49):
        r.call(J, text, kind="ValueError")
    r.call(J, kind="TypeError")
    r.call(J, 5, kind="TypeError")
    r.call(J, "1", "2", kind="TypeError")


def case_json_stringify(r):
    v = parse(r, '{"name": "x", "vals": [1, 2.0, -0.5, 1e300, 3.0e20, 1e-7, true, null],'
              ' "nested": {"a": [], "b": {}}, "s": "q\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u007f"}')
    for indent in (None, 0, 2, 4, -2, 2 ** 33 + 2, True):
        r.call(S, v, indent)
    for scalar in (None, True, False, 0, -7, 1.5, 2.0, -0.0, 1e16, 9007199254740993.0,
                   0.1, "plain", "tab\tand \"quote\"", "a/b", "\u00e9"):
        r.call(S, scalar, None)
    r.call(S, float("nan"), None)
    r.call(S, float("inf"), None)
    r.call(S, float("-inf"), 2)
    r.call(S, arr(r, 1, "two", arr(r)), 1)
    r.call(S, r.call("ffi.List", 1, r.call("ffi.List")), None)
    r.call(S, r.call("ffi.Map", "k", r.call("ffi.List", 1, 2)), 3)


def case_json_stringify_errors(r):
    r.call(S, r.call("ffi.Map", 1, 2), None, kind="ValueError")
    r.call(S, r.call("ffi.Dict", "a", 1), None, kind="ValueError")
    r.call(S, r.call("ffi.Shape", 1, 2), None, kind="ValueError")
    r.call(S, b"bytes", None, kind="ValueError")
    r.call(S, w.ByteArray(b"ab"), None, kind="ValueError")
    r.call(S, w.DataType(2, 32, 1), None, kind="ValueError")
    r.call(S, w.Device(1, 0), None, kind="ValueError")
    r.call(S, arr(r, 1, r.call("ffi.Shape", 3)), None, kind="ValueError")
    r.call(S, r.call("ffi.FunctionListGlobalNamesFunctor"), None, kind="ValueError")
    lst = r.call("ffi.List", 1)
    r.call("ffi.ListAppend", lst, lst)
    r.call(S, lst, None, kind="ValueError")
    r.call("ffi.ListClear", lst)
    r.call(S, 1, kind="TypeError")
    r.call(S, 1, "2", kind="TypeError")
    r.call(S, 1, 2.0, kind="TypeError")
    r.call(S, 1, None, None, kind="TypeError")


def values(r):
    """A spread of values of every kind this server has, built fresh each time."""
    return [
        None, True, False, 0, 1, -1, 2 ** 62, 1.5, -0.0, 0.0, float("nan"), float("inf"),
        "", "abc", "abcdefg", "abcdefgh", "a longer string of many bytes", w.ObjStr("ab"),
        b"", b"ab", b"abcdefgh", w.ByteArray(b"ab"), w.ByteArray(b"abcdefghij"),
        w.DataType(0, 32, 1), w.DataType(2, 16, 4), w.Device(1, 0), w.Device(2, 3),
        arr(r), arr(r, 1, 2, 3), arr(r, "x", arr(r, 1.5, None)),
        r.call("ffi.List"), r.call("ffi.List", 1, 2, 3),
        r.call("ffi.Map"), r.call("ffi.Map", "a", 1, "b", 2), r.call("ffi.Map", "b", 2, "a", 1),
        r.call("ffi.Map", 1, "x", 2.5, "y", True, "z", None, "n"),
        r.call("ffi.Map", arr(r, 1), 1, "k", arr(r, 2)),
        r.call("ffi.Dict", "a", 1), r.call("ffi.Dict", "a", arr(r, 1, 2), "b", "c"),
        r.call("ffi.Shape"), r.call("ffi.Shape", 1, 2, 3), r.call("ffi.Shape", -1),
        parse(r, '{"z": [1, {"y": null}], "a": "b", "m": 1.25}'),
    ]


def case_structural_hash(r):
    for v in values(r):
        r.call("ffi.StructuralHash", v, False, False)
    for v in values(r)[:6]:
        r.call("ffi.StructuralHash", v, True, True)
    r.call("ffi.StructuralHash", r.call("ffi.FunctionListGlobalNamesFunctor"), False, False,
           kind="TypeError")
    r.call("ffi.StructuralHash", arr(r, 1, r.call("ffi.FunctionListGlobalNamesFunctor")), False,
           False, kind="TypeError")
    r.call("ffi.StructuralHash", 1, False, kind="TypeError")
    r.call("ffi.StructuralHash", 1, "x", False, kind="TypeError")


def case_structural_equal(r):
    a, b = values(r), values(r)
    for x, y in zip(a, b):
        r.call("ffi.StructuralEqual", x, y, False, False)
    for x, y in zip(a, b[1:] + b[:1]):
        r.call("ffi.StructuralEqual", x, y, False, False)
    r.call("ffi.StructuralEqual", "ab", w.ObjStr("ab"), False, False)
    r.call("ffi.StructuralEqual", "ab", b"ab", False, False)
    r.call("ffi.StructuralEqual", b"ab", w.ByteArray(b"ab"), False, False)
    r.call("ffi.StructuralEqual", 1, True, False, False)
    r.call("ffi.StructuralEqual", 1, 1.0, False, False)
    r.call("ffi.StructuralEqual", float("nan"), float("nan"), False, False)
    r.call("ffi.StructuralEqual", 0.0, -0.0, False, False)
    r.call("ffi.StructuralEqual", arr(r, 1, 2), r.call("ffi.List", 1, 2), False, False)
    r.call("ffi.StructuralEqual", r.call("ffi.Map", "a", 1), r.call("ffi.Dict", "a", 1), False,
           False)
    r.call("ffi.StructuralEqual", r.call("ffi.Map", "a", 1, "b", 2),
           r.call("ffi.Map", "b", 2, "a", 1), True, True)
    r.call("ffi.StructuralEqual", r.call("ffi.Map", "a", 1), r.call("ffi.Map", "a", 2), False,
           False)
    r.call("ffi.StructuralEqual", r.call("ffi.Map", "a", 1), r.call("ffi.Map", "c", 1), False,
           False)
    f = r.call("ffi.FunctionListGlobalNamesFunctor")
    r.call("ffi.StructuralEqual", f, f, False, False, kind="TypeError")
    r.call("ffi.StructuralEqual", f, 1, False, False)
    r.call("ffi.StructuralEqual", 1, 2, False, kind="TypeError")


def case_recursive_hash(r):
    for v in values(r):
        r.call("ffi.RecursiveHash", v)
    r.call("ffi.RecursiveHash", r.call("ffi.FunctionListGlobalNamesFunctor"))
    lst = r.call("ffi.List", 1, "a")
    r.call("ffi.ListAppend", lst, lst)
    r.call("ffi.RecursiveHash", lst)
    r.call("ffi.ReprPrint", lst)
    r.call("ffi.RecursiveEq", lst, lst)
    r.call("ffi.ListClear", lst)
    r.call("ffi.RecursiveHash", kind="TypeError")
    r.call("ffi.RecursiveHash", 1, 2, kind="TypeError")


def case_recursive_compare(r):
    rel = ("ffi.RecursiveEq", "ffi.RecursiveLt", "ffi.RecursiveLe", "ffi.RecursiveGt",
           "ffi.RecursiveGe")
    ordered = [
        (1, 2), (2, 1), (3, 3), (True, False), (1.5, 2.5), (-0.0, 0.0), (None, 1), (1, None),
        (None, None), ("abc", "abd"), ("ab", "abc"), ("b", "a"), (w.ObjStr("abc"), "abc"),
        (b"ab", b"ac"), (w.ByteArray(b"x"), b"x"), (w.DataType(0, 32, 1), w.DataType(0, 64, 1)),
        (w.Device(1, 0), w.Device(1, 1)), (w.Device(2, 0), w.Device(1, 5)),
    ]
    for x, y in ordered:
        for name in rel:
            r.call(name, x, y)
    seqs = [(arr(r, 1, 2), arr(r, 1, 3)), (arr(r, 1, 2), arr(r, 1)), (arr(r), arr(r)),
            (r.call("ffi.List", "a"), r.call("ffi.List", "a", "b")),
            (r.call("ffi.Shape", 1, 2), r.call("ffi.Shape", 1, 3)),
            (r.call("ffi.Shape", 1, 2), r.call("ffi.Shape", 1)),
            (arr(r, arr(r, 1, 2), 5), arr(r, arr(r, 1, 2), 4))]
    for x, y in seqs:
        for name in rel:
            r.call(name, x, y)
    m1 = r.call("ffi.Map", "a", 1, "b", 2)
    m2 = r.call("ffi.Map", "b", 2, "a", 1)
    m3 = r.call("ffi.Map", "a", 1, "b", 3)
    r.call("ffi.RecursiveEq", m1, m2)
    r.call("ffi.RecursiveLe", m1, m2)
    r.call("ffi.RecursiveEq", m1, m3)
    r.call("ffi.RecursiveLt", m1, m3, kind="TypeError")
    r.call("ffi.RecursiveEq", m1, r.call("ffi.Map", "a", 1))
    r.call("ffi.RecursiveLt", m1, r.call("ffi.Map", "a", 1), kind="TypeError")
    r.call("ffi.RecursiveEq", r.call("ffi.Dict", "a", 1), r.call("ffi.Dict", "a", 1))
    r.call("ffi.RecursiveLt", arr(r, m1, 1), arr(r, m2, 2))
    r.call("ffi.RecursiveEq", 1, "a")
    r.call("ffi.RecursiveEq", 1, 1.0)
    r.call("ffi.RecursiveLt", 1, "a", kind="TypeError")
    r.call("ffi.RecursiveLt", 1, 1.0, kind="TypeError")
    r.call("ffi.RecursiveEq", float("nan"), float("nan"))
    r.call("ffi.RecursiveLt", float("nan"), 1.0, kind="TypeError")
    r.call("ffi.RecursiveEq", arr(r, 1), r.call("ffi.List", 1))
    f = r.call("ffi.FunctionListGlobalNamesFunctor")
    g = r.call("ffi.FunctionListGlobalNamesFunctor")
    r.call("ffi.RecursiveEq", f, g)
    r.call("ffi.RecursiveLt", f, g)
    r.call("ffi.RecursiveEq", 1, kind="TypeError")
    r.call("ffi.RecursiveGe", 1, 2, 3, kind="TypeError")


def case_deep_copy(r):
    for v in values(r):
        c = r.call("ffi.DeepCopy", v)
        r.call("ffi.StructuralEqual", v, c, False, False)
        r.call("ffi.RecursiveHash", c)
    lst = r.call("ffi.List", 1, "a")
    r.call("ffi.ListAppend", lst, lst)
    c = r.call("ffi.DeepCopy", lst)
    r.call("ffi.ReprPrint", c)
    r.call("ffi.ListClear", lst)
    r.call("ffi.ListSize", c)
    r.call("ffi.ListClear", c)  # copies of cycles are cycles: break them, as the originals
    inner = r.call("ffi.List", 1)
    outer = arr(r, inner)
    r.call("ffi.ListAppend", inner, outer)
    c = r.call("ffi.DeepCopy", outer)
    r.call("ffi.ReprPrint", c)
    r.call("ffi.ListClear", inner)
    r.call("ffi.ListClear", r.call("ffi.ArrayGetItem", c, 0))
    d = r.call("ffi.Dict", "k", 1)
    r.call("ffi.DictSetItem", d, "self", d)
    c = r.call("ffi.DeepCopy", d)
    r.call("ffi.ReprPrint", c)
    r.call("ffi.DictClear", d)
    r.call("ffi.DictClear", c)
    r.call("ffi.DeepCopy", r.call("ffi.FunctionListGlobalNamesFunctor"), kind="InternalError")
    r.call("ffi.DeepCopy", kind="TypeError")


def case_repr_print(r):
    for v in values(r):
        r.call("ffi.ReprPrint", v)
    for v in (1e20, 1.0 / 3, 123456789.0, 1e-5, 2.5e-300, -1.5, float("-inf"),
              "q\"'\\\n\t\x01\x7f\u00e9", b"\x00\xff\"\\a", w.DataType(1, 1, 1),
              w.DataType(2, 32, 4), w.DataType(3, 16, 1), w.Device(2, 1), w.Device(4, 0),
              w.Device(99, 0)):
        r.call("ffi.ReprPrint", v)
    r.call("ffi.ReprPrint", arr(r, 1))
    r.call("ffi.ReprPrint", r.call("ffi.FunctionListGlobalNamesFunctor"))
    r.call("ffi.ReprPrint", kind="TypeError")


def case_json_graph(r):
    G = "ffi.ToJSONGraphString"
    for v in values(r):
        r.call(G, v, None)
    shared = arr(r, 1, 2)
    r.call(G, arr(r, shared, shared, "s", "s", 1, 1, 1.0, True), None)
    r.call(G, arr(r, 1), parse(r, '{"meta": [1, "x"]}'))
    r.call(G, arr(r, 1), 5)
    g = r.call("ffi.ToJSONGraph", arr(r, "x", r.call("ffi.Map", "k", 2)), None)
    r.call(S, g, None)
    back = r.call("ffi.FromJSONGraph", g)
    r.call("ffi.ReprPrint", back)
    for v in values(r):
        text = r.call(G, v, None)
        back = r.call("ffi.FromJSONGraphString", text)
        r.call("ffi.StructuralEqual", v, back, False, False)
        r.call("ffi.ReprPrint", back)
    lst = r.call("ffi.List", 1)
    r.call("ffi.ListAppend", lst, lst)
    r.call(G, lst, None, kind="ValueError")
    r.call("ffi.ListClear", lst)
    r.call(G, r.call("ffi.FunctionListGlobalNamesFunctor"), None, kind="TypeError")
    r.call(G, kind="TypeError")


def case_json_graph_read(r):
    F = "ffi.FromJSONGraphString"
    good = [
        '{"root_index": 0, "nodes": [{"type": "int", "data": 5}]}',
        '{"root_index": 1, "nodes": [{"type": "None"}, {"type": "ffi.Array", "data": [0, 0]}]}',
        '{"root_index": 2, "nodes": [{"type": "ffi.String", "data": "k"},'
        ' {"type": "float", "data": 2}, {"type": "ffi.Map", "data": [0, 1]}]}',
        '{"root_index": 0, "nodes": [{"type": "ffi.Bytes", "data": "YWJjZA=="}]}',
        '{"root_index": 0, "nodes": [{"type": "ffi.Shape", "data": [1, 2, 3]}]}',
        '{"root_index": 0, "nodes": [{"type": "DataType", "data": "float16x4"}]}',
        '{"root_index": 0, "nodes": [{"type": "Device", "data": [2, 1]}]}',
        '{"root_index": 0, "nodes": [{"type": "bool", "data": true}]}',
        '{"root_index": 1, "nodes": [{"type": "int", "data": 1},'
        ' {"type": "ffi.Dict", "data": [0, 0]}], "metadata": {"x": 1}}',
        '{"root_index": 0, "nodes": [{"type": "ffi.List", "data": []}], "extra": 1}',
        '{"root_index": 0, "nodes": [{"type": "ffi.Bytes", "data": ""}]}',
        '{"root_index": 0, "nodes": [{"type": "DataType", "data": "bool"}]}',
        '{"root_index": 0, "nodes": [{"type": "ffi.Bytes", "data": "YW=j"}]}',
        '{"root_index": 0, "nodes": [{"type": "ffi.Bytes", "data": "Y===YWJj"}]}',
        '{"root_index": 0, "nodes": [{"type": "int", "data": true}]}',
        '{"root_index": 0, "nodes": [{"type": "bool", "data": 2}]}',
        '{"root_index": 0, "nodes": [{"type": "float", "data": true}]}',
        '{"root_index": 0, "nodes": [{"type": "Device", "data": [4294967297, 2]}]}',
        '{"root_index": 2, "nodes": [{"type": "int", "data": 7}, {"type": "int", "data": 8},'
        ' {"type": "ffi.Array", "data": [true, false]}]}',
        '{"root_index": 0, "nodes": [{"type": "None"}, {"type": "None"}]}',
    ]
    for text in good:
        v = r.call(F, text)
        r.call("ffi.ReprPrint", v)
    bad = [
        ("[]", "ValueError"), ("{}", "ValueError"), ('{"root_index": 0}', "ValueError"),
        ('{"root_index": "0", "nodes": []}', "ValueError"),
        ('{"root_index": 0, "nodes": {}}', "ValueError"),
        ('{"root_index": 0, "nodes": []}', "ValueError"),
        ('{"root_index": 3, "nodes": [{"type": "None"}]}', "ValueError"),
        ('{"root_index": -1, "nodes": [{"type": "None"}]}', "ValueError"),
        ('{"root_index": 0, "nodes": [{"type": "ffi.Array", "data": [5]}]}', "ValueError"),
        ('{"root_index": 0, "nodes": [{"type": "ffi.Map", "data": [0]}]}', "ValueError"),
        ('{"root_index": 0, "nodes": [{"type": "Device", "data": [1]}]}', "ValueError"),
        ('{"root_index": 0, "nodes": [{"type": "int", "data": "5"}]}', "TypeError"),
        ('{"root_index": 0, "nodes": [{"type": "ffi.Array", "data": ["x"]}]}', "TypeError"),
        ('{"root_index": 0, "nodes": [{"type": "ffi.Array", "data": 3}]}', "TypeError"),
        ('{"root_index": 0, "nodes": [{"type": "ffi.Shape", "data": [1.5]}]}', "TypeError"),
        ('{"root_index": 0, "nodes": [{"type": 3}]}', "TypeError"),
        ('{"root_index": 0, "nodes": [5]}', "TypeError"),
        ('{"root_index": 0, "nodes": [{"data": 1}]}', "KeyError"),
        ('{"root_index": 0, "nodes": [{"type": "int"}]}', "KeyError"),
        ('{"root_index": 0, "nodes": [{"type": "no.SuchType", "data": 1}]}', "InternalError"),
        ('{"root_index": 0, "nodes": [{"type": "ffi.Bytes", "data": "###"}]}', "InternalError"),
        ('{"root_index": 0, "nodes": [{"type": "DataType", "data": "floaty"}]}', "ValueError"),
        ("not json", "ValueError"),
    ]
    for text, kind in bad:
        r.call(F, text, kind=kind)
    r.call("ffi.FromJSONGraph", 5, kind="ValueError")
    r.call("ffi.FromJSONGraph", arr(r), kind="ValueError")
    r.call(F, 5, kind="TypeError")
    r.call(F, kind="TypeError")


def case_refused(r):
    # arguments TVM rejects before it touches type tables (real ones can crash its server)
    r.call("ffi.MakeFieldGetter", "x", refused=True)
    r.call("ffi.MakeFieldSetter", "x", 0, 0, refused=True)
    r.call("ffi._PyClassRegisterTypeAttrColumns", "x", 8, refused=True)
    r.call("ffi._RegisterFFIInit", "x", refused=True)


def case_tensor_arguments(r):
    import numpy as np
    x = r.tensor(np.arange(4, dtype="float32"))
    r.call("ffi.StructuralHash", x, False, False, volatile=True)  # a DLTensor* hashes its address
    r.call("ffi.RecursiveHash", x, volatile=True)
    r.call("ffi.ReprPrint", x)
    r.call("ffi.json.Stringify", x, None, kind="ValueError")
    r.call("ffi.ToJSONGraphString", x, None, kind="RuntimeError")
    r.call("ffi.RecursiveLt", x, x, kind="TypeError")
    r.call("ffi.RecursiveLt", 1, x, kind="TypeError")
    r.call("ffi.ToJSONGraphString", w.DataType(2, 32, 1), None)
    r.call("ffi.ToJSONGraphString", w.Device(1, 0), None)
    r.call("ffi.RecursiveHash", w.DataType(2, 32, 1))
    r.call("ffi.StructuralHash", w.Device(2, 1), False, False)


def case_first_mismatch(r):
    M = "ffi.GetFirstStructuralMismatch"
    m = lambda *a: r.call("ffi.Map", *a)
    pairs = [
        (arr(r, 1, 2), arr(r, 1, 3)), (arr(r, 1, 2), arr(r, 1, 2)), (arr(r, 1, 2), arr(r, 1)),
        (arr(r, 1), arr(r, 1, 2)), (m("a", 1, "b", arr(r, 1, "x")), m("a", 1, "b", arr(r, 1, "y"))),
        (m("a", 1), m("b", 1)), (m("a", 1, "c", 2), m("a", 1)), (m("a", 1), m("a", 1, "c", 2)),
        (m(1, 1), m(2, 1)), (m(w.ObjStr("a\nb"), 1), m("q", 1)), (1, 2), ("x", "x"),
        (arr(r, arr(r, arr(r, 1))), arr(r, arr(r, arr(r, 2)))),
        (r.call("ffi.Shape", 1, 2), r.call("ffi.Shape", 1, 3)),
        (arr(r, 1.5, "s"), r.call("ffi.List", 1.5, "s")),
        (r.call("ffi.Dict", "k", r.call("ffi.List", 1)), r.call("ffi.Dict", "k", r.call("ffi.List", 2))),
        (m(arr(r, 1), 1), m(arr(r, 1), 1)),
    ]
    for a, b in pairs:
        p = r.call(M, a, b, False, False)
        if p is not None:
            r.call("ffi.ReprPrint", p)
            r.call("ffi.ToJSONGraphString", p, None)
            lhs = r.call("ffi.ArrayGetItem", p, 0)
            r.call("ffi.ReprPrint", lhs)
    p = r.call(M, arr(r, 1, 2), arr(r, 1, 3), True, True)
    lhs = r.call("ffi.ArrayGetItem", p, 0)
    rhs = r.call("ffi.ArrayGetItem", p, 1)
    r.call("ffi.StructuralHash", lhs, False, False)
    # a record key counts in a Map's hash only once the walk has hashed that record
    r.call("ffi.StructuralHash", r.call("ffi.Map", lhs, 1), False, False)
    r.call("ffi.StructuralHash", arr(r, lhs, r.call("ffi.Map", lhs, 1)), False, False)
    r.call("ffi.StructuralHash", arr(r, r.call("ffi.Map", lhs, 1), lhs), False, False)
    r.call("ffi.RecursiveHash", lhs)
    r.call("ffi.StructuralEqual", lhs, rhs, False, False)
    r.call(M, lhs, rhs, False, False)
    r.call("ffi.RecursiveEq", lhs, rhs)
    r.call("ffi.RecursiveLt", lhs, rhs)
    c = r.call("ffi.DeepCopy", lhs)
    r.call("ffi.ReprPrint", c)
    r.call("ffi.RecursiveEq", lhs, c)
    g = r.call("ffi.ToJSONGraph", lhs, None)
    r.call(S, g, None)
    back = r.call("ffi.FromJSONGraph", g)
    r.call("ffi.ReprPrint", back)
    r.call("ffi.StructuralEqual", back, lhs, False, False)
    r.call(M, 1, 2, False, kind="TypeError")
    r.call(M, 1, 2, "x", False, kind="TypeError")


def case_structural_key(r):
    K = "ffi.StructuralKey"
    E = "ffi.StructuralKeyEqual"
    k = r.call(K, arr(r, 1, "x"))
    r.call("ffi.ReprPrint", k)
    r.call("ffi.RecursiveHash", k)
    r.call("ffi.RecursiveEq", k, r.call(K, arr(r, 1, "x")))
    r.call("ffi.RecursiveLt", k, r.call(K, arr(r, 1, "y")))
    r.call("ffi.ReprPrint", r.call("ffi.DeepCopy", k))
    r.call("ffi.ToJSONGraphString", k, None)
    r.call("ffi.StructuralHash", k, False, False, kind="TypeError")
    r.call("ffi.StructuralEqual", k, k, False, False, kind="TypeError")
    for key in ("abc", None, 1.5, b"by", r.call("ffi.Map", "a", arr(r, 1))):
        r.call("ffi.ReprPrint", r.call(K, key))
    r.call(E, k, k)
    r.call(E, 1, 1)
    r.call(E, "a", "a")
    r.call(E, None, None)
    r.call(E, k, r.call(K, arr(r, 1, "x")))
    r.call(E, k, r.call(K, arr(r, 1, "y")))
    r.call(E, r.call(K, "abc"), r.call(K, w.ObjStr("abc")))
    r.call(E, 1, 2, kind="InternalError")
    r.call(E, k, 2, kind="InternalError")
    r.call(E, arr(r), arr(r), kind="InternalError")
    r.call(K, r.call("ffi.FunctionListGlobalNamesFunctor"), kind="TypeError")
    r.call(K, kind="TypeError")
    r.call(E, 1, kind="TypeError")
    F = "ffi.FromJSONGraphString"
    v = r.call(F, '{"root_index":1,"nodes":[{"type":"ffi.String","data":"abc"},'
               '{"type":"ffi.StructuralKey","data":{"key":0,"hash_i64":5}}]}')
    r.call("ffi.ReprPrint", v)
    r.call(F, '{"root_index":1,"nodes":[{"type":"ffi.String","data":"abc"},'
           '{"type":"ffi.StructuralKey","data":{"key":0}}]}', kind="TypeError")
    r.call(F, '{"root_index":1,"nodes":[{"type":"ffi.String","data":"abc"},'
           '{"type":"ffi.StructuralKey","data":[0, 1]}]}', kind="TypeError")
    r.call(F, '{"root_index":1,"nodes":[{"type":"ffi.String","data":"abc"},'
           '{"type":"ffi.StructuralKey","data":{"key":7,"hash_i64":5}}]}', kind="ValueError")
    v = r.call(F, '{"root_index":3,"nodes":[{"type":"None"},{"type":"ffi.String","data":"f"},'
               '{"type":"ffi.reflection.AccessStep","data":{"kind":0,"key":1}},'
               '{"type":"ffi.reflection.AccessPath","data":{"parent":4,"step":2,"depth":1}},'
               '{"type":"ffi.reflection.AccessPath","data":{"parent":0,"step":0,"depth":0}}]}')
    r.call("ffi.ReprPrint", v)


def case_visit_interrupt(r):
    v = r.call("ffi.VisitInterrupt", arr(r, 1, "x"))
    r.call("ffi.ReprPrint", v)
    r.call("ffi.ToJSONGraphString", v, None)
    r.call("ffi.StructuralHash", v, False, False, kind="TypeError")
    r.call("ffi.StructuralEqual", v, v, False, False, kind="TypeError")
    r.call("ffi.RecursiveHash", v)
    r.call("ffi.ReprPrint", r.call("ffi.DeepCopy", v))
    r.call("ffi.RecursiveEq", v, r.call("ffi.VisitInterrupt", arr(r, 1, "x")))
    r.call("ffi.RecursiveLt", v, r.call("ffi.VisitInterrupt", arr(r, 1, "y")))
    r.call("ffi.ReprPrint", r.call("ffi.VisitInterrupt", None))
    r.call("ffi.ReprPrint", r.call("ffi.VisitInterrupt", v))
    F = "ffi.FromJSONGraphString"
    r.call("ffi.ReprPrint", r.call(F, '{"root_index":1,"nodes":[{"type":"int","data":3},'
                                   '{"type":"ffi.VisitInterrupt","data":{"value":0}}]}'))
    r.call("ffi.ReprPrint", r.call(F, '{"root_index":0,"nodes":[{"type":"ffi.VisitInterrupt",'
                                   '"data":{}}]}'))
    r.call("ffi.VisitInterrupt", kind="TypeError")


def case_structural_walk(r):
    W = "ffi.StructuralWalk"
    # callbacks are functions that live on the server: global functions fetched remotely
    vi = r.session.get_global_func("ffi.VisitInterrupt")
    size = r.session.get_global_func("ffi.ArraySize")
    repr_fn = r.session.get_global_func("ffi.ReprPrint")
    VI, SIZE = h.Ref(w.TI.FUNCTION, vi), h.Ref(w.TI.FUNCTION, size)
    REPR = h.Ref(w.TI.FUNCTION, repr_fn)
    root = parse(r, '[1, [2, "s", {"k": [3, 4.5]}], null, "a long string"]')
    none = arr(r)
    for order in (0, 1):
        for ti in (1, 2, 3, 65, 71, 72, 64, -1, 11):
            res = r.call(W, root, arr(r, arr(r, ti, VI)), none, order)
            if res is not None:
                r.call("ffi.ReprPrint", res)
        # a def-region callback is called with (value, kind): VisitInterrupt takes one argument
        r.call(W, root, none, arr(r, arr(r, 1, VI)), order, kind="TypeError")
    r.call(W, root, none, none, 0)
    r.call(W, 5, none, none, 1)
    r.call(W, None, arr(r, arr(r, -1, VI)), none, 0)
    # ArraySize answers an int: 1 skips the children of a one-element Array, 0 and 2 advance
    skip = parse(r, '[[7], [8, 9], [[10]]]')
    res = r.call(W, skip, arr(r, arr(r, 71, SIZE), arr(r, 1, VI)), none, 0)
    r.call("ffi.ReprPrint", res)
    # a callback answering something that is not a WalkResult
    r.call(W, root, arr(r, arr(r, 1, REPR)), none, 0, kind="TypeError")
    r.call(W, root, arr(r, arr(r, 1)), none, 0, kind="TypeError")
    r.call(W, root, arr(r, 1), none, 0, kind="TypeError")
    r.call(W, root, 5, none, 0, kind="TypeError")
    r.call(W, root, none, none, "x", kind="TypeError")
    r.call(W, root, none, none, kind="TypeError")
    r.session.free_handle(vi)
    r.session.free_handle(size)
    r.session.free_handle(repr_fn)


def case_structural_visitor_globals(r):
    # their first argument is a StructuralVisitor (or a VisitErrorContext), which no client
    # can hold: TVM answers every call with an argument TypeError
    r.call("ffi.StructuralVisitorVisit", 1, 2, kind="TypeError")
    r.call("ffi.StructuralVisitorVisit", arr(r), 2, kind="TypeError")
    r.call("ffi.StructuralVisitorVisit", 1, kind="TypeError")
    r.call("ffi.StructuralVisitorDefRegionKind", 1, kind="TypeError")
    r.call("ffi.StructuralVisitorDefRegionKind", arr(r), kind="TypeError")
    r.call("ffi.StructuralVisitorDefRegionKind", kind="TypeError")
    W = "ffi.StructuralVisitorWithDefRegionKind"
    walk = r.call("ffi.VisitInterrupt", 1)
    r.call(W, 1, 0, walk, kind="TypeError")
    r.call(W, arr(r), 1, walk, kind="TypeError")
    r.call(W, 1, kind="TypeError")
    F = "ffi.VisitErrorContext.FindAccessPaths"
    r.call(F, arr(r), arr(r), True, kind="TypeError")
    r.call(F, 1, 2, True, kind="TypeError")
    r.call(F, arr(r), None, False, kind="TypeError")
    r.call(F, arr(r), kind="TypeError")


def case_make_object_from_packed_args(r):
    # the reflected types this server has; TVM's own server crashes on its containers
    M = "ffi.MakeObjectFromPackedArgs"
    for args in [("ffi.StructuralKey", "key", 1, "hash_i64", 5),
                 ("ffi.VisitInterrupt", "value", "x"), ("ffi.VisitInterrupt",), (77, "value", 3),
                 ("ffi.StructuralKey", "hash_i64", 5, "key", 1),
                 ("ffi.StructuralKey", "key", 1, "hash_i64", "x"),
                 ("ffi.reflection.AccessStep", "kind", 1, "key", 2),
                 ("ffi.reflection.AccessStep", "kind", 2, "key", "k")]:
        v = r.call(M, *args)
        r.call("ffi.ReprPrint", v)
    r.call(M, "ffi.StructuralKey", "key", 1, kind="TypeError")
    r.call(M, "ffi.StructuralKey", "key", 1, "hash_i64", 5, "zzz", 1, kind="TypeError")
    r.call(M, "ffi.VisitInterrupt", "value", kind="InternalError")
    r.call(M, "ffi.VisitInterrupt", 5, 1, kind="TypeError")
    r.call(M, "no.Such", kind="InternalError")
    r.call(M, 2.5, kind="TypeError")


def case_argument_conversions(r):
    r.call(J, b"1", kind="TypeError")
    r.call(J, w.ByteArray(b"[1]"), kind="TypeError")
    r.call("ffi.FromJSONGraphString", b"{}", kind="TypeError")
    r.call(S, 1, w.DataType(0, 32, 1), kind="TypeError")
    r.call("ffi.StructuralHash", 1, 1, 0)
    r.call("ffi.StructuralHash", 1, 2.0, 0, kind="TypeError")
    r.call("ffi.StructuralEqual", 1, 1, None, False, kind="TypeError")
    r.call("ffi.ReprPrint", w.ObjStr(""))
    r.call("ffi.ReprPrint", "")
    r.call("ffi.ReprPrint", b"")
    r.call(S, w.ObjStr("x"), None)
    r.call(S, r.call(J, w.ObjStr("[1]")), None)
    r.call("ffi.ToJSONGraphString", None, None)
    r.call(S, r.call("ffi.ToJSONGraph", None, "meta"), None)
    r.call("ffi.DeepCopy", "a long string here")
    r.call("ffi.DeepCopy", b"bytes!!!!!")
    r.call("ffi.DeepCopy", w.ByteArray(b"ab"))
    r.call("ffi.StructuralHash", w.ObjBytes(b""), False, False)
