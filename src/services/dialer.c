/* The services' asynchronous dialer (dialer.h). One timer per dialer serves, in turn, the
 * scheduled attempt, the attempt's deadline and the report of a failure that happened inside a
 * dialer_* call (callbacks never run from inside the owner's own call). Each attempt is a heap
 * request: abandoning it only clears its back pointer, and libuv's late callback frees it. */
#include "services/dialer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

enum timer_job { TIMER_IDLE, TIMER_DIAL, TIMER_DEADLINE, TIMER_REPORT };

struct attempt {
	dialer_t *d; /* NULL once abandoned */
	uv_getaddrinfo_t resolve;
	uv_connect_t connect;
	uv_tcp_t *tcp; /* while connecting */
	int resolving;
};

struct dialer {
	uv_loop_t *loop;
	char host[256];
	int port;
	dialer_options_t opt;
	dialer_events_t ev;
	uv_timer_t timer;
	enum timer_job job;
	struct attempt *attempt;
	double backoff;
	int report_status; /* TIMER_REPORT: the failure to hand over */
	char report_why[320];
	int closing;
	void (*close_done)(void *arg);
	void *close_arg;
};

static uint64_t dialer_ms(double seconds)
{
	return seconds <= 0 ? 0 : (uint64_t)(seconds * 1000.0 + 0.5);
}

static void on_timer(uv_timer_t *t);

static void timer_set(dialer_t *d, enum timer_job job, double seconds)
{
	d->job = job;
	uv_timer_start(&d->timer, on_timer, dialer_ms(seconds), 0);
}

static void timer_clear(dialer_t *d)
{
	d->job = TIMER_IDLE;
	uv_timer_stop(&d->timer);
}

static void on_attempt_closed(uv_handle_t *h)
{
	struct attempt *a = h->data;
	free(a->tcp);
	free(a);
}

/* Detach the attempt in flight; libuv's pending callback frees it. */
static void attempt_abandon(dialer_t *d)
{
	struct attempt *a = d->attempt;
	if (!a)
		return;
	d->attempt = NULL;
	a->d = NULL;
	if (a->resolving)
		uv_cancel((uv_req_t *)&a->resolve); /* on_resolved runs either way */
	else
		uv_close((uv_handle_t *)a->tcp, on_attempt_closed);
}

/* The attempt ended (from a libuv callback): tell the owner. */
static void dialer_finish(dialer_t *d, uv_tcp_t *tcp, int status, const char *why)
{
	d->attempt = NULL;
	timer_clear(d);
	d->ev.done(d->ev.arg, tcp, status, why);
}

/* A failure inside a dialer_* call: reported from the timer, on the next loop turn. */
static void dialer_report_later(dialer_t *d, int status, const char *why)
{
	d->report_status = status;
	snprintf(d->report_why, sizeof d->report_why, "%s", why);
	timer_set(d, TIMER_REPORT, 0);
}

static void fail_text(char *buf, size_t size, const char *what, int status)
{
	snprintf(buf, size, "%s%s", what, uv_strerror(status));
}

static void on_connected(uv_connect_t *req, int status)
{
	struct attempt *a = req->data;
	dialer_t *d = a->d;
	if (!d)
		return; /* abandoned: on_attempt_closed frees it */
	if (status < 0) {
		char why[160];
		fail_text(why, sizeof why, "connect: ", status);
		a->d = NULL;
		uv_close((uv_handle_t *)a->tcp, on_attempt_closed);
		dialer_finish(d, NULL, status, why);
		return;
	}
	uv_tcp_t *tcp = a->tcp;
	tcp->data = NULL;
	free(a);
	dialer_finish(d, tcp, 0, "");
}

/* Start connecting; a synchronous failure closes the socket and returns the error. */
static int attempt_connect(struct attempt *a, const struct sockaddr *addr)
{
	a->tcp = xmalloc(sizeof *a->tcp);
	uv_tcp_init(a->d->loop, a->tcp);
	a->tcp->data = a;
	a->connect.data = a;
	int err = uv_tcp_connect(&a->connect, a->tcp, addr, on_connected);
	if (err) {
		a->d->attempt = NULL;
		a->d = NULL;
		uv_close((uv_handle_t *)a->tcp, on_attempt_closed);
	}
	return err;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct attempt *a = req->data;
	dialer_t *d = a->d;
	a->resolving = 0;
	if (!d || status < 0 || !res) {
		uv_freeaddrinfo(res);
		free(a);
		if (d) {
			char why[320];
			snprintf(why, sizeof why, "cannot resolve '%s': %s", d->host,
				 uv_strerror(status < 0 ? status : UV_EAI_NONAME));
			dialer_finish(d, NULL, status < 0 ? status : UV_EAI_NONAME, why);
		}
		return;
	}
	int err = attempt_connect(a, res->ai_addr);
	uv_freeaddrinfo(res);
	if (err) {
		char why[160];
		fail_text(why, sizeof why, "connect: ", err);
		dialer_finish(d, NULL, err, why);
	}
}

/* An address literal needs no resolver: fill addr and return 1. */
static int literal_address(const dialer_t *d, struct sockaddr_storage *addr)
{
	const char *h = strcmp(d->host, "localhost") == 0 ? "127.0.0.1" : d->host;
	return uv_ip4_addr(h, d->port, (struct sockaddr_in *)addr) == 0 ||
	       uv_ip6_addr(h, d->port, (struct sockaddr_in6 *)addr) == 0;
}

static void attempt_start(dialer_t *d)
{
	struct attempt *a = xcalloc(1, sizeof *a);
	a->d = d;
	d->attempt = a;
	if (d->opt.connect_timeout > 0)
		timer_set(d, TIMER_DEADLINE, d->opt.connect_timeout);
	else
		timer_clear(d);
	struct sockaddr_storage literal;
	int err;
	if (literal_address(d, &literal)) {
		err = attempt_connect(a, (const struct sockaddr *)&literal);
	} else {
		char port[16];
		snprintf(port, sizeof port, "%d", d->port);
		struct addrinfo hints;
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_family = AF_UNSPEC;
		a->resolve.data = a;
		a->resolving = 1;
		err = uv_getaddrinfo(d->loop, &a->resolve, on_resolved, d->host, port, &hints);
		if (err) {
			d->attempt = NULL;
			free(a);
		}
	}
	if (err) {
		char why[320];
		snprintf(why, sizeof why, "cannot connect to '%s': %s", d->host, uv_strerror(err));
		dialer_report_later(d, err, why);
	}
}

static void on_timer(uv_timer_t *t)
{
	dialer_t *d = t->data;
	enum timer_job job = d->job;
	d->job = TIMER_IDLE;
	if (job == TIMER_DIAL) {
		attempt_start(d);
		if (d->ev.starting)
			d->ev.starting(d->ev.arg);
	} else if (job == TIMER_DEADLINE) {
		char why[64];
		snprintf(why, sizeof why, "no answer within %.1fs", d->opt.connect_timeout);
		attempt_abandon(d);
		d->ev.done(d->ev.arg, NULL, UV_ETIMEDOUT, why);
	} else if (job == TIMER_REPORT) {
		d->ev.done(d->ev.arg, NULL, d->report_status, d->report_why);
	}
}

int dialer_init(uv_loop_t *loop, const char *host, int port, const dialer_options_t *opt,
		const dialer_events_t *ev, dialer_t **out)
{
	*out = NULL;
	if (!host || !host[0] || strlen(host) >= sizeof ((dialer_t *)0)->host || port <= 0 ||
	    port > 65535)
		return UV_EINVAL;
	dialer_t *d = xcalloc(1, sizeof *d);
	d->loop = loop;
	snprintf(d->host, sizeof d->host, "%s", host);
	d->port = port;
	d->opt = *opt;
	if (d->opt.backoff_min <= 0)
		d->opt.backoff_min = 0.25;
	if (d->opt.backoff_max < d->opt.backoff_min)
		d->opt.backoff_max = d->opt.backoff_min;
	d->backoff = d->opt.backoff_min;
	d->ev = *ev;
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	*out = d;
	return 0;
}

void dialer_stop(dialer_t *d)
{
	attempt_abandon(d);
	timer_clear(d);
}

void dialer_dial(dialer_t *d)
{
	if (d->closing)
		return;
	dialer_stop(d);
	attempt_start(d);
}

void dialer_dial_after(dialer_t *d, double seconds)
{
	if (d->closing)
		return;
	dialer_stop(d);
	timer_set(d, TIMER_DIAL, seconds);
}

double dialer_retry(dialer_t *d)
{
	double delay = d->backoff;
	d->backoff = d->backoff * 2 > d->opt.backoff_max ? d->opt.backoff_max : d->backoff * 2;
	dialer_dial_after(d, delay);
	return delay;
}

double dialer_backoff(const dialer_t *d)
{
	return d->backoff;
}

void dialer_backoff_reset(dialer_t *d)
{
	d->backoff = d->opt.backoff_min;
}

int dialer_dialing(const dialer_t *d)
{
	return d->attempt != NULL;
}

static void on_dialer_closed(uv_handle_t *h)
{
	dialer_t *d = h->data;
	void (*done)(void *) = d->close_done;
	void *arg = d->close_arg;
	free(d);
	if (done)
		done(arg);
}

void dialer_close(dialer_t *d, void (*done)(void *arg), void *arg)
{
	if (!d || d->closing)
		return;
	dialer_stop(d);
	d->closing = 1;
	d->close_done = done;
	d->close_arg = arg;
	uv_close((uv_handle_t *)&d->timer, on_dialer_closed);
}
