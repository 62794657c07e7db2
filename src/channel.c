/*
 * The channel registry: the adapters kefu knows, by name, and the channel
 * instances the configuration turned on.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "config.h"
#include "xmalloc.h"

extern const struct channel_ops websocket_channel_ops;
extern const struct channel_ops telegram_channel_ops;

/* Every adapter, one line each. */
static const struct channel_ops *channel_registry[] = {
	&websocket_channel_ops,
	&telegram_channel_ops,
};

static struct channel	**channel_list;
static size_t		  channel_count;

/* Find an adapter by name. */
const struct channel_ops *
channel_find_ops(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof channel_registry / sizeof channel_registry[0];
	    i++) {
		if (strcmp(channel_registry[i]->name, name) == 0)
			return (channel_registry[i]);
	}
	return (NULL);
}

static struct channel *
channel_new(const char *name, const char *account)
{
	struct channel	*ch;

	ch = xcalloc(1, sizeof *ch);
	ch->ops = channel_find_ops(name);
	ch->account = xstrdup(account);
	channel_list = xreallocarray(channel_list, channel_count + 1,
	    sizeof *channel_list);
	channel_list[channel_count++] = ch;
	return (ch);
}

/* Create the channel instances the configuration enables. */
int
channels_create(const struct kefu_config *cfg, struct channel ***out,
    size_t *n, char **cause)
{
	size_t	i;

	if (cfg->ws_enabled)
		channel_new("websocket", "");
	for (i = 0; i < cfg->telegram.n; i++)
		channel_new("telegram", CONFIG_TELEGRAM(cfg, i)->name);
	*out = channel_list;
	*n = channel_count;
	return (0);
}

/* The running channel (name, account), or NULL. */
struct channel *
channel_lookup(const char *name, const char *account)
{
	size_t	i;

	if (account == NULL)
		account = "";
	for (i = 0; i < channel_count; i++) {
		if (strcmp(channel_list[i]->ops->name, name) == 0 &&
		    strcmp(channel_list[i]->account, account) == 0)
			return (channel_list[i]);
	}
	return (NULL);
}

/* Free every channel instance. */
void
channels_free(void)
{
	size_t	i;

	for (i = 0; i < channel_count; i++) {
		free(channel_list[i]->account);
		free(channel_list[i]);
	}
	free(channel_list);
	channel_list = NULL;
	channel_count = 0;
}
