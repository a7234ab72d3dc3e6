/* The proxy (docs/control-plane.md §4): reads the RPC handshake of servers and clients, pairs them
 * by match key and hands each pair to proxy_link.c, which relays the bytes. In tracker mode
 * the waiting servers are offered to a tracker under private match keys (proxy_tracker.c).
 * Everything runs on one libuv loop, with no blocking call. */
#include "services/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/handshake.h"
#include "services/net.h"
#include "services/proxy_internal.h"
#include "services/proxy_web.h"
#include "services/tracker_codec.h"

void proxy_options_default(proxy_options_t *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "0.0.0.0");
	o->port = 9090;
	o->port_end = 9199;
	o->timeout_client = 600;
	o->timeout_server = 600;
	o->max_connections = 4096;
	o->handshake_timeout = 10;
	o->web_max_frame = 64ull << 20;
}

double proxy_wall_now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

void proxy_text_safe(char *out, size_t size, const char *in, size_t len)
{
	/* Peer keys go into logs and the console: only printable ASCII, so a key cannot forge
	 * log lines or send terminal escapes. */
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (len >= size && size > 4) {
		memcpy(out + size - 4, "...", 3);
		n = size - 1;
	}
	out[n] = '\0';
}

static uint64_t seconds_to_ms(double s)
{
	return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5);
}

/* ---- lists ---- */

void proxy_peer_list_remove(struct proxy_peer *peer)
{
	struct proxy_peer_list *list = peer->list;
	if (!list)
		return;
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		list->head = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		list->tail = peer->prev;
	list->count--;
	peer->prev = peer->next = NULL;
	peer->list = NULL;
}

/* Append: waiting lists are served oldest first (FIFO). */
void proxy_peer_list_append(struct proxy_peer_list *list, struct proxy_peer *peer)
{
	proxy_peer_list_remove(peer);
	peer->list = list;
	peer->next = NULL;
	peer->prev = list->tail;
	if (list->tail)
		list->tail->next = peer;
	else
		list->head = peer;
	list->tail = peer;
	list->count++;
}

/* ---- finishing proxy_close ---- */

static void proxy_maybe_finish(struct proxy *p)
{
	if (!p->closing || p->pending > 0)
		return;
	if (p->tracker_mode)
		proxy_tracker_free(p);
	net_acl_free(&p->acl);
	proxy_link_pool_free(&p->pool);
	void (*done)(void *) = p->close_done;
	void *arg = p->close_arg;
	free(p);
	if (done)
		done(arg);
}

void proxy_pending_done(struct proxy *p)
{
	p->pending--;
	proxy_maybe_finish(p);
}

/* ---- peers (connections not paired yet) ---- */

static void peer_release(struct proxy_peer *peer)
{
	if (--peer->handles > 0)
		return;
	struct proxy *p = peer->proxy;
	handshake_reader_free(&peer->reader);
	free(peer->key);
	free(peer->early);
	free(peer);
	proxy_pending_done(p);
}

static void on_peer_tcp_closed(uv_handle_t *handle)
{
	struct proxy_peer *peer = handle->data;
	free(handle);
	peer_release(peer);
}

static void on_peer_timer_closed(uv_handle_t *handle)
{
	peer_release(handle->data);
}

/* Forget the peer; its socket (if still ours) is closed. */
static void peer_close(struct proxy_peer *peer)
{
	if (peer->closed)
		return;
	struct proxy *p = peer->proxy;
	peer->closed = 1;
	if (peer->state == PEER_WAITING && peer->parsed.role == HANDSHAKE_ROLE_SERVER &&
	    p->tracker_mode)
		proxy_tracker_server_left(p, peer);
	proxy_peer_list_remove(peer);
	if (peer->tcp) {
		uv_close((uv_handle_t *)peer->tcp, on_peer_tcp_closed);
		peer->tcp = NULL;
		p->connections--;
	} else {
		peer->handles--;
	}
	uv_close((uv_handle_t *)&peer->timer, on_peer_timer_closed);
}

static void on_reply_written(uv_write_t *req, int status)
{
	struct proxy_peer *peer = req->data;
	(void)status;
	peer_close(peer);
}

/* Send a bare MISMATCH, then close. */
void proxy_peer_refuse(struct proxy_peer *peer, const char *why)
{
	struct proxy *p = peer->proxy;
	if (peer->closed || peer->state == PEER_REFUSING)
		return;
	char key[128] = "no key";
	if (peer->key)
		proxy_text_safe(key, sizeof key, peer->key, peer->key_len);
	log_info("proxy: %s (%s): %s, sent MISMATCH", peer->name, key, why);
	p->mismatched++;
	proxy_peer_list_remove(peer);
	if (peer->state == PEER_WAITING && peer->parsed.role == HANDSHAKE_ROLE_SERVER &&
	    p->tracker_mode)
		proxy_tracker_server_left(p, peer);
	peer->state = PEER_REFUSING;
	proxy_peer_list_append(&p->refusing, peer);
	uv_timer_stop(&peer->timer);
	uv_read_stop((uv_stream_t *)peer->tcp);
	tracker_put_i32(peer->reply, RPC_CODE_MISMATCH);
	uv_buf_t b = uv_buf_init((char *)peer->reply, 4);
	peer->write.data = peer;
	if (uv_write(&peer->write, (uv_stream_t *)peer->tcp, &b, 1, on_reply_written) != 0)
		peer_close(peer);
}

static void peer_drop(struct proxy_peer *peer, const char *why)
{
	log_info("proxy: %s: %s, closed", peer->name, why);
	peer_close(peer);
}

/* ---- links ---- */

static void on_link_closed(proxy_link_t *link, void *arg)
{
	struct proxy_pair *pair = arg;
	struct proxy *p = pair->proxy;
	proxy_link_side_stats_t c, s;
	proxy_link_stats(link, 0, &c);
	proxy_link_stats(link, 1, &s);
	int err = 0;
	int side = proxy_link_end(link, &err);
	p->bytes_c2s_closed += c.bytes_in;
	p->bytes_s2c_closed += s.bytes_in;
	log_info("proxy: link %s closed by the %s (%s): %llu bytes client->server, %llu bytes "
		 "server->client",
		 pair->key, side == 1 ? "server" : side == 0 ? "client" : "proxy",
		 side < 0 ? "shutdown" : err == UV_EOF ? "EOF" : uv_strerror(err),
		 (unsigned long long)c.bytes_in, (unsigned long long)s.bytes_in);
	if (pair->prev)
		pair->prev->next = pair->next;
	else
		p->pairs = pair->next;
	if (pair->next)
		pair->next->prev = pair->prev;
	else
		p->pairs_tail = pair->prev;
	p->connections -= 2;
	p->link_count--;
	free(pair);
	proxy_pending_done(p);
}

static size_t reply_encode(uint8_t *buf, const struct proxy_peer *partner)
{
	tracker_put_i32(buf, RPC_CODE_SUCCESS);
	tracker_put_i32(buf + 4, (int32_t)partner->key_len);
	memcpy(buf + 8, partner->key, partner->key_len);
	if (partner->early_len)
		memcpy(buf + 8 + partner->key_len, partner->early, partner->early_len);
	return 8 + partner->key_len + partner->early_len;
}

/* Pair a client and a server: each gets SUCCESS + the other's full key (the server thus
 * learns the client's -timeout), then the link relays everything else. */
void proxy_pair(struct proxy *p, struct proxy_peer *client, struct proxy_peer *server,
		const char *key)
{
	struct proxy_pair *pair = xcalloc(1, sizeof *pair);
	pair->proxy = p;
	proxy_text_safe(pair->key, sizeof pair->key, key, strlen(key));
	snprintf(pair->client, sizeof pair->client, "%s", client->name);
	snprintf(pair->server, sizeof pair->server, "%s", server->name);
	pair->started = proxy_wall_now();

	uint8_t *to_client = xmalloc(8 + server->key_len + server->early_len);
	uint8_t *to_server = xmalloc(8 + client->key_len + client->early_len);
	uv_buf_t first[2];
	first[0] = uv_buf_init((char *)to_client, (unsigned int)reply_encode(to_client, server));
	first[1] = uv_buf_init((char *)to_server, (unsigned int)reply_encode(to_server, client));

	log_info("proxy: paired %s: client %s <-> server %s", pair->key, client->name, server->name);
	uv_tcp_t *ct = client->tcp, *st = server->tcp;
	uv_read_stop((uv_stream_t *)ct);
	uv_read_stop((uv_stream_t *)st);
	/* The sockets move to the link; the peers are forgotten without closing them. */
	client->tcp = server->tcp = NULL;
	peer_close(client);
	peer_close(server);

	pair->prev = p->pairs_tail;
	if (p->pairs_tail)
		p->pairs_tail->next = pair;
	else
		p->pairs = pair;
	p->pairs_tail = pair;
	p->link_count++;
	p->paired++;
	p->pending++;
	pair->link = proxy_link_start(p->loop, &p->pool, ct, st, first, on_link_closed, pair);
	free(to_client);
	free(to_server);
}

/* ---- standalone pairing ---- */

static struct proxy_peer *waiting_find(const struct proxy_peer_list *list, const char *match)
{
	for (struct proxy_peer *w = list->head; w; w = w->next)
		if (strcmp(w->parsed.match, match) == 0)
			return w;
	return NULL;
}

static void on_wait_expired(uv_timer_t *timer)
{
	struct proxy_peer *peer = timer->data;
	proxy_peer_refuse(peer, peer->parsed.role == HANDSHAKE_ROLE_SERVER
				 ? "no client came in time"
				 : "no server came in time");
}

static void standalone_register(struct proxy *p, struct proxy_peer *peer)
{
	int is_server = peer->parsed.role == HANDSHAKE_ROLE_SERVER;
	struct proxy_peer_list *mine = is_server ? &p->waiting_servers : &p->waiting_clients;
	struct proxy_peer_list *theirs = is_server ? &p->waiting_clients : &p->waiting_servers;
	struct proxy_peer *partner = waiting_find(theirs, peer->parsed.match);
	if (partner) {
		if (is_server)
			proxy_pair(p, partner, peer, peer->parsed.match);
		else
			proxy_pair(p, peer, partner, peer->parsed.match);
		return;
	}
	/* Unlike TVM, any number of peers may wait on one key (FIFO); no DUPLICATE. */
	proxy_peer_list_append(mine, peer);
	double t = is_server ? p->opt.timeout_server : p->opt.timeout_client;
	uv_timer_start(&peer->timer, on_wait_expired, seconds_to_ms(t), 0);
	char key[128];
	proxy_text_safe(key, sizeof key, peer->parsed.match, strlen(peer->parsed.match));
	log_info("proxy: %s waits as %s for key %s", peer->name, is_server ? "server" : "client",
		 key);
}

/* ---- handshake ---- */

static void peer_registered(struct proxy_peer *peer)
{
	struct proxy *p = peer->proxy;
	char err[160];
	if (handshake_key_parse(peer->key, peer->key_len, &peer->parsed, err, sizeof err) != 0) {
		p->bad_handshakes++;
		proxy_peer_refuse(peer, err);
		return;
	}
	if (peer->parsed.role == HANDSHAKE_ROLE_OTHER) {
		p->bad_handshakes++;
		proxy_peer_refuse(peer, "key must start with 'client:' or 'server:'");
		return;
	}
	uv_timer_stop(&peer->timer);
	proxy_peer_list_remove(peer);
	peer->state = PEER_WAITING;
	peer->since = proxy_wall_now();
	if (p->tracker_mode)
		proxy_tracker_register(p, peer);
	else
		standalone_register(peer->proxy, peer);
}

static int peer_keep_early(struct proxy_peer *peer, const char *data, size_t len)
{
	if (!len)
		return 0;
	if (peer->early_len + len > PROXY_EARLY_MAX)
		return -1;
	if (!peer->early)
		peer->early = xmalloc(PROXY_EARLY_MAX);
	memcpy(peer->early + peer->early_len, data, len);
	peer->early_len += len;
	return 0;
}

static void on_peer_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct proxy_peer *peer = handle->data;
	(void)suggested;
	/* Consumed before the next read on this loop, so one scratch buffer serves all peers. */
	buf->base = peer->proxy->scratch;
	buf->len = sizeof peer->proxy->scratch;
}

static void on_peer_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct proxy_peer *peer = stream->data;
	struct proxy *p = peer->proxy;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (peer->state == PEER_HANDSHAKE && nread == UV_EOF && !peer->reader.header_have) {
			/* Connected and left without a byte: a port probe or health check. */
			log_debug("proxy: %s: closed without sending anything", peer->name);
			peer_close(peer);
			return;
		}
		if (peer->state == PEER_HANDSHAKE)
			p->bad_handshakes++;
		peer_drop(peer, peer->state == PEER_WAITING
					? "left while waiting (forgotten)"
					: nread == UV_EOF ? "left during the handshake"
							  : uv_strerror((int)nread));
		return;
	}
	net_quickack((uv_tcp_t *)stream);
	const char *data = buf->base;
	size_t len = (size_t)nread;
	if (peer->state == PEER_HANDSHAKE) {
		size_t used = 0;
		int rc = handshake_feed(&peer->reader, data, len, &used);
		if (rc < 0) {
			p->bad_handshakes++;
			peer_drop(peer, rc == HANDSHAKE_ERR_MAGIC ? "bad magic"
					: rc == HANDSHAKE_ERR_LENGTH ? "bad key length"
								     : "out of memory");
			return;
		}
		if (rc == 0)
			return;
		peer->key = peer->reader.key;
		peer->key_len = peer->reader.key_len;
		peer->reader.key = NULL;
		if (peer_keep_early(peer, data + used, len - used) != 0) {
			p->bad_handshakes++;
			peer_drop(peer, "too many bytes before pairing");
			return;
		}
		peer_registered(peer);
		return;
	}
	if (peer->state == PEER_WAITING && peer_keep_early(peer, data, len) != 0)
		peer_drop(peer, "too many bytes before pairing");
}

static void on_handshake_timeout(uv_timer_t *timer)
{
	struct proxy_peer *peer = timer->data;
	peer->proxy->bad_handshakes++;
	peer_drop(peer, "handshake not completed in time");
}

static void on_refused_closed(uv_handle_t *handle)
{
	free(handle);
}

static int peer_begin(struct proxy *p, uv_tcp_t *tcp, const char *name);

static void on_connection(uv_stream_t *server, int status)
{
	struct proxy *p = server->data;
	if (status < 0) {
		/* A persistent error (out of descriptors) repeats on every loop turn: log it at
		 * most once a second. */
		uint64_t now = uv_now(p->loop);
		if (!p->accept_error_ms || now - p->accept_error_ms >= 1000) {
			log_warn("proxy: accept failed: %s", uv_strerror(status));
			p->accept_error_ms = now;
		}
		return;
	}
	uv_tcp_t *tcp = xmalloc(sizeof *tcp);
	uv_tcp_init(p->loop, tcp);
	if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
		uv_close((uv_handle_t *)tcp, on_refused_closed);
		return;
	}
	char name[64];
	net_peer_name(tcp, name, sizeof name);
	if (!net_acl_allows_handle(&p->acl, tcp)) {
		p->refused++;
		log_info("proxy: %s: not in the allow list, closed", name);
		uv_close((uv_handle_t *)tcp, on_refused_closed);
		return;
	}
	peer_begin(p, tcp, name);
}

/* A WebSocket peer of the web port (proxy_web.c): its bytes arrive on one end of a socket
 * pair, which joins the proxy like an accepted connection (the allow list was checked on
 * the WebSocket's own address). Returns 0, or -1 with fd closed. */
int proxy_adopt(struct proxy *p, int fd, const char *name)
{
	uv_tcp_t *tcp = xmalloc(sizeof *tcp);
	uv_tcp_init(p->loop, tcp);
	if (p->closing || uv_tcp_open(tcp, fd) != 0) {
		close(fd);
		uv_close((uv_handle_t *)tcp, on_refused_closed);
		return -1;
	}
	return peer_begin(p, tcp, name);
}

/* Every accepted (or adopted) connection: the connection limit, then the handshake. Returns
 * 0, or -1 when the limit refused (and closed) it. */
static int peer_begin(struct proxy *p, uv_tcp_t *tcp, const char *name)
{
	if (p->connections >= (size_t)p->opt.max_connections) {
		p->refused++;
		log_warn("proxy: %s: max_connections (%d) reached, closed", name,
			 p->opt.max_connections);
		uv_close((uv_handle_t *)tcp, on_refused_closed);
		return -1;
	}
	p->accepted++;
	p->connections++;
	net_tune(tcp);
	/* Waiting servers may sit idle for hours; keepalive notices one that vanished silently. */
	uv_tcp_keepalive(tcp, 1, 60);
	struct proxy_peer *peer = xcalloc(1, sizeof *peer);
	peer->proxy = p;
	peer->tcp = tcp;
	peer->handles = 2;
	peer->state = PEER_HANDSHAKE;
	snprintf(peer->name, sizeof peer->name, "%s", name);
	handshake_reader_init(&peer->reader, HANDSHAKE_DEFAULT_MAX_KEY, 1);
	tcp->data = peer;
	uv_timer_init(p->loop, &peer->timer);
	peer->timer.data = peer;
	p->pending++;
	proxy_peer_list_append(&p->handshaking, peer);
	uv_timer_start(&peer->timer, on_handshake_timeout, seconds_to_ms(p->opt.handshake_timeout),
		       0);
	int err = uv_read_start((uv_stream_t *)tcp, on_peer_alloc, on_peer_read);
	if (err)
		peer_drop(peer, uv_strerror(err));
	return 0;
}

/* ---- service API ---- */

static void proxy_listener_closed(uv_handle_t *handle)
{
	proxy_pending_done(handle->data);
}

int proxy_start(uv_loop_t *loop, const proxy_options_t *opt, proxy_t **out)
{
	*out = NULL;
	struct proxy *p = xcalloc(1, sizeof *p);
	p->loop = loop;
	p->opt = *opt;
	char err[160];
	if (net_acl_parse(&p->acl, opt->allow, err, sizeof err) != 0) {
		log_error("proxy: allow: %s", err);
		free(p);
		return UV_EINVAL;
	}
	p->tracker_mode = opt->tracker[0] != '\0';
	if (p->tracker_mode && proxy_tracker_check(p) != 0) {
		net_acl_free(&p->acl);
		free(p);
		return UV_EINVAL;
	}
	uv_tcp_init(loop, &p->listener);
	p->listener.data = p;
	int err_code;
	int port = net_listen_range(&p->listener, opt->host, opt->port, opt->port_end, 128,
				    on_connection);
	if (port < 0) {
		log_error("proxy: cannot listen on %s port %d..%d: %s", opt->host, opt->port,
			  opt->port_end > opt->port ? opt->port_end - 1 : opt->port,
			  uv_strerror(port));
		/* Let the closing handle go before freeing: run the loop's close callbacks. */
		p->closing = 1;
		p->pending = 1;
		uv_close((uv_handle_t *)&p->listener, proxy_listener_closed);
		return port;
	}
	p->port = port;
	log_info("proxy: listening on %s:%d%s%s", opt->host, port,
		 p->tracker_mode ? ", tracker " : " (standalone)",
		 p->tracker_mode ? opt->tracker : "");
	if (opt->web_port && (err_code = proxy_web_start(p)) != 0) {
		p->closing = 1;
		p->pending++; /* the listener (and the web port's teardown may be pending too) */
		uv_close((uv_handle_t *)&p->listener, proxy_listener_closed);
		return err_code;
	}
	if (p->tracker_mode)
		proxy_tracker_start(p);
	*out = p;
	return 0;
}


int proxy_port(const proxy_t *p)
{
	return p ? p->port : -1;
}

static void close_list(struct proxy_peer_list *list)
{
	while (list->head)
		peer_close(list->head);
}

void proxy_close(proxy_t *p, void (*done)(void *arg), void *arg)
{
	if (!p || p->closing)
		return;
	p->closing = 1;
	p->close_done = done;
	p->close_arg = arg;
	p->pending++; /* the listener */
	uv_close((uv_handle_t *)&p->listener, proxy_listener_closed);
	proxy_web_stop(p);
	if (p->tracker_mode)
		proxy_tracker_stop(p);
	close_list(&p->handshaking);
	close_list(&p->waiting_servers);
	close_list(&p->waiting_clients);
	close_list(&p->refusing);
	for (struct proxy_pair *pair = p->pairs; pair; pair = pair->next)
		proxy_link_close(pair->link);
}

/* ---- view ---- */

void proxy_view_counts(const proxy_t *p, proxy_view_counts_t *out)
{
	memset(out, 0, sizeof *out);
	out->port = p->port;
	out->tracker_mode = p->tracker_mode;
	out->tracker_connected = p->tracker_mode && proxy_tracker_connected(p);
	if (p->tracker_mode)
		proxy_tracker_view(p, out);
	out->tracker_reconnects = p->tracker_connects;
	out->web_port = p->web ? p->opt.web_port : 0;
	proxy_web_view(p, &out->web_peers, &out->web_frames_in, &out->web_frames_out);
	out->max_connections = p->opt.max_connections;
	out->connections = p->connections;
	out->handshaking = p->handshaking.count;
	out->waiting_servers = p->waiting_servers.count;
	out->waiting_clients = p->waiting_clients.count;
	out->links = p->link_count;
	out->accepted = p->accepted;
	out->refused = p->refused;
	out->paired = p->paired;
	out->mismatched = p->mismatched;
	out->bad_handshakes = p->bad_handshakes;
	out->bytes_client_to_server = p->bytes_c2s_closed;
	out->bytes_server_to_client = p->bytes_s2c_closed;
	for (const struct proxy_pair *pair = p->pairs; pair; pair = pair->next) {
		proxy_link_side_stats_t c, s;
		proxy_link_stats(pair->link, 0, &c);
		proxy_link_stats(pair->link, 1, &s);
		out->bytes_client_to_server += c.bytes_in;
		out->bytes_server_to_client += s.bytes_in;
	}
}

size_t proxy_view_links(const proxy_t *p, proxy_view_link_t *out, size_t max)
{
	size_t n = 0;
	for (const struct proxy_pair *pair = p->pairs; pair; pair = pair->next, n++) {
		if (n >= max)
			continue;
		proxy_view_link_t *v = &out[n];
		proxy_link_side_stats_t c, s;
		proxy_link_stats(pair->link, 0, &c);
		proxy_link_stats(pair->link, 1, &s);
		snprintf(v->key, sizeof v->key, "%s", pair->key);
		snprintf(v->client, sizeof v->client, "%s", pair->client);
		snprintf(v->server, sizeof v->server, "%s", pair->server);
		v->bytes_client_to_server = c.bytes_in;
		v->bytes_server_to_client = s.bytes_in;
		v->started = pair->started;
		v->closing = proxy_link_closing(pair->link);
	}
	return n;
}

static size_t view_waiters(const proxy_t *p, const struct proxy_peer_list *list,
			   proxy_view_waiter_t *out, size_t max, size_t n)
{
	for (const struct proxy_peer *w = list->head; w; w = w->next, n++) {
		if (n >= max)
			continue;
		proxy_view_waiter_t *v = &out[n];
		proxy_text_safe(v->key, sizeof v->key, w->parsed.match, strlen(w->parsed.match));
		const char *mk = p->tracker_mode ? proxy_tracker_matchkey(p, w) : NULL;
		snprintf(v->matchkey, sizeof v->matchkey, "%s", mk ? mk : "");
		snprintf(v->peer, sizeof v->peer, "%s", w->name);
		v->is_server = w->parsed.role == HANDSHAKE_ROLE_SERVER;
		v->since = w->since;
	}
	return n;
}

size_t proxy_view_waiters(const proxy_t *p, proxy_view_waiter_t *out, size_t max)
{
	size_t n = view_waiters(p, &p->waiting_servers, out, max, 0);
	return view_waiters(p, &p->waiting_clients, out, max, n);
}

/* SIGHUP: take the settings that can change while running. Waits already started keep their
 * deadline; addresses, ports and the tracker cannot change. */
int proxy_reconfigure(proxy_t *p, const proxy_options_t *opt, char *err, size_t err_size)
{
	net_acl_t acl;
	if (net_acl_parse(&acl, opt->allow, err, err_size) != 0)
		return UV_EINVAL;
	net_acl_free(&p->acl);
	p->acl = acl;
	snprintf(p->opt.allow, sizeof p->opt.allow, "%s", opt->allow);
	if (opt->max_connections > 0)
		p->opt.max_connections = opt->max_connections;
	if (opt->handshake_timeout > 0)
		p->opt.handshake_timeout = opt->handshake_timeout;
	if (opt->timeout_client > 0)
		p->opt.timeout_client = opt->timeout_client;
	if (opt->timeout_server > 0)
		p->opt.timeout_server = opt->timeout_server;
	log_info("proxy settings reloaded: allow '%s', max_connections %d, handshake_timeout %g s, "
		 "timeout_client %g s, timeout_server %g s", p->opt.allow, p->opt.max_connections,
		 p->opt.handshake_timeout, p->opt.timeout_client, p->opt.timeout_server);
	return 0;
}
