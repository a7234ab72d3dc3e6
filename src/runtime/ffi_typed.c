/* Argument checks of typed remote globals against their declared signature (ffi_typed.h), with
 * the messages tvm-ffi's typed functions raise. */
#include "runtime/ffi_typed.h"

static const char *kind_name(ffi_arg_kind_t kind)
{
	switch (kind) {
	case FFI_ARG_INT: return "int";
	case FFI_ARG_ARRAY: return "ffi.Array";
	case FFI_ARG_LIST: return "ffi.List";
	case FFI_ARG_MAP: return "ffi.Map";
	case FFI_ARG_DICT: return "ffi.Dict";
	case FFI_ARG_LIST_ANY: return "List<Any>";
	case FFI_ARG_DICT_ANY: return "Dict<Any, Any>";
	default: return "Any";
	}
}

static int object_of(const TVMFFIAny *v, int32_t a, int32_t b)
{
	return v->v_obj && (v->type_index == a || v->type_index == b);
}

static int kind_accepts(ffi_arg_kind_t kind, const TVMFFIAny *v)
{
	switch (kind) {
	case FFI_ARG_ANY: return 1;
	case FFI_ARG_INT: return v->type_index == FFI_INT || v->type_index == FFI_BOOL;
	case FFI_ARG_ARRAY: return object_of(v, FFI_ARRAY, FFI_ARRAY);
	case FFI_ARG_LIST: return object_of(v, FFI_LIST, FFI_LIST);
	case FFI_ARG_MAP: return object_of(v, FFI_MAP, FFI_MAP);
	case FFI_ARG_DICT: return object_of(v, FFI_DICT, FFI_DICT);
	case FFI_ARG_LIST_ANY: return object_of(v, FFI_LIST, FFI_ARRAY);
	case FFI_ARG_DICT_ANY: return object_of(v, FFI_DICT, FFI_MAP);
	}
	return 0;
}

int ffi_signature_check(const ffi_signature_t *sig, const TVMFFIAny *args, int32_t n)
{
	if (n != sig->num_args) {
		ffi_error_set("TypeError",
			      "Mismatched number of arguments when calling: `%s%s`. Expected %d but "
			      "got %d arguments",
			      sig->name, sig->text, sig->num_args, n);
		return -1;
	}
	for (int32_t i = 0; i < n && i < FFI_SIGNATURE_MAX_ARGS; i++) {
		if (kind_accepts(sig->kinds[i], &args[i]))
			continue;
		ffi_error_set("TypeError",
			      "Mismatched type on argument #%d when calling: `%s%s`. Expected `%s` "
			      "but got `%s`",
			      i, sig->name, sig->text, kind_name(sig->kinds[i]),
			      ffi_type_key(args[i].type_index));
		return -1;
	}
	return 0;
}
