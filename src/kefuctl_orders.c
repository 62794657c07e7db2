/*
 * kefuctl orders: load the demo's order table from a CSV file and show
 * one order as the JSON object the order-status action works with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "kefuctl.h"
#include "orders.h"
#include "store.h"

/* Print orders' usage. */
static void
kefuctl_orders_usage(void)
{
	fprintf(stderr, "usage: kefuctl orders import FILE.csv...\n"
	    "       kefuctl orders show ORDER_ID\n");
}

/* kefuctl orders: import CSV files or show one order. */
int
kefuctl_orders(struct kefu_config *cfg, int argc, char **argv)
{
	struct store		*s;
	struct json_object	*o;
	int			 n, rc = 0, show;

	if (argc >= 3 && strcmp(argv[1], "import") == 0)
		show = 0;
	else if (argc == 3 && strcmp(argv[1], "show") == 0)
		show = 1;
	else {
		kefuctl_orders_usage();
		return (1);
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	if (show) {
		if ((n = orders_get(s, argv[2], &o)) == 1) {
			printf("%s\n", json_object_to_json_string_ext(o,
			    JSON_C_TO_STRING_PRETTY |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(o);
		} else {
			fprintf(stderr, "kefuctl: order %s %s\n", argv[2],
			    n == 0 ? "not found" : "could not be read");
			rc = 1;
		}
		store_close(s);
		return (rc);
	}
	rc = kefuctl_import(cfg, s, argc - 2, argv + 2, orders_import,
	    "orders");
	store_close(s);
	return (rc);
}
