/* Unit tests for structural and recursive hashing/comparison and deep copy (ffi_structural.c):
 * the integers TVM's tvm_rpc answers (copied from tests/conformance/goldens/structural.json and
 * from g++'s std::hash), tensors, cycles through Lists and Dicts, and values too deep or too
 * large to walk, which must end in an error rather than a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/ffi_json.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_structural.h"
#include "global_call_util.h"

static int64_t shash(TVMFFIAny v)
{
	TVMFFIAny args[3] = {v, ffi_any_bool(0), ffi_any_bool(0)};
	TVMFFIAny rv = ok("ffi.StructuralHash", args, 3);
	assert_int_equal(rv.type_index, FFI_INT);
	return rv.v_int64;
}

static int sequal(TVMFFIAny a, TVMFFIAny b)
{
	TVMFFIAny args[4] = {a, b, ffi_any_bool(0), ffi_any_bool(0)};
	return (int)ok("ffi.StructuralEqual", args, 4).v_int64;
}

static int relation(const char *name, TVMFFIAny a, TVMFFIAny b)
{
	TVMFFIAny args[2] = {a, b};
	TVMFFIAny rv = ok(name, args, 2);
	assert_int_equal(rv.type_index, FFI_BOOL);
	return (int)rv.v_int64;
}

static TVMFFIAny raw(const char *s)
{
	TVMFFIAny v = {.type_index = FFI_RAW_STR};
	v.v_c_str = s;
	return v;
}

static TVMFFIAny parse(const char *text)
{
	TVMFFIAny v;
	assert_int_equal(ffi_json_parse(text, strlen(text), &v), 0);
	return v;
}

static void test_stable_hashes(void **state)
{
	(void)state;
	/* std::hash<std::string_view> of g++ 12 (libstdc++ _Hash_bytes) */
	assert_true(ffi_hash_type_key("ffi.Array") == 9300778484448642049ULL);
	assert_true(ffi_hash_type_key("ffi.Map") == 7398549699555670134ULL);
	assert_true(ffi_hash_type_key("ffi.Function") == 12948442202541698621ULL);
	assert_true(ffi_hash_type_key("a") == 4993892634952068459ULL);
	assert_true(ffi_hash_bytes("ab", 2) == 0x6261);
	assert_true(ffi_hash_bytes("", 0) == 0);
}

static void test_structural_hash_matches_tvm(void **state)
{
	(void)state;
	assert_true(shash(ffi_any_none()) == 2654435769LL);
	assert_true(shash(ffi_any_bool(1)) == 2654435896LL);
	assert_true(shash(ffi_any_int(1)) == 2654435835LL);
	assert_true(shash(ffi_any_int(-1)) == 2654435833LL);
	assert_true(shash(raw("abc")) == 2660953131LL);
	TVMFFIAny ab = ffi_any_object(&ffi_str_new("ab", 2)->header); /* object form, same hash */
	assert_true(shash(ab) == 2654465067LL);
	ffi_any_release(&ab);
	TVMFFIAny bytes = ffi_any_object(&ffi_bytes_new("ab", 2)->header);
	assert_true(shash(bytes) == 2654465256LL);
	ffi_any_release(&bytes);
	TVMFFIByteArray view = {"ab", 2};
	TVMFFIAny small = {.type_index = FFI_BYTE_ARRAY_PTR};
	small.v_ptr = &view; /* converted to SmallBytes, hashed as a POD word */
	assert_true(shash(small) == 2654461713LL);
	TVMFFIAny empty = ffi_any_object(&ffi_array_new()->header);
	assert_true(shash(empty) == -2010874065908478216LL);
	ffi_any_release(&empty);
	/* Map hashes do not depend on insertion order */
	TVMFFIAny m1 = parse("{\"a\": 1, \"b\": [2]}"), m2 = parse("{\"b\": [2], \"a\": 1}");
	assert_true(shash(m1) == shash(m2));
	assert_true(sequal(m1, m2));
	ffi_any_release(&m1);
	ffi_any_release(&m2);
}

static void test_structural_equal(void **state)
{
	(void)state;
	assert_true(sequal(ffi_any_float(NAN), ffi_any_float(-NAN)));
	assert_false(sequal(ffi_any_float(0.0), ffi_any_float(-0.0)));
	assert_false(sequal(ffi_any_int(1), ffi_any_bool(1)));
	TVMFFIByteArray view = {"ab", 2};
	TVMFFIAny small = {.type_index = FFI_BYTE_ARRAY_PTR};
	small.v_ptr = &view;
	TVMFFIAny obj = ffi_any_object(&ffi_bytes_new("ab", 2)->header);
	assert_true(sequal(small, obj));
	assert_false(sequal(raw("ab"), obj)); /* str is not bytes */
	ffi_any_release(&obj);
	TVMFFIAny a = parse("[1, 2]");
	ffi_array_t *l = ffi_list_new();
	ffi_array_push(l, ffi_any_int(1));
	ffi_array_push(l, ffi_any_int(2));
	TVMFFIAny list = ffi_any_object(&l->header);
	assert_false(sequal(a, list));
	ffi_any_release(&a);
	ffi_any_release(&list);
	ffi_function_t *fn = ffi_registry_get("ffi.ReprPrint");
	TVMFFIAny f = ffi_any_object(&fn->header);
	TVMFFIAny args[4] = {f, f, ffi_any_bool(0), ffi_any_bool(0)};
	fails("ffi.StructuralEqual", args, 4, "TypeError");
	fails("ffi.StructuralHash", args + 1, 3, "TypeError");
	fails("ffi.StructuralEqual", args, 3, "TypeError");
	ffi_any_release(&f);
}

static void test_tensors(void **state)
{
	(void)state;
	int64_t dims[1] = {4};
	DLDataType f32 = {kDLFloat, 32, 1};
	ffi_tensor_t *a = ffi_tensor_alloc(dims, 1, f32, (DLDevice){kDLCPU, 0});
	ffi_tensor_t *b = ffi_tensor_alloc(dims, 1, f32, (DLDevice){kDLCPU, 0});
	TVMFFIAny ta = ffi_any_object(&a->header), tb = ffi_any_object(&b->header);
	assert_true(sequal(ta, tb));
	assert_true(shash(ta) == shash(tb));
	((float *)b->dl.data)[2] = 1.0f;
	assert_false(sequal(ta, tb));
	assert_true(shash(ta) != shash(tb));
	TVMFFIAny skip[4] = {ta, tb, ffi_any_bool(0), ffi_any_bool(1)};
	assert_true(ok("ffi.StructuralEqual", skip, 4).v_int64);
	/* a tensor on another device can only be compared without its content */
	b->dl.device.device_type = kDLCUDA;
	fails("ffi.StructuralEqual", (TVMFFIAny[4]){ta, tb, ffi_any_bool(0), ffi_any_bool(0)}, 4,
	      "InternalError");
	assert_true(ok("ffi.StructuralEqual", skip, 4).v_int64);
	b->dl.device.device_type = kDLCPU;
	ffi_any_release(&ta);
	ffi_any_release(&tb);
}

static void test_recursive_compare(void **state)
{
	(void)state;
	assert_true(relation("ffi.RecursiveLt", ffi_any_int(1), ffi_any_int(2)));
	assert_true(relation("ffi.RecursiveLt", ffi_any_none(), ffi_any_int(2)));
	assert_true(relation("ffi.RecursiveLt", raw("ab"), raw("abc")));
	assert_true(relation("ffi.RecursiveGe", raw("b"), raw("abc")));
	assert_true(relation("ffi.RecursiveEq", ffi_any_float(NAN), ffi_any_float(NAN)));
	assert_false(relation("ffi.RecursiveEq", ffi_any_int(1), raw("a")));
	TVMFFIAny args[2] = {ffi_any_int(1), raw("a")};
	fails("ffi.RecursiveLt", args, 2, "TypeError");
	args[1] = ffi_any_float(NAN);
	fails("ffi.RecursiveLt", args, 2, "TypeError");
	TVMFFIAny a = parse("[[1, 2], 5]"), b = parse("[[1, 2], 4]");
	assert_true(relation("ffi.RecursiveGt", a, b));
	ffi_any_release(&a);
	ffi_any_release(&b);
	TVMFFIAny m1 = parse("{\"a\": 1, \"b\": 2}"), m2 = parse("{\"b\": 2, \"a\": 1}");
	TVMFFIAny m3 = parse("{\"a\": 1, \"b\": 3}");
	assert_true(relation("ffi.RecursiveEq", m1, m2));
	assert_true(relation("ffi.RecursiveLe", m1, m2));
	assert_false(relation("ffi.RecursiveEq", m1, m3));
	args[0] = m1;
	args[1] = m3;
	fails("ffi.RecursiveLt", args, 2, "TypeError"); /* Maps have no order */
	ffi_any_release(&m1);
	ffi_any_release(&m2);
	ffi_any_release(&m3);
}

/* A List [1, "a", itself]; the caller breaks the cycle with list_unlink. */
static ffi_array_t *self_list(void)
{
	ffi_array_t *l = ffi_list_new();
	ffi_array_push(l, ffi_any_int(1));
	ffi_array_push(l, ffi_json_str_value("a", 1));
	ffi_object_retain(&l->header);
	ffi_array_push(l, ffi_any_object(&l->header));
	return l;
}

static void list_unlink(ffi_array_t *l)
{
	while (l->size)
		ffi_any_release(&l->items[--l->size]);
	ffi_object_release(&l->header);
}

static void test_cycles(void **state)
{
	(void)state;
	ffi_array_t *l = self_list();
	TVMFFIAny v = ffi_any_object(&l->header);
	TVMFFIAny h1 = ok("ffi.RecursiveHash", &v, 1), h2 = ok("ffi.RecursiveHash", &v, 1);
	assert_true(h1.v_int64 == h2.v_int64);
	assert_true(relation("ffi.RecursiveEq", v, v));
	ffi_array_t *m = self_list();
	TVMFFIAny w = ffi_any_object(&m->header);
	assert_true(relation("ffi.RecursiveEq", v, w));
	TVMFFIAny args[2] = {v, w};
	fails("ffi.RecursiveLt", args, 2, "ValueError");
	/* StructuralHash has no cycle handling in TVM (it recurses without end): a bound here */
	TVMFFIAny sargs[3] = {v, ffi_any_bool(0), ffi_any_bool(0)};
	fails("ffi.StructuralHash", sargs, 3, "ValueError");
	/* a deep copy keeps the cycle, pointing at the copy */
	TVMFFIAny c = ok("ffi.DeepCopy", &v, 1);
	ffi_array_t *copy = (ffi_array_t *)c.v_obj;
	assert_true(copy != l);
	assert_int_equal(copy->size, 3);
	assert_true(copy->items[2].v_obj == &copy->header);
	list_unlink(copy);
	list_unlink(m);
	list_unlink(l);
}

static void test_deep_copy(void **state)
{
	(void)state;
	/* Array [List [Array itself]]: the List of the copy must point at the copied Array */
	ffi_array_t *inner = ffi_list_new();
	ffi_array_t *outer = ffi_array_new();
	ffi_array_push(outer, ffi_any_object(&inner->header));
	ffi_object_retain(&outer->header);
	ffi_array_push(inner, ffi_any_object(&outer->header));
	TVMFFIAny v = ffi_any_object(&outer->header);
	TVMFFIAny c = ok("ffi.DeepCopy", &v, 1);
	ffi_array_t *outer2 = (ffi_array_t *)c.v_obj;
	ffi_array_t *inner2 = (ffi_array_t *)outer2->items[0].v_obj;
	assert_true(inner2 != inner && outer2 != outer);
	assert_true(inner2->items[0].v_obj == &outer2->header);
	ffi_any_release(&inner2->items[0]);
	inner2->size = 0;
	ffi_any_release(&c);
	ffi_any_release(&inner->items[0]);
	inner->size = 0;
	ffi_any_release(&v);
	/* a Dict holding itself under a key */
	ffi_map_t *d = ffi_map_new(FFI_DICT);
	ffi_map_set(d, ffi_json_str_value("k", 1), ffi_any_int(1));
	ffi_object_retain(ffi_map_object(d));
	ffi_map_set(d, ffi_json_str_value("self", 4), ffi_any_object(ffi_map_object(d)));
	v = ffi_any_object(ffi_map_object(d));
	c = ok("ffi.DeepCopy", &v, 1);
	TVMFFIAny key = ffi_json_str_value("self", 4);
	const TVMFFIAny *self = ffi_map_get((ffi_map_t *)c.v_obj, &key);
	assert_non_null(self);
	assert_true(self->v_obj == c.v_obj);
	ffi_map_clear((ffi_map_t *)c.v_obj);
	ffi_any_release(&c);
	ffi_map_clear(d);
	ffi_any_release(&v);
	/* objects without a copy constructor */
	ffi_function_t *fn = ffi_registry_get("ffi.ReprPrint");
	TVMFFIAny f = ffi_any_object(&fn->header);
	fails("ffi.DeepCopy", &f, 1, "InternalError");
	ffi_any_release(&f);
	fails("ffi.DeepCopy", &f, 0, "TypeError");
}

static void test_bounds(void **state)
{
	(void)state;
	/* 5000 nested Arrays: past the nesting bound of every walk */
	TVMFFIAny v = ffi_any_int(0);
	for (int i = 0; i < 5000; i++) {
		ffi_array_t *a = ffi_array_new();
		ffi_array_push(a, v);
		v = ffi_any_object(&a->header);
	}
	TVMFFIAny args[4] = {v, v, ffi_any_bool(0), ffi_any_bool(0)};
	fails("ffi.StructuralHash", (TVMFFIAny[3]){v, ffi_any_bool(0), ffi_any_bool(0)}, 3,
	      "ValueError");
	fails("ffi.StructuralEqual", args, 4, "ValueError");
	fails("ffi.RecursiveHash", &v, 1, "ValueError");
	fails("ffi.DeepCopy", &v, 1, "ValueError");
	fails("ffi.ReprPrint", &v, 1, "ValueError");
	fails("ffi.ToJSONGraph", args + 1, 2, "ValueError");
	/* RecursiveEq of an object with itself is answered without a walk */
	assert_true(relation("ffi.RecursiveEq", v, v));
	ffi_any_release(&v);
	/* a DAG of 60 levels, each holding the level below twice: 2^60 paths. RecursiveHash
	 * memoises; StructuralHash stops at the node budget */
	v = ffi_any_int(1);
	for (int i = 0; i < 60; i++) {
		ffi_array_t *a = ffi_array_new();
		ffi_any_retain(&v);
		ffi_array_push(a, v);
		ffi_array_push(a, v);
		v = ffi_any_object(&a->header);
	}
	ok("ffi.RecursiveHash", &v, 1);
	fails("ffi.StructuralHash", (TVMFFIAny[3]){v, ffi_any_bool(0), ffi_any_bool(0)}, 3,
	      "ValueError");
	ffi_any_release(&v);
}

static char *repr_text(TVMFFIAny v)
{
	TVMFFIAny rv = ok("ffi.ReprPrint", &v, 1);
	size_t n;
	const char *s = ffi_any_as_str(&rv, &n);
	char *copy = strndup(s, n);
	ffi_any_release(&rv);
	return copy;
}

static void assert_mismatch(const char *lhs, const char *rhs, const char *want)
{
	TVMFFIAny a = parse(lhs), b = parse(rhs);
	TVMFFIAny args[4] = {a, b, ffi_any_bool(0), ffi_any_bool(0)};
	TVMFFIAny pair = ok("ffi.GetFirstStructuralMismatch", args, 4);
	if (!want) {
		assert_int_equal(pair.type_index, FFI_NONE);
	} else {
		char *got = repr_text(pair);
		assert_string_equal(got, want);
		free(got);
	}
	ffi_any_release(&pair);
	ffi_any_release(&a);
	ffi_any_release(&b);
}

static void test_first_mismatch(void **state)
{
	(void)state;
	assert_mismatch("[1, 2]", "[1, 2]", NULL);
	assert_mismatch("[1, 2]", "[1, 3]", "(<root>[1], <root>[1])");
	assert_mismatch("[1, 2]", "[1]", "(<root>[1], <root>[<missing:1>])");
	assert_mismatch("{\"a\": 1, \"b\": [1, \"x\"]}", "{\"a\": 1, \"b\": [1, \"y\"]}",
			"(<root>[\"b\"][1], <root>[\"b\"][1])");
	assert_mismatch("{\"a\": 1}", "{\"a\": 1, \"c\": 2}",
			"(<root>[<missing:\"c\">], <root>[\"c\"])");
	assert_mismatch("1", "2", "(<root>, <root>)");
	/* the paths are AccessPath records: they hash, compare, copy and serialise */
	TVMFFIAny a = parse("[[1]]"), b = parse("[[2]]");
	TVMFFIAny args[4] = {a, b, ffi_any_bool(0), ffi_any_bool(0)};
	TVMFFIAny pair = ok("ffi.GetFirstStructuralMismatch", args, 4);
	ffi_array_t *p = (ffi_array_t *)pair.v_obj;
	assert_int_equal(p->items[0].type_index, FFI_ACCESS_PATH);
	assert_true(sequal(p->items[0], p->items[1]));
	assert_true(shash(p->items[0]) == shash(p->items[1]));
	TVMFFIAny copy = ok("ffi.DeepCopy", &p->items[0], 1);
	assert_true(copy.v_obj != p->items[0].v_obj);
	char *text = repr_text(copy);
	assert_string_equal(text, "<root>[0][0]");
	free(text);
	TVMFFIAny g[2] = {copy, ffi_any_none()};
	TVMFFIAny graph = ok("ffi.ToJSONGraph", g, 2);
	TVMFFIAny back = ok("ffi.FromJSONGraph", &graph, 1);
	assert_true(sequal(back, copy));
	ffi_any_release(&back);
	ffi_any_release(&graph);
	ffi_any_release(&copy);
	ffi_any_release(&pair);
	ffi_any_release(&a);
	ffi_any_release(&b);
}

static void test_structural_key(void **state)
{
	(void)state;
	TVMFFIAny x = parse("[1, \"x\"]"), y = parse("[1, \"x\"]"), z = parse("[1, \"y\"]");
	TVMFFIAny kx = ok("ffi.StructuralKey", &x, 1), ky = ok("ffi.StructuralKey", &y, 1);
	TVMFFIAny kz = ok("ffi.StructuralKey", &z, 1);
	assert_int_equal(kx.type_index, FFI_STRUCTURAL_KEY);
	char *text = repr_text(kx);
	assert_string_equal(text,
			    "ffi.StructuralKey(key=(1, \"x\"), hash_i64=2823322240268048947)");
	free(text);
	assert_true(relation("ffi.StructuralKeyEqual", kx, ky));
	assert_false(relation("ffi.StructuralKeyEqual", kx, kz));
	assert_true(relation("ffi.StructuralKeyEqual", ffi_any_int(1), ffi_any_int(1)));
	TVMFFIAny args[2] = {kx, ffi_any_int(2)};
	fails("ffi.StructuralKeyEqual", args, 2, "InternalError");
	TVMFFIAny sargs[3] = {kx, ffi_any_bool(0), ffi_any_bool(0)};
	fails("ffi.StructuralHash", sargs, 3, "TypeError");
	TVMFFIAny h = ok("ffi.RecursiveHash", &kx, 1);
	assert_true(h.v_int64 == 2048272220724243412LL);
	ffi_any_release(&kx);
	ffi_any_release(&ky);
	ffi_any_release(&kz);
	ffi_any_release(&x);
	ffi_any_release(&y);
	ffi_any_release(&z);
}

/* Array [type_index, fn] as a StructuralWalk callback entry. */
static TVMFFIAny callback(int64_t type_index, const char *global)
{
	ffi_array_t *pair = ffi_array_new();
	ffi_array_push(pair, ffi_any_int(type_index));
	ffi_array_push(pair, ffi_any_object(&ffi_registry_get(global)->header));
	ffi_array_t *list = ffi_array_new();
	ffi_array_push(list, ffi_any_object(&pair->header));
	return ffi_any_object(&list->header);
}

static void test_structural_walk(void **state)
{
	(void)state;
	TVMFFIAny root = parse("[1, [2, \"s\", {\"k\": [3, 4.5]}], null]");
	TVMFFIAny none = ffi_any_object(&ffi_array_new()->header);
	TVMFFIAny floats = callback(FFI_FLOAT, "ffi.VisitInterrupt");
	TVMFFIAny args[4] = {root, floats, none, ffi_any_int(0)};
	TVMFFIAny found = ok("ffi.StructuralWalk", args, 4);
	assert_int_equal(found.type_index, FFI_VISIT_INTERRUPT);
	char *text = repr_text(found);
	assert_string_equal(text, "ffi.VisitInterrupt(value=4.5)");
	free(text);
	ffi_any_release(&found);
	/* post-order meets the innermost Array [3, 4.5] before its parents */
	TVMFFIAny arrays = callback(FFI_ARRAY, "ffi.VisitInterrupt");
	args[1] = arrays;
	args[3] = ffi_any_int(1);
	found = ok("ffi.StructuralWalk", args, 4);
	text = repr_text(found);
	assert_string_equal(text, "ffi.VisitInterrupt(value=(3, 4.5))");
	free(text);
	ffi_any_release(&found);
	args[1] = none;
	assert_int_equal(ok("ffi.StructuralWalk", args, 4).type_index, FFI_NONE);
	/* bad callback lists are TypeErrors (and free nothing twice) */
	TVMFFIAny bad = parse("[[1]]");
	args[1] = bad;
	fails("ffi.StructuralWalk", args, 4, "TypeError");
	args[1] = none;
	args[2] = bad;
	fails("ffi.StructuralWalk", args, 4, "TypeError");
	args[2] = none;
	args[3] = raw("x");
	fails("ffi.StructuralWalk", args, 4, "TypeError");
	/* a callback answering a string */
	TVMFFIAny strings = callback(FFI_INT, "ffi.ReprPrint");
	TVMFFIAny wrong[4] = {root, strings, none, ffi_any_int(0)};
	fails("ffi.StructuralWalk", wrong, 4, "TypeError");
	/* a List inside itself: a bounded walk */
	ffi_array_t *l = self_list();
	TVMFFIAny cyclic[4] = {ffi_any_object(&l->header), none, none, ffi_any_int(0)};
	fails("ffi.StructuralWalk", cyclic, 4, "ValueError");
	list_unlink(l);
	/* the visitor globals take objects no client can hold */
	fails("ffi.StructuralVisitorVisit", args, 2, "TypeError");
	fails("ffi.StructuralVisitorDefRegionKind", args, 1, "TypeError");
	fails("ffi.VisitErrorContext.FindAccessPaths", args, 3, "TypeError");
	ffi_any_release(&strings);
	ffi_any_release(&bad);
	ffi_any_release(&arrays);
	ffi_any_release(&floats);
	ffi_any_release(&none);
	ffi_any_release(&root);
}

static void test_make_object(void **state)
{
	(void)state;
	TVMFFIAny args[5] = {raw("ffi.StructuralKey"), raw("hash_i64"), ffi_any_int(5), raw("key"),
			     ffi_any_int(1)};
	TVMFFIAny v = ok("ffi.MakeObjectFromPackedArgs", args, 5);
	char *text = repr_text(v);
	assert_string_equal(text, "ffi.StructuralKey(key=1, hash_i64=5)");
	free(text);
	ffi_any_release(&v);
	fails("ffi.MakeObjectFromPackedArgs", args, 3, "TypeError"); /* key missing */
	fails("ffi.MakeObjectFromPackedArgs", args, 4, "InternalError"); /* odd count */
	args[0] = raw("ffi.Array"); /* containers are not built by field */
	fails("ffi.MakeObjectFromPackedArgs", args, 1, "InternalError");
	args[0] = ffi_any_int(FFI_VISIT_INTERRUPT);
	v = ok("ffi.MakeObjectFromPackedArgs", args, 1);
	assert_int_equal(v.type_index, FFI_VISIT_INTERRUPT);
	ffi_any_release(&v);
	fails("ffi.MakeObjectFromPackedArgs", args, 0, "IndexError");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stable_hashes),
		cmocka_unit_test(test_structural_hash_matches_tvm),
		cmocka_unit_test(test_structural_equal),
		cmocka_unit_test(test_tensors),
		cmocka_unit_test(test_recursive_compare),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_deep_copy),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_first_mismatch),
		cmocka_unit_test(test_structural_key),
		cmocka_unit_test(test_structural_walk),
		cmocka_unit_test(test_make_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
