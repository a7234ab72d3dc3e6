/* Unit tests for the RPC handshake codec: any chunking, limits, key grammar, replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "services/handshake.h"

static int feed_all(handshake_reader_t *r, const uint8_t *buf, size_t n, size_t step)
{
	size_t off = 0;
	int rc = 0;
	while (off < n) {
		size_t chunk = n - off < step ? n - off : step, used = 0;
		rc = handshake_feed(r, buf + off, chunk, &used);
		off += used;
		if (rc != 0)
			return rc;
	}
	return rc;
}

static void test_request_any_chunking(void **state)
{
	(void)state;
	uint8_t buf[128];
	size_t n = handshake_encode(buf, sizeof buf, RPC_MAGIC, "client:rasp:0.5 -timeout=10");
	assert_int_equal(n, 8 + 27);
	for (size_t step = 1; step <= n; step++) {
		handshake_reader_t r;
		handshake_reader_init(&r, 0, 1);
		assert_int_equal(feed_all(&r, buf, n, step), 1);
		assert_string_equal(r.key, "client:rasp:0.5 -timeout=10");
		handshake_reader_free(&r);
	}
}

static void test_bad_magic_and_length(void **state)
{
	(void)state;
	uint8_t buf[16];
	handshake_reader_t r;
	handshake_encode(buf, sizeof buf, 0x1234, "x");
	handshake_reader_init(&r, 0, 1);
	assert_int_equal(feed_all(&r, buf, 9, 9), HANDSHAKE_ERR_MAGIC);
	handshake_reader_free(&r);
	/* negative and oversized key lengths are refused before allocating */
	uint8_t neg[8] = {0x71, 0xf2, 0x0f, 0x00, 0xff, 0xff, 0xff, 0xff};
	handshake_reader_init(&r, 0, 1);
	assert_int_equal(feed_all(&r, neg, 8, 8), HANDSHAKE_ERR_LENGTH);
	handshake_reader_free(&r);
	uint8_t big[8] = {0x71, 0xf2, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x7f};
	handshake_reader_init(&r, 0, 1);
	assert_int_equal(feed_all(&r, big, 8, 8), HANDSHAKE_ERR_LENGTH);
	handshake_reader_free(&r);
}

static void test_empty_key(void **state)
{
	(void)state;
	uint8_t buf[8] = {0x71, 0xf2, 0x0f, 0x00, 0, 0, 0, 0};
	handshake_reader_t r;
	handshake_reader_init(&r, 0, 1);
	assert_int_equal(feed_all(&r, buf, 8, 3), 1);
	assert_int_equal(r.key_len, 0);
	handshake_reader_free(&r);
}

static void test_replies(void **state)
{
	(void)state;
	uint8_t buf[64];
	size_t n = handshake_encode(buf, sizeof buf, RPC_CODE_SUCCESS, "server:rasp");
	handshake_reader_t r;
	handshake_reader_init(&r, 0, 0);
	assert_int_equal(feed_all(&r, buf, n, 1), 1);
	assert_int_equal(r.first_word, RPC_CODE_SUCCESS);
	assert_string_equal(r.key, "server:rasp");
	handshake_reader_free(&r);
	n = handshake_encode(buf, sizeof buf, RPC_CODE_MISMATCH, NULL);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "\x73\xf2\x0f\x00", 4);
	handshake_reader_init(&r, 0, 0);
	assert_int_equal(feed_all(&r, buf, n, 4), 1);
	assert_int_equal(r.first_word, RPC_CODE_MISMATCH);
	handshake_reader_free(&r);
	assert_int_equal(handshake_encode(buf, 5, RPC_CODE_SUCCESS, "server:x"), 0);
}

static void test_key_grammar(void **state)
{
	(void)state;
	handshake_key_t k;
	char err[128];
	const char *s = "client:rasp:0.63 -timeout=600";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), 0);
	assert_int_equal(k.role, HANDSHAKE_ROLE_CLIENT);
	assert_string_equal(k.match, "rasp:0.63");
	assert_true(k.timeout == 600.0);
	s = "client:x -foo -timeout=1.5";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), 0);
	assert_true(k.timeout == 1.5);
	s = "client:";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), 0);
	assert_string_equal(k.match, "");
	s = "server:board";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), 0);
	assert_int_equal(k.role, HANDSHAKE_ROLE_SERVER);
	s = "client:x -timeout=abc";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), -1);
	s = "client:x -timeout=-1";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), -1);
	s = "";
	assert_int_equal(handshake_key_parse(s, 0, &k, err, sizeof err), -1);
	s = "bogus";
	assert_int_equal(handshake_key_parse(s, strlen(s), &k, err, sizeof err), -1);
	assert_int_equal(handshake_key_parse("worker:x", 8, &k, err, sizeof err), 0);
	assert_int_equal(k.role, HANDSHAKE_ROLE_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_any_chunking), cmocka_unit_test(test_bad_magic_and_length),
		cmocka_unit_test(test_empty_key),           cmocka_unit_test(test_replies),
		cmocka_unit_test(test_key_grammar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
