/*
 * Allocation wrappers that abort on failure, in the manner of tmux's
 * xmalloc.c: running out of memory is not an error kefu tries to survive.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static void __attribute__((noreturn))
xmalloc_fatal(const char *what, size_t size)
{
	fprintf(stderr, "level=fatal msg=\"%s failed\" size=%zu\n", what, size);
	abort();
}

/* Allocate size bytes (at least one). */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		xmalloc_fatal("malloc", size);
	return (p);
}

/* Allocate a zeroed array of n members of size bytes. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		xmalloc_fatal("calloc", n * size);
	return (p);
}

/* Resize p to size bytes. */
void *
xrealloc(void *p, size_t size)
{
	return (xreallocarray(p, 1, size));
}

/* Resize p to n members of size bytes, checking for overflow. */
void *
xreallocarray(void *p, size_t n, size_t size)
{
	void	*np;

	if (size != 0 && n > SIZE_MAX / size)
		xmalloc_fatal("reallocarray overflow", n);
	if (n * size == 0)
		n = size = 1;
	if ((np = realloc(p, n * size)) == NULL)
		xmalloc_fatal("realloc", n * size);
	return (np);
}

/* Copy a string; the caller frees it. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		xmalloc_fatal("strdup", strlen(s));
	return (p);
}

/* Copy at most n bytes of a string, always terminated; the caller frees it. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		xmalloc_fatal("strndup", n);
	return (p);
}

/* Format into a new string; the caller frees it. */
char *
xvasprintf(const char *fmt, va_list ap)
{
	char	*s;
	int	 n;

	if ((n = vasprintf(&s, fmt, ap)) == -1)
		xmalloc_fatal("vasprintf", 0);
	return (s);
}

/* Format into a new string; the caller frees it. */
char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return (s);
}

/* Format into buf, aborting if the result would not fit. */
int
xsnprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		xmalloc_fatal("snprintf truncated", len);
	return (n);
}
