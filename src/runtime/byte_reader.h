/* The one bounds-checked reader over untrusted bytes: session packets (session_codec.c),
 * Relax VM executables (vm_executable.c), module blobs (module_blob.c), parameter blobs
 * (param_blob.c) and serialised modules (module_const_loader.c, module_file.c) all read
 * through it. Reads never leave [data, data+len); a failed fixed-size read consumes nothing; integers
 * are little-endian on the wire whatever the host. Callers add their own error messages. */
#ifndef TVMRPC_RUNTIME_BYTE_READER_H
#define TVMRPC_RUNTIME_BYTE_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct byte_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
} byte_reader_t;

static inline void byte_reader_init(byte_reader_t *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
}

static inline size_t byte_reader_left(const byte_reader_t *r)
{
	return r->len - r->pos;
}

/* Takes n bytes: *out points at them (not copied). Returns 0, or -1 if fewer are left. */
static inline int byte_reader_bytes(byte_reader_t *r, size_t n, const uint8_t **out)
{
	if (byte_reader_left(r) < n)
		return -1;
	*out = r->data + r->pos;
	r->pos += n;
	return 0;
}

static inline int byte_reader_u32(byte_reader_t *r, uint32_t *out)
{
	const uint8_t *p;
	if (byte_reader_bytes(r, 4, &p))
		return -1;
	*out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

static inline int byte_reader_u64(byte_reader_t *r, uint64_t *out)
{
	const uint8_t *p;
	if (byte_reader_bytes(r, 8, &p))
		return -1;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	*out = v;
	return 0;
}

static inline int byte_reader_i32(byte_reader_t *r, int32_t *out)
{
	uint32_t v;
	if (byte_reader_u32(r, &v))
		return -1;
	*out = (int32_t)v;
	return 0;
}

static inline int byte_reader_i64(byte_reader_t *r, int64_t *out)
{
	uint64_t v;
	if (byte_reader_u64(r, &v))
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* A u64 length, then that many bytes (the dmlc string form every format here uses).
 * Returns 0; -1 if the length is truncated; -2 if the bytes run past the end, with the
 * length consumed and *len holding the claimed length for the caller's message. */
static inline int byte_reader_str(byte_reader_t *r, const uint8_t **data, uint64_t *len)
{
	if (byte_reader_u64(r, len))
		return -1;
	if (*len > byte_reader_left(r))
		return -2;
	return byte_reader_bytes(r, (size_t)*len, data);
}

#endif
