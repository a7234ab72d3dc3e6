/* The session engine: a blocking request/response loop over a channel (session.h) that
 * carries the bytes; it does no I/O of its own. Reads go through a read-ahead buffer
 * (session_input.c: one channel read per waiting request). Packets are read whole (bounded by
 * max_packet) and dispatched to CallFunc (session_call.c) or the syscalls
 * (session_syscall.c), except CopyToRemote whose payload goes straight from the channel into
 * the destination, and CopyFromRemote/large byte returns whose payload is written from
 * where it lies, behind the header, in one write. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/device.h"
#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/session.h"
#include "runtime/session_internal.h"
#include "runtime/session_relay.h"

#define DEFAULT_MAX_PACKET (4ull << 30)
#define DEFAULT_MAX_STRING (1u << 20)

static void packet_deleter(void *self, int flags)
{
	(void)flags;
	free(self);
}

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

/* Read exactly n bytes through the read-ahead buffer (session_input.h). IO_EOF only when the
 * stream ends before the first byte. */
static int io_read(session_t *s, void *buf, size_t n)
{
	switch (session_input_read(&s->in, buf, n, s->deadline)) {
	case SESSION_INPUT_OK:
		return IO_OK;
	case SESSION_INPUT_EOF:
		return IO_EOF;
	case SESSION_INPUT_TIMEOUT:
		return IO_TIMEOUT;
	default:
		return IO_ERROR;
	}
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
	const session_channel_t *ch = s->channel;
	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		long r = ch->write(ch->context, iov, iovcnt, s->deadline);
		if (r < 0)
			return r == SESSION_CHANNEL_TIMEOUT ? IO_TIMEOUT : IO_ERROR;
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
int session_send_out(session_t *s, const void *tail, size_t extra)
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
	return session_send_out(s, NULL, 0);
}

/* Send the pending ffi error as an Exception "Kind: message". */
int session_send_ffi_error(session_t *s)
{
	char msg[2200];
	ffi_error_format(msg, sizeof msg);
	ffi_error_clear();
	log_debug("session %s: exception: %s", peer_name(s), msg);
	return send_exception(s, msg);
}

int session_send_errorf(session_t *s, const char *kind, const char *fmt, ...)
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

int session_send_none(session_t *s)
{
	session_encode_return_none(&s->out);
	return session_send_out(s, NULL, 0);
}

int session_send_value(session_t *s, session_value_t v)
{
	session_encode_return_value(&s->out, &v);
	return session_send_out(s, NULL, 0);
}

int session_client_region(uint64_t addr, uint64_t nbytes, void **out)
{
	if (!current_session) {
		*out = (void *)(uintptr_t)addr;
		return 0;
	}
	return session_region_resolve(current_session, addr, nbytes, out);
}

/* ---- InitServer and copies ---- */

static int handle_init_server(session_t *s, session_reader_t *r)
{
	uint64_t len;
	char err[SESSION_ERROR_MAX];
	if (session_read_u64(r, &len) || len > session_reader_left(r))
		return session_send_errorf(s, "ValueError", "malformed packet: bad InitServer version");
	char version[32];
	size_t shown = len < sizeof version - 1 ? (size_t)len : sizeof version - 1;
	memcpy(version, r->data + r->pos, shown);
	version[shown] = '\0';
	int match = len == strlen(SESSION_PROTOCOL_VERSION) &&
		    memcmp(r->data + r->pos, SESSION_PROTOCOL_VERSION, (size_t)len) == 0;
	r->pos += (size_t)len;
	if (!match)
		return session_send_errorf(s, "RPCError",
				   "Client protocol version mismatch with the server  server "
				   "protocol=%s, client protocol=%s",
				   SESSION_PROTOCOL_VERSION, version);
	if (s->initialized)
		return session_send_errorf(s, "RPCError", "InitServer: the session is already initialised");
	session_seq_t seq;
	if (session_seq_decode(r, &s->lim, &seq, err, sizeof err))
		return session_send_errorf(s, "ValueError", "%s", err);
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
		return session_send_ffi_error(s);
	s->initialized = 1;
	if (s->relay)
		log_info("session %s: relaying to a far server (constructor %s)", peer_name(s), name);
	return session_send_none(s);
}

/* CopyFromRemote of a device buffer: read [byte_offset, + nbytes) into host memory (the
 * read waits for queued kernels), then send it. */
static int send_device_bytes(session_t *s, const session_tensor_t *t, uint64_t nbytes)
{
	device_buffer_t *b = device_buffer_check(t->data, t->device, t->byte_offset, nbytes);
	if (!b)
		return session_send_ffi_error(s);
	void *host = nbytes <= SIZE_MAX / 2 ? malloc(nbytes ? (size_t)nbytes : 1) : NULL;
	if (!host)
		return session_send_errorf(s, "MemoryError", "CopyFromRemote: cannot buffer %llu "
				   "bytes", (unsigned long long)nbytes);
	DLTensor from = {.data = b, .device = t->device, .byte_offset = t->byte_offset};
	DLTensor to = {.data = host, .device = {kDLCPU, 0}};
	if (device_copy(&from, &to, nbytes)) {
		free(host);
		return session_send_ffi_error(s);
	}
	size_t start = session_packet_begin(&s->out, SESSION_CODE_COPY_ACK);
	session_packet_end(&s->out, start, nbytes);
	int rc = session_send_out(s, host, (size_t)nbytes);
	free(host);
	return rc;
}

/* CopyToRemote of a device buffer: the payload is read into host memory, then written. */
static int receive_device_bytes(session_t *s, const session_tensor_t *t, uint64_t nbytes)
{
	device_buffer_t *b = device_buffer_check(t->data, t->device, t->byte_offset, nbytes);
	void *host = b && nbytes <= SIZE_MAX / 2 ? malloc(nbytes ? (size_t)nbytes : 1) : NULL;
	if (!host) {
		int rc = io_drain(s, nbytes);
		if (rc != IO_OK)
			return rc;
		if (b)
			return session_send_errorf(s, "MemoryError", "CopyToRemote: cannot buffer "
					   "%llu bytes", (unsigned long long)nbytes);
		return session_send_ffi_error(s);
	}
	int rc = nbytes ? io_read(s, host, (size_t)nbytes) : IO_OK;
	if (rc != IO_OK) {
		free(host);
		return rc == IO_EOF ? IO_ERROR : rc;
	}
	DLTensor from = {.data = host, .device = {kDLCPU, 0}};
	DLTensor to = {.data = b, .device = t->device, .byte_offset = t->byte_offset};
	rc = device_copy(&from, &to, nbytes);
	free(host);
	return rc ? session_send_ffi_error(s) : session_send_none(s);
}

static int handle_copy_from_remote(session_t *s, session_reader_t *r)
{
	session_tensor_t t;
	int64_t shape[SESSION_MAX_NDIM];
	char err[SESSION_ERROR_MAX];
	uint64_t nbytes, total;
	if (session_tensor_decode(r, &t, shape, err, sizeof err))
		return session_send_errorf(s, "ValueError", "%s", err);
	if (session_read_u64(r, &nbytes))
		return session_send_errorf(s, "ValueError", "malformed packet: truncated copy size");
	void *src;
	if (session_device_check(t.device) || session_tensor_size(&t, &total))
		return session_send_ffi_error(s);
	if (t.byte_offset > total || nbytes > total - t.byte_offset || nbytes > UINT64_MAX - 4)
		return session_send_errorf(s, "ValueError",
				   "CopyFromRemote: %llu bytes at offset %llu exceed the %llu-byte tensor",
				   (unsigned long long)nbytes, (unsigned long long)t.byte_offset,
				   (unsigned long long)total);
	if (t.device.device_type != kDLCPU)
		return send_device_bytes(s, &t, nbytes);
	if (session_region_resolve(s, t.data, t.byte_offset + nbytes, &src))
		return session_send_ffi_error(s);
	size_t start = session_packet_begin(&s->out, SESSION_CODE_COPY_ACK);
	session_packet_end(&s->out, start, nbytes);
	return session_send_out(s, src ? (uint8_t *)src + t.byte_offset : NULL, (size_t)nbytes);
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
		return session_send_errorf(s, "ValueError", "malformed packet: CopyToRemote too short");
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
		return session_send_errorf(s, "ValueError", "malformed packet: CopyToRemote ndim %d", ndim);
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
	} else if (session_device_check(t.device) || session_tensor_size(&t, &total)) {
		bad = 1;
	} else if (t.byte_offset > total || nbytes > total - t.byte_offset) {
		ffi_error_set("ValueError",
			      "CopyToRemote: %llu bytes at offset %llu exceed the %llu-byte tensor",
			      (unsigned long long)nbytes, (unsigned long long)t.byte_offset,
			      (unsigned long long)total);
		bad = 1;
	} else if (t.device.device_type != kDLCPU) {
		return receive_device_bytes(s, &t, nbytes);
	} else if (session_region_resolve(s, t.data, t.byte_offset + nbytes, &dst)) {
		bad = 1;
	}
	if (bad) {
		rc = io_drain(s, left);
		if (rc != IO_OK)
			return rc;
		return session_send_ffi_error(s);
	}
	if (nbytes) {
		rc = io_read(s, (uint8_t *)dst + t.byte_offset, (size_t)nbytes);
		if (rc != IO_OK)
			return rc == IO_EOF ? IO_ERROR : rc;
	}
	return session_send_none(s);
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
		return session_send_errorf(s, "RPCError",
				   "packet of %llu bytes exceeds the server limit of %llu bytes",
				   (unsigned long long)body_len,
				   (unsigned long long)s->opt.max_packet);
	}
	if (!s->initialized && code != SESSION_CODE_INIT_SERVER) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		return session_send_errorf(s, "RPCError",
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
		return session_send_errorf(s, "RPCError", "unknown packet code %d", code);
	}
	packet_obj_t *packet = NULL;
	if (body_len <= SIZE_MAX - sizeof *packet - 1)
		packet = malloc(sizeof *packet + (size_t)body_len + 1);
	if (!packet) {
		int rc = io_drain(s, body_len);
		if (rc != IO_OK)
			return rc;
		return session_send_errorf(s, "MemoryError", "cannot buffer a %llu-byte packet",
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
		rc = session_call_handle(s, packet, &r);
		break;
	case SESSION_CODE_COPY_FROM_REMOTE:
		rc = handle_copy_from_remote(s, &r);
		break;
	default:
		rc = session_syscall_handle(s, code, &r);
		break;
	}
	ffi_object_release(&packet->header);
	return rc;
}

/* The session became a relay: the channel copies both ways from now on, starting with what
 * the client sent after InitServer that the read-ahead already took. */
static int session_start_relay(session_t *s)
{
	const uint8_t *pending;
	size_t n = session_input_pending(&s->in, &pending);
	if (!s->channel->relay)
		return SESSION_ERR_IO;
	return s->channel->relay(s->channel->context, s->relay, pending, n, s->deadline);
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
			return session_start_relay(s);
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

int session_run(const session_channel_t *channel, const session_options_t *opt)
{
	session_t s;
	memset(&s, 0, sizeof s);
	s.channel = channel;
	session_input_init(&s.in, channel);
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
	device_buffer_release_client(&s);
	session_memory_free(s.memory);
	session_buf_free(&s.out);
	session_input_free(&s.in);
	return rc;
}
