/* Unit tests of usage accounting (tracker_usage.c): the JSON line of a record, the file
 * written with whole lines only, and the per-key/per-user statistics of the in-memory day. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "services/tracker_usage.h"

static double num(const cJSON *o, const char *a, const char *b, const char *c)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	v = cJSON_GetObjectItemCaseSensitive(v, b);
	v = cJSON_GetObjectItemCaseSensitive(v, c);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static void test_line_of_a_released_and_a_cancelled_session(void **state)
{
	(void)state;
	tracker_session_t *s = tracker_session_new("rasp", "alice", "10.0.0.7:5000", "10.0.0.5:9090",
						   "rasp:0.1", 1000.0, 1012.5);
	char *line = tracker_usage_line(s, 1080.25, TRACKER_END_RELEASED);
	assert_string_equal(line, "{\"key\":\"rasp\",\"user\":\"alice\",\"client\":\"10.0.0.7:5000\","
				  "\"server\":\"10.0.0.5:9090\",\"matchkey\":\"rasp:0.1\","
				  "\"request_time\":1000,\"assign_time\":1012.5,\"end_time\":1080.25,"
				  "\"wait\":12.5,\"busy\":67.75,\"end\":\"released\"}\n");
	free(line);
	tracker_session_free(s);
	s = tracker_session_new("k", "bob", "c", "", "", 1000.0, 0);
	line = tracker_usage_line(s, 1003.0, TRACKER_END_CANCELLED);
	assert_non_null(strstr(line, "\"server\":null,\"matchkey\":null"));
	assert_non_null(strstr(line, "\"assign_time\":null"));
	assert_non_null(strstr(line, "\"wait\":3,\"busy\":0,\"end\":\"cancelled\""));
	free(line);
	tracker_session_free(s);
}

static void test_file_and_stats(void **state)
{
	(void)state;
	char path[] = "/tmp/tvmrpc-usage-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	tracker_usage_t u;
	tracker_usage_init(&u);
	char err[200];
	assert_int_equal(tracker_usage_open(&u, path, err, sizeof err), 0);
	double now = 1e9;
	/* Key k: waits 1..20 s ending within the hour, one 2 h ago, one 2 days ago (dropped). */
	for (int i = 1; i <= 20; i++)
		tracker_usage_finish(&u, tracker_session_new("k", i % 2 ? "a" : "b", "c", "s", "m",
							     now - 100 - i, now - 100),
				     now - 50, TRACKER_END_RELEASED);
	tracker_usage_finish(&u, tracker_session_new("k", "a", "c", "s", "m", now - 7300, now - 7290),
			     now - 7200, TRACKER_END_DROPPED);
	tracker_usage_finish(&u, tracker_session_new("k", "z", "c", "", "", now - 60, 0), now - 10,
			     TRACKER_END_CANCELLED);
	cJSON *st = tracker_usage_stats(&u, now);
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(st, "keys");
	assert_int_equal((int)num(keys, "k", "hour", "sessions"), 20);
	assert_int_equal((int)num(keys, "k", "day", "sessions"), 21);
	assert_int_equal((int)num(keys, "k", "hour", "cancelled"), 1);
	assert_true(num(keys, "k", "hour", "wait_p50") == 10);
	assert_true(num(keys, "k", "hour", "wait_p95") == 19);
	assert_true(num(keys, "k", "hour", "busy") == 20 * 50);
	const cJSON *users = cJSON_GetObjectItemCaseSensitive(st, "users");
	assert_int_equal((int)num(users, "a", "hour", "sessions"), 10);
	assert_int_equal((int)num(users, "a", "day", "sessions"), 11);
	assert_int_equal((int)num(users, "z", "day", "sessions"), 0);
	cJSON_Delete(st);
	assert_int_equal((int)u.ended[TRACKER_END_RELEASED], 20);
	tracker_usage_free(&u);
	/* 22 whole lines, each parseable. */
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		assert_int_equal(line[strlen(line) - 1], '\n');
		cJSON *o = cJSON_Parse(line);
		assert_non_null(o);
		cJSON_Delete(o);
		n++;
	}
	fclose(f);
	unlink(path);
	assert_int_equal(n, 22);
}

static void test_unwritable_path_is_an_error(void **state)
{
	(void)state;
	tracker_usage_t u;
	tracker_usage_init(&u);
	char err[200];
	assert_true(tracker_usage_open(&u, "/nonexistent-dir/usage.jsonl", err, sizeof err) < 0);
	assert_non_null(strstr(err, "/nonexistent-dir/usage.jsonl"));
	assert_int_equal(u.fd, -1);
	tracker_usage_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_of_a_released_and_a_cancelled_session),
		cmocka_unit_test(test_file_and_stats),
		cmocka_unit_test(test_unwritable_path_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
