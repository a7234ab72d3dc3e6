/* The Map and Dict globals of tvm-ffi's container.cc (ffi.Map*, ffi.Dict*), including the
 * forward iterator functions the Python client walks maps with. They behave as TVM's: same
 * results, same error kinds. The map itself is in ffi_containers.c. */
#include <stdlib.h>

#include "runtime/ffi.h"
#include "runtime/ffi_typed.h"
#include "base/xalloc.h"

/* ---- construction ---- */

/* ffi.Map(k0, v0, k1, v1, ...) and ffi.Dict(...): later pairs replace earlier equal keys. */
static int map_from_pairs(const char *name, int32_t type_index, const TVMFFIAny *args,
			  int32_t n, TVMFFIAny *result)
{
	if (n % 2 != 0) {
		ffi_error_set("InternalError",
			      "Check failed: args.size() %% 2 == 0 (%d vs. 0) : %s takes key, value "
			      "pairs, got %d arguments",
			      n % 2, name, n);
		return -1;
	}
	ffi_map_t *m = ffi_map_new(type_index);
	for (int32_t i = 0; i < n; i += 2) {
		TVMFFIAny key, value;
		if (ffi_any_to_owned(&args[i], &key))
			goto fail;
		if (ffi_any_to_owned(&args[i + 1], &value)) {
			ffi_any_release(&key);
			goto fail;
		}
		if (ffi_map_set(m, key, value))
			goto fail;
	}
	*result = ffi_any_object(ffi_map_object(m));
	return 0;
fail:
	ffi_object_release(ffi_map_object(m));
	return -1;
}

static int global_map(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return map_from_pairs("ffi.Map", FFI_MAP, args, n, result);
}
FFI_REGISTER_GLOBAL("ffi.Map", global_map)

static int global_dict(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	return map_from_pairs("ffi.Dict", FFI_DICT, args, n, result);
}
FFI_REGISTER_GLOBAL("ffi.Dict", global_dict)

/* ---- reads, shared by Map and Dict ---- */

static int map_size(const TVMFFIAny *args, TVMFFIAny *result)
{
	*result = ffi_any_int((int64_t)ffi_map_size((const ffi_map_t *)args[0].v_obj));
	return 0;
}

static int map_get_item(const TVMFFIAny *args, TVMFFIAny *result)
{
	const TVMFFIAny *value = ffi_map_get((const ffi_map_t *)args[0].v_obj, &args[1]);
	if (!value) {
		ffi_error_set("KeyError", "key is not in Map");
		return -1;
	}
	*result = *value;
	ffi_any_retain(result);
	return 0;
}

static int map_count(const TVMFFIAny *args, TVMFFIAny *result)
{
	*result = ffi_any_int(ffi_map_get((const ffi_map_t *)args[0].v_obj, &args[1]) != NULL);
	return 0;
}

static int map_get_item_or_missing(const TVMFFIAny *args, TVMFFIAny *result)
{
	const TVMFFIAny *value = ffi_map_get((const ffi_map_t *)args[0].v_obj, &args[1]);
	if (!value) {
		*result = ffi_any_object(ffi_missing_object());
		return 0;
	}
	*result = *value;
	ffi_any_retain(result);
	return 0;
}

/* ---- the forward iterator ----
 * A function of one int command: 0 answers the current key, 1 the current value, anything else
 * steps forward and answers whether an entry is left. It starts at the first entry and keeps
 * the map alive. TVM leaves commands 0 and 1 past the end undefined; ours raise IndexError,
 * and a Dict changed under the iterator is walked from the same position without harm. */

struct map_iter {
	ffi_map_t *map;
	size_t pos; /* ffi_map_next position of the current entry */
};

static void map_iter_free(void *data)
{
	struct map_iter *it = data;
	ffi_object_release(ffi_map_object(it->map));
	free(it);
}

static const ffi_signature_t sig_iter_call = {"", "(0: int) -> Any", "i"};

static int map_iter_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	struct map_iter *it = ((ffi_function_t *)self)->data;
	if (ffi_signature_check(&sig_iter_call, args, n))
		return -1;
	int command = (int)(int32_t)args[0].v_int64; /* the C++ functor takes an int */
	size_t next = it->pos;
	const TVMFFIAny *key, *value;
	int here = ffi_map_next(it->map, &next, &key, &value);
	if (command == 0 || command == 1) {
		if (!here) {
			ffi_error_set("IndexError", "the map iterator is past the last entry");
			return -1;
		}
		*result = command == 0 ? *key : *value;
		ffi_any_retain(result);
		return 0;
	}
	if (here)
		it->pos = next;
	next = it->pos;
	*result = ffi_any_bool(here && ffi_map_next(it->map, &next, &key, &value));
	return 0;
}

static int map_iter_new(const TVMFFIAny *args, TVMFFIAny *result)
{
	struct map_iter *it = xmalloc(sizeof *it);
	it->map = (ffi_map_t *)args[0].v_obj;
	it->pos = 0;
	ffi_object_retain(ffi_map_object(it->map));
	ffi_function_t *fn = ffi_function_new(map_iter_call, it, map_iter_free, NULL);
	*result = ffi_any_object(&fn->header);
	return 0;
}

/* ---- Dict changes in place ----
 * Each takes a Dict<Any, Any>: given a Map, it works on a new Dict copied from it, which the
 * caller never sees (tvm-ffi converts the argument the same way). */

static int dict_param(const TVMFFIAny *arg, ffi_map_t **dict, ffi_map_t **temp)
{
	ffi_map_t *m = (ffi_map_t *)arg->v_obj;
	*temp = NULL;
	if (arg->type_index == FFI_DICT) {
		*dict = m;
		return 0;
	}
	ffi_map_t *copy = ffi_map_new(FFI_DICT);
	size_t pos = 0;
	const TVMFFIAny *key, *value;
	while (ffi_map_next(m, &pos, &key, &value)) {
		TVMFFIAny k = *key, v = *value;
		ffi_any_retain(&k);
		ffi_any_retain(&v);
		if (ffi_map_set(copy, k, v)) {
			ffi_object_release(ffi_map_object(copy));
			return -1;
		}
	}
	*dict = *temp = copy;
	return 0;
}

typedef int (*dict_op_t)(ffi_map_t *d, const TVMFFIAny *args);

static int dict_apply(const ffi_signature_t *sig, dict_op_t op, const TVMFFIAny *args,
		      int32_t n)
{
	ffi_map_t *d, *temp;
	if (ffi_signature_check(sig, args, n) || dict_param(&args[0], &d, &temp))
		return -1;
	int rc = op(d, args);
	if (temp)
		ffi_object_release(ffi_map_object(temp));
	return rc;
}

static int dict_set_item(ffi_map_t *d, const TVMFFIAny *args)
{
	TVMFFIAny key, value;
	if (ffi_any_to_owned(&args[1], &key))
		return -1;
	if (ffi_any_to_owned(&args[2], &value)) {
		ffi_any_release(&key);
		return -1;
	}
	return ffi_map_set(d, key, value);
}

static int dict_erase(ffi_map_t *d, const TVMFFIAny *args)
{
	ffi_map_erase(d, &args[1]);
	return 0;
}

static int dict_clear(ffi_map_t *d, const TVMFFIAny *args)
{
	(void)args;
	ffi_map_clear(d);
	return 0;
}

/* ---- the globals ---- */

#define DICT_WRITE_GLOBAL(id, name, op, text, ...)                                           \
	static const ffi_signature_t sig_##id = {name, text, __VA_ARGS__};                   \
	static int global_##id(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv) \
	{                                                                                    \
		(void)self;                                                                  \
		(void)rv;                                                                    \
		return dict_apply(&sig_##id, op, args, n);                                  \
	}                                                                                    \
	FFI_REGISTER_GLOBAL(name, global_##id)

FFI_TYPED_GLOBAL(map_size, "ffi.MapSize", map_size, "(0: ffi.Map) -> int", "m")
FFI_TYPED_GLOBAL(map_get_item, "ffi.MapGetItem", map_get_item, "(0: ffi.Map, 1: Any) -> Any", "mA")
FFI_TYPED_GLOBAL(map_count, "ffi.MapCount", map_count, "(0: ffi.Map, 1: Any) -> int", "mA")
FFI_TYPED_GLOBAL(map_get_item_or_missing, "ffi.MapGetItemOrMissing", map_get_item_or_missing,
		"(0: ffi.Map, 1: Any) -> Any", "mA")
FFI_TYPED_GLOBAL(map_iter, "ffi.MapForwardIterFunctor", map_iter_new,
		"(0: ffi.Map) -> ffi.Function", "m")

FFI_TYPED_GLOBAL(dict_size, "ffi.DictSize", map_size, "(0: ffi.Dict) -> int", "D")
FFI_TYPED_GLOBAL(dict_get_item, "ffi.DictGetItem", map_get_item, "(0: ffi.Dict, 1: Any) -> Any",
		"DA")
FFI_TYPED_GLOBAL(dict_count, "ffi.DictCount", map_count, "(0: ffi.Dict, 1: Any) -> int", "DA")
FFI_TYPED_GLOBAL(dict_get_item_or_missing, "ffi.DictGetItemOrMissing", map_get_item_or_missing,
		"(0: ffi.Dict, 1: Any) -> Any", "DA")
FFI_TYPED_GLOBAL(dict_iter, "ffi.DictForwardIterFunctor", map_iter_new,
		"(0: ffi.Dict) -> ffi.Function", "D")

DICT_WRITE_GLOBAL(dict_set_item, "ffi.DictSetItem", dict_set_item,
		  "(0: Dict<Any, Any>, 1: Any, 2: Any) -> void", "KAA")
DICT_WRITE_GLOBAL(dict_erase, "ffi.DictErase", dict_erase, "(0: Dict<Any, Any>, 1: Any) -> void",
		  "KA")
DICT_WRITE_GLOBAL(dict_clear, "ffi.DictClear", dict_clear, "(0: Dict<Any, Any>) -> void", "K")
