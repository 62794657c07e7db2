/*
 * Tests for the dialogue engine and the demo FAQ search.  The engine runs
 * on the real templates and FAQ from $top_srcdir; tests that change
 * templates work on a copy in a temporary directory.  Whole conversations
 * are in tests/transcripts; these tests check the pieces: the state JSON,
 * language detection, each stage's transitions, the silence while pending,
 * reloading, channel overrides and variants, and the FAQ ranking.
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
#include "faq.h"
#include "log.h"
#include "xmalloc.h"

#define T0	INT64_C(1709283600000)

/* One conversation driven by a test. */
struct conv {
	struct engine		*e;
	char			*state;
	struct engine_result	 res;
	int64_t			 now;
	int64_t			 id;
	const char		*channel;
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

/* An engine on the given templates directory (NULL: the real one). */
static struct engine *
new_engine(const char *templates, const char *lang, char **cause)
{
	struct engine_config	 cfg;
	struct engine		*e;
	char			*tdir, *faq;

	tdir = templates != NULL ? xstrdup(templates) : top_path("templates");
	faq = top_path("etc/demo/faq.json");
	memset(&cfg, 0, sizeof cfg);
	cfg.templates_dir = tdir;
	cfg.faq_path = faq;
	cfg.default_lang = lang;
	cfg.welcome_idle = 3600;
	cfg.max_failures = 2;
	cfg.answer_threshold = 0.5;
	cfg.confirm_threshold = 0.25;
	e = engine_new(&cfg, cause);
	free(tdir);
	free(faq);
	return (e);
}

/* Start a conversation on a fresh engine with the real templates. */
static void
conv_open(struct conv *c, const char *lang, int64_t id)
{
	char	*cause = NULL;

	memset(c, 0, sizeof *c);
	c->e = new_engine(NULL, lang, &cause);
	if (c->e == NULL)
		fail_msg("engine_new: %s", cause);
	c->now = T0;
	c->id = id;
	c->channel = "websocket";
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
conv_event(struct conv *c, enum engine_event_type type, const char *text,
    const char *value)
{
	struct engine_event	 ev;
	char			*cause = NULL;

	memset(&ev, 0, sizeof ev);
	ev.type = type;
	c->now += 5000;
	ev.now = c->now;
	ev.channel = c->channel;
	ev.text = text;
	ev.value = value;
	ev.conversation_id = c->id;
	engine_result_clear(&c->res);
	if (engine_step(c->e, c->state, &ev, &c->res, &cause) != 0)
		fail_msg("engine_step: %s", cause);
	free(c->state);
	c->state = xstrdup(c->res.state);
}

/* The customer writes text. */
static void
say(struct conv *c, const char *text)
{
	conv_event(c, ENGINE_EV_MESSAGE, text, NULL);
}

/* The customer presses a button. */
static void
press(struct conv *c, const char *value)
{
	conv_event(c, ENGINE_EV_MESSAGE, NULL, value);
}

/* A member of the current state, as a string ("" if absent); static. */
static const char *
state_str(const struct conv *c, const char *key)
{
	static char		 buf[256];
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
	assert_int_equal(state_int(&c, "v"), 1);

	say(&c, "How much does shipping cost?");
	assert_int_equal(state_int(&c, "turn"), 2);
	assert_string_equal(state_str(&c, "stage"), "follow_up");
	assert_string_equal(state_str(&c, "faq"), "shipping_cost");
	assert_int_equal(c.res.nreplies, 2);

	/* A state from elsewhere is honoured... */
	free(c.state);
	c.state = xstrdup("{\"v\":1,\"stage\":\"confirm\",\"lang\":\"zh-CN\","
	    "\"turn\":9,\"failures\":1,\"last\":0,\"faq\":\"invoice\"}");
	say(&c, "是的");
	assert_string_equal(c.res.lang, "zh-CN");
	assert_string_equal(state_str(&c, "stage"), "follow_up");
	assert_string_equal(c.res.intent, "invoice");
	assert_int_equal(state_int(&c, "turn"), 10);
	assert_int_equal(state_int(&c, "failures"), 0);
	assert_non_null(strstr(c.res.replies[0].text, "电子普通发票"));

	/* ...and a damaged one starts afresh rather than failing. */
	free(c.state);
	c.state = xstrdup("{\"stage\": [unterminated");
	say(&c, "hello");
	assert_int_equal(state_int(&c, "turn"), 1);
	assert_string_equal(state_str(&c, "stage"), "welcome");
	assert_int_equal(c.res.nreplies, 1);
	conv_close(&c);
}

/* Han characters mean Chinese, Latin letters English, else the default. */
static void
test_language(void **unused)
{
	struct conv	c;
	size_t		han, latin;
	char		*s;

	(void)unused;
	conv_open(&c, "en", 1);
	say(&c, "你好");
	assert_string_equal(c.res.lang, "zh-CN");
	assert_non_null(strstr(c.res.replies[0].text, "客服演示商城"));
	say(&c, "ＨＥＬＬＯ");
	assert_string_equal(c.res.lang, "en");
	say(&c, "12345");
	assert_string_equal(c.res.lang, "en");
	conv_close(&c);

	conv_open(&c, "zh-CN", 2);
	say(&c, "１２３");
	assert_string_equal(c.res.lang, "zh-CN");
	say(&c, "How do I reset my password?");
	assert_string_equal(c.res.lang, "en");
	say(&c, "退款多久到账");
	assert_string_equal(c.res.lang, "zh-CN");
	/* A short typed answer does not switch the language. */
	say(&c, "yes");
	assert_string_equal(c.res.lang, "zh-CN");
	assert_string_equal(state_str(&c, "stage"), "csat");
	conv_close(&c);

	s = faq_normalize("ＡＢＣ１２３ Ｓｈｉｐｐｉｎｇ");
	assert_string_equal(s, "abc123 shipping");
	free(s);
	assert_null(faq_normalize("bad \xff utf-8"));
	faq_script("退款 refund ２", &han, &latin);
	assert_int_equal(han, 2);
	assert_int_equal(latin, 6);
}

/* welcome -> solve -> follow_up -> csat -> resolved, and afresh after. */
static void
test_stages_solve(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 1);
	say(&c, "Hello!");
	assert_int_equal(c.res.nreplies, 1);
	assert_string_equal(c.res.status, "bot");
	assert_string_equal(c.res.intent, "greeting");
	assert_int_equal(c.res.replies[0].author, AUTHOR_BOT);

	say(&c, "I forgot my password");
	assert_int_equal(c.res.nreplies, 2);
	assert_non_null(strstr(c.res.replies[0].text, "Forgot password"));
	assert_string_equal(button_values(&c.res.replies[1]), "yes|no");
	assert_string_equal(c.res.intent, "password_reset");
	assert_true(c.res.confidence >= 0.5 && c.res.confidence <= 1.0);

	press(&c, "yes");
	assert_string_equal(state_str(&c, "stage"), "csat");
	/* Open until rated, so that the rating reaches this conversation. */
	assert_string_equal(c.res.status, "bot");
	assert_int_equal(c.res.nreplies, 1);
	assert_string_equal(button_values(&c.res.replies[0]), "1|2|3|4|5");

	say(&c, "4 stars");
	assert_string_equal(state_str(&c, "stage"), "resolved");
	assert_string_equal(c.res.status, "resolved");
	assert_int_equal(state_int(&c, "csat"), 4);
	assert_string_equal(c.res.intent, "csat");

	/* After resolved a message starts afresh: welcome, then the answer. */
	say(&c, "Do you ship internationally?");
	assert_string_equal(c.res.status, "bot");
	assert_int_equal(c.res.nreplies, 3);
	assert_non_null(strstr(c.res.replies[0].text, "Kefu Demo Shop"));
	assert_string_equal(c.res.intent, "shipping_international");
	assert_int_equal(state_int(&c, "csat"), -1);
	conv_close(&c);
}

/* confirm: yes answers, no falls back; then follow_up's "no" path. */
static void
test_stages_confirm(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 1);
	say(&c, "hi");
	say(&c, "where do I find my bill");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	assert_string_equal(state_str(&c, "faq"), "invoice");
	assert_true(c.res.confidence >= 0.25 && c.res.confidence < 0.5);
	assert_non_null(strstr(c.res.replies[0].text,
	    "How do I get an invoice?"));
	assert_string_equal(button_values(&c.res.replies[0]), "yes|no");

	say(&c, "Yes, that's it");		/* the button's title typed */
	assert_string_equal(state_str(&c, "stage"), "follow_up");
	assert_non_null(strstr(c.res.replies[0].text, "electronic invoice"));

	press(&c, "no");
	assert_string_equal(state_str(&c, "stage"), "offer");
	assert_string_equal(button_values(&c.res.replies[0]), "human|other");
	say(&c, "something else");
	assert_string_equal(state_str(&c, "stage"), "solve");
	assert_int_equal(c.res.nreplies, 1);

	say(&c, "where do I find my bill");
	assert_string_equal(state_str(&c, "stage"), "confirm");
	say(&c, "no");
	assert_string_equal(state_str(&c, "stage"), "solve");
	assert_int_equal(state_int(&c, "failures"), 1);
	assert_string_equal(c.res.status, "bot");
	assert_null(c.res.handoff_reason);

	/* A new question instead of an answer is understood as one. */
	say(&c, "where do I find my bill");
	say(&c, "How do I cancel my order?");
	assert_string_equal(c.res.intent, "cancel_order");
	assert_string_equal(state_str(&c, "stage"), "follow_up");

	/* follow_up "no", then "yes" to the offer of a person. */
	say(&c, "didn't help");
	assert_string_equal(state_str(&c, "stage"), "offer");
	say(&c, "yes please");
	assert_string_equal(c.res.status, "pending");
	assert_string_equal(c.res.handoff_reason, "requested");
	conv_close(&c);
}

/* max_failures fallbacks, then a handoff for "unanswered". */
static void
test_stages_fallback(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 1);
	say(&c, "xyzzy plugh");
	assert_int_equal(c.res.nreplies, 2);	/* welcome, fallback */
	assert_int_equal(state_int(&c, "failures"), 1);
	assert_string_equal(c.res.status, "bot");
	say(&c, "frobnicate the quux");
	assert_int_equal(state_int(&c, "failures"), 2);
	assert_string_equal(c.res.status, "bot");
	assert_null(c.res.handoff_reason);
	say(&c, "blorp");
	assert_string_equal(c.res.status, "pending");
	assert_string_equal(c.res.handoff_reason, "unanswered");
	assert_string_equal(state_str(&c, "stage"), "handoff");
	assert_int_equal(c.res.nreplies, 1);
	assert_non_null(strstr(c.res.replies[0].text, "team"));
	conv_close(&c);

	/* An answer in between resets the count. */
	conv_open(&c, "en", 2);
	say(&c, "xyzzy plugh");
	say(&c, "frobnicate the quux");
	say(&c, "How long does delivery take?");
	assert_int_equal(state_int(&c, "failures"), 0);
	say(&c, "blorp");
	assert_string_equal(c.res.status, "bot");
	conv_close(&c);
}

/* Explicit requests for a person, in both languages and by button. */
static void
test_stages_human(void **unused)
{
	static const char	*asks[] = {
		"人工", "转人工", "我要找真人", "human please",
		"Can I speak to an agent?", "I want to talk to a real person",
		"operator!", "let me talk to someone"
	};
	struct conv		 c;
	size_t			 i;

	(void)unused;
	for (i = 0; i < sizeof asks / sizeof asks[0]; i++) {
		conv_open(&c, "en", (int64_t)i + 1);
		say(&c, "hi");
		say(&c, asks[i]);
		if (c.res.handoff_reason == NULL)
			fail_msg("not a handoff: %s", asks[i]);
		assert_string_equal(c.res.handoff_reason, "requested");
		assert_string_equal(c.res.status, "pending");
		assert_string_equal(c.res.intent, "human");
		conv_close(&c);
	}

	/* Asking how to contact the shop is a question, not a request. */
	conv_open(&c, "en", 1);
	say(&c, "How can I contact customer service?");
	assert_null(c.res.handoff_reason);
	assert_string_equal(c.res.intent, "contact");
	press(&c, "human");
	assert_string_equal(c.res.handoff_reason, "requested");
	conv_close(&c);
}

/* Pending: no reply at all until a handback; resolved asks for a rating. */
static void
test_pending_silent(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "zh-CN", 1);
	say(&c, "转人工");
	assert_string_equal(c.res.status, "pending");
	assert_int_equal(c.res.nreplies, 2);

	say(&c, "在吗");
	assert_int_equal(c.res.nreplies, 0);
	assert_string_equal(c.res.status, "pending");
	assert_null(c.res.handoff_reason);
	say(&c, "人工");
	assert_int_equal(c.res.nreplies, 0);
	press(&c, "yes");
	assert_int_equal(c.res.nreplies, 0);
	c.now += INT64_C(5) * 3600 * 1000;	/* long silence: still quiet */
	say(&c, "运费多少钱");
	assert_int_equal(c.res.nreplies, 0);
	assert_string_equal(c.res.status, "pending");
	assert_int_equal(state_int(&c, "last"), c.now);

	conv_event(&c, ENGINE_EV_HANDBACK, NULL, NULL);
	assert_string_equal(c.res.status, "bot");
	assert_int_equal(c.res.nreplies, 1);
	assert_non_null(strstr(c.res.replies[0].text, "还有什么可以帮您"));
	say(&c, "好的，谢谢");
	assert_string_equal(c.res.intent, "thanks");
	assert_int_equal(c.res.nreplies, 1);
	assert_int_equal(state_int(&c, "failures"), 0);
	say(&c, "运费多少钱");
	assert_int_equal(c.res.nreplies, 2);	/* no second welcome */
	assert_string_equal(c.res.intent, "shipping_cost");

	say(&c, "转人工");
	assert_string_equal(c.res.status, "pending");
	conv_event(&c, ENGINE_EV_RESOLVED, NULL, NULL);
	assert_string_equal(c.res.status, "bot");
	assert_string_equal(state_str(&c, "stage"), "csat");
	assert_string_equal(button_values(&c.res.replies[0]), "1|2|3|4|5");
	say(&c, "五星");
	assert_int_equal(state_int(&c, "csat"), 5);
	assert_string_equal(c.res.status, "resolved");
	conv_close(&c);
}

/* A silence longer than welcome_idle brings the welcome back. */
static void
test_idle_welcome(void **unused)
{
	struct conv	c;

	(void)unused;
	conv_open(&c, "en", 1);
	say(&c, "hi");
	say(&c, "How do I return an item?");
	assert_int_equal(c.res.nreplies, 2);
	c.now += INT64_C(3599) * 1000 - 5000;
	say(&c, "How do I get an invoice?");
	assert_int_equal(c.res.nreplies, 2);
	c.now += INT64_C(3600) * 1000;
	say(&c, "How do I get an invoice?");
	assert_int_equal(c.res.nreplies, 3);
	assert_non_null(strstr(c.res.replies[0].text, "Kefu Demo Shop"));
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

/* The right FAQ entry ranks first for typical questions. */
static void
test_faq_ranking(void **unused)
{
	static const char	*cases[][3] = {
		{ "en", "How much does shipping cost?", "shipping_cost" },
		{ "en", "I forgot my password", "password_reset" },
		{ "en", "Where is my refund? It's been a week", "refund_time" },
		{ "en", "Do you accept Alipay?", "payment_methods" },
		{ "en", "my card was declined at checkout", "payment_failed" },
		{ "en", "I need to change the shipping address",
		    "change_address" },
		{ "en", "ＣＡＮＣＥＬ ＭＹ ＯＲＤＥＲ", "cancel_order" },
		{ "zh-CN", "退款多久能到账？", "refund_time" },
		{ "zh-CN", "怎么开发票", "invoice" },
		{ "zh-CN", "密码忘了怎么办", "password_reset" },
		{ "zh-CN", "你们发货到香港吗", "shipping_international" },
		{ "zh-CN", "我想换个尺码", "exchange" },
		{ "zh-CN", "快递到哪了", "track_order" }
	};
	struct faq		*faq;
	struct faq_match	 m[5];
	char			*path, *cause = NULL;
	size_t			 i, n, j;

	(void)unused;
	path = top_path("etc/demo/faq.json");
	faq = faq_load(path, &cause);
	if (faq == NULL)
		fail_msg("faq_load: %s", cause);
	free(path);
	assert_true(faq_count(faq) >= 30);

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		n = faq_search(faq, cases[i][0], cases[i][1], m, 5);
		if (n == 0 || strcmp(m[0].entry->id, cases[i][2]) != 0)
			fail_msg("\"%s\": got %s (%.3f), want %s", cases[i][1],
			    n > 0 ? m[0].entry->id : "nothing",
			    n > 0 ? m[0].score : 0.0, cases[i][2]);
		assert_string_equal(m[0].entry->lang, cases[i][0]);
		for (j = 0; j < n; j++) {
			assert_true(m[j].score > 0 && m[j].score <= 1);
			if (j > 0)
				assert_true(m[j].score <= m[j - 1].score);
		}
	}

	n = faq_search(faq, "en", "What's the weather like on Mars?", m, 5);
	assert_true(n == 0 || m[0].score < 0.25);
	assert_int_equal(faq_search(faq, "fr", "livraison", m, 5), 0);
	assert_int_equal(faq_search(faq, "en", "", m, 5), 0);
	faq_free(faq);
}

/* FAQ files with mistakes are refused with a useful message. */
static void
test_faq_errors(void **unused)
{
	char		 tmpl[] = "/tmp/kefu-test-faq.XXXXXX";
	char		*cause = NULL, *path;
	struct faq	*faq;

	(void)unused;
	assert_non_null(mkdtemp(tmpl));
	path = xasprintf("%s/faq.json", tmpl);

	write_file(tmpl, "faq.json", "{\"entries\": [\n"
	    "{\"id\":\"a\",\"lang\":\"en\",\"question\":\"Q\","
	    "\"answer\":\"A\"},\n"
	    "{\"id\":\"b\",\"lang\":\"en\",\"question\":\"Q\"}]}\n");
	assert_null(faq_load(path, &cause));
	assert_non_null(strstr(cause, "entry 2: missing or empty \"answer\""));
	free(cause);

	write_file(tmpl, "faq.json", "{\"entries\": [\n\n{\"id\": }]}\n");
	assert_null(faq_load(path, &cause));
	assert_non_null(strstr(cause, "faq.json:3:"));
	free(cause);

	write_file(tmpl, "faq.json", "{\"entries\": ["
	    "{\"id\":\"a\",\"lang\":\"en\",\"question\":\"Refund time\","
	    "\"answer\":\"A\"},"
	    "{\"id\":\"a\",\"lang\":\"en\",\"question\":\"Refund\","
	    "\"answer\":\"B\"}]}");
	assert_null(faq_load(path, &cause));
	assert_non_null(strstr(cause, "duplicate id \"a\""));
	free(cause);

	write_file(tmpl, "faq.json", "{\"entries\": ["
	    "{\"id\":\"a\",\"lang\":\"en\",\"question\":\"Is it?\","
	    "\"answer\":\"A\",\"keywords\":[\"to be\"]}]}");
	assert_null(faq_load(path, &cause));
	assert_non_null(strstr(cause, "no searchable words"));
	free(cause);

	write_file(tmpl, "faq.json", "{\"entries\": ["
	    "{\"id\":\"a\",\"lang\":\"en\",\"question\":\"Gift wrapping\","
	    "\"answer\":\"Yes.\",\"keywords\":[\"wrap a present\"]}]}");
	faq = faq_load(path, &cause);
	assert_non_null(faq);
	assert_int_equal(faq_count(faq), 1);
	assert_string_equal(faq_entry_at(faq, 0)->keywords[0],
	    "wrap a present");
	faq_free(faq);

	unlink(path);
	rmdir(tmpl);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_language),
		cmocka_unit_test(test_stages_solve),
		cmocka_unit_test(test_stages_confirm),
		cmocka_unit_test(test_stages_fallback),
		cmocka_unit_test(test_stages_human),
		cmocka_unit_test(test_pending_silent),
		cmocka_unit_test(test_idle_welcome),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_overrides_and_variants),
		cmocka_unit_test(test_faq_ranking),
		cmocka_unit_test(test_faq_errors),
	};

	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
