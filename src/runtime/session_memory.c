/* Allocation table of one session: blocks sorted by base address, found by bisection.
 * The cap counts requested bytes so that a client sees the same limit on every host.
 * Blocks are zeroed (no stale process memory reaches the client); large ones come from
 * mmap, whose fresh pages the kernel zeroes (no second pass over them). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/session_memory.h"
#include "base/xalloc.h"

struct memory_block {
	uintptr_t base;
	uint64_t size;
	size_t mapped; /* bytes mapped with mmap, 0 for the heap */
};

/* From this size on, blocks are mapped instead of allocated and memset. */
#define MAP_THRESHOLD (1u << 20)

static void block_free(const struct memory_block *b)
{
	if (b->mapped)
		munmap((void *)b->base, b->mapped);
	else
		free((void *)b->base);
}

struct session_memory {
	struct memory_block *blocks;
	size_t count, cap_blocks;
	uint64_t used, cap;
};

session_memory_t *session_memory_new(uint64_t cap)
{
	session_memory_t *m = xcalloc(1, sizeof *m);
	m->cap = cap;
	return m;
}

void session_memory_free(session_memory_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		block_free(&m->blocks[i]);
	free(m->blocks);
	free(m);
}

/* Index of the last block whose base is <= addr, or count if none. */
static size_t floor_index(const session_memory_t *m, uintptr_t addr)
{
	size_t lo = 0, hi = m->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->blocks[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? m->count : lo - 1;
}

int session_memory_alloc(session_memory_t *m, uint64_t nbytes, uint64_t alignment, void **out)
{
	if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 20)) {
		ffi_error_set("ValueError", "invalid alignment %llu (must be a power of two <= 1 MiB)",
			      (unsigned long long)alignment);
		return -1;
	}
	if (alignment < 64)
		alignment = 64;
	if (nbytes > (uint64_t)SIZE_MAX / 2) {
		ffi_error_set("MemoryError",
			      "cannot allocate %llu bytes: more than half of this %u-bit server's "
			      "address space", (unsigned long long)nbytes,
			      (unsigned)(8 * sizeof(void *)));
		return -1;
	}
	if (m->cap && (nbytes > m->cap || m->used > m->cap - nbytes)) {
		ffi_error_set("MemoryError",
			      "cannot allocate %llu bytes: session memory limit is %llu bytes, %llu in use",
			      (unsigned long long)nbytes, (unsigned long long)m->cap,
			      (unsigned long long)m->used);
		return -1;
	}
	/* Zero-size blocks still get a unique address so that they can be freed and found. */
	void *p = NULL;
	size_t mapped = 0;
	long page = sysconf(_SC_PAGESIZE);
	if (nbytes >= MAP_THRESHOLD && page > 0 && alignment <= (uint64_t)page) {
		mapped = ((size_t)nbytes + (size_t)page - 1) / (size_t)page * (size_t)page;
		/* MAP_POPULATE: the kernel's zero pages are faulted in now, not during the
		 * first copy (which would then look slow). */
		p = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	} else {
		p = aligned_alloc_zero((size_t)alignment, nbytes ? (size_t)nbytes : 1);
	}
	if (!p) {
		ffi_error_set("MemoryError", "cannot allocate %llu bytes", (unsigned long long)nbytes);
		return -1;
	}
	if (m->count == m->cap_blocks) {
		m->cap_blocks = m->cap_blocks ? m->cap_blocks * 2 : 16;
		m->blocks = xrealloc(m->blocks, m->cap_blocks * sizeof *m->blocks);
	}
	size_t at = floor_index(m, (uintptr_t)p);
	at = at == m->count ? 0 : at + 1;
	memmove(m->blocks + at + 1, m->blocks + at, (m->count - at) * sizeof *m->blocks);
	m->blocks[at].base = (uintptr_t)p;
	m->blocks[at].size = nbytes;
	m->blocks[at].mapped = mapped;
	m->count++;
	m->used += nbytes;
	*out = p;
	return 0;
}

int session_memory_release(session_memory_t *m, uint64_t base)
{
	size_t at = floor_index(m, (uintptr_t)base);
	if (at == m->count || m->blocks[at].base != (uintptr_t)base) {
		ffi_error_set("ValueError", "0x%llx is not a block allocated by this session",
			      (unsigned long long)base);
		return -1;
	}
	block_free(&m->blocks[at]);
	m->used -= m->blocks[at].size;
	memmove(m->blocks + at, m->blocks + at + 1, (m->count - at - 1) * sizeof *m->blocks);
	m->count--;
	return 0;
}

int session_memory_lookup(const session_memory_t *m, uint64_t addr, uint64_t nbytes,
			  void **out)
{
	if (addr > UINTPTR_MAX)
		return -1;
	size_t at = floor_index(m, (uintptr_t)addr);
	if (at == m->count)
		return -1;
	const struct memory_block *b = &m->blocks[at];
	uint64_t off = (uint64_t)((uintptr_t)addr - b->base);
	if (off > b->size || nbytes > b->size - off)
		return -1;
	*out = (void *)(uintptr_t)addr;
	return 0;
}

int session_memory_block_size(const session_memory_t *m, uint64_t base, uint64_t *size)
{
	size_t at = floor_index(m, (uintptr_t)base);
	if (at == m->count || m->blocks[at].base != (uintptr_t)base)
		return -1;
	*size = m->blocks[at].size;
	return 0;
}

uint64_t session_memory_used(const session_memory_t *m)
{
	return m->used;
}

size_t session_memory_count(const session_memory_t *m)
{
	return m->count;
}
