/* --headless: run the configured services (tracker, proxy, device server) on one libuv loop
 * until SIGINT or SIGTERM, then close them cleanly. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "console/cli.h"
#include "runtime/log.h"

struct headless {
	uv_loop_t *loop;
	uv_signal_t sigint, sigterm;
	tracker_t *tracker;
	proxy_t *proxy;
	server_t *server;
	int stopping;
};

static void on_service_closed(void *arg)
{
	(void)arg;
}

static void headless_stop(struct headless *h)
{
	if (h->stopping)
		return;
	h->stopping = 1;
	if (h->server)
		server_close(h->server, on_service_closed, h);
	if (h->proxy)
		proxy_close(h->proxy, on_service_closed, h);
	if (h->tracker)
		tracker_close(h->tracker, on_service_closed, h);
	h->server = NULL;
	h->proxy = NULL;
	h->tracker = NULL;
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct headless *h = handle->data;
	log_info("received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
	headless_stop(h);
}

/* A valid STOP request ends the process, as it ends TVM's tracker. */
static void on_tracker_stopped(void *arg)
{
	log_info("tracker stopped by a STOP request; shutting down");
	headless_stop(arg);
}

int cli_headless(const struct cli_args *args)
{
	const config_t *cfg = &args->cfg;
	struct headless h;
	memset(&h, 0, sizeof h);
	h.loop = uv_default_loop();
	signal(SIGPIPE, SIG_IGN);

	int failed = 0;
	if (cfg->has[CONFIG_TRACKER]) {
		log_set_tag("tracker");
		if (tracker_start(h.loop, &cfg->tracker, &h.tracker) != 0)
			failed = 1;
		else
			tracker_set_stop_callback(h.tracker, on_tracker_stopped, &h);
	}
	if (!failed && cfg->has[CONFIG_PROXY]) {
		if (proxy_start(h.loop, &cfg->proxy, &h.proxy) != 0)
			failed = 1;
	}
	if (!failed && cfg->has[CONFIG_SERVER]) {
		if (server_start(h.loop, &cfg->server, &h.server) != 0)
			failed = 1;
	}
	uv_signal_init(h.loop, &h.sigint);
	uv_signal_init(h.loop, &h.sigterm);
	h.sigint.data = h.sigterm.data = &h;
	if (failed) {
		headless_stop(&h);
	} else {
		uv_signal_start(&h.sigint, on_signal, SIGINT);
		uv_signal_start(&h.sigterm, on_signal, SIGTERM);
	}
	uv_run(h.loop, UV_RUN_DEFAULT);
	uv_loop_close(h.loop);
	return failed ? 1 : 0;
}
