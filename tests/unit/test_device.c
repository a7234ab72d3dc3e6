/* Unit tests for the device layer (docs/devices.md) on a board without OpenCL: the loader is
 * made unavailable before first use, so these run the same with or without a driver (and
 * under qemu for other CPUs). Existence, attributes, handle checks, workspaces, host copies,
 * the current device and TVM's OpenCL error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/ffi.h"
#include "runtime/opencl_driver.h"

static void expect_error(const char *text)
{
	if (!strstr(ffi_error_message(), text))
		fail_msg("'%s' lacks '%s'", ffi_error_message(), text);
}

static void test_no_opencl(void **state)
{
	(void)state;
	DLDevice cl = {kDLOpenCL, 0};
	TVMFFIAny v;
	assert_int_equal(device_attr(cl, DEVICE_ATTR_EXIST, &v), 0);
	assert_int_equal(v.type_index, FFI_INT);
	assert_int_equal(v.v_int64, 0);
	assert_int_equal(device_check(cl), -1);
	expect_error("cannot open the OpenCL ICD loader");
	expect_error("clinfo");
	assert_int_equal(device_attr(cl, DEVICE_ATTR_DEVICE_NAME, &v), -1);
	assert_null(device_buffer_new(cl, 16));
	expect_error("no opencl device on this server");
	assert_null(device_workspace_alloc(kDLOpenCL, 0, 64));
	assert_int_equal(device_set_current(cl), -1);
	assert_int_equal(device_current(kDLOpenCL), 0);
	char line[256];
	device_describe(line, sizeof line);
	assert_string_equal(line, "cpu");
}

static void test_cpu_and_unknown_types(void **state)
{
	(void)state;
	DLDevice cpu = {kDLCPU, 0}, cuda = {kDLCUDA, 0};
	TVMFFIAny v;
	assert_int_equal(device_check(cpu), 0);
	assert_int_equal(device_attr(cpu, DEVICE_ATTR_EXIST, &v), 0);
	assert_int_equal(v.v_int64, 1);
	assert_int_equal(device_attr(cpu, DEVICE_ATTR_TOTAL_GLOBAL_MEMORY, &v), 0);
	assert_true(v.type_index == FFI_INT && v.v_int64 > 0);
	assert_int_equal(device_attr(cpu, DEVICE_ATTR_WARP_SIZE, &v), 0);
	assert_int_equal(v.type_index, FFI_NONE);
	assert_int_equal(device_check((DLDevice){kDLCPU, 1}), -1);
	expect_error("Invalid device id 1");
	assert_int_equal(device_check(cuda), -1);
	expect_error("device type 2 is not available");
	assert_int_equal(device_attr(cuda, DEVICE_ATTR_EXIST, &v), 0);
	assert_int_equal(v.v_int64, 0);
	assert_null(device_api_find(kDLVulkan));
	assert_null(device_buffer_new(cpu, 8));
	expect_error("CPU memory");
}

static void test_handles_are_checked(void **state)
{
	(void)state;
	DLDevice cl = {kDLOpenCL, 0};
	static char not_a_buffer[64];
	assert_null(device_buffer_find((uint64_t)(uintptr_t)not_a_buffer));
	assert_null(device_buffer_check(0x1234, cl, 0, 4));
	expect_error("0x1234 is not a live opencl buffer of this server (freed or never allocated)");
	assert_int_equal(device_workspace_free(not_a_buffer), -1);
	expect_error("is not a live device workspace");
	/* A copy from a bogus handle fails before touching anything. */
	char host[8] = {0};
	DLTensor from = {.data = not_a_buffer, .device = cl};
	DLTensor to = {.data = host, .device = {kDLCPU, 0}};
	assert_int_equal(device_copy(&from, &to, 8), -1);
	expect_error("not a live opencl buffer");
}

static void test_host_copies_and_tensors(void **state)
{
	(void)state;
	char a[16] = "0123456789abcdef", b[16] = {0};
	DLTensor from = {.data = a, .device = {kDLCPU, 0}, .byte_offset = 4};
	DLTensor to = {.data = b, .device = {kDLCPU, 0}, .byte_offset = 2};
	assert_int_equal(device_copy(&from, &to, 6), 0);
	assert_memory_equal(b + 2, "456789", 6);
	from.data = NULL; /* nothing is read for zero bytes */
	assert_int_equal(device_copy(&from, &to, 0), 0);
	int64_t shape[2] = {3, 5};
	ffi_tensor_t *t = device_tensor_alloc(shape, 2, (DLDataType){kDLFloat, 32, 1},
					      (DLDevice){kDLCPU, 0});
	assert_non_null(t);
	assert_int_equal(((float *)t->dl.data)[14], 0.0f);
	ffi_object_release(&t->header);
	assert_null(device_tensor_alloc(shape, 2, (DLDataType){kDLFloat, 32, 1},
					(DLDevice){kDLOpenCL, 0}));
}

static void test_error_texts(void **state)
{
	(void)state;
	assert_string_equal(opencl_error_name(0), "CL_SUCCESS");
	assert_string_equal(opencl_error_name(-11), "CL_BUILD_PROGRAM_FAILURE");
	assert_string_equal(opencl_error_name(-45), "CL_INVALID_PROGRAM_EXECUTABLE");
	assert_string_equal(opencl_error_name(-54), "CL_INVALID_WORK_GROUP_SIZE");
	assert_string_equal(opencl_error_name(-63), "CL_INVALID_GLOBAL_WORK_SIZE");
	assert_string_equal(opencl_error_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
	assert_string_equal(opencl_error_name(-25), "Unknown OpenCL error code");
	assert_string_equal(opencl_error_name(7), "Unknown OpenCL error code");
	assert_int_equal(opencl_fail("err", -45), -1);
	assert_string_equal(ffi_error_kind(), "InternalError");
	assert_string_equal(ffi_error_message(), "Check failed: (err == 0) is false: OpenCL "
						 "Error, code=-45: CL_INVALID_PROGRAM_EXECUTABLE");
}

int main(void)
{
	/* Before anything opens the driver: this process is a board without OpenCL. */
	setenv("TVMRPC_OPENCL_LIBRARY", "/nonexistent/libOpenCL.so.1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_opencl),
		cmocka_unit_test(test_cpu_and_unknown_types),
		cmocka_unit_test(test_handles_are_checked),
		cmocka_unit_test(test_host_copies_and_tensors),
		cmocka_unit_test(test_error_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
