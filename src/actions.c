/*
 * Actions, carried out for the engine.
 *
 * order_status with a URL is a GET through the asynchronous HTTP client
 * (httpc.c) on the loop, with the configured headers and time-out.  The
 * answer decides the outcome, and nothing else may: 200 with a JSON object
 * that has a status (after mapping) is ENGINE_ACTION_OK; 404 is
 * ENGINE_ACTION_NOT_FOUND; anything else (another status, a time-out, a
 * connection error, a body that is not JSON or has no status) is
 * ENGINE_ACTION_FAILED, so the bot apologizes instead of inventing a
 * status.  Without a URL the built-in order table answers, after the
 * current loop turn (a zero uv timer), so that a result never arrives
 * inside the step that asked for it.
 *
 * Logs name the action, the conversation, the HTTP status and the time:
 * never the URL (it holds the order number and may hold a key), the
 * headers (secrets) or the body (personal data).
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "actions.h"
#include "config.h"
#include "engine.h"
#include "httpc.h"
#include "kefu.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "orders.h"
#include "pipeline.h"
#include "xmalloc.h"

#define ACTIONS_MAX_RESPONSE	(256 * 1024)	/* bytes of a shop's answer */
#define ACTIONS_MAX_DEPTH	16		/* parts of a dotted path */

/* One look-up in flight. */
struct action {
	int64_t			 conversation_id;
	char			*name;
	char			*order_id;
	int64_t			 started;	/* ms */
	struct httpc_xfer	*xfer;		/* HTTP, or NULL */
	uv_timer_t		*later;		/* built-in table, or NULL */
	struct action		*next;
};

static struct action	*actions_list;
static size_t		 nactions;

/* The fields an empty map takes from the top level. */
static const char *actions_default_fields[] = {
	"status", "carrier", "tracking", "eta", "items", "total"
};

/* Free an action that is no longer in the list. */
static void
action_free(struct action *a)
{
	free(a->name);
	free(a->order_id);
	free(a);
}

/* Take an action out of the list. */
static void
action_unlink(struct action *a)
{
	struct action	**pp;

	for (pp = &actions_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			nactions--;
			return;
		}
	}
}

/* The name of an outcome, for logs, metrics and the events table. */
static const char *
action_outcome(enum engine_action_status status)
{
	switch (status) {
	case ENGINE_ACTION_OK:
		return ("ok");
	case ENGINE_ACTION_NOT_FOUND:
		return ("not_found");
	default:
		return ("failed");
	}
}

/* Hand the result to the engine through the pipeline; result is taken. */
static void
action_finish(struct action *a, enum engine_action_status status,
    struct json_object *result, long http, const char *why)
{
	struct engine_event	ev;
	char			labels[96];

	action_unlink(a);
	snprintf(labels, sizeof labels, "action=\"%s\",outcome=\"%s\"",
	    a->name, action_outcome(status));
	metrics_inc("kefu_actions_total", labels);
	if (status == ENGINE_ACTION_FAILED)
		log_warnx("actions", "msg=\"look-up failed\" conv=%lld "
		    "action=%s http=%ld ms=%lld error=%s",
		    (long long)a->conversation_id, a->name, http,
		    (long long)(now_ms() - a->started), logq(why));
	else
		log_info("actions", "msg=\"look-up done\" conv=%lld action=%s "
		    "outcome=%s http=%ld ms=%lld",
		    (long long)a->conversation_id, a->name,
		    action_outcome(status), http,
		    (long long)(now_ms() - a->started));
	if (!kefu->draining) {
		memset(&ev, 0, sizeof ev);
		ev.type = ENGINE_EV_ACTION_RESULT;
		ev.action = a->name;
		ev.action_status = status;
		ev.action_result = result;
		pipeline_event(a->conversation_id, &ev);
	}
	json_object_put(result);
	action_free(a);
}

/* A member of o by one part of a dotted path (a name or an index). */
static struct json_object *
actions_member(struct json_object *o, const char *part)
{
	struct json_object	*v;
	char			*end;
	long			 i;

	if (json_object_is_type(o, json_type_object))
		return (json_object_object_get_ex(o, part, &v) ? v : NULL);
	if (json_object_is_type(o, json_type_array)) {
		i = strtol(part, &end, 10);
		if (end == part || *end != '\0' || i < 0 ||
		    (size_t)i >= json_object_array_length(o))
			return (NULL);
		return (json_object_array_get_idx(o, (size_t)i));
	}
	return (NULL);
}

/* The value at a dotted path, or NULL. */
static struct json_object *
actions_lookup(struct json_object *o, const char *path)
{
	char	*copy, *part, *dot;
	int	 depth = 0;

	copy = xstrdup(path);
	for (part = copy; part != NULL && o != NULL; part = dot) {
		if ((dot = strchr(part, '.')) != NULL)
			*dot++ = '\0';
		if (++depth > ACTIONS_MAX_DEPTH)
			o = NULL;
		else
			o = actions_member(o, part);
	}
	free(copy);
	return (o);
}

/* Copy one mapped field into out, if the response has it. */
static void
actions_copy(struct json_object *out, const char *key, struct json_object *v)
{
	struct json_object	*copy = NULL;

	if (v == NULL || json_object_is_type(v, json_type_null))
		return;
	if (json_object_deep_copy(v, &copy, NULL) != 0)
		return;
	json_object_object_add(out, key, copy);
}

/* Map a JSON response into the template's order fields. */
struct json_object *
actions_map(struct json_object *resp, const struct config_map *map,
    char **why)
{
	struct json_object	*out, *status;
	size_t			 i;

	if (resp == NULL || !json_object_is_type(resp, json_type_object)) {
		*why = xstrdup("the response is not a JSON object");
		return (NULL);
	}
	out = json_object_new_object();
	if (map == NULL || map->n == 0) {
		for (i = 0; i < sizeof actions_default_fields /
		    sizeof actions_default_fields[0]; i++) {
			actions_copy(out, actions_default_fields[i],
			    actions_lookup(resp, actions_default_fields[i]));
		}
	} else {
		for (i = 0; i < map->n; i++) {
			actions_copy(out, map->keys[i],
			    actions_lookup(resp, map->values[i]));
		}
	}
	if (!json_object_object_get_ex(out, "status", &status) ||
	    (!json_object_is_type(status, json_type_string) &&
	    !json_object_is_type(status, json_type_int)) ||
	    *json_object_get_string(status) == '\0') {
		*why = xstrdup("the response has no status");
		json_object_put(out);
		return (NULL);
	}
	/* Templates compare and print it as a string. */
	if (!json_object_is_type(status, json_type_string))
		json_object_object_add(out, "status", json_object_new_string(
		    json_object_get_string(status)));
	return (out);
}

/* The URL with {order_id} replaced, URL-encoded. */
char *
actions_url(const char *tmpl, const char *order_id)
{
	const char	*p, *at;
	char		*esc, *out, *tmp;

	esc = curl_easy_escape(NULL, order_id, 0);
	out = xstrdup("");
	for (p = tmpl; (at = strstr(p, "{order_id}")) != NULL; p = at + 10) {
		tmp = xasprintf("%s%.*s%s", out, (int)(at - p), p,
		    esc != NULL ? esc : "");
		free(out);
		out = tmp;
	}
	tmp = xasprintf("%s%s", out, p);
	free(out);
	curl_free(esc);
	return (tmp);
}

/* The shop's answer to a look-up. */
static void
actions_http_done(void *arg, const struct httpc_response *r)
{
	struct action		*a = arg;
	struct json_tokener	*tok;
	struct json_object	*resp = NULL, *mapped;
	char			*why = NULL;

	a->xfer = NULL;
	if (r->error != 0) {
		action_finish(a, ENGINE_ACTION_FAILED, NULL, r->status,
		    r->error_text != NULL ? r->error_text : "transfer failed");
		return;
	}
	if (r->status == 404) {
		action_finish(a, ENGINE_ACTION_NOT_FOUND, NULL, r->status,
		    NULL);
		return;
	}
	if (r->status != 200) {
		why = xasprintf("HTTP status %ld", r->status);
		action_finish(a, ENGINE_ACTION_FAILED, NULL, r->status, why);
		free(why);
		return;
	}
	tok = json_tokener_new();
	resp = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	if (resp == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != r->body_len) {
		json_object_put(resp);
		json_tokener_free(tok);
		action_finish(a, ENGINE_ACTION_FAILED, NULL, r->status,
		    "the response is not JSON");
		return;
	}
	json_tokener_free(tok);
	mapped = actions_map(resp, &kefu->cfg->order_map, &why);
	json_object_put(resp);
	if (mapped == NULL) {
		action_finish(a, ENGINE_ACTION_FAILED, NULL, r->status, why);
		free(why);
		return;
	}
	action_finish(a, ENGINE_ACTION_OK, mapped, r->status, NULL);
}

/* Free a timer handle once libuv has closed it. */
static void
actions_timer_closed(uv_handle_t *h)
{
	free(h);
}

/* The built-in order table's answer, one loop turn after the request. */
static void
actions_table_done(uv_timer_t *t)
{
	struct action		*a = t->data;
	struct json_object	*row = NULL, *mapped;
	char			*why = NULL;
	int			 r;

	uv_close((uv_handle_t *)t, actions_timer_closed);
	a->later = NULL;
	if ((r = orders_get(kefu->store, a->order_id, &row)) == -1) {
		action_finish(a, ENGINE_ACTION_FAILED, NULL, 0,
		    "the order table cannot be read");
		return;
	}
	if (r == 0) {
		action_finish(a, ENGINE_ACTION_NOT_FOUND, NULL, 0, NULL);
		return;
	}
	mapped = actions_map(row, NULL, &why);
	json_object_put(row);
	if (mapped == NULL) {
		action_finish(a, ENGINE_ACTION_FAILED, NULL, 0, why);
		free(why);
		return;
	}
	action_finish(a, ENGINE_ACTION_OK, mapped, 0, NULL);
}

/* Start an action for a conversation. */
void
actions_run(int64_t conv, const char *name, struct json_object *params)
{
	const struct kefu_config	*cfg = kefu->cfg;
	struct httpc_request		 req;
	struct json_object		*v;
	struct action			*a;
	const char			**headers;
	char				*url, *cause = NULL;
	size_t				 i;

	a = xcalloc(1, sizeof *a);
	a->conversation_id = conv;
	a->name = xstrdup(name);
	a->started = now_ms();
	if (params != NULL && json_object_object_get_ex(params, "order_id",
	    &v) && json_object_is_type(v, json_type_string))
		a->order_id = xstrdup(json_object_get_string(v));
	json_object_put(params);
	a->next = actions_list;
	actions_list = a;
	nactions++;

	if (strcmp(name, "order_status") != 0 || a->order_id == NULL) {
		action_finish(a, ENGINE_ACTION_FAILED, NULL, 0,
		    "unknown action or no order number");
		return;
	}
	if (cfg->order_url == NULL || *cfg->order_url == '\0') {
		a->later = xcalloc(1, sizeof *a->later);
		uv_timer_init(kefu->loop, a->later);
		a->later->data = a;
		uv_timer_start(a->later, actions_table_done, 0, 0);
		return;
	}

	url = actions_url(cfg->order_url, a->order_id);
	headers = xcalloc(cfg->order_headers.n + 1, sizeof *headers);
	for (i = 0; i < cfg->order_headers.n; i++)
		headers[i] = cfg->order_headers.v[i];
	memset(&req, 0, sizeof req);
	req.method = "GET";
	req.url = url;
	req.headers = headers;
	req.timeout_ms = cfg->order_timeout_ms;
	req.connect_timeout_ms = cfg->order_timeout_ms;
	req.max_response = ACTIONS_MAX_RESPONSE;
	a->xfer = httpc_request(kefu->httpc, &req, actions_http_done, a,
	    &cause);
	free(headers);
	free(url);
	if (a->xfer == NULL) {
		action_finish(a, ENGINE_ACTION_FAILED, NULL, 0, cause);
		free(cause);
	}
}

/* Look-ups in flight. */
size_t
actions_in_flight(void)
{
	return (nactions);
}

/* Cancel every look-up in flight. */
void
actions_shutdown(void)
{
	struct action	*a;

	while ((a = actions_list) != NULL) {
		actions_list = a->next;
		if (a->xfer != NULL)
			httpc_cancel(a->xfer);
		if (a->later != NULL) {
			uv_timer_stop(a->later);
			uv_close((uv_handle_t *)a->later,
			    actions_timer_closed);
		}
		action_free(a);
	}
	nactions = 0;
}
