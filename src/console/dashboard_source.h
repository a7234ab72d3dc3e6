/* Fills the dashboard from what the console watches: the embedded tracker and proxy (through
 * their read-only views), or a remote tracker's SUMMARY (attach mode). Also keeps the
 * console's event log and the link byte counters needed for rates. */
#ifndef TVMRPC_DASHBOARD_SOURCE_H
#define TVMRPC_DASHBOARD_SOURCE_H

#include <cJSON.h>

#include "console/dashboard.h"
#include "console/dashboard_history.h"
#include "services/proxy.h"
#include "services/tracker.h"

#define DASH_EVENT_LOG 500

struct dash_event {
	double time;
	char kind[12];
	char text[160];
};

struct dash_link_sample {
	char name[200];
	uint64_t c2s, s2c;
};

typedef struct dashboard_source {
	tracker_t *tracker; /* may be NULL */
	proxy_t *proxy;     /* may be NULL */
	uint64_t last_event_seq;
	struct dash_event events[DASH_EVENT_LOG];
	size_t event_head, event_count;
	struct dash_link_sample *samples;
	size_t nsamples;
	double sample_time;
	dash_history_t history; /* per key, the last hour (the 'g' overlay) */
} dashboard_source_t;

void dashboard_source_init(dashboard_source_t *s, tracker_t *tracker, proxy_t *proxy);
void dashboard_source_free(dashboard_source_t *s);

/* Add a line to the event log (console-side events: child server, probes, errors). */
void dashboard_source_event(dashboard_source_t *s, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Rebuild every pane from the embedded services. `now` is wall-clock seconds. */
void dashboard_source_update(dashboard_source_t *s, dashboard_t *d, double now);

/* Rebuild the server, queue and event panes from a SUMMARY reply body
 * ({"queue_info": ..., "server_info": [...]}); returns 0 or -1 if its shape is wrong. */
int dashboard_source_update_summary(dashboard_source_t *s, dashboard_t *d, const cJSON *summary,
				    double now);

/* The usage overlay's text from tracker_usage_stats' object: one line per key, then per user,
 * with sessions, busy time and wait p50/p95 as "last hour/last day", fitting 72 columns. */
void dash_format_usage(const cJSON *stats, char *buf, size_t size);

/* Human-readable helpers (also used by the drawing code). */
void dash_format_duration(double seconds, char *buf, size_t size);
void dash_format_rate(double bytes_per_second, char *buf, size_t size);

#endif
