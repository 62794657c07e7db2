/*
 * The store: one SQLite connection in WAL mode, used only from the event
 * loop thread.
 *
 * Every statement is prepared once, at open, into a table indexed by
 * enum store_stmt, and reused with sqlite3_reset and clear_bindings; data
 * is always bound, never formatted into SQL.  The schema is a list of
 * migrations indexed by version (store_migrations); PRAGMA user_version
 * records how far a file has come, store_open applies what is missing in
 * one transaction, and a file newer than this code is refused.
 *
 * Group commit: every write calls store_begin, which opens BEGIN IMMEDIATE
 * only when no transaction is open, and the loop calls store_commit once a
 * turn.  If SQLite rolls a transaction back by itself (I/O error, disk
 * full), the store remembers it: further writes fail and the next
 * store_commit reports the loss, so nothing that depended on those writes
 * is acknowledged.
 *
 * Functions that call back for each row first read all rows into memory
 * and reset the statement, then call back: a callback may use any store
 * function, including writes to the rows it is being shown.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "message.h"
#include "store.h"
#include "xmalloc.h"

#define NITEMS(a) (sizeof (a) / sizeof (a)[0])
#define STORE_CACHE_MAX	64	/* statements cached for other modules */

/*
 * The schema, one entry per version: store_migrations[v] takes a database
 * from version v - 1 to v.  Never edit a released entry; append a new one
 * and raise STORE_SCHEMA_VERSION.
 */
static const char *store_migrations[] = {
	NULL,

	/* 1: the first schema. */
	"CREATE TABLE contacts ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" channel TEXT NOT NULL,"
	" account TEXT NOT NULL DEFAULT '',"
	" external_id TEXT NOT NULL,"
	" display_name TEXT,"
	" lang TEXT,"
	" out_seq INTEGER NOT NULL DEFAULT 0,"
	" unreachable TEXT,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" UNIQUE (channel, account, external_id));"

	"CREATE TABLE conversations ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" contact_id INTEGER NOT NULL REFERENCES contacts (id),"
	" channel TEXT NOT NULL,"
	" account TEXT NOT NULL DEFAULT '',"
	" external_id TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL DEFAULT 'bot'"
	"  CHECK (status IN ('bot', 'pending', 'open', 'resolved')),"
	" state TEXT NOT NULL DEFAULT '{}',"
	" lang TEXT,"
	" handoff_reason TEXT,"
	" assignee INTEGER,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" last_message_at INTEGER,"
	" resolved_at INTEGER);"
	"CREATE INDEX conversations_current ON conversations"
	" (contact_id, channel, account, external_id, id)"
	" WHERE status <> 'resolved';"
	"CREATE INDEX conversations_contact ON conversations (contact_id);"
	"CREATE INDEX conversations_recent ON conversations"
	" (last_message_at);"

	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" conversation_id INTEGER REFERENCES conversations (id),"
	" contact_id INTEGER REFERENCES contacts (id),"
	" channel TEXT NOT NULL,"
	" account TEXT NOT NULL DEFAULT '',"
	" conv_external TEXT,"
	" sender_external TEXT,"
	" sender_name TEXT,"
	" external_id TEXT,"
	" direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),"
	" author TEXT NOT NULL"
	"  CHECK (author IN ('customer', 'bot', 'agent', 'system')),"
	" text TEXT,"
	" value TEXT,"
	" buttons TEXT CHECK (buttons IS NULL OR json_valid(buttons)),"
	" attachments TEXT"
	"  CHECK (attachments IS NULL OR json_valid(attachments)),"
	" seq INTEGER,"
	" status TEXT NOT NULL,"
	" status_reason TEXT,"
	" remote_id TEXT,"
	" channel_ts INTEGER,"
	" created_at INTEGER NOT NULL,"
	" raw TEXT);"
	"CREATE UNIQUE INDEX messages_dedup ON messages"
	" (channel, account, external_id)"
	" WHERE direction = 'in' AND external_id IS NOT NULL;"
	"CREATE UNIQUE INDEX messages_seq ON messages (contact_id, seq);"
	"CREATE INDEX messages_conversation ON messages (conversation_id, id);"

	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" message_id INTEGER NOT NULL UNIQUE REFERENCES messages (id),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" due_at INTEGER NOT NULL,"
	" last_error TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX outbox_due ON outbox (due_at);"

	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" conversation_id INTEGER REFERENCES conversations (id),"
	" type TEXT NOT NULL,"
	" data TEXT CHECK (data IS NULL OR json_valid(data)),"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX events_conversation ON events (conversation_id, id);",

	/*
	 * 2: understanding and knowledge.  Training examples for the intent
	 * model; knowledge-base entries with an FTS5 index over kefu's own
	 * tokenization (kb.c: CJK bigrams, stemmed words); the demo's order
	 * table; the engine's stored timers.
	 */
	"CREATE TABLE nlu_examples ("
	" id INTEGER PRIMARY KEY,"
	" text TEXT NOT NULL,"
	" intent TEXT NOT NULL,"
	" lang TEXT,"
	" source TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX nlu_examples_source ON nlu_examples (source);"

	"CREATE TABLE kb_entries ("
	" id INTEGER PRIMARY KEY,"
	" source TEXT NOT NULL,"
	" question TEXT NOT NULL,"
	" answer TEXT NOT NULL,"
	" intent TEXT,"
	" lang TEXT,"
	" tags TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX kb_entries_source ON kb_entries (source);"
	"CREATE VIRTUAL TABLE kb_fts USING fts5 (terms,"
	" tokenize = 'unicode61 remove_diacritics 0');"

	"CREATE TABLE orders ("
	" order_id TEXT PRIMARY KEY,"
	" status TEXT NOT NULL,"
	" carrier TEXT,"
	" tracking TEXT,"
	" eta TEXT,"
	" items TEXT,"
	" total TEXT,"
	" data TEXT CHECK (data IS NULL OR json_valid(data)),"
	" updated_at INTEGER NOT NULL);"

	"CREATE TABLE timers ("
	" id INTEGER PRIMARY KEY,"
	" conversation_id INTEGER NOT NULL REFERENCES conversations (id),"
	" kind TEXT NOT NULL,"
	" due_at INTEGER NOT NULL,"
	" UNIQUE (conversation_id, kind));"
	"CREATE INDEX timers_due ON timers (due_at);",

	/*
	 * 3: what was understood of each customer message, for the inbox and
	 * reports (intent NULL: out of scope or not classified).
	 */
	"ALTER TABLE messages ADD COLUMN lang TEXT;"
	"ALTER TABLE messages ADD COLUMN intent TEXT;"
	"ALTER TABLE messages ADD COLUMN confidence REAL;"
	"ALTER TABLE messages ADD COLUMN sentiment REAL;",

	/*
	 * 4: an inbound edit points at the message it changes (the
	 * channel's id of it); outbound messages are found by the id the
	 * channel gave them (a Telegram button press names its message).
	 */
	"ALTER TABLE messages ADD COLUMN edit_of TEXT;"
	"CREATE INDEX messages_remote ON messages"
	" (channel, account, conv_external, remote_id)"
	" WHERE remote_id IS NOT NULL;",

	/*
	 * 5: the inbox's accounts and access (auth.c, docs/auth.md).
	 * Agents are never deleted, only disabled, so their ids stay valid
	 * in conversations.assignee.  password_hash is a libsodium
	 * crypto_pwhash_str string (argon2id, opslimit 2, memlimit 64 MiB).
	 * Sessions and API tokens keep only the SHA-256 of the token; a
	 * token name is unique among live (unrevoked) tokens.  Login
	 * failures are counted per key: "name:NAME" or "client:ADDRESS".
	 */
	"CREATE TABLE agents ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" display_name TEXT NOT NULL,"
	" role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),"
	" password_hash TEXT NOT NULL,"
	" disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
	" max_open INTEGER NOT NULL DEFAULT 5 CHECK (max_open >= 0),"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" last_seen_at INTEGER);"

	"CREATE TABLE sessions ("
	" id INTEGER PRIMARY KEY,"
	" token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
	" agent_id INTEGER NOT NULL REFERENCES agents (id),"
	" csrf TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" last_used_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL);"
	"CREATE INDEX sessions_agent ON sessions (agent_id);"

	"CREATE TABLE api_tokens ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL,"
	" token_hash BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),"
	" agent_id INTEGER NOT NULL REFERENCES agents (id),"
	" created_at INTEGER NOT NULL,"
	" last_used_at INTEGER,"
	" revoked_at INTEGER);"
	"CREATE UNIQUE INDEX api_tokens_live ON api_tokens (name)"
	" WHERE revoked_at IS NULL;"

	"CREATE TABLE login_failures ("
	" key TEXT PRIMARY KEY,"
	" failures INTEGER NOT NULL,"
	" window_start INTEGER NOT NULL,"
	" lockouts INTEGER NOT NULL DEFAULT 0,"
	" locked_until INTEGER NOT NULL DEFAULT 0,"
	" updated_at INTEGER NOT NULL) WITHOUT ROWID;"

	"CREATE TABLE canned_replies ("
	" id INTEGER PRIMARY KEY,"
	" shortcut TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" text TEXT NOT NULL,"
	" created_by INTEGER REFERENCES agents (id),"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);",

	/*
	 * 6: the inbox.  Who wrote an agent's message or note (agent_id);
	 * since when a conversation waits for a person and when it was
	 * escalated for waiting too long; the views' index.
	 */
	"ALTER TABLE messages ADD COLUMN agent_id INTEGER;"
	"ALTER TABLE conversations ADD COLUMN waiting_since INTEGER;"
	"ALTER TABLE conversations ADD COLUMN escalated_at INTEGER;"
	"CREATE INDEX conversations_status ON conversations"
	" (status, last_message_at);"
	"UPDATE conversations SET waiting_since = updated_at"
	" WHERE status = 'pending';",

	/*
	 * 7: outgoing webhooks' own outbox: each event's body is written in
	 * the transaction that made it true and sent after the commit,
	 * with retries (webhooks.c).
	 */
	"CREATE TABLE webhook_outbox ("
	" id INTEGER PRIMARY KEY,"
	" url TEXT NOT NULL,"
	" event TEXT NOT NULL,"
	" body TEXT NOT NULL CHECK (json_valid(body)),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" due_at INTEGER NOT NULL,"
	" last_error TEXT,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX webhook_outbox_due ON webhook_outbox (due_at);",

	/*
	 * 8: the inbound queue.  A channel that must answer its sender
	 * quickly (a Telegram webhook) stores the raw item here, commits
	 * and answers; the pipeline takes the items in order afterwards and
	 * removes each in the transaction that stored its message.  key is
	 * the channel's own id for the item (a Telegram update_id), so an
	 * item sent twice while it waits is queued once.  An item that kept
	 * failing is set aside with failed_at and error, never dropped, and
	 * no longer holds its key (Telegram reuses update ids).
	 */
	"CREATE TABLE inbound_queue ("
	" id INTEGER PRIMARY KEY,"
	" channel TEXT NOT NULL,"
	" account TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" body BLOB NOT NULL,"
	" received_at INTEGER NOT NULL,"
	" failed_at INTEGER,"
	" error TEXT);"
	"CREATE UNIQUE INDEX inbound_queue_key ON inbound_queue"
	" (channel, account, key) WHERE failed_at IS NULL;"
};

_Static_assert(NITEMS(store_migrations) == STORE_SCHEMA_VERSION + 1,
    "store_migrations must have one entry per schema version");

/* The columns read into a struct contact, in contact_from_row order. */
#define CONTACT_COLUMNS							\
	"id, channel, account, external_id, display_name, out_seq, "	\
	"unreachable, created_at"

/* The columns read into a struct conversation. */
#define CONV_COLUMNS							\
	"id, contact_id, channel, account, external_id, status, state, "\
	"lang, handoff_reason, assignee, created_at, updated_at, "	\
	"last_message_at, resolved_at, waiting_since, escalated_at"

/* The columns read into a struct message, from table alias m. */
#define MSG_COLUMNS							\
	"m.id, m.conversation_id, m.contact_id, m.channel, m.account, "	\
	"m.conv_external, m.sender_external, m.sender_name, "		\
	"m.external_id, m.direction, m.author, m.text, m.value, "	\
	"m.buttons, m.attachments, m.seq, m.status, m.status_reason, "	\
	"m.remote_id, m.channel_ts, m.created_at, m.raw, m.edit_of, "	\
	"m.agent_id"

enum store_stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_CONTACT_FIND,
	S_CONTACT_GET,
	S_CONTACT_INSERT,
	S_CONTACT_NAME,
	S_CONTACT_NEXT_SEQ,
	S_CONTACT_UNREACHABLE,
	S_CONV_CURRENT,
	S_CONV_INSERT,
	S_CONV_GET,
	S_CONV_SAVE,
	S_CONV_LIST,
	S_MSG_INSERT,
	S_MSG_DEDUP,
	S_MSG_GET,
	S_MSG_STATUS,
	S_MSG_UNDERSTOOD,
	S_MSG_BY_SEQ,
	S_MSG_BY_CONV,
	S_MSG_COUNT,
	S_OUTBOX_ADD,
	S_OUTBOX_DUE,
	S_OUTBOX_NEXT,
	S_OUTBOX_REMOVE,
	S_OUTBOX_RETRY,
	S_OUTBOX_DEPTH,
	S_EVENT_ADD,
	S_QUEUE_ADD,
	S_QUEUE_NEXT,
	S_QUEUE_REMOVE,
	S_QUEUE_FAIL,
	S_QUEUE_COUNT,
	S_COUNT
};

static const char *store_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",

	[S_CONTACT_FIND] = "SELECT " CONTACT_COLUMNS " FROM contacts"
	    " WHERE channel = ?1 AND account = ?2 AND external_id = ?3",
	[S_CONTACT_GET] = "SELECT " CONTACT_COLUMNS " FROM contacts"
	    " WHERE id = ?1",
	[S_CONTACT_INSERT] = "INSERT INTO contacts (channel, account,"
	    " external_id, display_name, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	[S_CONTACT_NAME] = "UPDATE contacts SET display_name = ?2,"
	    " updated_at = ?3 WHERE id = ?1 AND display_name IS NOT ?2",
	[S_CONTACT_NEXT_SEQ] = "UPDATE contacts SET out_seq = out_seq + 1,"
	    " updated_at = ?2 WHERE id = ?1 RETURNING out_seq",
	[S_CONTACT_UNREACHABLE] = "UPDATE contacts SET unreachable = ?2,"
	    " updated_at = ?3 WHERE id = ?1",

	[S_CONV_CURRENT] = "SELECT " CONV_COLUMNS " FROM conversations"
	    " WHERE contact_id = ?1 AND channel = ?2 AND account = ?3"
	    " AND external_id = ?4 AND status <> 'resolved'"
	    " ORDER BY id DESC LIMIT 1",
	[S_CONV_INSERT] = "INSERT INTO conversations (contact_id, channel,"
	    " account, external_id, created_at, updated_at, last_message_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)",
	[S_CONV_GET] = "SELECT " CONV_COLUMNS " FROM conversations"
	    " WHERE id = ?1",
	[S_CONV_SAVE] = "UPDATE conversations SET status = ?2, state = ?3,"
	    " lang = ?4, handoff_reason = ?5, assignee = ?6,"
	    " updated_at = ?7, last_message_at = ?8, resolved_at = ?9,"
	    " waiting_since = ?10, escalated_at = ?11"
	    " WHERE id = ?1",
	[S_CONV_LIST] = "SELECT " CONV_COLUMNS " FROM conversations"
	    " ORDER BY last_message_at DESC, id DESC LIMIT ?1",

	[S_MSG_INSERT] = "INSERT INTO messages (conversation_id, contact_id,"
	    " channel, account, conv_external, sender_external, sender_name,"
	    " external_id, direction, author, text, value, buttons,"
	    " attachments, seq, status, status_reason, remote_id, channel_ts,"
	    " created_at, raw, edit_of, agent_id) VALUES (?1, ?2, ?3, ?4, ?5,"
	    " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
	    " ?19, ?20, ?21, ?22, ?23)"
	    " ON CONFLICT (channel, account, external_id)"
	    " WHERE direction = 'in' AND external_id IS NOT NULL"
	    " DO NOTHING RETURNING id",
	[S_MSG_DEDUP] = "SELECT id, conversation_id FROM messages"
	    " WHERE channel = ?1 AND account = ?2 AND external_id = ?3"
	    " AND direction = 'in'",
	[S_MSG_GET] = "SELECT " MSG_COLUMNS " FROM messages m"
	    " WHERE m.id = ?1",
	[S_MSG_UNDERSTOOD] = "UPDATE messages SET lang = ?2, intent = ?3,"
	    " confidence = ?4, sentiment = ?5 WHERE id = ?1",
	[S_MSG_STATUS] = "UPDATE messages SET status = ?2,"
	    " status_reason = ?3, remote_id = coalesce(?4, remote_id)"
	    " WHERE id = ?1",
	[S_MSG_BY_SEQ] = "SELECT " MSG_COLUMNS " FROM messages m"
	    " WHERE m.contact_id = ?1 AND m.seq > ?2 AND m.seq <= ?3"
	    " AND m.direction = 'out' ORDER BY m.seq",
	[S_MSG_BY_CONV] = "SELECT " MSG_COLUMNS " FROM messages m"
	    " WHERE m.conversation_id = ?1 ORDER BY m.id",
	[S_MSG_COUNT] = "SELECT count(*) FROM messages"
	    " WHERE ?1 IS NULL OR external_id = ?1",

	[S_OUTBOX_ADD] = "INSERT INTO outbox (message_id, due_at, created_at)"
	    " VALUES (?1, ?2, ?3) ON CONFLICT (message_id) DO NOTHING",
	[S_OUTBOX_DUE] = "SELECT o.id, o.message_id, o.attempts, o.due_at,"
	    " o.last_error, " MSG_COLUMNS " FROM outbox o"
	    " JOIN messages m ON m.id = o.message_id"
	    " WHERE o.due_at <= ?1 ORDER BY o.due_at, o.id LIMIT ?2",
	[S_OUTBOX_NEXT] = "SELECT min(due_at) FROM outbox",
	[S_OUTBOX_REMOVE] = "DELETE FROM outbox WHERE id = ?1",
	[S_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1,"
	    " due_at = ?2, last_error = ?3 WHERE id = ?1",
	[S_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox",

	[S_EVENT_ADD] = "INSERT INTO events (conversation_id, type, data,"
	    " created_at) VALUES (?1, ?2, ?3, ?4)",

	[S_QUEUE_ADD] = "INSERT INTO inbound_queue (channel, account, key,"
	    " body, received_at) VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (channel, account, key) WHERE failed_at IS NULL"
	    " DO NOTHING",
	[S_QUEUE_NEXT] = "SELECT id, channel, account, body, received_at"
	    " FROM inbound_queue WHERE id > ?1 AND failed_at IS NULL"
	    " ORDER BY id LIMIT ?2",
	[S_QUEUE_REMOVE] = "DELETE FROM inbound_queue WHERE id = ?1",
	[S_QUEUE_FAIL] = "UPDATE inbound_queue SET failed_at = ?2,"
	    " error = ?3 WHERE id = ?1",
	[S_QUEUE_COUNT] = "SELECT count(*) FROM inbound_queue"
	    " WHERE failed_at IS NULL",
};

struct store {
	sqlite3		*db;
	char		*path;
	int		 version;
	int		 in_tx;		/* we opened a transaction */
	int		 wal_fd;	/* store_defer_sync: the WAL, or -1 */
	int		 unsynced;	/* committed since the last sync */
	double		 last_commit_ms;
	sqlite3_stmt	*stmts[S_COUNT];
	struct {
		const char	*sql;		/* by address: a constant */
		sqlite3_stmt	*st;
	}		 cache[STORE_CACHE_MAX];
	size_t		 ncache;
};

/* Log a failure with the statement's purpose and set *cause if wanted. */
static int
store_error(struct store *s, const char *op, char **cause)
{
	const char	*err;

	err = (s->db != NULL) ? sqlite3_errmsg(s->db) : "out of memory";
	log_warnx("store", "msg=\"%s failed\" error=%s", op, logq(err));
	if (cause != NULL)
		*cause = xasprintf("store: %s: %s", op, err);
	return (-1);
}

/* Take a cached statement, reset and with no bindings. */
static sqlite3_stmt *
store_stmt(struct store *s, enum store_stmt id)
{
	sqlite3_stmt	*st = s->stmts[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return (st);
}

/* Finish with a cached statement so it holds no pointers or locks. */
static void
store_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Report a failed step, then release the statement. */
static int
store_fail(struct store *s, sqlite3_stmt *st, const char *op, char **cause)
{
	store_error(s, op, cause);
	store_done(st);
	return (-1);
}

/*
 * Bind a string, or NULL.  Bindings are SQLITE_STATIC: the caller's
 * strings outlive the step, and store_done clears them after.
 */
static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Bind an integer where 0 means none (NULL). */
static void
bind_id(sqlite3_stmt *st, int i, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

/* A text column copied, or NULL. */
static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char	*v;

	if ((v = sqlite3_column_text(st, i)) == NULL)
		return (NULL);
	return (xstrdup((const char *)v));
}

/* Run a statement that returns no rows; 0 or -1 (the statement is done). */
static int
store_exec(struct store *s, sqlite3_stmt *st, const char *op)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return (store_fail(s, st, op, NULL));
	store_done(st);
	return (0);
}

/* Run an UPDATE or DELETE that must touch exactly one row by id. */
static int
store_exec_one(struct store *s, sqlite3_stmt *st, const char *op, int64_t id)
{
	if (store_exec(s, st, op) != 0)
		return (-1);
	if (sqlite3_changes(s->db) == 0) {
		log_warnx("store", "msg=\"%s: no such row\" id=%" PRId64, op,
		    id);
		return (-1);
	}
	return (0);
}

/* Run a statement returning one integer (NULL is "none"): 1, 0 or -1. */
static int
store_scalar(struct store *s, sqlite3_stmt *st, const char *op, int64_t *v)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return (store_fail(s, st, op, NULL));
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		store_done(st);
		return (0);
	}
	*v = sqlite3_column_int64(st, 0);
	store_done(st);
	return (1);
}

/* Milliseconds on the monotonic clock, for timing commits. */
static double
store_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6);
}

/* Run SQL text with no data in it (pragmas, migrations). */
static int
store_exec_sql(struct store *s, const char *sql, const char *op, char **cause)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return (store_error(s, op, cause));
	return (0);
}

/* Read a one-value pragma as an integer. */
static int
store_pragma_int(struct store *s, const char *sql, int *v, char **cause)
{
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return (store_error(s, sql, cause));
	if (sqlite3_step(st) != SQLITE_ROW) {
		store_error(s, sql, cause);
		sqlite3_finalize(st);
		return (-1);
	}
	*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return (0);
}

/* Switch to WAL and check that SQLite agreed. */
static int
store_set_wal(struct store *s, char **cause)
{
	sqlite3_stmt	*st;
	const char	*mode;
	int		 ok;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK)
		return (store_error(s, "set journal_mode", cause));
	if (sqlite3_step(st) != SQLITE_ROW) {
		store_error(s, "set journal_mode", cause);
		sqlite3_finalize(st);
		return (-1);
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	ok = (mode != NULL && (strcmp(mode, "wal") == 0 ||
	    (strcmp(mode, "memory") == 0 && strcmp(s->path, ":memory:") == 0)));
	if (!ok) {
		*cause = xasprintf("store: %s: journal_mode is %s, not wal",
		    s->path, mode == NULL ? "unknown" : mode);
	}
	sqlite3_finalize(st);
	return (ok ? 0 : -1);
}

/* Bring the schema up to STORE_SCHEMA_VERSION, in one transaction. */
static int
store_migrate(struct store *s, char **cause)
{
	char	 sql[64], *why;
	int	 v, to;

	if (store_pragma_int(s, "PRAGMA user_version", &v, cause) != 0)
		return (-1);
	if (v > STORE_SCHEMA_VERSION)
		goto too_new;
	if (v == STORE_SCHEMA_VERSION) {
		s->version = v;
		return (0);
	}

	if (store_exec_sql(s, "BEGIN IMMEDIATE", "begin migration",
	    cause) != 0)
		return (-1);
	/* Another process may have migrated while we waited for the lock. */
	if (store_pragma_int(s, "PRAGMA user_version", &v, cause) != 0)
		goto fail;
	if (v > STORE_SCHEMA_VERSION) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		goto too_new;
	}
	for (to = v + 1; to <= STORE_SCHEMA_VERSION; to++) {
		if (sqlite3_exec(s->db, store_migrations[to], NULL, NULL,
		    NULL) != SQLITE_OK) {
			why = xasprintf("migrate %s to version %d", s->path,
			    to);
			store_error(s, why, cause);
			free(why);
			goto fail;
		}
		log_info("store", "msg=\"schema migrated\" path=%s version=%d",
		    logq(s->path), to);
	}
	xsnprintf(sql, sizeof sql, "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	if (store_exec_sql(s, sql, "set user_version", cause) != 0)
		goto fail;
	if (store_exec_sql(s, "COMMIT", "commit migration", cause) != 0)
		goto fail;
	s->version = STORE_SCHEMA_VERSION;
	return (0);

fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);

too_new:
	*cause = xasprintf("store: %s has schema version %d, newer than this "
	    "kefu's %d", s->path, v, STORE_SCHEMA_VERSION);
	log_warnx("store", "msg=\"schema too new\" path=%s version=%d "
	    "supported=%d", logq(s->path), v, STORE_SCHEMA_VERSION);
	return (-1);
}

/* Prepare every statement once, for the life of the connection. */
static int
store_prepare(struct store *s, char **cause)
{
	size_t	i;
	char	*why;

	for (i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->stmts[i], NULL) !=
		    SQLITE_OK) {
			why = xasprintf("prepare statement %zu", i);
			store_error(s, why, cause);
			free(why);
			return (-1);
		}
	}
	return (0);
}

/*
 * Open (creating if needed) and migrate the database at path, with
 * synchronous FULL or NORMAL and the given busy timeout (ms).  Returns 0
 * and *sp (free with store_close), or -1 with *cause (caller frees).
 */
int
store_open(const char *path, int sync_full, int busy_timeout_ms,
    struct store **sp, char **cause)
{
	struct store	*s;
	int		 fk;

	s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->wal_fd = -1;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*cause = xasprintf("store: open %s: %s", path,
		    s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (busy_timeout_ms > 0)
		sqlite3_busy_timeout(s->db, busy_timeout_ms);

	if (store_set_wal(s, cause) != 0)
		goto fail;
	if (store_exec_sql(s, sync_full ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL", "set synchronous", cause) != 0)
		goto fail;
	if (store_exec_sql(s, "PRAGMA foreign_keys = ON", "set foreign_keys",
	    cause) != 0)
		goto fail;
	if (store_pragma_int(s, "PRAGMA foreign_keys", &fk, cause) != 0)
		goto fail;
	if (fk != 1) {
		*cause = xasprintf("store: %s: foreign keys not supported",
		    path);
		goto fail;
	}

	if (store_migrate(s, cause) != 0)
		goto fail;
	if (store_prepare(s, cause) != 0)
		goto fail;

	log_info("store", "msg=\"opened\" path=%s version=%d synchronous=%s",
	    logq(path), s->version, sync_full ? "full" : "normal");
	*sp = s;
	return (0);

fail:
	store_close(s);
	return (-1);
}

/* Roll back any open transaction, finalize the statements and close. */
void
store_close(struct store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	if (s->wal_fd != -1) {
		store_sync(s);
		close(s->wal_fd);
		s->wal_fd = -1;
	}
	if (s->db != NULL) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < S_COUNT; i++)
			sqlite3_finalize(s->stmts[i]);
		for (i = 0; i < s->ncache; i++)
			sqlite3_finalize(s->cache[i].st);
		if (s->version != 0) {
			sqlite3_exec(s->db, "PRAGMA optimize", NULL, NULL,
			    NULL);
		}
		if (sqlite3_close(s->db) != SQLITE_OK) {
			log_warnx("store", "msg=\"close failed\" error=%s",
			    logq(sqlite3_errmsg(s->db)));
		}
	}
	free(s->path);
	free(s);
}

/* The schema version of the open file. */
int
store_schema_version(struct store *s)
{
	return (s->version);
}

/*
 * Open a transaction unless one is open.  Fails while a transaction that
 * SQLite rolled back by itself has not yet been reported by store_commit.
 */
int
store_begin(struct store *s)
{
	if (s->in_tx) {
		if (sqlite3_get_autocommit(s->db)) {
			log_warnx("store", "msg=\"write refused: transaction "
			    "was rolled back after an error\"");
			return (-1);
		}
		return (0);
	}
	if (store_exec(s, store_stmt(s, S_BEGIN), "begin") != 0)
		return (-1);
	s->in_tx = 1;
	return (0);
}

/*
 * Commit the open transaction, if any, timing it.  On failure the
 * transaction is rolled back and -1 returned with *cause.
 */
int
store_commit(struct store *s, char **cause)
{
	sqlite3_stmt	*st;
	double		 start;

	if (!s->in_tx)
		return (0);
	if (sqlite3_get_autocommit(s->db)) {
		s->in_tx = 0;
		*cause = xstrdup("store: commit: the transaction was rolled "
		    "back after an earlier error");
		log_warnx("store", "msg=\"commit failed\" error=%s",
		    logq("rolled back after an earlier error"));
		return (-1);
	}

	start = store_mono_ms();
	st = store_stmt(s, S_COMMIT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		store_fail(s, st, "commit", cause);
		store_rollback(s);
		return (-1);
	}
	store_done(st);
	s->in_tx = 0;
	s->last_commit_ms = store_mono_ms() - start;
	if (s->wal_fd != -1)
		s->unsynced = 1;
	return (0);
}

/*
 * Leave the commits' flush to the disk to the caller, who must not report
 * a commit as durable before store_sync_fd's descriptor has been synced
 * (fdatasync) after it.  SQLite then writes the WAL without syncing it at
 * each commit (synchronous = NORMAL, which still syncs around
 * checkpoints), and one sync, off the loop, covers every commit before it:
 * what synchronous = FULL promises, without the loop waiting for the disk.
 * Returns 0, or -1 with *cause (the store stays as it was).
 */
int
store_defer_sync(struct store *s, char **cause)
{
	char	*wal;
	int	 fd;

	if (strcmp(s->path, ":memory:") == 0)
		return (0);
	wal = xasprintf("%s-wal", s->path);
	fd = open(wal, O_RDWR | O_CLOEXEC);
	if (fd == -1) {
		*cause = xasprintf("store: open %s: %s", wal,
		    strerror(errno));
		free(wal);
		return (-1);
	}
	free(wal);
	if (store_exec_sql(s, "PRAGMA synchronous = NORMAL",
	    "set synchronous", cause) != 0) {
		close(fd);
		return (-1);
	}
	s->wal_fd = fd;
	return (0);
}

/* Whether commits wait for a sync (store_defer_sync). */
int
store_sync_pending(struct store *s)
{
	return (s->wal_fd != -1 && s->unsynced);
}

/*
 * The descriptor to sync for the commits so far, which count as synced
 * from here on; -1 if none wait.
 */
int
store_sync_fd(struct store *s)
{
	if (!store_sync_pending(s))
		return (-1);
	s->unsynced = 0;
	return (s->wal_fd);
}

/* Sync now what waits for it; 0 or -1 (logged). */
int
store_sync(struct store *s)
{
	int	fd;

	if ((fd = store_sync_fd(s)) == -1)
		return (0);
	if (fdatasync(fd) == -1) {
		log_warn("store", "msg=\"sync failed\" path=%s",
		    logq(s->path));
		return (-1);
	}
	return (0);
}

/*
 * Sync now everything committed, even what a sync already under way (on
 * the thread pool) covers; 0 or -1 (logged).
 */
int
store_sync_force(struct store *s)
{
	if (s->wal_fd == -1)
		return (0);
	s->unsynced = 1;
	return (store_sync(s));
}

/* Abandon the open transaction, if any. */
void
store_rollback(struct store *s)
{
	s->in_tx = 0;
	if (sqlite3_get_autocommit(s->db))
		return;
	store_exec(s, store_stmt(s, S_ROLLBACK), "rollback");
}

/* Whether a transaction opened by store_begin is still pending. */
int
store_in_transaction(struct store *s)
{
	return (s->in_tx);
}

/* Milliseconds the last successful commit took. */
double
store_last_commit_ms(struct store *s)
{
	return (s->last_commit_ms);
}

/* Fill a contact from a row of CONTACT_COLUMNS. */
static void
contact_from_row(sqlite3_stmt *st, struct contact *c)
{
	memset(c, 0, sizeof *c);
	c->id = sqlite3_column_int64(st, 0);
	c->channel = col_text(st, 1);
	c->account = col_text(st, 2);
	c->external_id = col_text(st, 3);
	c->display_name = col_text(st, 4);
	c->out_seq = sqlite3_column_int64(st, 5);
	c->unreachable = col_text(st, 6);
	c->created_at = sqlite3_column_int64(st, 7);
}

/* Step a contact query: 1 and *c, 0, or -1. */
static int
store_contact_row(struct store *s, sqlite3_stmt *st, const char *op,
    struct contact *c)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		store_done(st);
		return (0);
	}
	if (rc != SQLITE_ROW)
		return (store_fail(s, st, op, NULL));
	contact_from_row(st, c);
	store_done(st);
	return (1);
}

/*
 * Find or create the contact (channel, account, external_id), updating its
 * display name when a different one is given; sets *id.
 */
int
store_contact_ensure(struct store *s, const char *channel,
    const char *account, const char *external_id, const char *display_name,
    int64_t now, int64_t *id)
{
	sqlite3_stmt	*st;
	struct contact	 c;
	int		 found;

	if (account == NULL)
		account = "";
	if (now == 0)
		now = now_ms();
	found = store_contact_find(s, channel, account, external_id, &c);
	if (found == -1)
		return (-1);
	if (found) {
		*id = c.id;
		contact_clear(&c);
		if (display_name == NULL)
			return (0);
		if (store_begin(s) != 0)
			return (-1);
		st = store_stmt(s, S_CONTACT_NAME);
		sqlite3_bind_int64(st, 1, *id);
		bind_text(st, 2, display_name);
		sqlite3_bind_int64(st, 3, now);
		return (store_exec(s, st, "update contact name"));
	}

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_CONTACT_INSERT);
	bind_text(st, 1, channel);
	bind_text(st, 2, account);
	bind_text(st, 3, external_id);
	bind_text(st, 4, display_name);
	sqlite3_bind_int64(st, 5, now);
	if (store_exec(s, st, "insert contact") != 0)
		return (-1);
	*id = sqlite3_last_insert_rowid(s->db);
	return (0);
}

/* Look a contact up by (channel, account, external_id); 1, 0 or -1. */
int
store_contact_find(struct store *s, const char *channel, const char *account,
    const char *external_id, struct contact *c)
{
	sqlite3_stmt	*st;

	st = store_stmt(s, S_CONTACT_FIND);
	bind_text(st, 1, channel);
	bind_text(st, 2, account == NULL ? "" : account);
	bind_text(st, 3, external_id);
	return (store_contact_row(s, st, "find contact", c));
}

/* Look a contact up by id; 1, 0 or -1. */
int
store_contact_get(struct store *s, int64_t id, struct contact *c)
{
	sqlite3_stmt	*st;

	st = store_stmt(s, S_CONTACT_GET);
	sqlite3_bind_int64(st, 1, id);
	return (store_contact_row(s, st, "get contact", c));
}

/* Take the contact's next outbound sequence number into *seq. */
int
store_contact_next_seq(struct store *s, int64_t id, int64_t *seq)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_CONTACT_NEXT_SEQ);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		store_done(st);
		log_warnx("store", "msg=\"next seq: no such contact\" "
		    "contact=%" PRId64, id);
		return (-1);
	}
	if (rc != SQLITE_ROW)
		return (store_fail(s, st, "next seq", NULL));
	*seq = sqlite3_column_int64(st, 0);
	if (sqlite3_step(st) != SQLITE_DONE)
		return (store_fail(s, st, "next seq", NULL));
	store_done(st);
	return (0);
}

/* Mark the contact unreachable (reason) or reachable again (NULL). */
int
store_contact_set_unreachable(struct store *s, int64_t id, const char *reason)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_CONTACT_UNREACHABLE);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, now_ms());
	return (store_exec_one(s, st, "set unreachable", id));
}

/* Free the members of a contact and zero it. */
void
contact_clear(struct contact *c)
{
	free(c->channel);
	free(c->account);
	free(c->external_id);
	free(c->display_name);
	free(c->unreachable);
	memset(c, 0, sizeof *c);
}

/* Fill a conversation from a row of CONV_COLUMNS starting at column 0. */
static void
conversation_from_row(sqlite3_stmt *st, struct conversation *c)
{
	memset(c, 0, sizeof *c);
	c->id = sqlite3_column_int64(st, 0);
	c->contact_id = sqlite3_column_int64(st, 1);
	c->channel = col_text(st, 2);
	c->account = col_text(st, 3);
	c->external_id = col_text(st, 4);
	c->status = col_text(st, 5);
	c->state = col_text(st, 6);
	c->lang = col_text(st, 7);
	c->handoff_reason = col_text(st, 8);
	c->assignee = sqlite3_column_int64(st, 9);
	c->created_at = sqlite3_column_int64(st, 10);
	c->updated_at = sqlite3_column_int64(st, 11);
	c->last_message_at = sqlite3_column_int64(st, 12);
	c->resolved_at = sqlite3_column_int64(st, 13);
	c->waiting_since = sqlite3_column_int64(st, 14);
	c->escalated_at = sqlite3_column_int64(st, 15);
}

/* Step a conversation query: 1 and *c, 0, or -1. */
static int
store_conversation_row(struct store *s, sqlite3_stmt *st, const char *op,
    struct conversation *c)
{
	int	rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		store_done(st);
		return (0);
	}
	if (rc != SQLITE_ROW)
		return (store_fail(s, st, op, NULL));
	conversation_from_row(st, c);
	store_done(st);
	return (1);
}

/*
 * The contact's current conversation on (channel, account, external_id):
 * the newest one not resolved, or a new one in status "bot".  Returns 1 if
 * created, 0 if it existed, -1 on error; *c is filled (caller clears).
 */
int
store_conversation_ensure(struct store *s, int64_t contact_id,
    const char *channel, const char *account, const char *external_id,
    int64_t now, struct conversation *c)
{
	sqlite3_stmt	*st;
	int64_t		 id;
	int		 found;

	if (account == NULL)
		account = "";
	if (external_id == NULL)
		external_id = "";
	if (now == 0)
		now = now_ms();

	st = store_stmt(s, S_CONV_CURRENT);
	sqlite3_bind_int64(st, 1, contact_id);
	bind_text(st, 2, channel);
	bind_text(st, 3, account);
	bind_text(st, 4, external_id);
	found = store_conversation_row(s, st, "find conversation", c);
	if (found != 0)
		return (found == 1 ? 0 : -1);

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_CONV_INSERT);
	sqlite3_bind_int64(st, 1, contact_id);
	bind_text(st, 2, channel);
	bind_text(st, 3, account);
	bind_text(st, 4, external_id);
	sqlite3_bind_int64(st, 5, now);
	if (store_exec(s, st, "insert conversation") != 0)
		return (-1);
	id = sqlite3_last_insert_rowid(s->db);
	if (store_conversation_get(s, id, c) != 1)
		return (-1);
	log_debug("store", "msg=\"conversation created\" conv=%" PRId64
	    " contact=%" PRId64 " channel=%s", id, contact_id, logq(channel));
	return (1);
}

/* Look a conversation up by id; 1, 0 or -1. */
int
store_conversation_get(struct store *s, int64_t id, struct conversation *c)
{
	sqlite3_stmt	*st;

	st = store_stmt(s, S_CONV_GET);
	sqlite3_bind_int64(st, 1, id);
	return (store_conversation_row(s, st, "get conversation", c));
}

/*
 * Save a conversation's status, state, lang, handoff_reason, assignee and
 * timestamps (updated_at 0: now; resolved_at and assignee 0: none).
 */
int
store_conversation_save(struct store *s, const struct conversation *c)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_CONV_SAVE);
	sqlite3_bind_int64(st, 1, c->id);
	bind_text(st, 2, c->status == NULL ? "bot" : c->status);
	bind_text(st, 3, c->state == NULL ? "{}" : c->state);
	bind_text(st, 4, c->lang);
	bind_text(st, 5, c->handoff_reason);
	bind_id(st, 6, c->assignee);
	sqlite3_bind_int64(st, 7, c->updated_at != 0 ? c->updated_at :
	    now_ms());
	bind_id(st, 8, c->last_message_at);
	bind_id(st, 9, c->resolved_at);
	bind_id(st, 10, c->waiting_since);
	bind_id(st, 11, c->escalated_at);
	return (store_exec_one(s, st, "save conversation", c->id));
}

/* Free the members of a conversation and zero it. */
void
conversation_clear(struct conversation *c)
{
	free(c->channel);
	free(c->account);
	free(c->external_id);
	free(c->status);
	free(c->state);
	free(c->lang);
	free(c->handoff_reason);
	memset(c, 0, sizeof *c);
}

/*
 * Call fn for the most recently active conversations, newest first, at
 * most limit (0 or less: all).  fn returns 0 to go on, -1 to stop.
 */
int
store_conversation_list(struct store *s, int limit,
    int (*fn)(void *, const struct conversation *), void *arg)
{
	sqlite3_stmt		*st;
	struct conversation	*v = NULL;
	size_t			 n = 0, i;
	int			 rc, stop = 0;

	st = store_stmt(s, S_CONV_LIST);
	sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof *v);
		conversation_from_row(st, &v[n++]);
	}
	if (rc != SQLITE_DONE)
		stop = store_fail(s, st, "list conversations", NULL);
	else
		store_done(st);

	for (i = 0; i < n; i++) {
		if (stop == 0 && fn(arg, &v[i]) != 0)
			stop = 1;
		conversation_clear(&v[i]);
	}
	free(v);
	return (stop == -1 ? -1 : 0);
}

/*
 * Fill a message from a row of MSG_COLUMNS starting at column base; -1 if
 * the stored buttons or attachments do not parse (m is then cleared).
 */
static int
message_from_row(sqlite3_stmt *st, int base, struct message *m)
{
	const char	*buttons, *attachments;
	int		 v;

	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, base + 0);
	m->conversation_id = sqlite3_column_int64(st, base + 1);
	m->contact_id = sqlite3_column_int64(st, base + 2);
	m->channel = col_text(st, base + 3);
	m->account = col_text(st, base + 4);
	m->conv_external = col_text(st, base + 5);
	m->sender_external = col_text(st, base + 6);
	m->sender_name = col_text(st, base + 7);
	m->external_id = col_text(st, base + 8);
	v = msg_direction_parse((const char *)sqlite3_column_text(st,
	    base + 9));
	m->direction = (v == -1) ? MSG_IN : (enum msg_direction)v;
	v = msg_author_parse((const char *)sqlite3_column_text(st, base + 10));
	m->author = (v == -1) ? AUTHOR_SYSTEM : (enum msg_author)v;
	m->text = col_text(st, base + 11);
	m->value = col_text(st, base + 12);
	buttons = (const char *)sqlite3_column_text(st, base + 13);
	attachments = (const char *)sqlite3_column_text(st, base + 14);
	if (buttons_from_json(buttons, &m->buttons, &m->nbuttons) != 0 ||
	    attachments_from_json(attachments, &m->attachments,
	    &m->nattachments) != 0) {
		log_warnx("store", "msg=\"bad buttons or attachments JSON\" "
		    "message=%" PRId64, m->id);
		message_clear(m);
		return (-1);
	}
	m->seq = sqlite3_column_int64(st, base + 15);
	m->status = col_text(st, base + 16);
	m->status_reason = col_text(st, base + 17);
	m->remote_id = col_text(st, base + 18);
	m->channel_ts = sqlite3_column_int64(st, base + 19);
	m->created_at = sqlite3_column_int64(st, base + 20);
	m->raw = col_text(st, base + 21);
	m->edit_of = col_text(st, base + 22);
	m->agent_id = sqlite3_column_int64(st, base + 23);
	return (0);
}

/*
 * Read every row of a message query into an array (freed with
 * messages_free); 0 or -1.  The statement is done afterwards.
 */
static int
store_read_messages(struct store *s, sqlite3_stmt *st, const char *op,
    struct message **vp, size_t *np)
{
	struct message	*v = NULL;
	size_t		 n = 0, i;
	int		 rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof *v);
		if (message_from_row(st, 0, &v[n]) != 0)
			break;
		n++;
	}
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_ROW)
			store_done(st);
		else
			store_fail(s, st, op, NULL);
		for (i = 0; i < n; i++)
			message_clear(&v[i]);
		free(v);
		return (-1);
	}
	store_done(st);
	*vp = v;
	*np = n;
	return (0);
}

/* Call fn for each message of an array, stopping when it asks; free all. */
static void
store_call_messages(struct message *v, size_t n,
    int (*fn)(void *, const struct message *), void *arg)
{
	size_t	i;
	int	stop = 0;

	for (i = 0; i < n; i++) {
		if (!stop && fn(arg, &v[i]) != 0)
			stop = 1;
		message_clear(&v[i]);
	}
	free(v);
}

/*
 * Insert a message.  Defaults: status "received" (in) or "queued" (out)
 * and created_at now, both written back into m.  An inbound message whose
 * external_id is already stored for its (channel, account) is a duplicate:
 * 0 is returned with m->id and m->conversation_id set to the stored one's.
 * Returns 1 when inserted (m->id set), -1 on error.
 */
int
store_message_insert(struct store *s, struct message *m)
{
	sqlite3_stmt	*st;
	const char	*account;
	char		*buttons = NULL, *attachments = NULL;
	int		 rc, inserted;

	if (store_begin(s) != 0)
		return (-1);
	account = (m->account == NULL) ? "" : m->account;
	if (m->status == NULL)
		m->status = xstrdup(m->direction == MSG_IN ? "received" :
		    "queued");
	if (m->created_at == 0)
		m->created_at = now_ms();
	if (m->nbuttons != 0)
		buttons = buttons_to_json(m->buttons, m->nbuttons);
	if (m->nattachments != 0) {
		attachments = attachments_to_json(m->attachments,
		    m->nattachments);
	}

	st = store_stmt(s, S_MSG_INSERT);
	bind_id(st, 1, m->conversation_id);
	bind_id(st, 2, m->contact_id);
	bind_text(st, 3, m->channel);
	bind_text(st, 4, account);
	bind_text(st, 5, m->conv_external);
	bind_text(st, 6, m->sender_external);
	bind_text(st, 7, m->sender_name);
	bind_text(st, 8, m->external_id);
	bind_text(st, 9, msg_direction_name(m->direction));
	bind_text(st, 10, msg_author_name(m->author));
	bind_text(st, 11, m->text);
	bind_text(st, 12, m->value);
	bind_text(st, 13, buttons);
	bind_text(st, 14, attachments);
	bind_id(st, 15, m->seq);
	bind_text(st, 16, m->status);
	bind_text(st, 17, m->status_reason);
	bind_text(st, 18, m->remote_id);
	bind_id(st, 19, m->channel_ts);
	sqlite3_bind_int64(st, 20, m->created_at);
	bind_text(st, 21, m->raw);
	bind_text(st, 22, m->edit_of);
	bind_id(st, 23, m->agent_id);

	inserted = -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		m->id = sqlite3_column_int64(st, 0);
		if (sqlite3_step(st) == SQLITE_DONE)
			inserted = 1;
	} else if (rc == SQLITE_DONE)
		inserted = 0;	/* nothing inserted: a duplicate */
	if (inserted == -1)
		store_fail(s, st, "insert message", NULL);
	else
		store_done(st);
	free(buttons);
	free(attachments);
	if (inserted != 0)
		return (inserted);

	st = store_stmt(s, S_MSG_DEDUP);
	bind_text(st, 1, m->channel);
	bind_text(st, 2, account);
	bind_text(st, 3, m->external_id);
	if (sqlite3_step(st) != SQLITE_ROW)
		return (store_fail(s, st, "find duplicate message", NULL));
	m->id = sqlite3_column_int64(st, 0);
	m->conversation_id = sqlite3_column_int64(st, 1);
	store_done(st);
	log_debug("store", "msg=\"duplicate message\" id=%" PRId64
	    " channel=%s", m->id, logq(m->channel));
	return (0);
}

/* Look a message up by id into m (caller clears); 1, 0 or -1. */
int
store_message_get(struct store *s, int64_t id, struct message *m)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = store_stmt(s, S_MSG_GET);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		store_done(st);
		return (0);
	}
	if (rc != SQLITE_ROW)
		return (store_fail(s, st, "get message", NULL));
	rc = message_from_row(st, 0, m);
	store_done(st);
	return (rc == 0 ? 1 : -1);
}

/* Find an outbound message by the id its channel gave it. */
int
store_message_find_remote(struct store *s, const char *channel,
    const char *account, const char *conv_external, const char *remote_id,
    struct message *m)
{
	static const char	*sql = "SELECT " MSG_COLUMNS " FROM messages m"
	    " WHERE m.channel = ?1 AND m.account = ?2"
	    " AND m.conv_external = ?3 AND m.remote_id = ?4"
	    " AND m.direction = 'out' ORDER BY m.id DESC LIMIT 1";
	sqlite3_stmt		*st;
	int			 rc;

	if ((st = store_cached(s, sql)) == NULL)
		return (-1);
	bind_text(st, 1, channel);
	bind_text(st, 2, account != NULL ? account : "");
	bind_text(st, 3, conv_external);
	bind_text(st, 4, remote_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		store_done(st);
		return (0);
	}
	if (rc != SQLITE_ROW)
		return (store_fail(s, st, "find message by remote id", NULL));
	rc = message_from_row(st, 0, m);
	store_done(st);
	return (rc == 0 ? 1 : -1);
}

/*
 * A chat got a new id on its channel (a Telegram group became a
 * supergroup): move its conversations and messages to the new id.
 */
int
store_conversation_move(struct store *s, const char *channel,
    const char *account, const char *from, const char *to)
{
	static const char	*conv_sql = "UPDATE conversations"
	    " SET external_id = ?4 WHERE channel = ?1 AND account = ?2"
	    " AND external_id = ?3";
	static const char	*msg_sql = "UPDATE messages"
	    " SET conv_external = ?4 WHERE channel = ?1 AND account = ?2"
	    " AND conv_external = ?3";
	const char		*sqls[2] = { conv_sql, msg_sql };
	sqlite3_stmt		*st;
	size_t			 i;

	if (store_begin(s) != 0)
		return (-1);
	for (i = 0; i < 2; i++) {
		if ((st = store_cached(s, sqls[i])) == NULL)
			return (-1);
		bind_text(st, 1, channel);
		bind_text(st, 2, account != NULL ? account : "");
		bind_text(st, 3, from);
		bind_text(st, 4, to);
		if (sqlite3_step(st) != SQLITE_DONE)
			return (store_fail(s, st, "move conversation", NULL));
		store_done(st);
	}
	return (0);
}

/*
 * Set a message's status and reason (NULL clears it) and, unless NULL,
 * the id the channel gave it.
 */
int
store_message_set_status(struct store *s, int64_t id, const char *status,
    const char *reason, const char *remote_id)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_MSG_STATUS);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, status);
	bind_text(st, 3, reason);
	bind_text(st, 4, remote_id);
	return (store_exec_one(s, st, "set message status", id));
}

/* Record what was understood of a message: language, intent, sentiment. */
int
store_message_set_understood(struct store *s, int64_t id, const char *lang,
    const char *intent, double confidence, double sentiment)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_MSG_UNDERSTOOD);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, lang);
	bind_text(st, 3, intent);
	sqlite3_bind_double(st, 4, confidence);
	sqlite3_bind_double(st, 5, sentiment);
	return (store_exec_one(s, st, "record understanding", id));
}

/*
 * Call fn for the contact's outbound messages with after < seq <= upto
 * (upto 0: no bound) in sequence order; fn returns 0 to go on, -1 to stop.
 */
int
store_message_by_seq(struct store *s, int64_t contact_id, int64_t after,
    int64_t upto, int (*fn)(void *, const struct message *), void *arg)
{
	sqlite3_stmt	*st;
	struct message	*v;
	size_t		 n;

	st = store_stmt(s, S_MSG_BY_SEQ);
	sqlite3_bind_int64(st, 1, contact_id);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, upto == 0 ? INT64_MAX : upto);
	if (store_read_messages(s, st, "messages by seq", &v, &n) != 0)
		return (-1);
	store_call_messages(v, n, fn, arg);
	return (0);
}

/* Call fn for every message of a conversation, oldest first. */
int
store_message_by_conversation(struct store *s, int64_t conversation_id,
    int (*fn)(void *, const struct message *), void *arg)
{
	sqlite3_stmt	*st;
	struct message	*v;
	size_t		 n;

	st = store_stmt(s, S_MSG_BY_CONV);
	sqlite3_bind_int64(st, 1, conversation_id);
	if (store_read_messages(s, st, "messages by conversation", &v,
	    &n) != 0)
		return (-1);
	store_call_messages(v, n, fn, arg);
	return (0);
}

/*
 * Count messages, all or those with this external id (a full scan: for
 * tools and tests, not the hot path).
 */
int
store_message_count(struct store *s, const char *external_id, int64_t *n)
{
	sqlite3_stmt	*st;

	st = store_stmt(s, S_MSG_COUNT);
	bind_text(st, 1, external_id);
	return (store_scalar(s, st, "count messages", n) == -1 ? -1 : 0);
}

/* Queue a message for delivery at due (ms); queuing it twice is a no-op. */
int
store_outbox_add(struct store *s, int64_t message_id, int64_t due)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_OUTBOX_ADD);
	sqlite3_bind_int64(st, 1, message_id);
	sqlite3_bind_int64(st, 2, due);
	sqlite3_bind_int64(st, 3, now_ms());
	return (store_exec(s, st, "add to outbox"));
}

/*
 * Call fn for up to limit outbox items due at or before now, oldest due
 * first, each with its message; fn returns 0 to go on, -1 to stop.
 */
int
store_outbox_due(struct store *s, int64_t now, int limit,
    int (*fn)(void *, const struct outbox_item *, const struct message *),
    void *arg)
{
	sqlite3_stmt		*st;
	struct outbox_item	*items = NULL;
	struct message		*msgs = NULL;
	size_t			 n = 0, i;
	int			 rc, stop = 0;

	st = store_stmt(s, S_OUTBOX_DUE);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		items = xreallocarray(items, n + 1, sizeof *items);
		msgs = xreallocarray(msgs, n + 1, sizeof *msgs);
		if (message_from_row(st, 5, &msgs[n]) != 0)
			break;
		items[n].id = sqlite3_column_int64(st, 0);
		items[n].message_id = sqlite3_column_int64(st, 1);
		items[n].attempts = sqlite3_column_int(st, 2);
		items[n].due_at = sqlite3_column_int64(st, 3);
		items[n].last_error = col_text(st, 4);
		n++;
	}
	if (rc == SQLITE_DONE)
		store_done(st);
	else if (rc == SQLITE_ROW) {
		store_done(st);
		stop = -1;
	} else
		stop = store_fail(s, st, "outbox due", NULL);

	for (i = 0; i < n; i++) {
		if (stop == 0 && fn(arg, &items[i], &msgs[i]) != 0)
			stop = 1;
		free(items[i].last_error);
		message_clear(&msgs[i]);
	}
	free(items);
	free(msgs);
	return (stop == -1 ? -1 : 0);
}

/* The earliest due time of any outbox item: 1 and *due, 0 if empty. */
int
store_outbox_next_due(struct store *s, int64_t *due)
{
	return (store_scalar(s, store_stmt(s, S_OUTBOX_NEXT), "outbox next due",
	    due));
}

/* Remove an outbox item (delivered or given up). */
int
store_outbox_remove(struct store *s, int64_t id)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_OUTBOX_REMOVE);
	sqlite3_bind_int64(st, 1, id);
	return (store_exec_one(s, st, "remove from outbox", id));
}

/* Count an attempt, record its error and set the next due time. */
int
store_outbox_retry(struct store *s, int64_t id, int64_t due,
    const char *error)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_OUTBOX_RETRY);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, due);
	bind_text(st, 3, error);
	return (store_exec_one(s, st, "retry outbox item", id));
}

/* The number of items in the outbox. */
int
store_outbox_depth(struct store *s, int64_t *n)
{
	*n = 0;
	return (store_scalar(s, store_stmt(s, S_OUTBOX_DEPTH), "outbox depth",
	    n) == -1 ? -1 : 0);
}

/*
 * Append an audit event for a conversation (0: none); data is JSON text or
 * NULL, created_at 0 means now.
 */
int
store_event_add(struct store *s, int64_t conversation_id, const char *type,
    const char *data, int64_t created_at)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_EVENT_ADD);
	bind_id(st, 1, conversation_id);
	bind_text(st, 2, type);
	bind_text(st, 3, data);
	sqlite3_bind_int64(st, 4, created_at != 0 ? created_at : now_ms());
	return (store_exec(s, st, "add event"));
}

/*
 * Queue an inbound item: 1 if queued, 0 if the channel already queued one
 * with this key, -1 on error.
 */
int
store_queue_add(struct store *s, const char *channel, const char *account,
    const char *key, const char *body, size_t len, int64_t now)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_QUEUE_ADD);
	bind_text(st, 1, channel);
	bind_text(st, 2, account);
	bind_text(st, 3, key);
	sqlite3_bind_blob(st, 4, body, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	if (store_exec(s, st, "queue inbound item") != 0)
		return (-1);
	return (sqlite3_changes(s->db) > 0);
}

/*
 * Read up to limit queued items after id, oldest first, leaving out those
 * set aside: 0 with *items and *n (free with queue_items_free), or -1.
 */
int
store_queue_next(struct store *s, int64_t after, int limit,
    struct queue_item **items, size_t *n)
{
	sqlite3_stmt		*st;
	struct queue_item	*v = NULL, *it;
	const void		*b;
	size_t			 nv = 0;
	int			 rc;

	st = store_stmt(s, S_QUEUE_NEXT);
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, nv + 1, sizeof *v);
		it = &v[nv++];
		it->id = sqlite3_column_int64(st, 0);
		it->channel = col_text(st, 1);
		it->account = col_text(st, 2);
		it->len = (size_t)sqlite3_column_bytes(st, 3);
		it->body = xmalloc(it->len + 1);
		if ((b = sqlite3_column_blob(st, 3)) != NULL)
			memcpy(it->body, b, it->len);
		it->body[it->len] = '\0';
		it->received_at = sqlite3_column_int64(st, 4);
	}
	if (rc != SQLITE_DONE) {
		queue_items_free(v, nv);
		*items = NULL;
		*n = 0;
		return (store_fail(s, st, "read inbound queue", NULL));
	}
	store_done(st);
	*items = v;
	*n = nv;
	return (0);
}

void
queue_items_free(struct queue_item *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].channel);
		free(v[i].account);
		free(v[i].body);
	}
	free(v);
}

/* Remove a queued item once it is taken. */
int
store_queue_remove(struct store *s, int64_t id)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_QUEUE_REMOVE);
	sqlite3_bind_int64(st, 1, id);
	return (store_exec_one(s, st, "remove queued item", id));
}

/* Set a queued item aside: it kept failing. */
int
store_queue_fail(struct store *s, int64_t id, const char *error)
{
	sqlite3_stmt	*st;

	if (store_begin(s) != 0)
		return (-1);
	st = store_stmt(s, S_QUEUE_FAIL);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_ms());
	bind_text(st, 3, error);
	return (store_exec_one(s, st, "set queued item aside", id));
}

/* The number of queued items not set aside. */
int
store_queue_count(struct store *s, int64_t *n)
{
	*n = 0;
	return (store_scalar(s, store_stmt(s, S_QUEUE_COUNT),
	    "count inbound queue", n) == -1 ? -1 : 0);
}

/*
 * The SQLite handle, for modules that keep their own tables (kb.c, nlu.c):
 * they prepare their own statements and call store_begin before writing.
 */
sqlite3 *
store_db(struct store *s)
{
	return (s->db);
}

/*
 * A prepared statement for another module's SQL, cached by the address of
 * the SQL text (pass a string constant), reset and with no bindings.  The
 * caller resets it after its last step and never finalizes it: the store
 * does on close.  NULL on error (logged).
 */
sqlite3_stmt *
store_cached(struct store *s, const char *sql)
{
	sqlite3_stmt	*st = NULL;
	size_t		 i;

	for (i = 0; i < s->ncache; i++) {
		if (s->cache[i].sql == sql) {
			sqlite3_reset(s->cache[i].st);
			sqlite3_clear_bindings(s->cache[i].st);
			return (s->cache[i].st);
		}
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	    NULL) != SQLITE_OK) {
		store_error(s, "prepare", NULL);
		sqlite3_finalize(st);
		return (NULL);
	}
	if (s->ncache < STORE_CACHE_MAX) {
		s->cache[s->ncache].sql = sql;
		s->cache[s->ncache].st = st;
		s->ncache++;
	} else
		log_fatalx("store", "msg=\"statement cache full\" max=%d",
		    STORE_CACHE_MAX);
	return (st);
}
