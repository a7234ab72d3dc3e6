/* Linking uploaded object files (.o) and archives of them (.tar, MetaSchedule's default build
 * output) into a shared library with the server's configured C compiler (session-protocol.md
 * §6.1, §6.3). Commands run with fork/execvp and an argv, never through a shell. */
#ifndef TVMRPC_MODULE_LINK_H
#define TVMRPC_MODULE_LINK_H

#include <stddef.h>

/* The compiler command ("gcc", "aarch64-linux-gnu-gcc -march=armv8-a", ...): split on blanks.
 * NULL or "" means none, and linking then fails with an error saying so. */
void module_link_set_compiler(const char *compiler);
const char *module_link_compiler(void); /* "" if none */

/* Link `path` (absolute; ".o" or ".tar") into `path` + ".so"; the output path is written to
 * out. Returns 0, or -1 with a clear error (no compiler, bad archive, compiler's message). */
int module_link_shared(const char *path, char *out, size_t out_size);

#endif
