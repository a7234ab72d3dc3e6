/* Shared by the device server's two files, not by its users: the server's state (server.c:
 * listener, handshakes, sessions, registration) and what the through-proxy dialer
 * (server_proxy.c) needs from it. */
#ifndef TVMRPC_SERVER_INTERNAL_H
#define TVMRPC_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "services/dialer.h"
#include "services/handshake.h"
#include "services/net.h"
#include "services/server.h"
#include "services/server_session.h"
#include "services/tracker_link.h"

struct proxy_conn;
struct hs_conn;

struct server {
	uv_loop_t *loop;
	server_options_t opt;
	net_acl_t acl;
	int port;
	uv_tcp_t listener;
	int listening;
	char reply_key[160];  /* "server:<key>" */
	char compiler[256];   /* what links .o/.tar uploads: a command, "none", or "" (none found) */
	char devices[512];    /* the devices sessions offer ("cpu; opencl0: <name>") */

	tracker_link_t *link;
	uint64_t resource;
	int matchkey_held;

	/* through-proxy mode */
	char proxy_host[256];
	dialer_t *proxy_dialer;   /* connect, deadline and back-off */
	struct proxy_conn *proxy; /* connected, waiting for a client */

	struct hs_conn *conns;    /* reading or replying */
	struct hs_conn *waiting;  /* FIFO of matched clients behind the running session */
	server_session_t *session;
	int starting;             /* a SUCCESS reply is being written */

	server_stats_t stats;
	int closing;
	int refs;                 /* handles and sessions still to finish while closing */
	void (*close_done)(void *arg);
	void *close_arg;
};

static inline uint64_t server_ms(double seconds)
{
	return seconds <= 0 ? 0 : (uint64_t)(seconds * 1000.0 + 0.5);
}

/* server.c */
void server_registration_update(server_t *srv);
/* Exactly the bytes the handshake still needs: never read into the data plane that follows. */
size_t server_handshake_need(const handshake_reader_t *r);
/* The read buffer for a handshake (a libuv alloc callback's answer): buf, cut to what the
 * handshake still needs. */
uv_buf_t server_handshake_buf(const handshake_reader_t *r, char *buf, size_t size);
/* The session limit: the smaller of the client's and the server's, 0 meaning none. */
double server_effective_timeout(double client, double server);
/* Fork a session on a matched connection (the session takes tcp). */
void server_start_session(server_t *srv, uv_tcp_t *tcp, const char *peer, double timeout);

/* server_proxy.c: wait at a proxy for a client (docs/control-plane.md §4.7). */
/* Make srv->proxy_dialer and dial; 0 or UV_EINVAL (bad host or port, logged). */
int server_proxy_start(server_t *srv);
/* (Re)connect after `delay` seconds, unless closing or already connected or in a session. */
void server_proxy_schedule(server_t *srv, double delay);
/* The delay the next retry would wait (a failed session waits that long too). */
double server_proxy_backoff(const server_t *srv);
/* Drop the proxy connection and any attempt in flight or scheduled (on close). */
void server_proxy_stop(server_t *srv);
/* SERVER_REG_REGISTERED, _CONNECTING or _RETRYING as the proxy connection stands. */
enum server_registration server_proxy_registration(const server_t *srv);

/* The devices sessions will offer, as one line ("cpu; opencl0: <name>"), probed in a child
 * process unless in_process (server_devices.c). */
void server_probe_devices(int in_process, char *buf, size_t size);

#endif
