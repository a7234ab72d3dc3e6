/* Read-only view of a running proxy for the console: counters, the live links and the peers
 * still waiting for a partner. Copies into caller buffers; never hands out internal pointers. */
#ifndef TVMRPC_PROXY_VIEW_H
#define TVMRPC_PROXY_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "services/proxy.h"

typedef struct proxy_view_counts {
	int port;               /* listening port */
	int tracker_mode;       /* 1 when --tracker is set */
	int tracker_connected;  /* tracker mode: magic exchanged and registered */
	int max_connections;
	size_t connections;     /* open TCP connections (handshaking, waiting, 2 per link) */
	size_t handshaking;     /* accepted, handshake not complete yet */
	size_t waiting_servers; /* standalone: waiting for a client; tracker mode: pooled */
	size_t waiting_clients; /* standalone only */
	size_t links;           /* paired, relaying (including links still draining) */
	uint64_t accepted;      /* connections accepted since start */
	uint64_t refused;       /* refused by the allow list or max_connections */
	uint64_t paired;        /* links made since start */
	uint64_t mismatched;    /* MISMATCH sent: no partner, wait expired, stale key */
	uint64_t bad_handshakes;/* bad magic, bad length, malformed key, handshake timeout */
	uint64_t bytes_client_to_server; /* over all links, including closed ones */
	uint64_t bytes_server_to_client;
	uint64_t tracker_reconnects;     /* tracker mode: connections (re)established */
	uint64_t tracker_failures;       /* tracker mode: failed attempts or lost connections */
	uint64_t tracker_puts;           /* tracker mode: PUTs acknowledged */
	char tracker_last_error[128];    /* tracker mode: why the last connection ended, or "" */
	int web_port;                    /* the WebSocket port, 0 when off (§4.6) */
	size_t web_peers;                /* WebSocket connections open now */
	uint64_t web_frames_in;          /* binary frames received from WebSocket peers */
	uint64_t web_frames_out;         /* binary frames sent to them */
} proxy_view_counts_t;

typedef struct proxy_view_link {
	char key[560];     /* the match key the two sides were paired on */
	char client[64];   /* peer address of the client */
	char server[64];   /* peer address of the server */
	uint64_t bytes_client_to_server;
	uint64_t bytes_server_to_client;
	double started;    /* Unix time of pairing */
	int closing;       /* one side left, the other is draining */
} proxy_view_link_t;

typedef struct proxy_view_waiter {
	char key[512];     /* match key (tracker mode: the device key K) */
	char matchkey[560];/* tracker mode: the private K:<random> offered to the tracker */
	char peer[64];
	int is_server;
	double since;      /* Unix time the handshake completed */
} proxy_view_waiter_t;

void proxy_view_counts(const proxy_t *p, proxy_view_counts_t *out);
/* Copy up to max links (oldest first); returns how many exist in total, so (NULL, 0) asks
 * for the count. */
size_t proxy_view_links(const proxy_t *p, proxy_view_link_t *out, size_t max);
/* Copy up to max waiting peers (servers first, oldest first); returns the total (NULL, 0
 * asks for the count). Keys are made printable (see proxy_text_safe). */
size_t proxy_view_waiters(const proxy_t *p, proxy_view_waiter_t *out, size_t max);

#endif
