/*
 * kefuctl queue: what waits in the inbound queue (docs/telegram.md, "The
 * inbound queue"), and the items kefud set aside after their turn failed
 * three times: list them, put them back in line (retry) or drop them.
 * Bodies hold customers' messages and are never printed.  kefud counts
 * the queue at start-up and on SIGHUP, so a retried item is taken after
 * the next reload.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "config.h"
#include "kefuctl.h"
#include "store.h"

static const char kefuctl_queue_waiting[] =
    "SELECT channel, account, count(*), min(received_at)"
    " FROM inbound_queue WHERE failed_at IS NULL"
    " GROUP BY channel, account ORDER BY channel, account";
static const char kefuctl_queue_aside[] =
    "SELECT id, channel, account, key, received_at, failed_at, error"
    " FROM inbound_queue WHERE failed_at IS NOT NULL ORDER BY id";
static const char kefuctl_queue_retry_sql[] =
    "UPDATE inbound_queue SET failed_at = NULL, error = NULL"
    " WHERE failed_at IS NOT NULL AND (?1 = 0 OR id = ?1)";
static const char kefuctl_queue_drop_sql[] =
    "DELETE FROM inbound_queue WHERE failed_at IS NOT NULL AND id = ?1";

static int
kefuctl_queue_usage(void)
{
	fprintf(stderr, "usage: kefuctl queue [list] | retry ID|all | "
	    "drop ID\n");
	return (2);
}

/* A text column, or "-". */
static const char *
kefuctl_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*v = sqlite3_column_text(st, i);

	return (v != NULL ? (const char *)v : "-");
}

/* Print what waits, by channel and account, then what is set aside. */
static int
kefuctl_queue_list(struct store *s)
{
	sqlite3_stmt	*st;
	char		 when[32], failed[32];
	int		 rc, n = 0;

	if ((st = store_cached(s, kefuctl_queue_waiting)) == NULL)
		return (1);
	printf("%-10s %-16s %8s %s\n", "CHANNEL", "ACCOUNT", "WAITING",
	    "OLDEST");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		kefuctl_time(sqlite3_column_int64(st, 3), when, sizeof when);
		printf("%-10s %-16s %8lld %s\n", kefuctl_col(st, 0),
		    kefuctl_col(st, 1), sqlite3_column_int64(st, 2), when);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (n == 0)
		printf("(nothing waits)\n");

	if ((st = store_cached(s, kefuctl_queue_aside)) == NULL)
		return (1);
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ == 0)
			printf("\nset aside:\n%-8s %-10s %-16s %-14s %-19s "
			    "%-19s %s\n", "ID", "CHANNEL", "ACCOUNT", "KEY",
			    "RECEIVED", "FAILED", "ERROR");
		kefuctl_time(sqlite3_column_int64(st, 4), when, sizeof when);
		kefuctl_time(sqlite3_column_int64(st, 5), failed,
		    sizeof failed);
		printf("%-8lld %-10s %-16s %-14s %-19s %-19s %s\n",
		    sqlite3_column_int64(st, 0), kefuctl_col(st, 1),
		    kefuctl_col(st, 2), kefuctl_col(st, 3), when, failed,
		    kefuctl_col(st, 6));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	return (0);
fail:
	fprintf(stderr, "kefuctl: queue: %s\n", sqlite3_errmsg(store_db(s)));
	return (1);
}

/* Retry or drop (sql) one item set aside; retry all with id 0. */
static int
kefuctl_queue_change(struct store *s, const char *sql, int64_t id,
    const char *done)
{
	sqlite3_stmt	*st;
	char		*cause = NULL;
	int		 rc, n;

	if (store_begin(s) != 0 || (st = store_cached(s, sql)) == NULL)
		return (1);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(store_db(s)) & 0xff) ==
		    SQLITE_CONSTRAINT)
			fprintf(stderr, "kefuctl: queue: an item with the same "
			    "key waits already; drop this one instead\n");
		else
			fprintf(stderr, "kefuctl: queue: %s\n",
			    sqlite3_errmsg(store_db(s)));
		store_rollback(s);
		return (1);
	}
	n = sqlite3_changes(store_db(s));
	if (store_commit(s, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s\n", cause);
		free(cause);
		return (1);
	}
	if (n == 0) {
		fprintf(stderr, "kefuctl: queue: no item set aside%s\n",
		    id == 0 ? "" : " with that id");
		return (1);
	}
	printf("%d item%s %s; kefud takes %s after a reload (SIGHUP) or "
	    "restart\n", n, n == 1 ? "" : "s", done, n == 1 ? "it" : "them");
	return (0);
}

int
kefuctl_queue(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	const char	*verb = argc > 1 ? argv[1] : "list";
	char		*end;
	long long	 id = 0;
	int		 rc;

	if (strcmp(verb, "list") == 0 ? argc > 2 : argc != 3)
		return (kefuctl_queue_usage());
	if (strcmp(verb, "list") != 0 && (strcmp(verb, "retry") != 0 ||
	    strcmp(argv[2], "all") != 0)) {
		id = strtoll(argv[2], &end, 10);
		if (*argv[2] == '\0' || *end != '\0' || id <= 0) {
			fprintf(stderr, "kefuctl: queue: bad id: %s\n",
			    argv[2]);
			return (2);
		}
	}
	if (strcmp(verb, "list") != 0 && strcmp(verb, "retry") != 0 &&
	    strcmp(verb, "drop") != 0)
		return (kefuctl_queue_usage());
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	if (strcmp(verb, "list") == 0)
		rc = kefuctl_queue_list(s);
	else if (strcmp(verb, "retry") == 0)
		rc = kefuctl_queue_change(s, kefuctl_queue_retry_sql,
		    (int64_t)id, "put back in line");
	else
		rc = kefuctl_queue_change(s, kefuctl_queue_drop_sql,
		    (int64_t)id, "dropped");
	store_close(s);
	return (rc);
}
