/*
 * Prometheus metrics.  A fixed-size table of (name, labels) series holding
 * doubles, plus the commit-latency histogram.  Names are declared once in
 * metrics_help so /metrics carries HELP and TYPE lines for each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define METRICS_MAX	512

struct metric {
	char	*name;
	char	*labels;
	double	 value;
};

static struct metric	metrics[METRICS_MAX];
static size_t		nmetrics;

static const double	commit_buckets[] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000
};
#define NBUCKETS (sizeof commit_buckets / sizeof commit_buckets[0])
static uint64_t		commit_counts[NBUCKETS];
static uint64_t		commit_total;
static double		commit_sum;

static const struct {
	const char	*name;
	const char	*type;
	const char	*help;
} metrics_help[] = {
	{ "kefu_messages_in_total", "counter",
	  "Inbound messages stored, by channel." },
	{ "kefu_messages_duplicate_total", "counter",
	  "Inbound messages dropped as duplicates, by channel." },
	{ "kefu_messages_out_total", "counter",
	  "Outbound messages accepted by the channel, by channel." },
	{ "kefu_delivery_failures_total", "counter",
	  "Delivery attempts that failed, by channel and kind." },
	{ "kefu_outbox_depth", "gauge",
	  "Messages waiting in the outbox." },
	{ "kefu_ws_connections", "gauge",
	  "Open widget WebSocket connections." },
	{ "kefu_ws_errors_total", "counter",
	  "Error frames sent to widget clients, by code." },
	{ "kefu_commits_total", "counter",
	  "Store transactions committed." },
	{ "kefu_commit_failures_total", "counter",
	  "Store transactions that failed to commit." },
	{ "kefu_engine_errors_total", "counter",
	  "Engine steps that failed." },
	{ "kefu_handoffs_total", "counter",
	  "Conversations handed to humans, by reason." },
	{ "kefu_http_requests_total", "counter",
	  "HTTP requests served, by route." },
	{ "kefu_inbound_queue", "gauge",
	  "Inbound items stored and waiting for the bot." },
	{ "kefu_inbound_queued_total", "counter",
	  "Inbound items queued, by channel." },
	{ "kefu_inbound_busy_total", "counter",
	  "Inbound items refused because the queue was full, by channel." },
	{ "kefu_inbound_set_aside_total", "counter",
	  "Queued items set aside after failing three times." },
};

static struct metric *
metrics_find(const char *name, const char *labels, int create)
{
	size_t	i;

	if (labels == NULL)
		labels = "";
	for (i = 0; i < nmetrics; i++) {
		if (strcmp(metrics[i].name, name) == 0 &&
		    strcmp(metrics[i].labels, labels) == 0)
			return (&metrics[i]);
	}
	if (!create)
		return (NULL);
	if (nmetrics == METRICS_MAX) {
		log_warnx("metrics", "msg=\"metrics table full\" name=%s",
		    name);
		return (NULL);
	}
	metrics[nmetrics].name = xstrdup(name);
	metrics[nmetrics].labels = xstrdup(labels);
	metrics[nmetrics].value = 0;
	return (&metrics[nmetrics++]);
}

/* Add to a counter. */
void
metrics_add(const char *name, const char *labels, double by)
{
	struct metric	*m;

	if ((m = metrics_find(name, labels, 1)) != NULL)
		m->value += by;
}

/* Set a gauge. */
void
metrics_set(const char *name, const char *labels, double v)
{
	struct metric	*m;

	if ((m = metrics_find(name, labels, 1)) != NULL)
		m->value = v;
}

/* Read a series' value. */
double
metrics_get(const char *name, const char *labels)
{
	struct metric	*m;

	if ((m = metrics_find(name, labels, 0)) == NULL)
		return (0);
	return (m->value);
}

/* Record one commit's latency. */
void
metrics_observe_commit(double ms)
{
	size_t	i;

	for (i = 0; i < NBUCKETS; i++) {
		if (ms <= commit_buckets[i])
			commit_counts[i]++;
	}
	commit_total++;
	commit_sum += ms;
}

static void
metrics_render_one(FILE *f, const char *name, const char *type,
    const char *help)
{
	size_t	i;
	int	header = 0;

	for (i = 0; i < nmetrics; i++) {
		if (strcmp(metrics[i].name, name) != 0)
			continue;
		if (!header && help != NULL) {
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			    name, type);
			header = 1;
		}
		if (*metrics[i].labels != '\0')
			fprintf(f, "%s{%s} %.17g\n", name, metrics[i].labels,
			    metrics[i].value);
		else
			fprintf(f, "%s %.17g\n", name, metrics[i].value);
	}
}

/* Render all series in the Prometheus text format; the caller frees. */
char *
metrics_render(void)
{
	char	*buf = NULL;
	size_t	 len = 0, i, j;
	FILE	*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		log_fatalx("metrics", "msg=\"open_memstream failed\"");
	for (i = 0; i < sizeof metrics_help / sizeof metrics_help[0]; i++) {
		metrics_render_one(f, metrics_help[i].name,
		    metrics_help[i].type, metrics_help[i].help);
	}
	for (i = 0; i < nmetrics; i++) {
		for (j = 0; j < sizeof metrics_help / sizeof metrics_help[0];
		    j++) {
			if (strcmp(metrics[i].name, metrics_help[j].name) == 0)
				break;
		}
		if (j == sizeof metrics_help / sizeof metrics_help[0]) {
			if (*metrics[i].labels != '\0')
				fprintf(f, "%s{%s} %.17g\n", metrics[i].name,
				    metrics[i].labels, metrics[i].value);
			else
				fprintf(f, "%s %.17g\n", metrics[i].name,
				    metrics[i].value);
		}
	}
	fprintf(f, "# HELP kefu_commit_duration_ms Store commit latency.\n");
	fprintf(f, "# TYPE kefu_commit_duration_ms histogram\n");
	for (i = 0; i < NBUCKETS; i++) {
		fprintf(f, "kefu_commit_duration_ms_bucket{le=\"%g\"} %llu\n",
		    commit_buckets[i], (unsigned long long)commit_counts[i]);
	}
	fprintf(f, "kefu_commit_duration_ms_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)commit_total);
	fprintf(f, "kefu_commit_duration_ms_sum %.6f\n", commit_sum);
	fprintf(f, "kefu_commit_duration_ms_count %llu\n",
	    (unsigned long long)commit_total);
	fclose(f);
	return (buf);
}

/* Free the table (at exit, for leak checkers). */
void
metrics_free(void)
{
	size_t	i;

	for (i = 0; i < nmetrics; i++) {
		free(metrics[i].name);
		free(metrics[i].labels);
	}
	nmetrics = 0;
}
