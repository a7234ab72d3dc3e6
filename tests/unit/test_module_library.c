/* Unit tests for the compiled-module loader: the real TVM fixtures (add_one.so, matmul.so) give
 * byte-identical results, the test kernels in tests/models run through every host service, load
 * errors are clear and leave the process usable, system libs, and .o/.tar linking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/ffi.h"
#include "runtime/module_library.h"
#include "runtime/module_link.h"

#include "../models/digits_testset.h"
#include "native_fixture.h"

/* ---- helpers ---- */

static char build_dir[PATH_MAX];
static char build_models[PATH_MAX / 2];

static void model_path(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.so", build_models, name);
}

static void fixture_path(const char *name, char *out, size_t size)
{
	char rel[PATH_MAX];
	snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
	assert_non_null(realpath(rel, out));
	(void)size;
}

/* A .npy file (format 1.0/2.0, little-endian f4, C order): just enough for the fixtures. */
struct npy {
	char *raw;
	float *data;
	int64_t shape[4];
	int ndim;
	size_t count;
};

static void npy_load(const char *name, struct npy *out)
{
	char path[PATH_MAX];
	fixture_path(name, path, sizeof path);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	out->raw = malloc((size_t)size + 1);
	assert_int_equal(fread(out->raw, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	out->raw[size] = '\0';
	assert_memory_equal(out->raw, "\x93NUMPY", 6);
	size_t header_len, offset;
	if (out->raw[6] == 1) {
		header_len = (unsigned char)out->raw[8] | (size_t)(unsigned char)out->raw[9] << 8;
		offset = 10;
	} else {
		header_len = (unsigned char)out->raw[8] | (size_t)(unsigned char)out->raw[9] << 8 |
			     (size_t)(unsigned char)out->raw[10] << 16;
		offset = 12;
	}
	char header[512] = {0};
	assert_true(header_len < sizeof header);
	memcpy(header, out->raw + offset, header_len);
	assert_non_null(strstr(header, "'descr': '<f4'"));
	assert_non_null(strstr(header, "'fortran_order': False"));
	const char *p = strstr(header, "'shape': (");
	assert_non_null(p);
	p += strlen("'shape': (");
	out->ndim = 0;
	out->count = 1;
	while (*p != ')') {
		char *end;
		long long dim = strtoll(p, &end, 10);
		assert_true(end != p && out->ndim < 4);
		out->shape[out->ndim++] = dim;
		out->count *= (size_t)dim;
		p = end;
		while (*p == ',' || *p == ' ')
			p++;
	}
	assert_int_equal((size_t)size - offset - header_len, out->count * sizeof(float));
	out->data = (float *)(out->raw + offset + header_len);
}

static void npy_free(struct npy *n)
{
	free(n->raw);
}

static DLTensor f32_tensor(void *data, int64_t *shape, int ndim)
{
	DLTensor t = {0};
	t.data = data;
	t.device.device_type = kDLCPU;
	t.ndim = ndim;
	t.dtype.code = kDLFloat;
	t.dtype.bits = 32;
	t.dtype.lanes = 1;
	t.shape = shape;
	return t;
}

static TVMFFIAny tensor_arg(DLTensor *t)
{
	TVMFFIAny v = {.type_index = FFI_DLTENSOR_PTR};
	v.v_ptr = t;
	return v;
}

/* Load through the registered global, as tvm.rpc.server.load_module does. */
static ffi_module_t *load_via_global(const char *path)
{
	ffi_function_t *loader = ffi_registry_get("ffi.Module.load_from_file.so");
	assert_non_null(loader);
	TVMFFIAny args[2] = {{.type_index = FFI_RAW_STR}, {.type_index = FFI_RAW_STR}};
	args[0].v_c_str = path;
	args[1].v_c_str = "so";
	TVMFFIAny rv;
	int rc = ffi_function_call(loader, args, 2, &rv);
	ffi_object_release(&loader->header);
	if (rc != 0)
		return NULL;
	assert_int_equal(rv.type_index, FFI_MODULE);
	return (ffi_module_t *)rv.v_obj;
}

static ffi_module_t *load_model(const char *name)
{
	char path[PATH_MAX];
	model_path(name, path, sizeof path);
	ffi_module_t *mod = module_library_load(path);
	if (!mod)
		fail_msg("loading %s: %s: %s", path, ffi_error_kind(), ffi_error_message());
	return mod;
}

static ffi_function_t *get_fn(ffi_module_t *mod, const char *name)
{
	ffi_function_t *fn = ffi_module_get_function(mod, name, 1);
	if (!fn)
		fail_msg("no function %s", name);
	return fn;
}

static void call_ok(ffi_function_t *fn, TVMFFIAny *args, int n)
{
	TVMFFIAny rv;
	if (ffi_function_call(fn, args, n, &rv) != 0)
		fail_msg("call failed: %s: %s", ffi_error_kind(), ffi_error_message());
	ffi_any_release(&rv);
}

static int library_is_loaded(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (h)
		dlclose(h);
	return h != NULL;
}

/* ---- the real TVM fixtures ---- */

static void test_add_one_fixture_exact(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	char path[PATH_MAX];
	fixture_path("add_one.so", path, sizeof path);
	ffi_module_t *mod = load_via_global(path);
	assert_non_null(mod);
	struct npy in, expected;
	npy_load("add_one_input.npy", &in);
	npy_load("add_one_expected.npy", &expected);
	assert_int_equal(in.count, 1024);
	float *out = aligned_alloc(64, 1024 * sizeof(float));
	int64_t shape[1] = {1024};
	DLTensor a = f32_tensor(in.data, shape, 1), b = f32_tensor(out, shape, 1);
	TVMFFIAny args[2] = {tensor_arg(&a), tensor_arg(&b)};
	const char *names[2] = {"add_one", "main"};
	for (int k = 0; k < 2; k++) {
		memset(out, 0, 1024 * sizeof(float));
		ffi_function_t *fn = get_fn(mod, names[k]);
		call_ok(fn, args, 2);
		assert_memory_equal(out, expected.data, 1024 * sizeof(float));
		ffi_object_release(&fn->header);
	}
	free(out);
	npy_free(&in);
	npy_free(&expected);
	ffi_object_release(&mod->header);
}

static void test_matmul_fixture_exact_with_tensor_objects(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	char path[PATH_MAX];
	fixture_path("matmul.so", path, sizeof path);
	ffi_module_t *mod = module_library_load(path);
	assert_non_null(mod);
	struct npy a, b, expected;
	npy_load("matmul_a.npy", &a);
	npy_load("matmul_b.npy", &b);
	npy_load("matmul_expected.npy", &expected);
	int64_t shape[2] = {64, 64};
	DLDataType f32 = {kDLFloat, 32, 1};
	DLDevice cpu = {kDLCPU, 0};
	/* Tensor objects (type 70) as well as DLTensor pointers reach the kernel. */
	ffi_tensor_t *ta = ffi_tensor_view(a.data, shape, 2, f32, cpu, NULL);
	ffi_tensor_t *tb = ffi_tensor_view(b.data, shape, 2, f32, cpu, NULL);
	ffi_tensor_t *tc = ffi_tensor_alloc(shape, 2, f32, cpu);
	TVMFFIAny args[3] = {ffi_any_object(&ta->header), ffi_any_object(&tb->header),
			     ffi_any_object(&tc->header)};
	ffi_function_t *fn = get_fn(mod, "matmul");
	for (int round = 0; round < 20; round++) {
		memset(tc->dl.data, 0, 64 * 64 * sizeof(float));
		call_ok(fn, args, 3);
		assert_memory_equal(tc->dl.data, expected.data, 64 * 64 * sizeof(float));
	}
	ffi_object_release(&fn->header);
	for (int i = 0; i < 3; i++)
		ffi_any_release(&args[i]);
	npy_free(&a);
	npy_free(&b);
	npy_free(&expected);
	ffi_object_release(&mod->header);
}

static void test_fixture_argument_checks(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	char path[PATH_MAX];
	fixture_path("add_one.so", path, sizeof path);
	ffi_module_t *mod = module_library_load(path);
	assert_non_null(mod);
	ffi_function_t *fn = get_fn(mod, "add_one");
	float data[16] = {0};
	int64_t wrong_shape[1] = {16};
	DLTensor t = f32_tensor(data, wrong_shape, 1);
	TVMFFIAny args[2] = {tensor_arg(&t), tensor_arg(&t)};
	TVMFFIAny rv;
	/* TVM's generated checks report through TVMFFIErrorSetRaisedFromCStrParts. */
	assert_int_not_equal(ffi_function_call(fn, args, 1, &rv), 0);
	assert_true(ffi_error_message()[0] != '\0');
	ffi_error_clear();
	assert_int_not_equal(ffi_function_call(fn, args, 2, &rv), 0);
	assert_non_null(strstr(ffi_error_message(), "shape"));
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

static void test_relax_library_loads_its_module_tree(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	char path[PATH_MAX];
	fixture_path("mlp_digits.so", path, sizeof path);
	ffi_module_t *root = load_via_global(path);
	if (!root)
		fail_msg("%s", ffi_error_message());
	/* The blob's root (the Relax executable) comes back, importing the library itself. */
	assert_string_equal(root->vtable->kind, "relax.VMExecutable");
	assert_int_equal(root->num_imports, 1);
	assert_string_equal(root->imports[0]->vtable->kind, "library");
	ffi_function_t *kernel = ffi_module_get_function(root, "relu", 1);
	assert_non_null(kernel);
	ffi_object_release(&kernel->header);
	ffi_object_release(&root->header);
	assert_false(library_is_loaded(path));
}

/* ---- lifetime ---- */

static void test_function_keeps_module_alive_and_dlclose(void **state)
{
	(void)state;
	char path[PATH_MAX];
	model_path("vector_add", path, sizeof path);
	ffi_module_t *mod = module_library_load(path);
	assert_non_null(mod);
	ffi_module_t *again = module_library_load(path);
	assert_ptr_equal(mod, again); /* one module per loaded file */
	ffi_object_release(&again->header);
	assert_true(library_is_loaded(path));
	ffi_function_t *fn = get_fn(mod, "add");
	ffi_object_release(&mod->header);
	float x[4] = {1, 2, 3, 4}, y[4] = {10, 20, 30, 40}, z[4];
	int64_t shape[1] = {4};
	DLTensor a = f32_tensor(x, shape, 1), b = f32_tensor(y, shape, 1), c = f32_tensor(z, shape, 1);
	TVMFFIAny args[3] = {tensor_arg(&a), tensor_arg(&b), tensor_arg(&c)};
	call_ok(fn, args, 3); /* the module is gone from our hands but the function keeps it */
	assert_true(z[0] == 11.0f && z[3] == 44.0f);
	assert_true(library_is_loaded(path));
	ffi_object_release(&fn->header);
	assert_false(library_is_loaded(path));
}

static void copy_file(const char *from, const char *to)
{
	char cmd[5 * PATH_MAX];
	/* cp to a new name, then rename: a new inode, as an upload that replaces a file makes. */
	snprintf(cmd, sizeof cmd, "cp %s %s.tmp && mv %s.tmp %s", from, to, to, to);
	assert_int_equal(system(cmd), 0);
}

static void test_replaced_file_loads_new_version(void **state)
{
	(void)state;
	char dir[] = "/tmp/tvmrpc-reload-XXXXXX", path[PATH_MAX], src[PATH_MAX];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/kernel.so", dir);
	model_path("vector_add", src, sizeof src);
	copy_file(src, path);
	ffi_module_t *first = module_library_load(path);
	assert_non_null(first);
	model_path("matmul_parallel", src, sizeof src);
	copy_file(src, path);
	ffi_module_t *second = module_library_load(path);
	if (!second)
		fail_msg("%s", ffi_error_message());
	assert_ptr_not_equal(first, second);
	ffi_function_t *fn = ffi_module_get_function(second, "matmul", 1);
	assert_non_null(fn); /* the new contents, not the old mapping */
	ffi_object_release(&fn->header);
	assert_null(ffi_module_get_function(second, "add", 1));
	fn = ffi_module_get_function(first, "add", 1); /* the old module still works */
	assert_non_null(fn);
	ffi_object_release(&fn->header);
	ffi_object_release(&second->header);
	ffi_object_release(&first->header);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rmdir %s 2>/dev/null || ls -A %s", dir, dir);
	unlink(path);
	assert_int_equal(system(cmd), 0); /* no private copies left behind */
}

static void test_unknown_function_and_data_symbols(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("fill_random");
	ffi_error_clear();
	assert_null(ffi_module_get_function(mod, "no_such_kernel", 1));
	assert_string_equal(ffi_error_kind(), ""); /* absence is not an error */
	/* __tvm_ffi__library_ctx is a variable, never a callable function. */
	assert_null(ffi_module_get_function(mod, "_library_ctx", 1));
	assert_null(ffi_module_get_function(mod, "", 1));
	ffi_object_release(&mod->header);
}

/* ---- load errors ---- */

static void expect_load_error(const char *path, const char *needle)
{
	ffi_error_clear();
	assert_null(load_via_global(path));
	if (!strstr(ffi_error_message(), needle))
		fail_msg("error '%s' lacks '%s'", ffi_error_message(), needle);
	assert_non_null(strstr(ffi_error_message(), path));
}

static void test_load_errors_are_clear(void **state)
{
	(void)state;
	expect_load_error("/nonexistent/dir/lib.so", "No such file");
	char text_path[] = "/tmp/tvmrpc-notelf-XXXXXX";
	int fd = mkstemp(text_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello, not a library\n", 21), 21);
	close(fd);
	expect_load_error(text_path, "not a shared library");
	unlink(text_path);
	char path[PATH_MAX];
	model_path("unresolved_symbol", path, sizeof path);
	expect_load_error(path, "tvmrpc_test_symbol_nobody_defines");
	model_path("library_bin", path, sizeof path);
	ffi_error_clear();
	assert_null(load_via_global(path));
	assert_non_null(strstr(ffi_error_message(), "const_loader")); /* refused by kind */
	assert_false(library_is_loaded(path)); /* refused libraries are closed again */
	ffi_error_clear();
	assert_null(module_library_load("relative/path.so"));
	assert_non_null(strstr(ffi_error_message(), "absolute"));

	/* The process is still fine: a good library loads and runs. */
	ffi_module_t *mod = load_model("vector_add");
	ffi_function_t *fn = get_fn(mod, "main");
	float x[2] = {1, 2}, z[2];
	int64_t shape[1] = {2};
	DLTensor a = f32_tensor(x, shape, 1), c = f32_tensor(z, shape, 1);
	TVMFFIAny args[3] = {tensor_arg(&a), tensor_arg(&a), tensor_arg(&c)};
	call_ok(fn, args, 3);
	assert_true(z[0] == 2.0f && z[1] == 4.0f);
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

/* ---- test kernels through the host services ---- */

static void test_parallel_matmul_with_workspace_and_barrier(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("matmul_parallel");
	ffi_function_t *fn = get_fn(mod, "matmul");
	enum { N = 37, K = 19, M = 53 };
	float *a = malloc(N * K * sizeof(float)), *b = malloc(K * M * sizeof(float));
	float *c = malloc(N * M * sizeof(float));
	for (int i = 0; i < N * K; i++)
		a[i] = (float)((i * 7) % 9 - 4);
	for (int i = 0; i < K * M; i++)
		b[i] = (float)((i * 5) % 11 - 5);
	int64_t sa[2] = {N, K}, sb[2] = {K, M}, sc[2] = {N, M};
	DLTensor ta = f32_tensor(a, sa, 2), tb = f32_tensor(b, sb, 2), tc = f32_tensor(c, sc, 2);
	TVMFFIAny args[3] = {tensor_arg(&ta), tensor_arg(&tb), tensor_arg(&tc)};
	for (int round = 0; round < 50; round++) {
		memset(c, 0xff, N * M * sizeof(float));
		call_ok(fn, args, 3);
		for (int i = 0; i < N; i++)
			for (int j = 0; j < M; j++) {
				float want = 0;
				for (int p = 0; p < K; p++)
					want += a[i * K + p] * b[p * M + j];
				if (c[i * M + j] != want)
					fail_msg("C[%d,%d] = %g, want %g", i, j, c[i * M + j], want);
			}
	}
	/* Argument checks reach the caller as errors. */
	int64_t bad[2] = {K + 1, M};
	DLTensor tbad = f32_tensor(b, bad, 2);
	args[1] = tensor_arg(&tbad);
	TVMFFIAny rv;
	assert_int_not_equal(ffi_function_call(fn, args, 3, &rv), 0);
	assert_non_null(strstr(ffi_error_message(), "Mismatched shape"));
	free(a);
	free(b);
	free(c);
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

static void test_conv2d(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("conv2d");
	ffi_function_t *fn = get_fn(mod, "conv2d");
	enum { N = 2, C = 3, H = 9, W = 8, K = 4, R = 3, S = 2, OH = H - R + 1, OW = W - S + 1 };
	static float data[N * C * H * W], weight[K * C * R * S], out[N * K * OH * OW];
	for (int i = 0; i < N * C * H * W; i++)
		data[i] = (float)(i % 7 - 3);
	for (int i = 0; i < K * C * R * S; i++)
		weight[i] = (float)(i % 5 - 2);
	int64_t sd[4] = {N, C, H, W}, sw[4] = {K, C, R, S}, so[4] = {N, K, OH, OW};
	DLTensor td = f32_tensor(data, sd, 4), tw = f32_tensor(weight, sw, 4),
		 to = f32_tensor(out, so, 4);
	TVMFFIAny args[3] = {tensor_arg(&td), tensor_arg(&tw), tensor_arg(&to)};
	call_ok(fn, args, 3);
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			for (int y = 0; y < OH; y++)
				for (int x = 0; x < OW; x++) {
					float want = 0;
					for (int c = 0; c < C; c++)
						for (int r = 0; r < R; r++)
							for (int s = 0; s < S; s++)
								want += data[((n * C + c) * H + y + r) * W + x + s] *
									weight[((k * C + c) * R + r) * S + s];
					assert_true(out[((n * K + k) * OH + y) * OW + x] == want);
				}
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

static void test_digits_classifier_accuracy(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("digits_mlp");
	ffi_function_t *fn = get_fn(mod, "digits_mlp");
	enum { COUNT = DIGITS_TEST_COUNT };
	float *x = malloc(COUNT * 64 * sizeof(float)), *logits = malloc(COUNT * 10 * sizeof(float));
	for (int i = 0; i < COUNT * 64; i++)
		x[i] = (float)digits_test_pixels[i] / 16.0f;
	int64_t sx[2] = {COUNT, 64}, sl[2] = {COUNT, 10};
	DLTensor tx = f32_tensor(x, sx, 2), tl = f32_tensor(logits, sl, 2);
	TVMFFIAny args[2] = {tensor_arg(&tx), tensor_arg(&tl)};
	call_ok(fn, args, 2);
	int correct = 0;
	for (int i = 0; i < COUNT; i++) {
		int best = 0;
		for (int j = 1; j < 10; j++)
			if (logits[i * 10 + j] > logits[i * 10 + best])
				best = j;
		correct += best == digits_test_labels[i];
	}
	/* Same predictions as numpy at training time (recorded in the generated header). */
	assert_int_equal(correct, DIGITS_TEST_CORRECT);
	assert_true(correct * 100 >= COUNT * 95);
	for (int i = 0; i < 16 * 10; i++) {
		float diff = logits[i] - digits_test_logits16[i];
		assert_true(diff < 1e-4f && diff > -1e-4f);
	}
	free(x);
	free(logits);
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

static void test_kernel_calls_packed_global(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("fill_random");
	ffi_function_t *fn = get_fn(mod, "fill");
	float values[257];
	memset(values, 0, sizeof values);
	int64_t shape[1] = {257};
	DLTensor t = f32_tensor(values, shape, 1);
	TVMFFIAny args[1] = {tensor_arg(&t)};
	call_ok(fn, args, 1);
	call_ok(fn, args, 1); /* the cached handle is reused */
	float lo = 100, hi = 0;
	for (int i = 0; i < 257; i++) {
		lo = values[i] < lo ? values[i] : lo;
		hi = values[i] > hi ? values[i] : hi;
	}
	assert_true(lo >= 1.0f && hi < 10.0f && hi > lo);
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

static void test_env_lookup_searches_imports_first(void **state)
{
	(void)state;
	ffi_module_vtable_t vt = {.kind = "test.parent"};
	ffi_module_t *parent = ffi_module_new(&vt, NULL);
	ffi_module_t *lib = load_model("vector_add");
	ffi_module_import(parent, lib);
	ffi_object_release(&lib->header);
	void *handle = NULL;
	assert_int_equal(backend_env_lookup(parent, "add", &handle), 0);
	void *again = NULL;
	assert_int_equal(backend_env_lookup(parent, "add", &again), 0);
	assert_ptr_equal(handle, again); /* cached per library context */
	float x[2] = {1, 2}, z[2];
	int64_t shape[1] = {2};
	DLTensor a = f32_tensor(x, shape, 1), c = f32_tensor(z, shape, 1);
	TVMFFIAny args[3] = {tensor_arg(&a), tensor_arg(&a), tensor_arg(&c)}, rv = {0};
	assert_int_equal(backend_function_call(handle, args, 3, &rv), 0);
	assert_true(z[1] == 4.0f);
	ffi_error_clear();
	assert_int_not_equal(backend_env_lookup(parent, "no_such_anything", &handle), 0);
	assert_non_null(strstr(ffi_error_message(), "no_such_anything"));
	backend_env_cache_drop(parent);
	ffi_object_release(&parent->header);
}

static void test_crash_kernel_kills_only_its_process(void **state)
{
	(void)state;
	ffi_module_t *mod = load_model("crash_null");
	ffi_function_t *fn = get_fn(mod, "crash");
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches SIGSEGV to report a failed test; the child must really die. */
		signal(SIGSEGV, SIG_DFL);
		TVMFFIAny rv;
		ffi_function_call(fn, NULL, 0, &rv);
		_exit(0); /* not reached if the kernel crashed */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Plain builds die of SIGSEGV; sanitizer builds report it and exit non-zero. */
	assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

/* ---- system library ---- */

static void test_preload_and_system_lib(void **state)
{
	(void)state;
	char path[PATH_MAX];
	model_path("syslib_scale", path, sizeof path);
	assert_int_equal(module_preload(""), 0);
	assert_int_not_equal(module_preload("/nonexistent/a.so"), 0);
	assert_non_null(strstr(ffi_error_message(), "/nonexistent/a.so"));
	char both[2 * PATH_MAX + 2];
	snprintf(both, sizeof both, "%s:", path);
	assert_int_equal(module_preload(both), 0);

	ffi_function_t *system_lib = ffi_registry_get("ffi.SystemLib");
	assert_non_null(system_lib);
	TVMFFIAny rv;
	assert_int_equal(ffi_function_call(system_lib, NULL, 0, &rv), 0);
	assert_int_equal(rv.type_index, FFI_MODULE);
	ffi_module_t *mod = (ffi_module_t *)rv.v_obj;
	TVMFFIAny rv2;
	assert_int_equal(ffi_function_call(system_lib, NULL, 0, &rv2), 0);
	assert_ptr_equal(rv2.v_obj, mod); /* one module per prefix */
	ffi_any_release(&rv2);
	ffi_object_release(&system_lib->header);

	assert_null(ffi_module_get_function(mod, "no_such", 1));
	ffi_function_t *fn = get_fn(mod, "syslib_scale");
	float x[100], y[100];
	for (int i = 0; i < 100; i++)
		x[i] = (float)i;
	int64_t shape[1] = {100};
	DLTensor a = f32_tensor(x, shape, 1), b = f32_tensor(y, shape, 1);
	TVMFFIAny args[2] = {tensor_arg(&a), tensor_arg(&b)};
	call_ok(fn, args, 2);
	for (int i = 0; i < 100; i++)
		assert_true(y[i] == 2.0f * (float)i);
	ffi_object_release(&fn->header);
	ffi_object_release(&mod->header);
}

/* ---- linking .o and .tar uploads ---- */

static char work_dir[] = "/tmp/tvmrpc-link-XXXXXX";

static int run(const char *command)
{
	int rc = system(command);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static ffi_module_t *load_format(const char *format, const char *path)
{
	char name[64];
	snprintf(name, sizeof name, "ffi.Module.load_from_file.%s", format);
	ffi_function_t *loader = ffi_registry_get(name);
	assert_non_null(loader);
	TVMFFIAny args[2] = {{.type_index = FFI_RAW_STR}, {.type_index = FFI_RAW_STR}};
	args[0].v_c_str = path;
	args[1].v_c_str = format;
	TVMFFIAny rv;
	int rc = ffi_function_call(loader, args, 2, &rv);
	ffi_object_release(&loader->header);
	return rc == 0 ? (ffi_module_t *)rv.v_obj : NULL;
}

static void check_vector_add(ffi_module_t *mod)
{
	ffi_function_t *fn = get_fn(mod, "add");
	float x[3] = {1, 2, 3}, z[3];
	int64_t shape[1] = {3};
	DLTensor a = f32_tensor(x, shape, 1), c = f32_tensor(z, shape, 1);
	TVMFFIAny args[3] = {tensor_arg(&a), tensor_arg(&a), tensor_arg(&c)};
	call_ok(fn, args, 3);
	assert_true(z[2] == 6.0f);
	ffi_object_release(&fn->header);
}

/* A one-member ustar archive whose member is named `name` (contents: 0 bytes). */
static void write_tar_with_member(const char *tar_path, const char *name)
{
	unsigned char block[512] = {0};
	snprintf((char *)block, 100, "%s", name);
	memcpy(block + 100, "0000644", 8);
	memcpy(block + 108, "0000000", 8);
	memcpy(block + 116, "0000000", 8);
	memcpy(block + 124, "00000000000", 12);
	memcpy(block + 136, "00000000000", 12);
	block[156] = '0';
	memcpy(block + 257, "ustar", 6);
	memcpy(block + 263, "00", 2);
	memset(block + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += block[i];
	snprintf((char *)block + 148, 8, "%06o", sum);
	FILE *f = fopen(tar_path, "wb");
	assert_non_null(f);
	unsigned char zeros[1024] = {0};
	assert_int_equal(fwrite(block, 1, 512, f), 512);
	assert_int_equal(fwrite(zeros, 1, 1024, f), 1024);
	fclose(f);
}

/* Stand-in for the session's tvm.rpc.server.workpath: names relative to work_dir. */
static int fake_workpath(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	const char *path;
	if (ffi_arg_str("workpath", args, n, 0, &path, NULL) != 0)
		return -1;
	if (path[0] == '/' || strstr(path, "..")) {
		ffi_error_set("PermissionError", "outside");
		return -1;
	}
	char full[PATH_MAX];
	int len = snprintf(full, sizeof full, "%s%s%s", work_dir, path[0] ? "/" : "", path);
	*result = ffi_any_object(&ffi_str_new(full, (size_t)len)->header);
	return 0;
}

static void test_link_object_and_tar(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(work_dir));
	char cmd[PATH_MAX * 8], obj[PATH_MAX / 4], tar[PATH_MAX / 4];
	snprintf(obj, sizeof obj, "%s/kernel.o", work_dir);
	/* The compiler of this build's CPU: a cross build's unit-test run names its own. */
	const char *cc = getenv("TVMRPC_TEST_CC") ? getenv("TVMRPC_TEST_CC") : "cc";
	snprintf(cmd, sizeof cmd, "%s -c -fPIC -O2 -Itests/models -o %s tests/models/vector_add.c",
		 cc, obj);
	assert_int_equal(run(cmd), 0);

	/* Without a compiler: a clear error, nothing linked. */
	module_link_set_compiler(NULL);
	ffi_error_clear();
	assert_null(load_format("o", obj));
	assert_non_null(strstr(ffi_error_message(), "found no C compiler"));
	module_link_set_compiler("none");
	ffi_error_clear();
	assert_null(load_format("o", obj));
	assert_non_null(strstr(ffi_error_message(), "switched off on this server"));

	module_link_set_compiler(cc);
	ffi_module_t *mod = load_format("o", obj);
	if (!mod)
		fail_msg("%s", ffi_error_message());
	check_vector_add(mod);
	ffi_object_release(&mod->header);

	snprintf(tar, sizeof tar, "%s/mod.tar", work_dir);
	snprintf(cmd, sizeof cmd, "tar -cf %s -C %s kernel.o", tar, work_dir);
	assert_int_equal(run(cmd), 0);
	mod = load_format("tar", tar);
	if (!mod)
		fail_msg("%s", ffi_error_message());
	check_vector_add(mod);
	ffi_object_release(&mod->header);

	/* The linked file is what download_linked_module would return; the global itself only
	 * takes paths inside a session's work directory (absolute ones are refused). */
	char so_path[PATH_MAX + 8];
	assert_int_equal(module_link_shared(tar, so_path, sizeof so_path), 0);
	FILE *so = fopen(so_path, "rb");
	char magic[4] = {0};
	assert_non_null(so);
	assert_int_equal(fread(magic, 1, 4, so), 4);
	fclose(so);
	assert_memory_equal(magic, "\x7f" "ELF", 4);
	unlink(so_path);
	ffi_function_t *download = ffi_registry_get("tvm.rpc.server.download_linked_module");
	assert_non_null(download);
	TVMFFIAny arg = {.type_index = FFI_RAW_STR}, rv;
	arg.v_c_str = tar;
	ffi_error_clear();
	assert_int_not_equal(ffi_function_call(download, &arg, 1, &rv), 0);
	assert_true(ffi_error_message()[0] != '\0');
	assert_int_not_equal(access(so_path, F_OK), 0); /* nothing was linked */

	/* Archives that would write outside their directory are refused before extraction. */
	const char *bad_names[] = {"../escape.o", "/tmp/absolute.o", "a/../../b.o"};
	for (int i = 0; i < 3; i++) {
		write_tar_with_member(tar, bad_names[i]);
		ffi_error_clear();
		assert_null(load_format("tar", tar));
		if (!strstr(ffi_error_message(), "unsafe member"))
			fail_msg("%s: %s", bad_names[i], ffi_error_message());
	}
	/* A symlink member is refused too. */
	snprintf(cmd, sizeof cmd, "cd %s && ln -sf /etc/passwd link.o && tar -cf mod.tar link.o",
		 work_dir);
	assert_int_equal(run(cmd), 0);
	ffi_error_clear();
	assert_null(load_format("tar", tar));
	assert_non_null(strstr(ffi_error_message(), "not a plain file"));
	/* A broken object: the compiler's message comes back. */
	snprintf(cmd, sizeof cmd, "echo garbage > %s", obj);
	assert_int_equal(run(cmd), 0);
	ffi_error_clear();
	assert_null(load_format("o", obj));
	assert_non_null(strstr(ffi_error_message(), "failed"));

	/* In a session, paths are confined to the work directory. */
	snprintf(cmd, sizeof cmd, "%s -c -fPIC -Itests/models -o %s tests/models/vector_add.c && "
		 "tar -cf %s -C %s kernel.o && mkdir -p %s.out && cp %s %s.out/", cc, obj, tar,
		 work_dir, work_dir, tar, work_dir);
	assert_int_equal(run(cmd), 0);
	ffi_function_t *real_workpath = ffi_registry_get("tvm.rpc.server.workpath");
	ffi_registry_put_call("tvm.rpc.server.workpath", fake_workpath);
	arg.v_c_str = "mod.tar";
	assert_int_equal(ffi_function_call(download, &arg, 1, &rv), 0);
	assert_int_equal(rv.type_index, FFI_BYTES);
	assert_memory_equal(((ffi_bytes_t *)rv.v_obj)->data, "\x7f" "ELF", 4);
	ffi_any_release(&rv);
	arg.v_c_str = tar;
	assert_int_not_equal(ffi_function_call(download, &arg, 1, &rv), 0);
	mod = load_format("tar", tar);
	assert_non_null(mod);
	ffi_object_release(&mod->header);
	char outside[PATH_MAX];
	snprintf(outside, sizeof outside, "%s.out/mod.tar", work_dir);
	ffi_error_clear();
	assert_null(load_format("tar", outside));
	assert_non_null(strstr(ffi_error_message(), "outside the session's work directory"));
	if (real_workpath)
		ffi_registry_put("tvm.rpc.server.workpath", real_workpath);
	ffi_object_release(&download->header);

	module_link_set_compiler(NULL);
	snprintf(cmd, sizeof cmd, "rm -rf %s %s.out", work_dir, work_dir);
	assert_int_equal(run(cmd), 0);
}

int main(void)
{
	const char *env = getenv("TVMRPC_BUILD");
	if (!realpath(env && *env ? env : "build", build_dir)) {
		fprintf(stderr, "cannot find the build directory (set TVMRPC_BUILD)\n");
		return 1;
	}
	if ((size_t)snprintf(build_models, sizeof build_models, "%s/models", build_dir) >=
	    sizeof build_models)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_one_fixture_exact),
		cmocka_unit_test(test_matmul_fixture_exact_with_tensor_objects),
		cmocka_unit_test(test_fixture_argument_checks),
		cmocka_unit_test(test_relax_library_loads_its_module_tree),
		cmocka_unit_test(test_function_keeps_module_alive_and_dlclose),
		cmocka_unit_test(test_replaced_file_loads_new_version),
		cmocka_unit_test(test_unknown_function_and_data_symbols),
		cmocka_unit_test(test_load_errors_are_clear),
		cmocka_unit_test(test_parallel_matmul_with_workspace_and_barrier),
		cmocka_unit_test(test_conv2d),
		cmocka_unit_test(test_digits_classifier_accuracy),
		cmocka_unit_test(test_kernel_calls_packed_global),
		cmocka_unit_test(test_env_lookup_searches_imports_first),
		cmocka_unit_test(test_crash_kernel_kills_only_its_process),
		cmocka_unit_test(test_preload_and_system_lib),
		cmocka_unit_test(test_link_object_and_tar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
