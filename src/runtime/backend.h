/* Host services that TVM-compiled kernels call back into (docs/session-protocol.md §7.4): scratch
 * workspaces, parallel launch with a barrier, and packed-function lookup and calls. The
 * library loader (module_library.c) writes these addresses into a .so's context variables;
 * the same functions are also exported under their TVM names for system-lib and C builds. */
#ifndef TVMRPC_BACKEND_H
#define TVMRPC_BACKEND_H

#include <stdint.h>

#include "runtime/ffi.h"

/* Scratch memory for a kernel: 64-byte aligned, per thread, freed in LIFO order (any order is
 * accepted). NULL with an error set on failure. Freed blocks are kept for reuse. */
void *backend_workspace_alloc(int device_type, int device_id, uint64_t nbytes, int dtype_code_hint,
			      int dtype_bits_hint);
/* 0, or -1 with an error set if ptr was not allocated on this thread. */
int backend_workspace_free(int device_type, int device_id, void *ptr);
/* Number of blocks currently handed out on the calling thread (for tests and leak checks). */
int backend_workspace_live(void);

/* Run f(task_id, env, cdata) for task_id 0..n-1 at the same time on the thread pool, with
 * env->num_task = n. num_task <= 0 means one task per pool thread; larger requests are capped
 * at the pool size so that the barrier can always be reached. Nested launches run serially as
 * one task. Returns 0, or -1 with the first failing task's error set on the caller's thread. */
int backend_parallel_launch(FTVMParallelLambda f, void *cdata, int num_task);
/* Block until every task of the current launch reached the barrier; returns 0. */
int backend_parallel_barrier(int task_id, TVMParallelGroupEnv *env);
/* Threads in the pool (the caller counts as one), by TVM's rule: TVM_NUM_THREADS, else
 * OMP_NUM_THREADS, else the online CPUs (halved on x86-64). */
int backend_thread_count(void);

/* runtime.config_threadpool: later launches run at most `tasks` tasks (0 or less: the whole
 * pool), also those asking for one task per pool thread (num_task <= 0). */
void backend_thread_limit_set(int tasks);

/* Calls a function object handle (an ffi_function_t*) as tvm-ffi's TVMFFIFunctionCall. */
int backend_function_call(void *func, TVMFFIAny *args, int32_t num_args, TVMFFIAny *result);
/* Resolve `name` for generated code: the imports of the module given as library_ctx (an
 * ffi_module_t*, or NULL), then the global registry. The handle stays valid while the module
 * lives (it is cached by the module) or, for globals, for the life of the process. */
int backend_env_lookup(void *library_ctx, const char *name, void **out_func);
/* Thread-safe lazy initialisation of a cached handle. */
int backend_handle_init_once(void **handle_addr, int (*init)(void **result));

/* Release cached function references held for a module (called by the module's destroy).
 * Implemented in backend.c because the cache is keyed by the library context. */
void backend_env_cache_drop(void *library_ctx);

#endif
