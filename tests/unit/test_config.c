/*
 * Tests of src/config.c: the defaults, the demo etc/kefu.conf, a file that
 * sets everything, one bad file per kind of error (each must name the file,
 * the line and the key), listen address parsing, and the generated
 * etc/kefu.conf and kefu.conf(5), which must match the committed copies
 * byte for byte.  With KEFU_REGEN=1 the test rewrites those two files.
 */
#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "xmalloc.h"

#ifndef KEFU_DATADIR
#define KEFU_DATADIR "/usr/local/share/kefu"
#endif

/* The source tree, where the data files are. */
static const char *
srcdir(void)
{
	const char	*top;

	if ((top = getenv("top_srcdir")) == NULL || *top == '\0')
		top = ".";
	return (top);
}

/* A path under the source tree; the caller frees it. */
static char *
src_path(const char *rel)
{
	return (xasprintf("%s/%s", srcdir(), rel));
}

/* The real path of a directory under the source tree plus a tail. */
static char *
real_path(const char *dir, const char *tail)
{
	char	*p, *r, *out;

	p = src_path(dir);
	r = realpath(p, NULL);
	assert_non_null(r);
	out = xasprintf("%s%s", r, tail);
	free(r);
	free(p);
	return (out);
}

/* Write text to a new temporary file; the caller unlinks and frees. */
static char *
write_temp(const char *text)
{
	char	*path;
	FILE	*f;
	int	 fd;

	path = xstrdup("/tmp/kefu-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return (path);
}

/* Load a config from text; returns it or NULL with *cause set. */
static struct kefu_config *
load_text(const char *text, char **cause, char **path_out)
{
	struct kefu_config	*cfg;
	char			*path;

	path = write_temp(text);
	cfg = config_load(path, cause);
	unlink(path);
	if (path_out != NULL)
		*path_out = path;
	else
		free(path);
	return (cfg);
}

static void
test_defaults(void **state)
{
	struct kefu_config	*cfg;

	cfg = config_default();
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_string_equal(cfg->http_listen, "127.0.0.1:8080");
	assert_string_equal(cfg->http_host, "127.0.0.1");
	assert_int_equal(cfg->http_port, 8080);
	assert_string_equal(cfg->http_web_root, KEFU_DATADIR "/web");
	assert_int_equal(cfg->http_max_body, 1048576);
	assert_string_equal(cfg->store_path, "/var/lib/kefu/kefu.db");
	assert_int_equal(cfg->store_synchronous_full, 1);
	assert_int_equal(cfg->store_busy_timeout_ms, 5000);
	assert_string_equal(cfg->log_level, "info");
	assert_string_equal(cfg->log_debug, "");
	assert_int_equal(cfg->ws_enabled, 1);
	assert_string_equal(cfg->ws_path, "/ws");
	assert_int_equal(cfg->ws_max_frame, 16384);
	assert_int_equal(cfg->ws_max_connections, 20000);
	assert_int_equal(cfg->ws_rate_per_sec, 5);
	assert_int_equal(cfg->ws_rate_burst, 20);
	assert_int_equal(cfg->ws_ping_interval, 30);
	assert_int_equal(cfg->ws_idle_timeout, 90);
	assert_null(cfg->ws_identity_secret);
	assert_int_equal(cfg->ws_queue_max, 256);
	assert_string_equal(cfg->engine_default_lang, "en");
	assert_string_equal(cfg->engine_templates, KEFU_DATADIR "/templates");
	assert_string_equal(cfg->engine_examples,
	    KEFU_DATADIR "/demo/intents.csv");
	assert_int_equal(cfg->engine_kb.n, 0);
	assert_string_equal(cfg->engine_order_pattern, "");
	assert_int_equal(cfg->engine_welcome_idle, 3600);
	assert_int_equal(cfg->engine_max_failures, 2);
	assert_true(cfg->engine_nlu_min_confidence > 0);
	assert_true(cfg->engine_nlu_min_confidence <=
	    cfg->engine_answer_threshold);
	assert_true(cfg->engine_answer_threshold < 1);
	assert_true(cfg->engine_kb_min_score > 0);
	assert_true(cfg->engine_kb_answer_score >= cfg->engine_kb_min_score);
	assert_true(cfg->engine_handoff_sentiment == -0.6);
	assert_int_equal(cfg->engine_human_only.n, 0);
	assert_int_equal(cfg->engine_followup_delay, 300);
	assert_int_equal(cfg->engine_resolve_delay, 900);
	assert_string_equal(cfg->hours_timezone, "");
	assert_int_equal(cfg->hours_days.n, 7);
	assert_string_equal(cfg->hours_days.v[0], "mon");
	assert_string_equal(cfg->hours_days.v[6], "sun");
	assert_int_equal(cfg->hours_open, 0);
	assert_int_equal(cfg->hours_close, 24 * 60);
	assert_string_equal(cfg->order_url, "");
	assert_int_equal(cfg->order_headers.n, 0);
	assert_int_equal(cfg->order_timeout_ms, 5000);
	assert_int_equal(cfg->order_map.n, 0);
	assert_int_equal(cfg->delivery_retry_base_ms, 1000);
	assert_int_equal(cfg->delivery_retry_max_ms, 300000);
	assert_int_equal(cfg->delivery_max_attempts, 10);
	assert_int_equal(cfg->delivery_batch, 100);
	config_free(cfg);
}

/* Compare two lists of strings. */
static void
assert_same_list(const struct config_list *a, const struct config_list *b)
{
	size_t	i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++)
		assert_string_equal(a->v[i], b->v[i]);
}

/* Compare every non-path value of two configs. */
static void
assert_same_values(struct kefu_config *a, struct kefu_config *b)
{
	assert_string_equal(a->http_listen, b->http_listen);
	assert_string_equal(a->http_host, b->http_host);
	assert_int_equal(a->http_port, b->http_port);
	assert_int_equal(a->http_max_body, b->http_max_body);
	assert_int_equal(a->store_synchronous_full, b->store_synchronous_full);
	assert_int_equal(a->store_busy_timeout_ms, b->store_busy_timeout_ms);
	assert_string_equal(a->log_level, b->log_level);
	assert_string_equal(a->log_debug, b->log_debug);
	assert_int_equal(a->ws_enabled, b->ws_enabled);
	assert_string_equal(a->ws_path, b->ws_path);
	assert_int_equal(a->ws_max_frame, b->ws_max_frame);
	assert_int_equal(a->ws_max_connections, b->ws_max_connections);
	assert_int_equal(a->ws_rate_per_sec, b->ws_rate_per_sec);
	assert_int_equal(a->ws_rate_burst, b->ws_rate_burst);
	assert_int_equal(a->ws_ping_interval, b->ws_ping_interval);
	assert_int_equal(a->ws_idle_timeout, b->ws_idle_timeout);
	assert_true((a->ws_identity_secret == NULL) ==
	    (b->ws_identity_secret == NULL));
	assert_int_equal(a->ws_queue_max, b->ws_queue_max);
	assert_string_equal(a->engine_default_lang, b->engine_default_lang);
	assert_int_equal(a->engine_welcome_idle, b->engine_welcome_idle);
	assert_int_equal(a->engine_max_failures, b->engine_max_failures);
	assert_true(a->engine_answer_threshold == b->engine_answer_threshold);
	assert_true(a->engine_nlu_min_confidence ==
	    b->engine_nlu_min_confidence);
	assert_true(a->engine_kb_min_score == b->engine_kb_min_score);
	assert_true(a->engine_kb_answer_score == b->engine_kb_answer_score);
	assert_true(a->engine_handoff_sentiment ==
	    b->engine_handoff_sentiment);
	assert_string_equal(a->engine_order_pattern, b->engine_order_pattern);
	assert_same_list(&a->engine_human_only, &b->engine_human_only);
	assert_int_equal(a->engine_followup_delay, b->engine_followup_delay);
	assert_int_equal(a->engine_resolve_delay, b->engine_resolve_delay);
	assert_string_equal(a->hours_timezone, b->hours_timezone);
	assert_same_list(&a->hours_days, &b->hours_days);
	assert_int_equal(a->hours_open, b->hours_open);
	assert_int_equal(a->hours_close, b->hours_close);
	assert_string_equal(a->order_url, b->order_url);
	assert_same_list(&a->order_headers, &b->order_headers);
	assert_int_equal(a->order_timeout_ms, b->order_timeout_ms);
	assert_int_equal(a->order_map.n, b->order_map.n);
	assert_int_equal(a->delivery_retry_base_ms, b->delivery_retry_base_ms);
	assert_int_equal(a->delivery_retry_max_ms, b->delivery_retry_max_ms);
	assert_int_equal(a->delivery_max_attempts, b->delivery_max_attempts);
	assert_int_equal(a->delivery_batch, b->delivery_batch);
}

static void
test_empty_file(void **state)
{
	struct kefu_config	*cfg, *def;
	char			*cause = NULL, *path;

	cfg = load_text("# nothing\n", &cause, &path);
	if (cfg == NULL)
		fail_msg("%s", cause);
	def = config_default();
	assert_string_equal(cfg->path, path);
	assert_same_values(cfg, def);
	assert_string_equal(cfg->http_web_root, def->http_web_root);
	assert_string_equal(cfg->store_path, def->store_path);
	assert_string_equal(cfg->engine_templates, def->engine_templates);
	assert_string_equal(cfg->engine_examples, def->engine_examples);
	assert_same_list(&cfg->engine_kb, &def->engine_kb);
	config_free(def);
	config_free(cfg);
	free(path);
}

/* Make dst a copy of src. */
static void
copy_list(struct config_list *dst, const struct config_list *src)
{
	size_t	i;

	for (i = 0; i < dst->n; i++)
		free(dst->v[i]);
	free(dst->v);
	dst->v = xcalloc(src->n + 1, sizeof *dst->v);
	for (i = 0; i < src->n; i++)
		dst->v[i] = xstrdup(src->v[i]);
	dst->n = src->n;
}

/*
 * Give def the values the demo sets actively in etc/kefu.conf (besides
 * paths), so that the rest can be compared with the defaults.
 */
static void
adopt_demo_values(struct kefu_config *def, const struct kefu_config *demo)
{
	copy_list(&def->engine_human_only, &demo->engine_human_only);
	copy_list(&def->hours_days, &demo->hours_days);
	free(def->engine_order_pattern);
	def->engine_order_pattern = xstrdup(demo->engine_order_pattern);
	free(def->hours_timezone);
	def->hours_timezone = xstrdup(demo->hours_timezone);
	def->hours_open = demo->hours_open;
	def->hours_close = demo->hours_close;
}

static void
test_demo(void **state)
{
	struct kefu_config	*cfg, *def;
	char			*path, *cause = NULL, *want;

	path = src_path("etc/kefu.conf");
	if ((cfg = config_load(path, &cause)) == NULL)
		fail_msg("%s", cause);
	assert_string_equal(cfg->path, path);

	want = real_path(".", "/web");
	assert_string_equal(cfg->http_web_root, want);
	free(want);
	want = real_path(".", "/var/kefu.db");
	assert_string_equal(cfg->store_path, want);
	free(want);
	want = real_path(".", "/templates");
	assert_string_equal(cfg->engine_templates, want);
	free(want);
	want = real_path("etc", "/demo/intents.csv");
	assert_string_equal(cfg->engine_examples, want);
	free(want);
	assert_int_equal(cfg->engine_kb.n, 1);
	want = real_path("etc", "/demo/kb");
	assert_string_equal(cfg->engine_kb.v[0], want);
	free(want);

	/* The demo shop's rules. */
	assert_string_equal(cfg->engine_order_pattern,
	    "[A-Za-z]{1,6}-?[0-9]{4,20}|[0-9]{5,20}");
	assert_int_equal(cfg->engine_human_only.n, 2);
	assert_string_equal(cfg->engine_human_only.v[0], "complaint");
	assert_string_equal(cfg->engine_human_only.v[1], "legal");
	assert_string_equal(cfg->hours_timezone, "Asia/Shanghai");
	assert_int_equal(cfg->hours_days.n, 5);
	assert_string_equal(cfg->hours_days.v[4], "fri");
	assert_int_equal(cfg->hours_open, 9 * 60);
	assert_int_equal(cfg->hours_close, 18 * 60);

	/* Everything else in the demo is at its default. */
	def = config_default();
	adopt_demo_values(def, cfg);
	assert_same_values(cfg, def);
	config_free(def);
	config_free(cfg);
	free(path);
}

static void
test_good(void **state)
{
	struct kefu_config	*cfg;
	char			*path, *cause = NULL, *want;

	path = src_path("tests/data/config/good.conf");
	if ((cfg = config_load(path, &cause)) == NULL)
		fail_msg("%s", cause);
	assert_string_equal(cfg->http_listen, "[::1]:9090");
	assert_string_equal(cfg->http_host, "::1");
	assert_int_equal(cfg->http_port, 9090);
	want = real_path("tests/data/config", "/www");
	assert_string_equal(cfg->http_web_root, want);
	free(want);
	assert_int_equal(cfg->http_max_body, 2048);
	want = real_path("tests/data/config", "/db/kefu.db");
	assert_string_equal(cfg->store_path, want);
	free(want);
	assert_int_equal(cfg->store_synchronous_full, 0);
	assert_int_equal(cfg->store_busy_timeout_ms, 0);
	assert_string_equal(cfg->log_level, "debug");
	assert_string_equal(cfg->log_debug, "store,ws");
	assert_int_equal(cfg->ws_enabled, 0);
	assert_string_equal(cfg->ws_path, "/chat");
	assert_int_equal(cfg->ws_max_frame, 128);
	assert_int_equal(cfg->ws_max_connections, 3);
	assert_int_equal(cfg->ws_rate_per_sec, 7);
	assert_int_equal(cfg->ws_rate_burst, 9);
	assert_int_equal(cfg->ws_ping_interval, 11);
	assert_int_equal(cfg->ws_idle_timeout, 13);
	assert_non_null(cfg->ws_identity_secret);
	assert_string_equal(cfg->ws_identity_secret, "not a real secret");
	assert_int_equal(cfg->ws_queue_max, 17);
	assert_string_equal(cfg->engine_default_lang, "zh-CN");
	assert_string_equal(cfg->engine_templates, "/srv/kefu/templates");
	want = real_path("tests/data/config", "/intents.csv");
	assert_string_equal(cfg->engine_examples, want);
	free(want);
	assert_int_equal(cfg->engine_kb.n, 2);
	want = real_path("tests/data/config", "/kb/faq.md");
	assert_string_equal(cfg->engine_kb.v[0], want);
	free(want);
	assert_string_equal(cfg->engine_kb.v[1], "/srv/kefu/kb");
	assert_string_equal(cfg->engine_order_pattern, "^[0-9]{6,20}$");
	assert_int_equal(cfg->engine_welcome_idle, 60);
	assert_int_equal(cfg->engine_max_failures, 4);
	assert_true(cfg->engine_nlu_min_confidence == 0.75);
	assert_true(cfg->engine_answer_threshold == 1.0);
	assert_true(cfg->engine_kb_min_score == 0.125);
	assert_true(cfg->engine_kb_answer_score == 0.5);
	assert_true(cfg->engine_handoff_sentiment == -1.0);
	assert_int_equal(cfg->engine_human_only.n, 1);
	assert_string_equal(cfg->engine_human_only.v[0], "complaint");
	assert_int_equal(cfg->engine_followup_delay, 1);
	assert_int_equal(cfg->engine_resolve_delay, 604800);
	assert_string_equal(cfg->hours_timezone, "Europe/Berlin");
	assert_int_equal(cfg->hours_days.n, 2);
	assert_string_equal(cfg->hours_days.v[0], "sat");
	assert_string_equal(cfg->hours_days.v[1], "sun");
	assert_int_equal(cfg->hours_open, 7 * 60 + 30);
	assert_int_equal(cfg->hours_close, 24 * 60);
	assert_string_equal(cfg->order_url,
	    "https://shop.example/api/orders/{order_id}?full=1");
	assert_int_equal(cfg->order_headers.n, 2);
	assert_string_equal(cfg->order_headers.v[0],
	    "Authorization: Bearer not-a-real-token");
	assert_string_equal(cfg->order_headers.v[1], "X-Shop: kefu");
	assert_int_equal(cfg->order_timeout_ms, 100);
	assert_int_equal(cfg->order_map.n, 3);
	assert_string_equal(cfg->order_map.keys[0], "status");
	assert_string_equal(cfg->order_map.values[0], "state");
	assert_string_equal(cfg->order_map.keys[2], "tracking");
	assert_string_equal(cfg->order_map.values[2],
	    "delivery.tracking_no");
	assert_int_equal(cfg->delivery_retry_base_ms, 250);
	assert_int_equal(cfg->delivery_retry_max_ms, 600000);
	assert_int_equal(cfg->delivery_max_attempts, 3);
	assert_int_equal(cfg->delivery_batch, 42);
	config_free(cfg);
	free(path);
}

/* Load a bad file from tests/data/config; the error must be exactly this. */
static void
expect_error(const char *name, int line, const char *key, const char *why)
{
	struct kefu_config	*cfg;
	char			*rel, *path, *cause = NULL, *want;

	rel = xasprintf("tests/data/config/%s", name);
	path = src_path(rel);
	cfg = config_load(path, &cause);
	if (cfg != NULL)
		fail_msg("%s loaded but should not", name);
	assert_non_null(cause);
	if (key != NULL)
		want = xasprintf("%s:%d: %s: %s", path, line, key, why);
	else
		want = xasprintf("%s:%d: %s", path, line, why);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
	free(rel);
}

static void
test_error_unknown_top(void **state)
{
	expect_error("bad-unknown-top.conf", 6, "smtp", "unknown setting");
}

static void
test_error_unknown_nested(void **state)
{
	expect_error("bad-unknown-nested.conf", 5,
	    "channels.websocket.max_frmae", "unknown setting");
}

static void
test_error_type(void **state)
{
	expect_error("bad-type.conf", 3, "store.busy_timeout",
	    "expected an integer, found a string");
}

static void
test_error_min(void **state)
{
	expect_error("bad-min.conf", 7, "channels.websocket.max_frame",
	    "10 is below the minimum 128");
}

static void
test_error_max(void **state)
{
	expect_error("bad-max.conf", 3, "http.max_body",
	    "5000000000 is above the maximum 104857600");
}

static void
test_error_enum(void **state)
{
	expect_error("bad-enum.conf", 4, "log.level",
	    "\"verbose\" is not one of error, warn, info, debug");
}

static void
test_error_listen(void **state)
{
	expect_error("bad-listen.conf", 3, "http.listen",
	    "\"::1:8080\": put an IPv6 address in brackets, like [::1]:8080");
}

static void
test_error_thresholds(void **state)
{
	expect_error("bad-thresholds.conf", 5, "engine.nlu_min_confidence",
	    "0.6 is greater than engine.answer_threshold (0.4)");
}

static void
test_error_syntax(void **state)
{
	expect_error("bad-syntax.conf", 3, NULL, "syntax error");
}

static void
test_error_more(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;	/* after "file:" */
	} cases[] = {
		{ "http = 5;\n",
		  "1: http: expected a group, found an integer" },
		{ "log = { level = [\"info\"]; };\n",
		  "1: log.level: expected a string, found an array" },
		{ "engine = { answer_threshold = \"high\"; };\n",
		  "1: engine.answer_threshold: expected a number, found a "
		  "string" },
		{ "engine = {\n answer_threshold = 1.5; };\n",
		  "2: engine.answer_threshold: 1.5 is above the maximum 1" },
		{ "channels = { websocket = { enabled = 1; }; };\n",
		  "1: channels.websocket.enabled: expected a boolean (true or "
		  "false), found an integer" },
		{ "channels = { websocket = { path = \"ws\"; }; };\n",
		  "1: channels.websocket.path: \"ws\" does not begin with /" },
		{ "store = { synchronous = \"off\"; };\n",
		  "1: store.synchronous: \"off\" is not one of normal, full" },
		{ "store = { path = \"\"; };\n",
		  "1: store.path: the path is empty" },
		{ "engine = { default_lang = \"fr\"; };\n",
		  "1: engine.default_lang: \"fr\" is not one of en, zh-CN" },
		{ "channels = { websocket = {\n ping_interval = 60;\n"
		  " idle_timeout = 60; }; };\n",
		  "2: channels.websocket.ping_interval: 60 is not less than "
		  "channels.websocket.idle_timeout (60)" },
		{ "channels = { websocket = {\n idle_timeout = 30; }; };\n",
		  "2: channels.websocket.idle_timeout: 30 is not greater than "
		  "channels.websocket.ping_interval (30)" },
		{ "delivery = {\n retry_base = 3600000;\n"
		  " retry_max = 3599999; };\n",
		  "2: delivery.retry_base: 3600000 is greater than "
		  "delivery.retry_max (3599999)" },
		{ "delivery = {\n retry_max = 500; };\n",
		  "2: delivery.retry_max: 500 is less than "
		  "delivery.retry_base (1000)" },
		{ "engine = {\n kb_min_score = 0.3;\n"
		  " kb_answer_score = 0.2; };\n",
		  "2: engine.kb_min_score: 0.3 is greater than "
		  "engine.kb_answer_score (0.2)" },
		{ "channels = { telegram = { name = \"a\"; }; };\n",
		  "1: channels.telegram: expected a list of groups, "
		  "( { ... } ), found a group" },
		{ "channels = { telegram = ( \"a\" ); };\n",
		  "1: channels.telegram[1]: expected a group, found a string" },
		{ "channels = { telegram = (\n { name = \"shop\"; } ); };\n",
		  "2: channels.telegram[1]: token: required" },
		{ "channels = { telegram = (\n { name = \"shop\";\n"
		  " token = \"12:ab\";\n color = \"red\"; } ); };\n",
		  "4: channels.telegram[1].color: unknown setting" },
		{ "channels = { telegram = (\n { name = \"Shop!\";"
		  " token = \"12:ab\"; } ); };\n",
		  "2: channels.telegram[1].name: \"Shop!\" is not a name of "
		  "a-z, 0-9, - and _" },
		{ "channels = { telegram = (\n { name = \"a\";"
		  " token = \"12:a b\"; } ); };\n",
		  "2: channels.telegram[1].token: character 5 is not a letter, "
		  "a digit, :, _ or -" },
		{ "channels = { telegram = (\n { name = \"a\";"
		  " token = \"12:ab\"; mode = \"webhook\"; } ); };\n",
		  "2: channels.telegram[1]: webhook_secret: required in "
		  "webhook mode" },
		{ "channels = { telegram = (\n { name = \"a\";"
		  " token = \"12:ab\"; },\n { name = \"a\";"
		  " token = \"13:cd\"; } ); };\n",
		  "3: channels.telegram[2].name: \"a\" is used by another "
		  "entry" },
		{ "channels = { telegram = (\n { name = \"a\";"
		  " token = \"12:ab\";\n poll_timeout = 90; } ); };\n",
		  "3: channels.telegram[1].poll_timeout: 90 is above the "
		  "maximum 50" },
		{ "token = \"12:ab\";\n",
		  "1: token: unknown setting" },
		{ "engine = { human_only = \"complaint\"; };\n",
		  "1: engine.human_only: expected a list of strings, found a "
		  "string" },
		{ "engine = { human_only = [ 1, 2 ]; };\n",
		  "1: engine.human_only: item 1: expected a string, found an "
		  "integer" },
		{ "engine = { kb = [ \"a.md\", \"\" ]; };\n",
		  "1: engine.kb: item 2: the path is empty" },
		{ "engine = { order_pattern = \"([0-9]\"; };\n",
		  "1: engine.order_pattern: not a POSIX extended regular "
		  "expression: " },
		{ "business_hours = { days = [ \"mon\", \"monday\" ]; };\n",
		  "1: business_hours.days: item 2: \"monday\" is not one of "
		  "mon, tue, wed, thu, fri, sat, sun" },
		{ "business_hours = { open = \"9:00\"; };\n",
		  "1: business_hours.open: \"9:00\" is not a time of day from "
		  "00:00 to 24:00" },
		{ "business_hours = { close = \"24:30\"; };\n",
		  "1: business_hours.close: \"24:30\" is not a time of day "
		  "from 00:00 to 24:00" },
		{ "business_hours = {\n open = \"18:00\";\n"
		  " close = \"09:00\"; };\n",
		  "2: business_hours.open: 18:00 is not less than "
		  "business_hours.close (09:00)" },
		{ "business_hours = { timezone = \"Mars/Olympus_Mons\"; };\n",
		  "1: business_hours.timezone: \"Mars/Olympus_Mons\" is not a "
		  "time zone (no /usr/share/zoneinfo/Mars/Olympus_Mons)" },
		{ "business_hours = { timezone = \"../etc/passwd\"; };\n",
		  "1: business_hours.timezone: \"../etc/passwd\" is not a "
		  "time zone name" },
		{ "actions = { order_status = { url = \"ftp://x/{order_id}\";"
		  " }; };\n",
		  "1: actions.order_status.url: \"ftp://x/{order_id}\" does "
		  "not begin with http:// or https://" },
		{ "actions = { order_status = { url = \"http://x/{id}\";"
		  " }; };\n",
		  "1: actions.order_status.url: unknown placeholder at "
		  "\"{id}\"; the only one is {order_id}" },
		{ "actions = { order_status = {\n headers = [ \"Bearer "
		  "s3cret\" ]; }; };\n",
		  "2: actions.order_status.headers: item 1: not a header "
		  "\"Name: value\"" },
		{ "actions = { order_status = { map = { status = 1; }; };"
		  " };\n",
		  "1: actions.order_status.map: status: expected a string, "
		  "found an integer" },
		{ "actions = { order_status = { map = { eta = \"a..b\"; };"
		  " }; };\n",
		  "1: actions.order_status.map: eta: \"a..b\" is not a dotted "
		  "path like \"delivery.eta\"" },
		{ "actions = { order_status = { map = [ \"status\" ]; };"
		  " };\n",
		  "1: actions.order_status.map: expected a group of strings, "
		  "found an array" },
	};
	struct kefu_config	*cfg;
	char			*cause, *path, *want, *text;
	char			 longpath[130];
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cause = NULL;
		cfg = load_text(cases[i].text, &cause, &path);
		if (cfg != NULL)
			fail_msg("case %zu loaded: %s", i, cases[i].text);
		want = xasprintf("%s:%s", path, cases[i].want);
		/* A regex error ends with the C library's own words. */
		if (strstr(want, "expression: ") != NULL)
			assert_memory_equal(cause, want, strlen(want));
		else
			assert_string_equal(cause, want);
		/* A secret is never echoed. */
		assert_null(strstr(cause, "s3cret"));
		free(want);
		free(cause);
		free(path);
	}

	/* A string longer than its maximum. */
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	text = xasprintf("channels = { websocket = { path = \"%s\"; }; };\n",
	    longpath);
	cause = NULL;
	assert_null(load_text(text, &cause, &path));
	want = xasprintf("%s:1: channels.websocket.path: longer than 128 "
	    "characters", path);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
	free(text);
}

static void
test_error_include(void **state)
{
	struct kefu_config	*cfg;
	char			*path, *cause = NULL, *want;

	path = src_path("tests/data/config/bad-include.conf");
	cfg = config_load(path, &cause);
	assert_null(cfg);
	want = real_path("tests/data/config", "/include/bad-level.conf:3: "
	    "log.level: \"loud\" is not one of error, warn, info, debug");
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
}

static void
test_error_missing(void **state)
{
	struct kefu_config	*cfg;
	char			*cause = NULL, *path, *want;

	cfg = config_load("/nonexistent/kefu.conf", &cause);
	assert_null(cfg);
	assert_string_equal(cause,
	    "/nonexistent/kefu.conf: No such file or directory");
	free(cause);

	cause = NULL;
	path = src_path("tests/data/config");
	assert_null(config_load(path, &cause));
	want = xasprintf("%s: Is a directory", path);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	free(path);
}

static void
test_listen(void **state)
{
	static const struct {
		const char	*listen;
		const char	*host;	/* NULL: must fail with why */
		int		 port;
		const char	*why;
	} cases[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080, NULL },
		{ "0.0.0.0:1", "0.0.0.0", 1, NULL },
		{ "localhost:65535", "localhost", 65535, NULL },
		{ "chat.example.com:443", "chat.example.com", 443, NULL },
		{ "[::1]:8080", "::1", 8080, NULL },
		{ "[::]:80", "::", 80, NULL },
		{ "[fe80::1:2]:9000", "fe80::1:2", 9000, NULL },
		{ "127.0.0.1", NULL, 0,
		  "\"127.0.0.1\" has no port (expected host:port)" },
		{ ":8080", NULL, 0,
		  "\":8080\" has no host (expected host:port)" },
		{ "::1", NULL, 0,
		  "\"::1\": put an IPv6 address in brackets, like [::1]:8080" },
		{ "[::1:8080", NULL, 0, "\"[::1:8080\" has no closing ]" },
		{ "[::1]8080", NULL, 0, "\"[::1]8080\" has no port after ]" },
		{ "[1.2.3.4]:80", NULL, 0,
		  "\"1.2.3.4\" is not an IPv6 address" },
		{ "host:0", NULL, 0, "\"0\" is not a port from 1 to 65535" },
		{ "host:65536", NULL, 0,
		  "\"65536\" is not a port from 1 to 65535" },
		{ "host:80x", NULL, 0,
		  "\"80x\" is not a port from 1 to 65535" },
		{ "host:-1", NULL, 0, "\"-1\" is not a port from 1 to 65535" },
		{ "host:", NULL, 0, "\"\" is not a port from 1 to 65535" },
		{ "bad_host:80", NULL, 0,
		  "\"bad_host\" is not a host name or address" },
	};
	struct kefu_config	*cfg;
	char			*text, *cause, *path, *want;
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cause = NULL;
		text = xasprintf("http = {\n\tlisten = \"%s\";\n};\n",
		    cases[i].listen);
		cfg = load_text(text, &cause, &path);
		if (cases[i].host != NULL) {
			if (cfg == NULL)
				fail_msg("%s: %s", cases[i].listen, cause);
			assert_string_equal(cfg->http_listen, cases[i].listen);
			assert_string_equal(cfg->http_host, cases[i].host);
			assert_int_equal(cfg->http_port, cases[i].port);
			config_free(cfg);
		} else {
			if (cfg != NULL)
				fail_msg("%s: loaded", cases[i].listen);
			want = xasprintf("%s:2: http.listen: %s", path,
			    cases[i].why);
			assert_string_equal(cause, want);
			free(want);
			free(cause);
		}
		free(path);
		free(text);
	}
}

/* Read a whole file into memory; NULL if it cannot be read. */
static char *
read_file(const char *path, size_t *size)
{
	FILE	*f;
	char	*buf;
	long	 len;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = xmalloc(len + 1);
	assert_int_equal(fread(buf, 1, len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	*size = len;
	return (buf);
}

/* Generate a document and compare it with (or, KEFU_REGEN=1, write) rel. */
static void
check_generated(const char *rel, void (*write)(FILE *))
{
	char	*buf = NULL, *path, *old;
	size_t	 size = 0, old_size = 0;
	FILE	*f;
	int	 same;

	f = open_memstream(&buf, &size);
	assert_non_null(f);
	write(f);
	assert_int_equal(fclose(f), 0);
	assert_true(size > 1000);

	path = src_path(rel);
	if (getenv("KEFU_REGEN") != NULL &&
	    strcmp(getenv("KEFU_REGEN"), "1") == 0) {
		f = fopen(path, "w");
		if (f == NULL)
			fail_msg("%s: cannot write", path);
		assert_int_equal(fwrite(buf, 1, size, f), size);
		assert_int_equal(fclose(f), 0);
		print_message("wrote %s\n", path);
	}

	old = read_file(path, &old_size);
	same = old != NULL && old_size == size &&
	    memcmp(old, buf, size) == 0;
	free(old);
	free(path);
	free(buf);
	if (!same)
		fail_msg("%s is stale: run KEFU_REGEN=1 tests/unit/test_config "
		    "(with top_srcdir set to the source tree)", rel);
}

static void
test_generated_example(void **state)
{
	check_generated("etc/kefu.conf", config_write_example);
}

static void
test_generated_man(void **state)
{
	check_generated("man/kefu.conf.5", config_write_man);
}

/*
 * Uncomment every "# key = default;" line of the example: the result must
 * load and give exactly the defaults (besides the demo's active values),
 * so the documented defaults are true.
 */
static void
test_example_defaults(void **state)
{
	struct kefu_config	*cfg, *def;
	char			*buf = NULL, *out, *p, *line, *next, *cause;
	char			*path;
	size_t			 size = 0, n = 0, len = 0;
	FILE			*f;

	f = open_memstream(&buf, &size);
	assert_non_null(f);
	config_write_example(f);
	assert_int_equal(fclose(f), 0);

	out = xmalloc(size + 1);
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		p = line + strspn(line, "\t");
		if (strncmp(p, "# ", 2) == 0 && strstr(p, " = ") != NULL &&
		    p[strlen(p) - 1] == ';' && strchr(p + 2, ' ') ==
		    strstr(p, " = ")) {
			memmove(p, p + 2, strlen(p + 2) + 1);
			n++;
		}
		len += xsnprintf(out + len, size + 1 - len, "%s\n", line);
	}
	assert_true(n >= 20);

	cause = NULL;
	cfg = load_text(out, &cause, &path);
	if (cfg == NULL)
		fail_msg("%s", cause);
	def = config_default();
	adopt_demo_values(def, cfg);
	assert_same_values(cfg, def);
	config_free(def);
	config_free(cfg);
	free(path);
	free(out);
	free(buf);
}

/* Two Telegram bots: each record gets its own values and defaults. */
static void
test_telegram_records(void **state)
{
	struct kefu_config	*cfg;
	struct config_telegram	*a, *b;
	char			*cause = NULL, *path;

	cfg = load_text("channels = { telegram = (\n"
	    " { name = \"shop\"; token = \"123:abc\"; },\n"
	    " { name = \"vip\"; token = \"456:def\"; mode = \"webhook\";\n"
	    "   webhook_secret = \"s3cret\"; api_base = \"http://x:1/\";\n"
	    "   allowed_updates = [ \"message\" ]; groups = true;\n"
	    "   chat_interval = 0; } ); };\n", &cause, &path);
	if (cfg == NULL)
		fail_msg("%s", cause);
	assert_int_equal(cfg->telegram.n, 2);
	a = CONFIG_TELEGRAM(cfg, 0);
	b = CONFIG_TELEGRAM(cfg, 1);
	assert_string_equal(a->name, "shop");
	assert_string_equal(a->token, "123:abc");
	assert_string_equal(a->mode, "poll");
	assert_string_equal(a->api_base, "https://api.telegram.org");
	assert_null(a->webhook_secret);
	assert_int_equal(a->allowed_updates.n, 4);
	assert_int_equal(a->groups, 0);
	assert_int_equal(a->poll_timeout, 25);
	assert_int_equal(a->chat_interval, 1000);
	assert_string_equal(b->mode, "webhook");
	assert_string_equal(b->webhook_secret, "s3cret");
	assert_string_equal(b->api_base, "http://x:1");
	assert_int_equal(b->allowed_updates.n, 1);
	assert_string_equal(b->allowed_updates.v[0], "message");
	assert_int_equal(b->groups, 1);
	assert_int_equal(b->chat_interval, 0);
	config_free(cfg);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_example),
		cmocka_unit_test(test_generated_man),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_error_unknown_top),
		cmocka_unit_test(test_error_unknown_nested),
		cmocka_unit_test(test_error_type),
		cmocka_unit_test(test_error_min),
		cmocka_unit_test(test_error_max),
		cmocka_unit_test(test_error_enum),
		cmocka_unit_test(test_error_listen),
		cmocka_unit_test(test_error_thresholds),
		cmocka_unit_test(test_error_syntax),
		cmocka_unit_test(test_error_more),
		cmocka_unit_test(test_error_include),
		cmocka_unit_test(test_error_missing),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_example_defaults),
		cmocka_unit_test(test_telegram_records),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
