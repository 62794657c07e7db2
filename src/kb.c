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
 * same way; the entries with any of its terms are candidates, best FTS5
 * bm25 first; each candidate is then scored in [0, 1] (kb_score,
 * documented in docs/kb.md) by how much of the query's information it
 * covers, so that one threshold means the same for every query.  SQLite
 * stores the entries and the FTS5 index, but a search normally reads
 * neither: it runs on an in-memory copy that computes the same bm25 and
 * scores (see "search" below).  The SQL query (an FTS5 OR query of quoted
 * terms, so no user text is ever read as FTS5 syntax) remains for the
 * rare query the copy cannot rank, and for comparison.
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
	uint32_t	 id;		/* in the index, or KB_NONE */
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
static void	kb_idx_clear(void);

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

	kb_idx_clear();		/* the next search rebuilds it */
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

/*
 * Searching goes through an in-memory index of the kb_fts table, built at
 * the first search after a change and reused until the next one (see
 * kb_idx_load): every customer message searches, while the knowledge base
 * changes only on import.  It ranks exactly as the SQL query
 *
 *	SELECT ... FROM kb_fts JOIN kb_entries e ON e.id = kb_fts.rowid
 *	WHERE kb_fts MATCH '"t1" OR "t2" ...' AND (language filter)
 *	ORDER BY bm25(kb_fts) LIMIT KB_CANDIDATES
 *
 * did (kb_search_sql, still there for comparison and for the rare query
 * the index cannot rank), with FTS5's own bm25() arithmetic, in its order:
 * per query phrase idf = ln((N - n + 0.5) / (n + 0.5)), at least 1e-6;
 * per row the sum over phrases of idf * f * (k1 + 1) / (f + k1 * (1 - b +
 * b * D / avgdl)) with k1 1.2, b 0.75, D and avgdl in tokens; ties in
 * rowid order, as FTS5 scans and SQLite's LIMIT sorter keeps them.  So
 * that the counts are FTS5's, rows are cut into tokens by FTS5's own
 * unicode61 tokenizer (through the fts5_api), not by splitting at spaces:
 * for kefu's terms the two agree, but then nothing depends on it.  A
 * query term whose text is not exactly one FTS5 token (which would make
 * it a phrase) sends that query to the SQL path.
 *
 * Each row also keeps what kb_score reads, as term numbers instead of
 * text: the terms of the question and of each tag (the "phrasings") with
 * their total weight, and the distinct terms of the answer.
 */

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

#define KB_NONE		UINT32_MAX	/* no term, no token */
#define KB_CANNOT	(-2)		/* the index cannot rank this query */
#define KB_FTS_TOKEN_MAX 32768		/* FTS5_MAX_TOKEN_SIZE */

/* Strings numbered in the order they came, found by hash. */
struct kb_vocab {
	char		**s;
	uint32_t	 *len;
	uint32_t	  n;
	uint32_t	  size;
	uint32_t	 *slot;		/* id + 1 by hash, 0 if free */
	uint32_t	  nslot;	/* a power of two, at least 2n */
};

/* The rows that have an FTS5 token, in rowid order, and how often. */
struct kb_posts {
	struct kb_post {
		uint32_t	 doc;
		uint32_t	 tf;
	}		*v;
	uint32_t	 n;
	uint32_t	 size;
};

/* A phrasing (the question or one tag): its terms and their weight. */
struct kb_phr {
	size_t		 tok;		/* the first, in kb_idx.ids */
	uint32_t	 ntok;
	double		 all;		/* kb_term_weight summed in order */
};

/* One row of kb_fts and its entry. */
struct kb_doc {
	long long	 id;
	char		*question;	/* NULL if kb_entries has no row */
	char		*answer;
	char		*intent;
	char		*lang;
	uint32_t	 len;		/* tokens, as FTS5 counts them */
	uint32_t	 nphr;
	size_t		 phr;		/* the first phrasing, in kb_idx.phr */
	size_t		 ans;		/* distinct answer terms, sorted, */
	uint32_t	 nans;		/* in kb_idx.ids */
};

/*
 * The index, for one database.  It is rebuilt after an import on this
 * connection (kb_import clears it) or a commit by another one (PRAGMA
 * data_version changes, e.g. `kefuctl kb import` beside a running kefud).
 */
struct kb_idx {
	sqlite3		 *db;
	char		 *file;		/* its file: db may be reused */
	long long	  version;
	long long	  total;	/* rows */
	long long	  tokens;	/* FTS5 tokens in all rows */
	int		  fts;		/* has FTS5's view: can rank */

	struct kb_vocab	  terms;	/* kefu's terms, split at spaces */
	long long	 *df;		/* by term: rows that have it */
	double		 *weight;	/* by term: kb_term_weight */
	uint32_t	 *fid;		/* by term: its FTS5 token or KB_NONE */

	struct kb_vocab	  ftoks;	/* FTS5's tokens */
	struct kb_posts	 *post;		/* by FTS5 token */
	uint32_t	  npost;

	struct kb_doc	 *docs;		/* by rowid */
	uint32_t	  ndocs;
	uint32_t	 *ids;		/* term numbers of phrasings, answers */
	size_t		  nids;
	size_t		  sids;
	struct kb_phr	 *phr;
	size_t		  nphr;
	size_t		  sphr;

	/* Scratch space of one search. */
	uint32_t	  serial;
	uint32_t	 *dmark;	/* by row: serial if it has a sum */
	double		 *acc;		/* by row: the sum of bm25 */
	uint32_t	 *touched;	/* rows with a sum */
	uint32_t	 *tmark;	/* by term: serial if in the query */
	uint32_t	 *tslot;	/* by term: its index in the query */
};
static struct kb_idx	kb_idx;

/* FNV-1a of a string. */
static uint32_t
kb_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261U;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619U;
	}
	return (h);
}

/* The number of a string, or KB_NONE. */
static uint32_t
kb_vocab_find(const struct kb_vocab *v, const char *s, size_t len)
{
	uint32_t	i, id;

	if (v->nslot == 0)
		return (KB_NONE);
	i = kb_hash(s, len) & (v->nslot - 1);
	while ((id = v->slot[i]) != 0) {
		id--;
		if (v->len[id] == len && memcmp(v->s[id], s, len) == 0)
			return (id);
		i = (i + 1) & (v->nslot - 1);
	}
	return (KB_NONE);
}

/* Put a string's number in the hash table. */
static void
kb_vocab_place(struct kb_vocab *v, uint32_t id)
{
	uint32_t	i;

	i = kb_hash(v->s[id], v->len[id]) & (v->nslot - 1);
	while (v->slot[i] != 0)
		i = (i + 1) & (v->nslot - 1);
	v->slot[i] = id + 1;
}

/* The number of a string, added if new (*added says so). */
static uint32_t
kb_vocab_add(struct kb_vocab *v, const char *s, size_t len, int *added)
{
	uint32_t	id;

	*added = 0;
	if ((id = kb_vocab_find(v, s, len)) != KB_NONE)
		return (id);
	if (v->n == v->size) {
		v->size = v->size == 0 ? 1024 : v->size * 2;
		v->s = xreallocarray(v->s, v->size, sizeof *v->s);
		v->len = xreallocarray(v->len, v->size, sizeof *v->len);
	}
	if (2 * ((size_t)v->n + 1) > v->nslot) {
		v->nslot = v->nslot == 0 ? 2048 : v->nslot * 2;
		free(v->slot);
		v->slot = xcalloc(v->nslot, sizeof *v->slot);
		for (id = 0; id < v->n; id++)
			kb_vocab_place(v, id);
	}
	id = v->n++;
	v->s[id] = xstrndup(s, len);
	v->len[id] = (uint32_t)len;
	kb_vocab_place(v, id);
	*added = 1;
	return (id);
}

/* Free a vocabulary's strings and table. */
static void
kb_vocab_free(struct kb_vocab *v)
{
	uint32_t	i;

	for (i = 0; i < v->n; i++)
		free(v->s[i]);
	free(v->s);
	free(v->len);
	free(v->slot);
	memset(v, 0, sizeof *v);
}

/* Forget the index. */
static void
kb_idx_clear(void)
{
	struct kb_idx	*x = &kb_idx;
	uint32_t	 i;

	for (i = 0; i < x->ndocs; i++) {
		free(x->docs[i].question);
		free(x->docs[i].answer);
		free(x->docs[i].intent);
		free(x->docs[i].lang);
	}
	for (i = 0; i < x->npost; i++)
		free(x->post[i].v);
	kb_vocab_free(&x->terms);
	kb_vocab_free(&x->ftoks);
	free(x->df);
	free(x->weight);
	free(x->fid);
	free(x->post);
	free(x->docs);
	free(x->ids);
	free(x->phr);
	free(x->dmark);
	free(x->acc);
	free(x->touched);
	free(x->tmark);
	free(x->tslot);
	free(x->file);
	memset(x, 0, sizeof *x);
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

/* A growing list of numbers. */
struct kb_u32s {
	uint32_t	*v;
	size_t		 n;
	size_t		 size;
};

/* Add a number to a list. */
static void
kb_u32s_add(struct kb_u32s *l, uint32_t u)
{
	if (l->n == l->size) {
		l->size = l->size == 0 ? 256 : l->size * 2;
		l->v = xreallocarray(l->v, l->size, sizeof *l->v);
	}
	l->v[l->n++] = u;
}

/* Compare two numbers. */
static int
kb_u32_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Sort a list of numbers and drop repeats. */
static void
kb_u32s_uniq(struct kb_u32s *l)
{
	size_t	i, n = 0;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, kb_u32_cmp);
	for (i = 0; i < l->n; i++) {
		if (n == 0 || l->v[n - 1] != l->v[i])
			l->v[n++] = l->v[i];
	}
	l->n = n;
}

/* Add a term number to the index's list of them. */
static void
kb_idx_id(uint32_t id)
{
	struct kb_idx	*x = &kb_idx;

	if (x->nids == x->sids) {
		x->sids = x->sids == 0 ? 4096 : x->sids * 2;
		x->ids = xreallocarray(x->ids, x->sids, sizeof *x->ids);
	}
	x->ids[x->nids++] = id;
}

/* End a phrasing of the row being read, if it has terms. */
static void
kb_idx_phrasing(struct kb_doc *d, size_t tok, double all)
{
	struct kb_idx	*x = &kb_idx;

	if (x->nids == tok)
		return;
	if (x->nphr == x->sphr) {
		x->sphr = x->sphr == 0 ? 1024 : x->sphr * 2;
		x->phr = xreallocarray(x->phr, x->sphr, sizeof *x->phr);
	}
	x->phr[x->nphr].tok = tok;
	x->phr[x->nphr].ntok = (uint32_t)(x->nids - tok);
	x->phr[x->nphr].all = all;
	x->nphr++;
	d->nphr++;
}

/* FTS5's unicode61 tokenizer, configured as kb_fts's (see store.c). */
struct kb_ftok {
	fts5_tokenizer	 api;
	Fts5Tokenizer	*t;
};

/* Find FTS5's tokenizer; -1 if this SQLite has none. */
static int
kb_ftok_open(sqlite3 *db, struct kb_ftok *ft)
{
	const char	*args[] = { "remove_diacritics", "0" };
	sqlite3_stmt	*st;
	fts5_api	*api = NULL;
	void		*ctx = NULL;

	memset(ft, 0, sizeof *ft);
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return (-1);
	sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (api == NULL || api->iVersion < 2 ||
	    api->xFindTokenizer(api, "unicode61", &ctx, &ft->api) !=
	    SQLITE_OK ||
	    ft->api.xCreate(ctx, args, 2, &ft->t) != SQLITE_OK) {
		ft->t = NULL;
		return (-1);
	}
	return (0);
}

/* The tokens FTS5 makes of a text, and how many it counts. */
struct kb_ftoks {
	struct kb_u32s	 ids;		/* FTS5 token numbers */
	uint32_t	 len;
};

/* Take one token from FTS5's tokenizer, as fts5StorageInsertCallback. */
static int
kb_ftok_token(void *arg, int tflags, const char *tok, int ntok, int start,
    int end)
{
	struct kb_ftoks	*f = arg;
	struct kb_idx	*x = &kb_idx;
	uint32_t	 id;
	int		 added;

	(void)start;
	(void)end;
	if (ntok > KB_FTS_TOKEN_MAX)
		ntok = KB_FTS_TOKEN_MAX;
	if ((tflags & FTS5_TOKEN_COLOCATED) == 0 || f->len == 0)
		f->len++;
	id = kb_vocab_add(&x->ftoks, tok, ntok < 0 ? 0 : (size_t)ntok,
	    &added);
	if (id >= x->npost) {
		x->post = xreallocarray(x->post, x->ftoks.size,
		    sizeof *x->post);
		memset(x->post + x->npost, 0, (x->ftoks.size - x->npost) *
		    sizeof *x->post);
		x->npost = x->ftoks.size;
	}
	kb_u32s_add(&f->ids, id);
	return (SQLITE_OK);
}

/* Cut a text into FTS5 tokens; -1 on error. */
static int
kb_ftok_run(struct kb_ftok *ft, int flags, const char *text, size_t len,
    struct kb_ftoks *f)
{
	f->ids.n = 0;
	f->len = 0;
	if (len > INT32_MAX)
		return (-1);
	return (ft->api.xTokenize(ft->t, f, flags, text, (int)len,
	    kb_ftok_token) == SQLITE_OK ? 0 : -1);
}

/* Add a row's FTS5 tokens to the posting lists. */
static void
kb_idx_post(uint32_t doc, struct kb_ftoks *f)
{
	struct kb_idx	*x = &kb_idx;
	struct kb_posts	*p;
	size_t		 i, j;

	if (f->ids.n > 1)
		qsort(f->ids.v, f->ids.n, sizeof *f->ids.v, kb_u32_cmp);
	for (i = 0; i < f->ids.n; i = j) {
		for (j = i + 1; j < f->ids.n && f->ids.v[j] == f->ids.v[i];
		    j++)
			;
		p = &x->post[f->ids.v[i]];
		if (p->n == p->size) {
			p->size = p->size == 0 ? 4 : p->size * 2;
			p->v = xreallocarray(p->v, p->size, sizeof *p->v);
		}
		p->v[p->n].doc = doc;
		p->v[p->n].tf = (uint32_t)(j - i);
		p->n++;
	}
}

/*
 * Read one row's terms (kb_entry_terms: question | tags | answer, split
 * at spaces as kb_score splits them) into the index.  last is scratch:
 * by term, the last row + 1 that had it.
 */
static void
kb_idx_terms(uint32_t doc, const char *terms, struct kb_u32s *last,
    struct kb_u32s *ans)
{
	struct kb_idx	*x = &kb_idx;
	struct kb_doc	*d = &x->docs[doc];
	const char	*p, *e;
	size_t		 len, tok;
	uint32_t	 id;
	double		 all = 0;
	int		 part = 0, added;

	d->phr = x->nphr;
	tok = x->nids;
	ans->n = 0;
	for (p = terms; *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		len = e - p;
		id = kb_vocab_add(&x->terms, p, len, &added);
		if (added) {
			x->df = xreallocarray(x->df, x->terms.size,
			    sizeof *x->df);
			x->weight = xreallocarray(x->weight, x->terms.size,
			    sizeof *x->weight);
			x->df[id] = 0;
			x->weight[id] = kb_term_weight(x->terms.s[id]);
			while (last->n < x->terms.n)
				kb_u32s_add(last, 0);
		}
		if (last->v[id] != doc + 1) {
			last->v[id] = doc + 1;
			x->df[id]++;
		}
		if (len == 1 && (*p == '|' || *p == ',')) {
			/* The end of a phrasing. */
			if (part < 2)
				kb_idx_phrasing(d, tok, all);
			tok = x->nids;
			all = 0;
			if (*p == '|')
				part++;
			continue;
		}
		if (part < 2) {
			kb_idx_id(id);
			all += x->weight[id];
		} else
			kb_u32s_add(ans, id);
	}
	if (part < 2)
		kb_idx_phrasing(d, tok, all);
	kb_u32s_uniq(ans);
	d->ans = x->nids;
	d->nans = (uint32_t)ans->n;
	for (len = 0; len < ans->n; len++)
		kb_idx_id(ans->v[len]);
}

/* A copy of a text column, or NULL. */
static char *
kb_column(sqlite3_stmt *st, int i)
{
	const unsigned char	*s = sqlite3_column_text(st, i);

	return (s != NULL ? xstrdup((const char *)s) : NULL);
}

/* Build the index from the tables; -1 on error. */
static int
kb_idx_build(sqlite3 *db)
{
	struct kb_idx	*x = &kb_idx;
	struct kb_ftok	 ft;
	struct kb_ftoks	 f;
	struct kb_u32s	 last = { NULL, 0, 0 }, ans = { NULL, 0, 0 };
	struct kb_doc	*d;
	sqlite3_stmt	*st;
	const char	*terms;
	uint32_t	 i, sdocs = 0;
	int		 r;

	memset(&f, 0, sizeof f);
	x->fts = kb_ftok_open(db, &ft) == 0;
	if (!x->fts)
		log_warnx("kb", "msg=\"no FTS5 tokenizer, searching with "
		    "SQL\"");
	if (sqlite3_prepare_v2(db, "SELECT f.rowid, f.terms, e.id, "
	    "e.question, e.answer, e.intent, e.lang FROM kb_fts f LEFT JOIN "
	    "kb_entries e ON e.id = f.rowid ORDER BY f.rowid", -1, &st,
	    NULL) != SQLITE_OK) {
		r = SQLITE_ERROR;
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (x->ndocs == sdocs) {
			sdocs = sdocs == 0 ? 256 : sdocs * 2;
			x->docs = xreallocarray(x->docs, sdocs,
			    sizeof *x->docs);
		}
		d = &x->docs[x->ndocs];
		memset(d, 0, sizeof *d);
		d->id = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			d->question = kb_column(st, 3);
			d->answer = kb_column(st, 4);
			d->intent = kb_column(st, 5);
			d->lang = kb_column(st, 6);
			if (d->question == NULL)
				d->question = xstrdup("");
			if (d->answer == NULL)
				d->answer = xstrdup("");
		}
		if ((terms = (const char *)sqlite3_column_text(st, 1)) == NULL)
			terms = "";
		x->ndocs++;
		kb_idx_terms(x->ndocs - 1, terms, &last, &ans);
		if (x->fts) {
			if (kb_ftok_run(&ft, FTS5_TOKENIZE_DOCUMENT, terms,
			    strlen(terms), &f) != 0) {
				r = SQLITE_ERROR;
				break;
			}
			d->len = f.len;
			x->tokens += f.len;
			kb_idx_post(x->ndocs - 1, &f);
		}
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		goto out;
	x->total = x->ndocs;

	/* Each term's FTS5 token, if it is exactly one. */
	x->fid = xcalloc(x->terms.n, sizeof *x->fid);
	for (i = 0; i < x->terms.n; i++) {
		x->fid[i] = KB_NONE;
		if (!x->fts)
			continue;
		if (kb_ftok_run(&ft, FTS5_TOKENIZE_QUERY, x->terms.s[i],
		    x->terms.len[i], &f) != 0) {
			r = SQLITE_ERROR;
			goto out;
		}
		if (f.ids.n == 1 && x->ftoks.len[f.ids.v[0]] > 0)
			x->fid[i] = f.ids.v[0];
	}
	x->dmark = xcalloc(x->ndocs, sizeof *x->dmark);
	x->acc = xcalloc(x->ndocs, sizeof *x->acc);
	x->touched = xcalloc(x->ndocs, sizeof *x->touched);
	x->tmark = xcalloc(x->terms.n, sizeof *x->tmark);
	x->tslot = xcalloc(x->terms.n, sizeof *x->tslot);
	r = SQLITE_OK;
out:
	if (ft.t != NULL)
		ft.api.xDelete(ft.t);
	free(f.ids.v);
	free(last.v);
	free(ans.v);
	return (r == SQLITE_OK ? 0 : -1);
}

/* Make sure the index describes the store as it is now; -1 on error. */
static int
kb_idx_load(struct store *s)
{
	sqlite3		*db = store_db(s);
	long long	 version;
	const char	*file;

	if ((version = kb_data_version(s)) < 0)
		return (-1);
	if ((file = sqlite3_db_filename(db, "main")) == NULL)
		file = "";
	if (kb_idx.db == db && kb_idx.version == version &&
	    kb_idx.file != NULL && strcmp(kb_idx.file, file) == 0)
		return (0);
	kb_idx_clear();
	if (kb_idx_build(db) != 0) {
		kb_idx_clear();
		return (-1);
	}
	kb_idx.db = db;
	kb_idx.file = xstrdup(file);
	kb_idx.version = version;
	log_debug("kb", "msg=\"index built\" entries=%lld terms=%u",
	    kb_idx.total, kb_idx.terms.n);
	return (0);
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
	uint32_t	 id;
	double		 fidf;

	kb_tokenize(query, KB_QUERY_MAX, &t);
	for (i = 0; i < t.n && n < KB_QUERY_TERMS; i++) {
		if (kb_toks_has(&seen, t.v[i].s))
			continue;
		kb_toks_add(&seen, t.v[i].s, strlen(t.v[i].s), t.v[i].kind);
		id = kb_vocab_find(&kb_idx.terms, t.v[i].s, strlen(t.v[i].s));
		df = id == KB_NONE ? 0 : kb_idx.df[id];
		d = df > 0 ? df : 1;
		q = xreallocarray(q, n + 1, sizeof *q);
		q[n].s = xstrdup(t.v[i].s);
		q[n].kind = t.v[i].kind;
		q[n].id = id;
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

/*
 * The score from what kb_score found: hit[i] is 2 if query term i is in
 * the question or a tag, 1 if only in the answer; prec is the best
 * phrasing's precision.
 */
static double
kb_score_sum(const struct kb_qterm *q, size_t nq, const unsigned char *hit,
    double prec, double bm25)
{
	double	have = 0, all = 0, ref = 0, cov, lex, bnorm;
	size_t	i;

	for (i = 0; i < nq; i++) {
		ref += q[i].df > 0 ? q[i].idf_fts : 0;
		all += q[i].w;
		if (hit[i] == 2)
			have += q[i].w;
		else if (hit[i] == 1)
			have += q[i].w * KB_M_ANSWER;
	}
	if (all <= 0)
		return (0);
	cov = have / all;
	lex = cov * (KB_PREC_BASE + (1 - KB_PREC_BASE) * prec);
	bm25 = -bm25;
	bnorm = bm25 > 0 && ref > 0 ? bm25 / (bm25 + ref) : 0;
	return ((1 - KB_BM25_SHARE) * lex + KB_BM25_SHARE * bnorm);
}

/*
 * Score one candidate in [0, 1) from its index text (kb_entry_terms) and
 * its bm25.  coverage is the weighted share of the query's terms the
 * entry has: full weight in the question or a tag, KB_M_ANSWER in the
 * answer only.  precision is the share of the best-matching phrasing (the
 * question or one tag) that the query has.  FTS5's bm25 is scaled by the
 * sum of the query terms' idf, so that an entry with each term once at
 * average length has 0.5.  See docs/kb.md.  q is sorted by text.  This
 * reads the text as the SQL path gets it; kb_score_doc is the same from
 * the index.
 */
static double
kb_score(const struct kb_qterm *q, size_t nq, const char *terms,
    double bm25)
{
	const struct kb_qterm	*found;
	unsigned char		*hit;
	char			*copy, *tok, *last;
	double			 phave = 0, pall = 0, prec = 0, w, score;
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
	score = kb_score_sum(q, nq, hit, prec, bm25);
	free(hit);
	return (score);
}

/* Whether a sorted list of numbers has one. */
static int
kb_u32_has(const uint32_t *v, size_t n, uint32_t u)
{
	size_t	lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid] == u)
			return (1);
		if (v[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (0);
}

/*
 * kb_score for a row of the index: the same sums in the same order, with
 * term numbers for text.  The query's terms are marked in kb_idx.tmark.
 */
static double
kb_score_doc(const struct kb_qterm *q, size_t nq, const struct kb_doc *d,
    double bm25)
{
	const struct kb_idx	*x = &kb_idx;
	const struct kb_phr	*ph;
	const uint32_t		*t;
	unsigned char		 hit[KB_QUERY_TERMS];
	double			 phave, prec = 0;
	uint32_t		 i, j;

	if (nq == 0)
		return (0);
	memset(hit, 0, sizeof hit);
	for (i = 0; i < d->nphr; i++) {
		ph = &x->phr[d->phr + i];
		t = x->ids + ph->tok;
		phave = 0;
		for (j = 0; j < ph->ntok; j++) {
			if (x->tmark[t[j]] != x->serial)
				continue;
			phave += x->weight[t[j]];
			hit[x->tslot[t[j]]] = 2;
		}
		if (ph->all > 0 && phave / ph->all > prec)
			prec = phave / ph->all;
	}
	t = x->ids + d->ans;
	for (i = 0; i < nq; i++) {
		if (hit[i] == 0 && q[i].id != KB_NONE &&
		    kb_u32_has(t, d->nans, q[i].id))
			hit[i] = 1;
	}
	return (kb_score_sum(q, nq, hit, prec, bm25));
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

/* Sort hits, keep the best max of them; returns how many are left. */
static size_t
kb_hits_keep(struct kb_hit *h, size_t nh, size_t max)
{
	size_t	i;

	if (nh > 1)
		qsort(h, nh, sizeof *h, kb_hit_cmp);
	for (i = max; i < nh; i++) {
		free(h[i].question);
		free(h[i].answer);
		free(h[i].intent);
		free(h[i].lang);
	}
	return (nh > max ? max : nh);
}

/*
 * The search through SQL: FTS5 picks and ranks the candidates, which are
 * scored from their terms text.  q is sorted.  Returns the number of hits
 * or -1.
 */
static int
kb_search_sql(struct store *s, const struct kb_qterm *q, size_t nq,
    const char *flang, double min_score, size_t max, struct kb_hit **hits)
{
	sqlite3_stmt	*st;
	struct kb_hit	*h = NULL;
	struct dbuf	 match = { NULL, 0, 0 };
	size_t		 nh = 0, i;
	double		 score;
	int		 r;

	dbuf_add(&match, "", 0);
	for (i = 0; i < nq; i++) {
		if (q[i].df == 0)
			continue;
		if (match.len > 0)
			dbuf_add(&match, " OR ", 4);
		kb_fts_quote(&match, q[i].s);
	}
	if (match.len == 0) {
		free(match.s);
		return (0);
	}
	if ((st = store_cached(s, "SELECT e.id, e.question, e.answer, "
	    "e.intent, e.lang, kb_fts.terms, bm25(kb_fts) FROM kb_fts JOIN "
	    "kb_entries e ON e.id = kb_fts.rowid WHERE kb_fts MATCH ?1 AND "
	    "(?2 IS NULL OR e.lang IS NULL OR e.lang = ?2) ORDER BY "
	    "bm25(kb_fts) LIMIT ?3")) == NULL) {
		free(match.s);
		return (-1);
	}
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
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(match.s);
	if (r != SQLITE_DONE) {
		kb_hits_free(h, nh);
		return (-1);
	}
	nh = kb_hits_keep(h, nh, max);
	*hits = h;
	return ((int)nh);
}

/* One of the best candidates by bm25. */
struct kb_cand {
	uint32_t	 doc;
	double		 bm25;
};

/* Whether a candidate comes before another: bm25, then rowid. */
static int
kb_cand_before(const struct kb_cand *a, const struct kb_cand *b)
{
	return (a->bm25 < b->bm25 || (a->bm25 == b->bm25 && a->doc < b->doc));
}

/* A scored candidate. */
struct kb_scored {
	double		 score;
	uint32_t	 doc;
};

/* Order scored candidates as kb_hit_cmp orders hits: score, then id. */
static int
kb_scored_cmp(const void *a, const void *b)
{
	const struct kb_scored	*x = a, *y = b;

	if (x->score != y->score)
		return (x->score > y->score ? -1 : 1);
	return (x->doc < y->doc ? -1 : x->doc > y->doc);
}

/* Start a search's marks, clearing them when the serial wraps. */
static void
kb_idx_serial(void)
{
	struct kb_idx	*x = &kb_idx;

	if (++x->serial == 0) {
		memset(x->dmark, 0, x->ndocs * sizeof *x->dmark);
		memset(x->tmark, 0, x->terms.n * sizeof *x->tmark);
		x->serial = 1;
	}
}

/*
 * The search through the index: bm25 as FTS5's bm25() computes it over
 * the rows that have any of the query's terms, the KB_CANDIDATES best of
 * those in the language, scored by kb_score_doc.  q is sorted.  Returns
 * the number of hits, or KB_CANNOT.
 */
static int
kb_search_index(const struct kb_qterm *q, size_t nq, const char *flang,
    double min_score, size_t max, struct kb_hit **hits)
{
	struct kb_idx		*x = &kb_idx;
	const struct kb_posts	*p;
	const struct kb_doc	*d;
	struct kb_cand		 c[KB_CANDIDATES], t;
	struct kb_scored	 sc[KB_CANDIDATES];
	struct kb_hit		*h;
	const double		 k1 = 1.2, b = 0.75;
	double			 idf, avgdl, D, f;
	long long		 nhit;
	uint32_t		 doc, ntouched = 0;
	size_t			 i, j, nc = 0, nh = 0;

	if (!x->fts)
		return (KB_CANNOT);
	for (i = 0; i < nq; i++) {
		if (q[i].id != KB_NONE && x->fid[q[i].id] == KB_NONE)
			return (KB_CANNOT);
	}
	kb_idx_serial();

	/* bm25, one phrase (query term) after another, as FTS5 sums. */
	avgdl = (double)x->tokens / (double)x->total;
	for (i = 0; i < nq; i++) {
		if (q[i].id == KB_NONE)
			continue;
		p = &x->post[x->fid[q[i].id]];
		nhit = p->n;
		idf = log((x->total - nhit + 0.5) / (nhit + 0.5));
		if (idf <= 0.0)
			idf = 1e-6;
		for (j = 0; j < p->n; j++) {
			doc = p->v[j].doc;
			if (x->dmark[doc] != x->serial) {
				x->dmark[doc] = x->serial;
				x->acc[doc] = 0.0;
				x->touched[ntouched++] = doc;
			}
			f = (double)p->v[j].tf;
			D = (double)x->docs[doc].len;
			x->acc[doc] += idf * ((f * (k1 + 1.0)) /
			    (f + k1 * (1 - b + b * D / avgdl)));
		}
	}

	/* The best candidates in the language, FTS5's order. */
	for (i = 0; i < ntouched; i++) {
		d = &x->docs[x->touched[i]];
		if (d->question == NULL || (flang != NULL && d->lang != NULL &&
		    strcmp(d->lang, flang) != 0))
			continue;
		t.doc = x->touched[i];
		t.bm25 = -1.0 * x->acc[t.doc];
		if (nc == KB_CANDIDATES && !kb_cand_before(&t, &c[nc - 1]))
			continue;
		if (nc < KB_CANDIDATES)
			nc++;
		for (j = nc - 1; j > 0 && kb_cand_before(&t, &c[j - 1]); j--)
			c[j] = c[j - 1];
		c[j] = t;
	}

	/* Score them. */
	for (i = 0; i < nq; i++) {
		if (q[i].id != KB_NONE) {
			x->tmark[q[i].id] = x->serial;
			x->tslot[q[i].id] = (uint32_t)i;
		}
	}
	for (i = 0; i < nc; i++) {
		d = &x->docs[c[i].doc];
		sc[nh].score = kb_score_doc(q, nq, d, c[i].bm25);
		sc[nh].doc = c[i].doc;
		if (sc[nh].score >= min_score)
			nh++;
	}
	if (nh > 1)
		qsort(sc, nh, sizeof *sc, kb_scored_cmp);
	if (nh > max)
		nh = max;
	if (nh == 0)
		return (0);
	h = xcalloc(nh, sizeof *h);
	for (i = 0; i < nh; i++) {
		d = &x->docs[sc[i].doc];
		h[i].id = d->id;
		h[i].question = xstrdup(d->question);
		h[i].answer = xstrdup(d->answer);
		h[i].intent = d->intent != NULL ? xstrdup(d->intent) : NULL;
		h[i].lang = d->lang != NULL ? xstrdup(d->lang) : NULL;
		h[i].score = sc[i].score;
	}
	*hits = h;
	return ((int)nh);
}

/*
 * kb_search with a choice of ranker: the index, SQL, or the index unless
 * it cannot rank the query.  Returns the number of hits or -1.
 */
int
kb_search_ranked(struct store *s, enum kb_ranker how, const char *query,
    const char *lang, double min_score, size_t max, struct kb_hit **hits)
{
	struct kb_qterm	*q = NULL;
	char		*flang;
	size_t		 nq = 0, i;
	int		 rc = KB_CANNOT;

	*hits = NULL;
	if (query == NULL || max == 0)
		return (0);
	if (kb_idx_load(s) != 0) {
		log_warnx("kb", "msg=\"search failed\" error=%s",
		    logq(sqlite3_errmsg(store_db(s))));
		return (-1);
	}
	if (kb_idx.total == 0)
		return (0);
	kb_query_terms(query, kb_idx.total, &q, &nq);
	if (nq > 1)
		qsort(q, nq, sizeof *q, kb_qterm_sort);
	flang = kb_lang(lang);
	if (how != KB_RANK_FTS)
		rc = kb_search_index(q, nq, flang, min_score, max, hits);
	if (rc == KB_CANNOT && how != KB_RANK_INDEX) {
		rc = kb_search_sql(s, q, nq, flang, min_score, max, hits);
		if (rc < 0)
			log_warnx("kb", "msg=\"search failed\" error=%s",
			    logq(sqlite3_errmsg(store_db(s))));
	} else if (rc == KB_CANNOT)
		rc = -1;
	for (i = 0; i < nq; i++)
		free(q[i].s);
	free(q);
	free(flang);
	return (rc);
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
	return (kb_search_ranked(s, KB_RANK_AUTO, query, lang, min_score,
	    max, hits));
}
