/* libFuzzer harness: the JSON reader and writer (ffi_json.c) over arbitrary bytes. Whatever
 * parses must write back, and that text must parse and write the very same text again (the
 * values may differ in type: a float of 2^53 or more is written without a point, as tvm-ffi
 * writes it, and reads back as an int); repr and both hashes must work on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_structural.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TVMFFIAny v, again;
	if (ffi_json_parse((const char *)data, size, &v) != 0)
		return 0;
	ffi_text_t first = {0}, second = {0}, repr = {0};
	if (ffi_json_write(&v, 0, &first) != 0 || first.overflow)
		abort();
	if (ffi_json_parse(first.data, first.len, &again) != 0)
		abort();
	if (ffi_json_write(&again, 0, &second) != 0 || second.len != first.len ||
	    memcmp(first.data, second.data, first.len) != 0)
		abort();
	uint64_t h1;
	if (ffi_structural_hash(&v, 0, &h1) != 0 || ffi_structural_equal(&v, &v, 0) != 1)
		abort();
	if (ffi_recursive_hash(&v, &h1) != 0 || ffi_repr_print(&v, &repr) != 0)
		abort();
	ffi_text_free(&first);
	ffi_text_free(&second);
	ffi_text_free(&repr);
	ffi_any_release(&v);
	ffi_any_release(&again);
	return 0;
}
