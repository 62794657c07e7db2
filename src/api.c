/*
 * The JSON API under /api/ (docs/api.md): what the inbox pages and other
 * tools use.  One route handler parses the path, authenticates the
 * request (a session cookie, with the CSRF header on every POST, or an
 * API token), checks the role and calls the inbox module.  State-changing
 * answers are sent after the commit that made them true.
 *
 * Login verifies the argon2id hash (about 0.1 s and 64 MiB) on libuv's
 * thread pool, so the loop keeps serving while it runs.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libwebsockets.h>
#include <sodium.h>

#include "api.h"
#include "auth.h"
#include "canned.h"
#include "config.h"
#include "inbox.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

#define API_COOKIE	"kefu_session"
#define API_SEGMENTS	6

/* A request being served. */
struct api_call {
	struct http_request	*req;
	struct agent		 agent;		/* who; id 0 before auth */
	int			 by_token;	/* an API token, not a session */
	char			*seg[API_SEGMENTS];
	size_t			 nseg;
	struct json_object	*body;		/* parsed POST body, or NULL */
	int64_t			 id;		/* the conversation, if any */
	int			 status;	/* after the commit */
	struct json_object	*answer;
	char			*cookie;	/* set-cookie value, or NULL */
};

/* A login on the thread pool. */
struct api_login {
	uv_work_t		 work;
	struct http_request	*req;
	struct auth_attempt	 attempt;
	char			*password;
	int			 secure;
};

/* Free a call. */
static void
api_call_free(struct api_call *c)
{
	size_t	i;

	for (i = 0; i < c->nseg; i++)
		free(c->seg[i]);
	json_object_put(c->body);
	json_object_put(c->answer);
	agent_clear(&c->agent);
	free(c->cookie);
	free(c);
}

/* Send a JSON answer now. */
static void
api_send(struct http_request *req, int status, struct json_object *o)
{
	const char	*js;

	if (o == NULL) {
		http_respond(req, status, NULL, NULL, 0);
		return;
	}
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	http_respond(req, status, "application/json", js, strlen(js));
}

/* Send a call's answer once the transaction it wrote has committed. */
static void
api_after_commit(void *arg)
{
	struct api_call	*c = arg;

	if (c->cookie != NULL)
		http_add_header(c->req, "set-cookie:", c->cookie);
	api_send(c->req, c->status, c->answer);
	api_call_free(c);
}

/* Answer with an error and free the call. */
static void
api_error(struct api_call *c, int status, const char *code, const char *text)
{
	http_respond_error(c->req, status, code, text);
	api_call_free(c);
}

/* Answer with an object (taken) now and free the call. */
static void
api_ok(struct api_call *c, int status, struct json_object *o)
{
	api_send(c->req, status, o);
	json_object_put(o);
	api_call_free(c);
}

/* Answer with an object (taken) after the commit. */
static void
api_ok_after_commit(struct api_call *c, int status, struct json_object *o)
{
	c->status = status;
	c->answer = o;
	pipeline_after_commit(api_after_commit, c);
}

/* Whether the client reached kefu over TLS (a proxy says so). */
static int
api_secure(struct http_request *req)
{
	char	proto[16];

	if (kefu->cfg->inbox_secure_cookie)
		return (1);
	return (http_request_header(req, "x-forwarded-proto", proto,
	    sizeof proto) > 0 && strcmp(proto, "https") == 0);
}

/* The session cookie's value for a token ("" ends it).  Caller frees. */
static char *
api_cookie(const char *token, int secure)
{
	if (*token == '\0')
		return (xasprintf("%s=; Path=/; Max-Age=0; HttpOnly; "
		    "SameSite=Strict%s", API_COOKIE, secure ? "; Secure" : ""));
	return (xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
	    API_COOKIE, token, secure ? "; Secure" : ""));
}

/* The value of the session cookie, or NULL.  Caller frees. */
static char *
api_session_token(struct http_request *req)
{
	char		 header[2048], *end;
	const char	*p;
	size_t		 len = strlen(API_COOKIE);

	if (http_request_header(req, "cookie", header, sizeof header) <= 0)
		return (NULL);
	for (p = header; *p != '\0'; ) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, API_COOKIE, len) == 0 && p[len] == '=') {
			p += len + 1;
			if ((end = strchr(p, ';')) != NULL)
				return (xstrndup(p, end - p));
			return (xstrdup(p));
		}
		if ((p = strchr(p, ';')) == NULL)
			break;
	}
	return (NULL);
}

/* Whether a browser's Origin (if any) is this host. */
static int
api_origin_ok(struct http_request *req)
{
	char		 origin[256], host[256];
	const char	*o;

	if (http_request_header(req, "origin", origin, sizeof origin) <= 0)
		return (1);
	if (http_request_header(req, "host", host, sizeof host) <= 0 ||
	    (o = strstr(origin, "://")) == NULL)
		return (0);
	return (strcmp(o + 3, host) == 0);
}

/*
 * Authenticate a call: an API token, or a session (with the CSRF token
 * and a same-origin check on a POST).  0, or -1 after answering.
 */
static int
api_authenticate(struct api_call *c, int post)
{
	char		 header[512], *token, *csrf = NULL;
	int64_t		 now = now_ms();
	int		 r;

	if (http_request_header(c->req, "authorization", header,
	    sizeof header) > 0) {
		if (strncmp(header, "Bearer ", 7) != 0) {
			api_error(c, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
			    "use Authorization: Bearer TOKEN");
			return (-1);
		}
		r = auth_token_check(kefu->store, header + 7, now, &c->agent);
		if (r != 1) {
			api_error(c, r == -1 ? 500 : HTTP_STATUS_UNAUTHORIZED,
			    r == -1 ? "store_failed" : "unauthorized",
			    "the API token is not valid");
			return (-1);
		}
		c->by_token = 1;
		return (0);
	}
	if ((token = api_session_token(c->req)) == NULL) {
		api_error(c, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "log in first");
		return (-1);
	}
	r = auth_session_check(kefu->store, token, now,
	    (int64_t)kefu->cfg->inbox_session_idle * 1000, &c->agent, &csrf);
	free(token);
	if (r != 1) {
		free(csrf);
		api_error(c, r == -1 ? 500 : HTTP_STATUS_UNAUTHORIZED,
		    r == -1 ? "store_failed" : "unauthorized",
		    "the session has ended; log in again");
		return (-1);
	}
	if (post) {
		if (http_request_header(c->req, "x-csrf-token", header,
		    sizeof header) <= 0 || !auth_csrf_ok(csrf, header) ||
		    !api_origin_ok(c->req)) {
			free(csrf);
			metrics_inc("kefu_api_rejected_total", "why=\"csrf\"");
			api_error(c, HTTP_STATUS_FORBIDDEN, "csrf",
			    "missing or wrong X-CSRF-Token");
			return (-1);
		}
	}
	free(csrf);
	return (0);
}

/* A string member of the body, or NULL. */
static const char *
api_body_str(struct api_call *c, const char *key)
{
	struct json_object	*v;

	if (c->body == NULL || !json_object_object_get_ex(c->body, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* --- login ------------------------------------------------------------ */

/* The password check, on the thread pool. */
static void
api_login_work(uv_work_t *w)
{
	struct api_login	*l = w->data;

	auth_login_verify(&l->attempt, l->password);
}

/* Back on the loop: record the outcome and answer. */
static void
api_login_done(uv_work_t *w, int status)
{
	struct api_login	*l = w->data;
	struct auth_session	 sess;
	struct api_call		*c;
	struct json_object	*o;
	char			*cause = NULL;
	int			 r;

	memset(&sess, 0, sizeof sess);
	r = status == 0 ? auth_login_finish(kefu->store, &l->attempt,
	    now_ms(), &sess, &cause) : -1;
	if (r == 1) {
		c = xcalloc(1, sizeof *c);
		c->req = l->req;
		o = json_object_new_object();
		json_object_object_add(o, "agent",
		    inbox_agent_json(kefu->store, &sess.agent));
		json_object_object_add(o, "csrf",
		    json_object_new_string(sess.csrf));
		c->cookie = api_cookie(sess.token, l->secure);
		log_info("api", "msg=\"login\" agent=%lld",
		    (long long)sess.agent.id);
		api_ok_after_commit(c, HTTP_STATUS_OK, o);
	} else if (r == 0) {
		metrics_inc("kefu_api_logins_total", "outcome=\"bad\"");
		http_respond_error(l->req, HTTP_STATUS_UNAUTHORIZED,
		    "bad_login", "wrong name or password");
	} else {
		log_warnx("api", "msg=\"login failed\" error=%s", logq(cause));
		http_respond_error(l->req, 500, "store_failed",
		    "the login could not be recorded");
	}
	free(cause);
	auth_session_clear(&sess);
	auth_attempt_clear(&l->attempt);
	sodium_memzero(l->password, strlen(l->password));
	free(l->password);
	free(l);
}

/* POST /api/login: start the attempt; the check runs off the loop. */
static void
api_login(struct api_call *c)
{
	struct api_login	*l;
	const char		*name, *password;
	char			*cause = NULL;
	int64_t			 retry = 0;
	int			 r;
	char			 buf[32];
	struct json_object	*o;

	name = api_body_str(c, "name");
	password = api_body_str(c, "password");
	if (name == NULL || password == NULL) {
		api_error(c, HTTP_STATUS_BAD_REQUEST, "bad_request",
		    "name and password are required strings");
		return;
	}
	l = xcalloc(1, sizeof *l);
	r = auth_login_begin(kefu->store, name, http_request_peer(c->req),
	    now_ms(), &l->attempt, &retry, &cause);
	if (r != 1) {
		auth_attempt_clear(&l->attempt);
		free(l);
		if (r == AUTH_THROTTLED) {
			metrics_inc("kefu_api_logins_total",
			    "outcome=\"throttled\"");
			snprintf(buf, sizeof buf, "%lld",
			    (long long)((retry + 999) / 1000));
			http_add_header(c->req, "retry-after:", buf);
			o = json_object_new_object();
			json_object_object_add(o, "error",
			    json_object_new_string("throttled"));
			json_object_object_add(o, "message",
			    json_object_new_string("too many failed logins"));
			json_object_object_add(o, "retry_after",
			    json_object_new_int64((retry + 999) / 1000));
			api_ok(c, 429, o);
		} else {
			log_warnx("api", "msg=\"login failed\" error=%s",
			    logq(cause));
			api_error(c, 500, "store_failed", "login failed");
		}
		free(cause);
		return;
	}
	l->req = c->req;
	l->password = xstrdup(password);
	l->secure = api_secure(c->req);
	l->work.data = l;
	c->req = NULL;
	api_call_free(c);
	uv_queue_work(kefu->loop, &l->work, api_login_work, api_login_done);
}

/* POST /api/logout. */
static void
api_logout(struct api_call *c)
{
	char	*token;

	if ((token = api_session_token(c->req)) != NULL) {
		auth_logout(kefu->store, token);
		free(token);
	}
	c->cookie = api_cookie("", api_secure(c->req));
	api_ok_after_commit(c, HTTP_STATUS_NO_CONTENT, NULL);
}

/* GET /api/me. */
static void
api_me(struct api_call *c)
{
	struct json_object	*o;
	char			*token, *csrf = NULL;
	struct agent		 a;

	o = json_object_new_object();
	json_object_object_add(o, "agent", inbox_agent_json(kefu->store,
	    &c->agent));
	if (!c->by_token && (token = api_session_token(c->req)) != NULL) {
		memset(&a, 0, sizeof a);
		if (auth_session_check(kefu->store, token, now_ms(),
		    (int64_t)kefu->cfg->inbox_session_idle * 1000, &a,
		    &csrf) == 1)
			json_object_object_add(o, "csrf",
			    json_object_new_string(csrf));
		agent_clear(&a);
		free(csrf);
		free(token);
	}
	api_ok(c, HTTP_STATUS_OK, o);
}

/* --- conversations ----------------------------------------------------- */

/* A query argument as an int, or def. */
static int
api_query_int(struct http_request *req, const char *name, int def)
{
	char	 buf[32], *end;
	long	 v;

	if (http_request_query(req, name, buf, sizeof buf) <= 0)
		return (def);
	v = strtol(buf, &end, 10);
	if (*end != '\0' || v < 0 || v > 1000000)
		return (def);
	return ((int)v);
}

/* GET /api/conversations. */
static void
api_conversations(struct api_call *c)
{
	struct inbox_filter	 f;
	struct json_object	*o;
	char			 view[16], channel[32], q[256], *cause = NULL;
	int			 r;

	memset(&f, 0, sizeof f);
	f.view = http_request_query(c->req, "view", view, sizeof view) > 0 ?
	    view : "open";
	f.channel = http_request_query(c->req, "channel", channel,
	    sizeof channel) > 0 ? channel : NULL;
	f.q = http_request_query(c->req, "q", q, sizeof q) > 0 ? q : NULL;
	f.limit = api_query_int(c->req, "limit", 50);
	f.offset = api_query_int(c->req, "offset", 0);
	f.agent_id = c->agent.id;
	r = inbox_list(kefu->store, &f, &o, &cause);
	if (o == NULL) {
		api_error(c, r == 0 ? HTTP_STATUS_BAD_REQUEST : 500,
		    r == 0 ? "bad_request" : "store_failed", cause);
		free(cause);
		return;
	}
	api_ok(c, HTTP_STATUS_OK, o);
}

/* GET /api/conversations/ID. */
static void
api_conversation(struct api_call *c)
{
	struct json_object	*o;
	int			 r;

	if ((r = inbox_get(kefu->store, c->id, &o)) != 1) {
		api_error(c, r == 0 ? HTTP_STATUS_NOT_FOUND : 500,
		    r == 0 ? "not_found" : "store_failed",
		    r == 0 ? "no such conversation" : "the store failed");
		return;
	}
	api_ok(c, HTTP_STATUS_OK, o);
}

/* After the commit: answer with the conversation (and the message). */
static void
api_action_answer(void *arg)
{
	struct api_call		*c = arg;
	struct json_object	*conv = NULL, *msg = NULL, *id;

	if (json_object_object_get_ex(c->answer, "message_id", &id) &&
	    inbox_message(kefu->store, json_object_get_int64(id), &msg) == 1)
		json_object_object_add(c->answer, "message", msg);
	json_object_object_del(c->answer, "message_id");
	if (inbox_conversation(kefu->store, c->id, &conv) == 1)
		json_object_object_add(c->answer, "conversation", conv);
	api_send(c->req, c->status, c->answer);
	api_call_free(c);
}

/* Answer an action's result: the conversation after the commit. */
static void
api_action_result(struct api_call *c, int r, const struct agent *holder,
    const char *why, int64_t message_id)
{
	struct json_object	*o, *v;

	switch (r) {
	case 1:
		o = json_object_new_object();
		if (message_id != 0) {
			/* Committed first, then read: the stored message. */
			json_object_object_add(o, "message_id",
			    json_object_new_int64(message_id));
		}
		c->status = message_id != 0 ? 201 : HTTP_STATUS_OK;
		c->answer = o;
		pipeline_after_commit(api_action_answer, c);
		return;
	case 0:
		api_error(c, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such conversation");
		return;
	case INBOX_CONFLICT:
		o = json_object_new_object();
		json_object_object_add(o, "error",
		    json_object_new_string("conflict"));
		json_object_object_add(o, "message", json_object_new_string(
		    "another agent has this conversation"));
		v = holder != NULL && holder->id != 0 ?
		    inbox_agent_json(kefu->store, holder) : NULL;
		json_object_object_add(o, "assignee", v);
		api_ok(c, HTTP_STATUS_CONFLICT, o);
		return;
	case INBOX_FORBIDDEN:
		api_error(c, HTTP_STATUS_FORBIDDEN, "forbidden",
		    "your role or the conversation's owner does not allow it");
		return;
	case INBOX_BAD_STATE:
		api_error(c, HTTP_STATUS_CONFLICT, "bad_state",
		    why != NULL ? why : "not possible now");
		return;
	default:
		api_error(c, 500, "store_failed", "the change was not saved");
		return;
	}
}

/* POST /api/conversations/ID/ACTION. */
static void
api_action(struct api_call *c, const char *action)
{
	struct json_object	*v;
	struct agent		 holder;
	const char		*text;
	char			*why = NULL;
	int64_t			 message_id = 0, to;
	int			 r, force = 0;

	memset(&holder, 0, sizeof holder);
	if (strcmp(action, "claim") == 0) {
		if (c->body != NULL && json_object_object_get_ex(c->body,
		    "force", &v))
			force = json_object_get_boolean(v);
		r = inbox_claim(kefu->store, c->id, &c->agent, force, &holder);
	} else if (strcmp(action, "reply") == 0 ||
	    strcmp(action, "note") == 0) {
		if ((text = api_body_str(c, "text")) == NULL) {
			api_error(c, HTTP_STATUS_BAD_REQUEST, "bad_request",
			    "text is a required string");
			return;
		}
		r = inbox_write(kefu->store, c->id, &c->agent,
		    strcmp(action, "note") == 0, text,
		    api_body_str(c, "client_id"), &message_id, &why);
	} else if (strcmp(action, "assign") == 0) {
		if (c->body == NULL || !json_object_object_get_ex(c->body,
		    "agent_id", &v) || !json_object_is_type(v, json_type_int)) {
			api_error(c, HTTP_STATUS_BAD_REQUEST, "bad_request",
			    "agent_id is a required integer");
			return;
		}
		to = json_object_get_int64(v);
		r = inbox_assign(kefu->store, c->id, &c->agent, to, &why);
	} else if (strcmp(action, "handback") == 0)
		r = inbox_handback(kefu->store, c->id, &c->agent, &why);
	else if (strcmp(action, "resolve") == 0)
		r = inbox_resolve(kefu->store, c->id, &c->agent, &why);
	else if (strcmp(action, "reopen") == 0)
		r = inbox_reopen(kefu->store, c->id, &c->agent, &why);
	else {
		api_error(c, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such action");
		return;
	}
	if (r >= 0 || r == INBOX_CONFLICT || r == INBOX_FORBIDDEN ||
	    r == INBOX_BAD_STATE)
		metrics_inc("kefu_api_actions_total", NULL);
	api_action_result(c, r, &holder, why, message_id);
	agent_clear(&holder);
	free(why);
}

/* --- agents and canned replies ----------------------------------------- */

/* Add one agent to an array. */
static int
api_agent_item(void *arg, const struct agent *a)
{
	json_object_array_add(arg, inbox_agent_json(kefu->store, a));
	return (0);
}

/* GET /api/agents. */
static void
api_agents(struct api_call *c)
{
	struct json_object	*o, *arr;

	arr = json_object_new_array();
	if (auth_agent_list(kefu->store, api_agent_item, arr) != 0) {
		json_object_put(arr);
		api_error(c, 500, "store_failed", "the store failed");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "agents", arr);
	api_ok(c, HTTP_STATUS_OK, o);
}

/* Add one canned reply to an array. */
static int
api_canned_item(void *arg, const struct canned *k)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "shortcut",
	    json_object_new_string(k->shortcut));
	json_object_object_add(o, "text", json_object_new_string(k->text));
	json_object_array_add(arg, o);
	return (0);
}

/* GET /api/canned, POST /api/canned, POST /api/canned/NAME/delete. */
static void
api_canned(struct api_call *c, int post)
{
	struct json_object	*o, *arr;
	const char		*shortcut, *text;
	char			*cause = NULL;
	int			 r;

	if (!post) {
		arr = json_object_new_array();
		if (canned_list(kefu->store, api_canned_item, arr) != 0) {
			json_object_put(arr);
			api_error(c, 500, "store_failed", "the store failed");
			return;
		}
		o = json_object_new_object();
		json_object_object_add(o, "canned", arr);
		api_ok(c, HTTP_STATUS_OK, o);
		return;
	}
	if (!auth_allowed(&c->agent, AUTH_MANAGE_CANNED)) {
		api_error(c, HTTP_STATUS_FORBIDDEN, "forbidden",
		    "only admins manage canned replies");
		return;
	}
	if (c->nseg == 4 && strcmp(c->seg[3], "delete") == 0) {
		r = canned_remove(kefu->store, c->seg[2]);
		if (r == 0) {
			api_error(c, HTTP_STATUS_NOT_FOUND, "not_found",
			    "no such canned reply");
			return;
		}
	} else if (c->nseg == 2) {
		shortcut = api_body_str(c, "shortcut");
		text = api_body_str(c, "text");
		if (shortcut == NULL || text == NULL) {
			api_error(c, HTTP_STATUS_BAD_REQUEST, "bad_request",
			    "shortcut and text are required strings");
			return;
		}
		r = canned_set(kefu->store, shortcut, text, c->agent.id,
		    now_ms(), &cause) == 0 ? 1 : 0;
		if (r == 0) {
			api_error(c, HTTP_STATUS_BAD_REQUEST, "bad_request",
			    cause != NULL ? cause : "not a canned reply");
			free(cause);
			return;
		}
	} else {
		api_error(c, HTTP_STATUS_NOT_FOUND, "not_found", "no such path");
		return;
	}
	if (r < 0) {
		api_error(c, 500, "store_failed", "the store failed");
		return;
	}
	api_ok_after_commit(c, HTTP_STATUS_OK, json_object_new_object());
}

/* --- the route ----------------------------------------------------------- */

/* Split "/api/a/b" into segments after "api"; -1 if too many. */
static int
api_split(struct api_call *c, const char *path)
{
	const char	*p = path, *end;

	while (*p == '/')
		p++;
	while (*p != '\0') {
		if (c->nseg == API_SEGMENTS)
			return (-1);
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		c->seg[c->nseg++] = xstrndup(p, end - p);
		p = end;
		while (*p == '/')
			p++;
	}
	return (0);
}

/* Whether the rest of a body is only white space. */
static int
api_only_space(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' &&
		    p[i] != '\n')
			return (0);
	}
	return (1);
}

/* Parse a positive id; 0 if it is not one. */
static int64_t
api_parse_id(const char *s)
{
	char		*end;
	long long	 v;

	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v <= 0)
		return (0);
	return ((int64_t)v);
}

/* Every request under /api/. */
static void
api_handler(struct http_request *req, void *arg)
{
	struct api_call		*c;
	struct json_tokener	*tok;
	const char		*body;
	size_t			 len;
	int			 post;

	(void)arg;
	c = xcalloc(1, sizeof *c);
	c->req = req;
	post = strcmp(http_request_method(req), "POST") == 0;
	if (api_split(c, http_request_path(req)) != 0 || c->nseg < 2 ||
	    strcmp(c->seg[0], "api") != 0) {
		api_error(c, HTTP_STATUS_NOT_FOUND, "not_found", "no such path");
		return;
	}
	if (post) {
		body = http_request_body(req, &len);
		if (len > 0) {
			tok = json_tokener_new();
			c->body = json_tokener_parse_ex(tok, body, (int)len);
			if (c->body == NULL ||
			    json_tokener_get_error(tok) != json_tokener_success ||
			    !json_object_is_type(c->body, json_type_object) ||
			    !api_only_space(body + json_tokener_get_parse_end(
			    tok), len - json_tokener_get_parse_end(tok))) {
				json_tokener_free(tok);
				api_error(c, HTTP_STATUS_BAD_REQUEST,
				    "bad_request", "the body is not a JSON "
				    "object");
				return;
			}
			json_tokener_free(tok);
		}
	}
	if (post && c->nseg == 2 && strcmp(c->seg[1], "login") == 0) {
		/* A login from another site would log the browser in. */
		if (!api_origin_ok(req)) {
			api_error(c, HTTP_STATUS_FORBIDDEN, "csrf",
			    "a login from another origin");
			return;
		}
		api_login(c);
		return;
	}
	if (api_authenticate(c, post) != 0)
		return;
	if (c->nseg == 2 && strcmp(c->seg[1], "logout") == 0 && post)
		api_logout(c);
	else if (c->nseg == 2 && strcmp(c->seg[1], "me") == 0 && !post)
		api_me(c);
	else if (c->nseg == 2 && strcmp(c->seg[1], "agents") == 0 && !post)
		api_agents(c);
	else if (c->nseg >= 2 && strcmp(c->seg[1], "canned") == 0)
		api_canned(c, post);
	else if (c->nseg == 2 && strcmp(c->seg[1], "conversations") == 0 &&
	    !post)
		api_conversations(c);
	else if (c->nseg >= 3 && strcmp(c->seg[1], "conversations") == 0 &&
	    (c->id = api_parse_id(c->seg[2])) != 0) {
		if (c->nseg == 3 && !post)
			api_conversation(c);
		else if (c->nseg == 4 && post)
			api_action(c, c->seg[3]);
		else
			api_error(c, HTTP_STATUS_METHOD_NOT_ALLOWED,
			    "method_not_allowed", "use GET to read and POST "
			    "to act");
	} else
		api_error(c, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such path");
}

/* Serve /api/. */
void
api_init(void)
{
	server_add_route("/api", api_handler, NULL);
	inbox_live_init();
}
