/* Unit tests for TVM's parameter blob (param_blob.c): the exact bytes written, round trips,
 * and a reader that refuses every truncation and absurd length without crashing or
 * allocating what the blob does not hold; plus the runtime.SaveParams / LoadParams globals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/param_blob.h"

static const DLDevice cpu = {kDLCPU, 0};

/* A little-endian byte builder for expected blobs. */
typedef struct bytes {
	unsigned char data[4096];
	size_t len;
} bytes_t;

static void put(bytes_t *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_u64(bytes_t *b, uint64_t v)
{
	put(b, &v, 8);
}

static void put_i32(bytes_t *b, int32_t v)
{
	put(b, &v, 4);
}

static void put_tensor(bytes_t *b, const int64_t *shape, int32_t ndim, DLDataType t,
		       const void *data, uint64_t size)
{
	put_u64(b, PARAM_BLOB_TENSOR_MAGIC);
	put_u64(b, 0);
	put_i32(b, 1);
	put_i32(b, 0);
	put_i32(b, ndim);
	put(b, &t, 4);
	for (int32_t i = 0; i < ndim; i++)
		put_u64(b, (uint64_t)shape[i]);
	put_u64(b, size);
	put(b, data, size);
}

static ffi_tensor_t *tensor_with(const int64_t *shape, int32_t ndim, DLDataType t,
				 const void *data, size_t size)
{
	ffi_tensor_t *x = ffi_tensor_alloc(shape, ndim, t, cpu);
	assert_non_null(x);
	memcpy(x->dl.data, data, size);
	return x;
}

static char *encode(const param_entry_t *e, size_t n, uint64_t *size)
{
	assert_int_equal(param_blob_size(e, n, size), 0);
	char *out = malloc(*size);
	param_blob_encode(e, n, out);
	return out;
}

static void test_exact_bytes(void **state)
{
	(void)state;
	const float w[6] = {0, 1, 2, 3, 4, 5};
	const int64_t s = -5, wshape[2] = {2, 3};
	const DLDataType f32 = {kDLFloat, 32, 1}, i64 = {kDLInt, 64, 1};
	ffi_tensor_t *a = tensor_with(wshape, 2, f32, w, sizeof w);
	ffi_tensor_t *b = tensor_with(NULL, 0, i64, &s, 8);
	param_entry_t e[2] = {{"weight", 6, &a->dl, NULL}, {"s", 1, &b->dl, NULL}};
	bytes_t want = {.len = 0};
	put_u64(&want, PARAM_BLOB_LIST_MAGIC);
	put_u64(&want, 0);
	put_u64(&want, 2);
	put_u64(&want, 6);
	put(&want, "weight", 6);
	put_u64(&want, 1);
	put(&want, "s", 1);
	put_u64(&want, 2);
	put_tensor(&want, wshape, 2, f32, w, 24);
	put_tensor(&want, NULL, 0, i64, &s, 8);
	uint64_t size;
	char *out = encode(e, 2, &size);
	assert_int_equal(size, want.len);
	assert_memory_equal(out, want.data, want.len);
	/* And back: names, shapes, dtypes and data. */
	param_entry_t *got;
	size_t n;
	assert_int_equal(param_blob_decode(out, size, &got, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].name, "weight");
	assert_int_equal(got[0].tensor->ndim, 2);
	assert_int_equal(got[0].tensor->shape[1], 3);
	assert_memory_equal(got[0].tensor->data, w, sizeof w);
	assert_string_equal(got[1].name, "s");
	assert_int_equal(got[1].tensor->ndim, 0);
	assert_int_equal(*(int64_t *)got[1].tensor->data, -5);
	param_entries_free(got, n);
	free(out);
	ffi_object_release(&a->header);
	ffi_object_release(&b->header);
}

/* Packed sub-byte tensors: the record counts one byte per element (TVM's size), the rest of
 * the record past the packed storage is zero, and the reader copies only the storage. */
static void test_sub_byte_and_lanes(void **state)
{
	(void)state;
	const int64_t shape[1] = {10};
	const unsigned char bits[2] = {0xff, 0x03};
	ffi_tensor_t *mask = tensor_with(shape, 1, (DLDataType){kDLUInt, 1, 1}, bits, 2);
	const int64_t vshape[1] = {2};
	const float lanes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	ffi_tensor_t *vec = tensor_with(vshape, 1, (DLDataType){kDLFloat, 32, 4}, lanes, 32);
	param_entry_t e[2] = {{"m", 1, &mask->dl, NULL}, {"v", 1, &vec->dl, NULL}};
	uint64_t size;
	char *out = encode(e, 2, &size);
	param_entry_t *got;
	size_t n;
	assert_int_equal(param_blob_decode(out, size, &got, &n), 0);
	assert_memory_equal(got[0].tensor->data, bits, 2);
	assert_memory_equal(got[1].tensor->data, lanes, 8); /* TVM keeps elements x 4 bytes */
	assert_true(((float *)got[1].tensor->data)[2] == 0.0f);
	param_entries_free(got, n);
	free(out);
	ffi_object_release(&mask->header);
	ffi_object_release(&vec->header);
}

static char *valid_blob(uint64_t *size)
{
	const int64_t shape[2] = {3, 4};
	float data[12];
	for (int i = 0; i < 12; i++)
		data[i] = (float)i;
	ffi_tensor_t *t = tensor_with(shape, 2, (DLDataType){kDLFloat, 32, 1}, data, sizeof data);
	param_entry_t e = {"param", 5, &t->dl, NULL};
	char *out = encode(&e, 1, size);
	ffi_object_release(&t->header);
	return out;
}

static void expect_invalid(const char *data, size_t size)
{
	param_entry_t *got = (param_entry_t *)1;
	size_t n = 7;
	ffi_error_clear();
	assert_int_equal(param_blob_decode(data, size, &got, &n), -1);
	assert_string_equal(ffi_error_kind(), "InternalError");
	assert_non_null(strstr(ffi_error_message(), "Invalid parameters file format"));
	assert_null(got);
	assert_int_equal(n, 0);
}

static void test_every_truncation_fails(void **state)
{
	(void)state;
	uint64_t size;
	char *blob = valid_blob(&size);
	for (uint64_t cut = 0; cut < size; cut++) {
		char *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
		memcpy(copy, blob, cut);
		expect_invalid(copy, cut);
		free(copy);
	}
	free(blob);
}

/* Overwrite 8 bytes at `at` and expect a refusal. */
static void expect_patched_invalid(const char *blob, uint64_t size, size_t at, const void *v,
				   size_t n)
{
	char *copy = malloc(size);
	memcpy(copy, blob, size);
	memcpy(copy + at, v, n);
	expect_invalid(copy, size);
	free(copy);
}

static void test_absurd_fields(void **state)
{
	(void)state;
	uint64_t size, huge = UINT64_MAX / 2, two = 2;
	char *blob = valid_blob(&size);
	const size_t names = 24, tensor = 24 + 8 + 5 + 8;
	int32_t big_ndim = 0x7fffffff, neg_ndim = -1, gpu = 2;
	int64_t neg_dim = -3, big_dim = INT64_MAX / 2;
	expect_patched_invalid(blob, size, 0, "\0\0\0\0\0\0\0\0", 8);      /* list magic */
	expect_patched_invalid(blob, size, 16, &huge, 8);                  /* name count */
	expect_patched_invalid(blob, size, names, &huge, 8);               /* name length */
	expect_patched_invalid(blob, size, tensor - 8, &two, 8);           /* tensor count */
	expect_patched_invalid(blob, size, tensor, "\1\2\3\4\5\6\7\0", 8); /* tensor magic */
	expect_patched_invalid(blob, size, tensor + 16, &gpu, 4);          /* device */
	expect_patched_invalid(blob, size, tensor + 24, &big_ndim, 4);
	expect_patched_invalid(blob, size, tensor + 24, &neg_ndim, 4);
	expect_patched_invalid(blob, size, tensor + 32, &neg_dim, 8);
	expect_patched_invalid(blob, size, tensor + 32, &big_dim, 8);      /* product overflows */
	expect_patched_invalid(blob, size, tensor + 48, &huge, 8);         /* data size */
	/* 60000 lanes: the tensor would be 60000 times its record. */
	uint16_t lanes = 60000;
	expect_patched_invalid(blob, size, tensor + 30, &lanes, 2);
	free(blob);
}

static void test_no_params(void **state)
{
	(void)state;
	uint64_t size;
	char *out = encode(NULL, 0, &size);
	assert_int_equal(size, 32);
	param_entry_t *got;
	size_t n;
	assert_int_equal(param_blob_decode(out, size, &got, &n), 0);
	assert_int_equal(n, 0);
	param_entries_free(got, n);
	free(out);
}

/* ---- the globals ---- */

static int call(const char *name, TVMFFIAny *args, int n, TVMFFIAny *rv)
{
	ffi_function_t *fn = ffi_registry_get(name);
	assert_non_null(fn);
	int rc = ffi_function_call(fn, args, n, rv);
	ffi_object_release(&fn->header);
	return rc;
}

static void test_globals_round_trip(void **state)
{
	(void)state;
	const int64_t shape[1] = {3};
	const int32_t v[3] = {7, 8, 9};
	ffi_tensor_t *t = tensor_with(shape, 1, (DLDataType){kDLInt, 32, 1}, v, sizeof v);
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	ffi_map_set(m, ffi_any_object(&ffi_str_new("first", 5)->header), ffi_any_object(&t->header));
	TVMFFIAny arg = ffi_any_object(ffi_map_object(m)), blob, back, again;
	assert_int_equal(call("runtime.SaveParams", &arg, 1, &blob), 0);
	assert_int_equal(blob.type_index, FFI_BYTES);
	assert_int_equal(call("runtime.LoadParams", &blob, 1, &back), 0);
	assert_int_equal(back.type_index, FFI_MAP);
	assert_int_equal(ffi_map_size((ffi_map_t *)back.v_obj), 1);
	assert_int_equal(call("runtime.SaveParams", &back, 1, &again), 0);
	const ffi_bytes_t *b1 = (const ffi_bytes_t *)blob.v_obj, *b2 = (const ffi_bytes_t *)again.v_obj;
	assert_int_equal(b1->size, b2->size);
	assert_memory_equal(b1->data, b2->data, b1->size);
	/* Wrong types: a TypeError, never a crash. */
	TVMFFIAny bad = ffi_any_int(3), rv;
	assert_int_equal(call("runtime.SaveParams", &bad, 1, &rv), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
	assert_int_equal(call("runtime.LoadParams", &bad, 1, &rv), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
	assert_int_equal(call("runtime.LoadParams", NULL, 0, &rv), -1);
	ffi_map_t *wrong = ffi_map_new(FFI_MAP);
	ffi_map_set(wrong, ffi_any_object(&ffi_str_new("x", 1)->header), ffi_any_int(1));
	TVMFFIAny warg = ffi_any_object(ffi_map_object(wrong));
	assert_int_equal(call("runtime.SaveParams", &warg, 1, &rv), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
	ffi_any_release(&warg);
	ffi_any_release(&again);
	ffi_any_release(&back);
	ffi_any_release(&blob);
	ffi_any_release(&arg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_sub_byte_and_lanes),
		cmocka_unit_test(test_every_truncation_fails),
		cmocka_unit_test(test_absurd_fields),
		cmocka_unit_test(test_no_params),
		cmocka_unit_test(test_globals_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
