/* Request dispatch for CallFunc (session-protocol.md §3.3): wire values become TVMFFIAny
 * arguments (handles and tensors only after session_handles / session_syscall vouched for
 * them), and the result becomes a typed Return, large byte results sent without a copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/session_internal.h"
#include "base/xalloc.h"

/* Byte returns above this are written straight from the result object (no copy). */
#define ZERO_COPY_THRESHOLD (64u << 10)

/* A Bytes argument: a view into the packet buffer, which it keeps alive. */
typedef struct bytes_view {
	ffi_bytes_t base;
	TVMFFIObject *owner;
} bytes_view_t;

static void bytes_view_deleter(void *self, int flags)
{
	(void)flags;
	bytes_view_t *v = self;
	ffi_object_release(v->owner);
	free(v);
}

static TVMFFIObject *bytes_view_new(TVMFFIObject *owner, const char *data, size_t size)
{
	bytes_view_t *v = xcalloc(1, sizeof *v);
	ffi_object_init(&v->base.header, FFI_BYTES, bytes_view_deleter);
	v->base.data = data;
	v->base.size = size;
	v->owner = owner;
	ffi_object_retain(owner);
	return &v->base.header;
}

typedef struct call_frame {
	int32_t num;
	TVMFFIAny *args;
	DLTensor *tensors;
	TVMFFIByteArray *arrays;
	uint8_t *owned; /* objects created for this call (strings, byte views) */
} call_frame_t;

static void call_frame_free(call_frame_t *f)
{
	for (int32_t i = 0; i < f->num; i++)
		if (f->owned[i])
			ffi_object_release(f->args[i].v_obj);
	free(f->owned);
	free(f->args);
	free(f->tensors);
	free(f->arrays);
	memset(f, 0, sizeof *f);
}

static int handle_object(session_t *s, uint64_t handle, int32_t want, TVMFFIObject **out)
{
	TVMFFIObject *obj = session_handles_get(s->handles, handle);
	if (!obj) {
		ffi_error_set("ValueError", "unknown remote handle 0x%llx",
			      (unsigned long long)handle);
		return -1;
	}
	if (want >= 0 && obj->type_index != want) {
		ffi_error_set("TypeError", "remote handle 0x%llx has type index %d, expected %d",
			      (unsigned long long)handle, obj->type_index, want);
		return -1;
	}
	*out = obj;
	return 0;
}

static int call_frame_build(session_t *s, const session_seq_t *seq, TVMFFIObject *packet,
			    call_frame_t *f)
{
	f->num = seq->num;
	f->args = xcalloc((size_t)seq->num, sizeof *f->args);
	f->tensors = xcalloc((size_t)seq->num, sizeof *f->tensors);
	f->arrays = xcalloc((size_t)seq->num, sizeof *f->arrays);
	f->owned = xcalloc((size_t)seq->num, 1);
	for (int32_t i = 0; i < seq->num; i++) {
		const session_value_t *v = &seq->values[i];
		TVMFFIAny *a = &f->args[i];
		TVMFFIObject *obj;
		a->type_index = v->type_index;
		switch (v->type_index) {
		case FFI_NONE:
			break;
		case FFI_INT:
		case FFI_BOOL:
			a->v_int64 = v->v_int;
			break;
		case FFI_FLOAT:
			a->v_float64 = v->v_float;
			break;
		case FFI_OPAQUE_PTR:
			a->v_uint64 = v->handle;
			break;
		case FFI_DATATYPE:
			a->v_dtype = v->dtype;
			break;
		case FFI_DEVICE:
			a->v_device = v->device;
			break;
		case FFI_DLTENSOR_PTR:
			if (session_tensor_resolve(s, &v->tensor, &f->tensors[i]))
				return -1;
			a->v_ptr = &f->tensors[i];
			break;
		case FFI_RAW_STR:
			a->v_c_str = v->str.data;
			break;
		case FFI_BYTE_ARRAY_PTR:
			f->arrays[i].data = v->str.data;
			f->arrays[i].size = (size_t)v->str.size;
			a->v_ptr = &f->arrays[i];
			break;
		case FFI_FUNCTION:
		case FFI_MODULE:
			if (handle_object(s, v->handle, v->type_index, &obj))
				return -1;
			a->v_obj = obj; /* borrowed from the handle table */
			break;
		default:
			/* Object path: dispatch on the inner index (§2.4). */
			if (v->inner == FFI_STR) {
				a->type_index = FFI_STR;
				a->v_obj = &ffi_str_new(v->str.data, (size_t)v->str.size)->header;
				f->owned[i] = 1;
			} else if (v->inner == FFI_BYTES) {
				a->type_index = FFI_BYTES;
				a->v_obj = bytes_view_new(packet, v->str.data, (size_t)v->str.size);
				f->owned[i] = 1;
			} else {
				if (handle_object(s, v->handle, -1, &obj))
					return -1;
				a->type_index = obj->type_index;
				a->v_obj = obj;
			}
			break;
		}
	}
	return 0;
}

/* Register obj in the handle table and send [Int type, OpaquePtr handle]. */
static int send_object_return(session_t *s, int32_t type_index, TVMFFIObject *obj)
{
	uint64_t h = session_handles_put(s->handles, obj);
	if (!h)
		return session_send_errorf(s, "RuntimeError", "too many live remote handles");
	session_value_t v = session_value_handle(FFI_OPAQUE_PTR, h);
	session_encode_call_return(&s->out, type_index, &v, 1);
	return session_send_out(s, NULL, 0);
}

static int send_bytes_return(session_t *s, int32_t type_index, const char *data, size_t size)
{
	if (size > ZERO_COPY_THRESHOLD) {
		size_t start = session_packet_begin(&s->out, SESSION_CODE_RETURN);
		session_value_t tag = session_value_int(type_index);
		session_buf_put_i32(&s->out, 2);
		session_value_encode(&s->out, &tag);
		session_buf_put_i32(&s->out, FFI_BYTE_ARRAY_PTR);
		session_buf_put_u64(&s->out, size);
		session_packet_end(&s->out, start, size);
		return session_send_out(s, data, size);
	}
	session_value_t v = session_value_byte_array(data, size);
	session_encode_call_return(&s->out, type_index, &v, 1);
	return session_send_out(s, NULL, 0);
}

static int send_tensor_return(session_t *s, ffi_tensor_t *t)
{
	DLTensor *dl = &t->dl;
	if (dl->device.device_type >= 128 || dl->ndim < 0 || dl->ndim > SESSION_MAX_NDIM)
		return session_send_errorf(s, "ValueError", "returned tensor cannot be sent over RPC");
	if (!ffi_dltensor_is_compact(dl))
		return session_send_errorf(s, "ValueError", "returned tensor is not contiguous");
	/* A device handle is not an address: an offset cannot be folded into it. */
	if (dl->device.device_type != kDLCPU && dl->byte_offset != 0)
		return session_send_errorf(s, "ValueError", "a %d-device tensor at byte offset %llu "
				   "cannot be returned over RPC", (int)dl->device.device_type,
				   (unsigned long long)dl->byte_offset);
	uint64_t h = session_handles_put(s->handles, &t->header);
	if (!h)
		return session_send_errorf(s, "RuntimeError", "too many live remote handles");
	/* The client ignores a returned byte_offset (§3.3): fold it into data. */
	session_value_t v[2];
	v[0] = session_value_none();
	v[0].type_index = FFI_DLTENSOR_PTR;
	v[0].tensor.data = (uint64_t)(uintptr_t)dl->data + dl->byte_offset;
	v[0].tensor.device = dl->device;
	v[0].tensor.ndim = dl->ndim;
	v[0].tensor.dtype = dl->dtype;
	v[0].tensor.shape = dl->shape;
	v[0].tensor.byte_offset = 0;
	v[1] = session_value_handle(FFI_OPAQUE_PTR, h);
	session_encode_call_return(&s->out, FFI_TENSOR, v, 2);
	return session_send_out(s, NULL, 0);
}

/* Encode a CallFunc result (§3.3a). The caller still owns `rv`. */
static int send_call_result(session_t *s, TVMFFIAny *rv)
{
	session_value_t v = session_value_none();
	size_t len;
	const char *str;
	switch (rv->type_index) {
	case FFI_NONE:
		session_encode_call_return(&s->out, FFI_NONE, &v, 1);
		return session_send_out(s, NULL, 0);
	case FFI_INT:
	case FFI_BOOL:
		v = rv->type_index == FFI_INT ? session_value_int(rv->v_int64)
					      : session_value_bool(rv->v_int64 != 0);
		break;
	case FFI_FLOAT:
		v = session_value_float(rv->v_float64);
		break;
	case FFI_OPAQUE_PTR:
		v = session_value_handle(FFI_OPAQUE_PTR, rv->v_uint64);
		break;
	case FFI_DATATYPE:
		v.type_index = FFI_DATATYPE;
		v.dtype = rv->v_dtype;
		break;
	case FFI_DEVICE:
		v.type_index = FFI_DEVICE;
		v.device = rv->v_device;
		break;
	case FFI_RAW_STR:
	case FFI_SMALL_STR:
	case FFI_STR:
		str = ffi_any_as_str(rv, &len);
		if (!str)
			break;
		v = session_value_raw_str(str, len);
		session_encode_call_return(&s->out, rv->type_index == FFI_RAW_STR ? FFI_STR
										   : rv->type_index,
					   &v, 1);
		return session_send_out(s, NULL, 0);
	case FFI_SMALL_BYTES:
		return send_bytes_return(s, FFI_SMALL_BYTES, rv->v_bytes, rv->zero_padding & 7);
	case FFI_BYTE_ARRAY_PTR: {
		const TVMFFIByteArray *ba = rv->v_ptr;
		return send_bytes_return(s, FFI_BYTES, ba ? ba->data : "", ba ? ba->size : 0);
	}
	case FFI_BYTES: {
		const ffi_bytes_t *b = (const ffi_bytes_t *)rv->v_obj;
		return send_bytes_return(s, FFI_BYTES, b->data, b->size);
	}
	case FFI_TENSOR:
		return send_tensor_return(s, (ffi_tensor_t *)rv->v_obj);
	default:
		if (ffi_any_is_object(rv))
			return send_object_return(s, rv->v_obj->type_index, rv->v_obj);
		return session_send_errorf(s, "TypeError",
				   "a result of type index %d cannot be returned over RPC",
				   rv->type_index);
	}
	session_encode_call_return(&s->out, rv->type_index, &v, 1);
	return session_send_out(s, NULL, 0);
}

int session_call_handle(session_t *s, packet_obj_t *packet, session_reader_t *r)
{
	uint64_t handle;
	char err[SESSION_ERROR_MAX];
	if (session_read_u64(r, &handle))
		return session_send_errorf(s, "ValueError", "malformed packet: truncated function handle");
	session_seq_t seq;
	if (session_seq_decode(r, &s->lim, &seq, err, sizeof err))
		return session_send_errorf(s, "ValueError", "%s", err);
	TVMFFIObject *fobj;
	call_frame_t frame = {0};
	int rc;
	if (handle_object(s, handle, FFI_FUNCTION, &fobj) ||
	    call_frame_build(s, &seq, &packet->header, &frame)) {
		rc = session_send_ffi_error(s);
		goto out;
	}
	TVMFFIAny result;
	ffi_function_t *fn = (ffi_function_t *)fobj;
	ffi_object_retain(fobj); /* the callee may free its own handle through the table */
	ffi_error_clear();
	int call_rc = ffi_function_call(fn, frame.args, frame.num, &result);
	if (call_rc != 0)
		rc = session_send_ffi_error(s);
	else
		rc = send_call_result(s, &result);
	if (call_rc == 0)
		ffi_any_release(&result);
	ffi_object_release(fobj);
out:
	call_frame_free(&frame);
	session_seq_free(&seq);
	return rc;
}
