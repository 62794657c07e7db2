/*
 * kefud: the customer-service gateway daemon.  One process, one libuv
 * loop: libwebsockets (HTTP, widget WebSocket) and libcurl (outbound
 * calls) run on it, the store commits once per loop turn, and delivery
 * drains the outbox.  SIGTERM drains and exits 0; SIGHUP reloads the
 * templates and the FAQ.
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "channel.h"
#include "config.h"
#include "engine.h"
#include "httpc.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "server.h"
#include "store.h"
#include "xmalloc.h"

#ifndef KEFU_SYSCONFDIR
#define KEFU_SYSCONFDIR "/etc/kefu"
#endif

static struct kefu	 kefu_main;
struct kefu		*kefu = &kefu_main;

static uv_signal_t	 sig_term, sig_int, sig_hup;

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: kefud [-c file] [--check-config] [-h]\n"
	    "  -c, --config FILE   configuration file (default %s/kefu.conf,\n"
	    "                      or $KEFU_CONFIG)\n"
	    "  --check-config      validate the configuration and exit\n"
	    "  -h, --help          this help\n", KEFU_SYSCONFDIR);
	exit(status);
}

/* Stop everything and let the loop drain. */
static void
kefud_shutdown(void)
{
	size_t	i;

	if (kefu->draining)
		return;
	kefu->draining = 1;
	log_info("kefud", "msg=\"draining\"");
	pipeline_flush();
	for (i = 0; i < kefu->nchannels; i++)
		kefu->channels[i]->ops->stop(kefu->channels[i]);
	delivery_shutdown();
	server_stop();
	pipeline_shutdown();
	if (kefu->httpc != NULL) {
		httpc_free(kefu->httpc);
		kefu->httpc = NULL;
	}
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void
kefud_signal(uv_signal_t *h, int signo)
{
	char	*cause = NULL;

	if (signo == SIGHUP) {
		if (engine_reload(kefu->engine, &cause) != 0) {
			log_errorx("kefud", "msg=\"reload failed, keeping the "
			    "old templates\" error=%s", logq(cause));
			free(cause);
		} else
			log_info("kefud", "msg=\"reloaded templates and FAQ\"");
		return;
	}
	log_info("kefud", "msg=\"signal\" signal=%s",
	    signo == SIGTERM ? "TERM" : "INT");
	kefud_shutdown();
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct engine_config	 ec;
	const char		*path = getenv("KEFU_CONFIG");
	char			*cause = NULL;
	int			 ch, check = 0;
	size_t			 i;
	uv_loop_t		 loop;

	if (path == NULL)
		path = KEFU_SYSCONFDIR "/kefu.conf";
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	if ((kefu->cfg = config_load(path, &cause)) == NULL) {
		fprintf(stderr, "kefud: %s\n", cause);
		free(cause);
		return (1);
	}
	if (check) {
		printf("kefud: %s: configuration ok\n", path);
		config_free(kefu->cfg);
		return (0);
	}
	log_set_level(kefu->cfg->log_level);
	log_set_debug(kefu->cfg->log_debug);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * SQLite frees and re-allocates its statement journals on every
	 * insert; with glibc's default trim threshold each free returns
	 * memory to the kernel and the next insert faults it back in
	 * (docs/performance.md).  Keep a modest pad instead.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);

	if (store_open(kefu->cfg->store_path, kefu->cfg->store_synchronous_full,
	    kefu->cfg->store_busy_timeout_ms, &kefu->store, &cause) != 0)
		log_fatalx("kefud", "msg=\"cannot open the store\" path=%s "
		    "error=%s", logq(kefu->cfg->store_path), logq(cause));

	memset(&ec, 0, sizeof ec);
	ec.templates_dir = kefu->cfg->engine_templates;
	ec.faq_path = kefu->cfg->engine_faq;
	ec.default_lang = kefu->cfg->engine_default_lang;
	ec.welcome_idle = kefu->cfg->engine_welcome_idle;
	ec.max_failures = kefu->cfg->engine_max_failures;
	ec.answer_threshold = kefu->cfg->engine_answer_threshold;
	ec.confirm_threshold = kefu->cfg->engine_confirm_threshold;
	if ((kefu->engine = engine_new(&ec, &cause)) == NULL)
		log_fatalx("kefud", "msg=\"cannot load the engine\" error=%s",
		    logq(cause));

	uv_loop_init(&loop);
	kefu->loop = &loop;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((kefu->httpc = httpc_new(kefu->loop, &cause)) == NULL)
		log_fatalx("kefud", "msg=\"cannot start the HTTP client\" "
		    "error=%s", logq(cause));

	if (channels_create(kefu->cfg, &kefu->channels, &kefu->nchannels,
	    &cause) != 0)
		log_fatalx("kefud", "msg=\"bad channel configuration\" "
		    "error=%s", logq(cause));
	for (i = 0; i < kefu->nchannels; i++) {
		if (kefu->channels[i]->ops->start(kefu->channels[i],
		    &cause) != 0)
			log_fatalx("kefud", "msg=\"channel failed to start\" "
			    "channel=%s error=%s",
			    kefu->channels[i]->ops->name, logq(cause));
	}
	if (server_start(&cause) != 0)
		log_fatalx("kefud", "msg=\"cannot start the server\" "
		    "error=%s", logq(cause));

	uv_signal_init(kefu->loop, &sig_term);
	uv_signal_start(&sig_term, kefud_signal, SIGTERM);
	uv_signal_init(kefu->loop, &sig_int);
	uv_signal_start(&sig_int, kefud_signal, SIGINT);
	uv_signal_init(kefu->loop, &sig_hup);
	uv_signal_start(&sig_hup, kefud_signal, SIGHUP);

	pipeline_init();
	delivery_init();
	log_info("kefud", "msg=\"started\" config=%s store=%s", logq(path),
	    logq(kefu->cfg->store_path));

	uv_run(kefu->loop, UV_RUN_DEFAULT);

	server_finish();
	pipeline_flush();
	channels_free();
	engine_free(kefu->engine);
	store_close(kefu->store);
	if (uv_loop_close(kefu->loop) != 0)
		log_warnx("kefud", "msg=\"loop closed with handles open\"");
	curl_global_cleanup();
	metrics_free();
	log_info("kefud", "msg=\"stopped\"");
	config_free(kefu->cfg);
	return (0);
}
