/* Test kernel: C = A @ B (float32, A [n,k], B [k,m], C [n,m]) the way TVM schedules it with a
 * parallel loop: B is transposed into a workspace buffer by all tasks, the tasks meet at the
 * barrier, then each computes its share of C's rows. The host fills the context variables. */
#include "tvm_abi.h"

TVM_EXPORT __attribute__((weak)) void *(*__TVMBackendAllocWorkspace)(int, int, uint64_t, int,
								      int) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMBackendFreeWorkspace)(int, int, void *) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMBackendParallelLaunch)(FTVMParallelLambda, void *,
								   int) = 0;
TVM_EXPORT __attribute__((weak)) int (*__TVMBackendParallelBarrier)(int,
								    TVMParallelGroupEnv *) = 0;

struct matmul_closure {
	const float *a, *b;
	float *bt, *c;
	int64_t n, k, m;
};

static void split(int64_t total, int task, int num_task, int64_t *begin, int64_t *end)
{
	int64_t step = (total + num_task - 1) / num_task;
	*begin = step * task < total ? step * task : total;
	*end = *begin + step < total ? *begin + step : total;
}

static int matmul_task(int task_id, TVMParallelGroupEnv *penv, void *cdata)
{
	struct matmul_closure *cl = cdata;
	int64_t begin, end;
	/* Phase 1: BT[j, :] = B[:, j] for this task's columns j. */
	split(cl->m, task_id, penv->num_task, &begin, &end);
	for (int64_t j = begin; j < end; j++)
		for (int64_t p = 0; p < cl->k; p++)
			cl->bt[j * cl->k + p] = cl->b[p * cl->m + j];
	/* Every row of C reads every row of BT. */
	if (__TVMBackendParallelBarrier(task_id, penv) != 0)
		return -1;
	split(cl->n, task_id, penv->num_task, &begin, &end);
	for (int64_t i = begin; i < end; i++)
		for (int64_t j = 0; j < cl->m; j++) {
			float sum = 0.0f;
			for (int64_t p = 0; p < cl->k; p++)
				sum += cl->a[i * cl->k + p] * cl->bt[j * cl->k + p];
			cl->c[i * cl->m + j] = sum;
		}
	return 0;
}

TVM_EXPORT int __tvm_ffi_matmul(void *self, const TVMFFIAny *args, int32_t num_args,
				TVMFFIAny *result)
{
	(void)self;
	(void)result;
	DLTensor *a, *b, *c;
	if (abi_check_num_args("matmul", num_args, 3) ||
	    abi_arg_f32("matmul", args, 0, 2, NULL, &a))
		return -1;
	const int64_t b_shape[2] = {a->shape[1], -1};
	if (abi_arg_f32("matmul", args, 1, 2, b_shape, &b))
		return -1;
	const int64_t c_shape[2] = {a->shape[0], b->shape[1]};
	if (abi_arg_f32("matmul", args, 2, 2, c_shape, &c))
		return -1;
	if (!__TVMBackendAllocWorkspace || !__TVMBackendFreeWorkspace ||
	    !__TVMBackendParallelLaunch || !__TVMBackendParallelBarrier)
		return abi_raise("RuntimeError", "matmul: the host did not fill the context symbols");
	struct matmul_closure cl = {abi_f32(a), abi_f32(b), NULL, abi_f32(c), a->shape[0],
				    a->shape[1], b->shape[1]};
	uint64_t bytes = (uint64_t)(cl.m * cl.k) * sizeof(float);
	cl.bt = __TVMBackendAllocWorkspace(kDLCPU, c->device.device_id, bytes, kDLFloat, 32);
	if (!cl.bt)
		return -1; /* the host has set the error */
	int rc = __TVMBackendParallelLaunch(matmul_task, &cl, 0);
	if (__TVMBackendFreeWorkspace(kDLCPU, c->device.device_id, cl.bt) != 0)
		return -1;
	return rc == 0 ? 0 : -1;
}
