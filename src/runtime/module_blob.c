/* Parser and loader for `__tvm_ffi__library_bin` (docs/relax-vm.md §1.2, §1.3, §1.6): the CSR
 * import tree, then one `str kind` (+ `str payload` unless `_lib`) per module. Only the
 * shapes a plain Relax or TIR build produces are accepted (CPU, or with `opencl` device
 * modules under `_lib`, docs/devices.md §3); everything else is named and refused. */
#include "runtime/module_blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/byte_reader.h"
#include "runtime/module_opencl.h"
#include "runtime/vm.h"
#include "runtime/vm_executable.h"
#include "base/xalloc.h"

#define KIND_LIB "_lib"
#define KIND_EXEC "relax.VMExecutable"
#define KIND_OPENCL "opencl"

#define blob_error(...) ffi_error_malformed("library module blob", __VA_ARGS__)

/* byte_reader.h does the bounds and byte order; these name what was being read. */
typedef byte_reader_t cursor_t;

static int take_u64(cursor_t *c, uint64_t *out, const char *what)
{
	if (byte_reader_u64(c, out))
		return blob_error("truncated while reading %s", what);
	return 0;
}

static int take_str(cursor_t *c, const uint8_t **data, size_t *len, const char *what)
{
	uint64_t n = 0;
	int rc = byte_reader_str(c, data, &n);
	if (rc == -1)
		return blob_error("truncated while reading %s", what);
	if (rc)
		return blob_error("%s claims %llu bytes, only %zu left", what, (unsigned long long)n,
				  byte_reader_left(c));
	*len = (size_t)n;
	return 0;
}

static int take_count(cursor_t *c, size_t *out, const char *what)
{
	uint64_t n = 0;
	if (take_u64(c, &n, what))
		return -1;
	if (n > byte_reader_left(c) / 8)
		return blob_error("%s count %llu exceeds the %zu bytes left", what,
				  (unsigned long long)n, byte_reader_left(c));
	*out = (size_t)n;
	return 0;
}

void module_blob_clear(module_blob_t *blob)
{
	free(blob->modules);
	free(blob->children);
	memset(blob, 0, sizeof *blob);
}

static int parse_tree(cursor_t *c, module_blob_t *out)
{
	size_t nptr = 0;
	if (take_count(c, &nptr, "import tree row pointers"))
		return -1;
	if (nptr < 2)
		return blob_error("import tree has %zu row pointers; at least one module is needed",
				  nptr);
	uint64_t *indptr = xmalloc(nptr * sizeof *indptr);
	for (size_t i = 0; i < nptr; i++)
		take_u64(c, &indptr[i], "row pointers"); /* cannot fail: count checked */
	int rc = 0;
	if (indptr[0] != 0)
		/* The pre-0.22 layout starts with a key count and a kind string here. */
		rc = blob_error("import tree does not start at 0 (a blob from TVM older than 0.22? "
				"rebuild the library with TVM >= 0.22)");
	for (size_t i = 1; i < nptr && !rc; i++)
		if (indptr[i] < indptr[i - 1])
			rc = blob_error("import tree row pointers decrease at %zu", i);
	if (!rc && take_count(c, &out->num_children, "import tree children"))
		rc = -1;
	if (!rc && indptr[nptr - 1] != out->num_children)
		rc = blob_error("import tree ends at %llu but lists %zu children",
				(unsigned long long)indptr[nptr - 1], out->num_children);
	if (rc) {
		free(indptr);
		return -1;
	}
	out->num_modules = nptr - 1;
	out->children = xcalloc(out->num_children, sizeof *out->children);
	for (size_t i = 0; i < out->num_children; i++)
		take_u64(c, &out->children[i], "children");
	out->modules = xcalloc(out->num_modules, sizeof *out->modules);
	for (size_t i = 0; i < out->num_modules && !rc; i++) {
		out->modules[i].child_begin = (size_t)indptr[i];
		out->modules[i].child_end = (size_t)indptr[i + 1];
		for (size_t k = (size_t)indptr[i]; k < indptr[i + 1] && !rc; k++)
			if (out->children[k] <= i || out->children[k] >= out->num_modules)
				rc = blob_error("module %zu imports module %llu (must be in (%zu, %zu))",
						i, (unsigned long long)out->children[k], i,
						out->num_modules);
	}
	free(indptr);
	return rc;
}

int module_blob_parse(const uint8_t *data, size_t size, module_blob_t *out)
{
	memset(out, 0, sizeof *out);
	cursor_t c;
	uint64_t nbytes = 0;
	byte_reader_init(&c, data, data ? size : 0);
	if (byte_reader_u64(&c, &nbytes))
		return blob_error("shorter than its 8-byte length field");
	if (nbytes > size - 8)
		return blob_error("states %llu bytes but only %zu are available",
				  (unsigned long long)nbytes, size - 8);
	byte_reader_init(&c, data + 8, (size_t)nbytes);
	if (parse_tree(&c, out))
		goto fail;
	for (size_t i = 0; i < out->num_modules; i++) {
		module_blob_entry_t *m = &out->modules[i];
		const uint8_t *kind;
		if (take_str(&c, &kind, &m->kind_len, "module kind"))
			goto fail;
		m->kind = (const char *)kind;
		if (m->kind_len == strlen(KIND_LIB) && memcmp(kind, KIND_LIB, m->kind_len) == 0)
			continue;
		if (take_str(&c, &m->payload, &m->payload_len, "module payload"))
			goto fail;
	}
	return 0;
fail:
	module_blob_clear(out);
	return -1;
}

static int kind_is(const module_blob_entry_t *m, const char *kind)
{
	return m->kind_len == strlen(kind) && memcmp(m->kind, kind, m->kind_len) == 0;
}

/* Only `_lib` and one root `relax.VMExecutable` are loadable here (§1.3). */
static int check_kinds(const module_blob_t *b)
{
	for (size_t i = 0; i < b->num_modules; i++) {
		const module_blob_entry_t *m = &b->modules[i];
		int len = (int)(m->kind_len > 80 ? 80 : m->kind_len);
		if (kind_is(m, KIND_LIB) || kind_is(m, KIND_OPENCL))
			continue;
		if (kind_is(m, "relax.Executable")) {
			ffi_error_set("ValueError",
				      "library contains module kind 'relax.Executable' from TVM older "
				      "than 0.20; rebuild the library with TVM >= 0.22");
			return -1;
		}
		if (!kind_is(m, KIND_EXEC)) {
			ffi_error_set("ValueError",
				      "library contains module kind '%.*s', which this runtime cannot "
				      "load (only CPU Relax builds without params/BYOC are supported)",
				      len, m->kind);
			return -1;
		}
		if (i != 0) {
			ffi_error_set("ValueError",
				      "library has a relax.VMExecutable at module %zu; it must be the "
				      "root (module 0)",
				      i);
			return -1;
		}
	}
	/* `_lib` may import device modules (opencl), nothing else; those import nothing. */
	for (size_t i = 0; i < b->num_modules; i++) {
		const module_blob_entry_t *m = &b->modules[i];
		int lib = kind_is(m, KIND_LIB), cl = kind_is(m, KIND_OPENCL);
		for (size_t k = m->child_begin; k < m->child_end && (lib || cl); k++)
			if (cl || !kind_is(&b->modules[b->children[k]], KIND_OPENCL)) {
				ffi_error_set("ValueError",
					      "library module %zu imports other modules this runtime cannot "
					      "link there (only _lib -> opencl)",
					      i);
				return -1;
			}
	}
	return 0;
}

ffi_module_t *module_blob_load_sized(ffi_module_t *lib, const uint8_t *blob, size_t size)
{
	module_blob_t b;
	if (module_blob_parse(blob, size, &b))
		return NULL;
	if (check_kinds(&b)) {
		module_blob_clear(&b);
		return NULL;
	}
	ffi_module_t **mods = xcalloc(b.num_modules, sizeof *mods);
	ffi_module_t *root = NULL;
	size_t i;
	for (i = 0; i < b.num_modules; i++) {
		const module_blob_entry_t *m = &b.modules[i];
		if (kind_is(m, KIND_LIB)) {
			ffi_object_retain(&lib->header);
			mods[i] = lib;
			continue;
		}
		if (kind_is(m, KIND_OPENCL)) {
			mods[i] = module_opencl_load(m->payload, m->payload_len);
			if (!mods[i])
				goto done;
			continue;
		}
		vm_executable_t *exec;
		if (vm_executable_parse(m->payload, m->payload_len, &exec))
			goto done;
		mods[i] = vm_executable_module_new(exec);
	}
	for (i = 0; i < b.num_modules; i++)
		for (size_t k = b.modules[i].child_begin; k < b.modules[i].child_end; k++)
			ffi_module_import(mods[i], mods[b.children[k]]);
	root = mods[0];
	ffi_object_retain(&root->header);
done:
	for (i = 0; i < b.num_modules; i++)
		if (mods[i])
			ffi_object_release(&mods[i]->header);
	free(mods);
	module_blob_clear(&b);
	return root;
}

ffi_module_t *module_blob_load(ffi_module_t *lib, const uint8_t *blob)
{
	if (!blob) {
		ffi_error_set("ValueError", "library module blob is missing");
		return NULL;
	}
	cursor_t c;
	uint64_t nbytes = 0;
	byte_reader_init(&c, blob, 8);
	byte_reader_u64(&c, &nbytes); /* cannot fail: 8 bytes */
	/* Without a symbol size, the stated length is all there is; refuse absurd values
	 * rather than read far past the mapping. */
	if (nbytes > ((uint64_t)1 << 40)) {
		ffi_error_set("ValueError", "library module blob states an absurd size of %llu bytes",
			      (unsigned long long)nbytes);
		return NULL;
	}
	return module_blob_load_sized(lib, blob, (size_t)nbytes + 8);
}
