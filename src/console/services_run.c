/* Starting and stopping the services of one process (services_run.h): the part headless
 * mode and the interactive console share. What each does around them (signals, reload, the
 * dashboard) stays in headless.c and ui.c. */
#include "console/services_run.h"

#include <stdio.h>

#include "runtime/vm.h"
#include "services/net.h"

long services_run_fd_limit(const config_t *cfg, unsigned which, uint64_t *want)
{
	*want = 256;
	if (which & SERVICES_RUN_TRACKER)
		*want += (uint64_t)cfg->tracker.max_connections;
	if (which & SERVICES_RUN_PROXY) /* a paired connection also holds 2 pipe fds (splice) */
		*want += 3 * (uint64_t)cfg->proxy.max_connections;
	return net_raise_fd_limit(*want);
}

int services_run_start(services_run_t *s, uv_loop_t *loop, config_t *cfg, unsigned which,
		       const char **failed)
{
	int err = 0;
	if ((which & SERVICES_RUN_TRACKER) && (err = tracker_start(loop, &cfg->tracker,
								     &s->tracker)) != 0) {
		*failed = "tracker";
		return err;
	}
	if ((which & SERVICES_RUN_PROXY_TO_LOCAL_TRACKER) && s->tracker)
		snprintf(cfg->proxy.tracker, sizeof cfg->proxy.tracker, "127.0.0.1:%d",
			 tracker_port(s->tracker));
	if ((which & SERVICES_RUN_PROXY) &&
	    (err = proxy_start(loop, &cfg->proxy, &s->proxy)) != 0) {
		*failed = "proxy";
		return err;
	}
	if (which & SERVICES_RUN_SERVER)
		vm_storage_limit_set(cfg->vm_storage_limit); /* process-wide: sessions inherit it */
	if ((which & SERVICES_RUN_SERVER) &&
	    (err = server_start(loop, &cfg->server, &s->server)) != 0) {
		*failed = "server";
		return err;
	}
	if (s->tracker && (err = health_start(loop, &cfg->health, s->tracker, &s->health)) != 0) {
		*failed = "health";
		return err;
	}
	if (cfg->metrics.listen[0] && (s->tracker || s->proxy) &&
	    (err = metrics_start(loop, &cfg->metrics, s->tracker, s->proxy, &s->metrics)) != 0) {
		*failed = "metrics";
		return err;
	}
	return 0;
}

static void on_service_closed(void *arg)
{
	(void)arg;
}

void services_run_close(services_run_t *s)
{
	metrics_close(s->metrics); /* reads the tracker and proxy: goes first */
	s->metrics = NULL;
	health_close(s->health);
	s->health = NULL;
	if (s->server)
		server_close(s->server, on_service_closed, NULL);
	if (s->proxy)
		proxy_close(s->proxy, on_service_closed, NULL);
	if (s->tracker)
		tracker_close(s->tracker, on_service_closed, NULL);
	s->server = NULL;
	s->proxy = NULL;
	s->tracker = NULL;
}
