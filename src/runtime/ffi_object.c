/* Reference-counted tvm-ffi objects: strings, bytes, functions, shapes, arrays, tensors and
 * modules, and the TVMFFIAny helpers around them. */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "base/log.h"
#include "base/xalloc.h"

void ffi_object_init(TVMFFIObject *obj, int32_t type_index, void (*deleter)(void *, int))
{
	obj->combined_ref_count = 1;
	obj->type_index = type_index;
	obj->padding = 0;
	obj->deleter = deleter;
}

void ffi_object_retain(TVMFFIObject *obj)
{
	if (obj)
		__atomic_add_fetch(&obj->combined_ref_count, 1, __ATOMIC_RELAXED);
}

void ffi_object_release(TVMFFIObject *obj)
{
	if (!obj)
		return;
	uint64_t left = __atomic_sub_fetch(&obj->combined_ref_count, 1, __ATOMIC_ACQ_REL);
	if ((left & 0xffffffffu) == 0 && obj->deleter)
		obj->deleter(obj, 1);
}

uint32_t ffi_object_refcount(const TVMFFIObject *obj)
{
	return (uint32_t)(__atomic_load_n(&obj->combined_ref_count, __ATOMIC_RELAXED) & 0xffffffffu);
}

void ffi_any_retain(const TVMFFIAny *v)
{
	if (ffi_any_is_object(v))
		ffi_object_retain(v->v_obj);
}

void ffi_any_release(TVMFFIAny *v)
{
	if (ffi_any_is_object(v))
		ffi_object_release(v->v_obj);
	*v = ffi_any_none();
}

TVMFFIAny ffi_any_int(int64_t x)
{
	TVMFFIAny v = {.type_index = FFI_INT};
	v.v_int64 = x;
	return v;
}

TVMFFIAny ffi_any_bool(int x)
{
	TVMFFIAny v = {.type_index = FFI_BOOL};
	v.v_int64 = x != 0;
	return v;
}

TVMFFIAny ffi_any_float(double x)
{
	TVMFFIAny v = {.type_index = FFI_FLOAT};
	v.v_float64 = x;
	return v;
}

TVMFFIAny ffi_any_ptr(void *p)
{
	TVMFFIAny v = {.type_index = FFI_OPAQUE_PTR};
	v.v_ptr = p;
	return v;
}

TVMFFIAny ffi_any_object(TVMFFIObject *obj)
{
	TVMFFIAny v = {0};
	if (obj) {
		v.type_index = obj->type_index;
		v.v_obj = obj;
	}
	return v;
}

int ffi_any_as_int(const TVMFFIAny *v, int64_t *out)
{
	if (v->type_index == FFI_INT || v->type_index == FFI_BOOL) {
		*out = v->v_int64;
		return 0;
	}
	ffi_error_set("TypeError", "expected an integer, got type index %d", v->type_index);
	return -1;
}

const char *ffi_any_as_str(const TVMFFIAny *v, size_t *len)
{
	switch (v->type_index) {
	case FFI_RAW_STR:
		if (len)
			*len = strlen(v->v_c_str);
		return v->v_c_str;
	case FFI_SMALL_STR:
		if (len)
			*len = v->zero_padding;
		return v->v_bytes;
	case FFI_STR:
		if (!v->v_obj)
			return NULL;
		if (len)
			*len = ((const ffi_bytes_t *)v->v_obj)->size;
		return ((const ffi_bytes_t *)v->v_obj)->data;
	default:
		return NULL;
	}
}

const char *ffi_any_as_bytes(const TVMFFIAny *v, size_t *len)
{
	const TVMFFIByteArray *ba;
	switch (v->type_index) {
	case FFI_BYTE_ARRAY_PTR:
		ba = v->v_ptr;
		if (!ba)
			return NULL;
		*len = ba->size;
		return ba->size ? ba->data : "";
	case FFI_SMALL_BYTES:
		*len = v->zero_padding < 8 ? v->zero_padding : 7;
		return v->v_bytes;
	case FFI_BYTES:
		if (!v->v_obj)
			return NULL;
		*len = ((const ffi_bytes_t *)v->v_obj)->size;
		return ((const ffi_bytes_t *)v->v_obj)->data;
	default:
		return NULL;
	}
}

DLTensor *ffi_any_as_dltensor(const TVMFFIAny *v)
{
	if (v->type_index == FFI_DLTENSOR_PTR)
		return (DLTensor *)v->v_ptr;
	if (v->type_index == FFI_TENSOR && v->v_obj)
		return &((ffi_tensor_t *)v->v_obj)->dl;
	return NULL;
}

/* ---- strings and bytes ---- */

static void plain_deleter(void *self, int flags)
{
	(void)flags;
	free(self);
}

static ffi_bytes_t *bytes_new(int32_t type_index, const char *data, size_t size)
{
	if (size > SIZE_MAX - sizeof(ffi_bytes_t) - 1)
		return NULL;
	ffi_bytes_t *b = malloc(sizeof *b + size + 1);
	if (!b)
		return NULL;
	ffi_object_init(&b->header, type_index, plain_deleter);
	char *copy = (char *)(b + 1);
	if (size)
		memcpy(copy, data, size);
	copy[size] = '\0';
	b->data = copy;
	b->size = size;
	return b;
}

ffi_bytes_t *ffi_str_new(const char *data, size_t size)
{
	ffi_bytes_t *s = bytes_new(FFI_STR, data, size);
	if (!s)
		fatal("out of memory for a %zu-byte string", size);
	return s;
}

ffi_bytes_t *ffi_bytes_new(const char *data, size_t size)
{
	ffi_bytes_t *b = bytes_new(FFI_BYTES, data, size);
	if (!b)
		ffi_error_set("MemoryError", "cannot allocate %zu bytes", size);
	return b;
}

/* ---- functions ---- */

static void function_deleter(void *self, int flags)
{
	(void)flags;
	ffi_function_t *fn = self;
	if (fn->data_free)
		fn->data_free(fn->data);
	ffi_object_release(fn->owner);
	free(fn);
}

ffi_function_t *ffi_function_new(TVMFFISafeCallType call, void *data, void (*data_free)(void *),
				 TVMFFIObject *owner)
{
	ffi_function_t *fn = xcalloc(1, sizeof *fn);
	ffi_object_init(&fn->header, FFI_FUNCTION, function_deleter);
	fn->safe_call = call;
	fn->data = data;
	fn->data_free = data_free;
	fn->owner = owner;
	ffi_object_retain(owner);
	return fn;
}

int ffi_function_call(ffi_function_t *fn, const TVMFFIAny *args, int32_t num_args,
		      TVMFFIAny *result)
{
	*result = ffi_any_none();
	int rc = fn->safe_call(fn, args, num_args, result);
	if (rc != 0) {
		if (ffi_error_kind()[0] == '\0')
			ffi_error_set("RuntimeError", "function failed with code %d", rc);
		return -1;
	}
	return 0;
}

/* ---- shapes and arrays ---- */

ffi_shape_t *ffi_shape_new(const int64_t *dims, size_t ndim)
{
	ffi_shape_t *s = xmalloc(sizeof *s + ndim * sizeof(int64_t));
	ffi_object_init(&s->header, FFI_SHAPE, plain_deleter);
	int64_t *copy = (int64_t *)(s + 1);
	if (ndim)
		memcpy(copy, dims, ndim * sizeof(int64_t));
	s->data = copy;
	s->size = ndim;
	return s;
}

static void array_deleter(void *self, int flags)
{
	(void)flags;
	ffi_array_t *a = self;
	for (size_t i = 0; i < a->size; i++)
		ffi_any_release(&a->items[i]);
	free(a->items);
	free(a);
}

ffi_array_t *ffi_array_new(void)
{
	ffi_array_t *a = xcalloc(1, sizeof *a);
	ffi_object_init(&a->header, FFI_ARRAY, array_deleter);
	return a;
}

void ffi_array_push(ffi_array_t *a, TVMFFIAny value)
{
	if (a->size == a->capacity) {
		a->capacity = a->capacity ? a->capacity * 2 : 4;
		a->items = xrealloc(a->items, a->capacity * sizeof *a->items);
	}
	a->items[a->size++] = value;
}

/* ---- tensors ---- */

int ffi_dltensor_is_compact(const DLTensor *t)
{
	if (!t->strides)
		return 1;
	int64_t expect = 1;
	for (int32_t i = t->ndim - 1; i >= 0; i--) {
		if (t->shape[i] != 1 && t->strides[i] != expect)
			return 0;
		expect *= t->shape[i];
	}
	return 1;
}

int ffi_dltensor_nbytes(const DLTensor *t, uint64_t *out)
{
	if (t->ndim < 0)
		return -1;
	uint64_t count = 1;
	for (int32_t i = 0; i < t->ndim; i++) {
		if (t->shape[i] < 0)
			return -1;
		if (__builtin_mul_overflow(count, (uint64_t)t->shape[i], &count))
			return -1;
	}
	uint64_t bits = (uint64_t)t->dtype.bits * (uint64_t)t->dtype.lanes;
	uint64_t total;
	if (__builtin_mul_overflow(count, bits, &total) || total > UINT64_MAX - 7)
		return -1;
	*out = (total + 7) / 8;
	return 0;
}

static void tensor_deleter(void *self, int flags)
{
	(void)flags;
	ffi_tensor_t *t = self;
	if (t->owns_data)
		free(t->dl.data);
	ffi_object_release(t->data_owner);
	free(t->shape_storage);
	free(t);
}

static ffi_tensor_t *tensor_header_new(const int64_t *shape, int32_t ndim, DLDataType dtype,
				       DLDevice device)
{
	ffi_tensor_t *t = xcalloc(1, sizeof *t);
	ffi_object_init(&t->header, FFI_TENSOR, tensor_deleter);
	t->shape_storage = xcalloc((size_t)(ndim > 0 ? ndim : 1), sizeof(int64_t));
	if (ndim > 0)
		memcpy(t->shape_storage, shape, (size_t)ndim * sizeof(int64_t));
	t->dl.shape = t->shape_storage;
	t->dl.ndim = ndim;
	t->dl.dtype = dtype;
	t->dl.device = device;
	t->dl.strides = NULL;
	t->dl.byte_offset = 0;
	return t;
}

ffi_tensor_t *ffi_tensor_alloc(const int64_t *shape, int32_t ndim, DLDataType dtype,
			       DLDevice device)
{
	ffi_tensor_t *t = tensor_header_new(shape, ndim, dtype, device);
	uint64_t nbytes;
	if (ffi_dltensor_nbytes(&t->dl, &nbytes) != 0 || nbytes > SIZE_MAX / 2) {
		ffi_error_set("ValueError", "tensor shape is invalid or too large");
		ffi_object_release(&t->header);
		return NULL;
	}
	t->dl.data = aligned_alloc_zero(64, (size_t)nbytes);
	if (!t->dl.data) {
		ffi_error_set("MemoryError", "cannot allocate a tensor of %llu bytes",
			      (unsigned long long)nbytes);
		ffi_object_release(&t->header);
		return NULL;
	}
	t->owns_data = 1;
	return t;
}

ffi_tensor_t *ffi_tensor_view(void *data, const int64_t *shape, int32_t ndim, DLDataType dtype,
			      DLDevice device, TVMFFIObject *owner)
{
	ffi_tensor_t *t = tensor_header_new(shape, ndim, dtype, device);
	t->dl.data = data;
	t->data_owner = owner;
	ffi_object_retain(owner);
	return t;
}

/* ---- modules ---- */

static void module_deleter(void *self, int flags)
{
	(void)flags;
	ffi_module_t *m = self;
	if (m->vtable->destroy)
		m->vtable->destroy(m);
	for (size_t i = 0; i < m->num_imports; i++)
		ffi_object_release(&m->imports[i]->header);
	free(m->imports);
	free(m);
}

ffi_module_t *ffi_module_new(const ffi_module_vtable_t *vtable, void *impl)
{
	ffi_module_t *m = xcalloc(1, sizeof *m);
	ffi_object_init(&m->header, FFI_MODULE, module_deleter);
	m->vtable = vtable;
	m->impl = impl;
	return m;
}

void ffi_module_import(ffi_module_t *parent, ffi_module_t *child)
{
	parent->imports = xrealloc(parent->imports, (parent->num_imports + 1) * sizeof(ffi_module_t *));
	ffi_object_retain(&child->header);
	parent->imports[parent->num_imports++] = child;
}

static ffi_function_t *module_lookup(ffi_module_t *mod, const char *name, int query_imports,
				     int depth)
{
	if (depth > 64) {
		ffi_error_set("RuntimeError", "module import tree is too deep");
		return NULL;
	}
	ffi_function_t *fn = mod->vtable->get_function ? mod->vtable->get_function(mod, name) : NULL;
	if (fn || !query_imports || ffi_error_kind()[0])
		return fn;
	for (size_t i = 0; i < mod->num_imports; i++) {
		fn = module_lookup(mod->imports[i], name, 1, depth + 1);
		if (fn || ffi_error_kind()[0])
			return fn;
	}
	return NULL;
}

ffi_function_t *ffi_module_get_function(ffi_module_t *mod, const char *name, int query_imports)
{
	ffi_error_clear();
	return module_lookup(mod, name, query_imports, 0);
}

/* ---- argument helpers ---- */

static int arg_present(const char *fn, int32_t n, int32_t i)
{
	if (i < n)
		return 0;
	ffi_error_set("TypeError", "%s: expected at least %d arguments, got %d", fn, i + 1, n);
	return -1;
}

int ffi_arg_int(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, int64_t *out)
{
	if (arg_present(fn, n, i))
		return -1;
	if (args[i].type_index == FFI_INT || args[i].type_index == FFI_BOOL) {
		*out = args[i].v_int64;
		return 0;
	}
	ffi_error_set("TypeError", "%s: argument %d must be an integer (type index %d given)", fn, i,
		      args[i].type_index);
	return -1;
}

int ffi_arg_str(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, const char **out,
		size_t *len)
{
	if (arg_present(fn, n, i))
		return -1;
	*out = ffi_any_as_str(&args[i], len);
	if (*out)
		return 0;
	ffi_error_set("TypeError", "%s: argument %d must be a string (type index %d given)", fn, i,
		      args[i].type_index);
	return -1;
}

int ffi_arg_tensor(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, DLTensor **out)
{
	if (arg_present(fn, n, i))
		return -1;
	*out = ffi_any_as_dltensor(&args[i]);
	if (*out)
		return 0;
	ffi_error_set("TypeError", "%s: argument %d must be a tensor (type index %d given)", fn, i,
		      args[i].type_index);
	return -1;
}

int ffi_arg_module(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i,
		   ffi_module_t **out)
{
	if (arg_present(fn, n, i))
		return -1;
	if (args[i].type_index == FFI_MODULE && args[i].v_obj) {
		*out = (ffi_module_t *)args[i].v_obj;
		return 0;
	}
	ffi_error_set("TypeError", "%s: argument %d must be a module (type index %d given)", fn, i,
		      args[i].type_index);
	return -1;
}
