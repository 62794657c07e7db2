/*
 * The normalized message: what every channel's inbound and outbound traffic
 * becomes, and what the store, the engine and the inbox work with.
 */
#ifndef KEFU_MESSAGE_H
#define KEFU_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

enum msg_direction {
	MSG_IN = 0,		/* from the customer */
	MSG_OUT			/* to the customer */
};

enum msg_author {
	AUTHOR_CUSTOMER = 0,
	AUTHOR_BOT,
	AUTHOR_AGENT,
	AUTHOR_SYSTEM
};

struct attachment {
	char	*type;		/* "image", "file", "audio", "video", "sticker", "location" */
	char	*url;		/* a URL, a channel file id, or NULL */
	char	*name;		/* file name, or NULL */
	char	*mime;		/* content type, or NULL */
	int64_t	 size;		/* bytes; -1 unknown */
};

struct button {
	char	*title;		/* what the customer sees */
	char	*value;		/* what comes back when pressed */
};

struct message {
	int64_t			 id;		/* store id; 0 before insert */
	int64_t			 conversation_id;
	int64_t			 contact_id;

	char			*channel;	/* "websocket", "telegram" */
	char			*account;	/* channel instance; "" if one */
	char			*conv_external;	/* chat / visitor / thread id */
	char			*sender_external; /* user id on the channel */
	char			*sender_name;	/* display name, or NULL */
	char			*external_id;	/* channel's message id: de-dup key */

	enum msg_direction	 direction;
	enum msg_author		 author;
	char			*text;		/* UTF-8, or NULL */
	char			*value;		/* quick-reply value, or NULL */
	struct attachment	*attachments;
	size_t			 nattachments;
	struct button		*buttons;
	size_t			 nbuttons;

	int64_t			 seq;		/* per-contact outbound sequence; 0 none */
	char			*status;	/* in: "received"; out: "queued", "sent", "held", "failed" */
	char			*status_reason;
	char			*remote_id;	/* id the channel gave an outbound message */
	int64_t			 channel_ts;	/* channel's timestamp, ms; 0 unknown */
	int64_t			 created_at;	/* ms since the epoch */
	char			*raw;		/* raw payload kept for audit, or NULL */
	char			*edit_of;	/* in: the external_id this edits */
	int64_t			 agent_id;	/* the agent who wrote it; 0 */
};

const char	*msg_direction_name(enum msg_direction);
const char	*msg_author_name(enum msg_author);
/* Parse a name back; -1 if unknown. */
int		 msg_author_parse(const char *);
int		 msg_direction_parse(const char *);

/* Free every member of m (not m itself) and zero it. */
void		 message_clear(struct message *);
/* Deep-copy src into dst (dst is overwritten, not cleared first). */
void		 message_copy(struct message *, const struct message *);
/* Append a button; title and value are copied. */
void		 message_add_button(struct message *, const char *, const char *);

/* Buttons and attachments as JSON text, and back (for the store). */
char		*buttons_to_json(const struct button *, size_t);
int		 buttons_from_json(const char *, struct button **, size_t *);
char		*attachments_to_json(const struct attachment *, size_t);
int		 attachments_from_json(const char *, struct attachment **,
		    size_t *);

/* Milliseconds since the epoch, from the wall clock. */
int64_t		 now_ms(void);

#endif
