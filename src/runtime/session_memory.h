/* The session's allocation table: every block DevAllocData/DevAllocDataWithScope handed out,
 * with a per-session byte cap. Client-supplied data pointers are only trusted after they
 * were found inside one of these blocks (or inside a tensor the session returned). */
#ifndef TVMRPC_SESSION_MEMORY_H
#define TVMRPC_SESSION_MEMORY_H

#include <stddef.h>
#include <stdint.h>

typedef struct session_memory session_memory_t;

/* cap = largest total of live allocations in bytes, 0 = unlimited. */
session_memory_t *session_memory_new(uint64_t cap);
/* Frees every remaining block. NULL is ignored. */
void session_memory_free(session_memory_t *m);

/* Allocate nbytes (zeroed) aligned to `alignment` (a power of two, raised to at least 64).
 * Returns 0, or -1 with an ffi error set (cap exceeded, bad alignment, out of memory). */
int session_memory_alloc(session_memory_t *m, uint64_t nbytes, uint64_t alignment, void **out);
/* Free a block by its base address. 0, or -1 with an ffi error set if it is not ours. */
int session_memory_release(session_memory_t *m, uint64_t base);
/* If [addr, addr + nbytes) lies inside one live block, store the host pointer and return 0;
 * otherwise -1 (no error set). */
int session_memory_lookup(const session_memory_t *m, uint64_t addr, uint64_t nbytes,
			  void **out);
/* Size of the live block starting exactly at base: 0, or -1 if there is none. */
int session_memory_block_size(const session_memory_t *m, uint64_t base, uint64_t *size);
uint64_t session_memory_used(const session_memory_t *m);
size_t session_memory_count(const session_memory_t *m);

#endif
