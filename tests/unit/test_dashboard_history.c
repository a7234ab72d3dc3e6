/* Unit tests of the console's per-key history (dashboard_history.c): a column keeps the
 * period's maximum, pending scales to the hour's maximum, old periods fall off, and the
 * ASCII fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "console/dashboard_history.h"

/* The sparkline of `what` ("pending" or "busy") for the first key, as text. */
static void line_of(const char *text, const char *what, char *out, size_t size)
{
	const char *p = strstr(text, what);
	assert_non_null(p);
	p += 9; /* the label is padded to 8 columns, then one space */
	size_t n = strcspn(p, "\n");
	snprintf(out, size, "%.*s", (int)n, p);
}

static void test_columns_scale_and_expire(void **state)
{
	(void)state;
	dash_history_t h = {0};
	double t0 = 1200000.0; /* a period boundary */
	dash_history_sample(&h, "rasp", 2, 2, 0, t0);        /* idle */
	dash_history_sample(&h, "rasp", 2, 1, 4, t0 + 130);  /* next period: 4 waiting, 1/2 busy */
	dash_history_sample(&h, "rasp", 2, 0, 8, t0 + 250);  /* next: 8 waiting, 2/2 busy */
	dash_history_sample(&h, "rasp", 2, 2, 1, t0 + 260);  /* same period: maxima stay */
	char text[4096], line[256];
	dash_history_format(&h, t0 + 260, 1, text, sizeof text);
	line_of(text, "pending", line, sizeof line);
	/* 27 empty columns, then idle (0 of 8), 4 of 8 and 8 of 8; then the maximum. */
	assert_string_equal(line, "                           _=# 8");
	line_of(text, "busy", line, sizeof line);
	assert_string_equal(line, "                           _=# 100%");
	/* An hour later those periods have fallen off. */
	dash_history_sample(&h, "rasp", 2, 2, 0, t0 + 3600 + 260);
	dash_history_format(&h, t0 + 3600 + 260, 1, text, sizeof text);
	line_of(text, "pending", line, sizeof line);
	assert_string_equal(line, "                             _ 0");
	dash_history_free(&h);
}

static void test_utf8_blocks(void **state)
{
	(void)state;
	dash_history_t h = {0};
	dash_history_sample(&h, "k", 1, 0, 3, 5000.0);
	char text[4096];
	dash_history_format(&h, 5000.0, 0, text, sizeof text);
	assert_non_null(strstr(text, "\u2588 3\n"));
	dash_history_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_scale_and_expire),
		cmocka_unit_test(test_utf8_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
