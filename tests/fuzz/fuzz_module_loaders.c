/* libFuzzer harness: the serialised module kinds a library blob or a client can hand to
 * ffi.Module.load_from_bytes.{const_loader,static_library} (module_const_loader.c,
 * module_file.c). The first byte picks the loader; whatever loads is then used: the constants
 * map is read back, the function names listed. Errors must be clean, never a crash. */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/ffi.h"

static void use_function(ffi_module_t *mod, const char *name)
{
	ffi_function_t *fn = ffi_module_get_function(mod, name, 0);
	if (!fn)
		return;
	TVMFFIAny rv;
	if (ffi_function_call(fn, NULL, 0, &rv) == 0)
		ffi_any_release(&rv);
	ffi_object_release(&fn->header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *loader = data[0] & 1 ? "ffi.Module.load_from_bytes.static_library"
					 : "ffi.Module.load_from_bytes.const_loader";
	ffi_function_t *fn = ffi_registry_get(loader);
	if (!fn)
		abort();
	TVMFFIByteArray bytes = {(const char *)data + 1, size - 1};
	TVMFFIAny arg = {.type_index = FFI_BYTE_ARRAY_PTR}, rv;
	arg.v_ptr = &bytes;
	if (ffi_function_call(fn, &arg, 1, &rv) == 0) {
		if (rv.type_index != FFI_MODULE)
			abort();
		ffi_module_t *mod = (ffi_module_t *)rv.v_obj;
		use_function(mod, "get_const_var_tensor");
		use_function(mod, "get_func_names");
		ffi_any_release(&rv);
	}
	ffi_error_clear();
	ffi_object_release(&fn->header);
	return 0;
}
