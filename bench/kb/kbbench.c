/*
 * bench/kb/kbbench.c: the CPU cost of a knowledge-base search, through
 * the in-memory index (kb_search, "after") and through SQLite FTS5's
 * bm25() as before (kb_search_ranked with KB_RANK_FTS), on the same
 * store in the same process.  For each set (the demo FAQ searched with
 * the texts of etc/demo/intents.csv; the Bitext knowledge base test_kb
 * builds, searched with the Bitext dev utterances, if the shared data is
 * there), it first checks that both rankers return the same hits and
 * scores for every query, then times passes over all queries, the two
 * rankers alternating, in process CPU time, and prints the median and the
 * best pass in microseconds per search.  Searches are made as the
 * pipeline makes them: any language, the default threshold, 5 hits.
 *
 * usage: kbbench [-r runs] [-s top_srcdir] [-d shared_data_dir]
 */
#include <sys/stat.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "kb.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define BENCH_HITS	5	/* as PIPELINE_KB_HITS */
#define BENCH_RUNS_MAX	101
#define BITEXT_INTENTS	64
#define BITEXT_PHRASES	10

/* Queries of one set. */
struct queries {
	char	**v;
	size_t	  n;
};

/* Seconds of CPU this process has used. */
static double
cpu(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Add a query. */
static void
queries_add(struct queries *q, const char *s)
{
	q->v = xreallocarray(q->v, q->n + 1, sizeof *q->v);
	q->v[q->n++] = xstrdup(s);
}

/* Free the queries. */
static void
queries_free(struct queries *q)
{
	size_t	i;

	for (i = 0; i < q->n; i++)
		free(q->v[i]);
	free(q->v);
	memset(q, 0, sizeof *q);
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

/* Import a file or exit. */
static int
import(struct store *s, const char *path)
{
	char	*cause = NULL;
	int	 n;

	if ((n = kb_import(s, path, &cause)) < 0 ||
	    store_commit(s, &cause) != 0) {
		fprintf(stderr, "kbbench: %s\n", cause);
		exit(1);
	}
	return (n);
}

/* The texts of the demo intents file. */
static void
demo_queries(const char *top, struct queries *q)
{
	struct csv		 r;
	struct csv_record	 rec;
	char			*path, *buf, *cause = NULL;
	int			 col, got;

	path = xasprintf("%s/etc/demo/intents.csv", top);
	if ((buf = file_read(path, 16 * 1024 * 1024, &cause)) == NULL) {
		fprintf(stderr, "kbbench: %s\n", cause);
		exit(1);
	}
	csv_init(&r, path, buf, strlen(buf));
	if (csv_next(&r, &rec, &cause) != 1 ||
	    (col = csv_column(&rec, "text")) < 0) {
		fprintf(stderr, "kbbench: %s: no text column\n", path);
		exit(1);
	}
	csv_record_clear(&rec);
	while ((got = csv_next(&r, &rec, &cause)) == 1) {
		if ((size_t)col < rec.nfields)
			queries_add(q, rec.fields[col]);
		csv_record_clear(&rec);
	}
	if (got < 0) {
		fprintf(stderr, "kbbench: %s\n", cause);
		exit(1);
	}
	free(buf);
	free(path);
}

/*
 * The Bitext knowledge base as test_kb's test_bitext builds it (one entry
 * per intent: its first training response, ten utterances as tags),
 * written to kbpath, and the dev utterances as queries.  0 if the data
 * is not there.
 */
static int
bitext(const char *data, const char *kbpath, struct queries *q)
{
	char	*path, *line = NULL, *fl[8], *t;
	char	*name[BITEXT_INTENTS], *answer[BITEXT_INTENTS];
	char	*tags[BITEXT_INTENTS];
	int	 nphr[BITEXT_INTENTS], nint = 0, i, n, nf;
	size_t	 size = 0;
	FILE	*fp, *out;

	path = xasprintf("%s/bitext-customer-support/train.tsv", data);
	fp = fopen(path, "r");
	free(path);
	if (fp == NULL)
		return (0);
	while (getline(&line, &size, fp) > 0) {
		nf = tsv_split(line, fl, 8);
		if (nf < 8 || strcmp(fl[0], "id") == 0)
			continue;
		for (i = 0; i < nint && strcmp(name[i], fl[2]) != 0; i++)
			;
		if (i == nint) {
			if (nint == BITEXT_INTENTS)
				continue;
			name[nint] = xstrdup(fl[2]);
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

	if ((out = fopen(kbpath, "w")) == NULL) {
		perror(kbpath);
		exit(1);
	}
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
		free(name[i]);
		free(answer[i]);
		free(tags[i]);
	}
	fclose(out);

	path = xasprintf("%s/bitext-customer-support/dev.tsv", data);
	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		exit(1);
	}
	free(path);
	while (getline(&line, &size, fp) > 0) {
		if (tsv_split(line, fl, 8) < 3 || strcmp(fl[0], "id") == 0)
			continue;
		queries_add(q, fl[1]);
	}
	fclose(fp);
	free(line);
	return (1);
}

/*
 * Check that both rankers agree on every query (with all candidates
 * shown); returns how many queries the index ranked alone.
 */
static size_t
check(struct store *s, const struct queries *q)
{
	struct kb_hit	*a, *b;
	size_t		 i, indexed = 0;
	int		 na, nb, j;

	for (i = 0; i < q->n; i++) {
		na = kb_search_ranked(s, KB_RANK_INDEX, q->v[i], NULL, 0, 50,
		    &a);
		if (na < 0)
			na = kb_search(s, q->v[i], NULL, 0, 50, &a);
		else
			indexed++;
		nb = kb_search_ranked(s, KB_RANK_FTS, q->v[i], NULL, 0, 50,
		    &b);
		if (na < 0 || nb < 0 || na != nb) {
			fprintf(stderr, "kbbench: \"%s\": %d hits, SQL %d\n",
			    q->v[i], na, nb);
			exit(1);
		}
		for (j = 0; j < na; j++) {
			if (a[j].id != b[j].id ||
			    fabs(a[j].score - b[j].score) > 1e-9) {
				fprintf(stderr, "kbbench: \"%s\": hit %d "
				    "differs\n", q->v[i], j);
				exit(1);
			}
		}
		kb_hits_free(a, (size_t)na);
		kb_hits_free(b, (size_t)nb);
	}
	return (indexed);
}

/* Microseconds per search of one pass over the queries. */
static double
pass(struct store *s, const struct queries *q, enum kb_ranker how)
{
	struct kb_hit	*h;
	double		 t0;
	size_t		 i;
	int		 n;
	char		*t;

	t0 = cpu();
	for (i = 0; i < q->n; i++) {
		if ((int)how < 0) {
			/* The query's tokenization alone. */
			t = kb_terms(q->v[i]);
			free(t);
			continue;
		}
		n = kb_search_ranked(s, how, q->v[i], NULL,
		    KB_MIN_SCORE_DEFAULT, BENCH_HITS, &h);
		if (n < 0) {
			fprintf(stderr, "kbbench: search failed\n");
			exit(1);
		}
		kb_hits_free(h, (size_t)n);
	}
	return ((cpu() - t0) * 1e6 / (double)q->n);
}

/* Compare doubles. */
static int
dcmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* Remove a directory and the files in it. */
static void
rmtree(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Benchmark one set: a store with its files, and its queries. */
static void
bench(const char *set, struct store *s, int entries, struct queries *q,
    int runs)
{
	struct kb_hit	*h;
	double		 t[3][BENCH_RUNS_MAX], t0, build;
	const int	 how[3] = { KB_RANK_FTS, KB_RANK_AUTO, -1 };
	const int	 order[2][3] = { { 0, 1, 2 }, { 1, 0, 2 } };
	const char	*label[3] = { "fts5 (before)", "index (after)",
			    "(kb_terms alone)" };
	size_t		 indexed;
	int		 r, k, n;

	t0 = cpu();
	n = kb_search(s, "warm up", NULL, 0, 1, &h);	/* builds the index */
	build = (cpu() - t0) * 1e3;
	kb_hits_free(h, (size_t)(n > 0 ? n : 0));
	indexed = check(s, q);
	for (r = 0; r < runs; r++) {
		for (k = 0; k < 3; k++) {
			/* Alternate which ranker goes first. */
			n = order[r % 2][k];
			t[n][r] = pass(s, q, (enum kb_ranker)how[n]);
		}
	}
	printf("%s: %d entries, %zu queries; same hits and scores for all "
	    "(%zu ranked by the index alone); index built in %.1f ms CPU\n",
	    set, entries, q->n, indexed, build);
	for (k = 0; k < 3; k++) {
		qsort(t[k], (size_t)runs, sizeof t[k][0], dcmp);
		printf("  %-18s %8.2f us/search median, %8.2f best",
		    label[k], t[k][runs / 2], t[k][0]);
		if (k == 1)
			printf("   %.1fx", t[0][runs / 2] / t[1][runs / 2]);
		printf("\n");
	}
}

/* Make a store in a new directory. */
static struct store *
store_new(char *dir, size_t len)
{
	struct store	*s;
	char		*path, *cause = NULL;

	xsnprintf(dir, len, "/tmp/kefu-kbbench-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	path = xasprintf("%s/kefu.db", dir);
	if (store_open(path, 0, 1000, &s, &cause) != 0) {
		fprintf(stderr, "kbbench: %s\n", cause);
		exit(1);
	}
	free(path);
	return (s);
}

int
main(int argc, char **argv)
{
	struct store	*s;
	struct queries	 q = { NULL, 0 };
	const char	*top = ".", *data = NULL;
	char		 dir[64], *path, *shared;
	int		 ch, runs = 11, n;

	while ((ch = getopt(argc, argv, "d:r:s:")) != -1) {
		switch (ch) {
		case 'd':
			data = optarg;
			break;
		case 'r':
			runs = (int)strtol(optarg, NULL, 10);
			if (runs < 1 || runs > BENCH_RUNS_MAX) {
				fprintf(stderr, "kbbench: bad -r\n");
				return (1);
			}
			break;
		case 's':
			top = optarg;
			break;
		default:
			fprintf(stderr, "usage: kbbench [-r runs] "
			    "[-s top_srcdir] [-d shared_data_dir]\n");
			return (1);
		}
	}
	log_set_level("warn");

	s = store_new(dir, sizeof dir);
	path = xasprintf("%s/etc/demo/kb/faq-en.md", top);
	n = import(s, path);
	free(path);
	path = xasprintf("%s/etc/demo/kb/faq-zh.md", top);
	n += import(s, path);
	free(path);
	demo_queries(top, &q);
	bench("demo", s, n, &q, runs);
	queries_free(&q);
	store_close(s);
	rmtree(dir);

	shared = data != NULL ? xstrdup(data) :
	    xasprintf("%s/../shared/data", top);
	s = store_new(dir, sizeof dir);
	path = xasprintf("%s/bitext.csv", dir);
	if (bitext(shared, path, &q)) {
		n = import(s, path);
		bench("bitext", s, n, &q, runs);
	} else
		printf("bitext: no data in %s, skipped\n", shared);
	free(path);
	queries_free(&q);
	store_close(s);
	rmtree(dir);
	free(shared);
	return (0);
}
