/* Unit tests for the session engine (session_serve) and the file-service globals, driven
 * over a socketpair (and once over an in-memory channel, with no descriptor at all) by a small client built on session_codec: state machine, limits,
 * timeouts, handle reference counts, pointer validation, copies, calls and path
 * confinement. Test-only globals ("test.session.*") exercise argument and result encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/session.h"
#include "runtime/session_codec.h"
#include "runtime/session_handles.h"
#include "runtime/session_memory.h"
#include "services/session_serve.h"

/* ---- test globals ---- */

/* Returns its first argument unchanged (objects retained). */
static int test_echo(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (n < 1)
		return 0;
	*result = args[0];
	ffi_any_retain(result);
	return 0;
}
FFI_REGISTER_GLOBAL("test.session.echo", test_echo)

/* Describes its arguments as text: type indices, tensor and byte details. */
static int test_describe(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	char text[1024] = "";
	for (int32_t i = 0; i < n; i++) {
		size_t used = strlen(text);
		const TVMFFIAny *a = &args[i];
		DLTensor *t = ffi_any_as_dltensor(a);
		size_t len;
		const char *s = ffi_any_as_str(a, &len);
		if (a->type_index == FFI_DLTENSOR_PTR && t)
			snprintf(text + used, sizeof text - used, "T(%d,%lld,%llu,%g)", t->ndim,
				 (long long)(t->ndim ? t->shape[0] : 0),
				 (unsigned long long)t->byte_offset,
				 (double)((float *)((char *)t->data + t->byte_offset))[0]);
		else if (a->type_index == FFI_BYTES)
			snprintf(text + used, sizeof text - used, "B(%zu)",
				 ((ffi_bytes_t *)a->v_obj)->size);
		else if (s)
			snprintf(text + used, sizeof text - used, "S(%d:%s)", a->type_index, s);
		else
			snprintf(text + used, sizeof text - used, "%d", a->type_index);
	}
	*result = ffi_any_object(&ffi_str_new(text, strlen(text))->header);
	return 0;
}
FFI_REGISTER_GLOBAL("test.session.describe", test_describe)

static int test_fail(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	(void)result;
	ffi_error_set("ValueError", "test failure %d", 7);
	return -1;
}
FFI_REGISTER_GLOBAL("test.session.fail", test_fail)

/* A new float32 tensor [4] = 1, 2, 3, 4. */
static int test_make_tensor(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	int64_t shape[1] = {4};
	ffi_tensor_t *t = ffi_tensor_alloc(shape, 1, (DLDataType){2, 32, 1}, (DLDevice){kDLCPU, 0});
	for (int i = 0; i < 4; i++)
		((float *)t->dl.data)[i] = (float)(i + 1);
	*result = ffi_any_object(&t->header);
	return 0;
}
FFI_REGISTER_GLOBAL("test.session.make_tensor", test_make_tensor)

static int test_make_array(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	ffi_array_t *a = ffi_array_new();
	ffi_array_push(a, ffi_any_int(1));
	*result = ffi_any_object(&a->header);
	return 0;
}
FFI_REGISTER_GLOBAL("test.session.make_array", test_make_array)

/* A Tensor viewing its DLTensor argument's memory (borrowed, like a careless function). */
static int test_view(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	DLTensor *t;
	if (ffi_arg_tensor("test.session.view", args, n, 0, &t))
		return -1;
	*result = ffi_any_object(&ffi_tensor_view((char *)t->data + t->byte_offset, t->shape,
						  t->ndim, t->dtype, t->device, NULL)
					   ->header);
	return 0;
}
FFI_REGISTER_GLOBAL("test.session.view", test_view)

static int answer_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	*result = ffi_any_int(42);
	return 0;
}

static ffi_function_t *test_module_get(ffi_module_t *self, const char *name)
{
	if (strcmp(name, "answer") == 0)
		return ffi_function_new(answer_call, NULL, NULL, &self->header);
	return NULL;
}

static const ffi_module_vtable_t test_module_vtable = {"test", test_module_get, NULL};
static const ffi_module_vtable_t empty_module_vtable = {"empty", NULL, NULL};

/* A module defining "answer" (42), or with argument Int 1 a module defining nothing. */
static int test_make_module(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	int empty = n > 0 && args[0].type_index == FFI_INT && args[0].v_int64 == 1;
	*result = ffi_any_object(
		&ffi_module_new(empty ? &empty_module_vtable : &test_module_vtable, NULL)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("test.session.make_module", test_make_module)

/* ---- harness ---- */

typedef struct harness {
	int fd, server_fd;
	pthread_t thread;
	session_options_t opt;
	int rc;
	char workdir[64];
} harness_t;

typedef struct reply {
	uint8_t *data; /* whole packet */
	size_t len;
	int32_t code;
	session_seq_t seq; /* decoded for Return/Exception */
} reply_t;

static void *serve_main(void *arg)
{
	harness_t *h = arg;
	int fd = h->server_fd;
	h->rc = session_serve(fd, &h->opt);
	close(fd);
	return NULL;
}

static harness_t *harness_start(double timeout, uint64_t max_packet, uint64_t memory_cap)
{
	harness_t *h = calloc(1, sizeof *h);
	snprintf(h->workdir, sizeof h->workdir, "/tmp/tvmrpc-session-XXXXXX");
	assert_non_null(mkdtemp(h->workdir));
	session_options_default(&h->opt);
	h->opt.work_dir = h->workdir;
	h->opt.timeout_seconds = timeout;
	if (max_packet)
		h->opt.max_packet = max_packet;
	h->opt.memory_cap = memory_cap;
	h->opt.peer = "test";
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	h->fd = sv[0];
	h->server_fd = sv[1];
	assert_int_equal(pthread_create(&h->thread, NULL, serve_main, h), 0);
	return h;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int harness_stop(harness_t *h)
{
	close(h->fd);
	pthread_join(h->thread, NULL);
	int rc = h->rc;
	nftw(h->workdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(h);
	return rc;
}

static void send_raw(harness_t *h, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		ssize_t w = send(h->fd, p, len, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		len -= (size_t)w;
	}
}

static int recv_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 10000) != 1)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void reply_free(reply_t *r)
{
	session_seq_free(&r->seq);
	free(r->data);
	memset(r, 0, sizeof *r);
}

static reply_t recv_reply(harness_t *h)
{
	reply_t r = {0};
	uint64_t len;
	assert_int_equal(recv_all(h->fd, &len, 8), 0);
	assert_true(len >= 4 && len < (1u << 30));
	r.len = 8 + (size_t)len;
	r.data = malloc(r.len);
	memcpy(r.data, &len, 8);
	assert_int_equal(recv_all(h->fd, r.data + 8, (size_t)len), 0);
	memcpy(&r.code, r.data + 8, 4);
	if (r.code == SESSION_CODE_RETURN || r.code == SESSION_CODE_EXCEPTION) {
		session_reader_t rd;
		session_reader_init(&rd, r.data + 12, r.len - 12);
		char err[SESSION_ERROR_MAX];
		session_limits_t lim = {0};
		assert_int_equal(session_seq_decode(&rd, &lim, &r.seq, err, sizeof err), 0);
		assert_int_equal(session_reader_left(&rd), 0);
	}
	return r;
}

/* Send a packet: code, optional u64 prefix (function handle), then a sequence. */
static reply_t request(harness_t *h, int32_t code, const uint64_t *prefix,
		       const session_value_t *values, int32_t n)
{
	session_buf_t b = {0};
	size_t start = session_packet_begin(&b, code);
	if (prefix)
		session_buf_put_u64(&b, *prefix);
	assert_int_equal(session_seq_encode(&b, values, n), 0);
	session_packet_end(&b, start, 0);
	send_raw(h, b.data, b.len);
	session_buf_free(&b);
	return recv_reply(h);
}

static void expect_exception(reply_t *r, const char *fragment)
{
	if (r->code != SESSION_CODE_EXCEPTION)
		fail_msg("expected an Exception containing '%s', got code %d", fragment, r->code);
	assert_int_equal(r->seq.num, 1);
	assert_int_equal(r->seq.values[0].type_index, FFI_RAW_STR);
	if (!strstr(r->seq.values[0].str.data, fragment))
		fail_msg("exception '%s' lacks '%s'", r->seq.values[0].str.data, fragment);
	reply_free(r);
}

static void expect_none(reply_t *r)
{
	if (r->code == SESSION_CODE_EXCEPTION)
		fail_msg("unexpected exception: %s", r->seq.values[0].str.data);
	assert_int_equal(r->code, SESSION_CODE_RETURN);
	assert_int_equal(r->seq.num, 1);
	assert_int_equal(r->seq.values[0].type_index, FFI_NONE);
	reply_free(r);
}

static void init_server(harness_t *h)
{
	static const uint8_t pkt[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
				      0, 0, 0, '0', '.', '8', '.', '0', 0, 0, 0, 0};
	send_raw(h, pkt, sizeof pkt);
	reply_t r = recv_reply(h);
	expect_none(&r);
}

static session_value_t str_value(const char *s)
{
	return session_value_raw_str(s, strlen(s));
}

static session_value_t device_cpu(void)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_DEVICE;
	v.device = (DLDevice){kDLCPU, 0};
	return v;
}

/* GetGlobalFunc: the handle (0 when absent). */
static uint64_t get_global(harness_t *h, const char *name)
{
	session_value_t v = str_value(name);
	reply_t r = request(h, SESSION_CODE_GET_GLOBAL_FUNC, NULL, &v, 1);
	assert_int_equal(r.code, SESSION_CODE_RETURN);
	assert_int_equal(r.seq.num, 1);
	assert_int_equal(r.seq.values[0].type_index, FFI_OPAQUE_PTR);
	uint64_t handle = r.seq.values[0].handle;
	reply_free(&r);
	return handle;
}

static reply_t call(harness_t *h, uint64_t fn, const session_value_t *args, int32_t n)
{
	return request(h, SESSION_CODE_CALL_FUNC, &fn, args, n);
}

/* A CallFunc return must be [Int type, ...]; returns the type. */
static int64_t call_type(const reply_t *r)
{
	if (r->code == SESSION_CODE_EXCEPTION)
		fail_msg("unexpected exception: %s", r->seq.values[0].str.data);
	assert_int_equal(r->code, SESSION_CODE_RETURN);
	assert_true(r->seq.num >= 1);
	assert_int_equal(r->seq.values[0].type_index, FFI_INT);
	return r->seq.values[0].v_int;
}

static void free_handle(harness_t *h, uint64_t handle)
{
	session_value_t v = session_value_handle(FFI_OPAQUE_PTR, handle);
	reply_t r = request(h, SESSION_CODE_FREE_HANDLE, NULL, &v, 1);
	expect_none(&r);
}

static session_value_t tensor_value(uint64_t data, const int64_t *shape, int32_t ndim,
				    uint64_t offset)
{
	session_value_t v = session_value_none();
	v.type_index = FFI_DLTENSOR_PTR;
	v.tensor.data = data;
	v.tensor.device = (DLDevice){kDLCPU, 0};
	v.tensor.ndim = ndim;
	v.tensor.dtype = (DLDataType){2, 32, 1};
	v.tensor.shape = shape;
	v.tensor.byte_offset = offset;
	return v;
}

static uint64_t alloc_tensor(harness_t *h, const int64_t *shape, int32_t ndim)
{
	session_value_t v[2] = {tensor_value(0, shape, ndim, 0), session_value_none()};
	reply_t r = request(h, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, NULL, v, 2);
	if (r.code == SESSION_CODE_EXCEPTION)
		fail_msg("alloc failed: %s", r.seq.values[0].str.data);
	assert_int_equal(r.seq.values[0].type_index, FFI_OPAQUE_PTR);
	uint64_t p = r.seq.values[0].handle;
	reply_free(&r);
	return p;
}

static reply_t copy_to(harness_t *h, uint64_t data, const int64_t *shape, int32_t ndim,
		       uint64_t offset, const void *payload, uint64_t nbytes)
{
	session_value_t t = tensor_value(data, shape, ndim, offset);
	session_buf_t b = {0};
	size_t start = session_packet_begin(&b, SESSION_CODE_COPY_TO_REMOTE);
	session_tensor_encode(&b, &t.tensor);
	session_buf_put_u64(&b, nbytes);
	session_buf_put(&b, payload, (size_t)nbytes);
	session_packet_end(&b, start, 0);
	send_raw(h, b.data, b.len);
	session_buf_free(&b);
	return recv_reply(h);
}

static reply_t copy_from(harness_t *h, uint64_t data, const int64_t *shape, int32_t ndim,
			 uint64_t offset, uint64_t nbytes)
{
	session_value_t t = tensor_value(data, shape, ndim, offset);
	session_buf_t b = {0};
	size_t start = session_packet_begin(&b, SESSION_CODE_COPY_FROM_REMOTE);
	session_tensor_encode(&b, &t.tensor);
	session_buf_put_u64(&b, nbytes);
	session_packet_end(&b, start, 0);
	send_raw(h, b.data, b.len);
	session_buf_free(&b);
	return recv_reply(h);
}

/* ---- tests: state machine and framing ---- */

static void test_requests_before_init(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	session_value_t v = str_value("tvm.rpc.server.upload");
	reply_t r = request(h, SESSION_CODE_GET_GLOBAL_FUNC, NULL, &v, 1);
	expect_exception(&r, "InitServer must come first");
	int64_t shape[1] = {4};
	float data[4] = {0};
	r = copy_to(h, 0x1000, shape, 1, 0, data, sizeof data);
	expect_exception(&r, "InitServer must come first");
	init_server(h);
	/* A second InitServer is refused; the session stays usable. */
	static const uint8_t again[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
					0, 0, 0, '0', '.', '8', '.', '0', 0, 0, 0, 0};
	send_raw(h, again, sizeof again);
	r = recv_reply(h);
	expect_exception(&r, "already initialised");
	assert_true(get_global(h, "tvm.rpc.server.upload") != 0);
	assert_int_equal(harness_stop(h), 0);
}

static void test_version_mismatch(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	static const uint8_t pkt[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
				      0, 0, 0, '0', '.', '7', '.', '0', 0, 0, 0, 0};
	send_raw(h, pkt, sizeof pkt);
	reply_t r = recv_reply(h);
	expect_exception(&r, "server protocol=0.8.0, client protocol=0.7.0");
	init_server(h);
	assert_int_equal(harness_stop(h), 0);
}

static void test_constructor_refused(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	session_buf_t b = {0};
	size_t start = session_packet_begin(&b, SESSION_CODE_INIT_SERVER);
	session_buf_put_u64(&b, 5);
	session_buf_put(&b, "0.8.0", 5);
	session_value_t args[2] = {str_value("rpc.Connect"), session_value_int(9090)};
	args[0].type_index = FFI_STR;
	args[0].inner = FFI_STR;
	session_seq_encode(&b, args, 2);
	session_packet_end(&b, start, 0);
	send_raw(h, b.data, b.len);
	session_buf_free(&b);
	reply_t r = recv_reply(h);
	expect_exception(&r, "Error caught from session constructor rpc.Connect");
	init_server(h);
	assert_int_equal(harness_stop(h), 0);
}

static void test_shutdown_and_empty_packets(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	static const uint8_t empty[8] = {0};
	send_raw(h, empty, sizeof empty); /* ignored, no reply */
	assert_true(get_global(h, "tvm.rpc.server.upload") != 0);
	static const uint8_t shutdown[] = {4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
	send_raw(h, shutdown, sizeof shutdown);
	char c;
	assert_int_equal(recv_all(h->fd, &c, 1), -1); /* closed without a reply */
	assert_int_equal(harness_stop(h), 0);
}

static void test_unknown_code(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	static const uint8_t pkt[] = {8, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 1, 2, 3, 4};
	send_raw(h, pkt, sizeof pkt);
	reply_t r = recv_reply(h);
	expect_exception(&r, "unknown packet code 99");
	/* Server-to-client codes are unknown requests too. */
	static const uint8_t ret[] = {4, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0};
	send_raw(h, ret, sizeof ret);
	r = recv_reply(h);
	expect_exception(&r, "unknown packet code 4");
	assert_true(get_global(h, "tvm.rpc.server.upload") != 0);
	assert_int_equal(harness_stop(h), 0);
}

static void test_broken_framing_closes(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	static const uint8_t pkt[] = {2, 0, 0, 0, 0, 0, 0, 0, 1, 2};
	send_raw(h, pkt, sizeof pkt);
	char c;
	assert_int_equal(recv_all(h->fd, &c, 1), -1);
	assert_int_equal(harness_stop(h), SESSION_ERR_PROTOCOL);
}

static void test_eof_inside_packet(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	static const uint8_t pkt[] = {100, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0};
	send_raw(h, pkt, sizeof pkt);
	assert_int_equal(harness_stop(h), SESSION_ERR_IO);
}

static void test_oversized_packet_drained(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 4096, 0);
	init_server(h);
	uint64_t upload = get_global(h, "tvm.rpc.server.upload");
	static char big[8192];
	session_value_t args[2] = {str_value("big.bin"), session_value_byte_array(big, sizeof big)};
	args[1].type_index = FFI_BYTES;
	args[1].inner = FFI_BYTES;
	reply_t r = call(h, upload, args, 2);
	expect_exception(&r, "exceeds the server limit");
	/* Copies are refused the same way, and the stream stays in sync. */
	int64_t shape[1] = {2048};
	uint64_t p = alloc_tensor(h, shape, 1);
	r = copy_to(h, p, shape, 1, 0, big, 8192);
	expect_exception(&r, "exceeds the server limit");
	args[1].str.size = 100;
	r = call(h, upload, args, 2);
	assert_int_equal(call_type(&r), 0);
	reply_free(&r);
	assert_int_equal(harness_stop(h), 0);
}

static void test_timeout(void **state)
{
	(void)state;
	char msg[256];
	session_timeout_message(10, msg, sizeof msg);
	assert_string_equal(msg, "RPCSessionTimeoutError: Your 10.0s session has expired, try to "
				 "increase the \"session_timeout\" value.");
	session_timeout_message(1.5, msg, sizeof msg);
	assert_non_null(strstr(msg, "Your 1.5s session"));
	session_timeout_message(0.01, msg, sizeof msg);
	assert_non_null(strstr(msg, "Your 0.01s session"));
	session_timeout_message(600, msg, sizeof msg);
	assert_non_null(strstr(msg, "Your 600.0s session"));
	session_timeout_message(123.456, msg, sizeof msg);
	assert_non_null(strstr(msg, "Your 123.456s session"));
	session_timeout_message(1e20, msg, sizeof msg);
	assert_non_null(strstr(msg, "Your 1e+20s session"));

	harness_t *h = harness_start(0.3, 0, 0);
	init_server(h);
	reply_t r = recv_reply(h); /* nothing sent: the deadline passes while waiting */
	expect_exception(&r, "RPCSessionTimeoutError: Your 0.3s session has expired");
	char c;
	assert_int_equal(recv_all(h->fd, &c, 1), -1);
	assert_int_equal(harness_stop(h), SESSION_ERR_TIMEOUT);
}

/* ---- tests: handles ---- */

static void test_handle_refcounts(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	assert_int_equal(get_global(h, "no.such.function"), 0);
	uint64_t a = get_global(h, "test.session.echo");
	uint64_t b = get_global(h, "test.session.echo");
	assert_true(a != 0);
	assert_int_equal(a, b); /* same object, same handle, two references */
	free_handle(h, a);
	session_value_t x = session_value_int(5);
	reply_t r = call(h, a, &x, 1); /* one reference left: still callable */
	assert_int_equal(call_type(&r), FFI_INT);
	assert_int_equal(r.seq.values[1].v_int, 5);
	reply_free(&r);
	free_handle(h, b);
	session_value_t v = session_value_handle(FFI_OPAQUE_PTR, a);
	r = request(h, SESSION_CODE_FREE_HANDLE, NULL, &v, 1);
	expect_exception(&r, "unknown remote handle");
	r = call(h, a, &x, 1);
	expect_exception(&r, "unknown remote handle");
	/* A made-up handle and a pointer-looking value are refused, never dereferenced. */
	uint64_t bogus = (uint64_t)(uintptr_t)&x;
	r = call(h, bogus, &x, 1);
	expect_exception(&r, "unknown remote handle");
	assert_int_equal(harness_stop(h), 0);
}

/* ---- tests: memory and copies ---- */

static void test_alloc_copy_chunks(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	int64_t shape[1] = {300};
	uint64_t p = alloc_tensor(h, shape, 1);
	assert_int_equal(p % 64, 0);
	float src[300], back[300];
	for (int i = 0; i < 300; i++)
		src[i] = (float)i * 0.5f;
	/* The spec's verified chunking: N = 500 -> 448, 448, 304 bytes at 0, 448, 896. */
	reply_t r = copy_to(h, p, shape, 1, 0, src, 448);
	expect_none(&r);
	r = copy_to(h, p, shape, 1, 448, (char *)src + 448, 448);
	expect_none(&r);
	r = copy_to(h, p, shape, 1, 896, (char *)src + 896, 304);
	expect_none(&r);
	r = copy_from(h, p, shape, 1, 0, 1200);
	assert_int_equal(r.code, SESSION_CODE_COPY_ACK);
	assert_int_equal(r.len, 12 + 1200);
	memcpy(back, r.data + 12, 1200);
	assert_memory_equal(src, back, 1200);
	reply_free(&r);
	r = copy_from(h, p, shape, 1, 896, 304);
	assert_int_equal(r.code, SESSION_CODE_COPY_ACK);
	assert_memory_equal(r.data + 12, (char *)src + 896, 304);
	reply_free(&r);
	/* Past the tensor, past the block, inside no block: Exceptions, the session goes on. */
	r = copy_from(h, p, shape, 1, 900, 304);
	expect_exception(&r, "exceed the 1200-byte tensor");
	r = copy_from(h, p + 64, shape, 1, 0, 1200);
	expect_exception(&r, "not inside a block of this session");
	r = copy_to(h, 0x1000, shape, 1, 0, src, 16);
	expect_exception(&r, "not inside a block of this session");
	r = copy_to(h, (uint64_t)(uintptr_t)src, shape, 1, 0, src, 16);
	expect_exception(&r, "not inside a block of this session");
	/* A payload length that disagrees with the packet length. */
	{
		session_value_t t = tensor_value(p, shape, 1, 0);
		session_buf_t b = {0};
		size_t start = session_packet_begin(&b, SESSION_CODE_COPY_TO_REMOTE);
		session_tensor_encode(&b, &t.tensor);
		session_buf_put_u64(&b, 1000);
		session_buf_put(&b, src, 16);
		session_packet_end(&b, start, 0);
		send_raw(h, b.data, b.len);
		session_buf_free(&b);
		r = recv_reply(h);
		expect_exception(&r, "announces 1000 bytes but carries 16");
	}
	/* CopyAmongRemote into a second block. */
	uint64_t q = alloc_tensor(h, shape, 1);
	session_value_t among[3] = {tensor_value(p, shape, 1, 0), tensor_value(q, shape, 1, 0),
				    session_value_handle(FFI_OPAQUE_PTR, 0)};
	r = request(h, SESSION_CODE_COPY_AMONG_REMOTE, NULL, among, 3);
	expect_none(&r);
	r = copy_from(h, q, shape, 1, 0, 1200);
	assert_memory_equal(r.data + 12, src, 1200);
	reply_free(&r);
	/* Free, double free, use after free. */
	session_value_t fr[2] = {device_cpu(), session_value_handle(FFI_OPAQUE_PTR, p)};
	r = request(h, SESSION_CODE_DEV_FREE_DATA, NULL, fr, 2);
	expect_none(&r);
	r = request(h, SESSION_CODE_DEV_FREE_DATA, NULL, fr, 2);
	expect_exception(&r, "not a block allocated by this session");
	r = copy_from(h, p, shape, 1, 0, 1200);
	expect_exception(&r, "not inside a block");
	assert_int_equal(harness_stop(h), 0); /* q is released at session end */
}

static void test_memory_cap_and_scope(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 4096);
	init_server(h);
	int64_t shape[1] = {768}; /* 3072 bytes */
	uint64_t p = alloc_tensor(h, shape, 1);
	session_value_t v[2] = {tensor_value(0, shape, 1, 0), session_value_none()};
	reply_t r = request(h, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, NULL, v, 2);
	expect_exception(&r, "session memory limit is 4096 bytes");
	session_value_t flat[4] = {device_cpu(), session_value_int(1024), session_value_int(256),
				   session_value_none()};
	flat[3].type_index = FFI_DATATYPE;
	flat[3].dtype = (DLDataType){2, 32, 1};
	r = request(h, SESSION_CODE_DEV_ALLOC_DATA, NULL, flat, 4);
	assert_int_equal(r.code, SESSION_CODE_RETURN);
	assert_int_equal(r.seq.values[0].handle % 256, 0);
	reply_free(&r);
	session_value_t fr[2] = {device_cpu(), session_value_handle(FFI_OPAQUE_PTR, p)};
	r = request(h, SESSION_CODE_DEV_FREE_DATA, NULL, fr, 2);
	expect_none(&r);
	int64_t small[1] = {16};
	v[0] = tensor_value(0, small, 1, 0);
	v[1] = str_value("global");
	r = request(h, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, NULL, v, 2);
	assert_int_equal(r.code, SESSION_CODE_RETURN);
	reply_free(&r);
	v[1] = str_value("shared");
	r = request(h, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, NULL, v, 2);
	expect_exception(&r, "memory scope shared is not supported");
	/* Shapes whose size overflows, and a non-CPU device. */
	int64_t huge[3] = {INT64_MAX / 2, 4, 4};
	v[0] = tensor_value(0, huge, 3, 0);
	v[1] = session_value_none();
	r = request(h, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, NULL, v, 2);
	expect_exception(&r, "overflow");
	v[0] = tensor_value(0, small, 1, 0);
	v[0].tensor.device.device_type = kDLCUDA;
	r = request(h, SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE, NULL, v, 2);
	expect_exception(&r, "device type 2 is not available");
	assert_int_equal(harness_stop(h), 0);
}

static void test_device_syscalls(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	session_value_t v[2] = {device_cpu(), session_value_handle(FFI_OPAQUE_PTR, 0x1234)};
	reply_t r = request(h, SESSION_CODE_DEV_SET_STREAM, NULL, v, 2);
	expect_none(&r);
	r = request(h, SESSION_CODE_DEV_GET_CURRENT_STREAM, NULL, v, 1);
	assert_int_equal(r.seq.values[0].type_index, FFI_OPAQUE_PTR);
	assert_int_equal(r.seq.values[0].handle, 0x1234);
	reply_free(&r);
	r = request(h, SESSION_CODE_DEV_CREATE_STREAM, NULL, v, 1);
	assert_int_equal(r.seq.values[0].type_index, FFI_OPAQUE_PTR);
	reply_free(&r);
	r = request(h, SESSION_CODE_DEV_STREAM_SYNC, NULL, v, 2);
	expect_none(&r);
	r = request(h, SESSION_CODE_DEV_FREE_STREAM, NULL, v, 2);
	expect_none(&r);
	r = request(h, SESSION_CODE_DEV_SET_DEVICE, NULL, v, 1);
	expect_none(&r);
	session_value_t attr[2] = {device_cpu(), session_value_int(0)};
	r = request(h, SESSION_CODE_DEV_GET_ATTR, NULL, attr, 2);
	assert_int_equal(r.seq.values[0].v_int, 1);
	reply_free(&r);
	attr[1] = session_value_int(14);
	r = request(h, SESSION_CODE_DEV_GET_ATTR, NULL, attr, 2);
	assert_int_equal(r.seq.values[0].type_index, FFI_INT);
	assert_true(r.seq.values[0].v_int > 0);
	reply_free(&r);
	attr[0].device.device_type = kDLCUDA;
	attr[1] = session_value_int(0);
	r = request(h, SESSION_CODE_DEV_GET_ATTR, NULL, attr, 2);
	assert_int_equal(r.seq.values[0].v_int, 0);
	reply_free(&r);
	attr[1] = session_value_int(5);
	r = request(h, SESSION_CODE_DEV_GET_ATTR, NULL, attr, 2);
	assert_int_equal(r.seq.values[0].type_index, FFI_NONE);
	reply_free(&r);
	/* Wrong argument types and counts are Exceptions. */
	r = request(h, SESSION_CODE_DEV_STREAM_SYNC, NULL, v, 0);
	expect_exception(&r, "DevStreamSync expects 2 arguments");
	session_value_t wrong = session_value_int(1);
	r = request(h, SESSION_CODE_DEV_SET_DEVICE, NULL, &wrong, 1);
	expect_exception(&r, "TypeError");
	assert_int_equal(harness_stop(h), 0);
}

/* ---- tests: calls ---- */

static void test_call_values(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	uint64_t echo = get_global(h, "test.session.echo");
	session_value_t in[8];
	in[0] = session_value_int(-7);
	in[1] = session_value_bool(1);
	in[2] = session_value_float(2.25);
	in[3] = session_value_handle(FFI_OPAQUE_PTR, 0xabc);
	in[4] = session_value_none();
	in[4].type_index = FFI_DATATYPE;
	in[4].dtype = (DLDataType){2, 16, 1};
	in[5] = device_cpu();
	in[6] = str_value("hello");
	in[7] = session_value_none();
	int64_t want_type[8] = {FFI_INT, FFI_BOOL, FFI_FLOAT, FFI_OPAQUE_PTR,
				FFI_DATATYPE, FFI_DEVICE, FFI_STR, FFI_NONE};
	for (int i = 0; i < 8; i++) {
		reply_t r = call(h, echo, &in[i], 1);
		assert_int_equal(call_type(&r), want_type[i]);
		assert_int_equal(r.seq.num, 2);
		if (i == 6) {
			assert_int_equal(r.seq.values[1].type_index, FFI_RAW_STR);
			assert_string_equal(r.seq.values[1].str.data, "hello");
		} else {
			assert_int_equal(r.seq.values[1].type_index, in[i].type_index);
			assert_memory_equal(&r.seq.values[1].v_int, &in[i].v_int, 8);
		}
		reply_free(&r);
	}
	/* Bytes (outer 66 and small 12) come back as [Int 66, ByteArrayPtr]. */
	session_value_t bytes = session_value_byte_array("0123456789", 10);
	bytes.type_index = FFI_BYTES;
	bytes.inner = FFI_BYTES;
	reply_t r = call(h, echo, &bytes, 1);
	assert_int_equal(call_type(&r), FFI_BYTES);
	assert_int_equal(r.seq.values[1].type_index, FFI_BYTE_ARRAY_PTR);
	assert_int_equal(r.seq.values[1].str.size, 10);
	assert_memory_equal(r.seq.values[1].str.data, "0123456789", 10);
	reply_free(&r);
	/* Object-path strings arrive as Str objects. */
	session_value_t ostr = str_value("obj");
	ostr.type_index = FFI_SMALL_STR;
	ostr.inner = FFI_STR;
	uint64_t describe = get_global(h, "test.session.describe");
	int64_t shape[1] = {4};
	uint64_t p = alloc_tensor(h, shape, 1);
	float data[4] = {1.5f, 2, 3, 4};
	r = copy_to(h, p, shape, 1, 0, data, 16);
	expect_none(&r);
	int64_t shape3[1] = {3};
	session_value_t args[4] = {ostr, str_value("raw"), bytes, tensor_value(p, shape3, 1, 4)};
	r = call(h, describe, args, 4);
	assert_int_equal(call_type(&r), FFI_STR);
	assert_string_equal(r.seq.values[1].str.data, "S(65:obj)S(8:raw)B(10)T(1,3,4,2)");
	reply_free(&r);
	/* A tensor argument whose data range leaves the block is refused. */
	args[3] = tensor_value(p, shape, 1, 8);
	r = call(h, describe, &args[3], 1);
	expect_exception(&r, "not inside a block");
	args[3] = tensor_value(p, shape, 1, 0);
	args[3].tensor.device.device_type = kDLOpenCL;
	r = call(h, describe, &args[3], 1);
	expect_exception(&r, "not a live opencl buffer");
	/* Errors carry "Kind: message" and the session continues. */
	uint64_t fail = get_global(h, "test.session.fail");
	r = call(h, fail, NULL, 0);
	expect_exception(&r, "ValueError: test failure 7");
	/* A handle that is not a function cannot be called. */
	uint64_t make_array = get_global(h, "test.session.make_array");
	r = call(h, make_array, NULL, 0);
	assert_int_equal(call_type(&r), FFI_ARRAY);
	uint64_t arr = r.seq.values[1].handle;
	reply_free(&r);
	r = call(h, arr, NULL, 0);
	expect_exception(&r, "expected 68");
	/* The array travels back as an RPCObjectRef (outer 115, inner 115). */
	session_value_t ref = session_value_handle(FFI_RPC_OBJECT_REF, arr);
	r = call(h, describe, &ref, 1);
	assert_string_equal(r.seq.values[1].str.data, "71");
	reply_free(&r);
	free_handle(h, arr);

	/* ffi_globals.c: Array of copied strings, size, items, and a type mismatch. */
	uint64_t mk = get_global(h, "ffi.Array");
	uint64_t size = get_global(h, "ffi.ArraySize");
	uint64_t item = get_global(h, "ffi.ArrayGetItem");
	uint64_t string = get_global(h, "ffi.String");
	session_value_t elems[3] = {session_value_int(7), str_value("a long string"),
				    str_value("tvm")};
	r = call(h, mk, elems, 3);
	assert_int_equal(call_type(&r), FFI_ARRAY);
	uint64_t a3 = r.seq.values[1].handle;
	reply_free(&r);
	session_value_t ref3 = session_value_handle(FFI_RPC_OBJECT_REF, a3);
	r = call(h, size, &ref3, 1);
	assert_int_equal(r.seq.values[1].v_int, 3);
	reply_free(&r);
	session_value_t gi[2] = {ref3, session_value_int(1)};
	r = call(h, item, gi, 2);
	assert_int_equal(call_type(&r), FFI_STR);
	assert_string_equal(r.seq.values[1].str.data, "a long string");
	reply_free(&r);
	gi[1] = session_value_int(2);
	r = call(h, item, gi, 2);
	assert_int_equal(call_type(&r), FFI_SMALL_STR);
	assert_string_equal(r.seq.values[1].str.data, "tvm");
	reply_free(&r);
	gi[1] = session_value_int(3);
	r = call(h, item, gi, 2);
	expect_exception(&r, "IndexError");
	session_value_t notarr = str_value("not-an-array");
	r = call(h, size, &notarr, 1);
	expect_exception(&r, "TypeError: Mismatched type on argument #0");
	r = call(h, string, &notarr, 1);
	assert_int_equal(call_type(&r), FFI_STR);
	assert_string_equal(r.seq.values[1].str.data, "not-an-array");
	reply_free(&r);
	free_handle(h, a3);
	assert_int_equal(harness_stop(h), 0);
}

static void test_tensor_and_module_returns(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	uint64_t make = get_global(h, "test.session.make_tensor");
	reply_t r = call(h, make, NULL, 0);
	assert_int_equal(call_type(&r), FFI_TENSOR);
	assert_int_equal(r.seq.num, 3);
	assert_int_equal(r.seq.values[1].type_index, FFI_DLTENSOR_PTR);
	session_tensor_t t = r.seq.values[1].tensor;
	int64_t shape[1] = {t.shape[0]};
	assert_int_equal(shape[0], 4);
	assert_int_equal(t.byte_offset, 0);
	uint64_t th = r.seq.values[2].handle;
	assert_true(th != 0);
	reply_free(&r);
	/* The returned tensor's memory can be read back and passed as an argument. */
	r = copy_from(h, t.data, shape, 1, 0, 16);
	assert_int_equal(r.code, SESSION_CODE_COPY_ACK);
	float want[4] = {1, 2, 3, 4};
	assert_memory_equal(r.data + 12, want, 16);
	reply_free(&r);
	/* ... until its handle is freed. */
	free_handle(h, th);
	r = copy_from(h, t.data, shape, 1, 0, 16);
	expect_exception(&r, "not inside a block");

	/* A returned view keeps the client block from being freed under it. */
	uint64_t viewf = get_global(h, "test.session.view");
	uint64_t block = alloc_tensor(h, shape, 1);
	session_value_t arg = tensor_value(block, shape, 1, 0);
	r = call(h, viewf, &arg, 1);
	assert_int_equal(call_type(&r), FFI_TENSOR);
	uint64_t view = r.seq.values[2].handle;
	reply_free(&r);
	session_value_t fr[2] = {device_cpu(), session_value_handle(FFI_OPAQUE_PTR, block)};
	r = request(h, SESSION_CODE_DEV_FREE_DATA, NULL, fr, 2);
	expect_exception(&r, "still viewed by a returned tensor");
	free_handle(h, view);
	r = request(h, SESSION_CODE_DEV_FREE_DATA, NULL, fr, 2);
	expect_none(&r);

	uint64_t make_module = get_global(h, "test.session.make_module");
	r = call(h, make_module, NULL, 0);
	assert_int_equal(call_type(&r), FFI_MODULE);
	uint64_t mod = r.seq.values[1].handle;
	reply_free(&r);
	uint64_t getf = get_global(h, "tvm.rpc.server.ModuleGetFunction");
	session_value_t args[3] = {session_value_handle(FFI_MODULE, mod), str_value("answer"),
				   session_value_bool(1)};
	r = call(h, getf, args, 3);
	assert_int_equal(call_type(&r), FFI_FUNCTION);
	uint64_t answer = r.seq.values[1].handle;
	reply_free(&r);
	args[1] = str_value("missing");
	r = call(h, getf, args, 3);
	assert_int_equal(call_type(&r), FFI_NONE);
	reply_free(&r);
	/* A function handle where a module is expected. */
	args[0] = session_value_handle(FFI_MODULE, answer);
	r = call(h, getf, args, 3);
	expect_exception(&r, "expected 73");
	/* Free the module first: the function keeps it alive. */
	free_handle(h, mod);
	r = call(h, answer, NULL, 0);
	assert_int_equal(call_type(&r), FFI_INT);
	assert_int_equal(r.seq.values[1].v_int, 42);
	reply_free(&r);
	free_handle(h, answer);

	/* ImportModule: lookups reach imports only with query_imports; cycles are refused. */
	session_value_t one = session_value_int(1);
	r = call(h, make_module, &one, 1);
	uint64_t parent = r.seq.values[1].handle;
	reply_free(&r);
	r = call(h, make_module, NULL, 0);
	uint64_t child = r.seq.values[1].handle;
	reply_free(&r);
	uint64_t import = get_global(h, "tvm.rpc.server.ImportModule");
	session_value_t pc[2] = {session_value_handle(FFI_MODULE, parent),
				 session_value_handle(FFI_MODULE, child)};
	r = call(h, import, pc, 2);
	assert_int_equal(call_type(&r), FFI_NONE);
	reply_free(&r);
	session_value_t cp[2] = {pc[1], pc[0]};
	r = call(h, import, cp, 2);
	expect_exception(&r, "import cycle");
	r = call(h, import, (session_value_t[]){pc[0], pc[0]}, 2);
	expect_exception(&r, "import cycle");
	args[0] = pc[0];
	args[1] = str_value("answer");
	args[2] = session_value_bool(0);
	r = call(h, getf, args, 3);
	assert_int_equal(call_type(&r), FFI_NONE);
	reply_free(&r);
	args[2] = session_value_bool(1);
	r = call(h, getf, args, 3);
	assert_int_equal(call_type(&r), FFI_FUNCTION);
	reply_free(&r); /* its handle is released at session end */
	assert_int_equal(harness_stop(h), 0);
}

/* ---- tests: file service ---- */

static void test_file_service(void **state)
{
	(void)state;
	harness_t *h = harness_start(0, 0, 0);
	init_server(h);
	uint64_t upload = get_global(h, "tvm.rpc.server.upload");
	uint64_t download = get_global(h, "tvm.rpc.server.download");
	uint64_t listdir = get_global(h, "tvm.rpc.server.listdir");
	uint64_t removef = get_global(h, "tvm.rpc.server.remove");
	uint64_t workpath = get_global(h, "tvm.rpc.server.workpath");
	uint64_t load = get_global(h, "tvm.rpc.server.load_module");
	uint64_t hint = get_global(h, "tvm.rpc.server.GetCRTMaxPacketSize");
	assert_true(upload && download && listdir && removef && workpath && load && hint);

	reply_t r = call(h, hint, NULL, 0);
	assert_int_equal(call_type(&r), FFI_INT);
	assert_true(r.seq.values[1].v_int > 4096);
	reply_free(&r);
	session_value_t dot = str_value(".");
	r = call(h, listdir, &dot, 1); /* an empty work directory */
	assert_int_equal(call_type(&r), FFI_STR);
	assert_string_equal(r.seq.values[1].str.data, "");
	reply_free(&r);

	/* A large file exercises the zero-copy download path. */
	size_t big = 200 * 1024;
	char *content = malloc(big);
	for (size_t i = 0; i < big; i++)
		content[i] = (char)(i * 7);
	session_value_t args[2] = {str_value("a.bin"), session_value_byte_array(content, big)};
	args[1].type_index = FFI_BYTES;
	args[1].inner = FFI_BYTES;
	r = call(h, upload, args, 2);
	assert_int_equal(call_type(&r), FFI_NONE);
	reply_free(&r);
	args[0] = str_value("./b.txt");
	args[1] = session_value_byte_array("hi", 2); /* ByteArrayPtr from other clients */
	r = call(h, upload, args, 2);
	assert_int_equal(call_type(&r), FFI_NONE);
	reply_free(&r);
	args[0] = str_value("a.bin");
	r = call(h, download, args, 1);
	assert_int_equal(call_type(&r), FFI_BYTES);
	assert_int_equal(r.seq.values[1].type_index, FFI_BYTE_ARRAY_PTR);
	assert_int_equal(r.seq.values[1].str.size, big);
	assert_memory_equal(r.seq.values[1].str.data, content, big);
	reply_free(&r);
	free(content);

	args[0] = str_value(".");
	r = call(h, listdir, args, 1);
	assert_int_equal(call_type(&r), FFI_STR);
	char want[256];
	snprintf(want, sizeof want, "%s/./a.bin,%s/./b.txt,", h->workdir, h->workdir);
	assert_string_equal(r.seq.values[1].str.data, want);
	reply_free(&r);
	args[0] = str_value("nodir");
	r = call(h, listdir, args, 1);
	assert_string_equal(r.seq.values[1].str.data, "");
	reply_free(&r);
	args[0] = str_value("sub/x.so");
	r = call(h, workpath, args, 1);
	snprintf(want, sizeof want, "%s/sub/x.so", h->workdir);
	assert_string_equal(r.seq.values[1].str.data, want);
	reply_free(&r);

	/* Escapes: "..", absolute paths, symlinks (file and directory). */
	char link[128];
	snprintf(link, sizeof link, "%s/etc", h->workdir);
	assert_int_equal(symlink("/etc", link), 0);
	snprintf(link, sizeof link, "%s/passwd", h->workdir);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	const char *bad[] = {"../x", "a/../../x", "/etc/passwd", "etc/passwd", "passwd"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		args[0] = str_value(bad[i]);
		r = call(h, download, args, 1);
		assert_int_equal(r.code, SESSION_CODE_EXCEPTION);
		reply_free(&r);
		args[1] = session_value_byte_array("x", 1);
		r = call(h, upload, args, 2);
		assert_int_equal(r.code, SESSION_CODE_EXCEPTION);
		reply_free(&r);
	}
	args[0] = str_value("etc");
	r = call(h, listdir, args, 1);
	assert_string_equal(r.seq.values[1].str.data, ""); /* not followed */
	reply_free(&r);
	args[0] = str_value("/etc");
	r = call(h, listdir, args, 1);
	expect_exception(&r, "outside the work directory");
	struct stat st;
	assert_int_equal(stat("/etc/passwd", &st), 0); /* remove never follows either */
	args[0] = str_value("etc/passwd");
	r = call(h, removef, args, 1);
	assert_int_equal(call_type(&r), FFI_NONE);
	reply_free(&r);
	assert_int_equal(stat("/etc/passwd", &st), 0);

	/* remove never fails, and removes. */
	const char *names[] = {"missing", "", "a.bin", "../../x"};
	for (size_t i = 0; i < 4; i++) {
		args[0] = str_value(names[i]);
		r = call(h, removef, args, 1);
		assert_int_equal(call_type(&r), FFI_NONE);
		reply_free(&r);
	}
	args[0] = str_value("a.bin");
	r = call(h, download, args, 1);
	expect_exception(&r, "FileNotFoundError");
	/* load_module: missing file, unsupported format, then a loader failure surfaces. */
	args[0] = str_value("nothere.so");
	r = call(h, load, args, 1);
	expect_exception(&r, "not an uploaded file");
	args[0] = str_value("b.txt");
	r = call(h, load, args, 1);
	expect_exception(&r, "ffi.Module.load_from_file.txt");
	assert_int_equal(harness_stop(h), 0);
}

/* ---- tests: pipe transport ---- */

/* fds: read end, write end, result, timeout in milliseconds. */
static void *serve_pipes(void *arg)
{
	int *fds = arg;
	session_options_t opt;
	session_options_default(&opt);
	opt.timeout_seconds = fds[3] / 1000.0;
	fds[2] = session_serve_fds(fds[0], fds[1], &opt);
	return NULL;
}

static void test_pipe_transport(void **state)
{
	(void)state;
	int to_server[2], to_client[2];
	assert_int_equal(pipe(to_server), 0);
	assert_int_equal(pipe(to_client), 0);
	int fds[4] = {to_server[0], to_client[1], -1, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, serve_pipes, fds), 0);
	static const uint8_t init[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
				       0, 0, 0, '0', '.', '8', '.', '0', 0, 0, 0, 0};
	assert_int_equal(write(to_server[1], init, sizeof init), (ssize_t)sizeof init);
	uint8_t reply[20];
	assert_int_equal(recv_all(to_client[0], reply, sizeof reply), 0);
	static const uint8_t want[] = {12, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
				       1, 0, 0, 0, 0, 0, 0, 0};
	assert_memory_equal(reply, want, sizeof want);
	close(to_server[1]);
	pthread_join(th, NULL);
	assert_int_equal(fds[2], 0);
	close(to_server[0]);
	close(to_client[0]);
	close(to_client[1]);

	/* The deadline also holds on pipes (polled before every read). */
	assert_int_equal(pipe(to_server), 0);
	assert_int_equal(pipe(to_client), 0);
	int fds2[4] = {to_server[0], to_client[1], -1, 200};
	assert_int_equal(pthread_create(&th, NULL, serve_pipes, fds2), 0);
	uint64_t len;
	assert_int_equal(recv_all(to_client[0], &len, 8), 0);
	char *msg = calloc(1, (size_t)len + 1);
	assert_int_equal(recv_all(to_client[0], msg, (size_t)len), 0);
	assert_int_equal(msg[0], SESSION_CODE_EXCEPTION);
	assert_non_null(memmem(msg, (size_t)len, "Your 0.2s session has expired", 29));
	free(msg);
	pthread_join(th, NULL);
	assert_int_equal(fds2[2], SESSION_ERR_TIMEOUT);
	close(to_server[0]);
	close(to_server[1]);
	close(to_client[0]);
	close(to_client[1]);
}

/* ---- tests: an in-memory channel (no descriptors) ---- */

typedef struct memory_channel {
	const uint8_t *in;
	size_t in_len, in_pos;
	uint8_t out[256];
	size_t out_len;
	int time_out; /* reads past the input report the deadline instead of the end */
} memory_channel_t;

static long memory_read(void *context, void *buf, size_t n, double deadline)
{
	(void)deadline;
	memory_channel_t *m = context;
	size_t left = m->in_len - m->in_pos;
	if (left == 0 && m->time_out)
		return SESSION_CHANNEL_TIMEOUT;
	if (n > left)
		n = left;
	memcpy(buf, m->in + m->in_pos, n);
	m->in_pos += n;
	return (long)n;
}

/* Takes at most 3 bytes per call, so the engine must resume partial writes. */
static long memory_write(void *context, const struct iovec *iov, int count, double deadline)
{
	(void)deadline;
	(void)count;
	memory_channel_t *m = context;
	size_t n = iov[0].iov_len < 3 ? iov[0].iov_len : 3;
	assert_true(m->out_len + n <= sizeof m->out);
	memcpy(m->out + m->out_len, iov[0].iov_base, n);
	m->out_len += n;
	return (long)n;
}

static void test_memory_channel(void **state)
{
	(void)state;
	static const uint8_t init[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
				       0, 0, 0, '0', '.', '8', '.', '0', 0, 0, 0, 0};
	static const uint8_t none[] = {12, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
				       1, 0, 0, 0, 0, 0, 0, 0};
	memory_channel_t m = {.in = init, .in_len = sizeof init};
	session_channel_t channel = {&m, memory_read, memory_write, NULL};
	assert_int_equal(session_run(&channel, NULL), 0);
	assert_int_equal(m.out_len, sizeof none);
	assert_memory_equal(m.out, none, sizeof none);

	/* A channel's timeout ends the session with the timeout notice. */
	memory_channel_t late = {.in = init, .in_len = sizeof init, .time_out = 1};
	channel.context = &late;
	session_options_t opt;
	session_options_default(&opt);
	opt.timeout_seconds = 7;
	assert_int_equal(session_run(&channel, &opt), SESSION_ERR_TIMEOUT);
	assert_true(late.out_len > sizeof none + 12);
	assert_int_equal(late.out[sizeof none + 8], SESSION_CODE_EXCEPTION);
	assert_non_null(memmem(late.out, late.out_len, "Your 7.0s session has expired", 29));
}

/* ---- tests: the tables on their own ---- */

static void test_handle_table(void **state)
{
	(void)state;
	session_handles_t *t = session_handles_new(3);
	ffi_bytes_t *objs[4];
	uint64_t h[4];
	for (int i = 0; i < 4; i++) {
		objs[i] = ffi_str_new("x", 1);
		h[i] = session_handles_put(t, &objs[i]->header);
	}
	assert_true(h[0] && h[1] && h[2]);
	assert_int_equal(h[3], 0); /* full */
	assert_int_equal(ffi_object_refcount(&objs[0]->header), 2);
	assert_int_equal(session_handles_put(t, &objs[1]->header), h[1]);
	assert_int_equal(session_handles_refs(t, h[1]), 2);
	assert_int_equal(session_handles_release(t, h[1]), 0);
	assert_ptr_equal(session_handles_get(t, h[1]), &objs[1]->header);
	assert_int_equal(session_handles_release(t, h[1]), 0);
	assert_null(session_handles_get(t, h[1]));
	assert_int_equal(session_handles_release(t, h[1]), -1);
	assert_int_equal(ffi_object_refcount(&objs[1]->header), 1);
	assert_int_equal(session_handles_count(t), 2);
	/* A freed slot is reusable, under a new handle value. */
	uint64_t again = session_handles_put(t, &objs[3]->header);
	assert_true(again != 0 && again != h[1] && again != h[3]);
	session_handles_free(t); /* releases the table's references */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ffi_object_refcount(&objs[i]->header), 1);
		ffi_object_release(&objs[i]->header);
	}
}

static void test_memory_table(void **state)
{
	(void)state;
	session_memory_t *m = session_memory_new(1000);
	void *a, *b, *out;
	assert_int_equal(session_memory_alloc(m, 100, 3, &a), -1); /* not a power of two */
	ffi_error_clear();
	assert_int_equal(session_memory_alloc(m, 600, 128, &a), 0);
	assert_int_equal((uintptr_t)a % 128, 0);
	assert_int_equal(session_memory_alloc(m, 401, 1, &b), -1); /* cap */
	ffi_error_clear();
	assert_int_equal(session_memory_alloc(m, 400, 1, &b), 0);
	assert_int_equal((uintptr_t)b % 64, 0);
	assert_int_equal(session_memory_used(m), 1000);
	uint64_t base = (uint64_t)(uintptr_t)a;
	assert_int_equal(session_memory_lookup(m, base, 600, &out), 0);
	assert_ptr_equal(out, a);
	assert_int_equal(session_memory_lookup(m, base + 600, 0, &out), 0);
	assert_int_equal(session_memory_lookup(m, base + 1, 600, &out), -1);
	assert_int_equal(session_memory_lookup(m, base - 1, 1, &out), -1);
	assert_int_equal(session_memory_lookup(m, base + 10, UINT64_MAX, &out), -1);
	assert_int_equal(session_memory_release(m, base + 8), -1);
	ffi_error_clear();
	assert_int_equal(session_memory_release(m, base), 0);
	assert_int_equal(session_memory_lookup(m, base, 1, &out), -1);
	assert_int_equal(session_memory_count(m), 1);
	session_memory_free(m); /* frees b */

	/* Large blocks are mapped: zeroed, aligned, found, freed like the others. */
	m = session_memory_new(0);
	uint64_t big = (8u << 20) + 5;
	assert_int_equal(session_memory_alloc(m, big, 256, &a), 0);
	assert_int_equal((uintptr_t)a % 256, 0);
	assert_int_equal(((char *)a)[0], 0);
	assert_int_equal(((char *)a)[big - 1], 0);
	memset(a, 0x5a, (size_t)big);
	assert_int_equal(session_memory_lookup(m, (uint64_t)(uintptr_t)a + 1, big - 1, &out), 0);
	assert_int_equal(session_memory_lookup(m, (uint64_t)(uintptr_t)a + 1, big, &out), -1);
	assert_int_equal(session_memory_alloc(m, big, 1 << 16, &b), 0); /* over-page alignment */
	assert_int_equal((uintptr_t)b % (1 << 16), 0);
	assert_int_equal(session_memory_release(m, (uint64_t)(uintptr_t)a), 0);
	session_memory_free(m); /* frees b */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_before_init),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_constructor_refused),
		cmocka_unit_test(test_shutdown_and_empty_packets),
		cmocka_unit_test(test_unknown_code),
		cmocka_unit_test(test_broken_framing_closes),
		cmocka_unit_test(test_eof_inside_packet),
		cmocka_unit_test(test_oversized_packet_drained),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_handle_refcounts),
		cmocka_unit_test(test_alloc_copy_chunks),
		cmocka_unit_test(test_memory_cap_and_scope),
		cmocka_unit_test(test_device_syscalls),
		cmocka_unit_test(test_call_values),
		cmocka_unit_test(test_tensor_and_module_returns),
		cmocka_unit_test(test_file_service),
		cmocka_unit_test(test_pipe_transport),
		cmocka_unit_test(test_memory_channel),
		cmocka_unit_test(test_handle_table),
		cmocka_unit_test(test_memory_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
