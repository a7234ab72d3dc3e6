/* Unit tests of the tracker wire codec (tracker_codec.c) and of the query tool's text layout
 * (tracker_query_format_text): framing in any chunking, limits, Python-style JSON, and TVM's
 * query_rpc_tracker output byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/tracker_codec.h"
#include "services/tracker_query.h"
#include "base/xalloc.h"

static size_t make_frame(char *buf, const char *json)
{
	size_t n = strlen(json);
	tracker_put_i32((uint8_t *)buf, (int32_t)n);
	memcpy(buf + 4, json, n);
	return n + 4;
}

static void test_magic_bytes(void **state)
{
	(void)state;
	uint8_t b[4];
	tracker_put_i32(b, TRACKER_MAGIC);
	assert_memory_equal(b, "\x71\xf2\x02\x00", 4);
	assert_int_equal(tracker_get_i32(b), 0x2f271);
	tracker_put_i32(b, -1);
	assert_int_equal(tracker_get_i32(b), -1);
}

/* A frame fed one byte at a time completes exactly at its last byte. */
static void test_reader_byte_by_byte(void **state)
{
	(void)state;
	char buf[64];
	size_t n = make_frame(buf, "[3, \"k\", [9090, \"k:0.1\"], null]");
	tracker_frame_reader_t r;
	tracker_frame_reader_init(&r, 1024);
	cJSON *msg = NULL;
	for (size_t i = 0; i < n; i++) {
		size_t used = 0;
		int rc = tracker_frame_feed(&r, buf + i, 1, &used, &msg);
		assert_int_equal(used, 1);
		assert_int_equal(rc, i + 1 == n ? 1 : 0);
	}
	assert_non_null(msg);
	assert_int_equal(cJSON_GetArraySize(msg), 4);
	assert_string_equal(cJSON_GetArrayItem(msg, 1)->valuestring, "k");
	cJSON_Delete(msg);
	tracker_frame_reader_free(&r);
}

/* Two frames in one buffer: the first call stops after the first frame. */
static void test_reader_two_frames_in_one_read(void **state)
{
	(void)state;
	char buf[64];
	size_t n1 = make_frame(buf, "[1]");
	size_t n2 = make_frame(buf + n1, " [6] ");
	tracker_frame_reader_t r;
	tracker_frame_reader_init(&r, 1024);
	cJSON *msg = NULL;
	size_t used = 0;
	assert_int_equal(tracker_frame_feed(&r, buf, n1 + n2, &used, &msg), 1);
	assert_int_equal(used, n1);
	assert_int_equal(cJSON_GetArrayItem(msg, 0)->valueint, 1);
	cJSON_Delete(msg);
	assert_int_equal(tracker_frame_feed(&r, buf + n1, n2, &used, &msg), 1);
	assert_int_equal(used, n2);
	assert_int_equal(cJSON_GetArrayItem(msg, 0)->valueint, 6);
	cJSON_Delete(msg);
	tracker_frame_reader_free(&r);
}

static int feed_all(const char *data, size_t len, uint32_t max)
{
	tracker_frame_reader_t r;
	tracker_frame_reader_init(&r, max);
	cJSON *msg = NULL;
	size_t used = 0;
	int rc = tracker_frame_feed(&r, data, len, &used, &msg);
	cJSON_Delete(msg);
	tracker_frame_reader_free(&r);
	return rc;
}

static void test_reader_rejects_bad_lengths_and_json(void **state)
{
	(void)state;
	char buf[64];
	tracker_put_i32((uint8_t *)buf, 0);
	assert_int_equal(feed_all(buf, 4, 1024), TRACKER_ERR_LENGTH);
	tracker_put_i32((uint8_t *)buf, -7);
	assert_int_equal(feed_all(buf, 4, 1024), TRACKER_ERR_LENGTH);
	tracker_put_i32((uint8_t *)buf, 0x7fffffff); /* refused before any payload or allocation */
	assert_int_equal(feed_all(buf, 4, 1024), TRACKER_ERR_LENGTH);
	tracker_put_i32((uint8_t *)buf, 1025);
	assert_int_equal(feed_all(buf, 4, 1024), TRACKER_ERR_LENGTH);
	size_t n = make_frame(buf, "[1");
	assert_int_equal(feed_all(buf, n, 1024), TRACKER_ERR_JSON);
	n = make_frame(buf, "[1] x");
	assert_int_equal(feed_all(buf, n, 1024), TRACKER_ERR_JSON);
	n = make_frame(buf, "[1]  \n");
	assert_int_equal(feed_all(buf, n, 1024), 1);
	/* Any whitespace is accepted (the C++ and JVM ports build JSON by hand). */
	n = make_frame(buf, "[3,\"k\",[9090,\"k:0.548814\"]]");
	assert_int_equal(feed_all(buf, n, 1024), 1);
}

static void expect_print(const char *json_in, const char *expected)
{
	cJSON *v = cJSON_Parse(json_in);
	assert_non_null(v);
	char *text = tracker_json_print(v);
	assert_string_equal(text, expected);
	free(text);
	cJSON_Delete(v);
}

static void test_python_style_printing(void **state)
{
	(void)state;
	expect_print("[0,[\"127.0.0.1\",9090,\"k:0.1\"]]", "[0, [\"127.0.0.1\", 9090, \"k:0.1\"]]");
	expect_print("{\"queue_info\":{\"k\":{\"free\":1,\"pending\":0}},\"server_info\":[]}",
		     "{\"queue_info\": {\"k\": {\"free\": 1, \"pending\": 0}}, \"server_info\": []}");
	expect_print("-1", "-1");
	/* Fractions as Python's repr prints them (shortest round trip), not %.17g. */
	expect_print("[0.1, 1.5, -2.25, 0.3333333333333333, 1e-07]",
		     "[0.1, 1.5, -2.25, 0.3333333333333333, 1e-07]");
	expect_print("[null,\"a\\\"b\\\\c\"]", "[null, \"a\\\"b\\\\c\"]");
	/* Non-ASCII is escaped so that characters == bytes, as Python's length assumes. */
	expect_print("[\"caf\xc3\xa9\"]", "[\"caf\\u00e9\"]");
	char buf[64];
	cJSON *v = cJSON_Parse("[1]");
	size_t len = 0;
	char *f = tracker_frame_encode(v, &len);
	assert_int_equal(len, 7);
	make_frame(buf, "[1]");
	assert_memory_equal(f, buf, 7);
	free(f);
	cJSON_Delete(v);
}

static char *format(const char *summary_json)
{
	cJSON *s = cJSON_Parse(summary_json);
	assert_non_null(s);
	char *text = tracker_query_format_text(s);
	cJSON_Delete(s);
	return text;
}

/* The example of docs/control-plane.md §2.8: W = 4, rulers of 28 dashes, the proxy-only
 * key hidden, rows padded with trailing spaces, servers sorted by key. */
static void test_query_text_example(void **state)
{
	(void)state;
	char *text = format("{\"queue_info\": {\"rasp\": {\"free\": 1, \"pending\": 0},"
			    " \"xyz\": {\"free\": 2, \"pending\": 0}},"
			    " \"server_info\": [{\"key\": \"server:rasp\", \"addr\": [\"10.0.0.5\", 9090]},"
			    " {\"key\": \"server:proxy[xyz]\", \"addr\": [\"10.0.0.9\", 9090]}]}");
	assert_string_equal(text, "Server List\n"
				  "------------------------------\n"
				  "server-address           key\n"
				  "------------------------------\n"
				  "10.0.0.9:9090            server:proxy[xyz]\n"
				  "10.0.0.5:9090            server:rasp\n"
				  "------------------------------\n"
				  "\n"
				  "Queue Status\n"
				  "----------------------------\n"
				  "key    total  free  pending\n"
				  "----------------------------\n"
				  "rasp   1      1     0      \n"
				  "----------------------------\n");
	free(text);
}

/* Edge cases of the Python layout: a long address is not cut, string ports and null print as
 * str() does, several servers of one key add up, a key with only pending requests shows,
 * and keys shorter than "key" leave the rows misaligned exactly as TVM does. */
static void test_query_text_edges(void **state)
{
	(void)state;
	char *text = format(
		"{\"queue_info\": {\"b\": {\"free\": 0, \"pending\": 3}, \"a\": {\"free\": 2, \"pending\": 0}},"
		" \"server_info\": [{\"key\": \"server:a\", \"addr\": [\"very-long-host-name.example\", \"9090\"]},"
		" {\"key\": \"server:a\", \"addr\": [null, 1]}]}");
	assert_string_equal(text, "Server List\n"
				  "------------------------------\n"
				  "server-address           key\n"
				  "------------------------------\n"
				  "very-long-host-name.example:9090    server:a\n"
				  "None:1                   server:a\n"
				  "------------------------------\n"
				  "\n"
				  "Queue Status\n"
				  "---------------------------\n"
				  "key   total  free  pending\n"
				  "---------------------------\n"
				  "a   2      2     0      \n" /* W = 1: TVM pads rows to W, */
				  "b   0      0     3      \n" /* not to len("key") */
				  "---------------------------\n");
	free(text);
}

int main(void)
{
	xalloc_cjson_hooks_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_magic_bytes),
		cmocka_unit_test(test_reader_byte_by_byte),
		cmocka_unit_test(test_reader_two_frames_in_one_read),
		cmocka_unit_test(test_reader_rejects_bad_lengths_and_json),
		cmocka_unit_test(test_python_style_printing),
		cmocka_unit_test(test_query_text_example),
		cmocka_unit_test(test_query_text_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
