/* Opens the OpenCL ICD loader at run time and chooses the devices (docs/devices.md): GPUs
 * of all platforms in clGetPlatformIDs order, or, if there are none, CPU devices; devices
 * older than OpenCL 1.2 are skipped. One context per platform, one in-order queue per
 * device. State lives for the process (opened once, never closed). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/opencl_driver.h"
#include "base/log.h"
#include "base/xalloc.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static opencl_driver_t driver;
static opencl_device_t devices[MAX_DEVICES];
static int num_devices;
static char unavailable[512] = "not initialised";

static int open_library(void)
{
	const char *path = getenv("TVMRPC_OPENCL_LIBRARY");
	if (!path || !path[0])
		path = "libOpenCL.so.1";
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *why = dlerror();
		snprintf(unavailable, sizeof unavailable, "cannot open the OpenCL ICD loader %s "
			 "(%s); install an ICD loader (ocl-icd-libopencl1) and the vendor's driver, "
			 "and check with clinfo", path, why ? why : "unknown error");
		return -1;
	}
	void *sym;
#define OPENCL_RESOLVE(name)                                                                    \
	sym = dlsym(lib, #name);                                                                \
	memcpy(&driver.name, &sym, sizeof sym);                                                 \
	if (!sym) {                                                                             \
		snprintf(unavailable, sizeof unavailable, "the OpenCL library %s lacks %s", path, \
			 #name);                                                                \
		return -1;                                                                      \
	}
	OPENCL_FUNCTIONS(OPENCL_RESOLVE)
#undef OPENCL_RESOLVE
	return 0;
}

/* "OpenCL M.m ..." -> M*10+m, 0 if unreadable. */
static int device_version(cl_device_id dev)
{
	char text[128] = "";
	int major = 0, minor = 0;
	if (driver.clGetDeviceInfo(dev, CL_DEVICE_VERSION, sizeof text - 1, text, NULL) != CL_SUCCESS ||
	    sscanf(text, "OpenCL %d.%d", &major, &minor) != 2)
		return 0;
	return major * 10 + minor;
}

/* Add the usable devices of `type` on one platform, with one context for them. */
static void add_platform(cl_platform_id platform, cl_device_type type)
{
	cl_device_id found[MAX_DEVICES];
	cl_uint n = 0;
	if (driver.clGetDeviceIDs(platform, type, MAX_DEVICES, found, &n) != CL_SUCCESS || n == 0)
		return;
	if (n > MAX_DEVICES)
		n = MAX_DEVICES;
	cl_device_id keep[MAX_DEVICES];
	cl_uint k = 0;
	for (cl_uint i = 0; i < n; i++) {
		if (device_version(found[i]) >= 12)
			keep[k++] = found[i];
		else
			log_warn("opencl: skipping a device older than OpenCL 1.2");
	}
	if (k == 0 || num_devices + (int)k > MAX_DEVICES)
		return;
	cl_int err;
	cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
	cl_context ctx = driver.clCreateContext(props, k, keep, NULL, NULL, &err);
	if (!ctx) {
		log_warn("opencl: clCreateContext failed: %s", opencl_error_name(err));
		return;
	}
	for (cl_uint i = 0; i < k; i++) {
		cl_command_queue q = driver.clCreateCommandQueue(ctx, keep[i],
							      CL_QUEUE_PROFILING_ENABLE, &err);
		if (!q) {
			log_warn("opencl: clCreateCommandQueue failed: %s", opencl_error_name(err));
			continue;
		}
		devices[num_devices++] = (opencl_device_t){keep[i], ctx, q};
	}
}

static void init(void)
{
	if (open_library())
		return;
	cl_platform_id platforms[MAX_PLATFORMS];
	cl_uint np = 0;
	cl_int err = driver.clGetPlatformIDs(MAX_PLATFORMS, platforms, &np);
	if (err != CL_SUCCESS || np == 0) {
		snprintf(unavailable, sizeof unavailable, "no OpenCL platform (clGetPlatformIDs: %s); "
			 "install the vendor's OpenCL driver (an ICD file in /etc/OpenCL/vendors) and "
			 "check with clinfo", err == CL_SUCCESS ? "0 platforms" : opencl_error_name(err));
		return;
	}
	if (np > MAX_PLATFORMS)
		np = MAX_PLATFORMS;
	for (cl_uint i = 0; i < np; i++)
		add_platform(platforms[i], CL_DEVICE_TYPE_GPU);
	if (num_devices == 0) {
		for (cl_uint i = 0; i < np; i++)
			add_platform(platforms[i], CL_DEVICE_TYPE_CPU);
		if (num_devices)
			log_info("opencl: no GPU device; using the CPU OpenCL device");
	}
	if (num_devices == 0)
		snprintf(unavailable, sizeof unavailable, "no OpenCL 1.2 GPU or CPU device on %u "
			 "platform%s (check with clinfo)", np, np == 1 ? "" : "s");
	else
		unavailable[0] = '\0';
}

int opencl_device_count(void)
{
	pthread_once(&init_once, init);
	return num_devices;
}

const char *opencl_unavailable(void)
{
	pthread_once(&init_once, init);
	return unavailable;
}

const opencl_driver_t *opencl_driver(void)
{
	return &driver;
}

const opencl_device_t *opencl_device(int id)
{
	if (id >= 0 && id < opencl_device_count())
		return &devices[id];
	if (opencl_device_count() == 0)
		ffi_error_set("RuntimeError", "No OpenCL device: %s", unavailable);
	else
		ffi_error_set("ValueError", "Invalid OpenCL device_id=%d.", id);
	return NULL;
}

const char *opencl_error_name(cl_int err)
{
	static const char *const names[] = {
		"CL_SUCCESS", "CL_DEVICE_NOT_FOUND", "CL_DEVICE_NOT_AVAILABLE",
		"CL_COMPILER_NOT_AVAILABLE", "CL_MEM_OBJECT_ALLOCATION_FAILURE",
		"CL_OUT_OF_RESOURCES", "CL_OUT_OF_HOST_MEMORY", "CL_PROFILING_INFO_NOT_AVAILABLE",
		"CL_MEM_COPY_OVERLAP", "CL_IMAGE_FORMAT_MISMATCH", "CL_IMAGE_FORMAT_NOT_SUPPORTED",
		"CL_BUILD_PROGRAM_FAILURE", "CL_MAP_FAILURE", "CL_MISALIGNED_SUB_BUFFER_OFFSET",
		"CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST", "CL_COMPILE_PROGRAM_FAILURE",
		"CL_LINKER_NOT_AVAILABLE", "CL_LINK_PROGRAM_FAILURE", "CL_DEVICE_PARTITION_FAILED",
		"CL_KERNEL_ARG_INFO_NOT_AVAILABLE"};
	static const char *const invalid[] = {
		"CL_INVALID_VALUE", "CL_INVALID_DEVICE_TYPE", "CL_INVALID_PLATFORM",
		"CL_INVALID_DEVICE", "CL_INVALID_CONTEXT", "CL_INVALID_QUEUE_PROPERTIES",
		"CL_INVALID_COMMAND_QUEUE", "CL_INVALID_HOST_PTR", "CL_INVALID_MEM_OBJECT",
		"CL_INVALID_IMAGE_FORMAT_DESCRIPTOR", "CL_INVALID_IMAGE_SIZE", "CL_INVALID_SAMPLER",
		"CL_INVALID_BINARY", "CL_INVALID_BUILD_OPTIONS", "CL_INVALID_PROGRAM",
		"CL_INVALID_PROGRAM_EXECUTABLE", "CL_INVALID_KERNEL_NAME",
		"CL_INVALID_KERNEL_DEFINITION", "CL_INVALID_KERNEL", "CL_INVALID_ARG_INDEX",
		"CL_INVALID_ARG_VALUE", "CL_INVALID_ARG_SIZE", "CL_INVALID_KERNEL_ARGS",
		"CL_INVALID_WORK_DIMENSION", "CL_INVALID_WORK_GROUP_SIZE",
		"CL_INVALID_WORK_ITEM_SIZE", "CL_INVALID_GLOBAL_OFFSET",
		"CL_INVALID_EVENT_WAIT_LIST", "CL_INVALID_EVENT", "CL_INVALID_OPERATION",
		"CL_INVALID_GL_OBJECT", "CL_INVALID_BUFFER_SIZE", "CL_INVALID_MIP_LEVEL",
		"CL_INVALID_GLOBAL_WORK_SIZE"};
	if (err <= 0 && -err < (cl_int)(sizeof names / sizeof *names))
		return names[-err];
	if (err <= -30 && -err - 30 < (cl_int)(sizeof invalid / sizeof *invalid))
		return invalid[-err - 30];
	if (err == -1001)
		return "CL_PLATFORM_NOT_FOUND_KHR";
	return "Unknown OpenCL error code";
}

int opencl_fail(const char *expr, cl_int err)
{
	ffi_error_set("InternalError", "Check failed: (%s == 0) is false: OpenCL Error, code=%d: %s",
		      expr, (int)err, opencl_error_name(err));
	return -1;
}
