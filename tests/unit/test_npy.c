/* Unit tests for the .npy reader/writer: byte-exact headers as numpy writes them, round
 * trips for every dtype, versions 1-3, and refusal of malformed, truncated or hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/npy.h"

/* numpy 1.24 np.save(np.zeros(1024, np.float32)): the first 128 bytes. */
static const char numpy_f32_header[] =
	"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1024,), }"
	"                                                         \n";

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_npy.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_header_matches_numpy(void **state)
{
	(void)state;
	char buf[256];
	int64_t shape[1] = {1024};
	DLDataType f32 = {kDLFloat, 32, 1};
	size_t n = npy_header_encode(f32, 1, shape, buf, sizeof buf);
	assert_int_equal(n, 128);
	assert_memory_equal(buf, numpy_f32_header, 128);

	npy_header_t h;
	char err[256];
	assert_int_equal(npy_header_parse(numpy_f32_header, 128, &h, err, sizeof err), 0);
	assert_int_equal(h.major, 1);
	assert_int_equal(h.ndim, 1);
	assert_int_equal(h.shape[0], 1024);
	assert_int_equal(h.dtype.code, kDLFloat);
	assert_int_equal(h.dtype.bits, 32);
	assert_int_equal(h.nbytes, 4096);
	assert_int_equal(h.data_offset, 128);

	/* 0-d and 2-d shapes are written the way Python prints tuples */
	DLDataType i8 = {kDLInt, 8, 1};
	n = npy_header_encode(i8, 0, NULL, buf, sizeof buf);
	assert_true(n == 128 && strstr(buf + 10, "'descr': '|i1'") && strstr(buf + 10, "(), }"));
	int64_t s2[2] = {2, 3};
	DLDataType b1 = {NPY_DL_BOOL, 8, 1};
	n = npy_header_encode(b1, 2, s2, buf, sizeof buf);
	assert_true(n == 128 && strstr(buf + 10, "'|b1'") && strstr(buf + 10, "(2, 3), }"));
}

/* Every dtype: write a file, read it back, compare header and bytes. */
static void test_round_trip_all_dtypes(void **state)
{
	(void)state;
	const char *names[] = {"bool",   "int8",   "int16",   "int32",   "int64",   "uint8",
			       "uint16", "uint32", "uint64", "float16", "float32", "float64"};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		DLDataType dt;
		assert_int_equal(npy_dtype_parse(names[k], &dt), 0);
		assert_string_equal(npy_dtype_name(dt), names[k]);
		size_t es = npy_dtype_size(dt);
		int64_t shape[3] = {2, 3, 5};
		size_t nbytes = es * 30;
		uint8_t *data = malloc(nbytes);
		for (size_t i = 0; i < nbytes; i++)
			data[i] = (uint8_t)(i * 37 + k);
		if (dt.code == NPY_DL_BOOL)
			for (size_t i = 0; i < nbytes; i++)
				data[i] &= 1;
		char path[128], err[256];
		snprintf(path, sizeof path, "%s/%s.npy", tmpdir, names[k]);
		assert_int_equal(npy_write_file(path, dt, 3, shape, data, nbytes, err, sizeof err), 0);
		npy_array_t a;
		assert_int_equal(npy_read_file(path, &a, err, sizeof err), 0);
		assert_int_equal(a.ndim, 3);
		assert_int_equal(a.shape[0], 2);
		assert_int_equal(a.shape[2], 5);
		assert_int_equal(a.dtype.code, dt.code);
		assert_int_equal(a.dtype.bits, dt.bits);
		assert_int_equal(a.dtype.lanes, 1);
		assert_int_equal(a.nbytes, nbytes);
		assert_memory_equal(a.data, data, nbytes);
		assert_int_equal((uintptr_t)a.data % 64, 0);
		npy_array_free(&a);
		free(data);
	}
}

static void test_empty_and_scalar(void **state)
{
	(void)state;
	char path[128], err[256];
	DLDataType f16 = {kDLFloat, 16, 1};
	int64_t shape[2] = {0, 5};
	snprintf(path, sizeof path, "%s/empty.npy", tmpdir);
	assert_int_equal(npy_write_file(path, f16, 2, shape, NULL, 0, err, sizeof err), 0);
	npy_array_t a;
	assert_int_equal(npy_read_file(path, &a, err, sizeof err), 0);
	assert_int_equal(a.nbytes, 0);
	assert_int_equal(a.ndim, 2);
	npy_array_free(&a);

	DLDataType f64 = {kDLFloat, 64, 1};
	double v = 2.5;
	snprintf(path, sizeof path, "%s/scalar.npy", tmpdir);
	assert_int_equal(npy_write_file(path, f64, 0, NULL, &v, 8, err, sizeof err), 0);
	assert_int_equal(npy_read_file(path, &a, err, sizeof err), 0);
	assert_int_equal(a.ndim, 0);
	assert_int_equal(a.nbytes, 8);
	assert_memory_equal(a.data, &v, 8);
	npy_array_free(&a);

	/* wrong byte count for the shape is refused, nothing written */
	snprintf(path, sizeof path, "%s/bad.npy", tmpdir);
	assert_int_equal(npy_write_file(path, f64, 0, NULL, &v, 4, err, sizeof err), -1);
	assert_int_equal(access(path, F_OK), -1);
}

/* Versions 2.0 and 3.0 carry a 4-byte header length (numpy write_array(version=...)). */
static void test_versions_2_and_3(void **state)
{
	(void)state;
	for (int ver = 2; ver <= 3; ver++) {
		char img[256];
		const char *dict = "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }";
		size_t dn = strlen(dict), total = 128, hlen = total - 12;
		memcpy(img, "\x93NUMPY", 6);
		img[6] = (char)ver;
		img[7] = 0;
		img[8] = (char)hlen;
		img[9] = img[10] = img[11] = 0;
		memcpy(img + 12, dict, dn);
		memset(img + 12 + dn, ' ', total - 12 - dn - 1);
		img[total - 1] = '\n';
		uint16_t vals[3] = {0, 1, 2};
		memcpy(img + total, vals, 6);
		npy_array_t a;
		char err[256];
		assert_int_equal(npy_decode(img, total + 6, &a, err, sizeof err), 0);
		assert_int_equal(a.dtype.code, kDLUInt);
		assert_int_equal(a.dtype.bits, 16);
		assert_int_equal(a.shape[0], 3);
		assert_memory_equal(a.data, vals, 6);
		npy_array_free(&a);
	}
}

/* Build a v1 image around a dict text (no data). */
static size_t make_image(char *img, size_t cap, const char *dict)
{
	size_t dn = strlen(dict);
	size_t total = (10 + dn + 1 + 63) / 64 * 64;
	assert_true(total <= cap);
	memcpy(img, "\x93NUMPY\x01\x00", 8);
	img[8] = (char)((total - 10) & 0xff);
	img[9] = (char)((total - 10) >> 8);
	memcpy(img + 10, dict, dn);
	memset(img + 10 + dn, ' ', total - 10 - dn - 1);
	img[total - 1] = '\n';
	return total;
}

static void expect_refused(const char *dict, const char *needle)
{
	char img[1024], err[256] = "";
	size_t n = make_image(img, sizeof img, dict);
	npy_header_t h;
	int rc = npy_header_parse(img, n, &h, err, sizeof err);
	if (rc != -1 || !strstr(err, needle))
		fail_msg("dict %s: rc %d, message '%s' (wanted '%s')", dict, rc, err, needle);
}

static void test_malformed_headers(void **state)
{
	(void)state;
	expect_refused("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", "fortran");
	expect_refused("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", "big-endian");
	expect_refused("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }",
		       "structured");
	expect_refused("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", "unsupported");
	expect_refused("{'descr': '<U4', 'fortran_order': False, 'shape': (3,), }", "unsupported");
	expect_refused("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", "unsupported");
	expect_refused("{'descr': '|f4', 'fortran_order': False, 'shape': (3,), }", "byte order");
	expect_refused("{'descr': '<f4', 'shape': (3,), }", "needs descr");
	expect_refused("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
		       "repeated");
	expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
		       "unexpected");
	expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", "not a tuple");
	expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", "dimension");
	expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3,) ", "expected");
	expect_refused("{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }", "dtype");
	expect_refused("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", "True or False");
	expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", "after");
	expect_refused("{'descr': '<f4', 'fortran_order': False, 'shape': "
		       "(99999999999999999999,), }", "too large");
	expect_refused("{'descr': '<f8', 'fortran_order': False, 'shape': "
		       "(4294967296, 4294967296,), }", "overflow");
	expect_refused("{'descr': '<f8\\x', 'fortran_order': False, 'shape': (3,), }", "string");
	expect_refused("", "expected '{'");

	char err[256];
	npy_header_t h;
	/* wrong magic, wrong version */
	assert_int_equal(npy_header_parse("\x93NUMPX\x01\x00\x10\x00", 10, &h, err, sizeof err), -1);
	assert_non_null(strstr(err, "magic"));
	char img[1024];
	size_t n = make_image(img, sizeof img, "{'descr': '<f4', 'fortran_order': False, "
				  "'shape': (3,), }");
	img[6] = 4;
	assert_int_equal(npy_header_parse(img, n, &h, err, sizeof err), -1);
	assert_non_null(strstr(err, "version"));
	/* header length beyond the limit (v2, 4-byte length) is refused before reading it */
	const uint8_t big[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(npy_header_parse(big, 12, &h, err, sizeof err), -1);
	assert_non_null(strstr(err, "too large"));
	/* 65 dimensions */
	char dict[600] = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
	for (int i = 0; i < 65; i++)
		strcat(dict, "1, ");
	strcat(dict, "), }");
	expect_refused(dict, "more than 64");
}

static void test_truncation_everywhere(void **state)
{
	(void)state;
	char img[256];
	size_t hn = make_image(img, sizeof img, "{'descr': '<i4', 'fortran_order': False, "
				   "'shape': (4,), }");
	int32_t vals[4] = {1, -2, 3, -4};
	memcpy(img + hn, vals, 16);
	size_t total = hn + 16;
	npy_array_t a;
	char err[256];
	for (size_t len = 0; len < total; len++) {
		assert_int_equal(npy_decode(img, len, &a, err, sizeof err), -1);
		assert_non_null(strstr(err, len < hn && len >= 6 ? "truncated" : ""));
	}
	assert_int_equal(npy_decode(img, total, &a, err, sizeof err), 0);
	npy_array_free(&a);
	img[total] = 0;
	assert_int_equal(npy_decode(img, total + 1, &a, err, sizeof err), -1);
	assert_non_null(strstr(err, "after the data"));

	/* the same through files: every truncated prefix is refused with the file's name */
	char path[128];
	snprintf(path, sizeof path, "%s/trunc.npy", tmpdir);
	for (size_t len = 0; len <= total; len++) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(img, 1, len, f), len);
		fclose(f);
		int rc = npy_read_file(path, &a, err, sizeof err);
		if (len == total) {
			assert_int_equal(rc, 0);
			assert_memory_equal(a.data, vals, 16);
			npy_array_free(&a);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, path));
		}
	}
	snprintf(path, sizeof path, "%s/missing.npy", tmpdir);
	assert_int_equal(npy_read_file(path, &a, err, sizeof err), -1);
	assert_non_null(strstr(err, "No such file"));
}

/* Deterministic mutations of a valid image: every result is either a clean parse whose size
 * fits the buffer or a refusal; ASan/UBSan builds check that nothing reads out of bounds. */
static void test_mutations_never_crash(void **state)
{
	(void)state;
	char base[256];
	size_t hn = make_image(base, sizeof base, "{'descr': '<f8', 'fortran_order': False, "
				   "'shape': (2, 2), }");
	memset(base + hn, 0x3f, 32);
	size_t total = hn + 32;
	uint32_t seed = 12345;
	int parsed = 0;
	for (int iter = 0; iter < 20000; iter++) {
		char img[256];
		memcpy(img, base, total);
		int flips = 1 + iter % 4;
		for (int k = 0; k < flips; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % total;
			seed = seed * 1103515245u + 12345u;
			img[pos] = (char)(seed >> 16);
		}
		seed = seed * 1103515245u + 12345u;
		size_t len = iter % 3 == 0 ? (seed >> 8) % (total + 1) : total;
		uint8_t *copy = malloc(len ? len : 1); /* exact-size buffer for ASan */
		memcpy(copy, img, len);
		npy_array_t a;
		char err[256];
		if (npy_decode(copy, len, &a, err, sizeof err) == 0) {
			assert_true(a.nbytes <= len);
			parsed++;
			npy_array_free(&a);
		} else {
			assert_true(err[0] != '\0');
		}
		free(copy);
	}
	assert_true(parsed > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_matches_numpy),
		cmocka_unit_test(test_round_trip_all_dtypes),
		cmocka_unit_test(test_empty_and_scalar),
		cmocka_unit_test(test_versions_2_and_3),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_mutations_never_crash),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
