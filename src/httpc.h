/*
 * The asynchronous HTTP client: libcurl's multi interface driven by the
 * libuv loop (as in curl's docs/examples/multi-uv.c).  Every outbound call
 * (Telegram, WeChat, LLM, order look-ups) goes through it; nothing blocks.
 */
#ifndef KEFU_HTTPC_H
#define KEFU_HTTPC_H

#include <stddef.h>

#include <uv.h>

struct httpc;
struct httpc_xfer;

struct httpc_request {
	const char		*method;	/* "GET" if NULL */
	const char		*url;
	const char *const	*headers;	/* "Name: value", NULL-terminated */
	const char		*body;		/* or NULL */
	size_t			 body_len;
	long			 timeout_ms;	/* whole transfer; 0: 30 s */
	long			 connect_timeout_ms; /* 0: 10 s */
	size_t			 max_response;	/* bytes; 0: 1 MiB */
};

struct httpc_response {
	long		 status;	/* HTTP status; 0 if none arrived */
	const char	*body;		/* NUL-terminated; "" if none */
	size_t		 body_len;
	int		 error;		/* 0, or the CURLcode of a failure */
	const char	*error_text;	/* curl's description, or NULL */
	long		 retry_after;	/* Retry-After seconds; -1 none */
	const char	*content_type;	/* or NULL */
	double		 total_ms;
};

/* Called once per request, on the loop; the response is valid during it. */
typedef void (*httpc_cb)(void *, const struct httpc_response *);

/* Returns NULL with *cause (caller frees) on failure. */
struct httpc	*httpc_new(uv_loop_t *, char **);
/* Cancel every transfer (their callbacks are not called) and free. */
void		 httpc_free(struct httpc *);
/*
 * Start a request.  Returns a handle for httpc_cancel, or NULL with *cause
 * (caller frees).  The request's strings are copied.
 */
struct httpc_xfer *httpc_request(struct httpc *, const struct httpc_request *,
		    httpc_cb, void *, char **);
/* Cancel a transfer; its callback is not called. */
void		 httpc_cancel(struct httpc_xfer *);
/* Transfers in flight. */
size_t		 httpc_active(struct httpc *);

#endif
