/* Fair scheduling (tracker_sched.h): start-time fair queuing with equal weights. Per priority
 * level the queue keeps a virtual time (the tag of the last request served at that level) and
 * per user the tag of their newest request; a new request's tag is max(level time, user's last
 * tag) + 1. Serving the smallest tag first is round robin between users, FIFO within one.
 * Bookkeeping exists only while a user has requests waiting, so it cannot grow without bound. */
#include "services/tracker_sched.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "services/tracker_queue.h"

struct tracker_sched_user {
	struct tracker_sched_user *next;
	struct tracker_sched_level *level;
	char *who;
	uint64_t last_tag;
	size_t waiting;
};

struct tracker_sched_level {
	struct tracker_sched_level *next;
	double priority;
	uint64_t vtime;
	size_t waiting;
	struct tracker_sched_user *users;
};

int tracker_sched_parse(const char *text)
{
	if (strcmp(text, "fair") == 0)
		return TRACKER_SCHED_FAIR;
	if (strcmp(text, "fifo") == 0)
		return TRACKER_SCHED_FIFO;
	return -1;
}

const char *tracker_sched_name(int mode)
{
	return mode == TRACKER_SCHED_FIFO ? "fifo" : "fair";
}

static struct tracker_sched_level *level_get(struct tracker_queue *q, double priority)
{
	for (struct tracker_sched_level *l = q->sched_levels; l; l = l->next)
		if (l->priority == priority)
			return l;
	struct tracker_sched_level *l = xcalloc(1, sizeof *l);
	l->priority = priority;
	l->next = q->sched_levels;
	q->sched_levels = l;
	return l;
}

static struct tracker_sched_user *user_get(struct tracker_sched_level *l, const char *who)
{
	for (struct tracker_sched_user *u = l->users; u; u = u->next)
		if (strcmp(u->who, who) == 0)
			return u;
	struct tracker_sched_user *u = xcalloc(1, sizeof *u);
	u->who = xstrdup(who);
	u->level = l;
	u->next = l->users;
	l->users = u;
	return u;
}

void tracker_sched_admit(struct tracker_queue *q, struct tracker_request *req)
{
	req->tag = 0;
	req->sched_user = NULL;
	if (q->scheduling != TRACKER_SCHED_FAIR || !req->who)
		return;
	struct tracker_sched_level *l = level_get(q, req->priority);
	struct tracker_sched_user *u = user_get(l, req->who);
	uint64_t start = u->last_tag > l->vtime ? u->last_tag : l->vtime;
	req->tag = start + 1;
	u->last_tag = req->tag;
	u->waiting++;
	l->waiting++;
	req->sched_user = u;
}

static void unlink_user(struct tracker_sched_level *l, struct tracker_sched_user *u)
{
	struct tracker_sched_user **pp = &l->users;
	while (*pp != u)
		pp = &(*pp)->next;
	*pp = u->next;
	free(u->who);
	free(u);
}

static void unlink_level(struct tracker_queue *q, struct tracker_sched_level *l)
{
	struct tracker_sched_level **pp = &q->sched_levels;
	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	free(l);
}

void tracker_sched_leave(struct tracker_queue *q, struct tracker_request *req, int served)
{
	struct tracker_sched_user *u = req->sched_user;
	if (!u)
		return;
	struct tracker_sched_level *l = u->level;
	req->sched_user = NULL;
	if (served && req->tag > l->vtime)
		l->vtime = req->tag;
	/* A user with nothing waiting has last_tag <= vtime unless requests were removed
	 * unserved; forgetting them lets that user start afresh at the level's time. */
	if (--u->waiting == 0)
		unlink_user(l, u);
	if (--l->waiting == 0)
		unlink_level(q, l);
}

void tracker_sched_free(struct tracker_queue *q)
{
	while (q->sched_levels) {
		struct tracker_sched_level *l = q->sched_levels;
		while (l->users)
			unlink_user(l, l->users);
		q->sched_levels = l->next;
		free(l);
	}
}
