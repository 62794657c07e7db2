/*
 * Stored timers.  The store functions are plain SQL over the timers table
 * of schema version 2 (store.c creates it), on the store's connection;
 * statements are prepared per call, since timers change only when a
 * conversation enters or leaves a stage that waits for the customer.
 *
 * The scheduler is the delivery scheduler's twin: one uv timer, armed for
 * the earliest due_at.  When it fires, each due row's conversation is
 * stepped with ENGINE_EV_TIMER (pipeline_event, which deletes the row), all
 * in the loop turn's transaction, so a crash before the commit leaves the
 * rows to fire again after the restart.  timers_kick re-arms it whenever the
 * pipeline has set a timer.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "engine.h"
#include "kefu.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "pipeline.h"
#include "store.h"
#include "timers.h"
#include "xmalloc.h"

#define TIMERS_BATCH	100	/* rows taken per firing */
#define TIMERS_RETRY_MS	1000	/* after a failed turn */

static uv_timer_t	timers_uv;
static int		timers_started;

/* Prepare a statement; NULL (logged) on error. */
static sqlite3_stmt *
timers_prepare(struct store *s, const char *sql)
{
	return (store_cached(s, sql));
}

/* Step a statement that returns no rows and finalize it; 0 or -1. */
static int
timers_exec(struct store *s, sqlite3_stmt *st, const char *what)
{
	int	rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_errorx("timers", "msg=\"%s failed\" error=%s", what,
		    logq(sqlite3_errmsg(store_db(s))));
		return (-1);
	}
	return (0);
}

/* Set (or move) a conversation's timer of this kind. */
int
timers_set(struct store *s, int64_t conv, const char *kind, int64_t due)
{
	sqlite3_stmt	*st;

	if ((st = timers_prepare(s, "INSERT INTO timers (conversation_id, "
	    "kind, due_at) VALUES (?1, ?2, ?3) ON CONFLICT (conversation_id, "
	    "kind) DO UPDATE SET due_at = excluded.due_at")) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, conv);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, due);
	return (timers_exec(s, st, "set"));
}

/* Cancel a conversation's timer of this kind, or all of them. */
int
timers_cancel(struct store *s, int64_t conv, const char *kind)
{
	sqlite3_stmt	*st;

	if ((st = timers_prepare(s, kind != NULL ?
	    "DELETE FROM timers WHERE conversation_id = ?1 AND kind = ?2" :
	    "DELETE FROM timers WHERE conversation_id = ?1")) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, conv);
	if (kind != NULL)
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	return (timers_exec(s, st, "cancel"));
}

/* Delete one timer by id. */
int
timers_remove(struct store *s, int64_t id)
{
	sqlite3_stmt	*st;

	if ((st = timers_prepare(s, "DELETE FROM timers WHERE id = ?1")) ==
	    NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	return (timers_exec(s, st, "remove"));
}

/* The earliest due time of any timer. */
int
timers_next_due(struct store *s, int64_t *due)
{
	sqlite3_stmt	*st;
	int		 rc, found = 0;

	if ((st = timers_prepare(s, "SELECT min(due_at) FROM timers")) ==
	    NULL)
		return (-1);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*due = sqlite3_column_int64(st, 0);
		found = 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_errorx("timers", "msg=\"next due failed\" error=%s",
		    logq(sqlite3_errmsg(store_db(s))));
		return (-1);
	}
	return (found);
}

/* The timers due by now, earliest first. */
int
timers_due(struct store *s, int64_t now, int limit, struct timer_row **rows)
{
	sqlite3_stmt	*st;
	struct timer_row *v = NULL;
	const char	*kind;
	size_t		 n = 0;
	int		 rc;

	*rows = NULL;
	if ((st = timers_prepare(s, "SELECT id, conversation_id, kind, "
	    "due_at FROM timers WHERE due_at <= ?1 ORDER BY due_at, id "
	    "LIMIT ?2")) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n].id = sqlite3_column_int64(st, 0);
		v[n].conversation_id = sqlite3_column_int64(st, 1);
		kind = (const char *)sqlite3_column_text(st, 2);
		v[n].kind = xstrdup(kind != NULL ? kind : "");
		v[n].due_at = sqlite3_column_int64(st, 3);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_errorx("timers", "msg=\"due failed\" error=%s",
		    logq(sqlite3_errmsg(store_db(s))));
		timers_free(v, n);
		return (-1);
	}
	*rows = v;
	return ((int)n);
}

/* Free rows from timers_due. */
void
timers_free(struct timer_row *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i].kind);
	free(v);
}

static void	timers_fire(uv_timer_t *);

/* Arm the uv timer for the earliest row, in at least min_ms. */
static void
timers_arm(int64_t min_ms)
{
	int64_t	due, wait;
	int	r;

	if (!timers_started || kefu->draining)
		return;
	if ((r = timers_next_due(kefu->store, &due)) == 0) {
		uv_timer_stop(&timers_uv);
		return;
	}
	wait = r == 1 ? due - now_ms() : TIMERS_RETRY_MS;
	if (wait < min_ms)
		wait = min_ms;
	uv_timer_start(&timers_uv, timers_fire, (uint64_t)wait, 0);
}

/* Step every conversation whose timer is due. */
static void
timers_fire(uv_timer_t *h)
{
	struct timer_row	*rows;
	struct engine_event	 ev;
	int64_t			 now = now_ms();
	int			 n, i, failed = 0;

	if (kefu->draining)
		return;
	if (store_begin(kefu->store) != 0 ||
	    (n = timers_due(kefu->store, now, TIMERS_BATCH, &rows)) < 0) {
		timers_arm(TIMERS_RETRY_MS);
		return;
	}
	for (i = 0; i < n && !failed; i++) {
		log_debug("timers", "msg=\"due\" conv=%lld kind=%s "
		    "late_ms=%lld",
		    (long long)rows[i].conversation_id, rows[i].kind,
		    (long long)(now - rows[i].due_at));
		memset(&ev, 0, sizeof ev);
		ev.type = ENGINE_EV_TIMER;
		ev.timer = rows[i].kind;
		/* The pipeline deletes the row in the same transaction. */
		if (pipeline_event(rows[i].conversation_id, &ev) != 0)
			failed = 1;
	}
	timers_free(rows, (size_t)n);
	/* A failed turn rolled back: the rows are still there; wait. */
	timers_arm(failed ? TIMERS_RETRY_MS : 0);
}

/* Look at the table again (a timer was set). */
void
timers_kick(void)
{
	timers_arm(0);
}

/* Start the scheduler: timers due while kefud was down fire now. */
void
timers_init(void)
{
	uv_timer_init(kefu->loop, &timers_uv);
	timers_started = 1;
	timers_arm(0);
}

/* Stop the scheduler; the rows stay for the next start. */
void
timers_shutdown(void)
{
	if (!timers_started)
		return;
	uv_timer_stop(&timers_uv);
	uv_close((uv_handle_t *)&timers_uv, NULL);
	timers_started = 0;
}
