/* One asynchronous connection to a tracker, ours or TVM's (docs/control-plane.md §2): on a
 * socket the dialer (dialer.h) connected, send the magic, check the tracker's echo, then JSON
 * frames both ways. The services' tracker clients on a libuv loop use it: the registration
 * link (tracker_link.c) and the SUMMARY watcher (tracker_watch.c). The blocking client is
 * tracker_client.c. */
#ifndef TVMRPC_SERVICES_TRACKER_CONN_H
#define TVMRPC_SERVICES_TRACKER_CONN_H

#include <cJSON.h>
#include <stdint.h>
#include <uv.h>

typedef struct tracker_conn tracker_conn_t;

/* Called on the loop; the owner may call tracker_conn_close from any of them. */
typedef struct tracker_conn_events {
	void *arg;
	void (*ready)(void *arg);                    /* the tracker echoed the magic */
	void (*frame)(void *arg, const cJSON *msg);  /* one frame, valid during the call */
	/* The connection is unusable ("tracker closed the connection", "peer is not an RPC
	 * tracker (bad magic)", "bad frame from the tracker (-1)", "write failed: ..."); the
	 * owner closes it. Not called again after that. */
	void (*failed)(void *arg, const char *why);
} tracker_conn_events_t;

/* Takes tcp (connected, from the dialer; freed with the connection), sends the magic and
 * starts reading frames of at most max_message bytes. Returns NULL after closing tcp when the
 * socket cannot be used, with the reason in why. */
tracker_conn_t *tracker_conn_start(uv_tcp_t *tcp, uint32_t max_message,
				   const tracker_conn_events_t *ev, char *why, size_t why_size);
/* Send one JSON message as a frame. 0 or a libuv error (a later write error comes through
 * `failed`). */
int tracker_conn_send(tracker_conn_t *c, const cJSON *msg);
/* No callbacks after this; the memory goes once libuv released the socket. NULL is ignored. */
void tracker_conn_close(tracker_conn_t *c);

#endif
