/* Unit tests for the services' dialer (src/services/dialer.c): the back-off schedule, a
 * connection handed over, refusal, the deadline against a listener whose accept queue is full,
 * and abandoning an attempt while it resolves or connects (no callback afterwards, nothing
 * leaked: run under ASan). Everything runs on this machine: 127.0.0.1 and a name its own
 * resolver answers (the host name, else LOCALHOST). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "services/dialer.h"

struct outcome {
	int calls;
	int status;
	char why[160];
	int closed;
	int starting;
};

static void on_tcp_closed(uv_handle_t *h)
{
	free(h);
}

static void on_done(void *arg, uv_tcp_t *tcp, int status, const char *why)
{
	struct outcome *o = arg;
	o->calls++;
	o->status = status;
	snprintf(o->why, sizeof o->why, "%s", why);
	if (tcp) {
		assert_int_equal(status, 0);
		uv_close((uv_handle_t *)tcp, on_tcp_closed);
	} else {
		assert_true(status < 0);
	}
}

static void on_starting(void *arg)
{
	((struct outcome *)arg)->starting++;
}

static void on_dialer_closed(void *arg)
{
	((struct outcome *)arg)->closed = 1;
}

static dialer_t *dialer_for(uv_loop_t *loop, const char *host, int port, double timeout,
			    struct outcome *o)
{
	memset(o, 0, sizeof *o);
	dialer_options_t opt = {timeout, 0.01, 0.04};
	dialer_events_t ev = {o, on_done, on_starting};
	dialer_t *d = NULL;
	assert_int_equal(dialer_init(loop, host, port, &opt, &ev, &d), 0);
	return d;
}

static void on_bound(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* Run the loop until o->calls reaches n, bounded by a timer of bound_ms. */
static int run_until_calls_within(uv_loop_t *loop, struct outcome *o, int n, uint64_t bound_ms)
{
	int expired = 0;
	uv_timer_t bound;
	uv_timer_init(loop, &bound);
	bound.data = &expired;
	uv_timer_start(&bound, on_bound, bound_ms, 0);
	while (o->calls < n && !expired)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&bound, NULL);
	uv_run(loop, UV_RUN_NOWAIT); /* the stack timer must be released before we return */
	return o->calls >= n;
}

static int run_until_calls(uv_loop_t *loop, struct outcome *o, int n)
{
	return run_until_calls_within(loop, o, n, 5000);
}

static void close_and_drain(uv_loop_t *loop, dialer_t *d, struct outcome *o)
{
	int calls = o->calls;
	dialer_close(d, on_dialer_closed, o);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_true(o->closed);
	assert_int_equal(o->calls, calls); /* nothing reported after the close */
}

/* A listening socket on 127.0.0.1 (backlog as given); returns its fd, the port in *port. */
static int listen_local(int backlog, int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, backlog), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Fill the accept queue of a backlog-0 listener until a connect stays pending: later connects
 * then get no answer. Fills fillers[] (closed by the caller); returns how many. */
static int saturate(int port, int *fillers, int max)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	for (int i = 0; i < max; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		fillers[i] = fd;
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			continue;
		assert_int_equal(errno, EINPROGRESS);
		struct pollfd p = {fd, POLLOUT, 0};
		if (poll(&p, 1, 200) == 0)
			return i + 1; /* this one hangs: the queue is full */
	}
	fail_msg("the listener never stopped answering");
	return max;
}

/* A loopback listener that accepts nothing more: connects to `port` stay pending. */
struct stuck_listener {
	int lfd, port, n, fillers[16];
};

static void stuck_open(struct stuck_listener *l)
{
	l->lfd = listen_local(0, &l->port);
	l->n = saturate(l->port, l->fillers, 16);
}

static void stuck_close(struct stuck_listener *l)
{
	for (int i = 0; i < l->n; i++)
		close(l->fillers[i]);
	close(l->lfd);
}

static void test_backoff_schedule(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	int port;
	int lfd = listen_local(1, &port);
	close(lfd); /* now refused */
	struct outcome o;
	dialer_t *d = dialer_for(&loop, "127.0.0.1", port, 2, &o);
	const double want[] = {0.01, 0.02, 0.04, 0.04};
	for (int i = 0; i < 4; i++) {
		assert_true(dialer_backoff(d) == want[i]);
		assert_true(dialer_retry(d) == want[i]);
		assert_false(dialer_dialing(d)); /* waiting for the back-off */
		assert_true(run_until_calls(&loop, &o, i + 1));
		assert_int_equal(o.status, UV_ECONNREFUSED);
		assert_string_equal(o.why, "connect: connection refused");
		assert_int_equal(o.starting, i + 1); /* each retry announced its attempt */
	}
	dialer_backoff_reset(d);
	assert_true(dialer_backoff(d) == 0.01);
	close_and_drain(&loop, d, &o);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_connects_and_hands_over(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	int port;
	int lfd = listen_local(4, &port);
	struct outcome o;
	dialer_t *d = dialer_for(&loop, "localhost", port, 2, &o);
	dialer_dial(d);
	assert_true(dialer_dialing(d));
	assert_int_equal(o.calls, 0); /* never from inside dialer_dial */
	assert_true(run_until_calls(&loop, &o, 1));
	assert_int_equal(o.status, 0);
	assert_false(dialer_dialing(d));
	close_and_drain(&loop, d, &o);
	close(lfd);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_connection(uv_stream_t *server, int status)
{
	(void)server;
	(void)status; /* left in the queue: the dialer's side is connected either way */
}

/* A name this machine resolves without asking a DNS server (its own host name, else
 * "LOCALHOST", which the dialer does not take as a literal), and the first address the
 * resolver gives for it, as the dialer will pick it. */
static void resolvable_name(char *name, size_t size, struct sockaddr_storage *first)
{
	char host[256];
	size_t len = sizeof host;
	const char *candidates[2] = {uv_os_gethostname(host, &len) == 0 ? host : "LOCALHOST",
				     "LOCALHOST"};
	for (int i = 0; i < 2; i++) {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_family = AF_UNSPEC;
		if (getaddrinfo(candidates[i], NULL, &hints, &res) != 0 || !res)
			continue;
		memcpy(first, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
		snprintf(name, size, "%s", candidates[i]);
		return;
	}
	fail_msg("neither the host name nor LOCALHOST resolves on this machine");
}

static void test_resolves_a_name(void **state)
{
	(void)state;
	char host[256];
	struct sockaddr_storage addr;
	resolvable_name(host, sizeof host, &addr);
	uv_loop_t loop;
	uv_loop_init(&loop);
	/* Listen on exactly the address the name resolves to first (port chosen by the kernel). */
	uv_tcp_t listener;
	uv_tcp_init(&loop, &listener);
	assert_int_equal(uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&listener, 4, on_connection), 0);
	struct sockaddr_storage bound;
	int blen = sizeof bound;
	uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &blen);
	int port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	struct outcome o;
	dialer_t *d = dialer_for(&loop, host, port, 5, &o);
	dialer_dial(d);
	assert_true(dialer_dialing(d));
	assert_true(run_until_calls(&loop, &o, 1));
	assert_int_equal(o.status, 0);
	uv_close((uv_handle_t *)&listener, NULL);
	close_and_drain(&loop, d, &o);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_unknown_name_fails(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct outcome o;
	/* RFC 6761: .invalid never resolves. Without a reachable DNS server the resolver gives
	 * up only after its own timeouts, hence the long bound (and no dialer deadline). */
	dialer_t *d = dialer_for(&loop, "no-such-host.invalid", 9, 0, &o);
	dialer_dial(d);
	assert_true(run_until_calls_within(&loop, &o, 1, 60000));
	assert_true(o.status < 0);
	assert_non_null(strstr(o.why, "cannot resolve 'no-such-host.invalid'"));
	close_and_drain(&loop, d, &o);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_deadline(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct stuck_listener l;
	stuck_open(&l);
	struct outcome o;
	dialer_t *d = dialer_for(&loop, "127.0.0.1", l.port, 0.2, &o);
	uint64_t t0 = uv_now(&loop);
	dialer_dial(d);
	assert_true(run_until_calls(&loop, &o, 1));
	assert_int_equal(o.status, UV_ETIMEDOUT);
	assert_string_equal(o.why, "no answer within 0.2s");
	assert_true(uv_now(&loop) - t0 >= 200);
	close_and_drain(&loop, d, &o);
	stuck_close(&l);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Let the loop turn a few times without waiting: callbacks due now run. */
static void spin(uv_loop_t *loop)
{
	for (int i = 0; i < 5; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static void test_abandon_while_connecting(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct stuck_listener l;
	stuck_open(&l);
	struct outcome o;
	dialer_t *d = dialer_for(&loop, "127.0.0.1", l.port, 5, &o);
	dialer_dial(d); /* an address literal: connecting at once */
	spin(&loop);
	if (!dialer_dialing(d))
		fail_msg("attempt ended: %d calls, %s", o.calls, o.why);
	dialer_dial(d); /* a new attempt abandons the first */
	spin(&loop);
	assert_int_equal(o.calls, 0);
	close_and_drain(&loop, d, &o); /* and closing abandons the second */
	stuck_close(&l);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_abandon_while_resolving(void **state)
{
	(void)state;
	char host[256];
	struct sockaddr_storage addr;
	resolvable_name(host, sizeof host, &addr);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct outcome o;
	dialer_t *d = dialer_for(&loop, host, 9, 5, &o);
	dialer_dial(d);
	assert_true(dialer_dialing(d));
	dialer_stop(d);
	assert_false(dialer_dialing(d));
	dialer_dial(d);
	close_and_drain(&loop, d, &o); /* the resolver's late answer only frees its request */
	assert_int_equal(o.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	dialer_options_t opt = {1, 0.1, 1};
	struct outcome o;
	dialer_events_t ev = {&o, on_done, NULL};
	dialer_t *d = NULL;
	assert_int_equal(dialer_init(&loop, "", 9090, &opt, &ev, &d), UV_EINVAL);
	assert_int_equal(dialer_init(&loop, "127.0.0.1", 0, &opt, &ev, &d), UV_EINVAL);
	assert_int_equal(dialer_init(&loop, "127.0.0.1", 65536, &opt, &ev, &d), UV_EINVAL);
	assert_null(d);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_schedule),
		cmocka_unit_test(test_connects_and_hands_over),
		cmocka_unit_test(test_resolves_a_name),
		cmocka_unit_test(test_unknown_name_fails),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_abandon_while_connecting),
		cmocka_unit_test(test_abandon_while_resolving),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
