/* --headless: run the configured services (tracker, proxy, device server) on one libuv loop
 * until SIGINT or SIGTERM, then close them cleanly. SIGHUP re-reads the settings (file and
 * flags), applies what can change while running and names what needs a restart. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "console/cli.h"
#include "console/services_run.h"
#include "base/log.h"
#include "runtime/vm.h"
#include "services/net.h"

struct headless {
	uv_loop_t *loop;
	uv_signal_t sigint, sigterm, sighup;
	const struct cli_args *args;
	config_t running; /* the settings in force */
	services_run_t svc;
	int stopping;
};

static void headless_stop(struct headless *h)
{
	if (h->stopping)
		return;
	h->stopping = 1;
	services_run_close(&h->svc);
	uv_close((uv_handle_t *)&h->sigint, NULL);
	uv_close((uv_handle_t *)&h->sigterm, NULL);
	uv_close((uv_handle_t *)&h->sighup, NULL);
}

struct reload_diff {
	int live[CONFIG_SECTION_COUNT];
	int restart;
};

static void on_changed_key(void *arg, enum config_section section, const char *key, int live)
{
	struct reload_diff *d = arg;
	if (live) {
		d->live[section] = 1;
		log_info("reload: [%s] %s changed", config_section_name(section), key);
	} else {
		d->restart++;
		log_warn("reload: [%s] %s changed, but needs a restart; keeping the running value",
			 config_section_name(section), key);
	}
}

static unsigned headless_which(const config_t *cfg)
{
	return (cfg->has[CONFIG_TRACKER] ? SERVICES_RUN_TRACKER : 0) |
	       (cfg->has[CONFIG_PROXY] ? SERVICES_RUN_PROXY : 0) |
	       (cfg->has[CONFIG_SERVER] ? SERVICES_RUN_SERVER : 0);
}

static void ensure_fd_limit(const config_t *cfg)
{
	uint64_t want;
	long have = services_run_fd_limit(cfg, headless_which(cfg), &want);
	if (have >= 0 && (uint64_t)have < want)
		log_warn("descriptor limit %ld is below the %llu that max_connections needs; "
			 "connections past it are closed unlogged (raise LimitNOFILE or ulimit -Hn)",
			 have, (unsigned long long)want);
}

static void headless_reload(struct headless *h)
{
	struct cli_args *fresh = calloc(1, sizeof *fresh);
	char err[1024];
	if (!fresh)
		return;
	if (cli_parse(h->args->argc, h->args->argv, fresh, err, sizeof err) != 0) {
		log_error("reload failed: %s; keeping the running settings", err);
		free(fresh);
		return;
	}
	struct reload_diff d;
	memset(&d, 0, sizeof d);
	config_diff(&h->running, &fresh->cfg, on_changed_key, &d);
	for (int s = CONFIG_TRACKER; s <= CONFIG_SERVER; s++)
		if (h->running.has[s] != fresh->cfg.has[s]) {
			log_warn("reload: [%s] was %s, which needs a restart",
				 config_section_name((enum config_section)s),
				 fresh->cfg.has[s] ? "added" : "removed");
			d.restart++;
		}
	int failed = 0;
	if (d.live[CONFIG_TRACKER] && h->svc.tracker &&
	    tracker_reconfigure(h->svc.tracker, &fresh->cfg.tracker, err, sizeof err) != 0) {
		log_error("reload: [tracker]: %s", err);
		failed = 1;
	}
	/* The usage log is reopened on every SIGHUP, changed or not: logrotate moved it. */
	if (!d.live[CONFIG_TRACKER] && h->svc.tracker &&
	    tracker_reopen_usage_log(h->svc.tracker, err, sizeof err) != 0) {
		log_error("reload: [tracker]: %s", err);
		failed = 1;
	}
	if (d.live[CONFIG_PROXY] && h->svc.proxy &&
	    proxy_reconfigure(h->svc.proxy, &fresh->cfg.proxy, err, sizeof err) != 0) {
		log_error("reload: [proxy]: %s", err);
		failed = 1;
	}
	if (d.live[CONFIG_SERVER] && h->svc.server &&
	    server_reconfigure(h->svc.server, &fresh->cfg.server, err, sizeof err) != 0) {
		log_error("reload: [server]: %s", err);
		failed = 1;
	}
	/* Only what was applied becomes the running state: settings that need a restart keep
	 * being reported on later reloads. */
	config_t next = fresh->cfg;
	next.tracker = h->running.tracker;
	next.proxy = h->running.proxy;
	next.server = h->running.server;
	next.vm_storage_limit = h->running.vm_storage_limit;
	memcpy(next.has, h->running.has, sizeof next.has);
	if (h->svc.tracker && d.live[CONFIG_TRACKER] && !failed)
		config_copy_live(&next, &fresh->cfg, CONFIG_TRACKER);
	if (h->svc.proxy && d.live[CONFIG_PROXY] && !failed)
		config_copy_live(&next, &fresh->cfg, CONFIG_PROXY);
	if (h->svc.server && d.live[CONFIG_SERVER] && !failed) {
		config_copy_live(&next, &fresh->cfg, CONFIG_SERVER); /* incl. vm_storage_limit */
		vm_storage_limit_set(next.vm_storage_limit); /* sessions forked from now on */
	}
	h->running = next;
	ensure_fd_limit(&h->running); /* a raised max_connections needs the descriptors too */
	log_info("reload done%s", d.restart ? "; some changes need a restart (see above)" : "");
	free(fresh);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct headless *h = handle->data;
	if (signum == SIGHUP) {
		log_info("received SIGHUP, reloading the settings");
		headless_reload(h);
		return;
	}
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
	h.args = args;
	h.running = args->cfg;
	signal(SIGPIPE, SIG_IGN);

	ensure_fd_limit(cfg);

	const char *what = NULL;
	if (cfg->has[CONFIG_TRACKER])
		log_set_tag("tracker");
	/* A start failure is logged by the service itself. */
	int failed = services_run_start(&h.svc, h.loop, &h.running, headless_which(cfg), &what) != 0;
	if (h.svc.tracker)
		tracker_set_stop_callback(h.svc.tracker, on_tracker_stopped, &h);
	uv_signal_init(h.loop, &h.sigint);
	uv_signal_init(h.loop, &h.sigterm);
	uv_signal_init(h.loop, &h.sighup);
	h.sigint.data = h.sigterm.data = h.sighup.data = &h;
	if (failed) {
		headless_stop(&h);
	} else {
		uv_signal_start(&h.sigint, on_signal, SIGINT);
		uv_signal_start(&h.sigterm, on_signal, SIGTERM);
		uv_signal_start(&h.sighup, on_signal, SIGHUP);
	}
	uv_run(h.loop, UV_RUN_DEFAULT);
	uv_loop_close(h.loop);
	return failed ? 1 : 0;
}
