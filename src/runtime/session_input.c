/* The session engine's read-ahead buffer (session_input.h). One channel read fills the buffer
 * with whatever has arrived, up to SESSION_INPUT_CAPACITY; requests are then cut from it. */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "runtime/session_input.h"

/* Largest single channel read: keeps `long` results meaningful everywhere. */
#define SESSION_INPUT_MAX_READ (1u << 30)

void session_input_init(session_input_t *in, const session_channel_t *channel)
{
	memset(in, 0, sizeof *in);
	in->channel = channel;
}

void session_input_free(session_input_t *in)
{
	free(in->buf);
	in->buf = NULL;
	in->pos = in->len = 0;
}

size_t session_input_pending(const session_input_t *in, const uint8_t **data)
{
	*data = in->buf ? in->buf + in->pos : NULL;
	return in->len - in->pos;
}

/* A channel read's failure as SESSION_INPUT_*; `got` says whether any byte came before. */
static int input_status(long r, size_t got)
{
	if (r == 0)
		return got == 0 ? SESSION_INPUT_EOF : SESSION_INPUT_ERROR;
	return r == SESSION_CHANNEL_TIMEOUT ? SESSION_INPUT_TIMEOUT : SESSION_INPUT_ERROR;
}

int session_input_read(session_input_t *in, void *dst, size_t n, double deadline)
{
	const session_channel_t *ch = in->channel;
	uint8_t *out = dst;
	size_t got = in->len - in->pos < n ? in->len - in->pos : n;
	if (got) {
		memcpy(out, in->buf + in->pos, got);
		in->pos += got;
	}
	while (got < n) {
		size_t want = n - got;
		if (want >= SESSION_INPUT_CAPACITY / 2) { /* large: straight into dst */
			long r = ch->read(ch->context, out + got,
					  want < SESSION_INPUT_MAX_READ ? want : SESSION_INPUT_MAX_READ,
					  deadline);
			if (r <= 0)
				return input_status(r, got);
			got += (size_t)r;
			continue;
		}
		if (!in->buf)
			in->buf = xmalloc(SESSION_INPUT_CAPACITY);
		long r = ch->read(ch->context, in->buf, SESSION_INPUT_CAPACITY, deadline);
		if (r <= 0) {
			in->pos = in->len = 0;
			return input_status(r, got);
		}
		size_t take = (size_t)r < want ? (size_t)r : want;
		memcpy(out + got, in->buf, take);
		got += take;
		in->pos = take;
		in->len = (size_t)r;
	}
	return SESSION_INPUT_OK;
}
