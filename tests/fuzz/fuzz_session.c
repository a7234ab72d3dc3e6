/* libFuzzer harness: the whole session engine. The input is the client's byte stream after
 * the handshake (InitServer is prepended when absent); replies go to /dev/null. Limits keep
 * every run small: 1 MiB packets, 16 MiB of remote memory, no work directory. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/log.h"
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

struct feed {
	int fd;
	const uint8_t *data;
	size_t size;
};

static void *feed_main(void *arg)
{
	struct feed *f = arg;
	size_t off = 0;
	while (off < f->size) {
		ssize_t w = write(f->fd, f->data + off, f->size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(f->fd);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int null_fd = -1;
	if (null_fd < 0) {
		signal(SIGPIPE, SIG_IGN);
		log_set_quiet(1);
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
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
	int p[2];
	if (pipe(p) != 0)
		abort();
	struct feed f = {p[1], stream, len};
	pthread_t th;
	pthread_create(&th, NULL, feed_main, &f);
	session_options_t opt;
	session_options_default(&opt);
	opt.max_packet = 1 << 20;
	opt.memory_cap = 16 << 20;
	opt.timeout_seconds = 5;
	session_serve_fds(p[0], null_fd, &opt);
	close(p[0]); /* unblocks the feeder if the session ended early */
	pthread_join(th, NULL);
	free(stream);
	return 0;
}
