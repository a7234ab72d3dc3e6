/* libFuzzer harness: TVM's parameter-blob reader (param_blob.c) over arbitrary bytes. What
 * decodes can be written; for whole-byte single-lane tensors (what TVM itself writes) the
 * written blob decodes again and writes the very same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/param_blob.h"

static int blob_is_canonical(const param_entry_t *e, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		DLDataType t = e[i].tensor->dtype;
		if (t.lanes != 1 || t.bits % 8 != 0 || e[i].tensor->device.device_id != 0)
			return 0;
	}
	return 1;
}

static void check_round_trip(const param_entry_t *entries, size_t count, uint64_t size)
{
	char *first = malloc(size);
	param_blob_encode(entries, count, first);
	param_entry_t *again;
	size_t n;
	uint64_t size2;
	if (param_blob_decode(first, size, &again, &n) != 0 || n != count ||
	    param_blob_size(again, n, &size2) != 0 || size2 != size)
		abort();
	char *second = malloc(size);
	param_blob_encode(again, n, second);
	if (memcmp(first, second, size) != 0)
		abort();
	free(second);
	free(first);
	param_entries_free(again, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	param_entry_t *entries;
	size_t count;
	if (param_blob_decode((const char *)data, size, &entries, &count) != 0)
		return 0;
	uint64_t out_size;
	if (param_blob_size(entries, count, &out_size) != 0)
		abort(); /* whatever was read can be written */
	if (blob_is_canonical(entries, count))
		check_round_trip(entries, count, out_size);
	param_entries_free(entries, count);
	return 0;
}
