/* The vm.builtin.* globals remote clients call: the builtins of vm_builtins.c and the tensor
 * cache of tensor_cache.c, registered once each behind a check of TVM's typed signature
 * (argument count and types, with tvm-ffi's conversions: dtype strings, Arrays and Lists of
 * ints as Shapes, bytes as std::string, int narrowing), plus vm.builtin.memory_manager.clear
 * and the refused Python-function registry. */
#include <stdio.h>
#include <string.h>

#include "runtime/tensor_cache.h"
#include "runtime/vm.h"

#define SIG_MAX_ARGS 8

static const char *value_type_name(const TVMFFIAny *v)
{
	switch (v->type_index) {
	case FFI_NONE: return "None";
	case FFI_INT: return "int";
	case FFI_BOOL: return "bool";
	case FFI_FLOAT: return "float";
	case FFI_OPAQUE_PTR: return "void*";
	case FFI_DATATYPE: return "DataType";
	case FFI_DEVICE: return "Device";
	case FFI_DLTENSOR_PTR: return "DLTensor*";
	case FFI_RAW_STR: case FFI_SMALL_STR: case FFI_STR: return "str";
	case FFI_BYTE_ARRAY_PTR: case FFI_SMALL_BYTES: case FFI_BYTES: return "bytes";
	case FFI_FUNCTION: return "ffi.Function";
	case FFI_SHAPE: return "ffi.Shape";
	case FFI_TENSOR: return "ffi.Tensor";
	case FFI_ARRAY: return "ffi.Array";
	case FFI_MAP: return "ffi.Map";
	case FFI_LIST: return "ffi.List";
	case FFI_DICT: return "ffi.Dict";
	case FFI_MODULE: return "ffi.Module";
	case FFI_VM_STORAGE: return "vm.Storage";
	case FFI_VM_CLOSURE: return "relax.vm.Closure";
	default: return "ffi.Object";
	}
}

static const char *letter_type_name(char letter)
{
	switch (letter) {
	case 'p': return "void*";
	case 'i': case 'n': return "int";
	case 'b': return "bool";
	case 's': case 'B': return "str";
	case 'S': return "Optional<str>";
	case 'o': return "ffi.Object";
	case 'h': return "ffi.Shape";
	case 'd': return "DataType";
	case 't': case 'c': return "ffi.Tensor";
	case 'T': return "DLTensor*";
	case 'a': return "Array<Any>";
	case 'r': return "ffi.Array";
	case 'L': return "Array<str>";
	default: return "Any";
	}
}

static int is_str(const TVMFFIAny *v)
{
	return ffi_any_as_str(v, NULL) != NULL;
}

static int is_object(const TVMFFIAny *v, int32_t type_index)
{
	return v->type_index == type_index && v->v_obj;
}

/* An Array, or a List (same layout), where tvm-ffi converts a List to an Array. */
static int is_sequence(const TVMFFIAny *v)
{
	return is_object(v, FFI_ARRAY) || is_object(v, FFI_LIST);
}

static int all_items(const TVMFFIAny *v, int (*ok)(const TVMFFIAny *))
{
	const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
	for (size_t i = 0; i < a->size; i++)
		if (!ok(&a->items[i]))
			return 0;
	return 1;
}

static int is_int(const TVMFFIAny *v)
{
	return v->type_index == FFI_INT || v->type_index == FFI_BOOL;
}

/* Does v fit the letter as it is (no conversion)? */
static int letter_accepts(char letter, const TVMFFIAny *v)
{
	int t = v->type_index;
	switch (letter) {
	case 'p': return t == FFI_OPAQUE_PTR || t == FFI_NONE;
	case 'i': case 'b': return is_int(v);
	case 'n': return is_int(v) && v->v_int64 == (int32_t)v->v_int64;
	case 's': case 'B': return is_str(v);
	case 'S': return is_str(v) || t == FFI_NONE;
	case 'o': return ffi_any_is_object(v) || is_str(v) || t == FFI_NONE;
	case 'h': return is_object(v, FFI_SHAPE);
	case 'd': return t == FFI_DATATYPE;
	case 't': return is_object(v, FFI_TENSOR);
	case 'T': return ffi_any_as_dltensor(v) != NULL;
	case 'c': return is_int(v) || is_object(v, FFI_TENSOR);
	case 'a': return is_sequence(v);
	case 'r': return is_object(v, FFI_ARRAY);
	case 'L': return is_sequence(v) && all_items(v, is_str);
	default: return 1;
	}
}

/* tvm-ffi's implicit conversions: a dtype string to DataType, an Array of ints to a Shape
 * (a new object in *temp). 1 if converted, 0 if not applicable, -1 on a bad dtype string. */
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

static int letter_convert(char letter, TVMFFIAny *v, TVMFFIObject **temp)
{
	if (letter == 'n' && is_int(v)) {
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
	if (letter == 'h' && is_sequence(v) && all_items(v, is_int)) {
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

static void sig_arity(const char *sig, int32_t *min, int32_t *max)
{
	const char *bar = strchr(sig, '|');
	*min = (int32_t)(bar ? (size_t)(bar - sig) : strlen(sig));
	*max = (int32_t)strlen(sig) - (bar ? 1 : 0);
}

/* Check args against e->sig into conv (converted copies; temporaries in temps). */
static int sig_check(const vm_builtin_entry_t *e, const TVMFFIAny *args, int32_t n,
		     TVMFFIAny *conv, TVMFFIObject **temps)
{
	int32_t min, max;
	sig_arity(e->sig, &min, &max);
	if (n < min || n > max) {
		char want[32];
		snprintf(want, sizeof want, min == max ? "%d" : "%d to %d", min, max);
		ffi_error_set("TypeError", "Mismatched number of arguments when calling: `%s`. "
			      "Expected %s but got %d arguments", e->name, want, n);
		return -1;
	}
	const char *letters = e->sig;
	for (int32_t i = 0; i < n; i++, letters++) {
		if (*letters == '|')
			letters++;
		conv[i] = args[i];
		if (letter_accepts(*letters, &conv[i]))
			continue;
		int rc = letter_convert(*letters, &conv[i], &temps[i]);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. "
				      "Expected `%s` but got `%s`", i, e->name,
				      letter_type_name(*letters), value_type_name(&args[i]));
			return -1;
		}
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
	TVMFFIAny conv[SIG_MAX_ARGS];
	TVMFFIObject *temps[SIG_MAX_ARGS] = {0};
	int rc = sig_check(e, args, n, conv, temps);
	if (rc == 0)
		rc = e->call(self, conv, n, result) || global_result_keep(result);
	for (int32_t i = 0; i < SIG_MAX_ARGS; i++)
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
