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

/* DYNLIB_TABLE(api, loader, LIST, "libx.so.1", ...) declares `static struct {...} api` with
 * one pointer per function of LIST (an X-macro list of the names the library's header
 * declares, each typed with __typeof__) and `static int loader(char *err, size_t size)`,
 * which fills it the first time (dynlib_load) from the first of the sonames that loads. The
 * struct holds only object-sized function pointers, so it is copied from dlsym's table. */
#define DYNLIB_FIELD_(f) __typeof__(f) *f;
#define DYNLIB_NAME_(f) #f,
#define DYNLIB_TABLE(api, loader, LIST, ...)                                                   \
	static struct {                                                                        \
		LIST(DYNLIB_FIELD_)                                                            \
	} api;                                                                                 \
	static int loader(char *err, size_t size)                                              \
	{                                                                                      \
		static int loaded;                                                             \
		static const char *const sonames[] = {__VA_ARGS__, NULL};                      \
		static const char *const names[] = {LIST(DYNLIB_NAME_)};                       \
		void *table[sizeof names / sizeof *names];                                     \
		_Static_assert(sizeof table == sizeof api, "one pointer per name");            \
		if (loaded)                                                                    \
			return 0;                                                              \
		if (dynlib_load(sonames, names, table, sizeof names / sizeof *names, &loaded, \
				err, size) != 0)                                               \
			return -1;                                                             \
		memcpy(&api, table, sizeof api);                                               \
		return 0;                                                                      \
	}

#endif
