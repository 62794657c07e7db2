/*
 * The channel interface.  A channel adapter knows its wire protocol and
 * nothing about dialogue: it turns what arrives into normalized messages
 * handed to pipeline_inbound(), and sends what delivery gives it.
 *
 * Adding a channel means writing channels/NAME.c with a const struct
 * channel_ops and adding one line to the registry in channel.c.
 */
#ifndef KEFU_CHANNEL_H
#define KEFU_CHANNEL_H

#include "message.h"

struct channel;
struct delivery;
struct kefu_config;

/* How one delivery attempt ended. */
enum delivery_result {
	DELIVERY_OK = 0,	/* the channel accepted it */
	DELIVERY_HELD,		/* recipient offline; the channel replays it later */
	DELIVERY_TEMPFAIL,	/* try again later (back-off, retry hint) */
	DELIVERY_PERMFAIL	/* give up; the reason is recorded */
};

/* Capability flags. */
#define CHANNEL_F_REPLAY	0x1	/* replays by per-contact sequence (widget) */
#define CHANNEL_F_BUTTONS	0x2	/* renders quick-reply buttons natively */

struct channel_ops {
	const char	*name;
	int		 flags;

	/*
	 * Start the channel: register HTTP routes or WebSocket protocols,
	 * start polling.  MUST NOT block.  Returns 0, or -1 with *cause set
	 * (caller frees).
	 */
	int		(*start)(struct channel *, char **);

	/*
	 * Stop: close connections, cancel timers and transfers.  MUST NOT
	 * call pipeline_inbound afterwards.  MAY be called without start.
	 */
	void		(*stop)(struct channel *);

	/*
	 * Send one committed outbound message.  MUST call delivery_done()
	 * exactly once for d, now or later, unless the channel is stopped
	 * first.  The message is valid only during the call: copy what is
	 * needed later.
	 */
	void		(*send)(struct channel *, const struct message *,
			    struct delivery *);
};

struct channel {
	const struct channel_ops	*ops;
	char				*account;	/* instance name; "" if one */
	void				*data;		/* the adapter's own */
};

/* Find a channel's ops by name; NULL if there is none. */
const struct channel_ops *channel_find_ops(const char *);
/* Create the channels the configuration enables. */
int	 channels_create(const struct kefu_config *, struct channel ***,
	    size_t *, char **);
/* Free the channel instances (after stopping them). */
void	 channels_free(void);
/* The running channel for (name, account); NULL if none. */
struct channel *channel_lookup(const char *, const char *);

/*
 * End a delivery attempt.  retry_after_ms is the remote's hint (0 none);
 * reason is a short text for the store and logs (never message text);
 * remote_id is the channel's id for the sent message, or NULL.
 */
void	 delivery_done(struct delivery *, enum delivery_result, int64_t,
	    const char *, const char *);

#endif
