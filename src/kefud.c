/*
 * kefud: the customer-service gateway daemon.  One process, one libuv
 * loop: libwebsockets (HTTP, widget WebSocket) and libcurl (outbound
 * calls) run on it, the store commits once per loop turn, delivery drains
 * the outbox and the engine's stored timers fire.  At start-up the intent
 * model is trained from engine.examples (and the examples kefuctl stored)
 * and the knowledge-base files of engine.kb are imported.  SIGTERM drains
 * and exits 0; SIGHUP reloads the templates, re-imports the knowledge base
 * and retrains the model, keeping what it had when something fails.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "actions.h"
#include "api.h"
#include "channel.h"
#include "config.h"
#include "engine.h"
#include "httpc.h"
#include "inbox.h"
#include "kb.h"
#include "kefu.h"
#include "log.h"
#include "metrics.h"
#include "nlu.h"
#include "pipeline.h"
#include "server.h"
#include "store.h"
#include "timers.h"
#include "webhooks.h"
#include "xmalloc.h"

#ifndef KEFU_SYSCONFDIR
#define KEFU_SYSCONFDIR "/etc/kefu"
#endif

static struct kefu	 kefu_main;
struct kefu		*kefu = &kefu_main;

static uv_signal_t	 sig_term, sig_int, sig_hup;
static struct nlu	*kefud_nlu;	/* the model the pipeline uses */

/* business_hours.days, Monday first (engine_hours.days bit order). */
static const char	*kefud_days[] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun"
};

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

/*
 * Train the intent model from engine.examples and the stored examples and
 * hand it to the pipeline; on failure the old model stays.  0 or -1 with
 * *cause.
 */
static int
kefud_train(char **cause)
{
	const struct kefu_config	*cfg = kefu->cfg;
	struct nlu_example		*ex = NULL;
	struct nlu_options		 opts;
	struct nlu			*model;
	const char			**intents;
	size_t				 n = 0;

	if (nlu_examples_load(kefu->store, cfg->engine_examples, &ex, &n,
	    cause) != 0)
		return (-1);
	memset(&opts, 0, sizeof opts);
	opts.min_confidence = cfg->engine_nlu_min_confidence;
	if (*cfg->engine_order_pattern != '\0')
		opts.order_pattern = cfg->engine_order_pattern;
	model = nlu_train(ex, n, &opts, cause);
	nlu_examples_free(ex, n);
	if (model == NULL)
		return (-1);
	pipeline_set_nlu(model);
	nlu_free(kefud_nlu);
	kefud_nlu = model;
	log_info("kefud", "msg=\"intent model trained\" examples=%zu "
	    "intents=%zu", n, nlu_intents(model, &intents));
	return (0);
}

/* Compare names, for a stable import order. */
static int
kefud_namecmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Import one knowledge-base file or every .md and .csv in a directory. */
static int
kefud_import_path(const char *path, int *entries, char **cause)
{
	struct stat	 sb;
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL, *file;
	size_t		 n = 0, i, len;
	int		 r = 0, got;

	if (stat(path, &sb) != 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode)) {
		if ((got = kb_import(kefu->store, path, cause)) < 0)
			return (-1);
		*entries += got;
		return (0);
	}
	if ((d = opendir(path)) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || (!(len > 3 &&
		    strcmp(de->d_name + len - 3, ".md") == 0) &&
		    !(len > 4 && strcmp(de->d_name + len - 4, ".csv") == 0)))
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, kefud_namecmp);
	for (i = 0; i < n; i++) {
		file = xasprintf("%s/%s", path, names[i]);
		if (r == 0 && (got = kb_import(kefu->store, file,
		    cause)) < 0)
			r = -1;
		else if (r == 0)
			*entries += got;
		free(file);
		free(names[i]);
	}
	free(names);
	return (r);
}

/*
 * Import the knowledge-base files of engine.kb into the store (each file
 * replaces what it imported before), inside the current transaction; the
 * caller commits, or rolls back on failure.  0 or -1 with *cause.
 */
static int
kefud_import_kb(char **cause)
{
	const struct config_list	*kb = &kefu->cfg->engine_kb;
	size_t				 i;
	int				 entries = 0;

	for (i = 0; i < kb->n; i++) {
		if (kefud_import_path(kb->v[i], &entries, cause) != 0)
			return (-1);
	}
	if (kb->n > 0)
		log_info("kefud", "msg=\"knowledge base imported\" paths=%zu "
		    "entries=%d", kb->n, entries);
	return (0);
}

/* SIGHUP: reload templates, the knowledge base and the intent model. */
static void
kefud_reload(void)
{
	char	*cause = NULL;

	if (engine_reload(kefu->engine, &cause) != 0) {
		log_errorx("kefud", "msg=\"reload failed, keeping the old "
		    "templates\" error=%s", logq(cause));
		free(cause);
		cause = NULL;
	} else
		log_info("kefud", "msg=\"reloaded templates\"");
	/* The import joins this turn's transaction; the loop commits it. */
	pipeline_flush();
	if (kefud_import_kb(&cause) != 0) {
		log_errorx("kefud", "msg=\"knowledge base import failed, "
		    "keeping the old entries\" error=%s", logq(cause));
		free(cause);
		cause = NULL;
		store_rollback(kefu->store);
	} else
		pipeline_flush();
	if (kefud_train(&cause) != 0) {
		log_errorx("kefud", "msg=\"training failed, keeping the old "
		    "intent model\" error=%s", logq(cause));
		free(cause);
	}
	/* Items kefuctl put back in line are taken from now on. */
	pipeline_queue_reload();
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
	actions_shutdown();
	timers_shutdown();
	inbox_live_shutdown();
	delivery_shutdown();
	webhooks_shutdown();
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

/* SIGHUP reloads; SIGTERM and SIGINT drain and stop. */
static void
kefud_signal(uv_signal_t *h, int signo)
{
	if (signo == SIGHUP) {
		kefud_reload();
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
	size_t			 i, j;
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
	/* Durable as "full", but the loop does not wait for the disk. */
	if (kefu->cfg->store_synchronous_full &&
	    store_defer_sync(kefu->store, &cause) != 0) {
		log_warnx("kefud", "msg=\"commits sync on the loop\" "
		    "error=%s", logq(cause));
		free(cause);
		cause = NULL;
	}

	memset(&ec, 0, sizeof ec);
	ec.templates_dir = kefu->cfg->engine_templates;
	ec.default_lang = kefu->cfg->engine_default_lang;
	ec.welcome_idle = kefu->cfg->engine_welcome_idle;
	ec.max_failures = kefu->cfg->engine_max_failures;
	ec.nlu_min_confidence = kefu->cfg->engine_nlu_min_confidence;
	ec.answer_threshold = kefu->cfg->engine_answer_threshold;
	ec.kb_min_score = kefu->cfg->engine_kb_min_score;
	ec.kb_answer_score = kefu->cfg->engine_kb_answer_score;
	ec.handoff_sentiment = kefu->cfg->engine_handoff_sentiment;
	ec.human_only = (const char *const *)kefu->cfg->engine_human_only.v;
	ec.nhuman_only = kefu->cfg->engine_human_only.n;
	ec.followup_delay = kefu->cfg->engine_followup_delay;
	ec.resolve_delay = kefu->cfg->engine_resolve_delay;
	/* The watchdog gives the look-up its time-out and a margin. */
	ec.action_timeout = kefu->cfg->order_timeout_ms + 5000;
	ec.hours.timezone = kefu->cfg->hours_timezone;
	for (i = 0; i < kefu->cfg->hours_days.n; i++) {
		for (j = 0; j < 7; j++) {
			if (strcmp(kefu->cfg->hours_days.v[i],
			    kefud_days[j]) == 0)
				ec.hours.days |= 1 << j;
		}
	}
	ec.hours.open = kefu->cfg->hours_open;
	ec.hours.close = kefu->cfg->hours_close;
	if ((kefu->engine = engine_new(&ec, &cause)) == NULL)
		log_fatalx("kefud", "msg=\"cannot load the engine\" error=%s",
		    logq(cause));
	if (kefud_import_kb(&cause) != 0)
		log_fatalx("kefud", "msg=\"cannot import the knowledge "
		    "base\" error=%s", logq(cause));
	if (store_commit(kefu->store, &cause) != 0)
		log_fatalx("kefud", "msg=\"cannot import the knowledge "
		    "base\" error=%s", logq(cause));
	if (kefud_train(&cause) != 0)
		log_fatalx("kefud", "msg=\"cannot train the intent model\" "
		    "error=%s", logq(cause));

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
	api_init();
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
	webhooks_init();
	timers_init();
	log_info("kefud", "msg=\"started\" config=%s store=%s", logq(path),
	    logq(kefu->cfg->store_path));

	uv_run(kefu->loop, UV_RUN_DEFAULT);

	server_finish();
	pipeline_flush();
	channels_free();
	engine_free(kefu->engine);
	pipeline_set_nlu(NULL);
	nlu_free(kefud_nlu);
	store_close(kefu->store);
	if (uv_loop_close(kefu->loop) != 0)
		log_warnx("kefud", "msg=\"loop closed with handles open\"");
	curl_global_cleanup();
	metrics_free();
	log_info("kefud", "msg=\"stopped\"");
	config_free(kefu->cfg);
	return (0);
}
