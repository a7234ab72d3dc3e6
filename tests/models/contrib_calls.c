/* Test kernels that call TVM's contrib packed functions by name at run time, as compiled models
 * with top-k, argsort or NMS (T.call_packed("tvm.contrib.sort.topk", ...)) and random ops do:
 * each handle is resolved once through __TVMFFIEnvModLookupFromImports with the library
 * context, then called with __TVMFFIFunctionCall. The tensors are forwarded untouched (the
 * callee checks their dtypes):
 *   argsort_desc(data: f32[n], out: i32[n])               argsort, axis 0, descending
 *   topk3(data: f32[n], values: f32[3], indices: i32[3])  topk k=3, axis -1, "both", largest
 *   uniform_seeded(out: f32[n])                           uniform(seed 7, 9, -1.0, 1.0)
 *   normal_seeded(out: f32[n])                            normal(seed 7, 9, loc 0, scale 1) */
#include "tvm_abi.h"

TVM_EXPORT __attribute__((weak)) void *__tvm_ffi__library_ctx = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMFFIEnvModLookupFromImports)(void *, const char *,
									void **) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMFFIHandleInitOnce)(void **, int (*)(void **)) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMFFIFunctionCall)(void *, TVMFFIAny *, int32_t,
							     TVMFFIAny *) = 0;

enum { ABI_BOOL = 2, ABI_RAW_STR = 8 };

static void *argsort_handle, *topk_handle, *uniform_handle, *normal_handle;

static int lookup(const char *name, void **out)
{
	return __TVMFFIEnvModLookupFromImports(__tvm_ffi__library_ctx, name, out);
}
static int argsort_init(void **out) { return lookup("tvm.contrib.sort.argsort", out); }
static int topk_init(void **out) { return lookup("tvm.contrib.sort.topk", out); }
static int uniform_init(void **out) { return lookup("tvm.contrib.random.uniform", out); }
static int normal_init(void **out) { return lookup("tvm.contrib.random.normal", out); }

static int tensors(const char *fn, const TVMFFIAny *args, int32_t num_args, int32_t want)
{
	if (abi_check_num_args(fn, num_args, want))
		return -1;
	for (int i = 0; i < want; i++)
		if (args[i].type_index != ABI_DLTENSOR_PTR && args[i].type_index != ABI_TENSOR) {
			char msg[120];
			snprintf(msg, sizeof msg, "%s: Mismatched type on argument #%d, expected a "
				 "tensor", fn, i);
			return abi_raise("TypeError", msg);
		}
	if (!__TVMFFIEnvModLookupFromImports || !__TVMFFIHandleInitOnce || !__TVMFFIFunctionCall)
		return abi_raise("RuntimeError", "the host did not fill the context symbols");
	return 0;
}

static TVMFFIAny int_arg(int64_t v)
{
	TVMFFIAny a = {.type_index = ABI_INT};
	a.v_int64 = v;
	return a;
}

static TVMFFIAny float_arg(double v)
{
	TVMFFIAny a = {.type_index = ABI_FLOAT};
	a.v_float64 = v;
	return a;
}

static int call(void **handle, int (*init)(void **), TVMFFIAny *args, int32_t n)
{
	if (__TVMFFIHandleInitOnce(handle, init) != 0)
		return -1;
	TVMFFIAny rv = {.type_index = ABI_NONE};
	return __TVMFFIFunctionCall(*handle, args, n, &rv);
}

TVM_EXPORT int __tvm_ffi_argsort_desc(void *self, const TVMFFIAny *args, int32_t num_args,
				      TVMFFIAny *result)
{
	(void)self;
	(void)result;
	if (tensors("argsort_desc", args, num_args, 2))
		return -1;
	TVMFFIAny a[4] = {args[0], args[1], int_arg(0), {.type_index = ABI_BOOL}};
	return call(&argsort_handle, argsort_init, a, 4);
}

TVM_EXPORT int __tvm_ffi_topk3(void *self, const TVMFFIAny *args, int32_t num_args,
			       TVMFFIAny *result)
{
	(void)self;
	(void)result;
	if (tensors("topk3", args, num_args, 3))
		return -1;
	TVMFFIAny a[7] = {args[0], args[1], args[2], int_arg(3), int_arg(-1),
			  {.type_index = ABI_RAW_STR}, {.type_index = ABI_BOOL}};
	a[5].v_ptr = (void *)"both";
	return call(&topk_handle, topk_init, a, 7);
}

TVM_EXPORT int __tvm_ffi_uniform_seeded(void *self, const TVMFFIAny *args, int32_t num_args,
					TVMFFIAny *result)
{
	(void)self;
	(void)result;
	if (tensors("uniform_seeded", args, num_args, 1))
		return -1;
	TVMFFIAny a[5] = {int_arg(7), int_arg(9), float_arg(-1.0), float_arg(1.0), args[0]};
	return call(&uniform_handle, uniform_init, a, 5);
}

TVM_EXPORT int __tvm_ffi_normal_seeded(void *self, const TVMFFIAny *args, int32_t num_args,
				       TVMFFIAny *result)
{
	(void)self;
	(void)result;
	if (tensors("normal_seeded", args, num_args, 1))
		return -1;
	TVMFFIAny a[5] = {int_arg(7), int_arg(9), float_arg(0.0), float_arg(1.0), args[0]};
	return call(&normal_handle, normal_init, a, 5);
}
