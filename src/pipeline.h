/*
 * The pipeline: the one road every message travels.  An inbound message is
 * de-duplicated and stored, understood (NLU, knowledge base), the engine
 * steps, its replies go into the outbox and its timers into the store, all
 * in the loop turn's transaction; after the commit the channel's
 * acknowledgement is released, delivery is kicked and the actions the
 * engine asked for start.
 */
#ifndef KEFU_PIPELINE_H
#define KEFU_PIPELINE_H

#include <stdint.h>

#include "message.h"

struct engine_event;
struct nlu;

enum pipeline_status {
	PIPELINE_STORED = 0,	/* new, stored and processed */
	PIPELINE_DUPLICATE,	/* seen before; nothing done again */
	PIPELINE_FAILED,	/* not stored: do not acknowledge */
	PIPELINE_QUEUED,	/* stored in the inbound queue, taken later */
	PIPELINE_BUSY		/* the queue is full: not stored, send later */
};

/*
 * Called after the commit that made the message durable (or after the
 * failure).  m is the stored message (ids filled in), valid during the
 * call only.
 */
typedef void (*pipeline_ack_fn)(void *, enum pipeline_status,
    const struct message *);

/*
 * Take one inbound message.  The pipeline copies what it keeps; m stays
 * the caller's.  ack is called exactly once, from the loop, after the
 * commit; never from inside this call.
 */
void	 pipeline_inbound(const struct message *, pipeline_ack_fn, void *);

/*
 * The inbound queue, for a channel whose sender waits for the answer (a
 * Telegram webhook): pipeline_enqueue stores the raw item under the
 * channel's own key (an update_id), and ack hears PIPELINE_QUEUED (or
 * DUPLICATE for a key already queued, BUSY when store.queue_max items
 * wait, FAILED) once that is committed; m is then an empty message.
 * Later, in order, the pipeline gives each item to the channel's handler
 * inside a loop turn's transaction; the handler takes it (usually through
 * pipeline_inbound) or defers it (the channel cannot yet, e.g. its bot
 * has not started), and a taken item leaves the queue in the same
 * transaction.  Taking the queue gets a share of each busy turn and all
 * of an idle one.  An item whose turn failed three times is set aside.
 */
enum pipeline_take {
	PIPELINE_TAKEN = 0,
	PIPELINE_DEFER
};
typedef enum pipeline_take (*pipeline_queue_fn)(const char *, const char *,
    size_t);

/* The handler for one channel's queued items: fn(account, body, len). */
void	 pipeline_queue_handler(const char *, pipeline_queue_fn);
/* Queue an item: channel, account, key, body, len, ack, its argument. */
void	 pipeline_enqueue(const char *, const char *, const char *,
	    const char *, size_t, pipeline_ack_fn, void *);
/* A handler that deferred may take items now. */
void	 pipeline_queue_kick(void);
/* Count the queue again (kefuctl queue retry, then SIGHUP) and kick. */
void	 pipeline_queue_reload(void);

/*
 * Queue an outbound message (an agent's or the system's) on an existing
 * conversation.  Returns 0 and sets m->id, or -1.
 */
int	 pipeline_outbound(struct message *);

/*
 * Step a conversation with an event that is not a customer's message (a
 * timer, an action's result, an agent's handback): the engine's replies go
 * into the outbox, its state, timers and actions are applied, in the loop
 * turn's transaction.  The pipeline fills in the event's time, channel,
 * customer name and conversation id.  Timers and action results for a
 * conversation a person has (status not "bot") are dropped.  Returns 0, or
 * -1 if the turn failed and was rolled back.
 */
int	 pipeline_event(int64_t, struct engine_event *);

/*
 * The intent model messages are classified with, or NULL; the caller
 * (kefud) keeps ownership and may swap it between loop turns.
 */
void	 pipeline_set_nlu(const struct nlu *);

/*
 * A conversation (and a message of it, or 0) changed in this turn: the
 * inbox's live feed hears of it after the commit.
 */
void	 pipeline_changed(int64_t, int64_t);
/* A message's delivery status changed (the same, as "message_status"). */
void	 pipeline_status_changed(int64_t);

/* Run fn(arg) after the next commit (or at the end of this turn). */
void	 pipeline_after_commit(void (*)(void *), void *);

/* Install the per-turn commit handles on the loop. */
void	 pipeline_init(void);
/* Commit now and run what waits for it; called by the loop and at exit. */
void	 pipeline_flush(void);
void	 pipeline_shutdown(void);

/* Delivery: start the outbox timer; kick it after new items commit. */
void	 delivery_init(void);
void	 delivery_kick(void);
void	 delivery_shutdown(void);
/* Items currently being sent. */
size_t	 delivery_in_flight(void);

#endif
