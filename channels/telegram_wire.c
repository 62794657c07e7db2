/*
 * The Telegram Bot API's wire format (channels/telegram.h), without I/O
 * and without globals: every JSON object in and out goes through json-c.
 *
 * Normalization of an Update (one field besides update_id names its type):
 *
 * - "message": TG_UPDATE_MESSAGE when it has a text, a caption or a
 *   supported media; else TG_UPDATE_MIGRATE when it has migrate_to_chat_id
 *   (chat_id is the old group, migrate_to_chat_id the supergroup); any
 *   other service message (new_chat_members, left_chat_member,
 *   pinned_message, migrate_from_chat_id, ...) and any content kefu does
 *   not carry (contact, poll, dice, game, ...) is TG_UPDATE_IGNORED.
 * - "edited_message": TG_UPDATE_EDITED, read like a message, edit_date set.
 * - "callback_query": TG_UPDATE_CALLBACK with callback_id, callback_data,
 *   from_* the user who pressed, and chat_id, chat_type and message_id
 *   from callback_query.message when present (that message is the bot's,
 *   so its text, sender and date are not taken).
 * - "my_chat_member": TG_UPDATE_MEMBER, member_status from
 *   new_chat_member.status, with the chat, from and date.
 * - "channel_post", "edited_channel_post": TG_UPDATE_IGNORED.
 * - anything else: TG_UPDATE_UNKNOWN, type the field's name ("unknown"
 *   when the update has nothing but update_id).
 *
 * from_name is "first_name last_name" trimmed, else "@username", else
 * NULL.  text is message.text, else the caption.  Attachments (url is the
 * Telegram file_id): photo is "image" (the largest PhotoSize by width *
 * height, then file_size; mime image/jpeg); document is "file" (name
 * file_name, mime mime_type); voice and audio are "audio" (audio's name
 * is file_name, else title); video, video_note and animation are "video"
 * (a GIF's duplicate document field is not taken twice); sticker is
 * "sticker" (name its emoji; mime image/webp, application/x-tgsticker or
 * video/webm); location, and a venue through its location, is "location"
 * with url "geo:LAT,LON" (%.6f).  A contact is ignored.  size is
 * file_size, or -1.
 *
 * mentions_bot: an entity (caption_entities for a caption) of type
 * "mention" whose text, cut out with the UTF-16 offset and length Telegram
 * counts in, is "@" and the bot's username (case-insensitively); a
 * "text_mention" of the bot's id; or a "bot_command" ending in
 * "@username".  replies_to_bot: reply_to_message.from.id is the bot's.
 * Both are computed for every chat type; the channel looks at them only
 * in groups.
 *
 * Strictness: an object without an integer update_id, an update whose
 * message, callback_query or my_chat_member is not an object or lacks its
 * ids (chat.id, message_id, callback id), and any string that is not
 * valid UTF-8 or holds a NUL (a \u0000 escape) is an error with a cause;
 * other fields of the wrong type count as absent.  json-c joins a
 * \ud83d\ude00 escape pair into one 4-byte UTF-8 character and turns a
 * lone surrogate escape into U+FFFD, so escapes always give valid UTF-8;
 * raw bytes are not checked by json-c, hence the check here.
 *
 * Outbound bodies are json-c objects serialized plain; chat ids are
 * 64-bit integers.  Text splitting and entity offsets share one UTF-8
 * decoder that counts a character above U+FFFF as two UTF-16 units and
 * an invalid byte as one character of one unit.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "message.h"
#include "telegram.h"
#include "xmalloc.h"

#define TG_JSON_DEPTH		64	/* nesting accepted in a body */
#define TG_TITLE_LONG		20	/* characters: one button a row */
#define TG_TITLE_SHORT		4	/* characters: ratings, emoji */
#define TG_ROW_MAX		3	/* buttons in a row */
#define TG_ROW_SHORT_MAX	5	/* buttons in a row of short titles */

/* --- UTF-8 and UTF-16 ------------------------------------------------ */

/*
 * Decode the character at s (len bytes left, at least 1): returns the
 * code point, or -1 for an invalid or truncated sequence (then *clen is
 * 1, so an invalid byte is skipped as one character).
 */
static int32_t
utf8_decode(const unsigned char *s, size_t len, size_t *clen)
{
	int32_t	cp, min;
	size_t	n, i;

	*clen = 1;
	if (s[0] < 0x80)
		return (s[0]);
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else
		return (-1);
	if (len < n)
		return (-1);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (-1);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (-1);
	*clen = n;
	return (cp);
}

/* The UTF-16 units of the character at s; *clen is its length in bytes. */
static size_t
utf8_units(const char *s, size_t len, size_t *clen)
{
	int32_t	cp;

	cp = utf8_decode((const unsigned char *)s, len, clen);
	return (cp >= 0x10000 ? 2 : 1);
}

/* Whether len bytes at s are valid UTF-8 without a NUL. */
static int
utf8_valid(const char *s, size_t len)
{
	size_t	i, clen;

	for (i = 0; i < len; i += clen) {
		if (s[i] == '\0' ||
		    utf8_decode((const unsigned char *)s + i, len - i,
		    &clen) < 0)
			return (0);
	}
	return (1);
}

/* The length of UTF-8 text in UTF-16 code units (what Telegram counts). */
size_t
tg_utf16_length(const char *s, size_t len)
{
	size_t	i, clen, n = 0;

	if (s == NULL)
		return (0);
	for (i = 0; i < len; i += clen)
		n += utf8_units(s + i, len - i, &clen);
	return (n);
}

/*
 * The byte offset of UTF-16 offset off in s; -1 if it lies beyond the
 * text or inside a surrogate pair.
 */
static int
utf16_to_byte(const char *s, size_t len, int64_t off, size_t *out)
{
	size_t	i = 0, clen, cu;
	int64_t	n = 0;

	if (off < 0)
		return (-1);
	while (n < off) {
		if (i >= len)
			return (-1);
		cu = utf8_units(s + i, len - i, &clen);
		n += (int64_t)cu;
		i += clen;
	}
	if (n != off)
		return (-1);
	*out = i;
	return (0);
}

/* --- reading JSON ---------------------------------------------------- */

/*
 * Parse len bytes of JSON text, all of it (trailing white space aside).
 * Returns the object, or NULL with *error set to a static description.
 */
static struct json_object *
tg_json_parse(const char *s, size_t len, const char **error)
{
	static struct json_tokener	*tok;
	struct json_object		*o;
	enum json_tokener_error		 e;
	size_t				 end;

	*error = NULL;
	if (s == NULL || len == 0) {
		*error = "empty body";
		return (NULL);
	}
	if (len > INT_MAX) {
		*error = "body too long";
		return (NULL);
	}
	/* One tokener for every parse (the loop's thread only). */
	if (tok == NULL && (tok = json_tokener_new_ex(TG_JSON_DEPTH)) == NULL) {
		*error = "out of memory";
		return (NULL);
	}
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, s, (int)len);
	e = json_tokener_get_error(tok);
	if (o == NULL || e != json_tokener_success) {
		*error = e == json_tokener_continue ? "truncated" :
		    json_tokener_error_desc(e);
		json_object_put(o);
		return (NULL);
	}
	end = json_tokener_get_parse_end(tok);
	for (; end < len; end++) {
		if (strchr(" \t\r\n", s[end]) == NULL || s[end] == '\0') {
			*error = "data after the JSON value";
			json_object_put(o);
			return (NULL);
		}
	}
	return (o);
}

/* Member key of o if it is an object; NULL otherwise. */
static struct json_object *
tg_get(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return (NULL);
	return (v);
}

/* Member key of o if it is an object; NULL otherwise. */
static struct json_object *
tg_get_object(struct json_object *o, const char *key)
{
	struct json_object	*v = tg_get(o, key);

	return (json_object_is_type(v, json_type_object) ? v : NULL);
}

/* Integer member key of o into *out: 1 found, 0 absent or not one. */
static int
tg_get_int(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object	*v = tg_get(o, key);

	if (!json_object_is_type(v, json_type_int))
		return (0);
	*out = json_object_get_int64(v);
	return (1);
}

/*
 * String member key of o: *out is it (owned by o) or NULL when absent or
 * not a string.  -1 with *cause naming where/key when it is not valid
 * UTF-8 or holds a NUL.
 */
static int
tg_get_str(struct json_object *o, const char *key, const char *where,
    const char **out, char **cause)
{
	struct json_object	*v = tg_get(o, key);
	const char		*s;
	int			 len;

	*out = NULL;
	if (!json_object_is_type(v, json_type_string))
		return (0);
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len < 0 || !utf8_valid(s, (size_t)len)) {
		*cause = xasprintf("%s.%s is not valid UTF-8 text", where, key);
		return (-1);
	}
	*out = s;
	return (0);
}

/* A copy of s, or NULL. */
static char *
tg_strdup(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

/* --- updates --------------------------------------------------------- */

/* Free an update's strings and attachments and zero it. */
void
tg_update_clear(struct tg_update *u)
{
	size_t	i;

	free(u->type);
	free(u->chat_type);
	free(u->from_name);
	free(u->from_lang);
	free(u->text);
	for (i = 0; i < u->nattachments; i++) {
		free(u->attachments[i].type);
		free(u->attachments[i].url);
		free(u->attachments[i].name);
		free(u->attachments[i].mime);
	}
	free(u->attachments);
	free(u->callback_id);
	free(u->callback_data);
	free(u->member_status);
	memset(u, 0, sizeof *u);
}

/* Append an attachment; the strings are copied. */
static void
tg_attach(struct tg_update *u, const char *type, const char *url,
    const char *name, const char *mime, int64_t size)
{
	struct attachment	*a;

	u->attachments = xreallocarray(u->attachments, u->nattachments + 1,
	    sizeof *u->attachments);
	a = &u->attachments[u->nattachments++];
	a->type = xstrdup(type);
	a->url = tg_strdup(url);
	a->name = tg_strdup(name);
	a->mime = tg_strdup(mime);
	a->size = size;
}

/* Read a User (from) into the from_* fields. */
static int
tg_read_user(struct json_object *user, const char *where,
    struct tg_update *u, char **cause)
{
	struct json_object	*v;
	const char		*first, *last, *username, *lang;
	char			*name;
	size_t			 start, end;

	if (user == NULL)
		return (0);
	if (!tg_get_int(user, "id", &u->from_id)) {
		*cause = xasprintf("%s has no id", where);
		return (-1);
	}
	if (tg_get_str(user, "first_name", where, &first, cause) != 0 ||
	    tg_get_str(user, "last_name", where, &last, cause) != 0 ||
	    tg_get_str(user, "username", where, &username, cause) != 0 ||
	    tg_get_str(user, "language_code", where, &lang, cause) != 0)
		return (-1);
	v = tg_get(user, "is_bot");
	u->from_is_bot = json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v);
	u->from_lang = tg_strdup(lang);

	name = xasprintf("%s%s%s", first != NULL ? first : "",
	    first != NULL && last != NULL ? " " : "",
	    last != NULL ? last : "");
	end = strlen(name);
	while (end > 0 && name[end - 1] == ' ')
		end--;
	for (start = 0; start < end && name[start] == ' '; start++)
		/* nothing */;
	if (end > start)
		u->from_name = xstrndup(name + start, end - start);
	else if (username != NULL && *username != '\0')
		u->from_name = xasprintf("@%s", username);
	free(name);
	return (0);
}

/* Read a Chat into chat_id and chat_type; its id is required. */
static int
tg_read_chat(struct json_object *msg, const char *where,
    struct tg_update *u, char **cause)
{
	struct json_object	*chat;
	const char		*type;

	if ((chat = tg_get_object(msg, "chat")) == NULL ||
	    !tg_get_int(chat, "id", &u->chat_id)) {
		*cause = xasprintf("%s has no chat id", where);
		return (-1);
	}
	if (tg_get_str(chat, "type", where, &type, cause) != 0)
		return (-1);
	u->chat_type = tg_strdup(type);
	return (0);
}

/* The bot's username without a leading @, or NULL. */
static const char *
tg_bot_username(const struct tg_bot *bot)
{
	const char	*name;

	if (bot == NULL || bot->username == NULL)
		return (NULL);
	name = bot->username;
	if (*name == '@')
		name++;
	return (*name != '\0' ? name : NULL);
}

/* Whether one entity of text addresses the bot. */
static int
tg_entity_is_bot(struct json_object *e, const char *text, size_t len,
    const struct tg_bot *bot)
{
	struct json_object	*user;
	const char		*type, *name, *at;
	int64_t			 off, n, id;
	size_t			 b0, b1, nlen;

	if (!json_object_is_type(tg_get(e, "type"), json_type_string))
		return (0);
	type = json_object_get_string(tg_get(e, "type"));
	if (strcmp(type, "text_mention") == 0) {
		user = tg_get_object(e, "user");
		return (bot->id != 0 && tg_get_int(user, "id", &id) &&
		    id == bot->id);
	}
	if (strcmp(type, "mention") != 0 && strcmp(type, "bot_command") != 0)
		return (0);
	if ((name = tg_bot_username(bot)) == NULL)
		return (0);
	if (!tg_get_int(e, "offset", &off) || !tg_get_int(e, "length", &n) ||
	    n <= 0 || off > INT64_MAX - n)
		return (0);
	if (utf16_to_byte(text, len, off, &b0) != 0 ||
	    utf16_to_byte(text, len, off + n, &b1) != 0)
		return (0);
	nlen = strlen(name);
	if (strcmp(type, "mention") == 0) {
		return (b1 - b0 == nlen + 1 && text[b0] == '@' &&
		    strncasecmp(text + b0 + 1, name, nlen) == 0);
	}
	/* A bot_command: "/start@name". */
	at = memchr(text + b0, '@', b1 - b0);
	return (at != NULL && (size_t)(text + b1 - at) == nlen + 1 &&
	    strncasecmp(at + 1, name, nlen) == 0);
}

/* Set mentions_bot from a text's entities. */
static void
tg_read_entities(struct json_object *entities, const char *text,
    const struct tg_bot *bot, struct tg_update *u)
{
	struct json_object	*e;
	size_t			 i, n, len;

	if (text == NULL || bot == NULL ||
	    !json_object_is_type(entities, json_type_array))
		return;
	len = strlen(text);
	n = json_object_array_length(entities);
	for (i = 0; i < n && !u->mentions_bot; i++) {
		e = json_object_array_get_idx(entities, i);
		if (json_object_is_type(e, json_type_object) &&
		    tg_entity_is_bot(e, text, len, bot))
			u->mentions_bot = 1;
	}
}

/* A file's file_size, or -1. */
static int64_t
tg_file_size(struct json_object *file)
{
	int64_t	size;

	if (!tg_get_int(file, "file_size", &size) || size < 0)
		return (-1);
	return (size);
}

/* The largest PhotoSize of a photo array (area, then file_size). */
static struct json_object *
tg_largest_photo(struct json_object *photo)
{
	struct json_object	*p, *best = NULL;
	int64_t			 w, h, area, best_area = -1, size;
	int64_t			 best_size = -1;
	size_t			 i, n;

	if (!json_object_is_type(photo, json_type_array))
		return (NULL);
	n = json_object_array_length(photo);
	for (i = 0; i < n; i++) {
		p = json_object_array_get_idx(photo, i);
		if (!json_object_is_type(p, json_type_object) ||
		    !json_object_is_type(tg_get(p, "file_id"),
		    json_type_string))
			continue;
		if (!tg_get_int(p, "width", &w) || w < 0 || w > INT32_MAX)
			w = 0;
		if (!tg_get_int(p, "height", &h) || h < 0 || h > INT32_MAX)
			h = 0;
		area = w * h;
		size = tg_file_size(p);
		if (area > best_area || (area == best_area &&
		    size > best_size)) {
			best = p;
			best_area = area;
			best_size = size;
		}
	}
	return (best);
}

/*
 * Read one media field (a file object) as an attachment of type, its name
 * from name_key (or name_key2), its mime from mime_key or mime.
 */
static int
tg_read_file(struct json_object *file, const char *where, const char *type,
    const char *name_key, const char *name_key2, const char *mime,
    struct tg_update *u, char **cause)
{
	const char	*id, *name = NULL, *mt = NULL;

	if (!json_object_is_type(file, json_type_object))
		return (0);
	if (tg_get_str(file, "file_id", where, &id, cause) != 0)
		return (-1);
	if (id == NULL)
		return (0);
	if (name_key != NULL &&
	    tg_get_str(file, name_key, where, &name, cause) != 0)
		return (-1);
	if (name == NULL && name_key2 != NULL &&
	    tg_get_str(file, name_key2, where, &name, cause) != 0)
		return (-1);
	if (tg_get_str(file, "mime_type", where, &mt, cause) != 0)
		return (-1);
	tg_attach(u, type, id, name, mt != NULL ? mt : mime,
	    tg_file_size(file));
	return (0);
}

/* Read a message's media into attachments. */
static int
tg_read_media(struct json_object *msg, struct tg_update *u, char **cause)
{
	struct json_object	*v, *loc;
	const char		*mime;
	char			 geo[64];
	double			 lat, lon;

	if ((v = tg_largest_photo(tg_get(msg, "photo"))) != NULL &&
	    tg_read_file(v, "message.photo", "image", NULL, NULL,
	    "image/jpeg", u, cause) != 0)
		return (-1);
	if ((v = tg_get(msg, "animation")) != NULL) {
		/* A GIF carries a copy of itself in document. */
		if (tg_read_file(v, "message.animation", "video", "file_name",
		    NULL, NULL, u, cause) != 0)
			return (-1);
	} else if (tg_read_file(tg_get(msg, "document"), "message.document",
	    "file", "file_name", NULL, NULL, u, cause) != 0)
		return (-1);
	if (tg_read_file(tg_get(msg, "voice"), "message.voice", "audio",
	    NULL, NULL, NULL, u, cause) != 0 ||
	    tg_read_file(tg_get(msg, "audio"), "message.audio", "audio",
	    "file_name", "title", NULL, u, cause) != 0 ||
	    tg_read_file(tg_get(msg, "video"), "message.video", "video",
	    "file_name", NULL, NULL, u, cause) != 0 ||
	    tg_read_file(tg_get(msg, "video_note"), "message.video_note",
	    "video", NULL, NULL, NULL, u, cause) != 0)
		return (-1);
	if ((v = tg_get_object(msg, "sticker")) != NULL) {
		if (json_object_get_boolean(tg_get(v, "is_animated")))
			mime = "application/x-tgsticker";
		else if (json_object_get_boolean(tg_get(v, "is_video")))
			mime = "video/webm";
		else
			mime = "image/webp";
		if (tg_read_file(v, "message.sticker", "sticker", "emoji",
		    NULL, mime, u, cause) != 0)
			return (-1);
	}
	loc = tg_get_object(msg, "location");
	if (loc == NULL)
		loc = tg_get_object(tg_get_object(msg, "venue"), "location");
	if (loc != NULL) {
		v = tg_get(loc, "latitude");
		lat = json_object_get_double(v);
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return (0);
		v = tg_get(loc, "longitude");
		lon = json_object_get_double(v);
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int))
			return (0);
		if (lat < -90 || lat > 90 || lon < -180 || lon > 180)
			return (0);
		snprintf(geo, sizeof geo, "geo:%.6f,%.6f", lat, lon);
		tg_attach(u, "location", geo, NULL, NULL, -1);
	}
	return (0);
}

/* Read a Message (message, edited_message, channel_post) into u. */
static int
tg_read_message(struct json_object *msg, const char *where,
    const struct tg_bot *bot, struct tg_update *u, char **cause)
{
	struct json_object	*reply, *entities;
	const char		*text, *caption;
	char			 from[64];
	int64_t			 id;

	if (!json_object_is_type(msg, json_type_object)) {
		*cause = xasprintf("%s is not an object", where);
		return (-1);
	}
	if (!tg_get_int(msg, "message_id", &u->message_id)) {
		*cause = xasprintf("%s has no message_id", where);
		return (-1);
	}
	snprintf(from, sizeof from, "%s.from", where);
	if (tg_read_chat(msg, where, u, cause) != 0 ||
	    tg_read_user(tg_get_object(msg, "from"), from, u, cause) != 0)
		return (-1);
	tg_get_int(msg, "date", &u->date);
	tg_get_int(msg, "edit_date", &u->edit_date);
	tg_get_int(msg, "migrate_to_chat_id", &u->migrate_to_chat_id);

	if (tg_get_str(msg, "text", where, &text, cause) != 0 ||
	    tg_get_str(msg, "caption", where, &caption, cause) != 0)
		return (-1);
	if (text != NULL)
		entities = tg_get(msg, "entities");
	else {
		text = caption;
		entities = tg_get(msg, "caption_entities");
	}
	u->text = tg_strdup(text);
	tg_read_entities(entities, u->text, bot, u);
	if (tg_read_media(msg, u, cause) != 0)
		return (-1);

	reply = tg_get_object(msg, "reply_to_message");
	if (bot != NULL && bot->id != 0 &&
	    tg_get_int(tg_get_object(reply, "from"), "id", &id) &&
	    id == bot->id)
		u->replies_to_bot = 1;
	return (0);
}

/* Read a callback_query: who pressed which button on which message. */
static int
tg_read_callback(struct json_object *cq, struct tg_update *u, char **cause)
{
	struct json_object	*msg;
	const char		*id, *data;

	if (!json_object_is_type(cq, json_type_object)) {
		*cause = xstrdup("callback_query is not an object");
		return (-1);
	}
	if (tg_get_str(cq, "id", "callback_query", &id, cause) != 0)
		return (-1);
	if (id == NULL || *id == '\0') {
		*cause = xstrdup("callback_query has no id");
		return (-1);
	}
	if (tg_get_str(cq, "data", "callback_query", &data, cause) != 0 ||
	    tg_read_user(tg_get_object(cq, "from"), "callback_query.from", u,
	    cause) != 0)
		return (-1);
	u->callback_id = xstrdup(id);
	u->callback_data = tg_strdup(data);
	if ((msg = tg_get_object(cq, "message")) != NULL) {
		if (!tg_get_int(msg, "message_id", &u->message_id)) {
			*cause = xstrdup("callback_query.message has no "
			    "message_id");
			return (-1);
		}
		if (tg_read_chat(msg, "callback_query.message", u,
		    cause) != 0)
			return (-1);
	}
	return (0);
}

/* Read a my_chat_member: the bot's own status in a chat changed. */
static int
tg_read_member(struct json_object *cm, struct tg_update *u, char **cause)
{
	const char	*status;

	if (!json_object_is_type(cm, json_type_object)) {
		*cause = xstrdup("my_chat_member is not an object");
		return (-1);
	}
	if (tg_read_chat(cm, "my_chat_member", u, cause) != 0 ||
	    tg_read_user(tg_get_object(cm, "from"), "my_chat_member.from", u,
	    cause) != 0)
		return (-1);
	tg_get_int(cm, "date", &u->date);
	if (tg_get_str(tg_get_object(cm, "new_chat_member"), "status",
	    "my_chat_member.new_chat_member", &status, cause) != 0)
		return (-1);
	u->member_status = tg_strdup(status);
	return (0);
}

/* Clear u after an error, keeping its update_id (the caller may skip it). */
static int
tg_update_fail(struct tg_update *u)
{
	int64_t	id = u->update_id;

	tg_update_clear(u);
	u->update_id = id;
	return (-1);
}

/*
 * Read one Update object into u (see the top of the file).  On error u
 * holds nothing but its update_id, if it had one, so that a poller can
 * move its offset past an update it cannot read.
 */
int
tg_update_from_json(struct json_object *o, const struct tg_bot *bot,
    struct tg_update *u, char **cause)
{
	struct json_object	*v = NULL, *chat;
	const char		*type = NULL;
	int			 error = 0;

	memset(u, 0, sizeof *u);
	if (!json_object_is_type(o, json_type_object)) {
		*cause = xstrdup("update is not an object");
		return (-1);
	}
	if (!tg_get_int(o, "update_id", &u->update_id)) {
		*cause = xstrdup("update has no integer update_id");
		return (-1);
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "update_id") != 0) {
			type = key;
			v = val;
			break;
		}
	}
	if (type == NULL) {
		u->type = xstrdup("unknown");
		u->kind = TG_UPDATE_UNKNOWN;
		return (0);
	}
	if (!utf8_valid(type, strlen(type))) {
		*cause = xstrdup("update field name is not valid UTF-8");
		return (tg_update_fail(u));
	}
	u->type = xstrdup(type);

	if (strcmp(type, "message") == 0) {
		error = tg_read_message(v, "message", bot, u, cause);
		if (u->text != NULL || u->nattachments != 0)
			u->kind = TG_UPDATE_MESSAGE;
		else if (u->migrate_to_chat_id != 0)
			u->kind = TG_UPDATE_MIGRATE;
		else
			u->kind = TG_UPDATE_IGNORED;
	} else if (strcmp(type, "edited_message") == 0) {
		error = tg_read_message(v, "edited_message", bot, u, cause);
		u->kind = TG_UPDATE_EDITED;
	} else if (strcmp(type, "callback_query") == 0) {
		error = tg_read_callback(v, u, cause);
		u->kind = TG_UPDATE_CALLBACK;
	} else if (strcmp(type, "my_chat_member") == 0) {
		error = tg_read_member(v, u, cause);
		u->kind = TG_UPDATE_MEMBER;
	} else if (strcmp(type, "channel_post") == 0 ||
	    strcmp(type, "edited_channel_post") == 0) {
		/* Only the chat, for the logs; nothing is taken. */
		chat = tg_get_object(v, "chat");
		tg_get_int(chat, "id", &u->chat_id);
		tg_get_int(v, "message_id", &u->message_id);
		u->kind = TG_UPDATE_IGNORED;
	} else
		u->kind = TG_UPDATE_UNKNOWN;
	if (error != 0)
		return (tg_update_fail(u));
	return (0);
}

/* Read one Update from JSON text (a webhook's body). */
int
tg_update_parse(const char *s, size_t len, const struct tg_bot *bot,
    struct tg_update *u, char **cause)
{
	struct json_object	*o;
	const char		*error;
	int			 r;

	memset(u, 0, sizeof *u);
	if ((o = tg_json_parse(s, len, &error)) == NULL) {
		*cause = xasprintf("update is not JSON: %s", error);
		return (-1);
	}
	r = tg_update_from_json(o, bot, u, cause);
	json_object_put(o);
	return (r);
}

/*
 * Check that a webhook body is an Update worth queueing, a JSON object with
 * an integer update_id, and read that id; its content is read later, by
 * tg_update_parse.  0, or -1 with *cause (the caller frees).
 */
int
tg_update_peek(const char *s, size_t len, int64_t *update_id, char **cause)
{
	struct json_object	*o;
	const char		*error;
	int			 r = 0;

	*update_id = 0;
	if ((o = tg_json_parse(s, len, &error)) == NULL) {
		*cause = xasprintf("update is not JSON: %s", error);
		return (-1);
	}
	if (!json_object_is_type(o, json_type_object)) {
		*cause = xstrdup("update is not an object");
		r = -1;
	} else if (!tg_get_int(o, "update_id", update_id)) {
		*cause = xstrdup("update has no integer update_id");
		r = -1;
	}
	json_object_put(o);
	return (r);
}

/* --- responses ------------------------------------------------------- */

/* Free a response and zero it. */
void
tg_response_clear(struct tg_response *r)
{
	free(r->description);
	json_object_put(r->result);
	json_object_put(r->root);
	memset(r, 0, sizeof *r);
}

/* Read a Bot API response body (see telegram.h). */
int
tg_response_parse(const char *s, size_t len, long http_status,
    struct tg_response *r, char **cause)
{
	struct json_object	*o, *v, *params;
	const char		*error, *desc;
	int64_t			 code;

	memset(r, 0, sizeof *r);
	if ((o = tg_json_parse(s, len, &error)) == NULL) {
		r->error_code = (int)http_status;
		r->description = xasprintf("response is not JSON (HTTP %ld)",
		    http_status);
		return (0);
	}
	v = tg_get(o, "ok");
	if (!json_object_is_type(v, json_type_boolean)) {
		*cause = xasprintf("response is not a Bot API response "
		    "(HTTP %ld)", http_status);
		json_object_put(o);
		return (-1);
	}
	r->root = o;
	r->ok = json_object_get_boolean(v);
	if (tg_get_str(o, "description", "response", &desc, cause) != 0) {
		tg_response_clear(r);
		return (-1);
	}
	r->description = tg_strdup(desc);
	if (r->ok) {
		if ((v = tg_get(o, "result")) != NULL)
			r->result = json_object_get(v);
		return (0);
	}
	if (tg_get_int(o, "error_code", &code) && code > 0 && code <= INT_MAX)
		r->error_code = (int)code;
	else
		r->error_code = (int)http_status;
	params = tg_get_object(o, "parameters");
	if (!tg_get_int(params, "retry_after", &r->retry_after) ||
	    r->retry_after < 0)
		r->retry_after = 0;
	tg_get_int(params, "migrate_to_chat_id", &r->migrate_to_chat_id);
	return (0);
}

/* --- text ------------------------------------------------------------ */

/* Whether c is white space dropped at a split. */
static int
tg_split_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\n' || c == '\r');
}

/*
 * The last position in [from, to] where sep starts (a separator just
 * past the part still splits there); text has len bytes.  -1 if none.
 */
static int
tg_split_find(const char *text, size_t len, size_t from, size_t to,
    const char *sep, size_t *at)
{
	size_t	q, n = strlen(sep);

	for (q = to + 1; q > from; q--) {
		if (q - 1 + n <= len && memcmp(text + q - 1, sep, n) == 0) {
			*at = q - 1;
			return (0);
		}
	}
	return (-1);
}

/* Split text into parts of at most max UTF-16 units (see telegram.h). */
size_t
tg_split_text(const char *text, size_t max, char ***parts)
{
	static const char	*seps[] = { "\n\n", "\n", " " };
	char			**v = NULL;
	size_t			  n = 0, len, start, p, mid, units, cu;
	size_t			  clen, end, next, at, i;
	int			  found;

	if (text == NULL)
		text = "";
	if (max == 0)
		max = TG_TEXT_MAX;
	len = strlen(text);
	start = 0;
	while (start < len) {
		/* The longest window that fits, and where its half is. */
		units = 0;
		mid = p = start;
		while (p < len) {
			cu = utf8_units(text + p, len - p, &clen);
			if (units + cu > max)
				break;
			units += cu;
			p += clen;
			if (units <= max / 2)
				mid = p;
		}
		if (p == len) {
			v = xreallocarray(v, n + 1, sizeof *v);
			v[n++] = xstrndup(text + start, len - start);
			break;
		}
		if (p == start) {
			/* max is smaller than one character: take it. */
			utf8_units(text + p, len - p, &clen);
			p += clen;
		}

		found = 0;
		for (i = 0; i < sizeof seps / sizeof seps[0]; i++) {
			if (tg_split_find(text, len, mid, p, seps[i],
			    &at) == 0 && at > start) {
				found = 1;
				break;
			}
		}
		if (found) {
			end = at;
			while (end > start && tg_split_space(text[end - 1]))
				end--;
			next = at;
			while (next < len && tg_split_space(text[next]))
				next++;
		} else
			end = next = p;
		if (end > start) {
			v = xreallocarray(v, n + 1, sizeof *v);
			v[n++] = xstrndup(text + start, end - start);
		}
		start = next;
	}
	if (n == 0) {
		v = xreallocarray(v, 1, sizeof *v);
		v[n++] = xstrdup("");
	}
	*parts = v;
	return (n);
}

/* Escape text so that it shows literally under parse_mode (telegram.h). */
char *
tg_escape(const char *text, const char *mode)
{
	static const char	 md[] = "_*[]()~`>#+-=|{}.!\\";
	char			*out, *o;
	const char		*s;

	if (text == NULL)
		text = "";
	if (mode != NULL && strcasecmp(mode, "HTML") == 0) {
		out = o = xreallocarray(NULL, strlen(text) + 1, 6);
		for (s = text; *s != '\0'; s++) {
			switch (*s) {
			case '&':
				memcpy(o, "&amp;", 5);
				o += 5;
				break;
			case '<':
				memcpy(o, "&lt;", 4);
				o += 4;
				break;
			case '>':
				memcpy(o, "&gt;", 4);
				o += 4;
				break;
			case '"':
				memcpy(o, "&quot;", 6);
				o += 6;
				break;
			default:
				*o++ = *s;
				break;
			}
		}
		*o = '\0';
		return (out);
	}
	if (mode != NULL && strcasecmp(mode, "MarkdownV2") == 0) {
		out = o = xreallocarray(NULL, strlen(text) + 1, 2);
		for (s = text; *s != '\0'; s++) {
			if (strchr(md, *s) != NULL)
				*o++ = '\\';
			*o++ = *s;
		}
		*o = '\0';
		return (out);
	}
	return (xstrdup(text));
}

/* --- outbound bodies ------------------------------------------------- */

/* Serialize o plainly, free it and return a copy of the text. */
static char *
tg_json_finish(struct json_object *o)
{
	char	*s;

	s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return (s);
}

/* A new JSON string of s (NULL as ""). */
static struct json_object *
tg_json_string(const char *s)
{
	return (json_object_new_string(s != NULL ? s : ""));
}

/* The callback_data for button index with value (see telegram.h). */
char *
tg_callback_data(const char *value, size_t idx)
{
	size_t	len;

	/*
	 * "#N" is the channel's mapping back to a button, so a value that
	 * starts with "#" (or is empty, which Telegram refuses) goes that
	 * way too.
	 */
	if (value != NULL) {
		len = strlen(value);
		if (len > 0 && len <= TG_CALLBACK_DATA_MAX && value[0] != '#')
			return (xstrdup(value));
	}
	return (xasprintf("#%zu", idx));
}

/* The number of characters (code points) of s. */
static size_t
tg_chars(const char *s)
{
	size_t	i, n = 0, len, clen;

	if (s == NULL)
		return (0);
	len = strlen(s);
	for (i = 0; i < len; i += clen) {
		utf8_decode((const unsigned char *)s + i, len - i, &clen);
		n++;
	}
	return (n);
}

/*
 * An inline keyboard for buttons: one per row if any title is longer than
 * TG_TITLE_LONG characters; up to TG_ROW_SHORT_MAX per row if every title
 * is at most TG_TITLE_SHORT (a 1 to 5 rating sits in one row); else up to
 * TG_ROW_MAX per row.
 */
static struct json_object *
tg_keyboard(const struct button *b, size_t n)
{
	struct json_object	*rows, *row = NULL, *btn, *markup;
	size_t			 i, per_row = TG_ROW_SHORT_MAX, chars;
	char			*data;

	for (i = 0; i < n; i++) {
		chars = tg_chars(b[i].title);
		if (chars > TG_TITLE_LONG) {
			per_row = 1;
			break;
		}
		if (chars > TG_TITLE_SHORT)
			per_row = TG_ROW_MAX;
	}
	rows = json_object_new_array();
	for (i = 0; i < n; i++) {
		if (row == NULL || json_object_array_length(row) >= per_row) {
			row = json_object_new_array();
			json_object_array_add(rows, row);
		}
		btn = json_object_new_object();
		json_object_object_add(btn, "text", tg_json_string(
		    b[i].title != NULL ? b[i].title : b[i].value));
		data = tg_callback_data(b[i].value, i);
		json_object_object_add(btn, "callback_data",
		    json_object_new_string(data));
		free(data);
		json_object_array_add(row, btn);
	}
	markup = json_object_new_object();
	json_object_object_add(markup, "inline_keyboard", rows);
	return (markup);
}

/* A new body object with chat_id. */
static struct json_object *
tg_body(int64_t chat_id)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "chat_id", json_object_new_int64(chat_id));
	return (o);
}

/* The JSON body of sendMessage (see telegram.h).  Caller frees. */
char *
tg_send_message_body(int64_t chat_id, const char *text,
    const char *parse_mode, const struct button *buttons, size_t nbuttons)
{
	struct json_object	*o;

	o = tg_body(chat_id);
	json_object_object_add(o, "text", tg_json_string(text));
	if (parse_mode != NULL && *parse_mode != '\0')
		json_object_object_add(o, "parse_mode",
		    json_object_new_string(parse_mode));
	if (buttons != NULL && nbuttons != 0)
		json_object_object_add(o, "reply_markup",
		    tg_keyboard(buttons, nbuttons));
	return (tg_json_finish(o));
}

/* Parse "geo:LAT,LON[;params]"; -1 if it is not one. */
static int
tg_parse_geo(const char *url, double *lat, double *lon)
{
	const char	*s;
	char		*end;

	if (url == NULL || strncasecmp(url, "geo:", 4) != 0)
		return (-1);
	s = url + 4;
	errno = 0;
	*lat = strtod(s, &end);
	if (end == s || *end != ',' || errno != 0)
		return (-1);
	s = end + 1;
	*lon = strtod(s, &end);
	if (end == s || (*end != '\0' && *end != ';' && *end != ',') ||
	    errno != 0)
		return (-1);
	if (!(*lat >= -90 && *lat <= 90 && *lon >= -180 && *lon <= 180))
		return (-1);
	return (0);
}

/*
 * The JSON body that sends one attachment (see telegram.h).  An
 * attachment without a url, or a location that is not "geo:LAT,LON",
 * becomes a sendMessage with its name (or url, or type) as the text, so
 * the customer sees something rather than a request Telegram refuses.
 */
char *
tg_send_attachment_body(int64_t chat_id, const struct attachment *a,
    const char **method)
{
	struct json_object	*o;
	const char		*type = a->type != NULL ? a->type : "file";
	const char		*field, *text;
	double			 lat, lon;

	o = tg_body(chat_id);
	if (strcmp(type, "location") == 0) {
		if (tg_parse_geo(a->url, &lat, &lon) == 0) {
			json_object_object_add(o, "latitude",
			    json_object_new_double(lat));
			json_object_object_add(o, "longitude",
			    json_object_new_double(lon));
			*method = "sendLocation";
			return (tg_json_finish(o));
		}
	} else if (a->url != NULL && *a->url != '\0') {
		if (strcmp(type, "image") == 0) {
			*method = "sendPhoto";
			field = "photo";
		} else if (strcmp(type, "audio") == 0) {
			*method = "sendVoice";
			field = "voice";
		} else if (strcmp(type, "video") == 0) {
			*method = "sendVideo";
			field = "video";
		} else if (strcmp(type, "sticker") == 0) {
			*method = "sendSticker";
			field = "sticker";
		} else {
			*method = "sendDocument";
			field = "document";
		}
		json_object_object_add(o, field,
		    json_object_new_string(a->url));
		return (tg_json_finish(o));
	}
	if (a->name != NULL && *a->name != '\0')
		text = a->name;
	else if (a->url != NULL && *a->url != '\0')
		text = a->url;
	else
		text = type;
	json_object_object_add(o, "text", json_object_new_string(text));
	*method = "sendMessage";
	return (tg_json_finish(o));
}

/* The JSON body of answerCallbackQuery.  Caller frees. */
char *
tg_answer_callback_body(const char *callback_id)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "callback_query_id",
	    tg_json_string(callback_id));
	return (tg_json_finish(o));
}

/* A JSON array of n update type names. */
static struct json_object *
tg_types(const char *const *types, size_t n)
{
	struct json_object	*a;
	size_t			 i;

	a = json_object_new_array();
	for (i = 0; i < n; i++) {
		if (types[i] != NULL)
			json_object_array_add(a,
			    json_object_new_string(types[i]));
	}
	return (a);
}

/* The JSON body of getUpdates (see telegram.h).  Caller frees. */
char *
tg_get_updates_body(int64_t offset, int timeout, const char *const *types,
    size_t ntypes)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "offset", json_object_new_int64(offset));
	json_object_object_add(o, "timeout",
	    json_object_new_int(timeout > 0 ? timeout : 0));
	if (types != NULL && ntypes != 0)
		json_object_object_add(o, "allowed_updates",
		    tg_types(types, ntypes));
	return (tg_json_finish(o));
}

/*
 * The JSON body of setWebhook (see telegram.h).  An empty list is sent
 * as [] (Telegram's default set) rather than left out, which would keep
 * whatever an earlier setWebhook chose.  Caller frees.
 */
char *
tg_set_webhook_body(const char *url, const char *secret,
    const char *const *types, size_t ntypes, int max_connections)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "url", tg_json_string(url));
	if (secret != NULL && *secret != '\0')
		json_object_object_add(o, "secret_token",
		    json_object_new_string(secret));
	json_object_object_add(o, "allowed_updates",
	    tg_types(types, types != NULL ? ntypes : 0));
	if (max_connections > 0)
		json_object_object_add(o, "max_connections",
		    json_object_new_int(max_connections));
	json_object_object_add(o, "drop_pending_updates",
	    json_object_new_boolean(0));
	return (tg_json_finish(o));
}

/* Parse a decimal int64 id ("-1001234567890"): 0, or -1 if not one. */
int
tg_parse_id(const char *s, int64_t *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || (*s != '-' && !isdigit((unsigned char)*s)))
		return (-1);
	if (*s == '-' && !isdigit((unsigned char)s[1]))
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*out = (int64_t)v;
	return (0);
}
