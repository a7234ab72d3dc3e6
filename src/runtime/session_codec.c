/* Encode/decode of RPC session packets over byte buffers (docs/session-protocol.md §1-§4).
 * Every read is bounds-checked against the packet; every count from the peer is checked
 * against the bytes left before anything is allocated for it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/session_codec.h"
#include "base/xalloc.h"

static int decode_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int decode_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "malformed packet: ");
		va_list ap;
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < errlen)
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- reading ---- */

int session_read_u32(session_reader_t *r, uint32_t *out) { return byte_reader_u32(r, out); }
int session_read_i32(session_reader_t *r, int32_t *out) { return byte_reader_i32(r, out); }
int session_read_u64(session_reader_t *r, uint64_t *out) { return byte_reader_u64(r, out); }

int session_tensor_decode(session_reader_t *r, session_tensor_t *t, int64_t *shape_out,
			  char *err, size_t errlen)
{
	const uint8_t *dt;
	int32_t device_type;
	if (session_read_u64(r, &t->data) || session_read_i32(r, &device_type) ||
	    session_read_i32(r, &t->device.device_id) || session_read_i32(r, &t->ndim) ||
	    byte_reader_bytes(r, 4, &dt))
		return decode_fail(err, errlen, "truncated tensor header");
	t->device.device_type = (DLDeviceType)device_type;
	t->dtype.code = dt[0];
	t->dtype.bits = dt[1];
	t->dtype.lanes = (uint16_t)(dt[2] | (dt[3] << 8));
	if (t->ndim < 0 || t->ndim > SESSION_MAX_NDIM)
		return decode_fail(err, errlen, "tensor ndim %d out of range [0, %d]", t->ndim,
				   SESSION_MAX_NDIM);
	if (session_reader_left(r) < 8u * (size_t)t->ndim + 8u)
		return decode_fail(err, errlen, "truncated tensor shape");
	for (int32_t i = 0; i < t->ndim; i++) {
		byte_reader_i64(r, &shape_out[i]); /* cannot fail: checked above */
		if (shape_out[i] < 0)
			return decode_fail(err, errlen, "negative tensor dimension %lld",
					   (long long)shape_out[i]);
	}
	t->shape = shape_out;
	byte_reader_u64(r, &t->byte_offset);
	return 0;
}

/* Strings are NUL-terminated in place: the content is moved one byte back over the last
 * byte of its (already consumed) length field, and the freed last byte becomes the NUL. */
static int read_string(session_reader_t *r, const session_limits_t *lim, int terminate,
		       session_value_t *v, char *err, size_t errlen)
{
	uint64_t len;
	if (session_read_u64(r, &len))
		return decode_fail(err, errlen, "truncated string length");
	if (len > session_reader_left(r))
		return decode_fail(err, errlen, "string of %llu bytes runs past the packet end",
				   (unsigned long long)len);
	if (terminate && lim && lim->max_string && len > lim->max_string)
		return decode_fail(err, errlen, "string of %llu bytes exceeds the limit of %llu",
				   (unsigned long long)len, (unsigned long long)lim->max_string);
	/* session_reader_init was given a writable buffer; byte_reader_t only keeps it const. */
	uint8_t *start = (uint8_t *)(uintptr_t)(r->data + r->pos);
	if (terminate) {
		memmove(start - 1, start, (size_t)len);
		(start - 1)[len] = '\0';
		v->str.data = (const char *)(start - 1);
	} else {
		v->str.data = (const char *)start;
	}
	v->str.size = len;
	r->pos += (size_t)len;
	return 0;
}

static int is_object_path(int32_t idx)
{
	return idx == FFI_SMALL_STR || idx == FFI_SMALL_BYTES ||
	       (idx >= FFI_STATIC_OBJECT_BEGIN && idx != FFI_FUNCTION && idx != FFI_MODULE &&
		idx != FFI_TENSOR);
}

static int value_decode(session_reader_t *r, const session_limits_t *lim, session_value_t *v,
			int64_t *shape_out, char *err, size_t errlen)
{
	memset(v, 0, sizeof *v);
	if (session_read_i32(r, &v->type_index))
		return decode_fail(err, errlen, "truncated type index");
	int32_t idx = v->type_index;
	switch (idx) {
	case FFI_NONE:
		return 0;
	case FFI_INT:
	case FFI_BOOL:
		if (byte_reader_i64(r, &v->v_int))
			return decode_fail(err, errlen, "truncated integer");
		return 0;
	case FFI_FLOAT: {
		uint64_t bits;
		if (byte_reader_u64(r, &bits))
			return decode_fail(err, errlen, "truncated float");
		memcpy(&v->v_float, &bits, 8);
		return 0;
	}
	case FFI_OPAQUE_PTR:
	case FFI_FUNCTION:
	case FFI_MODULE:
		if (session_read_u64(r, &v->handle))
			return decode_fail(err, errlen, "truncated handle");
		return 0;
	case FFI_DATATYPE: {
		const uint8_t *b;
		if (byte_reader_bytes(r, 8, &b))
			return decode_fail(err, errlen, "truncated data type");
		v->dtype.code = b[0];
		v->dtype.bits = b[1];
		v->dtype.lanes = (uint16_t)(b[2] | (b[3] << 8));
		return 0;
	}
	case FFI_DEVICE: {
		int32_t type, id;
		if (session_read_i32(r, &type) || session_read_i32(r, &id))
			return decode_fail(err, errlen, "truncated device");
		v->device.device_type = (DLDeviceType)type;
		v->device.device_id = id;
		return 0;
	}
	case FFI_DLTENSOR_PTR:
		return session_tensor_decode(r, &v->tensor, shape_out, err, errlen);
	case FFI_RAW_STR:
		return read_string(r, lim, 1, v, err, errlen);
	case FFI_BYTE_ARRAY_PTR:
		return read_string(r, lim, 0, v, err, errlen);
	default:
		break;
	}
	if (!is_object_path(idx))
		return decode_fail(err, errlen, "unknown type index %d", idx);
	if (session_read_u32(r, &v->inner))
		return decode_fail(err, errlen, "truncated inner type index");
	switch (v->inner) {
	case FFI_STR:
		return read_string(r, lim, 1, v, err, errlen);
	case FFI_BYTES:
		return read_string(r, lim, 0, v, err, errlen);
	case FFI_RPC_OBJECT_REF:
		if (session_read_u64(r, &v->handle))
			return decode_fail(err, errlen, "truncated object handle");
		return 0;
	default:
		return decode_fail(err, errlen,
				   "object type %u is not supported in RPC calling convention",
				   v->inner);
	}
}

void session_seq_free(session_seq_t *seq)
{
	free(seq->values);
	free(seq->shapes);
	memset(seq, 0, sizeof *seq);
}

int session_seq_decode(session_reader_t *r, const session_limits_t *lim, session_seq_t *out,
		       char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	int32_t num;
	if (session_read_i32(r, &num))
		return decode_fail(err, errlen, "truncated argument count");
	/* Every value takes at least its 4-byte type index: this bounds the allocation by the
	 * packet the peer actually sent. */
	if (num < 0 || (size_t)num > session_reader_left(r) / 4)
		return decode_fail(err, errlen, "argument count %d does not fit the packet", num);
	uint32_t max_args = lim && lim->max_args ? lim->max_args : SESSION_DEFAULT_MAX_ARGS;
	if ((uint32_t)num > max_args)
		return decode_fail(err, errlen, "%d arguments exceed the limit of %u", num, max_args);
	out->num = num;
	out->values = xcalloc((size_t)num, sizeof *out->values);
	int64_t shape[SESSION_MAX_NDIM];
	size_t shapes_used = 0, shapes_cap = 0;
	for (int32_t i = 0; i < num; i++) {
		session_value_t *v = &out->values[i];
		if (value_decode(r, lim, v, shape, err, errlen) != 0) {
			session_seq_free(out);
			return -1;
		}
		if (v->type_index != FFI_DLTENSOR_PTR)
			continue;
		/* Shapes are appended to one array; tensor.shape is fixed up below because the
		 * array may move while growing. Each dimension consumed 8 packet bytes. */
		size_t nd = (size_t)v->tensor.ndim;
		if (shapes_used + nd > shapes_cap) {
			shapes_cap = (shapes_used + nd) * 2;
			out->shapes = xrealloc(out->shapes, shapes_cap * sizeof(int64_t));
		}
		if (nd)
			memcpy(out->shapes + shapes_used, shape, nd * sizeof(int64_t));
		v->tensor.shape = (const int64_t *)(uintptr_t)shapes_used;
		shapes_used += nd;
	}
	for (int32_t i = 0; i < num; i++) {
		session_value_t *v = &out->values[i];
		if (v->type_index == FFI_DLTENSOR_PTR)
			v->tensor.shape = out->shapes ? out->shapes + (uintptr_t)v->tensor.shape
						      : NULL;
	}
	return 0;
}

/* ---- writing ---- */

void session_buf_free(session_buf_t *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void session_buf_reset(session_buf_t *b)
{
	b->len = 0;
}

void session_buf_put(session_buf_t *b, const void *data, size_t len)
{
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < len)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

void session_buf_put_u32(session_buf_t *b, uint32_t v) { session_buf_put(b, &v, 4); }
void session_buf_put_i32(session_buf_t *b, int32_t v) { session_buf_put(b, &v, 4); }
void session_buf_put_u64(session_buf_t *b, uint64_t v) { session_buf_put(b, &v, 8); }
void session_buf_put_i64(session_buf_t *b, int64_t v) { session_buf_put(b, &v, 8); }

size_t session_packet_begin(session_buf_t *b, int32_t code)
{
	size_t start = b->len;
	session_buf_put_u64(b, 0);
	session_buf_put_i32(b, code);
	return start;
}

void session_packet_end(session_buf_t *b, size_t start, uint64_t extra)
{
	uint64_t n = (uint64_t)(b->len - start - 8) + extra;
	memcpy(b->data + start, &n, 8);
}

void session_tensor_encode(session_buf_t *b, const session_tensor_t *t)
{
	uint8_t dt[4] = {t->dtype.code, t->dtype.bits, (uint8_t)(t->dtype.lanes & 0xff),
			 (uint8_t)(t->dtype.lanes >> 8)};
	session_buf_put_u64(b, t->data);
	session_buf_put_i32(b, (int32_t)t->device.device_type);
	session_buf_put_i32(b, t->device.device_id);
	session_buf_put_i32(b, t->ndim);
	session_buf_put(b, dt, 4);
	for (int32_t i = 0; i < t->ndim; i++)
		session_buf_put_i64(b, t->shape[i]);
	session_buf_put_u64(b, t->byte_offset);
}

static void put_string(session_buf_t *b, const session_value_t *v)
{
	session_buf_put_u64(b, v->str.size);
	session_buf_put(b, v->str.data, (size_t)v->str.size);
}

int session_value_encode(session_buf_t *b, const session_value_t *v)
{
	int32_t idx = v->type_index;
	switch (idx) {
	case FFI_NONE:
		session_buf_put_i32(b, idx);
		return 0;
	case FFI_INT:
	case FFI_BOOL:
		session_buf_put_i32(b, idx);
		session_buf_put_i64(b, v->v_int);
		return 0;
	case FFI_FLOAT:
		session_buf_put_i32(b, idx);
		session_buf_put(b, &v->v_float, 8);
		return 0;
	case FFI_OPAQUE_PTR:
	case FFI_FUNCTION:
	case FFI_MODULE:
		session_buf_put_i32(b, idx);
		session_buf_put_u64(b, v->handle);
		return 0;
	case FFI_DATATYPE: {
		uint8_t dt[8] = {v->dtype.code, v->dtype.bits, (uint8_t)(v->dtype.lanes & 0xff),
				 (uint8_t)(v->dtype.lanes >> 8), 0, 0, 0, 0};
		session_buf_put_i32(b, idx);
		session_buf_put(b, dt, 8);
		return 0;
	}
	case FFI_DEVICE:
		session_buf_put_i32(b, idx);
		session_buf_put_i32(b, (int32_t)v->device.device_type);
		session_buf_put_i32(b, v->device.device_id);
		return 0;
	case FFI_DLTENSOR_PTR:
		if (v->tensor.ndim < 0 || (v->tensor.ndim > 0 && !v->tensor.shape))
			return -1;
		session_buf_put_i32(b, idx);
		session_tensor_encode(b, &v->tensor);
		return 0;
	case FFI_RAW_STR:
	case FFI_BYTE_ARRAY_PTR:
		session_buf_put_i32(b, idx);
		put_string(b, v);
		return 0;
	default:
		break;
	}
	if (!is_object_path(idx))
		return -1;
	switch (v->inner) {
	case FFI_STR:
	case FFI_BYTES:
		session_buf_put_i32(b, idx);
		session_buf_put_u32(b, v->inner);
		put_string(b, v);
		return 0;
	case FFI_RPC_OBJECT_REF:
		session_buf_put_i32(b, idx);
		session_buf_put_u32(b, v->inner);
		session_buf_put_u64(b, v->handle);
		return 0;
	default:
		return -1;
	}
}

int session_seq_encode(session_buf_t *b, const session_value_t *values, int32_t num)
{
	size_t mark = b->len;
	session_buf_put_i32(b, num);
	for (int32_t i = 0; i < num; i++) {
		if (session_value_encode(b, &values[i]) != 0) {
			b->len = mark;
			return -1;
		}
	}
	return 0;
}

void session_encode_exception(session_buf_t *b, const char *message)
{
	session_value_t v = session_value_raw_str(message, strlen(message));
	size_t start = session_packet_begin(b, SESSION_CODE_EXCEPTION);
	session_seq_encode(b, &v, 1);
	session_packet_end(b, start, 0);
}

void session_encode_return_none(session_buf_t *b)
{
	session_value_t v = session_value_none();
	size_t start = session_packet_begin(b, SESSION_CODE_RETURN);
	session_seq_encode(b, &v, 1);
	session_packet_end(b, start, 0);
}

int session_encode_return_value(session_buf_t *b, const session_value_t *v)
{
	size_t mark = b->len;
	size_t start = session_packet_begin(b, SESSION_CODE_RETURN);
	if (session_seq_encode(b, v, 1) != 0) {
		b->len = mark;
		return -1;
	}
	session_packet_end(b, start, 0);
	return 0;
}

int session_encode_call_return(session_buf_t *b, int32_t type_index,
			       const session_value_t *values, int32_t num)
{
	size_t mark = b->len;
	size_t start = session_packet_begin(b, SESSION_CODE_RETURN);
	session_value_t tag = session_value_int(type_index);
	session_buf_put_i32(b, num + 1);
	session_value_encode(b, &tag);
	for (int32_t i = 0; i < num; i++) {
		if (session_value_encode(b, &values[i]) != 0) {
			b->len = mark;
			return -1;
		}
	}
	session_packet_end(b, start, 0);
	return 0;
}

/* ---- value constructors ---- */

session_value_t session_value_none(void)
{
	session_value_t v;
	memset(&v, 0, sizeof v);
	return v;
}

session_value_t session_value_int(int64_t x)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_INT;
	v.v_int = x;
	return v;
}

session_value_t session_value_bool(int x)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_BOOL;
	v.v_int = x != 0;
	return v;
}

session_value_t session_value_float(double x)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_FLOAT;
	v.v_float = x;
	return v;
}

session_value_t session_value_handle(int32_t type_index, uint64_t handle)
{
	session_value_t v = session_value_none();
	v.type_index = type_index;
	v.handle = handle;
	if (type_index == FFI_RPC_OBJECT_REF)
		v.inner = FFI_RPC_OBJECT_REF;
	return v;
}

session_value_t session_value_raw_str(const char *data, uint64_t size)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_RAW_STR;
	v.str.data = data;
	v.str.size = size;
	return v;
}

session_value_t session_value_byte_array(const char *data, uint64_t size)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_BYTE_ARRAY_PTR;
	v.str.data = data;
	v.str.size = size;
	return v;
}
