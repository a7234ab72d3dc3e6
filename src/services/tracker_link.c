/* Tracker registration client (see tracker_link.h for the model). One request is in flight at a
 * time; what to send next is derived from flags (info dirty, resources waiting for a PUT, poll
 * due), so a reconnect simply sets the flags again. Connecting and the back-off are the
 * dialer's (dialer.c), the magic and the frames the tracker connection's (tracker_conn.c). */
#include "services/tracker_link.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/dialer.h"
#include "services/matchkey.h"
#include "services/net.h"
#include "services/tracker_codec.h"
#include "services/tracker_conn.h"

enum request_kind { REQ_NONE, REQ_INFO, REQ_PUT, REQ_POLL };

struct resource {
	struct resource *next;
	uint64_t id;
	char *key;
	char *matchkey;
	size_t matchkey_size;
	char *custom_addr; /* NULL for null */
	int port;
	int held;
	int put_pending;   /* needs a PUT on this connection */
	int acked;         /* the current matchkey was acknowledged on this connection */
	int ever_put;      /* some PUT of the current matchkey was sent (any connection) */
	int misses;
	int assigned_reported;
};

struct tracker_link {
	uv_loop_t *loop;
	tracker_link_options_t opt;
	tracker_link_events_t ev;
	char host[256];
	int port;

	dialer_t *dialer;
	uv_timer_t poll_timer, deadline_timer;
	int open_handles;
	int closing;
	void (*close_done)(void *arg);
	void *close_arg;

	tracker_conn_t *conn;    /* current connection, NULL when none */
	tracker_link_state_t state;
	int quiet_failures;      /* consecutive failed attempts since the last registration */

	char *info_key;
	char *info_addr;         /* NULL for null */
	char *info_compiler;     /* extra "compiler" field of our servers' info, or NULL */
	char *session_end;       /* one-shot "session_end" of the next UPDATE_INFO, or NULL */
	char *info_devices;      /* extra "devices" field of our servers' info, or NULL */
	int info_port;
	int info_dirty;
	int poll_due;

	enum request_kind inflight;
	uint64_t inflight_id;
	char *inflight_matchkey;

	struct resource *resources;
	uint64_t next_id;
	tracker_link_stats_t stats;
};

static void link_send_next(tracker_link_t *link);

void tracker_link_options_default(tracker_link_options_t *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->connect_timeout = 5;
	opt->reply_timeout = 10;
	opt->poll_interval = 2;
	opt->regen_misses = 4;
	opt->backoff_min = 0.25;
	opt->backoff_max = 4;
}

static uint64_t ms(double seconds)
{
	return seconds <= 0 ? 0 : (uint64_t)(seconds * 1000.0 + 0.5);
}

static void set_state(tracker_link_t *link, tracker_link_state_t state)
{
	if (link->state == state)
		return;
	link->state = state;
	link->stats.state = state;
	if (link->ev.state_changed && !link->closing)
		link->ev.state_changed(link->ev.arg, state);
}

static struct resource *find_resource(const tracker_link_t *link, uint64_t id)
{
	for (struct resource *r = link->resources; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* A fresh matchkey was drawn: nothing about it was sent or acknowledged yet. */
static void resource_rekeyed(struct resource *r)
{
	r->put_pending = 1;
	r->acked = 0;
	r->ever_put = 0;
	r->misses = 0;
	r->assigned_reported = 0;
}

static int fresh_matchkey(struct resource *r)
{
	/* Retry once: a failure means no kernel randomness, which we refuse to paper over. */
	if (matchkey_new(r->key, r->matchkey, r->matchkey_size) == 0)
		return 0;
	return matchkey_new(r->key, r->matchkey, r->matchkey_size);
}

/* ---- connection teardown ------------------------------------------------------------------ */

static void conn_detach(tracker_link_t *link)
{
	tracker_conn_close(link->conn);
	link->conn = NULL;
}

static void link_fail(tracker_link_t *link, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void link_fail(tracker_link_t *link, const char *fmt, ...)
{
	char why[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(link->stats.last_error, sizeof link->stats.last_error, "%s", why);
	link->stats.failures++;

	int was_registered = link->state == TRACKER_LINK_REGISTERED;
	if (was_registered)
		log_warn("tracker %s:%d: connection lost (%s); reconnecting", link->host, link->port,
			 why);
	else if (link->quiet_failures == 0)
		log_warn("tracker %s:%d: %s; retrying with back-off", link->host, link->port, why);
	else
		log_debug("tracker %s:%d: %s; next try in %.2fs", link->host, link->port, why,
			  dialer_backoff(link->dialer));
	link->quiet_failures++;

	conn_detach(link);
	dialer_stop(link->dialer);
	uv_timer_stop(&link->poll_timer);
	uv_timer_stop(&link->deadline_timer);
	link->inflight = REQ_NONE;
	free(link->inflight_matchkey);
	link->inflight_matchkey = NULL;
	link->poll_due = 0;
	link->stats.registered_ms = 0;
	for (struct resource *r = link->resources; r; r = r->next) {
		r->acked = 0;
		r->misses = 0;
	}
	link->stats.next_retry = dialer_retry(link->dialer);
	set_state(link, TRACKER_LINK_DISCONNECTED);
}

static void on_deadline(uv_timer_t *t)
{
	tracker_link_t *link = t->data;
	if (link->state == TRACKER_LINK_CONNECTING)
		link_fail(link, "no answer within %.1fs", link->opt.connect_timeout);
	else
		link_fail(link, "no reply within %.1fs", link->opt.reply_timeout);
}

/* ---- writing ------------------------------------------------------------------------------ */

static int send_json(tracker_link_t *link, cJSON *msg)
{
	int err = tracker_conn_send(link->conn, msg);
	cJSON_Delete(msg);
	return err;
}

static cJSON *addr_or_null(const char *addr)
{
	return addr ? cJSON_CreateString(addr) : cJSON_CreateNull();
}

static void link_send_next(tracker_link_t *link)
{
	if (link->closing || link->state != TRACKER_LINK_REGISTERED || link->inflight != REQ_NONE)
		return;
	cJSON *msg = NULL;
	enum request_kind kind = REQ_NONE;
	struct resource *put = NULL;
	if (link->info_dirty && link->info_key) {
		cJSON *info = cJSON_CreateObject();
		cJSON_AddItemToObject(info, "key", cJSON_CreateString(link->info_key));
		cJSON *addr = cJSON_CreateArray();
		cJSON_AddItemToArray(addr, addr_or_null(link->info_addr));
		cJSON_AddItemToArray(addr, cJSON_CreateNumber(link->info_port));
		cJSON_AddItemToObject(info, "addr", addr);
		if (link->info_compiler)
			cJSON_AddItemToObject(info, "compiler",
					      cJSON_CreateString(link->info_compiler));
		if (link->session_end) {
			cJSON_AddItemToObject(info, "session_end",
					      cJSON_CreateString(link->session_end));
			free(link->session_end);
			link->session_end = NULL;
		}
		if (link->info_devices)
			cJSON_AddItemToObject(info, "devices",
					      cJSON_CreateString(link->info_devices));
		msg = cJSON_CreateArray();
		cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_UPDATE_INFO));
		cJSON_AddItemToArray(msg, info);
		kind = REQ_INFO;
		link->info_dirty = 0;
	} else {
		for (struct resource *r = link->resources; r; r = r->next)
			if (r->put_pending && !r->held) {
				put = r;
				break;
			}
		if (put) {
			cJSON *pair = cJSON_CreateArray();
			cJSON_AddItemToArray(pair, cJSON_CreateNumber(put->port));
			cJSON_AddItemToArray(pair, cJSON_CreateString(put->matchkey));
			msg = cJSON_CreateArray();
			cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_PUT));
			cJSON_AddItemToArray(msg, cJSON_CreateString(put->key));
			cJSON_AddItemToArray(msg, pair);
			cJSON_AddItemToArray(msg, addr_or_null(put->custom_addr));
			kind = REQ_PUT;
			put->put_pending = 0;
			put->ever_put = 1;
			link->inflight_id = put->id;
			free(link->inflight_matchkey);
			link->inflight_matchkey = xstrdup(put->matchkey);
		} else if (link->poll_due) {
			msg = cJSON_CreateArray();
			cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_GET_PENDING_MATCHKEYS));
			kind = REQ_POLL;
			link->poll_due = 0;
		}
	}
	if (!msg)
		return;
	link->inflight = kind;
	int err = send_json(link, msg);
	if (err) {
		link_fail(link, "cannot send: %s", uv_strerror(err));
		return;
	}
	uv_timer_start(&link->deadline_timer, on_deadline, ms(link->opt.reply_timeout), 0);
}

/* ---- replies ------------------------------------------------------------------------------ */

struct lost_event {
	uint64_t id;
	char *old, *fresh;
	int report_assigned;
};

static void handle_poll_reply(tracker_link_t *link, const cJSON *reply)
{
	if (!cJSON_IsArray(reply)) {
		link_fail(link, "GET_PENDING_MATCHKEYS reply is not a list");
		return;
	}
	size_t n = 0, cap = 0;
	struct lost_event *events = NULL;
	for (struct resource *r = link->resources; r; r = r->next) {
		if (r->held || r->put_pending || !r->acked)
			continue;
		int found = 0;
		const cJSON *item;
		cJSON_ArrayForEach(item, reply)
		{
			if (cJSON_IsString(item) && strcmp(item->valuestring, r->matchkey) == 0) {
				found = 1;
				break;
			}
		}
		if (found) {
			r->misses = 0;
			continue;
		}
		r->misses++;
		int assigned = !r->assigned_reported;
		r->assigned_reported = 1;
		int regenerate = r->misses >= link->opt.regen_misses;
		if (!assigned && !regenerate)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			events = xrealloc(events, cap * sizeof *events);
		}
		struct lost_event *e = &events[n++];
		e->id = r->id;
		e->old = xstrdup(r->matchkey);
		e->fresh = NULL;
		e->report_assigned = assigned;
		if (regenerate) {
			if (fresh_matchkey(r) != 0) {
				free(e->old);
				n--;
				continue;
			}
			resource_rekeyed(r);
			link->stats.regenerations++;
			e->fresh = xstrdup(r->matchkey);
			log_info("tracker: matchkey of '%s' was handed out but no client came; "
				 "registering a fresh one",
				 r->key);
		}
	}
	/* Callbacks after the walk: they may offer or withdraw resources. */
	for (size_t i = 0; i < n; i++) {
		struct lost_event *e = &events[i];
		if (!link->closing && link->ev.matchkey_assigned && e->report_assigned)
			link->ev.matchkey_assigned(link->ev.arg, e->id, e->old);
		if (!link->closing && e->fresh && link->ev.matchkey_lost)
			link->ev.matchkey_lost(link->ev.arg, e->id, e->old, e->fresh,
					       TRACKER_LINK_LOST_UNCLAIMED);
		free(e->old);
		free(e->fresh);
	}
	free(events);
}

/* Returns 0, or -1 after link_fail. */
static int handle_reply(tracker_link_t *link, const cJSON *reply)
{
	enum request_kind kind = link->inflight;
	link->inflight = REQ_NONE;
	uv_timer_stop(&link->deadline_timer);
	switch (kind) {
	case REQ_NONE:
		link_fail(link, "unexpected frame from the tracker");
		return -1;
	case REQ_INFO:
	case REQ_PUT:
		if (!cJSON_IsNumber(reply) || reply->valuedouble != TRACKER_SUCCESS) {
			link_fail(link, "tracker refused %s", kind == REQ_INFO ? "UPDATE_INFO" : "PUT");
			return -1;
		}
		if (kind == REQ_PUT) {
			struct resource *r = find_resource(link, link->inflight_id);
			link->stats.puts++;
			if (r && link->inflight_matchkey && strcmp(r->matchkey, link->inflight_matchkey) == 0) {
				r->acked = 1;
				r->misses = 0;
				log_debug("tracker: registered %s", r->matchkey);
			}
		}
		break;
	case REQ_POLL:
		handle_poll_reply(link, reply);
		if (link->state != TRACKER_LINK_REGISTERED)
			return -1;
		break;
	}
	return 0;
}

/* ---- the connection ----------------------------------------------------------------------- */

static void on_registered(tracker_link_t *link)
{
	uv_timer_stop(&link->deadline_timer);
	dialer_backoff_reset(link->dialer);
	link->stats.connects++;
	link->stats.registered_ms = uv_now(link->loop);
	link->stats.next_retry = 0;
	if (link->quiet_failures > 0 || link->stats.connects > 1)
		log_info("tracker %s:%d: registered again", link->host, link->port);
	else
		log_info("tracker %s:%d: connected", link->host, link->port);
	link->quiet_failures = 0;
	link->info_dirty = link->info_key != NULL;
	size_t n = 0;
	struct lost_event *events = NULL;
	for (struct resource *r = link->resources; r; r = r->next) {
		if (r->held)
			continue;
		r->put_pending = 1;
		r->assigned_reported = 0;
		if (!r->ever_put)
			continue;
		/* Whatever the old tracker handed out is unknown now; a fresh key is safer. */
		char *old = xstrdup(r->matchkey);
		if (fresh_matchkey(r) != 0) {
			free(old);
			continue;
		}
		r->ever_put = 0;
		events = xrealloc(events, (n + 1) * sizeof *events);
		events[n].id = r->id;
		events[n].old = old;
		events[n].fresh = xstrdup(r->matchkey);
		events[n].report_assigned = 0;
		n++;
	}
	set_state(link, TRACKER_LINK_REGISTERED);
	for (size_t i = 0; i < n; i++) {
		if (!link->closing && link->ev.matchkey_lost)
			link->ev.matchkey_lost(link->ev.arg, events[i].id, events[i].old,
					       events[i].fresh, TRACKER_LINK_LOST_RECONNECT);
		free(events[i].old);
		free(events[i].fresh);
	}
	free(events);
}

static void on_poll_tick(uv_timer_t *t)
{
	tracker_link_t *link = t->data;
	link->poll_due = 1;
	link_send_next(link);
}

static void on_conn_ready(void *arg)
{
	tracker_link_t *link = arg;
	tracker_conn_t *c = link->conn;
	on_registered(link);
	if (link->conn != c)
		return;
	uv_timer_start(&link->poll_timer, on_poll_tick, ms(link->opt.poll_interval),
		       ms(link->opt.poll_interval));
	link_send_next(link);
}

static void on_conn_frame(void *arg, const cJSON *msg)
{
	tracker_link_t *link = arg;
	tracker_conn_t *c = link->conn;
	if (handle_reply(link, msg) != 0 || link->conn != c)
		return;
	link_send_next(link);
}

static void on_conn_failed(void *arg, const char *why)
{
	link_fail(arg, "%s", why);
}

static void on_dialed(void *arg, uv_tcp_t *tcp, int status, const char *why)
{
	tracker_link_t *link = arg;
	if (status < 0) {
		link_fail(link, "%s", why);
		return;
	}
	char err[96];
	tracker_conn_events_t ev = {link, on_conn_ready, on_conn_frame, on_conn_failed};
	link->conn = tracker_conn_start(tcp, TRACKER_DEFAULT_MAX_MESSAGE, &ev, err, sizeof err);
	if (!link->conn) {
		link_fail(link, "%s", err);
		return;
	}
	/* Connected: the tracker's magic echo must come within the same time again. */
	uv_timer_start(&link->deadline_timer, on_deadline, ms(link->opt.connect_timeout), 0);
}

static void on_dial_starting(void *arg)
{
	set_state(arg, TRACKER_LINK_CONNECTING);
}

/* ---- public API --------------------------------------------------------------------------- */

int tracker_link_start(uv_loop_t *loop, const tracker_link_options_t *opt,
		       const tracker_link_events_t *events, tracker_link_t **out)
{
	*out = NULL;
	tracker_link_t *link = xcalloc(1, sizeof *link);
	link->opt = *opt;
	if (link->opt.connect_timeout <= 0)
		link->opt.connect_timeout = 5;
	if (link->opt.reply_timeout <= 0)
		link->opt.reply_timeout = 10;
	if (link->opt.poll_interval <= 0)
		link->opt.poll_interval = 2;
	if (link->opt.regen_misses <= 0)
		link->opt.regen_misses = 4;
	if (link->opt.backoff_min <= 0)
		link->opt.backoff_min = 0.25;
	if (link->opt.backoff_max < link->opt.backoff_min)
		link->opt.backoff_max = link->opt.backoff_min;
	if (events)
		link->ev = *events;
	if (net_split_host_port(opt->tracker, link->host, sizeof link->host, &link->port) != 0 ||
	    link->port <= 0 || link->port > 65535 || !link->host[0]) {
		log_error("tracker address '%s' is not host:port", opt->tracker);
		free(link);
		return UV_EINVAL;
	}
	dialer_options_t dopt = {link->opt.connect_timeout, link->opt.backoff_min,
				 link->opt.backoff_max};
	dialer_events_t dev = {link, on_dialed, on_dial_starting};
	if (dialer_init(loop, link->host, link->port, &dopt, &dev, &link->dialer) != 0) {
		log_error("tracker address '%s' is not host:port", opt->tracker);
		free(link);
		return UV_EINVAL;
	}
	link->loop = loop;
	link->next_id = 1;
	uv_timer_init(loop, &link->poll_timer);
	uv_timer_init(loop, &link->deadline_timer);
	link->poll_timer.data = link->deadline_timer.data = link;
	link->open_handles = 3; /* the two timers and the dialer */
	link->state = TRACKER_LINK_DISCONNECTED;
	*out = link;
	set_state(link, TRACKER_LINK_CONNECTING);
	dialer_dial(link->dialer);
	return 0;
}

static void free_resource(struct resource *r)
{
	free(r->key);
	free(r->matchkey);
	free(r->custom_addr);
	free(r);
}

static void link_unref(void *handle_owner)
{
	tracker_link_t *link = handle_owner;
	if (--link->open_handles > 0)
		return;
	void (*done)(void *) = link->close_done;
	void *arg = link->close_arg;
	while (link->resources) {
		struct resource *r = link->resources;
		link->resources = r->next;
		free_resource(r);
	}
	free(link->info_key);
	free(link->info_addr);
	free(link->info_compiler);
	free(link->session_end);
	free(link->info_devices);
	free(link->inflight_matchkey);
	free(link);
	if (done)
		done(arg);
}

static void on_timer_closed(uv_handle_t *h)
{
	link_unref(h->data);
}

void tracker_link_close(tracker_link_t *link, void (*done)(void *arg), void *arg)
{
	if (!link || link->closing)
		return;
	link->closing = 1;
	link->close_done = done;
	link->close_arg = arg;
	conn_detach(link);
	dialer_close(link->dialer, link_unref, link);
	uv_close((uv_handle_t *)&link->poll_timer, on_timer_closed);
	uv_close((uv_handle_t *)&link->deadline_timer, on_timer_closed);
}

int tracker_link_set_info(tracker_link_t *link, const char *info_key, const char *custom_addr,
			  int port)
{
	if (!info_key || port < 0 || port > 65535)
		return UV_EINVAL;
	free(link->info_key);
	free(link->info_addr);
	link->info_key = xstrdup(info_key);
	link->info_addr = custom_addr && *custom_addr ? xstrdup(custom_addr) : NULL;
	link->info_port = port;
	link->info_dirty = 1;
	link_send_next(link);
	return 0;
}

void tracker_link_set_info_devices(tracker_link_t *link, const char *devices)
{
	free(link->info_devices);
	link->info_devices = devices ? xstrdup(devices) : NULL;
	link->info_dirty = link->info_key != NULL;
	link_send_next(link);
}

void tracker_link_set_info_compiler(tracker_link_t *link, const char *compiler)
{
	free(link->info_compiler);
	link->info_compiler = compiler ? xstrdup(compiler) : NULL;
	link->info_dirty = link->info_key != NULL;
	link_send_next(link);
}

void tracker_link_report_session_end(tracker_link_t *link, const char *end)
{
	free(link->session_end);
	link->session_end = end ? xstrdup(end) : NULL;
	if (end && link->info_key) {
		link->info_dirty = 1;
		link_send_next(link);
	}
}

int tracker_link_offer(tracker_link_t *link, const char *key, int port, const char *custom_addr,
		       uint64_t *id)
{
	if (!key || port < 0 || port > 65535)
		return UV_EINVAL;
	struct resource *r = xcalloc(1, sizeof *r);
	r->key = xstrdup(key);
	r->matchkey_size = strlen(key) + MATCHKEY_SUFFIX_LEN + 2;
	r->matchkey = xmalloc(r->matchkey_size);
	r->custom_addr = custom_addr && *custom_addr ? xstrdup(custom_addr) : NULL;
	r->port = port;
	if (fresh_matchkey(r) != 0) {
		log_error("tracker: no kernel randomness for a matchkey");
		free_resource(r);
		return UV_EIO;
	}
	r->id = link->next_id++;
	r->put_pending = 1;
	/* Append: PUTs go out in offer order. */
	struct resource **tail = &link->resources;
	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
	*id = r->id;
	link_send_next(link);
	return 0;
}

int tracker_link_hold(tracker_link_t *link, uint64_t id)
{
	struct resource *r = find_resource(link, id);
	if (!r)
		return UV_ENOENT;
	r->held = 1;
	r->put_pending = 0;
	return 0;
}

int tracker_link_renew(tracker_link_t *link, uint64_t id)
{
	struct resource *r = find_resource(link, id);
	if (!r)
		return UV_ENOENT;
	if (fresh_matchkey(r) != 0)
		return UV_EIO;
	r->held = 0;
	resource_rekeyed(r);
	link_send_next(link);
	return 0;
}

void tracker_link_withdraw(tracker_link_t *link, uint64_t id)
{
	for (struct resource **p = &link->resources; *p; p = &(*p)->next) {
		if ((*p)->id == id) {
			struct resource *r = *p;
			*p = r->next;
			free_resource(r);
			return;
		}
	}
}

const char *tracker_link_matchkey(const tracker_link_t *link, uint64_t id)
{
	const struct resource *r = find_resource(link, id);
	return r ? r->matchkey : NULL;
}

tracker_link_state_t tracker_link_state(const tracker_link_t *link)
{
	return link->state;
}

void tracker_link_get_stats(const tracker_link_t *link, tracker_link_stats_t *out)
{
	*out = link->stats;
	out->state = link->state;
}
