/* Global functions every RPC session offers (docs/session-protocol.md §6.1-§6.2): the file
 * service confined to the session work directory, module loading and lookup, and the packet
 * size hint. Paths go through work_dir.c: confined as text, then walked component by
 * component with O_NOFOLLOW, so "..", absolute paths and symlinks can never leave it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd_io.h"
#include "runtime/ffi.h"
#include "runtime/session.h"
#include "runtime/work_dir.h"
#include "base/xalloc.h"

/* Copies of up to this size go in one packet; larger ones are chunked by the client
 * (§4.3). Big enough that a chunk's round trip is negligible next to its transfer time,
 * and it saves the client's extra GetGlobalFunc before every copy. */
#define MAX_PACKET_HINT (64ull << 20)

static int arg_bytes(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i,
		     const char **data, size_t *size)
{
	if (i >= n) {
		ffi_error_set("TypeError", "%s: expected at least %d arguments, got %d", fn, i + 1, n);
		return -1;
	}
	const TVMFFIAny *a = &args[i];
	*data = ffi_any_as_bytes(a, size);
	if (*data)
		return 0;
	*data = ffi_any_as_str(a, size);
	if (*data)
		return 0;
	ffi_error_set("TypeError", "%s: argument %d must be bytes (type index %d given)", fn, i,
		      a->type_index);
	return -1;
}

static int server_upload(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	const char *path, *data;
	size_t len, size;
	char leaf[NAME_MAX + 1], norm[PATH_MAX];
	int dfd;
	if (ffi_arg_str("tvm.rpc.server.upload", args, n, 0, &path, &len) ||
	    arg_bytes("tvm.rpc.server.upload", args, n, 1, &data, &size) ||
	    work_dir_open_parent(work_dir_current(), path, len, &dfd, leaf, norm, sizeof norm))
		return -1;
	if (!leaf[0]) {
		close(dfd);
		ffi_error_set("IsADirectoryError", "upload needs a file name");
		return -1;
	}
	int fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	int e = errno;
	close(dfd);
	if (fd < 0) {
		ffi_error_set("OSError", "cannot create '%.200s': %s", path,
			      e == ELOOP ? "symbolic links are not followed" : strerror(e));
		return -1;
	}
	if (fd_write_all(fd, data, size) != 0) {
		e = errno;
		close(fd);
		ffi_error_set("OSError", "cannot write '%.200s': %s", path, strerror(e));
		return -1;
	}
	if (close(fd) != 0) {
		ffi_error_set("OSError", "cannot write '%.200s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.upload", server_upload)

static void file_bytes_deleter(void *self, int flags)
{
	(void)flags;
	free(self);
}

static int server_download(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *path;
	size_t len;
	char leaf[NAME_MAX + 1], norm[PATH_MAX];
	int dfd;
	if (ffi_arg_str("tvm.rpc.server.download", args, n, 0, &path, &len) ||
	    work_dir_open_parent(work_dir_current(), path, len, &dfd, leaf, norm, sizeof norm))
		return -1;
	int fd = leaf[0] ? openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	int e = leaf[0] ? errno : EISDIR;
	close(dfd);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(fd);
		fd = -1;
		e = EISDIR;
	}
	if (fd < 0) {
		ffi_error_set(e == ENOENT ? "FileNotFoundError" : "OSError", "cannot read '%.200s': %s",
			      path, e == ELOOP ? "symbolic links are not followed" : strerror(e));
		return -1;
	}
	const session_options_t *opt = session_current();
	uint64_t limit = opt && opt->max_packet ? opt->max_packet : (4ull << 30);
	if ((uint64_t)st.st_size > limit || (uint64_t)st.st_size > SIZE_MAX / 2) {
		close(fd);
		ffi_error_set("ValueError", "'%.200s' (%lld bytes) exceeds the packet limit", path,
			      (long long)st.st_size);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	ffi_bytes_t *b = malloc(sizeof *b + size + 1);
	if (!b) {
		close(fd);
		ffi_error_set("MemoryError", "cannot allocate %zu bytes", size);
		return -1;
	}
	ffi_object_init(&b->header, FFI_BYTES, file_bytes_deleter);
	char *data = (char *)(b + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, data + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* file shrank or failed: return what is there */
		got += (size_t)r;
	}
	close(fd);
	data[got] = '\0';
	b->data = data;
	b->size = got;
	*result = ffi_any_object(&b->header);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.download", server_download)

/* Never fails (§6.1): MetaSchedule's cleanup removes names that may not exist, and "". */
static int server_remove(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	const char *path;
	size_t len;
	char leaf[NAME_MAX + 1], norm[PATH_MAX];
	int dfd;
	if (ffi_arg_str("tvm.rpc.server.remove", args, n, 0, &path, &len) ||
	    work_dir_open_parent(work_dir_current(), path, len, &dfd, leaf, norm, sizeof norm)) {
		ffi_error_clear();
		return 0;
	}
	if (leaf[0] && unlinkat(dfd, leaf, 0) != 0 && (errno == EISDIR || errno == EPERM))
		unlinkat(dfd, leaf, AT_REMOVEDIR);
	close(dfd);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.remove", server_remove)

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "<work_dir>/<path>/<entry>," for every entry (sorted); a missing directory gives "". */
static int server_listdir(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *path;
	size_t len;
	char leaf[NAME_MAX + 1], norm[PATH_MAX];
	int dfd;
	if (ffi_arg_str("tvm.rpc.server.listdir", args, n, 0, &path, &len) ||
	    work_dir_open_parent(work_dir_current(), path, len, &dfd, leaf, norm, sizeof norm)) {
		if (strcmp(ffi_error_kind(), "FileNotFoundError") != 0)
			return -1;
		ffi_error_clear();
		*result = ffi_any_object(&ffi_str_new("", 0)->header);
		return 0;
	}
	int fd = leaf[0] ? openat(dfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			 : dup(dfd);
	close(dfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		*result = ffi_any_object(&ffi_str_new("", 0)->header);
		return 0;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[count++] = xstrdup(de->d_name);
	}
	closedir(dir);
	if (count)
		qsort(names, count, sizeof *names, name_compare);
	const char *wd = session_current()->work_dir;
	const char *shown = path[0] == '/' ? norm : path; /* an absolute path names wd/norm */
	size_t total = 1;
	for (size_t i = 0; i < count; i++)
		total += strlen(wd) + strlen(shown) + strlen(names[i]) + 3;
	char *text = xmalloc(total);
	size_t used = 0;
	for (size_t i = 0; i < count; i++) {
		used += (size_t)snprintf(text + used, total - used, "%s/%s%s%s,", wd, shown,
					 shown[0] ? "/" : "", names[i]);
		free(names[i]);
	}
	text[used] = '\0';
	free(names);
	*result = ffi_any_object(&ffi_str_new(text, used)->header);
	free(text);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.listdir", server_listdir)

static int server_workpath(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *path;
	size_t len;
	char norm[PATH_MAX];
	if (ffi_arg_str("tvm.rpc.server.workpath", args, n, 0, &path, &len))
		return -1;
	const char *wd = work_dir_current();
	if (!wd || work_dir_confine(wd, path, len, norm, sizeof norm))
		return -1;
	size_t size = strlen(wd) + strlen(norm) + 2;
	char *full = xmalloc(size);
	int w = snprintf(full, size, "%s%s%s", wd, norm[0] ? "/" : "", norm);
	*result = ffi_any_object(&ffi_str_new(full, (size_t)w)->header);
	free(full);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.workpath", server_workpath)

static int server_max_packet(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	(void)n;
	const session_options_t *opt = session_current();
	uint64_t limit = MAX_PACKET_HINT;
	if (opt && opt->max_packet && opt->max_packet < limit)
		limit = opt->max_packet;
	*result = ffi_any_int((int64_t)limit);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.GetCRTMaxPacketSize", server_max_packet)

/* load_module(path): the file must be a regular file below the work directory; the loader
 * registered as ffi.Module.load_from_file.<format> gets its absolute path and the format
 * (the extension, dll/dylib/dso meaning so). .o/.tar loaders link first (module_link.c). */
static int server_load_module(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *path;
	size_t len;
	char leaf[NAME_MAX + 1], norm[PATH_MAX];
	int dfd;
	if (ffi_arg_str("tvm.rpc.server.load_module", args, n, 0, &path, &len) ||
	    work_dir_open_parent(work_dir_current(), path, len, &dfd, leaf, norm, sizeof norm))
		return -1;
	struct stat st;
	int rc = leaf[0] ? fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) : -1;
	close(dfd);
	if (rc != 0 || !S_ISREG(st.st_mode)) {
		ffi_error_set("FileNotFoundError", "'%.200s' is not an uploaded file", path);
		return -1;
	}
	const char *dot = strrchr(leaf, '.');
	const char *fmt = dot ? dot + 1 : "";
	if (!strcmp(fmt, "dll") || !strcmp(fmt, "dylib") || !strcmp(fmt, "dso"))
		fmt = "so";
	char loader[96];
	snprintf(loader, sizeof loader, "ffi.Module.load_from_file.%.60s", fmt);
	ffi_function_t *load = ffi_registry_get(loader);
	if (!load) {
		ffi_error_set("RuntimeError", "cannot load '%.200s': no loader %s is registered",
			      path, loader);
		return -1;
	}
	char *real = realpath(session_current()->work_dir, NULL);
	if (!real) {
		ffi_object_release(&load->header);
		ffi_error_set("OSError", "cannot resolve the work directory: %s", strerror(errno));
		return -1;
	}
	size_t full_len = strlen(real) + strlen(norm) + 2;
	char *full = xmalloc(full_len);
	snprintf(full, full_len, "%s/%s", real, norm);
	free(real);
	TVMFFIAny call_args[2] = {{.type_index = FFI_RAW_STR}, {.type_index = FFI_RAW_STR}};
	call_args[0].v_c_str = full;
	call_args[1].v_c_str = fmt;
	TVMFFIAny mod;
	rc = ffi_function_call(load, call_args, 2, &mod);
	ffi_object_release(&load->header);
	free(full);
	if (rc != 0)
		return -1;
	if (mod.type_index != FFI_MODULE) {
		ffi_any_release(&mod);
		ffi_error_set("RuntimeError", "%s did not return a module", loader);
		return -1;
	}
	*result = mod;
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.load_module", server_load_module)

static int server_module_get_function(void *self, const TVMFFIAny *args, int32_t n,
				      TVMFFIAny *result)
{
	(void)self;
	static const char name_fn[] = "tvm.rpc.server.ModuleGetFunction";
	ffi_module_t *mod;
	const char *name;
	size_t len;
	int64_t query_imports = 1;
	if (ffi_arg_module(name_fn, args, n, 0, &mod) || ffi_arg_str(name_fn, args, n, 1, &name, &len))
		return -1;
	if (n > 2 && ffi_arg_int(name_fn, args, n, 2, &query_imports))
		return -1;
	ffi_function_t *fn = ffi_module_get_function(mod, name, query_imports != 0);
	if (!fn)
		return ffi_error_kind()[0] ? -1 : 0; /* absent: None */
	*result = ffi_any_object(&fn->header);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.ModuleGetFunction", server_module_get_function)

/* Does `from` (or anything it imports) equal `target`? Cycles would leak both modules. */
static int module_reaches(const ffi_module_t *from, const ffi_module_t *target, int depth)
{
	if (from == target || depth > 64)
		return 1;
	for (size_t i = 0; i < from->num_imports; i++)
		if (module_reaches(from->imports[i], target, depth + 1))
			return 1;
	return 0;
}

static int server_import_module(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	ffi_module_t *parent, *child;
	if (ffi_arg_module("tvm.rpc.server.ImportModule", args, n, 0, &parent) ||
	    ffi_arg_module("tvm.rpc.server.ImportModule", args, n, 1, &child))
		return -1;
	if (module_reaches(child, parent, 0)) {
		ffi_error_set("RuntimeError",
			      "Cyclic dependency detected during import (an import cycle)");
		return -1;
	}
	ffi_module_import(parent, child);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.ImportModule", server_import_module)
