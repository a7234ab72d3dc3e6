/* dynlib.h: dlopen and dlsym into a caller's table. */
#include "base/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

int dynlib_load(const char *const *sonames, const char *const *symbols, void **table,
		size_t n, int *loaded, char *err, size_t err_size)
{
	if (*loaded)
		return 0;
	void *h = NULL;
	for (size_t i = 0; sonames[i] && !h; i++)
		h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, err_size, "cannot load %s: %s", sonames[0], dlerror());
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		table[i] = dlsym(h, symbols[i]);
		if (!table[i]) {
			snprintf(err, err_size, "%s has no %s", sonames[0], symbols[i]);
			dlclose(h);
			return -1;
		}
	}
	*loaded = 1;
	return 0;
}
