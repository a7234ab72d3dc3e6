/* Autotuning helpers that MetaSchedule's RPC runner calls (session-protocol.md §6.4, §6.5):
 * random tensor fills and the CPU cache flush used as the time evaluator's f_preproc. */
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ffi.h"

uint16_t __gnu_f2h_ieee(float value); /* backend.c */
float __gnu_h2f_ieee(uint16_t value);  /* backend.c */

static _Thread_local uint64_t rng_state;
static _Thread_local pid_t rng_pid;

/* splitmix64: fast, and plenty for filling measurement inputs. Reseeded in each process so
 * that forked sessions do not all draw the same numbers. */
static uint64_t rng_next(void)
{
	if (rng_state == 0 || rng_pid != getpid()) {
		rng_pid = getpid();
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rng_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
			    ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)&rng_state;
	}
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [1, 10). */
static double rng_uniform(void)
{
	return 1.0 + 9.0 * ((double)(rng_next() >> 11) * 0x1.0p-53);
}

/* Fill by element width only, as TVM does: 8-bit u8, 16-bit half, 32-bit f32, 64-bit f64,
 * whatever the type code. */
static int tensor_fill(const char *fn, const TVMFFIAny *args, int32_t num_args)
{
	DLTensor *t;
	if (ffi_arg_tensor(fn, args, num_args, 0, &t) != 0)
		return -1;
	if (t->device.device_type != kDLCPU) {
		ffi_error_set("ValueError", "%s: only CPU tensors can be filled (device type %d)", fn,
			      (int)t->device.device_type);
		return -1;
	}
	uint64_t nbytes;
	if (ffi_dltensor_nbytes(t, &nbytes) != 0) {
		ffi_error_set("ValueError", "%s: invalid tensor shape", fn);
		return -1;
	}
	unsigned bits = t->dtype.bits;
	if (bits != 8 && bits != 16 && bits != 32 && bits != 64) {
		ffi_error_set("ValueError", "%s: cannot fill elements of %u bits", fn, bits);
		return -1;
	}
	if (nbytes == 0)
		return 0;
	if (!t->data) {
		ffi_error_set("ValueError", "%s: tensor has no data", fn);
		return -1;
	}
	uint64_t count = nbytes / (bits / 8);
	char *data = t->data;
	for (uint64_t i = 0; i < count; i++) {
		double x = rng_uniform();
		switch (bits) {
		case 8: {
			uint8_t v = (uint8_t)x;
			memcpy(data + i, &v, 1);
			break;
		}
		case 16: {
			/* Narrow formats can round a value just under 10 up to 10: keep [1, 10). */
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
 * cold. Architectures without a user-level flush keep their caches (timing stays valid). */
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
	(void)data;
	(void)size;
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
