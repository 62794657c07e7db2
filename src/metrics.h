/*
 * Prometheus metrics: counters, gauges and one latency histogram, kept in
 * a small table and rendered in the text exposition format at /metrics.
 */
#ifndef KEFU_METRICS_H
#define KEFU_METRICS_H

#include <stdint.h>

/* Add to a counter; labels is a Prometheus label list or NULL, e.g.
 * "channel=\"websocket\"". */
void	 metrics_add(const char *, const char *, double);
#define	 metrics_inc(name, labels) metrics_add(name, labels, 1)
/* Set a gauge. */
void	 metrics_set(const char *, const char *, double);
/* Observe a commit latency in milliseconds. */
void	 metrics_observe_commit(double);
/* The current value of a counter or gauge; 0 if never set. */
double	 metrics_get(const char *, const char *);
/* Render everything; the caller frees. */
char	*metrics_render(void);
void	 metrics_free(void);

#endif
