/* Unit tests for the tracker registration client: a small fake tracker on the same libuv loop
 * records every frame the link sends and answers like TVM's tracker (magic echo, 0 for
 * UPDATE_INFO/PUT, a configurable pending list for GET_PENDING_MATCHKEYS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "services/matchkey.h"
#include "services/net.h"
#include "services/tracker_codec.h"
#include "services/tracker_link.h"
#include "base/xalloc.h"

#define MAX_FRAMES 256

struct fake_conn;

struct fake {
	uv_loop_t *loop;
	uv_tcp_t listener;
	int port;
	struct fake_conn *conn;
	int bad_magic;           /* answer the magic with garbage */
	int pending_mode;        /* 0: report every PUT matchkey as pending; 1: report [] */
	char *frames[MAX_FRAMES];
	int nframes;
	int connections;
	char last_put[256];
};

struct fake_conn {
	uv_tcp_t tcp;
	struct fake *fake;
	uint8_t magic[4];
	size_t magic_have;
	tracker_frame_reader_t reader;
	char buf[4096];
};

struct wr {
	uv_write_t req;
	char *data;
};

static void on_fake_written(uv_write_t *req, int status)
{
	(void)status;
	struct wr *w = (struct wr *)req;
	free(w->data);
	free(w);
}

static void fake_write(struct fake_conn *c, char *data, size_t len)
{
	struct wr *w = calloc(1, sizeof *w);
	w->data = data;
	uv_buf_t b = uv_buf_init(data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_fake_written) != 0) {
		free(data);
		free(w);
	}
}

static void fake_reply_text(struct fake_conn *c, const char *text)
{
	size_t n;
	char *frame = tracker_frame_from_text(text, &n);
	fake_write(c, frame, n);
}

static void on_fake_conn_closed(uv_handle_t *h)
{
	struct fake_conn *c = h->data;
	tracker_frame_reader_free(&c->reader);
	free(c);
}

static void fake_drop(struct fake *f)
{
	if (!f->conn)
		return;
	uv_close((uv_handle_t *)&f->conn->tcp, on_fake_conn_closed);
	f->conn = NULL;
}

static void fake_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	(void)s;
	struct fake_conn *c = h->data;
	*b = uv_buf_init(c->buf, sizeof c->buf);
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct fake_conn *c = s->data;
	struct fake *f = c->fake;
	if (n < 0) {
		if (f->conn == c)
			fake_drop(f);
		else
			uv_close((uv_handle_t *)&c->tcp, on_fake_conn_closed);
		return;
	}
	size_t off = 0;
	while (c->magic_have < 4 && off < (size_t)n) {
		c->magic[c->magic_have++] = (uint8_t)b->base[off++];
		if (c->magic_have == 4) {
			/* Like TVM's tracker: the magic must arrive alone. */
			assert_int_equal(off, (size_t)n);
			char *echo = malloc(4);
			tracker_put_i32((uint8_t *)echo, f->bad_magic ? 0x1234 : TRACKER_MAGIC);
			fake_write(c, echo, 4);
		}
	}
	while (off < (size_t)n) {
		size_t used;
		cJSON *msg = NULL;
		int rc = tracker_frame_feed(&c->reader, b->base + off, (size_t)n - off, &used, &msg);
		off += used;
		assert_true(rc >= 0);
		if (rc == 0)
			break;
		char *text = tracker_json_print(msg);
		assert_true(f->nframes < MAX_FRAMES);
		f->frames[f->nframes++] = text;
		int code = cJSON_GetArrayItem(msg, 0)->valueint;
		if (code == 3) {
			snprintf(f->last_put, sizeof f->last_put, "%s",
				 cJSON_GetArrayItem(cJSON_GetArrayItem(msg, 2), 1)->valuestring);
			fake_reply_text(c, "0");
		} else if (code == 5) {
			fake_reply_text(c, "0");
		} else if (code == 7) {
			char reply[300];
			if (f->pending_mode == 0)
				snprintf(reply, sizeof reply, "[\"%s\"]", f->last_put);
			else
				snprintf(reply, sizeof reply, "[]");
			fake_reply_text(c, reply);
		}
		cJSON_Delete(msg);
	}
}

static void fake_on_connection(uv_stream_t *server, int status)
{
	struct fake *f = server->data;
	assert_int_equal(status, 0);
	struct fake_conn *c = calloc(1, sizeof *c);
	c->fake = f;
	c->tcp.data = c;
	tracker_frame_reader_init(&c->reader, 1 << 20);
	uv_tcp_init(f->loop, &c->tcp);
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
	fake_drop(f);
	f->conn = c;
	f->connections++;
	uv_read_start((uv_stream_t *)&c->tcp, fake_alloc, fake_read);
}

static void fake_start(struct fake *f, uv_loop_t *loop, int port)
{
	memset(f, 0, sizeof *f);
	f->loop = loop;
	uv_tcp_init(loop, &f->listener);
	f->listener.data = f;
	f->port = net_listen_range(&f->listener, "127.0.0.1", port, 0, 16, fake_on_connection);
	assert_true(f->port > 0);
}

static void fake_stop(struct fake *f)
{
	fake_drop(f);
	uv_close((uv_handle_t *)&f->listener, NULL);
	for (int i = 0; i < f->nframes; i++)
		free(f->frames[i]);
	f->nframes = 0;
}

/* ---- link side ---------------------------------------------------------------------------- */

struct observer {
	int registered;
	int assigned;
	int lost_unclaimed;
	int lost_reconnect;
	char fresh[256];
};

static void obs_state(void *arg, tracker_link_state_t s)
{
	struct observer *o = arg;
	if (s == TRACKER_LINK_REGISTERED)
		o->registered++;
}

static void obs_assigned(void *arg, uint64_t id, const char *mk)
{
	(void)id;
	(void)mk;
	((struct observer *)arg)->assigned++;
}

static void obs_lost(void *arg, uint64_t id, const char *old, const char *fresh,
		     tracker_link_lost_reason_t reason)
{
	(void)id;
	struct observer *o = arg;
	assert_string_not_equal(old, fresh);
	snprintf(o->fresh, sizeof o->fresh, "%s", fresh);
	if (reason == TRACKER_LINK_LOST_UNCLAIMED)
		o->lost_unclaimed++;
	else
		o->lost_reconnect++;
}

static int count_prefix(const struct fake *f, const char *prefix)
{
	int n = 0;
	for (int i = 0; i < f->nframes; i++)
		if (strncmp(f->frames[i], prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

/* Run the loop until cond() holds or about 5 s pass. */
static int run_until(uv_loop_t *loop, int (*cond)(void *), void *arg)
{
	for (int i = 0; i < 500; i++) {
		if (cond(arg))
			return 1;
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(10);
	}
	return cond(arg);
}

struct ctx {
	uv_loop_t loop;
	struct fake fake;
	struct observer obs;
	tracker_link_t *link;
	uint64_t id;
	int closed;
};

static void link_closed(void *arg)
{
	((struct ctx *)arg)->closed = 1;
}

static void ctx_start(struct ctx *x, int regen_misses)
{
	memset(x, 0, sizeof *x);
	uv_loop_init(&x->loop);
	fake_start(&x->fake, &x->loop, 0);
	tracker_link_options_t opt;
	tracker_link_options_default(&opt);
	snprintf(opt.tracker, sizeof opt.tracker, "127.0.0.1:%d", x->fake.port);
	opt.poll_interval = 0.03;
	opt.regen_misses = regen_misses;
	opt.backoff_min = 0.02;
	opt.backoff_max = 0.1;
	tracker_link_events_t ev = {&x->obs, obs_state, obs_assigned, obs_lost};
	assert_int_equal(tracker_link_start(&x->loop, &opt, &ev, &x->link), 0);
}

static void ctx_stop(struct ctx *x)
{
	tracker_link_close(x->link, link_closed, x);
	fake_stop(&x->fake);
	for (int i = 0; i < 100 && !x->closed; i++)
		uv_run(&x->loop, UV_RUN_NOWAIT);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	assert_true(x->closed);
	assert_int_equal(uv_loop_close(&x->loop), 0);
}

static int has_put_and_poll(void *arg)
{
	struct ctx *x = arg;
	return count_prefix(&x->fake, "[3,") >= 1 && count_prefix(&x->fake, "[7]") >= 2;
}

static void test_register_shapes(void **state)
{
	(void)state;
	struct ctx x;
	ctx_start(&x, 4);
	assert_int_equal(tracker_link_set_info(x.link, "server:rasp", NULL, 9090), 0);
	assert_int_equal(tracker_link_offer(x.link, "rasp", 9090, NULL, &x.id), 0);
	assert_true(run_until(&x.loop, has_put_and_poll, &x));
	assert_string_equal(x.fake.frames[0], "[5, {\"key\": \"server:rasp\", \"addr\": [null, 9090]}]");
	const char *mk = tracker_link_matchkey(x.link, x.id);
	assert_non_null(mk);
	assert_int_equal(strlen(mk), strlen("rasp:") + 32);
	char want[300];
	snprintf(want, sizeof want, "[3, \"rasp\", [9090, \"%s\"], null]", mk);
	assert_string_equal(x.fake.frames[1], want);
	/* The tracker keeps listing the key: no regeneration, no assignment. */
	assert_int_equal(count_prefix(&x.fake, "[3,"), 1);
	assert_int_equal(x.obs.assigned, 0);
	assert_int_equal(x.obs.registered, 1);
	tracker_link_stats_t st;
	tracker_link_get_stats(x.link, &st);
	assert_int_equal(st.state, TRACKER_LINK_REGISTERED);
	assert_int_equal(st.puts, 1);
	ctx_stop(&x);
}

static int two_puts(void *arg)
{
	return count_prefix(&((struct ctx *)arg)->fake, "[3,") >= 2;
}

static void test_regenerates_unclaimed_key(void **state)
{
	(void)state;
	struct ctx x;
	ctx_start(&x, 3);
	tracker_link_offer(x.link, "k", 9091, "10.1.2.3", &x.id);
	x.fake.pending_mode = 1; /* the key "was handed out" */
	char first[256];
	assert_true(run_until(&x.loop, two_puts, &x));
	snprintf(first, sizeof first, "%s", x.fake.frames[0]);
	assert_non_null(strstr(first, "\"10.1.2.3\"]"));
	assert_int_equal(x.obs.assigned, 1);
	assert_int_equal(x.obs.lost_unclaimed, 1);
	assert_string_equal(x.obs.fresh, tracker_link_matchkey(x.link, x.id));
	assert_string_not_equal(first, x.fake.frames[x.fake.nframes - 1]);
	/* At least regen_misses polls came between the two PUTs. */
	int polls = 0;
	for (int i = 1; i < x.fake.nframes && strncmp(x.fake.frames[i], "[3,", 3) != 0; i++)
		polls++;
	assert_true(polls >= 3);
	ctx_stop(&x);
}

static int reconnected(void *arg)
{
	struct ctx *x = arg;
	return x->obs.registered >= 2 && count_prefix(&x->fake, "[3,") >= 2;
}

static void test_reconnects_and_reputs(void **state)
{
	(void)state;
	struct ctx x;
	ctx_start(&x, 4);
	tracker_link_set_info(x.link, "server:k", NULL, 1);
	tracker_link_offer(x.link, "k", 1, NULL, &x.id);
	assert_true(run_until(&x.loop, has_put_and_poll, &x));
	char before[256];
	snprintf(before, sizeof before, "%s", tracker_link_matchkey(x.link, x.id));
	fake_drop(&x.fake); /* the tracker "restarts" */
	assert_true(run_until(&x.loop, reconnected, &x));
	assert_int_equal(x.fake.connections, 2);
	assert_int_equal(x.obs.lost_reconnect, 1);
	assert_string_not_equal(before, tracker_link_matchkey(x.link, x.id));
	/* The second connection starts with UPDATE_INFO again, then the fresh PUT. */
	assert_int_equal(count_prefix(&x.fake, "[5,"), 2);
	ctx_stop(&x);
}

static int polled_a_lot(void *arg)
{
	return count_prefix(&((struct ctx *)arg)->fake, "[7]") >= 8;
}

static void test_hold_then_renew_puts_once(void **state)
{
	(void)state;
	struct ctx x;
	ctx_start(&x, 2);
	tracker_link_offer(x.link, "k", 1, NULL, &x.id);
	assert_true(run_until(&x.loop, has_put_and_poll, &x));
	x.fake.pending_mode = 1;
	assert_int_equal(tracker_link_hold(x.link, x.id), 0);
	assert_true(run_until(&x.loop, polled_a_lot, &x));
	/* Held: the missing key is neither reported nor regenerated. */
	assert_int_equal(count_prefix(&x.fake, "[3,"), 1);
	assert_int_equal(x.obs.lost_unclaimed, 0);
	x.fake.pending_mode = 0;
	assert_int_equal(tracker_link_renew(x.link, x.id), 0);
	assert_true(run_until(&x.loop, two_puts, &x));
	int base = x.fake.nframes;
	for (int i = 0; i < 20; i++) {
		uv_run(&x.loop, UV_RUN_NOWAIT);
		uv_sleep(10);
	}
	assert_true(x.fake.nframes > base);
	assert_int_equal(count_prefix(&x.fake, "[3,"), 2);
	assert_int_equal(tracker_link_hold(x.link, 999), UV_ENOENT);
	tracker_link_withdraw(x.link, x.id);
	assert_null(tracker_link_matchkey(x.link, x.id));
	ctx_stop(&x);
}

static int failed_twice(void *arg)
{
	tracker_link_stats_t st;
	tracker_link_get_stats(((struct ctx *)arg)->link, &st);
	return st.failures >= 2;
}

static void test_bad_magic_retries(void **state)
{
	(void)state;
	struct ctx x;
	ctx_start(&x, 4);
	x.fake.bad_magic = 1;
	tracker_link_offer(x.link, "k", 1, NULL, &x.id);
	assert_true(run_until(&x.loop, failed_twice, &x));
	assert_int_equal(x.obs.registered, 0);
	assert_int_equal(count_prefix(&x.fake, "[3,"), 0);
	tracker_link_stats_t st;
	tracker_link_get_stats(x.link, &st);
	assert_non_null(strstr(st.last_error, "magic"));
	ctx_stop(&x);
}

static void test_bad_address(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	tracker_link_options_t opt;
	tracker_link_options_default(&opt);
	snprintf(opt.tracker, sizeof opt.tracker, "no-port-here");
	tracker_link_t *link = (tracker_link_t *)1;
	assert_int_equal(tracker_link_start(&loop, &opt, NULL, &link), UV_EINVAL);
	assert_null(link);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_matchkey_format_and_uniqueness(void **state)
{
	(void)state;
	char a[64], b[64], small[8];
	assert_int_equal(matchkey_new("rasp", a, sizeof a), 0);
	assert_int_equal(matchkey_new("rasp", b, sizeof b), 0);
	assert_int_equal(strlen(a), 5 + MATCHKEY_SUFFIX_LEN);
	assert_memory_equal(a, "rasp:", 5);
	assert_null(strchr(a + 5, ':'));
	assert_int_equal(strspn(a + 5, "0123456789abcdef"), MATCHKEY_SUFFIX_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(matchkey_new("", a, sizeof a), 0);
	assert_int_equal(a[0], ':');
	assert_int_equal(matchkey_new("rasp", small, sizeof small), -1);
}

int main(void)
{
	xalloc_cjson_hooks_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_shapes),
		cmocka_unit_test(test_regenerates_unclaimed_key),
		cmocka_unit_test(test_reconnects_and_reputs),
		cmocka_unit_test(test_hold_then_renew_puts_once),
		cmocka_unit_test(test_bad_magic_retries),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_matchkey_format_and_uniqueness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
