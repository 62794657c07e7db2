/*
 * Delivery: takes due items from the outbox and hands them to their
 * channel, like a mail server's scheduler.  Every attempt ends ok, held
 * (the channel replays it itself), tempfail (retry with exponential
 * back-off and jitter, or the remote's own retry hint if later) or
 * permfail (the reason is recorded and the item dropped).  One uv timer
 * is armed for the next due item.
 *
 * Items are read only when no transaction is open, so only committed
 * messages ever leave.  A channel may hold items it was given (Telegram
 * paces them to its rate limits): at most DELIVERY_FLIGHT_BATCHES batches
 * are in flight, and the outbox is read again only when a whole batch
 * fits, so a long backlog is not read over and over.  An item in flight
 * stays in the outbox until its attempt ends: after a crash it is due
 * again, and channels that can (the widget, by sequence number) make the
 * resend harmless.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "config.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "store.h"
#include "xmalloc.h"

struct delivery {
	int64_t		 outbox_id;
	int64_t		 message_id;
	int		 attempts;
	char		*channel;
	struct delivery	*next;
};

static uv_timer_t	 delivery_timer;
static int		 delivery_started;
static struct delivery	*in_flight;
static size_t		 nin_flight;
static int		 delivery_running;

#define DELIVERY_FLIGHT_BATCHES	10

static void	delivery_run(uv_timer_t *);

/* Whether a whole batch more may be in flight. */
static int
delivery_room(void)
{
	return (nin_flight + (size_t)kefu->cfg->delivery_batch <=
	    DELIVERY_FLIGHT_BATCHES * (size_t)kefu->cfg->delivery_batch);
}

static int
delivery_is_in_flight(int64_t outbox_id)
{
	struct delivery	*d;

	for (d = in_flight; d != NULL; d = d->next) {
		if (d->outbox_id == outbox_id)
			return (1);
	}
	return (0);
}

static void
delivery_unlink(struct delivery *d)
{
	struct delivery	**pp;

	for (pp = &in_flight; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			nin_flight--;
			return;
		}
	}
}

/* Hand one due item to its channel. */
static int
delivery_start_one(void *arg, const struct outbox_item *it,
    const struct message *m)
{
	struct channel	*ch;
	struct delivery	*d;

	if (delivery_is_in_flight(it->id))
		return (0);
	d = xcalloc(1, sizeof *d);
	d->outbox_id = it->id;
	d->message_id = m->id;
	d->attempts = it->attempts;
	d->channel = xstrdup(m->channel);
	d->next = in_flight;
	in_flight = d;
	nin_flight++;
	if ((ch = channel_lookup(m->channel, m->account)) == NULL) {
		delivery_done(d, DELIVERY_PERMFAIL, 0, "no such channel",
		    NULL);
		return (0);
	}
	ch->ops->send(ch, m, d);
	return (0);
}

/* Arm the timer for the next due item. */
static void
delivery_arm(void)
{
	int64_t	due, now = now_ms(), wait;

	if (!delivery_started || kefu->draining)
		return;
	if (store_outbox_next_due(kefu->store, &due) != 1) {
		uv_timer_stop(&delivery_timer);
		return;
	}
	wait = due - now;
	if (wait <= 0)
		wait = nin_flight > 0 ? 1000 : 0;
	uv_timer_start(&delivery_timer, delivery_run, (uint64_t)wait, 0);
}

/* Send everything that is due. */
static void
delivery_run(uv_timer_t *t)
{
	if (kefu->draining || !delivery_room())
		return;		/* an attempt that ends kicks again */
	if (store_in_transaction(kefu->store))
		pipeline_flush();
	delivery_running = 1;
	/* Those in flight come first (oldest due): read past them. */
	store_outbox_due(kefu->store, now_ms(), (int)nin_flight +
	    kefu->cfg->delivery_batch, delivery_start_one, NULL);
	delivery_running = 0;
	delivery_arm();
}

/* Compute the back-off before attempt n+1. */
static int64_t
delivery_backoff(int attempts, int64_t hint_ms)
{
	int64_t	base = kefu->cfg->delivery_retry_base_ms;
	int64_t	max = kefu->cfg->delivery_retry_max_ms;
	int64_t	wait = base;
	int	i;

	for (i = 0; i < attempts && wait < max; i++)
		wait *= 2;
	if (wait > max)
		wait = max;
	/* Up to 20% jitter so that retries do not arrive in lock step. */
	wait += (int64_t)(arc4random_uniform((uint32_t)(wait / 5 + 1)));
	if (hint_ms > wait)
		wait = hint_ms;
	return (wait);
}

/* End one delivery attempt. */
void
delivery_done(struct delivery *d, enum delivery_result result,
    int64_t retry_after_ms, const char *reason, const char *remote_id)
{
	char	 labels[160], *why;
	int64_t	 now = now_ms();

	delivery_unlink(d);
	pipeline_status_changed(d->message_id);
	switch (result) {
	case DELIVERY_OK:
	case DELIVERY_HELD:
		store_message_set_status(kefu->store, d->message_id,
		    result == DELIVERY_OK ? "sent" : "held", NULL, remote_id);
		store_outbox_remove(kefu->store, d->outbox_id);
		if (result == DELIVERY_OK) {
			snprintf(labels, sizeof labels, "channel=\"%s\"",
			    d->channel);
			metrics_inc("kefu_messages_out_total", labels);
		}
		break;
	case DELIVERY_TEMPFAIL:
		snprintf(labels, sizeof labels,
		    "channel=\"%s\",kind=\"temporary\"", d->channel);
		metrics_inc("kefu_delivery_failures_total", labels);
		if (d->attempts + 1 < kefu->cfg->delivery_max_attempts) {
			store_outbox_retry(kefu->store, d->outbox_id,
			    now + delivery_backoff(d->attempts, retry_after_ms),
			    reason);
			log_warnx("delivery", "msg=\"send failed, will retry\" "
			    "channel=%s message=%lld attempt=%d reason=%s",
			    d->channel, (long long)d->message_id,
			    d->attempts + 1, logq(reason));
			break;
		}
		why = xasprintf("gave up after %d attempts: %s",
		    d->attempts + 1, reason != NULL ? reason : "unknown");
		store_message_set_status(kefu->store, d->message_id, "failed",
		    why, NULL);
		store_outbox_remove(kefu->store, d->outbox_id);
		log_warnx("delivery", "msg=\"send failed, giving up\" "
		    "channel=%s message=%lld reason=%s", d->channel,
		    (long long)d->message_id, logq(why));
		free(why);
		break;
	case DELIVERY_PERMFAIL:
		snprintf(labels, sizeof labels,
		    "channel=\"%s\",kind=\"permanent\"", d->channel);
		metrics_inc("kefu_delivery_failures_total", labels);
		store_message_set_status(kefu->store, d->message_id, "failed",
		    reason, NULL);
		store_outbox_remove(kefu->store, d->outbox_id);
		log_warnx("delivery", "msg=\"send failed permanently\" "
		    "channel=%s message=%lld reason=%s", d->channel,
		    (long long)d->message_id, logq(reason));
		break;
	}
	free(d->channel);
	free(d);
	if (!delivery_running)
		delivery_kick();
}

/* Look at the outbox soon (new items were committed). */
void
delivery_kick(void)
{
	if (!delivery_started || kefu->draining || !delivery_room())
		return;
	if (!uv_is_active((uv_handle_t *)&delivery_timer) ||
	    uv_timer_get_due_in(&delivery_timer) > 0)
		uv_timer_start(&delivery_timer, delivery_run, 0, 0);
}

/* Start the outbox timer; due items left by a previous run go out now. */
void
delivery_init(void)
{
	uv_timer_init(kefu->loop, &delivery_timer);
	delivery_started = 1;
	delivery_kick();
}

/* Items being sent now. */
size_t
delivery_in_flight(void)
{
	return (nin_flight);
}

/* Stop the timer and forget attempts in flight (they stay in the outbox). */
void
delivery_shutdown(void)
{
	struct delivery	*d;

	if (!delivery_started)
		return;
	uv_timer_stop(&delivery_timer);
	uv_close((uv_handle_t *)&delivery_timer, NULL);
	while ((d = in_flight) != NULL) {
		in_flight = d->next;
		free(d->channel);
		free(d);
	}
	nin_flight = 0;
	delivery_started = 0;
}
