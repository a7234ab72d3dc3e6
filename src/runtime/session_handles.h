/* The session's handle table: u64 values handed to the client -> owned object references.
 * Handles are never pointers; a client-supplied handle is only ever looked up here. Each
 * entry counts the client's references (the same object handed out twice keeps one handle
 * and two references, each released by one FreeHandle). */
#ifndef TVMRPC_SESSION_HANDLES_H
#define TVMRPC_SESSION_HANDLES_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

typedef struct session_handles session_handles_t;

/* max_entries bounds the table (0 = 65536 entries; lookups by object are linear). */
session_handles_t *session_handles_new(size_t max_entries);
/* Releases every remaining object (session end). NULL is ignored. */
void session_handles_free(session_handles_t *t);

/* Add one client reference to obj and return its handle (non-zero). The table keeps its own
 * object reference; the caller's reference is untouched. Returns 0 when the table is full. */
uint64_t session_handles_put(session_handles_t *t, TVMFFIObject *obj);
/* Borrowed object of a live handle, or NULL. */
TVMFFIObject *session_handles_get(const session_handles_t *t, uint64_t handle);
/* Drop one client reference; the object is released with the last one. 0 or -1 (unknown). */
int session_handles_release(session_handles_t *t, uint64_t handle);
size_t session_handles_count(const session_handles_t *t);
/* Client references held on handle (0 if unknown). */
uint32_t session_handles_refs(const session_handles_t *t, uint64_t handle);

/* Iterate live entries (for tensor range checks). Stops early when fn returns non-zero,
 * and returns that value. */
int session_handles_foreach(const session_handles_t *t,
			    int (*fn)(TVMFFIObject *obj, void *arg), void *arg);

#endif
