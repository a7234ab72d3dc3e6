/* The thread-local "last error" that host functions and compiled kernels raise, and the
 * tvm-ffi entry points compiled modules call to raise it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/ffi.h"

static _Thread_local char error_kind[64];
static _Thread_local char error_message[2048];

void ffi_error_set(const char *kind, const char *fmt, ...)
{
	/* Callers re-raise with ffi_error_kind() as the kind: copy it before overwriting. */
	char kind_copy[sizeof error_kind];
	snprintf(kind_copy, sizeof kind_copy, "%s", kind && *kind ? kind : "RuntimeError");
	memcpy(error_kind, kind_copy, sizeof error_kind);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error_message, sizeof error_message, fmt, ap);
	va_end(ap);
}

int ffi_error_malformed(const char *what, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ffi_error_set("ValueError", "%s is malformed: %s", what, msg);
	return -1;
}

const char *ffi_error_kind(void) { return error_kind; }
const char *ffi_error_message(void) { return error_message; }

void ffi_error_format(char *buf, size_t size)
{
	if (error_kind[0])
		snprintf(buf, size, "%s: %s", error_kind, error_message);
	else
		snprintf(buf, size, "RuntimeError: unknown error");
}

void ffi_error_clear(void)
{
	error_kind[0] = '\0';
	error_message[0] = '\0';
}

void TVMFFIErrorSetRaisedFromCStr(const char *kind, const char *message)
{
	ffi_error_set(kind, "%s", message ? message : "");
}

void TVMFFIErrorSetRaisedFromCStrParts(const char *kind, const char **parts, int32_t num_parts)
{
	size_t used = 0;
	error_message[0] = '\0';
	for (int32_t i = 0; i < num_parts && parts; i++) {
		if (!parts[i])
			continue;
		size_t len = strlen(parts[i]);
		if (used + len >= sizeof error_message)
			len = sizeof error_message - 1 - used;
		memcpy(error_message + used, parts[i], len);
		used += len;
		error_message[used] = '\0';
	}
	snprintf(error_kind, sizeof error_kind, "%s", kind && *kind ? kind : "RuntimeError");
}
