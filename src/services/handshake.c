/* RPC handshake codec. Lengths are checked before allocation; keys are treated as bytes. */
#include "services/handshake.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/frame_reader.h"

void handshake_reader_init(handshake_reader_t *r, uint32_t max_key, int expect_magic)
{
	memset(r, 0, sizeof *r);
	r->max_key = max_key ? max_key : HANDSHAKE_DEFAULT_MAX_KEY;
	r->expect_magic = expect_magic;
}

void handshake_reader_free(handshake_reader_t *r)
{
	free(r->key);
	r->key = NULL;
}

/* After the first word: a reply other than SUCCESS carries no key. */
static int check_first_word(handshake_reader_t *r)
{
	r->first_word = frame_get_i32(r->header);
	if (r->expect_magic && r->first_word != RPC_MAGIC)
		return HANDSHAKE_ERR_MAGIC;
	if (!r->expect_magic && r->first_word != RPC_CODE_SUCCESS) {
		/* MISMATCH, DUPLICATE or garbage: no key follows. */
		r->key = calloc(1, 1);
		return r->key ? 1 : HANDSHAKE_ERR_MEMORY;
	}
	return 0;
}

int handshake_feed(handshake_reader_t *r, const void *data, size_t len, size_t *consumed)
{
	const uint8_t *p = data;
	size_t used = frame_header_fill(r->header, &r->header_have, 4, p, len);
	*consumed = used;
	if (r->header_have == 4 && !r->key) {
		int rc = check_first_word(r);
		if (rc)
			return rc;
	}
	used += frame_header_fill(r->header, &r->header_have, 8, p + used, len - used);
	*consumed = used;
	if (r->header_have < 8)
		return 0;
	if (!r->key) {
		int32_t n = frame_get_i32(r->header + 4);
		int rc = frame_body_start(&r->key, &r->key_have, n, 0, r->max_key);
		if (rc)
			return rc == FRAME_ERR_LENGTH ? HANDSHAKE_ERR_LENGTH : HANDSHAKE_ERR_MEMORY;
		r->key_len = (uint32_t)n;
	}
	used += frame_body_fill(r->key, r->key_len, &r->key_have, p + used, len - used);
	*consumed = used;
	return r->key_have == r->key_len;
}

int handshake_key_parse(const char *key, size_t len, handshake_key_t *out, char *err,
			size_t err_size)
{
	memset(out, 0, sizeof *out);
	size_t i = 0;
	while (i < len && isspace((unsigned char)key[i]))
		i++;
	size_t start = i;
	while (i < len && !isspace((unsigned char)key[i]))
		i++;
	size_t tok_len = i - start;
	const char *tok = key + start;
	if (tok_len < 7 || tok[6] != ':') {
		snprintf(err, err_size, "key must start with 'client:' or 'server:'");
		return -1;
	}
	if (memcmp(tok, "client:", 7) == 0)
		out->role = HANDSHAKE_ROLE_CLIENT;
	else if (memcmp(tok, "server:", 7) == 0)
		out->role = HANDSHAKE_ROLE_SERVER;
	else
		out->role = HANDSHAKE_ROLE_OTHER;
	if (tok_len - 7 >= sizeof out->match) {
		snprintf(err, err_size, "key is longer than %zu bytes", sizeof out->match - 1);
		return -1;
	}
	memcpy(out->match, tok + 7, tok_len - 7);
	out->match[tok_len - 7] = '\0';
	if (memchr(out->match, '\0', tok_len - 7)) {
		snprintf(err, err_size, "key contains a NUL byte");
		return -1;
	}
	/* Options: whitespace-separated; only -timeout= is understood. */
	while (i < len) {
		while (i < len && isspace((unsigned char)key[i]))
			i++;
		size_t os = i;
		while (i < len && !isspace((unsigned char)key[i]))
			i++;
		size_t olen = i - os;
		if (olen > 9 && memcmp(key + os, "-timeout=", 9) == 0) {
			char num[64];
			size_t nlen = olen - 9;
			if (nlen >= sizeof num) {
				snprintf(err, err_size, "-timeout value is too long");
				return -1;
			}
			memcpy(num, key + os + 9, nlen);
			num[nlen] = '\0';
			char *end;
			errno = 0;
			double t = strtod(num, &end);
			if (*end || end == num || errno || !isfinite(t) || t < 0) {
				snprintf(err, err_size, "invalid -timeout value '%s'", num);
				return -1;
			}
			out->timeout = t;
		}
	}
	return 0;
}

size_t handshake_encode(uint8_t *buf, size_t cap, int32_t word, const char *key)
{
	if (!key) {
		if (cap < 4)
			return 0;
		frame_put_i32(buf, word);
		return 4;
	}
	size_t n = strlen(key);
	if (n > INT32_MAX || cap < 8 + n)
		return 0;
	frame_put_i32(buf, word);
	frame_put_i32(buf + 4, (int32_t)n);
	memcpy(buf + 8, key, n);
	return 8 + n;
}
