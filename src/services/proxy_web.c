/* The proxy's WebSocket port (docs/control-plane.md §4.6): device servers that cannot open raw
 * TCP (TVM's web runtime RPCServer in a browser, TVM's websocket_proxy_server) connect a
 * WebSocket to ws://HOST:WEB_PORT/ws and then speak the same byte stream as a TCP peer, split
 * into binary frames whose boundaries mean nothing.
 *
 * libwebsockets runs on the services' libuv loop (its libuv event library with our loop as a
 * "foreign" loop) and does the HTTP upgrade, the handshake's SHA-1 and the framing. Each
 * WebSocket is bridged to the proxy through a socket pair: the proxy adopts one end as one
 * more peer (proxy_adopt), so handshakes, pairing, tracker mode and relaying are the proxy's
 * own code; this file moves bytes between the other end and the WebSocket:
 *   WebSocket -> pair: each received payload is written to the pair; above WEB_HIGH bytes in
 *   flight, lws stops reading the WebSocket (lws_rx_flow_control) until they drain.
 *   pair -> WebSocket: each read becomes one binary frame, queued until lws says the socket
 *   is writable; above WEB_HIGH bytes queued, reading the pair stops.
 * A text frame, a frame over web_max_frame, a protocol error (lws checks masking) or a close
 * frame ends that peer with one log line; the pair's end then closes, and the proxy sees EOF. */
#include "services/proxy_web.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/dynlib.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "services/net.h"
#include "services/proxy_internal.h"
#include "services/ws_mask.h"

#ifdef TVMRPC_NO_WEB

int proxy_web_start(struct proxy *p)
{
	log_error("proxy: web_port %d: this build has no WebSocket port (board and static builds "
		  "leave libwebsockets out; see docs/control-plane.md §4.6)", p->opt.web_port);
	return UV_ENOTSUP;
}

void proxy_web_stop(struct proxy *p)
{
	(void)p;
}

void proxy_web_view(const struct proxy *p, size_t *peers, uint64_t *frames_in,
		    uint64_t *frames_out)
{
	(void)p;
	*peers = 0;
	*frames_in = *frames_out = 0;
}

#else

#include <libwebsockets.h>

/* libwebsockets is loaded when a proxy first opens its web port (base/dynlib.h): a process
 * without a web port never maps it and the TLS libraries it links. */
#define LWS_API(X)                                                                          \
	X(lws_create_context) X(lws_create_vhost) X(lws_context_destroy)                     \
	X(lws_set_log_level) X(lws_context_user) X(lws_get_context) X(lws_write)             \
	X(lws_callback_on_writable) X(lws_rx_flow_control) X(lws_frame_is_binary)            \
	X(lws_remaining_packet_payload) X(lws_close_reason) X(lws_get_socket_fd)             \
	X(lws_hdr_copy) X(lws_return_http_status) X(lws_http_transaction_completed)          \
	X(lws_callback_http_dummy) X(lws_adopt_socket_vhost)

DYNLIB_TABLE(lws_api, lws_api_load, LWS_API, "libwebsockets.so.17", "libwebsockets.so")

#define WEB_HIGH (1u << 20) /* bytes in flight one way before that way pauses */
#define WEB_LOW (256u << 10) /* ... and resumes */
#define WEB_READ (64u << 10) /* one read from the pair, one frame to the browser */

struct web_frame {
	struct web_frame *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct web_conn {
	struct proxy_web *web;
	struct lws *wsi;       /* NULL once lws closed the WebSocket */
	uv_pipe_t pair;        /* our end of the socket pair */
	uv_shutdown_t shut;
	int pair_open;         /* initialised; its close callback frees us with ws_closed */
	int pair_eof;          /* the proxy closed its end: close the WebSocket once drained */
	int pair_closing;
	int reading;           /* uv_read_start on the pair is active */
	int rx_paused;         /* lws_rx_flow_control(wsi, 0) in effect */
	struct web_frame *head, *tail;
	size_t queued;         /* bytes in frames waiting for the browser */
	size_t to_pair;        /* bytes written to the pair and not completed */
	uint64_t frame_bytes;  /* of the frame being received */
	char name[64];         /* "ws:ADDR:PORT" */
	struct web_conn *prev, *next;
};

struct web_tap;

struct proxy_web {
	struct proxy *proxy;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	struct lws_protocols protocols[2];
	void *foreign_loops[1];
	uv_tcp_t listener;  /* ours: lws adopts each accepted connection through a tap */
	int listener_open;
	uv_timer_t finish; /* polls for the end of lws's asynchronous teardown */
	struct web_conn *conns;
	struct web_tap *taps;
	size_t count;
	uint64_t frames_in, frames_out;
};

struct write_req {
	uv_write_t req;
	struct web_conn *conn;
	size_t len;
	char data[];
};

static void conn_maybe_free(struct web_conn *c)
{
	if (c->wsi || c->pair_open)
		return;
	while (c->head) {
		struct web_frame *f = c->head;
		c->head = f->next;
		free(f);
	}
	struct proxy_web *w = c->web;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->count--;
	free(c);
}

static void on_pair_closed(uv_handle_t *h)
{
	struct web_conn *c = h->data;
	c->pair_open = 0;
	conn_maybe_free(c);
}

static void on_pair_shut(uv_shutdown_t *req, int status)
{
	(void)status;
	uv_close((uv_handle_t *)req->handle, on_pair_closed);
}

/* Close our end; bytes already handed to it still reach the proxy (shutdown first). */
static void pair_close(struct web_conn *c)
{
	if (!c->pair_open || c->pair_closing)
		return;
	c->pair_closing = 1;
	uv_read_stop((uv_stream_t *)&c->pair);
	c->reading = 0;
	if (c->to_pair && uv_shutdown(&c->shut, (uv_stream_t *)&c->pair, on_pair_shut) == 0)
		return;
	uv_close((uv_handle_t *)&c->pair, on_pair_closed);
}

/* ---- pair -> WebSocket ---- */

static void on_pair_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	struct web_frame *f = xmalloc(sizeof *f + LWS_PRE + WEB_READ);
	*buf = uv_buf_init((char *)f->data + LWS_PRE, WEB_READ);
}

static void on_pair_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct web_conn *c = s->data;
	struct web_frame *f = buf->base ? (struct web_frame *)(buf->base - LWS_PRE -
							       offsetof(struct web_frame, data))
					: NULL;
	if (n <= 0) {
		free(f);
		if (n == 0)
			return;
		/* EOF or error: the proxy is done with this peer. */
		c->pair_eof = 1;
		uv_read_stop(s);
		c->reading = 0;
		if (c->wsi)
			lws_api.lws_callback_on_writable(c->wsi);
		else
			pair_close(c);
		return;
	}
	if (!c->wsi) {
		free(f);
		return;
	}
	f->len = (size_t)n;
	f->next = NULL;
	if (c->tail)
		c->tail->next = f;
	else
		c->head = f;
	c->tail = f;
	c->queued += f->len;
	if (c->queued >= WEB_HIGH) {
		uv_read_stop(s);
		c->reading = 0;
	}
	lws_api.lws_callback_on_writable(c->wsi);
}

/* One queued frame to the browser; -1 closes the WebSocket. */
static int conn_writable(struct web_conn *c)
{
	struct web_frame *f = c->head;
	if (f) {
		int n = lws_api.lws_write(c->wsi, f->data + LWS_PRE, f->len, LWS_WRITE_BINARY);
		if (n < (int)f->len) {
			log_info("proxy: %s: WebSocket write failed, closed", c->name);
			return -1;
		}
		c->head = f->next;
		if (!c->head)
			c->tail = NULL;
		c->queued -= f->len;
		c->web->frames_out++;
		free(f);
	}
	if (c->head) {
		lws_api.lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->pair_eof) {
		lws_api.lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (!c->reading && c->queued < WEB_LOW && c->pair_open && !c->pair_closing &&
	    uv_read_start((uv_stream_t *)&c->pair, on_pair_alloc, on_pair_read) == 0)
		c->reading = 1;
	return 0;
}

/* ---- WebSocket -> pair ---- */

static void on_pair_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct web_conn *c = w->conn;
	c->to_pair -= w->len;
	free(w);
	if (status < 0)
		return; /* the proxy closed its end; its read side reports it */
	if (c->rx_paused && c->to_pair < WEB_LOW && c->wsi) {
		c->rx_paused = 0;
		lws_api.lws_rx_flow_control(c->wsi, 1);
	}
}

static int conn_receive(struct web_conn *c, const void *in, size_t len)
{
	if (!lws_api.lws_frame_is_binary(c->wsi)) {
		log_info("proxy: %s: a text frame (only binary frames carry RPC bytes), closed",
			 c->name);
		lws_api.lws_close_reason(c->wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
		return -1;
	}
	uint64_t max = c->web->proxy->opt.web_max_frame;
	size_t left = lws_api.lws_remaining_packet_payload(c->wsi);
	c->frame_bytes += len;
	if (c->frame_bytes + left > max) {
		log_info("proxy: %s: a frame of more than %llu bytes (web_max_frame), closed",
			 c->name, (unsigned long long)max);
		lws_api.lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (left == 0) {
		c->frame_bytes = 0;
		c->web->frames_in++;
	}
	if (!len || c->pair_closing || c->pair_eof)
		return 0;
	uv_buf_t b = uv_buf_init((char *)in, (unsigned)len);
	int n = c->to_pair ? UV_EAGAIN : uv_try_write((uv_stream_t *)&c->pair, &b, 1);
	if (n == (int)len)
		return 0;
	size_t done = n > 0 ? (size_t)n : 0;
	if (n < 0 && n != UV_EAGAIN)
		return 0; /* the proxy closed its end; its read side reports it */
	struct write_req *w = xmalloc(sizeof *w + len - done);
	w->conn = c;
	w->len = len - done;
	memcpy(w->data, (const char *)in + done, w->len);
	b = uv_buf_init(w->data, (unsigned)w->len);
	if (uv_write(&w->req, (uv_stream_t *)&c->pair, &b, 1, on_pair_written) != 0) {
		free(w);
		return 0;
	}
	c->to_pair += w->len;
	if (c->to_pair >= WEB_HIGH && !c->rx_paused) {
		c->rx_paused = 1;
		lws_api.lws_rx_flow_control(c->wsi, 0);
	}
	return 0;
}

/* ---- connection lifecycle ---- */

static const char *tap_name(const struct proxy_web *w, int lws_fd);

static void conn_name(struct proxy_web *w, struct lws *wsi, char *out, size_t size)
{
	const char *name = tap_name(w, lws_api.lws_get_socket_fd(wsi));
	snprintf(out, size, "%s", name ? name : "ws:?");
}

/* A WebSocket that cannot be bridged: forget it (lws closes it when we return -1). */
static int conn_fail(struct web_conn *c, struct web_conn **slot)
{
	*slot = NULL;
	c->wsi = NULL;
	if (c->pair_open)
		pair_close(c);
	else
		conn_maybe_free(c);
	return -1;
}

static int conn_open(struct proxy_web *w, struct lws *wsi, struct web_conn **slot)
{
	struct web_conn *c = xcalloc(1, sizeof *c);
	c->web = w;
	c->wsi = wsi;
	conn_name(w, wsi, c->name, sizeof c->name);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->count++;
	*slot = c;
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
		log_warn("proxy: %s: socketpair: %s, closed", c->name, strerror(errno));
		return conn_fail(c, slot);
	}
	uv_pipe_init(w->proxy->loop, &c->pair, 0);
	c->pair.data = c;
	c->pair_open = 1;
	if (uv_pipe_open(&c->pair, fds[0]) != 0) {
		close(fds[0]);
		close(fds[1]);
		return conn_fail(c, slot);
	}
	log_debug("proxy: %s: WebSocket peer connected", c->name);
	if (proxy_adopt(w->proxy, fds[1], c->name) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pair, on_pair_alloc, on_pair_read) != 0)
		return conn_fail(c, slot);
	c->reading = 1;
	return 0;
}

static void conn_closed(struct web_conn *c)
{
	c->wsi = NULL;
	if (c->pair_open)
		pair_close(c);
	else
		conn_maybe_free(c);
}

/* The path TVM's peers use (proxy.py's handler table, web/src/rpc_server.ts). */
static int path_is_ws(struct lws *wsi)
{
	char uri[64];
	int n = lws_api.lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
	return n > 0 && (strcmp(uri, "/ws") == 0 || strcmp(uri, "/ws/") == 0);
}

static int web_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			void *in, size_t len)
{
	struct web_conn **slot = user;
	struct proxy_web *w = lws_api.lws_context_user(lws_api.lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (!path_is_ws(wsi)) {
			log_info("proxy: web port: WebSocket upgrade on a path other than /ws, "
				 "refused");
			lws_api.lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
					       "tvmrpc: connect a WebSocket to /ws");
			return -1;
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		/* Plain HTTP: TVM's proxy serves its web page here; this one has none. */
		if (lws_api.lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
					   "tvmrpc: connect a WebSocket to /ws"))
			return -1;
		return lws_api.lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		return conn_open(w, wsi, slot);
	case LWS_CALLBACK_RECEIVE:
		return *slot ? conn_receive(*slot, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return *slot ? conn_writable(*slot) : -1;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (*slot)
			log_info("proxy: %s: the peer sent a close frame, closed", (*slot)->name);
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (*slot) {
			conn_closed(*slot);
			*slot = NULL;
		}
		return 0;
	default:
		return lws_api.lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- the tap: the browser's TCP connection <-> the socket pair lws adopted ----
 *
 * libwebsockets reads client frames without checking their mask bit (RFC 6455 §5.1), so the
 * port's own listener accepts each connection and relays its bytes to lws through a socket
 * pair, following the client's frame headers on the way (ws_mask.c). An unmasked frame ends
 * the connection before lws sees it. Both directions pause above WEB_HIGH bytes queued. */

struct web_tap {
	struct proxy_web *web;
	uv_tcp_t client;   /* the browser */
	uv_pipe_t lws_end; /* our end of the pair; lws adopted the other (lws_fd) */
	int lws_fd;
	int handles;       /* open handles (client, lws_end) */
	int closing;
	int eofs;          /* directions that reached EOF */
	ws_mask_t mask;
	uv_shutdown_t shut[2];
	char name[64];     /* "ws:ADDR:PORT" */
	struct web_tap *prev, *next;
};

struct tap_write {
	uv_write_t req;
	struct web_tap *tap;
	uv_stream_t *from;
	char data[];
};

static const char *tap_name(const struct proxy_web *w, int lws_fd)
{
	for (const struct web_tap *t = w->taps; t; t = t->next)
		if (t->lws_fd == lws_fd)
			return t->name;
	return NULL;
}

static void on_tap_closed(uv_handle_t *h)
{
	struct web_tap *t = h->data;
	if (--t->handles > 0)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		t->web->taps = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

static void tap_close(struct web_tap *t)
{
	if (t->closing)
		return;
	t->closing = 1;
	uv_close((uv_handle_t *)&t->client, on_tap_closed);
	uv_close((uv_handle_t *)&t->lws_end, on_tap_closed);
}

static uv_stream_t *tap_other(struct web_tap *t, uv_stream_t *s)
{
	return s == (uv_stream_t *)&t->client ? (uv_stream_t *)&t->lws_end
					      : (uv_stream_t *)&t->client;
}

static void on_tap_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	struct tap_write *w = xmalloc(sizeof *w + WEB_READ);
	*buf = uv_buf_init(w->data, WEB_READ);
}

static void on_tap_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_tap_written(uv_write_t *req, int status)
{
	struct tap_write *w = (struct tap_write *)req;
	struct web_tap *t = w->tap;
	uv_stream_t *from = w->from;
	free(w);
	if (status < 0) {
		tap_close(t);
		return;
	}
	if (!t->closing && !uv_is_active((uv_handle_t *)from) &&
	    uv_stream_get_write_queue_size(tap_other(t, from)) < WEB_LOW && uv_is_readable(from))
		uv_read_start(from, on_tap_alloc, on_tap_read);
}

static void on_tap_shut(uv_shutdown_t *req, int status)
{
	struct web_tap *t = req->data;
	if (status < 0 || ++t->eofs == 2)
		tap_close(t);
}

static void on_tap_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct web_tap *t = s->data;
	struct tap_write *w = buf->base ? (struct tap_write *)(buf->base -
							     offsetof(struct tap_write, data))
					: NULL;
	if (n == 0 || t->closing) {
		free(w);
		return;
	}
	uv_stream_t *to = tap_other(t, s);
	if (n < 0) {
		free(w);
		uv_read_stop(s);
		/* EOF: pass it on once what is queued is written; errors end both sides. */
		uv_shutdown_t *sh = &t->shut[s == (uv_stream_t *)&t->client];
		sh->data = t;
		if (n != UV_EOF || uv_shutdown(sh, to, on_tap_shut) != 0)
			tap_close(t);
		return;
	}
	if (s == (uv_stream_t *)&t->client &&
	    ws_mask_feed(&t->mask, (const uint8_t *)buf->base, (size_t)n) != 0) {
		free(w);
		log_info("proxy: %s: an unmasked frame from a client (RFC 6455 5.1), closed",
			 t->name);
		tap_close(t);
		return;
	}
	w->tap = t;
	w->from = s;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, to, &b, 1, on_tap_written) != 0) {
		free(w);
		tap_close(t);
		return;
	}
	if (uv_stream_get_write_queue_size(to) >= WEB_HIGH)
		uv_read_stop(s);
}

static void on_web_connection(uv_stream_t *server, int status)
{
	struct proxy_web *w = server->data;
	if (status < 0)
		return;
	struct web_tap *t = xcalloc(1, sizeof *t);
	t->web = w;
	t->lws_fd = -1;
	ws_mask_init(&t->mask);
	uv_tcp_init(w->proxy->loop, &t->client);
	uv_pipe_init(w->proxy->loop, &t->lws_end, 0);
	t->client.data = t->lws_end.data = t;
	t->handles = 2;
	t->next = w->taps;
	if (w->taps)
		w->taps->prev = t;
	w->taps = t;
	if (uv_accept(server, (uv_stream_t *)&t->client) != 0) {
		tap_close(t);
		return;
	}
	char peer[56];
	net_peer_name(&t->client, peer, sizeof peer);
	snprintf(t->name, sizeof t->name, "ws:%s", peer);
	if (!net_acl_allows_handle(&w->proxy->acl, &t->client)) {
		w->proxy->refused++;
		log_info("proxy: %s: not in the allow list, closed", t->name);
		tap_close(t);
		return;
	}
	net_tune(&t->client);
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
		log_warn("proxy: %s: socketpair: %s, closed", t->name, strerror(errno));
		tap_close(t);
		return;
	}
	if (uv_pipe_open(&t->lws_end, fds[0]) != 0) {
		close(fds[0]);
		close(fds[1]);
		tap_close(t);
		return;
	}
	t->lws_fd = fds[1];
	if (!lws_api.lws_adopt_socket_vhost(w->vhost, fds[1])) {
		close(fds[1]);
		tap_close(t);
		return;
	}
	uv_read_start((uv_stream_t *)&t->client, on_tap_alloc, on_tap_read);
	uv_read_start((uv_stream_t *)&t->lws_end, on_tap_alloc, on_tap_read);
}

static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warn("proxy: web port: libwebsockets: %.*s", (int)n, line);
	else
		log_debug("proxy: web port: libwebsockets: %.*s", (int)n, line);
}

/* lws would stop the loop on SIGINT; the services handle their own signals. */
static void lws_signal(void *handle, int signum)
{
	(void)handle;
	(void)signum;
}

int proxy_web_start(struct proxy *p)
{
	char err[256];
	if (lws_api_load(err, sizeof err) != 0) {
		log_error("proxy: web_port %d: %s (install libwebsockets17 and "
			  "libwebsockets-evlib-uv)", p->opt.web_port, err);
		return UV_ENOTSUP;
	}
	struct proxy_web *w = xcalloc(1, sizeof *w);
	w->proxy = p;
	w->protocols[0].name = "tvm-rpc";
	w->protocols[0].callback = web_callback;
	w->protocols[0].per_session_data_size = sizeof(struct web_conn *);
	w->protocols[0].rx_buffer_size = WEB_READ;
	w->foreign_loops[0] = p->loop;
	lws_api.lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* our listener hands it connections */
	info.protocols = w->protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.foreign_loops = w->foreign_loops;
	info.signal_cb = lws_signal;
	info.user = w;
	info.pcontext = &w->ctx;
	info.timeout_secs = (unsigned)(p->opt.handshake_timeout > 1 ? p->opt.handshake_timeout : 1);
	w->ctx = lws_api.lws_create_context(&info);
	if (!w->ctx) {
		log_error("proxy: cannot start libwebsockets for the WebSocket port (is its libuv "
			  "event library, libwebsockets-evlib-uv, installed?)");
		free(w);
		return UV_ENOTSUP;
	}
	p->web = w;
	uv_tcp_init(p->loop, &w->listener);
	w->listener.data = w;
	w->listener_open = 1;
	w->vhost = lws_api.lws_create_vhost(w->ctx, &info);
	int port = w->vhost ? net_listen_range(&w->listener, p->opt.host, p->opt.web_port,
					       p->opt.web_port + 1, 128, on_web_connection)
			    : UV_ENOMEM;
	if (port < 0) {
		log_error("proxy: cannot listen for WebSockets on %s port %d: %s", p->opt.host,
			  p->opt.web_port, uv_strerror(port));
		proxy_web_stop(p);
		return port;
	}
	log_info("proxy: WebSocket port %s:%d (path /ws)", p->opt.host, p->opt.web_port);
	return 0;
}

static void on_finish_closed(uv_handle_t *h)
{
	struct proxy_web *w = h->data;
	struct proxy *p = w->proxy;
	free(w);
	proxy_pending_done(p);
}

static void count_closing(uv_handle_t *h, void *arg)
{
	if (uv_is_closing(h))
		++*(int *)arg;
}

/* libwebsockets 4.1 on a foreign loop: lws_context_destroy() closes every wsi, whose close
 * callbacks close lws's own timer and idle handles, and then nothing finishes the context
 * (later releases do it themselves). Once no handle on the loop is still closing, the
 * second lws_context_destroy() frees it (and clears w->ctx through info.pcontext). */
static void on_finish_tick(uv_timer_t *h)
{
	struct proxy_web *w = h->data;
	int closing = 0;
	uv_walk(h->loop, count_closing, &closing);
	if (w->conns || w->taps || w->listener_open || closing)
		return;
	if (w->ctx)
		lws_api.lws_context_destroy(w->ctx);
	if (w->ctx) {
		log_warn("proxy: web port: libwebsockets did not finish closing");
		return;
	}
	uv_timer_stop(h);
	uv_close((uv_handle_t *)h, on_finish_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct proxy_web *w = h->data;
	w->listener_open = 0;
}

void proxy_web_stop(struct proxy *p)
{
	struct proxy_web *w = p->web;
	if (!w)
		return;
	p->web = NULL;
	p->pending++;
	if (w->listener_open)
		uv_close((uv_handle_t *)&w->listener, on_listener_closed);
	for (struct web_tap *t = w->taps; t; t = t->next)
		tap_close(t);
	lws_api.lws_context_destroy(w->ctx);
	uv_timer_init(p->loop, &w->finish);
	w->finish.data = w;
	uv_timer_start(&w->finish, on_finish_tick, 10, 10);
}

void proxy_web_view(const struct proxy *p, size_t *peers, uint64_t *frames_in,
		    uint64_t *frames_out)
{
	const struct proxy_web *w = p->web;
	*peers = w ? w->count : 0;
	*frames_in = w ? w->frames_in : 0;
	*frames_out = w ? w->frames_out : 0;
}

#endif
