/*
 * The demo FAQ: bilingual question/answer entries loaded from a JSON file
 * and searched by keyword overlap.  Text is normalized (NFKC and case
 * folding), English is split into stemmed words without stop words and
 * Chinese into character bigrams and unigrams; each entry is scored by the
 * best IDF-weighted cosine between the text and one of its phrasings (the
 * question or a keyword phrase), a number in [0, 1].
 */
#ifndef KEFU_FAQ_H
#define KEFU_FAQ_H

#include <stddef.h>

struct faq;

struct faq_entry {
	char	 *id;		/* shared by the translations of an entry */
	char	 *lang;		/* "en", "zh-CN" */
	char	 *question;
	char	 *answer;
	char	**keywords;	/* extra phrasings */
	size_t	  nkeywords;
};

struct faq_match {
	const struct faq_entry	*entry;
	double			 score;		/* [0, 1] */
};

/* Load a FAQ file; NULL with *cause ("file: entry 3: why") on error. */
struct faq	*faq_load(const char *, char **);
void		 faq_free(struct faq *);

size_t		 faq_count(const struct faq *);
const struct faq_entry *faq_entry_at(const struct faq *, size_t);
/* Find an entry by id and language: 1 found (*e set), 0 not found. */
int		 faq_find(const struct faq *, const char *, const char *,
		    const struct faq_entry **);

/*
 * Score the entries of one language against text (raw customer text, not
 * yet normalized).  Fills up to max matches with a score above zero, best
 * first (ties keep file order), and returns how many.
 */
size_t		 faq_search(const struct faq *, const char *, const char *,
		    struct faq_match *, size_t);

/*
 * Text helpers shared with the engine.  faq_normalize returns the NFKC,
 * case-folded form of a UTF-8 string (caller frees), or NULL if it is not
 * valid UTF-8.  faq_tokenize splits normalized text into the tokens the
 * search uses (caller frees with faq_tokens_free).  faq_script counts the
 * Han characters and Latin letters in a string.
 */
char		*faq_normalize(const char *);
char	       **faq_tokenize(const char *, size_t *);
void		 faq_tokens_free(char **, size_t);
void		 faq_script(const char *, size_t *, size_t *);
/* Whether a code point is a CJK ideograph (Han). */
int		 faq_is_han(int);

#endif
