/* Socket helpers for the services: port-range listening, CIDR access lists, peer names, and
 * the blocking transfers with deadlines that every blocking client and the session channel
 * share (redis's anet.c plays this part there). */
#include "services/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/xalloc.h"

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

int net_is_socket(int fd)
{
	int type;
	socklen_t type_len = sizeof type;
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0;
}

/* 0 once fd is ready for `events`, else NET_IO_TIMEOUT or NET_IO_POLL. */
static int net_wait_ready(int fd, short events, double deadline)
{
	int r = net_wait_fd(fd, events, deadline);
	return r > 0 ? 0 : r == 0 ? NET_IO_TIMEOUT : NET_IO_POLL;
}

ssize_t net_read_some(int fd, int is_socket, void *buf, size_t n, double deadline)
{
	for (;;) {
		if (deadline > 0 && !is_socket) {
			int w = net_wait_ready(fd, POLLIN, deadline);
			if (w)
				return w;
		}
		ssize_t r = is_socket ? recv(fd, buf, n, MSG_DONTWAIT) : read(fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = net_wait_ready(fd, POLLIN, deadline);
			if (w)
				return w;
		} else if (errno != EINTR) {
			return NET_IO_FAILED;
		}
	}
}

ssize_t net_write_some(int fd, int is_socket, const struct iovec *iov, int count,
		       double deadline)
{
	for (;;) {
		if (deadline > 0 && !is_socket) {
			int w = net_wait_ready(fd, POLLOUT, deadline);
			if (w)
				return w;
		}
		struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
		ssize_t r = is_socket ? sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
				      : writev(fd, iov, count);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = net_wait_ready(fd, POLLOUT, deadline);
			if (w)
				return w;
		} else if (errno != EINTR) {
			return NET_IO_FAILED;
		}
	}
}

int net_recv_all(int fd, void *buf, size_t n, double deadline)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = net_read_some(fd, 1, p, n, deadline);
		if (r <= 0)
			return r == 0 ? NET_IO_CLOSED : (int)r;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int net_send_iov(int fd, struct iovec *iov, int count, double deadline)
{
	while (count > 0) {
		if (iov->iov_len == 0) {
			iov++;
			count--;
			continue;
		}
		ssize_t r = net_write_some(fd, 1, iov, count, deadline);
		if (r < 0)
			return (int)r;
		if (r == 0) { /* a stream socket never does this; do not spin on it */
			errno = EIO;
			return NET_IO_FAILED;
		}
		size_t done = (size_t)r;
		while (count > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			count--;
		}
		if (count > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

int net_send_all(int fd, const void *data, size_t n, double deadline)
{
	struct iovec iov = {(void *)data, n};
	return net_send_iov(fd, &iov, 1, deadline);
}

/* Connect one resolved address, waiting for the handshake until the deadline. */
static int net_connect_one(const struct addrinfo *ai, double deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		int r = errno == EINPROGRESS ? net_wait_fd(fd, POLLOUT, deadline) : -1;
		int so = 0;
		socklen_t sl = sizeof so;
		if (r == 0)
			errno = ETIMEDOUT;
		else if (r > 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0 || so))
			errno = so ? so : errno;
		if (r <= 0 || so) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

int net_connect_tcp(const char *host, int port, double deadline, int *resolve_error)
{
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	*resolve_error = getaddrinfo(host, service, &hints, &res);
	if (*resolve_error != 0)
		return -1;
	int fd = -1;
	errno = ECONNREFUSED;
	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = net_connect_one(ai, deadline);
	int saved = errno;
	freeaddrinfo(res);
	errno = saved;
	return fd;
}
