/* The session engine (runtime/session.h) served over a descriptor: a channel over a
 * connected stream socket or a pipe pair, deadlines waited out with net.h, and the relay a
 * session constructor asks for copied between the client and the far server's socket. */
#ifndef TVMRPC_SESSION_SERVE_H
#define TVMRPC_SESSION_SERVE_H

#include "runtime/session.h"

/* Serve one session on a connected stream socket or pipe (blocking; the caller owns and
 * closes fd). Returns 0 or one of SESSION_ERR_*, as session_run. SIGPIPE is avoided with
 * MSG_NOSIGNAL on sockets; a pipe writer should ignore SIGPIPE. */
int session_serve(int fd, const session_options_t *opt);
/* Same with separate read and write descriptors (pipe transport, §1.1). */
int session_serve_fds(int read_fd, int write_fd, const session_options_t *opt);

#endif
