/* Unit tests for runtime.RPCTimeEvaluator (docs/session-protocol.md §6.4): the sleep kernel gives
 * known times, counting globals show the warm-up, number adjustment, f_preproc and cooldown,
 * and bad arguments give clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/ffi.h"
#include "runtime/module_library.h"
#include "native_fixture.h"

static char models_dir[PATH_MAX / 2];

static ffi_module_t *load_model(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s.so", models_dir, name);
	ffi_module_t *mod = module_library_load(path);
	if (!mod)
		fail_msg("%s: %s", path, ffi_error_message());
	return mod;
}

struct eval_args {
	ffi_module_t *mod; /* NULL: global function */
	const char *name;
	int64_t device_type, device_id, number, repeat, min_repeat_ms, limit_zero, cooldown_ms,
		repeats_to_cooldown, cache_flush_bytes;
	const char *preproc;
};

static struct eval_args defaults(ffi_module_t *mod, const char *name)
{
	struct eval_args a = {mod, name, 1, 0, 10, 1, 0, 100, 0, 1, 0, ""};
	return a;
}

/* Build the evaluator as the RPC client does; NULL (error set) on failure. */
static ffi_function_t *evaluator_new(const struct eval_args *a)
{
	TVMFFIAny args[12];
	args[0] = a->mod ? ffi_any_object(&a->mod->header) : ffi_any_none();
	args[1] = (TVMFFIAny){.type_index = FFI_RAW_STR};
	args[1].v_c_str = a->name;
	const int64_t ints[9] = {a->device_type, a->device_id, a->number, a->repeat,
				 a->min_repeat_ms, a->limit_zero, a->cooldown_ms,
				 a->repeats_to_cooldown, a->cache_flush_bytes};
	for (int i = 0; i < 9; i++)
		args[2 + i] = ffi_any_int(ints[i]);
	args[11] = (TVMFFIAny){.type_index = FFI_RAW_STR};
	args[11].v_c_str = a->preproc;
	ffi_function_t *factory = ffi_registry_get("runtime.RPCTimeEvaluator");
	assert_non_null(factory);
	TVMFFIAny rv;
	int rc = ffi_function_call(factory, args, 12, &rv);
	ffi_object_release(&factory->header);
	if (rc != 0)
		return NULL;
	assert_int_equal(rv.type_index, FFI_FUNCTION);
	return (ffi_function_t *)rv.v_obj;
}

/* Call the evaluator; returns the number of f64 values written to out. */
static size_t evaluate(ffi_function_t *ev, TVMFFIAny *args, int n, double *out, size_t max)
{
	TVMFFIAny rv;
	if (ffi_function_call(ev, args, n, &rv) != 0)
		fail_msg("evaluator failed: %s", ffi_error_message());
	assert_int_equal(rv.type_index, FFI_BYTES);
	ffi_bytes_t *bytes = (ffi_bytes_t *)rv.v_obj;
	assert_int_equal(bytes->size % sizeof(double), 0);
	size_t count = bytes->size / sizeof(double);
	assert_true(count <= max);
	memcpy(out, bytes->data, bytes->size);
	ffi_any_release(&rv);
	return count;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_sleep_kernel_time(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("sleep_kernel");
	struct eval_args a = defaults(mod, "sleep_ms");
	a.number = 2;
	a.repeat = 3;
	ffi_function_t *ev = evaluator_new(&a);
	assert_non_null(ev);
	ffi_object_release(&mod->header); /* the evaluator keeps the kernel (and module) alive */
	TVMFFIAny arg = ffi_any_int(30);
	double seconds[8];
	assert_int_equal(evaluate(ev, &arg, 1, seconds, 8), 3);
	for (int i = 0; i < 3; i++) {
		/* nanosleep never returns early; the upper bound is loose for a busy machine. */
		if (seconds[i] < 0.030 || seconds[i] > 0.090)
			fail_msg("repeat %d: %g s per call, expected about 0.030", i, seconds[i]);
	}
	ffi_object_release(&ev->header);
}

static int calls, preproc_calls;
static int64_t sleep_us;

static int counted_sleep(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)num_args;
	(void)result;
	calls++;
	struct timespec ts = {0, (long)sleep_us * 1000};
	nanosleep(&ts, NULL);
	return 0;
}

static int counted_preproc(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	preproc_calls++;
	assert_int_equal(num_args, 1); /* it sees the same arguments as the target */
	assert_int_equal(args[0].v_int64, 5);
	return 0;
}

static void test_min_repeat_ms_grows_number_and_keeps_it(void **state)
{
	(void)state;
	ffi_registry_put_call("testing.counted_sleep", counted_sleep);
	struct eval_args a = defaults(NULL, "testing.counted_sleep");
	a.number = 1;
	a.repeat = 1;
	/* One growth step even on a loaded machine: 3 calls of 20 ms always reach 59 ms, and the
	 * grown number 59 / measured + 1 is 3 as long as the 1-call measurement stays under
	 * 29.5 ms (a 47% overrun). */
	a.min_repeat_ms = 59;
	ffi_function_t *ev = evaluator_new(&a);
	assert_non_null(ev);
	sleep_us = 20000;
	calls = 0;
	TVMFFIAny arg = ffi_any_int(5);
	double seconds[4];
	assert_int_equal(evaluate(ev, &arg, 1, seconds, 4), 1);
	/* Warm-up, then number = 1 (too short), then a grown number that reaches 59 ms. */
	int final_number = calls - 2;
	assert_true(final_number > 1);
	assert_true(seconds[0] >= 0.020);
	assert_true(seconds[0] * final_number >= 0.059);
	/* The grown number is kept: the next call measures at least that many runs at once. */
	calls = 0;
	assert_int_equal(evaluate(ev, &arg, 1, seconds, 4), 1);
	assert_true(calls - 1 >= final_number);
	ffi_object_release(&ev->header);
}

static void test_preproc_cooldown_and_flush(void **state)
{
	(void)state;
	ffi_registry_put_call("testing.counted_sleep", counted_sleep);
	ffi_registry_put_call("testing.counted_preproc", counted_preproc);
	struct eval_args a = defaults(NULL, "testing.counted_sleep");
	a.number = 3;
	a.repeat = 4;
	a.cooldown_ms = 25;
	a.repeats_to_cooldown = 2; /* sleeps after repeats 0 and 2 */
	a.cache_flush_bytes = 1 << 20;
	a.preproc = "testing.counted_preproc";
	ffi_function_t *ev = evaluator_new(&a);
	assert_non_null(ev);
	sleep_us = 0;
	calls = preproc_calls = 0;
	TVMFFIAny arg = ffi_any_int(5);
	double seconds[8];
	double start = now_seconds();
	assert_int_equal(evaluate(ev, &arg, 1, seconds, 8), 4);
	double elapsed = now_seconds() - start;
	assert_int_equal(calls, 1 + 4 * 3);
	assert_int_equal(preproc_calls, 4);
	assert_true(elapsed >= 0.050);
	for (int i = 0; i < 4; i++)
		assert_true(seconds[i] >= 0.0);
	ffi_object_release(&ev->header);

	/* repeat = 0 is allowed and yields empty bytes. */
	a.repeat = 0;
	a.preproc = "";
	a.cooldown_ms = 0;
	ev = evaluator_new(&a);
	assert_non_null(ev);
	assert_int_equal(evaluate(ev, &arg, 1, seconds, 8), 0);
	ffi_object_release(&ev->header);
}

static void test_real_fixture_matmul(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	char path[PATH_MAX];
	assert_non_null(realpath("tests/fixtures/matmul.so", path));
	ffi_module_t *mod = module_library_load(path);
	assert_non_null(mod);
	struct eval_args a = defaults(mod, "matmul");
	a.repeat = 3;
	a.preproc = "cache_flush_cpu_non_first_arg";
	ffi_function_t *ev = evaluator_new(&a);
	assert_non_null(ev);
	int64_t shape[2] = {64, 64};
	DLDataType f32 = {kDLFloat, 32, 1};
	DLDevice cpu = {kDLCPU, 0};
	TVMFFIAny args[3];
	for (int i = 0; i < 3; i++)
		args[i] = ffi_any_object(&ffi_tensor_alloc(shape, 2, f32, cpu)->header);
	double seconds[4];
	assert_int_equal(evaluate(ev, args, 3, seconds, 4), 3);
	for (int i = 0; i < 3; i++)
		assert_true(seconds[i] > 0.0 && seconds[i] < 1.0);
	/* A failing call surfaces as the evaluator's error. */
	TVMFFIAny rv;
	assert_int_not_equal(ffi_function_call(ev, args, 2, &rv), 0);
	assert_true(ffi_error_message()[0] != '\0');
	for (int i = 0; i < 3; i++)
		ffi_any_release(&args[i]);
	ffi_object_release(&ev->header);
	ffi_object_release(&mod->header);
}

static void expect_error(const struct eval_args *a, const char *needle)
{
	ffi_error_clear();
	assert_null(evaluator_new(a));
	if (!strstr(ffi_error_message(), needle))
		fail_msg("error '%s' lacks '%s'", ffi_error_message(), needle);
}

static void test_argument_errors(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("sleep_kernel");
	struct eval_args a = defaults(mod, "no_such_function");
	expect_error(&a, "no_such_function");
	a = defaults(NULL, "no.such.global");
	expect_error(&a, "no.such.global");
	a = defaults(mod, "sleep_ms");
	a.preproc = "no.such.preproc";
	expect_error(&a, "no.such.preproc");
	a = defaults(mod, "sleep_ms");
	a.device_type = 2;
	expect_error(&a, "device type 2");
	a = defaults(mod, "sleep_ms");
	a.number = 0;
	expect_error(&a, "number");
	a = defaults(mod, "sleep_ms");
	a.repeat = -1;
	expect_error(&a, "repeat");
	a = defaults(mod, "sleep_ms");
	a.cache_flush_bytes = 1ll << 40;
	expect_error(&a, "cache_flush_bytes");
	ffi_function_t *factory = ffi_registry_get("runtime.RPCTimeEvaluator");
	TVMFFIAny rv, one = ffi_any_int(1);
	assert_int_not_equal(ffi_function_call(factory, &one, 1, &rv), 0);
	assert_non_null(strstr(ffi_error_message(), "12 arguments"));
	ffi_object_release(&factory->header);
	ffi_object_release(&mod->header);
}

int main(void)
{
	const char *env = getenv("TVMRPC_BUILD");
	char build[PATH_MAX];
	if (!realpath(env && *env ? env : "build", build) ||
	    (size_t)snprintf(models_dir, sizeof models_dir, "%s/models", build) >=
		    sizeof models_dir) {
		fprintf(stderr, "cannot find the build directory (set TVMRPC_BUILD)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sleep_kernel_time),
		cmocka_unit_test(test_min_repeat_ms_grows_number_and_keeps_it),
		cmocka_unit_test(test_preproc_cooldown_and_flush),
		cmocka_unit_test(test_real_fixture_matmul),
		cmocka_unit_test(test_argument_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
