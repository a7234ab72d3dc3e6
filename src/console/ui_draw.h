/* ncurses rendering of the dashboard model (see dashboard.h). */
#ifndef TVMRPC_UI_DRAW_H
#define TVMRPC_UI_DRAW_H

#include "console/dashboard.h"

/* Colours when the terminal has them and `enable` (NO_COLOR unset). Call after initscr. */
void ui_draw_init_colors(int enable);
void ui_draw(dashboard_t *d);

#endif
