/* Fair scheduling between users inside one tracker queue (docs/lab-operations.md): each
 * waiting request gets a round tag so that, within one priority, users take turns (round
 * robin by user, FIFO within a user). tracker_queue.c orders its heap by (priority, tag,
 * arrival); with fairness off every tag is 0, which is TVM's order exactly. Pure data. */
#ifndef TVMRPC_TRACKER_SCHED_H
#define TVMRPC_TRACKER_SCHED_H

#include <stddef.h>
#include <stdint.h>

struct tracker_queue;
struct tracker_request;

enum tracker_scheduling {
	TRACKER_SCHED_FAIR = 0, /* round robin by user within a priority (the default) */
	TRACKER_SCHED_FIFO = 1, /* TVM's order: priority, then arrival */
};

/* "fair" / "fifo" -> the mode; -1 for anything else. */
int tracker_sched_parse(const char *text);
const char *tracker_sched_name(int mode);

/* Give req its tag (the queue's mode decides) before it enters the heap. */
void tracker_sched_admit(struct tracker_queue *q, struct tracker_request *req);
/* req left the heap: served (assigned) moves the priority's round forward. */
void tracker_sched_leave(struct tracker_queue *q, struct tracker_request *req, int served);
/* Forget the queue's per-user bookkeeping (the queue is being deleted). */
void tracker_sched_free(struct tracker_queue *q);

#endif
