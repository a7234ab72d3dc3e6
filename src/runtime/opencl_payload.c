/* Reads the `opencl` module payload (docs/devices.md §3). Checks beyond TVM's own reader:
 * every length against the bytes left, bounded counts, argument dtypes a kernel can take
 * (handle, int32, int64, uint32, float32, float64), known launch tags, one source unit for
 * every kernel of the map and none without one. */
#include <stdlib.h>
#include <string.h>

#include "runtime/byte_reader.h"
#include "runtime/opencl_payload.h"
#include "base/xalloc.h"

#define DELIMITER "// Function: "
#define MAX_NAME 1024

static int fail(const char *what)
{
	ffi_error_set("ValueError", "malformed opencl module: %s", what);
	return -1;
}

/* A bounded string as a new NUL-terminated copy. */
static int read_name(byte_reader_t *r, char **out, const char *what)
{
	const uint8_t *p;
	uint64_t len;
	if (byte_reader_str(r, &p, &len) || len == 0 || len > MAX_NAME || memchr(p, 0, (size_t)len))
		return fail(what);
	*out = xmalloc((size_t)len + 1);
	memcpy(*out, p, (size_t)len);
	(*out)[len] = '\0';
	return 0;
}

static int str_is(const uint8_t *p, uint64_t len, const char *s)
{
	return len == strlen(s) && memcmp(p, s, (size_t)len) == 0;
}

static int arg_type_ok(DLDataType t)
{
	if (t.lanes != 1)
		return 0;
	return (t.code == kDLOpaqueHandle && t.bits == 64) ||
	       (t.code == kDLInt && (t.bits == 32 || t.bits == 64)) ||
	       (t.code == kDLUInt && t.bits == 32) || (t.code == kDLFloat && (t.bits == 32 || t.bits == 64));
}

static int read_arg_types(byte_reader_t *r, opencl_kernel_info_t *k)
{
	uint64_t n;
	if (byte_reader_u64(r, &n) || n > OPENCL_MAX_KERNEL_ARGS || n * 4 > byte_reader_left(r))
		return fail("bad argument count");
	k->arg_types = xcalloc(n ? (size_t)n : 1, sizeof *k->arg_types);
	k->num_args = (uint32_t)n;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = NULL;
		if (byte_reader_bytes(r, 4, &p)) /* cannot fail: checked above */
			return fail("truncated argument types");
		DLDataType t = {p[0], p[1], (uint16_t)(p[2] | p[3] << 8)};
		if (!arg_type_ok(t)) {
			ffi_error_set("ValueError", "opencl kernel %s: Cannot handle dtype (code %u, "
				      "bits %u, lanes %u) as device function argument", k->name,
				      t.code, t.bits, t.lanes);
			return -1;
		}
		k->arg_types[i] = t;
	}
	return 0;
}

/* blockIdx.{x,y,z} -> 0-2, threadIdx.{x,y,z} -> 3-5; -2 for the dynamic shared memory tag,
 * -3 for flag-only tags; -1 unknown. */
static int tag_axis(const uint8_t *p, uint64_t len)
{
	static const char *const axes[6] = {"blockIdx.x",  "blockIdx.y",  "blockIdx.z",
					    "threadIdx.x", "threadIdx.y", "threadIdx.z"};
	for (int i = 0; i < 6; i++)
		if (str_is(p, len, axes[i]))
			return i;
	if (str_is(p, len, "tirx.use_dyn_shared_memory") || str_is(p, len, "tir.use_dyn_shared_memory"))
		return -2;
	if (str_is(p, len, "tirx.use_programtic_dependent_launch") ||
	    str_is(p, len, "tirx.use_cooperative_launch") ||
	    str_is(p, len, "tir.use_programtic_dependent_launch") ||
	    str_is(p, len, "tir.use_cooperative_launch"))
		return -3;
	return -1;
}

static int read_tags(byte_reader_t *r, opencl_kernel_info_t *k)
{
	uint64_t n;
	if (byte_reader_u64(r, &n) || n > OPENCL_MAX_LAUNCH_TAGS)
		return fail("bad launch tag count");
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p;
		uint64_t len;
		if (byte_reader_str(r, &p, &len))
			return fail("truncated launch tag");
		int axis = tag_axis(p, len);
		if (axis == -1 || k->dyn_shared_memory) {
			ffi_error_set("ValueError", "opencl kernel %s: unknown or misplaced launch tag "
				      "'%.*s'", k->name, (int)(len > 64 ? 64 : len), (const char *)p);
			return -1;
		}
		if (axis == -2)
			k->dyn_shared_memory = 1;
		else if (axis >= 0)
			k->axes[k->num_axes++] = (uint8_t)axis;
	}
	return 0;
}

static int read_kernel(byte_reader_t *r, opencl_kernel_info_t *k)
{
	char *key = NULL;
	if (read_name(r, &key, "bad kernel name"))
		return -1;
	int rc = read_name(r, &k->name, "bad FunctionInfo name");
	if (rc == 0 && strcmp(key, k->name) != 0)
		rc = fail("FunctionInfo name differs from its key");
	free(key);
	uint64_t n;
	if (rc || read_arg_types(r, k) || read_tags(r, k))
		return -1;
	if (byte_reader_u64(r, &n) || n != k->num_args || n * 4 > byte_reader_left(r))
		return fail("arg_extra_tags do not match the arguments");
	r->pos += (size_t)n * 4;
	return 0;
}

/* Split the code at every delimiter and give each kernel its unit. */
static int split_sources(opencl_payload_t *p)
{
	size_t units = 0;
	const char *at = strstr(p->code, DELIMITER);
	if (!at) {
		ffi_error_set("ValueError", "The OpenCL module expects a kernel delimited source from "
			      "code generation, but no kernel delimiter was found.");
		return -1;
	}
	while (at) {
		const char *name = at + strlen(DELIMITER);
		const char *eol = strchr(name, '\n');
		if (!eol)
			return fail("kernel delimiter without a newline");
		const char *next = strstr(eol + 1, DELIMITER);
		long i = -1;
		for (size_t k = 0; k < p->num_kernels && i < 0; k++)
			if (strlen(p->kernels[k].name) == (size_t)(eol - name) &&
			    memcmp(p->kernels[k].name, name, (size_t)(eol - name)) == 0)
				i = (long)k;
		if (i < 0 || p->kernels[i].source) {
			ffi_error_set("ValueError", "malformed opencl module: source unit '%.*s' has no "
				      "kernel in the function map (or comes twice)",
				      (int)(eol - name > 64 ? 64 : eol - name), name);
			return -1;
		}
		p->kernels[i].source = eol + 1;
		p->kernels[i].source_len = (size_t)((next ? next : p->code + p->code_len) - (eol + 1));
		units++;
		at = next;
	}
	if (units != p->num_kernels) {
		ffi_error_set("ValueError", "The number of parsed kernel sources does not match the "
			      "number of kernel functions");
		return -1;
	}
	return 0;
}

static int parse(byte_reader_t *r, opencl_payload_t *out)
{
	const uint8_t *p;
	uint64_t len, n;
	if (byte_reader_str(r, &p, &len))
		return fail("truncated fmt");
	if (!str_is(p, len, "cl")) {
		ffi_error_set("ValueError", "opencl module format '%.*s' is not supported (only "
			      "OpenCL C source, \"cl\")", (int)(len > 32 ? 32 : len), (const char *)p);
		return -1;
	}
	/* A kernel entry takes at least 42 bytes (two 1-byte names, three counts). */
	if (byte_reader_u64(r, &n) || n == 0 || n > byte_reader_left(r) / 42)
		return fail("bad kernel count");
	out->kernels = xcalloc((size_t)n, sizeof *out->kernels);
	out->num_kernels = (size_t)n;
	for (size_t i = 0; i < out->num_kernels; i++) {
		if (read_kernel(r, &out->kernels[i]))
			return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(out->kernels[k].name, out->kernels[i].name) == 0)
				return fail("duplicate kernel name");
	}
	if (byte_reader_str(r, &p, &len) || memchr(p, 0, (size_t)len))
		return fail("bad code");
	if (byte_reader_left(r) != 0)
		return fail("trailing bytes");
	out->code = xmalloc((size_t)len + 1);
	memcpy(out->code, p, (size_t)len);
	out->code[len] = '\0';
	out->code_len = (size_t)len;
	return split_sources(out);
}

int opencl_payload_parse(const uint8_t *data, size_t size, opencl_payload_t *out)
{
	byte_reader_t r;
	memset(out, 0, sizeof *out);
	byte_reader_init(&r, data, size);
	if (parse(&r, out) == 0)
		return 0;
	opencl_payload_clear(out);
	return -1;
}

void opencl_payload_clear(opencl_payload_t *p)
{
	for (size_t i = 0; i < p->num_kernels; i++) {
		free(p->kernels[i].name);
		free(p->kernels[i].arg_types);
	}
	free(p->kernels);
	free(p->code);
	memset(p, 0, sizeof *p);
}

long opencl_payload_find(const opencl_payload_t *p, const char *name)
{
	for (size_t i = 0; i < p->num_kernels; i++)
		if (strcmp(p->kernels[i].name, name) == 0)
			return (long)i;
	return -1;
}
