/* tvm-ffi's JSON object graph: ffi.ToJSONGraph / ffi.ToJSONGraphString turn a value into
 * {"root_index": i, "nodes": [{"type": key, "data": ...}, ...]} with equal values sharing one
 * node, and ffi.FromJSONGraph / ffi.FromJSONGraphString read such a graph back, checking
 * every index, type and size it is given (the reader is fuzzed: tests/fuzz/fuzz_json_graph.c). */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_serialization.h"
#include "runtime/ffi_structural.h"
#include "runtime/runtime_globals.h"
#include "runtime/vm.h"
#include "base/xalloc.h"

/* ---- base64 as tvm-ffi writes and reads it ---- */

static const char base64_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(ffi_text_t *out, const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char quad[4] = {base64_digits[v >> 18], base64_digits[(v >> 12) & 63],
				base64_digits[(v >> 6) & 63], base64_digits[v & 63]};
		ffi_text_append(out, quad, 4);
	}
	if (n - i == 1) {
		char quad[4] = {base64_digits[p[i] >> 2], base64_digits[(p[i] << 4) & 63], '=',
				'='};
		ffi_text_append(out, quad, 4);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
		char quad[4] = {base64_digits[v >> 10], base64_digits[(v >> 4) & 63],
				base64_digits[(v << 2) & 63], '='};
		ffi_text_append(out, quad, 4);
	}
}

/* Any character outside the alphabet (and '=') counts as 0, as tvm-ffi's table does; only the
 * length is checked. */
static int base64_digit(unsigned char c)
{
	const char *hit = c ? strchr(base64_digits, c) : NULL;
	return hit ? (int)(hit - base64_digits) : 0;
}

static int base64_decode(const char *s, size_t n, ffi_text_t *out)
{
	if (n % 4 != 0) {
		ffi_error_set("InternalError", "Check failed: (bytes.size %% 4 == 0) is false: "
			      "invalid base64 encoding");
		return -1;
	}
	for (size_t i = 0; i < n; i += 4) {
		const unsigned char *q = (const unsigned char *)s + i;
		uint32_t v = (uint32_t)base64_digit(q[0]) << 18 |
			     (uint32_t)base64_digit(q[1]) << 12 |
			     (uint32_t)base64_digit(q[2]) << 6 | (uint32_t)base64_digit(q[3]);
		ffi_text_putc(out, (char)(v >> 16));
		if (q[2] != '=')
			ffi_text_putc(out, (char)(v >> 8));
		if (q[3] != '=')
			ffi_text_putc(out, (char)v);
	}
	return 0;
}

/* ---- writer ---- */

struct graph_writer {
	ffi_map_t *index_of; /* value -> its node index (tvm-ffi's AnyEqual: content for strings) */
	ffi_array_t *nodes;
	const TVMFFIObject *open[FFI_NEST_MAX + 1]; /* Lists and Dicts being written */
	int num_open;
	int depth;
};

static void node_put(ffi_map_t *node, const char *key, TVMFFIAny value)
{
	ffi_map_set(node, ffi_json_str_value(key, strlen(key)), value);
}

static int graph_node(struct graph_writer *g, const TVMFFIAny *v, int64_t *index);

static int graph_sequence_data(struct graph_writer *g, const ffi_array_t *a, TVMFFIAny *out)
{
	ffi_array_t *data = ffi_array_new();
	*out = ffi_any_object(&data->header);
	for (size_t i = 0; i < a->size; i++) {
		int64_t child;
		if (graph_node(g, &a->items[i], &child))
			return -1;
		ffi_array_push(data, ffi_any_int(child));
	}
	return 0;
}

static int graph_map_data(struct graph_writer *g, const ffi_map_t *m, TVMFFIAny *out)
{
	ffi_array_t *data = ffi_array_new();
	*out = ffi_any_object(&data->header);
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(m, &pos, &key, &value)) {
		int64_t k, v;
		if (graph_node(g, key, &k) || graph_node(g, value, &v))
			return -1;
		ffi_array_push(data, ffi_any_int(k));
		ffi_array_push(data, ffi_any_int(v));
	}
	return 0;
}

/* Lists and Dicts can contain themselves; tvm-ffi refuses such a graph. */
static int graph_enter_mutable(struct graph_writer *g, const TVMFFIAny *v)
{
	for (int i = 0; i < g->num_open; i++) {
		if (g->open[i] == v->v_obj) {
			ffi_error_set("ValueError",
				      "Cycle detected during serialization: a %s contains itself",
				      v->type_index == FFI_LIST ? "List" : "Dict");
			return -1;
		}
	}
	g->open[g->num_open++] = v->v_obj;
	return 0;
}

/* A record's data: an object of its fields, ints inline and everything else as node indices. */
static int graph_record_data(struct graph_writer *g, const TVMFFIAny *v, TVMFFIAny *out)
{
	const ffi_record_type_t *t = ffi_record_type(v->type_index);
	const ffi_record_t *r = (const ffi_record_t *)v->v_obj;
	ffi_map_t *data = ffi_map_new(FFI_MAP);
	*out = ffi_any_object(ffi_map_object(data));
	for (int i = 0; i < t->num_fields; i++) {
		int64_t child;
		if (t->fields[i].is_int) {
			node_put(data, t->fields[i].name, ffi_any_int(r->fields[i].v_int64));
			continue;
		}
		if (graph_node(g, &r->fields[i], &child))
			return -1;
		node_put(data, t->fields[i].name, ffi_any_int(child));
	}
	return 0;
}

static int graph_container_data(struct graph_writer *g, const TVMFFIAny *v, TVMFFIAny *data)
{
	int rc;
	if (ffi_record_type(v->type_index))
		return graph_record_data(g, v, data);
	switch (v->type_index) {
	case FFI_ARRAY:
		return graph_sequence_data(g, (const ffi_array_t *)v->v_obj, data);
	case FFI_MAP:
		return graph_map_data(g, (const ffi_map_t *)v->v_obj, data);
	case FFI_LIST:
	case FFI_DICT:
		if (graph_enter_mutable(g, v))
			return -1;
		rc = v->type_index == FFI_LIST
			     ? graph_sequence_data(g, (const ffi_array_t *)v->v_obj, data)
			     : graph_map_data(g, (const ffi_map_t *)v->v_obj, data);
		g->num_open--;
		return rc;
	default: {
		const ffi_shape_t *s = (const ffi_shape_t *)v->v_obj;
		ffi_array_t *dims = ffi_array_new();
		for (size_t i = 0; i < s->size; i++)
			ffi_array_push(dims, ffi_any_int(s->data[i]));
		*data = ffi_any_object(&dims->header);
		return 0;
	}
	}
}

/* The "data" of a node of a POD, string or bytes value (type key in *key). */
static int graph_leaf_data(const TVMFFIAny *v, int32_t ti, const char **key, TVMFFIAny *data)
{
	const char *s;
	size_t n;
	char dtype[64];
	ffi_array_t *pair;
	ffi_text_t text = {0};
	*data = ffi_any_none();
	*key = ffi_type_key(ti);
	switch (ti) {
	case FFI_NONE:
		return 0;
	case FFI_BOOL:
	case FFI_INT:
	case FFI_FLOAT:
		*data = *v;
		return 0;
	case FFI_DATATYPE:
		runtime_dtype_name(v->v_dtype, dtype, sizeof dtype);
		*data = ffi_json_str_value(dtype, strlen(dtype));
		return 0;
	case FFI_DEVICE:
		pair = ffi_array_new();
		ffi_array_push(pair, ffi_any_int(v->v_device.device_type));
		ffi_array_push(pair, ffi_any_int(v->v_device.device_id));
		*data = ffi_any_object(&pair->header);
		return 0;
	case FFI_SMALL_STR:
	case FFI_STR:
		ffi_value_text(v, &s, &n);
		*key = ffi_type_key(FFI_STR);
		*data = ffi_json_str_value(s, n);
		return 0;
	case FFI_SMALL_BYTES:
	case FFI_BYTES:
		ffi_value_text(v, &s, &n);
		*key = ffi_type_key(FFI_BYTES);
		base64_encode(&text, (const unsigned char *)s, n);
		return ffi_text_take_str(&text, data);
	default:
		ffi_error_set("RuntimeError", "Cannot serialize type `%s`", ffi_type_key(ti));
		return -1;
	}
}

static int graph_node_data(struct graph_writer *g, const TVMFFIAny *v, const char **key,
			   TVMFFIAny *data)
{
	int32_t ti = ffi_value_type_index(v);
	if (ti < FFI_STATIC_OBJECT_BEGIN || ti == FFI_STR || ti == FFI_BYTES)
		return graph_leaf_data(v, ti, key, data);
	*key = ffi_type_key(ti);
	*data = ffi_any_none();
	if (ti != FFI_ARRAY && ti != FFI_LIST && ti != FFI_MAP && ti != FFI_DICT &&
	    ti != FFI_SHAPE && !ffi_record_type(ti)) {
		ffi_error_set("TypeError", "Type `%s` does not support ToJSONGraph (no native "
			      "creator or __ffi_new__ type attr)", *key);
		return -1;
	}
	if (++g->depth > FFI_NEST_MAX) {
		ffi_error_set("ValueError", "the value is nested deeper than %d levels",
			      FFI_NEST_MAX);
		return -1;
	}
	int rc = graph_container_data(g, v, data);
	g->depth--;
	return rc;
}

static int graph_node(struct graph_writer *g, const TVMFFIAny *v, int64_t *index)
{
	const TVMFFIAny *known = ffi_map_get(g->index_of, v);
	if (known) {
		*index = known->v_int64;
		return 0;
	}
	const char *key;
	TVMFFIAny data, owned;
	if (graph_node_data(g, v, &key, &data)) {
		ffi_any_release(&data);
		return -1;
	}
	ffi_map_t *node = ffi_map_new(FFI_MAP);
	node_put(node, "type", ffi_json_str_value(key, strlen(key)));
	if (strcmp(key, "None") != 0)
		node_put(node, "data", data);
	*index = (int64_t)g->nodes->size;
	ffi_array_push(g->nodes, ffi_any_object(ffi_map_object(node)));
	if (ffi_any_to_owned(v, &owned) == 0)
		ffi_map_set(g->index_of, owned, ffi_any_int(*index));
	return 0;
}

int ffi_json_graph_write(const TVMFFIAny *v, const TVMFFIAny *metadata, TVMFFIAny *out)
{
	struct graph_writer *g = xcalloc(1, sizeof *g);
	g->index_of = ffi_map_new(FFI_MAP);
	g->nodes = ffi_array_new();
	int64_t root;
	int rc = graph_node(g, v, &root);
	ffi_object_release(ffi_map_object(g->index_of));
	if (rc) {
		ffi_object_release(&g->nodes->header);
		free(g);
		return -1;
	}
	ffi_map_t *graph = ffi_map_new(FFI_MAP);
	node_put(graph, "root_index", ffi_any_int(root));
	node_put(graph, "nodes", ffi_any_object(&g->nodes->header));
	free(g);
	if (metadata->type_index != FFI_NONE) {
		TVMFFIAny meta;
		if (ffi_any_to_owned(metadata, &meta)) {
			ffi_object_release(ffi_map_object(graph));
			return -1;
		}
		node_put(graph, "metadata", meta);
	}
	*out = ffi_any_object(ffi_map_object(graph));
	return 0;
}

/* ---- reader ---- */

struct graph_reader {
	const ffi_array_t *nodes;
	TVMFFIAny *decoded; /* None until decoded */
	int64_t null_index; /* the node known to decode to None, or -1 */
	int depth;
};

static int cast_mismatch(const TVMFFIAny *v, const char *want)
{
	ffi_error_set("TypeError", "Cannot convert from type `%s` to `%s`",
		      ffi_type_key(ffi_value_type_index(v)), want);
	return -1;
}

static int cast_int(const TVMFFIAny *v, int64_t *out)
{
	if (v->type_index != FFI_INT && v->type_index != FFI_BOOL)
		return cast_mismatch(v, "int");
	*out = v->v_int64;
	return 0;
}

static int cast_array(const TVMFFIAny *v, const ffi_array_t **out)
{
	if (v->type_index != FFI_ARRAY)
		return cast_mismatch(v, "Array<Any>");
	*out = (const ffi_array_t *)v->v_obj;
	return 0;
}

static int cast_str(const TVMFFIAny *v, const char **s, size_t *n)
{
	if (ffi_value_text(v, s, n) != FFI_TEXT_STR)
		return cast_mismatch(v, "str");
	return 0;
}

/* Array<int64_t>: every element an integer. */
static int cast_int_array(const TVMFFIAny *v, const ffi_array_t **out, const char *want)
{
	if (v->type_index != FFI_ARRAY)
		return cast_mismatch(v, want);
	const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
	for (size_t i = 0; i < a->size; i++) {
		if (a->items[i].type_index != FFI_INT && a->items[i].type_index != FFI_BOOL) {
			ffi_error_set("TypeError",
				      "Cannot convert from type `Array[index %zu: %s]` to `%s`", i,
				      ffi_type_key(a->items[i].type_index), want);
			return -1;
		}
	}
	*out = a;
	return 0;
}

static int node_field(const ffi_map_t *node, const char *key, const TVMFFIAny **out)
{
	TVMFFIAny k = ffi_json_str_value(key, strlen(key));
	*out = ffi_map_get(node, &k);
	ffi_any_release(&k);
	if (*out)
		return 0;
	ffi_error_set("KeyError", "key is not in Map");
	return -1;
}

static int graph_decode(struct graph_reader *r, int64_t index, TVMFFIAny *out);

static int graph_decode_sequence(struct graph_reader *r, const TVMFFIAny *data, int32_t ti,
				 TVMFFIAny *out)
{
	const ffi_array_t *refs;
	if (cast_array(data, &refs))
		return -1;
	ffi_array_t *seq = ti == FFI_LIST ? ffi_list_new() : ffi_array_new();
	*out = ffi_any_object(&seq->header);
	for (size_t i = 0; i < refs->size; i++) {
		int64_t child;
		TVMFFIAny item;
		if (cast_int(&refs->items[i], &child) || graph_decode(r, child, &item))
			return -1;
		ffi_array_push(seq, item);
	}
	return 0;
}

static int graph_decode_map(struct graph_reader *r, const TVMFFIAny *data, int32_t ti,
			    TVMFFIAny *out)
{
	const ffi_array_t *refs;
	if (cast_array(data, &refs))
		return -1;
	if (refs->size % 2 != 0) {
		ffi_error_set("ValueError", "Invalid JSON Object Graph: Map/Dict data must contain "
			      "an even number of [key, value] entries, got %zu", refs->size);
		return -1;
	}
	ffi_map_t *m = ffi_map_new(ti);
	*out = ffi_any_object(ffi_map_object(m));
	for (size_t i = 0; i < refs->size; i += 2) {
		int64_t ki, vi;
		TVMFFIAny key, value;
		if (cast_int(&refs->items[i], &ki) || cast_int(&refs->items[i + 1], &vi) ||
		    graph_decode(r, ki, &key))
			return -1;
		if (graph_decode(r, vi, &value)) {
			ffi_any_release(&key);
			return -1;
		}
		if (ffi_map_set(m, key, value))
			return -1;
	}
	return 0;
}

static int graph_decode_device(const TVMFFIAny *data, TVMFFIAny *out)
{
	const ffi_array_t *a;
	if (cast_int_array(data, &a, "Array<int>"))
		return -1;
	if (a->size != 2) {
		ffi_error_set("ValueError", "Invalid JSON Object Graph: Device data must be an "
			      "array of [device_type, device_id], got %zu element(s)", a->size);
		return -1;
	}
	out->type_index = FFI_DEVICE;
	out->v_device.device_type = (DLDeviceType)(int32_t)a->items[0].v_int64;
	out->v_device.device_id = (int32_t)a->items[1].v_int64;
	return 0;
}

static int graph_decode_shape(const TVMFFIAny *data, TVMFFIAny *out)
{
	const ffi_array_t *a;
	if (cast_int_array(data, &a, "Array<int>"))
		return -1;
	int64_t *dims = xcalloc(a->size ? a->size : 1, sizeof *dims);
	for (size_t i = 0; i < a->size; i++)
		dims[i] = a->items[i].v_int64;
	*out = ffi_any_object(&ffi_shape_new(dims, a->size)->header);
	free(dims);
	return 0;
}

static int graph_decode_text(const TVMFFIAny *data, int32_t ti, TVMFFIAny *out)
{
	const char *s;
	size_t n;
	if (cast_str(data, &s, &n))
		return -1;
	if (ti == FFI_STR) {
		*out = ffi_json_str_value(s, n);
		return 0;
	}
	if (ti == FFI_DATATYPE) {
		out->type_index = FFI_DATATYPE;
		return vm_dtype_parse(s, n, &out->v_dtype);
	}
	ffi_text_t bytes = {0};
	if (base64_decode(s, n, &bytes)) {
		ffi_text_free(&bytes);
		return -1;
	}
	TVMFFIByteArray view = {bytes.data ? bytes.data : "", bytes.len};
	TVMFFIAny arg = {.type_index = FFI_BYTE_ARRAY_PTR};
	arg.v_ptr = &view;
	int rc = ffi_any_to_owned(&arg, out);
	ffi_text_free(&bytes);
	return rc;
}

/* A record from its data object: every field without a default must be there. */
static int graph_decode_record(struct graph_reader *r, const TVMFFIAny *data, int32_t ti,
			       TVMFFIAny *out)
{
	const ffi_record_type_t *t = ffi_record_type(ti);
	if (data->type_index != FFI_MAP)
		return cast_mismatch(data, "Map<Any, Any>");
	ffi_record_t *rec = ffi_record_new(ti);
	*out = ffi_any_object(&rec->header);
	for (int i = 0; i < t->num_fields; i++) {
		const TVMFFIAny *field;
		int64_t x;
		if (node_field((const ffi_map_t *)data->v_obj, t->fields[i].name, &field)) {
			if (t->fields[i].has_default)
				continue; /* None */
			ffi_error_set("TypeError", "Required field `%s` not set in type `%s`",
				      t->fields[i].name, t->type_key);
			return -1;
		}
		if (cast_int(field, &x))
			return -1;
		ffi_any_release(&rec->fields[i]);
		if (t->fields[i].is_int)
			rec->fields[i] = ffi_any_int(x);
		else if (graph_decode(r, x, &rec->fields[i]))
			return -1;
	}
	return 0;
}

/* Type index of a type key this server knows, or -1. */
static int32_t type_index_of_key(const char *key, size_t n)
{
	const ffi_record_type_t *record = ffi_record_type_by_key(key, n);
	if (record)
		return record->type_index;
	for (int32_t ti = 0; ti < 256; ti++) {
		const char *k = ffi_type_key(ti);
		if (strlen(k) == n && memcmp(k, key, n) == 0 && strcmp(k, "unknown") != 0)
			return ti;
	}
	return -1;
}

static int graph_decode_node(struct graph_reader *r, const TVMFFIAny *node_value,
			     TVMFFIAny *out)
{
	const TVMFFIAny *type, *data = NULL;
	const char *key;
	size_t n;
	*out = ffi_any_none();
	if (node_value->type_index != FFI_MAP)
		return cast_mismatch(node_value, "Map<Any, Any>");
	const ffi_map_t *node = (const ffi_map_t *)node_value->v_obj;
	if (node_field(node, "type", &type) || cast_str(type, &key, &n))
		return -1;
	int32_t ti = type_index_of_key(key, n);
	if (ti < 0) {
		ffi_error_set("InternalError", "Check failed: (it != type_key2index_.end()) is "
			      "false: Cannot find type `%.*s`", (int)(n > 200 ? 200 : n), key);
		return -1;
	}
	if (ti == FFI_NONE)
		return 0;
	if (node_field(node, "data", &data))
		return -1;
	switch (ti) {
	case FFI_BOOL:
	case FFI_INT: {
		int64_t x;
		if (cast_int(data, &x))
			return -1;
		*out = ti == FFI_BOOL ? ffi_any_bool(x != 0) : ffi_any_int(x);
		return 0;
	}
	case FFI_FLOAT:
		if (data->type_index == FFI_FLOAT)
			*out = *data;
		else if (data->type_index == FFI_INT || data->type_index == FFI_BOOL)
			*out = ffi_any_float((double)data->v_int64);
		else
			return cast_mismatch(data, "float");
		return 0;
	case FFI_DATATYPE:
	case FFI_STR:
	case FFI_BYTES:
		return graph_decode_text(data, ti, out);
	case FFI_DEVICE:
		return graph_decode_device(data, out);
	case FFI_SHAPE:
		return graph_decode_shape(data, out);
	case FFI_ARRAY:
	case FFI_LIST:
		return graph_decode_sequence(r, data, ti, out);
	case FFI_MAP:
	case FFI_DICT:
		return graph_decode_map(r, data, ti, out);
	default:
		if (ffi_record_type(ti))
			return graph_decode_record(r, data, ti, out);
		ffi_error_set("TypeError", "Type `%s` does not support FromJSONGraph (no native "
			      "creator or __ffi_new__ type attr)", ffi_type_key(ti));
		return -1;
	}
}

/* New reference to the value of node `index`; nodes are decoded once and shared. */
static int graph_decode(struct graph_reader *r, int64_t index, TVMFFIAny *out)
{
	if (index < 0 || (uint64_t)index >= r->nodes->size) {
		ffi_error_set("ValueError", "Invalid JSON Object Graph: invalid node index %lld",
			      (long long)index);
		return -1;
	}
	if (index == r->null_index || r->decoded[index].type_index != FFI_NONE) {
		*out = r->decoded[index];
		ffi_any_retain(out);
		return 0;
	}
	if (++r->depth > FFI_NEST_MAX) {
		ffi_error_set("ValueError", "Invalid JSON Object Graph: nodes nested deeper than "
			      "%d levels (or a node that contains itself)", FFI_NEST_MAX);
		return -1;
	}
	int rc = graph_decode_node(r, &r->nodes->items[index], out);
	r->depth--;
	if (rc) {
		ffi_any_release(out);
		return -1;
	}
	r->decoded[index] = *out;
	ffi_any_retain(out);
	if (out->type_index == FFI_NONE)
		r->null_index = index;
	return 0;
}

static int graph_field(const ffi_map_t *graph, const char *key, int32_t want,
		       const TVMFFIAny **out)
{
	TVMFFIAny k = ffi_json_str_value(key, strlen(key));
	*out = ffi_map_get(graph, &k);
	ffi_any_release(&k);
	if (*out && (*out)->type_index == want)
		return 0;
	ffi_error_set("ValueError", "Invalid JSON Object Graph, expected `%s` %s field", key,
		      want == FFI_INT ? "integer" : "array");
	return -1;
}

int ffi_json_graph_read(const TVMFFIAny *graph_value, TVMFFIAny *out)
{
	const TVMFFIAny *root, *nodes;
	if (graph_value->type_index != FFI_MAP) {
		ffi_error_set("ValueError", "Invalid JSON Object Graph, expected an object");
		return -1;
	}
	const ffi_map_t *graph = (const ffi_map_t *)graph_value->v_obj;
	if (graph_field(graph, "root_index", FFI_INT, &root) ||
	    graph_field(graph, "nodes", FFI_ARRAY, &nodes))
		return -1;
	struct graph_reader r = {.nodes = (const ffi_array_t *)nodes->v_obj, .null_index = -1};
	r.decoded = xcalloc(r.nodes->size ? r.nodes->size : 1, sizeof *r.decoded);
	int rc = graph_decode(&r, root->v_int64, out);
	for (size_t i = 0; i < r.nodes->size; i++)
		ffi_any_release(&r.decoded[i]);
	free(r.decoded);
	return rc;
}

/* ---- globals ---- */

static int global_to_json_graph(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("ffi.ToJSONGraph(0: Any, 1: Any) -> Any", n, 2))
		return -1;
	return ffi_json_graph_write(&args[0], &args[1], result);
}
FFI_REGISTER_GLOBAL("ffi.ToJSONGraph", global_to_json_graph)

static int global_to_json_graph_string(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	TVMFFIAny graph;
	if (ffi_arg_count("ffi.ToJSONGraphString(0: Any, 1: Any) -> str", n, 2) ||
	    ffi_json_graph_write(&args[0], &args[1], &graph))
		return -1;
	ffi_text_t text = {0};
	int rc = ffi_json_write(&graph, 0, &text);
	ffi_any_release(&graph);
	if (rc) {
		ffi_text_free(&text);
		return -1;
	}
	return ffi_text_take_str(&text, result);
}
FFI_REGISTER_GLOBAL("ffi.ToJSONGraphString", global_to_json_graph_string)

static int global_from_json_graph(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("ffi.FromJSONGraph(0: Any) -> Any", n, 1))
		return -1;
	return ffi_json_graph_read(&args[0], result);
}
FFI_REGISTER_GLOBAL("ffi.FromJSONGraph", global_from_json_graph)

static int global_from_json_graph_string(void *self, const TVMFFIAny *args, int32_t n,
					 TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.FromJSONGraphString(0: str) -> Any";
	const char *text;
	size_t len;
	TVMFFIAny graph;
	if (ffi_arg_count(sig, n, 1) || ffi_json_arg_str(sig, args, 0, &text, &len) ||
	    ffi_json_parse(text, len, &graph))
		return -1;
	int rc = ffi_json_graph_read(&graph, result);
	ffi_any_release(&graph);
	return rc;
}
FFI_REGISTER_GLOBAL("ffi.FromJSONGraphString", global_from_json_graph_string)
