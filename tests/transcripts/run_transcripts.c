/*
 * Replay the conversations in the .txt files of tests/transcripts through
 * the engine.
 *
 * Each file is a conversation written the way it reads (docs/engine.md has
 * the full format):
 *
 *	# refund question in Chinese
 *	> 你好，我想退货		the customer writes
 *	< /申请退货/			the next reply must match this regex
 *	< buttons: 是的 | 不是		...and offer exactly these buttons
 *	> [yes]				the customer presses the button "yes"
 *	= status resolved		the conversation's status is now this
 *	@+2h				two hours pass
 *
 * The engine runs with the real templates and the demo FAQ from
 * $top_srcdir, no network and a fake clock.  Every reply must be checked
 * by a "<" line before the next event: a transcript says everything the
 * bot said.  One "ok" or "not ok" line is printed per file (TAP), with the
 * failing line and what the bot actually replied; the exit status is 1 if
 * any file failed.  "run_transcripts -v [file...]" also prints every
 * event's replies, and -n prints them without insisting that "<" lines
 * check them all: both help when writing a new transcript.
 */
#include <sys/types.h>

#include <dirent.h>
#include <locale.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "xmalloc.h"

#define START_MS	INT64_C(1709283600000)	/* 2024-03-01 09:00 UTC */
#define STEP_MS		5000			/* between two events */

static int	verbose;	/* -v: print every event's replies */
static int	dry_run;	/* -n: do not insist on checking replies */

struct run {
	const char		*top;
	const char		*file;
	size_t			 line;
	size_t			 event_line;	/* line of the last event */
	char			*error;		/* why it failed, or NULL */

	struct engine_config	 cfg;
	char			*default_lang;
	struct engine		*engine;
	int64_t			 conversation_id;
	char			*channel;
	char			*name;
	int64_t			 now;

	char			*state;
	struct engine_result	 res;
	int			 have_res;
	size_t			 next;		/* next reply to check */
	size_t			 checked;	/* the reply "<" matched last */
};

/* Record the first failure of a transcript. */
static void __attribute__((format(printf, 2, 3)))
fail(struct run *r, const char *fmt, ...)
{
	va_list	ap;
	char	*msg;

	if (r->error != NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->error = xasprintf("%s:%zu: %s", r->file, r->line, msg);
	free(msg);
}

/* Strip white space from both ends, in place. */
static char *
trim(char *s)
{
	size_t	len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		s[--len] = '\0';
	return (s);
}

/* Create the engine on the first event, after any "! config" lines. */
static int
ensure_engine(struct run *r)
{
	char	*cause;

	if (r->engine != NULL)
		return (0);
	r->cfg.default_lang = r->default_lang;
	if ((r->engine = engine_new(&r->cfg, &cause)) == NULL) {
		fail(r, "engine_new: %s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Fail if the last event's replies were not all checked. */
static void
check_all_seen(struct run *r)
{
	if (!dry_run && r->have_res && r->next < r->res.nreplies)
		fail(r, "reply %zu not checked: \"%s\"", r->next + 1,
		    r->res.replies[r->next].text);
}

/* Whether the last replies offered a button with this value. */
static int
offered(struct run *r, const char *value)
{
	size_t	i, j;

	if (!r->have_res)
		return (0);
	for (i = 0; i < r->res.nreplies; i++) {
		for (j = 0; j < r->res.replies[i].nbuttons; j++) {
			if (strcmp(r->res.replies[i].buttons[j].value,
			    value) == 0)
				return (1);
		}
	}
	return (0);
}

/* Print the last replies, for a failure report. */
static void
print_replies(struct run *r)
{
	struct engine_reply	*reply;
	size_t			 i, j;

	if (!r->have_res) {
		printf("#   (no event yet)\n");
		return;
	}
	printf("# event at line %zu: status %s, lang %s, intent %s, "
	    "confidence %.3f\n",
	    r->event_line, r->res.status, r->res.lang,
	    r->res.intent != NULL ? r->res.intent : "none",
	    r->res.confidence);
	printf("#   state %s\n", r->state);
	if (r->res.nreplies == 0)
		printf("#   (no replies)\n");
	for (i = 0; i < r->res.nreplies; i++) {
		reply = &r->res.replies[i];
		printf("#   < %s\n", reply->text);
		for (j = 0; j < reply->nbuttons; j++)
			printf("#     [%s] %s\n", reply->buttons[j].value,
			    reply->buttons[j].title);
	}
}

/* Run one event through the engine. */
static void
step(struct run *r, enum engine_event_type type, const char *text,
    const char *value)
{
	struct engine_event	 ev;
	struct engine_result	 res;
	char			*cause;

	check_all_seen(r);
	if (r->error != NULL || ensure_engine(r) != 0)
		return;
	memset(&ev, 0, sizeof ev);
	ev.type = type;
	r->now += STEP_MS;
	ev.now = r->now;
	ev.channel = r->channel;
	ev.text = text;
	ev.value = value;
	ev.customer_name = r->name;
	ev.conversation_id = r->conversation_id;
	if (engine_step(r->engine, r->state, &ev, &res, &cause) != 0) {
		fail(r, "engine_step: %s", cause);
		free(cause);
		return;
	}
	engine_result_clear(&r->res);
	r->res = res;
	r->have_res = 1;
	r->event_line = r->line;
	r->next = 0;
	r->checked = SIZE_MAX;
	free(r->state);
	r->state = xstrdup(res.state);
	if (verbose)
		print_replies(r);
}

/* "> text" or "> [value]": the customer writes or presses a button. */
static void
do_customer(struct run *r, char *arg)
{
	size_t	len = strlen(arg);
	char	*value;

	if (len >= 2 && arg[0] == '[' && arg[len - 1] == ']') {
		value = xstrndup(arg + 1, len - 2);
		if (!offered(r, value))
			fail(r, "no button \"%s\" was offered", value);
		else
			step(r, ENGINE_EV_MESSAGE, NULL, value);
		free(value);
		return;
	}
	step(r, ENGINE_EV_MESSAGE, arg, NULL);
}

/* "* handback" or "* resolved": an agent acts. */
static void
do_agent(struct run *r, const char *arg)
{
	if (strcmp(arg, "handback") == 0)
		step(r, ENGINE_EV_HANDBACK, NULL, NULL);
	else if (strcmp(arg, "resolved") == 0)
		step(r, ENGINE_EV_RESOLVED, NULL, NULL);
	else
		fail(r, "unknown agent event \"%s\"", arg);
}

/* "@+90s", "@+30m", "@+2h", "@+1d": time passes. */
static void
do_clock(struct run *r, const char *arg)
{
	char	*end;
	long	 n;
	int64_t	 unit;

	if (arg[0] != '+') {
		fail(r, "want @+<number><s|m|h|d>");
		return;
	}
	n = strtol(arg + 1, &end, 10);
	if (end == arg + 1 || n < 0 || end[1] != '\0') {
		fail(r, "want @+<number><s|m|h|d>");
		return;
	}
	switch (*end) {
	case 's':
		unit = 1000;
		break;
	case 'm':
		unit = 60 * 1000;
		break;
	case 'h':
		unit = 3600 * 1000;
		break;
	case 'd':
		unit = 86400 * 1000;
		break;
	default:
		fail(r, "want @+<number><s|m|h|d>");
		return;
	}
	r->now += n * unit;
}

/* Compare the titles of a reply's buttons with "A | B | C". */
static void
check_buttons(struct run *r, const char *want)
{
	struct engine_reply	*reply;
	char			*copy, *p, *bar, *title;
	size_t			 i = 0;

	if (!r->have_res || r->checked == SIZE_MAX) {
		fail(r, "buttons: no reply checked yet");
		return;
	}
	reply = &r->res.replies[r->checked];
	copy = xstrdup(want);
	for (p = copy; p != NULL && r->error == NULL; p = bar, i++) {
		if ((bar = strchr(p, '|')) != NULL)
			*bar++ = '\0';
		title = trim(p);
		if (i >= reply->nbuttons)
			fail(r, "button %zu \"%s\" missing", i + 1, title);
		else if (strcmp(reply->buttons[i].title, title) != 0)
			fail(r, "button %zu is \"%s\", not \"%s\"", i + 1,
			    reply->buttons[i].title, title);
	}
	if (r->error == NULL && i != reply->nbuttons)
		fail(r, "%zu buttons, not %zu", reply->nbuttons, i);
	free(copy);
}

/* "< /regex/", "< text", "< buttons: ...", "< no buttons". */
static void
do_reply(struct run *r, const char *arg)
{
	const char	*text;
	char		*re;
	regex_t		 preg;
	size_t		 len = strlen(arg);
	int		 ok, error;

	if (strncmp(arg, "buttons:", 8) == 0) {
		check_buttons(r, arg + 8);
		return;
	}
	if (strcmp(arg, "no buttons") == 0) {
		if (!r->have_res || r->checked == SIZE_MAX)
			fail(r, "no buttons: no reply checked yet");
		else if (r->res.replies[r->checked].nbuttons != 0)
			fail(r, "the reply has %zu buttons",
			    r->res.replies[r->checked].nbuttons);
		return;
	}
	if (!r->have_res || r->next >= r->res.nreplies) {
		fail(r, "expected a reply matching %s, but there is none",
		    arg);
		return;
	}
	text = r->res.replies[r->next].text;
	if (len >= 2 && arg[0] == '/' && arg[len - 1] == '/') {
		re = xstrndup(arg + 1, len - 2);
		if ((error = regcomp(&preg, re, REG_EXTENDED | REG_NOSUB)) !=
		    0) {
			fail(r, "bad regex /%s/", re);
			free(re);
			return;
		}
		ok = regexec(&preg, text, 0, NULL, 0) == 0;
		regfree(&preg);
		free(re);
	} else
		ok = strstr(text, arg) != NULL;
	if (!ok) {
		fail(r, "reply %zu does not match %s", r->next + 1, arg);
		return;
	}
	r->checked = r->next++;
}

/* "= key value": assert something about the result or the state. */
static void
do_assert(struct run *r, char *arg)
{
	char		*key = arg, *want, *got = NULL, *p;
	char		 buf[32];

	if ((want = strchr(arg, ' ')) == NULL) {
		fail(r, "want \"= key value\"");
		return;
	}
	*want++ = '\0';
	want = trim(want);
	if (!r->have_res) {
		fail(r, "nothing has happened yet");
		return;
	}
	if (strcmp(key, "status") == 0)
		got = r->res.status;
	else if (strcmp(key, "lang") == 0)
		got = r->res.lang;
	else if (strcmp(key, "intent") == 0)
		got = r->res.intent != NULL ? r->res.intent : "none";
	else if (strcmp(key, "handoff") == 0)
		got = r->res.handoff_reason != NULL ?
		    r->res.handoff_reason : "none";
	else if (strcmp(key, "replies") == 0) {
		xsnprintf(buf, sizeof buf, "%zu", r->res.nreplies);
		got = buf;
		/* Counting them is checking them. */
		if (strcmp(got, want) == 0 && r->next == 0)
			r->next = r->res.nreplies;
	} else if (strcmp(key, "stage") == 0) {
		/* The state is ours to read here: "stage":"...". */
		p = strstr(r->state, "\"stage\":\"");
		if (p != NULL) {
			p += strlen("\"stage\":\"");
			xsnprintf(buf, sizeof buf, "%.*s",
			    (int)strcspn(p, "\""), p);
			got = buf;
		}
	} else {
		fail(r, "unknown assertion \"%s\"", key);
		return;
	}
	if (got == NULL || strcmp(got, want) != 0)
		fail(r, "%s is \"%s\", not \"%s\"", key,
		    got != NULL ? got : "(null)", want);
}

/* "! key value": set up the conversation before it starts. */
static void
do_setup(struct run *r, char *arg)
{
	char	*value, *end;
	double	 d;

	if ((value = strchr(arg, ' ')) == NULL) {
		fail(r, "want \"! key value\"");
		return;
	}
	*value++ = '\0';
	value = trim(value);
	if (r->engine != NULL && strcmp(arg, "name") != 0 &&
	    strcmp(arg, "channel") != 0) {
		fail(r, "\"! %s\" must come before the first event", arg);
		return;
	}
	if (strcmp(arg, "name") == 0) {
		free(r->name);
		r->name = xstrdup(value);
	} else if (strcmp(arg, "channel") == 0) {
		free(r->channel);
		r->channel = xstrdup(value);
	} else if (strcmp(arg, "conversation") == 0)
		r->conversation_id = strtoll(value, NULL, 10);
	else if (strcmp(arg, "default_lang") == 0) {
		free(r->default_lang);
		r->default_lang = xstrdup(value);
	} else if (strcmp(arg, "welcome_idle") == 0)
		r->cfg.welcome_idle = (int)strtol(value, NULL, 10);
	else if (strcmp(arg, "max_failures") == 0)
		r->cfg.max_failures = (int)strtol(value, NULL, 10);
	else if (strcmp(arg, "answer_threshold") == 0 ||
	    strcmp(arg, "confirm_threshold") == 0) {
		d = strtod(value, &end);
		if (end == value || *end != '\0')
			fail(r, "bad number \"%s\"", value);
		else if (arg[0] == 'a')
			r->cfg.answer_threshold = d;
		else
			r->cfg.confirm_threshold = d;
	} else
		fail(r, "unknown setting \"%s\"", arg);
}

/* Replay one transcript; 0 if it passed. */
static int
run_file(const char *top, const char *dir, const char *file, int number)
{
	struct run	 r;
	FILE		*f;
	char		*path, *line = NULL, *s;
	size_t		 size = 0;
	int		 failed;

	memset(&r, 0, sizeof r);
	r.top = top;
	r.file = file;
	r.conversation_id = 1;
	r.channel = xstrdup("websocket");
	r.default_lang = xstrdup("en");
	r.now = START_MS;
	r.checked = SIZE_MAX;
	r.cfg.templates_dir = xasprintf("%s/templates", top);
	r.cfg.faq_path = xasprintf("%s/etc/demo/faq.json", top);
	r.cfg.welcome_idle = 3600;
	r.cfg.max_failures = 2;
	r.cfg.answer_threshold = 0.5;
	r.cfg.confirm_threshold = 0.25;

	path = xasprintf("%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		fail(&r, "cannot open %s", path);
	while (f != NULL && r.error == NULL &&
	    getline(&line, &size, f) != -1) {
		r.line++;
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (s[0] == '@')
			do_clock(&r, s + 1);
		else if (s[1] != ' ' && s[1] != '\0')
			fail(&r, "a line starts with one of > < = * ! @ # "
			    "and a space");
		else if (s[0] == '>')
			do_customer(&r, trim(s + 1));
		else if (s[0] == '<')
			do_reply(&r, trim(s + 1));
		else if (s[0] == '=')
			do_assert(&r, trim(s + 1));
		else if (s[0] == '*')
			do_agent(&r, trim(s + 1));
		else if (s[0] == '!')
			do_setup(&r, trim(s + 1));
		else
			fail(&r, "a line starts with one of > < = * ! @ #");
	}
	if (f != NULL) {
		r.line++;
		check_all_seen(&r);
		if (r.error == NULL && !r.have_res)
			fail(&r, "no events");
		fclose(f);
	}

	failed = r.error != NULL;
	if (failed) {
		printf("not ok %d - %s\n# %s\n", number, file, r.error);
		if (!verbose)
			print_replies(&r);
	} else
		printf("ok %d - %s\n", number, file);

	free(line);
	free(path);
	free(r.error);
	free(r.state);
	free(r.name);
	free(r.channel);
	free(r.default_lang);
	free((char *)r.cfg.templates_dir);
	free((char *)r.cfg.faq_path);
	engine_result_clear(&r.res);
	engine_free(r.engine);
	return (failed);
}

/* Compare file names, for a stable order. */
static int
namecmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

int
main(int argc, char **argv)
{
	const char	*top = getenv("top_srcdir");
	char		*dir, **files = NULL;
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0, i, len;
	int		 failed = 0;

	setlocale(LC_ALL, "C.UTF-8");
	log_set_level("error");
	if (top == NULL || *top == '\0')
		top = ".";
	dir = xasprintf("%s/tests/transcripts", top);
	while (argc > 1 && (strcmp(argv[1], "-v") == 0 ||
	    strcmp(argv[1], "-n") == 0)) {
		if (argv[1][1] == 'n')
			dry_run = verbose = 1;
		else
			verbose = 1;
		argc--;
		argv++;
	}
	if (argc > 1) {
		for (i = 1; i < (size_t)argc; i++) {
			files = xreallocarray(files, n + 1, sizeof *files);
			files[n++] = xstrdup(argv[i]);
		}
	} else {
		if ((d = opendir(dir)) == NULL) {
			fprintf(stderr, "%s: cannot open\n", dir);
			return (1);
		}
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (de->d_name[0] == '.' || len < 5 ||
			    strcmp(de->d_name + len - 4, ".txt") != 0)
				continue;
			files = xreallocarray(files, n + 1, sizeof *files);
			files[n++] = xstrdup(de->d_name);
		}
		closedir(d);
		qsort(files, n, sizeof *files, namecmp);
	}
	if (n == 0) {
		fprintf(stderr, "%s: no transcripts\n", dir);
		return (1);
	}
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		if (run_file(top, dir, files[i], (int)i + 1) != 0)
			failed++;
		free(files[i]);
	}
	free(files);
	free(dir);
	if (failed != 0)
		printf("# %d of %zu transcripts failed\n", failed, n);
	return (failed != 0);
}
