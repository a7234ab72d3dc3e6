/* Session constructors (session_relay.h): run the constructor a client names in InitServer
 * and check it returned a far session. Copying the bytes afterwards is the channel's job
 * (services/session_serve.c), since the runtime does no I/O. */
#include <string.h>

#include "runtime/session.h"
#include "runtime/session_relay.h"

#define MAX_CONSTRUCTOR_ARGS 16

static session_far_fd_fn far_fd_of;

void session_relay_set_far_fd(session_far_fd_fn fn)
{
	far_fd_of = fn;
}

/* Constructor arguments: strings, integers, booleans, floats and None. */
static int constructor_args(const session_seq_t *seq, TVMFFIAny *args)
{
	for (int32_t i = 1; i < seq->num; i++) {
		const session_value_t *v = &seq->values[i];
		TVMFFIAny *a = &args[i - 1];
		*a = ffi_any_none();
		if (v->type_index == FFI_RAW_STR || v->inner == FFI_STR) {
			a->type_index = FFI_RAW_STR;
			a->v_c_str = v->str.data;
		} else if (v->type_index == FFI_INT || v->type_index == FFI_BOOL) {
			a->type_index = v->type_index;
			a->v_int64 = v->v_int;
		} else if (v->type_index == FFI_FLOAT) {
			*a = ffi_any_float(v->v_float);
		} else if (v->type_index != FFI_NONE) {
			ffi_error_set("RPCError", "session constructor argument %d has type index %d; "
				      "only strings, numbers and None are accepted", i, v->type_index);
			return -1;
		}
	}
	return 0;
}

int session_relay_construct(const session_seq_t *seq, ffi_module_t **out)
{
	*out = NULL;
	const char *name = seq->num > 0 && (seq->values[0].type_index == FFI_RAW_STR ||
					    seq->values[0].inner == FFI_STR)
				   ? seq->values[0].str.data
				   : NULL;
	if (!name) {
		ffi_error_set("RPCError", "the session constructor must be named by a string");
		return -1;
	}
	TVMFFIAny args[MAX_CONSTRUCTOR_ARGS], result;
	if (seq->num - 1 > MAX_CONSTRUCTOR_ARGS) {
		ffi_error_set("RPCError", "too many session constructor arguments (%d)", seq->num - 1);
		return -1;
	}
	if (constructor_args(seq, args))
		return -1;
	ffi_function_t *ctor = ffi_registry_get(name);
	if (!ctor || !far_fd_of) {
		ffi_object_release(ctor ? &ctor->header : NULL);
		ffi_error_set("RPCError", "Cannot find session constructor %.100s", name);
		return -1;
	}
	int rc = ffi_function_call(ctor, args, seq->num - 1, &result);
	ffi_object_release(&ctor->header);
	if (rc) {
		char why[1024];
		ffi_error_format(why, sizeof why);
		ffi_error_set("RPCError", "Error caught from session constructor %.100s: %s", name,
			      why);
		return -1;
	}
	if (result.type_index != FFI_MODULE) {
		ffi_any_release(&result);
		ffi_error_set("RPCError", "Constructor %.100s need to return an RPCModule", name);
		return -1;
	}
	ffi_module_t *mod = (ffi_module_t *)result.v_obj;
	if (far_fd_of(mod) < 0) {
		ffi_object_release(&mod->header);
		return -1;
	}
	*out = mod;
	return 0;
}

int session_relay_far_fd(ffi_module_t *mod)
{
	return far_fd_of ? far_fd_of(mod) : -1;
}
