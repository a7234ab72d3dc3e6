/* The tracker service: TVM's tracker protocol (docs/control-plane.md §2) on one libuv loop. It
 * accepts connections, reads magic + JSON frames through tracker_codec, and schedules
 * resources through tracker_queue; tracker_view.c reads the state for the console. */
#include "services/tracker.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/tracker_health.h"
#include "services/tracker_state.h"

/* A peer that does not read its replies may make us queue at most this much. */
#define TRACKER_MAX_WRITE_QUEUE (16u << 20)

void tracker_options_default(tracker_options_t *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "0.0.0.0");
	o->port = 9190;
	o->port_end = 9199;
	o->max_message = TRACKER_DEFAULT_MAX_MESSAGE;
	o->max_connections = 4096;
	o->handshake_timeout = 10;
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- events and change notification ---- */

static void tracker_changed(tracker_t *t)
{
	if (t->on_change && !t->closing)
		t->on_change(t->on_change_arg);
}

static void tracker_event(tracker_t *t, enum tracker_event_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tracker_event(tracker_t *t, enum tracker_event_kind kind, const char *fmt, ...)
{
	t->event_seq++;
	struct tracker_view_event *e = &t->events[t->event_seq % TRACKER_VIEW_EVENT_RING];
	e->seq = t->event_seq;
	e->time = wall_now();
	e->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
}

/* ---- handle lifetime ---- */

static void tracker_maybe_finish(tracker_t *t)
{
	if (!t->closing || t->handles_open > 0)
		return;
	tracker_queues_free(&t->queues);
	tracker_usage_free(&t->usage);
	tracker_health_free(t);
	net_acl_free(&t->acl);
	void (*done)(void *) = t->close_done;
	void *arg = t->close_arg;
	free(t);
	if (done)
		done(arg);
}

static void conn_handle_closed(uv_handle_t *handle)
{
	struct tracker_conn *c = handle->data;
	if (--c->handles_open > 0)
		return;
	tracker_t *t = c->t;
	free(c);
	t->handles_open--;
	tracker_maybe_finish(t);
}

static void listener_closed(uv_handle_t *handle)
{
	tracker_t *t = handle->data;
	t->handles_open--;
	tracker_maybe_finish(t);
}

/* ---- resources and requests ---- */

static void resource_free(tracker_resource_t *r)
{
	free(r->addr);
	free(r->matchkey);
	free(r);
}

static void request_free(tracker_request_t *req)
{
	free(req->user);
	free(req->who);
	free(req);
}

static void schedule(tracker_t *t, tracker_queue_t *q);

/* ---- sessions (usage accounting, docs/lab-operations.md) ---- */

static void session_finish(tracker_t *t, tracker_session_t *s, enum tracker_session_end end)
{
	if (t->closing || t->halted) { /* not finished, only no longer watched */
		tracker_session_free(s);
		return;
	}
	tracker_event(t, end == TRACKER_END_RELEASED ? TRACKER_EVENT_RELEASE : TRACKER_EVENT_DROP,
		      "session of %s on %s %s after %.1f s", s->user, s->server,
		      tracker_session_end_name(end), s->assign_time > 0 ? wall_now() - s->assign_time : 0);
	tracker_health_session_end(t, s->server, end);
	tracker_usage_finish(&t->usage, s, wall_now(), end);
}

/* A stock server cannot say when its session ended: its next PUT of the key is the end. */
static void sessions_release_oldest(struct tracker_conn *c, const char *key)
{
	for (struct tracker_list *l = c->open_sessions.next; l != &c->open_sessions; l = l->next) {
		tracker_session_t *s = TRACKER_CONTAINER_OF(l, tracker_session_t, link);
		if (strcmp(s->key, key) == 0) {
			int end = c->reported_end >= 0 ? c->reported_end : TRACKER_END_RELEASED;
			c->reported_end = -1;
			session_finish(c->t, s, (enum tracker_session_end)end);
			return;
		}
	}
}

/* Tear down everything a connection owns, at once: its free resources leave their queues and
 * its waiting requests leave their heaps (TVM keeps both until later, §2.7). */
static void conn_release_state(struct tracker_conn *c)
{
	tracker_t *t = c->t;
	while (!tracker_list_empty(&c->open_sessions)) {
		tracker_session_t *s = TRACKER_CONTAINER_OF(c->open_sessions.next, tracker_session_t, link);
		session_finish(t, s, c->kicked ? TRACKER_END_CANCELLED : TRACKER_END_DROPPED);
	}
	while (!tracker_list_empty(&c->requests)) {
		tracker_request_t *req =
			TRACKER_CONTAINER_OF(c->requests.next, tracker_request_t, owner_link);
		tracker_list_remove(&req->owner_link);
		tracker_queue_t *q = req->queue;
		tracker_queue_request_remove(q, req);
		request_free(req);
		tracker_queues_release(&t->queues, q);
	}
	c->request_count = 0;
	while (!tracker_list_empty(&c->resources)) {
		tracker_resource_t *r =
			TRACKER_CONTAINER_OF(c->resources.next, tracker_resource_t, owner_link);
		tracker_list_remove(&r->owner_link);
		tracker_queue_t *q = r->queue;
		if (r->state == TRACKER_RESOURCE_SENDING) {
			r->owner = NULL; /* the write callback frees it */
			continue;
		}
		if (r->state == TRACKER_RESOURCE_FREE)
			tracker_queue_free_remove(q, r);
		else
			q->held_count--;
		resource_free(r);
		tracker_queues_release(&t->queues, q);
	}
	c->resource_count = 0;
	tracker_index_free(&c->resource_index);
	for (size_t i = 0; i < c->key_count; i++) {
		c->keys[i]->holders--;
		tracker_queues_release(&t->queues, c->keys[i]);
	}
	free(c->keys);
	c->keys = NULL;
	c->key_count = c->key_cap = 0;
}

static void conn_close(struct tracker_conn *c)
{
	if (c->state == TRACKER_CONN_CLOSING)
		return;
	tracker_t *t = c->t;
	if (!t->closing && !t->halted) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(c->info, "key");
		if (c->registered)
			tracker_event(t, TRACKER_EVENT_DROP, "server %s (%s) disconnected", c->peer,
				      cJSON_IsString(key) ? key->valuestring : c->last_key);
		else if (c->request_count > 0)
			tracker_event(t, TRACKER_EVENT_DROP, "client %s left while waiting", c->peer);
	}
	c->state = TRACKER_CONN_CLOSING;
	conn_release_state(c);
	tracker_frame_reader_free(&c->reader);
	cJSON_Delete(c->info);
	c->info = NULL;
	free(c->addr_text);
	c->addr_text = NULL;
	tracker_list_remove(&c->link);
	t->conn_count--;
	t->counters.connections_open--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	tracker_changed(t);
}

/* A connection error: one log line with the peer, one event, then the connection ends. */
static void conn_fail(struct tracker_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void conn_fail(struct tracker_conn *c, const char *fmt, ...)
{
	if (c->state == TRACKER_CONN_CLOSING)
		return;
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warn("%s: %s; closing", c->peer, msg);
	c->t->counters.protocol_errors++;
	tracker_event(c->t, TRACKER_EVENT_ERROR, "%s: %s", c->peer, msg);
	conn_close(c);
}

/* ---- writing ---- */

struct tracker_write {
	uv_write_t req;
	tracker_resource_t *resource; /* an assignment: settled when the write completes */
	int halt_after;               /* the STOP reply: halt once it is out */
	size_t len;
	char data[];
};

static void tracker_halt(tracker_t *t);

static void resource_settle(tracker_t *t, tracker_resource_t *r, int delivered)
{
	tracker_queue_t *q = r->queue;
	struct tracker_conn *owner = r->owner;
	tracker_session_t *s = r->session;
	r->session = NULL;
	q->sending_count--;
	if (s && delivered && owner && owner->state != TRACKER_CONN_CLOSING)
		tracker_list_append(&owner->open_sessions, &s->link);
	else if (s && delivered)
		session_finish(t, s, TRACKER_END_DROPPED);
	else
		tracker_session_free(s);
	if (delivered || !owner || t->closing || t->halted) {
		if (owner) {
			tracker_list_remove(&r->owner_link);
			tracker_index_remove(&owner->resource_index, r);
			owner->resource_count--;
			if (delivered)
				owner->sessions++;
		}
		resource_free(r);
		tracker_queues_release(&t->queues, q);
		return;
	}
	/* The client never got it (its socket failed): the server is still waiting, so it goes
	 * back to the tail of the free list instead of being lost until key regeneration. */
	tracker_event(t, TRACKER_EVENT_RELEASE, "%s back to free: reply to client failed",
		      r->matchkey);
	if (owner->drained) {
		r->state = TRACKER_RESOURCE_HELD;
		q->held_count++;
	} else {
		tracker_queue_free_append(q, r);
		schedule(t, q);
	}
}

static void write_done(uv_write_t *req, int status)
{
	struct tracker_write *w = (struct tracker_write *)req;
	struct tracker_conn *c = req->handle->data;
	tracker_t *t = c->t;
	if (w->resource) {
		resource_settle(t, w->resource, status == 0);
		tracker_changed(t);
	}
	if (status < 0 && status != UV_ECANCELED)
		conn_fail(c, "write failed: %s", uv_strerror(status));
	if (w->halt_after)
		tracker_halt(t);
	free(w);
}

/* A plain reply (no assignment to settle, no halt after it) is first written at once with
 * uv_try_write: one write(2) and no request, where uv_write also costs an epoll_ctl to
 * re-arm the watcher. Returns the bytes written (what is left goes through uv_write). */
static size_t conn_try_write(struct tracker_conn *c, const char *frame, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)frame, (unsigned)len);
	int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	return n > 0 ? (size_t)n : 0;
}

/* One write per message (length and JSON together), so it leaves in one segment. */
static int conn_send_frame(struct tracker_conn *c, const char *frame, size_t len,
			   tracker_resource_t *resource, int halt_after)
{
	if (c->state == TRACKER_CONN_CLOSING)
		return UV_ECANCELED;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > TRACKER_MAX_WRITE_QUEUE) {
		conn_fail(c, "does not read its replies (over %u bytes queued)",
			  TRACKER_MAX_WRITE_QUEUE);
		return UV_ENOBUFS;
	}
	if (!resource && !halt_after) {
		size_t done = conn_try_write(c, frame, len);
		if (done == len)
			return 0;
		frame += done;
		len -= done;
	}
	struct tracker_write *w = xmalloc(sizeof *w + len);
	memcpy(w->data, frame, len);
	w->len = len;
	w->resource = resource;
	w->halt_after = halt_after;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
	int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_done);
	if (err) {
		free(w);
		conn_fail(c, "write failed: %s", uv_strerror(err));
	}
	return err;
}

static int conn_send_json(struct tracker_conn *c, const cJSON *msg, tracker_resource_t *resource,
			  int halt_after)
{
	size_t len;
	char *frame = tracker_frame_encode(msg, &len);
	if (!frame)
		fatal("tracker: out of memory encoding a reply");
	int err = conn_send_frame(c, frame, len, resource, halt_after);
	free(frame);
	return err;
}

static int conn_send_code(struct tracker_conn *c, int code, int halt_after)
{
	char frame[8];
	size_t len = code < 0 ? 2 : 1;
	tracker_put_i32((uint8_t *)frame, (int32_t)len);
	memcpy(frame + 4, code < 0 ? "-1" : "0", len);
	return conn_send_frame(c, frame, 4 + len, NULL, halt_after);
}

/* ---- scheduling (§2.5) ---- */

static cJSON *assignment_reply(const tracker_resource_t *r)
{
	cJSON *msg = cJSON_CreateArray();
	cJSON *val = cJSON_CreateArray();
	cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_SUCCESS));
	cJSON_AddItemToArray(msg, val);
	cJSON_AddItemToArray(val, cJSON_CreateString(r->addr));
	if (r->port_is_string) {
		char port[16];
		snprintf(port, sizeof port, "%d", r->port);
		cJSON_AddItemToArray(val, cJSON_CreateString(port));
	} else {
		cJSON_AddItemToArray(val, cJSON_CreateNumber(r->port));
	}
	cJSON_AddItemToArray(val, cJSON_CreateString(r->matchkey));
	return msg;
}

/* Hand out resources while the queue has both. q may be deleted on return. */
static void schedule(tracker_t *t, tracker_queue_t *q)
{
	tracker_resource_t *r;
	tracker_request_t *req;
	while (tracker_queue_match(q, &r, &req)) {
		struct tracker_conn *client = req->owner;
		tracker_list_remove(&req->owner_link);
		client->request_count--;
		r->state = TRACKER_RESOURCE_SENDING;
		q->sending_count++;
		t->counters.assignments++;
		tracker_event(t, TRACKER_EVENT_ASSIGN, "%s (%s:%d) -> %s", r->matchkey, r->addr,
			      r->port, client->peer);
		log_debug("assign %s (%s:%d) to %s", r->matchkey, r->addr, r->port,
			  client->peer);
		cJSON *msg = assignment_reply(r);
		char server[TRACKER_MAX_KEY_BYTES + 16];
		snprintf(server, sizeof server, "%s:%d", r->addr, r->port);
		r->session = tracker_session_new(q->key, req->who, client->peer, server, r->matchkey,
						 req->wait_start, wall_now());
		tracker_usage_observe_wait(&t->usage, q->key,
					   r->session->assign_time - req->wait_start);
		request_free(req);
		int err = conn_send_json(client, msg, r, 0);
		cJSON_Delete(msg);
		if (err) {
			/* Not even queued: the resource stays with the tracker. */
			tracker_session_free(r->session);
			r->session = NULL;
			q->sending_count--;
			if (r->owner && ((struct tracker_conn *)r->owner)->drained) {
				r->state = TRACKER_RESOURCE_HELD;
				q->held_count++;
			} else if (r->owner) {
				tracker_queue_free_append(q, r);
			} else {
				resource_free(r);
			}
		}
	}
	tracker_queues_release(&t->queues, q);
}

/* ---- request handlers ---- */

static const cJSON *arg_at(const cJSON *msg, int i)
{
	return cJSON_GetArrayItem(msg, i);
}

static int is_integer(const cJSON *v, double lo, double hi)
{
	return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
	       floor(v->valuedouble) == v->valuedouble;
}

static const char *string_arg(const cJSON *v, size_t max)
{
	if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) > max)
		return NULL;
	return v->valuestring;
}

/* Register c as a holder of q (counted in the queue's `total`). Returns 0 or -1 (limit). */
static int conn_hold_key(struct tracker_conn *c, tracker_queue_t *q)
{
	for (size_t i = 0; i < c->key_count; i++)
		if (c->keys[i] == q)
			return 0;
	if (c->key_count >= TRACKER_MAX_KEYS_PER_CONN)
		return -1;
	if (c->key_count == c->key_cap) {
		c->key_cap = c->key_cap ? c->key_cap * 2 : 4;
		c->keys = xrealloc(c->keys, c->key_cap * sizeof *c->keys);
	}
	c->keys[c->key_count++] = q;
	q->holders++;
	return 0;
}

static void conn_mark_registered(struct tracker_conn *c)
{
	if (!c->registered) {
		c->registered = 1;
		c->registered_at = wall_now();
	}
}

static uint32_t matchkey_hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int handle_put(struct tracker_conn *c, const cJSON *msg)
{
	tracker_t *t = c->t;
	const char *key = string_arg(arg_at(msg, 1), TRACKER_MAX_KEY_BYTES);
	const cJSON *pm = arg_at(msg, 2);
	const cJSON *custom = arg_at(msg, 3);
	if (!key || !cJSON_IsArray(pm) || cJSON_GetArraySize(pm) != 2) {
		conn_fail(c, "PUT is not [3, key, [port, matchkey], addr]");
		return -1;
	}
	const cJSON *port_item = cJSON_GetArrayItem(pm, 0);
	const char *matchkey = string_arg(cJSON_GetArrayItem(pm, 1), TRACKER_MAX_MATCHKEY_BYTES);
	int port = -1, port_is_string = 0;
	if (is_integer(port_item, 0, 65535)) {
		port = (int)port_item->valuedouble;
	} else if (cJSON_IsString(port_item)) {
		const char *s = port_item->valuestring;
		char *end;
		long v = strtol(s, &end, 10);
		if (*s >= '0' && *s <= '9' && !*end && v <= 65535 && strlen(s) <= 5) {
			port = (int)v;
			port_is_string = 1;
		}
	}
	const char *addr = c->peer_ip;
	if (custom && !cJSON_IsNull(custom)) {
		addr = string_arg(custom, TRACKER_MAX_KEY_BYTES);
		if (!addr) {
			conn_fail(c, "PUT address is neither null nor a short string");
			return -1;
		}
	}
	if (port < 0 || !matchkey) {
		conn_fail(c, "PUT needs [port 0..65535, matchkey string]");
		return -1;
	}
	tracker_queue_t *q = tracker_queues_get(&t->queues, key);
	/* A repeated PUT of a matchkey this connection still has unassigned is a refresh, not a
	 * second resource (TVM keeps both and later throws). Looked up in the connection's own
	 * index (tracker_index.c), so a PUT costs the same with 1 or 1,024 resources. */
	uint32_t hash = matchkey_hash(matchkey);
	if (tracker_index_find_unassigned(&c->resource_index, q, matchkey, hash)) {
		log_debug("%s: PUT of %s again, already free", c->peer, matchkey);
		return conn_send_code(c, TRACKER_SUCCESS, 0);
	}
	if (c->resource_count >= TRACKER_MAX_RESOURCES_PER_CONN || conn_hold_key(c, q) != 0) {
		tracker_queues_release(&t->queues, q);
		conn_fail(c, "too many resources or keys on one connection (limits %d, %d)",
			  TRACKER_MAX_RESOURCES_PER_CONN, TRACKER_MAX_KEYS_PER_CONN);
		return -1;
	}
	sessions_release_oldest(c, key);
	c->reported_end = -1; /* a report is about the session this PUT ends, or about none */
	snprintf(c->last_key, sizeof c->last_key, "%s", key);
	tracker_health_on_put(c, addr, port);
	tracker_resource_t *r = xcalloc(1, sizeof *r);
	tracker_list_init(&r->queue_link);
	r->queue = q;
	r->owner = c;
	r->id = ++t->next_resource_id;
	r->addr = xstrdup(addr);
	r->port = port;
	r->port_is_string = port_is_string;
	r->matchkey = xstrdup(matchkey);
	r->matchkey_hash = hash;
	r->put_time = wall_now();
	tracker_list_append(&c->resources, &r->owner_link);
	tracker_index_add(&c->resource_index, r);
	c->resource_count++;
	conn_mark_registered(c);
	snprintf(c->last_key, sizeof c->last_key, "%s", key);
	snprintf(c->last_addr, sizeof c->last_addr, "%s:%d", addr, port);
	t->counters.puts++;
	tracker_event(t, TRACKER_EVENT_REGISTER, "%s: PUT %s at %s:%d%s", c->peer, matchkey, addr,
		      port, c->drained ? " (held: drained)" : "");
	log_debug("%s: PUT %s %s:%d", c->peer, matchkey, addr, port);
	if (c->drained) {
		r->state = TRACKER_RESOURCE_HELD;
		q->held_count++;
	} else {
		tracker_queue_free_append(q, r);
		schedule(t, q); /* c holds q, so q survives */
	}
	/* As in TVM, the PUT is acknowledged after scheduling. */
	tracker_changed(t);
	return conn_send_code(c, TRACKER_SUCCESS, 0);
}

static int handle_request(struct tracker_conn *c, const cJSON *msg)
{
	tracker_t *t = c->t;
	const char *key = string_arg(arg_at(msg, 1), TRACKER_MAX_KEY_BYTES);
	const cJSON *user = arg_at(msg, 2);
	const cJSON *prio = arg_at(msg, 3);
	if (!key || !user || !cJSON_IsNumber(prio)) {
		conn_fail(c, "REQUEST is not [4, key, user, priority]");
		return -1;
	}
	if (c->request_count >= TRACKER_MAX_REQUESTS_PER_CONN) {
		conn_fail(c, "more than %d waiting requests on one connection",
			  TRACKER_MAX_REQUESTS_PER_CONN);
		return -1;
	}
	const char *user_text = string_arg(user, TRACKER_MAX_KEY_BYTES);
	tracker_queue_t *q = tracker_queues_get(&t->queues, key);
	tracker_request_t *req = xcalloc(1, sizeof *req);
	req->owner = c;
	req->id = ++t->next_request_id;
	req->priority = prio->valuedouble;
	req->user = xstrdup(user_text ? user_text : "");
	req->who = tracker_request_who(req->user, c->peer_ip);
	req->wait_start = wall_now();
	tracker_list_append(&c->requests, &req->owner_link);
	c->request_count++;
	t->counters.requests++;
	log_debug("%s: REQUEST %s priority %g", c->peer, key, req->priority);
	tracker_queue_request_push(q, req);
	schedule(t, q);
	tracker_changed(t);
	return 0;
}

/* Clients that send no user are one anonymous user per peer address (docs/lab-operations.md). */
char *tracker_request_who(const char *user, const char *peer_ip)
{
	if (*user)
		return xstrdup(user);
	size_t n = strlen(peer_ip) + 6;
	char *who = xmalloc(n);
	snprintf(who, n, "anon@%s", peer_ip);
	return who;
}

/* How TVM's query tool prints one addr element (Python str()). */
static void addr_part(char *buf, size_t size, const cJSON *v)
{
	if (cJSON_IsString(v))
		snprintf(buf, size, "%s", v->valuestring);
	else if (cJSON_IsNumber(v) && fabs(v->valuedouble) < 1e17 &&
		 floor(v->valuedouble) == v->valuedouble)
		snprintf(buf, size, "%lld", (long long)v->valuedouble);
	else if (cJSON_IsNumber(v))
		for (int prec = 1; prec <= 17; prec++) { /* shortest round trip, as Python */
			snprintf(buf, size, "%.*g", prec, v->valuedouble);
			if (strtod(buf, NULL) == v->valuedouble)
				break;
		}
	else if (cJSON_IsNull(v))
		snprintf(buf, size, "None");
	else if (cJSON_IsBool(v))
		snprintf(buf, size, "%s", cJSON_IsTrue(v) ? "True" : "False");
	else
		snprintf(buf, size, "?");
}

static void conn_update_addr_text(struct tracker_conn *c)
{
	free(c->addr_text);
	c->addr_text = NULL;
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(c->info, "addr");
	if (!cJSON_IsArray(addr))
		return;
	size_t cap = 64, len = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	for (const cJSON *v = addr->child; v; v = v->next) {
		char part[TRACKER_MAX_KEY_BYTES + 8];
		addr_part(part, sizeof part, v);
		size_t n = strlen(part) + (v != addr->child);
		if (len + n + 1 > cap) {
			while (len + n + 1 > cap)
				cap *= 2;
			out = xrealloc(out, cap);
		}
		len += (size_t)sprintf(out + len, "%s%s", v != addr->child ? ":" : "", part);
	}
	c->addr_text = out;
}

static int handle_update_info(struct tracker_conn *c, const cJSON *msg)
{
	tracker_t *t = c->t;
	const cJSON *obj = arg_at(msg, 1);
	const cJSON *addr = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "addr") : NULL;
	const cJSON *first = cJSON_IsArray(addr) ? cJSON_GetArrayItem(addr, 0) : NULL;
	if (!first || !(cJSON_IsNull(first) || cJSON_IsString(first))) {
		conn_fail(c, "UPDATE_INFO is not [5, {\"addr\": [null or host, port], ...}]");
		return -1;
	}
	cJSON *update = cJSON_Duplicate(obj, 1);
	if (!update)
		fatal("tracker: out of memory copying UPDATE_INFO");
	/* Our servers' one-shot report of how their last session ended (tracker_link.h): it ends
	 * that session at the next PUT and is not kept in the info. */
	cJSON *end = cJSON_DetachItemFromObjectCaseSensitive(update, "session_end");
	if (cJSON_IsString(end))
		c->reported_end = strcmp(end->valuestring, "crashed") == 0     ? TRACKER_END_CRASHED
				  : strcmp(end->valuestring, "timed_out") == 0 ? TRACKER_END_TIMED_OUT
									       : -1;
	cJSON_Delete(end);
	if (cJSON_IsNull(first)) {
		cJSON *a = cJSON_GetObjectItemCaseSensitive(update, "addr");
		cJSON_ReplaceItemInArray(a, 0, cJSON_CreateString(c->peer_ip));
	}
	cJSON *merged = c->info ? cJSON_Duplicate(c->info, 1) : cJSON_CreateObject();
	/* Shallow update, like dict.update: existing keys keep their place. */
	while (update->child) {
		cJSON *item = cJSON_DetachItemViaPointer(update, update->child);
		/* cJSON frees the replacement's own name before copying the one passed in. */
		char *name = xstrdup(item->string ? item->string : "");
		if (cJSON_GetObjectItemCaseSensitive(merged, name))
			cJSON_ReplaceItemInObjectCaseSensitive(merged, name, item);
		else
			cJSON_AddItemToObject(merged, name, item);
		free(name);
	}
	cJSON_Delete(update);
	char *text = tracker_json_print(merged);
	size_t size = text ? strlen(text) : 0;
	free(text);
	if (size == 0 || size > TRACKER_MAX_INFO_BYTES) {
		cJSON_Delete(merged);
		conn_fail(c, "UPDATE_INFO makes the server info larger than %d bytes",
			  TRACKER_MAX_INFO_BYTES);
		return -1;
	}
	cJSON_Delete(c->info);
	c->info = merged;
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(c->info, "key");
	c->info_is_server = cJSON_IsString(key) && strncmp(key->valuestring, "server", 6) == 0;
	conn_update_addr_text(c);
	conn_mark_registered(c);
	tracker_event(t, TRACKER_EVENT_REGISTER, "%s: %s at %s", c->peer,
		      cJSON_IsString(key) ? key->valuestring : "(no key)",
		      c->addr_text ? c->addr_text : "?");
	log_info("%s registered as %s", c->peer,
		 cJSON_IsString(key) ? key->valuestring : "(no key)");
	tracker_changed(t);
	return conn_send_code(c, TRACKER_SUCCESS, 0);
}

static int handle_summary(struct tracker_conn *c)
{
	tracker_t *t = c->t;
	cJSON *msg = cJSON_CreateArray();
	cJSON *body = cJSON_CreateObject();
	cJSON *queues = cJSON_CreateObject();
	cJSON *servers = cJSON_CreateArray();
	cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_SUCCESS));
	cJSON_AddItemToArray(msg, body);
	cJSON_AddItemToObject(body, "queue_info", queues);
	cJSON_AddItemToObject(body, "server_info", servers);
	for (tracker_queue_t *q = tracker_queues_first(&t->queues); q;
	     q = tracker_queues_next(&t->queues, q)) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "free", (double)q->free_count);
		cJSON_AddNumberToObject(e, "pending", (double)q->heap_len);
		cJSON_AddItemToObject(queues, q->key, e);
	}
	for (struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
		struct tracker_conn *s = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
		if (s->info && s->info_is_server)
			cJSON_AddItemToArray(servers, cJSON_Duplicate(s->info, 1));
	}
	int err = conn_send_json(c, msg, NULL, 0);
	cJSON_Delete(msg);
	return err;
}

static int handle_pending_matchkeys(struct tracker_conn *c)
{
	cJSON *msg = cJSON_CreateArray();
	for (struct tracker_list *l = c->resources.next; l != &c->resources; l = l->next) {
		tracker_resource_t *r = TRACKER_CONTAINER_OF(l, tracker_resource_t, owner_link);
		if (r->state != TRACKER_RESOURCE_SENDING)
			cJSON_AddItemToArray(msg, cJSON_CreateString(r->matchkey));
	}
	int err = conn_send_json(c, msg, NULL, 0);
	cJSON_Delete(msg);
	return err;
}

static int handle_usage(struct tracker_conn *c)
{
	cJSON *msg = cJSON_CreateArray();
	cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_SUCCESS));
	cJSON_AddItemToArray(msg, tracker_usage_stats(&c->t->usage, wall_now()));
	int err = conn_send_json(c, msg, NULL, 0);
	cJSON_Delete(msg);
	return err;
}

static int key_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned diff = (unsigned)(la ^ lb);
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static int handle_stop(struct tracker_conn *c, const cJSON *msg)
{
	const char *key = string_arg(arg_at(msg, 1), 1024);
	if (key && key_equal(key, c->t->stop_key)) {
		log_info("%s sent STOP with the right key; stopping", c->peer);
		c->state = TRACKER_CONN_STOPPING;
		return conn_send_code(c, TRACKER_SUCCESS, 1);
	}
	log_warn("%s: STOP with a wrong key; ignored", c->peer);
	tracker_event(c->t, TRACKER_EVENT_ERROR, "%s: STOP with a wrong key", c->peer);
	return conn_send_code(c, TRACKER_FAIL, 0);
}

static void conn_handle_message(struct tracker_conn *c, const cJSON *msg)
{
	const cJSON *code = cJSON_GetArrayItem(msg, 0);
	if (!cJSON_IsArray(msg) || !is_integer(code, -2147483648.0, 2147483647.0)) {
		conn_fail(c, "message is not [code, ...]");
		return;
	}
	switch ((int)code->valuedouble) {
	case TRACKER_PING:
		conn_send_code(c, TRACKER_SUCCESS, 0);
		break;
	case TRACKER_STOP:
		handle_stop(c, msg);
		break;
	case TRACKER_PUT:
		handle_put(c, msg);
		break;
	case TRACKER_REQUEST:
		handle_request(c, msg);
		break;
	case TRACKER_UPDATE_INFO:
		handle_update_info(c, msg);
		break;
	case TRACKER_SUMMARY:
		handle_summary(c);
		break;
	case TRACKER_GET_PENDING_MATCHKEYS:
		handle_pending_matchkeys(c);
		break;
	case TRACKER_USAGE:
		handle_usage(c);
		break;
	default:
		conn_fail(c, "unknown code %d", (int)code->valuedouble);
		break;
	}
}

/* ---- reading ---- */

static void conn_start_timer(struct tracker_conn *c);

static void conn_feed(struct tracker_conn *c, const char *data, size_t len)
{
	size_t off = 0;
	if (c->state == TRACKER_CONN_MAGIC) {
		/* Buffer the magic: it may arrive split, or together with the first frame. */
		while (c->magic_have < 4 && off < len)
			c->magic[c->magic_have++] = (uint8_t)data[off++];
		if (c->magic_have < 4)
			return;
		int32_t magic = tracker_get_i32(c->magic);
		if (magic != TRACKER_MAGIC) {
			conn_fail(c, "wrong magic 0x%08x (not a tracker client)", (unsigned)magic);
			return;
		}
		uv_timer_stop(&c->timer);
		c->state = TRACKER_CONN_OPEN;
		if (conn_send_frame(c, (const char *)c->magic, 4, NULL, 0) != 0)
			return;
	}
	while (off < len && c->state == TRACKER_CONN_OPEN) {
		size_t used = 0;
		cJSON *msg = NULL;
		int r = tracker_frame_feed(&c->reader, data + off, len - off, &used, &msg);
		off += used;
		if (r == 0)
			break;
		if (r == TRACKER_ERR_LENGTH) {
			conn_fail(c, "frame length %d outside 1..%u", tracker_get_i32(c->reader.header),
				  c->reader.max_len);
			return;
		}
		if (r < 0) {
			conn_fail(c, r == TRACKER_ERR_JSON ? "frame is not valid JSON"
							   : "out of memory for a frame");
			return;
		}
		conn_handle_message(c, msg);
		cJSON_Delete(msg);
	}
	/* A started frame must be finished in time, so that a peer cannot pin a frame buffer
	 * (up to max_message) by trickling or stalling; idle time between frames is free. */
	if (c->state == TRACKER_CONN_OPEN) {
		if (c->reader.header_have == 0)
			uv_timer_stop(&c->timer);
		else if (!uv_is_active((uv_handle_t *)&c->timer))
			conn_start_timer(c);
	}
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct tracker_conn *c = handle->data;
	buf->base = c->t->read_buf;
	buf->len = sizeof c->t->read_buf;
}

static int conn_mid_message(const struct tracker_conn *c)
{
	if (c->state == TRACKER_CONN_MAGIC)
		return c->magic_have > 0;
	return c->reader.header_have > 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct tracker_conn *c = stream->data;
	if (c->state == TRACKER_CONN_CLOSING || c->state == TRACKER_CONN_STOPPING)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && !conn_mid_message(c)) {
			log_debug("%s closed", c->peer);
			conn_close(c);
		} else if (nread == UV_EOF) {
			conn_fail(c, "closed in the middle of a message");
		} else {
			conn_fail(c, "read failed: %s", uv_strerror((int)nread));
		}
		return;
	}
	if (nread == 0)
		return;
	conn_feed(c, buf->base, (size_t)nread);
	/* A message still incomplete after this read (a stock client writes the length and the
	 * JSON separately, with Nagle on): ACK at once, or the client's Nagle waits out our
	 * delayed ACK (about 40 ms) before sending the rest. Whole messages need no system call
	 * here: the reply carries the ACK. */
	if ((c->state == TRACKER_CONN_OPEN || c->state == TRACKER_CONN_MAGIC) && conn_mid_message(c))
		net_quickack(&c->tcp);
}

static void on_timeout(uv_timer_t *timer)
{
	struct tracker_conn *c = timer->data;
	tracker_t *t = c->t;
	const char *what = c->state == TRACKER_CONN_MAGIC ? "no magic" : "message not completed";
	t->counters.handshake_timeouts++;
	log_warn("%s: %s within %g s; closing", c->peer, what, t->opt.handshake_timeout);
	tracker_event(t, TRACKER_EVENT_ERROR, "%s: %s within %g s", c->peer, what,
		      t->opt.handshake_timeout);
	conn_close(c);
}

/* The handshake_timeout limits both the wait for the magic and the time to finish a frame. */
static void conn_start_timer(struct tracker_conn *c)
{
	uint64_t ms = (uint64_t)(c->t->opt.handshake_timeout * 1000.0);
	uv_timer_start(&c->timer, on_timeout, ms ? ms : 1, 0);
}

static void refuse(tracker_t *t, struct tracker_conn *c, int acl)
{
	if (acl)
		t->counters.refused_acl++;
	else
		t->counters.refused_limit++;
	log_warn("%s: refused (%s)", c->peer,
		 acl ? "not in the allow list" : "max_connections reached");
	tracker_event(t, TRACKER_EVENT_REFUSED, "%s: %s", c->peer,
		      acl ? "not in the allow list" : "max_connections reached");
	c->state = TRACKER_CONN_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	tracker_changed(t);
}

static void on_connection(uv_stream_t *server, int status)
{
	tracker_t *t = server->data;
	if (status < 0) {
		/* E.g. out of file descriptors: say so, but at most once a second. */
		uint64_t now = uv_now(t->loop);
		if (!t->accept_error_logged || now - t->last_accept_error >= 1000) {
			log_warn("accept failed: %s", uv_strerror(status));
			t->accept_error_logged = 1;
			t->last_accept_error = now;
		}
		return;
	}
	struct tracker_conn *c = xcalloc(1, sizeof *c);
	c->t = t;
	tracker_list_init(&c->link);
	tracker_list_init(&c->resources);
	tracker_list_init(&c->requests);
	tracker_list_init(&c->open_sessions);
	c->reported_end = -1;
	uv_tcp_init(t->loop, &c->tcp);
	c->tcp.data = c;
	c->handles_open = 1;
	t->handles_open++;
	int err = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (err) {
		log_warn("accept failed: %s", uv_strerror(err));
		c->state = TRACKER_CONN_CLOSING;
		uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
		return;
	}
	net_peer_name(&c->tcp, c->peer, sizeof c->peer);
	net_peer_ip(&c->tcp, c->peer_ip, sizeof c->peer_ip);
	if (t->closing || t->halted) {
		c->state = TRACKER_CONN_CLOSING;
		uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
		return;
	}
	if (!net_acl_allows_handle(&t->acl, &c->tcp)) {
		refuse(t, c, 1);
		return;
	}
	if (t->conn_count >= (size_t)t->opt.max_connections) {
		refuse(t, c, 0);
		return;
	}
	c->id = ++t->next_conn_id;
	c->state = TRACKER_CONN_MAGIC;
	tracker_frame_reader_init(&c->reader, t->opt.max_message);
	uv_timer_init(t->loop, &c->timer);
	c->timer.data = c;
	c->handles_open = 2;
	tracker_list_append(&t->conns, &c->link);
	t->conn_count++;
	t->counters.connections_accepted++;
	t->counters.connections_open++;
	net_tune(&c->tcp);
	conn_start_timer(c);
	err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (err) {
		conn_fail(c, "cannot read: %s", uv_strerror(err));
		return;
	}
	log_debug("%s connected (#%llu)", c->peer, (unsigned long long)c->id);
	tracker_changed(t);
}

/* ---- lifecycle ---- */

static void close_everything(tracker_t *t)
{
	if (t->listener_open) {
		t->listener_open = 0;
		uv_close((uv_handle_t *)&t->listener, listener_closed);
	}
	while (!tracker_list_empty(&t->conns)) {
		struct tracker_conn *c = TRACKER_CONTAINER_OF(t->conns.next, struct tracker_conn, link);
		conn_close(c);
	}
}

static void tracker_halt(tracker_t *t)
{
	if (t->halted || t->closing)
		return;
	t->halted = 1;
	close_everything(t);
	tracker_changed(t);
	if (t->stop_cb)
		t->stop_cb(t->stop_arg);
}

static void make_stop_key(tracker_t *t)
{
	uint8_t bytes[16];
	/* uv_random reads getrandom()/dev/urandom; without a loop it runs synchronously. */
	if (uv_random(NULL, NULL, bytes, sizeof bytes, 0, NULL) != 0)
		fatal("tracker: no randomness for the stop key");
	int n = snprintf(t->stop_key, sizeof t->stop_key, "tracker:");
	for (size_t i = 0; i < sizeof bytes; i++)
		n += snprintf(t->stop_key + n, sizeof t->stop_key - (size_t)n, "%02x", bytes[i]);
}

int tracker_start(uv_loop_t *loop, const tracker_options_t *opt, tracker_t **out)
{
	*out = NULL;
	tracker_t *t = xcalloc(1, sizeof *t);
	t->loop = loop;
	t->opt = *opt;
	if (t->opt.max_message == 0)
		t->opt.max_message = TRACKER_DEFAULT_MAX_MESSAGE;
	if (t->opt.max_connections <= 0)
		t->opt.max_connections = 4096;
	if (t->opt.handshake_timeout <= 0)
		t->opt.handshake_timeout = 10;
	char err_text[160];
	if (net_acl_parse(&t->acl, t->opt.allow, err_text, sizeof err_text) != 0) {
		log_error("allow: %s", err_text);
		free(t);
		return UV_EINVAL;
	}
	tracker_usage_init(&t->usage);
	if (tracker_usage_open(&t->usage, t->opt.usage_log, err_text, sizeof err_text) != 0) {
		log_error("%s", err_text);
		net_acl_free(&t->acl);
		free(t);
		return UV_EINVAL;
	}
	tracker_queues_init(&t->queues);
	t->queues.scheduling = t->opt.scheduling;
	tracker_list_init(&t->conns);
	make_stop_key(t);
	uv_tcp_init(loop, &t->listener);
	t->listener.data = t;
	t->handles_open = 1;
	t->listener_open = 1;
	int port = net_listen_range(&t->listener, t->opt.host, t->opt.port, t->opt.port_end, 511,
				    on_connection);
	if (port < 0) {
		int end = t->opt.port_end > t->opt.port ? t->opt.port_end : t->opt.port + 1;
		log_error("cannot bind to any port in [%d, %d) on %s: %s", t->opt.port,
			  end, t->opt.host, uv_strerror(port));
		t->closing = 1; /* freed once the listener handle is closed */
		t->listener_open = 0;
		uv_close((uv_handle_t *)&t->listener, listener_closed);
		return port;
	}
	t->port = port;
	log_info("tracker listening on %s:%d", t->opt.host, port);
	log_info("tracker scheduling: %s", tracker_sched_name(t->opt.scheduling));
	*out = t;
	return 0;
}

int tracker_port(const tracker_t *t)
{
	return t ? t->port : -1;
}

const char *tracker_stop_key(const tracker_t *t)
{
	return t->stop_key;
}

void tracker_set_stop_callback(tracker_t *t, void (*fn)(void *arg), void *arg)
{
	t->stop_cb = fn;
	t->stop_arg = arg;
}

void tracker_close(tracker_t *t, void (*done)(void *arg), void *arg)
{
	if (!t) {
		if (done)
			done(arg);
		return;
	}
	t->close_done = done;
	t->close_arg = arg;
	t->closing = 1;
	close_everything(t);
	tracker_maybe_finish(t);
}

/* ---- used by tracker_view.c ---- */

struct tracker_conn *tracker_conn_find(const tracker_t *t, uint64_t id)
{
	for (struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
		struct tracker_conn *c = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
		if (c->id == id)
			return c;
	}
	return NULL;
}

int tracker_conn_is_server(const struct tracker_conn *c)
{
	return c->info_is_server || c->resource_count > 0 || (c->registered && !c->info);
}

/* Hold (or release) c's unassigned resources: c->drained is the effective state, the admin's
 * drain or the health checker's (tracker_health.c). `why` goes to the log and the events. */
void tracker_conn_apply_hold(struct tracker_conn *c, int drained, const char *why)
{
	tracker_t *t = c->t;
	drained = drained != 0;
	if (c->drained == drained)
		return;
	c->drained = drained;
	for (struct tracker_list *l = c->resources.next; l != &c->resources; l = l->next) {
		tracker_resource_t *r = TRACKER_CONTAINER_OF(l, tracker_resource_t, owner_link);
		if (drained && r->state == TRACKER_RESOURCE_FREE) {
			tracker_queue_free_remove(r->queue, r);
			r->state = TRACKER_RESOURCE_HELD;
			r->queue->held_count++;
		} else if (!drained && r->state == TRACKER_RESOURCE_HELD) {
			r->queue->held_count--;
			tracker_queue_free_append(r->queue, r);
		}
	}
	log_info("%s %s %s", c->peer, drained ? "drained" : "undrained", why);
	tracker_event(t, drained ? TRACKER_EVENT_DROP : TRACKER_EVENT_RELEASE, "%s %s %s",
		      c->peer, drained ? "drained" : "undrained", why);
	/* Released resources may satisfy waiting requests. c holds each of its keys, so the
	 * queues survive; stop if scheduling closed c (it might also be a requester). */
	for (size_t i = 0; !drained && i < c->key_count && c->state != TRACKER_CONN_CLOSING; i++)
		schedule(t, c->keys[i]);
	tracker_changed(t);
}

/* The admin's drain always wins over the health checker: draining holds the board whatever
 * the probes say, and undraining also clears a health drain (docs/lab-operations.md). */
void tracker_conn_set_drained(struct tracker_conn *c, int drained)
{
	c->admin_drained = drained != 0;
	if (!drained) {
		c->health_drained = 0;
		c->health_failures = 0;
	}
	tracker_conn_apply_hold(c, drained, "by admin");
}

void tracker_event_note(tracker_t *t, enum tracker_event_kind kind, const char *text)
{
	tracker_event(t, kind, "%s", text);
	tracker_changed(t);
}

void tracker_conn_kick(struct tracker_conn *c)
{
	log_info("%s kicked by admin", c->peer);
	c->kicked = 1;
	tracker_event(c->t, TRACKER_EVENT_DROP, "%s kicked by admin", c->peer);
	conn_close(c);
}

int tracker_request_cancel(tracker_t *t, uint64_t request_id)
{
	for (struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
		struct tracker_conn *c = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
		for (struct tracker_list *m = c->requests.next; m != &c->requests; m = m->next) {
			tracker_request_t *req =
				TRACKER_CONTAINER_OF(m, tracker_request_t, owner_link);
			if (req->id != request_id)
				continue;
			tracker_queue_t *q = req->queue;
			tracker_list_remove(&req->owner_link);
			c->request_count--;
			tracker_queue_request_remove(q, req);
			log_info("request #%llu of %s for %s cancelled by admin",
				 (unsigned long long)request_id, c->peer, q->key);
			tracker_event(t, TRACKER_EVENT_DROP, "request of %s for %s cancelled by admin",
				      c->peer, q->key);
			session_finish(t, tracker_session_new(q->key, req->who, c->peer, "", "",
							      req->wait_start, 0),
				       TRACKER_END_CANCELLED);
			request_free(req);
			tracker_queues_release(&t->queues, q);
			t->counters.cancelled++;
			cJSON *msg = cJSON_CreateArray();
			cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_FAIL));
			cJSON_AddItemToArray(msg, cJSON_CreateString("cancelled by tracker admin"));
			conn_send_json(c, msg, NULL, 0);
			cJSON_Delete(msg);
			tracker_changed(t);
			return 0;
		}
	}
	return UV_ENOENT;
}

/* Take an unassigned (free or held) resource out of the tracker for a probe, as an assignment
 * would: out of its queue, its owner's list and index; freed. Its queue may go with it. */
void tracker_conn_take_resource(struct tracker_conn *c, tracker_resource_t *r)
{
	tracker_queue_t *q = r->queue;
	if (r->state == TRACKER_RESOURCE_FREE)
		tracker_queue_free_remove(q, r);
	else if (r->state == TRACKER_RESOURCE_HELD)
		q->held_count--;
	else
		fatal("tracker: taking a resource that is being handed out");
	tracker_list_remove(&r->owner_link);
	tracker_index_remove(&c->resource_index, r);
	c->resource_count--;
	resource_free(r);
	tracker_queues_release(&c->t->queues, q);
}

/* The console's probe: take one free resource of a server exactly as an assignment to a
 * client would (the server sees a client with that matchkey, then registers again). */
int tracker_admin_take(tracker_t *t, uint64_t conn_id, char *host, size_t host_size, int *port,
		       char *matchkey, size_t matchkey_size)
{
	struct tracker_conn *c = tracker_conn_find(t, conn_id);
	if (!c)
		return UV_ENOENT;
	for (struct tracker_list *l = c->resources.next; l != &c->resources; l = l->next) {
		tracker_resource_t *r = TRACKER_CONTAINER_OF(l, tracker_resource_t, owner_link);
		if (r->state != TRACKER_RESOURCE_FREE)
			continue;
		snprintf(host, host_size, "%s", r->addr);
		*port = r->port;
		snprintf(matchkey, matchkey_size, "%s", r->matchkey);
		c->sessions++;
		t->counters.assignments++;
		tracker_event(t, TRACKER_EVENT_ASSIGN, "%s (%s:%d) -> console probe", r->matchkey,
			      r->addr, r->port);
		tracker_conn_take_resource(c, r);
		tracker_changed(t);
		return 0;
	}
	return UV_EBUSY;
}

int tracker_reopen_usage_log(tracker_t *t, char *err, size_t err_size)
{
	return tracker_usage_open(&t->usage, t->opt.usage_log, err, err_size);
}

/* SIGHUP: take the settings that can change while running. Addresses and ports cannot. */
int tracker_reconfigure(tracker_t *t, const tracker_options_t *opt, char *err, size_t err_size)
{
	net_acl_t acl;
	if (net_acl_parse(&acl, opt->allow, err, err_size) != 0)
		return UV_EINVAL;
	/* Reopened by name even if unchanged: after logrotate moved it, a new file starts. */
	if (tracker_usage_open(&t->usage, opt->usage_log, err, err_size) != 0) {
		net_acl_free(&acl);
		return UV_EINVAL;
	}
	snprintf(t->opt.usage_log, sizeof t->opt.usage_log, "%s", opt->usage_log);
	net_acl_free(&t->acl);
	t->acl = acl;
	snprintf(t->opt.allow, sizeof t->opt.allow, "%s", opt->allow);
	if (opt->max_message > 0) {
		t->opt.max_message = opt->max_message;
		/* Connections reading a frame keep the limit they started it with. */
		for (struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
			struct tracker_conn *c = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
			if (!c->reader.body)
				c->reader.max_len = opt->max_message;
		}
	}
	if (opt->max_connections > 0)
		t->opt.max_connections = opt->max_connections;
	if (opt->handshake_timeout > 0)
		t->opt.handshake_timeout = opt->handshake_timeout;
	if (opt->scheduling != t->opt.scheduling) {
		t->opt.scheduling = opt->scheduling;
		tracker_queues_set_scheduling(&t->queues, opt->scheduling);
	}
	log_info("settings reloaded: allow '%s', max_message %u, max_connections %d, "
		 "handshake_timeout %g s, scheduling %s", t->opt.allow, t->opt.max_message,
		 t->opt.max_connections, t->opt.handshake_timeout,
		 tracker_sched_name(t->opt.scheduling));
	return 0;
}
