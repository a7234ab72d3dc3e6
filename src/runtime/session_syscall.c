/* The session's syscalls (codes 9-21: globals, handles, device memory, streams) and the
 * checks every client pointer passes before use: a CPU data range must lie in a block of
 * this session (session_memory) or in a tensor it returned (session_handles); a handle of
 * another device must be a live buffer of that device (device.c, docs/devices.md). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "runtime/device.h"
#include "runtime/ffi.h"
#include "runtime/session_internal.h"

/* ---- validation of client-supplied tensors ---- */

struct region_query {
	uint64_t addr, nbytes;
};

/* 1 with the address and size of its data if obj is a CPU tensor that has data, else 0.
 * A device tensor covers no host memory: its data is a buffer handle (docs/devices.md). */
static int tensor_bytes(TVMFFIObject *obj, uint64_t *base, uint64_t *size)
{
	if (obj->type_index != FFI_TENSOR)
		return 0;
	const DLTensor *t = &((ffi_tensor_t *)obj)->dl;
	if (!t->data || t->device.device_type != kDLCPU || ffi_dltensor_nbytes(t, size) != 0)
		return 0;
	*base = (uint64_t)(uintptr_t)t->data + t->byte_offset;
	return 1;
}

/* Is [addr, addr + nbytes) inside the data of a tensor this session returned (and the
 * client still holds)? */
static int region_in_tensor(TVMFFIObject *obj, void *arg)
{
	const struct region_query *q = arg;
	uint64_t base, size;
	if (!tensor_bytes(obj, &base, &size) || q->addr < base)
		return 0;
	uint64_t off = q->addr - base;
	return off <= size && q->nbytes <= size - off;
}

/* Map a client data pointer range to host memory, or set an error. */
int session_region_resolve(session_t *s, uint64_t addr, uint64_t nbytes, void **out)
{
	if (addr == 0 && nbytes == 0) {
		*out = NULL;
		return 0;
	}
	if (session_memory_lookup(s->memory, addr, nbytes, out) == 0)
		return 0;
	struct region_query q = {addr, nbytes};
	if (addr <= UINTPTR_MAX && session_handles_foreach(s->handles, region_in_tensor, &q)) {
		*out = (void *)(uintptr_t)addr;
		return 0;
	}
	ffi_error_set("ValueError",
		      "remote memory [0x%llx, +%llu) is not inside a block of this session",
		      (unsigned long long)addr, (unsigned long long)nbytes);
	return -1;
}

int session_device_check(DLDevice dev)
{
	return dev.device_type == kDLCPU ? 0 : device_check(dev);
}

/* Bytes covered by a wire tensor (compact, row-major). */
int session_tensor_size(const session_tensor_t *t, uint64_t *out)
{
	DLTensor dl = {.ndim = t->ndim, .dtype = t->dtype, .shape = (int64_t *)t->shape};
	if (ffi_dltensor_nbytes(&dl, out) != 0) {
		ffi_error_set("ValueError", "tensor shape overflows");
		return -1;
	}
	return 0;
}

/* Build a host DLTensor from a wire header after checking data..data+byte_offset+size is
 * ours. `shape` must outlive `out` (it points into the decoded sequence). */
int session_tensor_resolve(session_t *s, const session_tensor_t *t, DLTensor *out)
{
	uint64_t size, extent;
	/* A device tensor is checked by its handle: a live buffer implies a present device, and
	 * the error names the handle whether or not this board has the driver. */
	if ((t->device.device_type == kDLCPU || !device_api_find((int32_t)t->device.device_type)
		     ? session_device_check(t->device)
		     : 0) ||
	    session_tensor_size(t, &size))
		return -1;
	if (__builtin_add_overflow(size, t->byte_offset, &extent)) {
		ffi_error_set("ValueError", "tensor byte_offset overflows");
		return -1;
	}
	void *data = (void *)(uintptr_t)t->data;
	if (t->device.device_type != kDLCPU) {
		/* A handle, not an address: the buffer must hold [byte_offset, + size). */
		if (!device_buffer_check(t->data, t->device, t->byte_offset, size))
			return -1;
	} else if (session_region_resolve(s, t->data, t->data || extent ? extent : 0, &data)) {
		return -1;
	}
	memset(out, 0, sizeof *out);
	out->data = data;
	out->device = t->device;
	out->ndim = t->ndim;
	out->dtype = t->dtype;
	out->shape = (int64_t *)t->shape;
	out->strides = NULL;
	out->byte_offset = t->byte_offset;
	return 0;
}

/* ---- syscalls (codes 9-21) ---- */

static int arg_count(const session_seq_t *seq, int32_t min, const char *name)
{
	if (seq->num >= min)
		return 0;
	ffi_error_set("TypeError", "%s expects %d arguments, got %d", name, min, seq->num);
	return -1;
}

static int arg_type(const session_seq_t *seq, int32_t i, int32_t type, const char *name)
{
	if (seq->values[i].type_index == type)
		return 0;
	ffi_error_set("TypeError", "%s: argument %d has type index %d, expected %d", name, i,
		      seq->values[i].type_index, type);
	return -1;
}

/* Accepts OpaquePtr and, for robustness, Int/None (a NULL pointer from other clients). */
static int arg_pointer(const session_seq_t *seq, int32_t i, const char *name, uint64_t *out)
{
	const session_value_t *v = &seq->values[i];
	switch (v->type_index) {
	case FFI_OPAQUE_PTR:
	case FFI_FUNCTION:
	case FFI_MODULE:
		*out = v->handle;
		return 0;
	case FFI_INT:
		*out = (uint64_t)v->v_int;
		return 0;
	case FFI_NONE:
		*out = 0;
		return 0;
	default:
		if (v->inner == FFI_RPC_OBJECT_REF) {
			*out = v->handle;
			return 0;
		}
		ffi_error_set("TypeError", "%s: argument %d has type index %d, expected a pointer",
			      name, i, v->type_index);
		return -1;
	}
}

static int arg_int(const session_seq_t *seq, int32_t i, const char *name, int64_t *out)
{
	const session_value_t *v = &seq->values[i];
	if (v->type_index == FFI_INT || v->type_index == FFI_BOOL) {
		*out = v->v_int;
		return 0;
	}
	ffi_error_set("TypeError", "%s: argument %d has type index %d, expected an integer", name,
		      i, v->type_index);
	return -1;
}

static int syscall_get_global(session_t *s, const session_seq_t *seq)
{
	if (arg_count(seq, 1, "GetGlobalFunc") || arg_type(seq, 0, FFI_RAW_STR, "GetGlobalFunc"))
		return session_send_ffi_error(s);
	ffi_function_t *fn = ffi_registry_get(seq->values[0].str.data);
	if (!fn)
		return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, 0));
	uint64_t h = session_handles_put(s->handles, &fn->header);
	ffi_object_release(&fn->header);
	if (!h)
		return session_send_errorf(s, "RuntimeError", "too many live remote handles");
	return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, h));
}

static int syscall_free_handle(session_t *s, const session_seq_t *seq)
{
	uint64_t h;
	if (arg_count(seq, 1, "FreeHandle") || arg_pointer(seq, 0, "FreeHandle", &h))
		return session_send_ffi_error(s);
	if (session_handles_release(s->handles, h) != 0)
		return session_send_errorf(s, "ValueError", "FreeHandle: unknown remote handle 0x%llx",
				   (unsigned long long)h);
	return session_send_none(s);
}

int session_device_attr(DLDevice dev, int64_t kind, TVMFFIAny *out)
{
	*out = ffi_any_none();
	if (kind != 0 && !device_api_find((int32_t)dev.device_type))
		return 0; /* device types this server does not know: None, as before */
	return device_attr(dev, kind, out);
}

static int syscall_get_attr(session_t *s, const session_seq_t *seq)
{
	int64_t kind;
	if (arg_count(seq, 2, "DevGetAttr") || arg_type(seq, 0, FFI_DEVICE, "DevGetAttr") ||
	    arg_int(seq, 1, "DevGetAttr", &kind))
		return session_send_ffi_error(s);
	TVMFFIAny v;
	if (session_device_attr(seq->values[0].device, kind, &v))
		return session_send_ffi_error(s);
	if (v.type_index == FFI_INT)
		return session_send_value(s, session_value_int(v.v_int64));
	size_t len;
	const char *str = ffi_any_as_str(&v, &len);
	if (str) { /* strings go back on the object path (docs/session-protocol.md §2.6) */
		session_value_t sv = session_value_raw_str(str, len);
		sv.type_index = FFI_STR;
		sv.inner = FFI_STR;
		int rc = session_send_value(s, sv);
		ffi_any_release(&v);
		return rc;
	}
	ffi_any_release(&v);
	return session_send_value(s, session_value_none());
}

/* The session's cap counts the client's device buffers with its CPU blocks (session_memory
 * checks the CPU blocks alone again). 0, or -1 with a MemoryError. */
static int session_cap_check(session_t *s, uint64_t nbytes)
{
	uint64_t cap = s->opt.memory_cap, used = session_memory_used(s->memory) + s->device_used;
	if (!cap || (nbytes <= cap && used <= cap - nbytes))
		return 0;
	ffi_error_set("MemoryError", "cannot allocate %llu bytes: session memory limit is %llu "
		      "bytes, %llu in use", (unsigned long long)nbytes, (unsigned long long)cap,
		      (unsigned long long)used);
	return -1;
}

/* A buffer of a non-CPU device for the client: the session holds its reference until
 * DevFreeData or the end of the session. */
static int send_device_alloc(session_t *s, DLDevice dev, uint64_t nbytes)
{
	if (session_cap_check(s, nbytes))
		return session_send_ffi_error(s);
	device_buffer_t *b = device_buffer_new(dev, nbytes);
	if (!b)
		return session_send_ffi_error(s);
	b->client = s;
	s->device_used += nbytes;
	return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, device_buffer_handle(b)));
}

static int syscall_alloc(session_t *s, const session_seq_t *seq)
{
	int64_t nbytes, align;
	void *p;
	if (arg_count(seq, 3, "DevAllocData") || arg_type(seq, 0, FFI_DEVICE, "DevAllocData") ||
	    arg_int(seq, 1, "DevAllocData", &nbytes) || arg_int(seq, 2, "DevAllocData", &align) ||
	    session_device_check(seq->values[0].device))
		return session_send_ffi_error(s);
	if (nbytes < 0 || align <= 0) {
		ffi_error_set("ValueError", "DevAllocData: invalid size %lld or alignment %lld",
			      (long long)nbytes, (long long)align);
		return session_send_ffi_error(s);
	}
	if (seq->values[0].device.device_type != kDLCPU)
		return send_device_alloc(s, seq->values[0].device, (uint64_t)nbytes);
	if (session_cap_check(s, (uint64_t)nbytes) ||
	    session_memory_alloc(s->memory, (uint64_t)nbytes, (uint64_t)align, &p))
		return session_send_ffi_error(s);
	return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, (uint64_t)(uintptr_t)p));
}

static int syscall_alloc_scope(session_t *s, const session_seq_t *seq)
{
	if (arg_count(seq, 1, "DevAllocDataWithScope") ||
	    arg_type(seq, 0, FFI_DLTENSOR_PTR, "DevAllocDataWithScope"))
		return session_send_ffi_error(s);
	const session_tensor_t *t = &seq->values[0].tensor;
	if (seq->num >= 2) {
		const session_value_t *scope = &seq->values[1];
		int ok = scope->type_index == FFI_NONE;
		if (scope->type_index == FFI_RAW_STR || scope->inner == FFI_STR)
			ok = scope->str.size == 0 || strcmp(scope->str.data, "global") == 0;
		if (!ok) {
			ffi_error_set("ValueError",
				      "DevAllocDataWithScope: memory scope %.64s is not supported",
				      scope->type_index == FFI_RAW_STR || scope->inner == FFI_STR
					      ? scope->str.data
					      : "(not a string)");
			return session_send_ffi_error(s);
		}
	}
	uint64_t nbytes;
	if (session_device_check(t->device) || session_tensor_size(t, &nbytes))
		return session_send_ffi_error(s);
	if (t->device.device_type != kDLCPU)
		return send_device_alloc(s, t->device, nbytes);
	uint64_t elem = ((uint64_t)t->dtype.bits * t->dtype.lanes + 7) / 8;
	uint64_t align = 64;
	while (align < elem && align < 4096)
		align *= 2;
	void *p;
	if (session_cap_check(s, nbytes) || session_memory_alloc(s->memory, nbytes, align, &p))
		return session_send_ffi_error(s);
	return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, (uint64_t)(uintptr_t)p));
}

/* Does a tensor the client holds a handle to overlap [addr, addr + nbytes)? */
static int region_overlaps_tensor(TVMFFIObject *obj, void *arg)
{
	const struct region_query *q = arg;
	uint64_t base, size;
	return tensor_bytes(obj, &base, &size) && base < q->addr + q->nbytes &&
	       q->addr < base + size;
}

static int syscall_free_data(session_t *s, const session_seq_t *seq)
{
	uint64_t ptr, size;
	if (arg_count(seq, 2, "DevFreeData") || arg_type(seq, 0, FFI_DEVICE, "DevFreeData") ||
	    session_device_check(seq->values[0].device) || arg_pointer(seq, 1, "DevFreeData", &ptr))
		return session_send_ffi_error(s);
	if (seq->values[0].device.device_type != kDLCPU) {
		/* Tensors viewing the buffer keep their own reference: releasing the client's
		 * is always safe. */
		device_buffer_t *b = device_buffer_find(ptr);
		if (!b || b->client != s)
			return session_send_errorf(s, "ValueError", "DevFreeData: 0x%llx is not a "
					   "live buffer this session allocated (freed or never "
					   "allocated)", (unsigned long long)ptr);
		b->client = NULL;
		s->device_used -= b->size;
		ffi_object_release(&b->header);
		return session_send_none(s);
	}
	/* A returned tensor may view a client block (a function wrapped an argument); freeing
	 * the block under it would leave the handle pointing at freed memory. The block then
	 * lives until the session ends. */
	struct region_query q = {ptr, 0};
	if (session_memory_block_size(s->memory, ptr, &size) == 0) {
		q.nbytes = size ? size : 1;
		if (session_handles_foreach(s->handles, region_overlaps_tensor, &q))
			return session_send_errorf(s, "ValueError",
					   "DevFreeData: 0x%llx is still viewed by a returned tensor",
					   (unsigned long long)ptr);
	}
	if (session_memory_release(s->memory, ptr))
		return session_send_ffi_error(s);
	return session_send_none(s);
}

static int syscall_copy_among(session_t *s, const session_seq_t *seq)
{
	DLTensor from, to;
	uint64_t nfrom, nto;
	if (arg_count(seq, 2, "CopyAmongRemote") ||
	    arg_type(seq, 0, FFI_DLTENSOR_PTR, "CopyAmongRemote") ||
	    arg_type(seq, 1, FFI_DLTENSOR_PTR, "CopyAmongRemote") ||
	    session_tensor_resolve(s, &seq->values[0].tensor, &from) ||
	    session_tensor_resolve(s, &seq->values[1].tensor, &to) ||
	    session_tensor_size(&seq->values[0].tensor, &nfrom) || session_tensor_size(&seq->values[1].tensor, &nto))
		return session_send_ffi_error(s);
	if (nfrom != nto)
		return session_send_errorf(s, "ValueError", "CopyAmongRemote: size mismatch (%llu vs %llu bytes)",
				   (unsigned long long)nfrom, (unsigned long long)nto);
	if (from.device.device_type != kDLCPU && to.device.device_type != kDLCPU &&
	    from.device.device_type != to.device.device_type)
		return session_send_errorf(s, "ValueError",
				   "Can not copy across different dev types directly");
	if (device_copy(&from, &to, nfrom))
		return session_send_ffi_error(s);
	return session_send_none(s);
}

static struct stream_slot *stream_slot(session_t *s, DLDevice dev, int create)
{
	for (size_t i = 0; i < s->num_streams; i++)
		if (s->streams[i].device_type == (int32_t)dev.device_type &&
		    s->streams[i].device_id == dev.device_id)
			return &s->streams[i];
	if (!create || s->num_streams == SESSION_MAX_STREAM_SLOTS)
		return NULL;
	struct stream_slot *slot = &s->streams[s->num_streams++];
	slot->device_type = (int32_t)dev.device_type;
	slot->device_id = dev.device_id;
	slot->stream = 0;
	return slot;
}

/* Device-only syscalls: set device, stream sync/create/free/set/get. On a CPU everything is
 * synchronous, so streams are just remembered values. */
static int syscall_device(session_t *s, int32_t code, const session_seq_t *seq)
{
	static const char *const names[] = {
		[SESSION_CODE_DEV_SET_DEVICE] = "DevSetDevice",
		[SESSION_CODE_DEV_STREAM_SYNC] = "DevStreamSync",
		[SESSION_CODE_DEV_CREATE_STREAM] = "DevCreateStream",
		[SESSION_CODE_DEV_FREE_STREAM] = "DevFreeStream",
		[SESSION_CODE_DEV_SET_STREAM] = "DevSetStream",
		[SESSION_CODE_DEV_GET_CURRENT_STREAM] = "DevGetCurrentStream",
	};
	const char *name = names[code];
	uint64_t stream = 0;
	int need_stream = code == SESSION_CODE_DEV_STREAM_SYNC ||
			  code == SESSION_CODE_DEV_FREE_STREAM || code == SESSION_CODE_DEV_SET_STREAM;
	if (arg_count(seq, need_stream ? 2 : 1, name) || arg_type(seq, 0, FFI_DEVICE, name) ||
	    session_device_check(seq->values[0].device) ||
	    (need_stream && arg_pointer(seq, 1, name, &stream)))
		return session_send_ffi_error(s);
	DLDevice dev = seq->values[0].device;
	struct stream_slot *slot;
	switch (code) {
	case SESSION_CODE_DEV_CREATE_STREAM:
		return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, 0));
	case SESSION_CODE_DEV_SET_STREAM:
		slot = stream_slot(s, dev, 1);
		if (slot)
			slot->stream = stream;
		return session_send_none(s);
	case SESSION_CODE_DEV_GET_CURRENT_STREAM:
		slot = stream_slot(s, dev, 0);
		return session_send_value(s, session_value_handle(FFI_OPAQUE_PTR, slot ? slot->stream : 0));
	case SESSION_CODE_DEV_SET_DEVICE:
		if (device_set_current(dev))
			return session_send_ffi_error(s);
		return session_send_none(s);
	case SESSION_CODE_DEV_STREAM_SYNC:
		if (dev.device_type != kDLCPU && device_sync(dev))
			return session_send_ffi_error(s);
		return session_send_none(s);
	default:
		return session_send_none(s);
	}
}

typedef int (*syscall_fn)(session_t *s, const session_seq_t *seq);

/* The syscalls with handlers of their own; every other code is a device call. */
static const struct {
	int32_t code;
	syscall_fn handle;
} syscalls[] = {
	{SESSION_CODE_GET_GLOBAL_FUNC, syscall_get_global},
	{SESSION_CODE_FREE_HANDLE, syscall_free_handle},
	{SESSION_CODE_DEV_GET_ATTR, syscall_get_attr},
	{SESSION_CODE_DEV_ALLOC_DATA, syscall_alloc},
	{SESSION_CODE_DEV_FREE_DATA, syscall_free_data},
	{SESSION_CODE_COPY_AMONG_REMOTE, syscall_copy_among},
	{SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, syscall_alloc_scope},
};

static syscall_fn syscall_handler(int32_t code)
{
	for (size_t i = 0; i < sizeof syscalls / sizeof syscalls[0]; i++)
		if (syscalls[i].code == code)
			return syscalls[i].handle;
	return NULL;
}

int session_syscall_handle(session_t *s, int32_t code, session_reader_t *r)
{
	char err[SESSION_ERROR_MAX];
	session_seq_t seq;
	if (session_seq_decode(r, &s->lim, &seq, err, sizeof err))
		return session_send_errorf(s, "ValueError", "%s", err);
	syscall_fn handle = syscall_handler(code);
	int rc = handle ? handle(s, &seq) : syscall_device(s, code, &seq);
	session_seq_free(&seq);
	return rc;
}
