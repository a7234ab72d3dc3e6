/* libFuzzer harness: the Relax VM executable parser over arbitrary bytes; whatever parses is
 * initialised and every bytecode function is run (builtins only: no kernel library). */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/ffi.h"
#include "runtime/vm.h"
#include "runtime/vm_executable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vm_executable_t *exec;
	if (vm_executable_parse(data, size, &exec) != 0)
		return 0;
	vm_storage_limit_set(1 << 20);
	ffi_module_t *em = vm_executable_module_new(exec);
	ffi_module_t *vm = vm_module_new(em);
	ffi_function_t *init = ffi_module_get_function(vm, "vm_initialization", 0);
	TVMFFIAny dev[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(2)}, r;
	if (init && ffi_function_call(init, dev, 3, &r) == 0) {
		TVMFFIAny args[8];
		for (int i = 0; i < 8; i++)
			args[i] = ffi_any_int(i);
		for (size_t i = 0; i < exec->num_funcs; i++) {
			if (exec->funcs[i].kind != VM_FUNC_BYTECODE || exec->funcs[i].num_args > 8)
				continue;
			ffi_function_t *fn = ffi_module_get_function(vm, exec->funcs[i].name, 0);
			if (!fn)
				continue;
			if (ffi_function_call(fn, args, (int32_t)exec->funcs[i].num_args, &r) == 0)
				ffi_any_release(&r);
			ffi_object_release(&fn->header);
		}
	}
	if (init)
		ffi_object_release(&init->header);
	ffi_object_release(&vm->header);
	ffi_object_release(&em->header);
	return 0;
}
