/* Test library carrying an embedded module tree (__tvm_ffi__library_bin, docs/session-protocol.md
 * §7.5) with a `const_loader` root above `_lib`: a CPU-only C server must refuse to load it. */
#include "tvm_abi.h"

/* u64 nbytes, vec<u64> indptr = [0,1,1], vec<u64> child = [1], then
 * str "const_loader" + str payload "", and str "_lib". All little-endian. */
#define U64(x) (x), 0, 0, 0, 0, 0, 0, 0
TVM_EXPORT const unsigned char __tvm_ffi__library_bin[] = {
	U64(88),
	U64(3), U64(0), U64(1), U64(1),
	U64(1), U64(1),
	U64(12), 'c', 'o', 'n', 's', 't', '_', 'l', 'o', 'a', 'd', 'e', 'r',
	U64(0),
	U64(4), '_', 'l', 'i', 'b',
};

TVM_EXPORT int __tvm_ffi_nothing(void *self, const TVMFFIAny *args, int32_t num_args,
				 TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)num_args;
	(void)result;
	return 0;
}
