/*
 * The daemon's one shared context.  kefud has a single event loop thread;
 * everything here is used only from it.
 */
#ifndef KEFU_KEFU_H
#define KEFU_KEFU_H

#include <stddef.h>

#include <uv.h>

struct kefu_config;
struct store;
struct engine;
struct httpc;
struct channel;
struct lws_context;
struct lws_vhost;

struct kefu {
	uv_loop_t		*loop;
	struct kefu_config	*cfg;
	struct store		*store;
	struct engine		*engine;
	struct httpc		*httpc;
	struct lws_context	*lws;
	struct lws_vhost	*vhost;
	struct channel		**channels;
	size_t			 nchannels;
	int			 draining;	/* SIGTERM seen */
};

extern struct kefu	*kefu;

#endif
