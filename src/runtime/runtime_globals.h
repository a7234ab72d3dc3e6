/* Helpers shared by the runtime.* and tvm.contrib.* globals (runtime_globals.c, contrib_sort.c,
 * contrib_random.c, random_fill.c, param_blob.c): checks on the CPU tensors and arguments they
 * receive, so that a bad tensor from a client gives an error instead of a wild write. */
#ifndef TVMRPC_RUNTIME_GLOBALS_H
#define TVMRPC_RUNTIME_GLOBALS_H

#include <stdint.h>

#include "runtime/ffi.h"

/* Type indices of the objects these globals return, equal to the ones TVM's tvm_rpc assigns to
 * the same type keys, so that a client sees the same index from either server. */
#define RUNTIME_TYPE_FUNCTION_INFO 137 /* runtime.FunctionInfo */
#define RUNTIME_TYPE_CPU_TIMER 141     /* runtime.CPUTimerNode */

/* A compact CPU tensor with addressable data: *count its elements, *bytes its packed size,
 * *data its first byte (data + byte_offset; NULL allowed only when bytes is 0). -1 with a
 * ValueError naming fn otherwise. */
int runtime_tensor_host(const char *fn, const DLTensor *t, uint64_t *count, uint64_t *bytes,
			char **data);


/* A float argument (Float, or Int/Bool converted, as tvm-ffi's cast<double>). -1 with a
 * TypeError otherwise. */
int runtime_arg_float(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, double *out);

/* tvm-ffi's name of a dtype ("float32", "int8", "bool", "float16x4", ...) into buf. */
void runtime_dtype_name(DLDataType t, char *buf, size_t size);

/* std::mt19937, the engine of TVM's random globals, and the two ways libstdc++ turns it into
 * reals in [0, 1) (generate_canonical: one draw for a float, two for a double). Same seed,
 * same numbers as TVM. */
typedef struct random_mt {
	uint32_t state[624];
	int next;
} random_mt_t;
void random_mt_seed(random_mt_t *mt, uint32_t seed);
uint32_t random_mt_next(random_mt_t *mt);
float random_mt_canonical_float(random_mt_t *mt);
double random_mt_canonical_double(random_mt_t *mt);
/* The engine of unseeded calls: one per thread, seeded on first use in each process. */
random_mt_t *random_mt_thread(void);

#endif
