/* Parser and validator for the Relax VM executable format (docs/relax-vm.md §2). The bytes come
 * from an uploaded file, so every count is checked against what is left before allocating,
 * and every index an instruction can use is checked once here (§2.6); vm.c relies on that. */
#include "runtime/vm_executable.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/byte_reader.h"
#include "base/xalloc.h"

/* byte_reader.h does the bounds and byte order; these name what was being read. */
typedef byte_reader_t reader_t;

static int reader_fail(const reader_t *r, const char *what)
{
	ffi_error_set("ValueError",
		      "Relax executable is malformed: truncated while reading %s at byte %zu", what,
		      r->pos);
	return -1;
}

static int read_u64(reader_t *r, uint64_t *out, const char *what)
{
	return byte_reader_u64(r, out) ? reader_fail(r, what) : 0;
}

static int read_i64(reader_t *r, int64_t *out, const char *what)
{
	return byte_reader_i64(r, out) ? reader_fail(r, what) : 0;
}

static int read_i32(reader_t *r, int32_t *out, const char *what)
{
	return byte_reader_i32(r, out) ? reader_fail(r, what) : 0;
}

static int read_bytes(reader_t *r, size_t n, const uint8_t **out, const char *what)
{
	return byte_reader_bytes(r, n, out) ? reader_fail(r, what) : 0;
}

/* A `str`: u64 length + bytes, not copied. */
static int read_str(reader_t *r, const char **data, size_t *len, const char *what)
{
	uint64_t n = 0;
	const uint8_t *p;
	if (byte_reader_str(r, &p, &n))
		return reader_fail(r, what);
	*data = (const char *)p;
	*len = (size_t)n;
	return 0;
}

/* A name used as a C string later: NULs inside would make lookups ambiguous. */
static int read_name(reader_t *r, char **out, const char *what)
{
	const char *s;
	size_t n;
	if (read_str(r, &s, &n, what))
		return -1;
	if (memchr(s, '\0', n)) {
		ffi_error_set("ValueError", "Relax executable is malformed: %s contains a NUL byte",
			      what);
		return -1;
	}
	*out = xstrndup(s, n);
	return 0;
}

/* A count whose elements take at least min_size bytes each must fit in what is left. */
static int read_count(reader_t *r, size_t min_size, size_t *out, const char *what)
{
	uint64_t n = 0;
	if (read_u64(r, &n, what))
		return -1;
	if (n > byte_reader_left(r) / min_size) {
		ffi_error_set("ValueError",
			      "Relax executable is malformed: %s count %llu exceeds the %zu bytes left",
			      what, (unsigned long long)n, byte_reader_left(r));
		return -1;
	}
	*out = (size_t)n;
	return 0;
}

#define bad(...) ffi_error_malformed("Relax executable", __VA_ARGS__)

void vm_executable_free(vm_executable_t *exec)
{
	if (!exec)
		return;
	for (size_t i = 0; i < exec->num_funcs; i++) {
		vm_func_info_t *f = &exec->funcs[i];
		free(f->name);
		for (size_t k = 0; k < f->num_param_names; k++)
			free(f->param_names[k]);
		free(f->param_names);
	}
	free(exec->funcs);
	free(exec->serialized);
	for (size_t i = 0; i < exec->num_constants; i++)
		ffi_any_release(&exec->constants[i]);
	free(exec->constants);
	free(exec->instr_offsets);
	free(exec->words);
	free(exec);
}

/* ---- function table ---- */

static int parse_func(reader_t *r, vm_func_info_t *f)
{
	if (read_i32(r, &f->kind, "function kind") || read_name(r, &f->name, "function name") ||
	    read_i64(r, &f->start_instr, "start_instr") || read_i64(r, &f->end_instr, "end_instr") ||
	    read_i64(r, &f->num_args, "num_args") ||
	    read_i64(r, &f->register_file_size, "register_file_size") ||
	    read_count(r, 8, &f->num_param_names, "param_names"))
		return -1;
	f->param_names = xcalloc(f->num_param_names, sizeof(char *));
	for (size_t k = 0; k < f->num_param_names; k++)
		if (read_name(r, &f->param_names[k], "parameter name"))
			return -1;
	if (f->kind < VM_FUNC_PACKED || f->kind > VM_FUNC_TIR)
		return bad("function '%s' has unknown kind %d", f->name, f->kind);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_unique_names(const vm_executable_t *exec)
{
	if (exec->num_funcs < 2)
		return 0;
	char **names = xmalloc(exec->num_funcs * sizeof *names);
	for (size_t i = 0; i < exec->num_funcs; i++)
		names[i] = exec->funcs[i].name;
	qsort(names, exec->num_funcs, sizeof *names, name_cmp);
	int rc = 0;
	for (size_t i = 1; i < exec->num_funcs && !rc; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			rc = bad("function name '%s' appears twice in the function table", names[i]);
	free(names);
	return rc;
}

/* ---- constant pool ---- */

static int parse_dtype(reader_t *r, DLDataType *out, const char *what)
{
	const uint8_t *p;
	if (read_bytes(r, 4, &p, what))
		return -1;
	out->code = p[0];
	out->bits = p[1];
	out->lanes = (uint16_t)(p[2] | p[3] << 8);
	return 0;
}

static int parse_tensor(reader_t *r, TVMFFIAny *out)
{
	uint64_t magic, reserved;
	int32_t dev_type, dev_id, ndim;
	DLDataType dtype;
	if (read_u64(r, &magic, "tensor magic"))
		return -1;
	if (magic != VM_TENSOR_MAGIC)
		return bad("tensor constant has magic 0x%016llx, expected 0x%016llx",
			   (unsigned long long)magic, (unsigned long long)VM_TENSOR_MAGIC);
	if (read_u64(r, &reserved, "tensor reserved field") ||
	    read_i32(r, &dev_type, "tensor device") || read_i32(r, &dev_id, "tensor device") ||
	    read_i32(r, &ndim, "tensor ndim") || parse_dtype(r, &dtype, "tensor dtype"))
		return -1;
	if (dev_type != kDLCPU)
		return bad("tensor constant is stored for device type %d; only CPU (1) is valid",
			   dev_type);
	if (ndim < 0 || (size_t)ndim > byte_reader_left(r) / 8)
		return bad("tensor constant has ndim %d but only %zu bytes are left", ndim,
			   byte_reader_left(r));
	int64_t *shape = xcalloc((size_t)(ndim ? ndim : 1), sizeof(int64_t));
	uint64_t numel = 1;
	int overflow = 0;
	for (int32_t i = 0; i < ndim; i++) {
		if (read_i64(r, &shape[i], "tensor shape"))
			goto fail;
		if (shape[i] < 0) {
			bad("tensor constant has negative dimension %lld", (long long)shape[i]);
			goto fail;
		}
		if (__builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
			overflow = 1;
	}
	int64_t stated;
	if (read_i64(r, &stated, "tensor data size"))
		goto fail;
	/* The format sizes data as whole bytes per element and ignores lanes (§2.4). */
	uint64_t expect;
	if (overflow || __builtin_mul_overflow(numel, (uint64_t)((dtype.bits + 7) / 8), &expect) ||
	    stated < 0 || (uint64_t)stated != expect) {
		bad("tensor constant states %lld data bytes, its shape and dtype need %llu",
		    (long long)stated, overflow ? 0ULL : (unsigned long long)expect);
		goto fail;
	}
	const uint8_t *src;
	if ((uint64_t)stated > byte_reader_left(r)) {
		reader_fail(r, "tensor data");
		goto fail;
	}
	if (read_bytes(r, (size_t)stated, &src, "tensor data"))
		goto fail;
	/* Kernels assume 64-byte aligned data; the blob is 1-byte aligned (§1.6 step 5). */
	void *data = aligned_alloc_zero(64, (size_t)stated);
	if (!data) {
		ffi_error_set("MemoryError", "cannot allocate %lld bytes for a tensor constant",
			      (long long)stated);
		goto fail;
	}
	if (stated)
		memcpy(data, src, (size_t)stated);
	DLDevice cpu = {kDLCPU, 0};
	ffi_tensor_t *t = ffi_tensor_view(data, shape, ndim, dtype, cpu, NULL);
	t->owns_data = 1;
	free(shape);
	*out = ffi_any_object(&t->header);
	return 0;
fail:
	free(shape);
	return -1;
}

static int parse_constant(reader_t *r, TVMFFIAny *out)
{
	int32_t tag;
	if (read_i32(r, &tag, "constant tag"))
		return -1;
	switch (tag) {
	case FFI_TENSOR:
		return parse_tensor(r, out);
	case FFI_SHAPE: {
		size_t ndim;
		if (read_count(r, 8, &ndim, "shape constant"))
			return -1;
		int64_t *dims = xcalloc(ndim ? ndim : 1, sizeof(int64_t));
		for (size_t i = 0; i < ndim; i++)
			read_i64(r, &dims[i], "shape constant"); /* cannot fail: count checked */
		*out = ffi_any_object(&ffi_shape_new(dims, ndim)->header);
		free(dims);
		return 0;
	}
	case FFI_STR: {
		const char *s;
		size_t n;
		if (read_str(r, &s, &n, "string constant"))
			return -1;
		*out = ffi_any_object(&ffi_str_new(s, n)->header);
		return 0;
	}
	case FFI_INT: {
		int64_t v;
		if (read_i64(r, &v, "int constant"))
			return -1;
		*out = ffi_any_int(v);
		return 0;
	}
	case FFI_FLOAT: {
		uint64_t bits;
		if (read_u64(r, &bits, "float constant"))
			return -1;
		double d;
		memcpy(&d, &bits, sizeof d);
		*out = ffi_any_float(d);
		return 0;
	}
	case FFI_DATATYPE: {
		TVMFFIAny v = {.type_index = FFI_DATATYPE};
		if (parse_dtype(r, &v.v_dtype, "dtype constant"))
			return -1;
		*out = v;
		return 0;
	}
	default:
		return bad("constant pool entry has unknown tag %d (this runtime reads the tags of "
			   "TVM >= 0.21: 70, 69, 65, 1, 3, 5)",
			   tag);
	}
}

/* ---- instructions ---- */

/* Words taken by the instruction starting at words[at], or -1 if it does not fit. */
static int64_t instr_length(const vm_executable_t *exec, size_t k)
{
	int64_t at = exec->instr_offsets[k];
	size_t left = exec->num_words - (size_t)at;
	switch (exec->words[at]) {
	case VM_OP_CALL: {
		if (left < 4)
			return -1;
		int64_t n = exec->words[at + 3];
		if (n < 0 || (uint64_t)n > left - 4)
			return -1;
		return 4 + n;
	}
	case VM_OP_RET:
	case VM_OP_GOTO:
		return left < 2 ? -1 : 2;
	case VM_OP_IF:
		return left < 3 ? -1 : 3;
	default:
		return -2;
	}
}

static int check_reg(const vm_func_info_t *f, size_t k, int64_t reg, const char *what)
{
	if ((reg >= 0 && reg < f->register_file_size) || reg == VM_REG_VOID || reg == VM_REG_VM)
		return 0;
	return bad("instruction %zu of '%s': %s register %lld is outside its %lld registers", k,
		   f->name, what, (long long)reg, (long long)f->register_file_size);
}

static int check_instr(const vm_executable_t *exec, const vm_func_info_t *f, size_t k)
{
	const int64_t *w = exec->words + exec->instr_offsets[k];
	switch (w[0]) {
	case VM_OP_CALL:
		if (check_reg(f, k, w[1], "destination"))
			return -1;
		if (w[1] == VM_REG_VM)
			return bad("instruction %zu of '%s' writes the vm register", k, f->name);
		if (w[2] < 0 || (uint64_t)w[2] >= exec->num_funcs)
			return bad("instruction %zu of '%s' calls function %lld of %zu", k, f->name,
				   (long long)w[2], exec->num_funcs);
		for (int64_t i = 0; i < w[3]; i++) {
			int kind;
			int64_t v;
			vm_arg_decode(w[4 + i], &kind, &v);
			switch (kind) {
			case VM_ARG_REGISTER:
				if (check_reg(f, k, v, "argument"))
					return -1;
				break;
			case VM_ARG_IMMEDIATE:
				break;
			case VM_ARG_CONSTANT:
				if (v < 0 || (uint64_t)v >= exec->num_constants)
					return bad("instruction %zu of '%s' uses constant %lld of %zu", k,
						   f->name, (long long)v, exec->num_constants);
				break;
			case VM_ARG_FUNCTION:
				if (v < 0 || (uint64_t)v >= exec->num_funcs)
					return bad("instruction %zu of '%s' passes function %lld of %zu", k,
						   f->name, (long long)v, exec->num_funcs);
				break;
			default:
				return bad("instruction %zu of '%s' has argument kind %d", k, f->name,
					   kind);
			}
		}
		return 0;
	case VM_OP_RET:
		return check_reg(f, k, w[1], "result");
	case VM_OP_GOTO:
	case VM_OP_IF: {
		if (w[0] == VM_OP_IF && check_reg(f, k, w[1], "condition"))
			return -1;
		int64_t off = w[0] == VM_OP_GOTO ? w[1] : w[2];
		/* Relax has no loops: the compiler only jumps forward (§2.6). Refusing backward
		 * jumps also means no uploaded executable can spin forever inside one frame. */
		if (off <= 0 || off > f->end_instr - (int64_t)k - 1)
			return bad("instruction %zu of '%s' jumps by %lld, outside (%zu, %lld)", k,
				   f->name, (long long)off, k, (long long)f->end_instr);
		return 0;
	}
	}
	return bad("instruction %zu has opcode %lld", k, (long long)w[0]);
}

static int range_cmp(const void *a, const void *b)
{
	const vm_func_info_t *x = *(vm_func_info_t *const *)a, *y = *(vm_func_info_t *const *)b;
	return x->start_instr < y->start_instr ? -1 : x->start_instr > y->start_instr;
}

static int validate(vm_executable_t *exec)
{
	if (check_unique_names(exec))
		return -1;
	/* Instruction layout: increasing offsets, each instruction inside the word array. */
	for (size_t k = 0; k < exec->num_instrs; k++) {
		int64_t at = exec->instr_offsets[k];
		if (at < 0 || (uint64_t)at >= exec->num_words)
			return bad("instruction %zu starts at word %lld of %zu", k, (long long)at,
				   exec->num_words);
		if (k > 0 && at <= exec->instr_offsets[k - 1])
			return bad("instruction offsets are not increasing at %zu", k);
		int64_t len = instr_length(exec, k);
		if (len == -2)
			return bad("instruction %zu has opcode %lld", k, (long long)exec->words[at]);
		if (len < 0)
			return bad("instruction %zu runs past the end of the instruction words", k);
		if (k + 1 < exec->num_instrs && exec->instr_offsets[k + 1] < at + len &&
		    exec->instr_offsets[k + 1] > at)
			return bad("instruction %zu overlaps instruction %zu", k, k + 1);
	}
	/* Bytecode functions: sane headers and disjoint ranges, so each instruction belongs to
	 * at most one function and is checked against that function's register file. */
	vm_func_info_t **bytecode = xcalloc(exec->num_funcs, sizeof *bytecode);
	size_t nb = 0;
	int rc = 0;
	for (size_t i = 0; i < exec->num_funcs && !rc; i++) {
		vm_func_info_t *f = &exec->funcs[i];
		if (f->kind == VM_FUNC_PACKED)
			continue;
		if (f->num_args < 0 || f->num_args > INT32_MAX)
			rc = bad("function '%s' has %lld arguments", f->name, (long long)f->num_args);
		else if (f->num_param_names != 0 && f->num_param_names != (uint64_t)f->num_args)
			rc = bad("function '%s' has %lld arguments but %zu parameter names", f->name,
				 (long long)f->num_args, f->num_param_names);
		else if (f->register_file_size < f->num_args)
			rc = bad("function '%s' has %lld registers for %lld arguments", f->name,
				 (long long)f->register_file_size, (long long)f->num_args);
		if (rc || f->kind != VM_FUNC_BYTECODE)
			continue;
		if (f->start_instr < 0 || f->start_instr >= f->end_instr ||
		    (uint64_t)f->end_instr > exec->num_instrs)
			rc = bad("function '%s' spans instructions [%lld, %lld) of %zu", f->name,
				 (long long)f->start_instr, (long long)f->end_instr, exec->num_instrs);
		/* The compiler gives one register per parameter and per distinct destination, so
		 * a larger file can only come from a hostile file wanting a huge allocation. */
		else if (f->register_file_size - f->num_args > f->end_instr - f->start_instr)
			rc = bad("function '%s' asks for %lld registers but has %lld instructions",
				 f->name, (long long)f->register_file_size,
				 (long long)(f->end_instr - f->start_instr));
		else
			bytecode[nb++] = f;
	}
	if (!rc) {
		qsort(bytecode, nb, sizeof *bytecode, range_cmp);
		for (size_t i = 1; i < nb && !rc; i++)
			if (bytecode[i]->start_instr < bytecode[i - 1]->end_instr)
				rc = bad("functions '%s' and '%s' share instructions",
					 bytecode[i - 1]->name, bytecode[i]->name);
	}
	for (size_t i = 0; i < nb && !rc; i++) {
		const vm_func_info_t *f = bytecode[i];
		for (int64_t k = f->start_instr; k < f->end_instr && !rc; k++)
			rc = check_instr(exec, f, (size_t)k);
	}
	free(bytecode);
	return rc;
}

static int parse_body(reader_t *r, vm_executable_t *exec)
{
	if (read_u64(r, &exec->magic, "magic"))
		return -1;
	if (exec->magic != VM_EXECUTABLE_MAGIC_V1 && exec->magic != VM_EXECUTABLE_MAGIC_V2)
		return bad("bad magic 0x%016llx (not a Relax VM executable)",
			   (unsigned long long)exec->magic);
	const char *ver;
	size_t ver_len;
	if (read_str(r, &ver, &ver_len, "version"))
		return -1;
	if (ver_len != strlen(VM_EXECUTABLE_VERSION) || memcmp(ver, VM_EXECUTABLE_VERSION, ver_len))
		return bad("version '%.*s' is not the supported \"" VM_EXECUTABLE_VERSION "\"",
			   (int)(ver_len > 32 ? 32 : ver_len), ver);

	/* A FuncInfo takes at least 4 + 8 + 5 * 8 = 52 bytes. */
	size_t n;
	if (read_count(r, 52, &n, "function table"))
		return -1;
	exec->funcs = xcalloc(n, sizeof *exec->funcs);
	for (size_t i = 0; i < n; i++) {
		exec->num_funcs = i + 1;
		if (parse_func(r, &exec->funcs[i]))
			return -1;
	}

	if (exec->magic == VM_EXECUTABLE_MAGIC_V2) {
		size_t nscopes;
		if (read_count(r, 16, &nscopes, "memory scopes"))
			return -1;
		for (size_t i = 0; i < nscopes; i++) {
			int64_t idx;
			const char *scope;
			size_t len;
			if (read_i64(r, &idx, "memory scope index") ||
			    read_str(r, &scope, &len, "memory scope"))
				return -1;
			if (len != 0 && !(len == 6 && memcmp(scope, "global", 6) == 0))
				return bad("constant %lld uses memory scope '%.*s'; this runtime only "
					   "supports \"global\" memory",
					   (long long)idx, (int)(len > 64 ? 64 : len), scope);
		}
	}

	/* A constant record takes at least 4 + 4 bytes (tag + dtype). */
	if (read_count(r, 8, &n, "constant pool"))
		return -1;
	exec->constants = xcalloc(n, sizeof *exec->constants);
	for (size_t i = 0; i < n; i++) {
		if (parse_constant(r, &exec->constants[i]))
			return -1;
		exec->num_constants = i + 1;
	}

	if (read_count(r, 8, &n, "instruction offsets"))
		return -1;
	exec->instr_offsets = xcalloc(n, sizeof(int64_t));
	exec->num_instrs = n;
	for (size_t i = 0; i < n; i++)
		read_i64(r, &exec->instr_offsets[i], "instruction offsets");
	if (read_count(r, 8, &n, "instruction words"))
		return -1;
	exec->words = xcalloc(n, sizeof(int64_t));
	exec->num_words = n;
	for (size_t i = 0; i < n; i++)
		read_i64(r, &exec->words[i], "instruction words");
	/* Trailing bytes are ignored, as the reference does. */
	return validate(exec);
}

int vm_executable_parse(const uint8_t *data, size_t size, vm_executable_t **out)
{
	*out = NULL;
	reader_t r;
	byte_reader_init(&r, data, size);
	vm_executable_t *exec = xcalloc(1, sizeof *exec);
	if (!data && size) {
		ffi_error_set("ValueError", "Relax executable: no data");
		free(exec);
		return -1;
	}
	if (parse_body(&r, exec)) {
		vm_executable_free(exec);
		return -1;
	}
	exec->serialized = xmalloc(size ? size : 1);
	if (size)
		memcpy(exec->serialized, data, size);
	exec->serialized_size = size;
	*out = exec;
	return 0;
}

int64_t vm_executable_find(const vm_executable_t *exec, const char *name)
{
	for (size_t i = 0; i < exec->num_funcs; i++)
		if (strcmp(exec->funcs[i].name, name) == 0)
			return (int64_t)i;
	return -1;
}

/* ---- listing ---- */

typedef struct text_buf {
	char *data;
	size_t len, cap;
} text_buf_t;

static void text_add(text_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void text_reg(text_buf_t *b, int64_t reg)
{
	if (reg == VM_REG_VOID)
		text_add(b, "%%void");
	else if (reg == VM_REG_VM)
		text_add(b, "%%vm");
	else
		text_add(b, "%%%lld", (long long)reg);
}

char *vm_executable_text(const vm_executable_t *exec)
{
	text_buf_t b = {xcalloc(1, 256), 0, 256};
	for (size_t i = 0; i < exec->num_funcs; i++) {
		const vm_func_info_t *f = &exec->funcs[i];
		if (f->kind != VM_FUNC_BYTECODE)
			continue;
		text_add(&b, "@%s:\n", f->name);
		for (int64_t k = f->start_instr; k < f->end_instr; k++) {
			const int64_t *w = exec->words + exec->instr_offsets[k];
			switch (w[0]) {
			case VM_OP_CALL:
				text_add(&b, "  call  %-28s in: ", exec->funcs[w[2]].name);
				for (int64_t a = 0; a < w[3]; a++) {
					int kind;
					int64_t v;
					vm_arg_decode(w[4 + a], &kind, &v);
					if (a)
						text_add(&b, ", ");
					if (kind == VM_ARG_REGISTER)
						text_reg(&b, v);
					else if (kind == VM_ARG_IMMEDIATE)
						text_add(&b, "i%lld", (long long)v);
					else if (kind == VM_ARG_CONSTANT)
						text_add(&b, "c[%lld]", (long long)v);
					else
						text_add(&b, "f[%s]", exec->funcs[v].name);
				}
				text_add(&b, " dst: ");
				text_reg(&b, w[1]);
				text_add(&b, "\n");
				break;
			case VM_OP_RET:
				text_add(&b, "  ret   ");
				text_reg(&b, w[1]);
				text_add(&b, "\n");
				break;
			case VM_OP_GOTO:
				text_add(&b, "  goto  %lld\n", (long long)w[1]);
				break;
			case VM_OP_IF:
				text_add(&b, "  If    ");
				text_reg(&b, w[1]);
				text_add(&b, ", %lld\n", (long long)w[2]);
				break;
			}
		}
		text_add(&b, "\n");
	}
	return b.data;
}
