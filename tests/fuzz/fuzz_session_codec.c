/* libFuzzer harness: session_codec sequence and tensor-header decoding. Whatever decodes must
 * re-encode to the same length, and to the same bytes once more (DataType padding is the only
 * field the decoder discards, §2.2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/session_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Decoding terminates strings in place, so work on a private, exact-size copy. */
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	session_reader_t r;
	session_reader_init(&r, copy, size);
	session_limits_t lim = {.max_string = 4096};
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	if (session_seq_decode(&r, &lim, &seq, err, sizeof err) == 0) {
		session_buf_t b = {0}, b2 = {0};
		if (session_seq_encode(&b, seq.values, seq.num) != 0 || b.len != r.pos)
			abort();
		session_seq_free(&seq);
		uint8_t *again = malloc(b.len);
		memcpy(again, b.data, b.len);
		session_reader_init(&r, again, b.len);
		if (session_seq_decode(&r, &lim, &seq, err, sizeof err) != 0 ||
		    session_seq_encode(&b2, seq.values, seq.num) != 0 || b2.len != b.len ||
		    memcmp(b.data, b2.data, b.len) != 0)
			abort();
		session_seq_free(&seq);
		free(again);
		session_buf_free(&b);
		session_buf_free(&b2);
	}
	memcpy(copy, data, size);
	session_reader_init(&r, copy, size);
	session_tensor_t t;
	int64_t shape[SESSION_MAX_NDIM];
	if (session_tensor_decode(&r, &t, shape, err, sizeof err) == 0) {
		session_buf_t b = {0};
		session_tensor_encode(&b, &t);
		if (b.len != r.pos || memcmp(b.data, data, b.len) != 0)
			abort();
		session_buf_free(&b);
	}
	free(copy);
	return 0;
}
