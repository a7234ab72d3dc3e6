/* Autotuning helpers that MetaSchedule's RPC runner calls (docs/session-protocol.md §6.4, §6.5):
 * random tensor fills (values in [1, 10) from the mt19937 of contrib_random.c; device tensors
 * through a host copy) and the CPU cache flush used as the time evaluator's f_preproc. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/runtime_globals.h"

uint16_t __gnu_f2h_ieee(float value); /* backend.c */
float __gnu_h2f_ieee(uint16_t value);  /* backend.c */

/* Uniform in [1, 10) from the thread's mt19937, as TVM draws it (a double from two draws). */
static double fill_value(random_mt_t *mt)
{
	return random_mt_canonical_double(mt) * 9.0 + 1.0;
}

/* Fill by element width only, as TVM does: 8-bit u8 (truncated), 16-bit half, 32-bit f32,
 * 64-bit f64, whatever the type code. TVM's narrow formats may round a value just under 10
 * up to 10; here they stay below 10. */
static void fill_bytes(char *data, uint64_t nbytes, unsigned bits)
{
	uint64_t count = nbytes / (bits / 8); /* lanes count as elements */
	random_mt_t *mt = random_mt_thread();
	for (uint64_t i = 0; i < count; i++) {
		double x = fill_value(mt);
		switch (bits) {
		case 8: {
			uint8_t v = (uint8_t)x;
			memcpy(data + i, &v, 1);
			break;
		}
		case 16: {
			uint16_t v = __gnu_f2h_ieee((float)x);
			if (__gnu_h2f_ieee(v) >= 10.0f)
				v = 0x48ff; /* 9.9921875, the largest half below 10 */
			memcpy(data + i * 2, &v, 2);
			break;
		}
		case 32: {
			float v = (float)x;
			if (v >= 10.0f)
				v = nextafterf(10.0f, 0.0f);
			memcpy(data + i * 4, &v, 4);
			break;
		}
		default:
			memcpy(data + i * 8, &x, 8);
			break;
		}
	}
}

/* A device tensor (OpenCL) is filled through a host copy, as TVM does (docs/devices.md). */
static int device_fill(const char *fn, DLTensor *t, unsigned bits)
{
	uint64_t nbytes;
	if (ffi_dltensor_nbytes(t, &nbytes) != 0 || !ffi_dltensor_is_compact(t) ||
	    nbytes > SIZE_MAX / 2) {
		ffi_error_set("ValueError", "%s: the tensor is not a valid compact tensor", fn);
		return -1;
	}
	char *host = malloc(nbytes ? (size_t)nbytes : 1);
	if (!host) {
		ffi_error_set("MemoryError", "%s: cannot allocate %llu bytes", fn,
			      (unsigned long long)nbytes);
		return -1;
	}
	fill_bytes(host, nbytes, bits);
	DLTensor from = {.data = host, .device = {kDLCPU, 0}};
	int rc = device_check(t->device) || device_copy(&from, t, nbytes);
	free(host);
	return rc ? -1 : 0;
}

static int tensor_fill(const char *fn, const TVMFFIAny *args, int32_t num_args)
{
	DLTensor *t;
	uint64_t count, nbytes;
	char *data;
	if (ffi_arg_tensor(fn, args, num_args, 0, &t) != 0)
		return -1;
	unsigned bits = t->dtype.bits;
	if (bits != 8 && bits != 16 && bits != 32 && bits != 64) {
		ffi_error_set("InternalError", "%s: cannot fill elements of %u bits (dtype code %d)",
			      fn, bits, t->dtype.code);
		return -1;
	}
	if (t->device.device_type != kDLCPU && device_api_find((int32_t)t->device.device_type))
		return device_fill(fn, t, bits);
	if (runtime_tensor_host(fn, t, &count, &nbytes, &data) != 0)
		return -1;
	fill_bytes(data, nbytes, bits);
	return 0;
}

static int random_fill_for_measure(void *self, const TVMFFIAny *args, int32_t num_args,
				   TVMFFIAny *result)
{
	(void)self;
	(void)result;
	return tensor_fill("tvm.contrib.random.random_fill_for_measure", args, num_args);
}
FFI_REGISTER_GLOBAL("tvm.contrib.random.random_fill_for_measure", random_fill_for_measure)

static int random_fill(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	return tensor_fill("tvm.contrib.random.random_fill", args, num_args);
}
FFI_REGISTER_GLOBAL("tvm.contrib.random.random_fill", random_fill)

/* Evict the cache lines holding [data, data + size) so that the next measured call starts
 * cold. Architectures without a user-level flush keep their caches (timing stays valid, but
 * warm); the first call says so in the log, once per process. */
static void cache_flush_range(const char *data, uint64_t size)
{
#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__))
	for (uint64_t off = 0; off < size; off += 64)
		__builtin_ia32_clflush(data + off);
	if (size)
		__builtin_ia32_clflush(data + size - 1);
	__builtin_ia32_mfence();
#elif defined(__aarch64__)
	for (uint64_t off = 0; off < size; off += 64)
		__asm__ volatile("dc civac, %0" ::"r"(data + off) : "memory");
	__asm__ volatile("dsb ish" ::: "memory");
#else
	static int warned;
	(void)data;
	(void)size;
	if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		log_warn("cache_flush_cpu_non_first_arg: this CPU has no user-level cache flush; "
			 "the inputs stay cached between measurements");
#endif
}

/* cache_flush_cpu_non_first_arg(tensors...) -> None: the first argument (the output, by
 * MetaSchedule's convention) stays cached. */
static int cache_flush_cpu_non_first_arg(void *self, const TVMFFIAny *args, int32_t num_args,
					 TVMFFIAny *result)
{
	(void)self;
	(void)result;
	for (int32_t i = 1; i < num_args; i++) {
		DLTensor *t = ffi_any_as_dltensor(&args[i]);
		if (!t || t->device.device_type != kDLCPU || !t->data)
			continue;
		uint64_t nbytes;
		if (ffi_dltensor_nbytes(t, &nbytes) != 0)
			continue;
		cache_flush_range((const char *)t->data + t->byte_offset, nbytes);
	}
	return 0;
}
FFI_REGISTER_GLOBAL("cache_flush_cpu_non_first_arg", cache_flush_cpu_non_first_arg)
