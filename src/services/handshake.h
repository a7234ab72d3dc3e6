/* RPC connection handshake (docs/control-plane.md §3): magic, key length, key; replies SUCCESS +
 * key, MISMATCH or DUPLICATE; and the key grammar "<role>:<match>[ -timeout=N]...".
 * Pure functions over buffers, shared by the device server, the proxy and the clients. */
#ifndef TVMRPC_HANDSHAKE_H
#define TVMRPC_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define RPC_MAGIC 0xff271
#define RPC_CODE_SUCCESS 0xff271
#define RPC_CODE_DUPLICATE 0xff272
#define RPC_CODE_MISMATCH 0xff273
#define HANDSHAKE_DEFAULT_MAX_KEY 4096

enum handshake_error {
	HANDSHAKE_ERR_MAGIC = -1,  /* first word is not RPC_MAGIC */
	HANDSHAKE_ERR_LENGTH = -2, /* key length negative or over the limit */
	HANDSHAKE_ERR_MEMORY = -3,
};

/* Incremental reader of "i32 magic, i32 keylen, key" (the initiator's side of the handshake).
 * The same reader reads a reply "i32 code, i32 len, key" with expect_magic = 0. */
typedef struct handshake_reader {
	uint32_t max_key;
	int expect_magic;
	uint8_t header[8];
	size_t header_have;
	char *key; /* NUL-terminated once complete; owned by the reader until taken */
	uint32_t key_len;
	uint32_t key_have;
	int32_t first_word;
} handshake_reader_t;

void handshake_reader_init(handshake_reader_t *r, uint32_t max_key, int expect_magic);
void handshake_reader_free(handshake_reader_t *r);
/* Returns 1 when the key is complete (r->key, r->key_len), 0 when more bytes are needed,
 * or a negative handshake_error. A reply whose first word is MISMATCH or DUPLICATE completes
 * at once with an empty key (check r->first_word). *consumed bytes were used. */
int handshake_feed(handshake_reader_t *r, const void *data, size_t len, size_t *consumed);

enum handshake_role { HANDSHAKE_ROLE_CLIENT, HANDSHAKE_ROLE_SERVER, HANDSHAKE_ROLE_OTHER };

typedef struct handshake_key {
	enum handshake_role role;
	char match[512];  /* first whitespace token without its 7-character role prefix */
	double timeout;   /* -timeout=N seconds, 0 when absent */
} handshake_key_t;

/* Parse "<role>:<match>[ options]". Unknown options are ignored; a malformed -timeout is an
 * error. Returns 0, or -1 with a message in err. */
int handshake_key_parse(const char *key, size_t len, handshake_key_t *out, char *err,
			size_t err_size);

/* Encode "i32 word, i32 len(key), key" into buf (the initiator's request uses word RPC_MAGIC;
 * a success reply uses RPC_CODE_SUCCESS). key may be NULL for a bare code (MISMATCH/DUPLICATE),
 * which encodes only the 4-byte word. Returns bytes written, or 0 if buf is too small. */
size_t handshake_encode(uint8_t *buf, size_t cap, int32_t word, const char *key);

#endif
