/* Unit tests for the JSON reader/writer (ffi_json.c), the JSON object graph
 * (ffi_serialization.c) and ReprPrint (ffi_repr.c): values, text and error messages as TVM's
 * tvm_rpc gives them (expected strings copied from tests/conformance/goldens/structural.json),
 * and hostile input (deep nesting, huge numbers, self-referencing graphs, bad base64) that must
 * end in an error, never a crash. Globals are called through the registry as the session does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/ffi_json.h"
#include "runtime/ffi_serialization.h"
#include "global_call_util.h"

/* ---- helpers ---- */

static TVMFFIAny raw(const char *s)
{
	TVMFFIAny v = {.type_index = FFI_RAW_STR};
	v.v_c_str = s;
	return v;
}

/* The text of a string result (owned copy); releases the value. */
static char *text_of(TVMFFIAny v)
{
	size_t n;
	const char *s = ffi_any_as_str(&v, &n);
	assert_non_null(s);
	char *copy = strndup(s, n);
	ffi_any_release(&v);
	return copy;
}

static void assert_text(TVMFFIAny v, const char *want)
{
	char *got = text_of(v);
	assert_string_equal(got, want);
	free(got);
}

static TVMFFIAny parse(const char *text)
{
	TVMFFIAny arg = raw(text);
	return ok("ffi.json.Parse", &arg, 1);
}

static char *stringify(const TVMFFIAny *v, int64_t indent)
{
	TVMFFIAny args[2] = {*v, indent ? ffi_any_int(indent) : ffi_any_none()};
	return text_of(ok("ffi.json.Stringify", args, 2));
}

/* Parse then write back on one line. */
static void assert_round_trip(const char *text, const char *want)
{
	TVMFFIAny v = parse(text);
	char *got = stringify(&v, 0);
	assert_string_equal(got, want);
	free(got);
	ffi_any_release(&v);
}

static void assert_parse_error(const char *text, const char *message)
{
	TVMFFIAny arg = raw(text);
	fails("ffi.json.Parse", &arg, 1, "ValueError");
	if (message)
		assert_string_equal(ffi_error_message(), message);
}

static char *repr(TVMFFIAny v)
{
	return text_of(ok("ffi.ReprPrint", &v, 1));
}

/* ---- JSON reader ---- */

static void test_parse_scalars(void **state)
{
	(void)state;
	TVMFFIAny v = parse(" 42 ");
	assert_int_equal(v.type_index, FFI_INT);
	assert_int_equal(v.v_int64, 42);
	v = parse("-9223372036854775808");
	assert_int_equal(v.type_index, FFI_INT);
	assert_true(v.v_int64 == INT64_MIN);
	v = parse("9223372036854775808"); /* past int64: a double */
	assert_int_equal(v.type_index, FFI_FLOAT);
	v = parse("+5"); /* strtoll accepts it, so tvm-ffi does */
	assert_int_equal(v.v_int64, 5);
	v = parse("1E2");
	assert_int_equal(v.type_index, FFI_FLOAT);
	assert_true(v.v_float64 == 100.0);
	v = parse("-Infinity");
	assert_true(v.type_index == FFI_FLOAT && v.v_float64 < 0 && v.v_float64 * 0 != 0);
	v = parse("NaN");
	assert_true(v.v_float64 != v.v_float64);
	v = parse("true");
	assert_true(v.type_index == FFI_BOOL && v.v_int64 == 1);
	v = parse("null");
	assert_int_equal(v.type_index, FFI_NONE);
	v = parse("\"short\"");
	assert_int_equal(v.type_index, FFI_SMALL_STR);
	assert_text(v, "short");
	v = parse("\"\\u00e9\\ud83d\\ude00\\n\\/\"");
	assert_text(v, "\xc3\xa9\xf0\x9f\x98\x80\n/");
}

static void test_parse_containers(void **state)
{
	(void)state;
	assert_round_trip("{\"a\": 1, \"b\": [1, 2.5, null, true, \"x\"], \"c\": {}}",
			  "{\"a\":1,\"b\":[1,2.5,null,true,\"x\"],\"c\":{}}");
	/* a repeated key keeps its first place and its last value */
	assert_round_trip("{\"a\": 1, \"a\": 2, \"b\": 3}", "{\"a\":2,\"b\":3}");
	assert_round_trip("\n[\n 1,\n 2\n]\n", "[1,2]");
	TVMFFIAny v = parse("[[], {}]");
	assert_int_equal(v.type_index, FFI_ARRAY);
	ffi_array_t *a = (ffi_array_t *)v.v_obj;
	assert_int_equal(a->items[0].type_index, FFI_ARRAY);
	assert_int_equal(a->items[1].type_index, FFI_MAP);
	ffi_any_release(&v);
}

static void test_parse_error_positions(void **state)
{
	(void)state;
	assert_parse_error("", "Expecting value: line 1 column 1 (char 0)");
	assert_parse_error("   ", "Expecting value: line 1 column 4 (char 3)");
	assert_parse_error("[1,", "Syntax error near: line 1 column 4 (char 3)");
	assert_parse_error("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)");
	assert_parse_error("{", "Expecting property name enclosed in double quotes: line 1 column "
				"2 (char 1)");
	assert_parse_error("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)");
	assert_parse_error("\n\n  ]", "Expecting value: line 3 column 3 (char 4)");
	assert_parse_error("[1] x", "Extra data: line 1 column 5 (char 4)");
	assert_parse_error("\"abc", "Unterminated string starting at: line 1 column 1 (char 0)");
	assert_parse_error("\"a\\x\"", "Invalid \\escape: line 1 column 4 (char 3)");
	assert_parse_error("\"a\x01\"", "Invalid control character at: line 1 column 3 (char 2)");
	assert_parse_error("\"a\\u12\"", "Invalid \\uXXXX escape: line 1 column 4 (char 3)");
	assert_parse_error("\"\\udc00\"",
			   "Invalid surrogate pair of \\uXXXX escapes: line 1 column 3 (char 2)");
	assert_parse_error("\"\\", "Invalid \\escape: line 1 column 3 (char 2)");
	assert_parse_error("-Infinit", "Expecting value: line 1 column 1 (char 0)");
}

static void test_parse_hostile(void **state)
{
	(void)state;
	/* nesting far past the bound: an error, not a stack overflow */
	size_t depth = 200000;
	char *deep = malloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	assert_parse_error(deep, NULL);
	assert_non_null(strstr(ffi_error_message(), "Nesting deeper than"));
	memset(deep, '{', depth); /* unbalanced objects too */
	deep[depth] = '\0';
	assert_parse_error(deep, NULL);
	free(deep);
	/* just inside the bound works */
	char ok_depth[2 * FFI_NEST_MAX + 1];
	memset(ok_depth, '[', FFI_NEST_MAX);
	memset(ok_depth + FFI_NEST_MAX, ']', FFI_NEST_MAX);
	ok_depth[2 * FFI_NEST_MAX] = '\0';
	TVMFFIAny v = parse(ok_depth);
	ffi_any_release(&v);
	/* numbers out of range of a double, a 5000-digit integer, NUL inside the text */
	assert_parse_error("1e400", "Expecting value: line 1 column 1 (char 0)");
	assert_parse_error("1e-400", "Expecting value: line 1 column 1 (char 0)");
	char digits[5001];
	memset(digits, '9', 5000);
	digits[5000] = '\0';
	assert_parse_error(digits, NULL);
	TVMFFIAny out;
	assert_int_equal(ffi_json_parse("[1\0]", 4, &out), -1);
	assert_int_equal(ffi_json_parse("\"a\0b\"", 5, &out), -1);
}

static void test_parse_arguments(void **state)
{
	(void)state;
	TVMFFIAny args[2] = {ffi_any_int(5), raw("1")};
	fails("ffi.json.Parse", args, 1, "TypeError");
	fails("ffi.json.Parse", args + 1, 2, "TypeError");
	fails("ffi.json.Parse", args, 0, "TypeError");
	assert_string_equal(ffi_error_message(),
			    "Mismatched number of arguments when calling: `ffi.json.Parse(0: str) "
			    "-> Any`. Expected 1 but got 0 arguments");
}

/* ---- JSON writer ---- */

static void test_stringify_text(void **state)
{
	(void)state;
	TVMFFIAny v = parse("{\"a\": [1, 2.5]}");
	char *s = stringify(&v, 2);
	assert_string_equal(s, "{\n  \"a\": [\n    1,\n    2.5\n  ]\n}");
	free(s);
	s = stringify(&v, -2); /* a negative indent breaks lines and indents nothing */
	assert_string_equal(s, "{\n\"a\": [\n1,\n2.5\n]\n}");
	free(s);
	s = stringify(&v, ((int64_t)1 << 33) + 2); /* truncated to int, as tvm-ffi's cast */
	assert_string_equal(s, "{\n  \"a\": [\n    1,\n    2.5\n  ]\n}");
	free(s);
	ffi_any_release(&v);
	struct {
		double x;
		const char *text;
	} floats[] = {{2.0, "2.0"}, {-0.0, "-0.0"}, {1e16, "10000000000000000"},
		      {0.1, "0.10000000000000001"}, {1e300, "1.0000000000000001e+300"},
		      {9007199254740993.0, "9007199254740992"}};
	for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
		TVMFFIAny f = ffi_any_float(floats[i].x);
		s = stringify(&f, 0);
		assert_string_equal(s, floats[i].text);
		free(s);
	}
	TVMFFIAny str = raw("q\"\\/\b\f\n\r\t\x01\x7f\xc3\xa9");
	s = stringify(&str, 0);
	assert_string_equal(s, "\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u007f\xc3\xa9\"");
	free(s);
}

static void test_stringify_errors(void **state)
{
	(void)state;
	ffi_map_t *m = ffi_map_new(FFI_MAP);
	ffi_map_set(m, ffi_any_int(1), ffi_any_int(2));
	TVMFFIAny args[2] = {ffi_any_object(ffi_map_object(m)), ffi_any_none()};
	fails("ffi.json.Stringify", args, 2, "ValueError");
	assert_string_equal(ffi_error_message(), "Expect key to be string, got `int`");
	ffi_any_release(&args[0]);

	args[0] = ffi_any_object(ffi_map_object(ffi_map_new(FFI_DICT)));
	fails("ffi.json.Stringify", args, 2, "ValueError");
	assert_string_equal(ffi_error_message(), "Unsupported type: `ffi.Dict`");
	ffi_any_release(&args[0]);

	/* a List that contains itself */
	ffi_array_t *list = ffi_list_new();
	ffi_object_retain(&list->header);
	ffi_array_push(list, ffi_any_object(&list->header));
	args[0] = ffi_any_object(&list->header);
	fails("ffi.json.Stringify", args, 2, "ValueError");
	assert_string_equal(ffi_error_message(), "Cycle detected: List contains itself");
	ffi_any_release(&list->items[0]); /* break the cycle */
	list->size = 0;
	ffi_any_release(&args[0]);

	/* a huge indent over a deep value: refused at the size bound, not allocated */
	TVMFFIAny deep = parse("[[[[[[[[[[1]]]]]]]]]]");
	TVMFFIAny huge[2] = {deep, ffi_any_int(INT32_MAX)};
	fails("ffi.json.Stringify", huge, 2, "ValueError");
	ffi_any_release(&deep);

	/* 60 levels each holding the level below twice: 2^60 leaves, stopped at the size bound */
	TVMFFIAny dag = ffi_any_int(1);
	for (int i = 0; i < 60; i++) {
		ffi_array_t *a = ffi_array_new();
		ffi_any_retain(&dag);
		ffi_array_push(a, dag);
		ffi_array_push(a, dag);
		dag = ffi_any_object(&a->header);
	}
	TVMFFIAny dag_args[2] = {dag, ffi_any_none()};
	fails("ffi.json.Stringify", dag_args, 2, "ValueError");
	fails("ffi.ReprPrint", dag_args, 1, "ValueError");
	TVMFFIAny graph = ok("ffi.ToJSONGraphString", dag_args, 2); /* shared nodes: small */
	ffi_any_release(&graph);
	ffi_any_release(&dag);

	TVMFFIAny bad_indent[2] = {ffi_any_int(1), ffi_any_float(2.0)};
	fails("ffi.json.Stringify", bad_indent, 2, "TypeError");
	fails("ffi.json.Stringify", bad_indent, 1, "TypeError");
}

/* ---- JSON graph ---- */

static char *graph_string(TVMFFIAny v, TVMFFIAny metadata)
{
	TVMFFIAny args[2] = {v, metadata};
	return text_of(ok("ffi.ToJSONGraphString", args, 2));
}

static TVMFFIAny graph_read(const char *text)
{
	TVMFFIAny arg = raw(text);
	return ok("ffi.FromJSONGraphString", &arg, 1);
}

static void graph_fails(const char *text, const char *kind)
{
	TVMFFIAny arg = raw(text);
	fails("ffi.FromJSONGraphString", &arg, 1, kind);
}

static void test_graph_write(void **state)
{
	(void)state;
	ffi_array_t *shared = ffi_array_new();
	ffi_array_push(shared, ffi_any_int(1));
	ffi_array_t *outer = ffi_array_new();
	ffi_object_retain(&shared->header);
	ffi_array_push(outer, ffi_any_object(&shared->header));
	ffi_array_push(outer, ffi_any_object(&shared->header));
	ffi_array_push(outer, ffi_json_str_value("s", 1));
	ffi_array_push(outer, ffi_any_object(&ffi_str_new("s", 1)->header));
	ffi_array_push(outer, ffi_any_bool(1));
	ffi_array_push(outer, ffi_any_object(&ffi_bytes_new("abc", 3)->header));
	TVMFFIAny v = ffi_any_object(&outer->header);
	static const char graph[] =
		"{\"root_index\":5,\"nodes\":[{\"type\":\"int\",\"data\":1},"
		"{\"type\":\"ffi.Array\",\"data\":[0]},{\"type\":\"ffi.String\",\"data\":\"s\"},"
		"{\"type\":\"bool\",\"data\":true},{\"type\":\"ffi.Bytes\",\"data\":\"YWJj\"},"
		"{\"type\":\"ffi.Array\",\"data\":[1,1,2,2,3,4]}]}";
	char *s = graph_string(v, ffi_any_none());
	assert_string_equal(s, graph); /* the shared Array and the equal strings are one node */
	free(s);
	TVMFFIAny back = graph_read(graph);
	s = repr(back);
	assert_string_equal(s, "((1,), (1,), \"s\", \"s\", True, b\"abc\")");
	free(s);
	ffi_any_release(&back);
	ffi_any_release(&v);
}

static void test_graph_read_hostile(void **state)
{
	(void)state;
	graph_fails("[]", "ValueError");
	graph_fails("{\"root_index\": 0, \"nodes\": []}", "ValueError");
	graph_fails("{\"root_index\": 9223372036854775807, \"nodes\": [{\"type\": \"None\"}]}",
		    "ValueError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"ffi.Map\", \"data\": [0]}]}",
		    "ValueError");
	/* nodes that contain themselves, directly or through another: an error, no recursion
	 * without end (TVM's own reader overflows its stack here) */
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"ffi.Array\", \"data\": [0]}]}",
		    "ValueError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"ffi.List\", \"data\": [1]},"
		    "{\"type\": \"ffi.Dict\", \"data\": [0, 0]}]}", "ValueError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"int\", \"data\": \"5\"}]}",
		    "TypeError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"data\": 1}]}", "KeyError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"no.Such\", \"data\": 1}]}",
		    "InternalError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"ffi.Bytes\","
		    " \"data\": \"abc\"}]}", "InternalError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"ffi.Function\", \"data\": {}}]}",
		    "TypeError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"void*\", \"data\": 0}]}",
		    "TypeError");
	graph_fails("{\"root_index\": 0, \"nodes\": [{\"type\": \"DataType\", \"data\": \"x\"}]}",
		    "ValueError");
	/* base64 outside the alphabet reads as zero bits, as tvm-ffi's table */
	TVMFFIAny b = graph_read("{\"root_index\": 0, \"nodes\": [{\"type\": \"ffi.Bytes\","
				 " \"data\": \"YW=j\\u00ff\\u00ff\"}]}");
	char *s = repr(b);
	assert_string_equal(s, "b\"a#\\x00\\x00\\x00\"");
	free(s);
	ffi_any_release(&b);
	/* a long chain of nodes, each the parent of the next: bounded depth */
	ffi_text_t t = {0};
	int n = 5000;
	ffi_text_printf(&t, "{\"root_index\": 0, \"nodes\": [");
	for (int i = 0; i < n; i++)
		ffi_text_printf(&t, "%s{\"type\": \"ffi.Array\", \"data\": [%d]}", i ? "," : "",
				i + 1 < n ? i + 1 : 0);
	ffi_text_puts(&t, "]}");
	graph_fails(t.data, "ValueError");
	ffi_text_free(&t);
}

static void test_graph_metadata_and_errors(void **state)
{
	(void)state;
	TVMFFIAny meta = parse("{\"meta\": [1, \"x\"]}");
	char *s = graph_string(ffi_any_int(1), meta);
	assert_string_equal(s, "{\"root_index\":0,\"nodes\":[{\"type\":\"int\",\"data\":1}],"
			       "\"metadata\":{\"meta\":[1,\"x\"]}}");
	free(s);
	ffi_any_release(&meta);
	ffi_function_t *fn = ffi_registry_get("ffi.ReprPrint");
	TVMFFIAny args[2] = {ffi_any_object(&fn->header), ffi_any_none()};
	fails("ffi.ToJSONGraphString", args, 2, "TypeError");
	ffi_any_release(&args[0]);
	args[0] = ffi_any_ptr(NULL);
	fails("ffi.ToJSONGraph", args, 2, "RuntimeError");
	fails("ffi.FromJSONGraph", args, 1, "ValueError");
}

/* ---- ReprPrint ---- */

static void test_repr(void **state)
{
	(void)state;
	char *s = repr(raw("q\"'\\\n\t\x01\x7f\xc3\xa9\xf0\x9f\x98\x80\x1b[31mred\xff"));
	assert_string_equal(s, "\"q\\\"'\\\\\\n\\t\\x01\\x7f\\u00e9\\U0001f600\\x1b[31mred\\xff\"");
	free(s);
	TVMFFIAny f = ffi_any_float(1.0 / 3);
	s = repr(f);
	assert_string_equal(s, "0.333333");
	free(s);
	TVMFFIAny dev = {.type_index = FFI_DEVICE};
	dev.v_device = (DLDevice){kDLCUDA, 1};
	s = repr(dev);
	assert_string_equal(s, "cuda:1");
	free(s);
	TVMFFIAny v = parse("{\"z\": [1, {\"y\": null}], \"a\": \"b\", \"m\": 1.25}");
	s = repr(v);
	assert_string_equal(s, "{\"z\": (1, {\"y\": None}), \"a\": \"b\", \"m\": 1.25}");
	free(s);
	ffi_any_release(&v);
	int64_t dims[2] = {2, 3};
	DLDataType f32 = {kDLFloat, 32, 1};
	ffi_tensor_t *t = ffi_tensor_alloc(dims, 2, f32, (DLDevice){kDLCPU, 0});
	TVMFFIAny tensor = ffi_any_object(&t->header);
	s = repr(tensor);
	assert_string_equal(s, "float32[2, 3]@cpu:0");
	free(s);
	ffi_any_release(&tensor);
	/* a list inside itself prints as ... */
	ffi_array_t *list = ffi_list_new();
	ffi_array_push(list, ffi_any_int(1));
	ffi_object_retain(&list->header);
	ffi_array_push(list, ffi_any_object(&list->header));
	s = repr(ffi_any_object(&list->header));
	assert_string_equal(s, "[1, ...]");
	free(s);
	ffi_any_release(&list->items[1]);
	list->size = 1;
	ffi_object_release(&list->header);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_scalars),
		cmocka_unit_test(test_parse_containers),
		cmocka_unit_test(test_parse_error_positions),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_arguments),
		cmocka_unit_test(test_stringify_text),
		cmocka_unit_test(test_stringify_errors),
		cmocka_unit_test(test_graph_write),
		cmocka_unit_test(test_graph_read_hostile),
		cmocka_unit_test(test_graph_metadata_and_errors),
		cmocka_unit_test(test_repr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
