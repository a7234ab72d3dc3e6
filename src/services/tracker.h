/* The tracker service: TVM's tracker protocol on a libuv loop (see docs/control-plane.md §2).
 * State lives in one tracker_t owned here; the console reads it through tracker_view.h. */
#ifndef TVMRPC_TRACKER_H
#define TVMRPC_TRACKER_H

#include <stdint.h>
#include <uv.h>

typedef struct tracker_options {
	char host[256];            /* bind address, default "0.0.0.0" */
	int port;                  /* first port, default 9190 */
	int port_end;              /* exclusive end of the search, default 9199 */
	uint32_t max_message;      /* largest JSON frame accepted, default 1 MiB */
	int max_connections;       /* default 4096 */
	double handshake_timeout;  /* seconds to deliver the magic, and to finish a frame once
				    * started (idle time between frames is free), default 10 */
	char allow[1024];          /* CIDR list; empty allows everyone */
	int scheduling;            /* enum tracker_scheduling: fair (default) or fifo */
	char usage_log[512];       /* JSON Lines file of finished sessions; "" = none */
} tracker_options_t;

void tracker_options_default(tracker_options_t *opt);

typedef struct tracker tracker_t;

/* Bind and start serving on `loop`. Returns 0 or a negative uv error (logged). */
int tracker_start(uv_loop_t *loop, const tracker_options_t *opt, tracker_t **out);
/* The port actually bound. */
int tracker_port(const tracker_t *t);
/* The random key a STOP request must carry ("tracker:" + 32 hex digits from the system's
 * random source). Only the process that started the tracker knows it. */
const char *tracker_stop_key(const tracker_t *t);
/* Called once a valid STOP has closed every connection and the listener; the owner should
 * then call tracker_close (and may end its loop). */
void tracker_set_stop_callback(tracker_t *t, void (*fn)(void *arg), void *arg);
/* Close every connection and the listener; `done` runs once all handles are closed and the
 * tracker is freed. */
void tracker_close(tracker_t *t, void (*done)(void *arg), void *arg);

/* Apply the settings that can change while running (allow, max_message, max_connections,
 * handshake_timeout, scheduling, usage_log: reopened even when unchanged, for logrotate);
 * others in opt are ignored. Returns 0 or UV_EINVAL with err. */
int tracker_reconfigure(tracker_t *t, const tracker_options_t *opt, char *err, size_t err_size);
/* Reopen the usage log by its name (after logrotate moved it). Returns 0 or a negative errno
 * with err; the old file stays open on failure. */
int tracker_reopen_usage_log(tracker_t *t, char *err, size_t err_size);

#endif
