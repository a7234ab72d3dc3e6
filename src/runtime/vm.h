/* The Relax VM: the executable module (`relax.VMExecutable`, what load_module returns for a
 * Relax build) and the VM module it creates (`vm_load_executable`), with the interpreter and
 * the RPC-facing methods of docs/relax-vm.md §5. Builtins live in vm_builtins.c. */
#ifndef TVMRPC_VM_H
#define TVMRPC_VM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"
#include "runtime/vm_executable.h"

/* Storage (FFI_VM_STORAGE): a 64-byte aligned byte buffer that tensors made by
 * vm.builtin.alloc_tensor point into; each such tensor holds a reference to it. */
typedef struct vm_storage {
	TVMFFIObject header;
	void *data;
	uint64_t size;
	DLDevice device;
} vm_storage_t;

/* Closure (FFI_VM_CLOSURE): a bytecode function of one executable plus values appended
 * after the call-time arguments (vm.builtin.make_closure, save_function). */
typedef struct vm_closure {
	TVMFFIObject header;
	ffi_module_t *exec_module; /* owned; the closure is only valid for VMs of it */
	int64_t func_index;
	TVMFFIAny *bound; /* owned */
	size_t num_bound;
} vm_closure_t;

typedef struct vm vm_t;

/* New executable module owning `exec` (kind "relax.VMExecutable"). Its functions:
 * vm_load_executable, has_function, as_text; other names go to its imports (kernels). */
ffi_module_t *vm_executable_module_new(vm_executable_t *exec);
/* The executable of an executable module, or NULL if `mod` is not one. */
const vm_executable_t *vm_executable_module_get(ffi_module_t *mod);
/* New, uninitialised VM module for an executable module (retained). */
ffi_module_t *vm_module_new(ffi_module_t *exec_module);

/* ---- for builtins ---- */

/* The VM running the current instruction, if `arg` is its %vm register value; else NULL
 * with a TypeError set. Builtins never trust the pointer value by itself. */
vm_t *vm_context(const TVMFFIAny *arg);
/* devices[index] of the VM (index -1 = the host device, the last one). */
int vm_device(const vm_t *vm, int64_t index, DLDevice *out);
/* Call a Function value, or a closure (of this VM's executable) with its bound values. */
int vm_call_value(vm_t *vm, const TVMFFIAny *callee, const TVMFFIAny *args, int32_t num_args,
		  TVMFFIAny *result);
/* New closure; retains exec_module and the bound values. */
vm_closure_t *vm_closure_new(ffi_module_t *exec_module, int64_t func_index,
			     const TVMFFIAny *bound, size_t num_bound);
/* New zeroed storage of `size` bytes; NULL with an error when too large or out of memory. */
vm_storage_t *vm_storage_new(uint64_t size, uint64_t alignment, DLDevice device);
/* New owned, compact, 64-byte aligned copy of a CPU tensor (byte_offset folded). */
ffi_tensor_t *vm_tensor_copy(const DLTensor *src, DLDevice device);
/* Make an owned value (one reference held) safe to keep after the current call: borrowed
 * tensors become copies, raw strings and byte arrays objects, also inside arrays. 0, or -1
 * with an error set (the value is then still owned by the caller). */
int vm_value_keep(TVMFFIAny *v);

/* Builtin table (vm_builtins.c): new reference to the builtin `name`, or NULL. */
ffi_function_t *vm_builtin_get(const char *name);

/* A builtin as vm_globals.c registers it for remote clients. `sig` is TVM's typed signature
 * of the global, one letter per argument, checked (and converted) before `call` runs; NULL
 * for a variadic ("packed") builtin that checks its own arguments. Letters: A any, p void*
 * (OpaquePtr or None), i int64, n int (narrowed to 32 bits), b bool, s str, B str or bytes
 * (a std::string parameter), S str or None, o object (or str or None), h Shape (or an Array
 * or List of ints), d DataType (or a dtype string), t Tensor object, T tensor (Tensor or
 * DLTensor*), c if-condition (Int, Bool or Tensor object), a Array or List, r Array only,
 * L Array or List of str. After '|' the arguments are optional. The VM calls `call`
 * directly. */
typedef struct vm_builtin_entry {
	const char *name;
	TVMFFISafeCallType call;
	const char *sig;
} vm_builtin_entry_t;
/* The builtins of vm_builtins.c; *count receives their number. */
const vm_builtin_entry_t *vm_builtin_table(size_t *count);

/* Parse a dtype string as tvm-ffi does ("float32", "int8x4", "bool", "bf16", "handle",
 * "float8_e4m3fn", "" or "void" for the void type). 0, or -1 with a ValueError set. */
int vm_dtype_parse(const char *s, size_t len, DLDataType *out);
/* Why this runtime refuses the function `name` (KV cache, Python callbacks, ...), or NULL. */
const char *vm_builtin_refusal(const char *name);

/* Largest single storage a VM may allocate (default 4 GiB): the sizes come from the
 * uploaded bytecode, so a device owner may want to cap them. Process-wide. */
void vm_storage_limit_set(uint64_t bytes);
uint64_t vm_storage_limit(void);

#endif
