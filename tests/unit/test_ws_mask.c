/* Unit tests for the WebSocket port's masking check (services/ws_mask.c, docs/control-plane.md
 * §4.6): the upgrade request is skipped, masked frames of every length form pass in any
 * chunking, the first unmasked frame fails and the failure sticks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "services/ws_mask.h"

static const char request[] = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";

/* One frame header (+ masking key) and `len` payload bytes into out; returns its size. */
static size_t frame(uint8_t *out, uint64_t len, int masked)
{
	size_t n = 0;
	out[n++] = 0x82;
	uint8_t m = masked ? 0x80 : 0;
	if (len < 126) {
		out[n++] = (uint8_t)(m | len);
	} else if (len < 65536) {
		out[n++] = m | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = m | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(len >> (8 * i));
	}
	if (masked) {
		memcpy(out + n, "\x11\x22\x33\x44", 4);
		n += 4;
	}
	memset(out + n, 0x5a, (size_t)len);
	return n + (size_t)len;
}

static uint8_t stream[200000];

static size_t build(int last_masked)
{
	size_t n = strlen(request);
	memcpy(stream, request, n);
	n += frame(stream + n, 0, 1);
	n += frame(stream + n, 125, 1);
	n += frame(stream + n, 126, 1);
	n += frame(stream + n, 65535, 1);
	n += frame(stream + n, 65536, 1);
	n += frame(stream + n, 3, last_masked);
	return n;
}

static void test_masked_frames_pass_in_any_chunking(void **state)
{
	(void)state;
	size_t n = build(1);
	size_t steps[] = {1, 2, 3, 7, 64, 4096, n};
	for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
		ws_mask_t m;
		ws_mask_init(&m);
		for (size_t off = 0; off < n; off += steps[s])
			assert_int_equal(ws_mask_feed(&m, stream + off,
						      n - off < steps[s] ? n - off : steps[s]),
					 0);
		assert_int_equal(m.frames, 6);
	}
}

static void test_an_unmasked_frame_fails_and_stays_failed(void **state)
{
	(void)state;
	size_t n = build(0);
	ws_mask_t m;
	ws_mask_init(&m);
	assert_int_equal(ws_mask_feed(&m, stream, n - 3), -1); /* fails at its header */
	assert_int_equal(m.frames, 5);
	assert_int_equal(ws_mask_feed(&m, (const uint8_t *)"\x82\x80xxxx", 6), -1);
}

static void test_request_bytes_are_never_frames(void **state)
{
	(void)state;
	/* A request line without the blank line yet: unmasked-looking bytes are still HTTP. */
	ws_mask_t m;
	ws_mask_init(&m);
	assert_int_equal(ws_mask_feed(&m, (const uint8_t *)"GET /ws\r\n\x82\x02", 11), 0);
	assert_int_equal(m.frames, 0);
	assert_int_equal(ws_mask_feed(&m, (const uint8_t *)"\r\n\r\n\x82\x02", 6), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masked_frames_pass_in_any_chunking),
		cmocka_unit_test(test_an_unmasked_frame_fails_and_stays_failed),
		cmocka_unit_test(test_request_bytes_are_never_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
