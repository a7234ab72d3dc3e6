/* Automatic health checks ([health], docs/lab-operations.md): every `interval` seconds probe
 * the next free board of the tracker (the console's probe: round trips plus a small copy,
 * with the RPC client on a libuv worker thread, so the loop keeps serving). tracker_health.c
 * decides which board and what a result means. */
#ifndef TVMRPC_HEALTH_H
#define TVMRPC_HEALTH_H

#include <stdint.h>
#include <uv.h>

#include "services/tracker.h"

typedef struct health_options {
	double interval;        /* seconds between probes; 0 (default) = off */
	int failures_to_drain;  /* failed probes in a row that drain a board, default 3 */
	double timeout;         /* seconds for the probe's connect and each reply, default 10 */
	uint64_t copy_bytes;    /* the probe's copy there and back, default 64K */
} health_options_t;

void health_options_default(health_options_t *opt);

typedef struct health health_t;

/* Start probing the boards of tracker on loop. Returns 0 (nothing runs if interval is 0 and
 * *out is NULL) or a negative uv error. */
int health_start(uv_loop_t *loop, const health_options_t *opt, tracker_t *tracker,
		 health_t **out);
/* Stop; a probe still running finishes on its worker and is then forgotten. */
void health_close(health_t *h);

#endif
