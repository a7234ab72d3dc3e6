/* `tvmrpc-console --run KEY --tracker H:P` and `--connect H:P`: upload a compiled module to a
 * device, run one function on .npy inputs, write the outputs as .npy, optionally time it.
 * The RPC work is rpc_client's; this file parses the command line and orders the steps. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console/cli.h"
#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/npy.h"
#include "base/xalloc.h"
#include "services/net.h"
#include "services/rpc_client.h"

#define RUN_MAX_ARGS 128

static const char run_usage[] =
	"usage:\n"
	"  tvmrpc-console --run KEY --tracker HOST:PORT MODULE.so FUNC [OPTIONS]\n"
	"  tvmrpc-console --connect HOST:PORT [--key K] MODULE.so FUNC [OPTIONS]\n"
	"\n"
	"Uploads MODULE.so (a library exported by TVM), loads it on the device and calls FUNC.\n"
	"If the library is a Relax VM executable (it has vm_load_executable), FUNC is a VM\n"
	"function (usually main) and runs on a VM initialised for the device.\n"
	"\n"
	"arguments (--in and --arg in the order given, then destination outputs):\n"
	"  --in FILE.npy        an input tensor, copied to the device\n"
	"  --arg VALUE          a scalar argument: integer, float, true/false, else a string\n"
	"  --out FILE.npy       an output: by default the tensor the function returns (Relax VM\n"
	"                       functions return their result; an Array result fills several\n"
	"                       --out in order)\n"
	"  --out FILE.npy --shape DTYPE[D0,D1,...]   (or --like TEMPLATE.npy)\n"
	"                       a destination-passing output (TVM kernels write into their last\n"
	"                       arguments): a tensor of that shape is allocated on the device,\n"
	"                       passed after all --in/--arg values, and copied back after the\n"
	"                       call\n"
	"options (each also as --option=VALUE; --time takes =yes/=no):\n"
	"  --time               also run runtime.RPCTimeEvaluator and print mean, median, max,\n"
	"                       min and standard deviation of the time per call\n"
	"  --number N           calls per measurement (default 10)\n"
	"  --repeat R           measurements (default 3)\n"
	"  --min-repeat-ms MS   grow --number until a measurement takes MS (default 0)\n"
	"  --device TYPE[:ID]   cpu (default), cuda, opencl, vulkan, metal, rocm, hexagon\n"
	"  --tracker HOST:PORT  tracker for --run (default: $TVM_TRACKER_HOST:$TVM_TRACKER_PORT)\n"
	"  --priority P         tracker request priority, larger first (default 1)\n"
	"  --retries N          tracker request attempts (default 5)\n"
	"  --wait S             give up if the tracker has no free device in S seconds (default:\n"
	"                       wait)\n"
	"  --key K              match key for --connect (servers started with --key, proxies)\n"
	"  --session-timeout S  ask the server to end the session after S seconds\n"
	"  --timeout S          wait at most S seconds for each reply (default 600, 0 = no limit)\n"
	"  --connect-timeout S  connect + handshake limit (default 10)\n"
	"  --log-level L, --silent\n"
	"\n"
	"exit status: 0 success, 1 connection, remote or file error, 2 bad usage.\n";

struct run_out {
	const char *path;
	int dest;          /* destination-passing argument (shape known) */
	rpc_tensor_t spec; /* dtype/ndim/shape when dest */
};

struct run_opts {
	const char *target; /* --connect HOST:PORT */
	const char *run_key;
	const char *tracker;
	char host[256]; /* the server (--connect) or the tracker (--run) */
	int port;
	const char *key;
	const char *module_path;
	const char *func;
	struct run_in {
		const char *path;      /* --in: a tensor from this .npy file */
		int scalar;            /* --arg: a scalar value instead */
		session_value_t value; /* the scalar */
	} ins[RUN_MAX_ARGS];
	int n_in;
	struct run_out outs[RUN_MAX_ARGS];
	int n_out;
	int time;
	rpc_time_options_t timing;
	DLDevice device;
	int priority;
	int retries;
	double wait;
	rpc_client_options_t client;
	config_t cfg; /* the settings, [run] filled from the flags */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("tvmrpc-console: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry 'tvmrpc-console --run KEY --help'.\n", stderr);
	va_end(ap);
	return 2;
}

static int parse_number(const char *flag, const char *text, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !(v >= lo && v <= hi))
		return usage_error("%s: '%s' is not a number in [%g, %g]", flag, text, lo, hi);
	*out = v;
	return 0;
}

static int parse_int(const char *flag, const char *text, int lo, int hi, int *out)
{
	double v = 0;
	if (parse_number(flag, text, lo, hi, &v))
		return 2;
	if (v != floor(v))
		return usage_error("%s: '%s' is not an integer", flag, text);
	*out = (int)v;
	return 0;
}

/* "float32[64,64]", "int8[]" (a scalar). */
static int parse_spec(const char *text, rpc_tensor_t *t)
{
	const char *open = strchr(text, '[');
	size_t n = strlen(text);
	if (!open || n < 2 || text[n - 1] != ']' || (size_t)(open - text) >= 32)
		return usage_error("--shape: '%s' is not DTYPE[D0,D1,...] (e.g. float32[64,64])",
				   text);
	char name[32];
	memcpy(name, text, (size_t)(open - text));
	name[open - text] = '\0';
	memset(t, 0, sizeof *t);
	if (npy_dtype_parse(name, &t->dtype) != 0)
		return usage_error("--shape: unknown dtype '%s' (bool, int8..int64, uint8..uint64, "
				   "float16, float32, float64)", name);
	const char *p = open + 1;
	while (*p != ']') {
		char *end;
		errno = 0;
		long long d = strtoll(p, &end, 10);
		if (end == p || errno || d < 0 || t->ndim == SESSION_MAX_NDIM ||
		    (*end != ',' && *end != ']'))
			return usage_error("--shape: bad dimension list in '%s'", text);
		t->shape[t->ndim++] = d;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* --arg VALUE: Int if it reads as an integer, Float if as a number, Bool for true/false,
 * else a string (sent as RawStr, like the stock client's strings). */
static session_value_t parse_scalar(const char *text)
{
	char *end;
	errno = 0;
	long long i = strtoll(text, &end, 0);
	if (*text && !*end && !errno)
		return session_value_int(i);
	errno = 0;
	double d = strtod(text, &end);
	if (*text && !*end && !errno)
		return session_value_float(d);
	if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0)
		return session_value_bool(1);
	if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0)
		return session_value_bool(0);
	return session_value_raw_str(text, strlen(text));
}

static int parse_device(const char *text, DLDevice *dev)
{
	static const struct {
		const char *name;
		int type;
	} names[] = {{"cpu", kDLCPU},	  {"llvm", kDLCPU},	{"cuda", kDLCUDA},
		     {"gpu", kDLCUDA},	  {"opencl", kDLOpenCL}, {"cl", kDLOpenCL},
		     {"vulkan", kDLVulkan}, {"metal", kDLMetal},	{"rocm", kDLROCM},
		     {"hexagon", 16}};
	char name[32];
	const char *colon = strchr(text, ':');
	size_t len = colon ? (size_t)(colon - text) : strlen(text);
	if (len >= sizeof name)
		return usage_error("--device: unknown device '%s'", text);
	memcpy(name, text, len);
	name[len] = '\0';
	int id = 0;
	if (colon && parse_int("--device", colon + 1, 0, 1 << 20, &id))
		return 2;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(names[i].name, name) == 0) {
			dev->device_type = (DLDeviceType)names[i].type;
			dev->device_id = id;
			return 0;
		}
	}
	return usage_error("--device: unknown device '%s'", text);
}

/* --in, --arg, --out, --shape, --like: the ordered argument list. Returns 1 if f is one of
 * them (consuming val), 0 if not, 2 after a usage error. */
static int list_flag(const char *f, const char *val, struct run_opts *o)
{
	int is_list = strcmp(f, "--in") == 0 || strcmp(f, "--arg") == 0 ||
		      strcmp(f, "--out") == 0 || strcmp(f, "--shape") == 0 ||
		      strcmp(f, "--like") == 0;
	if (!is_list)
		return 0;
	if (!val)
		return usage_error("%s needs a value", f);
	if (strcmp(f, "--in") == 0 || strcmp(f, "--arg") == 0) {
		if (o->n_in == RUN_MAX_ARGS)
			return usage_error("too many --in/--arg");
		o->ins[o->n_in].scalar = strcmp(f, "--arg") == 0;
		if (o->ins[o->n_in].scalar)
			o->ins[o->n_in].value = parse_scalar(val);
		else
			o->ins[o->n_in].path = val;
		o->n_in++;
		return 1;
	}
	if (strcmp(f, "--out") == 0) {
		if (o->n_out == RUN_MAX_ARGS)
			return usage_error("too many --out");
		o->outs[o->n_out++].path = val;
		return 1;
	}
	if (o->n_out == 0 || o->outs[o->n_out - 1].dest)
		return usage_error("%s must follow the --out it describes", f);
	struct run_out *out = &o->outs[o->n_out - 1];
	if (strcmp(f, "--shape") == 0) {
		if (parse_spec(val, &out->spec))
			return 2;
	} else {
		npy_header_t h;
		char err[512];
		if (npy_read_file_header(val, &h, err, sizeof err) != 0)
			return usage_error("--like: %s", err);
		memset(&out->spec, 0, sizeof out->spec);
		out->spec.dtype = h.dtype;
		out->spec.ndim = h.ndim;
		memcpy(out->spec.shape, h.shape, sizeof(int64_t) * (size_t)h.ndim);
	}
	out->dest = 1;
	return 1;
}

/* The settings from the config table's [run] section into what the run uses. */
static int apply_settings(const run_options_t *run, struct run_opts *o)
{
	o->key = run->key[0] ? run->key : NULL;
	o->tracker = run->tracker[0] ? run->tracker : NULL;
	o->time = run->time;
	o->timing.number = run->number;
	o->timing.repeat = run->repeat;
	o->timing.min_repeat_ms = run->min_repeat_ms;
	o->priority = run->priority;
	o->retries = run->retries;
	o->wait = run->wait;
	o->client.session_timeout = run->session_timeout;
	o->client.reply_timeout = run->timeout;
	o->client.connect_timeout = run->connect_timeout;
	return parse_device(run->device, &o->device);
}

/* Every flag but the argument list goes through the config table (console/config.c), as in
 * every other mode: --tracker H:P and --tracker=H:P alike. */
static int parse_flags(int argc, char **argv, struct run_opts *o)
{
	int positional = 0;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		if (strcmp(f, "--run") == 0 || strcmp(f, "--connect") == 0) {
			i++; /* already in args */
			continue;
		}
		if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
			fputs(run_usage, stdout);
			return 1;
		}
		if (strncmp(f, "--", 2) != 0 || strcmp(f, "-") == 0) {
			if (positional == 0)
				o->module_path = f;
			else if (positional == 1)
				o->func = f;
			else
				return usage_error("unexpected argument '%s'", f);
			positional++;
			continue;
		}
		int r = list_flag(f, i + 1 < argc ? argv[i + 1] : NULL, o);
		if (r == 1)
			i++;
		if (r)
			continue;
		char err[512];
		r = cli_config_flag(argc, argv, &i, &o->cfg, CONFIG_RUN, err, sizeof err);
		if (r < 0)
			return usage_error("%s", err);
		if (r == 0)
			return usage_error("unknown option '%s'", f);
	}
	return 0;
}

static int parse_args(const struct cli_args *args, int argc, char **argv, struct run_opts *o)
{
	memset(o, 0, sizeof *o);
	rpc_client_options_default(&o->client);
	o->cfg = args->cfg;
	if (args->run_direct)
		o->target = args->target;
	else
		o->run_key = args->run_key;
	int rc = parse_flags(argc, argv, o);
	if (rc)
		return rc;
	cli_apply_logging(&o->cfg);
	if (apply_settings(&o->cfg.run, o))
		return 2;
	if (!o->module_path || !o->func)
		return usage_error("%s needs MODULE.so and FUNC",
				   args->run_direct ? "--connect" : "--run");
	if (!args->run_direct && o->key)
		return usage_error("--key is for --connect; --run KEY names the device key");
	if (args->run_direct && o->tracker)
		return usage_error("--tracker is for --run; --connect goes straight to a server");
	if (o->target) {
		if (net_split_host_port(o->target, o->host, sizeof o->host, &o->port) != 0)
			return usage_error("--connect: '%s' is not HOST:PORT", o->target);
		return 0;
	}
	const char *tracker = o->tracker;
	char env[300];
	if (!tracker && getenv("TVM_TRACKER_HOST") && getenv("TVM_TRACKER_PORT")) {
		snprintf(env, sizeof env, "%s:%s", getenv("TVM_TRACKER_HOST"),
			 getenv("TVM_TRACKER_PORT"));
		tracker = env;
	}
	if (!tracker)
		return usage_error("--run needs --tracker HOST:PORT (or TVM_TRACKER_HOST and "
				   "TVM_TRACKER_PORT)");
	if (net_split_host_port(tracker, o->host, sizeof o->host, &o->port) != 0)
		return usage_error("--tracker: '%s' is not HOST:PORT", tracker);
	return 0;
}

/* ---- the run ---- */

struct run_state {
	rpc_client_t *c;
	uint64_t lib, vm, func;
	rpc_tensor_t tensors[2 * RUN_MAX_ARGS]; /* inputs, then destination outputs */
	int n_tensors;
};

static int remote_fail(struct run_state *s, const char *what)
{
	fprintf(stderr, "tvmrpc-console: %s: %s\n", what, rpc_client_error(s->c));
	return 1;
}

static void tensor_desc(const rpc_tensor_t *t, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s[", npy_dtype_name(t->dtype));
	for (int32_t i = 0; i < t->ndim && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "",
				      (long long)t->shape[i]);
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

/* Copy a remote tensor back and write it as .npy. */
static int save_tensor(struct run_state *s, const rpc_tensor_t *t, const char *path)
{
	uint64_t nbytes;
	if (npy_dtype_size(t->dtype) == 0 || rpc_tensor_nbytes(t, &nbytes) != 0) {
		fprintf(stderr, "tvmrpc-console: %s: the result has dtype code %u bits %u lanes "
			"%u, which .npy files cannot hold here\n", path, t->dtype.code,
			t->dtype.bits, t->dtype.lanes);
		return 1;
	}
	/* The size comes from the server: refuse what this machine cannot hold rather than
	 * let a hostile or broken peer drive us into the OOM killer. */
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	if (pages > 0 && page > 0 && nbytes / 2 > (uint64_t)pages / 4 * (uint64_t)page) {
		fprintf(stderr, "tvmrpc-console: %s: the result has %llu bytes, more than half "
			"of this machine's memory\n", path, (unsigned long long)nbytes);
		return 1;
	}
	void *buf = aligned_alloc_zero(64, nbytes ? (size_t)nbytes : 1);
	if (!buf) {
		fprintf(stderr, "tvmrpc-console: %s: out of memory for %llu bytes\n", path,
			(unsigned long long)nbytes);
		return 1;
	}
	if (rpc_client_copy_from(s->c, t, buf, nbytes) != 0) {
		free(buf);
		return remote_fail(s, "copying the result back");
	}
	char err[512], desc[256];
	int rc = npy_write_file(path, t->dtype, t->ndim, t->shape, buf, (size_t)nbytes, err,
				sizeof err);
	free(buf);
	if (rc != 0) {
		fprintf(stderr, "tvmrpc-console: %s\n", err);
		return 1;
	}
	tensor_desc(t, desc, sizeof desc);
	printf("%s: %s\n", path, desc);
	return 0;
}

static int connect_device(const struct run_opts *o, rpc_client_t **c)
{
	char err[1024];
	int rc;
	if (o->target) {
		rc = rpc_client_connect(o->host, o->port, o->key, &o->client, c, err, sizeof err);
	} else {
		rpc_tracker_request_t req = {o->host, o->port, o->run_key, o->priority, o->retries,
					     o->wait};
		rc = rpc_client_request(&req, &o->client, c, err, sizeof err);
	}
	if (rc != 0) {
		fprintf(stderr, "tvmrpc-console: %s\n", err);
		return 1;
	}
	log_debug("run: connected to %s (%s)", rpc_client_peer(*c), rpc_client_server_key(*c));
	return 0;
}

/* Upload and load the library; find FUNC directly or through a Relax VM. */
static int load_function(struct run_state *s, const struct run_opts *o, uint64_t *timed_module)
{
	char *copy = xstrdup(o->module_path);
	char remote_name[256];
	snprintf(remote_name, sizeof remote_name, "%s", basename(copy));
	free(copy);
	if (rpc_client_upload_file(s->c, o->module_path, remote_name) != 0)
		return remote_fail(s, "uploading the module");
	if (rpc_client_load_module(s->c, remote_name, &s->lib) != 0)
		return remote_fail(s, "loading the module");
	*timed_module = s->lib;
	uint64_t loader;
	int rc = rpc_client_module_get_function(s->c, s->lib, "vm_load_executable", &loader);
	if (rc == 0) {
		/* Relax VM: build the VM, initialise it for the device, then look FUNC up in it. */
		rpc_value_t vm;
		rc = rpc_client_call(s->c, loader, NULL, 0, &vm);
		rpc_client_free_handle(s->c, loader);
		if (rc != 0)
			return remote_fail(s, "vm_load_executable");
		if (vm.type_index != FFI_MODULE) {
			fprintf(stderr, "tvmrpc-console: vm_load_executable returned type %d, not a "
				"module\n", vm.type_index);
			rpc_value_free(&vm);
			return 1;
		}
		s->vm = vm.handle;
		uint64_t init;
		if (rpc_client_module_get_function(s->c, s->vm, "vm_initialization", &init) != 0)
			return remote_fail(s, "vm_initialization");
		/* (device type, id, allocator 2 = pooled), plus the host CPU when the device is
		 * not a CPU, as TVM's VirtualMachine does. */
		session_value_t args[6] = {session_value_int(o->device.device_type),
					   session_value_int(o->device.device_id),
					   session_value_int(2), session_value_int(kDLCPU),
					   session_value_int(0), session_value_int(2)};
		rc = rpc_client_call(s->c, init, args, o->device.device_type == kDLCPU ? 3 : 6, NULL);
		rpc_client_free_handle(s->c, init);
		if (rc != 0)
			return remote_fail(s, "vm_initialization");
		*timed_module = s->vm;
	} else if (rc != RPC_CLIENT_ERR_MISSING) {
		return remote_fail(s, "looking up vm_load_executable");
	}
	rc = rpc_client_module_get_function(s->c, s->vm ? s->vm : s->lib, o->func, &s->func);
	if (rc == RPC_CLIENT_ERR_MISSING) {
		fprintf(stderr, "tvmrpc-console: %s has no function '%s'\n", o->module_path,
			o->func);
		return 1;
	}
	if (rc != 0)
		return remote_fail(s, "looking up the function");
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* TVM's BenchmarkResult summary, in milliseconds. */
static void print_timing(const double *sec, int n, const rpc_time_options_t *t)
{
	double *v = xmalloc(sizeof(double) * (size_t)n);
	double sum = 0;
	for (int i = 0; i < n; i++) {
		v[i] = sec[i] * 1e3;
		sum += v[i];
	}
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	double mean = sum / n, var = 0;
	for (int i = 0; i < n; i++)
		var += (v[i] - mean) * (v[i] - mean);
	double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("Execution time summary (repeat %d x number %d):\n", t->repeat, t->number);
	printf(" %-12s %-12s %-12s %-12s %-12s\n", "mean (ms)", "median (ms)", "max (ms)",
	       "min (ms)", "std (ms)");
	printf(" %-12.4f %-12.4f %-12.4f %-12.4f %-12.4f\n", mean, median, v[n - 1], v[0],
	       sqrt(var / n));
	free(v);
}

static int run_timing(struct run_state *s, const struct run_opts *o, uint64_t module,
		      const session_value_t *args, int nargs)
{
	uint64_t evaluator;
	if (rpc_client_time_evaluator(s->c, module, o->func, o->device, &o->timing,
				      &evaluator) != 0)
		return remote_fail(s, "creating the time evaluator");
	rpc_value_t r;
	int rc = rpc_client_call(s->c, evaluator, args, nargs, &r);
	rpc_client_free_handle(s->c, evaluator);
	if (rc != 0)
		return remote_fail(s, "timing the function");
	int n = (int)(r.size / 8);
	if (r.type_index != FFI_BYTES || n < 1 || r.size % 8 != 0) {
		fprintf(stderr, "tvmrpc-console: the time evaluator returned type %d with %zu "
			"bytes, not float64 seconds\n", r.type_index, r.size);
		rpc_value_free(&r);
		return 1;
	}
	double *sec = xmalloc(r.size);
	memcpy(sec, r.str, r.size);
	print_timing(sec, n, &o->timing);
	free(sec);
	rpc_value_free(&r);
	return 0;
}

/* Write the call's result into the result-style --out files (those without a shape). */
static int save_results(struct run_state *s, const struct run_opts *o, rpc_value_t *ret)
{
	int wanted = 0;
	for (int i = 0; i < o->n_out; i++)
		wanted += !o->outs[i].dest;
	if (ret->type_index == FFI_TENSOR) {
		if (wanted == 0) {
			char desc[256];
			tensor_desc(&ret->tensor, desc, sizeof desc);
			printf("result: tensor %s (not saved: add --out FILE.npy)\n", desc);
			return 0;
		}
		if (wanted > 1) {
			fprintf(stderr, "tvmrpc-console: %s returned one tensor but %d result "
				"--out files were given\n", o->func, wanted);
			return 1;
		}
		for (int i = 0; i < o->n_out; i++)
			if (!o->outs[i].dest)
				return save_tensor(s, &ret->tensor, o->outs[i].path);
	}
	if (ret->type_index == FFI_ARRAY && wanted > 0) {
		/* A tuple result: fetch the first `wanted` items through ffi.ArrayGetItem. */
		int k = 0;
		for (int i = 0; i < o->n_out; i++) {
			if (o->outs[i].dest)
				continue;
			session_value_t args[2] = {session_value_handle(FFI_RPC_OBJECT_REF,
									ret->handle),
						   session_value_int(k++)};
			rpc_value_t item;
			if (rpc_client_call_global(s->c, "ffi.ArrayGetItem", args, 2, &item) != 0)
				return remote_fail(s, "reading the result array");
			int rc = 1;
			if (item.type_index == FFI_TENSOR)
				rc = save_tensor(s, &item.tensor, o->outs[i].path);
			else
				fprintf(stderr, "tvmrpc-console: result item %d has type %d, not a "
					"tensor\n", k - 1, item.type_index);
			if (item.handle && item.type_index >= FFI_STATIC_OBJECT_BEGIN)
				rpc_client_free_handle(s->c, item.handle);
			rpc_value_free(&item);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (wanted > 0) {
		fprintf(stderr, "tvmrpc-console: %s returned %s, so there is nothing to write "
			"to %s; for a kernel that writes into an output argument give its shape: "
			"--out FILE --shape DTYPE[D0,...] or --like FILE.npy\n", o->func,
			ret->type_index == FFI_NONE ? "nothing" : "no tensor",
			o->outs[0].path);
		return 1;
	}
	switch (ret->type_index) {
	case FFI_INT:
		printf("result: %lld\n", (long long)ret->v_int);
		break;
	case FFI_BOOL:
		printf("result: %s\n", ret->v_int ? "True" : "False");
		break;
	case FFI_FLOAT:
		printf("result: %.17g\n", ret->v_float);
		break;
	case FFI_STR:
		printf("result: %s\n", ret->str);
		break;
	default:
		break;
	}
	return 0;
}

static int do_run(const struct run_opts *o)
{
	/* Local files first: a typo should not cost a device reservation. */
	if (access(o->module_path, R_OK) != 0) {
		fprintf(stderr, "tvmrpc-console: %s: %s\n", o->module_path, strerror(errno));
		return 1;
	}
	npy_array_t *in = xcalloc((size_t)o->n_in + 1, sizeof *in);
	struct run_state s;
	memset(&s, 0, sizeof s);
	int rc = 0;
	char err[1024];
	for (int i = 0; i < o->n_in && rc == 0; i++) {
		if (!o->ins[i].scalar && npy_read_file(o->ins[i].path, &in[i], err, sizeof err) != 0) {
			fprintf(stderr, "tvmrpc-console: %s\n", err);
			rc = 1;
		}
	}
	if (rc == 0)
		rc = connect_device(o, &s.c);
	uint64_t timed_module = 0;
	if (rc == 0)
		rc = load_function(&s, o, &timed_module);
	session_value_t args[2 * RUN_MAX_ARGS];
	int nargs = 0;
	/* Inputs in command-line order (tensors copied, scalars as they are); then destination
	 * outputs, allocated. */
	for (int i = 0; i < o->n_in && rc == 0; i++) {
		if (o->ins[i].scalar) {
			args[nargs++] = o->ins[i].value;
			continue;
		}
		rpc_tensor_t *t = &s.tensors[s.n_tensors];
		memset(t, 0, sizeof *t);
		t->device = o->device;
		t->dtype = in[i].dtype;
		t->ndim = in[i].ndim;
		memcpy(t->shape, in[i].shape, sizeof(int64_t) * (size_t)in[i].ndim);
		if (rpc_client_alloc(s.c, t) != 0) {
			rc = remote_fail(&s, o->ins[i].path);
			break;
		}
		s.n_tensors++;
		if (rpc_client_copy_to(s.c, t, in[i].data, in[i].nbytes) != 0)
			rc = remote_fail(&s, o->ins[i].path);
		args[nargs++] = rpc_tensor_arg(t);
	}
	int first_dest = s.n_tensors;
	for (int i = 0; i < o->n_out && rc == 0; i++) {
		if (!o->outs[i].dest)
			continue;
		rpc_tensor_t *t = &s.tensors[s.n_tensors];
		*t = o->outs[i].spec;
		t->device = o->device;
		if (rpc_client_alloc(s.c, t) != 0) {
			rc = remote_fail(&s, o->outs[i].path);
			break;
		}
		s.n_tensors++;
		args[nargs++] = rpc_tensor_arg(t);
	}
	rpc_value_t ret;
	memset(&ret, 0, sizeof ret);
	if (rc == 0 && rpc_client_call(s.c, s.func, args, nargs, &ret) != 0) {
		char what[300];
		snprintf(what, sizeof what, "%s failed", o->func);
		rc = remote_fail(&s, what);
	}
	if (rc == 0)
		rc = save_results(&s, o, &ret);
	if (ret.handle && ret.type_index >= FFI_STATIC_OBJECT_BEGIN && ret.type_index != FFI_STR &&
	    ret.type_index != FFI_BYTES)
		rpc_client_free_handle(s.c, ret.handle);
	rpc_value_free(&ret);
	for (int i = 0, k = first_dest; i < o->n_out && rc == 0; i++) {
		if (!o->outs[i].dest)
			continue;
		rc = save_tensor(&s, &s.tensors[k++], o->outs[i].path);
	}
	if (rc == 0 && o->time)
		rc = run_timing(&s, o, timed_module, args, nargs);

	/* Release in the stock client's order: functions and modules, tensors, then Shutdown.
	 * On a dead session these calls fail fast and rpc_client_close just closes. */
	if (s.c) {
		rpc_client_free_handle(s.c, s.func);
		rpc_client_free_handle(s.c, s.vm);
		rpc_client_free_handle(s.c, s.lib);
		for (int i = 0; i < s.n_tensors; i++)
			rpc_client_free_data(s.c, s.tensors[i].device, s.tensors[i].data);
		rpc_client_close(s.c);
	}
	for (int i = 0; i < o->n_in; i++)
		npy_array_free(&in[i]);
	free(in);
	return rc;
}

int cli_run(const struct cli_args *args, int argc, char **argv)
{
	struct run_opts *o = xmalloc(sizeof *o);
	int rc = parse_args(args, argc, argv, o);
	if (rc == 1) /* --help */
		rc = 0;
	else if (rc == 0)
		rc = do_run(o);
	free(o);
	return rc;
}
