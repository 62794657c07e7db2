/*
 * The dialogue engine: a pure state machine.  engine_step takes the
 * conversation's state (JSON text) and one event, and returns the new
 * state, the conversation status, the replies to send, the actions to run
 * and the timers to set or cancel.  It does no I/O: templates are loaded
 * into memory by engine_new and engine_reload; what the customer's text
 * means (NLU) and what the knowledge base says about it come in with the
 * event, as does the time.
 *
 * Stages: welcome -> understand -> confirm -> solve -> follow_up, plus
 * ask_order (a slot is missing), action (a look-up is running), offer,
 * csat, handoff (the bot stays quiet until an agent hands back) and
 * resolved.  docs/engine.md describes them.
 */
#ifndef KEFU_ENGINE_H
#define KEFU_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "message.h"

struct engine;
struct json_object;
struct nlu_result;
struct kb_hit;

/* When people answer; see business_hours in kefu.conf(5). */
struct engine_hours {
	const char	*timezone;	/* tz name; NULL or "": local */
	int		 days;		/* bit 0 Monday ... bit 6 Sunday */
	int		 open;		/* minutes after midnight */
	int		 close;		/* minutes after midnight, > open */
};

struct engine_config {
	const char	*templates_dir;	/* templates/<lang>/<name>.mustache */
	const char	*default_lang;	/* "en" or "zh-CN" */
	int		 welcome_idle;	/* seconds before welcoming again */
	int		 max_failures;	/* failed turns before handoff */
	double		 nlu_min_confidence; /* below: not understood */
	double		 answer_threshold;   /* at or above: no confirm */
	double		 kb_min_score;	/* KB hits below are not answers */
	double		 kb_answer_score; /* at or above: answer unasked */
	double		 handoff_sentiment; /* below: hand off; -1 off */
	const char *const *human_only;	/* intents for people only */
	size_t		 nhuman_only;
	int		 followup_delay; /* seconds before the reminder */
	int		 resolve_delay;	/* seconds before auto-resolve */
	int		 action_timeout; /* ms before a look-up is given up */
	struct engine_hours hours;	/* days 0: always open */
};

enum engine_event_type {
	ENGINE_EV_MESSAGE = 0,	/* the customer wrote or pressed a button */
	ENGINE_EV_HANDBACK,	/* an agent handed the conversation back */
	ENGINE_EV_RESOLVED,	/* an agent resolved it */
	ENGINE_EV_ACTION_RESULT, /* an action the engine asked for ended */
	ENGINE_EV_TIMER		/* a timer the engine set is due */
};

enum engine_action_status {
	ENGINE_ACTION_OK = 0,	/* result holds the mapped fields */
	ENGINE_ACTION_NOT_FOUND, /* no such thing (HTTP 404) */
	ENGINE_ACTION_FAILED	/* error, time-out, unusable answer */
};

struct engine_event {
	enum engine_event_type	 type;
	int64_t			 now;		/* ms since the epoch */
	const char		*channel;	/* for per-channel templates */
	const char		*text;		/* customer's text, or NULL */
	const char		*value;		/* quick-reply value, or NULL */
	const char		*customer_name;	/* or NULL */
	int64_t			 conversation_id;

	/* ENGINE_EV_MESSAGE: what the text means (NULL: nothing known). */
	const struct nlu_result	*nlu;
	const struct kb_hit	*kb;		/* best first */
	size_t			 nkb;

	/* ENGINE_EV_ACTION_RESULT. */
	const char		*action;	/* its name: "order_status" */
	enum engine_action_status action_status;
	struct json_object	*action_result;	/* an object, or NULL */

	/* ENGINE_EV_TIMER: its kind ("followup", "resolve", "action"). */
	const char		*timer;
};

struct engine_reply {
	enum msg_author	 author;	/* AUTHOR_BOT or AUTHOR_SYSTEM */
	char		*text;
	struct button	*buttons;
	size_t		 nbuttons;
};

/* An action to run: its name and parameters (a JSON object). */
struct engine_action {
	char			*name;
	struct json_object	*params;
};

/* A timer to set for the conversation; one per kind. */
struct engine_timer {
	char	*kind;
	int64_t	 due;		/* ms since the epoch */
};

struct engine_result {
	char			*state;		/* new state JSON */
	char			*status;	/* bot, pending, resolved */
	char			*lang;		/* "en" or "zh-CN" */
	char			*handoff_reason; /* this step handed off */
	int			 after_hours;	/* ... outside business hours */
	int64_t			 back_at;	/* ... people back then */
	char			*intent;	/* understood, or NULL */
	double			 confidence;
	double			 sentiment;	/* of the message, [-1, 1] */
	int			 csat;		/* a rating given now, 1-5; 0 */
	struct engine_reply	*replies;
	size_t			 nreplies;
	struct engine_action	*actions;	/* to run after the commit */
	size_t			 nactions;
	char			**cancel;	/* timer kinds to cancel */
	size_t			 ncancel;
	struct engine_timer	*timers;	/* then timers to set */
	size_t			 ntimers;
};

/* Load templates; NULL with *cause (caller frees) on error. */
struct engine	*engine_new(const struct engine_config *, char **);
/* Reload templates; on error the old ones stay and -1 is returned. */
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

/*
 * Whether a message with this button value (or NULL) and this NLU result
 * (or NULL) could need knowledge-base hits: not for a button press or
 * confident small talk (greeting, thanks, goodbye, yes, no, a person),
 * which the engine answers without them.  Searching costs far more than
 * classifying, so the pipeline asks first.
 */
int		 engine_wants_kb(const struct engine *, const char *,
		    const struct nlu_result *);

/*
 * Whether people answer at a time (ms): 1 open, 0 closed with *next (the
 * next opening, ms; may be NULL).
 */
int		 engine_hours_open(const struct engine *, int64_t, int64_t *);

#endif
