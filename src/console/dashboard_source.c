/* Dashboard rows from the tracker and proxy views, or from a remote SUMMARY. */
#include "console/dashboard_source.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xalloc.h"
#include "services/proxy_view.h"
#include "services/tracker_view.h"

void dash_format_duration(double s, char *buf, size_t size)
{
	if (!(s >= 0))
		s = 0;
	long t = (long)s;
	if (t < 60)
		snprintf(buf, size, "%lds", t);
	else if (t < 3600)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, size, "%ldh%02ldm", t / 3600, (t / 60) % 60);
	else
		snprintf(buf, size, "%ldd%02ldh", t / 86400, (t / 3600) % 24);
}

void dash_format_rate(double b, char *buf, size_t size)
{
	static const char *const units[] = {"B", "K", "M", "G", "T"};
	int u = 0;
	if (!(b >= 0))
		b = 0;
	while (b >= 1000 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%.0f%s", b, units[u]);
	else
		snprintf(buf, size, "%.1f%s", b, units[u]);
}

void dashboard_source_init(dashboard_source_t *s, tracker_t *tracker, proxy_t *proxy)
{
	memset(s, 0, sizeof *s);
	s->tracker = tracker;
	s->proxy = proxy;
}

void dashboard_source_free(dashboard_source_t *s)
{
	dash_history_free(&s->history);
	free(s->samples);
	s->samples = NULL;
	s->nsamples = 0;
}

static void event_push(dashboard_source_t *s, double when, const char *kind, const char *text)
{
	size_t at = (s->event_head + s->event_count) % DASH_EVENT_LOG;
	if (s->event_count == DASH_EVENT_LOG)
		s->event_head = (s->event_head + 1) % DASH_EVENT_LOG;
	else
		s->event_count++;
	struct dash_event *e = &s->events[at];
	e->time = when;
	snprintf(e->kind, sizeof e->kind, "%s", kind);
	snprintf(e->text, sizeof e->text, "%s", text);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void dashboard_source_event(dashboard_source_t *s, const char *kind, const char *fmt, ...)
{
	char text[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	event_push(s, wall_now(), kind, text);
}

static void fill_events(dashboard_source_t *s, dashboard_t *d)
{
	dashboard_clear_rows(d, DASH_EVENTS);
	/* Newest first: what an admin wants to see at the top. */
	for (size_t i = 0; i < s->event_count; i++) {
		size_t at = (s->event_head + s->event_count - 1 - i) % DASH_EVENT_LOG;
		const struct dash_event *e = &s->events[at];
		struct dash_row *r = dashboard_add_row(d, DASH_EVENTS);
		time_t t = (time_t)e->time;
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(r->cells[0], DASH_CELL, "%H:%M:%S", &tm);
		snprintf(r->cells[1], DASH_CELL, "%s", e->kind);
		snprintf(r->cells[2], DASH_CELL, "%.63s", e->text);
		r->sort_value[0] = e->time;
		snprintf(r->detail, sizeof r->detail, "%s  %s\n%s", r->cells[0], e->kind, e->text);
		if (!strcmp(e->kind, "error") || !strcmp(e->kind, "refused") || !strcmp(e->kind, "drop"))
			r->flags |= DASH_ROW_WARN;
	}
}

/* ---- history ---- */

/* Sample the Queues rows just built (either mode), and fill the 'g' overlay if shown. */
static void history_update(dashboard_source_t *s, dashboard_t *d, double now)
{
	const struct dash_pane_state *p = &d->panes[DASH_QUEUES];
	for (size_t i = 0; i < p->nrows; i++) {
		const struct dash_row *r = &p->rows[i];
		dash_history_sample(&s->history, r->cells[0], (int)r->sort_value[1],
				    (int)r->sort_value[2], (int)r->sort_value[3], now);
	}
	if (d->mode == DASH_MODE_HISTORY)
		dash_history_format(&s->history, now, d->ascii_only, d->usage_text,
				    sizeof d->usage_text);
}

/* ---- usage overlay ---- */

static double stat_of(const cJSON *o, const char *window, const char *field)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, window);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(w, field);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* "a/b" of one field over the hour and the day; durations when `seconds`. */
static void pair(char *buf, size_t size, const cJSON *o, const char *field, int seconds)
{
	double h = stat_of(o, "hour", field), d = stat_of(o, "day", field);
	if (!seconds) {
		snprintf(buf, size, "%.0f/%.0f", h, d);
		return;
	}
	char a[16], b[16];
	dash_format_duration(h, a, sizeof a);
	dash_format_duration(d, b, sizeof b);
	snprintf(buf, size, "%s/%s", a, b);
}

static size_t usage_lines(const cJSON *group, const char *what, char *buf, size_t size,
			  size_t len)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, group)
	{
		char sess[40], busy[40], p50[40], p95[40];
		pair(sess, sizeof sess, o, "sessions", 0);
		pair(busy, sizeof busy, o, "busy", 1);
		pair(p50, sizeof p50, o, "wait_p50", 1);
		pair(p95, sizeof p95, o, "wait_p95", 1);
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%-4s %-17.17s %9s %13s %11s %11s\n",
						what, o->string, sess, busy, p50, p95);
	}
	return len;
}

void dash_format_usage(const cJSON *stats, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "%-22s %9s %13s %11s %11s\n", "last hour/day",
				      "sessions", "busy", "wait p50", "wait p95");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(stats, "keys");
	const cJSON *users = cJSON_GetObjectItemCaseSensitive(stats, "users");
	len = usage_lines(keys, "key", buf, size, len);
	len = usage_lines(users, "user", buf, size, len);
	if (!cJSON_GetArraySize(keys) && len < size)
		snprintf(buf + len, size - len, "(no finished sessions in the last day)\n");
}

/* ---- embedded services ---- */

struct fill_ctx {
	dashboard_source_t *s;
	dashboard_t *d;
	double now;
};

/* A board's last sessions for its details: when, who, wait, busy, how it ended. */
static void recent_sessions(tracker_t *t, const char *server, char *buf, size_t size)
{
	struct tracker_view_session ss[5];
	size_t n = t && server[0] ? tracker_view_recent_sessions(t, server, ss, 5) : 0;
	int len = snprintf(buf, size, "\nrecent sessions:%s", n ? "" : " none finished");
	for (size_t i = 0; i < n && len > 0 && (size_t)len < size; i++) {
		char when[16], wait[16], busy[16];
		time_t tt = (time_t)ss[i].end_time;
		struct tm tm;
		localtime_r(&tt, &tm);
		strftime(when, sizeof when, "%H:%M:%S", &tm);
		dash_format_duration(ss[i].wait, wait, sizeof wait);
		dash_format_duration(ss[i].busy, busy, sizeof busy);
		len += snprintf(buf + len, size - (size_t)len, "\n  %s %-14.14s wait %-6s busy %-6s %s",
				when, ss[i].user, wait, busy, ss[i].end);
	}
}

static int add_server(void *arg, const struct tracker_view_server *v)
{
	struct fill_ctx *c = arg;
	struct dash_row *r = dashboard_add_row(c->d, DASH_SERVERS);
	static const char *const states[] = {"free", "busy", "drained"};
	int behind_proxy = strncmp(v->key, "server:proxy[", 13) == 0;
	r->id = v->id;
	snprintf(r->cells[0], DASH_CELL, "%s", v->addr[0] ? v->addr : v->peer);
	snprintf(r->cells[1], DASH_CELL, "%s", v->key);
	snprintf(r->cells[2], DASH_CELL, "%s", behind_proxy      ? "proxy"
					       : v->health_drained ? "unhealthy"
								   : states[v->state]);
	snprintf(r->cells[3], DASH_CELL, "%llu", (unsigned long long)v->sessions);
	r->sort_value[3] = (double)v->sessions;
	dash_format_duration(c->now - v->registered, r->cells[4], DASH_CELL);
	r->sort_value[4] = c->now - v->registered;
	if (v->state == TRACKER_SERVER_FREE)
		r->flags |= DASH_ROW_GOOD;
	else if (v->state == TRACKER_SERVER_DRAINED)
		r->flags |= DASH_ROW_DIM;
	const char *links = !v->compiler                   ? "(not reported)"
			    : strcmp(v->compiler, "none") == 0 ? "no (compiler = none)"
			    : v->compiler[0]                   ? v->compiler
							       : "no (no compiler on PATH)";
	int n = snprintf(r->detail, sizeof r->detail,
		 "server connection %llu\nkey:        %s\naddress:    %s\npeer:       %s\n"
		 "state:      %s\nfree:       %d\nheld:       %d (drained)\nsessions:   %llu\n"
		 "registered: %s ago\nlinks .o/.tar uploads with: %s\ndevices:    %s",
		 (unsigned long long)v->id, v->key, v->addr, v->peer, r->cells[2], v->free, v->held,
		 (unsigned long long)v->sessions, r->cells[4], links,
		 v->devices ? v->devices : "(not reported)");
	if (n > 0 && (size_t)n < sizeof r->detail && (v->drain_reason || v->probes_ok ||
						    v->probes_failed))
		n += snprintf(r->detail + n, sizeof r->detail - (size_t)n,
			 "\ndrained:    %.120s\nprobes:     %llu passed, %llu failed (%d in a row), "
			 "last round trip %.0f us",
			 v->drain_reason ? v->drain_reason : "no", (unsigned long long)v->probes_ok,
			 (unsigned long long)v->probes_failed, v->health_failures, v->probe_rtt_us);
	if (n > 0 && (size_t)n < sizeof r->detail)
		recent_sessions(c->s->tracker, v->last_put, r->detail + n, sizeof r->detail - (size_t)n);
	return 0;
}

static int add_queue(void *arg, const struct tracker_view_queue *q)
{
	struct fill_ctx *c = arg;
	struct dash_row *r = dashboard_add_row(c->d, DASH_QUEUES);
	snprintf(r->cells[0], DASH_CELL, "%s", q->key);
	snprintf(r->cells[1], DASH_CELL, "%d", q->total);
	snprintf(r->cells[2], DASH_CELL, "%d", q->free);
	snprintf(r->cells[3], DASH_CELL, "%d", q->pending);
	r->sort_value[1] = q->total;
	r->sort_value[2] = q->free;
	r->sort_value[3] = q->pending;
	if (q->pending > 0 && q->free == 0)
		r->flags |= DASH_ROW_WARN;
	snprintf(r->detail, sizeof r->detail, "key %s\ntotal servers: %d\nfree: %d\npending: %d",
		 q->key, q->total, q->free, q->pending);
	return 0;
}

static int add_request(void *arg, const struct tracker_view_request *q)
{
	struct fill_ctx *c = arg;
	struct dash_row *r = dashboard_add_row(c->d, DASH_PENDING);
	r->id = q->id;
	snprintf(r->cells[0], DASH_CELL, "%s", q->key);
	snprintf(r->cells[1], DASH_CELL, "%s", q->user[0] ? q->user : "-");
	snprintf(r->cells[2], DASH_CELL, "%g", q->priority);
	r->sort_value[2] = q->priority;
	dash_format_duration(c->now - q->wait_start, r->cells[3], DASH_CELL);
	r->sort_value[3] = c->now - q->wait_start;
	snprintf(r->cells[4], DASH_CELL, "%s", q->peer);
	snprintf(r->detail, sizeof r->detail,
		 "request %llu\nkey:      %s\nuser:     %s\npriority: %g\nwaiting:  %s\nfrom:     %s",
		 (unsigned long long)q->id, q->key, q->user, q->priority, r->cells[3], q->peer);
	return 0;
}

static uint64_t sample_lookup(const dashboard_source_t *s, const char *name, int c2s, int *found)
{
	for (size_t i = 0; i < s->nsamples; i++) {
		if (strcmp(s->samples[i].name, name) == 0) {
			*found = 1;
			return c2s ? s->samples[i].c2s : s->samples[i].s2c;
		}
	}
	*found = 0;
	return 0;
}

static void fill_links(dashboard_source_t *s, dashboard_t *d, double now)
{
	dashboard_clear_rows(d, DASH_LINKS);
	if (!s->proxy)
		return;
	size_t total = proxy_view_links(s->proxy, NULL, 0);
	proxy_view_link_t *links = xcalloc(total ? total : 1, sizeof *links);
	size_t n = proxy_view_links(s->proxy, links, total);
	if (n > total)
		n = total;
	struct dash_link_sample *next = xcalloc(n ? n : 1, sizeof *next);
	double dt = now - s->sample_time;
	for (size_t i = 0; i < n; i++) {
		const proxy_view_link_t *l = &links[i];
		struct dash_row *r = dashboard_add_row(d, DASH_LINKS);
		r->id = i + 1;
		snprintf(next[i].name, sizeof next[i].name, "%s|%s|%s", l->key, l->client, l->server);
		next[i].c2s = l->bytes_client_to_server;
		next[i].s2c = l->bytes_server_to_client;
		int found;
		uint64_t prev_c2s = sample_lookup(s, next[i].name, 1, &found);
		uint64_t prev_s2c = sample_lookup(s, next[i].name, 0, &found);
		double rc = 0, rs = 0;
		if (found && dt > 0) {
			rc = (double)(l->bytes_client_to_server - prev_c2s) / dt;
			rs = (double)(l->bytes_server_to_client - prev_s2c) / dt;
		} else if (now > l->started) {
			rc = (double)l->bytes_client_to_server / (now - l->started);
			rs = (double)l->bytes_server_to_client / (now - l->started);
		}
		snprintf(r->cells[0], DASH_CELL, "%s", l->key);
		snprintf(r->cells[1], DASH_CELL, "%s", l->client);
		snprintf(r->cells[2], DASH_CELL, "%s", l->server);
		dash_format_rate(rc, r->cells[3], DASH_CELL);
		dash_format_rate(rs, r->cells[4], DASH_CELL);
		r->sort_value[3] = rc;
		r->sort_value[4] = rs;
		if (l->closing)
			r->flags |= DASH_ROW_DIM;
		char up[32];
		dash_format_duration(now - l->started, up, sizeof up);
		snprintf(r->detail, sizeof r->detail,
			 "proxy link on key %s\nclient: %s\nserver: %s\nup:     %s\n"
			 "client->server: %llu bytes\nserver->client: %llu bytes%s%s",
			 l->key, l->client, l->server, up,
			 (unsigned long long)l->bytes_client_to_server,
			 (unsigned long long)l->bytes_server_to_client,
			 strncmp(l->server, "ws:", 3) == 0 || strncmp(l->client, "ws:", 3) == 0
				 ? "\n(ws: a WebSocket peer of the web port)"
				 : "",
			 l->closing ? "\n(closing)" : "");
	}
	free(s->samples);
	s->samples = next;
	s->nsamples = n;
	s->sample_time = now;
	free(links);
}

static void fill_proxy_waiters(dashboard_source_t *s, dashboard_t *d, double now)
{
	if (!s->proxy)
		return;
	size_t total = proxy_view_waiters(s->proxy, NULL, 0);
	if (total == 0)
		return;
	proxy_view_waiter_t *w = xcalloc(total, sizeof *w);
	size_t n = proxy_view_waiters(s->proxy, w, total);
	if (n > total)
		n = total;
	for (size_t i = 0; i < n; i++) {
		if (!w[i].is_server)
			continue;
		struct dash_row *r = dashboard_add_row(d, DASH_SERVERS);
		snprintf(r->cells[0], DASH_CELL, "%s", w[i].peer);
		snprintf(r->cells[1], DASH_CELL, "server:%s", w[i].key);
		/* WebSocket peers of the web port (browser/WASM servers) are marked as such. */
		int web = strncmp(w[i].peer, "ws:", 3) == 0;
		snprintf(r->cells[2], DASH_CELL, "%s", web ? "proxy/ws" : "proxy");
		snprintf(r->cells[3], DASH_CELL, "-");
		dash_format_duration(now - w[i].since, r->cells[4], DASH_CELL);
		r->sort_value[4] = now - w[i].since;
		r->flags |= DASH_ROW_GOOD;
		snprintf(r->detail, sizeof r->detail,
			 "server waiting behind the proxy%s\nkey:      %s\nmatchkey: %s\n"
			 "peer:     %s\nwaiting:  %s",
			 web ? ", connected over its WebSocket port" : "", w[i].key,
			 w[i].matchkey[0] ? w[i].matchkey : "(standalone)", w[i].peer, r->cells[4]);
	}
	free(w);
}

void dashboard_source_update(dashboard_source_t *s, dashboard_t *d, double now)
{
	struct fill_ctx c = {s, d, now};
	dashboard_clear_rows(d, DASH_SERVERS);
	dashboard_clear_rows(d, DASH_QUEUES);
	dashboard_clear_rows(d, DASH_PENDING);
	if (s->tracker) {
		tracker_view_servers(s->tracker, add_server, &c);
		tracker_view_queues(s->tracker, add_queue, &c);
		tracker_view_requests(s->tracker, add_request, &c);
		struct tracker_view_event ev[64];
		size_t n;
		while ((n = tracker_view_events(s->tracker, s->last_event_seq, ev, 64)) > 0) {
			for (size_t i = 0; i < n; i++) {
				event_push(s, ev[i].time, tracker_event_kind_name(ev[i].kind), ev[i].text);
				s->last_event_seq = ev[i].seq;
			}
			if (n < 64)
				break;
		}
	}
	if (d->mode == DASH_MODE_USAGE) {
		cJSON *stats = s->tracker ? tracker_view_usage(s->tracker, now) : NULL;
		if (stats)
			dash_format_usage(stats, d->usage_text, sizeof d->usage_text);
		else
			snprintf(d->usage_text, sizeof d->usage_text,
				 "Usage statistics come from the tracker this console runs.\n"
				 "For a remote tracker: tvmrpc-console --query HOST:PORT --json");
		cJSON_Delete(stats);
	}
	history_update(s, d, now);
	fill_proxy_waiters(s, d, now);
	fill_links(s, d, now);
	fill_events(s, d);
	dashboard_refresh_view(d);
}

/* ---- attach mode ---- */

int dashboard_source_update_summary(dashboard_source_t *s, dashboard_t *d, const cJSON *summary,
				    double now)
{
	const cJSON *queues = cJSON_GetObjectItemCaseSensitive(summary, "queue_info");
	const cJSON *servers = cJSON_GetObjectItemCaseSensitive(summary, "server_info");
	if (!cJSON_IsObject(queues) || !cJSON_IsArray(servers))
		return -1;
	dashboard_clear_rows(d, DASH_SERVERS);
	dashboard_clear_rows(d, DASH_QUEUES);
	dashboard_clear_rows(d, DASH_PENDING);
	dashboard_clear_rows(d, DASH_LINKS);
	const cJSON *it;
	cJSON_ArrayForEach(it, servers)
	{
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(it, "addr");
		struct dash_row *r = dashboard_add_row(d, DASH_SERVERS);
		size_t used = 0;
		const cJSON *a;
		cJSON_ArrayForEach(a, addr)
		{
			char part[64];
			if (cJSON_IsString(a))
				snprintf(part, sizeof part, "%s", a->valuestring);
			else if (cJSON_IsNumber(a))
				snprintf(part, sizeof part, "%.0f", a->valuedouble);
			else
				snprintf(part, sizeof part, "?");
			int w = snprintf(r->cells[0] + used, DASH_CELL - used, "%s%s", used ? ":" : "",
					 part);
			if (w < 0 || (size_t)w >= DASH_CELL - used)
				break;
			used += (size_t)w;
		}
		snprintf(r->cells[1], DASH_CELL, "%s", cJSON_IsString(key) ? key->valuestring : "?");
		int proxy = cJSON_IsString(key) && strncmp(key->valuestring, "server:proxy[", 13) == 0;
		snprintf(r->cells[2], DASH_CELL, "%s", proxy ? "proxy" : "-");
		snprintf(r->cells[3], DASH_CELL, "-");
		snprintf(r->cells[4], DASH_CELL, "-");
		snprintf(r->detail, sizeof r->detail, "server %s\naddress %s\n(attach mode: SUMMARY "
			 "does not say whether a server is free or busy)", r->cells[1], r->cells[0]);
	}
	cJSON_ArrayForEach(it, queues)
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "free");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "pending");
		struct dash_row *r = dashboard_add_row(d, DASH_QUEUES);
		int total = 0;
		const cJSON *sv;
		/* As TVM's query tool: servers whose key's second ':' field is this key. */
		cJSON_ArrayForEach(sv, servers)
		{
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(sv, "key");
			if (!cJSON_IsString(k))
				continue;
			const char *colon = strchr(k->valuestring, ':');
			if (!colon)
				continue;
			size_t len = strcspn(colon + 1, ":");
			if (strlen(it->string) == len && strncmp(colon + 1, it->string, len) == 0)
				total++;
		}
		snprintf(r->cells[0], DASH_CELL, "%s", it->string);
		snprintf(r->cells[1], DASH_CELL, "%d", total);
		snprintf(r->cells[2], DASH_CELL, "%.0f", cJSON_IsNumber(f) ? f->valuedouble : 0);
		snprintf(r->cells[3], DASH_CELL, "%.0f", cJSON_IsNumber(p) ? p->valuedouble : 0);
		r->sort_value[1] = total;
		r->sort_value[2] = cJSON_IsNumber(f) ? f->valuedouble : 0;
		r->sort_value[3] = cJSON_IsNumber(p) ? p->valuedouble : 0;
		snprintf(r->detail, sizeof r->detail, "key %s\ntotal %d free %s pending %s", it->string,
			 total, r->cells[2], r->cells[3]);
	}
	history_update(s, d, now);
	fill_events(s, d);
	dashboard_refresh_view(d);
	return 0;
}
