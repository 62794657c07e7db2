/*
 * The Telegram channel: one instance per bot in channels.telegram
 * (docs/telegram.md).  The wire format is channels/telegram_wire.c; this
 * file does the I/O, all of it through the asynchronous HTTP client.
 *
 * Inbound.  At start the bot asks getMe who it is (its id and username
 * decide whether a group message is addressed to it).  In poll mode it
 * then long-polls getUpdates; every update of a batch goes to the
 * pipeline, and the next getUpdates, whose offset confirms the batch to
 * Telegram, is sent only once all of them are committed.  A crash before
 * that re-reads the batch, and the store drops what it already has: a
 * message's de-duplication key is its chat and message id, a button
 * press's its callback query id.  In webhook mode Telegram POSTs each
 * update to /telegram/NAME; the request must carry the configured secret
 * (compared in constant time) and is answered 200 only after the commit,
 * so Telegram re-sends whatever kefu did not take.
 *
 * Outbound.  Delivery hands over committed messages; each becomes a job on
 * the bot's queue: its text split into parts of at most 4,096 characters,
 * then its attachments.  A dispatcher sends the jobs' pieces in order
 * within each chat, never faster than rate_per_sec for the whole bot
 * (a token bucket) nor than one message per chat_interval to a private
 * chat or group_per_minute to a group.  Waiting jobs stay in the outbox.
 * A 429 pauses the whole bot for retry_after and resends the same piece;
 * 5xx and network errors end the attempt as a temporary failure (the
 * delivery scheduler backs off; the parts already sent are remembered so
 * that the retry does not repeat them); 403 marks the contact unreachable
 * and fails the message; other 4xx fail it with Telegram's description.
 * A group that became a supergroup is moved to its new id and the piece
 * is resent there.
 *
 * The token is part of every request URL; it is never logged (httpc logs
 * only the host) and never part of a path kefu serves.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>

#include "channel.h"
#include "config.h"
#include "httpc.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "server.h"
#include "store.h"
#include "telegram.h"
#include "xmalloc.h"

#define TG_BACKOFF_MIN		1000	/* ms, first retry of a failed poll */
#define TG_BACKOFF_MAX		60000
#define TG_CONFLICT_WAIT	30000	/* ms between getUpdates after a 409 */
#define TG_AUTH_WAIT		60000	/* ms between tries with a bad token */
#define TG_CHAT_BUCKETS		1024
#define TG_PROGRESS_MAX		1024
#define TG_SECRET_MAX		256
#define TG_RESPONSE_MAX		(8 * 1024 * 1024)

struct tg;

/* One outbound message being sent, piece by piece. */
struct tg_job {
	struct tg		*tg;
	struct delivery		*d;
	int64_t			 message_id;
	int64_t			 contact_id;
	int64_t			 chat_id;
	char			*chat;		/* chat id as stored */
	int			 group;
	char			**parts;
	size_t			 nparts;
	struct attachment	*atts;
	size_t			 natts;
	struct button		*buttons;
	size_t			 nbuttons;
	size_t			 next;		/* next piece: parts, then atts */
	char			*remote_id;	/* of the last piece sent */
	struct httpc_xfer	*xfer;		/* a piece in flight */
	TAILQ_ENTRY(tg_job)	 entry;
};
TAILQ_HEAD(tg_jobs, tg_job);

/* When a chat may next be sent to. */
struct tg_chat {
	int64_t			 id;
	int64_t			 next_at;	/* ms */
	struct tg_chat		*next;
};

/* Pieces of a message already sent, kept across a temporary failure. */
struct tg_progress {
	int64_t			 message_id;
	size_t			 next;
	char			*remote_id;
};

/* A batch of polled updates waiting for their commit. */
struct tg_batch {
	struct tg		*tg;
	size_t			 pending;
	int			 failed;
	int64_t			 next_offset;
};

/* What one update's processing reports to when it is committed. */
struct tg_done {
	struct tg		*tg;
	struct tg_batch		*batch;		/* poll mode, or */
	struct http_request	*req;		/* webhook mode */
	char			*callback_id;	/* to answer after the commit */
};

/* One bot. */
struct tg {
	struct channel		*ch;
	struct config_telegram	*cfg;
	int			 webhook;
	int			 stopped;

	int			 ready;		/* getMe answered */
	int64_t			 bot_id;
	char			*bot_username;
	struct httpc_xfer	*me_xfer;

	int64_t			 offset;	/* next getUpdates offset */
	struct httpc_xfer	*poll_xfer;
	struct tg_batch		*batch;		/* in the pipeline */
	int64_t			 poll_backoff;	/* ms */
	int			 conflict_logged;
	uv_timer_t		 poll_timer;

	struct tg_jobs		 jobs;
	size_t			 in_flight;
	double			 tokens;	/* the bot's token bucket */
	int64_t			 tokens_at;	/* ms of the last refill */
	int64_t			 paused_until;	/* after a 429, ms */
	int64_t			 expired_at;	/* chats last swept, ms */
	uv_timer_t		 send_timer;
	struct tg_chat		*chats[TG_CHAT_BUCKETS];
	struct tg_progress	 progress[TG_PROGRESS_MAX];
	size_t			 nprogress;

	char			 labels[96];	/* bot="NAME" */
};

static void	tg_poll(struct tg *);
static void	tg_poll_after(struct tg *, int64_t);
static void	tg_dispatch(struct tg *);
static void	tg_answered(void *, const struct httpc_response *);
static void	tg_webhook(struct http_request *, void *);


static struct tg	**tg_bots;
static size_t		  tg_nbots;
static int		  tg_route_added;
static int		  tg_orphans_logged;	/* queued for no bot: said */

/* The request URL of a method; it holds the token: never log it. */
static char *
tg_url(struct tg *tg, const char *method)
{
	return (xasprintf("%s/bot%s/%s", tg->cfg->api_base, tg->cfg->token,
	    method));
}

/* POST a JSON body to a method. */
static struct httpc_xfer *
tg_call(struct tg *tg, const char *method, const char *body, long timeout_ms,
    httpc_cb cb, void *arg)
{
	static const char *const headers[] = {
		"Content-Type: application/json", NULL
	};
	struct httpc_request	 req;
	struct httpc_xfer	*x;
	char			*url, *cause = NULL;

	url = tg_url(tg, method);
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = timeout_ms > 0 ? timeout_ms : tg->cfg->timeout_ms;
	req.max_response = TG_RESPONSE_MAX;
	x = httpc_request(kefu->httpc, &req, cb, arg, &cause);
	free(url);
	if (x == NULL) {
		log_warnx("telegram", "msg=\"request not started\" bot=%s "
		    "method=%s error=%s", tg->cfg->name, method, logq(cause));
		free(cause);
	}
	return (x);
}

/* Count an API error by method and code. */
static void
tg_count_error(struct tg *tg, const char *method, int code)
{
	char	labels[192];

	snprintf(labels, sizeof labels, "%s,method=\"%s\",code=\"%d\"",
	    tg->labels, method, code);
	metrics_inc("kefu_telegram_api_errors_total", labels);
}

/*
 * Read a response into r.  A transport failure (no HTTP status) is
 * error_code 0 with the curl text as its description.
 */
static void
tg_read_response(const struct httpc_response *res, struct tg_response *r)
{
	char	*cause = NULL;

	memset(r, 0, sizeof *r);
	if (res->status == 0) {
		r->description = xstrdup(res->error_text != NULL ?
		    res->error_text : "no response");
		return;
	}
	if (tg_response_parse(res->body, res->body_len, res->status, r,
	    &cause) != 0) {
		memset(r, 0, sizeof *r);
		r->error_code = (int)res->status;
		r->description = cause;
	}
}

/* --- chats and rate limits ------------------------------------------- */

/* The rate state of a chat, created on first use. */
static struct tg_chat *
tg_chat(struct tg *tg, int64_t id)
{
	struct tg_chat	*c;
	size_t		 b = (size_t)((uint64_t)id % TG_CHAT_BUCKETS);

	for (c = tg->chats[b]; c != NULL; c = c->next) {
		if (c->id == id)
			return (c);
	}
	c = xcalloc(1, sizeof *c);
	c->id = id;
	c->next = tg->chats[b];
	tg->chats[b] = c;
	return (c);
}

/* Forget chats that could be sent to anyway (keeps the table small). */
static void
tg_chats_expire(struct tg *tg, int64_t now)
{
	struct tg_chat	**pp, *c;
	size_t		  b;

	for (b = 0; b < TG_CHAT_BUCKETS; b++) {
		pp = &tg->chats[b];
		while ((c = *pp) != NULL) {
			if (c->next_at < now - 60000) {
				*pp = c->next;
				free(c);
			} else
				pp = &c->next;
		}
	}
}

/* The least time between two messages to a chat, ms. */
static int64_t
tg_chat_interval(struct tg *tg, int group)
{
	int64_t	iv = tg->cfg->chat_interval;

	if (group && 60000 / tg->cfg->group_per_minute > iv)
		iv = 60000 / tg->cfg->group_per_minute;
	return (iv);
}

/* Refill the bot's token bucket. */
static void
tg_refill(struct tg *tg, int64_t now)
{
	double	rate = tg->cfg->rate_per_sec;

	if (tg->tokens_at == 0) {
		tg->tokens = rate;
		tg->tokens_at = now;
		return;
	}
	tg->tokens += (double)(now - tg->tokens_at) * rate / 1000.0;
	if (tg->tokens > rate)
		tg->tokens = rate;
	tg->tokens_at = now;
}

/* --- progress across temporary failures ------------------------------ */

/* The progress kept for a message, or NULL. */
static struct tg_progress *
tg_progress_find(struct tg *tg, int64_t message_id)
{
	size_t	i;

	for (i = 0; i < tg->nprogress; i++) {
		if (tg->progress[i].message_id == message_id)
			return (&tg->progress[i]);
	}
	return (NULL);
}

/* Forget a message's progress. */
static void
tg_progress_drop(struct tg *tg, int64_t message_id)
{
	struct tg_progress	*p;

	if ((p = tg_progress_find(tg, message_id)) == NULL)
		return;
	free(p->remote_id);
	*p = tg->progress[--tg->nprogress];
}

/* Remember how far a message got (the oldest entry makes room). */
static void
tg_progress_keep(struct tg *tg, const struct tg_job *job)
{
	struct tg_progress	*p;

	if (job->next == 0)
		return;
	if ((p = tg_progress_find(tg, job->message_id)) == NULL) {
		if (tg->nprogress == TG_PROGRESS_MAX) {
			free(tg->progress[0].remote_id);
			memmove(&tg->progress[0], &tg->progress[1],
			    (TG_PROGRESS_MAX - 1) * sizeof tg->progress[0]);
			tg->nprogress--;
		}
		p = &tg->progress[tg->nprogress++];
		p->message_id = job->message_id;
		p->remote_id = NULL;
	}
	p->next = job->next;
	free(p->remote_id);
	p->remote_id = job->remote_id != NULL ? xstrdup(job->remote_id) :
	    NULL;
}

/* --- sending ------------------------------------------------------------ */

/* Free a job (its delivery must be finished or forgotten). */
static void
tg_job_free(struct tg_job *job)
{
	size_t	i;

	if (job->xfer != NULL)
		httpc_cancel(job->xfer);
	for (i = 0; i < job->nparts; i++)
		free(job->parts[i]);
	free(job->parts);
	for (i = 0; i < job->natts; i++) {
		free(job->atts[i].type);
		free(job->atts[i].url);
		free(job->atts[i].name);
		free(job->atts[i].mime);
	}
	free(job->atts);
	for (i = 0; i < job->nbuttons; i++) {
		free(job->buttons[i].title);
		free(job->buttons[i].value);
	}
	free(job->buttons);
	free(job->chat);
	free(job->remote_id);
	free(job);
}

/* End a job's delivery attempt and drop the job. */
static void
tg_job_finish(struct tg_job *job, enum delivery_result result,
    int64_t retry_ms, const char *reason)
{
	struct tg	*tg = job->tg;
	struct delivery	*d = job->d;
	char		*remote = NULL;

	TAILQ_REMOVE(&tg->jobs, job, entry);
	if (result == DELIVERY_TEMPFAIL)
		tg_progress_keep(tg, job);
	else
		tg_progress_drop(tg, job->message_id);
	if (job->remote_id != NULL)
		remote = xstrdup(job->remote_id);
	tg_job_free(job);
	delivery_done(d, result, retry_ms, reason, remote);
	free(remote);
}

/* The Telegram message_id in a sendMessage result, as text; or NULL. */
static char *
tg_result_message_id(const struct tg_response *r)
{
	struct json_object	*id;

	if (r->result == NULL ||
	    !json_object_object_get_ex(r->result, "message_id", &id))
		return (NULL);
	return (xasprintf("%" PRId64, json_object_get_int64(id)));
}

/* A chat moved to a supergroup: move the conversation, resend there. */
static void
tg_migrate(struct tg_job *job, int64_t to)
{
	struct tg	*tg = job->tg;
	struct tg_job	*j;
	char		*from = job->chat, *tostr;

	tostr = xasprintf("%" PRId64, to);
	log_info("telegram", "msg=\"group upgraded to a supergroup, moving "
	    "the conversation\" bot=%s chat=%s new_chat=%s", tg->cfg->name,
	    from, tostr);
	if (store_conversation_move(kefu->store, "telegram", tg->cfg->name,
	    from, tostr) != 0)
		log_warnx("telegram", "msg=\"could not move the conversation\" "
		    "bot=%s chat=%s", tg->cfg->name, from);
	TAILQ_FOREACH(j, &tg->jobs, entry) {
		if (j != job && strcmp(j->chat, from) == 0) {
			free(j->chat);
			j->chat = xstrdup(tostr);
			j->chat_id = to;
		}
	}
	job->chat = tostr;
	job->chat_id = to;
	free(from);
}

/* A piece's response. */
static void
tg_sent(void *arg, const struct httpc_response *res)
{
	struct tg_job		*job = arg;
	struct tg		*tg = job->tg;
	struct tg_response	 r;
	char			*reason;
	const char		*method;
	int64_t			 now = now_ms(), wait;

	job->xfer = NULL;
	tg->in_flight--;
	method = job->next < job->nparts ? "sendMessage" : "sendAttachment";
	tg_read_response(res, &r);
	if (r.ok) {
		free(job->remote_id);
		job->remote_id = tg_result_message_id(&r);
		job->next++;
		if (job->next >= job->nparts + job->natts)
			tg_job_finish(job, DELIVERY_OK, 0, NULL);
		goto out;
	}

	tg_count_error(tg, method, r.error_code);
	reason = xasprintf("telegram %d: %s", r.error_code,
	    r.description != NULL ? r.description : "no description");
	if (r.error_code == 429) {
		wait = r.retry_after > 0 ? r.retry_after * 1000 : 1000;
		if (tg->paused_until < now + wait)
			tg->paused_until = now + wait;
		log_warnx("telegram", "msg=\"rate limited by Telegram, "
		    "pausing\" bot=%s retry_after_ms=%" PRId64, tg->cfg->name,
		    wait);
	} else if (r.error_code == 400 && r.migrate_to_chat_id != 0) {
		tg_migrate(job, r.migrate_to_chat_id);
	} else if (r.error_code == 403) {
		if (job->chat_id > 0 && store_contact_set_unreachable(
		    kefu->store, job->contact_id, r.description != NULL ?
		    r.description : "forbidden") != 0)
			log_warnx("telegram", "msg=\"could not mark the contact "
			    "unreachable\" bot=%s contact=%" PRId64,
			    tg->cfg->name, job->contact_id);
		tg_job_finish(job, DELIVERY_PERMFAIL, 0, reason);
	} else if (r.error_code >= 400 && r.error_code < 500 &&
	    r.error_code != 401 && r.error_code != 404 &&
	    r.error_code != 409) {
		tg_job_finish(job, DELIVERY_PERMFAIL, 0, reason);
	} else {
		/* 5xx, 401/404 (token), transport: the scheduler retries. */
		free(reason);
		reason = r.error_code == 0 ?
		    xasprintf("network: %s", r.description != NULL ?
		    r.description : "no response") :
		    xasprintf("telegram %d: %s", r.error_code,
		    r.description != NULL ? r.description : "no description");
		tg_job_finish(job, DELIVERY_TEMPFAIL,
		    r.retry_after > 0 ? r.retry_after * 1000 : 0, reason);
	}
	free(reason);
out:
	tg_response_clear(&r);
	tg_dispatch(tg);
}

/* Send a job's next piece. */
static int
tg_send_piece(struct tg_job *job)
{
	struct tg	*tg = job->tg;
	const char	*method, *pm = tg->cfg->parse_mode;
	char		*body, *text;
	size_t		 i;
	int		 last;

	i = job->next;
	if (i < job->nparts) {
		last = i + 1 == job->nparts;
		text = *pm != '\0' ? tg_escape(job->parts[i], pm) :
		    xstrdup(job->parts[i]);
		body = tg_send_message_body(job->chat_id, text,
		    *pm != '\0' ? pm : NULL, last ? job->buttons : NULL,
		    last ? job->nbuttons : 0);
		free(text);
		method = "sendMessage";
	} else {
		body = tg_send_attachment_body(job->chat_id,
		    &job->atts[i - job->nparts], &method);
	}
	job->xfer = tg_call(tg, method, body, 0, tg_sent, job);
	free(body);
	if (job->xfer == NULL)
		return (-1);
	tg->in_flight++;
	return (0);
}

/* The dispatcher's timer. */
static void
tg_send_timer_cb(uv_timer_t *t)
{
	tg_dispatch(t->data);
}

/* Run the dispatcher in ms, unless it runs sooner already. */
static void
tg_dispatch_later(struct tg *tg, int64_t ms)
{
	if (tg->stopped)
		return;
	if (ms < 1)
		ms = 1;
	if (uv_is_active((uv_handle_t *)&tg->send_timer) &&
	    (int64_t)uv_timer_get_due_in(&tg->send_timer) <= ms)
		return;
	uv_timer_start(&tg->send_timer, tg_send_timer_cb, (uint64_t)ms, 0);
}

/*
 * Send what may be sent now: for each chat its first job, if the chat's
 * interval has passed, while the bot has tokens and is not paused.
 */
static void
tg_dispatch(struct tg *tg)
{
	struct tg_job	*job, *next, *prev;
	struct tg_chat	*c;
	int64_t		 now = now_ms(), wait = -1, w;
	int		 blocked;

	/* Until getMe answers, jobs wait in the queue. */
	if (tg->stopped || !tg->ready)
		return;
	if (tg->paused_until > now) {
		tg_dispatch_later(tg, tg->paused_until - now);
		return;
	}
	tg_refill(tg, now);
	if (now - tg->expired_at > 60000) {
		tg_chats_expire(tg, now);
		tg->expired_at = now;
	}
	for (job = TAILQ_FIRST(&tg->jobs); job != NULL; job = next) {
		next = TAILQ_NEXT(job, entry);
		if (job->xfer != NULL)
			continue;
		/* Only the first job of a chat: a chat's order is kept. */
		blocked = 0;
		for (prev = TAILQ_FIRST(&tg->jobs); prev != job;
		    prev = TAILQ_NEXT(prev, entry)) {
			if (prev->chat_id == job->chat_id) {
				blocked = 1;
				break;
			}
		}
		if (blocked)
			continue;
		c = tg_chat(tg, job->chat_id);
		if (c->next_at > now) {
			w = c->next_at - now;
			if (wait == -1 || w < wait)
				wait = w;
			continue;
		}
		if (tg->tokens < 1.0) {
			w = (int64_t)((1.0 - tg->tokens) * 1000.0 /
			    tg->cfg->rate_per_sec) + 1;
			if (wait == -1 || w < wait)
				wait = w;
			break;
		}
		tg->tokens -= 1.0;
		c->next_at = now + tg_chat_interval(tg, job->group);
		if (tg_send_piece(job) != 0)
			tg_job_finish(job, DELIVERY_TEMPFAIL, 0,
			    "request not started");
	}
	if (wait >= 0)
		tg_dispatch_later(tg, wait);
}

/* Delivery hands over a committed message. */
static void
tg_send(struct channel *ch, const struct message *m, struct delivery *d)
{
	struct tg		*tg = ch->data;
	struct tg_job		*job;
	struct tg_progress	*p;
	struct contact		 ct;
	int64_t			 chat_id;
	size_t			 i;
	int			 r;

	if (m->conv_external == NULL ||
	    tg_parse_id(m->conv_external, &chat_id) != 0) {
		delivery_done(d, DELIVERY_PERMFAIL, 0, "no Telegram chat id",
		    NULL);
		return;
	}
	memset(&ct, 0, sizeof ct);
	r = store_contact_get(kefu->store, m->contact_id, &ct);
	if (r == 1 && ct.unreachable != NULL && chat_id > 0) {
		contact_clear(&ct);
		delivery_done(d, DELIVERY_PERMFAIL, 0,
		    "the customer blocked the bot", NULL);
		return;
	}
	if (r == 1)
		contact_clear(&ct);
	if ((m->text == NULL || *m->text == '\0') && m->nattachments == 0) {
		delivery_done(d, DELIVERY_PERMFAIL, 0, "nothing to send", NULL);
		return;
	}

	job = xcalloc(1, sizeof *job);
	job->tg = tg;
	job->d = d;
	job->message_id = m->id;
	job->contact_id = m->contact_id;
	job->chat_id = chat_id;
	job->chat = xstrdup(m->conv_external);
	job->group = chat_id < 0;
	if (m->text != NULL && *m->text != '\0')
		job->nparts = tg_split_text(m->text, TG_TEXT_MAX, &job->parts);
	if (m->nattachments > 0) {
		job->atts = xcalloc(m->nattachments, sizeof *job->atts);
		for (i = 0; i < m->nattachments; i++) {
			job->atts[i].type = xstrdup(m->attachments[i].type);
			job->atts[i].url = m->attachments[i].url != NULL ?
			    xstrdup(m->attachments[i].url) : NULL;
			job->atts[i].name = m->attachments[i].name != NULL ?
			    xstrdup(m->attachments[i].name) : NULL;
			job->atts[i].mime = m->attachments[i].mime != NULL ?
			    xstrdup(m->attachments[i].mime) : NULL;
			job->atts[i].size = m->attachments[i].size;
		}
		job->natts = m->nattachments;
	}
	if (m->nbuttons > 0) {
		job->buttons = xcalloc(m->nbuttons, sizeof *job->buttons);
		for (i = 0; i < m->nbuttons; i++) {
			job->buttons[i].title = xstrdup(m->buttons[i].title);
			job->buttons[i].value = xstrdup(m->buttons[i].value);
		}
		job->nbuttons = m->nbuttons;
	}
	if ((p = tg_progress_find(tg, m->id)) != NULL &&
	    p->next < job->nparts + job->natts) {
		job->next = p->next;
		job->remote_id = p->remote_id != NULL ?
		    xstrdup(p->remote_id) : NULL;
	}
	TAILQ_INSERT_TAIL(&tg->jobs, job, entry);
	tg_dispatch(tg);
}

/* --- inbound ------------------------------------------------------------ */

/* One update is taken (committed, or skipped): report it. */
static void
tg_update_done(struct tg_done *dn, enum pipeline_status st)
{
	struct tg	*tg = dn->tg;
	struct tg_batch	*b = dn->batch;
	char		*body;
	int		 taken;

	taken = st != PIPELINE_FAILED && st != PIPELINE_BUSY;
	if (taken && dn->callback_id != NULL && !tg->stopped) {
		body = tg_answer_callback_body(dn->callback_id);
		tg_call(tg, "answerCallbackQuery", body, 0, tg_answered, tg);
		free(body);
	}
	if (dn->req != NULL) {
		if (taken)
			http_respond(dn->req, HTTP_STATUS_OK, NULL, NULL, 0);
		else if (st == PIPELINE_BUSY) {
			http_add_header(dn->req, "retry-after:", "5");
			http_respond_error(dn->req,
			    HTTP_STATUS_SERVICE_UNAVAILABLE, "busy",
			    "too many updates wait; send it again later");
		} else
			http_respond_error(dn->req,
			    HTTP_STATUS_INTERNAL_SERVER_ERROR, "store_failed",
			    "the update was not stored; send it again");
	}
	if (b != NULL) {
		if (!taken)
			b->failed = 1;
		if (--b->pending == 0) {
			if (b->tg != NULL) {
				b->tg->batch = NULL;
				if (!b->failed)
					b->tg->offset = b->next_offset;
				tg_poll_after(b->tg, b->failed ? 2000 : 0);
			}
			free(b);
		}
	}
	free(dn->callback_id);
	free(dn);
}

/* answerCallbackQuery's response: only failures matter, and only a log. */
static void
tg_answered(void *arg, const struct httpc_response *res)
{
	struct tg		*tg = arg;
	struct tg_response	 r;

	tg_read_response(res, &r);
	if (!r.ok) {
		tg_count_error(tg, "answerCallbackQuery", r.error_code);
		log_warnx("telegram", "msg=\"answerCallbackQuery failed\" "
		    "bot=%s code=%d description=%s", tg->cfg->name,
		    r.error_code, logq(r.description));
	}
	tg_response_clear(&r);
}

/* The pipeline's acknowledgement of an update: queued, or its message. */
static void
tg_ack(void *arg, enum pipeline_status st, const struct message *m)
{
	(void)m;
	tg_update_done(arg, st);
}

/* After-commit report of an update handled without the pipeline. */
static void
tg_after_commit(void *arg)
{
	tg_update_done(arg, PIPELINE_STORED);
}

/* A private chat's my_chat_member: the customer blocked or unblocked. */
static void
tg_member(struct tg *tg, const struct tg_update *u)
{
	char	*who;
	int64_t	 contact_id;
	int	 blocked;

	if (u->chat_type == NULL || strcmp(u->chat_type, "private") != 0 ||
	    u->member_status == NULL) {
		log_info("telegram", "msg=\"membership changed\" bot=%s "
		    "chat=%" PRId64 " status=%s", tg->cfg->name, u->chat_id,
		    logq(u->member_status));
		return;
	}
	if (strcmp(u->member_status, "kicked") == 0)
		blocked = 1;
	else if (strcmp(u->member_status, "member") == 0)
		blocked = 0;
	else
		return;
	who = xasprintf("%" PRId64, u->from_id != 0 ? u->from_id : u->chat_id);
	if (store_begin(kefu->store) != 0 ||
	    store_contact_ensure(kefu->store, "telegram", tg->cfg->name, who,
	    u->from_name, now_ms(), &contact_id) != 0 ||
	    store_contact_set_unreachable(kefu->store, contact_id,
	    blocked ? "blocked the bot" : NULL) != 0)
		log_warnx("telegram", "msg=\"could not record a block\" "
		    "bot=%s", tg->cfg->name);
	else
		log_info("telegram", "msg=\"%s\" bot=%s contact=%" PRId64,
		    blocked ? "customer blocked the bot" :
		    "customer unblocked the bot", tg->cfg->name, contact_id);
	free(who);
}

/*
 * The value of a pressed button: the callback data, or for "#N" the N-th
 * button's value of the message it was pressed on.  Sets *title to the
 * button's title when the message is found.  Caller frees both.
 */
static char *
tg_button_value(struct tg *tg, const struct tg_update *u, char **title)
{
	struct message	 m;
	char		 chat[24], remote[24], *end, *value = NULL;
	long		 n;
	size_t		 i;

	*title = NULL;
	if (u->callback_data == NULL)
		return (NULL);
	snprintf(chat, sizeof chat, "%" PRId64, u->chat_id);
	snprintf(remote, sizeof remote, "%" PRId64, u->message_id);
	memset(&m, 0, sizeof m);
	if (u->message_id == 0 || store_message_find_remote(kefu->store,
	    "telegram", tg->cfg->name, chat, remote, &m) != 1) {
		if (u->callback_data[0] == '#')
			return (NULL);
		return (xstrdup(u->callback_data));
	}
	if (u->callback_data[0] == '#') {
		n = strtol(u->callback_data + 1, &end, 10);
		if (*end == '\0' && n >= 0 && (size_t)n < m.nbuttons) {
			value = xstrdup(m.buttons[n].value);
			*title = xstrdup(m.buttons[n].title);
		}
	} else {
		value = xstrdup(u->callback_data);
		for (i = 0; i < m.nbuttons; i++) {
			if (strcmp(m.buttons[i].value, value) == 0) {
				*title = xstrdup(m.buttons[i].title);
				break;
			}
		}
	}
	message_clear(&m);
	return (value);
}

/* Whether a message in a chat is for the bot to answer. */
static int
tg_addressed(struct tg *tg, const struct tg_update *u)
{
	if (u->from_is_bot || u->chat_type == NULL)
		return (0);
	if (strcmp(u->chat_type, "private") == 0)
		return (1);
	if (strcmp(u->chat_type, "group") != 0 &&
	    strcmp(u->chat_type, "supergroup") != 0)
		return (0);		/* channels */
	if (!tg->cfg->groups)
		return (0);
	return (u->kind == TG_UPDATE_CALLBACK || u->mentions_bot ||
	    u->replies_to_bot);
}

/*
 * The text of a group message without the bot's own @username (which
 * says who is asked, not what), trimmed.  Caller frees.
 */
static char *
tg_strip_mention(const char *text, const char *username)
{
	char	*out, *p;
	size_t	 ulen, i, o = 0, len = strlen(text);

	out = xmalloc(len + 1);
	ulen = username != NULL ? strlen(username) : 0;
	for (i = 0; i < len; ) {
		if (ulen > 0 && text[i] == '@' && i + 1 + ulen <= len &&
		    strncasecmp(text + i + 1, username, ulen) == 0 &&
		    (i + 1 + ulen == len || (!isalnum((unsigned char)
		    text[i + 1 + ulen]) && text[i + 1 + ulen] != '_'))) {
			i += 1 + ulen;
			continue;
		}
		out[o++] = text[i++];
	}
	out[o] = '\0';
	for (p = out; *p == ' ' || *p == ','; p++)
		;
	memmove(out, p, strlen(p) + 1);
	o = strlen(out);
	while (o > 0 && out[o - 1] == ' ')
		out[--o] = '\0';
	return (out);
}

/*
 * Take one update.  dn is reported to exactly once, after the commit
 * (or at once for an update that is skipped).
 */
static void
tg_take(struct tg *tg, struct tg_update *u, char *raw, struct tg_done *dn)
{
	struct message	 m;
	char		 labels[160], *title = NULL;

	snprintf(labels, sizeof labels, "%s,type=\"%s\"", tg->labels,
	    u->type != NULL ? u->type : "unknown");
	metrics_inc("kefu_telegram_updates_total", labels);

	switch (u->kind) {
	case TG_UPDATE_MESSAGE:
	case TG_UPDATE_EDITED:
	case TG_UPDATE_CALLBACK:
		break;
	case TG_UPDATE_MEMBER:
		tg_member(tg, u);
		pipeline_after_commit(tg_after_commit, dn);
		return;
	case TG_UPDATE_MIGRATE:
		{
			char	*from, *to;

			from = xasprintf("%" PRId64, u->chat_id);
			to = xasprintf("%" PRId64, u->migrate_to_chat_id);
			if (store_conversation_move(kefu->store, "telegram",
			    tg->cfg->name, from, to) != 0)
				log_warnx("telegram", "msg=\"could not move "
				    "the conversation\" bot=%s", tg->cfg->name);
			free(from);
			free(to);
		}
		pipeline_after_commit(tg_after_commit, dn);
		return;
	case TG_UPDATE_IGNORED:
		log_debug("telegram", "msg=\"update ignored\" bot=%s "
		    "update=%" PRId64 " type=%s", tg->cfg->name, u->update_id,
		    logq(u->type));
		pipeline_after_commit(tg_after_commit, dn);
		return;
	case TG_UPDATE_UNKNOWN:
		log_info("telegram", "msg=\"update type not handled, "
		    "skipped\" bot=%s update=%" PRId64 " type=%s",
		    tg->cfg->name, u->update_id, logq(u->type));
		pipeline_after_commit(tg_after_commit, dn);
		return;
	}

	if (!tg_addressed(tg, u)) {
		log_debug("telegram", "msg=\"not addressed to the bot, "
		    "skipped\" bot=%s update=%" PRId64 " chat_type=%s",
		    tg->cfg->name, u->update_id, logq(u->chat_type));
		if (u->kind == TG_UPDATE_CALLBACK) {
			dn->callback_id = u->callback_id;
			u->callback_id = NULL;
		}
		pipeline_after_commit(tg_after_commit, dn);
		return;
	}

	memset(&m, 0, sizeof m);
	m.channel = "telegram";
	m.account = tg->cfg->name;
	m.conv_external = xasprintf("%" PRId64, u->chat_id);
	m.sender_external = xasprintf("%" PRId64, u->from_id != 0 ?
	    u->from_id : u->chat_id);
	m.sender_name = u->from_name;
	m.channel_ts = u->date * 1000;
	m.raw = raw;
	switch (u->kind) {
	case TG_UPDATE_EDITED:
		m.external_id = xasprintf("%" PRId64 ":%" PRId64 ":edit:%"
		    PRId64, u->chat_id, u->message_id, u->edit_date);
		m.edit_of = xasprintf("%" PRId64 ":%" PRId64, u->chat_id,
		    u->message_id);
		m.text = u->text;
		m.attachments = u->attachments;
		m.nattachments = u->nattachments;
		break;
	case TG_UPDATE_CALLBACK:
		m.external_id = xasprintf("cb:%s", u->callback_id != NULL ?
		    u->callback_id : "");
		m.value = tg_button_value(tg, u, &title);
		m.text = title;
		dn->callback_id = u->callback_id;
		u->callback_id = NULL;
		if (m.value == NULL) {
			log_info("telegram", "msg=\"button press for an "
			    "unknown button, skipped\" bot=%s update=%" PRId64,
			    tg->cfg->name, u->update_id);
			free(m.conv_external);
			free(m.sender_external);
			free(m.external_id);
			pipeline_after_commit(tg_after_commit, dn);
			return;
		}
		break;
	default:
		m.external_id = xasprintf("%" PRId64 ":%" PRId64, u->chat_id,
		    u->message_id);
		m.text = u->text;
		if (u->text != NULL && u->chat_type != NULL &&
		    strcmp(u->chat_type, "private") != 0) {
			title = tg_strip_mention(u->text, tg->bot_username);
			m.text = title;
		}
		m.attachments = u->attachments;
		m.nattachments = u->nattachments;
		break;
	}
	pipeline_inbound(&m, tg_ack, dn);
	free(m.conv_external);
	free(m.sender_external);
	free(m.external_id);
	free(m.edit_of);
	free(m.value);
	free(title);
}

/*
 * Store an update in the inbound queue under its update_id; dn hears
 * after the commit.  It is read and taken later, by tg_dequeue.
 */
static void
tg_enqueue(struct tg *tg, int64_t update_id, const char *body, size_t len,
    struct tg_done *dn)
{
	char	key[24];

	snprintf(key, sizeof key, "%" PRId64, update_id);
	pipeline_enqueue("telegram", tg->cfg->name, key, body, len, tg_ack,
	    dn);
}

/* A bot by name, or NULL. */
static struct tg *
tg_find(const char *name)
{
	size_t	i;

	for (i = 0; i < tg_nbots; i++) {
		if (!tg_bots[i]->stopped &&
		    strcmp(tg_bots[i]->cfg->name, name) == 0)
			return (tg_bots[i]);
	}
	return (NULL);
}

/*
 * Take a queued update, in the pipeline's transaction; deferred while its
 * bot has not started (getMe), or is not configured any more.
 */
static enum pipeline_take
tg_dequeue(const char *account, const char *body, size_t len)
{
	struct tg		*tg;
	struct tg_update	 u;
	struct tg_done		*dn;
	char			*cause = NULL, *raw;

	if ((tg = tg_find(account)) == NULL) {
		if (!tg_orphans_logged)
			log_warnx("telegram", "msg=\"updates wait in the queue "
			    "for a bot that is not configured\" bot=%s",
			    account);
		tg_orphans_logged = 1;
		return (PIPELINE_DEFER);
	}
	if (!tg->ready)
		return (PIPELINE_DEFER);
	if (tg_update_parse(body, len, &(struct tg_bot){ tg->bot_id,
	    tg->bot_username }, &u, &cause) != 0) {
		/* Unreadable: skipped, as Telegram would only resend it. */
		log_warnx("telegram", "msg=\"bad update skipped\" bot=%s "
		    "update=%" PRId64 " error=%s", tg->cfg->name, u.update_id,
		    logq(cause));
		tg_count_error(tg, "update", 0);
		tg_update_clear(&u);
		free(cause);
		return (PIPELINE_TAKEN);
	}
	raw = xstrndup(body, len);
	dn = xcalloc(1, sizeof *dn);
	dn->tg = tg;
	tg_take(tg, &u, raw, dn);
	free(raw);
	tg_update_clear(&u);
	return (PIPELINE_TAKEN);
}

/* --- poll mode ----------------------------------------------------------- */

/* The poll timer. */
static void
tg_poll_timer_cb(uv_timer_t *t)
{
	tg_poll(t->data);
}

/* Poll again in ms (0: on the next loop turn). */
static void
tg_poll_after(struct tg *tg, int64_t ms)
{
	if (tg->stopped || tg->webhook)
		return;
	uv_timer_start(&tg->poll_timer, tg_poll_timer_cb, (uint64_t)ms, 0);
}

/* A failed poll: wait longer each time, up to a minute. */
static void
tg_poll_backoff(struct tg *tg)
{
	if (tg->poll_backoff == 0)
		tg->poll_backoff = TG_BACKOFF_MIN;
	else if ((tg->poll_backoff *= 2) > TG_BACKOFF_MAX)
		tg->poll_backoff = TG_BACKOFF_MAX;
	tg_poll_after(tg, tg->poll_backoff);
}

/* getUpdates' response: take the batch, poll again once it is committed. */
static void
tg_polled(void *arg, const struct httpc_response *res)
{
	struct tg		*tg = arg;
	struct tg_response	 r;
	struct tg_batch		*b;
	struct tg_done		*dn;
	struct json_object	*item;
	const char		*raw;
	char			*cause = NULL;
	size_t			 i, n;
	int64_t			 wait, update_id;

	tg->poll_xfer = NULL;
	tg_read_response(res, &r);
	if (!r.ok) {
		tg_count_error(tg, "getUpdates", r.error_code);
		if (r.error_code == 409) {
			if (!tg->conflict_logged)
				log_errorx("telegram", "msg=\"getUpdates "
				    "refused: a webhook is set for this bot or "
				    "another program polls it; use kefuctl "
				    "telegram delete-webhook, or mode = "
				    "\\\"webhook\\\"\" bot=%s code=409 "
				    "description=%s", tg->cfg->name,
				    logq(r.description));
			tg->conflict_logged = 1;
			tg_poll_after(tg, TG_CONFLICT_WAIT);
		} else if (r.error_code == 401 || r.error_code == 404) {
			log_errorx("telegram", "msg=\"the bot token was "
			    "rejected\" bot=%s code=%d description=%s",
			    tg->cfg->name, r.error_code, logq(r.description));
			tg_poll_after(tg, TG_AUTH_WAIT);
		} else if (r.error_code == 429) {
			wait = r.retry_after > 0 ? r.retry_after * 1000 : 1000;
			tg_poll_after(tg, wait);
		} else {
			log_warnx("telegram", "msg=\"getUpdates failed\" bot=%s "
			    "code=%d description=%s", tg->cfg->name,
			    r.error_code, logq(r.description));
			tg_poll_backoff(tg);
		}
		tg_response_clear(&r);
		return;
	}
	tg->poll_backoff = 0;
	if (tg->conflict_logged) {
		log_info("telegram", "msg=\"getUpdates works again\" bot=%s",
		    tg->cfg->name);
		tg->conflict_logged = 0;
	}
	if (r.result == NULL || !json_object_is_type(r.result,
	    json_type_array)) {
		log_warnx("telegram", "msg=\"getUpdates result is not a "
		    "list\" bot=%s", tg->cfg->name);
		tg_response_clear(&r);
		tg_poll_backoff(tg);
		return;
	}
	n = json_object_array_length(r.result);
	if (n == 0) {
		tg_response_clear(&r);
		tg_poll_after(tg, 0);
		return;
	}

	b = xcalloc(1, sizeof *b);
	b->tg = tg;
	b->pending = 1;		/* held until every update is handed over */
	b->next_offset = tg->offset;
	tg->batch = b;
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(r.result, i);
		raw = json_object_to_json_string_ext(item,
		    JSON_C_TO_STRING_PLAIN);
		if (tg_update_peek(raw, strlen(raw), &update_id,
		    &cause) != 0) {
			log_warnx("telegram", "msg=\"bad update skipped\" "
			    "bot=%s update=%" PRId64 " error=%s",
			    tg->cfg->name, update_id, logq(cause));
			free(cause);
			cause = NULL;
			tg_count_error(tg, "update", 0);
			continue;
		}
		/* Step past it, whatever it holds, or it comes forever. */
		if (update_id + 1 > b->next_offset)
			b->next_offset = update_id + 1;
		dn = xcalloc(1, sizeof *dn);
		dn->tg = tg;
		dn->batch = b;
		b->pending++;
		tg_enqueue(tg, update_id, raw, strlen(raw), dn);
	}
	tg_response_clear(&r);
	/* Release the hold; the batch ends after the last commit. */
	dn = xcalloc(1, sizeof *dn);
	dn->tg = tg;
	dn->batch = b;
	pipeline_after_commit(tg_after_commit, dn);
}

/* Ask for updates (long polling). */
static void
tg_poll(struct tg *tg)
{
	const char	*const *types;
	char		*body;

	if (tg->stopped || tg->poll_xfer != NULL || tg->batch != NULL ||
	    kefu->draining)
		return;
	types = (const char *const *)tg->cfg->allowed_updates.v;
	body = tg_get_updates_body(tg->offset, tg->cfg->poll_timeout, types,
	    tg->cfg->allowed_updates.n);
	tg->poll_xfer = tg_call(tg, "getUpdates", body,
	    tg->cfg->timeout_ms + tg->cfg->poll_timeout * 1000L, tg_polled,
	    tg);
	free(body);
	if (tg->poll_xfer == NULL)
		tg_poll_backoff(tg);
}

/* --- webhook mode -------------------------------------------------------- */

/* The bot a webhook path names ("/telegram/NAME"), or NULL. */
static struct tg *
tg_find_webhook(const char *path)
{
	struct tg	*tg;

	if (strncmp(path, "/telegram/", 10) != 0 ||
	    (tg = tg_find(path + 10)) == NULL || !tg->webhook)
		return (NULL);
	return (tg);
}

/* POST /telegram/NAME: one update from Telegram. */
static void
tg_webhook(struct http_request *req, void *arg)
{
	struct tg		*tg;
	struct tg_done		*dn;
	const char		*body;
	char			 secret[TG_SECRET_MAX + 1], *cause = NULL;
	size_t			 len, want;
	int64_t			 update_id;
	int			 n;

	(void)arg;
	if ((tg = tg_find_webhook(http_request_path(req))) == NULL) {
		http_respond_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such bot");
		return;
	}
	if (strcmp(http_request_method(req), "POST") != 0) {
		http_respond_error(req, HTTP_STATUS_METHOD_NOT_ALLOWED,
		    "method_not_allowed", "updates are POSTed");
		return;
	}
	n = http_request_header(req, "x-telegram-bot-api-secret-token",
	    secret, sizeof secret);
	if (n < 0) {
		metrics_inc("kefu_telegram_webhook_rejected_total", tg->labels);
		log_warnx("telegram", "msg=\"webhook request without the "
		    "secret token\" bot=%s", tg->cfg->name);
		http_respond_error(req, HTTP_STATUS_UNAUTHORIZED,
		    "unauthorized", "the secret token is missing");
		return;
	}
	want = strlen(tg->cfg->webhook_secret);
	if ((size_t)n != want ||
	    CRYPTO_memcmp(secret, tg->cfg->webhook_secret, want) != 0) {
		metrics_inc("kefu_telegram_webhook_rejected_total", tg->labels);
		log_warnx("telegram", "msg=\"webhook request with a wrong "
		    "secret token\" bot=%s", tg->cfg->name);
		http_respond_error(req, HTTP_STATUS_FORBIDDEN, "forbidden",
		    "the secret token is wrong");
		return;
	}
	if (!tg->ready) {
		http_respond_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "starting", "the bot is starting; send it again");
		return;
	}
	body = http_request_body(req, &len);
	if (tg_update_peek(body, len, &update_id, &cause) != 0) {
		log_warnx("telegram", "msg=\"bad webhook update\" bot=%s "
		    "error=%s", tg->cfg->name, logq(cause));
		tg_count_error(tg, "update", 0);
		http_respond_error(req, HTTP_STATUS_BAD_REQUEST, "bad_update",
		    cause);
		free(cause);
		return;
	}
	dn = xcalloc(1, sizeof *dn);
	dn->tg = tg;
	dn->req = req;
	tg_enqueue(tg, update_id, body, len, dn);
}

/* --- start and stop ------------------------------------------------------ */

static void	tg_get_me(struct tg *);

/* The getMe timer (a retry). */
static void
tg_me_timer_cb(uv_timer_t *t)
{
	tg_get_me(t->data);
}

/* getMe's response: the bot's id and username; then start working. */
static void
tg_got_me(void *arg, const struct httpc_response *res)
{
	struct tg		*tg = arg;
	struct tg_response	 r;
	struct json_object	*v;
	int64_t			 wait;

	tg->me_xfer = NULL;
	tg_read_response(res, &r);
	if (!r.ok || r.result == NULL ||
	    !json_object_object_get_ex(r.result, "id", &v)) {
		tg_count_error(tg, "getMe", r.error_code);
		if (r.error_code == 401 || r.error_code == 404) {
			log_errorx("telegram", "msg=\"the bot token was "
			    "rejected\" bot=%s code=%d description=%s",
			    tg->cfg->name, r.error_code, logq(r.description));
			wait = TG_AUTH_WAIT;
		} else {
			log_warnx("telegram", "msg=\"getMe failed, will retry\" "
			    "bot=%s code=%d description=%s", tg->cfg->name,
			    r.error_code, logq(r.description));
			if (tg->poll_backoff == 0)
				tg->poll_backoff = TG_BACKOFF_MIN;
			else if ((tg->poll_backoff *= 2) > TG_BACKOFF_MAX)
				tg->poll_backoff = TG_BACKOFF_MAX;
			wait = r.retry_after > 0 ? r.retry_after * 1000 :
			    tg->poll_backoff;
		}
		tg_response_clear(&r);
		if (!tg->stopped)
			uv_timer_start(&tg->poll_timer, tg_me_timer_cb,
			    (uint64_t)wait, 0);
		return;
	}
	tg->poll_backoff = 0;
	tg->bot_id = json_object_get_int64(v);
	free(tg->bot_username);
	tg->bot_username = NULL;
	if (json_object_object_get_ex(r.result, "username", &v) &&
	    json_object_is_type(v, json_type_string))
		tg->bot_username = xstrdup(json_object_get_string(v));
	tg->ready = 1;
	pipeline_queue_kick();
	log_info("telegram", "msg=\"bot ready\" bot=%s mode=%s bot_id=%"
	    PRId64 " username=%s", tg->cfg->name, tg->cfg->mode, tg->bot_id,
	    logq(tg->bot_username));
	tg_response_clear(&r);
	if (!tg->webhook)
		tg_poll(tg);
	tg_dispatch(tg);
}

/* Ask Telegram who the bot is. */
static void
tg_get_me(struct tg *tg)
{
	if (tg->stopped)
		return;
	tg->me_xfer = tg_call(tg, "getMe", "{}", 0, tg_got_me, tg);
	if (tg->me_xfer == NULL)
		uv_timer_start(&tg->poll_timer, tg_me_timer_cb, TG_AUTH_WAIT,
		    0);
}

/* Start a bot: getMe, then polling; or serve its webhook. */
static int
tg_start(struct channel *ch, char **cause)
{
	struct tg	*tg;
	size_t		 i;

	tg = xcalloc(1, sizeof *tg);
	tg->ch = ch;
	for (i = 0; i < kefu->cfg->telegram.n; i++) {
		if (strcmp(CONFIG_TELEGRAM(kefu->cfg, i)->name,
		    ch->account) == 0)
			tg->cfg = CONFIG_TELEGRAM(kefu->cfg, i);
	}
	if (tg->cfg == NULL) {
		*cause = xasprintf("no configuration for bot %s", ch->account);
		free(tg);
		return (-1);
	}
	tg->webhook = strcmp(tg->cfg->mode, "webhook") == 0;
	snprintf(tg->labels, sizeof tg->labels, "bot=\"%s\"", tg->cfg->name);
	TAILQ_INIT(&tg->jobs);
	uv_timer_init(kefu->loop, &tg->poll_timer);
	tg->poll_timer.data = tg;
	uv_timer_init(kefu->loop, &tg->send_timer);
	tg->send_timer.data = tg;
	ch->data = tg;

	tg_bots = xreallocarray(tg_bots, tg_nbots + 1, sizeof *tg_bots);
	tg_bots[tg_nbots++] = tg;
	if (!tg_route_added) {
		server_add_hook("/telegram", tg_webhook, NULL);
		pipeline_queue_handler("telegram", tg_dequeue);
		tg_route_added = 1;
	}
	log_info("telegram", "msg=\"starting\" bot=%s mode=%s", tg->cfg->name,
	    tg->cfg->mode);
	tg_get_me(tg);
	return (0);
}

/* Freed once libuv has closed a timer. */
static void
tg_timer_closed(uv_handle_t *h)
{
	struct tg	*tg = h->data;

	if (h == (uv_handle_t *)&tg->poll_timer)
		tg->poll_timer.data = NULL;
	else
		tg->send_timer.data = NULL;
	if (tg->poll_timer.data == NULL && tg->send_timer.data == NULL)
		free(tg);
}

/* Stop a bot: cancel requests and timers, forget jobs (they stay queued). */
static void
tg_stop(struct channel *ch)
{
	struct tg	*tg = ch->data;
	struct tg_job	*job;
	struct tg_chat	*c;
	size_t		 i;

	if (tg == NULL || tg->stopped)
		return;
	tg->stopped = 1;
	if (tg->me_xfer != NULL)
		httpc_cancel(tg->me_xfer);
	if (tg->poll_xfer != NULL)
		httpc_cancel(tg->poll_xfer);
	tg->me_xfer = tg->poll_xfer = NULL;
	if (tg->batch != NULL)
		tg->batch->tg = NULL;
	while ((job = TAILQ_FIRST(&tg->jobs)) != NULL) {
		TAILQ_REMOVE(&tg->jobs, job, entry);
		tg_job_free(job);
	}
	for (i = 0; i < TG_CHAT_BUCKETS; i++) {
		while ((c = tg->chats[i]) != NULL) {
			tg->chats[i] = c->next;
			free(c);
		}
	}
	for (i = 0; i < tg->nprogress; i++)
		free(tg->progress[i].remote_id);
	tg->nprogress = 0;
	free(tg->bot_username);
	tg->bot_username = NULL;
	for (i = 0; i < tg_nbots; i++) {
		if (tg_bots[i] == tg) {
			tg_bots[i] = tg_bots[--tg_nbots];
			break;
		}
	}
	if (tg_nbots == 0) {
		free(tg_bots);
		tg_bots = NULL;
	}
	ch->data = NULL;
	uv_timer_stop(&tg->poll_timer);
	uv_timer_stop(&tg->send_timer);
	uv_close((uv_handle_t *)&tg->poll_timer, tg_timer_closed);
	uv_close((uv_handle_t *)&tg->send_timer, tg_timer_closed);
}

const struct channel_ops telegram_channel_ops = {
	.name = "telegram",
	.flags = CHANNEL_F_BUTTONS,
	.start = tg_start,
	.stop = tg_stop,
	.send = tg_send
};
