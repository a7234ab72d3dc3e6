/* ffi.ReprPrint: the text tvm-ffi's repr printer gives for the value types this server has:
 * Python-style literals ("abc" with \\x/\\u escapes, b"..", True, None), (a, b) for Arrays,
 * [a, b] for Lists, {k: v} for Maps and Dicts, Shape(..), float32[2, 3]@cpu:0 for tensors,
 * the type key for objects without fields, and "..." for a container inside itself. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_structural.h"
#include "runtime/runtime_globals.h"
#include "base/xalloc.h"

#define REPR_IN_PROGRESS UINT64_MAX

struct repr {
	ffi_ptr_table_t state; /* object -> index of its finished text, or REPR_IN_PROGRESS */
	char **done;
	size_t num_done;
	int depth;
};

static void repr_hex_byte(ffi_text_t *out, unsigned char c)
{
	ffi_text_printf(out, "\\x%02x", c);
}

/* A multi-byte UTF-8 sequence at s[i] as \uXXXX / \UXXXXXXXX; its length, or 0 if invalid. */
static size_t repr_utf8(ffi_text_t *out, const unsigned char *s, size_t i, size_t n)
{
	unsigned char c = s[i], d = i + 1 < n ? s[i + 1] : 0;
	if ((c & 0xE0) == 0xC0 && i + 1 < n && (d & 0xC0) == 0x80) {
		ffi_text_printf(out, "\\u%04x", ((c & 0x1F) << 6) | (d & 0x3F));
		return 2;
	}
	if ((c & 0xF0) == 0xE0 && i + 2 < n) {
		unsigned char e = s[i + 2];
		if ((d & 0xC0) != 0x80 || (e & 0xC0) != 0x80)
			return 0;
		ffi_text_printf(out, "\\u%04x",
				((c & 0x0F) << 12) | ((d & 0x3F) << 6) | (e & 0x3F));
		return 3;
	}
	if ((c & 0xF8) == 0xF0 && i + 3 < n) {
		unsigned char e = s[i + 2], f = s[i + 3];
		if ((d & 0xC0) != 0x80 || (e & 0xC0) != 0x80 || (f & 0xC0) != 0x80)
			return 0;
		ffi_text_printf(out, "\\U%08x", ((c & 0x07) << 18) | ((d & 0x3F) << 12) |
						    ((e & 0x3F) << 6) | (f & 0x3F));
		return 4;
	}
	return 0;
}

/* An ANSI colour sequence ESC [ digits/; m|K at s[i] is kept readable; its length or 0. */
static size_t repr_ansi(ffi_text_t *out, const unsigned char *s, size_t i, size_t n)
{
	if (s[i] != 0x1b || i + 1 >= n || s[i + 1] != '[')
		return 0;
	size_t j = i + 2;
	while (j < n && (isdigit(s[j]) || s[j] == ';'))
		j++;
	if (j >= n || (s[j] != 'm' && s[j] != 'K'))
		return 0;
	ffi_text_puts(out, "\\x1b[");
	ffi_text_append(out, (const char *)s + i + 2, j + 1 - (i + 2));
	return j + 1 - i;
}

static void repr_string(ffi_text_t *out, const char *data, size_t n)
{
	const unsigned char *s = (const unsigned char *)data;
	ffi_text_putc(out, '"');
	for (size_t i = 0; i < n;) {
		size_t used = repr_ansi(out, s, i, n);
		if (used) {
			i += used;
			continue;
		}
		unsigned char c = s[i];
		const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
				: c == '\\' ? "\\\\" : c == '"' ? "\\\"" : NULL;
		if (esc)
			ffi_text_puts(out, esc);
		else if (c < 0x20 || c == 0x7f)
			repr_hex_byte(out, c);
		else if (c < 0x80)
			ffi_text_putc(out, (char)c);
		else if ((used = repr_utf8(out, s, i, n)) != 0)
			i += used - 1;
		else
			repr_hex_byte(out, c);
		i++;
	}
	ffi_text_putc(out, '"');
}

static void repr_bytes(ffi_text_t *out, const char *data, size_t n)
{
	ffi_text_puts(out, "b\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c >= 32 && c < 127 && c != '"' && c != '\\')
			ffi_text_putc(out, (char)c);
		else
			repr_hex_byte(out, c);
	}
	ffi_text_putc(out, '"');
}

static const char *repr_device_name(int device_type)
{
	static const char *const names[] = {
		[1] = "cpu", [2] = "cuda", [3] = "cuda_host", [4] = "opencl", [7] = "vulkan",
		[8] = "metal", [9] = "vpi", [10] = "rocm", [11] = "rocm_host", [12] = "ext_dev",
		[13] = "cuda_managed", [14] = "oneapi", [15] = "webgpu", [16] = "hexagon",
		[17] = "maia", [18] = "trn",
	};
	if (device_type < 0 || device_type >= (int)(sizeof names / sizeof names[0]) ||
	    !names[device_type])
		return "unknown";
	return names[device_type];
}

static void repr_device(ffi_text_t *out, DLDevice d)
{
	ffi_text_printf(out, "%s:%d", repr_device_name(d.device_type), d.device_id);
}

static void repr_dtype(ffi_text_t *out, DLDataType t)
{
	char name[64];
	runtime_dtype_name(t, name, sizeof name);
	ffi_text_puts(out, name);
}

static void repr_tensor(ffi_text_t *out, const DLTensor *t)
{
	repr_dtype(out, t->dtype);
	ffi_text_putc(out, '[');
	for (int32_t i = 0; i < t->ndim; i++)
		ffi_text_printf(out, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
	ffi_text_puts(out, "]@");
	repr_device(out, t->device);
}

static void repr_shape(ffi_text_t *out, const ffi_shape_t *s)
{
	ffi_text_puts(out, "Shape(");
	for (size_t i = 0; i < s->size; i++)
		ffi_text_printf(out, "%s%lld", i ? ", " : "", (long long)s->data[i]);
	ffi_text_putc(out, ')');
}

/* Values that need no walk; 0 when v is a container to walk. */
static int repr_leaf(const TVMFFIAny *v, ffi_text_t *out)
{
	const char *s;
	size_t n;
	int kind = ffi_value_text(v, &s, &n);
	int32_t ti = ffi_value_type_index(v);
	if (kind == FFI_TEXT_STR)
		repr_string(out, s, n);
	else if (kind == FFI_TEXT_BYTES)
		repr_bytes(out, s, n);
	else if (ti == FFI_NONE)
		ffi_text_puts(out, "None");
	else if (ti == FFI_BOOL)
		ffi_text_puts(out, v->v_int64 ? "True" : "False");
	else if (ti == FFI_INT)
		ffi_text_printf(out, "%lld", (long long)v->v_int64);
	else if (ti == FFI_FLOAT)
		ffi_text_printf(out, "%g", v->v_float64);
	else if (ti == FFI_DATATYPE)
		repr_dtype(out, v->v_dtype);
	else if (ti == FFI_DEVICE)
		repr_device(out, v->v_device);
	else if (ti < FFI_STATIC_OBJECT_BEGIN)
		ffi_text_puts(out, ffi_type_key(ti));
	else if (ti == FFI_TENSOR)
		repr_tensor(out, &((const ffi_tensor_t *)v->v_obj)->dl);
	else if (ti == FFI_SHAPE)
		repr_shape(out, (const ffi_shape_t *)v->v_obj);
	else if (ti != FFI_ARRAY && ti != FFI_LIST && ti != FFI_MAP && ti != FFI_DICT &&
		 !ffi_record_type(ti))
		ffi_text_puts(out, ffi_type_key(ti)); /* no reflected fields: the type key alone */
	else
		return 0;
	return 1;
}

static int repr_value(struct repr *r, const TVMFFIAny *v, ffi_text_t *out);

/* One AccessStep as tvm-ffi's __ffi_repr__ writes it: .name, [i], [key], [<missing:...>]. */
static int repr_access_step(struct repr *r, const ffi_record_t *step, ffi_text_t *out)
{
	int64_t kind = step->fields[0].v_int64;
	const TVMFFIAny *key = &step->fields[1];
	const char *s;
	size_t n;
	if (kind == FFI_ACCESS_ATTR && ffi_value_text(key, &s, &n) == FFI_TEXT_STR) {
		ffi_text_putc(out, '.');
		ffi_text_append(out, s, n);
		return 0;
	}
	if ((kind == FFI_ACCESS_ARRAY_ITEM || kind == FFI_ACCESS_ARRAY_ITEM_MISSING) &&
	    key->type_index == FFI_INT) {
		ffi_text_printf(out, kind == FFI_ACCESS_ARRAY_ITEM ? "[%lld]" : "[<missing:%lld>]",
				(long long)key->v_int64);
		return 0;
	}
	if (kind == FFI_ACCESS_ATTR || kind < 0 || kind > FFI_ACCESS_MAP_ITEM_MISSING) {
		ffi_error_set("TypeError", "AccessStep of kind %lld with a `%s` key cannot be "
			      "printed", (long long)kind, ffi_type_key(key->type_index));
		return -1;
	}
	ffi_text_puts(out, kind == FFI_ACCESS_MAP_ITEM ? "[" : "[<missing:");
	if (repr_value(r, key, out))
		return -1;
	ffi_text_puts(out, kind == FFI_ACCESS_MAP_ITEM ? "]" : ">]");
	return 0;
}

/* <root> followed by the steps from the root down to this path. */
static int repr_access_path(struct repr *r, const ffi_record_t *path, ffi_text_t *out)
{
	const ffi_record_t *chain[FFI_NEST_MAX];
	int depth = 0;
	for (const ffi_record_t *p = path; p && p->fields[1].type_index == FFI_ACCESS_STEP;) {
		if (depth == FFI_NEST_MAX) {
			ffi_error_set("ValueError", "the access path is deeper than %d steps",
				      FFI_NEST_MAX);
			return -1;
		}
		chain[depth++] = (const ffi_record_t *)p->fields[1].v_obj;
		p = p->fields[0].type_index == FFI_ACCESS_PATH
			    ? (const ffi_record_t *)p->fields[0].v_obj : NULL;
	}
	ffi_text_puts(out, "<root>");
	while (depth > 0)
		if (repr_access_step(r, chain[--depth], out))
			return -1;
	return 0;
}

/* Records: access paths and steps have their own form, others type_key(field=value, ...). */
static int repr_record(struct repr *r, const TVMFFIAny *v, ffi_text_t *out)
{
	const ffi_record_type_t *t = ffi_record_type(v->type_index);
	const ffi_record_t *rec = (const ffi_record_t *)v->v_obj;
	if (v->type_index == FFI_ACCESS_PATH)
		return repr_access_path(r, rec, out);
	if (v->type_index == FFI_ACCESS_STEP)
		return repr_access_step(r, rec, out);
	ffi_text_printf(out, "%s(", t->type_key);
	for (int i = 0; i < t->num_fields; i++) {
		ffi_text_printf(out, "%s%s=", i ? ", " : "", t->fields[i].name);
		if (repr_value(r, &rec->fields[i], out))
			return -1;
	}
	ffi_text_putc(out, ')');
	return 0;
}

static int repr_container(struct repr *r, const TVMFFIAny *v, ffi_text_t *out)
{
	int32_t ti = v->type_index;
	if (ffi_record_type(ti))
		return repr_record(r, v, out);
	if (ti == FFI_ARRAY || ti == FFI_LIST) {
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		ffi_text_putc(out, ti == FFI_ARRAY ? '(' : '[');
		for (size_t i = 0; i < a->size; i++) {
			if (i)
				ffi_text_puts(out, ", ");
			if (repr_value(r, &a->items[i], out))
				return -1;
		}
		if (ti == FFI_ARRAY && a->size == 1)
			ffi_text_putc(out, ',');
		ffi_text_putc(out, ti == FFI_ARRAY ? ')' : ']');
		return 0;
	}
	size_t pos = 0, count = 0;
	const TVMFFIAny *key, *value;
	ffi_text_putc(out, '{');
	while (ffi_map_next((const ffi_map_t *)v->v_obj, &pos, &key, &value)) {
		if (count++)
			ffi_text_puts(out, ", ");
		if (repr_value(r, key, out))
			return -1;
		ffi_text_puts(out, ": ");
		if (repr_value(r, value, out))
			return -1;
	}
	ffi_text_putc(out, '}');
	return 0;
}

/* Containers are printed once: a repeat reuses the text, a container inside itself is "...". */
static int repr_value(struct repr *r, const TVMFFIAny *v, ffi_text_t *out)
{
	if (repr_leaf(v, out))
		return 0;
	uint64_t state;
	if (ffi_ptr_table_get(&r->state, v->v_obj, &state)) {
		ffi_text_puts(out, state == REPR_IN_PROGRESS ? "..." : r->done[state]);
		return 0;
	}
	if (++r->depth > FFI_NEST_MAX) {
		ffi_error_set("ValueError", "the value is nested deeper than %d levels",
			      FFI_NEST_MAX);
		return -1;
	}
	ffi_ptr_table_put(&r->state, v->v_obj, REPR_IN_PROGRESS);
	ffi_text_t text = {0};
	int rc = repr_container(r, v, &text);
	r->depth--;
	if (rc == 0 && text.overflow) {
		ffi_error_set("ValueError", "the text would be longer than %zu bytes",
			      (size_t)FFI_TEXT_MAX);
		rc = -1;
	}
	if (rc) {
		ffi_text_free(&text);
		return -1;
	}
	ffi_text_append(out, text.data ? text.data : "", text.len);
	r->done = xrealloc(r->done, (r->num_done + 1) * sizeof *r->done);
	r->done[r->num_done] = text.data ? text.data : xstrdup("");
	ffi_ptr_table_put(&r->state, v->v_obj, r->num_done++);
	return 0;
}

int ffi_repr_print(const TVMFFIAny *v, ffi_text_t *out)
{
	struct repr r = {0};
	int rc = repr_value(&r, v, out);
	for (size_t i = 0; i < r.num_done; i++)
		free(r.done[i]);
	free(r.done);
	ffi_ptr_table_free(&r.state);
	return rc;
}

static int global_repr_print(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("ffi.ReprPrint(0: Any) -> str", n, 1))
		return -1;
	ffi_text_t text = {0};
	if (ffi_repr_print(&args[0], &text)) {
		ffi_text_free(&text);
		return -1;
	}
	return ffi_text_take_str(&text, result);
}
FFI_REGISTER_GLOBAL("ffi.ReprPrint", global_repr_print)
