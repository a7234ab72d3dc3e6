/* The one RFC 6455 rule libwebsockets does not enforce (docs/control-plane.md §4.6): every
 * frame a client sends must be masked (§5.1). ws_mask_feed follows the client's byte stream
 * through the HTTP upgrade request (up to the blank line) and then frame headers only: it
 * reads each header's mask bit and length and skips the payload, without decoding anything
 * else; libwebsockets still parses the stream itself. */
#ifndef TVMRPC_WS_MASK_H
#define TVMRPC_WS_MASK_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws_mask {
	int phase;          /* WS_MASK_HTTP, then the header fields, then WS_MASK_PAYLOAD */
	uint32_t crlf;      /* the last four bytes of the request, to find "\r\n\r\n" */
	unsigned need;      /* header bytes still to read in this phase */
	uint64_t length;    /* payload length being assembled, then bytes left to skip */
	uint64_t frames;    /* frames whose header was checked */
} ws_mask_t;

void ws_mask_init(ws_mask_t *m);
/* Feed the next n bytes from the client. Returns 0, or -1 once a frame header without the
 * mask bit is seen (the state then stays failed). */
int ws_mask_feed(ws_mask_t *m, const uint8_t *p, size_t n);

#endif
