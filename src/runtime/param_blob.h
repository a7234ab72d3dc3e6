/* TVM's parameter blob (runtime.SaveParams / LoadParams, .params files): a pure codec over
 * byte buffers. All integers little-endian:
 *   u64 0xF7E58D4F05049CB7, u64 0, u64 n, n x (u64 len, name bytes), u64 n, n x tensor
 * and each tensor:
 *   u64 0xDD5E40F096B4A13F, u64 0, i32 device_type (1), i32 device_id, i32 ndim,
 *   u8 code, u8 bits, u16 lanes, ndim x i64 shape, i64 size, size bytes of data
 * where size is elements x ceil(bits / 8), lanes not counted, as TVM writes it. The reader
 * checks every length against the bytes present before it allocates. */
#ifndef TVMRPC_PARAM_BLOB_H
#define TVMRPC_PARAM_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

#define PARAM_BLOB_LIST_MAGIC 0xF7E58D4F05049CB7ull
#define PARAM_BLOB_TENSOR_MAGIC 0xDD5E40F096B4A13Full

typedef struct param_entry {
	const char *name; /* not NUL-terminated in the writer's input; NUL-terminated by the reader */
	size_t name_len;
	DLTensor *tensor; /* writer: borrowed; reader: &owned->dl */
	ffi_tensor_t *owned; /* reader only: the loaded tensor (a new reference) */
} param_entry_t;

/* Bytes of the blob for these entries; -1 with an error if a tensor cannot be saved (not a
 * compact CPU tensor, or sizes overflow). */
int param_blob_size(const param_entry_t *entries, size_t count, uint64_t *size);
/* Write the blob into out, which holds exactly param_blob_size bytes. */
void param_blob_encode(const param_entry_t *entries, size_t count, char *out);

/* Parse a blob into *entries (malloc'd, *count of them, names and tensors owned). -1 with an
 * InternalError ("Invalid parameters file format: ...") on malformed input, or a
 * MemoryError; nothing is left allocated then. */
int param_blob_decode(const char *data, size_t size, param_entry_t **entries, size_t *count);
void param_entries_free(param_entry_t *entries, size_t count);

#endif
