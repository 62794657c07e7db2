/*
 * The store: SQLite in WAL mode holding contacts, conversations, messages,
 * the outbox and the audit events.  One connection, used only from the
 * event loop thread.
 *
 * Group commit: store_begin() opens a transaction at the first write of a
 * loop turn (it is a no-op when one is open) and the loop calls
 * store_commit() once before polling again.  Nothing that depends on a
 * write may leave the process (an ack, a frame) before that commit.
 *
 * Return conventions: 0 success, -1 error; look-ups 1 found, 0 not found,
 * -1 error.  On error the SQLite message is logged with the statement's
 * purpose and, where there is a char ** parameter, returned in it.
 */
#ifndef KEFU_STORE_H
#define KEFU_STORE_H

#include <stdint.h>

#include "message.h"

struct store;

#define STORE_SCHEMA_VERSION	8

struct conversation {
	int64_t	 id;
	int64_t	 contact_id;
	char	*channel;
	char	*account;
	char	*external_id;		/* chat / visitor id on the channel */
	char	*status;		/* "bot", "pending", "open", "resolved" */
	char	*state;			/* engine state, JSON text */
	char	*lang;			/* NULL until known */
	char	*handoff_reason;	/* NULL unless handed off */
	int64_t	 assignee;		/* agent id; 0 none */
	int64_t	 created_at;
	int64_t	 updated_at;
	int64_t	 last_message_at;
	int64_t	 resolved_at;		/* 0 unless resolved */
	int64_t	 waiting_since;		/* pending since; 0 unless pending */
	int64_t	 escalated_at;		/* waited too long; 0 if not */
};

struct contact {
	int64_t	 id;
	char	*channel;
	char	*account;
	char	*external_id;
	char	*display_name;
	int64_t	 out_seq;		/* last outbound sequence number used */
	char	*unreachable;		/* reason, or NULL when reachable */
	int64_t	 created_at;
};

struct outbox_item {
	int64_t	 id;
	int64_t	 message_id;
	int	 attempts;
	int64_t	 due_at;
	char	*last_error;
};

/* An item of the inbound queue; body is NUL-terminated after len bytes. */
struct queue_item {
	int64_t	 id;
	char	*channel;
	char	*account;
	char	*body;
	size_t	 len;
	int64_t	 received_at;
};

/*
 * Open (creating if needed) and migrate the database at path.  sync_full
 * selects synchronous=FULL (1) or NORMAL (0).  Returns 0 and *sp, or -1
 * with *cause (caller frees).
 */
int	 store_open(const char *, int, int, struct store **, char **);
/* Leave the disk flush of commits to the caller (see store.c). */
int	 store_defer_sync(struct store *, char **);
/* Whether commits wait for a sync. */
int	 store_sync_pending(struct store *);
/* The descriptor whose sync makes the commits so far durable, or -1. */
int	 store_sync_fd(struct store *);
/* Sync now; 0 or -1. */
int	 store_sync(struct store *);
/* The same, even if a sync of the thread pool covers it already. */
int	 store_sync_force(struct store *);
/* Roll back any open transaction and close. */
void	 store_close(struct store *);
/* The schema version found in the file (after migration). */
int	 store_schema_version(struct store *);

/* Open a transaction unless one is open. */
int	 store_begin(struct store *);
/* Commit the open transaction, if any; *cause set on failure. */
int	 store_commit(struct store *, char **);
void	 store_rollback(struct store *);
int	 store_in_transaction(struct store *);
/* Milliseconds the last commit took. */
double	 store_last_commit_ms(struct store *);

/* Find or create the contact (channel, account, external_id); sets *id. */
int	 store_contact_ensure(struct store *, const char *, const char *,
	    const char *, const char *, int64_t, int64_t *);
/* Look a contact up by (channel, account, external_id); 1, 0 or -1. */
int	 store_contact_find(struct store *, const char *, const char *,
	    const char *, struct contact *);
int	 store_contact_get(struct store *, int64_t, struct contact *);
/* Take the contact's next outbound sequence number. */
int	 store_contact_next_seq(struct store *, int64_t, int64_t *);
/* Mark the contact unreachable (reason) or reachable again (NULL). */
int	 store_contact_set_unreachable(struct store *, int64_t, const char *);
void	 contact_clear(struct contact *);

/*
 * The contact's current conversation on (channel, account, external_id):
 * the newest one not resolved, or a new one.  Returns 1 if it was created,
 * 0 if it existed, -1 on error; *c is filled (caller clears).
 */
int	 store_conversation_ensure(struct store *, int64_t, const char *,
	    const char *, const char *, int64_t, struct conversation *);
int	 store_conversation_get(struct store *, int64_t, struct conversation *);
/* Save status, state, lang, handoff_reason, assignee and timestamps. */
int	 store_conversation_save(struct store *, const struct conversation *);
void	 conversation_clear(struct conversation *);
/* Call fn for the newest conversations, newest first, at most limit. */
int	 store_conversation_list(struct store *, int,
	    int (*)(void *, const struct conversation *), void *);

/*
 * Insert a message (m->id, and for outbound m->seq if the caller took one,
 * are set by the caller or the store).  An inbound message with an
 * external_id already stored for (channel, account) is a duplicate: the
 * store returns 0 and sets m->id, m->conversation_id to the stored one's.
 * Returns 1 when inserted, -1 on error.
 */
int	 store_message_insert(struct store *, struct message *);
int	 store_message_get(struct store *, int64_t, struct message *);
int	 store_message_set_status(struct store *, int64_t, const char *,
	    const char *, const char *);
/* An outbound message by (channel, account, chat, remote id); 1, 0, -1. */
int	 store_message_find_remote(struct store *, const char *, const char *,
	    const char *, const char *, struct message *);
/* Move a chat's conversations and messages to its new id on the channel. */
int	 store_conversation_move(struct store *, const char *, const char *,
	    const char *, const char *);
/* Record the language, intent (NULL: none), confidence and sentiment. */
int	 store_message_set_understood(struct store *, int64_t, const char *,
	    const char *, double, double);
/*
 * Call fn for the contact's outbound messages with after < seq <= upto
 * (upto 0: no bound) in sequence order.  fn returns 0 to go on, -1 to stop.
 */
int	 store_message_by_seq(struct store *, int64_t, int64_t, int64_t,
	    int (*)(void *, const struct message *), void *);
/* Call fn for every message of a conversation, oldest first. */
int	 store_message_by_conversation(struct store *, int64_t,
	    int (*)(void *, const struct message *), void *);
/* Count messages, optionally only those with this external id. */
int	 store_message_count(struct store *, const char *, int64_t *);

/* Queue a committed-to-be message for delivery at due (ms). */
int	 store_outbox_add(struct store *, int64_t, int64_t);
/*
 * Call fn for up to limit outbox items due at or before now, oldest due
 * first, each with its message.  Items whose id fn has in flight are the
 * caller's business to skip.
 */
int	 store_outbox_due(struct store *, int64_t, int,
	    int (*)(void *, const struct outbox_item *, const struct message *),
	    void *);
/* The earliest due time of any outbox item: 1 and *due, 0 if empty. */
int	 store_outbox_next_due(struct store *, int64_t *);
/* Remove an item (delivered or given up). */
int	 store_outbox_remove(struct store *, int64_t);
/* Count an attempt, record its error and set the next due time. */
int	 store_outbox_retry(struct store *, int64_t, int64_t, const char *);
int	 store_outbox_depth(struct store *, int64_t *);

/* The inbound queue (pipeline_enqueue); see the functions in store.c. */
int	 store_queue_add(struct store *, const char *, const char *,
	    const char *, const char *, size_t, int64_t);
int	 store_queue_next(struct store *, int64_t, int, struct queue_item **,
	    size_t *);
void	 queue_items_free(struct queue_item *, size_t);
int	 store_queue_remove(struct store *, int64_t);
int	 store_queue_fail(struct store *, int64_t, const char *);
int	 store_queue_count(struct store *, int64_t *);

struct sqlite3;
/* The connection, for modules with their own tables (kb, nlu). */
struct sqlite3	*store_db(struct store *);

struct sqlite3_stmt;
/*
 * A cached prepared statement for a module's own SQL (a string constant),
 * reset and unbound; reset it after use, never finalize it.  NULL on error.
 */
struct sqlite3_stmt *store_cached(struct store *, const char *);

/* Append an audit event; data is JSON text or NULL. */
int	 store_event_add(struct store *, int64_t, const char *, const char *,
	    int64_t);

#endif
