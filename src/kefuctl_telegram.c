/*
 * kefuctl telegram: register a bot's webhook with Telegram (setWebhook with
 * the configured URL, secret token and update types), remove it, or show
 * what Telegram knows (getMe, getWebhookInfo).  These are one-off calls, so
 * they use libcurl's easy interface; the daemon never blocks like this.
 * The token is part of the URL and is never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "kefuctl.h"
#include "telegram.h"
#include "util.h"
#include "xmalloc.h"

#define KEFUCTL_TG_MAX	(1024 * 1024)

/* Collect a response body, up to a cap. */
static size_t
kefuctl_tg_write(char *p, size_t size, size_t n, void *arg)
{
	struct dbuf	*b = arg;

	if (b->len + size * n > KEFUCTL_TG_MAX)
		return (0);
	dbuf_add(b, p, size * n);
	return (size * n);
}

/*
 * Call a method with a JSON body and print its outcome.  Returns 0 when
 * Telegram answered ok (its result in *result if wanted, caller puts), or
 * 1 after printing the error.
 */
static int
kefuctl_tg_call(const struct config_telegram *tg, const char *method,
    const char *body, struct json_object **result)
{
	struct curl_slist	*headers;
	struct tg_response	 r;
	struct dbuf		 b = { NULL, 0, 0 };
	CURL			*c;
	CURLcode		 rc;
	char			*url, *cause = NULL, errbuf[CURL_ERROR_SIZE];
	long			 status = 0;

	url = xasprintf("%s/bot%s/%s", tg->api_base, tg->token, method);
	headers = curl_slist_append(NULL, "Content-Type: application/json");
	c = curl_easy_init();
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kefuctl_tg_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)tg->timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	free(url);
	if (rc != CURLE_OK) {
		fprintf(stderr, "kefuctl: %s: %s: %s\n", tg->name, method,
		    *errbuf != '\0' ? errbuf : curl_easy_strerror(rc));
		free(b.s);
		return (1);
	}
	if (tg_response_parse(b.s != NULL ? b.s : "", b.len, status, &r,
	    &cause) != 0) {
		fprintf(stderr, "kefuctl: %s: %s: %s\n", tg->name, method,
		    cause);
		free(cause);
		free(b.s);
		return (1);
	}
	free(b.s);
	if (!r.ok) {
		fprintf(stderr, "kefuctl: %s: %s: Telegram says %d: %s\n",
		    tg->name, method, r.error_code, r.description != NULL ?
		    r.description : "(no description)");
		tg_response_clear(&r);
		return (1);
	}
	if (result != NULL)
		*result = r.result != NULL ? json_object_get(r.result) : NULL;
	tg_response_clear(&r);
	return (0);
}

/* Print telegram's usage. */
static void
kefuctl_tg_usage(void)
{
	fprintf(stderr, "usage: kefuctl telegram set-webhook NAME\n"
	    "       kefuctl telegram delete-webhook NAME\n"
	    "       kefuctl telegram info NAME\n");
}

/* kefuctl telegram: manage a bot's webhook with Telegram. */
int
kefuctl_telegram(struct kefu_config *cfg, int argc, char **argv)
{
	struct config_telegram	*tg = NULL;
	struct json_object	*res = NULL;
	char			*body;
	size_t			 i;
	int			 rc;

	if (argc != 3) {
		kefuctl_tg_usage();
		return (1);
	}
	for (i = 0; i < cfg->telegram.n; i++) {
		if (strcmp(CONFIG_TELEGRAM(cfg, i)->name, argv[2]) == 0)
			tg = CONFIG_TELEGRAM(cfg, i);
	}
	if (tg == NULL) {
		fprintf(stderr, "kefuctl: no bot named %s in %s "
		    "(channels.telegram)\n", argv[2], cfg->path != NULL ?
		    cfg->path : "the configuration");
		return (1);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(argv[1], "set-webhook") == 0) {
		if (*tg->webhook_url == '\0' || tg->webhook_secret == NULL) {
			fprintf(stderr, "kefuctl: %s: set webhook_url and "
			    "webhook_secret first\n", tg->name);
			rc = 1;
			goto out;
		}
		body = tg_set_webhook_body(tg->webhook_url, tg->webhook_secret,
		    (const char *const *)tg->allowed_updates.v,
		    tg->allowed_updates.n, tg->max_connections);
		rc = kefuctl_tg_call(tg, "setWebhook", body, NULL);
		free(body);
		if (rc == 0)
			printf("%s: webhook set to %s\n", tg->name,
			    tg->webhook_url);
	} else if (strcmp(argv[1], "delete-webhook") == 0) {
		rc = kefuctl_tg_call(tg, "deleteWebhook", "{}", NULL);
		if (rc == 0)
			printf("%s: webhook deleted; getUpdates works again\n",
			    tg->name);
	} else if (strcmp(argv[1], "info") == 0) {
		if ((rc = kefuctl_tg_call(tg, "getMe", "{}", &res)) != 0)
			goto out;
		printf("bot: %s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(res);
		res = NULL;
		if ((rc = kefuctl_tg_call(tg, "getWebhookInfo", "{}",
		    &res)) != 0)
			goto out;
		printf("webhook: %s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(res);
	} else {
		kefuctl_tg_usage();
		rc = 1;
	}
out:
	curl_global_cleanup();
	return (rc);
}
