/*
 * The demo FAQ and its keyword search.
 *
 * The file is one JSON object whose "entries" array holds objects with id,
 * lang, question, answer and an optional keywords array of extra phrasings
 * (docs/engine.md).  At load time every phrasing (the question and each
 * keyword phrase) is normalized and tokenized once, and for each language
 * an index is built: a sorted vocabulary of tokens with their document
 * frequency over that language's entries, and for each phrasing its sorted
 * term numbers and vector length.
 *
 * Tokens: English (and other alphabetic) text becomes case-folded words,
 * minus a small stop-word list, minus pure numbers (order numbers say
 * nothing about the question), with crude suffix stripping so "shipping",
 * "shipped" and "ships" meet at "ship".  Chinese has no spaces, so a run of
 * Han characters becomes its character bigrams and unigrams, skipping
 * function characters (的, 了, 吗...) and a few empty words (东西, 问题);
 * a unigram weighs half a bigram.
 *
 * Score: a cosine between the set of query tokens and the set of a
 * phrasing's tokens, each weighted by its smoothed IDF, times the square
 * root of how much of the phrasing (by weight) the query covers, so that
 * one shared word with a two-word keyword ("new timer" against "new
 * account") is not mistaken for a match.  A query token the language never
 * uses gets a modest fixed weight: it says nothing about which entry is
 * meant, but a question made mostly of unknown words is probably about
 * something else.  An entry scores the best of its phrasings, so adding
 * keyword phrases never dilutes the question.  The constants were tuned on
 * the dev splits of the Bitext and CLINC150 data sets (docs/engine.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <utf8proc.h>

#include "faq.h"
#include "util.h"
#include "xmalloc.h"

#define FAQ_MAX_FILE	(4 * 1024 * 1024)
#define FAQ_UNI_FACTOR	0.5	/* a Han unigram weighs half a bigram */
#define FAQ_UNKNOWN_IDF	2.0	/* a query token no entry uses */
#define FAQ_COVER_EXP	0.5	/* weight of covering the whole phrasing */
#define FAQ_MAX_WORD	64	/* longer "words" are split */

struct faq_term {
	char	*text;
	unsigned df;
	size_t	 last;		/* last entry counted in df, plus one */
	double	 weight;	/* idf times the unigram factor */
};

struct faq_phrase {
	size_t	 entry;		/* index into faq->entries */
	size_t	*terms;		/* sorted term numbers */
	size_t	 nterms;
	double	 norm;
};

struct faq_index {
	char			*lang;
	size_t			 nentries;
	struct faq_term		*terms;		/* sorted by text */
	size_t			 nterms;
	struct faq_phrase	*phrases;
	size_t			 nphrases;
};

struct faq {
	struct faq_entry	*entries;
	size_t			 nentries;
	struct faq_index	*indexes;
	size_t			 nindexes;
};

/* Words too common to say anything about the question. */
static const char *faq_stop_words[] = {
	"a", "able", "about", "again", "all", "already", "also", "am", "an",
	"and", "any", "anything", "are", "as", "assistance", "at", "be",
	"been", "being", "but", "by", "can", "check", "could", "create",
	"dear", "did", "didn", "do", "does", "doesn", "don", "find", "for",
	"from", "get", "give", "go", "got", "had", "has", "have", "he",
	"hello", "help", "her", "here", "hey", "hi", "him", "his", "how",
	"i", "if", "im", "in", "into", "is", "isn", "it", "its", "ive",
	"just", "kindly", "know", "let", "like", "ll", "make", "me", "might",
	"mine", "must", "my", "need", "of", "ok", "okay", "on", "or", "our",
	"please", "pls", "possible", "re", "see", "set", "she", "should",
	"show", "so", "some", "someone", "something", "start", "still",
	"take", "tell", "than", "thank", "thanks", "that", "the", "their",
	"them", "then", "there", "these", "they", "this", "those", "to",
	"try", "trying", "up", "us", "use", "ve", "very", "wanna", "want",
	"was", "wasn", "way", "we", "were", "what", "which", "who", "whom",
	"why", "will", "with", "won", "would", "you", "your"
};

/* Chinese function characters: no unigram, and no bigram through them. */
static const char faq_stop_han[] =
    "我你您他她它们的了吗呢吧啊呀哦嗯么是在有和与就都也还要想请问"
    "这那怎什能可以会得着过把被给让很好个一些哪呐啦嘛哈呵喂该如何"
    "样帮麻烦用";

/* Common Chinese words that say nothing about the question: no bigram. */
static const char *faq_stop_bigrams[] = {
	"一下", "一直", "为什", "但是", "没有", "东西", "今天", "现在",
	"然后", "就是", "已经", "时候", "昨天", "有点", "知道", "问题",
	"需要", "还是"
};

/* Compare two strings through pointers, for qsort and bsearch. */
static int
faq_strpcmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Whether a code point is a CJK ideograph (Han). */
int
faq_is_han(int cp)
{
	return ((cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0x20000 && cp <= 0x2fa1f) ||
	    (cp >= 0x30000 && cp <= 0x3134f));
}

/* Whether a code point is a letter, digit or combining mark (not Han). */
static int
faq_is_word(int cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC:
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		return (!faq_is_han(cp));
	default:
		return (0);
	}
}

/* Whether a code point is a Latin letter. */
static int
faq_is_latin(int cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
		break;
	default:
		return (0);
	}
	return (cp < 0x250 || (cp >= 0x1e00 && cp <= 0x1eff));
}

/* Whether a Han code point is a function character. */
static int
faq_is_stop_han(int cp)
{
	const utf8proc_uint8_t	*s = (const utf8proc_uint8_t *)faq_stop_han;
	utf8proc_int32_t	 c;
	utf8proc_ssize_t	 n;

	while (*s != '\0') {
		n = utf8proc_iterate(s, -1, &c);
		if (n <= 0)
			break;
		if (c == cp)
			return (1);
		s += n;
	}
	return (0);
}

/* Return the NFKC, case-folded form of s (caller frees), or NULL. */
char *
faq_normalize(const char *s)
{
	utf8proc_uint8_t	*out = NULL;
	utf8proc_ssize_t	 n;

	if (s == NULL)
		return (NULL);
	n = utf8proc_map((const utf8proc_uint8_t *)s, 0, &out,
	    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPAT |
	    UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
	if (n < 0) {
		free(out);
		return (NULL);
	}
	return ((char *)out);
}

/* Count the Han characters and Latin letters in s. */
void
faq_script(const char *s, size_t *han, size_t *latin)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;

	*han = *latin = 0;
	if (s == NULL)
		return;
	while (*p != '\0') {
		n = utf8proc_iterate(p, -1, &cp);
		if (n <= 0) {
			p++;
			continue;
		}
		if (faq_is_han(cp))
			(*han)++;
		else if (faq_is_latin(cp))
			(*latin)++;
		p += n;
	}
}

/* Whether w ends with suffix, given w's length n. */
static int
faq_ends(const char *w, size_t n, const char *suffix)
{
	size_t	len = strlen(suffix);

	return (n >= len && memcmp(w + n - len, suffix, len) == 0);
}

/* Strip a doubled final consonant left by removing -ing or -ed. */
static size_t
faq_undouble(const char *w, size_t n)
{
	char	c;

	if (n < 3 || w[n - 1] != w[n - 2])
		return (n);
	c = w[n - 1];
	if (strchr("aeiousz", c) != NULL)
		return (n);
	if (c == 'l' && n <= 4)
		return (n);
	return (n - 1);
}

/* Crude English suffix stripping, in place. */
static void
faq_stem(char *w)
{
	size_t	n = strlen(w), i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)w[i] >= 0x80)
			return;
	}
	if (n > 4 && faq_ends(w, n, "sses"))
		n -= 2;
	else if (n > 4 && faq_ends(w, n, "ies")) {
		n -= 2;
		w[n - 1] = 'y';
	} else if (n > 3 && w[n - 1] == 's' &&
	    strchr("siu", w[n - 2]) == NULL)
		n--;
	if (n > 5 && faq_ends(w, n, "ing"))
		n = faq_undouble(w, n - 3);
	else if (n > 4 && faq_ends(w, n, "ed"))
		n = faq_undouble(w, n - 2);
	if (n > 7 && faq_ends(w, n, "ation"))
		n = faq_undouble(w, n - 5);
	else if (n > 6 && faq_ends(w, n, "ment"))
		n -= 4;
	else if (n > 5 && faq_ends(w, n, "ly"))
		n -= 2;
	if (n > 6 && faq_ends(w, n, "ery"))
		n--;
	if (n > 4 && w[n - 1] == 'e')
		n--;
	w[n] = '\0';
}

struct faq_tokens {
	char	**v;
	size_t	  n;
	size_t	  size;
};

/* Append a token (copied) to a list. */
static void
faq_tokens_add(struct faq_tokens *t, const char *s, size_t len)
{
	if (t->n == t->size) {
		t->size = t->size == 0 ? 16 : t->size * 2;
		t->v = xreallocarray(t->v, t->size, sizeof *t->v);
	}
	t->v[t->n++] = xstrndup(s, len);
}

/* Finish an alphabetic word: drop numbers and stop words, then stem. */
static void
faq_flush_word(struct faq_tokens *t, char *word, size_t len)
{
	const char	*key = word;
	size_t		 i;

	if (len == 0)
		return;
	word[len] = '\0';
	for (i = 0; i < len; i++) {
		if (word[i] < '0' || word[i] > '9')
			break;
	}
	if (i == len)
		return;
	if (bsearch(&key, faq_stop_words,
	    sizeof faq_stop_words / sizeof faq_stop_words[0],
	    sizeof faq_stop_words[0], faq_strpcmp) != NULL)
		return;
	faq_stem(word);
	if (strlen(word) < 2)
		return;
	faq_tokens_add(t, word, strlen(word));
}

/* Whether a Han bigram is too common to use. */
static int
faq_is_stop_bigram(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof faq_stop_bigrams / sizeof faq_stop_bigrams[0];
	    i++) {
		if (strcmp(s, faq_stop_bigrams[i]) == 0)
			return (1);
	}
	return (0);
}

/* Finish a run of Han characters: its unigrams and bigrams. */
static void
faq_flush_han(struct faq_tokens *t, const int *run, size_t n)
{
	utf8proc_uint8_t	buf[16];
	utf8proc_ssize_t	a, b;
	size_t			i;

	for (i = 0; i < n; i++) {
		if (faq_is_stop_han(run[i]))
			continue;
		a = utf8proc_encode_char(run[i], buf);
		faq_tokens_add(t, (char *)buf, (size_t)a);
		if (i + 1 < n && !faq_is_stop_han(run[i + 1])) {
			b = utf8proc_encode_char(run[i + 1], buf + a);
			buf[a + b] = '\0';
			if (!faq_is_stop_bigram((char *)buf))
				faq_tokens_add(t, (char *)buf,
				    (size_t)(a + b));
		}
	}
}

/* Split normalized text into search tokens (caller frees). */
char **
faq_tokenize(const char *s, size_t *ntokens)
{
	struct faq_tokens	 t = { NULL, 0, 0 };
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	char			 word[FAQ_MAX_WORD + 8];
	size_t			 wlen = 0, nrun = 0;
	int			 run[64];

	while (p != NULL && *p != '\0') {
		n = utf8proc_iterate(p, -1, &cp);
		if (n <= 0) {
			p++;
			cp = ' ';
			n = 0;
		}
		p += n;
		if (faq_is_han(cp)) {
			faq_flush_word(&t, word, wlen);
			wlen = 0;
			if (nrun == sizeof run / sizeof run[0]) {
				faq_flush_han(&t, run, nrun);
				nrun = 0;
			}
			run[nrun++] = cp;
			continue;
		}
		faq_flush_han(&t, run, nrun);
		nrun = 0;
		if (faq_is_word(cp)) {
			if (wlen + (size_t)n > FAQ_MAX_WORD) {
				faq_flush_word(&t, word, wlen);
				wlen = 0;
			}
			memcpy(word + wlen, p - n, (size_t)n);
			wlen += (size_t)n;
			continue;
		}
		faq_flush_word(&t, word, wlen);
		wlen = 0;
	}
	faq_flush_word(&t, word, wlen);
	faq_flush_han(&t, run, nrun);
	*ntokens = t.n;
	return (t.v);
}

/* Free a token list from faq_tokenize. */
void
faq_tokens_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Normalize and tokenize, then sort and remove duplicates. */
static char **
faq_token_set(const char *text, size_t *ntokens)
{
	char	*norm, **v;
	size_t	 n, i, j;

	*ntokens = 0;
	if ((norm = faq_normalize(text)) == NULL)
		return (NULL);
	v = faq_tokenize(norm, &n);
	free(norm);
	if (n == 0) {
		free(v);
		return (NULL);
	}
	qsort(v, n, sizeof *v, faq_strpcmp);
	for (i = 1, j = 1; i < n; i++) {
		if (strcmp(v[i], v[j - 1]) == 0)
			free(v[i]);
		else
			v[j++] = v[i];
	}
	*ntokens = j;
	return (v);
}

/* Whether a token is a single Han character (a unigram). */
static int
faq_is_unigram(const char *s)
{
	utf8proc_int32_t	cp;
	utf8proc_ssize_t	n;

	n = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &cp);
	return (n > 0 && s[n] == '\0' && faq_is_han(cp));
}

/* Find a term by text in an index; its number, or -1. */
static long
faq_term_find(const struct faq_index *ix, const char *text)
{
	size_t	lo = 0, hi = ix->nterms, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(text, ix->terms[mid].text);
		if (c == 0)
			return ((long)mid);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (-1);
}

/* Compare two term numbers, for qsort. */
static int
faq_sizecmp(const void *a, const void *b)
{
	size_t	x = *(const size_t *)a, y = *(const size_t *)b;

	return (x < y ? -1 : x > y);
}

struct faq_raw {
	size_t	  entry;
	char	**tokens;
	size_t	  ntokens;
};

/* Build the search index for one language. */
static void
faq_index_build(struct faq *faq, struct faq_index *ix)
{
	struct faq_raw		*raw = NULL;
	struct faq_entry	*e;
	struct faq_phrase	*ph;
	struct faq_term		*term;
	char			**all = NULL;
	const char		*text;
	size_t			 nraw = 0, nall = 0, i, j, k;
	long			 t;

	for (i = 0; i < faq->nentries; i++) {
		e = &faq->entries[i];
		if (strcmp(e->lang, ix->lang) != 0)
			continue;
		ix->nentries++;
		for (j = 0; j <= e->nkeywords; j++) {
			text = j == 0 ? e->question : e->keywords[j - 1];
			raw = xreallocarray(raw, nraw + 1, sizeof *raw);
			raw[nraw].entry = i;
			raw[nraw].tokens = faq_token_set(text,
			    &raw[nraw].ntokens);
			if (raw[nraw].ntokens == 0)
				continue;
			all = xreallocarray(all, nall + raw[nraw].ntokens,
			    sizeof *all);
			for (k = 0; k < raw[nraw].ntokens; k++)
				all[nall++] = raw[nraw].tokens[k];
			nraw++;
		}
	}

	if (nall > 0)
		qsort(all, nall, sizeof *all, faq_strpcmp);
	ix->terms = xcalloc(nall == 0 ? 1 : nall, sizeof *ix->terms);
	for (i = 0; i < nall; i++) {
		if (i > 0 && strcmp(all[i], all[i - 1]) == 0)
			continue;
		ix->terms[ix->nterms++].text = xstrdup(all[i]);
	}
	free(all);

	ix->phrases = xcalloc(nraw == 0 ? 1 : nraw, sizeof *ix->phrases);
	for (i = 0; i < nraw; i++) {
		ph = &ix->phrases[ix->nphrases++];
		ph->entry = raw[i].entry;
		ph->terms = xcalloc(raw[i].ntokens, sizeof *ph->terms);
		for (j = 0; j < raw[i].ntokens; j++) {
			t = faq_term_find(ix, raw[i].tokens[j]);
			ph->terms[ph->nterms++] = (size_t)t;
			term = &ix->terms[t];
			if (term->last != ph->entry + 1) {
				term->last = ph->entry + 1;
				term->df++;
			}
		}
		qsort(ph->terms, ph->nterms, sizeof *ph->terms, faq_sizecmp);
		faq_tokens_free(raw[i].tokens, raw[i].ntokens);
	}
	free(raw);

	for (i = 0; i < ix->nterms; i++) {
		term = &ix->terms[i];
		term->weight = log((ix->nentries + 1.0) / (term->df + 1.0)) +
		    1.0;
		if (faq_is_unigram(term->text))
			term->weight *= FAQ_UNI_FACTOR;
	}
	for (i = 0; i < ix->nphrases; i++) {
		ph = &ix->phrases[i];
		for (j = 0; j < ph->nterms; j++) {
			term = &ix->terms[ph->terms[j]];
			ph->norm += term->weight * term->weight;
		}
		ph->norm = sqrt(ph->norm);
	}
}

/* Free the members of one entry. */
static void
faq_entry_clear(struct faq_entry *e)
{
	size_t	i;

	free(e->id);
	free(e->lang);
	free(e->question);
	free(e->answer);
	for (i = 0; i < e->nkeywords; i++)
		free(e->keywords[i]);
	free(e->keywords);
}

/* Free a FAQ and everything in it. */
void
faq_free(struct faq *faq)
{
	struct faq_index	*ix;
	size_t			 i, j;

	if (faq == NULL)
		return;
	for (i = 0; i < faq->nentries; i++)
		faq_entry_clear(&faq->entries[i]);
	free(faq->entries);
	for (i = 0; i < faq->nindexes; i++) {
		ix = &faq->indexes[i];
		free(ix->lang);
		for (j = 0; j < ix->nterms; j++)
			free(ix->terms[j].text);
		free(ix->terms);
		for (j = 0; j < ix->nphrases; j++)
			free(ix->phrases[j].terms);
		free(ix->phrases);
	}
	free(faq->indexes);
	free(faq);
}

/* A required non-empty string member of an entry; NULL if missing. */
static const char *
faq_member(struct json_object *o, const char *key)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	s = json_object_get_string(v);
	return (*s == '\0' ? NULL : s);
}

/* Parse JSON text, naming the line of a syntax error. */
static struct json_object *
faq_parse(const char *path, const char *text, char **cause)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	enum json_tokener_error	 jerr;
	size_t			 off, line = 1, i;

	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	jerr = json_tokener_get_error(tok);
	if (o == NULL || jerr != json_tokener_success) {
		off = json_tokener_get_parse_end(tok);
		for (i = 0; i < off && text[i] != '\0'; i++) {
			if (text[i] == '\n')
				line++;
		}
		*cause = xasprintf("%s:%zu: %s", path, line,
		    jerr == json_tokener_continue ? "unexpected end of file" :
		    json_tokener_error_desc(jerr));
		json_object_put(o);
		json_tokener_free(tok);
		return (NULL);
	}
	json_tokener_free(tok);
	return (o);
}

/* Copy one JSON entry into e; -1 with *cause. */
static int
faq_load_entry(struct faq *faq, struct json_object *o, struct faq_entry *e,
    char **cause)
{
	static const char	*keys[] = {
		"id", "lang", "question", "answer"
	};
	struct json_object	*kw, *v;
	const char		*s[4];
	size_t			 i, n;

	if (!json_object_is_type(o, json_type_object)) {
		*cause = xstrdup("not an object");
		return (-1);
	}
	for (i = 0; i < 4; i++) {
		if ((s[i] = faq_member(o, keys[i])) == NULL) {
			*cause = xasprintf("missing or empty \"%s\"", keys[i]);
			return (-1);
		}
	}
	for (i = 0; i < faq->nentries; i++) {
		if (strcmp(faq->entries[i].id, s[0]) == 0 &&
		    strcmp(faq->entries[i].lang, s[1]) == 0) {
			*cause = xasprintf("duplicate id \"%s\" for %s", s[0],
			    s[1]);
			return (-1);
		}
	}
	if (json_object_object_get_ex(o, "keywords", &kw)) {
		if (!json_object_is_type(kw, json_type_array)) {
			*cause = xstrdup("\"keywords\" is not an array");
			return (-1);
		}
		n = json_object_array_length(kw);
		for (i = 0; i < n; i++) {
			v = json_object_array_get_idx(kw, i);
			if (!json_object_is_type(v, json_type_string)) {
				*cause = xasprintf("keyword %zu is not a "
				    "string", i + 1);
				return (-1);
			}
		}
		e->keywords = xcalloc(n == 0 ? 1 : n, sizeof *e->keywords);
		for (i = 0; i < n; i++) {
			v = json_object_array_get_idx(kw, i);
			e->keywords[e->nkeywords++] =
			    xstrdup(json_object_get_string(v));
		}
	}
	e->id = xstrdup(s[0]);
	e->lang = xstrdup(s[1]);
	e->question = xstrdup(s[2]);
	e->answer = xstrdup(s[3]);
	return (0);
}

/* Load a FAQ file; NULL with *cause on error. */
struct faq *
faq_load(const char *path, char **cause)
{
	struct faq		*faq;
	struct json_object	*root, *entries;
	struct faq_index	*ix;
	char			*text, *why;
	size_t			 n, i, j;

	if ((text = file_read(path, FAQ_MAX_FILE, cause)) == NULL)
		return (NULL);
	root = faq_parse(path, text, cause);
	free(text);
	if (root == NULL)
		return (NULL);
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "entries", &entries) ||
	    !json_object_is_type(entries, json_type_array)) {
		*cause = xasprintf("%s: no \"entries\" array", path);
		json_object_put(root);
		return (NULL);
	}

	faq = xcalloc(1, sizeof *faq);
	n = json_object_array_length(entries);
	faq->entries = xcalloc(n == 0 ? 1 : n, sizeof *faq->entries);
	for (i = 0; i < n; i++) {
		if (faq_load_entry(faq, json_object_array_get_idx(entries, i),
		    &faq->entries[i], &why) != 0) {
			*cause = xasprintf("%s: entry %zu: %s", path, i + 1,
			    why);
			free(why);
			faq_entry_clear(&faq->entries[i]);
			json_object_put(root);
			faq_free(faq);
			return (NULL);
		}
		faq->nentries++;
	}
	json_object_put(root);

	for (i = 0; i < faq->nentries; i++) {
		for (j = 0; j < faq->nindexes; j++) {
			if (strcmp(faq->indexes[j].lang,
			    faq->entries[i].lang) == 0)
				break;
		}
		if (j < faq->nindexes)
			continue;
		faq->indexes = xreallocarray(faq->indexes, faq->nindexes + 1,
		    sizeof *faq->indexes);
		ix = &faq->indexes[faq->nindexes++];
		memset(ix, 0, sizeof *ix);
		ix->lang = xstrdup(faq->entries[i].lang);
	}
	for (j = 0; j < faq->nindexes; j++)
		faq_index_build(faq, &faq->indexes[j]);

	for (i = 0; i < faq->nentries; i++) {
		for (j = 0; j < faq->nindexes; j++) {
			ix = &faq->indexes[j];
			if (strcmp(ix->lang, faq->entries[i].lang) != 0)
				continue;
			for (n = 0; n < ix->nphrases; n++) {
				if (ix->phrases[n].entry == i)
					break;
			}
			if (n == ix->nphrases) {
				*cause = xasprintf("%s: entry %zu (%s): no "
				    "searchable words in question or "
				    "keywords", path, i + 1,
				    faq->entries[i].id);
				faq_free(faq);
				return (NULL);
			}
		}
	}
	return (faq);
}

/* How many entries, in every language. */
size_t
faq_count(const struct faq *faq)
{
	return (faq == NULL ? 0 : faq->nentries);
}

/* The entry at index i, in file order; NULL past the end. */
const struct faq_entry *
faq_entry_at(const struct faq *faq, size_t i)
{
	if (faq == NULL || i >= faq->nentries)
		return (NULL);
	return (&faq->entries[i]);
}

/* Find an entry by id and language: 1 found, 0 not found. */
int
faq_find(const struct faq *faq, const char *id, const char *lang,
    const struct faq_entry **e)
{
	size_t	i;

	if (faq == NULL || id == NULL || lang == NULL)
		return (0);
	for (i = 0; i < faq->nentries; i++) {
		if (strcmp(faq->entries[i].id, id) == 0 &&
		    strcmp(faq->entries[i].lang, lang) == 0) {
			*e = &faq->entries[i];
			return (1);
		}
	}
	return (0);
}

/* Compare matches: best score first, then file order. */
static int
faq_matchcmp(const void *a, const void *b)
{
	const struct faq_match	*x = a, *y = b;

	if (x->score != y->score)
		return (x->score > y->score ? -1 : 1);
	return (x->entry < y->entry ? -1 : x->entry > y->entry);
}

/* Score the entries of one language against text, best first. */
size_t
faq_search(const struct faq *faq, const char *lang, const char *text,
    struct faq_match *out, size_t max)
{
	const struct faq_index	*ix = NULL;
	const struct faq_phrase	*ph;
	struct faq_match	*all;
	char			**tokens;
	size_t			 ntokens, i, j, a, b, nknown = 0, nout = 0;
	size_t			*known;
	double			*best, qnorm = 0, w, dot, score;
	long			 t;

	if (faq == NULL || lang == NULL || text == NULL || max == 0)
		return (0);
	for (i = 0; i < faq->nindexes; i++) {
		if (strcmp(faq->indexes[i].lang, lang) == 0)
			ix = &faq->indexes[i];
	}
	if (ix == NULL || ix->nphrases == 0)
		return (0);
	if ((tokens = faq_token_set(text, &ntokens)) == NULL)
		return (0);

	known = xcalloc(ntokens, sizeof *known);
	for (i = 0; i < ntokens; i++) {
		t = faq_term_find(ix, tokens[i]);
		if (t >= 0) {
			known[nknown++] = (size_t)t;
			w = ix->terms[t].weight;
		} else {
			w = FAQ_UNKNOWN_IDF;
			if (faq_is_unigram(tokens[i]))
				w *= FAQ_UNI_FACTOR;
		}
		qnorm += w * w;
	}
	faq_tokens_free(tokens, ntokens);
	qnorm = sqrt(qnorm);
	qsort(known, nknown, sizeof *known, faq_sizecmp);

	best = xcalloc(faq->nentries, sizeof *best);
	for (i = 0; i < ix->nphrases; i++) {
		ph = &ix->phrases[i];
		dot = 0;
		for (a = 0, b = 0; a < nknown && b < ph->nterms;) {
			if (known[a] < ph->terms[b])
				a++;
			else if (known[a] > ph->terms[b])
				b++;
			else {
				w = ix->terms[known[a]].weight;
				dot += w * w;
				a++;
				b++;
			}
		}
		if (dot == 0 || ph->norm == 0 || qnorm == 0)
			continue;
		score = dot / (qnorm * ph->norm) *
		    pow(dot / (ph->norm * ph->norm), FAQ_COVER_EXP);
		if (score > 1)
			score = 1;
		if (score > best[ph->entry])
			best[ph->entry] = score;
	}
	free(known);

	all = xcalloc(faq->nentries, sizeof *all);
	for (i = 0, j = 0; i < faq->nentries; i++) {
		if (best[i] > 0) {
			all[j].entry = &faq->entries[i];
			all[j++].score = best[i];
		}
	}
	free(best);
	qsort(all, j, sizeof *all, faq_matchcmp);
	for (nout = 0; nout < j && nout < max; nout++)
		out[nout] = all[nout];
	free(all);
	return (nout);
}
