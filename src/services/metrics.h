/* The Prometheus endpoint ([metrics] listen, docs/lab-operations.md): GET /metrics in the text
 * exposition format, served by libmicrohttpd driven from the services' libuv loop (its epoll fd
 * under a uv_poll, its timeout on a uv_timer), so a scrape never blocks the loop. The text
 * itself comes from metrics_text.c, which reads the tracker and proxy views. Left out of
 * static and board builds (TVMRPC_NO_METRICS), where metrics_start says so. */
#ifndef TVMRPC_METRICS_H
#define TVMRPC_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "services/proxy.h"
#include "services/tracker.h"

typedef struct metrics_options {
	char listen[300];       /* HOST:PORT; "" = off (the default) */
	char allow[1024];       /* CIDR list; empty allows everyone */
	int max_connections;    /* default 16 */
	double timeout;         /* seconds an idle HTTP connection is kept, default 10 */
} metrics_options_t;

void metrics_options_default(metrics_options_t *opt);

typedef struct metrics metrics_t;

/* Serve on loop; tracker and proxy may be NULL (their families are then absent). Returns 0 or
 * a negative uv error (logged). */
int metrics_start(uv_loop_t *loop, const metrics_options_t *opt, tracker_t *tracker,
		  proxy_t *proxy, metrics_t **out);
/* The port actually bound (for listen = HOST:0). */
int metrics_port(const metrics_t *m);
/* Stop serving; memory is freed once libuv has closed the handles. */
void metrics_close(metrics_t *m);

/* The exposition text (malloc'd) of the tracker and proxy given (either may be NULL) and of
 * this process. extra_refused counts the endpoint's own refusals (allow list). */
char *metrics_text(tracker_t *tracker, proxy_t *proxy, uint64_t endpoint_refused);

#endif
