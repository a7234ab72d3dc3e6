/* Unit tests for session_codec: round trips of every type index and packet kind, the
 * spec's worked examples byte for byte, and malformed input (truncation, lengths past the
 * packet, unknown indices, ndim/shape overflow, huge counts) that must fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/session_codec.h"

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ' || *p == '|') {
			p++;
			continue;
		}
		unsigned v;
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		assert_true(n < max);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

static void assert_buf_hex(const session_buf_t *b, const char *hex)
{
	uint8_t want[512];
	size_t n = unhex(hex, want, sizeof want);
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

/* Decode `bytes` as a sequence; returns the decode result. */
static int decode(uint8_t *bytes, size_t len, session_seq_t *seq, char *err)
{
	session_reader_t r;
	session_reader_init(&r, bytes, len);
	session_limits_t lim = {.max_string = 1 << 20};
	int rc = session_seq_decode(&r, &lim, seq, err, SESSION_ERROR_MAX);
	if (rc == 0)
		assert_int_equal(session_reader_left(&r), 0);
	return rc;
}

static void test_examples(void **state)
{
	(void)state;
	session_buf_t b = {0};
	/* §3.5 Exception "boom". */
	session_encode_exception(&b, "boom");
	assert_buf_hex(&b, "18 00 00 00 00 00 00 00 | 05 00 00 00 | 01 00 00 00 | 08 00 00 00 | "
			   "04 00 00 00 00 00 00 00 | 62 6f 6f 6d");
	session_buf_reset(&b);
	/* §3.3b void syscall reply. */
	session_encode_return_none(&b);
	assert_buf_hex(&b, "0c 00 00 00 00 00 00 00 04 00 00 00 01 00 00 00 00 00 00 00");
	session_buf_reset(&b);
	/* §3.1 GetGlobalFunc reply with handle 0x5000. */
	session_value_t h = session_value_handle(FFI_OPAQUE_PTR, 0x5000);
	assert_int_equal(session_encode_return_value(&b, &h), 0);
	assert_buf_hex(&b, "14 00 00 00 00 00 00 00 | 04 00 00 00 | 01 00 00 00 | 04 00 00 00 | "
			   "00 50 00 00 00 00 00 00");
	session_buf_reset(&b);
	/* §3.3a void CallFunc reply and Int 42. */
	session_value_t none = session_value_none();
	assert_int_equal(session_encode_call_return(&b, 0, &none, 1), 0);
	assert_buf_hex(&b, "18 00 00 00 00 00 00 00 | 04 00 00 00 | 02 00 00 00 | 01 00 00 00 "
			   "00 00 00 00 00 00 00 00 | 00 00 00 00");
	session_buf_reset(&b);
	session_value_t i42 = session_value_int(42);
	assert_int_equal(session_encode_call_return(&b, 1, &i42, 1), 0);
	assert_buf_hex(&b, "20 00 00 00 00 00 00 00 | 04 00 00 00 | 02 00 00 00 | 01 00 00 00 "
			   "01 00 00 00 00 00 00 00 | 01 00 00 00 2a 00 00 00 00 00 00 00");
	session_buf_reset(&b);
	/* §3.3a Tensor return, float32 [2,3] at 0x100000 with handle 0x5030 (92 bytes). */
	int64_t shape[2] = {2, 3};
	session_value_t tv[2];
	tv[0] = session_value_none();
	tv[0].type_index = FFI_DLTENSOR_PTR;
	tv[0].tensor.data = 0x100000;
	tv[0].tensor.device.device_type = kDLCPU;
	tv[0].tensor.ndim = 2;
	tv[0].tensor.dtype = (DLDataType){2, 32, 1};
	tv[0].tensor.shape = shape;
	tv[1] = session_value_handle(FFI_OPAQUE_PTR, 0x5030);
	assert_int_equal(session_encode_call_return(&b, FFI_TENSOR, tv, 2), 0);
	assert_buf_hex(&b, "54 00 00 00 00 00 00 00 | 04 00 00 00 | 03 00 00 00 | 01 00 00 00 "
			   "46 00 00 00 00 00 00 00 | 07 00 00 00 | 00 00 10 00 00 00 00 00 | "
			   "01 00 00 00 | 00 00 00 00 | 02 00 00 00 | 02 20 01 00 | "
			   "02 00 00 00 00 00 00 00 | 03 00 00 00 00 00 00 00 | "
			   "00 00 00 00 00 00 00 00 | 04 00 00 00 30 50 00 00 00 00 00 00");
	session_buf_free(&b);
}

static void test_decode_call_example(void **state)
{
	(void)state;
	/* §3.2 upload("lib.so", b"0123456789abcdef") body after the code. */
	uint8_t body[128];
	size_t n = unhex("00 50 00 00 00 00 00 00 | 02 00 00 00 | 08 00 00 00 06 00 00 00 00 00 00 "
			 "00 6c 69 62 2e 73 6f | 42 00 00 00 42 00 00 00 10 00 00 00 00 00 00 00 "
			 "30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66",
			 body, sizeof body);
	session_reader_t r;
	session_reader_init(&r, body, n);
	uint64_t handle;
	assert_int_equal(session_read_u64(&r, &handle), 0);
	assert_int_equal(handle, 0x5000);
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	session_limits_t lim = {0};
	assert_int_equal(session_seq_decode(&r, &lim, &seq, err, sizeof err), 0);
	assert_int_equal(seq.num, 2);
	assert_int_equal(seq.values[0].type_index, FFI_RAW_STR);
	assert_string_equal(seq.values[0].str.data, "lib.so");
	assert_int_equal(seq.values[1].type_index, FFI_BYTES);
	assert_int_equal(seq.values[1].inner, FFI_BYTES);
	assert_int_equal(seq.values[1].str.size, 16);
	assert_memory_equal(seq.values[1].str.data, "0123456789abcdef", 16);
	session_seq_free(&seq);
}

/* Every type index the codec supports survives encode -> decode -> encode unchanged. */
static void test_round_trip_all_types(void **state)
{
	(void)state;
	int64_t shape[3] = {4, 0, 7};
	session_value_t v[20];
	int k = 0;
	v[k++] = session_value_none();
	v[k++] = session_value_int(-1234567890123LL);
	v[k++] = session_value_bool(1);
	v[k++] = session_value_float(-1.5);
	v[k++] = session_value_handle(FFI_OPAQUE_PTR, 0xdeadbeefcafeULL);
	v[k] = session_value_none();
	v[k].type_index = FFI_DATATYPE;
	v[k++].dtype = (DLDataType){2, 16, 4};
	v[k] = session_value_none();
	v[k].type_index = FFI_DEVICE;
	v[k++].device = (DLDevice){kDLCPU, 3};
	v[k] = session_value_none();
	v[k].type_index = FFI_DLTENSOR_PTR;
	v[k].tensor.data = 0x1000;
	v[k].tensor.device = (DLDevice){kDLCPU, 0};
	v[k].tensor.ndim = 3;
	v[k].tensor.dtype = (DLDataType){0, 8, 1};
	v[k].tensor.shape = shape;
	v[k++].tensor.byte_offset = 64;
	v[k++] = session_value_raw_str("tvm", 3);
	v[k++] = session_value_raw_str("", 0);
	v[k++] = session_value_byte_array("\0\1\2", 3);
	/* Object path with each inner index, under several outer indices. */
	int32_t outer_str[] = {FFI_SMALL_STR, FFI_STR, FFI_OBJECT};
	for (int i = 0; i < 3; i++) {
		v[k] = session_value_raw_str("hello world", 11);
		v[k].type_index = outer_str[i];
		v[k++].inner = FFI_STR;
	}
	v[k] = session_value_byte_array("ab", 2);
	v[k].type_index = FFI_SMALL_BYTES;
	v[k++].inner = FFI_BYTES;
	v[k] = session_value_byte_array("abcdefghij", 10);
	v[k].type_index = FFI_BYTES;
	v[k++].inner = FFI_BYTES;
	v[k++] = session_value_handle(FFI_RPC_OBJECT_REF, 0x5040);
	v[k] = session_value_handle(FFI_ARRAY, 0x5050);
	v[k++].inner = FFI_RPC_OBJECT_REF;
	v[k++] = session_value_handle(FFI_FUNCTION, 0x5060);
	v[k++] = session_value_handle(FFI_MODULE, 0x5070);

	session_buf_t b1 = {0}, b2 = {0};
	assert_int_equal(session_seq_encode(&b1, v, k), 0);
	uint8_t *copy = malloc(b1.len);
	memcpy(copy, b1.data, b1.len);
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	assert_int_equal(decode(copy, b1.len, &seq, err), 0);
	assert_int_equal(seq.num, k);
	for (int i = 0; i < k; i++) {
		assert_int_equal(seq.values[i].type_index, v[i].type_index);
		assert_int_equal(seq.values[i].inner, v[i].inner);
	}
	assert_int_equal(seq.values[1].v_int, -1234567890123LL);
	assert_true(seq.values[3].v_float == -1.5);
	assert_int_equal(seq.values[7].tensor.ndim, 3);
	assert_int_equal(seq.values[7].tensor.shape[2], 7);
	assert_int_equal(seq.values[7].tensor.byte_offset, 64);
	assert_string_equal(seq.values[8].str.data, "tvm");
	assert_string_equal(seq.values[9].str.data, "");
	assert_string_equal(seq.values[11].str.data, "hello world");
	assert_int_equal(seq.values[16].handle, 0x5040);
	assert_int_equal(session_seq_encode(&b2, seq.values, seq.num), 0);
	assert_int_equal(b1.len, b2.len);
	assert_memory_equal(b1.data, b2.data, b1.len);
	session_seq_free(&seq);
	free(copy);
	session_buf_free(&b1);
	session_buf_free(&b2);
}

static void test_refuse_unencodable(void **state)
{
	(void)state;
	session_buf_t b = {0};
	int32_t bad[] = {FFI_OBJECT_RVALUE_REF, 13, 63, FFI_TENSOR};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		session_value_t v = session_value_none();
		v.type_index = bad[i];
		assert_int_equal(session_seq_encode(&b, &v, 1), -1);
		assert_int_equal(b.len, 0);
	}
	session_value_t v = session_value_raw_str("x", 1);
	v.type_index = FFI_STR;
	v.inner = FFI_ERROR; /* object path with an unsupported inner index */
	assert_int_equal(session_seq_encode(&b, &v, 1), -1);
	session_buf_free(&b);
}

/* Every strict prefix of a valid sequence fails to decode (never reads past the end). */
static void test_truncation(void **state)
{
	(void)state;
	int64_t shape[2] = {2, 3};
	session_value_t v[6];
	v[0] = session_value_int(1);
	v[1] = session_value_raw_str("abc", 3);
	v[2] = session_value_none();
	v[2].type_index = FFI_DLTENSOR_PTR;
	v[2].tensor.ndim = 2;
	v[2].tensor.shape = shape;
	v[2].tensor.dtype = (DLDataType){2, 32, 1};
	v[3] = session_value_byte_array("xyz", 3);
	v[3].type_index = FFI_BYTES;
	v[3].inner = FFI_BYTES;
	v[4] = session_value_handle(FFI_RPC_OBJECT_REF, 7);
	v[5] = session_value_float(2.0);
	session_buf_t b = {0};
	assert_int_equal(session_seq_encode(&b, v, 6), 0);
	for (size_t len = 0; len < b.len; len++) {
		/* An exact-size heap copy lets ASan catch any over-read. */
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, b.data, len);
		session_seq_t seq;
		char err[SESSION_ERROR_MAX] = "";
		assert_int_equal(decode(copy, len, &seq, err), -1);
		assert_true(strncmp(err, "malformed packet: ", 18) == 0);
		free(copy);
	}
	session_buf_free(&b);
}

static void expect_malformed(const char *hex, const char *fragment)
{
	uint8_t buf[256];
	size_t n = unhex(hex, buf, sizeof buf);
	uint8_t *copy = malloc(n);
	memcpy(copy, buf, n);
	session_seq_t seq;
	char err[SESSION_ERROR_MAX] = "";
	assert_int_equal(decode(copy, n, &seq, err), -1);
	if (!strstr(err, fragment))
		fail_msg("error '%s' lacks '%s'", err, fragment);
	free(copy);
}

static void test_malformed(void **state)
{
	(void)state;
	/* Huge or negative counts are refused before any allocation. */
	expect_malformed("ff ff ff 7f", "argument count");
	expect_malformed("ff ff ff ff 00 00 00 00", "argument count");
	expect_malformed("03 00 00 00 | 00 00 00 00 00 00 00 00", "argument count");
	/* String length past the packet end, and a 2^64-1 length. */
	expect_malformed("01 00 00 00 | 08 00 00 00 | 10 00 00 00 00 00 00 00 | 61 62",
			 "past the packet end");
	expect_malformed("01 00 00 00 | 09 00 00 00 | ff ff ff ff ff ff ff ff | 61",
			 "past the packet end");
	expect_malformed("01 00 00 00 | 42 00 00 00 42 00 00 00 | ff ff ff ff ff ff ff ff",
			 "past the packet end");
	/* Unknown / refused type indices. */
	expect_malformed("01 00 00 00 | 0a 00 00 00", "unknown type index 10");
	expect_malformed("01 00 00 00 | 0d 00 00 00 00 00 00 00 00 00 00 00", "unknown type index 13");
	expect_malformed("01 00 00 00 | 46 00 00 00 00 00 00 00 00 00 00 00", "unknown type index 70");
	expect_malformed("01 00 00 00 | ff ff ff ff 00 00 00 00 00 00 00 00", "unknown type index -1");
	/* Object path with an unsupported inner index. */
	expect_malformed("01 00 00 00 | 40 00 00 00 43 00 00 00 00 00 00 00 00 00 00 00",
			 "not supported");
	/* ndim out of range, negative, and a shape past the packet. */
	expect_malformed("01 00 00 00 | 07 00 00 00 | 00 00 00 00 00 00 00 00 | 01 00 00 00 "
			 "00 00 00 00 | 00 00 00 80 | 02 20 01 00",
			 "ndim");
	expect_malformed("01 00 00 00 | 07 00 00 00 | 00 00 00 00 00 00 00 00 | 01 00 00 00 "
			 "00 00 00 00 | 41 00 00 00 | 02 20 01 00",
			 "ndim");
	expect_malformed("01 00 00 00 | 07 00 00 00 | 00 00 00 00 00 00 00 00 | 01 00 00 00 "
			 "00 00 00 00 | 03 00 00 00 | 02 20 01 00 | 01 00 00 00 00 00 00 00",
			 "truncated tensor shape");
	expect_malformed("01 00 00 00 | 07 00 00 00 | 00 00 00 00 00 00 00 00 | 01 00 00 00 "
			 "00 00 00 00 | 01 00 00 00 | 02 20 01 00 | ff ff ff ff ff ff ff ff | "
			 "00 00 00 00 00 00 00 00",
			 "negative");
}

static void test_string_limit(void **state)
{
	(void)state;
	session_value_t v = session_value_raw_str("0123456789", 10);
	session_buf_t b = {0};
	assert_int_equal(session_seq_encode(&b, &v, 1), 0);
	session_reader_t r;
	session_reader_init(&r, b.data, b.len);
	session_limits_t lim = {.max_string = 9};
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	assert_int_equal(session_seq_decode(&r, &lim, &seq, err, sizeof err), -1);
	assert_non_null(strstr(err, "exceeds the limit"));
	session_buf_free(&b);
}

static void test_argument_limit(void **state)
{
	(void)state;
	/* 70000 None values fit a 280 kB packet but exceed the default limit. */
	size_t n = 4 + 4 * 70000;
	uint8_t *buf = calloc(1, n);
	int32_t count = 70000;
	memcpy(buf, &count, 4);
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	assert_int_equal(decode(buf, n, &seq, err), -1);
	assert_non_null(strstr(err, "exceed the limit of 65536"));
	session_reader_t r;
	session_reader_init(&r, buf, n);
	session_limits_t lim = {.max_args = 80000};
	assert_int_equal(session_seq_decode(&r, &lim, &seq, err, sizeof err), 0);
	assert_int_equal(seq.num, 70000);
	session_seq_free(&seq);
	free(buf);
}

/* Framing for every RPCCode: u64 length counting the code and body, then the code. */
static void test_framing_every_code(void **state)
{
	(void)state;
	for (int32_t code = SESSION_CODE_SHUTDOWN; code <= SESSION_CODE_DEV_GET_CURRENT_STREAM;
	     code++) {
		session_buf_t b = {0};
		session_buf_put(&b, "junk", 4); /* packets may follow other bytes in a buffer */
		size_t start = session_packet_begin(&b, code);
		session_value_t v[2] = {session_value_int(code), session_value_raw_str("x", 1)};
		assert_int_equal(session_seq_encode(&b, v, code % 3), 0);
		session_packet_end(&b, start, 100);
		uint64_t n;
		int32_t got;
		memcpy(&n, b.data + start, 8);
		memcpy(&got, b.data + start + 8, 4);
		assert_int_equal(n, b.len - start - 8 + 100); /* +100: a payload sent separately */
		assert_int_equal(got, code);
		session_reader_t r;
		session_reader_init(&r, b.data + start + 12, b.len - start - 12);
		session_seq_t seq;
		char err[SESSION_ERROR_MAX];
		session_limits_t lim = {0};
		assert_int_equal(session_seq_decode(&r, &lim, &seq, err, sizeof err), 0);
		assert_int_equal(seq.num, code % 3);
		if (seq.num > 0)
			assert_int_equal(seq.values[0].v_int, code);
		session_seq_free(&seq);
		session_buf_free(&b);
	}
}

static void test_tensor_header(void **state)
{
	(void)state;
	/* §2.3 example, float32 [2,3] at 0x100000 on CPU 0. */
	uint8_t buf[64];
	size_t n = unhex("00 00 10 00 00 00 00 00 | 01 00 00 00 | 00 00 00 00 | 02 00 00 00 | "
			 "02 20 01 00 | 02 00 00 00 00 00 00 00 | 03 00 00 00 00 00 00 00 | "
			 "00 00 00 00 00 00 00 00",
			 buf, sizeof buf);
	assert_int_equal(n, SESSION_TENSOR_HEADER_SIZE(2));
	session_reader_t r;
	session_reader_init(&r, buf, n);
	session_tensor_t t;
	int64_t shape[SESSION_MAX_NDIM];
	char err[SESSION_ERROR_MAX];
	assert_int_equal(session_tensor_decode(&r, &t, shape, err, sizeof err), 0);
	assert_int_equal(t.data, 0x100000);
	assert_int_equal(t.device.device_type, kDLCPU);
	assert_int_equal(t.ndim, 2);
	assert_int_equal(t.dtype.code, 2);
	assert_int_equal(t.dtype.bits, 32);
	assert_int_equal(t.dtype.lanes, 1);
	assert_int_equal(t.shape[1], 3);
	session_buf_t b = {0};
	session_tensor_encode(&b, &t);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, buf, n);
	session_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_decode_call_example),
		cmocka_unit_test(test_round_trip_all_types),
		cmocka_unit_test(test_refuse_unencodable),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_string_limit),
		cmocka_unit_test(test_argument_limit),
		cmocka_unit_test(test_framing_every_code),
		cmocka_unit_test(test_tensor_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
