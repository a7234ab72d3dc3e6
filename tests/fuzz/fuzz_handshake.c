/* libFuzzer harness: the RPC handshake reader (request and reply forms, any chunking given by
 * the first byte) and the key grammar. */
#include <stdint.h>
#include <string.h>

#include "services/handshake.h"

static void feed(const uint8_t *data, size_t size, int expect_magic, size_t step)
{
	handshake_reader_t r;
	handshake_reader_init(&r, 1024, expect_magic);
	size_t off = 0;
	while (off < size) {
		size_t chunk = size - off < step ? size - off : step, used = 0;
		int rc = handshake_feed(&r, data + off, chunk, &used);
		off += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			handshake_key_t k;
			char err[128];
			handshake_key_parse(r.key, r.key_len, &k, err, sizeof err);
			break;
		}
		if (used == 0)
			break;
	}
	handshake_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)(data[0] % 16) + 1;
	feed(data + 1, size - 1, 1, step);
	feed(data + 1, size - 1, 0, step);
	handshake_key_t k;
	char err[128];
	handshake_key_parse((const char *)data + 1, size - 1, &k, err, sizeof err);
	return 0;
}
