/* rpc.* globals (rpc_globals.h). A connection to a far server is shared by the module, the
 * functions and the objects taken from it; each of those owns one handle on the far server and
 * frees it when it dies, and the connection is shut down with the last of them. Values cross
 * by value: strings and bytes are copied, tensors are copied in (and back out, since kernels
 * write their outputs in place) around each call and far tensors come back as local copies;
 * functions, modules and other objects stay on the far server as handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/session_relay.h"
#include "base/xalloc.h"
#include "services/rpc_client.h"
#include "services/rpc_globals.h"

/* ---- connections ---- */

typedef struct rpc_conn {
	uint32_t refs;
	rpc_client_t *client; /* NULL for rpc.LocalSession */
	int dead;             /* closed, or the byte stream broke */
	int64_t table_index;
	char peer[300];
} rpc_conn_t;

/* Session table indices, as TVM numbers the sessions a process opens (the first is 1). */
static int64_t next_table_index = 1;
/* Far sessions open in this process: each holds a socket, so a client may not open more. */
#define MAX_FAR_SESSIONS 32
static int open_far_sessions;

static rpc_conn_t *conn_new(rpc_client_t *client, const char *peer)
{
	rpc_conn_t *conn = xcalloc(1, sizeof *conn);
	conn->refs = 1;
	conn->client = client;
	conn->table_index = next_table_index++;
	snprintf(conn->peer, sizeof conn->peer, "%s", peer);
	return conn;
}

static void conn_retain(rpc_conn_t *conn)
{
	__atomic_add_fetch(&conn->refs, 1, __ATOMIC_RELAXED);
}

static void conn_release(rpc_conn_t *conn)
{
	if (!conn || __atomic_sub_fetch(&conn->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (conn->client) {
		log_debug("rpc: closing the session to %s", conn->peer);
		open_far_sessions--;
	}
	rpc_client_close(conn->client);
	free(conn);
}

static void conn_close(rpc_conn_t *conn)
{
	if (conn->client && !conn->dead) {
		rpc_client_close(conn->client);
		conn->client = NULL;
		open_far_sessions--;
	}
	conn->dead = 1;
}

/* Turn a client failure into this session's error. A far error keeps its kind when the far
 * server named one ("ValueError: ..."); TVM's servers send bare messages (RuntimeError). */
static int conn_fail(rpc_conn_t *conn, int rc)
{
	const char *text = conn->client ? rpc_client_error(conn->client) : "session closed";
	if (rc == RPC_CLIENT_ERR_REMOTE) {
		const char *colon = strstr(text, ": ");
		size_t len = colon ? (size_t)(colon - text) : 0;
		int named = len > 5 && len < 40 && (!strncmp(colon - 5, "Error", 5) ||
						    (len > 9 && !strncmp(colon - 9, "Exception", 9)));
		for (size_t i = 0; named && i < len; i++)
			named = (text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z');
		char kind[40] = "RuntimeError";
		if (named)
			snprintf(kind, sizeof kind, "%.*s", (int)len, text);
		ffi_error_set(kind, "%s", named ? colon + 2 : text);
		return -1;
	}
	if (rc == RPC_CLIENT_ERR_IO || rc == RPC_CLIENT_ERR_TIMEOUT || rc == RPC_CLIENT_ERR_PROTOCOL)
		conn->dead = 1;
	ffi_error_set("RuntimeError", "RPC session to %s failed: %s", conn->peer, text);
	return -1;
}

static int conn_usable(rpc_conn_t *conn)
{
	if (!conn->dead)
		return 0;
	ffi_error_set("RuntimeError", "the RPC session to %s is closed", conn->peer);
	return -1;
}

/* ---- far handles: functions, modules, other objects ---- */

typedef struct rpc_far {
	rpc_conn_t *conn;
	uint64_t handle;
} rpc_far_t;

static void far_drop(rpc_conn_t *conn, uint64_t handle)
{
	if (handle && conn->client && !conn->dead) {
		int rc = rpc_client_free_handle(conn->client, handle);
		if (rc == RPC_CLIENT_ERR_IO || rc == RPC_CLIENT_ERR_TIMEOUT ||
		    rc == RPC_CLIENT_ERR_PROTOCOL)
			conn->dead = 1;
	}
}

static void far_free(void *data)
{
	rpc_far_t *far = data;
	far_drop(far->conn, far->handle);
	conn_release(far->conn);
	free(far);
}

/* Objects other than functions, modules and tensors: type index 115 here, as in TVM. */
typedef struct rpc_object {
	TVMFFIObject header;
	rpc_far_t far;
} rpc_object_t;

static void object_deleter(void *self, int flags)
{
	(void)flags;
	rpc_object_t *obj = self;
	far_drop(obj->far.conn, obj->far.handle);
	conn_release(obj->far.conn);
	free(obj);
}

/* An "rpc" module: the session itself (no handle), a module on the far server, or for a
 * local session a local module (or none: the registry). */
typedef struct rpc_module {
	rpc_far_t far;
	ffi_module_t *local;
} rpc_module_t;

static ffi_function_t *rpc_module_get_function(ffi_module_t *self, const char *name);

static void rpc_module_destroy(ffi_module_t *self)
{
	rpc_module_t *m = self->impl;
	ffi_object_release(m->local ? &m->local->header : NULL);
	far_drop(m->far.conn, m->far.handle);
	conn_release(m->far.conn);
	free(m);
}

static const ffi_module_vtable_t rpc_module_vtable = {
	.kind = "rpc",
	.get_function = rpc_module_get_function,
	.destroy = rpc_module_destroy,
};

/* Takes the caller's reference on conn. */
static ffi_module_t *rpc_module_new(rpc_conn_t *conn, uint64_t handle, ffi_module_t *local)
{
	rpc_module_t *m = xcalloc(1, sizeof *m);
	m->far.conn = conn;
	m->far.handle = handle;
	m->local = local;
	return ffi_module_new(&rpc_module_vtable, m);
}

static rpc_module_t *rpc_module_of(const TVMFFIAny *a)
{
	if (a->type_index != FFI_MODULE || !a->v_obj)
		return NULL;
	const ffi_module_t *mod = (const ffi_module_t *)a->v_obj;
	return mod->vtable == &rpc_module_vtable ? mod->impl : NULL;
}

static int far_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result);

/* ---- arguments: local values -> far values ---- */

/* A tensor argument lives on the far server for the duration of one call. */
typedef struct far_tensor {
	DLTensor *local;
	rpc_tensor_t far;
	uint64_t nbytes;
} far_tensor_t;

typedef struct far_args {
	session_value_t *values;
	far_tensor_t *tensors;
	int32_t num_tensors;
} far_args_t;

static int tensor_bytes(const DLTensor *t, uint64_t *nbytes)
{
	/* Only host memory is copied to a far server: a device tensor's data is a buffer
	 * handle (docs/devices.md), not bytes this process may read. */
	if (t->device.device_type != kDLCPU) {
		ffi_error_set("ValueError", "a tensor on device type %d cannot be passed to a far "
			      "server; copy it to the CPU first", (int)t->device.device_type);
		return -1;
	}
	if (t->ndim < 0 || t->ndim > SESSION_MAX_NDIM || !ffi_dltensor_is_compact(t) ||
	    ffi_dltensor_nbytes(t, nbytes) != 0) {
		ffi_error_set("ValueError", "only compact tensors of at most %d dimensions can be "
			      "passed to a far server", SESSION_MAX_NDIM);
		return -1;
	}
	if (*nbytes > RPC_GLOBALS_MAX_TENSOR_BYTES) {
		ffi_error_set("ValueError", "a %llu-byte tensor is more than this server copies to "
			      "a far server (%llu)", (unsigned long long)*nbytes,
			      RPC_GLOBALS_MAX_TENSOR_BYTES);
		return -1;
	}
	return 0;
}

static int tensor_to_far(rpc_conn_t *conn, DLTensor *local, far_tensor_t *ft)
{
	memset(ft, 0, sizeof *ft);
	if (tensor_bytes(local, &ft->nbytes))
		return -1;
	ft->local = local;
	ft->far.device = local->device;
	ft->far.ndim = local->ndim;
	ft->far.dtype = local->dtype;
	memcpy(ft->far.shape, local->shape, sizeof(int64_t) * (size_t)local->ndim);
	int rc = rpc_client_alloc(conn->client, &ft->far);
	if (rc == 0 && ft->nbytes)
		rc = rpc_client_copy_to(conn->client, &ft->far,
					(char *)local->data + local->byte_offset, ft->nbytes);
	if (rc) {
		if (ft->far.data)
			rpc_client_free_data(conn->client, ft->far.device, ft->far.data);
		ft->far.data = 0;
		return conn_fail(conn, rc);
	}
	return 0;
}

static int object_to_far(rpc_conn_t *conn, const TVMFFIAny *a, session_value_t *v)
{
	rpc_module_t *m = rpc_module_of(a);
	if (a->type_index == FFI_MODULE) {
		if (!m || m->far.conn != conn || !m->far.handle) {
			ffi_error_set("ValueError", "Cannot pass a non-RPC module to remote");
			return -1;
		}
		*v = session_value_handle(FFI_MODULE, m->far.handle);
		return 0;
	}
	if (a->type_index == FFI_FUNCTION) {
		const ffi_function_t *fn = (const ffi_function_t *)a->v_obj;
		const rpc_far_t *far = fn->safe_call == far_call ? fn->data : NULL;
		if (!far || far->conn != conn) {
			ffi_error_set("ValueError", "Cannot pass a local function to a far server");
			return -1;
		}
		*v = session_value_handle(FFI_FUNCTION, far->handle);
		return 0;
	}
	if (a->type_index == FFI_RPC_OBJECT_REF && a->v_obj->deleter == object_deleter &&
	    ((rpc_object_t *)a->v_obj)->far.conn == conn) {
		*v = session_value_handle(FFI_RPC_OBJECT_REF, ((rpc_object_t *)a->v_obj)->far.handle);
		return 0;
	}
	ffi_error_set("ValueError", "Cannot pass an object of type index %d as an argument to the "
		      "remote", a->type_index);
	return -1;
}

static int arg_to_far(rpc_conn_t *conn, const TVMFFIAny *a, session_value_t *v, far_args_t *fa)
{
	size_t len;
	const char *s = ffi_any_as_str(a, &len);
	DLTensor *t = ffi_any_as_dltensor(a);
	*v = session_value_none();
	v->type_index = a->type_index;
	switch (a->type_index) {
	case FFI_NONE:
		return 0;
	case FFI_INT:
	case FFI_BOOL:
		v->v_int = a->v_int64;
		return 0;
	case FFI_FLOAT:
		v->v_float = a->v_float64;
		return 0;
	case FFI_OPAQUE_PTR:
		v->handle = a->v_uint64;
		return 0;
	case FFI_DATATYPE:
		v->dtype = a->v_dtype;
		return 0;
	case FFI_DEVICE:
		v->device = a->v_device;
		return 0;
	default:
		break;
	}
	const char *bytes = ffi_any_as_bytes(a, &len);
	if (bytes) {
		*v = session_value_byte_array(bytes, len);
		return 0;
	}
	if (s) {
		*v = session_value_raw_str(s, len);
		return 0;
	}
	if (t) {
		far_tensor_t *ft = &fa->tensors[fa->num_tensors];
		if (tensor_to_far(conn, t, ft))
			return -1;
		fa->num_tensors++;
		rpc_tensor_t *far = &ft->far;
		*v = rpc_tensor_arg(far);
		return 0;
	}
	if (ffi_any_is_object(a))
		return object_to_far(conn, a, v);
	ffi_error_set("ValueError", "Cannot pass a value of type index %d to the remote",
		      a->type_index);
	return -1;
}

/* After the call: copy each tensor back (outputs are written in place), then free it there.
 * Copies stop at the first failure, but every far allocation is freed. */
static int far_args_finish(rpc_conn_t *conn, far_args_t *fa, int copy_back)
{
	int rc = 0;
	for (int32_t i = 0; i < fa->num_tensors; i++) {
		far_tensor_t *ft = &fa->tensors[i];
		if (copy_back && rc == 0 && ft->nbytes)
			rc = rpc_client_copy_from(conn->client, &ft->far,
						  (char *)ft->local->data + ft->local->byte_offset,
						  ft->nbytes);
		if (!conn->dead && conn->client)
			rpc_client_free_data(conn->client, ft->far.device, ft->far.data);
	}
	free(fa->values);
	free(fa->tensors);
	return rc ? conn_fail(conn, rc) : 0;
}

/* ---- results: far values -> local values ---- */

static int tensor_from_far(rpc_conn_t *conn, const rpc_value_t *rv, TVMFFIAny *out)
{
	const rpc_tensor_t *ft = &rv->tensor;
	DLDevice cpu = {kDLCPU, 0};
	uint64_t nbytes;
	if (rpc_tensor_nbytes(ft, &nbytes) || nbytes > RPC_GLOBALS_MAX_TENSOR_BYTES) {
		ffi_error_set("ValueError", "the far server returned a tensor too large to copy");
		return -1;
	}
	ffi_tensor_t *t = ffi_tensor_alloc(ft->shape, ft->ndim, ft->dtype, cpu);
	if (!t)
		return -1;
	int rc = nbytes ? rpc_client_copy_from(conn->client, ft, t->dl.data, nbytes) : 0;
	if (rc) {
		ffi_object_release(&t->header);
		return conn_fail(conn, rc);
	}
	*out = ffi_any_object(&t->header);
	return 0;
}

static TVMFFIAny text_value(int32_t type_index, const char *data, size_t size)
{
	if (type_index == FFI_STR)
		return ffi_any_object(&ffi_str_new(data, size)->header);
	ffi_bytes_t *b = ffi_bytes_new(data, size);
	return b ? ffi_any_object(&b->header) : ffi_any_none();
}

/* Takes ownership of any handle in rv (it is freed on failure). */
static int value_from_far(rpc_conn_t *conn, rpc_value_t *rv, TVMFFIAny *out)
{
	rpc_far_t *far;
	int rc = 0;
	*out = ffi_any_none();
	switch (rv->type_index) {
	case FFI_NONE:
		return 0;
	case FFI_INT:
	case FFI_BOOL:
		out->type_index = rv->type_index;
		out->v_int64 = rv->v_int;
		return 0;
	case FFI_FLOAT:
		*out = ffi_any_float(rv->v_float);
		return 0;
	case FFI_DATATYPE:
		out->type_index = FFI_DATATYPE;
		out->v_dtype = rv->dtype;
		return 0;
	case FFI_DEVICE:
		out->type_index = FFI_DEVICE;
		out->v_device = rv->device;
		return 0;
	case FFI_OPAQUE_PTR:
		*out = ffi_any_ptr((void *)(uintptr_t)rv->handle);
		return 0;
	case FFI_STR:
	case FFI_BYTES:
		*out = text_value(rv->type_index, rv->str, rv->size);
		return out->type_index == FFI_NONE ? -1 : 0;
	case FFI_TENSOR:
		rc = tensor_from_far(conn, rv, out);
		far_drop(conn, rv->handle);
		return rc;
	case FFI_FUNCTION:
		far = xmalloc(sizeof *far);
		far->conn = conn;
		far->handle = rv->handle;
		conn_retain(conn);
		*out = ffi_any_object(&ffi_function_new(far_call, far, far_free, NULL)->header);
		return 0;
	case FFI_MODULE:
		conn_retain(conn);
		*out = ffi_any_object(&rpc_module_new(conn, rv->handle, NULL)->header);
		return 0;
	default: {
		rpc_object_t *obj = xcalloc(1, sizeof *obj);
		ffi_object_init(&obj->header, FFI_RPC_OBJECT_REF, object_deleter);
		obj->far.conn = conn;
		obj->far.handle = rv->handle;
		conn_retain(conn);
		*out = ffi_any_object(&obj->header);
		return 0;
	}
	}
}

/* ---- calls ---- */

static int far_invoke(rpc_conn_t *conn, uint64_t handle, const TVMFFIAny *args, int32_t n,
		      TVMFFIAny *result)
{
	if (conn_usable(conn))
		return -1;
	far_args_t fa = {0};
	fa.values = xcalloc((size_t)(n > 0 ? n : 1), sizeof *fa.values);
	fa.tensors = xcalloc((size_t)(n > 0 ? n : 1), sizeof *fa.tensors);
	for (int32_t i = 0; i < n; i++) {
		if (arg_to_far(conn, &args[i], &fa.values[i], &fa)) {
			char kind[64], msg[1024];
			snprintf(kind, sizeof kind, "%s", ffi_error_kind());
			snprintf(msg, sizeof msg, "%s", ffi_error_message());
			far_args_finish(conn, &fa, 0);
			ffi_error_set(kind, "%s", msg);
			return -1;
		}
	}
	rpc_value_t rv;
	int rc = rpc_client_call(conn->client, handle, fa.values, n, &rv);
	if (rc) {
		conn_fail(conn, rc);
		char kind[64], msg[1024];
		snprintf(kind, sizeof kind, "%s", ffi_error_kind());
		snprintf(msg, sizeof msg, "%s", ffi_error_message());
		far_args_finish(conn, &fa, 0);
		ffi_error_set(kind, "%s", msg);
		return -1;
	}
	if (far_args_finish(conn, &fa, 1) == 0) {
		rc = value_from_far(conn, &rv, result);
	} else {
		rc = -1;
		if (rv.type_index == FFI_FUNCTION || rv.type_index == FFI_MODULE ||
		    (rv.type_index >= FFI_STATIC_OBJECT_BEGIN && rv.type_index != FFI_STR &&
		     rv.type_index != FFI_BYTES))
			far_drop(conn, rv.handle);
	}
	rpc_value_free(&rv);
	return rc;
}

static int far_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	const rpc_far_t *far = ((ffi_function_t *)self)->data;
	return far_invoke(far->conn, far->handle, args, n, result);
}

/* Call the far global `name` once. */
static int far_call_global(rpc_conn_t *conn, const char *name, const TVMFFIAny *args,
			   int32_t n, TVMFFIAny *result)
{
	uint64_t fn;
	if (conn_usable(conn))
		return -1;
	int rc = rpc_client_get_global(conn->client, name, &fn);
	if (rc == RPC_CLIENT_ERR_MISSING) {
		ffi_error_set("RuntimeError", "Cannot found remote function %s", name);
		return -1;
	}
	if (rc)
		return conn_fail(conn, rc);
	rc = far_invoke(conn, fn, args, n, result);
	far_drop(conn, fn);
	return rc;
}

static int close_connection(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)args;
	(void)n;
	(void)result;
	ffi_module_t *mod = (ffi_module_t *)((ffi_function_t *)self)->owner;
	conn_close(((rpc_module_t *)mod->impl)->far.conn);
	return 0;
}

static ffi_function_t *local_get_function(rpc_module_t *m, const char *name)
{
	if (m->local)
		return ffi_module_get_function(m->local, name, 1);
	return ffi_registry_get(name);
}

/* The session module offers the far globals; a far module its own functions (looked up with
 * tvm.rpc.server.ModuleGetFunction there, imports included). */
static ffi_function_t *rpc_module_get_function(ffi_module_t *self, const char *name)
{
	rpc_module_t *m = self->impl;
	rpc_conn_t *conn = m->far.conn;
	if (strcmp(name, "CloseRPCConnection") == 0)
		return ffi_function_new(close_connection, NULL, NULL, &self->header);
	if (!conn->client && !conn->dead)
		return local_get_function(m, name);
	if (conn_usable(conn))
		return NULL;
	TVMFFIAny result;
	int rc;
	if (!m->far.handle) {
		uint64_t fn;
		rc = rpc_client_get_global(conn->client, name, &fn);
		if (rc == RPC_CLIENT_ERR_MISSING)
			return NULL;
		if (rc) {
			conn_fail(conn, rc);
			return NULL;
		}
		rpc_value_t rv = {.type_index = FFI_FUNCTION, .handle = fn};
		rc = value_from_far(conn, &rv, &result);
	} else {
		TVMFFIAny args[3] = {ffi_any_object(&self->header), {.type_index = FFI_RAW_STR},
				     ffi_any_bool(1)};
		args[1].v_c_str = name;
		rc = far_call_global(conn, "tvm.rpc.server.ModuleGetFunction", args, 3, &result);
	}
	if (rc)
		return NULL;
	if (result.type_index != FFI_FUNCTION) {
		ffi_any_release(&result);
		return NULL;
	}
	return (ffi_function_t *)result.v_obj;
}

/* ---- globals ---- */

static int arg_count(const char *name, int32_t n, int32_t min, int32_t max)
{
	if (n >= min && n <= max)
		return 0;
	ffi_error_set("TypeError", "%s expects %d%s arguments, got %d", name, min,
		      max > min ? " or more" : "", n);
	return -1;
}

/* The rpc module of argument i; TVM checks the kind with an internal assertion. */
static int arg_rpc_module(const char *name, const TVMFFIAny *args, int32_t n, int32_t i,
			  ffi_module_t **mod)
{
	if (ffi_arg_module(name, args, n, i, mod))
		return -1;
	if ((*mod)->vtable != &rpc_module_vtable) {
		ffi_error_set("InternalError", "Check failed: tkey == \"rpc\" (%s vs. rpc)",
			      (*mod)->vtable->kind);
		return -1;
	}
	return 0;
}

/* Far init-sequence values: only plain values can open a session there. */
static int init_args_build(const TVMFFIAny *args, int32_t n, session_value_t *out)
{
	for (int32_t i = 0; i < n; i++) {
		size_t len;
		const char *s = ffi_any_as_str(&args[i], &len);
		if (s) {
			out[i] = session_value_raw_str(s, len);
		} else if (args[i].type_index == FFI_INT || args[i].type_index == FFI_BOOL) {
			out[i] = args[i].type_index == FFI_INT ? session_value_int(args[i].v_int64)
							       : session_value_bool(args[i].v_int64);
		} else if (args[i].type_index == FFI_NONE) {
			out[i] = session_value_none();
		} else {
			ffi_error_set("TypeError", "rpc.Connect: session constructor argument %d must "
				      "be a string, an integer or None", i);
			return -1;
		}
	}
	return 0;
}

/* rpc.Connect(url, port, key, enable_logging, *init_seq) -> Module("rpc") */
static int global_connect(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	static const char name[] = "rpc.Connect";
	const char *url, *key;
	int64_t port, logging;
	if (arg_count(name, n, 4, 4 + 64) || ffi_arg_str(name, args, n, 0, &url, NULL) ||
	    ffi_arg_int(name, args, n, 1, &port) || ffi_arg_str(name, args, n, 2, &key, NULL) ||
	    ffi_arg_int(name, args, n, 3, &logging))
		return -1;
	if (port <= 0 || port > 65535) {
		ffi_error_set("ValueError", "rpc.Connect: port %lld is out of range",
			      (long long)port);
		return -1;
	}
	session_value_t init[64];
	if (init_args_build(args + 4, n - 4, init))
		return -1;
	if (open_far_sessions >= MAX_FAR_SESSIONS) {
		ffi_error_set("RuntimeError", "rpc.Connect: this session already has %d far sessions "
			      "open; free some first", open_far_sessions);
		return -1;
	}
	rpc_client_options_t opt;
	rpc_client_options_default(&opt);
	opt.init_args = init;
	opt.num_init_args = n - 4;
	rpc_client_t *client = NULL;
	char err[512] = "";
	int rc = rpc_client_connect(url, (int)port, key, &opt, &client, err, sizeof err);
	if (rc) {
		ffi_error_set("InternalError", "Connect to %.200s:%lld failed: %s", url,
			      (long long)port, err);
		return -1;
	}
	log_info("rpc: session opened to %s for a client", rpc_client_peer(client));
	open_far_sessions++;
	rpc_conn_t *conn = conn_new(client, rpc_client_peer(client));
	*result = ffi_any_object(&rpc_module_new(conn, 0, NULL)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("rpc.Connect", global_connect)

/* rpc.LocalSession() -> Module("rpc") whose functions are this server's own globals. */
static int global_local_session(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)self;
	(void)args;
	if (arg_count("rpc.LocalSession", n, 0, 0))
		return -1;
	rpc_conn_t *conn = conn_new(NULL, "local session");
	*result = ffi_any_object(&rpc_module_new(conn, 0, NULL)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("rpc.LocalSession", global_local_session)

static int call_local_global(const char *name, const TVMFFIAny *args, int32_t n,
			     TVMFFIAny *result)
{
	ffi_function_t *fn = ffi_registry_get(name);
	if (!fn) {
		ffi_error_set("RuntimeError", "Cannot found remote function %s", name);
		return -1;
	}
	int rc = ffi_function_call(fn, args, n, result);
	ffi_object_release(&fn->header);
	return rc;
}

/* rpc.LoadRemoteModule(sess, name): tvm.rpc.server.load_module on the session's server. */
static int global_load_remote_module(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	(void)self;
	static const char name[] = "rpc.LoadRemoteModule";
	ffi_module_t *mod;
	const char *path;
	if (arg_count(name, n, 2, 2) || arg_rpc_module(name, args, n, 0, &mod) ||
	    ffi_arg_str(name, args, n, 1, &path, NULL))
		return -1;
	rpc_conn_t *conn = ((rpc_module_t *)mod->impl)->far.conn;
	if (conn->client || conn->dead)
		return far_call_global(conn, "tvm.rpc.server.load_module", args + 1, 1, result);
	TVMFFIAny local;
	if (call_local_global("tvm.rpc.server.load_module", args + 1, 1, &local))
		return -1;
	if (local.type_index != FFI_MODULE) {
		ffi_any_release(&local);
		ffi_error_set("RuntimeError", "tvm.rpc.server.load_module did not return a module");
		return -1;
	}
	conn_retain(conn);
	*result = ffi_any_object(&rpc_module_new(conn, 0, (ffi_module_t *)local.v_obj)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("rpc.LoadRemoteModule", global_load_remote_module)

/* rpc.ImportRemoteModule(parent, child): both far modules of one session. */
static int global_import_remote_module(void *self, const TVMFFIAny *args, int32_t n,
				       TVMFFIAny *result)
{
	(void)self;
	(void)result;
	static const char name[] = "rpc.ImportRemoteModule";
	ffi_module_t *parent, *child;
	if (arg_count(name, n, 2, 2) || arg_rpc_module(name, args, n, 0, &parent) ||
	    ffi_arg_module(name, args, n, 1, &child))
		return -1;
	rpc_module_t *p = parent->impl, *c = rpc_module_of(&args[1]);
	if (!c || c->far.conn != p->far.conn) {
		ffi_error_set("ValueError", "Cannot pass in module into a different remote session");
		return -1;
	}
	if (!p->far.conn->client && !p->far.conn->dead) {
		if (!p->local || !c->local) {
			ffi_error_set("ValueError", "a session module cannot import or be imported");
			return -1;
		}
		TVMFFIAny pair[2] = {ffi_any_object(&p->local->header),
				     ffi_any_object(&c->local->header)}, ignored;
		int rc = call_local_global("tvm.rpc.server.ImportModule", pair, 2, &ignored);
		if (rc == 0)
			ffi_any_release(&ignored);
		return rc;
	}
	if (!p->far.handle || !c->far.handle) {
		ffi_error_set("ValueError", "a session module cannot import or be imported");
		return -1;
	}
	TVMFFIAny ignored;
	int rc = far_call_global(p->far.conn, "tvm.rpc.server.ImportModule", args, 2, &ignored);
	if (rc == 0)
		ffi_any_release(&ignored);
	return rc;
}
FFI_REGISTER_GLOBAL("rpc.ImportRemoteModule", global_import_remote_module)

static int global_sess_table_index(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	(void)self;
	ffi_module_t *mod;
	if (arg_count("rpc.SessTableIndex", n, 1, 1) ||
	    arg_rpc_module("rpc.SessTableIndex", args, n, 0, &mod))
		return -1;
	*result = ffi_any_int(((rpc_module_t *)mod->impl)->far.conn->table_index);
	return 0;
}
FFI_REGISTER_GLOBAL("rpc.SessTableIndex", global_sess_table_index)

/* tvm.rpc.TensorFromRemoteOpaqueHandle(sess, data, template, device, handle): the far tensor
 * `handle` (data pointer `data`, shape and dtype of `template`) as a local copy; the handle is
 * taken over and freed. The device must carry the session's mask (type + 128 * (index + 1)). */
static int global_tensor_from_remote(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	(void)self;
	static const char name[] = "tvm.rpc.TensorFromRemoteOpaqueHandle";
	ffi_module_t *mod;
	DLTensor *tmpl;
	if (arg_count(name, n, 5, 5) || ffi_arg_module(name, args, n, 0, &mod) ||
	    ffi_arg_tensor(name, args, n, 2, &tmpl))
		return -1;
	if (mod->vtable != &rpc_module_vtable) {
		ffi_error_set("ValueError", "Cannot pass a non-RPC module to remote");
		return -1;
	}
	if (args[1].type_index != FFI_OPAQUE_PTR || args[3].type_index != FFI_DEVICE ||
	    (args[4].type_index != FFI_OPAQUE_PTR && args[4].type_index != FFI_NONE)) {
		ffi_error_set("TypeError", "%s expects (Module, void*, DLTensor*, Device, void*)",
			      name);
		return -1;
	}
	rpc_conn_t *conn = ((rpc_module_t *)mod->impl)->far.conn;
	DLDevice dev = args[3].v_device;
	if ((int64_t)dev.device_type / 128 - 1 != conn->table_index) {
		ffi_error_set("InternalError", "The Device given does not belong to the given "
			      "session");
		return -1;
	}
	if (conn_usable(conn))
		return -1;
	if (!conn->client) {
		ffi_error_set("ValueError", "a local session has no far tensors");
		return -1;
	}
	rpc_value_t rv = {.type_index = FFI_TENSOR, .handle = args[4].v_uint64};
	rv.tensor.data = args[1].v_uint64;
	rv.tensor.device.device_type = (DLDeviceType)(dev.device_type % 128);
	rv.tensor.device.device_id = dev.device_id;
	rv.tensor.ndim = tmpl->ndim;
	rv.tensor.dtype = tmpl->dtype;
	if (tmpl->ndim < 0 || tmpl->ndim > SESSION_MAX_NDIM) {
		ffi_error_set("ValueError", "%s: the template has %d dimensions", name, tmpl->ndim);
		return -1;
	}
	memcpy(rv.tensor.shape, tmpl->shape, sizeof(int64_t) * (size_t)tmpl->ndim);
	return value_from_far(conn, &rv, result);
}
FFI_REGISTER_GLOBAL("tvm.rpc.TensorFromRemoteOpaqueHandle", global_tensor_from_remote)

FFI_REGISTER_REFUSED("rpc.ServerLoop", server_loop, "RuntimeError",
		     "it serves a session on a raw socket descriptor of this process or on "
		     "Python send/receive callbacks, neither of which a remote client can supply")
FFI_REGISTER_REFUSED("rpc.ReturnException", return_exception, "RuntimeError",
		     "it writes a packet to a raw socket descriptor of this process (it could "
		     "corrupt this very session)")
FFI_REGISTER_REFUSED("rpc.CreatePipeClient", pipe_client, "RuntimeError",
		     "it spawns a process from a command line supplied by the client")
FFI_REGISTER_REFUSED("rpc.CreateEventDrivenServer", event_server, "RuntimeError",
		     "it builds a server around a send callback of the caller (the web and "
		     "Python event-driven servers); use rpc.Connect to reach another server")
FFI_REGISTER_REFUSED("rpc.ServerCreate", server_create, "RuntimeError",
		     "it starts a whole RPC server (listening ports, tracker registration) from "
		     "the client's arguments inside a session process")
FFI_REGISTER_REFUSED("device_api.rpc", device_api_rpc, "RuntimeError",
		     "it returns the address of a C++ DeviceAPI object, which this runtime does "
		     "not have; far devices are reached through rpc.Connect")

/* ---- session constructors: InitServer ["rpc.Connect", ...] relays to the far server ---- */

static int rpc_far_fd(ffi_module_t *mod)
{
	rpc_module_t *m = mod->vtable == &rpc_module_vtable ? mod->impl : NULL;
	if (!m) {
		ffi_error_set("RPCError", "the session constructor returned a %s module, not an RPC "
			      "session", mod->vtable->kind);
		return -1;
	}
	if (!m->far.conn->client || m->far.conn->dead || m->far.handle) {
		ffi_error_set("RPCError", "the session constructor returned no open far session");
		return -1;
	}
	return rpc_client_fd(m->far.conn->client);
}

__attribute__((constructor)) static void rpc_relay_install(void)
{
	session_relay_set_far_fd(rpc_far_fd);
}
