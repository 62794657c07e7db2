/*
 * The dialogue engine: a pure state machine.  engine_step takes the
 * conversation's state (JSON text) and one event, and returns the new
 * state, the conversation status and the replies to send.  It does no I/O:
 * templates and the FAQ are loaded into memory by engine_new and
 * engine_reload, and time comes in with the event.
 *
 * Stages: welcome -> confirm -> solve -> follow_up, plus handoff (the bot
 * stays quiet until an agent hands back) and resolved.
 */
#ifndef KEFU_ENGINE_H
#define KEFU_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "message.h"

struct engine;

struct engine_config {
	const char	*templates_dir;	/* templates/<lang>/<name>.mustache */
	const char	*faq_path;	/* demo FAQ (see docs/engine.md) */
	const char	*default_lang;	/* "en" or "zh-CN" */
	int		 welcome_idle;	/* seconds idle before welcoming again */
	int		 max_failures;	/* unanswered turns before handoff */
	double		 answer_threshold;  /* FAQ score to answer outright */
	double		 confirm_threshold; /* FAQ score to ask "did you mean" */
};

enum engine_event_type {
	ENGINE_EV_MESSAGE = 0,	/* the customer wrote or pressed a button */
	ENGINE_EV_HANDBACK,	/* an agent handed the conversation back */
	ENGINE_EV_RESOLVED	/* an agent resolved it */
};

struct engine_event {
	enum engine_event_type	 type;
	int64_t			 now;		/* ms since the epoch */
	const char		*channel;	/* for per-channel templates */
	const char		*text;		/* customer's text, or NULL */
	const char		*value;		/* quick-reply value, or NULL */
	const char		*customer_name;	/* or NULL */
	int64_t			 conversation_id;
};

struct engine_reply {
	enum msg_author	 author;	/* AUTHOR_BOT or AUTHOR_SYSTEM */
	char		*text;
	struct button	*buttons;
	size_t		 nbuttons;
};

struct engine_result {
	char			*state;		/* new state JSON */
	char			*status;	/* "bot", "pending" or "resolved" */
	char			*lang;		/* "en" or "zh-CN" */
	char			*handoff_reason; /* set when this step handed off */
	char			*intent;	/* what was understood, or NULL */
	double			 confidence;
	struct engine_reply	*replies;
	size_t			 nreplies;
};

/* Load templates and FAQ; NULL with *cause (caller frees) on error. */
struct engine	*engine_new(const struct engine_config *, char **);
/* Reload templates and FAQ; on error the old ones stay and -1 is returned. */
int		 engine_reload(struct engine *, char **);
void		 engine_free(struct engine *);

/*
 * Run one step.  state may be NULL or "{}" for a new conversation.
 * Returns 0 with *res filled (caller calls engine_result_clear), or -1 with
 * *cause (a template failed to render, say).
 */
int		 engine_step(struct engine *, const char *,
		    const struct engine_event *, struct engine_result *,
		    char **);
void		 engine_result_clear(struct engine_result *);

#endif
