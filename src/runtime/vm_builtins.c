/* The `vm.builtin.*` functions Relax bytecode calls (docs/relax-vm.md §4), and the list of
 * builtins this runtime refuses with a reason. The VM
 * resolves them here; vm_globals.c also registers them as globals for remote clients, with
 * TVM's typed signatures checked first. Builtins that need the VM (%vm) accept only the VM
 * running on this thread, so a remote peer cannot pass a forged VM pointer. Every argument
 * is checked; bytecode is untrusted input. Error kinds follow TVM's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/vm.h"
#include "base/xalloc.h"

/* DLPack code 6 (bool) is missing from the older dlpack.h this project builds against. */
#define VM_DL_BOOL 6

/* The optional trailing error-context string ("ErrorContext(fn=main, ...) "). */
static const char *err_ctx(const TVMFFIAny *args, int32_t n, int32_t i)
{
	if (i < 0 || i >= n)
		return "";
	const char *s = ffi_any_as_str(&args[i], NULL);
	return s ? s : "";
}

/* The error context at args[i] as TVM casts it: a string, or (when optional) None. */
static int ctx_arg(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, int optional,
		   const char **out)
{
	*out = "";
	if (i >= n || (optional && args[i].type_index == FFI_NONE))
		return 0;
	const char *s = ffi_any_as_str(&args[i], NULL);
	if (s) {
		*out = s;
		return 0;
	}
	ffi_error_set("TypeError", "%s: the error context (argument %d) must be a string", fn, i);
	return -1;
}

static int fail(const char *kind, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const char *kind, const char *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t len = strlen(ctx);
	ffi_error_set(kind, "%s%s%s", ctx, len && ctx[len - 1] != ' ' ? " " : "", msg);
	return -1;
}

static const char *type_name(int32_t type_index)
{
	switch (type_index) {
	case FFI_NONE: return "None";
	case FFI_INT: return "Int";
	case FFI_BOOL: return "Bool";
	case FFI_FLOAT: return "Float";
	case FFI_OPAQUE_PTR: return "OpaquePtr";
	case FFI_DATATYPE: return "DataType";
	case FFI_DLTENSOR_PTR: return "DLTensor*";
	case FFI_RAW_STR: case FFI_SMALL_STR: case FFI_STR: return "String";
	case FFI_FUNCTION: return "Function";
	case FFI_SHAPE: return "Shape";
	case FFI_TENSOR: return "Tensor";
	case FFI_ARRAY: return "Array";
	case FFI_LIST: return "List";
	case FFI_MODULE: return "Module";
	case FFI_VM_STORAGE: return "Storage";
	case FFI_VM_CLOSURE: return "Closure";
	default: return "object";
	}
}

static int need_args(const char *fn, int32_t n, int32_t min)
{
	if (n >= min)
		return 0;
	ffi_error_set("TypeError", "%s expects at least %d arguments, got %d", fn, min, n);
	return -1;
}

static int arg_shape(const char *fn, const TVMFFIAny *args, int32_t i, const ffi_shape_t **out)
{
	if (args[i].type_index == FFI_SHAPE && args[i].v_obj) {
		*out = (const ffi_shape_t *)args[i].v_obj;
		return 0;
	}
	ffi_error_set("TypeError", "%s: argument %d must be a Shape, got %s", fn, i,
		      type_name(args[i].type_index));
	return -1;
}

/* The dims of a Shape argument, or of an Array or List of ints (tvm-ffi converts those). */
typedef struct dims {
	const int64_t *data;
	size_t size;
	int64_t *owned; /* release with free() */
} dims_t;

static int arg_dims(const char *fn, const TVMFFIAny *args, int32_t i, dims_t *out)
{
	const TVMFFIAny *a = &args[i];
	out->owned = NULL;
	if (a->type_index == FFI_SHAPE && a->v_obj) {
		out->data = ((const ffi_shape_t *)a->v_obj)->data;
		out->size = ((const ffi_shape_t *)a->v_obj)->size;
		return 0;
	}
	int seq = a->type_index == FFI_ARRAY || a->type_index == FFI_LIST;
	const ffi_array_t *arr = (const ffi_array_t *)a->v_obj;
	for (size_t k = 0; seq && arr && k < arr->size; k++)
		if (arr->items[k].type_index != FFI_INT && arr->items[k].type_index != FFI_BOOL)
			arr = NULL;
	if (!seq || !arr) {
		ffi_error_set("TypeError", "%s: argument %d must be a Shape, got %s", fn, i,
			      type_name(a->type_index));
		return -1;
	}
	out->owned = xcalloc(arr->size ? arr->size : 1, sizeof *out->owned);
	for (size_t k = 0; k < arr->size; k++)
		out->owned[k] = arr->items[k].v_int64;
	out->data = out->owned;
	out->size = arr->size;
	return 0;
}

static int arg_dtype(const char *fn, const TVMFFIAny *args, int32_t i, DLDataType *out)
{
	size_t len;
	const char *s = ffi_any_as_str(&args[i], &len);
	if (s)
		return vm_dtype_parse(s, len, out);
	if (args[i].type_index == FFI_DATATYPE) {
		*out = args[i].v_dtype;
		return 0;
	}
	ffi_error_set("TypeError", "%s: argument %d must be a DataType, got %s", fn, i,
		      type_name(args[i].type_index));
	return -1;
}

static int arg_array(const char *fn, const TVMFFIAny *args, int32_t i, ffi_array_t **out)
{
	/* A List has the Array layout; tvm-ffi converts one where an Array<Any> is declared. */
	if ((args[i].type_index == FFI_ARRAY || args[i].type_index == FFI_LIST) && args[i].v_obj) {
		*out = (ffi_array_t *)args[i].v_obj;
		return 0;
	}
	ffi_error_set("TypeError", "%s: argument %d must be a tuple, got %s", fn, i,
		      type_name(args[i].type_index));
	return -1;
}

static int scope_ok(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i)
{
	if (i >= n || args[i].type_index == FFI_NONE)
		return 0;
	size_t len;
	const char *s = ffi_any_as_str(&args[i], &len);
	if (s && (len == 0 || (len == 6 && memcmp(s, "global", 6) == 0)))
		return 0;
	ffi_error_set("ValueError", "%s: memory scope '%.*s' is not supported (only \"global\")",
		      fn, s ? (int)(len > 64 ? 64 : len) : 1, s ? s : "?");
	return -1;
}

/* ---- dtype strings ---- */

/* The float8/6/4 variants tvm-ffi names ("float8_e4m3fn", also "fp8_" and "f8_" forms). */
static const struct {
	const char *name;
	uint8_t code, bits;
} small_floats[] = {
	{"e4m3b11fnuz", 9, 8}, {"e4m3fnuz", 11, 8}, {"e4m3fn", 10, 8}, {"e5m2fnuz", 13, 8},
	{"e8m0fnu", 14, 8},    {"e3m4", 7, 8},      {"e4m3", 8, 8},    {"e5m2", 12, 8},
	{"e2m3fn", 15, 6},     {"e3m2fn", 16, 6},   {"e2m1fn", 17, 4},
};

/* Decimal digits at *p (none gives 0); -1 when the value exceeds max. */
static int64_t dtype_digits(const char **p, const char *end, int64_t max)
{
	int64_t v = 0;
	for (; *p < end && **p >= '0' && **p <= '9'; (*p)++)
		if ((v = v * 10 + (**p - '0')) > max)
			return -1;
	return v;
}

/* Optional "x<lanes>" then the end of the string. */
static int dtype_lanes(const char *p, const char *end, DLDataType *out)
{
	out->lanes = 1;
	if (p < end && *p == 'x') {
		p++;
		const char *digits = p;
		int64_t lanes = dtype_digits(&p, end, 65535);
		if (p == digits || lanes <= 0)
			return -1;
		out->lanes = (uint16_t)lanes;
	}
	return p == end ? 0 : -1;
}

static int dtype_small_float(const char *p, const char *end, int bits, DLDataType *out)
{
	for (size_t i = 0; i < sizeof small_floats / sizeof small_floats[0]; i++) {
		size_t n = strlen(small_floats[i].name);
		if (small_floats[i].bits != bits || (size_t)(end - p) < n ||
		    memcmp(p, small_floats[i].name, n) != 0)
			continue;
		const char *rest = p + n;
		if (rest != end && *rest != 'x' && !(bits == 4 && *rest == '_'))
			continue;
		out->code = small_floats[i].code;
		out->bits = small_floats[i].bits;
		return dtype_lanes(rest + (rest != end && *rest == '_'), end, out);
	}
	return -1;
}

static int has_prefix(const char *p, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);
	return (size_t)(end - p) >= n && memcmp(p, prefix, n) == 0;
}

static int dtype_parse_base(const char *p, const char *end, DLDataType *out)
{
	static const struct {
		const char *prefix;
		uint8_t code, bits;
	} bases[] = {
		{"uint", kDLUInt, 32}, {"int", kDLInt, 32},	 {"bool", VM_DL_BOOL, 8},
		{"handle", kDLOpaqueHandle, 64}, {"bfloat", kDLBfloat, 16}, {"bf", kDLBfloat, 16},
		{"float", kDLFloat, 32},	{"u", kDLUInt, 32},	 {"i", kDLInt, 32},
		{"f", kDLFloat, 32},
	};
	static const char *const small[][3] = {{"float8_", "fp8_", "f8_"},
					       {"float6_", "fp6_", "f6_"},
					       {"float4_", "fp4_", "f4_"}};
	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 3; j++)
			if (has_prefix(p, end, small[k][j]))
				return dtype_small_float(p + strlen(small[k][j]), end, 8 - 2 * k,
							 out);
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		size_t n = strlen(bases[i].prefix);
		if (!has_prefix(p, end, bases[i].prefix))
			continue;
		/* The one-letter forms ("i8", "f16", "bf16") need digits right after. */
		if (n <= 2 && (p + n >= end || p[n] < '0' || p[n] > '9'))
			continue;
		const char *q = p + n;
		int64_t bits = dtype_digits(&q, end, 255);
		if (bits < 0)
			return -1;
		out->code = bases[i].code;
		out->bits = bits ? (uint8_t)bits : bases[i].bits;
		return dtype_lanes(q, end, out);
	}
	return -1;
}

int vm_dtype_parse(const char *s, size_t len, DLDataType *out)
{
	if (len == 0 || (len == 4 && memcmp(s, "void", 4) == 0)) {
		*out = (DLDataType){kDLOpaqueHandle, 0, 0};
		return 0;
	}
	DLDataType dt = {0, 0, 0};
	if (dtype_parse_base(s, s + len, &dt) == 0) {
		*out = dt;
		return 0;
	}
	ffi_error_set("ValueError", "unknown dtype `%.*s`", (int)(len > 64 ? 64 : len), s);
	return -1;
}

/* Bytes for numel elements of dtype, rounding bits up to whole bytes at the end. */
static int dtype_bytes(uint64_t numel, DLDataType dt, uint64_t *out)
{
	uint64_t bits;
	if (__builtin_mul_overflow(numel, (uint64_t)dt.bits * dt.lanes, &bits) ||
	    bits > UINT64_MAX - 7)
		return -1;
	*out = (bits + 7) / 8;
	return 0;
}

static int shape_numel(const int64_t *dims, size_t ndim, uint64_t *out)
{
	uint64_t numel = 1;
	for (size_t i = 0; i < ndim; i++)
		if (dims[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)dims[i], &numel))
			return -1;
	*out = numel;
	return 0;
}

/* Owner for a view of args[i]: the tensor object when it keeps its data alive, else NULL
 * (a view of borrowed memory stays borrowed, so the VM copies it if it escapes). */
static TVMFFIObject *view_owner(const TVMFFIAny *v)
{
	if (v->type_index != FFI_TENSOR || !v->v_obj)
		return NULL;
	const ffi_tensor_t *t = (const ffi_tensor_t *)v->v_obj;
	return t->owns_data || t->data_owner ? v->v_obj : NULL;
}

/* Slot i of a shape heap. The reference reads any tensor's memory as int64 slots without a
 * check; here the tensor must be on the CPU with 8-byte aligned data, and i must lie within
 * its bytes. */
static int heap_slot(const TVMFFIAny *heap, int64_t i, const char *ctx, int64_t **out)
{
	DLTensor *t = ffi_any_as_dltensor(heap);
	if (!t)
		return fail("ValueError", ctx, "shape heap is required here but %s was given",
			    type_name(heap->type_index));
	uint64_t nbytes;
	char *base = (char *)t->data + t->byte_offset;
	if (t->device.device_type != kDLCPU || !t->data || !ffi_dltensor_is_compact(t) ||
	    ffi_dltensor_nbytes(t, &nbytes) || (uintptr_t)base % 8 != 0)
		return fail("ValueError", ctx, "shape heap must be an aligned, compact CPU tensor");
	if (i < 0 || (uint64_t)i >= nbytes / 8)
		return fail("IndexError", ctx, "shape heap index %lld out of range (%llu slots)",
			    (long long)i, (unsigned long long)(nbytes / 8));
	*out = (int64_t *)base + i;
	return 0;
}

/* ---- tier A ---- */

static int builtin_check_tensor_info(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	(void)self, (void)result;
	const char *fn = "vm.builtin.check_tensor_info";
	const char *ctx;
	int64_t ndim;
	DLDataType want;
	/* (value, ndim, err_ctx) or (value, ndim, dtype or None, err_ctx) */
	int has_dtype = n >= 4 && args[2].type_index != FFI_NONE;
	if (need_args(fn, n, 3) || ffi_arg_int(fn, args, n, 1, &ndim) ||
	    (has_dtype && arg_dtype(fn, args, 2, &want)) ||
	    ctx_arg(fn, args, n, n >= 4 ? 3 : 2, 1, &ctx))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (!t)
		return fail("TypeError", ctx, "expect a Tensor but get %s",
			    type_name(args[0].type_index));
	if (ndim != -1 && t->ndim != ndim)
		return fail("ValueError", ctx, "expect Tensor with ndim %lld but get %d",
			    (long long)ndim, t->ndim);
	if (has_dtype) {
		if (want.code != t->dtype.code || want.bits != t->dtype.bits ||
		    want.lanes != t->dtype.lanes)
			return fail("ValueError", ctx,
				    "expect Tensor with dtype (code %u, bits %u, lanes %u) but get "
				    "(code %u, bits %u, lanes %u)",
				    want.code, want.bits, want.lanes, t->dtype.code, t->dtype.bits,
				    t->dtype.lanes);
	}
	return 0;
}

/* One (code, value) pair of match_shape / match_prim_value against `actual`. */
static int match_one(int64_t actual, const TVMFFIAny *heap, int64_t code, int64_t v,
		     const char *ctx, int64_t dim)
{
	int64_t *slot;
	switch (code) {
	case 0:
		if (actual != v)
			return fail("RuntimeError", ctx,
				    "Expect match shape dim %lld to be %lld, but get %lld",
				    (long long)dim, (long long)v, (long long)actual);
		return 0;
	case 1:
		if (heap_slot(heap, v, ctx, &slot))
			return -1;
		*slot = actual;
		return 0;
	case 2:
		return 0;
	case 3:
		if (heap_slot(heap, v, ctx, &slot))
			return -1;
		if (*slot != actual)
			return fail("RuntimeError", ctx,
				    "Expect match shape dim %lld to be %lld, but get %lld",
				    (long long)dim, (long long)*slot, (long long)actual);
		return 0;
	default:
		return fail("InternalError", ctx, "unknown match code %lld", (long long)code);
	}
}

static int builtin_match_shape(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)result;
	const char *fn = "vm.builtin.match_shape";
	int64_t count;
	const char *ctx;
	if (need_args(fn, n, 3) || ffi_arg_int(fn, args, n, 2, &count))
		return -1;
	if (count < 0 || count > (n - 3) / 2)
		return fail("InternalError", "", "%s: %lld dimensions but %d arguments", fn,
			    (long long)count, n);
	if (ctx_arg(fn, args, n, (int32_t)(3 + 2 * count), 0, &ctx))
		return -1;
	dims_t dims = {0};
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (t) {
		dims.data = t->shape;
		dims.size = (size_t)t->ndim;
	} else if (arg_dims(fn, args, 0, &dims)) {
		return -1;
	}
	int rc = 0;
	if ((int64_t)dims.size != count)
		rc = fail("RuntimeError", ctx, "match_shape: expect ndim %lld but get %zu",
			  (long long)count, dims.size);
	for (int64_t i = 0; rc == 0 && i < count; i++) {
		int64_t code, v;
		if (ffi_arg_int(fn, args, n, (int32_t)(3 + 2 * i), &code) ||
		    ffi_arg_int(fn, args, n, (int32_t)(4 + 2 * i), &v) ||
		    match_one(dims.data[i], &args[1], code, v, ctx, i))
			rc = -1;
	}
	free(dims.owned);
	return rc;
}

static int builtin_alloc_storage(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.alloc_storage";
	const ffi_shape_t *size;
	int64_t dev_index;
	DLDataType hint;
	DLDevice dev;
	if (need_args(fn, n, 4))
		return -1;
	vm_t *vm = vm_context(&args[0]);
	if (!vm || arg_shape(fn, args, 1, &size) || ffi_arg_int(fn, args, n, 2, &dev_index) ||
	    arg_dtype(fn, args, 3, &hint) || scope_ok(fn, args, n, 4) ||
	    vm_device(vm, dev_index, &dev))
		return -1;
	uint64_t numel, nbytes;
	if (shape_numel(size->data, size->size, &numel) || dtype_bytes(numel, hint, &nbytes))
		return fail("ValueError", "", "%s: invalid or too large size", fn);
	/* Alignment: at least 64 (kernels assume it), or the element size if that is a larger
	 * power of two. */
	uint64_t elem = (uint64_t)hint.bits * hint.lanes / 8, align = 64;
	if (elem > 64 && (elem & (elem - 1)) == 0)
		align = elem;
	vm_storage_t *s = vm_storage_new(nbytes, align, dev);
	if (!s)
		return -1;
	*result = ffi_any_object(&s->header);
	return 0;
}

static int dtype_valid_for_tensor(DLDataType dt)
{
	if (dt.lanes < 1)
		return 0;
	if (dt.bits == 1)
		return 1;
	return dt.bits % 8 == 0 && (dt.bits & (dt.bits - 1)) == 0;
}

/* A view of `shape` elements of dt at byte `offset` of storage s, checked to fit. */
static int alloc_tensor_in(vm_storage_t *s, int64_t offset, const dims_t *shape, DLDataType dt,
			   TVMFFIAny *result)
{
	const char *fn = "vm.builtin.alloc_tensor";
	if (!dtype_valid_for_tensor(dt))
		return fail("ValueError", "", "%s: unsupported dtype (code %u, bits %u, lanes %u)",
			    fn, dt.code, dt.bits, dt.lanes);
	uint64_t numel, nbytes;
	if (shape->size > 64 || shape_numel(shape->data, shape->size, &numel) ||
	    dtype_bytes(numel, dt, &nbytes))
		return fail("ValueError", "", "%s: invalid shape", fn);
	if (offset < 0 || (uint64_t)offset > s->size || nbytes > s->size - (uint64_t)offset)
		return fail("ValueError", "",
			    "%s: tensor of %llu bytes at offset %lld does not fit in a storage of "
			    "%llu bytes",
			    fn, (unsigned long long)nbytes, (long long)offset,
			    (unsigned long long)s->size);
	/* A device storage's data is a buffer handle: the offset stays in byte_offset. */
	int host = s->device.device_type == kDLCPU;
	ffi_tensor_t *t = ffi_tensor_view(host ? (char *)s->data + offset : s->data, shape->data,
					  (int32_t)shape->size, dt, s->device, &s->header);
	if (!host)
		t->dl.byte_offset = (uint64_t)offset;
	*result = ffi_any_object(&t->header);
	return 0;
}

static int builtin_alloc_tensor(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.alloc_tensor";
	int64_t offset;
	dims_t shape;
	DLDataType dt;
	if (need_args(fn, n, 4))
		return -1;
	if (args[0].type_index != FFI_VM_STORAGE || !args[0].v_obj)
		return fail("TypeError", "", "%s: argument 0 must be a Storage, got %s", fn,
			    type_name(args[0].type_index));
	if (ffi_arg_int(fn, args, n, 1, &offset) || arg_dtype(fn, args, 3, &dt) ||
	    scope_ok(fn, args, n, 4) || arg_dims(fn, args, 2, &shape))
		return -1;
	int rc = alloc_tensor_in((vm_storage_t *)args[0].v_obj, offset, &shape, dt, result);
	free(shape.owned);
	return rc;
}

static int builtin_null_value(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self, (void)args, (void)n;
	*result = ffi_any_none();
	return 0;
}

static int builtin_copy(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (need_args("vm.builtin.copy", n, 1))
		return -1;
	*result = args[0];
	ffi_any_retain(result);
	return 0;
}

/* A view of args[0] with the given shape/dtype at byte `offset` of its data, checked to fit. */
static int make_view(const char *fn, const TVMFFIAny *src_any, const ffi_shape_t *shape,
		     DLDataType dt, int64_t offset, TVMFFIAny *result)
{
	DLTensor *src = ffi_any_as_dltensor(src_any);
	if (!src)
		return fail("TypeError", "", "%s: argument 0 must be a tensor, got %s", fn,
			    type_name(src_any->type_index));
	if (!ffi_dltensor_is_compact(src))
		return fail("ValueError", "", "%s: source tensor is not compact", fn);
	uint64_t have, numel, need;
	if (ffi_dltensor_nbytes(src, &have) || shape->size > 64 ||
	    shape_numel(shape->data, shape->size, &numel) || dtype_bytes(numel, dt, &need) ||
	    !dtype_valid_for_tensor(dt))
		return fail("ValueError", "", "%s: invalid shape or dtype", fn);
	if (offset < 0 || (uint64_t)offset > have || need > have - (uint64_t)offset)
		return fail("ValueError", "",
			    "%s: the view needs %llu bytes at offset %lld but the tensor has %llu", fn,
			    (unsigned long long)need, (long long)offset, (unsigned long long)have);
	/* Fold the offset into the data pointer when that keeps it 64-byte aligned (what
	 * kernels assume); otherwise keep it as byte_offset, which kernels refuse cleanly. */
	uint64_t total = src->byte_offset + (uint64_t)offset;
	char *data = (char *)src->data;
	if (src->device.device_type == kDLCPU && ((uintptr_t)data + total) % 64 == 0) {
		data += total;
		total = 0;
	}
	ffi_tensor_t *t = ffi_tensor_view(data, shape->data, (int32_t)shape->size, dt, src->device,
					  view_owner(src_any));
	t->dl.byte_offset = total;
	*result = ffi_any_object(&t->header);
	return 0;
}

static int builtin_reshape(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.reshape";
	const ffi_shape_t *shape;
	if (need_args(fn, n, 2) || arg_shape(fn, args, 1, &shape))
		return -1;
	DLTensor *src = ffi_any_as_dltensor(&args[0]);
	if (!src)
		return fail("TypeError", "", "%s: argument 0 must be a tensor", fn);
	return make_view(fn, &args[0], shape, src->dtype, 0, result);
}

static int builtin_make_tuple(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	ffi_array_t *a = ffi_array_new();
	*result = ffi_any_object(&a->header);
	for (int32_t i = 0; i < n; i++) {
		/* The tuple outlives the call: borrowed strings and tensors are copied. */
		TVMFFIAny v = args[i];
		ffi_any_retain(&v);
		if (vm_value_keep(&v)) {
			ffi_any_release(&v);
			ffi_any_release(result);
			return -1;
		}
		ffi_array_push(a, v);
	}
	return 0;
}

static int builtin_tuple_getitem(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.tuple_getitem";
	ffi_array_t *a;
	int64_t i;
	if (need_args(fn, n, 2) || arg_array(fn, args, 0, &a) || ffi_arg_int(fn, args, n, 1, &i))
		return -1;
	if (i < 0 || (uint64_t)i >= a->size)
		return fail("IndexError", "", "%s: index %lld out of range for a tuple of %zu", fn,
			    (long long)i, a->size);
	*result = a->items[i];
	ffi_any_retain(result);
	return 0;
}

/* ---- tier B ---- */

static int builtin_read_if_cond(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.read_if_cond";
	if (need_args(fn, n, 1))
		return -1;
	int64_t v;
	if (args[0].type_index == FFI_INT || args[0].type_index == FFI_BOOL) {
		*result = ffi_any_bool(args[0].v_int64 != 0);
		return 0;
	}
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (!t)
		return fail("TypeError", "", "%s: expects a Bool, Int or tensor, got %s", fn,
			    type_name(args[0].type_index));
	uint64_t numel;
	int bits = t->dtype.bits;
	if ((t->dtype.code != kDLInt && t->dtype.code != kDLUInt && t->dtype.code != VM_DL_BOOL) ||
	    (bits != 1 && bits != 8 && bits != 16 && bits != 32 && bits != 64) ||
	    t->device.device_type != kDLCPU || ffi_dltensor_nbytes(t, &numel) || numel == 0 ||
	    !t->data)
		return fail("InternalError", "",
			    "%s: condition must be a non-empty CPU int/bool tensor", fn);
	const char *p = (const char *)t->data + t->byte_offset;
	switch (bits) {
	case 1: case 8: v = *(const int8_t *)p; break;
	case 16: v = *(const int16_t *)p; break;
	case 32: v = *(const int32_t *)p; break;
	default: v = *(const int64_t *)p; break;
	}
	*result = ffi_any_bool(v != 0);
	return 0;
}

static int builtin_check_tuple_info(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self, (void)result;
	int64_t size;
	if (need_args("vm.builtin.check_tuple_info", n, 2) ||
	    ffi_arg_int("vm.builtin.check_tuple_info", args, n, 1, &size))
		return -1;
	const char *ctx = err_ctx(args, n, 2);
	if (args[0].type_index != FFI_ARRAY || !args[0].v_obj)
		return fail("TypeError", ctx, "expect a Tuple but get %s",
			    type_name(args[0].type_index));
	size_t have = ((const ffi_array_t *)args[0].v_obj)->size;
	if ((int64_t)have != size)
		return fail("ValueError", ctx, "expect a Tuple with %lld elements but get a Tuple "
			    "with %zu elements", (long long)size, have);
	return 0;
}

static int builtin_check_shape_info(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self, (void)result;
	int64_t ndim;
	if (need_args("vm.builtin.check_shape_info", n, 2) ||
	    ffi_arg_int("vm.builtin.check_shape_info", args, n, 1, &ndim))
		return -1;
	const char *ctx = err_ctx(args, n, 2);
	if (args[0].type_index != FFI_SHAPE || !args[0].v_obj)
		return fail("TypeError", ctx, "expect a Shape but get %s",
			    type_name(args[0].type_index));
	size_t have = ((const ffi_shape_t *)args[0].v_obj)->size;
	if (ndim != -1 && (int64_t)have != ndim)
		return fail("ValueError", ctx, "expect Shape with ndim %lld but get %zu",
			    (long long)ndim, have);
	return 0;
}

static int builtin_check_prim_value_info(void *self, const TVMFFIAny *args, int32_t n,
					 TVMFFIAny *result)
{
	(void)self, (void)result;
	DLDataType dt;
	if (need_args("vm.builtin.check_prim_value_info", n, 2) ||
	    arg_dtype("vm.builtin.check_prim_value_info", args, 1, &dt))
		return -1;
	const char *ctx = err_ctx(args, n, 2);
	int t = args[0].type_index;
	int ok;
	if (t >= FFI_STATIC_OBJECT_BEGIN)
		ok = 0;
	else if (dt.code == VM_DL_BOOL || dt.code == kDLInt || dt.code == kDLUInt)
		ok = t == FFI_INT || t == FFI_BOOL;
	else if (dt.code == kDLFloat)
		ok = t == FFI_FLOAT || t == FFI_INT || t == FFI_BOOL;
	else if (dt.code == kDLOpaqueHandle && (dt.bits || dt.lanes))
		ok = t == FFI_OPAQUE_PTR || t == FFI_NONE;
	else
		ok = 0; /* TVM checks no other dtype (bfloat, void, ...) */
	if (!ok)
		return fail("TypeError", ctx, "expect a prim value of dtype code %u but get %s",
			    dt.code, type_name(t));
	return 0;
}

static int builtin_check_func_info(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self, (void)result;
	if (need_args("vm.builtin.check_func_info", n, 1))
		return -1;
	if (args[0].type_index != FFI_FUNCTION && args[0].type_index != FFI_VM_CLOSURE)
		return fail("TypeError", err_ctx(args, n, 1), "expect a Function but get %s",
			    type_name(args[0].type_index));
	return 0;
}

static int builtin_shape_of(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (need_args("vm.builtin.shape_of", n, 1))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (!t)
		return fail("TypeError", "", "vm.builtin.shape_of expects a tensor, got %s",
			    type_name(args[0].type_index));
	*result = ffi_any_object(&ffi_shape_new(t->shape, (size_t)t->ndim)->header);
	return 0;
}

static int builtin_alloc_shape_heap(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.alloc_shape_heap";
	int64_t size;
	DLDevice host;
	if (need_args(fn, n, 2))
		return -1;
	vm_t *vm = vm_context(&args[0]);
	if (!vm || ffi_arg_int(fn, args, n, 1, &size) || vm_device(vm, -1, &host))
		return -1;
	if (size < 0 || size > (1 << 20))
		return fail("ValueError", "", "%s: invalid heap size %lld", fn, (long long)size);
	DLDataType i64 = {kDLInt, 64, 1};
	ffi_tensor_t *t = ffi_tensor_alloc(&size, 1, i64, host);
	if (!t)
		return -1;
	*result = ffi_any_object(&t->header);
	return 0;
}

static int builtin_make_shape(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.make_shape";
	int64_t count;
	if (need_args(fn, n, 2) || ffi_arg_int(fn, args, n, 1, &count))
		return -1;
	if (count < 0 || count > (n - 2) / 2)
		return fail("TypeError", "", "%s: %lld dimensions but %d arguments", fn,
			    (long long)count, n);
	int64_t *dims = xcalloc((size_t)(count ? count : 1), sizeof *dims);
	for (int64_t i = 0; i < count; i++) {
		int64_t code, v, *slot;
		if (ffi_arg_int(fn, args, n, (int32_t)(2 + 2 * i), &code) ||
		    ffi_arg_int(fn, args, n, (int32_t)(3 + 2 * i), &v))
			goto fail;
		if (code == 0) {
			dims[i] = v;
		} else if (code == 1) {
			if (heap_slot(&args[0], v, "", &slot))
				goto fail;
			dims[i] = *slot;
		} else {
			fail("InternalError", "", "%s: unknown code %lld", fn, (long long)code);
			goto fail;
		}
	}
	*result = ffi_any_object(&ffi_shape_new(dims, (size_t)count)->header);
	free(dims);
	return 0;
fail:
	free(dims);
	return -1;
}

static int builtin_make_prim_value(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.make_prim_value";
	int64_t code, v, *slot;
	if (need_args(fn, n, 3) || ffi_arg_int(fn, args, n, 1, &code) ||
	    ffi_arg_int(fn, args, n, 2, &v))
		return -1;
	if (code == 0) {
		*result = ffi_any_int(v);
		return 0;
	}
	if (code != 1)
		return fail("InternalError", "", "%s: unknown code %lld", fn, (long long)code);
	if (heap_slot(&args[0], v, "", &slot))
		return -1;
	*result = ffi_any_int(*slot);
	return 0;
}

static int builtin_match_prim_value(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self, (void)result;
	const char *fn = "vm.builtin.match_prim_value";
	int64_t actual, code, v;
	if (need_args(fn, n, 4) || ffi_arg_int(fn, args, n, 0, &actual) ||
	    ffi_arg_int(fn, args, n, 2, &code) || ffi_arg_int(fn, args, n, 3, &v))
		return -1;
	return match_one(actual, &args[1], code, v, err_ctx(args, n, 4), 0);
}

static int builtin_call_tir_dyn(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.call_tir_dyn";
	dims_t extra;
	if (need_args(fn, n, 2))
		return -1;
	if (args[0].type_index != FFI_FUNCTION || !args[0].v_obj)
		return fail("TypeError", "", "%s: argument 0 must be a function", fn);
	if (arg_dims(fn, args, n - 1, &extra))
		return -1;
	int rc = -1;
	if (extra.size > 4096) {
		fail("ValueError", "", "%s: too many shape arguments", fn);
	} else {
		size_t total = (size_t)(n - 2) + extra.size;
		TVMFFIAny *all = xcalloc(total ? total : 1, sizeof *all);
		memcpy(all, args + 1, (size_t)(n - 2) * sizeof *all);
		for (size_t i = 0; i < extra.size; i++)
			all[(size_t)(n - 2) + i] = ffi_any_int(extra.data[i]);
		rc = ffi_function_call((ffi_function_t *)args[0].v_obj, all, (int32_t)total,
				       result);
		free(all);
	}
	free(extra.owned);
	return rc;
}

static int builtin_tensor_to_shape(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.tensor_to_shape";
	if (need_args(fn, n, 1))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	uint64_t numel;
	if (!t || t->ndim != 1 || t->dtype.code != kDLInt || t->dtype.lanes != 1 ||
	    (t->dtype.bits != 16 && t->dtype.bits != 32 && t->dtype.bits != 64) ||
	    t->device.device_type != kDLCPU || !ffi_dltensor_is_compact(t) ||
	    shape_numel(t->shape, 1, &numel) || numel > 4096 || (numel && !t->data))
		return fail("InternalError", "", "%s expects a 1-D int16/32/64 CPU tensor", fn);
	int64_t *dims = xcalloc(numel ? numel : 1, sizeof *dims);
	const char *p = (const char *)t->data + t->byte_offset;
	for (uint64_t i = 0; i < numel; i++)
		dims[i] = t->dtype.bits == 16   ? ((const int16_t *)p)[i]
			  : t->dtype.bits == 32 ? ((const int32_t *)p)[i]
						: ((const int64_t *)p)[i];
	*result = ffi_any_object(&ffi_shape_new(dims, numel)->header);
	free(dims);
	return 0;
}

static int builtin_ensure_zero_offset(void *self, const TVMFFIAny *args, int32_t n,
				      TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.ensure_zero_offset";
	if (need_args(fn, n, 1))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (!t)
		return fail("TypeError", "", "%s expects a tensor", fn);
	if (t->byte_offset == 0 && args[0].type_index == FFI_TENSOR) {
		*result = args[0];
		ffi_any_retain(result);
		return 0;
	}
	if (t->device.device_type != kDLCPU) {
		/* A device handle cannot be offset: a copy starts at byte 0 (docs/devices.md §5). */
		ffi_tensor_t *copy = vm_tensor_copy(t, t->device);
		if (!copy)
			return -1;
		*result = ffi_any_object(&copy->header);
		return 0;
	}
	ffi_shape_t *shape = ffi_shape_new(t->shape, (size_t)t->ndim);
	int rc = make_view(fn, &args[0], shape, t->dtype, 0, result);
	ffi_object_release(&shape->header);
	return rc;
}

static int builtin_tuple_reset_item(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self, (void)result;
	const char *fn = "vm.builtin.tuple_reset_item";
	ffi_array_t *a;
	int64_t i;
	if (need_args(fn, n, 2) || arg_array(fn, args, 0, &a) || ffi_arg_int(fn, args, n, 1, &i))
		return -1;
	if (i < 0 || (uint64_t)i >= a->size)
		return fail("IndexError", "", "%s: index %lld out of range", fn, (long long)i);
	ffi_any_release(&a->items[i]);
	return 0;
}

static int builtin_create_view(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "runtime.TVMTensorCreateView";
	const ffi_shape_t *shape;
	DLDataType dt;
	int64_t offset;
	if (need_args(fn, n, 4) || arg_shape(fn, args, 1, &shape) || arg_dtype(fn, args, 2, &dt) ||
	    ffi_arg_int(fn, args, n, 3, &offset))
		return -1;
	return make_view(fn, &args[0], shape, dt, offset, result);
}

/* ---- closures and devices ---- */

static int builtin_make_closure(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (need_args("vm.builtin.make_closure", n, 1))
		return -1;
	if (args[0].type_index != FFI_VM_CLOSURE || !args[0].v_obj)
		return fail("TypeError", "", "vm.builtin.make_closure expects a closure, got %s",
			    type_name(args[0].type_index));
	const vm_closure_t *c = (const vm_closure_t *)args[0].v_obj;
	/* The new closure appends its captures, then the original's (calls nest that way). */
	size_t total = (size_t)(n - 1) + c->num_bound;
	TVMFFIAny *bound = xcalloc(total, sizeof *bound);
	memcpy(bound, args + 1, (size_t)(n - 1) * sizeof *bound);
	memcpy(bound + (n - 1), c->bound, c->num_bound * sizeof *bound);
	vm_closure_t *nc = vm_closure_new(c->exec_module, c->func_index, bound, total);
	free(bound);
	*result = ffi_any_object(&nc->header);
	return 0;
}

static int builtin_invoke_closure(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	if (need_args("vm.builtin.invoke_closure", n, 2))
		return -1;
	vm_t *vm = vm_context(&args[0]);
	if (!vm)
		return -1;
	return vm_call_value(vm, &args[1], args + 2, n - 2, result);
}

static int builtin_to_device(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.to_device";
	int64_t type, id;
	if (need_args(fn, n, 3) || ffi_arg_int(fn, args, n, 1, &type) ||
	    ffi_arg_int(fn, args, n, 2, &id) || scope_ok(fn, args, n, 3))
		return -1;
	DLTensor *t = ffi_any_as_dltensor(&args[0]);
	if (!t)
		return fail("TypeError", "", "%s expects a tensor", fn);
	if (type < 0 || type >= 128 || id < 0 || id > INT32_MAX || !device_api_find((int32_t)type))
		return fail("InternalError", "", "%s: device (%lld, %lld) is not available (cpu and "
			    "opencl are)", fn, (long long)type, (long long)id);
	DLDevice dev = {(DLDeviceType)type, (int32_t)id};
	if (device_check(dev))
		return -1;
	ffi_tensor_t *copy = vm_tensor_copy(t, dev);
	if (!copy)
		return -1;
	/* As TVM: wait for the copy on the side that is not the CPU. */
	DLDevice other = dev.device_type != kDLCPU ? dev : t->device;
	if (other.device_type != kDLCPU && device_sync(other)) {
		ffi_object_release(&copy->header);
		return -1;
	}
	*result = ffi_any_object(&copy->header);
	return 0;
}

/* vm.builtin.invoke_debug_func(io_effect, name, line_info, args...): call the global `name`
 * with (line_info, args...) and return the (None) effect, as the reference does. */
static int builtin_invoke_debug_func(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	(void)self;
	const char *fn = "vm.builtin.invoke_debug_func", *name, *line;
	size_t len;
	if (n < 3)
		return fail("InternalError", "", "%s expects (effect, name, line_info, args...), "
			    "got %d arguments", fn, n);
	/* The effect is an object (a string counts: it converts to one), lowered to None. */
	if (args[0].type_index != FFI_NONE && !ffi_any_is_object(&args[0]) &&
	    !ffi_any_as_str(&args[0], NULL))
		return fail("TypeError", "", "%s: the IO effect must be an object, got %s", fn,
			    type_name(args[0].type_index));
	if (args[0].type_index != FFI_NONE)
		return fail("ValueError", "", "IOEffect is expected to be lowered to None.");
	if (ffi_arg_str(fn, args, n, 1, &name, &len) || ffi_arg_str(fn, args, n, 2, &line, NULL))
		return -1;
	ffi_function_t *debug = ffi_registry_get(name);
	if (!debug)
		return fail("ValueError", "", "%.200s is not found: no global of that name", name);
	TVMFFIAny *call_args = xcalloc((size_t)(n - 2), sizeof *call_args);
	memcpy(call_args, args + 2, (size_t)(n - 2) * sizeof *call_args);
	TVMFFIAny out;
	int rc = ffi_function_call(debug, call_args, n - 2, &out);
	free(call_args);
	ffi_object_release(&debug->header);
	if (rc == 0)
		ffi_any_release(&out);
	*result = ffi_any_none();
	return rc;
}

static const vm_builtin_entry_t builtins[] = {
	{"vm.builtin.check_tensor_info", builtin_check_tensor_info, NULL},
	{"vm.builtin.match_shape", builtin_match_shape, NULL},
	{"vm.builtin.alloc_storage", builtin_alloc_storage, "phids"},
	{"vm.builtin.alloc_tensor", builtin_alloc_tensor, NULL},
	{"vm.builtin.null_value", builtin_null_value, ""},
	{"vm.builtin.copy", builtin_copy, "A"},
	{"vm.builtin.reshape", builtin_reshape, "Ah"},
	{"vm.builtin.make_tuple", builtin_make_tuple, NULL},
	{"vm.builtin.tuple_getitem", builtin_tuple_getitem, "ai"},
	{"vm.builtin.read_if_cond", builtin_read_if_cond, "c"},
	{"vm.builtin.check_tuple_info", builtin_check_tuple_info, "oiS"},
	{"vm.builtin.check_shape_info", builtin_check_shape_info, "onS"},
	{"vm.builtin.check_prim_value_info", builtin_check_prim_value_info, "AdS"},
	{"vm.builtin.check_func_info", builtin_check_func_info, "oS"},
	{"vm.builtin.shape_of", builtin_shape_of, "A"},
	{"vm.builtin.alloc_shape_heap", builtin_alloc_shape_heap, "pi"},
	{"vm.builtin.make_shape", builtin_make_shape, NULL},
	{"vm.builtin.make_prim_value", builtin_make_prim_value, "Tni"},
	{"vm.builtin.match_prim_value", builtin_match_prim_value, "iTniS"},
	{"vm.builtin.call_tir_dyn", builtin_call_tir_dyn, NULL},
	{"vm.builtin.tensor_to_shape", builtin_tensor_to_shape, "t"},
	{"vm.builtin.ensure_zero_offset", builtin_ensure_zero_offset, "t"},
	{"vm.builtin.tuple_reset_item", builtin_tuple_reset_item, "ri"},
	{"runtime.TVMTensorCreateView", builtin_create_view, NULL},
	{"vm.builtin.make_closure", builtin_make_closure, NULL},
	{"vm.builtin.invoke_closure", builtin_invoke_closure, NULL},
	{"vm.builtin.to_device", builtin_to_device, "tnn|s"},
	{"vm.builtin.invoke_debug_func", builtin_invoke_debug_func, NULL},
};

const vm_builtin_entry_t *vm_builtin_table(size_t *count)
{
	*count = sizeof builtins / sizeof builtins[0];
	return builtins;
}

ffi_function_t *vm_builtin_get(const char *name)
{
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (strcmp(builtins[i].name, name) == 0)
			return ffi_function_new(builtins[i].call, NULL, NULL, NULL);
	return NULL;
}

static const struct {
	const char *prefix;
	const char *reason;
} refusals[] = {
	{"vm.builtin.paged_attention_kv_cache", "KV cache is not supported"},
	{"vm.builtin.attention_kv_cache", "KV cache is not supported"},
	{"vm.builtin.kv_state", "KV cache is not supported"},
	{"vm.builtin.kv_cache", "KV cache is not supported"},
	{"vm.builtin.rnn_state", "RNN state is not supported"},
	{"vm.builtin.call_py_func", "it calls back into Python, impossible on a C device"},
	{"vm.builtin.register_py_func", "it calls back into Python, impossible on a C device"},
	{"vm.builtin.get_py_func", "it calls back into Python, impossible on a C device"},
	{"vm.builtin.clear_py_func_registry", "it calls back into Python, impossible on a C device"},
	{"vm.builtin.debug_print", "it calls back into Python, impossible on a C device"},
	{"relax.run.", "it calls back into Python, impossible on a C device"},
	{"vm.builtin.sample_top_p_from", "LLM sampling helpers are not supported"},
	{"vm.builtin.multinomial_from_uniform", "LLM sampling helpers are not supported"},
	{"vm.builtin.apply_repetition_penalty", "LLM sampling helpers are not supported"},
	{"vm.builtin.apply_presence_and_frequency_penalty", "LLM sampling helpers are not supported"},
	{"vm.builtin.apply_softmax_with_temperature", "LLM sampling helpers are not supported"},
	{"vm.builtin.cuda_graph.", "device-specific builtins need a GPU runtime"},
	{"vm.builtin.hexagon.", "device-specific builtins need a Hexagon runtime"},
	{"vm.builtin.distributed.", "distributed execution is not supported"},
};

const char *vm_builtin_refusal(const char *name)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
		if (strncmp(name, refusals[i].prefix, strlen(refusals[i].prefix)) == 0)
			return refusals[i].reason;
	return NULL;
}
