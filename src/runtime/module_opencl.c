/* Kernels of an `opencl` module (docs/devices.md §4): argument conversion (checked: count,
 * type indices, live buffers of the current device), NDRange from the launch values (zero
 * extents launch one group as TVM does; negative or huge ones are refused), and programs
 * built per (kernel, device) on first use under the module's lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/module_opencl.h"
#include "runtime/opencl_driver.h"
#include "runtime/opencl_payload.h"
#include "base/xalloc.h"

/* Largest extent per launch axis: above it a value is a mistake, not a launch. */
#define MAX_EXTENT (1ll << 31)

struct built {
	cl_program program;
	cl_kernel kernel;
	char *error; /* the first build's failure, repeated to every later call */
};

typedef struct opencl_module {
	opencl_payload_t payload;
	pthread_mutex_t lock;
	struct built *built; /* [kernel * num_devices + device], allocated on first launch */
	int num_devices;
} opencl_module_t;

struct kernel_ref {
	opencl_module_t *module;
	size_t index;
};

static char *build_log(cl_program program, cl_device_id dev)
{
	size_t size = 0;
	const opencl_driver_t *cl = opencl_driver();
	if (cl->clGetProgramBuildInfo(program, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) != CL_SUCCESS)
		return xstrdup("(no build log)");
	char *log = xcalloc(1, size + 1);
	cl->clGetProgramBuildInfo(program, dev, CL_PROGRAM_BUILD_LOG, size, log, NULL);
	return log;
}

static void build(const opencl_kernel_info_t *k, const opencl_device_t *d, struct built *b)
{
	const opencl_driver_t *cl = opencl_driver();
	cl_int err;
	char text[2048];
	const char *source = k->source;
	b->program = cl->clCreateProgramWithSource(d->context, 1, (const char **)&source,
						   &k->source_len, &err);
	if (!b->program) {
		snprintf(text, sizeof text, "Check failed: (err == 0) is false: OpenCL Error, code=%d: "
			 "%s", (int)err, opencl_error_name(err));
		b->error = xstrdup(text);
		return;
	}
	err = cl->clBuildProgram(b->program, 1, &d->id, NULL, NULL, NULL);
	if (err != CL_SUCCESS) {
		char *log = build_log(b->program, d->id);
		snprintf(text, sizeof text, "OpenCL build error for device=%p\nError: %s\n%s",
			 (void *)d->id, opencl_error_name(err), log);
		free(log);
		b->error = xstrdup(text);
		return;
	}
	b->kernel = cl->clCreateKernel(b->program, k->name, &err);
	if (!b->kernel) {
		snprintf(text, sizeof text, "Check failed: (err == 0) is false: OpenCL Error, code=%d: "
			 "%s (kernel %s)", (int)err, opencl_error_name(err), k->name);
		b->error = xstrdup(text);
	}
}

/* The kernel built for device `dev`, building it on first use; NULL with the error set. */
static cl_kernel kernel_for(opencl_module_t *m, size_t index, int dev)
{
	const opencl_device_t *d = opencl_device(dev);
	if (!d)
		return NULL;
	pthread_mutex_lock(&m->lock);
	if (!m->built) {
		m->num_devices = opencl_device_count();
		m->built = xcalloc(m->payload.num_kernels * (size_t)m->num_devices, sizeof *m->built);
	}
	struct built *b = &m->built[index * (size_t)m->num_devices + (size_t)dev];
	if (!b->kernel && !b->error)
		build(&m->payload.kernels[index], d, b);
	cl_kernel k = b->kernel;
	if (!k)
		ffi_error_set("InternalError", "%s", b->error);
	pthread_mutex_unlock(&m->lock);
	return k;
}

static int set_arg(cl_kernel k, const opencl_kernel_info_t *info, uint32_t i, const TVMFFIAny *a,
		   int dev)
{
	DLDataType t = info->arg_types[i];
	union { cl_mem mem; int32_t i32; int64_t i64; uint32_t u32; float f32; double f64; } v;
	size_t size = 0;
	int is_int = a->type_index == FFI_INT || a->type_index == FFI_BOOL;
	if (t.code == kDLOpaqueHandle) {
		v.mem = NULL;
		size = sizeof v.mem;
		if (a->type_index == FFI_OPAQUE_PTR) {
			DLDevice want = {kDLOpenCL, dev};
			device_buffer_t *b = device_buffer_check(a->v_uint64, want, 0, 0);
			if (!b)
				return -1;
			v.mem = b->mem;
		} else if (a->type_index != FFI_NONE) {
			goto bad;
		}
	} else if (t.code == kDLFloat) {
		if (a->type_index != FFI_FLOAT)
			goto bad;
		if (t.bits == 32)
			v.f32 = (float)a->v_float64, size = 4;
		else
			v.f64 = a->v_float64, size = 8;
	} else {
		if (!is_int)
			goto bad;
		if (t.bits == 64)
			v.i64 = a->v_int64, size = 8;
		else if (t.code == kDLUInt)
			v.u32 = (uint32_t)a->v_int64, size = 4;
		else
			v.i32 = (int32_t)a->v_int64, size = 4;
	}
	cl_int err = opencl_driver()->clSetKernelArg(k, i, size, &v);
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
bad:
	ffi_error_set("TypeError", "opencl kernel %s: argument %u has type index %d, which does "
		      "not fit its parameter type (code %u, bits %u)", info->name, i, a->type_index,
		      t.code, t.bits);
	return -1;
}

/* NDRange from the launch values after the kernel arguments. */
static int launch_size(const opencl_kernel_info_t *info, const TVMFFIAny *vals, cl_uint *work_dim,
		       size_t global[3], size_t local[3])
{
	int64_t ws[6] = {1, 1, 1, 1, 1, 1};
	int dims = 1;
	for (uint32_t j = 0; j < info->num_axes; j++) {
		const TVMFFIAny *a = &vals[j];
		if (a->type_index != FFI_INT && a->type_index != FFI_BOOL) {
			ffi_error_set("TypeError", "opencl kernel %s: launch value %u is not an integer",
				      info->name, j);
			return -1;
		}
		if (a->v_int64 < 0 || a->v_int64 > MAX_EXTENT) {
			ffi_error_set("ValueError", "opencl kernel %s: launch extent %lld is out of "
				      "range [0, %lld]", info->name, (long long)a->v_int64, MAX_EXTENT);
			return -1;
		}
		int axis = info->axes[j];
		if (a->v_int64 != 0) /* 0 stays 1: the kernel's own bounds checks make it a no-op */
			ws[axis] = a->v_int64;
		if (axis % 3 + 1 > dims)
			dims = axis % 3 + 1;
	}
	*work_dim = (cl_uint)dims;
	for (int d = 0; d < 3; d++) {
		local[d] = (size_t)ws[d + 3];
		if (__builtin_mul_overflow((size_t)ws[d], (size_t)ws[d + 3], &global[d])) {
			ffi_error_set("ValueError", "opencl kernel %s: %lld groups of %lld work items "
				      "exceed this host's size_t", info->name, (long long)ws[d],
				      (long long)ws[d + 3]);
			return -1;
		}
	}
	return 0;
}

static int kernel_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)result;
	struct kernel_ref *ref = ((ffi_function_t *)self)->data;
	const opencl_kernel_info_t *info = &ref->module->payload.kernels[ref->index];
	int64_t want = (int64_t)info->num_args + info->num_axes + info->dyn_shared_memory;
	if (n != want) {
		ffi_error_set("TypeError", "opencl kernel %s expects %lld arguments (%u parameters, "
			      "%u launch extents%s), got %d", info->name, (long long)want,
			      info->num_args, info->num_axes,
			      info->dyn_shared_memory ? ", shared memory size" : "", n);
		return -1;
	}
	cl_uint work_dim;
	size_t global[3], local[3];
	if (launch_size(info, args + info->num_args, &work_dim, global, local))
		return -1;
	int dev = device_current(kDLOpenCL);
	cl_kernel k = kernel_for(ref->module, ref->index, dev);
	if (!k)
		return -1;
	/* One cl_kernel per (kernel, device): setting arguments and enqueueing must not
	 * interleave with another thread's launch of the same kernel. */
	pthread_mutex_lock(&ref->module->lock);
	int rc = 0;
	for (uint32_t i = 0; i < info->num_args && rc == 0; i++)
		rc = set_arg(k, info, i, &args[i], dev);
	if (rc == 0) {
		cl_event ev, *timed = opencl_timer_event(dev, &ev); /* the time evaluator's */
		cl_int err = opencl_driver()->clEnqueueNDRangeKernel(
			opencl_device(dev)->queue, k, work_dim, NULL, global, local, 0, NULL, timed);
		if (err != CL_SUCCESS)
			rc = opencl_fail("e", err);
		else if (timed)
			opencl_timer_record(dev, ev);
	}
	pthread_mutex_unlock(&ref->module->lock);
	return rc;
}

static ffi_function_t *module_get_function(ffi_module_t *self, const char *name)
{
	opencl_module_t *m = self->impl;
	long i = opencl_payload_find(&m->payload, name);
	if (i < 0)
		return NULL;
	struct kernel_ref *ref = xmalloc(sizeof *ref);
	ref->module = m;
	ref->index = (size_t)i;
	return ffi_function_new(kernel_call, ref, free, &self->header);
}

static void module_destroy(ffi_module_t *self)
{
	opencl_module_t *m = self->impl;
	const opencl_driver_t *cl = opencl_driver();
	for (size_t i = 0; m->built && i < m->payload.num_kernels * (size_t)m->num_devices; i++) {
		if (m->built[i].kernel)
			cl->clReleaseKernel(m->built[i].kernel);
		if (m->built[i].program)
			cl->clReleaseProgram(m->built[i].program);
		free(m->built[i].error);
	}
	free(m->built);
	opencl_payload_clear(&m->payload);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const ffi_module_vtable_t opencl_vtable = {
	.kind = "opencl",
	.get_function = module_get_function,
	.destroy = module_destroy,
};

ffi_module_t *module_opencl_load(const uint8_t *payload, size_t size)
{
	opencl_module_t *m = xcalloc(1, sizeof *m);
	if (opencl_payload_parse(payload, size, &m->payload)) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return ffi_module_new(&opencl_vtable, m);
}
