/* Test kernel that calls a packed function the way TVM's generated code does for
 * T.call_packed: the handle of "tvm.contrib.random.random_fill" is resolved once through
 * __TVMFFIEnvModLookupFromImports (under __TVMFFIHandleInitOnce) with the library context the
 * loader stored, then called with __TVMFFIFunctionCall. fill(A) fills A with values in [1, 10). */
#include "tvm_abi.h"

TVM_EXPORT __attribute__((weak)) void *__tvm_ffi__library_ctx = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMFFIEnvModLookupFromImports)(void *, const char *,
									void **) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMFFIHandleInitOnce)(void **, int (*)(void **)) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMFFIFunctionCall)(void *, TVMFFIAny *, int32_t,
							     TVMFFIAny *) = 0;

static void *random_fill_handle;

static int random_fill_init(void **out)
{
	return __TVMFFIEnvModLookupFromImports(__tvm_ffi__library_ctx,
					       "tvm.contrib.random.random_fill", out);
}

TVM_EXPORT int __tvm_ffi_fill(void *self, const TVMFFIAny *args, int32_t num_args,
			      TVMFFIAny *result)
{
	(void)self;
	(void)result;
	DLTensor *a;
	if (abi_check_num_args("fill", num_args, 1) || abi_arg_f32("fill", args, 0, 1, NULL, &a))
		return -1;
	if (!__TVMFFIEnvModLookupFromImports || !__TVMFFIHandleInitOnce || !__TVMFFIFunctionCall)
		return abi_raise("RuntimeError", "fill: the host did not fill the context symbols");
	if (__TVMFFIHandleInitOnce(&random_fill_handle, random_fill_init) != 0)
		return -1;
	TVMFFIAny call_args[1] = {{.type_index = ABI_DLTENSOR_PTR, .v_ptr = a}};
	TVMFFIAny rv = {.type_index = ABI_NONE};
	return __TVMFFIFunctionCall(random_fill_handle, call_args, 1, &rv);
}
