/* tvm-ffi's JSON object graph of a value (ffi_serialization.c): the writer behind
 * ffi.ToJSONGraph and the checked reader behind ffi.FromJSONGraph (fuzzed). */
#ifndef TVMRPC_FFI_SERIALIZATION_H
#define TVMRPC_FFI_SERIALIZATION_H

#include "runtime/ffi.h"

/* The graph (a Map) of v, with "metadata" when metadata is not None. 0 or -1 with an error
 * (TypeError for objects that have no graph form, ValueError for a List or Dict that contains
 * itself). */
int ffi_json_graph_write(const TVMFFIAny *v, const TVMFFIAny *metadata, TVMFFIAny *out);
/* The value a graph describes (new reference). 0 or -1 with an error of the kind tvm-ffi
 * raises: ValueError for bad indices and sizes, TypeError for wrong JSON types, KeyError for a
 * missing "type"/"data", InternalError for an unknown type key or bad base64. */
int ffi_json_graph_read(const TVMFFIAny *graph, TVMFFIAny *out);

#endif
