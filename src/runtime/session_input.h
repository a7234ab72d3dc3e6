/* The session engine's read side (docs/session-protocol.md §1): a read-ahead buffer over the
 * channel (session.h), so that a request already waiting is taken with one channel read
 * however many pieces (length, code, body) the engine asks for, and several pipelined
 * requests come out of one read. Large reads (a CopyToRemote payload) bypass the buffer and
 * go straight into their destination. No I/O of its own: only the channel's read. */
#ifndef TVMRPC_SESSION_INPUT_H
#define TVMRPC_SESSION_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/session.h"

/* Read-ahead capacity; reads of at least half of it bypass the buffer. */
#define SESSION_INPUT_CAPACITY (64u * 1024u)

enum { SESSION_INPUT_OK = 0, SESSION_INPUT_EOF, SESSION_INPUT_TIMEOUT, SESSION_INPUT_ERROR };

typedef struct session_input {
	const session_channel_t *channel;
	uint8_t *buf; /* SESSION_INPUT_CAPACITY bytes, allocated on the first buffered read */
	size_t pos, len; /* unread bytes are buf[pos..len) */
} session_input_t;

void session_input_init(session_input_t *in, const session_channel_t *channel);
void session_input_free(session_input_t *in);

/* Exactly n bytes into dst: SESSION_INPUT_OK; SESSION_INPUT_EOF only when the stream ended
 * before the first byte (nothing buffered either); SESSION_INPUT_ERROR when it ended inside
 * or the channel failed; SESSION_INPUT_TIMEOUT when the deadline passed. */
int session_input_read(session_input_t *in, void *dst, size_t n, double deadline);

/* Bytes read from the channel but not yet taken (a relay must pass them on first). */
size_t session_input_pending(const session_input_t *in, const uint8_t **data);

#endif
