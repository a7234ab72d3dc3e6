/* The health checker's probes (health.h): a uv timer picks the next board through
 * tracker_health_take, a worker thread measures it with the blocking RPC client, and the
 * result goes back to tracker_health_report on the loop. One probe at a time. */
#include "services/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/rpc_client.h"
#include "services/tracker_health.h"

#define HEALTH_ROUNDS 3

struct health {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_work_t work;
	health_options_t opt;
	tracker_t *tracker;
	struct tracker_health_target target;
	int busy, closed, timer_open;
	int ok;
	double rtt_us;
	char why[200];
};

void health_options_default(health_options_t *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->failures_to_drain = 3;
	opt->timeout = 10;
	opt->copy_bytes = 64 << 10;
}

static void health_free_maybe(health_t *h)
{
	if (h->closed && !h->busy && !h->timer_open)
		free(h);
}

/* Worker thread: blocking client calls are fine here. */
static void probe_work(uv_work_t *w)
{
	health_t *h = w->data;
	rpc_client_options_t opt;
	rpc_client_options_default(&opt);
	opt.connect_timeout = h->opt.timeout;
	opt.reply_timeout = h->opt.timeout;
	rpc_client_t *c = NULL;
	char err[200] = "";
	h->ok = 0;
	if (rpc_client_connect(h->target.host, h->target.port, h->target.matchkey, &opt, &c, err,
			       sizeof err) != 0 || !c) {
		snprintf(h->why, sizeof h->why, "connect: %s", err);
		rpc_client_close(c);
		return;
	}
	rpc_probe_result_t r;
	if (rpc_client_probe(c, HEALTH_ROUNDS, h->opt.copy_bytes, &r) != 0) {
		snprintf(h->why, sizeof h->why, "%s", rpc_client_error(c));
	} else {
		h->ok = 1;
		h->rtt_us = r.rtt_mean_us;
	}
	rpc_client_close(c);
}

static void probe_done(uv_work_t *w, int status)
{
	health_t *h = w->data;
	h->busy = 0;
	if (h->closed) {
		health_free_maybe(h);
		return;
	}
	if (status == UV_ECANCELED) {
		h->ok = 0;
		snprintf(h->why, sizeof h->why, "probe cancelled");
	}
	tracker_health_report(h->tracker, &h->target, h->ok, h->rtt_us, h->why,
			      h->opt.failures_to_drain);
}

static void on_tick(uv_timer_t *timer)
{
	health_t *h = timer->data;
	if (h->busy || h->closed)
		return;
	if (tracker_health_take(h->tracker, &h->target) != 0)
		return; /* nobody due: every board busy, drained by the admin, or wanted */
	log_debug("health: probing %s (%s)", h->target.server, h->target.key);
	h->busy = 1;
	h->work.data = h;
	if (uv_queue_work(h->loop, &h->work, probe_work, probe_done) != 0) {
		h->busy = 0;
		tracker_health_report(h->tracker, &h->target, 0, 0, "cannot start a worker",
				      h->opt.failures_to_drain);
	}
}

int health_start(uv_loop_t *loop, const health_options_t *opt, tracker_t *tracker,
		 health_t **out)
{
	*out = NULL;
	if (opt->interval <= 0 || !tracker)
		return 0;
	health_t *h = xcalloc(1, sizeof *h);
	h->loop = loop;
	h->opt = *opt;
	if (h->opt.failures_to_drain < 1)
		h->opt.failures_to_drain = 1;
	h->tracker = tracker;
	tracker_health_configure(tracker, h->opt.failures_to_drain);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->timer_open = 1;
	uint64_t ms = (uint64_t)(opt->interval * 1000);
	uv_timer_start(&h->timer, on_tick, ms ? ms : 1, ms ? ms : 1);
	log_info("health checks every %g s; %d failed probes in a row drain a board",
		 opt->interval, h->opt.failures_to_drain);
	*out = h;
	return 0;
}

static void timer_closed(uv_handle_t *handle)
{
	health_t *h = handle->data;
	h->timer_open = 0;
	health_free_maybe(h);
}

void health_close(health_t *h)
{
	if (!h)
		return;
	h->closed = 1;
	if (h->busy)
		uv_cancel((uv_req_t *)&h->work);
	uv_close((uv_handle_t *)&h->timer, timer_closed);
}
