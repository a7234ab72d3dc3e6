/* What a device server offers, for its tracker info and log (docs/devices.md): the CPU and
 * the OpenCL devices a session would find. The driver is probed in a short-lived child,
 * because OpenCL drivers start threads that do not survive the fork of each session; with
 * no_fork (sessions in-process anyway) it is probed in place. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/device.h"
#include "services/server_internal.h"

#define PROBE_TIMEOUT_MS 10000

/* Read the child's answer until EOF or the deadline; returns the bytes read. */
static size_t read_answer(int fd, char *buf, size_t size)
{
	size_t used = 0;
	while (used + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, PROBE_TIMEOUT_MS) <= 0)
			break;
		ssize_t n = read(fd, buf + used, size - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	return used;
}

void server_probe_devices(int in_process, char *buf, size_t size)
{
	snprintf(buf, size, "cpu");
	if (in_process) {
		device_describe(buf, size);
		return;
	}
	int fds[2];
	if (pipe(fds) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		char text[512];
		device_describe(text, sizeof text);
		ssize_t w = write(fds[1], text, strlen(text));
		_exit(w < 0); /* no exit handlers: nothing of the parent's is torn down twice */
	}
	close(fds[1]);
	if (pid > 0) {
		char text[512];
		if (read_answer(fds[0], text, sizeof text) > 0)
			snprintf(buf, size, "%s", text);
		else
			snprintf(buf, size, "cpu (the OpenCL probe gave no answer)");
		kill(pid, SIGKILL); /* a no-op if it already finished */
		waitpid(pid, NULL, 0);
	}
	close(fds[0]);
}
