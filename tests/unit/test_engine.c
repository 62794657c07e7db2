/*
 * Tests for the dialogue engine's state machine.  The engine runs on the
 * real templates from $top_srcdir; what the NLU and the knowledge base
 * would say is made up here (struct nlu_result and struct kb_hit built by
 * hand), so these tests check the dialogue alone: the state JSON, each
 * stage's transitions, slots and actions, timers, every handoff rule,
 * business hours, reloading, channel overrides and variants.  Whole
 * conversations with the real understanding are in tests/transcripts.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "engine.h"
#include "kb.h"
#include "log.h"
#include "nlu.h"
#include "xmalloc.h"

#define T0	INT64_C(1709283600000)	/* Fri 2024-03-01 09:00 UTC */

/* What the NLU and the knowledge base "say" about the next message. */
struct understood {
	const char	*intent;	/* NULL: out of scope */
	double		 confidence;
	const char	*order_id;	/* an order_id entity, or NULL */
	double		 sentiment;
	struct kb_hit	 hits[3];
	size_t		 nhits;
};

/* One conversation driven by a test. */
struct conv {
	struct engine		*e;
	char			*state;
	struct engine_result	 res;
	int64_t			 now;
	int64_t			 id;
	const char		*channel;
	struct understood	 u;	/* for the next message; then cleared */
};

/* A path under $top_srcdir; caller frees. */
static char *
top_path(const char *rel)
{
	const char	*top = getenv("top_srcdir");

	if (top == NULL || *top == '\0')
		top = ".";
	return (xasprintf("%s/%s", top, rel));
}

/* The defaults of kefu.conf(5) (people always answer), for a test. */
static void
default_config(struct engine_config *cfg, const char *templates,
    const char *lang)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->templates_dir = templates;
	cfg->default_lang = lang;
	cfg->welcome_idle = 3600;
	cfg->max_failures = 2;
	cfg->nlu_min_confidence = NLU_MIN_CONFIDENCE_DEFAULT;
	cfg->answer_threshold = 0.6;
	cfg->kb_min_score = KB_MIN_SCORE_DEFAULT;
	cfg->kb_answer_score = 0.8;
	cfg->handoff_sentiment = -0.6;
	cfg->followup_delay = 300;
	cfg->resolve_delay = 900;
	cfg->action_timeout = 10000;
}

/* An engine on the given templates directory (NULL: the real one). */
static struct engine *
new_engine(const char *templates, const char *lang, char **cause)
{
	struct engine_config	 cfg;
	struct engine		*e;
	char			*tdir;

	tdir = templates != NULL ? xstrdup(templates) : top_path("templates");
	default_config(&cfg, tdir, lang);
	e = engine_new(&cfg, cause);
	free(tdir);
	return (e);
}

/* Start a conversation on an engine made from cfg (NULL: defaults). */
static void
conv_open_cfg(struct conv *c, struct engine_config *cfg, int64_t id)
{
	struct engine_config	 def;
	char			*cause = NULL, *tdir;

	memset(c, 0, sizeof *c);
	tdir = top_path("templates");
	if (cfg == NULL) {
		default_config(&def, tdir, "en");
		cfg = &def;
	} else
		cfg->templates_dir = tdir;
	c->e = engine_new(cfg, &cause);
	if (c->e == NULL)
		fail_msg("engine_new: %s", cause);
	free(tdir);
	c->now = T0;
	c->id = id;
	c->channel = "websocket";
}

/* Start a conversation on a fresh engine with the real templates. */
static void
conv_open(struct conv *c, const char *lang, int64_t id)
{
	struct engine_config	cfg;

	default_config(&cfg, NULL, lang);
	conv_open_cfg(c, &cfg, id);
}

/* Finish a conversation. */
static void
conv_close(struct conv *c)
{
	engine_result_clear(&c->res);
	engine_free(c->e);
	free(c->state);
}

/* Run one event; the result stays in c->res. */
static void
conv_event(struct conv *c, struct engine_event *ev)
{
	struct nlu_result	 nr;
	struct nlu_entity	 ent;
	char			*cause = NULL;

	c->now += 5000;
	ev->now = c->now;
	ev->channel = c->channel;
	ev->conversation_id = c->id;
	if (ev->type == ENGINE_EV_MESSAGE && ev->text != NULL) {
		memset(&nr, 0, sizeof nr);
		nr.intent = (char *)c->u.intent;
		nr.confidence = c->u.confidence;
		nr.sentiment = c->u.sentiment;
		if (c->u.order_id != NULL) {
			memset(&ent, 0, sizeof ent);
			ent.type = (char *)"order_id";
			ent.value = (char *)c->u.order_id;
			nr.entities = &ent;
			nr.nentities = 1;
		}
		ev->nlu = &nr;
		ev->kb = c->u.hits;
		ev->nkb = c->u.nhits;
	}
	engine_result_clear(&c->res);
	if (engine_step(c->e, c->state, ev, &c->res, &cause) != 0)
		fail_msg("engine_step: %s", cause);
	free(c->state);
	c->state = xstrdup(c->res.state);
	memset(&c->u, 0, sizeof c->u);
}

/* The customer writes text, understood as c->u says. */
static void
say(struct conv *c, const char *text)
{
	struct engine_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_MESSAGE;
	ev.text = text;
	conv_event(c, &ev);
}

/* The customer writes text the NLU is sure means intent. */
static void
say_intent(struct conv *c, const char *text, const char *intent,
    double confidence)
{
	c->u.intent = intent;
	c->u.confidence = confidence;
	say(c, text);
}

/* The customer presses a button. */
static void
press(struct conv *c, const char *value)
{
	struct engine_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_MESSAGE;
	ev.value = value;
	conv_event(c, &ev);
}

/* An event without text: an agent, a timer, an action's result. */
static void
event(struct conv *c, enum engine_event_type type)
{
	struct engine_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.type = type;
	conv_event(c, &ev);
}

/* A timer of this kind fires. */
static void
timer(struct conv *c, const char *kind)
{
	struct engine_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_TIMER;
	ev.timer = kind;
	conv_event(c, &ev);
}

/* An action's result arrives; result (JSON text) may be NULL. */
static void
action_result(struct conv *c, const char *name,
    enum engine_action_status status, const char *result)
{
	struct engine_event	ev;
	struct json_object	*o = NULL;

	if (result != NULL)
		assert_non_null(o = json_tokener_parse(result));
	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_ACTION_RESULT;
	ev.action = name;
	ev.action_status = status;
	ev.action_result = o;
	conv_event(c, &ev);
	json_object_put(o);
}

/* Add a knowledge-base hit to what the next message finds. */
static void
hit(struct conv *c, long long id, const char *intent, const char *lang,
    double score, const char *question, const char *answer)
{
	struct kb_hit	*h;

	assert_true(c->u.nhits < 3);
	h = &c->u.hits[c->u.nhits++];
	h->id = id;
	h->intent = (char *)intent;
	h->lang = (char *)lang;
	h->score = score;
	h->question = (char *)question;
	h->answer = (char *)answer;
}

/* A member of the current state, as a string ("" if absent); static. */
static const char *
state_str(const struct conv *c, const char *key)
{
	static char		 buf[1024];
	struct json_object	*o, *v;

	buf[0] = '\0';
	o = json_tokener_parse(c->state);
	assert_non_null(o);
	if (json_object_object_get_ex(o, key, &v))
		snprintf(buf, sizeof buf, "%s", json_object_get_string(v));
	json_object_put(o);
	return (buf);
}

/* A member of the current state, as a number (-1 if absent). */
static int64_t
state_int(const struct conv *c, const char *key)
{
	struct json_object	*o, *v;
	int64_t			 n = -1;

	o = json_tokener_parse(c->state);
	assert_non_null(o);
	if (json_object_object_get_ex(o, key, &v))
		n = json_object_get_int64(v);
	json_object_put(o);
	return (n);
}

/* The values of a reply's buttons joined by "|"; static. */
static const char *
button_values(const struct engine_reply *r)
{
	static char	buf[256];
	size_t		i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < r->nbuttons; i++) {
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
		    i > 0 ? "|" : "", r->buttons[i].value);
		assert_true(len < sizeof buf);
	}
	return (buf);
}

/* Whether reply i contains text. */
static int
reply_has(const struct conv *c, size_t i, const char *text)
{
	return (i < c->res.nreplies &&
	    strstr(c->res.replies[i].text, text) != NULL);
}

/* The due time of the timer of this kind the last step set; -1 if none. */
static int64_t
timer_set(const struct conv *c, const char *kind)
{
	size_t	i;

	for (i = 0; i < c->res.ntimers; i++) {
		if (strcmp(c->res.timers[i].kind, kind) == 0)
			return (c->res.timers[i].due);
	}
	return (-1);
}

/* Whether the last step cancelled timers of this kind. */
static int
timer_cancelled(const struct conv *c, const char *kind)
{
	size_t	i;

	for (i = 0; i < c->res.ncancel; i++) {
		if (strcmp(c->res.cancel[i], kind) == 0)
			return (1);
	}
	return (0);
}

/* A KB answer the conversation can be walked to. */
#define REFUND_Q	"How long does a refund take?"
#define REFUND_A	"Refunds reach your account in 3-7 working days."

/* The state survives a round trip through its JSON text. */
static void
test_state_roundtrip(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 1);
	say(&c, "hi");
	assert_string_equal(state_str(&c, "stage"), "welcome");
	assert_string_equal(state_str(&c, "lang"), "en");
	assert_int_equal(state_int(&c, "turn"), 1);
	assert_int_equal(state_int(&c, "failures"), 0);
	assert_int_equal(state_int(&c, "last"), c.now);
	assert_int_equal(state_int(&c, "v"), 2);
	assert_int_equal(c.res.nactions, 0);

	/* A damaged or foreign state starts afresh instead of failing. */
	free(c.state);
	c.state = xstrdup("{\"stage\":\"nonsense\",\"failures\":-5}");
	say(&c, "hello");
	assert_string_equal(state_str(&c, "stage"), "welcome");
	assert_int_equal(state_int(&c, "failures"), 0);
	free(c.state);
	c.state = xstrdup("not json");
	say(&c, "hello");
	assert_string_equal(state_str(&c, "stage"), "welcome");
	assert_int_equal(state_int(&c, "turn"), 1);

	/* A confirm without its pending object cannot be answered. */
	free(c.state);
	c.state = xstrdup("{\"v\":2,\"stage\":\"confirm\",\"lang\":\"en\","
	    "\"turn\":3,\"failures\":0,\"last\":1709283605000}");
	press(&c, "yes");
	assert_string_equal(state_str(&c, "stage"), "solve");
	assert_true(reply_has(&c, 0, "rephrase") ||
	    reply_has(&c, 0, "catch that"));
	conv_close(&c);
}

/* Han characters make a conversation Chinese; short answers keep it. */
static void
test_language(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 2);
	say(&c, "您好");
	assert_string_equal(c.res.lang, "zh-CN");
	assert_non_null(strstr(c.res.replies[0].text, "客服演示商城"));
	say(&c, "ok");
	assert_string_equal(c.res.lang, "zh-CN");
	say(&c, "12345");
	assert_string_equal(c.res.lang, "zh-CN");
	say(&c, "Hello there");
	assert_string_equal(c.res.lang, "en");
	conv_close(&c);
}

/* A confident intent with a KB entry of that intent is answered. */
static void
test_solve(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 3);
	say(&c, "hi");
	hit(&c, 7, "refund_status", "en", 0.8, REFUND_Q, REFUND_A);
	say_intent(&c, "when do I get my money back", "refund_status", 0.9);
	assert_int_equal(c.res.nreplies, 2);
	assert_string_equal(c.res.replies[0].text, REFUND_A);
	assert_string_equal(button_values(&c.res.replies[1]), "yes|no");
	assert_string_equal(c.res.intent, "refund_status");
	assert_true(c.res.confidence == 0.9);
	assert_string_equal(state_str(&c, "stage"), "follow_up");
	assert_string_equal(state_str(&c, "topic"), "refund_status");
	assert_string_equal(c.res.status, "bot");
	/* The follow-up reminder is set; from welcome nothing to cancel. */
	assert_int_equal(timer_set(&c, "followup"), c.now + 300 * 1000);
	assert_int_equal(c.res.ncancel, 0);

	/* Yes -> rating -> thanks; the rating resolves it. */
	press(&c, "yes");
	assert_string_equal(state_str(&c, "stage"), "csat");
	assert_string_equal(button_values(&c.res.replies[0]), "1|2|3|4|5");
	assert_true(timer_cancelled(&c, "followup"));
	assert_int_equal(timer_set(&c, "resolve"), c.now + 900 * 1000);
	say(&c, "4 stars");
	assert_int_equal(c.res.csat, 4);
	assert_string_equal(c.res.status, "resolved");
	assert_int_equal(state_int(&c, "csat"), 4);
	assert_true(timer_cancelled(&c, "resolve"));
	assert_int_equal(c.res.ntimers, 0);
	conv_close(&c);
}

/* Between the thresholds, or when the entry is not the intent: confirm. */
static void
test_confirm_kb(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 4);
	say(&c, "hi");
	hit(&c, 7, "refund_status", "en", 0.7, REFUND_Q, REFUND_A);
	say_intent(&c, "money", "refund_status", 0.45);
	assert_int_equal(c.res.nreplies, 1);
	assert_true(reply_has(&c, 0, "\"" REFUND_Q "\""));
	assert_string_equal(button_values(&c.res.replies[0]), "yes|no");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	assert_int_equal(c.res.ntimers, 0);

	/* "Yes" (no KB hits of its own) answers with the pending entry. */
	say(&c, "yes");
	assert_string_equal(c.res.replies[0].text, REFUND_A);
	assert_string_equal(c.res.intent, "refund_status");
	assert_string_equal(state_str(&c, "stage"), "follow_up");

	/* Confident, but the only entry is about something else. */
	hit(&c, 9, "invoice", "en", 0.7, "How do I get an invoice?", "...");
	say_intent(&c, "where's my refund", "refund_status", 0.95);
	assert_string_equal(state_str(&c, "stage"), "confirm");
	assert_true(reply_has(&c, 0, "invoice"));
	/* "No" is a failure: rephrase. */
	press(&c, "no");
	assert_string_equal(c.res.intent, "deny");
	assert_string_equal(state_str(&c, "stage"), "solve");
	assert_int_equal(state_int(&c, "failures"), 1);

	/* Out of scope with a KB hit: confirm, never answer outright. */
	hit(&c, 7, "refund_status", "en", 0.9, REFUND_Q, REFUND_A);
	say(&c, "refund take how long");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	/* An entry without intent (a topic the model does not know) is
	 * given outright only if it matches very well. */
	hit(&c, 11, NULL, "en", 0.93, "Which couriers do you use?",
	    "ZTO Express.");
	say_intent(&c, "which courier do you use", "complaint", 0.52);
	assert_string_equal(c.res.replies[0].text, "ZTO Express.");
	hit(&c, 11, NULL, "en", 0.7, "Which couriers do you use?",
	    "ZTO Express.");
	say(&c, "courier");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	/* Unsure model, very good entry of its intent: both agree. */
	hit(&c, 7, "refund_status", "en", 0.85, REFUND_Q, REFUND_A);
	say_intent(&c, "refund time", "refund_status", 0.45);
	assert_string_equal(c.res.replies[0].text, REFUND_A);
	/* A new question instead of yes or no is a new question. */
	hit(&c, 7, "refund_status", "en", 0.9, REFUND_Q, REFUND_A);
	say(&c, "refund take how long");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	hit(&c, 9, "invoice", "en", 0.8, "How do I get an invoice?",
	    "Invoices are in My Orders.");
	say_intent(&c, "I need an invoice", "invoice", 0.9);
	assert_string_equal(c.res.replies[0].text,
	    "Invoices are in My Orders.");
	conv_close(&c);
}

/* The entry of the classified intent wins if it is nearly as good. */
static void
test_kb_choice(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 5);
	say(&c, "hi");
	hit(&c, 1, "shipping_cost", "en", 0.80, "Shipping cost?", "Eight.");
	hit(&c, 2, "delivery_time", "en", 0.70, "Delivery time?", "2-4 days.");
	say_intent(&c, "shipping", "delivery_time", 0.9);
	assert_string_equal(c.res.replies[0].text, "2-4 days.");

	/* Much weaker: the best entry is only proposed. */
	hit(&c, 1, "shipping_cost", "en", 0.90, "Shipping cost?", "Eight.");
	hit(&c, 2, "delivery_time", "en", 0.40, "Delivery time?", "2-4 days.");
	say_intent(&c, "shipping", "delivery_time", 0.9);
	assert_string_equal(state_str(&c, "stage"), "confirm");
	assert_true(reply_has(&c, 0, "Shipping cost?"));

	/* Entries of the other language and below kb_min_score are out. */
	hit(&c, 3, "delivery_time", "zh-CN", 0.95, "多久发货？", "两天。");
	hit(&c, 2, "delivery_time", "en", 0.25, "Delivery time?", "2-4 days.");
	say_intent(&c, "shipping", "delivery_time", 0.9);
	assert_string_equal(state_str(&c, "stage"), "solve");
	assert_true(reply_has(&c, 0, "rephrase") ||
	    reply_has(&c, 0, "catch that"));
	conv_close(&c);
}

/* Failures: fallbacks up to max_failures, then a person. */
static void
test_unanswered(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 6);
	say(&c, "hi");
	say(&c, "blah blah");
	assert_int_equal(state_int(&c, "failures"), 1);
	assert_null(c.res.intent);
	/* A confident intent with nothing to answer it is a failure too. */
	say_intent(&c, "what about warranty", "warranty", 0.9);
	assert_int_equal(state_int(&c, "failures"), 2);
	assert_string_equal(c.res.intent, "warranty");
	say(&c, "qwerty");
	assert_string_equal(c.res.handoff_reason, "unanswered");
	assert_string_equal(c.res.status, "pending");
	assert_int_equal(c.res.after_hours, 0);
	assert_true(reply_has(&c, 0, "customer service team") ||
	    reply_has(&c, 0, "member of our team"));
	/* An answer resets the count. */
	event(&c, ENGINE_EV_HANDBACK);
	assert_int_equal(state_int(&c, "failures"), 0);
	conv_close(&c);
}

/* Order status: slot, confirmation, action, result. */
static void
test_order_confirm(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "zh-CN", 7);
	c.u.order_id = "20261125001";
	say_intent(&c, "我的订单20261125001到哪了", "order_status", 0.9);
	/* Welcome, then the confirmation with the slot filled in. */
	assert_int_equal(c.res.nreplies, 2);
	assert_true(reply_has(&c, 1,
	    "您是想查询订单 20261125001 的物流吗？") ||
	    reply_has(&c, 1, "请问是要帮您查询订单 20261125001 的状态吗？"));
	assert_string_equal(button_values(&c.res.replies[1]), "yes|no");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	assert_int_equal(c.res.nactions, 0);

	say(&c, "是的");
	assert_int_equal(c.res.nreplies, 0);
	assert_int_equal(c.res.nactions, 1);
	assert_string_equal(c.res.actions[0].name, "order_status");
	assert_string_equal(json_object_to_json_string_ext(
	    c.res.actions[0].params, JSON_C_TO_STRING_PLAIN),
	    "{\"order_id\":\"20261125001\"}");
	assert_string_equal(state_str(&c, "stage"), "action");
	assert_int_equal(timer_set(&c, "action"), c.now + 10000);

	action_result(&c, "order_status", ENGINE_ACTION_OK,
	    "{\"status\":\"in_transit\",\"carrier\":\"SF Express\","
	    "\"tracking\":\"SF1234567\",\"eta\":\"2026-11-28\"}");
	assert_int_equal(c.res.nreplies, 2);
	assert_string_equal(c.res.replies[0].text,
	    "订单 20261125001 当前状态：运输中。承运快递：SF Express。"
	    "运单号：SF1234567。预计送达：2026-11-28。");
	assert_string_equal(state_str(&c, "stage"), "follow_up");
	assert_true(timer_cancelled(&c, "action"));
	assert_true(timer_set(&c, "followup") > 0);

	/* A result nobody waits for any more changes nothing. */
	action_result(&c, "order_status", ENGINE_ACTION_OK,
	    "{\"status\":\"delivered\"}");
	assert_int_equal(c.res.nreplies, 0);
	assert_int_equal(c.res.ncancel + c.res.ntimers, 0);
	assert_string_equal(state_str(&c, "stage"), "follow_up");
	conv_close(&c);
}

/* A status the engine does not know is shown as the shop wrote it. */
static void
test_order_unknown_status(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 8);
	say(&c, "hi");
	c.u.order_id = "12345";
	say_intent(&c, "where is my order 12345", "order_status", 0.9);
	press(&c, "yes");
	action_result(&c, "order_status", ENGINE_ACTION_OK,
	    "{\"status\":\"Awaiting Customs\"}");
	assert_string_equal(c.res.replies[0].text,
	    "Order 12345 is \"Awaiting Customs\".");
	conv_close(&c);
}

/* Without a number the bot asks for one and validates the answer. */
static void
test_order_ask(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 9);
	say(&c, "hi");
	say_intent(&c, "where is my parcel", "order_status", 0.8);
	assert_string_equal(state_str(&c, "stage"), "ask_order");
	assert_true(reply_has(&c, 0, "order number"));
	assert_false(reply_has(&c, 0, "doesn't look like") ||
	    reply_has(&c, 0, "couldn't find an order number"));

	/* Not a number: asked again, a failure. */
	say(&c, "hmm I don't remember");
	assert_string_equal(state_str(&c, "stage"), "ask_order");
	assert_true(reply_has(&c, 0, "doesn't look like") ||
	    reply_has(&c, 0, "couldn't find an order number"));
	assert_int_equal(state_int(&c, "failures"), 1);

	/* A number given when asked is looked up without confirming. */
	c.u.order_id = "12345";
	say(&c, "12345");
	assert_int_equal(c.res.nreplies, 0);
	assert_int_equal(c.res.nactions, 1);

	/* No such order: ask again. */
	action_result(&c, "order_status", ENGINE_ACTION_NOT_FOUND, NULL);
	assert_true(reply_has(&c, 0, "couldn't find an order with the "
	    "number 12345"));
	assert_string_equal(state_str(&c, "stage"), "ask_order");

	/* "No" gives up the look-up. */
	say(&c, "no");
	assert_string_equal(state_str(&c, "stage"), "solve");
	assert_true(reply_has(&c, 0, "what else") ||
	    reply_has(&c, 0, "What would you like"));

	/* A confident other question while asked is a new question. */
	say_intent(&c, "where is it", "order_status", 0.9);
	hit(&c, 7, "refund_status", "en", 0.8, REFUND_Q, REFUND_A);
	say_intent(&c, "actually, my refund?", "refund_status", 0.9);
	assert_string_equal(c.res.replies[0].text, REFUND_A);
	conv_close(&c);
}

/* A failed look-up apologizes, offers a person, never guesses. */
static void
test_order_failed(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 10);
	say(&c, "hi");
	c.u.order_id = "12345";
	say_intent(&c, "track order 12345", "order_status", 0.9);
	press(&c, "yes");
	action_result(&c, "order_status", ENGINE_ACTION_FAILED, NULL);
	assert_int_equal(c.res.nreplies, 1);
	assert_true(reply_has(&c, 0, "can't reach our order system"));
	assert_string_equal(button_values(&c.res.replies[0]), "human|other");
	assert_string_equal(state_str(&c, "stage"), "offer");
	/* OK without a result is no answer either. */
	c.u.order_id = "12345";
	say_intent(&c, "order 12345 please", "order_status", 0.9);
	press(&c, "yes");
	action_result(&c, "order_status", ENGINE_ACTION_OK, NULL);
	assert_true(reply_has(&c, 0, "can't reach our order system"));
	/* Typing the button's title is pressing it. */
	say(&c, "Talk to a person");
	assert_string_equal(c.res.handoff_reason, "requested");

	/* The watchdog: the result never came. */
	event(&c, ENGINE_EV_HANDBACK);
	c.u.order_id = "12345";
	say_intent(&c, "track order 12345", "order_status", 0.9);
	press(&c, "yes");
	timer(&c, "action");
	assert_true(reply_has(&c, 0, "can't reach our order system"));
	assert_string_equal(state_str(&c, "stage"), "offer");
	conv_close(&c);
}

/* Silence after the follow-up: one reminder, then auto-resolve. */
static void
test_followup_timers(void **unused)
{
	struct conv	c;
	int64_t		due;

	(void)unused;
	conv_open(&c, "en", 11);
	say(&c, "hi");
	hit(&c, 7, "refund_status", "en", 0.8, REFUND_Q, REFUND_A);
	say_intent(&c, "refund?", "refund_status", 0.9);
	assert_true(timer_set(&c, "followup") > 0);

	timer(&c, "followup");
	assert_int_equal(c.res.nreplies, 1);
	assert_true(reply_has(&c, 0, "did that solve your problem"));
	assert_string_equal(button_values(&c.res.replies[0]), "yes|no");
	due = timer_set(&c, "resolve");
	assert_int_equal(due, c.now + 900 * 1000);
	assert_int_equal(state_int(&c, "reminded"), 1);
	/* A second reminder never goes. */
	timer(&c, "followup");
	assert_int_equal(c.res.nreplies, 0);

	timer(&c, "resolve");
	assert_int_equal(c.res.nreplies, 1);
	assert_true(reply_has(&c, 0, "closing this chat"));
	assert_string_equal(c.res.status, "resolved");
	assert_string_equal(c.res.intent, "auto_resolved");

	/* Timers in a stage that does not wait for them are ignored. */
	timer(&c, "resolve");
	assert_int_equal(c.res.nreplies, 0);
	assert_string_equal(c.res.status, "resolved");

	/* The reminder's buttons work; an answer cancels the timers. */
	say(&c, "hi");
	hit(&c, 7, "refund_status", "en", 0.8, REFUND_Q, REFUND_A);
	say_intent(&c, "refund?", "refund_status", 0.9);
	timer(&c, "followup");
	press(&c, "no");
	assert_string_equal(state_str(&c, "stage"), "offer");
	assert_true(timer_cancelled(&c, "resolve"));
	assert_true(timer_cancelled(&c, "followup"));
	assert_int_equal(c.res.ntimers, 0);

	/* An agent's resolve asks for a rating, then closes unrated. */
	event(&c, ENGINE_EV_RESOLVED);
	assert_string_equal(state_str(&c, "stage"), "csat");
	assert_int_equal(timer_set(&c, "resolve"), c.now + 900 * 1000);
	timer(&c, "resolve");
	assert_string_equal(c.res.status, "resolved");
	conv_close(&c);
}

/* Every handoff rule, each with its reason. */
static void
test_handoff_rules(void **unused)
{
	struct engine_config	cfg;
	struct conv		c;
	const char		*only[] = { "complaint", "legal" };

	(void)unused;
	default_config(&cfg, NULL, "en");
	cfg.human_only = only;
	cfg.nhuman_only = 2;
	conv_open_cfg(&c, &cfg, 12);

	say(&c, "hi");
	say(&c, "can I talk to a real person");
	assert_string_equal(c.res.handoff_reason, "requested");
	assert_string_equal(c.res.intent, "human");
	event(&c, ENGINE_EV_HANDBACK);

	/* The NLU's "human", confidently; unsure: an offer. */
	say_intent(&c, "let me speak with your staff", "human", 0.9);
	assert_string_equal(c.res.handoff_reason, "requested");
	event(&c, ENGINE_EV_HANDBACK);
	say_intent(&c, "someone else maybe", "human", 0.4);
	assert_null(c.res.handoff_reason);
	assert_string_equal(state_str(&c, "stage"), "offer");

	/* Strong negative sentiment, whatever the intent. */
	c.u.sentiment = -0.8;
	hit(&c, 7, "refund_status", "en", 0.8, REFUND_Q, REFUND_A);
	say_intent(&c, "this is terrible, where is my refund", "refund_status",
	    0.9);
	assert_string_equal(c.res.handoff_reason, "sentiment");
	assert_true(c.res.sentiment == -0.8);
	assert_true(reply_has(&c, 0, "sorry"));
	event(&c, ENGINE_EV_HANDBACK);
	/* Mildly negative is not enough. */
	c.u.sentiment = -0.3;
	hit(&c, 7, "refund_status", "en", 0.8, REFUND_Q, REFUND_A);
	say_intent(&c, "my refund is late", "refund_status", 0.9);
	assert_null(c.res.handoff_reason);

	/* Human-only intents. */
	say_intent(&c, "I want to make a complaint", "complaint", 0.7);
	assert_string_equal(c.res.handoff_reason, "human_only");
	assert_string_equal(c.res.intent, "complaint");
	assert_true(reply_has(&c, 0, "personally"));
	/* Handed off: silence, whatever comes. */
	say(&c, "human!!");
	assert_int_equal(c.res.nreplies, 0);
	assert_null(c.res.handoff_reason);
	c.u.sentiment = -1;
	say(&c, "hello??? this is awful");
	assert_int_equal(c.res.nreplies, 0);
	assert_int_equal(c.res.ntimers + c.res.ncancel, 0);
	assert_string_equal(c.res.status, "pending");
	timer(&c, "followup");
	assert_int_equal(c.res.nreplies, 0);
	conv_close(&c);

	/* handoff_sentiment -1 turns the rule off. */
	default_config(&cfg, NULL, "en");
	cfg.handoff_sentiment = -1;
	conv_open_cfg(&c, &cfg, 13);
	say(&c, "hi");
	c.u.sentiment = -1;
	say(&c, "awful awful awful");
	assert_null(c.res.handoff_reason);
	conv_close(&c);
}

/* Outside business hours a handoff says when people are back. */
static void
test_business_hours(void **unused)
{
	struct engine_config	cfg;
	struct conv		c;
	int64_t			next;

	(void)unused;
	default_config(&cfg, NULL, "en");
	cfg.hours.timezone = "Asia/Shanghai";
	cfg.hours.days = 0x1f;		/* Monday to Friday */
	cfg.hours.open = 9 * 60;
	cfg.hours.close = 18 * 60;
	cfg.welcome_idle = 30 * 86400;
	conv_open_cfg(&c, &cfg, 14);

	/* Friday 17:00 in Shanghai: open. */
	assert_int_equal(engine_hours_open(c.e, T0, &next), 1);
	say(&c, "human");
	assert_string_equal(c.res.handoff_reason, "requested");
	assert_int_equal(c.res.after_hours, 0);
	event(&c, ENGINE_EV_HANDBACK);

	/* Friday 19:00: closed until Monday 09:00 (01:00 UTC). */
	c.now = T0 + 2 * 3600 * 1000;
	assert_int_equal(engine_hours_open(c.e, c.now, &next), 0);
	assert_int_equal(next, INT64_C(1709514000000));
	say(&c, "human");
	assert_string_equal(c.res.handoff_reason, "requested");
	assert_int_equal(c.res.after_hours, 1);
	assert_int_equal(c.res.back_at, INT64_C(1709514000000));
	assert_string_equal(c.res.status, "pending");
	assert_string_equal(c.res.replies[0].text,
	    "Our customer service team is offline right now. They'll be "
	    "back on Monday at 09:00 (China time), and someone will reply "
	    "here as soon as they're back. Your conversation is in the "
	    "queue, so there's no need to write again.");
	event(&c, ENGINE_EV_HANDBACK);

	/* Tuesday 07:00: back today; Tuesday 20:00: tomorrow. */
	c.now = INT64_C(1709593200000) - 5000;	/* Tue 07:00 +08 */
	c.u.sentiment = -0.9;
	say(&c, "你们太差劲了");
	assert_string_equal(c.res.handoff_reason, "sentiment");
	assert_string_equal(c.res.replies[0].text,
	    "非常抱歉给您带来不好的体验。现在是非工作时间，人工客服暂时不在线。"
	    "客服将于今天 09:00（北京时间）上班，届时会第一时间在这里回复您。"
	    "您的会话已在排队，无需重复发送。");
	assert_int_equal(engine_hours_open(c.e,
	    INT64_C(1709640000000), &next), 0);	/* Tue 20:00 +08 */
	assert_int_equal(next, INT64_C(1709686800000));	/* Wed 09:00 */
	assert_int_equal(engine_hours_open(c.e,
	    INT64_C(1709600400000), NULL), 1);	/* Tue 09:00 */
	assert_int_equal(engine_hours_open(c.e,
	    INT64_C(1709632800000), NULL), 0);	/* Tue 18:00 */
	conv_close(&c);

	/* A zone with daylight saving: Berlin, weekends 10:00-16:00. */
	default_config(&cfg, NULL, "en");
	cfg.hours.timezone = "Europe/Berlin";
	cfg.hours.days = 0x60;
	cfg.hours.open = 10 * 60;
	cfg.hours.close = 16 * 60;
	conv_open_cfg(&c, &cfg, 15);
	/* Sat 2024-03-30 17:00 CET: next is Sun 10:00 CEST (08:00 UTC). */
	assert_int_equal(engine_hours_open(c.e, INT64_C(1711814400000),
	    &next), 0);
	assert_int_equal(next, INT64_C(1711872000000));
	/* Sat 2024-03-30 09:30 CET is before opening, 10:30 after. */
	assert_int_equal(engine_hours_open(c.e, INT64_C(1711787400000),
	    &next), 0);
	assert_int_equal(next, INT64_C(1711789200000));
	assert_int_equal(engine_hours_open(c.e, INT64_C(1711791000000),
	    NULL), 1);
	conv_close(&c);

	/* No days: always open. */
	conv_open(&c, "en", 16);
	assert_int_equal(engine_hours_open(c.e, T0, &next), 1);
	conv_close(&c);
}

/* Greetings, thanks and goodbyes. */
static void
test_small_talk(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 17);
	say(&c, "hello!");
	assert_string_equal(c.res.intent, "greeting");
	assert_int_equal(c.res.nreplies, 1);
	say_intent(&c, "cheers, much appreciated", "thanks", 0.9);
	assert_string_equal(c.res.intent, "thanks");
	assert_string_equal(state_str(&c, "stage"), "welcome");
	assert_int_equal(state_int(&c, "failures"), 0);
	say_intent(&c, "ok bye now", "goodbye", 0.9);
	assert_string_equal(c.res.intent, "goodbye");
	assert_string_equal(c.res.status, "resolved");
	assert_true(reply_has(&c, 0, "Goodbye"));
	/* The next message starts afresh. */
	say(&c, "hey");
	assert_string_equal(state_str(&c, "stage"), "welcome");
	assert_string_equal(c.res.status, "bot");
	conv_close(&c);
}

/* The knowledge base is searched only when the engine could use it. */
static void
test_wants_kb(void **unused)
{
	struct conv		c;
	struct nlu_result	n;

	(void)unused;
	conv_open(&c, "en", 19);
	memset(&n, 0, sizeof n);
	assert_true(engine_wants_kb(c.e, NULL, NULL));
	assert_true(engine_wants_kb(c.e, NULL, &n));
	assert_false(engine_wants_kb(c.e, "yes", &n));
	n.intent = (char *)"thanks";
	n.confidence = 0.9;
	assert_false(engine_wants_kb(c.e, NULL, &n));
	n.confidence = 0.5;
	assert_true(engine_wants_kb(c.e, NULL, &n));
	n.intent = (char *)"refund_status";
	n.confidence = 0.99;
	assert_true(engine_wants_kb(c.e, NULL, &n));
	conv_close(&c);
}

/* After welcome_idle of silence the customer is welcomed again. */
static void
test_idle_welcome(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 18);
	say(&c, "hi");
	say(&c, "blah");
	assert_int_equal(state_int(&c, "failures"), 1);
	c.now += 3600 * 1000;
	hit(&c, 9, "invoice", "en", 0.9, "How do I get an invoice?",
	    "Invoices are in My Orders.");
	say_intent(&c, "How do I get an invoice?", "invoice", 0.95);
	assert_int_equal(c.res.nreplies, 3);
	assert_true(reply_has(&c, 0, "Kefu Demo Shop"));
	assert_string_equal(c.res.replies[1].text,
	    "Invoices are in My Orders.");
	assert_int_equal(state_int(&c, "failures"), 0);
	conv_close(&c);
}

/* Copy the files of one directory level (and its subdirectories). */
static void
copy_tree(const char *from, const char *to)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		*src, *dst, buf[8192];
	FILE		*in, *out;
	size_t		 n;

	assert_int_equal(mkdir(to, 0700), 0);
	d = opendir(from);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		src = xasprintf("%s/%s", from, de->d_name);
		dst = xasprintf("%s/%s", to, de->d_name);
		assert_int_equal(stat(src, &sb), 0);
		if (S_ISDIR(sb.st_mode))
			copy_tree(src, dst);
		else {
			in = fopen(src, "r");
			out = fopen(dst, "w");
			assert_non_null(in);
			assert_non_null(out);
			while ((n = fread(buf, 1, sizeof buf, in)) > 0)
				assert_int_equal(fwrite(buf, 1, n, out), n);
			fclose(in);
			fclose(out);
		}
		free(src);
		free(dst);
	}
	closedir(d);
}

/* Remove a directory tree made by a test. */
static void
remove_tree(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		*p;

	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(path);
}

/* Write a whole file. */
static void
write_file(const char *dir, const char *name, const char *text)
{
	char	*path;
	FILE	*f;

	path = xasprintf("%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
	free(path);
}

/* A copy of the real templates in a temporary directory; caller frees. */
static char *
temp_templates(char **base)
{
	char	*real, *dir, tmpl[] = "/tmp/kefu-test-engine.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	*base = xstrdup(tmpl);
	real = top_path("templates");
	dir = xasprintf("%s/templates", tmpl);
	copy_tree(real, dir);
	free(real);
	return (dir);
}

/* The text of the first reply to "hi" in a new conversation; caller frees. */
static char *
first_welcome(struct engine *e, const char *channel, int64_t id)
{
	struct engine_event	 ev;
	struct engine_result	 res;
	char			*cause = NULL, *text;

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_MESSAGE;
	ev.now = T0;
	ev.channel = channel;
	ev.text = "hi";
	ev.conversation_id = id;
	if (engine_step(e, NULL, &ev, &res, &cause) != 0)
		fail_msg("engine_step: %s", cause);
	assert_true(res.nreplies >= 1);
	text = xstrdup(res.replies[0].text);
	engine_result_clear(&res);
	return (text);
}

/* A broken template makes the reload fail and keeps the old templates. */
static void
test_reload(void **unused)
{
	struct engine	*e;
	char		*base, *dir, *cause = NULL, *before, *after;

	(void)unused;
	dir = temp_templates(&base);
	e = new_engine(dir, "en", &cause);
	assert_non_null(e);
	before = first_welcome(e, "websocket", 1);
	assert_non_null(strstr(before, "Kefu Demo Shop"));

	write_file(dir, "en/welcome.mustache",
	    "Hello\n---\nline two\nline three {{#customer.name}} oops\n");
	assert_int_equal(engine_reload(e, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "en/welcome.mustache:4:"));
	free(cause);
	cause = NULL;
	after = first_welcome(e, "websocket", 1);
	assert_string_equal(after, before);
	free(after);

	write_file(dir, "en/welcome.mustache", "Hi\n[[button yes]]\n");
	assert_int_equal(engine_reload(e, &cause), -1);
	assert_non_null(strstr(cause, "en/welcome.mustache:2: bad button"));
	free(cause);
	cause = NULL;

	write_file(dir, "en/welcome.mustache", "Howdy, partner.\n");
	write_file(dir, "zh-CN/thanks.mustache", "");
	assert_int_equal(engine_reload(e, &cause), -1);
	assert_non_null(strstr(cause, "zh-CN/thanks.mustache"));
	free(cause);
	cause = NULL;
	after = first_welcome(e, "websocket", 1);
	assert_string_equal(after, before);
	free(after);

	write_file(dir, "zh-CN/thanks.mustache", "谢谢！\n");
	if (engine_reload(e, &cause) != 0)
		fail_msg("reload: %s", cause);
	after = first_welcome(e, "websocket", 1);
	assert_string_equal(after, "Howdy, partner.");
	free(after);
	free(before);
	engine_free(e);

	/* engine_new refuses a broken set outright. */
	write_file(dir, "en/csat.mustache", "{{/nothing}}\n");
	assert_null(new_engine(dir, "en", &cause));
	assert_non_null(strstr(cause, "en/csat.mustache:1:"));
	free(cause);

	remove_tree(base);
	free(base);
	free(dir);
}

/* Channel overrides win for their channel; variants vary reproducibly. */
static void
test_overrides_and_variants(void **unused)
{
	struct engine		*e;
	struct engine_event	 ev;
	struct engine_result	 res;
	char			*base, *dir, *sub, *cause = NULL, *text;
	int			 seen[3] = { 0, 0, 0 };
	int64_t			 id;

	(void)unused;
	dir = temp_templates(&base);
	sub = xasprintf("%s/en/telegram", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(sub, "welcome.mustache",
	    "Telegram hello{{#customer.name}}, {{& customer.name}}"
	    "{{/customer.name}}!\n[[button human|Talk to {{lang}} agent]]\n");
	write_file(dir, "en/handback.mustache", "A\n---\nB\n---\nC\n");
	e = new_engine(dir, "en", &cause);
	assert_non_null(e);

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_MESSAGE;
	ev.now = T0;
	ev.channel = "telegram";
	ev.text = "hi";
	ev.customer_name = "Bob <b>";
	ev.conversation_id = 5;
	assert_int_equal(engine_step(e, NULL, &ev, &res, &cause), 0);
	assert_string_equal(res.replies[0].text, "Telegram hello, Bob <b>!");
	assert_int_equal(res.replies[0].nbuttons, 1);
	assert_string_equal(res.replies[0].buttons[0].title,
	    "Talk to en agent");
	assert_string_equal(res.replies[0].buttons[0].value, "human");
	engine_result_clear(&res);

	text = first_welcome(e, "websocket", 5);
	assert_non_null(strstr(text, "Kefu Demo Shop"));
	free(text);

	/* Three variants: the same conversation and turn always pick the
	 * same one, and across conversations every one turns up. */
	ev.type = ENGINE_EV_HANDBACK;
	ev.channel = "websocket";
	ev.text = NULL;
	for (id = 1; id <= 60; id++) {
		ev.conversation_id = id;
		assert_int_equal(engine_step(e, NULL, &ev, &res, &cause), 0);
		assert_int_equal(res.nreplies, 1);
		text = xstrdup(res.replies[0].text);
		engine_result_clear(&res);
		assert_int_equal(engine_step(e, NULL, &ev, &res, &cause), 0);
		assert_string_equal(res.replies[0].text, text);
		engine_result_clear(&res);
		assert_true(text[0] >= 'A' && text[0] <= 'C' &&
		    text[1] == '\0');
		seen[text[0] - 'A'] = 1;
		free(text);
	}
	assert_true(seen[0] && seen[1] && seen[2]);

	engine_free(e);
	remove_tree(base);
	free(base);
	free(dir);
	free(sub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_language),
		cmocka_unit_test(test_solve),
		cmocka_unit_test(test_confirm_kb),
		cmocka_unit_test(test_kb_choice),
		cmocka_unit_test(test_unanswered),
		cmocka_unit_test(test_order_confirm),
		cmocka_unit_test(test_order_unknown_status),
		cmocka_unit_test(test_order_ask),
		cmocka_unit_test(test_order_failed),
		cmocka_unit_test(test_followup_timers),
		cmocka_unit_test(test_handoff_rules),
		cmocka_unit_test(test_business_hours),
		cmocka_unit_test(test_small_talk),
		cmocka_unit_test(test_idle_welcome),
		cmocka_unit_test(test_wants_kb),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_overrides_and_variants),
	};

	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
