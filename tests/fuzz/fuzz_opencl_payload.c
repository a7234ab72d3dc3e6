/* libFuzzer harness: the `opencl` module payload reader (docs/devices.md §3) over arbitrary
 * bytes; whatever it accepts must hold together (every kernel has a source unit inside the
 * code, bounded counts), and loading it as a module must not touch the driver. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/module_opencl.h"
#include "runtime/opencl_payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	opencl_payload_t p;
	if (opencl_payload_parse(data, size, &p) == 0) {
		for (size_t i = 0; i < p.num_kernels; i++) {
			const opencl_kernel_info_t *k = &p.kernels[i];
			if (!k->source || k->source < p.code ||
			    k->source + k->source_len > p.code + p.code_len ||
			    k->num_args > OPENCL_MAX_KERNEL_ARGS || k->num_axes > OPENCL_MAX_LAUNCH_TAGS ||
			    opencl_payload_find(&p, k->name) != (long)i)
				abort();
		}
		opencl_payload_clear(&p);
	}
	ffi_module_t *m = module_opencl_load(data, size);
	if (m)
		ffi_object_release(&m->header);
	return 0;
}
