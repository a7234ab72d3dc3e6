/* Session constructors (InitServer arguments, docs/session-protocol.md §1.5): as TVM's server does,
 * InitServer ["rpc.Connect", host, port, key, ...] makes this session a relay to another
 * server. The constructor is any global that returns an RPC session module; the services
 * layer tells how to reach its far server (session_relay_set_far_fd), and from then on the
 * session's channel (session.h) only copies bytes both ways until one side ends. */
#ifndef TVMRPC_SESSION_RELAY_H
#define TVMRPC_SESSION_RELAY_H

#include "runtime/ffi.h"
#include "runtime/session_codec.h"

/* The connected socket of an RPC session module's far server, or -1 with an error set when
 * `mod` is not one (a local session, another module kind, a closed session). */
typedef int (*session_far_fd_fn)(ffi_module_t *mod);
void session_relay_set_far_fd(session_far_fd_fn fn);

/* Run the constructor seq[0] with the plain values seq[1..]: on success *out is the session
 * module (new reference) whose far socket the relay uses. -1 with an error set otherwise
 * (no constructor of that name, it failed, or it did not return a far session). */
int session_relay_construct(const session_seq_t *seq, ffi_module_t **out);

/* The far server's connected socket of a session module session_relay_construct returned,
 * for the channel that relays to it; -1 with an error set when there is none. */
int session_relay_far_fd(ffi_module_t *mod);

#endif
