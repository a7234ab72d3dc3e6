/* The proxy service: pairs servers and clients by key and relays bytes (docs/control-plane.md §4),
 * optionally registering its servers with a tracker. Runs on a libuv loop. */
#ifndef TVMRPC_PROXY_H
#define TVMRPC_PROXY_H

#include <stdint.h>
#include <uv.h>

typedef struct proxy_options {
	char host[256];            /* bind address, default "0.0.0.0" */
	int port;                  /* default 9090 */
	int port_end;              /* default 9199 */
	char tracker[300];         /* "host:port" of the tracker, empty for standalone mode */
	double timeout_client;     /* seconds a client waits for a server (standalone), default 600 */
	double timeout_server;     /* seconds a server waits for a client (standalone), default 600 */
	int max_connections;       /* default 4096 */
	double handshake_timeout;  /* default 10 */
	char allow[1024];          /* CIDR list; empty allows everyone */
	int web_port;              /* WebSocket port for browser/WASM servers (§4.6); 0 = off */
	uint64_t web_max_frame;    /* largest WebSocket frame accepted, default 64 MiB */
} proxy_options_t;

void proxy_options_default(proxy_options_t *opt);

typedef struct proxy proxy_t;

int proxy_start(uv_loop_t *loop, const proxy_options_t *opt, proxy_t **out);
int proxy_port(const proxy_t *p);
void proxy_close(proxy_t *p, void (*done)(void *arg), void *arg);

/* Apply the settings that can change while running (allow, max_connections,
 * handshake_timeout, timeout_client, timeout_server). Returns 0 or UV_EINVAL with err. */
int proxy_reconfigure(proxy_t *p, const proxy_options_t *opt, char *err, size_t err_size);

#endif
