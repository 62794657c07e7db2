/*
 * The knowledge base: question/answer entries searched with SQLite FTS5.
 *
 * Tokenization is kefu's own (kb_terms), so FTS5's unicode61 tokenizer only
 * ever sees ready-made terms separated by spaces.  Text is normalized with
 * utf8proc (NFKC and case folding, so full-width ＡＢＣ１２３ is abc123).
 * Chinese, Japanese and Korean runs become overlapping character bigrams
 * and then the single characters ("退货政策" is "退货 货政 政策 退 货 政
 * 策"), leaving out single function characters such as 的 and 吗.  Latin
 * words are folded, stop words dropped, and the rest stemmed by a small
 * suffix stripper (kb_stem), so "shipping", "shipped" and "shipment" are
 * all "ship"; numbers are kept as they are.
 *
 * The index row of an entry (kb_fts, rowid = kb_entries.id) holds the
 * terms of its question, its tags and its answer.  A query is tokenized the
 * same way and becomes an FTS5 OR query of quoted terms, so no user text is
 * ever read as FTS5 syntax.  FTS5 picks the candidates, best bm25 first;
 * each candidate is then scored in [0, 1] (kb_score, documented in
 * docs/kb.md) by how much of the query's information it covers, so that
 * one threshold means the same for every query.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>
#include <utf8proc.h>

#include "csv.h"
#include "kb.h"
#include "log.h"
#include "message.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define KB_FILE_MAX	(16 * 1024 * 1024)	/* bytes in an imported file */
#define KB_TEXT_MAX	CSV_FIELD_MAX		/* bytes in a question/answer */
#define KB_ENTRIES_MAX	100000			/* entries in one file */
#define KB_WORD_MAX	64	/* bytes kept of one Latin word */
#define KB_QUERY_MAX	2048	/* bytes of a query that are read */
#define KB_QUERY_TERMS	48	/* distinct query terms that count */
#define KB_CANDIDATES	20	/* FTS5 matches that are scored */

/* Scoring constants; see kb_score and docs/kb.md. */
#define KB_W_UNIGRAM	0.3	/* a single CJK character vs a bigram */
#define KB_W_UNSEEN	1.0	/* a query word no entry has */
#define KB_W_UNSEEN_CJK	0.5	/* a query CJK term no entry has */
#define KB_M_ANSWER	0.6	/* matched only in the answer */
#define KB_PREC_BASE	0.5	/* weight of coverage alone */
#define KB_BM25_SHARE	0.2	/* weight of normalized bm25 */

enum kb_kind {
	KB_WORD,	/* a Latin (or other alphabetic) word, stemmed */
	KB_NUM,		/* digits */
	KB_BIGRAM,	/* two CJK characters */
	KB_UNIGRAM	/* one CJK character */
};

struct kb_tok {
	char		*s;
	enum kb_kind	 kind;
};

struct kb_toks {
	struct kb_tok	*v;
	size_t		 n;
	size_t		 size;
};

struct kb_entry {
	char		*question;
	char		*answer;
	char		*intent;
	char		*lang;
	char		*tags;
	unsigned	 line;
};

struct kb_entries {
	struct kb_entry	*v;
	size_t		 n;
};

/* A query term with its weight in the score. */
struct kb_qterm {
	char		*s;
	enum kb_kind	 kind;
	long long	 df;		/* entries that have it */
	double		 w;		/* kind weight times idf */
	double		 idf_fts;	/* FTS5's own idf, for bm25 */
};

/*
 * English stop words, after folding and with apostrophes removed, sorted
 * (they are looked up with bsearch).  Besides
 * the usual function words, a few words every support request is made of
 * ("help", "want", "please") carry no topic.
 */
static const char *kb_stop_en[] = {
	"a", "about", "above", "after", "again", "all", "also", "am", "an",
	"and", "any", "anyone", "anything", "are", "as", "assist",
	"assistance", "at", "be", "because", "been", "before", "being",
	"both", "but", "by", "can", "cant", "could", "couldnt", "dear", "did",
	"didnt", "do", "does", "doesnt", "doing", "dont", "each", "for",
	"from", "further", "get", "got", "had", "hadnt", "has", "hasnt",
	"have", "havent", "having", "he", "hello", "help", "her", "here",
	"hers", "hey", "hi", "him", "his", "how", "i", "id", "if", "ill",
	"im", "in", "into", "is", "isnt", "it", "its", "ive", "just", "kindly",
	"know", "let", "lets", "like", "me", "mine", "more", "most",
	"must", "my", "myself", "need", "no", "nor", "not", "now", "of",
	"off", "ok", "okay", "on", "once", "only", "or", "other", "our",
	"ours", "out", "own", "please", "pls", "plz", "same", "she", "should",
	"so", "some", "someone", "something", "such", "tell", "than", "thank",
	"thanks", "that", "thats", "the", "their", "them", "then", "there",
	"these", "they", "this", "those", "through", "to", "too", "u", "up",
	"us", "very", "wanna", "want", "was", "wasnt", "we", "were", "werent",
	"what", "whats", "when", "where", "which", "while", "who", "whom",
	"why", "will", "with", "wont", "would", "wouldnt", "ya", "yes", "you",
	"youd", "youll", "your", "youre", "yours", "yourself"
};

/* Irregular forms, mapped to the stem of their base word. */
static const char *kb_irregular[][2] = {
	{ "paid", "pay" }, { "bought", "buy" }, { "sent", "send" },
	{ "gave", "giv" }, { "given", "giv" }, { "went", "go" },
	{ "gone", "go" }, { "took", "tak" }, { "taken", "tak" },
	{ "broke", "break" }, { "broken", "break" }, { "lost", "los" },
	{ "chose", "choos" }, { "chosen", "choos" }, { "came", "com" },
	{ "made", "mak" }, { "received", "receiv" }, { "told", "tell" },
	{ "forgot", "forget" }, { "forgotten", "forget" }
};

/*
 * Chinese characters that say nothing on their own (kept in bigrams), by
 * code point (looked up with bsearch):
 * 一下与个么也了什他们你及吗吧呀呢和哈哦哪啊啥喔嗯嘛
 * 在地她它就得怎您想我把是有的着给被要让请过还这那都
 */
static const utf8proc_int32_t kb_stop_zh1[] = {
	0x4e00, 0x4e0b, 0x4e0e, 0x4e2a, 0x4e48, 0x4e5f, 0x4e86, 0x4ec0,
	0x4ed6, 0x4eec, 0x4f60, 0x53ca, 0x5417, 0x5427, 0x5440, 0x5462,
	0x548c, 0x54c8, 0x54e6, 0x54ea, 0x554a, 0x5565, 0x5594, 0x55ef,
	0x561b, 0x5728, 0x5730, 0x5979, 0x5b83, 0x5c31, 0x5f97, 0x600e,
	0x60a8, 0x60f3, 0x6211, 0x628a, 0x662f, 0x6709, 0x7684, 0x7740,
	0x7ed9, 0x88ab, 0x8981, 0x8ba9, 0x8bf7, 0x8fc7, 0x8fd8, 0x8fd9,
	0x90a3, 0x90fd
};

/* Chinese bigrams that carry no topic in a question. */
static const char *kb_stop_zh2[] = {
	"请问", "你好", "您好", "我的", "我们", "你们", "一下", "怎么", "什么",
	"如何", "谢谢", "麻烦", "帮我", "我想", "想要", "我要", "这个", "那个",
	"是不", "不是", "的话", "知道", "为什", "可以", "是否", "能不", "不能"
};

static void	kb_entries_free(struct kb_entries *);
static void	kb_dfc_clear(void);

/* Add a token (copied) to a list. */
static void
kb_toks_add(struct kb_toks *t, const char *s, size_t len, enum kb_kind kind)
{
	if (t->n == t->size) {
		t->size = t->size == 0 ? 32 : t->size * 2;
		t->v = xreallocarray(t->v, t->size, sizeof *t->v);
	}
	t->v[t->n].s = xstrndup(s, len);
	t->v[t->n].kind = kind;
	t->n++;
}

/* Free a token list's tokens. */
static void
kb_toks_clear(struct kb_toks *t)
{
	size_t	i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].s);
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* Whether a token list has s. */
static int
kb_toks_has(const struct kb_toks *t, const char *s)
{
	size_t	i;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].s, s) == 0)
			return (1);
	}
	return (0);
}

/* Whether a code point is written without spaces (Han, kana, Hangul). */
static int
kb_is_cjk(utf8proc_int32_t cp)
{
	return ((cp >= 0x2e80 && cp <= 0x2fdf) || cp == 0x3005 ||
	    cp == 0x3007 || (cp >= 0x3040 && cp <= 0x30ff) ||
	    (cp >= 0x3100 && cp <= 0x312f) || (cp >= 0x31f0 && cp <= 0x31ff) ||
	    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0x20000 && cp <= 0x3134f));
}

/* Whether a code point can start or continue a word (letter or number). */
static int
kb_is_alnum(utf8proc_int32_t cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		return (1);
	default:
		return (0);
	}
}

/* Compare a string with an element of an array of strings. */
static int
kb_strcmp(const void *key, const void *elem)
{
	return (strcmp(key, *(const char * const *)elem));
}

/* Whether a folded ASCII word is an English stop word. */
static int
kb_is_stop(const char *w)
{
	return (bsearch(w, kb_stop_en, sizeof kb_stop_en /
	    sizeof kb_stop_en[0], sizeof kb_stop_en[0], kb_strcmp) != NULL);
}

/* Whether c is an ASCII vowel. */
static int
kb_vowel(char c)
{
	return (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' ||
	    c == 'y');
}

/* Whether the first n bytes of w have a vowel. */
static int
kb_has_vowel(const char *w, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (kb_vowel(w[i]))
			return (1);
	}
	return (0);
}

/* Whether w (of length *n) ends with suffix. */
static int
kb_ends(const char *w, size_t n, const char *suffix)
{
	size_t	len = strlen(suffix);

	return (n >= len && memcmp(w + n - len, suffix, len) == 0);
}

/*
 * Stem a folded ASCII word in place: a small Porter-like suffix stripper.
 * It only has to map the forms of one word to one string, not to a real
 * word: plurals (-s, -es, -ies), -ed, -ing, then -ation, -ment, -able,
 * -ly, a final -e or -y, and a doubled final consonant.
 */
static void
kb_stem(char *w)
{
	size_t	n = strlen(w), i;

	for (i = 0; i < sizeof kb_irregular / sizeof kb_irregular[0]; i++) {
		if (strcmp(w, kb_irregular[i][0]) == 0) {
			memcpy(w, kb_irregular[i][1],
			    strlen(kb_irregular[i][1]) + 1);
			return;
		}
	}
	if (n <= 3)
		return;

	/* Plurals. */
	if (kb_ends(w, n, "sses"))
		n -= 2;
	else if (kb_ends(w, n, "ies") && n >= 5) {
		n -= 2;
		w[n - 1] = 'y';
	} else if (kb_ends(w, n, "ss") || kb_ends(w, n, "us") ||
	    kb_ends(w, n, "is"))
		;
	else if (w[n - 1] == 's')
		n--;

	/* Past and progressive. */
	if (kb_ends(w, n, "ied") && n >= 5) {
		n -= 2;
		w[n - 1] = 'y';
	} else if (kb_ends(w, n, "ed") && n - 2 >= 3 &&
	    kb_has_vowel(w, n - 2))
		n -= 2;
	else if (kb_ends(w, n, "ing") && n - 3 >= 3 &&
	    kb_has_vowel(w, n - 3))
		n -= 3;

	/* Derivations. */
	if (kb_ends(w, n, "ation") && n - 5 >= 3)
		n -= 5;
	else if (kb_ends(w, n, "ment") && n - 4 >= 3)
		n -= 4;
	else if ((kb_ends(w, n, "able") || kb_ends(w, n, "ible")) &&
	    n - 4 >= 3)
		n -= 4;
	else if (kb_ends(w, n, "ly") && n - 2 >= 4)
		n -= 2;

	/* A final e or y, then a doubled consonant. */
	if (n > 3 && w[n - 1] == 'e')
		n--;
	else if (n > 4 && w[n - 1] == 'y')
		n--;
	if (n > 3 && w[n - 1] == w[n - 2] && !kb_vowel(w[n - 1]))
		n--;
	w[n] = '\0';
}

/* Emit the tokens of one word of n bytes. */
static void
kb_word(struct kb_toks *t, const char *w, size_t n)
{
	char	buf[KB_WORD_MAX + 1];
	size_t	i;
	int	ascii = 1, letters = 0, digits = 0;

	for (i = 0; i < n; i++) {
		if ((unsigned char)w[i] >= 0x80)
			ascii = 0;
		else if (isdigit((unsigned char)w[i]))
			digits++;
		else
			letters++;
	}
	if (digits == (int)n) {
		kb_toks_add(t, w, n, KB_NUM);
		return;
	}
	if (!ascii || digits > 0) {
		kb_toks_add(t, w, n, KB_WORD);
		return;
	}
	if (letters < 2)
		return;
	memcpy(buf, w, n);
	buf[n] = '\0';
	if (kb_is_stop(buf))
		return;
	kb_stem(buf);
	kb_toks_add(t, buf, strlen(buf), KB_WORD);
}

/* Compare two code points. */
static int
kb_cpcmp(const void *a, const void *b)
{
	utf8proc_int32_t	x = *(const utf8proc_int32_t *)a;
	utf8proc_int32_t	y = *(const utf8proc_int32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Whether a CJK code point is a function character. */
static int
kb_is_stop_zh1(utf8proc_int32_t cp)
{
	return (bsearch(&cp, kb_stop_zh1, sizeof kb_stop_zh1 /
	    sizeof kb_stop_zh1[0], sizeof kb_stop_zh1[0], kb_cpcmp) != NULL);
}

/* Whether a two-character string is a topic-less Chinese bigram. */
static int
kb_is_stop_zh2(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof kb_stop_zh2 / sizeof kb_stop_zh2[0]; i++) {
		if (strcmp(s, kb_stop_zh2[i]) == 0)
			return (1);
	}
	return (0);
}

/*
 * Emit the tokens of a CJK run: its bigrams, then its characters except
 * function characters.  off[i] is where character i starts in s.
 */
static void
kb_cjk(struct kb_toks *t, const char *s, const size_t *off,
    const utf8proc_int32_t *cps, size_t n)
{
	char	bi[16];
	size_t	i, len;

	for (i = 0; i + 1 < n; i++) {
		len = off[i + 2] - off[i];
		if (len >= sizeof bi)
			continue;
		memcpy(bi, s + off[i], len);
		bi[len] = '\0';
		if (!kb_is_stop_zh2(bi))
			kb_toks_add(t, bi, len, KB_BIGRAM);
	}
	for (i = 0; i < n; i++) {
		if (!kb_is_stop_zh1(cps[i]))
			kb_toks_add(t, s + off[i], off[i + 1] - off[i],
			    KB_UNIGRAM);
	}
}

/*
 * Normalize text (at most max bytes of it, cut at a character): invalid
 * UTF-8 becomes spaces, then NFKC with case folding.  The caller frees.
 */
static char *
kb_normalize(const char *text, size_t max)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)text;
	utf8proc_uint8_t	*out = NULL;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n, r;
	struct dbuf		 b = { NULL, 0, 0 };

	dbuf_add(&b, "", 0);
	while (*p != '\0' && b.len < max) {
		n = utf8proc_iterate(p, -1, &cp);
		if (n <= 0) {
			dbuf_add(&b, " ", 1);
			p++;
			continue;
		}
		if (b.len + (size_t)n > max)
			break;
		dbuf_add(&b, (const char *)p, (size_t)n);
		p += n;
	}
	r = utf8proc_map((const utf8proc_uint8_t *)b.s, 0, &out,
	    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
	    UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
	if (r < 0) {
		free(out);
		return (b.s);
	}
	free(b.s);
	return ((char *)out);
}

/* Tokenize at most max bytes of text into t. */
static void
kb_tokenize(const char *text, size_t max, struct kb_toks *t)
{
	const utf8proc_uint8_t	*p;
	utf8proc_int32_t	 cp, next, *cps = NULL;
	utf8proc_ssize_t	 n, m;
	size_t			*off = NULL, ncjk = 0, size = 0;
	char			*norm, word[KB_WORD_MAX + 1];
	const char		*run = NULL;
	size_t			 wlen = 0;
	int			 inword = 0;

	norm = kb_normalize(text, max);
	p = (const utf8proc_uint8_t *)norm;
	for (;;) {
		n = (*p == '\0') ? 0 : utf8proc_iterate(p, -1, &cp);
		if (n < 0) {
			p++;
			continue;
		}
		if (n > 0 && kb_is_cjk(cp)) {
			if (ncjk == 0)
				run = (const char *)p;
			if (ncjk + 2 > size) {
				size = size == 0 ? 64 : size * 2;
				cps = xreallocarray(cps, size, sizeof *cps);
				off = xreallocarray(off, size, sizeof *off);
			}
			cps[ncjk] = cp;
			off[ncjk] = (const char *)p - run;
			ncjk++;
		} else if (ncjk > 0) {
			off[ncjk] = (const char *)p - run;
			kb_cjk(t, run, off, cps, ncjk);
			ncjk = 0;
		}
		if (n > 0 && !kb_is_cjk(cp) && (kb_is_alnum(cp) ||
		    (inword && (utf8proc_category(cp) ==
		    UTF8PROC_CATEGORY_MN || utf8proc_category(cp) ==
		    UTF8PROC_CATEGORY_MC)))) {
			if (wlen + (size_t)n <= KB_WORD_MAX) {
				memcpy(word + wlen, p, (size_t)n);
				wlen += (size_t)n;
			}
			inword = 1;
		} else if (n > 0 && inword && (cp == '\'' || cp == 0x2019)) {
			/* An apostrophe inside a word joins it: "don't". */
			m = utf8proc_iterate(p + n, -1, &next);
			if (m <= 0 || kb_is_cjk(next) || !kb_is_alnum(next)) {
				kb_word(t, word, wlen);
				wlen = 0;
				inword = 0;
			}
		} else if (inword) {
			kb_word(t, word, wlen);
			wlen = 0;
			inword = 0;
		}
		if (n == 0)
			break;
		p += n;
	}
	free(cps);
	free(off);
	free(norm);
}

/* The terms kefu indexes for a text (space-separated); the caller frees. */
char *
kb_terms(const char *text)
{
	struct kb_toks	t = { NULL, 0, 0 };
	struct dbuf	b = { NULL, 0, 0 };
	size_t		i;

	dbuf_add(&b, "", 0);
	if (text != NULL)
		kb_tokenize(text, KB_TEXT_MAX, &t);
	for (i = 0; i < t.n; i++) {
		if (i > 0)
			dbuf_add(&b, " ", 1);
		dbuf_add(&b, t.v[i].s, strlen(t.v[i].s));
	}
	kb_toks_clear(&t);
	return (b.s);
}

/* --- import ------------------------------------------------------------ */

/* A copy of s without leading and trailing white space; NULL if empty. */
static char *
kb_trim(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 0)
		return (NULL);
	return (xstrndup(s, len));
}

/*
 * The canonical form of a language tag: "zh", "zh-cn", "zh_CN" and
 * "zh-Hans" are "zh-CN"; "en-US" and "en-GB" are "en"; others are kept.
 * The caller frees; NULL for NULL.
 */
static char *
kb_lang(const char *lang)
{
	if (lang == NULL || *lang == '\0')
		return (NULL);
	if (strcasecmp(lang, "zh") == 0 || strcasecmp(lang, "zh-cn") == 0 ||
	    strcasecmp(lang, "zh_cn") == 0 || strcasecmp(lang, "zh-hans") == 0)
		return (xstrdup("zh-CN"));
	if (strcasecmp(lang, "en") == 0 || strncasecmp(lang, "en-", 3) == 0 ||
	    strncasecmp(lang, "en_", 3) == 0)
		return (xstrdup("en"));
	return (xstrdup(lang));
}

/* Whether an intent name is well formed: [a-z0-9_.-], at most 64. */
static int
kb_intent_ok(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return (0);
	}
	return (n > 0 && n <= 64);
}

/* Check and store one parsed entry (its strings are taken). */
static int
kb_entry_add(struct kb_entries *es, struct kb_entry *e, const char *path,
    char **cause)
{
	char	*lang;

	if (e->question == NULL || e->answer == NULL) {
		*cause = xasprintf("%s:%u: entry without %s", path, e->line,
		    e->question == NULL ? "a question" : "an answer");
		goto fail;
	}
	if (strlen(e->question) > KB_TEXT_MAX ||
	    strlen(e->answer) > KB_TEXT_MAX ||
	    (e->tags != NULL && strlen(e->tags) > KB_TEXT_MAX)) {
		*cause = xasprintf("%s:%u: entry longer than %d bytes", path,
		    e->line, KB_TEXT_MAX);
		goto fail;
	}
	if (e->intent != NULL && !kb_intent_ok(e->intent)) {
		*cause = xasprintf("%s:%u: bad intent name (lower-case "
		    "letters, digits and _ only)", path, e->line);
		goto fail;
	}
	if (es->n == KB_ENTRIES_MAX) {
		*cause = xasprintf("%s:%u: more than %d entries", path,
		    e->line, KB_ENTRIES_MAX);
		goto fail;
	}
	lang = kb_lang(e->lang);
	free(e->lang);
	e->lang = lang;
	es->v = xreallocarray(es->v, es->n + 1, sizeof *es->v);
	es->v[es->n++] = *e;
	memset(e, 0, sizeof *e);
	return (0);
fail:
	free(e->question);
	free(e->answer);
	free(e->intent);
	free(e->lang);
	free(e->tags);
	memset(e, 0, sizeof *e);
	return (-1);
}

/* A trimmed copy of a CSV field, or NULL if the column is absent/empty. */
static char *
kb_csv_get(const struct csv_record *rec, int col)
{
	const char	*s;

	if (col < 0 || (size_t)col >= rec->nfields)
		return (NULL);
	s = rec->fields[col];
	return (kb_trim(s, strlen(s)));
}

/* Parse a CSV knowledge-base file. */
static int
kb_parse_csv(const char *path, const char *buf, size_t len,
    struct kb_entries *es, char **cause)
{
	struct csv		 r;
	struct csv_record	 hdr, rec;
	struct kb_entry		 e;
	int			 cq, ca, ci, cl, ct, got;

	csv_init(&r, path, buf, len);
	if ((got = csv_next(&r, &hdr, cause)) <= 0) {
		if (got == 0)
			*cause = xasprintf("%s:1: empty file (expected a "
			    "header question,answer)", path);
		return (-1);
	}
	cq = csv_column(&hdr, "question");
	ca = csv_column(&hdr, "answer");
	ci = csv_column(&hdr, "intent");
	cl = csv_column(&hdr, "lang");
	ct = csv_column(&hdr, "tags");
	if (cq < 0 || ca < 0) {
		*cause = xasprintf("%s:%u: the header has no %s column", path,
		    hdr.line, cq < 0 ? "question" : "answer");
		csv_record_clear(&hdr);
		return (-1);
	}
	while ((got = csv_next(&r, &rec, cause)) == 1) {
		if (rec.nfields != hdr.nfields) {
			*cause = xasprintf("%s:%u: %zu fields where the header "
			    "has %zu", path, rec.line, rec.nfields,
			    hdr.nfields);
			csv_record_clear(&rec);
			got = -1;
			break;
		}
		memset(&e, 0, sizeof e);
		e.line = rec.line;
		e.question = kb_csv_get(&rec, cq);
		e.answer = kb_csv_get(&rec, ca);
		e.intent = kb_csv_get(&rec, ci);
		e.lang = kb_csv_get(&rec, cl);
		e.tags = kb_csv_get(&rec, ct);
		csv_record_clear(&rec);
		if (kb_entry_add(es, &e, path, cause) != 0) {
			got = -1;
			break;
		}
	}
	csv_record_clear(&hdr);
	return (got == 0 ? 0 : -1);
}

/*
 * If line (len bytes) is "key: value" for the given key (ASCII case-
 * insensitive), return a trimmed copy of the value ("" if empty).
 */
static char *
kb_md_meta(const char *line, size_t len, const char *key)
{
	size_t	klen = strlen(key);
	char	*v;

	if (len <= klen || strncasecmp(line, key, klen) != 0 ||
	    line[klen] != ':')
		return (NULL);
	if ((v = kb_trim(line + klen + 1, len - klen - 1)) == NULL)
		v = xstrdup("");
	return (v);
}

/* Append a tags line's value to an entry's tags. */
static void
kb_md_tags(struct kb_entry *e, char *v)
{
	char	*both;

	if (*v == '\0') {
		free(v);
		return;
	}
	if (e->tags == NULL) {
		e->tags = v;
		return;
	}
	both = xasprintf("%s, %s", e->tags, v);
	free(e->tags);
	free(v);
	e->tags = both;
}

/* Whether a code point is CJK or CJK / full-width punctuation. */
static int
kb_is_cjk_text(utf8proc_int32_t cp)
{
	return (kb_is_cjk(cp) || (cp >= 0x3000 && cp <= 0x303f) ||
	    (cp >= 0xff00 && cp <= 0xffef));
}

/* Whether a Markdown line starts a block (list item, quote, table...). */
static int
kb_md_block(const char *line, size_t n)
{
	size_t	i = 0;

	if (n >= 4 && (memcmp(line, "    ", 4) == 0 || line[0] == '\t'))
		return (1);
	if (n >= 2 && strchr("-*+", line[0]) != NULL && line[1] == ' ')
		return (1);
	if (n >= 1 && (line[0] == '>' || line[0] == '|'))
		return (1);
	while (i < n && isdigit((unsigned char)line[i]))
		i++;
	return (i > 0 && i + 1 < n && (line[i] == '.' || line[i] == ')') &&
	    line[i + 1] == ' ');
}

/*
 * Add a line to a Markdown answer.  Lines of a paragraph are joined the
 * way a Markdown renderer shows them, so that a chat shows no hard breaks
 * in mid-sentence: with a space, or with nothing between Chinese text.
 * Blank lines keep a paragraph break; list items, quotes and code keep
 * their own lines.  *gap is the pending break: 0 none, 1 line, 2 paragraph.
 */
static void
kb_md_append(struct dbuf *ans, const char *line, size_t n, int raw,
    int *gap)
{
	utf8proc_int32_t	 last = 0, first = 0;
	size_t			 i;

	if (raw) {
		if (ans->len > 0)
			dbuf_add(ans, "\n\n", *gap == 2 ? 2 : 1);
		dbuf_add(ans, line, n);
		*gap = 1;
		return;
	}
	if (kb_md_block(line, n)) {
		if (ans->len > 0)
			dbuf_add(ans, "\n\n", *gap == 2 ? 2 : 1);
		dbuf_add(ans, line, n);
		*gap = 0;
		return;
	}
	while (n > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	if (n == 0) {
		if (ans->len > 0)
			*gap = 2;
		return;
	}
	if (ans->len > 0 && *gap > 0)
		dbuf_add(ans, "\n\n", *gap == 2 ? 2 : 1);
	else if (ans->len > 0) {
		while (ans->len > 0 && ans->s[ans->len - 1] == ' ')
			ans->s[--ans->len] = '\0';
		i = ans->len;
		while (i > 0 && ((unsigned char)ans->s[i - 1] & 0xc0) == 0x80)
			i--;
		if (i > 0)
			utf8proc_iterate((const utf8proc_uint8_t *)ans->s +
			    i - 1, -1, &last);
		utf8proc_iterate((const utf8proc_uint8_t *)line,
		    (utf8proc_ssize_t)n, &first);
		if (!((kb_is_cjk_text(last) || kb_is_cjk_text(first)) &&
		    !(last < 0x80 && isalnum(last)) &&
		    !(first < 0x80 && isalnum(first))))
			dbuf_add(ans, " ", 1);
	}
	dbuf_add(ans, line, n);
	*gap = 0;
}

/* Finish a Markdown entry: trim its answer and add it. */
static int
kb_md_end(struct kb_entries *es, struct kb_entry *e, struct dbuf *ans,
    const char *lang, const char *path, char **cause)
{
	if (e->question == NULL && e->line == 0)
		return (0);		/* no entry open */
	e->answer = ans->len > 0 ? kb_trim(ans->s, ans->len) : NULL;
	ans->len = 0;
	ans->s[0] = '\0';
	if (e->lang == NULL && lang != NULL)
		e->lang = xstrdup(lang);
	return (kb_entry_add(es, e, path, cause));
}

/*
 * Parse a Markdown FAQ: an optional "# title" and "lang: xx" before the
 * first "## question" heading; after each heading, optional "intent:",
 * "tags:" and "lang:" lines, then the answer up to the next "#" or "##"
 * heading outside a code fence.  Other text before the first question is
 * ignored.
 */
static int
kb_parse_md(const char *path, const char *buf, size_t len,
    struct kb_entries *es, char **cause)
{
	struct kb_entry	 e;
	struct dbuf	 ans = { NULL, 0, 0 };
	const char	*line, *end, *nl;
	char		*v, *lang = NULL;
	size_t		 n;
	unsigned	 lineno = 0;
	int		 fence = 0, marker, meta = 0, gap = 0, rc = -1;

	memset(&e, 0, sizeof e);
	dbuf_add(&ans, "", 0);
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	end = buf + len;
	for (line = buf; line < end; line = nl + 1) {
		lineno++;
		if ((nl = memchr(line, '\n', end - line)) == NULL)
			nl = end;
		n = nl - line;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		marker = (n >= 3 && (memcmp(line, "```", 3) == 0 ||
		    memcmp(line, "~~~", 3) == 0));
		if (marker)
			fence = !fence;
		if (!fence && ((n >= 2 && memcmp(line, "# ", 2) == 0) ||
		    (n >= 3 && memcmp(line, "## ", 3) == 0))) {
			if (kb_md_end(es, &e, &ans, lang, path, cause) != 0)
				goto out;
			memset(&e, 0, sizeof e);
			if (line[1] == '#') {
				/* "## question", without closing #s. */
				while (n > 3 && (line[n - 1] == '#' ||
				    line[n - 1] == ' '))
					n--;
				e.question = kb_trim(line + 3, n - 3);
				e.line = lineno;
				meta = 1;
				if (e.question == NULL) {
					*cause = xasprintf("%s:%u: empty "
					    "question", path, lineno);
					goto out;
				}
			}
			continue;
		}
		if (e.line == 0) {
			/* Before the first question: only lang matters. */
			if ((v = kb_md_meta(line, n, "lang")) != NULL) {
				free(lang);
				lang = v;
			}
			continue;
		}
		if (meta && !fence && !marker) {
			if (n == 0)
				continue;
			if ((v = kb_md_meta(line, n, "intent")) != NULL) {
				free(e.intent);
				e.intent = *v != '\0' ? v : NULL;
				if (e.intent == NULL)
					free(v);
				continue;
			}
			if ((v = kb_md_meta(line, n, "lang")) != NULL) {
				free(e.lang);
				e.lang = v;
				continue;
			}
			if ((v = kb_md_meta(line, n, "tags")) != NULL) {
				kb_md_tags(&e, v);
				continue;
			}
		}
		meta = 0;
		if (ans.len + n + 2 > KB_TEXT_MAX) {
			*cause = xasprintf("%s:%u: answer longer than %d bytes",
			    path, e.line, KB_TEXT_MAX);
			goto out;
		}
		kb_md_append(&ans, line, n, fence || marker, &gap);
	}
	if (fence && e.line != 0) {
		*cause = xasprintf("%s:%u: code fence never closed", path,
		    e.line);
		goto out;
	}
	if (kb_md_end(es, &e, &ans, lang, path, cause) != 0) {
		memset(&e, 0, sizeof e);
		goto out;
	}
	memset(&e, 0, sizeof e);
	rc = 0;
out:
	free(e.question);
	free(e.intent);
	free(e.lang);
	free(e.tags);
	free(ans.s);
	free(lang);
	return (rc);
}

/* Check that a buffer is UTF-8; *cause names the first bad line. */
static int
kb_check_utf8(const char *path, const char *buf, size_t len, char **cause)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)buf;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	size_t			 off = 0;
	unsigned		 line = 1;

	while (off < len) {
		n = utf8proc_iterate(p + off, (utf8proc_ssize_t)(len - off),
		    &cp);
		if (n <= 0) {
			*cause = xasprintf("%s:%u: not valid UTF-8", path,
			    line);
			return (-1);
		}
		if (cp == '\n')
			line++;
		else if (cp == 0) {
			*cause = xasprintf("%s:%u: NUL byte", path, line);
			return (-1);
		}
		off += (size_t)n;
	}
	return (0);
}

/* Free parsed entries. */
static void
kb_entries_free(struct kb_entries *es)
{
	size_t	i;

	for (i = 0; i < es->n; i++) {
		free(es->v[i].question);
		free(es->v[i].answer);
		free(es->v[i].intent);
		free(es->v[i].lang);
		free(es->v[i].tags);
	}
	free(es->v);
	memset(es, 0, sizeof *es);
}

/* Run one SQL statement without results; *cause on failure. */
static int
kb_exec(sqlite3 *db, const char *sql, const char *what, char **cause)
{
	char	*err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		*cause = xasprintf("%s: %s", what, err != NULL ? err :
		    sqlite3_errmsg(db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

/* Bind text or NULL. */
static void
kb_bind(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/*
 * The terms of a tag list, one tag after another with " , " between them;
 * tags are separated by commas, semicolons or 、.  The caller frees.
 */
static char *
kb_tags_terms(const char *tags)
{
	struct dbuf	 b = { NULL, 0, 0 };
	char		*list, *at, *tag, *t;
	size_t		 n;

	dbuf_add(&b, "", 0);
	if (tags == NULL)
		return (b.s);
	list = kb_normalize(tags, KB_TEXT_MAX);
	while ((at = strstr(list, "\xe3\x80\x81")) != NULL)
		memcpy(at, ",  ", 3);
	for (at = list; *at != '\0'; at += n + (at[n] != '\0')) {
		n = strcspn(at, ",;");
		tag = xstrndup(at, n);
		t = kb_terms(tag);
		if (*t != '\0') {
			if (b.len > 0)
				dbuf_add(&b, " , ", 3);
			dbuf_add(&b, t, strlen(t));
		}
		free(t);
		free(tag);
	}
	free(list);
	return (b.s);
}

/*
 * The index text of an entry: the terms of the question, " | ", those of
 * each tag (see kb_tags_terms), " | ", those of the answer.  FTS5 reads
 * "|" and "," as separators; kb_score uses them to tell the parts apart.
 */
static char *
kb_entry_terms(const struct kb_entry *e)
{
	char	*q, *t, *a, *all;

	q = kb_terms(e->question);
	t = kb_tags_terms(e->tags);
	a = kb_terms(e->answer);
	all = xasprintf("%s | %s | %s", q, t, a);
	free(q);
	free(t);
	free(a);
	return (all);
}

/* Replace the entries from source with es, inside a savepoint. */
static int
kb_store(struct store *s, const char *source, const struct kb_entries *es,
    char **cause)
{
	sqlite3		*db = store_db(s);
	sqlite3_stmt	*del_fts = NULL, *del = NULL, *ins = NULL;
	sqlite3_stmt	*ins_fts = NULL;
	const char	*what = NULL;
	char		*terms;
	int64_t		 now = now_ms();
	size_t		 i;

	if (store_begin(s) != 0) {
		*cause = xasprintf("cannot begin a transaction: %s",
		    sqlite3_errmsg(db));
		return (-1);
	}
	if (kb_exec(db, "SAVEPOINT kb_import", "savepoint", cause) != 0)
		return (-1);
	what = "prepare";
	if (sqlite3_prepare_v2(db, "DELETE FROM kb_fts WHERE rowid IN "
	    "(SELECT id FROM kb_entries WHERE source = ?1)", -1, &del_fts,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM kb_entries WHERE source = ?1",
	    -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO kb_entries (source, question, "
	    "answer, intent, lang, tags, created_at) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7)", -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO kb_fts (rowid, terms) VALUES "
	    "(?1, ?2)", -1, &ins_fts, NULL) != SQLITE_OK)
		goto fail;
	what = "delete the earlier entries";
	sqlite3_bind_text(del_fts, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 1, source, -1, SQLITE_STATIC);
	if (sqlite3_step(del_fts) != SQLITE_DONE ||
	    sqlite3_step(del) != SQLITE_DONE)
		goto fail;
	what = "insert an entry";
	for (i = 0; i < es->n; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, source, -1, SQLITE_STATIC);
		kb_bind(ins, 2, es->v[i].question);
		kb_bind(ins, 3, es->v[i].answer);
		kb_bind(ins, 4, es->v[i].intent);
		kb_bind(ins, 5, es->v[i].lang);
		kb_bind(ins, 6, es->v[i].tags);
		sqlite3_bind_int64(ins, 7, now);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto fail;
		sqlite3_reset(ins_fts);
		sqlite3_bind_int64(ins_fts, 1, sqlite3_last_insert_rowid(db));
		terms = kb_entry_terms(&es->v[i]);
		sqlite3_bind_text(ins_fts, 2, terms, -1, SQLITE_TRANSIENT);
		free(terms);
		if (sqlite3_step(ins_fts) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(del_fts);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(ins_fts);
	return (kb_exec(db, "RELEASE kb_import", "release", cause));
fail:
	*cause = xasprintf("%s: cannot %s: %s", source, what,
	    sqlite3_errmsg(db));
	sqlite3_finalize(del_fts);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(ins_fts);
	sqlite3_exec(db, "ROLLBACK TO kb_import; RELEASE kb_import", NULL,
	    NULL, NULL);
	return (-1);
}

/* Whether path ends with suffix, ASCII case-insensitive. */
static int
kb_has_ext(const char *path, const char *suffix)
{
	size_t	n = strlen(path), len = strlen(suffix);

	return (n > len && strcasecmp(path + n - len, suffix) == 0);
}

/*
 * Import a CSV (header question,answer[,intent][,lang][,tags]) or Markdown
 * ("## question" then the answer) file; its earlier entries are replaced.
 * Returns the number of entries, or -1 with *cause naming file:line.
 */
int
kb_import(struct store *s, const char *path, char **cause)
{
	struct kb_entries	 es = { NULL, 0 };
	char			*buf, *source;
	size_t			 len;
	int			 md, r;

	kb_dfc_clear();		/* the next search recounts */
	if (kb_has_ext(path, ".md") || kb_has_ext(path, ".markdown"))
		md = 1;
	else if (kb_has_ext(path, ".csv"))
		md = 0;
	else {
		*cause = xasprintf("%s: unknown format (expected .csv, .md or "
		    ".markdown)", path);
		return (-1);
	}
	if ((source = realpath(path, NULL)) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	if ((buf = file_read(path, KB_FILE_MAX, cause)) == NULL) {
		free(source);
		return (-1);
	}
	len = strlen(buf);
	if (kb_check_utf8(path, buf, len, cause) != 0)
		r = -1;
	else if (md)
		r = kb_parse_md(path, buf, len, &es, cause);
	else
		r = kb_parse_csv(path, buf, len, &es, cause);
	free(buf);
	if (r == 0)
		r = kb_store(s, source, &es, cause);
	if (r == 0) {
		r = (int)es.n;
		log_info("kb", "msg=\"imported\" file=%s entries=%d",
		    logq(source), r);
	}
	kb_entries_free(&es);
	free(source);
	return (r);
}

/* --- search ------------------------------------------------------------ */

/* Free a list of hits. */
void
kb_hits_free(struct kb_hit *hits, size_t n)
{
	size_t	i;

	if (hits == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(hits[i].question);
		free(hits[i].answer);
		free(hits[i].intent);
		free(hits[i].lang);
	}
	free(hits);
}

/* The weight of a kind of term, before idf. */
static double
kb_kind_weight(enum kb_kind kind)
{
	return (kind == KB_UNIGRAM ? KB_W_UNIGRAM : 1.0);
}

/* Quote a term for an FTS5 query, doubling any double quote. */
static void
kb_fts_quote(struct dbuf *b, const char *s)
{
	dbuf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			dbuf_add(b, "\"\"", 2);
		else
			dbuf_add(b, s, 1);
	}
	dbuf_add(b, "\"", 1);
}

/*
 * Document frequencies of every indexed term, cached in memory: the
 * knowledge base changes only on import, while every customer message
 * searches it.  The cache is rebuilt after an import on this connection
 * (kb_import clears it) or a commit by another one (PRAGMA data_version
 * changes, e.g. `kefuctl kb import` beside a running kefud).
 */
struct kb_dfc {
	sqlite3		 *db;
	char		 *file;		/* the database file: db may be reused */
	long long	  version;
	long long	  total;	/* entries */
	char		**terms;	/* sorted */
	long long	 *df;
	size_t		  n;
};
static struct kb_dfc	kb_dfc;

static void
kb_dfc_clear(void)
{
	size_t	i;

	for (i = 0; i < kb_dfc.n; i++)
		free(kb_dfc.terms[i]);
	free(kb_dfc.terms);
	free(kb_dfc.df);
	free(kb_dfc.file);
	memset(&kb_dfc, 0, sizeof kb_dfc);
}

static int
kb_strp_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* PRAGMA data_version: changes when another connection commits. */
static long long
kb_data_version(struct store *s)
{
	sqlite3_stmt	*st;
	long long	 v = -1;

	if ((st = store_cached(s, "PRAGMA data_version")) == NULL)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return (v);
}

/* Make sure the cache describes the store as it is now; -1 on error. */
static int
kb_dfc_load(struct store *s)
{
	sqlite3		 *db = store_db(s);
	sqlite3_stmt	 *st;
	char		**all = NULL, *copy, *tok, *save;
	size_t		  nall = 0, sall = 0, i, j, first;
	long long	  version;
	const char	 *file;
	int		  r;

	if ((version = kb_data_version(s)) < 0)
		return (-1);
	if ((file = sqlite3_db_filename(db, "main")) == NULL)
		file = "";
	if (kb_dfc.db == db && kb_dfc.version == version &&
	    kb_dfc.file != NULL && strcmp(kb_dfc.file, file) == 0)
		return (0);
	kb_dfc_clear();
	if (sqlite3_prepare_v2(db, "SELECT terms FROM kb_fts", -1, &st,
	    NULL) != SQLITE_OK)
		return (-1);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		copy = xstrdup((const char *)sqlite3_column_text(st, 0) ?
		    (const char *)sqlite3_column_text(st, 0) : "");
		first = nall;
		for (tok = strtok_r(copy, " ", &save); tok != NULL;
		    tok = strtok_r(NULL, " ", &save)) {
			for (j = first; j < nall; j++) {
				if (strcmp(all[j], tok) == 0)
					break;
			}
			if (j < nall)
				continue;	/* once per entry */
			if (nall == sall) {
				sall = sall == 0 ? 1024 : sall * 2;
				all = xreallocarray(all, sall, sizeof *all);
			}
			all[nall++] = xstrdup(tok);
		}
		free(copy);
		kb_dfc.total++;
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		for (i = 0; i < nall; i++)
			free(all[i]);
		free(all);
		kb_dfc_clear();
		return (-1);
	}
	if (nall > 1)
		qsort(all, nall, sizeof *all, kb_strp_cmp);
	kb_dfc.terms = xcalloc(nall + 1, sizeof *kb_dfc.terms);
	kb_dfc.df = xcalloc(nall + 1, sizeof *kb_dfc.df);
	for (i = 0; i < nall; i++) {
		if (kb_dfc.n > 0 &&
		    strcmp(kb_dfc.terms[kb_dfc.n - 1], all[i]) == 0) {
			kb_dfc.df[kb_dfc.n - 1]++;
			free(all[i]);
			continue;
		}
		kb_dfc.terms[kb_dfc.n] = all[i];
		kb_dfc.df[kb_dfc.n++] = 1;
	}
	free(all);
	kb_dfc.db = db;
	kb_dfc.file = xstrdup(file);
	kb_dfc.version = version;
	return (0);
}

/* How many entries hold a term, from the cache. */
static long long
kb_df(const char *term)
{
	char	**hit;

	hit = bsearch(&term, kb_dfc.terms, kb_dfc.n, sizeof *kb_dfc.terms,
	    kb_strp_cmp);
	return (hit == NULL ? 0 : kb_dfc.df[hit - kb_dfc.terms]);
}

/*
 * The query's distinct terms with their weights.  idf is BM25's, kept
 * positive: ln(1 + (N - df + 0.5) / (df + 0.5)); a term no entry has is
 * weighed as if one entry had it, times KB_W_UNSEEN, so one unknown word
 * lowers the score without sinking it.
 */
static int
kb_query_terms(const char *query, long long total,
    struct kb_qterm **out, size_t *nout)
{
	struct kb_toks	 t = { NULL, 0, 0 }, seen = { NULL, 0, 0 };
	struct kb_qterm	*q = NULL;
	size_t		 i, n = 0;
	long long	 df, d;
	double		 fidf;

	kb_tokenize(query, KB_QUERY_MAX, &t);
	for (i = 0; i < t.n && n < KB_QUERY_TERMS; i++) {
		if (kb_toks_has(&seen, t.v[i].s))
			continue;
		kb_toks_add(&seen, t.v[i].s, strlen(t.v[i].s), t.v[i].kind);
		df = kb_df(t.v[i].s);
		d = df > 0 ? df : 1;
		q = xreallocarray(q, n + 1, sizeof *q);
		q[n].s = xstrdup(t.v[i].s);
		q[n].kind = t.v[i].kind;
		q[n].df = df;
		q[n].w = kb_kind_weight(t.v[i].kind) *
		    log(1.0 + ((double)total - d + 0.5) / (d + 0.5));
		if (df == 0 && t.v[i].kind == KB_NUM)
			q[n].w = 0;	/* an order number, an amount */
		else if (df == 0)
			q[n].w *= (t.v[i].kind == KB_BIGRAM ||
			    t.v[i].kind == KB_UNIGRAM) ? KB_W_UNSEEN_CJK :
			    KB_W_UNSEEN;
		fidf = log(((double)total - df + 0.5) / (df + 0.5));
		q[n].idf_fts = fidf > 1e-6 ? fidf : 1e-6;
		n++;
	}
	kb_toks_clear(&t);
	kb_toks_clear(&seen);
	*out = q;
	*nout = n;
	return (0);
}

/* Compare a term with a query term. */
static int
kb_qterm_cmp(const void *key, const void *elem)
{
	return (strcmp(key, ((const struct kb_qterm *)elem)->s));
}

/* Order query terms by their text, for bsearch. */
static int
kb_qterm_sort(const void *a, const void *b)
{
	return (strcmp(((const struct kb_qterm *)a)->s,
	    ((const struct kb_qterm *)b)->s));
}

/* The kind weight of an index term: a single CJK character weighs less. */
static double
kb_term_weight(const char *t)
{
	utf8proc_int32_t	cp;
	utf8proc_ssize_t	n;

	if ((unsigned char)*t < 0x80)
		return (1.0);
	n = utf8proc_iterate((const utf8proc_uint8_t *)t, -1, &cp);
	if (n > 0 && t[n] == '\0' && kb_is_cjk(cp))
		return (KB_W_UNIGRAM);
	return (1.0);
}

/*
 * Score one candidate in [0, 1) from its index text (kb_entry_terms) and
 * its bm25.  coverage is the weighted share of the query's terms the
 * entry has: full weight in the question or a tag, KB_M_ANSWER in the
 * answer only.  precision is the share of the best-matching phrasing (the
 * question or one tag) that the query has.  FTS5's bm25 is scaled by the
 * sum of the query terms' idf, so that an entry with each term once at
 * average length has 0.5.  See docs/kb.md.  q is sorted by text.
 */
static double
kb_score(const struct kb_qterm *q, size_t nq, const char *terms,
    double bm25)
{
	const struct kb_qterm	*found;
	unsigned char		*hit;
	char			*copy, *tok, *last;
	double			 have = 0, all = 0, ref = 0, cov, lex, bnorm;
	double			 phave = 0, pall = 0, prec = 0, w;
	size_t			 i;
	int			 part = 0;	/* question, tags, answer */

	if (nq == 0 || terms == NULL)
		return (0);
	hit = xcalloc(nq, 1);
	copy = xstrdup(terms);
	for (tok = strtok_r(copy, " ", &last); ; tok = strtok_r(NULL, " ",
	    &last)) {
		if (tok == NULL || strcmp(tok, "|") == 0 ||
		    strcmp(tok, ",") == 0) {
			/* The end of a phrasing. */
			if (part < 2 && pall > 0 && phave / pall > prec)
				prec = phave / pall;
			phave = pall = 0;
			if (tok == NULL)
				break;
			if (*tok == '|')
				part++;
			continue;
		}
		found = bsearch(tok, q, nq, sizeof *q, kb_qterm_cmp);
		if (part < 2) {
			w = kb_term_weight(tok);
			pall += w;
			if (found != NULL)
				phave += w;
		}
		if (found != NULL) {
			i = (size_t)(found - q);
			if (part < 2)
				hit[i] = 2;
			else if (hit[i] == 0)
				hit[i] = 1;
		}
	}
	free(copy);
	for (i = 0; i < nq; i++) {
		ref += q[i].df > 0 ? q[i].idf_fts : 0;
		all += q[i].w;
		if (hit[i] == 2)
			have += q[i].w;
		else if (hit[i] == 1)
			have += q[i].w * KB_M_ANSWER;
	}
	free(hit);
	if (all <= 0)
		return (0);
	cov = have / all;
	lex = cov * (KB_PREC_BASE + (1 - KB_PREC_BASE) * prec);
	bm25 = -bm25;
	bnorm = bm25 > 0 && ref > 0 ? bm25 / (bm25 + ref) : 0;
	return ((1 - KB_BM25_SHARE) * lex + KB_BM25_SHARE * bnorm);
}

/* Order hits best first: score, then id. */
static int
kb_hit_cmp(const void *a, const void *b)
{
	const struct kb_hit	*x = a, *y = b;

	if (x->score != y->score)
		return (x->score > y->score ? -1 : 1);
	return (x->id < y->id ? -1 : x->id > y->id);
}

/* A copy of a text column, or NULL. */
static char *
kb_column(sqlite3_stmt *st, int i)
{
	const unsigned char	*s = sqlite3_column_text(st, i);

	return (s != NULL ? xstrdup((const char *)s) : NULL);
}

/*
 * Search: up to max hits with score >= min_score, best first, optionally
 * only one language (NULL: any).  Returns the number of hits (*hits: the
 * caller frees with kb_hits_free) or -1.
 */
int
kb_search(struct store *s, const char *query, const char *lang,
    double min_score, size_t max, struct kb_hit **hits)
{
	sqlite3		*db = store_db(s);
	sqlite3_stmt	*st = NULL;
	struct kb_qterm	*q = NULL;
	struct kb_hit	*h = NULL;
	struct dbuf	 match = { NULL, 0, 0 };
	char		*flang = NULL;
	long long	 total = 0;
	size_t		 nq = 0, nh = 0, i;
	double		 score;
	int		 r, rc = -1;

	*hits = NULL;
	if (query == NULL || max == 0)
		return (0);
	if (kb_dfc_load(s) != 0)
		goto sqlfail;
	if ((total = kb_dfc.total) == 0)
		return (0);
	if (kb_query_terms(query, total, &q, &nq) != 0)
		return (-1);

	dbuf_add(&match, "", 0);
	if (nq > 1)
		qsort(q, nq, sizeof *q, kb_qterm_sort);
	for (i = 0; i < nq; i++) {
		if (q[i].df == 0)
			continue;
		if (match.len > 0)
			dbuf_add(&match, " OR ", 4);
		kb_fts_quote(&match, q[i].s);
	}
	if (match.len == 0) {
		rc = 0;
		goto out;
	}
	flang = kb_lang(lang);
	if ((st = store_cached(s, "SELECT e.id, e.question, e.answer, "
	    "e.intent, e.lang, kb_fts.terms, bm25(kb_fts) FROM kb_fts JOIN "
	    "kb_entries e ON e.id = kb_fts.rowid WHERE kb_fts MATCH ?1 AND "
	    "(?2 IS NULL OR e.lang IS NULL OR e.lang = ?2) ORDER BY "
	    "bm25(kb_fts) LIMIT ?3")) == NULL)
		goto sqlfail;
	sqlite3_bind_text(st, 1, match.s, -1, SQLITE_STATIC);
	kb_bind(st, 2, flang);
	sqlite3_bind_int(st, 3, KB_CANDIDATES);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		score = kb_score(q, nq,
		    (const char *)sqlite3_column_text(st, 5),
		    sqlite3_column_double(st, 6));
		if (score < min_score)
			continue;
		h = xreallocarray(h, nh + 1, sizeof *h);
		h[nh].id = sqlite3_column_int64(st, 0);
		h[nh].question = kb_column(st, 1);
		h[nh].answer = kb_column(st, 2);
		h[nh].intent = kb_column(st, 3);
		h[nh].lang = kb_column(st, 4);
		h[nh].score = score;
		nh++;
	}
	if (r != SQLITE_DONE)
		goto sqlfail;
	if (nh > 1)
		qsort(h, nh, sizeof *h, kb_hit_cmp);
	for (i = max; i < nh; i++) {
		free(h[i].question);
		free(h[i].answer);
		free(h[i].intent);
		free(h[i].lang);
	}
	if (nh > max)
		nh = max;
	*hits = h;
	h = NULL;
	rc = (int)nh;
	goto out;
sqlfail:
	log_warnx("kb", "msg=\"search failed\" error=%s",
	    logq(sqlite3_errmsg(db)));
out:
	if (st != NULL)
		sqlite3_reset(st);
	kb_hits_free(h, nh);
	for (i = 0; i < nq; i++)
		free(q[i].s);
	free(q);
	free(match.s);
	free(flang);
	return (rc);
}
