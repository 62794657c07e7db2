/*
 * kefuctl kb: import knowledge-base files into the store and try queries
 * against it, to see what the bot would answer and with what score.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "config.h"
#include "kb.h"
#include "kefuctl.h"
#include "store.h"
#include "xmalloc.h"

#define KEFUCTL_KB_WIDTH	76	/* columns of answer text per line */
#define KEFUCTL_KB_LINES	3	/* lines of answer text shown */

/* Print kb's usage. */
static void
kefuctl_kb_usage(void)
{
	fprintf(stderr, "usage: kefuctl kb import FILE...\n"
	    "       kefuctl kb search QUERY [--lang en|zh-CN] [--limit N] "
	    "[--min SCORE]\n");
}

/* kefuctl kb import FILE...: each file replaces its earlier entries. */
static int
kefuctl_kb_import(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	int		 rc;

	if (argc < 3) {
		kefuctl_kb_usage();
		return (1);
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	rc = kefuctl_import(cfg, s, argc - 2, argv + 2, kb_import, "entries");
	store_close(s);
	return (rc);
}

/*
 * Print text wrapped to KEFUCTL_KB_WIDTH columns (by display width, so
 * Chinese counts double), indented, at most KEFUCTL_KB_LINES lines; line
 * breaks in the text become spaces.
 */
static void
kefuctl_kb_wrap(const char *text, const char *indent)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)text;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	size_t			 start, brk, i, lines = 0;
	int			 w, width;

	while (*p == ' ' || *p == '\n')
		p++;
	while (*p != '\0' && lines < KEFUCTL_KB_LINES) {
		/* Find how much of the rest fits on one line. */
		width = 0;
		brk = 0;
		for (i = 0; p[i] != '\0'; i += (size_t)n) {
			n = utf8proc_iterate(p + i, -1, &cp);
			if (n <= 0) {
				n = 1;
				cp = '?';
			}
			w = utf8proc_charwidth(cp);
			if (width + w > KEFUCTL_KB_WIDTH)
				break;
			width += w > 0 ? w : 0;
			if (cp == ' ' || cp == '\n')
				brk = i;
		}
		if (p[i] != '\0' && brk > 0 && cp != ' ' && cp != '\n' &&
		    cp < 0x80)
			i = brk;	/* break a Latin line at a space */
		printf("%s", indent);
		for (start = 0; start < i; start++)
			putchar(p[start] == '\n' ? ' ' : p[start]);
		lines++;
		p += i;
		while (*p == ' ' || *p == '\n')
			p++;
		if (*p != '\0' && lines == KEFUCTL_KB_LINES)
			printf(" ...");
		putchar('\n');
	}
}

/* Parse a number argument in [min, max]; -1 with a message if bad. */
static int
kefuctl_kb_number(const char *opt, const char *arg, double min, double max,
    double *out)
{
	char	*end;
	double	 v;

	v = strtod(arg, &end);
	if (*arg == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "kefuctl: bad %s: %s\n", opt, arg);
		return (-1);
	}
	*out = v;
	return (0);
}

/* kefuctl kb search QUERY [--lang L] [--limit N] [--min SCORE]. */
static int
kefuctl_kb_search(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	struct kb_hit	*hits;
	const char	*query = NULL, *lang = NULL;
	double		 min = cfg->engine_kb_min_score, limit = 5;
	int		 i, n;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) {
			lang = argv[++i];
			if (strcmp(lang, "en") != 0 &&
			    strcmp(lang, "zh-CN") != 0) {
				fprintf(stderr, "kefuctl: bad --lang: %s "
				    "(en or zh-CN)\n", lang);
				return (1);
			}
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (kefuctl_kb_number("--limit", argv[++i], 1, 1000,
			    &limit) != 0)
				return (1);
		} else if (strcmp(argv[i], "--min") == 0 && i + 1 < argc) {
			if (kefuctl_kb_number("--min", argv[++i], 0, 1,
			    &min) != 0)
				return (1);
		} else if (query == NULL && strncmp(argv[i], "--", 2) != 0)
			query = argv[i];
		else {
			kefuctl_kb_usage();
			return (1);
		}
	}
	if (query == NULL) {
		kefuctl_kb_usage();
		return (1);
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	n = kb_search(s, query, lang, min, (size_t)limit, &hits);
	store_close(s);
	if (n < 0) {
		fprintf(stderr, "kefuctl: kb search failed (see the log)\n");
		return (1);
	}
	if (n == 0)
		printf("no entry scores %.2f or more\n", min);
	for (i = 0; i < n; i++) {
		printf("%d. %.3f  %s%s%s%s%s  (#%lld)\n", i + 1, hits[i].score,
		    hits[i].question,
		    hits[i].intent != NULL ? "  intent=" : "",
		    hits[i].intent != NULL ? hits[i].intent : "",
		    hits[i].lang != NULL ? "  lang=" : "",
		    hits[i].lang != NULL ? hits[i].lang : "", hits[i].id);
		kefuctl_kb_wrap(hits[i].answer, "   ");
	}
	kb_hits_free(hits, (size_t)n);
	return (0);
}

/* kefuctl kb: import or search the knowledge base. */
int
kefuctl_kb(struct kefu_config *cfg, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return (kefuctl_kb_import(cfg, argc, argv));
	if (argc >= 2 && strcmp(argv[1], "search") == 0)
		return (kefuctl_kb_search(cfg, argc, argv));
	kefuctl_kb_usage();
	return (1);
}
