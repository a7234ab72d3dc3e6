/* libFuzzer harness: the JSON object graph reader (ffi_serialization.c), TVM's FromJSONGraph,
 * over arbitrary bytes: indices, sizes, type keys, base64 and self-referencing nodes must give
 * an error, never a crash or a runaway allocation. What decodes must write back as a graph. */
#include <stdint.h>
#include <stdlib.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_serialization.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TVMFFIAny text, value, graph;
	if (ffi_json_parse((const char *)data, size, &text) != 0)
		return 0;
	if (ffi_json_graph_read(&text, &value) == 0) {
		TVMFFIAny none = ffi_any_none();
		if (ffi_json_graph_write(&value, &none, &graph) != 0)
			abort(); /* a decoded graph has no cycles and only serialisable types */
		ffi_any_release(&graph);
		ffi_any_release(&value);
	}
	ffi_any_release(&text);
	return 0;
}
