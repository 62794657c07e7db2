/*
 * Replay the conversations in the .txt files of tests/transcripts through
 * the engine, with the real understanding.
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
 *	@+2h				two hours pass (due timers fire)
 *	* action ok {"status":"shipped"}  the look-up the bot asked for ends
 *
 * The runner does what the pipeline does before each step, with the demo
 * data from $top_srcdir: the intent model is trained once on
 * etc/demo/intents.csv, the demo knowledge base (etc/demo/kb) and orders
 * (etc/demo/orders.csv) are imported into a temporary store, and every
 * message is classified (nlu_classify) and searched for (kb_search).  The
 * clock is fake; the timers the engine sets are kept here and fire when
 * "@" lines move the clock past them; actions wait for a "* action" line.
 *
 * Every reply must be checked by a "<" line before the next event: a
 * transcript says everything the bot said.  One "ok" or "not ok" line is
 * printed per file (TAP), with the failing line and what the bot actually
 * replied; the exit status is 1 if any file failed.  "run_transcripts -v
 * [file...]" also prints every event's replies and what was understood,
 * and -n prints them without insisting that "<" lines check them all: both
 * help when writing a new transcript.
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
#include <unistd.h>

#include <json-c/json.h>

#include "engine.h"
#include "kb.h"
#include "log.h"
#include "nlu.h"
#include "orders.h"
#include "store.h"
#include "xmalloc.h"

#define START_MS	INT64_C(1709283600000)	/* 2024-03-01 09:00 UTC */
#define STEP_MS		5000			/* between two events */
#define KB_HITS		5
#define MAX_TIMERS	8

static int	verbose;	/* -v: print every event's replies */
static int	dry_run;	/* -n: do not insist on checking replies */

/* The demo data every transcript shares. */
static struct store	*demo_store;
static struct nlu	*demo_nlu;

struct timer {
	char	*kind;
	int64_t	 due;
};

struct run {
	const char		*top;
	const char		*file;
	size_t			 line;
	size_t			 event_line;	/* line of the last event */
	char			*error;		/* why it failed, or NULL */

	struct engine_config	 cfg;
	char			*default_lang;
	char			*timezone;
	char			**human_only;
	size_t			 nhuman_only;
	double			 kb_min_score;
	struct engine		*engine;
	int64_t			 conversation_id;
	char			*channel;
	char			*name;
	int64_t			 now;
	int64_t			 event_now;	/* time of the last event */

	char			*state;
	struct engine_result	 res;
	int			 have_res;
	size_t			 next;		/* next reply to check */
	size_t			 checked;	/* the reply "<" matched last */
	int			 accumulate;	/* add replies to res */

	struct timer		 timers[MAX_TIMERS];
	size_t			 ntimers;
	char			*action;	/* the look-up asked for */
	struct json_object	*params;
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
	r->cfg.hours.timezone = r->timezone;
	r->cfg.human_only = (const char *const *)r->human_only;
	r->cfg.nhuman_only = r->nhuman_only;
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
	    "confidence %.3f, sentiment %.2f\n",
	    r->event_line, r->res.status, r->res.lang,
	    r->res.intent != NULL ? r->res.intent : "none",
	    r->res.confidence, r->res.sentiment);
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
	for (i = 0; i < r->res.nactions; i++)
		printf("#   action %s %s\n", r->res.actions[i].name,
		    json_object_to_json_string(r->res.actions[i].params));
	for (i = 0; i < r->res.ntimers; i++)
		printf("#   timer %s +%llds\n", r->res.timers[i].kind,
		    (long long)((r->res.timers[i].due - r->now) / 1000));
}

/* Print what the NLU and the knowledge base made of a text (-v). */
static void
print_understanding(const struct nlu_result *nr, const struct kb_hit *hits,
    int nhits)
{
	size_t	i;

	printf("#   nlu: lang=%s intent=%s (%.3f) runner_up=%s (%.3f) "
	    "sentiment=%.2f", nr->lang, nr->intent != NULL ? nr->intent :
	    "none", nr->confidence, nr->runner_up != NULL ? nr->runner_up :
	    "none", nr->runner_up_confidence, nr->sentiment);
	for (i = 0; i < nr->nentities; i++)
		printf(" %s=%s", nr->entities[i].type, nr->entities[i].value);
	printf("\n");
	for (i = 0; i < (size_t)nhits; i++)
		printf("#   kb: %.3f %s [%s] %s\n", hits[i].score,
		    hits[i].lang != NULL ? hits[i].lang : "-",
		    hits[i].intent != NULL ? hits[i].intent : "-",
		    hits[i].question);
}

/* Forget the timer of a kind. */
static void
timer_cancel(struct run *r, const char *kind)
{
	size_t	i;

	for (i = 0; i < r->ntimers; i++) {
		if (strcmp(r->timers[i].kind, kind) == 0) {
			free(r->timers[i].kind);
			r->timers[i] = r->timers[--r->ntimers];
			return;
		}
	}
}

/* Do with the timers and actions of a result what the pipeline does. */
static void
apply_result(struct run *r, struct engine_result *res)
{
	size_t	i;

	for (i = 0; i < res->ncancel; i++)
		timer_cancel(r, res->cancel[i]);
	for (i = 0; i < res->ntimers; i++) {
		timer_cancel(r, res->timers[i].kind);
		if (r->ntimers == MAX_TIMERS) {
			fail(r, "too many timers");
			return;
		}
		r->timers[r->ntimers].kind = xstrdup(res->timers[i].kind);
		r->timers[r->ntimers].due = res->timers[i].due;
		r->ntimers++;
	}
	if (res->nactions > 1)
		fail(r, "%zu actions at once", res->nactions);
	if (res->nactions > 0) {
		if (r->action != NULL)
			fail(r, "action %s asked for while %s runs",
			    res->actions[0].name, r->action);
		free(r->action);
		json_object_put(r->params);
		r->action = xstrdup(res->actions[0].name);
		r->params = json_object_get(res->actions[0].params);
	}
}

/* Append the replies of res to r->res and take over the rest of res. */
static void
merge_result(struct run *r, struct engine_result *res)
{
	struct engine_result	 old = r->res;
	size_t			 i;

	r->res = *res;
	r->res.replies = xreallocarray(old.replies,
	    old.nreplies + res->nreplies, sizeof *old.replies);
	for (i = 0; i < res->nreplies; i++)
		r->res.replies[old.nreplies + i] = res->replies[i];
	r->res.nreplies = old.nreplies + res->nreplies;
	free(res->replies);
	old.replies = NULL;
	old.nreplies = 0;
	engine_result_clear(&old);
	memset(res, 0, sizeof *res);
}

/* Run one event through the engine, understanding its text first. */
static void
step(struct run *r, struct engine_event *ev)
{
	struct engine_result	 res;
	struct nlu_result	 nr;
	struct kb_hit		*hits = NULL;
	char			*cause;
	int			 nhits = 0;

	if (!r->accumulate)
		check_all_seen(r);
	if (r->error != NULL || ensure_engine(r) != 0)
		return;
	r->now += STEP_MS;
	ev->now = r->event_now = r->now;
	ev->channel = r->channel;
	ev->customer_name = r->name;
	ev->conversation_id = r->conversation_id;
	memset(&nr, 0, sizeof nr);
	if (ev->type == ENGINE_EV_MESSAGE && ev->text != NULL) {
		nlu_classify(demo_nlu, ev->text, &nr);
		ev->nlu = &nr;
		if (engine_wants_kb(r->engine, ev->value, &nr) &&
		    (nhits = kb_search(demo_store, ev->text, NULL,
		    r->kb_min_score, KB_HITS, &hits)) < 0) {
			fail(r, "kb_search failed");
			nhits = 0;
		}
		ev->kb = hits;
		ev->nkb = (size_t)nhits;
		if (verbose)
			print_understanding(&nr, hits, nhits);
	}
	if (engine_step(r->engine, r->state, ev, &res, &cause) != 0) {
		fail(r, "engine_step: %s", cause);
		free(cause);
	} else {
		apply_result(r, &res);
		if (r->accumulate && r->have_res)
			merge_result(r, &res);
		else {
			engine_result_clear(&r->res);
			r->res = res;
			r->next = 0;
			r->checked = SIZE_MAX;
		}
		r->have_res = 1;
		r->event_line = r->line;
		free(r->state);
		r->state = xstrdup(r->res.state);
		if (verbose)
			print_replies(r);
	}
	nlu_result_clear(&nr);
	kb_hits_free(hits, (size_t)nhits);
}

/* "> text" or "> [value]": the customer writes or presses a button. */
static void
do_customer(struct run *r, char *arg)
{
	struct engine_event	 ev;
	size_t			 len = strlen(arg);
	char			*value;

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_MESSAGE;
	if (len >= 2 && arg[0] == '[' && arg[len - 1] == ']') {
		value = xstrndup(arg + 1, len - 2);
		if (!offered(r, value))
			fail(r, "no button \"%s\" was offered", value);
		else {
			ev.value = value;
			step(r, &ev);
		}
		free(value);
		return;
	}
	ev.text = arg;
	step(r, &ev);
}

/* Fire one timer (taken out of the list first). */
static void
fire_timer(struct run *r, size_t i)
{
	struct engine_event	 ev;
	char			*kind = r->timers[i].kind;

	r->timers[i] = r->timers[--r->ntimers];
	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_TIMER;
	ev.timer = kind;
	step(r, &ev);
	free(kind);
}

/*
 * "* action ok {json}", "* action not_found", "* action failed", or
 * "* action" (the demo order table answers): the look-up ends.
 */
static void
do_action(struct run *r, char *arg)
{
	struct engine_event	 ev;
	struct json_object	*result = NULL, *v;
	char			*json;
	int			 found;

	if (r->action == NULL) {
		fail(r, "no action was asked for");
		return;
	}
	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_ACTION_RESULT;
	ev.action = r->action;
	if (*arg == '\0') {
		if (!json_object_object_get_ex(r->params, "order_id", &v)) {
			fail(r, "the action has no order_id");
			return;
		}
		found = orders_get(demo_store, json_object_get_string(v),
		    &result);
		ev.action_status = found == 1 ? ENGINE_ACTION_OK : found == 0 ?
		    ENGINE_ACTION_NOT_FOUND : ENGINE_ACTION_FAILED;
	} else if (strncmp(arg, "ok", 2) == 0 &&
	    (arg[2] == ' ' || arg[2] == '\0')) {
		json = trim(arg + 2);
		result = json_tokener_parse(json);
		if (result == NULL ||
		    !json_object_is_type(result, json_type_object)) {
			json_object_put(result);
			fail(r, "want \"* action ok {json object}\"");
			return;
		}
		ev.action_status = ENGINE_ACTION_OK;
	} else if (strcmp(arg, "not_found") == 0)
		ev.action_status = ENGINE_ACTION_NOT_FOUND;
	else if (strcmp(arg, "failed") == 0)
		ev.action_status = ENGINE_ACTION_FAILED;
	else {
		fail(r, "want \"* action [ok {json}|not_found|failed]\"");
		return;
	}
	ev.action_result = result;
	step(r, &ev);
	json_object_put(result);
	free(r->action);
	r->action = NULL;
	json_object_put(r->params);
	r->params = NULL;
}

/*
 * "* handback", "* resolved": an agent acts; "* timer KIND": the clock
 * moves to that timer and it fires; "* action ...": see do_action.
 */
static void
do_agent(struct run *r, char *arg)
{
	struct engine_event	 ev;
	size_t			 i;

	memset(&ev, 0, sizeof ev);
	if (strcmp(arg, "handback") == 0) {
		ev.type = ENGINE_EV_HANDBACK;
		step(r, &ev);
	} else if (strcmp(arg, "resolved") == 0) {
		ev.type = ENGINE_EV_RESOLVED;
		step(r, &ev);
	} else if (strncmp(arg, "timer ", 6) == 0) {
		for (i = 0; i < r->ntimers; i++) {
			if (strcmp(r->timers[i].kind, trim(arg + 6)) == 0)
				break;
		}
		if (i == r->ntimers) {
			fail(r, "no timer \"%s\" is set", arg + 6);
			return;
		}
		if (r->timers[i].due - STEP_MS > r->now)
			r->now = r->timers[i].due - STEP_MS;
		fire_timer(r, i);
	} else if (strncmp(arg, "action", 6) == 0 &&
	    (arg[6] == ' ' || arg[6] == '\0'))
		do_action(r, trim(arg + 6));
	else
		fail(r, "unknown event \"%s\"", arg);
}

/*
 * "@+90s", "@+30m", "@+2h", "@+1d": time passes; the timers due by then
 * fire in order, and their replies are checked together.
 */
static void
do_clock(struct run *r, const char *arg)
{
	char	*end;
	long	 n;
	int64_t	 unit, target;
	size_t	 i, first;
	int	 fired = 0;

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
	target = r->now + n * unit;
	while (r->error == NULL && r->ntimers > 0) {
		first = 0;
		for (i = 1; i < r->ntimers; i++) {
			if (r->timers[i].due < r->timers[first].due)
				first = i;
		}
		if (r->timers[first].due > target)
			break;
		if (!fired)
			check_all_seen(r);
		if (r->timers[first].due - STEP_MS > r->now)
			r->now = r->timers[first].due - STEP_MS;
		r->accumulate = fired;
		fire_timer(r, first);
		r->accumulate = 0;
		fired = 1;
	}
	if (r->now < target)
		r->now = target;
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

/* "= timer KIND 5m": the timer is set, due that long after the last event. */
static void
assert_timer(struct run *r, const char *want)
{
	char		 kind[32], got[64];
	const char	*sp;
	size_t		 i;
	int64_t		 d;

	if ((sp = strchr(want, ' ')) == NULL || (size_t)(sp - want) >=
	    sizeof kind) {
		if (strcmp(want, "none") == 0) {
			if (r->ntimers != 0)
				fail(r, "%zu timers are set (%s first)",
				    r->ntimers, r->timers[0].kind);
			return;
		}
		fail(r, "want \"= timer KIND DELAY\" or \"= timer none\"");
		return;
	}
	xsnprintf(kind, sizeof kind, "%.*s", (int)(sp - want), want);
	for (i = 0; i < r->ntimers; i++) {
		if (strcmp(r->timers[i].kind, kind) == 0)
			break;
	}
	if (i == r->ntimers) {
		fail(r, "no timer \"%s\" is set", kind);
		return;
	}
	d = (r->timers[i].due - r->event_now) / 1000;
	if (d % 86400 == 0 && d != 0)
		xsnprintf(got, sizeof got, "%lldd", (long long)(d / 86400));
	else if (d % 3600 == 0 && d != 0)
		xsnprintf(got, sizeof got, "%lldh", (long long)(d / 3600));
	else if (d % 60 == 0 && d != 0)
		xsnprintf(got, sizeof got, "%lldm", (long long)(d / 60));
	else
		xsnprintf(got, sizeof got, "%llds", (long long)d);
	if (strcmp(got, sp + 1) != 0)
		fail(r, "timer %s is due in %s, not %s", kind, got, sp + 1);
}

/* "= action NAME {json}" or "= action none": the look-up asked for. */
static void
assert_action(struct run *r, const char *want)
{
	const char	*sp, *got;
	size_t		 len;

	if (strcmp(want, "none") == 0) {
		if (r->action != NULL)
			fail(r, "action %s is running", r->action);
		return;
	}
	sp = strchr(want, ' ');
	len = sp != NULL ? (size_t)(sp - want) : strlen(want);
	if (r->action == NULL || strlen(r->action) != len ||
	    strncmp(r->action, want, len) != 0) {
		fail(r, "action is %s, not %.*s", r->action != NULL ?
		    r->action : "none", (int)len, want);
		return;
	}
	got = json_object_to_json_string_ext(r->params,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (sp != NULL && strcmp(got, sp + 1) != 0)
		fail(r, "action parameters are %s, not %s", got, sp + 1);
}

/* "= key value": assert something about the result or the state. */
static void
do_assert(struct run *r, char *arg)
{
	char		*key = arg, *want, *got = NULL, *p;
	char		 buf[64];

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
	if (strcmp(key, "timer") == 0) {
		assert_timer(r, want);
		return;
	}
	if (strcmp(key, "action") == 0) {
		assert_action(r, want);
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
	else if (strcmp(key, "after_hours") == 0)
		got = r->res.after_hours ? "yes" : "no";
	else if (strcmp(key, "csat") == 0) {
		xsnprintf(buf, sizeof buf, "%d", r->res.csat);
		got = buf;
	} else if (strcmp(key, "replies") == 0) {
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

/* Parse a number for a setting; fail if it is not one. */
static double
setup_number(struct run *r, const char *value)
{
	char	*end;
	double	 d;

	d = strtod(value, &end);
	if (end == value || *end != '\0')
		fail(r, "bad number \"%s\"", value);
	return (d);
}

/* Parse "HH:MM" into minutes; fail if it is not one. */
static int
setup_clock(struct run *r, const char *s)
{
	if (strlen(s) != 5 || s[2] != ':') {
		fail(r, "bad time \"%s\", want HH:MM", s);
		return (0);
	}
	return (((s[0] - '0') * 10 + (s[1] - '0')) * 60 +
	    (s[3] - '0') * 10 + (s[4] - '0'));
}

/* "! hours ZONE mon,tue,... HH:MM HH:MM": business hours. */
static void
setup_hours(struct run *r, char *value)
{
	static const char	*days[] = {
		"mon", "tue", "wed", "thu", "fri", "sat", "sun"
	};
	char			*zone, *list, *open, *close, *d, *next;
	size_t			 i;

	zone = value;
	if ((list = strchr(zone, ' ')) == NULL ||
	    (open = strchr(list + 1, ' ')) == NULL ||
	    (close = strchr(open + 1, ' ')) == NULL) {
		fail(r, "want \"! hours ZONE DAY,DAY... HH:MM HH:MM\"");
		return;
	}
	*list++ = *open++ = *close++ = '\0';
	free(r->timezone);
	r->timezone = xstrdup(zone);
	r->cfg.hours.days = 0;
	for (d = list; d != NULL; d = next) {
		if ((next = strchr(d, ',')) != NULL)
			*next++ = '\0';
		for (i = 0; i < 7; i++) {
			if (strcmp(d, days[i]) == 0)
				r->cfg.hours.days |= 1 << i;
		}
	}
	r->cfg.hours.open = setup_clock(r, open);
	r->cfg.hours.close = setup_clock(r, close);
}

/* "! key value": set up the conversation before it starts. */
static void
do_setup(struct run *r, char *arg)
{
	char	*value, *p, *next;

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
		r->cfg.welcome_idle = (int)setup_number(r, value);
	else if (strcmp(arg, "max_failures") == 0)
		r->cfg.max_failures = (int)setup_number(r, value);
	else if (strcmp(arg, "followup_delay") == 0)
		r->cfg.followup_delay = (int)setup_number(r, value);
	else if (strcmp(arg, "resolve_delay") == 0)
		r->cfg.resolve_delay = (int)setup_number(r, value);
	else if (strcmp(arg, "answer_threshold") == 0)
		r->cfg.answer_threshold = setup_number(r, value);
	else if (strcmp(arg, "nlu_min_confidence") == 0)
		r->cfg.nlu_min_confidence = setup_number(r, value);
	else if (strcmp(arg, "kb_min_score") == 0)
		r->cfg.kb_min_score = r->kb_min_score =
		    setup_number(r, value);
	else if (strcmp(arg, "kb_answer_score") == 0)
		r->cfg.kb_answer_score = setup_number(r, value);
	else if (strcmp(arg, "handoff_sentiment") == 0)
		r->cfg.handoff_sentiment = setup_number(r, value);
	else if (strcmp(arg, "human_only") == 0) {
		for (p = value; p != NULL; p = next) {
			if ((next = strchr(p, ',')) != NULL)
				*next++ = '\0';
			r->human_only = xreallocarray(r->human_only,
			    r->nhuman_only + 1, sizeof *r->human_only);
			r->human_only[r->nhuman_only++] = xstrdup(trim(p));
		}
	} else if (strcmp(arg, "hours") == 0)
		setup_hours(r, value);
	else
		fail(r, "unknown setting \"%s\"", arg);
}

/* Replay one transcript; 0 if it passed. */
static int
run_file(const char *top, const char *dir, const char *file, int number)
{
	struct run	 r;
	FILE		*f;
	char		*path, *line = NULL, *s;
	size_t		 size = 0, i;
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
	/* The defaults of kefu.conf(5), but people always answer. */
	r.cfg.welcome_idle = 3600;
	r.cfg.max_failures = 2;
	r.cfg.nlu_min_confidence = NLU_MIN_CONFIDENCE_DEFAULT;
	r.cfg.answer_threshold = 0.6;
	r.cfg.kb_min_score = r.kb_min_score = KB_MIN_SCORE_DEFAULT;
	r.cfg.kb_answer_score = 0.8;
	r.cfg.handoff_sentiment = -0.6;
	r.cfg.followup_delay = 300;
	r.cfg.resolve_delay = 900;
	r.cfg.action_timeout = 10000;

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
	free(r.timezone);
	for (i = 0; i < r.nhuman_only; i++)
		free(r.human_only[i]);
	free(r.human_only);
	for (i = 0; i < r.ntimers; i++)
		free(r.timers[i].kind);
	free(r.action);
	json_object_put(r.params);
	free((char *)r.cfg.templates_dir);
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

/*
 * Load the demo into a temporary store: the knowledge base, the orders
 * and the intent model.  Exits on failure.
 */
static void
load_demo(const char *top, char *tmpdir)
{
	struct nlu_example	*ex;
	struct nlu_options	 opts;
	struct dirent		*de;
	DIR			*d;
	char			*path, *dbpath, *cause = NULL, *kbdir;
	size_t			 n, len;

	if (mkdtemp(tmpdir) == NULL) {
		perror(tmpdir);
		exit(1);
	}
	dbpath = xasprintf("%s/kefu.db", tmpdir);
	if (store_open(dbpath, 0, 1000, &demo_store, &cause) != 0) {
		fprintf(stderr, "%s: %s\n", dbpath, cause);
		exit(1);
	}
	free(dbpath);
	kbdir = xasprintf("%s/etc/demo/kb", top);
	if ((d = opendir(kbdir)) == NULL) {
		perror(kbdir);
		exit(1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 4 || strcmp(de->d_name + len - 3, ".md") != 0)
			continue;
		path = xasprintf("%s/%s", kbdir, de->d_name);
		if (kb_import(demo_store, path, &cause) < 0) {
			fprintf(stderr, "%s\n", cause);
			exit(1);
		}
		free(path);
	}
	closedir(d);
	free(kbdir);
	path = xasprintf("%s/etc/demo/orders.csv", top);
	if (access(path, R_OK) == 0 &&
	    orders_import(demo_store, path, &cause) < 0) {
		fprintf(stderr, "%s\n", cause);
		exit(1);
	}
	free(path);
	if (store_commit(demo_store, &cause) != 0) {
		fprintf(stderr, "commit: %s\n", cause);
		exit(1);
	}

	path = xasprintf("%s/etc/demo/intents.csv", top);
	if (nlu_examples_load(NULL, path, &ex, &n, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		exit(1);
	}
	free(path);
	memset(&opts, 0, sizeof opts);
	opts.min_confidence = NLU_MIN_CONFIDENCE_DEFAULT;
	/* As etc/kefu.conf: the demo has order 12345. */
	opts.order_pattern = "[A-Za-z]{1,6}-?[0-9]{4,20}|[0-9]{5,20}";
	if ((demo_nlu = nlu_train(ex, n, &opts, &cause)) == NULL) {
		fprintf(stderr, "nlu_train: %s\n", cause);
		exit(1);
	}
	nlu_examples_free(ex, n);
}

/* Remove the temporary store. */
static void
unload_demo(const char *tmpdir)
{
	static const char	*files[] = { "kefu.db", "kefu.db-wal",
	    "kefu.db-shm" };
	char			*path;
	size_t			 i;

	nlu_free(demo_nlu);
	store_close(demo_store);
	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		path = xasprintf("%s/%s", tmpdir, files[i]);
		unlink(path);
		free(path);
	}
	rmdir(tmpdir);
}

int
main(int argc, char **argv)
{
	const char	*top = getenv("top_srcdir");
	char		*dir, **files = NULL;
	char		 tmpdir[] = "/tmp/kefu-transcripts-XXXXXX";
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
	load_demo(top, tmpdir);
	printf("1..%zu\n", n);
	for (i = 0; i < n; i++) {
		if (run_file(top, dir, files[i], (int)i + 1) != 0)
			failed++;
		free(files[i]);
	}
	free(files);
	free(dir);
	unload_demo(tmpdir);
	if (failed != 0)
		printf("# %d of %zu transcripts failed\n", failed, n);
	return (failed != 0);
}
