/*
 * What server.c (libwebsockets) and hooks.c (the webhook listener,
 * libmicrohttpd) share: the route table and the request both answer
 * through the functions of server.h.
 */
#ifndef KEFU_SERVER_PRIV_H
#define KEFU_SERVER_PRIV_H

#include "server.h"
#include "util.h"

#define SERVER_MAX_EXTRA	4	/* extra response headers */

struct lws;
struct lws_http_mount;
struct MHD_Connection;

/*
 * One request to a route.  A request from libwebsockets has wsi (NULL
 * once its connection closed); one from the webhook listener has hook set
 * and conn (NULL once its connection closed).  An orphaned request is
 * freed by http_respond.
 */
struct http_request {
	struct lws		*wsi;
	struct http_session	*session;
	int			 hook;		/* from the webhook listener */
	struct MHD_Connection	*conn;
	int			 dispatched;	/* handler called */
	int			 suspended;	/* waits for http_respond */
	struct http_request	*wprev, *wnext;	/* suspended ones */
	int			 too_large;
	const struct route	*route;
	const char		*method;
	char			*path;
	struct dbuf		 body;
	size_t			 expected;	/* Content-Length; 0 none */
	int			 answered;
	int			 status;
	const char		*type;
	char			*out;
	size_t			 outlen;
	int			 headers_sent;
	char			 peer[64];
	struct {
		char		*name;
		char		*value;
	}			 extra[SERVER_MAX_EXTRA];
	size_t			 nextra;
};

/* A route added by a channel or the inbox. */
struct route {
	char			*prefix;
	http_handler		 handler;
	void			*arg;
	int			 hook;		/* also on the webhook listener */
	struct lws_http_mount	*mount;
};

/* The route whose prefix matches path (only hooks if hook), or NULL. */
const struct route *server_find_route(const char *, int);
void	 http_request_free(struct http_request *);
/* /healthz: its status and body (caller frees). */
char	*server_healthz_body(int *);

/* The webhook listener (hooks.c): start, stop, and its half of server.h. */
int	 hooks_start(char **);
void	 hooks_stop(void);
void	 hooks_respond(struct http_request *);
int	 hooks_header(struct http_request *, const char *, char *, size_t);
int	 hooks_query(struct http_request *, const char *, char *, size_t);
void	 hooks_peer(struct http_request *);

#endif
