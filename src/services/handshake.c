/* RPC handshake codec. Lengths are checked before allocation; keys are treated as bytes. */
#include "services/handshake.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t get_i32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			 (uint32_t)p[3] << 24);
}

static void put_i32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

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

int handshake_feed(handshake_reader_t *r, const void *data, size_t len, size_t *consumed)
{
	const uint8_t *p = data;
	size_t used = 0;
	while (r->header_have < 4 && used < len)
		r->header[r->header_have++] = p[used++];
	if (r->header_have >= 4 && r->header_have == 4 && !r->key && used <= len) {
		r->first_word = get_i32(r->header);
		if (r->expect_magic && r->first_word != RPC_MAGIC) {
			*consumed = used;
			return HANDSHAKE_ERR_MAGIC;
		}
		if (!r->expect_magic && r->first_word != RPC_CODE_SUCCESS) {
			/* MISMATCH, DUPLICATE or garbage: no key follows. */
			r->key = calloc(1, 1);
			*consumed = used;
			return r->key ? 1 : HANDSHAKE_ERR_MEMORY;
		}
	}
	while (r->header_have >= 4 && r->header_have < 8 && used < len)
		r->header[r->header_have++] = p[used++];
	if (r->header_have < 8) {
		*consumed = used;
		return 0;
	}
	if (!r->key) {
		int32_t n = get_i32(r->header + 4);
		if (n < 0 || (uint32_t)n > r->max_key) {
			*consumed = used;
			return HANDSHAKE_ERR_LENGTH;
		}
		r->key_len = (uint32_t)n;
		r->key_have = 0;
		r->key = malloc((size_t)n + 1);
		if (!r->key) {
			*consumed = used;
			return HANDSHAKE_ERR_MEMORY;
		}
	}
	size_t want = r->key_len - r->key_have;
	size_t take = len - used < want ? len - used : want;
	memcpy(r->key + r->key_have, p + used, take);
	r->key_have += (uint32_t)take;
	used += take;
	*consumed = used;
	if (r->key_have < r->key_len)
		return 0;
	r->key[r->key_len] = '\0';
	return 1;
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
		put_i32(buf, word);
		return 4;
	}
	size_t n = strlen(key);
	if (n > INT32_MAX || cap < 8 + n)
		return 0;
	put_i32(buf, word);
	put_i32(buf + 4, (int32_t)n);
	memcpy(buf + 8, key, n);
	return 8 + n;
}
