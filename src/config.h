/*
 * kefu.conf: one libconfig file, validated against a single schema table
 * (config.c) that also generates the comments of etc/kefu.conf and the
 * kefu.conf(5) man page, so the three never disagree.
 */
#ifndef KEFU_CONFIG_H
#define KEFU_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A list of strings from the file ([ "a", "b" ]). */
struct config_list {
	char	**v;
	size_t	  n;
};

/* A group of strings with names of the file's choosing ({ a = "b"; }). */
struct config_map {
	char	**keys;
	char	**values;
	size_t	  n;
};

/* A list of groups from the file (( { ... }, { ... } )). */
struct config_records {
	void	*v;			/* an array of the record's struct */
	size_t	 n;
};

/* One Telegram bot (channels.telegram). */
struct config_telegram {
	char	*name;			/* the instance: /telegram/NAME */
	char	*token;			/* secret */
	char	*mode;			/* "poll" or "webhook" */
	char	*api_base;		/* "https://api.telegram.org" */
	char	*webhook_url;		/* "" unless set */
	char	*webhook_secret;	/* secret; NULL unless set */
	struct config_list allowed_updates;
	int	 groups;		/* answer in groups when addressed */
	int	 max_connections;	/* setWebhook: Telegram's, at once */
	int	 poll_timeout;		/* seconds of long polling */
	char	*parse_mode;		/* "", "HTML" or "MarkdownV2" */
	int	 rate_per_sec;		/* messages per second, whole bot */
	int	 chat_interval;		/* ms between messages to one chat */
	int	 group_per_minute;	/* messages per minute to one group */
	int	 timeout_ms;		/* one API request */
};

/* One outgoing webhook (inbox.webhooks). */
struct config_webhook {
	char	*url;
	char	*secret;		/* HMAC key; secret */
	struct config_list events;	/* "conversation.created", ... */
	int	 timeout_ms;
};

/* The i-th outgoing webhook of a config. */
#define CONFIG_WEBHOOK(cfg, i) \
	(&((struct config_webhook *)(cfg)->webhooks.v)[i])

/* The i-th Telegram bot of a config. */
#define CONFIG_TELEGRAM(cfg, i) \
	(&((struct config_telegram *)(cfg)->telegram.v)[i])

struct kefu_config {
	char	*path;			/* the file it was read from */

	/* http */
	char	*http_listen;		/* "127.0.0.1:8080" */
	char	*http_host;		/* parsed from http_listen */
	int	 http_port;
	char	*http_webhook_listen;	/* "" or host:port, hooks only */
	char	*http_web_root;		/* directory served at / */
	int	 http_max_body;		/* bytes */

	/* store */
	char	*store_path;
	int	 store_synchronous_full; /* 1: FULL, 0: NORMAL */
	int	 store_busy_timeout_ms;
	int	 store_queue_max;	/* inbound queue bound */

	/* log */
	char	*log_level;
	char	*log_debug;

	/* channels.websocket */
	int	 ws_enabled;
	char	*ws_path;		/* "/ws" */
	int	 ws_max_frame;		/* bytes */
	int	 ws_max_connections;
	int	 ws_rate_per_sec;	/* messages per second, sustained */
	int	 ws_rate_burst;
	int	 ws_ping_interval;	/* seconds */
	int	 ws_idle_timeout;	/* seconds without a pong */
	char	*ws_identity_secret;	/* HMAC key for "identity"; NULL: off */
	int	 ws_queue_max;		/* frames queued per connection */

	/* channels.telegram: struct config_telegram records */
	struct config_records telegram;

	/* inbox */
	int	 inbox_session_idle;	/* seconds */
	int	 inbox_secure_cookie;
	char	*inbox_assignment;	/* "manual" or "round_robin" */
	int	 inbox_escalate_after;	/* seconds; 0 off */
	struct config_records webhooks;	/* struct config_webhook */

	/* engine */
	char	*engine_default_lang;	/* "en" or "zh-CN" */
	char	*engine_templates;	/* templates directory */
	char	*engine_examples;	/* intent examples (CSV) */
	struct config_list engine_kb;	/* KB files imported at start */
	char	*engine_order_pattern;	/* ERE; "" for the NLU's own */
	int	 engine_welcome_idle;	/* seconds before welcoming again */
	int	 engine_max_failures;	/* unanswered turns before handoff */
	double	 engine_nlu_min_confidence; /* below: not understood */
	double	 engine_answer_threshold;   /* at or above: no confirm */
	double	 engine_kb_min_score;
	double	 engine_kb_answer_score;
	double	 engine_handoff_sentiment;  /* below: hand off */
	struct config_list engine_human_only; /* intents for people only */
	int	 engine_followup_delay;	/* seconds before the reminder */
	int	 engine_resolve_delay;	/* seconds before auto-resolve */

	/* business_hours */
	char	*hours_timezone;	/* "" for the system's */
	struct config_list hours_days;	/* "mon".."sun" */
	int	 hours_open;		/* minutes after midnight */
	int	 hours_close;

	/* actions.order_status */
	char	*order_url;		/* "" for the built-in table */
	struct config_list order_headers; /* secret */
	int	 order_timeout_ms;
	struct config_map order_map;	/* context name -> dotted path */

	/* delivery */
	int	 delivery_retry_base_ms;
	int	 delivery_retry_max_ms;
	int	 delivery_max_attempts;
	int	 delivery_batch;
};

/*
 * Read and validate a configuration file.  Returns a config the caller
 * frees with config_free, or NULL with *cause set ("file:line: key: why",
 * caller frees).  Relative paths in the file are resolved against the
 * directory the file is in.
 */
struct kefu_config *config_load(const char *, char **);
/* A config with every default, as if from an empty file. */
struct kefu_config *config_default(void);
void	 config_free(struct kefu_config *);
/*
 * Split "host:port" or "[v6]:port" (as http.listen takes it): 0 with
 * *host (caller frees) and *port, or -1 with *why (caller frees).
 */
int	 config_parse_listen(const char *, char **, int *, char **);

/* Write the commented example config (etc/kefu.conf) from the schema. */
void	 config_write_example(FILE *);
/* Write the kefu.conf(5) man page from the schema. */
void	 config_write_man(FILE *);

#endif
