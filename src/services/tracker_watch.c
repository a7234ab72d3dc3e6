/* The SUMMARY watcher (tracker_watch.h). One timer does both jobs in turn: the wait before the
 * next SUMMARY, and the deadline for its answer. The watcher is freed when its three libuv
 * owners (timer, dialer, connection close) are done; refs counts the first two, and the
 * connection frees itself. */
#include "services/tracker_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "services/dialer.h"
#include "services/net.h"
#include "services/tracker_codec.h"
#include "services/tracker_conn.h"

#define WATCH_RETRY 2.0           /* seconds between connection attempts */
#define WATCH_CONNECT_TIMEOUT 5.0
#define WATCH_ANSWER_GRACE_MS 5000 /* an answer may take the interval and this long */

struct tracker_watch {
	char host[256];
	int port;
	uint64_t interval_ms;
	tracker_watch_cb cb;
	void *arg;
	dialer_t *dialer;
	uv_timer_t timer;
	tracker_conn_t *conn; /* NULL while disconnected */
	int waiting;          /* a SUMMARY is outstanding */
	int closing;
	int refs;
};

static void on_timer(uv_timer_t *t);

static void watch_fail(tracker_watch_t *w, const char *why)
{
	char msg[400];
	snprintf(msg, sizeof msg, "tracker %s:%d: %s", w->host, w->port, why);
	tracker_conn_close(w->conn);
	w->conn = NULL;
	w->waiting = 0;
	uv_timer_stop(&w->timer);
	dialer_retry(w->dialer);
	w->cb(w->arg, NULL, msg);
}

static void send_summary(tracker_watch_t *w)
{
	cJSON *req = cJSON_CreateArray();
	cJSON_AddItemToArray(req, cJSON_CreateNumber(TRACKER_SUMMARY));
	int err = tracker_conn_send(w->conn, req);
	cJSON_Delete(req);
	if (err) {
		watch_fail(w, uv_strerror(err));
		return;
	}
	w->waiting = 1;
	uv_timer_start(&w->timer, on_timer, w->interval_ms + WATCH_ANSWER_GRACE_MS, 0);
}

static void on_timer(uv_timer_t *t)
{
	tracker_watch_t *w = t->data;
	if (w->waiting)
		watch_fail(w, "no answer to SUMMARY");
	else if (w->conn)
		send_summary(w);
}

static void on_conn_ready(void *arg)
{
	send_summary(arg);
}

static void on_conn_frame(void *arg, const cJSON *msg)
{
	tracker_watch_t *w = arg;
	if (!w->waiting) {
		watch_fail(w, "unexpected frame from the tracker");
		return;
	}
	w->waiting = 0;
	uv_timer_start(&w->timer, on_timer, w->interval_ms, 0);
	const cJSON *body = tracker_summary_body(msg);
	if (body)
		w->cb(w->arg, body, NULL);
	else
		w->cb(w->arg, NULL, "tracker answered SUMMARY with an unexpected shape");
}

static void on_conn_failed(void *arg, const char *why)
{
	watch_fail(arg, why);
}

static void on_dialed(void *arg, uv_tcp_t *tcp, int status, const char *why)
{
	tracker_watch_t *w = arg;
	if (status < 0) {
		watch_fail(w, why);
		return;
	}
	char err[96];
	tracker_conn_events_t ev = {w, on_conn_ready, on_conn_frame, on_conn_failed};
	w->conn = tracker_conn_start(tcp, 16u << 20, &ev, err, sizeof err);
	if (!w->conn)
		watch_fail(w, err);
}

tracker_watch_t *tracker_watch_start(uv_loop_t *loop, const char *target, double interval,
				     tracker_watch_cb cb, void *arg)
{
	tracker_watch_t *w = xcalloc(1, sizeof *w);
	dialer_options_t opt = {WATCH_CONNECT_TIMEOUT, WATCH_RETRY, WATCH_RETRY};
	dialer_events_t ev = {w, on_dialed, NULL};
	if (net_split_host_port(target, w->host, sizeof w->host, &w->port) != 0 ||
	    dialer_init(loop, w->host, w->port, &opt, &ev, &w->dialer) != 0) {
		free(w);
		return NULL;
	}
	w->interval_ms = interval > 0.25 ? (uint64_t)(interval * 1000) : 1000;
	w->cb = cb;
	w->arg = arg;
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	w->refs = 2;
	dialer_dial(w->dialer);
	return w;
}

static void watch_unref(void *arg)
{
	tracker_watch_t *w = arg;
	if (--w->refs == 0)
		free(w);
}

static void on_timer_closed(uv_handle_t *h)
{
	watch_unref(h->data);
}

void tracker_watch_close(tracker_watch_t *w)
{
	if (!w || w->closing)
		return;
	w->closing = 1;
	tracker_conn_close(w->conn);
	w->conn = NULL;
	dialer_close(w->dialer, watch_unref, w);
	uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
