/* The module tree a TVM library carries in `__tvm_ffi__library_bin` (docs/relax-vm.md §1.2):
 * a pure parser over untrusted bytes, and the loader that turns a parsed tree into modules
 * (the library itself for `_lib`, a Relax executable module for `relax.VMExecutable`). */
#ifndef TVMRPC_MODULE_BLOB_H
#define TVMRPC_MODULE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

typedef struct module_blob_entry {
	const char *kind; /* points into the parsed bytes; not NUL-terminated */
	size_t kind_len;
	const uint8_t *payload; /* NULL for "_lib" */
	size_t payload_len;
	size_t child_begin, child_end; /* children are children[child_begin .. child_end) */
} module_blob_entry_t;

typedef struct module_blob {
	module_blob_entry_t *modules;
	size_t num_modules;
	uint64_t *children;
	size_t num_children;
} module_blob_t;

/* Parse a blob of `size` available bytes, starting at its u64 `nbytes` field. Checks every
 * length against nbytes and nbytes against size, and the tree (indptr starting at 0,
 * non-decreasing, ending at the child count; each child index above its parent and below
 * N). Returns 0, or -1 with ffi_error_set (out is then empty). Entries point into `data`. */
int module_blob_parse(const uint8_t *data, size_t size, module_blob_t *out);
void module_blob_clear(module_blob_t *blob);

/* Build the module tree of a library. `lib` is the library module the blob came from (it
 * stands for every `_lib` entry). Returns a new reference to the root module (module 0:
 * the Relax executable, or `lib` itself for a plain kernel library), or NULL with
 * ffi_error_set. Refuses module kinds other than `_lib` and `relax.VMExecutable`.
 * module_blob_load trusts the blob's own nbytes; module_blob_load_sized also checks it
 * against the `size` known from the symbol table. */
ffi_module_t *module_blob_load(ffi_module_t *lib, const uint8_t *blob);
ffi_module_t *module_blob_load_sized(ffi_module_t *lib, const uint8_t *blob, size_t size);

#endif
