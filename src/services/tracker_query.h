/* `--query`: a tracker's SUMMARY through the blocking tracker client (tracker_client.h), and
 * its text in TVM's layout. */
#ifndef TVMRPC_TRACKER_QUERY_H
#define TVMRPC_TRACKER_QUERY_H

#include <cJSON.h>
#include <stddef.h>

/* Connect, send SUMMARY, check the reply is [0, {...}] and return that object (caller frees). */
int tracker_query_summary(const char *host, int port, double timeout, cJSON **summary,
			  char *err, size_t err_size);
/* Our tracker's USAGE request ([100], docs/lab-operations.md): the statistics object. TVM's
 * tracker closes the connection instead (an error here). */
int tracker_query_usage(const char *host, int port, double timeout, cJSON **usage, char *err,
			size_t err_size);
/* The text of TVM's TrackerSession.text_summary() for a summary object, byte for byte
 * (docs/control-plane.md §2.8). malloc'd. */
char *tracker_query_format_text(const cJSON *summary);

#endif
