/* libFuzzer harness: tracker frame reader (any chunking) and the Python-style JSON printer on
 * whatever parses. */
#include <stdint.h>
#include <stdlib.h>

#include "base/xalloc.h"
#include "services/tracker_codec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xalloc_cjson_hooks_install(); /* as main() does */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)(data[0] % 32) + 1;
	tracker_frame_reader_t r;
	tracker_frame_reader_init(&r, 4096);
	size_t off = 1;
	while (off < size) {
		size_t chunk = size - off < step ? size - off : step, used = 0;
		cJSON *msg = NULL;
		int rc = tracker_frame_feed(&r, (const char *)data + off, chunk, &used, &msg);
		off += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			size_t len;
			char *frame = tracker_frame_encode(msg, &len);
			free(frame);
			cJSON_Delete(msg);
		}
		if (used == 0 && rc == 0)
			break;
	}
	tracker_frame_reader_free(&r);
	return 0;
}
