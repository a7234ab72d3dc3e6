/* The catalogue of remote globals (ffi_catalog.c): the conformance table's source. */
#ifndef TVMRPC_FFI_CATALOG_H
#define TVMRPC_FFI_CATALOG_H

#include <stdio.h>

/* Why TVM's global `name` is left out of this server, or NULL if it is not left out. */
const char *ffi_catalog_absent_reason(const char *name);

/* Every registered global with its status, then the families left out. Plain form: one
 * line each, tab separated: "works NAME", "refused NAME REASON", "absent PREFIX* REASON".
 * Markdown form: docs/globals.md. */
void ffi_catalog_print(FILE *out, int markdown);

#endif
