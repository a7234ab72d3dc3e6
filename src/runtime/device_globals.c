/* Two device globals of TVM's runtime that generated host code and disco-style launchers
 * call by name: `__tvm_set_device(device_type, device_id)` and
 * `tvm.runtime.threading.set_current_thread_affinity(cpu_ids: Shape)`. */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/ffi.h"
#include "base/log.h"

/* Sets the calling thread's current device (docs/devices.md): kernels of OpenCL modules
 * launch on it. The CPU has one device and nothing to select. */
static int global_set_device(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	int64_t type, id;
	if (ffi_arg_int("__tvm_set_device", args, n, 0, &type) ||
	    ffi_arg_int("__tvm_set_device", args, n, 1, &id))
		return -1;
	if (type == kDLCPU)
		return 0;
	if (!device_api_find((int32_t)type)) {
		ffi_error_set("RuntimeError", "__tvm_set_device: device type %lld is not enabled on "
			      "this server (it supports cpu and opencl)", (long long)type);
		return -1;
	}
	if (id < INT32_MIN || id > INT32_MAX) {
		ffi_error_set("ValueError", "__tvm_set_device: device id %lld is out of range",
			      (long long)id);
		return -1;
	}
	return device_set_current((DLDevice){(DLDeviceType)type, (int32_t)id});
}
FFI_REGISTER_GLOBAL("__tvm_set_device", global_set_device)

/* Pins the thread serving the session to the given CPUs. As in TVM, a refusal by the kernel
 * (ids of CPUs this process may not use) is only logged; ids the CPU set cannot hold are an
 * error rather than undefined behaviour. */
static int global_thread_affinity(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char fn[] = "tvm.runtime.threading.set_current_thread_affinity";
	static const char sig[] =
		"tvm.runtime.threading.set_current_thread_affinity(0: ffi.Shape) -> void";
	if (ffi_arg_count(sig, n, 1))
		return -1;
	if (args[0].type_index != FFI_SHAPE || !args[0].v_obj) {
		ffi_error_set("TypeError", "Mismatched type on argument #0 when calling: `%s`. "
			      "Expected `ffi.Shape` but got `%s`", sig,
			      ffi_type_key(args[0].type_index));
		return -1;
	}
	const ffi_shape_t *ids = (const ffi_shape_t *)args[0].v_obj;
	cpu_set_t set;
	CPU_ZERO(&set);
	for (size_t i = 0; i < ids->size; i++) {
		if (ids->data[i] < 0 || ids->data[i] >= CPU_SETSIZE) {
			ffi_error_set("ValueError", "%s: CPU id %lld is out of range [0, %d)", fn,
				      (long long)ids->data[i], CPU_SETSIZE);
			return -1;
		}
		CPU_SET((int)ids->data[i], &set);
	}
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		log_warn("%s: sched_setaffinity failed: %s", fn, strerror(errno));
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.runtime.threading.set_current_thread_affinity", global_thread_affinity)
