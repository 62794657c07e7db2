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
/*
 * How kb_search_ranked ranks: kb_search's in-memory index (falling back
 * to SQL for a query it cannot rank), the index only (-1 if it cannot), or
 * SQLite FTS5's bm25() through SQL only.  All return the same hits with
 * the same scores; the choice is for tests and benchmarks.
 */
enum kb_ranker {
	KB_RANK_AUTO,
	KB_RANK_INDEX,
	KB_RANK_FTS
};
int	 kb_search_ranked(struct store *, enum kb_ranker, const char *,
	    const char *, double, size_t, struct kb_hit **);
void	 kb_hits_free(struct kb_hit *, size_t);
/* The terms kefu indexes for a text (space-separated); the caller frees. */
char	*kb_terms(const char *);

#endif
