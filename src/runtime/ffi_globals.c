/* The small tvm-ffi / runtime globals that stock clients and TVM's own RPC scripts call on a
 * remote (the recorded sessions in tests/vectors use them): ffi.String, ffi.Bytes and
 * runtime.GetDeviceAttr. The container globals (ffi.Array, ...) are in ffi_globals_containers.c
 * and ffi_globals_maps.c. */
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
