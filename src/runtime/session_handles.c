/* Handle table of one session: a vector sorted by handle value (handles only grow, so new
 * entries are appended), searched by bisection; lookups by object scan linearly, which is
 * fine for the tens to thousands of live handles a session holds. */
#include <stdlib.h>
#include <string.h>

#include "runtime/session_handles.h"
#include "base/xalloc.h"

struct handle_entry {
	uint64_t handle;
	TVMFFIObject *obj;
	uint32_t refs;
};

struct session_handles {
	struct handle_entry *entries;
	size_t count, cap, max;
	uint64_t next;
};

/* Handle values start at a recognisable, non-pointer-like base and step by 16 so that a
 * value read in a log is obviously ours (and never 0, which means "none"). */
#define HANDLE_BASE 0x10000u
#define HANDLE_STEP 16u

session_handles_t *session_handles_new(size_t max_entries)
{
	session_handles_t *t = xcalloc(1, sizeof *t);
	t->max = max_entries ? max_entries : (1u << 16);
	t->next = HANDLE_BASE;
	return t;
}

void session_handles_free(session_handles_t *t)
{
	if (!t)
		return;
	/* Newest first: later objects may borrow from earlier ones (functions from modules). */
	for (size_t i = t->count; i-- > 0;)
		ffi_object_release(t->entries[i].obj);
	free(t->entries);
	free(t);
}

static struct handle_entry *find(const session_handles_t *t, uint64_t handle, size_t *at)
{
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->entries[mid].handle == handle) {
			if (at)
				*at = mid;
			return &t->entries[mid];
		}
		if (t->entries[mid].handle < handle)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint64_t session_handles_put(session_handles_t *t, TVMFFIObject *obj)
{
	if (!obj)
		return 0;
	for (size_t i = 0; i < t->count; i++) {
		if (t->entries[i].obj == obj) {
			if (t->entries[i].refs == UINT32_MAX)
				return 0;
			t->entries[i].refs++;
			return t->entries[i].handle;
		}
	}
	if (t->count >= t->max)
		return 0;
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->entries = xrealloc(t->entries, t->cap * sizeof *t->entries);
	}
	ffi_object_retain(obj);
	struct handle_entry *e = &t->entries[t->count++];
	e->handle = t->next;
	e->obj = obj;
	e->refs = 1;
	t->next += HANDLE_STEP;
	return e->handle;
}

TVMFFIObject *session_handles_get(const session_handles_t *t, uint64_t handle)
{
	struct handle_entry *e = find(t, handle, NULL);
	return e ? e->obj : NULL;
}

int session_handles_release(session_handles_t *t, uint64_t handle)
{
	size_t at;
	struct handle_entry *e = find(t, handle, &at);
	if (!e)
		return -1;
	if (--e->refs > 0)
		return 0;
	TVMFFIObject *obj = e->obj;
	memmove(t->entries + at, t->entries + at + 1, (t->count - at - 1) * sizeof *t->entries);
	t->count--;
	ffi_object_release(obj);
	return 0;
}

size_t session_handles_count(const session_handles_t *t)
{
	return t->count;
}

uint32_t session_handles_refs(const session_handles_t *t, uint64_t handle)
{
	struct handle_entry *e = find(t, handle, NULL);
	return e ? e->refs : 0;
}

int session_handles_foreach(const session_handles_t *t,
			    int (*fn)(TVMFFIObject *obj, void *arg), void *arg)
{
	for (size_t i = 0; i < t->count; i++) {
		int rc = fn(t->entries[i].obj, arg);
		if (rc)
			return rc;
	}
	return 0;
}
