/* Linking uploaded object files (.o) and archives of them (.tar, MetaSchedule's default build
 * output) into a shared library with the server's configured C compiler (docs/session-protocol.md
 * §6.1, §6.3). Commands run with fork/execvp and an argv, never through a shell. */
#ifndef TVMRPC_MODULE_LINK_H
#define TVMRPC_MODULE_LINK_H

#include <stddef.h>

/* The compiler command ("gcc", "aarch64-linux-gnu-gcc -march=armv8-a", ...): split on blanks.
 * NULL or "" means none found, "none" means linking is switched off; linking then fails with
 * an error that says which and names the fixes. */
void module_link_set_compiler(const char *compiler);

/* The compiler a server uses when its settings name none, as TVM's server does: the first of
 * cc, gcc, g++ found on PATH, as an absolute path into out. Returns 0, or -1 (out = "") when
 * PATH has none of them. */
int module_link_find_compiler(char *out, size_t size);

/* What `setting` (the server's `compiler` value) means: "" -> the one found on PATH (or none),
 * "none" -> "none", anything else -> itself. Writes the command to use into out ("" when
 * there is none, "none" when switched off). */
void module_link_resolve_compiler(const char *setting, char *out, size_t size);

/* Link `path` (absolute; ".o" or ".tar") into `path` + ".so"; the output path is written to
 * out. Returns 0, or -1 with a clear error (no compiler, bad archive, compiler's message). */
int module_link_shared(const char *path, char *out, size_t out_size);

#endif
