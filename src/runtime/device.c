/* The device layer over the per-type tables (docs/devices.md): existence and attribute
 * checks, the live set of non-CPU buffers by handle (sorted, found by bisection, under a
 * lock: kernels and the session may run on different threads), device tensors and copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "runtime/device.h"
#include "base/xalloc.h"

const device_api_t *device_api_find(int32_t type)
{
	if (type == kDLCPU)
		return &device_cpu_api;
	if (type == kDLOpenCL)
		return &device_opencl_api;
	return NULL;
}

int device_check(DLDevice dev)
{
	const device_api_t *api = device_api_find((int32_t)dev.device_type);
	if (!api) {
		ffi_error_set("ValueError", "device type %d is not available on this server (it "
			      "supports cpu and opencl)", (int)dev.device_type);
		return -1;
	}
	int n = api->count();
	if (dev.device_id >= 0 && dev.device_id < n)
		return 0;
	if (n == 0)
		ffi_error_set("RuntimeError", "no %s device on this server: %s", api->name,
			      api->unavailable());
	else
		ffi_error_set("ValueError", "Invalid device id %d. (%s has %d device%s)",
			      (int)dev.device_id, api->name, n, n == 1 ? "" : "s");
	return -1;
}

int device_attr(DLDevice dev, int64_t kind, TVMFFIAny *out)
{
	*out = ffi_any_none();
	const device_api_t *api = device_api_find((int32_t)dev.device_type);
	if (kind == DEVICE_ATTR_EXIST) {
		int n = api ? api->count() : 0;
		*out = ffi_any_int(dev.device_id >= 0 && dev.device_id < n);
		return 0;
	}
	if (device_check(dev))
		return -1;
	return api->attr(dev.device_id, kind, out);
}

int device_sync(DLDevice dev)
{
	if (device_check(dev))
		return -1;
	return device_api_find((int32_t)dev.device_type)->sync(dev.device_id);
}

int device_timer_start(DLDevice dev)
{
	if (device_check(dev))
		return -1;
	const device_api_t *api = device_api_find((int32_t)dev.device_type);
	if (!api->timer_start)
		return 0;
	return api->timer_start(dev.device_id) == 0 ? 1 : -1;
}

int device_timer_stop(DLDevice dev, int64_t *nanos)
{
	return device_api_find((int32_t)dev.device_type)->timer_stop(dev.device_id, nanos);
}

/* Per thread, as in TVM: a session and a pool worker do not share a current device. */
#define CURRENT_TYPES 32
static _Thread_local int32_t current_ids[CURRENT_TYPES];

int device_set_current(DLDevice dev)
{
	if (device_check(dev))
		return -1;
	if ((uint32_t)dev.device_type < CURRENT_TYPES)
		current_ids[dev.device_type] = dev.device_id;
	return 0;
}

int32_t device_current(int32_t type)
{
	return (uint32_t)type < CURRENT_TYPES ? current_ids[type] : 0;
}

void device_describe(char *buf, size_t size)
{
	int used = snprintf(buf, size, "cpu");
	int n = device_opencl_api.count();
	for (int i = 0; i < n && used >= 0 && (size_t)used < size; i++) {
		TVMFFIAny name;
		const char *text = NULL;
		if (device_opencl_api.attr(i, DEVICE_ATTR_DEVICE_NAME, &name) == 0)
			text = ffi_any_as_str(&name, NULL);
		used += snprintf(buf + used, size - (size_t)used, "; opencl%d: %s", i,
				 text ? text : "?");
		ffi_any_release(&name);
	}
}

/* ---- live buffers ---- */

static pthread_mutex_t buffers_lock = PTHREAD_MUTEX_INITIALIZER;
static device_buffer_t **buffers;
static size_t num_buffers, cap_buffers;

/* Index of the first buffer whose handle is >= h; called with the lock held. */
static size_t buffer_index(uint64_t h)
{
	size_t lo = 0, hi = num_buffers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (device_buffer_handle(buffers[mid]) < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void buffer_deleter(void *self, int flags)
{
	(void)flags;
	device_buffer_t *b = self;
	pthread_mutex_lock(&buffers_lock);
	size_t at = buffer_index(device_buffer_handle(b));
	if (at < num_buffers && buffers[at] == b) {
		memmove(buffers + at, buffers + at + 1, (num_buffers - at - 1) * sizeof *buffers);
		num_buffers--;
	}
	if (num_buffers == 0) {
		free(buffers);
		buffers = NULL;
		cap_buffers = 0;
	}
	pthread_mutex_unlock(&buffers_lock);
	b->api->release(b->mem);
	free(b);
}

device_buffer_t *device_buffer_new(DLDevice dev, uint64_t nbytes)
{
	if (dev.device_type == kDLCPU) {
		ffi_error_set("ValueError", "CPU memory is not held in device buffers");
		return NULL;
	}
	if (device_check(dev))
		return NULL;
	const device_api_t *api = device_api_find((int32_t)dev.device_type);
	void *mem;
	if (api->alloc(dev.device_id, nbytes ? nbytes : 1, &mem))
		return NULL;
	device_buffer_t *b = xcalloc(1, sizeof *b);
	ffi_object_init(&b->header, FFI_OBJECT, buffer_deleter);
	b->api = api;
	b->dev = dev;
	b->size = nbytes;
	b->mem = mem;
	pthread_mutex_lock(&buffers_lock);
	if (num_buffers == cap_buffers) {
		cap_buffers = cap_buffers ? cap_buffers * 2 : 16;
		buffers = xrealloc(buffers, cap_buffers * sizeof *buffers);
	}
	size_t at = buffer_index(device_buffer_handle(b));
	memmove(buffers + at + 1, buffers + at, (num_buffers - at) * sizeof *buffers);
	buffers[at] = b;
	num_buffers++;
	pthread_mutex_unlock(&buffers_lock);
	return b;
}

device_buffer_t *device_buffer_find(uint64_t handle)
{
	pthread_mutex_lock(&buffers_lock);
	size_t at = buffer_index(handle);
	device_buffer_t *b =
		at < num_buffers && device_buffer_handle(buffers[at]) == handle ? buffers[at] : NULL;
	pthread_mutex_unlock(&buffers_lock);
	return b;
}

device_buffer_t *device_buffer_check(uint64_t handle, DLDevice dev, uint64_t offset,
				     uint64_t nbytes)
{
	device_buffer_t *b = device_buffer_find(handle);
	if (!b) {
		ffi_error_set("ValueError", "0x%llx is not a live %s buffer of this server (freed "
			      "or never allocated)", (unsigned long long)handle,
			      device_api_find((int32_t)dev.device_type)
				      ? device_api_find((int32_t)dev.device_type)->name
				      : "device");
		return NULL;
	}
	if (b->dev.device_type != dev.device_type || b->dev.device_id != dev.device_id) {
		ffi_error_set("ValueError", "buffer 0x%llx lives on %s:%d, not on device (%d, %d)",
			      (unsigned long long)handle, b->api->name, (int)b->dev.device_id,
			      (int)dev.device_type, (int)dev.device_id);
		return NULL;
	}
	if (offset > b->size || nbytes > b->size - offset) {
		ffi_error_set("ValueError", "%llu bytes at offset %llu exceed the %llu-byte %s "
			      "buffer 0x%llx", (unsigned long long)nbytes,
			      (unsigned long long)offset, (unsigned long long)b->size, b->api->name,
			      (unsigned long long)handle);
		return NULL;
	}
	return b;
}

void device_buffer_release_client(const void *client)
{
	for (;;) {
		device_buffer_t *found = NULL;
		pthread_mutex_lock(&buffers_lock);
		for (size_t i = 0; i < num_buffers && !found; i++)
			if (buffers[i]->client == client)
				found = buffers[i];
		if (found)
			found->client = NULL;
		pthread_mutex_unlock(&buffers_lock);
		if (!found)
			return;
		ffi_object_release(&found->header);
	}
}

/* ---- kernel workspaces ---- */

/* The owner mark of workspace buffers: only those may be freed as workspaces. */
static const char workspace_owner;

void *device_workspace_alloc(int device_type, int device_id, uint64_t nbytes)
{
	if (!device_api_find(device_type)) {
		ffi_error_set("ValueError", "workspace requested on device type %d, which this "
			      "server does not support", device_type);
		return NULL;
	}
	device_buffer_t *b = device_buffer_new((DLDevice){(DLDeviceType)device_type, device_id},
					       nbytes);
	if (b)
		b->client = &workspace_owner;
	return b;
}

int device_workspace_free(void *handle)
{
	device_buffer_t *b = device_buffer_find((uint64_t)(uintptr_t)handle);
	if (!b || b->client != &workspace_owner) {
		ffi_error_set("ValueError", "%p is not a live device workspace", handle);
		return -1;
	}
	b->client = NULL;
	ffi_object_release(&b->header);
	return 0;
}

/* ---- tensors and copies ---- */

ffi_tensor_t *device_tensor_alloc(const int64_t *shape, int32_t ndim, DLDataType dtype,
				  DLDevice dev)
{
	if (dev.device_type == kDLCPU)
		return ffi_tensor_alloc(shape, ndim, dtype, dev);
	DLTensor probe = {.ndim = ndim, .dtype = dtype, .shape = (int64_t *)shape};
	uint64_t nbytes;
	if (ffi_dltensor_nbytes(&probe, &nbytes) != 0) {
		ffi_error_set("ValueError", "tensor shape is invalid or too large");
		return NULL;
	}
	device_buffer_t *b = device_buffer_new(dev, nbytes);
	if (!b)
		return NULL;
	ffi_tensor_t *t = ffi_tensor_view(b, shape, ndim, dtype, dev, &b->header);
	ffi_object_release(&b->header);
	return t;
}

/* The buffer behind one side of a copy (NULL for the CPU side), checked. */
static int copy_side(const DLTensor *t, uint64_t nbytes, device_buffer_t **out)
{
	*out = NULL;
	if (t->device.device_type == kDLCPU)
		return 0;
	*out = device_buffer_check((uint64_t)(uintptr_t)t->data, t->device, t->byte_offset,
				   nbytes);
	return *out ? 0 : -1;
}

int device_copy(const DLTensor *from, const DLTensor *to, uint64_t nbytes)
{
	device_buffer_t *src, *dst;
	if (copy_side(from, nbytes, &src) || copy_side(to, nbytes, &dst))
		return -1;
	if (nbytes == 0)
		return 0;
	char *host_from = src ? NULL : (char *)from->data + from->byte_offset;
	char *host_to = dst ? NULL : (char *)to->data + to->byte_offset;
	if (!src && !dst) {
		memmove(host_to, host_from, (size_t)nbytes);
		return 0;
	}
	if (!src)
		return dst->api->write(dst->dev.device_id, dst->mem, to->byte_offset, host_from,
				       nbytes);
	if (!dst)
		return src->api->read(src->dev.device_id, src->mem, from->byte_offset, host_to,
				      nbytes);
	if (src->api != dst->api) {
		ffi_error_set("ValueError", "Can not copy across different dev types directly");
		return -1;
	}
	return dst->api->copy(dst->dev.device_id, src->mem, from->byte_offset, dst->mem,
			      to->byte_offset, nbytes);
}
