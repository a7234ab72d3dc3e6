/* The dashboard model: five panes of text rows with selection, filtering and sorting, and the
 * key bindings that act on them. Pure data, no ncurses and no services, so it is unit-tested;
 * ui.c fills it (dashboard_source.c) and draws it (ui_draw.c). */
#ifndef TVMRPC_DASHBOARD_H
#define TVMRPC_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

enum dash_pane { DASH_SERVERS, DASH_QUEUES, DASH_PENDING, DASH_LINKS, DASH_EVENTS, DASH_PANES };

#define DASH_MAX_COLS 6
#define DASH_CELL 64

struct dash_row {
	uint64_t id;                      /* server connection id, request id, ... (0: none) */
	int flags;                        /* DASH_ROW_* */
	char cells[DASH_MAX_COLS][DASH_CELL];
	double sort_value[DASH_MAX_COLS]; /* numeric columns sort by this, text ones by cells */
	char detail[1024];                /* shown by Enter */
};

enum { DASH_ROW_DIM = 1, DASH_ROW_WARN = 2, DASH_ROW_GOOD = 4, DASH_ROW_BAD = 8 };

struct dash_column {
	const char *title;
	int width;   /* minimum width; the last column takes the rest */
	int numeric; /* sort by sort_value, right-aligned */
};

struct dash_pane_state {
	const char *title;
	const struct dash_column *columns;
	int ncols;
	struct dash_row *rows; /* all rows, as the source gave them */
	size_t nrows, cap;
	size_t *view;          /* indices of rows that pass the filter, in sorted order */
	size_t nview;
	size_t selected;       /* index into view */
	size_t scroll;         /* first visible index into view */
	int sort_col;          /* -1: source order */
	int sort_desc;
	char filter[64];
};

enum dash_mode { DASH_MODE_NORMAL, DASH_MODE_FILTER, DASH_MODE_CONFIRM, DASH_MODE_HELP,
		 DASH_MODE_DETAIL, DASH_MODE_USAGE, DASH_MODE_HISTORY };

enum dash_action_kind {
	DASH_ACTION_NONE,
	DASH_ACTION_REDRAW,
	DASH_ACTION_QUIT,
	DASH_ACTION_DRAIN,   /* toggle drain of server `id` */
	DASH_ACTION_KICK,    /* confirmed: close server connection `id` */
	DASH_ACTION_CANCEL,  /* confirmed: cancel pending request `id` */
	DASH_ACTION_PROBE,   /* probe server `id` */
};

struct dash_action {
	enum dash_action_kind kind;
	uint64_t id;
};

typedef struct dashboard {
	struct dash_pane_state panes[DASH_PANES];
	enum dash_pane focus;
	enum dash_mode mode;
	char input[64];           /* filter being typed */
	struct dash_action pending_confirm;
	char confirm_text[160];
	char status[200];         /* one-line message (probe results, errors) */
	char title[200];          /* header line */
	char usage_text[4096];    /* the usage ('u') or history ('g') overlay's text; the source
				   * fills it while the overlay is shown */
	int read_only;            /* attach mode: no admin actions */
	int ascii_only;           /* the terminal's codeset is not UTF-8: ASCII sparklines */
} dashboard_t;

void dashboard_init(dashboard_t *d);
void dashboard_free(dashboard_t *d);

/* Append one row (the source's incremental path). Call dashboard_refresh_view after. */
struct dash_row *dashboard_add_row(dashboard_t *d, enum dash_pane pane);
void dashboard_clear_rows(dashboard_t *d, enum dash_pane pane);
/* Recompute filter/sort views, keeping the selected id. */
void dashboard_refresh_view(dashboard_t *d);

/* The selected row of the focused pane, or NULL. */
const struct dash_row *dashboard_selected(const dashboard_t *d);

/* Keys (ncurses codes; plain chars for letters). Returns what the caller must do. */
#define DASH_KEY_UP 0x103
#define DASH_KEY_DOWN 0x102
#define DASH_KEY_LEFT 0x104
#define DASH_KEY_RIGHT 0x105
#define DASH_KEY_PGUP 0x153
#define DASH_KEY_PGDN 0x152
#define DASH_KEY_HOME 0x106
#define DASH_KEY_END 0x168
#define DASH_KEY_BACKSPACE 0x107
#define DASH_KEY_ENTER 0x157
struct dash_action dashboard_key(dashboard_t *d, int key, int page_rows);

/* Keep the selection visible in a pane showing `rows` rows. */
void dashboard_scroll_to_selection(dashboard_t *d, enum dash_pane pane, size_t rows);

#endif
