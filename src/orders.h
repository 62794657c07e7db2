/*
 * The built-in order table that serves the demo's order-status action
 * (`kefuctl orders import FILE.csv`).  Real shops point the action at their
 * own HTTP API instead (see the engine's action configuration).
 */
#ifndef KEFU_ORDERS_H
#define KEFU_ORDERS_H

struct store;
struct json_object;

/*
 * Import a CSV with header order_id,status[,carrier][,tracking][,eta]
 * [,items][,total]; rows replace orders with the same id.  Returns the
 * number of rows or -1 with *cause naming file:line.
 */
int	orders_import(struct store *, const char *, char **);
/*
 * Look an order up: 1 and *out (a JSON object with the columns; caller
 * puts it), 0 if there is none, -1 on error.
 */
int	orders_get(struct store *, const char *, struct json_object **);

#endif
