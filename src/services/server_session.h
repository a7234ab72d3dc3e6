/* One RPC session of the device server, run in a forked child (docs/control-plane.md §5.4). The
 * parent keeps the socket, watches the child through SIGCHLD, kills it at deadline + grace and
 * then writes the RPCSessionTimeoutError packet itself. Used only by server.c. */
#ifndef TVMRPC_SERVER_SESSION_H
#define TVMRPC_SERVER_SESSION_H

#include <stdint.h>
#include <uv.h>

/* How a session ended, for logs and counters. */
enum server_session_end {
	SERVER_SESSION_DONE = 0,     /* the engine returned normally (Shutdown or EOF) */
	SERVER_SESSION_ERROR,        /* the engine reported a broken stream or I/O error */
	SERVER_SESSION_TIMEOUT,      /* the engine sent the timeout exception itself */
	SERVER_SESSION_KILLED,       /* still alive at deadline + grace: killed, exception sent by us */
	SERVER_SESSION_CRASHED,      /* died from a signal we did not send, or an unexpected exit code */
	SERVER_SESSION_STOPPED,      /* ended by server_session_stop (service shutdown) */
	SERVER_SESSION_FAILED,       /* could not start (fork, work directory) */
};

typedef struct server_session_config {
	const char *work_base;     /* parent of the per-session directory ("" = $TMPDIR or /tmp) */
	const char *load_library;  /* ':'-separated libraries preloaded in the child, may be "" */
	uint64_t max_packet;
	uint64_t memory_cap;
	double timeout;            /* seconds, 0 = none */
	double grace;              /* seconds after the timeout before the child is killed */
	const char *peer;          /* for log lines */
	int no_fork;               /* run the session in this process (--no-fork) */
} server_session_config_t;

typedef struct server_session server_session_t;

typedef void (*server_session_done_cb)(void *arg, enum server_session_end how);

/* Take over `tcp` (heap-allocated, initialised on `loop`, not reading; the session closes and
 * frees it with free()), fork the child and watch it. `done` runs exactly once, from the loop,
 * after the child is reaped, the socket is closed and the work directory removed; the session
 * object is freed right after. Returns 0, or a negative uv error: then `done` never runs and
 * the caller still owns `tcp`. */
int server_session_start(uv_loop_t *loop, uv_tcp_t *tcp, const server_session_config_t *cfg,
			 server_session_done_cb done, void *arg, server_session_t **out);

/* End the session early: SIGTERM to the child's process group, SIGKILL after `grace` seconds.
 * `done` still runs (with SERVER_SESSION_STOPPED unless the child had already finished). */
void server_session_stop(server_session_t *s, double grace);

/* Child's process id, for the console. */
int server_session_pid(const server_session_t *s);

/* Remove a directory tree without following symbolic links. Returns 0 or -1. */
int server_session_remove_tree(const char *path);

#endif
