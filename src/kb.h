/*
 * The knowledge base: question/answer entries in the store, searched with
 * SQLite FTS5 and BM25 over kefu's own tokenization, which handles Chinese
 * (character bigrams and unigrams, no spaces needed) and English (case-
 * folded, stemmed words).  Entries come from CSV or Markdown FAQ files;
 * re-importing a file replaces its entries.
 */
#ifndef KEFU_KB_H
#define KEFU_KB_H

#include <stddef.h>

struct store;

/*
 * The score below which a hit should not be used as an answer: the
 * default of engine.kb_min_score (tuned in docs/kb.md).
 */
#define KB_MIN_SCORE_DEFAULT	0.4

struct kb_hit {
	long long	 id;
	char		*question;
	char		*answer;
	char		*intent;	/* or NULL */
	char		*lang;		/* or NULL */
	double		 score;		/* higher is better, in [0, 1] */
};

/*
 * Import a CSV (header question,answer[,intent][,lang][,tags]) or Markdown
 * ("## question" then the answer) file; its earlier entries are replaced.
 * Returns the number of entries, or -1 with *cause naming file:line.
 */
int	 kb_import(struct store *, const char *, char **);
/*
 * Search: up to max hits with score >= min_score, best first, optionally
 * only one language (NULL: any).  Returns the number of hits (*hits: the
 * caller frees with kb_hits_free) or -1.
 */
int	 kb_search(struct store *, const char *, const char *, double, size_t,
	    struct kb_hit **);
void	 kb_hits_free(struct kb_hit *, size_t);
/* The terms kefu indexes for a text (space-separated); the caller frees. */
char	*kb_terms(const char *);

#endif
