/* Unit tests for the `opencl` module payload reader (docs/devices.md §3): the payloads of the
 * real TVM fixtures in tests/fixtures/opencl, every truncation of them, and hand-built
 * payloads with the mistakes the reader must name. No OpenCL driver is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/module_opencl.h"
#include "runtime/opencl_payload.h"

/* The opencl payload inside a fixture library (malloc'd copy). */
static uint8_t *fixture_payload(const char *name, size_t *size)
{
	char path[256];
	snprintf(path, sizeof path, "tests/fixtures/opencl/%s", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static uint8_t lib[1 << 18];
	size_t n = fread(lib, 1, sizeof lib, f);
	fclose(f);
	static const uint8_t kind[14] = {6, 0, 0, 0, 0, 0, 0, 0, 'o', 'p', 'e', 'n', 'c', 'l'};
	for (size_t i = 0; i + sizeof kind + 8 <= n; i++) {
		if (memcmp(lib + i, kind, sizeof kind) != 0)
			continue;
		uint64_t len = 0;
		memcpy(&len, lib + i + sizeof kind, 8);
		assert_true(len <= n - i - sizeof kind - 8);
		uint8_t *out = malloc((size_t)len);
		memcpy(out, lib + i + sizeof kind + 8, (size_t)len);
		*size = (size_t)len;
		return out;
	}
	fail_msg("no opencl payload in %s", name);
	return NULL;
}

static void test_vadd_payload(void **state)
{
	(void)state;
	size_t size;
	uint8_t *data = fixture_payload("vadd_cl.so", &size);
	assert_int_equal(size, 762);
	opencl_payload_t p;
	assert_int_equal(opencl_payload_parse(data, size, &p), 0);
	assert_int_equal(p.num_kernels, 1);
	const opencl_kernel_info_t *k = &p.kernels[0];
	assert_string_equal(k->name, "vadd_kernel");
	assert_int_equal(k->num_args, 3);
	for (int i = 0; i < 3; i++)
		assert_true(k->arg_types[i].code == kDLOpaqueHandle && k->arg_types[i].bits == 64);
	assert_int_equal(k->num_axes, 2);
	assert_int_equal(k->axes[0], 0); /* blockIdx.x */
	assert_int_equal(k->axes[1], 3); /* threadIdx.x */
	assert_int_equal(k->dyn_shared_memory, 0);
	assert_int_equal(p.code_len, 613);
	assert_int_equal(k->source_len, 588);
	assert_memory_equal(k->source, "__kernel void vadd_kernel(", 26);
	opencl_payload_clear(&p);
	free(data);
}

static void test_matmul_payload(void **state)
{
	(void)state;
	size_t size;
	uint8_t *data = fixture_payload("matmul_cl.so", &size);
	opencl_payload_t p;
	assert_int_equal(opencl_payload_parse(data, size, &p), 0);
	assert_int_equal(p.num_kernels, 2);
	long i = opencl_payload_find(&p, "matmul_kernel_1");
	assert_true(i >= 0);
	const opencl_kernel_info_t *k = &p.kernels[i];
	assert_int_equal(k->num_axes, 4); /* blockIdx.y, blockIdx.x, threadIdx.y, threadIdx.x */
	assert_int_equal(k->axes[0], 1);
	assert_int_equal(k->axes[1], 0);
	assert_int_equal(k->axes[2], 4);
	assert_int_equal(k->axes[3], 3);
	assert_int_equal(k->source_len, 2436);
	assert_int_equal(opencl_payload_find(&p, "matmul_kernel_2"), -1);
	opencl_payload_clear(&p);
	free(data);
}

/* Every truncation (and every payload with one more byte) is an error, never a crash. */
static void test_truncations_fail(void **state)
{
	(void)state;
	size_t size;
	uint8_t *data = fixture_payload("matmul_cl.so", &size);
	uint8_t *longer = malloc(size + 1);
	memcpy(longer, data, size);
	longer[size] = 0;
	for (size_t n = 0; n < size; n++) {
		opencl_payload_t p;
		ffi_error_clear();
		assert_int_equal(opencl_payload_parse(data, n, &p), -1);
		assert_true(ffi_error_message()[0] != '\0');
		assert_null(p.kernels);
	}
	opencl_payload_t p;
	assert_int_equal(opencl_payload_parse(longer, size + 1, &p), -1);
	assert_non_null(strstr(ffi_error_message(), "trailing bytes"));
	free(longer);
	free(data);
}

/* ---- hand-built payloads ---- */

struct buf {
	uint8_t data[4096];
	size_t len;
};

static void put_u64(struct buf *b, uint64_t v)
{
	memcpy(b->data + b->len, &v, 8);
	b->len += 8;
}

static void put_str(struct buf *b, const char *s)
{
	put_u64(b, strlen(s));
	memcpy(b->data + b->len, s, strlen(s));
	b->len += strlen(s);
}

/* One kernel `name` with `nargs` args of dtype (code, bits), the given tags, and `code`. */
static void build(struct buf *b, const char *fmt, const char *name, int nargs, uint8_t code,
		  uint8_t bits, const char *const *tags, int ntags, const char *source)
{
	b->len = 0;
	put_str(b, fmt);
	put_u64(b, 1);
	put_str(b, name);
	put_str(b, name);
	put_u64(b, (uint64_t)nargs);
	for (int i = 0; i < nargs; i++) {
		uint8_t t[4] = {code, bits, 1, 0};
		memcpy(b->data + b->len, t, 4);
		b->len += 4;
	}
	put_u64(b, (uint64_t)ntags);
	for (int i = 0; i < ntags; i++)
		put_str(b, tags[i]);
	put_u64(b, (uint64_t)nargs);
	memset(b->data + b->len, 0, 4u * (unsigned)nargs);
	b->len += 4u * (unsigned)nargs;
	put_str(b, source);
}

static void expect_error(const struct buf *b, const char *text)
{
	opencl_payload_t p;
	assert_int_equal(opencl_payload_parse(b->data, b->len, &p), -1);
	if (!strstr(ffi_error_message(), text))
		fail_msg("'%s' lacks '%s'", ffi_error_message(), text);
}

static void test_hand_built_payloads(void **state)
{
	(void)state;
	static const char *const tags[] = {"blockIdx.z", "threadIdx.y", "tirx.use_dyn_shared_memory"};
	static const char *const bad_tags[] = {"tirx.use_dyn_shared_memory", "blockIdx.x"};
	static const char *const unknown[] = {"warpIdx.x"};
	struct buf b;
	opencl_payload_t p;
	/* Text before the first delimiter is dropped; the dynamic shared memory tag counts. */
	build(&b, "cl", "k", 2, kDLInt, 32, tags, 3, "// header\n// Function: k\nbody");
	assert_int_equal(opencl_payload_parse(b.data, b.len, &p), 0);
	assert_int_equal(p.kernels[0].num_axes, 2);
	assert_int_equal(p.kernels[0].axes[0], 2);
	assert_int_equal(p.kernels[0].axes[1], 4);
	assert_int_equal(p.kernels[0].dyn_shared_memory, 1);
	assert_int_equal(p.kernels[0].source_len, 4);
	opencl_payload_clear(&p);
	/* A module loads without an OpenCL driver (nothing is built before the first call). */
	ffi_module_t *m = module_opencl_load(b.data, b.len);
	assert_non_null(m);
	ffi_function_t *fn = ffi_module_get_function(m, "k", 0);
	assert_non_null(fn);
	assert_null(ffi_module_get_function(m, "other", 0));
	ffi_object_release(&fn->header);
	ffi_object_release(&m->header);

	build(&b, "cl", "k", 1, kDLInt, 8, NULL, 0, "// Function: k\n");
	expect_error(&b, "Cannot handle dtype");
	build(&b, "cl", "k", 1, kDLFloat, 16, NULL, 0, "// Function: k\n");
	expect_error(&b, "Cannot handle dtype");
	build(&b, "cl", "k", 0, 0, 0, bad_tags, 2, "// Function: k\n");
	expect_error(&b, "misplaced launch tag");
	build(&b, "cl", "k", 0, 0, 0, unknown, 1, "// Function: k\n");
	expect_error(&b, "unknown or misplaced launch tag 'warpIdx.x'");
	build(&b, "xclbin", "k", 0, 0, 0, NULL, 0, "binary");
	expect_error(&b, "format 'xclbin' is not supported");
	build(&b, "cl", "k", 0, 0, 0, NULL, 0, "no delimiter");
	expect_error(&b, "no kernel delimiter was found");
	build(&b, "cl", "k", 0, 0, 0, NULL, 0, "// Function: other\nx");
	expect_error(&b, "source unit 'other' has no kernel");
	build(&b, "cl", "k", 0, 0, 0, NULL, 0, "// Function: k\nx// Function: k\ny");
	expect_error(&b, "comes twice");
	build(&b, "cl", "k", 0, 0, 0, NULL, 0, "// Function: k");
	expect_error(&b, "without a newline");
	/* A key that differs from the FunctionInfo's name. */
	build(&b, "cl", "k", 0, 0, 0, NULL, 0, "// Function: k\n");
	b.data[35] = (uint8_t)'j'; /* the name after "cl", the count and the key */
	expect_error(&b, "differs from its key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vadd_payload),
		cmocka_unit_test(test_matmul_payload),
		cmocka_unit_test(test_truncations_fail),
		cmocka_unit_test(test_hand_built_payloads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
