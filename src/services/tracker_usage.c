/* Usage records (tracker_usage.h). The file is opened O_APPEND and each record is one write()
 * of one complete line, so a crash (even kill -9) leaves only whole records behind, and
 * concurrent appends from logrotate's copy never interleave within a line. It is never
 * truncated; SIGHUP reopens it by name, so a rotated file is followed. */
#include "services/tracker_usage.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"

#define USAGE_DAY (24 * 3600.0)
#define USAGE_HOUR 3600.0
#define USAGE_RING_MAX (1u << 16) /* sessions kept in memory (the last day, at most) */

const char *tracker_session_end_name(enum tracker_session_end end)
{
	switch (end) {
	case TRACKER_END_RELEASED: return "released";
	case TRACKER_END_DROPPED: return "dropped";
	case TRACKER_END_TIMED_OUT: return "timed_out";
	case TRACKER_END_CANCELLED: return "cancelled";
	case TRACKER_END_CRASHED: return "crashed";
	case TRACKER_END_COUNT: break;
	}
	return "?";
}

void tracker_usage_init(tracker_usage_t *u)
{
	memset(u, 0, sizeof *u);
	u->fd = -1;
}

static void entry_clear(struct tracker_usage_entry *e)
{
	free(e->key);
	free(e->user);
	free(e->server);
	memset(e, 0, sizeof *e);
}

void tracker_usage_free(tracker_usage_t *u)
{
	while (u->waits) {
		struct tracker_wait_histogram *h = u->waits;
		u->waits = h->next;
		free(h->key);
		free(h);
	}
	if (u->fd >= 0)
		close(u->fd);
	for (size_t i = 0; i < u->ring_len; i++)
		entry_clear(&u->ring[(u->ring_head + i) % u->ring_cap]);
	free(u->ring);
	tracker_usage_init(u);
}

int tracker_usage_open(tracker_usage_t *u, const char *path, char *err, size_t err_size)
{
	int fd = -1;
	if (*path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			int e = errno;
			snprintf(err, err_size, "usage_log %s: %s", path, strerror(e));
			return -e;
		}
	}
	if (u->fd >= 0)
		close(u->fd);
	u->fd = fd;
	snprintf(u->path, sizeof u->path, "%s", path);
	return 0;
}

tracker_session_t *tracker_session_new(const char *key, const char *user, const char *client,
				       const char *server, const char *matchkey,
				       double request_time, double assign_time)
{
	tracker_session_t *s = xcalloc(1, sizeof *s);
	tracker_list_init(&s->link);
	s->key = xstrdup(key);
	s->user = xstrdup(user);
	s->client = xstrdup(client);
	s->server = xstrdup(server);
	s->matchkey = xstrdup(matchkey);
	s->request_time = request_time;
	s->assign_time = assign_time;
	return s;
}

void tracker_session_free(tracker_session_t *s)
{
	if (!s)
		return;
	tracker_list_remove(&s->link);
	free(s->key);
	free(s->user);
	free(s->client);
	free(s->server);
	free(s->matchkey);
	free(s);
}

static cJSON *time_or_null(double t)
{
	return t > 0 ? cJSON_CreateNumber(round(t * 1000) / 1000) : cJSON_CreateNull();
}

char *tracker_usage_line(const tracker_session_t *s, double end_time,
			 enum tracker_session_end end)
{
	int assigned = s->assign_time > 0;
	double started = assigned ? s->assign_time : end_time;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", s->key);
	cJSON_AddStringToObject(o, "user", s->user);
	cJSON_AddStringToObject(o, "client", s->client);
	cJSON_AddItemToObject(o, "server", assigned ? cJSON_CreateString(s->server)
						    : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "matchkey", assigned ? cJSON_CreateString(s->matchkey)
						      : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "request_time", time_or_null(s->request_time));
	cJSON_AddItemToObject(o, "assign_time", time_or_null(s->assign_time));
	cJSON_AddItemToObject(o, "end_time", time_or_null(end_time));
	cJSON_AddNumberToObject(o, "wait", round((started - s->request_time) * 1000) / 1000);
	cJSON_AddNumberToObject(o, "busy",
				assigned ? round((end_time - s->assign_time) * 1000) / 1000 : 0);
	cJSON_AddStringToObject(o, "end", tracker_session_end_name(end));
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		fatal("tracker: out of memory for a usage record");
	size_t n = strlen(text);
	char *line = xmalloc(n + 2);
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(text);
	return line;
}

static void usage_write(tracker_usage_t *u, const char *line)
{
	if (u->fd < 0)
		return;
	size_t n = strlen(line);
	/* One write() per record: whole lines or nothing, even under kill -9. */
	ssize_t w;
	do
		w = write(u->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)n && u->write_errors++ == 0)
		log_warn("usage_log %s: %s", u->path,
			 w < 0 ? strerror(errno) : "short write (disk full?)");
}

static void ring_push(tracker_usage_t *u, const tracker_session_t *s, double end_time,
		      enum tracker_session_end end)
{
	/* Drop entries older than a day, and the oldest when full. */
	while (u->ring_len && (u->ring_len == USAGE_RING_MAX ||
			       u->ring[u->ring_head].end_time < end_time - USAGE_DAY)) {
		entry_clear(&u->ring[u->ring_head]);
		u->ring_head = (u->ring_head + 1) % u->ring_cap;
		u->ring_len--;
	}
	if (u->ring_len == u->ring_cap) {
		size_t cap = u->ring_cap ? u->ring_cap * 2 : 256;
		struct tracker_usage_entry *ring = xcalloc(cap, sizeof *ring);
		for (size_t i = 0; i < u->ring_len; i++)
			ring[i] = u->ring[(u->ring_head + i) % u->ring_cap];
		free(u->ring);
		u->ring = ring;
		u->ring_cap = cap;
		u->ring_head = 0;
	}
	struct tracker_usage_entry *e = &u->ring[(u->ring_head + u->ring_len++) % u->ring_cap];
	int assigned = s->assign_time > 0;
	e->key = xstrdup(s->key);
	e->user = xstrdup(s->user);
	e->server = xstrdup(s->server);
	e->end_time = end_time;
	e->assigned = assigned;
	e->wait = (assigned ? s->assign_time : end_time) - s->request_time;
	e->busy = assigned ? end_time - s->assign_time : 0;
	e->end = end;
}

void tracker_usage_note(tracker_usage_t *u, const cJSON *record)
{
	char *text = cJSON_PrintUnformatted(record);
	if (!text)
		fatal("tracker: out of memory for a usage record");
	size_t n = strlen(text);
	char *line = xmalloc(n + 2);
	memcpy(line, text, n);
	memcpy(line + n, "\n", 2);
	free(text);
	usage_write(u, line);
	free(line);
}

void tracker_usage_finish(tracker_usage_t *u, tracker_session_t *s, double end_time,
			  enum tracker_session_end end)
{
	char *line = tracker_usage_line(s, end_time, end);
	usage_write(u, line);
	free(line);
	ring_push(u, s, end_time, end);
	u->ended[end]++;
	tracker_session_free(s);
}

/* ---- wait histograms ---- */

const double tracker_wait_bounds[TRACKER_WAIT_BUCKETS] = {0.1, 0.5, 1,    5,    10,   30,
							 60,  300, 900, 1800, 3600, 14400};

static struct tracker_wait_histogram *histogram_get(tracker_usage_t *u, const char *key)
{
	for (struct tracker_wait_histogram *h = u->waits; h; h = h->next)
		if (strcmp(h->key, key) == 0)
			return h;
	if (u->wait_keys >= TRACKER_WAIT_MAX_KEYS && strcmp(key, "_other") != 0)
		return histogram_get(u, "_other");
	struct tracker_wait_histogram *h = xcalloc(1, sizeof *h);
	h->key = xstrdup(key);
	h->next = u->waits;
	u->waits = h;
	u->wait_keys++;
	return h;
}

void tracker_usage_observe_wait(tracker_usage_t *u, const char *key, double wait)
{
	if (!(wait >= 0))
		wait = 0;
	struct tracker_wait_histogram *h = histogram_get(u, key);
	size_t i = 0;
	while (i < TRACKER_WAIT_BUCKETS && wait > tracker_wait_bounds[i])
		i++;
	if (i < TRACKER_WAIT_BUCKETS)
		h->buckets[i]++;
	else
		h->over++;
	h->count++;
	h->sum += wait;
}

/* ---- statistics over the in-memory day ---- */

struct window {
	double *waits;
	size_t n, cap;
	double busy;
	int cancelled;
};

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t rank = (size_t)ceil(p * (double)n);
	return v[rank ? rank - 1 : 0];
}

static void window_add(struct window *w, const struct tracker_usage_entry *e)
{
	if (!e->assigned) {
		w->cancelled++;
		return;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->waits = xrealloc(w->waits, w->cap * sizeof *w->waits);
	}
	w->waits[w->n++] = e->wait;
	w->busy += e->busy;
}

static cJSON *window_json(struct window *w)
{
	if (w->n)
		qsort(w->waits, w->n, sizeof *w->waits, by_value);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "sessions", (double)w->n);
	cJSON_AddNumberToObject(o, "busy", round(w->busy * 1000) / 1000);
	cJSON_AddNumberToObject(o, "wait_p50", round(percentile(w->waits, w->n, 0.5) * 1000) / 1000);
	cJSON_AddNumberToObject(o, "wait_p95", round(percentile(w->waits, w->n, 0.95) * 1000) / 1000);
	cJSON_AddNumberToObject(o, "cancelled", w->cancelled);
	free(w->waits);
	memset(w, 0, sizeof *w);
	return o;
}

/* Stats of one name (a key or a user) into parent[name] = {"hour", "day"}. */
static void stats_for(const tracker_usage_t *u, cJSON *parent, const char *name, int by_user,
		      double now)
{
	struct window hour = {0}, day = {0};
	for (size_t i = 0; i < u->ring_len; i++) {
		const struct tracker_usage_entry *e = &u->ring[(u->ring_head + i) % u->ring_cap];
		if (strcmp(by_user ? e->user : e->key, name) != 0 || e->end_time < now - USAGE_DAY)
			continue;
		window_add(&day, e);
		if (e->end_time >= now - USAGE_HOUR)
			window_add(&hour, e);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "hour", window_json(&hour));
	cJSON_AddItemToObject(o, "day", window_json(&day));
	cJSON_AddItemToObject(parent, name, o);
}

cJSON *tracker_usage_stats(const tracker_usage_t *u, double now)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *keys = cJSON_AddObjectToObject(root, "keys");
	cJSON *users = cJSON_AddObjectToObject(root, "users");
	for (size_t i = 0; i < u->ring_len; i++) {
		const struct tracker_usage_entry *e = &u->ring[(u->ring_head + i) % u->ring_cap];
		if (e->end_time < now - USAGE_DAY)
			continue;
		if (!cJSON_GetObjectItemCaseSensitive(keys, e->key))
			stats_for(u, keys, e->key, 0, now);
		if (!cJSON_GetObjectItemCaseSensitive(users, e->user))
			stats_for(u, users, e->user, 1, now);
	}
	return root;
}
