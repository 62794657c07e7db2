/*
 * Accounts and access for the shared inbox, over the tables of schema
 * version 5 (store.c creates them; docs/auth.md describes them).
 *
 * Passwords are hashed with libsodium's crypto_pwhash_str_alg using
 * argon2id (crypto_pwhash_ALG_ARGON2ID13) at the INTERACTIVE limits: 2
 * passes over 64 MiB, about 0.1 s on a current CPU.  The resulting string
 * ("$argon2id$v=19$m=65536,t=2,p=1$...") carries its own salt and
 * parameters; a hash made with other parameters is redone at the next
 * successful login.  A login for a name that does not exist, or for a
 * disabled agent, is checked against a dummy hash of the same cost, so it
 * takes as long and gets the same answer as a wrong password.
 *
 * Sessions and API tokens are 32 bytes from randombytes_buf written as
 * base64url (sodium_bin2base64); the tables keep only their SHA-256, so a
 * copy of the database lets nobody in.  A session also has a CSRF token,
 * kept in the clear (it is worth nothing without the session), compared in
 * constant time.  A session ends on logout, after idle_ms without use
 * (the caller's inbox.session_idle), after AUTH_SESSION_LIFETIME_MS in
 * any case, when its agent is disabled or its password changes.  Use is
 * written back at most once a minute, so a busy inbox does not write a row
 * per request; a session may therefore end up to a minute early.
 *
 * Throttling counts failed logins per name (including names that do not
 * exist, so the throttle says nothing about which do) and per client key
 * (the caller's remote address): 5 failures for a name, or 20 from one
 * client, within 15 minutes lock that key for a minute, doubling with each
 * further lock up to an hour.  While a key is locked, even the right
 * password is refused without being checked.  A success forgets the
 * name's failures, not the client's.  Records are forgotten a day after
 * their last failure (auth_purge).
 *
 * The role matrix (auth_allowed): an admin may do everything; an agent
 * everything but managing agents, API tokens and canned replies.  On a
 * conversation (auth_allowed_on) an agent may also only reply to, resolve
 * or hand back one assigned to them, claim or assign one that is
 * unassigned or theirs, and take over (AUTH_TAKEOVER, recorded by the
 * caller) one that is someone else's; viewing, notes and reopening are
 * open to all.  A disabled agent may do nothing.
 *
 * Statements on hot paths (checking a session or token, looking an agent
 * up) use store_cached; the rest are prepared per call, to leave the
 * store's statement cache to the modules that need it.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>
#include <utf8proc.h>

#include "auth.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

/* argon2id, 2 passes over 64 MiB: libsodium's INTERACTIVE limits. */
#define AUTH_OPSLIMIT	crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define AUTH_MEMLIMIT	crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE
#define AUTH_ALG	crypto_pwhash_ALG_ARGON2ID13

#define AUTH_TOKEN_BYTES		32
#define AUTH_TOKEN_INPUT_MAX		128	/* longer: not ours */
#define AUTH_SESSION_LIFETIME_MS	(7LL * 24 * 3600 * 1000)
#define AUTH_SESSIONS_PER_AGENT		20	/* older ones end */
#define AUTH_TOUCH_MS			(60 * 1000)
#define AUTH_MAX_OPEN_LIMIT		1000

#define AUTH_FAIL_WINDOW_MS	(15 * 60 * 1000)
#define AUTH_FAIL_NAME_MAX	5
#define AUTH_FAIL_CLIENT_MAX	20
#define AUTH_LOCK_BASE_MS	(60 * 1000)
#define AUTH_LOCK_MAX_MS	(3600 * 1000)
#define AUTH_FAIL_FORGET_MS	(24 * 3600 * 1000)
#define AUTH_CLIENT_KEY_MAX	128

#define AGENT_COLUMNS	"a.id, a.name, a.display_name, a.role, a.disabled, " \
	"a.max_open, a.created_at, a.last_seen_at"

_Static_assert(AUTH_HASH_MAX == crypto_pwhash_STRBYTES,
    "AUTH_HASH_MAX must be crypto_pwhash_STRBYTES");
_Static_assert(AUTH_TOKEN_LEN + 1 == sodium_base64_ENCODED_LEN(
    AUTH_TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
    "AUTH_TOKEN_LEN must fit base64url of AUTH_TOKEN_BYTES");

/* Which roles may do what; see the comment at the top. */
static const struct {
	enum auth_action	action;
	int			agent;
	int			admin;
} auth_matrix[] = {
	{ AUTH_VIEW,		1, 1 },
	{ AUTH_NOTE,		1, 1 },
	{ AUTH_REPLY,		1, 1 },
	{ AUTH_CLAIM,		1, 1 },
	{ AUTH_TAKEOVER,	1, 1 },
	{ AUTH_ASSIGN,		1, 1 },
	{ AUTH_HANDBACK,	1, 1 },
	{ AUTH_RESOLVE,		1, 1 },
	{ AUTH_REOPEN,		1, 1 },
	{ AUTH_MANAGE_AGENTS,	0, 1 },
	{ AUTH_MANAGE_CANNED,	0, 1 },
};

/* The hash a login for an unknown name is checked against. */
static char	auth_dummy[AUTH_HASH_MAX];

/* Log a failed SQL step and set *cause if asked; returns -1. */
static int
auth_sql_error(struct store *s, const char *what, char **cause)
{
	const char	*err = sqlite3_errmsg(store_db(s));

	log_warnx("auth", "msg=\"%s failed\" error=%s", what, logq(err));
	if (cause != NULL)
		*cause = xasprintf("auth: %s: %s", what, err);
	return (-1);
}

/* A one-off statement (finalize it after use); NULL with *cause. */
static sqlite3_stmt *
auth_prepare(struct store *s, const char *sql, char **cause)
{
	sqlite3_stmt	*st = NULL;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) !=
	    SQLITE_OK) {
		auth_sql_error(s, "prepare", cause);
		sqlite3_finalize(st);
		return (NULL);
	}
	return (st);
}

/* A cached statement for a hot path (reset it after use); NULL, *cause. */
static sqlite3_stmt *
auth_cached(struct store *s, const char *sql, char **cause)
{
	sqlite3_stmt	*st;

	if ((st = store_cached(s, sql)) == NULL && cause != NULL)
		*cause = xasprintf("auth: prepare: %s",
		    sqlite3_errmsg(store_db(s)));
	return (st);
}

/* Open the loop turn's transaction; -1 with *cause. */
static int
auth_begin(struct store *s, char **cause)
{
	if (store_begin(s) != 0) {
		if (cause != NULL)
			*cause = xstrdup("auth: the store refused to begin a "
			    "transaction");
		return (-1);
	}
	return (0);
}

/* Make sure libsodium is ready; -1 with *cause. */
static int
auth_sodium(char **cause)
{
	if (sodium_init() < 0) {
		if (cause != NULL)
			*cause = xstrdup("auth: libsodium failed to start");
		return (-1);
	}
	return (0);
}

/* Hash a password; -1 with *cause (out of memory: 64 MiB are needed). */
static int
auth_hash(const char *password, char out[AUTH_HASH_MAX], char **cause)
{
	if (auth_sodium(cause) != 0)
		return (-1);
	if (crypto_pwhash_str_alg(out, password, strlen(password),
	    AUTH_OPSLIMIT, AUTH_MEMLIMIT, AUTH_ALG) != 0) {
		*cause = xstrdup("auth: password hashing failed (out of "
		    "memory?)");
		return (-1);
	}
	return (0);
}

/* A fresh random token, base64url without padding. */
static void
auth_random(char out[AUTH_TOKEN_LEN + 1])
{
	unsigned char	b[AUTH_TOKEN_BYTES];

	randombytes_buf(b, sizeof b);
	sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, b, sizeof b,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(b, sizeof b);
}

/* Make the dummy hash once; -1 with *cause. */
static int
auth_dummy_hash(char **cause)
{
	char	pw[AUTH_TOKEN_LEN + 1];
	int	rc;

	if (auth_dummy[0] != '\0')
		return (0);
	if (auth_sodium(cause) != 0)
		return (-1);
	auth_random(pw);
	rc = auth_hash(pw, auth_dummy, cause);
	sodium_memzero(pw, sizeof pw);
	return (rc);
}

/* The SHA-256 of a token as it is stored. */
static void
auth_token_digest(const char *token,
    unsigned char out[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

/* Whether a string is acceptable as a token at all (cheap checks). */
static int
auth_token_plausible(const char *token)
{
	size_t	len;

	if (token == NULL)
		return (0);
	len = strnlen(token, AUTH_TOKEN_INPUT_MAX + 1);
	return (len > 0 && len <= AUTH_TOKEN_INPUT_MAX);
}

/* The role's name. */
const char *
agent_role_name(enum agent_role role)
{
	return (role == AGENT_ROLE_ADMIN ? "admin" : "agent");
}

/* Parse a role name: 0 and *role, or -1. */
int
agent_role_parse(const char *name, enum agent_role *role)
{
	if (name == NULL)
		return (-1);
	if (strcmp(name, "admin") == 0)
		*role = AGENT_ROLE_ADMIN;
	else if (strcmp(name, "agent") == 0)
		*role = AGENT_ROLE_AGENT;
	else
		return (-1);
	return (0);
}

/* Free an agent's strings and zero it. */
void
agent_clear(struct agent *a)
{
	free(a->name);
	free(a->display_name);
	memset(a, 0, sizeof *a);
}

/* Whether a name is [a-z0-9._-]{1,64}. */
int
auth_name_ok(const char *name)
{
	size_t	n = 0;

	if (name == NULL)
		return (0);
	for (; *name != '\0'; name++, n++) {
		if (!islower((unsigned char)*name) &&
		    !isdigit((unsigned char)*name) &&
		    *name != '.' && *name != '_' && *name != '-')
			return (0);
		if (n >= AUTH_NAME_MAX)
			return (0);
	}
	return (n > 0);
}

/* Whether a display name is valid UTF-8 without control characters. */
static int
auth_display_ok(const char *s)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)s;
	utf8proc_ssize_t	 len = (utf8proc_ssize_t)strlen(s), n;
	utf8proc_int32_t	 c;

	if (len == 0 || len > AUTH_DISPLAY_MAX)
		return (0);
	while (len > 0) {
		n = utf8proc_iterate(p, len, &c);
		if (n <= 0 || c < 0x20 || c == 0x7f ||
		    utf8proc_category(c) == UTF8PROC_CATEGORY_CC)
			return (0);
		p += n;
		len -= n;
	}
	return (1);
}

/* Check a new password's length; -1 with *cause. */
static int
auth_password_ok(const char *password, char **cause)
{
	size_t	len;

	if (password == NULL) {
		*cause = xstrdup("no password");
		return (-1);
	}
	len = strnlen(password, AUTH_PASSWORD_MAX + 1);
	if (len < AUTH_PASSWORD_MIN || len > AUTH_PASSWORD_MAX) {
		*cause = xasprintf("a password must have %d to %d bytes",
		    AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
		return (-1);
	}
	return (0);
}

/* A text column as a new string ("" for NULL). */
static char *
auth_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return (xstrdup(t != NULL ? (const char *)t : ""));
}

/* Fill an agent from AGENT_COLUMNS starting at column i. */
static void
agent_from_row(sqlite3_stmt *st, int i, struct agent *a)
{
	memset(a, 0, sizeof *a);
	a->id = sqlite3_column_int64(st, i);
	a->name = auth_col_text(st, i + 1);
	a->display_name = auth_col_text(st, i + 2);
	if (agent_role_parse((const char *)sqlite3_column_text(st, i + 3),
	    &a->role) != 0)
		a->role = AGENT_ROLE_AGENT;
	a->disabled = sqlite3_column_int(st, i + 4) != 0;
	a->max_open = sqlite3_column_int(st, i + 5);
	a->created_at = sqlite3_column_int64(st, i + 6);
	a->last_seen_at = sqlite3_column_int64(st, i + 7);
}

/* Step a one-row agent query and reset it: 1 and *a, 0, -1. */
static int
auth_agent_row(struct store *s, sqlite3_stmt *st, struct agent *a)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		agent_from_row(st, 0, a);
		sqlite3_reset(st);
		return (1);
	}
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "read agent", NULL);
	sqlite3_reset(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* An agent by id: 1 and *a (caller clears), 0, -1. */
int
auth_agent_get(struct store *s, int64_t id, struct agent *a)
{
	sqlite3_stmt	*st;

	if ((st = auth_cached(s, "SELECT " AGENT_COLUMNS " FROM agents a"
	    " WHERE a.id = ?1", NULL)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	return (auth_agent_row(s, st, a));
}

/* An agent by name, case-insensitive: 1 and *a (caller clears), 0, -1. */
int
auth_agent_find(struct store *s, const char *name, struct agent *a)
{
	sqlite3_stmt	*st;

	if ((st = auth_cached(s, "SELECT " AGENT_COLUMNS " FROM agents a"
	    " WHERE a.name = ?1", NULL)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return (auth_agent_row(s, st, a));
}

/* Call fn for every agent by name; fn returns 0 to go on, -1 to stop. */
int
auth_agent_list(struct store *s, int (*fn)(void *, const struct agent *),
    void *arg)
{
	sqlite3_stmt	*st;
	struct agent	*v = NULL;
	size_t		 n = 0, i;
	int		 rc;

	if ((st = auth_prepare(s, "SELECT " AGENT_COLUMNS " FROM agents a"
	    " ORDER BY a.name", NULL)) == NULL)
		return (-1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof *v);
		agent_from_row(st, 0, &v[n++]);
	}
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "list agents", NULL);
	sqlite3_finalize(st);
	for (i = 0; rc == SQLITE_DONE && i < n; i++) {
		if (fn(arg, &v[i]) != 0)
			break;
	}
	for (i = 0; i < n; i++)
		agent_clear(&v[i]);
	free(v);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/*
 * Whether another enabled admin than agent id exists: 1, 0, -1.  Used to
 * refuse locking the last admin out.
 */
static int
auth_other_admin(struct store *s, int64_t id, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc, n = 0;

	if ((st = auth_prepare(s, "SELECT count(*) FROM agents WHERE"
	    " role = 'admin' AND disabled = 0 AND id <> ?1", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	else
		auth_sql_error(s, "count admins", cause);
	sqlite3_finalize(st);
	return (rc == SQLITE_ROW ? n > 0 : -1);
}

/* Add an agent with an argon2id password hash; sets *id. */
int
auth_agent_add(struct store *s, const char *name, const char *display,
    enum agent_role role, const char *password, int64_t now, int64_t *id,
    char **cause)
{
	struct agent	 a;
	sqlite3_stmt	*st;
	char		 hash[AUTH_HASH_MAX];
	int		 rc;

	if (!auth_name_ok(name)) {
		*cause = xasprintf("bad agent name (1 to %d of a-z 0-9 . _ -)",
		    AUTH_NAME_MAX);
		return (-1);
	}
	if (display == NULL)
		display = name;
	if (!auth_display_ok(display)) {
		*cause = xasprintf("bad display name (1 to %d bytes of UTF-8, "
		    "no control characters)", AUTH_DISPLAY_MAX);
		return (-1);
	}
	if (auth_password_ok(password, cause) != 0)
		return (-1);
	if ((rc = auth_agent_find(s, name, &a)) != 0) {
		if (rc == 1) {
			agent_clear(&a);
			*cause = xasprintf("agent %s exists", name);
		} else
			*cause = xstrdup("auth: could not read the agents");
		return (-1);
	}
	/* Hash before the transaction: it takes a tenth of a second. */
	if (auth_hash(password, hash, cause) != 0)
		return (-1);
	if (auth_begin(s, cause) != 0)
		return (-1);
	if ((st = auth_prepare(s, "INSERT INTO agents (name, display_name,"
	    " role, password_hash, max_open, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, display, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, agent_role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, AUTH_MAX_OPEN_DEFAULT);
	sqlite3_bind_int64(st, 6, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "add agent", cause);
	sqlite3_finalize(st);
	sodium_memzero(hash, sizeof hash);
	if (rc != SQLITE_DONE)
		return (-1);
	*id = sqlite3_last_insert_rowid(store_db(s));
	log_info("auth", "msg=\"agent added\" agent=%s role=%s", logq(name),
	    agent_role_name(role));
	return (0);
}

/* Delete the throttle record of a key; 1, 0, -1. */
static int
auth_forget(struct store *s, const char *key, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (auth_begin(s, cause) != 0)
		return (-1);
	if ((st = auth_prepare(s, "DELETE FROM login_failures WHERE"
	    " key = ?1", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "forget login failures", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	return (sqlite3_changes(store_db(s)) > 0);
}

/* The throttle key of a name: "name:" and the name in lower case. */
static char *
auth_name_key(const char *name)
{
	char	*key = xasprintf("name:%s", name);
	char	*p;

	for (p = key; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	return (key);
}

/* Set an agent's password and end its sessions; 1, 0 (no agent), -1. */
int
auth_agent_passwd(struct store *s, const char *name, const char *password,
    int64_t now, char **cause)
{
	struct agent	 a;
	sqlite3_stmt	*st;
	char		 hash[AUTH_HASH_MAX], *key;
	int		 rc;

	if (auth_password_ok(password, cause) != 0)
		return (-1);
	if ((rc = auth_agent_find(s, name, &a)) != 1) {
		if (rc < 0)
			*cause = xstrdup("auth: could not read the agents");
		return (rc);
	}
	if (auth_hash(password, hash, cause) != 0) {
		agent_clear(&a);
		return (-1);
	}
	rc = -1;
	if (auth_begin(s, cause) != 0)
		goto out;
	if ((st = auth_prepare(s, "UPDATE agents SET password_hash = ?2,"
	    " updated_at = ?3 WHERE id = ?1", cause)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, a.id);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		auth_sql_error(s, "set password", cause);
		sqlite3_finalize(st);
		goto out;
	}
	sqlite3_finalize(st);
	if (auth_logout_agent(s, a.id) < 0) {
		*cause = xstrdup("auth: could not end the agent's sessions");
		goto out;
	}
	/* An admin setting a password also lifts a lock on the name. */
	key = auth_name_key(a.name);
	rc = auth_forget(s, key, cause);
	free(key);
	if (rc < 0)
		goto out;
	log_info("auth", "msg=\"password changed\" agent=%s", logq(a.name));
	rc = 1;
out:
	sodium_memzero(hash, sizeof hash);
	agent_clear(&a);
	return (rc);
}

/* Disable (1) or enable (0) an agent; 1, 0 (no agent), -1. */
int
auth_agent_set_disabled(struct store *s, const char *name, int disabled,
    int64_t now, char **cause)
{
	struct agent	 a;
	sqlite3_stmt	*st;
	int		 rc;

	if ((rc = auth_agent_find(s, name, &a)) != 1) {
		if (rc < 0)
			*cause = xstrdup("auth: could not read the agents");
		return (rc);
	}
	rc = -1;
	if (disabled && a.role == AGENT_ROLE_ADMIN && !a.disabled) {
		if ((rc = auth_other_admin(s, a.id, cause)) != 1) {
			if (rc == 0)
				*cause = xasprintf("%s is the last enabled "
				    "admin", a.name);
			rc = -1;
			goto out;
		}
	}
	if (auth_begin(s, cause) != 0)
		goto out;
	if ((st = auth_prepare(s, "UPDATE agents SET disabled = ?2,"
	    " updated_at = ?3 WHERE id = ?1", cause)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, a.id);
	sqlite3_bind_int(st, 2, disabled != 0);
	sqlite3_bind_int64(st, 3, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		auth_sql_error(s, "disable agent", cause);
		sqlite3_finalize(st);
		goto out;
	}
	sqlite3_finalize(st);
	if (disabled && auth_logout_agent(s, a.id) < 0) {
		*cause = xstrdup("auth: could not end the agent's sessions");
		goto out;
	}
	log_info("auth", "msg=\"agent %s\" agent=%s",
	    disabled ? "disabled" : "enabled", logq(a.name));
	rc = 1;
out:
	agent_clear(&a);
	return (rc);
}

/* Change an agent's role, display name or max_open; 1, 0, -1. */
int
auth_agent_update(struct store *s, const char *name,
    const enum agent_role *role, const char *display, int max_open,
    int64_t now, char **cause)
{
	struct agent	 a;
	sqlite3_stmt	*st;
	int		 rc;

	if (display != NULL && !auth_display_ok(display)) {
		*cause = xasprintf("bad display name (1 to %d bytes of UTF-8, "
		    "no control characters)", AUTH_DISPLAY_MAX);
		return (-1);
	}
	if (max_open > AUTH_MAX_OPEN_LIMIT) {
		*cause = xasprintf("max_open must be 0 to %d",
		    AUTH_MAX_OPEN_LIMIT);
		return (-1);
	}
	if ((rc = auth_agent_find(s, name, &a)) != 1) {
		if (rc < 0)
			*cause = xstrdup("auth: could not read the agents");
		return (rc);
	}
	rc = -1;
	if (role != NULL && *role != AGENT_ROLE_ADMIN &&
	    a.role == AGENT_ROLE_ADMIN && !a.disabled) {
		if ((rc = auth_other_admin(s, a.id, cause)) != 1) {
			if (rc == 0)
				*cause = xasprintf("%s is the last enabled "
				    "admin", a.name);
			rc = -1;
			goto out;
		}
		rc = -1;
	}
	if (auth_begin(s, cause) != 0)
		goto out;
	if ((st = auth_prepare(s, "UPDATE agents SET"
	    " role = coalesce(?2, role),"
	    " display_name = coalesce(?3, display_name),"
	    " max_open = CASE WHEN ?4 >= 0 THEN ?4 ELSE max_open END,"
	    " updated_at = ?5 WHERE id = ?1", cause)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, a.id);
	if (role != NULL)
		sqlite3_bind_text(st, 2, agent_role_name(*role), -1,
		    SQLITE_STATIC);
	if (display != NULL)
		sqlite3_bind_text(st, 3, display, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, max_open);
	sqlite3_bind_int64(st, 5, now);
	if (sqlite3_step(st) != SQLITE_DONE) {
		auth_sql_error(s, "update agent", cause);
		sqlite3_finalize(st);
		goto out;
	}
	sqlite3_finalize(st);
	log_info("auth", "msg=\"agent changed\" agent=%s", logq(a.name));
	rc = 1;
out:
	agent_clear(&a);
	return (rc);
}

/*
 * Whether key is locked at now: 1 and *until (the latest end), 0, -1.
 */
static int
auth_locked(struct store *s, const char *key, int64_t now, int64_t *until,
    char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 t = 0;
	int		 rc;

	if ((st = auth_cached(s, "SELECT locked_until FROM login_failures"
	    " WHERE key = ?1", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		auth_sql_error(s, "read login failures", cause);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return (-1);
	if (t > now) {
		if (t > *until)
			*until = t;
		return (1);
	}
	return (0);
}

/* Count a failed login against key, locking it at limit failures. */
static int
auth_fail(struct store *s, const char *key, int limit, int64_t now,
    char **cause)
{
	sqlite3_stmt	*st;
	int64_t		 failures = 0, start = now, lockouts = 0, until = 0;
	int64_t		 updated = now, lock, i;
	int		 rc;

	if (auth_begin(s, cause) != 0)
		return (-1);
	if ((st = auth_prepare(s, "SELECT failures, window_start, lockouts,"
	    " locked_until, updated_at FROM login_failures WHERE key = ?1",
	    cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		failures = sqlite3_column_int64(st, 0);
		start = sqlite3_column_int64(st, 1);
		lockouts = sqlite3_column_int64(st, 2);
		until = sqlite3_column_int64(st, 3);
		updated = sqlite3_column_int64(st, 4);
	} else if (rc != SQLITE_DONE)
		auth_sql_error(s, "read login failures", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return (-1);

	if (now - updated > AUTH_FAIL_FORGET_MS)
		lockouts = 0;
	if (now - start >= AUTH_FAIL_WINDOW_MS) {
		failures = 0;
		start = now;
	}
	if (++failures >= limit) {
		lockouts++;
		lock = AUTH_LOCK_BASE_MS;
		for (i = 1; i < lockouts && lock < AUTH_LOCK_MAX_MS; i++)
			lock *= 2;
		if (lock > AUTH_LOCK_MAX_MS)
			lock = AUTH_LOCK_MAX_MS;
		until = now + lock;
		failures = 0;
		start = now;
	}

	if ((st = auth_prepare(s, "INSERT OR REPLACE INTO login_failures"
	    " (key, failures, window_start, lockouts, locked_until,"
	    " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, failures);
	sqlite3_bind_int64(st, 3, start);
	sqlite3_bind_int64(st, 4, lockouts);
	sqlite3_bind_int64(st, 5, until);
	sqlite3_bind_int64(st, 6, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "count login failure", cause);
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* The throttle key of an attempt's client, or NULL. */
static char *
auth_client_key(const struct auth_attempt *at)
{
	if (at->client_key == NULL)
		return (NULL);
	return (xasprintf("client:%s", at->client_key));
}

/* Step 1 of a login: the name and the throttle. */
int
auth_login_begin(struct store *s, const char *name, const char *client_key,
    int64_t now, struct auth_attempt *at, int64_t *retry_after, char **cause)
{
	sqlite3_stmt	*st;
	char		*key;
	int64_t		 until = 0;
	size_t		 i, len;
	int		 rc, locked = 0;

	memset(at, 0, sizeof *at);
	*retry_after = 0;
	if (auth_dummy_hash(cause) != 0)
		return (-1);
	len = name != NULL ? strnlen(name, AUTH_NAME_MAX + 1) : 0;
	if (len <= AUTH_NAME_MAX) {
		for (i = 0; i < len; i++)
			at->name[i] = tolower((unsigned char)name[i]);
		at->name[len] = '\0';
		if (!auth_name_ok(at->name))
			at->name[0] = '\0';
	}
	if (client_key != NULL && *client_key != '\0')
		at->client_key = xstrndup(client_key, AUTH_CLIENT_KEY_MAX);

	if (at->name[0] != '\0') {
		key = auth_name_key(at->name);
		rc = auth_locked(s, key, now, &until, cause);
		free(key);
		if (rc < 0)
			return (-1);
		locked |= rc;
	}
	if ((key = auth_client_key(at)) != NULL) {
		rc = auth_locked(s, key, now, &until, cause);
		free(key);
		if (rc < 0)
			return (-1);
		locked |= rc;
	}
	if (locked) {
		at->throttled = 1;
		*retry_after = until - now;
		log_warnx("auth", "msg=\"login throttled\" retry_after_ms=%lld",
		    (long long)*retry_after);
		return (AUTH_THROTTLED);
	}

	/* Unknown and disabled agents are checked against the dummy. */
	memcpy(at->hash, auth_dummy, sizeof at->hash);
	if (at->name[0] == '\0')
		return (1);
	if ((st = auth_cached(s, "SELECT id, password_hash FROM agents"
	    " WHERE name = ?1 AND disabled = 0", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, at->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *h = sqlite3_column_text(st, 1);

		if (h != NULL && strlen((const char *)h) < sizeof at->hash) {
			at->agent_id = sqlite3_column_int64(st, 0);
			memcpy(at->hash, h, strlen((const char *)h) + 1);
		} else
			log_warnx("auth", "msg=\"stored hash unusable\" "
			    "agent=%s", logq(at->name));
	} else if (rc != SQLITE_DONE)
		auth_sql_error(s, "find agent", cause);
	sqlite3_reset(st);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE ? 1 : -1);
}

/* Step 2 of a login: the password check, with no store access. */
void
auth_login_verify(struct auth_attempt *at, const char *password)
{
	size_t	len;
	int	ok;

	at->verified = 0;
	if (at->hash[0] == '\0' || at->throttled || password == NULL)
		return;
	len = strnlen(password, AUTH_PASSWORD_MAX + 1);
	/* Check even a hopeless password, so it takes the same time. */
	ok = crypto_pwhash_str_verify(at->hash, password,
	    len > AUTH_PASSWORD_MAX ? AUTH_PASSWORD_MAX : len) == 0;
	at->verified = ok && at->agent_id != 0 && len <= AUTH_PASSWORD_MAX;
	if (!at->verified || crypto_pwhash_str_needs_rehash(at->hash,
	    AUTH_OPSLIMIT, AUTH_MEMLIMIT) == 0)
		return;
	at->rehash = xmalloc(AUTH_HASH_MAX);
	if (crypto_pwhash_str_alg(at->rehash, password, len, AUTH_OPSLIMIT,
	    AUTH_MEMLIMIT, AUTH_ALG) != 0) {
		free(at->rehash);
		at->rehash = NULL;
	}
}

/* Record a failed login against the name and the client; 0 or -1. */
static int
auth_login_failed(struct store *s, const struct auth_attempt *at,
    int64_t now, char **cause)
{
	char	*key;
	int	 rc = 0;

	if (at->name[0] != '\0') {
		key = auth_name_key(at->name);
		rc = auth_fail(s, key, AUTH_FAIL_NAME_MAX, now, cause);
		free(key);
	}
	if (rc == 0 && (key = auth_client_key(at)) != NULL) {
		rc = auth_fail(s, key, AUTH_FAIL_CLIENT_MAX, now, cause);
		free(key);
	}
	log_info("auth", "msg=\"login failed\" agent=%s",
	    at->agent_id != 0 ? logq(at->name) : "-");
	return (rc);
}

/* Whether the agent is enabled and its hash is still hash: 1, 0, -1. */
static int
auth_hash_current(struct store *s, int64_t id, const char *hash,
    char **cause)
{
	sqlite3_stmt		*st;
	const unsigned char	*h;
	int			 rc, same = 0;

	if ((st = auth_prepare(s, "SELECT password_hash FROM agents"
	    " WHERE id = ?1 AND disabled = 0", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		h = sqlite3_column_text(st, 0);
		same = h != NULL && strcmp((const char *)h, hash) == 0;
	} else if (rc != SQLITE_DONE)
		auth_sql_error(s, "read agent", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return (-1);
	return (same);
}

/* Create a session for an agent, filling out's token, csrf and expiry. */
static int
auth_session_new(struct store *s, int64_t agent_id, int64_t now,
    struct auth_session *out, char **cause)
{
	unsigned char	 digest[crypto_hash_sha256_BYTES];
	sqlite3_stmt	*st;
	int		 rc;

	auth_random(out->token);
	auth_random(out->csrf);
	out->expires_at = now + AUTH_SESSION_LIFETIME_MS;
	auth_token_digest(out->token, digest);
	if (auth_begin(s, cause) != 0)
		return (-1);
	if ((st = auth_prepare(s, "INSERT INTO sessions (token_hash,"
	    " agent_id, csrf, created_at, last_used_at, expires_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?4, ?5)", cause)) == NULL)
		return (-1);
	sqlite3_bind_blob(st, 1, digest, sizeof digest, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, agent_id);
	sqlite3_bind_text(st, 3, out->csrf, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, out->expires_at);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "add session", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);

	/* Keep the agent's newest sessions only. */
	if ((st = auth_prepare(s, "DELETE FROM sessions WHERE agent_id = ?1"
	    " AND id NOT IN (SELECT id FROM sessions WHERE agent_id = ?1"
	    " ORDER BY last_used_at DESC, id DESC LIMIT ?2)", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, agent_id);
	sqlite3_bind_int(st, 2, AUTH_SESSIONS_PER_AGENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "prune sessions", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);

	if ((st = auth_prepare(s, "UPDATE agents SET last_seen_at = ?2"
	    " WHERE id = ?1", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, agent_id);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "touch agent", cause);
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Store a better hash of a password that just verified. */
static int
auth_rehash(struct store *s, const struct auth_attempt *at, int64_t now,
    char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (auth_begin(s, cause) != 0)
		return (-1);
	if ((st = auth_prepare(s, "UPDATE agents SET password_hash = ?2,"
	    " updated_at = ?3 WHERE id = ?1", cause)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, at->agent_id);
	sqlite3_bind_text(st, 2, at->rehash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "rehash password", cause);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		log_info("auth", "msg=\"password rehashed\" agent=%s",
		    logq(at->name));
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Step 3 of a login: count a failure or open a session. */
int
auth_login_finish(struct store *s, struct auth_attempt *at, int64_t now,
    struct auth_session *out, char **cause)
{
	char	*key;
	int	 rc;

	memset(out, 0, sizeof *out);
	if (at->throttled || at->hash[0] == '\0') {
		*cause = xstrdup("auth: login attempt not begun");
		return (-1);
	}
	if (at->verified) {
		/* The agent may have been disabled or changed meanwhile. */
		if ((rc = auth_hash_current(s, at->agent_id, at->hash,
		    cause)) < 0)
			return (-1);
		if (rc == 0)
			at->verified = 0;
	}
	if (!at->verified)
		return (auth_login_failed(s, at, now, cause) == 0 ? 0 : -1);

	if (at->rehash != NULL && auth_rehash(s, at, now, cause) != 0)
		return (-1);
	key = auth_name_key(at->name);
	rc = auth_forget(s, key, cause);
	free(key);
	if (rc < 0)
		return (-1);
	if (auth_session_new(s, at->agent_id, now, out, cause) != 0) {
		auth_session_clear(out);
		return (-1);
	}
	if (auth_agent_get(s, at->agent_id, &out->agent) != 1) {
		auth_session_clear(out);
		*cause = xstrdup("auth: could not read the agent");
		return (-1);
	}
	log_info("auth", "msg=\"login\" agent=%s", logq(at->name));
	return (1);
}

/* Free an attempt's contents. */
void
auth_attempt_clear(struct auth_attempt *at)
{
	free(at->client_key);
	if (at->rehash != NULL) {
		sodium_memzero(at->rehash, AUTH_HASH_MAX);
		free(at->rehash);
	}
	sodium_memzero(at, sizeof *at);
}

/* Wipe a session's secrets and free its agent. */
void
auth_session_clear(struct auth_session *sess)
{
	agent_clear(&sess->agent);
	sodium_memzero(sess, sizeof *sess);
}

/* Log in: begin, verify and finish in one go, on the calling thread. */
int
auth_login(struct store *s, const char *name, const char *password,
    const char *client_key, int64_t now, struct auth_session *out,
    int64_t *retry_after, char **cause)
{
	struct auth_attempt	at;
	int			rc;

	memset(out, 0, sizeof *out);
	rc = auth_login_begin(s, name, client_key, now, &at, retry_after,
	    cause);
	if (rc == 1) {
		auth_login_verify(&at, password);
		rc = auth_login_finish(s, &at, now, out, cause);
	}
	auth_attempt_clear(&at);
	return (rc);
}

/* Delete one session by id; 0 or -1. */
static int
auth_session_delete(struct store *s, int64_t id)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (store_begin(s) != 0)
		return (-1);
	if ((st = auth_cached(s, "DELETE FROM sessions WHERE id = ?1",
	    NULL)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "end session", NULL);
	sqlite3_reset(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Record a session's use (and its agent's) at now; 0 or -1. */
static int
auth_session_touch(struct store *s, int64_t id, int64_t agent_id,
    int64_t now)
{
	static const char	*sql[2] = {
		"UPDATE sessions SET last_used_at = ?2 WHERE id = ?1",
		"UPDATE agents SET last_seen_at = ?2 WHERE id = ?1"
	};
	sqlite3_stmt		*st;
	int			 i, rc;

	if (store_begin(s) != 0)
		return (-1);
	for (i = 0; i < 2; i++) {
		if ((st = auth_cached(s, sql[i], NULL)) == NULL)
			return (-1);
		sqlite3_bind_int64(st, 1, i == 0 ? id : agent_id);
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			auth_sql_error(s, "touch session", NULL);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return (-1);
	}
	return (0);
}

/* Check a session token; see auth.h. */
int
auth_session_check(struct store *s, const char *token, int64_t now,
    int64_t idle_ms, struct agent *a, char **csrf)
{
	unsigned char	 digest[crypto_hash_sha256_BYTES];
	sqlite3_stmt	*st;
	int64_t		 id, last_used, expires;
	char		*c;
	int		 rc;

	memset(a, 0, sizeof *a);
	if (csrf != NULL)
		*csrf = NULL;
	if (!auth_token_plausible(token) || auth_sodium(NULL) != 0)
		return (0);
	auth_token_digest(token, digest);
	if ((st = auth_cached(s, "SELECT s.id, s.csrf, s.last_used_at,"
	    " s.expires_at, " AGENT_COLUMNS " FROM sessions s"
	    " JOIN agents a ON a.id = s.agent_id WHERE s.token_hash = ?1",
	    NULL)) == NULL)
		return (-1);
	sqlite3_bind_blob(st, 1, digest, sizeof digest, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			auth_sql_error(s, "find session", NULL);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	id = sqlite3_column_int64(st, 0);
	c = auth_col_text(st, 1);
	last_used = sqlite3_column_int64(st, 2);
	expires = sqlite3_column_int64(st, 3);
	agent_from_row(st, 4, a);
	sqlite3_reset(st);

	if (a->disabled || now >= expires ||
	    (idle_ms > 0 && now - last_used >= idle_ms)) {
		free(c);
		agent_clear(a);
		return (auth_session_delete(s, id) == 0 ? 0 : -1);
	}
	if (now - last_used >= AUTH_TOUCH_MS) {
		if (auth_session_touch(s, id, a->id, now) != 0) {
			free(c);
			agent_clear(a);
			return (-1);
		}
		a->last_seen_at = now;
	}
	if (csrf != NULL)
		*csrf = c;
	else
		free(c);
	return (1);
}

/* End the session with this token: 1, 0 (none), -1. */
int
auth_logout(struct store *s, const char *token)
{
	unsigned char	 digest[crypto_hash_sha256_BYTES];
	sqlite3_stmt	*st;
	int		 rc;

	if (!auth_token_plausible(token) || auth_sodium(NULL) != 0)
		return (0);
	auth_token_digest(token, digest);
	if (store_begin(s) != 0)
		return (-1);
	if ((st = auth_prepare(s, "DELETE FROM sessions WHERE"
	    " token_hash = ?1", NULL)) == NULL)
		return (-1);
	sqlite3_bind_blob(st, 1, digest, sizeof digest, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "log out", NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	return (sqlite3_changes(store_db(s)) > 0);
}

/* End all sessions of an agent; the number ended or -1. */
int
auth_logout_agent(struct store *s, int64_t agent_id)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (store_begin(s) != 0)
		return (-1);
	if ((st = auth_prepare(s, "DELETE FROM sessions WHERE"
	    " agent_id = ?1", NULL)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, agent_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "end sessions", NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	return (sqlite3_changes(store_db(s)));
}

/* Compare CSRF tokens in constant time: 1 equal, 0 not. */
int
auth_csrf_ok(const char *expected, const char *given)
{
	size_t	len;

	if (expected == NULL || given == NULL || *expected == '\0')
		return (0);
	len = strlen(expected);
	if (strnlen(given, len + 1) != len)
		return (0);
	return (sodium_memcmp(expected, given, len) == 0);
}

/* Delete ended sessions and stale throttle records; rows or -1. */
int
auth_purge(struct store *s, int64_t now, int64_t idle_ms)
{
	sqlite3_stmt	*st;
	int		 rc, n = 0;

	if (store_begin(s) != 0)
		return (-1);
	if ((st = auth_prepare(s, "DELETE FROM sessions WHERE"
	    " expires_at <= ?1 OR (?2 > 0 AND last_used_at <= ?1 - ?2)",
	    NULL)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, idle_ms);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "purge sessions", NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	n += sqlite3_changes(store_db(s));

	if ((st = auth_prepare(s, "DELETE FROM login_failures WHERE"
	    " updated_at <= ?1 - ?2 AND locked_until <= ?1", NULL)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, AUTH_FAIL_FORGET_MS);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "purge login failures", NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	return (n + sqlite3_changes(store_db(s)));
}

/* Forget the login failures of a name: 1, 0 (none), -1. */
int
auth_unlock(struct store *s, const char *name)
{
	char	*key, *cause = NULL;
	int	 rc;

	key = auth_name_key(name);
	rc = auth_forget(s, key, &cause);
	free(key);
	free(cause);
	return (rc);
}

/* Whether a live token has this name: 1, 0, -1. */
static int
auth_token_exists(struct store *s, const char *name, char **cause)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = auth_prepare(s, "SELECT 1 FROM api_tokens WHERE name = ?1"
	    " AND revoked_at IS NULL", cause)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		auth_sql_error(s, "find token", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return (-1);
	return (rc == SQLITE_ROW);
}

/* Create an API token acting as an agent; *token is shown once. */
int
auth_token_add(struct store *s, const char *name, int64_t agent_id,
    int64_t now, char **token, char **cause)
{
	unsigned char	 digest[crypto_hash_sha256_BYTES];
	char		 r[AUTH_TOKEN_LEN + 1];
	struct agent	 a;
	sqlite3_stmt	*st;
	char		*t;
	int		 rc;

	*token = NULL;
	if (!auth_name_ok(name)) {
		*cause = xasprintf("bad token name (1 to %d of a-z 0-9 . _ -)",
		    AUTH_NAME_MAX);
		return (-1);
	}
	if (auth_sodium(cause) != 0)
		return (-1);
	if ((rc = auth_agent_get(s, agent_id, &a)) != 1) {
		*cause = rc == 0 ? xasprintf("no agent with id %lld",
		    (long long)agent_id) :
		    xstrdup("auth: could not read the agents");
		return (-1);
	}
	rc = a.disabled;
	agent_clear(&a);
	if (rc) {
		*cause = xstrdup("the agent is disabled");
		return (-1);
	}
	if ((rc = auth_token_exists(s, name, cause)) != 0) {
		if (rc == 1)
			*cause = xasprintf("a token named %s exists (revoke "
			    "it first)", name);
		return (-1);
	}

	auth_random(r);
	t = xasprintf("%s%s", AUTH_API_TOKEN_PREFIX, r);
	sodium_memzero(r, sizeof r);
	auth_token_digest(t, digest);
	if (auth_begin(s, cause) != 0)
		goto fail;
	if ((st = auth_prepare(s, "INSERT INTO api_tokens (name, token_hash,"
	    " agent_id, created_at) VALUES (?1, ?2, ?3, ?4)", cause)) == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, digest, sizeof digest, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, agent_id);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "add token", cause);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto fail;
	log_info("auth", "msg=\"token added\" token=%s agent_id=%lld",
	    logq(name), (long long)agent_id);
	*token = t;
	return (0);

fail:
	sodium_memzero(t, strlen(t));
	free(t);
	return (-1);
}

/* Check an API token: 1 and *a (its agent), 0, -1. */
int
auth_token_check(struct store *s, const char *token, int64_t now,
    struct agent *a)
{
	unsigned char	 digest[crypto_hash_sha256_BYTES];
	sqlite3_stmt	*st;
	int64_t		 id, last_used;
	size_t		 plen = strlen(AUTH_API_TOKEN_PREFIX);
	int		 rc;

	memset(a, 0, sizeof *a);
	if (!auth_token_plausible(token) ||
	    strncmp(token, AUTH_API_TOKEN_PREFIX, plen) != 0 ||
	    auth_sodium(NULL) != 0)
		return (0);
	auth_token_digest(token, digest);
	if ((st = auth_cached(s, "SELECT t.id, t.last_used_at, "
	    AGENT_COLUMNS " FROM api_tokens t JOIN agents a"
	    " ON a.id = t.agent_id WHERE t.token_hash = ?1"
	    " AND t.revoked_at IS NULL", NULL)) == NULL)
		return (-1);
	sqlite3_bind_blob(st, 1, digest, sizeof digest, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			auth_sql_error(s, "find token", NULL);
		sqlite3_reset(st);
		return (rc == SQLITE_DONE ? 0 : -1);
	}
	id = sqlite3_column_int64(st, 0);
	last_used = sqlite3_column_int64(st, 1);
	agent_from_row(st, 2, a);
	sqlite3_reset(st);
	if (a->disabled) {
		agent_clear(a);
		return (0);
	}
	if (now - last_used < AUTH_TOUCH_MS)
		return (1);
	if (store_begin(s) != 0 || (st = auth_cached(s, "UPDATE api_tokens"
	    " SET last_used_at = ?2 WHERE id = ?1", NULL)) == NULL) {
		agent_clear(a);
		return (-1);
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "touch token", NULL);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		agent_clear(a);
		return (-1);
	}
	return (1);
}

/* Revoke the live token NAME: 1, 0 (none), -1. */
int
auth_token_revoke(struct store *s, const char *name, int64_t now)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (store_begin(s) != 0)
		return (-1);
	if ((st = auth_prepare(s, "UPDATE api_tokens SET revoked_at = ?2"
	    " WHERE name = ?1 AND revoked_at IS NULL", NULL)) == NULL)
		return (-1);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "revoke token", NULL);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return (-1);
	if (sqlite3_changes(store_db(s)) == 0)
		return (0);
	log_info("auth", "msg=\"token revoked\" token=%s", logq(name));
	return (1);
}

/* Call fn for every token, revoked ones too, by name. */
int
auth_token_list(struct store *s, int (*fn)(void *, const struct api_token *),
    void *arg)
{
	sqlite3_stmt		*st;
	struct api_token	*v = NULL;
	size_t			 n = 0, i;
	int			 rc;

	if ((st = auth_prepare(s, "SELECT t.id, t.name, t.agent_id, a.name,"
	    " t.created_at, t.last_used_at, t.revoked_at FROM api_tokens t"
	    " JOIN agents a ON a.id = t.agent_id ORDER BY t.name, t.id",
	    NULL)) == NULL)
		return (-1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n].id = sqlite3_column_int64(st, 0);
		v[n].name = auth_col_text(st, 1);
		v[n].agent_id = sqlite3_column_int64(st, 2);
		v[n].agent_name = auth_col_text(st, 3);
		v[n].created_at = sqlite3_column_int64(st, 4);
		v[n].last_used_at = sqlite3_column_int64(st, 5);
		v[n].revoked_at = sqlite3_column_int64(st, 6);
		n++;
	}
	if (rc != SQLITE_DONE)
		auth_sql_error(s, "list tokens", NULL);
	sqlite3_finalize(st);
	for (i = 0; rc == SQLITE_DONE && i < n; i++) {
		if (fn(arg, &v[i]) != 0)
			break;
	}
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].agent_name);
	}
	free(v);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Whether the agent's role allows the action at all. */
int
auth_allowed(const struct agent *a, enum auth_action action)
{
	size_t	i;

	if (a == NULL || a->id == 0 || a->disabled)
		return (0);
	for (i = 0; i < sizeof auth_matrix / sizeof auth_matrix[0]; i++) {
		if (auth_matrix[i].action != action)
			continue;
		if (a->role == AGENT_ROLE_ADMIN)
			return (auth_matrix[i].admin);
		return (auth_matrix[i].agent);
	}
	return (0);
}

/* Whether the agent may do the action on a conversation of assignee. */
int
auth_allowed_on(const struct agent *a, enum auth_action action,
    int64_t assignee)
{
	if (!auth_allowed(a, action))
		return (0);
	if (a->role == AGENT_ROLE_ADMIN)
		return (1);
	switch (action) {
	case AUTH_REPLY:
	case AUTH_RESOLVE:
	case AUTH_HANDBACK:
		return (assignee == a->id);
	case AUTH_CLAIM:
	case AUTH_ASSIGN:
		return (assignee == 0 || assignee == a->id);
	default:
		return (1);
	}
}
