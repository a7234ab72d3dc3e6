/* Values wider than the host: what a 32-bit board (armhf) must get right, and a 64-bit one
 * too (docs/boards.md). Run natively by make check and on the armhf build under qemu-arm:
 * - int64 shape fields and 64-bit handles survive decoding on a 32-bit host;
 * - 64-bit values are read from any byte offset of a packet (no aligned loads);
 * - lengths from the wire are compared as 64-bit numbers, never cut to size_t;
 * - addresses above this host's pointer range and memory or tensors larger than half its
 *   address space (2 GiB on 32-bit) are refused with a clear error instead of wrapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/session_codec.h"
#include "runtime/session_memory.h"

static size_t put(uint8_t *p, size_t at, const void *v, size_t n)
{
	memcpy(p + at, v, n);
	return at + n;
}

static size_t put_i32(uint8_t *p, size_t at, int32_t v)
{
	return put(p, at, &v, 4);
}

static size_t put_u64(uint8_t *p, size_t at, uint64_t v)
{
	return put(p, at, &v, 8);
}

/* One packed sequence: [handle, tensor] with 64-bit fields, starting at an odd offset. */
static void test_wide_fields_at_odd_offsets(void **state)
{
	(void)state;
	uint8_t raw[256];
	uint8_t *p = raw + 3; /* odd: every 64-bit field below is misaligned */
	size_t at = put_i32(p, 0, 2);
	at = put_i32(p, at, 4); /* OpaquePtr */
	at = put_u64(p, at, 0xfedcba9876543210ull);
	at = put_i32(p, at, 7); /* DLTensorPtr */
	at = put_u64(p, at, 0x1122334455667788ull); /* tensor data handle */
	at = put_i32(p, at, 1);
	at = put_i32(p, at, 0);
	at = put_i32(p, at, 2);
	uint8_t dtype[4] = {2, 32, 1, 0};
	at = put(p, at, dtype, 4);
	at = put_u64(p, at, (uint64_t)5000000000ll); /* > 2^32 */
	at = put_u64(p, at, 3);
	at = put_u64(p, at, 0x100000000ull); /* byte_offset > 2^32 */
	session_reader_t r;
	session_reader_init(&r, p, at);
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	assert_int_equal(session_seq_decode(&r, NULL, &seq, err, sizeof err), 0);
	assert_int_equal(seq.num, 2);
	assert_true(seq.values[0].handle == 0xfedcba9876543210ull);
	const session_tensor_t *t = &seq.values[1].tensor;
	assert_true(t->data == 0x1122334455667788ull);
	assert_int_equal(t->ndim, 2);
	assert_true(t->shape[0] == 5000000000ll);
	assert_true(t->shape[1] == 3);
	assert_true(t->byte_offset == 0x100000000ull);
	session_seq_free(&seq);
}

/* A string whose length needs more than 32 bits: refused, not read as its low half. */
static void test_string_length_beyond_size_t(void **state)
{
	(void)state;
	uint8_t p[64];
	size_t at = put_i32(p, 0, 1);
	at = put_i32(p, at, 8); /* RawStr */
	at = put_u64(p, at, 0x100000004ull); /* low half 4 would fit the 4 bytes that follow */
	at = put(p, at, "abcd", 4);
	session_reader_t r;
	session_reader_init(&r, p, at);
	session_seq_t seq;
	char err[SESSION_ERROR_MAX] = "";
	assert_int_equal(session_seq_decode(&r, NULL, &seq, err, sizeof err), -1);
	assert_non_null(strstr(err, "4294967300 bytes"));
}

/* Memory: more than half the address space is refused with an error that says so; an
 * address past this host's pointers is never found. */
static void test_memory_beyond_address_space(void **state)
{
	(void)state;
	session_memory_t *m = session_memory_new(0);
	void *out = NULL;
	uint64_t huge = (uint64_t)SIZE_MAX / 2 + 1; /* 2 GiB on 32-bit */
	ffi_error_clear();
	assert_int_equal(session_memory_alloc(m, huge, 64, &out), -1);
	assert_null(out);
	assert_non_null(strstr(ffi_error_message(), "address"));
	assert_int_equal(session_memory_alloc(m, UINT64_MAX, 64, &out), -1);
	assert_int_equal(session_memory_alloc(m, 4096, 64, &out), 0);
	uintptr_t base = (uintptr_t)out;
	void *hit = NULL;
	assert_int_equal(session_memory_lookup(m, base, 4096, &hit), 0);
	assert_ptr_equal(hit, out);
	if (sizeof(uintptr_t) < 8) /* the same low bits with a high word set: not ours */
		assert_int_equal(session_memory_lookup(m, (uint64_t)base | (1ull << 32), 1, &hit),
				 -1);
	assert_int_equal(session_memory_lookup(m, base + 4000, 200, &hit), -1);
	assert_int_equal(session_memory_release(m, base), 0);
	session_memory_free(m);
}

/* A tensor larger than half the address space: a clear error, no allocation. */
static void test_tensor_beyond_address_space(void **state)
{
	(void)state;
	DLDataType f32 = {kDLFloat, 32, 1};
	DLDevice cpu = {kDLCPU, 0};
	int64_t shape[2] = {(int64_t)(SIZE_MAX / 8) + 1, 1}; /* 4 bytes each: > SIZE_MAX / 2 */
	ffi_error_clear();
	assert_null(ffi_tensor_alloc(shape, 2, f32, cpu));
	assert_non_null(strstr(ffi_error_message(), "too large"));
	int64_t wraps[2] = {(int64_t)1 << 40, (int64_t)1 << 40}; /* count overflows 64 bits */
	ffi_error_clear();
	assert_null(ffi_tensor_alloc(wraps, 2, f32, cpu));
	assert_true(ffi_error_message()[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wide_fields_at_odd_offsets),
		cmocka_unit_test(test_string_length_beyond_size_t),
		cmocka_unit_test(test_memory_beyond_address_space),
		cmocka_unit_test(test_tensor_beyond_address_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
