/* Session benchmarks for `make bench`, through our blocking RPC client (services/rpc_client.h)
 * against a device server, directly or through a proxy: trivial-call round trips, tensor
 * copies both ways, and the time evaluator's per-call figure next to a local call of the same
 * kernel (the .so dlopen()ed here).
 *   bench_rpc HOST PORT KEY ROUNDS SIZES(a,b,..|-) MAX_SECONDS [KERNEL.so FUNC NELEM]
 * ROUNDS 0 skips the round trips, SIZES "-" the copies. */
#include <dlfcn.h>
#include <string.h>

#include "bench_common.h"
#include "runtime/ffi.h"
#include "services/rpc_client.h"

static const DLDevice cpu = {kDLCPU, 0};

static int fail(rpc_client_t *c, const char *what)
{
	fprintf(stderr, "bench_rpc: %s: %s\n", what, rpc_client_error(c));
	return 1;
}

/* ROUNDS calls of one kind, bounded by max_s; median and p99 in microseconds. */
static int round_trips(rpc_client_t *c, const char *name, uint64_t fn, long rounds, double max_s)
{
	double *t = calloc((size_t)rounds, sizeof *t);
	long n = 0;
	double end = bench_now() + max_s;
	for (long i = -100; i < rounds && bench_now() < end; i++) { /* 100 warm-up calls */
		double t0 = bench_now();
		int rc = fn ? rpc_client_call(c, fn, NULL, 0, NULL) : rpc_client_stream_sync(c, cpu);
		if (rc)
			return free(t), fail(c, name);
		if (i >= 0)
			t[n++] = (bench_now() - t0) * 1e6;
	}
	char key[64];
	snprintf(key, sizeof key, "rtt_%s_median_us", name);
	bench_emit(key, bench_quantile(t, (size_t)n, 0.5));
	snprintf(key, sizeof key, "rtt_%s_p99_us", name);
	bench_emit(key, bench_quantile(t, (size_t)n, 0.99));
	free(t);
	return 0;
}

/* CopyToRemote then CopyFromRemote of `bytes`, each repeated for max_s / 2 (at least 3 times
 * after a warm-up copy); MB/s of the median copy. Checks the data came back. */
static int copies(rpc_client_t *c, uint64_t bytes, double max_s)
{
	rpc_tensor_t t;
	memset(&t, 0, sizeof t);
	t.device = cpu;
	t.ndim = 1;
	t.shape[0] = (int64_t)bytes;
	t.dtype = (DLDataType){kDLUInt, 8, 1};
	uint8_t *a = malloc(bytes), *b = malloc(bytes);
	for (uint64_t i = 0; i < bytes; i++)
		a[i] = (uint8_t)(i * 131 + (i >> 12));
	memset(b, 0, bytes);
	if (rpc_client_alloc(c, &t))
		return fail(c, "alloc");
	int rc = 0;
	size_t cap = 100000;
	double *times = calloc(cap, sizeof *times);
	for (int dir = 0; dir < 2 && rc == 0; dir++) {
		size_t n = 0;
		double end = bench_now() + max_s / 2;
		/* The first copy warms the pages and is not counted; then the median copy. */
		for (long i = -1; rc == 0 && n < cap && (n < 3 || bench_now() < end); i++) {
			double t0 = bench_now();
			rc = dir == 0 ? rpc_client_copy_to(c, &t, a, bytes)
				      : rpc_client_copy_from(c, &t, b, bytes);
			if (i >= 0)
				times[n++] = bench_now() - t0;
		}
		if (rc)
			break;
		char key[64];
		snprintf(key, sizeof key, "%s_%llu_mbps", dir == 0 ? "copy_to" : "copy_from",
			 (unsigned long long)bytes);
		bench_emit(key, (double)bytes / bench_quantile(times, n, 0.5) / 1e6);
	}
	free(times);
	if (rc)
		fail(c, "copy");
	else if (memcmp(a, b, bytes) != 0)
		rc = 1, fprintf(stderr, "bench_rpc: copied data differ\n");
	free(a);
	free(b);
	if (rc == 0 && rpc_client_free_data(c, cpu, t.data))
		return fail(c, "free");
	return rc;
}

static void dltensor_f32(DLTensor *d, void *data, int64_t *shape)
{
	memset(d, 0, sizeof *d);
	d->data = data;
	d->device = cpu;
	d->ndim = 1;
	d->dtype = (DLDataType){kDLFloat, 32, 1};
	d->shape = shape;
}

/* Per-call time of FUNC(a, b) on float32[nelem] tensors: the server's time evaluator and a local
 * loop over the dlopen()ed kernel, each the fastest of its repeats (as timeit reports). */
static int timing(rpc_client_t *c, const char *so, const char *func, int64_t nelem)
{
	const int number = 20000, repeat = 7;
	uint64_t module, fn;
	if (rpc_client_upload_file(c, so, "bench_kernel.so") ||
	    rpc_client_load_module(c, "bench_kernel.so", &module))
		return fail(c, "loading the kernel");
	rpc_time_options_t to = {.number = number, .repeat = repeat};
	if (rpc_client_time_evaluator(c, module, func, cpu, &to, &fn))
		return fail(c, "runtime.RPCTimeEvaluator");
	rpc_tensor_t x, y;
	memset(&x, 0, sizeof x);
	x.device = cpu;
	x.ndim = 1;
	x.shape[0] = nelem;
	x.dtype = (DLDataType){kDLFloat, 32, 1};
	y = x;
	if (rpc_client_alloc(c, &x) || rpc_client_alloc(c, &y))
		return fail(c, "alloc");
	session_value_t args[2] = {rpc_tensor_arg(&x), rpc_tensor_arg(&y)};
	rpc_value_t r;
	if (rpc_client_call(c, fn, args, 2, &r))
		return fail(c, "time evaluator call");
	if (r.type_index != FFI_BYTES || r.size != 8u * repeat) {
		fprintf(stderr, "bench_rpc: time evaluator returned type %d, %zu bytes\n",
			r.type_index, r.size);
		return 1;
	}
	double sec[16];
	memcpy(sec, r.str, r.size);
	rpc_value_free(&r);
	bench_emit("timeeval_remote_us", bench_quantile(sec, (size_t)repeat, 0) * 1e6);
	rpc_client_free_handle(c, fn);
	rpc_client_free_handle(c, module);

	void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	char sym[160];
	snprintf(sym, sizeof sym, "__tvm_ffi_%s", func);
	TVMFFISafeCallType kernel = lib ? (TVMFFISafeCallType)dlsym(lib, sym) : NULL;
	if (!kernel) {
		fprintf(stderr, "bench_rpc: %s\n", dlerror());
		return 1;
	}
	float *ax = calloc((size_t)nelem, sizeof(float)), *ay = calloc((size_t)nelem, sizeof(float));
	int64_t shape[1] = {nelem};
	DLTensor dx, dy;
	dltensor_f32(&dx, ax, shape);
	dltensor_f32(&dy, ay, shape);
	TVMFFIAny in[2] = {{.type_index = FFI_DLTENSOR_PTR, .v_ptr = &dx},
			   {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &dy}};
	double local[16];
	for (int rep = 0; rep < repeat; rep++) {
		double t0 = bench_now();
		for (int i = 0; i < number; i++) {
			TVMFFIAny out = {.type_index = FFI_NONE};
			if (kernel(NULL, in, 2, &out) != 0) {
				fprintf(stderr, "bench_rpc: local %s failed\n", func);
				return 1;
			}
		}
		local[rep] = (bench_now() - t0) / number;
	}
	bench_emit("timeeval_local_us", bench_quantile(local, (size_t)repeat, 0) * 1e6);
	free(ax);
	free(ay);
	dlclose(lib);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 7 && argc != 10) {
		fprintf(stderr, "usage: bench_rpc HOST PORT KEY ROUNDS SIZES MAX_S "
			"[KERNEL.so FUNC NELEM]\n");
		return 2;
	}
	long rounds = atol(argv[4]);
	double max_s = atof(argv[6]);
	rpc_client_options_t opt;
	rpc_client_options_default(&opt);
	opt.reply_timeout = 60;
	rpc_client_t *c;
	char err[512];
	if (rpc_client_connect(argv[1], atoi(argv[2]), argv[3], &opt, &c, err, sizeof err)) {
		fprintf(stderr, "bench_rpc: connect: %s\n", err);
		return 1;
	}
	uint64_t fn;
	int rc = 0;
	if (rounds > 0) { /* 0: skip the round trips */
		rc = round_trips(c, "sync", 0, rounds, max_s);
		if (rc == 0 && rpc_client_get_global(c, "device_api.cpu", &fn))
			rc = fail(c, "GetGlobalFunc");
		if (rc == 0)
			rc = round_trips(c, "call", fn, rounds, max_s);
	}
	for (char *s = strtok(argv[5], ",-"); s && rc == 0; s = strtok(NULL, ",-"))
		rc = copies(c, strtoull(s, NULL, 10), max_s);
	if (rc == 0 && argc == 10)
		rc = timing(c, argv[7], argv[8], atoll(argv[9]));
	rpc_client_close(c);
	return rc;
}
