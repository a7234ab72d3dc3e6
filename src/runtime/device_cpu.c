/* The CPU's entry in the device interface (docs/devices.md). CPU data pointers are host
 * addresses, so session memory keeps its own table (session_memory.c) and these operations
 * are plain memory moves; the table exists so that callers can treat every device alike. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/device.h"

static int cpu_count(void)
{
	return 1;
}

static const char *cpu_unavailable(void)
{
	return "";
}

static int cpu_attr(int32_t id, int64_t kind, TVMFFIAny *out)
{
	(void)id;
	*out = ffi_any_none();
	if (kind == DEVICE_ATTR_TOTAL_GLOBAL_MEMORY) {
		long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
		*out = ffi_any_int(pages > 0 && page > 0 ? (int64_t)pages * page : -1);
	}
	return 0;
}

static int cpu_alloc(int32_t id, uint64_t nbytes, void **mem)
{
	(void)id;
	*mem = nbytes <= SIZE_MAX / 2 ? calloc(1, (size_t)nbytes) : NULL;
	if (*mem)
		return 0;
	ffi_error_set("MemoryError", "cannot allocate %llu bytes", (unsigned long long)nbytes);
	return -1;
}

static int cpu_write(int32_t id, void *mem, uint64_t offset, const void *src, uint64_t nbytes)
{
	(void)id;
	memmove((char *)mem + offset, src, (size_t)nbytes);
	return 0;
}

static int cpu_read(int32_t id, void *mem, uint64_t offset, void *dst, uint64_t nbytes)
{
	(void)id;
	memmove(dst, (char *)mem + offset, (size_t)nbytes);
	return 0;
}

static int cpu_copy(int32_t id, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
		    uint64_t nbytes)
{
	(void)id;
	memmove((char *)dst + dst_offset, (char *)src + src_offset, (size_t)nbytes);
	return 0;
}

static int cpu_sync(int32_t id)
{
	(void)id;
	return 0;
}

const device_api_t device_cpu_api = {
	.name = "cpu",
	.type = kDLCPU,
	.count = cpu_count,
	.unavailable = cpu_unavailable,
	.attr = cpu_attr,
	.alloc = cpu_alloc,
	.release = free,
	.write = cpu_write,
	.read = cpu_read,
	.copy = cpu_copy,
	.sync = cpu_sync,
};
