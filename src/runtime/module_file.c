/* Module files (module_file.h): the paths of the module globals, confined by work_dir.c and
 * then resolved with symbolic links followed (the result must stay inside), the relax.VMExecutable file loaders (they read the file and hand the bytes to
 * ffi.Module.load_from_bytes.relax.VMExecutable, vm.c), and TVM's `static_library` module: an
 * object file plus the function names it defines, which can only be written back out. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd_io.h"
#include "runtime/byte_reader.h"
#include "runtime/module_file.h"
#include "runtime/session.h"
#include "runtime/work_dir.h"
#include "base/xalloc.h"

/* ---- paths ---- */

static int path_inside(const char *base, const char *path)
{
	size_t n = strlen(base);
	return strncmp(base, path, n) == 0 && (path[n] == '\0' || path[n] == '/' ||
					       (n == 1 && base[0] == '/'));
}

/* realpath of the parent of `candidate`, joined with its last component. */
static char *resolve_for_write(const char *candidate)
{
	char *dir_copy = xstrdup(candidate), *leaf_copy = xstrdup(candidate);
	const char *leaf = basename(leaf_copy);
	char *dir = realpath(dirname(dir_copy), NULL);
	char *out = NULL;
	if (!dir) {
		ffi_error_set("InternalError", "Cannot open %.200s: %s", candidate, strerror(errno));
	} else if (!leaf[0] || !strcmp(leaf, ".") || !strcmp(leaf, "..") || !strcmp(leaf, "/")) {
		ffi_error_set("ValueError", "'%.200s' does not name a file", candidate);
	} else {
		size_t len = strlen(dir) + strlen(leaf) + 2;
		out = xmalloc(len);
		snprintf(out, len, "%s/%s", strcmp(dir, "/") ? dir : "", leaf);
	}
	free(dir);
	free(dir_copy);
	free(leaf_copy);
	return out;
}

char *module_file_path(const char *path, int for_write)
{
	const session_options_t *opt = session_current();
	if (!path[0]) {
		ffi_error_set("ValueError", "empty file name");
		return NULL;
	}
	if (!opt || !opt->work_dir || !opt->work_dir[0]) {
		char *real = for_write ? NULL : realpath(path, NULL);
		return real ? real : xstrdup(path);
	}
	char rel[PATH_MAX];
	if (work_dir_confine(opt->work_dir, path, strlen(path), rel, sizeof rel))
		return NULL;
	char *base = realpath(opt->work_dir, NULL);
	if (!base) {
		ffi_error_set("OSError", "cannot resolve the work directory: %s", strerror(errno));
		return NULL;
	}
	size_t len = strlen(base) + strlen(rel) + 2;
	char *candidate = xmalloc(len);
	snprintf(candidate, len, "%s%s%s", base, rel[0] ? "/" : "", rel);
	char *full = for_write ? resolve_for_write(candidate) : realpath(candidate, NULL);
	if (!full && !for_write)
		ffi_error_set("InternalError", "Cannot open %.200s: %s", path, strerror(errno));
	if (full && !path_inside(base, full)) { /* a symbolic link below base led out */
		ffi_error_set("PermissionError", "'%.200s' is outside the work directory", path);
		free(full);
		full = NULL;
	}
	free(candidate);
	free(base);
	return full;
}

ffi_bytes_t *module_file_read(const char *path)
{
	char *full = module_file_path(path, 0);
	if (!full)
		return NULL;
	int fd = open(full, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ffi_bytes_t *b = NULL;
	if (fd < 0 || fstat(fd, &st) != 0) {
		ffi_error_set("InternalError", "Cannot open %.200s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		ffi_error_set("InternalError", "Cannot open %.200s: not a regular file", path);
	} else if ((uint64_t)st.st_size > MODULE_FILE_MAX_READ) {
		ffi_error_set("ValueError", "%.200s is %lld bytes, more than this server reads (%zu)",
			      path, (long long)st.st_size, MODULE_FILE_MAX_READ);
	} else {
		char *data = malloc((size_t)st.st_size + 1);
		size_t got = 0;
		while (data && got < (size_t)st.st_size) {
			ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (!data)
			ffi_error_set("MemoryError", "cannot allocate %lld bytes",
				      (long long)st.st_size);
		else
			b = ffi_bytes_new(data, got);
		free(data);
	}
	if (fd >= 0)
		close(fd);
	free(full);
	return b;
}

int module_file_write(const char *path, const char *data, size_t size)
{
	char *full = module_file_path(path, 1);
	if (!full)
		return -1;
	int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	free(full);
	if (fd < 0) {
		ffi_error_set("InternalError", "Cannot open %.200s for writing: %s", path,
			      strerror(errno));
		return -1;
	}
	int rc = fd_write_all(fd, data, size);
	int e = errno;
	if (close(fd) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		ffi_error_set("OSError", "cannot write %.200s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

/* ---- relax.VMExecutable from a file ---- */

static int load_executable_file(const char *sig, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	const char *path;
	if (ffi_arg_count(sig, n, 1))
		return -1;
	if (ffi_arg_str(sig, args, n, 0, &path, NULL))
		return -1;
	ffi_bytes_t *bytes = module_file_read(path);
	if (!bytes)
		return -1;
	ffi_function_t *loader = ffi_registry_get("ffi.Module.load_from_bytes.relax.VMExecutable");
	int rc = -1;
	if (!loader) {
		ffi_error_set("RuntimeError", "no relax.VMExecutable loader is registered");
	} else {
		TVMFFIAny arg = ffi_any_object(&bytes->header);
		rc = ffi_function_call(loader, &arg, 1, result);
		ffi_object_release(&loader->header);
	}
	ffi_object_release(&bytes->header);
	return rc;
}

static int global_exec_load_from_file(void *self, const TVMFFIAny *args, int32_t n,
				      TVMFFIAny *result)
{
	(void)self;
	return load_executable_file("ffi.Module.load_from_file.relax.VMExecutable(0: str) -> "
				    "ffi.Module", args, n, result);
}
FFI_REGISTER_GLOBAL("ffi.Module.load_from_file.relax.VMExecutable", global_exec_load_from_file)

static int global_executable_load(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	return load_executable_file("relax.ExecutableLoadFromFile(0: str) -> ffi.Module", args, n,
				    result);
}
FFI_REGISTER_GLOBAL("relax.ExecutableLoadFromFile", global_executable_load)

/* ---- static_library ---- */

struct static_library {
	ffi_bytes_t *data;   /* the object file */
	ffi_array_t *names;  /* Str values */
};

static int get_func_names(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)args;
	(void)n;
	const ffi_module_t *mod = (const ffi_module_t *)((ffi_function_t *)self)->owner;
	const struct static_library *lib = mod->impl;
	ffi_object_retain(&lib->names->header);
	*result = ffi_any_object(&lib->names->header);
	return 0;
}

static ffi_function_t *static_library_get_function(ffi_module_t *self, const char *name)
{
	if (strcmp(name, "get_func_names") != 0)
		return NULL;
	return ffi_function_new(get_func_names, NULL, NULL, &self->header);
}

static void static_library_destroy(ffi_module_t *self)
{
	struct static_library *lib = self->impl;
	ffi_object_release(&lib->data->header);
	ffi_object_release(&lib->names->header);
	free(lib);
}

static const ffi_module_vtable_t static_library_vtable = {
	.kind = "static_library",
	.get_function = static_library_get_function,
	.destroy = static_library_destroy,
};

/* Takes both references. */
static ffi_module_t *static_library_new(ffi_bytes_t *data, ffi_array_t *names)
{
	struct static_library *lib = xmalloc(sizeof *lib);
	lib->data = data;
	lib->names = names;
	return ffi_module_new(&static_library_vtable, lib);
}

int module_static_library_lists(const ffi_module_t *mod, const char *name)
{
	if (mod->vtable != &static_library_vtable)
		return -1;
	const struct static_library *lib = mod->impl;
	for (size_t i = 0; i < lib->names->size; i++) {
		const char *s = ffi_any_as_str(&lib->names->items[i], NULL);
		if (s && strcmp(s, name) == 0)
			return 1;
	}
	return 0;
}

int module_static_library_data(const ffi_module_t *mod, const char **data, size_t *size)
{
	if (mod->vtable != &static_library_vtable)
		return -1;
	const struct static_library *lib = mod->impl;
	*data = lib->data->data;
	*size = lib->data->size;
	return 0;
}

/* Owned copies of the strings of an ffi.Array argument. */
static ffi_array_t *string_array(const char *sig, const TVMFFIAny *arg, int index)
{
	if (arg->type_index != FFI_ARRAY || !arg->v_obj) {
		ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. "
			      "Expected `Array<str>` but got type index %d", index, sig,
			      arg->type_index);
		return NULL;
	}
	const ffi_array_t *in = (const ffi_array_t *)arg->v_obj;
	ffi_array_t *out = ffi_array_new();
	for (size_t i = 0; i < in->size; i++) {
		size_t len;
		const char *s = ffi_any_as_str(&in->items[i], &len);
		if (!s) {
			ffi_object_release(&out->header);
			ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: "
				      "`%s`. Expected `Array<str>` but element %zu is not a string",
				      index, sig, i);
			return NULL;
		}
		ffi_array_push(out, ffi_any_object(&ffi_str_new(s, len)->header));
	}
	return out;
}

static int global_load_static_library(void *self, const TVMFFIAny *args, int32_t n,
				      TVMFFIAny *result)
{
	(void)self;
	static const char sig[] =
		"runtime.ModuleLoadStaticLibrary(0: std::string, 1: Array<str>) -> ffi.Module";
	const char *path;
	if (ffi_arg_count(sig, n, 2))
		return -1;
	if (ffi_arg_str(sig, args, n, 0, &path, NULL))
		return -1;
	ffi_array_t *names = string_array(sig, &args[1], 1);
	if (!names)
		return -1;
	ffi_bytes_t *data = module_file_read(path);
	if (!data) {
		ffi_object_release(&names->header);
		return -1;
	}
	*result = ffi_any_object(&static_library_new(data, names)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("runtime.ModuleLoadStaticLibrary", global_load_static_library)

/* The serialised form: u64 length + bytes, then u64 count + strings (byte_reader.h). */
static int blob_read_string(byte_reader_t *r, const char **data, size_t *size)
{
	uint64_t len;
	const uint8_t *bytes;
	if (byte_reader_str(r, &bytes, &len))
		return -1;
	*data = (const char *)bytes;
	*size = (size_t)len;
	return 0;
}

static int bytes_arg(const TVMFFIAny *a, const char **data, size_t *size)
{
	*data = ffi_any_as_bytes(a, size);
	return *data ? 0 : -1;
}

static int global_static_library_from_bytes(void *self, const TVMFFIAny *args, int32_t n,
					    TVMFFIAny *result)
{
	(void)self;
	static const char sig[] =
		"ffi.Module.load_from_bytes.static_library(0: ffi.Bytes) -> ffi.Module";
	byte_reader_t r;
	const char *blob, *data;
	size_t blob_size, size;
	uint64_t count;
	if (n != 1 || bytes_arg(&args[0], &blob, &blob_size)) {
		ffi_error_set("TypeError", "`%s` takes one Bytes argument", sig);
		return -1;
	}
	byte_reader_init(&r, blob, blob_size);
	if (blob_read_string(&r, &data, &size)) {
		ffi_error_set("InternalError", "Loading data failed");
		return -1;
	}
	ffi_array_t *names = ffi_array_new();
	int ok = byte_reader_u64(&r, &count) == 0 && count <= byte_reader_left(&r) / 8;
	for (uint64_t i = 0; ok && i < count; i++) {
		const char *s;
		size_t len;
		ok = blob_read_string(&r, &s, &len) == 0;
		if (ok)
			ffi_array_push(names, ffi_any_object(&ffi_str_new(s, len)->header));
	}
	ffi_bytes_t *copy = ok ? ffi_bytes_new(data, size) : NULL;
	if (!copy) {
		ffi_object_release(&names->header);
		if (!ok)
			ffi_error_set("InternalError", "Loading func names failed");
		return -1;
	}
	*result = ffi_any_object(&static_library_new(copy, names)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Module.load_from_bytes.static_library", global_static_library_from_bytes)
