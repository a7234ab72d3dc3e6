/* Unit tests for rpc_client against the real session engine (session_serve) on a loopback
 * TCP connection accepted by a thread: handshake key and options, typed returns, exceptions
 * that leave the session usable, chunked copies under a packet limit, uploads, the probe,
 * and deadlines against a peer that never answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/session.h"
#include "services/handshake.h"
#include "services/rpc_client.h"
#include "services/session_serve.h"

struct acceptor {
	int listen_fd;
	int port;
	uint64_t max_packet;
	char work_dir[64];
	char key[256]; /* what the client sent */
	int serve_rc;
	pthread_t thread;
};

/* One connection: read the handshake, answer SUCCESS, serve the session until it ends. */
static void *accept_main(void *arg)
{
	struct acceptor *a = arg;
	int fd = accept(a->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	handshake_reader_t r;
	handshake_reader_init(&r, 0, 1);
	uint8_t b;
	int rc = 0;
	size_t used;
	while (rc == 0 && read(fd, &b, 1) == 1)
		rc = handshake_feed(&r, &b, 1, &used);
	if (rc == 1) {
		snprintf(a->key, sizeof a->key, "%s", r.key);
		uint8_t out[64];
		size_t n = handshake_encode(out, sizeof out, RPC_CODE_SUCCESS, "server:unit");
		if (write(fd, out, n) == (ssize_t)n) {
			session_options_t opt;
			session_options_default(&opt);
			opt.work_dir = a->work_dir;
			if (a->max_packet)
				opt.max_packet = a->max_packet;
			a->serve_rc = session_serve(fd, &opt);
		}
	}
	handshake_reader_free(&r);
	close(fd);
	return NULL;
}

static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

static struct acceptor *acceptor_start(uint64_t max_packet)
{
	struct acceptor *a = calloc(1, sizeof *a);
	a->max_packet = max_packet;
	snprintf(a->work_dir, sizeof a->work_dir, "/tmp/test_rpc_client.XXXXXX");
	assert_non_null(mkdtemp(a->work_dir));
	a->listen_fd = listen_loopback(&a->port);
	assert_true(a->listen_fd >= 0);
	assert_int_equal(pthread_create(&a->thread, NULL, accept_main, a), 0);
	return a;
}

/* Wait for the session to end; the key the client sent and serve's result are kept. */
static void acceptor_join(struct acceptor *a, char *key, size_t key_size, int *serve_rc)
{
	pthread_join(a->thread, NULL);
	if (key)
		snprintf(key, key_size, "%s", a->key);
	if (serve_rc)
		*serve_rc = a->serve_rc;
	close(a->listen_fd);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", a->work_dir);
	assert_int_equal(system(cmd), 0);
	free(a);
}

static rpc_client_t *connect_to(struct acceptor *a, const char *key, double session_timeout)
{
	rpc_client_options_t opt;
	rpc_client_options_default(&opt);
	opt.connect_timeout = 5;
	opt.reply_timeout = 10;
	opt.session_timeout = session_timeout;
	rpc_client_t *c = NULL;
	char err[512];
	int rc = rpc_client_connect("127.0.0.1", a->port, key, &opt, &c, err, sizeof err);
	if (rc != 0)
		fail_msg("connect: %s", err);
	return c;
}

static void test_handshake_and_init(void **state)
{
	(void)state;
	struct acceptor *a = acceptor_start(0);
	rpc_client_t *c = connect_to(a, "board:0.5", 30);
	assert_string_equal(rpc_client_server_key(c), "server:unit");
	rpc_client_close(c);
	char key[256];
	int serve_rc = -1;
	acceptor_join(a, key, sizeof key, &serve_rc);
	assert_string_equal(key, "client:board:0.5 -timeout=30");
	assert_int_equal(serve_rc, 0); /* Shutdown ended the session cleanly */

	a = acceptor_start(0);
	c = connect_to(a, NULL, 1.5);
	rpc_client_close(c);
	acceptor_join(a, key, sizeof key, NULL);
	assert_string_equal(key, "client: -timeout=1.5");
}

static void test_globals_and_errors(void **state)
{
	(void)state;
	struct acceptor *a = acceptor_start(0);
	rpc_client_t *c = connect_to(a, "k", 0);
	uint64_t h = 1;
	assert_int_equal(rpc_client_get_global(c, "no.such.function", &h), RPC_CLIENT_ERR_MISSING);
	assert_int_equal(h, 0);
	assert_non_null(strstr(rpc_client_error(c), "no.such.function"));

	/* An Exception is reported with the server's text and the session stays usable. */
	uint64_t mod;
	assert_int_equal(rpc_client_load_module(c, "missing.so", &mod), RPC_CLIENT_ERR_REMOTE);
	assert_non_null(strstr(rpc_client_error(c), "missing.so"));
	DLDevice cpu = {kDLCPU, 0};
	assert_int_equal(rpc_client_stream_sync(c, cpu), 0);

	/* Typed returns: GetCRTMaxPacketSize gives an Int, workpath a string. */
	rpc_value_t v;
	assert_int_equal(rpc_client_call_global(c, "tvm.rpc.server.GetCRTMaxPacketSize", NULL, 0,
						&v), 0);
	assert_int_equal(v.type_index, FFI_INT);
	assert_true(v.v_int > 0);
	rpc_value_free(&v);
	rpc_client_close(c);
	acceptor_join(a, NULL, 0, NULL);
}

/* Strings, bytes and remote objects come back typed; an object handle is usable as an
 * argument (RPCObjectRef) and released with FreeHandle. */
static void test_typed_returns_and_objects(void **state)
{
	(void)state;
	struct acceptor *a = acceptor_start(0);
	rpc_client_t *c = connect_to(a, "k", 0);
	rpc_value_t v;
	session_value_t s = session_value_raw_str("a longer string", 15);
	assert_int_equal(rpc_client_call_global(c, "ffi.String", &s, 1, &v), 0);
	assert_int_equal(v.type_index, FFI_STR);
	assert_string_equal(v.str, "a longer string");
	rpc_value_free(&v);
	s = session_value_raw_str("hi", 2); /* a small string travels the same way */
	assert_int_equal(rpc_client_call_global(c, "ffi.String", &s, 1, &v), 0);
	assert_int_equal(v.type_index, FFI_STR);
	assert_string_equal(v.str, "hi");
	rpc_value_free(&v);

	session_value_t items[3] = {session_value_int(7), session_value_float(2.5),
				    session_value_raw_str("x", 1)};
	rpc_value_t arr;
	assert_int_equal(rpc_client_call_global(c, "ffi.Array", items, 3, &arr), 0);
	assert_int_equal(arr.type_index, FFI_ARRAY);
	assert_true(arr.handle != 0);
	session_value_t ref[2] = {session_value_handle(FFI_RPC_OBJECT_REF, arr.handle),
				  session_value_int(1)};
	assert_int_equal(rpc_client_call_global(c, "ffi.ArraySize", ref, 1, &v), 0);
	assert_int_equal(v.type_index, FFI_INT);
	assert_int_equal(v.v_int, 3);
	assert_int_equal(rpc_client_call_global(c, "ffi.ArrayGetItem", ref, 2, &v), 0);
	assert_int_equal(v.type_index, FFI_FLOAT);
	assert_true(v.v_float == 2.5);
	/* out of range: an Exception, and the session goes on */
	ref[1] = session_value_int(9);
	assert_int_equal(rpc_client_call_global(c, "ffi.ArrayGetItem", ref, 2, &v),
			 RPC_CLIENT_ERR_REMOTE);
	assert_true(rpc_client_error(c)[0] != '\0');
	assert_int_equal(rpc_client_free_handle(c, arr.handle), 0);
	DLDevice cpu = {kDLCPU, 0};
	assert_int_equal(rpc_client_stream_sync(c, cpu), 0);
	rpc_client_close(c);
	acceptor_join(a, NULL, 0, NULL);
}

static void test_upload_and_download(void **state)
{
	(void)state;
	struct acceptor *a = acceptor_start(0);
	rpc_client_t *c = connect_to(a, "k", 0);
	char blob[5000];
	for (size_t i = 0; i < sizeof blob; i++)
		blob[i] = (char)(i * 7);
	assert_int_equal(rpc_client_upload(c, "blob.bin", blob, sizeof blob), 0);
	/* and a file streamed from disk */
	char path[128];
	snprintf(path, sizeof path, "%s.local", a->work_dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(blob, 1, 3000, f);
	fclose(f);
	assert_int_equal(rpc_client_upload_file(c, path, "file.bin"), 0);
	unlink(path);

	session_value_t arg = session_value_raw_str("blob.bin", 8);
	rpc_value_t v;
	assert_int_equal(rpc_client_call_global(c, "tvm.rpc.server.download", &arg, 1, &v), 0);
	assert_int_equal(v.type_index, FFI_BYTES);
	assert_int_equal(v.size, sizeof blob);
	assert_memory_equal(v.str, blob, sizeof blob);
	rpc_value_free(&v);
	arg = session_value_raw_str("file.bin", 8);
	assert_int_equal(rpc_client_call_global(c, "tvm.rpc.server.download", &arg, 1, &v), 0);
	assert_int_equal(v.size, 3000);
	assert_memory_equal(v.str, blob, 3000);
	rpc_value_free(&v);

	assert_int_equal(rpc_client_upload_file(c, "/nonexistent/x.so", "x.so"),
			 RPC_CLIENT_ERR_ARG);
	rpc_client_close(c);
	acceptor_join(a, NULL, 0, NULL);
}

/* Under a 300-byte packet limit a 4000-byte tensor needs many chunks each way. */
static void test_chunked_copies(void **state)
{
	(void)state;
	uint64_t limits[2] = {0, 300};
	for (int k = 0; k < 2; k++) {
		struct acceptor *a = acceptor_start(limits[k]);
		rpc_client_t *c = connect_to(a, "k", 0);
		rpc_tensor_t t;
		memset(&t, 0, sizeof t);
		t.device.device_type = kDLCPU;
		t.ndim = 2;
		t.shape[0] = 40;
		t.shape[1] = 25;
		t.dtype.code = kDLFloat;
		t.dtype.bits = 32;
		t.dtype.lanes = 1;
		assert_int_equal(rpc_client_alloc(c, &t), 0);
		assert_true(t.data != 0);
		float src[1000], back[1000];
		for (int i = 0; i < 1000; i++)
			src[i] = (float)i * 0.5f - 7;
		assert_int_equal(rpc_client_copy_to(c, &t, src, sizeof src), 0);
		memset(back, 0, sizeof back);
		assert_int_equal(rpc_client_copy_from(c, &t, back, sizeof back), 0);
		assert_memory_equal(src, back, sizeof src);
		/* more bytes than the tensor holds is refused locally */
		assert_int_equal(rpc_client_copy_to(c, &t, src, sizeof src + 4), RPC_CLIENT_ERR_ARG);
		assert_int_equal(rpc_client_free_data(c, t.device, t.data), 0);
		rpc_client_close(c);
		acceptor_join(a, NULL, 0, NULL);
	}
}

static void test_probe(void **state)
{
	(void)state;
	struct acceptor *a = acceptor_start(0);
	rpc_client_t *c = connect_to(a, "k", 0);
	rpc_probe_result_t p;
	assert_int_equal(rpc_client_probe(c, 5, 1u << 20, &p), 0);
	assert_int_equal(p.rounds, 5);
	assert_true(p.rtt_min_us > 0 && p.rtt_min_us <= p.rtt_mean_us);
	assert_int_equal(p.copy_bytes, 1u << 20);
	assert_true(p.upload_mib_s > 0 && p.download_mib_s > 0);
	rpc_client_close(c);
	acceptor_join(a, NULL, 0, NULL);
}

/* A peer that accepts TCP but never speaks: the handshake runs into connect_timeout. */
static void test_silent_peer_times_out(void **state)
{
	(void)state;
	int port;
	int fd = listen_loopback(&port);
	assert_true(fd >= 0);
	rpc_client_options_t opt;
	rpc_client_options_default(&opt);
	opt.connect_timeout = 0.3;
	rpc_client_t *c = NULL;
	char err[512];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = rpc_client_connect("127.0.0.1", port, "k", &opt, &c, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rc, RPC_CLIENT_ERR_TIMEOUT);
	assert_null(c);
	assert_non_null(strstr(err, "handshake"));
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	close(fd);

	/* and nothing listening at all */
	fd = listen_loopback(&port);
	close(fd);
	rc = rpc_client_connect("127.0.0.1", port, "k", &opt, &c, err, sizeof err);
	assert_int_equal(rc, RPC_CLIENT_ERR_IO);
	assert_non_null(strstr(err, "cannot connect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_init),
		cmocka_unit_test(test_globals_and_errors),
		cmocka_unit_test(test_typed_returns_and_objects),
		cmocka_unit_test(test_upload_and_download),
		cmocka_unit_test(test_chunked_copies),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_silent_peer_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
