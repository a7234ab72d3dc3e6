/* Test library that cannot be loaded: it calls a function no host provides, so dlopen (with
 * immediate binding) must fail with the linker's "undefined symbol" message. */
#include "tvm_abi.h"

extern int tvmrpc_test_symbol_nobody_defines(int x);

TVM_EXPORT int __tvm_ffi_broken(void *self, const TVMFFIAny *args, int32_t num_args,
				TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)num_args;
	(void)result;
	return tvmrpc_test_symbol_nobody_defines(1);
}
