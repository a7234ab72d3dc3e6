/* ws_mask.h: the client-to-server masking check of the proxy's WebSocket port. */
#include "services/ws_mask.h"

enum {
	WS_MASK_HTTP,    /* the upgrade request, up to "\r\n\r\n" */
	WS_MASK_OPCODE,  /* FIN, RSV, opcode */
	WS_MASK_LEN,     /* mask bit, 7-bit length */
	WS_MASK_EXTLEN,  /* 2 or 8 length bytes */
	WS_MASK_KEY,     /* 4 masking-key bytes */
	WS_MASK_PAYLOAD, /* skipped */
	WS_MASK_FAILED,
};

void ws_mask_init(ws_mask_t *m)
{
	*m = (ws_mask_t){.phase = WS_MASK_HTTP};
}

/* After a header's last byte: skip the payload, or go straight to the next header. */
static void header_done(ws_mask_t *m)
{
	m->frames++;
	m->phase = m->length ? WS_MASK_PAYLOAD : WS_MASK_OPCODE;
}

static int header_byte(ws_mask_t *m, uint8_t b)
{
	switch (m->phase) {
	case WS_MASK_OPCODE:
		m->phase = WS_MASK_LEN;
		return 0;
	case WS_MASK_LEN:
		if (!(b & 0x80)) {
			m->phase = WS_MASK_FAILED;
			return -1;
		}
		m->length = b & 0x7f;
		m->need = m->length == 126 ? 2 : m->length == 127 ? 8 : 0;
		if (m->need)
			m->length = 0;
		m->phase = m->need ? WS_MASK_EXTLEN : WS_MASK_KEY;
		if (!m->need)
			m->need = 4;
		return 0;
	case WS_MASK_EXTLEN:
		m->length = m->length << 8 | b;
		if (--m->need == 0) {
			m->phase = WS_MASK_KEY;
			m->need = 4;
		}
		return 0;
	default: /* WS_MASK_KEY */
		if (--m->need == 0)
			header_done(m);
		return 0;
	}
}

int ws_mask_feed(ws_mask_t *m, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (m->phase == WS_MASK_FAILED)
			return -1;
		if (m->phase == WS_MASK_HTTP) {
			m->crlf = m->crlf << 8 | p[i++];
			if (m->crlf == 0x0d0a0d0au)
				m->phase = WS_MASK_OPCODE;
			continue;
		}
		if (m->phase == WS_MASK_PAYLOAD) {
			uint64_t skip = n - i < m->length ? n - i : m->length;
			i += (size_t)skip;
			m->length -= skip;
			if (m->length == 0)
				m->phase = WS_MASK_OPCODE;
			continue;
		}
		if (header_byte(m, p[i++]) != 0)
			return -1;
	}
	return m->phase == WS_MASK_FAILED ? -1 : 0;
}
