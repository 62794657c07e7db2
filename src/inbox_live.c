/*
 * The inbox's live feed: a WebSocket at /api/live (subprotocol
 * "kefu-inbox") that pushes every committed change of a conversation or
 * message to the inbox pages (docs/api.md).
 *
 * The pipeline and the inbox actions call pipeline_changed(); after the
 * commit that lands here as inbox_live_publish(), which reads the
 * conversation (and message) once, numbers the event and queues the same
 * frame on every page.  Event ids start at the start-up time in ms and
 * only grow, so they also grow across restarts.  The last INBOX_RING
 * events are kept in memory: a page that reconnects says the last id it
 * saw and gets what it missed; one that is further behind, or whose id
 * comes from before a restart, is told to reload ("reset").  Nothing is
 * published while no page is connected, so the feed costs the message
 * path nothing then.
 *
 * A connection is accepted only with a valid session cookie and, when the
 * browser sends an Origin, one naming this host (cross-site WebSocket
 * hijacking).  Each page has a bounded queue; a page that cannot keep up
 * is closed and reconnects.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libwebsockets.h>

#include "auth.h"
#include "config.h"
#include "inbox.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

#define INBOX_RING		1024	/* events kept for catching up */
#define INBOX_QUEUE_MAX		2048	/* frames queued per page */
#define INBOX_RX_MAX		4096	/* bytes of a page's frame */
#define INBOX_TICK_MS		1000

struct live_event {
	int64_t		 id;
	char		*frame;		/* the JSON sent */
};

struct live_frame {
	char		*text;
	size_t		 len;
};

/* One connected inbox page. */
struct live_conn {
	struct lws		*wsi;
	int64_t			 agent_id;
	int			 ready;		/* hello answered */
	struct live_frame	*queue;
	size_t			 qhead, qlen;
	char			 rx[INBOX_RX_MAX + 1];
	size_t			 rxlen;
	struct live_conn	*next;
};

struct live_session {
	struct live_conn	*c;
};

static struct live_event	 live_ring[INBOX_RING];
static int64_t			 live_next_id;	/* the next event's id */
static struct live_conn		*live_conns;
static size_t			 live_count;
static uv_timer_t		 live_timer;
static int			 live_started;

/* Queue a frame on a page; a page that is too far behind is closed. */
static void
live_queue(struct live_conn *c, const char *text)
{
	struct live_frame	*f;

	if (c->wsi == NULL)
		return;
	if (c->qlen == INBOX_QUEUE_MAX) {
		log_warnx("inbox", "msg=\"page too slow, closing\" agent=%lld",
		    (long long)c->agent_id);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		return;
	}
	f = &c->queue[(c->qhead + c->qlen) % INBOX_QUEUE_MAX];
	f->len = strlen(text);
	f->text = xmalloc(LWS_PRE + f->len);
	memcpy(f->text + LWS_PRE, text, f->len);
	c->qlen++;
	lws_callback_on_writable(c->wsi);
}

/* Write one queued frame. */
static int
live_write(struct live_conn *c)
{
	struct live_frame	*f;
	int			 n;

	if (c->qlen == 0)
		return (0);
	f = &c->queue[c->qhead];
	n = lws_write(c->wsi, (unsigned char *)f->text + LWS_PRE, f->len,
	    LWS_WRITE_TEXT);
	free(f->text);
	f->text = NULL;
	c->qhead = (c->qhead + 1) % INBOX_QUEUE_MAX;
	c->qlen--;
	if (n < (int)f->len)
		return (-1);
	if (c->qlen > 0)
		lws_callback_on_writable(c->wsi);
	return (0);
}

/* Whether any page is connected. */
int
inbox_live_active(void)
{
	return (live_count > 0);
}

/* Whether an agent has a page open. */
int
inbox_live_online(int64_t agent_id)
{
	struct live_conn	*c;

	for (c = live_conns; c != NULL; c = c->next) {
		if (c->agent_id == agent_id && c->wsi != NULL)
			return (1);
	}
	return (0);
}

/*
 * Whether every event after last is in the ring with its frame (none was
 * overwritten, none happened while no page was connected).
 */
static int
live_can_replay(int64_t last)
{
	int64_t	i;

	if (last >= live_next_id || live_next_id - last > INBOX_RING)
		return (0);
	for (i = last + 1; i < live_next_id; i++) {
		if (live_ring[i % INBOX_RING].id != i ||
		    live_ring[i % INBOX_RING].frame == NULL)
			return (0);
	}
	return (1);
}

/* A change with no page to see it: an id used up, with no frame. */
void
inbox_live_gap(void)
{
	struct live_event	*e;

	if (!live_started)
		return;
	e = &live_ring[live_next_id % INBOX_RING];
	free(e->frame);
	e->frame = NULL;
	e->id = live_next_id++;
}

/* Publish a committed change to every page. */
void
inbox_live_publish(int64_t conversation_id, int64_t message_id,
    int status_only)
{
	struct json_object	*o, *conv = NULL, *msg = NULL;
	struct live_event	*e;
	struct live_conn	*c;
	int64_t			 id;

	if (kefu->store == NULL)
		return;
	if (live_count == 0) {
		inbox_live_gap();
		return;
	}
	if (message_id != 0 && inbox_message(kefu->store, message_id,
	    &msg) != 1)
		return;
	if (conversation_id == 0 && msg != NULL)
		conversation_id = json_object_get_int64(
		    json_object_object_get(msg, "conversation_id"));
	if (inbox_conversation(kefu->store, conversation_id, &conv) != 1) {
		json_object_put(msg);
		return;
	}
	id = live_next_id++;
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("event"));
	json_object_object_add(o, "id", json_object_new_int64(id));
	json_object_object_add(o, "kind", json_object_new_string(
	    msg == NULL ? "conversation" : status_only ? "message_status" :
	    "message"));
	json_object_object_add(o, "conversation_id",
	    json_object_new_int64(conversation_id));
	json_object_object_add(o, "conversation", conv);
	json_object_object_add(o, "message", msg);
	e = &live_ring[id % INBOX_RING];
	free(e->frame);
	e->id = id;
	e->frame = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	for (c = live_conns; c != NULL; c = c->next) {
		if (c->ready)
			live_queue(c, e->frame);
	}
	metrics_inc("kefu_inbox_events_total", NULL);
}

/* A page's hello: send what it missed, or tell it to reload. */
static void
live_hello(struct live_conn *c, int64_t last)
{
	struct json_object	*o;
	int64_t			 i;
	int			 replay;

	replay = last != 0 && live_can_replay(last);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(
	    last != 0 && !replay ? "reset" : "ready"));
	json_object_object_add(o, "last_event",
	    json_object_new_int64(live_next_id - 1));
	live_queue(c, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (replay) {
		for (i = last + 1; i < live_next_id; i++)
			live_queue(c, live_ring[i % INBOX_RING].frame);
	}
	c->ready = 1;
}

/* A frame from a page. */
static void
live_frame(struct live_conn *c)
{
	struct json_object	*o, *t, *v;

	c->rx[c->rxlen] = '\0';
	if ((o = json_tokener_parse(c->rx)) == NULL ||
	    !json_object_object_get_ex(o, "type", &t)) {
		live_queue(c, "{\"type\":\"error\",\"code\":\"bad_request\"}");
		json_object_put(o);
		return;
	}
	if (strcmp(json_object_get_string(t), "hello") == 0) {
		v = json_object_object_get(o, "last_event");
		live_hello(c, v != NULL ? json_object_get_int64(v) : 0);
	} else if (strcmp(json_object_get_string(t), "ping") == 0)
		live_queue(c, "{\"type\":\"pong\"}");
	else
		live_queue(c, "{\"type\":\"error\",\"code\":\"bad_request\"}");
	json_object_put(o);
}

/* The value of cookie name in a Cookie header, or NULL.  Caller frees. */
static char *
live_cookie(const char *header, const char *name)
{
	const char	*p = header, *end;
	size_t		 len = strlen(name);

	while (*p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, len) == 0 && p[len] == '=') {
			p += len + 1;
			end = strchr(p, ';');
			return (end != NULL ? xstrndup(p, end - p) :
			    xstrdup(p));
		}
		if ((p = strchr(p, ';')) == NULL)
			break;
	}
	return (NULL);
}

/* Whether an Origin header names the Host the request came to. */
static int
live_origin_ok(struct lws *wsi)
{
	char		 origin[256], host[256];
	const char	*o;

	if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
		return (1);	/* not a browser */
	if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
		return (0);
	if ((o = strstr(origin, "://")) == NULL)
		return (0);
	return (strcmp(o + 3, host) == 0);
}

/* Accept an upgrade: the path, the origin and a session. */
static int
live_filter(struct lws *wsi, int64_t *agent_id)
{
	struct agent	 a;
	char		 uri[64], cookie[1024], *token;
	int		 r;

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 ||
	    strcmp(uri, "/api/live") != 0)
		return (-1);
	if (!live_origin_ok(wsi)) {
		log_warnx("inbox", "msg=\"live connection from another "
		    "origin refused\"");
		return (-1);
	}
	if (lws_hdr_copy(wsi, cookie, sizeof cookie,
	    WSI_TOKEN_HTTP_COOKIE) <= 0 ||
	    (token = live_cookie(cookie, "kefu_session")) == NULL)
		return (-1);
	memset(&a, 0, sizeof a);
	r = auth_session_check(kefu->store, token, now_ms(),
	    (int64_t)kefu->cfg->inbox_session_idle * 1000, &a, NULL);
	free(token);
	if (r != 1)
		return (-1);
	*agent_id = a.id;
	agent_clear(&a);
	return (0);
}

/* The protocol callback. */
static int
live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct live_session	*s = user;
	struct live_conn	*c, **pp;
	int64_t			 agent_id = 0;
	size_t			 i;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (live_filter(wsi, &agent_id) != 0)
			return (-1);
		c = xcalloc(1, sizeof *c);
		c->agent_id = agent_id;
		c->queue = xcalloc(INBOX_QUEUE_MAX, sizeof *c->queue);
		s->c = c;
		return (0);
	case LWS_CALLBACK_ESTABLISHED:
		if ((c = s->c) == NULL)
			return (-1);
		c->wsi = wsi;
		c->next = live_conns;
		live_conns = c;
		live_count++;
		metrics_set("kefu_inbox_connections", NULL, (double)live_count);
		log_info("inbox", "msg=\"page connected\" agent=%lld",
		    (long long)c->agent_id);
		break;
	case LWS_CALLBACK_RECEIVE:
		if ((c = s->c) == NULL)
			break;
		if (c->rxlen + len > INBOX_RX_MAX)
			return (-1);
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
		if (lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0) {
			live_frame(c);
			c->rxlen = 0;
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if ((c = s->c) != NULL)
			return (live_write(c));
		break;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if ((c = s != NULL ? s->c : NULL) == NULL)
			break;
		s->c = NULL;
		if (c->wsi != NULL) {
			for (pp = &live_conns; *pp != NULL; pp = &(*pp)->next) {
				if (*pp == c) {
					*pp = c->next;
					break;
				}
			}
			live_count--;
			metrics_set("kefu_inbox_connections", NULL,
			    (double)live_count);
		}
		for (i = 0; i < c->qlen; i++)
			free(c->queue[(c->qhead + i) % INBOX_QUEUE_MAX].text);
		free(c->queue);
		free(c);
		break;
	default:
		break;
	}
	return (0);
}

static const struct lws_protocols live_protocol = {
	"kefu-inbox", live_callback, sizeof(struct live_session), INBOX_RX_MAX,
	0, NULL, 0
};

/* The periodic inbox work. */
static void
live_tick(uv_timer_t *t)
{
	(void)t;
	inbox_tick();
}

/* Register the protocol and start the tick. */
void
inbox_live_init(void)
{
	live_next_id = now_ms();
	server_add_protocol(&live_protocol);
	uv_timer_init(kefu->loop, &live_timer);
	uv_timer_start(&live_timer, live_tick, INBOX_TICK_MS, INBOX_TICK_MS);
	live_started = 1;
}

/* Stop the tick and forget the ring. */
void
inbox_live_shutdown(void)
{
	size_t	i;

	if (!live_started)
		return;
	uv_timer_stop(&live_timer);
	uv_close((uv_handle_t *)&live_timer, NULL);
	for (i = 0; i < INBOX_RING; i++) {
		free(live_ring[i].frame);
		live_ring[i].frame = NULL;
	}
	live_started = 0;
}
