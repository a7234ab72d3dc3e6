/* The OpenCL driver, opened at run time (docs/devices.md): dlopen of the ICD loader
 * libOpenCL.so.1 (or $TVMRPC_OPENCL_LIBRARY) on first use, the entry points this server
 * calls, and the devices chosen as TVM chooses them (GPUs of every platform, else CPUs;
 * OpenCL >= 1.2), each with its context and in-order queue. Nothing is linked at build
 * time, so a board without OpenCL runs the same binary. */
#ifndef TVMRPC_OPENCL_DRIVER_H
#define TVMRPC_OPENCL_DRIVER_H

#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <stdint.h>

#define OPENCL_FUNCTIONS(X)                                                                     \
	X(clGetPlatformIDs) X(clGetDeviceIDs) X(clGetDeviceInfo) X(clCreateContext)             \
	X(clCreateCommandQueue) X(clCreateBuffer) X(clReleaseMemObject) X(clEnqueueReadBuffer)  \
	X(clEnqueueWriteBuffer) X(clEnqueueCopyBuffer) X(clFinish) X(clCreateProgramWithSource) \
	X(clBuildProgram) X(clGetProgramBuildInfo) X(clReleaseProgram) X(clCreateKernel)        \
	X(clReleaseKernel) X(clSetKernelArg) X(clEnqueueNDRangeKernel) X(clEnqueueFillBuffer)  \
	X(clGetEventProfilingInfo) X(clReleaseEvent) X(clWaitForEvents)

typedef struct opencl_driver {
#define OPENCL_FIELD(name) __typeof__(name) *name;
	OPENCL_FUNCTIONS(OPENCL_FIELD)
#undef OPENCL_FIELD
} opencl_driver_t;

typedef struct opencl_device {
	cl_device_id id;
	cl_context context;
	cl_command_queue queue;
} opencl_device_t;

/* Open the driver and choose the devices (once per process). Number of devices, 0 if the
 * loader, a platform or a device is missing. */
int opencl_device_count(void);
/* Why there is no device ("" if there is one). */
const char *opencl_unavailable(void);
/* The driver's entry points; only valid after opencl_device_count() > 0. */
const opencl_driver_t *opencl_driver(void);
/* Device `id` (0 <= id < count), or NULL with "Invalid OpenCL device_id=N." set. */
const opencl_device_t *opencl_device(int id);
/* Kernel time as TVM's OpenCL timer measures it (docs/devices.md): between start and stop,
 * every kernel launched on device `id` leaves its profiling event (queues are created with
 * profiling on), and stop waits for the last one and sums END - START over all of them, so
 * launch and queueing overhead are not counted. One timer per device runs at a time (the
 * time evaluator's); a stop ends it.
 * opencl_timer_event() gives a launch the event slot to fill, or NULL when no timer runs;
 * opencl_timer_record() keeps the filled event. */
int opencl_timer_start(int id);
int opencl_timer_stop(int id, int64_t *nanos);
cl_event *opencl_timer_event(int id, cl_event *slot);
void opencl_timer_record(int id, cl_event ev);
/* TVM's name of an OpenCL error code ("CL_INVALID_VALUE", ...). */
const char *opencl_error_name(cl_int err);
/* Set TVM's error for a failed call: "Check failed: (<expr> == 0) is false: OpenCL Error,
 * code=<err>: <NAME>"; returns -1. */
int opencl_fail(const char *expr, cl_int err);

#endif
