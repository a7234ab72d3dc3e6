/* Probing a board from the console: the tracker hands us a matchkey like any client, the RPC
 * client measures on a worker thread, and the result comes back on the loop. */
#include "console/ui_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "services/rpc_client.h"
#include "services/tracker_view.h"

#define PROBE_ROUNDS 50
#define PROBE_BYTES (16u << 20)

struct ui_probe {
	uv_loop_t *loop;
	uv_work_t work;
	int busy;
	int closed;
	ui_probe_cb cb;
	void *arg;
	char host[256];
	int port;
	char matchkey[256];
	char error[200];
	char result[600];
};

ui_probe_t *ui_probe_new(uv_loop_t *loop)
{
	ui_probe_t *p = xcalloc(1, sizeof *p);
	p->loop = loop;
	return p;
}

const char *ui_probe_error(const ui_probe_t *p)
{
	return p->error;
}

/* Worker thread: blocking client calls are fine here. */
static void probe_work(uv_work_t *w)
{
	ui_probe_t *p = w->data;
	rpc_client_options_t opt;
	rpc_client_options_default(&opt);
	opt.connect_timeout = 5;
	opt.reply_timeout = 30;
	rpc_client_t *c = NULL;
	char err[200] = "";
	int rc = rpc_client_connect(p->host, p->port, p->matchkey, &opt, &c, err, sizeof err);
	if (rc != 0 || !c) {
		snprintf(p->result, sizeof p->result, "probe %.200s:%d failed: %.200s", p->host, p->port, err);
		rpc_client_close(c);
		return;
	}
	rpc_probe_result_t r;
	rc = rpc_client_probe(c, PROBE_ROUNDS, PROBE_BYTES, &r);
	if (rc != 0)
		snprintf(p->result, sizeof p->result, "probe %.200s:%d failed: %.200s", p->host, p->port,
			 rpc_client_error(c));
	else
		snprintf(p->result, sizeof p->result,
			 "probe %.200s:%d: round trip %.0f us (best %.0f), copy up %.0f MiB/s, down %.0f "
			 "MiB/s (%llu MiB)",
			 p->host, p->port, r.rtt_mean_us, r.rtt_min_us, r.upload_mib_s, r.download_mib_s,
			 (unsigned long long)(r.copy_bytes >> 20));
	rpc_client_close(c);
}

static void probe_done(uv_work_t *w, int status)
{
	ui_probe_t *p = w->data;
	p->busy = 0;
	if (p->closed) {
		free(p);
		return;
	}
	if (status == UV_ECANCELED)
		snprintf(p->result, sizeof p->result, "probe cancelled");
	p->cb(p->arg, p->result);
}

int ui_probe_start(ui_probe_t *p, tracker_t *tracker, uint64_t server_id, ui_probe_cb cb,
		   void *arg)
{
	if (p->busy) {
		snprintf(p->error, sizeof p->error, "a probe is already running");
		return -1;
	}
	int rc = tracker_admin_take(tracker, server_id, p->host, sizeof p->host, &p->port,
				    p->matchkey, sizeof p->matchkey);
	if (rc == UV_ENOENT) {
		snprintf(p->error, sizeof p->error, "no such server");
		return -1;
	}
	if (rc != 0) {
		snprintf(p->error, sizeof p->error, "the server is not free (busy or drained)");
		return -1;
	}
	p->cb = cb;
	p->arg = arg;
	p->busy = 1;
	p->work.data = p;
	if (uv_queue_work(p->loop, &p->work, probe_work, probe_done) != 0) {
		p->busy = 0;
		snprintf(p->error, sizeof p->error, "cannot start a worker");
		return -1;
	}
	return 0;
}

void ui_probe_close(ui_probe_t *p)
{
	if (p->busy) {
		p->closed = 1;
		uv_cancel((uv_req_t *)&p->work);
		return;
	}
	free(p);
}
