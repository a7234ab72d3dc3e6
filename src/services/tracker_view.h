/* Read-only view of a running tracker for the console (and tests): servers, queues, pending
 * requests, recent events and counters, plus a few admin actions by id. Everything runs on
 * the tracker's loop thread; strings passed to callbacks are valid only during the call. */
#ifndef TVMRPC_TRACKER_VIEW_H
#define TVMRPC_TRACKER_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "services/tracker.h"

enum tracker_server_state {
	TRACKER_SERVER_FREE,    /* at least one resource waiting in a free list */
	TRACKER_SERVER_BUSY,    /* nothing free: every PUT has been handed out (or none yet) */
	TRACKER_SERVER_DRAINED, /* an admin drained it: its resources are never assigned */
};

/* A connection that sent UPDATE_INFO with a "server..." key or PUT at least one resource. */
struct tracker_view_server {
	uint64_t id;              /* connection id (admin actions take it) */
	const char *peer;         /* "ip:port" of the TCP peer as the tracker sees it */
	const char *addr;         /* reported address: info.addr joined with ':' (as TVM's query
				   * tool prints it), else the last PUT's "addr:port", else "" */
	const char *key;          /* info.key ("server:rasp", "server:proxy[a,b]"), else the last
				   * PUT's device key */
	const char *compiler;     /* info.compiler: how one of our device servers links .o/.tar
				   * uploads (a command, "none", or "" for none found); NULL
				   * when the server did not say (TVM's servers) */
	const char *devices;      /* info.devices: what one of our device servers offers ("cpu;
				   * opencl0: <name>"); NULL when the server did not say */
	enum tracker_server_state state;
	int free;                 /* resources free now */
	int held;                 /* resources held back because drained */
	uint64_t sessions;        /* resources handed to clients so far */
	double registered;        /* wall clock (seconds since the epoch) of the first
				   * UPDATE_INFO or PUT */
	const char *drain_reason; /* NULL unless drained: "admin", or the health checker's why */
	int health_drained;       /* drained by failed probes (not by the admin) */
	int health_failures;      /* probes failed in a row */
	uint64_t probes_ok, probes_failed;
	double probe_rtt_us;      /* last passed probe's mean round trip, 0 if none */
	const char *last_put;     /* "addr:port" of its last PUT (how sessions name a board) */
};

/* A finished session (from the usage day), for a board's details. */
struct tracker_view_session {
	const char *user;
	const char *end;          /* released, dropped, timed_out, cancelled */
	double end_time, wait, busy;
};

/* One device key. `total` counts live connections that PUT this key. */
struct tracker_view_queue {
	const char *key;
	int total;
	int free;
	int pending;
};

struct tracker_view_request {
	uint64_t id;              /* request id (tracker_admin_cancel takes it) */
	uint64_t conn_id;         /* the requesting connection */
	const char *peer;         /* its "ip:port" */
	const char *key;
	const char *user;         /* the REQUEST's user field ("" from stock clients) */
	double priority;
	double wait_start;        /* wall clock when the REQUEST arrived */
};

enum tracker_event_kind {
	TRACKER_EVENT_REGISTER, /* UPDATE_INFO or PUT */
	TRACKER_EVENT_ASSIGN,   /* a resource handed to a client */
	TRACKER_EVENT_RELEASE,  /* a resource given back (client gone before the reply, undrain) */
	TRACKER_EVENT_DROP,     /* a server or a waiting client disconnected / kicked / cancelled */
	TRACKER_EVENT_ERROR,    /* a connection closed for bad input or a timeout */
	TRACKER_EVENT_REFUSED,  /* a connection refused (allow list, max_connections) */
};

#define TRACKER_VIEW_EVENT_TEXT 160
#define TRACKER_VIEW_EVENT_RING 256

struct tracker_view_event {
	uint64_t seq;             /* increases by one per event, never reused */
	double time;              /* wall clock */
	enum tracker_event_kind kind;
	char text[TRACKER_VIEW_EVENT_TEXT];
};

#define TRACKER_VIEW_SESSION_ENDS 5 /* released, dropped, timed_out, cancelled, crashed */

struct tracker_view_counters {
	uint64_t connections_accepted; /* passed allow list and limit */
	uint64_t connections_open;
	uint64_t refused_acl;          /* peer not in `allow` */
	uint64_t refused_limit;        /* over max_connections */
	uint64_t handshake_timeouts;   /* no magic, or a started frame not finished, within
					* handshake_timeout */
	uint64_t protocol_errors;      /* wrong magic, bad length, bad JSON, bad shape, unknown
					* code, limits exceeded, vanished mid-message */
	uint64_t puts;
	uint64_t requests;
	uint64_t assignments;
	uint64_t cancelled;            /* requests cancelled by an admin */
	uint64_t sessions_ended[TRACKER_VIEW_SESSION_ENDS]; /* by enum tracker_session_end */
	uint64_t probes_ok, probes_failed; /* health checks ([health]) */
	uint64_t health_drains;        /* boards drained by failed probes */
	uint64_t servers;              /* connections shown by tracker_view_servers now */
	uint64_t pending;              /* requests waiting now */
};

const char *tracker_event_kind_name(enum tracker_event_kind kind);

/* Each iterator calls fn once per item and stops early if fn returns non-zero. They return
 * the number of items visited. The tracker must not be changed from inside fn. */
size_t tracker_view_servers(const tracker_t *t,
			    int (*fn)(void *arg, const struct tracker_view_server *s), void *arg);
/* Queues in creation order. */
size_t tracker_view_queues(const tracker_t *t,
			   int (*fn)(void *arg, const struct tracker_view_queue *q), void *arg);
/* Pending requests, queue by queue, each queue in heap (not sorted) order. */
size_t tracker_view_requests(const tracker_t *t,
			     int (*fn)(void *arg, const struct tracker_view_request *r), void *arg);
/* Copies up to max of the most recent events, oldest first, into out; returns how many.
 * Events with seq <= after are skipped (pass 0 for all), so a reader can poll for new ones. */
size_t tracker_view_events(const tracker_t *t, uint64_t after, struct tracker_view_event *out,
			   size_t max);
void tracker_view_counters(const tracker_t *t, struct tracker_view_counters *out);
/* Up to max finished sessions on server "addr:port" (tracker_view_server.last_put), newest
 * first. Strings are valid until the tracker changes. Returns how many were copied. */
size_t tracker_view_recent_sessions(const tracker_t *t, const char *server,
				    struct tracker_view_session *out, size_t max);
/* The queue-wait histogram of each key that had an assignment (newest key first); the
 * struct is tracker_usage.h's. Returns the number of keys. */
struct tracker_wait_histogram;
size_t tracker_view_wait_histograms(const tracker_t *t,
				    void (*fn)(void *arg, const struct tracker_wait_histogram *h),
				    void *arg);
/* Usage statistics of finished sessions per key and per user over the last hour and day, as
 * tracker_usage_stats returns them (docs/lab-operations.md). Caller frees. */
struct cJSON *tracker_view_usage(const tracker_t *t, double now);

/* Called after every state change (connect, register, assign, drop, error, admin action...),
 * synchronously on the loop thread. It may be called many times per loop iteration: the
 * console should only mark itself dirty and redraw from a timer. fn NULL unregisters. */
void tracker_view_set_on_change(tracker_t *t, void (*fn)(void *arg), void *arg);

/* Admin actions. Each returns 0, or UV_ENOENT if the id is unknown. */
/* Drained: the connection's unassigned resources are held back (not counted as free, never
 * assigned) until undrained; new PUTs from it are held as well. */
int tracker_admin_drain(tracker_t *t, uint64_t conn_id, int drained);
/* Close a connection (server or client); its free resources and requests go with it. */
int tracker_admin_kick(tracker_t *t, uint64_t conn_id);
/* Answer a waiting REQUEST with [-1, "cancelled by tracker admin"] (a TVM client raises
 * "Invalid return value") and forget it; the connection stays open. */
int tracker_admin_cancel(tracker_t *t, uint64_t request_id);

/* Take one free resource of server connection conn_id for the caller (the console's probe),
 * exactly as an assignment to a client: host, port and matchkey to connect with. Returns 0,
 * UV_ENOENT (no such connection) or UV_EBUSY (nothing free: busy or drained). */
int tracker_admin_take(tracker_t *t, uint64_t conn_id, char *host, size_t host_size, int *port,
		       char *matchkey, size_t matchkey_size);

#endif
