/* Loading TVM-compiled shared libraries (docs/session-protocol.md §7): dlopen, filling the context
 * variables with the host services of backend.h, and a Module (type 73) whose functions are
 * the library's `__tvm_ffi_<name>` symbols. Registers `ffi.Module.load_from_file.so`. */
#ifndef TVMRPC_MODULE_LIBRARY_H
#define TVMRPC_MODULE_LIBRARY_H

#include "runtime/ffi.h"

/* Load the shared library at `path` (absolute). New reference, or NULL with a clear error set
 * (missing file, not an ELF file, unresolved symbols, unsupported embedded modules). Loading the
 * same file again while its module lives returns that module. */
ffi_module_t *module_library_load(const char *path);

/* The dlopen handle behind a module of kind "library" (NULL for other modules). */
void *module_library_handle(const ffi_module_t *mod);

/* Write the host service addresses into every context variable that `lookup(handle, name)`
 * finds (dlsym for libraries, the registered table for system libs), and `ctx` into
 * `<prefix>__tvm_ffi__library_ctx`. Returns the number of variables written. */
int module_library_fill_context(void *(*lookup)(void *handle, const char *name), void *handle,
				const char *prefix, void *ctx);

/* --load-library: dlopen each ':'-separated path with RTLD_GLOBAL so that its symbols (and any
 * system-lib registrations its constructors make) are visible to later modules. Empty or NULL
 * is a no-op. Returns 0, or -1 with an error naming the library that failed. */
int module_preload(const char *colon_separated_paths);

#endif
