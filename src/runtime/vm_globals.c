/* The vm.builtin.* globals remote clients call: the builtins of vm_builtins.c and the tensor
 * cache of tensor_cache.c, registered once each behind a check of TVM's typed signature
 * (ffi_typed.c's checker, with tvm-ffi's conversions from here: dtype strings, Arrays and
 * Lists of ints as Shapes, bytes as std::string, int narrowing), plus
 * vm.builtin.memory_manager.clear and the refused Python-function registry. */
#include <stdio.h>
#include <string.h>

#include "runtime/ffi_typed.h"
#include "runtime/tensor_cache.h"
#include "runtime/vm.h"

/* An Array or a List whose items are all Int or Bool (tvm-ffi turns it into a Shape). */
static int is_int_sequence(const TVMFFIAny *v)
{
	if (!v->v_obj || (v->type_index != FFI_ARRAY && v->type_index != FFI_LIST))
		return 0;
	const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
	for (size_t i = 0; i < a->size; i++)
		if (a->items[i].type_index != FFI_INT && a->items[i].type_index != FFI_BOOL)
			return 0;
	return 1;
}

/* Borrowed bytes of a Bytes value, or NULL. */
static const char *bytes_of(const TVMFFIAny *v, size_t *len)
{
	switch (v->type_index) {
	case FFI_SMALL_BYTES:
		*len = v->zero_padding & 7;
		return v->v_bytes;
	case FFI_BYTES:
		*len = ((const ffi_bytes_t *)v->v_obj)->size;
		return ((const ffi_bytes_t *)v->v_obj)->data;
	case FFI_BYTE_ARRAY_PTR:
		*len = ((const TVMFFIByteArray *)v->v_ptr)->size;
		return ((const TVMFFIByteArray *)v->v_ptr)->data;
	default:
		return NULL;
	}
}

/* tvm-ffi's implicit conversions (an ffi_arg_convert_fn, ffi_typed.h): int narrowing, bytes as
 * std::string, a dtype string to DataType, an Array of ints to a Shape (a new object in
 * *temp). 1 if converted, 0 if not applicable, -1 on a bad dtype string. */
static int letter_convert(char letter, TVMFFIAny *v, TVMFFIObject **temp)
{
	if (letter == 'n' && (v->type_index == FFI_INT || v->type_index == FFI_BOOL)) {
		/* a C++ `int` parameter: tvm-ffi narrows the int64 without a range check */
		*v = ffi_any_int((int32_t)v->v_int64);
		return 1;
	}
	size_t len;
	const char *s = ffi_any_as_str(v, &len);
	const char *b = letter == 'B' ? bytes_of(v, &len) : NULL;
	if (b) {
		/* std::string parameters take bytes too */
		*temp = &ffi_str_new(b, len)->header;
		*v = ffi_any_object(*temp);
		return 1;
	}
	if (letter == 'd' && s) {
		DLDataType dt;
		if (vm_dtype_parse(s, len, &dt))
			return -1;
		*v = (TVMFFIAny){.type_index = FFI_DATATYPE, .v_dtype = dt};
		return 1;
	}
	if (letter == 'h' && is_int_sequence(v)) {
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		int64_t dims[64];
		if (a->size > 64)
			return 0;
		for (size_t i = 0; i < a->size; i++)
			dims[i] = a->items[i].v_int64;
		ffi_shape_t *shape = ffi_shape_new(dims, a->size);
		*temp = &shape->header;
		*v = ffi_any_object(*temp);
		return 1;
	}
	return 0;
}

/* A result goes back to the client as a handle that outlives this call: a view of a
 * borrowed argument (reshape of a DLTensor*, ...) becomes a copy, so freeing the argument's
 * memory later can never leave the client a dangling tensor. */
static int global_result_keep(TVMFFIAny *result)
{
	if (vm_value_keep(result) == 0)
		return 0;
	ffi_any_release(result);
	return -1;
}

static int global_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	const vm_builtin_entry_t *e = ((ffi_function_t *)self)->data;
	if (!e->sig)
		return e->call(self, args, n, result) || global_result_keep(result);
	TVMFFIAny conv[FFI_SIGNATURE_MAX_ARGS];
	TVMFFIObject *temps[FFI_SIGNATURE_MAX_ARGS] = {0};
	ffi_signature_t sig = {e->name, "", e->sig};
	int rc = ffi_signature_convert(&sig, args, n, letter_convert, conv, temps);
	if (rc == 0)
		rc = e->call(self, conv, n, result) || global_result_keep(result);
	for (int32_t i = 0; i < FFI_SIGNATURE_MAX_ARGS; i++)
		ffi_object_release(temps[i]);
	return rc ? -1 : 0;
}

/* vm.builtin.memory_manager.clear: frees what pooled allocators keep. This runtime pools
 * nothing (every storage is freed with its last reference), so there is nothing to free. */
static int memory_manager_clear(void *self, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	(void)self, (void)args, (void)n, (void)result;
	return 0;
}

static const vm_builtin_entry_t memory_globals[] = {
	{"vm.builtin.memory_manager.clear", memory_manager_clear, ""},
};

static void globals_register(const vm_builtin_entry_t *table, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		/* Other helpers of the VM's table (runtime.*) are registered by their own group. */
		if (strncmp(table[i].name, "vm.builtin.", 11) != 0)
			continue;
		ffi_registry_put(table[i].name, ffi_function_new(global_call, (void *)&table[i],
								 NULL, NULL));
	}
}

__attribute__((constructor)) static void vm_globals_register(void)
{
	size_t count;
	const vm_builtin_entry_t *table = vm_builtin_table(&count);
	globals_register(table, count);
	table = tensor_cache_table(&count);
	globals_register(table, count);
	globals_register(memory_globals, sizeof memory_globals / sizeof memory_globals[0]);
}

#define PY_REASON                                                                            \
	"Relax's Python functions live in the client's Python process; a C device server has " \
	"no Python to call back into"

FFI_REGISTER_REFUSED("vm.builtin.call_py_func", call_py_func, "RuntimeError", PY_REASON)
FFI_REGISTER_REFUSED("vm.builtin.register_py_func", register_py_func, "RuntimeError", PY_REASON)
FFI_REGISTER_REFUSED("vm.builtin.get_py_func", get_py_func, "RuntimeError", PY_REASON)
FFI_REGISTER_REFUSED("vm.builtin.clear_py_func_registry", clear_py_func_registry,
		     "RuntimeError", PY_REASON)
