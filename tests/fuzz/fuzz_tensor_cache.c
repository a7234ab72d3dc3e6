/* libFuzzer harness: the tensor cache loader (tensor_cache.c) over arbitrary bytes. The input
 * up to its first NUL is tensor-cache.json, the rest the contents of s.bin (the shard the
 * seeds name); both are written to a scratch directory, loaded and the cache is cleared. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/tensor_cache.h"

static char dir[64];

static void scratch_remove(void)
{
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void put(const char *name, const uint8_t *data, size_t size)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/fuzz-tensor-cache-%d", (int)getpid());
		char cmd[96];
		snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
		if (system(cmd) != 0)
			abort();
		atexit(scratch_remove);
	}
	const uint8_t *nul = memchr(data, 0, size);
	size_t json = nul ? (size_t)(nul - data) : size;
	put("tensor-cache.json", data, json);
	put("s.bin", nul ? nul + 1 : data, nul ? size - json - 1 : 0);
	tensor_cache_load(dir, (DLDevice){kDLCPU, 0});
	ffi_error_clear();
	tensor_cache_clear();
	return 0;
}
