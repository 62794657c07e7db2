/*
 * The built-in order table that serves the demo's order-status action.
 *
 * `kefuctl orders import FILE.csv` reads a CSV with the header
 * order_id,status and any of carrier, tracking, eta, items, total; each
 * row replaces the order with the same id (an upsert), and the whole file
 * goes in under one savepoint, so a bad row changes nothing.  Columns
 * beyond the known ones are kept as strings in the row's data JSON and
 * come back as members of the object orders_get returns, so a shop can add
 * fields for its templates without a schema change.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "csv.h"
#include "log.h"
#include "message.h"
#include "orders.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define ORDERS_FILE_MAX	(16 * 1024 * 1024)	/* bytes in an imported file */
#define ORDERS_ID_MAX	64			/* bytes in an order id */

/* The known columns, in table order after order_id and status. */
static const char *orders_columns[] = {
	"carrier", "tracking", "eta", "items", "total"
};
#define ORDERS_NCOLUMNS	(sizeof orders_columns / sizeof orders_columns[0])

struct orders_row {
	char		*id;
	char		*status;
	char		*col[ORDERS_NCOLUMNS];	/* or NULL */
	char		*data;			/* JSON text or NULL */
};

/* A trimmed copy of a field, or NULL if it is empty. */
static char *
orders_trim(const char *s)
{
	size_t	len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	return (len > 0 ? xstrndup(s, len) : NULL);
}

/* Whether an order id is printable ASCII without spaces, at most 64. */
static int
orders_id_ok(const char *id)
{
	size_t	n = 0;

	for (; *id != '\0'; id++, n++) {
		if (!isgraph((unsigned char)*id))
			return (0);
	}
	return (n > 0 && n <= ORDERS_ID_MAX);
}

/* Whether a status is a lower-case name: [a-z0-9_], at most 32. */
static int
orders_status_ok(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && *s != '_')
			return (0);
	}
	return (n > 0 && n <= 32);
}

/* Free parsed rows. */
static void
orders_rows_free(struct orders_row *rows, size_t n)
{
	size_t	i, j;

	for (i = 0; i < n; i++) {
		free(rows[i].id);
		free(rows[i].status);
		for (j = 0; j < ORDERS_NCOLUMNS; j++)
			free(rows[i].col[j]);
		free(rows[i].data);
	}
	free(rows);
}

/* Whether header column i is one of the table's own. */
static int
orders_known(const struct csv_record *hdr, size_t i)
{
	size_t	j;

	if ((int)i == csv_column(hdr, "order_id") ||
	    (int)i == csv_column(hdr, "status"))
		return (1);
	for (j = 0; j < ORDERS_NCOLUMNS; j++) {
		if ((int)i == csv_column(hdr, orders_columns[j]))
			return (1);
	}
	return (0);
}

/* Turn one CSV record into a row; -1 with *cause naming the line. */
static int
orders_row(const char *path, const struct csv_record *hdr,
    const struct csv_record *rec, struct orders_row *row, char **cause)
{
	struct json_object	*extra = NULL;
	char			*v, *name;
	size_t			 i, j;
	int			 c;

	memset(row, 0, sizeof *row);
	if (rec->nfields != hdr->nfields) {
		*cause = xasprintf("%s:%u: %zu fields where the header has %zu",
		    path, rec->line, rec->nfields, hdr->nfields);
		return (-1);
	}
	row->id = orders_trim(rec->fields[csv_column(hdr, "order_id")]);
	row->status = orders_trim(rec->fields[csv_column(hdr, "status")]);
	if (row->id == NULL || !orders_id_ok(row->id)) {
		*cause = xasprintf("%s:%u: bad order_id (1 to %d printable "
		    "characters, no spaces)", path, rec->line, ORDERS_ID_MAX);
		return (-1);
	}
	if (row->status == NULL || !orders_status_ok(row->status)) {
		*cause = xasprintf("%s:%u: bad status (a lower-case name such "
		    "as shipped or out_for_delivery)", path, rec->line);
		return (-1);
	}
	for (j = 0; j < ORDERS_NCOLUMNS; j++) {
		if ((c = csv_column(hdr, orders_columns[j])) >= 0)
			row->col[j] = orders_trim(rec->fields[c]);
	}
	for (i = 0; i < hdr->nfields; i++) {
		if (orders_known(hdr, i) ||
		    (v = orders_trim(rec->fields[i])) == NULL)
			continue;
		if ((name = orders_trim(hdr->fields[i])) == NULL) {
			free(v);
			continue;
		}
		if (extra == NULL)
			extra = json_object_new_object();
		json_object_object_add(extra, name, json_object_new_string(v));
		free(name);
		free(v);
	}
	if (extra != NULL) {
		row->data = xstrdup(json_object_to_json_string_ext(extra,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(extra);
	}
	return (0);
}

/* Parse the whole file into rows before anything is written. */
static int
orders_parse(const char *path, const char *buf, struct orders_row **out,
    size_t *nout, char **cause)
{
	struct csv		 r;
	struct csv_record	 hdr, rec;
	struct orders_row	*rows = NULL;
	size_t			 n = 0;
	int			 got;

	csv_init(&r, path, buf, strlen(buf));
	if ((got = csv_next(&r, &hdr, cause)) <= 0) {
		if (got == 0)
			*cause = xasprintf("%s:1: empty file (expected a "
			    "header order_id,status,...)", path);
		return (-1);
	}
	if (csv_column(&hdr, "order_id") < 0 ||
	    csv_column(&hdr, "status") < 0) {
		*cause = xasprintf("%s:%u: the header has no %s column", path,
		    hdr.line, csv_column(&hdr, "order_id") < 0 ? "order_id" :
		    "status");
		csv_record_clear(&hdr);
		return (-1);
	}
	while ((got = csv_next(&r, &rec, cause)) == 1) {
		rows = xreallocarray(rows, n + 1, sizeof *rows);
		got = orders_row(path, &hdr, &rec, &rows[n], cause);
		n++;
		csv_record_clear(&rec);
		if (got != 0)
			break;
	}
	csv_record_clear(&hdr);
	if (got != 0) {
		orders_rows_free(rows, n);
		return (-1);
	}
	*out = rows;
	*nout = n;
	return (0);
}

/* Bind text or NULL. */
static void
orders_bind(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Upsert the rows inside a savepoint. */
static int
orders_store(struct store *s, const char *path, struct orders_row *rows,
    size_t n, char **cause)
{
	sqlite3		*db = store_db(s);
	sqlite3_stmt	*st = NULL;
	int64_t		 now = now_ms();
	size_t		 i, j;

	if (store_begin(s) != 0) {
		*cause = xasprintf("%s: cannot begin a transaction: %s", path,
		    sqlite3_errmsg(db));
		return (-1);
	}
	if (sqlite3_exec(db, "SAVEPOINT orders_import", NULL, NULL,
	    NULL) != SQLITE_OK) {
		*cause = xasprintf("%s: savepoint: %s", path,
		    sqlite3_errmsg(db));
		return (-1);
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO orders (order_id, status, "
	    "carrier, tracking, eta, items, total, data, updated_at) VALUES "
	    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (order_id) DO "
	    "UPDATE SET status = excluded.status, carrier = excluded.carrier, "
	    "tracking = excluded.tracking, eta = excluded.eta, items = "
	    "excluded.items, total = excluded.total, data = excluded.data, "
	    "updated_at = excluded.updated_at", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		orders_bind(st, 1, rows[i].id);
		orders_bind(st, 2, rows[i].status);
		for (j = 0; j < ORDERS_NCOLUMNS; j++)
			orders_bind(st, 3 + (int)j, rows[i].col[j]);
		orders_bind(st, 8, rows[i].data);
		sqlite3_bind_int64(st, 9, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(db, "RELEASE orders_import", NULL, NULL,
	    NULL) != SQLITE_OK) {
		*cause = xasprintf("%s: release: %s", path,
		    sqlite3_errmsg(db));
		return (-1);
	}
	return (0);
fail:
	*cause = xasprintf("%s: cannot store the orders: %s", path,
	    sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK TO orders_import; RELEASE orders_import",
	    NULL, NULL, NULL);
	return (-1);
}

/*
 * Import a CSV with header order_id,status[,carrier][,tracking][,eta]
 * [,items][,total]; rows replace orders with the same id.  Returns the
 * number of rows or -1 with *cause naming file:line.
 */
int
orders_import(struct store *s, const char *path, char **cause)
{
	struct orders_row	*rows = NULL;
	char			*buf;
	size_t			 n = 0;
	int			 r;

	if ((buf = file_read(path, ORDERS_FILE_MAX, cause)) == NULL)
		return (-1);
	r = orders_parse(path, buf, &rows, &n, cause);
	free(buf);
	if (r != 0)
		return (-1);
	if (orders_store(s, path, rows, n, cause) != 0) {
		orders_rows_free(rows, n);
		return (-1);
	}
	orders_rows_free(rows, n);
	log_info("orders", "msg=\"imported\" file=%s orders=%zu", logq(path),
	    n);
	return ((int)n);
}

/* A JSON string for a text column, or JSON null. */
static struct json_object *
orders_json_text(sqlite3_stmt *st, int i)
{
	const unsigned char	*s = sqlite3_column_text(st, i);

	return (s != NULL ? json_object_new_string((const char *)s) : NULL);
}

/*
 * Look an order up: 1 and *out (a JSON object with the columns; caller
 * puts it), 0 if there is none, -1 on error.
 */
int
orders_get(struct store *s, const char *id, struct json_object **out)
{
	sqlite3			*db = store_db(s);
	sqlite3_stmt		*st = NULL;
	struct json_object	*o, *data;
	const unsigned char	*text;
	static const char	*names[] = {
		"order_id", "status", "carrier", "tracking", "eta", "items",
		"total"
	};
	size_t			 i;
	int			 r;

	*out = NULL;
	if (id == NULL || *id == '\0')
		return (0);
	if (sqlite3_prepare_v2(db, "SELECT order_id, status, carrier, "
	    "tracking, eta, items, total, data, updated_at FROM orders WHERE "
	    "order_id = ?1", -1, &st, NULL) != SQLITE_OK) {
		log_warnx("orders", "msg=\"cannot prepare\" error=%s",
		    logq(sqlite3_errmsg(db)));
		return (-1);
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_DONE) {
		sqlite3_finalize(st);
		return (0);
	}
	if (r != SQLITE_ROW) {
		log_warnx("orders", "msg=\"look-up failed\" error=%s",
		    logq(sqlite3_errmsg(db)));
		sqlite3_finalize(st);
		return (-1);
	}
	o = json_object_new_object();
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		json_object_object_add(o, names[i], orders_json_text(st,
		    (int)i));
	json_object_object_add(o, "updated_at",
	    json_object_new_int64(sqlite3_column_int64(st, 8)));
	text = sqlite3_column_text(st, 7);
	if (text != NULL &&
	    (data = json_tokener_parse((const char *)text)) != NULL) {
		if (json_object_is_type(data, json_type_object)) {
			json_object_object_foreach(data, key, val) {
				if (json_object_object_get_ex(o, key, NULL))
					continue;
				json_object_object_add(o, key,
				    json_object_get(val));
			}
		}
		json_object_put(data);
	}
	sqlite3_finalize(st);
	*out = o;
	return (1);
}
