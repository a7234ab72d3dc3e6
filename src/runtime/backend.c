/* Host services for TVM-compiled kernels (backend.h): per-thread workspace pools, a thread pool
 * with a barrier for parallel loops, packed-function lookup for generated code, and the same
 * entry points exported under TVM's own names (system libs and C-source builds call them). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/device.h"
#include "base/log.h"
#include "base/xalloc.h"

/* ---- workspaces ---- */

/* Largest single workspace request honoured; kernels ask for their scratch buffers, so this
 * only stops a corrupt request from exhausting memory. */
#define WORKSPACE_MAX_BYTES (1ull << 34)
#define WORKSPACE_KEEP_FREE 16

struct workspace_block {
	void *ptr;
	size_t size;
};

struct workspace_pool {
	struct workspace_block *live; /* a stack: the newest allocation is last */
	size_t num_live, cap_live;
	struct workspace_block free_blocks[WORKSPACE_KEEP_FREE];
	size_t num_free;
};

static pthread_key_t workspace_key;
static pthread_once_t workspace_key_once = PTHREAD_ONCE_INIT;

static void workspace_pool_destroy(void *arg)
{
	struct workspace_pool *pool = arg;
	for (size_t i = 0; i < pool->num_live; i++)
		free(pool->live[i].ptr);
	for (size_t i = 0; i < pool->num_free; i++)
		free(pool->free_blocks[i].ptr);
	free(pool->live);
	free(pool);
}

static void workspace_key_create(void)
{
	if (pthread_key_create(&workspace_key, workspace_pool_destroy) != 0)
		fatal("cannot create the workspace thread key");
}

static struct workspace_pool *workspace_pool_get(void)
{
	pthread_once(&workspace_key_once, workspace_key_create);
	struct workspace_pool *pool = pthread_getspecific(workspace_key);
	if (!pool) {
		pool = xcalloc(1, sizeof *pool);
		pthread_setspecific(workspace_key, pool);
	}
	return pool;
}

void *backend_workspace_alloc(int device_type, int device_id, uint64_t nbytes, int dtype_code_hint,
			      int dtype_bits_hint)
{
	(void)device_id;
	(void)dtype_code_hint;
	(void)dtype_bits_hint;
	if (device_type != 1)
		return device_workspace_alloc(device_type, device_id, nbytes);
	if (nbytes > WORKSPACE_MAX_BYTES) {
		ffi_error_set("MemoryError", "workspace of %llu bytes refused",
			      (unsigned long long)nbytes);
		return NULL;
	}
	/* Round up so that reused blocks match by size class and kernels may read whole lines. */
	size_t size = (size_t)((nbytes + 63) & ~63ull);
	if (size == 0)
		size = 64;
	struct workspace_pool *pool = workspace_pool_get();
	void *ptr = NULL;
	/* Best fit among the kept free blocks. */
	size_t best = pool->num_free;
	for (size_t i = 0; i < pool->num_free; i++)
		if (pool->free_blocks[i].size >= size &&
		    (best == pool->num_free || pool->free_blocks[i].size < pool->free_blocks[best].size))
			best = i;
	if (best < pool->num_free) {
		ptr = pool->free_blocks[best].ptr;
		size = pool->free_blocks[best].size;
		pool->free_blocks[best] = pool->free_blocks[--pool->num_free];
	} else {
		ptr = aligned_alloc(64, size);
		if (!ptr) {
			ffi_error_set("MemoryError", "cannot allocate a workspace of %zu bytes", size);
			return NULL;
		}
	}
	if (pool->num_live == pool->cap_live) {
		pool->cap_live = pool->cap_live ? pool->cap_live * 2 : 8;
		pool->live = xrealloc(pool->live, pool->cap_live * sizeof *pool->live);
	}
	pool->live[pool->num_live].ptr = ptr;
	pool->live[pool->num_live].size = size;
	pool->num_live++;
	return ptr;
}

int backend_workspace_free(int device_type, int device_id, void *ptr)
{
	(void)device_id;
	if (device_type != 1)
		return device_workspace_free(ptr);
	struct workspace_pool *pool = workspace_pool_get();
	/* LIFO is the normal order, so search from the top of the stack. */
	size_t i = pool->num_live;
	while (i > 0 && pool->live[i - 1].ptr != ptr)
		i--;
	if (i == 0) {
		ffi_error_set("ValueError", "workspace %p was not allocated on this thread", ptr);
		return -1;
	}
	struct workspace_block block = pool->live[i - 1];
	memmove(pool->live + i - 1, pool->live + i, (pool->num_live - i) * sizeof *pool->live);
	pool->num_live--;
	if (pool->num_free < WORKSPACE_KEEP_FREE) {
		pool->free_blocks[pool->num_free++] = block;
		return 0;
	}
	/* Keep the larger block: it can serve more requests. */
	size_t smallest = 0;
	for (size_t j = 1; j < pool->num_free; j++)
		if (pool->free_blocks[j].size < pool->free_blocks[smallest].size)
			smallest = j;
	if (pool->free_blocks[smallest].size < block.size) {
		free(pool->free_blocks[smallest].ptr);
		pool->free_blocks[smallest] = block;
	} else {
		free(block.ptr);
	}
	return 0;
}

int backend_workspace_live(void)
{
	return (int)workspace_pool_get()->num_live;
}

/* ---- thread pool ---- */

/* One launch at a time uses the pool; the caller runs task 0 and the workers run 1..n-1. A
 * second launch while one runs (another thread, or a task launching again) runs serially. */
struct thread_pool {
	pthread_mutex_t lock;
	pthread_cond_t work_ready;
	pthread_cond_t work_done;
	pthread_mutex_t launch_lock; /* held by the thread that owns the current launch */
	pthread_t *threads;
	int num_workers;   /* threads besides the caller */
	int started;
	uint64_t generation; /* bumped for each launch */
	uint64_t created_generation; /* generation when the workers were started */
	FTVMParallelLambda fn;
	void *cdata;
	int num_task;
	int pending;       /* workers that have not finished the current launch */
	int failed;
	char error_kind[64];
	char error_message[1024];
	pthread_barrier_t barrier;
	int barrier_count; /* parties the barrier was built for, 0 if none */
};

static struct thread_pool pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work_ready = PTHREAD_COND_INITIALIZER,
	.work_done = PTHREAD_COND_INITIALIZER,
	.launch_lock = PTHREAD_MUTEX_INITIALIZER,
};

static _Thread_local int in_parallel_task;
static int pool_task_limit; /* runtime.config_threadpool's cap on tasks per launch, 0 = none */
static pthread_once_t pool_atfork_once = PTHREAD_ONCE_INIT;

static int env_threads(const char *name)
{
	const char *env = getenv(name);
	if (!env || !*env)
		return 0;
	char *end;
	long n = strtol(env, &end, 10);
	return *end == '\0' && n >= 1 && n <= 1024 ? (int)n : 0;
}

/* TVM's rule for its pool: TVM_NUM_THREADS, else OMP_NUM_THREADS, else the online CPUs,
 * halved on x86-64 (TVM assumes two hyper-threads per core there), and at least 1. */
int backend_thread_count(void)
{
	int n = env_threads("TVM_NUM_THREADS");
	if (!n)
		n = env_threads("OMP_NUM_THREADS");
	if (n)
		return n;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
#if defined(__x86_64__)
	cores /= 2;
#endif
	if (cores < 1)
		return 1;
	return cores > 1024 ? 1024 : (int)cores;
}

void backend_thread_limit_set(int tasks)
{
	__atomic_store_n(&pool_task_limit, tasks > 0 ? tasks : 0, __ATOMIC_RELAXED);
}

/* Record a task's failure so that the launching thread can report it. */
static void pool_record_failure(int rc)
{
	pthread_mutex_lock(&pool.lock);
	if (!pool.failed) {
		pool.failed = 1;
		if (ffi_error_kind()[0]) {
			snprintf(pool.error_kind, sizeof pool.error_kind, "%s", ffi_error_kind());
			snprintf(pool.error_message, sizeof pool.error_message, "%s",
				 ffi_error_message());
		} else {
			snprintf(pool.error_kind, sizeof pool.error_kind, "RuntimeError");
			snprintf(pool.error_message, sizeof pool.error_message,
				 "parallel task failed with code %d", rc);
		}
	}
	pthread_mutex_unlock(&pool.lock);
}

static void *pool_worker_main(void *arg)
{
	int worker = (int)(intptr_t)arg; /* 1..num_workers */
	/* Launches before this pool existed (e.g. in the parent of a fork) are not ours. */
	uint64_t seen = pool.created_generation;
	in_parallel_task = 1;
	for (;;) {
		pthread_mutex_lock(&pool.lock);
		while (pool.generation == seen)
			pthread_cond_wait(&pool.work_ready, &pool.lock);
		seen = pool.generation;
		int num_task = pool.num_task;
		FTVMParallelLambda fn = pool.fn;
		void *cdata = pool.cdata;
		pthread_mutex_unlock(&pool.lock);
		if (worker < num_task) {
			TVMParallelGroupEnv env = {.sync_handle = &pool.barrier, .num_task = num_task};
			ffi_error_clear();
			int rc = fn(worker, &env, cdata);
			if (rc != 0)
				pool_record_failure(rc);
			pthread_mutex_lock(&pool.lock);
			if (--pool.pending == 0)
				pthread_cond_signal(&pool.work_done);
			pthread_mutex_unlock(&pool.lock);
		}
	}
	return NULL;
}

/* A forked child (every RPC session) inherits the pool's memory but none of its threads:
 * forget them so the child starts its own pool on first use. */
static void pool_after_fork_child(void)
{
	pthread_mutex_init(&pool.lock, NULL);
	pthread_mutex_init(&pool.launch_lock, NULL);
	pthread_cond_init(&pool.work_ready, NULL);
	pthread_cond_init(&pool.work_done, NULL);
	free(pool.threads);
	pool.threads = NULL;
	pool.num_workers = 0;
	pool.started = 0;
	pool.barrier_count = 0; /* the old barrier object is abandoned, never destroyed */
	in_parallel_task = 0;
}

static void pool_register_atfork(void)
{
	pthread_atfork(NULL, NULL, pool_after_fork_child);
}

/* Called with launch_lock held. */
static int pool_start(void)
{
	if (pool.started)
		return pool.num_workers;
	int total = backend_thread_count();
	pool.created_generation = pool.generation;
	pool.threads = xcalloc((size_t)(total > 1 ? total - 1 : 1), sizeof(pthread_t));
	pool.num_workers = 0;
	for (int i = 1; i < total; i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&pool.threads[i - 1], &attr, pool_worker_main,
					(void *)(intptr_t)i);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			log_warn("parallel launch: cannot start worker %d: %s; using %d threads", i,
				 strerror(rc), i);
			break;
		}
		pool.num_workers++;
	}
	pool.started = 1;
	return pool.num_workers;
}

static int launch_serial(FTVMParallelLambda f, void *cdata)
{
	TVMParallelGroupEnv env = {.sync_handle = NULL, .num_task = 1};
	int saved = in_parallel_task;
	in_parallel_task = 1;
	int rc = f(0, &env, cdata);
	in_parallel_task = saved;
	if (rc != 0) {
		if (!ffi_error_kind()[0])
			ffi_error_set("RuntimeError", "parallel task failed with code %d", rc);
		return -1;
	}
	return 0;
}

int backend_parallel_launch(FTVMParallelLambda f, void *cdata, int num_task)
{
	pthread_once(&pool_atfork_once, pool_register_atfork);
	if (in_parallel_task || num_task == 1)
		return launch_serial(f, cdata);
	if (pthread_mutex_trylock(&pool.launch_lock) != 0)
		return launch_serial(f, cdata);
	int workers = pool_start();
	int max_tasks = workers + 1;
	int limit = __atomic_load_n(&pool_task_limit, __ATOMIC_RELAXED);
	if (limit > 0 && limit < max_tasks)
		max_tasks = limit;
	if (num_task <= 0 || num_task > max_tasks)
		num_task = max_tasks;
	if (num_task == 1) {
		pthread_mutex_unlock(&pool.launch_lock);
		return launch_serial(f, cdata);
	}
	if (pool.barrier_count != num_task) {
		if (pool.barrier_count)
			pthread_barrier_destroy(&pool.barrier);
		pthread_barrier_init(&pool.barrier, NULL, (unsigned)num_task);
		pool.barrier_count = num_task;
	}
	pthread_mutex_lock(&pool.lock);
	pool.fn = f;
	pool.cdata = cdata;
	pool.num_task = num_task;
	pool.pending = num_task - 1;
	pool.failed = 0;
	pool.generation++;
	pthread_cond_broadcast(&pool.work_ready);
	pthread_mutex_unlock(&pool.lock);

	TVMParallelGroupEnv env = {.sync_handle = &pool.barrier, .num_task = num_task};
	in_parallel_task = 1;
	int rc = f(0, &env, cdata);
	in_parallel_task = 0;
	if (rc != 0)
		pool_record_failure(rc);

	pthread_mutex_lock(&pool.lock);
	while (pool.pending > 0)
		pthread_cond_wait(&pool.work_done, &pool.lock);
	int failed = pool.failed;
	char kind[64], message[1024];
	memcpy(kind, pool.error_kind, sizeof kind);
	memcpy(message, pool.error_message, sizeof message);
	pthread_mutex_unlock(&pool.lock);
	pthread_mutex_unlock(&pool.launch_lock);
	if (failed) {
		ffi_error_set(kind, "%s", message);
		return -1;
	}
	return 0;
}

int backend_parallel_barrier(int task_id, TVMParallelGroupEnv *env)
{
	(void)task_id;
	/* A serial launch (one task) has nothing to wait for. */
	if (!env || !env->sync_handle || env->num_task <= 1)
		return 0;
	pthread_barrier_wait(env->sync_handle);
	return 0;
}

/* ---- packed functions for generated code ---- */

int backend_function_call(void *func, TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	ffi_function_t *fn = func;
	if (!fn || fn->header.type_index != FFI_FUNCTION) {
		ffi_error_set("TypeError", "TVMFFIFunctionCall: handle is not a function");
		return -1;
	}
	return fn->safe_call(fn, args, num_args, result);
}

struct env_cache_entry {
	void *ctx;
	char *name;
	ffi_function_t *fn;
};

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct env_cache_entry *env_cache;
static size_t env_cache_size, env_cache_cap;

/* The cached entry for (ctx, name), or NULL; called with env_lock held. */
static ffi_function_t *env_cache_find(void *ctx, const char *name)
{
	for (size_t i = 0; i < env_cache_size; i++)
		if (env_cache[i].ctx == ctx && strcmp(env_cache[i].name, name) == 0)
			return env_cache[i].fn;
	return NULL;
}

int backend_env_lookup(void *library_ctx, const char *name, void **out_func)
{
	if (!name || !out_func) {
		ffi_error_set("ValueError", "TVMFFIEnvModLookupFromImports: NULL argument");
		return -1;
	}
	pthread_mutex_lock(&env_lock);
	ffi_function_t *cached = env_cache_find(library_ctx, name);
	pthread_mutex_unlock(&env_lock);
	if (cached) {
		*out_func = cached;
		return 0;
	}
	/* Resolved without the lock: an import's lookup may itself call back in here. */
	ffi_function_t *fn = NULL;
	ffi_module_t *mod = library_ctx;
	for (size_t i = 0; mod && i < mod->num_imports && !fn; i++) {
		fn = ffi_module_get_function(mod->imports[i], name, 1);
		if (!fn && ffi_error_kind()[0])
			return -1;
	}
	if (!fn)
		fn = ffi_registry_get(name);
	if (!fn) {
		ffi_error_set("RuntimeError", "cannot find function '%s' in the module's imports "
			      "or the global registry", name);
		return -1;
	}
	pthread_mutex_lock(&env_lock);
	cached = env_cache_find(library_ctx, name);
	if (cached) { /* another thread resolved it meanwhile: keep one handle */
		pthread_mutex_unlock(&env_lock);
		ffi_object_release(&fn->header);
		*out_func = cached;
		return 0;
	}
	if (env_cache_size == env_cache_cap) {
		env_cache_cap = env_cache_cap ? env_cache_cap * 2 : 16;
		env_cache = xrealloc(env_cache, env_cache_cap * sizeof *env_cache);
	}
	env_cache[env_cache_size].ctx = library_ctx;
	env_cache[env_cache_size].name = xstrdup(name);
	env_cache[env_cache_size].fn = fn;
	env_cache_size++;
	pthread_mutex_unlock(&env_lock);
	*out_func = fn;
	return 0;
}

void backend_env_cache_drop(void *library_ctx)
{
	pthread_mutex_lock(&env_lock);
	size_t kept = 0;
	for (size_t i = 0; i < env_cache_size; i++) {
		if (env_cache[i].ctx == library_ctx) {
			free(env_cache[i].name);
			ffi_object_release(&env_cache[i].fn->header);
		} else {
			env_cache[kept++] = env_cache[i];
		}
	}
	env_cache_size = kept;
	if (kept == 0) {
		free(env_cache);
		env_cache = NULL;
		env_cache_cap = 0;
	}
	pthread_mutex_unlock(&env_lock);
}

__attribute__((destructor)) static void env_cache_free(void)
{
	for (size_t i = 0; i < env_cache_size; i++) {
		free(env_cache[i].name);
		ffi_object_release(&env_cache[i].fn->header);
	}
	free(env_cache);
	env_cache = NULL;
	env_cache_size = env_cache_cap = 0;
}

static pthread_mutex_t init_once_lock = PTHREAD_MUTEX_INITIALIZER;

int backend_handle_init_once(void **handle_addr, int (*init)(void **result))
{
	if (__atomic_load_n(handle_addr, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&init_once_lock);
	int rc = 0;
	if (!*handle_addr) {
		void *result = NULL;
		rc = init(&result);
		if (rc == 0)
			__atomic_store_n(handle_addr, result, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_once_lock);
	return rc;
}

/* ---- exported under TVM's names (§7.4): system libs and C-source builds call these ---- */

void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes,
			       int dtype_code_hint, int dtype_bits_hint);
int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr);
int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void *cdata, int num_task);
int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv *penv);
int TVMFFIFunctionCall(void *func, TVMFFIAny *args, int32_t num_args, TVMFFIAny *result);
int TVMFFIEnvModLookupFromImports(void *library_ctx, const char *func_name, void **out);
int TVMFFIHandleInitOnce(void **handle_addr, int (*init)(void **result));
int TVMFFIObjectIncRef(void *obj);
int TVMFFIObjectDecRef(void *obj);
uint16_t __gnu_f2h_ieee(float value);
float __gnu_h2f_ieee(uint16_t value);
uint16_t __truncdfhf2(double value);

void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes,
			       int dtype_code_hint, int dtype_bits_hint)
{
	return backend_workspace_alloc(device_type, device_id, nbytes, dtype_code_hint,
				       dtype_bits_hint);
}

int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr)
{
	return backend_workspace_free(device_type, device_id, ptr);
}

int TVMBackendParallelLaunch(FTVMParallelLambda flambda, void *cdata, int num_task)
{
	return backend_parallel_launch(flambda, cdata, num_task);
}

int TVMBackendParallelBarrier(int task_id, TVMParallelGroupEnv *penv)
{
	return backend_parallel_barrier(task_id, penv);
}

int TVMFFIFunctionCall(void *func, TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	return backend_function_call(func, args, num_args, result);
}

int TVMFFIEnvModLookupFromImports(void *library_ctx, const char *func_name, void **out)
{
	return backend_env_lookup(library_ctx, func_name, out);
}

int TVMFFIHandleInitOnce(void **handle_addr, int (*init)(void **result))
{
	return backend_handle_init_once(handle_addr, init);
}

/* Reference counting of objects a kernel received from a packed call (tvm-ffi C API). */
int TVMFFIObjectIncRef(void *obj)
{
	ffi_object_retain(obj);
	return 0;
}

int TVMFFIObjectDecRef(void *obj)
{
	ffi_object_release(obj);
	return 0;
}

/* ---- IEEE half precision helpers that TVM's runtime exports for fp16 kernels ---- */

/* Round-to-nearest-even conversion from the bits of a double to a half. */
static uint16_t half_from_double(double value)
{
	uint64_t bits;
	memcpy(&bits, &value, sizeof bits);
	uint16_t sign = (uint16_t)((bits >> 48) & 0x8000);
	int exponent = (int)((bits >> 52) & 0x7ff);
	uint64_t mantissa = bits & 0xfffffffffffffull;
	if (exponent == 0x7ff) /* inf or nan (keep nan quiet and non-zero) */
		return sign | 0x7c00 | (mantissa ? 0x200 | (uint16_t)(mantissa >> 42) : 0);
	int e = exponent - 1023 + 15;
	if (e >= 31)
		return sign | 0x7c00;
	uint64_t full = mantissa | (exponent ? 1ull << 52 : 0);
	int shift; /* bits to drop from the 53-bit significand */
	if (e <= 0) {
		shift = 42 + 1 - e; /* subnormal half */
		if (shift > 63)
			return sign;
		e = 0;
	} else {
		shift = 42;
		full &= (1ull << 52) - 1; /* the implicit bit becomes the exponent */
	}
	uint64_t kept = full >> shift;
	uint64_t rest = full & ((1ull << shift) - 1);
	uint64_t half_way = 1ull << (shift - 1);
	if (rest > half_way || (rest == half_way && (kept & 1)))
		kept++;
	/* A carry out of the mantissa correctly bumps the exponent (and may reach inf). */
	uint32_t out = ((uint32_t)e << 10) + (uint32_t)kept;
	if (out >= 0x7c00)
		out = 0x7c00;
	return sign | (uint16_t)out;
}

uint16_t __gnu_f2h_ieee(float value)
{
	return half_from_double((double)value); /* exact: float -> double loses nothing */
}

uint16_t __truncdfhf2(double value)
{
	return half_from_double(value);
}

float __gnu_h2f_ieee(uint16_t value)
{
	uint32_t sign = (uint32_t)(value & 0x8000) << 16;
	uint32_t exponent = (value >> 10) & 0x1f;
	uint32_t mantissa = value & 0x3ff;
	uint32_t bits;
	if (exponent == 0x1f) {
		bits = sign | 0x7f800000u | (mantissa << 13);
	} else if (exponent == 0) {
		if (mantissa == 0) {
			bits = sign;
		} else { /* subnormal: normalise */
			int e = -1;
			do {
				e++;
				mantissa <<= 1;
			} while (!(mantissa & 0x400));
			bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mantissa & 0x3ff) << 13);
		}
	} else {
		bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
	}
	float out;
	memcpy(&out, &bits, sizeof out);
	return out;
}
