/* A connection's resources by matchkey (docs/control-plane.md §2.6): a PUT of a matchkey the
 * connection still has unassigned is a refresh, and this finds it in O(1) where a walk of the
 * connection's list (up to 1,024 resources) cost more than the rest of the PUT. Open
 * addressing on the matchkey hash, linear probing, backward-shift deletion. tracker.c adds a
 * resource when it joins its owner's list and removes it when it leaves. */
#ifndef TVMRPC_TRACKER_INDEX_H
#define TVMRPC_TRACKER_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "services/tracker_queue.h"

typedef struct tracker_index {
	tracker_resource_t **slots; /* NULL until the first add */
	size_t cap, count;          /* cap is 0 or a power of two, at most half full */
} tracker_index_t;

void tracker_index_add(tracker_index_t *ix, tracker_resource_t *r);
/* Removes r itself (not another resource with the same matchkey); no-op if absent. */
void tracker_index_remove(tracker_index_t *ix, tracker_resource_t *r);
/* A resource of queue q with this matchkey that is not being handed out, or NULL. */
tracker_resource_t *tracker_index_find_unassigned(const tracker_index_t *ix,
						  const tracker_queue_t *q, const char *matchkey,
						  uint32_t hash);
void tracker_index_free(tracker_index_t *ix);

#endif
