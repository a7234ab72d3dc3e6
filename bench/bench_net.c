/* Plain loopback TCP baselines for `make bench`: a 64-byte ping-pong (the floor for a remote
 * call's round trip) and a bulk copy of N bytes answered by a 1-byte ack (the ceiling for a
 * tensor copy). The peer is a thread in this process; both ends use TCP_NODELAY.
 *   bench_net pingpong ITERS MAX_SECONDS
 *   bench_net relay ITERS MAX_SECONDS      (the same through a relay thread: a proxy's floor)
 *   bench_net copy BYTES REPS MAX_SECONDS
 *   bench_net relay-copy BYTES REPS MAX_SECONDS   (through a relay thread: a proxy's ceiling) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

#define PING_BYTES 64

struct peer {
	int listen_fd;
	int mode; /* 0 echo 64-byte messages, 1 receive `bytes` then ack with one byte */
	size_t bytes;
};

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	nodelay(fd);
	char small[PING_BYTES];
	char *big = p->mode ? calloc(1, p->bytes) : NULL;
	for (;;) {
		if (p->mode == 0) {
			if (read_full(fd, small, sizeof small) || write_full(fd, small, sizeof small))
				break;
		} else if (read_full(fd, big, p->bytes) || write_full(fd, "k", 1)) {
			break;
		}
	}
	free(big);
	close(fd);
	return NULL;
}

/* Listen on 127.0.0.1:0, start the peer thread, connect to it. Returns the client fd. */
static int start_pair(struct peer *p, pthread_t *th)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) ||
	    listen(p->listen_fd, 1) || getsockname(p->listen_fd, (struct sockaddr *)&a, &len))
		return -1;
	if (pthread_create(th, NULL, peer_main, p))
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
		return -1;
	nodelay(fd);
	return fd;
}

/* A store-and-forward hop in front of the peer, as a proxy is: the floor for a round trip
 * through a proxy (64-byte messages in lock-step) or the ceiling for a copy through one
 * (the payload forwarded in 256 KiB reads, then the ack). */
#define RELAY_CHUNK (256 * 1024)

struct relay {
	struct peer front;
	int back_fd;
};

static int relay_forward(int from, int to, size_t n, char *buf)
{
	while (n) {
		ssize_t r = recv(from, buf, n < RELAY_CHUNK ? n : RELAY_CHUNK, 0);
		if (r <= 0 || write_full(to, buf, (size_t)r))
			return -1;
		n -= (size_t)r;
	}
	return 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int fd = accept(r->front.listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	nodelay(fd);
	char *buf = malloc(RELAY_CHUNK);
	size_t ask = r->front.mode ? r->front.bytes : PING_BYTES, answer = r->front.mode ? 1 : PING_BYTES;
	while (relay_forward(fd, r->back_fd, ask, buf) == 0 &&
	       relay_forward(r->back_fd, fd, answer, buf) == 0) {
	}
	free(buf);
	close(fd);
	close(r->back_fd);
	return NULL;
}

static int start_relay(struct peer *echo, pthread_t *echo_th, struct relay *r, pthread_t *th)
{
	r->back_fd = start_pair(echo, echo_th);
	if (r->back_fd < 0)
		return -1;
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->front.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (r->front.listen_fd < 0 || bind(r->front.listen_fd, (struct sockaddr *)&a, sizeof a) ||
	    listen(r->front.listen_fd, 1) ||
	    getsockname(r->front.listen_fd, (struct sockaddr *)&a, &len) ||
	    pthread_create(th, NULL, relay_main, r))
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
		return -1;
	nodelay(fd);
	return fd;
}

static int pingpong(long iters, double max_s, int hops)
{
	struct peer p = {.mode = 0};
	struct relay relay = {.front = {.mode = 0}};
	pthread_t th, relay_th;
	int fd = hops == 1 ? start_pair(&p, &th) : start_relay(&p, &th, &relay, &relay_th);
	if (fd < 0)
		return perror("pingpong setup"), 1;
	double *t = calloc((size_t)iters, sizeof *t);
	char msg[PING_BYTES] = {0};
	long n = 0;
	double end = bench_now() + max_s;
	for (long warm = 0; warm < 200; warm++)
		if (write_full(fd, msg, sizeof msg) || read_full(fd, msg, sizeof msg))
			return perror("pingpong"), 1;
	while (n < iters && bench_now() < end) {
		double t0 = bench_now();
		if (write_full(fd, msg, sizeof msg) || read_full(fd, msg, sizeof msg))
			return perror("pingpong"), 1;
		t[n++] = (bench_now() - t0) * 1e6;
	}
	close(fd);
	if (hops == 2) {
		pthread_join(relay_th, NULL);
		close(relay.front.listen_fd);
	}
	pthread_join(th, NULL);
	close(p.listen_fd);
	const char *name = hops == 1 ? "pingpong" : "relay";
	char key[64];
	snprintf(key, sizeof key, "%s_median_us", name);
	bench_emit(key, bench_quantile(t, (size_t)n, 0.5));
	snprintf(key, sizeof key, "%s_p99_us", name);
	bench_emit(key, bench_quantile(t, (size_t)n, 0.99));
	free(t);
	return 0;
}

/* Median of per-copy times, so that a moment of load on a shared machine does not count. */
static int copy(size_t bytes, long reps, double max_s, int hops)
{
	struct peer p = {.mode = 1, .bytes = bytes};
	struct relay relay = {.front = {.mode = 1, .bytes = bytes}};
	pthread_t th, relay_th;
	int fd = hops == 1 ? start_pair(&p, &th) : start_relay(&p, &th, &relay, &relay_th);
	if (fd < 0)
		return perror("copy setup"), 1;
	char *buf = malloc(bytes), ack;
	double *t = calloc((size_t)reps, sizeof *t);
	memset(buf, 7, bytes);
	/* One warm-up round so both buffers are paged in, as in the RPC measurement. */
	if (write_full(fd, buf, bytes) || read_full(fd, &ack, 1))
		return perror("copy"), 1;
	long n = 0;
	double end = bench_now() + max_s;
	while (n < reps && (n < 3 || bench_now() < end)) {
		double t0 = bench_now();
		if (write_full(fd, buf, bytes) || read_full(fd, &ack, 1))
			return perror("copy"), 1;
		t[n++] = bench_now() - t0;
	}
	close(fd);
	if (hops == 2) {
		pthread_join(relay_th, NULL);
		close(relay.front.listen_fd);
	}
	pthread_join(th, NULL);
	close(p.listen_fd);
	free(buf);
	char name[64];
	snprintf(name, sizeof name, "%s_%zu_mbps", hops == 1 ? "copy" : "relay_copy", bytes);
	bench_emit(name, (double)bytes / bench_quantile(t, (size_t)n, 0.5) / 1e6);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "pingpong") == 0)
		return pingpong(atol(argv[2]), atof(argv[3]), 1);
	if (argc == 4 && strcmp(argv[1], "relay") == 0)
		return pingpong(atol(argv[2]), atof(argv[3]), 2);
	if (argc == 5 && strcmp(argv[1], "copy") == 0)
		return copy((size_t)atoll(argv[2]), atol(argv[3]), atof(argv[4]), 1);
	if (argc == 5 && strcmp(argv[1], "relay-copy") == 0)
		return copy((size_t)atoll(argv[2]), atol(argv[3]), atof(argv[4]), 2);
	fprintf(stderr, "usage: bench_net pingpong|relay ITERS MAX_S | copy|relay-copy BYTES REPS "
		"MAX_S\n");
	return 2;
}
