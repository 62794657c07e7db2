/*
 * logfmt logging to stderr: one line per event, key=value fields, never any
 * message text, personal data or secret.  Each line starts with the time,
 * the level and the subsystem ("sub"); the caller's format adds the rest,
 * usually beginning with msg="...".
 */
#ifndef KEFU_LOG_H
#define KEFU_LOG_H

#include <errno.h>

enum log_level {
	LOG_FATAL = 0,
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG
};

/* Set the level ("error", "warn", "info", "debug"); -1 if unknown. */
int	 log_set_level(const char *);
/* Enable debug lines for a comma-separated list of subsystems, or "all". */
void	 log_set_debug(const char *);
int	 log_debug_enabled(const char *);
enum log_level log_get_level(void);

void	 log_write(enum log_level, int, const char *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	 log_fatalx(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

/*
 * Quote a value for a logfmt field: wraps it in double quotes, escapes
 * quotes, backslashes and control characters, truncates at 200 bytes.  The
 * result lives in one of eight rotating static buffers.
 */
const char *logq(const char *);

/* Route libwebsockets' and libcurl's own logging through this module. */
void	 log_route_lws(void);

#define log_error(sub, ...)	log_write(LOG_ERROR, errno, sub, __VA_ARGS__)
#define log_errorx(sub, ...)	log_write(LOG_ERROR, 0, sub, __VA_ARGS__)
#define log_warn(sub, ...)	log_write(LOG_WARN, errno, sub, __VA_ARGS__)
#define log_warnx(sub, ...)	log_write(LOG_WARN, 0, sub, __VA_ARGS__)
#define log_info(sub, ...)	log_write(LOG_INFO, 0, sub, __VA_ARGS__)
#define log_debug(sub, ...) do {					\
	if (log_debug_enabled(sub))					\
		log_write(LOG_DEBUG, 0, sub, __VA_ARGS__);		\
} while (0)

#endif
