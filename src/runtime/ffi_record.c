/* The reflected record types of the structural globals (AccessStep, AccessPath, StructuralKey,
 * VisitInterrupt): their field lists, construction and release, access paths built one step at
 * a time, and ffi.MakeObjectFromPackedArgs, which builds a record from field names. */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_record.h"
#include "base/xalloc.h"

static const ffi_record_type_t record_types[] = {
	{FFI_VISIT_INTERRUPT, "ffi.VisitInterrupt", 1, {{"value", 0, 1}}, 0},
	{FFI_ACCESS_STEP, "ffi.reflection.AccessStep", 2, {{"kind", 1, 0}, {"key", 0, 0}}, 1},
	{FFI_ACCESS_PATH, "ffi.reflection.AccessPath", 3,
	 {{"parent", 0, 0}, {"step", 0, 0}, {"depth", 1, 0}}, 1},
	{FFI_STRUCTURAL_KEY, "ffi.StructuralKey", 2, {{"key", 0, 0}, {"hash_i64", 1, 0}}, 0},
};

#define NUM_RECORD_TYPES (sizeof record_types / sizeof record_types[0])

const ffi_record_type_t *ffi_record_type(int32_t type_index)
{
	for (size_t i = 0; i < NUM_RECORD_TYPES; i++)
		if (record_types[i].type_index == type_index)
			return &record_types[i];
	return NULL;
}

const ffi_record_type_t *ffi_record_type_by_key(const char *key, size_t len)
{
	for (size_t i = 0; i < NUM_RECORD_TYPES; i++)
		if (strlen(record_types[i].type_key) == len &&
		    memcmp(record_types[i].type_key, key, len) == 0)
			return &record_types[i];
	return NULL;
}

static void record_deleter(void *self, int flags)
{
	(void)flags;
	ffi_record_t *r = self;
	for (int i = 0; i < FFI_RECORD_MAX_FIELDS; i++)
		ffi_any_release(&r->fields[i]);
	free(r);
}

ffi_record_t *ffi_record_new(int32_t type_index)
{
	const ffi_record_type_t *t = ffi_record_type(type_index);
	ffi_record_t *r = xcalloc(1, sizeof *r);
	ffi_object_init(&r->header, type_index, record_deleter);
	for (int i = 0; t && i < t->num_fields; i++)
		if (t->fields[i].is_int)
			r->fields[i] = ffi_any_int(0);
	return r;
}

ffi_record_t *ffi_access_path_root(void)
{
	return ffi_record_new(FFI_ACCESS_PATH); /* parent None, step None, depth 0 */
}

ffi_record_t *ffi_access_path_extend(ffi_record_t *parent, int kind, const TVMFFIAny *key)
{
	ffi_record_t *step = ffi_record_new(FFI_ACCESS_STEP);
	step->fields[0] = ffi_any_int(kind);
	if (ffi_any_to_owned(key, &step->fields[1]))
		step->fields[1] = ffi_any_none();
	ffi_record_t *path = ffi_record_new(FFI_ACCESS_PATH);
	ffi_object_retain(&parent->header);
	path->fields[0] = ffi_any_object(&parent->header);
	path->fields[1] = ffi_any_object(&step->header);
	path->fields[2] = ffi_any_int(parent->fields[2].v_int64 + 1);
	return path;
}

/* ---- ffi.MakeObjectFromPackedArgs(type, "field", value, ...) ---- */

static const ffi_record_type_t *record_type_arg(const TVMFFIAny *arg)
{
	const char *key;
	size_t len;
	if (arg->type_index == FFI_INT || arg->type_index == FFI_BOOL) {
		int64_t ti = arg->v_int64;
		const ffi_record_type_t *t =
			ti == (int32_t)ti ? ffi_record_type((int32_t)ti) : NULL;
		if (!t)
			ffi_error_set("TypeError", "type index %lld has no reflected fields to set "
				      "on this server", (long long)ti);
		return t;
	}
	key = ffi_any_as_str(arg, &len);
	if (!key) {
		ffi_error_set("TypeError", "Cannot convert from type `%s` to `str`",
			      ffi_type_key(arg->type_index));
		return NULL;
	}
	const ffi_record_type_t *t = ffi_record_type_by_key(key, len);
	if (!t)
		ffi_error_set("InternalError", "Check failed: (it != type_key2index_.end()) is "
			      "false: Cannot find type `%.*s`", (int)(len > 200 ? 200 : len), key);
	return t;
}

/* The index of the first unused (name, value) pair naming `field`, or -1. */
static int32_t record_find_arg(const TVMFFIAny *args, int32_t n, const char *field,
			       const char *used)
{
	for (int32_t i = 1; i + 1 < n; i += 2) {
		size_t len;
		const char *name = ffi_any_as_str(&args[i], &len);
		if (!used[i] && strlen(field) == len && memcmp(name, field, len) == 0)
			return i;
	}
	return -1;
}

/* Set every field from its pair, or its default; a field without either is a TypeError. */
static int record_fill(ffi_record_t *r, const ffi_record_type_t *t, const TVMFFIAny *args,
		       int32_t n, char *used)
{
	for (int f = 0; f < t->num_fields; f++) {
		int32_t at = record_find_arg(args, n, t->fields[f].name, used);
		if (at < 0 && !t->fields[f].has_default) {
			ffi_error_set("TypeError", "Required field `%s` not set in type `%s`",
				      t->fields[f].name, t->type_key);
			return -1;
		}
		if (at < 0)
			continue;
		used[at] = 1;
		const TVMFFIAny *v = &args[at + 1];
		ffi_any_release(&r->fields[f]);
		int is_int = v->type_index == FFI_INT || v->type_index == FFI_BOOL;
		if (t->fields[f].is_int) /* tvm-ffi's setter leaves 0 for a value it cannot take */
			r->fields[f] = ffi_any_int(is_int ? v->v_int64 : 0);
		else if (ffi_any_to_owned(v, &r->fields[f]))
			return -1;
	}
	for (int32_t i = 1; i + 1 < n; i += 2) {
		if (!used[i]) {
			ffi_error_set("TypeError", "Type `%s` does not have field `%s`",
				      t->type_key, ffi_any_as_str(&args[i], NULL));
			return -1;
		}
	}
	return 0;
}

static int global_make_object(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	if (n < 1) {
		ffi_error_set("IndexError", "ffi.MakeObjectFromPackedArgs: expected a type key");
		return -1;
	}
	const ffi_record_type_t *t = record_type_arg(&args[0]);
	if (!t)
		return -1;
	if (n % 2 != 1) {
		ffi_error_set("InternalError", "Check failed: (args.size() %% 2 == 1) is false: ");
		return -1;
	}
	for (int32_t i = 1; i < n; i += 2) {
		if (!ffi_any_as_str(&args[i], NULL)) {
			ffi_error_set("TypeError", "Cannot convert from type `%s` to `str`",
				      ffi_type_key(args[i].type_index));
			return -1;
		}
	}
	char *used = xcalloc((size_t)n, 1);
	ffi_record_t *r = ffi_record_new(t->type_index);
	int rc = record_fill(r, t, args, n, used);
	free(used);
	if (rc) {
		ffi_object_release(&r->header);
		return -1;
	}
	*result = ffi_any_object(&r->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.MakeObjectFromPackedArgs", global_make_object)
