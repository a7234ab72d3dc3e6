/* Pure encode/decode of TVM RPC session packets (docs/session-protocol.md §1.3-§4): framing,
 * packed argument sequences with every type index, DLTensor headers, typed returns and
 * exceptions. No I/O here: session.c moves bytes, this file only reads and writes buffers. */
#ifndef TVMRPC_SESSION_CODEC_H
#define TVMRPC_SESSION_CODEC_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/byte_reader.h"

#define SESSION_PROTOCOL_VERSION "0.8.0"

/* RPCCode values (§1.4). */
enum session_code {
	SESSION_CODE_NONE = 0,
	SESSION_CODE_SHUTDOWN = 1,
	SESSION_CODE_INIT_SERVER = 2,
	SESSION_CODE_CALL_FUNC = 3,
	SESSION_CODE_RETURN = 4,
	SESSION_CODE_EXCEPTION = 5,
	SESSION_CODE_COPY_FROM_REMOTE = 6,
	SESSION_CODE_COPY_TO_REMOTE = 7,
	SESSION_CODE_COPY_ACK = 8,
	SESSION_CODE_GET_GLOBAL_FUNC = 9,
	SESSION_CODE_FREE_HANDLE = 10,
	SESSION_CODE_DEV_SET_DEVICE = 11,
	SESSION_CODE_DEV_GET_ATTR = 12,
	SESSION_CODE_DEV_ALLOC_DATA = 13,
	SESSION_CODE_DEV_FREE_DATA = 14,
	SESSION_CODE_DEV_STREAM_SYNC = 15,
	SESSION_CODE_COPY_AMONG_REMOTE = 16,
	SESSION_CODE_DEV_ALLOC_DATA_WITH_SCOPE = 17,
	SESSION_CODE_DEV_CREATE_STREAM = 18,
	SESSION_CODE_DEV_FREE_STREAM = 19,
	SESSION_CODE_DEV_SET_STREAM = 20,
	SESSION_CODE_DEV_GET_CURRENT_STREAM = 21,
};

/* Largest ndim accepted in a tensor header. DLPack has no limit; real tensors stay far below. */
#define SESSION_MAX_NDIM 64

/* Size of the tensor header on the wire (§2.3), without a type index. */
#define SESSION_TENSOR_HEADER_SIZE(ndim) (32u + 8u * (uint32_t)(ndim))

/* A tensor header as it travels: `data` is the server's own value, never trusted as is. */
typedef struct session_tensor {
	uint64_t data;
	DLDevice device;
	int32_t ndim;
	DLDataType dtype;
	const int64_t *shape; /* ndim entries (owned by the enclosing sequence when decoded) */
	uint64_t byte_offset;
} session_tensor_t;

/* One value of a packed sequence, in wire terms.
 * - type_index is the outer index; for the object path (11, 12, >= 64 except 68/73) inner is
 *   the inner index (65 Str, 66 Bytes, 115 RPCObjectRef), else 0.
 * - Str-like values (RawStr 8, inner 65) and byte values (ByteArrayPtr 9, inner 66) use
 *   `str`; decoded strings point into the packet and are NUL-terminated in place, bytes
 *   point into the packet unterminated.
 * - OpaquePtr 4, Function 68, Module 73 and inner 115 use `handle`. */
typedef struct session_value {
	int32_t type_index;
	uint32_t inner;
	union {
		int64_t v_int;      /* Int, Bool */
		double v_float;     /* Float */
		uint64_t handle;    /* OpaquePtr, Function, Module, RPCObjectRef */
		DLDataType dtype;   /* DataType */
		DLDevice device;    /* Device */
		session_tensor_t tensor; /* DLTensorPtr */
		struct {
			const char *data;
			uint64_t size;
		} str;
	};
} session_value_t;

/* A decoded sequence. Decoding allocates at most O(packet size): values and shapes. */
typedef struct session_seq {
	int32_t num;
	session_value_t *values;
	int64_t *shapes; /* storage for every tensor's shape */
} session_seq_t;

void session_seq_free(session_seq_t *seq);

/* Bounds-checked reader over one packet body (byte_reader.h). Decoders never read outside
 * [data, data+len). The buffer given to session_reader_init must be writable: strings are
 * NUL-terminated in place (session_codec.c, read_string). */
typedef byte_reader_t session_reader_t;

static inline void session_reader_init(session_reader_t *r, void *data, size_t len)
{
	byte_reader_init(r, data, len);
}

static inline size_t session_reader_left(const session_reader_t *r)
{
	return byte_reader_left(r);
}

/* Limits applied while decoding. max_string bounds RawStr/Str lengths (0 = packet only);
 * max_args bounds the argument count (0 = SESSION_DEFAULT_MAX_ARGS), so that the decoded
 * values (48 bytes each, 4 on the wire) never amplify a large packet. */
#define SESSION_DEFAULT_MAX_ARGS 65536
typedef struct session_limits {
	uint64_t max_string;
	uint32_t max_args;
} session_limits_t;

/* Error text of a failed decode ("malformed packet: ..."), at most this long. */
#define SESSION_ERROR_MAX 256

int session_read_u32(session_reader_t *r, uint32_t *out);
int session_read_i32(session_reader_t *r, int32_t *out);
int session_read_u64(session_reader_t *r, uint64_t *out);

/* Decode a tensor header. Shape values are written to shape_out (room for SESSION_MAX_NDIM)
 * and t->shape points there. Returns 0, or -1 with err filled. */
int session_tensor_decode(session_reader_t *r, session_tensor_t *t, int64_t *shape_out,
			  char *err, size_t errlen);

/* Decode a whole packed sequence. Returns 0, or -1 with err filled (nothing to free then). */
int session_seq_decode(session_reader_t *r, const session_limits_t *lim, session_seq_t *out,
		       char *err, size_t errlen);

/* ---- encoding ---- */

/* Growable output buffer. x-allocated: our own replies are bounded by what we chose to send. */
typedef struct session_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} session_buf_t;

void session_buf_free(session_buf_t *b);
void session_buf_reset(session_buf_t *b);
void session_buf_put(session_buf_t *b, const void *data, size_t len);
void session_buf_put_u32(session_buf_t *b, uint32_t v);
void session_buf_put_i32(session_buf_t *b, int32_t v);
void session_buf_put_u64(session_buf_t *b, uint64_t v);
void session_buf_put_i64(session_buf_t *b, int64_t v);

/* Start a packet: reserves the u64 length and writes the code. Finish with session_packet_end
 * (which fills the length counting `extra` bytes that will follow outside the buffer). */
size_t session_packet_begin(session_buf_t *b, int32_t code);
void session_packet_end(session_buf_t *b, size_t start, uint64_t extra);

void session_tensor_encode(session_buf_t *b, const session_tensor_t *t);
/* Encode one value with its type index (object-path values get their inner index). */
int session_value_encode(session_buf_t *b, const session_value_t *v);
/* Encode `num` values as a sequence. Returns 0, or -1 for an unencodable type index. */
int session_seq_encode(session_buf_t *b, const session_value_t *values, int32_t num);

/* Whole packets. */
void session_encode_exception(session_buf_t *b, const char *message);
/* Syscall / InitServer / CopyToRemote reply: `[None]`. */
void session_encode_return_none(session_buf_t *b);
/* Syscall reply with one value. */
int session_encode_return_value(session_buf_t *b, const session_value_t *v);
/* CallFunc reply `[Int type_index, values...]` (§3.3a). */
int session_encode_call_return(session_buf_t *b, int32_t type_index,
			       const session_value_t *values, int32_t num);

/* Value constructors for encoding. */
session_value_t session_value_none(void);
session_value_t session_value_int(int64_t v);
session_value_t session_value_bool(int v);
session_value_t session_value_float(double v);
session_value_t session_value_handle(int32_t type_index, uint64_t handle);
session_value_t session_value_raw_str(const char *data, uint64_t size);
session_value_t session_value_byte_array(const char *data, uint64_t size);

#endif
