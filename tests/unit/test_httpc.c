/*
 * Tests for the asynchronous HTTP client.
 *
 * In the manner of curl's test servers, each test starts a tiny canned
 * responder on the same uv loop (127.0.0.1, port 0): it records the bytes of
 * every request it receives and, once a request is complete, answers with
 * the test's canned reply and closes, or holds the connection open without
 * answering.  A test then checks both what the client reported and the exact
 * request it sent.  Nothing sleeps: the loop runs until a condition holds,
 * with a guard timer that fails the test instead of hanging it.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "httpc.h"
#include "log.h"
#include "xmalloc.h"

#define REQ_MAX		(1024 * 1024)
#define GUARD_MS	10000

struct srv;

struct conn {
	uv_tcp_t	 tcp;
	struct srv	*srv;
	char		 rbuf[65536];
	char		*req;		/* NUL-terminated */
	size_t		 len;
	int		 complete;
	int		 answered;
	uv_write_t	 wr;
	struct conn	*next;
};

struct srv {
	uv_loop_t	*loop;
	uv_tcp_t	 listener;
	int		 port;
	const char	*reply;		/* canned reply */
	size_t		 reply_len;
	int		 hold;		/* record but never answer */
	int		 conns_open;
	int		 conns_total;
	int		 requests;	/* complete requests received */
	char		*last_req;	/* the last complete request */
	size_t		 last_len;
	struct conn	*conns;
};

struct fx {
	uv_loop_t	 loop;
	struct srv	 srv;
	struct httpc	*h;
	uv_timer_t	 guard;
	int		 guard_fired;
	char		 url[256];
};

struct result {
	int		 calls;
	long		 status;
	int		 error;
	char		*error_text;
	char		*body;
	size_t		 body_len;
	long		 retry_after;
	char		*content_type;
	double		 total_ms;
	struct fx	*free_on_call;	/* httpc_free from the callback */
};

/* --- the canned responder ------------------------------------------------ */

static void
conn_closed(uv_handle_t *handle)
{
	struct conn	 *c = handle->data;
	struct srv	 *s = c->srv;
	struct conn	**cp;

	for (cp = &s->conns; *cp != NULL; cp = &(*cp)->next) {
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	}
	s->conns_open--;
	free(c->req);
	free(c);
}

static void
conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void
conn_written(uv_write_t *wr, int status)
{
	conn_close(wr->data);
}

static void
conn_answer(struct conn *c)
{
	uv_buf_t	buf;

	if (c->answered || c->srv->reply == NULL)
		return;
	c->answered = 1;
	c->wr.data = c;
	buf = uv_buf_init((char *)c->srv->reply,
	    (unsigned int)c->srv->reply_len);
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1,
	    conn_written) != 0)
		conn_close(c);
}

/* Whether the bytes so far make one whole request (headers and body). */
static int
conn_request_complete(struct conn *c)
{
	char	*end, *cl, *ep;
	long	 body = 0;

	if ((end = strstr(c->req, "\r\n\r\n")) == NULL)
		return (0);
	*end = '\0';
	cl = strcasestr(c->req, "\r\nContent-Length:");
	if (cl != NULL)
		body = strtol(cl + 17, &ep, 10);
	*end = '\r';
	return (c->len >= (size_t)(end + 4 - c->req) + (size_t)body);
}

static void
conn_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf)
{
	struct conn	*c = handle->data;

	*buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void
conn_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct conn	*c = stream->data;
	struct srv	*s = c->srv;

	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0 || c->complete)
		return;
	assert_true(c->len + (size_t)n <= REQ_MAX);
	c->req = xrealloc(c->req, c->len + (size_t)n + 1);
	memcpy(c->req + c->len, buf->base, (size_t)n);
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (!conn_request_complete(c))
		return;
	c->complete = 1;
	s->requests++;
	free(s->last_req);
	s->last_req = xstrndup(c->req, c->len);
	s->last_len = c->len;
	if (!s->hold)
		conn_answer(c);
}

static void
srv_accept(uv_stream_t *listener, int status)
{
	struct srv	*s = listener->data;
	struct conn	*c;

	assert_int_equal(status, 0);
	c = xcalloc(1, sizeof *c);
	c->srv = s;
	assert_int_equal(uv_tcp_init(s->loop, &c->tcp), 0);
	c->tcp.data = c;
	c->next = s->conns;
	s->conns = c;
	s->conns_open++;
	s->conns_total++;
	assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
	assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, conn_alloc,
	    conn_read), 0);
}

static void
srv_start(struct srv *s, uv_loop_t *loop)
{
	struct sockaddr_in	sin;
	int			len = sizeof sin;

	memset(s, 0, sizeof *s);
	s->loop = loop;
	assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
	s->listener.data = s;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	assert_int_equal(uv_tcp_bind(&s->listener,
	    (const struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128,
	    srv_accept), 0);
	assert_int_equal(uv_tcp_getsockname(&s->listener,
	    (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_true(s->port > 0);
}

static void
srv_reply(struct srv *s, const char *reply)
{
	s->reply = reply;
	s->reply_len = strlen(reply);
}

static void
srv_stop(struct srv *s)
{
	struct conn	*c;

	for (c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->listener, NULL);
}

/* --- fixture and helpers -------------------------------------------------- */

static void
guard_fired(uv_timer_t *t)
{
	struct fx	*fx = t->data;

	fx->guard_fired = 1;
}

/* Run the loop until cond holds or the guard timer fires. */
#define RUN_UNTIL(fx, cond) do {					\
	(fx)->guard_fired = 0;						\
	uv_timer_start(&(fx)->guard, guard_fired, GUARD_MS, 0);		\
	while (!(cond) && !(fx)->guard_fired)				\
		uv_run(&(fx)->loop, UV_RUN_ONCE);			\
	uv_timer_stop(&(fx)->guard);					\
	assert_true(cond);						\
} while (0)

static int
setup(void **state)
{
	struct fx	*fx;
	char		*cause = NULL;

	fx = xcalloc(1, sizeof *fx);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->guard), 0);
	fx->guard.data = fx;
	srv_start(&fx->srv, &fx->loop);
	fx->h = httpc_new(&fx->loop, &cause);
	assert_non_null(fx->h);
	assert_null(cause);
	snprintf(fx->url, sizeof fx->url, "http://127.0.0.1:%d",
	    fx->srv.port);
	*state = fx;
	return (0);
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	httpc_free(fx->h);
	srv_stop(&fx->srv);
	uv_close((uv_handle_t *)&fx->guard, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	/* Every handle, the client's included, must have closed. */
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	free(fx->srv.last_req);
	free(fx);
	return (0);
}

static void
result_cb(void *arg, const struct httpc_response *r)
{
	struct result	*res = arg;

	res->calls++;
	if (res->calls > 1)
		return;
	res->status = r->status;
	res->error = r->error;
	if (r->error_text != NULL)
		res->error_text = xstrdup(r->error_text);
	assert_non_null(r->body);
	assert_int_equal(r->body[r->body_len], '\0');
	res->body = xstrndup(r->body, r->body_len);
	res->body_len = r->body_len;
	res->retry_after = r->retry_after;
	if (r->content_type != NULL)
		res->content_type = xstrdup(r->content_type);
	res->total_ms = r->total_ms;
	if (res->free_on_call != NULL) {
		httpc_free(res->free_on_call->h);
		res->free_on_call->h = NULL;
	}
}

static void
result_clear(struct result *res)
{
	free(res->error_text);
	free(res->body);
	free(res->content_type);
	memset(res, 0, sizeof *res);
}

/* Start a request to path on the test server; asserts it started. */
static struct httpc_xfer *
start(struct fx *fx, struct httpc_request *req, const char *path,
    struct result *res)
{
	struct httpc_xfer	*x;
	char			*url, *cause = NULL;

	url = xasprintf("%s%s", fx->url, path);
	req->url = url;
	x = httpc_request(fx->h, req, result_cb, res, &cause);
	free(url);		/* the client must have copied it */
	req->url = NULL;
	assert_null(cause);
	assert_non_null(x);
	/* Never called from inside httpc_request. */
	assert_int_equal(res->calls, 0);
	return (x);
}

static int
contains(const char *hay, const char *needle)
{
	return (hay != NULL && strstr(hay, needle) != NULL);
}

/* --- the cases ------------------------------------------------------------ */

static void
test_get_200(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			 host[64];

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: 11\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "{\"ok\":true}");
	start(fx, &req, "/v1/status?x=1", &res);
	assert_int_equal(httpc_active(fx->h), 1);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.status, 200);
	assert_int_equal(res.error, 0);
	assert_null(res.error_text);
	assert_int_equal(res.body_len, 11);
	assert_string_equal(res.body, "{\"ok\":true}");
	assert_string_equal(res.content_type,
	    "application/json; charset=utf-8");
	assert_int_equal(res.retry_after, -1);
	assert_true(res.total_ms >= 0.0);
	assert_int_equal(httpc_active(fx->h), 0);

	/* The exact request line and the headers that matter. */
	assert_int_equal(fx->srv.requests, 1);
	assert_true(strncmp(fx->srv.last_req,
	    "GET /v1/status?x=1 HTTP/1.1\r\n", 29) == 0);
	snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n",
	    fx->srv.port);
	assert_true(contains(fx->srv.last_req, host));
	assert_true(contains(fx->srv.last_req, "\r\nUser-Agent: kefu/0.1\r\n"));
	assert_false(contains(fx->srv.last_req, "Content-Length"));
	assert_false(contains(fx->srv.last_req, "Expect"));
	assert_true(fx->srv.last_len >= 4 && memcmp(fx->srv.last_req +
	    fx->srv.last_len - 4, "\r\n\r\n", 4) == 0);
	result_clear(&res);
}

static void
test_post_headers_body(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			 body[] = "{\"chat_id\":42,\"text\":\"hi\"}";
	char			 h1[] = "Content-Type: application/json";
	char			 h2[] = "X-Kefu-Test: abc123";
	const char		*headers[] = { h1, h2, NULL };
	const char		*req_body;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 201 Created\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\nok");
	req.method = "POST";
	req.headers = headers;
	req.body = body;
	req.body_len = strlen(body);
	start(fx, &req, "/bot123:SECRET/sendMessage", &res);
	/* The client copied everything: scribble over the originals. */
	memset(body, 'Z', sizeof body - 1);
	memset(h2, 'Z', sizeof h2 - 1);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.error, 0);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.body, "ok");
	assert_null(res.content_type);

	assert_true(strncmp(fx->srv.last_req,
	    "POST /bot123:SECRET/sendMessage HTTP/1.1\r\n", 42) == 0);
	assert_true(contains(fx->srv.last_req,
	    "\r\nContent-Type: application/json\r\n"));
	assert_true(contains(fx->srv.last_req, "\r\nX-Kefu-Test: abc123\r\n"));
	assert_true(contains(fx->srv.last_req, "\r\nContent-Length: 26\r\n"));
	assert_false(contains(fx->srv.last_req, "ZZZ"));
	req_body = strstr(fx->srv.last_req, "\r\n\r\n");
	assert_non_null(req_body);
	assert_string_equal(req_body + 4, "{\"chat_id\":42,\"text\":\"hi\"}");
	result_clear(&res);
}

static void
test_put_large_body(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			*body;
	const char		*req_body;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 204 No Content\r\n"
	    "Connection: close\r\n\r\n");
	body = xmalloc(200000);
	memset(body, 'b', 200000);
	req.method = "PUT";
	req.body = body;
	req.body_len = 200000;
	start(fx, &req, "/blob", &res);
	free(body);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.error, 0);
	assert_int_equal(res.status, 204);
	assert_int_equal(res.body_len, 0);
	assert_string_equal(res.body, "");
	assert_true(strncmp(fx->srv.last_req, "PUT /blob HTTP/1.1\r\n",
	    20) == 0);
	assert_true(contains(fx->srv.last_req,
	    "\r\nContent-Length: 200000\r\n"));
	/* No "Expect: 100-continue" round trip. */
	assert_false(contains(fx->srv.last_req, "Expect"));
	req_body = strstr(fx->srv.last_req, "\r\n\r\n") + 4;
	assert_int_equal(fx->srv.last_len - (size_t)(req_body -
	    fx->srv.last_req), 200000);
	assert_true(req_body[0] == 'b' && req_body[199999] == 'b');
	result_clear(&res);
}

static void
test_429_retry_after(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 429 Too Many Requests\r\n"
	    "Retry-After: 7\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 4\r\nConnection: close\r\n\r\nslow");
	start(fx, &req, "/", &res);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.error, 0);
	assert_int_equal(res.status, 429);
	assert_int_equal(res.retry_after, 7);
	assert_string_equal(res.content_type, "text/plain");
	assert_string_equal(res.body, "slow");
	result_clear(&res);
}

static void
test_retry_after_date(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			 date[64], *reply;
	time_t			 when = time(NULL) + 120;
	struct tm		 tm;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	gmtime_r(&when, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	reply = xasprintf("HTTP/1.1 503 Service Unavailable\r\n"
	    "Retry-After: %s\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n", date);
	srv_reply(&fx->srv, reply);
	start(fx, &req, "/", &res);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.status, 503);
	assert_int_equal(res.error, 0);
	assert_in_range(res.retry_after, 110, 120);
	result_clear(&res);
	free(reply);
}

static void
test_500(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Length: 4\r\nConnection: close\r\n\r\noops");
	start(fx, &req, "/", &res);
	RUN_UNTIL(fx, res.calls == 1);

	/* An HTTP error status is not a transfer error. */
	assert_int_equal(res.error, 0);
	assert_null(res.error_text);
	assert_int_equal(res.status, 500);
	assert_string_equal(res.body, "oops");
	assert_int_equal(res.retry_after, -1);
	result_clear(&res);
}

static void
test_refused(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	char			 url[128], *cause = NULL;
	int			 fd;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	/* A port that is bound but not listening refuses connections. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/",
	    ntohs(sin.sin_port));
	req.url = url;
	assert_non_null(httpc_request(fx->h, &req, result_cb, &res, &cause));
	assert_int_equal(res.calls, 0);
	RUN_UNTIL(fx, res.calls == 1);
	close(fd);

	assert_int_equal(res.error, CURLE_COULDNT_CONNECT);
	assert_non_null(res.error_text);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.body_len, 0);
	assert_string_equal(res.body, "");
	assert_int_equal(fx->srv.conns_total, 0);
	result_clear(&res);
}

static void
test_timeout(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	uint64_t		 t0;
	double			 ms;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	fx->srv.hold = 1;
	req.timeout_ms = 300;
	t0 = uv_hrtime();
	start(fx, &req, "/never", &res);
	RUN_UNTIL(fx, res.calls == 1);
	ms = (double)(uv_hrtime() - t0) / 1e6;

	assert_int_equal(fx->srv.requests, 1);
	assert_int_equal(res.error, CURLE_OPERATION_TIMEDOUT);
	assert_non_null(res.error_text);
	assert_int_equal(res.status, 0);
	assert_true(ms >= 290.0);
	assert_true(ms < 1300.0);
	assert_true(res.total_ms >= 290.0 && res.total_ms <= ms + 1.0);
	result_clear(&res);
}

static void
test_too_large(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			*reply, *body;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	body = xmalloc(5001);
	memset(body, 'x', 5000);
	body[5000] = '\0';
	reply = xasprintf("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n"
	    "Connection: close\r\n\r\n%s", body);
	srv_reply(&fx->srv, reply);
	req.max_response = 1000;
	start(fx, &req, "/big", &res);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.error, CURLE_WRITE_ERROR);
	assert_string_equal(res.error_text, "response too large");
	assert_true(res.body_len <= 1000);
	result_clear(&res);
	free(reply);
	free(body);
}

static void
test_too_large_unknown_length(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			*reply, *body;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	/* No Content-Length: only the write callback's cap can catch it. */
	body = xmalloc(65537);
	memset(body, 'y', 65536);
	body[65536] = '\0';
	reply = xasprintf("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s",
	    body);
	srv_reply(&fx->srv, reply);
	req.max_response = 10000;
	start(fx, &req, "/big", &res);
	RUN_UNTIL(fx, res.calls == 1);

	assert_int_equal(res.error, CURLE_WRITE_ERROR);
	assert_string_equal(res.error_text, "response too large");
	assert_int_equal(res.status, 200);
	assert_true(res.body_len <= 10000);
	result_clear(&res);

	/* Exactly at the cap is fine. */
	body[10000] = '\0';
	free(reply);
	reply = xasprintf("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s",
	    body);
	srv_reply(&fx->srv, reply);
	start(fx, &req, "/exact", &res);
	RUN_UNTIL(fx, res.calls == 1);
	assert_int_equal(res.error, 0);
	assert_int_equal(res.body_len, 10000);
	assert_int_equal(strspn(res.body, "y"), 10000);
	result_clear(&res);
	free(reply);
	free(body);
}

static void
test_cancel(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 early, mid, after;
	struct httpc_xfer	*x;

	memset(&req, 0, sizeof req);
	memset(&early, 0, sizeof early);
	memset(&mid, 0, sizeof mid);
	memset(&after, 0, sizeof after);
	srv_reply(&fx->srv, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\nok");

	/* Cancelled before the loop ever ran. */
	x = start(fx, &req, "/early", &early);
	httpc_cancel(x);
	assert_int_equal(httpc_active(fx->h), 0);

	/* Cancelled while the server holds the request. */
	fx->srv.hold = 1;
	x = start(fx, &req, "/mid", &mid);
	RUN_UNTIL(fx, fx->srv.requests == 1);
	assert_true(contains(fx->srv.last_req, "GET /mid "));
	httpc_cancel(x);
	assert_int_equal(httpc_active(fx->h), 0);
	/* The client drops the connection. */
	RUN_UNTIL(fx, fx->srv.conns_open == 0);

	/* The client still works, and neither cancelled callback ran. */
	fx->srv.hold = 0;
	start(fx, &req, "/after", &after);
	RUN_UNTIL(fx, after.calls == 1);
	assert_int_equal(after.status, 200);
	assert_true(contains(fx->srv.last_req, "GET /after "));
	assert_int_equal(fx->srv.requests, 2);
	assert_int_equal(early.calls, 0);
	assert_int_equal(mid.calls, 0);
	result_clear(&after);
}

static int
all_called(struct result *res, int n)
{
	int	i, total = 0;

	for (i = 0; i < n; i++)
		total += res[i].calls;
	return (total >= n);
}

static void
test_concurrent(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res[50];
	char			 path[32];
	int			 i;

	memset(&req, 0, sizeof req);
	memset(res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
	for (i = 0; i < 50; i++) {
		snprintf(path, sizeof path, "/n/%d", i);
		start(fx, &req, path, &res[i]);
	}
	assert_int_equal(httpc_active(fx->h), 50);
	RUN_UNTIL(fx, all_called(res, 50));
	/* Let every connection finish; no callback may run twice. */
	RUN_UNTIL(fx, fx->srv.conns_open == 0);

	assert_int_equal(httpc_active(fx->h), 0);
	assert_int_equal(fx->srv.requests, 50);
	for (i = 0; i < 50; i++) {
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].error, 0);
		assert_int_equal(res[i].status, 200);
		assert_string_equal(res[i].body, "hello");
		result_clear(&res[i]);
	}
}

static void
test_free_in_flight(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res[5];
	int			 i;

	memset(&req, 0, sizeof req);
	memset(res, 0, sizeof res);
	fx->srv.hold = 1;
	srv_reply(&fx->srv, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\nok");
	for (i = 0; i < 5; i++)
		start(fx, &req, "/held", &res[i]);
	RUN_UNTIL(fx, fx->srv.requests == 5);

	httpc_free(fx->h);
	fx->h = NULL;
	/* The client's connections close; teardown checks its handles. */
	RUN_UNTIL(fx, fx->srv.conns_open == 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(res[i].calls, 0);
}

static void
test_free_from_callback(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 first, second;

	memset(&req, 0, sizeof req);
	memset(&first, 0, sizeof first);
	memset(&second, 0, sizeof second);
	srv_reply(&fx->srv, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\nok");
	first.free_on_call = fx;
	start(fx, &req, "/first", &first);
	req.timeout_ms = 5000;
	start(fx, &req, "/second", &second);
	RUN_UNTIL(fx, first.calls == 1 || second.calls == 1);
	if (second.calls == 1) {
		/* Whichever finished first; only the freeing one matters. */
		RUN_UNTIL(fx, first.calls == 1);
	}
	assert_null(fx->h);
	assert_int_equal(first.calls, 1);
	assert_int_equal(first.status, 200);
	/* Run on until the connections have drained: no late callbacks. */
	RUN_UNTIL(fx, fx->srv.conns_open == 0);
	assert_int_equal(first.calls, 1);
	assert_true(second.calls <= 1);
	result_clear(&first);
	result_clear(&second);
}

static void
test_bad_requests(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	const char		*bad_header[] = { "X-A: 1\r\nX-Injected: 2",
				    NULL };
	char			*cause = NULL;

	memset(&res, 0, sizeof res);
	memset(&req, 0, sizeof req);
	req.url = "ftp://127.0.0.1/";
	assert_null(httpc_request(fx->h, &req, result_cb, &res, &cause));
	assert_non_null(cause);
	free(cause);
	cause = NULL;

	req.url = "not a url";
	assert_null(httpc_request(fx->h, &req, result_cb, &res, &cause));
	assert_non_null(cause);
	free(cause);
	cause = NULL;

	req.url = fx->url;
	req.method = "GE T";
	assert_null(httpc_request(fx->h, &req, result_cb, &res, &cause));
	assert_non_null(cause);
	free(cause);
	cause = NULL;

	req.method = NULL;
	req.headers = bad_header;
	assert_null(httpc_request(fx->h, &req, result_cb, &res, &cause));
	assert_non_null(cause);
	free(cause);

	assert_int_equal(httpc_active(fx->h), 0);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(res.calls, 0);
	assert_int_equal(fx->srv.conns_total, 0);
}

static void
test_log_hides_path(void **state)
{
	struct fx		*fx = *state;
	struct httpc_request	 req;
	struct result		 res;
	char			 tmpl[] = "/tmp/test_httpc_log.XXXXXX";
	char			 logbuf[8192];
	ssize_t			 n;
	int			 fd, saved;

	memset(&req, 0, sizeof req);
	memset(&res, 0, sizeof res);
	srv_reply(&fx->srv, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 11\r\nConnection: close\r\n\r\nBODY-SECRET");
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_set_debug("httpc");

	req.method = "POST";
	req.body = "POST-SECRET";
	req.body_len = 11;
	start(fx, &req, "/bot123:TOKEN-SECRET/sendMessage?q=QUERY-SECRET",
	    &res);
	RUN_UNTIL(fx, res.calls == 1);

	log_set_debug("");
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = pread(fd, logbuf, sizeof logbuf - 1, 0);
	close(fd);
	assert_true(n > 0);
	logbuf[n] = '\0';

	assert_string_equal(res.body, "BODY-SECRET");
	assert_true(contains(logbuf, "sub=httpc"));
	assert_true(contains(logbuf, "method=POST"));
	assert_true(contains(logbuf, "host=127.0.0.1"));
	assert_true(contains(logbuf, "status=200"));
	assert_true(contains(logbuf, "ms="));
	assert_false(contains(logbuf, "SECRET"));
	assert_false(contains(logbuf, "bot123"));
	result_clear(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_headers_body, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_put_large_body, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_date, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_large_unknown_length,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_in_flight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_log_hides_path, setup,
		    teardown),
	};

	/* Loopback only, whatever the environment says about proxies. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	setenv("no_proxy", "*", 1);
	/* The responder may write to a connection the client dropped. */
	signal(SIGPIPE, SIG_IGN);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
