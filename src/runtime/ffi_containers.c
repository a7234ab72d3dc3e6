/* The containers of the object model: List (the Array layout under its own type index), Map and
 * Dict (one insertion-ordered hash map), the value equality and hash they key on, and the table
 * of tvm-ffi type keys. The remote globals over them live in ffi_globals_containers.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_structural.h"
#include "base/xalloc.h"

/* ---- type keys ---- */

struct type_key {
	int32_t index;
	const char *key;
};

/* tvm-ffi's names (StaticTypeKey, and TVM's keys for the runtime objects we have), in index
 * order: ffi.GetRegisteredTypeKeys lists them in this order. A new object type of ours gets its
 * row here. */
static const struct type_key type_keys[] = {
	{FFI_NONE, "None"},
	{FFI_INT, "int"},
	{FFI_BOOL, "bool"},
	{FFI_FLOAT, "float"},
	{FFI_OPAQUE_PTR, "void*"},
	{FFI_DATATYPE, "DataType"},
	{FFI_DEVICE, "Device"},
	{FFI_DLTENSOR_PTR, "DLTensor*"},
	{FFI_RAW_STR, "const char*"},
	{FFI_BYTE_ARRAY_PTR, "TVMFFIByteArray*"},
	{FFI_OBJECT_RVALUE_REF, "ObjectRValueRef"},
	{FFI_SMALL_STR, "ffi.SmallStr"},
	{FFI_SMALL_BYTES, "ffi.SmallBytes"},
	{FFI_OBJECT, "ffi.Object"},
	{FFI_STR, "ffi.String"},
	{FFI_BYTES, "ffi.Bytes"},
	{FFI_ERROR, "ffi.Error"},
	{FFI_FUNCTION, "ffi.Function"},
	{FFI_SHAPE, "ffi.Shape"},
	{FFI_TENSOR, "ffi.Tensor"},
	{FFI_ARRAY, "ffi.Array"},
	{FFI_MAP, "ffi.Map"},
	{FFI_MODULE, "ffi.Module"},
	{FFI_LIST, "ffi.List"},
	{FFI_DICT, "ffi.Dict"},
	{FFI_VISIT_INTERRUPT, "ffi.VisitInterrupt"},          /* ffi_record.c */
	{FFI_RPC_OBJECT_REF, "runtime.RPCObjectRef"}, /* rpc_globals.c */
	{FFI_ACCESS_STEP, "ffi.reflection.AccessStep"},       /* ffi_record.c */
	{FFI_ACCESS_PATH, "ffi.reflection.AccessPath"},
	{FFI_STRUCTURAL_KEY, "ffi.StructuralKey"},
	{137, "runtime.FunctionInfo"},                /* runtime_globals.h */
	{141, "runtime.CPUTimerNode"},                /* runtime_globals.h */
	{FFI_VM_STORAGE, "vm.Storage"},
	{FFI_VM_CLOSURE, "relax.vm.Closure"},
	{FFI_OPAQUE_OBJECT, "tvmrpc.OpaqueObject"},
};

#define NUM_TYPE_KEYS (sizeof type_keys / sizeof type_keys[0])

const char *ffi_type_key(int32_t type_index)
{
	for (size_t i = 0; i < NUM_TYPE_KEYS; i++)
		if (type_keys[i].index == type_index)
			return type_keys[i].key;
	return type_index >= FFI_STATIC_OBJECT_BEGIN ? "ffi.Object" : "unknown";
}

ffi_array_t *ffi_registered_type_keys(void)
{
	ffi_array_t *keys = ffi_array_new();
	for (size_t i = 0; i < NUM_TYPE_KEYS; i++) {
		const char *k = type_keys[i].key;
		ffi_array_push(keys, ffi_any_object(&ffi_str_new(k, strlen(k))->header));
	}
	return keys;
}

/* ---- the "missing" marker ---- */

static TVMFFIObject missing_object = {1, FFI_OBJECT, 0, NULL}; /* never freed */

TVMFFIObject *ffi_missing_object(void)
{
	ffi_object_retain(&missing_object);
	return &missing_object;
}

/* ---- lists ---- */

ffi_array_t *ffi_list_new(void)
{
	ffi_array_t *l = ffi_array_new();
	l->header.type_index = FFI_LIST; /* same layout and deleter as Array */
	return l;
}

/* ---- equality and hash ---- */

/* Content of a string in any of its forms (RawStr, SmallStr, Str), or NULL. */
static const char *string_view(const TVMFFIAny *v, size_t *len)
{
	switch (v->type_index) {
	case FFI_RAW_STR:
		if (!v->v_c_str)
			return NULL;
		*len = strlen(v->v_c_str);
		return v->v_c_str;
	case FFI_SMALL_STR:
		*len = v->zero_padding < 8 ? v->zero_padding : 7;
		return v->v_bytes;
	case FFI_STR:
		if (!v->v_obj)
			return NULL;
		*len = ((const ffi_bytes_t *)v->v_obj)->size;
		return ((const ffi_bytes_t *)v->v_obj)->data;
	default:
		return NULL;
	}
}

/* The bits that identify a non-string value of a given type (only the bytes the type uses,
 * so stray bytes in the rest of the union never matter). */
static uint64_t value_bits(const TVMFFIAny *v)
{
	switch (v->type_index) {
	case FFI_NONE:
		return 0;
	case FFI_DATATYPE:
		return (uint64_t)v->v_dtype.code | (uint64_t)v->v_dtype.bits << 8 |
		       (uint64_t)v->v_dtype.lanes << 16;
	case FFI_DEVICE:
		return (uint64_t)(uint32_t)v->v_device.device_type |
		       (uint64_t)(uint32_t)v->v_device.device_id << 32;
	default:
		return v->v_uint64; /* ints and bools, float bits, pointers, object identity */
	}
}

static int views_equal(const char *a, size_t la, const char *b, size_t lb)
{
	return la == lb && (la == 0 || memcmp(a, b, la) == 0);
}

/* StructuralKey carries tvm-ffi's custom AnyHash/AnyEqual: its cached structural hash, and
 * structural equality of the keys it wraps (fields: key, hash_i64). */
static const ffi_record_t *structural_key(const TVMFFIAny *v)
{
	return v->type_index == FFI_STRUCTURAL_KEY && v->v_obj ? (const ffi_record_t *)v->v_obj
								: NULL;
}

static int structural_keys_equal(const ffi_record_t *a, const ffi_record_t *b)
{
	if (a == b)
		return 1;
	if (a->fields[1].v_int64 != b->fields[1].v_int64)
		return 0;
	int eq = ffi_structural_equal(&a->fields[0], &b->fields[0], 0);
	if (eq < 0)
		ffi_error_clear(); /* keys that cannot be compared are simply different */
	return eq == 1;
}

int ffi_any_equal(const TVMFFIAny *a, const TVMFFIAny *b)
{
	const ffi_record_t *ka = structural_key(a), *kb = structural_key(b);
	if (ka && kb)
		return structural_keys_equal(ka, kb);
	size_t la, lb;
	const char *sa = string_view(a, &la), *sb = string_view(b, &lb);
	if (sa || sb)
		return sa && sb && views_equal(sa, la, sb, lb);
	sa = ffi_any_as_bytes(a, &la);
	sb = ffi_any_as_bytes(b, &lb);
	if (sa || sb)
		return sa && sb && views_equal(sa, la, sb, lb);
	return a->type_index == b->type_index && value_bits(a) == value_bits(b);
}

/* splitmix64's finaliser: spreads every input bit over the output. */
static uint64_t hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t hash_bytes(const char *data, size_t len, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 0x100000001b3ull;
	}
	return hash_mix(h);
}

uint64_t ffi_any_hash(const TVMFFIAny *v)
{
	const ffi_record_t *key = structural_key(v);
	if (key)
		return hash_mix((uint64_t)key->fields[1].v_int64);
	size_t len;
	const char *s = string_view(v, &len);
	if (s)
		return hash_bytes(s, len, FFI_STR);
	s = ffi_any_as_bytes(v, &len);
	if (s)
		return hash_bytes(s, len, FFI_BYTES);
	return hash_mix(value_bits(v) ^ hash_mix((uint64_t)(uint32_t)v->type_index));
}

/* ---- owned values ---- */

static TVMFFIAny small_value(int32_t type_index, const char *data, size_t len)
{
	TVMFFIAny v = {.type_index = type_index, .zero_padding = (uint32_t)len};
	if (len)
		memcpy(v.v_bytes, data, len);
	v.v_bytes[len] = '\0';
	return v;
}

int ffi_any_to_owned(const TVMFFIAny *arg, TVMFFIAny *out)
{
	size_t len;
	const char *data;
	switch (arg->type_index) {
	case FFI_RAW_STR:
		data = string_view(arg, &len);
		if (!data)
			break;
		*out = len <= 7 ? small_value(FFI_SMALL_STR, data, len)
				: ffi_any_object(&ffi_str_new(data, len)->header);
		return 0;
	case FFI_BYTE_ARRAY_PTR: {
		data = ffi_any_as_bytes(arg, &len);
		if (!data)
			break;
		if (len <= 7) {
			*out = small_value(FFI_SMALL_BYTES, data, len);
			return 0;
		}
		ffi_bytes_t *b = ffi_bytes_new(data, len);
		if (!b)
			return -1;
		*out = ffi_any_object(&b->header);
		return 0;
	}
	case FFI_DLTENSOR_PTR:
	case FFI_OBJECT_RVALUE_REF:
		break;
	default:
		*out = *arg;
		ffi_any_retain(out);
		return 0;
	}
	ffi_error_set("TypeError", "a borrowed `%s` cannot be stored in a container",
		      ffi_type_key(arg->type_index));
	return -1;
}

/* Turn an owned value that may still be a borrowed view (RawStr, ByteArrayPtr) into a stored
 * one in place. On failure nothing is left to release. */
static int stored_form(TVMFFIAny *v)
{
	if (v->type_index >= FFI_STATIC_OBJECT_BEGIN)
		return 0;
	TVMFFIAny owned;
	if (ffi_any_to_owned(v, &owned))
		return -1;
	*v = owned;
	return 0;
}

/* ---- maps ----
 * Iteration follows insertion order, as tvm-ffi's maps (which erase without reordering), and
 * a replaced value moves its entry as tvm-ffi's does (see map_replace).
 * Entries sit in one array in insertion order; an erased entry stays there, marked dead, until
 * the next rebuild. A power-of-two index of entry positions (+1; 0 = never used, TOMBSTONE =
 * erased) is probed linearly; it is kept at least twice as large as the entry array, so a
 * probe always meets a free cell. */

#define ENTRY_DEAD (-1)
#define MAP_SMALL_MAX 4
#define CELL_FREE 0u
#define CELL_TOMBSTONE UINT32_MAX

struct map_entry {
	TVMFFIAny key; /* key.type_index == ENTRY_DEAD once erased */
	TVMFFIAny value;
	uint64_t hash;
};

struct ffi_map {
	TVMFFIObject header;
	struct map_entry *entries;
	size_t used;     /* entries[0 .. used) hold live and dead entries */
	size_t capacity; /* allocated entries */
	size_t size;     /* live entries */
	uint32_t *index;
	size_t index_size;
	int dense; /* set once the map has left tvm-ffi's small layout; never cleared */
};

static void map_release_entries(ffi_map_t *m)
{
	for (size_t i = 0; i < m->used; i++) {
		struct map_entry *e = &m->entries[i];
		if (e->key.type_index == ENTRY_DEAD)
			continue;
		ffi_any_release(&e->key);
		ffi_any_release(&e->value);
	}
}

static void map_deleter(void *self, int flags)
{
	(void)flags;
	ffi_map_t *m = self;
	map_release_entries(m);
	free(m->entries);
	free(m->index);
	free(m);
}

ffi_map_t *ffi_map_new(int32_t type_index)
{
	ffi_map_t *m = xcalloc(1, sizeof *m);
	ffi_object_init(&m->header, type_index == FFI_DICT ? FFI_DICT : FFI_MAP, map_deleter);
	return m;
}

size_t ffi_map_size(const ffi_map_t *m)
{
	return m->size;
}

/* A per-process secret mixed into index positions: a client that knows the hash function can
 * still not choose keys that all land on one probe chain (ffi.Map takes a packet of them). */
static uint64_t map_seed;

__attribute__((constructor)) static void map_seed_init(void)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
	}
	map_seed = hash_mix(seed);
}

static size_t map_slot(uint64_t hash, size_t mask)
{
	return (size_t)hash_mix(hash ^ map_seed) & mask;
}

/* Index cell holding `key`, or -1. */
static long map_find_cell(const ffi_map_t *m, const TVMFFIAny *key, uint64_t hash)
{
	if (m->size == 0)
		return -1;
	size_t mask = m->index_size - 1;
	for (size_t i = map_slot(hash, mask);; i = (i + 1) & mask) {
		uint32_t cell = m->index[i];
		if (cell == CELL_FREE)
			return -1;
		if (cell == CELL_TOMBSTONE)
			continue;
		const struct map_entry *e = &m->entries[cell - 1];
		if (e->hash == hash && ffi_any_equal(&e->key, key))
			return (long)i;
	}
}

static void map_index_put(ffi_map_t *m, uint64_t hash, size_t position)
{
	size_t mask = m->index_size - 1;
	size_t i = map_slot(hash, mask);
	while (m->index[i] != CELL_FREE && m->index[i] != CELL_TOMBSTONE)
		i = (i + 1) & mask;
	m->index[i] = (uint32_t)(position + 1);
}

/* Copy the live entries into fresh arrays sized for `want` (>= size) entries. */
static int map_rebuild(ffi_map_t *m, size_t want)
{
	size_t index_size = 8;
	while (index_size < 2 * want)
		index_size *= 2;
	struct map_entry *entries = malloc(want * sizeof *entries);
	uint32_t *index = calloc(index_size, sizeof *index);
	if (!entries || !index) {
		free(entries);
		free(index);
		ffi_error_set("MemoryError", "cannot grow a map to %zu entries", want);
		return -1;
	}
	size_t live = 0;
	for (size_t i = 0; i < m->used; i++)
		if (m->entries[i].key.type_index != ENTRY_DEAD)
			entries[live++] = m->entries[i];
	free(m->entries);
	free(m->index);
	m->entries = entries;
	m->capacity = want;
	m->used = live;
	m->index = index;
	m->index_size = index_size;
	for (size_t i = 0; i < live; i++)
		map_index_put(m, entries[i].hash, i);
	return 0;
}

/* Room for one more entry. */
static int map_reserve(ffi_map_t *m)
{
	if (m->used < m->capacity)
		return 0;
	if (m->size >= FFI_CONTAINER_MAX_SIZE) {
		ffi_error_set("MemoryError", "a map holds at most %d entries", FFI_CONTAINER_MAX_SIZE);
		return -1;
	}
	size_t want = 2 * (m->size + 1);
	if (want < 4)
		want = 4;
	return map_rebuild(m, want);
}

/* The entry array has room for one more entry, and `cell` (which may move) is found again. */
static int map_reserve_keeping(ffi_map_t *m, const TVMFFIAny *key, uint64_t hash, long *cell)
{
	if (map_reserve(m))
		return -1;
	*cell = map_find_cell(m, key, hash);
	return 0;
}

static void map_append(ffi_map_t *m, TVMFFIAny key, TVMFFIAny value, uint64_t hash)
{
	struct map_entry *e = &m->entries[m->used];
	e->key = key;
	e->value = value;
	e->hash = hash;
	map_index_put(m, hash, m->used);
	m->used++;
	m->size++;
}

/* Replace the value of the entry at `cell`. tvm-ffi keeps the entry's place while its map is
 * in the small layout, and moves it to the end once the map is dense; the first key object
 * stays either way. */
static void map_replace(ffi_map_t *m, long cell, TVMFFIAny value)
{
	size_t at = m->index[cell] - 1;
	struct map_entry *e = &m->entries[at];
	TVMFFIAny old_value = e->value;
	if (m->dense && at + 1 < m->used) {
		TVMFFIAny key = e->key;
		e->key.type_index = ENTRY_DEAD;
		e->value = ffi_any_none();
		m->index[cell] = CELL_TOMBSTONE;
		m->size--;
		map_append(m, key, value, e->hash);
	} else {
		e->value = value;
	}
	ffi_any_release(&old_value);
}

int ffi_map_set(ffi_map_t *m, TVMFFIAny key, TVMFFIAny value)
{
	if (stored_form(&key)) {
		ffi_any_release(&value);
		return -1;
	}
	if (stored_form(&value)) {
		ffi_any_release(&key);
		return -1;
	}
	/* tvm-ffi's small layout holds 4 entries: any set on a full one makes the map dense. */
	if (!m->dense && m->size >= MAP_SMALL_MAX)
		m->dense = 1;
	uint64_t hash = ffi_any_hash(&key);
	long cell = map_find_cell(m, &key, hash);
	if ((cell < 0 || m->dense) && map_reserve_keeping(m, &key, hash, &cell)) {
		ffi_any_release(&key);
		ffi_any_release(&value);
		return -1;
	}
	if (cell >= 0) {
		map_replace(m, cell, value);
		ffi_any_release(&key);
		return 0;
	}
	map_append(m, key, value, hash);
	return 0;
}

const TVMFFIAny *ffi_map_get(const ffi_map_t *m, const TVMFFIAny *key)
{
	long cell = map_find_cell(m, key, ffi_any_hash(key));
	return cell < 0 ? NULL : &m->entries[m->index[cell] - 1].value;
}

int ffi_map_erase(ffi_map_t *m, const TVMFFIAny *key)
{
	long cell = map_find_cell(m, key, ffi_any_hash(key));
	if (cell < 0)
		return 0;
	struct map_entry *e = &m->entries[m->index[cell] - 1];
	/* Unlink first: releasing the key may free what `key` points into. */
	m->index[cell] = CELL_TOMBSTONE;
	m->size--;
	TVMFFIAny old_key = e->key, old_value = e->value;
	e->key.type_index = ENTRY_DEAD;
	e->value = ffi_any_none();
	if (m->size == 0) {
		m->used = 0;
		memset(m->index, 0, m->index_size * sizeof *m->index);
	}
	ffi_any_release(&old_key);
	ffi_any_release(&old_value);
	return 1;
}

void ffi_map_clear(ffi_map_t *m)
{
	struct map_entry *entries = m->entries;
	size_t used = m->used;
	/* Empty the map before releasing: a released value may reach this map again. */
	m->entries = NULL;
	m->used = m->capacity = m->size = 0;
	free(m->index);
	m->index = NULL;
	m->index_size = 0;
	for (size_t i = 0; i < used; i++) {
		if (entries[i].key.type_index == ENTRY_DEAD)
			continue;
		ffi_any_release(&entries[i].key);
		ffi_any_release(&entries[i].value);
	}
	free(entries);
}

int ffi_map_next(const ffi_map_t *m, size_t *pos, const TVMFFIAny **key, const TVMFFIAny **value)
{
	while (*pos < m->used) {
		const struct map_entry *e = &m->entries[(*pos)++];
		if (e->key.type_index == ENTRY_DEAD)
			continue;
		*key = &e->key;
		*value = &e->value;
		return 1;
	}
	return 0;
}
