/*
 * Tests for the inbox's accounts and access (src/auth.c) and canned
 * replies (src/canned.c).  Each test gets a fresh temporary store.  Every
 * password hash costs about 0.1 s and 64 MiB (argon2id INTERACTIVE), so
 * the tests hash a few dozen times in all, not hundreds.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "auth.h"
#include "canned.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

#define T0		1700000000000LL		/* a fixed "now" */
#define MINUTE		(60 * 1000LL)
#define IDLE		(30 * MINUTE)

struct fixture {
	char		 dir[64];
	struct store	*s;
};

/* Make a temporary directory and open a store in it. */
static int
setup(void **state)
{
	struct fixture	*f;
	char		*path, *cause = NULL;

	f = xcalloc(1, sizeof *f);
	xsnprintf(f->dir, sizeof f->dir, "/tmp/kefu-test-auth-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return (-1);
	}
	path = xasprintf("%s/kefu.db", f->dir);
	if (store_open(path, 0, 1000, &f->s, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		free(path);
		return (-1);
	}
	free(path);
	*state = f;
	return (0);
}

/* Close the store and remove the directory with everything in it. */
static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*de;
	DIR		*d;
	char		*p;

	store_close(f->s);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", f->dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return (0);
}

/* Commit the open transaction, expecting success. */
static void
commit(struct fixture *f)
{
	char	*cause = NULL;

	assert_int_equal(store_commit(f->s, &cause), 0);
}

/* Add an agent, expecting success; returns its id. */
static int64_t
add(struct fixture *f, const char *name, enum agent_role role,
    const char *password)
{
	char	*cause = NULL;
	int64_t	 id = 0;

	if (auth_agent_add(f->s, name, NULL, role, password, T0, &id,
	    &cause) != 0)
		fail_msg("auth_agent_add %s: %s", name, cause);
	assert_true(id > 0);
	commit(f);
	return (id);
}

/* One integer from SQL with an optional text parameter. */
static int64_t
query_int(struct fixture *f, const char *sql, const char *param)
{
	sqlite3_stmt	*st;
	int64_t		 v;

	assert_int_equal(sqlite3_prepare_v2(store_db(f->s), sql, -1, &st,
	    NULL), SQLITE_OK);
	if (param != NULL)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return (v);
}

/* One text from SQL with a text parameter; the caller frees. */
static char *
query_text(struct fixture *f, const char *sql, const char *param)
{
	sqlite3_stmt	*st;
	char		*v;

	assert_int_equal(sqlite3_prepare_v2(store_db(f->s), sql, -1, &st,
	    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return (v);
}

/* Run SQL with no result, expecting success. */
static void
exec(struct fixture *f, const char *sql)
{
	assert_int_equal(sqlite3_exec(store_db(f->s), sql, NULL, NULL, NULL),
	    SQLITE_OK);
}

/* Log in; returns what auth_login returned, the session in *out. */
static int
login(struct fixture *f, const char *name, const char *password,
    const char *client, int64_t now, struct auth_session *out,
    int64_t *retry)
{
	char	*cause = NULL;
	int64_t	 r = 0;
	int	 rc;

	rc = auth_login(f->s, name, password, client, now, out, &r, &cause);
	if (rc == -1)
		fail_msg("auth_login: %s", cause);
	if (retry != NULL)
		*retry = r;
	commit(f);
	return (rc);
}

/* Collects agent names from auth_agent_list. */
struct names {
	char	 buf[256];
	int	 n;
};

static int
collect_agent(void *arg, const struct agent *a)
{
	struct names	*n = arg;
	size_t		 len = strlen(n->buf);

	xsnprintf(n->buf + len, sizeof n->buf - len, "%s%s:%s%s",
	    n->n++ > 0 ? " " : "", a->name, agent_role_name(a->role),
	    a->disabled ? ":off" : "");
	return (0);
}

/* The schema is current and has the auth tables (version 5). */
static void
test_schema(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	assert_true(STORE_SCHEMA_VERSION >= 5);
	assert_int_equal(query_int(f, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name IN ('agents', 'sessions',"
	    " 'api_tokens', 'login_failures', 'canned_replies')", NULL), 5);
}

/* Names, roles, display names and passwords are checked. */
static void
test_agent_validation(void **state)
{
	struct fixture	*f = *state;
	enum agent_role	 role;
	char		*cause = NULL, long_name[AUTH_NAME_MAX + 2];
	char		 long_pw[AUTH_PASSWORD_MAX + 2];
	int64_t		 id;

	assert_true(auth_name_ok("alice"));
	assert_true(auth_name_ok("a.b_c-9"));
	assert_false(auth_name_ok("Alice"));
	assert_false(auth_name_ok("a b"));
	assert_false(auth_name_ok(""));
	assert_false(auth_name_ok("名字"));
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_false(auth_name_ok(long_name));
	long_name[AUTH_NAME_MAX] = '\0';
	assert_true(auth_name_ok(long_name));

	assert_int_equal(agent_role_parse("admin", &role), 0);
	assert_int_equal(role, AGENT_ROLE_ADMIN);
	assert_int_equal(agent_role_parse("agent", &role), 0);
	assert_int_equal(role, AGENT_ROLE_AGENT);
	assert_int_equal(agent_role_parse("root", &role), -1);

	assert_int_equal(auth_agent_add(f->s, "Bad Name", NULL,
	    AGENT_ROLE_AGENT, "long enough", T0, &id, &cause), -1);
	assert_non_null(strstr(cause, "name"));
	free(cause);
	assert_int_equal(auth_agent_add(f->s, "bob", NULL, AGENT_ROLE_AGENT,
	    "short", T0, &id, &cause), -1);
	assert_non_null(strstr(cause, "password"));
	free(cause);
	memset(long_pw, 'x', sizeof long_pw - 1);
	long_pw[sizeof long_pw - 1] = '\0';
	assert_int_equal(auth_agent_add(f->s, "bob", NULL, AGENT_ROLE_AGENT,
	    long_pw, T0, &id, &cause), -1);
	free(cause);
	assert_int_equal(auth_agent_add(f->s, "bob", "tab\there",
	    AGENT_ROLE_AGENT, "long enough", T0, &id, &cause), -1);
	assert_non_null(strstr(cause, "display"));
	free(cause);
	assert_int_equal(auth_agent_add(f->s, "bob", "bad \xff utf-8",
	    AGENT_ROLE_AGENT, "long enough", T0, &id, &cause), -1);
	free(cause);
	assert_int_equal(query_int(f, "SELECT count(*) FROM agents", NULL),
	    0);
}

/* Agents are added, found, listed and changed; hashes are argon2id. */
static void
test_agent_add_list(void **state)
{
	struct fixture	*f = *state;
	struct names	 n;
	struct agent	 a;
	enum agent_role	 role = AGENT_ROLE_ADMIN;
	char		*cause = NULL, *hash;
	int64_t		 alice, bob, id;

	alice = add(f, "alice", AGENT_ROLE_ADMIN, "correct horse");
	bob = add(f, "bob", AGENT_ROLE_AGENT, "battery staple");
	assert_true(bob > alice);

	/* A taken name, in any case, is refused without hashing. */
	assert_int_equal(auth_agent_add(f->s, "alice", NULL, AGENT_ROLE_AGENT,
	    "another one", T0, &id, &cause), -1);
	assert_non_null(strstr(cause, "exists"));
	free(cause);

	hash = query_text(f, "SELECT password_hash FROM agents WHERE"
	    " name = ?1", "alice");
	assert_true(strncmp(hash, "$argon2id$", 10) == 0);
	assert_non_null(strstr(hash, "m=65536,t=2,p=1"));
	assert_null(strstr(hash, "correct horse"));
	free(hash);
	assert_int_equal(query_int(f, "SELECT count(*) FROM agents WHERE"
	    " instr(password_hash, ?1) > 0", "battery"), 0);

	assert_int_equal(auth_agent_find(f->s, "ALICE", &a), 1);
	assert_int_equal(a.id, alice);
	assert_string_equal(a.name, "alice");
	assert_string_equal(a.display_name, "alice");
	assert_int_equal(a.role, AGENT_ROLE_ADMIN);
	assert_int_equal(a.max_open, AUTH_MAX_OPEN_DEFAULT);
	assert_int_equal(a.created_at, T0);
	assert_int_equal(a.last_seen_at, 0);
	agent_clear(&a);
	assert_int_equal(auth_agent_get(f->s, bob, &a), 1);
	assert_string_equal(a.name, "bob");
	assert_int_equal(a.role, AGENT_ROLE_AGENT);
	agent_clear(&a);
	assert_int_equal(auth_agent_get(f->s, bob + 100, &a), 0);
	assert_int_equal(auth_agent_find(f->s, "carol", &a), 0);

	/* Change bob: display name, max_open, role. */
	assert_int_equal(auth_agent_update(f->s, "bob", &role, "Bob 小王",
	    9, T0 + 1, &cause), 1);
	assert_int_equal(auth_agent_update(f->s, "nobody", NULL, NULL, 3,
	    T0 + 1, &cause), 0);
	assert_int_equal(auth_agent_update(f->s, "bob", NULL, NULL, 5000,
	    T0 + 1, &cause), -1);
	free(cause);
	commit(f);
	assert_int_equal(auth_agent_get(f->s, bob, &a), 1);
	assert_string_equal(a.display_name, "Bob 小王");
	assert_int_equal(a.max_open, 9);
	assert_int_equal(a.role, AGENT_ROLE_ADMIN);
	agent_clear(&a);
	/* NULLs and -1 keep what is there. */
	assert_int_equal(auth_agent_update(f->s, "bob", NULL, NULL, -1,
	    T0 + 2, &cause), 1);
	assert_int_equal(auth_agent_get(f->s, bob, &a), 1);
	assert_string_equal(a.display_name, "Bob 小王");
	assert_int_equal(a.max_open, 9);
	agent_clear(&a);

	assert_int_equal(auth_agent_set_disabled(f->s, "bob", 1, T0 + 3,
	    &cause), 1);
	assert_int_equal(auth_agent_set_disabled(f->s, "nobody", 1, T0 + 3,
	    &cause), 0);
	commit(f);
	memset(&n, 0, sizeof n);
	assert_int_equal(auth_agent_list(f->s, collect_agent, &n), 0);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.buf, "alice:admin bob:admin:off");
}

/* The last enabled admin can be neither disabled nor demoted. */
static void
test_last_admin(void **state)
{
	struct fixture	*f = *state;
	enum agent_role	 agent = AGENT_ROLE_AGENT;
	char		*cause = NULL;

	add(f, "alice", AGENT_ROLE_ADMIN, "password 1");
	assert_int_equal(auth_agent_set_disabled(f->s, "alice", 1, T0,
	    &cause), -1);
	assert_non_null(strstr(cause, "last enabled admin"));
	free(cause);
	cause = NULL;
	assert_int_equal(auth_agent_update(f->s, "alice", &agent, NULL, -1,
	    T0, &cause), -1);
	assert_non_null(strstr(cause, "last enabled admin"));
	free(cause);
	cause = NULL;

	exec(f, "INSERT INTO agents (name, display_name, role, password_hash,"
	    " created_at, updated_at) VALUES ('root', 'Root', 'admin', 'x',"
	    " 0, 0)");
	assert_int_equal(auth_agent_update(f->s, "alice", &agent, NULL, -1,
	    T0, &cause), 1);
	assert_int_equal(auth_agent_set_disabled(f->s, "root", 1, T0,
	    &cause), -1);
	free(cause);
	commit(f);
}

/* Right and wrong passwords, unknown and disabled agents, new passwords. */
static void
test_login(void **state)
{
	struct fixture		*f = *state;
	struct auth_session	 sess;
	struct agent		 a;
	char			*cause = NULL, old[AUTH_TOKEN_LEN + 1];
	int64_t			 alice;

	alice = add(f, "alice", AGENT_ROLE_AGENT, "correct horse");

	assert_int_equal(login(f, "alice", "correct horse", "10.0.0.1", T0,
	    &sess, NULL), 1);
	assert_int_equal(strlen(sess.token), AUTH_TOKEN_LEN);
	assert_int_equal(strlen(sess.csrf), AUTH_TOKEN_LEN);
	assert_string_not_equal(sess.token, sess.csrf);
	assert_int_equal(sess.agent.id, alice);
	assert_string_equal(sess.agent.name, "alice");
	assert_int_equal(sess.expires_at, T0 + 7 * 24 * 60 * MINUTE);
	assert_int_equal(query_int(f, "SELECT last_seen_at FROM agents", NULL),
	    T0);
	memcpy(old, sess.token, sizeof old);
	auth_session_clear(&sess);

	/* The name is not case sensitive; the password is. */
	assert_int_equal(login(f, "Alice", "correct horse", NULL, T0,
	    &sess, NULL), 1);
	auth_session_clear(&sess);
	assert_int_equal(login(f, "alice", "Correct horse", NULL, T0,
	    &sess, NULL), 0);
	assert_int_equal(sess.token[0], '\0');
	assert_int_equal(login(f, "nobody", "correct horse", NULL, T0,
	    &sess, NULL), 0);
	assert_int_equal(login(f, "bad name!", "correct horse", NULL, T0,
	    &sess, NULL), 0);
	assert_int_equal(login(f, "alice", "", NULL, T0, &sess, NULL), 0);

	/* Disabled: refused, even with the right password, and logged out. */
	assert_int_equal(auth_agent_set_disabled(f->s, "alice", 1, T0,
	    &cause), 1);
	commit(f);
	assert_int_equal(auth_session_check(f->s, old, T0, IDLE, &a,
	    NULL), 0);
	assert_int_equal(login(f, "alice", "correct horse", NULL, T0,
	    &sess, NULL), 0);
	assert_int_equal(auth_agent_set_disabled(f->s, "alice", 0, T0,
	    &cause), 1);
	commit(f);
	assert_int_equal(login(f, "alice", "correct horse", NULL, T0,
	    &sess, NULL), 1);

	/* A new password: the old one fails, sessions end. */
	assert_int_equal(auth_agent_passwd(f->s, "alice", "new password",
	    T0 + 1, &cause), 1);
	assert_int_equal(auth_agent_passwd(f->s, "nobody", "new password",
	    T0 + 1, &cause), 0);
	assert_int_equal(auth_agent_passwd(f->s, "alice", "short", T0 + 1,
	    &cause), -1);
	free(cause);
	commit(f);
	assert_int_equal(auth_session_check(f->s, sess.token, T0 + 2, IDLE,
	    &a, NULL), 0);
	auth_session_clear(&sess);
	assert_int_equal(login(f, "alice", "correct horse", NULL, T0 + 2,
	    &sess, NULL), 0);
	assert_int_equal(login(f, "alice", "new password", NULL, T0 + 2,
	    &sess, NULL), 1);
	auth_session_clear(&sess);
}

/* Failures lock the name, then the client; the right password waits. */
static void
test_throttle(void **state)
{
	struct fixture		*f = *state;
	struct auth_session	 sess;
	char			 name[32];
	int64_t			 retry, now = T0;
	int			 i;

	add(f, "carol", AGENT_ROLE_AGENT, "right password");

	for (i = 0; i < 5; i++)
		assert_int_equal(login(f, "carol", "wrong password", NULL,
		    now + i, &sess, NULL), 0);
	/* Locked for a minute: even the right password is refused. */
	assert_int_equal(login(f, "CAROL", "right password", NULL, now + 10,
	    &sess, &retry), AUTH_THROTTLED);
	assert_true(retry > 0 && retry <= MINUTE);
	assert_int_equal(retry, MINUTE - 6);
	assert_int_equal(sess.token[0], '\0');
	/* Refused attempts do not count or extend the lock. */
	assert_int_equal(login(f, "carol", "wrong password", NULL,
	    now + 30 * 1000, &sess, &retry), AUTH_THROTTLED);
	assert_int_equal(retry, MINUTE + 4 - 30 * 1000);

	/* Once the lock ends: five more failures lock for two minutes. */
	now += MINUTE + 5;
	for (i = 0; i < 5; i++)
		assert_int_equal(login(f, "carol", "wrong password", NULL,
		    now, &sess, NULL), 0);
	assert_int_equal(login(f, "carol", "right password", NULL, now,
	    &sess, &retry), AUTH_THROTTLED);
	assert_int_equal(retry, 2 * MINUTE);

	/* After the lock, a success clears the name's count. */
	now += 2 * MINUTE;
	assert_int_equal(login(f, "carol", "right password", NULL, now,
	    &sess, NULL), 1);
	auth_session_clear(&sess);
	assert_int_equal(query_int(f, "SELECT count(*) FROM login_failures"
	    " WHERE key = ?1", "name:carol"), 0);

	/* Names that do not exist are throttled the same way. */
	for (i = 0; i < 5; i++)
		assert_int_equal(login(f, "nobody", "x", NULL, now, &sess,
		    NULL), 0);
	assert_int_equal(login(f, "nobody", "x", NULL, now, &sess, &retry),
	    AUTH_THROTTLED);

	/* Twenty failures from one client, over many names, lock it. */
	now += 10 * MINUTE;
	for (i = 0; i < 20; i++) {
		xsnprintf(name, sizeof name, "guess%d", i);
		assert_int_equal(login(f, name, "guess", "192.0.2.7", now,
		    &sess, NULL), 0);
	}
	assert_int_equal(login(f, "carol", "right password", "192.0.2.7",
	    now, &sess, &retry), AUTH_THROTTLED);
	assert_int_equal(retry, MINUTE);
	assert_int_equal(login(f, "carol", "right password", "198.51.100.1",
	    now, &sess, NULL), 1);
	auth_session_clear(&sess);
	/* A success does not clear the client's lock. */
	assert_int_equal(login(f, "carol", "right password", "192.0.2.7",
	    now + 1, &sess, &retry), AUTH_THROTTLED);
	auth_session_clear(&sess);

	/* An admin's unlock, and purging, forget the records. */
	for (i = 0; i < 5; i++)
		assert_int_equal(login(f, "carol", "wrong", NULL, now, &sess,
		    NULL), 0);
	assert_int_equal(auth_unlock(f->s, "Carol"), 1);
	assert_int_equal(auth_unlock(f->s, "carol"), 0);
	commit(f);
	assert_int_equal(login(f, "carol", "right password", NULL, now,
	    &sess, NULL), 1);
	auth_session_clear(&sess);
	assert_true(query_int(f, "SELECT count(*) FROM login_failures",
	    NULL) > 0);
	assert_true(auth_purge(f->s, now + 25 * 60 * MINUTE, IDLE) > 0);
	commit(f);
	assert_int_equal(query_int(f, "SELECT count(*) FROM login_failures",
	    NULL), 0);
}

/* Sessions: checked, touched once a minute, idle, ended, stored hashed. */
static void
test_session(void **state)
{
	struct fixture		*f = *state;
	struct auth_session	 sess;
	struct agent		 a;
	unsigned char		 digest[crypto_hash_sha256_BYTES];
	sqlite3_stmt		*st;
	char			*csrf, token[AUTH_TOKEN_LEN + 1];
	char			 big[300];
	int64_t			 bob;

	bob = add(f, "bob", AGENT_ROLE_AGENT, "battery staple");
	assert_int_equal(login(f, "bob", "battery staple", NULL, T0, &sess,
	    NULL), 1);
	memcpy(token, sess.token, sizeof token);

	/* Stored as SHA-256, never as the token. */
	assert_int_equal(query_int(f, "SELECT count(*) FROM sessions WHERE"
	    " token_hash = ?1 OR csrf = ?1 OR instr(CAST(token_hash AS TEXT),"
	    " ?1) > 0", token), 0);
	crypto_hash_sha256(digest, (const unsigned char *)token,
	    strlen(token));
	assert_int_equal(sqlite3_prepare_v2(store_db(f->s), "SELECT count(*)"
	    " FROM sessions WHERE token_hash = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, digest, sizeof digest, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);

	/* Valid; the CSRF token comes back. */
	assert_int_equal(auth_session_check(f->s, token, T0 + 1000, IDLE, &a,
	    &csrf), 1);
	assert_int_equal(a.id, bob);
	assert_string_equal(a.name, "bob");
	assert_string_equal(csrf, sess.csrf);
	assert_true(auth_csrf_ok(csrf, sess.csrf));
	free(csrf);
	agent_clear(&a);

	/* Use within a minute is not written; after a minute it is. */
	assert_int_equal(auth_session_check(f->s, token, T0 + 59 * 1000, IDLE,
	    &a, NULL), 1);
	agent_clear(&a);
	commit(f);
	assert_int_equal(query_int(f, "SELECT last_used_at FROM sessions",
	    NULL), T0);
	assert_int_equal(auth_session_check(f->s, token, T0 + MINUTE, IDLE,
	    &a, NULL), 1);
	assert_int_equal(a.last_seen_at, T0 + MINUTE);
	agent_clear(&a);
	commit(f);
	assert_int_equal(query_int(f, "SELECT last_used_at FROM sessions",
	    NULL), T0 + MINUTE);
	assert_int_equal(query_int(f, "SELECT last_seen_at FROM agents",
	    NULL), T0 + MINUTE);

	/* Use keeps it alive past the idle time from the start. */
	assert_int_equal(auth_session_check(f->s, token, T0 + IDLE, IDLE, &a,
	    NULL), 1);
	agent_clear(&a);
	/* Idle for idle_ms: gone, and the row with it. */
	assert_int_equal(auth_session_check(f->s, token, T0 + 2 * IDLE, IDLE,
	    &a, NULL), 0);
	assert_null(a.name);
	commit(f);
	assert_int_equal(query_int(f, "SELECT count(*) FROM sessions", NULL),
	    0);
	auth_session_clear(&sess);

	/* Logout ends it; a second logout finds nothing. */
	assert_int_equal(login(f, "bob", "battery staple", NULL, T0, &sess,
	    NULL), 1);
	assert_int_equal(auth_logout(f->s, sess.token), 1);
	commit(f);
	assert_int_equal(auth_session_check(f->s, sess.token, T0, IDLE, &a,
	    NULL), 0);
	assert_int_equal(auth_logout(f->s, sess.token), 0);
	auth_session_clear(&sess);

	/* The lifetime ends a session however busy it is (idle 0: none). */
	assert_int_equal(login(f, "bob", "battery staple", NULL, T0, &sess,
	    NULL), 1);
	assert_int_equal(auth_session_check(f->s, sess.token,
	    T0 + 6 * 24 * 60 * MINUTE, 0, &a, NULL), 1);
	agent_clear(&a);
	assert_int_equal(auth_session_check(f->s, sess.token,
	    sess.expires_at, 0, &a, NULL), 0);

	/* A disabled agent's session is refused even if it is still there. */
	auth_session_clear(&sess);
	assert_int_equal(login(f, "bob", "battery staple", NULL, T0, &sess,
	    NULL), 1);
	exec(f, "UPDATE agents SET disabled = 1");
	assert_int_equal(auth_session_check(f->s, sess.token, T0, IDLE, &a,
	    NULL), 0);
	auth_session_clear(&sess);

	/* Nonsense tokens. */
	assert_int_equal(auth_session_check(f->s, NULL, T0, IDLE, &a, NULL),
	    0);
	assert_int_equal(auth_session_check(f->s, "", T0, IDLE, &a, NULL), 0);
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(auth_session_check(f->s, big, T0, IDLE, &a, NULL),
	    0);
	assert_int_equal(auth_logout(f->s, big), 0);
	commit(f);
}

/* Old sessions are purged; an agent keeps at most 20. */
static void
test_session_purge(void **state)
{
	struct fixture		*f = *state;
	struct auth_session	 sess;
	int64_t			 id;
	int			 i;

	id = add(f, "dan", AGENT_ROLE_AGENT, "password 1");
	assert_int_equal(login(f, "dan", "password 1", NULL, T0, &sess, NULL),
	    1);
	auth_session_clear(&sess);
	/* Forge 25 more old sessions, then log in once more. */
	for (i = 0; i < 25; i++) {
		char *sql = xasprintf("INSERT INTO sessions (token_hash,"
		    " agent_id, csrf, created_at, last_used_at, expires_at)"
		    " VALUES (randomblob(32), %lld, 'c', %lld, %lld, %lld)",
		    (long long)id, (long long)(T0 - i), (long long)(T0 - i),
		    (long long)(T0 + MINUTE));
		exec(f, sql);
		free(sql);
	}
	assert_int_equal(login(f, "dan", "password 1", NULL, T0 + 1, &sess,
	    NULL), 1);
	assert_int_equal(query_int(f, "SELECT count(*) FROM sessions", NULL),
	    20);
	/* The newest (the one just made, and the first) are kept. */
	assert_int_equal(query_int(f, "SELECT min(last_used_at) FROM sessions",
	    NULL), T0 - 17);
	/* Purging: the forged ones are past their lifetime, then idle. */
	assert_int_equal(auth_purge(f->s, T0 + MINUTE, 0), 18);
	commit(f);
	assert_int_equal(query_int(f, "SELECT count(*) FROM sessions", NULL),
	    2);
	assert_int_equal(auth_purge(f->s, T0 + IDLE, IDLE), 1);
	assert_int_equal(auth_purge(f->s, T0 + 1 + IDLE, IDLE), 1);
	auth_session_clear(&sess);
	commit(f);
}

/* CSRF tokens compare equal only when they are. */
static void
test_csrf(void **state)
{
	(void)state;
	assert_true(auth_csrf_ok("abcDEF-_123", "abcDEF-_123"));
	assert_false(auth_csrf_ok("abcDEF-_123", "abcDEF-_124"));
	assert_false(auth_csrf_ok("abcDEF-_123", "abcDEF-_12"));
	assert_false(auth_csrf_ok("abcDEF-_123", "abcDEF-_1234"));
	assert_false(auth_csrf_ok("abcDEF-_123", ""));
	assert_false(auth_csrf_ok("abcDEF-_123", NULL));
	assert_false(auth_csrf_ok(NULL, "x"));
	assert_false(auth_csrf_ok("", ""));
}

/* Collects token lines from auth_token_list. */
static int
collect_token(void *arg, const struct api_token *t)
{
	struct names	*n = arg;
	size_t		 len = strlen(n->buf);

	xsnprintf(n->buf + len, sizeof n->buf - len, "%s%s:%s:%s",
	    n->n++ > 0 ? " " : "", t->name, t->agent_name,
	    t->revoked_at != 0 ? "revoked" : "live");
	return (0);
}

/* API tokens: shown once, stored hashed, checked, revoked. */
static void
test_api_token(void **state)
{
	struct fixture		*f = *state;
	struct auth_session	 sess;
	struct agent		 a;
	struct names		 n;
	char			*token, *token2, *cause = NULL;
	int64_t			 bob;

	bob = add(f, "bob", AGENT_ROLE_AGENT, "battery staple");
	assert_int_equal(auth_token_add(f->s, "crm-sync", bob, T0, &token,
	    &cause), 0);
	commit(f);
	assert_int_equal(strlen(token), strlen(AUTH_API_TOKEN_PREFIX) +
	    AUTH_TOKEN_LEN);
	assert_true(strncmp(token, AUTH_API_TOKEN_PREFIX, 5) == 0);
	assert_int_equal(query_int(f, "SELECT count(*) FROM api_tokens WHERE"
	    " token_hash = ?1 OR instr(CAST(token_hash AS TEXT), ?1) > 0",
	    token), 0);
	assert_int_equal(query_int(f, "SELECT length(token_hash) FROM"
	    " api_tokens", NULL), 32);

	assert_int_equal(auth_token_check(f->s, token, T0 + 1, &a), 1);
	assert_int_equal(a.id, bob);
	assert_string_equal(a.name, "bob");
	agent_clear(&a);
	commit(f);
	assert_int_equal(query_int(f, "SELECT last_used_at FROM api_tokens",
	    NULL), T0 + 1);
	assert_int_equal(auth_token_check(f->s, token, T0 + 2, &a), 1);
	agent_clear(&a);
	commit(f);
	assert_int_equal(query_int(f, "SELECT last_used_at FROM api_tokens",
	    NULL), T0 + 1);
	/* Not a session, and a session is not a token. */
	assert_int_equal(auth_session_check(f->s, token, T0, IDLE, &a, NULL),
	    0);
	assert_int_equal(login(f, "bob", "battery staple", NULL, T0, &sess,
	    NULL), 1);
	assert_int_equal(auth_token_check(f->s, sess.token, T0, &a), 0);
	auth_session_clear(&sess);
	assert_int_equal(auth_token_check(f->s, "kefu_nonsense", T0, &a), 0);
	token[strlen(token) - 1] ^= 1;
	assert_int_equal(auth_token_check(f->s, token, T0, &a), 0);
	token[strlen(token) - 1] ^= 1;

	/* Names: valid, unique among live tokens; agents must exist. */
	assert_int_equal(auth_token_add(f->s, "crm-sync", bob, T0, &token2,
	    &cause), -1);
	assert_non_null(strstr(cause, "exists"));
	free(cause);
	assert_int_equal(auth_token_add(f->s, "Bad Name", bob, T0, &token2,
	    &cause), -1);
	free(cause);
	assert_int_equal(auth_token_add(f->s, "other", bob + 50, T0, &token2,
	    &cause), -1);
	assert_null(token2);
	free(cause);

	/* Revoked: refused; the name may be used again. */
	assert_int_equal(auth_token_revoke(f->s, "crm-sync", T0 + 5), 1);
	assert_int_equal(auth_token_revoke(f->s, "crm-sync", T0 + 5), 0);
	commit(f);
	assert_int_equal(auth_token_check(f->s, token, T0 + 6, &a), 0);
	assert_int_equal(auth_token_add(f->s, "crm-sync", bob, T0 + 7,
	    &token2, &cause), 0);
	commit(f);
	assert_string_not_equal(token, token2);
	assert_int_equal(auth_token_check(f->s, token2, T0 + 8, &a), 1);
	agent_clear(&a);

	memset(&n, 0, sizeof n);
	assert_int_equal(auth_token_list(f->s, collect_token, &n), 0);
	assert_string_equal(n.buf, "crm-sync:bob:revoked crm-sync:bob:live");

	/* A disabled agent's tokens stop working. */
	assert_int_equal(auth_agent_set_disabled(f->s, "bob", 1, T0 + 9,
	    &cause), 1);
	commit(f);
	assert_int_equal(auth_token_check(f->s, token2, T0 + 10, &a), 0);
	free(token);
	free(token2);
	assert_int_equal(auth_token_add(f->s, "again", bob, T0, &token,
	    &cause), -1);
	assert_null(token);
	free(cause);
}

/* The role matrix and the ownership rules. */
static void
test_roles(void **state)
{
	struct agent	admin = { 1, NULL, NULL, AGENT_ROLE_ADMIN, 0, 5, 0,
			    0 };
	struct agent	agent = { 2, NULL, NULL, AGENT_ROLE_AGENT, 0, 5, 0,
			    0 };
	struct agent	off = { 3, NULL, NULL, AGENT_ROLE_ADMIN, 1, 5, 0, 0 };
	enum auth_action act;

	(void)state;
	for (act = AUTH_VIEW; act <= AUTH_MANAGE_CANNED; act++) {
		assert_true(auth_allowed(&admin, act));
		assert_false(auth_allowed(&off, act));
		assert_int_equal(auth_allowed(&agent, act),
		    act != AUTH_MANAGE_AGENTS && act != AUTH_MANAGE_CANNED);
	}
	assert_false(auth_allowed(NULL, AUTH_VIEW));
	assert_false(auth_allowed(&agent, (enum auth_action)99));

	/* An agent replies to, resolves, hands back only its own. */
	assert_true(auth_allowed_on(&agent, AUTH_REPLY, 2));
	assert_false(auth_allowed_on(&agent, AUTH_REPLY, 1));
	assert_false(auth_allowed_on(&agent, AUTH_REPLY, 0));
	assert_true(auth_allowed_on(&agent, AUTH_RESOLVE, 2));
	assert_false(auth_allowed_on(&agent, AUTH_RESOLVE, 1));
	assert_false(auth_allowed_on(&agent, AUTH_HANDBACK, 1));
	/* Claims and assigns what is free or its own; takes over others'. */
	assert_true(auth_allowed_on(&agent, AUTH_CLAIM, 0));
	assert_true(auth_allowed_on(&agent, AUTH_CLAIM, 2));
	assert_false(auth_allowed_on(&agent, AUTH_CLAIM, 1));
	assert_true(auth_allowed_on(&agent, AUTH_TAKEOVER, 1));
	assert_true(auth_allowed_on(&agent, AUTH_ASSIGN, 0));
	assert_false(auth_allowed_on(&agent, AUTH_ASSIGN, 1));
	assert_true(auth_allowed_on(&agent, AUTH_NOTE, 1));
	assert_true(auth_allowed_on(&agent, AUTH_VIEW, 1));
	assert_true(auth_allowed_on(&agent, AUTH_REOPEN, 1));
	assert_false(auth_allowed_on(&agent, AUTH_MANAGE_CANNED, 2));
	/* An admin may do anything to anyone's. */
	assert_true(auth_allowed_on(&admin, AUTH_REPLY, 2));
	assert_true(auth_allowed_on(&admin, AUTH_ASSIGN, 2));
	assert_false(auth_allowed_on(&off, AUTH_VIEW, 0));
}

/* The three-step login sees a password changed in the middle. */
static void
test_login_steps(void **state)
{
	struct fixture		*f = *state;
	struct auth_attempt	 at;
	struct auth_session	 sess;
	char			*cause = NULL, *hash;
	char			 weak[AUTH_HASH_MAX];
	int64_t			 retry;

	add(f, "erin", AGENT_ROLE_AGENT, "first password");

	/*
	 * An unknown or disabled name is checked against a dummy hash of
	 * the same cost, so it takes as long as a wrong password.
	 */
	assert_int_equal(auth_login_begin(f->s, "nobody", NULL, T0, &at,
	    &retry, &cause), 1);
	assert_int_equal(at.agent_id, 0);
	assert_true(strncmp(at.hash, "$argon2id$", 10) == 0);
	assert_non_null(strstr(at.hash, "m=65536,t=2,p=1"));
	auth_login_verify(&at, "first password");
	assert_false(at.verified);
	auth_attempt_clear(&at);
	exec(f, "UPDATE agents SET disabled = 1");
	assert_int_equal(auth_login_begin(f->s, "erin", NULL, T0, &at, &retry,
	    &cause), 1);
	assert_int_equal(at.agent_id, 0);
	assert_non_null(strstr(at.hash, "m=65536,t=2,p=1"));
	auth_login_verify(&at, "first password");
	assert_false(at.verified);
	auth_attempt_clear(&at);
	exec(f, "UPDATE agents SET disabled = 0");

	assert_int_equal(auth_login_begin(f->s, "erin", NULL, T0, &at, &retry,
	    &cause), 1);
	auth_login_verify(&at, "first password");
	assert_true(at.verified);
	assert_int_equal(auth_agent_passwd(f->s, "erin", "second password",
	    T0, &cause), 1);
	assert_int_equal(auth_login_finish(f->s, &at, T0, &sess, &cause), 0);
	auth_attempt_clear(&at);
	commit(f);

	/* A weaker stored hash is redone at the next login. */
	assert_int_equal(sodium_init() >= 0, 1);
	assert_int_equal(crypto_pwhash_str_alg(weak, "old password",
	    strlen("old password"), crypto_pwhash_argon2id_OPSLIMIT_MIN,
	    crypto_pwhash_argon2id_MEMLIMIT_MIN,
	    crypto_pwhash_ALG_ARGON2ID13), 0);
	{
		char *sql = xasprintf("UPDATE agents SET password_hash = '%s'",
		    weak);

		exec(f, sql);
		free(sql);
	}
	assert_int_equal(login(f, "erin", "old password", NULL, T0, &sess,
	    NULL), 1);
	auth_session_clear(&sess);
	hash = query_text(f, "SELECT password_hash FROM agents WHERE"
	    " name = ?1", "erin");
	assert_non_null(strstr(hash, "m=65536,t=2,p=1"));
	free(hash);
	assert_int_equal(login(f, "erin", "old password", NULL, T0, &sess,
	    NULL), 1);
	auth_session_clear(&sess);
}

/* Collects shortcuts from canned_list. */
static int
collect_canned(void *arg, const struct canned *c)
{
	struct names	*n = arg;
	size_t		 len = strlen(n->buf);

	xsnprintf(n->buf + len, sizeof n->buf - len, "%s%s",
	    n->n++ > 0 ? " " : "", c->shortcut);
	return (0);
}

/* Canned replies: set, replace, expand, list, remove. */
static void
test_canned(void **state)
{
	struct fixture	*f = *state;
	struct names	 n;
	char		*cause = NULL, *out, *text;
	int64_t		 alice;

	alice = add(f, "alice", AGENT_ROLE_ADMIN, "password 1");
	assert_int_equal(canned_set(f->s, "hours", "We are open 9-18.",
	    alice, T0, &cause), 0);
	assert_int_equal(canned_set(f->s, "Thanks",
	    "谢谢您的耐心！\n祝好", 0, T0, &cause), 0);
	assert_int_equal(canned_set(f->s, "bad/one", "x", 0, T0, &cause), -1);
	free(cause);
	assert_int_equal(canned_set(f->s, "ctl", "a\x01z", 0, T0, &cause),
	    -1);
	free(cause);
	assert_int_equal(canned_set(f->s, "utf", "bad \xc3", 0, T0, &cause),
	    -1);
	free(cause);
	assert_int_equal(canned_set(f->s, "empty", "", 0, T0, &cause), -1);
	free(cause);
	commit(f);

	assert_int_equal(canned_expand(f->s, "/hours", &out), 1);
	assert_string_equal(out, "We are open 9-18.");
	free(out);
	assert_int_equal(canned_expand(f->s, "/HOURS Anything else?", &out),
	    1);
	assert_string_equal(out, "We are open 9-18. Anything else?");
	free(out);
	assert_int_equal(canned_expand(f->s, "/thanks\n— Alice", &out), 1);
	assert_string_equal(out, "谢谢您的耐心！\n祝好\n— Alice");
	free(out);
	assert_int_equal(canned_expand(f->s, "/unknown text", &out), 0);
	assert_null(out);
	assert_int_equal(canned_expand(f->s, "see /hours", &out), 0);
	assert_int_equal(canned_expand(f->s, "/", &out), 0);
	assert_int_equal(canned_expand(f->s, "/hours/x", &out), 0);
	assert_int_equal(canned_expand(f->s, "hours", &out), 0);

	/* Setting again replaces the text. */
	assert_int_equal(canned_set(f->s, "HOURS", "Open 24/7.", alice,
	    T0 + 1, &cause), 0);
	commit(f);
	assert_int_equal(canned_get(f->s, "hours", &text), 1);
	assert_string_equal(text, "Open 24/7.");
	free(text);
	assert_int_equal(query_int(f, "SELECT count(*) FROM canned_replies",
	    NULL), 2);

	memset(&n, 0, sizeof n);
	assert_int_equal(canned_list(f->s, collect_canned, &n), 0);
	assert_string_equal(n.buf, "hours thanks");

	assert_int_equal(canned_remove(f->s, "Hours"), 1);
	assert_int_equal(canned_remove(f->s, "hours"), 0);
	commit(f);
	assert_int_equal(canned_get(f->s, "hours", &text), 0);
	assert_int_equal(canned_expand(f->s, "/hours", &out), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_validation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_agent_add_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_last_admin, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_purge, setup,
		    teardown),
		cmocka_unit_test(test_csrf),
		cmocka_unit_test_setup_teardown(test_api_token, setup,
		    teardown),
		cmocka_unit_test(test_roles),
		cmocka_unit_test_setup_teardown(test_login_steps, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_canned, setup, teardown),
	};

	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
