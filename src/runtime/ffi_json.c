/* ffi.json.Parse and ffi.json.Stringify: a small JSON reader and writer over tvm-ffi values
 * that gives the same values, text and error messages as tvm-ffi's (Python-style messages with
 * line, column and char position; NaN/Infinity accepted; floats always written with a point).
 * The text buffer here is shared with ffi_serialization.c and ffi_repr.c. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_structural.h"
#include "base/xalloc.h"

/* ---- text buffer ---- */

void ffi_text_append(ffi_text_t *t, const char *s, size_t n)
{
	if (t->overflow || n == 0)
		return;
	if (n > FFI_TEXT_MAX - t->len) {
		t->overflow = 1;
		return;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 64;
		while (cap < t->len + n + 1)
			cap *= 2;
		t->data = xrealloc(t->data, cap);
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

void ffi_text_puts(ffi_text_t *t, const char *s)
{
	ffi_text_append(t, s, strlen(s));
}

void ffi_text_putc(ffi_text_t *t, char c)
{
	ffi_text_append(t, &c, 1);
}

void ffi_text_printf(ffi_text_t *t, const char *fmt, ...)
{
	char small[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		ffi_text_append(t, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	ffi_text_append(t, big, (size_t)n);
	free(big);
}

void ffi_text_free(ffi_text_t *t)
{
	free(t->data);
	memset(t, 0, sizeof *t);
}

int ffi_text_take_str(ffi_text_t *t, TVMFFIAny *out)
{
	if (t->overflow) {
		ffi_text_free(t);
		ffi_error_set("ValueError", "the result would be longer than %zu bytes",
			      (size_t)FFI_TEXT_MAX);
		return -1;
	}
	*out = ffi_json_str_value(t->data ? t->data : "", t->len);
	ffi_text_free(t);
	return 0;
}

TVMFFIAny ffi_json_str_value(const char *s, size_t n)
{
	if (n > 7)
		return ffi_any_object(&ffi_str_new(s, n)->header);
	TVMFFIAny v = {.type_index = FFI_SMALL_STR, .zero_padding = (uint32_t)n};
	if (n)
		memcpy(v.v_bytes, s, n);
	return v;
}

/* ---- typed argument checks ---- */

static int arg_mismatch(const char *sig, const TVMFFIAny *args, int32_t i, const char *want)
{
	int32_t ti = args[i].type_index;
	ffi_error_set("TypeError",
		      "Mismatched type on argument #%d when calling: `%s`. Expected `%s` but got "
		      "`%s`",
		      i, sig, want, ffi_type_key(ti));
	return -1;
}

int ffi_json_arg_str(const char *sig, const TVMFFIAny *args, int32_t i, const char **s,
		     size_t *len)
{
	*s = ffi_any_as_str(&args[i], len);
	return *s ? 0 : arg_mismatch(sig, args, i, "str");
}

int ffi_json_arg_bool(const char *sig, const TVMFFIAny *args, int32_t i, int *out)
{
	if (args[i].type_index != FFI_BOOL && args[i].type_index != FFI_INT)
		return arg_mismatch(sig, args, i, "bool");
	*out = args[i].v_int64 != 0;
	return 0;
}

int ffi_json_arg_int(const char *sig, const TVMFFIAny *args, int32_t i, int64_t *out)
{
	if (args[i].type_index != FFI_INT && args[i].type_index != FFI_BOOL)
		return arg_mismatch(sig, args, i, "int");
	*out = args[i].v_int64;
	return 0;
}

int ffi_json_arg_optional_int32(const char *sig, const TVMFFIAny *args, int32_t i,
				int64_t *out)
{
	if (args[i].type_index == FFI_NONE) {
		*out = 0;
		return 0;
	}
	if (args[i].type_index != FFI_BOOL && args[i].type_index != FFI_INT)
		return arg_mismatch(sig, args, i, "Optional<int>");
	*out = (int32_t)(uint32_t)(uint64_t)args[i].v_int64;
	return 0;
}

/* ---- parser ---- */

struct json_parser {
	const char *begin;
	const char *cur;
	const char *end;
	const char *line_begin;
	int64_t line;
	int depth;
	char error[192];
};

static int parser_peek(const struct json_parser *p)
{
	return p->cur < p->end ? (unsigned char)*p->cur : -1;
}

static void parser_skip_spaces(struct json_parser *p)
{
	while (p->cur < p->end) {
		char c = *p->cur;
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		if (c == '\n') {
			p->line++;
			p->line_begin = p->cur + 1;
		}
		p->cur++;
	}
}

/* Record "<what>: line L column C (char N)" for the current position; always returns -1. */
static int parser_fail(struct json_parser *p, const char *what)
{
	snprintf(p->error, sizeof p->error, "%s: line %" PRId64 " column %" PRId64 " (char %" PRId64
		 ")", what, p->line, (int64_t)(p->cur - p->line_begin) + 1,
		 (int64_t)(p->cur - p->begin));
	return -1;
}

static int parser_fail_at(struct json_parser *p, const char *pos, const char *what)
{
	p->cur = pos;
	return parser_fail(p, what);
}

/* Advance over `word` as long as it matches; 1 if all of it matched. */
static int parser_match(struct json_parser *p, const char *word)
{
	for (; *word; word++, p->cur++) {
		if (p->cur >= p->end || *p->cur != *word)
			return 0;
	}
	return 1;
}

static int parser_hex4(struct json_parser *p, int32_t *out)
{
	int32_t v = 0;
	for (int i = 0; i < 4; i++, p->cur++) {
		int c = parser_peek(p);
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return -1;
		v = v * 16 + c;
	}
	*out = v;
	return 0;
}

static void utf8_put(ffi_text_t *t, int32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	ffi_text_append(t, b, n);
}

/* \uXXXX (p->cur on the 'u'), with a following low surrogate for a high one. */
static int parser_unicode_escape(struct json_parser *p, ffi_text_t *t)
{
	const char *at = p->cur;
	int32_t first, second;
	p->cur++;
	if (parser_hex4(p, &first))
		return parser_fail_at(p, at, "Invalid \\uXXXX escape");
	if (first < 0xD800 || first > 0xDFFF) {
		utf8_put(t, first);
		return 0;
	}
	if (first >= 0xDC00 || !parser_match(p, "\\u"))
		return parser_fail_at(p, at, "Invalid surrogate pair of \\uXXXX escapes");
	at = p->cur;
	if (parser_hex4(p, &second))
		return parser_fail_at(p, at, "Invalid \\uXXXX escape");
	if (second < 0xDC00 || second > 0xDFFF)
		return parser_fail_at(p, at, "Invalid surrogate pair of \\uXXXX escapes");
	utf8_put(t, ((first - 0xD800) << 10) + (second - 0xDC00) + 0x10000);
	return 0;
}

static int parser_escape(struct json_parser *p, ffi_text_t *t)
{
	static const char from[] = "\"\\/bfnrt";
	static const char to[] = "\"\\/\b\f\n\r\t";
	p->cur++; /* the backslash */
	int c = parser_peek(p);
	if (c == 'u')
		return parser_unicode_escape(p, t);
	const char *hit = c > 0 ? strchr(from, c) : NULL;
	if (!hit)
		return parser_fail(p, "Invalid \\escape");
	ffi_text_putc(t, to[hit - from]);
	p->cur++;
	return 0;
}

/* A string literal (p->cur on the opening quote) into an owned string value. */
static int parser_string(struct json_parser *p, TVMFFIAny *out)
{
	const char *start = p->cur++;
	ffi_text_t t = {0};
	while (p->cur < p->end) {
		unsigned char c = (unsigned char)*p->cur;
		if (c == '"') {
			p->cur++;
			*out = ffi_json_str_value(t.data ? t.data : "", t.len);
			ffi_text_free(&t);
			return 0;
		}
		if (c < ' ') {
			ffi_text_free(&t);
			return parser_fail(p, "Invalid control character at");
		}
		if (c == '\\') {
			if (parser_escape(p, &t)) {
				ffi_text_free(&t);
				return -1;
			}
			continue;
		}
		const char *run = p->cur;
		while (p->cur < p->end && *p->cur != '"' && *p->cur != '\\' &&
		       (unsigned char)*p->cur >= ' ')
			p->cur++;
		ffi_text_append(&t, run, (size_t)(p->cur - run));
	}
	ffi_text_free(&t);
	return parser_fail_at(p, start, "Unterminated string starting at");
}

static int parser_special_number(struct json_parser *p, const char *start, TVMFFIAny *out)
{
	int negative = *p->cur == '-';
	if (negative)
		p->cur++;
	if (p->cur < p->end && *p->cur == 'I') {
		if (!parser_match(p, "Infinity"))
			return parser_fail_at(p, start, "Expecting value");
		*out = ffi_any_float(negative ? -INFINITY : INFINITY);
		return 1;
	}
	if (!negative && p->cur < p->end && *p->cur == 'N') {
		if (!parser_match(p, "NaN"))
			return parser_fail_at(p, start, "Expecting value");
		*out = ffi_any_float(NAN);
		return 1;
	}
	p->cur = start;
	return 0;
}

/* Numbers: the run of characters that may belong to one, read as int64 when it has no '.',
 * 'e' or 'E' and fits, else as a double (out of range is an error, as strtod reports it). */
static int parser_number(struct json_parser *p, TVMFFIAny *out)
{
	const char *start = p->cur;
	int special = parser_special_number(p, start, out);
	if (special != 0)
		return special > 0 ? 0 : -1;
	int maybe_int = 1;
	while (p->cur < p->end && *p->cur && strchr("0123456789eE+-.", *p->cur)) {
		if (*p->cur == '.' || *p->cur == 'e' || *p->cur == 'E')
			maybe_int = 0;
		p->cur++;
	}
	size_t n = (size_t)(p->cur - start);
	if (n == 0)
		return parser_fail(p, "Expecting value");
	char *buf = xstrndup(start, n);
	char *endp;
	if (maybe_int) {
		errno = 0;
		long long iv = strtoll(buf, &endp, 10);
		if (errno == 0 && endp == buf + n) {
			free(buf);
			*out = ffi_any_int(iv);
			return 0;
		}
	}
	errno = 0;
	double dv = strtod(buf, &endp);
	int ok = errno == 0 && endp == buf + n;
	free(buf);
	if (!ok)
		return parser_fail_at(p, start, "Expecting value");
	*out = ffi_any_float(dv);
	return 0;
}

static int parser_value(struct json_parser *p, TVMFFIAny *out);

static int parser_nest(struct json_parser *p)
{
	if (++p->depth <= FFI_NEST_MAX)
		return 0;
	char what[96];
	snprintf(what, sizeof what, "Nesting deeper than %d levels", FFI_NEST_MAX);
	return parser_fail(p, what);
}

static int parser_array(struct json_parser *p, TVMFFIAny *out)
{
	if (parser_nest(p))
		return -1;
	p->cur++;
	parser_skip_spaces(p);
	ffi_array_t *arr = ffi_array_new();
	TVMFFIAny result = ffi_any_object(&arr->header);
	if (parser_peek(p) == -1)
		goto fail_value;
	if (parser_peek(p) == ']') {
		p->cur++;
		goto done;
	}
	while (parser_peek(p) != -1) {
		TVMFFIAny item;
		if (parser_value(p, &item))
			goto fail;
		ffi_array_push(arr, item);
		parser_skip_spaces(p);
		int c = parser_peek(p);
		if (c == ']') {
			p->cur++;
			goto done;
		}
		if (c != ',') {
			parser_fail(p, "Expecting ',' delimiter");
			goto fail;
		}
		p->cur++;
		parser_skip_spaces(p);
	}
	goto fail; /* the text ended after a ',' */
fail_value:
	parser_fail(p, "Expecting value");
fail:
	ffi_any_release(&result);
	return -1;
done:
	p->depth--;
	*out = result;
	return 0;
}

/* One "key": value member of an object into m. */
static int parser_member(struct json_parser *p, ffi_map_t *m)
{
	if (parser_peek(p) != '"')
		return parser_fail(p, "Expecting property name enclosed in double quotes");
	TVMFFIAny key, value;
	if (parser_string(p, &key))
		return -1;
	parser_skip_spaces(p);
	if (parser_peek(p) != ':') {
		ffi_any_release(&key);
		return parser_fail(p, "Expecting ':' delimiter");
	}
	p->cur++;
	if (parser_value(p, &value)) {
		ffi_any_release(&key);
		return -1;
	}
	if (ffi_map_set(m, key, value) == 0)
		return 0;
	snprintf(p->error, sizeof p->error, "%s", ffi_error_message());
	return -1;
}

static int parser_object(struct json_parser *p, TVMFFIAny *out)
{
	if (parser_nest(p))
		return -1;
	p->cur++;
	parser_skip_spaces(p);
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	TVMFFIAny result = ffi_any_object(ffi_map_object(m));
	if (parser_peek(p) == '}') {
		p->cur++;
		p->depth--;
		*out = result;
		return 0;
	}
	if (parser_peek(p) == -1) {
		parser_fail(p, "Expecting property name enclosed in double quotes");
		goto fail;
	}
	while (parser_peek(p) != -1) {
		if (parser_member(p, m))
			goto fail;
		parser_skip_spaces(p);
		int c = parser_peek(p);
		if (c == '}') {
			p->cur++;
			p->depth--;
			*out = result;
			return 0;
		}
		if (c != ',') {
			parser_fail(p, "Expecting ',' delimiter");
			goto fail;
		}
		p->cur++;
		parser_skip_spaces(p);
	}
fail:
	ffi_any_release(&result);
	return -1;
}

static int parser_literal(struct json_parser *p, const char *word, TVMFFIAny value,
			  TVMFFIAny *out)
{
	const char *start = p->cur;
	if (!parser_match(p, word))
		return parser_fail_at(p, start, "Expecting value");
	*out = value;
	return 0;
}

static int parser_value(struct json_parser *p, TVMFFIAny *out)
{
	parser_skip_spaces(p);
	switch (parser_peek(p)) {
	case -1: return parser_fail(p, "Expecting value");
	case '{': return parser_object(p, out);
	case '[': return parser_array(p, out);
	case '"': return parser_string(p, out);
	case 't': return parser_literal(p, "true", ffi_any_bool(1), out);
	case 'f': return parser_literal(p, "false", ffi_any_bool(0), out);
	case 'n': return parser_literal(p, "null", ffi_any_none(), out);
	default: return parser_number(p, out);
	}
}

int ffi_json_parse(const char *text, size_t len, TVMFFIAny *out)
{
	struct json_parser p = {
		.begin = text, .cur = text, .end = text + len, .line_begin = text, .line = 1,
	};
	*out = ffi_any_none();
	int rc = parser_value(&p, out);
	if (rc == 0) {
		parser_skip_spaces(&p);
		if (parser_peek(&p) != -1) {
			ffi_any_release(out);
			rc = parser_fail(&p, "Extra data");
		}
	}
	if (rc == 0)
		return 0;
	if (!p.error[0])
		parser_fail(&p, "Syntax error near");
	ffi_error_set("ValueError", "%s", p.error);
	return -1;
}

/* ---- writer ---- */

struct json_writer {
	ffi_text_t *out;
	int64_t indent;
	int64_t total_indent;
	int depth;
	const TVMFFIObject *open_lists[FFI_NEST_MAX + 1]; /* Lists being written, outermost first */
	int num_open_lists;
};

void ffi_json_write_string(ffi_text_t *out, const char *s, size_t n)
{
	ffi_text_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '/': esc = "\\/"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: break;
		}
		if (esc)
			ffi_text_puts(out, esc);
		else if (c < 0x20 || c == 0x7f)
			ffi_text_printf(out, "\\u%04x", c);
		else
			ffi_text_putc(out, (char)c);
	}
	ffi_text_putc(out, '"');
}

static void writer_float(ffi_text_t *out, double v)
{
	double int_part;
	if (isnan(v))
		ffi_text_puts(out, "NaN");
	else if (isinf(v))
		ffi_text_puts(out, v < 0 ? "-Infinity" : "Infinity");
	else if (fabs(v) < 9007199254740992.0 && modf(v, &int_part) == 0)
		ffi_text_printf(out, "%.1f", int_part);
	else
		ffi_text_printf(out, "%.17g", v);
}

static void writer_newline(struct json_writer *w)
{
	ffi_text_putc(w->out, '\n');
	for (int64_t i = 0; i < w->total_indent && !w->out->overflow; i++)
		ffi_text_putc(w->out, ' ');
}

static int writer_value(struct json_writer *w, const TVMFFIAny *v);

/* Opens a '[' or '{' level; -1 (ValueError) past the nesting bound. */
static int writer_open(struct json_writer *w, char bracket)
{
	if (++w->depth > FFI_NEST_MAX) {
		ffi_error_set("ValueError", "Nesting deeper than %d levels", FFI_NEST_MAX);
		return -1;
	}
	ffi_text_putc(w->out, bracket);
	w->total_indent += w->indent;
	return 0;
}

static void writer_close(struct json_writer *w, char bracket)
{
	w->depth--;
	if (w->indent != 0) {
		w->total_indent -= w->indent;
		writer_newline(w);
	}
	ffi_text_putc(w->out, bracket);
}

static int writer_sequence(struct json_writer *w, const ffi_array_t *a)
{
	if (writer_open(w, '['))
		return -1;
	for (size_t i = 0; i < a->size; i++) {
		if (i)
			ffi_text_putc(w->out, ',');
		if (w->indent != 0)
			writer_newline(w);
		if (writer_value(w, &a->items[i]))
			return -1;
	}
	writer_close(w, ']');
	return 0;
}

static int writer_list(struct json_writer *w, const ffi_array_t *list)
{
	for (int i = 0; i < w->num_open_lists; i++) {
		if (w->open_lists[i] == &list->header) {
			ffi_error_set("ValueError", "Cycle detected: List contains itself");
			return -1;
		}
	}
	w->open_lists[w->num_open_lists++] = &list->header;
	int rc = writer_sequence(w, list);
	w->num_open_lists--;
	return rc;
}

static int writer_object(struct json_writer *w, const ffi_map_t *m)
{
	if (writer_open(w, '{'))
		return -1;
	size_t pos = 0, count = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(m, &pos, &key, &value)) {
		if (count++)
			ffi_text_putc(w->out, ',');
		if (w->indent != 0)
			writer_newline(w);
		size_t len;
		const char *s = ffi_any_as_str(key, &len);
		if (!s) {
			ffi_error_set("ValueError", "Expect key to be string, got `%s`",
				      ffi_type_key(key->type_index));
			return -1;
		}
		ffi_json_write_string(w->out, s, len);
		ffi_text_puts(w->out, w->indent != 0 ? ": " : ":");
		if (writer_value(w, value))
			return -1;
	}
	writer_close(w, '}');
	return 0;
}

static int writer_value(struct json_writer *w, const TVMFFIAny *v)
{
	size_t len;
	const char *s;
	if (w->out->overflow) { /* stop at once: a shared value can make the text exponential */
		ffi_error_set("ValueError", "the text would be longer than %zu bytes",
			      (size_t)FFI_TEXT_MAX);
		return -1;
	}
	switch (v->type_index) {
	case FFI_NONE: ffi_text_puts(w->out, "null"); return 0;
	case FFI_BOOL: ffi_text_puts(w->out, v->v_int64 ? "true" : "false"); return 0;
	case FFI_INT: ffi_text_printf(w->out, "%" PRId64, v->v_int64); return 0;
	case FFI_FLOAT: writer_float(w->out, v->v_float64); return 0;
	case FFI_RAW_STR:
	case FFI_SMALL_STR:
	case FFI_STR:
		s = ffi_any_as_str(v, &len);
		ffi_json_write_string(w->out, s, len);
		return 0;
	case FFI_ARRAY: return writer_sequence(w, (const ffi_array_t *)v->v_obj);
	case FFI_LIST: return writer_list(w, (const ffi_array_t *)v->v_obj);
	case FFI_MAP: return writer_object(w, (const ffi_map_t *)v->v_obj);
	default:
		ffi_error_set("ValueError", "Unsupported type: `%s`",
			      ffi_type_key(ffi_value_type_index(v)));
		return -1;
	}
}

int ffi_json_write(const TVMFFIAny *v, int64_t indent, ffi_text_t *out)
{
	struct json_writer *w = xcalloc(1, sizeof *w);
	w->out = out;
	w->indent = indent;
	int rc = writer_value(w, v);
	free(w);
	return rc;
}

/* ---- globals ---- */

/* ffi.json.Parse(json_str: str) -> Any */
static int global_json_parse(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.json.Parse(0: str) -> Any";
	const char *text;
	size_t len;
	if (ffi_arg_count(sig, n, 1) || ffi_json_arg_str(sig, args, 0, &text, &len))
		return -1;
	return ffi_json_parse(text, len, result);
}
FFI_REGISTER_GLOBAL("ffi.json.Parse", global_json_parse)

/* ffi.json.Stringify(value: Any, indent: Optional[int]) -> str */
static int global_json_stringify(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.json.Stringify(0: Any, 1: Optional<int>) -> str";
	int64_t indent = 0;
	if (ffi_arg_count(sig, n, 2) ||
	    ffi_json_arg_optional_int32(sig, args, 1, &indent))
		return -1;
	ffi_text_t text = {0};
	if (ffi_json_write(&args[0], indent, &text)) {
		ffi_text_free(&text);
		return -1;
	}
	return ffi_text_take_str(&text, result);
}
FFI_REGISTER_GLOBAL("ffi.json.Stringify", global_json_stringify)
