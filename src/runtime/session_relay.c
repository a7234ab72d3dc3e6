/* Session constructors and the byte relay behind them (session_relay.h). The relay is plain
 * descriptor copying with poll: the far session is already open (handshake and InitServer
 * done by the constructor), and every later packet, in either direction, passes unchanged. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"
#include "runtime/session.h"
#include "runtime/session_relay.h"

#define RELAY_CHUNK 65536
#define MAX_CONSTRUCTOR_ARGS 16

static session_far_fd_fn far_fd_of;

void session_relay_set_far_fd(session_far_fd_fn fn)
{
	far_fd_of = fn;
}

/* Constructor arguments: strings, integers, booleans, floats and None. */
static int constructor_args(const session_seq_t *seq, TVMFFIAny *args)
{
	for (int32_t i = 1; i < seq->num; i++) {
		const session_value_t *v = &seq->values[i];
		TVMFFIAny *a = &args[i - 1];
		*a = ffi_any_none();
		if (v->type_index == FFI_RAW_STR || v->inner == FFI_STR) {
			a->type_index = FFI_RAW_STR;
			a->v_c_str = v->str.data;
		} else if (v->type_index == FFI_INT || v->type_index == FFI_BOOL) {
			a->type_index = v->type_index;
			a->v_int64 = v->v_int;
		} else if (v->type_index == FFI_FLOAT) {
			*a = ffi_any_float(v->v_float);
		} else if (v->type_index != FFI_NONE) {
			ffi_error_set("RPCError", "session constructor argument %d has type index %d; "
				      "only strings, numbers and None are accepted", i, v->type_index);
			return -1;
		}
	}
	return 0;
}

int session_relay_construct(const session_seq_t *seq, ffi_module_t **out)
{
	*out = NULL;
	const char *name = seq->num > 0 && (seq->values[0].type_index == FFI_RAW_STR ||
					    seq->values[0].inner == FFI_STR)
				   ? seq->values[0].str.data
				   : NULL;
	if (!name) {
		ffi_error_set("RPCError", "the session constructor must be named by a string");
		return -1;
	}
	TVMFFIAny args[MAX_CONSTRUCTOR_ARGS], result;
	if (seq->num - 1 > MAX_CONSTRUCTOR_ARGS) {
		ffi_error_set("RPCError", "too many session constructor arguments (%d)", seq->num - 1);
		return -1;
	}
	if (constructor_args(seq, args))
		return -1;
	ffi_function_t *ctor = ffi_registry_get(name);
	if (!ctor || !far_fd_of) {
		ffi_object_release(ctor ? &ctor->header : NULL);
		ffi_error_set("RPCError", "Cannot find session constructor %.100s", name);
		return -1;
	}
	int rc = ffi_function_call(ctor, args, seq->num - 1, &result);
	ffi_object_release(&ctor->header);
	if (rc) {
		char why[1024];
		ffi_error_format(why, sizeof why);
		ffi_error_set("RPCError", "Error caught from session constructor %.100s: %s", name,
			      why);
		return -1;
	}
	if (result.type_index != FFI_MODULE) {
		ffi_any_release(&result);
		ffi_error_set("RPCError", "Constructor %.100s need to return an RPCModule", name);
		return -1;
	}
	ffi_module_t *mod = (ffi_module_t *)result.v_obj;
	if (far_fd_of(mod) < 0) {
		ffi_object_release(&mod->header);
		return -1;
	}
	*out = mod;
	return 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_ms(double deadline)
{
	if (deadline <= 0)
		return -1;
	double left = deadline - now_seconds();
	return left <= 0 ? 0 : left > 1e6 ? 1000000000 : (int)ceil(left * 1000.0);
}

/* Write all of buf, waiting on a full socket or pipe. */
static int write_all(int fd, const char *buf, size_t n, double deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int ms = wait_ms(deadline);
			if (ms == 0)
				return SESSION_ERR_TIMEOUT;
			if (poll(&p, 1, ms) < 0 && errno != EINTR)
				return SESSION_ERR_IO;
			continue;
		}
		return SESSION_ERR_IO;
	}
	return 0;
}

int session_relay_run(ffi_module_t *mod, int rfd, int wfd, double deadline)
{
	int far = far_fd_of ? far_fd_of(mod) : -1;
	if (far < 0)
		return SESSION_ERR_IO;
	struct pollfd p[2] = {{.fd = rfd, .events = POLLIN}, {.fd = far, .events = POLLIN}};
	const int to[2] = {far, wfd};
	char buf[RELAY_CHUNK];
	for (;;) {
		int ms = wait_ms(deadline);
		if (ms == 0)
			return SESSION_ERR_TIMEOUT;
		int n = poll(p, 2, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SESSION_ERR_IO;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t got = read(p[i].fd, buf, sizeof buf);
			if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			if (got <= 0) {
				log_debug("relay: the %s side ended", i == 0 ? "client" : "far server");
				return got == 0 ? 0 : SESSION_ERR_IO;
			}
			int rc = write_all(to[i], buf, (size_t)got, deadline);
			if (rc)
				return rc;
		}
	}
}
