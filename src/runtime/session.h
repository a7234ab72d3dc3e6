/* The server side of one RPC session (docs/session-protocol.md): after the handshake, the
 * server service (services/server*.c) forks and calls session_serve() on the connection,
 * which runs this engine (session_run) over a socket channel (services/session_serve.c).
 * Reads are buffered (session_input.h): the engine may take more than one packet from one
 * channel read. It answers packets until Shutdown, EOF at a packet boundary, a broken stream or the
 * deadline. Uses session_codec (bytes), session_handles (objects) and session_memory
 * (allocations); the file service and module globals live in server_functions.c.
 *
 * Behaviour a client (or a test) can rely on:
 * - Only InitServer "0.8.0" opens the session; anything else first gets an Exception.
 *   ["rpc.LocalSession"] (or no constructor) serves here; another constructor such as
 *   ["rpc.Connect", host, port, key, ...] turns the session into a relay to that far
 *   server (session_relay.h), as TVM's server does.
 * - Handles are table entries (0x10000 + 16k), never pointers; the same object handed out
 *   twice keeps its handle and counts two references (FreeHandle once per reference).
 * - Data pointers are the real addresses of DevAllocData* blocks (64-byte aligned) or of
 *   returned tensors; every client pointer range is checked against those before use.
 * - CallFunc results follow §3.3a (Tensor: [Int 70, header with byte_offset folded into
 *   data, handle]); errors are Exceptions "Kind: message" and the session goes on.
 * - tvm.rpc.server.GetCRTMaxPacketSize answers min(64 MiB, max_packet), so stock clients
 *   ask once per session and chunk copies into 64 MiB packets. */
#ifndef TVMRPC_SESSION_H
#define TVMRPC_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "runtime/ffi.h"

typedef struct session_options {
	/* Existing directory that confines tvm.rpc.server.upload/download/remove/listdir/
	 * load_module. NULL or "" disables the file service (those calls raise). The engine
	 * never creates or deletes it: the caller does (stock servers delete it at the end). */
	const char *work_dir;
	uint64_t max_packet;    /* largest packet accepted, default 4 GiB; larger ones are
				 * drained and answered with an Exception */
	uint64_t memory_cap;    /* cap on live DevAllocData* bytes, 0 = unlimited */
	size_t max_string;      /* longest string argument, default 1 MiB (0 = default) */
	double timeout_seconds; /* session deadline from the start of session_run, 0 = none */
	const char *peer;       /* peer name for log lines, may be NULL */
} session_options_t;

/* Fills the defaults above (work_dir NULL, no timeout, no memory cap). */
void session_options_default(session_options_t *opt);

/* Results of session_run (besides 0 = clean end: Shutdown or EOF at a packet boundary). */
#define SESSION_ERR_TIMEOUT (-1001) /* deadline passed; the timeout Exception was sent */
#define SESSION_ERR_PROTOCOL (-1002) /* framing broken (e.g. packet shorter than its code) */
#define SESSION_ERR_IO (-1003)       /* read/write failed or EOF inside a packet */

/* What a channel's read and write return besides a byte count. */
#define SESSION_CHANNEL_ERROR (-1)   /* the transport failed; errno says why */
#define SESSION_CHANNEL_TIMEOUT (-2) /* the deadline passed first */

/* How the engine reaches its client. The engine does no I/O of its own: services implements
 * this over a socket or a pipe (services/session_serve.h), tests and fuzzers over memory.
 * Deadlines are CLOCK_MONOTONIC seconds, 0 = none; the channel does the waiting. */
typedef struct session_channel {
	void *context;
	/* Read 1..n bytes, blocking until some arrive: the count, 0 at the end of the stream,
	 * or SESSION_CHANNEL_ERROR / SESSION_CHANNEL_TIMEOUT. */
	long (*read)(void *context, void *buf, size_t n, double deadline);
	/* Write a prefix of iov[0..count) (count > 0, iov[0] not empty), blocking until some
	 * bytes leave: the count written, or SESSION_CHANNEL_ERROR / SESSION_CHANNEL_TIMEOUT. */
	long (*write)(void *context, const struct iovec *iov, int count, double deadline);
	/* After a session constructor (InitServer ["rpc.Connect", ...]) made the session a
	 * relay: send `pending` (n bytes the client sent after InitServer that the engine's
	 * read-ahead already took) to the far session module, then copy bytes both ways between
	 * the client and it until one side ends. 0, SESSION_ERR_TIMEOUT or SESSION_ERR_IO.
	 * NULL: the session then ends with SESSION_ERR_IO after InitServer's answer. */
	int (*relay)(void *context, ffi_module_t *far, const void *pending, size_t n,
		     double deadline);
} session_channel_t;

/* Serve one session on `channel` until Shutdown, the end of the stream at a packet boundary
 * (both 0), a broken stream or the deadline. Returns 0 or one of SESSION_ERR_*. Every object
 * and allocation the session created is released before it returns. */
int session_run(const session_channel_t *channel, const session_options_t *opt);

/* A device attribute as DevGetAttr answers it (§5; docs/devices.md): Exist (kind 0) is Int
 * 0/1 and never fails; the CPU answers TotalGlobalMemory (14) with its RAM; OpenCL devices
 * answer from the driver; a missing device of a known type is an error; device types this
 * server does not know give None. Str results are new references. 0 or -1 (error set). */
int session_device_attr(DLDevice dev, int64_t kind, TVMFFIAny *out);

/* The options of the session being served on this thread, or NULL outside session_run.
 * For global functions that need the work directory or limits. */
const session_options_t *session_current(void);

/* A data pointer a client passed as an argument (an OpaquePtr), checked as tensor arguments
 * are: [addr, addr + nbytes) must lie in an allocation or a returned tensor of the session
 * served on this thread. Outside a session (in-process callers) the address is taken as is.
 * 0, or -1 with a ValueError. */
int session_client_region(uint64_t addr, uint64_t nbytes, void **out);

/* The Exception text sent when the deadline passes (docs/control-plane.md §3.6), e.g.
 * `RPCSessionTimeoutError: Your 10.0s session has expired, try to increase the
 * "session_timeout" value.` (the number is formatted like Python's repr of a float). */
void session_timeout_message(double seconds, char *buf, size_t size);

#endif
