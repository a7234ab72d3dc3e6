/* The services one process runs on its loop (tracker, proxy, device server): started in that
 * order and closed together. headless.c and ui.c both start and stop them through here. */
#ifndef TVMRPC_CONSOLE_SERVICES_RUN_H
#define TVMRPC_CONSOLE_SERVICES_RUN_H

#include <stdint.h>
#include <uv.h>

#include "console/config.h"
#include "services/health.h"
#include "services/metrics.h"
#include "services/proxy.h"
#include "services/server.h"
#include "services/tracker.h"

enum services_run_which {
	SERVICES_RUN_TRACKER = 1,
	SERVICES_RUN_PROXY = 2,
	SERVICES_RUN_SERVER = 4,
	/* the proxy registers with the tracker started here (the console's embedded mode) */
	SERVICES_RUN_PROXY_TO_LOCAL_TRACKER = 8,
};

typedef struct services_run {
	tracker_t *tracker; /* NULL when not running */
	proxy_t *proxy;
	server_t *server;
	metrics_t *metrics; /* [metrics] listen set */
	health_t *health;   /* [health] interval set, with a tracker */
} services_run_t;

/* Raises the descriptor limit for every connection the chosen services may hold (a proxy link
 * adds a pipe per direction) plus a margin. Returns the limit now in force (-1 if unknown);
 * *want is what the services need. */
long services_run_fd_limit(const config_t *cfg, unsigned which, uint64_t *want);

/* Starts the chosen services in order. Returns 0, or the negative uv error of the first that
 * failed with *failed naming it ("tracker", "proxy", "server"); those already started keep
 * running until services_run_close. cfg->proxy.tracker is rewritten with
 * SERVICES_RUN_PROXY_TO_LOCAL_TRACKER. */
int services_run_start(services_run_t *s, uv_loop_t *loop, config_t *cfg, unsigned which,
		       const char **failed);

/* Closes whatever is running (server, proxy, then tracker); the loop finishes the closing. */
void services_run_close(services_run_t *s);

#endif
