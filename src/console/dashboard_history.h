/* The console's history of each key over the last hour (docs/lab-operations.md): pending
 * requests and busy/total boards, sampled on every refresh into 2-minute columns, drawn as
 * sparklines in the 'g' overlay. Pure data, no ncurses and no services: the source feeds it
 * the Queues rows it built (embedded or --attach), so both modes keep history. */
#ifndef TVMRPC_DASHBOARD_HISTORY_H
#define TVMRPC_DASHBOARD_HISTORY_H

#include <stddef.h>

#define DASH_HISTORY_SLOTS 30
#define DASH_HISTORY_SLOT_SECONDS 120.0
#define DASH_HISTORY_MAX_KEYS 64

struct dash_key_history {
	char key[64];
	long stamp[DASH_HISTORY_SLOTS];    /* which 2-minute period the slot holds; 0 = none */
	float pending[DASH_HISTORY_SLOTS]; /* most requests waiting seen in the period */
	float busy[DASH_HISTORY_SLOTS];    /* highest busy/total seen in the period, 0..1 */
};

typedef struct dash_history {
	struct dash_key_history *keys;
	size_t n;
} dash_history_t;

void dash_history_sample(dash_history_t *h, const char *key, int total, int free, int pending,
			 double now);
/* The overlay's text: per key a pending line and a busy line, oldest column left; block
 * characters (UTF-8), or " .:-=+*#" when ascii. */
void dash_history_format(const dash_history_t *h, double now, int ascii, char *buf, size_t size);
void dash_history_free(dash_history_t *h);

#endif
