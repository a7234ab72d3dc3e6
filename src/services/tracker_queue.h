/* Per-key scheduling state of the tracker: free resources in FIFO order (intrusive lists,
 * O(1) removal) and waiting requests in a binary heap that knows each entry's position
 * (O(log n) removal). Pure data structures: no sockets, no JSON; tracker.c owns the entries. */
#ifndef TVMRPC_TRACKER_QUEUE_H
#define TVMRPC_TRACKER_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "services/tracker_sched.h"

/* Intrusive doubly-linked list. A list is a sentinel link whose next/prev are itself when
 * empty; an unlinked node points to itself too, so unlinking twice is harmless. */
struct tracker_list {
	struct tracker_list *prev, *next;
};

#define TRACKER_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

void tracker_list_init(struct tracker_list *head);
int tracker_list_empty(const struct tracker_list *head);
void tracker_list_append(struct tracker_list *head, struct tracker_list *node);
void tracker_list_remove(struct tracker_list *node);

typedef struct tracker_queue tracker_queue_t;

enum tracker_resource_state {
	TRACKER_RESOURCE_FREE,    /* waiting in its queue's free list */
	TRACKER_RESOURCE_HELD,    /* unassigned, but its owner is drained: not in the free list */
	TRACKER_RESOURCE_SENDING, /* handed to a client; the reply write has not completed */
};

/* One PUT: a server (or a proxy slot) ready to take one session. */
typedef struct tracker_resource {
	struct tracker_list queue_link; /* in queue->free while FREE */
	struct tracker_list owner_link; /* in the owning connection's list (tracker.c) */
	tracker_queue_t *queue;
	void *owner;                    /* the connection that PUT it; NULL once it is gone */
	uint64_t id;
	enum tracker_resource_state state;
	char *addr;                     /* advertised address (custom or the peer's IP) */
	int port;
	int port_is_string;             /* echo the port back in the form it was PUT */
	char *matchkey;
	uint32_t matchkey_hash;         /* FNV-1a of matchkey: a PUT's refresh check skips strcmp */
	double put_time;                /* wall clock, seconds */
	struct tracker_session *session; /* while SENDING: the session the reply starts */
} tracker_resource_t;

/* One REQUEST waiting for a resource. */
typedef struct tracker_request {
	tracker_queue_t *queue;
	size_t heap_index;              /* position in queue->heap while queued */
	double priority;                /* larger first */
	uint64_t seq;                   /* arrival order within the queue: FIFO per priority */
	struct tracker_list owner_link; /* in the requesting connection's list (tracker.c) */
	void *owner;
	uint64_t id;
	char *user;
	char *who;                      /* fairness identity: user, or "anon@<peer ip>"; NULL
					 * takes no part in fair scheduling (tag 0) */
	uint64_t tag;                   /* fair round (tracker_sched.c); 0 under fifo */
	struct tracker_sched_user *sched_user;
	double wait_start;              /* wall clock, seconds */
} tracker_request_t;

/* Everything known about one device key. Created on first use, deleted as soon as nothing
 * refers to it (no free resource, no request, no live connection that PUT the key), so a
 * peer naming random keys cannot grow the tracker for ever. */
struct tracker_queue {
	char *key;
	struct tracker_list free; /* tracker_resource_t.queue_link, oldest first */
	size_t free_count;
	tracker_request_t **heap;
	size_t heap_len, heap_cap;
	uint64_t next_seq;
	int scheduling;                 /* enum tracker_scheduling (tracker_sched.h) */
	struct tracker_sched_level *sched_levels;
	size_t holders;           /* live connections that PUT this key (see tracker.c) */
	size_t held_count;        /* resources of drained owners */
	size_t sending_count;     /* resources whose assignment reply is being written */
	tracker_queue_t *hash_next;
	struct tracker_list all_link; /* in tracker_queues.all, creation order */
};

typedef struct tracker_queues {
	tracker_queue_t **buckets;
	size_t bucket_count;
	size_t count;
	struct tracker_list all; /* every queue, in creation order (like a Python dict) */
	int scheduling;          /* given to new queues; default fair (0) */
} tracker_queues_t;

void tracker_queues_init(tracker_queues_t *qs);
/* Frees every queue. Entries (resources, requests) belong to connections and must already be
 * gone; their queue pointers become invalid. */
void tracker_queues_free(tracker_queues_t *qs);
tracker_queue_t *tracker_queues_find(const tracker_queues_t *qs, const char *key);
/* The queue for key, created if needed. */
tracker_queue_t *tracker_queues_get(tracker_queues_t *qs, const char *key);
/* Delete q if nothing refers to it. Returns 1 if it was deleted. */
int tracker_queues_release(tracker_queues_t *qs, tracker_queue_t *q);
/* First queue in creation order and the next one; NULL at the end. */
tracker_queue_t *tracker_queues_first(const tracker_queues_t *qs);
tracker_queue_t *tracker_queues_next(const tracker_queues_t *qs, const tracker_queue_t *q);

/* Switch every queue to mode (enum tracker_scheduling). Waiting requests are tagged again in
 * arrival order, as if they had all arrived now under the new mode. */
void tracker_queues_set_scheduling(tracker_queues_t *qs, int mode);

/* Free list: append at the tail, remove from anywhere, peek the oldest. */
void tracker_queue_free_append(tracker_queue_t *q, tracker_resource_t *r);
void tracker_queue_free_remove(tracker_queue_t *q, tracker_resource_t *r);
tracker_resource_t *tracker_queue_free_first(const tracker_queue_t *q);

/* Request heap: push (assigns the arrival seq and the fair tag), remove from anywhere (not
 * served), peek the best. Order: priority (larger first), fair tag, arrival. */
void tracker_queue_request_push(tracker_queue_t *q, tracker_request_t *req);
void tracker_queue_request_remove(tracker_queue_t *q, tracker_request_t *req);
tracker_request_t *tracker_queue_request_top(const tracker_queue_t *q);

/* One scheduling step: if the queue has both a free resource and a request, take the oldest
 * resource and the best request out of the queue and return 1; otherwise return 0. */
int tracker_queue_match(tracker_queue_t *q, tracker_resource_t **res, tracker_request_t **req);

#endif
