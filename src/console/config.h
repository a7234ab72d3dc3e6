/* Settings for every mode: defaults, the INI file (inih) and command-line flags, all through
 * one typed, range-checked table so that a key means the same in a file and on the command line. */
#ifndef TVMRPC_CONFIG_H
#define TVMRPC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/log.h"
#include "services/health.h"
#include "services/metrics.h"
#include "services/proxy.h"
#include "services/server.h"
#include "services/tracker.h"

enum config_section {
	CONFIG_LOG = 0,
	CONFIG_TRACKER = 1,
	CONFIG_PROXY = 2,
	CONFIG_SERVER = 3,
	CONFIG_CONSOLE = 4,
	CONFIG_RUN = 5, /* --run/--connect flags: command line only, never in a file */
	CONFIG_METRICS = 6,
	CONFIG_HEALTH = 7,
	CONFIG_SECTION_COUNT
};

typedef struct console_options {
	int local_server;     /* start a local CPU device server as a child process */
	char local_key[128];  /* its key, default "local" */
	char attach[300];     /* watch a remote tracker "host:port" instead of running services */
	double refresh;       /* seconds between redraws, default 0.2 */
} console_options_t;

/* --run KEY / --connect HOST:PORT (run_cmd.c). The tensors and scalars passed (--in, --arg,
 * --out, --shape, --like) are an ordered argument list, not settings, and stay in run_cmd.c. */
typedef struct run_options {
	char tracker[300];      /* --run: the tracker HOST:PORT ("" = $TVM_TRACKER_HOST/PORT) */
	char key[128];          /* --connect: match key */
	char device[32];        /* TYPE[:ID], default "cpu" */
	int time;               /* also run runtime.RPCTimeEvaluator */
	int number, repeat, min_repeat_ms;
	int priority, retries;
	double wait;            /* give up after S seconds without a free device; 0 = no limit */
	double session_timeout; /* rpc_client_options_t's, defaults from there */
	double timeout;
	double connect_timeout;
} run_options_t;

typedef struct log_options {
	enum log_level level;
	int syslog;
	int silent; /* only errors, as TVM's --silent */
} log_options_t;

typedef struct config {
	int has[CONFIG_SECTION_COUNT]; /* which sections the file (or flags) named */
	log_options_t log;
	tracker_options_t tracker;
	proxy_options_t proxy;
	server_options_t server;
	uint64_t vm_storage_limit; /* [server]: largest single Relax VM storage (vm.h), process-wide */
	console_options_t console;
	metrics_options_t metrics;
	health_options_t health;
	run_options_t run;
	char path[512]; /* the file loaded, "" if none */
} config_t;

void config_default(config_t *cfg);

/* Load an INI file over cfg. Returns 0, or -1 with "file:line: message" in err. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t err_size);

/* The same from an open stream; `name` is used in messages. */
int config_load_stream(config_t *cfg, FILE *f, const char *name, char *err, size_t err_size);

/* Set one key of a section from text (used for INI lines and flags). `origin` names the
 * source for messages ("lab.ini:12" or "--port"). Returns 0 or -1 with err. */
int config_set(config_t *cfg, enum config_section section, const char *key, const char *value,
	       const char *origin, char *err, size_t err_size);

/* Section by name ("tracker", ...), or -1. */
int config_section_parse(const char *name);
const char *config_section_name(enum config_section section);

/* Does `key` exist in `section`, and does it take a value (0 = boolean flag)? -1 if unknown. */
int config_key_takes_value(enum config_section section, const char *key);

/* Calls fn for every key whose value differs between a and b; live says whether a running
 * service can take the new value (SIGHUP) or needs a restart. */
void config_diff(const config_t *a, const config_t *b,
		 void (*fn)(void *arg, enum config_section section, const char *key, int live),
		 void *arg);

/* Copy from src into dst every key of `section` that a running service takes on SIGHUP (the
 * table's live keys): what a reload applied becomes the running state. */
void config_copy_live(config_t *dst, const config_t *src, enum config_section section);

/* Cross-field checks (e.g. a server with a tracker needs a key). Returns 0 or -1 with err. */
int config_validate(const config_t *cfg, char *err, size_t err_size);

/* Write every section and key with its current value as INI (for --help/--check-config). */
void config_print(const config_t *cfg, int (*print)(void *arg, const char *line), void *arg);

#endif
