/* An asynchronous tracker connection (tracker_conn.h): the magic exchange, then frames through
 * tracker_codec.c's reader. After each callback the read loop checks whether the owner closed
 * the connection; the struct itself lives until libuv's close callback, so that check is safe. */
#include "services/tracker_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "services/net.h"
#include "services/tracker_codec.h"

struct tracker_conn {
	uv_tcp_t *tcp;
	tracker_conn_events_t ev;
	tracker_frame_reader_t reader;
	uint8_t magic[4];
	size_t magic_have;
	int closed; /* by the owner: no more callbacks */
	int failed; /* `failed` was reported */
	char buf[16384];
};

struct conn_write {
	uv_write_t req;
	char *data;
};

static void conn_fail(tracker_conn_t *c, const char *why)
{
	if (c->closed || c->failed)
		return;
	c->failed = 1;
	uv_read_stop((uv_stream_t *)c->tcp);
	c->ev.failed(c->ev.arg, why);
}

static void on_written(uv_write_t *req, int status)
{
	struct conn_write *w = (struct conn_write *)req;
	tracker_conn_t *c = req->handle->data;
	free(w->data);
	free(w);
	if (status < 0) {
		char why[96];
		snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
		conn_fail(c, why);
	}
}

/* Takes ownership of data. */
static int conn_write(tracker_conn_t *c, char *data, size_t len)
{
	struct conn_write *w = xmalloc(sizeof *w);
	w->data = data;
	uv_buf_t buf = uv_buf_init(data, (unsigned)len);
	int err = uv_write(&w->req, (uv_stream_t *)c->tcp, &buf, 1, on_written);
	if (err) {
		free(data);
		free(w);
	}
	return err;
}

int tracker_conn_send(tracker_conn_t *c, const cJSON *msg)
{
	if (c->closed || c->failed)
		return UV_ECANCELED;
	size_t len;
	char *frame = tracker_frame_encode(msg, &len);
	if (!frame)
		return UV_ENOMEM;
	return conn_write(c, frame, len);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	tracker_conn_t *c = h->data;
	*buf = uv_buf_init(c->buf, sizeof c->buf);
}

/* Bytes of the magic echo; 1 once it is complete and right, 0 for more, -1 after failing. */
static int take_magic(tracker_conn_t *c, const char *data, size_t len, size_t *off)
{
	while (c->magic_have < 4 && *off < len)
		c->magic[c->magic_have++] = (uint8_t)data[(*off)++];
	if (c->magic_have < 4)
		return 0;
	if (tracker_get_i32(c->magic) != TRACKER_MAGIC) {
		conn_fail(c, "peer is not an RPC tracker (bad magic)");
		return -1;
	}
	c->ev.ready(c->ev.arg);
	return c->closed || c->failed ? -1 : 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	tracker_conn_t *c = s->data;
	if (c->closed || c->failed)
		return;
	if (nread < 0) {
		char why[96];
		snprintf(why, sizeof why, "%s", nread == UV_EOF ? "tracker closed the connection"
							       : uv_strerror((int)nread));
		conn_fail(c, why);
		return;
	}
	size_t off = 0, len = (size_t)nread;
	if (c->magic_have < 4 && take_magic(c, buf->base, len, &off) <= 0)
		return;
	while (off < len) {
		size_t used = 0;
		cJSON *msg = NULL;
		int rc = tracker_frame_feed(&c->reader, buf->base + off, len - off, &used, &msg);
		off += used;
		if (rc < 0) {
			char why[64];
			snprintf(why, sizeof why, "bad frame from the tracker (%d)", rc);
			conn_fail(c, why);
			return;
		}
		if (rc == 0)
			break;
		c->ev.frame(c->ev.arg, msg);
		cJSON_Delete(msg);
		if (c->closed || c->failed)
			return;
	}
}

static void on_closed(uv_handle_t *h)
{
	tracker_conn_t *c = h->data;
	tracker_frame_reader_free(&c->reader);
	free(c->tcp);
	free(c);
}

tracker_conn_t *tracker_conn_start(uv_tcp_t *tcp, uint32_t max_message,
				   const tracker_conn_events_t *ev, char *why, size_t why_size)
{
	tracker_conn_t *c = xcalloc(1, sizeof *c);
	c->tcp = tcp;
	c->ev = *ev;
	tcp->data = c;
	tracker_frame_reader_init(&c->reader, max_message);
	net_tune(tcp);
	int err = uv_read_start((uv_stream_t *)tcp, on_alloc, on_read);
	if (!err) {
		/* The magic goes alone: TVM's tracker wants exactly 4 bytes in its first read. */
		char *magic = xmalloc(4);
		tracker_put_i32((uint8_t *)magic, TRACKER_MAGIC);
		err = conn_write(c, magic, 4);
	}
	if (err) {
		snprintf(why, why_size, "cannot start: %s", uv_strerror(err));
		c->closed = 1;
		uv_close((uv_handle_t *)tcp, on_closed);
		return NULL;
	}
	return c;
}

void tracker_conn_close(tracker_conn_t *c)
{
	if (!c || c->closed)
		return;
	c->closed = 1;
	uv_close((uv_handle_t *)c->tcp, on_closed);
}
