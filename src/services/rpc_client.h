/* Blocking TVM RPC client (docs/session-protocol.md, client view): connect + handshake, or a
 * tracker REQUEST with TVM's retries; then InitServer, global/module functions, typed calls,
 * uploads, remote tensors with streamed copies, the time evaluator, and a link probe.
 * Plain sockets with deadlines (no event loop): one caller, one request at a time. Packets are
 * built and parsed with runtime/session_codec.h. Used by `tvmrpc-console --run/--connect`. */
#ifndef TVMRPC_RPC_CLIENT_H
#define TVMRPC_RPC_CLIENT_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/session_codec.h"

/* Return codes. After REMOTE the session is still usable (the server answered with an
 * Exception); after IO, TIMEOUT or PROTOCOL it is dead and only rpc_client_close remains. */
enum rpc_client_status {
	RPC_CLIENT_OK = 0,
	RPC_CLIENT_ERR_REMOTE = -1,   /* Exception from the server; text in rpc_client_error() */
	RPC_CLIENT_ERR_IO = -2,       /* connect/read/write failed, or the peer closed */
	RPC_CLIENT_ERR_TIMEOUT = -3,  /* no answer within the deadline */
	RPC_CLIENT_ERR_PROTOCOL = -4, /* the peer broke the protocol */
	RPC_CLIENT_ERR_MISMATCH = -5, /* handshake refused the key (MISMATCH/DUPLICATE) */
	RPC_CLIENT_ERR_ARG = -6,      /* our caller's mistake; nothing was sent */
	RPC_CLIENT_ERR_MISSING = -7,  /* a global or module function does not exist */
};

typedef struct rpc_client_options {
	double connect_timeout; /* TCP connect + handshake + InitServer, seconds (default 10) */
	double reply_timeout;   /* wait for each reply, seconds; 0 = no limit (default 600) */
	double session_timeout; /* sent as "-timeout=N" in the key; 0 = none (default 0) */
	uint64_t max_reply;     /* largest Return/Exception packet accepted (default 64 MiB) */
	/* InitServer's session constructor and its arguments (e.g. ["rpc.Connect", host, port,
	 * key] to reach a server behind this one); none by default (a local session). */
	const session_value_t *init_args;
	int32_t num_init_args;
} rpc_client_options_t;

void rpc_client_options_default(rpc_client_options_t *opt);

/* A tracker REQUEST (docs/control-plane.md §6.6): up to max_retry attempts of REQUEST + connect;
 * a failed tracker connection is reopened, a stale match key (MISMATCH) is simply retried. */
typedef struct rpc_tracker_request {
	const char *host;
	int port;
	const char *key;
	int priority;        /* larger is served first (TVM's default is 1) */
	int max_retry;       /* attempts (default 5 when <= 0) */
	double wait_timeout; /* seconds to wait for a free device per attempt; 0 = forever */
} rpc_tracker_request_t;

typedef struct rpc_client rpc_client_t;

/* A remote tensor as the client describes it (copyable). data is the server's value. */
typedef struct rpc_tensor {
	uint64_t data;
	DLDevice device;
	int32_t ndim;
	DLDataType dtype;
	int64_t shape[SESSION_MAX_NDIM];
	uint64_t byte_offset;
} rpc_tensor_t;

/* A CallFunc result (§3.3a). type_index is the result's tvm-ffi type. Owned handles
 * (FFI_FUNCTION, FFI_MODULE, FFI_TENSOR's object, other objects >= 64) must be released with
 * rpc_client_free_handle; rpc_value_free only frees local memory. */
typedef struct rpc_value {
	int32_t type_index;
	int64_t v_int;     /* FFI_INT, FFI_BOOL */
	double v_float;    /* FFI_FLOAT */
	uint64_t handle;   /* FFI_OPAQUE_PTR, FFI_FUNCTION, FFI_MODULE, FFI_TENSOR, objects */
	DLDataType dtype;  /* FFI_DATATYPE */
	DLDevice device;   /* FFI_DEVICE */
	char *str;         /* FFI_STR, FFI_BYTES: malloc'd, NUL-terminated (bytes may hold NULs) */
	size_t size;
	rpc_tensor_t tensor; /* FFI_TENSOR */
} rpc_value_t;

void rpc_value_free(rpc_value_t *v);

/* Connect to a server (or a proxy) and initialise the session. key is the match part without
 * "client:" (NULL or "" for none). On failure *out is NULL and err says why; the return
 * value tells whether retrying might help (MISMATCH, IO, TIMEOUT). */
int rpc_client_connect(const char *host, int port, const char *key,
		       const rpc_client_options_t *opt, rpc_client_t **out, char *err,
		       size_t errlen);
/* Ask a tracker for a device of req->key and connect to it. */
int rpc_client_request(const rpc_tracker_request_t *req, const rpc_client_options_t *opt,
		       rpc_client_t **out, char *err, size_t errlen);
/* Release cached handles, send Shutdown (if the session is alive), close, free. NULL ok. */
void rpc_client_close(rpc_client_t *c);

/* Text of the last error on this client ("" if none). Remote errors are the server's text. */
const char *rpc_client_error(const rpc_client_t *c);
/* The connected socket (for a relay that takes the session over after InitServer; the
 * client must not be used for calls while someone else reads or writes it). */
int rpc_client_fd(const rpc_client_t *c);
/* "server:<key>" as the server announced itself. */
const char *rpc_client_server_key(const rpc_client_t *c);
/* Host and port actually connected to (through a tracker: the assigned server). */
const char *rpc_client_peer(const rpc_client_t *c);

/* ---- functions ---- */
/* GetGlobalFunc: *fn = new handle, or 0 (and RPC_CLIENT_ERR_MISSING) when absent. */
int rpc_client_get_global(rpc_client_t *c, const char *name, uint64_t *fn);
/* CallFunc with the given arguments (codec values; see rpc_tensor_arg). ret may be NULL
 * (any owned handle in the result is then released). */
int rpc_client_call(rpc_client_t *c, uint64_t fn, const session_value_t *args, int32_t nargs,
		    rpc_value_t *ret);
/* Look up and call a global in one step (the handle is released afterwards). */
int rpc_client_call_global(rpc_client_t *c, const char *name, const session_value_t *args,
			   int32_t nargs, rpc_value_t *ret);
int rpc_client_free_handle(rpc_client_t *c, uint64_t handle);
/* Argument value for a remote tensor (points into t: keep t alive while encoding). */
session_value_t rpc_tensor_arg(const rpc_tensor_t *t);

/* ---- files and modules ---- */
/* tvm.rpc.server.upload: the file is streamed from disk into one packet. */
int rpc_client_upload_file(rpc_client_t *c, const char *local_path, const char *remote_name);
int rpc_client_upload(rpc_client_t *c, const char *remote_name, const void *data, size_t len);
/* tvm.rpc.server.load_module: *module = new Module handle. */
int rpc_client_load_module(rpc_client_t *c, const char *remote_name, uint64_t *module);
/* tvm.rpc.server.ModuleGetFunction(module, name, query_imports=true): *fn = new handle, or 0
 * (and RPC_CLIENT_ERR_MISSING) when the module has no such function. */
int rpc_client_module_get_function(rpc_client_t *c, uint64_t module, const char *name,
				   uint64_t *fn);

/* ---- tensors ---- */
/* DevAllocDataWithScope for t's device/ndim/shape/dtype; sets t->data, t->byte_offset = 0. */
int rpc_client_alloc(rpc_client_t *c, rpc_tensor_t *t);
int rpc_client_free_data(rpc_client_t *c, DLDevice dev, uint64_t data);
int rpc_client_stream_sync(rpc_client_t *c, DLDevice dev);
/* Bytes of a tensor, or -1 if the shape/dtype overflows. */
int rpc_tensor_nbytes(const rpc_tensor_t *t, uint64_t *out);
/* CopyToRemote / CopyFromRemote of the first nbytes of the tensor, in chunks when the server
 * limits packets (tvm.rpc.server.GetCRTMaxPacketSize). The payload goes straight between the
 * socket and the caller's buffer (no intermediate copy). Followed by DevStreamSync, except on
 * kDLCPU where the server's answer already means the copy is complete. */
int rpc_client_copy_to(rpc_client_t *c, const rpc_tensor_t *dst, const void *src, uint64_t nbytes);
int rpc_client_copy_from(rpc_client_t *c, const rpc_tensor_t *src, void *dst, uint64_t nbytes);

/* ---- timing ---- */
typedef struct rpc_time_options {
	int number;        /* calls per measurement (default 10) */
	int repeat;        /* measurements (default 1) */
	int min_repeat_ms; /* grow number until one measurement takes this long (default 0) */
	int cooldown_ms;   /* pause between measurements (default 0) */
} rpc_time_options_t;

/* runtime.RPCTimeEvaluator(module, name, dev, ...): *fn = new Function handle. Calling it
 * (rpc_client_call) returns Bytes with `repeat` float64 seconds-per-call values. */
int rpc_client_time_evaluator(rpc_client_t *c, uint64_t module, const char *name, DLDevice dev,
			      const rpc_time_options_t *t, uint64_t *fn);

/* ---- probe (round trip and copy bandwidth) ---- */
typedef struct rpc_probe_result {
	int rounds;            /* trivial round trips measured */
	double rtt_min_us;     /* DevStreamSync(cpu:0) round trip, best and mean */
	double rtt_mean_us;
	uint64_t copy_bytes;   /* bytes copied each way (0: copies skipped) */
	double upload_mib_s;   /* CopyToRemote throughput */
	double download_mib_s; /* CopyFromRemote throughput */
} rpc_probe_result_t;

/* Measure `rounds` trivial round trips, then copy copy_bytes (a uint8 tensor on cpu:0) there
 * and back, checking the data came back intact. */
int rpc_client_probe(rpc_client_t *c, int rounds, uint64_t copy_bytes, rpc_probe_result_t *out);

#endif
