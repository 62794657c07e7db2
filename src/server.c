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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "config.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

#define SERVER_MAX_PROTOCOLS	8

struct http_session {
	char	*body;
	size_t	 len;
	int	 status;
	const char *type;
};

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

/* Build the body of /healthz. */
static void
server_healthz(struct http_session *s)
{
	int64_t	depth = -1;

	if (kefu->store == NULL || store_outbox_depth(kefu->store, &depth) != 0) {
		s->status = HTTP_STATUS_SERVICE_UNAVAILABLE;
		s->body = xstrdup("{\"status\":\"unavailable\"}\n");
	} else if (kefu->draining) {
		s->status = HTTP_STATUS_SERVICE_UNAVAILABLE;
		s->body = xstrdup("{\"status\":\"draining\"}\n");
	} else {
		s->status = HTTP_STATUS_OK;
		s->body = xasprintf("{\"status\":\"ok\",\"outbox\":%lld}\n",
		    (long long)depth);
	}
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

/* The protocol callback serving /healthz and /metrics. */
static int
server_http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct http_session	*s = user;
	unsigned char		 hdr[LWS_PRE + 2048], *start, *p, *end;
	unsigned char		*buf;
	char			 uri[128];
	int			 n;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0)
			return (-1);
		if (strcmp(uri, "/healthz") == 0) {
			server_healthz(s);
			metrics_inc("kefu_http_requests_total",
			    "route=\"/healthz\"");
		} else if (strcmp(uri, "/metrics") == 0) {
			server_metrics(s);
			metrics_inc("kefu_http_requests_total",
			    "route=\"/metrics\"");
		} else {
			lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
			    NULL);
			return (-1);
		}
		s->len = strlen(s->body);
		start = p = hdr + LWS_PRE;
		end = hdr + sizeof hdr - 1;
		if (lws_add_http_common_headers(wsi, (unsigned)s->status,
		    s->type, (lws_filepos_t)s->len, &p, end) ||
		    lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"cache-control:",
		    (const unsigned char *)"no-store", 8, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return (1);
		lws_callback_on_writable(wsi);
		return (0);
	case LWS_CALLBACK_HTTP_WRITEABLE:
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
		break;
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
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

	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_LIBUV |
	    LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.vhost_name = "kefu";
	info.iface = cfg->http_host;
	info.port = cfg->http_port;
	info.protocols = server_protocols;
	info.mounts = &mount_healthz;
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
	return (0);
}

/*
 * Start destroying the context: with a foreign loop, lws closes its
 * handles while the loop keeps running and clears kefu->lws when done.
 */
void
server_stop(void)
{
	if (kefu->lws != NULL)
		lws_context_destroy(kefu->lws);
	kefu->vhost = NULL;
}

/* After the loop has drained: finish the destruction if lws has not. */
void
server_finish(void)
{
	if (kefu->lws != NULL)
		lws_context_destroy(kefu->lws);
	kefu->lws = NULL;
}
