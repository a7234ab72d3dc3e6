/* Helpers shared by the benchmark drivers (bench/bench_*.c): a monotonic clock, sorted
 * percentiles, "name value" result lines that bench/run.py reads, a loopback connect, and the
 * CPU time of a process tree. Header-only: each driver is one small program. */
#ifndef TVMRPC_BENCH_COMMON_H
#define TVMRPC_BENCH_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* q-th quantile (0..1) of n samples; sorts them in place. */
static inline double bench_quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, bench_cmp_double);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* One result line: "<name> <value>". */
static inline void bench_emit(const char *name, double value)
{
	printf("%s %.6g\n", name, value);
	fflush(stdout);
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static inline int bench_connect_loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* User + system CPU seconds of one process (/proc/PID/stat fields 14 and 15), or -1. */
static inline double bench_process_cpu_seconds(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char *ok = fgets(buf, sizeof buf, f);
	fclose(f);
	unsigned long ut, st;
	char *p = ok ? strrchr(buf, ')') : NULL; /* after "pid (comm)" */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The same for pid and all its descendants (TVM's Python tracker and proxy serve from child
 * processes). */
static inline double bench_tree_cpu_seconds(int pid)
{
	double total = bench_process_cpu_seconds(pid);
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
	FILE *f = fopen(path, "r");
	int child;
	while (f && fscanf(f, "%d", &child) == 1)
		total += bench_tree_cpu_seconds(child);
	if (f)
		fclose(f);
	return total;
}

#endif
