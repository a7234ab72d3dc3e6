/* libFuzzer harness: the `__tvm_ffi__library_bin` module-tree parser and loader over arbitrary
 * bytes (a stand-in module plays the library). */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/ffi.h"
#include "runtime/module_blob.h"

static ffi_function_t *no_functions(ffi_module_t *self, const char *name)
{
	(void)self, (void)name;
	return NULL;
}

static const ffi_module_vtable_t stand_in = {.kind = "library", .get_function = no_functions};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	module_blob_t blob;
	if (module_blob_parse(data, size, &blob) == 0) {
		for (size_t i = 0; i < blob.num_modules; i++)
			if (blob.modules[i].child_end > blob.num_children ||
			    blob.modules[i].payload_len > size)
				abort();
		module_blob_clear(&blob);
	}
	ffi_module_t *lib = ffi_module_new(&stand_in, NULL);
	ffi_module_t *root = module_blob_load_sized(lib, data, size);
	if (root)
		ffi_object_release(&root->header);
	ffi_object_release(&lib->header);
	return 0;
}
