/* Files behind the module globals (ffi.ModuleLoadFromFile, ffi.ModuleWriteToFile, the
 * relax.VMExecutable file loaders, runtime.ModuleLoadStaticLibrary): paths confined to the
 * session work directory, bounded reads, and the `static_library` module kind. */
#ifndef TVMRPC_MODULE_FILE_H
#define TVMRPC_MODULE_FILE_H

#include <stddef.h>

#include "runtime/ffi.h"

/* Largest file a module global reads into memory. */
#define MODULE_FILE_MAX_READ ((size_t)1 << 30)

/* The absolute path a client's `path` names. In a session with a work directory, a relative
 * path is taken below it and the result (symbolic links resolved) must stay inside it, else
 * PermissionError; for_write resolves only the parent directory. Outside a session the path
 * is used as given. malloc'd, or NULL with an error set. */
char *module_file_path(const char *path, int for_write);

/* Read a whole file (confined as above, at most MODULE_FILE_MAX_READ bytes) into a new
 * Bytes object; NULL with an error set. */
ffi_bytes_t *module_file_read(const char *path);
/* Create or replace a file (confined as above). 0, or -1 with an error set. */
int module_file_write(const char *path, const char *data, size_t size);

/* A static library module: for ImplementsFunction, 1 or 0 when `mod` is one and lists `name`,
 * -1 when `mod` is another kind. */
int module_static_library_lists(const ffi_module_t *mod, const char *name);
/* Its object file: 0 and the bytes, or -1 when `mod` is another kind. */
int module_static_library_data(const ffi_module_t *mod, const char **data, size_t *size);

#endif
