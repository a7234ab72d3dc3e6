/* libFuzzer harness: the WebSocket port's masking check (services/ws_mask.c) over any byte
 * stream, fed in the chunk size the first byte gives; the same stream fed whole must give the
 * same verdict and frame count. */
#include <stdint.h>
#include <string.h>

#include "services/ws_mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	ws_mask_t a, b;
	ws_mask_init(&a);
	ws_mask_init(&b);
	int ra = 0;
	for (size_t off = 0; off < size && ra == 0; off += step)
		ra = ws_mask_feed(&a, data + off, size - off < step ? size - off : step);
	int rb = ws_mask_feed(&b, data, size);
	if (ra != rb || a.frames != b.frames)
		__builtin_trap();
	return 0;
}
