/* Sparkline history per key (dashboard_history.h). A column is one 2-minute period of the
 * last hour; each sample keeps the period's maximum, so a short burst still shows. */
#include "console/dashboard_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static const char *const bars[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
				    "\u2585", "\u2586", "\u2587", "\u2588"};
static const char *const ascii_bars[8] = {"_", ".", ":", "-", "=", "+", "*", "#"};

static struct dash_key_history *key_get(dash_history_t *h, const char *key)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->keys[i].key, key) == 0)
			return &h->keys[i];
	if (h->n == DASH_HISTORY_MAX_KEYS)
		return NULL;
	h->keys = xrealloc(h->keys, (h->n + 1) * sizeof *h->keys);
	struct dash_key_history *k = &h->keys[h->n++];
	memset(k, 0, sizeof *k);
	snprintf(k->key, sizeof k->key, "%s", key);
	return k;
}

void dash_history_sample(dash_history_t *h, const char *key, int total, int free, int pending,
			 double now)
{
	struct dash_key_history *k = key_get(h, key);
	if (!k)
		return;
	long period = (long)(now / DASH_HISTORY_SLOT_SECONDS) + 1;
	size_t slot = (size_t)(period % DASH_HISTORY_SLOTS);
	if (k->stamp[slot] != period) {
		k->stamp[slot] = period;
		k->pending[slot] = 0;
		k->busy[slot] = 0;
	}
	float busy = total > 0 ? (float)(total - free) / (float)total : 0;
	if (busy < 0)
		busy = 0;
	if (pending > k->pending[slot])
		k->pending[slot] = (float)pending;
	if (busy > k->busy[slot])
		k->busy[slot] = busy;
}

/* One sparkline of the last hour into out (3 bytes a column); values scaled to `top`. */
static void sparkline(const struct dash_key_history *k, const float *values, float top,
		      long period, int ascii, char *out, size_t size)
{
	size_t len = 0;
	out[0] = '\0';
	for (long p = period - DASH_HISTORY_SLOTS + 1; p <= period; p++) {
		size_t slot = (size_t)(p % DASH_HISTORY_SLOTS);
		const char *c = " ";
		if (k->stamp[slot] == p) {
			int level = top > 0 ? (int)(values[slot] / top * 7 + 0.5f) : 0;
			c = (ascii ? ascii_bars : bars)[level < 0 ? 0 : level > 7 ? 7 : level];
		}
		len += (size_t)snprintf(out + len, size - len, "%s", c);
		if (len >= size)
			break;
	}
}

void dash_history_format(const dash_history_t *h, double now, int ascii, char *buf, size_t size)
{
	long period = (long)(now / DASH_HISTORY_SLOT_SECONDS) + 1;
	size_t len = (size_t)snprintf(buf, size, "%-14s %-8s %-30s %s\n", "key", "", "-60 min .. now",
				      "max");
	for (size_t i = 0; i < h->n && len < size; i++) {
		const struct dash_key_history *k = &h->keys[i];
		float top = 0;
		for (int s = 0; s < DASH_HISTORY_SLOTS; s++)
			if (k->stamp[s] > period - DASH_HISTORY_SLOTS && k->pending[s] > top)
				top = k->pending[s];
		char line[DASH_HISTORY_SLOTS * 3 + 1];
		sparkline(k, k->pending, top, period, ascii, line, sizeof line);
		len += (size_t)snprintf(buf + len, size - len, "%-14.14s %-8s %s %.0f\n", k->key,
					"pending", line, top);
		if (len >= size)
			break;
		sparkline(k, k->busy, 1, period, ascii, line, sizeof line);
		len += (size_t)snprintf(buf + len, size - len, "%-14s %-8s %s %s\n", "", "busy", line,
					"100%");
	}
	if (h->n == 0 && len < size)
		snprintf(buf + len, size - len, "(no keys yet)\n");
}

void dash_history_free(dash_history_t *h)
{
	free(h->keys);
	h->keys = NULL;
	h->n = 0;
}
