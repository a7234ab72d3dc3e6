/* libFuzzer harness: the whole session engine, driven through an in-memory channel (no
 * descriptors, no threads). The input is the client's byte stream after the handshake
 * (InitServer is prepended when absent); replies are discarded. Limits keep
 * every run small: 1 MiB packets, 16 MiB of remote memory, no work directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/session.h"

/* The time evaluator runs a callee `number * repeat` times as the client asks: a fuzzed
 * request could legitimately keep it busy for hours (the server's kill timer ends such
 * sessions), which is a hang to libFuzzer, not a bug. */
static int no_time_evaluator(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	(void)result;
	ffi_error_set("RuntimeError", "disabled in the fuzz harness");
	return -1;
}

/* The engine's channel (runtime/session.h) over memory: reads take from the input in pieces
 * of varying size (so the engine's read-ahead sees requests split across reads and several
 * in one read), writes are discarded, and a session constructor's relay is refused (no far
 * server). */
typedef struct feed {
	const uint8_t *data;
	size_t size, pos;
} feed_t;

static long feed_read(void *context, void *buf, size_t n, double deadline)
{
	(void)deadline;
	feed_t *f = context;
	size_t piece = 1 + (size_t)((f->pos * 2654435761u) >> 5) % 8192;
	if (n > piece)
		n = piece;
	if (n > f->size - f->pos)
		n = f->size - f->pos;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	return (long)n;
}

static long discard_write(void *context, const struct iovec *iov, int count, double deadline)
{
	(void)context;
	(void)deadline;
	size_t total = 0;
	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	return (long)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		quiet = 1;
		log_set_quiet(1);
		ffi_registry_put_call("runtime.RPCTimeEvaluator", no_time_evaluator);
	}
	static const uint8_t init[] = {0x15, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0,
				       0, 0, 0, '0', '.', '8', '.', '0', 0, 0, 0, 0};
	uint8_t *stream = malloc(sizeof init + size);
	size_t len = 0;
	if (size < 12 || data[8] != 2) {
		memcpy(stream, init, sizeof init);
		len = sizeof init;
	}
	memcpy(stream + len, data, size);
	len += size;
	feed_t f = {stream, len, 0};
	session_channel_t channel = {&f, feed_read, discard_write, NULL};
	session_options_t opt;
	session_options_default(&opt);
	opt.max_packet = 1 << 20;
	opt.memory_cap = 16 << 20;
	opt.timeout_seconds = 5;
	session_run(&channel, &opt);
	free(stream);
	return 0;
}
