/*
 * Outgoing webhooks (inbox.webhooks, docs/api.md): events written to
 * their own outbox in the transaction that made them true, POSTed after
 * the commit with an HMAC-SHA256 signature, retried with back-off.
 */
#ifndef KEFU_WEBHOOKS_H
#define KEFU_WEBHOOKS_H

#include <stdint.h>

/*
 * Queue an event ("conversation.created", ...) about a conversation (and
 * a message, or 0) for every webhook that wants it.  In the caller's
 * transaction; a no-op without webhooks.  0 or -1.
 */
int	 webhooks_emit(const char *, int64_t, int64_t);
/* Start the sender; due events left by a previous run go out now. */
void	 webhooks_init(void);
/* Look at the outbox soon (after a commit that queued events). */
void	 webhooks_kick(void);
void	 webhooks_shutdown(void);

#endif
