/* The sequence globals of tvm-ffi's container.cc (ffi.Array*, ffi.List*), ffi.Shape,
 * ffi.ContainerFindFirstNonCPUDevice and the type-table globals of object.cc. They behave as
 * TVM's: same results, same error kinds. Map and Dict globals are in ffi_globals_maps.c. */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/ffi_typed.h"

/* ---- sequences: storage helpers ---- */

/* Room for `extra` more items (bounded by FFI_CONTAINER_MAX_SIZE). */
static int seq_reserve(ffi_array_t *a, size_t extra)
{
	if (extra > FFI_CONTAINER_MAX_SIZE || a->size > FFI_CONTAINER_MAX_SIZE - extra) {
		ffi_error_set("MemoryError", "a list holds at most %d items", FFI_CONTAINER_MAX_SIZE);
		return -1;
	}
	size_t need = a->size + extra;
	if (need <= a->capacity)
		return 0;
	size_t cap = a->capacity ? a->capacity * 2 : 4;
	if (cap < need)
		cap = need;
	TVMFFIAny *items = realloc(a->items, cap * sizeof *items);
	if (!items) {
		ffi_error_set("MemoryError", "cannot grow a list to %zu items", cap);
		return -1;
	}
	a->items = items;
	a->capacity = cap;
	return 0;
}

/* A new sequence of the given type holding owned copies of values[0 .. n). */
static int seq_from_values(int32_t type_index, const TVMFFIAny *values, size_t n,
			   ffi_array_t **out)
{
	ffi_array_t *a = type_index == FFI_LIST ? ffi_list_new() : ffi_array_new();
	if (seq_reserve(a, n))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (ffi_any_to_owned(&values[i], &a->items[i]))
			goto fail;
		a->size++;
	}
	*out = a;
	return 0;
fail:
	ffi_object_release(&a->header);
	return -1;
}

/* Insert owned copies of values[0 .. n) at position `at` (0 <= at <= size). */
static int seq_insert(ffi_array_t *a, size_t at, const TVMFFIAny *values, size_t n)
{
	if (seq_reserve(a, n))
		return -1;
	TVMFFIAny *copies = malloc((n ? n : 1) * sizeof *copies);
	if (!copies) {
		ffi_error_set("MemoryError", "cannot copy %zu items", n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ffi_any_to_owned(&values[i], &copies[i])) {
			while (i > 0)
				ffi_any_release(&copies[--i]);
			free(copies);
			return -1;
		}
	}
	memmove(a->items + at + n, a->items + at, (a->size - at) * sizeof *a->items);
	memcpy(a->items + at, copies, n * sizeof *copies);
	a->size += n;
	free(copies);
	return 0;
}

/* Remove items [first, last), which the caller has checked. */
static void seq_erase(ffi_array_t *a, size_t first, size_t last)
{
	size_t n = last - first;
	TVMFFIAny *gone = malloc((n ? n : 1) * sizeof *gone);
	if (gone)
		memcpy(gone, a->items + first, n * sizeof *gone);
	else
		for (size_t i = first; i < last; i++)
			ffi_any_release(&a->items[i]);
	memmove(a->items + first, a->items + last, (a->size - last) * sizeof *a->items);
	a->size -= n;
	/* Released once the list is consistent again: a deleter may look at it. */
	for (size_t i = 0; gone && i < n; i++)
		ffi_any_release(&gone[i]);
	free(gone);
}

static void seq_clear(ffi_array_t *a)
{
	if (a->size)
		seq_erase(a, 0, a->size);
}

static int seq_index_check(const ffi_array_t *a, int64_t i)
{
	if (i >= 0 && (uint64_t)i < a->size)
		return 0;
	ffi_error_set("IndexError", "Index %lld out of bounds %zu", (long long)i, a->size);
	return -1;
}

static int seq_contains(const ffi_array_t *a, const TVMFFIAny *value)
{
	for (size_t i = 0; i < a->size; i++)
		if (ffi_any_equal(&a->items[i], value))
			return 1;
	return 0;
}

/* The List a List<Any> parameter names: the List itself, or (for an Array) a new List with the
 * Array's items, as tvm-ffi converts it; *temp holds that copy for the caller to release. */
static int list_param(const TVMFFIAny *arg, ffi_array_t **list, ffi_array_t **temp)
{
	ffi_array_t *a = (ffi_array_t *)arg->v_obj;
	*temp = NULL;
	if (arg->type_index == FFI_LIST) {
		*list = a;
		return 0;
	}
	if (seq_from_values(FFI_LIST, a->items, a->size, temp))
		return -1;
	*list = *temp;
	return 0;
}

/* ---- ffi.Array ---- */

static int global_array(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	ffi_array_t *a;
	if (seq_from_values(FFI_ARRAY, args, (size_t)n, &a))
		return -1;
	*result = ffi_any_object(&a->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Array", global_array)

/* ---- ffi.List ---- */

static int global_list(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	ffi_array_t *l;
	if (seq_from_values(FFI_LIST, args, (size_t)n, &l))
		return -1;
	*result = ffi_any_object(&l->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.List", global_list)

/* ---- reads, shared by Array and List (one layout) ---- */

static int seq_get_item(const TVMFFIAny *args, TVMFFIAny *result)
{
	ffi_array_t *a = (ffi_array_t *)args[0].v_obj;
	if (seq_index_check(a, args[1].v_int64))
		return -1;
	*result = a->items[args[1].v_int64];
	ffi_any_retain(result);
	return 0;
}

static int seq_size(const TVMFFIAny *args, TVMFFIAny *result)
{
	*result = ffi_any_int((int64_t)((ffi_array_t *)args[0].v_obj)->size);
	return 0;
}

static int seq_contains_global(const TVMFFIAny *args, TVMFFIAny *result)
{
	*result = ffi_any_bool(seq_contains((ffi_array_t *)args[0].v_obj, &args[1]));
	return 0;
}

FFI_TYPED_GLOBAL(array_get_item, "ffi.ArrayGetItem", seq_get_item,
		"(0: ffi.Array, 1: int) -> Any", "ri")
FFI_TYPED_GLOBAL(array_size, "ffi.ArraySize", seq_size, "(0: ffi.Array) -> int", "r")
FFI_TYPED_GLOBAL(array_contains, "ffi.ArrayContains", seq_contains_global,
		"(0: ffi.Array, 1: Any) -> bool", "rA")
FFI_TYPED_GLOBAL(list_get_item, "ffi.ListGetItem", seq_get_item, "(0: ffi.List, 1: int) -> Any",
		"li")
FFI_TYPED_GLOBAL(list_size, "ffi.ListSize", seq_size, "(0: ffi.List) -> int", "l")
FFI_TYPED_GLOBAL(list_contains, "ffi.ListContains", seq_contains_global,
		"(0: ffi.List, 1: Any) -> bool", "lA")

/* ---- ffi.List: changes in place ----
 * Each takes a List<Any>: given an Array, it works on a new List copied from it, which the
 * caller never sees (tvm-ffi converts the argument the same way), so only errors and
 * ListPop's result show. */

typedef int (*list_op_t)(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result);

static int list_apply(const ffi_signature_t *sig, list_op_t op, const TVMFFIAny *args,
		      int32_t n, TVMFFIAny *result)
{
	ffi_array_t *l, *temp;
	if (ffi_signature_check(sig, args, n) || list_param(&args[0], &l, &temp))
		return -1;
	int rc = op(l, args, result);
	if (temp)
		ffi_object_release(&temp->header);
	return rc;
}

#define LIST_GLOBAL(fn, name, text, ...)                                                     \
	static const ffi_signature_t sig_##fn = {name, text, __VA_ARGS__};                   \
	static int global_##fn(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv) \
	{                                                                                    \
		(void)self;                                                                  \
		return list_apply(&sig_##fn, fn, args, n, rv);                              \
	}                                                                                    \
	FFI_REGISTER_GLOBAL(name, global_##fn)

static int list_set_item(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)result;
	TVMFFIAny value;
	if (seq_index_check(l, args[1].v_int64) || ffi_any_to_owned(&args[2], &value))
		return -1;
	TVMFFIAny old = l->items[args[1].v_int64];
	l->items[args[1].v_int64] = value;
	ffi_any_release(&old);
	return 0;
}
LIST_GLOBAL(list_set_item, "ffi.ListSetItem", "(0: List<Any>, 1: int, 2: Any) -> void", "YiA")

static int list_append(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)result;
	return seq_insert(l, l->size, &args[1], 1);
}
LIST_GLOBAL(list_append, "ffi.ListAppend", "(0: List<Any>, 1: Any) -> void", "YA")

static int insert_position_check(const ffi_array_t *l, int64_t at)
{
	if (at >= 0 && (uint64_t)at <= l->size)
		return 0;
	ffi_error_set("IndexError", "Index %lld out of bounds [0, %zu]", (long long)at, l->size);
	return -1;
}

static int list_insert(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)result;
	if (insert_position_check(l, args[1].v_int64))
		return -1;
	return seq_insert(l, (size_t)args[1].v_int64, &args[2], 1);
}
LIST_GLOBAL(list_insert, "ffi.ListInsert", "(0: List<Any>, 1: int, 2: Any) -> void", "YiA")

static int list_pop(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	int64_t i = args[1].v_int64;
	if (seq_index_check(l, i))
		return -1;
	*result = l->items[i];
	ffi_any_retain(result);
	seq_erase(l, (size_t)i, (size_t)i + 1);
	return 0;
}
LIST_GLOBAL(list_pop, "ffi.ListPop", "(0: List<Any>, 1: int) -> Any", "Yi")

static int list_erase(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)result;
	int64_t i = args[1].v_int64;
	if (seq_index_check(l, i))
		return -1;
	seq_erase(l, (size_t)i, (size_t)i + 1);
	return 0;
}
LIST_GLOBAL(list_erase, "ffi.ListErase", "(0: List<Any>, 1: int) -> void", "Yi")

/* [first, last) must lie in the list and not be reversed; an empty range is accepted
 * anywhere (tvm-ffi returns before checking it). */
static int erase_range(ffi_array_t *l, int64_t first, int64_t last)
{
	if (first == last)
		return 0;
	if (first < 0 || first >= last || (uint64_t)last > l->size) {
		ffi_error_set("IndexError", "Erase range [%lld, %lld) out of bounds %zu",
			      (long long)first, (long long)last, l->size);
		return -1;
	}
	seq_erase(l, (size_t)first, (size_t)last);
	return 0;
}

static int list_erase_range(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)result;
	return erase_range(l, args[1].v_int64, args[2].v_int64);
}
LIST_GLOBAL(list_erase_range, "ffi.ListEraseRange", "(0: List<Any>, 1: int, 2: int) -> void",
	    "Yii")

/* Erase [start, stop), then insert the replacement's items at start, as tvm-ffi does: the
 * erase stays done when the insert position turns out to be out of range. */
static int list_replace_slice(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)result;
	ffi_array_t *rep;
	int rc = -1;
	/* A snapshot: the replacement may be the list itself, or an Array to copy anyway. */
	if (seq_from_values(FFI_LIST, ((ffi_array_t *)args[3].v_obj)->items,
			    ((ffi_array_t *)args[3].v_obj)->size, &rep))
		return -1;
	int64_t start = args[1].v_int64;
	if (erase_range(l, start, args[2].v_int64))
		goto out;
	if (rep->size && (insert_position_check(l, start) ||
			  seq_insert(l, (size_t)start, rep->items, rep->size)))
		goto out;
	rc = 0;
out:
	ffi_object_release(&rep->header);
	return rc;
}
LIST_GLOBAL(list_replace_slice, "ffi.ListReplaceSlice",
	    "(0: List<Any>, 1: int, 2: int, 3: List<Any>) -> void", "YiiY")

static int list_reverse(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)args;
	(void)result;
	for (size_t i = 0, j = l->size; i + 1 < j; i++, j--) {
		TVMFFIAny t = l->items[i];
		l->items[i] = l->items[j - 1];
		l->items[j - 1] = t;
	}
	return 0;
}
LIST_GLOBAL(list_reverse, "ffi.ListReverse", "(0: List<Any>) -> void", "Y")

static int list_clear(ffi_array_t *l, const TVMFFIAny *args, TVMFFIAny *result)
{
	(void)args;
	(void)result;
	seq_clear(l);
	return 0;
}
LIST_GLOBAL(list_clear, "ffi.ListClear", "(0: List<Any>) -> void", "Y")

/* ---- ffi.Shape ---- */

static int global_shape(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	int64_t *dims = malloc((n > 0 ? (size_t)n : 1) * sizeof *dims);
	if (!dims) {
		ffi_error_set("MemoryError", "cannot allocate a shape of %d dims", n);
		return -1;
	}
	for (int32_t i = 0; i < n; i++) {
		if (args[i].type_index != FFI_INT && args[i].type_index != FFI_BOOL) {
			free(dims);
			ffi_error_set("ValueError", "Expect shape to take list of int arguments");
			return -1;
		}
		dims[i] = args[i].v_int64;
	}
	*result = ffi_any_object(&ffi_shape_new(dims, (size_t)n)->header);
	free(dims);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Shape", global_shape)

/* ---- ffi.ContainerFindFirstNonCPUDevice ---- */

/* Containers may hold themselves (TVM's walk never ends then): ours visits at most this many
 * values and descends at most this many levels. */
#define DEVICE_WALK_BUDGET 1000000
#define DEVICE_WALK_DEPTH 1000

struct device_walk {
	long budget;
	DLDevice found;
};

/* 1 found, 0 not found, -1 too deep or too long (error set). */
static int device_walk(struct device_walk *w, const TVMFFIAny *v, int depth)
{
	if (--w->budget < 0 || depth > DEVICE_WALK_DEPTH) {
		ffi_error_set("RuntimeError",
			      "ffi.ContainerFindFirstNonCPUDevice: the container is nested too "
			      "deeply or contains itself");
		return -1;
	}
	if (!ffi_any_is_object(v))
		return 0;
	if (v->type_index == FFI_TENSOR) {
		DLDevice d = ((ffi_tensor_t *)v->v_obj)->dl.device;
		if (d.device_type == kDLCPU)
			return 0;
		w->found = d;
		return 1;
	}
	if (v->type_index == FFI_ARRAY || v->type_index == FFI_LIST) {
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		for (size_t i = 0; i < a->size; i++) {
			int rc = device_walk(w, &a->items[i], depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (v->type_index == FFI_MAP || v->type_index == FFI_DICT) {
		size_t pos = 0;
		const TVMFFIAny *key, *value;
		while (ffi_map_next((const ffi_map_t *)v->v_obj, &pos, &key, &value)) {
			int rc = device_walk(w, value, depth + 1);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static const ffi_signature_t sig_find_device = {
	"ffi.ContainerFindFirstNonCPUDevice", "(0: Any) -> Device", "A"};

static int global_find_device(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_signature_check(&sig_find_device, args, n))
		return -1;
	struct device_walk w = {DEVICE_WALK_BUDGET, {kDLCPU, 0}};
	if (device_walk(&w, &args[0], 0) < 0)
		return -1;
	result->type_index = FFI_DEVICE;
	result->v_uint64 = 0;
	result->v_device = w.found;
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ContainerFindFirstNonCPUDevice", global_find_device)

/* ---- the type table's globals (object.cc) ---- */

static const ffi_signature_t sig_type_keys = {
	"ffi.GetRegisteredTypeKeys", "() -> Array<str>", ""};

static int global_type_keys(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_signature_check(&sig_type_keys, args, n))
		return -1;
	*result = ffi_any_object(&ffi_registered_type_keys()->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.GetRegisteredTypeKeys", global_type_keys)

/* A plain object that lives as long as the process, as tvm-ffi's kwargs marker. */
static TVMFFIObject kwargs_object = {1, FFI_OBJECT, 0, NULL};

static const ffi_signature_t sig_invalid_object = {
	"ffi.GetInvalidObject", "() -> ffi.Object", ""};

static int global_invalid_object(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self;
	if (ffi_signature_check(&sig_invalid_object, args, n))
		return -1;
	*result = ffi_any_object(ffi_missing_object());
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.GetInvalidObject", global_invalid_object)

static const ffi_signature_t sig_kwargs_object = {
	"ffi.GetKwargsObject", "() -> ffi.Object", ""};

static int global_kwargs_object(void *self, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	(void)self;
	if (ffi_signature_check(&sig_kwargs_object, args, n))
		return -1;
	ffi_object_retain(&kwargs_object);
	*result = ffi_any_object(&kwargs_object);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.GetKwargsObject", global_kwargs_object)
