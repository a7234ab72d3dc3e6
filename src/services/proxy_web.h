/* The proxy's WebSocket port (proxy_web.c, docs/control-plane.md §4.6). Private to the proxy. */
#ifndef TVMRPC_PROXY_WEB_H
#define TVMRPC_PROXY_WEB_H

#include <stddef.h>
#include <stdint.h>

struct proxy;

/* Listen on opt.web_port (the proxy's host). Returns 0 or a libuv error, logged. */
int proxy_web_start(struct proxy *p);
/* Close the port and its WebSockets; the proxy's close waits (p->pending) until lws is done. */
void proxy_web_stop(struct proxy *p);
/* WebSocket peers open now, binary frames received and sent since start. */
void proxy_web_view(const struct proxy *p, size_t *peers, uint64_t *frames_in,
		    uint64_t *frames_out);

#endif
