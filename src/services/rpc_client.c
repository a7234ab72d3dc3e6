/* Blocking TVM RPC client. Each request is encoded with session_codec into one buffer and
 * sent, then exactly one reply is read with a deadline; bulk payloads (uploads, tensor copies)
 * move between the socket and the caller's memory directly, through net.h's transfers with
 * deadlines. A tracker REQUEST goes through the blocking tracker client (tracker_client.h). */
#include "services/rpc_client.h"
#include "services/net.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "services/handshake.h"
#include "services/tracker_client.h"

#define RPC_SESSION_TIMEOUT_PREFIX "RPCSessionTimeoutError: "
#define UPLOAD_CHUNK (256u * 1024u)

struct rpc_client {
	int fd;
	int dead; /* the byte stream is no longer in step: only close remains */
	rpc_client_options_t opt;
	char peer[300];
	char server_key[256];
	char err[1024];
	session_buf_t out;  /* request being built */
	uint8_t *in;        /* body of the last reply */
	size_t in_cap;
	/* Cached global-function handles (released at close), as the stock client caches them. */
	uint64_t h_upload, h_load_module, h_get_function, h_time_evaluator;
	int64_t max_packet; /* 0 not asked yet, -1 unlimited, > 0 limit from the server */
};



static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void set_errv(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

static int fail_to(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_to(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_errv(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* Record an error on the client; errors other than REMOTE/MISSING/ARG end the session. */
static int client_fail(rpc_client_t *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int client_fail(rpc_client_t *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_errv(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	if (code == RPC_CLIENT_ERR_IO || code == RPC_CLIENT_ERR_TIMEOUT ||
	    code == RPC_CLIENT_ERR_PROTOCOL)
		c->dead = 1;
	return code;
}

void rpc_client_options_default(rpc_client_options_t *opt)
{
	opt->connect_timeout = 10;
	opt->reply_timeout = 600;
	opt->session_timeout = 0;
	opt->max_reply = 64u << 20;
	opt->init_args = NULL;
	opt->num_init_args = 0;
}

/* ---- sockets with deadlines ---- */

/* A net.h transfer result as the client reports it: 0, RPC_CLIENT_ERR_TIMEOUT (with the
 * `late` text) or RPC_CLIENT_ERR_IO (`what` names the failed call). */
static int io_status(int r, const char *what, const char *late, char *err, size_t errlen)
{
	switch (r) {
	case 0:
		return 0;
	case NET_IO_TIMEOUT:
		return fail_to(err, errlen, RPC_CLIENT_ERR_TIMEOUT, "%s", late);
	case NET_IO_CLOSED:
		return fail_to(err, errlen, RPC_CLIENT_ERR_IO, "connection closed by the peer");
	case NET_IO_POLL:
		return fail_to(err, errlen, RPC_CLIENT_ERR_IO, "poll: %s", strerror(errno));
	default:
		return fail_to(err, errlen, RPC_CLIENT_ERR_IO, "%s: %s", what, strerror(errno));
	}
}

static int io_send(int fd, const void *data, size_t n, double deadline, char *err, size_t errlen)
{
	return io_status(net_send_all(fd, data, n, deadline), "send",
			 "timed out sending to the peer", err, errlen);
}

static int io_recv(int fd, void *data, size_t n, double deadline, char *err, size_t errlen)
{
	return io_status(net_recv_all(fd, data, n, deadline), "recv",
			 "timed out waiting for the peer", err, errlen);
}

/* TCP connection to host:port (names and IPv6 allowed). Returns fd or < 0. */
static int tcp_connect(const char *host, int port, double deadline, char *err, size_t errlen)
{
	int resolve_error;
	int fd = net_connect_tcp(host, port, deadline, &resolve_error);
	if (fd >= 0)
		return fd;
	if (resolve_error)
		return fail_to(err, errlen, RPC_CLIENT_ERR_IO, "cannot resolve %s: %s", host,
			       gai_strerror(resolve_error));
	if (errno == ETIMEDOUT)
		return fail_to(err, errlen, RPC_CLIENT_ERR_TIMEOUT,
			       "cannot connect to %s:%d: timed out", host, port);
	return fail_to(err, errlen, RPC_CLIENT_ERR_IO, "cannot connect to %s:%d: %s", host, port,
		       strerror(errno));
}

static uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- packets ---- */

static double reply_deadline(const rpc_client_t *c)
{
	return net_deadline_after(c->opt.reply_timeout);
}

static int client_io(rpc_client_t *c, int rc, const char *what)
{
	char why[256];
	snprintf(why, sizeof why, "%.255s", c->err);
	return client_fail(c, rc, "%s %s: %s", what, c->peer, why);
}

/* Send c->out, then an optional payload straight from the caller's memory. Both go in one
 * sendmsg when the socket takes them, so a small copy leaves as one segment and wakes the
 * server once. */
static int send_request(rpc_client_t *c, const void *payload, size_t payload_len, double deadline)
{
	if (c->dead)
		return client_fail(c, RPC_CLIENT_ERR_IO, "the session with %s has ended",
				   c->peer);
	struct iovec iov[2] = {{c->out.data, c->out.len}, {(void *)payload, payload_len}};
	int rc = io_status(net_send_iov(c->fd, iov, payload_len ? 2 : 1, deadline), "send",
			   "timed out sending to the peer", c->err, sizeof c->err);
	return rc ? client_io(c, rc, "sending to") : 0;
}

/* Read the next non-empty packet. A CopyAck goes straight to ack_dst (exactly ack_len bytes);
 * any other body lands in c->in. */
static int read_packet(rpc_client_t *c, double deadline, int32_t *code, size_t *body_len,
		       void *ack_dst, uint64_t ack_len)
{
	uint8_t head[12];
	uint64_t n;
	int rc;
	do {
		rc = io_recv(c->fd, head, 8, deadline, c->err, sizeof c->err);
		if (rc)
			return client_io(c, rc, "waiting for a reply from");
		memcpy(&n, head, 8);
	} while (n == 0); /* empty packets are ignored (§1.3) */
	if (n < 4)
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s sent a %llu-byte packet",
				   c->peer, (unsigned long long)n);
	rc = io_recv(c->fd, head + 8, 4, deadline, c->err, sizeof c->err);
	if (rc)
		return client_io(c, rc, "reading a reply from");
	*code = (int32_t)get_u32le(head + 8);
	uint64_t body = n - 4;
	if (*code == SESSION_CODE_COPY_ACK && ack_dst) {
		if (body != ack_len)
			return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s acknowledged a copy "
					   "with %llu bytes instead of %llu", c->peer,
					   (unsigned long long)body, (unsigned long long)ack_len);
		rc = io_recv(c->fd, ack_dst, (size_t)body, deadline, c->err, sizeof c->err);
		*body_len = (size_t)body;
		return rc ? client_io(c, rc, "reading copied data from") : 0;
	}
	if (body > c->opt.max_reply)
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s sent a reply of %llu bytes "
				   "(limit %llu)", c->peer, (unsigned long long)body,
				   (unsigned long long)c->opt.max_reply);
	if (body + 1 > c->in_cap) {
		free(c->in);
		c->in_cap = (size_t)body + 1;
		c->in = xmalloc(c->in_cap);
	}
	rc = io_recv(c->fd, c->in, (size_t)body, deadline, c->err, sizeof c->err);
	if (rc)
		return client_io(c, rc, "reading a reply from");
	*body_len = (size_t)body;
	return 0;
}

/* An Exception body: its text becomes the client's error. */
static int take_exception(rpc_client_t *c, size_t len)
{
	session_reader_t r;
	session_seq_t seq;
	char derr[SESSION_ERROR_MAX];
	session_reader_init(&r, c->in, len);
	if (session_seq_decode(&r, NULL, &seq, derr, sizeof derr) != 0 || seq.num < 1 ||
	    (seq.values[0].type_index != FFI_RAW_STR && seq.values[0].inner != FFI_STR)) {
		if (seq.values)
			session_seq_free(&seq);
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s sent an unreadable exception",
				   c->peer);
	}
	snprintf(c->err, sizeof c->err, "%s", seq.values[0].str.data);
	/* A server that ends the session for its timeout closes the connection next. */
	if (strncmp(c->err, RPC_SESSION_TIMEOUT_PREFIX, strlen(RPC_SESSION_TIMEOUT_PREFIX)) == 0)
		c->dead = 1;
	session_seq_free(&seq);
	return RPC_CLIENT_ERR_REMOTE;
}

/* Wait for Return (decoded into seq, pointing into c->in) or Exception. */
static int recv_return(rpc_client_t *c, double deadline, session_seq_t *seq)
{
	int32_t code;
	size_t len;
	int rc = read_packet(c, deadline, &code, &len, NULL, 0);
	if (rc)
		return rc;
	if (code == SESSION_CODE_EXCEPTION)
		return take_exception(c, len);
	if (code != SESSION_CODE_RETURN)
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s answered with packet code %d",
				   c->peer, code);
	session_reader_t r;
	char derr[SESSION_ERROR_MAX];
	session_reader_init(&r, c->in, len);
	if (session_seq_decode(&r, NULL, seq, derr, sizeof derr) != 0)
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s: %s", c->peer, derr);
	return 0;
}

/* A syscall (codes 9-21): args in, exactly one value out (copied; no strings). */
static int syscall_run(rpc_client_t *c, int32_t code, const session_value_t *args, int32_t n,
		       session_value_t *out)
{
	session_buf_reset(&c->out);
	size_t start = session_packet_begin(&c->out, code);
	if (session_seq_encode(&c->out, args, n) != 0)
		return client_fail(c, RPC_CLIENT_ERR_ARG, "cannot encode syscall %d", code);
	session_packet_end(&c->out, start, 0);
	double deadline = reply_deadline(c);
	int rc = send_request(c, NULL, 0, deadline);
	session_seq_t seq;
	if (rc == 0)
		rc = recv_return(c, deadline, &seq);
	if (rc)
		return rc;
	if (seq.num != 1) {
		session_seq_free(&seq);
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s answered syscall %d with %d "
				   "values", c->peer, code, seq.num);
	}
	if (out)
		*out = seq.values[0];
	session_seq_free(&seq);
	return 0;
}

static session_tensor_t wire_tensor(const rpc_tensor_t *t)
{
	session_tensor_t w;
	w.data = t->data;
	w.device = t->device;
	w.ndim = t->ndim;
	w.dtype = t->dtype;
	w.shape = t->shape;
	w.byte_offset = t->byte_offset;
	return w;
}

session_value_t rpc_tensor_arg(const rpc_tensor_t *t)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_DLTENSOR_PTR;
	v.tensor = wire_tensor(t);
	return v;
}

static session_value_t device_value(DLDevice dev)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_DEVICE;
	v.device = dev;
	return v;
}

static int is_handle_value(const session_value_t *v)
{
	return v->type_index == FFI_OPAQUE_PTR || v->type_index == FFI_FUNCTION ||
	       v->type_index == FFI_MODULE || v->inner == FFI_RPC_OBJECT_REF ||
	       v->type_index == FFI_NONE;
}

void rpc_value_free(rpc_value_t *v)
{
	if (!v)
		return;
	free(v->str);
	memset(v, 0, sizeof *v);
}

/* CallFunc return [Int type, value...] (§3.3a) into an rpc_value. */
static int decode_call_return(rpc_client_t *c, const session_seq_t *seq, rpc_value_t *ret)
{
	memset(ret, 0, sizeof *ret);
	if (seq->num < 1 || seq->values[0].type_index != FFI_INT)
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s sent a call result without "
				   "its type", c->peer);
	int64_t t = seq->values[0].v_int;
	const session_value_t *v = seq->num > 1 ? &seq->values[1] : NULL;
	ret->type_index = (int32_t)t;
	if (t == FFI_NONE)
		return 0;
	if (!v)
		goto bad;
	switch (t) {
	case FFI_INT:
	case FFI_BOOL:
		if (v->type_index != FFI_INT && v->type_index != FFI_BOOL)
			goto bad;
		ret->v_int = v->v_int;
		return 0;
	case FFI_FLOAT:
		if (v->type_index != FFI_FLOAT)
			goto bad;
		ret->v_float = v->v_float;
		return 0;
	case FFI_DATATYPE:
		if (v->type_index != FFI_DATATYPE)
			goto bad;
		ret->dtype = v->dtype;
		return 0;
	case FFI_DEVICE:
		if (v->type_index != FFI_DEVICE)
			goto bad;
		ret->device = v->device;
		return 0;
	case FFI_SMALL_STR:
	case FFI_STR:
	case FFI_SMALL_BYTES:
	case FFI_BYTES:
		if (v->type_index != FFI_RAW_STR && v->type_index != FFI_BYTE_ARRAY_PTR &&
		    v->inner != FFI_STR && v->inner != FFI_BYTES)
			goto bad;
		ret->type_index = (t == FFI_SMALL_STR || t == FFI_STR) ? FFI_STR : FFI_BYTES;
		ret->size = (size_t)v->str.size;
		ret->str = xmalloc(ret->size + 1);
		memcpy(ret->str, v->str.data, ret->size);
		ret->str[ret->size] = '\0';
		return 0;
	case FFI_TENSOR:
		if (v->type_index != FFI_DLTENSOR_PTR || seq->num < 3 ||
		    !is_handle_value(&seq->values[2]))
			goto bad;
		ret->tensor.data = v->tensor.data;
		ret->tensor.device = v->tensor.device;
		ret->tensor.ndim = v->tensor.ndim;
		ret->tensor.dtype = v->tensor.dtype;
		memcpy(ret->tensor.shape, v->tensor.shape, sizeof(int64_t) * (size_t)v->tensor.ndim);
		ret->tensor.byte_offset = v->tensor.byte_offset;
		ret->handle = seq->values[2].handle;
		return 0;
	default:
		/* Opaque pointers, functions, modules and any other object: a handle. */
		if ((t != FFI_OPAQUE_PTR && t < FFI_STATIC_OBJECT_BEGIN) || !is_handle_value(v))
			goto bad;
		ret->handle = v->type_index == FFI_NONE ? 0 : v->handle;
		return 0;
	}
bad:
	return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s sent a malformed result of type %lld",
			   c->peer, (long long)t);
}

static int owns_handle(const rpc_value_t *v)
{
	return v->handle != 0 && (v->type_index == FFI_TENSOR ||
				  (v->type_index >= FFI_STATIC_OBJECT_BEGIN &&
				   v->type_index != FFI_STR && v->type_index != FFI_BYTES));
}

/* CallFunc whose packet may continue with `payload` (uploads). */
static int call_with_payload(rpc_client_t *c, const void *payload, uint64_t payload_len,
			     rpc_value_t *ret, double deadline)
{
	session_seq_t seq;
	int rc = send_request(c, payload, (size_t)payload_len, deadline);
	if (rc == 0)
		rc = recv_return(c, deadline, &seq);
	if (rc)
		return rc;
	rpc_value_t tmp;
	rc = decode_call_return(c, &seq, &tmp);
	session_seq_free(&seq);
	if (rc)
		return rc;
	if (ret) {
		*ret = tmp;
		return 0;
	}
	if (owns_handle(&tmp))
		rpc_client_free_handle(c, tmp.handle);
	rpc_value_free(&tmp);
	return 0;
}

int rpc_client_call(rpc_client_t *c, uint64_t fn, const session_value_t *args, int32_t nargs,
		    rpc_value_t *ret)
{
	if (ret)
		memset(ret, 0, sizeof *ret);
	session_buf_reset(&c->out);
	size_t start = session_packet_begin(&c->out, SESSION_CODE_CALL_FUNC);
	session_buf_put_u64(&c->out, fn);
	if (session_seq_encode(&c->out, args, nargs) != 0)
		return client_fail(c, RPC_CLIENT_ERR_ARG, "an argument cannot be sent over RPC");
	session_packet_end(&c->out, start, 0);
	return call_with_payload(c, NULL, 0, ret, reply_deadline(c));
}

int rpc_client_get_global(rpc_client_t *c, const char *name, uint64_t *fn)
{
	*fn = 0;
	session_value_t arg = session_value_raw_str(name, strlen(name)), v;
	int rc = syscall_run(c, SESSION_CODE_GET_GLOBAL_FUNC, &arg, 1, &v);
	if (rc)
		return rc;
	if (!is_handle_value(&v))
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s answered GetGlobalFunc with "
				   "type %d", c->peer, v.type_index);
	*fn = v.type_index == FFI_NONE ? 0 : v.handle;
	if (*fn == 0)
		return client_fail(c, RPC_CLIENT_ERR_MISSING, "%s has no global function '%s'",
				   c->peer, name);
	return 0;
}

int rpc_client_call_global(rpc_client_t *c, const char *name, const session_value_t *args,
			   int32_t nargs, rpc_value_t *ret)
{
	uint64_t fn;
	int rc = rpc_client_get_global(c, name, &fn);
	if (rc)
		return rc;
	rc = rpc_client_call(c, fn, args, nargs, ret);
	if (!c->dead) {
		char keep[sizeof c->err];
		memcpy(keep, c->err, sizeof keep);
		rpc_client_free_handle(c, fn);
		memcpy(c->err, keep, sizeof keep);
	}
	return rc;
}

int rpc_client_free_handle(rpc_client_t *c, uint64_t handle)
{
	if (handle == 0)
		return 0;
	session_value_t arg = session_value_handle(FFI_OPAQUE_PTR, handle);
	return syscall_run(c, SESSION_CODE_FREE_HANDLE, &arg, 1, NULL);
}

/* A cached global (looked up once per session). */
static int cached_global(rpc_client_t *c, uint64_t *slot, const char *name)
{
	if (*slot)
		return 0;
	return rpc_client_get_global(c, name, slot);
}

/* ---- files and modules ---- */

/* CallFunc(upload, [RawStr name, Bytes <len>]) whose last `len` bytes follow the buffer. */
static int upload_begin(rpc_client_t *c, const char *remote_name, uint64_t len)
{
	int rc = cached_global(c, &c->h_upload, "tvm.rpc.server.upload");
	if (rc)
		return rc;
	session_buf_reset(&c->out);
	size_t start = session_packet_begin(&c->out, SESSION_CODE_CALL_FUNC);
	session_buf_put_u64(&c->out, c->h_upload);
	session_buf_put_i32(&c->out, 2);
	session_value_t name = session_value_raw_str(remote_name, strlen(remote_name));
	session_value_encode(&c->out, &name);
	/* Bytes travel the object path: outer Bytes, inner Bytes, length, content (§2.4). */
	session_buf_put_i32(&c->out, FFI_BYTES);
	session_buf_put_u32(&c->out, FFI_BYTES);
	session_buf_put_u64(&c->out, len);
	session_packet_end(&c->out, start, len);
	return 0;
}

int rpc_client_upload(rpc_client_t *c, const char *remote_name, const void *data, size_t len)
{
	int rc = upload_begin(c, remote_name, len);
	if (rc)
		return rc;
	return call_with_payload(c, data, len, NULL, reply_deadline(c));
}

int rpc_client_upload_file(rpc_client_t *c, const char *local_path, const char *remote_name)
{
	int fd = open(local_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return client_fail(c, RPC_CLIENT_ERR_ARG, "%s: %s", local_path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return client_fail(c, RPC_CLIENT_ERR_ARG, "%s: not a regular file", local_path);
	}
	uint64_t size = (uint64_t)st.st_size;
	int rc = upload_begin(c, remote_name, size);
	double deadline = reply_deadline(c);
	if (rc == 0)
		rc = send_request(c, NULL, 0, deadline);
	/* Stream the file; once the header is out, a short read leaves the stream broken. */
	uint8_t *chunk = rc ? NULL : xmalloc(UPLOAD_CHUNK);
	for (uint64_t sent = 0; rc == 0 && sent < size;) {
		size_t want = size - sent < UPLOAD_CHUNK ? (size_t)(size - sent) : UPLOAD_CHUNK;
		ssize_t r = read(fd, chunk, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = client_fail(c, RPC_CLIENT_ERR_IO, "%s: %s while uploading", local_path,
					 r < 0 ? strerror(errno) : "file shrank");
			break;
		}
		rc = io_send(c->fd, chunk, (size_t)r, deadline, c->err, sizeof c->err);
		if (rc)
			rc = client_io(c, rc, "uploading to");
		sent += (uint64_t)r;
	}
	free(chunk);
	close(fd);
	if (rc)
		return rc;
	session_buf_reset(&c->out); /* already sent */
	return call_with_payload(c, NULL, 0, NULL, deadline);
}

int rpc_client_load_module(rpc_client_t *c, const char *remote_name, uint64_t *module)
{
	*module = 0;
	int rc = cached_global(c, &c->h_load_module, "tvm.rpc.server.load_module");
	if (rc)
		return rc;
	session_value_t arg = session_value_raw_str(remote_name, strlen(remote_name));
	rpc_value_t ret;
	rc = rpc_client_call(c, c->h_load_module, &arg, 1, &ret);
	if (rc)
		return rc;
	if (ret.type_index != FFI_MODULE || ret.handle == 0) {
		if (owns_handle(&ret))
			rpc_client_free_handle(c, ret.handle);
		rpc_value_free(&ret);
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "load_module on %s returned type "
				   "%d instead of a module", c->peer, ret.type_index);
	}
	*module = ret.handle;
	return 0;
}

int rpc_client_module_get_function(rpc_client_t *c, uint64_t module, const char *name,
				   uint64_t *fn)
{
	*fn = 0;
	int rc = cached_global(c, &c->h_get_function, "tvm.rpc.server.ModuleGetFunction");
	if (rc)
		return rc;
	session_value_t args[3] = {session_value_handle(FFI_MODULE, module),
				   session_value_raw_str(name, strlen(name)), session_value_bool(1)};
	rpc_value_t ret;
	rc = rpc_client_call(c, c->h_get_function, args, 3, &ret);
	if (rc)
		return rc;
	if (ret.type_index == FFI_NONE || (ret.type_index == FFI_FUNCTION && ret.handle == 0))
		return client_fail(c, RPC_CLIENT_ERR_MISSING, "the module has no function '%s'",
				   name);
	if (ret.type_index != FFI_FUNCTION) {
		if (owns_handle(&ret))
			rpc_client_free_handle(c, ret.handle);
		rpc_value_free(&ret);
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "ModuleGetFunction on %s returned "
				   "type %d", c->peer, ret.type_index);
	}
	*fn = ret.handle;
	return 0;
}

/* ---- tensors ---- */

int rpc_tensor_nbytes(const rpc_tensor_t *t, uint64_t *out)
{
	if (t->ndim < 0 || t->ndim > SESSION_MAX_NDIM)
		return -1;
	uint64_t bits = (uint64_t)t->dtype.bits * t->dtype.lanes, n = 1;
	for (int32_t i = 0; i < t->ndim; i++) {
		if (t->shape[i] < 0)
			return -1;
		uint64_t d = (uint64_t)t->shape[i];
		if (d && n > UINT64_MAX / d)
			return -1;
		n *= d;
	}
	if (bits && n > (UINT64_MAX - 7) / bits)
		return -1;
	*out = (n * bits + 7) / 8;
	return 0;
}

int rpc_client_alloc(rpc_client_t *c, rpc_tensor_t *t)
{
	uint64_t nbytes;
	if (rpc_tensor_nbytes(t, &nbytes) != 0)
		return client_fail(c, RPC_CLIENT_ERR_ARG, "tensor shape overflows");
	rpc_tensor_t proto = *t;
	proto.data = 0;
	proto.byte_offset = 0;
	session_value_t args[2] = {rpc_tensor_arg(&proto), session_value_none()}, v;
	int rc = syscall_run(c, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, args, 2, &v);
	if (rc)
		return rc;
	if (v.type_index != FFI_OPAQUE_PTR || (v.handle == 0 && nbytes != 0))
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s answered an allocation of %llu "
				   "bytes with no pointer", c->peer, (unsigned long long)nbytes);
	t->data = v.handle;
	t->byte_offset = 0;
	return 0;
}

int rpc_client_free_data(rpc_client_t *c, DLDevice dev, uint64_t data)
{
	session_value_t args[2] = {device_value(dev), session_value_handle(FFI_OPAQUE_PTR, data)};
	return syscall_run(c, SESSION_CODE_DEV_FREE_DATA, args, 2, NULL);
}

int rpc_client_stream_sync(rpc_client_t *c, DLDevice dev)
{
	session_value_t args[2] = {device_value(dev), session_value_handle(FFI_OPAQUE_PTR, 0)};
	return syscall_run(c, SESSION_CODE_DEV_STREAM_SYNC, args, 2, NULL);
}

/* The server's packet limit, asked once per session (§4.3). */
static int max_packet(rpc_client_t *c, int64_t *out)
{
	if (c->max_packet == 0) {
		uint64_t h;
		int rc = rpc_client_get_global(c, "tvm.rpc.server.GetCRTMaxPacketSize", &h);
		if (rc == RPC_CLIENT_ERR_MISSING) {
			c->max_packet = -1;
		} else if (rc) {
			return rc;
		} else {
			rpc_value_t ret;
			rc = rpc_client_call(c, h, NULL, 0, &ret);
			rpc_client_free_handle(c, h);
			if (rc)
				return rc;
			if (ret.type_index != FFI_INT || ret.v_int <= 0)
				return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s reported an "
						   "invalid packet limit", c->peer);
			c->max_packet = ret.v_int;
		}
	}
	*out = c->max_packet;
	return 0;
}

/* Payload bytes per copy packet, given the limit and the header size. */
static int copy_block(rpc_client_t *c, const rpc_tensor_t *t, uint64_t nbytes, uint64_t *block)
{
	uint64_t total;
	if (rpc_tensor_nbytes(t, &total) != 0 || nbytes > total)
		return client_fail(c, RPC_CLIENT_ERR_ARG, "copy of %llu bytes does not fit the "
				   "tensor", (unsigned long long)nbytes);
	int64_t limit;
	int rc = max_packet(c, &limit);
	if (rc)
		return rc;
	uint64_t overhead = 44u + 8u * (uint64_t)t->ndim;
	if (limit < 0) {
		*block = nbytes ? nbytes : 1;
		return 0;
	}
	if ((uint64_t)limit <= overhead)
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s limits packets to %lld bytes, "
				   "less than a copy header", c->peer, (long long)limit);
	*block = (uint64_t)limit - overhead;
	return 0;
}

/* The DevStreamSync that ends a copy, as TVM's client sends it. A CPU copy is complete when
 * the server answers it (the server's memcpy is done and CPU streams are no-ops), so for
 * kDLCPU the extra round trip, which halves small-copy throughput, is skipped. */
static int copy_sync(rpc_client_t *c, DLDevice dev)
{
	return dev.device_type == kDLCPU ? 0 : rpc_client_stream_sync(c, dev);
}

static void copy_packet(rpc_client_t *c, int32_t code, const rpc_tensor_t *t, uint64_t off,
			uint64_t len)
{
	session_tensor_t w = wire_tensor(t);
	w.byte_offset = t->byte_offset + off;
	session_buf_reset(&c->out);
	size_t start = session_packet_begin(&c->out, code);
	session_tensor_encode(&c->out, &w);
	session_buf_put_u64(&c->out, len);
	session_packet_end(&c->out, start, code == SESSION_CODE_COPY_TO_REMOTE ? len : 0);
}

int rpc_client_copy_to(rpc_client_t *c, const rpc_tensor_t *dst, const void *src, uint64_t nbytes)
{
	uint64_t block;
	int rc = copy_block(c, dst, nbytes, &block);
	if (rc)
		return rc;
	for (uint64_t off = 0; off < nbytes; off += block) {
		uint64_t len = nbytes - off < block ? nbytes - off : block;
		copy_packet(c, SESSION_CODE_COPY_TO_REMOTE, dst, off, len);
		double deadline = reply_deadline(c);
		session_seq_t seq;
		rc = send_request(c, (const uint8_t *)src + off, (size_t)len, deadline);
		if (rc == 0)
			rc = recv_return(c, deadline, &seq);
		if (rc)
			return rc;
		session_seq_free(&seq);
	}
	return copy_sync(c, dst->device);
}

int rpc_client_copy_from(rpc_client_t *c, const rpc_tensor_t *src, void *dst, uint64_t nbytes)
{
	uint64_t block;
	int rc = copy_block(c, src, nbytes, &block);
	if (rc)
		return rc;
	for (uint64_t off = 0; off < nbytes; off += block) {
		uint64_t len = nbytes - off < block ? nbytes - off : block;
		copy_packet(c, SESSION_CODE_COPY_FROM_REMOTE, src, off, len);
		double deadline = reply_deadline(c);
		rc = send_request(c, NULL, 0, deadline);
		int32_t code;
		size_t got;
		if (rc == 0)
			rc = read_packet(c, deadline, &code, &got, (uint8_t *)dst + off, len);
		if (rc)
			return rc;
		if (code == SESSION_CODE_EXCEPTION)
			return take_exception(c, got);
		if (code != SESSION_CODE_COPY_ACK)
			return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s answered a copy with "
					   "packet code %d", c->peer, code);
	}
	return copy_sync(c, src->device);
}

/* ---- timing ---- */

int rpc_client_time_evaluator(rpc_client_t *c, uint64_t module, const char *name, DLDevice dev,
			      const rpc_time_options_t *t, uint64_t *fn)
{
	*fn = 0;
	int rc = cached_global(c, &c->h_time_evaluator, "runtime.RPCTimeEvaluator");
	if (rc)
		return rc;
	session_value_t args[12] = {
		module ? session_value_handle(FFI_MODULE, module) : session_value_none(),
		session_value_raw_str(name, strlen(name)),
		session_value_int(dev.device_type),
		session_value_int(dev.device_id),
		session_value_int(t->number > 0 ? t->number : 10),
		session_value_int(t->repeat > 0 ? t->repeat : 1),
		session_value_int(t->min_repeat_ms),
		session_value_int(100), /* limit_zero_time_iterations, TVM's default */
		session_value_int(t->cooldown_ms),
		session_value_int(1), /* repeats_to_cooldown */
		session_value_int(0), /* cache_flush_bytes */
		session_value_raw_str("", 0),
	};
	rpc_value_t ret;
	rc = rpc_client_call(c, c->h_time_evaluator, args, 12, &ret);
	if (rc)
		return rc;
	if (ret.type_index != FFI_FUNCTION || ret.handle == 0) {
		if (owns_handle(&ret))
			rpc_client_free_handle(c, ret.handle);
		rpc_value_free(&ret);
		return client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "RPCTimeEvaluator on %s did not "
				   "return a function", c->peer);
	}
	*fn = ret.handle;
	return 0;
}

/* ---- probe ---- */

int rpc_client_probe(rpc_client_t *c, int rounds, uint64_t copy_bytes, rpc_probe_result_t *out)
{
	memset(out, 0, sizeof *out);
	DLDevice cpu = {kDLCPU, 0};
	double best = INFINITY, sum = 0;
	for (int i = 0; i < rounds; i++) {
		double t0 = net_monotonic();
		int rc = rpc_client_stream_sync(c, cpu);
		if (rc)
			return rc;
		double dt = net_monotonic() - t0;
		best = dt < best ? dt : best;
		sum += dt;
	}
	out->rounds = rounds;
	if (rounds > 0) {
		out->rtt_min_us = best * 1e6;
		out->rtt_mean_us = sum / rounds * 1e6;
	}
	if (copy_bytes == 0)
		return 0;
	int64_t limit;
	int rc = max_packet(c, &limit); /* asked before the clock starts */
	if (rc)
		return rc;
	rpc_tensor_t t;
	memset(&t, 0, sizeof t);
	t.device = cpu;
	t.ndim = 1;
	t.shape[0] = (int64_t)copy_bytes;
	t.dtype.code = kDLUInt;
	t.dtype.bits = 8;
	t.dtype.lanes = 1;
	uint8_t *a = aligned_alloc_zero(64, (size_t)copy_bytes);
	uint8_t *b = aligned_alloc_zero(64, (size_t)copy_bytes);
	if (!a || !b) {
		free(a);
		free(b);
		return client_fail(c, RPC_CLIENT_ERR_ARG, "out of memory for a %llu-byte probe",
				   (unsigned long long)copy_bytes);
	}
	for (uint64_t i = 0; i < copy_bytes; i++)
		a[i] = (uint8_t)(i * 131 + (i >> 12));
	rc = rpc_client_alloc(c, &t);
	if (rc == 0) {
		double t0 = net_monotonic();
		rc = rpc_client_copy_to(c, &t, a, copy_bytes);
		double t1 = net_monotonic();
		if (rc == 0)
			rc = rpc_client_copy_from(c, &t, b, copy_bytes);
		double t2 = net_monotonic();
		double mib = (double)copy_bytes / (1024.0 * 1024.0);
		if (rc == 0) {
			out->copy_bytes = copy_bytes;
			out->upload_mib_s = t1 > t0 ? mib / (t1 - t0) : 0;
			out->download_mib_s = t2 > t1 ? mib / (t2 - t1) : 0;
			if (memcmp(a, b, (size_t)copy_bytes) != 0)
				rc = client_fail(c, RPC_CLIENT_ERR_PROTOCOL, "%s returned different "
						 "bytes than were copied", c->peer);
		}
		if (!c->dead) {
			int frc = rpc_client_free_data(c, cpu, t.data);
			rc = rc ? rc : frc;
		}
	}
	free(a);
	free(b);
	return rc;
}

/* ---- connect, handshake, InitServer ---- */

static int handshake(rpc_client_t *c, const char *key, double deadline, char *err, size_t errlen)
{
	char full[640];
	int n = snprintf(full, sizeof full, "client:%s", key ? key : "");
	if (c->opt.session_timeout > 0) {
		double s = c->opt.session_timeout;
		if (s == floor(s) && s < 1e15)
			n += snprintf(full + n, sizeof full - (size_t)n, " -timeout=%.0f", s);
		else
			n += snprintf(full + n, sizeof full - (size_t)n, " -timeout=%g", s);
	}
	if (n < 0 || (size_t)n >= sizeof full)
		return fail_to(err, errlen, RPC_CLIENT_ERR_ARG, "key too long");
	uint8_t buf[sizeof full + 8];
	size_t len = handshake_encode(buf, sizeof buf, RPC_MAGIC, full);
	int rc = io_send(c->fd, buf, len, deadline, err, errlen);
	if (rc)
		return rc;
	uint8_t word[4];
	rc = io_recv(c->fd, word, 4, deadline, err, errlen);
	if (rc)
		return rc == RPC_CLIENT_ERR_IO ? fail_to(err, errlen, rc, "%s closed the connection "
							 "during the handshake", c->peer)
					       : rc;
	uint32_t code = get_u32le(word);
	if (code == RPC_CODE_MISMATCH)
		return fail_to(err, errlen, RPC_CLIENT_ERR_MISMATCH, "%s refused key '%s' (no "
			       "server matches it)", c->peer, key ? key : "");
	if (code == RPC_CODE_DUPLICATE)
		return fail_to(err, errlen, RPC_CLIENT_ERR_MISMATCH, "%s already has a client "
			       "waiting with key '%s'", c->peer, key ? key : "");
	if (code != RPC_CODE_SUCCESS)
		return fail_to(err, errlen, RPC_CLIENT_ERR_PROTOCOL, "%s is not a TVM RPC server",
			       c->peer);
	rc = io_recv(c->fd, word, 4, deadline, err, errlen);
	if (rc)
		return rc;
	uint32_t klen = get_u32le(word);
	if (klen > HANDSHAKE_DEFAULT_MAX_KEY)
		return fail_to(err, errlen, RPC_CLIENT_ERR_PROTOCOL, "%s announced a %u-byte key",
			       c->peer, klen);
	char key_in[HANDSHAKE_DEFAULT_MAX_KEY + 1];
	rc = io_recv(c->fd, key_in, klen, deadline, err, errlen);
	if (rc)
		return rc;
	key_in[klen] = '\0';
	snprintf(c->server_key, sizeof c->server_key, "%.255s", key_in);
	return 0;
}

static int init_server(rpc_client_t *c, double deadline, char *err, size_t errlen)
{
	session_buf_reset(&c->out);
	size_t start = session_packet_begin(&c->out, SESSION_CODE_INIT_SERVER);
	session_buf_put_u64(&c->out, strlen(SESSION_PROTOCOL_VERSION));
	session_buf_put(&c->out, SESSION_PROTOCOL_VERSION, strlen(SESSION_PROTOCOL_VERSION));
	if (session_seq_encode(&c->out, c->opt.init_args, c->opt.num_init_args) != 0)
		return fail_to(err, errlen, RPC_CLIENT_ERR_ARG, "a session constructor argument "
			       "cannot be sent over RPC");
	session_packet_end(&c->out, start, 0);
	session_seq_t seq;
	int rc = send_request(c, NULL, 0, deadline);
	if (rc == 0)
		rc = recv_return(c, deadline, &seq);
	if (rc == RPC_CLIENT_ERR_REMOTE)
		return fail_to(err, errlen, rc, "%s refused protocol %s: %s", c->peer,
			       SESSION_PROTOCOL_VERSION, c->err);
	if (rc)
		return fail_to(err, errlen, rc, "%s", c->err);
	session_seq_free(&seq);
	return 0;
}

int rpc_client_connect(const char *host, int port, const char *key,
		       const rpc_client_options_t *opt, rpc_client_t **out, char *err,
		       size_t errlen)
{
	*out = NULL;
	rpc_client_t *c = xcalloc(1, sizeof *c);
	if (opt)
		c->opt = *opt;
	else
		rpc_client_options_default(&c->opt);
	if (strchr(host, ':'))
		snprintf(c->peer, sizeof c->peer, "[%s]:%d", host, port);
	else
		snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
	double deadline = net_deadline_after(c->opt.connect_timeout);
	c->fd = tcp_connect(host, port, deadline, err, errlen);
	if (c->fd < 0) {
		int rc = c->fd;
		c->fd = -1;
		c->dead = 1;
		rpc_client_close(c);
		return rc;
	}
	int rc = handshake(c, key, deadline, err, errlen);
	if (rc == RPC_CLIENT_ERR_TIMEOUT)
		fail_to(err, errlen, rc, "%s did not complete the handshake in %g s", c->peer,
			c->opt.connect_timeout);
	if (rc == 0)
		rc = init_server(c, deadline, err, errlen);
	if (rc) {
		c->dead = 1;
		rpc_client_close(c);
		return rc;
	}
	log_debug("rpc client: connected to %s (%s)", c->peer, c->server_key);
	*out = c;
	return 0;
}

void rpc_client_close(rpc_client_t *c)
{
	if (!c)
		return;
	if (!c->dead && c->fd >= 0) {
		uint64_t *cached[] = {&c->h_upload, &c->h_load_module, &c->h_get_function,
				      &c->h_time_evaluator};
		for (size_t i = 0; i < sizeof cached / sizeof cached[0] && !c->dead; i++)
			if (*cached[i])
				rpc_client_free_handle(c, *cached[i]);
		if (!c->dead) {
			uint8_t shutdown[12] = {4, 0, 0, 0, 0, 0, 0, 0, SESSION_CODE_SHUTDOWN, 0, 0, 0};
			char ignore[64];
			io_send(c->fd, shutdown, sizeof shutdown, net_deadline_after(2), ignore,
				sizeof ignore);
		}
	}
	if (c->fd >= 0)
		close(c->fd);
	session_buf_free(&c->out);
	free(c->in);
	free(c);
}

const char *rpc_client_error(const rpc_client_t *c)
{
	return c->err;
}

int rpc_client_fd(const rpc_client_t *c)
{
	return c->fd;
}

const char *rpc_client_server_key(const rpc_client_t *c)
{
	return c->server_key;
}

const char *rpc_client_peer(const rpc_client_t *c)
{
	return c->peer;
}

/* ---- tracker ---- */

/* A tracker client failure as this client reports it. */
static int tracker_status(int rc)
{
	return rc == TRACKER_CLIENT_ERR_TIMEOUT    ? RPC_CLIENT_ERR_TIMEOUT
	       : rc == TRACKER_CLIENT_ERR_PROTOCOL ? RPC_CLIENT_ERR_PROTOCOL
						   : RPC_CLIENT_ERR_IO;
}

int rpc_client_request(const rpc_tracker_request_t *req, const rpc_client_options_t *opt,
		       rpc_client_t **out, char *err, size_t errlen)
{
	*out = NULL;
	rpc_client_options_t defaults;
	if (!opt) {
		rpc_client_options_default(&defaults);
		opt = &defaults;
	}
	int attempts = req->max_retry > 0 ? req->max_retry : 5;
	int rc = RPC_CLIENT_ERR_IO, tried = 0;
	tracker_client_t tracker = {.fd = -1};
	char last[768] = "";
	for (int i = 0; i < attempts; i++) {
		tried = i + 1;
		if (i > 0) /* short pause so that a flapping server or tracker can settle */
			sleep_s(i < 4 ? 0.25 * i : 1.0);
		if (tracker.fd < 0) {
			rc = tracker_client_connect(&tracker, req->host, req->port,
						    opt->connect_timeout, last, sizeof last);
			if (rc) {
				rc = tracker_status(rc);
				log_debug("tracker request %d/%d: %s", i + 1, attempts, last);
				continue;
			}
		}
		char addr[256], match[512];
		int port = 0;
		rc = tracker_client_request(&tracker, req->key, req->priority, req->wait_timeout,
					    addr, sizeof addr, &port, match, sizeof match, last,
					    sizeof last);
		if (rc) {
			rc = tracker_status(rc);
			/* the tracker connection is in an unknown state: reopen it next time */
			tracker_client_close(&tracker);
			log_debug("tracker request %d/%d: %s", i + 1, attempts, last);
			if (rc == RPC_CLIENT_ERR_TIMEOUT)
				break; /* waited as long as asked */
			continue;
		}
		log_debug("tracker assigned %s:%d (%s)", addr, port, match);
		rc = rpc_client_connect(addr, port, match, opt, out, last, sizeof last);
		if (rc == 0) {
			tracker_client_close(&tracker);
			return 0;
		}
		log_debug("tracker request %d/%d: %s", i + 1, attempts, last);
	}
	tracker_client_close(&tracker);
	return fail_to(err, errlen, rc, "cannot get a '%s' device from tracker %s:%d after %d "
		       "attempt(s): %s", req->key, req->host, req->port, tried, last);
}
