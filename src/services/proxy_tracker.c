/* Tracker mode of the proxy: not available in this increment. */
#include "runtime/log.h"
#include "services/proxy_internal.h"

int proxy_tracker_check(struct proxy *p)
{
	(void)p;
	log_error("proxy: tracker mode is not available yet");
	return -1;
}
void proxy_tracker_start(struct proxy *p) { (void)p; }
void proxy_tracker_stop(struct proxy *p) { (void)p; }
void proxy_tracker_free(struct proxy *p) { (void)p; }
int proxy_tracker_connected(const struct proxy *p) { (void)p; return 0; }
void proxy_tracker_register(struct proxy *p, struct proxy_peer *peer) { (void)p; (void)peer; }
void proxy_tracker_server_left(struct proxy *p, struct proxy_peer *peer) { (void)p; (void)peer; }
