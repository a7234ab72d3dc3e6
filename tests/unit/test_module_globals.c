/* Unit tests for the module and registry globals (ffi_globals_module.c), the module kinds
 * behind them (static_library and relax executable files in module_file.c, const_loader in
 * module_const_loader.c) and the rpc.* globals that need no far server (rpc_globals.c):
 * results, reference counts, and every bad-input path, called through the registry as the
 * session does. Multi-hop sessions are covered end to end in tests/e2e/test_multihop.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "native_fixture.h"
#include "runtime/ffi.h"
#include "runtime/module_library.h"
#include "global_call_util.h"

/* ---- helpers ---- */

static char tmp_dir[256];

static TVMFFIAny raw(const char *s)
{
	TVMFFIAny v = {.type_index = FFI_RAW_STR};
	v.v_c_str = s;
	return v;
}

/* A string result compared and released. */
static void ok_str(const char *name, const TVMFFIAny *args, int32_t n, const char *want)
{
	TVMFFIAny rv = ok(name, args, n);
	const char *s = ffi_any_as_str(&rv, NULL);
	if (!s)
		fail_msg("%s returned type index %d, not a string", name, rv.type_index);
	assert_string_equal(s, want);
	ffi_any_release(&rv);
}

static TVMFFIAny mod_arg(ffi_module_t *m)
{
	return ffi_any_object(&m->header); /* borrowed: not released by the caller */
}

static ffi_module_t *load_fixture(const char *name)
{
	char rel[128], path[PATH_MAX];
	snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
	assert_non_null(realpath(rel, path));
	ffi_module_t *m = module_library_load(path);
	if (!m)
		fail_msg("loading %s: %s", path, ffi_error_message());
	return m;
}

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, size, f), size);
	fclose(f);
}

static void tmp_path(const char *name, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/%s", tmp_dir, name) >= size)
		fail_msg("path too long");
}

/* Three-way lookup arguments (module, name, query_imports). */
static void lookup(TVMFFIAny *args, ffi_module_t *m, const char *name, int query)
{
	args[0] = mod_arg(m);
	args[1] = raw(name);
	args[2] = ffi_any_bool(query);
}

/* ---- a library with metadata and doc symbols, built with cc ---- */

static const char hello_source[] =
	"#include <stdint.h>\n#include <string.h>\n"
	"typedef struct { int32_t t; uint32_t n; union { int64_t v; char b[8]; }; } any_t;\n"
	"static int s(any_t *o, const char *x)\n"
	"{ o->t = 11; o->n = strlen(x); memset(o->b, 0, 8); memcpy(o->b, x, o->n); return 0; }\n"
	"int __tvm_ffi_hello(void *a, const any_t *b, int32_t n, any_t *o)\n"
	"{ (void)a; (void)b; o->t = 1; o->n = 0; o->v = 40 + n; return 0; }\n"
	"int __tvm_ffi__metadata_hello(void *a, const any_t *b, int32_t n, any_t *o)\n"
	"{ (void)a; (void)b; (void)n; return s(o, \"{}\"); }\n"
	"int __tvm_ffi__doc_hello(void *a, const any_t *b, int32_t n, any_t *o)\n"
	"{ (void)a; (void)b; (void)n; return s(o, \"doc\"); }\n"
	"int __tvm_ffi__doc_number(void *a, const any_t *b, int32_t n, any_t *o)\n"
	"{ (void)a; (void)b; (void)n; o->t = 1; o->v = 7; return 0; }\n"
	"void TVMFFIErrorSetRaisedFromCStr(const char *, const char *);\n"
	"int __tvm_ffi__metadata_broken(void *a, const any_t *b, int32_t n, any_t *o)\n"
	"{ (void)a; (void)b; (void)n; (void)o;\n"
	"  TVMFFIErrorSetRaisedFromCStr(\"ValueError\", \"no metadata today\"); return -1; }\n";

static ffi_module_t *build_hello(void)
{
	char src[PATH_MAX], so[PATH_MAX], cmd[3 * PATH_MAX];
	tmp_path("hello.c", src, sizeof src);
	tmp_path("hello.so", so, sizeof so);
	write_file(src, hello_source, strlen(hello_source));
	snprintf(cmd, sizeof cmd, "cc -shared -fPIC -o '%s' '%s'", so, src);
	assert_int_equal(system(cmd), 0);
	ffi_module_t *m = module_library_load(so);
	if (!m)
		fail_msg("loading hello.so: %s", ffi_error_message());
	return m;
}

/* ---- kinds and properties ---- */

static void test_library_kind_mask_formats_source(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	ffi_module_t *m = load_fixture("add_one.so");
	TVMFFIAny a[2] = {mod_arg(m), raw("asm")};
	ok_str("ffi.ModuleGetKind", a, 1, "library");
	assert_int_equal(ok_int("ffi.ModuleGetPropertyMask", a, 1), 3);
	TVMFFIAny formats = ok("ffi.ModuleGetWriteFormats", a, 1);
	assert_int_equal(formats.type_index, FFI_ARRAY);
	assert_int_equal(((ffi_array_t *)formats.v_obj)->size, 0);
	ffi_any_release(&formats);
	ok_str("ffi.ModuleInspectSource", a, 2, "");
	/* Arity and types, as TVM's typed signatures check them. */
	fails("ffi.ModuleGetKind", a, 0, "TypeError");
	fails("ffi.ModuleGetKind", a, 2, "TypeError");
	TVMFFIAny not_mod = ffi_any_int(3);
	fails("ffi.ModuleGetKind", &not_mod, 1, "TypeError");
	fails("ffi.ModuleGetPropertyMask", &a[1], 1, "TypeError");
	fails("ffi.ModuleInspectSource", a, 1, "TypeError");
	TVMFFIAny bad_format[2] = {mod_arg(m), ffi_any_int(1)};
	fails("ffi.ModuleInspectSource", bad_format, 2, "TypeError");
	fails("ffi.ModuleWriteToFile", a, 2, "TypeError");
	TVMFFIAny write[3] = {mod_arg(m), raw("/nonexistent/out.so"), raw("so")};
	fails("ffi.ModuleWriteToFile", write, 3, "RuntimeError");
	assert_int_equal(ffi_object_refcount(&m->header), 1);
	ffi_object_release(&m->header);
}

static void test_lookup_and_imports(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	ffi_module_t *a = load_fixture("add_one.so"), *m = load_fixture("matmul.so");
	TVMFFIAny args[3];
	lookup(args, a, "matmul", 1);
	assert_false(ok_int("ffi.ModuleImplementsFunction", args, 3));
	TVMFFIAny pair[2] = {mod_arg(a), mod_arg(m)};
	ok("ffi.ModuleImportModule", pair, 2);
	assert_int_equal(ffi_object_refcount(&m->header), 2);
	assert_true(ok_int("ffi.ModuleImplementsFunction", args, 3));
	TVMFFIAny fn = ok("ffi.ModuleGetFunction", args, 3);
	assert_int_equal(fn.type_index, FFI_FUNCTION);
	ffi_any_release(&fn);
	lookup(args, a, "matmul", 0);
	assert_false(ok_int("ffi.ModuleImplementsFunction", args, 3));
	fn = ok("ffi.ModuleGetFunction", args, 3);
	assert_int_equal(fn.type_index, FFI_NONE);
	/* Cycles, including importing oneself, are refused and change nothing. */
	TVMFFIAny back[2] = {mod_arg(m), mod_arg(a)}, self[2] = {mod_arg(a), mod_arg(a)};
	fails("ffi.ModuleImportModule", back, 2, "RuntimeError");
	fails("ffi.ModuleImportModule", self, 2, "RuntimeError");
	fails("tvm.rpc.server.ImportModule", back, 2, "RuntimeError");
	assert_int_equal(a->num_imports, 1);
	TVMFFIAny bad[2] = {mod_arg(a), ffi_any_int(5)};
	fails("ffi.ModuleImportModule", bad, 2, "TypeError");
	fails("ffi.ModuleImportModule", pair, 1, "TypeError");
	lookup(args, a, "matmul", 1);
	fails("ffi.ModuleGetFunction", args, 2, "TypeError");
	args[1] = ffi_any_int(1);
	fails("ffi.ModuleImplementsFunction", args, 3, "TypeError");
	/* Clearing drops the import's reference. */
	ok("ffi.ModuleClearImports", pair, 1);
	assert_int_equal(a->num_imports, 0);
	assert_int_equal(ffi_object_refcount(&m->header), 1);
	lookup(args, a, "matmul", 1);
	assert_false(ok_int("ffi.ModuleImplementsFunction", args, 3));
	fails("ffi.ModuleClearImports", pair, 0, "TypeError");
	ffi_object_release(&a->header);
	ffi_object_release(&m->header);
}

static void test_metadata_and_doc_symbols(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	ffi_module_t *h = build_hello(), *parent = load_fixture("add_one.so");
	TVMFFIAny args[3];
	lookup(args, h, "hello", 0);
	ok_str("ffi.ModuleGetFunctionMetadata", args, 3, "{}");
	ok_str("ffi.ModuleGetFunctionDoc", args, 3, "doc");
	TVMFFIAny fn = ok("ffi.ModuleGetFunction", args, 3);
	TVMFFIAny two[2] = {ffi_any_int(1), ffi_any_int(2)}, rv;
	assert_int_equal(ffi_function_call((ffi_function_t *)fn.v_obj, two, 2, &rv), 0);
	assert_int_equal(rv.v_int64, 42);
	ffi_any_release(&fn);
	lookup(args, h, "missing", 1);
	assert_int_equal(ok("ffi.ModuleGetFunctionMetadata", args, 3).type_index, FFI_NONE);
	assert_int_equal(ok("ffi.ModuleGetFunctionDoc", args, 3).type_index, FFI_NONE);
	/* A getter that does not return a string, or fails: the error reaches the caller. */
	lookup(args, h, "number", 0);
	fails("ffi.ModuleGetFunctionDoc", args, 3, "TypeError");
	lookup(args, h, "broken", 0);
	fails("ffi.ModuleGetFunctionMetadata", args, 3, "ValueError");
	/* Through an import only with query_imports. */
	TVMFFIAny pair[2] = {mod_arg(parent), mod_arg(h)};
	ok("ffi.ModuleImportModule", pair, 2);
	lookup(args, parent, "hello", 1);
	ok_str("ffi.ModuleGetFunctionDoc", args, 3, "doc");
	lookup(args, parent, "hello", 0);
	assert_int_equal(ok("ffi.ModuleGetFunctionDoc", args, 3).type_index, FFI_NONE);
	/* A very long name is simply absent. */
	char long_name[4000];
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	lookup(args, parent, long_name, 1);
	assert_int_equal(ok("ffi.ModuleGetFunctionMetadata", args, 3).type_index, FFI_NONE);
	ffi_object_release(&parent->header);
	ffi_object_release(&h->header);
}

static void test_module_globals_keep_alive(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	ffi_module_t *m = load_fixture("add_one.so");
	TVMFFIAny a = mod_arg(m);
	ok("ffi.ModuleGlobalsAdd", &a, 1);
	ok("ffi.ModuleGlobalsAdd", &a, 1); /* a set: one reference */
	assert_int_equal(ffi_object_refcount(&m->header), 2);
	ok("ffi.ModuleGlobalsRemove", &a, 1);
	assert_int_equal(ffi_object_refcount(&m->header), 1);
	ok("ffi.ModuleGlobalsRemove", &a, 1); /* absent: no-op */
	assert_int_equal(ffi_object_refcount(&m->header), 1);
	TVMFFIAny s = raw("m");
	fails("ffi.ModuleGlobalsAdd", &s, 1, "TypeError");
	fails("ffi.ModuleGlobalsRemove", &a, 0, "TypeError");
	ffi_object_release(&m->header);
}

/* ---- files ---- */

static char seen_path[PATH_MAX], seen_format[32];
static int loader_returns_module = 1;

static int fake_loader(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv)
{
	(void)self;
	assert_int_equal(n, 2);
	snprintf(seen_path, sizeof seen_path, "%s", ffi_any_as_str(&args[0], NULL));
	snprintf(seen_format, sizeof seen_format, "%s", ffi_any_as_str(&args[1], NULL));
	if (!loader_returns_module) {
		*rv = ffi_any_int(1);
		return 0;
	}
	*rv = ffi_any_object(&load_fixture("add_one.so")->header);
	return 0;
}

static void test_load_from_file_picks_the_loader(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	ffi_registry_put_call("ffi.Module.load_from_file.fakefmt", fake_loader);
	TVMFFIAny a = raw("/some/where/lib.v1.fakefmt");
	TVMFFIAny m = ok("ffi.ModuleLoadFromFile", &a, 1);
	assert_int_equal(m.type_index, FFI_MODULE);
	ffi_any_release(&m);
	assert_string_equal(seen_path, "/some/where/lib.v1.fakefmt");
	assert_string_equal(seen_format, "fakefmt");
	loader_returns_module = 0;
	fails("ffi.ModuleLoadFromFile", &a, 1, "TypeError");
	loader_returns_module = 1;
	assert_true(ffi_registry_remove("ffi.Module.load_from_file.fakefmt"));
	/* dll, dylib and dso mean so. */
	char path[PATH_MAX], copy[PATH_MAX];
	assert_non_null(realpath("tests/fixtures/add_one.so", path));
	tmp_path("add_one.dylib", copy, sizeof copy);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
	assert_int_equal(system(cmd), 0);
	a = raw(copy);
	m = ok("ffi.ModuleLoadFromFile", &a, 1);
	assert_int_equal(m.type_index, FFI_MODULE);
	ffi_any_release(&m);
	a = raw("no_extension");
	fails("ffi.ModuleLoadFromFile", &a, 1, "RuntimeError");
	a = raw("/x/file.unknownformat");
	fails("ffi.ModuleLoadFromFile", &a, 1, "RuntimeError");
	a = ffi_any_int(1);
	fails("ffi.ModuleLoadFromFile", &a, 1, "TypeError");
	fails("ffi.ModuleLoadFromFile", &a, 0, "TypeError");
}

static ffi_module_t *static_library(const char *file, const char *const *names, int count)
{
	TVMFFIAny items[4];
	for (int i = 0; i < count; i++)
		items[i] = raw(names[i]);
	TVMFFIAny arr = ok("ffi.Array", items, count);
	TVMFFIAny args[2] = {raw(file), arr};
	TVMFFIAny m = ok("runtime.ModuleLoadStaticLibrary", args, 2);
	ffi_any_release(&arr);
	return (ffi_module_t *)m.v_obj;
}

static void test_static_library(void **state)
{
	(void)state;
	char obj[PATH_MAX], out[PATH_MAX];
	tmp_path("k.o", obj, sizeof obj);
	tmp_path("k_copy.o", out, sizeof out);
	write_file(obj, "\x7f" "ELF object bytes", 17);
	static const char *const names[] = {"f1", "f2"};
	ffi_module_t *lib = static_library(obj, names, 2);
	TVMFFIAny a[3] = {mod_arg(lib)};
	ok_str("ffi.ModuleGetKind", a, 1, "static_library");
	assert_int_equal(ok_int("ffi.ModuleGetPropertyMask", a, 1), 5);
	TVMFFIAny args[3];
	lookup(args, lib, "f2", 0);
	assert_true(ok_int("ffi.ModuleImplementsFunction", args, 3));
	lookup(args, lib, "get_func_names", 0);
	assert_false(ok_int("ffi.ModuleImplementsFunction", args, 3)); /* only listed names */
	TVMFFIAny fn = ok("ffi.ModuleGetFunction", args, 3), got;
	assert_int_equal(ffi_function_call((ffi_function_t *)fn.v_obj, NULL, 0, &got), 0);
	assert_int_equal(((ffi_array_t *)got.v_obj)->size, 2);
	ffi_any_release(&got);
	ffi_any_release(&fn);
	a[1] = raw(out);
	a[2] = raw("o");
	ok("ffi.ModuleWriteToFile", a, 3);
	char back[64] = {0};
	FILE *f = fopen(out, "rb");
	assert_non_null(f);
	assert_int_equal(fread(back, 1, sizeof back, f), 17);
	fclose(f);
	assert_memory_equal(back, "\x7f" "ELF object bytes", 17);
	/* Bad arguments: arity, not an Array, an Array of non-strings, a missing file. */
	TVMFFIAny bad[2] = {raw(obj), ffi_any_int(3)};
	fails("runtime.ModuleLoadStaticLibrary", bad, 1, "TypeError");
	fails("runtime.ModuleLoadStaticLibrary", bad, 2, "TypeError");
	TVMFFIAny ints[1] = {ffi_any_int(1)};
	bad[1] = ok("ffi.Array", ints, 1);
	fails("runtime.ModuleLoadStaticLibrary", bad, 2, "TypeError");
	ffi_any_release(&bad[1]);
	TVMFFIAny empty = ok("ffi.Array", NULL, 0);
	bad[0] = raw("/nonexistent/k.o");
	bad[1] = empty;
	fails("runtime.ModuleLoadStaticLibrary", bad, 2, "InternalError");
	ffi_any_release(&empty);
	ffi_object_release(&lib->header);
}

static void test_static_library_blob_bad_input(void **state)
{
	(void)state;
	uint8_t blob[64];
	size_t len = 0;
	uint64_t v = 3;
	memcpy(blob + len, &v, 8), len += 8;
	memcpy(blob + len, "abc", 3), len += 3;
	v = 1;
	memcpy(blob + len, &v, 8), len += 8;
	v = 2;
	memcpy(blob + len, &v, 8), len += 8;
	memcpy(blob + len, "fn", 2), len += 2;
	TVMFFIByteArray ba = {(const char *)blob, len};
	TVMFFIAny a = {.type_index = FFI_BYTE_ARRAY_PTR};
	a.v_ptr = &ba;
	TVMFFIAny m = ok("ffi.Module.load_from_bytes.static_library", &a, 1);
	TVMFFIAny args[3];
	lookup(args, (ffi_module_t *)m.v_obj, "fn", 0);
	assert_true(ok_int("ffi.ModuleImplementsFunction", args, 3));
	ffi_any_release(&m);
	/* Every truncation fails cleanly. */
	for (size_t cut = 0; cut < len; cut++) {
		ba.size = cut;
		fails("ffi.Module.load_from_bytes.static_library", &a, 1, "InternalError");
	}
	/* Counts and lengths far beyond the bytes present allocate nothing. */
	ba.size = len;
	v = UINT64_MAX;
	memcpy(blob, &v, 8);
	fails("ffi.Module.load_from_bytes.static_library", &a, 1, "InternalError");
	v = 3;
	memcpy(blob, &v, 8);
	v = (uint64_t)1 << 60;
	memcpy(blob + 11, &v, 8);
	fails("ffi.Module.load_from_bytes.static_library", &a, 1, "InternalError");
	TVMFFIAny not_bytes = ffi_any_int(1);
	fails("ffi.Module.load_from_bytes.static_library", &not_bytes, 1, "TypeError");
	fails("ffi.Module.load_from_bytes.static_library", &a, 0, "TypeError");
}

static void test_relax_executable_file_loaders(void **state)
{
	(void)state;
	char bad[PATH_MAX];
	tmp_path("garbage.exec", bad, sizeof bad);
	write_file(bad, "not an executable at all", 24);
	TVMFFIAny a[2] = {raw(bad), raw("x")};
	TVMFFIAny rv;
	assert_int_not_equal(call("relax.ExecutableLoadFromFile", a, 1, &rv), 0);
	assert_int_not_equal(call("ffi.Module.load_from_file.relax.VMExecutable", a, 1, &rv), 0);
	fails("ffi.Module.load_from_file.relax.VMExecutable", a, 2, "TypeError");
	fails("relax.ExecutableLoadFromFile", a, 0, "TypeError");
	a[0] = raw("/nonexistent/x.exec");
	fails("relax.ExecutableLoadFromFile", a, 1, "InternalError");
	a[0] = ffi_any_int(2);
	fails("relax.ExecutableLoadFromFile", a, 1, "TypeError");
	tmp_path("", bad, sizeof bad); /* a directory */
	a[0] = raw(bad);
	fails("relax.ExecutableLoadFromFile", a, 1, "InternalError");
}

/* ---- registry ---- */

static void name_count(const char *name, void *arg)
{
	(void)name;
	(*(int *)arg)++;
}

static void test_names_functor(void **state)
{
	(void)state;
	int n = 0;
	ffi_registry_foreach(name_count, &n);
	TVMFFIAny functor = ok("ffi.FunctionListGlobalNamesFunctor", NULL, 0);
	ffi_function_t *f = (ffi_function_t *)functor.v_obj;
	TVMFFIAny arg = ffi_any_int(-1), rv;
	assert_int_equal(ffi_function_call(f, &arg, 1, &rv), 0);
	assert_int_equal(rv.v_int64, n);
	int found = 0;
	for (int i = 0; i < n; i++) {
		arg = ffi_any_int(i);
		assert_int_equal(ffi_function_call(f, &arg, 1, &rv), 0);
		const char *s = ffi_any_as_str(&rv, NULL);
		assert_non_null(s);
		found += strcmp(s, "ffi.ModuleGetKind") == 0;
		ffi_any_release(&rv);
	}
	assert_int_equal(found, 1);
	arg = ffi_any_int(n);
	assert_int_not_equal(ffi_function_call(f, &arg, 1, &rv), 0);
	assert_string_equal(ffi_error_kind(), "IndexError");
	arg = raw("0");
	assert_int_not_equal(ffi_function_call(f, &arg, 1, &rv), 0);
	assert_string_equal(ffi_error_kind(), "TypeError");
	assert_int_not_equal(ffi_function_call(f, &arg, 0, &rv), 0);
	assert_string_equal(ffi_error_kind(), "TypeError");
	/* A snapshot: a later removal does not change it. */
	ffi_registry_put_call("test.temporary.global", fake_loader);
	TVMFFIAny name = raw("test.temporary.global");
	/* A global of ours alone is described as a packed function, as TVM's untyped ones. */
	ok_str("ffi.GetGlobalFuncMetadata", &name, 1,
	       "{\"type_schema\":\"{\\\"type\\\":\\\"ffi.Function\\\"}\"}");
	TVMFFIAny typed = raw("ffi.MapSize");
	ok_str("ffi.GetGlobalFuncMetadata", &typed, 1,
	       "{\"type_schema\":\"{\\\"type\\\":\\\"ffi.Function\\\",\\\"args\\\":"
	       "[{\\\"type\\\":\\\"int\\\"},{\\\"type\\\":\\\"ffi.Map\\\"}]}\"}");
	assert_true(ok_int("ffi.FunctionRemoveGlobal", &name, 1));
	assert_false(ok_int("ffi.FunctionRemoveGlobal", &name, 1));
	assert_null(ffi_registry_get("test.temporary.global"));
	fails("ffi.GetGlobalFuncMetadata", &name, 1, "RuntimeError");
	arg = ffi_any_int(-1);
	assert_int_equal(ffi_function_call(f, &arg, 1, &rv), 0);
	assert_int_equal(rv.v_int64, n);
	ffi_any_release(&functor);
	fails("ffi.FunctionListGlobalNamesFunctor", &arg, 1, "TypeError");
	fails("ffi.FunctionRemoveGlobal", &arg, 1, "TypeError");
	fails("ffi.GetGlobalFuncMetadata", &arg, 0, "TypeError");
	/* Raw code addresses from a client are never called. */
	TVMFFIAny ptrs[3] = {ffi_any_ptr(NULL), ffi_any_ptr((void *)0x1234), ffi_any_ptr(NULL)};
	fails("ffi.FunctionFromExternC", ptrs, 3, "RuntimeError");
	assert_non_null(strstr(ffi_error_message(), "not supported"));
}

/* ---- const_loader ---- */

static int init_calls, init_result;
static size_t init_count;

static int init_fn(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv)
{
	(void)self;
	assert_int_equal(n, 1);
	assert_int_equal(args[0].type_index, FFI_ARRAY);
	const ffi_array_t *arr = (const ffi_array_t *)args[0].v_obj;
	init_count = arr->size;
	for (size_t i = 0; i < arr->size; i++)
		assert_int_equal(arr->items[i].type_index, FFI_TENSOR);
	init_calls++;
	*rv = ffi_any_int(init_result);
	return 0;
}

static int kernel_fn(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *rv)
{
	(void)self, (void)args, (void)n;
	*rv = ffi_any_int(99);
	return 0;
}

static ffi_function_t *byoc_get_function(ffi_module_t *self, const char *name)
{
	if (strcmp(name, "__init_f0") == 0)
		return ffi_function_new(init_fn, NULL, NULL, &self->header);
	if (strcmp(name, "f0") == 0)
		return ffi_function_new(kernel_fn, NULL, NULL, &self->header);
	return NULL;
}

static const ffi_module_vtable_t byoc_vtable = {.kind = "test_byoc",
						.get_function = byoc_get_function};

static TVMFFIAny tensor_value(float first)
{
	int64_t shape[1] = {3};
	DLDevice cpu = {kDLCPU, 0};
	DLDataType f32 = {kDLFloat, 32, 1};
	ffi_tensor_t *t = ffi_tensor_alloc(shape, 1, f32, cpu);
	((float *)t->dl.data)[0] = first;
	return ffi_any_object(&t->header);
}

static void test_const_loader_hands_constants_to_imports(void **state)
{
	(void)state;
	TVMFFIAny kv[4] = {raw("w0"), tensor_value(1), raw("w1"), tensor_value(2)};
	TVMFFIAny tensors = ok("ffi.Map", kv, 4);
	ffi_any_release(&kv[1]);
	ffi_any_release(&kv[3]);
	TVMFFIAny vars_items[2] = {raw("w1"), raw("w0")};
	TVMFFIAny vars = ok("ffi.Array", vars_items, 2);
	TVMFFIAny sym_kv[2] = {raw("f0"), vars};
	TVMFFIAny symbols = ok("ffi.Map", sym_kv, 2);
	TVMFFIAny args[2] = {tensors, symbols};
	TVMFFIAny cl = ok("ffi.Module.create.const_loader", args, 2);
	ffi_module_t *clm = (ffi_module_t *)cl.v_obj;
	TVMFFIAny a = cl;
	ok_str("ffi.ModuleGetKind", &a, 1, "const_loader");
	assert_int_equal(ok_int("ffi.ModuleGetPropertyMask", &a, 1), 1);
	/* Without imports, any other name is an internal error, as TVM's check. (A symbol looked
	 * up then counts as initialised, as in TVM, so that is not tried with f0 here.) */
	TVMFFIAny look[3];
	lookup(look, clm, "other", 0);
	fails("ffi.ModuleGetFunction", look, 3, "InternalError");
	ffi_module_t *byoc = ffi_module_new(&byoc_vtable, NULL);
	ffi_module_import(clm, byoc);
	init_result = 0;
	lookup(look, clm, "f0", 0);
	TVMFFIAny fn = ok("ffi.ModuleGetFunction", look, 3);
	assert_int_equal(init_calls, 1);
	assert_int_equal(init_count, 2);
	ffi_any_release(&fn);
	fn = ok("ffi.ModuleGetFunction", look, 3); /* initialised once */
	assert_int_equal(init_calls, 1);
	ffi_any_release(&fn);
	lookup(look, clm, "get_const_var_tensor", 0);
	fn = ok("ffi.ModuleGetFunction", look, 3);
	TVMFFIAny map;
	assert_int_equal(ffi_function_call((ffi_function_t *)fn.v_obj, NULL, 0, &map), 0);
	assert_int_equal(ffi_map_size((ffi_map_t *)map.v_obj), 2);
	ffi_any_release(&map);
	ffi_any_release(&fn);
	lookup(look, clm, "absent", 0);
	assert_int_equal(ok("ffi.ModuleGetFunction", look, 3).type_index, FFI_NONE);
	ffi_any_release(&cl);
	/* A failing initialiser is an error; a constant nobody has is refused at creation. */
	cl = ok("ffi.Module.create.const_loader", args, 2);
	clm = (ffi_module_t *)cl.v_obj;
	ffi_module_import(clm, byoc);
	init_result = 3;
	lookup(look, clm, "f0", 0);
	fails("ffi.ModuleGetFunction", look, 3, "InternalError");
	ffi_any_release(&cl);
	TVMFFIAny missing_items[1] = {raw("w9")};
	TVMFFIAny missing = ok("ffi.Array", missing_items, 1);
	TVMFFIAny bad_kv[2] = {raw("f1"), missing};
	TVMFFIAny bad_symbols = ok("ffi.Map", bad_kv, 2);
	TVMFFIAny bad[2] = {tensors, bad_symbols};
	fails("ffi.Module.create.const_loader", bad, 2, "InternalError");
	bad[0] = symbols; /* values are not tensors */
	bad[1] = symbols;
	fails("ffi.Module.create.const_loader", bad, 2, "TypeError");
	bad[0] = tensors;
	bad[1] = tensors; /* values are not string arrays */
	fails("ffi.Module.create.const_loader", bad, 2, "TypeError");
	fails("ffi.Module.create.const_loader", bad, 1, "TypeError");
	bad[0] = ffi_any_int(1);
	fails("ffi.Module.create.const_loader", bad, 2, "TypeError");
	ffi_any_release(&bad_symbols);
	ffi_any_release(&missing);
	ffi_any_release(&symbols);
	ffi_any_release(&vars);
	ffi_any_release(&tensors);
	ffi_object_release(&byoc->header);
}

static size_t put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
	return 8;
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = put_u64(p, strlen(s));
	memcpy(p + n, s, strlen(s));
	return n + strlen(s);
}

/* One constant w0 = float32[2] {1, 2}, one symbol f0 needing it. */
static size_t const_blob(uint8_t *b)
{
	size_t n = 0;
	n += put_u64(b + n, 1);
	n += put_str(b + n, "w0");
	n += put_u64(b + n, 1);
	n += put_u64(b + n, 0xDD5E40F096B4A13FULL);
	n += put_u64(b + n, 0);
	int32_t head[3] = {1, 0, 1};
	memcpy(b + n, head, 12), n += 12;
	uint8_t dtype[4] = {kDLFloat, 32, 1, 0};
	memcpy(b + n, dtype, 4), n += 4;
	n += put_u64(b + n, 2);
	n += put_u64(b + n, 8);
	float data[2] = {1, 2};
	memcpy(b + n, data, 8), n += 8;
	n += put_u64(b + n, 1);
	n += put_str(b + n, "f0");
	n += put_u64(b + n, 1);
	n += put_u64(b + n, 1);
	n += put_str(b + n, "w0");
	return n;
}

static void test_const_loader_blob_bad_input(void **state)
{
	(void)state;
	uint8_t blob[256];
	size_t len = const_blob(blob);
	TVMFFIByteArray ba = {(const char *)blob, len};
	TVMFFIAny a = {.type_index = FFI_BYTE_ARRAY_PTR};
	a.v_ptr = &ba;
	TVMFFIAny m = ok("ffi.Module.load_from_bytes.const_loader", &a, 1);
	TVMFFIAny look[3];
	lookup(look, (ffi_module_t *)m.v_obj, "get_const_var_tensor", 0);
	TVMFFIAny fn = ok("ffi.ModuleGetFunction", look, 3), map;
	assert_int_equal(ffi_function_call((ffi_function_t *)fn.v_obj, NULL, 0, &map), 0);
	TVMFFIAny key = raw("w0");
	const TVMFFIAny *t = ffi_map_get((ffi_map_t *)map.v_obj, &key);
	assert_non_null(t);
	assert_true(((float *)((ffi_tensor_t *)t->v_obj)->dl.data)[1] == 2.0f);
	ffi_any_release(&map);
	ffi_any_release(&fn);
	ffi_any_release(&m);
	for (size_t cut = 0; cut < len; cut++) {
		ba.size = cut;
		TVMFFIAny rv;
		if (call("ffi.Module.load_from_bytes.const_loader", &a, 1, &rv) == 0)
			fail_msg("a blob cut at %zu bytes loaded", cut);
	}
	/* Every single-byte corruption either loads or fails cleanly (never crashes). */
	ba.size = len;
	for (size_t i = 0; i < len; i++) {
		uint8_t keep = blob[i];
		blob[i] ^= 0xff;
		TVMFFIAny rv;
		if (call("ffi.Module.load_from_bytes.const_loader", &a, 1, &rv) == 0)
			ffi_any_release(&rv);
		blob[i] = keep;
	}
	/* A stated tensor of 2^62 elements allocates nothing. */
	put_u64(blob + 8 + 10 + 8 + 16 + 16, (uint64_t)1 << 62);
	fails("ffi.Module.load_from_bytes.const_loader", &a, 1, "InternalError");
	TVMFFIAny i = ffi_any_int(0);
	fails("ffi.Module.load_from_bytes.const_loader", &i, 1, "TypeError");
}

/* ---- rpc.* without a far server ---- */

static void test_local_session(void **state)
{
	(void)state;
	TVMFFIAny s1 = ok("rpc.LocalSession", NULL, 0), s2 = ok("rpc.LocalSession", NULL, 0);
	ok_str("ffi.ModuleGetKind", &s1, 1, "rpc");
	assert_int_equal(ok_int("ffi.ModuleGetPropertyMask", &s1, 1), 2);
	assert_int_equal(ok_int("rpc.SessTableIndex", &s2, 1), ok_int("rpc.SessTableIndex", &s1, 1) + 1);
	TVMFFIAny look[3];
	lookup(look, (ffi_module_t *)s1.v_obj, "ffi.ModuleGetKind", 0);
	TVMFFIAny fn = ok("ffi.ModuleGetFunction", look, 3), rv;
	assert_int_equal(ffi_function_call((ffi_function_t *)fn.v_obj, &s2, 1, &rv), 0);
	assert_string_equal(ffi_any_as_str(&rv, NULL), "rpc");
	ffi_any_release(&rv);
	ffi_any_release(&fn);
	lookup(look, (ffi_module_t *)s1.v_obj, "no.such.global", 0);
	assert_int_equal(ok("ffi.ModuleGetFunction", look, 3).type_index, FFI_NONE);
	/* Importing a session module, loading without a work directory: errors, not crashes. */
	TVMFFIAny pair[2] = {s1, s2};
	fails("rpc.ImportRemoteModule", pair, 2, "ValueError");
	fails("ffi.ModuleImportModule", pair, 2, "ValueError");
	TVMFFIAny load[2] = {s1, raw("x.so")};
	assert_int_not_equal(call("rpc.LoadRemoteModule", load, 2, &rv), 0);
	/* After CloseRPCConnection the session refuses further lookups. */
	lookup(look, (ffi_module_t *)s1.v_obj, "CloseRPCConnection", 0);
	fn = ok("ffi.ModuleGetFunction", look, 3);
	assert_int_equal(ffi_function_call((ffi_function_t *)fn.v_obj, NULL, 0, &rv), 0);
	ffi_any_release(&fn);
	lookup(look, (ffi_module_t *)s1.v_obj, "ffi.String", 0);
	fails("ffi.ModuleGetFunction", look, 3, "RuntimeError");
	fails("rpc.LocalSession", &s1, 1, "TypeError");
	ffi_any_release(&s1);
	ffi_any_release(&s2);
}

static void test_rpc_globals_bad_input(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	ffi_module_t *lib = load_fixture("add_one.so");
	TVMFFIAny m = mod_arg(lib), i = ffi_any_int(1);
	fails("rpc.SessTableIndex", &m, 1, "InternalError");
	fails("rpc.SessTableIndex", &i, 1, "TypeError");
	fails("rpc.SessTableIndex", &m, 0, "TypeError");
	TVMFFIAny load[2] = {m, raw("x.so")};
	fails("rpc.LoadRemoteModule", load, 2, "InternalError");
	fails("rpc.LoadRemoteModule", load, 1, "TypeError");
	TVMFFIAny conn[5] = {raw("127.0.0.1"), ffi_any_int(1), raw("k"), ffi_any_bool(0),
			     ffi_any_float(1)};
	fails("rpc.Connect", conn, 4, "InternalError"); /* nothing listens on port 1 */
	fails("rpc.Connect", conn, 5, "TypeError");      /* a float constructor argument */
	fails("rpc.Connect", conn, 3, "TypeError");
	conn[1] = ffi_any_int(0);
	fails("rpc.Connect", conn, 4, "ValueError");
	conn[1] = raw("1");
	fails("rpc.Connect", conn, 4, "TypeError");
	/* TensorFromRemoteOpaqueHandle: the device must carry the session's mask. */
	TVMFFIAny sess = ok("rpc.LocalSession", NULL, 0);
	TVMFFIAny t = tensor_value(0);
	TVMFFIAny dev = {.type_index = FFI_DEVICE};
	dev.v_device.device_type = kDLCPU;
	TVMFFIAny tf[5] = {sess, ffi_any_ptr(NULL), t, dev, ffi_any_ptr(NULL)};
	fails("tvm.rpc.TensorFromRemoteOpaqueHandle", tf, 5, "InternalError");
	tf[0] = m;
	fails("tvm.rpc.TensorFromRemoteOpaqueHandle", tf, 5, "ValueError");
	tf[0] = sess;
	tf[3] = ffi_any_int(1);
	fails("tvm.rpc.TensorFromRemoteOpaqueHandle", tf, 5, "TypeError");
	fails("tvm.rpc.TensorFromRemoteOpaqueHandle", tf, 2, "TypeError");
	ffi_any_release(&t);
	ffi_any_release(&sess);
	/* The refused ones say why. */
	static const char *const refused[] = {"rpc.ServerLoop", "rpc.ReturnException",
					      "rpc.CreatePipeClient", "rpc.CreateEventDrivenServer",
					      "rpc.ServerCreate", "device_api.rpc"};
	for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
		fails(refused[k], &i, 1, "RuntimeError");
		assert_non_null(strstr(ffi_error_message(), "not supported on this server"));
		assert_non_null(ffi_registry_refusal(refused[k]));
	}
	ffi_object_release(&lib->header);
}

int main(void)
{
	char templ[] = "/tmp/test_module_globals.XXXXXX";
	if (!mkdtemp(templ))
		return 1;
	snprintf(tmp_dir, sizeof tmp_dir, "%s", templ);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_library_kind_mask_formats_source),
		cmocka_unit_test(test_lookup_and_imports),
		cmocka_unit_test(test_metadata_and_doc_symbols),
		cmocka_unit_test(test_module_globals_keep_alive),
		cmocka_unit_test(test_load_from_file_picks_the_loader),
		cmocka_unit_test(test_static_library),
		cmocka_unit_test(test_static_library_blob_bad_input),
		cmocka_unit_test(test_relax_executable_file_loaders),
		cmocka_unit_test(test_names_functor),
		cmocka_unit_test(test_const_loader_hands_constants_to_imports),
		cmocka_unit_test(test_const_loader_blob_bad_input),
		cmocka_unit_test(test_local_session),
		cmocka_unit_test(test_rpc_globals_bad_input),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[sizeof tmp_dir + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
