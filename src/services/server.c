/* The device server (docs/control-plane.md §5): reads handshakes without blocking the libuv loop,
 * registers with a tracker through tracker_link or waits at a proxy (server_proxy.c), and hands
 * each matched connection to a forked session (server_session.c). One session runs at a time. */
#include "services/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/module_link.h"
#include "base/xalloc.h"
#include "services/handshake.h"
#include "services/net.h"
#include "services/server_internal.h"
#include "services/server_session.h"
#include "services/tracker_link.h"

#define MAX_HANDSHAKING 64   /* concurrent connections in the handshake */
#define MAX_HANDSHAKING_PER_IP 16 /* so that one host cannot starve the others */
#define MAX_WAITING 16       /* matched clients queued behind the running session */
#define STOP_GRACE 2.0       /* seconds a session gets to end on shutdown */
#define TIMEOUT_GRACE 2.0    /* seconds past its timeout before a session is killed */

enum hs_state { HS_READING, HS_REPLYING, HS_WAITING, HS_STARTING };

struct hs_conn {
	struct hs_conn *next;
	server_t *srv;
	uv_tcp_t *tcp;        /* heap: handed to the session on success */
	uv_timer_t timer;
	int open_handles;
	int closed;
	enum hs_state state;
	double timeout;
	handshake_reader_t reader;
	uv_write_t write_req;
	uint8_t reply[8 + 160];
	char peer[64];
	char ip[64];
	char buf[HANDSHAKE_DEFAULT_MAX_KEY + 8];
};

static void server_next_waiting(server_t *srv);
static void server_maybe_renew(server_t *srv);
static void server_unref(server_t *srv);

void server_options_default(server_options_t *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "0.0.0.0");
	o->port = 9090;
	o->port_end = 9199;
	o->max_packet = 4ull << 30;
	o->handshake_timeout = 10;
}

void server_registration_update(server_t *srv)
{
	enum server_registration r;
	if (srv->session || srv->starting) {
		r = SERVER_REG_BUSY;
	} else if (srv->opt.through_proxy) {
		r = server_proxy_registration(srv);
	} else if (srv->link) {
		tracker_link_state_t st = tracker_link_state(srv->link);
		r = st == TRACKER_LINK_REGISTERED   ? SERVER_REG_REGISTERED
		    : st == TRACKER_LINK_CONNECTING ? SERVER_REG_CONNECTING
						    : SERVER_REG_RETRYING;
	} else {
		r = SERVER_REG_STANDALONE;
	}
	srv->stats.registration = r;
}

/* Exactly the bytes the handshake still needs: never read into the data plane that follows. */
size_t server_handshake_need(const handshake_reader_t *r)
{
	if (r->header_have < 4)
		return 4 - r->header_have;
	if (r->header_have < 8)
		return 8 - r->header_have;
	return r->key_len - r->key_have;
}

uv_buf_t server_handshake_buf(const handshake_reader_t *r, char *buf, size_t size)
{
	size_t need = server_handshake_need(r);
	return uv_buf_init(buf, (unsigned)(need < size ? need : size));
}

/* ---- handshaking connections -------------------------------------------------------------- */

static void hs_unlink(server_t *srv, struct hs_conn *c)
{
	for (struct hs_conn **p = &srv->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			srv->stats.handshaking--;
			return;
		}
	for (struct hs_conn **p = &srv->waiting; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			srv->stats.waiting--;
			return;
		}
}

static void on_hs_handle_closed(uv_handle_t *h)
{
	struct hs_conn *c = h->data;
	if (c->tcp && h == (uv_handle_t *)c->tcp) {
		free(c->tcp);
		c->tcp = NULL;
	}
	if (--c->open_handles > 0)
		return;
	server_t *srv = c->srv;
	handshake_reader_free(&c->reader);
	free(c);
	server_unref(srv);
}

/* Close the connection (if still ours) and free c. */
static void hs_close(struct hs_conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	hs_unlink(c->srv, c);
	c->srv->refs++;
	c->open_handles = 1;
	uv_close((uv_handle_t *)&c->timer, on_hs_handle_closed);
	if (c->tcp) {
		c->open_handles++;
		uv_close((uv_handle_t *)c->tcp, on_hs_handle_closed);
	}
}

static void on_hs_timeout(uv_timer_t *t)
{
	struct hs_conn *c = t->data;
	log_info("%s: no complete handshake within %gs; closing", c->peer,
		 c->srv->opt.handshake_timeout);
	c->srv->stats.dropped++;
	hs_close(c);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void on_mismatch_written(uv_write_t *req, int status)
{
	(void)status;
	hs_close(req->data);
}

static void hs_reply_mismatch(struct hs_conn *c)
{
	c->srv->stats.mismatches++;
	c->state = HS_REPLYING;
	size_t n = handshake_encode(c->reply, sizeof c->reply, RPC_CODE_MISMATCH, NULL);
	uv_buf_t buf = uv_buf_init((char *)c->reply, (unsigned)n);
	c->write_req.data = c;
	if (uv_write(&c->write_req, (uv_stream_t *)c->tcp, &buf, 1, on_mismatch_written) != 0)
		hs_close(c);
}

static void on_session_done(void *arg, enum server_session_end how);

void server_start_session(server_t *srv, uv_tcp_t *tcp, const char *peer, double timeout)
{
	server_session_config_t cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.work_base = srv->opt.work_dir;
	cfg.load_library = srv->opt.load_library;
	cfg.max_packet = srv->opt.max_packet;
	cfg.memory_cap = srv->opt.session_memory;
	cfg.timeout = timeout;
	cfg.grace = TIMEOUT_GRACE;
	cfg.peer = peer;
	cfg.no_fork = srv->opt.no_fork;
	srv->stats.sessions++;
	int err = server_session_start(srv->loop, tcp, &cfg, on_session_done, srv, &srv->session);
	if (err) {
		log_error("%s: cannot start a session: %s", peer, uv_strerror(err));
		tcp->data = NULL;
		uv_close((uv_handle_t *)tcp, free_handle);
		srv->session = NULL;
		srv->stats.sessions_failed++;
		/* Treated like a session that ended at once. */
		srv->refs++;
		on_session_done(srv, SERVER_SESSION_FAILED);
		return;
	}
	srv->refs++;
	srv->stats.session_pid = server_session_pid(srv->session);
	snprintf(srv->stats.session_peer, sizeof srv->stats.session_peer, "%s", peer);
	srv->stats.session_start_ms = uv_now(srv->loop);
	srv->stats.session_timeout = timeout;
	server_registration_update(srv);
}

static void on_success_written(uv_write_t *req, int status)
{
	struct hs_conn *c = req->data;
	server_t *srv = c->srv;
	srv->starting = 0;
	if (c->closed)
		return; /* cancelled by server_close */
	if (status < 0 || srv->closing) {
		if (status < 0)
			log_info("%s: handshake reply failed: %s", c->peer, uv_strerror(status));
		hs_close(c);
		server_next_waiting(srv);
		server_maybe_renew(srv);
		server_registration_update(srv);
		return;
	}
	/* The session takes the socket; the connection record goes away. */
	uv_tcp_t *tcp = c->tcp;
	c->tcp = NULL;
	char peer[64];
	snprintf(peer, sizeof peer, "%s", c->peer);
	double timeout = c->timeout;
	hs_close(c);
	server_start_session(srv, tcp, peer, timeout);
}

/* Answer SUCCESS and start the session once the reply is out (the child must not write
 * before it). */
static void hs_accept(struct hs_conn *c)
{
	server_t *srv = c->srv;
	srv->starting = 1;
	c->state = HS_STARTING;
	uv_timer_stop(&c->timer);
	size_t n = handshake_encode(c->reply, sizeof c->reply, RPC_CODE_SUCCESS, srv->reply_key);
	uv_buf_t buf = uv_buf_init((char *)c->reply, (unsigned)n);
	c->write_req.data = c;
	log_info("%s: handshake accepted%s", c->peer,
		 c->timeout > 0 ? "" : " (no session timeout)");
	if (uv_write(&c->write_req, (uv_stream_t *)c->tcp, &buf, 1, on_success_written) != 0) {
		srv->starting = 0;
		hs_close(c);
		server_next_waiting(srv);
		server_maybe_renew(srv);
	}
	server_registration_update(srv);
}

double server_effective_timeout(double client, double server)
{
	if (client > 0 && server > 0)
		return client < server ? client : server;
	return client > 0 ? client : server;
}

static void hs_evaluate(struct hs_conn *c)
{
	server_t *srv = c->srv;
	handshake_key_t key;
	char err[128];
	if (handshake_key_parse(c->reader.key, c->reader.key_len, &key, err, sizeof err) != 0) {
		log_info("%s: bad key (%s); MISMATCH", c->peer, err);
		hs_reply_mismatch(c);
		return;
	}
	int matched = 0;
	if (key.role == HANDSHAKE_ROLE_CLIENT) {
		const char *mk = srv->link ? tracker_link_matchkey(srv->link, srv->resource) : NULL;
		if (mk && !srv->matchkey_held && strcmp(key.match, mk) == 0) {
			matched = 1;
		} else if (strcmp(key.match, srv->opt.key) == 0 &&
			   (!srv->link || tracker_link_state(srv->link) != TRACKER_LINK_REGISTERED)) {
			/* Like TVM's server: without a working tracker the plain key is the key. */
			matched = 1;
		}
	}
	if (!matched) {
		log_info("%s: key '%.*s' does not match; MISMATCH", c->peer,
			 c->reader.key_len > 80 ? 80 : (int)c->reader.key_len, c->reader.key);
		hs_reply_mismatch(c);
		return;
	}
	c->timeout = server_effective_timeout(key.timeout, srv->opt.session_timeout);
	if (srv->link && !srv->matchkey_held) {
		/* The board is taken (whichever key was used): the tracker must not offer it, and
		 * the matchkey is consumed. server_maybe_renew PUTs a fresh one when it is free. */
		tracker_link_hold(srv->link, srv->resource);
		srv->matchkey_held = 1;
	}
	if (srv->session || srv->starting) {
		if (srv->stats.waiting >= MAX_WAITING) {
			log_warn("%s: %d clients already wait for this board; MISMATCH", c->peer,
				 MAX_WAITING);
			hs_reply_mismatch(c);
			return;
		}
		/* One board, one session: the client waits (as with TVM's listen backlog). */
		hs_unlink(srv, c);
		c->state = HS_WAITING;
		uv_timer_stop(&c->timer);
		struct hs_conn **tail = &srv->waiting;
		while (*tail)
			tail = &(*tail)->next;
		c->next = NULL;
		*tail = c;
		srv->stats.waiting++;
		log_info("%s: board busy; client waits for the running session", c->peer);
		return;
	}
	hs_accept(c);
}

static void on_hs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct hs_conn *c = h->data;
	*buf = server_handshake_buf(&c->reader, c->buf, sizeof c->buf);
}

static void on_hs_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct hs_conn *c = s->data;
	if (c->state != HS_READING)
		return;
	if (nread < 0) {
		/* A connect-and-close without a byte is a port probe, not worth an info line. */
		log_msg(nread == UV_EOF && c->reader.header_have == 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
			"%s: closed during the handshake (%s)", c->peer,
			nread == UV_EOF ? "EOF" : uv_strerror((int)nread));
		c->srv->stats.dropped++;
		hs_close(c);
		return;
	}
	if (nread == 0)
		return;
	size_t used = 0;
	int rc = handshake_feed(&c->reader, buf->base, (size_t)nread, &used);
	if (rc < 0) {
		log_info("%s: %s; closing", c->peer,
			 rc == HANDSHAKE_ERR_MAGIC    ? "not an RPC client (bad magic)"
			 : rc == HANDSHAKE_ERR_LENGTH ? "bad key length"
						      : "out of memory");
		c->srv->stats.dropped++;
		hs_close(c);
		return;
	}
	if (rc == 0)
		return;
	uv_read_stop(s);
	hs_evaluate(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
	server_t *srv = listener->data;
	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	uv_tcp_t *tcp = xmalloc(sizeof *tcp);
	uv_tcp_init(srv->loop, tcp);
	tcp->data = NULL;
	if (uv_accept(listener, (uv_stream_t *)tcp) != 0) {
		uv_close((uv_handle_t *)tcp, free_handle);
		return;
	}
	char peer[64];
	net_peer_name(tcp, peer, sizeof peer);
	if (!net_acl_allows_handle(&srv->acl, tcp)) {
		log_warn("%s: not in the allow list; closing", peer);
		srv->stats.dropped++;
		uv_close((uv_handle_t *)tcp, free_handle);
		return;
	}
	char ip[64];
	net_peer_ip(tcp, ip, sizeof ip);
	int same_ip = 0;
	for (struct hs_conn *o = srv->conns; o; o = o->next)
		same_ip += strcmp(o->ip, ip) == 0;
	if (srv->stats.handshaking >= MAX_HANDSHAKING || same_ip >= MAX_HANDSHAKING_PER_IP) {
		log_warn("%s: %d handshakes already in progress%s; closing", peer,
			 srv->stats.handshaking, same_ip >= MAX_HANDSHAKING_PER_IP ? " from this host" : "");
		srv->stats.dropped++;
		uv_close((uv_handle_t *)tcp, free_handle);
		return;
	}
	struct hs_conn *c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->tcp = tcp;
	tcp->data = c;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	snprintf(c->ip, sizeof c->ip, "%s", ip);
	handshake_reader_init(&c->reader, HANDSHAKE_DEFAULT_MAX_KEY, 1);
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	c->next = srv->conns;
	srv->conns = c;
	srv->stats.handshaking++;
	net_tune(tcp);
	uv_timer_start(&c->timer, on_hs_timeout, server_ms(srv->opt.handshake_timeout), 0);
	int err = uv_read_start((uv_stream_t *)tcp, on_hs_alloc, on_hs_read);
	if (err) {
		log_info("%s: cannot read: %s", peer, uv_strerror(err));
		hs_close(c);
	}
}

/* Once nobody uses or waits for the board: exactly one new PUT, with a fresh matchkey. */
static void server_maybe_renew(server_t *srv)
{
	if (!srv->link || !srv->matchkey_held || srv->closing || srv->session || srv->starting ||
	    srv->waiting)
		return;
	tracker_link_renew(srv->link, srv->resource);
	srv->matchkey_held = 0;
}

static void server_next_waiting(server_t *srv)
{
	if (srv->closing || srv->session || srv->starting || !srv->waiting)
		return;
	struct hs_conn *c = srv->waiting;
	srv->waiting = c->next;
	srv->stats.waiting--;
	c->next = srv->conns;
	srv->conns = c;
	srv->stats.handshaking++;
	hs_accept(c);
}

/* ---- sessions ----------------------------------------------------------------------------- */

static void on_session_done(void *arg, enum server_session_end how)
{
	server_t *srv = arg;
	static const char *const names[] = {"done", "ended with an error", "timed out",
					    "killed after its timeout", "crashed", "stopped",
					    "failed to start"};
	if (srv->stats.session_start_ms)
		log_info("session %s %s after %.1fs", srv->stats.session_peer, names[how],
			 (double)(uv_now(srv->loop) - srv->stats.session_start_ms) / 1000.0);
	srv->session = NULL;
	srv->stats.session_pid = 0;
	srv->stats.session_peer[0] = '\0';
	srv->stats.session_start_ms = 0;
	srv->stats.session_timeout = 0;
	if (how == SERVER_SESSION_TIMEOUT || how == SERVER_SESSION_KILLED)
		srv->stats.timeouts++;
	if (how == SERVER_SESSION_KILLED || how == SERVER_SESSION_CRASHED)
		srv->stats.sessions_failed++;
	/* The tracker cannot see this; tell it before the PUT that ends the session there. */
	if (srv->link && (how == SERVER_SESSION_TIMEOUT || how == SERVER_SESSION_KILLED ||
			  how == SERVER_SESSION_CRASHED))
		tracker_link_report_session_end(srv->link, how == SERVER_SESSION_CRASHED ? "crashed"
											 : "timed_out");
	if (!srv->closing) {
		if (srv->opt.through_proxy)
			server_proxy_schedule(srv, how == SERVER_SESSION_FAILED ? server_proxy_backoff(srv)
										: 0);
		server_next_waiting(srv);
		server_maybe_renew(srv);
	}
	server_registration_update(srv);
	server_unref(srv);
}

/* ---- tracker events ----------------------------------------------------------------------- */

static void on_link_state(void *arg, tracker_link_state_t state)
{
	server_t *srv = arg;
	if (state == TRACKER_LINK_REGISTERED)
		srv->stats.tracker_connects++;
	server_registration_update(srv);
}

static void on_link_lost(void *arg, uint64_t id, const char *old, const char *fresh,
			 tracker_link_lost_reason_t reason)
{
	(void)arg;
	(void)id;
	(void)old;
	(void)fresh;
	log_debug("matchkey replaced (%s)",
		  reason == TRACKER_LINK_LOST_UNCLAIMED ? "unclaimed" : "tracker reconnect");
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static int check_libraries(const char *list)
{
	char *copy = xstrdup(list);
	int rc = 0;
	for (char *save = NULL, *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (access(p, R_OK) != 0) {
			log_error("--load-library: cannot read '%s': %s", p, strerror(errno));
			rc = UV_ENOENT;
		}
	}
	free(copy);
	return rc;
}

static int ensure_dir(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : UV_ENOTDIR;
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return uv_translate_sys_error(errno);
	return 0;
}

/* The `compiler` setting made concrete (as TVM's server, the default is the system compiler),
 * told to the linker that session children inherit, logged, and reported to the tracker. */
static void apply_compiler(server_t *srv, const char *setting)
{
	module_link_resolve_compiler(setting, srv->compiler, sizeof srv->compiler);
	module_link_set_compiler(srv->compiler);
	if (strcmp(srv->compiler, "none") == 0)
		log_info("linking of .o/.tar uploads is switched off (compiler = none)");
	else if (srv->compiler[0])
		log_info("linking uploads with %s", srv->compiler);
	else
		log_warn("no C compiler on PATH (cc, gcc, g++): .o/.tar uploads (MetaSchedule's "
			 "default builder output) cannot be linked; set --compiler CC, or export "
			 "modules as .so");
	if (srv->link)
		tracker_link_set_info_compiler(srv->link, srv->compiler);
}

const char *server_compiler(const server_t *srv)
{
	return srv->compiler;
}

int server_start(uv_loop_t *loop, const server_options_t *opt, server_t **out)
{
	*out = NULL;
	if (strlen(opt->key) + 8 > sizeof ((server_t *)0)->reply_key) {
		log_error("server key is too long");
		return UV_EINVAL;
	}
	if (opt->load_library[0] && check_libraries(opt->load_library) != 0)
		return UV_ENOENT;
	if (opt->work_dir[0]) {
		int err = ensure_dir(opt->work_dir);
		if (err) {
			log_error("work dir %s: %s", opt->work_dir, uv_strerror(err));
			return err;
		}
	}
	server_t *srv = xcalloc(1, sizeof *srv);
	/* Inherited by every session child: .o/.tar uploads are linked with it. */
	apply_compiler(srv, opt->compiler);
	srv->loop = loop;
	srv->opt = *opt;
	if (srv->opt.handshake_timeout <= 0)
		srv->opt.handshake_timeout = 10;
	snprintf(srv->reply_key, sizeof srv->reply_key, "server:%s", opt->key);
	char err_text[160];
	if (net_acl_parse(&srv->acl, opt->allow, err_text, sizeof err_text) != 0) {
		log_error("allow: %s", err_text);
		free(srv);
		return UV_EINVAL;
	}
	if (opt->through_proxy) {
		if (opt->tracker[0])
			log_warn("--tracker is ignored with --through-proxy (the proxy registers us)");
		snprintf(srv->proxy_host, sizeof srv->proxy_host, "%s", opt->host);
		srv->port = opt->port;
		srv->stats.port = srv->port;
		int err = server_proxy_start(srv);
		if (err) {
			net_acl_free(&srv->acl);
			free(srv);
			return err;
		}
	} else {
		uv_tcp_init(loop, &srv->listener);
		srv->listener.data = srv;
		int port = net_listen_range(&srv->listener, opt->host, opt->port, opt->port_end, 128,
					    on_connection);
		if (port < 0) {
			log_error("server: cannot listen on %s port %d..%d: %s", opt->host, opt->port,
				  opt->port_end, uv_strerror(port));
			srv->listening = 1; /* so that server_close closes the handle */
			server_close(srv, NULL, NULL);
			return port;
		}
		srv->listening = 1;
		srv->port = port;
		srv->stats.port = port;
		log_info("server listening on %s:%d, key '%s'", opt->host, port, opt->key);
		if (opt->tracker[0]) {
			/* Only the tracker info names the devices: probe them only then. */
			server_probe_devices(opt->no_fork, srv->devices, sizeof srv->devices);
			log_info("devices: %s", srv->devices);
			tracker_link_options_t lo;
			tracker_link_options_default(&lo);
			snprintf(lo.tracker, sizeof lo.tracker, "%s", opt->tracker);
			tracker_link_events_t ev = {srv, on_link_state, NULL, on_link_lost};
			int err = tracker_link_start(loop, &lo, &ev, &srv->link);
			if (err) {
				server_close(srv, NULL, NULL);
				return err;
			}
			char info_key[160];
			snprintf(info_key, sizeof info_key, "server:%s", opt->key);
			const char *custom = opt->custom_addr[0] ? opt->custom_addr : NULL;
			tracker_link_set_info(srv->link, info_key, custom, port);
			tracker_link_set_info_compiler(srv->link, srv->compiler);
			tracker_link_set_info_devices(srv->link, srv->devices);
			tracker_link_offer(srv->link, opt->key, port, custom, &srv->resource);
		}
	}
	server_registration_update(srv);
	*out = srv;
	return 0;
}

int server_reconfigure(server_t *srv, const server_options_t *opt, char *err, size_t err_size)
{
	net_acl_t acl;
	if (net_acl_parse(&acl, opt->allow, err, err_size) != 0)
		return UV_EINVAL;
	if (opt->load_library[0] && check_libraries(opt->load_library) != 0) {
		snprintf(err, err_size, "load_library: cannot read '%s'", opt->load_library);
		net_acl_free(&acl);
		return UV_ENOENT;
	}
	if (opt->work_dir[0]) {
		int rc = ensure_dir(opt->work_dir);
		if (rc) {
			snprintf(err, err_size, "work_dir %s: %s", opt->work_dir, uv_strerror(rc));
			net_acl_free(&acl);
			return rc;
		}
	}
	net_acl_free(&srv->acl);
	srv->acl = acl;
	server_options_t *o = &srv->opt;
	snprintf(o->allow, sizeof o->allow, "%s", opt->allow);
	snprintf(o->load_library, sizeof o->load_library, "%s", opt->load_library);
	snprintf(o->work_dir, sizeof o->work_dir, "%s", opt->work_dir);
	if (strcmp(o->compiler, opt->compiler) != 0)
		apply_compiler(srv, opt->compiler);
	snprintf(o->compiler, sizeof o->compiler, "%s", opt->compiler);
	o->session_timeout = opt->session_timeout;
	if (opt->max_packet)
		o->max_packet = opt->max_packet;
	o->session_memory = opt->session_memory;
	if (opt->handshake_timeout > 0)
		o->handshake_timeout = opt->handshake_timeout;
	log_info("settings reloaded: allow '%s', session_timeout %g s, handshake_timeout %g s, "
		 "work_dir '%s', load_library '%s'",
		 o->allow, o->session_timeout, o->handshake_timeout, o->work_dir, o->load_library);
	return 0;
}

int server_port(const server_t *s)
{
	return s ? s->port : -1;
}

void server_get_stats(const server_t *s, server_stats_t *out)
{
	*out = s->stats;
}

static void server_unref(server_t *srv)
{
	if (--srv->refs > 0 || !srv->closing)
		return;
	void (*done)(void *) = srv->close_done;
	void *arg = srv->close_arg;
	net_acl_free(&srv->acl);
	free(srv);
	if (done)
		done(arg);
}

static void on_server_handle_closed(uv_handle_t *h)
{
	server_unref(h->data);
}

static void on_link_closed(void *arg)
{
	server_unref(arg);
}

void server_close(server_t *srv, void (*done)(void *arg), void *arg)
{
	if (!srv)
		return;
	if (srv->closing)
		return;
	srv->closing = 1;
	srv->close_done = done;
	srv->close_arg = arg;
	srv->refs++; /* held until the end of this function */
	if (srv->listening) {
		srv->listening = 0;
		srv->refs++;
		uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
	}
	server_proxy_stop(srv);
	if (srv->proxy_dialer) {
		srv->refs++;
		dialer_close(srv->proxy_dialer, on_link_closed, srv);
		srv->proxy_dialer = NULL;
	}
	if (srv->link) {
		srv->refs++;
		tracker_link_close(srv->link, on_link_closed, srv);
		srv->link = NULL;
	}
	while (srv->conns)
		hs_close(srv->conns);
	while (srv->waiting)
		hs_close(srv->waiting);
	if (srv->session) {
		log_info("ending the running session (%gs grace)", STOP_GRACE);
		server_session_stop(srv->session, STOP_GRACE);
	}
	server_unref(srv);
}
