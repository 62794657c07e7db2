/*
 * The HTTP and WebSocket server: one libwebsockets context on kefu's own
 * libuv loop (a foreign loop), one vhost.  The context is created with
 * LWS_SERVER_OPTION_EXPLICIT_VHOSTS so that a port already in use is an
 * error we see, not a silent failure.
 *
 * Routes: /healthz and /metrics are served by the "kefu-http" protocol
 * below; everything else under / comes from web_root; WebSocket protocols
 * are added by channels (server_add_protocol) before the server starts.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libwebsockets.h>

#include "config.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "server_priv.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define SERVER_MAX_PROTOCOLS	8
#define SERVER_MAX_ROUTES	8

struct http_session {
	char			*body;
	size_t			 len;
	int			 status;
	const char		*type;
	struct http_request	*req;
};

static struct route		server_routes[SERVER_MAX_ROUTES];
static size_t			server_nroutes;
static struct lws_http_mount	server_mounts[SERVER_MAX_ROUTES];
static int			server_in_cb;	/* lws callbacks running */
static struct lws_protocols	server_protocols[SERVER_MAX_PROTOCOLS + 2];
static size_t			server_nprotocols;
static struct lws_http_mount	mount_healthz, mount_metrics, mount_web;
static struct lws_protocol_vhost_options pvo_default = {
	NULL, NULL, "default", "1"
};
static struct lws_protocol_vhost_options pvo_ws;
static const struct lws_protocol_vhost_options mime_extra[] = {
	{ &mime_extra[1], NULL, ".mjs", "text/javascript" },
	{ NULL, NULL, ".json", "application/json" },
};
static lws_retry_bo_t		server_retry;

/* The body of /healthz and its status. */
char *
server_healthz_body(int *status)
{
	int64_t	depth = -1;

	if (kefu->store == NULL || store_outbox_depth(kefu->store, &depth) != 0) {
		*status = HTTP_STATUS_SERVICE_UNAVAILABLE;
		return (xstrdup("{\"status\":\"unavailable\"}\n"));
	}
	if (kefu->draining) {
		*status = HTTP_STATUS_SERVICE_UNAVAILABLE;
		return (xstrdup("{\"status\":\"draining\"}\n"));
	}
	*status = HTTP_STATUS_OK;
	return (xasprintf("{\"status\":\"ok\",\"outbox\":%lld}\n",
	    (long long)depth));
}

/* Build the body of /healthz. */
static void
server_healthz(struct http_session *s)
{
	s->body = server_healthz_body(&s->status);
	s->type = "application/json";
}

/* Build the body of /metrics. */
static void
server_metrics(struct http_session *s)
{
	int64_t	depth;

	if (kefu->store != NULL && store_outbox_depth(kefu->store, &depth) == 0)
		metrics_set("kefu_outbox_depth", NULL, (double)depth);
	s->status = HTTP_STATUS_OK;
	s->body = metrics_render();
	s->type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The route whose prefix matches path (only hooks if hook), or NULL. */
const struct route *
server_find_route(const char *path, int hook)
{
	const struct route	*r, *best = NULL;
	size_t			 i, len;

	for (i = 0; i < server_nroutes; i++) {
		r = &server_routes[i];
		if (hook && !r->hook)
			continue;
		len = strlen(r->prefix);
		if (strncmp(path, r->prefix, len) == 0 &&
		    (path[len] == '\0' || path[len] == '/') &&
		    (best == NULL || len > strlen(best->prefix)))
			best = r;
	}
	return (best);
}

/* Free a request. */
void
http_request_free(struct http_request *req)
{
	size_t	i;

	for (i = 0; i < req->nextra; i++) {
		free(req->extra[i].name);
		free(req->extra[i].value);
	}
	free(req->path);
	free(req->body.s);
	free(req->out);
	free(req);
}

/* Start a request to a route; 0, or -1 to close the connection. */
static int
server_route_start(struct lws *wsi, struct http_session *s, const char *uri,
    int post)
{
	struct http_request	*req;
	const struct route	*r;
	char			 buf[32], *end;
	long long		 n;

	if ((r = server_find_route(uri, 0)) == NULL) {
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return (-1);
	}
	req = xcalloc(1, sizeof *req);
	req->wsi = wsi;
	req->session = s;
	req->route = r;
	req->path = xstrdup(uri);
	req->method = post ? "POST" : "GET";
	s->req = req;
	if (!post) {
		r->handler(req, r->arg);
		return (0);
	}
	if (lws_hdr_copy(wsi, buf, sizeof buf,
	    WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		n = strtoll(buf, &end, 10);
		if (*end != '\0' || n < 0) {
			http_respond_error(req, HTTP_STATUS_BAD_REQUEST,
			    "bad_request", "bad Content-Length");
			return (0);
		}
		if (n > kefu->cfg->http_max_body) {
			http_respond_error(req,
			    HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "too_large",
			    "the body is larger than http.max_body");
			return (0);
		}
		req->expected = (size_t)n;
	}
	/* A body follows in LWS_CALLBACK_HTTP_BODY, then its completion. */
	if (req->expected == 0)
		r->handler(req, r->arg);
	return (0);
}

/* Take a piece of a request body. */
static int
server_route_body(struct http_session *s, const void *in, size_t len)
{
	struct http_request	*req = s->req;

	if (req == NULL || req->answered)
		return (0);
	if (req->body.len + len > (size_t)kefu->cfg->http_max_body) {
		http_respond_error(req, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
		    "too_large", "the body is larger than http.max_body");
		return (0);
	}
	dbuf_add(&req->body, in, len);
	return (0);
}

/* Write the next part of an answer; -1 to close the connection. */
static int
server_route_write(struct lws *wsi, struct http_session *s)
{
	struct http_request	*req = s->req;
	unsigned char		 hdr[LWS_PRE + 2048], *start, *p, *end;
	unsigned char		*buf;
	size_t			 i;
	int			 n;

	if (!req->answered)
		return (0);
	if (!req->headers_sent) {
		start = p = hdr + LWS_PRE;
		end = hdr + sizeof hdr - 1;
		if (lws_add_http_common_headers(wsi, (unsigned)req->status,
		    req->type, (lws_filepos_t)req->outlen, &p, end) ||
		    lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"cache-control:",
		    (const unsigned char *)"no-store", 8, &p, end) ||
		    lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"x-content-type-options:",
		    (const unsigned char *)"nosniff", 7, &p, end))
			return (-1);
		for (i = 0; i < req->nextra; i++) {
			if (lws_add_http_header_by_name(wsi,
			    (const unsigned char *)req->extra[i].name,
			    (const unsigned char *)req->extra[i].value,
			    (int)strlen(req->extra[i].value), &p, end))
				return (-1);
		}
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return (-1);
		req->headers_sent = 1;
		if (req->outlen > 0) {
			lws_callback_on_writable(wsi);
			return (0);
		}
	} else {
		buf = xmalloc(LWS_PRE + req->outlen);
		memcpy(buf + LWS_PRE, req->out, req->outlen);
		n = lws_write(wsi, buf + LWS_PRE, req->outlen,
		    LWS_WRITE_HTTP_FINAL);
		free(buf);
		if (n != (int)req->outlen)
			return (-1);
	}
	s->req = NULL;
	/* An answer before the whole body came (413): do not read on. */
	n = req->body.len < req->expected;
	http_request_free(req);
	if (n || lws_http_transaction_completed(wsi))
		return (-1);
	return (0);
}

/* Serve /healthz or /metrics. */
static int
server_builtin(struct lws *wsi, struct http_session *s, const char *uri)
{
	unsigned char	 hdr[LWS_PRE + 2048], *start, *p, *end;

	if (strcmp(uri, "/healthz") == 0) {
		server_healthz(s);
		metrics_inc("kefu_http_requests_total", "route=\"/healthz\"");
	} else {
		server_metrics(s);
		metrics_inc("kefu_http_requests_total", "route=\"/metrics\"");
	}
	s->len = strlen(s->body);
	start = p = hdr + LWS_PRE;
	end = hdr + sizeof hdr - 1;
	if (lws_add_http_common_headers(wsi, (unsigned)s->status, s->type,
	    (lws_filepos_t)s->len, &p, end) ||
	    lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"cache-control:",
	    (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return (1);
	lws_callback_on_writable(wsi);
	return (0);
}

/* The protocol callback serving /healthz, /metrics and the routes. */
static int
server_http_serve(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct http_session	*s = user;
	unsigned char		*buf;
	char			 uri[256];
	int			 n, post;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
		if (!post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
			lws_return_http_status(wsi,
			    HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
			return (-1);
		}
		if (lws_hdr_copy(wsi, uri, sizeof uri, post ?
		    WSI_TOKEN_POST_URI : WSI_TOKEN_GET_URI) < 0) {
			lws_return_http_status(wsi, HTTP_STATUS_REQ_URI_TOO_LONG,
			    NULL);
			return (-1);
		}
		if (!post && (strcmp(uri, "/healthz") == 0 ||
		    strcmp(uri, "/metrics") == 0))
			return (server_builtin(wsi, s, uri));
		return (server_route_start(wsi, s, uri, post));
	case LWS_CALLBACK_HTTP_BODY:
		return (server_route_body(s, in, len));
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (s->req != NULL && !s->req->answered)
			s->req->route->handler(s->req, s->req->route->arg);
		return (0);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (s->req != NULL)
			return (server_route_write(wsi, s));
		if (s->body == NULL)
			break;
		buf = xmalloc(LWS_PRE + s->len);
		memcpy(buf + LWS_PRE, s->body, s->len);
		n = lws_write(wsi, buf + LWS_PRE, s->len, LWS_WRITE_HTTP_FINAL);
		free(buf);
		free(s->body);
		s->body = NULL;
		if (n != (int)s->len)
			return (1);
		if (lws_http_transaction_completed(wsi))
			return (-1);
		return (0);
	case LWS_CALLBACK_CLOSED_HTTP:
		free(s->body);
		s->body = NULL;
		if (s->req != NULL) {
			if (s->req->answered)
				http_request_free(s->req);
			else
				s->req->wsi = NULL;	/* orphaned */
			s->req = NULL;
		}
		break;
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

/* Count the calls in progress, for http_respond. */
static int
server_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	int	r;

	server_in_cb++;
	r = server_http_serve(wsi, reason, user, in, len);
	server_in_cb--;
	return (r);
}

/* The request's method. */
const char *
http_request_method(const struct http_request *req)
{
	return (req->method);
}

/* The request's path. */
const char *
http_request_path(const struct http_request *req)
{
	return (req->path);
}

/* The request's body ("" if none) and its length. */
const char *
http_request_body(const struct http_request *req, size_t *len)
{
	*len = req->body.len;
	return (req->body.s != NULL ? req->body.s : "");
}

/* Headers lws parses itself, by lower-case name. */
static const struct {
	const char		*name;
	enum lws_token_indexes	 token;
} server_known_headers[] = {
	{ "cookie", WSI_TOKEN_HTTP_COOKIE },
	{ "authorization", WSI_TOKEN_HTTP_AUTHORIZATION },
	{ "origin", WSI_TOKEN_ORIGIN },
	{ "host", WSI_TOKEN_HOST },
	{ "user-agent", WSI_TOKEN_HTTP_USER_AGENT },
	{ "content-type", WSI_TOKEN_HTTP_CONTENT_TYPE },
	{ "x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR },
};

/* Copy a request header's value. */
int
http_request_header(struct http_request *req, const char *name, char *buf,
    size_t size)
{
	char	*lname;
	int	 n, len;
	size_t	 i;

	if (req->hook)
		return (hooks_header(req, name, buf, size));
	if (req->wsi == NULL || size == 0)
		return (-1);
	for (i = 0; i < sizeof server_known_headers /
	    sizeof server_known_headers[0]; i++) {
		if (strcmp(server_known_headers[i].name, name) != 0)
			continue;
		n = lws_hdr_total_length(req->wsi,
		    server_known_headers[i].token);
		if (n <= 0 || (size_t)n + 1 > size)
			return (-1);
		n = lws_hdr_copy(req->wsi, buf, (int)size,
		    server_known_headers[i].token);
		return (n < 0 ? -1 : n);
	}
	lname = xasprintf("%s:", name);
	len = (int)strlen(lname);
	n = lws_hdr_custom_length(req->wsi, lname, len);
	if (n < 0 || (size_t)n + 1 > size) {
		free(lname);
		return (-1);
	}
	n = lws_hdr_custom_copy(req->wsi, buf, (int)size, lname, len);
	free(lname);
	if (n < 0)
		return (-1);
	buf[n] = '\0';
	return (n);
}

/* Copy a query-string argument ("limit") into buf; its length or -1. */
int
http_request_query(struct http_request *req, const char *name, char *buf,
    size_t size)
{
	const char	*v;
	char		*key;
	size_t		 len;

	if (req->hook)
		return (hooks_query(req, name, buf, size));
	if (req->wsi == NULL || size == 0)
		return (-1);
	key = xasprintf("%s=", name);
	v = lws_get_urlarg_by_name(req->wsi, key, buf, (int)size);
	free(key);
	if (v == NULL)
		return (-1);
	len = strlen(v);
	memmove(buf, v, len + 1);
	return ((int)len);
}

/* The client's address, as text ("" if unknown). */
const char *
http_request_peer(struct http_request *req)
{
	if (req->hook)
		hooks_peer(req);
	else if (req->wsi != NULL && req->peer[0] == '\0')
		lws_get_peer_simple(req->wsi, req->peer, sizeof req->peer);
	return (req->peer);
}

/* Add a response header ("set-cookie:", value) to send with the answer. */
void
http_add_header(struct http_request *req, const char *name,
    const char *value)
{
	if (req->nextra == SERVER_MAX_EXTRA)
		log_fatalx("server", "msg=\"too many response headers\"");
	req->extra[req->nextra].name = xstrdup(name);
	req->extra[req->nextra].value = xstrdup(value);
	req->nextra++;
}

/* Answer a request, or free it if its client has gone. */
void
http_respond(struct http_request *req, int status, const char *type,
    const char *body, size_t len)
{
	struct lws	*wsi;

	if (req->answered)
		log_fatalx("server", "msg=\"request answered twice\"");
	if (req->wsi == NULL && !req->hook) {
		http_request_free(req);
		return;
	}
	req->answered = 1;
	req->status = status;
	req->type = type != NULL ? type : "text/plain";
	if (len > 0) {
		req->out = xmalloc(len);
		memcpy(req->out, body, len);
	}
	req->outlen = len;
	if (req->hook) {
		hooks_respond(req);
		return;
	}
	if (server_in_cb == 0 && len == 0) {
		/*
		 * Answered from the loop, not from lws (a commit released
		 * it): write the head now rather than ask for a writable
		 * callback, which costs lws two changes of the poll set.
		 * lws keeps what the socket does not take and sends it first.
		 */
		wsi = req->wsi;
		if (server_route_write(wsi, req->session) != 0)
			lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND,
			    LWS_TO_KILL_ASYNC);
		return;
	}
	lws_callback_on_writable(req->wsi);
}

/* Answer with a small JSON error. */
void
http_respond_error(struct http_request *req, int status, const char *code,
    const char *text)
{
	struct json_object	*o;
	const char		*js;

	o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(text));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	http_respond(req, status, "application/json", js, strlen(js));
	json_object_put(o);
}

/* Add a route under a path prefix. */
static void
server_route_add(const char *prefix, http_handler handler, void *arg,
    int hook)
{
	struct route	*r;

	if (server_nroutes == SERVER_MAX_ROUTES)
		log_fatalx("server", "msg=\"too many routes\"");
	r = &server_routes[server_nroutes];
	r->prefix = xstrdup(prefix);
	r->handler = handler;
	r->arg = arg;
	r->hook = hook;
	r->mount = &server_mounts[server_nroutes++];
}

/* Add a route served by the main listener. */
void
server_add_route(const char *prefix, http_handler handler, void *arg)
{
	server_route_add(prefix, handler, arg, 0);
}

/* Add a channel's webhook route: also on http.webhook_listen. */
void
server_add_hook(const char *prefix, http_handler handler, void *arg)
{
	server_route_add(prefix, handler, arg, 1);
}

/* Add a WebSocket protocol; the first one added is the default. */
void
server_add_protocol(const struct lws_protocols *p)
{
	if (server_nprotocols == SERVER_MAX_PROTOCOLS)
		log_fatalx("server", "msg=\"too many protocols\"");
	server_protocols[1 + server_nprotocols++] = *p;
}

static void
server_mount(struct lws_http_mount *m, const char *point,
    const char *origin, int proto, struct lws_http_mount *next)
{
	memset(m, 0, sizeof *m);
	m->mount_next = next;
	m->mountpoint = point;
	m->mountpoint_len = (unsigned char)strlen(point);
	m->origin = origin;
	m->origin_protocol = (unsigned char)proto;
	if (proto == LWSMPRO_FILE) {
		m->def = "index.html";
		m->extra_mimetypes = mime_extra;
		m->cache_max_age = 60;
		m->cache_reusable = 1;
		m->cache_revalidate = 1;
	}
}

/* Create the lws context and the vhost on kefu's loop. */
int
server_start(char **cause)
{
	struct lws_context_creation_info	 info;
	struct kefu_config			*cfg = kefu->cfg;
	void					*loops[1];
	struct in_addr				 a4;
	size_t					 i;

	log_route_lws();

	server_protocols[0] = (struct lws_protocols){
		"kefu-http", server_http_cb, sizeof(struct http_session), 0,
		0, NULL, 0
	};
	memset(&server_protocols[1 + server_nprotocols], 0,
	    sizeof server_protocols[0]);

	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_LIBUV |
	    LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	loops[0] = kefu->loop;
	info.foreign_loops = loops;
	info.pcontext = &kefu->lws;	/* lws clears it once destroyed */
	info.fd_limit_per_thread = 0;
	info.count_threads = 1;
	info.timeout_secs = 30;
	if ((kefu->lws = lws_create_context(&info)) == NULL) {
		*cause = xstrdup("lws_create_context failed (is the "
		    "libwebsockets-evlib-uv package installed?)");
		return (-1);
	}

	server_mount(&mount_web, "/", cfg->http_web_root, LWSMPRO_FILE, NULL);
	server_mount(&mount_metrics, "/metrics", "kefu-http",
	    LWSMPRO_CALLBACK, &mount_web);
	server_mount(&mount_healthz, "/healthz", "kefu-http",
	    LWSMPRO_CALLBACK, &mount_metrics);
	for (i = 0; i < server_nroutes; i++) {
		server_mount(server_routes[i].mount, server_routes[i].prefix,
		    "kefu-http", LWSMPRO_CALLBACK, i == 0 ? &mount_healthz :
		    server_routes[i - 1].mount);
	}

	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_LIBUV |
	    LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.vhost_name = "kefu";
	info.iface = cfg->http_host;
	/*
	 * With IPv6 on, lws 4.1 binds an IPv4 address given as iface to
	 * every interface: say it is IPv4.
	 */
	if (inet_pton(AF_INET, cfg->http_host, &a4) == 1)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.port = cfg->http_port;
	info.protocols = server_protocols;
	info.mounts = server_nroutes > 0 ?
	    server_routes[server_nroutes - 1].mount : &mount_healthz;
	info.keepalive_timeout = 60;
	info.timeout_secs = 30;
	info.max_http_header_data = 4096;
	info.listen_accept_role = NULL;
	if (server_nprotocols > 0) {
		pvo_ws.name = server_protocols[1].name;
		pvo_ws.options = &pvo_default;
		info.pvo = &pvo_ws;
	}
	server_retry.secs_since_valid_ping =
	    (uint16_t)cfg->ws_ping_interval;
	server_retry.secs_since_valid_hangup =
	    (uint16_t)cfg->ws_idle_timeout;
	info.retry_and_idle_policy = &server_retry;
	if ((kefu->vhost = lws_create_vhost(kefu->lws, &info)) == NULL) {
		*cause = xasprintf("cannot listen on %s (port in use or "
		    "address not available)", cfg->http_listen);
		return (-1);
	}
	log_info("server", "msg=\"listening\" addr=%s web_root=%s",
	    logq(cfg->http_listen), logq(cfg->http_web_root));
	return (hooks_start(cause));
}

/*
 * Start destroying the context: with a foreign loop, lws closes its
 * handles while the loop keeps running and clears kefu->lws when done.
 */
void
server_stop(void)
{
	hooks_stop();
	if (kefu->lws != NULL)
		lws_context_destroy(kefu->lws);
	kefu->vhost = NULL;
}

/* After the loop has drained: finish the destruction if lws has not. */
void
server_finish(void)
{
	size_t	i;

	if (kefu->lws != NULL)
		lws_context_destroy(kefu->lws);
	kefu->lws = NULL;
	for (i = 0; i < server_nroutes; i++)
		free(server_routes[i].prefix);
	server_nroutes = 0;
}
