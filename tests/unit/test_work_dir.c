/* Unit tests for the one confinement of client paths (src/runtime/work_dir.c): the text step
 * (.., absolute paths, empty, NUL, overlong names and paths) and the walk, which never follows
 * a symbolic link out of the work directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/work_dir.h"

#define WD "/srv/work"

static void expect_rel(const char *path, const char *want)
{
	char rel[PATH_MAX];
	if (work_dir_confine(WD, path, strlen(path), rel, sizeof rel) != 0)
		fail_msg("'%s' refused: %s", path, ffi_error_message());
	assert_string_equal(rel, want);
}

static void expect_refused(const char *path, size_t len, const char *kind, const char *text)
{
	char rel[PATH_MAX];
	assert_int_equal(work_dir_confine(WD, path, len, rel, sizeof rel), -1);
	assert_string_equal(ffi_error_kind(), kind);
	if (!strstr(ffi_error_message(), text))
		fail_msg("'%s': message '%s' lacks '%s'", path, ffi_error_message(), text);
	ffi_error_clear();
}

static void test_relative_paths_are_cleaned(void **state)
{
	(void)state;
	expect_rel("a.so", "a.so");
	expect_rel("./a//b/./c", "a/b/c");
	expect_rel("a/b/../c", "a/c");
	expect_rel("a/..", "");
	expect_rel("", ""); /* the work directory itself */
	expect_rel(".", "");
	expect_rel("dir/", "dir");
}

static void test_dotdot_never_climbs_out(void **state)
{
	(void)state;
	expect_refused("..", 2, "PermissionError", "leaves the work directory");
	expect_refused("../x", 4, "PermissionError", "leaves the work directory");
	expect_refused("a/../../x", 9, "PermissionError", "leaves the work directory");
	expect_refused("a/./../b/../..", 14, "PermissionError", "leaves the work directory");
	expect_refused(WD "/../work2/x", strlen(WD "/../work2/x"), "PermissionError",
		       "leaves the work directory");
}

static void test_absolute_paths(void **state)
{
	(void)state;
	expect_rel(WD, "");
	expect_rel(WD "/", "");
	expect_rel(WD "/lib/a.so", "lib/a.so");
	expect_refused("/etc/passwd", 11, "PermissionError", "outside the work directory");
	expect_refused(WD "2/a", strlen(WD "2/a"), "PermissionError",
		       "outside the work directory"); /* a prefix of a name is not inside */
	expect_refused("/", 1, "PermissionError", "outside the work directory");
	/* A configured directory with a trailing slash is the same directory. */
	char rel[PATH_MAX];
	assert_int_equal(work_dir_confine(WD "/", WD "/x", strlen(WD "/x"), rel, sizeof rel), 0);
	assert_string_equal(rel, "x");
}

static void test_nul_and_length_limits(void **state)
{
	(void)state;
	expect_refused("a\0/../../etc", 12, "ValueError", "NUL");
	char name[NAME_MAX + 2];
	memset(name, 'n', NAME_MAX + 1);
	name[NAME_MAX + 1] = '\0';
	expect_refused(name, strlen(name), "ValueError", "component is too long");
	name[NAME_MAX] = '\0';
	expect_rel(name, name); /* NAME_MAX itself is fine */
	char *long_path = malloc(PATH_MAX + 2);
	memset(long_path, 'a', PATH_MAX + 1);
	for (size_t i = 100; i < PATH_MAX; i += 100)
		long_path[i] = '/';
	long_path[PATH_MAX + 1] = '\0';
	expect_refused(long_path, PATH_MAX + 1, "ValueError", "path is too long");
	free(long_path);
	char small[4];
	assert_int_equal(work_dir_confine(WD, "abcd", 4, small, sizeof small), -1);
	ffi_error_clear();
}

/* A scratch work directory with a real subdirectory and two links leading out of it. */
struct tree {
	char wd[64];
	char outside[64];
};

static void tree_make(struct tree *t)
{
	snprintf(t->wd, sizeof t->wd, "/tmp/tvmrpc-wd-XXXXXX");
	assert_non_null(mkdtemp(t->wd));
	snprintf(t->outside, sizeof t->outside, "/tmp/tvmrpc-out-XXXXXX");
	assert_non_null(mkdtemp(t->outside));
	char p[192];
	snprintf(p, sizeof p, "%s/sub", t->wd);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/out", t->wd);
	assert_int_equal(symlink(t->outside, p), 0);
	snprintf(p, sizeof p, "%s/sub/up", t->wd);
	assert_int_equal(symlink("..", p), 0);
}

static void tree_remove(struct tree *t)
{
	char p[192];
	snprintf(p, sizeof p, "%s/sub/up", t->wd);
	unlink(p);
	snprintf(p, sizeof p, "%s/sub", t->wd);
	rmdir(p);
	snprintf(p, sizeof p, "%s/out", t->wd);
	unlink(p);
	rmdir(t->wd);
	rmdir(t->outside);
}

static void test_walk_stays_inside(void **state)
{
	(void)state;
	struct tree t;
	tree_make(&t);
	char leaf[NAME_MAX + 1], rel[PATH_MAX];
	int fd = -1;
	assert_int_equal(work_dir_open_parent(t.wd, "sub/file", 8, &fd, leaf, rel, sizeof rel), 0);
	assert_string_equal(leaf, "file");
	assert_string_equal(rel, "sub/file");
	close(fd);
	assert_int_equal(work_dir_open_parent(t.wd, "", 0, &fd, leaf, rel, sizeof rel), 0);
	assert_string_equal(leaf, "");
	close(fd);
	/* Symbolic links as intermediate directories are never followed. */
	const char *escapes[] = {"out/x", "sub/up/out/x", "sub/up/sub/up/x"};
	for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
		fd = -1;
		assert_int_equal(work_dir_open_parent(t.wd, escapes[i], strlen(escapes[i]), &fd,
						      leaf, rel, sizeof rel),
				 -1);
		assert_int_equal(fd, -1);
		assert_non_null(strstr(ffi_error_message(), "symbolic links are not followed"));
		ffi_error_clear();
	}
	assert_int_equal(work_dir_open_parent(t.wd, "none/x", 6, &fd, leaf, rel, sizeof rel), -1);
	assert_string_equal(ffi_error_kind(), "FileNotFoundError");
	ffi_error_clear();
	assert_int_equal(work_dir_open_parent(NULL, "x", 1, &fd, leaf, rel, sizeof rel), -1);
	tree_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relative_paths_are_cleaned),
		cmocka_unit_test(test_dotdot_never_climbs_out),
		cmocka_unit_test(test_absolute_paths),
		cmocka_unit_test(test_nul_and_length_limits),
		cmocka_unit_test(test_walk_stays_inside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
