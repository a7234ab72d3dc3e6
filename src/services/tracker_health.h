/* The tracker's side of automatic health checks (docs/lab-operations.md): which board to
 * probe next (free, no request waiting for its key, not drained by the admin), taking its
 * resource as an assignment would, and what a result does (N failures in a row drain the
 * board with the reason; a pass undrains it). health.c runs the probes. */
#ifndef TVMRPC_TRACKER_HEALTH_H
#define TVMRPC_TRACKER_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "services/tracker.h"

struct tracker_health_target {
	uint64_t conn_id;
	char key[260];        /* device key of the resource taken */
	char server[300];     /* "addr:port" */
	char host[256];
	int port;
	char matchkey[520];
};

/* Take one resource of the next server due a probe (round robin by connection): a free one,
 * or a held one of a server the health checker drained. Never while a request for that key
 * waits. Returns 0 with *out filled, or UV_ENOENT when no server is due. */
int tracker_health_take(tracker_t *t, struct tracker_health_target *out);

/* The probe of conn_id passed (rtt_us its mean round trip) or failed (why). After
 * failures_to_drain failures in a row the board is drained; a pass undrains a board the
 * checker drained. The admin's drain always wins. Events, log and usage log say why. */
void tracker_health_report(tracker_t *t, const struct tracker_health_target *target, int ok,
			   double rtt_us, const char *why, int failures_to_drain);

/* Health checks are on (failures_to_drain > 0) or off (0): only then do sessions that end
 * badly count, since only probes can undrain. */
void tracker_health_configure(tracker_t *t, int failures_to_drain);

/* Used by tracker.c. A session on server "addr:port" ended: dropped (or timed out) ones in a
 * row count against the board, released ones reset it. */
struct tracker_conn;
void tracker_health_session_end(tracker_t *t, const char *server, int end);
/* A connection PUTs from "addr:port": a board with failures_to_drain bad session ends in a
 * row (it crashed and came back) is drained on arrival. Call before the resource exists. */
void tracker_health_on_put(struct tracker_conn *c, const char *addr, int port);
void tracker_health_free(tracker_t *t);

#endif
