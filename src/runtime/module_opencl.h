/* The `opencl` module of a TVM library (docs/devices.md §3-4): loaded from its payload
 * without touching the driver; each kernel is a function that host wrappers find through
 * the library's imports. A kernel's own source unit is built into its own program, lazily,
 * once per device; a failed build is remembered and reported again on every later call. */
#ifndef TVMRPC_MODULE_OPENCL_H
#define TVMRPC_MODULE_OPENCL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

/* New module from a payload, or NULL with an ffi error. */
ffi_module_t *module_opencl_load(const uint8_t *payload, size_t size);

#endif
