/* PLACEHOLDER until the device server lands: defaults only. */
#include <stdio.h>
#include <string.h>
#include "runtime/log.h"
#include "services/server.h"
void server_options_default(server_options_t *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "0.0.0.0");
	o->port = 9090;
	o->port_end = 9199;
	o->max_packet = 4ull << 30;
	o->handshake_timeout = 10;
}
int server_start(uv_loop_t *loop, const server_options_t *opt, server_t **out)
{
	(void)loop; (void)opt; *out = NULL;
	log_error("server: not built yet");
	return UV_ENOSYS;
}
int server_port(const server_t *s) { (void)s; return -1; }
void server_close(server_t *s, void (*done)(void *), void *arg) { (void)s; if (done) done(arg); }
