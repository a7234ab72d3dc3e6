/* Socket helpers for the services: port-range listening, CIDR access lists, peer names. */
#include "services/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime/xalloc.h"

static int resolve(const char *host, int port, struct sockaddr_storage *ss)
{
	const char *h = (host && *host) ? host : "0.0.0.0";
	if (strcmp(h, "localhost") == 0)
		h = "127.0.0.1";
	if (uv_ip4_addr(h, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(h, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return UV_EINVAL;
}

int net_listen_range(uv_tcp_t *server, const char *host, int port, int port_end, int backlog,
		     uv_connection_cb on_connection)
{
	if (port < 0 || port > 65535)
		return UV_EINVAL;
	int last = port_end > port ? port_end : port + 1;
	if (last > 65536)
		last = 65536;
	int err = UV_EADDRINUSE;
	for (int p = port; p < last; p++) {
		struct sockaddr_storage ss;
		err = resolve(host, p, &ss);
		if (err)
			return err;
		/* Plain syscalls so that a busy port costs one socket and we can try the next. */
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return uv_translate_sys_error(errno);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6);
		if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
			err = uv_translate_sys_error(errno);
			close(fd);
			if (err == UV_EADDRINUSE)
				continue;
			return err;
		}
		err = uv_tcp_open(server, fd);
		if (err) {
			close(fd);
			return err;
		}
		err = uv_listen((uv_stream_t *)server, backlog, on_connection);
		if (err)
			return err; /* fd now belongs to the handle; uv_close releases it */
		return net_bound_port(server);
	}
	return err;
}

int net_bound_port(const uv_tcp_t *handle)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getsockname(handle, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t size, int with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
	}
	if (!with_port)
		snprintf(buf, size, "%s", ip);
	else if (strchr(ip, ':'))
		snprintf(buf, size, "[%s]:%d", ip, port);
	else
		snprintf(buf, size, "%s:%d", ip, port);
}

void net_peer_name(const uv_tcp_t *handle, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(handle, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(buf, size, "?");
		return;
	}
	format_addr(&ss, buf, size, 1);
}

void net_peer_ip(const uv_tcp_t *handle, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(handle, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(buf, size, "%s", "");
		return;
	}
	format_addr(&ss, buf, size, 0);
}

void net_tune(uv_tcp_t *handle)
{
	uv_tcp_nodelay(handle, 1);
	net_quickack(handle);
}

void net_quickack(uv_tcp_t *handle)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)handle, &fd) == 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	}
}

/* ---- access lists ---- */

static int parse_entry(const char *tok, struct net_acl_entry *e)
{
	char buf[80];
	if (strlen(tok) >= sizeof buf)
		return -1;
	strcpy(buf, tok);
	char *slash = strchr(buf, '/');
	int prefix = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || v < 0)
			return -1;
		prefix = (int)v;
	}
	memset(e, 0, sizeof *e);
	if (inet_pton(AF_INET, buf, e->addr) == 1) {
		e->family = AF_INET;
		if (prefix > 32)
			return -1;
		e->prefix = prefix < 0 ? 32 : prefix;
	} else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
		e->family = AF_INET6;
		if (prefix > 128)
			return -1;
		e->prefix = prefix < 0 ? 128 : prefix;
	} else {
		return -1;
	}
	return 0;
}

int net_acl_parse(net_acl_t *acl, const char *text, char *err, size_t err_size)
{
	acl->entries = NULL;
	acl->count = 0;
	const char *p = text ? text : "";
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ',' && !isspace((unsigned char)*p))
			p++;
		char tok[80];
		size_t n = (size_t)(p - start);
		struct net_acl_entry e;
		if (n >= sizeof tok || (memcpy(tok, start, n), tok[n] = '\0', parse_entry(tok, &e))) {
			snprintf(err, err_size, "invalid address or CIDR '%.*s'", (int)(n > 60 ? 60 : n),
				 start);
			net_acl_free(acl);
			return -1;
		}
		acl->entries = xrealloc(acl->entries, (acl->count + 1) * sizeof *acl->entries);
		acl->entries[acl->count++] = e;
	}
	return 0;
}

void net_acl_free(net_acl_t *acl)
{
	free(acl->entries);
	acl->entries = NULL;
	acl->count = 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int net_acl_allows(const net_acl_t *acl, const struct sockaddr *addr)
{
	if (!acl || acl->count == 0)
		return 1;
	uint8_t v4[4], v6[16];
	int has4 = 0, has6 = 0;
	if (addr->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		has4 = 1;
	} else if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		memcpy(v6, a, 16);
		has6 = 1;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(v4, &a->s6_addr[12], 4);
			has4 = 1;
		}
	}
	for (size_t i = 0; i < acl->count; i++) {
		const struct net_acl_entry *e = &acl->entries[i];
		if (e->family == AF_INET && has4 && prefix_match(v4, e->addr, e->prefix))
			return 1;
		if (e->family == AF_INET6 && has6 && prefix_match(v6, e->addr, e->prefix))
			return 1;
	}
	return 0;
}

int net_acl_allows_handle(const net_acl_t *acl, const uv_tcp_t *handle)
{
	if (!acl || acl->count == 0)
		return 1;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(handle, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return net_acl_allows(acl, (const struct sockaddr *)&ss);
}

int net_split_host_port(const char *text, char *host, size_t host_size, int *port)
{
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text)
		return -1;
	const char *h = text;
	size_t hlen = (size_t)(colon - text);
	if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= host_size)
		return -1;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

long net_raise_fd_limit(uint64_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t target = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? (rlim_t)want
										 : rl.rlim_max;
		struct rlimit raised = {target, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = target;
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX
									     : (long)rl.rlim_cur;
}

/* ---- blocking helpers ---- */

double net_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double net_deadline_after(double seconds)
{
	return seconds > 0 ? net_monotonic() + seconds : 0;
}

int net_poll_timeout(double deadline)
{
	if (deadline <= 0)
		return -1;
	double left = deadline - net_monotonic();
	if (left <= 0)
		return 0;
	return left > 3600 ? 3600000 : (int)(left * 1000) + 1;
}

int net_wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		int ms = net_poll_timeout(deadline);
		if (ms == 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r == 0 && deadline > 0 && net_monotonic() >= deadline)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}
