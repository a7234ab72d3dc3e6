/* Console benchmark for `make bench`: the CPU time of one dashboard frame (what the console's
 * redraw does: dashboard_source_update from the embedded services' views, then ui_draw to an
 * ncurses screen that writes to /dev/null, 200 x 60) with an embedded tracker and proxy that
 * hold SERVERS server connections (one resource each), PENDING waiting requests and LINKS
 * relayed proxy links. A forked helper makes all of them over real sockets on 127.0.0.1 (it
 * holds its own descriptors, so neither process needs more than the usual 20,000).
 *   bench_console SERVERS PENDING LINKS FRAMES */
#include <arpa/inet.h>
#include <curses.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "bench_common.h"
#include "console/dashboard.h"
#include "console/dashboard_source.h"
#include "console/ui_draw.h"
#include "services/net.h"
#include "services/proxy.h"
#include "services/proxy_view.h"
#include "services/tracker.h"
#include "services/tracker_view.h"

#define TRACKER_MAGIC 0x2f271
#define RPC_MAGIC 0xff271
#define REQUESTS_PER_CONN 64

static int tcp_to(int port)
{
	int fd = bench_connect_loopback(port);
	if (fd < 0) {
		perror("bench_console: connect");
		_exit(1);
	}
	return fd;
}

static void put_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0) {
			perror("bench_console: send");
			_exit(1);
		}
		buf += w;
		n -= (size_t)w;
	}
}

/* Appends one tracker frame (i32 length + JSON) to buf at *len. */
static void frame(char *buf, size_t *len, const char *json)
{
	int32_t n = (int32_t)strlen(json);
	memcpy(buf + *len, &n, 4);
	memcpy(buf + *len + 4, json, (size_t)n);
	*len += 4 + (size_t)n;
}

static void rpc_handshake(int fd, const char *key)
{
	char buf[128];
	int32_t head[2] = {RPC_MAGIC, (int32_t)strlen(key)};
	memcpy(buf, head, 8);
	memcpy(buf + 8, key, strlen(key));
	put_all(fd, buf, 8 + strlen(key));
}

/* The helper process: opens everything, then holds it all until `hold` reaches its end (the
 * parent watches the services' views to know when all arrived). Replies are never read: they
 * wait in the socket buffers. */
static void populate(int tport, int pport, int servers, int pending, int links, int hold)
{
	char buf[64 * 1024], json[256];
	for (int i = 0; i < servers; i++) {
		int fd = tcp_to(tport);
		size_t len = 4;
		int32_t magic = TRACKER_MAGIC;
		memcpy(buf, &magic, 4);
		snprintf(json, sizeof json, "[5, {\"key\": \"server:bench\", \"addr\": [null, %d]}]",
			 9000 + i % 1000);
		frame(buf, &len, json);
		snprintf(json, sizeof json, "[3, \"bench\", [%d, \"bench:%d\"], null]", 9000 + i % 1000,
			 i);
		frame(buf, &len, json);
		put_all(fd, buf, len);
	}
	for (int done = 0; done < pending;) {
		int fd = tcp_to(tport);
		size_t len = 4;
		int32_t magic = TRACKER_MAGIC;
		memcpy(buf, &magic, 4);
		for (int k = 0; k < REQUESTS_PER_CONN && done < pending; k++, done++) {
			snprintf(json, sizeof json, "[4, \"busy\", \"user%d\", %d]", done % 7, k % 3);
			frame(buf, &len, json);
		}
		put_all(fd, buf, len);
	}
	for (int i = 0; i < links; i++) {
		char key[64];
		snprintf(key, sizeof key, "server:link%d", i);
		rpc_handshake(tcp_to(pport), key);
		snprintf(key, sizeof key, "client:link%d", i);
		rpc_handshake(tcp_to(pport), key);
	}
	char c;
	while (read(hold, &c, 1) > 0) {
	}
	_exit(0);
}

struct target {
	tracker_t *tracker;
	proxy_t *proxy;
	int servers, pending, links;
	int reached;
};

static void on_check(uv_timer_t *timer)
{
	struct target *g = timer->data;
	struct tracker_view_counters c;
	tracker_view_counters(g->tracker, &c);
	if ((int)c.servers >= g->servers && (int)c.pending >= g->pending &&
	    (int)proxy_view_links(g->proxy, NULL, 0) >= g->links) {
		g->reached = 1;
		uv_stop(timer->loop);
	}
}

static void on_give_up(uv_timer_t *timer)
{
	uv_stop(timer->loop);
}

static void closed_noop(uv_handle_t *h)
{
	(void)h;
}

static int start_services(uv_loop_t *loop, tracker_t **t, proxy_t **p)
{
	tracker_options_t to;
	tracker_options_default(&to);
	snprintf(to.host, sizeof to.host, "127.0.0.1");
	to.port = 0;
	to.port_end = 0;
	to.max_connections = 15000;
	proxy_options_t po;
	proxy_options_default(&po);
	snprintf(po.host, sizeof po.host, "127.0.0.1");
	po.port = 0;
	po.port_end = 0;
	return tracker_start(loop, &to, t) || proxy_start(loop, &po, p);
}

/* Frames: the CPU time of each update + draw, this process only (the helper is asleep). */
static void frames(tracker_t *t, proxy_t *p, int count)
{
	setenv("LINES", "60", 1);
	setenv("COLUMNS", "200", 1);
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *screen = newterm("xterm", out, in);
	if (!screen) {
		fprintf(stderr, "bench_console: no curses screen (TERM xterm)\n");
		exit(1);
	}
	set_term(screen);
	ui_draw_init_colors(1);
	dashboard_t d;
	dashboard_init(&d);
	dashboard_source_t src;
	dashboard_source_init(&src, t, p);
	double *ms = calloc((size_t)count, sizeof *ms);
	for (int i = -2; i < count; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		dashboard_source_update(&src, &d, bench_now() + 1e9);
		ui_draw(&d);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		if (i >= 0)
			ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	bench_emit("console_rows_servers", (double)d.panes[DASH_SERVERS].nrows);
	bench_emit("console_rows_pending", (double)d.panes[DASH_PENDING].nrows);
	bench_emit("console_rows_links", (double)d.panes[DASH_LINKS].nrows);
	bench_emit("console_frame_cpu_ms_median", bench_quantile(ms, (size_t)count, 0.5));
	bench_emit("console_frame_cpu_ms_max", bench_quantile(ms, (size_t)count, 1.0));
	free(ms);
	dashboard_source_free(&src);
	dashboard_free(&d);
	endwin();
	delscreen(screen);
	fclose(out);
	fclose(in);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: bench_console SERVERS PENDING LINKS FRAMES\n");
		return 2;
	}
	struct target g = {.servers = atoi(argv[1]), .pending = atoi(argv[2]), .links = atoi(argv[3])};
	log_set_quiet(1);
	net_raise_fd_limit(20000);
	uv_loop_t *loop = uv_default_loop();
	if (start_services(loop, &g.tracker, &g.proxy))
		return 1;
	int hold[2];
	if (pipe(hold))
		return perror("pipe"), 1;
	pid_t helper = fork();
	if (helper == 0) {
		close(hold[1]);
		populate(tracker_port(g.tracker), proxy_port(g.proxy), g.servers, g.pending, g.links,
			 hold[0]);
	}
	close(hold[0]);
	uv_timer_t check, give_up;
	uv_timer_init(loop, &check);
	uv_timer_init(loop, &give_up);
	check.data = &g;
	uv_timer_start(&check, on_check, 50, 50);
	uv_timer_start(&give_up, on_give_up, 120000, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	if (!g.reached) {
		fprintf(stderr, "bench_console: the services did not reach %d servers, %d pending, "
			"%d links\n", g.servers, g.pending, g.links);
		kill(helper, SIGKILL);
		return 1;
	}
	frames(g.tracker, g.proxy, atoi(argv[4]));
	close(hold[1]); /* the helper closes everything and exits */
	waitpid(helper, NULL, 0);
	uv_close((uv_handle_t *)&check, closed_noop);
	uv_close((uv_handle_t *)&give_up, closed_noop);
	tracker_close(g.tracker, NULL, NULL);
	proxy_close(g.proxy, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}
