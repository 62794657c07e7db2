/*
 * The HTTP and WebSocket server: libwebsockets on kefu's libuv loop.  It
 * serves /healthz, /metrics and web/ itself; channels add WebSocket
 * protocols and HTTP routes before it starts.
 */
#ifndef KEFU_SERVER_H
#define KEFU_SERVER_H

#include <stddef.h>

struct lws_protocols;
struct http_request;

/*
 * A route's handler: called once per request, on the loop, with the whole
 * body read.  It MUST call http_respond() exactly once, now or later (for
 * example after the commit); the request's headers may be read only
 * during this call.
 */
typedef void (*http_handler)(struct http_request *, void *);

/* Add a protocol (a WebSocket channel); call before server_start. */
void	 server_add_protocol(const struct lws_protocols *);
/*
 * Serve GET and POST requests under a path prefix ("/telegram": also
 * "/telegram/shop") with handler; call before server_start.
 */
void	 server_add_route(const char *, http_handler, void *);
/*
 * Add a channel's webhook route: served like server_add_route's, and also
 * by the webhook listener (http.webhook_listen) when one is configured.
 */
void	 server_add_hook(const char *, http_handler, void *);

/* The request's method ("GET", "POST"), path (no query) and body. */
const char *http_request_method(const struct http_request *);
const char *http_request_path(const struct http_request *);
const char *http_request_body(const struct http_request *, size_t *);
/*
 * Copy a header's value ("x-telegram-bot-api-secret-token", "cookie") into
 * buf,
 * NUL-terminated.  Returns its length, or -1 if the request has no such
 * header or it does not fit.  Only during the handler call.
 */
int	 http_request_header(struct http_request *, const char *, char *,
	    size_t);
/*
 * Copy a query-string argument ("limit" for ?limit=5), URL-decoded, into
 * buf.  Returns its length, or -1.  Only during the handler call.
 */
int	 http_request_query(struct http_request *, const char *, char *,
	    size_t);
/* The client's address ("" if unknown). */
const char *http_request_peer(struct http_request *);
/* Add a header to the answer: name with its colon ("set-cookie:"). */
void	 http_add_header(struct http_request *, const char *, const char *);
/*
 * Answer a request: status, content type (NULL: no body) and body.  The
 * request is freed; if the client went away meanwhile, nothing is sent.
 */
void	 http_respond(struct http_request *, int, const char *, const char *,
	    size_t);
/* Answer with a JSON error body {"error": code, "message": text}. */
void	 http_respond_error(struct http_request *, int, const char *,
	    const char *);
/* Create the context and the vhost; -1 with *cause if the port is busy. */
int	 server_start(char **);
/* Destroy the context the way lws 4.1 with a foreign loop requires. */
void	 server_stop(void);
/* Once the loop has drained after server_stop, finish it. */
void	 server_finish(void);

#endif
