/* ffi.StructuralWalk: tvm-ffi's callback walk over a value (Array/List items, Map/Dict keys then
 * values, record fields), pre- or post-order, with callbacks chosen by type index. Over RPC the
 * callbacks are functions living on this server (a client's own functions cannot cross), e.g.
 * ffi.VisitInterrupt to stop at the first match. The visitor globals take a StructuralVisitor,
 * an object that only exists inside a caller-side walk, so they fail as TVM's do for every
 * value a client can pass. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/ffi_json.h"
#include "runtime/ffi_record.h"
#include "runtime/ffi_structural.h"
#include "base/xalloc.h"

enum { WALK_ADVANCE = 0, WALK_SKIP = 1 };

struct walk_callback {
	int32_t type_index;
	ffi_function_t *fn;
};

struct structural_walk {
	const struct walk_callback *plain; /* called as fn(value) */
	size_t num_plain;
	const struct walk_callback *with_kind; /* called as fn(value, def_region_kind) */
	size_t num_with_kind;
	int post_order;
	int depth;
	TVMFFIAny interrupt; /* the VisitInterrupt that stopped the walk, or None */
};

/* tvm-ffi's RuntimeTypeIndexMatch for the types this server has (no subclassing). */
static int walk_type_matches(int32_t actual, int32_t target)
{
	if (actual == target || target == -1)
		return 1;
	if (target == FFI_STR)
		return actual == FFI_SMALL_STR;
	if (target == FFI_BYTES)
		return actual == FFI_SMALL_BYTES;
	return target == FFI_OBJECT && actual >= FFI_STATIC_OBJECT_BEGIN;
}

/* A callback's answer as a WalkResult: None advances, an int is the tag, a VisitInterrupt
 * stops the walk (kept in w->interrupt). 0, 1 (stop) or -1. */
static int walk_result(struct structural_walk *w, TVMFFIAny *rv, int *tag)
{
	*tag = WALK_ADVANCE;
	if (rv->type_index == FFI_NONE)
		return 0;
	if (rv->type_index == FFI_INT || rv->type_index == FFI_BOOL) {
		*tag = (int32_t)rv->v_int64;
		return 0;
	}
	if (rv->type_index == FFI_VISIT_INTERRUPT) {
		w->interrupt = *rv;
		*rv = ffi_any_none();
		return 1;
	}
	ffi_error_set("TypeError",
		      "CallExpected: result type mismatch, expected WalkResult, but got %s",
		      ffi_type_key(rv->type_index));
	ffi_any_release(rv);
	return -1;
}

/* Run the first callback that matches v: 0 (go on, *tag set), 1 (interrupted) or -1. */
static int walk_dispatch(struct structural_walk *w, const TVMFFIAny *v, int *tag)
{
	int32_t ti = v->type_index;
	TVMFFIAny args[2] = {*v, ffi_any_int(0)}, rv;
	for (size_t i = 0; i < w->num_plain + w->num_with_kind; i++) {
		int plain = i < w->num_plain;
		const struct walk_callback *cb =
			plain ? &w->plain[i] : &w->with_kind[i - w->num_plain];
		if (!walk_type_matches(ti, cb->type_index))
			continue;
		if (ffi_function_call(cb->fn, args, plain ? 1 : 2, &rv))
			return -1;
		return walk_result(w, &rv, tag);
	}
	*tag = WALK_ADVANCE;
	return 0;
}

static int walk_value(struct structural_walk *w, const TVMFFIAny *v);

static int walk_children(struct structural_walk *w, const TVMFFIAny *v)
{
	int32_t ti = v->type_index;
	int rc = 0;
	if (ti == FFI_ARRAY || ti == FFI_LIST) {
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		for (size_t i = 0; i < a->size && rc == 0; i++)
			rc = walk_value(w, &a->items[i]);
	} else if (ti == FFI_MAP || ti == FFI_DICT) {
		size_t pos = 0;
		const TVMFFIAny *key, *value;
		while (rc == 0 && ffi_map_next((const ffi_map_t *)v->v_obj, &pos, &key, &value)) {
			rc = walk_value(w, key);
			if (rc == 0)
				rc = walk_value(w, value);
		}
	} else if (ffi_record_type(ti)) {
		const ffi_record_t *r = (const ffi_record_t *)v->v_obj;
		for (int i = 0; i < ffi_record_type(ti)->num_fields && rc == 0; i++)
			rc = walk_value(w, &r->fields[i]);
	}
	return rc; /* other values have no structural children */
}

/* 0 to go on, 1 when a callback interrupted the walk, -1 on error. */
static int walk_value(struct structural_walk *w, const TVMFFIAny *v)
{
	int tag, rc;
	if (v->type_index == FFI_NONE)
		return 0;
	if (!w->post_order) {
		rc = walk_dispatch(w, v, &tag);
		if (rc != 0 || tag == WALK_SKIP)
			return rc;
	}
	if (++w->depth > FFI_NEST_MAX) {
		ffi_error_set("ValueError", "the value is nested deeper than %d levels",
			      FFI_NEST_MAX);
		return -1;
	}
	rc = walk_children(w, v);
	w->depth--;
	if (rc != 0 || !w->post_order)
		return rc;
	return walk_dispatch(w, v, &tag);
}

/* Array<Tuple<int, Function>>: borrowed views into the caller's arrays. */
static int walk_callbacks(const char *sig, const TVMFFIAny *args, int32_t i,
			  struct walk_callback **out, size_t *count)
{
	const char *want = "Array<Tuple<int, ffi.Function>>";
	if (args[i].type_index != FFI_ARRAY) {
		ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. "
			      "Expected `%s` but got `%s`", i, sig, want,
			      ffi_type_key(args[i].type_index));
		return -1;
	}
	const ffi_array_t *a = (const ffi_array_t *)args[i].v_obj;
	*out = xcalloc(a->size ? a->size : 1, sizeof **out);
	*count = a->size;
	for (size_t k = 0; k < a->size; k++) {
		const ffi_array_t *pair = (const ffi_array_t *)a->items[k].v_obj;
		if (a->items[k].type_index != FFI_ARRAY || pair->size != 2 ||
		    (pair->items[0].type_index != FFI_INT &&
		     pair->items[0].type_index != FFI_BOOL) ||
		    pair->items[1].type_index != FFI_FUNCTION) {
			char got[64];
			if (a->items[k].type_index == FFI_ARRAY)
				snprintf(got, sizeof got, "Array[size=%zu]", pair->size);
			else
				snprintf(got, sizeof got, "%s",
					 ffi_type_key(a->items[k].type_index));
			ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: "
				      "`%s`. Expected `%s` but got `Array[index %zu: %s]`", i, sig,
				      want, k, got);
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[k].type_index = (int32_t)pair->items[0].v_int64;
		(*out)[k].fn = (ffi_function_t *)pair->items[1].v_obj;
	}
	return 0;
}

static int global_structural_walk(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)self;
	const char *sig = "ffi.StructuralWalk(0: AnyView, 1: Array<Tuple<int, ffi.Function>>, 2: "
			  "Array<Tuple<int, ffi.Function>>, 3: int) -> "
			  "Optional<ffi.VisitInterrupt>";
	struct structural_walk w = {0};
	struct walk_callback *plain = NULL, *with_kind = NULL;
	int64_t order;
	if (ffi_arg_count(sig, n, 4) ||
	    walk_callbacks(sig, args, 1, &plain, &w.num_plain) ||
	    walk_callbacks(sig, args, 2, &with_kind, &w.num_with_kind) ||
	    ffi_json_arg_int(sig, args, 3, &order)) {
		free(plain);
		free(with_kind);
		return -1;
	}
	w.plain = plain;
	w.with_kind = with_kind;
	w.post_order = (int32_t)order != 0;
	int rc = walk_value(&w, &args[0]);
	free(plain);
	free(with_kind);
	if (rc < 0) {
		ffi_any_release(&w.interrupt);
		return -1;
	}
	*result = w.interrupt;
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.StructuralWalk", global_structural_walk)

/* The first argument of these is a StructuralVisitor, which no client can hold: the answer is
 * TVM's argument-check TypeError for whatever it passes. */
static int visitor_argument_error(const char *sig, int32_t want_args, const TVMFFIAny *args,
				  int32_t n, int32_t object_arg, const char *object_type)
{
	if (ffi_arg_count(sig, n, want_args))
		return -1;
	ffi_error_set("TypeError", "Mismatched type on argument #%d when calling: `%s`. Expected "
		      "`%s` but got `%s`", object_arg, sig, object_type,
		      ffi_type_key(ffi_value_type_index(&args[object_arg])));
	return -1;
}

static int global_visitor_visit(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	return visitor_argument_error("ffi.StructuralVisitorVisit(0: ffi.StructuralVisitor, 1: "
				      "AnyView) -> Optional<ffi.VisitInterrupt>", 2, args, n, 0,
				      "ffi.StructuralVisitor");
}
FFI_REGISTER_GLOBAL("ffi.StructuralVisitorVisit", global_visitor_visit)

static int global_visitor_def_region(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	(void)self;
	(void)result;
	return visitor_argument_error("ffi.StructuralVisitorDefRegionKind(0: "
				      "ffi.StructuralVisitor) -> int", 1, args, n, 0,
				      "ffi.StructuralVisitor");
}
FFI_REGISTER_GLOBAL("ffi.StructuralVisitorDefRegionKind", global_visitor_def_region)

static int global_visitor_with_def_region(void *self, const TVMFFIAny *args, int32_t n,
					  TVMFFIAny *result)
{
	(void)self;
	(void)result;
	return visitor_argument_error("ffi.StructuralVisitorWithDefRegionKind(0: "
				      "ffi.StructuralVisitor, 1: int, 2: ffi.Function) -> Any", 3,
				      args, n, 0, "ffi.StructuralVisitor");
}
FFI_REGISTER_GLOBAL("ffi.StructuralVisitorWithDefRegionKind", global_visitor_with_def_region)

/* FindAccessPaths(root: Object, context: VisitErrorContext, allow_prefix_match: bool): a
 * VisitErrorContext only travels on errors raised inside a caller-side walk. */
static int global_find_access_paths(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)self;
	(void)result;
	const char *sig = "ffi.VisitErrorContext.FindAccessPaths(0: ffi.Object, 1: "
			  "ffi.VisitErrorContext, 2: bool) -> Array<ffi.reflection.AccessPath>";
	return visitor_argument_error(sig, 3, args, n, 1, "ffi.VisitErrorContext");
}
FFI_REGISTER_GLOBAL("ffi.VisitErrorContext.FindAccessPaths", global_find_access_paths)
