/*
 * The normalized message and its small helpers.
 *
 * A struct message owns every string and array it points to: message_clear
 * frees them all and message_copy duplicates them all, so a message can be
 * handed from the pipeline to the engine to the store without anyone
 * wondering who frees what.  Buttons and attachments travel to the store as
 * JSON arrays built and parsed with json-c; absent optional fields are left
 * out of the JSON rather than written as null.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "message.h"
#include "xmalloc.h"

static const char *msg_direction_names[] = { "in", "out" };
static const char *msg_author_names[] = {
	"customer", "bot", "agent", "system"
};

#define NITEMS(a) (sizeof (a) / sizeof (a)[0])

/* The name of a direction as stored and shown ("in", "out"). */
const char *
msg_direction_name(enum msg_direction d)
{
	if ((size_t)d >= NITEMS(msg_direction_names))
		return ("unknown");
	return (msg_direction_names[d]);
}

/* The name of an author as stored and shown. */
const char *
msg_author_name(enum msg_author a)
{
	if ((size_t)a >= NITEMS(msg_author_names))
		return ("unknown");
	return (msg_author_names[a]);
}

/* Parse an author name; -1 if unknown. */
int
msg_author_parse(const char *name)
{
	size_t	i;

	if (name == NULL)
		return (-1);
	for (i = 0; i < NITEMS(msg_author_names); i++) {
		if (strcmp(name, msg_author_names[i]) == 0)
			return ((int)i);
	}
	return (-1);
}

/* Parse a direction name; -1 if unknown. */
int
msg_direction_parse(const char *name)
{
	size_t	i;

	if (name == NULL)
		return (-1);
	for (i = 0; i < NITEMS(msg_direction_names); i++) {
		if (strcmp(name, msg_direction_names[i]) == 0)
			return ((int)i);
	}
	return (-1);
}

/* Duplicate a string that may be NULL. */
static char *
msg_strdup(const char *s)
{
	return (s == NULL ? NULL : xstrdup(s));
}

/* Free an array of buttons and their strings. */
static void
buttons_free(struct button *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(b[i].title);
		free(b[i].value);
	}
	free(b);
}

/* Free an array of attachments and their strings. */
static void
attachments_free(struct attachment *a, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(a[i].type);
		free(a[i].url);
		free(a[i].name);
		free(a[i].mime);
	}
	free(a);
}

/* Free every member of m (not m itself) and zero it. */
void
message_clear(struct message *m)
{
	free(m->channel);
	free(m->account);
	free(m->conv_external);
	free(m->sender_external);
	free(m->sender_name);
	free(m->external_id);
	free(m->text);
	free(m->value);
	attachments_free(m->attachments, m->nattachments);
	buttons_free(m->buttons, m->nbuttons);
	free(m->status);
	free(m->status_reason);
	free(m->remote_id);
	free(m->raw);
	free(m->edit_of);
	memset(m, 0, sizeof *m);
}

/* Deep-copy src into dst; dst's old contents are not freed. */
void
message_copy(struct message *dst, const struct message *src)
{
	size_t	i;

	*dst = *src;
	dst->channel = msg_strdup(src->channel);
	dst->account = msg_strdup(src->account);
	dst->conv_external = msg_strdup(src->conv_external);
	dst->sender_external = msg_strdup(src->sender_external);
	dst->sender_name = msg_strdup(src->sender_name);
	dst->external_id = msg_strdup(src->external_id);
	dst->text = msg_strdup(src->text);
	dst->value = msg_strdup(src->value);
	dst->status = msg_strdup(src->status);
	dst->status_reason = msg_strdup(src->status_reason);
	dst->remote_id = msg_strdup(src->remote_id);
	dst->raw = msg_strdup(src->raw);
	dst->edit_of = msg_strdup(src->edit_of);

	dst->attachments = NULL;
	dst->nattachments = 0;
	if (src->nattachments != 0) {
		dst->attachments = xcalloc(src->nattachments,
		    sizeof *dst->attachments);
		for (i = 0; i < src->nattachments; i++) {
			dst->attachments[i].type =
			    msg_strdup(src->attachments[i].type);
			dst->attachments[i].url =
			    msg_strdup(src->attachments[i].url);
			dst->attachments[i].name =
			    msg_strdup(src->attachments[i].name);
			dst->attachments[i].mime =
			    msg_strdup(src->attachments[i].mime);
			dst->attachments[i].size = src->attachments[i].size;
		}
		dst->nattachments = src->nattachments;
	}

	dst->buttons = NULL;
	dst->nbuttons = 0;
	if (src->nbuttons != 0) {
		dst->buttons = xcalloc(src->nbuttons, sizeof *dst->buttons);
		for (i = 0; i < src->nbuttons; i++) {
			dst->buttons[i].title =
			    msg_strdup(src->buttons[i].title);
			dst->buttons[i].value =
			    msg_strdup(src->buttons[i].value);
		}
		dst->nbuttons = src->nbuttons;
	}
}

/* Append a quick-reply button; title and value are copied. */
void
message_add_button(struct message *m, const char *title, const char *value)
{
	struct button	*b;

	m->buttons = xreallocarray(m->buttons, m->nbuttons + 1,
	    sizeof *m->buttons);
	b = &m->buttons[m->nbuttons++];
	b->title = msg_strdup(title);
	b->value = msg_strdup(value);
}

/* Add key: s to a JSON object when s is not NULL. */
static void
json_add_string(struct json_object *o, const char *key, const char *s)
{
	if (s != NULL)
		json_object_object_add(o, key, json_object_new_string(s));
}

/* A string member of a JSON object, copied, or NULL if absent or null. */
static int
json_get_string(struct json_object *o, const char *key, char **out)
{
	struct json_object	*v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_string))
		return (-1);
	*out = xstrdup(json_object_get_string(v));
	return (0);
}

/* Serialize a JSON value to a string the caller frees, then drop it. */
static char *
json_finish(struct json_object *o)
{
	char	*s;

	s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return (s);
}

/*
 * Parse text as a JSON array; NULL or empty text is an empty array (*ap
 * NULL).  Returns 0 or -1 if the text is not a JSON array.
 */
static int
json_parse_array(const char *text, struct json_object **ap)
{
	struct json_object	*a;

	*ap = NULL;
	if (text == NULL || *text == '\0')
		return (0);
	if ((a = json_tokener_parse(text)) == NULL)
		return (-1);
	if (!json_object_is_type(a, json_type_array)) {
		json_object_put(a);
		return (-1);
	}
	*ap = a;
	return (0);
}

/* Buttons as [{"title":..,"value":..}]; the caller frees the string. */
char *
buttons_to_json(const struct button *b, size_t n)
{
	struct json_object	*a, *o;
	size_t			 i;

	a = json_object_new_array();
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_add_string(o, "title", b[i].title);
		json_add_string(o, "value", b[i].value);
		json_object_array_add(a, o);
	}
	return (json_finish(a));
}

/*
 * Parse buttons back from JSON text (NULL or "" is none).  On success *bp
 * and *np are replaced (the caller frees); on error they are untouched.
 */
int
buttons_from_json(const char *text, struct button **bp, size_t *np)
{
	struct json_object	*a, *o;
	struct button		*b = NULL;
	size_t			 i, n;

	if (json_parse_array(text, &a) != 0)
		return (-1);
	n = (a == NULL) ? 0 : json_object_array_length(a);
	if (n != 0)
		b = xcalloc(n, sizeof *b);
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(a, i);
		if (!json_object_is_type(o, json_type_object) ||
		    json_get_string(o, "title", &b[i].title) != 0 ||
		    json_get_string(o, "value", &b[i].value) != 0) {
			buttons_free(b, n);
			json_object_put(a);
			return (-1);
		}
	}
	json_object_put(a);
	*bp = b;
	*np = n;
	return (0);
}

/*
 * Attachments as [{"type":..,"url":..,"name":..,"mime":..,"size":..}],
 * absent members left out (size when unknown, -1); the caller frees.
 */
char *
attachments_to_json(const struct attachment *at, size_t n)
{
	struct json_object	*a, *o;
	size_t			 i;

	a = json_object_new_array();
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		json_add_string(o, "type", at[i].type);
		json_add_string(o, "url", at[i].url);
		json_add_string(o, "name", at[i].name);
		json_add_string(o, "mime", at[i].mime);
		if (at[i].size >= 0) {
			json_object_object_add(o, "size",
			    json_object_new_int64(at[i].size));
		}
		json_object_array_add(a, o);
	}
	return (json_finish(a));
}

/*
 * Parse attachments back from JSON text (NULL or "" is none).  On success
 * *ap and *np are replaced (the caller frees); on error they are untouched.
 */
int
attachments_from_json(const char *text, struct attachment **ap, size_t *np)
{
	struct json_object	*a, *o, *v;
	struct attachment	*at = NULL;
	size_t			 i, n;

	if (json_parse_array(text, &a) != 0)
		return (-1);
	n = (a == NULL) ? 0 : json_object_array_length(a);
	if (n != 0)
		at = xcalloc(n, sizeof *at);
	for (i = 0; i < n; i++) {
		o = json_object_array_get_idx(a, i);
		at[i].size = -1;
		if (!json_object_is_type(o, json_type_object) ||
		    json_get_string(o, "type", &at[i].type) != 0 ||
		    json_get_string(o, "url", &at[i].url) != 0 ||
		    json_get_string(o, "name", &at[i].name) != 0 ||
		    json_get_string(o, "mime", &at[i].mime) != 0)
			goto fail;
		if (json_object_object_get_ex(o, "size", &v) && v != NULL) {
			if (!json_object_is_type(v, json_type_int))
				goto fail;
			at[i].size = json_object_get_int64(v);
		}
	}
	json_object_put(a);
	*ap = at;
	*np = n;
	return (0);

fail:
	attachments_free(at, n);
	json_object_put(a);
	return (-1);
}

/* Milliseconds since the epoch, from the wall clock. */
int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
