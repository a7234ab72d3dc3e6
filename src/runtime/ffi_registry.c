/* The global function registry: name -> function object, kept sorted for binary search. */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/xalloc.h"

struct registry_entry {
	char *name;
	ffi_function_t *fn;
};

static struct registry_entry *entries;
static size_t num_entries, cap_entries;

static size_t registry_find(const char *name, int *found)
{
	size_t lo = 0, hi = num_entries;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(entries[mid].name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

void ffi_registry_put(const char *name, ffi_function_t *fn)
{
	int found;
	size_t at = registry_find(name, &found);
	if (found) {
		ffi_object_release(&entries[at].fn->header);
		entries[at].fn = fn;
		return;
	}
	if (num_entries == cap_entries) {
		cap_entries = cap_entries ? cap_entries * 2 : 64;
		entries = xrealloc(entries, cap_entries * sizeof *entries);
	}
	memmove(entries + at + 1, entries + at, (num_entries - at) * sizeof *entries);
	entries[at].name = xstrdup(name);
	entries[at].fn = fn;
	num_entries++;
}

void ffi_registry_put_call(const char *name, TVMFFISafeCallType call)
{
	ffi_registry_put(name, ffi_function_new(call, NULL, NULL, NULL));
}

ffi_function_t *ffi_registry_get(const char *name)
{
	int found;
	size_t at = registry_find(name, &found);
	if (!found)
		return NULL;
	ffi_object_retain(&entries[at].fn->header);
	return entries[at].fn;
}

void ffi_registry_foreach(void (*fn)(const char *name, void *arg), void *arg)
{
	for (size_t i = 0; i < num_entries; i++)
		fn(entries[i].name, arg);
}

__attribute__((destructor)) static void registry_free(void)
{
	for (size_t i = 0; i < num_entries; i++) {
		free(entries[i].name);
		ffi_object_release(&entries[i].fn->header);
	}
	free(entries);
	entries = NULL;
	num_entries = cap_entries = 0;
}
