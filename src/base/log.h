/* One logging interface for every layer: levels, timestamps, stderr or syslog.
 * The console installs a sink to mirror lines into its event log; services never print directly. */
#ifndef TVMRPC_LOG_H
#define TVMRPC_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 };

/* Extra receiver of every emitted line (after level filtering); used by the console UI. */
typedef void (*log_sink_fn)(void *arg, enum log_level level, const char *line);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info", "debug"; returns 0 or -1. */
int log_level_parse(const char *text, enum log_level *out);
/* Send lines to syslog (ident) instead of stderr; ident NULL goes back to stderr. */
void log_use_syslog(const char *ident);
/* Stop writing to stderr (the console owns the terminal); the sink still receives lines. */
void log_set_quiet(int quiet);
void log_set_sink(log_sink_fn sink, void *arg);
/* Prefix for every line, e.g. "tracker" or "server[1234]". */
void log_set_tag(const char *tag);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Broken invariant: log and abort. Never for peer input. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
