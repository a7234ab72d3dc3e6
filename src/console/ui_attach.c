/* SUMMARY poller for --attach: connect, exchange the magic, then send [6] every interval and
 * hand each reply to the console. Any error closes the socket and retries after 2 s. */
#include "console/ui_attach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "services/net.h"
#include "services/tracker_codec.h"

struct ui_attach {
	uv_loop_t *loop;
	char host[256];
	int port;
	uint64_t interval_ms;
	ui_attach_cb cb;
	void *arg;
	uv_timer_t timer;
	uv_tcp_t *tcp; /* NULL while disconnected */
	uv_connect_t connect;
	uv_getaddrinfo_t resolve;
	int resolving;
	int magic_ok;
	uint8_t magic[4];
	size_t magic_have;
	int waiting; /* a SUMMARY is outstanding */
	tracker_frame_reader_t reader;
	int closing;
	int refs; /* the timer, the socket and a pending resolve each hold one */
	char readbuf[65536];
};

static void attach_unref(ui_attach_t *a)
{
	if (--a->refs == 0) {
		tracker_frame_reader_free(&a->reader);
		free(a);
	}
}

static void attach_schedule(ui_attach_t *a, uint64_t ms);

static void tcp_closed(uv_handle_t *h)
{
	ui_attach_t *a = h->data;
	free(h);
	attach_unref(a);
}

static void attach_fail(ui_attach_t *a, const char *fmt, const char *detail)
{
	char msg[300];
	snprintf(msg, sizeof msg, fmt, a->host, a->port, detail);
	if (a->tcp) {
		uv_close((uv_handle_t *)a->tcp, tcp_closed);
		a->tcp = NULL;
	}
	tracker_frame_reader_free(&a->reader);
	a->magic_ok = 0;
	a->magic_have = 0;
	a->waiting = 0;
	if (!a->closing) {
		a->cb(a->arg, NULL, msg);
		attach_schedule(a, 2000);
	}
}

static void on_write(uv_write_t *w, int status)
{
	ui_attach_t *a = w->data;
	free(w);
	if (status < 0 && a->tcp && !a->closing)
		attach_fail(a, "tracker %s:%d: write failed: %s", uv_strerror(status));
}

static void send_bytes(ui_attach_t *a, const void *data, size_t len)
{
	uv_write_t *w = xmalloc(sizeof *w + len);
	memcpy(w + 1, data, len);
	w->data = a;
	uv_buf_t buf = uv_buf_init((char *)(w + 1), (unsigned)len);
	if (uv_write(w, (uv_stream_t *)a->tcp, &buf, 1, on_write) != 0) {
		free(w);
		attach_fail(a, "tracker %s:%d: %s", "write failed");
	}
}

static void send_summary(ui_attach_t *a)
{
	static const char frame[] = {3, 0, 0, 0, '[', '6', ']'};
	a->waiting = 1;
	send_bytes(a, frame, sizeof frame);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	ui_attach_t *a = h->data;
	*buf = uv_buf_init(a->readbuf, sizeof a->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	ui_attach_t *a = s->data;
	if (a->closing)
		return;
	if (n < 0) {
		attach_fail(a, "tracker %s:%d: connection lost: %s", uv_strerror((int)n));
		return;
	}
	size_t off = 0;
	while (!a->magic_ok && off < (size_t)n) {
		a->magic[a->magic_have++] = (uint8_t)buf->base[off++];
		if (a->magic_have == 4) {
			if (tracker_get_i32(a->magic) != TRACKER_MAGIC) {
				attach_fail(a, "tracker %s:%d: %s", "is not an RPC tracker (bad magic)");
				return;
			}
			a->magic_ok = 1;
			send_summary(a);
		}
	}
	while (off < (size_t)n) {
		size_t used = 0;
		cJSON *msg = NULL;
		int rc = tracker_frame_feed(&a->reader, buf->base + off, (size_t)n - off, &used, &msg);
		off += used;
		if (rc < 0) {
			attach_fail(a, "tracker %s:%d: %s", "bad reply frame");
			return;
		}
		if (rc == 1) {
			const cJSON *code = cJSON_GetArrayItem(msg, 0);
			const cJSON *body = cJSON_GetArrayItem(msg, 1);
			a->waiting = 0;
			if (cJSON_IsArray(msg) && cJSON_IsNumber(code) && code->valueint == 0 &&
			    cJSON_IsObject(body))
				a->cb(a->arg, body, NULL);
			else
				a->cb(a->arg, NULL, "tracker answered SUMMARY with an unexpected shape");
			cJSON_Delete(msg);
			attach_schedule(a, a->interval_ms);
		}
		if (used == 0)
			break;
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	ui_attach_t *a = req->data;
	if (a->closing)
		return;
	if (status < 0) {
		attach_fail(a, "tracker %s:%d: cannot connect: %s", uv_strerror(status));
		return;
	}
	net_tune(a->tcp);
	tracker_frame_reader_init(&a->reader, 16u << 20);
	uint8_t magic[4];
	tracker_put_i32(magic, TRACKER_MAGIC);
	send_bytes(a, magic, 4);
	uv_read_start((uv_stream_t *)a->tcp, alloc_cb, on_read);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	ui_attach_t *a = req->data;
	a->resolving = 0;
	if (a->closing) {
		uv_freeaddrinfo(res);
		attach_unref(a);
		return;
	}
	attach_unref(a);
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		a->tcp = NULL;
		attach_fail(a, "tracker %s:%d: cannot resolve: %s", uv_strerror(status));
		return;
	}
	a->tcp = xmalloc(sizeof *a->tcp);
	uv_tcp_init(a->loop, a->tcp);
	a->refs++;
	a->tcp->data = a;
	a->connect.data = a;
	int err = uv_tcp_connect(&a->connect, a->tcp, res->ai_addr, on_connect);
	uv_freeaddrinfo(res);
	if (err)
		attach_fail(a, "tracker %s:%d: cannot connect: %s", uv_strerror(err));
}

static void on_timer(uv_timer_t *t)
{
	ui_attach_t *a = t->data;
	if (a->closing)
		return;
	if (a->tcp) {
		if (a->magic_ok && !a->waiting)
			send_summary(a);
		else if (a->waiting)
			attach_fail(a, "tracker %s:%d: %s", "no answer to SUMMARY");
		return;
	}
	if (a->resolving)
		return;
	char port[16];
	snprintf(port, sizeof port, "%d", a->port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	a->resolve.data = a;
	a->resolving = 1;
	a->refs++;
	if (uv_getaddrinfo(a->loop, &a->resolve, on_resolved, a->host, port, &hints) != 0) {
		a->resolving = 0;
		a->refs--;
		attach_schedule(a, 2000);
	}
}

static void attach_schedule(ui_attach_t *a, uint64_t ms)
{
	if (!a->closing)
		uv_timer_start(&a->timer, on_timer, ms, 0);
}

ui_attach_t *ui_attach_start(uv_loop_t *loop, const char *target, double interval, ui_attach_cb cb,
			     void *arg)
{
	ui_attach_t *a = xcalloc(1, sizeof *a);
	if (net_split_host_port(target, a->host, sizeof a->host, &a->port) != 0) {
		free(a);
		return NULL;
	}
	a->loop = loop;
	a->interval_ms = interval > 0.25 ? (uint64_t)(interval * 1000) : 1000;
	a->cb = cb;
	a->arg = arg;
	uv_timer_init(loop, &a->timer);
	a->timer.data = a;
	a->refs = 1;
	attach_schedule(a, 0);
	return a;
}

static void timer_closed(uv_handle_t *h)
{
	attach_unref(h->data);
}

void ui_attach_close(ui_attach_t *a)
{
	a->closing = 1;
	if (a->resolving)
		uv_cancel((uv_req_t *)&a->resolve);
	if (a->tcp) {
		uv_close((uv_handle_t *)a->tcp, tcp_closed);
		a->tcp = NULL;
	}
	uv_close((uv_handle_t *)&a->timer, timer_closed);
}
