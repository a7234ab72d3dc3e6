/* Unit tests for the proxy internals on a real loop: proxy_link keeps its buffering bounded
 * while the receiver does not read (and delivers every byte in order afterwards), and the
 * read-only view reports waiting peers, links and byte counts. Peers are plain sockets driven
 * without blocking while the loop runs in UV_RUN_NOWAIT steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "services/handshake.h"
#include "services/net.h"
#include "services/proxy.h"
#include "services/proxy_link.h"
#include "services/proxy_view.h"

static void step(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_NOWAIT);
	usleep(200);
}

static int plain_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

/* Read exactly n bytes without blocking the loop; fails the test after ~10 s. */
static void recv_all(uv_loop_t *loop, int fd, void *buf, size_t n)
{
	size_t got = 0;
	for (int i = 0; got < n && i < 50000; i++) {
		ssize_t k = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (k > 0)
			got += (size_t)k;
		else if (k == 0)
			break;
		else
			step(loop);
	}
	assert_int_equal(got, n);
}

static void send_all(uv_loop_t *loop, int fd, const void *buf, size_t n)
{
	size_t put = 0;
	for (int i = 0; put < n && i < 50000; i++) {
		ssize_t k = send(fd, (const char *)buf + put, n - put, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0)
			put += (size_t)k;
		else
			step(loop);
	}
	assert_int_equal(put, n);
}

/* ---- proxy_link ---- */

struct accept_state {
	uv_tcp_t *accepted[2];
	int count;
};

static void on_test_connection(uv_stream_t *server, int status)
{
	struct accept_state *st = server->data;
	assert_int_equal(status, 0);
	assert_true(st->count < 2);
	uv_tcp_t *t = malloc(sizeof *t);
	uv_tcp_init(server->loop, t);
	assert_int_equal(uv_accept(server, (uv_stream_t *)t), 0);
	st->accepted[st->count++] = t;
}

static void on_link_closed(proxy_link_t *link, void *arg)
{
	(void)link;
	*(int *)arg = 1;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i % 251 + (i >> 16));
}

static void test_link_bounded_and_ordered(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	uv_tcp_t listener;
	uv_tcp_init(&loop, &listener);
	struct accept_state st = {0};
	listener.data = &st;
	int port = net_listen_range(&listener, "127.0.0.1", 0, 0, 8, on_test_connection);
	assert_true(port > 0);
	int writer = plain_connect(port);
	int reader = plain_connect(port);
	for (int i = 0; st.count < 2 && i < 10000; i++)
		step(&loop);
	assert_int_equal(st.count, 2);
	/* Which accepted handle is the writer's? Compare peer ports. */
	char name[64], want[64];
	net_peer_name(st.accepted[0], name, sizeof name);
	snprintf(want, sizeof want, "127.0.0.1:%d", local_port(writer));
	int w = strcmp(name, want) == 0 ? 0 : 1;

	proxy_link_pool_t pool = {0};
	int closed = 0;
	uv_buf_t first[2] = {uv_buf_init(NULL, 0), uv_buf_init("hello", 5)};
	proxy_link_t *link = proxy_link_start(&loop, &pool, st.accepted[w], st.accepted[1 - w],
					      first, on_link_closed, &closed);

	/* The reader does not read: the writer fills everything until the link pauses it. */
	const size_t total = 64u << 20;
	size_t chunk = 1 << 20;
	uint8_t *out = malloc(chunk), *in = malloc(chunk);
	uint64_t sent = 0;
	size_t max_queued = 0;
	int stalled = 0;
	for (int i = 0; i < 20000 && stalled < 200; i++) {
		for (size_t j = 0; j < chunk; j++)
			out[j] = pattern(sent + j);
		ssize_t k = send(writer, out, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0)
			sent += (uint64_t)k;
		else
			stalled++;
		step(&loop);
		proxy_link_side_stats_t s;
		proxy_link_stats(link, 1, &s);
		if (s.queued > max_queued)
			max_queued = s.queued;
	}
	proxy_link_side_stats_t from, to;
	proxy_link_stats(link, 0, &from);
	proxy_link_stats(link, 1, &to);
	assert_true(from.paused);
	assert_true(to.queued <= PROXY_LINK_WRITE_BOUND + PROXY_LINK_BUFFER_SIZE);
	assert_true(max_queued <= PROXY_LINK_WRITE_BOUND + PROXY_LINK_BUFFER_SIZE);
	assert_true(sent < total); /* the kernel buffers plus the bound are far below 64 MiB */

	/* Now read: the 5-byte prefix, then every byte in order while the writer finishes. */
	char prefix[5];
	recv_all(&loop, reader, prefix, 5);
	assert_memory_equal(prefix, "hello", 5);
	uint64_t got = 0;
	for (int i = 0; got < total && i < 400000; i++) {
		if (sent < total) {
			size_t n = total - sent < chunk ? (size_t)(total - sent) : chunk;
			for (size_t j = 0; j < n; j++)
				out[j] = pattern(sent + j);
			ssize_t k = send(writer, out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k > 0)
				sent += (uint64_t)k;
		}
		ssize_t k = recv(reader, in, chunk, MSG_DONTWAIT);
		if (k > 0) {
			for (ssize_t j = 0; j < k; j++)
				if (in[j] != pattern(got + (uint64_t)j))
					fail_msg("byte %llu differs", (unsigned long long)(got + j));
			got += (uint64_t)k;
			uv_run(&loop, UV_RUN_NOWAIT);
		} else {
			step(&loop);
		}
		proxy_link_stats(link, 1, &to);
		if (to.queued > max_queued)
			max_queued = to.queued;
	}
	assert_int_equal(got, total);
	assert_true(max_queued <= PROXY_LINK_WRITE_BOUND + PROXY_LINK_BUFFER_SIZE);
	proxy_link_stats(link, 0, &from);
	assert_int_equal(from.bytes_in, total);

	/* The writer leaves: the reader sees EOF and the link closes. */
	close(writer);
	char c;
	ssize_t k = -1;
	for (int i = 0; i < 50000 && k != 0; i++) {
		k = recv(reader, &c, 1, MSG_DONTWAIT);
		if (k < 0)
			step(&loop);
	}
	assert_int_equal(k, 0);
	close(reader);
	for (int i = 0; !closed && i < 50000; i++)
		step(&loop);
	assert_true(closed);
	uv_close((uv_handle_t *)&listener, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	proxy_link_pool_free(&pool);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(out);
	free(in);
}

/* A side that sends and leaves at once: every byte still in flight (socket buffers, the
 * link's pipe) reaches the partner before its EOF, and the first bytes come before them. */
static void test_link_eof_after_tail(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	uv_tcp_t listener;
	uv_tcp_init(&loop, &listener);
	struct accept_state st = {0};
	listener.data = &st;
	int port = net_listen_range(&listener, "127.0.0.1", 0, 0, 8, on_test_connection);
	assert_true(port > 0);
	int writer = plain_connect(port);
	int reader = plain_connect(port);
	for (int i = 0; st.count < 2 && i < 10000; i++)
		step(&loop);
	assert_int_equal(st.count, 2);
	char name[64], want[64];
	net_peer_name(st.accepted[0], name, sizeof name);
	snprintf(want, sizeof want, "127.0.0.1:%d", local_port(writer));
	int w = strcmp(name, want) == 0 ? 0 : 1;

	proxy_link_pool_t pool = {0};
	int closed = 0;
	uv_buf_t first[2] = {uv_buf_init("hi", 2), uv_buf_init("first", 5)};
	proxy_link_t *link = proxy_link_start(&loop, &pool, st.accepted[w], st.accepted[1 - w],
					      first, on_link_closed, &closed);
	const size_t total = 3u << 20;
	uint8_t *out = malloc(total), *in = malloc(total + 1);
	for (size_t j = 0; j < total; j++)
		out[j] = pattern(j);
	send_all(&loop, writer, out, total); /* the reader reads nothing yet */
	char hi[2];
	recv_all(&loop, writer, hi, 2);
	assert_memory_equal(hi, "hi", 2);
	close(writer);

	char prefix[5];
	recv_all(&loop, reader, prefix, 5);
	assert_memory_equal(prefix, "first", 5);
	recv_all(&loop, reader, in, total);
	assert_memory_equal(in, out, total);
	ssize_t k = -1;
	for (int i = 0; i < 50000 && k != 0; i++) {
		k = recv(reader, in, 1, MSG_DONTWAIT);
		if (k < 0)
			step(&loop);
	}
	assert_int_equal(k, 0); /* EOF, not a reset and not more bytes */
	proxy_link_side_stats_t from;
	proxy_link_stats(link, 0, &from);
	assert_int_equal(from.bytes_in, total);
	assert_true(proxy_link_closing(link));
	int err = 0;
	assert_int_equal(proxy_link_end(link, &err), 0);
	assert_int_equal(err, UV_EOF);
	close(reader);
	for (int i = 0; !closed && i < 50000; i++)
		step(&loop);
	assert_true(closed);
	uv_close((uv_handle_t *)&listener, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	proxy_link_pool_free(&pool);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(out);
	free(in);
}

/* ---- the view ---- */

static void on_proxy_closed(void *arg)
{
	*(int *)arg = 1;
}

static void send_key(uv_loop_t *loop, int fd, const char *key)
{
	uint8_t buf[256];
	size_t n = handshake_encode(buf, sizeof buf, RPC_MAGIC, key);
	send_all(loop, fd, buf, n);
}

static void test_view_counts_links_waiters(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	proxy_options_t opt;
	proxy_options_default(&opt);
	snprintf(opt.host, sizeof opt.host, "127.0.0.1");
	opt.port = 0;
	opt.port_end = 0;
	proxy_t *p;
	assert_int_equal(proxy_start(&loop, &opt, &p), 0);
	int port = proxy_port(p);
	assert_true(port > 0);

	/* A probe that sends nothing is not a bad handshake; two stray bytes are. */
	close(plain_connect(port));
	int stray = plain_connect(port);
	send_all(&loop, stray, "\x71\xf2", 2);
	close(stray);
	proxy_view_counts_t c;
	for (int i = 0; i < 20000; i++) {
		step(&loop);
		proxy_view_counts(p, &c);
		if (c.accepted == 2 && c.connections == 0)
			break;
	}
	assert_int_equal(c.accepted, 2);
	assert_int_equal(c.connections, 0);
	assert_int_equal(c.bad_handshakes, 1);

	int server = plain_connect(port);
	send_key(&loop, server, "server:v");
	for (int i = 0; i < 20000; i++) {
		step(&loop);
		proxy_view_counts(p, &c);
		if (c.waiting_servers == 1)
			break;
	}
	assert_int_equal(c.waiting_servers, 1);
	assert_int_equal(c.connections, 1);
	assert_int_equal(c.tracker_mode, 0);
	proxy_view_waiter_t wv[4];
	assert_int_equal(proxy_view_waiters(p, wv, 4), 1);
	assert_string_equal(wv[0].key, "v");
	assert_true(wv[0].is_server);
	assert_string_equal(wv[0].matchkey, "");

	int client = plain_connect(port);
	send_key(&loop, client, "client:v -timeout=3");
	char reply[64];
	recv_all(&loop, client, reply, 8 + 8);
	assert_memory_equal(reply + 8, "server:v", 8);
	recv_all(&loop, server, reply, 8 + 19);
	assert_memory_equal(reply + 8, "client:v -timeout=3", 19);
	proxy_view_counts(p, &c);
	assert_int_equal(c.links, 1);
	assert_int_equal(c.paired, 1);
	assert_int_equal(c.waiting_servers, 0);
	assert_int_equal(c.connections, 2);

	char data[100];
	memset(data, 'z', sizeof data);
	send_all(&loop, client, data, sizeof data);
	recv_all(&loop, server, data, sizeof data);
	proxy_view_link_t lv[2];
	assert_int_equal(proxy_view_links(p, lv, 2), 1);
	assert_string_equal(lv[0].key, "v");
	assert_int_equal(lv[0].bytes_client_to_server, 100);
	assert_int_equal(lv[0].bytes_server_to_client, 0);
	assert_true(lv[0].started > 0);
	char name[64];
	snprintf(name, sizeof name, "127.0.0.1:%d", local_port(client));
	assert_string_equal(lv[0].client, name);

	/* The client leaves: the link keeps the server side until it has drained (EOF). */
	close(client);
	for (int i = 0; i < 20000 && !lv[0].closing; i++) {
		step(&loop);
		assert_int_equal(proxy_view_links(p, lv, 2), 1);
	}
	assert_true(lv[0].closing);
	char eof;
	ssize_t k = -1;
	for (int i = 0; i < 20000 && k != 0; i++) {
		k = recv(server, &eof, 1, MSG_DONTWAIT);
		if (k < 0)
			step(&loop);
	}
	assert_int_equal(k, 0);
	close(server);
	for (int i = 0; i < 20000; i++) {
		step(&loop);
		proxy_view_counts(p, &c);
		if (c.links == 0)
			break;
	}
	assert_int_equal(c.links, 0);
	assert_int_equal(c.bytes_client_to_server, 100);
	assert_int_equal(c.connections, 0);

	int done = 0;
	proxy_close(p, on_proxy_closed, &done);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Tracker mode with no tracker listening: servers are pooled with a private matchkey and the
 * view reports the failing tracker connection. */
static void test_view_tracker_mode_without_tracker(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	/* A port that was free a moment ago: nothing listens there. */
	uv_tcp_t probe;
	uv_tcp_init(&loop, &probe);
	int dead = net_listen_range(&probe, "127.0.0.1", 0, 0, 1, NULL);
	assert_true(dead > 0);
	uv_close((uv_handle_t *)&probe, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);

	proxy_options_t opt;
	proxy_options_default(&opt);
	snprintf(opt.host, sizeof opt.host, "127.0.0.1");
	opt.port = 0;
	opt.port_end = 0;
	snprintf(opt.tracker, sizeof opt.tracker, "127.0.0.1:%d", dead);
	proxy_t *p;
	assert_int_equal(proxy_start(&loop, &opt, &p), 0);
	int server = plain_connect(proxy_port(p));
	send_key(&loop, server, "server:tk");
	proxy_view_counts_t c;
	for (int i = 0; i < 20000; i++) {
		step(&loop);
		proxy_view_counts(p, &c);
		if (c.waiting_servers == 1 && c.tracker_failures > 0)
			break;
	}
	assert_int_equal(c.tracker_mode, 1);
	assert_int_equal(c.tracker_connected, 0);
	assert_int_equal(c.waiting_servers, 1);
	assert_true(c.tracker_failures > 0);
	assert_true(c.tracker_last_error[0] != '\0');
	proxy_view_waiter_t wv[2];
	assert_int_equal(proxy_view_waiters(p, wv, 2), 1);
	assert_string_equal(wv[0].key, "tk");
	assert_int_equal(strlen(wv[0].matchkey), 3 + 32);
	assert_memory_equal(wv[0].matchkey, "tk:", 3);

	/* A client with the plain key, or a made-up suffix, is refused. */
	int client = plain_connect(proxy_port(p));
	send_key(&loop, client, "client:tk:00000000000000000000000000000000");
	uint8_t reply[4];
	recv_all(&loop, client, reply, 4);
	assert_int_equal(reply[0] | reply[1] << 8 | reply[2] << 16, RPC_CODE_MISMATCH);
	close(client);
	/* The right one is paired at once. */
	char key[64];
	snprintf(key, sizeof key, "client:%s", wv[0].matchkey);
	client = plain_connect(proxy_port(p));
	send_key(&loop, client, key);
	uint8_t ok[8 + 9];
	recv_all(&loop, client, ok, sizeof ok);
	assert_memory_equal(ok + 8, "server:tk", 9);
	close(client);
	close(server);

	int done = 0;
	proxy_close(p, on_proxy_closed, &done);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_bounded_and_ordered),
		cmocka_unit_test(test_link_eof_after_tail),
		cmocka_unit_test(test_view_counts_links_waiters),
		cmocka_unit_test(test_view_tracker_mode_without_tracker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
