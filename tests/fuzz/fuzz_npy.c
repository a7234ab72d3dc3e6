/* libFuzzer harness: the .npy decoder (preamble, header dict, sizes) over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	npy_array_t a;
	char err[256];
	if (npy_decode(data, size, &a, err, sizeof err) == 0) {
		if (a.nbytes > size)
			abort();
		npy_array_free(&a);
	}
	return 0;
}
