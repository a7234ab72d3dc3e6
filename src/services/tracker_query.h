/* Blocking tracker client: connect and every read/write bounded by a timeout, magic exchange,
 * one JSON request and its reply. Used by `--query` (SUMMARY, TVM's text layout) and by tools
 * that ask a tracker for a device (REQUEST). Works with our tracker and with TVM's. */
#ifndef TVMRPC_TRACKER_QUERY_H
#define TVMRPC_TRACKER_QUERY_H

#include <cJSON.h>
#include <stddef.h>

typedef struct tracker_client {
	int fd;
	double timeout; /* seconds for connect and for each call; <= 0 waits for ever */
} tracker_client_t;

/* Connect to host:port (name, IPv4 or IPv6) and exchange the tracker magic. Returns 0, or -1
 * with a message in err ("connection refused", "no answer within 3 s", "not a tracker"...). */
int tracker_client_connect(tracker_client_t *c, const char *host, int port, double timeout,
			   char *err, size_t err_size);
/* Send one request and wait for its reply (REQUEST may wait long: set c->timeout first).
 * Returns 0 with *reply set (caller frees), or -1 with err. The connection is unusable after
 * an error. */
int tracker_client_call(tracker_client_t *c, const cJSON *request, cJSON **reply, char *err,
			size_t err_size);
void tracker_client_close(tracker_client_t *c);

/* Connect, send SUMMARY, check the reply is [0, {...}] and return that object (caller frees). */
int tracker_query_summary(const char *host, int port, double timeout, cJSON **summary,
			  char *err, size_t err_size);
/* The text of TVM's TrackerSession.text_summary() for a summary object, byte for byte
 * (docs/control-plane.md §2.8). malloc'd. */
char *tracker_query_format_text(const cJSON *summary);

#endif
