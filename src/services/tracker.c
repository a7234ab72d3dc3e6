/* PLACEHOLDER until the tracker lands: defaults only. */
#include <stdio.h>
#include <string.h>
#include "runtime/log.h"
#include "services/tracker.h"
void tracker_options_default(tracker_options_t *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "0.0.0.0");
	o->port = 9190;
	o->port_end = 9199;
	o->max_message = 1 << 20;
	o->max_connections = 4096;
	o->handshake_timeout = 10;
}
int tracker_start(uv_loop_t *loop, const tracker_options_t *opt, tracker_t **out)
{
	(void)loop; (void)opt; *out = NULL;
	log_error("tracker: not built yet");
	return UV_ENOSYS;
}
int tracker_port(const tracker_t *t) { (void)t; return -1; }
void tracker_close(tracker_t *t, void (*done)(void *), void *arg) { (void)t; if (done) done(arg); }
