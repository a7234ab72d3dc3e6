/* Test kernel that crashes on purpose: crash() writes through a NULL pointer, so that tests can
 * check that a faulting kernel takes down only its session process, not the server. */
#include "tvm_abi.h"

/* volatile: the compiler must emit a real store, not a trap it proved unreachable. */
static int *volatile null_pointer;

TVM_EXPORT int __tvm_ffi_crash(void *self, const TVMFFIAny *args, int32_t num_args,
			       TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)num_args;
	(void)result;
	*null_pointer = 42;
	return 0;
}
