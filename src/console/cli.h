/* Command-line parsing into a mode plus settings, and the entry point of each mode. */
#ifndef TVMRPC_CLI_H
#define TVMRPC_CLI_H

#include "console/config.h"

enum cli_mode { CLI_CONSOLE, CLI_HEADLESS, CLI_QUERY, CLI_RUN, CLI_CHECK_CONFIG, CLI_HELP, CLI_VERSION,
	       CLI_LIST_GLOBALS };

struct cli_args {
	enum cli_mode mode;
	config_t cfg;
	int service;           /* CONFIG_TRACKER/PROXY/SERVER named after --headless, or -1 */
	char target[300];      /* --query / --attach / --connect HOST:PORT */
	int json;              /* --query --json */
	int markdown;          /* --list-globals --markdown */
	int run_direct;        /* --connect rather than --run KEY */
	char run_key[128];     /* --run KEY */
	int first_positional;  /* --run/--connect: index of the first argument the mode parses */
	int argc;              /* the command line, kept for SIGHUP reloads */
	char **argv;
};

/* Returns 0, or -1 with a message (exit status 2). Loads --config into args->cfg, applies
 * flags over it, and validates. */
int cli_parse(int argc, char **argv, struct cli_args *args, char *err, size_t err_size);

/* One flag at argv[*i] into cfg: the log flags (--log-level L, --silent, --syslog), then a key
 * of `section` written --key-name VALUE or --key-name=VALUE (booleans take no value). Returns
 * 1 if consumed (advancing *i past a value), 0 if the flag is not one of these, -1 with err. */
int cli_config_flag(int argc, char **argv, int *i, config_t *cfg, enum config_section section,
		    char *err, size_t n);

/* Apply the log section to the logging layer. */
void cli_apply_logging(const config_t *cfg);

int cli_headless(const struct cli_args *args);   /* headless.c */
int cli_query(const struct cli_args *args);      /* query_cmd.c */
int cli_run(const struct cli_args *args, int argc, char **argv); /* run_cmd.c */
int cli_console(const struct cli_args *args);    /* ui.c */

#endif
