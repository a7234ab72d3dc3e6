/* The dlopen loader for TVM-compiled shared libraries (module_library.h). A library module keeps
 * its handle open; every function taken from it keeps the module alive, so dlclose happens when
 * the last reference dies. The host services the library calls back into live in backend.c. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "base/log.h"
#include "runtime/module_file.h"
#include "runtime/module_library.h"
#include "base/xalloc.h"

#if __has_include("runtime/module_blob.h")
#include "runtime/module_blob.h"
#define HAVE_MODULE_BLOB 1
#endif

#define FUNCTION_PREFIX "__tvm_ffi_"
#define NAME_MAX_LEN 1024

struct library {
	void *handle;
	char *path;
	struct stat file; /* identity of the file when it was loaded */
};

/* Live library modules by dlopen handle: dlopen returns the same handle for a file that is
 * already loaded, and its context variables can point at only one module. */
struct library_entry {
	void *handle;
	ffi_module_t *mod;
};
static pthread_mutex_t libraries_lock = PTHREAD_MUTEX_INITIALIZER;
static struct library_entry *libraries;
static size_t num_libraries, cap_libraries;

/* Take a reference unless the count already reached zero (the module is being destroyed). */
static int module_try_retain(ffi_module_t *mod)
{
	uint64_t cur = __atomic_load_n(&mod->header.combined_ref_count, __ATOMIC_RELAXED);
	do {
		if ((cur & 0xffffffffu) == 0)
			return 0;
	} while (!__atomic_compare_exchange_n(&mod->header.combined_ref_count, &cur, cur + 1, 1,
					      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return 1;
}

/* Is `sym` a function defined by the object behind `handle` itself (not a dependency's, not a
 * data variable such as __tvm_ffi__library_ctx)? */
static int symbol_is_own_function(void *handle, void *sym)
{
	struct link_map *own = NULL, *found = NULL;
	Dl_info info;
	const ElfW(Sym) *entry = NULL;
	if (dlinfo(handle, RTLD_DI_LINKMAP, &own) != 0)
		return 0;
	if (!dladdr1(sym, &info, (void **)&found, RTLD_DL_LINKMAP) || found != own)
		return 0;
	if (!dladdr1(sym, &info, (void **)&entry, RTLD_DL_SYMENT) || !entry)
		return 0;
	int type = ELF64_ST_TYPE(entry->st_info);
	return type == STT_FUNC || type == STT_GNU_IFUNC;
}

static ffi_function_t *library_get_function(ffi_module_t *self, const char *name)
{
	struct library *lib = self->impl;
	size_t len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN)
		return NULL;
	char symbol[sizeof FUNCTION_PREFIX + NAME_MAX_LEN];
	memcpy(symbol, FUNCTION_PREFIX, sizeof FUNCTION_PREFIX - 1);
	memcpy(symbol + sizeof FUNCTION_PREFIX - 1, name, len + 1);
	void *sym = dlsym(lib->handle, symbol);
	if (!sym || !symbol_is_own_function(lib->handle, sym))
		return NULL;
	/* Compiled kernels ignore `self`, so the symbol is the safe-call itself. */
	TVMFFISafeCallType call;
	memcpy(&call, &sym, sizeof call);
	return ffi_function_new(call, NULL, NULL, &self->header);
}

static void library_destroy(ffi_module_t *self)
{
	struct library *lib = self->impl;
	pthread_mutex_lock(&libraries_lock);
	for (size_t i = 0; i < num_libraries; i++) {
		if (libraries[i].mod == self) {
			libraries[i] = libraries[--num_libraries];
			break;
		}
	}
	if (num_libraries == 0) {
		free(libraries);
		libraries = NULL;
		cap_libraries = 0;
	}
	pthread_mutex_unlock(&libraries_lock);
	backend_env_cache_drop(self);
	log_debug("unloading %s", lib->path);
	dlclose(lib->handle);
	free(lib->path);
	free(lib);
}

static const ffi_module_vtable_t library_vtable = {
	.kind = "library",
	.get_function = library_get_function,
	.destroy = library_destroy,
};

void *module_library_handle(const ffi_module_t *mod)
{
	if (!mod || mod->vtable != &library_vtable)
		return NULL;
	return ((const struct library *)mod->impl)->handle;
}

int module_library_fill_context(void *(*lookup)(void *handle, const char *name), void *handle,
				const char *prefix, void *ctx)
{
	static const struct {
		const char *name;
		void (*address)(void); /* the generic function pointer type */
	} services[] = {
#define SERVICE(var, fn) {var, (void (*)(void))(fn)}
		SERVICE("__TVMFFIFunctionCall", backend_function_call),
		SERVICE("__TVMFFIErrorSetRaisedFromCStr", TVMFFIErrorSetRaisedFromCStr),
		SERVICE("__TVMFFIErrorSetRaisedFromCStrParts", TVMFFIErrorSetRaisedFromCStrParts),
		SERVICE("__TVMFFIEnvModLookupFromImports", backend_env_lookup),
		SERVICE("__TVMFFIHandleInitOnce", backend_handle_init_once),
		SERVICE("__TVMBackendAllocWorkspace", backend_workspace_alloc),
		SERVICE("__TVMBackendFreeWorkspace", backend_workspace_free),
		SERVICE("__TVMBackendParallelLaunch", backend_parallel_launch),
		SERVICE("__TVMBackendParallelBarrier", backend_parallel_barrier),
#undef SERVICE
	};
	int written = 0;
	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
		void **slot = lookup(handle, services[i].name);
		if (slot) {
			memcpy(slot, &services[i].address, sizeof(void *));
			written++;
		}
	}
	char name[300];
	snprintf(name, sizeof name, "%s__tvm_ffi__library_ctx", prefix ? prefix : "");
	void **ctx_slot = lookup(handle, name);
	if (ctx_slot) {
		*ctx_slot = ctx;
		written++;
	}
	return written;
}

static void *library_dlsym(void *handle, const char *name)
{
	return dlsym(handle, name);
}

/* Clear errors before dlopen touches anything: missing and non-ELF files get a message that
 * says so instead of the loader's terse text. */
static int library_check_file(const char *path, struct stat *st)
{
	if (path[0] != '/') {
		ffi_error_set("ValueError", "cannot load module '%s': the path must be absolute",
			      path);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ffi_error_set("RuntimeError", "cannot load module '%s': %s", path, strerror(errno));
		return -1;
	}
	unsigned char magic[4] = {0};
	ssize_t got = 0;
	if (fstat(fd, st) == 0 && S_ISREG(st->st_mode))
		got = read(fd, magic, sizeof magic);
	else
		got = -2;
	close(fd);
	if (got == -2) {
		ffi_error_set("RuntimeError", "cannot load module '%s': not a regular file", path);
		return -1;
	}
	if (got != 4 || memcmp(magic, "\x7f" "ELF", 4) != 0) {
		ffi_error_set("RuntimeError", "cannot load module '%s': not a shared library (no ELF "
			      "header)", path);
		return -1;
	}
	return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The dynamic linker hands back the already-loaded object for a path it knows, even if the
 * file was replaced since. A new version is therefore opened through a private copy (removed
 * again at once: the mapping stays valid). */
static void *library_open_copy(const char *path)
{
	size_t len = strlen(path) + sizeof ".reload-XXXXXX";
	char *copy = xmalloc(len);
	snprintf(copy, len, "%s.reload-XXXXXX", path);
	int out = mkstemp(copy);
	int in = out >= 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	int ok = out >= 0 && in >= 0;
	char buf[65536];
	while (ok) {
		ssize_t got = read(in, buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			ok = got == 0;
			break;
		}
		ok = write(out, buf, (size_t)got) == got;
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	void *handle = NULL;
	if (ok) {
		handle = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			const char *why = dlerror();
			ffi_error_set("RuntimeError", "cannot load module '%s': %s", path,
				      why ? why : "dlopen failed");
		}
	} else {
		ffi_error_set("RuntimeError", "cannot load module '%s': cannot copy it for a "
			      "reload: %s", path, strerror(errno));
	}
	if (out >= 0)
		unlink(copy);
	free(copy);
	return handle;
}

ffi_module_t *module_library_load(const char *path)
{
	struct stat st;
	if (library_check_file(path, &st) != 0)
		return NULL;
	/* RTLD_NOW rather than TVM's RTLD_LAZY: an unresolved function then fails the load with
	 * the linker's message instead of killing the session process at the first call. */
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		const char *why = dlerror();
		ffi_error_set("RuntimeError", "cannot load module '%s': %s", path,
			      why ? why : "dlopen failed");
		return NULL;
	}
	pthread_mutex_lock(&libraries_lock);
	for (size_t i = 0; i < num_libraries; i++) {
		if (libraries[i].handle == handle && module_try_retain(libraries[i].mod)) {
			ffi_module_t *existing = libraries[i].mod;
			const struct library *old = existing->impl;
			int unchanged = same_file(&old->file, &st);
			pthread_mutex_unlock(&libraries_lock);
			dlclose(handle); /* drop the extra count this dlopen took */
			if (unchanged)
				return existing;
			ffi_object_release(&existing->header);
			log_info("%s changed since it was loaded; loading the new version", path);
			handle = library_open_copy(path);
			if (!handle)
				return NULL;
			pthread_mutex_lock(&libraries_lock);
			break;
		}
	}
	struct library *lib = xcalloc(1, sizeof *lib);
	lib->handle = handle;
	lib->path = xstrdup(path);
	lib->file = st;
	ffi_module_t *mod = ffi_module_new(&library_vtable, lib);
	if (num_libraries == cap_libraries) {
		cap_libraries = cap_libraries ? cap_libraries * 2 : 8;
		libraries = xrealloc(libraries, cap_libraries * sizeof *libraries);
	}
	libraries[num_libraries].handle = handle;
	libraries[num_libraries].mod = mod;
	num_libraries++;
	pthread_mutex_unlock(&libraries_lock);

	int filled = module_library_fill_context(library_dlsym, handle, "", mod);
	log_debug("loaded %s (%d context variables)", path, filled);

	const uint8_t *blob = dlsym(handle, "__tvm_ffi__library_bin");
	if (blob) {
#ifdef HAVE_MODULE_BLOB
		/* The blob names the module tree; the root it returns owns `mod` as an import. The
		 * symbol's size from the dynamic symbol table bounds the blob when it is known. */
		Dl_info info;
		const ElfW(Sym) *entry = NULL;
		ffi_module_t *root;
		if (dladdr1(blob, &info, (void **)&entry, RTLD_DL_SYMENT) && entry && entry->st_size)
			root = module_blob_load_sized(mod, blob, entry->st_size);
		else
			root = module_blob_load(mod, blob);
		ffi_object_release(&mod->header);
		if (!root) {
			char why[1024];
			snprintf(why, sizeof why, "%s", ffi_error_message());
			ffi_error_set(ffi_error_kind()[0] ? ffi_error_kind() : "RuntimeError",
				      "cannot load module '%s': %s", path, why);
		}
		return root;
#else
		ffi_error_set("RuntimeError", "cannot load module '%s': it embeds imported modules "
			      "(__tvm_ffi__library_bin, e.g. a Relax VM executable), which this "
			      "server cannot load", path);
		ffi_object_release(&mod->header);
		return NULL;
#endif
	}
	return mod;
}

int module_preload(const char *colon_separated_paths)
{
	if (!colon_separated_paths)
		return 0;
	const char *p = colon_separated_paths;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0) {
			char *path = xstrndup(p, len);
			/* Kept open for the life of the process, as TVM's --load-library does. */
			void *handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
			if (!handle) {
				const char *why = dlerror();
				ffi_error_set("RuntimeError", "cannot preload library '%s': %s", path,
					      why ? why : "dlopen failed");
				free(path);
				return -1;
			}
			int filled = module_library_fill_context(library_dlsym, handle, "", NULL);
			log_debug("preloaded %s (%d context variables)", path, filled);
			free(path);
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

/* ffi.Module.load_from_file.so(path, format) -> Module. In a session the path must lie in the
 * work directory (module_file.h), as for every other loader a client can name. */
static int load_from_file_so(void *self, const TVMFFIAny *args, int32_t num_args,
			     TVMFFIAny *result)
{
	(void)self;
	const char *path;
	if (ffi_arg_str("ffi.Module.load_from_file.so", args, num_args, 0, &path, NULL) != 0)
		return -1;
	char *full = module_file_path(path, 0);
	if (!full)
		return -1;
	ffi_module_t *mod = module_library_load(full);
	free(full);
	if (!mod)
		return -1;
	*result = ffi_any_object(&mod->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Module.load_from_file.so", load_from_file_so)
