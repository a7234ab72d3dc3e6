/* Unit tests for the contrib libraries and runtime globals of runtime_globals.c: sort, argsort
 * and topk against a brute-force stable reference (ties keep their order; topk prefers the
 * lower index), outputs too small refused, mt19937 and the seeded random globals, and
 * config_threadpool really changing the tasks of later parallel launches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/ffi.h"
#include "runtime/runtime_globals.h"

static const DLDevice cpu = {kDLCPU, 0};
static const DLDataType f32 = {kDLFloat, 32, 1}, i32 = {kDLInt, 32, 1}, i64 = {kDLInt, 64, 1};

static TVMFFIAny tensor_arg(ffi_tensor_t *t)
{
	TVMFFIAny a = {.type_index = FFI_DLTENSOR_PTR};
	a.v_ptr = &t->dl;
	return a;
}

static TVMFFIAny str_arg(const char *s)
{
	TVMFFIAny a = {.type_index = FFI_RAW_STR};
	a.v_c_str = s;
	return a;
}

static int call(const char *name, TVMFFIAny *args, int n)
{
	ffi_function_t *fn = ffi_registry_get(name);
	assert_non_null(fn);
	TVMFFIAny rv;
	ffi_error_clear();
	int rc = ffi_function_call(fn, args, n, &rv);
	ffi_any_release(&rv);
	ffi_object_release(&fn->header);
	return rc;
}

static ffi_tensor_t *vec(int64_t n, DLDataType t)
{
	ffi_tensor_t *x = ffi_tensor_alloc(&n, 1, t, cpu);
	assert_non_null(x);
	return x;
}

/* Position of the k-th item of a stable sort of v (ascending or descending), by counting. */
static int64_t reference_rank_item(const float *v, int64_t n, int64_t k, int ascend)
{
	int64_t *order = malloc((size_t)n * sizeof *order);
	for (int64_t i = 0; i < n; i++)
		order[i] = i;
	for (int64_t i = 1; i < n; i++) { /* insertion sort: stable */
		int64_t cur = order[i], j = i;
		while (j > 0 && (ascend ? v[cur] < v[order[j - 1]] : v[cur] > v[order[j - 1]])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = cur;
	}
	int64_t r = order[k];
	free(order);
	return r;
}

static void test_argsort_sort_match_reference(void **state)
{
	(void)state;
	srand(7);
	for (int64_t n = 0; n <= 40; n++) {
		for (int ascend = 0; ascend < 2; ascend++) {
			ffi_tensor_t *in = vec(n, f32), *idx = vec(n, i64), *out = vec(n, f32);
			float *v = in->dl.data;
			for (int64_t i = 0; i < n; i++)
				v[i] = (float)(rand() % 7); /* many ties */
			TVMFFIAny a[4] = {tensor_arg(in), tensor_arg(idx), ffi_any_int(0),
					  ffi_any_bool(ascend)};
			assert_int_equal(call("tvm.contrib.sort.argsort", a, 4), 0);
			a[1] = tensor_arg(out);
			assert_int_equal(call("tvm.contrib.sort.sort", a, 4), 0);
			for (int64_t k = 0; k < n; k++) {
				int64_t want = reference_rank_item(v, n, k, ascend);
				assert_int_equal(((int64_t *)idx->dl.data)[k], want);
				assert_true(((float *)out->dl.data)[k] == v[want]);
			}
			ffi_object_release(&in->header);
			ffi_object_release(&idx->header);
			ffi_object_release(&out->header);
		}
	}
}

/* Sorting along axis 0 of a 3x4 tensor sorts each column. */
static void test_argsort_axis(void **state)
{
	(void)state;
	const int64_t shape[2] = {3, 4};
	ffi_tensor_t *in = ffi_tensor_alloc(shape, 2, i32, cpu);
	ffi_tensor_t *out = ffi_tensor_alloc(shape, 2, i32, cpu);
	const int32_t v[12] = {5, 1, 9, 0, 3, 1, 2, 8, 4, 0, 2, 7};
	memcpy(in->dl.data, v, sizeof v);
	TVMFFIAny a[4] = {tensor_arg(in), tensor_arg(out), ffi_any_int(-2), ffi_any_bool(1)};
	assert_int_equal(call("tvm.contrib.sort.argsort", a, 4), 0);
	const int32_t want[12] = {1, 2, 1, 0, 2, 0, 2, 2, 0, 1, 0, 1};
	assert_memory_equal(out->dl.data, want, sizeof want);
	a[2] = ffi_any_int(2);
	assert_int_equal(call("tvm.contrib.sort.argsort", a, 4), -1);
	assert_string_equal(ffi_error_kind(), "InternalError");
	ffi_object_release(&in->header);
	ffi_object_release(&out->header);
}

static void test_topk(void **state)
{
	(void)state;
	ffi_tensor_t *in = vec(8, f32), *values = vec(3, f32), *indices = vec(3, i32);
	const float v[8] = {1, 5, 3, 5, 0, 5, 2, 3};
	memcpy(in->dl.data, v, sizeof v);
	TVMFFIAny a[7] = {tensor_arg(in), tensor_arg(values), tensor_arg(indices), ffi_any_int(3),
			  ffi_any_int(0), str_arg("both"), ffi_any_bool(0)};
	assert_int_equal(call("tvm.contrib.sort.topk", a, 7), 0);
	const int32_t top[3] = {1, 3, 5}; /* three 5s: lower index first */
	assert_memory_equal(indices->dl.data, top, sizeof top);
	assert_true(((float *)values->dl.data)[2] == 5.0f);
	a[6] = ffi_any_bool(1); /* ascending: 0, 1, 2 */
	assert_int_equal(call("tvm.contrib.sort.topk", a, 7), 0);
	const int32_t low[3] = {4, 0, 6};
	assert_memory_equal(indices->dl.data, low, sizeof low);
	/* k = 0 means all: an output of 3 cannot hold 8. */
	a[3] = ffi_any_int(0);
	assert_int_equal(call("tvm.contrib.sort.topk", a, 7), -1);
	assert_string_equal(ffi_error_kind(), "ValueError");
	a[3] = ffi_any_int(-2);
	assert_int_equal(call("tvm.contrib.sort.topk", a, 7), -1);
	a[3] = ffi_any_int(3);
	a[5] = str_arg("top");
	assert_int_equal(call("tvm.contrib.sort.topk", a, 7), -1);
	assert_string_equal(ffi_error_kind(), "InternalError");
	assert_int_equal(call("tvm.contrib.sort.topk", a, 3), -1); /* too few: no crash */
	assert_string_equal(ffi_error_kind(), "TypeError");
	ffi_object_release(&in->header);
	ffi_object_release(&values->header);
	ffi_object_release(&indices->header);
}

static void test_outputs_too_small(void **state)
{
	(void)state;
	ffi_tensor_t *in = vec(10, f32), *small = vec(9, i32), *nums = vec(1, i32);
	TVMFFIAny a[5] = {tensor_arg(in), tensor_arg(small), ffi_any_int(0), ffi_any_bool(1)};
	assert_int_equal(call("tvm.contrib.sort.argsort", a, 4), -1);
	assert_string_equal(ffi_error_kind(), "ValueError");
	/* argsort_nms: a count beyond the axis would read past the row. */
	ffi_tensor_t *out = vec(10, i32);
	((int32_t *)nums->dl.data)[0] = 11;
	TVMFFIAny b[5] = {tensor_arg(in), tensor_arg(nums), tensor_arg(out), ffi_any_int(0),
			  ffi_any_bool(1)};
	assert_int_equal(call("tvm.contrib.sort.argsort_nms", b, 5), -1);
	((int32_t *)nums->dl.data)[0] = 4;
	assert_int_equal(call("tvm.contrib.sort.argsort_nms", b, 5), 0);
	assert_int_equal(((int32_t *)out->dl.data)[9], 9); /* unsorted tail keeps its index */
	ffi_object_release(&in->header);
	ffi_object_release(&small->header);
	ffi_object_release(&nums->header);
	ffi_object_release(&out->header);
}

/* ---- random ---- */

static void test_mt19937(void **state)
{
	(void)state;
	random_mt_t mt;
	random_mt_seed(&mt, 5489u);
	uint32_t x = 0;
	for (int i = 0; i < 10000; i++)
		x = random_mt_next(&mt);
	assert_int_equal(x, 4123659995u); /* the C++ standard's check value */
	random_mt_seed(&mt, 1);
	for (int i = 0; i < 1000; i++) {
		float f = random_mt_canonical_float(&mt);
		double d = random_mt_canonical_double(&mt);
		assert_true(f >= 0.0f && f < 1.0f && d >= 0.0 && d < 1.0);
	}
}

static void test_seeded_uniform_normal(void **state)
{
	(void)state;
	ffi_tensor_t *a = vec(1000, f32), *b = vec(1000, f32);
	TVMFFIAny args[5] = {ffi_any_int(3), ffi_any_int(4), ffi_any_float(-2.0), ffi_any_float(2.0),
			     tensor_arg(a)};
	assert_int_equal(call("tvm.contrib.random.uniform", args, 5), 0);
	args[4] = tensor_arg(b);
	assert_int_equal(call("tvm.contrib.random.uniform", args, 5), 0);
	assert_memory_equal(a->dl.data, b->dl.data, 4000); /* same seeds, same numbers */
	for (int i = 0; i < 1000; i++) {
		float v = ((float *)a->dl.data)[i];
		assert_true(v >= -2.0f && v < 2.0f);
	}
	args[2] = ffi_any_float(10.0);
	args[3] = ffi_any_float(0.5);
	assert_int_equal(call("tvm.contrib.random.normal", args, 5), 0);
	double sum = 0, sq = 0;
	for (int i = 0; i < 1000; i++) {
		double v = ((float *)b->dl.data)[i];
		sum += v;
		sq += v * v;
	}
	double mean = sum / 1000, sd = sqrt(sq / 1000 - mean * mean);
	assert_true(fabs(mean - 10.0) < 0.1 && fabs(sd - 0.5) < 0.1);
	TVMFFIAny three[3] = {ffi_any_float(1.0), ffi_any_float(0.5), tensor_arg(a)};
	assert_int_equal(call("tvm.contrib.random.uniform", three, 3), -1);
	assert_string_equal(ffi_error_kind(), "InternalError");
	assert_int_equal(call("tvm.contrib.random.uniform", three, 4), -1);
	ffi_object_release(&a->header);
	ffi_object_release(&b->header);
}

static void test_randint_ranges(void **state)
{
	(void)state;
	const DLDataType u8 = {kDLUInt, 8, 1};
	ffi_tensor_t *t = vec(2000, u8);
	TVMFFIAny a[3] = {ffi_any_int(250), ffi_any_int(1000), tensor_arg(t)};
	assert_int_equal(call("tvm.contrib.random.randint", a, 3), 0);
	for (int i = 0; i < 2000; i++)
		assert_true(((uint8_t *)t->dl.data)[i] >= 250); /* clipped to [250, 256) */
	a[0] = ffi_any_int(256); /* empty once clipped: TVM divides by zero, we refuse */
	assert_int_equal(call("tvm.contrib.random.randint", a, 3), -1);
	ffi_object_release(&t->header);
}

/* ---- threads and lookup ---- */

static int count_tasks(int task_id, TVMParallelGroupEnv *env, void *cdata)
{
	if (task_id == 0)
		*(int *)cdata = env->num_task;
	return 0;
}

static void test_config_threadpool_limits_launches(void **state)
{
	(void)state;
	TVMFFIAny a[2] = {ffi_any_int(1), ffi_any_int(1)};
	assert_int_equal(call("tvm.contrib.sort.argsort", NULL, 0), -1); /* no crash on none */
	assert_int_equal(call("runtime.config_threadpool", a, 2), 0);
	int tasks = 0;
	assert_int_equal(backend_parallel_launch(count_tasks, &tasks, 0), 0);
	assert_int_equal(tasks, 1);
	a[1] = ffi_any_int(2);
	assert_int_equal(call("runtime.config_threadpool", a, 2), 0);
	assert_int_equal(backend_parallel_launch(count_tasks, &tasks, 0), 0);
	assert_int_equal(tasks, 2);
	a[0] = ffi_any_int(0); /* mode 0, no count: back to the whole pool */
	a[1] = ffi_any_int(0);
	assert_int_equal(call("runtime.config_threadpool", a, 2), 0);
	assert_int_equal(backend_parallel_launch(count_tasks, &tasks, 0), 0);
	assert_int_equal(tasks, backend_thread_count());
	assert_int_equal(call("runtime.config_threadpool", a, 1), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
}

/* Compiled kernels find the contrib functions by name through the backend lookup. */
static void test_kernel_lookup_finds_globals(void **state)
{
	(void)state;
	const char *names[] = {"tvm.contrib.sort.argsort", "tvm.contrib.sort.topk",
			       "tvm.contrib.random.uniform", "tvm.contrib.random.random_fill"};
	for (size_t i = 0; i < 4; i++) {
		void *fn = NULL;
		assert_int_equal(backend_env_lookup(NULL, names[i], &fn), 0);
		assert_non_null(fn);
	}
}

int main(void)
{
	setenv("TVM_NUM_THREADS", "3", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argsort_sort_match_reference),
		cmocka_unit_test(test_argsort_axis),
		cmocka_unit_test(test_topk),
		cmocka_unit_test(test_outputs_too_small),
		cmocka_unit_test(test_mt19937),
		cmocka_unit_test(test_seeded_uniform_normal),
		cmocka_unit_test(test_randint_ranges),
		cmocka_unit_test(test_config_threadpool_limits_launches),
		cmocka_unit_test(test_kernel_lookup_finds_globals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
