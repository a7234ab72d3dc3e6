/* Structural equality and hashing (ffi.StructuralEqual, ffi.StructuralHash), and the
 * reflection-free recursive ones (ffi.RecursiveEq/Lt/Le/Gt/Ge, ffi.RecursiveHash,
 * ffi.DeepCopy) over the value types this server has, giving the integers and answers
 * tvm-ffi gives. Objects without structure (functions, modules) fail or compare as tvm-ffi's
 * do; walks are bounded in depth (FFI_NEST_MAX) and in nodes (FFI_WALK_MAX_NODES). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_structural.h"
#include "base/xalloc.h"

/* ---- stable hashes ---- */

uint64_t ffi_hash_combine(uint64_t key, uint64_t value)
{
	return key ^ (value + 0x9e3779b9 + (key << 6) + (key >> 2));
}

uint64_t ffi_hash_bytes(const void *data, size_t size)
{
	const uint64_t multiplier = 1099511628211ULL, mod = 2147483647ULL;
	const unsigned char *p = data;
	uint64_t result = 0, word;
	size_t i = 0;
	for (; i + 8 <= size; i += 8) {
		memcpy(&word, p + i, 8); /* little-endian host, as tvm-ffi reads it */
		result = (result * multiplier + word) % mod;
	}
	if (i < size) {
		word = 0;
		memcpy(&word, p + i, size - i);
		result = (result * multiplier + word) % mod;
	}
	return result;
}

static uint64_t cxx_shift_mix(uint64_t v)
{
	return v ^ (v >> 47);
}

/* libstdc++'s _Hash_bytes (64-bit), which std::hash<std::string_view> uses. */
uint64_t ffi_hash_type_key(const char *type_key)
{
	const uint64_t mul = (0xc6a4a793ULL << 32) + 0x5bd1e995ULL;
	const unsigned char *p = (const unsigned char *)type_key;
	size_t len = strlen(type_key), i = 0;
	uint64_t hash = 0xc70f6907ULL ^ (len * mul), word;
	for (; i + 8 <= len; i += 8) {
		memcpy(&word, p + i, 8);
		hash ^= cxx_shift_mix(word * mul) * mul;
		hash *= mul;
	}
	if (i < len) {
		word = 0;
		for (size_t k = len; k > i; k--)
			word = (word << 8) + p[k - 1];
		hash ^= word;
		hash *= mul;
	}
	hash = cxx_shift_mix(hash) * mul;
	return cxx_shift_mix(hash);
}

static uint64_t type_hash(int32_t type_index)
{
	return ffi_hash_type_key(ffi_type_key(type_index));
}

/* ---- value views ---- */

int ffi_value_text(const TVMFFIAny *v, const char **data, size_t *size)
{
	switch (v->type_index) {
	case FFI_RAW_STR:
	case FFI_SMALL_STR:
	case FFI_STR:
		*data = ffi_any_as_str(v, size);
		return FFI_TEXT_STR;
	case FFI_SMALL_BYTES:
		*data = v->v_bytes;
		*size = v->zero_padding & 7;
		return FFI_TEXT_BYTES;
	case FFI_BYTES:
		*data = ((const ffi_bytes_t *)v->v_obj)->data;
		*size = ((const ffi_bytes_t *)v->v_obj)->size;
		return FFI_TEXT_BYTES;
	case FFI_BYTE_ARRAY_PTR:
		*data = ((const TVMFFIByteArray *)v->v_ptr)->data;
		*size = ((const TVMFFIByteArray *)v->v_ptr)->size;
		return FFI_TEXT_BYTES;
	default:
		return FFI_TEXT_NONE;
	}
}

int32_t ffi_value_type_index(const TVMFFIAny *v)
{
	const char *data;
	size_t size;
	if (v->type_index == FFI_RAW_STR || v->type_index == FFI_BYTE_ARRAY_PTR) {
		ffi_value_text(v, &data, &size);
		if (v->type_index == FFI_RAW_STR)
			return size <= 7 ? FFI_SMALL_STR : FFI_STR;
		return size <= 7 ? FFI_SMALL_BYTES : FFI_BYTES;
	}
	if (v->type_index >= FFI_STATIC_OBJECT_BEGIN && !v->v_obj)
		return FFI_NONE;
	return v->type_index;
}

/* The 8 payload bytes of a POD value as tvm-ffi holds them (unused bytes zero). */
static uint64_t pod_bits(const TVMFFIAny *v)
{
	uint64_t bits = 0;
	if (v->type_index == FFI_DATATYPE) {
		memcpy(&bits, &v->v_dtype, sizeof v->v_dtype);
		return bits;
	}
	if (v->type_index == FFI_BOOL)
		return v->v_int64 != 0;
	return v->v_uint64;
}

/* Little-endian word of up to 7 bytes: the payload of a small string or bytes value. */
static uint64_t small_word(const char *data, size_t size)
{
	uint64_t w = 0;
	memcpy(&w, data, size);
	return w;
}

/* StructuralHash of a string or bytes value: small bytes hash their raw word (a POD value to
 * tvm-ffi), everything else its content. */
static uint64_t text_hash(const TVMFFIAny *v, int kind, const char *s, size_t n)
{
	if (kind == FFI_TEXT_STR)
		return ffi_hash_combine(FFI_STR, ffi_hash_bytes(s, n));
	if (ffi_value_type_index(v) == FFI_SMALL_BYTES)
		return ffi_hash_combine(FFI_SMALL_BYTES, small_word(s, n));
	return ffi_hash_combine(FFI_BYTES, ffi_hash_bytes(s, n));
}

/* ---- pointer table ---- */

static size_t ptr_slot(const ffi_ptr_table_t *t, const void *key)
{
	size_t h = (size_t)((uintptr_t)key >> 4) * 0x9e3779b97f4a7c15ULL;
	size_t i = h & (t->cap - 1);
	while (t->keys[i] && t->keys[i] != key)
		i = (i + 1) & (t->cap - 1);
	return i;
}

int ffi_ptr_table_get(const ffi_ptr_table_t *t, const void *key, uint64_t *value)
{
	if (!t->cap)
		return 0;
	size_t i = ptr_slot(t, key);
	if (!t->keys[i])
		return 0;
	*value = t->values[i];
	return 1;
}

static void ptr_table_grow(ffi_ptr_table_t *t)
{
	ffi_ptr_table_t bigger = {.cap = t->cap ? t->cap * 2 : 64};
	bigger.keys = xcalloc(bigger.cap, sizeof *bigger.keys);
	bigger.values = xcalloc(bigger.cap, sizeof *bigger.values);
	for (size_t i = 0; i < t->cap; i++)
		if (t->keys[i])
			ffi_ptr_table_put(&bigger, t->keys[i], t->values[i]);
	ffi_ptr_table_free(t);
	*t = bigger;
}

void ffi_ptr_table_put(ffi_ptr_table_t *t, const void *key, uint64_t value)
{
	if ((t->size + 1) * 2 > t->cap)
		ptr_table_grow(t);
	size_t i = ptr_slot(t, key);
	if (!t->keys[i]) {
		t->keys[i] = key;
		t->size++;
	}
	t->values[i] = value;
}

void ffi_ptr_table_free(ffi_ptr_table_t *t)
{
	free(t->keys);
	free(t->values);
	memset(t, 0, sizeof *t);
}

/* ---- walk bounds ---- */

struct walk {
	int depth;
	uint64_t nodes;
};

static int walk_enter(struct walk *w)
{
	if (++w->nodes > FFI_WALK_MAX_NODES) {
		ffi_error_set("ValueError", "the value has more than %llu nodes to visit",
			      (unsigned long long)FFI_WALK_MAX_NODES);
		return -1;
	}
	if (++w->depth > FFI_NEST_MAX) {
		ffi_error_set("ValueError", "the value is nested deeper than %d levels",
			      FFI_NEST_MAX);
		return -1;
	}
	return 0;
}

static int tensor_data_check(const DLTensor *t, const char *what)
{
	if (t->device.device_type != kDLCPU) {
		ffi_error_set("InternalError", "can only %s CPU tensor", what);
		return -1;
	}
	for (int32_t i = 0; i < t->ndim; i++)
		if (t->shape[i] == 0)
			return 0;
	if (!ffi_dltensor_is_compact(t)) {
		ffi_error_set("InternalError", "Can only %s contiguous tensor", what);
		return -1;
	}
	return 0;
}

static size_t tensor_data_size(const DLTensor *t)
{
	uint64_t numel = 1;
	for (int32_t i = 0; i < t->ndim; i++)
		numel *= (uint64_t)t->shape[i];
	return (size_t)((numel * t->dtype.bits * t->dtype.lanes + 7) / 8);
}

static const char *tensor_data(const DLTensor *t)
{
	return (const char *)t->data + t->byte_offset;
}

/* ---- StructuralHash ---- */

struct shash {
	struct walk walk;
	int skip_tensor_content;
	ffi_ptr_table_t memo; /* hashes of records already hashed in this walk */
};

static int shash_any(struct shash *h, const TVMFFIAny *v, uint64_t *out);

/* A map key's hash that does not depend on visiting order, or 0 when it has none (objects
 * other than strings and records hashed earlier in the walk: tvm-ffi leaves those keys out). */
static int shash_map_key(const struct shash *h, const TVMFFIAny *key, uint64_t *out)
{
	const char *s;
	size_t n;
	int kind = ffi_value_text(key, &s, &n);
	if (kind) {
		*out = text_hash(key, kind, s, n);
	} else if (key->type_index < FFI_STATIC_OBJECT_BEGIN) {
		*out = ffi_hash_combine((uint64_t)key->type_index, pod_bits(key));
	} else {
		return ffi_ptr_table_get(&h->memo, key->v_obj, out);
	}
	return 1;
}

struct keyed_value {
	uint64_t key_hash;
	const TVMFFIAny *value;
};

static int keyed_value_order(const void *a, const void *b)
{
	uint64_t x = ((const struct keyed_value *)a)->key_hash;
	uint64_t y = ((const struct keyed_value *)b)->key_hash;
	return x < y ? -1 : x > y;
}

/* Entries sorted by key hash; entries whose key hash ties with another's add only the key. */
static int shash_map(struct shash *h, const TVMFFIAny *v, uint64_t *out)
{
	const ffi_map_t *m = (const ffi_map_t *)v->v_obj;
	size_t count = ffi_map_size(m), num = 0, pos = 0;
	struct keyed_value *items = xcalloc(count ? count : 1, sizeof *items);
	const TVMFFIAny *key, *value;
	while (ffi_map_next(m, &pos, &key, &value))
		if (shash_map_key(h, key, &items[num].key_hash))
			items[num++].value = value;
	qsort(items, num, sizeof *items, keyed_value_order);
	uint64_t hash = ffi_hash_combine(type_hash(v->type_index), count);
	for (size_t i = 0; i < num;) {
		size_t k = i + 1;
		while (k < num && items[k].key_hash == items[i].key_hash)
			k++;
		hash = ffi_hash_combine(hash, items[i].key_hash);
		if (k == i + 1) {
			uint64_t vh;
			if (shash_any(h, items[i].value, &vh)) {
				free(items);
				return -1;
			}
			hash = ffi_hash_combine(hash, vh);
		}
		i = k;
	}
	free(items);
	*out = hash;
	return 0;
}

static int shash_tensor(struct shash *h, const DLTensor *t, uint64_t *out)
{
	uint64_t hash = ffi_hash_combine(type_hash(FFI_TENSOR), (uint64_t)(int64_t)t->ndim);
	for (int32_t i = 0; i < t->ndim; i++)
		hash = ffi_hash_combine(hash, (uint64_t)t->shape[i]);
	uint64_t dtype_bits = 0;
	memcpy(&dtype_bits, &t->dtype, sizeof t->dtype);
	hash = ffi_hash_combine(hash, dtype_bits);
	if (!h->skip_tensor_content) {
		if (tensor_data_check(t, "hash"))
			return -1;
		hash = ffi_hash_combine(hash, ffi_hash_bytes(tensor_data(t), tensor_data_size(t)));
	}
	*out = hash;
	return 0;
}

/* Objects StructuralHash cannot walk: no reflection at all, or a record type whose structural
 * kind tvm-ffi leaves unset. */
static int structural_unsupported(int32_t type_index)
{
	const ffi_record_type_t *t = ffi_record_type(type_index);
	if (t)
		ffi_error_set("TypeError", "_type_s_eq_hash_kind is not set for type `%s`, so "
			      "StructuralHash is not supported for this type", t->type_key);
	else
		ffi_error_set("TypeError", "Type metadata is not set for type `%s`, so "
			      "StructuralHash is not supported for this type",
			      ffi_type_key(type_index));
	return -1;
}

/* Reflected records: the type key hash folded with every field's hash. */
static int shash_record(struct shash *h, const TVMFFIAny *v, uint64_t *out)
{
	const ffi_record_type_t *t = ffi_record_type(v->type_index);
	if (!t || !t->structural)
		return structural_unsupported(v->type_index);
	const ffi_record_t *r = (const ffi_record_t *)v->v_obj;
	uint64_t hash, field;
	if (ffi_ptr_table_get(&h->memo, v->v_obj, out))
		return 0;
	hash = type_hash(v->type_index);
	for (int i = 0; i < t->num_fields; i++) {
		if (shash_any(h, &r->fields[i], &field))
			return -1;
		hash = ffi_hash_combine(hash, field);
	}
	ffi_ptr_table_put(&h->memo, v->v_obj, hash);
	*out = hash;
	return 0;
}

static int shash_object(struct shash *h, const TVMFFIAny *v, uint64_t *out)
{
	switch (v->type_index) {
	case FFI_ARRAY:
	case FFI_LIST: {
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		uint64_t hash = ffi_hash_combine(type_hash(v->type_index), a->size), item;
		for (size_t i = 0; i < a->size; i++) {
			if (shash_any(h, &a->items[i], &item))
				return -1;
			hash = ffi_hash_combine(hash, item);
		}
		*out = hash;
		return 0;
	}
	case FFI_MAP:
	case FFI_DICT:
		return shash_map(h, v, out);
	case FFI_SHAPE: {
		const ffi_shape_t *s = (const ffi_shape_t *)v->v_obj;
		uint64_t hash = ffi_hash_combine(type_hash(FFI_SHAPE), s->size);
		for (size_t i = 0; i < s->size; i++)
			hash = ffi_hash_combine(hash, (uint64_t)s->data[i]);
		*out = hash;
		return 0;
	}
	case FFI_TENSOR:
		return shash_tensor(h, &((const ffi_tensor_t *)v->v_obj)->dl, out);
	default:
		return shash_record(h, v, out);
	}
}

static int shash_any(struct shash *h, const TVMFFIAny *v, uint64_t *out)
{
	const char *s;
	size_t n;
	int kind = ffi_value_text(v, &s, &n);
	if (kind) {
		*out = text_hash(v, kind, s, n);
		return 0;
	}
	if (v->type_index == FFI_FLOAT && isnan(v->v_float64)) {
		TVMFFIAny canonical = ffi_any_float(NAN);
		*out = ffi_hash_combine(FFI_FLOAT, canonical.v_uint64);
		return 0;
	}
	if (ffi_value_type_index(v) < FFI_STATIC_OBJECT_BEGIN) {
		int32_t ti = ffi_value_type_index(v);
		*out = ffi_hash_combine((uint64_t)ti, ti == FFI_NONE ? 0 : pod_bits(v));
		return 0;
	}
	if (walk_enter(&h->walk))
		return -1;
	int rc = shash_object(h, v, out);
	h->walk.depth--;
	return rc;
}

int ffi_structural_hash(const TVMFFIAny *v, int skip_tensor_content, uint64_t *out)
{
	struct shash h = {.skip_tensor_content = skip_tensor_content};
	int rc = shash_any(&h, v, out);
	ffi_ptr_table_free(&h.memo);
	return rc;
}

/* ---- StructuralEqual and the first mismatch ---- */

struct access_step {
	int kind;
	TVMFFIAny key; /* owned */
};

/* The steps from a mismatch up to the root, innermost first. */
struct access_trail {
	struct access_step *steps;
	size_t size;
	size_t cap;
};

struct sequal {
	struct walk walk;
	int skip_tensor_content;
	struct access_trail *lhs; /* NULL unless the first mismatch is wanted */
	struct access_trail *rhs;
};

static void trail_push(struct access_trail *t, int kind, const TVMFFIAny *key)
{
	if (t->size == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->steps = xrealloc(t->steps, t->cap * sizeof *t->steps);
	}
	t->steps[t->size].kind = kind;
	if (ffi_any_to_owned(key, &t->steps[t->size].key))
		t->steps[t->size].key = ffi_any_none();
	t->size++;
}

static void trail_free(struct access_trail *t)
{
	for (size_t i = 0; i < t->size; i++)
		ffi_any_release(&t->steps[i].key);
	free(t->steps);
}

/* Record one step on both sides when the first mismatch is wanted. */
static void sequal_note(struct sequal *q, int lhs_kind, const TVMFFIAny *lhs_key, int rhs_kind,
			const TVMFFIAny *rhs_key)
{
	if (!q->lhs)
		return;
	trail_push(q->lhs, lhs_kind, lhs_key);
	trail_push(q->rhs, rhs_kind, rhs_key);
}

static int sequal_any(struct sequal *q, const TVMFFIAny *a, const TVMFFIAny *b);

static int sequal_sequence(struct sequal *q, const ffi_array_t *a, const ffi_array_t *b)
{
	if (a->size != b->size && !q->lhs)
		return 0;
	size_t n = a->size < b->size ? a->size : b->size;
	for (size_t i = 0; i < n; i++) {
		int eq = sequal_any(q, &a->items[i], &b->items[i]);
		if (eq == 0) {
			TVMFFIAny at = ffi_any_int((int64_t)i);
			sequal_note(q, FFI_ACCESS_ARRAY_ITEM, &at, FFI_ACCESS_ARRAY_ITEM, &at);
		}
		if (eq <= 0)
			return eq;
	}
	if (a->size == b->size)
		return 1;
	TVMFFIAny at = ffi_any_int((int64_t)n);
	if (a->size > b->size)
		sequal_note(q, FFI_ACCESS_ARRAY_ITEM, &at, FFI_ACCESS_ARRAY_ITEM_MISSING, &at);
	else
		sequal_note(q, FFI_ACCESS_ARRAY_ITEM_MISSING, &at, FFI_ACCESS_ARRAY_ITEM, &at);
	return 0;
}

static int sequal_map(struct sequal *q, const ffi_map_t *a, const ffi_map_t *b)
{
	if (ffi_map_size(a) != ffi_map_size(b) && !q->lhs)
		return 0;
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(a, &pos, &key, &value)) {
		const TVMFFIAny *other = ffi_map_get(b, key);
		if (!other) {
			sequal_note(q, FFI_ACCESS_MAP_ITEM, key, FFI_ACCESS_MAP_ITEM_MISSING, key);
			return 0;
		}
		int eq = sequal_any(q, value, other);
		if (eq == 0)
			sequal_note(q, FFI_ACCESS_MAP_ITEM, key, FFI_ACCESS_MAP_ITEM, key);
		if (eq <= 0)
			return eq;
	}
	if (ffi_map_size(a) == ffi_map_size(b))
		return 1;
	pos = 0;
	while (ffi_map_next(b, &pos, &key, &value)) {
		if (!ffi_map_get(a, key)) {
			sequal_note(q, FFI_ACCESS_MAP_ITEM_MISSING, key, FFI_ACCESS_MAP_ITEM, key);
			return 0;
		}
	}
	return 0;
}

static int sequal_tensor(struct sequal *q, const DLTensor *a, const DLTensor *b)
{
	if (a == b)
		return 1;
	if (a->ndim != b->ndim)
		return 0;
	for (int32_t i = 0; i < a->ndim; i++)
		if (a->shape[i] != b->shape[i])
			return 0;
	if (memcmp(&a->dtype, &b->dtype, sizeof a->dtype) != 0)
		return 0;
	if (q->skip_tensor_content)
		return 1;
	if (tensor_data_check(a, "compare") || tensor_data_check(b, "compare"))
		return -1;
	return memcmp(tensor_data(a), tensor_data(b), tensor_data_size(a)) == 0;
}

/* Records of one type: field by field, a mismatch noted as an attribute step. */
static int sequal_record(struct sequal *q, const TVMFFIAny *a, const TVMFFIAny *b)
{
	const ffi_record_type_t *t = ffi_record_type(a->type_index);
	if (!t || !t->structural)
		return structural_unsupported(a->type_index);
	const ffi_record_t *x = (const ffi_record_t *)a->v_obj, *y = (const ffi_record_t *)b->v_obj;
	for (int i = 0; i < t->num_fields; i++) {
		int eq = sequal_any(q, &x->fields[i], &y->fields[i]);
		if (eq == 0) {
			TVMFFIAny name = ffi_json_str_value(t->fields[i].name,
							    strlen(t->fields[i].name));
			sequal_note(q, FFI_ACCESS_ATTR, &name, FFI_ACCESS_ATTR, &name);
			ffi_any_release(&name);
		}
		if (eq <= 0)
			return eq;
	}
	return 1;
}

static int sequal_object(struct sequal *q, const TVMFFIAny *a, const TVMFFIAny *b)
{
	switch (a->type_index) {
	case FFI_ARRAY:
	case FFI_LIST:
		return sequal_sequence(q, (const ffi_array_t *)a->v_obj,
				       (const ffi_array_t *)b->v_obj);
	case FFI_MAP:
	case FFI_DICT:
		return sequal_map(q, (const ffi_map_t *)a->v_obj, (const ffi_map_t *)b->v_obj);
	case FFI_SHAPE: {
		const ffi_shape_t *x = (const ffi_shape_t *)a->v_obj;
		const ffi_shape_t *y = (const ffi_shape_t *)b->v_obj;
		return x->size == y->size &&
		       (x->size == 0 || memcmp(x->data, y->data, x->size * sizeof(int64_t)) == 0);
	}
	case FFI_TENSOR:
		return sequal_tensor(q, &((const ffi_tensor_t *)a->v_obj)->dl,
				     &((const ffi_tensor_t *)b->v_obj)->dl);
	default:
		return sequal_record(q, a, b);
	}
}

/* 1 equal, 0 different, -1 error. */
static int sequal_any(struct sequal *q, const TVMFFIAny *a, const TVMFFIAny *b)
{
	const char *s, *t;
	size_t n, m;
	int kind_a = ffi_value_text(a, &s, &n), kind_b = ffi_value_text(b, &t, &m);
	if (kind_a || kind_b)
		return kind_a == kind_b && n == m && (n == 0 || memcmp(s, t, n) == 0);
	int32_t ta = ffi_value_type_index(a), tb = ffi_value_type_index(b);
	if (ta != tb)
		return 0;
	if (ta < FFI_STATIC_OBJECT_BEGIN) {
		if (ta == FFI_FLOAT && isnan(a->v_float64))
			return isnan(b->v_float64);
		return ta == FFI_NONE || pod_bits(a) == pod_bits(b);
	}
	if (walk_enter(&q->walk))
		return -1;
	int rc = sequal_object(q, a, b);
	q->walk.depth--;
	return rc;
}

int ffi_structural_equal(const TVMFFIAny *a, const TVMFFIAny *b, int skip_tensor_content)
{
	struct sequal q = {.skip_tensor_content = skip_tensor_content};
	return sequal_any(&q, a, b);
}

/* The AccessPath of a trail, root first. */
static TVMFFIAny trail_path(const struct access_trail *t)
{
	ffi_record_t *path = ffi_access_path_root();
	for (size_t i = t->size; i > 0; i--) {
		ffi_record_t *next = ffi_access_path_extend(path, t->steps[i - 1].kind,
							    &t->steps[i - 1].key);
		ffi_object_release(&path->header);
		path = next;
	}
	return ffi_any_object(&path->header);
}

/* None when equal, else the Array (lhs path, rhs path) of the first difference. */
int ffi_structural_first_mismatch(const TVMFFIAny *a, const TVMFFIAny *b,
				  int skip_tensor_content, TVMFFIAny *out)
{
	struct access_trail lhs = {0}, rhs = {0};
	struct sequal q = {.skip_tensor_content = skip_tensor_content, .lhs = &lhs, .rhs = &rhs};
	int eq = sequal_any(&q, a, b);
	*out = ffi_any_none();
	if (eq == 0) {
		ffi_array_t *pair = ffi_array_new();
		ffi_array_push(pair, trail_path(&lhs));
		ffi_array_push(pair, trail_path(&rhs));
		*out = ffi_any_object(&pair->header);
	}
	trail_free(&lhs);
	trail_free(&rhs);
	return eq < 0 ? -1 : 0;
}

/* ---- RecursiveHash ---- */

struct rhash {
	struct walk walk;
	ffi_ptr_table_t memo;
	const TVMFFIObject *open[FFI_NEST_MAX + 1]; /* objects being hashed, outermost first */
};

static int rhash_any(struct rhash *h, const TVMFFIAny *v, uint64_t *out);

static int keyed_value_order_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t rhash_pod(const TVMFFIAny *v, int32_t ti)
{
	uint64_t bits;
	switch (ti) {
	case FFI_NONE:
		return ffi_hash_combine(0, 0);
	case FFI_FLOAT: {
		double x = isnan(v->v_float64) ? NAN : v->v_float64 == 0.0 ? 0.0 : v->v_float64;
		memcpy(&bits, &x, sizeof bits);
		return ffi_hash_combine(FFI_FLOAT, bits);
	}
	case FFI_DATATYPE:
		bits = ffi_hash_combine(FFI_DATATYPE, v->v_dtype.code);
		bits = ffi_hash_combine(bits, v->v_dtype.bits);
		return ffi_hash_combine(bits, v->v_dtype.lanes);
	case FFI_DEVICE:
		bits = ffi_hash_combine(FFI_DEVICE, (uint64_t)(int64_t)v->v_device.device_type);
		return ffi_hash_combine(bits, (uint64_t)(int64_t)v->v_device.device_id);
	default:
		return ffi_hash_combine((uint64_t)ti, pod_bits(v));
	}
}

static int rhash_children(struct rhash *h, const TVMFFIAny *v, uint64_t *out)
{
	uint64_t hash = type_hash(v->type_index), item;
	if (v->type_index == FFI_ARRAY || v->type_index == FFI_LIST) {
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		hash = ffi_hash_combine(hash, a->size);
		for (size_t i = 0; i < a->size; i++) {
			if (rhash_any(h, &a->items[i], &item))
				return -1;
			hash = ffi_hash_combine(hash, ffi_hash_combine(item, i));
		}
	} else if (v->type_index == FFI_MAP || v->type_index == FFI_DICT) {
		const ffi_map_t *m = (const ffi_map_t *)v->v_obj;
		size_t count = ffi_map_size(m), num = 0, pos = 0;
		uint64_t *entries = xcalloc(count ? count : 1, sizeof *entries), kh, vh;
		const TVMFFIAny *key, *value;
		while (ffi_map_next(m, &pos, &key, &value)) {
			if (rhash_any(h, key, &kh) || rhash_any(h, value, &vh)) {
				free(entries);
				return -1;
			}
			entries[num++] = ffi_hash_combine(kh, vh);
		}
		qsort(entries, num, sizeof *entries, keyed_value_order_u64);
		hash = ffi_hash_combine(hash, count);
		for (size_t i = 0; i < num; i++)
			hash = ffi_hash_combine(hash, entries[i]);
		free(entries);
	} else if (ffi_record_type(v->type_index)) {
		const ffi_record_t *r = (const ffi_record_t *)v->v_obj;
		for (int i = 0; i < ffi_record_type(v->type_index)->num_fields; i++) {
			if (rhash_any(h, &r->fields[i], &item))
				return -1;
			hash = ffi_hash_combine(hash, item);
		}
	}
	*out = hash; /* functions, modules, tensors: no reflected fields, the type alone */
	return 0;
}

static int rhash_any(struct rhash *h, const TVMFFIAny *v, uint64_t *out)
{
	const char *s;
	size_t n;
	int kind = ffi_value_text(v, &s, &n);
	if (kind) {
		*out = ffi_hash_combine(kind == FFI_TEXT_STR ? FFI_STR : FFI_BYTES,
					ffi_hash_bytes(s, n));
		return 0;
	}
	int32_t ti = ffi_value_type_index(v);
	if (ti < FFI_STATIC_OBJECT_BEGIN) {
		*out = rhash_pod(v, ti);
		return 0;
	}
	if (ffi_ptr_table_get(&h->memo, v->v_obj, out))
		return 0;
	for (int i = 0; i < h->walk.depth; i++) {
		if (h->open[i] == v->v_obj) {
			*out = type_hash(ti);
			return 0;
		}
	}
	if (ti == FFI_SHAPE) {
		ffi_structural_hash(v, 0, out); /* a Shape: the same formula as StructuralHash */
		ffi_ptr_table_put(&h->memo, v->v_obj, *out);
		return 0;
	}
	if (walk_enter(&h->walk))
		return -1;
	h->open[h->walk.depth - 1] = v->v_obj;
	int rc = rhash_children(h, v, out);
	h->walk.depth--;
	if (rc == 0)
		ffi_ptr_table_put(&h->memo, v->v_obj, *out);
	return rc;
}

int ffi_recursive_hash(const TVMFFIAny *v, uint64_t *out)
{
	struct rhash *h = xcalloc(1, sizeof *h);
	int rc = rhash_any(h, v, out);
	ffi_ptr_table_free(&h->memo);
	free(h);
	return rc;
}

/* ---- RecursiveEq / Lt / Le / Gt / Ge ---- */

struct rcmp {
	struct walk walk;
	int eq_only;
	int open_maps; /* Map/Dict levels on the current path: their order is undefined */
	const TVMFFIObject *open[FFI_NEST_MAX + 1][2];
};

static int rcmp_any(struct rcmp *c, const TVMFFIAny *a, const TVMFFIAny *b, int *out);

static int sign_of(int64_t x)
{
	return x < 0 ? -1 : x > 0;
}

static int rcmp_text(const char *s, size_t n, const char *t, size_t m)
{
	int r = memcmp(s, t, n < m ? n : m);
	if (r == 0 && n != m)
		return n < m ? -1 : 1;
	return sign_of(r);
}

static int rcmp_unordered(struct rcmp *c, int *out, const char *fmt, const char *key)
{
	if (c->eq_only) {
		*out = 1;
		return 0;
	}
	ffi_error_set("TypeError", fmt, key);
	return -1;
}

static int rcmp_pod(struct rcmp *c, const TVMFFIAny *a, const TVMFFIAny *b, int32_t ti, int *out)
{
	switch (ti) {
	case FFI_BOOL:
		*out = (a->v_int64 != 0) - (b->v_int64 != 0);
		return 0;
	case FFI_INT:
		*out = a->v_int64 < b->v_int64 ? -1 : a->v_int64 > b->v_int64;
		return 0;
	case FFI_FLOAT: {
		double x = a->v_float64, y = b->v_float64;
		if (isnan(x) || isnan(y)) {
			if (isnan(x) && isnan(y) && c->eq_only) {
				*out = 0;
				return 0;
			}
			return rcmp_unordered(c, out, "Cannot order NaN values%s", "");
		}
		*out = x < y ? -1 : x > y;
		return 0;
	}
	case FFI_DATATYPE: {
		DLDataType x = a->v_dtype, y = b->v_dtype;
		*out = x.code != y.code ? (x.code < y.code ? -1 : 1)
		     : x.bits != y.bits ? (x.bits < y.bits ? -1 : 1)
		     : x.lanes != y.lanes ? (x.lanes < y.lanes ? -1 : 1) : 0;
		return 0;
	}
	case FFI_DEVICE: {
		DLDevice x = a->v_device, y = b->v_device;
		*out = x.device_type != y.device_type ? (x.device_type < y.device_type ? -1 : 1)
		     : x.device_id != y.device_id ? (x.device_id < y.device_id ? -1 : 1) : 0;
		return 0;
	}
	default:
		if (pod_bits(a) == pod_bits(b)) {
			*out = 0;
			return 0;
		}
		return rcmp_unordered(c, out, "Cannot order values of type %s",
				      ffi_type_key(ti));
	}
}

static int rcmp_shape(const ffi_shape_t *x, const ffi_shape_t *y)
{
	size_t n = x->size < y->size ? x->size : y->size;
	for (size_t i = 0; i < n; i++)
		if (x->data[i] != y->data[i])
			return x->data[i] < y->data[i] ? -1 : 1;
	return x->size < y->size ? -1 : x->size > y->size;
}

/* A child answered `r`: a difference under a Map/Dict level cannot be ordered. */
static int rcmp_child_result(struct rcmp *c, int r)
{
	if (r != 0 && !c->eq_only && c->open_maps > 0) {
		ffi_error_set("TypeError", "Cannot order Map/Dict values");
		return -1;
	}
	return 0;
}

static int rcmp_sequences(struct rcmp *c, const ffi_array_t *a, const ffi_array_t *b, int *out)
{
	size_t n = a->size < b->size ? a->size : b->size;
	for (size_t i = 0; i < n; i++) {
		if (rcmp_any(c, &a->items[i], &b->items[i], out) || rcmp_child_result(c, *out))
			return -1;
		if (*out != 0)
			return 0;
	}
	*out = a->size < b->size ? -1 : a->size > b->size;
	return 0;
}

static int rcmp_maps(struct rcmp *c, const ffi_map_t *a, const ffi_map_t *b, int *out)
{
	if (ffi_map_size(a) != ffi_map_size(b))
		return rcmp_unordered(c, out, "Cannot order Map/Dict values%s", "");
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(a, &pos, &key, &value))
		if (!ffi_map_get(b, key))
			return rcmp_unordered(c, out, "Cannot order Map/Dict values%s", "");
	c->open_maps++;
	pos = 0;
	*out = 0;
	while (ffi_map_next(a, &pos, &key, &value)) {
		if (rcmp_any(c, value, ffi_map_get(b, key), out) || rcmp_child_result(c, *out)) {
			c->open_maps--;
			return -1;
		}
		if (*out != 0)
			break;
	}
	c->open_maps--;
	return 0;
}

/* Records of one type compare field by field; other objects have no fields and are equal. */
static int rcmp_records(struct rcmp *c, const TVMFFIAny *a, const TVMFFIAny *b, int *out)
{
	const ffi_record_type_t *t = ffi_record_type(a->type_index);
	*out = 0;
	for (int i = 0; t && i < t->num_fields; i++) {
		const ffi_record_t *x = (const ffi_record_t *)a->v_obj;
		const ffi_record_t *y = (const ffi_record_t *)b->v_obj;
		if (rcmp_any(c, &x->fields[i], &y->fields[i], out) || rcmp_child_result(c, *out))
			return -1;
		if (*out != 0)
			return 0;
	}
	return 0;
}

static int rcmp_objects(struct rcmp *c, const TVMFFIAny *a, const TVMFFIAny *b, int *out)
{
	for (int i = 0; i < c->walk.depth; i++) {
		if (c->open[i][0] == a->v_obj && c->open[i][1] == b->v_obj) {
			if (c->eq_only) {
				*out = 0;
				return 0;
			}
			ffi_error_set("ValueError",
				      "RecursiveCompare: cyclic reference detected in ordering");
			return -1;
		}
	}
	if (walk_enter(&c->walk))
		return -1;
	c->open[c->walk.depth - 1][0] = a->v_obj;
	c->open[c->walk.depth - 1][1] = b->v_obj;
	int rc;
	*out = 0; /* objects without reflected fields (functions, modules...) are equal */
	if (a->type_index == FFI_ARRAY || a->type_index == FFI_LIST)
		rc = rcmp_sequences(c, (const ffi_array_t *)a->v_obj, (const ffi_array_t *)b->v_obj,
				    out);
	else if (a->type_index == FFI_MAP || a->type_index == FFI_DICT)
		rc = rcmp_maps(c, (const ffi_map_t *)a->v_obj, (const ffi_map_t *)b->v_obj, out);
	else
		rc = rcmp_records(c, a, b, out);
	c->walk.depth--;
	return rc;
}

static int rcmp_any(struct rcmp *c, const TVMFFIAny *a, const TVMFFIAny *b, int *out)
{
	int32_t ta = ffi_value_type_index(a), tb = ffi_value_type_index(b);
	if (ta == FFI_NONE || tb == FFI_NONE) {
		*out = (ta != FFI_NONE) - (tb != FFI_NONE);
		return 0;
	}
	const char *s, *t;
	size_t n, m;
	int kind_a = ffi_value_text(a, &s, &n), kind_b = ffi_value_text(b, &t, &m);
	if (kind_a && kind_a == kind_b) {
		*out = rcmp_text(s, n, t, m);
		return 0;
	}
	if (ta != tb) {
		if (c->eq_only) {
			*out = 1;
			return 0;
		}
		ffi_error_set("TypeError", "Cannot compare values of different types: %s vs %s",
			      ffi_type_key(ta), ffi_type_key(tb));
		return -1;
	}
	if (ta < FFI_STATIC_OBJECT_BEGIN)
		return rcmp_pod(c, a, b, ta, out);
	if (a->v_obj == b->v_obj) {
		*out = 0;
		return 0;
	}
	if (ta == FFI_SHAPE) {
		*out = rcmp_shape((const ffi_shape_t *)a->v_obj, (const ffi_shape_t *)b->v_obj);
		return 0;
	}
	return rcmp_objects(c, a, b, out);
}

/* Three-way recursive comparison; eq_only answers 0 (equal) or 1 and never raises for
 * values that have no order. */
int ffi_recursive_compare(const TVMFFIAny *a, const TVMFFIAny *b, int eq_only, int *out)
{
	struct rcmp *c = xcalloc(1, sizeof *c);
	c->eq_only = eq_only;
	int rc = rcmp_any(c, a, b, out);
	free(c);
	return rc;
}

/* ---- DeepCopy ---- */

/* Lists and Dicts are registered in `copies` before their children are copied, so cycles
 * through them resolve to the copy; Arrays and Maps are built after their children, and a
 * reference back to one still being copied keeps the original until the fix-up pass. */
struct deep_copy {
	struct walk walk;
	ffi_ptr_table_t copies;  /* original object -> its copy (a reference held here) */
	ffi_ptr_table_t pending; /* Arrays and Maps being copied */
	int deferred;
};

static int copy_any(struct deep_copy *d, const TVMFFIAny *v, TVMFFIAny *out);

static TVMFFIAny copy_known(const TVMFFIObject *copy)
{
	TVMFFIAny v = ffi_any_object((TVMFFIObject *)copy);
	ffi_any_retain(&v);
	return v;
}

static void copy_register(struct deep_copy *d, const TVMFFIObject *orig, TVMFFIAny copy)
{
	ffi_any_retain(&copy);
	ffi_ptr_table_put(&d->copies, orig, (uint64_t)(uintptr_t)copy.v_obj);
}

static int copy_sequence(struct deep_copy *d, const TVMFFIAny *v, TVMFFIAny *out)
{
	const ffi_array_t *src = (const ffi_array_t *)v->v_obj;
	int is_list = v->type_index == FFI_LIST;
	ffi_array_t *dst = is_list ? ffi_list_new() : ffi_array_new();
	TVMFFIAny result = ffi_any_object(&dst->header);
	if (is_list)
		copy_register(d, v->v_obj, result);
	else
		ffi_ptr_table_put(&d->pending, v->v_obj, 1);
	for (size_t i = 0; i < src->size; i++) {
		TVMFFIAny item;
		if (copy_any(d, &src->items[i], &item)) {
			ffi_any_release(&result);
			return -1;
		}
		ffi_array_push(dst, item);
	}
	if (!is_list) {
		ffi_ptr_table_put(&d->pending, v->v_obj, 0);
		copy_register(d, v->v_obj, result);
	}
	*out = result;
	return 0;
}

static int copy_map(struct deep_copy *d, const TVMFFIAny *v, TVMFFIAny *out)
{
	const ffi_map_t *src = (const ffi_map_t *)v->v_obj;
	int is_dict = v->type_index == FFI_DICT;
	ffi_map_t *dst = ffi_map_new(v->type_index);
	TVMFFIAny result = ffi_any_object(ffi_map_object(dst));
	if (is_dict)
		copy_register(d, v->v_obj, result);
	else
		ffi_ptr_table_put(&d->pending, v->v_obj, 1);
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(src, &pos, &key, &value)) {
		TVMFFIAny k, val;
		if (copy_any(d, key, &k)) {
			ffi_any_release(&result);
			return -1;
		}
		if (copy_any(d, value, &val)) {
			ffi_any_release(&k);
			ffi_any_release(&result);
			return -1;
		}
		if (ffi_map_set(dst, k, val)) {
			ffi_any_release(&result);
			return -1;
		}
	}
	if (!is_dict) {
		ffi_ptr_table_put(&d->pending, v->v_obj, 0);
		copy_register(d, v->v_obj, result);
	}
	*out = result;
	return 0;
}

/* Records are copied like Lists: registered first, so a field pointing back finds the copy. */
static int copy_record(struct deep_copy *d, const TVMFFIAny *v, TVMFFIAny *out)
{
	const ffi_record_t *src = (const ffi_record_t *)v->v_obj;
	ffi_record_t *dst = ffi_record_new(v->type_index);
	TVMFFIAny result = ffi_any_object(&dst->header);
	copy_register(d, v->v_obj, result);
	if (walk_enter(&d->walk)) {
		ffi_any_release(&result);
		return -1;
	}
	for (int i = 0; i < ffi_record_type(v->type_index)->num_fields; i++) {
		ffi_any_release(&dst->fields[i]);
		if (copy_any(d, &src->fields[i], &dst->fields[i])) {
			ffi_any_release(&result);
			return -1;
		}
	}
	d->walk.depth--;
	*out = result;
	return 0;
}

static int copy_any(struct deep_copy *d, const TVMFFIAny *v, TVMFFIAny *out)
{
	uint64_t found;
	int32_t ti = ffi_value_type_index(v);
	if (ti < FFI_STATIC_OBJECT_BEGIN || ti == FFI_STR || ti == FFI_BYTES || ti == FFI_SHAPE)
		return ffi_any_to_owned(v, out);
	if (ffi_ptr_table_get(&d->copies, v->v_obj, &found)) {
		*out = copy_known((const TVMFFIObject *)(uintptr_t)found);
		return 0;
	}
	if (ffi_ptr_table_get(&d->pending, v->v_obj, &found) && found) {
		d->deferred = 1;
		return ffi_any_to_owned(v, out);
	}
	if (ffi_record_type(ti))
		return copy_record(d, v, out);
	if (ti != FFI_ARRAY && ti != FFI_LIST && ti != FFI_MAP && ti != FFI_DICT) {
		ffi_error_set("InternalError",
			      "Check failed: ((*column_)[ti] != nullptr) is false: Cannot deep "
			      "copy object of type \"%s\" because it is not copy-constructible",
			      ffi_type_key(ti));
		return -1;
	}
	if (walk_enter(&d->walk))
		return -1;
	int rc = ti == FFI_ARRAY || ti == FFI_LIST ? copy_sequence(d, v, out) : copy_map(d, v, out);
	d->walk.depth--;
	return rc;
}

/* The copy of an original that was still being built when it was referenced, or NULL. */
static const TVMFFIObject *copy_lookup(struct deep_copy *d, const TVMFFIAny *v)
{
	uint64_t found;
	if (!ffi_any_is_object(v) || !ffi_ptr_table_get(&d->copies, v->v_obj, &found))
		return NULL;
	const TVMFFIObject *copy = (const TVMFFIObject *)(uintptr_t)found;
	return copy == v->v_obj ? NULL : copy;
}

static void copy_fix_list(struct deep_copy *d, ffi_array_t *list)
{
	for (size_t i = 0; i < list->size; i++) {
		const TVMFFIObject *copy = copy_lookup(d, &list->items[i]);
		if (copy) {
			ffi_any_release(&list->items[i]);
			list->items[i] = copy_known(copy);
		}
	}
}

static void copy_fix_dict(struct deep_copy *d, ffi_map_t *dict)
{
	size_t count = ffi_map_size(dict), num = 0, pos = 0;
	TVMFFIAny *fixes = xcalloc(count ? count * 3 : 1, sizeof *fixes);
	const TVMFFIAny *key, *value;
	while (ffi_map_next(dict, &pos, &key, &value)) {
		const TVMFFIObject *new_key = copy_lookup(d, key);
		const TVMFFIObject *new_value = copy_lookup(d, value);
		if (!new_key && !new_value)
			continue;
		ffi_any_to_owned(key, &fixes[num]);
		fixes[num + 1] = new_key ? copy_known(new_key) : fixes[num];
		if (!new_key)
			ffi_any_retain(&fixes[num + 1]);
		if (new_value)
			fixes[num + 2] = copy_known(new_value);
		else
			ffi_any_to_owned(value, &fixes[num + 2]);
		num += 3;
	}
	for (size_t i = 0; i < num; i += 3) {
		ffi_map_erase(dict, &fixes[i]);
		ffi_any_release(&fixes[i]);
		ffi_map_set(dict, fixes[i + 1], fixes[i + 2]);
	}
	free(fixes);
}

static void copy_fix_record(struct deep_copy *d, ffi_record_t *r)
{
	for (int i = 0; i < FFI_RECORD_MAX_FIELDS; i++) {
		const TVMFFIObject *copy = copy_lookup(d, &r->fields[i]);
		if (copy) {
			ffi_any_release(&r->fields[i]);
			r->fields[i] = copy_known(copy);
		}
	}
}

static void copy_fix_deferred(struct deep_copy *d)
{
	for (size_t i = 0; i < d->copies.cap; i++) {
		if (!d->copies.keys[i])
			continue;
		TVMFFIObject *copy = (TVMFFIObject *)(uintptr_t)d->copies.values[i];
		if (copy->type_index == FFI_LIST)
			copy_fix_list(d, (ffi_array_t *)copy);
		else if (ffi_record_type(copy->type_index))
			copy_fix_record(d, (ffi_record_t *)copy);
		else if (copy->type_index == FFI_DICT)
			copy_fix_dict(d, (ffi_map_t *)copy);
	}
}

int ffi_deep_copy(const TVMFFIAny *v, TVMFFIAny *out)
{
	struct deep_copy d = {0};
	int rc = copy_any(&d, v, out);
	if (rc == 0 && d.deferred)
		copy_fix_deferred(&d);
	for (size_t i = 0; i < d.copies.cap; i++)
		if (d.copies.keys[i])
			ffi_object_release((TVMFFIObject *)(uintptr_t)d.copies.values[i]);
	ffi_ptr_table_free(&d.copies);
	ffi_ptr_table_free(&d.pending);
	return rc;
}

/* ---- globals ---- */

static int global_structural_equal(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.StructuralEqual(0: Any, 1: Any, 2: bool, 3: bool) -> bool";
	int map_free_vars, skip_tensor_content;
	if (ffi_arg_count(sig, n, 4) || ffi_json_arg_bool(sig, args, 2, &map_free_vars) ||
	    ffi_json_arg_bool(sig, args, 3, &skip_tensor_content))
		return -1;
	int eq = ffi_structural_equal(&args[0], &args[1], skip_tensor_content);
	if (eq < 0)
		return -1;
	*result = ffi_any_bool(eq);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.StructuralEqual", global_structural_equal)

static int global_structural_hash(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.StructuralHash(0: Any, 1: bool, 2: bool) -> int";
	int map_free_vars, skip_tensor_content;
	uint64_t hash;
	if (ffi_arg_count(sig, n, 3) || ffi_json_arg_bool(sig, args, 1, &map_free_vars) ||
	    ffi_json_arg_bool(sig, args, 2, &skip_tensor_content) ||
	    ffi_structural_hash(&args[0], skip_tensor_content, &hash))
		return -1;
	*result = ffi_any_int((int64_t)hash);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.StructuralHash", global_structural_hash)

static int global_recursive_hash(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	uint64_t hash;
	if (ffi_arg_count("ffi.RecursiveHash(0: Any) -> int", n, 1) ||
	    ffi_recursive_hash(&args[0], &hash))
		return -1;
	*result = ffi_any_int((int64_t)hash);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.RecursiveHash", global_recursive_hash)

/* RecursiveEq/Lt/Le/Gt/Ge: the three-way answer against the relation's accepted signs. */
static int recursive_relation(const char *sig, int eq_only, int accept_lt, int accept_eq,
			      int accept_gt, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	int cmp;
	if (ffi_arg_count(sig, n, 2) ||
	    ffi_recursive_compare(&args[0], &args[1], eq_only, &cmp))
		return -1;
	*result = ffi_any_bool(cmp < 0 ? accept_lt : cmp == 0 ? accept_eq : accept_gt);
	return 0;
}

static int global_recursive_eq(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return recursive_relation("ffi.RecursiveEq(0: Any, 1: Any) -> bool", 1, 0, 1, 0, args, n,
				  result);
}
FFI_REGISTER_GLOBAL("ffi.RecursiveEq", global_recursive_eq)

static int global_recursive_lt(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return recursive_relation("ffi.RecursiveLt(0: Any, 1: Any) -> bool", 0, 1, 0, 0, args, n,
				  result);
}
FFI_REGISTER_GLOBAL("ffi.RecursiveLt", global_recursive_lt)

static int global_recursive_le(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return recursive_relation("ffi.RecursiveLe(0: Any, 1: Any) -> bool", 0, 1, 1, 0, args, n,
				  result);
}
FFI_REGISTER_GLOBAL("ffi.RecursiveLe", global_recursive_le)

static int global_recursive_gt(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return recursive_relation("ffi.RecursiveGt(0: Any, 1: Any) -> bool", 0, 0, 0, 1, args, n,
				  result);
}
FFI_REGISTER_GLOBAL("ffi.RecursiveGt", global_recursive_gt)

static int global_recursive_ge(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return recursive_relation("ffi.RecursiveGe(0: Any, 1: Any) -> bool", 0, 0, 1, 1, args, n,
				  result);
}
FFI_REGISTER_GLOBAL("ffi.RecursiveGe", global_recursive_ge)

static int global_deep_copy(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("ffi.DeepCopy(0: Any) -> Any", n, 1))
		return -1;
	return ffi_deep_copy(&args[0], result);
}
FFI_REGISTER_GLOBAL("ffi.DeepCopy", global_deep_copy)

static int global_first_mismatch(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.GetFirstStructuralMismatch(0: Any, 1: Any, 2: bool, 3: bool) -> "
			  "Optional<Tuple<ffi.reflection.AccessPath, ffi.reflection.AccessPath>>";
	int map_free_vars, skip_tensor_content;
	if (ffi_arg_count(sig, n, 4) || ffi_json_arg_bool(sig, args, 2, &map_free_vars) ||
	    ffi_json_arg_bool(sig, args, 3, &skip_tensor_content))
		return -1;
	return ffi_structural_first_mismatch(&args[0], &args[1], skip_tensor_content, result);
}
FFI_REGISTER_GLOBAL("ffi.GetFirstStructuralMismatch", global_first_mismatch)

/* ffi.StructuralKey(key): the key with its structural hash, compared structurally. */
static int global_structural_key(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	uint64_t hash;
	if (ffi_arg_count("ffi.StructuralKey(0: Any) -> ffi.StructuralKey", n, 1) ||
	    ffi_structural_hash(&args[0], 0, &hash))
		return -1;
	ffi_record_t *key = ffi_record_new(FFI_STRUCTURAL_KEY);
	if (ffi_any_to_owned(&args[0], &key->fields[0])) {
		key->fields[0] = ffi_any_none();
		ffi_object_release(&key->header);
		return -1;
	}
	key->fields[1] = ffi_any_int((int64_t)hash);
	*result = ffi_any_object(&key->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.StructuralKey", global_structural_key)

/* tvm-ffi's Any::same_as: the same object, or the same POD bits. */
static int same_as(const TVMFFIAny *a, const TVMFFIAny *b)
{
	int32_t ta = ffi_value_type_index(a), tb = ffi_value_type_index(b);
	if (ta != tb)
		return 0;
	if (ta >= FFI_STATIC_OBJECT_BEGIN)
		return a->v_obj == b->v_obj;
	const char *s, *t;
	size_t n, m;
	if (ffi_value_text(a, &s, &n)) /* small strings and bytes: their inline bytes */
		return ffi_value_text(b, &t, &m) && n == m && memcmp(s, t, n) == 0;
	return ta == FFI_NONE || pod_bits(a) == pod_bits(b);
}

static int global_structural_key_equal(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("ffi.StructuralKeyEqual(0: Any, 1: Any) -> bool", n, 2))
		return -1;
	if (same_as(&args[0], &args[1])) {
		*result = ffi_any_bool(1);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		if (args[i].type_index != FFI_STRUCTURAL_KEY) {
			ffi_error_set("InternalError", "Check not null: %s_obj ",
				      i ? "rhs" : "lhs");
			return -1;
		}
	}
	const ffi_record_t *x = (const ffi_record_t *)args[0].v_obj;
	const ffi_record_t *y = (const ffi_record_t *)args[1].v_obj;
	int eq = x->fields[1].v_int64 == y->fields[1].v_int64
			 ? ffi_structural_equal(&x->fields[0], &y->fields[0], 0)
			 : 0;
	if (eq < 0)
		return -1;
	*result = ffi_any_bool(eq);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.StructuralKeyEqual", global_structural_key_equal)

/* ffi.VisitInterrupt(value): the record a walk callback answers to stop a walk. */
static int global_visit_interrupt(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("ffi.VisitInterrupt(0: Any) -> ffi.VisitInterrupt", n, 1))
		return -1;
	ffi_record_t *r = ffi_record_new(FFI_VISIT_INTERRUPT);
	if (ffi_any_to_owned(&args[0], &r->fields[0])) {
		r->fields[0] = ffi_any_none();
		ffi_object_release(&r->header);
		return -1;
	}
	*result = ffi_any_object(&r->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.VisitInterrupt", global_visit_interrupt)

/* Globals that only make sense with the caller's Python classes or reflected object types. */
FFI_REGISTER_REFUSED("ffi.MakeFieldGetter", make_field_getter, "RuntimeError",
		     "it returns the address of an in-process field getter for Python-defined "
		     "classes")
FFI_REGISTER_REFUSED("ffi.MakeFieldSetter", make_field_setter, "RuntimeError",
		     "it takes function addresses of the caller's Python type converter")
FFI_REGISTER_REFUSED("ffi._PyClassRegisterTypeAttrColumns", py_class_register, "RuntimeError",
		     "it registers constructors of Python-defined classes by type index")
FFI_REGISTER_REFUSED("ffi._RegisterFFIInit", register_ffi_init, "RuntimeError",
		     "it registers an __ffi_init__ for a reflected (Python-defined) type")
