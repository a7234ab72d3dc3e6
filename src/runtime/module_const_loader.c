/* TVM's `const_loader` module: constant tensors by name, and for each function symbol the
 * constants it needs. The first lookup of such a symbol hands them to the `__init_<symbol>`
 * function of the first import that has one (BYOC runtimes); every other lookup goes to the
 * imports. Built by ffi.Module.create.const_loader (two maps) or loaded from its serialised
 * form (ffi.Module.load_from_bytes.const_loader, as export_library embeds it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/byte_reader.h"
#include "runtime/ffi.h"
#include "base/xalloc.h"

#define TENSOR_MAGIC 0xDD5E40F096B4A13FULL

struct const_loader {
	ffi_map_t *tensors;  /* Str -> Tensor */
	ffi_map_t *symbols;  /* Str -> Array<Str>: the constants each symbol needs */
	ffi_map_t *initialized; /* Str -> Bool, symbols already handed their constants */
};

static int fail_internal(const char *fmt, const char *a, const char *b)
{
	ffi_error_set("InternalError", fmt, a, b);
	return -1;
}

/* Hand `symbol` its constants through the first import with `__init_<symbol>`. */
static int const_loader_init_symbol(ffi_module_t *mod, const char *symbol, const TVMFFIAny *vars)
{
	const struct const_loader *cl = mod->impl;
	char name[1100];
	snprintf(name, sizeof name, "__init_%.1024s", symbol);
	for (size_t i = 0; i < mod->num_imports; i++) {
		ffi_function_t *init = ffi_module_get_function(mod->imports[i], name, 0);
		if (!init) {
			if (ffi_error_kind()[0])
				return -1;
			continue;
		}
		const ffi_array_t *names = (const ffi_array_t *)vars->v_obj;
		ffi_array_t *arg = ffi_array_new();
		for (size_t k = 0; k < names->size; k++) {
			const TVMFFIAny *t = ffi_map_get(cl->tensors, &names->items[k]);
			TVMFFIAny copy = *t;
			ffi_any_retain(&copy);
			ffi_array_push(arg, copy);
		}
		TVMFFIAny a = ffi_any_object(&arg->header), ret;
		int rc = ffi_function_call(init, &a, 1, &ret);
		ffi_object_release(&arg->header);
		ffi_object_release(&init->header);
		if (rc)
			return -1;
		int64_t code = -1;
		int ok = ret.type_index == FFI_INT && (code = ret.v_int64) == 0;
		ffi_any_release(&ret);
		if (!ok) {
			ffi_error_set("InternalError", "Check failed: ret == 0 (%lld vs. 0) while "
				      "initialising %s", (long long)code, symbol);
			return -1;
		}
		return 0;
	}
	return 0;
}

static int tensors_getter(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)args;
	(void)n;
	const ffi_module_t *mod = (const ffi_module_t *)((ffi_function_t *)self)->owner;
	const struct const_loader *cl = mod->impl;
	ffi_map_t *out = ffi_map_new(FFI_MAP);
	size_t pos = 0;
	const TVMFFIAny *k, *v;
	while (ffi_map_next(cl->tensors, &pos, &k, &v)) {
		TVMFFIAny key = *k, value = *v;
		ffi_any_retain(&key);
		ffi_any_retain(&value);
		ffi_map_set(out, key, value);
	}
	*result = ffi_any_object(ffi_map_object(out));
	return 0;
}

static ffi_function_t *const_loader_get_function(ffi_module_t *self, const char *name)
{
	struct const_loader *cl = self->impl;
	TVMFFIAny key = {.type_index = FFI_RAW_STR};
	key.v_c_str = name;
	const TVMFFIAny *vars = ffi_map_get(cl->symbols, &key);
	if (vars && !ffi_map_get(cl->initialized, &key)) {
		if (const_loader_init_symbol(self, name, vars))
			return NULL;
		TVMFFIAny owned;
		ffi_any_to_owned(&key, &owned);
		ffi_map_set(cl->initialized, owned, ffi_any_bool(1));
	}
	if (strcmp(name, "get_const_var_tensor") == 0)
		return ffi_function_new(tensors_getter, NULL, NULL, &self->header);
	if (self->num_imports == 0) {
		ffi_error_set("InternalError", "Check failed: (!this->imports_.empty()) is false: "
			      "the const_loader module has no imports to look up %.200s in", name);
		return NULL;
	}
	for (size_t i = 0; i < self->num_imports; i++) {
		ffi_function_t *fn = ffi_module_get_function(self->imports[i], name, 0);
		if (fn || ffi_error_kind()[0])
			return fn;
	}
	return NULL;
}

static void const_loader_destroy(ffi_module_t *self)
{
	struct const_loader *cl = self->impl;
	ffi_object_release(ffi_map_object(cl->tensors));
	ffi_object_release(ffi_map_object(cl->symbols));
	ffi_object_release(ffi_map_object(cl->initialized));
	free(cl);
}

static const ffi_module_vtable_t const_loader_vtable = {
	.kind = "const_loader",
	.get_function = const_loader_get_function,
	.destroy = const_loader_destroy,
};

/* Every constant a symbol names must exist. Takes both map references (even on failure). */
static ffi_module_t *const_loader_new(ffi_map_t *tensors, ffi_map_t *symbols)
{
	size_t pos = 0;
	const TVMFFIAny *sym, *vars;
	int ok = 1;
	while (ok && ffi_map_next(symbols, &pos, &sym, &vars)) {
		const ffi_array_t *names = (const ffi_array_t *)vars->v_obj;
		for (size_t k = 0; ok && k < names->size; k++) {
			if (!ffi_map_get(tensors, &names->items[k])) {
				fail_internal("ConstLoaderModuleNode is missing entry for constant "
					      "'%.200s' for function '%.200s'",
					      ffi_any_as_str(&names->items[k], NULL),
					      ffi_any_as_str(sym, NULL));
				ok = 0;
			}
		}
	}
	if (!ok) {
		ffi_object_release(ffi_map_object(tensors));
		ffi_object_release(ffi_map_object(symbols));
		return NULL;
	}
	struct const_loader *cl = xmalloc(sizeof *cl);
	cl->tensors = tensors;
	cl->symbols = symbols;
	cl->initialized = ffi_map_new(FFI_MAP);
	return ffi_module_new(&const_loader_vtable, cl);
}

/* ---- ffi.Module.create.const_loader(Map<str, Tensor>, Map<str, Array<str>>) ---- */

static const char create_sig[] = "ffi.Module.create.const_loader(0: Map<str, ffi.Tensor>, "
				 "1: Map<str, Array<str>>) -> ffi.Module";

static int mismatch(int index, const char *expected)
{
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`%s`", index, create_sig, expected);
	return -1;
}

static int is_string_array(const TVMFFIAny *v)
{
	if (v->type_index != FFI_ARRAY || !v->v_obj)
		return 0;
	const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
	for (size_t i = 0; i < a->size; i++)
		if (!ffi_any_as_str(&a->items[i], NULL))
			return 0;
	return 1;
}

/* A private copy of a client map whose keys are strings and values pass `check`. */
static ffi_map_t *map_checked(const TVMFFIAny *arg, int index, const char *expected,
			      int (*check)(const TVMFFIAny *))
{
	if (arg->type_index != FFI_MAP || !arg->v_obj) {
		mismatch(index, expected);
		return NULL;
	}
	ffi_map_t *in = (ffi_map_t *)arg->v_obj, *out = ffi_map_new(FFI_MAP);
	size_t pos = 0;
	const TVMFFIAny *k, *v;
	while (ffi_map_next(in, &pos, &k, &v)) {
		if (!ffi_any_as_str(k, NULL) || !check(v)) {
			ffi_object_release(ffi_map_object(out));
			mismatch(index, expected);
			return NULL;
		}
		TVMFFIAny key = *k, value = *v;
		ffi_any_retain(&key);
		ffi_any_retain(&value);
		ffi_map_set(out, key, value);
	}
	return out;
}

static int is_tensor(const TVMFFIAny *v)
{
	return v->type_index == FFI_TENSOR && v->v_obj;
}

/* The module from both maps (symbols NULL: reading failed, tensors is dropped). */
static int const_loader_result(ffi_map_t *tensors, ffi_map_t *symbols, TVMFFIAny *result)
{
	if (!symbols) {
		ffi_object_release(tensors ? ffi_map_object(tensors) : NULL);
		return -1;
	}
	ffi_module_t *mod = const_loader_new(tensors, symbols);
	if (!mod)
		return -1;
	*result = ffi_any_object(&mod->header);
	return 0;
}

static int global_create(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (ffi_arg_count(create_sig, n, 2))
		return -1;
	ffi_map_t *tensors = map_checked(&args[0], 0, "Map<str, ffi.Tensor>", is_tensor);
	ffi_map_t *symbols = tensors ? map_checked(&args[1], 1, "Map<str, Array<str>>",
						   is_string_array)
				     : NULL;
	return const_loader_result(tensors, symbols, result);
}
FFI_REGISTER_GLOBAL("ffi.Module.create.const_loader", global_create)

/* ---- ffi.Module.load_from_bytes.const_loader(bytes) ---- */

/* n raw bytes copied out (byte_reader.h does the bounds). */
static int read_bytes(byte_reader_t *r, void *out, size_t n)
{
	const uint8_t *p;
	if (byte_reader_bytes(r, n, &p))
		return -1;
	memcpy(out, p, n);
	return 0;
}

/* vector<string>: u64 count, then u64 length + bytes each, into a new Array of Str. */
static ffi_array_t *read_strings(byte_reader_t *r)
{
	uint64_t count;
	if (read_bytes(r, &count, 8) || count > byte_reader_left(r) / 8)
		return NULL;
	ffi_array_t *out = ffi_array_new();
	for (uint64_t i = 0; i < count; i++) {
		uint64_t len;
		const uint8_t *bytes;
		if (byte_reader_str(r, &bytes, &len)) {
			ffi_object_release(&out->header);
			return NULL;
		}
		ffi_array_push(out, ffi_any_object(&ffi_str_new((const char *)bytes, len)->header));
	}
	return out;
}

/* One tensor as tvm's Tensor::Save writes it, into a CPU tensor. */
static ffi_tensor_t *read_tensor(byte_reader_t *r)
{
	uint64_t magic, reserved;
	int32_t dev[2], ndim;
	uint8_t dt[4];
	if (read_bytes(r, &magic, 8) || magic != TENSOR_MAGIC || read_bytes(r, &reserved, 8) ||
	    read_bytes(r, dev, 8) || read_bytes(r, &ndim, 4) || read_bytes(r, dt, 4) ||
	    ndim < 0 || ndim > 64 || (size_t)ndim > byte_reader_left(r) / 8) {
		ffi_error_set("InternalError", "Invalid DLTensor file format");
		return NULL;
	}
	int64_t shape[64];
	int64_t stated;
	if (read_bytes(r, shape, 8 * (size_t)ndim) || read_bytes(r, &stated, 8)) {
		ffi_error_set("InternalError", "Invalid DLTensor file format");
		return NULL;
	}
	if (dev[0] != kDLCPU) {
		ffi_error_set("ValueError", "a constant stored for device type %d cannot be loaded "
			      "on this CPU server", dev[0]);
		return NULL;
	}
	DLDataType dtype = {dt[0], dt[1], (uint16_t)(dt[2] | (dt[3] << 8))};
	DLDevice cpu = {kDLCPU, 0};
	/* The size the header promises must be what follows, before anything is allocated. */
	DLTensor probe = {.ndim = ndim, .dtype = dtype, .shape = shape};
	uint64_t nbytes;
	if (ffi_dltensor_nbytes(&probe, &nbytes) || stated < 0 || (uint64_t)stated != nbytes ||
	    nbytes > byte_reader_left(r)) {
		ffi_error_set("InternalError", "Invalid DLTensor file format: data size");
		return NULL;
	}
	ffi_tensor_t *t = ffi_tensor_alloc(shape, ndim, dtype, cpu);
	if (!t)
		return NULL;
	read_bytes(r, t->dl.data, nbytes);
	return t;
}

static TVMFFIObject *read_tensor_value(byte_reader_t *r)
{
	ffi_tensor_t *t = read_tensor(r);
	return t ? &t->header : NULL;
}

static TVMFFIObject *read_strings_value(byte_reader_t *r)
{
	ffi_array_t *a = read_strings(r);
	if (!a)
		ffi_error_set("InternalError", "Loading const variables failed");
	return a ? &a->header : NULL;
}

/* A list of names, their count again, then one value per name (read_value sets the error when
 * it fails). Variables with their tensors (no duplicate names), then symbols with the lists of
 * variables they use. */
static ffi_map_t *read_named_map(byte_reader_t *r, const char *what,
				 TVMFFIObject *(*read_value)(byte_reader_t *r), int unique)
{
	ffi_array_t *names = read_strings(r);
	uint64_t count;
	if (!names || read_bytes(r, &count, 8) || count != names->size) {
		ffi_object_release(names ? &names->header : NULL);
		ffi_error_set("InternalError", "Loading %s failed", what);
		return NULL;
	}
	ffi_map_t *map = ffi_map_new(FFI_MAP);
	for (size_t i = 0; i < names->size; i++) {
		TVMFFIObject *value = read_value(r);
		int dup = value && unique && ffi_map_get(map, &names->items[i]);
		if (!value || dup) {
			if (dup) {
				ffi_object_release(value);
				ffi_error_set("InternalError", "duplicate constant name");
			}
			ffi_object_release(ffi_map_object(map));
			ffi_object_release(&names->header);
			return NULL;
		}
		TVMFFIAny key = names->items[i];
		ffi_any_retain(&key);
		ffi_map_set(map, key, ffi_any_object(value));
	}
	ffi_object_release(&names->header);
	return map;
}

static int global_load_from_bytes(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	byte_reader_t r;
	size_t size = 0;
	const char *data = n == 1 ? ffi_any_as_bytes(&args[0], &size) : NULL;
	if (data) {
		byte_reader_init(&r, data, size);
	} else {
		ffi_error_set("TypeError", "ffi.Module.load_from_bytes.const_loader takes one Bytes "
			      "argument");
		return -1;
	}
	ffi_map_t *tensors = read_named_map(&r, "variable names", read_tensor_value, 1);
	ffi_map_t *symbols = tensors ? read_named_map(&r, "symbols", read_strings_value, 0) : NULL;
	return const_loader_result(tensors, symbols, result);
}
FFI_REGISTER_GLOBAL("ffi.Module.load_from_bytes.const_loader", global_load_from_bytes)
