/* Test kernel: direct 2-D convolution, NCHW float32, stride 1, no padding:
 * out[n,k,y,x] = sum_{c,r,s} data[n,c,y+r,x+s] * weight[k,c,r,s]. Output planes are spread over
 * the host's thread pool (parallel launch without a barrier, like a TVM parallel loop). */
#include "tvm_abi.h"

TVM_EXPORT __attribute__((weak)) int (*__TVMBackendParallelLaunch)(FTVMParallelLambda, void *,
								   int) = 0;

struct conv_closure {
	const float *data, *weight;
	float *out;
	int64_t n, c, h, w, k, r, s, oh, ow;
};

static int conv_task(int task_id, TVMParallelGroupEnv *penv, void *cdata)
{
	const struct conv_closure *cl = cdata;
	int64_t planes = cl->n * cl->k;
	for (int64_t plane = task_id; plane < planes; plane += penv->num_task) {
		int64_t n = plane / cl->k, k = plane % cl->k;
		float *out = cl->out + plane * cl->oh * cl->ow;
		for (int64_t y = 0; y < cl->oh; y++)
			for (int64_t x = 0; x < cl->ow; x++) {
				float sum = 0.0f;
				for (int64_t c = 0; c < cl->c; c++)
					for (int64_t r = 0; r < cl->r; r++)
						for (int64_t s = 0; s < cl->s; s++)
							sum += cl->data[((n * cl->c + c) * cl->h + y + r) *
									     cl->w + x + s] *
							       cl->weight[((k * cl->c + c) * cl->r + r) *
									       cl->s + s];
				out[y * cl->ow + x] = sum;
			}
	}
	return 0;
}

TVM_EXPORT int __tvm_ffi_conv2d(void *self, const TVMFFIAny *args, int32_t num_args,
				TVMFFIAny *result)
{
	(void)self;
	(void)result;
	DLTensor *data, *weight, *out;
	if (abi_check_num_args("conv2d", num_args, 3) ||
	    abi_arg_f32("conv2d", args, 0, 4, NULL, &data))
		return -1;
	const int64_t w_shape[4] = {-1, data->shape[1], -1, -1};
	if (abi_arg_f32("conv2d", args, 1, 4, w_shape, &weight))
		return -1;
	if (weight->shape[2] > data->shape[2] || weight->shape[3] > data->shape[3])
		return abi_raise("ValueError", "conv2d: kernel larger than the input");
	const int64_t o_shape[4] = {data->shape[0], weight->shape[0],
				    data->shape[2] - weight->shape[2] + 1,
				    data->shape[3] - weight->shape[3] + 1};
	if (abi_arg_f32("conv2d", args, 2, 4, o_shape, &out))
		return -1;
	if (!__TVMBackendParallelLaunch)
		return abi_raise("RuntimeError", "conv2d: the host did not fill the context symbols");
	struct conv_closure cl = {abi_f32(data), abi_f32(weight), abi_f32(out),
				  data->shape[0], data->shape[1], data->shape[2], data->shape[3],
				  weight->shape[0], weight->shape[2], weight->shape[3],
				  o_shape[2], o_shape[3]};
	return __TVMBackendParallelLaunch(conv_task, &cl, 0) == 0 ? 0 : -1;
}
