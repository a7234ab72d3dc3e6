/* Optional libraries loaded when a feature is first used, not at link time: the proxy's
 * WebSocket port (libwebsockets) and the metrics endpoint (libmicrohttpd) pull in TLS stacks
 * and more, which every process would otherwise map at start (a device server: 7.8 MB of RSS
 * instead of 3.2 MB). The caller keeps a table of function pointers typed from the library's
 * own header (__typeof__), so every call is still checked by the compiler. */
#ifndef TVMRPC_BASE_DYNLIB_H
#define TVMRPC_BASE_DYNLIB_H

#include <stddef.h>

/* Open the first of `sonames` (NULL-terminated) that loads, then resolve `n` symbols into
 * table[0..n-1]. Once loaded, later calls return 0 at once. Returns 0, or -1 with a message
 * naming the library or the missing symbol in err. The library stays loaded. */
int dynlib_load(const char *const *sonames, const char *const *symbols, void **table,
		size_t n, int *loaded, char *err, size_t err_size);

#endif
