/* Unit tests for the host services of compiled kernels (backend.c): workspaces, the thread pool
 * and its barrier, packed-function lookup, half-precision helpers, and the autotuning helpers
 * (random fill, cache flush). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/ffi.h"

uint16_t __gnu_f2h_ieee(float value);
float __gnu_h2f_ieee(uint16_t value);
uint16_t __truncdfhf2(double value);
void *TVMBackendAllocWorkspace(int, int, uint64_t, int, int);
int TVMFFIObjectIncRef(void *obj);
int TVMFFIObjectDecRef(void *obj);
int TVMBackendFreeWorkspace(int, int, void *);

/* ---- workspaces ---- */

static void test_workspace_aligned_lifo(void **state)
{
	(void)state;
	const uint64_t sizes[] = {1, 63, 64, 100, 4096, 16384, 1000000};
	void *ptrs[7];
	int base = backend_workspace_live();
	for (int i = 0; i < 7; i++) {
		ptrs[i] = backend_workspace_alloc(1, 0, sizes[i], 2, 32);
		assert_non_null(ptrs[i]);
		assert_int_equal((uintptr_t)ptrs[i] % 64, 0);
		memset(ptrs[i], i, sizes[i]); /* the whole request is writable */
	}
	assert_int_equal(backend_workspace_live(), base + 7);
	for (int i = 6; i >= 0; i--) {
		for (uint64_t j = 0; j < sizes[i]; j++)
			assert_int_equal(((unsigned char *)ptrs[i])[j], i); /* no overlap */
		assert_int_equal(backend_workspace_free(1, 0, ptrs[i]), 0);
	}
	assert_int_equal(backend_workspace_live(), base);
	/* A freed block is reused for the next request of that size (the pool's point). */
	void *a = TVMBackendAllocWorkspace(1, 0, 16384, 2, 32);
	assert_int_equal(TVMBackendFreeWorkspace(1, 0, a), 0);
	void *b = TVMBackendAllocWorkspace(1, 0, 16384, 2, 32);
	assert_ptr_equal(a, b);
	/* Out-of-order frees are accepted too. */
	void *c = backend_workspace_alloc(1, 0, 128, 0, 8);
	assert_int_equal(backend_workspace_free(1, 0, b), 0);
	assert_int_equal(backend_workspace_free(1, 0, c), 0);
	assert_int_equal(backend_workspace_live(), base);
}

static void test_workspace_errors(void **state)
{
	(void)state;
	int x;
	ffi_error_clear();
	assert_int_not_equal(backend_workspace_free(1, 0, &x), 0);
	assert_non_null(strstr(ffi_error_message(), "not allocated"));
	ffi_error_clear();
	assert_null(backend_workspace_alloc(2, 0, 64, 2, 32)); /* CUDA: not here */
	assert_non_null(strstr(ffi_error_message(), "device type 2"));
	ffi_error_clear();
	assert_null(backend_workspace_alloc(1, 0, UINT64_MAX - 10, 2, 32));
	assert_string_equal(ffi_error_kind(), "MemoryError");
}

/* ---- parallel launch ---- */

#define MAX_TASKS 64

struct launch_record {
	int seen[MAX_TASKS];
	int num_task_seen[MAX_TASKS];
	int phase1[MAX_TASKS];
	int barrier_ok;
	int fail_task; /* -1: none */
	int nested_num_task;
};

static int record_task(int task_id, TVMParallelGroupEnv *penv, void *cdata)
{
	struct launch_record *r = cdata;
	__atomic_add_fetch(&r->seen[task_id], 1, __ATOMIC_SEQ_CST);
	r->num_task_seen[task_id] = penv->num_task;
	__atomic_store_n(&r->phase1[task_id], 1, __ATOMIC_SEQ_CST);
	if (backend_parallel_barrier(task_id, penv) != 0) /* no cmocka asserts off the main thread */
		__atomic_store_n(&r->barrier_ok, 0, __ATOMIC_SEQ_CST);
	/* After the barrier every task must have finished phase 1. */
	for (int i = 0; i < penv->num_task; i++)
		if (!__atomic_load_n(&r->phase1[i], __ATOMIC_SEQ_CST))
			__atomic_store_n(&r->barrier_ok, 0, __ATOMIC_SEQ_CST);
	if (task_id == r->fail_task) {
		ffi_error_set("ValueError", "task %d refused", task_id);
		return -1;
	}
	return 0;
}

static void check_launch(int requested, int expect_tasks)
{
	for (int round = 0; round < 200; round++) {
		struct launch_record r = {.barrier_ok = 1, .fail_task = -1};
		assert_int_equal(backend_parallel_launch(record_task, &r, requested), 0);
		for (int i = 0; i < MAX_TASKS; i++) {
			assert_int_equal(r.seen[i], i < expect_tasks ? 1 : 0);
			if (i < expect_tasks)
				assert_int_equal(r.num_task_seen[i], expect_tasks);
		}
		assert_true(r.barrier_ok);
	}
}

static void test_parallel_launch_and_barrier(void **state)
{
	(void)state;
	int threads = backend_thread_count();
	assert_true(threads >= 1);
	check_launch(0, threads);       /* 0: one task per pool thread */
	check_launch(1, 1);             /* one task runs on the caller */
	check_launch(threads + 5, threads); /* capped so the barrier can be reached */
	if (threads >= 2)
		check_launch(2, 2);
}

static void test_parallel_launch_reports_task_error(void **state)
{
	(void)state;
	int threads = backend_thread_count();
	for (int fail = 0; fail < threads; fail++) {
		struct launch_record r = {.barrier_ok = 1, .fail_task = fail};
		ffi_error_clear();
		assert_int_equal(backend_parallel_launch(record_task, &r, 0), -1);
		/* The error raised on a worker thread reaches the launching thread. */
		assert_string_equal(ffi_error_kind(), "ValueError");
		char want[32];
		snprintf(want, sizeof want, "task %d refused", fail);
		assert_string_equal(ffi_error_message(), want);
	}
	/* The pool is still usable afterwards. */
	check_launch(0, threads);
}

static int inner_task(int task_id, TVMParallelGroupEnv *penv, void *cdata)
{
	(void)task_id;
	struct launch_record *r = cdata;
	r->nested_num_task = penv->num_task;
	return backend_parallel_barrier(task_id, penv);
}

static int outer_task(int task_id, TVMParallelGroupEnv *penv, void *cdata)
{
	(void)penv;
	struct launch_record *records = cdata;
	/* A launch from inside a task runs serially as one task instead of deadlocking. */
	return backend_parallel_launch(inner_task, &records[task_id], 0);
}

static void test_nested_launch_runs_serially(void **state)
{
	(void)state;
	struct launch_record records[MAX_TASKS];
	memset(records, 0, sizeof records);
	assert_int_equal(backend_parallel_launch(outer_task, records, 0), 0);
	for (int i = 0; i < backend_thread_count(); i++)
		assert_int_equal(records[i].nested_num_task, 1);
}

static void test_parallel_launch_after_fork(void **state)
{
	(void)state;
	/* qemu-user (the cross builds' unit-test run) aborts on its own assertion when a child
	 * forked from a threaded process starts threads; real boards do not (docs/boards.md). */
	if (getenv("TVMRPC_EMULATOR")) {
		print_message("skipped under %s: qemu-user cannot start threads after fork\n",
			      getenv("TVMRPC_EMULATOR"));
		skip();
	}
	check_launch(0, backend_thread_count()); /* the parent's pool is running */
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child inherits no worker threads; it must build its own pool. */
		struct launch_record r = {.barrier_ok = 1, .fail_task = -1};
		int rc = backend_parallel_launch(record_task, &r, 0);
		int ok = rc == 0 && r.barrier_ok;
		for (int i = 0; i < backend_thread_count(); i++)
			ok = ok && r.seen[i] == 1;
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- packed functions for generated code ---- */

static int triple(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	int64_t x;
	if (ffi_arg_int("triple", args, num_args, 0, &x) != 0)
		return -1;
	*result = ffi_any_int(3 * x);
	return 0;
}

static int init_calls;

static int init_triple(void **out)
{
	init_calls++;
	return backend_env_lookup(NULL, "testing.backend.triple", out);
}

static int init_missing(void **out)
{
	return backend_env_lookup(NULL, "testing.backend.absent", out);
}

static void test_env_lookup_and_call(void **state)
{
	(void)state;
	ffi_registry_put_call("testing.backend.triple", triple);
	void *handle = NULL;
	assert_int_equal(backend_handle_init_once(&handle, init_triple), 0);
	assert_int_equal(backend_handle_init_once(&handle, init_triple), 0);
	assert_int_equal(init_calls, 1);
	assert_non_null(handle);
	TVMFFIAny arg = ffi_any_int(14), rv = ffi_any_none();
	assert_int_equal(backend_function_call(handle, &arg, 1, &rv), 0);
	assert_int_equal(rv.type_index, FFI_INT);
	assert_int_equal(rv.v_int64, 42);

	void *missing = NULL;
	ffi_error_clear();
	assert_int_not_equal(backend_handle_init_once(&missing, init_missing), 0);
	assert_null(missing);
	assert_non_null(strstr(ffi_error_message(), "testing.backend.absent"));

	/* Imports of the library context are searched before the registry. */
	ffi_module_vtable_t vt = {.kind = "test"};
	ffi_module_t *parent = ffi_module_new(&vt, NULL);
	void *again = NULL;
	assert_int_equal(backend_env_lookup(parent, "testing.backend.triple", &again), 0);
	assert_ptr_equal(again, handle); /* same registry function */
	backend_env_cache_drop(parent);
	/* Kernels may hold and drop references to objects they got back. */
	assert_int_equal(TVMFFIObjectIncRef(parent), 0);
	assert_int_equal(ffi_object_refcount(&parent->header), 2);
	assert_int_equal(TVMFFIObjectDecRef(parent), 0);
	assert_int_equal(ffi_object_refcount(&parent->header), 1);
	ffi_object_release(&parent->header);
	assert_int_not_equal(backend_function_call(NULL, &arg, 1, &rv), 0);
}

/* ---- half precision ---- */

static void test_half_conversions(void **state)
{
	(void)state;
	const struct {
		double value;
		uint16_t bits;
	} cases[] = {
		{0.0, 0x0000},     {-0.0, 0x8000},      {1.0, 0x3c00},   {-2.0, 0xc000},
		{65504.0, 0x7bff}, {65520.0, 0x7c00},   {1e9, 0x7c00},   {0.1, 0x2e66},
		{0x1p-24, 0x0001}, {0x1p-25, 0x0000},   {0x1.8p-25, 0x0001}, {0x1p-14, 0x0400},
		{0x1.ffcp-15, 0x0400}, {3.140625, 0x4248}, {1.0009765625, 0x3c01},
		{1.00048828125, 0x3c00}, /* a tie rounds to even */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (__truncdfhf2(cases[i].value) != cases[i].bits)
			fail_msg("%a -> %#x, want %#x", cases[i].value, __truncdfhf2(cases[i].value),
				 cases[i].bits);
		assert_int_equal(__gnu_f2h_ieee((float)cases[i].value), cases[i].bits);
	}
	/* Every finite half survives a round trip through float. */
	for (uint32_t h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00)
			continue;
		assert_int_equal(__gnu_f2h_ieee(__gnu_h2f_ieee((uint16_t)h)), h);
	}
	assert_true(__gnu_h2f_ieee(0x7c00) > 1e38f);
	uint16_t nan = __gnu_f2h_ieee(__builtin_nanf(""));
	assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
}

/* ---- random fill and cache flush ---- */

static int call_global(const char *name, TVMFFIAny *args, int n)
{
	ffi_function_t *fn = ffi_registry_get(name);
	assert_non_null(fn);
	TVMFFIAny rv;
	int rc = ffi_function_call(fn, args, n, &rv);
	ffi_any_release(&rv);
	ffi_object_release(&fn->header);
	return rc;
}

static void test_random_fill_by_width(void **state)
{
	(void)state;
	DLDevice cpu = {kDLCPU, 0};
	const DLDataType types[] = {{kDLFloat, 32, 1}, {kDLFloat, 64, 1}, {kDLFloat, 16, 1},
				    {kDLUInt, 8, 1}, {kDLInt, 32, 1}};
	const char *names[] = {"tvm.contrib.random.random_fill_for_measure",
			       "tvm.contrib.random.random_fill"};
	for (int k = 0; k < 2; k++) {
		for (int t = 0; t < 5; t++) {
			int64_t shape[2] = {33, 5};
			ffi_tensor_t *tensor = ffi_tensor_alloc(shape, 2, types[t], cpu);
			TVMFFIAny arg = {.type_index = FFI_DLTENSOR_PTR};
			arg.v_ptr = &tensor->dl;
			assert_int_equal(call_global(names[k], &arg, 1), 0);
			double lo = 100, hi = 0;
			for (int i = 0; i < 165; i++) {
				double v;
				const char *p = tensor->dl.data;
				switch (types[t].bits) {
				case 8: v = ((const uint8_t *)p)[i]; break;
				case 16: v = __gnu_h2f_ieee(((const uint16_t *)p)[i]); break;
				case 32: v = ((const float *)p)[i]; break; /* int32 too: by width */
				default: v = ((const double *)p)[i]; break;
				}
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
			assert_true(lo >= 1.0 && hi < 10.0 && hi > lo);
			ffi_object_release(&tensor->header);
		}
	}
	int64_t shape[1] = {4};
	DLDataType odd = {kDLInt, 4, 1};
	ffi_tensor_t *tensor = ffi_tensor_alloc(shape, 1, odd, cpu);
	TVMFFIAny arg = ffi_any_object(&tensor->header);
	ffi_error_clear();
	assert_int_not_equal(call_global(names[0], &arg, 1), 0);
	assert_non_null(strstr(ffi_error_message(), "4 bits"));
	TVMFFIAny not_tensor = ffi_any_int(3);
	assert_int_not_equal(call_global(names[0], &not_tensor, 1), 0);
	ffi_any_release(&arg);
}

static void test_cache_flush_keeps_data(void **state)
{
	(void)state;
	int64_t shape[1] = {100000};
	DLDataType f32 = {kDLFloat, 32, 1};
	DLDevice cpu = {kDLCPU, 0};
	ffi_tensor_t *a = ffi_tensor_alloc(shape, 1, f32, cpu);
	ffi_tensor_t *b = ffi_tensor_alloc(shape, 1, f32, cpu);
	for (int i = 0; i < 100000; i++)
		((float *)b->dl.data)[i] = (float)i;
	TVMFFIAny args[3] = {ffi_any_object(&a->header), ffi_any_object(&b->header),
			     ffi_any_int(7)};
	assert_int_equal(call_global("cache_flush_cpu_non_first_arg", args, 3), 0);
	for (int i = 0; i < 100000; i++)
		assert_true(((float *)b->dl.data)[i] == (float)i);
	ffi_any_release(&args[0]);
	ffi_any_release(&args[1]);
}

int main(void)
{
	/* More threads than this small machine has cores, so the barrier sees real contention. */
	setenv("TVM_NUM_THREADS", "5", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workspace_aligned_lifo),
		cmocka_unit_test(test_workspace_errors),
		cmocka_unit_test(test_parallel_launch_and_barrier),
		cmocka_unit_test(test_parallel_launch_reports_task_error),
		cmocka_unit_test(test_nested_launch_runs_serially),
		cmocka_unit_test(test_parallel_launch_after_fork),
		cmocka_unit_test(test_env_lookup_and_call),
		cmocka_unit_test(test_half_conversions),
		cmocka_unit_test(test_random_fill_by_width),
		cmocka_unit_test(test_cache_flush_keeps_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
