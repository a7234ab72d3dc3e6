/* The session engine: a blocking request/response loop over one descriptor pair. Packets are
 * read whole (bounded by max_packet) and decoded by session_codec, except CopyToRemote whose
 * payload goes straight from the socket into the destination, and CopyFromRemote/large byte
 * returns which are written with one writev. Client handles and data pointers are only
 * used after session_handles / session_memory vouched for them. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/log.h"
#include "runtime/session.h"
#include "runtime/session_codec.h"
#include "runtime/session_handles.h"
#include "runtime/session_memory.h"
#include "runtime/session_relay.h"
#include "runtime/xalloc.h"

#define DEFAULT_MAX_PACKET (4ull << 30)
#define DEFAULT_MAX_STRING (1u << 20)
/* Byte returns above this are written straight from the result object (no copy). */
#define ZERO_COPY_THRESHOLD (64u << 10)
#define MAX_STREAM_SLOTS 16

/* ---- the packet buffer as an object: Bytes arguments borrow from it without copying ---- */

typedef struct packet_obj {
	TVMFFIObject header;
	size_t size;
	/* body follows (8-byte aligned after the 32-byte header + size) */
} packet_obj_t;

static void packet_deleter(void *self, int flags)
{
	(void)flags;
	free(self);
}

static uint8_t *packet_data(packet_obj_t *p)
{
	return (uint8_t *)(p + 1);
}

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

/* ---- session state ---- */

struct stream_slot {
	int32_t device_type, device_id;
	uint64_t stream;
};

typedef struct session {
	int rfd, wfd;
	int read_is_socket, write_is_socket;
	session_options_t opt;
	session_limits_t lim;
	int initialized;
	double deadline; /* CLOCK_MONOTONIC seconds, 0 = none */
	session_handles_t *handles;
	session_memory_t *memory;
	session_buf_t out;
	struct stream_slot streams[MAX_STREAM_SLOTS];
	size_t num_streams;
	ffi_module_t *relay; /* set by a session constructor: relay to its far server */
} session_t;

/* Per thread: the globals a session calls run on the thread that serves it. */
static _Thread_local const session_options_t *current_options;
static _Thread_local session_t *current_session;

const session_options_t *session_current(void)
{
	return current_options;
}

void session_options_default(session_options_t *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->max_packet = DEFAULT_MAX_PACKET;
	opt->max_string = DEFAULT_MAX_STRING;
}

static const char *peer_name(const session_t *s)
{
	return s->opt.peer ? s->opt.peer : "client";
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void session_timeout_message(double seconds, char *buf, size_t size)
{
	/* Python's repr of a float: the shortest digits that round-trip, in fixed notation
	 * for exponents -4..15 (with at least one decimal), else in scientific notation. */
	char num[64], sci[64];
	int digits = 1;
	for (; digits < 17; digits++) {
		snprintf(sci, sizeof sci, "%.*e", digits - 1, seconds);
		if (strtod(sci, NULL) == seconds)
			break;
	}
	snprintf(sci, sizeof sci, "%.*e", digits - 1, seconds);
	const char *e = strchr(sci, 'e');
	int exp = e ? atoi(e + 1) : 0;
	if (!isfinite(seconds) || exp < -4 || exp >= 16) {
		snprintf(num, sizeof num, "%s", sci);
	} else {
		int decimals = digits - 1 - exp;
		snprintf(num, sizeof num, "%.*f", decimals > 0 ? decimals : 0, seconds);
		if (decimals <= 0)
			strncat(num, ".0", sizeof num - strlen(num) - 1);
	}
	snprintf(buf, size,
		 "RPCSessionTimeoutError: Your %ss session has expired, try to increase the "
		 "\"session_timeout\" value.",
		 num);
}

/* ---- I/O ---- */

enum { IO_OK = 0, IO_EOF = 1, IO_TIMEOUT = 2, IO_ERROR = 3 };

/* Wait until fd is ready for `events` or the deadline passes. */
static int io_wait(session_t *s, int fd, short events)
{
	for (;;) {
		int ms = -1;
		if (s->deadline > 0) {
			double left = s->deadline - now_seconds();
			if (left <= 0)
				return IO_TIMEOUT;
			ms = left > 1e6 ? 1000000000 : (int)ceil(left * 1000.0);
		}
		struct pollfd p = {.fd = fd, .events = events};
		int rc = poll(&p, 1, ms);
		if (rc > 0)
			return IO_OK;
		if (rc == 0)
			continue; /* re-check the deadline */
		if (errno != EINTR)
			return IO_ERROR;
	}
}

/* Read exactly n bytes. IO_EOF only when the stream ends before the first byte. Sockets are
 * read with MSG_DONTWAIT and polled only when empty, so a deadline costs nothing while data
 * flows; other descriptors are polled first when there is a deadline. */
static int io_read(session_t *s, void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < n) {
		if (s->deadline > 0 && !s->read_is_socket) {
			int w = io_wait(s, s->rfd, POLLIN);
			if (w != IO_OK)
				return w;
		}
		size_t want = n - got;
		if (want > (1u << 30))
			want = 1u << 30;
		ssize_t r = s->read_is_socket ? recv(s->rfd, p + got, want, MSG_DONTWAIT)
					      : read(s->rfd, p + got, want);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return got == 0 ? IO_EOF : IO_ERROR;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = io_wait(s, s->rfd, POLLIN);
			if (w != IO_OK)
				return w;
		} else if (errno != EINTR) {
			return IO_ERROR;
		}
	}
	return IO_OK;
}

/* Read and discard n bytes (a refused packet's body), keeping the stream in sync. */
static int io_drain(session_t *s, uint64_t n)
{
	uint8_t scratch[64 * 1024];
	while (n > 0) {
		size_t chunk = n > sizeof scratch ? sizeof scratch : (size_t)n;
		int rc = io_read(s, scratch, chunk);
		if (rc != IO_OK)
			return rc == IO_EOF ? IO_ERROR : rc;
		n -= chunk;
	}
	return IO_OK;
}

static int io_writev(session_t *s, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		if (s->deadline > 0 && !s->write_is_socket) {
			int w = io_wait(s, s->wfd, POLLOUT);
			if (w != IO_OK)
				return w;
		}
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t r = s->write_is_socket ? sendmsg(s->wfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
					       : writev(s->wfd, iov, iovcnt);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int w = io_wait(s, s->wfd, POLLOUT);
				if (w != IO_OK)
					return w;
				continue;
			}
			return IO_ERROR;
		}
		size_t done = (size_t)r;
		while (iovcnt > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return IO_OK;
}

/* Send s->out, then `extra` bytes from `tail` (zero-copy payload). */
static int send_out(session_t *s, const void *tail, size_t extra)
{
	struct iovec iov[2] = {{s->out.data, s->out.len}, {(void *)tail, extra}};
	int rc = io_writev(s, iov, extra ? 2 : 1);
	session_buf_reset(&s->out);
	return rc;
}

static int send_exception(session_t *s, const char *message)
{
	session_buf_reset(&s->out);
	session_encode_exception(&s->out, message);
	return send_out(s, NULL, 0);
}

/* Send the pending ffi error as an Exception "Kind: message". */
static int send_ffi_error(session_t *s)
{
	char msg[2200];
	ffi_error_format(msg, sizeof msg);
	ffi_error_clear();
	log_debug("session %s: exception: %s", peer_name(s), msg);
	return send_exception(s, msg);
}

static int send_errorf(session_t *s, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int send_errorf(session_t *s, const char *kind, const char *fmt, ...)
{
	char text[1024], msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof msg, "%s: %s", kind, text);
	log_debug("session %s: exception: %s", peer_name(s), msg);
	return send_exception(s, msg);
}

static int send_none(session_t *s)
{
	session_encode_return_none(&s->out);
	return send_out(s, NULL, 0);
}

static int send_value(session_t *s, session_value_t v)
{
	session_encode_return_value(&s->out, &v);
	return send_out(s, NULL, 0);
}

/* ---- validation of client-supplied tensors ---- */

struct region_query {
	uint64_t addr, nbytes;
};

/* Is [addr, addr + nbytes) inside the data of a tensor this session returned (and the
 * client still holds)? */
static int region_in_tensor(TVMFFIObject *obj, void *arg)
{
	const struct region_query *q = arg;
	if (obj->type_index != FFI_TENSOR)
		return 0;
	const DLTensor *t = &((ffi_tensor_t *)obj)->dl;
	uint64_t size;
	if (!t->data || ffi_dltensor_nbytes(t, &size) != 0)
		return 0;
	uint64_t base = (uint64_t)(uintptr_t)t->data + t->byte_offset;
	if (q->addr < base)
		return 0;
	uint64_t off = q->addr - base;
	return off <= size && q->nbytes <= size - off;
}

/* Map a client data pointer range to host memory, or set an error. */
static int region_resolve(session_t *s, uint64_t addr, uint64_t nbytes, void **out)
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

int session_client_region(uint64_t addr, uint64_t nbytes, void **out)
{
	if (!current_session) {
		*out = (void *)(uintptr_t)addr;
		return 0;
	}
	return region_resolve(current_session, addr, nbytes, out);
}

static int device_check(DLDevice dev)
{
	if (dev.device_type == kDLCPU)
		return 0;
	ffi_error_set("ValueError", "device type %d is not available on this server (CPU only)",
		      (int)dev.device_type);
	return -1;
}

/* Bytes covered by a wire tensor (compact, row-major). */
static int tensor_size(const session_tensor_t *t, uint64_t *out)
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
static int tensor_resolve(session_t *s, const session_tensor_t *t, DLTensor *out)
{
	uint64_t size, extent;
	if (device_check(t->device) || tensor_size(t, &size))
		return -1;
	if (__builtin_add_overflow(size, t->byte_offset, &extent)) {
		ffi_error_set("ValueError", "tensor byte_offset overflows");
		return -1;
	}
	void *data;
	if (region_resolve(s, t->data, t->data || extent ? extent : 0, &data))
		return -1;
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

/* ---- CallFunc: wire values -> TVMFFIAny, result -> typed return ---- */

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
			if (tensor_resolve(s, &v->tensor, &f->tensors[i]))
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
		return send_errorf(s, "RuntimeError", "too many live remote handles");
	session_value_t v = session_value_handle(FFI_OPAQUE_PTR, h);
	session_encode_call_return(&s->out, type_index, &v, 1);
	return send_out(s, NULL, 0);
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
		return send_out(s, data, size);
	}
	session_value_t v = session_value_byte_array(data, size);
	session_encode_call_return(&s->out, type_index, &v, 1);
	return send_out(s, NULL, 0);
}

static int send_tensor_return(session_t *s, ffi_tensor_t *t)
{
	DLTensor *dl = &t->dl;
	if (dl->device.device_type >= 128 || dl->ndim < 0 || dl->ndim > SESSION_MAX_NDIM)
		return send_errorf(s, "ValueError", "returned tensor cannot be sent over RPC");
	if (!ffi_dltensor_is_compact(dl))
		return send_errorf(s, "ValueError", "returned tensor is not contiguous");
	uint64_t h = session_handles_put(s->handles, &t->header);
	if (!h)
		return send_errorf(s, "RuntimeError", "too many live remote handles");
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
	return send_out(s, NULL, 0);
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
		return send_out(s, NULL, 0);
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
		return send_out(s, NULL, 0);
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
		return send_errorf(s, "TypeError",
				   "a result of type index %d cannot be returned over RPC",
				   rv->type_index);
	}
	session_encode_call_return(&s->out, rv->type_index, &v, 1);
	return send_out(s, NULL, 0);
}

static int handle_call_func(session_t *s, packet_obj_t *packet, session_reader_t *r)
{
	uint64_t handle;
	char err[SESSION_ERROR_MAX];
	if (session_read_u64(r, &handle))
		return send_errorf(s, "ValueError", "malformed packet: truncated function handle");
	session_seq_t seq;
	if (session_seq_decode(r, &s->lim, &seq, err, sizeof err))
		return send_errorf(s, "ValueError", "%s", err);
	TVMFFIObject *fobj;
	call_frame_t frame = {0};
	int rc;
	if (handle_object(s, handle, FFI_FUNCTION, &fobj) ||
	    call_frame_build(s, &seq, &packet->header, &frame)) {
		rc = send_ffi_error(s);
		goto out;
	}
	TVMFFIAny result;
	ffi_function_t *fn = (ffi_function_t *)fobj;
	ffi_object_retain(fobj); /* the callee may free its own handle through the table */
	ffi_error_clear();
	int call_rc = ffi_function_call(fn, frame.args, frame.num, &result);
	if (call_rc != 0)
		rc = send_ffi_error(s);
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
		return send_ffi_error(s);
	ffi_function_t *fn = ffi_registry_get(seq->values[0].str.data);
	if (!fn)
		return send_value(s, session_value_handle(FFI_OPAQUE_PTR, 0));
	uint64_t h = session_handles_put(s->handles, &fn->header);
	ffi_object_release(&fn->header);
	if (!h)
		return send_errorf(s, "RuntimeError", "too many live remote handles");
	return send_value(s, session_value_handle(FFI_OPAQUE_PTR, h));
}

static int syscall_free_handle(session_t *s, const session_seq_t *seq)
{
	uint64_t h;
	if (arg_count(seq, 1, "FreeHandle") || arg_pointer(seq, 0, "FreeHandle", &h))
		return send_ffi_error(s);
	if (session_handles_release(s->handles, h) != 0)
		return send_errorf(s, "ValueError", "FreeHandle: unknown remote handle 0x%llx",
				   (unsigned long long)h);
	return send_none(s);
}

void session_device_attr(DLDevice dev, int64_t kind, TVMFFIAny *out)
{
	int cpu = dev.device_type == kDLCPU;
	*out = ffi_any_none();
	if (kind == 0) { /* kExist: never an error, 0 for devices this server lacks */
		*out = ffi_any_int(cpu);
	} else if (cpu && kind == 14) { /* kTotalGlobalMemory */
		long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
		*out = ffi_any_int(pages > 0 && page > 0 ? (int64_t)pages * page : -1);
	}
}

static int syscall_get_attr(session_t *s, const session_seq_t *seq)
{
	int64_t kind;
	if (arg_count(seq, 2, "DevGetAttr") || arg_type(seq, 0, FFI_DEVICE, "DevGetAttr") ||
	    arg_int(seq, 1, "DevGetAttr", &kind))
		return send_ffi_error(s);
	TVMFFIAny v;
	session_device_attr(seq->values[0].device, kind, &v);
	if (v.type_index == FFI_INT)
		return send_value(s, session_value_int(v.v_int64));
	return send_value(s, session_value_none());
}

static int syscall_alloc(session_t *s, const session_seq_t *seq)
{
	int64_t nbytes, align;
	void *p;
	if (arg_count(seq, 3, "DevAllocData") || arg_type(seq, 0, FFI_DEVICE, "DevAllocData") ||
	    arg_int(seq, 1, "DevAllocData", &nbytes) || arg_int(seq, 2, "DevAllocData", &align) ||
	    device_check(seq->values[0].device))
		return send_ffi_error(s);
	if (nbytes < 0 || align <= 0) {
		ffi_error_set("ValueError", "DevAllocData: invalid size %lld or alignment %lld",
			      (long long)nbytes, (long long)align);
		return send_ffi_error(s);
	}
	if (session_memory_alloc(s->memory, (uint64_t)nbytes, (uint64_t)align, &p))
		return send_ffi_error(s);
	return send_value(s, session_value_handle(FFI_OPAQUE_PTR, (uint64_t)(uintptr_t)p));
}

static int syscall_alloc_scope(session_t *s, const session_seq_t *seq)
{
	if (arg_count(seq, 1, "DevAllocDataWithScope") ||
	    arg_type(seq, 0, FFI_DLTENSOR_PTR, "DevAllocDataWithScope"))
		return send_ffi_error(s);
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
			return send_ffi_error(s);
		}
	}
	uint64_t nbytes;
	if (device_check(t->device) || tensor_size(t, &nbytes))
		return send_ffi_error(s);
	uint64_t elem = ((uint64_t)t->dtype.bits * t->dtype.lanes + 7) / 8;
	uint64_t align = 64;
	while (align < elem && align < 4096)
		align *= 2;
	void *p;
	if (session_memory_alloc(s->memory, nbytes, align, &p))
		return send_ffi_error(s);
	return send_value(s, session_value_handle(FFI_OPAQUE_PTR, (uint64_t)(uintptr_t)p));
}

/* Does a tensor the client holds a handle to overlap [addr, addr + nbytes)? */
static int region_overlaps_tensor(TVMFFIObject *obj, void *arg)
{
	const struct region_query *q = arg;
	if (obj->type_index != FFI_TENSOR)
		return 0;
	const DLTensor *t = &((ffi_tensor_t *)obj)->dl;
	uint64_t size;
	if (!t->data || ffi_dltensor_nbytes(t, &size) != 0)
		return 0;
	uint64_t base = (uint64_t)(uintptr_t)t->data + t->byte_offset;
	return base < q->addr + q->nbytes && q->addr < base + size;
}

static int syscall_free_data(session_t *s, const session_seq_t *seq)
{
	uint64_t ptr, size;
	if (arg_count(seq, 2, "DevFreeData") || arg_type(seq, 0, FFI_DEVICE, "DevFreeData") ||
	    device_check(seq->values[0].device) || arg_pointer(seq, 1, "DevFreeData", &ptr))
		return send_ffi_error(s);
	/* A returned tensor may view a client block (a function wrapped an argument); freeing
	 * the block under it would leave the handle pointing at freed memory. The block then
	 * lives until the session ends. */
	struct region_query q = {ptr, 0};
	if (session_memory_block_size(s->memory, ptr, &size) == 0) {
		q.nbytes = size ? size : 1;
		if (session_handles_foreach(s->handles, region_overlaps_tensor, &q))
			return send_errorf(s, "ValueError",
					   "DevFreeData: 0x%llx is still viewed by a returned tensor",
					   (unsigned long long)ptr);
	}
	if (session_memory_release(s->memory, ptr))
		return send_ffi_error(s);
	return send_none(s);
}

static int syscall_copy_among(session_t *s, const session_seq_t *seq)
{
	DLTensor from, to;
	uint64_t nfrom, nto;
	if (arg_count(seq, 2, "CopyAmongRemote") ||
	    arg_type(seq, 0, FFI_DLTENSOR_PTR, "CopyAmongRemote") ||
	    arg_type(seq, 1, FFI_DLTENSOR_PTR, "CopyAmongRemote") ||
	    tensor_resolve(s, &seq->values[0].tensor, &from) ||
	    tensor_resolve(s, &seq->values[1].tensor, &to) ||
	    tensor_size(&seq->values[0].tensor, &nfrom) || tensor_size(&seq->values[1].tensor, &nto))
		return send_ffi_error(s);
	if (nfrom != nto)
		return send_errorf(s, "ValueError", "CopyAmongRemote: size mismatch (%llu vs %llu bytes)",
				   (unsigned long long)nfrom, (unsigned long long)nto);
	if (nfrom)
		memmove((uint8_t *)to.data + to.byte_offset, (uint8_t *)from.data + from.byte_offset,
			(size_t)nfrom);
	return send_none(s);
}

static struct stream_slot *stream_slot(session_t *s, DLDevice dev, int create)
{
	for (size_t i = 0; i < s->num_streams; i++)
		if (s->streams[i].device_type == (int32_t)dev.device_type &&
		    s->streams[i].device_id == dev.device_id)
			return &s->streams[i];
	if (!create || s->num_streams == MAX_STREAM_SLOTS)
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
	    device_check(seq->values[0].device) ||
	    (need_stream && arg_pointer(seq, 1, name, &stream)))
		return send_ffi_error(s);
	DLDevice dev = seq->values[0].device;
	struct stream_slot *slot;
	switch (code) {
	case SESSION_CODE_DEV_CREATE_STREAM:
		return send_value(s, session_value_handle(FFI_OPAQUE_PTR, 0));
	case SESSION_CODE_DEV_SET_STREAM:
		slot = stream_slot(s, dev, 1);
		if (slot)
			slot->stream = stream;
		return send_none(s);
	case SESSION_CODE_DEV_GET_CURRENT_STREAM:
		slot = stream_slot(s, dev, 0);
		return send_value(s, session_value_handle(FFI_OPAQUE_PTR, slot ? slot->stream : 0));
	default:
		return send_none(s);
	}
}

static int handle_syscall(session_t *s, int32_t code, session_reader_t *r)
{
	char err[SESSION_ERROR_MAX];
	session_seq_t seq;
	if (session_seq_decode(r, &s->lim, &seq, err, sizeof err))
		return send_errorf(s, "ValueError", "%s", err);
	int rc;
	switch (code) {
	case SESSION_CODE_GET_GLOBAL_FUNC:
		rc = syscall_get_global(s, &seq);
		break;
	case SESSION_CODE_FREE_HANDLE:
		rc = syscall_free_handle(s, &seq);
		break;
	case SESSION_CODE_DEV_GET_ATTR:
		rc = syscall_get_attr(s, &seq);
		break;
	case SESSION_CODE_DEV_ALLOC_DATA:
		rc = syscall_alloc(s, &seq);
		break;
	case SESSION_CODE_DEV_FREE_DATA:
		rc = syscall_free_data(s, &seq);
		break;
	case SESSION_CODE_COPY_AMONG_REMOTE:
		rc = syscall_copy_among(s, &seq);
		break;
	case SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE:
		rc = syscall_alloc_scope(s, &seq);
		break;
	default:
		rc = syscall_device(s, code, &seq);
		break;
	}
	session_seq_free(&seq);
	return rc;
}

/* ---- InitServer and copies ---- */

static int handle_init_server(session_t *s, session_reader_t *r)
{
	uint64_t len;
	char err[SESSION_ERROR_MAX];
	if (session_read_u64(r, &len) || len > session_reader_left(r))
		return send_errorf(s, "ValueError", "malformed packet: bad InitServer version");
	char version[32];
	size_t shown = len < sizeof version - 1 ? (size_t)len : sizeof version - 1;
	memcpy(version, r->data + r->pos, shown);
	version[shown] = '\0';
	int match = len == strlen(SESSION_PROTOCOL_VERSION) &&
		    memcmp(r->data + r->pos, SESSION_PROTOCOL_VERSION, (size_t)len) == 0;
	r->pos += (size_t)len;
	if (!match)
		return send_errorf(s, "RPCError",
				   "Client protocol version mismatch with the server  server "
				   "protocol=%s, client protocol=%s",
				   SESSION_PROTOCOL_VERSION, version);
	if (s->initialized)
		return send_errorf(s, "RPCError", "InitServer: the session is already initialised");
	session_seq_t seq;
	if (session_seq_decode(r, &s->lim, &seq, err, sizeof err))
		return send_errorf(s, "ValueError", "%s", err);
	int32_t num = seq.num;
	char name[128] = "";
	if (num > 0 && (seq.values[0].type_index == FFI_RAW_STR || seq.values[0].inner == FFI_STR))
		snprintf(name, sizeof name, "%.100s", seq.values[0].str.data);
	/* ["rpc.LocalSession"] asks for what this server does anyway: serve locally. Any other
	 * constructor (["rpc.Connect", host, port, key, ...]) makes the session a relay. */
	int rc = 0;
	if (num > 0 && !(num == 1 && strcmp(name, "rpc.LocalSession") == 0)) {
		ffi_error_clear();
		rc = session_relay_construct(&seq, &s->relay);
	}
	session_seq_free(&seq);
	if (rc)
		return send_ffi_error(s);
	s->initialized = 1;
	if (s->relay)
		log_info("session %s: relaying to a far server (constructor %s)", peer_name(s), name);
	return send_none(s);
}

static int handle_copy_from_remote(session_t *s, session_reader_t *r)
{
	session_tensor_t t;
	int64_t shape[SESSION_MAX_NDIM];
	char err[SESSION_ERROR_MAX];
	uint64_t nbytes, total;
	if (session_tensor_decode(r, &t, shape, err, sizeof err))
		return send_errorf(s, "ValueError", "%s", err);
	if (session_read_u64(r, &nbytes))
		return send_errorf(s, "ValueError", "malformed packet: truncated copy size");
	void *src;
	if (device_check(t.device) || tensor_size(&t, &total))
		return send_ffi_error(s);
	if (t.byte_offset > total || nbytes > total - t.byte_offset || nbytes > UINT64_MAX - 4)
		return send_errorf(s, "ValueError",
				   "CopyFromRemote: %llu bytes at offset %llu exceed the %llu-byte tensor",
				   (unsigned long long)nbytes, (unsigned long long)t.byte_offset,
				   (unsigned long long)total);
	if (region_resolve(s, t.data, t.byte_offset + nbytes, &src))
		return send_ffi_error(s);
	size_t start = session_packet_begin(&s->out, SESSION_CODE_COPY_ACK);
	session_packet_end(&s->out, start, nbytes);
	return send_out(s, src ? (uint8_t *)src + t.byte_offset : NULL, (size_t)nbytes);
}

/* CopyToRemote is not buffered: the header is read and checked, then the payload is read
 * from the socket straight into the destination. body_len excludes the code. */
static int handle_copy_to_remote(session_t *s, uint64_t body_len)
{
	uint8_t head[SESSION_TENSOR_HEADER_SIZE(SESSION_MAX_NDIM) + 8];
	const size_t fixed = 24;
	char err[SESSION_ERROR_MAX];
	if (body_len < fixed + 16) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		return send_errorf(s, "ValueError", "malformed packet: CopyToRemote too short");
	}
	int rc = io_read(s, head, fixed);
	if (rc != IO_OK)
		return rc == IO_EOF ? IO_ERROR : rc;
	int32_t ndim;
	memcpy(&ndim, head + 16, 4);
	uint64_t left = body_len - fixed;
	if (ndim < 0 || ndim > SESSION_MAX_NDIM || left < 8u * (uint64_t)ndim + 16) {
		rc = io_drain(s, left);
		if (rc != IO_OK)
			return rc;
		return send_errorf(s, "ValueError", "malformed packet: CopyToRemote ndim %d", ndim);
	}
	size_t rest = 8u * (size_t)ndim + 16;
	rc = io_read(s, head + fixed, rest);
	if (rc != IO_OK)
		return rc == IO_EOF ? IO_ERROR : rc;
	left -= rest;
	session_reader_t r;
	session_reader_init(&r, head, fixed + rest);
	session_tensor_t t;
	int64_t shape[SESSION_MAX_NDIM];
	uint64_t nbytes, total;
	void *dst = NULL;
	int bad = 0;
	if (session_tensor_decode(&r, &t, shape, err, sizeof err) ||
	    session_read_u64(&r, &nbytes)) {
		ffi_error_set("ValueError", "%s", err);
		bad = 1;
	} else if (nbytes != left) {
		ffi_error_set("ValueError",
			      "malformed packet: CopyToRemote announces %llu bytes but carries %llu",
			      (unsigned long long)nbytes, (unsigned long long)left);
		bad = 1;
	} else if (device_check(t.device) || tensor_size(&t, &total)) {
		bad = 1;
	} else if (t.byte_offset > total || nbytes > total - t.byte_offset) {
		ffi_error_set("ValueError",
			      "CopyToRemote: %llu bytes at offset %llu exceed the %llu-byte tensor",
			      (unsigned long long)nbytes, (unsigned long long)t.byte_offset,
			      (unsigned long long)total);
		bad = 1;
	} else if (region_resolve(s, t.data, t.byte_offset + nbytes, &dst)) {
		bad = 1;
	}
	if (bad) {
		rc = io_drain(s, left);
		if (rc != IO_OK)
			return rc;
		return send_ffi_error(s);
	}
	if (nbytes) {
		rc = io_read(s, (uint8_t *)dst + t.byte_offset, (size_t)nbytes);
		if (rc != IO_OK)
			return rc == IO_EOF ? IO_ERROR : rc;
	}
	return send_none(s);
}

/* ---- the loop ---- */

/* Handle one packet whose length and code were read. Returns IO_* (IO_EOF = shutdown). */
static int session_dispatch(session_t *s, uint64_t body_len, int32_t code)
{
	if (code == SESSION_CODE_SHUTDOWN) {
		log_debug("session %s: shutdown", peer_name(s));
		return IO_EOF;
	}
	if (body_len > s->opt.max_packet) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		log_warn("session %s: refused a %llu-byte packet (limit %llu)", peer_name(s),
			 (unsigned long long)body_len, (unsigned long long)s->opt.max_packet);
		return send_errorf(s, "RPCError",
				   "packet of %llu bytes exceeds the server limit of %llu bytes",
				   (unsigned long long)body_len,
				   (unsigned long long)s->opt.max_packet);
	}
	if (!s->initialized && code != SESSION_CODE_INIT_SERVER) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		return send_errorf(s, "RPCError",
				   "the session is not initialised: InitServer must come first "
				   "(got code %d)",
				   code);
	}
	if (code == SESSION_CODE_COPY_TO_REMOTE)
		return handle_copy_to_remote(s, body_len);
	int known = code == SESSION_CODE_INIT_SERVER || code == SESSION_CODE_CALL_FUNC ||
		    code == SESSION_CODE_COPY_FROM_REMOTE ||
		    (code >= SESSION_CODE_GET_GLOBAL_FUNC &&
		     code <= SESSION_CODE_DEV_GET_CURRENT_STREAM);
	if (!known) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		log_warn("session %s: unknown packet code %d", peer_name(s), code);
		return send_errorf(s, "RPCError", "unknown packet code %d", code);
	}
	packet_obj_t *packet = NULL;
	if (body_len <= SIZE_MAX - sizeof *packet - 1)
		packet = malloc(sizeof *packet + (size_t)body_len + 1);
	if (!packet) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		return send_errorf(s, "MemoryError", "cannot buffer a %llu-byte packet",
				   (unsigned long long)body_len);
	}
	ffi_object_init(&packet->header, FFI_OPAQUE_OBJECT, packet_deleter);
	packet->size = (size_t)body_len;
	int rc = io_read(s, packet_data(packet), (size_t)body_len);
	if (rc != IO_OK) {
		ffi_object_release(&packet->header);
		return rc == IO_EOF ? IO_ERROR : rc;
	}
	session_reader_t r;
	session_reader_init(&r, packet_data(packet), (size_t)body_len);
	switch (code) {
	case SESSION_CODE_INIT_SERVER:
		rc = handle_init_server(s, &r);
		break;
	case SESSION_CODE_CALL_FUNC:
		rc = handle_call_func(s, packet, &r);
		break;
	case SESSION_CODE_COPY_FROM_REMOTE:
		rc = handle_copy_from_remote(s, &r);
		break;
	default:
		rc = handle_syscall(s, code, &r);
		break;
	}
	ffi_object_release(&packet->header);
	return rc;
}

static int session_loop(session_t *s)
{
	for (;;) {
		uint64_t len;
		int rc = io_read(s, &len, 8);
		if (rc == IO_EOF) {
			log_debug("session %s: closed by the client", peer_name(s));
			return 0;
		}
		if (rc == IO_OK && len == 0)
			continue;
		if (rc == IO_OK && len < 4) {
			log_warn("session %s: broken framing (packet of %llu bytes)", peer_name(s),
				 (unsigned long long)len);
			return SESSION_ERR_PROTOCOL;
		}
		int32_t code = 0;
		if (rc == IO_OK) {
			rc = io_read(s, &code, 4);
			if (rc == IO_EOF)
				rc = IO_ERROR;
		}
		if (rc == IO_OK)
			rc = session_dispatch(s, len - 4, code);
		if (rc == IO_OK && s->relay)
			return session_relay_run(s->relay, s->rfd, s->wfd, s->deadline);
		if (rc == IO_OK)
			continue;
		if (rc == IO_EOF)
			return 0;
		if (rc == IO_TIMEOUT) {
			char msg[256];
			session_timeout_message(s->opt.timeout_seconds, msg, sizeof msg);
			s->deadline = 0; /* the notice itself is written without a deadline */
			log_info("session %s: %gs session timeout", peer_name(s),
				 s->opt.timeout_seconds);
			send_exception(s, msg);
			return SESSION_ERR_TIMEOUT;
		}
		log_warn("session %s: connection lost (%s)", peer_name(s),
			 errno ? strerror(errno) : "end of stream inside a packet");
		return SESSION_ERR_IO;
	}
}

int session_serve_fds(int read_fd, int write_fd, const session_options_t *opt)
{
	session_t s;
	memset(&s, 0, sizeof s);
	s.rfd = read_fd;
	s.wfd = write_fd;
	int type;
	socklen_t type_len = sizeof type;
	s.read_is_socket = getsockopt(read_fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0;
	type_len = sizeof type;
	s.write_is_socket = getsockopt(write_fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0;
	if (opt)
		s.opt = *opt;
	else
		session_options_default(&s.opt);
	if (s.opt.max_packet == 0)
		s.opt.max_packet = DEFAULT_MAX_PACKET;
	if (s.opt.max_string == 0)
		s.opt.max_string = DEFAULT_MAX_STRING;
	s.lim.max_string = s.opt.max_string;
	if (s.opt.timeout_seconds > 0)
		s.deadline = now_seconds() + s.opt.timeout_seconds;
	s.handles = session_handles_new(0);
	s.memory = session_memory_new(s.opt.memory_cap);
	const session_options_t *saved = current_options;
	session_t *saved_session = current_session;
	current_options = &s.opt;
	current_session = &s;
	errno = 0;
	int rc = session_loop(&s);
	current_options = saved;
	current_session = saved_session;
	ffi_object_release(s.relay ? &s.relay->header : NULL);
	session_handles_free(s.handles);
	session_memory_free(s.memory);
	session_buf_free(&s.out);
	return rc;
}

int session_serve(int fd, const session_options_t *opt)
{
	return session_serve_fds(fd, fd, opt);
}
