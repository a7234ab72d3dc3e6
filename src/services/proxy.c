/* PLACEHOLDER until the proxy lands: defaults only. */
#include <stdio.h>
#include <string.h>
#include "runtime/log.h"
#include "services/proxy.h"
void proxy_options_default(proxy_options_t *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "0.0.0.0");
	o->port = 9090;
	o->port_end = 9199;
	o->timeout_client = 600;
	o->timeout_server = 600;
	o->max_connections = 4096;
	o->handshake_timeout = 10;
}
int proxy_start(uv_loop_t *loop, const proxy_options_t *opt, proxy_t **out)
{
	(void)loop; (void)opt; *out = NULL;
	log_error("proxy: not built yet");
	return UV_ENOSYS;
}
int proxy_port(const proxy_t *p) { (void)p; return -1; }
void proxy_close(proxy_t *p, void (*done)(void *), void *arg) { (void)p; if (done) done(arg); }
