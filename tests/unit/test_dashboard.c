/* Unit tests for the dashboard model: filtering, sorting, selection that follows ids,
 * focus, and the confirm flow of admin actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "console/dashboard.h"
#include "console/dashboard_source.h"
#include "base/xalloc.h"

static void add_server(dashboard_t *d, uint64_t id, const char *addr, const char *key,
		       const char *state, double sessions)
{
	struct dash_row *r = dashboard_add_row(d, DASH_SERVERS);
	r->id = id;
	snprintf(r->cells[0], DASH_CELL, "%s", addr);
	snprintf(r->cells[1], DASH_CELL, "%s", key);
	snprintf(r->cells[2], DASH_CELL, "%s", state);
	snprintf(r->cells[3], DASH_CELL, "%.0f", sessions);
	r->sort_value[3] = sessions;
}

static void fill(dashboard_t *d)
{
	dashboard_clear_rows(d, DASH_SERVERS);
	add_server(d, 11, "10.0.0.2:9090", "server:rasp", "free", 5);
	add_server(d, 12, "10.0.0.3:9090", "server:jetson", "busy", 1);
	add_server(d, 13, "10.0.0.4:9090", "server:rasp", "free", 9);
	dashboard_refresh_view(d);
}

static void test_filter_and_selection(void **state)
{
	(void)state;
	dashboard_t d;
	dashboard_init(&d);
	fill(&d);
	assert_int_equal(d.panes[DASH_SERVERS].nview, 3);
	dashboard_key(&d, DASH_KEY_DOWN, 5);
	assert_int_equal(dashboard_selected(&d)->id, 12);
	/* A refresh with reordered rows keeps the selection on the same id. */
	dashboard_clear_rows(&d, DASH_SERVERS);
	add_server(&d, 13, "10.0.0.4:9090", "server:rasp", "free", 9);
	add_server(&d, 12, "10.0.0.3:9090", "server:jetson", "busy", 1);
	dashboard_refresh_view(&d);
	assert_int_equal(dashboard_selected(&d)->id, 12);
	/* Filter: '/' then text, Enter keeps it. Case-insensitive, any column. */
	fill(&d);
	dashboard_key(&d, '/', 5);
	assert_int_equal(d.mode, DASH_MODE_FILTER);
	dashboard_key(&d, 'R', 5);
	dashboard_key(&d, 'A', 5);
	dashboard_key(&d, '\r', 5);
	assert_int_equal(d.mode, DASH_MODE_NORMAL);
	assert_string_equal(d.panes[DASH_SERVERS].filter, "RA");
	assert_int_equal(d.panes[DASH_SERVERS].nview, 2);
	/* Escape in filter mode clears it. */
	dashboard_key(&d, '/', 5);
	dashboard_key(&d, 27, 5);
	assert_int_equal(d.panes[DASH_SERVERS].nview, 3);
	dashboard_free(&d);
}

static void test_sort_cycle(void **state)
{
	(void)state;
	dashboard_t d;
	dashboard_init(&d);
	fill(&d);
	struct dash_pane_state *p = &d.panes[DASH_SERVERS];
	/* s: address ascending, then descending, then key ascending ... */
	dashboard_key(&d, 's', 5);
	assert_int_equal(p->sort_col, 0);
	assert_string_equal(p->rows[p->view[0]].cells[0], "10.0.0.2:9090");
	dashboard_key(&d, 's', 5);
	assert_string_equal(p->rows[p->view[0]].cells[0], "10.0.0.4:9090");
	for (int i = 0; i < 4; i++)
		dashboard_key(&d, 's', 5); /* key asc, key desc, state asc, state desc */
	dashboard_key(&d, 's', 5);         /* sessions ascending (numeric) */
	assert_int_equal(p->sort_col, 3);
	assert_int_equal(p->rows[p->view[0]].id, 12);
	assert_int_equal(p->rows[p->view[2]].id, 13);
	dashboard_free(&d);
}

static void test_actions_need_confirmation(void **state)
{
	(void)state;
	dashboard_t d;
	dashboard_init(&d);
	fill(&d);
	struct dash_action a = dashboard_key(&d, 'x', 5);
	assert_int_equal(a.kind, DASH_ACTION_REDRAW);
	assert_int_equal(d.mode, DASH_MODE_CONFIRM);
	a = dashboard_key(&d, 'n', 5); /* anything but y cancels */
	assert_int_equal(a.kind, DASH_ACTION_REDRAW);
	dashboard_key(&d, 'x', 5);
	a = dashboard_key(&d, 'y', 5);
	assert_int_equal(a.kind, DASH_ACTION_KICK);
	assert_int_equal(a.id, 11);
	a = dashboard_key(&d, 'd', 5);
	assert_int_equal(a.kind, DASH_ACTION_DRAIN);
	a = dashboard_key(&d, 'p', 5);
	assert_int_equal(a.kind, DASH_ACTION_PROBE);
	/* Cancel acts on the pending pane. */
	struct dash_row *r = dashboard_add_row(&d, DASH_PENDING);
	r->id = 77;
	dashboard_refresh_view(&d);
	d.focus = DASH_PENDING;
	dashboard_key(&d, 'x', 5);
	a = dashboard_key(&d, 'Y', 5);
	assert_int_equal(a.kind, DASH_ACTION_CANCEL);
	assert_int_equal(a.id, 77);
	/* 'd' outside the server pane only explains. */
	a = dashboard_key(&d, 'd', 5);
	assert_int_equal(a.kind, DASH_ACTION_REDRAW);
	assert_non_null(strstr(d.status, "Servers"));
	/* Read-only (attach) refuses admin actions. */
	d.read_only = 1;
	d.focus = DASH_SERVERS;
	a = dashboard_key(&d, 'd', 5);
	assert_int_equal(a.kind, DASH_ACTION_REDRAW);
	assert_non_null(strstr(d.status, "read-only"));
	assert_int_equal(dashboard_key(&d, 'q', 5).kind, DASH_ACTION_QUIT);
	dashboard_free(&d);
}

static void test_focus_and_scroll(void **state)
{
	(void)state;
	dashboard_t d;
	dashboard_init(&d);
	for (int i = 0; i < 50; i++)
		add_server(&d, (uint64_t)i + 1, "h", "k", "free", i);
	dashboard_refresh_view(&d);
	dashboard_key(&d, DASH_KEY_END, 5);
	assert_int_equal(dashboard_selected(&d)->id, 50);
	dashboard_scroll_to_selection(&d, DASH_SERVERS, 10);
	assert_int_equal(d.panes[DASH_SERVERS].scroll, 40);
	dashboard_key(&d, DASH_KEY_PGUP, 5);
	assert_int_equal(dashboard_selected(&d)->id, 45);
	for (int i = 0; i < DASH_PANES; i++)
		dashboard_key(&d, '\t', 5);
	assert_int_equal(d.focus, DASH_SERVERS);
	dashboard_key(&d, DASH_KEY_LEFT, 5);
	assert_int_equal(d.focus, DASH_EVENTS);
	dashboard_free(&d);
}

static void test_formatting(void **state)
{
	(void)state;
	char b[32];
	dash_format_duration(59, b, sizeof b);
	assert_string_equal(b, "59s");
	dash_format_duration(3725, b, sizeof b);
	assert_string_equal(b, "1h02m");
	dash_format_rate(1536 * 1024, b, sizeof b);
	assert_string_equal(b, "1.5M");
	dash_format_rate(12, b, sizeof b);
	assert_string_equal(b, "12B");
}

static void test_summary_source(void **state)
{
	(void)state;
	dashboard_t d;
	dashboard_init(&d);
	dashboard_source_t s;
	dashboard_source_init(&s, NULL, NULL);
	cJSON *sum = cJSON_Parse("{\"queue_info\": {\"rasp\": {\"free\": 1, \"pending\": 2}},"
				 "\"server_info\": [{\"key\": \"server:rasp\", \"addr\": [\"10.0.0.5\", 9090]},"
				 "{\"key\": \"server:proxy[rasp]\", \"addr\": [\"10.0.0.9\", 9090]}]}");
	assert_int_equal(dashboard_source_update_summary(&s, &d, sum, 0), 0);
	assert_int_equal(d.panes[DASH_SERVERS].nrows, 2);
	assert_string_equal(d.panes[DASH_SERVERS].rows[0].cells[0], "10.0.0.5:9090");
	assert_string_equal(d.panes[DASH_SERVERS].rows[1].cells[2], "proxy");
	assert_string_equal(d.panes[DASH_QUEUES].rows[0].cells[1], "1"); /* total */
	assert_string_equal(d.panes[DASH_QUEUES].rows[0].cells[3], "2"); /* pending */
	cJSON_Delete(sum);
	sum = cJSON_Parse("[1, 2]");
	assert_int_equal(dashboard_source_update_summary(&s, &d, sum, 0), -1);
	cJSON_Delete(sum);
	dashboard_source_free(&s);
	dashboard_free(&d);
}

int main(void)
{
	xalloc_cjson_hooks_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_and_selection), cmocka_unit_test(test_sort_cycle),
		cmocka_unit_test(test_actions_need_confirmation), cmocka_unit_test(test_focus_and_scroll),
		cmocka_unit_test(test_formatting), cmocka_unit_test(test_summary_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
