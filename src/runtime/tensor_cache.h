/* The process-wide tensor cache of TVM's Relax runtime (vm.builtin.tensor_cache.* and
 * vm.builtin.param_*_from_cache*): named tensors a client uploads one by one or loads from a
 * TVM tensor cache directory (tensor-cache.json plus raw-shard binaries), read through
 * module_file.h so that a session only reaches files below its work directory.
 * vm_globals.c registers the globals from tensor_cache_table(). */
#ifndef TVMRPC_TENSOR_CACHE_H
#define TVMRPC_TENSOR_CACHE_H

#include <stddef.h>

#include "runtime/ffi.h"
#include "runtime/vm.h"

/* Borrowed tensor cached under `name`, or NULL. */
ffi_tensor_t *tensor_cache_lookup(const char *name);
/* Cache `tensor` (one reference taken; NULL caches None, as TVM does for a None tensor)
 * under `name`; with override unset an existing name is an InternalError (the tensor is then
 * released). 0 or -1. */
int tensor_cache_put(const char *name, ffi_tensor_t *tensor, int override);
void tensor_cache_remove(const char *name);
void tensor_cache_clear(void);
size_t tensor_cache_size(void);

/* Load every tensor of the cache directory `dir` (tensor-cache.json, format raw-shard,
 * records optionally "f32-to-bf16"); names already cached are replaced. A shard whose
 * metadata or data is wrong is an error; shards before it stay loaded, as in TVM.
 * 0, or -1 with an error set. */
int tensor_cache_load(const char *dir, DLDevice device);

/* The globals of this file, for vm_globals.c; *count receives their number. */
const vm_builtin_entry_t *tensor_cache_table(size_t *count);

#endif
