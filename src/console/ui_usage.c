/* Fetching the usage statistics of an attached tracker (ui_usage.h): the blocking USAGE call
 * on a worker thread, formatted there with the embedded view's formatter. */
#include "console/ui_usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "console/dashboard_source.h"
#include "services/net.h"
#include "services/tracker_query.h"

#define UI_USAGE_TIMEOUT 3.0

struct ui_usage {
	uv_loop_t *loop;
	uv_work_t work;
	int busy, closed;
	char target[300];
	ui_usage_cb cb;
	void *arg;
	char text[4096];
};

ui_usage_t *ui_usage_new(uv_loop_t *loop, const char *target)
{
	ui_usage_t *u = xcalloc(1, sizeof *u);
	u->loop = loop;
	snprintf(u->target, sizeof u->target, "%s", target);
	return u;
}

static void usage_work(uv_work_t *w)
{
	ui_usage_t *u = w->data;
	char host[256], err[300];
	int port;
	cJSON *usage = NULL;
	if (net_split_host_port(u->target, host, sizeof host, &port) != 0) {
		snprintf(u->text, sizeof u->text, "'%s' is not HOST:PORT", u->target);
	} else if (tracker_query_usage(host, port, UI_USAGE_TIMEOUT, &usage, err, sizeof err) != 0) {
		snprintf(u->text, sizeof u->text,
			 "No usage statistics from %s:\n%s\n(TVM's tracker keeps none.)", u->target,
			 err);
	} else {
		dash_format_usage(usage, u->text, sizeof u->text);
	}
	cJSON_Delete(usage);
}

static void usage_done(uv_work_t *w, int status)
{
	ui_usage_t *u = w->data;
	u->busy = 0;
	if (u->closed) {
		free(u);
		return;
	}
	if (status == 0)
		u->cb(u->arg, u->text);
}

int ui_usage_fetch(ui_usage_t *u, ui_usage_cb cb, void *arg)
{
	if (u->busy)
		return 0;
	u->cb = cb;
	u->arg = arg;
	u->busy = 1;
	u->work.data = u;
	if (uv_queue_work(u->loop, &u->work, usage_work, usage_done) != 0) {
		u->busy = 0;
		return -1;
	}
	return 0;
}

void ui_usage_close(ui_usage_t *u)
{
	if (!u)
		return;
	if (u->busy) {
		u->closed = 1;
		uv_cancel((uv_req_t *)&u->work);
		return;
	}
	free(u);
}
