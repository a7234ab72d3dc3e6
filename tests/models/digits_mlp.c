/* Test model: the digits classifier trained by train_digits.py (64 -> 32 -> 10, dense + relu +
 * dense, weights compiled in from digits_weights.h). digits_mlp(x: f32[B,64], logits: f32[B,10])
 * for any batch B; the hidden activations live in a host workspace, as TVM would place them. */
#include "digits_weights.h"
#include "tvm_abi.h"

TVM_EXPORT __attribute__((weak)) void *(*__TVMBackendAllocWorkspace)(int, int, uint64_t, int,
								      int) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMBackendFreeWorkspace)(int, int, void *) = 0;

TVM_EXPORT int __tvm_ffi_digits_mlp(void *self, const TVMFFIAny *args, int32_t num_args,
				    TVMFFIAny *result)
{
	(void)self;
	(void)result;
	DLTensor *x, *logits;
	const int64_t x_shape[2] = {-1, DIGITS_INPUTS};
	if (abi_check_num_args("digits_mlp", num_args, 2) ||
	    abi_arg_f32("digits_mlp", args, 0, 2, x_shape, &x))
		return -1;
	const int64_t out_shape[2] = {x->shape[0], DIGITS_CLASSES};
	if (abi_arg_f32("digits_mlp", args, 1, 2, out_shape, &logits))
		return -1;
	if (!__TVMBackendAllocWorkspace || !__TVMBackendFreeWorkspace)
		return abi_raise("RuntimeError", "digits_mlp: the host did not fill the context "
				 "symbols");
	int64_t batch = x->shape[0];
	if (batch == 0)
		return 0;
	float *hidden = __TVMBackendAllocWorkspace(
		kDLCPU, x->device.device_id, (uint64_t)batch * DIGITS_HIDDEN * sizeof(float),
		kDLFloat, 32);
	if (!hidden)
		return -1;
	const float *in = abi_f32(x);
	float *out = abi_f32(logits);
	for (int64_t b = 0; b < batch; b++) {
		for (int j = 0; j < DIGITS_HIDDEN; j++) {
			float sum = digits_b1[j];
			for (int i = 0; i < DIGITS_INPUTS; i++)
				sum += in[b * DIGITS_INPUTS + i] * digits_w1[i * DIGITS_HIDDEN + j];
			hidden[b * DIGITS_HIDDEN + j] = sum > 0.0f ? sum : 0.0f;
		}
		for (int j = 0; j < DIGITS_CLASSES; j++) {
			float sum = digits_b2[j];
			for (int i = 0; i < DIGITS_HIDDEN; i++)
				sum += hidden[b * DIGITS_HIDDEN + i] * digits_w2[i * DIGITS_CLASSES + j];
			out[b * DIGITS_CLASSES + j] = sum;
		}
	}
	return __TVMBackendFreeWorkspace(kDLCPU, x->device.device_id, hidden) == 0 ? 0 : -1;
}
