/* Typed signatures of remote globals: the argument count and argument type checks tvm-ffi
 * makes before calling a typed function, with its TypeError messages ("Mismatched number of
 * arguments when calling: `name(0: ffi.Map) -> int`. Expected 1 but got 2 arguments"). The
 * one checker of the ffi.* container globals and of the vm.builtin.* globals (vm_globals.c,
 * which adds tvm-ffi's implicit conversions). */
#ifndef TVMRPC_FFI_TYPED_H
#define TVMRPC_FFI_TYPED_H

#include "runtime/ffi.h"

/* One letter per declared argument, '|' before the optional ones:
 *   A Any                   i int (Int or Bool)       n int32 (Int or Bool that fits)
 *   b bool (Int or Bool)    p void* (or None)         s str
 *   B std::string (str)     S Optional<str>           o ffi.Object (or str, None)
 *   h ffi.Shape             d DataType                t ffi.Tensor
 *   T DLTensor*             c int or ffi.Tensor       a Array<Any> (Array or List)
 *   r ffi.Array             L Array<str>              l ffi.List
 *   m ffi.Map               D ffi.Dict                Y List<Any> (List or Array)
 *   K Dict<Any, Any> (Dict or Map) */
typedef struct ffi_signature {
	const char *name; /* "ffi.ListInsert"; "" for an anonymous function */
	const char *text; /* "(0: List<Any>, 1: int, 2: Any) -> void" as tvm-ffi prints it, or "" */
	const char *args; /* "YiA" */
} ffi_signature_t;

#define FFI_SIGNATURE_MAX_ARGS 8

/* 0, or -1 with a TypeError set when the count or a type does not fit. */
int ffi_signature_check(const ffi_signature_t *sig, const TVMFFIAny *args, int32_t n);

/* An implicit conversion for an argument its letter does not take as it is: 1 converted (a
 * new object, if any, in *temp), 0 none applies (the caller reports the TypeError), -1 with an
 * error set. */
typedef int (*ffi_arg_convert_fn)(char letter, TVMFFIAny *v, TVMFFIObject **temp);

/* ffi_signature_check, trying convert on a mismatch. conv receives the arguments (converted
 * where needed), temps (FFI_SIGNATURE_MAX_ARGS, zeroed by the caller) the temporaries, which
 * the caller releases whatever the result. */
int ffi_signature_convert(const ffi_signature_t *sig, const TVMFFIAny *args, int32_t n,
			  ffi_arg_convert_fn convert, TVMFFIAny *conv, TVMFFIObject **temps);

/* A typed global whose body runs only once the arguments fit the signature:
 * body(args, result) returns 0 or -1 with an error set. */
#define FFI_TYPED_GLOBAL(id, name, body, text, letters)                                      \
	static const ffi_signature_t sig_##id = {name, text, letters};                       \
	static int global_##id(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv) \
	{                                                                                    \
		(void)self;                                                                  \
		return ffi_signature_check(&sig_##id, args, n) ? -1 : body(args, rv);       \
	}                                                                                    \
	FFI_REGISTER_GLOBAL(name, global_##id)

/* The count check alone: n within [min, max] ("Expected 2 to 3 but got 1 arguments"). */
int ffi_arg_count_range(const char *sig, int32_t n, int32_t min, int32_t max);

#endif
