/* Test kernels for tests/e2e/test_server_session.py: they report what the server handed them
 * (type indices, scalar values, string/bytes contents, tensor data), so the end-to-end tests
 * can check every argument type of a CallFunc. Written against the safe-call ABI
 * (docs/session-protocol.md §7) with its own definitions, like TVM's generated code: no
 * header of ours. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct {
	uint64_t combined_ref_count;
	int32_t type_index;
	uint32_t padding;
	void (*deleter)(void *self, int flags);
} Object;

typedef struct {
	int32_t type_index;
	uint32_t zero_padding;
	union {
		int64_t v_int64;
		double v_float64;
		void *v_ptr;
		const char *v_c_str;
		Object *v_obj;
		char v_bytes[8];
	};
} Any;

typedef struct {
	const char *data;
	size_t size;
} ByteArray;

typedef struct {
	void *data;
	int32_t device_type, device_id;
	int32_t ndim;
	uint8_t code, bits;
	uint16_t lanes;
	int64_t *shape;
	int64_t *strides;
	uint64_t byte_offset;
} Tensor;

/* Resolved against the host executable, as in TVM-generated code. */
extern void TVMFFIErrorSetRaisedFromCStrParts(const char *kind, const char **parts, int32_t n);

static int fail(const char *kind, const char *msg)
{
	const char *parts[1] = {msg};
	TVMFFIErrorSetRaisedFromCStrParts(kind, parts, 1);
	return -1;
}

static int want_args(const char *fn, int32_t n, int32_t want)
{
	char msg[128];
	if (n == want)
		return 0;
	snprintf(msg, sizeof msg, "%s expects %d arguments, got %d", fn, (int)want, (int)n);
	return fail("TypeError", msg);
}

/* The content of a string or bytes argument in any of its ABI forms. */
static int blob_of(const Any *a, const char **data, size_t *size)
{
	switch (a->type_index) {
	case 8: /* raw C string */
		*data = a->v_c_str;
		*size = strlen(a->v_c_str);
		return 0;
	case 9: /* TVMFFIByteArray* */
		*data = ((const ByteArray *)a->v_ptr)->data;
		*size = ((const ByteArray *)a->v_ptr)->size;
		return 0;
	case 11: /* small str / bytes: inline, length in the padding word */
	case 12:
		*data = a->v_bytes;
		*size = a->zero_padding;
		return 0;
	case 65: /* Str / Bytes objects: {data, size} follow the 24-byte header */
	case 66:
		*data = ((const ByteArray *)(a->v_obj + 1))->data;
		*size = ((const ByteArray *)(a->v_obj + 1))->size;
		return 0;
	}
	return -1;
}

static Tensor *tensor_of(const Any *a)
{
	if (a->type_index == 7)
		return (Tensor *)a->v_ptr;
	if (a->type_index == 70)
		return (Tensor *)(a->v_obj + 1);
	return NULL;
}

static int f32_tensor(const char *fn, const Any *a, Tensor **out, int64_t *count)
{
	char msg[160];
	Tensor *t = tensor_of(a);
	if (!t) {
		snprintf(msg, sizeof msg, "%s: argument is type %d, not a tensor", fn, (int)a->type_index);
		return fail("TypeError", msg);
	}
	if (t->code != 2 || t->bits != 32 || t->lanes != 1 || t->device_type != 1 || !t->data) {
		snprintf(msg, sizeof msg, "%s: need a float32 CPU tensor", fn);
		return fail("ValueError", msg);
	}
	int64_t n = 1;
	for (int32_t i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	*out = t;
	*count = n;
	return 0;
}

static float *f32_data(const Tensor *t)
{
	return (float *)((char *)t->data + t->byte_offset);
}

/* echo(x) -> x for the scalar kinds a CallFunc can return (§3.3). */
EXPORT int __tvm_ffi_echo(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	char msg[96];
	if (want_args("echo", n, 1))
		return -1;
	if (args[0].type_index < 0 || args[0].type_index > 6) {
		snprintf(msg, sizeof msg, "echo: unsupported type index %d", (int)args[0].type_index);
		return fail("TypeError", msg);
	}
	*result = args[0];
	return 0;
}

/* type_index(x) -> the type index the server gave the callee. */
EXPORT int __tvm_ffi_type_index(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	if (want_args("type_index", n, 1))
		return -1;
	result->type_index = 1;
	result->zero_padding = 0;
	result->v_int64 = args[0].type_index;
	return 0;
}

/* nargs(...) -> number of arguments. */
EXPORT int __tvm_ffi_nargs(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	(void)args;
	result->type_index = 1;
	result->zero_padding = 0;
	result->v_int64 = n;
	return 0;
}

/* digest(s) -> 64-bit FNV-1a of a string's or bytes' content. */
EXPORT int __tvm_ffi_digest(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	const char *data;
	size_t size;
	char msg[96];
	if (want_args("digest", n, 1))
		return -1;
	if (blob_of(&args[0], &data, &size)) {
		snprintf(msg, sizeof msg, "digest: type %d is not a string", (int)args[0].type_index);
		return fail("TypeError", msg);
	}
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < size; i++) {
		h ^= (unsigned char)data[i];
		h *= 0x100000001b3ull;
	}
	result->type_index = 1;
	result->zero_padding = 0;
	result->v_int64 = (int64_t)h;
	return 0;
}

/* sum(...) -> float sum of Int/Bool/Float arguments. */
EXPORT int __tvm_ffi_sum(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	double s = 0;
	char msg[96];
	for (int32_t i = 0; i < n; i++) {
		if (args[i].type_index == 1 || args[i].type_index == 2) {
			s += (double)args[i].v_int64;
		} else if (args[i].type_index == 3) {
			s += args[i].v_float64;
		} else {
			snprintf(msg, sizeof msg, "sum: argument %d has type %d", (int)i,
				 (int)args[i].type_index);
			return fail("TypeError", msg);
		}
	}
	result->type_index = 3;
	result->zero_padding = 0;
	result->v_float64 = s;
	return 0;
}

/* tensor_sum(t) -> float sum of a float32 tensor's elements, starting at data + byte_offset. */
EXPORT int __tvm_ffi_tensor_sum(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	Tensor *t;
	int64_t count;
	if (want_args("tensor_sum", n, 1) || f32_tensor("tensor_sum", &args[0], &t, &count))
		return -1;
	double s = 0;
	const float *x = f32_data(t);
	for (int64_t i = 0; i < count; i++)
		s += x[i];
	result->type_index = 3;
	result->zero_padding = 0;
	result->v_float64 = s;
	return 0;
}

/* fill(t, v): every element of a float32 tensor := v. Void. */
EXPORT int __tvm_ffi_fill(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	(void)result;
	Tensor *t;
	int64_t count;
	if (want_args("fill", n, 2) || f32_tensor("fill", &args[0], &t, &count))
		return -1;
	if (args[1].type_index != 3)
		return fail("TypeError", "fill: value must be a float");
	float *x = f32_data(t);
	for (int64_t i = 0; i < count; i++)
		x[i] = (float)args[1].v_float64;
	return 0;
}

/* add_one(a, b): b[i] = a[i] + 1 for float32 tensors of equal size. Void. */
EXPORT int __tvm_ffi_add_one(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	(void)result;
	Tensor *a, *b;
	int64_t na, nb;
	if (want_args("add_one", n, 2) || f32_tensor("add_one", &args[0], &a, &na) ||
	    f32_tensor("add_one", &args[1], &b, &nb))
		return -1;
	if (na != nb)
		return fail("ValueError", "add_one: sizes differ");
	const float *x = f32_data(a);
	float *y = f32_data(b);
	for (int64_t i = 0; i < na; i++)
		y[i] = x[i] + 1.0f;
	return 0;
}

/* raise_error(msg): fails with ValueError "argecho: <msg>". */
EXPORT int __tvm_ffi_raise_error(void *self, const Any *args, int32_t n, Any *result)
{
	(void)self;
	(void)result;
	const char *data;
	size_t size;
	char msg[256];
	if (want_args("raise_error", n, 1))
		return -1;
	if (blob_of(&args[0], &data, &size))
		return fail("TypeError", "raise_error: need a string");
	snprintf(msg, sizeof msg, "argecho: %.*s", (int)(size < 200 ? size : 200), data);
	return fail("ValueError", msg);
}
