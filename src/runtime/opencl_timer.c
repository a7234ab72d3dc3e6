/* TVM's OpenCL timer (opencl_driver.h, docs/devices.md): the summed execution time of the
 * kernels launched while it runs, from their profiling events. One state per device; a
 * launch from any thread records under its lock. */
#include <pthread.h>
#include <stdlib.h>

#include "base/xalloc.h"
#include "runtime/opencl_driver.h"

#define TIMER_DEVICES 64

struct timer {
	pthread_mutex_t lock;
	int depth;       /* nested starts */
	cl_event *events;
	size_t count, cap;
};

static struct timer timers[TIMER_DEVICES];
static pthread_once_t timers_once = PTHREAD_ONCE_INIT;

static void timers_init(void)
{
	for (int i = 0; i < TIMER_DEVICES; i++)
		pthread_mutex_init(&timers[i].lock, NULL);
}

static struct timer *timer_of(int id)
{
	if (id < 0 || id >= TIMER_DEVICES || !opencl_device(id))
		return NULL;
	pthread_once(&timers_once, timers_init);
	return &timers[id];
}

int opencl_timer_start(int id)
{
	struct timer *t = timer_of(id);
	if (!t)
		return -1;
	pthread_mutex_lock(&t->lock);
	t->depth++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

cl_event *opencl_timer_event(int id, cl_event *slot)
{
	struct timer *t = timer_of(id);
	if (!t)
		return NULL;
	pthread_mutex_lock(&t->lock);
	int on = t->depth > 0;
	pthread_mutex_unlock(&t->lock);
	*slot = NULL;
	return on ? slot : NULL;
}

void opencl_timer_record(int id, cl_event ev)
{
	struct timer *t = timer_of(id);
	if (!t || !ev)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->count == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->events = xrealloc(t->events, t->cap * sizeof *t->events);
	}
	t->events[t->count++] = ev;
	pthread_mutex_unlock(&t->lock);
}

/* Sum END - START of the events, releasing them; 0 or -1 with the OpenCL error set. */
static int sum_events(cl_event *events, size_t count, int64_t *nanos)
{
	const opencl_driver_t *cl = opencl_driver();
	cl_int err = count ? cl->clWaitForEvents(1, &events[count - 1]) : CL_SUCCESS;
	uint64_t total = 0;
	for (size_t i = 0; i < count; i++) {
		cl_ulong start = 0, end = 0;
		if (err == CL_SUCCESS)
			err = cl->clGetEventProfilingInfo(events[i], CL_PROFILING_COMMAND_START,
							  sizeof start, &start, NULL);
		if (err == CL_SUCCESS)
			err = cl->clGetEventProfilingInfo(events[i], CL_PROFILING_COMMAND_END,
							  sizeof end, &end, NULL);
		if (err == CL_SUCCESS && end > start)
			total += end - start;
		cl->clReleaseEvent(events[i]);
	}
	*nanos = (int64_t)total;
	return err == CL_SUCCESS ? 0 : opencl_fail("e", err);
}

int opencl_timer_stop(int id, int64_t *nanos)
{
	struct timer *t = timer_of(id);
	if (!t)
		return -1;
	pthread_mutex_lock(&t->lock);
	cl_event *events = t->events;
	size_t count = t->count;
	if (t->depth > 0)
		t->depth--;
	t->events = NULL;
	t->count = t->cap = 0;
	pthread_mutex_unlock(&t->lock);
	int rc = sum_events(events, count, nanos);
	free(events);
	return rc;
}
