/* Tracker wire codec (docs/control-plane.md §2): magic, "i32 length + JSON" frames, and JSON text
 * in Python json.dumps style. Pure functions over buffers; no sockets. */
#ifndef TVMRPC_TRACKER_CODEC_H
#define TVMRPC_TRACKER_CODEC_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define TRACKER_MAGIC 0x2f271
#define TRACKER_DEFAULT_MAX_MESSAGE (1u << 20)

enum tracker_code {
	TRACKER_FAIL = -1,
	TRACKER_SUCCESS = 0,
	TRACKER_PING = 1,
	TRACKER_STOP = 2,
	TRACKER_PUT = 3,
	TRACKER_REQUEST = 4,
	TRACKER_UPDATE_INFO = 5,
	TRACKER_SUMMARY = 6,
	TRACKER_GET_PENDING_MATCHKEYS = 7,
	/* Ours, not TVM's (docs/lab-operations.md): [100] -> [0, usage statistics]. TVM's tracker
	 * closes the connection on it, which is how `--query --json` tells them apart. */
	TRACKER_USAGE = 100,
};

enum tracker_codec_error {
	TRACKER_ERR_LENGTH = -1, /* frame length <= 0 or over the limit */
	TRACKER_ERR_JSON = -2,   /* payload is not valid JSON */
	TRACKER_ERR_MEMORY = -3,
};

/* Incremental reader: feed it whatever the socket delivered, in any chunking. */
typedef struct tracker_frame_reader {
	uint32_t max_len;
	uint8_t header[4];
	size_t header_have;
	char *body;
	uint32_t body_len;
	uint32_t body_have;
} tracker_frame_reader_t;

void tracker_frame_reader_init(tracker_frame_reader_t *r, uint32_t max_len);
void tracker_frame_reader_free(tracker_frame_reader_t *r);
/* Consume up to len bytes. *consumed says how many were used. When a frame completes,
 * returns 1 and sets *out to the parsed JSON (caller frees with cJSON_Delete); call again with
 * the rest. Returns 0 when more bytes are needed, or a negative tracker_codec_error. */
int tracker_frame_feed(tracker_frame_reader_t *r, const char *data, size_t len, size_t *consumed,
		       cJSON **out);

/* JSON text as Python's json.dumps writes it: ", " and ": " separators, ASCII only (\uXXXX
 * escapes), integral numbers without a fraction. malloc'd; NULL on allocation failure. */
char *tracker_json_print(const cJSON *item);
/* A whole frame (4-byte little-endian length + JSON text) in one malloc'd buffer. */
char *tracker_frame_encode(const cJSON *msg, size_t *out_len);
/* Same, from JSON text already printed. */
char *tracker_frame_from_text(const char *text, size_t *out_len);

/* The {queue_info, server_info} object of a SUMMARY reply [0, {...}], or NULL when the reply
 * has another shape. Shared by `--query` and the --attach watcher. */
const cJSON *tracker_summary_body(const cJSON *reply);

/* Little-endian i32 helpers for the magic. */
void tracker_put_i32(uint8_t *p, int32_t v);
int32_t tracker_get_i32(const uint8_t *p);

#endif
