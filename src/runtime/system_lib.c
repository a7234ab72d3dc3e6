/* The system library (docs/session-protocol.md §7.7): code linked into (or preloaded by) the server
 * registers its `__tvm_ffi_…` symbols at start-up, and `ffi.SystemLib(prefix)` serves them as
 * one module per prefix. The registered table lives for the whole process. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "base/log.h"
#include "runtime/module_library.h"
#include "base/xalloc.h"

#if __has_include("runtime/module_blob.h")
#include "runtime/module_blob.h"
#define HAVE_MODULE_BLOB 1
#endif

#define PREFIX_MAX 256

struct system_symbol {
	char *name;
	void *ptr;
};

struct system_module_entry {
	char *prefix;
	ffi_module_t *mod;
};

static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static struct system_symbol *symbols;
static size_t num_symbols, cap_symbols;
static struct system_module_entry *modules;
static size_t num_modules;

int TVMFFIEnvModRegisterSystemLibSymbol(const char *name, void *ptr);

/* Called from constructors, possibly before main: no logging, no registry access. */
int TVMFFIEnvModRegisterSystemLibSymbol(const char *name, void *ptr)
{
	if (!name || !ptr)
		return -1;
	pthread_mutex_lock(&system_lock);
	for (size_t i = 0; i < num_symbols; i++) {
		if (strcmp(symbols[i].name, name) == 0) {
			symbols[i].ptr = ptr;
			pthread_mutex_unlock(&system_lock);
			return 0;
		}
	}
	if (num_symbols == cap_symbols) {
		cap_symbols = cap_symbols ? cap_symbols * 2 : 32;
		symbols = xrealloc(symbols, cap_symbols * sizeof *symbols);
	}
	symbols[num_symbols].name = xstrdup(name);
	symbols[num_symbols].ptr = ptr;
	num_symbols++;
	pthread_mutex_unlock(&system_lock);
	return 0;
}

/* Lookup for module_library_fill_context; `handle` is unused. */
static void *system_symbol_find(void *handle, const char *name)
{
	(void)handle;
	void *ptr = NULL;
	pthread_mutex_lock(&system_lock);
	for (size_t i = 0; i < num_symbols && !ptr; i++)
		if (strcmp(symbols[i].name, name) == 0)
			ptr = symbols[i].ptr;
	pthread_mutex_unlock(&system_lock);
	return ptr;
}

static ffi_function_t *system_get_function(ffi_module_t *self, const char *name)
{
	const char *prefix = self->impl;
	size_t need = strlen("__tvm_ffi_") + strlen(prefix) + strlen(name) + 1;
	char *symbol = xmalloc(need);
	void *ptr = NULL;
	if (prefix[0]) {
		snprintf(symbol, need, "__tvm_ffi_%s%s", prefix, name);
		ptr = system_symbol_find(NULL, symbol);
	}
	if (!ptr) {
		snprintf(symbol, need, "__tvm_ffi_%s", name);
		ptr = system_symbol_find(NULL, symbol);
	}
	free(symbol);
	/* The library context and blob are data, never functions. */
	if (!ptr || strncmp(name, "_library_", 9) == 0)
		return NULL;
	TVMFFISafeCallType call;
	memcpy(&call, &ptr, sizeof call);
	return ffi_function_new(call, NULL, NULL, &self->header);
}

static void system_destroy(ffi_module_t *self)
{
	backend_env_cache_drop(self);
	free(self->impl);
}

static const ffi_module_vtable_t system_vtable = {
	.kind = "system_lib",
	.get_function = system_get_function,
	.destroy = system_destroy,
};

/* New reference to the system library module for `prefix`, created on first use and kept for
 * the life of the process (its context variable points at it). */
static ffi_module_t *system_lib_create(const char *prefix);

static ffi_module_t *system_lib_get(const char *prefix)
{
	/* Serialise creation so that a prefix never gets two modules (its context variable can
	 * point at only one). */
	static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&create_lock);
	ffi_module_t *mod = system_lib_create(prefix);
	pthread_mutex_unlock(&create_lock);
	return mod;
}

static ffi_module_t *system_lib_create(const char *prefix)
{
	pthread_mutex_lock(&system_lock);
	for (size_t i = 0; i < num_modules; i++) {
		if (strcmp(modules[i].prefix, prefix) == 0) {
			ffi_module_t *mod = modules[i].mod;
			ffi_object_retain(&mod->header);
			pthread_mutex_unlock(&system_lock);
			return mod;
		}
	}
	pthread_mutex_unlock(&system_lock);

	ffi_module_t *mod = ffi_module_new(&system_vtable, xstrdup(prefix));
	module_library_fill_context(system_symbol_find, NULL, prefix, mod);
	char blob_name[PREFIX_MAX + 32];
	snprintf(blob_name, sizeof blob_name, "%s__tvm_ffi__library_bin", prefix);
	const uint8_t *blob = system_symbol_find(NULL, blob_name);
	if (blob) {
#ifdef HAVE_MODULE_BLOB
		ffi_module_t *root = module_blob_load(mod, blob);
		ffi_object_release(&mod->header);
		if (!root)
			return NULL;
		mod = root;
#else
		ffi_error_set("RuntimeError", "system library '%s' embeds imported modules "
			      "(__tvm_ffi__library_bin), which this server cannot load", prefix);
		ffi_object_release(&mod->header);
		return NULL;
#endif
	}
	pthread_mutex_lock(&system_lock);
	modules = xrealloc(modules, (num_modules + 1) * sizeof *modules);
	modules[num_modules].prefix = xstrdup(prefix);
	modules[num_modules].mod = mod;
	num_modules++;
	ffi_object_retain(&mod->header);
	pthread_mutex_unlock(&system_lock);
	return mod;
}

/* ffi.SystemLib(prefix = "") -> Module */
static int system_lib_call(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	const char *prefix = "";
	size_t len = 0;
	if (num_args > 0 && args[0].type_index != FFI_NONE &&
	    ffi_arg_str("ffi.SystemLib", args, num_args, 0, &prefix, &len) != 0)
		return -1;
	if (len > PREFIX_MAX) {
		ffi_error_set("ValueError", "ffi.SystemLib: prefix longer than %d bytes", PREFIX_MAX);
		return -1;
	}
	ffi_module_t *mod = system_lib_get(prefix);
	if (!mod)
		return -1;
	*result = ffi_any_object(&mod->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.SystemLib", system_lib_call)

__attribute__((destructor)) static void system_lib_free(void)
{
	for (size_t i = 0; i < num_modules; i++) {
		free(modules[i].prefix);
		ffi_object_release(&modules[i].mod->header);
	}
	free(modules);
	modules = NULL;
	num_modules = 0;
	for (size_t i = 0; i < num_symbols; i++)
		free(symbols[i].name);
	free(symbols);
	symbols = NULL;
	num_symbols = cap_symbols = 0;
}
