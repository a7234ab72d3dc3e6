/* Test kernel: C[i] = A[i] + B[i] for float32 vectors of equal length, in the safe-call ABI of
 * TVM's generated code, with a weak `main` alias as TVM adds for a single-function module. */
#include "tvm_abi.h"

TVM_EXPORT int __tvm_ffi_add(void *self, const TVMFFIAny *args, int32_t num_args,
			     TVMFFIAny *result)
{
	(void)self;
	(void)result;
	DLTensor *a, *b, *c;
	if (abi_check_num_args("add", num_args, 3) || abi_arg_f32("add", args, 0, 1, NULL, &a))
		return -1;
	const int64_t n[1] = {a->shape[0]};
	if (abi_arg_f32("add", args, 1, 1, n, &b) || abi_arg_f32("add", args, 2, 1, n, &c))
		return -1;
	const float *x = abi_f32(a), *y = abi_f32(b);
	float *z = abi_f32(c);
	for (int64_t i = 0; i < n[0]; i++)
		z[i] = x[i] + y[i];
	return 0;
}

TVM_EXPORT __attribute__((weak)) int __tvm_ffi_main(void *self, const TVMFFIAny *args,
						    int32_t num_args, TVMFFIAny *result)
{
	return __tvm_ffi_add(self, args, num_args, result);
}
