/* Dashboard model: rows per pane, filter and sort views, selection that follows ids across
 * refreshes, and the key bindings (including the confirm, filter, help and detail modes). */
#include "console/dashboard.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static const struct dash_column server_cols[] = {
	{"address", 21, 0}, {"key", 22, 0}, {"state", 8, 0},
	{"sessions", 8, 1}, {"up", 9, 1},
};
static const struct dash_column queue_cols[] = {
	{"key", 12, 0}, {"total", 5, 1}, {"free", 4, 1}, {"pending", 7, 1},
};
static const struct dash_column pending_cols[] = {
	{"key", 12, 0}, {"user", 10, 0}, {"prio", 5, 1}, {"waited", 7, 1}, {"from", 15, 0},
};
static const struct dash_column link_cols[] = {
	{"key", 14, 0}, {"client", 21, 0}, {"server", 21, 0}, {"c->s/s", 9, 1}, {"s->c/s", 9, 1},
};
static const struct dash_column event_cols[] = {
	{"time", 8, 0}, {"event", 8, 0}, {"what", 20, 0},
};

void dashboard_init(dashboard_t *d)
{
	memset(d, 0, sizeof *d);
	static const struct {
		const char *title;
		const struct dash_column *cols;
		int n;
	} def[DASH_PANES] = {
		{"Servers", server_cols, 5}, {"Queues", queue_cols, 4},
		{"Pending requests", pending_cols, 5}, {"Proxy links", link_cols, 5},
		{"Events", event_cols, 3},
	};
	for (int i = 0; i < DASH_PANES; i++) {
		d->panes[i].title = def[i].title;
		d->panes[i].columns = def[i].cols;
		d->panes[i].ncols = def[i].n;
		d->panes[i].sort_col = -1;
	}
}

void dashboard_free(dashboard_t *d)
{
	for (int i = 0; i < DASH_PANES; i++) {
		free(d->panes[i].rows);
		free(d->panes[i].view);
		d->panes[i].rows = NULL;
		d->panes[i].view = NULL;
	}
}

void dashboard_clear_rows(dashboard_t *d, enum dash_pane pane)
{
	d->panes[pane].nrows = 0;
}

struct dash_row *dashboard_add_row(dashboard_t *d, enum dash_pane pane)
{
	struct dash_pane_state *p = &d->panes[pane];
	if (p->nrows == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->rows = xrealloc(p->rows, p->cap * sizeof *p->rows);
	}
	struct dash_row *r = &p->rows[p->nrows++];
	memset(r, 0, sizeof *r);
	return r;
}

static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0)
		return 1;
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (i == n)
			return 1;
	}
	return 0;
}

static int row_matches(const struct dash_pane_state *p, const struct dash_row *r)
{
	if (!p->filter[0])
		return 1;
	for (int c = 0; c < p->ncols; c++)
		if (contains_ci(r->cells[c], p->filter))
			return 1;
	return 0;
}

/* qsort_r's comparator: view entries (row indexes) of the pane `arg`. */
static int compare_rows(const void *a, const void *b, void *arg)
{
	const struct dash_pane_state *p = arg;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	const struct dash_row *ra = &p->rows[ia], *rb = &p->rows[ib];
	int c = p->sort_col, cmp;
	if (p->columns[c].numeric)
		cmp = ra->sort_value[c] < rb->sort_value[c] ? -1 : ra->sort_value[c] > rb->sort_value[c];
	else
		cmp = strcmp(ra->cells[c], rb->cells[c]);
	if (p->sort_desc)
		cmp = -cmp;
	if (cmp == 0) /* stable: fall back to source order */
		cmp = ia < ib ? -1 : ia > ib;
	return cmp;
}

static void pane_refresh(struct dash_pane_state *p)
{
	uint64_t keep_id = 0;
	int had = p->nview > 0 && p->selected < p->nview;
	if (had)
		keep_id = p->rows[p->view[p->selected]].id;
	size_t old_selected = p->selected;
	p->view = xrealloc(p->view, (p->nrows ? p->nrows : 1) * sizeof *p->view);
	p->nview = 0;
	for (size_t i = 0; i < p->nrows; i++)
		if (row_matches(p, &p->rows[i]))
			p->view[p->nview++] = i;
	if (p->sort_col >= 0 && p->sort_col < p->ncols && p->nview > 1) {
		qsort_r(p->view, p->nview, sizeof *p->view, compare_rows, p);
	}
	p->selected = old_selected;
	if (had && keep_id) {
		for (size_t i = 0; i < p->nview; i++) {
			if (p->rows[p->view[i]].id == keep_id) {
				p->selected = i;
				break;
			}
		}
	}
	if (p->nview == 0)
		p->selected = 0;
	else if (p->selected >= p->nview)
		p->selected = p->nview - 1;
}

void dashboard_refresh_view(dashboard_t *d)
{
	for (int i = 0; i < DASH_PANES; i++)
		pane_refresh(&d->panes[i]);
}

const struct dash_row *dashboard_selected(const dashboard_t *d)
{
	const struct dash_pane_state *p = &d->panes[d->focus];
	if (p->nview == 0 || p->selected >= p->nview)
		return NULL;
	return &p->rows[p->view[p->selected]];
}

void dashboard_scroll_to_selection(dashboard_t *d, enum dash_pane pane, size_t rows)
{
	struct dash_pane_state *p = &d->panes[pane];
	if (rows == 0)
		return;
	if (p->selected < p->scroll)
		p->scroll = p->selected;
	else if (p->selected >= p->scroll + rows)
		p->scroll = p->selected - rows + 1;
	if (p->nview <= rows)
		p->scroll = 0;
	else if (p->scroll > p->nview - rows)
		p->scroll = p->nview - rows;
}

static void move_selection(struct dash_pane_state *p, long delta)
{
	if (p->nview == 0)
		return;
	long s = (long)p->selected + delta;
	if (s < 0)
		s = 0;
	if (s >= (long)p->nview)
		s = (long)p->nview - 1;
	p->selected = (size_t)s;
}

static struct dash_action act(enum dash_action_kind kind, uint64_t id)
{
	struct dash_action a = {kind, id};
	return a;
}

static struct dash_action key_confirm(dashboard_t *d, int key)
{
	d->mode = DASH_MODE_NORMAL;
	if (key == 'y' || key == 'Y') {
		d->status[0] = '\0';
		return d->pending_confirm;
	}
	snprintf(d->status, sizeof d->status, "cancelled");
	return act(DASH_ACTION_REDRAW, 0);
}

static struct dash_action key_filter(dashboard_t *d, int key)
{
	struct dash_pane_state *p = &d->panes[d->focus];
	size_t n = strlen(d->input);
	if (key == '\n' || key == '\r' || key == DASH_KEY_ENTER) {
		d->mode = DASH_MODE_NORMAL;
	} else if (key == 27) { /* Escape: drop the filter */
		d->input[0] = '\0';
		d->mode = DASH_MODE_NORMAL;
	} else if (key == DASH_KEY_BACKSPACE || key == 127 || key == 8) {
		if (n > 0)
			d->input[n - 1] = '\0';
	} else if (key >= 32 && key < 127 && n + 1 < sizeof d->input) {
		d->input[n] = (char)key;
		d->input[n + 1] = '\0';
	}
	snprintf(p->filter, sizeof p->filter, "%s", d->input);
	pane_refresh(p);
	return act(DASH_ACTION_REDRAW, 0);
}

struct dash_action dashboard_key(dashboard_t *d, int key, int page_rows)
{
	struct dash_pane_state *p = &d->panes[d->focus];
	switch (d->mode) {
	case DASH_MODE_CONFIRM:
		return key_confirm(d, key);
	case DASH_MODE_FILTER:
		return key_filter(d, key);
	case DASH_MODE_HELP:
	case DASH_MODE_DETAIL:
	case DASH_MODE_USAGE:
	case DASH_MODE_HISTORY:
		d->mode = DASH_MODE_NORMAL;
		return act(DASH_ACTION_REDRAW, 0); /* any key, 'q' included, closes the overlay */
	case DASH_MODE_NORMAL:
		break;
	}
	const struct dash_row *sel = dashboard_selected(d);
	switch (key) {
	case 'q':
	case 'Q':
		return act(DASH_ACTION_QUIT, 0);
	case '?':
	case 'h':
		d->mode = DASH_MODE_HELP;
		return act(DASH_ACTION_REDRAW, 0);
	case 'u':
		d->mode = DASH_MODE_USAGE;
		return act(DASH_ACTION_REDRAW, 0);
	case 'g':
		d->mode = DASH_MODE_HISTORY;
		return act(DASH_ACTION_REDRAW, 0);
	case '\t':
		d->focus = (enum dash_pane)((d->focus + 1) % DASH_PANES);
		return act(DASH_ACTION_REDRAW, 0);
	case 0x161: /* KEY_BTAB */
		d->focus = (enum dash_pane)((d->focus + DASH_PANES - 1) % DASH_PANES);
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_UP:
	case 'k':
		move_selection(p, -1);
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_DOWN:
	case 'j':
		move_selection(p, 1);
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_PGUP:
		move_selection(p, -(long)(page_rows > 1 ? page_rows : 1));
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_PGDN:
		move_selection(p, page_rows > 1 ? page_rows : 1);
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_HOME:
		p->selected = 0;
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_END:
		if (p->nview)
			p->selected = p->nview - 1;
		return act(DASH_ACTION_REDRAW, 0);
	case DASH_KEY_LEFT:
	case DASH_KEY_RIGHT:
		d->focus = (enum dash_pane)((d->focus + (key == DASH_KEY_RIGHT ? 1 : DASH_PANES - 1)) %
					    DASH_PANES);
		return act(DASH_ACTION_REDRAW, 0);
	case '/':
		d->mode = DASH_MODE_FILTER;
		snprintf(d->input, sizeof d->input, "%s", p->filter);
		return act(DASH_ACTION_REDRAW, 0);
	case 's':
		/* Cycle: each column ascending, then descending, then source order. */
		if (p->sort_col < 0) {
			p->sort_col = 0;
			p->sort_desc = 0;
		} else if (!p->sort_desc) {
			p->sort_desc = 1;
		} else if (p->sort_col + 1 < p->ncols) {
			p->sort_col++;
			p->sort_desc = 0;
		} else {
			p->sort_col = -1;
		}
		pane_refresh(p);
		if (p->sort_col < 0)
			snprintf(d->status, sizeof d->status, "%s: natural order", p->title);
		else
			snprintf(d->status, sizeof d->status, "%s: sorted by %s %s", p->title,
				 p->columns[p->sort_col].title, p->sort_desc ? "(descending)" : "");
		return act(DASH_ACTION_REDRAW, 0);
	case '\n':
	case '\r':
	case DASH_KEY_ENTER:
		if (sel) {
			d->mode = DASH_MODE_DETAIL;
			return act(DASH_ACTION_REDRAW, 0);
		}
		return act(DASH_ACTION_NONE, 0);
	case 'd':
	case 'x':
	case 'p':
		break;
	default:
		return act(DASH_ACTION_NONE, 0);
	}
	/* Admin actions: they need a selected row in the right pane and a live tracker. */
	if (d->read_only) {
		snprintf(d->status, sizeof d->status,
			 "attached to a remote tracker: read-only (no drain, kick, cancel or probe)");
		return act(DASH_ACTION_REDRAW, 0);
	}
	if (!sel || !sel->id) {
		snprintf(d->status, sizeof d->status, "select a row first");
		return act(DASH_ACTION_REDRAW, 0);
	}
	if (key == 'd' || key == 'p') {
		if (d->focus != DASH_SERVERS) {
			snprintf(d->status, sizeof d->status, "'%c' acts on a server: Tab to Servers",
				 key);
			return act(DASH_ACTION_REDRAW, 0);
		}
		return act(key == 'd' ? DASH_ACTION_DRAIN : DASH_ACTION_PROBE, sel->id);
	}
	/* x: kick a server or cancel a request, after a confirmation. */
	if (d->focus == DASH_SERVERS) {
		d->pending_confirm = act(DASH_ACTION_KICK, sel->id);
		snprintf(d->confirm_text, sizeof d->confirm_text, "Kick server %.40s (%.40s)? [y/N]",
			 sel->cells[0], sel->cells[1]);
	} else if (d->focus == DASH_PENDING) {
		d->pending_confirm = act(DASH_ACTION_CANCEL, sel->id);
		snprintf(d->confirm_text, sizeof d->confirm_text,
			 "Cancel the pending request for %.40s from %.40s? [y/N]", sel->cells[0],
			 sel->cells[4]);
	} else {
		snprintf(d->status, sizeof d->status,
			 "'x' kicks a server or cancels a pending request");
		return act(DASH_ACTION_REDRAW, 0);
	}
	d->mode = DASH_MODE_CONFIRM;
	return act(DASH_ACTION_REDRAW, 0);
}
