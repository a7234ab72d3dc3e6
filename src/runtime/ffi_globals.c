/* The small tvm-ffi / runtime globals that stock clients and TVM's own RPC scripts call on a
 * remote (the recorded sessions in tests/vectors use them): ffi.String, ffi.Bytes, ffi.Array,
 * ffi.ArraySize, ffi.ArrayGetItem and runtime.GetDeviceAttr. */
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/session.h"

/* Strings and bytes of up to 7 bytes are inline values (SmallStr 11 / SmallBytes 12), as in
 * tvm-ffi; the session sends them as [Int 11, RawStr] / [Int 12, ByteArrayPtr]. */
static TVMFFIAny small_or_object(int32_t small_index, const char *data, size_t size,
				 TVMFFIObject *(*make)(const char *, size_t))
{
	TVMFFIAny v = {0};
	if (size <= 7) {
		v.type_index = small_index;
		v.zero_padding = (uint32_t)size;
		if (size)
			memcpy(v.v_bytes, data, size);
		v.v_bytes[size] = '\0';
		return v;
	}
	return ffi_any_object(make(data, size));
}

static TVMFFIObject *make_str(const char *data, size_t size)
{
	return &ffi_str_new(data, size)->header;
}

static TVMFFIObject *make_bytes(const char *data, size_t size)
{
	ffi_bytes_t *b = ffi_bytes_new(data, size);
	return b ? &b->header : NULL;
}

static int global_string(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *s;
	size_t len;
	if (ffi_arg_str("ffi.String", args, n, 0, &s, &len))
		return -1;
	*result = small_or_object(FFI_SMALL_STR, s, len, make_str);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.String", global_string)

/* Borrowed view of a bytes-like value, or NULL. */
static const char *bytes_view(const TVMFFIAny *a, size_t *size)
{
	switch (a->type_index) {
	case FFI_BYTES:
		*size = ((const ffi_bytes_t *)a->v_obj)->size;
		return ((const ffi_bytes_t *)a->v_obj)->data;
	case FFI_SMALL_BYTES:
		*size = a->zero_padding & 7;
		return a->v_bytes;
	case FFI_BYTE_ARRAY_PTR:
		*size = ((const TVMFFIByteArray *)a->v_ptr)->size;
		return ((const TVMFFIByteArray *)a->v_ptr)->data;
	default:
		return ffi_any_as_str(a, size);
	}
}

static int global_bytes(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	size_t size;
	const char *data = n > 0 ? bytes_view(&args[0], &size) : NULL;
	if (!data) {
		ffi_error_set("TypeError", "ffi.Bytes: argument 0 must be bytes");
		return -1;
	}
	*result = small_or_object(FFI_SMALL_BYTES, data, size, make_bytes);
	if (result->type_index == FFI_NONE)
		return -1; /* allocation failed, error set */
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Bytes", global_bytes)

/* Arguments are borrowed for the call; an Array owns what it stores, so strings and bytes are
 * copied and raw pointers (DLTensorPtr, ByteArrayPtr) are refused or converted. */
static int global_array(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	ffi_array_t *arr = ffi_array_new();
	for (int32_t i = 0; i < n; i++) {
		const TVMFFIAny *a = &args[i];
		TVMFFIAny item = *a;
		size_t len;
		const char *s;
		if (a->type_index == FFI_RAW_STR) {
			s = ffi_any_as_str(a, &len);
			item = small_or_object(FFI_SMALL_STR, s, len, make_str);
		} else if (a->type_index == FFI_BYTE_ARRAY_PTR) {
			s = bytes_view(a, &len);
			item = small_or_object(FFI_SMALL_BYTES, s, len, make_bytes);
			if (item.type_index == FFI_NONE) {
				ffi_object_release(&arr->header);
				return -1;
			}
		} else if (a->type_index == FFI_DLTENSOR_PTR) {
			ffi_object_release(&arr->header);
			ffi_error_set("TypeError", "ffi.Array: argument %d is a borrowed DLTensor", i);
			return -1;
		} else {
			ffi_any_retain(&item);
		}
		ffi_array_push(arr, item);
	}
	*result = ffi_any_object(&arr->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Array", global_array)

static const char *type_name(int32_t index)
{
	switch (index) {
	case FFI_NONE: return "None";
	case FFI_INT: return "int";
	case FFI_BOOL: return "bool";
	case FFI_FLOAT: return "float";
	case FFI_RAW_STR:
	case FFI_SMALL_STR:
	case FFI_STR: return "str";
	case FFI_SMALL_BYTES:
	case FFI_BYTES:
	case FFI_BYTE_ARRAY_PTR: return "bytes";
	case FFI_MODULE: return "ffi.Module";
	case FFI_FUNCTION: return "ffi.Function";
	case FFI_TENSOR:
	case FFI_DLTENSOR_PTR: return "ffi.Tensor";
	default: return "object";
	}
}

static int arg_array(const char *sig, const TVMFFIAny *args, int32_t n, ffi_array_t **out)
{
	if (n < 1 || args[0].type_index != FFI_ARRAY || !args[0].v_obj) {
		ffi_error_set("TypeError",
			      "Mismatched type on argument #0 when calling: `%s`. Expected "
			      "`ffi.Array` but got `%s`",
			      sig, n < 1 ? "nothing" : type_name(args[0].type_index));
		return -1;
	}
	*out = (ffi_array_t *)args[0].v_obj;
	return 0;
}

static int global_array_size(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	ffi_array_t *arr;
	if (arg_array("ffi.ArraySize(0: ffi.Array) -> int", args, n, &arr))
		return -1;
	*result = ffi_any_int((int64_t)arr->size);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ArraySize", global_array_size)

static int global_array_get_item(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	ffi_array_t *arr;
	int64_t i;
	if (arg_array("ffi.ArrayGetItem(0: ffi.Array, 1: int) -> Any", args, n, &arr) ||
	    ffi_arg_int("ffi.ArrayGetItem", args, n, 1, &i))
		return -1;
	if (i < 0 || (uint64_t)i >= arr->size) {
		ffi_error_set("IndexError", "indexing %lld on an array of size %zu", (long long)i,
			      arr->size);
		return -1;
	}
	*result = arr->items[i];
	ffi_any_retain(result);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ArrayGetItem", global_array_get_item)

/* runtime.GetDeviceAttr(device_type, device_id, kind): what DevGetAttr answers. */
static int global_device_attr(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	int64_t type, id, kind;
	if (ffi_arg_int("runtime.GetDeviceAttr", args, n, 0, &type) ||
	    ffi_arg_int("runtime.GetDeviceAttr", args, n, 1, &id) ||
	    ffi_arg_int("runtime.GetDeviceAttr", args, n, 2, &kind))
		return -1;
	DLDevice dev = {(DLDeviceType)type, (int32_t)id};
	session_device_attr(dev, kind, result);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.GetDeviceAttr", global_device_attr)
