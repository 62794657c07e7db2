/*
 * The webhook listener (http.webhook_listen): libmicrohttpd on kefu's
 * libuv loop, serving only the routes channels add with server_add_hook
 * (/telegram/...) and GET /healthz.  It exists because a webhook is a
 * short POST on a kept-alive connection, and libwebsockets on libuv
 * changes the poll set several times per request (two epoll_ctl calls
 * each); libmicrohttpd registers a connection once, edge-triggered, and
 * takes several times more requests a second on one core
 * (docs/performance.md).  The inbox, its API and the widget stay on the
 * main listener, so this is also the only address one exposes to the
 * internet.
 *
 * libmicrohttpd runs without threads of its own: its epoll descriptor is
 * watched by a uv_poll and MHD_run processes whatever is ready; a timer
 * follows MHD_get_timeout (idle connections).  A request is handed to its
 * route once its whole body is read; if the handler does not answer at
 * once, the connection is suspended until http_respond (after the
 * commit) resumes it, and libmicrohttpd sends the answer on its next run.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <uv.h>

#include "config.h"
#include "kefu.h"
#include "log.h"
#include "server_priv.h"
#include "xmalloc.h"

#define HOOKS_MAX_URI		256
#define HOOKS_MAX_CONNECTIONS	10000
#define HOOKS_IDLE_TIMEOUT	60	/* seconds, like the main listener */
/*
 * Memory per connection for its headers and buffers (libmicrohttpd's
 * default is 32 KiB, cleared for every request): 8 KiB holds the 4 KiB of
 * headers the main listener accepts; bodies pass through in pieces.
 */
#define HOOKS_CONN_MEMORY	8192
#define HOOKS_TOO_LARGE		"the body is larger than http.max_body"

static struct MHD_Daemon	*hooks_daemon;
static uv_poll_t		 hooks_poll;
static uv_timer_t		 hooks_timer;
static struct http_request	*hooks_waiting;	/* suspended requests */
static size_t			 hooks_nwaiting;
static struct MHD_Response	*hooks_ok;	/* 200, no body */
static int			 hooks_stopping;

static void	hooks_run(void);
static enum MHD_Result hooks_answer(struct http_request *);
static void	hooks_timer_cb(uv_timer_t *);

/* Suspend req's connection until http_respond. */
static void
hooks_wait(struct http_request *req)
{
	req->suspended = 1;
	req->wprev = NULL;
	req->wnext = hooks_waiting;
	if (hooks_waiting != NULL)
		hooks_waiting->wprev = req;
	hooks_waiting = req;
	hooks_nwaiting++;
	MHD_suspend_connection(req->conn);
}

/* Resume req's connection: libmicrohttpd handles it on its next run. */
static void
hooks_resume(struct http_request *req)
{
	if (req->wprev != NULL)
		req->wprev->wnext = req->wnext;
	else
		hooks_waiting = req->wnext;
	if (req->wnext != NULL)
		req->wnext->wprev = req->wprev;
	req->wprev = req->wnext = NULL;
	req->suspended = 0;
	hooks_nwaiting--;
	MHD_resume_connection(req->conn);
}

/* libmicrohttpd's own messages (no request contents), as warnings. */
static void
hooks_log(void *arg, const char *fmt, va_list ap)
{
	char	buf[256];
	size_t	len;

	(void)arg;
	vsnprintf(buf, sizeof buf, fmt, ap);
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	log_warnx("hooks", "msg=%s", logq(buf));
}

/* Queue the answer http_respond stored in req. */
static enum MHD_Result
hooks_answer(struct http_request *req)
{
	struct MHD_Connection	*conn = req->conn;
	struct MHD_Response	*res;
	enum MHD_Result		 r;
	size_t			 i, len = req->outlen;

	/* The common answer (200, no body, no headers) is made once. */
	if (req->status == MHD_HTTP_OK && len == 0 && req->nextra == 0) {
		if (hooks_ok == NULL) {
			hooks_ok = MHD_create_response_from_buffer(0, NULL,
			    MHD_RESPMEM_PERSISTENT);
			if (hooks_ok == NULL)
				return (MHD_NO);
			MHD_add_response_header(hooks_ok,
			    MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
			MHD_add_response_header(hooks_ok,
			    "X-Content-Type-Options", "nosniff");
		}
		return (MHD_queue_response(conn, MHD_HTTP_OK, hooks_ok));
	}
	res = MHD_create_response_from_buffer(len, req->out,
	    MHD_RESPMEM_MUST_COPY);
	if (res == NULL)
		return (MHD_NO);
	if (len > 0)
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE,
		    req->type);
	MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
	for (i = 0; i < req->nextra; i++) {
		char	name[64];
		size_t	n;

		/* Stored with their colon, as lws wants them. */
		n = strlen(req->extra[i].name);
		if (n == 0 || n >= sizeof name)
			continue;
		memcpy(name, req->extra[i].name, n + 1);
		if (name[n - 1] == ':')
			name[n - 1] = '\0';
		MHD_add_response_header(res, name, req->extra[i].value);
	}
	r = MHD_queue_response(conn, (unsigned int)req->status, res);
	MHD_destroy_response(res);
	return (r);
}

/*
 * The first call for a request: make its http_request and check it.  A
 * request refused here is answered once its body is read (and dropped),
 * so that the connection can stay open; only a body known to be too large
 * is refused at once, which closes the connection.
 */
static enum MHD_Result
hooks_begin(struct MHD_Connection *conn, const char *url,
    const char *method, void **ctx)
{
	struct http_request	*req;
	const char		*cl;
	char			*body, *end;
	long long		 n;
	int			 status;

	req = xcalloc(1, sizeof *req);
	req->hook = 1;
	req->conn = conn;
	req->method = strcmp(method, "POST") == 0 ? "POST" : "GET";
	*ctx = req;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		n = strtoll(cl, &end, 10);
		if (*cl != '\0' && *end == '\0' && n >
		    kefu->cfg->http_max_body) {
			http_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
			    "too_large", HOOKS_TOO_LARGE);
			return (hooks_answer(req));
		}
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
		http_respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method_not_allowed", "only GET and POST");
		return (MHD_YES);
	}
	if (strlen(url) >= HOOKS_MAX_URI) {
		http_respond_error(req, MHD_HTTP_URI_TOO_LONG, "too_long",
		    "the path is too long");
		return (MHD_YES);
	}
	req->path = xstrdup(url);
	if (strcmp(req->method, "GET") == 0 && strcmp(url, "/healthz") == 0) {
		body = server_healthz_body(&status);
		http_respond(req, status, "application/json", body,
		    strlen(body));
		free(body);
		return (MHD_YES);
	}
	if ((req->route = server_find_route(url, 1)) == NULL)
		http_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found",
		    "no such webhook");
	return (MHD_YES);
}

/*
 * libmicrohttpd's access handler: called once with the headers, then
 * once per piece of body, then with no data (the body is complete), and
 * again with no data after a resume.
 */
static enum MHD_Result
hooks_access(void *arg, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **ctx)
{
	struct http_request	*req = *ctx;

	(void)arg;
	(void)version;
	if (req == NULL)
		return (hooks_begin(conn, url, method, ctx));
	if (*size > 0) {
		if (!req->too_large && req->body.len + *size >
		    (size_t)kefu->cfg->http_max_body)
			req->too_large = 1;	/* chunked and too long */
		if (!req->too_large && !req->answered)
			dbuf_add(&req->body, data, *size);
		*size = 0;
		return (MHD_YES);
	}
	if (!req->answered && req->too_large)
		http_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
		    "too_large", HOOKS_TOO_LARGE);
	if (req->answered)
		return (hooks_answer(req));
	if (!req->dispatched) {
		req->dispatched = 1;
		req->route->handler(req, req->route->arg);
		if (req->answered)
			return (hooks_answer(req));
	}
	if (hooks_stopping)
		return (MHD_NO);	/* close it: no answer is coming */
	/* Wait for http_respond, without reading or polling. */
	hooks_wait(req);
	return (MHD_YES);
}

/*
 * A request is over (answered and sent, or its connection closed): free
 * it, unless its handler has not answered yet; then it is orphaned and
 * http_respond frees it.
 */
static void
hooks_completed(void *arg, struct MHD_Connection *conn, void **ctx,
    enum MHD_RequestTerminationCode why)
{
	struct http_request	*req = *ctx;

	(void)arg;
	(void)conn;
	(void)why;
	if (req == NULL)
		return;
	*ctx = NULL;
	if (req->dispatched && !req->answered)
		req->conn = NULL;
	else
		http_request_free(req);
}

/* http_respond on a hook request: send now, or once it is resumed. */
void
hooks_respond(struct http_request *req)
{
	if (req->conn == NULL) {
		http_request_free(req);		/* its client has gone */
		return;
	}
	if (req->suspended) {
		hooks_resume(req);
		/* Run libmicrohttpd early in the next loop turn: it sends. */
		if (hooks_daemon != NULL)
			uv_timer_start(&hooks_timer, hooks_timer_cb, 0, 0);
	}
	/* Otherwise the handler answered at once: hooks_access sends. */
}

/* A value of the request (a header, a query argument) copied into buf. */
static int
hooks_value(struct http_request *req, enum MHD_ValueKind kind,
    const char *name, char *buf, size_t size)
{
	const char	*v;
	size_t		 len;

	if (req->conn == NULL || size == 0)
		return (-1);
	v = MHD_lookup_connection_value(req->conn, kind, name);
	if (v == NULL || (len = strlen(v)) + 1 > size)
		return (-1);
	memcpy(buf, v, len + 1);
	return ((int)len);
}

/* A header's value, copied as http_request_header does. */
int
hooks_header(struct http_request *req, const char *name, char *buf,
    size_t size)
{
	return (hooks_value(req, MHD_HEADER_KIND, name, buf, size));
}

/* A query-string argument, URL-decoded by libmicrohttpd. */
int
hooks_query(struct http_request *req, const char *name, char *buf,
    size_t size)
{
	return (hooks_value(req, MHD_GET_ARGUMENT_KIND, name, buf, size));
}

/* Fill req->peer with the client's numeric address. */
void
hooks_peer(struct http_request *req)
{
	const union MHD_ConnectionInfo	*ci;
	socklen_t			 len;

	if (req->conn == NULL || req->peer[0] != '\0')
		return;
	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	len = ci->client_addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(ci->client_addr, len, req->peer, sizeof req->peer,
	    NULL, 0, NI_NUMERICHOST) != 0)
		req->peer[0] = '\0';
}

static void
hooks_timer_cb(uv_timer_t *t)
{
	(void)t;
	hooks_run();
}

static void
hooks_poll_cb(uv_poll_t *p, int status, int events)
{
	(void)p;
	(void)status;
	(void)events;
	hooks_run();
}

/* Let libmicrohttpd do what is ready, then wait for its next timeout. */
static void
hooks_run(void)
{
	MHD_UNSIGNED_LONG_LONG	ms;

	if (hooks_daemon == NULL)
		return;
	MHD_run(hooks_daemon);
	if (MHD_get_timeout(hooks_daemon, &ms) == MHD_YES)
		uv_timer_start(&hooks_timer, hooks_timer_cb, (uint64_t)ms, 0);
	else
		uv_timer_stop(&hooks_timer);
}

/* Start the webhook listener if http.webhook_listen is set. */
int
hooks_start(char **cause)
{
	const char			*listen = kefu->cfg->http_webhook_listen;
	const union MHD_DaemonInfo	*di;
	struct addrinfo			 hints, *ai;
	char				*host, *why, sport[8];
	unsigned int			 flags;
	int				 port, fd;

	if (listen == NULL || *listen == '\0')
		return (0);
	if (config_parse_listen(listen, &host, &port, &why) != 0) {
		*cause = why;		/* checked when the config was read */
		return (-1);
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(sport, sizeof sport, "%d", port);
	if (getaddrinfo(host, sport, &hints, &ai) != 0) {
		*cause = xasprintf("cannot resolve %s (http.webhook_listen)",
		    host);
		free(host);
		return (-1);
	}
	free(host);
	/*
	 * Turbo: read, write and accept before asking epoll, and close
	 * without shutdown(); nothing a webhook sender relies on.
	 */
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	hooks_daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
	    hooks_access, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, hooks_log, NULL,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_NOTIFY_COMPLETED, hooks_completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HOOKS_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HOOKS_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HOOKS_CONN_MEMORY,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (hooks_daemon == NULL) {
		*cause = xasprintf("cannot listen on %s (http.webhook_listen: "
		    "port in use or address not available)", listen);
		return (-1);
	}
	di = MHD_get_daemon_info(hooks_daemon, MHD_DAEMON_INFO_EPOLL_FD);
	fd = di != NULL ? di->epoll_fd : -1;
	if (fd < 0 || uv_poll_init(kefu->loop, &hooks_poll, fd) != 0) {
		MHD_stop_daemon(hooks_daemon);
		hooks_daemon = NULL;
		*cause = xstrdup("libmicrohttpd has no epoll descriptor");
		return (-1);
	}
	uv_timer_init(kefu->loop, &hooks_timer);
	uv_poll_start(&hooks_poll, UV_READABLE, hooks_poll_cb);
	hooks_run();
	log_info("hooks", "msg=\"listening\" addr=%s routes=webhooks",
	    logq(listen));
	return (0);
}

/*
 * Stop listening and close every connection, once the answers the last
 * commit released are sent.  libmicrohttpd refuses to stop with a
 * connection suspended, so a request still waiting (none, when the
 * pipeline has flushed) is resumed and its connection closed unanswered;
 * it becomes an orphan (hooks_completed), its handler's answer dropped.
 */
void
hooks_stop(void)
{
	if (hooks_daemon == NULL)
		return;
	hooks_stopping = 1;
	if (hooks_nwaiting > 0)
		log_warnx("hooks", "msg=\"stopping with requests unanswered\" "
		    "requests=%zu", hooks_nwaiting);
	while (hooks_waiting != NULL)
		hooks_resume(hooks_waiting);
	MHD_run(hooks_daemon);
	uv_close((uv_handle_t *)&hooks_poll, NULL);
	uv_close((uv_handle_t *)&hooks_timer, NULL);
	MHD_stop_daemon(hooks_daemon);
	hooks_daemon = NULL;
	if (hooks_ok != NULL)
		MHD_destroy_response(hooks_ok);
	hooks_ok = NULL;
	hooks_stopping = 0;
}
