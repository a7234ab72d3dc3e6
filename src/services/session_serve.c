/* A session channel over descriptors (session_serve.h). Sockets are read and written with
 * MSG_DONTWAIT and waited on only when they would block, so a deadline costs nothing while
 * data flows; other descriptors (pipes) are waited on first when there is a deadline. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "runtime/log.h"
#include "runtime/session_relay.h"
#include "services/net.h"
#include "services/session_serve.h"

#define RELAY_CHUNK 65536

typedef struct fd_channel {
	int read_fd, write_fd;
	int read_is_socket, write_is_socket;
} fd_channel_t;

/* 0 once fd is ready for `events`, else SESSION_CHANNEL_TIMEOUT or SESSION_CHANNEL_ERROR. */
static int channel_wait(int fd, short events, double deadline)
{
	int r = net_wait_fd(fd, events, deadline);
	return r > 0 ? 0 : r == 0 ? SESSION_CHANNEL_TIMEOUT : SESSION_CHANNEL_ERROR;
}

static long channel_read(void *context, void *buf, size_t n, double deadline)
{
	fd_channel_t *c = context;
	for (;;) {
		if (deadline > 0 && !c->read_is_socket) {
			int w = channel_wait(c->read_fd, POLLIN, deadline);
			if (w)
				return w;
		}
		ssize_t r = c->read_is_socket ? recv(c->read_fd, buf, n, MSG_DONTWAIT)
					      : read(c->read_fd, buf, n);
		if (r >= 0)
			return (long)r;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = channel_wait(c->read_fd, POLLIN, deadline);
			if (w)
				return w;
		} else if (errno != EINTR) {
			return SESSION_CHANNEL_ERROR;
		}
	}
}

static long channel_write(void *context, const struct iovec *iov, int count, double deadline)
{
	fd_channel_t *c = context;
	for (;;) {
		if (deadline > 0 && !c->write_is_socket) {
			int w = channel_wait(c->write_fd, POLLOUT, deadline);
			if (w)
				return w;
		}
		struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
		ssize_t r = c->write_is_socket
				    ? sendmsg(c->write_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
				    : writev(c->write_fd, iov, count);
		if (r >= 0)
			return (long)r;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = channel_wait(c->write_fd, POLLOUT, deadline);
			if (w)
				return w;
		} else if (errno != EINTR) {
			return SESSION_CHANNEL_ERROR;
		}
	}
}

/* Write all of buf, waiting on a full socket or pipe. */
static int relay_write_all(int fd, const char *buf, size_t n, double deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = channel_wait(fd, POLLOUT, deadline);
			if (r == SESSION_CHANNEL_TIMEOUT)
				return SESSION_ERR_TIMEOUT;
			if (r != 0)
				return SESSION_ERR_IO;
			continue;
		}
		return SESSION_ERR_IO;
	}
	return 0;
}

/* The far session is already open (handshake and InitServer done by the constructor):
 * every later packet, in either direction, passes unchanged until one side ends. */
static int channel_relay(void *context, ffi_module_t *far_module, double deadline)
{
	fd_channel_t *c = context;
	int far = session_relay_far_fd(far_module);
	if (far < 0)
		return SESSION_ERR_IO;
	struct pollfd p[2] = {{.fd = c->read_fd, .events = POLLIN},
			      {.fd = far, .events = POLLIN}};
	const int to[2] = {far, c->write_fd};
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
			int rc = relay_write_all(to[i], buf, (size_t)got, deadline);
			if (rc)
				return rc;
		}
	}
}

static int fd_is_socket(int fd)
{
	int type;
	socklen_t type_len = sizeof type;
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0;
}

int session_serve_fds(int read_fd, int write_fd, const session_options_t *opt)
{
	fd_channel_t c = {read_fd, write_fd, fd_is_socket(read_fd), fd_is_socket(write_fd)};
	session_channel_t channel = {&c, channel_read, channel_write, channel_relay};
	return session_run(&channel, opt);
}

int session_serve(int fd, const session_options_t *opt)
{
	return session_serve_fds(fd, fd, opt);
}
