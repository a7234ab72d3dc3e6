/* Argument checks of typed remote globals against their declared signature (ffi_typed.h), with
 * the messages tvm-ffi's typed functions raise: what each letter accepts and is called, the
 * count check, and the check loop shared by the ffi.* and vm.builtin.* globals. */
#include "runtime/ffi_typed.h"

#include <stdio.h>
#include <string.h>

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
	case 'l': return "ffi.List";
	case 'm': return "ffi.Map";
	case 'D': return "ffi.Dict";
	case 'Y': return "List<Any>";
	case 'K': return "Dict<Any, Any>";
	default: return "Any";
	}
}

static int is_str(const TVMFFIAny *v)
{
	return ffi_any_as_str(v, NULL) != NULL;
}

static int is_int(const TVMFFIAny *v)
{
	return v->type_index == FFI_INT || v->type_index == FFI_BOOL;
}

static int object_of(const TVMFFIAny *v, int32_t a, int32_t b)
{
	return v->v_obj && (v->type_index == a || v->type_index == b);
}

/* An Array or a List (same layout), each item passing ok. */
static int sequence_of(const TVMFFIAny *v, int (*ok)(const TVMFFIAny *))
{
	if (!object_of(v, FFI_ARRAY, FFI_LIST))
		return 0;
	const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
	for (size_t i = 0; ok && i < a->size; i++)
		if (!ok(&a->items[i]))
			return 0;
	return 1;
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
	case 'h': return object_of(v, FFI_SHAPE, FFI_SHAPE);
	case 'd': return t == FFI_DATATYPE;
	case 't': return object_of(v, FFI_TENSOR, FFI_TENSOR);
	case 'T': return ffi_any_as_dltensor(v) != NULL;
	case 'c': return is_int(v) || object_of(v, FFI_TENSOR, FFI_TENSOR);
	case 'a': return sequence_of(v, NULL);
	case 'r': return object_of(v, FFI_ARRAY, FFI_ARRAY);
	case 'L': return sequence_of(v, is_str);
	case 'l': return object_of(v, FFI_LIST, FFI_LIST);
	case 'm': return object_of(v, FFI_MAP, FFI_MAP);
	case 'D': return object_of(v, FFI_DICT, FFI_DICT);
	case 'Y': return object_of(v, FFI_LIST, FFI_ARRAY);
	case 'K': return object_of(v, FFI_DICT, FFI_MAP);
	default: return 1;
	}
}

int ffi_arg_count_range(const char *sig, int32_t n, int32_t min, int32_t max)
{
	if (n >= min && n <= max)
		return 0;
	char want[32];
	snprintf(want, sizeof want, min == max ? "%d" : "%d to %d", min, max);
	ffi_error_set("TypeError", "Mismatched number of arguments when calling: `%s`. Expected %s "
		      "but got %d arguments", sig, want, n);
	return -1;
}

int ffi_arg_count(const char *sig, int32_t n, int32_t want)
{
	return ffi_arg_count_range(sig, n, want, want);
}

int ffi_signature_convert(const ffi_signature_t *sig, const TVMFFIAny *args, int32_t n,
			  ffi_arg_convert_fn convert, TVMFFIAny *conv, TVMFFIObject **temps)
{
	char full[512];
	snprintf(full, sizeof full, "%s%s", sig->name, sig->text ? sig->text : "");
	const char *bar = strchr(sig->args, '|');
	int32_t max = (int32_t)strlen(sig->args) - (bar ? 1 : 0);
	int32_t min = bar ? (int32_t)(bar - sig->args) : max;
	if (ffi_arg_count_range(full, n, min, max))
		return -1;
	const char *letter = sig->args;
	for (int32_t i = 0; i < n; i++, letter++) {
		if (*letter == '|')
			letter++;
		if (conv)
			conv[i] = args[i];
		if (letter_accepts(*letter, &args[i]))
			continue;
		int rc = convert ? convert(*letter, &conv[i], &temps[i]) : 0;
		if (rc < 0)
			return -1;
		if (rc == 0) {
			ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. "
				      "Expected `%s` but got `%s`", i, full,
				      letter_type_name(*letter), ffi_type_key(args[i].type_index));
			return -1;
		}
	}
	return 0;
}

int ffi_signature_check(const ffi_signature_t *sig, const TVMFFIAny *args, int32_t n)
{
	return ffi_signature_convert(sig, args, n, NULL, NULL, NULL);
}
