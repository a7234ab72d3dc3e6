/* Tracker benchmarks for `make bench`, speaking the tracker protocol (control-plane.md §2)
 * over plain blocking sockets to 127.0.0.1.
 *   bench_tracker cycles PORT PID SERVERS MAX_SECONDS
 *     SERVERS resources of key "bench" PUT over connections of up to 1000 each; then cycles of
 *     REQUEST -> assignment -> the owner PUTs a fresh matchkey. Reports cycles/s and the
 *     CPU time per cycle of the tracker process and its children (from /proc/PID/stat).
 *   bench_tracker pending PORT PENDING ROUNDS MAX_SECONDS
 *     PENDING requests left waiting on key "busy" (64 per connection, the tracker's limit),
 *     then the latency of PING and of a REQUEST for the free key "idle" (re-PUT each time). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.h"

#define MAGIC 0x2f271
#define PER_CONN 1000
#define REQUESTS_PER_CONN 64

static int port;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void io_all(int fd, void *buf, size_t n, int write)
{
	char *p = buf;
	while (n) {
		ssize_t r = write ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
		if (r <= 0)
			die(write ? "send" : "recv (tracker closed the connection?)");
		p += r;
		n -= (size_t)r;
	}
}

static int tracker_connect(void)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	int32_t magic = MAGIC;
	io_all(fd, &magic, 4, 1);
	io_all(fd, &magic, 4, 0);
	if (magic != MAGIC)
		die("magic");
	return fd;
}

/* Frame = i32 length + JSON, sent in one write. */
static void send_frame(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_frame(int fd, const char *fmt, ...)
{
	char buf[600];
	va_list ap;
	va_start(ap, fmt);
	int32_t n = vsnprintf(buf + 4, sizeof buf - 4, fmt, ap);
	va_end(ap);
	memcpy(buf, &n, 4);
	io_all(fd, buf, (size_t)n + 4, 1);
}

/* Reads one frame into buf (NUL-terminated). */
static void recv_frame(int fd, char *buf, size_t cap)
{
	int32_t n;
	io_all(fd, &n, 4, 0);
	if (n <= 0 || (size_t)n >= cap)
		die("frame length");
	io_all(fd, buf, (size_t)n, 0);
	buf[n] = '\0';
}

static void expect_ok(int fd)
{
	char buf[64];
	recv_frame(fd, buf, sizeof buf);
	if (strcmp(buf, "0") != 0) {
		fprintf(stderr, "bench_tracker: expected 0, got %s\n", buf);
		exit(1);
	}
}

/* Servers: connection i PUTs matchkeys "<key>:<i>-<seq>". */
struct servers {
	int n_conn;
	int *fd;
	long seq;
};

static void servers_open(struct servers *s, const char *key, int count)
{
	s->n_conn = (count + PER_CONN - 1) / PER_CONN;
	s->fd = calloc((size_t)s->n_conn, sizeof *s->fd);
	for (int i = 0; i < s->n_conn; i++) {
		s->fd[i] = tracker_connect();
		send_frame(s->fd[i], "[5, {\"key\": \"server:%s\", \"addr\": [null, %d]}]", key,
			   9000 + i);
		expect_ok(s->fd[i]);
		int here = count - i * PER_CONN < PER_CONN ? count - i * PER_CONN : PER_CONN;
		for (int k = 0; k < here; k++) /* pipelined, then all the acks */
			send_frame(s->fd[i], "[3, \"%s\", [%d, \"%s:%d-%ld\"], null]", key, 9000 + i,
				   key, i, ++s->seq);
		for (int k = 0; k < here; k++)
			expect_ok(s->fd[i]);
	}
}

/* One cycle: REQUEST key, then the owner of the assigned matchkey PUTs a fresh one.
 * Returns the REQUEST's latency in seconds. */
static double cycle(int req_fd, struct servers *s, const char *key)
{
	char buf[512];
	double t0 = bench_now();
	send_frame(req_fd, "[4, \"%s\", \"\", 1]", key);
	recv_frame(req_fd, buf, sizeof buf);
	double dt = bench_now() - t0;
	char want[64];
	snprintf(want, sizeof want, "\"%s:", key);
	char *m = strstr(buf, want);
	int conn = m ? atoi(m + strlen(want)) : -1;
	if (strncmp(buf, "[0, [", 5) != 0 || conn < 0 || conn >= s->n_conn) {
		fprintf(stderr, "bench_tracker: unexpected assignment %s\n", buf);
		exit(1);
	}
	send_frame(s->fd[conn], "[3, \"%s\", [%d, \"%s:%d-%ld\"], null]", key, 9000 + conn, key,
		   conn, ++s->seq);
	expect_ok(s->fd[conn]);
	return dt;
}

static void servers_close(struct servers *s)
{
	for (int i = 0; i < s->n_conn; i++)
		close(s->fd[i]);
	free(s->fd);
}

static int run_cycles(int pid, int count, double max_s)
{
	struct servers s = {0};
	servers_open(&s, "bench", count);
	int req = tracker_connect();
	for (int i = 0; i < 200; i++)
		cycle(req, &s, "bench");
	long n = 0;
	double c0 = bench_tree_cpu_seconds(pid), t0 = bench_now(), end = t0 + max_s;
	while (bench_now() < end) {
		for (int i = 0; i < 100; i++)
			cycle(req, &s, "bench");
		n += 100;
	}
	double dt = bench_now() - t0, cpu = bench_tree_cpu_seconds(pid) - c0;
	bench_emit("cycles_per_s", (double)n / dt);
	bench_emit("cpu_us_per_cycle", cpu / (double)n * 1e6);
	close(req);
	servers_close(&s);
	return 0;
}

static int run_pending(int pending, long rounds, double max_s)
{
	int n_conn = (pending + REQUESTS_PER_CONN - 1) / REQUESTS_PER_CONN;
	int *waiters = calloc((size_t)n_conn + 1, sizeof *waiters);
	for (int i = 0; i < n_conn; i++) {
		waiters[i] = tracker_connect();
		int here = pending - i * REQUESTS_PER_CONN;
		for (int k = 0; k < (here < REQUESTS_PER_CONN ? here : REQUESTS_PER_CONN); k++)
			send_frame(waiters[i], "[4, \"busy\", \"\", %d]", k % 3);
	}
	struct servers s = {0};
	servers_open(&s, "idle", 1);
	int req = tracker_connect();
	/* SUMMARY confirms the requests are queued before anything is timed. */
	char *big = malloc(1 << 20), want[64];
	send_frame(req, "[6]");
	recv_frame(req, big, 1 << 20);
	snprintf(want, sizeof want, "\"busy\": {\"free\": 0, \"pending\": %d}", pending);
	if (pending && !strstr(big, want)) {
		fprintf(stderr, "bench_tracker: %d requests not pending: %.200s\n", pending, big);
		exit(1);
	}
	free(big);
	double *req_t = calloc((size_t)rounds, sizeof(double));
	double *ping_t = calloc((size_t)rounds, sizeof(double));
	long n = 0;
	double end = bench_now() + max_s;
	for (long i = -100; i < rounds && bench_now() < end; i++) {
		double r = cycle(req, &s, "idle");
		char buf[16];
		double t0 = bench_now();
		send_frame(req, "[1]");
		recv_frame(req, buf, sizeof buf);
		if (i >= 0) {
			ping_t[n] = (bench_now() - t0) * 1e6;
			req_t[n++] = r * 1e6;
		}
	}
	bench_emit("request_median_us", bench_quantile(req_t, (size_t)n, 0.5));
	bench_emit("request_p99_us", bench_quantile(req_t, (size_t)n, 0.99));
	bench_emit("ping_median_us", bench_quantile(ping_t, (size_t)n, 0.5));
	bench_emit("ping_p99_us", bench_quantile(ping_t, (size_t)n, 0.99));
	free(req_t);
	free(ping_t);
	close(req);
	servers_close(&s);
	for (int i = 0; i < n_conn; i++)
		close(waiters[i]);
	free(waiters);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "cycles") == 0) {
		port = atoi(argv[2]);
		return run_cycles(atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
	}
	if (argc == 6 && strcmp(argv[1], "pending") == 0) {
		port = atoi(argv[2]);
		return run_pending(atoi(argv[3]), atol(argv[4]), atof(argv[5]));
	}
	fprintf(stderr, "usage: bench_tracker cycles PORT PID SERVERS MAX_S | "
		"pending PORT PENDING ROUNDS MAX_S\n");
	return 2;
}
