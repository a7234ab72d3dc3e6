/* Unit tests of the tracker's per-key scheduling structures (tracker_queue.c): priority and
 * FIFO order, removal from anywhere, queue lifetime, and 10,000-entry workloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/tracker_queue.h"

static tracker_request_t *new_request(double priority, uint64_t id)
{
	tracker_request_t *r = calloc(1, sizeof *r);
	r->priority = priority;
	r->id = id;
	tracker_list_init(&r->owner_link);
	return r;
}

static tracker_resource_t *new_resource(uint64_t id)
{
	tracker_resource_t *r = calloc(1, sizeof *r);
	r->id = id;
	tracker_list_init(&r->queue_link);
	tracker_list_init(&r->owner_link);
	return r;
}

static uint64_t pop_id(tracker_queue_t *q)
{
	tracker_request_t *top = tracker_queue_request_top(q);
	assert_non_null(top);
	uint64_t id = top->id;
	tracker_queue_request_remove(q, top);
	free(top);
	return id;
}

static void test_priority_then_fifo(void **state)
{
	(void)state;
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "k");
	/* The order of docs/control-plane.md §2.5: (1, C1), (5, C2), (5, C3) -> C2, C3, C1. */
	tracker_queue_request_push(q, new_request(1, 1));
	tracker_queue_request_push(q, new_request(5, 2));
	tracker_queue_request_push(q, new_request(5, 3));
	tracker_queue_request_push(q, new_request(-2, 4));
	tracker_queue_request_push(q, new_request(5, 5));
	tracker_queue_request_push(q, new_request(1.5, 6));
	assert_int_equal(q->heap_len, 6);
	assert_int_equal(pop_id(q), 2);
	assert_int_equal(pop_id(q), 3);
	assert_int_equal(pop_id(q), 5);
	assert_int_equal(pop_id(q), 6);
	assert_int_equal(pop_id(q), 1);
	assert_int_equal(pop_id(q), 4);
	assert_null(tracker_queue_request_top(q));
	assert_int_equal(tracker_queues_release(&qs, q), 1);
	assert_null(tracker_queues_find(&qs, "k"));
	tracker_queues_free(&qs);
}

static void test_free_list_fifo_and_match(void **state)
{
	(void)state;
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "k");
	tracker_resource_t *a = new_resource(1), *b = new_resource(2), *c = new_resource(3);
	tracker_queue_free_append(q, a);
	tracker_queue_free_append(q, b);
	tracker_queue_free_append(q, c);
	assert_int_equal(q->free_count, 3);
	/* Removal from the middle keeps the order of the rest. */
	tracker_queue_free_remove(q, b);
	assert_int_equal(q->free_count, 2);
	tracker_resource_t *res;
	tracker_request_t *req;
	assert_int_equal(tracker_queue_match(q, &res, &req), 0); /* no request yet */
	tracker_queue_request_push(q, new_request(0, 10));
	tracker_queue_request_push(q, new_request(0, 11));
	tracker_queue_request_push(q, new_request(0, 12));
	assert_int_equal(tracker_queue_match(q, &res, &req), 1);
	assert_ptr_equal(res, a);
	assert_int_equal(req->id, 10);
	free(req);
	assert_int_equal(tracker_queue_match(q, &res, &req), 1);
	assert_ptr_equal(res, c);
	assert_int_equal(req->id, 11);
	free(req);
	assert_int_equal(tracker_queue_match(q, &res, &req), 0); /* nothing free */
	assert_int_equal(q->heap_len, 1);
	assert_int_equal(tracker_queues_release(&qs, q), 0); /* a request still refers to it */
	/* A resource back at the tail is matched with the remaining request. */
	tracker_queue_free_append(q, b);
	assert_int_equal(tracker_queue_match(q, &res, &req), 1);
	assert_ptr_equal(res, b);
	assert_int_equal(req->id, 12);
	free(req);
	q->holders = 1;
	assert_int_equal(tracker_queues_release(&qs, q), 0); /* a live connection holds the key */
	q->holders = 0;
	assert_int_equal(tracker_queues_release(&qs, q), 1);
	free(a);
	free(b);
	free(c);
	tracker_queues_free(&qs);
}

/* A dead requester's entry is removed at once, wherever it is in the heap. */
static void test_remove_dead_requester(void **state)
{
	(void)state;
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "k");
	tracker_request_t *c1 = new_request(1, 1);
	tracker_request_t *c2 = new_request(1, 2);
	tracker_queue_request_push(q, c1);
	tracker_queue_request_push(q, c2);
	tracker_queue_request_remove(q, c1);
	free(c1);
	tracker_resource_t *r = new_resource(7), *res;
	tracker_request_t *req;
	tracker_queue_free_append(q, r);
	assert_int_equal(tracker_queue_match(q, &res, &req), 1);
	assert_ptr_equal(req, c2);
	assert_int_equal(q->heap_len, 0);
	free(c2);
	free(r);
	tracker_queues_free(&qs);
}

static int cmp_expected(const void *pa, const void *pb)
{
	const tracker_request_t *a = *(tracker_request_t *const *)pa;
	const tracker_request_t *b = *(tracker_request_t *const *)pb;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* 10,000 requests with few distinct priorities, a third removed at random, the rest popped:
 * the order must equal a sort by (priority desc, arrival asc). */
static void test_ten_thousand_requests(void **state)
{
	(void)state;
	enum { N = 10000 };
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "many");
	tracker_request_t **all = calloc(N, sizeof *all);
	srand(12345);
	for (int i = 0; i < N; i++) {
		all[i] = new_request(rand() % 7 - 3, (uint64_t)i);
		tracker_queue_request_push(q, all[i]);
	}
	int kept = 0;
	for (int i = 0; i < N; i++) {
		if (rand() % 3 == 0) {
			tracker_queue_request_remove(q, all[i]);
			free(all[i]);
		} else {
			all[kept++] = all[i];
		}
	}
	assert_int_equal(q->heap_len, kept);
	qsort(all, (size_t)kept, sizeof *all, cmp_expected);
	for (int i = 0; i < kept; i++) {
		tracker_request_t *top = tracker_queue_request_top(q);
		assert_ptr_equal(top, all[i]);
		tracker_queue_request_remove(q, top);
		free(top);
	}
	assert_int_equal(q->heap_len, 0);
	free(all);
	tracker_queues_free(&qs);
}

/* 10,000 keys (one server each) in the hash table; every key found, creation order kept,
 * and each queue released once empty. */
static void test_ten_thousand_keys(void **state)
{
	(void)state;
	enum { N = 10000 };
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_resource_t **res = calloc(N, sizeof *res);
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "board%d", i);
		tracker_queue_t *q = tracker_queues_get(&qs, key);
		res[i] = new_resource((uint64_t)i);
		tracker_queue_free_append(q, res[i]);
	}
	assert_int_equal(qs.count, N);
	int i = 0;
	for (tracker_queue_t *q = tracker_queues_first(&qs); q; q = tracker_queues_next(&qs, q), i++) {
		snprintf(key, sizeof key, "board%d", i);
		assert_string_equal(q->key, key);
		assert_ptr_equal(tracker_queues_find(&qs, key), q);
		assert_int_equal(q->free_count, 1);
	}
	assert_int_equal(i, N);
	assert_null(tracker_queues_find(&qs, "board10000"));
	for (i = 0; i < N; i += 2) {
		snprintf(key, sizeof key, "board%d", i);
		tracker_queue_t *q = tracker_queues_find(&qs, key);
		tracker_queue_free_remove(q, res[i]);
		assert_int_equal(tracker_queues_release(&qs, q), 1);
	}
	assert_int_equal(qs.count, N / 2);
	assert_null(tracker_queues_find(&qs, "board0"));
	assert_non_null(tracker_queues_find(&qs, "board1"));
	for (i = 0; i < N; i++)
		free(res[i]);
	free(res);
	tracker_queues_free(&qs);
}

/* 10,000 free resources in one queue; removing every other one is O(1) each and the
 * survivors stay in PUT order. */
static void test_ten_thousand_free(void **state)
{
	(void)state;
	enum { N = 10000 };
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "k");
	tracker_resource_t **res = calloc(N, sizeof *res);
	for (int i = 0; i < N; i++) {
		res[i] = new_resource((uint64_t)i);
		tracker_queue_free_append(q, res[i]);
	}
	for (int i = 1; i < N; i += 2)
		tracker_queue_free_remove(q, res[i]);
	assert_int_equal(q->free_count, N / 2);
	for (int i = 0; i < N; i += 2) {
		tracker_resource_t *first = tracker_queue_free_first(q);
		assert_ptr_equal(first, res[i]);
		tracker_queue_free_remove(q, first);
	}
	assert_null(tracker_queue_free_first(q));
	for (int i = 0; i < N; i++)
		free(res[i]);
	free(res);
	tracker_queues_free(&qs);
}


static tracker_request_t *user_request(double priority, uint64_t id, const char *who)
{
	tracker_request_t *r = new_request(priority, id);
	r->who = strdup(who);
	return r;
}

static uint64_t pop_user_id(tracker_queue_t *q)
{
	tracker_request_t *top = tracker_queue_request_top(q);
	assert_non_null(top);
	uint64_t id = top->id;
	tracker_queue_request_remove(q, top);
	free(top->who);
	free(top);
	return id;
}

/* Served through tracker_queue_match, which moves the level's round forward. */
static uint64_t serve_user(tracker_queue_t *q)
{
	tracker_resource_t *res = new_resource(0);
	tracker_queue_free_append(q, res);
	tracker_resource_t *got;
	tracker_request_t *req;
	assert_int_equal(tracker_queue_match(q, &got, &req), 1);
	uint64_t id = req->id;
	free(req->who);
	free(req);
	free(got);
	return id;
}

static void test_fair_round_robin_by_user(void **state)
{
	(void)state;
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "k");
	for (uint64_t i = 1; i <= 4; i++) /* A: 1..4 */
		tracker_queue_request_push(q, user_request(1, i, "A"));
	assert_int_equal(serve_user(q), 1);
	tracker_queue_request_push(q, user_request(1, 10, "B"));
	tracker_queue_request_push(q, user_request(1, 11, "B"));
	tracker_queue_request_push(q, user_request(9, 20, "C"));
	assert_int_equal(serve_user(q), 20); /* priority first */
	assert_int_equal(serve_user(q), 2);  /* A's round 2 came before B's first request */
	assert_int_equal(serve_user(q), 10);
	assert_int_equal(serve_user(q), 3);
	assert_int_equal(serve_user(q), 11);
	assert_int_equal(serve_user(q), 4);
	assert_null(q->sched_levels); /* nothing waiting: no bookkeeping left */
	tracker_queues_release(&qs, q);
	tracker_queues_free(&qs);
}

static void test_fair_switch_to_fifo_and_back(void **state)
{
	(void)state;
	tracker_queues_t qs;
	tracker_queues_init(&qs);
	tracker_queue_t *q = tracker_queues_get(&qs, "k");
	for (uint64_t i = 1; i <= 3; i++)
		tracker_queue_request_push(q, user_request(1, i, "A"));
	tracker_queue_request_push(q, user_request(1, 4, "B"));
	tracker_queues_set_scheduling(&qs, TRACKER_SCHED_FIFO);
	assert_null(q->sched_levels);
	assert_int_equal(pop_user_id(q), 1);
	assert_int_equal(pop_user_id(q), 2);
	tracker_queues_set_scheduling(&qs, TRACKER_SCHED_FAIR);
	assert_int_equal(pop_user_id(q), 3); /* tie on round 1: arrival decides */
	assert_int_equal(pop_user_id(q), 4);
	tracker_queues_release(&qs, q);
	tracker_queues_free(&qs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priority_then_fifo),
		cmocka_unit_test(test_free_list_fifo_and_match),
		cmocka_unit_test(test_remove_dead_requester),
		cmocka_unit_test(test_ten_thousand_requests),
		cmocka_unit_test(test_ten_thousand_keys),
		cmocka_unit_test(test_ten_thousand_free),
		cmocka_unit_test(test_fair_round_robin_by_user),
		cmocka_unit_test(test_fair_switch_to_fifo_and_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
