/* tvm.contrib.sort.{argsort, sort, topk, argsort_nms}: the sorting library that compiled
 * kernels (topi's sort ops on CPU) call by name through the global registry. Results match
 * TVM's element for element, NaN included: the stable sort and the heap below follow the
 * merge and sift steps of the C++ library TVM is built with (GCC's libstdc++), whose order
 * with an inconsistent comparison (NaN) is what TVM returns. Output tensors are checked to
 * be large enough for what is written (TVM does not check). */
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "runtime/runtime_globals.h"

float __gnu_h2f_ieee(uint16_t value); /* backend.c */

/* One element along the sorted axis: its position and its value, as a double for float types
 * (float16 and float32 convert exactly) or an int64 for integer types. */
typedef struct sort_item {
	int64_t index;
	union {
		double f;
		int64_t i;
	} v;
	uint64_t raw; /* the element's bits, written back by sort and topk */
} sort_item_t;

typedef int (*sort_less_fn)(const sort_item_t *a, const sort_item_t *b);

static int less_asc_f(const sort_item_t *a, const sort_item_t *b) { return a->v.f < b->v.f; }
static int less_desc_f(const sort_item_t *a, const sort_item_t *b) { return a->v.f > b->v.f; }
static int less_asc_i(const sort_item_t *a, const sort_item_t *b) { return a->v.i < b->v.i; }
static int less_desc_i(const sort_item_t *a, const sort_item_t *b) { return a->v.i > b->v.i; }

/* topk breaks ties by position (the smaller index first) in both directions. */
static int less_asc_f_tie(const sort_item_t *a, const sort_item_t *b)
{
	return a->v.f == b->v.f ? a->index < b->index : a->v.f < b->v.f;
}
static int less_desc_f_tie(const sort_item_t *a, const sort_item_t *b)
{
	return a->v.f == b->v.f ? a->index < b->index : a->v.f > b->v.f;
}
static int less_asc_i_tie(const sort_item_t *a, const sort_item_t *b)
{
	return a->v.i == b->v.i ? a->index < b->index : a->v.i < b->v.i;
}
static int less_desc_i_tie(const sort_item_t *a, const sort_item_t *b)
{
	return a->v.i == b->v.i ? a->index < b->index : a->v.i > b->v.i;
}

static sort_less_fn sort_less_pick(int is_float, int ascend, int tie_by_index)
{
	if (tie_by_index)
		return is_float ? (ascend ? less_asc_f_tie : less_desc_f_tie)
				: (ascend ? less_asc_i_tie : less_desc_i_tie);
	return is_float ? (ascend ? less_asc_f : less_desc_f) : (ascend ? less_asc_i : less_desc_i);
}

/* ---- stable sort: insertion-sorted runs of 7, then merges through a half-size buffer ---- */

#define SORT_RUN 7

static void sort_insertion(sort_item_t *first, sort_item_t *last, sort_less_fn less)
{
	if (first == last)
		return;
	for (sort_item_t *i = first + 1; i != last; i++) {
		sort_item_t val = *i;
		if (less(&val, first)) {
			memmove(first + 1, first, (size_t)(i - first) * sizeof *first);
			*first = val;
			continue;
		}
		/* The walk stops at `first` at the latest: less(val, first) was false. */
		sort_item_t *hole = i;
		while (less(&val, hole - 1)) {
			*hole = hole[-1];
			hole--;
		}
		*hole = val;
	}
}

/* Merge [a, a_end) and [b, b_end) into out; on equal keys the first run's element goes first. */
static sort_item_t *sort_merge_into(sort_item_t *a, sort_item_t *a_end, sort_item_t *b,
				    sort_item_t *b_end, sort_item_t *out, sort_less_fn less)
{
	while (a != a_end && b != b_end)
		*out++ = less(b, a) ? *b++ : *a++;
	size_t na = (size_t)(a_end - a), nb = (size_t)(b_end - b);
	memmove(out, a, na * sizeof *out);
	memmove(out + na, b, nb * sizeof *out);
	return out + na + nb;
}

static void sort_merge_pass(sort_item_t *first, sort_item_t *last, sort_item_t *out,
			    ptrdiff_t step, sort_less_fn less)
{
	while (last - first >= 2 * step) {
		out = sort_merge_into(first, first + step, first + step, first + 2 * step, out, less);
		first += 2 * step;
	}
	ptrdiff_t rest = last - first < step ? last - first : step;
	sort_merge_into(first, first + rest, first + rest, last, out, less);
}

static void sort_runs_with_buffer(sort_item_t *first, sort_item_t *last, sort_item_t *buf,
				  sort_less_fn less)
{
	ptrdiff_t len = last - first, step = SORT_RUN;
	sort_item_t *run = first;
	while (last - run >= SORT_RUN) {
		sort_insertion(run, run + SORT_RUN, less);
		run += SORT_RUN;
	}
	sort_insertion(run, last, less);
	while (step < len) {
		sort_merge_pass(first, last, buf, step, less);
		step *= 2;
		sort_merge_pass(buf, buf + len, first, step, less);
		step *= 2;
	}
}

/* Merge the sorted halves [first, mid) and [mid, last), buffering the shorter one. */
static void sort_merge_halves(sort_item_t *first, sort_item_t *mid, sort_item_t *last,
			      sort_item_t *buf, sort_less_fn less)
{
	ptrdiff_t len1 = mid - first, len2 = last - mid;
	if (len1 <= len2) {
		memcpy(buf, first, (size_t)len1 * sizeof *buf);
		sort_item_t *a = buf, *a_end = buf + len1, *b = mid, *out = first;
		while (a != a_end && b != last)
			*out++ = less(b, a) ? *b++ : *a++;
		memcpy(out, a, (size_t)(a_end - a) * sizeof *out);
		return;
	}
	if (len2 == 0)
		return;
	memcpy(buf, mid, (size_t)len2 * sizeof *buf);
	/* Backwards from the ends: the later of two equal elements is placed first. */
	sort_item_t *a = mid - 1, *b = buf + len2 - 1, *out = last;
	for (;;) {
		if (less(b, a)) {
			*--out = *a;
			if (a == first) {
				memcpy(out - (b - buf + 1), buf, (size_t)(b - buf + 1) * sizeof *out);
				return;
			}
			a--;
		} else {
			*--out = *b;
			if (b == buf)
				return;
			b--;
		}
	}
}

/* Stable sort of n items; -1 (MemoryError) if the buffer cannot be allocated. */
static int sort_stable(sort_item_t *items, size_t n, sort_less_fn less)
{
	if (n < 2)
		return 0;
	size_t half = (n + 1) / 2;
	sort_item_t *buf = malloc(half * sizeof *buf);
	if (!buf) {
		ffi_error_set("MemoryError", "cannot allocate a sort buffer of %zu items", half);
		return -1;
	}
	sort_runs_with_buffer(items, items + half, buf, less);
	sort_runs_with_buffer(items + half, items + n, buf, less);
	sort_merge_halves(items, items + half, items + n, buf, less);
	free(buf);
	return 0;
}

/* ---- binary heap whose top is the greatest item under `less` ---- */

static void heap_sift_up(sort_item_t *h, ptrdiff_t hole, ptrdiff_t top, sort_item_t val,
			 sort_less_fn less)
{
	ptrdiff_t parent = (hole - 1) / 2;
	while (hole > top && less(&h[parent], &val)) {
		h[hole] = h[parent];
		hole = parent;
		parent = (hole - 1) / 2;
	}
	h[hole] = val;
}

/* Move the hole at `hole` down to a leaf along the greater children, then sift val up. */
static void heap_adjust(sort_item_t *h, ptrdiff_t hole, ptrdiff_t len, sort_item_t val,
			sort_less_fn less)
{
	ptrdiff_t top = hole, child = hole;
	while (child < (len - 1) / 2) {
		child = 2 * (child + 1);
		if (less(&h[child], &h[child - 1]))
			child--;
		h[hole] = h[child];
		hole = child;
	}
	if ((len & 1) == 0 && child == (len - 2) / 2) {
		child = 2 * (child + 1);
		h[hole] = h[child - 1];
		hole = child - 1;
	}
	heap_sift_up(h, hole, top, val, less);
}

static void heap_make(sort_item_t *h, ptrdiff_t len, sort_less_fn less)
{
	if (len < 2)
		return;
	for (ptrdiff_t parent = (len - 2) / 2;; parent--) {
		heap_adjust(h, parent, len, h[parent], less);
		if (parent == 0)
			return;
	}
}

/* h[len - 1] was appended: restore the heap over [0, len). */
static void heap_push(sort_item_t *h, ptrdiff_t len, sort_less_fn less)
{
	heap_sift_up(h, len - 1, 0, h[len - 1], less);
}

/* Move the top to h[len - 1] and restore the heap over [0, len - 1). */
static void heap_pop(sort_item_t *h, ptrdiff_t len, sort_less_fn less)
{
	if (len < 2)
		return;
	sort_item_t val = h[len - 1];
	h[len - 1] = h[0];
	heap_adjust(h, 0, len - 1, val, less);
}

/* ---- element access ---- */

enum sort_elem {
	ELEM_NONE,
	ELEM_F16,
	ELEM_F32,
	ELEM_F64,
	ELEM_I8,
	ELEM_U8,
	ELEM_I32,
	ELEM_I64,
};

static enum sort_elem sort_elem_of(DLDataType t)
{
	if (t.lanes != 1)
		return ELEM_NONE;
	if (t.code == kDLFloat)
		return t.bits == 16 ? ELEM_F16 : t.bits == 32 ? ELEM_F32 : t.bits == 64 ? ELEM_F64
										 : ELEM_NONE;
	if (t.code == kDLInt)
		return t.bits == 8 ? ELEM_I8 : t.bits == 32 ? ELEM_I32 : t.bits == 64 ? ELEM_I64
										: ELEM_NONE;
	if (t.code == kDLUInt && t.bits == 8)
		return ELEM_U8;
	return ELEM_NONE;
}

static int sort_elem_is_float(enum sort_elem e)
{
	return e == ELEM_F16 || e == ELEM_F32 || e == ELEM_F64;
}

static size_t sort_elem_size(enum sort_elem e)
{
	switch (e) {
	case ELEM_F16: return 2;
	case ELEM_F32:
	case ELEM_I32: return 4;
	case ELEM_F64:
	case ELEM_I64: return 8;
	default: return 1;
	}
}

static void sort_item_load(sort_item_t *it, enum sort_elem e, const char *p, int64_t index)
{
	it->index = index;
	it->raw = 0;
	memcpy(&it->raw, p, sort_elem_size(e)); /* little-endian hosts, as TVM's blobs */
	switch (e) {
	case ELEM_F16: it->v.f = __gnu_h2f_ieee((uint16_t)it->raw); break;
	case ELEM_F32: { float f; memcpy(&f, p, 4); it->v.f = f; break; }
	case ELEM_F64: memcpy(&it->v.f, p, 8); break;
	case ELEM_I8: it->v.i = *(const int8_t *)p; break;
	case ELEM_U8: it->v.i = *(const uint8_t *)p; break;
	case ELEM_I32: { int32_t x; memcpy(&x, p, 4); it->v.i = x; break; }
	default: memcpy(&it->v.i, p, 8); break;
	}
}

/* Write an index as the output dtype (int8/uint8/int32/int64/float32/float64). */
static void sort_index_store(char *p, enum sort_elem out, int64_t index)
{
	switch (out) {
	case ELEM_I8: *(int8_t *)p = (int8_t)index; break;
	case ELEM_U8: *(uint8_t *)p = (uint8_t)index; break;
	case ELEM_I32: { int32_t x = (int32_t)index; memcpy(p, &x, 4); break; }
	case ELEM_I64: memcpy(p, &index, 8); break;
	case ELEM_F32: { float x = (float)index; memcpy(p, &x, 4); break; }
	case ELEM_F64: { double x = (double)index; memcpy(p, &x, 8); break; }
	default: break;
	}
}

/* ---- the layout shared by all four: rows along `axis` ---- */

typedef struct sort_layout {
	int64_t before; /* product of the dims before axis */
	int64_t extent; /* the axis */
	int64_t after;  /* product of the dims after axis (the stride of the axis) */
} sort_layout_t;

static void sort_layout_of(const DLTensor *t, int32_t axis, sort_layout_t *l)
{
	l->before = l->after = 1;
	l->extent = t->shape[axis];
	for (int32_t i = 0; i < t->ndim; i++) {
		if (i < axis)
			l->before *= t->shape[i];
		else if (i > axis)
			l->after *= t->shape[i];
	}
}

/* Normalise a negative axis; -1 with an InternalError (TVM's check) when out of range. */
static int sort_axis(const DLTensor *t, int64_t axis, int32_t *out)
{
	if (axis < 0)
		axis += t->ndim;
	if (axis < 0 || axis >= t->ndim) {
		ffi_error_set("InternalError", "Axis out of boundary for input ndim %d", t->ndim);
		return -1;
	}
	*out = (int32_t)axis;
	return 0;
}

/* The output must hold `elems` elements of `elem_size` bytes. */
static int sort_output(const char *fn, const DLTensor *t, uint64_t elems, size_t elem_size,
		       char **data)
{
	uint64_t count, bytes;
	if (runtime_tensor_host(fn, t, &count, &bytes, data))
		return -1;
	if (elems > bytes / elem_size) {
		ffi_error_set("ValueError", "%s: the output tensor holds %llu bytes, %llu needed", fn,
			      (unsigned long long)bytes, (unsigned long long)elems * elem_size);
		return -1;
	}
	return 0;
}

static int sort_unsupported(const char *what, DLDataType t)
{
	char name[32];
	runtime_dtype_name(t, name, sizeof name);
	ffi_error_set("InternalError", "Unsupported %s dtype: %s", what, name);
	return -1;
}

/* ---- argsort and sort ---- */

typedef struct sort_call {
	const char *fn;
	DLTensor *in, *out;
	char *in_data, *out_data;
	enum sort_elem in_elem, out_elem;
	uint64_t count; /* elements of the input */
	int32_t axis;
	int ascend;
	int write_values; /* sort: values; argsort: indices */
} sort_call_t;

static int sort_rows(sort_call_t *c)
{
	sort_layout_t l;
	sort_layout_of(c->in, c->axis, &l);
	size_t in_size = sort_elem_size(c->in_elem), out_size = sort_elem_size(c->out_elem);
	sort_item_t *row = malloc((size_t)(l.extent ? l.extent : 1) * sizeof *row);
	if (!row) {
		ffi_error_set("MemoryError", "%s: cannot allocate %lld items", c->fn,
			      (long long)l.extent);
		return -1;
	}
	sort_less_fn less = sort_less_pick(sort_elem_is_float(c->in_elem), c->ascend, 0);
	for (int64_t i = 0; i < l.before; i++) {
		for (int64_t j = 0; j < l.after; j++) {
			int64_t base = i * l.extent * l.after + j;
			for (int64_t k = 0; k < l.extent; k++)
				sort_item_load(&row[k], c->in_elem,
					       c->in_data + (base + k * l.after) * in_size, k);
			if (sort_stable(row, (size_t)l.extent, less)) {
				free(row);
				return -1;
			}
			for (int64_t k = 0; k < l.extent; k++) {
				char *p = c->out_data + (base + k * l.after) * out_size;
				if (c->write_values)
					memcpy(p, &row[k].raw, out_size);
				else
					sort_index_store(p, c->out_elem, row[k].index);
			}
		}
	}
	free(row);
	return 0;
}

/* Arguments (input, output, axis, is_ascend), shared by argsort and sort. */
static int sort_call_parse(sort_call_t *c, const TVMFFIAny *args, int32_t n)
{
	int64_t axis, ascend;
	uint64_t bytes;
	if (ffi_arg_tensor(c->fn, args, n, 0, &c->in) || ffi_arg_tensor(c->fn, args, n, 1, &c->out) ||
	    ffi_arg_int(c->fn, args, n, 2, &axis) || ffi_arg_int(c->fn, args, n, 3, &ascend) ||
	    sort_axis(c->in, (int32_t)axis, &c->axis))
		return -1;
	c->ascend = ascend != 0;
	c->in_elem = sort_elem_of(c->in->dtype);
	c->out_elem = sort_elem_of(c->out->dtype);
	return runtime_tensor_host(c->fn, c->in, &c->count, &bytes, &c->in_data);
}

static int contrib_argsort(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	sort_call_t c = {.fn = "tvm.contrib.sort.argsort"};
	if (sort_call_parse(&c, args, n))
		return -1;
	enum sort_elem in = c.in_elem, out = c.out_elem;
	if (in == ELEM_NONE || in == ELEM_I8 || in == ELEM_U8)
		return sort_unsupported("input", c.in->dtype);
	if (out == ELEM_NONE || out == ELEM_I8 || out == ELEM_U8 || out == ELEM_F16)
		return sort_unsupported("output", c.out->dtype);
	if (sort_output(c.fn, c.out, c.count, sort_elem_size(out), &c.out_data))
		return -1;
	return sort_rows(&c);
}
FFI_REGISTER_GLOBAL("tvm.contrib.sort.argsort", contrib_argsort)

static int contrib_sort(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	sort_call_t c = {.fn = "tvm.contrib.sort.sort", .write_values = 1};
	if (sort_call_parse(&c, args, n))
		return -1;
	char in_name[32], out_name[32];
	runtime_dtype_name(c.in->dtype, in_name, sizeof in_name);
	runtime_dtype_name(c.out->dtype, out_name, sizeof out_name);
	if (strcmp(in_name, out_name) != 0) {
		ffi_error_set("InternalError", "Check failed: data_dtype == out_dtype (%s vs. %s)",
			      in_name, out_name);
		return -1;
	}
	if (c.in_elem == ELEM_NONE || c.in_elem == ELEM_I8 || c.in_elem == ELEM_U8)
		return sort_unsupported("input", c.in->dtype);
	if (sort_output(c.fn, c.out, c.count, sort_elem_size(c.out_elem), &c.out_data))
		return -1;
	return sort_rows(&c);
}
FFI_REGISTER_GLOBAL("tvm.contrib.sort.sort", contrib_sort)

/* ---- topk ---- */

typedef struct topk_call {
	DLTensor *in, *values, *indices;
	char *in_data, *values_data, *indices_data;
	enum sort_elem in_elem, index_elem;
	int64_t k;
	int32_t axis;
	int ascend;
} topk_call_t;

/* The k best of one row, best first, into heap[0..*len). */
static void topk_row(const topk_call_t *c, const sort_layout_t *l, int64_t base, int64_t k,
		     sort_item_t *heap, size_t *len, sort_less_fn less)
{
	size_t in_size = sort_elem_size(c->in_elem);
	int64_t pos = 0;
	ptrdiff_t n = 0;
	for (; pos < k && pos < l->extent; pos++)
		sort_item_load(&heap[n++], c->in_elem, c->in_data + (base + pos * l->after) * in_size,
			       pos);
	heap_make(heap, n, less);
	/* The heap's top is the worst kept item: a better newcomer replaces it. */
	for (; pos < l->extent; pos++) {
		sort_item_t cur;
		sort_item_load(&cur, c->in_elem, c->in_data + (base + pos * l->after) * in_size, pos);
		if (!less(&cur, &heap[0]))
			continue;
		heap[n] = cur;
		heap_push(heap, n + 1, less);
		heap_pop(heap, n + 1, less);
	}
	*len = (size_t)n;
}

static int topk_run(const topk_call_t *c)
{
	sort_layout_t l;
	sort_layout_of(c->in, c->axis, &l);
	int64_t k = c->k < 1 ? l.extent : c->k;
	size_t cap = (size_t)(k < l.extent ? k : l.extent) + 1;
	sort_item_t *heap = malloc(cap * sizeof *heap);
	if (!heap) {
		ffi_error_set("MemoryError", "tvm.contrib.sort.topk: cannot allocate %zu items", cap);
		return -1;
	}
	sort_less_fn less = sort_less_pick(sort_elem_is_float(c->in_elem), c->ascend, 1);
	size_t value_size = sort_elem_size(c->in_elem), index_size = sort_elem_size(c->index_elem);
	for (int64_t i = 0; i < l.before; i++) {
		for (int64_t j = 0; j < l.after; j++) {
			size_t len;
			topk_row(c, &l, i * l.extent * l.after + j, k, heap, &len, less);
			if (sort_stable(heap, len, less)) {
				free(heap);
				return -1;
			}
			int64_t dst = i * k * l.after + j;
			for (size_t kk = 0; kk < len; kk++) {
				int64_t at = dst + (int64_t)kk * l.after;
				if (c->indices_data)
					sort_index_store(c->indices_data + at * index_size,
							 c->index_elem, heap[kk].index);
				if (c->values_data)
					memcpy(c->values_data + at * value_size, &heap[kk].raw,
					       value_size);
			}
		}
	}
	free(heap);
	return 0;
}

/* Index dtypes topk writes for an input dtype: int32, int64, float32, float64, and the input's
 * own dtype for int8 and uint8. */
static int topk_index_ok(enum sort_elem in, enum sort_elem out)
{
	if (out == ELEM_I32 || out == ELEM_I64 || out == ELEM_F32 || out == ELEM_F64)
		return 1;
	return (in == ELEM_I8 || in == ELEM_U8) && out == in;
}

/* Elements an output of k along axis must hold: the last one written + 1 (UINT64_MAX when
 * that overflows). */
static uint64_t topk_extent(const topk_call_t *c, int64_t k)
{
	sort_layout_t l;
	sort_layout_of(c->in, c->axis, &l);
	int64_t kept = k < l.extent ? k : l.extent;
	if (l.before == 0 || l.after == 0 || kept == 0)
		return 0;
	uint64_t rows, row_size, tail, total;
	if (__builtin_mul_overflow((uint64_t)(l.before - 1), (uint64_t)k, &rows) ||
	    __builtin_mul_overflow(rows, (uint64_t)l.after, &row_size) ||
	    __builtin_mul_overflow((uint64_t)kept, (uint64_t)l.after, &tail) ||
	    __builtin_add_overflow(row_size, tail, &total))
		return UINT64_MAX;
	return total;
}

static int topk_outputs(topk_call_t *c)
{
	static const char fn[] = "tvm.contrib.sort.topk";
	sort_layout_t l;
	sort_layout_of(c->in, c->axis, &l);
	uint64_t need = topk_extent(c, c->k < 1 ? l.extent : c->k);
	if (c->values &&
	    sort_output(fn, c->values, need, sort_elem_size(c->in_elem), &c->values_data))
		return -1;
	if (c->indices &&
	    sort_output(fn, c->indices, need, sort_elem_size(c->index_elem), &c->indices_data))
		return -1;
	return 0;
}

/* topk(input, [values], [indices], k, axis, ret_type, is_ascend): the trailing four are
 * counted from the end, as TVM reads them. */
static int topk_parse(topk_call_t *c, const TVMFFIAny *args, int32_t n)
{
	static const char fn[] = "tvm.contrib.sort.topk";
	const char *ret_type;
	size_t len;
	int64_t axis, ascend;
	if (n < 5) {
		ffi_error_set("TypeError", "%s: expected at least 5 arguments, got %d", fn, n);
		return -1;
	}
	if (ffi_arg_tensor(fn, args, n, 0, &c->in) || ffi_arg_int(fn, args, n, n - 4, &c->k) ||
	    ffi_arg_int(fn, args, n, n - 3, &axis) || ffi_arg_str(fn, args, n, n - 2, &ret_type, &len) ||
	    ffi_arg_int(fn, args, n, n - 1, &ascend))
		return -1;
	c->k = (int32_t)c->k; /* an int in TVM's signature */
	c->ascend = ascend != 0;
	int outputs = strcmp(ret_type, "both") == 0 ? 2 : 1;
	if (strcmp(ret_type, "both") != 0 && strcmp(ret_type, "values") != 0 &&
	    strcmp(ret_type, "indices") != 0) {
		ffi_error_set("InternalError", "Unsupported ret type: %.100s", ret_type);
		return -1;
	}
	if (n < 5 + outputs) {
		ffi_error_set("TypeError", "%s: ret_type '%s' needs %d output tensor(s)", fn, ret_type,
			      outputs);
		return -1;
	}
	DLTensor **first = strcmp(ret_type, "indices") == 0 ? &c->indices : &c->values;
	if (ffi_arg_tensor(fn, args, n, 1, first) ||
	    (outputs == 2 && ffi_arg_tensor(fn, args, n, 2, &c->indices)))
		return -1;
	return sort_axis(c->in, (int32_t)axis, &c->axis);
}

static int contrib_topk(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	topk_call_t c = {0};
	uint64_t count, bytes;
	if (topk_parse(&c, args, n))
		return -1;
	/* TVM reserves k + 1 slots before reading k, so k below -1 fails there. */
	if (c.k < -1) {
		ffi_error_set("InternalError", "vector::reserve");
		return -1;
	}
	c.in_elem = sort_elem_of(c.in->dtype);
	c.index_elem = c.indices ? sort_elem_of(c.indices->dtype) : ELEM_I64;
	if (c.in_elem == ELEM_NONE)
		return sort_unsupported("input", c.in->dtype);
	if (!topk_index_ok(c.in_elem, c.index_elem))
		return sort_unsupported("output", c.indices->dtype);
	if (runtime_tensor_host("tvm.contrib.sort.topk", c.in, &count, &bytes, &c.in_data) ||
	    topk_outputs(&c))
		return -1;
	return topk_run(&c);
}
FFI_REGISTER_GLOBAL("tvm.contrib.sort.topk", contrib_topk)

/* ---- argsort_nms(input, sort_num, output, axis, is_ascend) ---- */

/* Sort the first sort_num[row] items of each float32 row; positions past them keep their own
 * index. The output is int32 whatever its dtype says, as TVM writes it. */
static int nms_rows(DLTensor *in, const char *in_data, const int32_t *counts, char *out,
		    int32_t axis, int ascend)
{
	sort_layout_t l;
	sort_layout_of(in, axis, &l);
	sort_item_t *row = malloc((size_t)(l.extent ? l.extent : 1) * sizeof *row);
	if (!row) {
		ffi_error_set("MemoryError", "tvm.contrib.sort.argsort_nms: out of memory");
		return -1;
	}
	sort_less_fn less = sort_less_pick(1, ascend, 0);
	int rc = 0;
	for (int64_t i = 0; i < l.before && rc == 0; i++) {
		for (int64_t j = 0; j < l.after && rc == 0; j++) {
			int64_t base = i * l.extent * l.after + j;
			int32_t num = counts[i * l.after + j];
			if (num > l.extent) {
				ffi_error_set("ValueError", "tvm.contrib.sort.argsort_nms: sort_num "
					      "%d exceeds the axis extent %lld", num,
					      (long long)l.extent);
				rc = -1;
				break;
			}
			int64_t m = num > 0 ? num : 0;
			for (int64_t k = 0; k < m; k++)
				sort_item_load(&row[k], ELEM_F32, in_data + (base + k * l.after) * 4, k);
			rc = sort_stable(row, (size_t)m, less);
			for (int64_t k = 0; k < l.extent && rc == 0; k++) {
				int32_t v = (int32_t)(k < m ? row[k].index : k);
				memcpy(out + (base + k * l.after) * 4, &v, 4);
			}
		}
	}
	free(row);
	return rc;
}

static int contrib_argsort_nms(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char fn[] = "tvm.contrib.sort.argsort_nms";
	DLTensor *in, *num, *out;
	int64_t axis, ascend;
	int32_t ax;
	char *in_data, *num_data, *out_data;
	uint64_t count, bytes;
	if (ffi_arg_tensor(fn, args, n, 0, &in) || ffi_arg_tensor(fn, args, n, 1, &num) ||
	    ffi_arg_tensor(fn, args, n, 2, &out) || ffi_arg_int(fn, args, n, 3, &axis) ||
	    ffi_arg_int(fn, args, n, 4, &ascend))
		return -1;
	if (in->dtype.code != kDLFloat) {
		ffi_error_set("InternalError", "Currently only supports input dtype to be float.");
		return -1;
	}
	if (in->dtype.bits != 32 || in->dtype.lanes != 1) {
		ffi_error_set("InternalError", "Currently only supports input dtype to be float32.");
		return -1;
	}
	if (sort_axis(in, axis, &ax) || runtime_tensor_host(fn, in, &count, &bytes, &in_data) ||
	    sort_output(fn, out, count, 4, &out_data))
		return -1;
	sort_layout_t l;
	sort_layout_of(in, ax, &l);
	if (sort_output(fn, num, (uint64_t)(l.before * l.after), 4, &num_data))
		return -1;
	return nms_rows(in, in_data, (const int32_t *)(void *)num_data, out_data, ax, ascend != 0);
}
FFI_REGISTER_GLOBAL("tvm.contrib.sort.argsort_nms", contrib_argsort_nms)
