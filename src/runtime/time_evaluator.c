/* `runtime.RPCTimeEvaluator` (docs/session-protocol.md §6.4): wraps a module or global function in
 * a Function that times it and returns Bytes of `repeat` f64 seconds-per-call values, with
 * the timer TVM uses for the device (docs/devices.md): on the CPU the host clock, the device
 * synchronised before it starts and before it stops; on OpenCL the device's own timer, the
 * summed execution time of the kernels launched (device_timer_start). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/device.h"
#include "runtime/ffi.h"
#include "base/log.h"
#include "base/xalloc.h"

#define EVAL_NAME "runtime.RPCTimeEvaluator"
/* Peer-controlled sizes: the result holds `repeat` doubles and the flush buffers are allocated
 * per call, so both are bounded. */
#define EVAL_MAX_REPEAT (1 << 20)
#define EVAL_MAX_FLUSH_BYTES (1ull << 30)

struct evaluator {
	ffi_function_t *target;
	ffi_function_t *preproc; /* NULL if none */
	int number;              /* adjusted by min_repeat_ms and kept for later calls */
	int repeat;
	int min_repeat_ms;
	int limit_zero_time_iterations;
	int cooldown_interval_ms;
	int repeats_to_cooldown;
	uint64_t cache_flush_bytes;
	DLDevice dev;
};

static void evaluator_free(void *data)
{
	struct evaluator *ev = data;
	ffi_object_release(&ev->target->header);
	if (ev->preproc)
		ffi_object_release(&ev->preproc->header);
	free(ev);
}

static int64_t clock_nanos(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int call_discard(ffi_function_t *fn, const TVMFFIAny *args, int32_t num_args)
{
	TVMFFIAny rv;
	if (ffi_function_call(fn, args, num_args, &rv) != 0)
		return -1;
	ffi_any_release(&rv);
	return 0;
}

static int evaluator_call(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	struct evaluator *ev = ((ffi_function_t *)self)->data;
	int32_t *flush_dst = NULL, *flush_src = NULL;
	size_t flush_bytes = 0;
	double *seconds = NULL;
	int rc = -1;

	if (call_discard(ev->target, args, num_args) != 0) /* warm-up */
		return -1;
	if (ev->cache_flush_bytes > 0) {
		flush_bytes = (size_t)(ev->cache_flush_bytes / 4) * 4;
		flush_dst = malloc(flush_bytes ? flush_bytes : 4);
		flush_src = malloc(flush_bytes ? flush_bytes : 4);
		if (!flush_dst || !flush_src) {
			ffi_error_set("MemoryError", "%s: cannot allocate %zu bytes for cache flushing",
				      EVAL_NAME, flush_bytes);
			goto out;
		}
		memset(flush_src, 1, flush_bytes);
		memset(flush_dst, 0, flush_bytes);
	}
	seconds = xcalloc((size_t)ev->repeat, sizeof *seconds);
	for (int i = 0; i < ev->repeat; i++) {
		if (ev->preproc && call_discard(ev->preproc, args, num_args) != 0)
			goto out;
		double duration_ms = 0.0;
		int zero_times = 0;
		do {
			if (duration_ms > 0.0) {
				double grown = ev->min_repeat_ms / (duration_ms / ev->number) + 1;
				double golden = ev->number * 1.618;
				double next = grown > golden ? grown : golden;
				ev->number = next >= (double)INT32_MAX ? INT32_MAX : (int)next;
			}
			if (flush_bytes)
				memcpy(flush_dst, flush_src, flush_bytes);
			if (device_sync(ev->dev) != 0)
				goto out;
			int own = device_timer_start(ev->dev);
			if (own < 0)
				goto out;
			int64_t start = clock_nanos(), elapsed;
			for (int j = 0; j < ev->number; j++)
				if (call_discard(ev->target, args, num_args) != 0) {
					if (own)
						device_timer_stop(ev->dev, &elapsed);
					goto out;
				}
			if (own ? device_timer_stop(ev->dev, &elapsed) != 0
				: device_sync(ev->dev) != 0)
				goto out;
			if (!own)
				elapsed = clock_nanos() - start;
			if (elapsed == 0)
				zero_times++;
			duration_ms = (double)elapsed / 1e6;
		} while (duration_ms < ev->min_repeat_ms &&
			 zero_times < ev->limit_zero_time_iterations);
		seconds[i] = duration_ms / 1e3 / ev->number;
		if (ev->cooldown_interval_ms > 0 && i % ev->repeats_to_cooldown == 0)
			sleep_ms(ev->cooldown_interval_ms);
	}
	ffi_bytes_t *bytes = ffi_bytes_new((const char *)seconds, (size_t)ev->repeat * sizeof(double));
	if (!bytes)
		goto out;
	*result = ffi_any_object(&bytes->header);
	rc = 0;
out:
	free(seconds);
	free(flush_dst);
	free(flush_src);
	return rc;
}

static int arg_int_in(const TVMFFIAny *args, int32_t n, int32_t i, const char *what, int64_t lo,
		      int64_t hi, int64_t *out)
{
	if (ffi_arg_int(EVAL_NAME, args, n, i, out) != 0)
		return -1;
	if (*out < lo || *out > hi) {
		ffi_error_set("ValueError", "%s: %s = %lld is out of range [%lld, %lld]", EVAL_NAME,
			      what, (long long)*out, (long long)lo, (long long)hi);
		return -1;
	}
	return 0;
}

/* runtime.RPCTimeEvaluator(mod|None, name, device_type, device_id, number, repeat,
 *     min_repeat_ms, limit_zero_time_iterations, cooldown_interval_ms, repeats_to_cooldown,
 *     cache_flush_bytes, f_preproc_name) -> Function */
static int time_evaluator_new(void *self, const TVMFFIAny *args, int32_t num_args,
			      TVMFFIAny *result)
{
	(void)self;
	if (num_args != 12) {
		ffi_error_set("TypeError", "%s: expected 12 arguments, got %d", EVAL_NAME, num_args);
		return -1;
	}
	ffi_module_t *mod = NULL;
	if (args[0].type_index != FFI_NONE &&
	    ffi_arg_module(EVAL_NAME, args, num_args, 0, &mod) != 0)
		return -1;
	const char *name, *preproc_name;
	int64_t v[9];
	static const char *const what[9] = {
		"device_type", "device_id", "number", "repeat", "min_repeat_ms",
		"limit_zero_time_iterations", "cooldown_interval_ms", "repeats_to_cooldown",
		"cache_flush_bytes",
	};
	if (ffi_arg_str(EVAL_NAME, args, num_args, 1, &name, NULL) != 0)
		return -1;
	const int64_t lo[9] = {0, 0, 1, 0, 0, 0, 0, 1, 0};
	const int64_t hi[9] = {INT32_MAX, INT32_MAX, INT32_MAX, EVAL_MAX_REPEAT, INT32_MAX, INT32_MAX,
			       INT32_MAX, INT32_MAX, (int64_t)EVAL_MAX_FLUSH_BYTES};
	for (int i = 0; i < 9; i++)
		if (arg_int_in(args, num_args, i + 2, what[i], lo[i], hi[i], &v[i]) != 0)
			return -1;
	if (ffi_arg_str(EVAL_NAME, args, num_args, 11, &preproc_name, NULL) != 0)
		return -1;
	DLDevice dev = {(DLDeviceType)v[0], (int32_t)v[1]};
	if (device_check(dev) != 0)
		return -1;

	ffi_function_t *target;
	if (mod) {
		target = ffi_module_get_function(mod, name, 0);
		if (!target) {
			if (!ffi_error_kind()[0])
				ffi_error_set("AttributeError", "%s: module has no function '%s'",
					      EVAL_NAME, name);
			return -1;
		}
	} else {
		target = ffi_registry_get(name);
		if (!target) {
			ffi_error_set("AttributeError", "%s: no global function '%s'", EVAL_NAME, name);
			return -1;
		}
	}
	ffi_function_t *preproc = NULL;
	if (preproc_name[0]) {
		preproc = ffi_registry_get(preproc_name);
		if (!preproc) {
			ffi_error_set("AttributeError", "%s: no global function '%s' (f_preproc)",
				      EVAL_NAME, preproc_name);
			ffi_object_release(&target->header);
			return -1;
		}
	}
	struct evaluator *ev = xcalloc(1, sizeof *ev);
	ev->target = target;
	ev->preproc = preproc;
	ev->number = (int)v[2];
	ev->repeat = (int)v[3];
	ev->min_repeat_ms = (int)v[4];
	ev->limit_zero_time_iterations = (int)v[5];
	ev->cooldown_interval_ms = (int)v[6];
	ev->repeats_to_cooldown = (int)v[7];
	ev->cache_flush_bytes = (uint64_t)v[8];
	ev->dev = dev;
	ffi_function_t *fn = ffi_function_new(evaluator_call, ev, evaluator_free, NULL);
	*result = ffi_any_object(&fn->header);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.RPCTimeEvaluator", time_evaluator_new)
