/* Private to the tracker: the tracker_t and per-connection structs, shared by tracker.c (which
 * owns and changes them) and tracker_view.c (which only reads them and calls back into
 * tracker.c for admin actions). Nothing outside src/services/tracker*.c includes this. */
#ifndef TVMRPC_TRACKER_STATE_H
#define TVMRPC_TRACKER_STATE_H

#include <cJSON.h>
#include <stdint.h>
#include <uv.h>

#include "services/net.h"
#include "services/tracker.h"
#include "services/tracker_codec.h"
#include "services/tracker_index.h"
#include "services/tracker_queue.h"
#include "services/tracker_usage.h"
#include "services/tracker_view.h"

/* Limits on what one connection may make the tracker hold, so that its state cannot grow
 * without bound (docs/control-plane.md §8). Real servers PUT one resource under one key; a
 * proxy one per pooled server. */
#define TRACKER_MAX_RESOURCES_PER_CONN 1024
#define TRACKER_MAX_KEYS_PER_CONN 256
#define TRACKER_MAX_REQUESTS_PER_CONN 64
#define TRACKER_MAX_KEY_BYTES 256      /* device key, custom address, user */
#define TRACKER_MAX_MATCHKEY_BYTES 512
#define TRACKER_MAX_INFO_BYTES 16384   /* the merged UPDATE_INFO object, as JSON */

enum tracker_conn_state {
	TRACKER_CONN_MAGIC,    /* waiting for the 4-byte magic */
	TRACKER_CONN_OPEN,     /* JSON frames */
	TRACKER_CONN_STOPPING, /* sent the STOP reply; the tracker halts once it is written */
	TRACKER_CONN_CLOSING,  /* uv_close called; state already removed */
};

struct tracker_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;           /* handshake timeout */
	tracker_t *t;
	uint64_t id;
	struct tracker_list link;   /* in t->conns */
	enum tracker_conn_state state;
	int handles_open;           /* tcp + timer still to be closed */
	char peer[64];              /* "ip:port" */
	char peer_ip[48];
	uint8_t magic[4];
	size_t magic_have;
	tracker_frame_reader_t reader;
	cJSON *info;                /* merged UPDATE_INFO objects; NULL until the first */
	int info_is_server;         /* info.key is a string starting with "server" */
	char *addr_text;            /* info.addr joined with ':' (for the view) */
	struct tracker_list resources; /* tracker_resource_t.owner_link: FREE, HELD, SENDING */
	tracker_index_t resource_index; /* the same resources by matchkey (refresh check) */
	size_t resource_count;
	struct tracker_list requests;  /* tracker_request_t.owner_link */
	size_t request_count;
	tracker_queue_t **keys;     /* queues this connection PUT to (each counted in holders) */
	size_t key_count, key_cap;
	struct tracker_list open_sessions; /* tracker_session_t.link: sessions on its servers */
	int kicked;                 /* closed by an admin: its open sessions end "cancelled" */
	int reported_end;           /* -1, or how the server said its session ended (the next
				     * PUT ends it so): enum tracker_session_end */
	int drained;                /* effective: admin_drained || health_drained */
	int admin_drained;
	int health_drained;         /* drained by failed probes (tracker_health.c) */
	int health_failures;        /* probes failed in a row */
	char health_reason[160];    /* why health_drained, for the console and metrics */
	double probe_rtt_us;        /* last successful probe's mean round trip */
	uint64_t probes_ok, probes_failed;
	int registered;             /* sent UPDATE_INFO or PUT */
	uint64_t sessions;          /* resources handed out */
	double registered_at;
	char last_key[TRACKER_MAX_KEY_BYTES + 1];
	char last_addr[TRACKER_MAX_KEY_BYTES + 16];
};

struct tracker {
	uv_loop_t *loop;
	tracker_options_t opt;
	uv_tcp_t listener;
	int listener_open;
	int port;
	net_acl_t acl;
	tracker_queues_t queues;
	struct tracker_list conns;
	size_t conn_count;
	int handles_open;           /* listener + connection handles not yet closed */
	uint64_t next_conn_id, next_resource_id, next_request_id;
	char stop_key[80];
	int halted;                 /* a valid STOP closed everything */
	int accept_error_logged;
	uint64_t last_accept_error; /* uv_now() of the last accept error logged */
	int closing;                /* tracker_close called */
	void (*close_done)(void *arg);
	void *close_arg;
	void (*stop_cb)(void *arg);
	void *stop_arg;
	void (*on_change)(void *arg);
	void *on_change_arg;
	struct tracker_view_counters counters;
	uint64_t health_next_id;    /* round robin of the health checker over connection ids */
	int health_failures_to_drain; /* 0: health checks off (tracker_health.c) */
	struct tracker_bad_board *bad_boards; /* boards whose sessions end badly in a row */
	size_t bad_board_count;
	tracker_usage_t usage;
	struct tracker_view_event events[TRACKER_VIEW_EVENT_RING];
	uint64_t event_seq;         /* seq of the newest event; 0 = none */
	char read_buf[65536];       /* shared: libuv's alloc and read callbacks come in pairs */
	int read_buf_busy;
};

/* The fairness identity of a request (freshly allocated): user, or "anon@<peer ip>". */
char *tracker_request_who(const char *user, const char *peer_ip);

/* Used by tracker_view.c. */
struct tracker_conn *tracker_conn_find(const tracker_t *t, uint64_t id);
int tracker_conn_is_server(const struct tracker_conn *c);
void tracker_conn_set_drained(struct tracker_conn *c, int drained);
void tracker_conn_take_resource(struct tracker_conn *c, tracker_resource_t *r);
void tracker_conn_apply_hold(struct tracker_conn *c, int drained, const char *why);
void tracker_event_note(tracker_t *t, enum tracker_event_kind kind, const char *text);
void tracker_conn_kick(struct tracker_conn *c);
int tracker_request_cancel(tracker_t *t, uint64_t request_id);

#endif
