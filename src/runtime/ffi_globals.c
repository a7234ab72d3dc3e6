/* The small tvm-ffi / runtime globals that stock clients and TVM's own RPC scripts call on a
 * remote (the recorded sessions in tests/vectors use them): ffi.String, ffi.Bytes and
 * runtime.GetDeviceAttr. The container globals (ffi.Array, ...) are in ffi_globals_containers.c
 * and ffi_globals_maps.c. */
#include "runtime/ffi.h"
#include "runtime/ffi_typed.h"
#include "runtime/session.h"

/* ffi.String(str) and ffi.Bytes(bytes) hand back an owned copy of their argument: up to 7
 * bytes as an inline value (SmallStr 11 / SmallBytes 12), as in tvm-ffi. A str is not bytes
 * and bytes are not a str. */
static int identity_of_kind(const ffi_signature_t *sig, const int32_t kinds[3],
			    const char *want, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	if (ffi_signature_check(sig, args, n))
		return -1;
	int32_t ti = args[0].type_index;
	if ((ti != kinds[0] && ti != kinds[1] && ti != kinds[2]) ||
	    (ti >= FFI_STATIC_OBJECT_BEGIN && !args[0].v_obj)) {
		ffi_error_set("TypeError",
			      "Mismatched type on argument #0 when calling: `%s%s`. Expected `%s` but "
			      "got `%s`",
			      sig->name, sig->text, want, ffi_type_key(ti));
		return -1;
	}
	return ffi_any_to_owned(&args[0], result);
}

static const ffi_signature_t sig_string = {"ffi.String", "(0: str) -> str", "A"};

static int global_string(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const int32_t kinds[3] = {FFI_RAW_STR, FFI_SMALL_STR, FFI_STR};
	return identity_of_kind(&sig_string, kinds, "str", args, n, result);
}
FFI_REGISTER_GLOBAL("ffi.String", global_string)

static const ffi_signature_t sig_bytes = {"ffi.Bytes", "(0: bytes) -> bytes", "A"};

static int global_bytes(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const int32_t kinds[3] = {FFI_BYTE_ARRAY_PTR, FFI_SMALL_BYTES, FFI_BYTES};
	return identity_of_kind(&sig_bytes, kinds, "bytes", args, n, result);
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
	return session_device_attr(dev, kind, result);
}
FFI_REGISTER_GLOBAL("runtime.GetDeviceAttr", global_device_attr)
