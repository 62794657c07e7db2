/*
 * kefuctl nlu: the intent model's examples.
 *
 *   import [--replace] FILE   add a CSV (or .tsv) file's examples to the
 *                             store; re-importing a file replaces its
 *                             examples, --replace replaces every example,
 *                             the demo's included
 *   classify                  one utterance per line on stdin, one JSON
 *                             object per line on stdout
 *   test FILE                 accuracy, macro-F1, out-of-scope precision
 *                             and recall, the most confused intents
 *
 * classify and test train the model as kefud does (stored examples plus
 * the demo file, engine.examples), or on --train FILE.
 */
#include <sys/time.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "kefuctl.h"
#include "nlu.h"
#include "store.h"
#include "xmalloc.h"

#define KEFUCTL_NLU_LINE_MAX	(64 * 1024)

struct kefuctl_nlu_opts {
	const char	*train;		/* --train FILE */
	double		 min_confidence; /* --min-confidence; <0: config */
	int		 sweep;		/* --sweep */
	int		 epochs;	/* --epochs; 0: the model's default */
	int		 replace;	/* --replace */
	const char	*file;		/* the positional argument */
};

/* Print the usage of kefuctl nlu. */
static int
kefuctl_nlu_usage(void)
{
	fprintf(stderr, "usage: kefuctl nlu import [--replace] FILE.csv\n"
	    "       kefuctl nlu classify [--train FILE] [--min-confidence X]\n"
	    "       kefuctl nlu test [--train FILE] [--min-confidence X] "
	    "[--epochs N] [--sweep] FILE.csv\n");
	return (1);
}

/* Seconds since an arbitrary point, for timings. */
static double
kefuctl_nlu_now(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return ((double)tv.tv_sec + (double)tv.tv_usec / 1e6);
}

/* Parse the options after the sub-subcommand; -1 on a bad one. */
static int
kefuctl_nlu_args(int argc, char **argv, struct kefuctl_nlu_opts *o)
{
	char	*end;
	long	 l;
	int	 i;

	memset(o, 0, sizeof *o);
	o->min_confidence = -1;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--train") == 0 && i + 1 < argc)
			o->train = argv[++i];
		else if (strcmp(argv[i], "--min-confidence") == 0 &&
		    i + 1 < argc) {
			o->min_confidence = strtod(argv[++i], &end);
			if (*end != '\0' || o->min_confidence < 0 ||
			    o->min_confidence > 1) {
				fprintf(stderr, "kefuctl: bad "
				    "--min-confidence: %s\n", argv[i]);
				return (-1);
			}
		} else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
			l = strtol(argv[++i], &end, 10);
			if (*end != '\0' || l < 1 || l > 1000) {
				fprintf(stderr, "kefuctl: bad --epochs: %s\n",
				    argv[i]);
				return (-1);
			}
			o->epochs = (int)l;
		} else if (strcmp(argv[i], "--sweep") == 0)
			o->sweep = 1;
		else if (strcmp(argv[i], "--replace") == 0)
			o->replace = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return (-1);
		else if (o->file == NULL)
			o->file = argv[i];
		else
			return (-1);
	}
	return (0);
}

/* Open the store named by the configuration; NULL after printing why. */
static struct store *
kefuctl_nlu_store(struct kefu_config *cfg)
{
	struct store	*s;

	return (kefuctl_open(cfg, &s) == 0 ? s : NULL);
}

/* kefuctl nlu import [--replace] FILE */
static int
kefuctl_nlu_import(struct kefu_config *cfg, struct kefuctl_nlu_opts *o)
{
	struct nlu_example	*ex;
	struct store		*s;
	const char		**seen;
	char			*cause = NULL, *source;
	size_t			 n, i, j, nseen = 0;

	if (o->file == NULL || o->train != NULL || o->sweep)
		return (kefuctl_nlu_usage());
	if (nlu_examples_read(o->file, &ex, &n, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s\n", cause);
		free(cause);
		return (1);
	}
	if (n == 0) {
		fprintf(stderr, "kefuctl: %s: no examples\n", o->file);
		nlu_examples_free(ex, n);
		return (1);
	}
	if ((s = kefuctl_nlu_store(cfg)) == NULL) {
		nlu_examples_free(ex, n);
		return (1);
	}
	if ((source = realpath(o->file, NULL)) == NULL)
		source = xstrdup(o->file);
	if (nlu_examples_save(s, source, ex, n, o->replace, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s: %s\n", cfg->store_path, cause);
		free(cause);
		free(source);
		nlu_examples_free(ex, n);
		store_close(s);
		return (1);
	}
	seen = xreallocarray(NULL, n, sizeof *seen);
	for (i = 0; i < n; i++) {
		for (j = 0; j < nseen; j++) {
			if (strcmp(seen[j], ex[i].intent) == 0)
				break;
		}
		if (j == nseen)
			seen[nseen++] = ex[i].intent;
	}
	printf("%s: %zu example%s, %zu intent%s imported%s\n", o->file, n,
	    n == 1 ? "" : "s", nseen, nseen == 1 ? "" : "s", o->replace ?
	    "; they replace all others, the demo's included" : "");
	free(seen);
	free(source);
	nlu_examples_free(ex, n);
	store_close(s);
	return (0);
}

/* Train the model: on --train FILE, or the stored and demo examples. */
static struct nlu *
kefuctl_nlu_model(struct kefu_config *cfg, struct kefuctl_nlu_opts *o,
    int verbose)
{
	struct nlu_options	 nopt;
	struct nlu_example	*ex;
	struct nlu		*m;
	struct store		*s = NULL;
	char			*cause = NULL;
	size_t			 n;
	double			 t0;
	int			 r;

	if (o->train != NULL)
		r = nlu_examples_read(o->train, &ex, &n, &cause);
	else {
		if ((s = kefuctl_nlu_store(cfg)) == NULL)
			return (NULL);
		r = nlu_examples_load(s, cfg->engine_examples, &ex, &n,
		    &cause);
		store_close(s);
	}
	if (r != 0) {
		fprintf(stderr, "kefuctl: %s\n", cause);
		free(cause);
		return (NULL);
	}
	memset(&nopt, 0, sizeof nopt);
	nopt.min_confidence = o->min_confidence >= 0 ? o->min_confidence :
	    cfg->engine_nlu_min_confidence;
	if (nopt.min_confidence == 0)
		nopt.min_confidence = 1e-9;	/* 0 asks for the default */
	nopt.order_pattern = cfg->engine_order_pattern;
	nopt.epochs = o->epochs;
	t0 = kefuctl_nlu_now();
	m = nlu_train(ex, n, &nopt, &cause);
	if (m == NULL) {
		fprintf(stderr, "kefuctl: %s: %s\n", o->train != NULL ?
		    o->train : "examples", cause);
		free(cause);
	} else if (verbose) {
		printf("trained on %zu examples (%s) in %.2f s; "
		    "model %.1f MB\n", n, o->train != NULL ? o->train :
		    "stored and demo", kefuctl_nlu_now() - t0,
		    (double)nlu_model_size(m) / (1024 * 1024));
	}
	nlu_examples_free(ex, n);
	return (m);
}

/* A JSON number with four decimals. */
static struct json_object *
kefuctl_nlu_number(double v)
{
	char	buf[32];

	snprintf(buf, sizeof buf, "%.4f", v);
	return (json_object_new_double_s(v, buf));
}

/* kefuctl nlu classify: stdin lines to JSON lines. */
static int
kefuctl_nlu_classify(struct kefu_config *cfg, struct kefuctl_nlu_opts *o)
{
	struct nlu		*m;
	struct nlu_result	 r;
	struct json_object	*j, *ents, *e;
	char			*line = NULL;
	size_t			 size = 0, i;
	ssize_t			 len;

	if (o->file != NULL || o->sweep || o->replace)
		return (kefuctl_nlu_usage());
	if ((m = kefuctl_nlu_model(cfg, o, 0)) == NULL)
		return (1);
	while ((len = getline(&line, &size, stdin)) != -1) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len > KEFUCTL_NLU_LINE_MAX)
			line[KEFUCTL_NLU_LINE_MAX] = '\0';
		nlu_classify(m, line, &r);
		j = json_object_new_object();
		json_object_object_add(j, "text",
		    json_object_new_string(line));
		json_object_object_add(j, "lang", r.lang[0] != '\0' ?
		    json_object_new_string(r.lang) : NULL);
		json_object_object_add(j, "intent", r.intent != NULL ?
		    json_object_new_string(r.intent) : NULL);
		json_object_object_add(j, "confidence",
		    kefuctl_nlu_number(r.confidence));
		json_object_object_add(j, "runner_up", r.runner_up != NULL ?
		    json_object_new_string(r.runner_up) : NULL);
		json_object_object_add(j, "runner_up_confidence",
		    kefuctl_nlu_number(r.runner_up_confidence));
		ents = json_object_new_array();
		for (i = 0; i < r.nentities; i++) {
			e = json_object_new_object();
			json_object_object_add(e, "type",
			    json_object_new_string(r.entities[i].type));
			json_object_object_add(e, "value",
			    json_object_new_string(r.entities[i].value));
			json_object_object_add(e, "start",
			    json_object_new_int64((int64_t)
			    r.entities[i].start));
			json_object_object_add(e, "len",
			    json_object_new_int64((int64_t)r.entities[i].len));
			json_object_array_add(ents, e);
		}
		json_object_object_add(j, "entities", ents);
		json_object_object_add(j, "sentiment",
		    kefuctl_nlu_number(r.sentiment));
		printf("%s\n", json_object_to_json_string_ext(j,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
		nlu_result_clear(&r);
	}
	free(line);
	nlu_free(m);
	return (ferror(stdin) ? 1 : 0);
}

/* Print one evaluation. */
static void
kefuctl_nlu_report(const struct nlu_eval *ev, double min)
{
	size_t	i;

	printf("evaluated %zu examples (%zu out of scope), min_confidence "
	    "%.2f\n", ev->n, ev->noos, min);
	printf("accuracy            %.4f\n", ev->accuracy);
	printf("macro-F1            %.4f\n", ev->macro_f1);
	printf("in-scope accuracy   %.4f\n", ev->inscope_accuracy);
	printf("in-scope rejected   %.4f\n", ev->inscope_rejected);
	if (ev->noos > 0)
		printf("out of scope        precision %.4f  recall %.4f\n",
		    ev->oos_precision, ev->oos_recall);
	if (ev->nconfused == 0)
		return;
	printf("most confused (expected -> answered: count)\n");
	for (i = 0; i < ev->nconfused; i++)
		printf("  %s -> %s: %zu\n", ev->confused[i].gold,
		    ev->confused[i].predicted, ev->confused[i].count);
}

/* kefuctl nlu test [--train FILE] [--sweep] FILE */
static int
kefuctl_nlu_test(struct kefu_config *cfg, struct kefuctl_nlu_opts *o)
{
	struct nlu_example	*ex;
	struct nlu_eval		 ev;
	struct nlu		*m;
	char			*cause = NULL;
	size_t			 n, i;
	double			 t, t0, refused, cost;

	if (o->file == NULL || o->replace)
		return (kefuctl_nlu_usage());
	if (nlu_examples_read(o->file, &ex, &n, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s\n", cause);
		free(cause);
		return (1);
	}
	if ((m = kefuctl_nlu_model(cfg, o, 1)) == NULL) {
		nlu_examples_free(ex, n);
		return (1);
	}
	if (o->sweep) {
		/*
		 * cost: a wrong answer (an in-scope one mistaken, or an out
		 * of scope one answered) costs 1, an in-scope question
		 * answered "out of scope" 0.5; per example.
		 */
		printf("%-9s %-9s %-9s %-9s %-9s %-9s %-10s %s\n", "min_conf",
		    "accuracy", "macro-F1", "in-scope", "rejected", "oos-prec",
		    "oos-recall", "cost");
		for (i = 1; i <= 19; i++) {
			t = 0.05 * (double)i;
			nlu_evaluate(m, ex, n, t, &ev);
			refused = ev.inscope_rejected * (double)(ev.n -
			    ev.noos);
			cost = ((double)(ev.n - ev.correct) - refused +
			    0.5 * refused) / (double)(ev.n > 0 ? ev.n : 1);
			printf("%-9.2f %-9.4f %-9.4f %-9.4f %-9.4f %-9.4f "
			    "%-10.4f %.4f\n", t, ev.accuracy, ev.macro_f1,
			    ev.inscope_accuracy, ev.inscope_rejected,
			    ev.oos_precision, ev.oos_recall, cost);
			nlu_eval_clear(&ev);
		}
	} else {
		t0 = kefuctl_nlu_now();
		nlu_evaluate(m, ex, n, nlu_min_confidence(m), &ev);
		t = kefuctl_nlu_now() - t0;
		kefuctl_nlu_report(&ev, nlu_min_confidence(m));
		printf("%.0f classifications/s\n", t > 0 ? (double)ev.n / t :
		    0.0);
		nlu_eval_clear(&ev);
	}
	nlu_free(m);
	nlu_examples_free(ex, n);
	return (0);
}

/* kefuctl nlu import|classify|test */
int
kefuctl_nlu(struct kefu_config *cfg, int argc, char **argv)
{
	struct kefuctl_nlu_opts	o;

	if (argc < 2 || kefuctl_nlu_args(argc, argv, &o) != 0)
		return (kefuctl_nlu_usage());
	if (strcmp(argv[1], "import") == 0)
		return (kefuctl_nlu_import(cfg, &o));
	if (strcmp(argv[1], "classify") == 0)
		return (kefuctl_nlu_classify(cfg, &o));
	if (strcmp(argv[1], "test") == 0)
		return (kefuctl_nlu_test(cfg, &o));
	return (kefuctl_nlu_usage());
}
