/* Per-key queues of the tracker: a string hash table of queues, FIFO free lists and
 * position-tracking request heaps. Every operation on one REQUEST or PUT is O(1) or O(log n). */
#include "services/tracker_queue.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"

void tracker_list_init(struct tracker_list *head)
{
	head->prev = head->next = head;
}

int tracker_list_empty(const struct tracker_list *head)
{
	return head->next == head;
}

void tracker_list_append(struct tracker_list *head, struct tracker_list *node)
{
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

void tracker_list_remove(struct tracker_list *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = node;
}

/* ---- hash table of queues ---- */

static uint64_t key_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void tracker_queues_init(tracker_queues_t *qs)
{
	qs->bucket_count = 64;
	qs->buckets = xcalloc(qs->bucket_count, sizeof *qs->buckets);
	qs->count = 0;
	qs->scheduling = TRACKER_SCHED_FAIR;
	tracker_list_init(&qs->all);
}

static void queue_destroy(tracker_queue_t *q)
{
	tracker_sched_free(q);
	free(q->key);
	free(q->heap);
	free(q);
}

void tracker_queues_free(tracker_queues_t *qs)
{
	while (!tracker_list_empty(&qs->all)) {
		tracker_queue_t *q = TRACKER_CONTAINER_OF(qs->all.next, tracker_queue_t, all_link);
		tracker_list_remove(&q->all_link);
		queue_destroy(q);
	}
	free(qs->buckets);
	qs->buckets = NULL;
	qs->bucket_count = qs->count = 0;
}

tracker_queue_t *tracker_queues_find(const tracker_queues_t *qs, const char *key)
{
	tracker_queue_t *q = qs->buckets[key_hash(key) & (qs->bucket_count - 1)];
	for (; q; q = q->hash_next)
		if (strcmp(q->key, key) == 0)
			return q;
	return NULL;
}

static void queues_grow(tracker_queues_t *qs)
{
	size_t n = qs->bucket_count * 2;
	tracker_queue_t **b = xcalloc(n, sizeof *b);
	for (size_t i = 0; i < qs->bucket_count; i++) {
		tracker_queue_t *q = qs->buckets[i];
		while (q) {
			tracker_queue_t *next = q->hash_next;
			size_t slot = key_hash(q->key) & (n - 1);
			q->hash_next = b[slot];
			b[slot] = q;
			q = next;
		}
	}
	free(qs->buckets);
	qs->buckets = b;
	qs->bucket_count = n;
}

tracker_queue_t *tracker_queues_get(tracker_queues_t *qs, const char *key)
{
	tracker_queue_t *q = tracker_queues_find(qs, key);
	if (q)
		return q;
	if (qs->count + 1 > qs->bucket_count)
		queues_grow(qs);
	q = xcalloc(1, sizeof *q);
	q->key = xstrdup(key);
	q->scheduling = qs->scheduling;
	tracker_list_init(&q->free);
	tracker_list_init(&q->all_link);
	size_t slot = key_hash(key) & (qs->bucket_count - 1);
	q->hash_next = qs->buckets[slot];
	qs->buckets[slot] = q;
	tracker_list_append(&qs->all, &q->all_link);
	qs->count++;
	return q;
}

int tracker_queues_release(tracker_queues_t *qs, tracker_queue_t *q)
{
	if (q->free_count || q->heap_len || q->holders || q->held_count ||
	    q->sending_count)
		return 0;
	tracker_queue_t **pp = &qs->buckets[key_hash(q->key) & (qs->bucket_count - 1)];
	while (*pp && *pp != q)
		pp = &(*pp)->hash_next;
	if (!*pp)
		fatal("tracker: queue '%s' missing from its hash bucket", q->key);
	*pp = q->hash_next;
	tracker_list_remove(&q->all_link);
	qs->count--;
	queue_destroy(q);
	return 1;
}

tracker_queue_t *tracker_queues_first(const tracker_queues_t *qs)
{
	if (tracker_list_empty(&qs->all))
		return NULL;
	return TRACKER_CONTAINER_OF(qs->all.next, tracker_queue_t, all_link);
}

tracker_queue_t *tracker_queues_next(const tracker_queues_t *qs, const tracker_queue_t *q)
{
	if (q->all_link.next == &qs->all)
		return NULL;
	return TRACKER_CONTAINER_OF(q->all_link.next, tracker_queue_t, all_link);
}

/* ---- free list ---- */

void tracker_queue_free_append(tracker_queue_t *q, tracker_resource_t *r)
{
	tracker_list_append(&q->free, &r->queue_link);
	q->free_count++;
	r->state = TRACKER_RESOURCE_FREE;
}

void tracker_queue_free_remove(tracker_queue_t *q, tracker_resource_t *r)
{
	if (r->state != TRACKER_RESOURCE_FREE)
		fatal("tracker: removing a resource that is not free");
	tracker_list_remove(&r->queue_link);
	q->free_count--;
}

tracker_resource_t *tracker_queue_free_first(const tracker_queue_t *q)
{
	if (tracker_list_empty(&q->free))
		return NULL;
	return TRACKER_CONTAINER_OF(q->free.next, tracker_resource_t, queue_link);
}

/* ---- request heap ---- */

/* Does a go before b? Higher priority first, then earlier arrival. */
static int request_before(const tracker_request_t *a, const tracker_request_t *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	if (a->tag != b->tag)
		return a->tag < b->tag;
	return a->seq < b->seq;
}

static void heap_set(tracker_queue_t *q, size_t i, tracker_request_t *req)
{
	q->heap[i] = req;
	req->heap_index = i;
}

static void heap_up(tracker_queue_t *q, size_t i)
{
	tracker_request_t *req = q->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!request_before(req, q->heap[parent]))
			break;
		heap_set(q, i, q->heap[parent]);
		i = parent;
	}
	heap_set(q, i, req);
}

static void heap_down(tracker_queue_t *q, size_t i)
{
	tracker_request_t *req = q->heap[i];
	for (;;) {
		size_t best = i, l = 2 * i + 1, r = l + 1;
		const tracker_request_t *best_req = req;
		if (l < q->heap_len && request_before(q->heap[l], best_req)) {
			best = l;
			best_req = q->heap[l];
		}
		if (r < q->heap_len && request_before(q->heap[r], best_req))
			best = r;
		if (best == i)
			break;
		heap_set(q, i, q->heap[best]);
		i = best;
	}
	heap_set(q, i, req);
}

void tracker_queue_request_push(tracker_queue_t *q, tracker_request_t *req)
{
	if (q->heap_len == q->heap_cap) {
		q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 8;
		q->heap = xrealloc(q->heap, q->heap_cap * sizeof *q->heap);
	}
	req->queue = q;
	req->seq = q->next_seq++;
	tracker_sched_admit(q, req);
	heap_set(q, q->heap_len++, req);
	heap_up(q, req->heap_index);
}

static void heap_remove(tracker_queue_t *q, tracker_request_t *req)
{
	size_t i = req->heap_index;
	if (i >= q->heap_len || q->heap[i] != req)
		fatal("tracker: request is not in its queue's heap");
	q->heap_len--;
	if (i != q->heap_len) {
		tracker_request_t *moved = q->heap[q->heap_len];
		heap_set(q, i, moved);
		/* The moved entry may belong above or below its new place. */
		heap_up(q, i);
		heap_down(q, moved->heap_index);
	}
	req->heap_index = (size_t)-1;
}

void tracker_queue_request_remove(tracker_queue_t *q, tracker_request_t *req)
{
	heap_remove(q, req);
	tracker_sched_leave(q, req, 0);
}

tracker_request_t *tracker_queue_request_top(const tracker_queue_t *q)
{
	return q->heap_len ? q->heap[0] : NULL;
}

int tracker_queue_match(tracker_queue_t *q, tracker_resource_t **res, tracker_request_t **req)
{
	tracker_resource_t *r = tracker_queue_free_first(q);
	tracker_request_t *top = tracker_queue_request_top(q);
	if (!r || !top)
		return 0;
	tracker_queue_free_remove(q, r);
	heap_remove(q, top);
	tracker_sched_leave(q, top, 1);
	*res = r;
	*req = top;
	return 1;
}

/* ---- switching the scheduling mode ---- */

static int by_arrival(const void *a, const void *b)
{
	const tracker_request_t *x = *(tracker_request_t *const *)a;
	const tracker_request_t *y = *(tracker_request_t *const *)b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void queue_set_scheduling(tracker_queue_t *q, int mode)
{
	size_t n = q->heap_len;
	for (size_t i = 0; i < n; i++)
		tracker_sched_leave(q, q->heap[i], 0);
	q->scheduling = mode;
	qsort(q->heap, n, sizeof *q->heap, by_arrival);
	for (size_t i = 0; i < n; i++) {
		tracker_sched_admit(q, q->heap[i]);
		q->heap[i]->heap_index = i;
	}
	/* Sorted by arrival is not yet a heap in (priority, tag, arrival) order: sift down. */
	for (size_t i = n / 2; i-- > 0;)
		heap_down(q, i);
}

void tracker_queues_set_scheduling(tracker_queues_t *qs, int mode)
{
	qs->scheduling = mode;
	for (tracker_queue_t *q = tracker_queues_first(qs); q; q = tracker_queues_next(qs, q))
		queue_set_scheduling(q, mode);
}
