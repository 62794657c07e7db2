/*
 * Accounts and access for the shared inbox: agents with argon2id password
 * hashes, browser sessions with a CSRF token, API tokens for integrations,
 * login throttling, and the role matrix.  Pure store code: no HTTP here.
 * docs/auth.md describes the design.
 *
 * Times are milliseconds since the epoch.  Return conventions: 0 success,
 * -1 error with *cause (caller frees); look-ups 1 found, 0 not found, -1
 * error.  Functions that write call store_begin; the caller commits (the
 * event loop once a turn, kefuctl with store_commit).
 */
#ifndef KEFU_AUTH_H
#define KEFU_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define AUTH_NAME_MAX		64	/* bytes in an agent or token name */
#define AUTH_DISPLAY_MAX	128	/* bytes in a display name */
#define AUTH_PASSWORD_MIN	8	/* bytes in a password */
#define AUTH_PASSWORD_MAX	1024
#define AUTH_HASH_MAX		128	/* crypto_pwhash_STRBYTES */
#define AUTH_TOKEN_LEN		43	/* base64url of 32 random bytes */
#define AUTH_API_TOKEN_PREFIX	"kefu_"	/* API tokens: prefix + 43 */
#define AUTH_MAX_OPEN_DEFAULT	5

/* Results of auth_login and friends beyond the usual 1, 0 and -1. */
#define AUTH_THROTTLED		-2

enum agent_role {
	AGENT_ROLE_AGENT,
	AGENT_ROLE_ADMIN
};

struct agent {
	int64_t		 id;
	char		*name;
	char		*display_name;
	enum agent_role	 role;
	int		 disabled;
	int		 max_open;	/* open conversations for round-robin */
	int64_t		 created_at;
	int64_t		 last_seen_at;	/* 0: never */
};

/* What an agent may do; the matrix is in auth.c and docs/auth.md. */
enum auth_action {
	AUTH_VIEW,		/* read conversations, contacts, events */
	AUTH_NOTE,		/* add an internal note */
	AUTH_REPLY,		/* write to the customer */
	AUTH_CLAIM,		/* take an unassigned conversation */
	AUTH_TAKEOVER,		/* take a conversation from another agent */
	AUTH_ASSIGN,		/* give a conversation to someone */
	AUTH_HANDBACK,		/* give a conversation back to the bot */
	AUTH_RESOLVE,		/* resolve */
	AUTH_REOPEN,		/* reopen a resolved conversation */
	AUTH_MANAGE_AGENTS,	/* add, change, disable agents; API tokens */
	AUTH_MANAGE_CANNED	/* add, change, remove canned replies */
};

/* A new session: what the login answer and cookie need. */
struct auth_session {
	char		 token[AUTH_TOKEN_LEN + 1];	/* the cookie; secret */
	char		 csrf[AUTH_TOKEN_LEN + 1];
	int64_t		 expires_at;			/* absolute limit */
	struct agent	 agent;
};

/*
 * A login in three steps, so the slow password check (about 0.1 s and
 * 64 MiB) can run off the loop thread: auth_login_begin on the loop,
 * auth_login_verify anywhere, auth_login_finish on the loop.  The fields
 * are auth.c's (tests read them); callers only pass the struct along.
 */
struct auth_attempt {
	char		 name[AUTH_NAME_MAX + 1];	/* lower case; "" bad */
	char		*client_key;
	int64_t		 agent_id;			/* 0: no such agent */
	char		 hash[AUTH_HASH_MAX];		/* stored or dummy */
	char		*rehash;			/* new hash, or NULL */
	int		 verified;
	int		 throttled;
};

struct api_token {
	int64_t		 id;
	char		*name;
	int64_t		 agent_id;
	char		*agent_name;
	int64_t		 created_at;
	int64_t		 last_used_at;	/* 0: never */
	int64_t		 revoked_at;	/* 0: live */
};

/* The role's name ("admin", "agent"). */
const char	*agent_role_name(enum agent_role);
/* Parse a role name: 0 and *role, or -1. */
int		 agent_role_parse(const char *, enum agent_role *);
/* Free an agent's strings and zero it. */
void		 agent_clear(struct agent *);

/* Whether a string is a valid agent or token name: [a-z0-9._-]{1,64}. */
int		 auth_name_ok(const char *);
/*
 * Add an agent (display name NULL: the name) with the password hashed by
 * argon2id; sets *id.  A name already taken is an error.
 */
int		 auth_agent_add(struct store *, const char *, const char *,
		     enum agent_role, const char *, int64_t, int64_t *,
		     char **);
/* Set an agent's password and end all its sessions; 1, 0 (no agent), -1. */
int		 auth_agent_passwd(struct store *, const char *, const char *,
		     int64_t, char **);
/*
 * Disable (1) or enable (0) an agent; disabling ends its sessions and
 * stops its API tokens working.  1, 0 (no agent), -1.
 */
int		 auth_agent_set_disabled(struct store *, const char *, int,
		     int64_t, char **);
/*
 * Change an agent's role (NULL: keep), display name (NULL: keep) or
 * max_open (negative: keep).  1, 0 (no agent), -1.
 */
int		 auth_agent_update(struct store *, const char *,
		     const enum agent_role *, const char *, int, int64_t,
		     char **);
/* An agent by id: 1 and *a (caller clears), 0, -1. */
int		 auth_agent_get(struct store *, int64_t, struct agent *);
/* An agent by name (case-insensitive): 1 and *a, 0, -1. */
int		 auth_agent_find(struct store *, const char *, struct agent *);
/* Call fn for every agent by name; fn returns 0 to go on, -1 to stop. */
int		 auth_agent_list(struct store *,
		     int (*)(void *, const struct agent *), void *);

/*
 * Log in: 1 with *out (a new session; the caller clears it), 0 for a
 * wrong name or password or a disabled agent (the same answer and about
 * the same time for each), AUTH_THROTTLED with *retry_after (ms) after
 * too many failures, -1 on error.  client_key (NULL: none) is who is
 * asking, e.g. the remote address; it is throttled too.
 */
int		 auth_login(struct store *, const char *, const char *,
		     const char *, int64_t, struct auth_session *, int64_t *,
		     char **);
/*
 * Step 1: look the name up and check the throttle.  1 (go on to verify),
 * AUTH_THROTTLED with *retry_after, or -1.  Clear *at in every case.
 */
int		 auth_login_begin(struct store *, const char *, const char *,
		     int64_t, struct auth_attempt *, int64_t *, char **);
/* Step 2: check the password; touches no store, safe in any thread. */
void		 auth_login_verify(struct auth_attempt *, const char *);
/* Step 3: record the outcome; as auth_login (1, 0, -1). */
int		 auth_login_finish(struct store *, struct auth_attempt *,
		     int64_t, struct auth_session *, char **);
/* Free an attempt's contents. */
void		 auth_attempt_clear(struct auth_attempt *);
/* Wipe a session's secrets and free its agent. */
void		 auth_session_clear(struct auth_session *);

/*
 * Check a session token: 1 with *a (caller clears) and, if csrf is not
 * NULL, *csrf (caller frees); 0 if unknown, idle longer than idle_ms,
 * past its lifetime or its agent disabled; -1 on error.  Use is recorded
 * at most once a minute.
 */
int		 auth_session_check(struct store *, const char *, int64_t,
		     int64_t, struct agent *, char **);
/* End the session with this token: 1, 0 (none), -1. */
int		 auth_logout(struct store *, const char *);
/* End all sessions of an agent; the number ended or -1. */
int		 auth_logout_agent(struct store *, int64_t);
/* Compare CSRF tokens in constant time: 1 equal, 0 not (or NULL). */
int		 auth_csrf_ok(const char *, const char *);
/*
 * Delete sessions idle longer than idle_ms or past their lifetime and
 * throttle records no longer needed; the number of rows or -1.
 */
int		 auth_purge(struct store *, int64_t, int64_t);
/* Forget the login failures of a name (an admin's unlock): 1, 0, -1. */
int		 auth_unlock(struct store *, const char *);

/*
 * Create an API token NAME acting as agent_id: *token (caller frees; show
 * it once, only its hash is kept).  A live token's name must be unique.
 */
int		 auth_token_add(struct store *, const char *, int64_t, int64_t,
		     char **, char **);
/* Check an API token: 1 and *a (its agent; caller clears), 0, -1. */
int		 auth_token_check(struct store *, const char *, int64_t,
		     struct agent *);
/* Revoke the live token NAME: 1, 0 (none), -1. */
int		 auth_token_revoke(struct store *, const char *, int64_t);
/* Call fn for every token, revoked ones too, by name. */
int		 auth_token_list(struct store *,
		     int (*)(void *, const struct api_token *), void *);

/* Whether the agent's role allows the action at all. */
int		 auth_allowed(const struct agent *, enum auth_action);
/*
 * Whether the agent may do the action on a conversation assigned to
 * assignee (0: nobody): auth_allowed plus the ownership rules.
 */
int		 auth_allowed_on(const struct agent *, enum auth_action,
		     int64_t);

#endif
