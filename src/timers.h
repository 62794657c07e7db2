/*
 * The engine's stored timers (the follow-up reminder, auto-resolve, the
 * order look-up's watchdog): rows of timers (conversation_id, kind,
 * due_at) in the store, at most one per kind and conversation, so that
 * they survive a restart.  One libuv timer is armed for the earliest row;
 * a row that falls due is deleted and its conversation gets an
 * ENGINE_EV_TIMER through the pipeline, in the same transaction.
 */
#ifndef KEFU_TIMERS_H
#define KEFU_TIMERS_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct timer_row {
	int64_t	 id;
	int64_t	 conversation_id;
	char	*kind;
	int64_t	 due_at;		/* ms since the epoch */
};

/* Set (or move) a conversation's timer of this kind.  0 or -1. */
int	timers_set(struct store *, int64_t, const char *, int64_t);
/* Cancel a conversation's timer of this kind (NULL: all).  0 or -1. */
int	timers_cancel(struct store *, int64_t, const char *);
/* The earliest due time: 1 and *due, 0 if there are none, -1. */
int	timers_next_due(struct store *, int64_t *);
/*
 * Up to limit timers due at or before now, earliest first; *rows is
 * freed by the caller with timers_free.  Returns the count or -1.
 */
int	timers_due(struct store *, int64_t, int, struct timer_row **);
/* Delete one timer by id.  0 or -1. */
int	timers_remove(struct store *, int64_t);
void	timers_free(struct timer_row *, size_t);

/* kefud: arm the uv timer (timers left by a previous run fire now). */
void	timers_init(void);
/* Look at the table again after timers were set. */
void	timers_kick(void);
void	timers_shutdown(void);

#endif
