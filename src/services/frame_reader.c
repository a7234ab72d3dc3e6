/* Header and bounded-body collection shared by the handshake and tracker frame readers
 * (frame_reader.h). Lengths are checked before anything is allocated. */
#include "services/frame_reader.h"

#include <stdlib.h>
#include <string.h>

size_t frame_header_fill(uint8_t *header, size_t *have, size_t want, const uint8_t *data,
			 size_t len)
{
	size_t take = *have < want ? want - *have : 0;
	if (take > len)
		take = len;
	if (take)
		memcpy(header + *have, data, take);
	*have += take;
	return take;
}

int32_t frame_get_i32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			 (uint32_t)p[3] << 24);
}

void frame_put_i32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

int frame_body_start(char **body, uint32_t *have, int32_t n, int32_t min_len, uint32_t max_len)
{
	if (n < min_len || (uint32_t)n > max_len)
		return FRAME_ERR_LENGTH;
	*body = malloc((size_t)n + 1);
	if (!*body)
		return FRAME_ERR_MEMORY;
	*have = 0;
	return 0;
}

size_t frame_body_fill(char *body, uint32_t len, uint32_t *have, const uint8_t *data,
		       size_t avail)
{
	size_t want = len - *have;
	size_t take = avail < want ? avail : want;
	if (take)
		memcpy(body + *have, data, take);
	*have += (uint32_t)take;
	if (*have == len)
		body[len] = '\0';
	return take;
}
