/* The usage overlay ('u') under --attach: our tracker's USAGE request (tracker_query.h) asked
 * on a libuv worker thread, since the remote tracker's statistics are not in SUMMARY. The
 * text comes back on the loop; a TVM tracker has none, and the text says so. */
#ifndef TVMRPC_UI_USAGE_H
#define TVMRPC_UI_USAGE_H

#include <uv.h>

typedef struct ui_usage ui_usage_t;
typedef void (*ui_usage_cb)(void *arg, const char *text);

ui_usage_t *ui_usage_new(uv_loop_t *loop, const char *target);
/* Ask unless a request is under way (then 0 too); cb runs on the loop with the overlay text.
 * Returns 0 or -1 (no worker). */
int ui_usage_fetch(ui_usage_t *u, ui_usage_cb cb, void *arg);
/* Frees now, or when a running request finishes (its callback is then not called). */
void ui_usage_close(ui_usage_t *u);

#endif
