/*
 * Outgoing webhooks.  An event is a row in webhook_outbox, written in the
 * transaction that made it true (so an event is never sent for something
 * that was rolled back, nor lost for something that was committed), with
 * its body already built: {"event", "id", "created_at", "conversation",
 * "message"}.  After the commit a timer sends the due rows over the
 * asynchronous HTTP client with
 *
 *	X-Kefu-Event: conversation.created
 *	X-Kefu-Delivery: ROW_ID
 *	X-Kefu-Signature: sha256=HEX(HMAC-SHA256(secret, body))
 *
 * A 2xx answer deletes the row; anything else (or no answer) counts an
 * attempt and the row is due again after an exponential back-off with
 * jitter (1 s doubling to an hour), up to WEBHOOK_MAX_ATTEMPTS, after
 * which it is dropped with a log line and a metric.  A row whose URL is
 * no longer configured is dropped.  Delivery is at least once: receivers
 * de-duplicate on X-Kefu-Delivery.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "config.h"
#include "httpc.h"
#include "inbox.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "webhooks.h"
#include "xmalloc.h"

#define WEBHOOK_BATCH		20
#define WEBHOOK_MAX_ATTEMPTS	12
#define WEBHOOK_BACKOFF_MIN	1000
#define WEBHOOK_BACKOFF_MAX	3600000

/* One delivery in flight. */
struct webhook_send {
	int64_t			 id;
	int			 attempts;
	char			*url;
	struct webhook_send	*next;
};

static uv_timer_t		 webhook_timer;
static int			 webhook_started;
static struct webhook_send	*webhook_in_flight;

static const char *webhook_insert_sql = "INSERT INTO webhook_outbox"
    " (url, event, body, due_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4)";
static const char *webhook_due_sql = "SELECT id, url, event, body, attempts"
    " FROM webhook_outbox WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2";
static const char *webhook_next_sql = "SELECT min(due_at) FROM"
    " webhook_outbox";
static const char *webhook_delete_sql = "DELETE FROM webhook_outbox"
    " WHERE id = ?1";
static const char *webhook_retry_sql = "UPDATE webhook_outbox SET"
    " attempts = attempts + 1, due_at = ?2, last_error = ?3 WHERE id = ?1";

static void	webhooks_run(uv_timer_t *);

/* The configured webhook with this URL, or NULL. */
static const struct config_webhook *
webhooks_find(const char *url)
{
	size_t	i;

	for (i = 0; i < kefu->cfg->webhooks.n; i++) {
		if (strcmp(CONFIG_WEBHOOK(kefu->cfg, i)->url, url) == 0)
			return (CONFIG_WEBHOOK(kefu->cfg, i));
	}
	return (NULL);
}

/* Whether a webhook wants an event. */
static int
webhooks_wants(const struct config_webhook *w, const char *event)
{
	size_t	i;

	for (i = 0; i < w->events.n; i++) {
		if (strcmp(w->events.v[i], event) == 0)
			return (1);
	}
	return (0);
}

/* Queue an event for every webhook that wants it. */
int
webhooks_emit(const char *event, int64_t conversation_id, int64_t message_id)
{
	const struct config_webhook	*w;
	struct json_object		*o, *conv = NULL, *msg = NULL;
	sqlite3_stmt			*st;
	const char			*body;
	int64_t				 now;
	size_t				 i;
	int				 rc = 0, wanted = 0;

	if (kefu == NULL || kefu->cfg == NULL || kefu->cfg->webhooks.n == 0)
		return (0);
	for (i = 0; i < kefu->cfg->webhooks.n; i++)
		wanted |= webhooks_wants(CONFIG_WEBHOOK(kefu->cfg, i), event);
	if (!wanted)
		return (0);
	if (store_begin(kefu->store) != 0)
		return (-1);
	now = now_ms();
	if (message_id != 0 &&
	    inbox_message(kefu->store, message_id, &msg) == -1)
		return (-1);
	if (inbox_conversation(kefu->store, conversation_id, &conv) == -1) {
		json_object_put(msg);
		return (-1);
	}
	o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "created_at", json_object_new_int64(now));
	json_object_object_add(o, "conversation", conv);
	json_object_object_add(o, "message", msg);
	body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	for (i = 0; rc == 0 && i < kefu->cfg->webhooks.n; i++) {
		w = CONFIG_WEBHOOK(kefu->cfg, i);
		if (!webhooks_wants(w, event))
			continue;
		if ((st = store_cached(kefu->store, webhook_insert_sql)) ==
		    NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_text(st, 1, w->url, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, body, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, now);
		if (sqlite3_step(st) != SQLITE_DONE) {
			log_warnx("webhooks", "msg=\"could not queue an "
			    "event\" error=%s", logq(sqlite3_errmsg(
			    store_db(kefu->store))));
			rc = -1;
		}
		sqlite3_reset(st);
	}
	json_object_put(o);
	return (rc);
}

/* Run a statement on one row id (and optional due time and error). */
static void
webhooks_update(const char *sql, int64_t id, int64_t due, const char *error)
{
	sqlite3_stmt	*st;

	if (store_begin(kefu->store) != 0 ||
	    (st = store_cached(kefu->store, sql)) == NULL)
		return;
	sqlite3_bind_int64(st, 1, id);
	if (sql == webhook_retry_sql) {
		sqlite3_bind_int64(st, 2, due);
		sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warnx("webhooks", "msg=\"could not update the outbox\" "
		    "delivery=%" PRId64, id);
	sqlite3_reset(st);
}

/* The wait before attempt n+1. */
static int64_t
webhooks_backoff(int attempts)
{
	int64_t	wait = WEBHOOK_BACKOFF_MIN;
	int	i;

	for (i = 0; i < attempts && wait < WEBHOOK_BACKOFF_MAX; i++)
		wait *= 2;
	if (wait > WEBHOOK_BACKOFF_MAX)
		wait = WEBHOOK_BACKOFF_MAX;
	return (wait + (int64_t)arc4random_uniform((uint32_t)(wait / 5 + 1)));
}

/* Forget a delivery in flight. */
static void
webhooks_unlink(struct webhook_send *ws)
{
	struct webhook_send	**pp;

	for (pp = &webhook_in_flight; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ws) {
			*pp = ws->next;
			break;
		}
	}
	free(ws->url);
	free(ws);
}

/* A delivery's answer. */
static void
webhooks_done(void *arg, const struct httpc_response *res)
{
	struct webhook_send	*ws = arg;
	char			*why;

	if (res->status >= 200 && res->status < 300) {
		webhooks_update(webhook_delete_sql, ws->id, 0, NULL);
		metrics_inc("kefu_webhook_deliveries_total", "outcome=\"ok\"");
	} else {
		why = res->status != 0 ? xasprintf("HTTP %ld", res->status) :
		    xasprintf("network: %s", res->error_text != NULL ?
		    res->error_text : "no answer");
		metrics_inc("kefu_webhook_deliveries_total",
		    "outcome=\"failed\"");
		if (ws->attempts + 1 >= WEBHOOK_MAX_ATTEMPTS) {
			log_warnx("webhooks", "msg=\"giving up on an event\" "
			    "delivery=%" PRId64 " attempts=%d error=%s", ws->id,
			    ws->attempts + 1, logq(why));
			webhooks_update(webhook_delete_sql, ws->id, 0, NULL);
			metrics_inc("kefu_webhook_deliveries_total",
			    "outcome=\"dropped\"");
		} else {
			log_info("webhooks", "msg=\"delivery failed, will "
			    "retry\" delivery=%" PRId64 " attempt=%d error=%s",
			    ws->id, ws->attempts + 1, logq(why));
			webhooks_update(webhook_retry_sql, ws->id, now_ms() +
			    webhooks_backoff(ws->attempts), why);
		}
		free(why);
	}
	webhooks_unlink(ws);
	webhooks_kick();
}

/* Send one row. */
static void
webhooks_send(int64_t id, const char *url, const char *event,
    const char *body, int attempts)
{
	const struct config_webhook	*w;
	struct webhook_send		*ws;
	struct httpc_request		 req;
	unsigned char			 mac[EVP_MAX_MD_SIZE];
	unsigned int			 maclen = 0, i;
	char				 hex[2 * EVP_MAX_MD_SIZE + 1];
	char				*h_event, *h_id, *h_sig, *cause = NULL;
	const char			*headers[5];

	for (ws = webhook_in_flight; ws != NULL; ws = ws->next) {
		if (ws->id == id)
			return;
	}
	if ((w = webhooks_find(url)) == NULL) {
		log_info("webhooks", "msg=\"webhook no longer configured, "
		    "event dropped\" delivery=%" PRId64, id);
		webhooks_update(webhook_delete_sql, id, 0, NULL);
		return;
	}
	HMAC(EVP_sha256(), w->secret, (int)strlen(w->secret),
	    (const unsigned char *)body, strlen(body), mac, &maclen);
	for (i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	hex[2 * maclen] = '\0';
	h_event = xasprintf("X-Kefu-Event: %s", event);
	h_id = xasprintf("X-Kefu-Delivery: %" PRId64, id);
	h_sig = xasprintf("X-Kefu-Signature: sha256=%s", hex);
	headers[0] = "Content-Type: application/json";
	headers[1] = h_event;
	headers[2] = h_id;
	headers[3] = h_sig;
	headers[4] = NULL;
	ws = xcalloc(1, sizeof *ws);
	ws->id = id;
	ws->attempts = attempts;
	ws->url = xstrdup(url);
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = w->timeout_ms;
	req.max_response = 64 * 1024;
	ws->next = webhook_in_flight;
	webhook_in_flight = ws;
	if (httpc_request(kefu->httpc, &req, webhooks_done, ws,
	    &cause) == NULL) {
		log_warnx("webhooks", "msg=\"request not started\" error=%s",
		    logq(cause));
		free(cause);
		webhooks_unlink(ws);
	}
	free(h_event);
	free(h_id);
	free(h_sig);
}

/* Arm the timer for the next due row. */
static void
webhooks_arm(void)
{
	sqlite3_stmt	*st;
	int64_t		 due = -1, wait;

	if (!webhook_started || kefu->draining)
		return;
	if ((st = store_cached(kefu->store, webhook_next_sql)) == NULL)
		return;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		due = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (due < 0) {
		uv_timer_stop(&webhook_timer);
		return;
	}
	wait = due - now_ms();
	if (wait < 0)
		wait = webhook_in_flight != NULL ? 1000 : 0;
	uv_timer_start(&webhook_timer, webhooks_run, (uint64_t)wait, 0);
}

/* Send what is due. */
static void
webhooks_run(uv_timer_t *t)
{
	sqlite3_stmt	*st;
	struct {
		int64_t	 id;
		char	*url, *event, *body;
		int	 attempts;
	}		 rows[WEBHOOK_BATCH];
	size_t		 n = 0, i;

	(void)t;
	if (kefu->draining || store_in_transaction(kefu->store))
		goto out;
	if ((st = store_cached(kefu->store, webhook_due_sql)) == NULL)
		goto out;
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_int(st, 2, WEBHOOK_BATCH);
	while (n < WEBHOOK_BATCH && sqlite3_step(st) == SQLITE_ROW) {
		rows[n].id = sqlite3_column_int64(st, 0);
		rows[n].url = xstrdup((const char *)sqlite3_column_text(st, 1));
		rows[n].event = xstrdup((const char *)sqlite3_column_text(st,
		    2));
		rows[n].body = xstrdup((const char *)sqlite3_column_text(st,
		    3));
		rows[n].attempts = sqlite3_column_int(st, 4);
		n++;
	}
	sqlite3_reset(st);
	for (i = 0; i < n; i++) {
		webhooks_send(rows[i].id, rows[i].url, rows[i].event,
		    rows[i].body, rows[i].attempts);
		free(rows[i].url);
		free(rows[i].event);
		free(rows[i].body);
	}
out:
	webhooks_arm();
}

/* Look at the outbox soon. */
void
webhooks_kick(void)
{
	if (!webhook_started || kefu->draining || kefu->cfg->webhooks.n == 0)
		return;
	if (!uv_is_active((uv_handle_t *)&webhook_timer) ||
	    uv_timer_get_due_in(&webhook_timer) > 0)
		uv_timer_start(&webhook_timer, webhooks_run, 0, 0);
}

/* Start the sender. */
void
webhooks_init(void)
{
	uv_timer_init(kefu->loop, &webhook_timer);
	webhook_started = 1;
	webhooks_kick();
}

/* Stop the sender; what is in flight stays in the outbox. */
void
webhooks_shutdown(void)
{
	struct webhook_send	*ws;

	if (!webhook_started)
		return;
	uv_timer_stop(&webhook_timer);
	uv_close((uv_handle_t *)&webhook_timer, NULL);
	while ((ws = webhook_in_flight) != NULL) {
		webhook_in_flight = ws->next;
		free(ws->url);
		free(ws);
	}
	webhook_started = 0;
}
