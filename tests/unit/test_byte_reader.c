/* Unit tests for the bounds-checked byte reader (runtime/byte_reader.h): little-endian values,
 * reads that stop at the end without consuming, dmlc strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/byte_reader.h"

static void test_values_little_endian(void **state)
{
	(void)state;
	static const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x84, 0xff, 0xff, 0xff, 0xff,
					0xfe, 0xff, 0xff, 0xff, 0x7f};
	byte_reader_t r;
	byte_reader_init(&r, bytes, sizeof bytes);
	uint32_t u32;
	int64_t i64;
	assert_int_equal(byte_reader_u32(&r, &u32), 0);
	assert_int_equal(u32, 0x84030201u);
	assert_int_equal(byte_reader_i64(&r, &i64), 0);
	assert_int_equal(i64, (int64_t)0xfffffffeffffffffull);
	assert_int_equal(byte_reader_left(&r), 1);
	/* A short read fails and leaves the position where it was. */
	assert_int_equal(byte_reader_u32(&r, &u32), -1);
	assert_int_equal(byte_reader_left(&r), 1);
	const uint8_t *p;
	assert_int_equal(byte_reader_bytes(&r, 1, &p), 0);
	assert_int_equal(*p, 0x7f);
	assert_int_equal(byte_reader_bytes(&r, 0, &p), 0);
	assert_int_equal(byte_reader_bytes(&r, 1, &p), -1);
}

static void test_strings(void **state)
{
	(void)state;
	uint8_t bytes[8 + 3 + 8] = {3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 9};
	byte_reader_t r;
	byte_reader_init(&r, bytes, sizeof bytes);
	const uint8_t *s;
	uint64_t len;
	assert_int_equal(byte_reader_str(&r, &s, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "abc", 3);
	/* Claims 9 bytes with none left: -2, the length consumed and reported. */
	assert_int_equal(byte_reader_str(&r, &s, &len), -2);
	assert_int_equal(len, 9);
	assert_int_equal(byte_reader_left(&r), 0);
	assert_int_equal(byte_reader_str(&r, &s, &len), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_little_endian),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
