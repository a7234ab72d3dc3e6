/* --attach: poll a remote tracker's SUMMARY on the console's loop (ours or TVM's tracker),
 * reconnecting when it goes away. */
#ifndef TVMRPC_UI_ATTACH_H
#define TVMRPC_UI_ATTACH_H

#include <cJSON.h>
#include <uv.h>

typedef struct ui_attach ui_attach_t;

/* summary is the {queue_info, server_info} object (valid during the call) or NULL with an
 * error text when the tracker cannot be reached or answers badly. */
typedef void (*ui_attach_cb)(void *arg, const cJSON *summary, const char *error);

/* NULL if target is not HOST:PORT. */
ui_attach_t *ui_attach_start(uv_loop_t *loop, const char *target, double interval, ui_attach_cb cb,
			     void *arg);
void ui_attach_close(ui_attach_t *a);

#endif
