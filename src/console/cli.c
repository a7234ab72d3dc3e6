/* Command-line parsing. Service flags are the INI keys of the selected section with '-' for
 * '_' (--port-end is [tracker] port_end), so the file and the command line cannot disagree. */
#include "console/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_service_name(const char *s)
{
	return strcmp(s, "tracker") == 0 || strcmp(s, "proxy") == 0 || strcmp(s, "server") == 0;
}

/* The log flags every mode takes. Returns 1 if consumed (advancing *i), 0 if not, -1 on error. */
static int log_flag(int argc, char **argv, int *i, config_t *cfg, char *err, size_t n)
{
	const char *f = argv[*i];
	if (strcmp(f, "--log-level") == 0) {
		if (*i + 1 >= argc) {
			snprintf(err, n, "%s needs a value", f);
			return -1;
		}
		(*i)++;
		return config_set(cfg, CONFIG_LOG, "level", argv[*i], f, err, n) ? -1 : 1;
	}
	if (strcmp(f, "--silent") == 0)
		return config_set(cfg, CONFIG_LOG, "silent", "yes", f, err, n) ? -1 : 1;
	if (strcmp(f, "--syslog") == 0)
		return config_set(cfg, CONFIG_LOG, "syslog", "yes", f, err, n) ? -1 : 1;
	return 0;
}

static int prefixed_flag(int argc, char **argv, int *i, config_t *cfg, enum config_section section,
			 const char *prefix, char *err, size_t n);

/* Flags shared by every mode. Returns 1 if consumed (advancing *i), 0 if not, -1 on error. */
static int global_flag(int argc, char **argv, int *i, struct cli_args *a, char *err, size_t n)
{
	if (strcmp(argv[*i], "--json") == 0) {
		a->json = 1;
		return 1;
	}
	int r = prefixed_flag(argc, argv, i, &a->cfg, CONFIG_METRICS, "--metrics-", err, n);
	if (!r)
		r = prefixed_flag(argc, argv, i, &a->cfg, CONFIG_HEALTH, "--health-", err, n);
	if (r)
		return r;
	if (strcmp(argv[*i], "--metrics") == 0) { /* [metrics] listen, for any service mode */
		if (*i + 1 >= argc) {
			snprintf(err, n, "--metrics needs HOST:PORT");
			return -1;
		}
		(*i)++;
		return config_set(&a->cfg, CONFIG_METRICS, "listen", argv[*i], "--metrics", err, n)
			       ? -1 : 1;
	}
	return log_flag(argc, argv, i, &a->cfg, err, n);
}

/* --PREFIXkey value / --PREFIXkey=value for a key of `section`: prefix "--" for the selected
 * service's keys, "--metrics-" or "--health-" for those sections (any mode). */
static int prefixed_flag(int argc, char **argv, int *i, config_t *cfg, enum config_section section,
			 const char *prefix, char *err, size_t n)
{
	const char *f = argv[*i];
	size_t skip = strlen(prefix);
	if (strncmp(f, prefix, skip) != 0)
		return 0;
	char key[64];
	const char *eq = strchr(f, '=');
	size_t len = eq ? (size_t)(eq - f - skip) : strlen(f + skip);
	if (len == 0 || len >= sizeof key)
		return 0;
	for (size_t k = 0; k < len; k++)
		key[k] = f[skip + k] == '-' ? '_' : f[skip + k];
	key[len] = '\0';
	int takes = config_key_takes_value(section, key);
	if (takes < 0)
		return 0;
	const char *val;
	if (eq)
		val = eq + 1;
	else if (!takes)
		val = "yes";
	else if (*i + 1 < argc)
		val = argv[++*i];
	else {
		snprintf(err, n, "%s needs a value", f);
		return -1;
	}
	char origin[80];
	snprintf(origin, sizeof origin, "%.*s", (int)(eq ? (size_t)(eq - f) : strlen(f)), f);
	return config_set(cfg, section, key, val, origin, err, n) ? -1 : 1;
}

/* --flag value / --flag=value for a key of `section`. */
static int section_flag(int argc, char **argv, int *i, config_t *cfg, enum config_section section,
			char *err, size_t n)
{
	return prefixed_flag(argc, argv, i, cfg, section, "--", err, n);
}

int cli_config_flag(int argc, char **argv, int *i, config_t *cfg, enum config_section section,
		    char *err, size_t n)
{
	int r = log_flag(argc, argv, i, cfg, err, n);
	return r ? r : section_flag(argc, argv, i, cfg, section, err, n);
}

void cli_apply_logging(const config_t *cfg)
{
	log_set_level(cfg->log.silent ? LOG_LEVEL_ERROR : cfg->log.level);
	if (cfg->log.syslog)
		log_use_syslog("tvmrpc");
}

int cli_parse(int argc, char **argv, struct cli_args *a, char *err, size_t n)
{
	memset(a, 0, sizeof *a);
	a->argc = argc;
	a->argv = argv;
	config_default(&a->cfg);
	a->mode = CLI_CONSOLE;
	a->service = -1;
	const char *config_path = NULL;

	/* First pass: mode and config file, so that flags can override the file afterwards. */
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
			a->mode = CLI_HELP;
			return 0;
		}
		if (strcmp(f, "--version") == 0) {
			a->mode = CLI_VERSION;
			return 0;
		}
		if (strcmp(f, "--list-globals") == 0) {
			a->mode = CLI_LIST_GLOBALS;
			for (int j = i + 1; j < argc; j++) {
				if (strcmp(argv[j], "--markdown") != 0) {
					snprintf(err, n, "--list-globals takes only --markdown");
					return -1;
				}
				a->markdown = 1;
			}
			return 0;
		}
		if (strcmp(f, "--run") == 0 || strcmp(f, "--connect") == 0) {
			/* --run/--connect parse their own arguments (run_cmd.c). */
			if (i + 1 >= argc) {
				snprintf(err, n, "%s needs a value", f);
				return -1;
			}
			a->mode = CLI_RUN;
			a->run_direct = strcmp(f, "--connect") == 0;
			snprintf(a->run_direct ? a->target : a->run_key,
				 a->run_direct ? sizeof a->target : sizeof a->run_key, "%s", argv[i + 1]);
			a->first_positional = 1;
			cli_apply_logging(&a->cfg);
			return 0;
		}
		if (strcmp(f, "--config") == 0 || strcmp(f, "--check-config") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, n, "%s needs a file", f);
				return -1;
			}
			config_path = argv[++i];
			if (strcmp(f, "--check-config") == 0)
				a->mode = CLI_CHECK_CONFIG;
		} else if (strcmp(f, "--headless") == 0) {
			if (a->mode != CLI_CHECK_CONFIG)
				a->mode = CLI_HEADLESS;
		} else if (strcmp(f, "--query") == 0 || strcmp(f, "--attach") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, n, "%s needs HOST:PORT", f);
				return -1;
			}
			snprintf(a->target, sizeof a->target, "%s", argv[++i]);
			if (strcmp(f, "--query") == 0)
				a->mode = CLI_QUERY;
		}
	}
	if (config_path && config_load_file(&a->cfg, config_path, err, n) != 0)
		return -1;
	if (a->mode == CLI_CHECK_CONFIG) {
		if (config_validate(&a->cfg, err, n) != 0)
			return -1;
		return 0;
	}

	/* Second pass: everything else, in order. */
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		if (strcmp(f, "--config") == 0 || strcmp(f, "--query") == 0 ||
		    strcmp(f, "--attach") == 0) {
			i++;
			continue;
		}
		if (strcmp(f, "--headless") == 0)
			continue;
		int r = global_flag(argc, argv, &i, a, err, n);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		if (a->mode == CLI_HEADLESS && a->service < 0 && is_service_name(f)) {
			a->service = config_section_parse(f);
			a->cfg.has[a->service] = 1;
			continue;
		}
		if (a->mode == CLI_HEADLESS && a->service >= 0) {
			r = section_flag(argc, argv, &i, &a->cfg, (enum config_section)a->service,
					 err, n);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
		}
		if (a->mode == CLI_HEADLESS && a->service < 0 && strncmp(f, "--", 2) == 0)
			snprintf(err, n, "unknown option '%s' (name the service first: --headless "
				 "tracker|proxy|server FLAGS)", f);
		else
			snprintf(err, n, "unknown option '%s'", f);
		return -1;
	}

	if (a->mode == CLI_HEADLESS) {
		if (a->service >= 0) {
			/* Only the named service runs, even if the file has other sections. */
			for (int s = CONFIG_TRACKER; s <= CONFIG_SERVER; s++)
				if (s != a->service)
					a->cfg.has[s] = 0;
		} else if (!a->cfg.has[CONFIG_TRACKER] && !a->cfg.has[CONFIG_PROXY] &&
			   !a->cfg.has[CONFIG_SERVER]) {
			snprintf(err, n, "--headless needs a service (tracker, proxy or server) or a "
				 "--config file with [tracker], [proxy] or [server]");
			return -1;
		}
	}
	if (a->mode == CLI_CONSOLE && a->target[0])
		snprintf(a->cfg.console.attach, sizeof a->cfg.console.attach, "%s", a->target);
	if (config_validate(&a->cfg, err, n) != 0)
		return -1;
	cli_apply_logging(&a->cfg);
	return 0;
}
