/*
 * Canned replies: text an agent inserts by typing /shortcut at the start
 * of a reply.  Return conventions as in store.h.
 */
#ifndef KEFU_CANNED_H
#define KEFU_CANNED_H

#include <stdint.h>

struct store;

#define CANNED_SHORTCUT_MAX	32		/* [A-Za-z0-9_-], any case */
#define CANNED_TEXT_MAX		(16 * 1024)	/* bytes of UTF-8 */

struct canned {
	int64_t	 id;
	char	*shortcut;
	char	*text;
	int64_t	 created_by;	/* agent id; 0 none */
	int64_t	 created_at;
	int64_t	 updated_at;
};

/* Whether a string is a valid shortcut (without the slash). */
int	canned_shortcut_ok(const char *);
/*
 * Add the reply, or replace the text of the one with this shortcut (kept
 * in lower case; shortcuts match in any case); created_by is an agent id
 * or 0.
 */
int	canned_set(struct store *, const char *, const char *, int64_t,
	    int64_t, char **);
/* Remove a reply: 1, 0 (none), -1. */
int	canned_remove(struct store *, const char *);
/* A reply's text by shortcut: 1 and *text (caller frees), 0, -1. */
int	canned_get(struct store *, const char *, char **);
/* Call fn for every reply by shortcut; fn returns 0 to go on, -1 to stop. */
int	canned_list(struct store *, int (*)(void *, const struct canned *),
	    void *);
/*
 * Expand a reply that starts with "/shortcut" (followed by the end or
 * white space): 1 and *out (caller frees) with the shortcut replaced by
 * its text and the rest kept; 0 if the text does not start with a known
 * shortcut (*out NULL); -1 on error.
 */
int	canned_expand(struct store *, const char *, char **);

#endif
