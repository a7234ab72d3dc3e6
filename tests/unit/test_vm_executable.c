/* Unit tests for the executable and blob parsers on hostile input (every truncation of the
 * real mlp_digits blob and payload, targeted corruptions of each field, random mutations
 * that are then run), and hand-built executables for If/Goto, closures, tuples, recursion,
 * every constant tag and the refusals at vm_initialization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/module_blob.h"
#include "runtime/npy.h"
#include "runtime/vm.h"
#include "runtime/vm_executable.h"
#include "vm_test_util.h"
#include "native_fixture.h"

#define FIXTURE "tests/fixtures/mlp_digits.so"
#define PAYLOAD_OFFSET 90 /* docs/relax-vm.md §1.5, §7: payload at blob offset 90 */
#define PAYLOAD_LEN 12278
#ifndef ITERS
#define ITERS 3000
#endif

static ffi_module_t *fixture_lib;
static const uint8_t *fixture_blob;
static size_t fixture_blob_size;

static int setup(void **state)
{
	(void)state;
	fixture_lib = test_lib_open(FIXTURE, &fixture_blob, &fixture_blob_size);
	return fixture_lib && fixture_blob_size == 12380 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ffi_object_release(&fixture_lib->header);
	return 0;
}

static uint8_t *payload_copy(void)
{
	uint8_t *p = malloc(PAYLOAD_LEN);
	memcpy(p, fixture_blob + PAYLOAD_OFFSET, PAYLOAD_LEN);
	return p;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the real payload ---- */

static void test_payload_parses(void **state)
{
	(void)state;
	vm_executable_t *ex;
	assert_int_equal(vm_executable_parse(fixture_blob + PAYLOAD_OFFSET, PAYLOAD_LEN, &ex), 0);
	assert_int_equal(ex->magic, VM_EXECUTABLE_MAGIC_V2);
	assert_int_equal(ex->num_funcs, 11);
	assert_int_equal(ex->num_constants, 12);
	assert_int_equal(ex->num_instrs, 23);
	assert_int_equal(ex->num_words, 151);
	assert_string_equal(ex->funcs[0].name, "main");
	assert_int_equal(ex->funcs[0].register_file_size, 9);
	assert_string_equal(ex->funcs[10].name, "add1");
	/* c7 is b1: float32 [32], 64-byte aligned copy. */
	const DLTensor *b1 = ffi_any_as_dltensor(&ex->constants[7]);
	assert_non_null(b1);
	assert_int_equal(b1->ndim, 1);
	assert_int_equal(b1->shape[0], 32);
	assert_int_equal((uintptr_t)b1->data % 64, 0);
	size_t len;
	const char *s = ffi_any_as_str(&ex->constants[1], &len);
	assert_int_equal(len, 93);
	assert_memory_equal(s, "ErrorContext(fn=main", 20);
	vm_executable_free(ex);
}

static void test_payload_truncated_everywhere(void **state)
{
	(void)state;
	for (size_t k = 0; k < PAYLOAD_LEN; k++) {
		/* An exact-size heap copy, so a read past the end is caught by ASan. */
		uint8_t *p = malloc(k ? k : 1);
		memcpy(p, fixture_blob + PAYLOAD_OFFSET, k);
		vm_executable_t *ex = (vm_executable_t *)1;
		assert_int_equal(vm_executable_parse(p, k, &ex), -1);
		assert_null(ex);
		assert_string_equal(ffi_error_kind(), "ValueError");
		free(p);
	}
}

static void test_blob_truncated_everywhere(void **state)
{
	(void)state;
	for (size_t k = 0; k < fixture_blob_size; k++) {
		uint8_t *b = malloc(k ? k : 1);
		memcpy(b, fixture_blob, k);
		assert_null(module_blob_load_sized(fixture_lib, b, k));
		/* Also with nbytes rewritten to the cut, so parsing runs into the missing part. */
		if (k >= 8) {
			put_u64(b, k - 8);
			assert_null(module_blob_load_sized(fixture_lib, b, k));
			assert_true(ffi_error_message()[0] != '\0');
		}
		free(b);
	}
}

struct corruption {
	size_t offset;     /* in the payload; SIZE_MAX = computed in the test */
	uint64_t value;    /* written as `width` little-endian bytes */
	int width;
	const char *needle;
};

static void expect_refused(uint8_t *p, size_t len, const char *needle)
{
	vm_executable_t *ex;
	assert_int_equal(vm_executable_parse(p, len, &ex), -1);
	if (!strstr(ffi_error_message(), needle))
		fail_msg("expected '%s' in: %s", needle, ffi_error_message());
}

static void test_payload_corruptions(void **state)
{
	(void)state;
	uint8_t *orig = payload_copy();
	/* Sanity: the layout of docs/relax-vm.md §7. */
	assert_memory_equal(orig + 40, "main", 4);
	assert_int_equal(orig[763], 12);
	assert_memory_equal(orig + 771, "\x05\x00\x00\x00\x02\x20\x01\x00", 8);
	assert_int_equal(orig[10870], 23);
	assert_int_equal(orig[11062], 151);
	const size_t words = 11070, offsets = 10878;
	const struct corruption cases[] = {
		{0, 0x1234, 8, "bad magic"},
		{19, '5', 1, "version '0.15'"},
		{20, (uint64_t)1 << 40, 8, "function table count"},
		{28, 7, 4, "unknown kind 7"},
		{32, (uint64_t)1 << 40, 8, "function name"},
		{40, 0x756c6572 /* "relu" */, 4, "appears twice"},
		{52, 24, 8, "spans instructions"},
		{60, 2, 8, "parameter names"},
		{68, (uint64_t)1 << 40, 8, "registers"},
		{68, 0, 8, "registers for 1 arguments"},
		{755, 1, 8, "memory scope"},
		{763, (uint64_t)1 << 40, 8, "constant pool count"},
		{771, 99, 4, "unknown tag 99"},
		{10870, (uint64_t)1 << 40, 8, "instruction offsets count"},
		{offsets + 8, 0, 8, "not increasing"},
		{offsets + 22 * 8, 151, 8, "starts at word 151"},
		{11062, 150, 8, "instruction words"},
		{words, 9, 8, "opcode 9"},                        /* pc 0 */
		{words + 39 * 8, 99, 8, "calls function 99"},      /* pc 4 func_idx */
		{words + 41 * 8, 99, 8, "argument register 99"},   /* pc 4 arg %0 */
		{words + 42 * 8, 0x0200000000000063ULL, 8, "constant 99"},
		{words + 42 * 8, 0x0300000000000063ULL, 8, "passes function 99"},
		{words + 42 * 8, 0x0700000000000000ULL, 8, "argument kind 7"},
		{words + 38 * 8, (uint64_t)VM_REG_VM, 8, "writes the vm register"},
		{words + 40 * 8, 1000, 8, "past the end"},          /* pc 4 argument count */
		{words + 150 * 8, 50, 8, "result register 50"},    /* ret %8 -> %50 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t *p = payload_copy();
		for (int b = 0; b < cases[i].width; b++)
			p[cases[i].offset + b] = (uint8_t)(cases[i].value >> (8 * b));
		expect_refused(p, PAYLOAD_LEN, cases[i].needle);
		free(p);
	}
	/* Tensor record fields: the first tensor constant (c6, W1). */
	const uint8_t magic[8] = {0x3f, 0xa1, 0xb4, 0x96, 0xf0, 0x40, 0x5e, 0xdd};
	uint8_t *at = memmem(orig, PAYLOAD_LEN, magic, 8);
	assert_non_null(at);
	size_t t = (size_t)(at - orig);
	assert_int_equal(orig[t + 24], 2); /* ndim */
	const struct corruption tensor_cases[] = {
		{t, 1, 1, "tensor constant has magic"},
		{t + 16, 2, 4, "device type 2"},
		{t + 24, 0x7fffffff, 4, "ndim"},
		{t + 24, 0xffffffff, 4, "ndim -1"},
		{t + 32, (uint64_t)-1, 8, "negative dimension"},
		{t + 32, (uint64_t)1 << 62, 8, "data bytes"},
		{t + 48, 8191, 8, "states 8191 data bytes"},
		{t + 48, (uint64_t)1 << 50, 8, "data bytes"},
	};
	for (size_t i = 0; i < sizeof tensor_cases / sizeof tensor_cases[0]; i++) {
		uint8_t *p = payload_copy();
		for (int b = 0; b < tensor_cases[i].width; b++)
			p[tensor_cases[i].offset + b] = (uint8_t)(tensor_cases[i].value >> (8 * b));
		expect_refused(p, PAYLOAD_LEN, tensor_cases[i].needle);
		free(p);
	}
	free(orig);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Random byte mutations: parsing never crashes, and whatever parses also runs (or fails
 * cleanly) against the real kernels. */
static void test_payload_mutations_run(void **state)
{
	(void)state;
	char err[256];
	npy_array_t input;
	assert_int_equal(npy_read_file("tests/fixtures/mlp_digits_input.npy", &input, err,
				       sizeof err), 0);
	DLTensor x = {.data = input.data, .device = {kDLCPU, 0}, .ndim = 2,
		      .dtype = input.dtype, .shape = input.shape};
	TVMFFIAny arg = {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &x};
	uint64_t saved_limit = vm_storage_limit();
	vm_storage_limit_set(1 << 20);
	int parsed = 0, ran = 0;
	for (int iter = 0; iter < ITERS; iter++) {
		uint8_t *p = payload_copy();
		int flips = 1 + (int)(rng() % 3);
		for (int f = 0; f < flips; f++) {
			/* Bias towards the small structural parts (functions, instructions). */
			size_t pos = rng() % 2 ? rng() % 800 : 10870 + rng() % (PAYLOAD_LEN - 10870);
			p[pos] = rng() % 2 ? (uint8_t)rng() : (uint8_t)(p[pos] ^ (1u << (rng() % 8)));
		}
		vm_executable_t *ex;
		if (vm_executable_parse(p, PAYLOAD_LEN, &ex) == 0) {
			parsed++;
			ffi_module_t *em = vm_executable_module_new(ex);
			ffi_module_import(em, fixture_lib);
			ffi_module_t *vm = vm_module_new(em);
			TVMFFIAny dev[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(2)}, r;
			if (test_call(vm, "vm_initialization", dev, 3, &r) == 0) {
				for (size_t i = 0; i < ex->num_funcs; i++) {
					if (ex->funcs[i].kind != VM_FUNC_BYTECODE)
						continue;
					if (test_call(vm, ex->funcs[i].name, &arg, 1, &r) == 0)
						ran++;
					ffi_any_release(&r);
				}
			}
			ffi_object_release(&vm->header);
			ffi_object_release(&em->header);
		}
		free(p);
	}
	vm_storage_limit_set(saved_limit);
	npy_array_free(&input);
	/* Flips in tensor data and error strings keep the executable valid; both outcomes
	 * were exercised. */
	print_message("mutations: %d parsed, %d runs succeeded\n", parsed, ran);
	assert_true(parsed > 0);
	assert_true(ran > 0);
}

/* ---- hand-built executables ---- */

enum { F_MAIN, F_READ_IF, F_COPY, F_PAIR, F_MAKE_TUPLE, F_GETITEM, F_MAKE_CLOSURE,
       F_INVOKE_CLOSURE, F_REC, F_CONSTS, F_MK, NUM_F };

static test_buf_t constants(void)
{
	test_buf_t c = {0};
	tb_i32(&c, FFI_STR);
	tb_str(&c, "hello");
	tb_i32(&c, FFI_INT);
	tb_u64(&c, (uint64_t)1 << 60);
	tb_i32(&c, FFI_FLOAT);
	double d = 2.5;
	uint64_t bits;
	memcpy(&bits, &d, 8);
	tb_u64(&c, bits);
	tb_i32(&c, FFI_DATATYPE);
	tb_put(&c, "\x02\x20\x01\x00", 4);
	tb_i32(&c, FFI_SHAPE);
	tb_u64(&c, 2);
	tb_u64(&c, 2);
	tb_u64(&c, 3);
	/* The float32 [1.0, 2.0] example of §2.4, byte for byte. */
	tb_i32(&c, FFI_TENSOR);
	tb_put(&c, "\x3f\xa1\xb4\x96\xf0\x40\x5e\xdd", 8);
	tb_u64(&c, 0);
	tb_put(&c, "\x01\x00\x00\x00\x00\x00\x00\x00", 8);
	tb_i32(&c, 1);
	tb_put(&c, "\x02\x20\x01\x00", 4);
	tb_u64(&c, 2);
	tb_u64(&c, 8);
	tb_put(&c, "\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
	return c;
}

static test_buf_t control_flow_exec(int v2)
{
	test_func_t f[NUM_F] = {
		[F_MAIN] = {1, "main", 0, 10, 3, 8, {"c", "a", "b"}, 3},
		[F_READ_IF] = {0, "vm.builtin.read_if_cond", 0, 0, 0, 0, {0}, 0},
		[F_COPY] = {0, "vm.builtin.copy", 0, 0, 0, 0, {0}, 0},
		[F_PAIR] = {1, "pair", 10, 12, 2, 3, {"x", "y"}, 2},
		[F_MAKE_TUPLE] = {0, "vm.builtin.make_tuple", 0, 0, 0, 0, {0}, 0},
		[F_GETITEM] = {0, "vm.builtin.tuple_getitem", 0, 0, 0, 0, {0}, 0},
		[F_MAKE_CLOSURE] = {0, "vm.builtin.make_closure", 0, 0, 0, 0, {0}, 0},
		[F_INVOKE_CLOSURE] = {0, "vm.builtin.invoke_closure", 0, 0, 0, 0, {0}, 0},
		[F_REC] = {1, "rec", 12, 14, 1, 2, {0}, 0},
		[F_CONSTS] = {1, "consts", 14, 16, 0, 1, {0}, 0},
		[F_MK] = {1, "mk", 16, 18, 0, 1, {0}, 0},
	};
	static test_prog_t p;
	memset(&p, 0, sizeof p);
	/* main(c, a, b): m = c ? a : b; t = closure(pair, m)("hello") = (m, "hello");
	 * return pair(t[0], -5) = (-5, m). */
	tp_call(&p, 3, F_READ_IF, 1, REG(0));
	tp_op(&p, VM_OP_IF, 3, 3);
	tp_call(&p, 4, F_COPY, 1, REG(1));
	tp_op(&p, VM_OP_GOTO, 2, 0);
	tp_call(&p, 4, F_COPY, 1, REG(2));
	tp_call(&p, 5, F_MAKE_CLOSURE, 2, FUNC(F_PAIR), REG(4));
	tp_call(&p, 6, F_INVOKE_CLOSURE, 3, REG(VM_REG_VM), REG(5), CONST(0));
	tp_call(&p, 7, F_GETITEM, 2, REG(6), IMM(0));
	tp_call(&p, 6, F_PAIR, 2, REG(7), IMM(-5));
	tp_op(&p, VM_OP_RET, 6, 0);
	/* pair(x, y) = (y, x) */
	tp_call(&p, 2, F_MAKE_TUPLE, 2, REG(1), REG(0));
	tp_op(&p, VM_OP_RET, 2, 0);
	/* rec(x) = rec(x) */
	tp_call(&p, 1, F_REC, 1, REG(0));
	tp_op(&p, VM_OP_RET, 1, 0);
	/* consts() = (c0 .. c5) */
	tp_call(&p, 0, F_MAKE_TUPLE, 6, CONST(0), CONST(1), CONST(2), CONST(3), CONST(4),
		CONST(5));
	tp_op(&p, VM_OP_RET, 0, 0);
	/* mk() = closure(pair, 7) */
	tp_call(&p, 0, F_MAKE_CLOSURE, 2, FUNC(F_PAIR), IMM(7));
	tp_op(&p, VM_OP_RET, 0, 0);
	test_buf_t c = constants();
	test_buf_t b = test_exec_encode(v2, f, NUM_F, &c, 6, &p);
	free(c.data);
	return b;
}

static ffi_module_t *vm_from_bytes(const test_buf_t *b, int initialize)
{
	vm_executable_t *ex;
	if (vm_executable_parse(b->data, b->len, &ex))
		fail_msg("parse failed: %s", ffi_error_message());
	ffi_module_t *em = vm_executable_module_new(ex);
	ffi_module_t *vm = vm_module_new(em);
	ffi_object_release(&em->header);
	if (initialize) {
		TVMFFIAny dev[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(2)}, r;
		assert_int_equal(test_call(vm, "vm_initialization", dev, 3, &r), 0);
	}
	return vm;
}

static const TVMFFIAny *array_item(const TVMFFIAny *v, size_t i)
{
	assert_int_equal(v->type_index, FFI_ARRAY);
	const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
	assert_true(i < a->size);
	return &a->items[i];
}

static void check_pair(const TVMFFIAny *r, int64_t m)
{
	assert_int_equal(((const ffi_array_t *)r->v_obj)->size, 2);
	assert_int_equal(array_item(r, 0)->type_index, FFI_INT);
	assert_int_equal(array_item(r, 0)->v_int64, -5);
	assert_int_equal(array_item(r, 1)->v_int64, m);
}

static void test_control_flow_and_closures(void **state)
{
	(void)state;
	for (int v2 = 0; v2 <= 1; v2++) {
		test_buf_t b = control_flow_exec(v2);
		ffi_module_t *vm = vm_from_bytes(&b, 1);
		TVMFFIAny args[3] = {ffi_any_int(1), ffi_any_int(10), ffi_any_int(20)}, r;
		assert_int_equal(test_call(vm, "main", args, 3, &r), 0);
		check_pair(&r, 10);
		ffi_any_release(&r);
		args[0] = ffi_any_bool(0);
		assert_int_equal(test_call(vm, "main", args, 3, &r), 0);
		check_pair(&r, 20);
		ffi_any_release(&r);
		/* The condition as an int32 tensor, as read_if_cond accepts. */
		int32_t one = 1;
		int64_t shape1 = 1;
		DLTensor cond = {.data = &one, .device = {kDLCPU, 0}, .ndim = 1,
				 .dtype = {kDLInt, 32, 1}, .shape = &shape1};
		args[0] = (TVMFFIAny){.type_index = FFI_DLTENSOR_PTR, .v_ptr = &cond};
		assert_int_equal(test_call(vm, "main", args, 3, &r), 0);
		check_pair(&r, 10);
		ffi_any_release(&r);
		/* A string condition is a clean TypeError. */
		args[0] = test_str("yes");
		assert_int_equal(test_call(vm, "main", args, 3, &r), -1);
		assert_string_equal(ffi_error_kind(), "TypeError");

		/* Unbounded recursion stops with an error. */
		assert_int_equal(test_call(vm, "rec", args, 1, &r), -1);
		assert_string_equal(ffi_error_kind(), "RecursionError");

		/* A closure returned over "RPC" and invoked through invoke_closure. */
		assert_int_equal(test_call(vm, "mk", NULL, 0, &r), 0);
		assert_int_equal(r.type_index, FFI_VM_CLOSURE);
		TVMFFIAny inv[2] = {r, ffi_any_int(1)}, r2;
		assert_int_equal(test_call(vm, "invoke_closure", inv, 2, &r2), 0);
		assert_int_equal(array_item(&r2, 0)->v_int64, 7);
		assert_int_equal(array_item(&r2, 1)->v_int64, 1);
		ffi_any_release(&r2);
		/* The closure of one VM is refused by a VM of another executable. */
		test_buf_t b2 = control_flow_exec(v2);
		ffi_module_t *other = vm_from_bytes(&b2, 1);
		assert_int_equal(test_call(other, "invoke_closure", inv, 2, &r2), -1);
		assert_non_null(strstr(ffi_error_message(), "another executable"));
		ffi_object_release(&other->header);
		free(b2.data);
		ffi_any_release(&r);

		/* Every constant tag. */
		assert_int_equal(test_call(vm, "consts", NULL, 0, &r), 0);
		size_t len;
		assert_string_equal(ffi_any_as_str(array_item(&r, 0), &len), "hello");
		assert_int_equal(array_item(&r, 1)->v_int64, (int64_t)1 << 60);
		assert_true(array_item(&r, 2)->type_index == FFI_FLOAT &&
			    array_item(&r, 2)->v_float64 == 2.5);
		assert_int_equal(array_item(&r, 3)->type_index, FFI_DATATYPE);
		assert_int_equal(array_item(&r, 3)->v_dtype.bits, 32);
		const ffi_shape_t *sh = (const ffi_shape_t *)array_item(&r, 4)->v_obj;
		assert_int_equal(sh->size, 2);
		assert_int_equal(sh->data[1], 3);
		const DLTensor *t = ffi_any_as_dltensor(array_item(&r, 5));
		assert_int_equal((uintptr_t)t->data % 64, 0);
		assert_true(((float *)t->data)[0] == 1.0f && ((float *)t->data)[1] == 2.0f);
		ffi_any_release(&r);

		/* Stateful path with a tuple output. */
		TVMFFIAny in[4] = {test_str("main"), ffi_any_int(1), ffi_any_int(10),
				   ffi_any_int(20)};
		assert_int_equal(test_call(vm, "set_input", in, 4, &r), 0);
		assert_int_equal(test_call(vm, "invoke_stateful", in, 1, &r), 0);
		assert_int_equal(test_call(vm, "get_output_arity", in, 1, &r), 0);
		assert_int_equal(r.v_int64, 2);
		TVMFFIAny path[3] = {test_str("main"), ffi_any_int(1), ffi_any_int(0)};
		assert_int_equal(test_call(vm, "get_output_arity", path, 2, &r), 0);
		assert_int_equal(r.v_int64, -1);
		assert_int_equal(test_call(vm, "get_output", path, 2, &r), 0);
		assert_int_equal(r.v_int64, 10);
		assert_int_equal(test_call(vm, "get_output", path, 1, &r), -1);
		assert_non_null(strstr(ffi_error_message(), "tuple"));
		assert_int_equal(test_call(vm, "get_output", path, 3, &r), -1);
		assert_string_equal(ffi_error_kind(), "ValueError");
		path[1] = ffi_any_int(2);
		assert_int_equal(test_call(vm, "get_output", path, 2, &r), -1);
		assert_string_equal(ffi_error_kind(), "IndexError");
		/* Arity of a function without names, and a kernel-name lookup. */
		TVMFFIAny rec = test_str("rec");
		assert_int_equal(test_call(vm, "get_function_arity", &rec, 1, &r), 0);
		assert_int_equal(r.v_int64, 0);
		assert_int_equal(test_call(vm, "vm.builtin.copy", NULL, 0, &r), -2);
		ffi_object_release(&vm->header);
		free(b.data);
	}
}

/* Storage, tensors, views, shape heaps: ownership across the end of the call. */
enum { G_VIEW, G_IDENT, G_FLAT, G_SWAP, G_TOO_BIG, G_ALLOC_STORAGE, G_ALLOC_TENSOR, G_RESHAPE,
       G_NULL, G_HEAP, G_MATCH, G_MAKE_SHAPE, G_SHAPE_OF, NUM_G };

static test_buf_t tensor_exec(void)
{
	test_func_t f[NUM_G] = {
		[G_VIEW] = {1, "view", 0, 6, 0, 3, {0}, 0},
		[G_IDENT] = {1, "ident", 6, 7, 1, 1, {"x"}, 1},
		[G_FLAT] = {1, "flat", 7, 9, 1, 2, {"x"}, 1},
		[G_SWAP] = {1, "swap", 9, 13, 1, 3, {"x"}, 1},
		[G_TOO_BIG] = {1, "too_big", 13, 16, 0, 2, {0}, 0},
		[G_ALLOC_STORAGE] = {0, "vm.builtin.alloc_storage", 0, 0, 0, 0, {0}, 0},
		[G_ALLOC_TENSOR] = {0, "vm.builtin.alloc_tensor", 0, 0, 0, 0, {0}, 0},
		[G_RESHAPE] = {0, "vm.builtin.reshape", 0, 0, 0, 0, {0}, 0},
		[G_NULL] = {0, "vm.builtin.null_value", 0, 0, 0, 0, {0}, 0},
		[G_HEAP] = {0, "vm.builtin.alloc_shape_heap", 0, 0, 0, 0, {0}, 0},
		[G_MATCH] = {0, "vm.builtin.match_shape", 0, 0, 0, 0, {0}, 0},
		[G_MAKE_SHAPE] = {0, "vm.builtin.make_shape", 0, 0, 0, 0, {0}, 0},
		[G_SHAPE_OF] = {0, "vm.builtin.shape_of", 0, 0, 0, 0, {0}, 0},
	};
	/* c0 Shape [64], c1 uint8, c2 "global", c3 Shape [4, 4], c4 float32, c5 Shape [16],
	 * c6 error context */
	test_buf_t c = {0};
	tb_i32(&c, FFI_SHAPE), tb_u64(&c, 1), tb_u64(&c, 64);
	tb_i32(&c, FFI_DATATYPE), tb_put(&c, "\x01\x08\x01\x00", 4);
	tb_i32(&c, FFI_STR), tb_str(&c, "global");
	tb_i32(&c, FFI_SHAPE), tb_u64(&c, 2), tb_u64(&c, 4), tb_u64(&c, 4);
	tb_i32(&c, FFI_DATATYPE), tb_put(&c, "\x02\x20\x01\x00", 4);
	tb_i32(&c, FFI_SHAPE), tb_u64(&c, 1), tb_u64(&c, 16);
	tb_i32(&c, FFI_STR), tb_str(&c, "ErrorContext(test) ");
	static test_prog_t p;
	memset(&p, 0, sizeof p);
	/* view(): a [16] view of a [4,4] tensor in a 64-byte storage; storage and tensor
	 * registers are killed before the return, as the compiler does. */
	tp_call(&p, 0, G_ALLOC_STORAGE, 5, REG(VM_REG_VM), CONST(0), IMM(0), CONST(1), CONST(2));
	tp_call(&p, 1, G_ALLOC_TENSOR, 4, REG(0), IMM(0), CONST(3), CONST(4));
	tp_call(&p, 0, G_NULL, 0);
	tp_call(&p, 2, G_RESHAPE, 2, REG(1), CONST(5));
	tp_call(&p, 1, G_NULL, 0);
	tp_op(&p, VM_OP_RET, 2, 0);
	/* ident(x) = x */
	tp_op(&p, VM_OP_RET, 0, 0);
	/* flat(x) = reshape(x, [16]) */
	tp_call(&p, 1, G_RESHAPE, 2, REG(0), CONST(5));
	tp_op(&p, VM_OP_RET, 1, 0);
	/* swap(x: [n, m]) = Shape [m, n] through the shape heap */
	tp_call(&p, 1, G_HEAP, 2, REG(VM_REG_VM), IMM(2));
	tp_call(&p, VM_REG_VOID, G_MATCH, 8, REG(0), REG(1), IMM(2), IMM(1), IMM(0), IMM(1), IMM(1),
		CONST(6));
	tp_call(&p, 2, G_MAKE_SHAPE, 6, REG(1), IMM(2), IMM(1), IMM(1), IMM(1), IMM(0));
	tp_op(&p, VM_OP_RET, 2, 0);
	/* too_big(): a [4, 4] float32 tensor at offset 64 of a 64-byte storage */
	tp_call(&p, 0, G_ALLOC_STORAGE, 5, REG(VM_REG_VM), CONST(0), IMM(0), CONST(1), CONST(2));
	tp_call(&p, 1, G_ALLOC_TENSOR, 4, REG(0), IMM(64), CONST(3), CONST(4));
	tp_op(&p, VM_OP_RET, 1, 0);
	test_buf_t b = test_exec_encode(1, f, NUM_G, &c, 7, &p);
	free(c.data);
	return b;
}

static void test_tensor_ownership(void **state)
{
	(void)state;
	test_buf_t b = tensor_exec();
	ffi_module_t *vm = vm_from_bytes(&b, 1);
	TVMFFIAny r;
	assert_int_equal(test_call(vm, "view", NULL, 0, &r), 0);
	assert_int_equal(r.type_index, FFI_TENSOR);
	const DLTensor *t = ffi_any_as_dltensor(&r);
	assert_int_equal(t->ndim, 1);
	assert_int_equal(t->shape[0], 16);
	assert_int_equal((uintptr_t)t->data % 64, 0);
	/* view -> tensor -> storage keep each other alive after the VM is gone. */
	ffi_object_release(&vm->header);
	memset(t->data, 0x5a, 64);
	ffi_any_release(&r);
	vm = vm_from_bytes(&b, 1);

	/* A borrowed argument (or a view of one) returned from a call becomes an owned copy. */
	float data[16] __attribute__((aligned(64)));
	for (int i = 0; i < 16; i++)
		data[i] = (float)i;
	int64_t shape[2] = {4, 4};
	DLTensor x = {.data = data, .device = {kDLCPU, 0}, .ndim = 2, .dtype = {kDLFloat, 32, 1},
		      .shape = shape};
	TVMFFIAny arg = {.type_index = FFI_DLTENSOR_PTR, .v_ptr = &x};
	const char *names[] = {"ident", "flat"};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(test_call(vm, names[k], &arg, 1, &r), 0);
		assert_int_equal(r.type_index, FFI_TENSOR);
		t = ffi_any_as_dltensor(&r);
		assert_ptr_not_equal(t->data, data);
		assert_int_equal(((ffi_tensor_t *)r.v_obj)->owns_data, 1);
		assert_int_equal(t->ndim, k == 0 ? 2 : 1);
		assert_memory_equal(t->data, data, sizeof data);
		ffi_any_release(&r);
	}
	/* reshape to more bytes than the source has */
	shape[0] = 3;
	assert_int_equal(test_call(vm, "flat", &arg, 1, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "needs 64 bytes"));

	/* Shape heap: match_shape stores the dims (code 1), make_shape reads them back. */
	shape[0] = 3;
	shape[1] = 5;
	assert_int_equal(test_call(vm, "swap", &arg, 1, &r), 0);
	assert_int_equal(r.type_index, FFI_SHAPE);
	const ffi_shape_t *sh = (const ffi_shape_t *)r.v_obj;
	assert_int_equal(sh->size, 2);
	assert_int_equal(sh->data[0], 5);
	assert_int_equal(sh->data[1], 3);
	ffi_any_release(&r);
	/* A tensor that does not fit its storage. */
	assert_int_equal(test_call(vm, "too_big", NULL, 0, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "does not fit"));
	/* The storage limit applies to alloc_storage. */
	uint64_t saved = vm_storage_limit();
	vm_storage_limit_set(32);
	assert_int_equal(test_call(vm, "view", NULL, 0, &r), -1);
	assert_string_equal(ffi_error_kind(), "MemoryError");
	vm_storage_limit_set(saved);
	ffi_object_release(&vm->header);
	free(b.data);
}

static void test_unresolved_functions_refused(void **state)
{
	(void)state;
	test_func_t f[] = {
		{1, "main", 0, 1, 0, 0, {0}, 0},
		{0, "vm.builtin.attention_kv_cache_create", 0, 0, 0, 0, {0}, 0},
		{0, "no_such_kernel", 0, 0, 0, 0, {0}, 0},
		{2, "tir_fn", 0, 0, 1, 2, {"x"}, 1},
		{0, "vm.builtin.call_py_func", 0, 0, 0, 0, {0}, 0},
	};
	test_prog_t p = {0};
	tp_op(&p, VM_OP_RET, VM_REG_VOID, 0);
	test_buf_t b = test_exec_encode(1, f, 5, NULL, 0, &p);
	ffi_module_t *vm = vm_from_bytes(&b, 0);
	TVMFFIAny dev[3] = {ffi_any_int(1), ffi_any_int(0), ffi_any_int(2)}, r;
	assert_int_equal(test_call(vm, "vm_initialization", dev, 3, &r), -1);
	const char *msg = ffi_error_message();
	assert_non_null(strstr(msg, "'vm.builtin.attention_kv_cache_create' is not available in "
				    "this runtime (KV cache is not supported)"));
	assert_non_null(strstr(msg, "'no_such_kernel'"));
	assert_non_null(strstr(msg, "'tir_fn' is a VM-TIR function"));
	assert_non_null(strstr(msg, "Python"));
	/* Still uninitialised: main refuses cleanly. */
	assert_int_equal(test_call(vm, "main", NULL, 0, &r), -1);
	assert_non_null(strstr(ffi_error_message(), "not initialised"));
	ffi_object_release(&vm->header);
	free(b.data);
}

static void expect_bad_program(const test_func_t *f, size_t nf, const test_prog_t *p,
			       const char *needle)
{
	test_buf_t b = test_exec_encode(1, f, nf, NULL, 0, p);
	expect_refused(b.data, b.len, needle);
	free(b.data);
}

static void test_bad_programs(void **state)
{
	(void)state;
	test_func_t f[] = {{1, "main", 0, 3, 1, 2, {"x"}, 1},
			   {0, "vm.builtin.copy", 0, 0, 0, 0, {0}, 0}};
	test_prog_t p = {0};
	tp_op(&p, VM_OP_GOTO, 0, 0); /* Goto 0 would spin forever */
	tp_call(&p, 1, 1, 1, REG(0));
	tp_op(&p, VM_OP_RET, 1, 0);
	expect_bad_program(f, 2, &p, "jumps by 0");
	p.words[1] = -1;
	expect_bad_program(f, 2, &p, "jumps by -1");
	p.words[1] = 3; /* past the end of main */
	expect_bad_program(f, 2, &p, "jumps by 3");
	memset(&p, 0, sizeof p);
	tp_op(&p, VM_OP_IF, 0, 5);
	tp_call(&p, 1, 1, 1, REG(0));
	tp_op(&p, VM_OP_RET, 1, 0);
	expect_bad_program(f, 2, &p, "jumps by 5");
	p.words[1] = 7; /* condition register */
	p.words[2] = 1;
	expect_bad_program(f, 2, &p, "condition register 7");
	/* Overlapping functions. */
	test_func_t g[] = {{1, "main", 0, 3, 1, 2, {"x"}, 1},
			   {0, "vm.builtin.copy", 0, 0, 0, 0, {0}, 0},
			   {1, "other", 2, 3, 0, 1, {0}, 0}};
	p.words[1] = 0;
	expect_bad_program(g, 3, &p, "share instructions");
	/* Hand-assembled functions may lack names; a wrong count is refused. */
	test_func_t h[] = {{1, "main", 0, 3, 2, 2, {"x"}, 1},
			   {0, "vm.builtin.copy", 0, 0, 0, 0, {0}, 0}};
	expect_bad_program(h, 2, &p, "parameter names");
	/* Memory scopes (V2): "" and "global" are accepted, texture memory is refused. */
	test_prog_t ret = {0};
	tp_op(&ret, VM_OP_RET, 0, 0);
	test_func_t one[] = {{1, "main", 0, 1, 1, 1, {"x"}, 1}};
	test_buf_t b = test_exec_encode(1, one, 1, NULL, 0, &ret);
	size_t table_end = 20 + 8 + 4 + (8 + 4) + 4 * 8 + 8 + (8 + 1); /* one FuncInfo */
	assert_int_equal(b.data[table_end], 0); /* the scope count */
	const char *scopes[] = {"", "global", "global.texture"};
	for (int i = 0; i < 3; i++) {
		test_buf_t e = {0};
		tb_put(&e, b.data, table_end);
		tb_u64(&e, 1);
		tb_u64(&e, 0);
		tb_str(&e, scopes[i]);
		tb_put(&e, b.data + table_end + 8, b.len - table_end - 8);
		vm_executable_t *ex;
		if (i < 2) {
			if (vm_executable_parse(e.data, e.len, &ex))
				fail_msg("scope '%s' refused: %s", scopes[i], ffi_error_message());
			vm_executable_free(ex);
		} else {
			expect_refused(e.data, e.len, "memory scope 'global.texture'");
		}
		free(e.data);
	}
	free(b.data);
	/* Names with NUL bytes and empty programs. */
	test_func_t z[] = {{1, "main", 0, 0, 0, 0, {0}, 0}};
	test_prog_t empty = {0};
	expect_bad_program(z, 1, &empty, "spans instructions [0, 0)");
}

/* ---- blobs ---- */

static ffi_function_t *no_functions(ffi_module_t *self, const char *name)
{
	(void)self, (void)name;
	return NULL;
}

static const ffi_module_vtable_t dummy_vtable = {.kind = "library", .get_function = no_functions};

struct blob_module {
	const char *kind;
	const test_buf_t *payload;
};

static test_buf_t make_blob(const uint64_t *indptr, size_t nptr, const uint64_t *child,
			    size_t nchild, const struct blob_module *mods, size_t nmods)
{
	test_buf_t body = {0};
	tb_u64(&body, nptr);
	for (size_t i = 0; i < nptr; i++)
		tb_u64(&body, indptr[i]);
	tb_u64(&body, nchild);
	for (size_t i = 0; i < nchild; i++)
		tb_u64(&body, child[i]);
	for (size_t i = 0; i < nmods; i++) {
		tb_str(&body, mods[i].kind);
		if (strcmp(mods[i].kind, "_lib") != 0) {
			tb_u64(&body, mods[i].payload ? mods[i].payload->len : 3);
			tb_put(&body, mods[i].payload ? mods[i].payload->data : (const uint8_t *)"abc",
			       mods[i].payload ? mods[i].payload->len : 3);
		}
	}
	test_buf_t b = {0};
	tb_u64(&b, body.len);
	tb_put(&b, body.data, body.len);
	free(body.data);
	return b;
}

static void expect_blob(ffi_module_t *lib, const test_buf_t *b, const char *needle)
{
	ffi_module_t *root = module_blob_load_sized(lib, b->data, b->len);
	assert_null(root);
	if (!strstr(ffi_error_message(), needle))
		fail_msg("expected '%s' in: %s", needle, ffi_error_message());
}

static void test_blobs(void **state)
{
	(void)state;
	ffi_module_t *lib = ffi_module_new(&dummy_vtable, NULL);
	test_buf_t exec = control_flow_exec(1);
	struct blob_module normal[] = {{"relax.VMExecutable", &exec}, {"_lib", NULL}};
	uint64_t indptr[] = {0, 1, 1}, child[] = {1};
	test_buf_t b = make_blob(indptr, 3, child, 1, normal, 2);
	ffi_module_t *root = module_blob_load_sized(lib, b.data, b.len);
	assert_non_null(root);
	assert_string_equal(root->vtable->kind, "relax.VMExecutable");
	assert_int_equal(root->num_imports, 1);
	assert_ptr_equal(root->imports[0], lib);
	assert_non_null(vm_executable_module_get(root));
	ffi_object_release(&root->header);
	/* The unsized entry point reads nbytes itself. */
	root = module_blob_load(lib, b.data);
	assert_non_null(root);
	ffi_object_release(&root->header);
	/* Trailing bytes beyond nbytes are ignored. */
	tb_u64(&b, 0xdeadbeef);
	root = module_blob_load_sized(lib, b.data, b.len);
	assert_non_null(root);
	ffi_object_release(&root->header);
	free(b.data);

	/* A plain kernel library: the root is the library itself. */
	struct blob_module only_lib[] = {{"_lib", NULL}};
	uint64_t one[] = {0, 0};
	b = make_blob(one, 2, NULL, 0, only_lib, 1);
	root = module_blob_load_sized(lib, b.data, b.len);
	assert_ptr_equal(root, lib);
	ffi_object_release(&root->header);
	free(b.data);

	struct blob_module params[] = {{"relax.VMExecutable", &exec}, {"const_loader", NULL},
				       {"_lib", NULL}};
	uint64_t ip3[] = {0, 1, 2, 2}, ch3[] = {1, 2};
	b = make_blob(ip3, 4, ch3, 2, params, 3);
	expect_blob(lib, &b, "module kind 'const_loader', which this runtime cannot load");
	free(b.data);

	struct blob_module old[] = {{"relax.Executable", &exec}, {"_lib", NULL}};
	b = make_blob(indptr, 3, child, 1, old, 2);
	expect_blob(lib, &b, "TVM >= 0.22");
	free(b.data);

	uint64_t bad_start[] = {1, 1, 1};
	b = make_blob(bad_start, 3, child, 1, normal, 2);
	expect_blob(lib, &b, "older than 0.22");
	free(b.data);

	uint64_t self_child[] = {0};
	b = make_blob(indptr, 3, self_child, 1, normal, 2);
	expect_blob(lib, &b, "imports module 0");
	uint64_t far_child[] = {7};
	free(b.data);
	b = make_blob(indptr, 3, far_child, 1, normal, 2);
	expect_blob(lib, &b, "imports module 7");
	free(b.data);

	uint64_t decreasing[] = {0, 1, 0};
	b = make_blob(decreasing, 3, child, 1, normal, 2);
	expect_blob(lib, &b, "decrease");
	free(b.data);

	struct blob_module lib_first[] = {{"_lib", NULL}, {"cuda", NULL}};
	uint64_t ipl[] = {0, 1, 1};
	b = make_blob(ipl, 3, child, 1, lib_first, 2);
	expect_blob(lib, &b, "module kind 'cuda'");
	free(b.data);

	struct blob_module lib_parent[] = {{"_lib", NULL}, {"_lib", NULL}};
	b = make_blob(ipl, 3, child, 1, lib_parent, 2);
	expect_blob(lib, &b, "imports other modules");
	free(b.data);

	struct blob_module two_exec[] = {{"relax.VMExecutable", &exec},
					 {"relax.VMExecutable", &exec}};
	b = make_blob(indptr, 3, child, 1, two_exec, 2);
	expect_blob(lib, &b, "must be the root");
	free(b.data);

	/* A broken executable inside a well-formed blob. */
	struct blob_module junk[] = {{"relax.VMExecutable", NULL}, {"_lib", NULL}};
	b = make_blob(indptr, 3, child, 1, junk, 2);
	expect_blob(lib, &b, "Relax executable is malformed");
	/* nbytes larger than what is there. */
	expect_blob(lib, &(test_buf_t){b.data, b.len - 1, 0}, "only");
	free(b.data);
	uint64_t none[] = {0};
	b = make_blob(none, 1, NULL, 0, NULL, 0);
	expect_blob(lib, &b, "at least one module");
	free(b.data);

	/* The registered bytes loader. */
	ffi_function_t *loader = ffi_registry_get("ffi.Module.load_from_bytes.relax.VMExecutable");
	assert_non_null(loader);
	ffi_bytes_t *bytes = ffi_bytes_new((const char *)exec.data, exec.len);
	TVMFFIAny arg = ffi_any_object(&bytes->header), r;
	assert_int_equal(ffi_function_call(loader, &arg, 1, &r), 0);
	assert_int_equal(r.type_index, FFI_MODULE);
	ffi_any_release(&r);
	ffi_any_release(&arg);
	ffi_object_release(&loader->header);
	free(exec.data);
	ffi_object_release(&lib->header);
}

int main(void)
{
	/* Every test here reads the executable out of the x86-64 fixture (docs/boards.md). */
	if (!fixture_is_native(FIXTURE)) {
		printf("[  SKIPPED ] test_vm_executable: %s is built for another CPU\n", FIXTURE);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_parses),
		cmocka_unit_test(test_payload_truncated_everywhere),
		cmocka_unit_test(test_blob_truncated_everywhere),
		cmocka_unit_test(test_payload_corruptions),
		cmocka_unit_test(test_payload_mutations_run),
		cmocka_unit_test(test_control_flow_and_closures),
		cmocka_unit_test(test_tensor_ownership),
		cmocka_unit_test(test_unresolved_functions_refused),
		cmocka_unit_test(test_bad_programs),
		cmocka_unit_test(test_blobs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
