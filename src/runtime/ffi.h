/* The tvm-ffi value and object model, ABI-compatible with what TVM-compiled code expects:
 * TVMFFIAny (16 bytes), the 24-byte object header, safe-call functions, modules, tensors.
 * Everything above (session, modules, Relax VM) passes values as TVMFFIAny and owns objects
 * through reference counts. No networking here. */
#ifndef TVMRPC_FFI_H
#define TVMRPC_FFI_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

/* Type indices (tvm-ffi numbering, also used on the RPC wire). */
enum ffi_type_index {
	FFI_NONE = 0,
	FFI_INT = 1,
	FFI_BOOL = 2,
	FFI_FLOAT = 3,
	FFI_OPAQUE_PTR = 4,
	FFI_DATATYPE = 5,
	FFI_DEVICE = 6,
	FFI_DLTENSOR_PTR = 7,
	FFI_RAW_STR = 8,
	FFI_BYTE_ARRAY_PTR = 9,
	FFI_OBJECT_RVALUE_REF = 10,
	FFI_SMALL_STR = 11,
	FFI_SMALL_BYTES = 12,
	FFI_STATIC_OBJECT_BEGIN = 64,
	FFI_OBJECT = 64,
	FFI_STR = 65,
	FFI_BYTES = 66,
	FFI_ERROR = 67,
	FFI_FUNCTION = 68,
	FFI_SHAPE = 69,
	FFI_TENSOR = 70,
	FFI_ARRAY = 71,
	FFI_MAP = 72,
	FFI_MODULE = 73,
	FFI_LIST = 75,
	FFI_DICT = 76,
	FFI_RPC_OBJECT_REF = 115,
	FFI_DYN_OBJECT_BEGIN = 128,
	/* Our own dynamic object kinds (never sent as such on the wire; they travel as handles). */
	FFI_VM_STORAGE = 200,
	FFI_VM_CLOSURE = 201,
	FFI_OPAQUE_OBJECT = 202,
};

/* Object header, 24 bytes, as tvm-ffi lays it out. */
typedef struct TVMFFIObject {
	uint64_t combined_ref_count; /* strong count in the low 32 bits */
	int32_t type_index;
	uint32_t padding;
	void (*deleter)(void *self, int flags);
} TVMFFIObject;

typedef struct TVMFFIAny {
	int32_t type_index;
	uint32_t zero_padding; /* small str/bytes: length */
	union {
		int64_t v_int64;
		double v_float64;
		void *v_ptr;
		const char *v_c_str;
		TVMFFIObject *v_obj;
		DLDataType v_dtype;
		DLDevice v_device;
		char v_bytes[8];
		uint64_t v_uint64;
	};
} TVMFFIAny;

typedef struct TVMFFIByteArray {
	const char *data;
	size_t size;
} TVMFFIByteArray;

typedef int (*TVMFFISafeCallType)(void *self, const TVMFFIAny *args, int32_t num_args,
				  TVMFFIAny *result);

typedef struct TVMParallelGroupEnv {
	void *sync_handle;
	int32_t num_task;
} TVMParallelGroupEnv;
typedef int (*FTVMParallelLambda)(int task_id, TVMParallelGroupEnv *penv, void *cdata);

/* ---- objects ---- */

/* Str (65) and Bytes (66): header, then {data, size} as tvm-ffi; our data is inline after it. */
typedef struct ffi_bytes {
	TVMFFIObject header;
	const char *data;
	size_t size;
} ffi_bytes_t;

/* Function (68). safe_call receives the function object itself as `self`. Compiled kernels
 * ignore `self`, so a kernel symbol can be stored here directly. */
typedef struct ffi_function {
	TVMFFIObject header;
	TVMFFISafeCallType safe_call;
	void *data;                     /* closure data for host functions */
	void (*data_free)(void *data);  /* releases data when the function dies */
	TVMFFIObject *owner;            /* kept alive while the function lives (e.g. its module) */
} ffi_function_t;

/* Shape (69): header, then {data, size} as tvm-ffi; the values are inline after it. */
typedef struct ffi_shape {
	TVMFFIObject header;
	const int64_t *data;
	size_t size;
} ffi_shape_t;

/* Tensor (70): the DLTensor sits at object + 24 as in tvm-ffi. The data is owned by
 * `data_owner` (a storage or another tensor) when set, or by the tensor itself (freed with
 * free()) when owns_data is set, else borrowed. */
typedef struct ffi_tensor {
	TVMFFIObject header;
	DLTensor dl;
	TVMFFIObject *data_owner;
	int owns_data;
	int64_t *shape_storage; /* dl.shape points here */
} ffi_tensor_t;

/* Array (71): a mutable vector of owned values. */
typedef struct ffi_array {
	TVMFFIObject header;
	TVMFFIAny *items;
	size_t size;
	size_t capacity;
} ffi_array_t;

/* List (75): the same layout as Array, with type index FFI_LIST (mutable in place, as tvm-ffi's
 * List; Array is copy-on-write in tvm-ffi, but remote clients never share one, so both are
 * mutated in place here). Create with ffi_list_new(); ffi_array_push works on both. */
ffi_array_t *ffi_list_new(void);

/* Map (72) and Dict (76): insertion-ordered hash maps Any -> Any, as tvm-ffi's (its dense map
 * keeps an insertion-ordered list; iteration follows insertion order, erase unlinks). Keys are
 * compared with ffi_any_equal and hashed with ffi_any_hash. Map is immutable to clients (every
 * global that "changes" one returns a new map); Dict is changed in place. */
typedef struct ffi_map ffi_map_t;
ffi_map_t *ffi_map_new(int32_t type_index); /* FFI_MAP or FFI_DICT; new reference */
/* Insert or replace; takes ownership of key and value (both released on failure). Strings and
 * bytes are stored as SmallStr/Str and SmallBytes/Bytes objects, never as borrowed raw
 * pointers. A replaced value keeps its entry's place while the map is in tvm-ffi's small
 * layout (it never held 4 entries when set), else the entry moves to the end, as in tvm-ffi.
 * 0, or -1 (error set) for a key or value that cannot be stored (a borrowed DLTensor*). */
int ffi_map_set(ffi_map_t *m, TVMFFIAny key, TVMFFIAny value);
/* Borrowed value for key, or NULL when absent. */
const TVMFFIAny *ffi_map_get(const ffi_map_t *m, const TVMFFIAny *key);
/* 1 if removed, 0 if absent. */
int ffi_map_erase(ffi_map_t *m, const TVMFFIAny *key);
void ffi_map_clear(ffi_map_t *m);
size_t ffi_map_size(const ffi_map_t *m);
/* Iteration in insertion order: start with pos = 0; returns 0 at the end, else 1 with the
 * borrowed entry and *pos advanced. */
int ffi_map_next(const ffi_map_t *m, size_t *pos, const TVMFFIAny **key, const TVMFFIAny **value);
static inline TVMFFIObject *ffi_map_object(ffi_map_t *m)
{
	return (TVMFFIObject *)m; /* the header comes first */
}

/* Value equality and hash as tvm-ffi's AnyEqual / AnyHash: strings and bytes by content
 * (small or object form alike), POD values by type and bits, other objects by identity. */
int ffi_any_equal(const TVMFFIAny *a, const TVMFFIAny *b);
uint64_t ffi_any_hash(const TVMFFIAny *v);
/* An owned copy of an argument value fit to store in a container: RawStr -> SmallStr/Str,
 * ByteArrayPtr -> SmallBytes/Bytes, objects retained. -1 (TypeError set) for a borrowed
 * DLTensor pointer, which no container may keep. */
int ffi_any_to_owned(const TVMFFIAny *arg, TVMFFIAny *out);
/* Most elements a List, Map or Dict grown by remote calls may hold (MemoryError beyond). */
#define FFI_CONTAINER_MAX_SIZE (1 << 22)

/* tvm-ffi's type key of a type index, as TVM's messages name types: "None", "int", "bool",
 * "float", "void*", "DataType", "Device", "DLTensor*", "const char*", "TVMFFIByteArray*",
 * "ffi.String", "ffi.Array", "ffi.Map", ...; never NULL ("ffi.Object" for an object type this
 * runtime does not know, "unknown" for other indices). */
const char *ffi_type_key(int32_t type_index);
/* New Array of Str: the key of every type this runtime knows, in type index order. */
ffi_array_t *ffi_registered_type_keys(void);
/* New reference to tvm-ffi's "missing" marker: one plain Object (type FFI_OBJECT) for the whole
 * process, what ffi.GetInvalidObject and ffi.MapGetItemOrMissing return. */
TVMFFIObject *ffi_missing_object(void);

/* Module (73). */
struct ffi_module;
typedef struct ffi_module_vtable {
	const char *kind; /* "library", "system_lib", "relax.VMExecutable", "relax.VM", ... */
	/* New reference to the function `name` defined by this module itself, or NULL if absent
	 * (with no error set). An error while building it returns NULL with an error set. */
	ffi_function_t *(*get_function)(struct ffi_module *self, const char *name);
	void (*destroy)(struct ffi_module *self); /* free module-specific state (not the header) */
} ffi_module_vtable_t;

typedef struct ffi_module {
	TVMFFIObject header;
	const ffi_module_vtable_t *vtable;
	struct ffi_module **imports; /* owned references */
	size_t num_imports;
	void *impl; /* module-specific state */
} ffi_module_t;

/* ---- reference counting ---- */
void ffi_object_init(TVMFFIObject *obj, int32_t type_index, void (*deleter)(void *, int));
void ffi_object_retain(TVMFFIObject *obj);
void ffi_object_release(TVMFFIObject *obj); /* NULL is ignored */
uint32_t ffi_object_refcount(const TVMFFIObject *obj);

/* Values: an Any holding an object (type_index >= 64) owns one reference when "owned". */
static inline int ffi_any_is_object(const TVMFFIAny *v)
{
	return v->type_index >= FFI_STATIC_OBJECT_BEGIN && v->v_obj != NULL;
}
void ffi_any_retain(const TVMFFIAny *v);
void ffi_any_release(TVMFFIAny *v); /* releases and sets to None */
static inline TVMFFIAny ffi_any_none(void)
{
	TVMFFIAny v = {0};
	return v;
}
TVMFFIAny ffi_any_int(int64_t x);
TVMFFIAny ffi_any_bool(int x);
TVMFFIAny ffi_any_float(double x);
TVMFFIAny ffi_any_ptr(void *p);
/* Takes ownership of the caller's reference. */
TVMFFIAny ffi_any_object(TVMFFIObject *obj);
/* Integer view of Int or Bool; returns 0 or -1 (with error set) for other types. */
int ffi_any_as_int(const TVMFFIAny *v, int64_t *out);
/* String view of RawStr, SmallStr or Str; NULL otherwise (with no error). */
const char *ffi_any_as_str(const TVMFFIAny *v, size_t *len);
/* Content of bytes in any of their forms (ByteArrayPtr, SmallBytes, Bytes); NULL otherwise
 * (strings are not bytes). An empty ByteArrayPtr gives "". */
const char *ffi_any_as_bytes(const TVMFFIAny *v, size_t *len);
/* DLTensor view of DLTensorPtr or Tensor; NULL otherwise. */
DLTensor *ffi_any_as_dltensor(const TVMFFIAny *v);

/* ---- constructors (new reference; abort on OOM of small objects) ---- */
ffi_bytes_t *ffi_str_new(const char *data, size_t size);   /* Str, NUL-terminated copy */
ffi_bytes_t *ffi_bytes_new(const char *data, size_t size); /* Bytes; NULL if allocation fails */
ffi_function_t *ffi_function_new(TVMFFISafeCallType call, void *data, void (*data_free)(void *),
				 TVMFFIObject *owner);
ffi_shape_t *ffi_shape_new(const int64_t *dims, size_t ndim);
ffi_array_t *ffi_array_new(void);
void ffi_array_push(ffi_array_t *arr, TVMFFIAny value); /* takes ownership of value */
/* Tensor with freshly allocated, 64-byte aligned, zeroed data; NULL (error set) on failure. */
ffi_tensor_t *ffi_tensor_alloc(const int64_t *shape, int32_t ndim, DLDataType dtype,
			       DLDevice device);
/* Tensor viewing memory owned by `owner` (retained; may be NULL for borrowed data). */
ffi_tensor_t *ffi_tensor_view(void *data, const int64_t *shape, int32_t ndim, DLDataType dtype,
			      DLDevice device, TVMFFIObject *owner);
ffi_module_t *ffi_module_new(const ffi_module_vtable_t *vtable, void *impl);
void ffi_module_import(ffi_module_t *parent, ffi_module_t *child); /* retains child */
/* Look `name` up in the module, then (if query_imports) depth-first in its imports.
 * New reference or NULL (error set only if something failed, not for absence). */
ffi_function_t *ffi_module_get_function(ffi_module_t *mod, const char *name, int query_imports);

/* Call a function object: result is initialised to None; returns 0 or -1 with error set. */
int ffi_function_call(ffi_function_t *fn, const TVMFFIAny *args, int32_t num_args,
		      TVMFFIAny *result);

/* ---- tensors ---- */
/* Row-major contiguous: strides NULL, or equal to the row-major products (dims of extent 1
 * ignored). */
int ffi_dltensor_is_compact(const DLTensor *t);
/* Bytes of a compact tensor; returns -1 on overflow or a negative dim. */
int ffi_dltensor_nbytes(const DLTensor *t, uint64_t *out);

/* ---- errors (thread-local "last error", as tvm-ffi) ---- */
void ffi_error_set(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For decoders of untrusted bytes: ValueError "<what> is malformed: <message>". Returns -1. */
int ffi_error_malformed(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ffi_error_kind(void);    /* "" if none */
const char *ffi_error_message(void); /* "" if none */
/* "Kind: message" into buf. */
void ffi_error_format(char *buf, size_t size);
void ffi_error_clear(void);

/* Exported for compiled modules (must stay visible: the binary links with -rdynamic). */
void TVMFFIErrorSetRaisedFromCStr(const char *kind, const char *message);
void TVMFFIErrorSetRaisedFromCStrParts(const char *kind, const char **parts, int32_t num_parts);

/* ---- global function registry ---- */
/* Register a host function under `name` (replaces an existing one). */
void ffi_registry_put(const char *name, ffi_function_t *fn); /* takes ownership */
void ffi_registry_put_call(const char *name, TVMFFISafeCallType call);
/* New reference, or NULL when absent. */
ffi_function_t *ffi_registry_get(const char *name);
/* Drop the global `name`; 1 if it was registered, else 0. */
int ffi_registry_remove(const char *name);
/* Calls fn(name, arg) for every registered name, in sorted order. */
void ffi_registry_foreach(void (*fn)(const char *name, void *arg), void *arg);
/* A global TVM's runtime offers that this server refuses on purpose (it would call back into
 * Python, needs a GPU compiler, ...): calling it raises `kind: <name> is not supported on this
 * server: <reason>`; the conformance table (tvmrpc-console --list-globals) shows the reason. */
void ffi_registry_put_refused(const char *name, const char *kind, const char *reason);
/* The refusal reason of a registered global, or NULL when it works. */
const char *ffi_registry_refusal(const char *name);

/* Register a global at start-up from any file in the library (the binary links the whole
 * archive, so these are never dropped). */
#define FFI_REGISTER_GLOBAL(name, call)                                                      \
	__attribute__((constructor)) static void ffi_register_##call(void)                  \
	{                                                                                    \
		ffi_registry_put_call(name, call);                                           \
	}

#define FFI_REGISTER_REFUSED(name, id, kind, reason)                                         \
	__attribute__((constructor)) static void ffi_register_refused_##id(void)             \
	{                                                                                    \
		ffi_registry_put_refused(name, kind, reason);                                \
	}

/* tvm-ffi's count check of a typed global: 0 when n == want, else -1 with its TypeError
 * ("Mismatched number of arguments when calling: `sig`. Expected 2 but got 3 arguments"). */
int ffi_arg_count(const char *sig, int32_t n, int32_t want);

/* Argument helpers for host functions: set an error naming the function on mismatch. */
int ffi_arg_int(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, int64_t *out);
int ffi_arg_str(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, const char **out,
		size_t *len);
int ffi_arg_tensor(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i, DLTensor **out);
int ffi_arg_module(const char *fn, const TVMFFIAny *args, int32_t n, int32_t i,
		   ffi_module_t **out);

#endif
