/* OpenCL's entry in the device interface (docs/devices.md): attributes read from the device
 * (the values TVM's DevGetAttr gives), buffers as cl_mem, blocking host copies and queued
 * device copies on the device's in-order queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/opencl_driver.h"

static int cl_count(void)
{
	return opencl_device_count();
}

static const char *cl_unavailable(void)
{
	return opencl_unavailable();
}

static int info(cl_device_id dev, cl_device_info what, void *out, size_t size)
{
	memset(out, 0, size);
	cl_int err = opencl_driver()->clGetDeviceInfo(dev, what, size, out, NULL);
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
}

static int info_str(cl_device_id dev, cl_device_info what, TVMFFIAny *out)
{
	char text[256];
	if (info(dev, what, text, sizeof text - 1))
		return -1;
	text[sizeof text - 1] = '\0';
	*out = ffi_any_object(&ffi_str_new(text, strlen(text))->header);
	return 0;
}

/* "OpenCL 3.0 PoCL ..." -> "3.0". */
static int compute_version(cl_device_id dev, TVMFFIAny *out)
{
	char text[256];
	if (info(dev, CL_DEVICE_VERSION, text, sizeof text - 1))
		return -1;
	const char *v = strncmp(text, "OpenCL ", 7) == 0 ? text + 7 : text;
	size_t len = strcspn(v, " ");
	*out = ffi_any_object(&ffi_str_new(v, len)->header);
	return 0;
}

static int thread_dimensions(cl_device_id dev, TVMFFIAny *out)
{
	size_t dims[3];
	char text[96];
	if (info(dev, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims, sizeof dims))
		return -1;
	int len = snprintf(text, sizeof text, "[%zu, %zu, %zu]", dims[0], dims[1], dims[2]);
	*out = ffi_any_object(&ffi_str_new(text, (size_t)len)->header);
	return 0;
}

static int cl_attr(int32_t id, int64_t kind, TVMFFIAny *out)
{
	const opencl_device_t *d = opencl_device(id);
	if (!d)
		return -1;
	cl_device_id dev = d->id;
	size_t sz;
	cl_ulong ul;
	cl_uint ui;
	*out = ffi_any_none();
	switch (kind) {
	case DEVICE_ATTR_MAX_THREADS_PER_BLOCK:
		if (info(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, &sz, sizeof sz))
			return -1;
		*out = ffi_any_int((int64_t)sz);
		return 0;
	case DEVICE_ATTR_WARP_SIZE: {
		const char *env = getenv("TVM_OPENCL_WARP_SIZE");
		*out = ffi_any_int(env && atoi(env) > 0 ? atoi(env) : 1);
		return 0;
	}
	case DEVICE_ATTR_MAX_SHARED_MEMORY_PER_BLOCK:
	case DEVICE_ATTR_L2_CACHE_SIZE_BYTES:
	case DEVICE_ATTR_TOTAL_GLOBAL_MEMORY:
		if (info(dev, kind == DEVICE_ATTR_MAX_SHARED_MEMORY_PER_BLOCK ? CL_DEVICE_LOCAL_MEM_SIZE
			      : kind == DEVICE_ATTR_L2_CACHE_SIZE_BYTES ? CL_DEVICE_GLOBAL_MEM_CACHE_SIZE
									: CL_DEVICE_GLOBAL_MEM_SIZE,
			 &ul, sizeof ul))
			return -1;
		*out = ffi_any_int((int64_t)ul);
		return 0;
	case DEVICE_ATTR_COMPUTE_VERSION:
		return compute_version(dev, out);
	case DEVICE_ATTR_DEVICE_NAME:
		return info_str(dev, CL_DEVICE_NAME, out);
	case DEVICE_ATTR_DRIVER_VERSION:
		return info_str(dev, CL_DRIVER_VERSION, out);
	case DEVICE_ATTR_MAX_CLOCK_RATE:
	case DEVICE_ATTR_MULTI_PROCESSOR_COUNT:
		if (info(dev, kind == DEVICE_ATTR_MAX_CLOCK_RATE ? CL_DEVICE_MAX_CLOCK_FREQUENCY
								 : CL_DEVICE_MAX_COMPUTE_UNITS,
			 &ui, sizeof ui))
			return -1;
		*out = ffi_any_int(kind == DEVICE_ATTR_MAX_CLOCK_RATE ? (int64_t)ui * 1000 : ui);
		return 0;
	case DEVICE_ATTR_MAX_THREAD_DIMENSIONS:
		return thread_dimensions(dev, out);
	case DEVICE_ATTR_API_VERSION:
		*out = ffi_any_int(CL_TARGET_OPENCL_VERSION);
		return 0;
	case DEVICE_ATTR_IMAGE_PITCH_ALIGNMENT:
		/* CL_DEVICE_IMAGE_PITCH_ALIGNMENT(_KHR); 0 (or no answer) means 64, as in TVM. */
		ui = 0;
		opencl_driver()->clGetDeviceInfo(dev, 0x104A, sizeof ui, &ui, NULL);
		*out = ffi_any_int(ui ? ui : 64);
		return 0;
	default:
		return 0; /* kinds OpenCL does not answer: None */
	}
}

static int cl_alloc(int32_t id, uint64_t nbytes, void **mem)
{
	const opencl_device_t *d = opencl_device(id);
	if (!d)
		return -1;
	cl_int err = CL_INVALID_BUFFER_SIZE;
	cl_mem m = nbytes <= SIZE_MAX ? opencl_driver()->clCreateBuffer(d->context, CL_MEM_READ_WRITE,
									 (size_t)nbytes, NULL, &err)
				      : NULL;
	if (!m) {
		ffi_error_set("MemoryError", "cannot allocate %llu bytes on opencl:%d: %s",
			      (unsigned long long)nbytes, (int)id, opencl_error_name(err));
		return -1;
	}
	/* Zeroed, as CPU blocks are: no stale device memory reaches a client. The in-order
	 * queue runs the fill before anything later reads or writes the buffer. */
	const cl_uchar zero = 0;
	err = opencl_driver()->clEnqueueFillBuffer(d->queue, m, &zero, 1, 0, (size_t)nbytes, 0,
						   NULL, NULL);
	if (err != CL_SUCCESS) {
		opencl_driver()->clReleaseMemObject(m);
		return opencl_fail("e", err);
	}
	*mem = m;
	return 0;
}

static void cl_release(void *mem)
{
	opencl_driver()->clReleaseMemObject(mem);
}

static int cl_write(int32_t id, void *mem, uint64_t offset, const void *src, uint64_t nbytes)
{
	const opencl_device_t *d = opencl_device(id);
	if (!d)
		return -1;
	cl_int err = opencl_driver()->clEnqueueWriteBuffer(d->queue, mem, CL_TRUE, (size_t)offset,
							   (size_t)nbytes, src, 0, NULL, NULL);
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
}

static int cl_read(int32_t id, void *mem, uint64_t offset, void *dst, uint64_t nbytes)
{
	const opencl_device_t *d = opencl_device(id);
	if (!d)
		return -1;
	cl_int err = opencl_driver()->clEnqueueReadBuffer(d->queue, mem, CL_TRUE, (size_t)offset,
							  (size_t)nbytes, dst, 0, NULL, NULL);
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
}

static int cl_copy(int32_t id, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
		   uint64_t nbytes)
{
	const opencl_device_t *d = opencl_device(id);
	if (!d)
		return -1;
	cl_int err = opencl_driver()->clEnqueueCopyBuffer(d->queue, src, dst, (size_t)src_offset,
							  (size_t)dst_offset, (size_t)nbytes, 0,
							  NULL, NULL);
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
}

static int cl_sync(int32_t id)
{
	const opencl_device_t *d = opencl_device(id);
	if (!d)
		return -1;
	cl_int err = opencl_driver()->clFinish(d->queue);
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
}

const device_api_t device_opencl_api = {
	.name = "opencl",
	.type = kDLOpenCL,
	.count = cl_count,
	.unavailable = cl_unavailable,
	.attr = cl_attr,
	.alloc = cl_alloc,
	.release = cl_release,
	.write = cl_write,
	.read = cl_read,
	.copy = cl_copy,
	.sync = cl_sync,
	.timer_start = opencl_timer_start,
	.timer_stop = opencl_timer_stop,
};
