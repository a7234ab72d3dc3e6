/* The `opencl` module payload inside a TVM library (docs/devices.md §3): `str fmt`, a map of
 * kernel name -> FunctionInfo (argument dtypes, launch tags, extra tags), and `str code`,
 * OpenCL C source split at "// Function: <name>\n" into one unit per kernel. A pure parser
 * over untrusted bytes: every count and length is checked against what is left. */
#ifndef TVMRPC_OPENCL_PAYLOAD_H
#define TVMRPC_OPENCL_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

#define OPENCL_MAX_KERNEL_ARGS 1024
#define OPENCL_MAX_LAUNCH_TAGS 16

typedef struct opencl_kernel_info {
	char *name;
	DLDataType *arg_types;
	uint32_t num_args;
	/* Thread tags in launch order: rank * 3 + dim (blockIdx.x = 0 ... threadIdx.z = 5). */
	uint8_t axes[OPENCL_MAX_LAUNCH_TAGS];
	uint32_t num_axes;
	int dyn_shared_memory; /* one more launch value follows the extents (ignored) */
	const char *source;    /* this kernel's unit, inside the payload's code copy */
	size_t source_len;
} opencl_kernel_info_t;

typedef struct opencl_payload {
	opencl_kernel_info_t *kernels;
	size_t num_kernels;
	char *code; /* the whole source, NUL-terminated copy */
	size_t code_len;
} opencl_payload_t;

/* Parse a payload. Only fmt "cl" (source) is accepted. Returns 0, or -1 with an ffi error
 * set (out is then empty). */
int opencl_payload_parse(const uint8_t *data, size_t size, opencl_payload_t *out);
void opencl_payload_clear(opencl_payload_t *p);
/* Index of the kernel called `name`, or -1. */
long opencl_payload_find(const opencl_payload_t *p, const char *name);

#endif
