/*
 * Small helpers shared by modules that load files at start-up and on
 * SIGHUP (templates, the FAQ).  Nothing here runs on a hot path.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xmalloc.h"

/* Read a whole file of at most max bytes; the caller frees the result. */
char *
file_read(const char *path, size_t max, char **cause)
{
	FILE		*f;
	struct stat	 sb;
	char		*buf;
	size_t		 n;

	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fileno(f), &sb) != 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		fclose(f);
		return (NULL);
	}
	if (sb.st_size < 0 || (size_t)sb.st_size > max) {
		*cause = xasprintf("%s: larger than %zu bytes", path, max);
		fclose(f);
		return (NULL);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	n = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		*cause = xasprintf("%s: read error", path);
		fclose(f);
		free(buf);
		return (NULL);
	}
	fclose(f);
	buf[n] = '\0';
	return (buf);
}

/* Append len bytes to a growing buffer, keeping it NUL-terminated. */
void
dbuf_add(struct dbuf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->size) {
		b->size = (b->len + len + 1) * 2;
		b->s = xrealloc(b->s, b->size);
	}
	if (len > 0)
		memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}
