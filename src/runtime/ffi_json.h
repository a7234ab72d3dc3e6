/* JSON over tvm-ffi values, as tvm-ffi's ffi.json.Parse / ffi.json.Stringify read and write it
 * (objects are Maps, arrays are Arrays, integers Int, other numbers Float), and the growable
 * text buffer that the JSON writer, the JSON graph (ffi_serialization.c) and ReprPrint
 * (ffi_repr.c) write into. Values nested deeper than FFI_NEST_MAX are refused, never recursed. */
#ifndef TVMRPC_FFI_JSON_H
#define TVMRPC_FFI_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

/* Nesting bound of every recursive walk over values in the JSON, structural and repr code. */
#define FFI_NEST_MAX 1000
/* Largest text any of them builds (a huge indent could otherwise ask for gigabytes). */
#define FFI_TEXT_MAX ((size_t)64 << 20)

typedef struct ffi_text {
	char *data; /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	int overflow; /* set once the text would pass FFI_TEXT_MAX; later appends are dropped */
} ffi_text_t;

void ffi_text_append(ffi_text_t *t, const char *s, size_t n);
void ffi_text_puts(ffi_text_t *t, const char *s);
void ffi_text_putc(ffi_text_t *t, char c);
void ffi_text_printf(ffi_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ffi_text_free(ffi_text_t *t);
/* A string value of the text (SmallStr up to 7 bytes, else Str); the text is freed. -1 with a
 * ValueError set when the text overflowed. */
int ffi_text_take_str(ffi_text_t *t, TVMFFIAny *out);

/* An owned string value: SmallStr for up to 7 bytes, else a Str object, as tvm-ffi's String. */
TVMFFIAny ffi_json_str_value(const char *s, size_t n);

/* Argument checks of typed globals, with tvm-ffi's TypeError messages ("Mismatched number of
 * arguments when calling: `sig`...", "Mismatched type on argument #i ..."). 0 or -1. */
int ffi_json_arg_str(const char *sig, const TVMFFIAny *args, int32_t i, const char **s,
		     size_t *len);
int ffi_json_arg_bool(const char *sig, const TVMFFIAny *args, int32_t i, int *out);
int ffi_json_arg_int(const char *sig, const TVMFFIAny *args, int32_t i, int64_t *out);
/* Optional<int> (None -> 0), truncated to 32 bits as tvm-ffi's int conversion does. */
int ffi_json_arg_optional_int32(const char *sig, const TVMFFIAny *args, int32_t i,
				int64_t *out);

/* Parse JSON text into a value (new reference in *out). -1 with a ValueError whose message
 * names the position ("Expecting value: line 1 column 5 (char 4)") on malformed input. */
int ffi_json_parse(const char *text, size_t len, TVMFFIAny *out);
/* Append the JSON form of v; indent 0 writes one line. -1 with a ValueError for values JSON
 * cannot hold (Dict, Shape, Tensor, non-string keys, a List containing itself). */
int ffi_json_write(const TVMFFIAny *v, int64_t indent, ffi_text_t *out);
/* Append a JSON string literal (quotes and escapes as tvm-ffi writes them). */
void ffi_json_write_string(ffi_text_t *out, const char *s, size_t n);

/* ffi.ReprPrint's text of v (ffi_repr.c). 0, or -1 with an error set. */
int ffi_repr_print(const TVMFFIAny *v, ffi_text_t *out);

#endif
