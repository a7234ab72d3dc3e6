/* Drawing the dashboard with ncurses: a title bar, four bands of panes (servers; queues next
 * to pending requests; proxy links; events), a status line, and the help, detail and confirm
 * overlays. Reads the model only; never blocks. */
#include "console/ui_draw.h"

#include <ncurses.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { PAIR_TITLE = 1, PAIR_FOCUS, PAIR_GOOD, PAIR_WARN, PAIR_BAD, PAIR_HEADER };

static int use_color;

void ui_draw_init_colors(int enable)
{
	use_color = enable && has_colors();
	if (!use_color)
		return;
	start_color();
	use_default_colors();
	init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_FOCUS, COLOR_BLACK, COLOR_YELLOW);
	init_pair(PAIR_GOOD, COLOR_GREEN, -1);
	init_pair(PAIR_WARN, COLOR_YELLOW, -1);
	init_pair(PAIR_BAD, COLOR_RED, -1);
	init_pair(PAIR_HEADER, COLOR_CYAN, -1);
}

static attr_t attr_title(int focused)
{
	if (use_color)
		return COLOR_PAIR(focused ? PAIR_FOCUS : PAIR_TITLE) | A_BOLD;
	return focused ? (A_REVERSE | A_BOLD) : A_REVERSE;
}

static attr_t attr_row(const struct dash_row *r)
{
	if (!use_color)
		return (r->flags & (DASH_ROW_WARN | DASH_ROW_BAD)) ? A_BOLD
		       : (r->flags & DASH_ROW_DIM)                ? A_DIM
								  : A_NORMAL;
	if (r->flags & DASH_ROW_BAD)
		return COLOR_PAIR(PAIR_BAD);
	if (r->flags & DASH_ROW_WARN)
		return COLOR_PAIR(PAIR_WARN);
	if (r->flags & DASH_ROW_GOOD)
		return COLOR_PAIR(PAIR_GOOD);
	if (r->flags & DASH_ROW_DIM)
		return A_DIM;
	return A_NORMAL;
}

/* Write at most `width` columns of text at y,x, padding with spaces. */
static void put_field(int y, int x, int width, const char *text, int right)
{
	if (width <= 0)
		return;
	char buf[512];
	int len = (int)strlen(text);
	if (width > (int)sizeof buf - 1)
		width = (int)sizeof buf - 1;
	if (len > width)
		len = width;
	if (right)
		snprintf(buf, sizeof buf, "%*.*s", width, len, text);
	else
		snprintf(buf, sizeof buf, "%-*.*s", width, len, text);
	mvaddnstr(y, x, buf, width);
}

/* Column x positions for a pane of `width` columns; the last column takes the rest. */
static void layout_columns(const struct dash_pane_state *p, int width, int *xs, int *ws)
{
	int x = 1;
	for (int c = 0; c < p->ncols; c++) {
		xs[c] = x;
		int w = p->columns[c].width;
		if ((c == p->ncols - 1 && !p->columns[c].numeric) || x + w + 1 > width)
			w = width - x - 1;
		if (w < 0)
			w = 0;
		ws[c] = w;
		x += w + 1;
	}
}

static void draw_pane(dashboard_t *d, enum dash_pane pane, int top, int left, int height,
		      int width)
{
	struct dash_pane_state *p = &d->panes[pane];
	if (height < 2 || width < 4)
		return;
	int focused = d->focus == pane;
	char title[160];
	if (p->filter[0])
		snprintf(title, sizeof title, " %s (%zu of %zu, filter \"%s\") ", p->title, p->nview,
			 p->nrows, p->filter);
	else
		snprintf(title, sizeof title, " %s (%zu) ", p->title, p->nrows);
	attron(attr_title(focused));
	put_field(top, left, width, title, 0);
	attroff(attr_title(focused));

	int xs[DASH_MAX_COLS], ws[DASH_MAX_COLS];
	layout_columns(p, width, xs, ws);
	attron(use_color ? COLOR_PAIR(PAIR_HEADER) | A_BOLD : A_BOLD);
	move(top + 1, left);
	for (int i = 0; i < width; i++)
		addch(' ');
	for (int c = 0; c < p->ncols; c++) {
		char h[DASH_CELL];
		snprintf(h, sizeof h, "%s%s", p->columns[c].title,
			 p->sort_col == c ? (p->sort_desc ? "v" : "^") : "");
		put_field(top + 1, left + xs[c], ws[c], h, p->columns[c].numeric);
	}
	attroff(use_color ? COLOR_PAIR(PAIR_HEADER) | A_BOLD : A_BOLD);

	size_t rows = (size_t)(height - 2);
	dashboard_scroll_to_selection(d, pane, rows);
	for (size_t i = 0; i < rows; i++) {
		int y = top + 2 + (int)i;
		move(y, left);
		for (int k = 0; k < width; k++)
			addch(' ');
		size_t vi = p->scroll + i;
		if (vi >= p->nview) {
			if (i == 0 && p->nview == 0)
				put_field(y, left + 1, width - 2, p->nrows ? "(no row matches the filter)"
									   : "(none)", 0);
			continue;
		}
		const struct dash_row *r = &p->rows[p->view[vi]];
		attr_t a = attr_row(r);
		if (focused && vi == p->selected)
			a = A_REVERSE;
		attron(a);
		move(y, left);
		for (int k = 0; k < width; k++)
			addch(' ');
		for (int c = 0; c < p->ncols; c++)
			put_field(y, left + xs[c], ws[c], r->cells[c], p->columns[c].numeric);
		attroff(a);
	}
}

/* Like put_field for text that may hold UTF-8: pads and cuts by columns (one per code
 * point), never inside a character. */
static void put_text_columns(int y, int x, int width, const char *text)
{
	char buf[1024];
	size_t b = 0;
	int cols = 0;
	for (const char *p = text; *p && cols < width && b + 5 < sizeof buf; cols++) {
		unsigned char c = (unsigned char)*p;
		size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
		if (strnlen(p, n) < n)
			break;
		memcpy(buf + b, p, n);
		b += n;
		p += n;
	}
	while (cols < width && b + 1 < sizeof buf) {
		buf[b++] = ' ';
		cols++;
	}
	buf[b] = '\0';
	mvaddstr(y, x, buf);
}

static void draw_box(int top, int left, int h, int w, const char *title, const char *body)
{
	attron(A_REVERSE);
	put_field(top, left, w, title, 0);
	attroff(A_REVERSE);
	int y = top + 1;
	const char *line = body;
	while (y < top + h - 1) {
		const char *nl = strchr(line, '\n');
		char buf[512];
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (n >= sizeof buf)
			n = sizeof buf - 1;
		memcpy(buf, line, n);
		buf[n] = '\0';
		move(y, left);
		addch(' ');
		put_text_columns(y, left + 1, w - 2, buf);
		addch(' ');
		y++;
		if (!nl)
			break;
		line = nl + 1;
	}
	for (; y < top + h; y++) {
		move(y, left);
		for (int k = 0; k < w; k++)
			addch(' ');
	}
	attron(A_REVERSE);
	put_field(top + h - 1, left, w, " any key closes ", 0);
	attroff(A_REVERSE);
}

static const char help_text[] =
	"q          quit (services shut down cleanly)\n"
	"?          this help\n"
	"Tab, <- -> move between panes\n"
	"Up/Down    move within a pane (PgUp/PgDn, Home/End)\n"
	"/          filter the rows of the pane (Enter keeps, Esc clears)\n"
	"s          sort: next column / direction / natural order\n"
	"Enter      details of the selected row\n"
	"d          drain / undrain the selected server (no new assignments)\n"
	"x          kick the selected server or cancel the selected request\n"
	"p          probe the selected server: round trip and copy bandwidth\n"
	"u          usage per key and user: sessions, busy, wait (hour/day)\n"
	"g          last hour per key: pending and busy/total sparklines\n"
	"\n"
	"States: free (can be assigned), busy (in a session), drained,\n"
	"proxy (behind the proxy). Queues: total / free / pending per key.";

void ui_draw(dashboard_t *d)
{
	int H = LINES, W = COLS;
	erase();
	if (H < 10 || W < 40) {
		mvaddnstr(0, 0, "terminal too small for the dashboard (need 40x10)", W);
		refresh();
		return;
	}
	/* Title bar with the clock on the right. */
	char clock[16];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(clock, sizeof clock, "%H:%M:%S", &tm);
	attron(attr_title(0));
	put_field(0, 0, W, d->title, 0);
	put_field(0, W - 9, 9, clock, 0);
	attroff(attr_title(0));

	/* Bands: servers; queues | pending; links; events. Each needs 2 lines of chrome. */
	int body = H - 2;
	int extra = body - 8;
	if (extra < 4)
		extra = 4;
	int rs = extra * 4 / 12, rq = extra * 3 / 12, rl = extra * 2 / 12;
	if (rs < 1) rs = 1;
	if (rq < 1) rq = 1;
	if (rl < 1) rl = 1;
	int re = extra - rs - rq - rl;
	if (re < 1)
		re = 1;
	int y = 1;
	draw_pane(d, DASH_SERVERS, y, 0, rs + 2, W);
	y += rs + 2;
	int qw = W * 2 / 5;
	if (qw < 34)
		qw = 34;
	draw_pane(d, DASH_QUEUES, y, 0, rq + 2, qw);
	draw_pane(d, DASH_PENDING, y, qw, rq + 2, W - qw);
	y += rq + 2;
	draw_pane(d, DASH_LINKS, y, 0, rl + 2, W);
	y += rl + 2;
	int events_h = H - 1 - y;
	draw_pane(d, DASH_EVENTS, y, 0, events_h, W);

	/* Status line: prompt, message, or key hints. */
	move(H - 1, 0);
	clrtoeol();
	if (d->mode == DASH_MODE_FILTER) {
		char prompt[160];
		snprintf(prompt, sizeof prompt, "filter %s: %s_", d->panes[d->focus].title, d->input);
		put_field(H - 1, 0, W, prompt, 0);
	} else if (d->mode == DASH_MODE_CONFIRM) {
		attron(A_BOLD);
		put_field(H - 1, 0, W, d->confirm_text, 0);
		attroff(A_BOLD);
	} else if (d->status[0]) {
		put_field(H - 1, 0, W, d->status, 0);
	} else {
		put_field(H - 1, 0, W,
			  "q quit  ? help  Tab pane  / filter  s sort  Enter details  d drain  "
			  "x kick/cancel  p probe",
			  0);
	}

	if (d->mode == DASH_MODE_USAGE || d->mode == DASH_MODE_HISTORY) {
		int bw = W > 76 ? 74 : W - 2, bh = H > 20 ? 18 : H - 2;
		draw_box((H - bh) / 2, (W - bw) / 2, bh, bw,
			 d->mode == DASH_MODE_USAGE ? " usage: last hour / last day "
						    : " last hour: 2 min a column ",
			 d->usage_text);
	}
	if (d->mode == DASH_MODE_HELP || d->mode == DASH_MODE_DETAIL) {
		int bw = W > 76 ? 72 : W - 4, bh = H > 20 ? H - 4 : H - 2;
		const struct dash_row *r = dashboard_selected(d);
		if (d->mode == DASH_MODE_HELP)
			draw_box((H - bh) / 2, (W - bw) / 2, bh, bw, " tvmrpc console: keys ", help_text);
		else
			draw_box((H - bh) / 2, (W - bw) / 2, bh, bw, " details ",
				 r ? r->detail : "(nothing selected)");
	}
	refresh();
}
