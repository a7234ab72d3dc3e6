/* The one confinement of client paths to the session work directory
 * (docs/session-protocol.md §6.1): the file service (server_functions.c) and the module
 * globals that take a path (module_file.c) both go through work_dir_confine. */
#ifndef TVMRPC_RUNTIME_WORK_DIR_H
#define TVMRPC_RUNTIME_WORK_DIR_H

#include <stddef.h>

/* The cleaned path below work directory wd that a client's path (len bytes) names, as text:
 * "" and "." components dropped, ".." taking back the component before it. rel receives
 * "a/b/c", or "" for the work directory itself. An absolute path is accepted when it lies
 * below wd (as configured or with its symbolic links resolved). Returns 0, or -1 with an
 * error set: ValueError (a NUL byte, too long for rel, a component over NAME_MAX),
 * PermissionError ("..", or an absolute path, leading out of wd). Pure text: symbolic links
 * below wd are the caller's (see work_dir_open_parent). */
int work_dir_confine(const char *wd, const char *path, size_t len, char *rel, size_t rel_size);

/* The session's work directory, or NULL with a RuntimeError when none is configured. */
const char *work_dir_current(void);

/* Confine path (len bytes) to work directory wd and walk it there without following
 * symbolic links (wd NULL: -1, the error work_dir_current set stays). On success *dirfd is an open descriptor of the parent directory
 * (the caller closes it), leaf the last component (NAME_MAX + 1 bytes; "" when the path names
 * the work directory itself), and rel the cleaned relative path. -1 with an error set:
 * those of work_dir_confine, FileNotFoundError or PermissionError for a missing or linked
 * intermediate directory, OSError when the work directory cannot be opened. */
int work_dir_open_parent(const char *wd, const char *path, size_t len, int *dirfd, char *leaf,
			 char *rel, size_t rel_size);

#endif
