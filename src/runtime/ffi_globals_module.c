/* The tvm-ffi module and function-registry globals a remote client calls to inspect and
 * combine modules (ffi.Module*, ffi.ModuleGlobals*) and to list or drop globals
 * (ffi.FunctionListGlobalNamesFunctor, ...). Module kinds answer as TVM's do; loaders that take
 * a path are confined to the session work directory (module_file.c). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/vm.h"
#include "runtime/vm_executable.h"
#include "runtime/module_file.h"
#include "runtime/module_library.h"
#include "base/xalloc.h"

#define MAX_IMPORT_DEPTH 64

static TVMFFIAny str_value(const char *s)
{
	return ffi_any_object(&ffi_str_new(s, strlen(s))->header);
}

/* ---- module properties ---- */

/* What TVM's module classes answer for kind and property mask (runnable 2, binary
 * serializable 1, compilation exportable 4). Our system library is TVM's library module. */
static const struct {
	const char *ours;
	const char *tvm;
	int mask;
} module_traits[] = {
	{"library", "library", 3},
	{"system_lib", "library", 3},
	{"relax.VMExecutable", "relax.VMExecutable", 1},
	{"rpc", "rpc", 2},
	{"const_loader", "const_loader", 1},
	{"static_library", "static_library", 5},
};

static int module_trait(const ffi_module_t *mod)
{
	for (size_t i = 0; i < sizeof module_traits / sizeof module_traits[0]; i++)
		if (strcmp(mod->vtable->kind, module_traits[i].ours) == 0)
			return (int)i;
	return -1;
}

static const char *module_kind(const ffi_module_t *mod)
{
	int t = module_trait(mod);
	return t < 0 ? mod->vtable->kind : module_traits[t].tvm;
}

static int global_module_get_kind(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.ModuleGetKind(0: ffi.Module) -> str";
	ffi_module_t *mod;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_module(sig, args, n, 0, &mod))
		return -1;
	*result = str_value(module_kind(mod));
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGetKind", global_module_get_kind)

static int global_module_property_mask(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.ModuleGetPropertyMask(0: ffi.Module) -> int";
	ffi_module_t *mod;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_module(sig, args, n, 0, &mod))
		return -1;
	int t = module_trait(mod);
	*result = ffi_any_int(t < 0 ? 0 : module_traits[t].mask);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGetPropertyMask", global_module_property_mask)

/* No module kind of this runtime can be written out in another format, so the list is empty,
 * as TVM's for the same kinds. */
static int global_module_write_formats(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.ModuleGetWriteFormats(0: ffi.Module) -> Array<str>";
	ffi_module_t *mod;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_module(sig, args, n, 0, &mod))
		return -1;
	*result = ffi_any_object(&ffi_array_new()->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGetWriteFormats", global_module_write_formats)

/* Source text is kept only by compiler-side modules (C source, LLVM); none live here. */
static int global_module_inspect_source(void *self, const TVMFFIAny *args, int32_t n,
					TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.ModuleInspectSource(0: ffi.Module, 1: str) -> str";
	ffi_module_t *mod;
	const char *format;
	if (ffi_arg_count(sig, n, 2) || ffi_arg_module(sig, args, n, 0, &mod) ||
	    ffi_arg_str(sig, args, n, 1, &format, NULL))
		return -1;
	*result = str_value("");
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleInspectSource", global_module_inspect_source)

/* ---- functions of a module ---- */

/* (module, name, query_imports) as the three lookup globals take them. */
static int lookup_args(const char *sig, const TVMFFIAny *args, int32_t n, ffi_module_t **mod,
		       const char **name, int *query_imports)
{
	int64_t q;
	if (ffi_arg_count(sig, n, 3) || ffi_arg_module(sig, args, n, 0, mod) ||
	    ffi_arg_str(sig, args, n, 1, name, NULL) || ffi_arg_int(sig, args, n, 2, &q))
		return -1;
	*query_imports = q != 0;
	return 0;
}

static int global_module_get_function(void *self, const TVMFFIAny *args, int32_t n,
				      TVMFFIAny *result)
{
	(void)self;
	static const char sig[] =
		"ffi.ModuleGetFunction(0: ffi.Module, 1: str, 2: bool) -> Optional<ffi.Function>";
	ffi_module_t *mod;
	const char *name;
	int query;
	if (lookup_args(sig, args, n, &mod, &name, &query))
		return -1;
	ffi_function_t *fn = ffi_module_get_function(mod, name, query);
	if (!fn)
		return ffi_error_kind()[0] ? -1 : 0;
	*result = ffi_any_object(&fn->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGetFunction", global_module_get_function)

static int implements(ffi_module_t *mod, const char *name, int query, int depth, int *out);

static int global_module_implements(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self;
	static const char sig[] =
		"ffi.ModuleImplementsFunction(0: ffi.Module, 1: str, 2: bool) -> bool";
	ffi_module_t *mod;
	const char *name;
	int query, found = 0;
	if (lookup_args(sig, args, n, &mod, &name, &query))
		return -1;
	ffi_error_clear();
	if (implements(mod, name, query, 0, &found))
		return -1;
	*result = ffi_any_bool(found);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleImplementsFunction", global_module_implements)

/* A module implements a function when it can hand it out, except a static library, which
 * only lists the names its object file defines. */
static int implements(ffi_module_t *mod, const char *name, int query, int depth, int *out)
{
	if (depth > MAX_IMPORT_DEPTH) {
		ffi_error_set("RuntimeError", "module import tree is too deep");
		return -1;
	}
	int own = module_static_library_lists(mod, name);
	if (own < 0) {
		ffi_function_t *fn = ffi_module_get_function(mod, name, 0);
		if (!fn && ffi_error_kind()[0])
			return -1;
		own = fn != NULL;
		ffi_object_release(fn ? &fn->header : NULL);
	}
	*out = own;
	for (size_t i = 0; !*out && query && i < mod->num_imports; i++)
		if (implements(mod->imports[i], name, 1, depth + 1, out))
			return -1;
	return 0;
}

/* A library's `<prefix><name>` getter symbol (TVM_FFI_DLL_EXPORT_TYPED_FUNC writes them):
 * a safe-call function of no arguments that returns a string. */
static int library_text(ffi_module_t *mod, const char *prefix, const char *name, TVMFFIAny *out)
{
	void *handle = module_library_handle(mod);
	if (!handle || strlen(name) > 1024)
		return 0;
	char symbol[1100];
	snprintf(symbol, sizeof symbol, "%s%s", prefix, name);
	void *sym = dlsym(handle, symbol);
	if (!sym)
		return 0;
	TVMFFISafeCallType getter;
	memcpy(&getter, &sym, sizeof getter);
	TVMFFIAny value = ffi_any_none();
	if (getter(NULL, NULL, 0, &value) != 0) {
		if (!ffi_error_kind()[0])
			ffi_error_set("RuntimeError", "%s failed", symbol);
		return -1;
	}
	if (!ffi_any_as_str(&value, NULL)) {
		ffi_any_release(&value);
		ffi_error_set("TypeError", "%s did not return a string", symbol);
		return -1;
	}
	*out = value;
	return 1;
}

static int find_text(ffi_module_t *mod, const char *prefix, const char *name, int query,
		     int depth, TVMFFIAny *out)
{
	if (depth > MAX_IMPORT_DEPTH) {
		ffi_error_set("RuntimeError", "module import tree is too deep");
		return -1;
	}
	int rc = library_text(mod, prefix, name, out);
	for (size_t i = 0; rc == 0 && query && i < mod->num_imports; i++)
		rc = find_text(mod->imports[i], prefix, name, 1, depth + 1, out);
	return rc;
}

static int global_module_metadata(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	static const char sig[] =
		"ffi.ModuleGetFunctionMetadata(0: ffi.Module, 1: str, 2: bool) -> Optional<str>";
	ffi_module_t *mod;
	const char *name;
	int query;
	if (lookup_args(sig, args, n, &mod, &name, &query))
		return -1;
	return find_text(mod, "__tvm_ffi__metadata_", name, query, 0, result) < 0 ? -1 : 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGetFunctionMetadata", global_module_metadata)

static int global_module_doc(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const char sig[] =
		"ffi.ModuleGetFunctionDoc(0: ffi.Module, 1: str, 2: bool) -> Optional<str>";
	ffi_module_t *mod;
	const char *name;
	int query;
	if (lookup_args(sig, args, n, &mod, &name, &query))
		return -1;
	return find_text(mod, "__tvm_ffi__doc_", name, query, 0, result) < 0 ? -1 : 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGetFunctionDoc", global_module_doc)

/* ---- imports ---- */

static int module_reaches(const ffi_module_t *from, const ffi_module_t *target, int depth)
{
	if (from == target || depth > MAX_IMPORT_DEPTH)
		return 1;
	for (size_t i = 0; i < from->num_imports; i++)
		if (module_reaches(from->imports[i], target, depth + 1))
			return 1;
	return 0;
}

/* An RPC module imports on its own server: rpc.ImportRemoteModule (services/rpc_globals.c)
 * does that, found by name so the runtime does not depend on the services. */
static int import_remote(const TVMFFIAny *args)
{
	ffi_function_t *fn = ffi_registry_get("rpc.ImportRemoteModule");
	if (!fn) {
		ffi_error_set("RuntimeError", "this server has no RPC client");
		return -1;
	}
	TVMFFIAny ignored;
	int rc = ffi_function_call(fn, args, 2, &ignored);
	ffi_object_release(&fn->header);
	if (rc == 0)
		ffi_any_release(&ignored);
	return rc;
}

static int global_module_import(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char sig[] = "ffi.ModuleImportModule(0: ffi.Module, 1: ffi.Module) -> void";
	ffi_module_t *parent, *child;
	if (ffi_arg_count(sig, n, 2) || ffi_arg_module(sig, args, n, 0, &parent) ||
	    ffi_arg_module(sig, args, n, 1, &child))
		return -1;
	if (strcmp(parent->vtable->kind, "rpc") == 0)
		return import_remote(args);
	if (module_reaches(child, parent, 0)) {
		ffi_error_set("RuntimeError", "Cyclic dependency detected during import");
		return -1;
	}
	ffi_module_import(parent, child);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleImportModule", global_module_import)

static int global_module_clear_imports(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char sig[] = "ffi.ModuleClearImports(0: ffi.Module) -> void";
	ffi_module_t *mod;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_module(sig, args, n, 0, &mod))
		return -1;
	ffi_module_t **imports = mod->imports;
	size_t count = mod->num_imports;
	mod->imports = NULL;
	mod->num_imports = 0;
	for (size_t i = 0; i < count; i++)
		ffi_object_release(&imports[i]->header);
	free(imports);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleClearImports", global_module_clear_imports)

/* ---- modules kept alive for the life of the process (TVM's keep_alive=True) ---- */

static ffi_module_t **kept_modules;
static size_t num_kept, cap_kept;

static int global_module_globals_add(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char sig[] = "ffi.ModuleGlobalsAdd(0: ffi.Module) -> void";
	ffi_module_t *mod;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_module(sig, args, n, 0, &mod))
		return -1;
	for (size_t i = 0; i < num_kept; i++)
		if (kept_modules[i] == mod)
			return 0;
	if (num_kept == cap_kept) {
		cap_kept = cap_kept ? cap_kept * 2 : 8;
		kept_modules = xrealloc(kept_modules, cap_kept * sizeof *kept_modules);
	}
	ffi_object_retain(&mod->header);
	kept_modules[num_kept++] = mod;
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGlobalsAdd", global_module_globals_add)

static int global_module_globals_remove(void *self, const TVMFFIAny *args, int32_t n,
					TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char sig[] = "ffi.ModuleGlobalsRemove(0: ffi.Module) -> void";
	ffi_module_t *mod;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_module(sig, args, n, 0, &mod))
		return -1;
	for (size_t i = 0; i < num_kept; i++) {
		if (kept_modules[i] == mod) {
			kept_modules[i] = kept_modules[--num_kept];
			ffi_object_release(&mod->header);
			break;
		}
	}
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.ModuleGlobalsRemove", global_module_globals_remove)

__attribute__((destructor)) static void kept_modules_free(void)
{
	ffi_module_t **kept = kept_modules;
	size_t count = num_kept;
	kept_modules = NULL;
	num_kept = cap_kept = 0;
	for (size_t i = 0; i < count; i++)
		ffi_object_release(&kept[i]->header);
	free(kept);
}

/* ---- files ---- */

/* The loader `ffi.Module.load_from_file.<ext>` of the file's last extension (dll, dylib and
 * dso meaning so), called with (path, format) as TVM does. */
static int global_module_load_from_file(void *self, const TVMFFIAny *args, int32_t n,
					TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.ModuleLoadFromFile(0: str) -> ffi.Module";
	const char *path;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_str(sig, args, n, 0, &path, NULL))
		return -1;
	const char *dot = strrchr(path, '.');
	if (!dot) {
		ffi_error_set("RuntimeError", "Failed to get file format from %.200s", path);
		return -1;
	}
	const char *format = dot + 1;
	if (!strcmp(format, "dll") || !strcmp(format, "dylib") || !strcmp(format, "dso"))
		format = "so";
	char loader_name[128];
	snprintf(loader_name, sizeof loader_name, "ffi.Module.load_from_file.%.90s", format);
	ffi_function_t *loader = ffi_registry_get(loader_name);
	if (!loader) {
		ffi_error_set("RuntimeError", "Loader for `.%.90s` files is not registered, resolved "
			      "to (%s) in the global registry", format, loader_name);
		return -1;
	}
	char *full = module_file_path(path, 0);
	int rc = -1;
	if (full) {
		TVMFFIAny call_args[2] = {{.type_index = FFI_RAW_STR}, {.type_index = FFI_RAW_STR}};
		call_args[0].v_c_str = full;
		call_args[1].v_c_str = format;
		rc = ffi_function_call(loader, call_args, 2, result);
		if (rc == 0 && result->type_index != FFI_MODULE) {
			ffi_any_release(result);
			ffi_error_set("TypeError", "%s did not return a module", loader_name);
			rc = -1;
		}
	}
	free(full);
	ffi_object_release(&loader->header);
	return rc;
}
FFI_REGISTER_GLOBAL("ffi.ModuleLoadFromFile", global_module_load_from_file)

static int global_module_write_to_file(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char sig[] = "ffi.ModuleWriteToFile(0: ffi.Module, 1: str, 2: str) -> void";
	ffi_module_t *mod;
	const char *path, *format;
	if (ffi_arg_count(sig, n, 3) || ffi_arg_module(sig, args, n, 0, &mod) ||
	    ffi_arg_str(sig, args, n, 1, &path, NULL) || ffi_arg_str(sig, args, n, 2, &format, NULL))
		return -1;
	const char *data;
	size_t size;
	if (module_static_library_data(mod, &data, &size) == 0)
		return module_file_write(path, data, size);
	const vm_executable_t *exec = vm_executable_module_get(mod);
	if (exec) /* TVM re-serialises it: the same bytes it was loaded from */
		return module_file_write(path, (const char *)exec->serialized,
					 exec->serialized_size);
	ffi_error_set("RuntimeError", "Module[%s] does not support WriteToFile", module_kind(mod));
	return -1;
}
FFI_REGISTER_GLOBAL("ffi.ModuleWriteToFile", global_module_write_to_file)

/* ---- the global function registry ---- */

/* The functor's closure: a snapshot of the names, taken when it was made. */
struct name_list {
	char **names;
	size_t count, cap;
};

static void name_list_add(const char *name, void *arg)
{
	struct name_list *list = arg;
	if (list->count == list->cap) {
		list->cap = list->cap ? list->cap * 2 : 256;
		list->names = xrealloc(list->names, list->cap * sizeof *list->names);
	}
	list->names[list->count++] = xstrdup(name);
}

static void name_list_free(void *data)
{
	struct name_list *list = data;
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	free(list);
}

/* functor(i): the number of names for i < 0, else name i. */
static int name_list_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	static const char sig[] = "(0: int) -> Any";
	const struct name_list *list = ((ffi_function_t *)self)->data;
	int64_t i;
	if (ffi_arg_count(sig, n, 1))
		return -1;
	if (args[0].type_index != FFI_INT && args[0].type_index != FFI_BOOL) {
		ffi_error_set("TypeError", "Mismatched type on argument #0 when calling: `%s`. "
			      "Expected `int` but got type index %d", sig, args[0].type_index);
		return -1;
	}
	i = args[0].v_int64;
	if (i < 0) {
		*result = ffi_any_int((int64_t)list->count);
		return 0;
	}
	if ((uint64_t)i >= list->count) {
		ffi_error_set("IndexError", "Index %lld out of bounds %zu", (long long)i, list->count);
		return -1;
	}
	*result = str_value(list->names[i]);
	return 0;
}

static int global_list_names(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	if (ffi_arg_count("ffi.FunctionListGlobalNamesFunctor() -> ffi.Function", n, 0))
		return -1;
	struct name_list *list = xcalloc(1, sizeof *list);
	ffi_registry_foreach(name_list_add, list);
	*result = ffi_any_object(&ffi_function_new(name_list_call, list, name_list_free, NULL)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.FunctionListGlobalNamesFunctor", global_list_names)

static int global_remove(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.FunctionRemoveGlobal(0: str) -> bool";
	const char *name;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_str(sig, args, n, 0, &name, NULL))
		return -1;
	*result = ffi_any_bool(ffi_registry_remove(name));
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.FunctionRemoveGlobal", global_remove)

/* TVM stores a JSON type schema for globals defined through its reflection registry; this
 * server keeps none, so a present global answers "" (as TVM's SetGlobal-registered ones do). */
/* TVM's metadata of each global both servers offer (its type schema); a global of ours alone
 * is described as a packed function, as TVM describes its untyped ones. */
struct schema_entry {
	const char *name;
	const char *metadata;
};

static const struct schema_entry schema_table[] = {
#include "runtime/ffi_schema_table.inc"
};

static int schema_compare(const void *key, const void *entry)
{
	return strcmp(key, ((const struct schema_entry *)entry)->name);
}

static const char *global_schema(const char *name)
{
	const struct schema_entry *e =
		bsearch(name, schema_table, sizeof schema_table / sizeof schema_table[0],
			sizeof schema_table[0], schema_compare);
	return e ? e->metadata : "{\"type_schema\":\"{\\\"type\\\":\\\"ffi.Function\\\"}\"}";
}

static int global_metadata(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const char sig[] = "ffi.GetGlobalFuncMetadata(0: str) -> str";
	const char *name;
	if (ffi_arg_count(sig, n, 1) || ffi_arg_str(sig, args, n, 0, &name, NULL))
		return -1;
	ffi_function_t *fn = ffi_registry_get(name);
	if (!fn) {
		ffi_error_set("RuntimeError", "Global Function is not found: %.200s", name);
		return -1;
	}
	ffi_object_release(&fn->header);
	*result = str_value(global_schema(name));
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.GetGlobalFuncMetadata", global_metadata)

FFI_REGISTER_REFUSED("ffi.FunctionFromExternC", extern_c, "RuntimeError",
		     "it wraps raw code addresses supplied by the client (calling the result "
		     "would jump to any address the client chose)")
