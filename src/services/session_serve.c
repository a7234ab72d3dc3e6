/* A session channel over descriptors (session_serve.h): reads and writes go through net.h's
 * blocking transfers with deadlines (or, without a deadline, straight to a blocking socket),
 * and the relay a session constructor asks for is a poll loop copying between the client and
 * the far server. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/session_relay.h"
#include "services/net.h"
#include "services/session_serve.h"

#define RELAY_CHUNK 65536

typedef struct fd_channel {
	int read_fd, write_fd;
	int read_is_socket, write_is_socket;
	int blocking; /* one socket, switched to blocking mode: no deadline to wait for */
} fd_channel_t;

/* A net_* result as the engine's channel reports it. */
static long channel_status(ssize_t r)
{
	if (r >= 0)
		return (long)r;
	return r == NET_IO_TIMEOUT ? SESSION_CHANNEL_TIMEOUT : SESSION_CHANNEL_ERROR;
}

/* A session without a deadline waits in recv/sendmsg themselves: one system call per
 * request read and per answer, where a non-blocking socket needs recv (EAGAIN), poll, recv. */
static long blocking_status(ssize_t r)
{
	return r >= 0 ? (long)r : SESSION_CHANNEL_ERROR;
}

static long channel_read(void *context, void *buf, size_t n, double deadline)
{
	fd_channel_t *c = context;
	if (c->blocking && deadline <= 0) {
		ssize_t r;
		do
			r = recv(c->read_fd, buf, n, 0);
		while (r < 0 && errno == EINTR);
		return blocking_status(r);
	}
	return channel_status(net_read_some(c->read_fd, c->read_is_socket, buf, n, deadline));
}

static long channel_write(void *context, const struct iovec *iov, int count, double deadline)
{
	fd_channel_t *c = context;
	if (c->blocking && deadline <= 0) {
		struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
		ssize_t r;
		do
			r = sendmsg(c->write_fd, &msg, MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		return blocking_status(r);
	}
	return channel_status(
		net_write_some(c->write_fd, c->write_is_socket, iov, count, deadline));
}

/* Write all of buf, waiting on a full socket or pipe. */
static int relay_write_all(int fd, int is_socket, const char *buf, size_t n, double deadline)
{
	while (n > 0) {
		struct iovec iov = {(void *)buf, n};
		ssize_t w = net_write_some(fd, is_socket, &iov, 1, deadline);
		if (w == NET_IO_TIMEOUT)
			return SESSION_ERR_TIMEOUT;
		if (w <= 0)
			return SESSION_ERR_IO;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The far session is already open (handshake and InitServer done by the constructor):
 * every later packet, in either direction, passes unchanged until one side ends. */
static int channel_relay(void *context, ffi_module_t *far_module, const void *pending,
			 size_t pending_len, double deadline)
{
	fd_channel_t *c = context;
	int far = session_relay_far_fd(far_module);
	if (far < 0)
		return SESSION_ERR_IO;
	int sent = relay_write_all(far, 1, pending, pending_len, deadline);
	if (sent)
		return sent;
	struct pollfd p[2] = {{.fd = c->read_fd, .events = POLLIN},
			      {.fd = far, .events = POLLIN}};
	const int to[2] = {far, c->write_fd}, to_socket[2] = {1, c->write_is_socket};
	char buf[RELAY_CHUNK];
	for (;;) {
		int ms = net_poll_timeout(deadline);
		if (ms == 0)
			return SESSION_ERR_TIMEOUT;
		int n = poll(p, 2, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SESSION_ERR_IO;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = read(p[i].fd, buf, sizeof buf);
			if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			if (got <= 0) {
				log_debug("relay: the %s side ended", i == 0 ? "client" : "far server");
				return got == 0 ? 0 : SESSION_ERR_IO;
			}
			int rc = relay_write_all(to[i], to_socket[i], buf, (size_t)got, deadline);
			if (rc)
				return rc;
		}
	}
}

/* Blocking mode for a session with no deadline on one socket (the usual case). Returns the
 * descriptor's flags to restore afterwards, or -1 when the channel stays non-blocking. In a
 * forked session the parent does not use the socket meanwhile; with a deadline it may (the
 * timeout notice), so such sessions keep O_NONBLOCK. */
static int channel_make_blocking(fd_channel_t *c, const session_options_t *opt)
{
	if (c->read_fd != c->write_fd || !c->read_is_socket || (opt && opt->timeout_seconds > 0))
		return -1;
	int flags = fcntl(c->read_fd, F_GETFL);
	if (flags < 0 || fcntl(c->read_fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
		return -1;
	c->blocking = 1;
	return flags;
}

int session_serve_fds(int read_fd, int write_fd, const session_options_t *opt)
{
	fd_channel_t c = {read_fd, write_fd, net_is_socket(read_fd), net_is_socket(write_fd), 0};
	int flags = channel_make_blocking(&c, opt);
	session_channel_t channel = {&c, channel_read, channel_write, channel_relay};
	int rc = session_run(&channel, opt);
	if (flags >= 0 && fcntl(read_fd, F_SETFL, flags) != 0)
		log_debug("restoring the socket's flags: %s", strerror(errno));
	return rc;
}

int session_serve(int fd, const session_options_t *opt)
{
	return session_serve_fds(fd, fd, opt);
}
