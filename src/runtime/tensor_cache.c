/* The tensor cache (tensor_cache.h): a name -> tensor list, the loader of TVM's tensor cache
 * directories, the `param_module` module kind, and the globals around them. Every field of
 * tensor-cache.json is checked before a byte is copied: a malformed cache is an error with
 * TVM's kind, never a wild read or an allocation larger than the shard it comes from. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/module_file.h"
#include "runtime/session.h"
#include "runtime/tensor_cache.h"
#include "base/xalloc.h"

#define CACHE_MAX_NDIM 32

/* ---- the cache ---- */

struct cache_entry {
	char *name;
	ffi_tensor_t *tensor; /* owned */
};

static struct cache_entry *entries;
static size_t num_entries, cap_entries;
static uint64_t cache_bytes; /* data bytes of the cached tensors */

/* An entry's tensor may be NULL: TVM caches None under a name when asked to (update with a
 * None tensor), which then counts as present for update and as missing for lookups. */
static uint64_t tensor_bytes(const ffi_tensor_t *t)
{
	uint64_t n;
	return !t || ffi_dltensor_nbytes(&t->dl, &n) ? 0 : n;
}

static void tensor_release(ffi_tensor_t *t)
{
	if (t)
		ffi_object_release(&t->header);
}

/* The cache lives as long as the session's process: in a session with a memory cap
 * (session_memory) its tensors count against that cap, so a client cannot grow the server
 * past it by copying allocations into the cache and freeing them. */
static int cache_room(uint64_t adding, uint64_t removing)
{
	const session_options_t *opt = session_current();
	uint64_t total = cache_bytes - removing + adding;
	if (!opt || !opt->memory_cap || total <= opt->memory_cap)
		return 0;
	ffi_error_set("MemoryError", "the tensor cache would hold %llu bytes, more than the "
		      "session memory cap (%llu)", (unsigned long long)total,
		      (unsigned long long)opt->memory_cap);
	return -1;
}

static size_t cache_find(const char *name)
{
	for (size_t i = 0; i < num_entries; i++)
		if (strcmp(entries[i].name, name) == 0)
			return i;
	return num_entries;
}

ffi_tensor_t *tensor_cache_lookup(const char *name)
{
	size_t i = cache_find(name);
	return i < num_entries ? entries[i].tensor : NULL;
}

int tensor_cache_put(const char *name, ffi_tensor_t *tensor, int override)
{
	size_t i = cache_find(name);
	uint64_t old = i < num_entries ? tensor_bytes(entries[i].tensor) : 0;
	if (i < num_entries && !override) {
		tensor_release(tensor);
		ffi_error_set("InternalError", "Name %.200s already exists in the cache", name);
		return -1;
	}
	if (cache_room(tensor_bytes(tensor), old)) {
		tensor_release(tensor);
		return -1;
	}
	cache_bytes = cache_bytes - old + tensor_bytes(tensor);
	if (i < num_entries) {
		tensor_release(entries[i].tensor);
		entries[i].tensor = tensor;
		return 0;
	}
	if (num_entries == cap_entries) {
		cap_entries = cap_entries ? cap_entries * 2 : 16;
		entries = xrealloc(entries, cap_entries * sizeof *entries);
	}
	entries[num_entries++] = (struct cache_entry){xstrdup(name), tensor};
	return 0;
}

void tensor_cache_remove(const char *name)
{
	size_t i = cache_find(name);
	if (i == num_entries)
		return;
	free(entries[i].name);
	cache_bytes -= tensor_bytes(entries[i].tensor);
	tensor_release(entries[i].tensor);
	memmove(entries + i, entries + i + 1, (num_entries - i - 1) * sizeof *entries);
	num_entries--;
}

__attribute__((destructor)) void tensor_cache_clear(void)
{
	for (size_t i = 0; i < num_entries; i++) {
		free(entries[i].name);
		tensor_release(entries[i].tensor);
	}
	free(entries);
	entries = NULL;
	num_entries = cap_entries = 0;
	cache_bytes = 0;
}

size_t tensor_cache_size(void)
{
	return num_entries;
}

/* ---- tensor-cache.json ---- */

typedef struct cache_param {
	const char *name, *format;
	DLDataType dtype;
	int64_t shape[CACHE_MAX_NDIM];
	int32_t ndim;
	int64_t nbytes, byte_offset;
} cache_param_t;

typedef struct cache_shard {
	const char *data_path, *format;
	int64_t nbytes;
	const cJSON *records;
} cache_shard_t;

/* obj[key] as TVM's JSON object access reports it: a missing key is a KeyError. */
static const cJSON *json_get(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v)
		ffi_error_set("KeyError", "tensor cache: key \"%s\" is not in the record", key);
	return v;
}

static int json_type_error(const char *key, const char *want)
{
	ffi_error_set("TypeError", "tensor cache: \"%s\" must be %s", key, want);
	return -1;
}

static int json_str(const cJSON *obj, const char *key, const char **out)
{
	const cJSON *v = json_get(obj, key);
	if (!v)
		return -1;
	if (!cJSON_IsString(v))
		return json_type_error(key, "a string");
	*out = v->valuestring;
	return 0;
}

static int json_int_value(const cJSON *v, const char *key, int64_t *out)
{
	/* cJSON keeps numbers as doubles: accept the integral ones int64 can hold. */
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble ||
	    v->valuedouble < -9.2e18 || v->valuedouble > 9.2e18)
		return json_type_error(key, "an integer");
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int json_int(const cJSON *obj, const char *key, int64_t *out)
{
	const cJSON *v = json_get(obj, key);
	return v ? json_int_value(v, key, out) : -1;
}

static int json_array(const cJSON *obj, const char *key, const cJSON **out)
{
	const cJSON *v = json_get(obj, key);
	if (!v)
		return -1;
	if (!cJSON_IsArray(v))
		return json_type_error(key, "an array");
	*out = v;
	return 0;
}

static int param_read(const cJSON *rec, cache_param_t *p)
{
	const cJSON *shape, *dim;
	const char *dtype;
	if (!cJSON_IsObject(rec))
		return json_type_error("records[]", "an object");
	if (json_array(rec, "shape", &shape))
		return -1;
	p->ndim = 0;
	cJSON_ArrayForEach(dim, shape) {
		if (p->ndim == CACHE_MAX_NDIM) {
			ffi_error_set("ValueError", "tensor cache: more than %d dimensions",
				      CACHE_MAX_NDIM);
			return -1;
		}
		if (json_int_value(dim, "shape[]", &p->shape[p->ndim++]))
			return -1;
	}
	if (json_str(rec, "dtype", &dtype) || vm_dtype_parse(dtype, strlen(dtype), &p->dtype) ||
	    json_str(rec, "name", &p->name) || json_str(rec, "format", &p->format) ||
	    json_int(rec, "nbytes", &p->nbytes) || json_int(rec, "byteOffset", &p->byte_offset))
		return -1;
	return 0;
}

static int shard_read(const cJSON *rec, cache_shard_t *s)
{
	if (!cJSON_IsObject(rec))
		return json_type_error("records[]", "an object");
	if (json_array(rec, "records", &s->records) || json_str(rec, "dataPath", &s->data_path) ||
	    json_str(rec, "format", &s->format) || json_int(rec, "nbytes", &s->nbytes))
		return -1;
	const cJSON *p;
	cache_param_t param;
	cJSON_ArrayForEach(p, s->records)
		if (param_read(p, &param))
			return -1;
	return 0;
}

/* The whole metadata is checked before any shard is read, as TVM parses it first. */
static cJSON *metadata_load(const char *dir, const cJSON **shards)
{
	size_t len = strlen(dir) + sizeof "/tensor-cache.json";
	char *path = xmalloc(len);
	snprintf(path, len, "%s/tensor-cache.json", dir);
	ffi_bytes_t *text = module_file_read(path);
	free(path);
	if (!text)
		return NULL;
	cJSON *root = cJSON_ParseWithLength(text->data, text->size);
	ffi_object_release(&text->header);
	if (!root) {
		ffi_error_set("InternalError", "Failed to parse JSON: %.200s/tensor-cache.json is "
			      "not valid JSON", dir);
		return NULL;
	}
	const cJSON *s;
	cache_shard_t shard;
	if (!cJSON_IsObject(root))
		ffi_error_set("ValueError", "The given string is not a JSON object");
	else if (json_array(root, "records", shards) == 0) {
		cJSON_ArrayForEach(s, *shards)
			if (shard_read(s, &shard))
				goto fail;
		return root;
	}
fail:
	cJSON_Delete(root);
	return NULL;
}

/* ---- loading ---- */

/* Bytes the decoded record fills, checked against the tensor its shape and dtype make. */
static int param_check_size(const cache_param_t *p, uint64_t shard_size, int *bf16)
{
	if (p->byte_offset < 0 || p->nbytes < 0 || (uint64_t)p->byte_offset > shard_size ||
	    (uint64_t)p->nbytes > shard_size - (uint64_t)p->byte_offset) {
		ffi_error_set("ValueError", "tensor cache: %.200s lies outside its shard", p->name);
		return -1;
	}
	DLTensor probe = {.ndim = p->ndim, .dtype = p->dtype, .shape = (int64_t *)p->shape};
	uint64_t want;
	if (ffi_dltensor_nbytes(&probe, &want)) {
		ffi_error_set("ValueError", "tensor cache: %.200s has an invalid shape", p->name);
		return -1;
	}
	*bf16 = p->dtype.code == kDLFloat && p->dtype.bits == 32 && p->dtype.lanes == 1 &&
		strcmp(p->format, "f32-to-bf16") == 0;
	uint64_t have = *bf16 ? (uint64_t)p->nbytes / 2 * 4 : (uint64_t)p->nbytes;
	if (have != want) {
		ffi_error_set("InternalError",
			      "tensor cache: %.200s: size mismatch, %llu bytes for a tensor of %llu",
			      p->name, (unsigned long long)have, (unsigned long long)want);
		return -1;
	}
	return 0;
}

static ffi_tensor_t *param_load(const cache_param_t *p, const ffi_bytes_t *shard,
				DLDevice device)
{
	int bf16;
	if (param_check_size(p, shard->size, &bf16))
		return NULL;
	ffi_tensor_t *t = ffi_tensor_alloc(p->shape, p->ndim, p->dtype, device);
	if (!t)
		return NULL;
	const char *src = shard->data + p->byte_offset;
	if (!bf16) {
		if (p->nbytes)
			memcpy(t->dl.data, src, (size_t)p->nbytes);
		return t;
	}
	/* bfloat16 is the upper half of a float32. */
	uint32_t *dst = t->dl.data;
	for (size_t i = 0; i < (size_t)p->nbytes / 2; i++) {
		uint16_t half;
		memcpy(&half, src + 2 * i, sizeof half);
		dst[i] = (uint32_t)half << 16;
	}
	return t;
}

static int shard_check(const cache_shard_t *s, const ffi_bytes_t *data)
{
	if (strcmp(s->format, "raw-shard") != 0) {
		ffi_error_set("ValueError", "Only `raw-shard` format is supported (%.200s is %.64s)",
			      s->data_path, s->format);
		return -1;
	}
	if (s->nbytes < 0 || (uint64_t)s->nbytes != data->size) {
		ffi_error_set("ValueError",
			      "Encountered a corrupted parameter shard %.200s: %zu bytes where the "
			      "metadata says %lld",
			      s->data_path, data->size, (long long)s->nbytes);
		return -1;
	}
	return 0;
}

/* Load one shard; its tensors enter the cache only when all of them loaded. */
static int shard_load(const char *dir, const cache_shard_t *s, DLDevice device)
{
	size_t len = strlen(dir) + strlen(s->data_path) + 2;
	char *path = xmalloc(len);
	snprintf(path, len, "%s/%s", dir, s->data_path);
	ffi_bytes_t *data = module_file_read(path);
	free(path);
	if (!data || shard_check(s, data)) {
		ffi_object_release(data ? &data->header : NULL);
		return -1;
	}
	size_t count = (size_t)cJSON_GetArraySize(s->records), i = 0;
	ffi_tensor_t **loaded = xcalloc(count ? count : 1, sizeof *loaded);
	const cJSON *rec;
	cache_param_t p;
	cJSON_ArrayForEach(rec, s->records) {
		if (param_read(rec, &p) || !(loaded[i] = param_load(&p, data, device)))
			break;
		i++;
	}
	int rc = i == count ? 0 : -1;
	i = 0;
	cJSON_ArrayForEach(rec, s->records) {
		if (rc == 0 && param_read(rec, &p) == 0)
			rc = tensor_cache_put(p.name, loaded[i], 1);
		else
			ffi_object_release(loaded[i] ? &loaded[i]->header : NULL);
		i++;
	}
	free(loaded);
	ffi_object_release(&data->header);
	return rc;
}

int tensor_cache_load(const char *dir, DLDevice device)
{
	const cJSON *shards, *s;
	cJSON *root = metadata_load(dir, &shards);
	if (!root)
		return -1;
	int rc = 0;
	cache_shard_t shard;
	cJSON_ArrayForEach(s, shards) {
		shard_read(s, &shard);
		if (cJSON_GetArraySize(shard.records) > 0 && device.device_type != kDLCPU) {
			ffi_error_set("InternalError", "Device API for device type %d is not enabled "
				      "(this server runs on the CPU only)", (int)device.device_type);
			rc = -1;
		}
		if (rc || (rc = shard_load(dir, &shard, device)))
			break;
	}
	cJSON_Delete(root);
	return rc;
}

/* ---- the param_module module ---- */

static int param_module_get_params(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)args, (void)n;
	ffi_module_t *mod = (ffi_module_t *)((ffi_function_t *)self)->owner;
	ffi_array_t *params = mod->impl;
	ffi_object_retain(&params->header);
	*result = ffi_any_object(&params->header);
	return 0;
}

static ffi_function_t *param_module_get_function(ffi_module_t *mod, const char *name)
{
	if (strcmp(name, "get_params") != 0)
		return NULL;
	return ffi_function_new(param_module_get_params, NULL, NULL, &mod->header);
}

static void param_module_destroy(ffi_module_t *mod)
{
	ffi_object_release(&((ffi_array_t *)mod->impl)->header);
}

static const ffi_module_vtable_t param_module_vtable = {
	.kind = "param_module",
	.get_function = param_module_get_function,
	.destroy = param_module_destroy,
};

/* ---- parameter arrays ---- */

static void array_push_tensor(ffi_array_t *a, ffi_tensor_t *t)
{
	ffi_object_retain(&t->header);
	ffi_array_push(a, ffi_any_object(&t->header));
}

/* prefix_0, prefix_1, ...: count of them (a missing one is an error), or with count -1 as
 * many as there are. */
static ffi_array_t *params_by_prefix(const char *prefix, int64_t count)
{
	ffi_array_t *a = ffi_array_new();
	for (int64_t i = 0; i < count || count == -1; i++) {
		char name[512];
		snprintf(name, sizeof name, "%.480s_%lld", prefix, (long long)i);
		ffi_tensor_t *t = tensor_cache_lookup(name);
		if (!t && count == -1)
			break;
		if (!t) {
			ffi_object_release(&a->header);
			ffi_error_set("InternalError", "Cannot find %s in cache", name);
			return NULL;
		}
		array_push_tensor(a, t);
	}
	return a;
}

/* The tensors named by string values vals[0..n). */
static ffi_array_t *params_by_name(const TVMFFIAny *vals, size_t n)
{
	ffi_array_t *a = ffi_array_new();
	for (size_t i = 0; i < n; i++) {
		const char *name = ffi_any_as_str(&vals[i], NULL);
		ffi_tensor_t *t = name ? tensor_cache_lookup(name) : NULL;
		if (!t) {
			ffi_object_release(&a->header);
			ffi_error_set("ValueError", "Cannot find parameter in cache: %.200s",
				      name ? name : "?");
			return NULL;
		}
		array_push_tensor(a, t);
	}
	return a;
}

static int array_result(ffi_array_t *a, TVMFFIAny *result)
{
	if (!a)
		return -1;
	*result = ffi_any_object(&a->header);
	return 0;
}

static int module_result(ffi_array_t *a, TVMFFIAny *result)
{
	if (!a)
		return -1;
	*result = ffi_any_object(&ffi_module_new(&param_module_vtable, a)->header);
	return 0;
}

/* ---- globals (arguments already checked against their signatures by vm_globals.c) ---- */

static int global_get(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)n;
	ffi_tensor_t *t = tensor_cache_lookup(ffi_any_as_str(&args[0], NULL));
	if (t) {
		ffi_object_retain(&t->header);
		*result = ffi_any_object(&t->header);
	}
	return 0;
}

/* A tensor to keep: a Tensor that owns its memory is shared, anything else is copied. */
static ffi_tensor_t *tensor_to_keep(const TVMFFIAny *v)
{
	if (v->type_index == FFI_TENSOR && v->v_obj) {
		ffi_tensor_t *t = (ffi_tensor_t *)v->v_obj;
		if (t->owns_data || t->data_owner) {
			ffi_object_retain(&t->header);
			return t;
		}
	}
	return vm_tensor_copy(ffi_any_as_dltensor(v), (DLDevice){kDLCPU, 0});
}

static int global_update(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)result;
	const char *fn = "vm.builtin.tensor_cache.update", *name;
	size_t len;
	if (n != 2 && n != 3) {
		ffi_error_set("InternalError", "%s expects (name, tensor[, override]), got %d "
			      "arguments", fn, n);
		return -1;
	}
	if (ffi_arg_str(fn, args, n, 0, &name, &len))
		return -1;
	if (!ffi_any_as_dltensor(&args[1]) && args[1].type_index != FFI_NONE) {
		ffi_error_set("TypeError", "%s: argument 1 must be a tensor (type index %d given)",
			      fn, args[1].type_index);
		return -1;
	}
	int64_t override = 0;
	if (n == 3 && ffi_arg_int(fn, args, n, 2, &override))
		return -1;
	if (!override && cache_find(name) < num_entries) {
		ffi_error_set("InternalError", "Name %.200s already exists in the cache", name);
		return -1;
	}
	/* Refuse before copying when the copy would not fit under the cap. */
	uint64_t nbytes = 0;
	ffi_tensor_t *old = tensor_cache_lookup(name);
	if (args[1].type_index == FFI_NONE)
		return tensor_cache_put(name, NULL, 1);
	ffi_dltensor_nbytes(ffi_any_as_dltensor(&args[1]), &nbytes);
	if (cache_room(nbytes, tensor_bytes(old)))
		return -1;
	ffi_tensor_t *t = tensor_to_keep(&args[1]);
	return t ? tensor_cache_put(name, t, 1) : -1;
}

static int global_remove(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)n, (void)result;
	tensor_cache_remove(ffi_any_as_str(&args[0], NULL));
	return 0;
}

static int global_clear(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)args, (void)n, (void)result;
	tensor_cache_clear();
	return 0;
}

static int global_load(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)n, (void)result;
	DLDevice dev = {(DLDeviceType)args[1].v_int64, (int32_t)args[2].v_int64};
	return tensor_cache_load(ffi_any_as_str(&args[0], NULL), dev);
}

static int global_array_from_cache(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self, (void)n;
	return array_result(params_by_prefix(ffi_any_as_str(&args[0], NULL), args[1].v_int64),
			    result);
}

static int global_module_from_cache(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self, (void)n;
	return module_result(params_by_prefix(ffi_any_as_str(&args[0], NULL), args[1].v_int64),
			     result);
}

static int global_array_by_name(void *self, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	(void)self, (void)n;
	const ffi_array_t *names = (const ffi_array_t *)args[0].v_obj;
	return array_result(params_by_name(names->items, names->size), result);
}

static int global_module_by_name(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self, (void)n;
	const ffi_array_t *names = (const ffi_array_t *)args[0].v_obj;
	return module_result(params_by_name(names->items, names->size), result);
}

static int global_array_by_name_unpacked(void *self, const TVMFFIAny *args, int32_t n,
					 TVMFFIAny *result)
{
	(void)self;
	for (int32_t i = 0; i < n; i++)
		if (!ffi_any_as_str(&args[i], NULL)) {
			ffi_error_set("ValueError", "Expect string as input, but get type index %d "
				      "at %d", args[i].type_index, i);
			return -1;
		}
	return array_result(params_by_name(args, (size_t)n), result);
}

static const vm_builtin_entry_t cache_globals[] = {
	{"vm.builtin.tensor_cache.get", global_get, "s"},
	{"vm.builtin.tensor_cache.update", global_update, NULL},
	{"vm.builtin.tensor_cache.remove", global_remove, "s"},
	{"vm.builtin.tensor_cache.clear", global_clear, ""},
	{"vm.builtin.tensor_cache.load", global_load, "Bnn"},
	{"vm.builtin.param_module_from_cache", global_module_from_cache, "Bn"},
	{"vm.builtin.param_module_from_cache_by_name", global_module_by_name, "L"},
	{"vm.builtin.param_array_from_cache", global_array_from_cache, "sn"},
	{"vm.builtin.param_array_from_cache_by_name", global_array_by_name, "L"},
	{"vm.builtin.param_array_from_cache_by_name_unpacked", global_array_by_name_unpacked,
	 NULL},
};

const vm_builtin_entry_t *tensor_cache_table(size_t *count)
{
	*count = sizeof cache_globals / sizeof cache_globals[0];
	return cache_globals;
}
