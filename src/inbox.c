/*
 * The shared inbox's views and actions (docs/api.md).
 *
 * Views are a handful of fixed, prepared queries with optional filters
 * written as "(?N IS NULL OR ...)", so no SQL is ever built from input.
 * JSON is built with json-c straight from the rows.
 *
 * Actions follow one pattern: read the conversation, check the role and
 * the ownership rules (auth_allowed_on), change it, record an audit event,
 * and call pipeline_changed so that the live feed publishes it after the
 * commit.  Everything runs on the loop thread, one request at a time, so
 * of two agents claiming the same conversation the first wins and the
 * second sees its owner: a conflict, never two owners.  Handing back and
 * resolving step the engine (pipeline_event), which says so to the
 * customer and, on resolve, asks for the rating before it closes.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "auth.h"
#include "canned.h"
#include "config.h"
#include "engine.h"
#include "inbox.h"
#include "kefu.h"
#include "log.h"
#include "pipeline.h"
#include "store.h"
#include "xmalloc.h"

#define INBOX_LIMIT_MAX		200
#define INBOX_TEXT_MAX		(16 * 1024)
#define INBOX_PREVIEW		120	/* characters of the last message */

/* The columns of a conversation summary (alias c). */
#define SUMMARY_COLUMNS							\
	"c.id, c.channel, c.account, c.status, c.handoff_reason, "	\
	"c.assignee, c.lang, c.created_at, c.updated_at, "		\
	"c.last_message_at, c.waiting_since, c.escalated_at, "		\
	"c.resolved_at, c.contact_id, k.display_name, k.external_id, "	\
	"k.unreachable, "						\
	"(SELECT json_object('author', CASE WHEN m.status = 'note' "	\
	" THEN 'note' ELSE m.author END, 'text', substr(m.text, 1, 120),"\
	" 'created_at', m.created_at) FROM messages m"			\
	" WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1)"

#define SUMMARY_FROM							\
	" FROM conversations c JOIN contacts k ON k.id = c.contact_id"

#define SUMMARY_FILTERS							\
	" AND (?2 IS NULL OR c.channel = ?2)"				\
	" AND (?3 IS NULL OR c.id IN (SELECT conversation_id FROM"	\
	" messages WHERE text LIKE '%' || ?3 || '%' ESCAPE '\\'))"

static const char *const inbox_views[] = {
	"waiting", "mine", "open", "resolved", "all", NULL
};

/* One statement per view; ?1 agent, ?2 channel, ?3 text, ?4 limit, ?5 offset. */
static const char *const inbox_view_sql[] = {
	"SELECT " SUMMARY_COLUMNS SUMMARY_FROM
	" WHERE c.status = 'pending'" SUMMARY_FILTERS
	" ORDER BY c.waiting_since, c.id LIMIT ?4 OFFSET ?5",

	"SELECT " SUMMARY_COLUMNS SUMMARY_FROM
	" WHERE c.status = 'open' AND c.assignee = ?1" SUMMARY_FILTERS
	" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?4 OFFSET ?5",

	"SELECT " SUMMARY_COLUMNS SUMMARY_FROM
	" WHERE c.status IN ('pending', 'open')" SUMMARY_FILTERS
	" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?4 OFFSET ?5",

	"SELECT " SUMMARY_COLUMNS SUMMARY_FROM
	" WHERE (c.status = 'resolved' OR (c.status = 'bot' AND"
	" c.resolved_at IS NOT NULL))" SUMMARY_FILTERS
	" ORDER BY c.resolved_at DESC, c.id DESC LIMIT ?4 OFFSET ?5",

	"SELECT " SUMMARY_COLUMNS SUMMARY_FROM
	" WHERE ?1 IS NULL OR ?1 IS NOT NULL" SUMMARY_FILTERS
	" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?4 OFFSET ?5",
};

static const char *inbox_summary_sql = "SELECT " SUMMARY_COLUMNS
    SUMMARY_FROM " WHERE c.id = ?1";

/* The columns of a message as the API shows it (alias m). */
#define MESSAGE_COLUMNS							\
	"m.id, m.conversation_id, m.direction, m.author, m.text, "	\
	"m.value, m.buttons, m.attachments, m.status, m.status_reason, "\
	"m.edit_of, m.lang, m.intent, m.confidence, m.sentiment, "	\
	"m.created_at, m.agent_id, m.channel"

static const char *inbox_messages_sql = "SELECT " MESSAGE_COLUMNS
    " FROM messages m WHERE m.conversation_id = ?1 ORDER BY m.id";
static const char *inbox_message_sql = "SELECT " MESSAGE_COLUMNS
    " FROM messages m WHERE m.id = ?1";
static const char *inbox_events_sql = "SELECT id, type, data, created_at"
    " FROM events WHERE conversation_id = ?1 ORDER BY id";
static const char *inbox_history_sql = "SELECT c.id, c.status,"
    " c.created_at, c.resolved_at, c.handoff_reason,"
    " (SELECT json_extract(e.data, '$.rating') FROM events e"
    "  WHERE e.conversation_id = c.id AND e.type = 'csat'"
    "  ORDER BY e.id DESC LIMIT 1)"
    " FROM conversations c WHERE c.contact_id = ?1 ORDER BY c.id DESC"
    " LIMIT 50";
static const char *inbox_open_count_sql = "SELECT count(*) FROM"
    " conversations WHERE assignee = ?1 AND status = 'open'";
static const char *inbox_client_id_sql = "SELECT id FROM messages"
    " WHERE conversation_id = ?1 AND direction = 'out'"
    " AND external_id = ?2";

/* A text column as a JSON string, or JSON null. */
static struct json_object *
col_json_text(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	if (t == NULL)
		return (NULL);
	return (json_object_new_string((const char *)t));
}

/* An integer column as JSON, or null when NULL or 0 and nullable. */
static struct json_object *
col_json_int(sqlite3_stmt *st, int i, int zero_is_null)
{
	int64_t	v;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return (NULL);
	v = sqlite3_column_int64(st, i);
	if (zero_is_null && v == 0)
		return (NULL);
	return (json_object_new_int64(v));
}

/* A column of JSON text parsed, or null. */
static struct json_object *
col_json_parsed(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	if (t == NULL)
		return (NULL);
	return (json_tokener_parse((const char *)t));
}

/* An agent as the API shows it. */
struct json_object *
inbox_agent_json(struct store *s, const struct agent *a)
{
	struct json_object	*o;
	sqlite3_stmt		*st;
	int64_t			 open = 0;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_object_object_add(o, "name", json_object_new_string(a->name));
	json_object_object_add(o, "display_name",
	    json_object_new_string(a->display_name != NULL ?
	    a->display_name : a->name));
	json_object_object_add(o, "role",
	    json_object_new_string(agent_role_name(a->role)));
	json_object_object_add(o, "disabled",
	    json_object_new_boolean(a->disabled));
	json_object_object_add(o, "online",
	    json_object_new_boolean(inbox_live_online(a->id)));
	if ((st = store_cached(s, inbox_open_count_sql)) != NULL) {
		sqlite3_bind_int64(st, 1, a->id);
		if (sqlite3_step(st) == SQLITE_ROW)
			open = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	json_object_object_add(o, "open", json_object_new_int64(open));
	json_object_object_add(o, "max_open",
	    json_object_new_int(a->max_open));
	return (o);
}

/* An agent by id as JSON, or NULL (JSON null). */
static struct json_object *
inbox_agent_by_id(struct store *s, int64_t id)
{
	struct json_object	*o;
	struct agent		 a;

	if (id == 0)
		return (NULL);
	memset(&a, 0, sizeof a);
	if (auth_agent_get(s, id, &a) != 1)
		return (NULL);
	o = inbox_agent_json(s, &a);
	agent_clear(&a);
	return (o);
}

/* A conversation summary from a row of SUMMARY_COLUMNS. */
static struct json_object *
inbox_summary_row(struct store *s, sqlite3_stmt *st)
{
	struct json_object	*o, *k;

	o = json_object_new_object();
	json_object_object_add(o, "id", col_json_int(st, 0, 0));
	json_object_object_add(o, "channel", col_json_text(st, 1));
	json_object_object_add(o, "account", col_json_text(st, 2));
	json_object_object_add(o, "status", col_json_text(st, 3));
	json_object_object_add(o, "handoff_reason", col_json_text(st, 4));
	json_object_object_add(o, "assignee", inbox_agent_by_id(s,
	    sqlite3_column_int64(st, 5)));
	json_object_object_add(o, "lang", col_json_text(st, 6));
	json_object_object_add(o, "created_at", col_json_int(st, 7, 0));
	json_object_object_add(o, "updated_at", col_json_int(st, 8, 0));
	json_object_object_add(o, "last_message_at", col_json_int(st, 9, 1));
	json_object_object_add(o, "waiting_since", col_json_int(st, 10, 1));
	json_object_object_add(o, "escalated_at", col_json_int(st, 11, 1));
	json_object_object_add(o, "resolved_at", col_json_int(st, 12, 1));
	k = json_object_new_object();
	json_object_object_add(k, "id", col_json_int(st, 13, 0));
	json_object_object_add(k, "name", col_json_text(st, 14));
	json_object_object_add(k, "external_id", col_json_text(st, 15));
	json_object_object_add(k, "channel", col_json_text(st, 1));
	json_object_object_add(k, "unreachable", col_json_text(st, 16));
	json_object_object_add(o, "contact", k);
	json_object_object_add(o, "last_message", col_json_parsed(st, 17));
	return (o);
}

/* The index of a view's name, or -1. */
static int
inbox_view_index(const char *view)
{
	int	i;

	for (i = 0; inbox_views[i] != NULL; i++) {
		if (strcmp(inbox_views[i], view) == 0)
			return (i);
	}
	return (-1);
}

/* Escape LIKE's wildcards in a search text.  Caller frees. */
static char *
inbox_like_escape(const char *q)
{
	char	*out, *p;

	out = p = xmalloc(strlen(q) * 2 + 1);
	for (; *q != '\0'; q++) {
		if (*q == '%' || *q == '_' || *q == '\\')
			*p++ = '\\';
		*p++ = *q;
	}
	*p = '\0';
	return (out);
}

/* A page of conversations. */
int
inbox_list(struct store *s, const struct inbox_filter *f,
    struct json_object **out, char **cause)
{
	struct json_object	*list, *o;
	sqlite3_stmt		*st;
	char			*q = NULL;
	int			 v, rc, limit, n = 0;

	*out = NULL;
	if ((v = inbox_view_index(f->view)) == -1) {
		*cause = xasprintf("unknown view \"%s\" (waiting, mine, open, "
		    "resolved or all)", f->view);
		return (0);
	}
	limit = f->limit <= 0 ? 50 : f->limit > INBOX_LIMIT_MAX ?
	    INBOX_LIMIT_MAX : f->limit;
	if ((st = store_cached(s, inbox_view_sql[v])) == NULL) {
		*cause = xstrdup("the store failed");
		return (-1);
	}
	sqlite3_bind_int64(st, 1, f->agent_id);
	if (f->channel != NULL && *f->channel != '\0')
		sqlite3_bind_text(st, 2, f->channel, -1, SQLITE_TRANSIENT);
	if (f->q != NULL && *f->q != '\0') {
		q = inbox_like_escape(f->q);
		sqlite3_bind_text(st, 3, q, -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_int(st, 4, limit + 1);
	sqlite3_bind_int(st, 5, f->offset < 0 ? 0 : f->offset);
	list = json_object_new_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ == limit)
			break;
		json_object_array_add(list, inbox_summary_row(s, st));
	}
	sqlite3_reset(st);
	free(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_object_put(list);
		*cause = xstrdup("the store failed");
		return (-1);
	}
	o = json_object_new_object();
	json_object_object_add(o, "conversations", list);
	json_object_object_add(o, "next", n > limit ?
	    json_object_new_int(f->offset + limit) : NULL);
	*out = o;
	return (0);
}

/* Run a one-row query by id and turn the row into JSON: 1, 0 or -1. */
static int
inbox_one(struct store *s, const char *sql, int64_t id,
    struct json_object *(*fn)(struct store *, sqlite3_stmt *),
    struct json_object **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	*out = NULL;
	if ((st = store_cached(s, sql)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = fn(s, st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return (1);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* One conversation's summary object. */
int
inbox_conversation(struct store *s, int64_t id, struct json_object **out)
{
	return (inbox_one(s, inbox_summary_sql, id, inbox_summary_row, out));
}

/* A message from a row of MESSAGE_COLUMNS. */
static struct json_object *
inbox_message_row(struct store *s, sqlite3_stmt *st)
{
	struct json_object	*o;
	const char		*status, *author;
	int			 note;

	status = (const char *)sqlite3_column_text(st, 8);
	author = (const char *)sqlite3_column_text(st, 3);
	note = status != NULL && strcmp(status, "note") == 0;
	o = json_object_new_object();
	json_object_object_add(o, "id", col_json_int(st, 0, 0));
	json_object_object_add(o, "conversation_id", col_json_int(st, 1, 0));
	json_object_object_add(o, "channel", col_json_text(st, 17));
	json_object_object_add(o, "direction", col_json_text(st, 2));
	json_object_object_add(o, "author", json_object_new_string(note ?
	    "note" : author != NULL ? author : "system"));
	json_object_object_add(o, "agent", inbox_agent_by_id(s,
	    sqlite3_column_int64(st, 16)));
	json_object_object_add(o, "text", col_json_text(st, 4));
	json_object_object_add(o, "value", col_json_text(st, 5));
	json_object_object_add(o, "buttons", col_json_parsed(st, 6));
	json_object_object_add(o, "attachments", col_json_parsed(st, 7));
	json_object_object_add(o, "status", note ? NULL :
	    col_json_text(st, 8));
	json_object_object_add(o, "status_reason", col_json_text(st, 9));
	json_object_object_add(o, "edit_of", col_json_text(st, 10));
	json_object_object_add(o, "lang", col_json_text(st, 11));
	json_object_object_add(o, "intent", col_json_text(st, 12));
	json_object_object_add(o, "confidence",
	    sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL :
	    json_object_new_double(sqlite3_column_double(st, 13)));
	json_object_object_add(o, "sentiment",
	    sqlite3_column_type(st, 14) == SQLITE_NULL ? NULL :
	    json_object_new_double(sqlite3_column_double(st, 14)));
	json_object_object_add(o, "created_at", col_json_int(st, 15, 0));
	return (o);
}

/* One message as the API shows it. */
int
inbox_message(struct store *s, int64_t id, struct json_object **out)
{
	return (inbox_one(s, inbox_message_sql, id, inbox_message_row, out));
}

/* Run a query bound to one id and collect rows with fn into an array. */
static int
inbox_rows(struct store *s, const char *sql, int64_t id,
    struct json_object *(*fn)(struct store *, sqlite3_stmt *),
    struct json_object **out)
{
	sqlite3_stmt	*st;
	int		 rc;

	*out = json_object_new_array();
	if ((st = store_cached(s, sql)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_array_add(*out, fn(s, st));
	sqlite3_reset(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* An audit event row. */
static struct json_object *
inbox_event_row(struct store *s, sqlite3_stmt *st)
{
	struct json_object	*o;

	(void)s;
	o = json_object_new_object();
	json_object_object_add(o, "id", col_json_int(st, 0, 0));
	json_object_object_add(o, "type", col_json_text(st, 1));
	json_object_object_add(o, "data", col_json_parsed(st, 2));
	json_object_object_add(o, "created_at", col_json_int(st, 3, 0));
	return (o);
}

/* A past conversation of the contact. */
static struct json_object *
inbox_history_row(struct store *s, sqlite3_stmt *st)
{
	struct json_object	*o;

	(void)s;
	o = json_object_new_object();
	json_object_object_add(o, "id", col_json_int(st, 0, 0));
	json_object_object_add(o, "status", col_json_text(st, 1));
	json_object_object_add(o, "created_at", col_json_int(st, 2, 0));
	json_object_object_add(o, "resolved_at", col_json_int(st, 3, 1));
	json_object_object_add(o, "handoff_reason", col_json_text(st, 4));
	json_object_object_add(o, "csat", col_json_int(st, 5, 1));
	return (o);
}

/* One conversation with everything the inbox shows of it. */
int
inbox_get(struct store *s, int64_t id, struct json_object **out)
{
	struct json_object	*conv, *o, *arr, *contact, *k;
	int			 r;

	*out = NULL;
	if ((r = inbox_conversation(s, id, &conv)) != 1)
		return (r);
	o = json_object_new_object();
	json_object_object_add(o, "conversation", conv);
	r = inbox_rows(s, inbox_messages_sql, id, inbox_message_row, &arr);
	json_object_object_add(o, "messages", arr);
	if (r == 0)
		r = inbox_rows(s, inbox_events_sql, id, inbox_event_row, &arr);
	else
		arr = json_object_new_array();
	json_object_object_add(o, "events", arr);

	k = json_object_object_get(conv, "contact");
	contact = NULL;
	json_object_deep_copy(k, &contact, NULL);
	if (r == 0)
		r = inbox_rows(s, inbox_history_sql, json_object_get_int64(
		    json_object_object_get(k, "id")), inbox_history_row, &arr);
	else
		arr = json_object_new_array();
	json_object_object_add(contact, "conversations", arr);
	json_object_object_add(contact, "orders", json_object_new_array());
	json_object_object_add(o, "contact", contact);
	if (r != 0) {
		json_object_put(o);
		return (-1);
	}
	*out = o;
	return (1);
}

/* --- actions --------------------------------------------------------- */

/* Record an audit event {"agent": id, ...more} for a conversation. */
static int
inbox_event(struct store *s, int64_t conv, const char *type,
    const struct agent *a, const char *key, int64_t value)
{
	struct json_object	*o;
	int			 r;

	o = json_object_new_object();
	json_object_object_add(o, "agent", json_object_new_int64(a->id));
	json_object_object_add(o, "agent_name",
	    json_object_new_string(a->name));
	if (key != NULL)
		json_object_object_add(o, key, json_object_new_int64(value));
	r = store_event_add(s, conv, type,
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    now_ms());
	json_object_put(o);
	return (r);
}

/* Read a conversation for an action: 1, 0 or -1 (after store_begin). */
static int
inbox_load(struct store *s, int64_t id, struct conversation *c)
{
	memset(c, 0, sizeof *c);
	if (store_begin(s) != 0)
		return (-1);
	return (store_conversation_get(s, id, c));
}

/* Take a conversation: status open, assignee a. */
int
inbox_claim(struct store *s, int64_t id, const struct agent *a, int force,
    struct agent *holder)
{
	struct conversation	c;
	int64_t			from;
	int			r;

	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	from = c.assignee;
	if (from == a->id && strcmp(c.status, "open") == 0) {
		conversation_clear(&c);
		return (1);
	}
	if (from != 0 && from != a->id && strcmp(c.status, "open") == 0) {
		if (!force) {
			memset(holder, 0, sizeof *holder);
			auth_agent_get(s, from, holder);
			conversation_clear(&c);
			return (INBOX_CONFLICT);
		}
		if (!auth_allowed(a, AUTH_TAKEOVER)) {
			conversation_clear(&c);
			return (INBOX_FORBIDDEN);
		}
	} else if (!auth_allowed(a, AUTH_CLAIM)) {
		conversation_clear(&c);
		return (INBOX_FORBIDDEN);
	}
	free(c.status);
	c.status = xstrdup("open");
	c.assignee = a->id;
	c.waiting_since = 0;
	c.resolved_at = 0;
	c.updated_at = now_ms();
	r = store_conversation_save(s, &c);
	if (r == 0)
		r = inbox_event(s, c.id, from != 0 && from != a->id &&
		    force ? "taken_over" : "claimed", a, "from", from);
	conversation_clear(&c);
	if (r != 0)
		return (-1);
	pipeline_changed(id, 0);
	return (1);
}

/* Give a conversation to another agent. */
int
inbox_assign(struct store *s, int64_t id, const struct agent *a,
    int64_t to, char **why)
{
	struct conversation	c;
	struct agent		target;
	int			r;

	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	if (!auth_allowed_on(a, AUTH_ASSIGN, c.assignee)) {
		conversation_clear(&c);
		return (INBOX_FORBIDDEN);
	}
	memset(&target, 0, sizeof target);
	if ((r = auth_agent_get(s, to, &target)) != 1 || target.disabled) {
		agent_clear(&target);
		conversation_clear(&c);
		if (r == -1)
			return (-1);
		*why = xstrdup("no such agent, or disabled");
		return (INBOX_BAD_STATE);
	}
	agent_clear(&target);
	free(c.status);
	c.status = xstrdup("open");
	c.assignee = to;
	c.waiting_since = 0;
	c.updated_at = now_ms();
	r = store_conversation_save(s, &c);
	if (r == 0)
		r = inbox_event(s, c.id, "assigned", a, "to", to);
	conversation_clear(&c);
	if (r != 0)
		return (-1);
	pipeline_changed(id, 0);
	return (1);
}

/* Step the engine with an agent's event, after setting the assignee. */
static int
inbox_engine_event(struct store *s, struct conversation *c,
    enum engine_event_type type, int64_t assignee)
{
	struct engine_event	ev;

	c->assignee = assignee;
	if (type == ENGINE_EV_HANDBACK) {
		free(c->handoff_reason);
		c->handoff_reason = NULL;
	}
	c->waiting_since = 0;
	c->updated_at = now_ms();
	if (type == ENGINE_EV_RESOLVED)
		c->resolved_at = c->updated_at;
	if (store_conversation_save(s, c) != 0)
		return (-1);
	memset(&ev, 0, sizeof ev);
	ev.type = type;
	if (pipeline_event(c->id, &ev) != 0)
		return (-1);
	pipeline_changed(c->id, 0);
	return (0);
}

/* Give a conversation back to the bot. */
int
inbox_handback(struct store *s, int64_t id, const struct agent *a,
    char **why)
{
	struct conversation	c;
	int			r;

	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	if (!auth_allowed_on(a, AUTH_HANDBACK, c.assignee)) {
		conversation_clear(&c);
		return (INBOX_FORBIDDEN);
	}
	if (strcmp(c.status, "bot") == 0 || strcmp(c.status, "resolved") == 0) {
		*why = xasprintf("the conversation is %s", c.status);
		conversation_clear(&c);
		return (INBOX_BAD_STATE);
	}
	r = inbox_event(s, c.id, "handed_back", a, NULL, 0);
	if (r == 0)
		r = inbox_engine_event(s, &c, ENGINE_EV_HANDBACK, 0);
	conversation_clear(&c);
	return (r == 0 ? 1 : -1);
}

/* Resolve: the engine asks for the rating, then closes it. */
int
inbox_resolve(struct store *s, int64_t id, const struct agent *a,
    char **why)
{
	struct conversation	c;
	int			r;

	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	if (!auth_allowed_on(a, AUTH_RESOLVE, c.assignee)) {
		conversation_clear(&c);
		return (INBOX_FORBIDDEN);
	}
	if (strcmp(c.status, "resolved") == 0) {
		*why = xstrdup("the conversation is resolved already");
		conversation_clear(&c);
		return (INBOX_BAD_STATE);
	}
	r = inbox_event(s, c.id, "resolved_by_agent", a, NULL, 0);
	if (r == 0)
		r = inbox_engine_event(s, &c, ENGINE_EV_RESOLVED,
		    c.assignee != 0 ? c.assignee : a->id);
	conversation_clear(&c);
	return (r == 0 ? 1 : -1);
}

/* Reopen a resolved conversation for the agent. */
int
inbox_reopen(struct store *s, int64_t id, const struct agent *a,
    char **why)
{
	struct conversation	c;
	int			r;

	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	if (!auth_allowed(a, AUTH_REOPEN)) {
		conversation_clear(&c);
		return (INBOX_FORBIDDEN);
	}
	if (strcmp(c.status, "resolved") != 0 &&
	    (strcmp(c.status, "bot") != 0 || c.resolved_at == 0)) {
		*why = xasprintf("the conversation is %s, not resolved",
		    c.status);
		conversation_clear(&c);
		return (INBOX_BAD_STATE);
	}
	free(c.status);
	c.status = xstrdup("open");
	c.assignee = a->id;
	c.resolved_at = 0;
	c.updated_at = now_ms();
	r = store_conversation_save(s, &c);
	if (r == 0)
		r = inbox_event(s, c.id, "reopened", a, NULL, 0);
	conversation_clear(&c);
	if (r != 0)
		return (-1);
	pipeline_changed(id, 0);
	return (1);
}

/* A reply with this client_id already stored: 1 and *id, 0, -1. */
static int
inbox_find_client_id(struct store *s, int64_t conv, const char *client_id,
    int64_t *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = store_cached(s, inbox_client_id_sql)) == NULL)
		return (-1);
	sqlite3_bind_int64(st, 1, conv);
	sqlite3_bind_text(st, 2, client_id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return (1);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Reply to the customer or add an internal note. */
int
inbox_write(struct store *s, int64_t id, const struct agent *a, int note,
    const char *text, const char *client_id, int64_t *message_id,
    char **why)
{
	struct conversation	 c;
	struct message		 m;
	char			*expanded = NULL, *key = NULL;
	int			 r;

	*message_id = 0;
	if (text == NULL || *text == '\0' || strlen(text) > INBOX_TEXT_MAX) {
		*why = xstrdup("the text is empty or too long");
		return (INBOX_BAD_STATE);
	}
	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	if (!auth_allowed_on(a, note ? AUTH_NOTE : AUTH_REPLY, c.assignee) ||
	    (!note && c.assignee != a->id && !auth_allowed(a, AUTH_TAKEOVER))) {
		conversation_clear(&c);
		return (INBOX_FORBIDDEN);
	}
	if (!note && strcmp(c.status, "open") != 0) {
		*why = xasprintf("the conversation is %s: claim it first",
		    c.status);
		conversation_clear(&c);
		return (INBOX_BAD_STATE);
	}
	if (client_id != NULL && *client_id != '\0') {
		key = xasprintf("agent:%s", client_id);
		if ((r = inbox_find_client_id(s, id, key, message_id)) != 0) {
			free(key);
			conversation_clear(&c);
			return (r == 1 ? 1 : -1);
		}
	}
	if (!note && text[0] == '/' && (r = canned_expand(s, text,
	    &expanded)) == 1)
		text = expanded;
	else if (!note && text[0] == '/' && r == -1) {
		free(key);
		conversation_clear(&c);
		return (-1);
	}

	memset(&m, 0, sizeof m);
	m.conversation_id = c.id;
	m.contact_id = c.contact_id;
	m.channel = c.channel;
	m.account = c.account;
	m.conv_external = c.external_id;
	m.external_id = key;
	m.direction = MSG_OUT;
	m.author = AUTHOR_AGENT;
	m.agent_id = a->id;
	m.sender_name = a->display_name != NULL ? a->display_name : a->name;
	m.text = (char *)text;
	if (note) {
		m.status = "note";
		m.created_at = now_ms();
		r = store_message_insert(s, &m) == 1 ? 0 : -1;
		if (r == 0)
			pipeline_changed(c.id, m.id);
	} else {
		r = pipeline_outbound(&m);
		free(m.status);		/* the store's "queued" */
	}
	*message_id = m.id;
	if (r == 0) {
		c.last_message_at = now_ms();
		c.updated_at = c.last_message_at;
		r = store_conversation_save(s, &c);
	}
	free(expanded);
	free(key);
	conversation_clear(&c);
	return (r == 0 ? 1 : -1);
}

/* --- the tick: escalation and round-robin ---------------------------- */

static const char *inbox_overdue_sql = "SELECT id FROM conversations"
    " WHERE status = 'pending' AND escalated_at IS NULL"
    " AND waiting_since < ?1 ORDER BY waiting_since LIMIT 100";
static const char *inbox_unassigned_sql = "SELECT id FROM conversations"
    " WHERE status = 'pending' AND (assignee IS NULL OR assignee = 0)"
    " ORDER BY waiting_since LIMIT 100";

/* Mark a conversation escalated. */
static int
inbox_escalate(struct store *s, int64_t id, int64_t now)
{
	struct conversation	c;
	int			r;

	if ((r = inbox_load(s, id, &c)) != 1)
		return (r);
	c.escalated_at = now;
	r = store_conversation_save(s, &c);
	if (r == 0)
		r = store_event_add(s, id, "escalated", NULL, now);
	conversation_clear(&c);
	if (r == 0)
		pipeline_changed(id, 0);
	return (r == 0 ? 1 : -1);
}

/* Collect the ids a query returns (at most 100). */
static size_t
inbox_ids(struct store *s, const char *sql, int64_t arg, int64_t *ids)
{
	sqlite3_stmt	*st;
	size_t		 n = 0;

	if ((st = store_cached(s, sql)) == NULL)
		return (0);
	if (arg != 0)
		sqlite3_bind_int64(st, 1, arg);
	while (n < 100 && sqlite3_step(st) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return (n);
}

/* Choose the online agent with room and the fewest open conversations. */
static int
inbox_pick_agent(void *arg, const struct agent *a)
{
	struct agent	*best = arg;
	sqlite3_stmt	*st;
	int64_t		 open = 0;

	if (a->disabled || !inbox_live_online(a->id))
		return (0);
	if ((st = store_cached(kefu->store, inbox_open_count_sql)) != NULL) {
		sqlite3_bind_int64(st, 1, a->id);
		if (sqlite3_step(st) == SQLITE_ROW)
			open = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	if (open >= a->max_open)
		return (0);
	if (best->id == 0 || open < best->max_open) {
		agent_clear(best);
		best->id = a->id;
		best->name = xstrdup(a->name);
		best->max_open = (int)open;	/* here: its open count */
	}
	return (0);
}

/* Escalate overdue conversations; assign waiting ones round-robin. */
void
inbox_tick(void)
{
	struct store	*s = kefu->store;
	struct agent	 best, sys;
	int64_t		 ids[100], now = now_ms();
	size_t		 i, n;

	if (s == NULL || kefu->draining)
		return;
	if (kefu->cfg->inbox_escalate_after > 0) {
		n = inbox_ids(s, inbox_overdue_sql, now -
		    (int64_t)kefu->cfg->inbox_escalate_after * 1000, ids);
		for (i = 0; i < n; i++) {
			if (inbox_escalate(s, ids[i], now) == 1)
				log_info("inbox", "msg=\"conversation waited "
				    "too long, escalated\" conv=%lld",
				    (long long)ids[i]);
		}
	}
	if (strcmp(kefu->cfg->inbox_assignment, "round_robin") != 0 ||
	    !inbox_live_active())
		return;
	n = inbox_ids(s, inbox_unassigned_sql, 0, ids);
	for (i = 0; i < n; i++) {
		memset(&best, 0, sizeof best);
		auth_agent_list(s, inbox_pick_agent, &best);
		if (best.id == 0)
			break;
		memset(&sys, 0, sizeof sys);
		sys.id = best.id;
		sys.name = best.name;
		sys.role = AGENT_ROLE_ADMIN;	/* the system assigns */
		if (inbox_assign(s, ids[i], &sys, best.id, NULL) == 1)
			log_info("inbox", "msg=\"assigned round-robin\" "
			    "conv=%lld agent=%lld", (long long)ids[i],
			    (long long)best.id);
		agent_clear(&best);
	}
}
