/* NumPy .npy files (format versions 1.0, 2.0 and 3.0): little-endian bool, int8..int64,
 * uint8..uint64, float16/32/64 in C order. The reader is a strict, bounded parser meant to
 * survive any input (it is fuzzed); run_cmd.c uses it for --in/--out of tvmrpc-console --run. */
#ifndef TVMRPC_NPY_H
#define TVMRPC_NPY_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_NDIM 64
/* numpy writes headers of a few hundred bytes; anything bigger than this is not ours. */
#define NPY_MAX_HEADER (1u << 16)
/* DLPack's kDLBool (the system dlpack.h predates it); bool is {6, 8, 1} as in tvm-ffi. */
#define NPY_DL_BOOL 6

/* What the header says. data_offset is where the payload starts in the file. */
typedef struct npy_header {
	int major, minor;
	DLDataType dtype;
	int32_t ndim;
	int64_t shape[NPY_MAX_NDIM];
	size_t nbytes;      /* prod(shape) * element size; checked for overflow */
	size_t data_offset; /* magic + version + length field + header text */
} npy_header_t;

/* A whole array in memory. data is malloc'd (64-byte aligned) and owned by the array. */
typedef struct npy_array {
	DLDataType dtype;
	int32_t ndim;
	int64_t shape[NPY_MAX_NDIM];
	void *data;
	size_t nbytes;
} npy_array_t;

/* Element size in bytes of a supported dtype, or 0 if npy files cannot hold it here. */
size_t npy_dtype_size(DLDataType dtype);
/* "float32", "int8", "bool", ... for messages; "unsupported" otherwise. */
const char *npy_dtype_name(DLDataType dtype);
/* Parse "float32", "f32", "int64", "uint8", "bool", ... Returns 0 or -1. */
int npy_dtype_parse(const char *name, DLDataType *out);

/* Parse the preamble and header at the start of buf. Needs the complete header in buf (a
 * shorter buffer is reported as truncated). Returns 0, or -1 with a message in err. */
int npy_header_parse(const void *buf, size_t len, npy_header_t *out, char *err, size_t errlen);

/* Decode a complete .npy image: header, then exactly nbytes of data. out->data is a copy.
 * Returns 0, or -1 with a message in err (out is then empty). */
int npy_decode(const void *buf, size_t len, npy_array_t *out, char *err, size_t errlen);

/* Read a .npy file. Returns 0, or -1 with a message naming the file in err. */
int npy_read_file(const char *path, npy_array_t *out, char *err, size_t errlen);
/* Read only the header of a .npy file (for shapes of outputs). */
int npy_read_file_header(const char *path, npy_header_t *out, char *err, size_t errlen);

/* Header bytes (preamble + padded dict) for an array; version 1.0 unless the header needs
 * 2.0. Returns the length written, or 0 if cap is too small or the dtype is unsupported. */
size_t npy_header_encode(DLDataType dtype, int32_t ndim, const int64_t *shape, char *buf,
			 size_t cap);
/* Write header + data to path (replaced atomically through a temporary file). */
int npy_write_file(const char *path, DLDataType dtype, int32_t ndim, const int64_t *shape,
		   const void *data, size_t nbytes, char *err, size_t errlen);

void npy_array_free(npy_array_t *a);

#endif
