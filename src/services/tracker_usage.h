/* Usage accounting of the tracker (docs/lab-operations.md): one record per finished session
 * (key, user, server, request/assign/end times, wait, how it ended), appended to a JSON Lines
 * file with one write() each, and kept in memory for a day so that the console and `--query
 * --json` can show sessions, busy time and wait percentiles per key and per user. */
#ifndef TVMRPC_TRACKER_USAGE_H
#define TVMRPC_TRACKER_USAGE_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "services/tracker_queue.h"

/* How a session ended. The tracker sees the assignment; for the end it sees: */
enum tracker_session_end {
	TRACKER_END_RELEASED,  /* the server PUT the key again (its next PUT ends the session) */
	TRACKER_END_DROPPED,   /* the server's tracker connection closed during the session */
	TRACKER_END_TIMED_OUT, /* the server reported the session timed out (ours do) */
	TRACKER_END_CANCELLED, /* an admin kicked the server, or cancelled a waiting request */
	TRACKER_END_CRASHED,   /* the server reported the session's process crashed (ours do) */
	TRACKER_END_COUNT
};

const char *tracker_session_end_name(enum tracker_session_end end);

/* One assignment, from the REQUEST to the end. Owned by the server connection while open. */
typedef struct tracker_session {
	struct tracker_list link;  /* in the owning connection's open sessions */
	char *key, *user, *client, *server, *matchkey;
	double request_time, assign_time;
} tracker_session_t;

/* What the in-memory day keeps of a finished session. */
struct tracker_usage_entry {
	char *key, *user, *server;
	double end_time, wait, busy;
	int assigned;
	enum tracker_session_end end;
};

/* Queue wait of assignments per key, as a Prometheus histogram (metrics.c). */
#define TRACKER_WAIT_BUCKETS 12
extern const double tracker_wait_bounds[TRACKER_WAIT_BUCKETS]; /* upper bounds, seconds */
#define TRACKER_WAIT_MAX_KEYS 1024 /* later keys share the one named "_other" */

struct tracker_wait_histogram {
	struct tracker_wait_histogram *next;
	char *key;
	uint64_t buckets[TRACKER_WAIT_BUCKETS]; /* not cumulative: count in (bound[i-1], bound[i]] */
	uint64_t count, over;                   /* over: above the last bound */
	double sum;
};

typedef struct tracker_usage {
	int fd;                     /* the usage_log, -1 if none */
	char path[512];
	struct tracker_usage_entry *ring;
	size_t ring_cap, ring_len, ring_head; /* oldest at ring_head */
	uint64_t ended[TRACKER_END_COUNT];    /* sessions by end, since start */
	uint64_t write_errors;
	struct tracker_wait_histogram *waits; /* newest key first */
	size_t wait_keys;
} tracker_usage_t;

void tracker_usage_init(tracker_usage_t *u);
void tracker_usage_free(tracker_usage_t *u);
/* Open (or reopen, for logrotate) path for appending; "" closes. Returns 0 or a negative
 * errno with a message in err; the previous file stays open on failure. */
int tracker_usage_open(tracker_usage_t *u, const char *path, char *err, size_t err_size);

tracker_session_t *tracker_session_new(const char *key, const char *user, const char *client,
				       const char *server, const char *matchkey,
				       double request_time, double assign_time);
void tracker_session_free(tracker_session_t *s);

/* The session ended at `end_time`: one record to the file and the day; frees s. A session
 * that never got a device (a cancelled request) has assign_time 0. */
void tracker_usage_finish(tracker_usage_t *u, tracker_session_t *s, double end_time,
			  enum tracker_session_end end);

/* An assignment of `key` after waiting `wait` seconds. */
void tracker_usage_observe_wait(tracker_usage_t *u, const char *key, double wait);

/* A line that is not a session (e.g. {"event": "health_drain", ...}): written as one record. */
void tracker_usage_note(tracker_usage_t *u, const cJSON *record);

/* The record's JSON line (with '\n'), as written to the file; caller frees. */
char *tracker_usage_line(const tracker_session_t *s, double end_time,
			 enum tracker_session_end end);

/* {"keys": {K: {"hour": W, "day": W}}, "users": {...}} where W is {"sessions", "busy",
 * "wait_p50", "wait_p95", "cancelled"} over the finished sessions of the last hour / day. */
cJSON *tracker_usage_stats(const tracker_usage_t *u, double now);

#endif
