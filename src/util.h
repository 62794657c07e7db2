/* Small shared helpers. */
#ifndef KEFU_UTIL_H
#define KEFU_UTIL_H

#include <stddef.h>

/*
 * Read a whole file of at most max bytes, NUL-terminated.  Returns it (the
 * caller frees), or NULL with *cause ("PATH: why", caller frees).
 */
char	*file_read(const char *, size_t, char **);

/* A growing NUL-terminated string; zero-initialize, free(s) when done. */
struct dbuf {
	char	*s;
	size_t	 len;
	size_t	 size;
};

/* Append len bytes of s. */
void	 dbuf_add(struct dbuf *, const char *, size_t);

#endif
