/* Test kernel with a known running time, for the time evaluator: sleep_ms(ms: int) sleeps that
 * many milliseconds (0..10000) and returns the Int it slept, as a scalar-returning PrimFunc. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include "tvm_abi.h"

TVM_EXPORT int __tvm_ffi_sleep_ms(void *self, const TVMFFIAny *args, int32_t num_args,
				  TVMFFIAny *result)
{
	(void)self;
	int64_t ms;
	if (abi_check_num_args("sleep_ms", num_args, 1) || abi_arg_int("sleep_ms", args, 0, &ms))
		return -1;
	if (ms < 0 || ms > 10000)
		return abi_raise("ValueError", "sleep_ms: duration must be within 0..10000 ms");
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	result->type_index = ABI_INT;
	result->zero_padding = 0;
	result->v_int64 = ms;
	return 0;
}
