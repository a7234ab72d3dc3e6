/* The runtime.* globals of TVM's CPU runtime that are not about parameters: tensor allocation,
 * views and copies, device streams (a CPU has none: creation gives 0, the rest does nothing),
 * the thread pool size, the CPU timer, RuntimeEnabled and LoadMetaDataFromJSON; plus the
 * argument checks the contrib globals share (runtime_globals.h). Errors carry the kinds TVM
 * raises: InternalError for its failed checks, TypeError for arguments of the wrong type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/device.h"
#include "runtime/ffi.h"
#include "runtime/ffi_json.h"
#include "runtime/runtime_globals.h"
#include "runtime/session.h"
#include "runtime/vm.h"
#include "base/xalloc.h"

/* ---- shared checks ---- */

int runtime_tensor_host(const char *fn, const DLTensor *t, uint64_t *count, uint64_t *bytes,
			char **data)
{
	if (t->device.device_type != kDLCPU) {
		ffi_error_set("ValueError", "%s: only CPU tensors are supported (device type %d)", fn,
			      (int)t->device.device_type);
		return -1;
	}
	if (t->ndim < 0 || ffi_dltensor_nbytes(t, bytes) != 0 || !ffi_dltensor_is_compact(t)) {
		ffi_error_set("ValueError", "%s: the tensor is not a valid compact tensor", fn);
		return -1;
	}
	*count = 1;
	for (int32_t i = 0; i < t->ndim; i++)
		*count *= (uint64_t)t->shape[i]; /* cannot overflow: nbytes did not */
	if (*bytes && !t->data) {
		ffi_error_set("ValueError", "%s: the tensor has no data", fn);
		return -1;
	}
	*data = t->data ? (char *)t->data + t->byte_offset : NULL;
	return 0;
}

int runtime_arg_float(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, double *out)
{
	if (i < n && args[i].type_index == FFI_FLOAT) {
		*out = args[i].v_float64;
		return 0;
	}
	int64_t v;
	if (i < n && (args[i].type_index == FFI_INT || args[i].type_index == FFI_BOOL)) {
		ffi_arg_int(fn, args, n, i, &v);
		*out = (double)v;
		return 0;
	}
	if (i >= n)
		ffi_error_set("TypeError", "%s: expected at least %d arguments, got %d", fn, i + 1, n);
	else
		ffi_error_set("TypeError", "%s: argument %d must be a float (type index %d given)",
			      fn, i, args[i].type_index);
	return -1;
}

void runtime_dtype_name(DLDataType t, char *buf, size_t size)
{
	static const char *const codes[] = {
		"int", "uint", "float", "handle", "bfloat", "complex", "bool", "float8_e3m4",
		"float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz",
		"float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "float6_e2m3fn", "float6_e3m2fn",
		"float4_e2m1fn"};
	if (t.code == 6 && t.bits == 8 && t.lanes == 1) {
		snprintf(buf, size, "bool");
		return;
	}
	const char *code = t.code < sizeof codes / sizeof *codes ? codes[t.code] : "custom";
	int w = snprintf(buf, size, "%s", code);
	if (t.code < 7 && !(t.code == 6 && t.bits == 8) && t.code != kDLOpaqueHandle)
		w += snprintf(buf + w, size > (size_t)w ? size - (size_t)w : 0, "%u", t.bits);
	if (t.lanes > 1 && (size_t)w < size)
		snprintf(buf + w, size - (size_t)w, "x%u", t.lanes);
}

/* ---- typed argument helpers (TypeError as tvm-ffi's argument conversion) ---- */

static int arg_device(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, DLDevice *out)
{
	if (i < n && args[i].type_index == FFI_DEVICE) {
		*out = args[i].v_device;
		return 0;
	}
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`Device`", i, fn);
	return -1;
}

/* A Tensor object (not a borrowed DLTensor*: TVM's Tensor parameters refuse those). */
static int arg_tensor_object(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i,
			     ffi_tensor_t **out)
{
	if (i < n && args[i].type_index == FFI_TENSOR && args[i].v_obj) {
		*out = (ffi_tensor_t *)args[i].v_obj;
		return 0;
	}
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`ffi.Tensor`", i, fn);
	return -1;
}

/* A Shape, or an Array of integers (which tvm-ffi converts to a Shape). *dims is borrowed
 * from the Shape or malloc'ed (*owned set) from the Array. */
static int arg_shape(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i,
		     const int64_t **dims, int32_t *ndim, int64_t **owned)
{
	*owned = NULL;
	if (i < n && args[i].type_index == FFI_SHAPE && args[i].v_obj) {
		const ffi_shape_t *s = (const ffi_shape_t *)args[i].v_obj;
		*dims = s->data;
		*ndim = (int32_t)s->size;
		return s->size <= INT32_MAX ? 0 : -1;
	}
	if (i < n && args[i].type_index == FFI_ARRAY && args[i].v_obj) {
		const ffi_array_t *a = (const ffi_array_t *)args[i].v_obj;
		*owned = xcalloc(a->size ? a->size : 1, sizeof(int64_t));
		for (size_t k = 0; k < a->size; k++) {
			if (ffi_any_as_int(&a->items[k], &(*owned)[k]) != 0 || a->size > INT32_MAX) {
				free(*owned);
				*owned = NULL;
				ffi_error_set("TypeError", "%s: argument %d must be a shape of integers",
					      fn, i);
				return -1;
			}
		}
		*dims = *owned;
		*ndim = (int32_t)a->size;
		return 0;
	}
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`ffi.Shape`", i, fn);
	return -1;
}

/* A DataType, or a string naming one ("float32"), which tvm-ffi parses (ValueError if bad). */
static int arg_dtype(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, DLDataType *out)
{
	size_t len;
	const char *s = i < n ? ffi_any_as_str(&args[i], &len) : NULL;
	if (s)
		return vm_dtype_parse(s, len, out);
	if (i < n && args[i].type_index == FFI_DATATYPE) {
		*out = args[i].v_dtype;
		return 0;
	}
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`DataType`", i, fn);
	return -1;
}

/* void*: an opaque pointer or None. */
static int arg_pointer(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i,
		       uint64_t *out)
{
	if (i < n && (args[i].type_index == FFI_OPAQUE_PTR || args[i].type_index == FFI_NONE)) {
		*out = args[i].type_index == FFI_NONE ? 0 : args[i].v_uint64;
		return 0;
	}
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`void*`", i, fn);
	return -1;
}

/* ---- devices and streams ---- */

/* TVM's names of device types, as in "Device API cuda is not enabled." */
static const char *device_name(int type)
{
	static const char *const names[] = {
		[1] = "cpu",     [2] = "cuda",     [3] = "cuda_host", [4] = "opencl",
		[5] = "sdaccel", [6] = "aocl",     [7] = "vulkan",    [8] = "metal",
		[9] = "vpi",     [10] = "rocm",    [11] = "rocm_host", [12] = "ext_dev",
		[13] = "cuda_managed", [14] = "oneapi", [15] = "webgpu", [16] = "hexagon"};
	if (type >= 128)
		return "rpc";
	if (type > 0 && type < (int)(sizeof names / sizeof *names) && names[type])
		return names[type];
	return "unknown";
}

/* The device APIs of this server: cpu, and opencl where a driver and device exist
 * (docs/devices.md); without them this server answers as TVM's runtime built without it. */
static int device_api_check(int type)
{
	const device_api_t *api = device_api_find(type);
	if (api && (type == kDLCPU || api->count() > 0))
		return 0;
	ffi_error_set("InternalError", "Check failed: (allow_missing) is false: Device API %s is not "
		      "enabled.", device_name(type));
	return -1;
}

/* device_api.cpu returns the address of TVM's DeviceAPI object; ours names this table, which
 * a client can only hold and pass back. */
static const struct cpu_device_api {
	const char *name;
} cpu_device_api = {"cpu"};

static int global_device_api_cpu(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	*result = ffi_any_ptr((void *)&cpu_device_api);
	return 0;
}
FFI_REGISTER_GLOBAL("device_api.cpu", global_device_api_cpu)

/* The stream set by Device_SetStream / TVMSetStream: kept per thread, as tvm-ffi's
 * TVMFFIEnvSetStream, though no CPU kernel reads it. */
static _Thread_local uint64_t cpu_current_stream;

/* (dev, stream...) for the Device_* stream globals: the device and up to two stream ints. */
static int stream_args(const char *sig, const TVMFFIAny *args, int32_t n, int32_t want,
		       uint64_t *streams)
{
	DLDevice dev;
	if (ffi_arg_count(sig, n, want + 1) || arg_device(sig, args, n, 0, &dev))
		return -1;
	for (int32_t i = 0; i < want; i++) {
		int64_t v;
		if (args[i + 1].type_index != FFI_INT && args[i + 1].type_index != FFI_BOOL) {
			ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: "
				      "`%s`. Expected `int`", i + 1, sig);
			return -1;
		}
		ffi_arg_int(sig, args, n, i + 1, &v);
		streams[i] = (uint64_t)v;
	}
	return device_api_check(dev.device_type);
}

static int global_stream_create(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (stream_args("runtime.Device_StreamCreate(0: Device) -> int", args, n, 0, NULL))
		return -1;
	*result = ffi_any_int(0); /* a CPU has no streams: the null stream */
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.Device_StreamCreate", global_stream_create)

static int global_stream_free(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	uint64_t s;
	return stream_args("runtime.Device_StreamFree(0: Device, 1: int) -> void", args, n, 1, &s);
}
FFI_REGISTER_GLOBAL("runtime.Device_StreamFree", global_stream_free)

static int global_stream_sync(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	uint64_t s;
	if (stream_args("runtime.Device_StreamSync(0: Device, 1: int) -> void", args, n, 1, &s))
		return -1;
	return args[0].v_device.device_type == kDLCPU ? 0 : device_sync(args[0].v_device);
}
FFI_REGISTER_GLOBAL("runtime.Device_StreamSync", global_stream_sync)

static int global_stream_sync_from_to(void *self, const TVMFFIAny *args, int32_t n,
				      TVMFFIAny *result)
{
	(void)self;
	(void)result;
	uint64_t s[2];
	return stream_args("runtime.Device_StreamSyncFromTo(0: Device, 1: int, 2: int) -> void",
			   args, n, 2, s);
}
FFI_REGISTER_GLOBAL("runtime.Device_StreamSyncFromTo", global_stream_sync_from_to)

static int global_set_stream(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	uint64_t s;
	if (stream_args("runtime.Device_SetStream(0: Device, 1: int) -> void", args, n, 1, &s))
		return -1;
	cpu_current_stream = s;
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.Device_SetStream", global_set_stream)

/* runtime.TVMSetStream(device_type, device_id, stream: void*). */
static int global_tvm_set_stream(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char sig[] = "runtime.TVMSetStream(0: int, 1: int, 2: void*) -> void";
	int64_t type, id;
	uint64_t stream;
	if (ffi_arg_count(sig, n, 3) || ffi_arg_int(sig, args, n, 0, &type) ||
	    ffi_arg_int(sig, args, n, 1, &id) ||
	    arg_pointer(sig, args, n, 2, &stream) || device_api_check((int)type))
		return -1;
	cpu_current_stream = stream;
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.TVMSetStream", global_tvm_set_stream)

/* ---- thread pool ---- */

/* What runtime.NumThreads answers: the pool size until config_threadpool says otherwise (its
 * answer may then be 0 or negative, as TVM's). */
static int threads_configured, threads_used;

/* CPUs with the highest and the lowest cpuinfo_max_freq (big and LITTLE cores); a machine
 * whose cores all run at one frequency (or that does not say) has only big cores. */
static void threads_count_big_little(int *big, int *little)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long long hi = 0, lo = 0;
	*big = *little = 0;
	for (long pass = 0; pass < 2; pass++) {
		for (long i = 0; i < (cpus > 0 ? cpus : 1) && i < 1024; i++) {
			char path[96];
			long long f = 0;
			snprintf(path, sizeof path,
				 "/sys/devices/system/cpu/cpu%ld/cpufreq/cpuinfo_max_freq", i);
			FILE *fp = fopen(path, "r");
			if (fp) {
				if (fscanf(fp, "%lld", &f) != 1)
					f = -1;
				fclose(fp);
			}
			if (pass == 0) {
				hi = i == 0 || f > hi ? f : hi;
				lo = i == 0 || f < lo ? f : lo;
			} else {
				*big += f == hi;
				*little += hi != lo && f == lo;
			}
		}
	}
	if (*big + *little != (cpus > 0 ? (int)cpus : 1))
		*big = (cpus > 0 ? (int)cpus : 1) - *little; /* three or more frequencies */
}

static int global_num_threads(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.NumThreads() -> int", n, 0))
		return -1;
	(void)args;
	(void)n;
	*result = ffi_any_int(threads_configured ? threads_used : backend_thread_count());
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.NumThreads", global_num_threads)

/* The cpus argument: an Array of strings holding numbers. Returns its size or -1. */
static int threads_cpu_list(const TVMFFIAny *arg)
{
	if (arg->type_index != FFI_ARRAY || !arg->v_obj) {
		ffi_error_set("TypeError", "runtime.config_threadpool: argument 2 must be an Array of "
			      "strings");
		return -1;
	}
	const ffi_array_t *a = (const ffi_array_t *)arg->v_obj;
	for (size_t i = 0; i < a->size; i++) {
		size_t len;
		const char *s = ffi_any_as_str(&a->items[i], &len);
		if (!s) {
			ffi_error_set("TypeError", "runtime.config_threadpool: argument 2 must be an "
				      "Array of strings");
			return -1;
		}
		if (len == 0 || strspn(s, "0123456789") != len) {
			ffi_error_set("InternalError", "The CPU core information '%.40s' is not a "
				      "number.", s);
			return -1;
		}
	}
	return (int)a->size;
}

/* config_threadpool(mode, nthreads[, cpus]): mode 1 big cores, -1 little cores, -2/-3 the
 * listed cpus, anything else all; a non-zero nthreads wins; never more than the pool. Later
 * parallel kernels use that many tasks. Thread affinity is left to the OS. */
static int global_config_threadpool(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char fn[] = "runtime.config_threadpool";
	int64_t mode, nthreads;
	int cpus = 0, big, little;
	if (ffi_arg_int(fn, args, n, 0, &mode) || ffi_arg_int(fn, args, n, 1, &nthreads))
		return -1;
	if (n >= 3 && (cpus = threads_cpu_list(&args[2])) < 0)
		return -1;
	int pool = backend_thread_count();
	int used = pool;
	threads_count_big_little(&big, &little);
	if (mode == 1)
		used = big;
	else if (mode == -1)
		used = little;
	else if (mode == -2 || mode == -3)
		used = cpus;
	if ((int32_t)nthreads != 0)
		used = (int32_t)nthreads;
	threads_used = used < pool ? used : pool;
	threads_configured = 1;
	backend_thread_limit_set(threads_used > 0 ? threads_used : 1);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.config_threadpool", global_config_threadpool)

/* ---- runtime.timer.cpu ---- */

/* A CPU timer (runtime.CPUTimerNode): start and stop times on the monotonic clock. A client
 * can only hold it; TVM's own timers are used by code inside the server. */
typedef struct runtime_timer {
	TVMFFIObject header;
	struct timespec start, stop;
} runtime_timer_t;

static void timer_deleter(void *self, int flags)
{
	(void)flags;
	free(self);
}

static int global_timer_cpu(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.timer.cpu(0: Device) -> runtime.TimerNode", n, 1))
		return -1;
	DLDevice dev;
	if (arg_device("runtime.timer.cpu(0: Device) -> runtime.TimerNode", args, n, 0, &dev))
		return -1;
	runtime_timer_t *t = xcalloc(1, sizeof *t);
	ffi_object_init(&t->header, RUNTIME_TYPE_CPU_TIMER, timer_deleter);
	clock_gettime(CLOCK_MONOTONIC, &t->start);
	t->stop = t->start;
	*result = ffi_any_object(&t->header);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.timer.cpu", global_timer_cpu)

/* ---- runtime.RuntimeEnabled ---- */

static int prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* The global whose presence says a runtime is built in, "" for always, NULL if unknown. */
static const char *runtime_factory(const char *target)
{
	static const char *const table[][2] = {
		{"cpu", ""}, {"cuda", "device_api.cuda"}, {"gpu", "device_api.cuda"},
		{"cl", "device_api.opencl"}, {"opencl", "device_api.opencl"},
		{"mtl", "device_api.metal"}, {"metal", "device_api.metal"},
		{"tflite", "target.runtime.tflite"}, {"vulkan", "device_api.vulkan"},
		{"rpc", "device_api.rpc"}, {"hexagon", "device_api.hexagon"}};
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (strcmp(target, table[i][0]) == 0)
			return table[i][1];
	if (prefix(target, "nvptx"))
		return "device_api.cuda";
	if (prefix(target, "rocm"))
		return "device_api.rocm";
	if (prefix(target, "llvm"))
		return "codegen.llvm_target_enabled"; /* a compiler hook: never on a server */
	return NULL;
}

static int global_runtime_enabled(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.RuntimeEnabled(0: str) -> bool", n, 1))
		return -1;
	const char *target;
	size_t len;
	if (ffi_arg_str("runtime.RuntimeEnabled", args, n, 0, &target, &len))
		return -1;
	const char *factory = runtime_factory(target);
	if (!factory) {
		ffi_error_set("InternalError", "Unknown optional runtime %.200s", target);
		return -1;
	}
	/* Present is enough, as in TVM (device_api.rpc is registered, though refused). */
	ffi_function_t *fn = factory[0] ? ffi_registry_get(factory) : NULL;
	int enabled = !factory[0] || (fn && !prefix(target, "llvm"));
	if (fn)
		ffi_object_release(&fn->header);
	*result = ffi_any_bool(enabled);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.RuntimeEnabled", global_runtime_enabled)

/* ---- tensors ---- */

/* Largest tensor TVMTensorAllocWithScope gives a client: the session's memory cap if one is
 * set, and never more than the machine's memory (the zeroing would touch every page). */
static int tensor_size_allowed(uint64_t nbytes)
{
	const session_options_t *opt = session_current();
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
	if (opt && opt->memory_cap && nbytes > opt->memory_cap) {
		ffi_error_set("MemoryError", "a tensor of %llu bytes exceeds the session memory cap",
			      (unsigned long long)nbytes);
		return -1;
	}
	if (nbytes > ram) {
		ffi_error_set("MemoryError", "a tensor of %llu bytes exceeds this machine's memory",
			      (unsigned long long)nbytes);
		return -1;
	}
	return 0;
}

static int scope_check(const TVMFFIAny *arg)
{
	size_t len;
	const char *scope = arg->type_index == FFI_NONE ? "" : ffi_any_as_str(arg, &len);
	if (!scope) {
		ffi_error_set("TypeError", "runtime.TVMTensorAllocWithScope: argument 3 must be a "
			      "string or None");
		return -1;
	}
	if (scope[0] && strcmp(scope, "global") != 0) {
		ffi_error_set("InternalError", "Device does not support allocate data space with "
			      "specified memory scope: %.100s", scope);
		return -1;
	}
	return 0;
}

/* TVMTensorAllocWithScope(shape, dtype, device, scope) -> Tensor (zeroed). */
static int global_tensor_alloc(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const char fn[] = "runtime.TVMTensorAllocWithScope";
	const int64_t *dims;
	int64_t *owned;
	int32_t ndim;
	DLDataType dtype;
	DLDevice dev;
	if (ffi_arg_count("runtime.TVMTensorAllocWithScope(0: ffi.Shape, 1: DataType, 2: Device, "
			  "3: Optional<str>) -> ffi.Tensor", n, 4) ||
	    arg_dtype(fn, args, n, 1, &dtype) || arg_device(fn, args, n, 2, &dev) ||
	    scope_check(&args[3]) || arg_shape(fn, args, n, 0, &dims, &ndim, &owned))
		return -1;
	DLTensor probe = {.ndim = ndim, .dtype = dtype, .shape = (int64_t *)dims};
	uint64_t nbytes;
	int rc = device_api_check(dev.device_type);
	if (rc == 0 && ffi_dltensor_nbytes(&probe, &nbytes) != 0) {
		ffi_error_set("ValueError", "%s: invalid shape", fn);
		rc = -1;
	}
	ffi_tensor_t *t = NULL;
	if (rc == 0 && tensor_size_allowed(nbytes) == 0)
		t = device_tensor_alloc(dims, ndim, dtype, dev);
	free(owned);
	if (!t)
		return -1;
	*result = ffi_any_object(&t->header);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.TVMTensorAllocWithScope", global_tensor_alloc)

/* Tensor.CreateView(shape, dtype, relative_byte_offset): the view keeps the tensor alive. */
static int global_tensor_view(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.TVMTensorCreateView(0: ffi.Tensor, 1: ffi.Shape, 2: DataType, "
			  "3: int) -> ffi.Tensor", n, 4))
		return -1;
	static const char fn[] = "runtime.TVMTensorCreateView(0: ffi.Tensor, 1: ffi.Shape, "
				 "2: DataType, 3: int) -> ffi.Tensor";
	ffi_tensor_t *src;
	const int64_t *dims;
	int64_t *owned, offset;
	int32_t ndim;
	DLDataType dtype;
	if (arg_tensor_object(fn, args, n, 0, &src) || arg_dtype(fn, args, n, 2, &dtype) ||
	    ffi_arg_int(fn, args, n, 3, &offset) || arg_shape(fn, args, n, 1, &dims, &ndim, &owned))
		return -1;
	DLTensor view = {.ndim = ndim, .dtype = dtype, .shape = (int64_t *)dims};
	uint64_t have, want, end;
	int rc = -1;
	if (!ffi_dltensor_is_compact(&src->dl))
		ffi_error_set("InternalError", "Can only create view for compact tensor");
	else if (ffi_dltensor_nbytes(&src->dl, &have) != 0 || ffi_dltensor_nbytes(&view, &want) != 0)
		ffi_error_set("ValueError", "%s: invalid shape", "runtime.TVMTensorCreateView");
	else if (__builtin_add_overflow((uint64_t)offset, want, &end) || end > have)
		ffi_error_set("ValueError", "View of %llu bytes at byte %llu exceeds the %llu bytes "
			      "of the tensor", (unsigned long long)want,
			      (unsigned long long)offset, (unsigned long long)have);
	else
		rc = 0;
	if (rc == 0) {
		ffi_tensor_t *t = ffi_tensor_view(src->dl.data, dims, ndim, dtype, src->dl.device,
						  &src->header);
		t->dl.byte_offset = src->dl.byte_offset + (uint64_t)offset;
		*result = ffi_any_object(&t->header);
	}
	free(owned);
	return rc;
}
FFI_REGISTER_GLOBAL("runtime.TVMTensorCreateView", global_tensor_view)

/* The (tensor, data pointer, nbytes) of TVMTensorCopyFromBytes / TVMTensorCopyToBytes: the
 * size must be the tensor's, and the client's range one the session handed out. */
static int bytes_copy_args(const char *fn, const TVMFFIAny *args, int32_t n, char **tensor_data,
			   void **host, uint64_t *nbytes)
{
	DLTensor *t;
	uint64_t addr, count, have;
	int64_t size;
	if (ffi_arg_tensor(fn, args, n, 0, &t) || arg_pointer(fn, args, n, 1, &addr) ||
	    ffi_arg_int(fn, args, n, 2, &size) || device_api_check(t->device.device_type))
		return -1;
	if (ffi_dltensor_nbytes(t, &have) != 0 || (uint64_t)size != have) {
		ffi_error_set("InternalError", "%s: size mismatch", fn);
		return -1;
	}
	if (!ffi_dltensor_is_compact(t)) {
		ffi_error_set("InternalError", "%s only support contiguous array for now", fn);
		return -1;
	}
	if (t->device.device_type != kDLCPU) {
		/* A device tensor: the caller copies through device_copy, which checks it. */
		*tensor_data = NULL;
	} else if (runtime_tensor_host(fn, t, &count, &have, tensor_data)) {
		return -1;
	}
	if (have && !addr) {
		ffi_error_set("ValueError", "%s: the data pointer is null", fn);
		return -1;
	}
	*nbytes = have;
	return session_client_region(addr, have, host);
}

static int global_copy_from_bytes(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.TVMTensorCopyFromBytes(0: DLTensor*, 1: void*, 2: int) "
			  "-> void", n, 3))
		return -1;
	(void)result;
	char *data;
	void *host;
	uint64_t nbytes;
	if (bytes_copy_args("TensorCopyFromBytes", args, n, &data, &host, &nbytes))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (t->device.device_type != kDLCPU) {
		DLTensor from = {.data = host, .device = {kDLCPU, 0}};
		return device_copy(&from, t, nbytes);
	}
	if (nbytes)
		memmove(data, host, nbytes);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.TVMTensorCopyFromBytes", global_copy_from_bytes)

static int global_copy_to_bytes(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.TVMTensorCopyToBytes(0: DLTensor*, 1: void*, 2: int) -> "
			  "void", n, 3))
		return -1;
	(void)result;
	char *data;
	void *host;
	uint64_t nbytes;
	if (bytes_copy_args("ArrayCopyToBytes", args, n, &data, &host, &nbytes))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (t->device.device_type != kDLCPU) {
		DLTensor to = {.data = host, .device = {kDLCPU, 0}};
		return device_copy(t, &to, nbytes);
	}
	if (nbytes)
		memmove(host, data, nbytes);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.TVMTensorCopyToBytes", global_copy_to_bytes)

static int global_copy_from_to(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.TVMTensorCopyFromTo(0: DLTensor*, 1: DLTensor*) -> void", n, 2))
		return -1;
	(void)result;
	static const char fn[] = "runtime.TVMTensorCopyFromTo";
	DLTensor *from, *to;
	uint64_t from_size, to_size, count;
	char *src, *dst;
	if (ffi_arg_tensor(fn, args, n, 0, &from) || ffi_arg_tensor(fn, args, n, 1, &to))
		return -1;
	if (ffi_dltensor_nbytes(from, &from_size) != 0 || ffi_dltensor_nbytes(to, &to_size) != 0 ||
	    from_size != to_size) {
		ffi_error_set("InternalError", "TVMTensorCopyFromTo: The size in bytes must exactly "
			      "match.");
		return -1;
	}
	int type = from->device.device_type != kDLCPU ? from->device.device_type
						       : to->device.device_type;
	if (device_api_check(type))
		return -1;
	if (!ffi_dltensor_is_compact(from) || !ffi_dltensor_is_compact(to)) {
		ffi_error_set("InternalError", "CopyDataFromTo only support contiguous array for now");
		return -1;
	}
	if (from->device.device_type != kDLCPU || to->device.device_type != kDLCPU) {
		if (from->device.device_type != kDLCPU && to->device.device_type != kDLCPU &&
		    from->device.device_type != to->device.device_type) {
			ffi_error_set("InternalError", "Can not copy across different dev types "
				      "directly");
			return -1;
		}
		return device_copy(from, to, from_size);
	}
	if (runtime_tensor_host(fn, from, &count, &from_size, &src) ||
	    runtime_tensor_host(fn, to, &count, &to_size, &dst))
		return -1;
	if (from_size)
		memmove(dst, src, from_size);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.TVMTensorCopyFromTo", global_copy_from_to)

/* Same device and the same byte range [data + byte_offset, + nbytes). */
static int global_storage_shared(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.TVMTensorIsStorageShared(0: ffi.Tensor, 1: ffi.Tensor) "
			  "-> bool", n, 2))
		return -1;
	static const char fn[] = "runtime.TVMTensorIsStorageShared(0: ffi.Tensor, 1: ffi.Tensor) "
				 "-> bool";
	ffi_tensor_t *a, *b;
	uint64_t na = 0, nb = 0;
	if (arg_tensor_object(fn, args, n, 1, &b) || arg_tensor_object(fn, args, n, 0, &a))
		return -1;
	const DLTensor *x = &a->dl, *y = &b->dl;
	if (x->device.device_type != y->device.device_type ||
	    x->device.device_id != y->device.device_id) {
		*result = ffi_any_bool(0);
		return 0;
	}
	ffi_dltensor_nbytes(x, &na);
	ffi_dltensor_nbytes(y, &nb);
	uintptr_t bx = (uintptr_t)x->data + x->byte_offset, by = (uintptr_t)y->data + y->byte_offset;
	*result = ffi_any_bool(bx == by && na == nb);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.TVMTensorIsStorageShared", global_storage_shared)

/* ---- runtime.LoadMetaDataFromJSON ---- */

/* runtime.FunctionInfo: what a device module records about each kernel. A client can only
 * hold it (TVM offers no remote accessor besides reflection). */
typedef struct function_info {
	TVMFFIObject header;
	TVMFFIAny name;              /* str */
	ffi_array_t *arg_types;      /* DataType values */
	ffi_array_t *launch_tags;    /* str values */
	ffi_array_t *arg_extra_tags; /* int values */
} function_info_t;

static void function_info_deleter(void *self, int flags)
{
	(void)flags;
	function_info_t *f = self;
	ffi_any_release(&f->name);
	ffi_object_release(&f->arg_types->header);
	ffi_object_release(&f->launch_tags->header);
	ffi_object_release(&f->arg_extra_tags->header);
	free(f);
}

/* obj[key] of a parsed JSON object: the value, NULL when absent (KeyError set if required). */
static const TVMFFIAny *json_field(const ffi_map_t *obj, const char *key, int required)
{
	TVMFFIAny k = {.type_index = FFI_RAW_STR};
	k.v_c_str = key;
	const TVMFFIAny *v = ffi_map_get(obj, &k);
	if (!v && required)
		ffi_error_set("KeyError", "key is not in Map");
	return v;
}

static int json_cast_error(const TVMFFIAny *v, const char *to)
{
	ffi_error_set("TypeError", "Cannot convert from type `%s` to `%s`",
		      v->type_index == FFI_MAP ? "ffi.Map" : v->type_index == FFI_ARRAY ? "ffi.Array"
		      : v->type_index == FFI_INT ? "int" : v->type_index == FFI_FLOAT ? "float"
		      : v->type_index == FFI_BOOL ? "bool" : v->type_index == FFI_NONE ? "None"
		      : "str", to);
	return -1;
}

static const ffi_map_t *json_object(const TVMFFIAny *v)
{
	return v->type_index == FFI_MAP ? (const ffi_map_t *)v->v_obj : NULL;
}

static const ffi_array_t *json_array(const TVMFFIAny *v)
{
	return v->type_index == FFI_ARRAY ? (const ffi_array_t *)v->v_obj : NULL;
}

/* Fill out with the elements of a JSON array of strings (as_dtype: parsed to DataType). */
static int info_strings(const TVMFFIAny *v, int as_dtype, ffi_array_t *out)
{
	const ffi_array_t *a = json_array(v);
	if (!a)
		return json_cast_error(v, "ffi.Array");
	for (size_t i = 0; i < a->size; i++) {
		size_t len;
		const char *s = ffi_any_as_str(&a->items[i], &len);
		if (!s)
			return json_cast_error(&a->items[i], "str");
		if (!as_dtype) {
			TVMFFIAny copy = a->items[i];
			ffi_any_retain(&copy);
			ffi_array_push(out, copy);
			continue;
		}
		TVMFFIAny d = {.type_index = FFI_DATATYPE};
		if (vm_dtype_parse(s, len, &d.v_dtype))
			return -1;
		ffi_array_push(out, d);
	}
	return 0;
}

static int info_ints(const TVMFFIAny *v, ffi_array_t *out)
{
	const ffi_array_t *a = json_array(v);
	if (!a)
		return json_cast_error(v, "ffi.Array");
	for (size_t i = 0; i < a->size; i++) {
		int64_t x;
		if (a->items[i].type_index != FFI_INT && a->items[i].type_index != FFI_BOOL)
			return json_cast_error(&a->items[i], "int");
		ffi_any_as_int(&a->items[i], &x);
		ffi_array_push(out, ffi_any_int(x));
	}
	return 0;
}

/* One FunctionInfo from its JSON object: name and arg_types required, launch_param_tags (or
 * the older thread_axis_tags) and arg_extra_tags optional. */
static function_info_t *info_from_json(const TVMFFIAny *v)
{
	const ffi_map_t *obj = json_object(v);
	if (!obj) {
		json_cast_error(v, "Map<Any, Any>");
		return NULL;
	}
	function_info_t *f = xcalloc(1, sizeof *f);
	ffi_object_init(&f->header, RUNTIME_TYPE_FUNCTION_INFO, function_info_deleter);
	f->arg_types = ffi_array_new();
	f->launch_tags = ffi_array_new();
	f->arg_extra_tags = ffi_array_new();
	const TVMFFIAny *name = json_field(obj, "name", 1), *types, *tags, *extra;
	int rc = -1;
	if (name && !ffi_any_as_str(name, NULL))
		json_cast_error(name, "str");
	else if (name && (types = json_field(obj, "arg_types", 1)) != NULL &&
		 info_strings(types, 1, f->arg_types) == 0) {
		tags = json_field(obj, "launch_param_tags", 0);
		tags = tags ? tags : json_field(obj, "thread_axis_tags", 0);
		extra = json_field(obj, "arg_extra_tags", 0);
		rc = (tags && info_strings(tags, 0, f->launch_tags)) ||
		     (extra && info_ints(extra, f->arg_extra_tags)) ? -1 : 0;
	}
	if (name) {
		f->name = *name;
		ffi_any_retain(&f->name);
	}
	if (rc != 0) {
		ffi_object_release(&f->header);
		return NULL;
	}
	return f;
}

/* LoadMetaDataFromJSON(text) -> Map<str, FunctionInfo> from a tvm_meta.json document. */
static int global_load_metadata(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.LoadMetaDataFromJSON(0: str) -> Map<str, "
			  "runtime.FunctionInfo>", n, 1))
		return -1;
	const char *text;
	size_t len;
	TVMFFIAny root;
	if (ffi_arg_str("runtime.LoadMetaDataFromJSON", args, n, 0, &text, &len) ||
	    ffi_json_parse(text, len, &root))
		return -1;
	const ffi_map_t *obj = json_object(&root), *funcs = NULL;
	const TVMFFIAny *info = NULL;
	if (!obj)
		json_cast_error(&root, "Map<Any, Any>");
	else if ((info = json_field(obj, "func_info", 1)) != NULL && !(funcs = json_object(info)))
		json_cast_error(info, "Map<Any, Any>");
	ffi_map_t *out = funcs ? ffi_map_new(FFI_MAP) : NULL;
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (out && ffi_map_next(funcs, &pos, &key, &value)) {
		function_info_t *f = info_from_json(value);
		TVMFFIAny k = *key;
		if (!f) {
			ffi_object_release(ffi_map_object(out));
			out = NULL;
			break;
		}
		ffi_any_retain(&k);
		ffi_map_set(out, k, ffi_any_object(&f->header));
	}
	ffi_any_release(&root);
	if (!out)
		return -1;
	*result = ffi_any_object(ffi_map_object(out));
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.LoadMetaDataFromJSON", global_load_metadata)
