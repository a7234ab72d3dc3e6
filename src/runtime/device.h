/* The device interface (docs/devices.md): one table of operations per device type (CPU in
 * device_cpu.c, OpenCL in device_opencl.c; room for Vulkan and CUDA), and the buffers of
 * non-CPU devices. On those, DLTensor.data is not an address but a handle: the address of a
 * device_buffer_t, which every use validates against the live set kept here. */
#ifndef TVMRPC_DEVICE_H
#define TVMRPC_DEVICE_H

#include <stdint.h>

#include "runtime/ffi.h"

/* DevGetAttr kinds (docs/session-protocol.md §5). */
enum {
	DEVICE_ATTR_EXIST = 0,
	DEVICE_ATTR_MAX_THREADS_PER_BLOCK = 1,
	DEVICE_ATTR_WARP_SIZE = 2,
	DEVICE_ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 3,
	DEVICE_ATTR_COMPUTE_VERSION = 4,
	DEVICE_ATTR_DEVICE_NAME = 5,
	DEVICE_ATTR_MAX_CLOCK_RATE = 6,
	DEVICE_ATTR_MULTI_PROCESSOR_COUNT = 7,
	DEVICE_ATTR_MAX_THREAD_DIMENSIONS = 8,
	DEVICE_ATTR_API_VERSION = 11,
	DEVICE_ATTR_DRIVER_VERSION = 12,
	DEVICE_ATTR_L2_CACHE_SIZE_BYTES = 13,
	DEVICE_ATTR_TOTAL_GLOBAL_MEMORY = 14,
	DEVICE_ATTR_IMAGE_PITCH_ALIGNMENT = 16,
};

/* Operations of one device type. `mem` is the driver's own object (a cl_mem); ids are
 * checked by the caller against count(). Every int function returns 0, or -1 with an ffi
 * error set. */
typedef struct device_api {
	const char *name; /* TVM's name: "cpu", "opencl" */
	int32_t type;     /* DLDeviceType */
	/* Number of devices; 0 when the driver or device is missing (never an error). Opens
	 * the driver on first use. */
	int (*count)(void);
	/* Why count() is 0, for error messages ("" when devices exist). */
	const char *(*unavailable)(void);
	/* Attribute `kind` of device `id` (exists): Int, Str (new reference) or None. */
	int (*attr)(int32_t id, int64_t kind, TVMFFIAny *out);
	int (*alloc)(int32_t id, uint64_t nbytes, void **mem);
	void (*release)(void *mem);
	/* Blocking copies between host memory and a buffer, and within the device (async). */
	int (*write)(int32_t id, void *mem, uint64_t offset, const void *src, uint64_t nbytes);
	int (*read)(int32_t id, void *mem, uint64_t offset, void *dst, uint64_t nbytes);
	int (*copy)(int32_t id, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
		    uint64_t nbytes);
	/* Wait until everything queued on the device finished. */
	int (*sync)(int32_t id);
	/* The device's own timer, as TVM's time evaluator uses it (OpenCL: summed kernel time
	 * from profiling events); NULL where TVM times with the host clock around a sync. */
	int (*timer_start)(int32_t id);
	int (*timer_stop)(int32_t id, int64_t *nanos);
} device_api_t;

/* The operations of a device type, or NULL if this build has none. */
const device_api_t *device_api_find(int32_t type);
extern const device_api_t device_cpu_api;
extern const device_api_t device_opencl_api;

/* Check that a device exists; the error says why not ("no OpenCL platform", ...). */
int device_check(DLDevice dev);
/* DevGetAttr: Exist never fails (0 for missing devices); other kinds of a missing device
 * give an error. Str results are new references. */
int device_attr(DLDevice dev, int64_t kind, TVMFFIAny *out);
int device_sync(DLDevice dev);
/* Start the device's own timer: 1 if it has one, 0 if the host clock times it (then the
 * caller syncs around its clock), -1 on error. */
int device_timer_start(DLDevice dev);
/* Stop it and give the measured time. */
int device_timer_stop(DLDevice dev, int64_t *nanos);
/* The calling thread's current device of a type (DevSetDevice, __tvm_set_device): kernels
 * launch there. Setting checks that the device exists; the default id is 0. */
int device_set_current(DLDevice dev);
int32_t device_current(int32_t type);
/* One line naming every device of this server ("cpu; opencl0: <name>"), in buf. */
void device_describe(char *buf, size_t size);

/* A buffer of a non-CPU device. It is an object (type FFI_OBJECT): tensors viewing it hold
 * a reference, and the last release frees the driver's memory. */
typedef struct device_buffer {
	TVMFFIObject header;
	const device_api_t *api;
	DLDevice dev;
	uint64_t size;
	void *mem;
	const void *client; /* the session that allocated it for its client, or NULL */
} device_buffer_t;

/* New buffer of at least one byte (nbytes 0 allowed). New reference, or NULL with error. */
device_buffer_t *device_buffer_new(DLDevice dev, uint64_t nbytes);
/* The live buffer with this handle, or NULL (no error set). Borrowed. */
device_buffer_t *device_buffer_find(uint64_t handle);
/* Resolve a client handle: live, on `dev`, and [offset, offset + nbytes) inside it.
 * Borrowed buffer, or NULL with a ValueError. */
device_buffer_t *device_buffer_check(uint64_t handle, DLDevice dev, uint64_t offset,
				     uint64_t nbytes);
/* Release the client references `client` holds (a session ending). */
void device_buffer_release_client(const void *client);
static inline uint64_t device_buffer_handle(const device_buffer_t *b)
{
	return (uint64_t)(uintptr_t)b;
}

/* TVMBackendAllocWorkspace/FreeWorkspace for a non-CPU device (docs/devices.md): a buffer
 * handle kernels take like tensor data. NULL / -1 with an ffi error. */
void *device_workspace_alloc(int device_type, int device_id, uint64_t nbytes);
int device_workspace_free(void *handle);

/* A tensor whose data is a new buffer on `dev` (any device type; CPU memory is zeroed). */
ffi_tensor_t *device_tensor_alloc(const int64_t *shape, int32_t ndim, DLDataType dtype,
				  DLDevice dev);
/* Copy nbytes between two tensors' data, which may be on the CPU or a device: `from` and
 * `to` give device, data and byte_offset (their shapes are not used). Handles are checked.
 * Host<->device copies block; device<->device copies are queued. */
int device_copy(const DLTensor *from, const DLTensor *to, uint64_t nbytes);

#endif
