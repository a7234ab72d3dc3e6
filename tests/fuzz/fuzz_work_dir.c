/* libFuzzer harness: the confinement of client paths (runtime/work_dir.c, work_dir_confine)
 * on any bytes, relative and absolute. Whatever is accepted must be a clean relative path:
 * no leading '/', no empty, "." or ".." component, never longer than the input. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/work_dir.h"

#define WD "/srv/work"

static void check_clean(const char *rel, size_t input_len)
{
	size_t len = strlen(rel);
	if (len > input_len || rel[0] == '/')
		abort();
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			abort();
		p += n;
		if (*p == '/' && *++p == '\0')
			abort(); /* a trailing '/' */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Bit 0 of the first byte: put the rest below the work directory as an absolute path. */
	if (size < 1)
		return 0;
	size_t prefix = data[0] & 1 ? sizeof WD : 0;
	size_t len = prefix + size - 1;
	char *path = malloc(len + 1);
	if (!path)
		return 0;
	if (prefix) {
		memcpy(path, WD "/", prefix);
	}
	memcpy(path + prefix, data + 1, size - 1);
	path[len] = '\0';
	char rel[PATH_MAX];
	if (work_dir_confine(WD, path, len, rel, sizeof rel) == 0)
		check_clean(rel, len);
	else
		ffi_error_clear();
	free(path);
	return 0;
}
