/*
 * The asynchronous HTTP client: libcurl's multi interface driven by the
 * libuv loop, in the shape of curl's docs/examples/multi-uv.c.
 *
 * curl tells us through CURLMOPT_SOCKETFUNCTION which sockets to watch; each
 * gets a struct httpc_sock holding a uv_poll_t, attached to the socket with
 * curl_multi_assign.  CURLMOPT_TIMERFUNCTION drives the single uv_timer_t.
 * When a poll or the timer fires we call curl_multi_socket_action and then
 * drain curl_multi_info_read, completing every finished transfer.  Nothing
 * here ever runs a transfer from inside httpc_request, so a callback is only
 * ever called from the loop.
 *
 * A transfer's callback is called exactly once, unless the transfer is
 * cancelled (httpc_cancel, httpc_free), in which case it is never called.
 * The transfer is unlinked and marked done before its callback runs, so the
 * callback may start new requests, cancel others or even free the client;
 * freeing is then finished when the dispatch loop unwinds.
 *
 * uv handles are only freed from their close callbacks.  struct httpc itself
 * is freed from the close callback of its timer, so after httpc_free the
 * caller must run the loop until the handles have closed.  Close callbacks
 * run in an order libuv chooses, so a socket's close callback touches only
 * its own memory, never the client.
 *
 * Every response body is collected into a buffer capped at max_response;
 * past it the transfer fails with CURLE_WRITE_ERROR, "response too large".
 * Logs name the method and host only: paths and queries carry secrets
 * (Telegram puts the bot token in the path), and bodies are never logged.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "httpc.h"
#include "log.h"
#include "xmalloc.h"

#define HTTPC_USER_AGENT		"kefu/0.1"
#define HTTPC_TIMEOUT_MS		30000L
#define HTTPC_CONNECT_TIMEOUT_MS	10000L
#define HTTPC_MAX_RESPONSE		(1024 * 1024)
#define HTTPC_MAX_METHOD		16
#define HTTPC_TOO_LARGE			"response too large"

struct httpc_sock {
	uv_poll_t		 poll;
	curl_socket_t		 fd;
	struct httpc		*h;
	TAILQ_ENTRY(httpc_sock)	 entry;
};
TAILQ_HEAD(httpc_socks, httpc_sock);

struct httpc_xfer {
	struct httpc		*h;
	CURL			*easy;
	unsigned long long	 id;
	int			 done;

	char			*method;
	char			*host;
	char			*body;
	struct curl_slist	*headers;

	char			*buf;	/* the response body */
	size_t			 len;
	size_t			 cap;
	size_t			 max;
	int			 too_large;
	long			 retry_after;
	char			 errbuf[CURL_ERROR_SIZE];

	uint64_t		 start;	/* uv_hrtime() */
	httpc_cb		 cb;
	void			*arg;
	TAILQ_ENTRY(httpc_xfer)	 entry;
};
TAILQ_HEAD(httpc_xfers, httpc_xfer);

struct httpc {
	uv_loop_t		*loop;
	CURLM			*multi;
	uv_timer_t		 timer;
	struct httpc_socks	 socks;
	struct httpc_xfers	 xfers;
	size_t			 active;
	unsigned long long	 next_id;
	int			 busy;		/* depth of httpc_check_done */
	int			 freeing;	/* httpc_free was called */
	int			 closing;	/* inside curl_multi_cleanup */
};

static void	httpc_check_done(struct httpc *);

/* Free a socket context once its poll handle has closed. */
static void
httpc_sock_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/* Stop watching a socket and close its poll handle. */
static void
httpc_sock_close(struct httpc_sock *s)
{
	TAILQ_REMOVE(&s->h->socks, s, entry);
	uv_close((uv_handle_t *)&s->poll, httpc_sock_closed);
}

/* Hand curl the socket events and the timeout, then reap what finished. */
static void
httpc_action(struct httpc *h, curl_socket_t fd, int flags)
{
	CURLMcode	mc;
	int		running;

	mc = curl_multi_socket_action(h->multi, fd, flags, &running);
	if (mc != CURLM_OK) {
		log_warnx("httpc", "msg=\"socket action failed\" error=%s",
		    logq(curl_multi_strerror(mc)));
	}
	httpc_check_done(h);
}

/* A watched socket is ready (or failed): tell curl. */
static void
httpc_poll_cb(uv_poll_t *poll, int status, int events)
{
	struct httpc_sock	*s = poll->data;
	int			 flags = 0;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	/* s may be closed during the action; pass copies. */
	httpc_action(s->h, s->fd, flags);
}

/* curl's timeout expired. */
static void
httpc_timer_cb(uv_timer_t *timer)
{
	httpc_action(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching a socket. */
static int
httpc_socket_fn(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct httpc		*h = arg;
	struct httpc_sock	*s = sockp;
	int			 events = 0, error;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			httpc_sock_close(s);
			if (!h->closing)
				curl_multi_assign(h->multi, fd, NULL);
		}
		return (0);
	}
	if (h->closing)
		return (0);

	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		if ((error = uv_poll_init_socket(h->loop, &s->poll, fd)) != 0) {
			log_warnx("httpc", "msg=\"poll init failed\" fd=%d "
			    "error=%s", (int)fd, logq(uv_strerror(error)));
			free(s);
			return (-1);
		}
		s->poll.data = s;
		s->fd = fd;
		s->h = h;
		TAILQ_INSERT_TAIL(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	}

	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	if ((error = uv_poll_start(&s->poll, events, httpc_poll_cb)) != 0) {
		log_warnx("httpc", "msg=\"poll start failed\" fd=%d error=%s",
		    (int)fd, logq(uv_strerror(error)));
		return (-1);
	}
	return (0);
}

/* CURLMOPT_TIMERFUNCTION: arm or disarm the one timer. */
static int
httpc_timer_fn(CURLM *multi, long timeout_ms, void *arg)
{
	struct httpc	*h = arg;

	if (h->freeing)
		return (0);
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, httpc_timer_cb, (uint64_t)timeout_ms,
		    0);
	return (0);
}

/* CURLOPT_WRITEFUNCTION: append to the body, failing past the cap. */
static size_t
httpc_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct httpc_xfer	*x = arg;
	size_t			 n = size * nmemb, need, cap;

	if (n > x->max - x->len) {
		x->too_large = 1;
		return (0);	/* curl fails with CURLE_WRITE_ERROR */
	}
	need = x->len + n;
	if (need > x->cap) {
		cap = x->cap == 0 ? 4096 : x->cap;
		while (cap < need) {
			if (cap > x->max / 2) {
				cap = x->max;
				break;
			}
			cap *= 2;
		}
		if (cap > x->max)
			cap = x->max;
		x->buf = xrealloc(x->buf, cap + 1);
		x->cap = cap;
	}
	memcpy(x->buf + x->len, ptr, n);
	x->len += n;
	return (n);
}

/*
 * Turn a Retry-After value into seconds from now: delay-seconds or an
 * HTTP-date.  Returns -1 if it is neither.
 */
static long
httpc_parse_retry_after(const char *value)
{
	const char	*p;
	char		*end;
	long		 secs;
	time_t		 when, now;
	int		 alpha = 0;

	if (*value == '\0')
		return (-1);
	if (strspn(value, "0123456789") == strlen(value)) {
		errno = 0;
		secs = strtol(value, &end, 10);
		if (errno != 0 || *end != '\0')
			return (-1);
		return (secs);
	}
	for (p = value; *p != '\0'; p++) {
		if (isalpha((unsigned char)*p))
			alpha = 1;
	}
	if (!alpha)
		return (-1);
	if ((when = curl_getdate(value, NULL)) == -1)
		return (-1);
	now = time(NULL);
	if (when <= now)
		return (0);
	if (when - now > LONG_MAX)
		return (LONG_MAX);
	return ((long)(when - now));
}

/* CURLOPT_HEADERFUNCTION: pick Retry-After out of the final response. */
static size_t
httpc_header_cb(char *ptr, size_t size, size_t nitems, void *arg)
{
	static const char	 name[] = "Retry-After:";
	struct httpc_xfer	*x = arg;
	size_t			 n = size * nitems, vlen;
	const char		*v, *end;
	char			 value[128];

	/* A new status line starts a new response (after 1xx, say). */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		x->retry_after = -1;
		return (n);
	}
	if (n < sizeof name - 1 ||
	    strncasecmp(ptr, name, sizeof name - 1) != 0)
		return (n);

	v = ptr + sizeof name - 1;
	end = ptr + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	vlen = (size_t)(end - v);
	if (vlen >= sizeof value)
		return (n);
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	x->retry_after = httpc_parse_retry_after(value);
	return (n);
}

/* Free a transfer that is no longer attached to the multi handle. */
static void
httpc_xfer_free(struct httpc_xfer *x)
{
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->method);
	free(x->host);
	free(x->body);
	free(x->buf);
	free(x);
}

/* Detach a transfer from the client and from curl. */
static void
httpc_xfer_detach(struct httpc_xfer *x)
{
	struct httpc	*h = x->h;

	curl_multi_remove_handle(h->multi, x->easy);
	TAILQ_REMOVE(&h->xfers, x, entry);
	h->active--;
	x->done = 1;
}

/* Report a finished transfer to its owner, then free it. */
static void
httpc_complete(struct httpc_xfer *x, CURLcode result)
{
	struct httpc_response	 r;
	char			*ctype = NULL;
	const char		*why;

	httpc_xfer_detach(x);

	memset(&r, 0, sizeof r);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
	r.content_type = ctype;
	if (x->buf != NULL) {
		x->buf[x->len] = '\0';
		r.body = x->buf;
		r.body_len = x->len;
	} else
		r.body = "";
	r.retry_after = x->retry_after;
	r.total_ms = (double)(uv_hrtime() - x->start) / 1e6;
	why = curl_easy_strerror(result);
	if (x->too_large || result == CURLE_FILESIZE_EXCEEDED) {
		r.error = CURLE_WRITE_ERROR;
		r.error_text = why = HTTPC_TOO_LARGE;
	} else if (result != CURLE_OK) {
		r.error = (int)result;
		if (x->errbuf[0] != '\0')
			r.error_text = x->errbuf;
		else
			r.error_text = curl_easy_strerror(result);
	}

	/* curl's static description only: errbuf may quote the remote. */
	if (r.error == 0) {
		log_debug("httpc", "msg=\"done\" xfer=%llu method=%s host=%s "
		    "status=%ld bytes=%zu ms=%.1f", x->id, x->method, x->host,
		    r.status, r.body_len, r.total_ms);
	} else {
		log_debug("httpc", "msg=\"failed\" xfer=%llu method=%s host=%s "
		    "status=%ld code=%d error=%s ms=%.1f", x->id, x->method,
		    x->host, r.status, r.error, logq(why), r.total_ms);
	}

	x->cb(x->arg, &r);
	httpc_xfer_free(x);
}

/* Free the client once its timer has closed: the last thing it owns. */
static void
httpc_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/* Close the client's handles once no dispatch is running. */
static void
httpc_close(struct httpc *h)
{
	struct httpc_sock	*s;

	h->closing = 1;
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while ((s = TAILQ_FIRST(&h->socks)) != NULL)
		httpc_sock_close(s);
	uv_close((uv_handle_t *)&h->timer, httpc_closed);
	curl_global_cleanup();
}

/* Complete every transfer curl reports as done. */
static void
httpc_check_done(struct httpc *h)
{
	CURLMsg			*msg;
	CURLcode		 result;
	struct httpc_xfer	*x;
	char			*priv;
	int			 left;

	h->busy++;
	while (!h->freeing &&
	    (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		result = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((x = (struct httpc_xfer *)priv) == NULL)
			continue;
		httpc_complete(x, result);
	}
	h->busy--;
	if (h->freeing && h->busy == 0)
		httpc_close(h);
}

/* Create a client on a loop. */
struct httpc *
httpc_new(uv_loop_t *loop, char **cause)
{
	struct httpc	*h;
	CURLcode	 code;
	int		 error;

	if ((code = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		*cause = xasprintf("curl_global_init: %s",
		    curl_easy_strerror(code));
		return (NULL);
	}
	h = xcalloc(1, sizeof *h);
	h->loop = loop;
	TAILQ_INIT(&h->socks);
	TAILQ_INIT(&h->xfers);
	if ((h->multi = curl_multi_init()) == NULL) {
		*cause = xstrdup("curl_multi_init failed");
		free(h);
		curl_global_cleanup();
		return (NULL);
	}
	if ((error = uv_timer_init(loop, &h->timer)) != 0) {
		*cause = xasprintf("uv_timer_init: %s", uv_strerror(error));
		curl_multi_cleanup(h->multi);
		free(h);
		curl_global_cleanup();
		return (NULL);
	}
	h->timer.data = h;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, httpc_socket_fn);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, httpc_timer_fn);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return (h);
}

/*
 * Cancel every transfer (no callbacks) and close the client's handles.
 * Memory is released from the close callbacks, so the caller must run the
 * loop afterwards until they have run (uv_run with UV_RUN_DEFAULT returns
 * once nothing else is active).  May be called from a request's callback.
 */
void
httpc_free(struct httpc *h)
{
	struct httpc_xfer	*x;

	if (h == NULL || h->freeing)
		return;
	h->freeing = 1;
	uv_timer_stop(&h->timer);
	while ((x = TAILQ_FIRST(&h->xfers)) != NULL) {
		log_debug("httpc", "msg=\"cancelled\" xfer=%llu method=%s "
		    "host=%s", x->id, x->method, x->host);
		httpc_xfer_detach(x);
		httpc_xfer_free(x);
	}
	if (h->busy == 0)
		httpc_close(h);
}

/* Whether a method is a short HTTP token. */
static int
httpc_valid_method(const char *m)
{
	size_t	len = strlen(m);

	if (len == 0 || len > HTTPC_MAX_METHOD)
		return (0);
	return (strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == len);
}

/*
 * Check a URL and return its host for logging (caller frees), or NULL with
 * *cause.  The URL itself never goes into a message: it may hold a token.
 */
static char *
httpc_check_url(const char *url, char **cause)
{
	CURLU		*u;
	CURLUcode	 uc;
	char		*scheme = NULL, *host = NULL, *out = NULL;

	if ((u = curl_url()) == NULL) {
		*cause = xstrdup("curl_url failed");
		return (NULL);
	}
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		*cause = xasprintf("invalid URL: %s", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0)) {
		*cause = xstrdup("invalid URL: not http or https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		*cause = xstrdup("invalid URL: no host");
		goto out;
	}
	out = xstrdup(host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return (out);
}

/* Build the header list: the caller's headers plus an empty Expect. */
static int
httpc_set_headers(struct httpc_xfer *x, const char *const *headers,
    char **cause)
{
	struct curl_slist	*l;
	const char *const	*hp;
	int			 expect = 0;

	for (hp = headers; hp != NULL && *hp != NULL; hp++) {
		if (strpbrk(*hp, "\r\n") != NULL || strchr(*hp, ':') == NULL) {
			*cause = xstrdup("invalid header");
			return (-1);
		}
		if (strncasecmp(*hp, "Expect:", 7) == 0)
			expect = 1;
		if ((l = curl_slist_append(x->headers, *hp)) == NULL)
			goto nomem;
		x->headers = l;
	}
	/* No "Expect: 100-continue" round trip for larger bodies. */
	if (!expect) {
		if ((l = curl_slist_append(x->headers, "Expect:")) == NULL)
			goto nomem;
		x->headers = l;
	}
	return (0);
nomem:
	*cause = xstrdup("curl_slist_append failed");
	return (-1);
}

/* Apply the request to a new easy handle. */
static int
httpc_setup(struct httpc_xfer *x, const struct httpc_request *req,
    char **cause)
{
	CURL		*e = x->easy;
	long		 timeout, connect_timeout;
	curl_off_t	 maxsize;

	timeout = req->timeout_ms > 0 ? req->timeout_ms : HTTPC_TIMEOUT_MS;
	connect_timeout = req->connect_timeout_ms > 0 ?
	    req->connect_timeout_ms : HTTPC_CONNECT_TIMEOUT_MS;
	maxsize = x->max > (size_t)INT64_MAX ? INT64_MAX : (curl_off_t)x->max;

	if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK) {
		*cause = xstrdup("URL not accepted by curl");
		return (-1);
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, HTTPC_USER_AGENT);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, httpc_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, maxsize);

	if (httpc_set_headers(x, req->headers, cause) != 0)
		return (-1);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);

	if (req->body != NULL || strcmp(x->method, "POST") == 0) {
		x->body = xmalloc(req->body_len + 1);
		if (req->body_len != 0)
			memcpy(x->body, req->body, req->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		if (strcmp(x->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	} else if (strcmp(x->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(x->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	return (0);
}

/*
 * Start a request.  The callback runs later, from the loop, exactly once
 * unless the transfer is cancelled; the returned handle is valid until the
 * callback has started or httpc_cancel is called.
 */
struct httpc_xfer *
httpc_request(struct httpc *h, const struct httpc_request *req, httpc_cb cb,
    void *arg, char **cause)
{
	struct httpc_xfer	*x;
	const char		*method;
	char			*host;
	CURLMcode		 mc;

	if (h->freeing) {
		*cause = xstrdup("client is being freed");
		return (NULL);
	}
	if (req->url == NULL || cb == NULL) {
		*cause = xstrdup("no URL or no callback");
		return (NULL);
	}
	method = req->method != NULL ? req->method : "GET";
	if (!httpc_valid_method(method)) {
		*cause = xstrdup("invalid method");
		return (NULL);
	}
	if ((host = httpc_check_url(req->url, cause)) == NULL)
		return (NULL);

	x = xcalloc(1, sizeof *x);
	x->h = h;
	x->id = ++h->next_id;
	x->method = xstrdup(method);
	x->host = host;
	x->max = req->max_response > 0 ? req->max_response :
	    HTTPC_MAX_RESPONSE;
	x->retry_after = -1;
	x->cb = cb;
	x->arg = arg;
	if ((x->easy = curl_easy_init()) == NULL) {
		*cause = xstrdup("curl_easy_init failed");
		free(x->method);
		free(x->host);
		free(x);
		return (NULL);
	}
	if (httpc_setup(x, req, cause) != 0) {
		httpc_xfer_free(x);
		return (NULL);
	}

	/* This only arms the timer; the transfer runs from the loop. */
	x->start = uv_hrtime();
	if ((mc = curl_multi_add_handle(h->multi, x->easy)) != CURLM_OK) {
		*cause = xasprintf("curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		httpc_xfer_free(x);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&h->xfers, x, entry);
	h->active++;
	log_debug("httpc", "msg=\"start\" xfer=%llu method=%s host=%s",
	    x->id, x->method, x->host);
	return (x);
}

/*
 * Cancel a transfer; its callback is not called.  A no-op from inside the
 * transfer's own callback, where it is already finished.
 */
void
httpc_cancel(struct httpc_xfer *x)
{
	if (x == NULL || x->done)
		return;
	log_debug("httpc", "msg=\"cancelled\" xfer=%llu method=%s host=%s",
	    x->id, x->method, x->host);
	httpc_xfer_detach(x);
	httpc_xfer_free(x);
}

/* Count the transfers in flight. */
size_t
httpc_active(struct httpc *h)
{
	return (h->active);
}
