/* A tracker's SUMMARY, polled on a libuv loop (ours or TVM's tracker, docs/control-plane.md
 * §2.8): dial (dialer.h), exchange the magic and ask for SUMMARY every interval over one
 * tracker connection (tracker_conn.h), reconnecting every 2 s while the tracker is away. The
 * console's --attach view uses it; `--query` asks once through the blocking client
 * (tracker_query.c). */
#ifndef TVMRPC_SERVICES_TRACKER_WATCH_H
#define TVMRPC_SERVICES_TRACKER_WATCH_H

#include <cJSON.h>
#include <uv.h>

typedef struct tracker_watch tracker_watch_t;

/* summary is the {queue_info, server_info} object (valid during the call), or NULL with an
 * error text ("tracker H:P: connect: connection refused", "... no answer to SUMMARY"). */
typedef void (*tracker_watch_cb)(void *arg, const cJSON *summary, const char *error);

/* NULL if target is not HOST:PORT. interval: seconds between SUMMARYs (<= 0.25: 1 s). */
tracker_watch_t *tracker_watch_start(uv_loop_t *loop, const char *target, double interval,
				     tracker_watch_cb cb, void *arg);
/* No callbacks after this; the memory goes once libuv released the handles. */
void tracker_watch_close(tracker_watch_t *w);

#endif
