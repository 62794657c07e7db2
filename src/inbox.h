/*
 * The shared inbox: what people see of conversations (as JSON for the API,
 * docs/api.md) and what they do with them (claim, reply, note, assign,
 * hand back, resolve, reopen), plus the live feed that pushes committed
 * changes to the inbox pages over a WebSocket (inbox_live.c).
 *
 * The actions write in the loop turn's transaction like the pipeline; the
 * caller answers its client after the commit (pipeline_after_commit).
 */
#ifndef KEFU_INBOX_H
#define KEFU_INBOX_H

#include <stdint.h>

struct agent;
struct json_object;
struct store;

/* Results of the actions beyond 1 (done), 0 (no such conversation), -1. */
#define INBOX_CONFLICT	-2	/* another agent has it; *holder set */
#define INBOX_FORBIDDEN	-3	/* the role or ownership does not allow it */
#define INBOX_BAD_STATE	-4	/* not possible in this status (*why) */

/* A conversation list's filter. */
struct inbox_filter {
	const char	*view;		/* waiting, mine, open, resolved, all */
	const char	*channel;	/* or NULL */
	const char	*q;		/* text to search, or NULL */
	int64_t		 agent_id;	/* "mine" */
	int		 limit;
	int		 offset;
};

/*
 * A page of conversations as {"conversations": [...], "next": offset or
 * null}.  0 and *out (caller puts), -1 with *cause, or 0 with *out NULL
 * and *cause set for an unknown view.
 */
int	 inbox_list(struct store *, const struct inbox_filter *,
	    struct json_object **, char **);
/*
 * One conversation with its messages (notes too), contact and events:
 * 1 and *out, 0 if there is none, -1.
 */
int	 inbox_get(struct store *, int64_t, struct json_object **);
/* One conversation's summary object: 1 and *out, 0, -1. */
int	 inbox_conversation(struct store *, int64_t, struct json_object **);
/* One message as the API shows it: 1 and *out, 0, -1. */
int	 inbox_message(struct store *, int64_t, struct json_object **);
/* An agent as the API shows it (with online and open counts). */
struct json_object *inbox_agent_json(struct store *, const struct agent *);

/* The actions; *holder (caller clears) is set on INBOX_CONFLICT. */
int	 inbox_claim(struct store *, int64_t, const struct agent *, int,
	    struct agent *);
int	 inbox_assign(struct store *, int64_t, const struct agent *, int64_t,
	    char **);
int	 inbox_handback(struct store *, int64_t, const struct agent *,
	    char **);
int	 inbox_resolve(struct store *, int64_t, const struct agent *,
	    char **);
int	 inbox_reopen(struct store *, int64_t, const struct agent *,
	    char **);
/*
 * Reply to the customer (through the outbox) or add an internal note
 * (note 1).  A reply beginning with "/shortcut" is expanded from the
 * canned replies.  client_id (or NULL) makes a retried reply return the
 * first one's message.  Sets *message_id.
 */
int	 inbox_write(struct store *, int64_t, const struct agent *, int,
	    const char *, const char *, int64_t *, char **);

/*
 * Escalate conversations waiting longer than the configured time, and
 * give waiting ones to online agents when assignment is round-robin.
 * Called from a timer.
 */
void	 inbox_tick(void);

/* The live feed (inbox_live.c). */
/* Register the WebSocket protocol and start the tick; before the server. */
void	 inbox_live_init(void);
void	 inbox_live_shutdown(void);
/* Whether any inbox page is connected (else nothing is published). */
int	 inbox_live_active(void);
/*
 * Publish a committed change (message_id 0: the conversation itself;
 * status_only: a message's delivery status changed).
 */
void	 inbox_live_publish(int64_t, int64_t, int);
/*
 * A change happened while no page was connected: use up an event id, so
 * that a page that reconnects with an older id is told to reload.
 */
void	 inbox_live_gap(void);
/* Whether the agent has an inbox page open. */
int	 inbox_live_online(int64_t);

#endif
