/* Helpers shared by the benchmark drivers (bench/bench_*.c): a monotonic clock, sorted
 * percentiles, and "name value" result lines that bench/run.py reads. Header-only: each
 * driver is one small program. */
#ifndef TVMRPC_BENCH_COMMON_H
#define TVMRPC_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

#endif
