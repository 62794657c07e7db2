/*
 * Configuration from one schema table.
 *
 * config_schema[] below is the only place a setting is described: its
 * dotted key, type, range or allowed values, default, the demo value used
 * in etc/kefu.conf, where it lives in struct kefu_config and one sentence
 * of help.  Everything else is driven by the table, in the manner of tmux's
 * options-table.c: config_default() applies the defaults, config_load()
 * walks the whole libconfig tree and checks every setting it finds against
 * its entry (so an unknown key or a typo is an error, never silently
 * ignored), and config_write_example() and config_write_man() generate the
 * commented example file and kefu.conf(5), so the three cannot disagree.
 * The unit test regenerates both documents and compares them with the
 * copies committed to the tree.
 *
 * Errors name the file, the line and the key.  The few rules that involve
 * two settings (thresholds, timeouts) are checked after the walk, in
 * config_check_pairs().  Relative paths in a file are resolved against the
 * directory of the file, so a config can be moved with its data.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kb.h"
#include "nlu.h"
#include "xmalloc.h"

#ifndef KEFU_DATADIR
#define KEFU_DATADIR "/usr/local/share/kefu"
#endif
#ifndef KEFU_SYSCONFDIR
#define KEFU_SYSCONFDIR "/etc/kefu"
#endif

/*
 * The engine's default thresholds: the out-of-scope cut and the knowledge
 * base's score are tuned with their modules (docs/quality.md, docs/kb.md).
 */
#define CONFIG_NLU_MIN_CONFIDENCE	NLU_MIN_CONFIDENCE_DEFAULT
#define CONFIG_ANSWER_THRESHOLD		0.6
#define CONFIG_KB_MIN_SCORE		KB_MIN_SCORE_DEFAULT
#define CONFIG_KB_ANSWER_SCORE		0.8

/* The demo shop's order numbers: 12345 is one (the default needs six). */
#define DEMO_ORDER_PATTERN	"[A-Za-z]{1,6}-?[0-9]{4,20}|[0-9]{5,20}"

/* The date shown in kefu.conf(5); change it when the schema changes. */
#define CONFIG_MAN_DATE "2026-11-25"

enum schema_type {
	SCHEMA_GROUP,
	SCHEMA_STRING,
	SCHEMA_PATH,		/* string, relative to the file's dir */
	SCHEMA_LISTEN,		/* string "host:port" or "[v6]:port" */
	SCHEMA_INT,
	SCHEMA_BOOL,
	SCHEMA_FLOAT,
	SCHEMA_ENUM,		/* one of choices, stored as a string */
	SCHEMA_CHOICE,		/* one of choices, stored as its index */
	SCHEMA_CLOCK,		/* "HH:MM", stored as minutes (int) */
	SCHEMA_LIST,		/* [ item, ... ] of type item */
	SCHEMA_MAP,		/* { name = "string"; ... }, any names */
	SCHEMA_RECORDS		/* ( { ... }, ... ): groups of members */
};

/*
 * One setting.  minimum and maximum bound a number; for a string, a
 * non-zero maximum is its longest length.  default_num holds the default
 * of an int, a bool, a clock (minutes) or a choice (as an index);
 * default_datadir says that default_str is under KEFU_DATADIR.  A list's
 * items are of type item (a string, a path or an enum of choices) and its
 * default is default_list; a map's default is empty.  check, if set, is
 * applied to a string, to each item of a list and to each value of a map.
 * example, if set, is the value written active in etc/kefu.conf (lists
 * and maps verbatim, other strings quoted).  A secret's value is never
 * echoed.
 */
struct config_schema {
	const char		 *key;
	enum schema_type	  type;
	const char		 *unit;
	double			  minimum;
	double			  maximum;
	const char *const	 *choices;

	const char		 *default_str;
	int			  default_datadir;
	long long		  default_num;
	double			  default_float;
	const char		 *example;
	int			  secret;
	enum schema_type	  item;
	const char *const	 *default_list;

	size_t			  offset;
	int			(*check)(const char *, char **);
	const char		 *help;

	/*
	 * Records: record_size is the size of one record's struct and
	 * record_check checks a whole record once it is read.  A member
	 * (member = 1) is a setting inside each record: its offset is into
	 * the record, required says the record must set it.
	 */
	size_t			  record_size;
	int			(*record_check)(void *, char **);
	int			  member;
	int			  required;
};

#define OFF(field) offsetof(struct kefu_config, field)
#define TG(field) offsetof(struct config_telegram, field)
#define WH(field) offsetof(struct config_webhook, field)

static int	config_check_ws_path(const char *, char **);
static int	config_check_webhook_listen(const char *, char **);
static int	config_check_timezone(const char *, char **);
static int	config_check_regex(const char *, char **);
static int	config_check_url(const char *, char **);
static int	config_check_header(const char *, char **);
static int	config_check_json_path(const char *, char **);
static int	config_check_name(const char *, char **);
static int	config_check_token(const char *, char **);
static int	config_check_base_url(const char *, char **);
static int	config_check_update_type(const char *, char **);
static int	config_check_telegram(void *, char **);

static const char *const config_synchronous_choices[] = {
	"normal", "full", NULL
};
static const char *const config_level_choices[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const config_lang_choices[] = {
	"en", "zh-CN", NULL
};
static const char *const config_day_choices[] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL
};
static const char *const config_no_strings[] = {
	NULL
};
static const char *const config_assignment_choices[] = {
	"manual", "round_robin", NULL
};
static const char *const config_webhook_events[] = {
	"conversation.created", "conversation.handed_off",
	"conversation.resolved", "message.created", NULL
};
static const char *const config_tg_mode_choices[] = {
	"poll", "webhook", NULL
};
static const char *const config_tg_parse_mode_choices[] = {
	"", "HTML", "MarkdownV2", NULL
};
static const char *const config_tg_updates_default[] = {
	"message", "edited_message", "callback_query", "my_chat_member", NULL
};

static const struct config_schema config_schema[] = {
	{ .key = "http",
	  .type = SCHEMA_GROUP,
	  .help = "The HTTP server: webhooks, the chat widget and the inbox."
	},
	{ .key = "http.listen",
	  .type = SCHEMA_LISTEN,
	  .default_str = "127.0.0.1:8080",
	  .offset = OFF(http_listen),
	  .help = "Address and port to listen on, as host:port or "
		  "[IPv6-address]:port."
	},
	{ .key = "http.webhook_listen",
	  .type = SCHEMA_STRING,
	  .default_str = "",
	  .offset = OFF(http_webhook_listen),
	  .check = config_check_webhook_listen,
	  .help = "A second address (host:port, like listen) that serves "
		  "only channel webhooks (/telegram/...) and /healthz, never "
		  "the inbox, its API or the widget: the one to expose to the "
		  "internet (behind the TLS proxy).  It is served by "
		  "libmicrohttpd, which spends less per request than the main "
		  "listener.  Empty: none."
	},
	{ .key = "http.web_root",
	  .type = SCHEMA_PATH,
	  .default_str = "/web",
	  .default_datadir = 1,
	  .example = "../web",
	  .offset = OFF(http_web_root),
	  .help = "Directory of the static files (inbox and widget) served "
		  "at /."
	},
	{ .key = "http.max_body",
	  .type = SCHEMA_INT,
	  .unit = "bytes",
	  .minimum = 1024,
	  .maximum = 104857600,
	  .default_num = 1048576,
	  .offset = OFF(http_max_body),
	  .help = "Largest HTTP request body accepted."
	},

	{ .key = "store",
	  .type = SCHEMA_GROUP,
	  .help = "The SQLite database that holds conversations, messages "
		  "and the outbox."
	},
	{ .key = "store.path",
	  .type = SCHEMA_PATH,
	  .default_str = "/var/lib/kefu/kefu.db",
	  .example = "../var/kefu.db",
	  .offset = OFF(store_path),
	  .help = "Database file; it is created if missing, and its "
		  "directory must exist."
	},
	{ .key = "store.synchronous",
	  .type = SCHEMA_CHOICE,
	  .choices = config_synchronous_choices,
	  .default_num = 1,
	  .offset = OFF(store_synchronous_full),
	  .help = "SQLite synchronous mode: \"full\" survives a power cut "
		  "without losing a committed message, \"normal\" is faster "
		  "but may lose the last commits."
	},
	{ .key = "store.busy_timeout",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .minimum = 0,
	  .maximum = 600000,
	  .default_num = 5000,
	  .offset = OFF(store_busy_timeout_ms),
	  .help = "How long to wait for a lock held by another process "
		  "(such as kefuctl)."
	},
	{ .key = "store.queue_max",
	  .type = SCHEMA_INT,
	  .minimum = 100,
	  .maximum = 100000000,
	  .default_num = 1000000,
	  .offset = OFF(store_queue_max),
	  .help = "Most inbound items (Telegram updates) stored and waiting "
		  "for the bot; beyond it a webhook answers 503 and Telegram "
		  "sends the update again later."
	},

	{ .key = "log",
	  .type = SCHEMA_GROUP,
	  .help = "Logging, in logfmt lines on standard error."
	},
	{ .key = "log.level",
	  .type = SCHEMA_ENUM,
	  .choices = config_level_choices,
	  .default_str = "info",
	  .offset = OFF(log_level),
	  .help = "Least severe level that is logged."
	},
	{ .key = "log.debug",
	  .type = SCHEMA_STRING,
	  .default_str = "",
	  .offset = OFF(log_debug),
	  .maximum = 200,
	  .help = "Comma-separated subsystems whose debug lines are logged "
		  "at any level, or \"all\"."
	},

	{ .key = "channels",
	  .type = SCHEMA_GROUP,
	  .help = "Channels: one group for each way customers reach kefu."
	},
	{ .key = "channels.websocket",
	  .type = SCHEMA_GROUP,
	  .help = "The chat widget, connected over a WebSocket."
	},
	{ .key = "channels.websocket.enabled",
	  .type = SCHEMA_BOOL,
	  .default_num = 1,
	  .offset = OFF(ws_enabled),
	  .help = "Whether the widget's WebSocket endpoint is served."
	},
	{ .key = "channels.websocket.path",
	  .type = SCHEMA_STRING,
	  .default_str = "/ws",
	  .offset = OFF(ws_path),
	  .maximum = 128,
	  .check = config_check_ws_path,
	  .help = "URL path of the WebSocket endpoint; it must begin "
		  "with /."
	},
	{ .key = "channels.websocket.max_frame",
	  .type = SCHEMA_INT,
	  .unit = "bytes",
	  .minimum = 128,
	  .maximum = 1048576,
	  .default_num = 16384,
	  .offset = OFF(ws_max_frame),
	  .help = "Largest message frame accepted from a client."
	},
	{ .key = "channels.websocket.max_connections",
	  .type = SCHEMA_INT,
	  .minimum = 1,
	  .maximum = 1000000,
	  .default_num = 20000,
	  .offset = OFF(ws_max_connections),
	  .help = "Most widget connections open at once; more are refused."
	},
	{ .key = "channels.websocket.rate",
	  .type = SCHEMA_INT,
	  .unit = "messages/s",
	  .minimum = 1,
	  .maximum = 10000,
	  .default_num = 5,
	  .offset = OFF(ws_rate_per_sec),
	  .help = "Sustained rate of messages accepted from one connection."
	},
	{ .key = "channels.websocket.burst",
	  .type = SCHEMA_INT,
	  .unit = "messages",
	  .minimum = 1,
	  .maximum = 100000,
	  .default_num = 20,
	  .offset = OFF(ws_rate_burst),
	  .help = "Messages one connection may send at once before the "
		  "rate applies."
	},
	{ .key = "channels.websocket.ping_interval",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 1,
	  .maximum = 3600,
	  .default_num = 30,
	  .offset = OFF(ws_ping_interval),
	  .help = "Time between pings sent to an idle connection."
	},
	{ .key = "channels.websocket.idle_timeout",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 2,
	  .maximum = 86400,
	  .default_num = 90,
	  .offset = OFF(ws_idle_timeout),
	  .help = "A connection silent this long (no pong, no message) is "
		  "closed; it must be greater than ping_interval."
	},
	{ .key = "channels.websocket.identity_secret",
	  .type = SCHEMA_STRING,
	  .default_str = "",
	  .secret = 1,
	  .offset = OFF(ws_identity_secret),
	  .help = "HMAC-SHA256 key with which the site signs the identity of "
		  "a logged-in customer; empty turns identity off."
	},
	{ .key = "channels.websocket.queue_max",
	  .type = SCHEMA_INT,
	  .unit = "frames",
	  .minimum = 1,
	  .maximum = 65536,
	  .default_num = 256,
	  .offset = OFF(ws_queue_max),
	  .help = "Frames queued for a slow client before it is disconnected."
	},

	{ .key = "channels.telegram",
	  .type = SCHEMA_RECORDS,
	  .offset = OFF(telegram),
	  .record_size = sizeof(struct config_telegram),
	  .record_check = config_check_telegram,
	  .help = "Telegram bots, as a list of groups: telegram = ( { name = "
		  "\"shop\"; token = \"...\"; }, ... ).  Each bot runs on its "
		  "own."
	},
	{ .key = "channels.telegram.name",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .required = 1,
	  .default_str = "",
	  .maximum = 32,
	  .check = config_check_name,
	  .offset = TG(name),
	  .help = "The bot's name in kefu: lower-case letters, digits, - and "
		  "_.  Its webhook is served at /telegram/NAME and its "
		  "conversations carry it as their account."
	},
	{ .key = "channels.telegram.token",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .required = 1,
	  .secret = 1,
	  .default_str = "",
	  .maximum = 128,
	  .check = config_check_token,
	  .offset = TG(token),
	  .help = "The bot token from @BotFather (secret: it is never "
		  "logged)."
	},
	{ .key = "channels.telegram.mode",
	  .type = SCHEMA_ENUM,
	  .member = 1,
	  .choices = config_tg_mode_choices,
	  .default_str = "poll",
	  .offset = TG(mode),
	  .help = "How updates arrive: \"poll\" asks Telegram with "
		  "getUpdates (works behind NAT), \"webhook\" has Telegram "
		  "POST them to /telegram/NAME (register it with kefuctl "
		  "telegram set-webhook)."
	},
	{ .key = "channels.telegram.api_base",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .default_str = "https://api.telegram.org",
	  .maximum = 512,
	  .check = config_check_base_url,
	  .offset = TG(api_base),
	  .help = "Where the Bot API is: requests go to "
		  "API_BASE/botTOKEN/METHOD.  Set it for a local Bot API "
		  "server or a test server."
	},
	{ .key = "channels.telegram.webhook_url",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .default_str = "",
	  .maximum = 512,
	  .check = config_check_base_url,
	  .offset = TG(webhook_url),
	  .help = "The public https URL that reaches this kefud's "
		  "/telegram/NAME, for kefuctl telegram set-webhook."
	},
	{ .key = "channels.telegram.webhook_secret",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .secret = 1,
	  .default_str = "",
	  .maximum = 256,
	  .check = config_check_token,
	  .offset = TG(webhook_secret),
	  .help = "The secret_token Telegram sends in the "
		  "X-Telegram-Bot-Api-Secret-Token header of every webhook "
		  "request (1 to 256 of A-Z, a-z, 0-9, _ and -); required in "
		  "webhook mode."
	},
	{ .key = "channels.telegram.max_connections",
	  .type = SCHEMA_INT,
	  .member = 1,
	  .minimum = 1,
	  .maximum = 100,
	  .default_num = 40,
	  .offset = TG(max_connections),
	  .help = "How many webhook requests Telegram may have open at once "
		  "(setWebhook's max_connections, 1 to 100; Telegram's "
		  "default is 40).  Telegram waits for each answer before it "
		  "sends that connection's next update, so this bounds a "
		  "bot's inbound rate; sent by kefuctl telegram set-webhook."
	},
	{ .key = "channels.telegram.allowed_updates",
	  .type = SCHEMA_LIST,
	  .item = SCHEMA_STRING,
	  .member = 1,
	  .default_list = config_tg_updates_default,
	  .check = config_check_update_type,
	  .offset = TG(allowed_updates),
	  .help = "The update types asked for."
	},
	{ .key = "channels.telegram.groups",
	  .type = SCHEMA_BOOL,
	  .member = 1,
	  .default_num = 0,
	  .offset = TG(groups),
	  .help = "Whether to answer in groups, and there only when the bot "
		  "is mentioned or replied to; otherwise group messages are "
		  "ignored."
	},
	{ .key = "channels.telegram.poll_timeout",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .member = 1,
	  .minimum = 0,
	  .maximum = 50,
	  .default_num = 25,
	  .offset = TG(poll_timeout),
	  .help = "How long one getUpdates request waits for updates."
	},
	{ .key = "channels.telegram.parse_mode",
	  .type = SCHEMA_ENUM,
	  .member = 1,
	  .choices = config_tg_parse_mode_choices,
	  .default_str = "",
	  .offset = TG(parse_mode),
	  .help = "The parse_mode of sent texts; the text is escaped for it, "
		  "so a customer's or agent's characters are shown as "
		  "written."
	},
	{ .key = "channels.telegram.rate_per_sec",
	  .type = SCHEMA_INT,
	  .unit = "messages",
	  .member = 1,
	  .minimum = 1,
	  .maximum = 1000,
	  .default_num = 30,
	  .offset = TG(rate_per_sec),
	  .help = "Most messages the bot sends in one second; Telegram "
		  "refuses more than about 30."
	},
	{ .key = "channels.telegram.chat_interval",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .member = 1,
	  .minimum = 0,
	  .maximum = 60000,
	  .default_num = 1000,
	  .offset = TG(chat_interval),
	  .help = "Least time between two messages to one chat; Telegram "
		  "asks for about one second."
	},
	{ .key = "channels.telegram.group_per_minute",
	  .type = SCHEMA_INT,
	  .unit = "messages",
	  .member = 1,
	  .minimum = 1,
	  .maximum = 1000,
	  .default_num = 20,
	  .offset = TG(group_per_minute),
	  .help = "Most messages to one group in a minute; Telegram allows "
		  "20."
	},
	{ .key = "channels.telegram.timeout",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .member = 1,
	  .minimum = 1000,
	  .maximum = 120000,
	  .default_num = 15000,
	  .offset = TG(timeout_ms),
	  .help = "Time limit of one Bot API request (getUpdates gets its "
		  "poll_timeout on top)."
	},

	{ .key = "inbox",
	  .type = SCHEMA_GROUP,
	  .help = "The shared inbox where agents take over conversations, "
		  "at /inbox/ (docs/api.md)."
	},
	{ .key = "inbox.session_idle",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 60,
	  .maximum = 2592000,
	  .default_num = 28800,
	  .offset = OFF(inbox_session_idle),
	  .help = "An agent's session ends after this long without use."
	},
	{ .key = "inbox.secure_cookie",
	  .type = SCHEMA_BOOL,
	  .default_num = 0,
	  .offset = OFF(inbox_secure_cookie),
	  .help = "Mark the session cookie Secure even without "
		  "X-Forwarded-Proto: https (kefu behind a TLS proxy that does "
		  "not say so)."
	},
	{ .key = "inbox.assignment",
	  .type = SCHEMA_ENUM,
	  .choices = config_assignment_choices,
	  .default_str = "manual",
	  .offset = OFF(inbox_assignment),
	  .help = "Who gets a conversation handed to people: \"manual\" "
		  "(agents claim from the waiting view) or \"round_robin\" "
		  "(the online agent with the fewest open conversations, "
		  "below their limit)."
	},
	{ .key = "inbox.escalate_after",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 0,
	  .maximum = 86400,
	  .default_num = 600,
	  .offset = OFF(inbox_escalate_after),
	  .help = "A conversation waiting this long for a person is "
		  "escalated again (marked and notified); 0 turns it off."
	},

	{ .key = "inbox.webhooks",
	  .type = SCHEMA_RECORDS,
	  .offset = OFF(webhooks),
	  .record_size = sizeof(struct config_webhook),
	  .help = "Outgoing webhooks, as a list of groups: webhooks = ( { url "
		  "= \"https://...\"; secret = \"...\"; events = [ ... ]; } ). "
		  "Each event is POSTed as JSON with an X-Kefu-Signature "
		  "header (sha256=HMAC-SHA256 of the body, hex) and retried "
		  "with back-off until it is accepted (docs/api.md)."
	},
	{ .key = "inbox.webhooks.url",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .required = 1,
	  .default_str = "",
	  .maximum = 1024,
	  .check = config_check_base_url,
	  .offset = WH(url),
	  .help = "Where the events are POSTed (http or https)."
	},
	{ .key = "inbox.webhooks.secret",
	  .type = SCHEMA_STRING,
	  .member = 1,
	  .required = 1,
	  .secret = 1,
	  .default_str = "",
	  .maximum = 256,
	  .offset = WH(secret),
	  .help = "The key of the signature (secret: it is never logged)."
	},
	{ .key = "inbox.webhooks.events",
	  .type = SCHEMA_LIST,
	  .item = SCHEMA_ENUM,
	  .member = 1,
	  .choices = config_webhook_events,
	  .default_list = config_webhook_events,
	  .offset = WH(events),
	  .help = "The events sent."
	},
	{ .key = "inbox.webhooks.timeout",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .member = 1,
	  .minimum = 1000,
	  .maximum = 120000,
	  .default_num = 10000,
	  .offset = WH(timeout_ms),
	  .help = "Time limit of one delivery."
	},

	{ .key = "engine",
	  .type = SCHEMA_GROUP,
	  .help = "The bot dialogue: templates, knowledge base and when to "
		  "hand over to a human."
	},
	{ .key = "engine.default_lang",
	  .type = SCHEMA_ENUM,
	  .choices = config_lang_choices,
	  .default_str = "en",
	  .offset = OFF(engine_default_lang),
	  .help = "Language used when a customer's language cannot be "
		  "detected."
	},
	{ .key = "engine.templates",
	  .type = SCHEMA_PATH,
	  .default_str = "/templates",
	  .default_datadir = 1,
	  .example = "../templates",
	  .offset = OFF(engine_templates),
	  .help = "Directory of reply templates, one subdirectory per "
		  "language."
	},
	{ .key = "engine.examples",
	  .type = SCHEMA_PATH,
	  .default_str = "/demo/intents.csv",
	  .default_datadir = 1,
	  .example = "demo/intents.csv",
	  .offset = OFF(engine_examples),
	  .help = "Example phrases the intent model is trained on at start-up "
		  "and on SIGHUP: a CSV file with the header text,intent and "
		  "an optional lang column.  Examples added with \"kefuctl nlu "
		  "import\" are used as well; with --replace they are used "
		  "instead."
	},
	{ .key = "engine.kb",
	  .type = SCHEMA_LIST,
	  .item = SCHEMA_PATH,
	  .default_list = config_no_strings,
	  .example = "[ \"demo/kb\" ]",
	  .offset = OFF(engine_kb),
	  .help = "Knowledge-base files (Markdown or CSV) or directories of "
		  "them that kefud imports into the store at start-up and on "
		  "SIGHUP, replacing what each file imported before.  Entries "
		  "added with \"kefuctl kb import\" stay as they are."
	},
	{ .key = "engine.order_pattern",
	  .type = SCHEMA_STRING,
	  .default_str = "",
	  .example = DEMO_ORDER_PATTERN,
	  .maximum = 200,
	  .check = config_check_regex,
	  .offset = OFF(engine_order_pattern),
	  .help = "POSIX extended regular expression an order number must "
		  "match; empty for the built-in one."
	},
	{ .key = "engine.welcome_idle",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 1,
	  .maximum = 31536000,
	  .default_num = 3600,
	  .offset = OFF(engine_welcome_idle),
	  .help = "A customer who writes after this long a silence is "
		  "welcomed again."
	},
	{ .key = "engine.max_failures",
	  .type = SCHEMA_INT,
	  .unit = "turns",
	  .minimum = 1,
	  .maximum = 100,
	  .default_num = 2,
	  .offset = OFF(engine_max_failures),
	  .help = "Turns in a row the bot may fail to understand or answer "
		  "before it hands the conversation to a human."
	},
	{ .key = "engine.nlu_min_confidence",
	  .type = SCHEMA_FLOAT,
	  .minimum = 0,
	  .maximum = 1,
	  .default_float = CONFIG_NLU_MIN_CONFIDENCE,
	  .offset = OFF(engine_nlu_min_confidence),
	  .help = "Intent confidence below which a message is out of scope: "
		  "the bot does not guess, it asks the customer to rephrase.  "
		  "Between this and answer_threshold it asks the customer to "
		  "confirm."
	},
	{ .key = "engine.answer_threshold",
	  .type = SCHEMA_FLOAT,
	  .minimum = 0,
	  .maximum = 1,
	  .default_float = CONFIG_ANSWER_THRESHOLD,
	  .offset = OFF(engine_answer_threshold),
	  .help = "Intent confidence at or above which the bot answers "
		  "without asking the customer to confirm first; it must not "
		  "be less than nlu_min_confidence."
	},
	{ .key = "engine.kb_min_score",
	  .type = SCHEMA_FLOAT,
	  .minimum = 0,
	  .maximum = 1,
	  .default_float = CONFIG_KB_MIN_SCORE,
	  .offset = OFF(engine_kb_min_score),
	  .help = "Knowledge-base match score below which an entry is not "
		  "used as an answer."
	},
	{ .key = "engine.kb_answer_score",
	  .type = SCHEMA_FLOAT,
	  .minimum = 0,
	  .maximum = 1,
	  .default_float = CONFIG_KB_ANSWER_SCORE,
	  .offset = OFF(engine_kb_answer_score),
	  .help = "Knowledge-base match score at or above which an entry is "
		  "given without asking the customer to confirm, although "
		  "the intent model was unsure or the entry names no intent "
		  "(the model knows fewer topics than the knowledge base); "
		  "it must not be less than kb_min_score."
	},
	{ .key = "engine.handoff_sentiment",
	  .type = SCHEMA_FLOAT,
	  .minimum = -1,
	  .maximum = 1,
	  .default_float = -0.6,
	  .offset = OFF(engine_handoff_sentiment),
	  .help = "A message whose sentiment, from -1 (very negative) to 1, "
		  "is below this hands the conversation to a human; -1 turns "
		  "the rule off."
	},
	{ .key = "engine.human_only",
	  .type = SCHEMA_LIST,
	  .item = SCHEMA_STRING,
	  .default_list = config_no_strings,
	  .example = "[ \"complaint\", \"legal\" ]",
	  .offset = OFF(engine_human_only),
	  .help = "Intents the bot never handles itself: the conversation "
		  "goes straight to a human."
	},
	{ .key = "engine.followup_delay",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 1,
	  .maximum = 604800,
	  .default_num = 300,
	  .offset = OFF(engine_followup_delay),
	  .help = "After the bot asks whether its answer solved the problem, "
		  "a customer silent this long gets one reminder."
	},
	{ .key = "engine.resolve_delay",
	  .type = SCHEMA_INT,
	  .unit = "seconds",
	  .minimum = 1,
	  .maximum = 604800,
	  .default_num = 900,
	  .offset = OFF(engine_resolve_delay),
	  .help = "A customer still silent this long after the reminder (or "
		  "after being asked for a rating) has the conversation "
		  "resolved automatically."
	},

	{ .key = "business_hours",
	  .type = SCHEMA_GROUP,
	  .help = "When people answer.  A handoff outside these hours tells "
		  "the customer when the team is back; the conversation waits "
		  "for them.  The defaults mean always."
	},
	{ .key = "business_hours.timezone",
	  .type = SCHEMA_STRING,
	  .default_str = "",
	  .example = "Asia/Shanghai",
	  .maximum = 64,
	  .check = config_check_timezone,
	  .offset = OFF(hours_timezone),
	  .help = "Time zone of the hours, as in the tz database; empty for "
		  "the system's."
	},
	{ .key = "business_hours.days",
	  .type = SCHEMA_LIST,
	  .item = SCHEMA_ENUM,
	  .choices = config_day_choices,
	  .default_list = config_day_choices,
	  .example = "[ \"mon\", \"tue\", \"wed\", \"thu\", \"fri\" ]",
	  .offset = OFF(hours_days),
	  .help = "Days on which people answer."
	},
	{ .key = "business_hours.open",
	  .type = SCHEMA_CLOCK,
	  .default_num = 0,
	  .example = "09:00",
	  .offset = OFF(hours_open),
	  .help = "Time of day the team starts answering."
	},
	{ .key = "business_hours.close",
	  .type = SCHEMA_CLOCK,
	  .default_num = 1440,
	  .example = "18:00",
	  .offset = OFF(hours_close),
	  .help = "Time of day the team stops answering; it must be later "
		  "than open."
	},

	{ .key = "actions",
	  .type = SCHEMA_GROUP,
	  .help = "What the bot can look up in the shop's own systems, one "
		  "group per intent."
	},
	{ .key = "actions.order_status",
	  .type = SCHEMA_GROUP,
	  .help = "The order-status look-up, for the intent order_status.  "
		  "Without a url, kefu's own order table answers (\"kefuctl "
		  "orders import\")."
	},
	{ .key = "actions.order_status.url",
	  .type = SCHEMA_STRING,
	  .default_str = "",
	  .maximum = 2000,
	  .check = config_check_url,
	  .offset = OFF(order_url),
	  .help = "URL to GET, with {order_id} where the order number goes "
		  "(URL-encoded), such as "
		  "\"http://shop.internal/api/orders/{order_id}\"; empty for "
		  "the built-in order table.  200 with a JSON object is an "
		  "answer, 404 means there is no such order, anything else is "
		  "a failure."
	},
	{ .key = "actions.order_status.headers",
	  .type = SCHEMA_LIST,
	  .item = SCHEMA_STRING,
	  .default_list = config_no_strings,
	  .secret = 1,
	  .check = config_check_header,
	  .offset = OFF(order_headers),
	  .help = "Request headers, each \"Name: value\", such as "
		  "\"Authorization: Bearer ...\"; never logged."
	},
	{ .key = "actions.order_status.timeout",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .minimum = 100,
	  .maximum = 60000,
	  .default_num = 5000,
	  .offset = OFF(order_timeout_ms),
	  .help = "How long the look-up may take before the bot apologizes "
		  "and offers a human."
	},
	{ .key = "actions.order_status.map",
	  .type = SCHEMA_MAP,
	  .check = config_check_json_path,
	  .offset = OFF(order_map),
	  .help = "Where each field the templates use as order.NAME is in "
		  "the JSON response, as a dotted path: { status = "
		  "\"status\"; eta = \"delivery.eta\"; }.  A response "
		  "without status is a failure.  Empty: status, carrier, "
		  "tracking, eta, items and total from the top level."
	},

	{ .key = "delivery",
	  .type = SCHEMA_GROUP,
	  .help = "Sending outbound messages from the outbox, with retries."
	},
	{ .key = "delivery.retry_base",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .minimum = 10,
	  .maximum = 3600000,
	  .default_num = 1000,
	  .offset = OFF(delivery_retry_base_ms),
	  .help = "Delay before the first retry of a failed delivery; "
		  "later retries wait longer, up to retry_max."
	},
	{ .key = "delivery.retry_max",
	  .type = SCHEMA_INT,
	  .unit = "milliseconds",
	  .minimum = 10,
	  .maximum = 86400000,
	  .default_num = 300000,
	  .offset = OFF(delivery_retry_max_ms),
	  .help = "Longest delay between two retries; it must not be less "
		  "than retry_base."
	},
	{ .key = "delivery.max_attempts",
	  .type = SCHEMA_INT,
	  .minimum = 1,
	  .maximum = 1000,
	  .default_num = 10,
	  .offset = OFF(delivery_max_attempts),
	  .help = "Attempts after which a message that keeps failing is "
		  "given up as failed."
	},
	{ .key = "delivery.batch",
	  .type = SCHEMA_INT,
	  .unit = "messages",
	  .minimum = 1,
	  .maximum = 10000,
	  .default_num = 100,
	  .offset = OFF(delivery_batch),
	  .help = "Most messages taken from the outbox in one pass."
	},

	{ .key = NULL }
};

/* Rules that involve two settings: "first" must not exceed "second". */
struct config_pair {
	const char	*first;
	const char	*second;
	int		 strict;	/* first < second, not <= */
};

static const struct config_pair config_pairs[] = {
	{ "engine.nlu_min_confidence", "engine.answer_threshold", 0 },
	{ "engine.kb_min_score", "engine.kb_answer_score", 0 },
	{ "business_hours.open", "business_hours.close", 1 },
	{ "channels.websocket.ping_interval",
	  "channels.websocket.idle_timeout", 1 },
	{ "delivery.retry_base", "delivery.retry_max", 0 },
	{ NULL, NULL, 0 }
};

/* Find the schema entry for a dotted key. */
static const struct config_schema *
config_find(const char *key)
{
	const struct config_schema	*e;

	for (e = config_schema; e->key != NULL; e++) {
		if (strcmp(e->key, key) == 0)
			return (e);
	}
	return (NULL);
}

/* The last component of a dotted key, as written inside its group. */
static const char *
config_leaf(const char *key)
{
	const char	*dot;

	if ((dot = strrchr(key, '.')) == NULL)
		return (key);
	return (dot + 1);
}

/* How deep a key is nested: 0 for a top-level group. */
static int
config_depth(const char *key)
{
	int	n = 0;

	for (; *key != '\0'; key++) {
		if (*key == '.')
			n++;
	}
	return (n);
}

/* Where an entry's value lives in a config. */
static char **
config_str_field(void *base, const struct config_schema *e)
{
	return ((char **)((char *)base + e->offset));
}

/* Where an entry's value lives in a config. */
static int *
config_int_field(void *base, const struct config_schema *e)
{
	return ((int *)((char *)base + e->offset));
}

/* Where an entry's value lives in a config. */
static double *
config_float_field(void *base, const struct config_schema *e)
{
	return ((double *)((char *)base + e->offset));
}

/* Where an entry's value lives in a config. */
static struct config_list *
config_list_field(void *base, const struct config_schema *e)
{
	return ((struct config_list *)((char *)base + e->offset));
}

/* Where an entry's value lives in a config. */
static struct config_map *
config_map_field(void *base, const struct config_schema *e)
{
	return ((struct config_map *)((char *)base + e->offset));
}

/* Free a list's strings and empty it. */
static void
config_list_clear(struct config_list *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append a string (taken, not copied) to a list. */
static void
config_list_add(struct config_list *l, char *s)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
	l->v[l->n++] = s;
}

/* Free a map's strings and empty it. */
static void
config_map_clear(struct config_map *m)
{
	size_t	i;

	for (i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	m->keys = m->values = NULL;
	m->n = 0;
}

/* Parse "HH:MM" (00:00 to 24:00) into minutes after midnight; -1 if bad. */
static int
config_parse_clock(const char *s)
{
	int	h, m;

	if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return (-1);
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return (-1);
	return (h * 60 + m);
}

/* Whether a value of this type is kept as a string in the struct. */
static int
config_is_string(const struct config_schema *e)
{
	switch (e->type) {
	case SCHEMA_STRING:
	case SCHEMA_PATH:
	case SCHEMA_LISTEN:
	case SCHEMA_ENUM:
		return (1);
	default:
		return (0);
	}
}

/* The default value of a string setting; the caller frees it. */
static char *
config_default_str(const struct config_schema *e)
{
	if (e->default_datadir)
		return (xasprintf("%s%s", KEFU_DATADIR, e->default_str));
	return (xstrdup(e->default_str));
}

/*
 * Split "host:port" or "[v6]:port" into its parts.  Returns 0 with *host
 * (caller frees) and *port set, or -1 with *why set (caller frees).
 */
int
config_parse_listen(const char *s, char **host, int *port, char **why)
{
	const char	*colon, *p, *close;
	char		*h, *end;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	long		 n;

	if (*s == '[') {
		if ((close = strchr(s, ']')) == NULL) {
			*why = xasprintf("\"%s\" has no closing ]", s);
			return (-1);
		}
		if (close[1] != ':') {
			*why = xasprintf("\"%s\" has no port after ]", s);
			return (-1);
		}
		h = xstrndup(s + 1, close - s - 1);
		if (inet_pton(AF_INET6, h, &a6) != 1) {
			*why = xasprintf("\"%s\" is not an IPv6 address", h);
			free(h);
			return (-1);
		}
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			*why = xasprintf("\"%s\" has no port (expected "
			    "host:port)", s);
			return (-1);
		}
		if (memchr(s, ':', colon - s) != NULL) {
			*why = xasprintf("\"%s\": put an IPv6 address in "
			    "brackets, like [::1]:8080", s);
			return (-1);
		}
		h = xstrndup(s, colon - s);
		if (*h == '\0') {
			*why = xasprintf("\"%s\" has no host (expected "
			    "host:port)", s);
			free(h);
			return (-1);
		}
		if (inet_pton(AF_INET, h, &a4) != 1) {
			for (p = h; *p != '\0'; p++) {
				if ((*p >= 'a' && *p <= 'z') ||
				    (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') ||
				    *p == '.' || *p == '-')
					continue;
				break;
			}
			if (*p != '\0' || *h == '-' || *h == '.' ||
			    strlen(h) > 253) {
				*why = xasprintf("\"%s\" is not a host name or "
				    "address", h);
				free(h);
				return (-1);
			}
		}
	}

	p = colon + 1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (*p < '0' || *p > '9' || *end != '\0' || errno != 0 || n < 1 ||
	    n > 65535) {
		*why = xasprintf("\"%s\" is not a port from 1 to 65535", p);
		free(h);
		return (-1);
	}
	*host = h;
	*port = (int)n;
	return (0);
}

/* Check http.webhook_listen: empty, or host:port like http.listen. */
static int
config_check_webhook_listen(const char *s, char **why)
{
	char	*host;
	int	 port;

	if (*s == '\0')
		return (0);
	if (config_parse_listen(s, &host, &port, why) != 0)
		return (-1);
	free(host);
	return (0);
}

/* Check channels.websocket.path. */
static int
config_check_ws_path(const char *s, char **why)
{
	if (*s != '/') {
		*why = xasprintf("\"%s\" does not begin with /", s);
		return (-1);
	}
	return (0);
}

/* Check business_hours.timezone: a zone of the tz database, or empty. */
static int
config_check_timezone(const char *s, char **why)
{
	const char	*dir, *p;
	char		*path;
	struct stat	 sb;

	if (*s == '\0')
		return (0);
	for (p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
			break;
	}
	if (*p != '\0' || *s == '/' || strstr(s, "..") != NULL) {
		*why = xasprintf("\"%s\" is not a time zone name", s);
		return (-1);
	}
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	path = xasprintf("%s/%s", dir, s);
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		*why = xasprintf("\"%s\" is not a time zone (no %s)", s, path);
		free(path);
		return (-1);
	}
	free(path);
	return (0);
}

/* Check a POSIX extended regular expression (empty is allowed). */
static int
config_check_regex(const char *s, char **why)
{
	regex_t	re;
	char	buf[256];
	int	error;

	if (*s == '\0')
		return (0);
	if ((error = regcomp(&re, s, REG_EXTENDED)) != 0) {
		regerror(error, &re, buf, sizeof buf);
		*why = xasprintf("not a POSIX extended regular expression: "
		    "%s", buf);
		return (-1);
	}
	regfree(&re);
	return (0);
}

/* Check an action's URL: http(s), and no placeholder but {order_id}. */
static int
config_check_url(const char *s, char **why)
{
	const char	*p;

	if (*s == '\0')
		return (0);
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
		*why = xasprintf("\"%s\" does not begin with http:// or "
		    "https://", s);
		return (-1);
	}
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*why = xstrdup("the URL has a space or a control "
			    "character");
			return (-1);
		}
		if (*p == '{' && strncmp(p, "{order_id}", 10) != 0) {
			*why = xasprintf("unknown placeholder at \"%.20s\"; "
			    "the only one is {order_id}", p);
			return (-1);
		}
	}
	return (0);
}

/* Check a request header "Name: value" without echoing it (a secret). */
static int
config_check_header(const char *s, char **why)
{
	const char	*p;

	for (p = s; *p != '\0' && *p != ':'; p++) {
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			break;
	}
	if (p == s || *p != ':' || strpbrk(s, "\r\n") != NULL) {
		*why = xstrdup("not a header \"Name: value\"");
		return (-1);
	}
	return (0);
}

/* Check a dotted path into a JSON object: "delivery.eta". */
static int
config_check_json_path(const char *s, char **why)
{
	size_t	len = strlen(s);

	if (len == 0 || s[0] == '.' || s[len - 1] == '.' ||
	    strstr(s, "..") != NULL) {
		*why = xasprintf("\"%s\" is not a dotted path like "
		    "\"delivery.eta\"", s);
		return (-1);
	}
	return (0);
}

/* Check a Telegram bot's name: it is part of a URL path. */
static int
config_check_name(const char *s, char **why)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if ((*p < 'a' || *p > 'z') && (*p < '0' || *p > '9') &&
		    *p != '-' && *p != '_')
			break;
	}
	if (p == s || *p != '\0') {
		*why = xasprintf("\"%s\" is not a name of a-z, 0-9, - and _",
		    s);
		return (-1);
	}
	return (0);
}

/* Check a token or secret: letters, digits, :, _ and - (not echoed). */
static int
config_check_token(const char *s, char **why)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr(":_-", *p) == NULL) {
			*why = xasprintf("character %zu is not a letter, a "
			    "digit, :, _ or -", (size_t)(p - s) + 1);
			return (-1);
		}
	}
	return (0);
}

/* Check a base URL: http(s), no space, no query; empty is allowed. */
static int
config_check_base_url(const char *s, char **why)
{
	const char	*p;

	if (*s == '\0')
		return (0);
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
		*why = xasprintf("\"%s\" does not begin with http:// or "
		    "https://", s);
		return (-1);
	}
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' ||
		    *p == '#') {
			*why = xstrdup("the URL has a space, a control "
			    "character, a query or a fragment");
			return (-1);
		}
	}
	return (0);
}

/* Check the name of a Telegram update type ("message", "poll", ...). */
static int
config_check_update_type(const char *s, char **why)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if ((*p < 'a' || *p > 'z') && *p != '_')
			break;
	}
	if (p == s || *p != '\0') {
		*why = xasprintf("\"%s\" is not an update type like "
		    "\"message\"", s);
		return (-1);
	}
	return (0);
}

/* Check one Telegram bot as a whole, once it is read. */
static int
config_check_telegram(void *record, char **why)
{
	struct config_telegram	*tg = record;
	size_t			 len;

	if (tg->token == NULL || strchr(tg->token, ':') == NULL) {
		*why = xstrdup("token: not a bot token (digits, a colon, "
		    "then letters)");
		return (-1);
	}
	if (strcmp(tg->mode, "webhook") == 0 && tg->webhook_secret == NULL) {
		*why = xstrdup("webhook_secret: required in webhook mode");
		return (-1);
	}
	len = strlen(tg->api_base);
	while (len > 0 && tg->api_base[len - 1] == '/')
		tg->api_base[--len] = '\0';
	if (len == 0) {
		*why = xstrdup("api_base: empty");
		return (-1);
	}
	return (0);
}

/*
 * Tidy an absolute path: drop empty and "." components and fold ".."
 * into its parent.  The directory part comes from realpath, so folding
 * ".." by name is what the file system would do.  Caller frees.
 */
static char *
config_clean_path(const char *path)
{
	char		*out, *copy, *part, *next;
	size_t		 len = 0, size;

	size = strlen(path) + 2;
	out = xmalloc(size);
	copy = xstrdup(path);
	for (part = copy; part != NULL; part = next) {
		if ((next = strchr(part, '/')) != NULL)
			*next++ = '\0';
		if (*part == '\0' || strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			continue;
		}
		len += xsnprintf(out + len, size - len, "/%s", part);
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	free(copy);
	return (out);
}

/* Make a path from the file absolute, relative to dir.  Caller frees. */
static char *
config_resolve(const char *dir, const char *value)
{
	char	*joined, *out;

	if (*value == '/')
		return (config_clean_path(value));
	joined = xasprintf("%s/%s", dir, value);
	out = config_clean_path(joined);
	free(joined);
	return (out);
}

/* What a libconfig setting is, for error messages. */
static const char *
config_found_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return ("a group");
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return ("an integer");
	case CONFIG_TYPE_FLOAT:
		return ("a float");
	case CONFIG_TYPE_STRING:
		return ("a string");
	case CONFIG_TYPE_BOOL:
		return ("a boolean");
	case CONFIG_TYPE_ARRAY:
		return ("an array");
	case CONFIG_TYPE_LIST:
		return ("a list");
	}
	return ("an unknown type");
}

/* What a schema entry wants, for error messages. */
static const char *
config_expected_name(const struct config_schema *e)
{
	switch (e->type) {
	case SCHEMA_GROUP:
		return ("a group");
	case SCHEMA_INT:
		return ("an integer");
	case SCHEMA_BOOL:
		return ("a boolean (true or false)");
	case SCHEMA_FLOAT:
		return ("a number");
	case SCHEMA_LIST:
		return ("a list of strings");
	case SCHEMA_MAP:
		return ("a group of strings");
	case SCHEMA_RECORDS:
		return ("a list of groups, ( { ... } )");
	default:
		return ("a string");
	}
}

/* Whether a libconfig setting has the type an entry wants. */
static int
config_type_ok(const struct config_schema *e, int type)
{
	switch (e->type) {
	case SCHEMA_GROUP:
		return (type == CONFIG_TYPE_GROUP);
	case SCHEMA_INT:
		return (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64);
	case SCHEMA_BOOL:
		return (type == CONFIG_TYPE_BOOL);
	case SCHEMA_FLOAT:
		return (type == CONFIG_TYPE_FLOAT || type == CONFIG_TYPE_INT ||
		    type == CONFIG_TYPE_INT64);
	case SCHEMA_LIST:
		return (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST);
	case SCHEMA_MAP:
		return (type == CONFIG_TYPE_GROUP);
	case SCHEMA_RECORDS:
		return (type == CONFIG_TYPE_LIST);
	default:
		return (type == CONFIG_TYPE_STRING);
	}
}

/* Check a string against an entry's choices; its index or -1. */
static int
config_choice(const struct config_schema *e, const char *s, char **why)
{
	char	*list = NULL, *tmp;
	int	 i;

	for (i = 0; e->choices[i] != NULL; i++) {
		if (strcmp(e->choices[i], s) == 0)
			return (i);
	}
	for (i = 0; e->choices[i] != NULL; i++) {
		if (list == NULL)
			tmp = xasprintf("%s", e->choices[i]);
		else
			tmp = xasprintf("%s, %s", list, e->choices[i]);
		free(list);
		list = tmp;
	}
	*why = xasprintf("\"%s\" is not one of %s", s, list);
	free(list);
	return (-1);
}

/*
 * Check a list of strings against its entry and store it in cfg.
 * Returns 0, or -1 with *why naming the item (caller frees).
 */
static int
config_apply_list(void *base, const struct config_schema *e,
    config_setting_t *s, const char *dir, char **why)
{
	struct config_list	 l = { NULL, 0 }, *field;
	config_setting_t	*item;
	const char		*str;
	char			*inner = NULL;
	int			 i, n;

	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		item = config_setting_get_elem(s, i);
		if (config_setting_type(item) != CONFIG_TYPE_STRING) {
			inner = xasprintf("expected a string, found %s",
			    config_found_name(config_setting_type(item)));
			goto bad;
		}
		str = config_setting_get_string(item);
		if (e->item == SCHEMA_ENUM &&
		    config_choice(e, str, &inner) == -1)
			goto bad;
		if (e->check != NULL && e->check(str, &inner) != 0)
			goto bad;
		if (e->item == SCHEMA_PATH) {
			if (*str == '\0') {
				inner = xstrdup("the path is empty");
				goto bad;
			}
			config_list_add(&l, config_resolve(dir, str));
		} else
			config_list_add(&l, xstrdup(str));
	}
	field = config_list_field(base, e);
	config_list_clear(field);
	*field = l;
	return (0);

bad:
	*why = xasprintf("item %d: %s", i + 1, inner);
	free(inner);
	config_list_clear(&l);
	return (-1);
}

/*
 * Check a group of strings against its entry and store it in cfg.
 * Returns 0, or -1 with *why naming the member (caller frees).
 */
static int
config_apply_map(void *base, const struct config_schema *e,
    config_setting_t *s, char **why)
{
	struct config_map	 m = { NULL, NULL, 0 }, *field;
	config_setting_t	*item;
	const char		*name, *str;
	char			*inner = NULL;
	int			 i, n;

	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		item = config_setting_get_elem(s, i);
		if ((name = config_setting_name(item)) == NULL)
			name = "?";
		if (config_setting_type(item) != CONFIG_TYPE_STRING) {
			*why = xasprintf("%s: expected a string, found %s",
			    name,
			    config_found_name(config_setting_type(item)));
			config_map_clear(&m);
			return (-1);
		}
		str = config_setting_get_string(item);
		if (e->check != NULL && e->check(str, &inner) != 0) {
			*why = xasprintf("%s: %s", name, inner);
			free(inner);
			config_map_clear(&m);
			return (-1);
		}
		m.keys = xreallocarray(m.keys, m.n + 1, sizeof *m.keys);
		m.values = xreallocarray(m.values, m.n + 1,
		    sizeof *m.values);
		m.keys[m.n] = xstrdup(name);
		m.values[m.n++] = xstrdup(str);
	}
	field = config_map_field(base, e);
	config_map_clear(field);
	*field = m;
	return (0);
}

/*
 * Check one setting against its entry and store it in base (cfg, or the
 * record a member belongs to).  Returns 0, or -1 with *why set (caller
 * frees).
 */
static int
config_apply(struct kefu_config *cfg, void *base,
    const struct config_schema *e, config_setting_t *s, const char *dir,
    char **why)
{
	const char	*str;
	char		**field, *host, *value;
	long long	 n;
	double		 d;
	int		 port, i;

	if (!config_type_ok(e, config_setting_type(s))) {
		*why = xasprintf("expected %s, found %s",
		    config_expected_name(e),
		    config_found_name(config_setting_type(s)));
		return (-1);
	}

	switch (e->type) {
	case SCHEMA_GROUP:
	case SCHEMA_RECORDS:
		return (0);
	case SCHEMA_INT:
		n = config_setting_get_int64(s);
		if (n < (long long)e->minimum) {
			*why = xasprintf("%lld is below the minimum %lld", n,
			    (long long)e->minimum);
			return (-1);
		}
		if (n > (long long)e->maximum) {
			*why = xasprintf("%lld is above the maximum %lld", n,
			    (long long)e->maximum);
			return (-1);
		}
		*config_int_field(base, e) = (int)n;
		return (0);
	case SCHEMA_BOOL:
		*config_int_field(base, e) = config_setting_get_bool(s) != 0;
		return (0);
	case SCHEMA_FLOAT:
		if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
			d = config_setting_get_float(s);
		else
			d = (double)config_setting_get_int64(s);
		if (!(d >= e->minimum)) {
			*why = xasprintf("%g is below the minimum %g", d,
			    e->minimum);
			return (-1);
		}
		if (!(d <= e->maximum)) {
			*why = xasprintf("%g is above the maximum %g", d,
			    e->maximum);
			return (-1);
		}
		*config_float_field(base, e) = d;
		return (0);
	case SCHEMA_CLOCK:
		str = config_setting_get_string(s);
		if ((i = config_parse_clock(str)) == -1) {
			*why = xasprintf("\"%s\" is not a time of day from "
			    "00:00 to 24:00", str);
			return (-1);
		}
		*config_int_field(base, e) = i;
		return (0);
	case SCHEMA_LIST:
		return (config_apply_list(base, e, s, dir, why));
	case SCHEMA_MAP:
		return (config_apply_map(base, e, s, why));
	default:
		break;
	}

	str = config_setting_get_string(s);
	if (e->maximum > 0 && strlen(str) > (size_t)e->maximum) {
		*why = xasprintf("longer than %lld characters",
		    (long long)e->maximum);
		return (-1);
	}
	if (e->check != NULL && e->check(str, why) != 0)
		return (-1);
	if (e->type == SCHEMA_CHOICE || e->type == SCHEMA_ENUM) {
		if ((i = config_choice(e, str, why)) == -1)
			return (-1);
		if (e->type == SCHEMA_CHOICE) {
			*config_int_field(base, e) = i;
			return (0);
		}
	}

	field = config_str_field(base, e);
	switch (e->type) {
	case SCHEMA_PATH:
		if (*str == '\0') {
			*why = xstrdup("the path is empty");
			return (-1);
		}
		value = config_resolve(dir, str);
		break;
	case SCHEMA_LISTEN:
		if (config_parse_listen(str, &host, &port, why) != 0)
			return (-1);
		free(cfg->http_host);
		cfg->http_host = host;
		cfg->http_port = port;
		value = xstrdup(str);
		break;
	default:
		if (e->secret && *str == '\0')
			value = NULL;
		else
			value = xstrdup(str);
		break;
	}
	free(*field);
	*field = value;
	return (0);
}

/*
 * The name of a file the config came from, for errors: libconfig records
 * an included file by its name relative to the include directory, which
 * is the directory of the main file.  Caller frees.
 */
static char *
config_file_name(const char *file, const char *path, const char *dir)
{
	if (file == NULL)
		return (xstrdup(path));
	if (strcmp(file, path) == 0 || *file == '/')
		return (xstrdup(file));
	return (xasprintf("%s/%s", dir, file));
}

/* "file:line: key" for a setting, for errors.  Caller frees. */
static char *
config_where(config_setting_t *s, const char *path, const char *dir,
    const char *key)
{
	char	*file, *where;

	file = config_file_name(config_setting_source_file(s), path, dir);
	where = xasprintf("%s:%u: %s", file,
	    (unsigned)config_setting_source_line(s), key);
	free(file);
	return (where);
}

static int	config_walk(struct kefu_config *, void *, config_setting_t *,
		    const char *, const char *, const char *, const char *,
		    char **);
static void	config_set_default(struct kefu_config *, void *,
		    const struct config_schema *);
static void	config_free_fields(void *, const struct config_schema *,
		    int);

/*
 * Whether the last record's first member (its name) repeats an earlier
 * record's: 0 if not, -1 with *why.
 */
static int
config_record_dup(const struct config_schema *r,
    const struct config_records *recs, char **why)
{
	const struct config_schema	*name = r + 1;
	char				*last, *other;
	size_t				 i;

	last = *config_str_field((char *)recs->v +
	    (recs->n - 1) * r->record_size, name);
	for (i = 0; i + 1 < recs->n; i++) {
		other = *config_str_field((char *)recs->v +
		    i * r->record_size, name);
		if (strcmp(last, other) == 0) {
			*why = xasprintf("\"%s\" is used by another entry",
			    last);
			return (-1);
		}
	}
	return (0);
}

/*
 * Read a list of groups into records: each group gets its members'
 * defaults, is walked like any group, must set the required members and
 * passes the record's own check.  Returns 0, or -1 with *cause set.
 */
static int
config_walk_records(struct kefu_config *cfg, const struct config_schema *r,
    config_setting_t *list, const char *path, const char *dir, char **cause)
{
	const struct config_schema	*e;
	struct config_records		*recs;
	config_setting_t		*g;
	char				*shown, *where, *why = NULL;
	void				*rec;
	int				 i, n;

	recs = (struct config_records *)((char *)cfg + r->offset);
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(list, i);
		shown = xasprintf("%s[%d]", r->key, i + 1);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			where = config_where(g, path, dir, shown);
			*cause = xasprintf("%s: expected a group, found %s",
			    where, config_found_name(config_setting_type(g)));
			free(where);
			free(shown);
			return (-1);
		}
		recs->v = xreallocarray(recs->v, recs->n + 1, r->record_size);
		rec = (char *)recs->v + recs->n * r->record_size;
		memset(rec, 0, r->record_size);
		recs->n++;
		for (e = r + 1; e->key != NULL && e->member; e++)
			config_set_default(cfg, rec, e);
		if (config_walk(cfg, rec, g, r->key, shown, path, dir,
		    cause) != 0) {
			free(shown);
			return (-1);
		}
		for (e = r + 1; e->key != NULL && e->member; e++) {
			if (e->required && config_setting_get_member(g,
			    config_leaf(e->key)) == NULL) {
				why = xasprintf("%s: required", config_leaf(
				    e->key));
				break;
			}
		}
		if (why == NULL && r->record_check != NULL)
			r->record_check(rec, &why);
		if (why == NULL && config_record_dup(r, recs, &why) != 0) {
			where = config_where(config_setting_get_member(g,
			    config_leaf(r[1].key)), path, dir, shown);
			*cause = xasprintf("%s.%s: %s", where,
			    config_leaf(r[1].key), why);
			free(where);
			free(why);
			free(shown);
			return (-1);
		}
		if (why != NULL) {
			where = config_where(g, path, dir, shown);
			*cause = xasprintf("%s: %s", where, why);
			free(where);
			free(why);
			free(shown);
			return (-1);
		}
		free(shown);
	}
	return (0);
}

/*
 * Check and apply every setting under a group, recursively, into base
 * (cfg, or a record).  prefix is the group's key for the schema, shown
 * the same as errors write it.  Returns 0, or -1 with *cause set (caller
 * frees).
 */
static int
config_walk(struct kefu_config *cfg, void *base, config_setting_t *group,
    const char *prefix, const char *shown, const char *path, const char *dir,
    char **cause)
{
	const struct config_schema	*e;
	config_setting_t		*s;
	const char			*name;
	char				*key, *show, *where, *why = NULL;
	int				 i, n, rc = 0, in_record;

	in_record = base != (void *)cfg;
	n = config_setting_length(group);
	for (i = 0; rc == 0 && i < n; i++) {
		s = config_setting_get_elem(group, i);
		if ((name = config_setting_name(s)) == NULL)
			name = "?";
		if (*prefix == '\0') {
			key = xstrdup(name);
			show = xstrdup(name);
		} else {
			key = xasprintf("%s.%s", prefix, name);
			show = xasprintf("%s.%s", shown, name);
		}

		if ((e = config_find(key)) == NULL || e->member != in_record) {
			why = xstrdup("unknown setting");
			rc = -1;
		} else if (config_apply(cfg, base, e, s, dir, &why) != 0)
			rc = -1;
		else if (e->type == SCHEMA_GROUP)
			rc = config_walk(cfg, base, s, key, show, path, dir,
			    cause);
		else if (e->type == SCHEMA_RECORDS)
			rc = config_walk_records(cfg, e, s, path, dir, cause);

		if (why != NULL) {
			where = config_where(s, path, dir, show);
			*cause = xasprintf("%s: %s", where, why);
			free(where);
			free(why);
			why = NULL;
		}
		free(show);
		free(key);
	}
	return (rc);
}

/* A numeric setting's value as a double, for the pair rules. */
static double
config_number(struct kefu_config *cfg, const struct config_schema *e)
{
	if (e->type == SCHEMA_FLOAT)
		return (*config_float_field(cfg, e));
	return (*config_int_field(cfg, e));
}

/* A number of a pair rule as the file writes it.  Caller frees. */
static char *
config_format_number(const struct config_schema *e, double v)
{
	int	m = (int)v;

	if (e->type == SCHEMA_CLOCK)
		return (xasprintf("%02d:%02d", m / 60, m % 60));
	return (xasprintf("%.15g", v));
}

/* Check the rules that involve two settings. */
static int
config_check_pairs(struct kefu_config *cfg, config_t *lc, const char *path,
    const char *dir, char **cause)
{
	const struct config_pair	*p;
	const struct config_schema	*e1, *e2;
	config_setting_t		*s;
	double				 v1, v2;
	char				*where, *s1, *s2;

	for (p = config_pairs; p->first != NULL; p++) {
		e1 = config_find(p->first);
		e2 = config_find(p->second);
		v1 = config_number(cfg, e1);
		v2 = config_number(cfg, e2);
		if (p->strict ? v1 < v2 : v1 <= v2)
			continue;

		/* Blame whichever of the two the file sets, first first. */
		s1 = config_format_number(e1, v1);
		s2 = config_format_number(e2, v2);
		if ((s = config_lookup(lc, p->first)) != NULL) {
			where = config_where(s, path, dir, p->first);
			*cause = xasprintf("%s: %s is %s %s (%s)", where, s1,
			    p->strict ? "not less than" : "greater than",
			    p->second, s2);
		} else {
			if ((s = config_lookup(lc, p->second)) != NULL)
				where = config_where(s, path, dir,
				    p->second);
			else
				where = xasprintf("%s: %s", path, p->second);
			*cause = xasprintf("%s: %s is %s %s (%s)", where, s2,
			    p->strict ? "not greater than" : "less than",
			    p->first, s1);
		}
		free(s1);
		free(s2);
		free(where);
		return (-1);
	}
	return (0);
}

/* Set one entry's default in base (cfg, or a record for a member). */
static void
config_set_default(struct kefu_config *cfg, void *base,
    const struct config_schema *e)
{
	char	*why = NULL;
	size_t	 i;

	switch (e->type) {
	case SCHEMA_GROUP:
	case SCHEMA_RECORDS:
	case SCHEMA_MAP:
		break;
	case SCHEMA_INT:
	case SCHEMA_BOOL:
	case SCHEMA_CHOICE:
	case SCHEMA_CLOCK:
		*config_int_field(base, e) = (int)e->default_num;
		break;
	case SCHEMA_FLOAT:
		*config_float_field(base, e) = e->default_float;
		break;
	case SCHEMA_LIST:
		for (i = 0; e->default_list[i] != NULL; i++) {
			config_list_add(config_list_field(base, e),
			    xstrdup(e->default_list[i]));
		}
		break;
	case SCHEMA_LISTEN:
		if (config_parse_listen(e->default_str, &cfg->http_host,
		    &cfg->http_port, &why) != 0)
			abort();	/* the table is wrong */
		/* FALLTHROUGH */
	default:
		if (e->secret && *e->default_str == '\0')
			break;
		*config_str_field(base, e) = config_default_str(e);
		break;
	}
}

/* A config with every default, as if from an empty file. */
struct kefu_config *
config_default(void)
{
	const struct config_schema	*e;
	struct kefu_config		*cfg;

	cfg = xcalloc(1, sizeof *cfg);
	for (e = config_schema; e->key != NULL; e++) {
		if (!e->member)
			config_set_default(cfg, cfg, e);
	}
	return (cfg);
}

/*
 * Free the strings, lists and maps of base: the top-level entries
 * (members 0) or one record's (members 1, from the record's first member).
 */
static void
config_free_fields(void *base, const struct config_schema *e, int members)
{
	for (; e->key != NULL; e++) {
		if (e->member != members) {
			if (members)
				break;
			continue;
		}
		if (config_is_string(e))
			free(*config_str_field(base, e));
		else if (e->type == SCHEMA_LIST)
			config_list_clear(config_list_field(base, e));
		else if (e->type == SCHEMA_MAP)
			config_map_clear(config_map_field(base, e));
	}
}

/* Free a config and every string in it. */
void
config_free(struct kefu_config *cfg)
{
	const struct config_schema	*e;
	struct config_records		*recs;
	size_t				 i;

	if (cfg == NULL)
		return;
	config_free_fields(cfg, config_schema, 0);
	for (e = config_schema; e->key != NULL; e++) {
		if (e->type != SCHEMA_RECORDS)
			continue;
		recs = (struct config_records *)((char *)cfg + e->offset);
		for (i = 0; i < recs->n; i++) {
			config_free_fields((char *)recs->v +
			    i * e->record_size, e + 1, 1);
		}
		free(recs->v);
	}
	free(cfg->http_host);
	free(cfg->path);
	free(cfg);
}

/* The real directory a file is in, or NULL with *cause set. */
static char *
config_dir_of(const char *path, char **cause)
{
	const char	*slash;
	char		*dir, *real;

	if ((slash = strrchr(path, '/')) == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, slash - path);
	if ((real = realpath(dir, NULL)) == NULL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		free(dir);
		return (NULL);
	}
	free(dir);
	return (real);
}

/* Read and validate a configuration file. */
struct kefu_config *
config_load(const char *path, char **cause)
{
	struct kefu_config	*cfg;
	config_t		 lc;
	FILE			*f;
	struct stat		 sb;
	char			*dir, *file;

	/* libconfig says only "file I/O error": open it first for errno. */
	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		*cause = xasprintf("%s: %s", path, strerror(EISDIR));
		fclose(f);
		return (NULL);
	}
	fclose(f);
	if ((dir = config_dir_of(path, cause)) == NULL)
		return (NULL);

	config_init(&lc);
	config_set_include_dir(&lc, dir);
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		file = config_file_name(config_error_file(&lc), path, dir);
		*cause = xasprintf("%s:%d: %s", file, config_error_line(&lc),
		    config_error_text(&lc));
		free(file);
		config_destroy(&lc);
		free(dir);
		return (NULL);
	}

	cfg = config_default();
	cfg->path = xstrdup(path);
	if (config_walk(cfg, cfg, config_root_setting(&lc), "", "", path,
	    dir, cause) != 0 ||
	    config_check_pairs(cfg, &lc, path, dir, cause) != 0) {
		config_free(cfg);
		cfg = NULL;
	}
	config_destroy(&lc);
	free(dir);
	return (cfg);
}

/* Write a string in libconfig syntax, quoted and escaped. */
static void
config_put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Write a float so libconfig reads it back as a float. */
static void
config_put_float(FILE *f, double d)
{
	char	buf[64];

	xsnprintf(buf, sizeof buf, "%g", d);
	fputs(buf, f);
	if (strpbrk(buf, ".e") == NULL)
		fputs(".0", f);
}

/*
 * Write an entry's default as it would appear in the file.  Defaults under
 * the data directory are written as DATADIR/..., since the real directory
 * depends on how kefu was built.
 */
static void
config_put_default(FILE *f, const struct config_schema *e)
{
	char	*s;
	size_t	 i;

	switch (e->type) {
	case SCHEMA_GROUP:
		break;
	case SCHEMA_RECORDS:
		fputs("( )", f);
		break;
	case SCHEMA_INT:
		fprintf(f, "%lld", e->default_num);
		break;
	case SCHEMA_BOOL:
		fputs(e->default_num ? "true" : "false", f);
		break;
	case SCHEMA_FLOAT:
		config_put_float(f, e->default_float);
		break;
	case SCHEMA_CHOICE:
		config_put_quoted(f, e->choices[e->default_num]);
		break;
	case SCHEMA_CLOCK:
		s = xasprintf("%02lld:%02lld", e->default_num / 60,
		    e->default_num % 60);
		config_put_quoted(f, s);
		free(s);
		break;
	case SCHEMA_LIST:
		fputs("[", f);
		for (i = 0; e->default_list[i] != NULL; i++) {
			fputs(i > 0 ? ", " : " ", f);
			config_put_quoted(f, e->default_list[i]);
		}
		fputs(" ]", f);
		break;
	case SCHEMA_MAP:
		fputs("{ }", f);
		break;
	default:
		if (e->default_datadir) {
			s = xasprintf("DATADIR%s", e->default_str);
			config_put_quoted(f, s);
			free(s);
		} else
			config_put_quoted(f, e->default_str);
		break;
	}
}

/* Write the allowed values of an enum, each quoted, separated by commas. */
static void
config_put_choices(FILE *f, const struct config_schema *e, const char *sep,
    const char *last)
{
	int	i;

	for (i = 0; e->choices[i] != NULL; i++) {
		if (i > 0)
			fputs(e->choices[i + 1] == NULL ? last : sep, f);
		config_put_quoted(f, e->choices[i]);
	}
}

/* Write what values an entry takes: "An integer from 1 to 10 (s)". */
static void
config_put_kind(FILE *f, const struct config_schema *e)
{
	switch (e->type) {
	case SCHEMA_GROUP:
	case SCHEMA_RECORDS:
		break;
	case SCHEMA_STRING:
		if (e->maximum > 0)
			fprintf(f, "A string of at most %lld characters",
			    (long long)e->maximum);
		else
			fputs("A string", f);
		break;
	case SCHEMA_PATH:
		fputs("A path", f);
		break;
	case SCHEMA_LISTEN:
		fputs("An address and port", f);
		break;
	case SCHEMA_INT:
		fprintf(f, "An integer from %lld to %lld",
		    (long long)e->minimum, (long long)e->maximum);
		break;
	case SCHEMA_BOOL:
		fputs("A boolean, true or false", f);
		break;
	case SCHEMA_FLOAT:
		fputs("A number from ", f);
		config_put_float(f, e->minimum);
		fputs(" to ", f);
		config_put_float(f, e->maximum);
		break;
	case SCHEMA_ENUM:
	case SCHEMA_CHOICE:
		fputs("One of ", f);
		config_put_choices(f, e, ", ", " or ");
		break;
	case SCHEMA_CLOCK:
		fputs("A time of day, \"HH:MM\" from \"00:00\" to \"24:00\"",
		    f);
		break;
	case SCHEMA_LIST:
		if (e->item == SCHEMA_ENUM) {
			fputs("A list of any of ", f);
			config_put_choices(f, e, ", ", " and ");
		} else if (e->item == SCHEMA_PATH)
			fputs("A list of paths", f);
		else
			fputs("A list of strings", f);
		break;
	case SCHEMA_MAP:
		fputs("A group of strings, name = \"value\"", f);
		break;
	}
	if (e->unit != NULL)
		fprintf(f, " (%s)", e->unit);
}

/* Write text as "# " comment lines wrapped at 76 columns, indented. */
static void
config_put_comment(FILE *f, int indent, const char *text)
{
	const char	*p, *word;
	size_t		 col, len;
	int		 i, start;

	p = text;
	while (*p != '\0') {
		for (i = 0; i < indent; i++)
			fputc('\t', f);
		fputs("#", f);
		col = indent * 8 + 1;
		start = 1;
		while (*p != '\0') {
			while (*p == ' ')
				p++;
			word = p;
			while (*p != '\0' && *p != ' ')
				p++;
			len = p - word;
			if (len == 0)
				break;
			if (!start && col + 1 + len > 76) {
				p = word;
				break;
			}
			fprintf(f, " %.*s", (int)len, word);
			col += 1 + len;
			start = 0;
		}
		fputc('\n', f);
	}
}

/* The kind, range and default of an entry as one line of text. */
static char *
config_describe(const struct config_schema *e)
{
	char	*buf = NULL;
	size_t	 size = 0;
	FILE	*f;

	if ((f = open_memstream(&buf, &size)) == NULL)
		abort();
	config_put_kind(f, e);
	fputs("; default ", f);
	config_put_default(f, e);
	fputs(".", f);
	fclose(f);
	return (buf);
}

/* Write depth tabs. */
static void
config_put_indent(FILE *f, int depth)
{
	while (depth-- > 0)
		fputc('\t', f);
}

/* Whether e is a direct member of the group g. */
static int
config_in_group(const struct config_schema *e, const struct config_schema *g)
{
	size_t	len = strlen(g->key);

	return (strncmp(e->key, g->key, len) == 0 && e->key[len] == '.' &&
	    config_depth(e->key) == config_depth(g->key) + 1);
}

/* Write one setting of the example file, commented. */
static void
config_write_setting(FILE *f, const struct config_schema *e)
{
	int	 depth = config_depth(e->key);
	char	*desc;

	config_put_comment(f, depth, e->help);
	desc = config_describe(e);
	config_put_comment(f, depth, desc);
	free(desc);
	config_put_indent(f, depth);
	if (e->example != NULL) {
		fprintf(f, "%s = ", config_leaf(e->key));
		if (config_is_string(e) || e->type == SCHEMA_CHOICE ||
		    e->type == SCHEMA_CLOCK)
			config_put_quoted(f, e->example);
		else
			fputs(e->example, f);
	} else {
		fprintf(f, "# %s = ", config_leaf(e->key));
		config_put_default(f, e);
	}
	fputs(";\n", f);
}

/*
 * Write a list of records, commented out: one record with every member
 * showing its default.
 */
static void
config_write_records(FILE *f, const struct config_schema *r)
{
	const struct config_schema	*e;
	int				 depth = config_depth(r->key);
	char				*desc;

	config_put_comment(f, depth, r->help);
	config_put_indent(f, depth);
	fprintf(f, "# %s = ( {\n", config_leaf(r->key));
	for (e = r + 1; e->key != NULL && e->member; e++) {
		if (e != r + 1)
			fputc('\n', f);
		config_put_comment(f, depth + 1, e->help);
		desc = config_describe(e);
		config_put_comment(f, depth + 1, desc);
		free(desc);
		config_put_indent(f, depth);
		fprintf(f, "#\t%s = ", config_leaf(e->key));
		config_put_default(f, e);
		fputs(";\n", f);
	}
	config_put_indent(f, depth);
	fputs("# } );\n", f);
}

/* Write one group of the example file and everything in it. */
static void
config_write_group(FILE *f, const struct config_schema *g)
{
	const struct config_schema	*e;
	int				 depth = config_depth(g->key);
	int				 first = 1;

	config_put_comment(f, depth, g->help);
	config_put_indent(f, depth);
	fprintf(f, "%s = {\n", config_leaf(g->key));
	for (e = g + 1; e->key != NULL; e++) {
		if (!config_in_group(e, g))
			continue;
		if (!first)
			fputc('\n', f);
		first = 0;
		if (e->type == SCHEMA_GROUP)
			config_write_group(f, e);
		else if (e->type == SCHEMA_RECORDS)
			config_write_records(f, e);
		else
			config_write_setting(f, e);
	}
	config_put_indent(f, depth);
	fputs("};\n", f);
}

/* Write the commented example config (etc/kefu.conf) from the schema. */
void
config_write_example(FILE *f)
{
	const struct config_schema	*e;

	fputs("# kefu.conf: the configuration of kefud(8) and kefuctl(1).\n"
	    "#\n"
	    "# Generated from the schema table in src/config.c, which also "
	    "writes\n"
	    "# kefu.conf(5); do not edit by hand, run\n"
	    "# KEFU_REGEN=1 tests/unit/test_config instead.\n"
	    "#\n"
	    "# The syntax is libconfig's: \"key = value;\", groups in braces, "
	    "strings in\n"
	    "# double quotes.  Every setting is optional.  Settings that "
	    "are commented\n"
	    "# out show their default; the active ones make a demo that "
	    "runs from the\n"
	    "# source tree: kefud -c etc/kefu.conf.  Relative paths are "
	    "resolved\n"
	    "# against the directory of this file.  DATADIR is where kefu's "
	    "data is\n"
	    "# installed, such as /usr/local/share/kefu.\n", f);
	for (e = config_schema; e->key != NULL; e++) {
		if (e->type == SCHEMA_GROUP && config_depth(e->key) == 0) {
			fputc('\n', f);
			config_write_group(f, e);
		}
	}
}

/* Write text for man(7), escaping backslashes and leading dots. */
static void
config_man_text(FILE *f, const char *s, int literal)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-' && literal)
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

/* Write the kefu.conf(5) man page from the schema. */
void
config_write_man(FILE *f)
{
	const struct config_schema	*e;
	char				*buf = NULL;
	size_t				 size = 0;
	FILE				*m;

	fputs(".\\\" kefu.conf(5): generated from the schema table in "
	    "src/config.c.\n"
	    ".\\\" Do not edit; run KEFU_REGEN=1 tests/unit/test_config "
	    "instead.\n", f);
	fprintf(f, ".TH KEFU.CONF 5 %s kefu \"File Formats Manual\"\n",
	    CONFIG_MAN_DATE);
	fputs(".SH NAME\n"
	    "kefu.conf \\- configuration file of the kefu messaging "
	    "gateway\n"
	    ".SH SYNOPSIS\n"
	    ".I /etc/kefu/kefu.conf\n"
	    ".SH DESCRIPTION\n"
	    ".BR kefud (8)\n"
	    "and\n"
	    ".BR kefuctl (1)\n"
	    "read their settings from one file in libconfig syntax:\n"
	    ".B key = value;\n"
	    "settings in groups written\n"
	    ".BR \"name = { ... };\" ,\n"
	    "strings in double quotes, comments after\n"
	    ".BR # .\n"
	    "Every setting is optional and has a default.\n"
	    "Below, each setting is named by its dotted path:\n"
	    ".B channels.websocket.max_frame\n"
	    "is\n"
	    ".B max_frame\n"
	    "inside the group\n"
	    ".B websocket\n"
	    "inside the group\n"
	    ".BR channels .\n"
	    ".PP\n"
	    "The whole file is checked when it is read.\n"
	    "An unknown setting, a value of the wrong type, a number out "
	    "of range or a\n"
	    "word that is not one of the allowed values is an error that "
	    "names the file,\n"
	    "the line and the setting, and kefu does not start:\n"
	    ".PP\n"
	    ".RS\n"
	    ".nf\n"
	    "kefu.conf:7: channels.websocket.max_frame: 10 is below the "
	    "minimum 128\n"
	    ".fi\n"
	    ".RE\n"
	    ".PP\n"
	    "Use\n"
	    ".B kefud \\-\\-check\\-config\n"
	    "to check a file without starting the daemon.\n"
	    ".PP\n"
	    "A relative path is resolved against the directory the "
	    "configuration file\n"
	    "is in.\n"
	    ".I DATADIR\n"
	    "in a default stands for the directory where kefu's data "
	    "files are installed,\n"
	    "such as\n"
	    ".IR /usr/local/share/kefu .\n"
	    ".SH SETTINGS\n", f);

	for (e = config_schema; e->key != NULL; e++) {
		if (e->type == SCHEMA_GROUP || e->type == SCHEMA_RECORDS) {
			fputs(".SS ", f);
			config_man_text(f, e->key, 1);
			fputs("\n", f);
			config_man_text(f, e->help, 0);
			fputs("\n", f);
			continue;
		}
		fputs(".TP\n.B ", f);
		config_man_text(f, e->key, 1);
		fputs("\n", f);
		config_man_text(f, e->help, 0);
		fputs("\n", f);

		if ((m = open_memstream(&buf, &size)) == NULL)
			abort();
		config_put_kind(m, e);
		fclose(m);
		config_man_text(f, buf, 1);
		free(buf);
		buf = NULL;
		if ((config_is_string(e) && e->type != SCHEMA_ENUM &&
		    *e->default_str == '\0') || e->type == SCHEMA_MAP ||
		    (e->type == SCHEMA_LIST && e->default_list[0] == NULL)) {
			fputs("; the default is empty.\n", f);
			continue;
		}
		fputs("; the default is \\fB", f);
		if ((m = open_memstream(&buf, &size)) == NULL)
			abort();
		config_put_default(m, e);
		fclose(m);
		config_man_text(f, buf, 1);
		fputs("\\fR.\n", f);
		free(buf);
		buf = NULL;
	}

	fputs(".SH FILES\n"
	    ".TP\n"
	    ".I /etc/kefu/kefu.conf\n"
	    "The configuration file read by default; the\n"
	    ".B \\-c\n"
	    "option of\n"
	    ".BR kefud (8)\n"
	    "and\n"
	    ".BR kefuctl (1)\n"
	    "names another.\n"
	    "The example etc/kefu.conf in kefu's source tree lists every "
	    "setting with its\n"
	    "default.\n"
	    ".SH EXAMPLES\n"
	    "Listen on every IPv4 address, log the debug lines of the "
	    "store and turn\n"
	    "signed customer identity on:\n"
	    ".PP\n"
	    ".RS\n"
	    ".nf\n"
	    "http = {\n"
	    "    listen = \"0.0.0.0:8080\";\n"
	    "};\n"
	    "log = {\n"
	    "    debug = \"store\";\n"
	    "};\n"
	    "channels = {\n"
	    "    websocket = {\n"
	    "        identity_secret = \"a long random string\";\n"
	    "    };\n"
	    "};\n"
	    ".fi\n"
	    ".RE\n"
	    ".SH SEE ALSO\n"
	    ".BR kefuctl (1),\n"
	    ".BR kefud (8)\n", f);
}
