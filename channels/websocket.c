/*
 * The web/in-app chat widget channel: JSON text frames over WebSocket at
 * channels.websocket.path (docs/widget-protocol.md).
 *
 * Each connection has a bounded queue of outgoing frames, written one per
 * LWS_CALLBACK_SERVER_WRITEABLE.  Server messages carry a per-visitor
 * sequence number; a connection remembers the highest one it has queued
 * (sent_seq) and the highest committed one it should have (want_seq), and
 * the writeable callback reads the gap from the store in small chunks.  So
 * live delivery, replay after a reconnect and a redelivery after a crash
 * are the same code, and none of them can skip or repeat a message.
 *
 * Acks and the "ready" answer to hello are sent only after the commit that
 * made them true (pipeline_inbound, pipeline_after_commit).  Connections
 * are reference-counted because those callbacks can outlive them.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <utf8proc.h>

#include "channel.h"
#include "config.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

#define WS_ID_MAX	64
#define WS_TEXT_MAX	4096	/* characters */
#define WS_VALUE_MAX	256
#define WS_CHUNK	16	/* messages read from the store at a time */
#define WS_HASH_SIZE	16384

enum ws_state {
	WS_NEW = 0,		/* no hello yet */
	WS_HELLO,		/* hello stored, waiting for the commit */
	WS_READY		/* ready sent */
};

struct ws_frame {
	unsigned char	*buf;	/* LWS_PRE bytes, then the payload */
	size_t		 len;
};

struct ws_conn {
	struct lws	*wsi;		/* NULL once closed */
	int		 refs;
	enum ws_state	 state;
	int64_t		 contact_id;
	char		*key;		/* "v:VISITOR" or "u:USER" */
	int64_t		 sent_seq;	/* highest seq queued */
	int64_t		 want_seq;	/* highest committed seq owed */

	struct ws_frame	*q;		/* ring of outgoing frames */
	size_t		 qhead, qlen, qsize;
	int		 overflow;	/* queue was full: close */
	int		 rx_paused;

	unsigned char	*rx;		/* message being assembled */
	size_t		 rxlen, rxcap;
	int		 discard;	/* skip the rest of this message */
	int		 too_large;	/* close once the frame is skipped */

	double		 tokens;	/* rate limit bucket */
	int64_t		 refill_at;

	struct ws_conn	*hnext;		/* contact hash chain */
};

struct ws_session {
	struct ws_conn	*c;
};

struct ws_ack {
	struct ws_conn	*c;
	char		*id;
};

static struct ws_conn	*ws_hash[WS_HASH_SIZE];
static int		 ws_count;

static void	ws_send_error(struct ws_conn *, const char *, const char *,
		    const char *);

static size_t
ws_hash_slot(int64_t contact_id)
{
	return ((size_t)((uint64_t)contact_id * 0x9E3779B97F4A7C15ULL >> 50) %
	    WS_HASH_SIZE);
}

static void
ws_hash_add(struct ws_conn *c)
{
	size_t	slot = ws_hash_slot(c->contact_id);

	c->hnext = ws_hash[slot];
	ws_hash[slot] = c;
}

static void
ws_hash_remove(struct ws_conn *c)
{
	struct ws_conn	**pp;

	for (pp = &ws_hash[ws_hash_slot(c->contact_id)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			return;
		}
	}
}

/* Drop a reference; the last one frees the connection's memory. */
static void
ws_conn_unref(struct ws_conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->key);
	free(c);
}

/* Free what a closed connection still holds, except the struct itself. */
static void
ws_conn_release(struct ws_conn *c)
{
	size_t	i;

	for (i = 0; i < c->qlen; i++)
		free(c->q[(c->qhead + i) % c->qsize].buf);
	free(c->q);
	c->q = NULL;
	c->qlen = c->qhead = c->qsize = 0;
	free(c->rx);
	c->rx = NULL;
	c->rxlen = c->rxcap = 0;
}

/* Double the ring (idle connections keep a small one), up to queue_max. */
static void
ws_queue_grow(struct ws_conn *c)
{
	size_t		 nsize, i;
	struct ws_frame	*nq;

	nsize = c->qsize == 0 ? 4 : c->qsize * 2;
	if (nsize > (size_t)kefu->cfg->ws_queue_max)
		nsize = (size_t)kefu->cfg->ws_queue_max;
	nq = xcalloc(nsize, sizeof *nq);
	for (i = 0; i < c->qlen; i++)
		nq[i] = c->q[(c->qhead + i) % c->qsize];
	free(c->q);
	c->q = nq;
	c->qsize = nsize;
	c->qhead = 0;
}

/* Queue a frame; a full queue closes the connection (the client replays). */
static void
ws_queue(struct ws_conn *c, const char *text)
{
	struct ws_frame	*f;
	size_t		 len = strlen(text);

	if (c->wsi == NULL || c->overflow)
		return;
	if (c->qlen == c->qsize && c->qsize < (size_t)kefu->cfg->ws_queue_max)
		ws_queue_grow(c);
	if (c->qlen == c->qsize) {
		log_warnx("websocket", "msg=\"send queue full, closing\" "
		    "contact=%lld", (long long)c->contact_id);
		c->overflow = 1;
		lws_callback_on_writable(c->wsi);
		return;
	}
	f = &c->q[(c->qhead + c->qlen) % c->qsize];
	f->buf = xmalloc(LWS_PRE + len);
	memcpy(f->buf + LWS_PRE, text, len);
	f->len = len;
	c->qlen++;
	if (c->qlen > (size_t)kefu->cfg->ws_queue_max / 2 && !c->rx_paused) {
		lws_rx_flow_control(c->wsi, 0);
		c->rx_paused = 1;
	}
	lws_callback_on_writable(c->wsi);
}

/* Queue a json-c object as a frame and release it. */
static void
ws_queue_json(struct ws_conn *c, struct json_object *o)
{
	ws_queue(c, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Send an error frame; id may be NULL. */
static void
ws_send_error(struct ws_conn *c, const char *code, const char *message,
    const char *id)
{
	struct json_object	*o;
	char			 labels[64];

	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (id != NULL)
		json_object_object_add(o, "id", json_object_new_string(id));
	ws_queue_json(c, o);
	snprintf(labels, sizeof labels, "code=\"%s\"", code);
	metrics_inc("kefu_ws_errors_total", labels);
	log_debug("websocket", "msg=\"error frame\" code=%s contact=%lld",
	    code, (long long)c->contact_id);
}

/* Turn a stored outbound message into a frame. */
static int
ws_queue_message(void *arg, const struct message *m)
{
	struct ws_conn		*c = arg;
	struct json_object	*o, *bs, *b;
	size_t			 i;

	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("message"));
	json_object_object_add(o, "seq", json_object_new_int64(m->seq));
	json_object_object_add(o, "author",
	    json_object_new_string(msg_author_name(m->author)));
	json_object_object_add(o, "text",
	    json_object_new_string(m->text != NULL ? m->text : ""));
	if (m->nbuttons > 0) {
		bs = json_object_new_array();
		for (i = 0; i < m->nbuttons; i++) {
			b = json_object_new_object();
			json_object_object_add(b, "title",
			    json_object_new_string(m->buttons[i].title));
			json_object_object_add(b, "value",
			    json_object_new_string(m->buttons[i].value));
			json_object_array_add(bs, b);
		}
		json_object_object_add(o, "buttons", bs);
	}
	json_object_object_add(o, "ts", json_object_new_int64(m->created_at));
	ws_queue_json(c, o);
	c->sent_seq = m->seq;
	return (c->qlen >= WS_CHUNK ? -1 : 0);
}

/* Write one queued frame, topping the queue up from the store first. */
static int
ws_writeable(struct ws_conn *c)
{
	struct ws_frame	*f;
	int		 n;

	if (c->overflow) {
		/* From here lws 4.1 drops the socket without a close frame. */
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    (unsigned char *)"send queue full", 15);
		return (-1);
	}
	if (c->qlen == 0 && c->state == WS_READY &&
	    c->want_seq > c->sent_seq) {
		if (store_message_by_seq(kefu->store, c->contact_id,
		    c->sent_seq, c->want_seq, ws_queue_message, c) == -1)
			return (-1);
	}
	if (c->qlen == 0)
		return (0);
	f = &c->q[c->qhead];
	n = lws_write(c->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
	free(f->buf);
	f->buf = NULL;
	c->qhead = (c->qhead + 1) % c->qsize;
	c->qlen--;
	if (n < (int)f->len)
		return (-1);
	if (c->rx_paused && c->qlen <= (size_t)kefu->cfg->ws_queue_max / 4) {
		lws_rx_flow_control(c->wsi, 1);
		c->rx_paused = 0;
	}
	if (c->qlen > 0 ||
	    (c->state == WS_READY && c->want_seq > c->sent_seq))
		lws_callback_on_writable(c->wsi);
	return (0);
}

/* After the hello's commit: say ready and start the replay. */
static void
ws_hello_ready(void *arg)
{
	struct ws_conn		*c = arg;
	struct contact		 ct;
	struct json_object	*o;

	if (c->wsi == NULL) {
		ws_conn_unref(c);
		return;
	}
	memset(&ct, 0, sizeof ct);
	if (store_contact_get(kefu->store, c->contact_id, &ct) != 1) {
		c->state = WS_NEW;
		ws_send_error(c, "unavailable", "store unavailable, retry",
		    NULL);
		ws_conn_unref(c);
		return;
	}
	/* A client ahead of the store (a wiped database) starts over. */
	if (c->sent_seq > ct.out_seq)
		c->sent_seq = 0;
	c->want_seq = ct.out_seq;
	c->state = WS_READY;
	ws_hash_add(c);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("ready"));
	json_object_object_add(o, "visitor",
	    json_object_new_string(c->key + 2));
	json_object_object_add(o, "seq", json_object_new_int64(ct.out_seq));
	ws_queue_json(c, o);
	contact_clear(&ct);
	ws_conn_unref(c);
}

/* Check a client-chosen id or visitor id: 1-64 of [A-Za-z0-9_-.:]. */
static int
ws_valid_id(const char *s)
{
	size_t	n = strlen(s), i;

	if (n == 0 || n > WS_ID_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_' || s[i] == '.' || s[i] == ':'))
			return (0);
	}
	return (1);
}

/* Verify hex(HMAC-SHA256(secret, user)) in constant time. */
static int
ws_identity_ok(const char *user, const char *sig)
{
	const char	*secret = kefu->cfg->ws_identity_secret;
	unsigned char	 mac[EVP_MAX_MD_SIZE], *want;
	unsigned int	 maclen = 0;
	long		 wantlen = 0;
	int		 ok;

	if (secret == NULL || *secret == '\0')
		return (0);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)user, strlen(user), mac, &maclen) == NULL)
		return (0);
	if ((want = OPENSSL_hexstr2buf(sig, &wantlen)) == NULL)
		return (0);
	ok = (wantlen == (long)maclen &&
	    CRYPTO_memcmp(want, mac, maclen) == 0);
	OPENSSL_free(want);
	return (ok);
}

/* A string member of o, or NULL if absent; -1 if present but not a string. */
static int
ws_get_string(struct json_object *o, const char *key, const char **out)
{
	struct json_object	*v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v,
	    json_type_null))
		return (0);
	if (!json_object_is_type(v, json_type_string))
		return (-1);
	*out = json_object_get_string(v);
	return (1);
}

/* {"type":"hello"}: find or create the contact, then wait for the commit. */
static void
ws_on_hello(struct ws_conn *c, struct json_object *o)
{
	struct json_object	*v, *ident;
	const char		*visitor, *name, *user = NULL, *sig = NULL;
	int64_t			 last_seq = 0;

	if (c->state != WS_NEW) {
		ws_send_error(c, "bad_request", "hello already received", NULL);
		return;
	}
	if (ws_get_string(o, "visitor", &visitor) != 1 ||
	    !ws_valid_id(visitor)) {
		ws_send_error(c, "bad_request",
		    "visitor must be 1-64 characters of A-Z a-z 0-9 - _ . :",
		    NULL);
		return;
	}
	if (json_object_object_get_ex(o, "last_seq", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    (last_seq = json_object_get_int64(v)) < 0) {
			ws_send_error(c, "bad_request",
			    "last_seq must be a non-negative integer", NULL);
			return;
		}
	}
	if (ws_get_string(o, "name", &name) == -1 ||
	    (name != NULL && strlen(name) > 128)) {
		ws_send_error(c, "bad_request", "name must be a short string",
		    NULL);
		return;
	}
	if (json_object_object_get_ex(o, "identity", &ident) &&
	    !json_object_is_type(ident, json_type_null)) {
		if (!json_object_is_type(ident, json_type_object) ||
		    ws_get_string(ident, "user", &user) != 1 ||
		    ws_get_string(ident, "sig", &sig) != 1 ||
		    !ws_valid_id(user) || !ws_identity_ok(user, sig)) {
			ws_send_error(c, "bad_identity",
			    "identity signature does not verify", NULL);
			return;
		}
	}
	free(c->key);
	c->key = user != NULL ? xasprintf("u:%s", user) :
	    xasprintf("v:%s", visitor);
	if (store_contact_ensure(kefu->store, "websocket", "", c->key, name,
	    now_ms(), &c->contact_id) != 0) {
		ws_send_error(c, "unavailable", "store unavailable, retry",
		    NULL);
		return;
	}
	c->sent_seq = last_seq;
	c->state = WS_HELLO;
	c->refs++;
	pipeline_after_commit(ws_hello_ready, c);
}

/* The pipeline's answer for one message: ack or error, after the commit. */
static void
ws_on_ack(void *arg, enum pipeline_status st, const struct message *m)
{
	struct ws_ack		*a = arg;
	struct ws_conn		*c = a->c;
	struct json_object	*o;

	if (c->wsi != NULL) {
		if (st == PIPELINE_FAILED)
			ws_send_error(c, "unavailable",
			    "message not stored, resend it later", a->id);
		else {
			o = json_object_new_object();
			json_object_object_add(o, "type",
			    json_object_new_string("ack"));
			json_object_object_add(o, "id",
			    json_object_new_string(a->id));
			if (st == PIPELINE_DUPLICATE)
				json_object_object_add(o, "duplicate",
				    json_object_new_boolean(1));
			ws_queue_json(c, o);
		}
	}
	free(a->id);
	free(a);
	ws_conn_unref(c);
}

/* {"type":"message"}: validate and hand to the pipeline. */
static void
ws_on_message(struct ws_conn *c, struct json_object *o, const char *raw)
{
	const char	*id, *text, *value;
	struct message	 m;
	struct ws_ack	*a;
	utf8proc_ssize_t n;

	if (c->state == WS_NEW) {
		ws_send_error(c, "not_ready", "say hello first", NULL);
		return;
	}
	if (ws_get_string(o, "id", &id) != 1 || !ws_valid_id(id)) {
		ws_send_error(c, "bad_request",
		    "id must be 1-64 characters of A-Z a-z 0-9 - _ . :", NULL);
		return;
	}
	if (ws_get_string(o, "text", &text) == -1 ||
	    ws_get_string(o, "value", &value) == -1) {
		ws_send_error(c, "bad_request", "text and value must be strings",
		    id);
		return;
	}
	if ((text == NULL || *text == '\0') && (value == NULL ||
	    *value == '\0')) {
		ws_send_error(c, "bad_request", "a message needs text or value",
		    id);
		return;
	}
	if (text != NULL) {
		n = utf8proc_decompose((const utf8proc_uint8_t *)text, 0,
		    NULL, 0, UTF8PROC_NULLTERM);
		if (n < 0 || n > WS_TEXT_MAX) {
			ws_send_error(c, "bad_request",
			    "text is longer than 4096 characters", id);
			return;
		}
	}
	if (value != NULL && strlen(value) > WS_VALUE_MAX) {
		ws_send_error(c, "bad_request", "value is too long", id);
		return;
	}

	memset(&m, 0, sizeof m);
	m.channel = xstrdup("websocket");
	m.account = xstrdup("");
	m.conv_external = xstrdup(c->key);
	m.sender_external = xstrdup(c->key);
	m.external_id = xasprintf("%s#%s", c->key, id);
	m.text = text != NULL ? xstrdup(text) : NULL;
	m.value = value != NULL ? xstrdup(value) : NULL;
	m.raw = xstrdup(raw);
	a = xmalloc(sizeof *a);
	a->c = c;
	a->id = xstrdup(id);
	c->refs++;
	pipeline_inbound(&m, ws_on_ack, a);
	message_clear(&m);
}

/* Take a token from the connection's bucket; 0 if it is empty. */
static int
ws_rate_ok(struct ws_conn *c)
{
	int64_t	now = now_ms();
	double	rate = kefu->cfg->ws_rate_per_sec;
	double	burst = kefu->cfg->ws_rate_burst;

	c->tokens += (double)(now - c->refill_at) * rate / 1000.0;
	if (c->tokens > burst)
		c->tokens = burst;
	c->refill_at = now;
	if (c->tokens < 1.0)
		return (0);
	c->tokens -= 1.0;
	return (1);
}

/* One whole text message has arrived. */
static void
ws_on_frame(struct ws_conn *c, const unsigned char *buf, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o, *t;
	const char		*type;
	char			*raw;

	if (!ws_rate_ok(c)) {
		ws_send_error(c, "rate_limited",
		    "too many frames, slow down and resend", NULL);
		return;
	}
	if (utf8proc_decompose(buf, (utf8proc_ssize_t)len, NULL, 0, 0) < 0) {
		ws_send_error(c, "bad_frame", "text frame is not valid UTF-8",
		    NULL);
		return;
	}
	tok = json_tokener_new_ex(16);
	o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		json_tokener_free(tok);
		ws_send_error(c, "bad_json", "frame is not one JSON object",
		    NULL);
		return;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		ws_send_error(c, "bad_json", "frame is not one JSON object",
		    NULL);
		return;
	}
	if (!json_object_object_get_ex(o, "type", &t) ||
	    !json_object_is_type(t, json_type_string)) {
		json_object_put(o);
		ws_send_error(c, "bad_request", "frame needs a string \"type\"",
		    NULL);
		return;
	}
	type = json_object_get_string(t);
	if (strcmp(type, "hello") == 0)
		ws_on_hello(c, o);
	else if (strcmp(type, "message") == 0) {
		raw = xstrndup((const char *)buf, len);
		ws_on_message(c, o, raw);
		free(raw);
	} else if (strcmp(type, "ping") == 0)
		ws_queue(c, "{\"type\":\"pong\"}");
	else
		ws_send_error(c, "bad_request", "unknown frame type", NULL);
	json_object_put(o);
}

/*
 * Refuse an oversized frame: the error frame, then close with 1009.  This
 * is the one write outside the writeable callback: lws sends a close frame
 * only when the close starts from the receive callback, and what is queued
 * would be dropped by the close anyway (the client resends what is not
 * acked).
 */
static int
ws_refuse_too_large(struct ws_conn *c, struct lws *wsi)
{
	const char	*err = "{\"type\":\"error\",\"code\":\"too_large\","
			    "\"message\":\"frame exceeds the size limit\"}";
	unsigned char	 buf[LWS_PRE + 128];
	size_t		 len = strlen(err);

	memcpy(buf + LWS_PRE, err, len);
	lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
	metrics_inc("kefu_ws_errors_total", "code=\"too_large\"");
	log_info("websocket", "msg=\"frame too large, closing\" "
	    "contact=%lld limit=%d", (long long)c->contact_id,
	    kefu->cfg->ws_max_frame);
	lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
	    (unsigned char *)"frame too large", 15);
	return (-1);
}

/* Collect a message's fragments, refusing anything over max_frame. */
static int
ws_receive(struct ws_conn *c, struct lws *wsi, const void *in, size_t len)
{
	size_t	 max = (size_t)kefu->cfg->ws_max_frame;
	size_t	 remaining = lws_remaining_packet_payload(wsi);
	int	 final;

	final = lws_is_final_fragment(wsi) && remaining == 0;
	if (lws_is_first_fragment(wsi) && c->rxlen == 0)
		c->discard = 0;
	if (c->discard) {
		if (final) {
			c->discard = 0;
			/* Closing with unread data would reset the socket. */
			if (c->too_large)
				return (ws_refuse_too_large(c, wsi));
		}
		return (0);
	}
	if (lws_frame_is_binary(wsi)) {
		c->rxlen = 0;
		c->discard = !final;
		ws_send_error(c, "bad_frame", "binary frames are not accepted",
		    NULL);
		return (0);
	}
	/* Check the size before allocating anything for it. */
	if (c->rxlen + len + remaining > max) {
		c->rxlen = 0;
		c->too_large = 1;
		if (final)
			return (ws_refuse_too_large(c, wsi));
		c->discard = 1;
		return (0);
	}
	if (c->rxlen + len + remaining > c->rxcap) {
		c->rxcap = c->rxlen + len + remaining;
		c->rx = xrealloc(c->rx, c->rxcap + 1);
	}
	memcpy(c->rx + c->rxlen, in, len);
	c->rxlen += len;
	if (!final)
		return (0);
	ws_on_frame(c, c->rx, c->rxlen);
	c->rxlen = 0;
	if (c->rxcap > 4096) {
		free(c->rx);
		c->rx = NULL;
		c->rxcap = 0;
	}
	return (0);
}

/* Is this upgrade for our path, and is there room for it? */
static int
ws_filter(struct lws *wsi)
{
	char	uri[256];

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 ||
	    strcmp(uri, kefu->cfg->ws_path) != 0)
		return (-1);
	if (ws_count >= kefu->cfg->ws_max_connections) {
		log_warnx("websocket", "msg=\"connection refused: limit\" "
		    "limit=%d", kefu->cfg->ws_max_connections);
		return (-1);
	}
	return (0);
}

/* The protocol callback. */
static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ws_session	*s = user;
	struct ws_conn		*c;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return (ws_filter(wsi));
	case LWS_CALLBACK_ESTABLISHED:
		c = xcalloc(1, sizeof *c);
		c->wsi = wsi;
		c->refs = 1;
		c->tokens = kefu->cfg->ws_rate_burst;
		c->refill_at = now_ms();
		s->c = c;
		ws_count++;
		metrics_set("kefu_ws_connections", NULL, ws_count);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (s->c != NULL)
			return (ws_receive(s->c, wsi, in, len));
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (s->c != NULL)
			return (ws_writeable(s->c));
		break;
	case LWS_CALLBACK_CLOSED:
		if ((c = s->c) == NULL)
			break;
		if (c->state == WS_READY)
			ws_hash_remove(c);
		c->wsi = NULL;
		ws_conn_release(c);
		s->c = NULL;
		ws_count--;
		metrics_set("kefu_ws_connections", NULL, ws_count);
		ws_conn_unref(c);
		break;
	default:
		break;
	}
	/* As the vhost's default protocol it also sees plain HTTP. */
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

static const struct lws_protocols ws_protocol = {
	"kefu-widget", ws_callback, sizeof(struct ws_session), 1024, 0, NULL,
	0
};

/* Register the protocol with the server. */
static int
ws_start(struct channel *ch, char **cause)
{
	server_add_protocol(&ws_protocol);
	log_info("websocket", "msg=\"widget channel ready\" path=%s",
	    logq(kefu->cfg->ws_path));
	return (0);
}

/* Nothing of ours outlives the lws context, which closes every socket. */
static void
ws_stop(struct channel *ch)
{
}

/*
 * Deliver a committed message: raise want_seq on every ready connection of
 * the contact.  Without one, the message is held for the next hello.
 */
static void
ws_send(struct channel *ch, const struct message *m, struct delivery *d)
{
	struct ws_conn	*c;
	int		 live = 0;

	for (c = ws_hash[ws_hash_slot(m->contact_id)]; c != NULL;
	    c = c->hnext) {
		if (c->contact_id != m->contact_id || c->wsi == NULL)
			continue;
		live = 1;
		if (m->seq > c->want_seq)
			c->want_seq = m->seq;
		lws_callback_on_writable(c->wsi);
	}
	delivery_done(d, live ? DELIVERY_OK : DELIVERY_HELD, 0, NULL, NULL);
}

const struct channel_ops websocket_channel_ops = {
	"websocket",
	CHANNEL_F_REPLAY | CHANNEL_F_BUTTONS,
	ws_start,
	ws_stop,
	ws_send
};
