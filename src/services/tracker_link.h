/* Client side of tracker registration (docs/control-plane.md §2.4-2.7) on a libuv loop,
 * shared by the device server and the proxy. It keeps one tracker connection alive forever
 * (connect timeout, capped exponential back-off, never gives up), re-sends UPDATE_INFO and PUTs
 * after every reconnect, polls GET_PENDING_MATCHKEYS and regenerates matchkeys that a client
 * took but never used.
 *
 * Model. The owner offers "resources" (one per waiting board). Each resource has an id, a device
 * key, a port, an optional custom address and a current matchkey "<key>:<random>" that the link
 * generates (matchkey.h). The link PUTs `[3, key, [port, matchkey], custom_addr|null]` whenever
 * a resource gets a fresh matchkey while the link is registered, and again (with a fresh
 * matchkey) after each reconnect. A resource is in one of two modes:
 *   - offered: PUT, polled, regenerated after `regen_misses` polls without its matchkey;
 *   - held: its matchkey was used by a client (a session runs); nothing is PUT or regenerated
 *     until tracker_link_renew() gives it a fresh matchkey (the server calls it after each
 *     session: exactly one new PUT).
 * Requests go out one at a time (replies carry no id), each with a reply timeout; any error
 * (refused, timeout, bad reply, EOF) closes the connection and starts the back-off.
 *
 * Typical use, a server:  link = tracker_link_start(...);
 *   tracker_link_set_info(link, "server:rasp", custom_addr_or_NULL, port);
 *   tracker_link_offer(link, "rasp", port, custom_addr_or_NULL, &id);
 *   on a client with client:<tracker_link_matchkey(link, id)> -> tracker_link_hold(link, id);
 *   after the session -> tracker_link_renew(link, id).
 * A proxy: one offer per pooled server; tracker_link_withdraw() when it pairs or leaves;
 *   tracker_link_set_info(link, "server:proxy[k1,k2]", NULL, port) whenever the key set grows.
 *
 * All functions must be called on the loop's thread. Callbacks never run inside the API call
 * that caused them except where noted; they may call any tracker_link function except close. */
#ifndef TVMRPC_TRACKER_LINK_H
#define TVMRPC_TRACKER_LINK_H

#include <stdint.h>
#include <uv.h>

typedef enum tracker_link_state {
	TRACKER_LINK_DISCONNECTED = 0, /* waiting for the back-off timer to try again */
	TRACKER_LINK_CONNECTING = 1,   /* resolving, connecting, or waiting for the magic echo */
	TRACKER_LINK_REGISTERED = 2,   /* magic echoed; UPDATE_INFO/PUT/polls flow */
} tracker_link_state_t;

/* Why a resource's matchkey stopped being valid (the link has already picked the new one). */
typedef enum tracker_link_lost_reason {
	TRACKER_LINK_LOST_UNCLAIMED = 1, /* the tracker handed it out, but no client came (§2.6) */
	TRACKER_LINK_LOST_RECONNECT = 2, /* re-registered after losing the tracker connection */
} tracker_link_lost_reason_t;

typedef struct tracker_link_options {
	char tracker[300];       /* "host:port" (split at the last ':', "[v6]:port" accepted) */
	double connect_timeout;  /* seconds for resolve + connect + magic echo, default 5 */
	double reply_timeout;    /* seconds for each reply, default 10 */
	double poll_interval;    /* seconds between GET_PENDING_MATCHKEYS, default 2 */
	int regen_misses;        /* consecutive polls without the matchkey before a fresh one is
				  * PUT; default 4 (TVM's server: counter*2 > 4+2, about 8 s). The
				  * proxy uses 3 (TVM's proxy: more than 5 s). */
	double backoff_min;      /* first retry delay, default 0.25 s; doubles on each failure */
	double backoff_max;      /* cap, default 4 s (a restarted tracker sees every server back
				  * within 5 s, issue #8); retries go on forever */
} tracker_link_options_t;

typedef struct tracker_link_events {
	void *arg; /* passed to every callback */
	/* The connection state changed (any may be NULL). */
	void (*state_changed)(void *arg, tracker_link_state_t state);
	/* A poll no longer lists this resource's matchkey: the tracker gave it to a client, who
	 * should connect soon. Reported once per matchkey. */
	void (*matchkey_assigned)(void *arg, uint64_t id, const char *matchkey);
	/* The old matchkey is dead and `fresh` (already current) is being PUT. A client that turns
	 * up with `old` should get MISMATCH. */
	void (*matchkey_lost)(void *arg, uint64_t id, const char *old, const char *fresh,
			      tracker_link_lost_reason_t reason);
} tracker_link_events_t;

/* Counters for the console. */
typedef struct tracker_link_stats {
	tracker_link_state_t state;
	uint64_t connects;       /* successful registrations (magic echoed) */
	uint64_t failures;       /* connection attempts or connections that failed */
	uint64_t puts;           /* PUTs acknowledged */
	uint64_t regenerations;  /* matchkeys replaced because no client came */
	uint64_t registered_ms;  /* uv_now() when the current registration began, 0 if none */
	double next_retry;       /* seconds of the current back-off delay */
	char last_error[128];    /* why the last connection ended, "" if none yet */
} tracker_link_stats_t;

typedef struct tracker_link tracker_link_t;

void tracker_link_options_default(tracker_link_options_t *opt);

/* Start connecting at once. `events` is copied. Returns 0, or a negative uv error for a bad
 * address (logged); the link then does not exist. */
int tracker_link_start(uv_loop_t *loop, const tracker_link_options_t *opt,
		       const tracker_link_events_t *events, tracker_link_t **out);

/* Drop the connection (the tracker then forgets our free resources, §2.7) and free the link.
 * No callback runs after this call; `done` (may be NULL) runs from the loop once every handle
 * is closed. */
void tracker_link_close(tracker_link_t *link, void (*done)(void *arg), void *arg);

/* Set the UPDATE_INFO object `{"key": info_key, "addr": [custom_addr|null, port]}`; sent now
 * if registered (before any PUT still queued) and after every reconnect. Returns 0 or
 * UV_EINVAL/UV_ENOMEM. */
int tracker_link_set_info(tracker_link_t *link, const char *info_key, const char *custom_addr,
			  int port);

/* Add `"compiler": compiler` to the UPDATE_INFO object (NULL removes it): how our device
 * servers link .o/.tar uploads ("/usr/bin/cc", "none", ""), shown in the console's server
 * details. TVM's tracker keeps unknown info fields as they are. */
void tracker_link_set_info_compiler(tracker_link_t *link, const char *compiler);
/* Add `"devices": devices` to the UPDATE_INFO object (NULL removes it): the devices our
 * device servers offer ("cpu; opencl0: <name>"), shown in the console's server details. */
void tracker_link_set_info_devices(tracker_link_t *link, const char *devices);

/* Tell the tracker how the last session ended when it was not normal ("timed_out",
 * "crashed"): a one-shot "session_end" field in the next UPDATE_INFO, which goes out before
 * the PUT that follows the session (docs/lab-operations.md). Our tracker records it for that
 * session; TVM's keeps it as an info field. NULL clears a report not yet sent. */
void tracker_link_report_session_end(tracker_link_t *link, const char *end);

/* Add an offered resource with a fresh matchkey (PUT as soon as registered). custom_addr NULL
 * or "" sends null. Writes its id (never 0). Returns 0 or a negative uv error. */
int tracker_link_offer(tracker_link_t *link, const char *key, int port, const char *custom_addr,
		       uint64_t *id);
/* The matchkey was used: stop polling/regenerating/PUTting it. Returns 0 or UV_ENOENT. */
int tracker_link_hold(tracker_link_t *link, uint64_t id);
/* Give the resource a fresh matchkey and PUT it (ends a hold). Returns 0 or UV_ENOENT. */
int tracker_link_renew(tracker_link_t *link, uint64_t id);
/* Forget the resource. The protocol cannot withdraw a PUT; the tracker drops free resources
 * only when the connection closes, so a stale matchkey may still be handed out (its client
 * gets MISMATCH and retries). */
void tracker_link_withdraw(tracker_link_t *link, uint64_t id);

/* Current matchkey of a resource (valid until the next call into the link), NULL if unknown. */
const char *tracker_link_matchkey(const tracker_link_t *link, uint64_t id);
tracker_link_state_t tracker_link_state(const tracker_link_t *link);
void tracker_link_get_stats(const tracker_link_t *link, tracker_link_stats_t *out);

#endif
