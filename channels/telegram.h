/*
 * The Telegram Bot API's wire format, without I/O: Update objects into
 * kefu's terms, API responses into their outcome, and outbound messages
 * into request bodies.  channels/telegram_wire.c implements it (pure, unit
 * tested on the payloads of the Bot API documentation); channels/telegram.c
 * does the polling, the webhook and the sending.
 *
 * Traps this module owns: ids beyond 32 bits (int64_t everywhere), entity
 * offsets and lengths in UTF-16 code units, \ud83d\ude00 surrogate-pair
 * escapes (json-c joins them into one UTF-8 character), the 4,096
 * character limit of a text, 64 bytes of callback_data.
 */
#ifndef KEFU_TELEGRAM_H
#define KEFU_TELEGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "message.h"

struct json_object;

#define TG_TEXT_MAX		4096	/* UTF-16 code units per message */
#define TG_CALLBACK_DATA_MAX	64	/* bytes of callback_data */

/* The bot itself, from getMe. */
struct tg_bot {
	int64_t		 id;
	const char	*username;	/* without the @; NULL if unknown */
};

enum tg_update_kind {
	TG_UPDATE_MESSAGE = 0,	/* message (text, caption or media) */
	TG_UPDATE_EDITED,	/* edited_message */
	TG_UPDATE_CALLBACK,	/* callback_query: a button was pressed */
	TG_UPDATE_MEMBER,	/* my_chat_member: blocked, unblocked, added */
	TG_UPDATE_MIGRATE,	/* a service message: the group became a supergroup */
	TG_UPDATE_IGNORED,	/* a known shape kefu does not act on */
	TG_UPDATE_UNKNOWN	/* a type kefu does not know: log and skip */
};

/*
 * One Update.  Strings are owned by the update (tg_update_clear frees
 * them); absent ones are NULL and absent numbers 0.
 */
struct tg_update {
	int64_t			 update_id;
	enum tg_update_kind	 kind;
	char			*type;		/* the update's field: "message",
						   "poll", ... (for logs) */
	int64_t			 chat_id;
	char			*chat_type;	/* "private", "group",
						   "supergroup", "channel" */
	int64_t			 from_id;	/* the user; 0 if none */
	char			*from_name;	/* "First Last", else @username */
	char			*from_lang;	/* from.language_code, or NULL */
	int			 from_is_bot;
	int64_t			 message_id;
	int64_t			 date;		/* seconds since the epoch */
	int64_t			 edit_date;	/* edited_message only */

	char			*text;		/* text or caption, UTF-8 */
	struct attachment	*attachments;	/* photo, document, ... */
	size_t			 nattachments;

	/* Group messages: whether they are addressed to the bot. */
	int			 mentions_bot;	/* @username, text_mention or
						   /command@username */
	int			 replies_to_bot; /* reply_to_message is the bot's */

	/* callback_query */
	char			*callback_id;
	char			*callback_data;

	/* my_chat_member: new_chat_member.status ("kicked", "member",
	   "left", "administrator", ...) */
	char			*member_status;

	/* TG_UPDATE_MIGRATE: the supergroup's id (message.migrate_to_chat_id) */
	int64_t			 migrate_to_chat_id;
};

/*
 * Read one Update object.  The bot (may be NULL) decides mentions_bot and
 * replies_to_bot.  Returns 0 (an unknown type is not an error: kind
 * TG_UPDATE_UNKNOWN, type set), or -1 with *cause (caller frees) when the
 * object is not an Update (no update_id, wrong types).
 */
int	 tg_update_from_json(struct json_object *, const struct tg_bot *,
	    struct tg_update *, char **);
/* A webhook body's update_id, checking only that it is an Update. */
int	 tg_update_peek(const char *, size_t, int64_t *, char **);
/* The same from JSON text (a webhook's body); -1 also for bad JSON. */
int	 tg_update_parse(const char *, size_t, const struct tg_bot *,
	    struct tg_update *, char **);
void	 tg_update_clear(struct tg_update *);

/*
 * A Bot API response: {"ok":true,"result":...} or {"ok":false,
 * "error_code":429,"description":"...","parameters":{"retry_after":5}}.
 */
struct tg_response {
	int			 ok;
	int			 error_code;	/* 0 when ok */
	char			*description;	/* Telegram's text, or NULL */
	int64_t			 retry_after;	/* seconds; 0 none */
	int64_t			 migrate_to_chat_id; /* 0 none */
	struct json_object	*result;	/* owned; NULL if none */
	struct json_object	*root;		/* owned: the whole response */
};

/*
 * Read a response body.  http_status is used when the body is not JSON
 * (a proxy's error page): then ok is 0, error_code the HTTP status and
 * description says the body was not JSON.  Returns 0, or -1 with *cause
 * (caller frees) only when nothing sensible can be made of it.
 */
int	 tg_response_parse(const char *, size_t, long, struct tg_response *,
	    char **);
void	 tg_response_clear(struct tg_response *);

/* The length of UTF-8 text in UTF-16 code units (what Telegram counts). */
size_t	 tg_utf16_length(const char *, size_t);

/*
 * Split text into parts of at most max UTF-16 code units each: at a
 * paragraph break ("\n\n") if one falls in the second half of the part,
 * else a line break, else a space, else anywhere between characters (never
 * inside a UTF-8 sequence or a surrogate pair).  Separator whitespace at a
 * split is dropped.  Returns the number of parts (at least 1; an empty text
 * is one empty part) and *parts (free each, then the array).
 */
size_t	 tg_split_text(const char *, size_t, char ***);

/*
 * Escape text so that it shows literally under a parse_mode: "HTML"
 * (&, <, >, and " as entities) or "MarkdownV2" (a backslash before each
 * of _*[]()~`>#+-=|{}.! and before \ itself).  Any other mode (or NULL)
 * returns a copy.  Caller frees.
 */
char	*tg_escape(const char *, const char *);

/*
 * The callback_data for a button: its value if it fits in 64 bytes, else
 * "#" and the button's index (the channel maps it back through the stored
 * message).  Caller frees.
 */
char	*tg_callback_data(const char *, size_t);

/*
 * The JSON body of sendMessage: chat_id, text, optional parse_mode (NULL
 * or "" for none) and, when there are buttons, reply_markup with an
 * inline_keyboard: one button per row when a title is longer than 20
 * characters, else up to 3 per row (CSAT ratings sit in one row), each
 * with its callback_data from tg_callback_data.  Caller frees.
 */
char	*tg_send_message_body(int64_t, const char *, const char *,
	    const struct button *, size_t);

/*
 * The JSON body of sendPhoto (type "image"), sendVoice ("audio"),
 * sendVideo ("video"), sendSticker ("sticker"), sendLocation ("location",
 * url "geo:LAT,LON") or sendDocument (anything else) for one attachment,
 * whose url is a URL or a Telegram file_id.  *method is set to the method
 * name (static).  Caller frees the body.
 */
char	*tg_send_attachment_body(int64_t, const struct attachment *,
	    const char **);

/* The JSON body of answerCallbackQuery.  Caller frees. */
char	*tg_answer_callback_body(const char *);

/*
 * The JSON body of getUpdates: offset, timeout (seconds) and, if the list
 * is not empty, allowed_updates.  Caller frees.
 */
char	*tg_get_updates_body(int64_t, int, const char *const *, size_t);

/*
 * The JSON body of setWebhook: url, secret_token, allowed_updates,
 * max_connections (left out if 0), drop_pending_updates false.  Caller
 * frees.
 */
char	*tg_set_webhook_body(const char *, const char *, const char *const *,
	    size_t, int);

/* Parse a decimal int64 id ("-1001234567890"); 0, or -1 if not one. */
int	 tg_parse_id(const char *, int64_t *);

#endif
