/*
 * Actions: what the bot looks up in the shop's own systems when the
 * engine asks for it.  The first and only one is order_status, served by
 * the shop's HTTP API (actions.order_status in kefu.conf) or, without a
 * URL, by kefu's own order table (orders.c).  The result goes back to the
 * engine through the pipeline as ENGINE_EV_ACTION_RESULT.
 */
#ifndef KEFU_ACTIONS_H
#define KEFU_ACTIONS_H

#include <stdint.h>

struct json_object;
struct config_map;

/*
 * Start an action for a conversation; params (a JSON object) is taken.
 * Called after the commit that asked for it; the result arrives later,
 * from the loop, never from inside this call.
 */
void	 actions_run(int64_t, const char *, struct json_object *);
/* Cancel the look-ups in flight (shutdown); their results never come. */
void	 actions_shutdown(void);
/* Look-ups in flight. */
size_t	 actions_in_flight(void);

/*
 * The URL of a look-up: tmpl with each {order_id} replaced by the
 * URL-encoded order number.  The caller frees.
 */
char	*actions_url(const char *, const char *);
/*
 * Map a JSON response into the fields the templates see: each key of map
 * from the dotted path it names (array members by number: "items.0");
 * an empty map takes status, carrier, tracking, eta, items and total from
 * the top level.  Returns a new object, or NULL with *why (caller frees)
 * when the response has no usable status.
 */
struct json_object *actions_map(struct json_object *,
	    const struct config_map *, char **);

#endif
