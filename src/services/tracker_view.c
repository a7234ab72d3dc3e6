/* The console's read-only window on the tracker (tracker_view.h): iterators over servers,
 * queues and requests, the event ring and counters. Admin actions go back to tracker.c. */
#include "services/tracker_view.h"

#include <string.h>

#include "services/tracker_state.h"

const char *tracker_event_kind_name(enum tracker_event_kind kind)
{
	switch (kind) {
	case TRACKER_EVENT_REGISTER: return "register";
	case TRACKER_EVENT_ASSIGN: return "assign";
	case TRACKER_EVENT_RELEASE: return "release";
	case TRACKER_EVENT_DROP: return "drop";
	case TRACKER_EVENT_ERROR: return "error";
	case TRACKER_EVENT_REFUSED: return "refused";
	}
	return "?";
}

size_t tracker_view_servers(const tracker_t *t,
			    int (*fn)(void *arg, const struct tracker_view_server *s), void *arg)
{
	size_t n = 0;
	for (const struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
		const struct tracker_conn *c = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
		if (!tracker_conn_is_server(c))
			continue;
		struct tracker_view_server s;
		memset(&s, 0, sizeof s);
		s.id = c->id;
		s.peer = c->peer;
		s.addr = c->addr_text ? c->addr_text : c->last_addr;
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(c->info, "key");
		s.key = cJSON_IsString(key) ? key->valuestring : c->last_key;
		const cJSON *cc = cJSON_GetObjectItemCaseSensitive(c->info, "compiler");
		s.compiler = cJSON_IsString(cc) ? cc->valuestring : NULL;
		const cJSON *devs = cJSON_GetObjectItemCaseSensitive(c->info, "devices");
		s.devices = cJSON_IsString(devs) ? devs->valuestring : NULL;
		for (const struct tracker_list *m = c->resources.next; m != &c->resources;
		     m = m->next) {
			const tracker_resource_t *r =
				TRACKER_CONTAINER_OF(m, tracker_resource_t, owner_link);
			if (r->state == TRACKER_RESOURCE_FREE)
				s.free++;
			else if (r->state == TRACKER_RESOURCE_HELD)
				s.held++;
		}
		s.state = c->drained ? TRACKER_SERVER_DRAINED
			  : s.free    ? TRACKER_SERVER_FREE
				      : TRACKER_SERVER_BUSY;
		s.sessions = c->sessions;
		s.registered = c->registered_at;
		s.drain_reason = c->admin_drained    ? "admin"
				 : c->health_drained ? c->health_reason
						     : NULL;
		s.health_drained = c->health_drained && !c->admin_drained;
		s.health_failures = c->health_failures;
		s.probes_ok = c->probes_ok;
		s.probes_failed = c->probes_failed;
		s.probe_rtt_us = c->probe_rtt_us;
		s.last_put = c->last_addr;
		n++;
		if (fn(arg, &s))
			break;
	}
	return n;
}

size_t tracker_view_queues(const tracker_t *t,
			   int (*fn)(void *arg, const struct tracker_view_queue *q), void *arg)
{
	size_t n = 0;
	for (tracker_queue_t *q = tracker_queues_first(&t->queues); q;
	     q = tracker_queues_next(&t->queues, q)) {
		struct tracker_view_queue v = {
			.key = q->key,
			.total = (int)q->holders,
			.free = (int)q->free_count,
			.pending = (int)q->heap_len,
		};
		n++;
		if (fn(arg, &v))
			break;
	}
	return n;
}

size_t tracker_view_requests(const tracker_t *t,
			     int (*fn)(void *arg, const struct tracker_view_request *r), void *arg)
{
	size_t n = 0;
	for (tracker_queue_t *q = tracker_queues_first(&t->queues); q;
	     q = tracker_queues_next(&t->queues, q)) {
		for (size_t i = 0; i < q->heap_len; i++) {
			const tracker_request_t *req = q->heap[i];
			const struct tracker_conn *c = req->owner;
			struct tracker_view_request v = {
				.id = req->id,
				.conn_id = c->id,
				.peer = c->peer,
				.key = q->key,
				.user = req->user,
				.priority = req->priority,
				.wait_start = req->wait_start,
			};
			n++;
			if (fn(arg, &v))
				return n;
		}
	}
	return n;
}

size_t tracker_view_events(const tracker_t *t, uint64_t after, struct tracker_view_event *out,
			   size_t max)
{
	uint64_t newest = t->event_seq;
	uint64_t oldest = newest >= TRACKER_VIEW_EVENT_RING ? newest - TRACKER_VIEW_EVENT_RING + 1 : 1;
	if (after + 1 > oldest)
		oldest = after + 1;
	if (newest >= oldest && newest - oldest + 1 > max)
		oldest = newest - max + 1;
	size_t n = 0;
	for (uint64_t seq = oldest; seq <= newest && n < max; seq++)
		out[n++] = t->events[seq % TRACKER_VIEW_EVENT_RING];
	return n;
}

void tracker_view_counters(const tracker_t *t, struct tracker_view_counters *out)
{
	*out = t->counters;
	for (int i = 0; i < TRACKER_VIEW_SESSION_ENDS && i < TRACKER_END_COUNT; i++)
		out->sessions_ended[i] = t->usage.ended[i];
	out->servers = 0;
	out->pending = 0;
	for (const struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
		const struct tracker_conn *c = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
		if (tracker_conn_is_server(c))
			out->servers++;
		out->pending += c->request_count;
	}
}

size_t tracker_view_recent_sessions(const tracker_t *t, const char *server,
				    struct tracker_view_session *out, size_t max)
{
	const tracker_usage_t *u = &t->usage;
	size_t n = 0;
	for (size_t i = u->ring_len; i-- > 0 && n < max;) {
		const struct tracker_usage_entry *e = &u->ring[(u->ring_head + i) % u->ring_cap];
		if (!e->assigned || strcmp(e->server, server) != 0)
			continue;
		out[n].user = e->user;
		out[n].end = tracker_session_end_name(e->end);
		out[n].end_time = e->end_time;
		out[n].wait = e->wait;
		out[n].busy = e->busy;
		n++;
	}
	return n;
}

size_t tracker_view_wait_histograms(const tracker_t *t,
				    void (*fn)(void *arg, const struct tracker_wait_histogram *h),
				    void *arg)
{
	size_t n = 0;
	for (const struct tracker_wait_histogram *h = t->usage.waits; h; h = h->next, n++)
		fn(arg, h);
	return n;
}

cJSON *tracker_view_usage(const tracker_t *t, double now)
{
	return tracker_usage_stats(&t->usage, now);
}

void tracker_view_set_on_change(tracker_t *t, void (*fn)(void *arg), void *arg)
{
	t->on_change = fn;
	t->on_change_arg = arg;
}

int tracker_admin_drain(tracker_t *t, uint64_t conn_id, int drained)
{
	struct tracker_conn *c = tracker_conn_find(t, conn_id);
	if (!c)
		return UV_ENOENT;
	tracker_conn_set_drained(c, drained);
	return 0;
}

int tracker_admin_kick(tracker_t *t, uint64_t conn_id)
{
	struct tracker_conn *c = tracker_conn_find(t, conn_id);
	if (!c)
		return UV_ENOENT;
	tracker_conn_kick(c);
	return 0;
}

int tracker_admin_cancel(tracker_t *t, uint64_t request_id)
{
	return tracker_request_cancel(t, request_id);
}
