/* Shared by the session engine's parts, not by its users: the state of one session served on
 * a channel (session.c: the loop, framing, copies), the reply helpers, and the entry points of
 * request dispatch (session_call.c: CallFunc) and the syscalls (session_syscall.c). */
#ifndef TVMRPC_SESSION_INTERNAL_H
#define TVMRPC_SESSION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"
#include "runtime/session.h"
#include "runtime/session_codec.h"
#include "runtime/session_handles.h"
#include "runtime/session_input.h"
#include "runtime/session_memory.h"

#define SESSION_MAX_STREAM_SLOTS 16

/* The packet buffer as an object: Bytes arguments borrow from it without copying. */
typedef struct packet_obj {
	TVMFFIObject header;
	size_t size;
	/* body follows (8-byte aligned after the 32-byte header + size) */
} packet_obj_t;

static inline uint8_t *packet_data(packet_obj_t *p)
{
	return (uint8_t *)(p + 1);
}

struct stream_slot {
	int32_t device_type, device_id;
	uint64_t stream;
};

typedef struct session {
	const session_channel_t *channel;
	session_input_t in; /* read-ahead over channel */
	session_options_t opt;
	session_limits_t lim;
	int initialized;
	double deadline; /* CLOCK_MONOTONIC seconds, 0 = none */
	session_handles_t *handles;
	session_memory_t *memory;
	uint64_t device_used; /* bytes of device buffers the client holds (docs/devices.md) */
	session_buf_t out;
	struct stream_slot streams[SESSION_MAX_STREAM_SLOTS];
	size_t num_streams;
	ffi_module_t *relay; /* set by a session constructor: relay to its far server */
} session_t;

/* Replies (session.c). Each returns the channel's status: 0 (IO_OK) or an I/O failure. */
int session_send_out(session_t *s, const void *tail, size_t extra);
int session_send_ffi_error(session_t *s);
int session_send_errorf(session_t *s, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int session_send_none(session_t *s);
int session_send_value(session_t *s, session_value_t v);

/* Client pointers and tensors, checked against this session's blocks (session_syscall.c).
 * 0, or -1 with an ffi error set. */
int session_device_check(DLDevice dev);
int session_tensor_size(const session_tensor_t *t, uint64_t *out);
int session_region_resolve(session_t *s, uint64_t addr, uint64_t nbytes, void **out);
int session_tensor_resolve(session_t *s, const session_tensor_t *t, DLTensor *out);

/* Request handlers: CallFunc (session_call.c) and codes 9-21 (session_syscall.c). */
int session_call_handle(session_t *s, packet_obj_t *packet, session_reader_t *r);
int session_syscall_handle(session_t *s, int32_t code, session_reader_t *r);

#endif
