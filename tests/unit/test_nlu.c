/*
 * Tests for the NLU (src/nlu.c): normalization, language detection,
 * entities with their offsets, sentiment, training and classifying,
 * out of scope, determinism, the example files and the store, and the
 * accuracy on the shared data sets' dev splits (tests/data/nlu), each
 * against a floor a little under the measured figure (docs/quality.md).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "nlu.h"
#include "store.h"
#include "xmalloc.h"

/* A path under $top_srcdir; caller frees. */
static char *
srcpath(const char *rel)
{
	const char	*top = getenv("top_srcdir");

	if (top == NULL || *top == '\0')
		top = ".";
	return (xasprintf("%s/%s", top, rel));
}

/* A temporary directory for files and a store; caller frees. */
static char *
tmpdir(void)
{
	char	*d = xstrdup("/tmp/kefu-test-nlu-XXXXXX");

	if (mkdtemp(d) == NULL)
		fail_msg("mkdtemp failed");
	return (d);
}

/* Remove a temporary directory and the files in it. */
static void
rmtree(char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

/* Write a file in dir; returns its path (caller frees). */
static char *
write_file(const char *dir, const char *name, const char *content)
{
	char	*path = xasprintf("%s/%s", dir, name);
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fail_msg("cannot write %s", path);
	fputs(content, f);
	fclose(f);
	return (path);
}

/* A small bilingual training set. */
static const struct nlu_example small_set[] = {
	{ "where is my order", "order_status", "en" },
	{ "track my package", "order_status", "en" },
	{ "has my order shipped yet", "order_status", "en" },
	{ "my parcel has not arrived", "order_status", "en" },
	{ "我的订单到哪了", "order_status", "zh-CN" },
	{ "查一下物流", "order_status", "zh-CN" },
	{ "I want a refund", "refund", "en" },
	{ "give me my money back", "refund", "en" },
	{ "when will I get the refund", "refund", "en" },
	{ "refund status please", "refund", "en" },
	{ "我要退款", "refund", "zh-CN" },
	{ "退款什么时候到账", "refund", "zh-CN" },
	{ "hello", "greeting", "en" },
	{ "hi there", "greeting", "en" },
	{ "good morning", "greeting", "en" },
	{ "你好", "greeting", "zh-CN" },
	{ "在吗", "greeting", "zh-CN" },
	{ "what is the weather today", "oos", "en" },
	{ "tell me a joke", "oos", "en" },
	{ "play some music", "", "en" },
	{ "今天天气怎么样", "oos", "zh-CN" },
	{ "讲个笑话", "oos", "zh-CN" },
};
#define SMALL_N	(sizeof small_set / sizeof small_set[0])

/* Train the small set; fails the test if training fails. */
static struct nlu *
small_model(const struct nlu_options *o)
{
	struct nlu	*m;
	char		*cause = NULL;

	m = nlu_train(small_set, SMALL_N, o, &cause);
	if (m == NULL)
		fail_msg("nlu_train: %s", cause);
	return (m);
}

static void
test_normalize(void **state)
{
	char	*s;

	s = nlu_normalize("ＡＢＣ１２３");
	assert_string_equal(s, "abc123");
	free(s);
	s = nlu_normalize("HeLLo WoRLD");
	assert_string_equal(s, "hello world");
	free(s);
	/* Traditional to simplified. */
	s = nlu_normalize("我的訂單號碼，請幫我查詢物流");
	assert_string_equal(s, "我的订单号码,请帮我查询物流");
	free(s);
	s = nlu_normalize("這個退貨與發票問題");
	assert_string_equal(s, "这个退货与发票问题");
	free(s);
	/* The ideographic space and full-width punctuation. */
	s = nlu_normalize("你好\xe3\x80\x80世界！");
	assert_string_equal(s, "你好 世界!");
	free(s);
	/* Invalid UTF-8 is replaced, not passed on. */
	s = nlu_normalize("ab\xff\xfe" "cd");
	assert_string_equal(s, "ab\xef\xbf\xbd\xef\xbf\xbd" "cd");
	free(s);
	s = nlu_normalize("");
	assert_string_equal(s, "");
	free(s);
}

static void
test_detect_lang(void **state)
{
	assert_string_equal(nlu_detect_lang("where is my order"), "en");
	assert_string_equal(nlu_detect_lang("我的订单到哪了"), "zh-CN");
	assert_string_equal(nlu_detect_lang("ｗｈｅｒｅ ｉｓ ｉｔ"), "en");
	assert_null(nlu_detect_lang("12345 !!"));
	assert_null(nlu_detect_lang(""));
	/* Mixed: the majority script decides; Han weighs more. */
	assert_string_equal(nlu_detect_lang("我的order到哪了"), "zh-CN");
	assert_string_equal(nlu_detect_lang("where is my 订单, please check"),
	    "en");
	assert_string_equal(nlu_detect_lang("ok 好的"), "zh-CN");
	assert_string_equal(nlu_detect_lang("訂單"), "zh-CN");
}

/* Classify text and find its entity of a type; fails if absent. */
static const struct nlu_entity *
entity(struct nlu_result *r, const char *type, size_t nth)
{
	size_t	i;

	for (i = 0; i < r->nentities; i++) {
		if (strcmp(r->entities[i].type, type) == 0 && nth-- == 0)
			return (&r->entities[i]);
	}
	fail_msg("no %s entity", type);
	return (NULL);
}

/* Check an entity: its value and that its span is expect in text. */
static void
check_entity(const char *text, struct nlu_result *r, const char *type,
    size_t nth, const char *value, const char *span)
{
	const struct nlu_entity	*e = entity(r, type, nth);

	assert_string_equal(e->value, value);
	assert_int_equal(e->len, strlen(span));
	assert_true(e->start + e->len <= strlen(text));
	assert_memory_equal(text + e->start, span, e->len);
}

static void
test_entities(void **state)
{
	struct nlu		*m = small_model(NULL);
	struct nlu_result	 r;
	const char		*t;

	t = "where is my order 20251103887?";
	nlu_classify(m, t, &r);
	assert_int_equal(r.nentities, 1);
	check_entity(t, &r, "order_id", 0, "20251103887", "20251103887");
	nlu_result_clear(&r);

	t = "订单ORD-58213和ord-77123到哪了";
	nlu_classify(m, t, &r);
	check_entity(t, &r, "order_id", 0, "ORD-58213", "ORD-58213");
	check_entity(t, &r, "order_id", 1, "ORD-77123", "ord-77123");
	nlu_result_clear(&r);

	/* Full-width digits count; offsets stay in the original. */
	t = "单号：１２３４５６７８";
	nlu_classify(m, t, &r);
	check_entity(t, &r, "order_id", 0, "12345678", "１２３４５６７８");
	nlu_result_clear(&r);

	/* Five digits are not an order number; 21 are not either. */
	t = "I have 12345 points and 123456789012345678901 stars";
	nlu_classify(m, t, &r);
	assert_int_equal(r.nentities, 0);
	nlu_result_clear(&r);

	t = "call me on 13800138000 or +86 139-0013-9000, office "
	    "+44 20 7946 0958";
	nlu_classify(m, t, &r);
	check_entity(t, &r, "phone", 0, "13800138000", "13800138000");
	check_entity(t, &r, "phone", 1, "13900139000", "+86 139-0013-9000");
	check_entity(t, &r, "phone", 2, "442079460958", "+44 20 7946 0958");
	assert_int_equal(r.nentities, 3);
	nlu_result_clear(&r);

	/* Full-width phone; an 11-digit number after "order" is an order. */
	t = "电话１３８ ００１３ ８０００，订单号13912345678";
	nlu_classify(m, t, &r);
	check_entity(t, &r, "phone", 0, "13800138000",
	    "１３８ ００１３ ８０００");
	check_entity(t, &r, "order_id", 0, "13912345678", "13912345678");
	nlu_result_clear(&r);

	t = "mail Foo.Bar+shop@Example.COM. or x@y";
	nlu_classify(m, t, &r);
	assert_int_equal(r.nentities, 1);
	check_entity(t, &r, "email", 0, "foo.bar+shop@example.com",
	    "Foo.Bar+shop@Example.COM");
	nlu_result_clear(&r);

	t = "I paid ¥199.50, $20 and 1,299 RMB; 退我99元 或 USD 30";
	nlu_classify(m, t, &r);
	check_entity(t, &r, "amount", 0, "199.50 CNY", "¥199.50");
	check_entity(t, &r, "amount", 1, "20 USD", "$20");
	check_entity(t, &r, "amount", 2, "1299 CNY", "1,299 RMB");
	check_entity(t, &r, "amount", 3, "99 CNY", "99元");
	check_entity(t, &r, "amount", 4, "30 USD", "USD 30");
	assert_int_equal(r.nentities, 5);
	nlu_result_clear(&r);

	t = "deliver on 2026-11-25 or 11/25, not tomorrow; "
	    "2026年12月1日、11月25号、明天或昨天";
	nlu_classify(m, t, &r);
	check_entity(t, &r, "date", 0, "2026-11-25", "2026-11-25");
	check_entity(t, &r, "date", 1, "--11-25", "11/25");
	check_entity(t, &r, "date", 2, "+1d", "tomorrow");
	check_entity(t, &r, "date", 3, "2026-12-01", "2026年12月1日");
	check_entity(t, &r, "date", 4, "--11-25", "11月25号");
	check_entity(t, &r, "date", 5, "+1d", "明天");
	check_entity(t, &r, "date", 6, "-1d", "昨天");
	assert_int_equal(r.nentities, 7);
	/* Entities come sorted by offset. */
	assert_true(r.entities[0].start < r.entities[1].start);
	nlu_result_clear(&r);

	/* Not dates: a bad month, a fraction-like 13/14. */
	t = "2026-13-01 and 13/14";
	nlu_classify(m, t, &r);
	assert_int_equal(r.nentities, 0);
	nlu_result_clear(&r);
	nlu_free(m);
}

static void
test_order_pattern(void **state)
{
	struct nlu_options	 o;
	struct nlu_result	 r;
	struct nlu		*m;
	char			*cause = NULL;
	const char		*t;

	memset(&o, 0, sizeof o);
	o.order_pattern = "KF[0-9]{5}";
	m = small_model(&o);
	t = "orders KF12345, 20251103887 and XKF12345";
	nlu_classify(m, t, &r);
	assert_int_equal(r.nentities, 1);
	check_entity(t, &r, "order_id", 0, "KF12345", "KF12345");
	nlu_result_clear(&r);
	nlu_free(m);

	o.order_pattern = "([0-9";
	assert_null(nlu_train(small_set, SMALL_N, &o, &cause));
	assert_non_null(strstr(cause, "order pattern"));
	free(cause);
}

static void
test_sentiment(void **state)
{
	double	good, vgood;

	assert_true(nlu_sentiment("非常满意", NULL) > 0.3);
	assert_true(nlu_sentiment("不太满意", "zh-CN") < 0);
	assert_true(nlu_sentiment("不满意", NULL) < 0);
	assert_true(nlu_sentiment("滿意", NULL) > 0);
	assert_true(nlu_sentiment("不错", NULL) > 0);
	assert_true(nlu_sentiment("太慢了", NULL) < 0);
	assert_true(nlu_sentiment("包装破损，垃圾", NULL) < -0.3);
	assert_true(nlu_sentiment("骗子！我要退款", NULL) < -0.3);
	assert_true(nlu_sentiment("not happy at all", "en") < -0.3);
	assert_true(nlu_sentiment("not happy at all", "en") <
	    nlu_sentiment("not happy", "en"));
	assert_true(nlu_sentiment("I'm happy", "en") > 0.3);
	assert_true(nlu_sentiment("I don't like it, it's broken", NULL) < 0);
	assert_true(nlu_sentiment("this is a scam, terrible", NULL) < -0.5);
	assert_true(nlu_sentiment("refund", NULL) < 0);
	assert_true(nlu_sentiment("no refund yet", NULL) < 0);

	/* "not bad" is mildly positive: less than "good". */
	good = nlu_sentiment("good", NULL);
	assert_true(nlu_sentiment("not bad", NULL) > 0);
	assert_true(nlu_sentiment("not bad", NULL) < good);
	assert_true(nlu_sentiment("not good", NULL) < 0);

	/* Intensifiers and softeners. */
	vgood = nlu_sentiment("very good", NULL);
	assert_true(vgood > good);
	assert_true(nlu_sentiment("extremely bad", NULL) <
	    nlu_sentiment("bad", NULL));
	assert_true(nlu_sentiment("a bit slow", NULL) >
	    nlu_sentiment("slow", NULL));
	assert_true(nlu_sentiment("特别慢", NULL) < nlu_sentiment("慢", NULL));
	assert_true(nlu_sentiment("非常满意", NULL) >
	    nlu_sentiment("满意", NULL));
	assert_true(nlu_sentiment("好慢啊", NULL) < nlu_sentiment("慢", NULL));

	/* Exclamation marks and capitals make it stronger. */
	assert_true(nlu_sentiment("great!!!", NULL) >
	    nlu_sentiment("great", NULL));
	assert_true(nlu_sentiment("the service is TERRIBLE", NULL) <
	    nlu_sentiment("the service is terrible", NULL));
	assert_true(nlu_sentiment("太差了！！", NULL) <
	    nlu_sentiment("太差了", NULL));

	/* What follows "but" counts more. */
	assert_true(nlu_sentiment("the price is good but the delivery was "
	    "terrible", NULL) < 0);
	assert_true(nlu_sentiment("质量不错，但是物流太慢了", NULL) < 0);

	/* Neutral text, and the range. */
	assert_true(nlu_sentiment("where is my order 12345", NULL) == 0);
	assert_true(nlu_sentiment("不好意思，请问在吗", NULL) == 0);
	assert_true(nlu_sentiment("", NULL) == 0);
	assert_true(nlu_sentiment("TERRIBLE AWFUL WORST SCAM GARBAGE!!!!!!",
	    NULL) >= -1);
	assert_true(nlu_sentiment("great excellent amazing perfect love!!!!",
	    NULL) <= 1);
}

static void
test_train_classify(void **state)
{
	struct nlu		*m = small_model(NULL);
	struct nlu_result	 r;
	const char		**list;
	size_t			 n, i;

	n = nlu_intents(m, &list);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_string_not_equal(list[i], "oos");

	nlu_classify(m, "where is my order?", &r);
	assert_string_equal(r.intent, "order_status");
	assert_string_equal(r.lang, "en");
	assert_true(r.confidence > 0.5 && r.confidence <= 1);
	assert_non_null(r.runner_up);
	assert_string_not_equal(r.runner_up, "order_status");
	assert_true(r.runner_up_confidence < r.confidence);
	nlu_result_clear(&r);

	nlu_classify(m, "我要退款，谢谢", &r);
	assert_string_equal(r.intent, "refund");
	assert_string_equal(r.lang, "zh-CN");
	nlu_result_clear(&r);

	/* Traditional and full-width text meets the simplified examples. */
	nlu_classify(m, "我的訂單到哪了", &r);
	assert_string_equal(r.intent, "order_status");
	nlu_result_clear(&r);
	nlu_classify(m, "ＨＥＬＬＯ", &r);
	assert_string_equal(r.intent, "greeting");
	nlu_result_clear(&r);
	nlu_free(m);
}

static void
test_out_of_scope(void **state)
{
	struct nlu_options	 o;
	struct nlu_result	 r;
	struct nlu		*m = small_model(NULL);

	/* Close to the oos examples. */
	nlu_classify(m, "tell me a joke please", &r);
	assert_null(r.intent);
	assert_non_null(r.runner_up);	/* the candidate not taken */
	nlu_result_clear(&r);
	nlu_classify(m, "今天天气怎么样啊", &r);
	assert_null(r.intent);
	nlu_result_clear(&r);
	/* Nothing the model knows: the priors alone do not answer. */
	nlu_classify(m, "ЖЖЖ ЭЭЭ", &r);
	assert_null(r.intent);
	assert_true(r.confidence < 0.5);
	nlu_result_clear(&r);
	nlu_classify(m, "", &r);
	assert_null(r.intent);
	nlu_result_clear(&r);
	nlu_free(m);

	/* A high threshold turns a plausible answer down. */
	memset(&o, 0, sizeof o);
	o.min_confidence = 0.999;
	m = small_model(&o);
	nlu_classify(m, "order refund", &r);
	assert_null(r.intent);
	assert_true(r.confidence < 0.999);
	nlu_result_clear(&r);
	nlu_free(m);
}

static void
test_train_errors(void **state)
{
	static const struct nlu_example one[] = {
		{ "hello", "greeting", "en" },
		{ "hi", "greeting", "en" },
		{ "tell me a joke", "oos", "en" },
	};
	char	*cause = NULL;

	assert_null(nlu_train(NULL, 0, NULL, &cause));
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_null(nlu_train(one, 3, NULL, &cause));
	assert_non_null(strstr(cause, "1 intent"));
	free(cause);
}

static void
test_determinism(void **state)
{
	static const char	*texts[] = { "where is my order 12345",
	    "I want to cancel", "我要退货", "发票", "转人工", "hmm maybe",
	    "thanks a lot", "付款失败了怎么办" };
	struct nlu_example	*ex;
	struct nlu_result	 r1, r2;
	struct nlu		*a, *b;
	char			*path, *cause = NULL;
	size_t			 n, i;

	path = srcpath("etc/demo/intents.csv");
	if (nlu_examples_read(path, &ex, &n, &cause) != 0)
		fail_msg("%s", cause);
	free(path);
	assert_true(n > 500);
	a = nlu_train(ex, n, NULL, &cause);
	b = nlu_train(ex, n, NULL, &cause);
	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		nlu_classify(a, texts[i], &r1);
		nlu_classify(b, texts[i], &r2);
		if (r1.intent == NULL)
			assert_null(r2.intent);
		else
			assert_string_equal(r1.intent, r2.intent);
		assert_true(r1.confidence == r2.confidence);
		assert_true(r1.runner_up_confidence ==
		    r2.runner_up_confidence);
		nlu_result_clear(&r1);
		nlu_result_clear(&r2);
	}
	/* The demo model answers the demo's own kind of question. */
	nlu_classify(a, "where is my order 20251103887", &r1);
	assert_string_equal(r1.intent, "order_status");
	nlu_result_clear(&r1);
	nlu_classify(a, "我的訂單到哪了", &r1);
	assert_string_equal(r1.intent, "order_status");
	nlu_result_clear(&r1);
	nlu_classify(a, "转人工", &r1);
	assert_string_equal(r1.intent, "human");
	nlu_result_clear(&r1);
	nlu_free(a);
	nlu_free(b);
	nlu_examples_free(ex, n);
}

/* Read a file that must fail; checks the cause mentions want. */
static void
read_fails(const char *dir, const char *name, const char *content,
    const char *want)
{
	struct nlu_example	*ex;
	char			*path, *cause = NULL;
	size_t			 n;

	path = write_file(dir, name, content);
	assert_int_equal(nlu_examples_read(path, &ex, &n, &cause), -1);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
	free(path);
}

static void
test_csv(void **state)
{
	struct nlu_example	*ex;
	char			*dir = tmpdir(), *path, *cause = NULL;
	size_t			 n;

	/* BOM, CRLF, quoted commas, doubled quotes, a newline in a field,
	 * columns in another order, blank lines, an empty intent. */
	path = write_file(dir, "a.csv", "\xef\xbb\xbfintent,lang,text\r\n"
	    "order_status,en,\"where is it, my order?\"\r\n"
	    "\r\n"
	    "quote,en,\"she said \"\"hi\"\"\"\r\n"
	    "multi,zh,\"第一行\n第二行\"\n"
	    ",en,play some music\n"
	    "greeting,,hello");
	if (nlu_examples_read(path, &ex, &n, &cause) != 0)
		fail_msg("%s", cause);
	assert_int_equal(n, 5);
	assert_string_equal(ex[0].text, "where is it, my order?");
	assert_string_equal(ex[0].intent, "order_status");
	assert_string_equal(ex[0].lang, "en");
	assert_string_equal(ex[1].text, "she said \"hi\"");
	assert_string_equal(ex[2].text, "第一行\n第二行");
	assert_string_equal(ex[2].lang, "zh-CN");
	assert_string_equal(ex[3].intent, "oos");
	assert_null(ex[4].lang);
	nlu_examples_free(ex, n);
	free(path);

	/* Without a lang column. */
	path = write_file(dir, "b.csv", "text,intent\nhi,greeting\n");
	if (nlu_examples_read(path, &ex, &n, &cause) != 0)
		fail_msg("%s", cause);
	assert_int_equal(n, 1);
	assert_null(ex[0].lang);
	nlu_examples_free(ex, n);
	free(path);

	/* Errors name the file and line. */
	read_fails(dir, "c.csv", "question,answer\na,b\n", "c.csv:1:");
	read_fails(dir, "d.csv", "text,intent\nok,x\n\"never ends,y\n",
	    "d.csv:3:");
	read_fails(dir, "e.csv", "text,intent\nok,x\nfine,y\nbad\n",
	    "e.csv:4:");
	read_fails(dir, "f.csv", "text,intent,lang\nhi,greeting,fr\n",
	    "f.csv:2:");
	read_fails(dir, "g.csv", "text,intent\n\"a\"b,x\n", "g.csv:2:");
	read_fails(dir, "h.csv", "text,intent\nhi,has space\n", "h.csv:2:");
	read_fails(dir, "i.csv", "text,intent\n\"\",x\n", "i.csv:2: empty");
	read_fails(dir, "j.csv", "", "empty");
	read_fails(dir, "k.csv", "text,intent\nab\xff,x\n", "k.csv:2:");

	/* TSV with the shared data's columns. */
	path = write_file(dir, "l.tsv", "id\ttext\tintent\tdomain\n"
	    "1\twhere is \"it\"\torder_status\tshop\n"
	    "2\tplay music\toos\tmisc\n");
	if (nlu_examples_read(path, &ex, &n, &cause) != 0)
		fail_msg("%s", cause);
	assert_int_equal(n, 2);
	assert_string_equal(ex[0].text, "where is \"it\"");
	assert_string_equal(ex[1].intent, "oos");
	nlu_examples_free(ex, n);
	free(path);
	read_fails(dir, "m.tsv", "text\tintent\nhi\tgreeting\textra\n",
	    "m.tsv:2:");
	read_fails(dir, "n.tsv", "text\tlabel\nhi\tgreeting\n", "n.tsv:1:");
	rmtree(dir);
}

static void
test_store(void **state)
{
	static const struct nlu_example a[] = {
		{ "where is my parcel", "order_status", "en" },
		{ "my custom phrase", "custom", NULL },
	};
	static const struct nlu_example b[] = {
		{ "only this", "only", "en" },
	};
	struct nlu_example	*ex;
	struct store		*s;
	char			*dir = tmpdir(), *db, *demo, *cause = NULL;
	size_t			 n, ndemo, i, custom = 0;

	db = xasprintf("%s/kefu.db", dir);
	demo = write_file(dir, "demo.csv", "text,intent,lang\n"
	    "hello,greeting,en\n你好,greeting,zh-CN\n");
	if (store_open(db, 0, 1000, &s, &cause) != 0)
		fail_msg("%s", cause);

	/* Nothing stored: the demo only. */
	assert_int_equal(nlu_examples_load(s, demo, &ex, &ndemo, &cause), 0);
	assert_int_equal(ndemo, 2);
	nlu_examples_free(ex, ndemo);

	/* Stored plus demo; re-saving a source replaces its examples. */
	assert_int_equal(nlu_examples_save(s, "/x/a.csv", a, 2, 0, &cause),
	    0);
	assert_int_equal(nlu_examples_save(s, "/x/a.csv", a, 2, 0, &cause),
	    0);
	assert_int_equal(nlu_examples_load(s, demo, &ex, &n, &cause), 0);
	assert_int_equal(n, 2 + ndemo);
	for (i = 0; i < n; i++) {
		if (strcmp(ex[i].intent, "custom") == 0) {
			custom++;
			assert_null(ex[i].lang);
		}
	}
	assert_int_equal(custom, 1);
	nlu_examples_free(ex, n);

	/* --replace: everything else goes, the demo's included. */
	assert_int_equal(nlu_examples_save(s, "/x/b.csv", b, 1, 1, &cause),
	    0);
	assert_int_equal(nlu_examples_load(s, demo, &ex, &n, &cause), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ex[0].text, "only this");
	nlu_examples_free(ex, n);
	/* A later plain import keeps the demo off. */
	assert_int_equal(nlu_examples_save(s, "/x/a.csv", a, 2, 0, &cause),
	    0);
	assert_int_equal(nlu_examples_load(s, demo, &ex, &n, &cause), 0);
	assert_int_equal(n, 3);
	nlu_examples_free(ex, n);

	/* A missing demo file is an error naming it. */
	store_close(s);
	assert_int_equal(nlu_examples_load(NULL, "/nonexistent/x.csv", &ex,
	    &n, &cause), -1);
	assert_non_null(strstr(cause, "/nonexistent/x.csv"));
	free(cause);
	free(db);
	free(demo);
	rmtree(dir);
}

static void
test_evaluate(void **state)
{
	static const struct nlu_example dev[] = {
		{ "where is my order", "order_status", "en" },
		{ "hello", "greeting", "en" },
		{ "refund please", "refund", "en" },
		{ "tell me a joke", "oos", "en" },
		{ "hello there", "refund", "en" },	/* deliberately wrong */
	};
	struct nlu_eval	 ev;
	struct nlu	*m = small_model(NULL);

	nlu_evaluate(m, dev, 5, 0.2, &ev);
	assert_int_equal(ev.n, 5);
	assert_int_equal(ev.noos, 1);
	assert_int_equal(ev.correct, 4);
	assert_true(ev.accuracy > 0.79 && ev.accuracy < 0.81);
	assert_true(ev.oos_recall > 0.99);
	assert_true(ev.macro_f1 > 0 && ev.macro_f1 < 1);
	assert_int_equal(ev.nconfused, 1);
	assert_string_equal(ev.confused[0].gold, "refund");
	assert_string_equal(ev.confused[0].predicted, "greeting");
	nlu_eval_clear(&ev);
	nlu_free(m);
}

/*
 * Train on a shared set's train split, evaluate on its dev split, print
 * the figures and hold them to floors.
 */
static void
accuracy(const char *set, double min_acc, double min_f1, double min_oos)
{
	struct nlu_example	*tr, *dev;
	struct nlu_eval		 ev;
	struct nlu		*m;
	char			*p, *path, *cause = NULL;
	size_t			 ntr, ndev;
	clock_t			 t0;
	double			 secs;

	p = xasprintf("tests/data/nlu/%s/train.tsv", set);
	path = srcpath(p);
	free(p);
	if (nlu_examples_read(path, &tr, &ntr, &cause) != 0)
		fail_msg("%s", cause);
	free(path);
	p = xasprintf("tests/data/nlu/%s/dev.tsv", set);
	path = srcpath(p);
	free(p);
	if (nlu_examples_read(path, &dev, &ndev, &cause) != 0)
		fail_msg("%s", cause);
	free(path);
	t0 = clock();
	if ((m = nlu_train(tr, ntr, NULL, &cause)) == NULL)
		fail_msg("%s", cause);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	nlu_evaluate(m, dev, ndev, nlu_min_confidence(m), &ev);
	printf("%s: train %zu, dev %zu: accuracy %.4f macro-F1 %.4f "
	    "in-scope %.4f rejected %.4f", set, ntr, ndev, ev.accuracy,
	    ev.macro_f1, ev.inscope_accuracy, ev.inscope_rejected);
	if (ev.noos > 0)
		printf(" oos precision %.4f recall %.4f", ev.oos_precision,
		    ev.oos_recall);
	printf(" (trained in %.2f s)\n", secs);
	assert_true(ev.accuracy >= min_acc);
	assert_true(ev.macro_f1 >= min_f1);
	if (min_oos > 0)
		assert_true(ev.oos_recall >= min_oos);
	nlu_eval_clear(&ev);
	nlu_free(m);
	nlu_examples_free(tr, ntr);
	nlu_examples_free(dev, ndev);
}

static void
test_accuracy_bitext(void **state)
{
	accuracy("bitext-customer-support", 0.98, 0.98, 0);
}

static void
test_accuracy_clinc150(void **state)
{
	accuracy("clinc150", 0.89, 0.91, 0.78);
}

static void
test_accuracy_massive(void **state)
{
	accuracy("massive-zh-cn", 0.80, 0.79, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_detect_lang),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_order_pattern),
		cmocka_unit_test(test_sentiment),
		cmocka_unit_test(test_train_classify),
		cmocka_unit_test(test_out_of_scope),
		cmocka_unit_test(test_train_errors),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_accuracy_bitext),
		cmocka_unit_test(test_accuracy_clinc150),
		cmocka_unit_test(test_accuracy_massive),
	};

	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
