/* Unit tests for the Relax VM: the real TVM-built mlp_digits.so run end to end (direct call
 * and the set_input/invoke_stateful/get_output path), the VM module's RPC methods, refusal
 * of unsupported devices and builtins, and hand-built executables for If/Goto/closures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/module_blob.h"
#include "runtime/npy.h"
#include "runtime/vm.h"
#include "runtime/vm_executable.h"
#include "vm_test_util.h"
#include "native_fixture.h"

#define FIXTURE "tests/fixtures/mlp_digits.so"

/* ---- the fixture, through the test library module of vm_test_util.h ---- */

typedef struct mlp {
	ffi_module_t *lib;
	ffi_module_t *exec;
	ffi_module_t *vm;
	npy_array_t input, expected, labels;
} mlp_t;

static void mlp_open(mlp_t *m, int initialize)
{
	memset(m, 0, sizeof *m);
	const uint8_t *blob;
	size_t blob_size;
	m->lib = test_lib_open(FIXTURE, &blob, &blob_size);
	assert_non_null(m->lib);
	assert_non_null(blob);
	assert_int_equal(blob_size, 12380);
	m->exec = module_blob_load_sized(m->lib, blob, blob_size);
	assert_non_null(m->exec);
	assert_string_equal(m->exec->vtable->kind, "relax.VMExecutable");
	TVMFFIAny r;
	assert_int_equal(test_call(m->exec, "vm_load_executable", NULL, 0, &r), 0);
	assert_int_equal(r.type_index, FFI_MODULE);
	m->vm = (ffi_module_t *)r.v_obj;
	if (initialize) {
		TVMFFIAny dev[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(2)};
		assert_int_equal(test_call(m->vm, "vm_initialization", dev, 3, &r), 0);
		assert_int_equal(r.type_index, FFI_NONE);
	}
	char err[256];
	assert_int_equal(npy_read_file("tests/fixtures/mlp_digits_input.npy", &m->input, err,
				       sizeof err), 0);
	assert_int_equal(npy_read_file("tests/fixtures/mlp_digits_expected.npy", &m->expected, err,
				       sizeof err), 0);
	assert_int_equal(npy_read_file("tests/fixtures/mlp_digits_labels.npy", &m->labels, err,
				       sizeof err), 0);
}

static void mlp_close(mlp_t *m)
{
	ffi_object_release(&m->vm->header);
	ffi_object_release(&m->exec->header);
	ffi_object_release(&m->lib->header);
	npy_array_free(&m->input);
	npy_array_free(&m->expected);
	npy_array_free(&m->labels);
}

static DLTensor mlp_input_tensor(mlp_t *m)
{
	DLTensor t = {.data = m->input.data,
		      .device = {kDLCPU, 0},
		      .ndim = m->input.ndim,
		      .dtype = m->input.dtype,
		      .shape = m->input.shape};
	return t;
}

/* Logits within 1e-5 of TVM's own output and argmax equal to the labels. */
static void check_logits(mlp_t *m, const TVMFFIAny *out)
{
	assert_int_equal(out->type_index, FFI_TENSOR);
	const DLTensor *t = ffi_any_as_dltensor(out);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 16);
	assert_int_equal(t->shape[1], 10);
	assert_int_equal(t->dtype.code, kDLFloat);
	assert_int_equal(t->dtype.bits, 32);
	assert_int_equal(t->byte_offset, 0);
	assert_int_equal(((uintptr_t)t->data) % 64, 0);
	const float *got = t->data, *want = m->expected.data;
	const int64_t *labels = m->labels.data;
	for (int i = 0; i < 16; i++) {
		int best = 0;
		for (int k = 0; k < 10; k++) {
			float g = got[i * 10 + k], w = want[i * 10 + k];
			assert_true(fabsf(g - w) <= 1e-5f + 1e-5f * fabsf(w));
			if (g > got[i * 10 + best])
				best = k;
		}
		assert_int_equal(best, labels[i]);
	}
}

static void test_mlp_direct_call(void **state)
{
	SKIP_UNLESS_NATIVE(FIXTURE);
	(void)state;
	mlp_t m;
	mlp_open(&m, 1);
	DLTensor x = mlp_input_tensor(&m);
	TVMFFIAny arg = {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &x};
	TVMFFIAny out;
	assert_int_equal(test_call(m.vm, "main", &arg, 1, &out), 0);
	check_logits(&m, &out);
	/* A second run reuses nothing stale. */
	TVMFFIAny out2;
	assert_int_equal(test_call(m.vm, "main", &arg, 1, &out2), 0);
	check_logits(&m, &out2);
	assert_ptr_not_equal(ffi_any_as_dltensor(&out)->data, ffi_any_as_dltensor(&out2)->data);
	ffi_any_release(&out2);
	/* The result keeps its storage alive after the VM, executable and library are gone. */
	mlp_close(&m);
	mlp_t again;
	mlp_open(&again, 0);
	check_logits(&again, &out);
	ffi_any_release(&out);
	mlp_close(&again);
}

static void test_mlp_stateful(void **state)
{
	SKIP_UNLESS_NATIVE(FIXTURE);
	(void)state;
	mlp_t m;
	mlp_open(&m, 1);
	DLTensor x = mlp_input_tensor(&m);
	TVMFFIAny args[2] = {test_str("main"), {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &x}};
	TVMFFIAny r;
	TVMFFIAny name = test_str("main");
	/* invoke_stateful before set_input */
	assert_int_equal(test_call(m.vm, "invoke_stateful", &name, 1, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "set_input"));
	assert_int_equal(test_call(m.vm, "set_input", args, 2, &r), 0);
	/* set_input copied the input: later writes by the client are not seen. */
	float saved = ((float *)m.input.data)[0];
	((float *)m.input.data)[0] = 1000.0f;
	assert_int_equal(test_call(m.vm, "invoke_stateful", &name, 1, &r), 0);
	((float *)m.input.data)[0] = saved;
	assert_int_equal(test_call(m.vm, "get_output_arity", &name, 1, &r), 0);
	assert_int_equal(r.type_index, FFI_INT);
	assert_int_equal(r.v_int64, -1);
	assert_int_equal(test_call(m.vm, "get_output", &name, 1, &r), 0);
	check_logits(&m, &r);
	ffi_any_release(&r);
	/* Indexing into a tensor output is an error. */
	TVMFFIAny idx[2] = {test_str("main"), ffi_any_int(0)};
	assert_int_equal(test_call(m.vm, "get_output", idx, 2, &r), -1);
	assert_string_equal(ffi_error_kind(), "ValueError");
	/* Wrong input count and unknown function. */
	assert_int_equal(test_call(m.vm, "set_input", args, 1, &r), -1);
	TVMFFIAny bad = test_str("nope");
	assert_int_equal(test_call(m.vm, "invoke_stateful", &bad, 1, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "Unknown function"));
	/* save_function: a closure over the input, reached by name; include_return as Int. */
	TVMFFIAny save[4] = {test_str("main"), test_str("main_saved"), ffi_any_int(1), args[1]};
	assert_int_equal(test_call(m.vm, "save_function", save, 4, &r), 0);
	assert_int_equal(test_call(m.vm, "main_saved", NULL, 0, &r), 0);
	check_logits(&m, &r);
	ffi_any_release(&r);
	save[1] = test_str("main_void");
	save[2] = ffi_any_int(0);
	assert_int_equal(test_call(m.vm, "save_function", save, 4, &r), 0);
	assert_int_equal(test_call(m.vm, "main_void", NULL, 0, &r), 0);
	assert_int_equal(r.type_index, FFI_NONE);
	mlp_close(&m);
}

static void test_mlp_function_info(void **state)
{
	SKIP_UNLESS_NATIVE(FIXTURE);
	(void)state;
	mlp_t m;
	mlp_open(&m, 0);
	TVMFFIAny r, name = test_str("main");
	assert_int_equal(test_call(m.vm, "get_function_arity", &name, 1, &r), 0);
	assert_int_equal(r.v_int64, 1);
	TVMFFIAny pa[2] = {test_str("main"), ffi_any_int(0)};
	assert_int_equal(test_call(m.vm, "get_function_param_name", pa, 2, &r), 0);
	assert_string_equal(ffi_any_as_str(&r, NULL), "x");
	ffi_any_release(&r);
	pa[1] = ffi_any_int(1);
	assert_int_equal(test_call(m.vm, "get_function_param_name", pa, 2, &r), -1);
	assert_string_equal(ffi_error_kind(), "ValueError");
	/* The nine functions the Python VirtualMachine constructor looks up all exist. */
	static const char *const names[] = {"invoke_closure", "save_function", "set_input",
					    "invoke_stateful", "get_output", "get_output_arity",
					    "get_function_arity", "get_function_param_name",
					    "set_instrument"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ffi_function_t *fn = ffi_module_get_function(m.vm, names[i], 1);
		assert_non_null(fn);
		ffi_object_release(&fn->header);
	}
	assert_int_equal(test_call(m.vm, "set_instrument", NULL, 0, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "not supported"));
	/* Kernels and builtins are not VM functions; the kernels are still reachable through
	 * the executable module's import (the library). */
	ffi_function_t *fn = ffi_module_get_function(m.vm, "vm.builtin.alloc_storage", 0);
	assert_null(fn);
	fn = ffi_module_get_function(m.exec, "matmul", 1);
	assert_non_null(fn);
	ffi_object_release(&fn->header);
	/* Calling main before vm_initialization is a clear error, not a crash. */
	DLTensor x = mlp_input_tensor(&m);
	TVMFFIAny arg = {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &x};
	assert_int_equal(test_call(m.vm, "main", &arg, 1, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "not initialised"));
	/* has_function and as_text on the executable. */
	assert_int_equal(test_call(m.exec, "has_function", &name, 1, &r), 0);
	assert_int_equal(r.type_index, FFI_BOOL);
	assert_int_equal(r.v_int64, 1);
	assert_int_equal(test_call(m.exec, "as_text", NULL, 0, &r), 0);
	const char *text = ffi_any_as_str(&r, NULL);
	assert_non_null(strstr(text, "@main:"));
	assert_non_null(strstr(text, "call  matmul1"));
	assert_non_null(strstr(text, "in: %0, c[6], %2 dst: %void"));
	assert_non_null(strstr(text, "ret   %8"));
	ffi_any_release(&r);
	mlp_close(&m);
}

static void test_mlp_init_refusals(void **state)
{
	SKIP_UNLESS_NATIVE(FIXTURE);
	(void)state;
	mlp_t m;
	mlp_open(&m, 0);
	TVMFFIAny r;
	TVMFFIAny gpu[3] = {ffi_any_int(2), ffi_any_int(0), ffi_any_int(2)};
	assert_int_equal(test_call(m.vm, "vm_initialization", gpu, 3, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "CPU"));
	TVMFFIAny alloc3[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(3)};
	assert_int_equal(test_call(m.vm, "vm_initialization", alloc3, 3, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "allocator"));
	assert_int_equal(test_call(m.vm, "vm_initialization", alloc3, 2, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "triples"));
	/* Naive allocator, initialised twice: the second one starts over. */
	TVMFFIAny naive[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(1)};
	assert_int_equal(test_call(m.vm, "vm_initialization", naive, 3, &r), 0);
	assert_int_equal(test_call(m.vm, "vm_initialization", naive, 3, &r), 0);
	DLTensor x = mlp_input_tensor(&m);
	TVMFFIAny arg = {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &x};
	assert_int_equal(test_call(m.vm, "main", &arg, 1, &r), 0);
	check_logits(&m, &r);
	ffi_any_release(&r);
	/* Wrong input: the compiled parameter check reports it with its error context, as a
	 * RuntimeError (match_shape's kind in TVM). */
	int64_t bad_shape[2] = {16, 32};
	x.shape = bad_shape;
	assert_int_equal(test_call(m.vm, "main", &arg, 1, &r), -1);
	assert_string_equal(ffi_error_kind(), "RuntimeError");
	assert_non_null(strstr(ffi_error_message(), "ErrorContext(fn=main"));
	TVMFFIAny two[2] = {arg, arg};
	assert_int_equal(test_call(m.vm, "main", two, 2, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "expects 1 arguments (x), but 2"));
	mlp_close(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mlp_direct_call),
		cmocka_unit_test(test_mlp_stateful),
		cmocka_unit_test(test_mlp_function_info),
		cmocka_unit_test(test_mlp_init_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
