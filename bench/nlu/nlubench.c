/*
 * bench/nlu/nlubench.c: kefu's side of the intent-model figures.  For each
 * data set (a name, a train split and a dev split, TSV or CSV), it trains
 * the model as kefud does, scores it on the dev split with nlu_evaluate
 * (at the default min_confidence and with no threshold), and measures on
 * one core how many full classifications (intent, entities, sentiment:
 * nlu_classify) and how many intent-only decisions it makes per second,
 * the training time, the model's tables and the growth of the process's
 * resident memory across training.  One JSON object per set on stdout.
 *
 * usage: nlubench [-t seconds] NAME TRAIN DEV [NAME TRAIN DEV ...]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "nlu.h"

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* The process's resident memory in bytes. */
static double
rss(void)
{
	FILE	*f;
	long	 size = 0, res = 0;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return (0);
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return ((double)res * (double)sysconf(_SC_PAGESIZE));
}

/* Read examples or exit. */
static void
load(const char *path, struct nlu_example **ex, size_t *n)
{
	char	*cause = NULL;

	if (nlu_examples_read(path, ex, n, &cause) != 0) {
		fprintf(stderr, "nlubench: %s\n", cause);
		exit(1);
	}
}

/* An evaluation as a JSON object. */
static struct json_object *
eval_json(const struct nlu_eval *ev)
{
	struct json_object	*o = json_object_new_object();

	json_object_object_add(o, "accuracy",
	    json_object_new_double(ev->accuracy));
	json_object_object_add(o, "macro_f1",
	    json_object_new_double(ev->macro_f1));
	json_object_object_add(o, "inscope_accuracy",
	    json_object_new_double(ev->inscope_accuracy));
	json_object_object_add(o, "inscope_rejected",
	    json_object_new_double(ev->inscope_rejected));
	json_object_object_add(o, "oos_precision", ev->noos > 0 ?
	    json_object_new_double(ev->oos_precision) : NULL);
	json_object_object_add(o, "oos_recall", ev->noos > 0 ?
	    json_object_new_double(ev->oos_recall) : NULL);
	return (o);
}

/* Train, score and time one data set; print its JSON line. */
static void
bench(const char *name, const char *trainp, const char *devp, double secs)
{
	struct nlu_example	*tr, *dev;
	struct nlu_result	 r;
	struct nlu_eval		 ev;
	struct json_object	*o;
	struct nlu		*m;
	size_t			 ntr, ndev, i, count;
	double			 t0, t, rss0, rss1, train_secs;
	char			*cause = NULL;

	load(trainp, &tr, &ntr);
	load(devp, &dev, &ndev);
	malloc_trim(0);
	rss0 = rss();
	t0 = now();
	if ((m = nlu_train(tr, ntr, NULL, &cause)) == NULL) {
		fprintf(stderr, "nlubench: %s: %s\n", name, cause);
		exit(1);
	}
	train_secs = now() - t0;
	malloc_trim(0);
	rss1 = rss();

	o = json_object_new_object();
	json_object_object_add(o, "set", json_object_new_string(name));
	json_object_object_add(o, "library", json_object_new_string("kefu"));
	json_object_object_add(o, "train", json_object_new_int64(ntr));
	json_object_object_add(o, "dev", json_object_new_int64(ndev));
	json_object_object_add(o, "train_seconds",
	    json_object_new_double(train_secs));
	json_object_object_add(o, "model_mb", json_object_new_double(
	    (double)nlu_model_size(m) / (1024 * 1024)));
	json_object_object_add(o, "rss_growth_mb",
	    json_object_new_double((rss1 - rss0) / (1024 * 1024)));
	json_object_object_add(o, "min_confidence",
	    json_object_new_double(nlu_min_confidence(m)));

	nlu_evaluate(m, dev, ndev, nlu_min_confidence(m), &ev);
	json_object_object_add(o, "default_threshold", eval_json(&ev));
	nlu_eval_clear(&ev);
	t0 = now();
	nlu_evaluate(m, dev, ndev, 0, &ev);
	t = now() - t0;
	json_object_object_add(o, "no_threshold", eval_json(&ev));
	json_object_object_add(o, "intents_per_second",
	    json_object_new_double((double)ev.n / t));
	nlu_eval_clear(&ev);

	/* Full classifications, over and over the dev split. */
	count = 0;
	t0 = now();
	do {
		for (i = 0; i < ndev; i++) {
			nlu_classify(m, dev[i].text, &r);
			nlu_result_clear(&r);
		}
		count += ndev;
	} while ((t = now() - t0) < secs);
	json_object_object_add(o, "classifications_per_second",
	    json_object_new_double((double)count / t));
	json_object_object_add(o, "rss_mb",
	    json_object_new_double(rss() / (1024 * 1024)));

	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
	nlu_free(m);
	nlu_examples_free(tr, ntr);
	nlu_examples_free(dev, ndev);
}

int
main(int argc, char **argv)
{
	double	secs = 3;
	char	*end;
	int	 ch, i;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		switch (ch) {
		case 't':
			secs = strtod(optarg, &end);
			if (*end != '\0' || secs <= 0) {
				fprintf(stderr, "nlubench: bad -t\n");
				return (1);
			}
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc % 3 != 0)
		goto usage;
	log_set_level("error");
	for (i = 0; i < argc; i += 3)
		bench(argv[i], argv[i + 1], argv[i + 2], secs);
	return (0);

usage:
	fprintf(stderr, "usage: nlubench [-t seconds] NAME TRAIN DEV ...\n");
	return (1);
}
