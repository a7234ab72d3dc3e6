/* tvm.contrib.random.{uniform, normal, randint}: random tensors from a Mersenne Twister
 * (mt19937) turned into values the way GCC's libstdc++ does for TVM (uniform_real_distribution
 * <float>, normal_distribution<float> by the polar method), so that a seeded call gives TVM's
 * numbers exactly. Unseeded calls use a per-thread engine; random_fill.c uses it too. */
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/runtime_globals.h"

/* ---- mt19937 ---- */

#define MT_N 624
#define MT_M 397

void random_mt_seed(random_mt_t *mt, uint32_t seed)
{
	mt->state[0] = seed;
	for (uint32_t i = 1; i < MT_N; i++) {
		uint32_t prev = mt->state[i - 1];
		mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + i;
	}
	mt->next = MT_N;
}

static void mt_twist(random_mt_t *mt)
{
	for (int i = 0; i < MT_N; i++) {
		uint32_t y = (mt->state[i] & 0x80000000u) | (mt->state[(i + 1) % MT_N] & 0x7fffffffu);
		uint32_t v = mt->state[(i + MT_M) % MT_N] ^ (y >> 1);
		mt->state[i] = (y & 1) ? v ^ 0x9908b0dfu : v;
	}
	mt->next = 0;
}

uint32_t random_mt_next(random_mt_t *mt)
{
	if (mt->next >= MT_N)
		mt_twist(mt);
	uint32_t y = mt->state[mt->next++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	return y ^ (y >> 18);
}

/* One draw scaled by 2^-32 in float arithmetic; a draw that rounds up to 1 becomes the float
 * just below 1, as libstdc++ does. */
float random_mt_canonical_float(random_mt_t *mt)
{
	float r = (float)random_mt_next(mt) / 4294967296.0f;
	return r >= 1.0f ? nextafterf(1.0f, 0.0f) : r;
}

/* Two draws, the second the high word, summed in double arithmetic. */
double random_mt_canonical_double(random_mt_t *mt)
{
	double sum = (double)random_mt_next(mt);
	sum += (double)random_mt_next(mt) * 4294967296.0;
	double r = sum / 18446744073709551616.0;
	return r >= 1.0 ? nextafter(1.0, 0.0) : r;
}

static _Thread_local random_mt_t thread_mt;
static _Thread_local pid_t thread_mt_pid;

random_mt_t *random_mt_thread(void)
{
	/* A forked session must not repeat its parent's (or a sibling's) numbers. */
	if (thread_mt_pid != getpid()) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		thread_mt_pid = getpid();
		random_mt_seed(&thread_mt, (uint32_t)ts.tv_sec ^ (uint32_t)ts.tv_nsec ^
						   ((uint32_t)thread_mt_pid << 16));
	}
	return &thread_mt;
}

/* ---- engines for (seed, seed2) ---- */

static uint64_t seed_mix(uint64_t v)
{
	v += 0x9e3779b97f4a7c15ull;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

/* TVM's combination of a TensorFlow-style seed pair into one 32-bit seed. */
static uint32_t seed_combine(int64_t seed, int64_t seed2)
{
	uint64_t a = (uint64_t)seed, b = (uint64_t)seed2;
	uint64_t c = seed_mix(a) ^ (seed_mix(b) + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
	return (uint32_t)((c >> 32) ^ c);
}

static _Thread_local random_mt_t seeded_mt;

/* The engine for a call with n arguments: 3 (low, high, out) uses the thread's engine; 5
 * (seed, seed2, ...) a freshly seeded one, unless both seeds are 0 (TensorFlow's "random"). */
static int random_engine_for(const char *fn, const TVMFFIAny *args, int32_t n, random_mt_t **mt,
			     int32_t *first)
{
	if (n == 3) {
		*mt = random_mt_thread();
		*first = 0;
		return 0;
	}
	if (n != 5) {
		ffi_error_set("InternalError", "%s expects either 3 or 5 arguments, but got %d", fn, n);
		return -1;
	}
	int64_t seed, seed2;
	if (ffi_arg_int(fn, args, n, 0, &seed) || ffi_arg_int(fn, args, n, 1, &seed2))
		return -1;
	*first = 2;
	if (seed == 0 && seed2 == 0) {
		*mt = random_mt_thread();
		return 0;
	}
	random_mt_seed(&seeded_mt, seed_combine(seed, seed2));
	*mt = &seeded_mt;
	return 0;
}

/* The float32 output of uniform and normal, after TVM's checks. */
static int random_float_output(const char *fn, DLTensor *t, uint64_t *count, float **data)
{
	uint64_t bytes;
	char *p;
	if (!ffi_dltensor_is_compact(t)) {
		ffi_error_set("InternalError", "Check failed: (ffi::IsContiguous(*data)) is false");
		return -1;
	}
	if (t->dtype.code != kDLFloat || t->dtype.bits != 32 || t->dtype.lanes != 1) {
		ffi_error_set("InternalError", "Check failed: (dtype.code == kDLFloat && dtype.bits "
			      "== 32 && dtype.lanes == 1) is false");
		return -1;
	}
	if (runtime_tensor_host(fn, t, count, &bytes, &p))
		return -1;
	*data = (float *)(void *)p;
	return 0;
}

/* uniform([seed, seed2,] low, high, out): float32 values in [low, high). */
static int random_uniform(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char fn[] = "tvm.contrib.random.uniform";
	random_mt_t *mt;
	int32_t at;
	double low, high;
	DLTensor *out;
	uint64_t count;
	float *data;
	if (random_engine_for(fn, args, n, &mt, &at) || runtime_arg_float(fn, args, n, at, &low) ||
	    runtime_arg_float(fn, args, n, at + 1, &high) || ffi_arg_tensor(fn, args, n, at + 2, &out))
		return -1;
	float a = (float)low, b = (float)high;
	if (!(b > a)) {
		ffi_error_set("InternalError", "Check failed: high > low (%g vs. %g) : high must be "
			      "bigger than low", (double)b, (double)a);
		return -1;
	}
	if (random_float_output(fn, out, &count, &data))
		return -1;
	for (uint64_t i = 0; i < count; i++) {
		float v = random_mt_canonical_float(mt) * (b - a) + a;
		memcpy(&data[i], &v, sizeof v);
	}
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.contrib.random.uniform", random_uniform)

/* A pair of standard normal values by the polar method, as libstdc++ computes it in float. */
static void random_normal_pair(random_mt_t *mt, float *first, float *second)
{
	float x, y, r2;
	do {
		x = (float)((double)(2.0f * random_mt_canonical_float(mt)) - 1.0);
		y = (float)((double)(2.0f * random_mt_canonical_float(mt)) - 1.0);
		r2 = x * x + y * y;
	} while (r2 > 1.0f || r2 == 0.0f);
	float mult = sqrtf(-2.0f * logf(r2) / r2);
	*first = y * mult;
	*second = x * mult;
}

/* normal([seed, seed2,] loc, scale, out): float32 values of N(loc, scale^2). */
static int random_normal(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char fn[] = "tvm.contrib.random.normal";
	random_mt_t *mt;
	int32_t at;
	double loc, scale;
	DLTensor *out;
	uint64_t count;
	float *data;
	if (random_engine_for(fn, args, n, &mt, &at) || runtime_arg_float(fn, args, n, at, &loc) ||
	    runtime_arg_float(fn, args, n, at + 1, &scale) || ffi_arg_tensor(fn, args, n, at + 2, &out))
		return -1;
	float mean = (float)loc, stddev = (float)scale;
	if (!(stddev > 0)) {
		ffi_error_set("InternalError", "Check failed: scale > 0 (%g vs. 0) : standard "
			      "deviation must be positive", (double)stddev);
		return -1;
	}
	if (random_float_output(fn, out, &count, &data))
		return -1;
	float saved = 0;
	for (uint64_t i = 0; i < count; i++) {
		float z;
		if (i % 2 == 0)
			random_normal_pair(mt, &z, &saved);
		else
			z = saved;
		float v = z * stddev + mean;
		memcpy(&data[i], &v, sizeof v);
	}
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.contrib.random.normal", random_normal)

/* randint's integer outputs: 8, 16 or 32 bits, signed or not (not 64). */
static int randint_range(DLDataType t, int64_t *min, int64_t *max)
{
	if (t.code != kDLInt && t.code != kDLUInt)
		return -1;
	if (t.bits != 8 && t.bits != 16 && t.bits != 32)
		return -1;
	*min = t.code == kDLInt ? -((int64_t)1 << (t.bits - 1)) : 0;
	*max = t.code == kDLInt ? ((int64_t)1 << (t.bits - 1)) - 1 : ((int64_t)1 << t.bits) - 1;
	return 0;
}

static void randint_store(char *p, unsigned bits, int64_t v)
{
	if (bits == 8) {
		*p = (char)(uint8_t)v;
	} else if (bits == 16) {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
	} else {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
	}
}

/* randint(low, high, out): integers in [low, high) clipped to the output's range, each one
 * low + draw % (high - low) from the thread's engine. */
static int random_randint(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char fn[] = "tvm.contrib.random.randint";
	int64_t low, high, min, max;
	DLTensor *out;
	uint64_t count, bytes;
	char *data;
	if (ffi_arg_int(fn, args, n, 0, &low) || ffi_arg_int(fn, args, n, 1, &high) ||
	    ffi_arg_tensor(fn, args, n, 2, &out))
		return -1;
	if (high <= low) {
		ffi_error_set("InternalError", "Check failed: high > low (%lld vs. %lld) : high must be "
			      "bigger than low", (long long)high, (long long)low);
		return -1;
	}
	if (!ffi_dltensor_is_compact(out)) {
		ffi_error_set("InternalError", "Check failed: (ffi::IsContiguous(*out)) is false");
		return -1;
	}
	if (randint_range(out->dtype, &min, &max) != 0) {
		ffi_error_set("InternalError", "unknown data type");
		return -1;
	}
	low = low > min ? low : min;
	high = high < max + 1 ? high : max + 1;
	if (high == low) { /* TVM divides by zero here */
		ffi_error_set("ValueError", "%s: [low, high) is empty in the output's range", fn);
		return -1;
	}
	if (runtime_tensor_host(fn, out, &count, &bytes, &data))
		return -1;
	random_mt_t *mt = random_mt_thread();
	size_t size = out->dtype.bits / 8;
	for (uint64_t i = 0; i < count; i++)
		randint_store(data + i * size, out->dtype.bits,
			      low + (int64_t)random_mt_next(mt) % (high - low));
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.contrib.random.randint", random_randint)
