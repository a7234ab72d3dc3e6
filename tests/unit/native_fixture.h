/* Unit tests also run on the cross builds under qemu-user (`make CROSS_COMPILE=... unit-test`,
 * see docs/boards.md). TVM's fixtures in tests/fixtures and the module-loading vectors are
 * x86-64 libraries, which no other CPU can dlopen, so a test that needs one skips on another
 * CPU and names the file; every other test runs. On x86-64 nothing is skipped. */
#ifndef TVMRPC_TESTS_NATIVE_FIXTURE_H
#define TVMRPC_TESTS_NATIVE_FIXTURE_H

#include <stdio.h>

#if defined(__x86_64__)
#define NATIVE_ELF_MACHINE 62
#elif defined(__aarch64__)
#define NATIVE_ELF_MACHINE 183
#elif defined(__arm__)
#define NATIVE_ELF_MACHINE 40
#elif defined(__riscv)
#define NATIVE_ELF_MACHINE 243
#else
#define NATIVE_ELF_MACHINE 0
#endif
#define NATIVE_ELF_CLASS (sizeof(void *) == 8 ? 2 : 1)

/* 1 when PATH is an ELF file this CPU can load (class and machine match), 0 otherwise. */
static inline int fixture_is_native(const char *path)
{
	unsigned char h[20];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(h, 1, sizeof h, f) : 0;
	if (f)
		fclose(f);
	return n == sizeof h && h[0] == 0x7f && h[4] == NATIVE_ELF_CLASS &&
	       (h[18] | h[19] << 8) == NATIVE_ELF_MACHINE;
}

/* The x86-64 fixture every "TVM-compiled" test is measured against. */
#define X86_FIXTURE "tests/fixtures/add_one.so"

/* Inside a cmocka test: skip it, saying why, when PATH cannot be loaded on this CPU. */
#define SKIP_UNLESS_NATIVE(path)                                                               \
	do {                                                                                   \
		if (!fixture_is_native(path)) {                                                \
			print_message("skipped: %s is built for another CPU\n", (path));       \
			skip();                                                                \
		}                                                                              \
	} while (0)

#endif
