/*
 * logfmt logging.  Lines are assembled in a fixed buffer and written with a
 * single write(2) so that lines from different sources never interleave.
 * libwebsockets' log lines are re-emitted as sub=lws with their text quoted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "log.h"

static enum log_level	 log_level = LOG_INFO;
static char		 log_debug_list[256];

static const char *log_names[] = { "fatal", "error", "warn", "info", "debug" };

/* Set the level by name. */
int
log_set_level(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcasecmp(name, log_names[i]) == 0) {
			log_level = (enum log_level)i;
			return (0);
		}
	}
	return (-1);
}

enum log_level
log_get_level(void)
{
	return (log_level);
}

/* Remember which subsystems print debug lines. */
void
log_set_debug(const char *list)
{
	if (list == NULL)
		list = "";
	snprintf(log_debug_list, sizeof log_debug_list, ",%s,", list);
}

/* Whether debug lines for this subsystem are wanted. */
int
log_debug_enabled(const char *sub)
{
	char	needle[64];

	if (log_level >= LOG_DEBUG)
		return (1);
	if (strstr(log_debug_list, ",all,") != NULL)
		return (1);
	snprintf(needle, sizeof needle, ",%s,", sub);
	return (strstr(log_debug_list, needle) != NULL);
}

/* Quote a logfmt value into a rotating static buffer. */
const char *
logq(const char *s)
{
	static char	 bufs[8][216];
	static int	 next;
	char		*b = bufs[next++ & 7], *p = b;
	char		*end = b + 200;

	if (s == NULL)
		return ("\"\"");
	*p++ = '"';
	for (; *s != '\0' && p < end; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else if (c < 0x20 || c == 0x7f)
			*p++ = '?';
		else
			*p++ = (char)c;
	}
	if (*s != '\0') {
		memcpy(p, "...", 3);
		p += 3;
	}
	*p++ = '"';
	*p = '\0';
	return (b);
}

static void
log_vwrite(enum log_level level, int errnum, const char *sub, const char *fmt,
    va_list ap)
{
	char		line[2048];
	struct timespec	ts;
	struct tm	tm;
	size_t		n;
	int		r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof line - n, ".%03ldZ level=%s sub=%s ",
	    ts.tv_nsec / 1000000, log_names[level], sub);
	if (r > 0)
		n += (size_t)r;
	if (n < sizeof line) {
		r = vsnprintf(line + n, sizeof line - n, fmt, ap);
		if (r > 0)
			n += (size_t)r;
	}
	if (errnum != 0 && n < sizeof line) {
		r = snprintf(line + n, sizeof line - n, " errno=%d error=%s",
		    errnum, logq(strerror(errnum)));
		if (r > 0)
			n += (size_t)r;
	}
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
}

/* Write one log line if the level is enabled. */
void
log_write(enum log_level level, int errnum, const char *sub, const char *fmt,
    ...)
{
	va_list	ap;

	if (level > log_level && !(level == LOG_DEBUG &&
	    log_debug_enabled(sub)))
		return;
	va_start(ap, fmt);
	log_vwrite(level, errnum, sub, fmt, ap);
	va_end(ap);
}

/* Log a fatal error and exit. */
void
log_fatalx(const char *sub, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_FATAL, 0, sub, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_lws_emit(int level, const char *line)
{
	char		 copy[512];
	size_t		 len;
	enum log_level	 l;

	snprintf(copy, sizeof copy, "%s", line);
	len = strlen(copy);
	while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
		copy[--len] = '\0';
	if (level & LLL_ERR)
		l = LOG_ERROR;
	else if (level & LLL_WARN)
		l = LOG_WARN;
	else if (level & LLL_NOTICE)
		l = LOG_INFO;
	else
		l = LOG_DEBUG;
	if (l == LOG_DEBUG && !log_debug_enabled("lws"))
		return;
	log_write(l, 0, "lws", "msg=%s", logq(copy));
}

/* Send libwebsockets' logging through log_write. */
void
log_route_lws(void)
{
	int	levels = LLL_ERR | LLL_WARN;

	if (log_debug_enabled("lws"))
		levels |= LLL_NOTICE | LLL_INFO;
	lws_set_log_level(levels, log_lws_emit);
}
