/* Helpers shared by the test_vm*.c unit tests: a minimal dlopen library module (kernels as
 * `__tvm_ffi_<name>`, the blob and its symbol size), calls by name, and an executable
 * encoder for hand-built bytecode. Header-only so each test binary stays one file. */
#ifndef TVMRPC_TEST_VM_UTIL_H
#define TVMRPC_TEST_VM_UTIL_H

#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/vm_executable.h"
#include "base/xalloc.h"

static ffi_function_t *test_lib_get_function(ffi_module_t *self, const char *name)
{
	char sym[512];
	snprintf(sym, sizeof sym, "__tvm_ffi_%s", name);
	void *f = dlsym(self->impl, sym);
	if (!f)
		return NULL;
	TVMFFISafeCallType call;
	memcpy(&call, &f, sizeof call);
	return ffi_function_new(call, NULL, NULL, &self->header);
}

static void test_lib_destroy(ffi_module_t *self)
{
	dlclose(self->impl);
}

static const ffi_module_vtable_t test_lib_vtable = {
	.kind = "library",
	.get_function = test_lib_get_function,
	.destroy = test_lib_destroy,
};

/* dlopen a library; blob and blob_size receive __tvm_ffi__library_bin (NULL/0 if absent). */
static __attribute__((unused)) ffi_module_t *test_lib_open(const char *path, const uint8_t **blob,
							   size_t *blob_size)
{
	char full[PATH_MAX];
	if (!realpath(path, full))
		return NULL;
	void *h = dlopen(full, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return NULL;
	*blob = NULL;
	*blob_size = 0;
	void *sym = dlsym(h, "__tvm_ffi__library_bin");
	if (sym) {
		Dl_info info;
		const ElfW(Sym) *entry = NULL;
		if (dladdr1(sym, &info, (void **)&entry, RTLD_DL_SYMENT) && entry) {
			*blob = sym;
			*blob_size = entry->st_size;
		}
	}
	return ffi_module_new(&test_lib_vtable, h);
}

static __attribute__((unused)) TVMFFIAny test_str(const char *s)
{
	TVMFFIAny v = {.type_index = FFI_RAW_STR};
	v.v_c_str = s;
	return v;
}

/* Call `name` on a module (imports included). Returns the function's status; -2 if absent. */
static __attribute__((unused)) int test_call(ffi_module_t *mod, const char *name,
					     const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	*result = ffi_any_none();
	ffi_function_t *fn = ffi_module_get_function(mod, name, 1);
	if (!fn)
		return -2;
	ffi_error_clear();
	int rc = ffi_function_call(fn, args, n, result);
	ffi_object_release(&fn->header);
	return rc;
}

/* ---- executable encoder ---- */

typedef struct test_buf {
	uint8_t *data;
	size_t len, cap;
} test_buf_t;

static void tb_put(test_buf_t *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static __attribute__((unused)) void tb_u64(test_buf_t *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	tb_put(b, x, 8);
}

static __attribute__((unused)) void tb_i32(test_buf_t *b, int32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)((uint32_t)v >> (8 * i));
	tb_put(b, x, 4);
}

static __attribute__((unused)) void tb_str(test_buf_t *b, const char *s)
{
	tb_u64(b, strlen(s));
	tb_put(b, s, strlen(s));
}

typedef struct test_func {
	int32_t kind;
	const char *name;
	int64_t start, end, num_args, regs;
	const char *params[4];
	int num_params;
} test_func_t;

/* Instruction list: each instruction's words, opcode first. */
typedef struct test_prog {
	int64_t words[512];
	int64_t offsets[128];
	size_t num_words, num_instrs;
} test_prog_t;

static __attribute__((unused)) void tp_call(test_prog_t *p, int64_t dst, int64_t func, int n, ...)
{
	p->offsets[p->num_instrs++] = (int64_t)p->num_words;
	p->words[p->num_words++] = VM_OP_CALL;
	p->words[p->num_words++] = dst;
	p->words[p->num_words++] = func;
	p->words[p->num_words++] = n;
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		p->words[p->num_words++] = va_arg(ap, int64_t);
	va_end(ap);
}

static __attribute__((unused)) void tp_op(test_prog_t *p, int64_t op, int64_t a, int64_t b)
{
	p->offsets[p->num_instrs++] = (int64_t)p->num_words;
	p->words[p->num_words++] = op;
	p->words[p->num_words++] = a;
	if (op == VM_OP_IF)
		p->words[p->num_words++] = b;
}

#define REG(r) vm_arg_encode(VM_ARG_REGISTER, (r))
#define IMM(v) vm_arg_encode(VM_ARG_IMMEDIATE, (v))
#define CONST(c) vm_arg_encode(VM_ARG_CONSTANT, (c))
#define FUNC(f) vm_arg_encode(VM_ARG_FUNCTION, (f))

/* Executable bytes: header, functions, (V2) no scopes, the given constant records (already
 * encoded), then the program. */
static __attribute__((unused)) test_buf_t test_exec_encode(int v2, const test_func_t *funcs,
							   size_t nf, const test_buf_t *consts,
							   size_t nconsts, const test_prog_t *p)
{
	test_buf_t b = {0};
	tb_u64(&b, v2 ? VM_EXECUTABLE_MAGIC_V2 : VM_EXECUTABLE_MAGIC_V1);
	tb_str(&b, "0.14");
	tb_u64(&b, nf);
	for (size_t i = 0; i < nf; i++) {
		const test_func_t *f = &funcs[i];
		tb_i32(&b, f->kind);
		tb_str(&b, f->name);
		tb_u64(&b, (uint64_t)f->start);
		tb_u64(&b, (uint64_t)f->end);
		tb_u64(&b, (uint64_t)(f->kind == 0 ? -2 : f->num_args));
		tb_u64(&b, (uint64_t)f->regs);
		tb_u64(&b, (uint64_t)f->num_params);
		for (int k = 0; k < f->num_params; k++)
			tb_str(&b, f->params[k]);
	}
	if (v2)
		tb_u64(&b, 0);
	tb_u64(&b, nconsts);
	if (consts && consts->len)
		tb_put(&b, consts->data, consts->len);
	tb_u64(&b, p->num_instrs);
	for (size_t i = 0; i < p->num_instrs; i++)
		tb_u64(&b, (uint64_t)p->offsets[i]);
	tb_u64(&b, p->num_words);
	for (size_t i = 0; i < p->num_words; i++)
		tb_u64(&b, (uint64_t)p->words[i]);
	return b;
}

#endif
