/* Allocation helpers. x* never return NULL: out of memory on our own bookkeeping is a broken
 * invariant. Sizes that come from peers must be checked before they get here (see limits). */
#ifndef TVMRPC_XALLOC_H
#define TVMRPC_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Makes cJSON allocate through xmalloc (cJSON_InitHooks): call once at start, before any
 * cJSON call. The JSON texts it parses are bounded first (tracker max_message). */
void xalloc_cjson_hooks_install(void);
/* 64-byte aligned, zero-filled; NULL on failure (used for peer-sized buffers). Free with free(). */
void *aligned_alloc_zero(size_t alignment, size_t size);

#endif
