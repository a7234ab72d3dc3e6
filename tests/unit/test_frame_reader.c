/* Unit tests for the frame reader steps (services/frame_reader.h) under the handshake and
 * tracker readers: a header in pieces, a body whose length is refused before allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "services/frame_reader.h"

static void test_frame_steps(void **state)
{
	(void)state;
	uint8_t header[4];
	size_t have = 0;
	static const uint8_t wire[] = {5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 'X'};
	/* One byte at a time, as a slow peer would send it. */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(frame_header_fill(header, &have, 4, wire + i, 1), 1);
	assert_int_equal(frame_header_fill(header, &have, 4, wire + 4, 6), 0);
	assert_int_equal(frame_get_i32(header), 5);
	char *body = NULL;
	uint32_t body_have = 7;
	assert_int_equal(frame_body_start(&body, &body_have, 5, 1, 5), 0);
	assert_int_equal(body_have, 0);
	assert_int_equal(frame_body_fill(body, 5, &body_have, wire + 4, 2), 2);
	assert_int_equal(frame_body_fill(body, 5, &body_have, wire + 6, 4), 3);
	assert_string_equal(body, "hello");
	free(body);
	body = NULL;
	assert_int_equal(frame_body_start(&body, &body_have, 6, 1, 5), FRAME_ERR_LENGTH);
	assert_int_equal(frame_body_start(&body, &body_have, 0, 1, 5), FRAME_ERR_LENGTH);
	assert_int_equal(frame_body_start(&body, &body_have, -1, 0, 5), FRAME_ERR_LENGTH);
	assert_null(body);
	uint8_t out[4];
	frame_put_i32(out, -2);
	assert_int_equal(frame_get_i32(out), -2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
