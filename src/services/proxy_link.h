/* A paired link: two connected TCP sockets whose bytes are relayed verbatim both ways with
 * bounded memory (splice through a pipe per direction; a full pipe stops reading the side
 * that fills it). Used by the proxy once a client and a server are paired; knows nothing of
 * keys or roles. Linux only (splice). splice cannot pass MSG_NOSIGNAL: the process must ignore
 * SIGPIPE (headless and the UI do), or a peer that resets mid-write kills it. */
#ifndef TVMRPC_PROXY_LINK_H
#define TVMRPC_PROXY_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Scratch buffers (reads dropped after the partner left). */
#define PROXY_LINK_BUFFER_SIZE (256 * 1024)
/* Pipe size asked for per direction: bytes read from one side and not yet written to the
 * other. Past it the reading side is left unread until the other side drains. */
#define PROXY_LINK_PIPE_SIZE (1024 * 1024)
/* Upper bound on the bytes a link queues towards one side (pipe + first bytes). */
#define PROXY_LINK_WRITE_BOUND (4 * 1024 * 1024)
/* How long a side may take to drain after its partner left before it is cut. */
#define PROXY_LINK_LINGER_MS 30000

/* Scratch buffers of PROXY_LINK_BUFFER_SIZE shared by the links of one loop: a few are kept for
 * reuse, the rest go back to malloc. Owned by whoever owns the links; freed after them. */
typedef struct proxy_link_pool {
	void *free[16];
	size_t count;
} proxy_link_pool_t;

void proxy_link_pool_free(proxy_link_pool_t *pool);

typedef struct proxy_link proxy_link_t;

/* Called once, after both streams are closed; the link is freed when it returns. */
typedef void (*proxy_link_closed_cb)(proxy_link_t *link, void *arg);

/* Side 0 and side 1 of a link. The proxy puts the client on side 0, the server on side 1. */
typedef struct proxy_link_side_stats {
	uint64_t bytes_in; /* read from this side and forwarded to the other */
	size_t queued;     /* bytes queued for writing to this side (in its pipe), not yet written */
	int paused;        /* not read: the other side is not taking bytes (back-pressure) */
	int open;          /* stream not yet closed */
} proxy_link_side_stats_t;

/* Take ownership of two open, connected TCP handles (allocated with malloc, not reading,
 * no writes pending; the link keeps a dup of each socket and closes and frees the handles). first[i] (may be empty) is written to side i before any
 * relayed byte: the handshake reply and any bytes the partner sent before pairing.
 * Never fails; errors show up as a link that closes at once (closed_cb runs later, never
 * from inside this call). */
proxy_link_t *proxy_link_start(uv_loop_t *loop, proxy_link_pool_t *pool, uv_tcp_t *side0,
			       uv_tcp_t *side1, const uv_buf_t first[2],
			       proxy_link_closed_cb closed_cb, void *arg);

/* Close both sides now (pending writes are dropped); closed_cb follows. */
void proxy_link_close(proxy_link_t *link);

void proxy_link_stats(const proxy_link_t *link, int side, proxy_link_side_stats_t *out);
/* 1 once one side has gone and the link is only draining the other. */
int proxy_link_closing(const proxy_link_t *link);
/* The side that ended first (-1 while both are up) and its status in *err (UV_EOF for a
 * clean close). */
int proxy_link_end(const proxy_link_t *link, int *err);

#endif
