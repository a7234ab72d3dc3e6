/* The global function registry: name -> function object, kept sorted for binary search. */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "base/xalloc.h"

struct registry_entry {
	char *name;
	ffi_function_t *fn;
	char *refusal; /* why this server refuses the global on purpose, or NULL */
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
		free(entries[at].refusal);
		entries[at].refusal = NULL;
		return;
	}
	if (num_entries == cap_entries) {
		cap_entries = cap_entries ? cap_entries * 2 : 64;
		entries = xrealloc(entries, cap_entries * sizeof *entries);
	}
	memmove(entries + at + 1, entries + at, (num_entries - at) * sizeof *entries);
	entries[at].name = xstrdup(name);
	entries[at].fn = fn;
	entries[at].refusal = NULL;
	num_entries++;
}

struct refusal {
	char *name;
	char *kind;
	char *reason;
};

static void refusal_free(void *data)
{
	struct refusal *r = data;
	free(r->name);
	free(r->kind);
	free(r->reason);
	free(r);
}

static int refused_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)args;
	(void)n;
	(void)result;
	const struct refusal *r = ((ffi_function_t *)self)->data;
	ffi_error_set(r->kind, "%s is not supported on this server: %s", r->name, r->reason);
	return -1;
}

void ffi_registry_put_refused(const char *name, const char *kind, const char *reason)
{
	struct refusal *r = xmalloc(sizeof *r);
	r->name = xstrdup(name);
	r->kind = xstrdup(kind);
	r->reason = xstrdup(reason);
	ffi_registry_put(name, ffi_function_new(refused_call, r, refusal_free, NULL));
	int found;
	size_t at = registry_find(name, &found);
	entries[at].refusal = xstrdup(reason);
}

const char *ffi_registry_refusal(const char *name)
{
	int found;
	size_t at = registry_find(name, &found);
	return found ? entries[at].refusal : NULL;
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

int ffi_registry_remove(const char *name)
{
	int found;
	size_t at = registry_find(name, &found);
	if (!found)
		return 0;
	struct registry_entry gone = entries[at];
	memmove(entries + at, entries + at + 1, (num_entries - at - 1) * sizeof *entries);
	num_entries--;
	free(gone.name);
	free(gone.refusal);
	ffi_object_release(&gone.fn->header);
	return 1;
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
		free(entries[i].refusal);
		ffi_object_release(&entries[i].fn->header);
	}
	free(entries);
	entries = NULL;
	num_entries = cap_entries = 0;
}
