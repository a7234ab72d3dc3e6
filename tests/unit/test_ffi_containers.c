/* Unit tests for the containers (ffi_containers.c): map growth, erase and insertion order, key
 * equality and hashing, owned copies; and every container global (ffi_globals_containers.c,
 * ffi_globals_maps.c) with its error paths, called through the registry as the session does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "runtime/ffi.h"
#include "global_call_util.h"

/* ---- helpers ---- */

static TVMFFIAny raw_str(const char *s)
{
	TVMFFIAny v = {.type_index = FFI_RAW_STR};
	v.v_c_str = s;
	return v;
}

static TVMFFIAny str_obj(const char *s)
{
	return ffi_any_object(&ffi_str_new(s, strlen(s))->header);
}

static TVMFFIAny small_str(const char *s)
{
	TVMFFIAny v = {.type_index = FFI_SMALL_STR, .zero_padding = (uint32_t)strlen(s)};
	memcpy(v.v_bytes, s, strlen(s) + 1);
	return v;
}

static int64_t list_size(TVMFFIAny *l)
{
	return ok_int(l->type_index == FFI_LIST ? "ffi.ListSize" : "ffi.ArraySize", l, 1);
}

static int64_t list_int(TVMFFIAny *l, int64_t i)
{
	TVMFFIAny args[2] = {*l, ffi_any_int(i)};
	return ok_int(l->type_index == FFI_LIST ? "ffi.ListGetItem" : "ffi.ArrayGetItem", args, 2);
}

/* Assert the list holds exactly the given ints. */
static void assert_list_ints(TVMFFIAny *l, const int64_t *want, int64_t n)
{
	assert_int_equal(list_size(l), n);
	for (int64_t i = 0; i < n; i++)
		assert_int_equal(list_int(l, i), want[i]);
}

static TVMFFIAny make_list(const char *ctor, int64_t n)
{
	TVMFFIAny args[16];
	assert_true(n <= 16);
	for (int64_t i = 0; i < n; i++)
		args[i] = ffi_any_int(i);
	return ok(ctor, args, (int32_t)n);
}

/* ---- the map itself ---- */

static void test_map_growth_and_order(void **state)
{
	(void)state;
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	for (int64_t i = 0; i < 5000; i++)
		assert_int_equal(ffi_map_set(m, ffi_any_int(i * 7919), ffi_any_int(i)), 0);
	assert_int_equal(ffi_map_size(m), 5000);
	for (int64_t i = 0; i < 5000; i++) {
		TVMFFIAny k = ffi_any_int(i * 7919);
		const TVMFFIAny *v = ffi_map_get(m, &k);
		assert_non_null(v);
		assert_int_equal(v->v_int64, i);
	}
	TVMFFIAny absent = ffi_any_int(-1);
	assert_null(ffi_map_get(m, &absent));
	size_t pos = 0;
	const TVMFFIAny *k, *v;
	int64_t expect = 0;
	while (ffi_map_next(m, &pos, &k, &v))
		assert_int_equal(v->v_int64, expect++);
	assert_int_equal(expect, 5000);
	ffi_object_release(ffi_map_object(m));
}

static void test_map_erase_keeps_order(void **state)
{
	(void)state;
	ffi_map_t *m = ffi_map_new(FFI_DICT);
	for (int64_t i = 0; i < 100; i++)
		ffi_map_set(m, ffi_any_int(i), ffi_any_int(i));
	for (int64_t i = 0; i < 100; i += 2) {
		TVMFFIAny k = ffi_any_int(i);
		assert_int_equal(ffi_map_erase(m, &k), 1);
		assert_int_equal(ffi_map_erase(m, &k), 0);
	}
	/* In a dense map (as tvm-ffi's) a replaced entry moves to the end; so does a re-inserted
	 * key. */
	ffi_map_set(m, ffi_any_int(51), ffi_any_int(-51));
	ffi_map_set(m, ffi_any_int(0), ffi_any_int(1000));
	assert_int_equal(ffi_map_size(m), 51);
	int64_t want[51];
	int64_t n = 0;
	for (int64_t i = 1; i < 100; i += 2)
		if (i != 51)
			want[n++] = i;
	want[n++] = 51;
	want[n++] = 0;
	size_t pos = 0;
	const TVMFFIAny *k, *v;
	n = 0;
	while (ffi_map_next(m, &pos, &k, &v)) {
		assert_int_equal(k->v_int64, want[n]);
		assert_int_equal(v->v_int64, want[n] == 51 ? -51 : want[n] == 0 ? 1000 : want[n]);
		n++;
	}
	assert_int_equal(n, 51);
	ffi_map_clear(m);
	assert_int_equal(ffi_map_size(m), 0);
	pos = 0;
	assert_int_equal(ffi_map_next(m, &pos, &k, &v), 0);
	ffi_map_set(m, ffi_any_int(3), ffi_any_int(4));
	assert_int_equal(ffi_map_size(m), 1);
	ffi_object_release(ffi_map_object(m));
}

static void assert_map_keys(const ffi_map_t *m, const int64_t *want, size_t n)
{
	size_t pos = 0, i = 0;
	const TVMFFIAny *k, *v;
	while (ffi_map_next(m, &pos, &k, &v)) {
		assert_true(i < n);
		assert_int_equal(k->v_int64, want[i++]);
	}
	assert_int_equal(i, n);
}

/* tvm-ffi's small layout (up to 4 entries) replaces a value in place; a set on a full small
 * map makes it dense, and a dense map moves a replaced entry to the end, for good. */
static void test_map_small_then_dense(void **state)
{
	(void)state;
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	for (int64_t i = 1; i <= 3; i++)
		ffi_map_set(m, ffi_any_int(i), ffi_any_int(i));
	ffi_map_set(m, ffi_any_int(1), ffi_any_int(10));
	assert_map_keys(m, (int64_t[]){1, 2, 3}, 3);
	ffi_map_set(m, ffi_any_int(4), ffi_any_int(4));
	ffi_map_set(m, ffi_any_int(2), ffi_any_int(20)); /* full small map: goes dense */
	assert_map_keys(m, (int64_t[]){1, 3, 4, 2}, 4);
	TVMFFIAny k = ffi_any_int(3);
	ffi_map_erase(m, &k);
	ffi_map_clear(m);
	ffi_map_set(m, ffi_any_int(7), ffi_any_int(7));
	ffi_map_set(m, ffi_any_int(8), ffi_any_int(8));
	ffi_map_set(m, ffi_any_int(7), ffi_any_int(70)); /* still dense after clear */
	assert_map_keys(m, (int64_t[]){8, 7}, 2);
	k = ffi_any_int(7);
	assert_int_equal(ffi_map_get(m, &k)->v_int64, 70);
	ffi_object_release(ffi_map_object(m));
}

/* Insert/erase churn over many distinct keys: dead entries are dropped as the map rebuilds. */
static void test_map_churn(void **state)
{
	(void)state;
	ffi_map_t *m = ffi_map_new(FFI_DICT);
	for (int64_t i = 0; i < 200000; i++) {
		ffi_map_set(m, ffi_any_int(i), ffi_any_int(i));
		if (i >= 8) {
			TVMFFIAny old = ffi_any_int(i - 8);
			assert_int_equal(ffi_map_erase(m, &old), 1);
		}
	}
	assert_int_equal(ffi_map_size(m), 8);
	size_t pos = 0;
	const TVMFFIAny *k, *v;
	int64_t expect = 200000 - 8;
	while (ffi_map_next(m, &pos, &k, &v))
		assert_int_equal(k->v_int64, expect++);
	assert_int_equal(expect, 200000);
	ffi_object_release(ffi_map_object(m));
}

static void test_map_key_equality(void **state)
{
	(void)state;
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	ffi_map_set(m, ffi_any_int(1), ffi_any_int(10));
	ffi_map_set(m, ffi_any_bool(1), ffi_any_int(20));
	ffi_map_set(m, ffi_any_float(1.0), ffi_any_int(30));
	ffi_map_set(m, raw_str("short"), ffi_any_int(40));
	ffi_map_set(m, raw_str("a longer string"), ffi_any_int(50));
	assert_int_equal(ffi_map_size(m), 5); /* Int 1, Bool true, Float 1.0 are distinct keys */
	TVMFFIAny as_str = str_obj("short"), as_small = small_str("short");
	TVMFFIAny long_small_miss = small_str("a longe");
	TVMFFIAny long_obj = str_obj("a longer string");
	assert_int_equal(ffi_map_get(m, &as_str)->v_int64, 40);
	assert_int_equal(ffi_map_get(m, &as_small)->v_int64, 40);
	assert_int_equal(ffi_map_get(m, &long_obj)->v_int64, 50);
	assert_null(ffi_map_get(m, &long_small_miss));
	TVMFFIAny f = ffi_any_float(1.0), b = ffi_any_bool(1);
	assert_int_equal(ffi_map_get(m, &f)->v_int64, 30);
	assert_int_equal(ffi_map_get(m, &b)->v_int64, 20);
	/* Bytes with the same content are not the string. */
	TVMFFIByteArray ba = {"short", 5};
	TVMFFIAny bytes = {.type_index = FFI_BYTE_ARRAY_PTR};
	bytes.v_ptr = &ba;
	assert_null(ffi_map_get(m, &bytes));
	/* Raw keys were stored as owned forms. */
	size_t pos = 0;
	const TVMFFIAny *k, *v;
	while (ffi_map_next(m, &pos, &k, &v))
		assert_true(k->type_index != FFI_RAW_STR);
	ffi_any_release(&as_str);
	ffi_any_release(&long_obj);
	ffi_object_release(ffi_map_object(m));
}

static void test_any_equal_and_hash(void **state)
{
	(void)state;
	TVMFFIAny s1 = str_obj("abc"), s2 = small_str("abc"), s3 = raw_str("abc");
	assert_true(ffi_any_equal(&s1, &s2));
	assert_true(ffi_any_equal(&s2, &s3));
	assert_int_equal(ffi_any_hash(&s1), ffi_any_hash(&s2));
	assert_int_equal(ffi_any_hash(&s1), ffi_any_hash(&s3));
	TVMFFIAny zero = ffi_any_float(0.0), neg_zero = ffi_any_float(-0.0);
	assert_false(ffi_any_equal(&zero, &neg_zero)); /* bitwise, as tvm-ffi */
	TVMFFIAny d1 = {.type_index = FFI_DATATYPE}, d2 = {.type_index = FFI_DATATYPE};
	d1.v_dtype = (DLDataType){kDLFloat, 32, 1};
	d2.v_uint64 = 0xdeadbeef00000000ull; /* stray bytes beyond the dtype */
	d2.v_dtype = (DLDataType){kDLFloat, 32, 1};
	assert_true(ffi_any_equal(&d1, &d2));
	assert_int_equal(ffi_any_hash(&d1), ffi_any_hash(&d2));
	TVMFFIAny a = ffi_any_object(&ffi_array_new()->header), a2 = a;
	TVMFFIAny b = ffi_any_object(&ffi_array_new()->header);
	assert_true(ffi_any_equal(&a, &a2));
	assert_false(ffi_any_equal(&a, &b)); /* objects by identity */
	TVMFFIAny none = ffi_any_none(), i0 = ffi_any_int(0);
	assert_false(ffi_any_equal(&none, &i0));
	ffi_any_release(&s1);
	ffi_any_release(&a);
	ffi_any_release(&b);
}

static void test_any_to_owned(void **state)
{
	(void)state;
	TVMFFIAny out;
	TVMFFIAny s = raw_str("1234567");
	assert_int_equal(ffi_any_to_owned(&s, &out), 0);
	assert_int_equal(out.type_index, FFI_SMALL_STR);
	s = raw_str("12345678");
	assert_int_equal(ffi_any_to_owned(&s, &out), 0);
	assert_int_equal(out.type_index, FFI_STR);
	ffi_any_release(&out);
	TVMFFIByteArray ba = {"\0\1\2\3\4\5\6\7\x08", 9};
	TVMFFIAny b = {.type_index = FFI_BYTE_ARRAY_PTR};
	b.v_ptr = &ba;
	assert_int_equal(ffi_any_to_owned(&b, &out), 0);
	assert_int_equal(out.type_index, FFI_BYTES);
	assert_int_equal(((ffi_bytes_t *)out.v_obj)->size, 9);
	ffi_any_release(&out);
	DLTensor t = {0};
	TVMFFIAny tp = {.type_index = FFI_DLTENSOR_PTR};
	tp.v_ptr = &t;
	assert_int_equal(ffi_any_to_owned(&tp, &out), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
	TVMFFIAny obj = str_obj("held");
	assert_int_equal(ffi_any_to_owned(&obj, &out), 0);
	assert_int_equal(ffi_object_refcount(obj.v_obj), 2);
	ffi_any_release(&out);
	ffi_any_release(&obj);
}

static void test_type_keys(void **state)
{
	(void)state;
	assert_string_equal(ffi_type_key(FFI_NONE), "None");
	assert_string_equal(ffi_type_key(FFI_INT), "int");
	assert_string_equal(ffi_type_key(FFI_DLTENSOR_PTR), "DLTensor*");
	assert_string_equal(ffi_type_key(FFI_RAW_STR), "const char*");
	assert_string_equal(ffi_type_key(FFI_STR), "ffi.String");
	assert_string_equal(ffi_type_key(FFI_MAP), "ffi.Map");
	assert_string_equal(ffi_type_key(FFI_DICT), "ffi.Dict");
	assert_string_equal(ffi_type_key(999), "ffi.Object");
	assert_string_equal(ffi_type_key(40), "unknown");
	TVMFFIAny keys = ok("ffi.GetRegisteredTypeKeys", NULL, 0);
	assert_int_equal(keys.type_index, FFI_ARRAY);
	TVMFFIAny args[2] = {keys, raw_str("ffi.List")};
	assert_true(ok_int("ffi.ArrayContains", args, 2));
	args[1] = raw_str("ffi.Nothing");
	assert_false(ok_int("ffi.ArrayContains", args, 2));
	fails("ffi.GetRegisteredTypeKeys", args, 1, "TypeError");
	ffi_any_release(&keys);
}

/* ---- sequence globals ---- */

static void test_array_globals(void **state)
{
	(void)state;
	TVMFFIAny args[4] = {ffi_any_int(1), raw_str("x"), ffi_any_float(2.5)};
	TVMFFIAny arr = ok("ffi.Array", args, 3);
	assert_int_equal(arr.type_index, FFI_ARRAY);
	assert_int_equal(list_size(&arr), 3);
	TVMFFIAny get[2] = {arr, ffi_any_int(1)};
	TVMFFIAny item = ok("ffi.ArrayGetItem", get, 2);
	assert_int_equal(item.type_index, FFI_SMALL_STR);
	get[1] = ffi_any_bool(1); /* bool converts to int */
	item = ok("ffi.ArrayGetItem", get, 2);
	assert_int_equal(item.type_index, FFI_SMALL_STR);
	get[1] = ffi_any_int(3);
	fails("ffi.ArrayGetItem", get, 2, "IndexError");
	get[1] = ffi_any_int(-1);
	fails("ffi.ArrayGetItem", get, 2, "IndexError");
	get[1] = ffi_any_float(0);
	fails("ffi.ArrayGetItem", get, 2, "TypeError");
	fails("ffi.ArrayGetItem", get, 1, "TypeError");
	fails("ffi.ArraySize", NULL, 0, "TypeError");
	TVMFFIAny c[2] = {arr, raw_str("x")};
	assert_true(ok_int("ffi.ArrayContains", c, 2));
	c[1] = ffi_any_bool(1); /* Bool true is not Int 1 */
	assert_false(ok_int("ffi.ArrayContains", c, 2));
	TVMFFIAny lst = make_list("ffi.List", 1);
	fails("ffi.ArraySize", &lst, 1, "TypeError");
	fails("ffi.ListSize", &arr, 1, "TypeError");
	TVMFFIAny none = ffi_any_none();
	fails("ffi.ArraySize", &none, 1, "TypeError");
	DLTensor t = {0};
	TVMFFIAny tp = {.type_index = FFI_DLTENSOR_PTR};
	tp.v_ptr = &t;
	fails("ffi.Array", &tp, 1, "TypeError");
	ffi_any_release(&arr);
	ffi_any_release(&lst);
}

static void test_list_edits(void **state)
{
	(void)state;
	TVMFFIAny l = make_list("ffi.List", 3); /* [0, 1, 2] */
	TVMFFIAny a[4] = {l, ffi_any_int(7)};
	ok("ffi.ListAppend", a, 2); /* [0 1 2 7] */
	a[1] = ffi_any_int(0);
	a[2] = ffi_any_int(9);
	ok("ffi.ListInsert", a, 3); /* [9 0 1 2 7] */
	a[1] = ffi_any_int(5);
	ok("ffi.ListInsert", a, 3); /* [9 0 1 2 7 9] */
	a[1] = ffi_any_int(7);
	fails("ffi.ListInsert", a, 3, "IndexError");
	a[1] = ffi_any_int(-1);
	fails("ffi.ListInsert", a, 3, "IndexError");
	int64_t want1[] = {9, 0, 1, 2, 7, 9};
	assert_list_ints(&l, want1, 6);
	a[1] = ffi_any_int(1);
	TVMFFIAny popped = ok("ffi.ListPop", a, 2);
	assert_int_equal(popped.v_int64, 0);
	a[1] = ffi_any_int(6);
	fails("ffi.ListPop", a, 2, "IndexError");
	a[1] = ffi_any_int(0);
	ok("ffi.ListErase", a, 2); /* [1 2 7 9] */
	a[1] = ffi_any_int(-1);
	fails("ffi.ListErase", a, 2, "IndexError");
	a[1] = ffi_any_int(3);
	a[2] = ffi_any_int(-3);
	ok("ffi.ListSetItem", a, 3); /* [1 2 7 -3] */
	a[1] = ffi_any_int(4);
	fails("ffi.ListSetItem", a, 3, "IndexError");
	int64_t want2[] = {1, 2, 7, -3};
	assert_list_ints(&l, want2, 4);
	ok("ffi.ListReverse", a, 1);
	int64_t want3[] = {-3, 7, 2, 1};
	assert_list_ints(&l, want3, 4);
	TVMFFIAny c[2] = {l, ffi_any_int(7)};
	assert_true(ok_int("ffi.ListContains", c, 2));
	c[1] = ffi_any_int(8);
	assert_false(ok_int("ffi.ListContains", c, 2));
	ok("ffi.ListClear", a, 1);
	assert_int_equal(list_size(&l), 0);
	ok("ffi.ListReverse", a, 1);
	fails("ffi.ListClear", a, 0, "TypeError");
	fails("ffi.ListAppend", a, 3, "TypeError");
	ffi_any_release(&l);
}

static void test_list_ranges(void **state)
{
	(void)state;
	TVMFFIAny l = make_list("ffi.List", 6); /* [0..5] */
	TVMFFIAny a[4] = {l, ffi_any_int(1), ffi_any_int(3)};
	ok("ffi.ListEraseRange", a, 3); /* [0 3 4 5] */
	int64_t want1[] = {0, 3, 4, 5};
	assert_list_ints(&l, want1, 4);
	a[1] = ffi_any_int(100);
	a[2] = ffi_any_int(100);
	ok("ffi.ListEraseRange", a, 3); /* empty range: accepted anywhere */
	a[1] = ffi_any_int(2);
	a[2] = ffi_any_int(1);
	fails("ffi.ListEraseRange", a, 3, "IndexError");
	a[1] = ffi_any_int(-1);
	a[2] = ffi_any_int(2);
	fails("ffi.ListEraseRange", a, 3, "IndexError");
	a[1] = ffi_any_int(0);
	a[2] = ffi_any_int(INT64_MAX);
	fails("ffi.ListEraseRange", a, 3, "IndexError");
	/* Replace [1, 3) with [10, 11, 12]. */
	TVMFFIAny r[3] = {ffi_any_int(10), ffi_any_int(11), ffi_any_int(12)};
	TVMFFIAny rep = ok("ffi.Array", r, 3); /* an Array is accepted as List<Any> */
	a[1] = ffi_any_int(1);
	a[2] = ffi_any_int(3);
	a[3] = rep;
	ok("ffi.ListReplaceSlice", a, 4); /* [0 10 11 12 5] */
	int64_t want2[] = {0, 10, 11, 12, 5};
	assert_list_ints(&l, want2, 5);
	/* The list replacing a slice of itself. */
	a[1] = ffi_any_int(0);
	a[2] = ffi_any_int(1);
	a[3] = l;
	ok("ffi.ListReplaceSlice", a, 4); /* [0 10 11 12 5 10 11 12 5] */
	int64_t want3[] = {0, 10, 11, 12, 5, 10, 11, 12, 5};
	assert_list_ints(&l, want3, 9);
	/* Empty replacement at an out-of-range empty slice: nothing happens. */
	TVMFFIAny empty = ok("ffi.List", NULL, 0);
	a[1] = ffi_any_int(50);
	a[2] = ffi_any_int(50);
	a[3] = empty;
	ok("ffi.ListReplaceSlice", a, 4);
	a[3] = rep;
	fails("ffi.ListReplaceSlice", a, 4, "IndexError");
	assert_int_equal(list_size(&l), 9);
	a[1] = ffi_any_int(INT64_MIN);
	a[2] = ffi_any_int(INT64_MAX);
	fails("ffi.ListReplaceSlice", a, 4, "IndexError");
	ffi_any_release(&empty);
	ffi_any_release(&rep);
	ffi_any_release(&l);
}

/* A List<Any> parameter given an Array works on a copy: no error, no visible change. */
static void test_list_ops_on_array(void **state)
{
	(void)state;
	TVMFFIAny arr = make_list("ffi.Array", 3);
	TVMFFIAny a[3] = {arr, ffi_any_int(5)};
	ok("ffi.ListAppend", a, 2);
	a[1] = ffi_any_int(0);
	TVMFFIAny popped = ok("ffi.ListPop", a, 2);
	assert_int_equal(popped.v_int64, 0);
	ok("ffi.ListClear", a, 1);
	a[1] = ffi_any_int(3);
	a[2] = ffi_any_int(1);
	fails("ffi.ListSetItem", a, 3, "IndexError");
	int64_t want[] = {0, 1, 2};
	assert_list_ints(&arr, want, 3);
	TVMFFIAny i5 = ffi_any_int(5);
	fails("ffi.ListAppend", (TVMFFIAny[]){i5, i5}, 2, "TypeError");
	ffi_any_release(&arr);
}

/* Values stored in a list are owned: released with the list, raw strings copied. */
static void test_list_ownership(void **state)
{
	(void)state;
	TVMFFIAny s = str_obj("a string that is long");
	TVMFFIAny args[2] = {s, raw_str("borrowed text")};
	TVMFFIAny l = ok("ffi.List", args, 2);
	assert_int_equal(ffi_object_refcount(s.v_obj), 2);
	TVMFFIAny get[2] = {l, ffi_any_int(1)};
	TVMFFIAny item = ok("ffi.ListGetItem", get, 2);
	assert_int_equal(item.type_index, FFI_STR);
	ffi_any_release(&item);
	ffi_any_release(&l);
	assert_int_equal(ffi_object_refcount(s.v_obj), 1);
	ffi_any_release(&s);
}

/* ---- map globals ---- */

static void test_map_globals(void **state)
{
	(void)state;
	TVMFFIAny args[6] = {raw_str("a"), ffi_any_int(1), raw_str("b"), ffi_any_int(2),
			     raw_str("a"), ffi_any_int(3)};
	TVMFFIAny m = ok("ffi.Map", args, 6);
	assert_int_equal(m.type_index, FFI_MAP);
	assert_int_equal(ok_int("ffi.MapSize", &m, 1), 2);
	TVMFFIAny q[2] = {m, raw_str("a")};
	assert_int_equal(ok_int("ffi.MapGetItem", q, 2), 3);
	assert_int_equal(ok_int("ffi.MapCount", q, 2), 1);
	assert_int_equal(ok_int("ffi.MapGetItemOrMissing", q, 2), 3);
	q[1] = raw_str("zz");
	fails("ffi.MapGetItem", q, 2, "KeyError");
	assert_int_equal(ok_int("ffi.MapCount", q, 2), 0);
	TVMFFIAny missing = ok("ffi.MapGetItemOrMissing", q, 2);
	TVMFFIAny invalid = ok("ffi.GetInvalidObject", NULL, 0);
	assert_int_equal(missing.type_index, FFI_OBJECT);
	assert_ptr_equal(missing.v_obj, invalid.v_obj);
	TVMFFIAny kwargs = ok("ffi.GetKwargsObject", NULL, 0);
	assert_int_equal(kwargs.type_index, FFI_OBJECT);
	assert_ptr_not_equal(kwargs.v_obj, invalid.v_obj);
	ffi_any_release(&missing);
	ffi_any_release(&invalid);
	ffi_any_release(&kwargs);
	fails("ffi.GetKwargsObject", q, 1, "TypeError");
	fails("ffi.Map", args, 3, "InternalError");
	fails("ffi.Dict", args, 5, "InternalError");
	fails("ffi.DictSize", &m, 1, "TypeError");
	fails("ffi.MapSize", q, 2, "TypeError");
	fails("ffi.MapGetItem", q, 1, "TypeError");
	/* A Map given to a Dict<Any, Any> parameter: a copy changes, the Map does not. */
	TVMFFIAny set[3] = {m, raw_str("c"), ffi_any_int(9)};
	ok("ffi.DictSetItem", set, 3);
	ok("ffi.DictErase", set, 2);
	ok("ffi.DictClear", set, 1);
	assert_int_equal(ok_int("ffi.MapSize", &m, 1), 2);
	ffi_any_release(&m);
}

static void test_dict_globals(void **state)
{
	(void)state;
	TVMFFIAny d = ok("ffi.Dict", NULL, 0);
	assert_int_equal(d.type_index, FFI_DICT);
	for (int64_t i = 0; i < 20; i++) {
		TVMFFIAny set[3] = {d, ffi_any_int(i), ffi_any_int(i * i)};
		ok("ffi.DictSetItem", set, 3);
	}
	assert_int_equal(ok_int("ffi.DictSize", &d, 1), 20);
	TVMFFIAny q[2] = {d, ffi_any_int(4)};
	assert_int_equal(ok_int("ffi.DictGetItem", q, 2), 16);
	assert_int_equal(ok_int("ffi.DictCount", q, 2), 1);
	assert_int_equal(ok_int("ffi.DictGetItemOrMissing", q, 2), 16);
	ok("ffi.DictErase", q, 2);
	ok("ffi.DictErase", q, 2); /* absent: no error */
	fails("ffi.DictGetItem", q, 2, "KeyError");
	assert_int_equal(ok_int("ffi.DictSize", &d, 1), 19);
	fails("ffi.MapSize", &d, 1, "TypeError");
	DLTensor t = {0};
	TVMFFIAny tp = {.type_index = FFI_DLTENSOR_PTR};
	tp.v_ptr = &t;
	TVMFFIAny set[3] = {d, tp, ffi_any_int(1)};
	fails("ffi.DictSetItem", set, 3, "TypeError");
	ok("ffi.DictClear", &d, 1);
	assert_int_equal(ok_int("ffi.DictSize", &d, 1), 0);
	ffi_any_release(&d);
}

static int64_t iter_step(TVMFFIAny *fn, int64_t command)
{
	TVMFFIAny arg = ffi_any_int(command), rv;
	assert_int_equal(ffi_function_call((ffi_function_t *)fn->v_obj, &arg, 1, &rv), 0);
	return rv.v_int64;
}

static void test_map_iterator(void **state)
{
	(void)state;
	TVMFFIAny args[6] = {ffi_any_int(10), ffi_any_int(1), ffi_any_int(20), ffi_any_int(2),
			     ffi_any_int(30), ffi_any_int(3)};
	TVMFFIAny m = ok("ffi.Map", args, 6);
	TVMFFIAny it = ok("ffi.MapForwardIterFunctor", &m, 1);
	assert_int_equal(it.type_index, FFI_FUNCTION);
	ffi_any_release(&m); /* the iterator keeps the map alive */
	assert_int_equal(iter_step(&it, 0), 10);
	assert_int_equal(iter_step(&it, 1), 1);
	assert_int_equal(iter_step(&it, 2), 1);
	assert_int_equal(iter_step(&it, 0), 20);
	assert_int_equal(iter_step(&it, 5), 1); /* any other command steps too */
	assert_int_equal(iter_step(&it, 1), 3);
	assert_int_equal(iter_step(&it, 2), 0);
	assert_int_equal(iter_step(&it, 2), 0);
	TVMFFIAny arg = ffi_any_int(0), rv;
	assert_int_equal(ffi_function_call((ffi_function_t *)it.v_obj, &arg, 1, &rv), -1);
	assert_string_equal(ffi_error_kind(), "IndexError");
	arg = ffi_any_float(0);
	assert_int_equal(ffi_function_call((ffi_function_t *)it.v_obj, &arg, 1, &rv), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
	assert_int_equal(ffi_function_call((ffi_function_t *)it.v_obj, &arg, 0, &rv), -1);
	ffi_any_release(&it);

	/* A Dict erased under its iterator: no harm. */
	TVMFFIAny d = ok("ffi.Dict", args, 6);
	it = ok("ffi.DictForwardIterFunctor", &d, 1);
	fails("ffi.MapForwardIterFunctor", &d, 1, "TypeError");
	ok("ffi.DictClear", &d, 1);
	assert_int_equal(iter_step(&it, 2), 0);
	arg = ffi_any_int(1);
	assert_int_equal(ffi_function_call((ffi_function_t *)it.v_obj, &arg, 1, &rv), -1);
	ffi_any_release(&it);
	ffi_any_release(&d);
}

/* ---- the rest ---- */

static void test_shape(void **state)
{
	(void)state;
	TVMFFIAny args[3] = {ffi_any_int(2), ffi_any_bool(1), ffi_any_int(-3)};
	TVMFFIAny s = ok("ffi.Shape", args, 3);
	assert_int_equal(s.type_index, FFI_SHAPE);
	const ffi_shape_t *shape = (const ffi_shape_t *)s.v_obj;
	assert_int_equal(shape->size, 3);
	assert_int_equal(shape->data[1], 1);
	assert_int_equal(shape->data[2], -3);
	ffi_any_release(&s);
	s = ok("ffi.Shape", NULL, 0);
	assert_int_equal(((const ffi_shape_t *)s.v_obj)->size, 0);
	ffi_any_release(&s);
	args[1] = ffi_any_float(1);
	fails("ffi.Shape", args, 3, "ValueError");
	args[1] = raw_str("1");
	fails("ffi.Shape", args, 3, "ValueError");
}

static void test_find_first_non_cpu_device(void **state)
{
	(void)state;
	int64_t shape[1] = {1};
	DLDataType f32 = {kDLFloat, 32, 1};
	TVMFFIAny cpu = ffi_any_object(&ffi_tensor_view(NULL, shape, 1, f32, (DLDevice){kDLCPU, 0},
							NULL)->header);
	TVMFFIAny gpu = ffi_any_object(&ffi_tensor_view(NULL, shape, 1, f32, (DLDevice){kDLCUDA, 3},
							NULL)->header);
	TVMFFIAny inner_args[2] = {raw_str("k"), gpu};
	TVMFFIAny inner = ok("ffi.Dict", inner_args, 2);
	TVMFFIAny outer_args[3] = {cpu, ffi_any_int(1), inner};
	TVMFFIAny outer = ok("ffi.List", outer_args, 3);
	TVMFFIAny dev = ok("ffi.ContainerFindFirstNonCPUDevice", &outer, 1);
	assert_int_equal(dev.type_index, FFI_DEVICE);
	assert_int_equal(dev.v_device.device_type, kDLCUDA);
	assert_int_equal(dev.v_device.device_id, 3);
	TVMFFIAny only_cpu = ok("ffi.Array", &cpu, 1);
	dev = ok("ffi.ContainerFindFirstNonCPUDevice", &only_cpu, 1);
	assert_int_equal(dev.v_device.device_type, kDLCPU);
	TVMFFIAny i1 = ffi_any_int(1);
	dev = ok("ffi.ContainerFindFirstNonCPUDevice", &i1, 1);
	assert_int_equal(dev.v_device.device_type, kDLCPU);
	fails("ffi.ContainerFindFirstNonCPUDevice", NULL, 0, "TypeError");
	/* A list holding itself: an error, not an endless walk. */
	TVMFFIAny self_list = ok("ffi.List", NULL, 0);
	TVMFFIAny app[2] = {self_list, self_list};
	ok("ffi.ListAppend", app, 2);
	ok("ffi.ListAppend", app, 2);
	fails("ffi.ContainerFindFirstNonCPUDevice", &self_list, 1, "RuntimeError");
	ok("ffi.ListClear", &self_list, 1); /* break the cycle */
	ffi_any_release(&self_list);
	ffi_any_release(&only_cpu);
	ffi_any_release(&outer);
	ffi_any_release(&inner);
	ffi_any_release(&gpu);
	ffi_any_release(&cpu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_growth_and_order),
		cmocka_unit_test(test_map_erase_keeps_order),
		cmocka_unit_test(test_map_small_then_dense),
		cmocka_unit_test(test_map_churn),
		cmocka_unit_test(test_map_key_equality),
		cmocka_unit_test(test_any_equal_and_hash),
		cmocka_unit_test(test_any_to_owned),
		cmocka_unit_test(test_type_keys),
		cmocka_unit_test(test_array_globals),
		cmocka_unit_test(test_list_edits),
		cmocka_unit_test(test_list_ranges),
		cmocka_unit_test(test_list_ops_on_array),
		cmocka_unit_test(test_list_ownership),
		cmocka_unit_test(test_map_globals),
		cmocka_unit_test(test_dict_globals),
		cmocka_unit_test(test_map_iterator),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_find_first_non_cpu_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
