/* The console's 'p' key: take one free resource of a server from the embedded tracker (as a
 * client's assignment would), then measure round trips and copy bandwidth with the RPC client
 * on a libuv worker thread, so the loop keeps serving. One probe at a time. */
#ifndef TVMRPC_UI_PROBE_H
#define TVMRPC_UI_PROBE_H

#include <stdint.h>
#include <uv.h>

#include "services/tracker.h"

typedef struct ui_probe ui_probe_t;
typedef void (*ui_probe_cb)(void *arg, const char *message);

ui_probe_t *ui_probe_new(uv_loop_t *loop);
/* Returns 0 (cb runs later with the result) or -1 (see ui_probe_error). */
int ui_probe_start(ui_probe_t *p, tracker_t *tracker, uint64_t server_id, ui_probe_cb cb,
		   void *arg);
const char *ui_probe_error(const ui_probe_t *p);
/* Frees now, or when a running probe finishes (its callback is then not called). */
void ui_probe_close(ui_probe_t *p);

#endif
