/* The steps of every "fixed header, then a bounded body" reader (the RPC handshake in
 * handshake.c, tracker frames in tracker_codec.c): collect the header across reads, check
 * the body length against its bounds before allocating, then collect the body. The callers
 * keep their own structs (their fields are read by the services); these functions do the
 * byte work on those fields. Both callers are fuzzed (fuzz_handshake, fuzz_tracker_codec). */
#ifndef TVMRPC_SERVICES_FRAME_READER_H
#define TVMRPC_SERVICES_FRAME_READER_H

#include <stddef.h>
#include <stdint.h>

/* Copies into header[*have .. want) from data; returns the bytes used. */
size_t frame_header_fill(uint8_t *header, size_t *have, size_t want, const uint8_t *data,
			 size_t len);

/* The little-endian i32 at p (lengths and codes on the wire). */
int32_t frame_get_i32(const uint8_t *p);
void frame_put_i32(uint8_t *p, int32_t v);

/* Starts a body of n bytes when min_len <= n <= max_len: allocates n + 1 (for the NUL the
 * caller adds) into *body and sets *have to 0. Returns 0, FRAME_ERR_LENGTH or FRAME_ERR_MEMORY
 * (nothing allocated then). */
enum { FRAME_ERR_LENGTH = -1, FRAME_ERR_MEMORY = -2 };
int frame_body_start(char **body, uint32_t *have, int32_t n, int32_t min_len, uint32_t max_len);

/* Copies what the body of len bytes still lacks from data; returns the bytes used. The body
 * is complete when *have == len; it is then NUL-terminated. */
size_t frame_body_fill(char *body, uint32_t len, uint32_t *have, const uint8_t *data,
		       size_t avail);

#endif
