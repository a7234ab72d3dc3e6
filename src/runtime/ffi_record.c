/* The reflected record types of the structural globals (AccessStep, AccessPath, StructuralKey,
 * VisitInterrupt):
 * their field lists, construction and release, and access paths built one step at a time. */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi_record.h"
#include "runtime/xalloc.h"

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

const char *ffi_value_type_key(int32_t type_index)
{
	const ffi_record_type_t *t = ffi_record_type(type_index);
	return t ? t->type_key : ffi_type_key(type_index);
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
