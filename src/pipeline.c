/*
 * The pipeline: inbound message -> de-duplicate and store -> understand
 * (nlu_classify, kb_search) -> engine step -> replies into the outbox,
 * timers into the store, all inside the loop turn's transaction.  Events
 * that are not messages (a timer fell due, an action's result came back)
 * take the same road from pipeline_event.  The engine is pure: everything
 * it needs from the store or the model is looked up here first, and the
 * actions it asks for start only after the commit (actions.c).
 *
 * Group commit: a libuv check handle (right after the loop polled for I/O)
 * and a prepare handle (right before it polls again) both commit the open
 * transaction once and only then release what waited for it: channel
 * acknowledgements, after-commit callbacks, and a kick to delivery.  With
 * store_defer_sync (kefud, synchronous = "full") the release waits for an
 * fdatasync on the thread pool instead of the commit syncing on the loop,
 * and while that sync runs the next turns add to one open transaction,
 * committed when it ends.  If a write or the commit fails, the
 * transaction is rolled back and every acknowledgement of that turn
 * reports PIPELINE_FAILED, so nothing is acknowledged that is not stored.
 *
 * The inbound queue (pipeline_enqueue) splits a message's road in two for
 * a sender that waits: the raw item is stored and acknowledged, and taken
 * (understood, answered) in order, in the same turn when the loop has time
 * and later when input keeps it busy (pipeline_check_cb); an idle handle
 * keeps the loop turning while items can be taken.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "actions.h"
#include "config.h"
#include "engine.h"
#include "inbox.h"
#include "kb.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "nlu.h"
#include "pipeline.h"
#include "store.h"
#include "timers.h"
#include "webhooks.h"
#include "xmalloc.h"

#define PIPELINE_KB_HITS	5	/* knowledge-base hits for the engine */
#define PIPELINE_SHARE		4	/* queue: 1/4 of the CPU input takes */
#define PIPELINE_DRAIN_NS	5000000	/* queue time in a quiet turn */
#define PIPELINE_QUIET_NS	20000000 /* no input for this long: quiet */
#define PIPELINE_WINDOW_NS	10000000 /* how often the load is judged */
#define PIPELINE_PIECE_NS	1000000	/* least queue time taken at once */
#define PIPELINE_QUEUE_BATCH	32	/* queued items read at a time */
#define PIPELINE_QUEUE_TRIES	3	/* failed turns before set aside */
#define PIPELINE_SCAN_MAX	256	/* deferred items passed in one turn */
#define PIPELINE_QUEUE_HANDLERS	8

/* Where a conversation's replies go. */
struct route {
	const char	*channel;
	const char	*account;
	const char	*conv_external;
	const char	*sender_external;
};

/* An action to start after the commit. */
struct pending_action {
	int64_t			 conversation_id;
	char			*name;
	struct json_object	*params;
};

/* What waits for the commit, in the order it was queued. */
struct pending_ack {
	pipeline_ack_fn		 fn;	/* an acknowledgement, or */
	void			(*after)(void *); /* after-commit work */
	void			*arg;
	enum pipeline_status	 status;
	struct message		 msg;
};

static struct pending_ack	*acks;
static size_t			 nacks, acks_size;
/* Committed and waiting for the next sync; in the sync running now. */
static struct pending_ack	*held, *syncing;
static size_t			 nheld, held_size, nsyncing;
static int			 sync_busy;
static int			 held_kick, sync_kick; /* outbox grew */
static uv_fs_t			 sync_req;

static int			 outbox_added;
static uv_prepare_t		 pipeline_prepare;
static uv_check_t		 pipeline_check;
static int			 pipeline_started;
static const struct nlu		*pipeline_nlu;

/* The inbound queue. */
static struct {
	const char		*channel;
	pipeline_queue_fn	 fn;
}				 queue_handlers[PIPELINE_QUEUE_HANDLERS];
static size_t			 queue_nhandlers;
static int64_t			 queue_len;	/* counted at start-up */
static int			 queue_stalled;	/* all deferred: wait */
static int			 queue_orphans_logged;
static uint64_t			 last_input;	/* uv_hrtime of input */
static uint64_t			 turn_end;	/* CPU ns at the last check */
static int64_t			 credit;	/* ns the queue may use */
static int			 loaded;	/* input keeps the loop busy */
static uint64_t			 win_start, win_cpu, win_queue;
static int			 in_drain;
static int64_t			 scan_from;	/* deferred items end here */
static int64_t			 fail_id;	/* item whose turn failed */
static int			 fail_count;
static uv_idle_t		 pipeline_idle;
static uv_timer_t		 pipeline_quiet;

/* The loop thread's CPU time, in ns. */
static uint64_t
pipeline_cpu_ns(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return (uv_hrtime());
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec);
}

/* Turn every acknowledgement of the current transaction into a failure. */
static void
pipeline_fail_turn(const char *what)
{
	size_t	i;

	store_rollback(kefu->store);
	for (i = 0; i < nacks; i++)
		acks[i].status = PIPELINE_FAILED;
	outbox_added = 0;
	log_errorx("pipeline", "msg=\"transaction rolled back\" step=%s "
	    "acks=%zu", what, nacks);
}

/* What changed, for the inbox's live feed once it is committed. */
struct change {
	int64_t	conversation_id;
	int64_t	message_id;
	int	status_only;
};

/* Publish a committed change to the inbox. */
static void
pipeline_publish(void *arg)
{
	struct change	*ch = arg;

	inbox_live_publish(ch->conversation_id, ch->message_id,
	    ch->status_only);
	free(ch);
}

/* Tell the inbox of a change after the commit. */
static void
pipeline_change(int64_t conversation_id, int64_t message_id, int status_only)
{
	struct change	*ch;

	if (!inbox_live_active()) {
		inbox_live_gap();
		return;
	}
	ch = xmalloc(sizeof *ch);
	ch->conversation_id = conversation_id;
	ch->message_id = message_id;
	ch->status_only = status_only;
	pipeline_after_commit(pipeline_publish, ch);
}

/* A conversation or message changed: tell the inbox after the commit. */
void
pipeline_changed(int64_t conversation_id, int64_t message_id)
{
	pipeline_change(conversation_id, message_id, 0);
}

/* A message's delivery status changed. */
void
pipeline_status_changed(int64_t message_id)
{
	pipeline_change(0, message_id, 1);
}

/* Store one outbound reply and queue it for delivery. */
static int
pipeline_store_reply(const struct conversation *c, struct message *out,
    int64_t now)
{
	if (store_contact_next_seq(kefu->store, c->contact_id, &out->seq) != 0)
		return (-1);
	out->conversation_id = c->id;
	out->contact_id = c->contact_id;
	out->direction = MSG_OUT;
	out->created_at = now;
	if (store_message_insert(kefu->store, out) != 1)
		return (-1);
	if (store_outbox_add(kefu->store, out->id, now) != 0)
		return (-1);
	outbox_added = 1;
	pipeline_changed(c->id, out->id);
	return (webhooks_emit("message.created", c->id, out->id));
}

/* Add an audit event to the conversation; data (an object) is taken. */
static int
pipeline_event_row(const struct conversation *c, const char *type,
    struct json_object *data, int64_t now)
{
	int	r;

	r = store_event_add(kefu->store, c->id, type,
	    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN),
	    now);
	json_object_put(data);
	return (r);
}

/* Start an action once the step that asked for it is committed. */
static void
pipeline_start_action(void *arg)
{
	struct pending_action	*pa = arg;

	if (!kefu->draining)
		actions_run(pa->conversation_id, pa->name, pa->params);
	else
		json_object_put(pa->params);
	free(pa->name);
	free(pa);
}

/* Store the timers the engine set and cancelled; queue its actions. */
static int
pipeline_apply_timers(const struct conversation *c,
    struct engine_result *res)
{
	struct pending_action	*pa;
	size_t			 i;

	for (i = 0; i < res->ncancel; i++) {
		if (timers_cancel(kefu->store, c->id, res->cancel[i]) != 0)
			return (-1);
	}
	for (i = 0; i < res->ntimers; i++) {
		if (timers_set(kefu->store, c->id, res->timers[i].kind,
		    res->timers[i].due) != 0)
			return (-1);
	}
	if (res->ntimers > 0)
		timers_kick();
	for (i = 0; i < res->nactions; i++) {
		pa = xcalloc(1, sizeof *pa);
		pa->conversation_id = c->id;
		pa->name = xstrdup(res->actions[i].name);
		pa->params = res->actions[i].params;
		res->actions[i].params = NULL;
		pipeline_after_commit(pipeline_start_action, pa);
	}
	return (0);
}

/* Record what the step decided that reports will want. */
static int
pipeline_apply_events(const struct conversation *c,
    const struct engine_result *res, int64_t now)
{
	struct json_object	*o;
	char			 labels[128];

	if (res->handoff_reason != NULL) {
		o = json_object_new_object();
		json_object_object_add(o, "reason",
		    json_object_new_string(res->handoff_reason));
		if (res->after_hours) {
			json_object_object_add(o, "after_hours",
			    json_object_new_boolean(1));
			json_object_object_add(o, "back_at",
			    json_object_new_int64(res->back_at));
		}
		if (pipeline_event_row(c, "handoff", o, now) != 0)
			return (-1);
		snprintf(labels, sizeof labels, "reason=\"%s\"",
		    res->handoff_reason);
		metrics_inc("kefu_handoffs_total", labels);
		log_info("pipeline", "msg=\"handed off\" conv=%lld reason=%s "
		    "after_hours=%d", (long long)c->id, res->handoff_reason,
		    res->after_hours);
	}
	if (res->csat != 0) {
		o = json_object_new_object();
		json_object_object_add(o, "rating",
		    json_object_new_int(res->csat));
		if (pipeline_event_row(c, "csat", o, now) != 0)
			return (-1);
	}
	if (res->intent != NULL && strcmp(res->intent, "auto_resolved") == 0 &&
	    pipeline_event_row(c, "auto_resolved", json_object_new_object(),
	    now) != 0)
		return (-1);
	return (0);
}

/* Apply an engine result to the conversation and queue its replies. */
static int
pipeline_apply(struct conversation *c, const struct route *in,
    struct engine_result *res, int64_t now)
{
	struct message	 out;
	size_t		 i;

	for (i = 0; i < res->nreplies; i++) {
		memset(&out, 0, sizeof out);
		out.channel = xstrdup(in->channel);
		out.account = xstrdup(in->account != NULL ? in->account : "");
		out.conv_external = xstrdup(in->conv_external);
		out.sender_external = in->sender_external != NULL ?
		    xstrdup(in->sender_external) : NULL;
		out.author = res->replies[i].author;
		out.text = xstrdup(res->replies[i].text);
		out.buttons = res->replies[i].buttons;
		out.nbuttons = res->replies[i].nbuttons;
		res->replies[i].buttons = NULL;
		res->replies[i].nbuttons = 0;
		if (pipeline_store_reply(c, &out, now) != 0) {
			message_clear(&out);
			return (-1);
		}
		message_clear(&out);
	}

	free(c->state);
	c->state = xstrdup(res->state);
	if (res->lang != NULL) {
		free(c->lang);
		c->lang = xstrdup(res->lang);
	}
	if (res->handoff_reason != NULL) {
		free(c->handoff_reason);
		c->handoff_reason = xstrdup(res->handoff_reason);
	}
	if (pipeline_apply_events(c, res, now) != 0 ||
	    pipeline_apply_timers(c, res) != 0)
		return (-1);
	if (res->status != NULL && strcmp(res->status, c->status) != 0) {
		free(c->status);
		c->status = xstrdup(res->status);
		if (strcmp(c->status, "resolved") == 0)
			c->resolved_at = now;
		if (strcmp(c->status, "pending") == 0) {
			c->waiting_since = now;
			c->escalated_at = 0;
		} else
			c->waiting_since = 0;
		pipeline_changed(c->id, 0);
		if (strcmp(c->status, "pending") == 0 || strcmp(c->status,
		    "resolved") == 0) {
			/* Saved first, so the event shows the new status. */
			if (store_conversation_save(kefu->store, c) != 0 ||
			    webhooks_emit(strcmp(c->status, "pending") == 0 ?
			    "conversation.handed_off" : "conversation.resolved",
			    c->id, 0) != 0)
				return (-1);
		}
	}
	c->updated_at = now;
	return (store_conversation_save(kefu->store, c));
}

/* Store an inbound message and run the engine on it. */
static enum pipeline_status
pipeline_process(struct message *m)
{
	struct conversation	 c;
	struct engine_event	 ev;
	struct engine_result	 res;
	struct nlu_result	 nr;
	struct kb_hit		*hits = NULL;
	struct route		 route;
	char			*cause = NULL, labels[128];
	int64_t			 now = now_ms();
	const char		*who;
	int			 r, nhits = 0, created;

	memset(&c, 0, sizeof c);
	if (store_begin(kefu->store) != 0)
		return (PIPELINE_FAILED);
	who = m->sender_external != NULL ? m->sender_external :
	    m->conv_external;
	if (store_contact_ensure(kefu->store, m->channel, m->account, who,
	    m->sender_name, now, &m->contact_id) != 0)
		goto fail;
	if ((created = store_conversation_ensure(kefu->store, m->contact_id,
	    m->channel, m->account, m->conv_external, now, &c)) == -1)
		goto fail;
	m->conversation_id = c.id;
	m->direction = MSG_IN;
	m->author = AUTHOR_CUSTOMER;
	if (m->created_at == 0)
		m->created_at = now;
	snprintf(labels, sizeof labels, "channel=\"%s\"", m->channel);
	if ((r = store_message_insert(kefu->store, m)) == -1)
		goto fail;
	if (r == 0) {
		metrics_inc("kefu_messages_duplicate_total", labels);
		log_debug("pipeline", "msg=\"duplicate\" channel=%s "
		    "conv=%lld message=%lld", m->channel,
		    (long long)m->conversation_id, (long long)m->id);
		conversation_clear(&c);
		return (PIPELINE_DUPLICATE);
	}
	metrics_inc("kefu_messages_in_total", labels);
	pipeline_changed(c.id, m->id);
	if ((created == 1 && webhooks_emit("conversation.created", c.id,
	    0) != 0) || webhooks_emit("message.created", c.id, m->id) != 0)
		goto fail;
	if (m->edit_of != NULL) {
		/* An edit is kept with the transcript, not answered again. */
		conversation_clear(&c);
		return (PIPELINE_STORED);
	}

	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EV_MESSAGE;
	ev.now = now;
	ev.channel = m->channel;
	ev.text = m->text;
	ev.value = m->value;
	ev.customer_name = m->sender_name;
	ev.conversation_id = c.id;
	/*
	 * Understand the text and record it for the inbox and reports; the
	 * knowledge base is searched only while the bot has the conversation.
	 */
	memset(&nr, 0, sizeof nr);
	if (m->text != NULL && *m->text != '\0' && pipeline_nlu != NULL) {
		nlu_classify(pipeline_nlu, m->text, &nr);
		ev.nlu = &nr;
		if (store_message_set_understood(kefu->store, m->id,
		    nr.lang[0] != '\0' ? nr.lang : NULL, nr.intent,
		    nr.confidence, nr.sentiment) != 0) {
			nlu_result_clear(&nr);
			conversation_clear(&c);
			return (PIPELINE_FAILED);
		}
	}
	if (m->text != NULL && *m->text != '\0' &&
	    strcmp(c.status, "bot") == 0) {
		if (engine_wants_kb(kefu->engine, m->value, ev.nlu))
			nhits = kb_search(kefu->store, m->text, NULL,
			    kefu->cfg->engine_kb_min_score, PIPELINE_KB_HITS,
			    &hits);
		if (nhits < 0) {
			log_warnx("pipeline", "msg=\"knowledge base search "
			    "failed\" conv=%lld", (long long)c.id);
			nhits = 0;
			hits = NULL;
		}
		ev.kb = hits;
		ev.nkb = (size_t)nhits;
	}
	memset(&res, 0, sizeof res);
	r = engine_step(kefu->engine, c.state, &ev, &res, &cause);
	nlu_result_clear(&nr);
	kb_hits_free(hits, (size_t)nhits);
	if (r != 0) {
		/* The customer's message is kept; the bot stays quiet. */
		log_errorx("pipeline", "msg=\"engine step failed\" conv=%lld "
		    "error=%s", (long long)c.id, logq(cause));
		metrics_inc("kefu_engine_errors_total", NULL);
		free(cause);
		c.last_message_at = now;
		c.updated_at = now;
		r = store_conversation_save(kefu->store, &c);
		conversation_clear(&c);
		return (r == 0 ? PIPELINE_STORED : PIPELINE_FAILED);
	}
	c.last_message_at = now;
	route.channel = m->channel;
	route.account = m->account;
	route.conv_external = m->conv_external;
	route.sender_external = m->sender_external;
	r = pipeline_apply(&c, &route, &res, now);
	engine_result_clear(&res);
	conversation_clear(&c);
	if (r != 0)
		return (PIPELINE_FAILED);
	log_debug("pipeline", "msg=\"stored\" channel=%s conv=%lld "
	    "message=%lld", m->channel, (long long)m->conversation_id,
	    (long long)m->id);
	return (PIPELINE_STORED);

fail:
	conversation_clear(&c);
	return (PIPELINE_FAILED);
}

/* Step a conversation with an event that is not a customer's message. */
int
pipeline_event(int64_t conversation_id, struct engine_event *ev)
{
	struct conversation	 c;
	struct contact		 ct;
	struct engine_result	 res;
	struct route		 route;
	struct json_object	*o;
	char			*cause = NULL;
	int64_t			 now = now_ms();
	int			 r;

	memset(&c, 0, sizeof c);
	memset(&ct, 0, sizeof ct);
	memset(&res, 0, sizeof res);
	if (store_begin(kefu->store) != 0)
		goto fail;
	if ((r = store_conversation_get(kefu->store, conversation_id,
	    &c)) == -1)
		goto fail;
	if (r == 0) {
		log_warnx("pipeline", "msg=\"event for no conversation\" "
		    "conv=%lld", (long long)conversation_id);
		return (0);
	}
	if (ev->type == ENGINE_EV_TIMER &&
	    timers_cancel(kefu->store, c.id, ev->timer) != 0)
		goto fail;
	if ((ev->type == ENGINE_EV_TIMER ||
	    ev->type == ENGINE_EV_ACTION_RESULT) &&
	    strcmp(c.status, "bot") != 0) {
		log_debug("pipeline", "msg=\"event dropped: not the bot's\" "
		    "conv=%lld status=%s", (long long)c.id, c.status);
		conversation_clear(&c);
		return (0);
	}
	if (store_contact_get(kefu->store, c.contact_id, &ct) != 1)
		goto fail;
	ev->now = now;
	ev->channel = c.channel;
	ev->customer_name = ct.display_name;
	ev->conversation_id = c.id;
	if (ev->type == ENGINE_EV_ACTION_RESULT) {
		o = json_object_new_object();
		json_object_object_add(o, "action", json_object_new_string(
		    ev->action != NULL ? ev->action : ""));
		json_object_object_add(o, "outcome", json_object_new_string(
		    ev->action_status == ENGINE_ACTION_OK ? "ok" :
		    ev->action_status == ENGINE_ACTION_NOT_FOUND ?
		    "not_found" : "failed"));
		if (pipeline_event_row(&c, "action", o, now) != 0)
			goto fail;
	}
	if (engine_step(kefu->engine, c.state, ev, &res, &cause) != 0) {
		log_errorx("pipeline", "msg=\"engine step failed\" conv=%lld "
		    "error=%s", (long long)c.id, logq(cause));
		metrics_inc("kefu_engine_errors_total", NULL);
		free(cause);
		conversation_clear(&c);
		contact_clear(&ct);
		return (0);
	}
	route.channel = c.channel;
	route.account = c.account;
	route.conv_external = c.external_id;
	route.sender_external = ct.external_id;
	r = pipeline_apply(&c, &route, &res, now);
	engine_result_clear(&res);
	conversation_clear(&c);
	contact_clear(&ct);
	if (r != 0) {
		pipeline_fail_turn("event");
		return (-1);
	}
	return (0);

fail:
	conversation_clear(&c);
	contact_clear(&ct);
	pipeline_fail_turn("event");
	return (-1);
}

/* The intent model messages are classified with. */
void
pipeline_set_nlu(const struct nlu *n)
{
	pipeline_nlu = n;
}

/* Append an entry to the list of what waits for the commit. */
static struct pending_ack *
pipeline_pending_new(void)
{
	struct pending_ack	*a;

	if (nacks == acks_size) {
		acks_size = acks_size == 0 ? 64 : acks_size * 2;
		acks = xreallocarray(acks, acks_size, sizeof *acks);
	}
	a = &acks[nacks++];
	memset(a, 0, sizeof *a);
	return (a);
}

/* Take one inbound message; ack is called after the commit. */
void
pipeline_inbound(const struct message *m, pipeline_ack_fn fn, void *arg)
{
	struct pending_ack	*a;
	size_t			 idx;
	enum pipeline_status	 st;

	if (!in_drain)
		last_input = uv_hrtime();
	a = pipeline_pending_new();
	idx = (size_t)(a - acks);
	message_copy(&a->msg, m);
	a->fn = fn;
	a->arg = arg;
	st = pipeline_process(&acks[idx].msg);
	acks[idx].status = st;
	if (st == PIPELINE_FAILED)
		pipeline_fail_turn("inbound");
}

/* Queue an outbound message on an existing conversation. */
int
pipeline_outbound(struct message *m)
{
	struct conversation	c;
	int64_t			now = now_ms();
	int			r;

	memset(&c, 0, sizeof c);
	if (store_begin(kefu->store) != 0)
		return (-1);
	if (store_conversation_get(kefu->store, m->conversation_id, &c) != 1)
		return (-1);
	r = pipeline_store_reply(&c, m, now);
	conversation_clear(&c);
	if (r != 0)
		pipeline_fail_turn("outbound");
	return (r);
}

/* Run fn(arg) once the current transaction has committed. */
void
pipeline_after_commit(void (*fn)(void *), void *arg)
{
	struct pending_ack	*a;

	a = pipeline_pending_new();
	a->after = fn;
	a->arg = arg;
}

/* Run what waited for a commit, in order, and free the list. */
static void
pipeline_release(struct pending_ack *list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (list[i].fn != NULL)
			list[i].fn(list[i].arg, list[i].status, &list[i].msg);
		else
			list[i].after(list[i].arg);
		message_clear(&list[i].msg);
	}
	free(list);
}

/* Move the turn's list to the end of the one waiting for a sync. */
static void
pipeline_hold(void)
{
	if (nheld + nacks > held_size) {
		held_size = nheld + nacks;
		held = xreallocarray(held, held_size, sizeof *held);
	}
	if (nacks > 0)
		memcpy(held + nheld, acks, nacks * sizeof *acks);
	nheld += nacks;
	nacks = 0;
}

/* Take the list waiting for a sync. */
static struct pending_ack *
pipeline_take_held(size_t *n)
{
	struct pending_ack	*list = held;

	*n = nheld;
	held = NULL;
	nheld = held_size = 0;
	return (list);
}

static void	pipeline_sync_start(void);

/* The disk has the commits: release what waited for them. */
static void
pipeline_synced(uv_fs_t *req)
{
	struct pending_ack	*list = syncing;
	size_t			 i, n = nsyncing;

	if (req->result < 0) {
		/* Committed, but maybe not on disk: let senders retry. */
		log_errorx("pipeline", "msg=\"sync failed\" error=%s",
		    uv_strerror((int)req->result));
		metrics_inc("kefu_commit_failures_total", NULL);
		for (i = 0; i < n; i++)
			list[i].status = PIPELINE_FAILED;
	}
	uv_fs_req_cleanup(req);
	syncing = NULL;
	nsyncing = 0;
	sync_busy = 0;
	pipeline_release(list, n);
	if (sync_kick)
		delivery_kick();
	sync_kick = 0;
	if (kefu->cfg->webhooks.n > 0)
		webhooks_kick();
	if (nheld > 0)
		pipeline_sync_start();
}

/* Sync the commits so far on the thread pool, then release what waits. */
static void
pipeline_sync_start(void)
{
	struct pending_ack	*list;
	size_t			 n;
	int			 fd;

	if (sync_busy)
		return;
	if ((fd = store_sync_fd(kefu->store)) == -1) {
		/* Nothing was committed since the last sync. */
		list = pipeline_take_held(&n);
		pipeline_release(list, n);
		if (held_kick)
			delivery_kick();
		held_kick = 0;
		return;
	}
	syncing = pipeline_take_held(&nsyncing);
	sync_kick = held_kick;
	held_kick = 0;
	sync_busy = 1;
	if (uv_fs_fdatasync(kefu->loop, &sync_req, fd, pipeline_synced) != 0) {
		sync_req.result = UV_EIO;
		pipeline_synced(&sync_req);
	}
}

/*
 * Commit, then release acknowledgements and after-commit work: at once,
 * or (store_defer_sync) once a sync on the thread pool has made the
 * commit durable, the loop going on meanwhile; commits made while a sync
 * runs wait for the next one, in order.  When kefud stops, the sync is
 * done here.
 */
void
pipeline_flush(void)
{
	struct pending_ack	*list;
	size_t			 n;
	char			*cause = NULL;
	int			 kick;

	if (store_in_transaction(kefu->store)) {
		if (store_commit(kefu->store, &cause) != 0) {
			metrics_inc("kefu_commit_failures_total", NULL);
			log_errorx("pipeline", "msg=\"commit failed\" error=%s",
			    logq(cause));
			free(cause);
			pipeline_fail_turn("commit");
		} else {
			metrics_inc("kefu_commits_total", NULL);
			metrics_observe_commit(store_last_commit_ms(kefu->store));
		}
	}
	kick = outbox_added;
	outbox_added = 0;

	if (pipeline_started && !kefu->draining && (sync_busy || nheld > 0 ||
	    store_sync_pending(kefu->store))) {
		held_kick |= kick;
		if (nacks > 0 || store_sync_pending(kefu->store)) {
			pipeline_hold();
			pipeline_sync_start();
		}
		return;
	}
	if (nheld > 0 || nsyncing > 0 || store_sync_pending(kefu->store)) {
		/*
		 * Stopping: sync here, covering a sync still running on the
		 * thread pool, and release what waited for both, in order
		 * (that sync's callback then finds nothing to release).
		 */
		if (sync_busy)
			store_sync_force(kefu->store);
		else
			store_sync(kefu->store);
		list = syncing;
		n = nsyncing;
		syncing = NULL;
		nsyncing = 0;
		pipeline_release(list, n);
		list = pipeline_take_held(&n);
		pipeline_release(list, n);
		kick |= held_kick | sync_kick;
		held_kick = sync_kick = 0;
	}

	/* Callbacks may queue more; take the lists first. */
	while (nacks > 0 && !store_in_transaction(kefu->store)) {
		list = acks;
		n = nacks;
		acks = NULL;
		nacks = acks_size = 0;
		pipeline_release(list, n);
		/* What they wrote is committed by the next flush. */
	}
	if (kick)
		delivery_kick();
	if (kefu->cfg->webhooks.n > 0)
		webhooks_kick();
}

/* --- the inbound queue ---------------------------------------------------- */

/* Count the queue again (at start, and after a rollback). */
static void
pipeline_queue_count(void)
{
	if (store_queue_count(kefu->store, &queue_len) != 0)
		queue_len = 0;
	metrics_set("kefu_inbound_queue", NULL, (double)queue_len);
}

/* An idle handle only makes the loop poll without blocking. */
static void
pipeline_idle_cb(uv_idle_t *h)
{
	(void)h;
}

static void	pipeline_quiet_cb(uv_timer_t *);

/*
 * Keep the loop turning while there are items to take, and only then.
 * While input comes the queue waits for its share (pipeline_check_cb) and
 * the loop may sleep; a timer looks again when input may have stopped.
 */
static void
pipeline_queue_schedule(void)
{
	uint64_t	now, since;

	if (!pipeline_started)
		return;
	if (queue_len <= 0 || queue_stalled || kefu->draining) {
		uv_idle_stop(&pipeline_idle);
		uv_timer_stop(&pipeline_quiet);
		return;
	}
	now = uv_hrtime();
	since = now - last_input;
	if (loaded && last_input != 0 && since < PIPELINE_QUIET_NS &&
	    credit < PIPELINE_PIECE_NS) {
		uv_idle_stop(&pipeline_idle);
		uv_timer_start(&pipeline_quiet, pipeline_quiet_cb,
		    (PIPELINE_QUIET_NS - since) / 1000000 + 1, 0);
	} else {
		uv_timer_stop(&pipeline_quiet);
		uv_idle_start(&pipeline_idle, pipeline_idle_cb);
	}
}

static void
pipeline_quiet_cb(uv_timer_t *t)
{
	(void)t;
	pipeline_queue_schedule();
}

void
pipeline_queue_handler(const char *channel, pipeline_queue_fn fn)
{
	if (queue_nhandlers == PIPELINE_QUEUE_HANDLERS)
		log_fatalx("pipeline", "msg=\"too many queue handlers\"");
	queue_handlers[queue_nhandlers].channel = channel;
	queue_handlers[queue_nhandlers].fn = fn;
	queue_nhandlers++;
	pipeline_queue_kick();
}

void
pipeline_queue_kick(void)
{
	queue_stalled = 0;
	scan_from = 0;
	pipeline_queue_schedule();
}

void
pipeline_queue_reload(void)
{
	pipeline_queue_count();
	queue_orphans_logged = 0;
	pipeline_queue_kick();
}

/* Store an item in the queue; ack hears of it after the commit. */
void
pipeline_enqueue(const char *channel, const char *account, const char *key,
    const char *body, size_t len, pipeline_ack_fn fn, void *arg)
{
	struct pending_ack	*a;
	char			 labels[128];
	int			 r;

	last_input = uv_hrtime();
	a = pipeline_pending_new();
	a->fn = fn;
	a->arg = arg;
	snprintf(labels, sizeof labels, "channel=\"%s\"", channel);
	if (queue_len >= kefu->cfg->store_queue_max) {
		a->status = PIPELINE_BUSY;
		metrics_inc("kefu_inbound_busy_total", labels);
		return;
	}
	r = store_queue_add(kefu->store, channel, account, key, body, len,
	    now_ms());
	if (r == -1) {
		a->status = PIPELINE_FAILED;
		pipeline_fail_turn("enqueue");
		pipeline_queue_count();
		return;
	}
	a->status = r == 1 ? PIPELINE_QUEUED : PIPELINE_DUPLICATE;
	if (r == 1) {
		queue_len++;
		metrics_inc("kefu_inbound_queued_total", labels);
		metrics_set("kefu_inbound_queue", NULL, (double)queue_len);
		queue_stalled = 0;
		pipeline_queue_schedule();
	}
}

/* The handler of a channel's items, or NULL. */
static pipeline_queue_fn
pipeline_queue_fn_for(const char *channel)
{
	size_t	i;

	for (i = 0; i < queue_nhandlers; i++) {
		if (strcmp(queue_handlers[i].channel, channel) == 0)
			return (queue_handlers[i].fn);
	}
	return (NULL);
}

/*
 * Give one item to its handler in the open transaction: 1 taken, 0
 * deferred, -1 if the turn failed (rolled back).
 */
static int
pipeline_take_one(const struct queue_item *it)
{
	pipeline_queue_fn	fn;

	if (it->id == fail_id && fail_count >= PIPELINE_QUEUE_TRIES) {
		log_errorx("pipeline", "msg=\"queued item set aside: its turn "
		    "failed %d times\" item=%" PRId64 " channel=%s",
		    fail_count, it->id, it->channel);
		metrics_inc("kefu_inbound_set_aside_total", NULL);
		fail_id = 0;
		fail_count = 0;
		if (store_queue_fail(kefu->store, it->id,
		    "its turn failed again and again") != 0)
			return (-1);
		return (1);
	}
	if ((fn = pipeline_queue_fn_for(it->channel)) == NULL) {
		if (!queue_orphans_logged)
			log_warnx("pipeline", "msg=\"queued items for a channel "
			    "kefud does not run\" channel=%s", it->channel);
		queue_orphans_logged = 1;
		return (0);
	}
	if (fn(it->account, it->body, it->len) == PIPELINE_DEFER)
		return (0);
	if (!store_in_transaction(kefu->store) ||
	    store_queue_remove(kefu->store, it->id) != 0) {
		if (store_in_transaction(kefu->store))
			pipeline_fail_turn("dequeue");
		if (fail_id != it->id) {
			fail_id = it->id;
			fail_count = 0;
		}
		fail_count++;
		return (-1);
	}
	return (1);
}

/*
 * Take queued items, oldest first, until the budget (ns) is spent, and
 * return the time taken; at least one item if any can be taken.  Items a handler defers stay, and the
 * queue stalls until pipeline_queue_kick when nothing could be taken; a
 * long run of deferred items is scanned over several turns.
 */
static uint64_t
pipeline_drain(uint64_t budget)
{
	struct queue_item	*items;
	size_t			 n, i;
	uint64_t		 start = uv_hrtime(), deadline = start + budget;
	int64_t			 after = scan_from;
	size_t			 scanned = 0;
	int			 taken = 0, r = 0, end = 0;

	in_drain = 1;
	while (r >= 0 && (taken == 0 ? scanned < PIPELINE_SCAN_MAX :
	    uv_hrtime() < deadline)) {
		if (store_begin(kefu->store) != 0 ||
		    store_queue_next(kefu->store, after, PIPELINE_QUEUE_BATCH,
		    &items, &n) != 0) {
			pipeline_fail_turn("read queue");
			r = -1;
			break;
		}
		if (n == 0) {
			queue_items_free(items, n);
			end = 1;
			break;
		}
		for (i = 0; i < n; i++) {
			if (taken > 0 && uv_hrtime() >= deadline)
				break;
			after = items[i].id;
			scanned++;
			if ((r = pipeline_take_one(&items[i])) < 0)
				break;
			if (r == 1) {
				taken++;
				queue_len--;
			}
		}
		queue_items_free(items, n);
	}
	in_drain = 0;
	scan_from = 0;
	if (r < 0)
		pipeline_queue_count();	/* the turn's changes are gone */
	else {
		if (taken > 0)
			fail_count = 0;
		else if (end)
			queue_stalled = 1;
		else
			scan_from = after;
		metrics_set("kefu_inbound_queue", NULL, (double)queue_len);
	}
	pipeline_queue_schedule();
	return (uv_hrtime() - start);
}

/*
 * The loop's commit point: while a sync runs, the turn's transaction stays
 * open and grows, to be committed (one write of its pages) when the sync
 * is over, and synced by the next one: group commit without the loop
 * waiting for the disk.
 */
static void
pipeline_turn_flush(void)
{
	if (pipeline_started && !kefu->draining && sync_busy &&
	    store_in_transaction(kefu->store))
		return;
	pipeline_flush();
}

static void
pipeline_prepare_cb(uv_prepare_t *h)
{
	(void)h;
	pipeline_turn_flush();
}

/*
 * Judge the load every PIPELINE_WINDOW_NS: the loop is loaded when work
 * other than the queue took more than half of the time the queue left.
 */
static void
pipeline_judge_load(uint64_t now, uint64_t cpu)
{
	uint64_t	work;

	if (win_start == 0 || cpu < win_cpu) {
		win_start = now;
		win_cpu = cpu;
		win_queue = 0;
		return;
	}
	if (now - win_start < PIPELINE_WINDOW_NS)
		return;
	work = cpu - win_cpu;
	work = work > win_queue ? work - win_queue : 0;
	loaded = win_queue < now - win_start &&
	    work * 2 > now - win_start - win_queue;
	win_start = now;
	win_cpu = cpu;
	win_queue = 0;
}

/*
 * After the loop's I/O, before the commit: take queued items.  While the
 * loop has time to spare, the queue takes PIPELINE_DRAIN_NS a turn, so a
 * message is usually taken in the very turn that queued it.  While input
 * keeps the loop loaded, the queue earns a quarter of the CPU time the
 * loop spent since the last check and spends it in pieces, so accepting
 * input keeps most of the CPU and a burst is taken in afterwards.
 */
static void
pipeline_check_cb(uv_check_t *h)
{
	uint64_t	now, cpu, spent = 0;

	(void)h;
	now = uv_hrtime();
	cpu = pipeline_cpu_ns();
	pipeline_judge_load(now, cpu);
	if (queue_len > 0 && !queue_stalled && !kefu->draining) {
		if (loaded && last_input != 0 &&
		    now - last_input < PIPELINE_QUIET_NS) {
			if (turn_end != 0 && cpu > turn_end)
				credit += (int64_t)(cpu - turn_end) /
				    PIPELINE_SHARE;
			if (credit > PIPELINE_DRAIN_NS)
				credit = PIPELINE_DRAIN_NS;
			/* In bigger pieces: each commit writes its pages. */
			if (credit >= PIPELINE_PIECE_NS) {
				spent = pipeline_drain((uint64_t)credit);
				credit -= (int64_t)spent;
			}
		} else {
			credit = 0;
			spent = pipeline_drain(PIPELINE_DRAIN_NS);
		}
		win_queue += spent;
	}
	pipeline_turn_flush();
	turn_end = pipeline_cpu_ns();
}

/* Install the commit points on the loop. */
void
pipeline_init(void)
{
	uv_prepare_init(kefu->loop, &pipeline_prepare);
	uv_prepare_start(&pipeline_prepare, pipeline_prepare_cb);
	uv_unref((uv_handle_t *)&pipeline_prepare);
	uv_check_init(kefu->loop, &pipeline_check);
	uv_check_start(&pipeline_check, pipeline_check_cb);
	uv_unref((uv_handle_t *)&pipeline_check);
	uv_idle_init(kefu->loop, &pipeline_idle);
	uv_unref((uv_handle_t *)&pipeline_idle);
	uv_timer_init(kefu->loop, &pipeline_quiet);
	uv_unref((uv_handle_t *)&pipeline_quiet);
	pipeline_started = 1;
	pipeline_queue_count();
	if (queue_len > 0)
		log_info("pipeline", "msg=\"inbound items wait in the "
		    "queue\" items=%" PRId64, queue_len);
	pipeline_queue_schedule();
}

/* Commit what is left and close the handles. */
void
pipeline_shutdown(void)
{
	pipeline_flush();
	if (!pipeline_started)
		return;
	uv_prepare_stop(&pipeline_prepare);
	uv_close((uv_handle_t *)&pipeline_prepare, NULL);
	uv_check_stop(&pipeline_check);
	uv_close((uv_handle_t *)&pipeline_check, NULL);
	uv_idle_stop(&pipeline_idle);
	uv_close((uv_handle_t *)&pipeline_idle, NULL);
	uv_timer_stop(&pipeline_quiet);
	uv_close((uv_handle_t *)&pipeline_quiet, NULL);
	pipeline_started = 0;
}
