/* The device server's through-proxy dialer (docs/control-plane.md §4.7): instead of listening,
 * connect out to a proxy, register with the server's key and wait there for a client; the
 * paired connection goes to a session like an accepted one (server.c). Connecting and the
 * doubling back-off are the dialer's (dialer.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/server_internal.h"

#define PROXY_BACKOFF_MIN 0.5
#define PROXY_BACKOFF_MAX 30.0
#define PROXY_CONNECT_TIMEOUT 10.0

struct proxy_conn {
	server_t *srv;        /* NULL once abandoned */
	uv_tcp_t *tcp;
	uv_write_t write_req;
	handshake_reader_t reader;
	uint64_t started_ms;
	uint8_t hello[8 + 160];
	char buf[HANDSHAKE_DEFAULT_MAX_KEY + 8];
};

static void on_proxy_tcp_closed(uv_handle_t *h)
{
	struct proxy_conn *pc = h->data;
	handshake_reader_free(&pc->reader);
	free(pc->tcp);
	free(pc);
}

static void proxy_drop(server_t *srv)
{
	struct proxy_conn *pc = srv->proxy;
	if (!pc)
		return;
	srv->proxy = NULL;
	pc->srv = NULL;
	uv_close((uv_handle_t *)pc->tcp, on_proxy_tcp_closed);
}

void server_proxy_stop(server_t *srv)
{
	proxy_drop(srv);
	if (srv->proxy_dialer)
		dialer_stop(srv->proxy_dialer);
}

static void proxy_fail(server_t *srv, const char *what)
{
	struct proxy_conn *pc = srv->proxy;
	/* A registration that waited long was healthy: start the back-off from the bottom. */
	if (pc && pc->started_ms && uv_now(srv->loop) - pc->started_ms > 30000)
		dialer_backoff_reset(srv->proxy_dialer);
	log_warn("proxy %s:%d: %s; retrying in %.1fs", srv->proxy_host, srv->opt.port, what,
		 dialer_backoff(srv->proxy_dialer));
	server_proxy_stop(srv);
	if (!srv->closing)
		dialer_retry(srv->proxy_dialer);
	server_registration_update(srv);
}

static void on_proxy_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct proxy_conn *pc = h->data;
	*buf = server_handshake_buf(&pc->reader, pc->buf, sizeof pc->buf);
}

static void on_proxy_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct proxy_conn *pc = s->data;
	server_t *srv = pc->srv;
	if (!srv)
		return;
	if (nread < 0) {
		proxy_fail(srv, nread == UV_EOF ? "the proxy closed the connection"
						: uv_strerror((int)nread));
		return;
	}
	size_t used = 0;
	int rc = handshake_feed(&pc->reader, buf->base, (size_t)nread, &used);
	if (rc < 0) {
		proxy_fail(srv, "bad handshake reply");
		return;
	}
	if (rc == 0)
		return;
	uv_read_stop(s);
	int32_t code = pc->reader.first_word;
	if (code == RPC_CODE_DUPLICATE) {
		proxy_fail(srv, "a server with this key already waits there (DUPLICATE)");
		return;
	}
	if (code == RPC_CODE_MISMATCH) {
		proxy_fail(srv, "no client came or the key was refused (MISMATCH)");
		return;
	}
	if (code != RPC_CODE_SUCCESS) {
		proxy_fail(srv, "not a TVM RPC proxy (unknown reply code)");
		return;
	}
	handshake_key_t key;
	char err[128];
	double client_timeout = 0;
	if (handshake_key_parse(pc->reader.key, pc->reader.key_len, &key, err, sizeof err) == 0)
		client_timeout = key.timeout;
	else
		log_warn("proxy: peer key '%.*s': %s; using the server's limits",
			 pc->reader.key_len > 80 ? 80 : (int)pc->reader.key_len, pc->reader.key, err);
	char peer[96];
	snprintf(peer, sizeof peer, "%.60s via proxy", pc->reader.key);
	log_info("proxy paired us with '%.*s'", pc->reader.key_len > 80 ? 80 : (int)pc->reader.key_len,
		 pc->reader.key);
	dialer_backoff_reset(srv->proxy_dialer);
	/* The session takes the socket (the proxy relays the client's bytes on it). */
	uv_tcp_t *tcp = pc->tcp;
	srv->proxy = NULL;
	pc->srv = NULL;
	pc->tcp = NULL;
	handshake_reader_free(&pc->reader);
	free(pc);
	server_start_session(srv, tcp, peer, server_effective_timeout(client_timeout, srv->opt.session_timeout));
}

static void on_proxy_hello_written(uv_write_t *req, int status)
{
	struct proxy_conn *pc = req->data;
	if (!pc->srv)
		return;
	if (status < 0)
		proxy_fail(pc->srv, uv_strerror(status));
}

/* The dialer connected us (or gave up): send the server's handshake and wait for a client. */
static void on_proxy_dialed(void *arg, uv_tcp_t *tcp, int status, const char *why)
{
	server_t *srv = arg;
	if (status < 0) {
		proxy_fail(srv, why);
		return;
	}
	struct proxy_conn *pc = xcalloc(1, sizeof *pc);
	pc->srv = srv;
	pc->tcp = tcp;
	tcp->data = pc;
	handshake_reader_init(&pc->reader, HANDSHAKE_DEFAULT_MAX_KEY, 0);
	srv->proxy = pc;
	net_tune(tcp);
	/* The wait for a client has no limit; keepalive notices a proxy that vanished. */
	uv_tcp_keepalive(tcp, 1, 60);
	pc->started_ms = uv_now(srv->loop);
	size_t n = handshake_encode(pc->hello, sizeof pc->hello, RPC_MAGIC, srv->reply_key);
	uv_buf_t buf = uv_buf_init((char *)pc->hello, (unsigned)n);
	pc->write_req.data = pc;
	int err = uv_write(&pc->write_req, (uv_stream_t *)tcp, &buf, 1, on_proxy_hello_written);
	if (!err)
		err = uv_read_start((uv_stream_t *)tcp, on_proxy_alloc, on_proxy_read);
	if (err) {
		proxy_fail(srv, uv_strerror(err));
		return;
	}
	log_info("proxy %s:%d: registered as %s, waiting for a client", srv->proxy_host,
		 srv->opt.port, srv->reply_key);
	server_registration_update(srv);
}

static void on_proxy_dial_starting(void *arg)
{
	server_registration_update(arg);
}

void server_proxy_schedule(server_t *srv, double delay)
{
	if (srv->closing || srv->proxy || srv->session)
		return;
	dialer_dial_after(srv->proxy_dialer, delay);
}

double server_proxy_backoff(const server_t *srv)
{
	return dialer_backoff(srv->proxy_dialer);
}

int server_proxy_start(server_t *srv)
{
	dialer_options_t opt = {PROXY_CONNECT_TIMEOUT, PROXY_BACKOFF_MIN, PROXY_BACKOFF_MAX};
	dialer_events_t ev = {srv, on_proxy_dialed, on_proxy_dial_starting};
	int err = dialer_init(srv->loop, srv->proxy_host, srv->opt.port, &opt, &ev,
			      &srv->proxy_dialer);
	if (err) {
		log_error("server: cannot dial the proxy at '%s' port %d", srv->proxy_host,
			  srv->opt.port);
		return err;
	}
	dialer_dial(srv->proxy_dialer);
	return 0;
}

enum server_registration server_proxy_registration(const server_t *srv)
{
	return srv->proxy && srv->proxy->started_ms  ? SERVER_REG_REGISTERED
	       : srv->proxy_dialer && dialer_dialing(srv->proxy_dialer) ? SERVER_REG_CONNECTING
									 : SERVER_REG_RETRYING;
}
