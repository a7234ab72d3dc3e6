/* Unit tests for the session engine's read-ahead buffer (runtime/session_input.c) and for the
 * engine served through it: a request split across many channel reads, several requests
 * taken by one read, large reads that bypass the buffer into their destination, the end of
 * the stream and timeouts, and packet lengths beyond the limit or the stream. The channel is
 * scripted in memory: each read hands out at most the next chunk of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "runtime/session.h"
#include "runtime/session_codec.h"
#include "runtime/session_input.h"

typedef struct script {
	const uint8_t *in;
	size_t len, pos;
	size_t chunk;     /* most bytes per read; 0 = as many as asked */
	int time_out;     /* at the end of the input: report the deadline, not the end */
	int reads;        /* channel reads made */
	size_t last_ask;  /* n of the last read */
	uint8_t out[4096];
	size_t out_len;
} script_t;

static long script_read(void *context, void *buf, size_t n, double deadline)
{
	(void)deadline;
	script_t *s = context;
	s->reads++;
	s->last_ask = n;
	size_t left = s->len - s->pos;
	if (left == 0)
		return s->time_out ? SESSION_CHANNEL_TIMEOUT : 0;
	if (s->chunk && n > s->chunk)
		n = s->chunk;
	if (n > left)
		n = left;
	memcpy(buf, s->in + s->pos, n);
	s->pos += n;
	return (long)n;
}

static long script_write(void *context, const struct iovec *iov, int count, double deadline)
{
	(void)deadline;
	script_t *s = context;
	size_t total = 0;
	for (int i = 0; i < count; i++) {
		assert_true(s->out_len + iov[i].iov_len <= sizeof s->out);
		memcpy(s->out + s->out_len, iov[i].iov_base, iov[i].iov_len);
		s->out_len += iov[i].iov_len;
		total += iov[i].iov_len;
	}
	return (long)total;
}

/* InitServer "0.8.0" with no constructor, and a DevStreamSync(cpu, 0) request. */
static const uint8_t init_packet[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
				      0, 0, 0, '0', '.', '8', '.', '0', 0, 0, 0, 0};
static const uint8_t none_reply[] = {12, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
				     1, 0, 0, 0, 0, 0, 0, 0};

static void test_split_request(void **state)
{
	(void)state;
	for (size_t chunk = 1; chunk <= sizeof init_packet; chunk++) {
		script_t s = {.in = init_packet, .len = sizeof init_packet, .chunk = chunk};
		session_channel_t ch = {&s, script_read, script_write, NULL};
		session_input_t in;
		session_input_init(&in, &ch);
		uint64_t len;
		int32_t code;
		uint8_t body[sizeof init_packet];
		assert_int_equal(session_input_read(&in, &len, 8, 0), SESSION_INPUT_OK);
		assert_int_equal(len, sizeof init_packet - 8);
		assert_int_equal(session_input_read(&in, &code, 4, 0), SESSION_INPUT_OK);
		assert_int_equal(code, 2);
		assert_int_equal(session_input_read(&in, body, (size_t)len - 4, 0), SESSION_INPUT_OK);
		assert_memory_equal(body, init_packet + 12, (size_t)len - 4);
		assert_int_equal(s.reads, (int)((sizeof init_packet + chunk - 1) / chunk));
		assert_int_equal(session_input_read(&in, &len, 8, 0), SESSION_INPUT_EOF);
		session_input_free(&in);
	}
}

static void test_several_requests_one_read(void **state)
{
	(void)state;
	uint8_t three[3 * sizeof init_packet];
	for (int i = 0; i < 3; i++)
		memcpy(three + i * sizeof init_packet, init_packet, sizeof init_packet);
	script_t s = {.in = three, .len = sizeof three};
	session_channel_t ch = {&s, script_read, script_write, NULL};
	session_input_t in;
	session_input_init(&in, &ch);
	for (int i = 0; i < 3; i++) {
		uint8_t packet[sizeof init_packet];
		assert_int_equal(session_input_read(&in, packet, 8, 0), SESSION_INPUT_OK);
		assert_int_equal(session_input_read(&in, packet + 8, sizeof packet - 8, 0),
				 SESSION_INPUT_OK);
		assert_memory_equal(packet, init_packet, sizeof packet);
		assert_int_equal(s.reads, 1);
	}
	const uint8_t *pending;
	assert_int_equal(session_input_pending(&in, &pending), 0);
	session_input_free(&in);

	/* What is left after a read is pending, for a relay to pass on. */
	s = (script_t){.in = three, .len = sizeof three};
	session_input_init(&in, &ch);
	uint8_t head[12];
	assert_int_equal(session_input_read(&in, head, sizeof head, 0), SESSION_INPUT_OK);
	assert_int_equal(session_input_pending(&in, &pending), sizeof three - 12);
	assert_memory_equal(pending, three + 12, sizeof three - 12);
	session_input_free(&in);
}

static void test_large_read_bypasses_buffer(void **state)
{
	(void)state;
	size_t big = 3 * SESSION_INPUT_CAPACITY + 5;
	uint8_t *data = malloc(big + 16), *dst = malloc(big);
	for (size_t i = 0; i < big + 16; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	script_t s = {.in = data, .len = big + 16};
	session_channel_t ch = {&s, script_read, script_write, NULL};
	session_input_t in;
	session_input_init(&in, &ch);
	uint8_t head[16];
	assert_int_equal(session_input_read(&in, head, sizeof head, 0), SESSION_INPUT_OK);
	assert_int_equal(s.reads, 1); /* the read-ahead took the first 64 KiB */
	assert_int_equal(session_input_read(&in, dst, big, 0), SESSION_INPUT_OK);
	assert_memory_equal(dst, data + 16, big);
	assert_int_equal(s.reads, 2); /* the rest in one read straight into dst */
	assert_int_equal(s.last_ask, big - (SESSION_INPUT_CAPACITY - 16));
	session_input_free(&in);
	free(data);
	free(dst);
}

static void test_end_and_timeout(void **state)
{
	(void)state;
	script_t s = {.in = init_packet, .len = 5};
	session_channel_t ch = {&s, script_read, script_write, NULL};
	session_input_t in;
	session_input_init(&in, &ch);
	uint64_t len;
	assert_int_equal(session_input_read(&in, &len, 8, 0), SESSION_INPUT_ERROR); /* inside */
	session_input_free(&in);
	s = (script_t){.in = init_packet, .len = 0};
	session_input_init(&in, &ch);
	assert_int_equal(session_input_read(&in, &len, 8, 0), SESSION_INPUT_EOF);
	session_input_free(&in);
	s = (script_t){.in = init_packet, .len = 3, .time_out = 1};
	session_input_init(&in, &ch);
	assert_int_equal(session_input_read(&in, &len, 8, 0), SESSION_INPUT_TIMEOUT);
	session_input_free(&in);
}

/* The engine over a one-byte-at-a-time channel answers exactly as over one big read. */
static void test_engine_split_and_batched(void **state)
{
	(void)state;
	uint8_t twice[2 * sizeof init_packet];
	memcpy(twice, init_packet, sizeof init_packet);
	memcpy(twice + sizeof init_packet, init_packet, sizeof init_packet);
	for (size_t chunk = 0; chunk <= 1; chunk++) {
		script_t s = {.in = twice, .len = sizeof twice, .chunk = chunk};
		session_channel_t ch = {&s, script_read, script_write, NULL};
		assert_int_equal(session_run(&ch, NULL), 0);
		/* None, then "already initialised" as an Exception. */
		assert_true(s.out_len > sizeof none_reply + 12);
		assert_memory_equal(s.out, none_reply, sizeof none_reply);
		assert_int_equal(s.out[sizeof none_reply + 8], SESSION_CODE_EXCEPTION);
		assert_int_equal(s.reads, chunk ? (int)sizeof twice + 1 : 2);
	}
}

/* A packet over max_packet is drained and refused, the session goes on; a length beyond the
 * stream is a broken stream, not a hang or a huge allocation. */
static void test_oversized_lengths(void **state)
{
	(void)state;
	uint8_t in[sizeof init_packet + 12 + 200 + 12];
	memcpy(in, init_packet, sizeof init_packet);
	uint8_t *p = in + sizeof init_packet;
	uint64_t len = 4 + 200;
	int32_t code = SESSION_CODE_CALL_FUNC;
	memcpy(p, &len, 8);
	memcpy(p + 8, &code, 4);
	memset(p + 12, 0xab, 200);
	p += 12 + 200;
	len = 4;
	code = SESSION_CODE_SHUTDOWN;
	memcpy(p, &len, 8);
	memcpy(p + 8, &code, 4);
	script_t s = {.in = in, .len = sizeof in, .chunk = 7};
	session_channel_t ch = {&s, script_read, script_write, NULL};
	session_options_t opt;
	session_options_default(&opt);
	opt.max_packet = 100;
	assert_int_equal(session_run(&ch, &opt), 0);
	assert_int_equal(s.pos, sizeof in); /* drained to the Shutdown */
	assert_non_null(memmem(s.out, s.out_len, "exceeds the server limit of 100 bytes", 37));

	uint8_t huge[sizeof init_packet + 12 + 10];
	memcpy(huge, init_packet, sizeof init_packet);
	len = UINT64_MAX - 3;
	code = SESSION_CODE_CALL_FUNC;
	memcpy(huge + sizeof init_packet, &len, 8);
	memcpy(huge + sizeof init_packet + 8, &code, 4);
	memset(huge + sizeof init_packet + 12, 0, 10);
	s = (script_t){.in = huge, .len = sizeof huge};
	assert_int_equal(session_run(&ch, NULL), SESSION_ERR_IO);
	assert_int_equal(s.out_len, sizeof none_reply); /* only InitServer's answer */

	/* A length below the code's 4 bytes breaks the framing. */
	uint8_t tiny[sizeof init_packet + 8];
	memcpy(tiny, init_packet, sizeof init_packet);
	len = 3;
	memcpy(tiny + sizeof init_packet, &len, 8);
	s = (script_t){.in = tiny, .len = sizeof tiny};
	assert_int_equal(session_run(&ch, NULL), SESSION_ERR_PROTOCOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_request),
		cmocka_unit_test(test_several_requests_one_read),
		cmocka_unit_test(test_large_read_bypasses_buffer),
		cmocka_unit_test(test_end_and_timeout),
		cmocka_unit_test(test_engine_split_and_batched),
		cmocka_unit_test(test_oversized_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
