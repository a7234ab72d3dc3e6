/* Relay between two paired TCP sockets without copying through user space: each direction
 * has a pipe, bytes are splice(2)d socket -> pipe -> socket, driven by uv_poll on the raw
 * fds. A link holds at most one pipe (PROXY_LINK_PIPE_SIZE) per direction plus the first
 * bytes, whatever the transfer size; a full pipe stops reading the side that fills it. */
#include "services/proxy_link.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"

/* Bytes towards one side: the first bytes (handshake reply, early bytes), then the pipe. */
struct link_dir {
	int pipe[2];
	size_t piped;    /* bytes in the pipe */
	size_t capacity; /* what one splice into the pipe may ask for */
	char *pre;
	size_t pre_len, pre_off;
	int blocked; /* the destination's last write would block: wait for writable */
};

struct link_side {
	struct proxy_link *link;
	int index;
	int fd;            /* our dup of the accepted socket, -1 once closed */
	uv_poll_t poll;
	int poll_init;     /* poll handle initialised (it must be closed) */
	int events;        /* events the poll handle watches now */
	int close_started; /* poll closed or fd never taken */
	int closed;        /* poll close callback ran (or nothing to close) */
	int discard;       /* partner gone: read only to notice EOF, drop the bytes */
	int shut;          /* SHUT_WR sent after the last byte towards this side */
	uint64_t bytes_in;
};

struct proxy_link {
	uv_loop_t *loop;
	proxy_link_pool_t *pool;
	struct link_side side[2];
	struct link_dir dir[2]; /* dir[i]: bytes read from side 1-i, written to side i */
	uv_timer_t linger;
	int closing;
	int freeing;
	int gone_side; /* the side that ended first, -1 while both are up */
	int gone_err;  /* its read/write status (UV_EOF for a clean close) */
	proxy_link_closed_cb closed_cb;
	void *arg;
};

void proxy_link_pool_free(proxy_link_pool_t *pool)
{
	while (pool->count)
		free(pool->free[--pool->count]);
}

static void *pool_get(proxy_link_pool_t *pool)
{
	if (pool->count)
		return pool->free[--pool->count];
	return xmalloc(PROXY_LINK_BUFFER_SIZE);
}

static void pool_put(proxy_link_pool_t *pool, void *buf)
{
	if (pool->count < sizeof pool->free / sizeof pool->free[0])
		pool->free[pool->count++] = buf;
	else
		free(buf);
}

static void link_pump(struct proxy_link *link);

static void on_linger_closed(uv_handle_t *handle)
{
	struct proxy_link *link = handle->data;
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 2; k++)
			if (link->dir[i].pipe[k] >= 0)
				close(link->dir[i].pipe[k]);
		free(link->dir[i].pre);
	}
	link->closed_cb(link, link->arg);
	free(link);
}

static void link_maybe_free(struct proxy_link *link)
{
	if (link->freeing || !link->side[0].closed || !link->side[1].closed)
		return;
	link->freeing = 1;
	uv_close((uv_handle_t *)&link->linger, on_linger_closed);
}

static void on_poll_closed(uv_handle_t *handle)
{
	struct link_side *side = handle->data;
	close(side->fd);
	side->fd = -1;
	side->closed = 1;
	link_maybe_free(side->link);
}

static void side_close(struct link_side *side)
{
	if (side->close_started)
		return;
	side->close_started = 1;
	side->events = 0;
	if (side->poll_init) {
		uv_close((uv_handle_t *)&side->poll, on_poll_closed);
		return;
	}
	if (side->fd >= 0)
		close(side->fd);
	side->fd = -1;
	side->closed = 1;
}

static void on_linger(uv_timer_t *timer)
{
	struct proxy_link *link = timer->data;
	log_debug("proxy link: draining side did not finish in time, closing it");
	side_close(&link->side[0]);
	side_close(&link->side[1]);
	link_maybe_free(link);
}

/* `side` ended (EOF or error). The first time, close it and let the other side drain: the
 * bytes already piped towards it are written, then it gets our FIN, and it is closed when its
 * EOF arrives (or the linger timer runs out), so unread input does not turn our close into a
 * reset that drops the tail. Bytes towards `side` are dropped. */
static void side_gone(struct link_side *side, int err)
{
	struct proxy_link *link = side->link;
	struct link_side *other = &link->side[1 - side->index];
	if (link->gone_side < 0) {
		link->gone_side = side->index;
		link->gone_err = err;
	}
	side_close(side);
	if (link->closing)
		return;
	link->closing = 1;
	if (other->close_started)
		return;
	other->discard = 1;
	uv_timer_start(&link->linger, on_linger, PROXY_LINK_LINGER_MS, 0);
}

/* What one non-blocking write towards `to` returned: 0 go on (bytes written, or EINTR),
 * 1 it would block (d->blocked set), -1 the side failed (already handled). */
static int write_outcome(struct link_dir *d, struct link_side *to, ssize_t n)
{
	if (n > 0 || (n < 0 && errno == EINTR))
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		d->blocked = 1;
		return 1;
	}
	side_gone(to, n < 0 ? -errno : UV_EPIPE);
	return -1;
}

/* Write what is queued towards side i. 0: all written (or nothing to do), 1: would block,
 * <0: the side failed (already handled). */
static int dir_flush(struct proxy_link *link, int i)
{
	struct link_dir *d = &link->dir[i];
	struct link_side *to = &link->side[i];
	if (to->close_started)
		return 0;
	while (d->pre_off < d->pre_len) {
		ssize_t n = send(to->fd, d->pre + d->pre_off, d->pre_len - d->pre_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc = write_outcome(d, to, n);
		if (rc)
			return rc;
		if (n > 0)
			d->pre_off += (size_t)n;
	}
	if (d->pre) {
		free(d->pre);
		d->pre = NULL;
		d->pre_len = d->pre_off = 0;
	}
	while (d->piped) {
		ssize_t n = splice(d->pipe[0], NULL, to->fd, NULL, d->piped,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		int rc = write_outcome(d, to, n);
		if (rc)
			return rc;
		if (n > 0)
			d->piped -= (size_t)n;
	}
	d->blocked = 0;
	return 0;
}

/* Partner gone: read and drop until EOF or nothing more is there. */
static void side_discard(struct link_side *side)
{
	struct proxy_link *link = side->link;
	void *buf = pool_get(link->pool);
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(side->fd, buf, PROXY_LINK_BUFFER_SIZE, MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		side_gone(side, n == 0 ? UV_EOF : -errno);
		break;
	}
	pool_put(link->pool, buf);
}

/* Move what side j has into the pipe towards its partner, pushing it on as it comes. Stops
 * when j has nothing more, or the partner cannot take more (then j is no longer polled for
 * reading until the partner drains: the back-pressure). */
static void side_pull(struct link_side *side)
{
	struct proxy_link *link = side->link;
	int o = 1 - side->index;
	struct link_dir *d = &link->dir[o];
	int got = 0;
	for (int i = 0; i < 64 && !side->close_started && !side->discard && !d->blocked; i++) {
		size_t room = d->capacity - d->piped;
		if (!room)
			break;
		ssize_t n = splice(side->fd, NULL, d->pipe[1], NULL, room,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->piped += (size_t)n;
			side->bytes_in += (uint64_t)n;
			got = 1;
			if (dir_flush(link, o) < 0)
				return;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Nothing to read, or the pipe has no free slot: push it on; if the
			 * partner is not taking it, wait for it to be writable. */
			if (d->piped)
				dir_flush(link, o);
			break;
		}
		side_gone(side, n == 0 ? UV_EOF : -errno);
		return;
	}
	if (got && !side->close_started) {
		/* Acknowledge at once: the sender's window does not wait for a delayed ACK. */
		int one = 1;
		setsockopt(side->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	}
}

static void on_poll(uv_poll_t *handle, int status, int events);

/* Which events each side waits for now, from the state of both directions. */
static void side_update(struct link_side *side)
{
	struct proxy_link *link = side->link;
	if (side->close_started || !side->poll_init)
		return;
	const struct link_dir *in = &link->dir[1 - side->index];
	const struct link_dir *out = &link->dir[side->index];
	int want = 0;
	if (side->discard || !in->blocked)
		want |= UV_READABLE;
	if (out->blocked)
		want |= UV_WRITABLE;
	if (want == side->events)
		return;
	side->events = want;
	int err = want ? uv_poll_start(&side->poll, want, on_poll) : uv_poll_stop(&side->poll);
	if (err) {
		log_debug("proxy link: poll failed: %s", uv_strerror(err));
		side_gone(side, err);
	}
}

/* After a side left: once everything towards the partner is written, send it our FIN. */
static void link_drain(struct proxy_link *link)
{
	for (int i = 0; i < 2; i++) {
		struct link_side *s = &link->side[i];
		if (!s->discard || s->shut || s->close_started)
			continue;
		if (dir_flush(link, i) != 0)
			continue;
		s->shut = 1;
		if (shutdown(s->fd, SHUT_WR) != 0)
			side_close(s);
	}
}

static void link_pump(struct proxy_link *link)
{
	if (link->closing)
		link_drain(link);
	for (int k = 0; k < 4; k++) {
		int changed = 0;
		for (int i = 0; i < 2; i++) {
			int before = link->side[i].events;
			side_update(&link->side[i]);
			changed |= before != link->side[i].events;
		}
		if (!changed)
			break;
	}
	link_maybe_free(link);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
	struct link_side *side = handle->data;
	struct proxy_link *link = side->link;
	if (status < 0) {
		/* libuv reports a socket error as EBADF: ask the socket what it was. */
		int soerr = 0;
		socklen_t len = sizeof soerr;
		if (getsockopt(side->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
			status = -soerr;
		side->events = 0;
		side_gone(side, status);
		link_pump(link);
		return;
	}
	if (events & UV_WRITABLE)
		dir_flush(link, side->index);
	if (!side->close_started && (events & UV_READABLE)) {
		if (side->discard)
			side_discard(side);
		else
			side_pull(side);
	}
	link_pump(link);
}

static void on_tcp_released(uv_handle_t *handle)
{
	free(handle);
}

/* Take the socket of `tcp` as a plain fd of our own (a uv_tcp_t and a uv_poll_t must not
 * watch one fd): dup it, then close the handle, which closes only its own descriptor. */
static int side_take(struct link_side *side, uv_tcp_t *tcp)
{
	uv_os_fd_t fd;
	side->fd = -1;
	int err = uv_fileno((uv_handle_t *)tcp, &fd);
	if (!err) {
		side->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (side->fd < 0)
			err = -errno;
	}
	uv_close((uv_handle_t *)tcp, on_tcp_released);
	if (err)
		return err;
	err = uv_poll_init_socket(side->link->loop, &side->poll, side->fd);
	if (err)
		return err;
	side->poll.data = side;
	side->poll_init = 1;
	return 0;
}

static int dir_open(struct link_dir *d)
{
	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		d->pipe[0] = d->pipe[1] = -1;
		return -errno;
	}
	/* A bigger pipe moves more per wakeup; refused past the user's pipe allowance, then the
	 * default size does (slower, still correct). */
	int size = fcntl(d->pipe[1], F_SETPIPE_SZ, PROXY_LINK_PIPE_SIZE);
	if (size < 0)
		size = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->capacity = size > 0 ? (size_t)size : 4096;
	return 0;
}

proxy_link_t *proxy_link_start(uv_loop_t *loop, proxy_link_pool_t *pool, uv_tcp_t *side0,
			       uv_tcp_t *side1, const uv_buf_t first[2],
			       proxy_link_closed_cb closed_cb, void *arg)
{
	struct proxy_link *link = xcalloc(1, sizeof *link);
	link->loop = loop;
	link->pool = pool;
	link->gone_side = -1;
	link->closed_cb = closed_cb;
	link->arg = arg;
	uv_timer_init(loop, &link->linger);
	link->linger.data = link;
	uv_tcp_t *tcp[2] = {side0, side1};
	int err = 0;
	for (int i = 0; i < 2; i++) {
		link->side[i].link = link;
		link->side[i].index = i;
		link->dir[i].pipe[0] = link->dir[i].pipe[1] = -1;
	}
	for (int i = 0; i < 2; i++) {
		int e = side_take(&link->side[i], tcp[i]);
		if (e && !err)
			err = e;
	}
	for (int i = 0; i < 2 && !err; i++)
		err = dir_open(&link->dir[i]);
	if (err) {
		log_warn("proxy link: cannot set up the relay: %s", uv_strerror(err));
		link->gone_side = 0;
		link->gone_err = err;
		proxy_link_close(link);
		return link;
	}
	for (int i = 0; i < 2; i++) {
		if (!first[i].len)
			continue;
		link->dir[i].pre = xmalloc(first[i].len);
		memcpy(link->dir[i].pre, first[i].base, first[i].len);
		link->dir[i].pre_len = first[i].len;
		if (!link->closing)
			dir_flush(link, i);
	}
	link_pump(link);
	return link;
}

void proxy_link_close(proxy_link_t *link)
{
	link->closing = 1;
	side_close(&link->side[0]);
	side_close(&link->side[1]);
	link_maybe_free(link);
}

void proxy_link_stats(const proxy_link_t *link, int side, proxy_link_side_stats_t *out)
{
	const struct link_side *s = &link->side[side & 1];
	const struct link_dir *to = &link->dir[side & 1];
	const struct link_dir *from = &link->dir[1 - (side & 1)];
	out->bytes_in = s->bytes_in;
	out->queued = to->piped + (to->pre_len - to->pre_off);
	out->paused = !s->close_started && !s->discard && from->blocked;
	out->open = !s->close_started;
}

int proxy_link_closing(const proxy_link_t *link)
{
	return link->closing;
}

int proxy_link_end(const proxy_link_t *link, int *err)
{
	if (err)
		*err = link->gone_err;
	return link->gone_side;
}
