/* Link .o/.tar uploads into a .so (module_link.h) and serve the result: registers
 * `tvm.rpc.server.download_linked_module` and the `ffi.Module.load_from_file.{o,tar}` loaders.
 * Archives are listed and checked before they are extracted into a private directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "runtime/module_library.h"
#include "runtime/module_link.h"
#include "base/xalloc.h"

#define LINK_TIMEOUT_MS (300 * 1000)
#define OUTPUT_KEEP 4096          /* compiler text kept for the error message */
#define LISTING_MAX (1 << 20)     /* longest tar listing accepted */
#define MAX_ARGS 4096
#define PATH_LEN 4096

static char link_compiler[1024];

void module_link_set_compiler(const char *compiler)
{
	snprintf(link_compiler, sizeof link_compiler, "%s", compiler ? compiler : "");
}

int module_link_find_compiler(char *out, size_t size)
{
	static const char *const names[] = {"cc", "gcc", "g++"};
	const char *path = getenv("PATH");
	if (size)
		out[0] = '\0';
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		for (const char *dir = path; *dir;) {
			size_t len = strcspn(dir, ":");
			char cand[PATH_LEN];
			int n = snprintf(cand, sizeof cand, "%.*s/%s", (int)len, len ? dir : ".",
					 names[i]);
			struct stat st;
			if (n > 0 && (size_t)n < sizeof cand && (size_t)n < size && cand[0] == '/' &&
			    stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
				memcpy(out, cand, (size_t)n + 1);
				return 0;
			}
			dir += len;
			if (*dir == ':')
				dir++;
		}
	}
	return -1;
}

void module_link_resolve_compiler(const char *setting, char *out, size_t size)
{
	if (!setting || !*setting) {
		module_link_find_compiler(out, size);
		return;
	}
	snprintf(out, size, "%s", setting);
}

/* Run argv, collect its stdout (and stderr if with_stderr) (up to keep - 1 bytes into out, NUL-terminated) and
 * wait for it, killing it after timeout_ms. Returns the exit status (0 = success), or -1 with an
 * error set if it could not run, died from a signal or timed out. */
static int run_command(char *const argv[], int with_stderr, char *out, size_t keep,
		       int timeout_ms)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		ffi_error_set("RuntimeError", "cannot run %s: %s", argv[0], strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		ffi_error_set("RuntimeError", "cannot run %s: %s", argv[0], strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fds[1], 1);
		if (with_stderr)
			dup2(fds[1], 2);
		else if (devnull >= 0)
			dup2(devnull, 2);
		execvp(argv[0], argv);
		static const char msg[] = "cannot execute the command\n";
		ssize_t ignored = write(2, msg, sizeof msg - 1);
		(void)ignored;
		_exit(127);
	}
	close(fds[1]);
	size_t used = 0;
	out[0] = '\0';
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int timed_out = 0;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms) {
			timed_out = 1;
			break;
		}
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		int n = poll(&p, 1, (int)(timeout_ms - elapsed));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		char buf[4096];
		ssize_t got = read(fds[0], buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		size_t take = (size_t)got;
		if (used + take > keep - 1)
			take = keep - 1 - used;
		memcpy(out + used, buf, take);
		used += take;
		out[used] = '\0';
	}
	close(fds[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			ffi_error_set("RuntimeError", "%s: cannot wait for it: %s", argv[0],
				      strerror(errno));
			return -1;
		}
	}
	if (timed_out) {
		ffi_error_set("RuntimeError", "%s did not finish within %d s", argv[0],
			      timeout_ms / 1000);
		return -1;
	}
	if (WIFSIGNALED(status)) {
		ffi_error_set("RuntimeError", "%s was killed by signal %d", argv[0],
			      WTERMSIG(status));
		return -1;
	}
	return WEXITSTATUS(status);
}

/* Trim the compiler's text to something that fits one error message. */
static const char *trim_output(char *text)
{
	size_t len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	return text;
}

/* Refuse member names that would land outside the extraction directory. */
static int tar_name_is_safe(const char *name)
{
	if (name[0] == '/' || name[0] == '\0')
		return 0;
	const char *p = name;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 1;
}

static int tar_check(const char *tar_path)
{
	char *listing = xmalloc(LISTING_MAX);
	char *const list_argv[] = {"tar", "-tf", (char *)tar_path, NULL};
	int rc = run_command(list_argv, 0, listing, LISTING_MAX, LINK_TIMEOUT_MS);
	if (rc != 0) {
		if (rc > 0)
			ffi_error_set("RuntimeError", "'%s' is not a readable tar archive",
				      tar_path);
		free(listing);
		return -1;
	}
	char *save = NULL;
	for (char *line = strtok_r(listing, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!tar_name_is_safe(line)) {
			ffi_error_set("ValueError", "archive '%s' has an unsafe member name '%s' "
				      "(absolute or with '..')", tar_path, line);
			free(listing);
			return -1;
		}
	}
	/* Links could point outside the directory; only files and directories are accepted. */
	char *const verbose_argv[] = {"tar", "-tvf", (char *)tar_path, NULL};
	rc = run_command(verbose_argv, 0, listing, LISTING_MAX, LINK_TIMEOUT_MS);
	if (rc != 0) {
		if (rc > 0)
			ffi_error_set("RuntimeError", "cannot list '%s'", tar_path);
		free(listing);
		return -1;
	}
	save = NULL;
	for (char *line = strtok_r(listing, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != '-' && line[0] != 'd') {
			ffi_error_set("ValueError", "archive '%s' has a member that is not a plain "
				      "file or directory: %s", tar_path, line);
			free(listing);
			return -1;
		}
	}
	free(listing);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Split the configured compiler into argv words (blank-separated, no quoting). */
static int compiler_words(char *copy, char **argv, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t", &save); w && n < max; w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	return n;
}

static int link_objects(const char *out_path, char **objects, int num_objects)
{
	char compiler[sizeof link_compiler];
	snprintf(compiler, sizeof compiler, "%s", link_compiler);
	char **argv = xcalloc((size_t)num_objects + 64, sizeof *argv);
	int n = compiler_words(compiler, argv, 32);
	argv[n++] = "-shared";
	argv[n++] = "-fPIC";
	argv[n++] = "-o";
	argv[n++] = (char *)out_path;
	for (int i = 0; i < num_objects; i++)
		argv[n++] = objects[i];
	argv[n] = NULL;
	char *output = xmalloc(OUTPUT_KEEP);
	int rc = run_command(argv, 1, output, OUTPUT_KEEP, LINK_TIMEOUT_MS);
	if (rc > 0)
		ffi_error_set("RuntimeError", "linking %s with '%s' failed (exit %d): %s", out_path,
			      link_compiler, rc, trim_output(output));
	else if (rc == 0)
		log_info("linked %s with %s", out_path, link_compiler);
	free(output);
	free(argv);
	return rc == 0 ? 0 : -1;
}

static int link_tar(const char *tar_path, const char *out_path)
{
	if (tar_check(tar_path) != 0)
		return -1;
	char dir[PATH_LEN];
	const char *slash = strrchr(tar_path, '/');
	int len = snprintf(dir, sizeof dir, "%.*s/.untar-XXXXXX", (int)(slash - tar_path), tar_path);
	if (len < 0 || (size_t)len >= sizeof dir || !mkdtemp(dir)) {
		ffi_error_set("RuntimeError", "cannot make a directory to untar '%s': %s", tar_path,
			      strerror(errno));
		return -1;
	}
	int rc = -1;
	char **objects = NULL;
	int num_objects = 0;
	char *output = xmalloc(OUTPUT_KEEP);
	char *const untar_argv[] = {"tar", "--no-same-owner", "--no-same-permissions", "-xf",
				    (char *)tar_path, "-C", dir, NULL};
	int status = run_command(untar_argv, 1, output, OUTPUT_KEEP, LINK_TIMEOUT_MS);
	if (status != 0) {
		if (status > 0)
			ffi_error_set("RuntimeError", "cannot untar '%s': %s", tar_path,
				      trim_output(output));
		goto out;
	}
	DIR *d = opendir(dir);
	if (!d) {
		ffi_error_set("RuntimeError", "cannot read %s: %s", dir, strerror(errno));
		goto out;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && num_objects < MAX_ARGS) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
					    (e->d_name[1] == '.' && e->d_name[2] == '\0')))
			continue;
		char member[PATH_LEN + 256];
		snprintf(member, sizeof member, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(member, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		objects = xrealloc(objects, (size_t)(num_objects + 1) * sizeof *objects);
		objects[num_objects++] = xstrdup(member);
	}
	closedir(d);
	if (num_objects == 0) {
		ffi_error_set("ValueError", "archive '%s' holds no files to link", tar_path);
		goto out;
	}
	qsort(objects, (size_t)num_objects, sizeof *objects, name_compare);
	rc = link_objects(out_path, objects, num_objects);
out:
	for (int i = 0; i < num_objects; i++)
		free(objects[i]);
	free(objects);
	free(output);
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int module_link_shared(const char *path, char *out, size_t out_size)
{
	if (path[0] != '/') {
		ffi_error_set("ValueError", "cannot link '%s': the path must be absolute", path);
		return -1;
	}
	int is_tar = has_suffix(path, ".tar"), is_object = has_suffix(path, ".o");
	if (!is_tar && !is_object) {
		ffi_error_set("ValueError", "cannot link '%s': only .o and .tar files are linked",
			      path);
		return -1;
	}
	if (!link_compiler[0] || strcmp(link_compiler, "none") == 0) {
		ffi_error_set("RuntimeError", "cannot link '%s' into a shared library: %s; start the "
			      "server with --compiler CC (compiler = CC in [server]), or build with "
			      "export_library to a .so instead", path,
			      link_compiler[0] ? "linking is switched off on this server "
						 "(compiler = none)"
					       : "this server found no C compiler (none of cc, "
						 "gcc, g++ on its PATH)");
		return -1;
	}
	if (access(path, R_OK) != 0) {
		ffi_error_set(errno == ENOENT ? "FileNotFoundError" : "RuntimeError",
			      "cannot link '%s': %s", path, strerror(errno));
		return -1;
	}
	int len = snprintf(out, out_size, "%s.so", path);
	if (len < 0 || (size_t)len >= out_size || (size_t)len >= PATH_LEN) {
		ffi_error_set("ValueError", "cannot link '%s': path too long", path);
		return -1;
	}
	if (is_tar)
		return link_tar(path, out);
	char *objects[1] = {(char *)path};
	return link_objects(out, objects, 1);
}

/* Paths name files in the session's work directory: they go through the session's
 * `tvm.rpc.server.workpath`, which refuses absolute paths and "..", so a peer can neither read
 * nor write next to files outside it. Without a session (no such global) only absolute paths
 * are accepted. */
static int resolve_path(const char *fn, const TVMFFIAny *args, int32_t num_args, char *out,
			size_t size)
{
	const char *path;
	if (ffi_arg_str(fn, args, num_args, 0, &path, NULL) != 0)
		return -1;
	ffi_function_t *workpath = ffi_registry_get("tvm.rpc.server.workpath");
	if (!workpath) {
		if (path[0] != '/' || (size_t)snprintf(out, size, "%s", path) >= size) {
			ffi_error_set("ValueError", "%s: '%s' is not an absolute path", fn, path);
			return -1;
		}
		return 0;
	}
	TVMFFIAny rv;
	int rc = ffi_function_call(workpath, args, 1, &rv);
	ffi_object_release(&workpath->header);
	if (rc != 0)
		return -1;
	const char *resolved = ffi_any_as_str(&rv, NULL);
	if (!resolved || resolved[0] != '/' || (size_t)snprintf(out, size, "%s", resolved) >= size) {
		ffi_any_release(&rv);
		ffi_error_set("ValueError", "%s: cannot resolve '%s' in the work directory", fn,
			      path);
		return -1;
	}
	ffi_any_release(&rv);
	return 0;
}

static int read_whole_file(const char *path, char **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		ffi_error_set("RuntimeError", "cannot read %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char *buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		ffi_error_set("MemoryError", "cannot read %s: file too large", path);
		return -1;
	}
	size_t used = 0;
	while (used < (size_t)st.st_size) {
		ssize_t got = read(fd, buf + used, (size_t)st.st_size - used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		used += (size_t)got;
	}
	close(fd);
	*data = buf;
	*size = used;
	return 0;
}

/* tvm.rpc.server.download_linked_module(path) -> Bytes of the linked .so */
static int download_linked_module(void *self, const TVMFFIAny *args, int32_t num_args,
				  TVMFFIAny *result)
{
	(void)self;
	static const char fn[] = "tvm.rpc.server.download_linked_module";
	char path[PATH_LEN], so_path[PATH_LEN + 8];
	if (resolve_path(fn, args, num_args, path, sizeof path) != 0)
		return -1;
	if (module_link_shared(path, so_path, sizeof so_path) != 0)
		return -1;
	char *data;
	size_t size;
	if (read_whole_file(so_path, &data, &size) != 0)
		return -1;
	ffi_bytes_t *bytes = ffi_bytes_new(data, size);
	free(data);
	if (!bytes)
		return -1;
	*result = ffi_any_object(&bytes->header);
	return 0;
}
FFI_REGISTER_GLOBAL("tvm.rpc.server.download_linked_module", download_linked_module)

/* Linking writes `path.so`, so inside a session the input must lie in the work directory
 * (load_module passes such paths; a peer calling the loader directly could name any file).
 * Outside a session (no work directory) any absolute path is accepted. */
static int path_in_work_dir(const char *fn, const char *path)
{
	ffi_function_t *workpath = ffi_registry_get("tvm.rpc.server.workpath");
	if (!workpath)
		return 0;
	TVMFFIAny arg = {.type_index = FFI_RAW_STR}, rv;
	arg.v_c_str = "";
	int rc = ffi_function_call(workpath, &arg, 1, &rv);
	ffi_object_release(&workpath->header);
	if (rc != 0) {
		ffi_error_clear();
		return 0;
	}
	size_t len = 0;
	const char *wd = ffi_any_as_str(&rv, &len);
	char *real = wd ? realpath(wd, NULL) : NULL;
	ffi_any_release(&rv);
	int inside = 0;
	if (real) {
		size_t n = strlen(real);
		inside = strncmp(path, real, n) == 0 && path[n] == '/' && !strstr(path, "/../") &&
			 !strstr(path, "/./");
		free(real);
	}
	if (!inside) {
		ffi_error_set("PermissionError", "%s: '%s' is outside the session's work directory",
			      fn, path);
		return -1;
	}
	return 0;
}

/* ffi.Module.load_from_file.{o,tar}(path, format): link to path + ".so", then load that. */
static int load_linked(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result)
{
	(void)self;
	static const char fn[] = "ffi.Module.load_from_file";
	const char *path;
	if (ffi_arg_str(fn, args, num_args, 0, &path, NULL) != 0 || path_in_work_dir(fn, path) != 0)
		return -1;
	char so_path[PATH_LEN + 8];
	if (module_link_shared(path, so_path, sizeof so_path) != 0)
		return -1;
	ffi_module_t *mod = module_library_load(so_path);
	if (!mod)
		return -1;
	*result = ffi_any_object(&mod->header);
	return 0;
}

__attribute__((constructor)) static void module_link_register(void)
{
	ffi_registry_put_call("ffi.Module.load_from_file.o", load_linked);
	ffi_registry_put_call("ffi.Module.load_from_file.tar", load_linked);
}
