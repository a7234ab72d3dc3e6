/* Test kernel that leaks on purpose, so the leak checks of the session children (valgrind,
 * LeakSanitizer in ASan builds) can be shown to catch a leak: leak(n: int) allocates n bytes
 * (1..1 MiB), fills them and drops the only pointer. Returns n. */
#include <stdlib.h>
#include <string.h>

#include "tvm_abi.h"

/* Written after each call so the compiler cannot drop the allocation, then cleared. */
void *volatile leak_bytes_last;

TVM_EXPORT int __tvm_ffi_leak(void *self, const TVMFFIAny *args, int32_t num_args,
			      TVMFFIAny *result)
{
	(void)self;
	int64_t n;
	if (abi_check_num_args("leak", num_args, 1) || abi_arg_int("leak", args, 0, &n))
		return -1;
	if (n < 1 || n > (1 << 20))
		return abi_raise("ValueError", "leak: size must be within 1..1048576 bytes");
	char *p = malloc((size_t)n);
	if (!p)
		return abi_raise("RuntimeError", "leak: out of memory");
	memset(p, 0x5a, (size_t)n);
	leak_bytes_last = p;
	leak_bytes_last = NULL;
	result->type_index = ABI_INT;
	result->zero_padding = 0;
	result->v_int64 = n;
	return 0;
}
