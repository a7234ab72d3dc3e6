/* Client paths confined to the session work directory (work_dir.h). The text step
 * (work_dir_confine) is pure and fuzzed (tests/fuzz/fuzz_work_dir.c); the walk below the
 * directory opens each intermediate directory with O_NOFOLLOW, so a symbolic link placed in
 * the work directory can never lead out of it. */
#include "runtime/work_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/session.h"

/* If path lies below base (or is base), *rest is what follows base; returns 1, else 0. */
static int strip_base(const char *base, const char *path, const char **rest)
{
	size_t n = strlen(base);
	while (n > 1 && base[n - 1] == '/')
		n--;
	if (n == 1 && base[0] == '/') {
		*rest = path;
		return 1;
	}
	if (n == 0 || strncmp(base, path, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return 0;
	*rest = path + n;
	return 1;
}

/* An absolute path: what follows the work directory, or NULL with a PermissionError. */
static const char *below_work_dir(const char *wd, const char *path)
{
	const char *rest = NULL;
	if (strip_base(wd, path, &rest))
		return rest;
	char *real = realpath(wd, NULL);
	int inside = real && strip_base(real, path, &rest);
	free(real);
	if (inside)
		return rest;
	ffi_error_set("PermissionError", "'%.200s' is outside the work directory", path);
	return NULL;
}

int work_dir_confine(const char *wd, const char *path, size_t len, char *rel, size_t rel_size)
{
	if (memchr(path, '\0', len)) {
		ffi_error_set("ValueError", "path contains a NUL byte");
		return -1;
	}
	if (len >= rel_size) {
		ffi_error_set("ValueError", "path is too long");
		return -1;
	}
	const char *p = path[0] == '/' ? below_work_dir(wd, path) : path;
	if (!p)
		return -1;
	size_t used = 0;
	rel[0] = '\0';
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n > NAME_MAX) {
			ffi_error_set("ValueError", "path component is too long");
			return -1;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (used == 0) {
				ffi_error_set("PermissionError",
					      "path '%.200s' leaves the work directory", path);
				return -1;
			}
			char *slash = memrchr(rel, '/', used);
			used = slash ? (size_t)(slash - rel) : 0;
			rel[used] = '\0';
		} else if (!(n == 1 && p[0] == '.')) {
			if (used)
				rel[used++] = '/';
			memcpy(rel + used, p, n);
			used += n;
			rel[used] = '\0';
		}
		p += n;
	}
	return 0;
}

const char *work_dir_current(void)
{
	const session_options_t *opt = session_current();
	if (!opt || !opt->work_dir || !opt->work_dir[0]) {
		ffi_error_set("RuntimeError", "no session work directory is configured");
		return NULL;
	}
	return opt->work_dir;
}

/* Open directory `comp` below fd without following a symbolic link; closes fd. */
static int descend(int fd, const char *comp, const char *path)
{
	int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(fd);
	if (next < 0)
		ffi_error_set(e == ENOENT ? "FileNotFoundError" : "PermissionError",
			      "cannot open directory '%s' of '%.200s': %s", comp, path,
			      e == ELOOP || e == ENOTDIR ? "not a directory (symbolic links are "
							   "not followed)"
							 : strerror(e));
	return next;
}

int work_dir_open_parent(const char *wd, const char *path, size_t len, int *dirfd, char *leaf,
			 char *rel, size_t rel_size)
{
	if (!wd || work_dir_confine(wd, path, len, rel, rel_size))
		return -1;
	int fd = open(wd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ffi_error_set("OSError", "cannot open the work directory: %s", strerror(errno));
		return -1;
	}
	leaf[0] = '\0';
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (p[n] == '\0') {
			memcpy(leaf, p, n + 1);
			break;
		}
		char comp[NAME_MAX + 1];
		memcpy(comp, p, n);
		comp[n] = '\0';
		fd = descend(fd, comp, path);
		if (fd < 0)
			return -1;
		p += n + 1;
	}
	*dirfd = fd;
	return 0;
}
