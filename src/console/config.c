/* Typed settings table shared by the INI loader and the command line. Each key has a type,
 * a range and a place in config_t; errors name the file and line (or the flag). */
#include "console/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/vm.h"
#include "services/net.h"
#include "services/rpc_client.h"

enum key_type {
	KEY_STRING, KEY_INT, KEY_DOUBLE, KEY_BOOL, KEY_SIZE, KEY_LEVEL, KEY_ACL, KEY_ADDR,
	KEY_CHOICE, /* one word of `choices` ("fair|fifo"), stored as its index in an int */
};

#define T(field) CONFIG_TRACKER, offsetof(config_t, tracker.field), sizeof(((config_t *)0)->tracker.field)
#define P(field) CONFIG_PROXY, offsetof(config_t, proxy.field), sizeof(((config_t *)0)->proxy.field)
#define S(field) CONFIG_SERVER, offsetof(config_t, server.field), sizeof(((config_t *)0)->server.field)
#define C(field) CONFIG_CONSOLE, offsetof(config_t, console.field), sizeof(((config_t *)0)->console.field)
#define R(field) CONFIG_RUN, offsetof(config_t, run.field), sizeof(((config_t *)0)->run.field)
#define M(field) CONFIG_METRICS, offsetof(config_t, metrics.field), sizeof(((config_t *)0)->metrics.field)
#define H(field) CONFIG_HEALTH, offsetof(config_t, health.field), sizeof(((config_t *)0)->health.field)
#define L(field) CONFIG_LOG, offsetof(config_t, log.field), sizeof(((config_t *)0)->log.field)

struct key_row {
	const char *name;
	enum key_type type;
	enum config_section section;
	size_t offset, size;
	double min, max;
	int live; /* SIGHUP applies a new value without a restart */
};

static const struct key_row keys[] = {
	{"level", KEY_LEVEL, L(level), 0, 0, 1},
	{"syslog", KEY_BOOL, L(syslog), 0, 1, 1},
	{"silent", KEY_BOOL, L(silent), 0, 1, 1},

	{"host", KEY_STRING, T(host), 0, 0, 0},
	{"port", KEY_INT, T(port), 0, 65535, 0},
	{"port_end", KEY_INT, T(port_end), 0, 65536, 0},
	{"max_message", KEY_SIZE, T(max_message), 16, 256.0 * 1024 * 1024, 1},
	{"max_connections", KEY_INT, T(max_connections), 1, 1000000, 1},
	{"handshake_timeout", KEY_DOUBLE, T(handshake_timeout), 0.01, 86400, 1},
	{"allow", KEY_ACL, T(allow), 0, 0, 1},
	{"scheduling", KEY_CHOICE, T(scheduling), 0, 0, 1},
	{"usage_log", KEY_STRING, T(usage_log), 0, 0, 1},

	{"host", KEY_STRING, P(host), 0, 0, 0},
	{"port", KEY_INT, P(port), 0, 65535, 0},
	{"port_end", KEY_INT, P(port_end), 0, 65536, 0},
	{"tracker", KEY_ADDR, P(tracker), 0, 0, 0},
	{"timeout_client", KEY_DOUBLE, P(timeout_client), 0.01, 1e7, 1},
	{"timeout_server", KEY_DOUBLE, P(timeout_server), 0.01, 1e7, 1},
	{"max_connections", KEY_INT, P(max_connections), 1, 1000000, 1},
	{"handshake_timeout", KEY_DOUBLE, P(handshake_timeout), 0.01, 86400, 1},
	{"allow", KEY_ACL, P(allow), 0, 0, 1},
	{"web_port", KEY_INT, P(web_port), 0, 65535, 0},
	{"web_max_frame", KEY_SIZE, P(web_max_frame), 1024, 4.0 * 1024 * 1024 * 1024, 0},

	{"host", KEY_STRING, S(host), 0, 0, 0},
	{"port", KEY_INT, S(port), 0, 65535, 0},
	{"port_end", KEY_INT, S(port_end), 0, 65536, 0},
	{"tracker", KEY_ADDR, S(tracker), 0, 0, 0},
	{"key", KEY_STRING, S(key), 0, 0, 0},
	{"through_proxy", KEY_BOOL, S(through_proxy), 0, 1, 0},
	{"custom_addr", KEY_STRING, S(custom_addr), 0, 0, 0},
	{"load_library", KEY_STRING, S(load_library), 0, 0, 1},
	{"work_dir", KEY_STRING, S(work_dir), 0, 0, 1},
	{"session_timeout", KEY_DOUBLE, S(session_timeout), 0, 1e7, 1},
	{"max_packet", KEY_SIZE, S(max_packet), 64, 64.0 * 1024 * 1024 * 1024, 1},
	{"session_memory", KEY_SIZE, S(session_memory), 0, 1024.0 * 1024 * 1024 * 1024, 1},
	{"handshake_timeout", KEY_DOUBLE, S(handshake_timeout), 0.01, 86400, 1},
	{"compiler", KEY_STRING, S(compiler), 0, 0, 1},
	{"allow", KEY_ACL, S(allow), 0, 0, 1},
	{"no_fork", KEY_BOOL, S(no_fork), 0, 1, 0},
	{"vm_storage_limit", KEY_SIZE, CONFIG_SERVER, offsetof(config_t, vm_storage_limit),
	 sizeof(uint64_t), 1024, 1024.0 * 1024 * 1024 * 1024, 1},

	{"local_server", KEY_BOOL, C(local_server), 0, 1, 0},
	{"local_key", KEY_STRING, C(local_key), 0, 0, 0},
	{"attach", KEY_ADDR, C(attach), 0, 0, 0},
	{"refresh", KEY_DOUBLE, C(refresh), 0.05, 10, 1},

	{"listen", KEY_ADDR, M(listen), 0, 0, 0},
	{"allow", KEY_ACL, M(allow), 0, 0, 0},
	{"max_connections", KEY_INT, M(max_connections), 1, 10000, 0},
	{"timeout", KEY_DOUBLE, M(timeout), 1, 3600, 0},

	{"interval", KEY_DOUBLE, H(interval), 0, 86400, 0},
	{"failures_to_drain", KEY_INT, H(failures_to_drain), 1, 1000, 0},
	{"timeout", KEY_DOUBLE, H(timeout), 0.1, 3600, 0},
	{"copy_bytes", KEY_SIZE, H(copy_bytes), 0, 64.0 * 1024 * 1024, 0},

	{"tracker", KEY_ADDR, R(tracker), 0, 0, 0},
	{"key", KEY_STRING, R(key), 0, 0, 0},
	{"device", KEY_STRING, R(device), 0, 0, 0},
	{"time", KEY_BOOL, R(time), 0, 1, 0},
	{"number", KEY_INT, R(number), 1, 1 << 30, 0},
	{"repeat", KEY_INT, R(repeat), 1, 1 << 20, 0},
	{"min_repeat_ms", KEY_INT, R(min_repeat_ms), 0, 1 << 30, 0},
	{"priority", KEY_INT, R(priority), -1000000, 1000000, 0},
	{"retries", KEY_INT, R(retries), 1, 1000, 0},
	{"wait", KEY_DOUBLE, R(wait), 0, 1e9, 0},
	{"session_timeout", KEY_DOUBLE, R(session_timeout), 0, 1e9, 0},
	{"timeout", KEY_DOUBLE, R(timeout), 0, 1e9, 0},
	{"connect_timeout", KEY_DOUBLE, R(connect_timeout), 0.001, 1e6, 0},
};

static const char *const section_names[CONFIG_SECTION_COUNT] = {
	"log", "tracker", "proxy", "server", "console", "run", "metrics", "health"};

void config_default(config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->log.level = LOG_LEVEL_INFO;
	tracker_options_default(&cfg->tracker);
	proxy_options_default(&cfg->proxy);
	server_options_default(&cfg->server);
	metrics_options_default(&cfg->metrics);
	health_options_default(&cfg->health);
	cfg->vm_storage_limit = vm_storage_limit();
	cfg->console.local_server = 1;
	snprintf(cfg->console.local_key, sizeof cfg->console.local_key, "local");
	cfg->console.refresh = 0.2;
	rpc_client_options_t client;
	rpc_client_options_default(&client);
	snprintf(cfg->run.device, sizeof cfg->run.device, "cpu");
	cfg->run.number = 10;
	cfg->run.repeat = 3;
	cfg->run.priority = 1;
	cfg->run.retries = 5;
	cfg->run.session_timeout = client.session_timeout;
	cfg->run.timeout = client.reply_timeout;
	cfg->run.connect_timeout = client.connect_timeout;
}

int config_section_parse(const char *name)
{
	for (int i = 0; i < CONFIG_SECTION_COUNT; i++)
		if (strcmp(name, section_names[i]) == 0)
			return i;
	return -1;
}

const char *config_section_name(enum config_section section)
{
	return section_names[section];
}

static const struct key_row *key_find(enum config_section section, const char *key)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].section == section && strcmp(keys[i].name, key) == 0)
			return &keys[i];
	return NULL;
}

int config_key_takes_value(enum config_section section, const char *key)
{
	const struct key_row *k = key_find(section, key);
	if (!k)
		return -1;
	return k->type != KEY_BOOL;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* "64M", "1 GiB", "4096": bytes. */
static int parse_size(const char *v, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (end == v || errno || !isfinite(x) || x < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	double mult = 1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = 1024.0; end++; break;
	case 'M': mult = 1024.0 * 1024; end++; break;
	case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	case 'B': break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -1;
	*out = floor(x * mult);
	return 0;
}

/* The words a KEY_CHOICE key takes, '|'-separated, in the order of the values stored. */
static const char *key_choices(const struct key_row *k)
{
	if (k->offset == offsetof(config_t, tracker.scheduling))
		return "fair|fifo"; /* enum tracker_scheduling */
	return "";
}

/* Index of value among the '|'-separated words of choices, or -1. */
static int choice_index(const char *choices, const char *value)
{
	size_t n = strlen(value);
	int index = 0;
	for (const char *p = choices; *p; index++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, value, n) == 0)
			return index;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

/* The word of choices at index (for printing), copied into buf. */
static const char *choice_word(const char *choices, int index, char *buf, size_t size)
{
	const char *p = choices;
	for (int i = 0; i < index && p; i++) {
		p = strchr(p, '|');
		if (p)
			p++;
	}
	if (!p)
		return "?";
	size_t len = strcspn(p, "|");
	snprintf(buf, size, "%.*s", (int)len, p);
	return buf;
}

int config_set(config_t *cfg, enum config_section section, const char *key, const char *value,
	       const char *origin, char *err, size_t err_size)
{
	const struct key_row *k = key_find(section, key);
	if (!k) {
		snprintf(err, err_size, "%s: unknown key '%s' in [%s]", origin, key,
			 section_names[section]);
		return -1;
	}
	char *field = (char *)cfg + k->offset;
	double d;
	char *end;
	switch (k->type) {
	case KEY_STRING:
	case KEY_ADDR:
	case KEY_ACL:
		if (strlen(value) >= k->size) {
			snprintf(err, err_size, "%s: value of '%s' is longer than %zu characters", origin,
				 key, k->size - 1);
			return -1;
		}
		if (k->type == KEY_ADDR && *value) {
			char host[256];
			int port;
			if (net_split_host_port(value, host, sizeof host, &port) != 0) {
				snprintf(err, err_size, "%s: '%s' must be HOST:PORT, got '%s'", origin, key,
					 value);
				return -1;
			}
		}
		if (k->type == KEY_ACL) {
			net_acl_t acl;
			char why[128];
			if (net_acl_parse(&acl, value, why, sizeof why) != 0) {
				snprintf(err, err_size, "%s: '%s': %s", origin, key, why);
				return -1;
			}
			net_acl_free(&acl);
		}
		snprintf(field, k->size, "%s", value);
		break;
	case KEY_INT:
		errno = 0;
		d = (double)strtol(value, &end, 10);
		if (end == value || *end || errno) {
			snprintf(err, err_size, "%s: '%s' must be an integer, got '%s'", origin, key, value);
			return -1;
		}
		goto check_range;
	case KEY_DOUBLE:
		errno = 0;
		d = strtod(value, &end);
		if (end == value || *end || errno || !isfinite(d)) {
			snprintf(err, err_size, "%s: '%s' must be a number, got '%s'", origin, key, value);
			return -1;
		}
		goto check_range;
	case KEY_SIZE:
		if (parse_size(value, &d) != 0) {
			snprintf(err, err_size, "%s: '%s' must be a size such as 4096, 64K or 1G, got '%s'",
				 origin, key, value);
			return -1;
		}
	check_range:
		if (d < k->min || d > k->max) {
			snprintf(err, err_size, "%s: '%s' must be between %g and %g, got '%s'", origin, key,
				 k->min, k->max, value);
			return -1;
		}
		if (k->type == KEY_DOUBLE)
			*(double *)field = d;
		else if (k->size == sizeof(uint64_t))
			*(uint64_t *)field = (uint64_t)d;
		else if (k->size == sizeof(uint32_t) && k->type == KEY_SIZE)
			*(uint32_t *)field = (uint32_t)d;
		else
			*(int *)field = (int)d;
		break;
	case KEY_BOOL: {
		int b;
		if (parse_bool(value, &b) != 0) {
			snprintf(err, err_size, "%s: '%s' must be yes or no, got '%s'", origin, key, value);
			return -1;
		}
		*(int *)field = b;
		break;
	}
	case KEY_CHOICE: {
		int index = choice_index(key_choices(k), value);
		if (index < 0) {
			snprintf(err, err_size, "%s: '%s' must be one of %s, got '%s'", origin, key,
				 key_choices(k), value);
			return -1;
		}
		*(int *)field = index;
		break;
	}
	case KEY_LEVEL: {
		enum log_level lv;
		if (log_level_parse(value, &lv) != 0) {
			snprintf(err, err_size, "%s: '%s' must be error, warn, info or debug, got '%s'",
				 origin, key, value);
			return -1;
		}
		*(enum log_level *)field = lv;
		break;
	}
	}
	cfg->has[section] = 1;
	return 0;
}

/* Debian's inih is built without line numbers in the handler, so the reader counts lines
 * and also sees section headers (including empty sections, which inih never reports). */
struct load_state {
	config_t *cfg;
	const char *path;
	FILE *file;
	int lineno;
	char *err;
	size_t err_size;
	int failed;
};

static void load_fail(struct load_state *st, const char *fmt, const char *what)
{
	if (st->failed)
		return;
	snprintf(st->err, st->err_size, fmt, st->path, st->lineno, what);
	st->failed = 1;
}

static char *ini_read_line(char *str, int num, void *stream)
{
	struct load_state *st = stream;
	if (st->failed || !fgets(str, num, st->file))
		return NULL;
	st->lineno++;
	size_t len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(st->file)) {
		load_fail(st, "%s:%d: line is too long%s", "");
		return NULL;
	}
	const char *p = str;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		char name[64];
		size_t n = close ? (size_t)(close - p - 1) : 0;
		if (!close || n >= sizeof name) {
			load_fail(st, "%s:%d: malformed section header%s", "");
			return NULL;
		}
		memcpy(name, p + 1, n);
		name[n] = '\0';
		int sec = config_section_parse(name);
		if (sec < 0 || sec == CONFIG_RUN) {
			load_fail(st, "%s:%d: unknown section [%s] (expected log, tracker, proxy, server, "
				  "console, metrics or health)", name);
			return NULL;
		}
		st->cfg->has[sec] = 1;
	}
	return str;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *st = user;
	if (st->failed)
		return 0;
	char origin[600];
	snprintf(origin, sizeof origin, "%s:%d", st->path, st->lineno);
	int sec = config_section_parse(section);
	if (sec < 0 || sec == CONFIG_RUN) {
		snprintf(st->err, st->err_size, "%s: key '%s' is outside any known section", origin,
			 name);
		st->failed = 1;
		return 0;
	}
	if (config_set(st->cfg, (enum config_section)sec, name, value ? value : "", origin, st->err,
		       st->err_size) != 0) {
		st->failed = 1;
		return 0;
	}
	return 1;
}

int config_load_stream(config_t *cfg, FILE *f, const char *name, char *err, size_t err_size)
{
	struct load_state st = {cfg, name, f, 0, err, err_size, 0};
	int rc = ini_parse_stream(ini_read_line, &st, on_ini_entry, &st);
	if (st.failed)
		return -1;
	if (rc != 0) {
		snprintf(err, err_size, "%s:%d: syntax error (expected [section] or key = value)", name,
			 rc > 0 ? rc : st.lineno);
		return -1;
	}
	return 0;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t err_size)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = config_load_stream(cfg, f, path, err, err_size);
	fclose(f);
	if (rc == 0)
		snprintf(cfg->path, sizeof cfg->path, "%s", path);
	return rc;
}

void config_copy_live(config_t *dst, const config_t *src, enum config_section section)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].section == section && keys[i].live)
			memcpy((char *)dst + keys[i].offset, (const char *)src + keys[i].offset,
			       keys[i].size);
}

void config_diff(const config_t *a, const config_t *b,
		 void (*fn)(void *arg, enum config_section section, const char *key, int live),
		 void *arg)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_row *k = &keys[i];
		const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
		int differ = (k->type == KEY_STRING || k->type == KEY_ADDR || k->type == KEY_ACL)
				     ? strcmp(fa, fb) != 0
				     : memcmp(fa, fb, k->size) != 0;
		if (differ)
			fn(arg, k->section, k->name, k->live);
	}
}

int config_validate(const config_t *cfg, char *err, size_t err_size)
{
	if (cfg->has[CONFIG_SERVER] && cfg->server.tracker[0] && !cfg->server.key[0] &&
	    !cfg->server.through_proxy) {
		snprintf(err, err_size, "[server]: a tracker is set, so 'key' is required");
		return -1;
	}
	if (cfg->has[CONFIG_SERVER] && cfg->server.through_proxy && !cfg->server.host[0]) {
		snprintf(err, err_size, "[server]: through_proxy needs 'host' and 'port' of the proxy");
		return -1;
	}
	return 0;
}

void config_print(const config_t *cfg, int (*print)(void *arg, const char *line), void *arg)
{
	static const char *const level_names[] = {"error", "warn", "info", "debug"};
	char line[1200];
	int last = -1;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_row *k = &keys[i];
		if (k->section == CONFIG_RUN) /* command line only */
			continue;
		if ((int)k->section != last) {
			snprintf(line, sizeof line, "%s[%s]", last < 0 ? "" : "\n", section_names[k->section]);
			print(arg, line);
			last = (int)k->section;
		}
		const char *field = (const char *)cfg + k->offset;
		switch (k->type) {
		case KEY_STRING:
		case KEY_ADDR:
		case KEY_ACL:
			snprintf(line, sizeof line, "%s = %s", k->name, field);
			break;
		case KEY_INT:
		case KEY_BOOL:
			snprintf(line, sizeof line, "%s = %d", k->name, *(const int *)field);
			break;
		case KEY_DOUBLE:
			snprintf(line, sizeof line, "%s = %g", k->name, *(const double *)field);
			break;
		case KEY_SIZE:
			snprintf(line, sizeof line, "%s = %llu", k->name,
				 k->size == sizeof(uint64_t) ? (unsigned long long)*(const uint64_t *)field
							     : (unsigned long long)*(const uint32_t *)field);
			break;
		case KEY_LEVEL:
			snprintf(line, sizeof line, "%s = %s", k->name,
				 level_names[*(const enum log_level *)field]);
			break;
		case KEY_CHOICE: {
			char word[32];
			snprintf(line, sizeof line, "%s = %s", k->name,
				 choice_word(key_choices(k), *(const int *)field, word, sizeof word));
			break;
		}
		}
		print(arg, line);
	}
}
