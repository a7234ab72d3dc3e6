/* The interactive console: runs the tracker and proxy on one libuv loop (or watches a remote
 * tracker), starts the local CPU device server as a child process, and draws the dashboard.
 * Input, redraws and services share the loop; nothing here blocks it. */
#include <errno.h>
#include <limits.h>
#include <langinfo.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "console/cli.h"
#include "console/dashboard.h"
#include "console/dashboard_source.h"
#include "console/services_run.h"
#include "services/tracker_watch.h"
#include "console/ui_draw.h"
#include "console/ui_probe.h"
#include "console/ui_usage.h"
#include "base/log.h"
#include "services/net.h"
#include "services/proxy_view.h"
#include "services/tracker_view.h"

_Static_assert(DASH_KEY_UP == KEY_UP && DASH_KEY_DOWN == KEY_DOWN && DASH_KEY_LEFT == KEY_LEFT &&
		       DASH_KEY_RIGHT == KEY_RIGHT && DASH_KEY_PGUP == KEY_PPAGE &&
		       DASH_KEY_PGDN == KEY_NPAGE && DASH_KEY_HOME == KEY_HOME &&
		       DASH_KEY_END == KEY_END && DASH_KEY_BACKSPACE == KEY_BACKSPACE &&
		       DASH_KEY_ENTER == KEY_ENTER && KEY_BTAB == 0x161,
	       "dashboard key codes must match ncurses");

struct child_server {
	uv_process_t proc;
	uv_pipe_t err_pipe;
	uv_timer_t restart;
	char line[512];
	size_t line_len;
	int running;
	int pipe_open;
	int restarts;
	char *argv[24];
	char argbuf[24][320];
	int argc;
};

struct console {
	uv_loop_t *loop;
	config_t cfg;
	services_run_t svc; /* tracker and proxy; the device server runs as a child */
	dashboard_t dash;
	dashboard_source_t src;
	uv_timer_t tick;
	uv_poll_t input;
	uv_signal_t sigterm, sigint, sighup;
	struct child_server child;
	int has_child;
	tracker_watch_t *attach;
	ui_usage_t *attach_usage;  /* the 'u' overlay's statistics under --attach */
	double usage_asked;        /* when they were last asked for */
	ui_probe_t *probe;
	int dirty;
	int quitting;
	int curses_on;
	double last_draw;
	char self_path[PATH_MAX];
};

static double now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- log lines into the event log (the console owns the terminal) ---- */

static void log_to_events(void *arg, enum log_level level, const char *line)
{
	struct console *c = arg;
	if (level > LOG_LEVEL_WARN)
		return; /* info from services arrives as tracker events; keep the log readable */
	dashboard_source_event(&c->src, level == LOG_LEVEL_ERROR ? "error" : "warn", "%s", line);
	c->dirty = 1;
}

/* ---- the local device server child ---- */

static void child_start(struct console *c);

static void child_on_restart(uv_timer_t *t)
{
	struct console *c = t->data;
	if (!c->quitting)
		child_start(c);
}

static void child_pipe_closed(uv_handle_t *h)
{
	struct console *c = h->data;
	c->child.pipe_open = 0;
}

static void handle_close_noop(uv_handle_t *h)
{
	(void)h;
}

static void child_on_exit(uv_process_t *p, int64_t status, int signal)
{
	struct console *c = p->data;
	c->child.running = 0;
	uv_close((uv_handle_t *)p, NULL);
	if (c->quitting) {
		uv_timer_stop(&c->child.restart);
		uv_close((uv_handle_t *)&c->child.restart, handle_close_noop);
		return;
	}
	dashboard_source_event(&c->src, "error", "local server exited (status %lld, signal %d); "
			       "restarting in 2 s", (long long)status, signal);
	c->dirty = 1;
	uv_timer_start(&c->child.restart, child_on_restart, 2000, 0);
}

static void child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	static char chunk[4096];
	(void)h;
	*buf = uv_buf_init(chunk, sizeof chunk);
}

/* The child's log lines become events (its timestamps and tags stripped to the message). */
static void child_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct console *c = s->data;
	if (n < 0) {
		uv_close((uv_handle_t *)s, child_pipe_closed);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];
		if (ch != '\n' && c->child.line_len + 1 < sizeof c->child.line) {
			c->child.line[c->child.line_len++] = ch;
			continue;
		}
		c->child.line[c->child.line_len] = '\0';
		const char *msg = c->child.line;
		const char *colon = strstr(msg, ": ");
		if (strlen(msg) > 24 && colon)
			msg = colon + 2;
		if (*msg)
			dashboard_source_event(&c->src, "server", "%s", msg);
		c->child.line_len = 0;
		c->dirty = 1;
	}
}

static void child_add_arg(struct child_server *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void child_add_arg(struct child_server *ch, const char *fmt, ...)
{
	if (ch->argc + 1 >= (int)(sizeof ch->argv / sizeof ch->argv[0]))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ch->argbuf[ch->argc], sizeof ch->argbuf[0], fmt, ap);
	va_end(ap);
	ch->argv[ch->argc] = ch->argbuf[ch->argc];
	ch->argc++;
	ch->argv[ch->argc] = NULL;
}

static void child_build_args(struct console *c)
{
	struct child_server *ch = &c->child;
	ch->argc = 0;
	child_add_arg(ch, "%s", c->self_path);
	child_add_arg(ch, "--headless");
	if (c->cfg.path[0] && c->cfg.has[CONFIG_SERVER]) {
		/* A [server] section in the lab file: run exactly that. */
		child_add_arg(ch, "--config");
		child_add_arg(ch, "%s", c->cfg.path);
		child_add_arg(ch, "server");
		return;
	}
	/* The embedded local CPU server, registered with our own tracker. */
	child_add_arg(ch, "server");
	child_add_arg(ch, "--host");
	child_add_arg(ch, "127.0.0.1");
	int base = c->svc.proxy ? proxy_port(c->svc.proxy) + 1 : 9091;
	child_add_arg(ch, "--port");
	child_add_arg(ch, "%d", base);
	child_add_arg(ch, "--port-end");
	child_add_arg(ch, "%d", base + 100 > 65535 ? 65535 : base + 100);
	child_add_arg(ch, "--key");
	child_add_arg(ch, "%s", c->cfg.console.local_key);
	if (c->svc.tracker) {
		child_add_arg(ch, "--tracker");
		child_add_arg(ch, "127.0.0.1:%d", tracker_port(c->svc.tracker));
	}
}

static void child_start(struct console *c)
{
	struct child_server *ch = &c->child;
	child_build_args(c);
	uv_pipe_init(c->loop, &ch->err_pipe, 0);
	ch->err_pipe.data = c;
	ch->pipe_open = 1;
	uv_stdio_container_t stdio[3];
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&ch->err_pipe;
	uv_process_options_t opt;
	memset(&opt, 0, sizeof opt);
	opt.file = c->self_path;
	opt.args = ch->argv;
	opt.exit_cb = child_on_exit;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	ch->proc.data = c;
	int err = uv_spawn(c->loop, &ch->proc, &opt);
	if (err) {
		dashboard_source_event(&c->src, "error", "cannot start the local server: %s",
				       uv_strerror(err));
		uv_close((uv_handle_t *)&ch->err_pipe, child_pipe_closed);
		uv_close((uv_handle_t *)&ch->proc, NULL);
		return;
	}
	ch->running = 1;
	uv_read_start((uv_stream_t *)&ch->err_pipe, child_alloc, child_on_read);
	dashboard_source_event(&c->src, "server", "started local server '%s' (pid %d)",
			       c->cfg.console.local_key, ch->proc.pid);
}

/* ---- quitting ---- */

/* A child that ignores SIGTERM for 3 s is killed, so quitting never hangs. */
static void child_on_kill_timer(uv_timer_t *t)
{
	struct console *c = t->data;
	if (c->child.running)
		uv_process_kill(&c->child.proc, SIGKILL);
}

static void console_quit(struct console *c)
{
	if (c->quitting)
		return;
	c->quitting = 1;
	if (c->has_child) {
		uv_timer_stop(&c->child.restart);
		if (c->child.running) {
			uv_process_kill(&c->child.proc, SIGTERM);
			uv_timer_start(&c->child.restart, child_on_kill_timer, 3000, 0);
		} else {
			uv_close((uv_handle_t *)&c->child.restart, handle_close_noop);
		}
	}
	if (c->probe)
		ui_probe_close(c->probe);
	if (c->attach)
		tracker_watch_close(c->attach);
	ui_usage_close(c->attach_usage);
	c->attach_usage = NULL;
	services_run_close(&c->svc);
	c->src.tracker = NULL;
	c->src.proxy = NULL;
	uv_timer_stop(&c->tick);
	uv_close((uv_handle_t *)&c->tick, handle_close_noop);
	uv_poll_stop(&c->input);
	uv_close((uv_handle_t *)&c->input, handle_close_noop);
	uv_close((uv_handle_t *)&c->sigterm, handle_close_noop);
	uv_close((uv_handle_t *)&c->sigint, handle_close_noop);
	uv_close((uv_handle_t *)&c->sighup, handle_close_noop);
}

/* ---- drawing and input ---- */

static void set_title(struct console *c);

static void on_attach_usage(void *arg, const char *text)
{
	struct console *c = arg;
	snprintf(c->dash.usage_text, sizeof c->dash.usage_text, "%s", text);
	c->dirty = 1;
}

/* Under --attach the usage overlay asks the remote tracker, at most every 2 s while shown. */
static void attach_usage_refresh(struct console *c)
{
	if (!c->attach || c->dash.mode != DASH_MODE_USAGE || now_wall() - c->usage_asked < 2)
		return;
	if (!c->attach_usage)
		c->attach_usage = ui_usage_new(c->loop, c->cfg.console.attach);
	if (c->usage_asked == 0)
		snprintf(c->dash.usage_text, sizeof c->dash.usage_text, "asking %s...",
			 c->cfg.console.attach);
	c->usage_asked = now_wall();
	ui_usage_fetch(c->attach_usage, on_attach_usage, c);
}

static void redraw(struct console *c)
{
	if (!c->curses_on || c->quitting)
		return;
	attach_usage_refresh(c);
	if (c->svc.tracker || c->svc.proxy) {
		dashboard_source_update(&c->src, &c->dash, now_wall());
		set_title(c);
	}
	ui_draw(&c->dash);
	c->dirty = 0;
	c->last_draw = now_wall();
}

static void on_probe_done(void *arg, const char *message)
{
	struct console *c = arg;
	snprintf(c->dash.status, sizeof c->dash.status, "%s", message);
	dashboard_source_event(&c->src, "probe", "%s", message);
	c->dirty = 1;
}

static void do_action(struct console *c, struct dash_action a)
{
	const struct dash_row *sel = dashboard_selected(&c->dash);
	int rc;
	switch (a.kind) {
	case DASH_ACTION_QUIT:
		console_quit(c);
		return;
	case DASH_ACTION_DRAIN: {
		int drain = !(sel && strcmp(sel->cells[2], "drained") == 0);
		rc = c->svc.tracker ? tracker_admin_drain(c->svc.tracker, a.id, drain) : UV_ENOENT;
		snprintf(c->dash.status, sizeof c->dash.status, rc ? "drain: no such server"
				     : drain ? "server drained: no new assignments"
					     : "server undrained");
		break;
	}
	case DASH_ACTION_KICK:
		rc = c->svc.tracker ? tracker_admin_kick(c->svc.tracker, a.id) : UV_ENOENT;
		snprintf(c->dash.status, sizeof c->dash.status,
			 rc ? "kick: no such server" : "server connection closed");
		break;
	case DASH_ACTION_CANCEL:
		rc = c->svc.tracker ? tracker_admin_cancel(c->svc.tracker, a.id) : UV_ENOENT;
		snprintf(c->dash.status, sizeof c->dash.status,
			 rc ? "cancel: no such request" : "request cancelled");
		break;
	case DASH_ACTION_PROBE:
		if (!c->svc.tracker || !c->probe) {
			snprintf(c->dash.status, sizeof c->dash.status, "probe needs the embedded tracker");
			break;
		}
		rc = ui_probe_start(c->probe, c->svc.tracker, a.id, on_probe_done, c);
		if (rc == 0)
			snprintf(c->dash.status, sizeof c->dash.status, "probing %s ...",
				 sel ? sel->cells[0] : "server");
		else
			snprintf(c->dash.status, sizeof c->dash.status, "probe: %s", ui_probe_error(c->probe));
		break;
	case DASH_ACTION_REDRAW:
	case DASH_ACTION_NONE:
		break;
	}
	c->dirty = 1;
}

static int pane_page_rows(void)
{
	return LINES > 20 ? 5 : 2;
}

static void read_keys(struct console *c)
{
	int key;
	while (!c->quitting && (key = getch()) != ERR) {
		if (key == KEY_RESIZE) {
			c->dirty = 1;
			continue;
		}
		if (c->dash.mode == DASH_MODE_NORMAL && key != 'p')
			c->dash.status[0] = '\0';
		do_action(c, dashboard_key(&c->dash, key, pane_page_rows()));
	}
}

static void on_input(uv_poll_t *h, int status, int events)
{
	struct console *c = h->data;
	(void)events;
	if (status < 0) {
		console_quit(c);
		return;
	}
	read_keys(c);
	if (c->dirty)
		redraw(c);
}

static void on_tick(uv_timer_t *t)
{
	struct console *c = t->data;
	read_keys(c); /* picks up KEY_RESIZE after SIGWINCH even without typing */
	if (c->quitting)
		return;
	if (c->dirty || now_wall() - c->last_draw >= 1.0)
		redraw(c);
}

static void on_change(void *arg)
{
	struct console *c = arg;
	c->dirty = 1;
}

static void on_attach_summary(void *arg, const cJSON *summary, const char *error)
{
	struct console *c = arg;
	if (summary) {
		if (dashboard_source_update_summary(&c->src, &c->dash, summary, now_wall()) != 0)
			snprintf(c->dash.status, sizeof c->dash.status, "unexpected SUMMARY reply");
	} else if (error) {
		snprintf(c->dash.status, sizeof c->dash.status, "%s", error);
	}
	c->dirty = 1;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct console *c = h->data;
	if (signum == SIGHUP) {
		dashboard_source_event(&c->src, "info", "SIGHUP: the console does not reload; "
				       "restart it to apply new settings");
		c->dirty = 1;
		return;
	}
	console_quit(c);
}

/* ---- start-up ---- */

static int start_services(struct console *c)
{
	config_t *cfg = &c->cfg;
	int embedded = !cfg->path[0];
	unsigned which = (embedded || cfg->has[CONFIG_TRACKER] ? SERVICES_RUN_TRACKER : 0) |
			 (embedded || cfg->has[CONFIG_PROXY] ? SERVICES_RUN_PROXY : 0) |
			 (embedded ? SERVICES_RUN_PROXY_TO_LOCAL_TRACKER : 0);
	uint64_t want;
	const char *what = NULL;
	services_run_fd_limit(cfg, which, &want);
	int err = services_run_start(&c->svc, c->loop, cfg, which, &what);
	if (err) {
		fprintf(stderr, "tvmrpc-console: %s: %s\n", what, uv_strerror(err));
		return -1;
	}
	if (c->svc.tracker)
		tracker_view_set_on_change(c->svc.tracker, on_change, c);
	c->has_child = (embedded && cfg->console.local_server) || cfg->has[CONFIG_SERVER] ||
		       (cfg->has[CONFIG_CONSOLE] && cfg->console.local_server);
	return 0;
}

static void set_title(struct console *c)
{
	char t[200];
	int n = snprintf(t, sizeof t, " tvmrpc console %s ", TVMRPC_VERSION);
	if (c->cfg.console.attach[0]) {
		snprintf(t + n, sizeof t - (size_t)n, "| watching tracker %.100s (read-only)",
			 c->cfg.console.attach);
	} else {
		/* Connections refused by allow lists or connection limits are counted here. */
		uint64_t refused = 0;
		if (c->svc.tracker) {
			struct tracker_view_counters tc;
			tracker_view_counters(c->svc.tracker, &tc);
			refused += tc.refused_acl + tc.refused_limit;
		}
		if (c->svc.proxy) {
			proxy_view_counts_t pc;
			proxy_view_counts(c->svc.proxy, &pc);
			refused += pc.refused;
		}
		int m = snprintf(t + n, sizeof t - (size_t)n, "| tracker :%d | proxy :%d%s",
				 c->svc.tracker ? tracker_port(c->svc.tracker) : 0,
				 c->svc.proxy ? proxy_port(c->svc.proxy) : 0, c->has_child ? " | local server" : "");
		if (refused && m > 0 && (size_t)(n + m) < sizeof t)
			snprintf(t + n + m, sizeof t - (size_t)(n + m), " | refused %llu",
				 (unsigned long long)refused);
	}
	snprintf(c->dash.title, sizeof c->dash.title, "%s", t);
}

int cli_console(const struct cli_args *args)
{
	static struct console con; /* large; lives for the whole run */
	struct console *c = &con;
	memset(c, 0, sizeof *c);
	c->cfg = args->cfg;
	c->loop = uv_default_loop();
	signal(SIGPIPE, SIG_IGN);
	ssize_t n = readlink("/proc/self/exe", c->self_path, sizeof c->self_path - 1);
	if (n <= 0) {
		fprintf(stderr, "tvmrpc-console: cannot find my own executable\n");
		return 1;
	}
	c->self_path[n] = '\0';
	dashboard_init(&c->dash);
	dashboard_source_init(&c->src, NULL, NULL);
	log_set_sink(log_to_events, c);
	log_set_quiet(1); /* the terminal is ours; warnings and errors go to the event log */

	if (c->cfg.console.attach[0]) {
		c->dash.read_only = 1;
		c->attach = tracker_watch_start(c->loop, c->cfg.console.attach, c->cfg.console.refresh,
					       on_attach_summary, c);
		if (!c->attach) {
			log_set_quiet(0);
			log_set_sink(NULL, NULL);
			fprintf(stderr, "tvmrpc-console: --attach needs HOST:PORT\n");
			return 2;
		}
	} else if (start_services(c) != 0) {
		log_set_sink(NULL, NULL);
		log_set_quiet(0);
		services_run_close(&c->svc);
		uv_run(c->loop, UV_RUN_DEFAULT);
		uv_loop_close(c->loop);
		dashboard_free(&c->dash);
		return 1;
	}
	c->src.tracker = c->svc.tracker;
	c->src.proxy = c->svc.proxy;
	c->probe = ui_probe_new(c->loop);
	set_title(c);

	setlocale(LC_ALL, "");
	/* Sparklines need UTF-8; under another codeset they fall back to ASCII. */
	c->dash.ascii_only = strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
	initscr();
	c->curses_on = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	ui_draw_init_colors(getenv("NO_COLOR") == NULL || getenv("NO_COLOR")[0] == '\0');
	log_set_quiet(1);

	if (c->has_child) {
		uv_timer_init(c->loop, &c->child.restart);
		c->child.restart.data = c;
		child_start(c);
	}
	dashboard_source_event(&c->src, "info", "console started; press ? for help");
	uv_timer_init(c->loop, &c->tick);
	c->tick.data = c;
	uint64_t ms = (uint64_t)(c->cfg.console.refresh * 1000);
	uv_timer_start(&c->tick, on_tick, 0, ms ? ms : 200);
	uv_poll_init(c->loop, &c->input, STDIN_FILENO);
	c->input.data = c;
	uv_poll_start(&c->input, UV_READABLE, on_input);
	uv_signal_init(c->loop, &c->sigterm);
	uv_signal_init(c->loop, &c->sigint);
	uv_signal_init(c->loop, &c->sighup);
	c->sigterm.data = c->sigint.data = c->sighup.data = c;
	uv_signal_start(&c->sigterm, on_signal, SIGTERM);
	uv_signal_start(&c->sigint, on_signal, SIGINT);
	uv_signal_start(&c->sighup, on_signal, SIGHUP);

	uv_run(c->loop, UV_RUN_DEFAULT);

	endwin();
	log_set_quiet(0);
	log_set_sink(NULL, NULL);
	uv_loop_close(c->loop);
	dashboard_source_free(&c->src);
	dashboard_free(&c->dash);
	return 0;
}
