/* Typed signatures of remote globals: the argument count and argument type checks tvm-ffi
 * makes before calling a typed function, with its TypeError messages ("Mismatched number of
 * arguments when calling: `name(0: ffi.Map) -> int`. Expected 1 but got 2 arguments"). */
#ifndef TVMRPC_FFI_TYPED_H
#define TVMRPC_FFI_TYPED_H

#include "runtime/ffi.h"

/* What a typed global declares for one argument. */
typedef enum ffi_arg_kind {
	FFI_ARG_ANY,      /* Any: every value */
	FFI_ARG_INT,      /* int64_t: Int or Bool */
	FFI_ARG_ARRAY,    /* const ArrayObj*: an Array and nothing else */
	FFI_ARG_LIST,     /* const ListObj* */
	FFI_ARG_MAP,      /* const MapObj* */
	FFI_ARG_DICT,     /* const DictObj* */
	FFI_ARG_LIST_ANY, /* List<Any>: a List, or an Array the callee turns into a new List */
	FFI_ARG_DICT_ANY, /* Dict<Any, Any>: a Dict, or a Map the callee turns into a new Dict */
} ffi_arg_kind_t;

#define FFI_SIGNATURE_MAX_ARGS 4

typedef struct ffi_signature {
	const char *name; /* "ffi.ListInsert"; "" for an anonymous function */
	const char *text; /* "(0: List<Any>, 1: int, 2: Any) -> void", as tvm-ffi prints it */
	int32_t num_args;
	ffi_arg_kind_t kinds[FFI_SIGNATURE_MAX_ARGS];
} ffi_signature_t;

/* 0, or -1 with a TypeError set when the count or a type does not fit. */
int ffi_signature_check(const ffi_signature_t *sig, const TVMFFIAny *args, int32_t n);

#endif
