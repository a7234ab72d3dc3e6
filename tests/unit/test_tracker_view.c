/* Tests of the tracker's console view and admin actions (tracker_view.h) on a real tracker
 * running in-process: plain blocking sockets talk to it while the test pumps its libuv loop.
 * Covers servers/queues/requests/events/counters, drain, kick, cancel, and STOP with the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "services/tracker.h"
#include "services/tracker_codec.h"
#include "services/tracker_view.h"

struct fixture {
	uv_loop_t loop;
	tracker_t *t;
	int port;
	int changes;
	int stopped;
};

static void on_change(void *arg)
{
	((struct fixture *)arg)->changes++;
}

static void on_stop(void *arg)
{
	((struct fixture *)arg)->stopped = 1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	uv_loop_init(&f->loop);
	tracker_options_t opt;
	tracker_options_default(&opt);
	snprintf(opt.host, sizeof opt.host, "127.0.0.1");
	opt.port = 0; /* any free port */
	opt.port_end = 0;
	assert_int_equal(tracker_start(&f->loop, &opt, &f->t), 0);
	f->port = tracker_port(f->t);
	assert_true(f->port > 0);
	tracker_view_set_on_change(f->t, on_change, f);
	tracker_set_stop_callback(f->t, on_stop, f);
	*state = f;
	return 0;
}

static void on_closed(void *arg)
{
	*(int *)arg = 1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int closed = 0;
	tracker_close(f->t, on_closed, &closed);
	for (int i = 0; i < 1000 && !closed; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_true(closed);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

/* Run the loop until fd is readable (1) or about two seconds pass (0). */
static int pump_until_readable(struct fixture *f, int fd)
{
	for (int i = 0; i < 2000; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 1) > 0)
			return 1;
	}
	return 0;
}

static void pump(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static void read_exact(int fd, void *buf, size_t n)
{
	assert_int_equal(recv(fd, buf, n, MSG_WAITALL), (ssize_t)n);
}

static int client(struct fixture *f)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	a.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	uint8_t magic[4];
	tracker_put_i32(magic, TRACKER_MAGIC);
	assert_int_equal(send(fd, magic, 4, 0), 4);
	assert_true(pump_until_readable(f, fd));
	uint8_t echo[4];
	read_exact(fd, echo, 4);
	assert_memory_equal(echo, magic, 4);
	return fd;
}

static void send_json(int fd, const char *json)
{
	char buf[512];
	size_t n = strlen(json);
	tracker_put_i32((uint8_t *)buf, (int32_t)n);
	memcpy(buf + 4, json, n);
	assert_int_equal(send(fd, buf, n + 4, 0), (ssize_t)(n + 4));
}

/* The next reply as text (static buffer). */
static const char *reply(struct fixture *f, int fd)
{
	static char text[4096];
	assert_true(pump_until_readable(f, fd));
	uint8_t hdr[4];
	read_exact(fd, hdr, 4);
	int32_t n = tracker_get_i32(hdr);
	assert_true(n > 0 && n < (int32_t)sizeof text);
	read_exact(fd, text, (size_t)n);
	text[n] = '\0';
	return text;
}

static const char *call(struct fixture *f, int fd, const char *json)
{
	send_json(fd, json);
	return reply(f, fd);
}

/* ---- collectors for the iterators ---- */

struct servers {
	int n;
	struct tracker_view_server s[8];
	char key[8][64], addr[8][64];
};

static int collect_server(void *arg, const struct tracker_view_server *s)
{
	struct servers *c = arg;
	if (c->n < 8) {
		c->s[c->n] = *s;
		snprintf(c->key[c->n], sizeof c->key[0], "%s", s->key);
		snprintf(c->addr[c->n], sizeof c->addr[0], "%s", s->addr);
	}
	c->n++;
	return 0;
}

struct queues {
	int n;
	struct tracker_view_queue q[8];
	char key[8][64];
};

static int collect_queue(void *arg, const struct tracker_view_queue *q)
{
	struct queues *c = arg;
	if (c->n < 8) {
		c->q[c->n] = *q;
		snprintf(c->key[c->n], sizeof c->key[0], "%s", q->key);
	}
	c->n++;
	return 0;
}

struct requests {
	int n;
	struct tracker_view_request r[8];
	char key[8][64], user[8][64];
};

static int collect_request(void *arg, const struct tracker_view_request *r)
{
	struct requests *c = arg;
	if (c->n < 8) {
		c->r[c->n] = *r;
		snprintf(c->key[c->n], sizeof c->key[0], "%s", r->key);
		snprintf(c->user[c->n], sizeof c->user[0], "%s", r->user);
	}
	c->n++;
	return 0;
}

static void test_view_lists_servers_queues_requests(void **state)
{
	struct fixture *f = *state;
	int a = client(f);
	assert_string_equal(call(f, a, "[5, {\"key\": \"server:k\", \"addr\": [null, 9090]}]"), "0");
	assert_string_equal(call(f, a, "[3, \"k\", [9090, \"k:0.1\"], null]"), "0");
	int b = client(f);
	send_json(b, "[4, \"q\", \"alice\", 3]");
	pump(f, 20);

	struct servers sv = {0};
	assert_int_equal(tracker_view_servers(f->t, collect_server, &sv), 1);
	assert_string_equal(sv.key[0], "server:k");
	assert_string_equal(sv.addr[0], "127.0.0.1:9090");
	assert_int_equal(sv.s[0].state, TRACKER_SERVER_FREE);
	assert_int_equal(sv.s[0].free, 1);
	assert_true(sv.s[0].registered > 1e9);

	struct queues qv = {0};
	assert_int_equal(tracker_view_queues(f->t, collect_queue, &qv), 2);
	assert_string_equal(qv.key[0], "k");
	assert_int_equal(qv.q[0].total, 1);
	assert_int_equal(qv.q[0].free, 1);
	assert_int_equal(qv.q[0].pending, 0);
	assert_string_equal(qv.key[1], "q");
	assert_int_equal(qv.q[1].total, 0);
	assert_int_equal(qv.q[1].pending, 1);

	struct requests rv = {0};
	assert_int_equal(tracker_view_requests(f->t, collect_request, &rv), 1);
	assert_string_equal(rv.key[0], "q");
	assert_string_equal(rv.user[0], "alice");
	assert_true(rv.r[0].priority == 3);
	assert_int_not_equal(rv.r[0].conn_id, sv.s[0].id);

	struct tracker_view_counters c;
	tracker_view_counters(f->t, &c);
	assert_int_equal(c.connections_open, 2);
	assert_int_equal(c.puts, 1);
	assert_int_equal(c.requests, 1);
	assert_int_equal(c.servers, 1);
	assert_int_equal(c.pending, 1);
	assert_true(f->changes > 0);

	struct tracker_view_event ev[TRACKER_VIEW_EVENT_RING];
	size_t n = tracker_view_events(f->t, 0, ev, TRACKER_VIEW_EVENT_RING);
	assert_true(n >= 2);
	assert_int_equal(ev[0].kind, TRACKER_EVENT_REGISTER);
	assert_string_equal(tracker_event_kind_name(ev[0].kind), "register");
	uint64_t newest = ev[n - 1].seq;
	assert_int_equal(ev[n - 1].seq - ev[0].seq, n - 1);
	assert_int_equal(tracker_view_events(f->t, newest, ev, 4), 0);
	assert_int_equal(tracker_view_events(f->t, 0, ev, 1), 1); /* the newest one */
	assert_int_equal(ev[0].seq, newest);

	/* A client disconnecting while waiting leaves no trace; the queue goes too. */
	close(b);
	pump(f, 20);
	tracker_view_counters(f->t, &c);
	assert_int_equal(c.pending, 0);
	memset(&qv, 0, sizeof qv);
	assert_int_equal(tracker_view_queues(f->t, collect_queue, &qv), 1);
	n = tracker_view_events(f->t, 0, ev, TRACKER_VIEW_EVENT_RING);
	assert_int_equal(ev[n - 1].kind, TRACKER_EVENT_DROP);
	close(a);
	pump(f, 20);
}

static void test_drain_and_undrain(void **state)
{
	struct fixture *f = *state;
	int a = client(f);
	assert_string_equal(call(f, a, "[5, {\"key\": \"server:k\", \"addr\": [null, 9090]}]"), "0");
	assert_string_equal(call(f, a, "[3, \"k\", [9090, \"k:0.1\"], null]"), "0");
	struct servers sv = {0};
	tracker_view_servers(f->t, collect_server, &sv);
	uint64_t id = sv.s[0].id;
	assert_int_equal(tracker_admin_drain(f->t, id, 1), 0);
	assert_int_equal(tracker_admin_drain(f->t, 999999, 1), UV_ENOENT);
	memset(&sv, 0, sizeof sv);
	tracker_view_servers(f->t, collect_server, &sv);
	assert_int_equal(sv.s[0].state, TRACKER_SERVER_DRAINED);
	assert_int_equal(sv.s[0].held, 1);
	assert_int_equal(sv.s[0].free, 0);

	int b = client(f);
	assert_string_equal(call(f, b, "[6]"),
			    "[0, {\"queue_info\": {\"k\": {\"free\": 0, \"pending\": 0}}, "
			    "\"server_info\": [{\"key\": \"server:k\", \"addr\": [\"127.0.0.1\", 9090]}]}]");
	/* Still unassigned, so the server keeps seeing its key and does not regenerate it. */
	assert_string_equal(call(f, a, "[7]"), "[\"k:0.1\"]");
	send_json(b, "[4, \"k\", \"\", 1]");
	pump(f, 30);
	struct pollfd p = {.fd = b, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0); /* drained: not assigned */
	/* A PUT while drained is held too. */
	assert_string_equal(call(f, a, "[3, \"k\", [9090, \"k:0.2\"], null]"), "0");
	assert_int_equal(poll(&p, 1, 0), 0);

	assert_int_equal(tracker_admin_drain(f->t, id, 0), 0);
	assert_string_equal(reply(f, b), "[0, [\"127.0.0.1\", 9090, \"k:0.1\"]]");
	pump(f, 10);
	memset(&sv, 0, sizeof sv);
	tracker_view_servers(f->t, collect_server, &sv);
	assert_int_equal(sv.s[0].state, TRACKER_SERVER_FREE);
	assert_int_equal(sv.s[0].free, 1);
	assert_int_equal(sv.s[0].sessions, 1);
	close(a);
	close(b);
	pump(f, 20);
}

static void test_kick(void **state)
{
	struct fixture *f = *state;
	int a = client(f);
	assert_string_equal(call(f, a, "[3, \"k\", [9090, \"k:0.1\"], null]"), "0");
	struct servers sv = {0};
	tracker_view_servers(f->t, collect_server, &sv);
	assert_int_equal(sv.n, 1);
	assert_string_equal(sv.key[0], "k"); /* no UPDATE_INFO: the PUT's key */
	assert_string_equal(sv.addr[0], "127.0.0.1:9090");
	assert_int_equal(tracker_admin_kick(f->t, sv.s[0].id), 0);
	assert_true(pump_until_readable(f, a));
	char byte;
	assert_int_equal(recv(a, &byte, 1, 0), 0); /* closed */
	struct queues qv = {0};
	assert_int_equal(tracker_view_queues(f->t, collect_queue, &qv), 0);
	assert_int_equal(tracker_admin_kick(f->t, sv.s[0].id), UV_ENOENT);
	close(a);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	int b = client(f);
	send_json(b, "[4, \"k\", \"\", 1]");
	pump(f, 20);
	struct requests rv = {0};
	assert_int_equal(tracker_view_requests(f->t, collect_request, &rv), 1);
	assert_int_equal(tracker_admin_cancel(f->t, rv.r[0].id), 0);
	assert_string_equal(reply(f, b), "[-1, \"cancelled by tracker admin\"]");
	assert_int_equal(tracker_admin_cancel(f->t, rv.r[0].id), UV_ENOENT);
	struct tracker_view_counters c;
	tracker_view_counters(f->t, &c);
	assert_int_equal(c.pending, 0);
	assert_int_equal(c.cancelled, 1);
	assert_string_equal(call(f, b, "[1]"), "0"); /* the connection stays usable */
	close(b);
	pump(f, 10);
}

/* A client that resets its connection while its REQUEST waits: whichever the tracker notices
 * first (the reset, or the failed write of the assignment), the server ends up free again and
 * nothing is pending. */
static void test_reset_requester_gives_the_server_back(void **state)
{
	struct fixture *f = *state;
	int a = client(f);
	int b = client(f);
	send_json(b, "[4, \"k\", \"\", 1]");
	pump(f, 20);
	/* The PUT and then the reset arrive before the loop runs again, so both are seen in one
	 * loop iteration (epoll reports them in that order: the write path is usually taken). */
	send_json(a, "[3, \"k\", [9090, \"k:0.1\"], null]");
	usleep(10000);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(b); /* RST */
	usleep(10000);
	assert_string_equal(reply(f, a), "0");
	pump(f, 30);
	struct queues qv = {0};
	assert_int_equal(tracker_view_queues(f->t, collect_queue, &qv), 1);
	assert_int_equal(qv.q[0].free, 1);
	assert_int_equal(qv.q[0].pending, 0);
	assert_string_equal(call(f, a, "[7]"), "[\"k:0.1\"]");
	close(a);
	pump(f, 10);
}

static void test_stop_with_the_key(void **state)
{
	struct fixture *f = *state;
	const char *key = tracker_stop_key(f->t);
	assert_int_equal(strncmp(key, "tracker:", 8), 0);
	assert_int_equal(strlen(key), 8 + 32);
	int other = client(f);
	int a = client(f);
	char msg[128];
	snprintf(msg, sizeof msg, "[2, \"%s\"]", key);
	assert_string_equal(call(f, a, msg), "0");
	pump(f, 20);
	assert_true(f->stopped);
	char byte;
	assert_true(pump_until_readable(f, other));
	assert_int_equal(recv(other, &byte, 1, 0), 0);
	close(a);
	close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_view_lists_servers_queues_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drain_and_undrain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_requester_gives_the_server_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_with_the_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
