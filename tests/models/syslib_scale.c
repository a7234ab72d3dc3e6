/* Test "system library" (docs/session-protocol.md §7.7): meant to be preloaded (--load-library).
 * Its constructor registers `__tvm_ffi_syslib_scale` with TVMFFIEnvModRegisterSystemLibSymbol,
 * and the kernel calls the host's TVMBackend* functions by their direct names, as system-lib
 * and C-source builds do. syslib_scale(A: f32[n], B: f32[n]) sets B = 2 * A via a workspace. */
#include <string.h>

#include "tvm_abi.h"

extern int TVMFFIEnvModRegisterSystemLibSymbol(const char *name, void *ptr);
extern void *TVMBackendAllocWorkspace(int, int, uint64_t, int, int);
extern int TVMBackendFreeWorkspace(int, int, void *);
extern int TVMBackendParallelLaunch(FTVMParallelLambda, void *, int);

struct scale_closure {
	const float *in;
	float *tmp;
	int64_t n;
};

static int scale_task(int task_id, TVMParallelGroupEnv *penv, void *cdata)
{
	struct scale_closure *cl = cdata;
	for (int64_t i = task_id; i < cl->n; i += penv->num_task)
		cl->tmp[i] = 2.0f * cl->in[i];
	return 0;
}

static int syslib_scale(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	DLTensor *a, *b;
	if (abi_check_num_args("syslib_scale", num_args, 2) ||
	    abi_arg_f32("syslib_scale", args, 0, 1, NULL, &a))
		return -1;
	if (abi_arg_f32("syslib_scale", args, 1, 1, a->shape, &b))
		return -1;
	struct scale_closure cl = {abi_f32(a), NULL, a->shape[0]};
	cl.tmp = TVMBackendAllocWorkspace(kDLCPU, 0, (uint64_t)cl.n * sizeof(float), kDLFloat, 32);
	if (!cl.tmp)
		return -1;
	int rc = TVMBackendParallelLaunch(scale_task, &cl, 0);
	if (rc == 0)
		memcpy(abi_f32(b), cl.tmp, (size_t)cl.n * sizeof(float));
	if (TVMBackendFreeWorkspace(kDLCPU, 0, cl.tmp) != 0)
		return -1;
	return rc == 0 ? 0 : -1;
}

__attribute__((constructor)) static void syslib_register(void)
{
	TVMFFIEnvModRegisterSystemLibSymbol("__tvm_ffi_syslib_scale", (void *)syslib_scale);
}
