/* Unit tests for the server's session helpers that need no network: removing a session
 * directory never follows symbolic links out of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/server_session.h"

static void write_file(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("keep me", f);
	fclose(f);
}

static void test_remove_tree_keeps_symlink_targets(void **state)
{
	(void)state;
	char base[] = "/tmp/tvmrpc-test-XXXXXX";
	assert_non_null(mkdtemp(base));
	char outside[512], victim[512], inner[512], p[600];
	snprintf(outside, sizeof outside, "%s/outside", base);
	snprintf(victim, sizeof victim, "%s/outside/precious.txt", base);
	snprintf(inner, sizeof inner, "%s/session", base);
	assert_int_equal(mkdir(outside, 0700), 0);
	write_file(victim);
	assert_int_equal(mkdir(inner, 0700), 0);
	snprintf(p, sizeof p, "%s/sub", inner);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/sub/file", inner);
	write_file(p);
	snprintf(p, sizeof p, "%s/link-to-dir", inner);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof p, "%s/sub/link-to-file", inner);
	assert_int_equal(symlink(victim, p), 0);
	snprintf(p, sizeof p, "%s/sub/unreadable", inner);
	assert_int_equal(mkdir(p, 0), 0);

	assert_int_equal(server_session_remove_tree(inner), 0);
	struct stat st;
	assert_int_not_equal(lstat(inner, &st), 0);
	assert_int_equal(stat(victim, &st), 0);
	/* Removing what is already gone is not an error. */
	assert_int_equal(server_session_remove_tree(inner), 0);

	unlink(victim);
	rmdir(outside);
	rmdir(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_tree_keeps_symlink_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
