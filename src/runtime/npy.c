/* NumPy .npy reader and writer. The header is a Python dict literal; we accept exactly the
 * three keys numpy writes and only the value forms it writes, with every length bounded,
 * so that any byte string either parses or yields a precise message. */
#include "runtime/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd_io.h"
#include "base/xalloc.h"

/* Longest dict text we write: fixed keys plus up to 20 digits and ", " per dimension. */
#define NPY_DICT_MAX (128 + NPY_MAX_NDIM * 24)

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- dtypes ---- */

struct npy_type {
	const char *name;  /* our name, as in TVM ("float32") */
	const char *alias; /* short form accepted by npy_dtype_parse */
	char kind;         /* numpy kind letter in descr */
	uint8_t code;
	uint8_t bits;
};

static const struct npy_type npy_types[] = {
	{"bool", "b1", 'b', NPY_DL_BOOL, 8},
	{"int8", "i8", 'i', kDLInt, 8},
	{"int16", "i16", 'i', kDLInt, 16},
	{"int32", "i32", 'i', kDLInt, 32},
	{"int64", "i64", 'i', kDLInt, 64},
	{"uint8", "u8", 'u', kDLUInt, 8},
	{"uint16", "u16", 'u', kDLUInt, 16},
	{"uint32", "u32", 'u', kDLUInt, 32},
	{"uint64", "u64", 'u', kDLUInt, 64},
	{"float16", "f16", 'f', kDLFloat, 16},
	{"float32", "f32", 'f', kDLFloat, 32},
	{"float64", "f64", 'f', kDLFloat, 64},
};
#define NPY_NUM_TYPES (sizeof npy_types / sizeof npy_types[0])

static const struct npy_type *type_of(DLDataType dt)
{
	if (dt.lanes != 1)
		return NULL;
	for (size_t i = 0; i < NPY_NUM_TYPES; i++)
		if (npy_types[i].code == dt.code && npy_types[i].bits == dt.bits)
			return &npy_types[i];
	return NULL;
}

size_t npy_dtype_size(DLDataType dtype)
{
	const struct npy_type *t = type_of(dtype);
	return t ? t->bits / 8u : 0;
}

const char *npy_dtype_name(DLDataType dtype)
{
	const struct npy_type *t = type_of(dtype);
	return t ? t->name : "unsupported";
}

int npy_dtype_parse(const char *name, DLDataType *out)
{
	for (size_t i = 0; i < NPY_NUM_TYPES; i++) {
		if (strcmp(name, npy_types[i].name) == 0 || strcmp(name, npy_types[i].alias) == 0) {
			out->code = npy_types[i].code;
			out->bits = npy_types[i].bits;
			out->lanes = 1;
			return 0;
		}
	}
	return -1;
}

static int host_is_little_endian(void)
{
	const uint16_t one = 1;
	return *(const uint8_t *)&one == 1;
}

/* descr such as "<f4", "|u1": byte order, kind letter, decimal size in bytes. */
static int descr_parse(const char *d, DLDataType *out, char *err, size_t errlen)
{
	size_t n = strlen(d);
	if (n < 3 || n > 4)
		return fail(err, errlen, "unsupported dtype '%s'", d);
	char order = d[0], kind = d[1];
	int size = 0;
	for (size_t i = 2; i < n; i++) {
		if (d[i] < '0' || d[i] > '9')
			return fail(err, errlen, "unsupported dtype '%s'", d);
		size = size * 10 + (d[i] - '0');
	}
	if (order == '>')
		return fail(err, errlen, "big-endian data ('%s') is not supported; save it "
			    "little-endian (arr.astype(arr.dtype.newbyteorder('<')))", d);
	if (order == '=' && !host_is_little_endian())
		return fail(err, errlen, "native-order data ('%s') from a big-endian host is not "
			    "supported", d);
	if (order == '|' && size != 1)
		return fail(err, errlen, "dtype '%s' has no byte order", d);
	if (order != '<' && order != '|' && order != '=')
		return fail(err, errlen, "unsupported dtype '%s'", d);
	for (size_t i = 0; i < NPY_NUM_TYPES; i++) {
		if (npy_types[i].kind == kind && npy_types[i].bits == size * 8) {
			out->code = npy_types[i].code;
			out->bits = npy_types[i].bits;
			out->lanes = 1;
			return 0;
		}
	}
	return fail(err, errlen, "unsupported dtype '%s' (supported: bool, int8..int64, "
		    "uint8..uint64, float16, float32, float64)", d);
}

/* ---- header dict parser ---- */

struct cursor {
	const char *p, *end;
	char *err;
	size_t errlen;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int peek(struct cursor *c)
{
	skip_ws(c);
	return c->p < c->end ? (unsigned char)*c->p : -1;
}

static int expect(struct cursor *c, char ch, const char *what)
{
	if (peek(c) != (unsigned char)ch)
		return fail(c->err, c->errlen, "malformed .npy header: expected '%c' %s", ch, what);
	c->p++;
	return 0;
}

/* A quoted Python string without escapes (numpy never writes any in these fields). */
static int parse_string(struct cursor *c, char *out, size_t cap)
{
	int q = peek(c);
	if (q != '\'' && q != '"')
		return fail(c->err, c->errlen, "malformed .npy header: expected a string");
	c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '\\' || *c->p == '\n')
			return fail(c->err, c->errlen, "malformed .npy header: unsupported string");
		if (n + 1 >= cap)
			return fail(c->err, c->errlen, "malformed .npy header: string too long");
		out[n++] = *c->p++;
	}
	if (c->p >= c->end)
		return fail(c->err, c->errlen, "malformed .npy header: unterminated string");
	c->p++;
	out[n] = '\0';
	return 0;
}

static int parse_word(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	skip_ws(c);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static int parse_dim(struct cursor *c, int64_t *out)
{
	skip_ws(c);
	int64_t v = 0;
	int digits = 0;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return fail(c->err, c->errlen, "malformed .npy header: dimension too large");
		v = v * 10 + (*c->p++ - '0');
		digits++;
	}
	if (!digits)
		return fail(c->err, c->errlen, "malformed .npy header: expected a dimension");
	if (c->p < c->end && *c->p == 'L') /* Python 2 long suffix, as old numpy wrote it */
		c->p++;
	*out = v;
	return 0;
}

/* "()", "(3,)", "(2, 3)", "(2, 3,)". A bare "(3)" is an int in Python, not a shape. */
static int parse_shape(struct cursor *c, npy_header_t *h)
{
	if (expect(c, '(', "to open the shape"))
		return -1;
	h->ndim = 0;
	int commas = 0;
	while (peek(c) != ')') {
		if (h->ndim == NPY_MAX_NDIM)
			return fail(c->err, c->errlen, "shape has more than %d dimensions",
				    NPY_MAX_NDIM);
		if (parse_dim(c, &h->shape[h->ndim]))
			return -1;
		h->ndim++;
		int ch = peek(c);
		if (ch == ',') {
			c->p++;
			commas++;
		} else if (ch != ')') {
			return fail(c->err, c->errlen, "malformed .npy header: bad shape tuple");
		}
	}
	c->p++;
	if (h->ndim == 1 && commas == 0)
		return fail(c->err, c->errlen, "malformed .npy header: shape is not a tuple");
	return 0;
}

static int parse_dict(struct cursor *c, npy_header_t *h)
{
	int have_descr = 0, have_order = 0, have_shape = 0;
	if (expect(c, '{', "at the start of the header"))
		return -1;
	while (peek(c) != '}') {
		char key[32];
		if (parse_string(c, key, sizeof key) || expect(c, ':', "after a key"))
			return -1;
		if (strcmp(key, "descr") == 0 && !have_descr) {
			char descr[32];
			if (peek(c) == '[')
				return fail(c->err, c->errlen, "structured dtypes are not supported");
			if (parse_string(c, descr, sizeof descr) ||
			    descr_parse(descr, &h->dtype, c->err, c->errlen))
				return -1;
			have_descr = 1;
		} else if (strcmp(key, "fortran_order") == 0 && !have_order) {
			if (parse_word(c, "True") == 0)
				return fail(c->err, c->errlen, "fortran_order arrays are not "
					    "supported; save a C-order array (np.ascontiguousarray)");
			if (parse_word(c, "False"))
				return fail(c->err, c->errlen, "malformed .npy header: "
					    "fortran_order must be True or False");
			have_order = 1;
		} else if (strcmp(key, "shape") == 0 && !have_shape) {
			if (parse_shape(c, h))
				return -1;
			have_shape = 1;
		} else {
			return fail(c->err, c->errlen, "malformed .npy header: unexpected or "
				    "repeated key '%s'", key);
		}
		int ch = peek(c);
		if (ch == ',')
			c->p++;
		else if (ch != '}')
			return fail(c->err, c->errlen, "malformed .npy header: expected ',' or '}'");
	}
	c->p++;
	skip_ws(c);
	if (c->p != c->end)
		return fail(c->err, c->errlen, "malformed .npy header: text after the dict");
	if (!have_descr || !have_order || !have_shape)
		return fail(c->err, c->errlen, "malformed .npy header: needs descr, "
			    "fortran_order and shape");
	return 0;
}

/* Preamble only: version and header length. 1 = need more bytes (*need set). */
static int preamble_parse(const uint8_t *b, size_t len, npy_header_t *h, size_t *need,
			  char *err, size_t errlen)
{
	if (len < 8) {
		if (len && memcmp(b, NPY_MAGIC, len < 6 ? len : 6) != 0)
			return fail(err, errlen, "not a .npy file (bad magic)");
		*need = 8;
		return 1;
	}
	if (memcmp(b, NPY_MAGIC, 6) != 0)
		return fail(err, errlen, "not a .npy file (bad magic)");
	h->major = b[6];
	h->minor = b[7];
	if (h->major < 1 || h->major > 3 || h->minor != 0)
		return fail(err, errlen, "unsupported .npy format version %d.%d", h->major,
			    h->minor);
	size_t pre = h->major == 1 ? 10 : 12;
	if (len < pre) {
		*need = pre;
		return 1;
	}
	uint32_t hlen = (uint32_t)b[8] | (uint32_t)b[9] << 8;
	if (h->major > 1)
		hlen |= (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
	if (hlen > NPY_MAX_HEADER)
		return fail(err, errlen, ".npy header of %u bytes is too large", hlen);
	h->data_offset = pre + hlen;
	*need = h->data_offset;
	return len < h->data_offset ? 1 : 0;
}

int npy_header_parse(const void *buf, size_t len, npy_header_t *out, char *err, size_t errlen)
{
	const uint8_t *b = buf;
	memset(out, 0, sizeof *out);
	size_t need = 0;
	int rc = preamble_parse(b, len, out, &need, err, errlen);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return fail(err, errlen, "truncated .npy header");
	size_t pre = out->major == 1 ? 10 : 12;
	struct cursor c = {(const char *)b + pre, (const char *)b + out->data_offset, err, errlen};
	if (parse_dict(&c, out))
		return -1;
	size_t n = npy_dtype_size(out->dtype);
	for (int32_t i = 0; i < out->ndim; i++) {
		uint64_t d = (uint64_t)out->shape[i];
		if (d != 0 && n > SIZE_MAX / d)
			return fail(err, errlen, "array size overflows");
		n *= d;
	}
	out->nbytes = n;
	return 0;
}

void npy_array_free(npy_array_t *a)
{
	if (!a)
		return;
	free(a->data);
	memset(a, 0, sizeof *a);
}

static int array_from_header(npy_array_t *out, const npy_header_t *h, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->dtype = h->dtype;
	out->ndim = h->ndim;
	memcpy(out->shape, h->shape, sizeof h->shape);
	out->nbytes = h->nbytes;
	out->data = aligned_alloc_zero(64, h->nbytes ? h->nbytes : 1);
	if (!out->data)
		return fail(err, errlen, "out of memory for %zu bytes of array data", h->nbytes);
	return 0;
}

int npy_decode(const void *buf, size_t len, npy_array_t *out, char *err, size_t errlen)
{
	npy_header_t h;
	memset(out, 0, sizeof *out);
	if (npy_header_parse(buf, len, &h, err, errlen))
		return -1;
	size_t have = len - h.data_offset;
	if (have < h.nbytes)
		return fail(err, errlen, "truncated .npy data: %zu of %zu bytes", have, h.nbytes);
	if (have > h.nbytes)
		return fail(err, errlen, ".npy file has %zu bytes after the data", have - h.nbytes);
	if (array_from_header(out, &h, err, errlen))
		return -1;
	if (h.nbytes)
		memcpy(out->data, (const uint8_t *)buf + h.data_offset, h.nbytes);
	return 0;
}

/* ---- files ---- */

/* Read exactly n bytes; returns bytes read (short only at end of file) or -1. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Open, parse the header, and check the file size. Returns the fd (caller closes) or -1. */
static int open_and_parse(const char *path, npy_header_t *h, char *err, size_t errlen)
{
	char msg[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: not a regular file", path);
	}
	uint8_t *buf = xmalloc(12);
	size_t have = 0, need = 12;
	int rc;
	/* Grow from the fixed preamble to the announced header length, never beyond it. */
	for (;;) {
		ssize_t r = read_full(fd, buf + have, need - have);
		if (r < 0) {
			rc = fail(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
		have += (size_t)r;
		size_t want = 0;
		rc = preamble_parse(buf, have, h, &want, msg, sizeof msg);
		if (rc < 0) {
			fail(err, errlen, "%s: %s", path, msg);
			break;
		}
		if (rc == 0 || want <= have) {
			if (npy_header_parse(buf, have, h, msg, sizeof msg) != 0)
				rc = fail(err, errlen, "%s: %s", path, msg);
			else
				rc = 0;
			break;
		}
		if (have < need) { /* end of file before the header was complete */
			rc = fail(err, errlen, "%s: truncated .npy header", path);
			break;
		}
		need = want;
		buf = xrealloc(buf, need);
	}
	free(buf);
	if (rc != 0) {
		close(fd);
		return -1;
	}
	uint64_t size = (uint64_t)st.st_size;
	uint64_t avail = size >= h->data_offset ? size - h->data_offset : 0;
	if (avail < h->nbytes) {
		close(fd);
		return fail(err, errlen, "%s: truncated .npy data: %llu of %zu bytes", path,
			    (unsigned long long)avail, h->nbytes);
	}
	if (avail > h->nbytes) {
		close(fd);
		return fail(err, errlen, "%s: %llu unexpected bytes after the array data", path,
			    (unsigned long long)(avail - h->nbytes));
	}
	if (lseek(fd, (off_t)h->data_offset, SEEK_SET) < 0) {
		close(fd);
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	}
	return fd;
}

int npy_read_file_header(const char *path, npy_header_t *out, char *err, size_t errlen)
{
	int fd = open_and_parse(path, out, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int npy_read_file(const char *path, npy_array_t *out, char *err, size_t errlen)
{
	npy_header_t h;
	memset(out, 0, sizeof *out);
	int fd = open_and_parse(path, &h, err, errlen);
	if (fd < 0)
		return -1;
	if (array_from_header(out, &h, err, errlen)) {
		close(fd);
		return -1;
	}
	ssize_t r = read_full(fd, out->data, h.nbytes);
	int saved = errno;
	close(fd);
	if (r < 0 || (size_t)r != h.nbytes) {
		npy_array_free(out);
		return fail(err, errlen, "%s: %s", path,
			    r < 0 ? strerror(saved) : "file shrank while reading");
	}
	return 0;
}

size_t npy_header_encode(DLDataType dtype, int32_t ndim, const int64_t *shape, char *buf,
			 size_t cap)
{
	const struct npy_type *t = type_of(dtype);
	if (!t || ndim < 0 || ndim > NPY_MAX_NDIM)
		return 0;
	/* Dict text first, then decide the version from its length. */
	char dict[NPY_DICT_MAX];
	size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%c%c%u', 'fortran_order': "
				    "False, 'shape': (", t->bits == 8 ? '|' : '<', t->kind,
				    t->bits / 8u);
	for (int32_t i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return 0;
		n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", i ? ", " : "",
				      (long long)shape[i]);
	}
	n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
	/* numpy pads with spaces and ends with '\n' so that the data starts 64-byte aligned. */
	size_t pre = 10;
	size_t total = (pre + n + 1 + 63) / 64 * 64;
	if (total - pre > 0xffff) {
		pre = 12;
		total = (pre + n + 1 + 63) / 64 * 64;
	}
	if (total > cap)
		return 0;
	size_t hlen = total - pre;
	memcpy(buf, NPY_MAGIC, 6);
	buf[6] = pre == 10 ? 1 : 2;
	buf[7] = 0;
	buf[8] = (char)(hlen & 0xff);
	buf[9] = (char)((hlen >> 8) & 0xff);
	if (pre == 12) {
		buf[10] = (char)((hlen >> 16) & 0xff);
		buf[11] = (char)((hlen >> 24) & 0xff);
	}
	memcpy(buf + pre, dict, n);
	memset(buf + pre + n, ' ', total - pre - n - 1);
	buf[total - 1] = '\n';
	return total;
}

int npy_write_file(const char *path, DLDataType dtype, int32_t ndim, const int64_t *shape,
		   const void *data, size_t nbytes, char *err, size_t errlen)
{
	char header[NPY_DICT_MAX + 128];
	size_t hn = npy_header_encode(dtype, ndim, shape, header, sizeof header);
	if (hn == 0)
		return fail(err, errlen, "%s: cannot store dtype %s (code %u, %u bits, %u lanes) "
			    "in a .npy file", path, npy_dtype_name(dtype), dtype.code, dtype.bits,
			    dtype.lanes);
	size_t expect_bytes = npy_dtype_size(dtype);
	for (int32_t i = 0; i < ndim; i++)
		expect_bytes *= (size_t)shape[i];
	if (expect_bytes != nbytes)
		return fail(err, errlen, "%s: %zu data bytes do not match the shape (%zu)", path,
			    nbytes, expect_bytes);
	size_t plen = strlen(path);
	char *tmp = xmalloc(plen + 32);
	snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	int rc = fd_write_all(fd, header, hn);
	if (rc == 0 && nbytes)
		rc = fd_write_all(fd, data, nbytes);
	int saved = errno;
	if (close(fd) != 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -1;
		saved = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		fail(err, errlen, "%s: %s", path, strerror(saved));
	}
	free(tmp);
	return rc;
}
