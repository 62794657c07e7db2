/*
 * Canned replies, in the canned_replies table of schema version 5.
 *
 * A shortcut is [a-z0-9_-]{1,32}; it is stored in lower case and matched
 * without regard to case, so "/Hours" finds "hours".  Expansion replaces
 * only a shortcut at the very start of a reply that is followed by the end
 * or white space; what follows is kept as typed, so "/hours Thanks!"
 * becomes the canned text followed by " Thanks!".  Anything else (a slash
 * in the middle, "/unknown") is left alone and reported as not expanded:
 * whether to send such a text as it is is the caller's choice.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <utf8proc.h>

#include "canned.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

/* Log a failed SQL step and set *cause if asked; returns -1. */
static int
canned_sql_error(struct store *s, const char *what, char **cause)
{
	const char	*err = sqlite3_errmsg(store_db(s));

	log_warnx("canned", "msg=\"%s failed\" error=%s", what, logq(err));
	if (cause != NULL)
		*cause = xasprintf("canned: %s: %s", what, err);
	return (-1);
}

/* Whether s is a valid shortcut, without the slash. */
int
canned_shortcut_ok(const char *s)
{
	size_t	n = 0;

	if (s == NULL)
		return (0);
	for (; *s != '\0'; s++, n++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return (0);
		if (n >= CANNED_SHORTCUT_MAX)
			return (0);
	}
	return (n > 0);
}

/* A lower-case copy of a shortcut (the caller frees). */
static char *
canned_lower(const char *s, size_t len)
{
	char	*p = xstrndup(s, len), *q;

	for (q = p; *q != '\0'; q++)
		*q = tolower((unsigned char)*q);
	return (p);
}

/* Whether text is non-empty UTF-8 of at most CANNED_TEXT_MAX bytes. */
static int
canned_text_ok(const char *text)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)text;
	utf8proc_ssize_t	 len, n;
	utf8proc_int32_t	 c;

	len = (utf8proc_ssize_t)strnlen(text, CANNED_TEXT_MAX + 1);
	if (len == 0 || len > CANNED_TEXT_MAX)
		return (0);
	while (len > 0) {
		n = utf8proc_iterate(p, len, &c);
		if (n <= 0 || (c < 0x20 && c != '\n' && c != '\t' &&
		    c != '\r') || c == 0x7f)
			return (0);
		p += n;
		len -= n;
	}
	return (1);
}

/* Add a canned reply or replace the text of the one with its shortcut. */
int
canned_set(struct store *s, const char *shortcut, const char *text,
    int64_t created_by, int64_t now, char **cause)
{
	sqlite3_stmt	*st;
	char		*key;
	int		 rc;

	if (!canned_shortcut_ok(shortcut)) {
		*cause = xasprintf("bad shortcut (1 to %d of a-z 0-9 _ -)",
		    CANNED_SHORTCUT_MAX);
		return (-1);
	}
	if (text == NULL || !canned_text_ok(text)) {
		*cause = xasprintf("bad canned text (1 to %d bytes of UTF-8, "
		    "no control characters but new lines and tabs)",
		    CANNED_TEXT_MAX);
		return (-1);
	}
	if (store_begin(s) != 0) {
		*cause = xstrdup("canned: the store refused to begin a "
		    "transaction");
		return (-1);
	}
	if (sqlite3_prepare_v2(store_db(s), "INSERT INTO canned_replies"
	    " (shortcut, text, created_by, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (shortcut) DO UPDATE"
	    " SET text = excluded.text, updated_at = excluded.updated_at",
	    -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return (canned_sql_error(s, "prepare", cause));
	}
	key = canned_lower(shortcut, strlen(shortcut));
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	if (created_by > 0)
		sqlite3_bind_int64(st, 3, created_by);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		canned_sql_error(s, "set canned reply", cause);
	sqlite3_finalize(st);
	free(key);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Remove a canned reply: 1, 0 (none), -1. */
int
canned_remove(struct store *s, const char *shortcut)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (!canned_shortcut_ok(shortcut))
		return (0);
	if (store_begin(s) != 0)
		return (-1);
	if (sqlite3_prepare_v2(store_db(s), "DELETE FROM canned_replies"
	    " WHERE shortcut = ?1", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return (canned_sql_error(s, "prepare", NULL));
	}
	sqlite3_bind_text(st, 1, shortcut, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		canned_sql_error(s, "remove canned reply", NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	return (sqlite3_changes(store_db(s)) > 0);
}

/* A reply's text by shortcut of len bytes: 1 and *text, 0, -1. */
static int
canned_lookup(struct store *s, const char *shortcut, size_t len,
    char **text)
{
	sqlite3_stmt	*st;
	int		 rc;

	*text = NULL;
	if ((st = store_cached(s, "SELECT text FROM canned_replies"
	    " WHERE shortcut = ?1")) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, shortcut, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*text = xstrdup((const char *)sqlite3_column_text(st, 0));
	else if (rc != SQLITE_DONE)
		canned_sql_error(s, "find canned reply", NULL);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return (1);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* A reply's text by shortcut: 1 and *text (caller frees), 0, -1. */
int
canned_get(struct store *s, const char *shortcut, char **text)
{
	*text = NULL;
	if (!canned_shortcut_ok(shortcut))
		return (0);
	return (canned_lookup(s, shortcut, strlen(shortcut), text));
}

/* Call fn for every canned reply by shortcut. */
int
canned_list(struct store *s, int (*fn)(void *, const struct canned *),
    void *arg)
{
	sqlite3_stmt	*st;
	struct canned	*v = NULL;
	size_t		 n = 0, i;
	int		 rc;

	if (sqlite3_prepare_v2(store_db(s), "SELECT id, shortcut, text,"
	    " created_by, created_at, updated_at FROM canned_replies"
	    " ORDER BY shortcut", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return (canned_sql_error(s, "prepare", NULL));
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n].id = sqlite3_column_int64(st, 0);
		v[n].shortcut = xstrdup((const char *)
		    sqlite3_column_text(st, 1));
		v[n].text = xstrdup((const char *)sqlite3_column_text(st, 2));
		v[n].created_by = sqlite3_column_int64(st, 3);
		v[n].created_at = sqlite3_column_int64(st, 4);
		v[n].updated_at = sqlite3_column_int64(st, 5);
		n++;
	}
	if (rc != SQLITE_DONE)
		canned_sql_error(s, "list canned replies", NULL);
	sqlite3_finalize(st);
	for (i = 0; rc == SQLITE_DONE && i < n; i++) {
		if (fn(arg, &v[i]) != 0)
			break;
	}
	for (i = 0; i < n; i++) {
		free(v[i].shortcut);
		free(v[i].text);
	}
	free(v);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Expand a leading "/shortcut": 1 and *out, 0 (not one), -1. */
int
canned_expand(struct store *s, const char *text, char **out)
{
	const char	*p;
	char		*body, *key;
	size_t		 len;
	int		 rc;

	*out = NULL;
	if (text == NULL || text[0] != '/')
		return (0);
	for (p = text + 1; *p != '\0' && !isspace((unsigned char)*p); p++)
		/* nothing */;
	len = p - (text + 1);
	if (len == 0 || len > CANNED_SHORTCUT_MAX)
		return (0);
	key = canned_lower(text + 1, len);
	if (!canned_shortcut_ok(key)) {
		free(key);
		return (0);
	}
	rc = canned_lookup(s, key, len, &body);
	free(key);
	if (rc != 1)
		return (rc);
	*out = xasprintf("%s%s", body, p);
	free(body);
	return (1);
}
