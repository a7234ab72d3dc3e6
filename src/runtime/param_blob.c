/* TVM's parameter blob (param_blob.h) and the globals that read and write it:
 * runtime.SaveParams / LoadParams (bytes) and runtime.SaveParamsToFile / LoadParamsFromFile
 * (files of the session work directory, through module_file.c). The output is byte for byte
 * TVM's; the reader refuses what TVM would misread (truncation, sizes that disagree). */
#include <stdlib.h>
#include <string.h>

#include "runtime/byte_reader.h"
#include "runtime/ffi.h"
#include "runtime/module_file.h"
#include "runtime/param_blob.h"
#include "runtime/runtime_globals.h"
#include "base/xalloc.h"

/* A tensor may take more memory than its record (vector lanes are not counted in TVM's size):
 * at most this many times the blob, so that a small blob cannot ask for gigabytes. */
#define PARAM_BLOB_GROWTH 16
#define PARAM_BLOB_SLACK 4096

/* Elements and TVM's record size (elements x ceil(bits / 8)); -1 on overflow. */
static int tensor_record_size(const DLTensor *t, uint64_t *elems, uint64_t *record)
{
	uint64_t n = 1;
	if (t->ndim < 0)
		return -1;
	for (int32_t i = 0; i < t->ndim; i++)
		if (t->shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)t->shape[i], &n))
			return -1;
	*elems = n;
	return __builtin_mul_overflow(n, (uint64_t)((t->dtype.bits + 7) / 8), record) ? -1 : 0;
}

/* ---- writer ---- */

static uint64_t tensor_header_size(const DLTensor *t)
{
	return 8 + 8 + 8 + 4 + 4 + 8 * (uint64_t)t->ndim + 8;
}

int param_blob_size(const param_entry_t *entries, size_t count, uint64_t *size)
{
	uint64_t total = 8 + 8 + 8 + 8, elems, record, storage;
	for (size_t i = 0; i < count; i++) {
		const DLTensor *t = entries[i].tensor;
		if (t->device.device_type != kDLCPU || !ffi_dltensor_is_compact(t) ||
		    tensor_record_size(t, &elems, &record) || ffi_dltensor_nbytes(t, &storage) ||
		    (storage && !t->data)) {
			ffi_error_set("InternalError", "cannot save parameter '%.*s': not a compact CPU "
				      "tensor", (int)(entries[i].name_len > 200 ? 200 : entries[i].name_len),
				      entries[i].name);
			return -1;
		}
		uint64_t add = 8 + entries[i].name_len + tensor_header_size(t);
		if (__builtin_add_overflow(total, add, &total) ||
		    __builtin_add_overflow(total, record, &total)) {
			ffi_error_set("InternalError", "the parameters are too large to save");
			return -1;
		}
	}
	*size = total;
	return 0;
}

static char *put_u64(char *p, uint64_t v)
{
	memcpy(p, &v, 8); /* little-endian hosts only, as TVM's fast path */
	return p + 8;
}

static char *put_i32(char *p, int32_t v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

static char *encode_tensor(char *p, const DLTensor *t)
{
	uint64_t elems = 0, record = 0, storage = 0;
	tensor_record_size(t, &elems, &record);
	ffi_dltensor_nbytes(t, &storage);
	p = put_u64(p, PARAM_BLOB_TENSOR_MAGIC);
	p = put_u64(p, 0);
	p = put_i32(p, kDLCPU); /* always saved as a CPU tensor */
	p = put_i32(p, 0);
	p = put_i32(p, t->ndim);
	memcpy(p, &t->dtype, 4);
	p += 4;
	for (int32_t i = 0; i < t->ndim; i++)
		p = put_u64(p, (uint64_t)t->shape[i]);
	p = put_u64(p, record);
	/* Packed sub-byte storage is shorter than the record: the rest is zero. */
	uint64_t copy = record < storage ? record : storage;
	if (copy)
		memcpy(p, (const char *)t->data + t->byte_offset, copy);
	memset(p + copy, 0, record - copy);
	return p + record;
}

void param_blob_encode(const param_entry_t *entries, size_t count, char *out)
{
	char *p = put_u64(out, PARAM_BLOB_LIST_MAGIC);
	p = put_u64(p, 0);
	p = put_u64(p, count);
	for (size_t i = 0; i < count; i++) {
		p = put_u64(p, entries[i].name_len);
		memcpy(p, entries[i].name, entries[i].name_len);
		p += entries[i].name_len;
	}
	p = put_u64(p, count);
	for (size_t i = 0; i < count; i++)
		p = encode_tensor(p, entries[i].tensor);
}

/* ---- reader ---- */

/* byte_reader.h does the bounds and byte order; these name what was being read. */
typedef byte_reader_t blob_reader_t;

static int blob_fail(const char *what)
{
	ffi_error_set("InternalError", "Invalid parameters file format: %s", what);
	return -1;
}

/* n raw bytes copied out (host-order fields: device, ndim, dtype, shape, as TVM writes). */
static int take(blob_reader_t *r, void *out, size_t n, const char *what)
{
	const uint8_t *p;
	if (byte_reader_bytes(r, n, &p))
		return blob_fail(what);
	memcpy(out, p, n);
	return 0;
}

static int take_u64(blob_reader_t *r, uint64_t *v, const char *what)
{
	return byte_reader_u64(r, v) ? blob_fail(what) : 0;
}

static int decode_names(blob_reader_t *r, param_entry_t **entries, size_t *count)
{
	uint64_t n;
	if (take_u64(r, &n, "truncated name count"))
		return -1;
	if (n > byte_reader_left(r) / 8) /* every name takes at least its 8-byte length */
		return blob_fail("name count larger than the blob");
	*entries = xcalloc(n ? (size_t)n : 1, sizeof **entries);
	*count = (size_t)n;
	for (size_t i = 0; i < n; i++) {
		uint64_t len;
		const uint8_t *bytes;
		int rc = byte_reader_str(r, &bytes, &len);
		if (rc)
			return blob_fail(rc == -1 ? "truncated name" : "name longer than the blob");
		(*entries)[i].name = xstrndup((const char *)bytes, (size_t)len);
		(*entries)[i].name_len = (size_t)len;
	}
	return 0;
}

typedef struct tensor_head {
	int32_t device[2];
	int32_t ndim;
	DLDataType dtype;
	int64_t *shape;
	uint64_t record;
} tensor_head_t;

static int decode_tensor_head(blob_reader_t *r, tensor_head_t *h)
{
	uint64_t magic, reserved, elems, expect;
	if (take_u64(r, &magic, "truncated tensor header") ||
	    take_u64(r, &reserved, "truncated tensor header"))
		return -1;
	if (magic != PARAM_BLOB_TENSOR_MAGIC)
		return blob_fail("bad tensor magic");
	if (take(r, h->device, 8, "truncated tensor header") ||
	    take(r, &h->ndim, 4, "truncated tensor header") ||
	    take(r, &h->dtype, 4, "truncated tensor header"))
		return -1;
	if (h->device[0] != kDLCPU)
		return blob_fail("the tensor is not saved as a CPU tensor");
	if (h->ndim < 0 || (uint64_t)h->ndim > byte_reader_left(r) / 8)
		return blob_fail("ndim is negative or larger than the blob");
	h->shape = xcalloc(h->ndim ? (size_t)h->ndim : 1, sizeof(int64_t));
	if (take(r, h->shape, (size_t)h->ndim * 8, "truncated shape") ||
	    take_u64(r, &h->record, "truncated data size"))
		return -1;
	DLTensor t = {.ndim = h->ndim, .dtype = h->dtype, .shape = h->shape};
	if (tensor_record_size(&t, &elems, &expect) || expect != h->record)
		return blob_fail("the data size does not match the shape and dtype");
	if (h->record > byte_reader_left(r))
		return blob_fail("truncated tensor data");
	return 0;
}

static int decode_tensor(blob_reader_t *r, param_entry_t *e)
{
	tensor_head_t h = {0};
	uint64_t storage;
	int rc = decode_tensor_head(r, &h);
	DLTensor t = {.ndim = h.ndim, .dtype = h.dtype, .shape = h.shape};
	if (rc == 0 && (ffi_dltensor_nbytes(&t, &storage) ||
			storage > (uint64_t)PARAM_BLOB_GROWTH * r->len + PARAM_BLOB_SLACK))
		rc = blob_fail("the tensor is far larger than its data");
	if (rc == 0) {
		DLDevice cpu = {kDLCPU, h.device[1]};
		e->owned = ffi_tensor_alloc(h.shape, h.ndim, h.dtype, cpu);
		rc = e->owned ? 0 : -1;
	}
	if (rc == 0) {
		e->tensor = &e->owned->dl;
		uint64_t copy = h.record < storage ? h.record : storage;
		const uint8_t *bytes = NULL;
		byte_reader_bytes(r, (size_t)h.record, &bytes); /* cannot fail: checked in the head */
		if (copy)
			memcpy(e->owned->dl.data, bytes, (size_t)copy);
	}
	free(h.shape);
	return rc;
}

int param_blob_decode(const char *data, size_t size, param_entry_t **entries, size_t *count)
{
	blob_reader_t r;
	byte_reader_init(&r, data, size);
	uint64_t magic, reserved, n;
	*entries = NULL;
	*count = 0;
	if (take_u64(&r, &magic, "truncated header"))
		return -1;
	if (magic != PARAM_BLOB_LIST_MAGIC)
		return blob_fail("bad magic");
	if (take_u64(&r, &reserved, "truncated header") || decode_names(&r, entries, count) ||
	    take_u64(&r, &n, "truncated tensor count") ||
	    (n != *count && blob_fail("the tensor count differs from the name count")))
		goto fail;
	for (size_t i = 0; i < *count; i++)
		if (decode_tensor(&r, &(*entries)[i]))
			goto fail;
	return 0;
fail:
	param_entries_free(*entries, *count);
	*entries = NULL;
	*count = 0;
	return -1;
}

void param_entries_free(param_entry_t *entries, size_t count)
{
	if (!entries)
		return;
	for (size_t i = 0; i < count; i++) {
		free((char *)entries[i].name);
		ffi_object_release(entries[i].owned ? &entries[i].owned->header : NULL);
	}
	free(entries);
}

/* ---- globals ---- */

/* The entries of a Map<str, Tensor> argument (names and tensors borrowed from the map). */
static int params_from_map(const char *sig, const TVMFFIAny *args, int32_t n,
			   param_entry_t **entries, size_t *count)
{
	if (n < 1 || args[0].type_index != FFI_MAP || !args[0].v_obj) {
		ffi_error_set("TypeError", "Mismatched type on argument #0 when calling: `%s`. "
			      "Expected `Map<str, ffi.Tensor>`", sig);
		return -1;
	}
	const ffi_map_t *m = (const ffi_map_t *)args[0].v_obj;
	*entries = xcalloc(ffi_map_size(m) ? ffi_map_size(m) : 1, sizeof **entries);
	*count = 0;
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(m, &pos, &key, &value)) {
		param_entry_t *e = &(*entries)[*count];
		e->name = ffi_any_as_str(key, &e->name_len);
		if (!e->name || value->type_index != FFI_TENSOR) {
			free(*entries);
			ffi_error_set("TypeError", "Mismatched type on argument #0 when calling: `%s`. "
				      "Expected `Map<str, ffi.Tensor>`", sig);
			return -1;
		}
		e->tensor = &((ffi_tensor_t *)value->v_obj)->dl;
		(*count)++;
	}
	return 0;
}

static void bytes_deleter(void *self, int flags)
{
	(void)flags;
	free(self);
}

/* A Bytes object holding the blob of a map argument; NULL with an error. */
static ffi_bytes_t *params_encode(const char *sig, const TVMFFIAny *args, int32_t n)
{
	param_entry_t *entries;
	size_t count;
	uint64_t size;
	if (params_from_map(sig, args, n, &entries, &count))
		return NULL;
	ffi_bytes_t *b = NULL;
	if (param_blob_size(entries, count, &size) == 0) {
		b = size < SIZE_MAX / 2 ? malloc(sizeof *b + (size_t)size + 1) : NULL;
		if (!b)
			ffi_error_set("MemoryError", "cannot allocate %llu bytes of parameters",
				      (unsigned long long)size);
	}
	if (b) {
		ffi_object_init(&b->header, FFI_BYTES, bytes_deleter);
		char *data = (char *)(b + 1);
		param_blob_encode(entries, count, data);
		data[size] = '\0';
		b->data = data;
		b->size = (size_t)size;
	}
	free(entries);
	return b;
}

static int global_save_params(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.SaveParams(0: Map<str, ffi.Tensor>) -> bytes", n, 1))
		return -1;
	ffi_bytes_t *b = params_encode("runtime.SaveParams(0: Map<str, ffi.Tensor>) -> bytes", args, n);
	if (!b)
		return -1;
	*result = ffi_any_object(&b->header);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.SaveParams", global_save_params)

static int global_save_params_file(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.SaveParamsToFile(0: Map<str, ffi.Tensor>, 1: str) "
			  "-> void", n, 2))
		return -1;
	(void)result;
	const char *path;
	size_t len;
	if (ffi_arg_str("runtime.SaveParamsToFile", args, n, 1, &path, &len))
		return -1;
	ffi_bytes_t *b = params_encode("runtime.SaveParamsToFile(0: Map<str, ffi.Tensor>, 1: str) "
				       "-> void", args, n);
	if (!b)
		return -1;
	int rc = module_file_write(path, b->data, b->size);
	ffi_object_release(&b->header);
	return rc;
}
FFI_REGISTER_GLOBAL("runtime.SaveParamsToFile", global_save_params_file)

/* A Map<str, Tensor> of decoded entries; later duplicates of a name win, as in TVM. */
static int params_to_map(const char *data, size_t size, TVMFFIAny *result)
{
	param_entry_t *entries;
	size_t count;
	if (param_blob_decode(data, size, &entries, &count))
		return -1;
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	for (size_t i = 0; i < count; i++) {
		TVMFFIAny key = ffi_any_object(&ffi_str_new(entries[i].name, entries[i].name_len)->header);
		TVMFFIAny value = ffi_any_object(&entries[i].owned->header);
		entries[i].owned = NULL; /* the map holds it now */
		ffi_map_set(m, key, value);
	}
	param_entries_free(entries, count);
	*result = ffi_any_object(ffi_map_object(m));
	return 0;
}

static int global_load_params(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.LoadParams(0: bytes) -> Map<str, ffi.Tensor>", n, 1))
		return -1;
	size_t size = 0;
	const char *data = n > 0 ? ffi_any_as_bytes(&args[0], &size) : NULL;
	if (!data) {
		ffi_error_set("TypeError", "Mismatched type on argument #0 when calling: "
			      "`runtime.LoadParams(0: bytes) -> Map<str, ffi.Tensor>`. Expected `bytes`");
		return -1;
	}
	return params_to_map(data, size, result);
}
FFI_REGISTER_GLOBAL("runtime.LoadParams", global_load_params)

static int global_load_params_file(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count("runtime.LoadParamsFromFile(0: str) -> Map<str, ffi.Tensor>", n, 1))
		return -1;
	const char *path;
	size_t len;
	if (ffi_arg_str("runtime.LoadParamsFromFile", args, n, 0, &path, &len))
		return -1;
	ffi_bytes_t *b = module_file_read(path);
	if (!b)
		return -1;
	int rc = params_to_map(b->data, b->size, result);
	ffi_object_release(&b->header);
	return rc;
}
FFI_REGISTER_GLOBAL("runtime.LoadParamsFromFile", global_load_params_file)
