/*
 * kefuctl: the administration tool.  It reads the same configuration as
 * kefud and works on the store directly (SQLite allows it alongside a
 * running kefud).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "kefuctl.h"
#include "log.h"
#include "message.h"
#include "store.h"
#include "xmalloc.h"

#ifndef KEFU_SYSCONFDIR
#define KEFU_SYSCONFDIR "/etc/kefu"
#endif

struct kefuctl_cmd {
	const char	*name;
	const char	*args;
	const char	*help;
	int		(*fn)(struct kefu_config *, int, char **);
};

static const struct kefuctl_cmd	*kefuctl_find(const char *);

static void
kefuctl_usage(FILE *f)
{
	fprintf(f,
	    "usage: kefuctl [-c file] command [args]\n"
	    "  -c, --config FILE  configuration file (default %s/kefu.conf,\n"
	    "                     or $KEFU_CONFIG)\n"
	    "commands:\n"
	    "  init                     create or migrate the database\n"
	    "  conversations [--limit N] list the newest conversations\n"
	    "  show ID                  print a conversation's transcript\n"
	    "  nlu import|classify|test the intent model's examples\n"
	    "  kb import|search         the knowledge base\n"
	    "  orders import|show       the demo's order table\n"
	    "  telegram set-webhook|delete-webhook|info  a Telegram bot\n"
	    "  queue [list]|retry|drop  the inbound queue\n"
	    "  agent add|set|list|passwd|disable|enable|unlock  inbox agents\n"
	    "  token add|list|revoke    API tokens for integrations\n"
	    "  help [command]           help for a command\n"
	    "Every command takes --help.\n", KEFU_SYSCONFDIR);
}

/* Open the configured store, printing the error; 0 or -1. */
int
kefuctl_open(struct kefu_config *cfg, struct store **sp)
{
	char	*cause = NULL;

	if (store_open(cfg->store_path, cfg->store_synchronous_full,
	    cfg->store_busy_timeout_ms, sp, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s: %s\n", cfg->store_path, cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Import files one by one with fn, then commit; the exit status. */
int
kefuctl_import(struct kefu_config *cfg, struct store *s, int nfiles,
    char **files, int (*fn)(struct store *, const char *, char **),
    const char *noun)
{
	char	*cause = NULL;
	int	 i, n, rc = 0;

	for (i = 0; i < nfiles; i++) {
		if ((n = fn(s, files[i], &cause)) < 0) {
			fprintf(stderr, "kefuctl: %s\n", cause);
			free(cause);
			cause = NULL;
			rc = 1;
			continue;
		}
		printf("%s: %d %s\n", files[i], n, noun);
	}
	if (store_commit(s, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s: %s\n", cfg->store_path, cause);
		free(cause);
		rc = 1;
	}
	return (rc);
}

/* Format a time for a listing, to the second; "-" for none. */
void
kefuctl_time(int64_t ms, char *buf, size_t len)
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;

	if (ms <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
kefuctl_init(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;

	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	printf("%s: schema version %d\n", cfg->store_path,
	    store_schema_version(s));
	store_close(s);
	return (0);
}

static int
kefuctl_print_conv(void *arg, const struct conversation *c)
{
	char	when[32];

	kefuctl_time(c->updated_at, when, sizeof when);
	printf("%-8lld %-10s %-9s %-6s %-19s %s\n", (long long)c->id,
	    c->channel, c->status, c->lang != NULL ? c->lang : "-", when,
	    c->handoff_reason != NULL ? c->handoff_reason : "");
	return (0);
}

static int
kefuctl_conversations(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	long		 limit = 50;
	char		*end;
	int		 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			limit = strtol(argv[++i], &end, 10);
			if (*end != '\0' || limit <= 0 || limit > 100000) {
				fprintf(stderr, "kefuctl: bad --limit: %s\n",
				    argv[i]);
				return (1);
			}
		} else {
			fprintf(stderr, "usage: kefuctl conversations "
			    "[--limit N]\n");
			return (1);
		}
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	printf("%-8s %-10s %-9s %-6s %-19s %s\n", "ID", "CHANNEL", "STATUS",
	    "LANG", "UPDATED", "HANDOFF");
	i = store_conversation_list(s, (int)limit, kefuctl_print_conv, NULL);
	store_close(s);
	return (i == 0 ? 0 : 1);
}

static int
kefuctl_print_msg(void *arg, const struct message *m)
{
	char	when[32];
	size_t	i;

	kefuctl_time(m->created_at, when, sizeof when);
	printf("[%s] %-8s", when, msg_author_name(m->author));
	if (m->seq > 0)
		printf(" #%lld", (long long)m->seq);
	printf(": %s", m->text != NULL ? m->text : "");
	if (m->value != NULL)
		printf(" [%s]", m->value);
	if (m->direction == MSG_OUT && m->status != NULL)
		printf("  (%s%s%s)", m->status,
		    m->status_reason != NULL ? ": " : "",
		    m->status_reason != NULL ? m->status_reason : "");
	printf("\n");
	for (i = 0; i < m->nbuttons; i++)
		printf("%31s [%s] %s\n", "", m->buttons[i].value,
		    m->buttons[i].title);
	return (0);
}

static int
kefuctl_show(struct kefu_config *cfg, int argc, char **argv)
{
	struct store		*s;
	struct conversation	 c;
	long long		 id;
	char			*end;
	int			 r;

	if (argc != 2) {
		fprintf(stderr, "usage: kefuctl show ID\n");
		return (1);
	}
	id = strtoll(argv[1], &end, 10);
	if (*end != '\0' || id <= 0) {
		fprintf(stderr, "kefuctl: bad conversation id: %s\n", argv[1]);
		return (1);
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	memset(&c, 0, sizeof c);
	if ((r = store_conversation_get(s, id, &c)) != 1) {
		fprintf(stderr, "kefuctl: conversation %lld %s\n", id,
		    r == 0 ? "not found" : "could not be read");
		store_close(s);
		return (1);
	}
	printf("conversation %lld  channel %s  status %s  lang %s%s%s\n",
	    id, c.channel, c.status, c.lang != NULL ? c.lang : "-",
	    c.handoff_reason != NULL ? "  handoff " : "",
	    c.handoff_reason != NULL ? c.handoff_reason : "");
	r = store_message_by_conversation(s, id, kefuctl_print_msg, NULL);
	conversation_clear(&c);
	store_close(s);
	return (r == 0 ? 0 : 1);
}

static int
kefuctl_help(struct kefu_config *cfg, int argc, char **argv)
{
	const struct kefuctl_cmd	*cmd;

	if (argc < 2) {
		kefuctl_usage(stdout);
		return (0);
	}
	if ((cmd = kefuctl_find(argv[1])) == NULL) {
		fprintf(stderr, "kefuctl: unknown command: %s\n", argv[1]);
		return (1);
	}
	printf("usage: kefuctl %s%s%s\n%s\n", cmd->name, *cmd->args ? " " : "",
	    cmd->args, cmd->help);
	return (0);
}

static const struct kefuctl_cmd kefuctl_cmds[] = {
	{ "init", "", "Create the database, or migrate it to the current "
	  "schema.", kefuctl_init },
	{ "conversations", "[--limit N]", "List the newest conversations "
	  "(default 50): id, channel, status, language, last update, "
	  "handoff reason.", kefuctl_conversations },
	{ "show", "ID", "Print one conversation's transcript: every message "
	  "with its author, time, sequence number and delivery status.",
	  kefuctl_show },
	{ "nlu", "import [--replace] FILE.csv | classify | test FILE.csv",
	  "Manage the intent model's training examples: import a CSV "
	  "(text,intent[,lang]), classify utterances from stdin (one JSON "
	  "object per line), or report accuracy, macro-F1 and the most "
	  "confused intents on a labelled CSV.", kefuctl_nlu },
	{ "kb", "import FILE | search QUERY", "Import a knowledge-base file "
	  "(CSV question,answer[,intent][,lang][,tags] or Markdown \"## "
	  "question\" sections; re-importing replaces the file's entries), "
	  "or show the ranked matches for a query.", kefuctl_kb },
	{ "orders", "import FILE.csv | show ORDER_ID", "Manage the built-in "
	  "order table that serves the demo's order-status action.",
	  kefuctl_orders },
	{ "telegram", "set-webhook NAME | delete-webhook NAME | info NAME",
	  "Register the bot NAME's webhook with Telegram (its webhook_url, "
	  "webhook_secret and allowed_updates), delete it (so polling works "
	  "again), or show what Telegram reports about the bot and its "
	  "webhook.", kefuctl_telegram },
	{ "queue", "[list] | retry ID|all | drop ID", "Show what waits in "
	  "the inbound queue by channel and bot, and the items set aside "
	  "after their turn failed three times (never their contents); put "
	  "them back in line, or drop one.  kefud takes retried items after "
	  "a reload (SIGHUP) or a restart.", kefuctl_queue },
	{ "agent", "add NAME --role admin|agent [--display-name TEXT] "
	  "[--max-open N] | set NAME [--role R] [--display-name TEXT] "
	  "[--max-open N] | list | passwd NAME | disable NAME | enable NAME "
	  "| unlock NAME", "Manage the inbox's agents.  add and passwd read "
	  "the password from standard input (one line), or ask for it twice "
	  "on a terminal; it is never taken from the command line.  "
	  "passwd and disable end the agent's sessions; unlock forgets "
	  "failed logins for the name; max-open caps the conversations "
	  "round-robin gives the agent (default 5).",
	  kefuctl_agent },
	{ "token", "add NAME --agent AGENT | list | revoke NAME", "Manage "
	  "API tokens for integrations: add prints a new token acting as "
	  "AGENT, once (only its hash is kept); list shows them with their "
	  "last use; revoke stops one working.", kefuctl_token },
	{ "help", "[command]", "Show help for kefuctl or one command.",
	  kefuctl_help },
};

static const struct kefuctl_cmd *
kefuctl_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof kefuctl_cmds / sizeof kefuctl_cmds[0]; i++) {
		if (strcmp(kefuctl_cmds[i].name, name) == 0)
			return (&kefuctl_cmds[i]);
	}
	return (NULL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct kefuctl_cmd	*cmd;
	struct kefu_config		*cfg;
	const char			*path = getenv("KEFU_CONFIG");
	char				*cause = NULL, *hargv[2];
	int				 ch, i, r;

	if (path == NULL)
		path = KEFU_SYSCONFDIR "/kefu.conf";
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			kefuctl_usage(stdout);
			return (0);
		default:
			kefuctl_usage(stderr);
			return (1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		kefuctl_usage(stderr);
		return (1);
	}
	if ((cmd = kefuctl_find(argv[0])) == NULL) {
		fprintf(stderr, "kefuctl: unknown command: %s\n", argv[0]);
		kefuctl_usage(stderr);
		return (1);
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			hargv[0] = (char *)"help";
			hargv[1] = argv[0];
			return (kefuctl_help(NULL, 2, hargv));
		}
	}
	if (cmd->fn == kefuctl_help)
		return (kefuctl_help(NULL, argc, argv));
	log_set_level("warn");
	if ((cfg = config_load(path, &cause)) == NULL) {
		fprintf(stderr, "kefuctl: %s\n", cause);
		free(cause);
		return (1);
	}
	r = cmd->fn(cfg, argc, argv);
	config_free(cfg);
	return (r);
}
