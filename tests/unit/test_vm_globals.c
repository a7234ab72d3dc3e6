/* Unit tests for the vm.builtin.* globals (vm_globals.c, vm_builtins.c, tensor_cache.c),
 * called through the registry as a remote client's calls arrive: typed signatures (counts,
 * types, dtype strings, Arrays as Shapes), TVM's error kinds, the shape heap, tuples, the
 * tensor cache and its loader on good and malformed cache directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/tensor_cache.h"
#include "runtime/vm.h"
#include "runtime/vm_executable.h"
#include "vm_test_util.h"
#include "global_call_util.h"

static void expect_error(const char *name, const TVMFFIAny *args, int32_t n, const char *kind)
{
	TVMFFIAny r;
	if (call(name, args, n, &r) == 0)
		fail_msg("%s succeeded, expected %s", name, kind);
	if (strcmp(ffi_error_kind(), kind) != 0)
		fail_msg("%s: %s: %s, expected %s", name, ffi_error_kind(), ffi_error_message(),
			 kind);
}

static void expect_none(const char *name, const TVMFFIAny *args, int32_t n)
{
	TVMFFIAny r;
	if (call(name, args, n, &r) != 0)
		fail_msg("%s: %s: %s", name, ffi_error_kind(), ffi_error_message());
	assert_int_equal(r.type_index, FFI_NONE);
}

static TVMFFIAny str(const char *s)
{
	return test_str(s);
}

static TVMFFIAny dtype(uint8_t code, uint8_t bits)
{
	TVMFFIAny v = {.type_index = FFI_DATATYPE};
	v.v_dtype = (DLDataType){code, bits, 1};
	return v;
}

static TVMFFIAny dltensor(DLTensor *t)
{
	TVMFFIAny v = {.type_index = FFI_DLTENSOR_PTR};
	v.v_ptr = t;
	return v;
}

static ffi_tensor_t *int64_tensor(const int64_t *vals, int64_t count)
{
	ffi_tensor_t *t = ffi_tensor_alloc(&count, 1, (DLDataType){kDLInt, 64, 1},
					   (DLDevice){kDLCPU, 0});
	memcpy(t->dl.data, vals, (size_t)count * sizeof *vals);
	return t;
}

static const char *const all_globals[] = {
	"vm.builtin.alloc_shape_heap", "vm.builtin.alloc_storage", "vm.builtin.alloc_tensor",
	"vm.builtin.call_tir_dyn", "vm.builtin.check_func_info", "vm.builtin.check_prim_value_info",
	"vm.builtin.check_shape_info", "vm.builtin.check_tensor_info", "vm.builtin.check_tuple_info",
	"vm.builtin.copy", "vm.builtin.ensure_zero_offset", "vm.builtin.invoke_closure",
	"vm.builtin.invoke_debug_func", "vm.builtin.make_closure", "vm.builtin.make_prim_value",
	"vm.builtin.make_shape", "vm.builtin.make_tuple", "vm.builtin.match_prim_value",
	"vm.builtin.match_shape", "vm.builtin.memory_manager.clear", "vm.builtin.null_value",
	"vm.builtin.param_array_from_cache", "vm.builtin.param_array_from_cache_by_name",
	"vm.builtin.param_array_from_cache_by_name_unpacked", "vm.builtin.param_module_from_cache",
	"vm.builtin.param_module_from_cache_by_name", "vm.builtin.read_if_cond",
	"vm.builtin.reshape", "vm.builtin.shape_of", "vm.builtin.tensor_cache.clear",
	"vm.builtin.tensor_cache.get", "vm.builtin.tensor_cache.load",
	"vm.builtin.tensor_cache.remove", "vm.builtin.tensor_cache.update",
	"vm.builtin.tensor_to_shape", "vm.builtin.to_device", "vm.builtin.tuple_getitem",
	"vm.builtin.tuple_reset_item",
};

static void test_registered_and_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof all_globals / sizeof all_globals[0]; i++) {
		ffi_function_t *fn = ffi_registry_get(all_globals[i]);
		if (!fn)
			fail_msg("%s is not registered", all_globals[i]);
		assert_null(ffi_registry_refusal(all_globals[i]));
		ffi_object_release(&fn->header);
	}
	static const char *const py[] = {"vm.builtin.call_py_func", "vm.builtin.register_py_func",
					 "vm.builtin.get_py_func",
					 "vm.builtin.clear_py_func_registry"};
	for (size_t i = 0; i < 4; i++) {
		assert_non_null(ffi_registry_refusal(py[i]));
		expect_error(py[i], NULL, 0, "RuntimeError");
		assert_non_null(strstr(ffi_error_message(), "Python"));
	}
	/* The VM still refuses them in bytecode, and resolves the others itself. */
	assert_non_null(vm_builtin_refusal("vm.builtin.call_py_func"));
	assert_null(vm_builtin_refusal("vm.builtin.tensor_cache.get"));
	assert_null(vm_builtin_refusal("vm.builtin.invoke_debug_func"));
}

static void test_signatures(void **state)
{
	(void)state;
	TVMFFIAny r, a[5] = {0};
	/* Counts of typed globals are exact. */
	expect_error("vm.builtin.null_value", a, 1, "TypeError");
	expect_error("vm.builtin.memory_manager.clear", a, 1, "TypeError");
	expect_error("vm.builtin.tensor_cache.get", a, 0, "TypeError");
	a[0] = ffi_any_int(1);
	expect_error("vm.builtin.check_shape_info", a, 2, "TypeError");
	expect_none("vm.builtin.null_value", NULL, 0);
	expect_none("vm.builtin.memory_manager.clear", NULL, 0);
	/* void* refuses an Int; a pointer that is not the running VM is refused too. */
	a[1] = ffi_any_int(4);
	expect_error("vm.builtin.alloc_shape_heap", a, 2, "TypeError");
	a[0] = ffi_any_ptr((void *)&r);
	expect_error("vm.builtin.alloc_shape_heap", a, 2, "TypeError");
	/* dtype strings convert; an unknown one is a ValueError. */
	a[0] = ffi_any_int(1), a[1] = str("float32"), a[2] = str("ctx");
	expect_none("vm.builtin.check_prim_value_info", a, 3);
	a[1] = str("blah");
	expect_error("vm.builtin.check_prim_value_info", a, 3, "ValueError");
	a[1] = str("bfloat16");
	expect_error("vm.builtin.check_prim_value_info", a, 3, "TypeError");
	a[1] = str("void");
	expect_error("vm.builtin.check_prim_value_info", a, 3, "TypeError");
	a[0] = ffi_any_float(1.5), a[1] = str("int32");
	expect_error("vm.builtin.check_prim_value_info", a, 3, "TypeError");
	a[0] = ffi_any_ptr(NULL), a[1] = str("handle");
	expect_none("vm.builtin.check_prim_value_info", a, 3);
	a[1] = ffi_any_int(3);
	expect_error("vm.builtin.check_prim_value_info", a, 3, "TypeError");
	/* Tensor-only arguments refuse a DLTensor* (what remote clients send). */
	int64_t vals[2] = {3, 4}, shape = 2;
	DLTensor dl = {.data = vals, .device = {kDLCPU, 0}, .ndim = 1,
		       .dtype = {kDLInt, 64, 1}, .shape = &shape};
	a[0] = dltensor(&dl);
	expect_error("vm.builtin.tensor_to_shape", a, 1, "TypeError");
	expect_error("vm.builtin.ensure_zero_offset", a, 1, "TypeError");
	expect_error("vm.builtin.read_if_cond", a, 1, "TypeError");
	a[1] = ffi_any_int(1), a[2] = ffi_any_int(0);
	expect_error("vm.builtin.to_device", a, 3, "TypeError");
}

static void test_vm_dtype_parse(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint8_t code, bits;
		uint16_t lanes;
	} good[] = {
		{"float32", kDLFloat, 32, 1}, {"int8", kDLInt, 8, 1},	  {"uint1", kDLUInt, 1, 1},
		{"bool", 6, 8, 1},	      {"int", kDLInt, 32, 1},	  {"float16x4", kDLFloat, 16, 4},
		{"bf16", kDLBfloat, 16, 1},   {"bfloat16", kDLBfloat, 16, 1}, {"i64", kDLInt, 64, 1},
		{"u8", kDLUInt, 8, 1},	      {"f64", kDLFloat, 64, 1},	  {"handle", 3, 64, 1},
		{"", 3, 0, 0},		      {"void", 3, 0, 0},	  {"float8_e4m3fn", 10, 8, 1},
		{"fp8_e5m2x2", 12, 8, 2},     {"float4_e2m1fn_x2", 17, 4, 2},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		DLDataType dt;
		if (vm_dtype_parse(good[i].text, strlen(good[i].text), &dt))
			fail_msg("%s: %s", good[i].text, ffi_error_message());
		assert_int_equal(dt.code, good[i].code);
		assert_int_equal(dt.bits, good[i].bits);
		assert_int_equal(dt.lanes, good[i].lanes);
	}
	static const char *const bad[] = {"f",	    "floaty", "int999", "int8x",	 "int8x0",
					  "fp8_",   "fp8_e9", "x4",	"int8x99999", "uint8 "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		DLDataType dt;
		if (vm_dtype_parse(bad[i], strlen(bad[i]), &dt) == 0)
			fail_msg("'%s' parsed", bad[i]);
		assert_string_equal(ffi_error_kind(), "ValueError");
	}
}

static ffi_shape_t *shape_result(const char *name, const TVMFFIAny *args, int32_t n)
{
	TVMFFIAny r;
	if (call(name, args, n, &r))
		fail_msg("%s: %s: %s", name, ffi_error_kind(), ffi_error_message());
	assert_int_equal(r.type_index, FFI_SHAPE);
	return (ffi_shape_t *)r.v_obj;
}

static void test_shapes_and_heap(void **state)
{
	(void)state;
	TVMFFIAny a[10], r;
	/* make_shape with immediates only needs no heap. */
	a[0] = ffi_any_none(), a[1] = ffi_any_int(2), a[2] = ffi_any_int(0), a[3] = ffi_any_int(3);
	a[4] = ffi_any_int(0), a[5] = ffi_any_int(4);
	ffi_shape_t *s34 = shape_result("vm.builtin.make_shape", a, 6);
	assert_int_equal(s34->size, 2);
	assert_int_equal(s34->data[1], 4);
	a[4] = ffi_any_int(5);
	expect_error("vm.builtin.make_shape", a, 6, "InternalError");
	/* match_shape into a heap the client owns (a DLTensor*), then read it back. */
	int64_t heap_vals[2] = {0, 0}, heap_n = 2;
	DLTensor heap = {.data = heap_vals, .device = {kDLCPU, 0}, .ndim = 1,
			 .dtype = {kDLInt, 64, 1}, .shape = &heap_n};
	a[0] = ffi_any_object(&s34->header), a[1] = dltensor(&heap), a[2] = ffi_any_int(2);
	a[3] = ffi_any_int(1), a[4] = ffi_any_int(1), a[5] = ffi_any_int(0), a[6] = ffi_any_int(4);
	a[7] = str("ctx");
	expect_none("vm.builtin.match_shape", a, 8);
	assert_int_equal(heap_vals[1], 3);
	a[5] = ffi_any_int(3), a[6] = ffi_any_int(1); /* dim 1 (4) against heap[1] (3) */
	expect_error("vm.builtin.match_shape", a, 8, "RuntimeError");
	assert_non_null(strstr(ffi_error_message(), "ctx "));
	a[5] = ffi_any_int(9);
	expect_error("vm.builtin.match_shape", a, 8, "InternalError");
	a[2] = ffi_any_int(3);
	expect_error("vm.builtin.match_shape", a, 8, "InternalError"); /* too few arguments */
	a[2] = ffi_any_int(1), a[5] = str("ctx");
	expect_error("vm.builtin.match_shape", a, 6, "RuntimeError"); /* ndim 2 against 1 */
	a[5] = ffi_any_none();
	expect_error("vm.builtin.match_shape", a, 6, "TypeError"); /* error context must be str */
	a[0] = ffi_any_int(1);
	expect_error("vm.builtin.match_shape", a, 6, "TypeError");
	/* heap index out of range: an error, never a write outside the heap */
	a[0] = ffi_any_object(&s34->header), a[2] = ffi_any_int(2), a[3] = ffi_any_int(1);
	a[4] = ffi_any_int(7), a[5] = ffi_any_int(2), a[6] = ffi_any_int(0), a[7] = str("c");
	expect_error("vm.builtin.match_shape", a, 8, "IndexError");
	/* make_prim_value / match_prim_value against the heap */
	a[0] = dltensor(&heap), a[1] = ffi_any_int(1), a[2] = ffi_any_int(1);
	assert_int_equal(call("vm.builtin.make_prim_value", a, 3, &r), 0);
	assert_int_equal(r.v_int64, 3);
	a[1] = ffi_any_int(2);
	expect_error("vm.builtin.make_prim_value", a, 3, "InternalError");
	a[0] = ffi_any_none(), a[1] = ffi_any_int(0);
	expect_error("vm.builtin.make_prim_value", a, 3, "TypeError");
	a[0] = ffi_any_int(3), a[1] = dltensor(&heap), a[2] = ffi_any_int(3), a[3] = ffi_any_int(1);
	a[4] = str("ctx");
	expect_none("vm.builtin.match_prim_value", a, 5);
	a[2] = ffi_any_int(0);
	expect_error("vm.builtin.match_prim_value", a, 5, "RuntimeError");
	a[2] = ffi_any_int(7);
	expect_error("vm.builtin.match_prim_value", a, 5, "InternalError");
	/* shape_of, tensor_to_shape, reshape (an Array of ints is a Shape) */
	a[0] = dltensor(&heap);
	ffi_shape_t *s = shape_result("vm.builtin.shape_of", a, 1);
	assert_int_equal(s->size, 1);
	assert_int_equal(s->data[0], 2);
	ffi_object_release(&s->header);
	a[0] = ffi_any_float(1.0);
	expect_error("vm.builtin.shape_of", a, 1, "TypeError");
	ffi_tensor_t *t = int64_tensor((int64_t[]){5, 6}, 2);
	a[0] = ffi_any_object(&t->header);
	s = shape_result("vm.builtin.tensor_to_shape", a, 1);
	assert_int_equal(s->data[0], 5);
	ffi_object_release(&s->header);
	ffi_array_t *dims = ffi_array_new();
	ffi_array_push(dims, ffi_any_int(1));
	ffi_array_push(dims, ffi_any_int(2));
	a[1] = ffi_any_object(&dims->header);
	assert_int_equal(call("vm.builtin.reshape", a, 2, &r), 0);
	assert_int_equal(ffi_any_as_dltensor(&r)->ndim, 2);
	assert_ptr_equal(ffi_any_as_dltensor(&r)->data, t->dl.data); /* a view */
	ffi_any_release(&r);
	a[1] = ffi_any_object(&s34->header);
	expect_error("vm.builtin.reshape", a, 2, "ValueError"); /* 12 elements of 2 */
	a[1] = ffi_any_int(3);
	expect_error("vm.builtin.reshape", a, 2, "TypeError");
	assert_int_equal(call("vm.builtin.ensure_zero_offset", a, 1, &r), 0);
	assert_ptr_equal(r.v_obj, &t->header);
	ffi_any_release(&r);
	ffi_object_release(&dims->header);
	ffi_object_release(&t->header);
	t = ffi_tensor_alloc((int64_t[]){1, 2}, 2, (DLDataType){kDLInt, 64, 1},
			     (DLDevice){kDLCPU, 0});
	a[0] = ffi_any_object(&t->header);
	expect_error("vm.builtin.tensor_to_shape", a, 1, "InternalError");
	ffi_object_release(&t->header);
	ffi_object_release(&s34->header);
}

static void test_tuples_and_checks(void **state)
{
	(void)state;
	TVMFFIAny a[4], r, tuple;
	int64_t vals[2] = {3, 4}, n2 = 2;
	DLTensor dl = {.data = vals, .device = {kDLCPU, 0}, .ndim = 1,
		       .dtype = {kDLInt, 64, 1}, .shape = &n2};
	/* make_tuple keeps copies of borrowed strings and tensors. */
	a[0] = str("abc"), a[1] = ffi_any_float(1.5), a[2] = dltensor(&dl), a[3] = ffi_any_none();
	assert_int_equal(call("vm.builtin.make_tuple", a, 4, &tuple), 0);
	ffi_array_t *arr = (ffi_array_t *)tuple.v_obj;
	assert_int_equal(arr->size, 4);
	assert_string_equal(ffi_any_as_str(&arr->items[0], NULL), "abc");
	assert_int_not_equal(arr->items[0].type_index, FFI_RAW_STR);
	assert_int_equal(arr->items[2].type_index, FFI_TENSOR);
	assert_ptr_not_equal(ffi_any_as_dltensor(&arr->items[2])->data, vals);
	a[0] = tuple, a[1] = ffi_any_int(1);
	assert_int_equal(call("vm.builtin.tuple_getitem", a, 2, &r), 0);
	assert_true(r.type_index == FFI_FLOAT && r.v_float64 == 1.5);
	a[1] = ffi_any_int(4);
	expect_error("vm.builtin.tuple_getitem", a, 2, "IndexError");
	a[1] = ffi_any_int(-1);
	expect_error("vm.builtin.tuple_reset_item", a, 2, "IndexError");
	a[1] = ffi_any_int(2);
	expect_none("vm.builtin.tuple_reset_item", a, 2);
	assert_int_equal(arr->items[2].type_index, FFI_NONE);
	a[0] = ffi_any_int(1);
	expect_error("vm.builtin.tuple_getitem", a, 2, "TypeError");
	/* check_*_info */
	a[0] = tuple, a[1] = ffi_any_int(4), a[2] = ffi_any_none();
	expect_none("vm.builtin.check_tuple_info", a, 3);
	a[1] = ffi_any_int(3);
	expect_error("vm.builtin.check_tuple_info", a, 3, "ValueError");
	expect_error("vm.builtin.check_shape_info", a, 3, "TypeError");
	a[0] = str("x");
	expect_error("vm.builtin.check_tuple_info", a, 3, "TypeError");
	a[0] = dltensor(&dl), a[1] = ffi_any_int(1), a[2] = str("int64"), a[3] = str("c");
	expect_none("vm.builtin.check_tensor_info", a, 4);
	a[2] = dtype(kDLInt, 32);
	expect_error("vm.builtin.check_tensor_info", a, 4, "ValueError");
	a[2] = ffi_any_none();
	expect_none("vm.builtin.check_tensor_info", a, 4);
	a[2] = ffi_any_int(5);
	expect_error("vm.builtin.check_tensor_info", a, 4, "TypeError");
	a[2] = str("c");
	expect_none("vm.builtin.check_tensor_info", a, 3);
	a[1] = ffi_any_int(2);
	expect_error("vm.builtin.check_tensor_info", a, 3, "ValueError");
	a[0] = tuple;
	expect_error("vm.builtin.check_tensor_info", a, 3, "TypeError");
	ffi_function_t *fn = ffi_registry_get("ffi.String");
	a[0] = ffi_any_object(&fn->header), a[1] = str("c");
	expect_none("vm.builtin.check_func_info", a, 2);
	a[0] = tuple;
	expect_error("vm.builtin.check_func_info", a, 2, "TypeError");
	a[0] = ffi_any_int(1);
	expect_error("vm.builtin.check_func_info", a, 2, "TypeError");
	ffi_object_release(&fn->header);
	ffi_any_release(&tuple);
}

static void test_calls_and_values(void **state)
{
	(void)state;
	TVMFFIAny a[5], r;
	/* call_tir_dyn(f, args..., Shape) calls f(args..., dims...). */
	ffi_function_t *array = ffi_registry_get("ffi.Array");
	int64_t dims[2] = {2, 3};
	ffi_shape_t *shape = ffi_shape_new(dims, 2);
	a[0] = ffi_any_object(&array->header), a[1] = ffi_any_int(1);
	a[2] = ffi_any_object(&shape->header);
	assert_int_equal(call("vm.builtin.call_tir_dyn", a, 3, &r), 0);
	assert_int_equal(r.type_index, FFI_ARRAY);
	assert_int_equal(((ffi_array_t *)r.v_obj)->size, 3);
	assert_int_equal(((ffi_array_t *)r.v_obj)->items[2].v_int64, 3);
	ffi_any_release(&r);
	a[2] = ffi_any_int(3);
	expect_error("vm.builtin.call_tir_dyn", a, 3, "TypeError");
	a[0] = ffi_any_int(3), a[2] = ffi_any_object(&shape->header);
	expect_error("vm.builtin.call_tir_dyn", a, 3, "TypeError");
	/* closures need the VM: refused with a TypeError from outside one */
	expect_error("vm.builtin.make_closure", a, 1, "TypeError");
	expect_error("vm.builtin.invoke_closure", a, 2, "TypeError");
	a[0] = ffi_any_ptr(&r);
	expect_error("vm.builtin.invoke_closure", a, 2, "TypeError");
	/* alloc_tensor needs a Storage, which only a running VM makes */
	a[0] = ffi_any_int(1), a[1] = ffi_any_int(0), a[2] = ffi_any_object(&shape->header);
	a[3] = str("float32");
	expect_error("vm.builtin.alloc_tensor", a, 4, "TypeError");
	a[0] = ffi_any_ptr(&r), a[1] = ffi_any_object(&shape->header), a[2] = ffi_any_int(0);
	a[3] = str("float32"), a[4] = str("global");
	expect_error("vm.builtin.alloc_storage", a, 5, "TypeError");
	/* invoke_debug_func calls a global with (line_info, args...) and returns None */
	a[0] = ffi_any_none(), a[1] = str("ffi.String"), a[2] = str("line");
	expect_none("vm.builtin.invoke_debug_func", a, 3);
	a[1] = str("no.such.global");
	expect_error("vm.builtin.invoke_debug_func", a, 3, "ValueError");
	a[0] = ffi_any_int(1);
	expect_error("vm.builtin.invoke_debug_func", a, 3, "TypeError");
	a[0] = ffi_any_object(&shape->header), a[1] = str("ffi.String");
	expect_error("vm.builtin.invoke_debug_func", a, 3, "ValueError");
	/* read_if_cond, copy, to_device */
	a[0] = ffi_any_int(0);
	assert_int_equal(call("vm.builtin.read_if_cond", a, 1, &r), 0);
	assert_true(r.type_index == FFI_BOOL && r.v_int64 == 0);
	ffi_tensor_t *t = int64_tensor((int64_t[]){7}, 1);
	a[0] = ffi_any_object(&t->header);
	assert_int_equal(call("vm.builtin.read_if_cond", a, 1, &r), 0);
	assert_true(r.type_index == FFI_BOOL && r.v_int64 == 1);
	a[0] = str("abc");
	assert_int_equal(call("vm.builtin.copy", a, 1, &r), 0);
	assert_string_equal(ffi_any_as_str(&r, NULL), "abc");
	ffi_any_release(&r);
	a[0] = ffi_any_object(&t->header), a[1] = ffi_any_int(kDLCPU), a[2] = ffi_any_int(0);
	assert_int_equal(call("vm.builtin.to_device", a, 3, &r), 0);
	assert_ptr_not_equal(ffi_any_as_dltensor(&r)->data, t->dl.data);
	assert_int_equal(*(int64_t *)ffi_any_as_dltensor(&r)->data, 7);
	ffi_any_release(&r);
	a[1] = ffi_any_int(2);
	expect_error("vm.builtin.to_device", a, 3, "InternalError");
	ffi_object_release(&t->header);
	ffi_object_release(&shape->header);
	ffi_object_release(&array->header);
}

static void test_tensor_cache_globals(void **state)
{
	(void)state;
	TVMFFIAny a[4], r;
	int64_t vals[2] = {3, 4}, n2 = 2;
	DLTensor dl = {.data = vals, .device = {kDLCPU, 0}, .ndim = 1,
		       .dtype = {kDLInt, 64, 1}, .shape = &n2};
	expect_none("vm.builtin.tensor_cache.clear", NULL, 0);
	a[0] = str("w_0"), a[1] = dltensor(&dl);
	expect_none("vm.builtin.tensor_cache.update", a, 2);
	vals[0] = 99; /* the cache keeps its own copy of a borrowed tensor */
	expect_error("vm.builtin.tensor_cache.update", a, 2, "InternalError");
	a[0] = str("w_1"), a[2] = ffi_any_bool(1);
	expect_none("vm.builtin.tensor_cache.update", a, 3);
	expect_none("vm.builtin.tensor_cache.update", a, 3);
	a[2] = str("yes");
	expect_error("vm.builtin.tensor_cache.update", a, 3, "TypeError");
	expect_error("vm.builtin.tensor_cache.update", a, 1, "InternalError");
	a[1] = ffi_any_int(1);
	expect_error("vm.builtin.tensor_cache.update", a, 2, "TypeError");
	a[0] = ffi_any_int(1), a[1] = dltensor(&dl);
	expect_error("vm.builtin.tensor_cache.update", a, 2, "TypeError");
	assert_int_equal(tensor_cache_size(), 2);
	a[0] = str("w_0");
	assert_int_equal(call("vm.builtin.tensor_cache.get", a, 1, &r), 0);
	assert_int_equal(r.type_index, FFI_TENSOR);
	assert_int_equal(*(int64_t *)ffi_any_as_dltensor(&r)->data, 3);
	ffi_any_release(&r);
	/* prefix arrays and modules */
	a[0] = str("w"), a[1] = ffi_any_int(-1);
	assert_int_equal(call("vm.builtin.param_array_from_cache", a, 2, &r), 0);
	assert_int_equal(((ffi_array_t *)r.v_obj)->size, 2);
	ffi_any_release(&r);
	a[1] = ffi_any_int(3);
	expect_error("vm.builtin.param_array_from_cache", a, 2, "InternalError");
	a[1] = ffi_any_int(2);
	assert_int_equal(call("vm.builtin.param_module_from_cache", a, 2, &r), 0);
	assert_int_equal(r.type_index, FFI_MODULE);
	ffi_module_t *mod = (ffi_module_t *)r.v_obj;
	assert_string_equal(mod->vtable->kind, "param_module");
	assert_null(ffi_module_get_function(mod, "other", 0));
	ffi_function_t *get = ffi_module_get_function(mod, "get_params", 0);
	TVMFFIAny params;
	assert_int_equal(ffi_function_call(get, NULL, 0, &params), 0);
	assert_int_equal(((ffi_array_t *)params.v_obj)->size, 2);
	ffi_any_release(&params);
	ffi_object_release(&get->header);
	ffi_any_release(&r);
	/* by name: an Array of str, or the names unpacked */
	ffi_array_t *names = ffi_array_new();
	ffi_array_push(names, ffi_any_object(&ffi_str_new("w_1", 3)->header));
	a[0] = ffi_any_object(&names->header);
	assert_int_equal(call("vm.builtin.param_array_from_cache_by_name", a, 1, &r), 0);
	assert_int_equal(((ffi_array_t *)r.v_obj)->size, 1);
	ffi_any_release(&r);
	assert_int_equal(call("vm.builtin.param_module_from_cache_by_name", a, 1, &r), 0);
	ffi_any_release(&r);
	ffi_array_push(names, ffi_any_int(1));
	expect_error("vm.builtin.param_array_from_cache_by_name", a, 1, "TypeError");
	ffi_object_release(&names->header);
	a[0] = str("w_1"), a[1] = str("w_0");
	assert_int_equal(call("vm.builtin.param_array_from_cache_by_name_unpacked", a, 2, &r), 0);
	assert_int_equal(((ffi_array_t *)r.v_obj)->size, 2);
	ffi_any_release(&r);
	a[1] = ffi_any_int(1);
	expect_error("vm.builtin.param_array_from_cache_by_name_unpacked", a, 2, "ValueError");
	a[1] = str("zz");
	expect_error("vm.builtin.param_array_from_cache_by_name_unpacked", a, 2, "ValueError");
	expect_error("vm.builtin.param_module_from_cache_by_name", a, 1, "TypeError");
	/* None is cached: the name is taken, lookups miss it (as TVM's cache does) */
	a[0] = str("n_0"), a[1] = ffi_any_none();
	expect_none("vm.builtin.tensor_cache.update", a, 2);
	expect_none("vm.builtin.tensor_cache.get", a, 1);
	a[1] = dltensor(&dl);
	expect_error("vm.builtin.tensor_cache.update", a, 2, "InternalError");
	a[0] = str("n"), a[1] = ffi_any_int(1);
	expect_error("vm.builtin.param_array_from_cache", a, 2, "InternalError");
	/* C++ int parameters keep the low 32 bits; std::string ones take bytes */
	a[1] = ffi_any_int(((int64_t)1 << 32) + 0);
	assert_int_equal(call("vm.builtin.param_array_from_cache", a, 2, &r), 0);
	assert_int_equal(((ffi_array_t *)r.v_obj)->size, 0);
	ffi_any_release(&r);
	ffi_bytes_t *prefix = ffi_bytes_new("w", 1);
	a[0] = ffi_any_object(&prefix->header), a[1] = ffi_any_int(1);
	assert_int_equal(call("vm.builtin.param_module_from_cache", a, 2, &r), 0);
	ffi_any_release(&r);
	expect_error("vm.builtin.param_array_from_cache", a, 2, "TypeError");
	ffi_object_release(&prefix->header);
	/* remove (twice is fine), clear */
	a[0] = str("w_0");
	expect_none("vm.builtin.tensor_cache.remove", a, 1);
	expect_none("vm.builtin.tensor_cache.remove", a, 1);
	expect_none("vm.builtin.tensor_cache.get", a, 1);
	expect_none("vm.builtin.tensor_cache.clear", NULL, 0);
	assert_int_equal(tensor_cache_size(), 0);
}

/* Bytecode reaches the cache globals through the registry, and set_input_with_param_module
 * passes a param_module's get_params() as the last input. */
enum { P_MAIN, P_LOAD, P_GETITEM, P_FROM_CACHE, NUM_P };

static ffi_module_t *param_vm(test_buf_t *b)
{
	test_func_t f[NUM_P] = {
		[P_MAIN] = {1, "main", 0, 2, 2, 3, {"x", "params"}, 2},
		[P_LOAD] = {1, "load", 2, 4, 0, 1, {0}, 0},
		[P_GETITEM] = {0, "vm.builtin.tuple_getitem", 0, 0, 0, 0, {0}, 0},
		[P_FROM_CACHE] = {0, "vm.builtin.param_array_from_cache", 0, 0, 0, 0, {0}, 0},
	};
	test_buf_t c = {0};
	tb_i32(&c, FFI_STR), tb_str(&c, "w");
	static test_prog_t p;
	memset(&p, 0, sizeof p);
	/* main(x, params) = params[1]; load() = param_array_from_cache("w", -1) */
	tp_call(&p, 2, P_GETITEM, 2, REG(1), IMM(1));
	tp_op(&p, VM_OP_RET, 2, 0);
	tp_call(&p, 0, P_FROM_CACHE, 2, CONST(0), IMM(-1));
	tp_op(&p, VM_OP_RET, 0, 0);
	*b = test_exec_encode(1, f, NUM_P, &c, 1, &p);
	free(c.data);
	vm_executable_t *exec;
	assert_int_equal(vm_executable_parse(b->data, b->len, &exec), 0);
	ffi_module_t *em = vm_executable_module_new(exec);
	ffi_module_t *vm = vm_module_new(em);
	ffi_object_release(&em->header);
	TVMFFIAny dev[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(2)}, r;
	assert_int_equal(test_call(vm, "vm_initialization", dev, 3, &r), 0);
	return vm;
}

static void test_vm_with_cached_params(void **state)
{
	(void)state;
	tensor_cache_clear();
	for (int i = 0; i < 2; i++) {
		char name[8];
		snprintf(name, sizeof name, "w_%d", i);
		assert_int_equal(tensor_cache_put(name, int64_tensor((int64_t[]){10 + i}, 1), 0), 0);
	}
	test_buf_t b;
	ffi_module_t *vm = param_vm(&b);
	TVMFFIAny r, a[3];
	assert_int_equal(test_call(vm, "load", NULL, 0, &r), 0);
	assert_int_equal(r.type_index, FFI_ARRAY);
	assert_int_equal(((ffi_array_t *)r.v_obj)->size, 2);
	ffi_any_release(&r);
	a[0] = str("w"), a[1] = ffi_any_int(2);
	assert_int_equal(call("vm.builtin.param_module_from_cache", a, 2, &r), 0);
	TVMFFIAny mod = r;
	a[0] = str("main"), a[1] = ffi_any_int(0), a[2] = mod;
	assert_int_equal(test_call(vm, "set_input_with_param_module", a, 3, &r), 0);
	assert_int_equal(test_call(vm, "invoke_stateful", a, 1, &r), 0);
	assert_int_equal(test_call(vm, "get_output", a, 1, &r), 0);
	assert_int_equal(*(int64_t *)ffi_any_as_dltensor(&r)->data, 11);
	ffi_any_release(&r);
	/* the last input must be a module with get_params */
	a[2] = ffi_any_int(3);
	assert_int_equal(test_call(vm, "set_input_with_param_module", a, 3, &r), -1);
	assert_string_equal(ffi_error_kind(), "TypeError");
	a[2] = ffi_any_object(&vm->header);
	assert_int_equal(test_call(vm, "set_input_with_param_module", a, 3, &r), -1);
	assert_int_equal(test_call(vm, "set_input_with_param_module", a, 2, &r), -1);
	assert_string_equal(ffi_error_kind(), "ValueError");
	ffi_any_release(&mod);
	ffi_object_release(&vm->header);
	free(b.data);
	tensor_cache_clear();
}

/* ---- the loader ---- */

static char cache_dir[64];

static void write_file(const char *name, const void *data, size_t size)
{
	char path[192];
	snprintf(path, sizeof path, "%s/%s", cache_dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, size, f), size);
	fclose(f);
}

static int load(DLDevice dev)
{
	ffi_error_clear();
	tensor_cache_clear();
	return tensor_cache_load(cache_dir, dev);
}

static void expect_load_error(const char *json, const char *kind)
{
	write_file("tensor-cache.json", json, strlen(json));
	if (load((DLDevice){kDLCPU, 0}) == 0)
		fail_msg("loaded %s", json);
	if (strcmp(ffi_error_kind(), kind) != 0)
		fail_msg("%s: %s: %s, expected %s", json, ffi_error_kind(), ffi_error_message(),
			 kind);
}

#define REC(name, shape, dtype, fmt, nbytes, off)                                            \
	"{\"name\":\"" name "\",\"shape\":" shape ",\"dtype\":\"" dtype "\",\"format\":\"" fmt \
	"\",\"nbytes\":" #nbytes ",\"byteOffset\":" #off "}"
#define SHARD(path, fmt, nbytes, recs)                                                       \
	"{\"dataPath\":\"" path "\",\"format\":\"" fmt "\",\"nbytes\":" #nbytes                \
	",\"records\":[" recs "]}"

static void test_tensor_cache_load(void **state)
{
	(void)state;
	snprintf(cache_dir, sizeof cache_dir, "/tmp/tvmrpc-tcache-%d", (int)getpid());
	char cmd[192];
	snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", cache_dir, cache_dir);
	assert_int_equal(system(cmd), 0);
	/* shard 0: float32[2] {1.5, -2}; shard 1: int8[3] then a bf16-coded float32[2] */
	float f[2] = {1.5f, -2.0f};
	write_file("s0.bin", f, sizeof f);
	uint8_t s1[8] = {1, 2, 3, 0, 0x80, 0x3f, 0x00, 0x40}; /* bf16 1.0 and 2.0 at offset 4 */
	write_file("s1.bin", s1, sizeof s1);
	const char *good =
		"{\"metadata\":{},\"records\":["
		SHARD("s0.bin", "raw-shard", 8, REC("a", "[2]", "float32", "raw", 8, 0)) ","
		SHARD("s1.bin", "raw-shard", 8,
		      REC("b", "[3]", "int8", "raw", 3, 0) ","
		      REC("c", "[1,2]", "float32", "f32-to-bf16", 4, 4)) "]}";
	write_file("tensor-cache.json", good, strlen(good));
	if (load((DLDevice){kDLCPU, 0}))
		fail_msg("%s: %s", ffi_error_kind(), ffi_error_message());
	assert_int_equal(tensor_cache_size(), 3);
	assert_true(((float *)tensor_cache_lookup("a")->dl.data)[1] == -2.0f);
	assert_int_equal(((int8_t *)tensor_cache_lookup("b")->dl.data)[2], 3);
	const float *c = tensor_cache_lookup("c")->dl.data;
	assert_true(c[0] == 1.0f && c[1] == 2.0f);
	/* Through the global, from a path as given (no session here). */
	TVMFFIAny a[3] = {str(cache_dir), ffi_any_int(kDLCPU), ffi_any_int(0)};
	expect_none("vm.builtin.tensor_cache.load", a, 3);
	a[1] = ffi_any_int(2);
	expect_error("vm.builtin.tensor_cache.load", a, 3, "InternalError");
	a[0] = str("/nonexistent-dir"), a[1] = ffi_any_int(kDLCPU);
	expect_error("vm.builtin.tensor_cache.load", a, 3, "InternalError");
	a[0] = ffi_any_int(1);
	expect_error("vm.builtin.tensor_cache.load", a, 3, "TypeError");

	/* malformed metadata */
	expect_load_error("{\"records\": [", "InternalError");
	expect_load_error("", "InternalError");
	expect_load_error("[1, 2]", "ValueError");
	expect_load_error("{}", "KeyError");
	expect_load_error("{\"records\": 5}", "TypeError");
	expect_load_error("{\"records\": [5]}", "TypeError");
	expect_load_error("{\"records\": [{\"dataPath\": \"s0.bin\"}]}", "KeyError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", "8", "") "]}", "TypeError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8.5, "") "]}", "TypeError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[2]", "floaty", "raw", 8, 0)) "]}",
			  "ValueError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[\"2\"]", "float32", "raw", 8, 0)) "]}",
			  "TypeError");
	/* a later shard's bad metadata stops the load before anything is read */
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[2]", "float32", "raw", 8, 0)) ","
			  SHARD("s1.bin", "raw-shard", 8, REC("b", "[3]", "int8", "raw", 3, 0) ",{}")
			  "]}", "KeyError");
	assert_int_equal(tensor_cache_size(), 0);
	/* bad shards: format, size, records outside the shard, sizes that do not match */
	expect_load_error("{\"records\":[" SHARD("s0.bin", "zip", 8, "") "]}", "ValueError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 9, "") "]}", "ValueError");
	expect_load_error("{\"records\":[" SHARD("missing.bin", "raw-shard", 8, "") "]}",
			  "InternalError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[2]", "float32", "raw", 8, 4)) "]}",
			  "ValueError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[2]", "float32", "raw", -8, 0)) "]}",
			  "ValueError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[3]", "float32", "raw", 8, 0)) "]}",
			  "InternalError");
	/* a huge shape is refused by the size check, never allocated */
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[1048576, 1048576]", "float32", "raw", 8,
						     0)) "]}",
			  "InternalError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[1099511627776, 1099511627776]",
						     "float32", "raw", 8, 0)) "]}",
			  "ValueError");
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[-2]", "float32", "raw", 8, 0)) "]}",
			  "ValueError");
	/* the first shard stays loaded when the second one fails, as in TVM */
	expect_load_error("{\"records\":[" SHARD("s0.bin", "raw-shard", 8,
						 REC("a", "[2]", "float32", "raw", 8, 0)) ","
			  SHARD("s1.bin", "raw-shard", 8, REC("b", "[9]", "int8", "raw", 3, 0))
			  "]}", "InternalError");
	assert_non_null(tensor_cache_lookup("a"));
	assert_null(tensor_cache_lookup("b"));
	/* garbage bytes in place of the JSON */
	write_file("tensor-cache.json", "\x00\xff\x13garbage", 11);
	assert_int_equal(load((DLDevice){kDLCPU, 0}), -1);
	assert_string_equal(ffi_error_kind(), "InternalError");
	tensor_cache_clear();
	snprintf(cmd, sizeof cmd, "rm -rf %s", cache_dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered_and_refused),
		cmocka_unit_test(test_signatures),
		cmocka_unit_test(test_vm_dtype_parse),
		cmocka_unit_test(test_shapes_and_heap),
		cmocka_unit_test(test_tuples_and_checks),
		cmocka_unit_test(test_calls_and_values),
		cmocka_unit_test(test_tensor_cache_globals),
		cmocka_unit_test(test_vm_with_cached_params),
		cmocka_unit_test(test_tensor_cache_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
