/* In-process tests of the device server service on a real libuv loop: handshake refusals,
 * access list, live reconfiguration, and clean shutdown (every handle closed, nothing leaked)
 * in standalone, tracker-retrying and proxy-retrying modes. Clients are blocking sockets; the
 * loop is pumped between their steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "services/handshake.h"
#include "services/server.h"

static int closed_count;

static void on_closed(void *arg)
{
	(void)arg;
	closed_count++;
}

static int pump(uv_loop_t *loop, int ms)
{
	for (int i = 0; i < ms / 5; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(5);
	}
	return 0;
}

static int client_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Pump the loop until fd has n bytes (returns n), EOF (returns the bytes so far) or ~3 s. */
static ssize_t client_read(uv_loop_t *loop, int fd, uint8_t *buf, size_t n)
{
	size_t have = 0;
	for (int i = 0; i < 600 && have < n; i++) {
		ssize_t r = recv(fd, buf + have, n - have, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0) {
			have += (size_t)r;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(5);
	}
	return (ssize_t)have;
}

static void start_standalone(uv_loop_t *loop, server_t **srv, const char *allow)
{
	server_options_t opt;
	server_options_default(&opt);
	snprintf(opt.host, sizeof opt.host, "127.0.0.1");
	opt.port = 0;
	opt.port_end = 0;
	snprintf(opt.key, sizeof opt.key, "k");
	snprintf(opt.allow, sizeof opt.allow, "%s", allow);
	opt.handshake_timeout = 0.2;
	assert_int_equal(server_start(loop, &opt, srv), 0);
	assert_true(server_port(*srv) > 0);
}

static void finish(uv_loop_t *loop, server_t *srv)
{
	closed_count = 0;
	server_close(srv, on_closed, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(closed_count, 1);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_mismatch_and_timeout_then_close(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	server_t *srv;
	start_standalone(&loop, &srv, "");
	server_stats_t st;
	server_get_stats(srv, &st);
	assert_int_equal(st.registration, SERVER_REG_STANDALONE);

	uint8_t req[64], reply[8];
	size_t n = handshake_encode(req, sizeof req, RPC_MAGIC, "client:other");
	int fd = client_connect(server_port(srv));
	assert_int_equal(send(fd, req, n, 0), (ssize_t)n);
	assert_int_equal(client_read(&loop, fd, reply, 8), 4);
	handshake_reader_t r;
	handshake_reader_init(&r, 0, 0);
	size_t used;
	assert_int_equal(handshake_feed(&r, reply, 4, &used), 1);
	assert_int_equal(r.first_word, RPC_CODE_MISMATCH);
	handshake_reader_free(&r);
	close(fd);

	/* A silent peer is cut off after handshake_timeout (0.2 s). */
	fd = client_connect(server_port(srv));
	assert_int_equal(client_read(&loop, fd, reply, 1), 0);
	close(fd);
	pump(&loop, 50);
	server_get_stats(srv, &st);
	assert_int_equal(st.mismatches, 1);
	assert_true(st.dropped >= 1);
	assert_int_equal(st.handshaking, 0);

	/* A peer still in its handshake when the server closes is closed with it. */
	fd = client_connect(server_port(srv));
	pump(&loop, 20);
	finish(&loop, srv);
	assert_int_equal(client_read(&loop, fd, reply, 1), 0);
	close(fd);
}

static void test_reconfigure(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	server_t *srv;
	start_standalone(&loop, &srv, "");
	server_options_t opt;
	server_options_default(&opt);
	char err[160] = "";
	snprintf(opt.allow, sizeof opt.allow, "not-an-address/99");
	assert_int_equal(server_reconfigure(srv, &opt, err, sizeof err), UV_EINVAL);
	assert_true(err[0] != '\0');
	opt.allow[0] = '\0';
	snprintf(opt.load_library, sizeof opt.load_library, "/nonexistent/lib.so");
	assert_int_equal(server_reconfigure(srv, &opt, err, sizeof err), UV_ENOENT);
	assert_non_null(strstr(err, "/nonexistent/lib.so"));
	opt.load_library[0] = '\0';
	/* Only 10/8 may connect now: our loopback client is turned away without a byte. */
	snprintf(opt.allow, sizeof opt.allow, "10.0.0.0/8");
	assert_int_equal(server_reconfigure(srv, &opt, err, sizeof err), 0);
	uint8_t req[64], reply[4];
	size_t n = handshake_encode(req, sizeof req, RPC_MAGIC, "client:k");
	int fd = client_connect(server_port(srv));
	send(fd, req, n, MSG_NOSIGNAL);
	assert_int_equal(client_read(&loop, fd, reply, 4), 0);
	close(fd);
	server_stats_t st;
	server_get_stats(srv, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.sessions, 0);
	finish(&loop, srv);
}

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Pump the loop until the server's registration state is `want`; 0 if not within ms. */
static int pump_until_registration(uv_loop_t *loop, server_t *srv,
				   enum server_registration want, int ms)
{
	for (int i = 0; i < ms / 5; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		server_stats_t st;
		server_get_stats(srv, &st);
		if (st.registration == want)
			return 1;
		uv_sleep(5);
	}
	return 0;
}

static void test_close_while_retrying_tracker_and_proxy(void **state)
{
	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		uv_loop_t loop;
		uv_loop_init(&loop);
		server_options_t opt;
		server_options_default(&opt);
		snprintf(opt.host, sizeof opt.host, "127.0.0.1");
		snprintf(opt.key, sizeof opt.key, "k");
		if (mode == 0) {
			opt.port = 0;
			opt.port_end = 0;
			snprintf(opt.tracker, sizeof opt.tracker, "127.0.0.1:%d", closed_port());
		} else {
			opt.through_proxy = 1;
			opt.port = closed_port();
		}
		server_t *srv;
		assert_int_equal(server_start(&loop, &opt, &srv), 0);
		pump(&loop, 400); /* a few refused attempts */
		/* After a refused attempt the server waits out its back-off in RETRYING: that is
		 * the state this test closes in (CONNECTING lasts only while a connect is in
		 * flight, so the loop is pumped until RETRYING is seen, for at most 5 s). */
		assert_true(pump_until_registration(&loop, srv, SERVER_REG_RETRYING, 5000));
		finish(&loop, srv);
	}
}

static void test_listen_failure_reported(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(busy, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof sa;
	getsockname(busy, (struct sockaddr *)&sa, &len);
	listen(busy, 1);
	server_options_t opt;
	server_options_default(&opt);
	snprintf(opt.host, sizeof opt.host, "127.0.0.1");
	opt.port = ntohs(sa.sin_port);
	opt.port_end = opt.port + 1;
	server_t *srv = (server_t *)&loop;
	assert_int_equal(server_start(&loop, &opt, &srv), UV_EADDRINUSE);
	assert_null(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(busy);
}

int main(void)
{
	log_set_level(LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mismatch_and_timeout_then_close),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_close_while_retrying_tracker_and_proxy),
		cmocka_unit_test(test_listen_failure_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
