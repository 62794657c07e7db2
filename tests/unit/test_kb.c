/*
 * Tests for the knowledge base (src/kb.c), the CSV reader it shares
 * (src/csv.c) and the demo order table (src/orders.c).  Each test gets a
 * fresh temporary directory with its own database.  The search tests run
 * against the demo FAQ in etc/demo/kb; the retrieval figure in docs/kb.md
 * comes from test_bitext, which needs ../shared/data (skipped without it).
 * test_ranked and test_bitext also check that kb_search's in-memory index
 * returns exactly what the SQL (FTS5 bm25) path does.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <math.h>
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
#include <sqlite3.h>

#include "csv.h"
#include "kb.h"
#include "log.h"
#include "orders.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

struct fixture {
	char		 dir[64];
	struct store	*s;
};

/* The source tree, for data files. */
static const char *
top(void)
{
	const char	*t = getenv("top_srcdir");

	return (t != NULL ? t : ".");
}

/* The path of a test data file; the caller frees. */
static char *
data(const char *name)
{
	return (xasprintf("%s/tests/data/kb/%s", top(), name));
}

/* Make a temporary directory and open a store in it. */
static int
setup(void **state)
{
	struct fixture	*f;
	char		*path, *cause = NULL;

	f = xcalloc(1, sizeof *f);
	xsnprintf(f->dir, sizeof f->dir, "/tmp/kefu-test-kb-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return (-1);
	}
	path = xasprintf("%s/kefu.db", f->dir);
	if (store_open(path, 0, 1000, &f->s, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		free(path);
		return (-1);
	}
	free(path);
	*state = f;
	return (0);
}

/* Close the store and remove the directory with everything in it. */
static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*de;
	DIR		*d;
	char		*p;

	store_close(f->s);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", f->dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return (0);
}

/* Write a file in the fixture's directory; returns its path (freed). */
static char *
put(struct fixture *f, const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", f->dir, name);
	FILE	*fp;

	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	fclose(fp);
	return (path);
}

/* Import a file, expecting success; returns the count. */
static int
import(struct fixture *f, const char *path)
{
	char	*cause = NULL;
	int	 n;

	n = kb_import(f->s, path, &cause);
	if (n < 0)
		fail_msg("import %s: %s", path, cause);
	assert_int_equal(store_commit(f->s, &cause), 0);
	return (n);
}

/* Import a file that must fail; returns the cause (caller frees). */
static char *
import_error(struct fixture *f, const char *path)
{
	char	*cause = NULL, *other = NULL;

	assert_int_equal(kb_import(f->s, path, &cause), -1);
	assert_non_null(cause);
	assert_int_equal(store_commit(f->s, &other), 0);
	return (cause);
}

/* The single number an SQL query returns. */
static long long
count(struct fixture *f, const char *sql)
{
	sqlite3_stmt	*st;
	long long	 n;

	assert_int_equal(sqlite3_prepare_v2(store_db(f->s), sql, -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return (n);
}

/* Whether a space-separated term list has a term. */
static int
has_term(const char *terms, const char *t)
{
	size_t		 len = strlen(t);
	const char	*p = terms;

	while ((p = strstr(p, t)) != NULL) {
		if ((p == terms || p[-1] == ' ') &&
		    (p[len] == ' ' || p[len] == '\0'))
			return (1);
		p++;
	}
	return (0);
}

/* Import the demo FAQ (both languages). */
static void
import_demo(struct fixture *f)
{
	char	*path;

	path = xasprintf("%s/etc/demo/kb/faq-en.md", top());
	assert_true(import(f, path) >= 20);
	free(path);
	path = xasprintf("%s/etc/demo/kb/faq-zh.md", top());
	assert_true(import(f, path) >= 20);
	free(path);
}

/* Check that a query's best hit has this intent and a usable score. */
static void
expect_intent(struct fixture *f, const char *query, const char *intent)
{
	struct kb_hit	*h;
	int		 n;

	n = kb_search(f->s, query, NULL, 0, 3, &h);
	if (n <= 0)
		fail_msg("%s: no hit", query);
	if (h[0].intent == NULL || strcmp(h[0].intent, intent) != 0)
		fail_msg("%s: best hit is \"%s\" (%s, %.3f), not %s", query,
		    h[0].question, h[0].intent != NULL ? h[0].intent : "-",
		    h[0].score, intent);
	if (h[0].score < KB_MIN_SCORE_DEFAULT)
		fail_msg("%s: score %.3f below the threshold", query,
		    h[0].score);
	if (n > 1)
		assert_true(h[0].score >= h[1].score);
	kb_hits_free(h, (size_t)n);
}

/* Chinese becomes overlapping bigrams and then single characters. */
static void
test_terms_zh(void **state)
{
	char	*t;

	(void)state;
	t = kb_terms("退货政策");
	assert_string_equal(t, "退货 货政 政策 退 货 政 策");
	free(t);

	/* Punctuation splits runs; function characters are not unigrams. */
	t = kb_terms("退货，要多久吗？");
	assert_true(has_term(t, "退货"));
	assert_true(has_term(t, "多久"));
	assert_false(has_term(t, "货要"));
	assert_false(has_term(t, "吗"));
	assert_true(has_term(t, "久吗"));
	free(t);

	t = kb_terms("");
	assert_string_equal(t, "");
	free(t);
	t = kb_terms(NULL);
	assert_string_equal(t, "");
	free(t);
}

/* English words are folded, stemmed, and stop words dropped. */
static void
test_terms_en(void **state)
{
	char	*t, *u;

	(void)state;
	t = kb_terms("How long does shipping take?");
	assert_string_equal(t, "long ship tak");
	free(t);

	/* The forms of one word meet on one stem. */
	t = kb_terms("shipping shipped shipment ships");
	assert_string_equal(t, "ship ship ship ship");
	free(t);
	t = kb_terms("deliveries delivered delivery delivering");
	assert_string_equal(t, "deliver deliver deliver deliver");
	free(t);
	t = kb_terms("cancelled canceling cancellation cancel");
	assert_string_equal(t, "cancel cancel cancel cancel");
	free(t);
	t = kb_terms("policies policy paid payments");
	assert_string_equal(t, "polic polic pay pay");
	free(t);

	/* Apostrophes join; the result is a stop word. */
	t = kb_terms("I don't want it, please help me");
	assert_string_equal(t, "");
	free(t);

	/* Numbers stay as they are. */
	t = kb_terms("order 12345 in 2-4 days");
	assert_true(has_term(t, "12345"));
	assert_true(has_term(t, "2"));
	assert_true(has_term(t, "4"));
	assert_true(has_term(t, "order"));
	assert_true(has_term(t, "day"));
	assert_false(has_term(t, "in"));
	free(t);

	/* Case does not matter. */
	t = kb_terms("REFUND Status");
	u = kb_terms("refund status");
	assert_string_equal(t, u);
	free(t);
	free(u);
}

/* Mixed Chinese and English, and full-width forms. */
static void
test_terms_mixed(void **state)
{
	char	*t, *u;

	(void)state;
	t = kb_terms("我的iPhone15坏了，refund可以吗");
	assert_true(has_term(t, "iphone15"));
	assert_true(has_term(t, "refund"));
	assert_true(has_term(t, "坏了"));
	assert_true(has_term(t, "坏"));
	assert_false(has_term(t, "的i"));
	free(t);

	/* Full-width letters and digits are ASCII. */
	t = kb_terms("ＡＢＣ１２３ Ｓｈｉｐｐｉｎｇ");
	u = kb_terms("abc123 shipping");
	assert_string_equal(t, u);
	assert_string_equal(t, "abc123 ship");
	free(t);
	free(u);

	/* Full-width punctuation separates like ASCII punctuation. */
	t = kb_terms("退货（政策）");
	assert_false(has_term(t, "货政"));
	free(t);

	/* Invalid UTF-8 is skipped, not fatal. */
	t = kb_terms("\xff\xfe退款 refund\xc3");
	assert_true(has_term(t, "退款"));
	assert_true(has_term(t, "refund"));
	free(t);
}

/* CSV: quoted commas, doubled quotes, embedded newlines, CRLF. */
static void
test_import_csv(void **state)
{
	struct fixture	*f = *state;
	sqlite3_stmt	*st;
	char		*path;
	const char	*crlf =
	    "question,answer\r\n"
	    "\"One, two\",\"Line one\r\nline two\"\r\n"
	    "\r\n"
	    "Three,Four\r\n";

	path = data("sample.csv");
	assert_int_equal(import(f, path), 4);
	free(path);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 4);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_fts"), 4);

	assert_int_equal(sqlite3_prepare_v2(store_db(f->s), "SELECT question, "
	    "answer, intent, lang, tags FROM kb_entries ORDER BY id", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 0),
	    "Do you sell gift cards, and where?");
	assert_null(sqlite3_column_text(st, 2));
	assert_string_equal(sqlite3_column_text(st, 3), "en");
	assert_string_equal(sqlite3_column_text(st, 4), "gift card, voucher");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 1),
	    "Yes: choose \"Huabei\" at checkout.");
	assert_string_equal(sqlite3_column_text(st, 2), "payment_methods");
	assert_null(sqlite3_column_text(st, 4));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 1),
	    "Hand wash only:\n- cold water\n- dry flat");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 0), "羊毛衫怎么洗？");
	assert_string_equal(sqlite3_column_text(st, 3), "zh-CN");
	sqlite3_finalize(st);

	path = put(f, "crlf.csv", crlf);
	assert_int_equal(import(f, path), 2);
	free(path);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries WHERE "
	    "answer = 'Line one' || char(13, 10) || 'line two'"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries WHERE "
	    "question = 'Three' AND answer = 'Four'"), 1);
}

/* Markdown: title, lang, intent and tags lines, paragraphs, code. */
static void
test_import_md(void **state)
{
	struct fixture	*f = *state;
	sqlite3_stmt	*st;
	char		*path;

	path = data("sample.md");
	assert_int_equal(import(f, path), 3);
	free(path);

	assert_int_equal(sqlite3_prepare_v2(store_db(f->s), "SELECT question, "
	    "answer, intent, lang, tags FROM kb_entries ORDER BY id", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 0),
	    "How do I wash the wool sweater?");
	/* A paragraph's lines join; list items and code keep theirs. */
	assert_string_equal(sqlite3_column_text(st, 1),
	    "Hand wash it in cold water and dry it flat.\n\n"
	    "- no tumble dryer\n- no bleach\n\n"
	    "```\n## not a heading inside a fence\n```");
	assert_string_equal(sqlite3_column_text(st, 2), "care");
	assert_string_equal(sqlite3_column_text(st, 3), "en");
	assert_string_equal(sqlite3_column_text(st, 4),
	    "washing, care label, laundry");
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 0), "羊毛衫怎么洗？");
	/* Chinese lines join without a space. */
	assert_string_equal(sqlite3_column_text(st, 1),
	    "用冷水手洗，然后平铺晾干。");
	assert_string_equal(sqlite3_column_text(st, 3), "zh-CN");
	assert_null(sqlite3_column_text(st, 2));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal(sqlite3_column_text(st, 0), "Where is the shop?");
	assert_string_equal(sqlite3_column_text(st, 1),
	    "Our shop is online only.");
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Importing a file again replaces its entries; other files stay. */
static void
test_reimport(void **state)
{
	struct fixture	*f = *state;
	struct kb_hit	*h;
	char		*path, *other;
	int		 n;

	other = data("sample.csv");
	assert_int_equal(import(f, other), 4);
	path = put(f, "faq.csv", "question,answer\n"
	    "How long is the warranty?,One year.\n"
	    "Do you have a shop in Beijing?,No.\n");
	assert_int_equal(import(f, path), 2);
	assert_int_equal(import(f, path), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 6);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_fts"), 6);

	/* Edit the answer and drop an entry. */
	free(put(f, "faq.csv", "question,answer\n"
	    "How long is the warranty?,Two years from delivery.\n"));
	assert_int_equal(import(f, path), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 5);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_fts"), 5);
	n = kb_search(f->s, "warranty", NULL, 0, 5, &h);
	assert_int_equal(n, 1);
	assert_string_equal(h[0].answer, "Two years from delivery.");
	kb_hits_free(h, (size_t)n);
	n = kb_search(f->s, "shop in Beijing", NULL, 0, 5, &h);
	assert_int_equal(n, 0);
	kb_hits_free(h, (size_t)n);

	/* The same file by another name is the same source. */
	free(path);
	path = xasprintf("%s/./faq.csv", f->dir);
	assert_int_equal(import(f, path), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 5);
	free(path);

	/* A failed re-import leaves the earlier entries alone. */
	path = put(f, "faq.csv", "question,answer\n\"broken,answer\n");
	free(import_error(f, path));
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 5);
	free(path);
	free(other);
}

/* The demo FAQ answers the common questions in both languages. */
static void
test_search_demo(void **state)
{
	struct fixture	*f = *state;

	import_demo(f);
	expect_intent(f, "退货要多久", "return_item");
	expect_intent(f, "我想退货", "return_item");
	expect_intent(f, "how long does shipping take", "delivery_time");
	expect_intent(f, "When will my order arrive?", "delivery_time");
	expect_intent(f, "my payment failed", "payment_problem");
	expect_intent(f, "付款失败了怎么办", "payment_problem");
	expect_intent(f, "怎么开发票", "invoice");
	expect_intent(f, "忘记密码了", "account_help");
	expect_intent(f, "where is my order", "order_status");
	expect_intent(f, "我的快递到哪了", "order_status");
	expect_intent(f, "退款什么时候到账", "refund_status");
	expect_intent(f, "how much is shipping", "shipping_cost");
	expect_intent(f, "运费多少", "shipping_cost");
	expect_intent(f, "I want to cancel my order", "cancel_order");
	expect_intent(f, "地址填错了", "change_address");
	expect_intent(f, "is it under warranty", "warranty");
	expect_intent(f, "我要投诉", "complaint");
	/* Full-width input finds the same entry. */
	expect_intent(f, "ＭＹ ＰＡＹＭＥＮＴ ＦＡＩＬＥＤ", "payment_problem");
}

/* Questions the FAQ does not answer score below the threshold. */
static void
test_search_nonsense(void **state)
{
	struct fixture	*f = *state;
	struct kb_hit	*h;
	const char	*queries[] = {
		"what is the weather in paris",
		"tell me a joke about quantum physics",
		"今天天气怎么样",
		"帮我订一张去上海的机票",
		"asdfgh qwerty zxcvb",
		"the of and to"
	};
	size_t		 i;
	int		 n;

	import_demo(f);
	for (i = 0; i < sizeof queries / sizeof queries[0]; i++) {
		n = kb_search(f->s, queries[i], NULL, KB_MIN_SCORE_DEFAULT, 5,
		    &h);
		if (n != 0)
			fail_msg("%s: \"%s\" scores %.3f", queries[i],
			    h[0].question, h[0].score);
		kb_hits_free(h, (size_t)n);
	}
	/* Without a threshold the same search may list weak hits. */
	n = kb_search(f->s, "今天天气怎么样", NULL, 0, 5, &h);
	assert_true(n >= 0);
	if (n > 0)
		assert_true(h[0].score < KB_MIN_SCORE_DEFAULT);
	kb_hits_free(h, (size_t)n);
}

/* Scores are in [0, 1], best first, and limited in number. */
static void
test_search_order(void **state)
{
	struct fixture	*f = *state;
	struct kb_hit	*h;
	int		 n, i;

	import_demo(f);
	n = kb_search(f->s, "refund return order delivery 退款 退货", NULL, 0,
	    10, &h);
	assert_int_equal(n, 10);
	for (i = 0; i < n; i++) {
		assert_true(h[i].score >= 0 && h[i].score <= 1);
		if (i > 0)
			assert_true(h[i - 1].score >= h[i].score);
	}
	kb_hits_free(h, (size_t)n);
	n = kb_search(f->s, "refund", NULL, 0, 2, &h);
	assert_int_equal(n, 2);
	kb_hits_free(h, (size_t)n);
	n = kb_search(f->s, "refund", NULL, 0.999, 5, &h);
	for (i = 0; i < n; i++)
		assert_true(h[i].score >= 0.999);
	kb_hits_free(h, (size_t)n);
}

/* The language filter keeps one language (and entries without one). */
static void
test_search_lang(void **state)
{
	struct fixture	*f = *state;
	struct kb_hit	*h;
	char		*path;
	int		 n, i, saw_null = 0;

	import_demo(f);
	path = put(f, "any.csv", "question,answer\n"
	    "Refund 退款 FAQ,Both languages.\n");
	assert_int_equal(import(f, path), 1);
	free(path);

	n = kb_search(f->s, "refund 退款", "zh-CN", 0, 50, &h);
	assert_true(n > 1);
	for (i = 0; i < n; i++) {
		if (h[i].lang == NULL)
			saw_null = 1;
		else
			assert_string_equal(h[i].lang, "zh-CN");
	}
	assert_true(saw_null);
	kb_hits_free(h, (size_t)n);

	n = kb_search(f->s, "refund 退款", "en", 0, 50, &h);
	assert_true(n > 1);
	for (i = 0; i < n; i++) {
		if (h[i].lang != NULL)
			assert_string_equal(h[i].lang, "en");
	}
	kb_hits_free(h, (size_t)n);

	/* "zh" means zh-CN. */
	n = kb_search(f->s, "退款", "zh", 0, 50, &h);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		assert_true(h[i].lang == NULL ||
		    strcmp(h[i].lang, "zh-CN") == 0);
	kb_hits_free(h, (size_t)n);
}

/* No query is FTS5 syntax, so none can make the search fail. */
static void
test_search_hostile(void **state)
{
	struct fixture	*f = *state;
	struct kb_hit	*h;
	const char	*queries[] = {
		"", " ", "\"", "\"\"\"", "refund\"", "\"refund", "NEAR(a b)",
		"NEAR(refund order, 2)", "*", "refund*", "re*fund", "(((",
		")", "refund AND", "OR refund", "refund OR OR NOT return",
		"NOT", "-refund", "^refund", "terms:refund", "kb_fts:退款",
		"{terms}: refund", "refund + return", "'; DROP TABLE kb_fts;",
		"\xff\xfe\xfd", "退款\"退货", "\t\n\r", "AND", "\"NEAR\""
	};
	const char	 words[] = "refund \"order\" NEAR( 退款 ";
	char		*big;
	size_t		 i;
	int		 n;

	import_demo(f);
	for (i = 0; i < sizeof queries / sizeof queries[0]; i++) {
		n = kb_search(f->s, queries[i], NULL, 0, 5, &h);
		if (n < 0)
			fail_msg("query %zu failed", i);
		kb_hits_free(h, (size_t)n);
	}
	n = kb_search(f->s, NULL, NULL, 0, 5, &h);
	assert_int_equal(n, 0);

	/* A very long query: 200 KB of words and Chinese. */
	big = xmalloc(200 * 1024 + 1);
	for (i = 0; i < 200 * 1024; i++)
		big[i] = words[i % (sizeof words - 1)];
	big[200 * 1024] = '\0';
	n = kb_search(f->s, big, NULL, 0, 5, &h);
	assert_true(n >= 0);
	kb_hits_free(h, (size_t)n);
	free(big);

	/* The tables are intact. */
	assert_true(count(f, "SELECT count(*) FROM kb_fts") >= 40);
}

/* Import errors name the file and line and change nothing. */
static void
test_import_errors(void **state)
{
	struct fixture	*f = *state;
	char		*path, *cause, *want;
	struct {
		const char	*file;
		const char	*where;
		const char	*what;
	} bad[] = {
		{ "bad-quote.csv", ":3:", "never ends" },
		{ "bad-fields.csv", ":3:", "fields" },
		{ "bad-header.csv", ":1:", "answer" },
		{ "bad-inner-quote.csv", ":3:", "quote" },
		{ "bad-empty-answer.md", ":6:", "answer" }
	};
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		path = data(bad[i].file);
		cause = import_error(f, path);
		want = xasprintf("%s%s", path, bad[i].where);
		if (strstr(cause, want) == NULL ||
		    strstr(cause, bad[i].what) == NULL)
			fail_msg("%s: unexpected error: %s", bad[i].file,
			    cause);
		free(want);
		free(cause);
		free(path);
	}
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 0);

	path = put(f, "faq.txt", "question,answer\na,b\n");
	cause = import_error(f, path);
	assert_non_null(strstr(cause, "unknown format"));
	free(cause);
	free(path);

	path = xasprintf("%s/missing.csv", f->dir);
	cause = import_error(f, path);
	assert_non_null(strstr(cause, "missing.csv"));
	free(cause);
	free(path);

	path = put(f, "utf8.csv", "question,answer\nok,fine\nbad\xff,x\n");
	cause = import_error(f, path);
	assert_non_null(strstr(cause, ":3:"));
	free(cause);
	free(path);

	path = put(f, "intent.md", "## Q\nintent: Not An Intent\n\nA.\n");
	cause = import_error(f, path);
	assert_non_null(strstr(cause, ":1:"));
	assert_non_null(strstr(cause, "intent"));
	free(cause);
	free(path);
	assert_int_equal(count(f, "SELECT count(*) FROM kb_entries"), 0);
}

/* Orders: import, look-up, extra columns, upsert. */
static void
test_orders(void **state)
{
	struct fixture		*f = *state;
	struct json_object	*o, *v;
	char			*path, *cause = NULL;

	path = data("orders.csv");
	assert_int_equal(orders_import(f->s, path, &cause), 2);
	assert_int_equal(store_commit(f->s, &cause), 0);
	free(path);

	assert_int_equal(orders_get(f->s, "A-1001", &o), 1);
	assert_true(json_object_object_get_ex(o, "status", &v));
	assert_string_equal(json_object_get_string(v), "shipped");
	assert_true(json_object_object_get_ex(o, "carrier", &v));
	assert_string_equal(json_object_get_string(v), "SF Express");
	assert_true(json_object_object_get_ex(o, "items", &v));
	assert_string_equal(json_object_get_string(v), "Mug x2, \"blue\"");
	assert_true(json_object_object_get_ex(o, "gift_note", &v));
	assert_string_equal(json_object_get_string(v), "Happy birthday");
	assert_true(json_object_object_get_ex(o, "order_id", &v));
	assert_string_equal(json_object_get_string(v), "A-1001");
	json_object_put(o);

	assert_int_equal(orders_get(f->s, "A-1002", &o), 1);
	assert_true(json_object_object_get_ex(o, "tracking", &v));
	assert_null(v);
	assert_false(json_object_object_get_ex(o, "gift_note", NULL));
	json_object_put(o);

	assert_int_equal(orders_get(f->s, "A-9999", &o), 0);
	assert_null(o);
	assert_int_equal(orders_get(f->s, "", &o), 0);

	/* Upsert: a new status replaces the old; other orders stay. */
	path = put(f, "update.csv", "order_id,status,carrier\n"
	    "A-1002,shipped,ZTO Express\nA-1003,pending,\n");
	assert_int_equal(orders_import(f->s, path, &cause), 2);
	assert_int_equal(store_commit(f->s, &cause), 0);
	free(path);
	assert_int_equal(count(f, "SELECT count(*) FROM orders"), 3);
	assert_int_equal(orders_get(f->s, "A-1002", &o), 1);
	assert_true(json_object_object_get_ex(o, "status", &v));
	assert_string_equal(json_object_get_string(v), "shipped");
	assert_true(json_object_object_get_ex(o, "carrier", &v));
	assert_string_equal(json_object_get_string(v), "ZTO Express");
	json_object_put(o);

	/* Errors name the line and change nothing. */
	path = put(f, "bad.csv", "order_id,status\nA-1001,delivered\n"
	    "A-1004,Not A Status\n");
	assert_int_equal(orders_import(f->s, path, &cause), -1);
	assert_non_null(strstr(cause, "bad.csv:3:"));
	free(cause);
	cause = NULL;
	assert_int_equal(store_commit(f->s, &cause), 0);
	assert_int_equal(orders_get(f->s, "A-1001", &o), 1);
	assert_true(json_object_object_get_ex(o, "status", &v));
	assert_string_equal(json_object_get_string(v), "shipped");
	json_object_put(o);
	free(path);

	path = put(f, "nohdr.csv", "id,state\n1,shipped\n");
	assert_int_equal(orders_import(f->s, path, &cause), -1);
	assert_non_null(strstr(cause, "nohdr.csv:1:"));
	free(cause);
	free(path);
}

/* The demo order table loads and has the documented orders. */
static void
test_orders_demo(void **state)
{
	struct fixture		*f = *state;
	struct json_object	*o, *v;
	char			*path, *cause = NULL;
	int			 n;

	path = xasprintf("%s/etc/demo/orders.csv", top());
	n = orders_import(f->s, path, &cause);
	if (n < 0)
		fail_msg("%s", cause);
	assert_true(n >= 8);
	free(path);
	assert_int_equal(orders_get(f->s, "12345", &o), 1);
	assert_true(json_object_object_get_ex(o, "tracking", &v));
	assert_non_null(json_object_get_string(v));
	json_object_put(o);
	assert_int_equal(orders_get(f->s, "20261125001", &o), 1);
	json_object_put(o);
	/* Varied statuses, for the templates' sake. */
	assert_true(count(f, "SELECT count(DISTINCT status) FROM orders") >= 8);
}

/* Whether two strings (or NULLs) are equal. */
static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Counts of the comparisons of the two rankers. */
struct ranked {
	int	searches;	/* compared */
	int	indexed;	/* the index alone could answer */
	int	hits;		/* hits compared */
	int	exact;		/* of those, with bit-identical scores */
};

/* Fail unless two hit lists are the same, scores within 1e-9. */
static void
same_hits(const char *what, const char *query, const struct kb_hit *a,
    int na, const struct kb_hit *b, int nb, struct ranked *r)
{
	int	i;

	if (na != nb)
		fail_msg("%s: \"%s\": %d hits, SQL %d", what, query, na, nb);
	for (i = 0; i < na; i++) {
		if (a[i].id != b[i].id || fabs(a[i].score - b[i].score) > 1e-9)
			fail_msg("%s: \"%s\": hit %d is #%lld %.17g, SQL "
			    "#%lld %.17g", what, query, i, a[i].id, a[i].score,
			    b[i].id, b[i].score);
		if (!same_str(a[i].question, b[i].question) ||
		    !same_str(a[i].answer, b[i].answer) ||
		    !same_str(a[i].intent, b[i].intent) ||
		    !same_str(a[i].lang, b[i].lang))
			fail_msg("%s: \"%s\": hit %d has other text", what,
			    query, i);
		r->hits++;
		r->exact += a[i].score == b[i].score;
	}
}

/*
 * Search with each ranker and check they agree: kb_search (the index,
 * or SQL for a query it cannot rank), the index alone when it can, and
 * SQL.  Returns whether the index alone could.
 */
static int
compare_rankers(struct fixture *f, const char *query, const char *lang,
    double min, size_t max, struct ranked *r)
{
	struct kb_hit	*a, *b, *c;
	int		 na, nb, nc;

	nb = kb_search_ranked(f->s, KB_RANK_FTS, query, lang, min, max, &b);
	na = kb_search(f->s, query, lang, min, max, &a);
	assert_true(nb >= 0);
	assert_true(na >= 0);
	same_hits("kb_search", query, a, na, b, nb, r);
	nc = kb_search_ranked(f->s, KB_RANK_INDEX, query, lang, min, max, &c);
	if (nc >= 0) {
		same_hits("index", query, c, nc, b, nb, r);
		r->indexed++;
	}
	r->searches++;
	kb_hits_free(a, (size_t)na);
	kb_hits_free(b, (size_t)nb);
	kb_hits_free(c, (size_t)(nc > 0 ? nc : 0));
	return (nc >= 0);
}

/*
 * The index and SQL agree on every text of the demo intents file, in
 * each language and with all candidates shown (no threshold, a high
 * limit), with ties in bm25 (identical entries), entries without a
 * language, and terms FTS5 cuts differently from kefu (Hindi's vowel
 * signs are not letters to FTS5's tokenizer): the index counts those rows
 * as FTS5 does, and sends a query with such a term to SQL.
 */
static void
test_ranked(void **state)
{
	struct fixture		*f = *state;
	struct csv		 r;
	struct csv_record	 rec;
	struct ranked		 cmp;
	struct kb_hit		*h;
	const char		*langs[] = { NULL, "en", "zh-CN" };
	const char		*extra[] = {
		"zorblax", "where is my zorblax parcel", "parcel 包裹", "包裹",
		"refund 退款", "हिंदी", "refund हिंदी", "hindi refund",
		"", "the of and", "12345", "退货 退款 运费 发票 密码"
	};
	char			*path, *buf, *cause = NULL, *csvtext, *sql;
	long long		 gone;
	size_t			 i, j;
	int			 col, n, all = 0;

	import_demo(f);
	/* Ties: 25 identical entries, more than the 20 candidates. */
	csvtext = xstrdup("question,answer,lang\n");
	for (i = 0; i < 25; i++) {
		buf = xasprintf("%sWhere is my zorblax parcel?,On its way. "
		    "包裹在路上。,%s\n", csvtext, i % 3 == 0 ? "" : "en");
		free(csvtext);
		csvtext = buf;
	}
	path = put(f, "ties.csv", csvtext);
	assert_int_equal(import(f, path), 25);
	free(path);
	free(csvtext);
	path = put(f, "hindi.csv", "question,answer,lang\n"
	    "हिंदी में रिफंड,Refund in Hindi: हिंदी,hi\n"
	    "Hindi refund help,हिंदी refund,\n");
	assert_int_equal(import(f, path), 2);
	free(path);

	memset(&cmp, 0, sizeof cmp);
	path = xasprintf("%s/etc/demo/intents.csv", top());
	buf = file_read(path, 1024 * 1024, &cause);
	if (buf == NULL)
		fail_msg("%s", cause);
	csv_init(&r, path, buf, strlen(buf));
	assert_int_equal(csv_next(&r, &rec, &cause), 1);
	col = csv_column(&rec, "text");
	assert_true(col >= 0);
	csv_record_clear(&rec);
	while ((n = csv_next(&r, &rec, &cause)) == 1) {
		for (j = 0; j < sizeof langs / sizeof langs[0]; j++)
			all += compare_rankers(f, rec.fields[col], langs[j], 0,
			    50, &cmp);
		/* As the pipeline searches. */
		compare_rankers(f, rec.fields[col], NULL,
		    KB_MIN_SCORE_DEFAULT, 3, &cmp);
		csv_record_clear(&rec);
	}
	assert_int_equal(n, 0);
	free(buf);
	free(path);
	/* Every demo text is ranked by the index alone. */
	assert_true(cmp.searches > 2000);
	assert_int_equal(all, cmp.searches - cmp.searches / 4);

	for (i = 0; i < sizeof extra / sizeof extra[0]; i++) {
		for (j = 0; j < sizeof langs / sizeof langs[0]; j++)
			compare_rankers(f, extra[i], langs[j], 0, 50, &cmp);
	}
	/* The 20 candidates of a tie are the first 20 rows, as in SQL. */
	n = kb_search_ranked(f->s, KB_RANK_INDEX, "zorblax", NULL, 0, 50, &h);
	assert_int_equal(n, 20);
	for (i = 1; i < 20; i++) {
		assert_true(h[i].score == h[0].score);
		assert_true(h[i].id == h[i - 1].id + 1);
	}
	kb_hits_free(h, (size_t)n);
	/* A term FTS5 cuts in pieces: SQL ranks the query. */
	n = kb_search_ranked(f->s, KB_RANK_INDEX, "हिंदी", NULL, 0, 5, &h);
	assert_int_equal(n, -1);
	n = kb_search(f->s, "हिंदी", NULL, 0, 5, &h);
	assert_int_equal(n, 2);
	kb_hits_free(h, (size_t)n);
	assert_true(compare_rankers(f, "hindi refund", NULL, 0, 50, &cmp));

	/*
	 * An index row without its entry counts in bm25's figures but is
	 * never a hit.  (The import after the change makes kb_search see it.)
	 */
	gone = count(f, "SELECT min(id) FROM kb_entries WHERE question LIKE "
	    "'%zorblax%'");
	sql = xasprintf("DELETE FROM kb_entries WHERE id = %lld", gone);
	assert_int_equal(sqlite3_exec(store_db(f->s), sql, NULL, NULL, NULL),
	    SQLITE_OK);
	free(sql);
	sql = xasprintf("SELECT count(*) FROM kb_fts WHERE rowid = %lld",
	    gone);
	assert_int_equal(count(f, sql), 1);
	free(sql);
	path = put(f, "one.csv", "question,answer\nOne,Two\n");
	assert_int_equal(import(f, path), 1);
	free(path);
	assert_true(compare_rankers(f, "zorblax", NULL, 0, 50, &cmp));
	assert_true(compare_rankers(f, "zorblax parcel", "en", 0, 50, &cmp));
	n = kb_search(f->s, "zorblax", NULL, 0, 50, &h);
	assert_int_equal(n, 20);
	assert_true(h[0].id == gone + 1);
	kb_hits_free(h, (size_t)n);

	print_message("rankers: %d searches (%d by the index alone), %d hits, "
	    "%d with bit-identical scores\n", cmp.searches, cmp.indexed,
	    cmp.hits, cmp.exact);
	assert_true(cmp.hits > 10000);
}

/* Write s as a quoted CSV field. */
static void
csv_field(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

/* Split a TSV line in place; returns the number of fields. */
static int
tsv_split(char *line, char **fields, int max)
{
	int	n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	fields[n++] = line;
	while (n < max && (line = strchr(line, '\t')) != NULL) {
		*line++ = '\0';
		fields[n++] = line;
	}
	return (n);
}

#define BITEXT_INTENTS	64
#define BITEXT_PHRASES	10

/*
 * The retrieval figure: a knowledge base of one answer per Bitext intent
 * (the first training response, with ten training utterances as tags),
 * then every dev utterance: is the best hit its own intent, and is it
 * above the default threshold?  CLINC150's out-of-scope dev utterances
 * must mostly stay below it.
 */
static void
test_bitext(void **state)
{
	struct fixture	*f = *state;
	struct kb_hit	*h;
	char		*dir, *path, *line = NULL, *fl[8], *t;
	char		*name[BITEXT_INTENTS], *answer[BITEXT_INTENTS];
	char		*tags[BITEXT_INTENTS];
	int		 nphr[BITEXT_INTENTS], nint = 0, i, n, nf;
	int		 total = 0, top1 = 0, right = 0, wrong = 0, oos = 0;
	int		 oos_in = 0;
	size_t		 size = 0;
	FILE		*fp, *out;
	struct ranked	 cmp;

	if ((dir = getenv("KEFU_SHARED_DATA")) != NULL)
		dir = xstrdup(dir);
	else
		dir = xasprintf("%s/../shared/data", top());
	path = xasprintf("%s/bitext-customer-support/train.tsv", dir);
	if ((fp = fopen(path, "r")) == NULL) {
		free(path);
		free(dir);
		skip();
	}
	free(path);
	while (getline(&line, &size, fp) > 0) {
		nf = tsv_split(line, fl, 8);
		if (nf < 8 || strcmp(fl[0], "id") == 0)
			continue;
		for (i = 0; i < nint && strcmp(name[i], fl[2]) != 0; i++)
			;
		if (i == nint) {
			assert_true(nint < BITEXT_INTENTS);
			name[nint] = xstrdup(fl[2]);
			/* The responses write line breaks as \n. */
			answer[nint] = t = xstrdup(fl[7]);
			for (n = 0; fl[7][n] != '\0'; n++) {
				if (fl[7][n] == '\\' && fl[7][n + 1] == 'n') {
					*t++ = '\n';
					n++;
				} else
					*t++ = fl[7][n];
			}
			*t = '\0';
			tags[nint] = xstrdup("");
			nphr[nint++] = 0;
		}
		if (nphr[i] < BITEXT_PHRASES && strchr(fl[1], ',') == NULL) {
			t = xasprintf("%s%s%s", tags[i], *tags[i] ? ", " : "",
			    fl[1]);
			free(tags[i]);
			tags[i] = t;
			nphr[i]++;
		}
	}
	fclose(fp);
	assert_true(nint >= 20);

	path = xasprintf("%s/bitext.csv", f->dir);
	out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "question,answer,intent,tags\n");
	for (i = 0; i < nint; i++) {
		t = xstrdup(name[i]);
		for (n = 0; t[n] != '\0'; n++)
			if (t[n] == '_')
				t[n] = ' ';
		csv_field(out, t);
		fputc(',', out);
		csv_field(out, answer[i]);
		fprintf(out, ",%s,", name[i]);
		csv_field(out, tags[i]);
		fputc('\n', out);
		free(t);
	}
	fclose(out);
	assert_int_equal(import(f, path), nint);
	free(path);

	memset(&cmp, 0, sizeof cmp);
	path = xasprintf("%s/bitext-customer-support/dev.tsv", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	free(path);
	while (getline(&line, &size, fp) > 0) {
		if (tsv_split(line, fl, 8) < 3 || strcmp(fl[0], "id") == 0)
			continue;
		total++;
		/* The index and SQL agree on all candidates. */
		compare_rankers(f, fl[1], NULL, 0, 50, &cmp);
		n = kb_search(f->s, fl[1], NULL, 0, 1, &h);
		assert_true(n >= 0);
		if (n > 0 && strcmp(h[0].intent, fl[2]) == 0) {
			top1++;
			if (h[0].score >= KB_MIN_SCORE_DEFAULT)
				right++;
		} else if (n > 0 && h[0].score >= KB_MIN_SCORE_DEFAULT)
			wrong++;
		kb_hits_free(h, (size_t)n);
	}
	fclose(fp);

	path = xasprintf("%s/clinc150/dev.tsv", dir);
	if ((fp = fopen(path, "r")) != NULL) {
		while (getline(&line, &size, fp) > 0) {
			if (tsv_split(line, fl, 8) < 3 ||
			    strcmp(fl[2], "oos") != 0)
				continue;
			oos++;
			compare_rankers(f, fl[1], NULL, 0, 50, &cmp);
			n = kb_search(f->s, fl[1], NULL, KB_MIN_SCORE_DEFAULT,
			    1, &h);
			oos_in += n > 0;
			kb_hits_free(h, (size_t)n);
		}
		fclose(fp);
	}
	free(path);
	free(line);
	free(dir);

	print_message("bitext dev: %d utterances, %d intents; best hit "
	    "right %.1f%%; at %.2f: answered right %.1f%%, answered wrong "
	    "%.1f%%, abstained %.1f%%; clinc150 oos dev above it: %d/%d\n",
	    total, nint, 100.0 * top1 / total, KB_MIN_SCORE_DEFAULT,
	    100.0 * right / total, 100.0 * wrong / total,
	    100.0 * (total - right - wrong) / total, oos_in, oos);
	print_message("bitext rankers: %d searches (%d by the index alone), "
	    "%d hits, %d with bit-identical scores\n", cmp.searches,
	    cmp.indexed, cmp.hits, cmp.exact);
	assert_int_equal(cmp.indexed, cmp.searches);
	assert_true(cmp.hits > total);
	assert_true(total > 400);
	assert_true(top1 >= total * 80 / 100);
	assert_true(right >= total * 75 / 100);
	if (oos > 0)
		assert_true(oos_in <= oos * 5 / 100);
	for (i = 0; i < nint; i++) {
		free(name[i]);
		free(answer[i]);
		free(tags[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_terms_zh),
		cmocka_unit_test(test_terms_en),
		cmocka_unit_test(test_terms_mixed),
		cmocka_unit_test_setup_teardown(test_import_csv, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_import_md, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reimport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_demo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_search_nonsense, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_search_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_search_lang, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_search_hostile, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ranked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_orders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orders_demo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bitext, setup, teardown),
	};

	log_set_level("warn");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
