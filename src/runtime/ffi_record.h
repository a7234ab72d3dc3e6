/* Reflected record objects of tvm-ffi that the structural globals produce: AccessPath and
 * AccessStep (ffi.GetFirstStructuralMismatch), StructuralKey and VisitInterrupt. Each is a
 * fixed list of named fields; the JSON graph, repr, recursive hash/compare and deep copy walk
 * them by that list, as tvm-ffi walks reflected fields. Type indices are those of TVM's
 * tvm_rpc. */
#ifndef TVMRPC_FFI_RECORD_H
#define TVMRPC_FFI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

#define FFI_VISIT_INTERRUPT 77
#define FFI_ACCESS_STEP 132
#define FFI_ACCESS_PATH 133
#define FFI_STRUCTURAL_KEY 136

#define FFI_RECORD_MAX_FIELDS 3

typedef struct ffi_record_field {
	const char *name;
	int is_int;      /* an int64 field (written inline in the JSON graph), else Any/object */
	int has_default; /* may be left out of a JSON graph (None) */
} ffi_record_field_t;

typedef struct ffi_record_type {
	int32_t type_index;
	const char *type_key;
	int num_fields;
	ffi_record_field_t fields[FFI_RECORD_MAX_FIELDS];
	int structural; /* StructuralHash/StructuralEqual walk its fields (else a TypeError) */
} ffi_record_type_t;

typedef struct ffi_record {
	TVMFFIObject header;
	TVMFFIAny fields[FFI_RECORD_MAX_FIELDS]; /* owned */
} ffi_record_t;

/* The record type of a type index or of a type key, or NULL. */
const ffi_record_type_t *ffi_record_type(int32_t type_index);
const ffi_record_type_t *ffi_record_type_by_key(const char *key, size_t len);
/* New record with every field None (ints 0). */
ffi_record_t *ffi_record_new(int32_t type_index);

/* AccessStep kinds, as tvm-ffi numbers them. */
enum ffi_access_kind {
	FFI_ACCESS_ATTR = 0,
	FFI_ACCESS_ARRAY_ITEM = 1,
	FFI_ACCESS_MAP_ITEM = 2,
	FFI_ACCESS_ATTR_MISSING = 3,
	FFI_ACCESS_ARRAY_ITEM_MISSING = 4,
	FFI_ACCESS_MAP_ITEM_MISSING = 5,
};
/* Root AccessPath (depth 0), and the path one step below `parent` (both new references;
 * key is copied). */
ffi_record_t *ffi_access_path_root(void);
ffi_record_t *ffi_access_path_extend(ffi_record_t *parent, int kind, const TVMFFIAny *key);

#endif
