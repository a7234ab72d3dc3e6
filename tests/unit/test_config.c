/* Unit tests for the settings table, the INI loader and the access lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "console/cli.h"
#include "console/config.h"
#include "services/net.h"

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/tvmrpc-test-XXXXXX.ini");
	int fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_defaults(void **state)
{
	(void)state;
	config_t cfg;
	config_default(&cfg);
	assert_int_equal(cfg.tracker.port, 9190);
	assert_int_equal(cfg.tracker.port_end, 9199);
	assert_int_equal(cfg.proxy.port, 9090);
	assert_string_equal(cfg.console.local_key, "local");
}

static void test_load_ok(void **state)
{
	(void)state;
	char *path = write_temp("[tracker]\nport = 9300\nallow = 127.0.0.0/8, ::1\n"
				"[server]\nkey = rasp\ntracker = 127.0.0.1:9300\nmax_packet = 64M\n"
				"through_proxy = no\n[proxy]\n");
	config_t cfg;
	config_default(&cfg);
	char err[256];
	assert_int_equal(config_load_file(&cfg, path, err, sizeof err), 0);
	assert_int_equal(cfg.tracker.port, 9300);
	assert_string_equal(cfg.server.key, "rasp");
	assert_int_equal(cfg.server.max_packet, 64ull << 20);
	assert_true(cfg.has[CONFIG_TRACKER] && cfg.has[CONFIG_SERVER] && cfg.has[CONFIG_PROXY]);
	assert_false(cfg.has[CONFIG_CONSOLE]);
	unlink(path);
	free(path);
}

static void expect_error(const char *text, const char *needle)
{
	char *path = write_temp(text);
	config_t cfg;
	config_default(&cfg);
	char err[512] = "";
	assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
	assert_non_null(strstr(err, path));
	unlink(path);
	free(path);
}

static void test_load_errors(void **state)
{
	(void)state;
	expect_error("[tracker]\nport = 70000\n", ":2: 'port' must be between");
	expect_error("[tracker]\nport = abc\n", ":2: 'port' must be an integer");
	expect_error("[tracker]\n\nbogus = 1\n", ":3: unknown key 'bogus'");
	expect_error("[nope]\n", ":1: unknown section [nope]");
	expect_error("[server]\nthrough_proxy = maybe\n", "yes or no");
	expect_error("[server]\nallow = 10.0.0.0/33\n", "invalid address or CIDR");
	expect_error("[proxy]\ntracker = nohost\n", "HOST:PORT");
	expect_error("[server]\nmax_packet = 12Q\n", "size");
	expect_error("[tracker\n", "malformed section");
	config_t cfg;
	char err[256];
	config_default(&cfg);
	assert_int_equal(config_load_file(&cfg, "/nonexistent/x.ini", err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot open"));
}

static void test_acl(void **state)
{
	(void)state;
	net_acl_t acl;
	char err[128];
	assert_int_equal(net_acl_parse(&acl, "10.1.0.0/16 192.168.1.5,::1", err, sizeof err), 0);
	assert_int_equal(acl.count, 3);
	struct sockaddr_in in = {.sin_family = AF_INET};
	inet_pton(AF_INET, "10.1.200.3", &in.sin_addr);
	assert_true(net_acl_allows(&acl, (struct sockaddr *)&in));
	inet_pton(AF_INET, "10.2.0.1", &in.sin_addr);
	assert_false(net_acl_allows(&acl, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.168.1.5", &in.sin_addr);
	assert_true(net_acl_allows(&acl, (struct sockaddr *)&in));
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
	assert_true(net_acl_allows(&acl, (struct sockaddr *)&in6));
	net_acl_free(&acl);
	assert_int_equal(net_acl_parse(&acl, "", err, sizeof err), 0);
	assert_true(net_acl_allows(&acl, (struct sockaddr *)&in));
	assert_int_equal(net_acl_parse(&acl, "300.1.1.1", err, sizeof err), -1);
}

static void test_split_host_port(void **state)
{
	(void)state;
	char host[64];
	int port;
	assert_int_equal(net_split_host_port("127.0.0.1:9190", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9190);
	assert_int_equal(net_split_host_port("[::1]:80", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(net_split_host_port("host", host, sizeof host, &port), -1);
	assert_int_equal(net_split_host_port("h:99999", host, sizeof host, &port), -1);
	assert_int_equal(net_split_host_port(":80", host, sizeof host, &port), -1);
}

struct diff_seen {
	int count, live, restart;
	char keys[8][32];
};

static void on_diff(void *arg, enum config_section section, const char *key, int live)
{
	struct diff_seen *d = arg;
	if (d->count < 8)
		snprintf(d->keys[d->count], sizeof d->keys[0], "%s.%s", config_section_name(section), key);
	d->count++;
	if (live)
		d->live++;
	else
		d->restart++;
}

static void test_diff_live_and_restart(void **state)
{
	(void)state;
	config_t a, b;
	char err[256];
	config_default(&a);
	config_default(&b);
	struct diff_seen d = {0};
	config_diff(&a, &b, on_diff, &d);
	assert_int_equal(d.count, 0);
	assert_int_equal(config_set(&b, CONFIG_TRACKER, "allow", "10.0.0.0/8", "t", err, sizeof err), 0);
	assert_int_equal(config_set(&b, CONFIG_TRACKER, "port", "9300", "t", err, sizeof err), 0);
	assert_int_equal(config_set(&b, CONFIG_LOG, "level", "debug", "t", err, sizeof err), 0);
	config_diff(&a, &b, on_diff, &d);
	assert_int_equal(d.count, 3);
	assert_int_equal(d.live, 2);    /* allow and log level */
	assert_int_equal(d.restart, 1); /* port */
	assert_string_equal(d.keys[0], "log.level");
}

/* --run/--connect flags go through the table's [run] section, in both spellings; files and
 * the printed configuration know no [run]. */
static int run_flag(config_t *cfg, char *err, size_t n, int argc, char **argv)
{
	int rc = 0;
	for (int i = 0; i < argc && rc >= 0; i++) {
		rc = cli_config_flag(argc, argv, &i, cfg, CONFIG_RUN, err, n);
		if (rc == 0) {
			snprintf(err, n, "unknown option '%s'", argv[i]);
			return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

static int count_run_section(void *arg, const char *line)
{
	*(int *)arg += strstr(line, "[run]") != NULL;
	return 0;
}

static void test_run_flags(void **state)
{
	(void)state;
	config_t cfg;
	char err[256] = "";
	config_default(&cfg);
	assert_int_equal(cfg.run.number, 10);
	assert_int_equal(cfg.run.repeat, 3);
	assert_int_equal(cfg.run.retries, 5);
	assert_string_equal(cfg.run.device, "cpu");
	char *eq[] = {"--tracker=127.0.0.1:9190", "--repeat=4", "--time", "--min-repeat-ms", "5"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 5, eq), 0);
	assert_string_equal(cfg.run.tracker, "127.0.0.1:9190");
	assert_int_equal(cfg.run.repeat, 4);
	assert_int_equal(cfg.run.time, 1);
	assert_int_equal(cfg.run.min_repeat_ms, 5);
	char *spaced[] = {"--tracker", "10.0.0.1:9000", "--connect-timeout", "2.5", "--silent"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 5, spaced), 0);
	assert_string_equal(cfg.run.tracker, "10.0.0.1:9000");
	assert_true(cfg.run.connect_timeout == 2.5);
	assert_int_equal(cfg.log.silent, 1);
	char *bad_range[] = {"--repeat", "0"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 2, bad_range), -1);
	assert_non_null(strstr(err, "--repeat"));
	char *bad_addr[] = {"--tracker=nohost"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 1, bad_addr), -1);
	assert_non_null(strstr(err, "HOST:PORT"));
	char *missing[] = {"--wait"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 1, missing), -1);
	assert_non_null(strstr(err, "needs a value"));
	char *unknown[] = {"--bogus"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 1, unknown), -1);
	/* A service section's keys are not [run]'s. */
	char *other[] = {"--port-end=9300"};
	assert_int_equal(run_flag(&cfg, err, sizeof err, 1, other), -1);
	expect_error("[run]\ntracker = 127.0.0.1:9190\n", "unknown section [run]");
	int sections = 0;
	config_print(&cfg, count_run_section, &sections);
	assert_int_equal(sections, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_load_ok),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_split_host_port),
		cmocka_unit_test(test_diff_live_and_restart),
		cmocka_unit_test(test_run_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
