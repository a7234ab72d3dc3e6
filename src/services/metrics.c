/* The /metrics HTTP endpoint (metrics.h) on libmicrohttpd in its external-loop mode: MHD owns
 * the HTTP parsing and the sockets; we watch its epoll descriptor with a uv_poll and honour
 * MHD_get_timeout with a uv_timer, calling MHD_run from either. Everything runs on the loop
 * thread and MHD never blocks (its sockets are non-blocking). docs/lab-operations.md says why
 * libmicrohttpd rather than libwebsockets. */
#include "services/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/dynlib.h"
#include "base/log.h"
#include "base/xalloc.h"

void metrics_options_default(metrics_options_t *opt)
{
	memset(opt, 0, sizeof *opt);
	opt->max_connections = 16;
	opt->timeout = 10;
}

#ifdef TVMRPC_NO_METRICS

int metrics_start(uv_loop_t *loop, const metrics_options_t *opt, tracker_t *tracker,
		  proxy_t *proxy, metrics_t **out)
{
	(void)loop;
	(void)tracker;
	(void)proxy;
	*out = NULL;
	log_error("[metrics] listen = %s: this build has no metrics endpoint (static and board "
		  "builds leave libmicrohttpd out); run the tracker from a regular build",
		  opt->listen);
	return UV_ENOTSUP;
}

int metrics_port(const metrics_t *m)
{
	(void)m;
	return -1;
}

void metrics_close(metrics_t *m)
{
	(void)m;
}

#else

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>

#include "services/net.h"

/* libmicrohttpd is loaded when metrics are first started (base/dynlib.h): it links GnuTLS and
 * more, which a process without a metrics endpoint never maps. */
#define MHD_API(X)                                                                          \
	X(MHD_add_response_header) X(MHD_create_response_from_buffer)                        \
	X(MHD_destroy_response) X(MHD_get_daemon_info) X(MHD_get_timeout)                    \
	X(MHD_queue_response) X(MHD_run) X(MHD_start_daemon) X(MHD_stop_daemon)

DYNLIB_TABLE(mhd_api, mhd_api_load, MHD_API, "libmicrohttpd.so.12", "libmicrohttpd.so")

struct metrics {
	uv_loop_t *loop;
	struct MHD_Daemon *daemon;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles_open;
	tracker_t *tracker;
	proxy_t *proxy;
	net_acl_t acl;
	uint64_t refused;
	int port;
};

static void metrics_run(metrics_t *m);

static void on_timer(uv_timer_t *timer)
{
	metrics_run(timer->data);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	(void)status;
	(void)events;
	metrics_run(poll->data);
}

/* Let MHD do what is ready, then wake again when it says it has timed work, and at least
 * every METRICS_KICK_MS: in this mode MHD takes its listening socket back into its epoll set
 * (after being at the connection limit) only inside a later MHD_run, which no descriptor event
 * may prompt. A run with nothing to do costs one epoll_wait(0). */
#define METRICS_KICK_MS 250

static void metrics_run(metrics_t *m)
{
	mhd_api.MHD_run(m->daemon);
	MHD_UNSIGNED_LONG_LONG ms = METRICS_KICK_MS;
	if (mhd_api.MHD_get_timeout(m->daemon, &ms) != MHD_YES || ms > METRICS_KICK_MS)
		ms = METRICS_KICK_MS;
	uv_timer_start(&m->timer, on_timer, ms, 0);
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	metrics_t *m = cls;
	(void)len;
	if (net_acl_allows(&m->acl, addr))
		return MHD_YES;
	m->refused++;
	return MHD_NO;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
			       const char *type)
{
	struct MHD_Response *r =
		mhd_api.MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	mhd_api.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = mhd_api.MHD_queue_response(conn, status, r);
	mhd_api.MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	metrics_t *m = cls;
	static int seen;
	(void)version;
	(void)upload;
	/* libmicrohttpd's usual pattern: the first call only sees the headers, body pieces (which
	 * nothing here needs) are consumed by the next calls, and the answer goes with the last. */
	if (!*state) {
		*state = &seen;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, xstrdup("only GET /metrics\n"),
			       "text/plain");
	if (strcmp(url, "/metrics") != 0)
		return respond(conn, MHD_HTTP_NOT_FOUND, xstrdup("not found: try /metrics\n"),
			       "text/plain");
	return respond(conn, MHD_HTTP_OK, metrics_text(m->tracker, m->proxy, m->refused),
		       "text/plain; version=0.0.4; charset=utf-8");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char text[256];
	vsnprintf(text, sizeof text, fmt, ap);
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	log_warn("metrics: %s", text);
}

/* The listen address as a sockaddr (numeric hosts, or a name resolved once at start). */
static int listen_addr(const char *listen, struct sockaddr_storage *ss, int *ipv6)
{
	char host[256], service[16];
	int port;
	if (net_split_host_port(listen, host, sizeof host, &port) != 0)
		return UV_EINVAL;
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host[0] ? host : NULL, service, &hints, &res) != 0 || !res)
		return UV_EAI_NONAME;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*ipv6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	metrics_t *m = h->data;
	if (--m->handles_open == 0) {
		net_acl_free(&m->acl);
		free(m);
	}
}

int metrics_start(uv_loop_t *loop, const metrics_options_t *opt, tracker_t *tracker,
		  proxy_t *proxy, metrics_t **out)
{
	*out = NULL;
	char err[256];
	if (mhd_api_load(err, sizeof err) != 0) {
		log_error("[metrics] %s (install libmicrohttpd12)", err);
		return UV_ENOTSUP;
	}
	metrics_t *m = xcalloc(1, sizeof *m);
	if (net_acl_parse(&m->acl, opt->allow, err, sizeof err) != 0) {
		log_error("[metrics] allow: %s", err);
		free(m);
		return UV_EINVAL;
	}
	struct sockaddr_storage ss;
	int ipv6 = 0, rc = listen_addr(opt->listen, &ss, &ipv6);
	if (rc != 0) {
		log_error("[metrics] listen = %s: not a usable HOST:PORT", opt->listen);
		net_acl_free(&m->acl);
		free(m);
		return rc;
	}
	m->loop = loop;
	m->tracker = tracker;
	m->proxy = proxy;
	unsigned timeout = opt->timeout > 0 ? (unsigned)(opt->timeout + 0.5) : 10;
	m->daemon = mhd_api.MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0), 0, on_accept, m,
		on_request, m, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)(opt->max_connections > 0 ? opt->max_connections : 16),
		MHD_OPTION_CONNECTION_TIMEOUT, timeout ? timeout : 1, MHD_OPTION_END);
	if (!m->daemon) {
		log_error("[metrics] cannot serve on %s (address in use or not local?)", opt->listen);
		net_acl_free(&m->acl);
		free(m);
		return UV_EADDRINUSE;
	}
	const union MHD_DaemonInfo *fd = mhd_api.MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *port = mhd_api.MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	m->port = port ? port->port : -1;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	m->handles_open = 1;
	if (!fd || uv_poll_init(loop, &m->poll, fd->epoll_fd) != 0) {
		log_error("[metrics] cannot watch libmicrohttpd's epoll descriptor");
		mhd_api.MHD_stop_daemon(m->daemon);
		uv_close((uv_handle_t *)&m->timer, handle_closed);
		return UV_EINVAL;
	}
	m->poll.data = m;
	m->handles_open = 2;
	uv_poll_start(&m->poll, UV_READABLE, on_poll);
	metrics_run(m);
	log_info("metrics on http://%s/metrics (port %d)", opt->listen, m->port);
	*out = m;
	return 0;
}

int metrics_port(const metrics_t *m)
{
	return m ? m->port : -1;
}

void metrics_close(metrics_t *m)
{
	if (!m)
		return;
	/* Stop watching the descriptor before MHD closes it. */
	uv_close((uv_handle_t *)&m->poll, handle_closed);
	uv_close((uv_handle_t *)&m->timer, handle_closed);
	mhd_api.MHD_stop_daemon(m->daemon);
	m->daemon = NULL;
}

#endif
