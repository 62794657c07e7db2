/*
 * Understanding: language detection, normalization, intent classification,
 * entity extraction and sentiment.  Pure computation over a model trained
 * in memory from examples at start-up (and on SIGHUP); no I/O except
 * nlu_examples_load, which reads them from the store.
 */
#ifndef KEFU_NLU_H
#define KEFU_NLU_H

#include <stddef.h>

struct nlu;
struct store;

struct nlu_example {
	const char	*text;
	const char	*intent;
	const char	*lang;		/* "en", "zh-CN" or NULL */
};

/* The default min_confidence, tuned on the dev splits (docs/quality.md). */
#define NLU_MIN_CONFIDENCE_DEFAULT	0.4

struct nlu_options {
	double		 min_confidence; /* below: out of scope (intent NULL); 0: default */
	const char	*order_pattern;	/* POSIX ERE for order numbers; NULL: default */
	int		 epochs;	/* training passes; 0: default */
};

struct nlu_entity {
	char	*type;		/* "order_id", "phone", "email", "amount", "date" */
	char	*value;		/* normalized: digits only for phones, ISO dates */
	size_t	 start;		/* byte offset in the original text */
	size_t	 len;
};

struct nlu_result {
	char			 lang[8];	/* "en", "zh-CN", or "" if unknown */
	char			*intent;	/* NULL: out of scope */
	double			 confidence;	/* of the best intent, [0,1] */
	char			*runner_up;	/* second best, or NULL; if
						   intent is NULL: the best */
	double			 runner_up_confidence;
	struct nlu_entity	*entities;
	size_t			 nentities;
	double			 sentiment;	/* [-1, 1] */
};

/*
 * Train a model from n examples.  Returns NULL with *cause (caller frees)
 * if there are no examples or fewer than two intents.
 */
struct nlu	*nlu_train(const struct nlu_example *, size_t,
		    const struct nlu_options *, char **);
void		 nlu_free(struct nlu *);
/* Classify one utterance; fills *r (caller calls nlu_result_clear). */
void		 nlu_classify(const struct nlu *, const char *,
		    struct nlu_result *);
void		 nlu_result_clear(struct nlu_result *);
/* The intents the model knows ("oos", out of scope, is not one). */
size_t		 nlu_intents(const struct nlu *, const char ***);
/* The bytes the model's tables take. */
size_t		 nlu_model_size(const struct nlu *);
double		 nlu_min_confidence(const struct nlu *);

/* Accuracy figures of a model on labelled examples. */
#define NLU_EVAL_CONFUSED	10
struct nlu_eval {
	size_t		 n;		/* examples */
	size_t		 correct;
	double		 accuracy;	/* out of scope counts as a class */
	double		 inscope_accuracy;
	double		 macro_f1;	/* over the in-scope intents */
	size_t		 noos;		/* examples labelled out of scope */
	double		 oos_precision;
	double		 oos_recall;
	double		 inscope_rejected; /* in-scope answered out of scope */
	struct {
		char	*gold;		/* "oos" for out of scope */
		char	*predicted;	/* "(none)" for out of scope */
		size_t	 count;
	}		 confused[NLU_EVAL_CONFUSED]; /* most frequent first */
	size_t		 nconfused;
};
/*
 * Classify each example with threshold min_confidence and compare with its
 * intent ("oos" or empty: out of scope); caller calls nlu_eval_clear.
 */
void		 nlu_evaluate(const struct nlu *, const struct nlu_example *,
		    size_t, double, struct nlu_eval *);
void		 nlu_eval_clear(struct nlu_eval *);

/* "en", "zh-CN", or NULL when the text has no letters. */
const char	*nlu_detect_lang(const char *);
/* NFKC, case-folded, traditional Chinese mapped to simplified; caller frees. */
char		*nlu_normalize(const char *);
/* Sentiment in [-1, 1] with negation and intensifiers; lang may be NULL. */
double		 nlu_sentiment(const char *, const char *);

/*
 * The examples stored by `kefuctl nlu import` plus, unless replaced, the
 * built-in demo examples file; the caller frees with nlu_examples_free.
 */
int		 nlu_examples_load(struct store *, const char *,
		    struct nlu_example **, size_t *, char **);
/*
 * Read examples from a CSV file (header text,intent[,lang]) or a .tsv file
 * (a header naming text and intent); an empty intent is "oos".  Returns 0
 * or -1 with *cause naming file:line.
 */
int		 nlu_examples_read(const char *, struct nlu_example **,
		    size_t *, char **);
/*
 * Store examples under a source name: they replace that source's earlier
 * ones, or with replace set, every stored example and the demo's.
 */
int		 nlu_examples_save(struct store *, const char *,
		    const struct nlu_example *, size_t, int, char **);
void		 nlu_examples_free(struct nlu_example *, size_t);

#endif
