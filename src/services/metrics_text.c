/* The Prometheus text exposition format (version 0.0.4) of the tracker, the proxy and the
 * process, built from their read-only views (tracker_view.h, proxy_view.h). Names and labels
 * are listed in docs/lab-operations.md. */
#include "services/metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "services/proxy_view.h"
#include "services/tracker_usage.h"
#include "services/tracker_view.h"

struct text {
	char *buf;
	size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
		t->buf = xrealloc(t->buf, t->cap);
	}
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the format requires. */
static void label_value(char *out, size_t size, const char *v)
{
	size_t n = 0;
	for (; *v && n + 3 < size; v++) {
		if (*v == '\\' || *v == '"') {
			out[n++] = '\\';
			out[n++] = *v;
		} else if (*v == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *v;
		}
	}
	out[n] = '\0';
}

/* ---- tracker ---- */

#define METRICS_MAX_KEYS 4096

struct key_states {
	char key[300];
	int count[3]; /* enum tracker_server_state */
};

struct server_scan {
	struct key_states *keys;
	size_t n;
};

static int scan_server(void *arg, const struct tracker_view_server *s)
{
	struct server_scan *scan = arg;
	const char *key = strncmp(s->key, "server:", 7) == 0 ? s->key + 7 : s->key;
	size_t i = 0;
	while (i < scan->n && strcmp(scan->keys[i].key, key) != 0)
		i++;
	if (i == scan->n) {
		if (scan->n == METRICS_MAX_KEYS)
			return 0;
		scan->keys = xrealloc(scan->keys, (scan->n + 1) * sizeof *scan->keys);
		memset(&scan->keys[i], 0, sizeof scan->keys[i]);
		snprintf(scan->keys[i].key, sizeof scan->keys[i].key, "%s", key);
		scan->n++;
	}
	scan->keys[i].count[s->state]++;
	return 0;
}

static int put_pending(void *arg, const struct tracker_view_queue *q)
{
	char key[600];
	label_value(key, sizeof key, q->key);
	text_printf(arg, "tvmrpc_tracker_pending{key=\"%s\"} %d\n", key, q->pending);
	return 0;
}

static void put_histogram(void *arg, const struct tracker_wait_histogram *h)
{
	struct text *t = arg;
	char key[600];
	label_value(key, sizeof key, h->key);
	uint64_t cumulative = 0;
	for (int i = 0; i < TRACKER_WAIT_BUCKETS; i++) {
		cumulative += h->buckets[i];
		text_printf(t, "tvmrpc_tracker_queue_wait_seconds_bucket{key=\"%s\",le=\"%g\"} %llu\n",
			    key, tracker_wait_bounds[i], (unsigned long long)cumulative);
	}
	text_printf(t, "tvmrpc_tracker_queue_wait_seconds_bucket{key=\"%s\",le=\"+Inf\"} %llu\n",
		    key, (unsigned long long)h->count);
	text_printf(t, "tvmrpc_tracker_queue_wait_seconds_sum{key=\"%s\"} %.6f\n", key, h->sum);
	text_printf(t, "tvmrpc_tracker_queue_wait_seconds_count{key=\"%s\"} %llu\n", key,
		    (unsigned long long)h->count);
}

static int put_unhealthy(void *arg, const struct tracker_view_server *s)
{
	if (!s->health_drained)
		return 0;
	char key[600], server[600], reason[600];
	label_value(key, sizeof key, strncmp(s->key, "server:", 7) == 0 ? s->key + 7 : s->key);
	label_value(server, sizeof server, s->addr[0] ? s->addr : s->peer);
	label_value(reason, sizeof reason, s->drain_reason ? s->drain_reason : "");
	text_printf(arg, "tvmrpc_tracker_unhealthy{key=\"%s\",server=\"%s\",reason=\"%s\"} 1\n",
		    key, server, reason);
	return 0;
}

static void tracker_metrics(struct text *t, tracker_t *tr)
{
	static const char *const states[] = {"free", "busy", "drained"};
	struct server_scan scan = {0};
	tracker_view_servers(tr, scan_server, &scan);
	family(t, "tvmrpc_tracker_servers", "gauge",
	       "Servers registered with the tracker, by key (info key without server:) and state.");
	for (size_t i = 0; i < scan.n; i++) {
		char key[600];
		label_value(key, sizeof key, scan.keys[i].key);
		for (int s = 0; s < 3; s++)
			text_printf(t, "tvmrpc_tracker_servers{key=\"%s\",state=\"%s\"} %d\n", key,
				    states[s], scan.keys[i].count[s]);
	}
	free(scan.keys);
	family(t, "tvmrpc_tracker_pending", "gauge", "Requests waiting for a server, by key.");
	tracker_view_queues(tr, put_pending, t);
	struct tracker_view_counters c;
	tracker_view_counters(tr, &c);
	family(t, "tvmrpc_tracker_assignments_total", "counter", "Servers handed to clients.");
	text_printf(t, "tvmrpc_tracker_assignments_total %llu\n", (unsigned long long)c.assignments);
	family(t, "tvmrpc_tracker_requests_total", "counter", "REQUESTs received.");
	text_printf(t, "tvmrpc_tracker_requests_total %llu\n", (unsigned long long)c.requests);
	family(t, "tvmrpc_tracker_sessions_total", "counter", "Finished sessions, by how they ended.");
	for (int e = 0; e < TRACKER_END_COUNT && e < TRACKER_VIEW_SESSION_ENDS; e++)
		text_printf(t, "tvmrpc_tracker_sessions_total{end=\"%s\"} %llu\n",
			    tracker_session_end_name((enum tracker_session_end)e),
			    (unsigned long long)c.sessions_ended[e]);
	family(t, "tvmrpc_tracker_refusals_total", "counter",
	       "Connections refused or closed by the tracker, by cause.");
	text_printf(t, "tvmrpc_tracker_refusals_total{cause=\"allow\"} %llu\n",
		    (unsigned long long)c.refused_acl);
	text_printf(t, "tvmrpc_tracker_refusals_total{cause=\"max_connections\"} %llu\n",
		    (unsigned long long)c.refused_limit);
	text_printf(t, "tvmrpc_tracker_refusals_total{cause=\"handshake_timeout\"} %llu\n",
		    (unsigned long long)c.handshake_timeouts);
	text_printf(t, "tvmrpc_tracker_refusals_total{cause=\"protocol_error\"} %llu\n",
		    (unsigned long long)c.protocol_errors);
	family(t, "tvmrpc_tracker_probes_total", "counter", "Health-check probes, by result.");
	text_printf(t, "tvmrpc_tracker_probes_total{result=\"passed\"} %llu\n",
		    (unsigned long long)c.probes_ok);
	text_printf(t, "tvmrpc_tracker_probes_total{result=\"failed\"} %llu\n",
		    (unsigned long long)c.probes_failed);
	family(t, "tvmrpc_tracker_health_drains_total", "counter",
	       "Boards drained by failed health checks.");
	text_printf(t, "tvmrpc_tracker_health_drains_total %llu\n",
		    (unsigned long long)c.health_drains);
	family(t, "tvmrpc_tracker_unhealthy", "gauge",
	       "1 for each board the health checker drained; reason says why.");
	tracker_view_servers(tr, put_unhealthy, t);
	family(t, "tvmrpc_tracker_connections", "gauge", "Open tracker connections.");
	text_printf(t, "tvmrpc_tracker_connections %llu\n", (unsigned long long)c.connections_open);
	family(t, "tvmrpc_tracker_queue_wait_seconds", "histogram",
	       "Time from REQUEST to assignment, by key.");
	tracker_view_wait_histograms(tr, put_histogram, t);
}

/* ---- proxy ---- */

static void proxy_metrics(struct text *t, proxy_t *p)
{
	proxy_view_counts_t c;
	proxy_view_counts(p, &c);
	family(t, "tvmrpc_proxy_links", "gauge", "Client-server pairs relaying now.");
	text_printf(t, "tvmrpc_proxy_links %zu\n", c.links);
	family(t, "tvmrpc_proxy_links_total", "counter", "Client-server pairs made.");
	text_printf(t, "tvmrpc_proxy_links_total %llu\n", (unsigned long long)c.paired);
	family(t, "tvmrpc_proxy_waiting_servers", "gauge", "Servers waiting for a client.");
	text_printf(t, "tvmrpc_proxy_waiting_servers %zu\n", c.waiting_servers);
	family(t, "tvmrpc_proxy_bytes_relayed_total", "counter", "Bytes relayed, by direction.");
	text_printf(t, "tvmrpc_proxy_bytes_relayed_total{direction=\"client_to_server\"} %llu\n",
		    (unsigned long long)c.bytes_client_to_server);
	text_printf(t, "tvmrpc_proxy_bytes_relayed_total{direction=\"server_to_client\"} %llu\n",
		    (unsigned long long)c.bytes_server_to_client);
	family(t, "tvmrpc_proxy_websocket_peers", "gauge",
	       "WebSocket peers (browser/WASM servers) connected to the web port now.");
	text_printf(t, "tvmrpc_proxy_websocket_peers %zu\n", c.web_peers);
	family(t, "tvmrpc_proxy_websocket_frames_total", "counter",
	       "Binary frames of the web port, by direction.");
	text_printf(t, "tvmrpc_proxy_websocket_frames_total{direction=\"in\"} %llu\n",
		    (unsigned long long)c.web_frames_in);
	text_printf(t, "tvmrpc_proxy_websocket_frames_total{direction=\"out\"} %llu\n",
		    (unsigned long long)c.web_frames_out);
	family(t, "tvmrpc_proxy_refusals_total", "counter", "Proxy connections refused, by cause.");
	text_printf(t, "tvmrpc_proxy_refusals_total{cause=\"refused\"} %llu\n",
		    (unsigned long long)c.refused);
	text_printf(t, "tvmrpc_proxy_refusals_total{cause=\"mismatch\"} %llu\n",
		    (unsigned long long)c.mismatched);
	text_printf(t, "tvmrpc_proxy_refusals_total{cause=\"bad_handshake\"} %llu\n",
		    (unsigned long long)c.bad_handshakes);
}

/* ---- process ---- */

static long resident_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	int ok = fscanf(f, "%ld %ld", &pages, &resident) == 2;
	fclose(f);
	return ok ? resident * sysconf(_SC_PAGESIZE) : -1;
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void process_metrics(struct text *t)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	family(t, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
	text_printf(t, "process_cpu_seconds_total %.3f\n", cpu);
	long rss = resident_bytes();
	if (rss >= 0) {
		family(t, "process_resident_memory_bytes", "gauge", "Resident memory size.");
		text_printf(t, "process_resident_memory_bytes %ld\n", rss);
	}
	long fds = open_fds();
	if (fds >= 0) {
		family(t, "process_open_fds", "gauge", "Open file descriptors.");
		text_printf(t, "process_open_fds %ld\n", fds);
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		family(t, "process_max_fds", "gauge", "Descriptor limit (soft).");
		text_printf(t, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
}

char *metrics_text(tracker_t *tracker, proxy_t *proxy, uint64_t endpoint_refused)
{
	struct text t = {xmalloc(4096), 0, 4096};
	t.buf[0] = '\0';
	if (tracker)
		tracker_metrics(&t, tracker);
	if (proxy)
		proxy_metrics(&t, proxy);
	process_metrics(&t);
	family(&t, "tvmrpc_metrics_refusals_total", "counter",
	       "Connections to this endpoint refused by its allow list.");
	text_printf(&t, "tvmrpc_metrics_refusals_total %llu\n", (unsigned long long)endpoint_refused);
	return t.buf;
}
