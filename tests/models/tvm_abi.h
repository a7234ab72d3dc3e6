/* The slice of TVM's compiled-module ABI (docs/session-protocol.md §7) that the test kernels in
 * this folder are written against, declared the way generated code sees it: no TVM headers, only
 * DLPack, the 16-byte TVMFFIAny, and one undefined host symbol for raising errors. Each kernel
 * checks its arguments like TVM's generated code and reports failures through the host. */
#ifndef TVMRPC_TEST_TVM_ABI_H
#define TVMRPC_TEST_TVM_ABI_H

#include <dlpack/dlpack.h>
#include <stdint.h>
#include <stdio.h>

#define TVM_EXPORT __attribute__((visibility("default")))

typedef struct {
	int32_t type_index;
	uint32_t zero_padding;
	union {
		int64_t v_int64;
		double v_float64;
		void *v_ptr;
	};
} TVMFFIAny;

typedef struct {
	void *sync_handle;
	int32_t num_task;
} TVMParallelGroupEnv;
typedef int (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv *penv, void *cdata);

enum { ABI_NONE = 0, ABI_INT = 1, ABI_FLOAT = 3, ABI_OPAQUE_PTR = 4, ABI_DLTENSOR_PTR = 7,
       ABI_TENSOR = 70 };

/* Resolved by the dynamic linker against the host executable (it must export it). */
extern void TVMFFIErrorSetRaisedFromCStrParts(const char *kind, const char **parts,
					      int32_t num_parts);

static inline int abi_raise(const char *kind, const char *message)
{
	const char *parts[1] = {message};
	TVMFFIErrorSetRaisedFromCStrParts(kind, parts, 1);
	return -1;
}

static inline int abi_check_num_args(const char *fn, int32_t got, int32_t want)
{
	if (got == want)
		return 0;
	char msg[160];
	snprintf(msg, sizeof msg, "%s: expected %d arguments, got %d", fn, want, got);
	return abi_raise("TypeError", msg);
}

static inline int abi_arg_int(const char *fn, const TVMFFIAny *args, int i, int64_t *out)
{
	if (args[i].type_index != ABI_INT) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s: Mismatched type on argument #%d, expected int", fn, i);
		return abi_raise("TypeError", msg);
	}
	*out = args[i].v_int64;
	return 0;
}

/* A float32 tensor argument of `ndim` dims, compact, on the CPU. shape[d] < 0 accepts any
 * extent; the actual extents are returned through the tensor. */
static inline int abi_arg_f32(const char *fn, const TVMFFIAny *args, int i, int ndim,
			      const int64_t *shape, DLTensor **out)
{
	char msg[200];
	DLTensor *t = NULL;
	if (args[i].type_index == ABI_DLTENSOR_PTR || args[i].type_index == ABI_OPAQUE_PTR)
		t = args[i].v_ptr;
	else if (args[i].type_index == ABI_TENSOR)
		t = (DLTensor *)((char *)args[i].v_ptr + 24); /* DLTensor after the object header */
	if (!t) {
		snprintf(msg, sizeof msg, "%s: Mismatched type on argument #%d, expected a tensor",
			 fn, i);
		return abi_raise("TypeError", msg);
	}
	if (t->ndim != ndim) {
		snprintf(msg, sizeof msg, "%s: Mismatched ndim on argument #%d, expected %d, got %d",
			 fn, i, ndim, t->ndim);
		return abi_raise("ValueError", msg);
	}
	if (t->dtype.code != kDLFloat || t->dtype.bits != 32 || t->dtype.lanes != 1) {
		snprintf(msg, sizeof msg, "%s: Mismatched dtype on argument #%d, expected float32",
			 fn, i);
		return abi_raise("TypeError", msg);
	}
	int64_t expect_stride = 1;
	for (int d = ndim - 1; d >= 0; d--) {
		if (shape && shape[d] >= 0 && t->shape[d] != shape[d]) {
			snprintf(msg, sizeof msg, "%s: Mismatched shape[%d] on argument #%d, expected "
				 "%lld, got %lld", fn, d, i, (long long)shape[d],
				 (long long)t->shape[d]);
			return abi_raise("ValueError", msg);
		}
		if (t->strides && t->shape[d] != 1 && t->strides[d] != expect_stride) {
			snprintf(msg, sizeof msg, "%s: argument #%d is not compact", fn, i);
			return abi_raise("ValueError", msg);
		}
		expect_stride *= t->shape[d];
	}
	if (!t->data) {
		snprintf(msg, sizeof msg, "%s: argument #%d has NULL data", fn, i);
		return abi_raise("ValueError", msg);
	}
	if (t->device.device_type != kDLCPU) {
		snprintf(msg, sizeof msg, "%s: Mismatched device_type on argument #%d, expected CPU",
			 fn, i);
		return abi_raise("ValueError", msg);
	}
	*out = t;
	return 0;
}

static inline float *abi_f32(const DLTensor *t)
{
	return (float *)((char *)t->data + t->byte_offset);
}

#endif
