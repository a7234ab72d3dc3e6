/* Tracker framing and Python-style JSON printing. The reader enforces the length limit before
 * allocating, so a peer cannot make us reserve more than max_len bytes. */
#include "services/tracker_codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/frame_reader.h"

void tracker_put_i32(uint8_t *p, int32_t v)
{
	frame_put_i32(p, v);
}

int32_t tracker_get_i32(const uint8_t *p)
{
	return frame_get_i32(p);
}

void tracker_frame_reader_init(tracker_frame_reader_t *r, uint32_t max_len)
{
	memset(r, 0, sizeof *r);
	r->max_len = max_len ? max_len : TRACKER_DEFAULT_MAX_MESSAGE;
}

void tracker_frame_reader_free(tracker_frame_reader_t *r)
{
	free(r->body);
	r->body = NULL;
	r->header_have = 0;
	r->body_have = r->body_len = 0;
}

static int only_whitespace(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			return 0;
	return 1;
}

int tracker_frame_feed(tracker_frame_reader_t *r, const char *data, size_t len, size_t *consumed,
		       cJSON **out)
{
	const uint8_t *p = (const uint8_t *)data;
	*out = NULL;
	size_t used = frame_header_fill(r->header, &r->header_have, 4, p, len);
	*consumed = used;
	if (r->header_have < 4)
		return 0;
	if (!r->body) {
		int32_t n = frame_get_i32(r->header);
		int rc = frame_body_start(&r->body, &r->body_have, n, 1, r->max_len);
		if (rc)
			return rc == FRAME_ERR_LENGTH ? TRACKER_ERR_LENGTH : TRACKER_ERR_MEMORY;
		r->body_len = (uint32_t)n;
	}
	used += frame_body_fill(r->body, r->body_len, &r->body_have, p + used, len - used);
	*consumed = used;
	if (r->body_have < r->body_len)
		return 0;
	const char *end = NULL;
	cJSON *msg = cJSON_ParseWithLengthOpts(r->body, r->body_len, &end, 0);
	int ok = msg && end && only_whitespace(end, r->body + r->body_len);
	free(r->body);
	r->body = NULL;
	r->header_have = 0;
	r->body_have = r->body_len = 0;
	if (!ok) {
		cJSON_Delete(msg);
		return TRACKER_ERR_JSON;
	}
	*out = msg;
	return 1;
}

/* ---- printing ---- */

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 64;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *p = realloc(t->buf, cap);
		if (!p) {
			t->failed = 1;
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s) { text_add(t, s, strlen(s)); }

/* Decode one UTF-8 sequence; invalid bytes come out as U+FFFD, one byte consumed. */
static uint32_t utf8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t c = p[0];
	int extra = 0;
	if (c < 0x80) {
		*pp = p + 1;
		return c;
	} else if ((c & 0xe0) == 0xc0) {
		c &= 0x1f;
		extra = 1;
	} else if ((c & 0xf0) == 0xe0) {
		c &= 0x0f;
		extra = 2;
	} else if ((c & 0xf8) == 0xf0) {
		c &= 0x07;
		extra = 3;
	} else {
		*pp = p + 1;
		return 0xfffd;
	}
	for (int i = 1; i <= extra; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*pp = p + 1;
			return 0xfffd;
		}
		c = (c << 6) | (p[i] & 0x3f);
	}
	*pp = p + 1 + extra;
	return c;
}

static void print_string(struct text *t, const char *s)
{
	text_add(t, "\"", 1);
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p) {
		uint32_t c = utf8_next(&p);
		char esc[16];
		switch (c) {
		case '"': text_str(t, "\\\""); continue;
		case '\\': text_str(t, "\\\\"); continue;
		case '\n': text_str(t, "\\n"); continue;
		case '\r': text_str(t, "\\r"); continue;
		case '\t': text_str(t, "\\t"); continue;
		case '\b': text_str(t, "\\b"); continue;
		case '\f': text_str(t, "\\f"); continue;
		default: break;
		}
		if (c >= 0x20 && c < 0x7f) {
			char ch = (char)c;
			text_add(t, &ch, 1);
		} else if (c < 0x10000) {
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
			text_str(t, esc);
		} else {
			c -= 0x10000;
			snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xd800 + (c >> 10)),
				 (unsigned)(0xdc00 + (c & 0x3ff)));
			text_str(t, esc);
		}
	}
	text_add(t, "\"", 1);
}

static void print_number(struct text *t, double d)
{
	char num[40];
	if (!isfinite(d))
		snprintf(num, sizeof num, "%s", isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
	else if (d == floor(d) && fabs(d) < 1e17)
		snprintf(num, sizeof num, "%.0f", d);
	else {
		/* Python's repr: the shortest text that reads back as the same double. */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(num, sizeof num, "%.*g", prec, d);
			if (strtod(num, NULL) == d)
				break;
		}
	}
	text_str(t, num);
}

static void print_item(struct text *t, const cJSON *item, int depth)
{
	if (depth > 200) {
		t->failed = 1;
		return;
	}
	if (cJSON_IsNull(item) || !item) {
		text_str(t, "null");
	} else if (cJSON_IsFalse(item)) {
		text_str(t, "false");
	} else if (cJSON_IsTrue(item)) {
		text_str(t, "true");
	} else if (cJSON_IsNumber(item)) {
		print_number(t, item->valuedouble);
	} else if (cJSON_IsString(item)) {
		print_string(t, item->valuestring);
	} else if (cJSON_IsRaw(item)) {
		text_str(t, item->valuestring ? item->valuestring : "null");
	} else if (cJSON_IsArray(item)) {
		text_add(t, "[", 1);
		for (const cJSON *c = item->child; c; c = c->next) {
			print_item(t, c, depth + 1);
			if (c->next)
				text_add(t, ", ", 2);
		}
		text_add(t, "]", 1);
	} else if (cJSON_IsObject(item)) {
		text_add(t, "{", 1);
		for (const cJSON *c = item->child; c; c = c->next) {
			print_string(t, c->string);
			text_add(t, ": ", 2);
			print_item(t, c, depth + 1);
			if (c->next)
				text_add(t, ", ", 2);
		}
		text_add(t, "}", 1);
	} else {
		text_str(t, "null");
	}
}

char *tracker_json_print(const cJSON *item)
{
	struct text t = {0};
	print_item(&t, item, 0);
	if (t.failed || !t.buf) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

char *tracker_frame_from_text(const char *text, size_t *out_len)
{
	size_t n = strlen(text);
	if (n > INT32_MAX)
		return NULL;
	char *frame = malloc(4 + n);
	if (!frame)
		return NULL;
	tracker_put_i32((uint8_t *)frame, (int32_t)n);
	memcpy(frame + 4, text, n);
	*out_len = 4 + n;
	return frame;
}

char *tracker_frame_encode(const cJSON *msg, size_t *out_len)
{
	char *text = tracker_json_print(msg);
	if (!text)
		return NULL;
	char *frame = tracker_frame_from_text(text, out_len);
	free(text);
	return frame;
}

const cJSON *tracker_summary_body(const cJSON *reply)
{
	const cJSON *code = cJSON_GetArrayItem(reply, 0);
	const cJSON *body = cJSON_GetArrayItem(reply, 1);
	if (!cJSON_IsArray(reply) || !cJSON_IsNumber(code) ||
	    code->valuedouble != TRACKER_SUCCESS || !cJSON_IsObject(body))
		return NULL;
	return body;
}
