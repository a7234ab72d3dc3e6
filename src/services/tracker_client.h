/* The one blocking tracker client (docs/control-plane.md §2): connect and every read/write
 * bounded by a timeout, the magic exchange, one JSON request and its reply, and the REQUEST
 * for a device. Used by `--query` (tracker_query.c) and by `--run` (rpc_client_request).
 * Works with our tracker and with TVM's. The asynchronous clients on a libuv loop share
 * tracker_conn.c instead (registration: tracker_link.c; the console's --attach:
 * tracker_watch.c). */
#ifndef TVMRPC_TRACKER_CLIENT_H
#define TVMRPC_TRACKER_CLIENT_H

#include <cJSON.h>
#include <stddef.h>

/* Results besides 0. The connection is unusable after any of them. */
#define TRACKER_CLIENT_ERR_IO (-1)       /* cannot connect, send or receive */
#define TRACKER_CLIENT_ERR_TIMEOUT (-2)  /* the timeout passed first */
#define TRACKER_CLIENT_ERR_PROTOCOL (-3) /* not a tracker, a bad frame or a refusal */

typedef struct tracker_client {
	int fd;
	double timeout; /* seconds for connect and for each call; <= 0 waits for ever */
} tracker_client_t;

/* Connect to host:port (name, IPv4 or IPv6) and exchange the tracker magic. Returns 0, or
 * TRACKER_CLIENT_ERR_* with a message in err ("connection refused", "no answer within 3 s",
 * "not a working RPC tracker"...). */
int tracker_client_connect(tracker_client_t *c, const char *host, int port, double timeout,
			   char *err, size_t err_size);
/* Send one request and wait for its reply, both within c->timeout. Returns 0 with *reply set
 * (caller frees), or TRACKER_CLIENT_ERR_* with err. */
int tracker_client_call(tracker_client_t *c, const cJSON *request, cJSON **reply, char *err,
			size_t err_size);
/* REQUEST a device of `key` at `priority` (larger first) and wait up to wait_timeout seconds
 * (0 = for ever) for the assignment [0, [addr, port, matchkey]]. Returns 0 with addr, port
 * and match filled, TRACKER_CLIENT_ERR_TIMEOUT ("no free 'KEY' device within N s"), or
 * another TRACKER_CLIENT_ERR_* with err. c->timeout is left as it was. */
int tracker_client_request(tracker_client_t *c, const char *key, int priority,
			   double wait_timeout, char *addr, size_t addr_size, int *port,
			   char *match, size_t match_size, char *err, size_t err_size);
void tracker_client_close(tracker_client_t *c);

#endif
