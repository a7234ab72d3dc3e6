/* A connection's resources by matchkey hash (tracker_index.h). */
#include "services/tracker_index.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static size_t home(const tracker_index_t *ix, uint32_t hash)
{
	/* Fibonacci hashing spreads FNV's low bits over the table. */
	return (size_t)((hash * 2654435769u) & (uint32_t)(ix->cap - 1));
}

static void put_slot(tracker_index_t *ix, tracker_resource_t *r)
{
	size_t i = home(ix, r->matchkey_hash);
	while (ix->slots[i])
		i = (i + 1) & (ix->cap - 1);
	ix->slots[i] = r;
}

static void grow(tracker_index_t *ix)
{
	tracker_resource_t **old = ix->slots;
	size_t old_cap = ix->cap;
	ix->cap = old_cap ? old_cap * 2 : 16;
	ix->slots = xcalloc(ix->cap, sizeof *ix->slots);
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			put_slot(ix, old[i]);
	free(old);
}

void tracker_index_add(tracker_index_t *ix, tracker_resource_t *r)
{
	if (2 * (ix->count + 1) > ix->cap)
		grow(ix);
	put_slot(ix, r);
	ix->count++;
}

void tracker_index_remove(tracker_index_t *ix, tracker_resource_t *r)
{
	if (!ix->cap)
		return;
	size_t mask = ix->cap - 1, i = home(ix, r->matchkey_hash);
	while (ix->slots[i] && ix->slots[i] != r)
		i = (i + 1) & mask;
	if (!ix->slots[i])
		return;
	ix->slots[i] = NULL;
	ix->count--;
	/* Backward shift: move later entries of the run up if their home allows it. */
	for (size_t j = (i + 1) & mask; ix->slots[j]; j = (j + 1) & mask) {
		size_t h = home(ix, ix->slots[j]->matchkey_hash);
		/* j's entry may fill the hole at i unless its home lies cyclically in (i, j]. */
		int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (!stays) {
			ix->slots[i] = ix->slots[j];
			ix->slots[j] = NULL;
			i = j;
		}
	}
}

tracker_resource_t *tracker_index_find_unassigned(const tracker_index_t *ix,
						  const tracker_queue_t *q, const char *matchkey,
						  uint32_t hash)
{
	if (!ix->cap)
		return NULL;
	for (size_t i = home(ix, hash); ix->slots[i]; i = (i + 1) & (ix->cap - 1)) {
		tracker_resource_t *r = ix->slots[i];
		if (r->matchkey_hash == hash && r->queue == q &&
		    r->state != TRACKER_RESOURCE_SENDING && strcmp(r->matchkey, matchkey) == 0)
			return r;
	}
	return NULL;
}

void tracker_index_free(tracker_index_t *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof *ix);
}
