/* Private state of the proxy, shared by proxy.c (handshakes, pairing, view) and
 * proxy_tracker.c (tracker mode). Nothing outside the proxy includes this. */
#ifndef TVMRPC_PROXY_INTERNAL_H
#define TVMRPC_PROXY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "services/handshake.h"
#include "services/net.h"
#include "services/proxy.h"
#include "services/proxy_link.h"
#include "services/proxy_view.h"

/* Bytes a peer may send after its handshake and before it is paired. Stock peers send none
 * (they wait for SUCCESS); the bound keeps a misbehaving one from growing memory. */
#define PROXY_EARLY_MAX (64 * 1024)

enum proxy_peer_state {
	PEER_HANDSHAKE, /* reading magic, length, key */
	PEER_WAITING,   /* registered, waiting for a partner */
	PEER_REFUSING,  /* MISMATCH being written, then closed */
};

struct proxy_peer;

struct proxy_peer_list {
	struct proxy_peer *head, *tail;
	size_t count;
};

/* One accepted connection until it is paired (then its socket moves to a proxy_link). */
struct proxy_peer {
	struct proxy *proxy;
	uv_tcp_t *tcp; /* heap; NULL once handed to a link or closed */
	uv_timer_t timer; /* handshake deadline, then the standalone wait deadline */
	uv_write_t write;
	uint8_t reply[4];
	int handles; /* close callbacks still to come (tcp, timer) */
	int closed;
	enum proxy_peer_state state;
	struct proxy_peer_list *list;
	struct proxy_peer *prev, *next;
	handshake_reader_t reader;
	char *key; /* the full original key, sent to the partner on pairing */
	uint32_t key_len;
	handshake_key_t parsed;
	char *early; /* bytes received after the handshake, before pairing */
	size_t early_len;
	char name[64];
	double since;
	/* Tracker mode (servers): the tracker_link resource offering this server. */
	uint64_t resource_id;
	int assigned; /* the tracker handed its current matchkey to a client */
};

/* One paired link, for the view and the logs. */
struct proxy_pair {
	struct proxy *proxy;
	proxy_link_t *link;
	struct proxy_pair *prev, *next;
	char key[560];
	char client[64], server[64];
	double started;
};

struct proxy_tracker;
struct proxy_web;

struct proxy {
	uv_loop_t *loop;
	proxy_options_t opt;
	net_acl_t acl;
	uv_tcp_t listener;
	int port;
	int tracker_mode;
	int closing;
	int pending; /* things whose close callback proxy_close must wait for */
	void (*close_done)(void *arg);
	void *close_arg;
	struct proxy_peer_list handshaking, waiting_servers, waiting_clients, refusing;
	struct proxy_pair *pairs, *pairs_tail;
	size_t link_count;
	size_t connections;
	uint64_t accepted, refused, paired, mismatched, bad_handshakes;
	uint64_t bytes_c2s_closed, bytes_s2c_closed;
	uint64_t tracker_connects;
	uint64_t accept_error_ms; /* loop time of the last logged accept error */
	proxy_link_pool_t pool;
	struct proxy_tracker *tracker;
	struct proxy_web *web; /* the WebSocket port, NULL when off */
	char scratch[64 * 1024];
};

double proxy_wall_now(void);
/* Copy len bytes of peer text for logs and the view: non-printable bytes become '?', and a
 * text that does not fit ends with "...". */
void proxy_text_safe(char *out, size_t size, const char *in, size_t len);
void proxy_peer_list_append(struct proxy_peer_list *list, struct proxy_peer *peer);
void proxy_peer_list_remove(struct proxy_peer *peer);
/* Pair them: SUCCESS + the partner's key to each, then relay. Both peers are consumed. */
void proxy_pair(struct proxy *p, struct proxy_peer *client, struct proxy_peer *server,
		const char *key);
/* Send MISMATCH, log why, close. */
void proxy_peer_refuse(struct proxy_peer *peer, const char *why);
/* Take fd (one end of a socket pair carrying a WebSocket peer's bytes, proxy_web.c) as an
 * accepted connection named `name`. Returns 0, or -1 with fd closed. */
int proxy_adopt(struct proxy *p, int fd, const char *name);
/* A proxy teardown step finished (pending--). */
void proxy_pending_done(struct proxy *p);

/* Tracker mode (proxy_tracker.c). */
int proxy_tracker_check(struct proxy *p);
void proxy_tracker_start(struct proxy *p);
/* Close the tracker connection and timers (adds to p->pending until they are closed). */
void proxy_tracker_stop(struct proxy *p);
/* Free what proxy_tracker_start allocated, once everything is closed. */
void proxy_tracker_free(struct proxy *p);
int proxy_tracker_connected(const struct proxy *p);
/* Fill the tracker fields of the view (failures, PUTs, last error). */
void proxy_tracker_view(const struct proxy *p, proxy_view_counts_t *out);
/* The current private matchkey of a pooled server, NULL if none. */
const char *proxy_tracker_matchkey(const struct proxy *p, const struct proxy_peer *peer);
/* A registered peer in tracker mode: a server joins the pool, a client is paired or refused. */
void proxy_tracker_register(struct proxy *p, struct proxy_peer *peer);
/* A pooled server left the pool (paired, closed or refused); called before it is unlinked. */
void proxy_tracker_server_left(struct proxy *p, struct proxy_peer *peer);

#endif
