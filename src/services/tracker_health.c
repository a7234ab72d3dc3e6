/* Health checks, tracker side (tracker_health.h): choosing and taking a board to probe, and
 * draining or undraining it on the result. Reads and changes tracker_state.h's structs, like
 * tracker_view.c; the probing itself is in health.c. */
#include "services/tracker_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/tracker_state.h"

static double now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A resource of c that a probe may take now, or NULL. */
static tracker_resource_t *probe_resource(const struct tracker_conn *c)
{
	if (c->admin_drained || c->state != TRACKER_CONN_OPEN)
		return NULL;
	for (struct tracker_list *l = c->resources.next; l != &c->resources; l = l->next) {
		tracker_resource_t *r = TRACKER_CONTAINER_OF(l, tracker_resource_t, owner_link);
		/* Probes never take a board away from a waiting user. A board the checker drained
		 * serves nobody anyway: probing it lets it come back for the waiting ones. */
		if (r->state == TRACKER_RESOURCE_FREE && r->queue->heap_len == 0)
			return r;
		if (r->state == TRACKER_RESOURCE_HELD && c->health_drained)
			return r;
	}
	return NULL;
}

int tracker_health_take(tracker_t *t, struct tracker_health_target *out)
{
	struct tracker_conn *best = NULL, *first = NULL;
	for (struct tracker_list *l = t->conns.next; l != &t->conns; l = l->next) {
		struct tracker_conn *c = TRACKER_CONTAINER_OF(l, struct tracker_conn, link);
		if (!probe_resource(c))
			continue;
		if (!first || c->id < first->id)
			first = c;
		if (c->id > t->health_next_id && (!best || c->id < best->id))
			best = c;
	}
	if (!best)
		best = first;
	if (!best)
		return UV_ENOENT;
	tracker_resource_t *r = probe_resource(best);
	const tracker_queue_t *q = r->queue;
	t->health_next_id = best->id;
	memset(out, 0, sizeof *out);
	out->conn_id = best->id;
	snprintf(out->key, sizeof out->key, "%s", q->key);
	snprintf(out->host, sizeof out->host, "%s", r->addr);
	out->port = r->port;
	snprintf(out->server, sizeof out->server, "%s:%d", r->addr, r->port);
	snprintf(out->matchkey, sizeof out->matchkey, "%s", r->matchkey);
	/* Taken exactly as an assignment: the server sees a client with this matchkey, then PUTs
	 * again, and a request that arrived meanwhile gets the board right after the probe. */
	tracker_conn_take_resource(best, r);
	return 0;
}

/* ---- sessions that end badly ---- */

#define TRACKER_MAX_BAD_BOARDS 1024

struct tracker_bad_board {
	char server[300];
	int in_a_row;
};

void tracker_health_configure(tracker_t *t, int failures_to_drain)
{
	t->health_failures_to_drain = failures_to_drain > 0 ? failures_to_drain : 0;
}

void tracker_health_free(tracker_t *t)
{
	free(t->bad_boards);
	t->bad_boards = NULL;
	t->bad_board_count = 0;
}

static struct tracker_bad_board *bad_board(tracker_t *t, const char *server, int create)
{
	for (size_t i = 0; i < t->bad_board_count; i++)
		if (strcmp(t->bad_boards[i].server, server) == 0)
			return &t->bad_boards[i];
	if (!create)
		return NULL;
	if (t->bad_board_count == TRACKER_MAX_BAD_BOARDS) /* forget the oldest */
		memmove(t->bad_boards, t->bad_boards + 1,
			--t->bad_board_count * sizeof *t->bad_boards);
	t->bad_boards = xrealloc(t->bad_boards, (t->bad_board_count + 1) * sizeof *t->bad_boards);
	struct tracker_bad_board *b = &t->bad_boards[t->bad_board_count++];
	memset(b, 0, sizeof *b);
	snprintf(b->server, sizeof b->server, "%s", server);
	return b;
}

static void bad_board_forget(tracker_t *t, const char *server)
{
	struct tracker_bad_board *b = bad_board(t, server, 0);
	if (!b)
		return;
	size_t i = (size_t)(b - t->bad_boards);
	memmove(b, b + 1, (t->bad_board_count - i - 1) * sizeof *b);
	t->bad_board_count--;
}

void tracker_health_session_end(tracker_t *t, const char *server, int end)
{
	if (!t->health_failures_to_drain || !server[0])
		return;
	if (end == TRACKER_END_RELEASED) {
		bad_board_forget(t, server);
	} else if (end == TRACKER_END_DROPPED || end == TRACKER_END_TIMED_OUT ||
		   end == TRACKER_END_CRASHED) {
		struct tracker_bad_board *b = bad_board(t, server, 1);
		b->in_a_row++;
	}
}

static void usage_note(tracker_t *t, const struct tracker_health_target *target,
		       const char *event, const char *reason);

void tracker_health_on_put(struct tracker_conn *c, const char *addr, int port)
{
	tracker_t *t = c->t;
	if (!t->health_failures_to_drain || c->drained)
		return;
	char server[300];
	snprintf(server, sizeof server, "%.250s:%d", addr, port);
	struct tracker_bad_board *b = bad_board(t, server, 0);
	if (!b || b->in_a_row < t->health_failures_to_drain)
		return;
	c->health_drained = 1;
	t->counters.health_drains++;
	snprintf(c->health_reason, sizeof c->health_reason,
		 "%d sessions in a row ended badly (crashed, timed out or server gone)",
		 b->in_a_row);
	struct tracker_health_target target;
	memset(&target, 0, sizeof target);
	snprintf(target.key, sizeof target.key, "%s", c->last_key);
	snprintf(target.server, sizeof target.server, "%s", server);
	usage_note(t, &target, "health_drain", c->health_reason);
	char how[220];
	snprintf(how, sizeof how, "by health check: %s", c->health_reason);
	tracker_conn_apply_hold(c, 1, how);
}

static void usage_note(tracker_t *t, const struct tracker_health_target *target,
		       const char *event, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "time", (double)(long long)(now_wall() * 1000) / 1000);
	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddStringToObject(o, "key", target->key);
	cJSON_AddStringToObject(o, "server", target->server);
	cJSON_AddStringToObject(o, "reason", reason);
	tracker_usage_note(&t->usage, o);
	cJSON_Delete(o);
}

void tracker_health_report(tracker_t *t, const struct tracker_health_target *target, int ok,
			   double rtt_us, const char *why, int failures_to_drain)
{
	struct tracker_conn *c = tracker_conn_find(t, target->conn_id);
	if (!c || c->state != TRACKER_CONN_OPEN)
		return;
	char text[600];
	if (ok) {
		c->probes_ok++;
		t->counters.probes_ok++;
		c->health_failures = 0;
		c->probe_rtt_us = rtt_us;
		snprintf(text, sizeof text, "health: probe of %.60s passed (%.0f us)", target->server,
			 rtt_us);
		tracker_event_note(t, TRACKER_EVENT_REGISTER, text);
		bad_board_forget(t, target->server);
		if (c->health_drained && !c->admin_drained) {
			c->health_drained = 0;
			c->health_reason[0] = '\0';
			usage_note(t, target, "health_undrain", "probe passed");
			tracker_conn_apply_hold(c, 0, "by health check: probe passed");
		}
		return;
	}
	c->probes_failed++;
	t->counters.probes_failed++;
	c->health_failures++;
	snprintf(text, sizeof text, "health: probe of %.60s failed (%d in a row): %.80s",
		 target->server, c->health_failures, why);
	tracker_event_note(t, TRACKER_EVENT_ERROR, text);
	log_warn("%s", text);
	if (c->health_drained || c->admin_drained || c->health_failures < failures_to_drain)
		return;
	c->health_drained = 1;
	t->counters.health_drains++;
	snprintf(c->health_reason, sizeof c->health_reason, "%d probes failed in a row: %.100s",
		 c->health_failures, why);
	usage_note(t, target, "health_drain", c->health_reason);
	char how[200];
	snprintf(how, sizeof how, "by health check: %s", c->health_reason);
	tracker_conn_apply_hold(c, 1, how);
}
