/* Calling registered globals from cmocka tests, as a remote client would reach them: look the
 * name up in the registry, call, and check the result or the error kind. Shared by the unit
 * tests of the global families (containers, JSON, structural, modules, VM globals). */
#ifndef TVMRPC_TEST_GLOBAL_CALL_UTIL_H
#define TVMRPC_TEST_GLOBAL_CALL_UTIL_H

#include <string.h>

#include "runtime/ffi.h"

/* 0, or -1 with the thread's error set; the result is owned by the caller. */
static inline int call(const char *name, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv)
{
	ffi_function_t *fn = ffi_registry_get(name);
	if (!fn)
		fail_msg("%s is not registered", name);
	ffi_error_clear();
	int rc = ffi_function_call(fn, args, n, rv);
	ffi_object_release(&fn->header);
	return rc;
}

/* A call that must succeed; returns the owned result. */
static inline TVMFFIAny ok(const char *name, const TVMFFIAny *args, int32_t n)
{
	TVMFFIAny rv;
	if (call(name, args, n, &rv) != 0)
		fail_msg("%s failed: %s: %s", name, ffi_error_kind(), ffi_error_message());
	return rv;
}

/* A call that must fail with `kind`. */
static inline void fails(const char *name, const TVMFFIAny *args, int32_t n, const char *kind)
{
	TVMFFIAny rv;
	if (call(name, args, n, &rv) == 0)
		fail_msg("%s succeeded, expected %s", name, kind);
	if (strcmp(ffi_error_kind(), kind) != 0)
		fail_msg("%s: expected %s, got %s: %s", name, kind, ffi_error_kind(),
			 ffi_error_message());
}

/* A call that must answer an integer (or bool). */
static inline int64_t ok_int(const char *name, const TVMFFIAny *args, int32_t n)
{
	TVMFFIAny rv = ok(name, args, n);
	assert_true(rv.type_index == FFI_INT || rv.type_index == FFI_BOOL);
	return rv.v_int64;
}

#endif
