/* tvmrpc-console: command-line entry. Picks the mode (console, headless services, query, run,
 * config check), builds the settings from defaults, the INI file and flags, and hands over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console/cli.h"
#include "console/config.h"
#include "runtime/ffi_catalog.h"
#include "base/log.h"
#include "base/xalloc.h"

static void usage(FILE *out)
{
	fputs("usage:\n"
	      "  tvmrpc-console [--config FILE] [--attach HOST:PORT]     live dashboard (default)\n"
	      "  tvmrpc-console --headless [--config FILE] [tracker|proxy|server] [FLAGS]\n"
	      "  tvmrpc-console --query HOST:PORT [--json]                tracker status\n"
	      "  tvmrpc-console --run KEY --tracker HOST:PORT MODULE.so FUNC [--in X.npy]... [--out Y.npy]... [--time]\n"
	      "  tvmrpc-console --connect HOST:PORT MODULE.so FUNC ...    the same, straight to a server\n"
	      "  tvmrpc-console --check-config FILE                       validate a settings file\n"
	      "  tvmrpc-console --list-globals [--markdown]               remote globals and status\n"
	      "  tvmrpc-console --help | --version\n"
	      "\n"
	      "service flags (TVM's names; each is also a key of the INI section):\n"
	      "  tracker: --host H --port P --port-end E --max-message N --max-connections N\n"
	      "           --handshake-timeout S --allow CIDRS --scheduling fair|fifo\n"
	      "           --usage-log FILE\n"
	      "  proxy:   --host H --port P --port-end E --tracker H:P --timeout-client S\n"
	      "           --timeout-server S --max-connections N --handshake-timeout S --allow CIDRS\n"
	      "           --web-port P --web-max-frame N\n"
	      "  server:  --host H --port P --port-end E --tracker H:P --key K --through-proxy\n"
	      "           --custom-addr A --load-library L1:L2 --work-dir D --session-timeout S\n"
	      "           --max-packet N --session-memory N --compiler CC --allow CIDRS --no-fork\n"
	      "metrics:   --metrics H:P --metrics-allow CIDRS --metrics-max-connections N\n"
	      "           --metrics-timeout S\n"
	      "health:    --health-interval S --health-failures-to-drain N --health-timeout S\n"
	      "           --health-copy-bytes N\n"
	      "logging:   --log-level error|warn|info|debug --silent --syslog\n"
	      "\n"
	      "exit status: 0 success, 1 runtime failure, 2 bad usage or settings.\n"
	      "See tvmrpc-console(1) and tvmrpc.ini(5).\n",
	      out);
}

static int print_line(void *arg, const char *line)
{
	return fprintf((FILE *)arg, "%s\n", line);
}

int main(int argc, char **argv)
{
	struct cli_args args;
	char err[1024];
	xalloc_cjson_hooks_install();
	int rc = cli_parse(argc, argv, &args, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "tvmrpc-console: %s\n", err);
		fprintf(stderr, "Try 'tvmrpc-console --help'.\n");
		return 2;
	}
	switch (args.mode) {
	case CLI_HELP:
		usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("tvmrpc-console %s (TVM RPC protocol 0.8.0)\n", TVMRPC_VERSION);
		return 0;
	case CLI_CHECK_CONFIG:
		printf("%s: OK\n", args.cfg.path);
		if (log_get_level() >= LOG_LEVEL_DEBUG)
			config_print(&args.cfg, print_line, stdout);
		return 0;
	case CLI_LIST_GLOBALS:
		ffi_catalog_print(stdout, args.markdown);
		return fflush(stdout) == 0 ? 0 : 1;
	case CLI_QUERY:
		return cli_query(&args);
	case CLI_RUN:
		return cli_run(&args, argc, argv);
	case CLI_HEADLESS:
		return cli_headless(&args);
	case CLI_CONSOLE:
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			fprintf(stderr, "tvmrpc-console: the dashboard needs a terminal on stdin and "
					"stdout; use --headless to run the services without it\n");
			return 2;
		}
		return cli_console(&args);
	}
	return 2;
}
