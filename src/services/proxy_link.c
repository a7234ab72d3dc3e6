/* Relay between two paired TCP streams. Each read buffer travels to the other side as one
 * uv_write and returns to the pool when the write completes, so a link holds at most about
 * PROXY_LINK_WRITE_BOUND + one buffer per direction whatever the transfer size. */
#include "services/proxy_link.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "runtime/xalloc.h"
#include "services/net.h"

struct link_side {
	uv_tcp_t *tcp;
	struct proxy_link *link;
	int index;
	int close_started; /* uv_close called */
	int closed;        /* close callback ran */
	int paused;        /* read stopped: the partner's write queue is over the bound */
	int discard;       /* partner gone: read only to notice EOF, drop the bytes */
	size_t inflight;   /* bytes queued towards this side, not yet written */
	uint64_t bytes_in;
	uv_shutdown_t shutdown;
};

struct proxy_link {
	uv_loop_t *loop;
	proxy_link_pool_t *pool;
	struct link_side side[2];
	uv_timer_t linger;
	int closing;
	int gone_side; /* the side that ended first, -1 while both are up */
	int gone_err;  /* its read/write status (UV_EOF for a clean close) */
	proxy_link_closed_cb closed_cb;
	void *arg;
};

struct link_write {
	uv_write_t req;
	struct link_side *to;
	void *buf;
	size_t len;
	int pooled;
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
	if (!buf)
		return;
	if (pool->count < sizeof pool->free / sizeof pool->free[0])
		pool->free[pool->count++] = buf;
	else
		free(buf);
}

static void on_linger_closed(uv_handle_t *handle)
{
	struct proxy_link *link = handle->data;
	link->closed_cb(link, link->arg);
	free(link);
}

static void on_tcp_closed(uv_handle_t *handle)
{
	struct link_side *side = handle->data;
	struct proxy_link *link = side->link;
	free(side->tcp);
	side->tcp = NULL;
	side->closed = 1;
	if (link->side[0].closed && link->side[1].closed)
		uv_close((uv_handle_t *)&link->linger, on_linger_closed);
}

static void side_close(struct link_side *side)
{
	if (side->close_started)
		return;
	side->close_started = 1;
	uv_close((uv_handle_t *)side->tcp, on_tcp_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct link_side *side = handle->data;
	(void)suggested;
	buf->base = pool_get(side->link->pool);
	buf->len = PROXY_LINK_BUFFER_SIZE;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void side_read_start(struct link_side *side)
{
	side->paused = 0;
	int err = uv_read_start((uv_stream_t *)side->tcp, on_alloc, on_read);
	if (err && err != UV_EALREADY)
		log_debug("proxy link: read start failed: %s", uv_strerror(err));
}

static void on_linger(uv_timer_t *timer)
{
	struct proxy_link *link = timer->data;
	log_debug("proxy link: draining side did not finish in time, closing it");
	side_close(&link->side[0]);
	side_close(&link->side[1]);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct link_side *side = req->data;
	/* Written out: the partner has our FIN. Wait for its EOF (or the linger timer) before
	 * closing, so unread input does not turn our close into a reset that drops the tail. */
	if (status < 0)
		side_close(side);
}

/* `side` ended (EOF or error). The first time, close it and let the other side drain. */
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
	side_read_start(other);
	other->shutdown.data = other;
	if (uv_shutdown(&other->shutdown, (uv_stream_t *)other->tcp, on_shutdown) != 0)
		side_close(other);
	uv_timer_start(&link->linger, on_linger, PROXY_LINK_LINGER_MS, 0);
}

static void on_write(uv_write_t *req, int status)
{
	struct link_write *w = (struct link_write *)req;
	struct link_side *to = w->to;
	struct proxy_link *link = to->link;
	struct link_side *from = &link->side[1 - to->index];
	to->inflight -= w->len;
	if (w->pooled)
		pool_put(link->pool, w->buf);
	else
		free(w->buf);
	free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			side_gone(to, status);
		return;
	}
	if (from->paused && !link->closing && !from->close_started &&
	    to->inflight <= PROXY_LINK_WRITE_BOUND / 2)
		side_read_start(from);
}

/* Queue len bytes of buf towards `to`; buf belongs to the write from here on. */
static int side_write(struct link_side *to, void *buf, size_t len, int pooled)
{
	struct proxy_link *link = to->link;
	struct link_write *w = xmalloc(sizeof *w);
	w->to = to;
	w->buf = buf;
	w->len = len;
	w->pooled = pooled;
	uv_buf_t b = uv_buf_init(buf, (unsigned int)len);
	int err = uv_write(&w->req, (uv_stream_t *)to->tcp, &b, 1, on_write);
	if (err) {
		if (pooled)
			pool_put(link->pool, buf);
		else
			free(buf);
		free(w);
		return err;
	}
	to->inflight += len;
	return 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct link_side *side = stream->data;
	struct proxy_link *link = side->link;
	struct link_side *other = &link->side[1 - side->index];
	if (nread <= 0 || side->discard) {
		pool_put(link->pool, buf->base);
		if (nread < 0)
			side_gone(side, (int)nread);
		return;
	}
	net_quickack(side->tcp);
	side->bytes_in += (uint64_t)nread;
	int err = side_write(other, buf->base, (size_t)nread, 1);
	if (err) {
		side_gone(other, err);
		return;
	}
	if (other->inflight > PROXY_LINK_WRITE_BOUND) {
		uv_read_stop(stream);
		side->paused = 1;
	}
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
	for (int i = 0; i < 2; i++) {
		link->side[i].tcp = tcp[i];
		link->side[i].link = link;
		link->side[i].index = i;
		tcp[i]->data = &link->side[i];
	}
	for (int i = 0; i < 2 && !link->closing; i++) {
		if (!first[i].len)
			continue;
		void *copy = xmalloc(first[i].len);
		memcpy(copy, first[i].base, first[i].len);
		int err = side_write(&link->side[i], copy, first[i].len, 0);
		if (err)
			side_gone(&link->side[i], err);
	}
	for (int i = 0; i < 2 && !link->closing; i++)
		side_read_start(&link->side[i]);
	return link;
}

void proxy_link_close(proxy_link_t *link)
{
	link->closing = 1;
	side_close(&link->side[0]);
	side_close(&link->side[1]);
}

void proxy_link_stats(const proxy_link_t *link, int side, proxy_link_side_stats_t *out)
{
	const struct link_side *s = &link->side[side & 1];
	out->bytes_in = s->bytes_in;
	out->queued = s->inflight;
	out->paused = s->paused;
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
