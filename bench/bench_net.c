/* Plain loopback TCP baselines for `make bench`: a 64-byte ping-pong (the floor for a remote
 * call's round trip) and a bulk copy of N bytes answered by a 1-byte ack (the ceiling for a
 * tensor copy). The peer is a thread in this process; both ends use TCP_NODELAY.
 *   bench_net pingpong ITERS MAX_SECONDS
 *   bench_net relay ITERS MAX_SECONDS      (the same through a relay thread: a proxy's floor)
 *   bench_net copy BYTES REPS MAX_SECONDS
 *   bench_net relay-copy BYTES REPS MAX_SECONDS   (through a relay thread: a proxy's ceiling)
 *   bench_net splice-copy BYTES REPS MAX_SECONDS  (through a splice(2) relay thread, pipes of
 *                                                  1 MiB as the proxy's: the proxy's baseline)
 *   bench_net proxy-copy PORT PID BYTES REPS MAX_SECONDS
 *       plain bytes through a real proxy at 127.0.0.1:PORT (ours or TVM's): this program is
 *       both the server ("server:<key>") and the client ("client:<key>"); after pairing,
 *       BYTES one way then a 1-byte ack, client -> server and then server -> client. Reports
 *       MB/s per direction and the CPU seconds per GiB relayed of the proxy process (PID) and
 *       its children. */
#include <arpa/inet.h>
#include <fcntl.h>
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
#define SPLICE_PIPE_SIZE (1024 * 1024)

struct relay {
	struct peer front;
	int back_fd;
	int splice; /* forward with splice(2) through a pipe instead of recv/send */
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

/* n bytes from one socket to another through a pipe, never through user space. */
static int splice_forward(int from, int to, size_t n, const int *pipe_fd)
{
	while (n) {
		ssize_t in = splice(from, NULL, pipe_fd[1], NULL, n < SPLICE_PIPE_SIZE ? n : SPLICE_PIPE_SIZE,
				    SPLICE_F_MOVE);
		if (in <= 0)
			return -1;
		for (ssize_t out = 0; out < in;) {
			ssize_t w = splice(pipe_fd[0], NULL, to, NULL, (size_t)(in - out), SPLICE_F_MOVE);
			if (w <= 0)
				return -1;
			out += w;
		}
		n -= (size_t)in;
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
	int pipe_fd[2] = {-1, -1};
	if (r->splice && (pipe(pipe_fd) || fcntl(pipe_fd[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE) < 0))
		r->splice = 0;
	while (r->splice ? splice_forward(fd, r->back_fd, ask, pipe_fd) == 0 &&
				   splice_forward(r->back_fd, fd, answer, pipe_fd) == 0
			 : relay_forward(fd, r->back_fd, ask, buf) == 0 &&
				   relay_forward(r->back_fd, fd, answer, buf) == 0) {
	}
	if (pipe_fd[0] >= 0) {
		close(pipe_fd[0]);
		close(pipe_fd[1]);
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
/* hops: 1 direct, 2 through a recv/send relay thread, 3 through a splice relay thread. */
static int copy(size_t bytes, long reps, double max_s, int hops)
{
	struct peer p = {.mode = 1, .bytes = bytes};
	struct relay relay = {.front = {.mode = 1, .bytes = bytes}, .splice = hops == 3};
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
	if (hops >= 2) {
		pthread_join(relay_th, NULL);
		close(relay.front.listen_fd);
	}
	pthread_join(th, NULL);
	close(p.listen_fd);
	free(buf);
	char name[64];
	snprintf(name, sizeof name, "%s_%zu_mbps",
		 hops == 1 ? "copy" : hops == 2 ? "relay_copy" : "splice_copy", bytes);
	bench_emit(name, (double)bytes / bench_quantile(t, (size_t)n, 0.5) / 1e6);
	free(t);
	return 0;
}

/* ---- plain bytes through a real proxy ---- */

#define RPC_MAGIC 0xff271

static int connect_port(int port)
{
	int fd = bench_connect_loopback(port);
	if (fd >= 0)
		nodelay(fd);
	return fd;
}

static int handshake_send(int fd, const char *key)
{
	char buf[256];
	int32_t head[2] = {RPC_MAGIC, (int32_t)strlen(key)};
	memcpy(buf, head, 8);
	memcpy(buf + 8, key, strlen(key));
	return write_full(fd, buf, 8 + strlen(key));
}

/* The proxy's answer after pairing: SUCCESS, then the partner's key. */
static int handshake_reply(int fd)
{
	int32_t head[2];
	char key[256];
	if (read_full(fd, head, 8) || head[0] != RPC_MAGIC || head[1] < 0 ||
	    (size_t)head[1] > sizeof key)
		return -1;
	return read_full(fd, key, (size_t)head[1]);
}

struct sink {
	int fd;
	size_t bytes;
	long rounds;
};

/* The far end of one direction: receive `bytes`, ack with one byte, `rounds` times. */
static void *sink_main(void *arg)
{
	struct sink *k = arg;
	char *buf = malloc(k->bytes);
	for (long i = 0; i < k->rounds; i++)
		if (read_full(k->fd, buf, k->bytes) || write_full(k->fd, "k", 1))
			break;
	free(buf);
	return NULL;
}

/* `rounds` copies of `bytes` from `from` to `to` (the sink thread acks each); fills t[]. */
static int proxy_direction(int from, int to, size_t bytes, long rounds, double *t, char *buf)
{
	struct sink k = {to, bytes, rounds};
	pthread_t th;
	if (pthread_create(&th, NULL, sink_main, &k))
		return -1;
	int rc = 0;
	for (long i = 0; i < rounds && rc == 0; i++) {
		char ack;
		double t0 = bench_now();
		rc = write_full(from, buf, bytes) || read_full(from, &ack, 1);
		t[i] = bench_now() - t0;
	}
	pthread_join(th, NULL);
	return rc;
}

static int proxy_copy(int port, int pid, size_t bytes, long reps, double max_s)
{
	char key[64], skey[80], ckey[80];
	snprintf(key, sizeof key, "pbench%d", (int)getpid());
	snprintf(skey, sizeof skey, "server:%s", key);
	snprintf(ckey, sizeof ckey, "client:%s", key);
	int srv = connect_port(port), cli = srv < 0 ? -1 : connect_port(port);
	if (cli < 0 || handshake_send(srv, skey))
		return perror("proxy-copy connect"), 1;
	/* A standalone proxy answers each side once both came, whatever their order. */
	if (handshake_send(cli, ckey) || handshake_reply(cli) || handshake_reply(srv))
		return fprintf(stderr, "proxy-copy: handshake with the proxy failed\n"), 1;
	char *buf = malloc(bytes);
	memset(buf, 5, bytes);
	/* Rounds fixed in advance (the sink must know them): as many as fit in max_s / 2 per
	 * direction at the speed of the first copy, at least 3. */
	double one[1];
	if (proxy_direction(cli, srv, bytes, 1, one, buf))
		return perror("proxy-copy"), 1;
	long rounds = (long)(max_s / 2 / (one[0] > 1e-6 ? one[0] : 1e-6));
	rounds = rounds < 3 ? 3 : rounds > reps ? reps : rounds;
	double *t = calloc((size_t)rounds, sizeof *t);
	double cpu = 0, relayed = 0;
	for (int dir = 0; dir < 2; dir++) {
		double c0 = bench_tree_cpu_seconds(pid);
		if (proxy_direction(dir ? srv : cli, dir ? cli : srv, bytes, rounds, t, buf))
			return perror("proxy-copy"), 1;
		cpu += bench_tree_cpu_seconds(pid) - c0;
		relayed += (double)rounds * (double)(bytes + 1);
		char name[64];
		snprintf(name, sizeof name, "proxy_%s_%zu_mbps", dir ? "from" : "to", bytes);
		bench_emit(name, (double)bytes / bench_quantile(t, (size_t)rounds, 0.5) / 1e6);
	}
	bench_emit("proxy_cpu_s_per_gib", cpu / (relayed / (1024.0 * 1024 * 1024)));
	free(t);
	free(buf);
	close(cli);
	close(srv);
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
	if (argc == 5 && strcmp(argv[1], "splice-copy") == 0)
		return copy((size_t)atoll(argv[2]), atol(argv[3]), atof(argv[4]), 3);
	if (argc == 7 && strcmp(argv[1], "proxy-copy") == 0)
		return proxy_copy(atoi(argv[2]), atoi(argv[3]), (size_t)atoll(argv[4]), atol(argv[5]),
				  atof(argv[6]));
	fprintf(stderr, "usage: bench_net pingpong|relay ITERS MAX_S | copy|relay-copy|splice-copy "
		"BYTES REPS MAX_S | proxy-copy PORT PID BYTES REPS MAX_S\n");
	return 2;
}
