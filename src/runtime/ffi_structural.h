/* Structural and recursive hashing/comparison of tvm-ffi values (ffi_structural.c), and the
 * small helpers the walks over values share with ReprPrint (ffi_repr.c): a string/bytes view
 * that treats every form alike, and a pointer-keyed table for memos and cycle marks. */
#ifndef TVMRPC_FFI_STRUCTURAL_H
#define TVMRPC_FFI_STRUCTURAL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

/* Most nodes one walk visits before it gives up (a DAG of shared lists can be exponentially
 * large when expanded as a tree). */
#define FFI_WALK_MAX_NODES ((uint64_t)1 << 24)

/* tvm-ffi's stable hashes (the same integers on every platform). */
uint64_t ffi_hash_combine(uint64_t key, uint64_t value);
uint64_t ffi_hash_bytes(const void *data, size_t size);
/* The hash tvm-ffi keeps per type: std::hash of the type key as libstdc++ computes it. */
uint64_t ffi_hash_type_key(const char *type_key);

enum ffi_text_kind { FFI_TEXT_NONE = 0, FFI_TEXT_STR = 1, FFI_TEXT_BYTES = 2 };
/* Classify a value as string (RawStr, SmallStr, Str), bytes (ByteArrayPtr, SmallBytes, Bytes)
 * or neither, with a borrowed view of the characters. */
int ffi_value_text(const TVMFFIAny *v, const char **data, size_t *size);
/* The type index tvm-ffi would give this value: strings and bytes of up to 7 bytes are small,
 * longer ones objects, raw arguments are converted as tvm-ffi converts them. */
int32_t ffi_value_type_index(const TVMFFIAny *v);

/* ffi.StructuralHash / ffi.StructuralEqual (1 equal, 0 not, -1 error set). */
int ffi_structural_hash(const TVMFFIAny *v, int skip_tensor_content, uint64_t *out);
int ffi_structural_equal(const TVMFFIAny *a, const TVMFFIAny *b, int skip_tensor_content);
/* ffi.GetFirstStructuralMismatch: *out None when equal, else an Array of two AccessPaths. */
int ffi_structural_first_mismatch(const TVMFFIAny *a, const TVMFFIAny *b,
				  int skip_tensor_content, TVMFFIAny *out);
/* ffi.RecursiveHash, the three-way compare behind ffi.RecursiveEq/Lt/Le/Gt/Ge (eq_only: never
 * raise for unordered values, answer 1 for "different"), and ffi.DeepCopy. 0 or -1. */
int ffi_recursive_hash(const TVMFFIAny *v, uint64_t *out);
int ffi_recursive_compare(const TVMFFIAny *a, const TVMFFIAny *b, int eq_only, int *out);
int ffi_deep_copy(const TVMFFIAny *v, TVMFFIAny *out);

/* Open-addressing table keyed by object address. */
typedef struct ffi_ptr_table {
	const void **keys;
	uint64_t *values;
	size_t cap;
	size_t size;
} ffi_ptr_table_t;
/* 1 and *value when present. */
int ffi_ptr_table_get(const ffi_ptr_table_t *t, const void *key, uint64_t *value);
void ffi_ptr_table_put(ffi_ptr_table_t *t, const void *key, uint64_t value);
void ffi_ptr_table_free(ffi_ptr_table_t *t);

#endif
