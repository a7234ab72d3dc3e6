/* Unit tests for a connection's resource index (services/tracker_index.c): lookups after adds
 * and removals in every order, against a plain scan of the same resources, with hashes that
 * collide on purpose so that probe runs wrap and backward-shift deletion is exercised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/tracker_index.h"

#define N 600

static tracker_resource_t res[N];
static char keys[N][24];
static int present[N];

/* What the index must answer, by scanning. */
static tracker_resource_t *scan(const tracker_queue_t *q, const char *key, uint32_t hash)
{
	for (int i = 0; i < N; i++)
		if (present[i] && res[i].matchkey_hash == hash && res[i].queue == q &&
		    res[i].state != TRACKER_RESOURCE_SENDING && strcmp(res[i].matchkey, key) == 0)
			return &res[i];
	return NULL;
}

static void check_all(const tracker_index_t *ix, const tracker_queue_t *q)
{
	for (int i = 0; i < N; i++) {
		tracker_resource_t *want = scan(q, keys[i], res[i].matchkey_hash);
		tracker_resource_t *got =
			tracker_index_find_unassigned(ix, q, keys[i], res[i].matchkey_hash);
		assert_true((want == NULL) == (got == NULL));
		if (got)
			assert_string_equal(got->matchkey, keys[i]);
	}
}

static void test_add_find_remove(void **state)
{
	(void)state;
	tracker_queue_t *q = (tracker_queue_t *)&res[0], *other = (tracker_queue_t *)&res[1];
	tracker_index_t ix = {0};
	assert_null(tracker_index_find_unassigned(&ix, q, "none", 1));
	tracker_index_remove(&ix, &res[0]); /* absent: nothing happens */
	srand(7);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "bench:%d", i % 400); /* some keys twice */
		res[i].matchkey = keys[i];
		res[i].matchkey_hash = (uint32_t)(i % 37); /* heavy collisions */
		res[i].queue = i % 5 == 0 ? other : q;
		res[i].state = i % 11 == 0 ? TRACKER_RESOURCE_SENDING : TRACKER_RESOURCE_FREE;
		tracker_index_add(&ix, &res[i]);
		present[i] = 1;
	}
	assert_int_equal(ix.count, N);
	check_all(&ix, q);
	/* Remove in a shuffled order, checking as we go. */
	int order[N];
	for (int i = 0; i < N; i++)
		order[i] = i;
	for (int i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < N; k++) {
		tracker_index_remove(&ix, &res[order[k]]);
		present[order[k]] = 0;
		if (k % 50 == 0)
			check_all(&ix, q);
	}
	assert_int_equal(ix.count, 0);
	check_all(&ix, q);
	/* Reusable after emptying; a resource's state is read at lookup time. */
	tracker_index_add(&ix, &res[3]);
	present[3] = 1;
	res[3].state = TRACKER_RESOURCE_SENDING;
	assert_null(tracker_index_find_unassigned(&ix, q, keys[3], res[3].matchkey_hash));
	res[3].state = TRACKER_RESOURCE_HELD;
	assert_ptr_equal(tracker_index_find_unassigned(&ix, q, keys[3], res[3].matchkey_hash),
			 &res[3]);
	tracker_index_free(&ix);
	assert_null(tracker_index_find_unassigned(&ix, q, keys[3], res[3].matchkey_hash));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
