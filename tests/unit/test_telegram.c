/*
 * Tests for the Telegram Bot API wire format (channels/telegram_wire.c).
 * Updates and API responses come from tests/data/telegram: the shapes of
 * the Bot API documentation, with ids beyond 32 bits and non-ASCII text
 * written as Telegram writes it (\u escapes, surrogate pairs).  Small
 * variations (a broken update, a tie between photo sizes) are inline.
 * Outbound bodies are parsed back with json-c and checked field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "message.h"
#include "telegram.h"
#include "util.h"
#include "xmalloc.h"

#define BOT_ID		INT64_C(7012345678)
#define USER_ID		INT64_C(8679559480)
#define SUPERGROUP_ID	INT64_C(-1001234567890)
#define GROUP_ID	INT64_C(-987654321)

static const struct tg_bot bot = { BOT_ID, "kefu_support_bot" };

/* The source tree, for data files. */
static const char *
top(void)
{
	const char	*t = getenv("top_srcdir");

	return (t != NULL ? t : ".");
}

/* The text of a fixture in tests/data/telegram; the caller frees. */
static char *
fixture(const char *name)
{
	char	*path, *text, *cause = NULL;

	path = xasprintf("%s/tests/data/telegram/%s", top(), name);
	text = file_read(path, 1024 * 1024, &cause);
	if (text == NULL)
		fail_msg("%s", cause);
	free(path);
	return (text);
}

/* Parse a fixture as an update; it must parse. */
static void
load(const char *name, const struct tg_bot *b, struct tg_update *u)
{
	char	*text, *cause = NULL;

	text = fixture(name);
	if (tg_update_parse(text, strlen(text), b, u, &cause) != 0)
		fail_msg("%s: %s", name, cause);
	free(text);
}

/* Parse inline JSON as an update: returns what tg_update_parse does. */
static int
parse(const char *json, const struct tg_bot *b, struct tg_update *u,
    char **cause)
{
	return (tg_update_parse(json, strlen(json), b, u, cause));
}

/* Whether an update is all zero but update_id (what a failure leaves). */
static int
is_zero_but_id(const struct tg_update *u, int64_t id)
{
	struct tg_update	zero;

	memset(&zero, 0, sizeof zero);
	zero.update_id = id;
	return (memcmp(u, &zero, sizeof zero) == 0);
}

/* Whether an update is all zero. */
static int
is_zero(const struct tg_update *u)
{
	return (is_zero_but_id(u, 0));
}

/* Whether len bytes are valid UTF-8 (no overlong forms or surrogates). */
static int
valid_utf8(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	uint32_t		 cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			n = 2;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			n = 3;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			n = 4;
		else
			return (0);
		if (i + n > len)
			return (0);
		cp = p[i] & (0xff >> (n + 1));
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return (0);
		i += n;
	}
	return (1);
}

/* --- updates --------------------------------------------------------- */

/* A private text message, with a user id beyond 32 bits. */
static void
test_private_text(void **state)
{
	struct tg_update	u;

	(void)state;
	load("private_text.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_string_equal(u.type, "message");
	assert_true(u.update_id == 873014562);
	assert_true(u.chat_id == USER_ID);
	assert_true(u.from_id == USER_ID);
	assert_string_equal(u.chat_type, "private");
	assert_string_equal(u.from_name, "Anna Kowalska");
	assert_string_equal(u.from_lang, "pl");
	assert_int_equal(u.from_is_bot, 0);
	assert_true(u.message_id == 1024);
	assert_true(u.date == 1718031234);
	assert_true(u.edit_date == 0);
	assert_string_equal(u.text, "Hello, where is my order #10234?");
	assert_int_equal(u.nattachments, 0);
	assert_null(u.callback_id);
	assert_null(u.member_status);
	tg_update_clear(&u);
	assert_true(is_zero(&u));
}

/* An emoji before a mention: the offset is in UTF-16 units, not bytes. */
static void
test_emoji_mention(void **state)
{
	struct tg_update	u;
	struct tg_bot		other = { 99, "kefu_support" };

	(void)state;
	load("group_emoji_mention.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_string_equal(u.chat_type, "group");
	assert_true(u.chat_id == GROUP_ID);
	assert_string_equal(u.from_name, "Li Wei");
	assert_memory_equal(u.text, "\xf0\x9f\x98\x80 hi @Kefu_Support_Bot",
	    24);
	assert_int_equal(u.mentions_bot, 1);	/* case-insensitive */
	assert_int_equal(u.replies_to_bot, 0);
	tg_update_clear(&u);

	/* A prefix of the name is not the name. */
	load("group_emoji_mention.json", &other, &u);
	assert_int_equal(u.mentions_bot, 0);
	tg_update_clear(&u);

	/* Without a bot nothing can be addressed to it. */
	load("group_emoji_mention.json", NULL, &u);
	assert_int_equal(u.mentions_bot, 0);
	tg_update_clear(&u);
}

/* json-c joins \ud83d\ude00 into one 4-byte UTF-8 character. */
static void
test_surrogate_pairs(void **state)
{
	struct tg_update	u;
	const char		*want = "Thanks \xf0\x9f\x98\x80 "
				    "\xe4\xbd\xa0\xe5\xa5\xbd \xc3\xa9";

	(void)state;
	load("private_surrogates.json", &bot, &u);
	assert_string_equal(u.text, want);
	assert_int_equal(strlen(u.text), 21);
	assert_int_equal(tg_utf16_length(u.text, strlen(u.text)), 14);
	assert_string_equal(u.from_name, "Anna");
	tg_update_clear(&u);
}

/* A lone surrogate escape becomes U+FFFD: still valid UTF-8. */
static void
test_lone_surrogate(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3,\"type\":\"private\"},\"text\":"
	    "\"a\\ud83d b \\ude00c\"}}", &bot, &u, &cause), 0);
	assert_string_equal(u.text, "a\xef\xbf\xbd b \xef\xbf\xbd" "c");
	assert_true(valid_utf8(u.text, strlen(u.text)));
	tg_update_clear(&u);

	/* A high surrogate followed by another escape that is not a low. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"text\":\"\\ud83d\\u0041\"}}", &bot, &u,
	    &cause), 0);
	assert_true(valid_utf8(u.text, strlen(u.text)));
	assert_string_equal(u.text, "\xef\xbf\xbd" "A");
	tg_update_clear(&u);
}

/* Raw invalid UTF-8 and NUL characters are refused with a cause. */
static void
test_bad_text(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"text\":\"a\xff" "b\"}}", &bot, &u,
	    &cause), -1);
	assert_non_null(strstr(cause, "message.text"));
	assert_non_null(strstr(cause, "UTF-8"));
	assert_true(is_zero_but_id(&u, 1));
	free(cause);
	cause = NULL;

	/* An encoded surrogate (CESU-8) is not UTF-8 either. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"text\":\"\xed\xa0\xbd\"}}", &bot, &u,
	    &cause), -1);
	free(cause);
	cause = NULL;

	/* \u0000 would cut the C string short. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"text\":\"a\\u0000b\"}}", &bot, &u,
	    &cause), -1);
	assert_non_null(strstr(cause, "message.text"));
	assert_true(is_zero_but_id(&u, 1));
	free(cause);
	cause = NULL;

	/* Also in a name. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"from\":{\"id\":4,\"first_name\":"
	    "\"\xc0\xaf\"},\"text\":\"x\"}}", &bot, &u, &cause), -1);
	assert_non_null(strstr(cause, "message.from.first_name"));
	free(cause);
}

/* An edited message. */
static void
test_edited(void **state)
{
	struct tg_update	u;

	(void)state;
	load("edited_message.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_EDITED);
	assert_string_equal(u.type, "edited_message");
	assert_true(u.message_id == 1024);
	assert_true(u.date == 1718031234);
	assert_true(u.edit_date == 1718031290);
	assert_string_equal(u.text, "Hello, where is my order #10235?");
	assert_true(u.chat_id == USER_ID);
	tg_update_clear(&u);
}

/* A button press: the user, not the bot that wrote the message. */
static void
test_callback(void **state)
{
	struct tg_update	u;

	(void)state;
	load("callback_query.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_CALLBACK);
	assert_string_equal(u.type, "callback_query");
	assert_string_equal(u.callback_id, "3727734389287645123");
	assert_string_equal(u.callback_data, "5");
	assert_true(u.from_id == USER_ID);
	assert_int_equal(u.from_is_bot, 0);
	assert_string_equal(u.from_name, "Anna Kowalska");
	assert_string_equal(u.from_lang, "pl");
	assert_true(u.chat_id == USER_ID);
	assert_string_equal(u.chat_type, "private");
	assert_true(u.message_id == 1031);
	assert_null(u.text);		/* the bot's own text */
	assert_int_equal(u.nattachments, 0);
	tg_update_clear(&u);
}

/* A button press on an inline message: no chat, no message id. */
static void
test_callback_inline(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(parse("{\"update_id\":9,\"callback_query\":{\"id\":"
	    "\"77\",\"from\":{\"id\":5,\"is_bot\":false,\"username\":\"zed\"},"
	    "\"inline_message_id\":\"AAAA\",\"chat_instance\":\"-1\"}}", &bot,
	    &u, &cause), 0);
	assert_int_equal(u.kind, TG_UPDATE_CALLBACK);
	assert_string_equal(u.callback_id, "77");
	assert_null(u.callback_data);
	assert_true(u.chat_id == 0);
	assert_true(u.message_id == 0);
	assert_string_equal(u.from_name, "@zed");
	tg_update_clear(&u);
}

/* A photo with a caption: the largest size, whatever its place. */
static void
test_photo(void **state)
{
	struct tg_update	 u;
	struct attachment	*a;

	(void)state;
	load("photo_caption.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_string_equal(u.text,
	    "The parcel arrived like this \xf0\x9f\x98\x9e");
	assert_int_equal(u.nattachments, 1);
	a = &u.attachments[0];
	assert_string_equal(a->type, "image");
	assert_string_equal(a->url, "AgACAgIAAxkBAAIBQmZmAAH1aaaaaaaaaaaaaaaa"
	    "aaaaAAJ5yzEbAAFmAAFLAQADAgADeQADNQQ");
	assert_string_equal(a->mime, "image/jpeg");
	assert_null(a->name);
	assert_true(a->size == 126880);
	tg_update_clear(&u);
}

/* Two sizes of the same area: the bigger file wins; no size is -1. */
static void
test_photo_tie(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"photo\":[{\"file_id\":\"big\","
	    "\"width\":100,\"height\":100,\"file_size\":20},{\"file_id\":"
	    "\"small\",\"width\":100,\"height\":100,\"file_size\":10},"
	    "{\"file_id\":\"smaller\",\"width\":10,\"height\":10}]}}", &bot,
	    &u, &cause), 0);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_null(u.text);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].url, "big");
	tg_update_clear(&u);

	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"photo\":[{\"file_id\":\"only\","
	    "\"width\":10,\"height\":10}]}}", &bot, &u, &cause), 0);
	assert_true(u.attachments[0].size == -1);
	tg_update_clear(&u);
}

/* A document keeps its name and type. */
static void
test_document(void **state)
{
	struct tg_update	 u;
	struct attachment	*a;

	(void)state;
	load("document.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_null(u.text);
	assert_int_equal(u.nattachments, 1);
	a = &u.attachments[0];
	assert_string_equal(a->type, "file");
	assert_string_equal(a->name, "invoice-10234.pdf");
	assert_string_equal(a->mime, "application/pdf");
	assert_true(a->size == 48213);
	assert_true(strncmp(a->url, "BQACAgIAAxkBAAIBRGZmAAGq", 24) == 0);
	tg_update_clear(&u);
}

/* A voice note is audio. */
static void
test_voice(void **state)
{
	struct tg_update	u;

	(void)state;
	load("voice.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].type, "audio");
	assert_string_equal(u.attachments[0].mime, "audio/ogg");
	assert_true(u.attachments[0].size == 10377);
	assert_null(u.attachments[0].name);
	tg_update_clear(&u);
}

/* A sticker is named by its emoji; its thumbnail is not an attachment. */
static void
test_sticker(void **state)
{
	struct tg_update	u;

	(void)state;
	load("sticker.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].type, "sticker");
	assert_string_equal(u.attachments[0].name, "\xf0\x9f\x91\x8d");
	assert_string_equal(u.attachments[0].mime,
	    "application/x-tgsticker");
	assert_string_equal(u.attachments[0].url, "CAACAgIAAxkBAAIBRmZmAAHM3"
	    "eeeeeeeeeeeeeeeeeeeeAAJNAAOtZbwUZ0fPMqXZ_GgNBA");
	tg_update_clear(&u);
}

/* A location becomes a geo: URL. */
static void
test_location(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	load("location.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].type, "location");
	assert_string_equal(u.attachments[0].url, "geo:52.229676,21.012229");
	assert_true(u.attachments[0].size == -1);
	tg_update_clear(&u);

	/* A venue carries its location too; integer degrees are fine. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"venue\":{\"location\":{\"latitude\":-33,"
	    "\"longitude\":151.2093},\"title\":\"Shop\",\"address\":\"1 Main"
	    " St\"},\"location\":{\"latitude\":-33,\"longitude\":151.2093}}}",
	    &bot, &u, &cause), 0);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].url,
	    "geo:-33.000000,151.209300");
	tg_update_clear(&u);
}

/* Audio, video, video notes and animations; a GIF is taken once. */
static void
test_other_media(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"audio\":{\"file_id\":\"au\",\"title\":"
	    "\"Song\",\"mime_type\":\"audio/mpeg\",\"file_size\":5}}}", &bot,
	    &u, &cause), 0);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].type, "audio");
	assert_string_equal(u.attachments[0].name, "Song");
	assert_string_equal(u.attachments[0].mime, "audio/mpeg");
	tg_update_clear(&u);

	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"animation\":{\"file_id\":\"gif\","
	    "\"file_name\":\"a.mp4\",\"mime_type\":\"video/mp4\"},"
	    "\"document\":{\"file_id\":\"gif\",\"file_name\":\"a.mp4\","
	    "\"mime_type\":\"video/mp4\"}}}", &bot, &u, &cause), 0);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].type, "video");
	assert_string_equal(u.attachments[0].name, "a.mp4");
	tg_update_clear(&u);

	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"video_note\":{\"file_id\":\"vn\","
	    "\"length\":240,\"duration\":3}}}", &bot, &u, &cause), 0);
	assert_int_equal(u.nattachments, 1);
	assert_string_equal(u.attachments[0].type, "video");
	tg_update_clear(&u);

	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"video\":{\"file_id\":\"v\",\"mime_type\":"
	    "\"video/mp4\",\"file_size\":99},\"caption\":\"look\"}}", &bot,
	    &u, &cause), 0);
	assert_string_equal(u.text, "look");
	assert_string_equal(u.attachments[0].type, "video");
	assert_true(u.attachments[0].size == 99);
	tg_update_clear(&u);

	/* A contact is not carried: ignored. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"contact\":{\"phone_number\":\"+48123\","
	    "\"first_name\":\"A\"}}}", &bot, &u, &cause), 0);
	assert_int_equal(u.kind, TG_UPDATE_IGNORED);
	assert_int_equal(u.nattachments, 0);
	tg_update_clear(&u);
}

/* my_chat_member in a private chat: blocked, then unblocked. */
static void
test_member(void **state)
{
	struct tg_update	u;

	(void)state;
	load("member_kicked.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MEMBER);
	assert_string_equal(u.type, "my_chat_member");
	assert_string_equal(u.member_status, "kicked");
	assert_string_equal(u.chat_type, "private");
	assert_true(u.chat_id == USER_ID);
	assert_true(u.from_id == USER_ID);
	assert_true(u.date == 1718032100);
	tg_update_clear(&u);

	load("member_member.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MEMBER);
	assert_string_equal(u.member_status, "member");
	tg_update_clear(&u);
}

/* A group message that starts with @username. */
static void
test_group_mention(void **state)
{
	struct tg_update	u;

	(void)state;
	load("group_mention.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_int_equal(u.mentions_bot, 1);
	assert_int_equal(u.replies_to_bot, 0);
	tg_update_clear(&u);

	/* A bot username given with its @ works the same. */
	load("group_mention.json", &(struct tg_bot){ BOT_ID,
	    "@kefu_support_bot" }, &u);
	assert_int_equal(u.mentions_bot, 1);
	tg_update_clear(&u);
}

/* /start@username in a supergroup whose id needs 64 bits. */
static void
test_supergroup_command(void **state)
{
	struct tg_update	u;

	(void)state;
	load("supergroup_command.json", &bot, &u);
	assert_true(u.chat_id == SUPERGROUP_ID);
	assert_string_equal(u.chat_type, "supergroup");
	assert_int_equal(u.mentions_bot, 1);
	tg_update_clear(&u);

	load("supergroup_command.json", &(struct tg_bot){ 1, "support_bot" },
	    &u);
	assert_int_equal(u.mentions_bot, 0);
	tg_update_clear(&u);
}

/* A reply to one of the bot's messages. */
static void
test_supergroup_reply(void **state)
{
	struct tg_update	u;

	(void)state;
	load("supergroup_reply.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_int_equal(u.replies_to_bot, 1);
	assert_int_equal(u.mentions_bot, 0);
	assert_true(u.message_id == 3314);	/* not the replied-to one */
	assert_string_equal(u.text, "\xe8\xb0\xa2\xe8\xb0\xa2\xef\xbc\x81"
	    "\xe9\x82\xa3\xe9\x80\x80\xe8\xb4\xa7\xe5\x91\xa2\xef\xbc\x9f");
	tg_update_clear(&u);

	load("supergroup_reply.json", NULL, &u);
	assert_int_equal(u.replies_to_bot, 0);
	tg_update_clear(&u);
}

/* A group message for someone else: another bot, a bare command. */
static void
test_supergroup_nobody(void **state)
{
	struct tg_update	u;

	(void)state;
	load("supergroup_nobody.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_int_equal(u.mentions_bot, 0);
	assert_int_equal(u.replies_to_bot, 0);
	tg_update_clear(&u);

	/* The same entities do address the other bot. */
	load("supergroup_nobody.json", &(struct tg_bot){ 5,
	    "other_shop_bot" }, &u);
	assert_int_equal(u.mentions_bot, 1);
	tg_update_clear(&u);
}

/* A text_mention names the bot by id; caption entities for captions. */
static void
test_text_mention_caption(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":-3,\"type\":\"group\"},\"text\":\"hey Kefu\","
	    "\"entities\":[{\"type\":\"text_mention\",\"offset\":4,\"length\":"
	    "4,\"user\":{\"id\":7012345678,\"is_bot\":true,\"first_name\":"
	    "\"Kefu\"}}]}}", &bot, &u, &cause), 0);
	assert_int_equal(u.mentions_bot, 1);
	tg_update_clear(&u);

	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":-3,\"type\":\"group\"},\"photo\":[{\"file_id\":"
	    "\"p\",\"width\":1,\"height\":1}],\"caption\":\"\\u00e9 "
	    "@kefu_support_bot\",\"caption_entities\":[{\"type\":\"mention\","
	    "\"offset\":2,\"length\":17}]}}", &bot, &u, &cause), 0);
	assert_int_equal(u.mentions_bot, 1);
	tg_update_clear(&u);

	/* Text entities do not apply to a caption. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":-3,\"type\":\"group\"},\"photo\":[{\"file_id\":"
	    "\"p\",\"width\":1,\"height\":1}],\"caption\":\"@kefu_support_bot"
	    "\",\"entities\":[{\"type\":\"mention\",\"offset\":0,\"length\":"
	    "17}]}}", &bot, &u, &cause), 0);
	assert_int_equal(u.mentions_bot, 0);
	tg_update_clear(&u);
}

/* Entities that point outside the text or into a pair are harmless. */
static void
test_bad_entities(void **state)
{
	static const char	*entities[] = {
		"{\"type\":\"mention\",\"offset\":1,\"length\":17}",
		"{\"type\":\"mention\",\"offset\":2,\"length\":99}",
		"{\"type\":\"mention\",\"offset\":-1,\"length\":18}",
		("{\"type\":\"mention\",\"offset\":9223372036854775807,"
		    "\"length\":9223372036854775807}"),
		"{\"type\":\"mention\",\"offset\":\"2\",\"length\":17}",
		"{\"type\":7,\"offset\":2,\"length\":17}",
		"\"mention\"",
	};
	struct tg_update	 u;
	char			*json, *cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof entities / sizeof entities[0]; i++) {
		json = xasprintf("{\"update_id\":1,\"message\":{\"message_id\":"
		    "2,\"chat\":{\"id\":-3,\"type\":\"group\"},\"text\":"
		    "\"\\ud83d\\ude00@kefu_support_bot\",\"entities\":[%s]}}",
		    entities[i]);
		assert_int_equal(parse(json, &bot, &u, &cause), 0);
		assert_int_equal(u.mentions_bot, 0);
		tg_update_clear(&u);
		free(json);
	}
	/* The right one, to show the text would match. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":-3},\"text\":\"\\ud83d\\ude00@kefu_support_bot"
	    "\",\"entities\":[{\"type\":\"mention\",\"offset\":2,\"length\":"
	    "17}]}}", &bot, &u, &cause), 0);
	assert_int_equal(u.mentions_bot, 1);
	tg_update_clear(&u);
}

/* The service message in the old group: migrate. */
static void
test_migrate(void **state)
{
	struct tg_update	u;

	(void)state;
	load("migrate_to.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_MIGRATE);
	assert_true(u.chat_id == GROUP_ID);
	assert_true(u.migrate_to_chat_id == SUPERGROUP_ID);
	assert_null(u.text);
	tg_update_clear(&u);

	/* Its twin in the new supergroup is ignored. */
	load("migrate_from.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_IGNORED);
	assert_true(u.chat_id == SUPERGROUP_ID);
	assert_true(u.migrate_to_chat_id == 0);
	tg_update_clear(&u);
}

/* Service messages and channel posts are ignored. */
static void
test_ignored(void **state)
{
	struct tg_update	u;

	(void)state;
	load("new_chat_members.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_IGNORED);
	assert_string_equal(u.type, "message");
	assert_true(u.chat_id == SUPERGROUP_ID);
	tg_update_clear(&u);

	load("channel_post.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_IGNORED);
	assert_string_equal(u.type, "channel_post");
	assert_true(u.chat_id == INT64_C(-1009876543210));
	assert_null(u.text);
	tg_update_clear(&u);
}

/* Types kefu does not know are not errors. */
static void
test_unknown(void **state)
{
	struct tg_update	u;
	char			*cause = NULL;

	(void)state;
	load("message_reaction.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_UNKNOWN);
	assert_string_equal(u.type, "message_reaction");
	assert_true(u.update_id == 873014582);
	tg_update_clear(&u);

	load("poll.json", &bot, &u);
	assert_int_equal(u.kind, TG_UPDATE_UNKNOWN);
	assert_string_equal(u.type, "poll");
	tg_update_clear(&u);

	assert_int_equal(parse("{\"update_id\":5}", &bot, &u, &cause), 0);
	assert_int_equal(u.kind, TG_UPDATE_UNKNOWN);
	assert_non_null(u.type);
	tg_update_clear(&u);
}

/* What is not an Update is an error with a cause, leaving u zeroed. */
static void
test_not_updates(void **state)
{
	static const char	*bad[] = {
		"",
		"not json",
		"{\"update_id\":1,\"message\":",
		"{\"update_id\":1} trailing",
		"[1,2]",
		"{\"message\":{\"message_id\":1,\"chat\":{\"id\":1}}}",
		"{\"update_id\":\"1\",\"message\":{}}",
		"{\"update_id\":1.5}",
		"{\"update_id\":1,\"message\":[]}",
		"{\"update_id\":1,\"message\":{\"chat\":{\"id\":1}}}",
		"{\"update_id\":1,\"message\":{\"message_id\":1}}",
		"{\"update_id\":1,\"message\":{\"message_id\":1,\"chat\":"
		    "{\"id\":\"1\"}}}",
		"{\"update_id\":1,\"edited_message\":{\"message_id\":1}}",
		"{\"update_id\":1,\"callback_query\":{\"data\":\"x\"}}",
		"{\"update_id\":1,\"callback_query\":\"x\"}",
		"{\"update_id\":1,\"my_chat_member\":{\"new_chat_member\":"
		    "{\"status\":\"kicked\"}}}",
		"{\"update_id\":1,\"message\":{\"message_id\":1,\"chat\":"
		    "{\"id\":1},\"from\":{\"first_name\":\"no id\"},"
		    "\"text\":\"x\"}}",
	};
	struct tg_update	 u;
	struct json_object	*o;
	char			*cause;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		memset(&u, 0xa5, sizeof u);
		if (parse(bad[i], &bot, &u, &cause) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(cause);
		/* Nothing is left but the update_id, when there was one. */
		assert_true(u.update_id == 0 || u.update_id == 1);
		assert_true(is_zero_but_id(&u, u.update_id));
		free(cause);
	}

	/* A poller can step over an update it cannot read. */
	cause = NULL;
	assert_int_equal(parse("{\"update_id\":873014599,\"message\":"
	    "{\"message_id\":1,\"chat\":{\"id\":1},\"text\":\"\xff\"}}",
	    &bot, &u, &cause), -1);
	assert_true(u.update_id == 873014599);
	assert_true(is_zero_but_id(&u, 873014599));
	free(cause);

	/* tg_update_from_json on a non-object. */
	cause = NULL;
	o = json_object_new_int(3);
	assert_int_equal(tg_update_from_json(o, &bot, &u, &cause), -1);
	assert_non_null(cause);
	free(cause);
	json_object_put(o);
	cause = NULL;
	assert_int_equal(tg_update_from_json(NULL, &bot, &u, &cause), -1);
	free(cause);
}

/* from_name: "First Last", else @username, else NULL. */
static void
test_from_name(void **state)
{
	static const struct {
		const char	*from;
		const char	*want;
	} cases[] = {
		{ "\"first_name\":\"Anna\",\"last_name\":\"K\"", "Anna K" },
		{ "\"first_name\":\" Anna \"", "Anna" },
		{ "\"last_name\":\"Kowalska\"", "Kowalska" },
		{ "\"first_name\":\"\",\"username\":\"ak\"", "@ak" },
		{ "\"username\":\"ak\"", "@ak" },
		{ "\"first_name\":\"\\u674e\",\"last_name\":\"\\u4f1f\"",
		    "\xe6\x9d\x8e \xe4\xbc\x9f" },
		{ "\"is_bot\":false", NULL },
	};
	struct tg_update	 u;
	char			*json, *cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json = xasprintf("{\"update_id\":1,\"message\":{\"message_id\":"
		    "2,\"chat\":{\"id\":3},\"from\":{\"id\":4,%s},\"text\":"
		    "\"x\"}}", cases[i].from);
		assert_int_equal(parse(json, &bot, &u, &cause), 0);
		if (cases[i].want == NULL)
			assert_null(u.from_name);
		else
			assert_string_equal(u.from_name, cases[i].want);
		tg_update_clear(&u);
		free(json);
	}

	/* A bot in a group says it is one. */
	assert_int_equal(parse("{\"update_id\":1,\"message\":{\"message_id\":"
	    "2,\"chat\":{\"id\":3},\"from\":{\"id\":4,\"is_bot\":true},"
	    "\"text\":\"x\"}}", &bot, &u, &cause), 0);
	assert_int_equal(u.from_is_bot, 1);
	tg_update_clear(&u);
}

/* --- responses ------------------------------------------------------- */

/* A getUpdates answer; each result is an Update. */
static void
test_resp_updates(void **state)
{
	struct tg_response	 r;
	struct tg_update	 u;
	char			*body, *cause = NULL;

	(void)state;
	body = fixture("resp_getupdates.json");
	assert_int_equal(tg_response_parse(body, strlen(body), 200, &r,
	    &cause), 0);
	assert_int_equal(r.ok, 1);
	assert_int_equal(r.error_code, 0);
	assert_null(r.description);
	assert_non_null(r.result);
	assert_true(json_object_is_type(r.result, json_type_array));
	assert_int_equal(json_object_array_length(r.result), 2);
	assert_int_equal(tg_update_from_json(json_object_array_get_idx(
	    r.result, 0), &bot, &u, &cause), 0);
	assert_int_equal(u.kind, TG_UPDATE_MESSAGE);
	assert_true(u.chat_id == USER_ID);
	tg_update_clear(&u);
	assert_int_equal(tg_update_from_json(json_object_array_get_idx(
	    r.result, 1), &bot, &u, &cause), 0);
	assert_int_equal(u.kind, TG_UPDATE_CALLBACK);
	assert_true(u.update_id == 873014566);
	tg_update_clear(&u);
	tg_response_clear(&r);
	assert_null(r.root);
	free(body);

	/* The result outlives the body it came from. */
	body = fixture("resp_getme.json");
	assert_int_equal(tg_response_parse(body, strlen(body), 200, &r,
	    &cause), 0);
	free(body);
	assert_true(json_object_get_int64(json_object_object_get(r.result,
	    "id")) == BOT_ID);
	assert_string_equal(json_object_get_string(json_object_object_get(
	    r.result, "username")), "kefu_support_bot");
	tg_response_clear(&r);
}

/* The errors kefu acts on, read from Telegram's own answers. */
static void
test_resp_errors(void **state)
{
	static const struct {
		const char	*file;
		long		 status;
		int		 code;
		const char	*description;
		int64_t		 retry_after;
		int64_t		 migrate;
	} cases[] = {
		{ "resp_429.json", 429, 429,
		  "Too Many Requests: retry after 35", 35, 0 },
		{ "resp_400_migrate.json", 400, 400,
		  "Bad Request: group chat was upgraded to a supergroup chat",
		  0, SUPERGROUP_ID },
		{ "resp_403_blocked.json", 403, 403,
		  "Forbidden: bot was blocked by the user", 0, 0 },
		{ "resp_409_conflict.json", 409, 409,
		  "Conflict: can't use getUpdates method while webhook is "
		  "active; use deleteWebhook to delete the webhook first",
		  0, 0 },
		{ "resp_401.json", 401, 401, "Unauthorized", 0, 0 },
	};
	struct tg_response	 r;
	char			*body, *cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		body = fixture(cases[i].file);
		assert_int_equal(tg_response_parse(body, strlen(body),
		    cases[i].status, &r, &cause), 0);
		assert_int_equal(r.ok, 0);
		assert_int_equal(r.error_code, cases[i].code);
		assert_string_equal(r.description, cases[i].description);
		assert_true(r.retry_after == cases[i].retry_after);
		assert_true(r.migrate_to_chat_id == cases[i].migrate);
		assert_null(r.result);
		tg_response_clear(&r);
		free(body);
	}
}

/* A proxy's error page is not JSON: the HTTP status stands in. */
static void
test_resp_not_json(void **state)
{
	struct tg_response	 r;
	char			*body, *cause = NULL;

	(void)state;
	body = fixture("resp_502.html");
	assert_int_equal(tg_response_parse(body, strlen(body), 502, &r,
	    &cause), 0);
	assert_int_equal(r.ok, 0);
	assert_int_equal(r.error_code, 502);
	assert_string_equal(r.description, "response is not JSON (HTTP 502)");
	assert_null(r.result);
	assert_null(r.root);
	tg_response_clear(&r);
	free(body);

	assert_int_equal(tg_response_parse("", 0, 504, &r, &cause), 0);
	assert_int_equal(r.error_code, 504);
	tg_response_clear(&r);
	assert_int_equal(tg_response_parse(NULL, 0, 200, &r, &cause), 0);
	assert_int_equal(r.ok, 0);
	assert_int_equal(r.error_code, 200);
	tg_response_clear(&r);
	/* Cut short. */
	assert_int_equal(tg_response_parse("{\"ok\":true,\"res", 15, 200, &r,
	    &cause), 0);
	assert_int_equal(r.ok, 0);
	tg_response_clear(&r);
}

/* Odd but readable answers, and JSON that is no Bot API answer. */
static void
test_resp_odd(void **state)
{
	struct tg_response	 r;
	char			*body, *cause = NULL;

	(void)state;
	/* ok:false without error_code: the HTTP status. */
	body = xstrdup("{\"ok\":false,\"description\":\"Bad Gateway\"}");
	assert_int_equal(tg_response_parse(body, strlen(body), 502, &r,
	    &cause), 0);
	assert_int_equal(r.ok, 0);
	assert_int_equal(r.error_code, 502);
	assert_string_equal(r.description, "Bad Gateway");
	tg_response_clear(&r);
	free(body);

	/* sendMessage's answer: the message, with its id. */
	body = fixture("resp_sendmessage.json");
	assert_int_equal(tg_response_parse(body, strlen(body), 200, &r,
	    &cause), 0);
	assert_int_equal(r.ok, 1);
	assert_true(json_object_get_int64(json_object_object_get(r.result,
	    "message_id")) == 1032);
	tg_response_clear(&r);
	free(body);

	/* ok:true with no result (setWebhook says "Webhook was set"). */
	body = xstrdup("{\"ok\":true,\"result\":true,\"description\":"
	    "\"Webhook was set\"}");
	assert_int_equal(tg_response_parse(body, strlen(body), 200, &r,
	    &cause), 0);
	assert_int_equal(r.ok, 1);
	assert_true(json_object_get_boolean(r.result));
	assert_string_equal(r.description, "Webhook was set");
	tg_response_clear(&r);
	free(body);

	/* JSON, but not an answer of the Bot API. */
	assert_int_equal(tg_response_parse("[1]", 3, 200, &r, &cause), -1);
	assert_non_null(strstr(cause, "HTTP 200"));
	free(cause);
	cause = NULL;
	body = xstrdup("{\"error\":\"nope\"}");
	assert_int_equal(tg_response_parse(body, strlen(body), 500, &r,
	    &cause), -1);
	assert_null(r.root);
	free(cause);
	free(body);
}

/* --- text ------------------------------------------------------------ */

/* UTF-16 length: a character above U+FFFF counts twice. */
static void
test_utf16_length(void **state)
{
	(void)state;
	assert_int_equal(tg_utf16_length("abc", 3), 3);
	assert_int_equal(tg_utf16_length("\xc3\xa9", 2), 1);
	assert_int_equal(tg_utf16_length("\xe4\xbd\xa0", 3), 1);
	assert_int_equal(tg_utf16_length("\xf0\x9f\x98\x80", 4), 2);
	assert_int_equal(tg_utf16_length("a\xf0\x9f\x98\x80" "b", 6), 4);
	assert_int_equal(tg_utf16_length("\xff\xfe", 2), 2);
	assert_int_equal(tg_utf16_length("\xf0\x9f", 2), 2);	/* cut */
	assert_int_equal(tg_utf16_length("", 0), 0);
	assert_int_equal(tg_utf16_length(NULL, 5), 0);
}

/*
 * Check a split: every part fits and is valid UTF-8, no part is empty
 * unless the text is, and the parts with the white space between them
 * give back the text.
 */
static void
check_split(const char *text, char **parts, size_t n, size_t max)
{
	size_t	i, at = 0, len, tlen = strlen(text);

	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		len = strlen(parts[i]);
		if (tg_utf16_length(parts[i], len) > max)
			fail_msg("part %zu is %zu units", i,
			    tg_utf16_length(parts[i], len));
		assert_true(valid_utf8(parts[i], len));
		if (len == 0)
			assert_int_equal(n, 1);	/* only for a blank text */
		if (strncmp(text + at, parts[i], len) != 0) {
			while (at < tlen && strchr(" \t\r\n", text[at]) != NULL)
				at++;
		}
		if (strncmp(text + at, parts[i], len) != 0)
			fail_msg("part %zu is not at byte %zu", i, at);
		at += len;
	}
	while (at < tlen && strchr(" \t\r\n", text[at]) != NULL)
		at++;
	assert_int_equal(at, tlen);
}

/* Free parts. */
static void
free_parts(char **parts, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
}

/* Short and empty texts are one part. */
static void
test_split_short(void **state)
{
	char	**parts;
	size_t	  n;

	(void)state;
	n = tg_split_text("hello", TG_TEXT_MAX, &parts);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "hello");
	free_parts(parts, n);

	n = tg_split_text("", TG_TEXT_MAX, &parts);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "");
	free_parts(parts, n);

	n = tg_split_text(NULL, TG_TEXT_MAX, &parts);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "");
	free_parts(parts, n);
}

/* 10,000 characters of paragraphs split at paragraph breaks. */
static void
test_split_paragraphs(void **state)
{
	struct dbuf	  b = { 0 };
	char		**parts, line[128];
	size_t		  n, i, j;

	(void)state;
	for (i = 0; b.len < 10000; i++) {
		if (i > 0)
			dbuf_add(&b, "\n\n", 2);
		for (j = 0; j < 3 + i % 5; j++) {
			snprintf(line, sizeof line, "Sentence %zu of paragraph "
			    "%zu says a little about the order. ", j, i);
			dbuf_add(&b, line, strlen(line));
		}
		dbuf_add(&b, "End.", 4);
	}
	n = tg_split_text(b.s, TG_TEXT_MAX, &parts);
	assert_true(n >= 3);
	check_split(b.s, parts, n, TG_TEXT_MAX);
	for (i = 0; i + 1 < n; i++) {
		/* Whole paragraphs, and the part is at least half full. */
		assert_true(strlen(parts[i]) >= TG_TEXT_MAX / 2);
		assert_string_equal(parts[i] + strlen(parts[i]) - 4, "End.");
		assert_true(strncmp(parts[i + 1], "Sentence 0 ", 11) == 0);
	}
	free_parts(parts, n);
	free(b.s);
}

/* A paragraph break early in the part loses to a line break late in it. */
static void
test_split_second_half(void **state)
{
	struct dbuf	  b = { 0 };
	char		**parts;
	size_t		  n, i;

	(void)state;
	for (i = 0; i < 100; i++)
		dbuf_add(&b, "a", 1);
	dbuf_add(&b, "\n\n", 2);
	for (i = 0; i < 3000; i++)
		dbuf_add(&b, "b", 1);
	dbuf_add(&b, "\n", 1);
	for (i = 0; i < 2000; i++)
		dbuf_add(&b, "c", 1);
	n = tg_split_text(b.s, TG_TEXT_MAX, &parts);
	assert_int_equal(n, 2);
	assert_int_equal(strlen(parts[0]), 3102);
	assert_int_equal(parts[0][3101], 'b');
	assert_int_equal(strlen(parts[1]), 2000);
	check_split(b.s, parts, n, TG_TEXT_MAX);
	free_parts(parts, n);
	free(b.s);

	/* Words only: at the last space that fits. */
	memset(&b, 0, sizeof b);
	for (i = 0; i < 1000; i++)
		dbuf_add(&b, "word ", 5);
	n = tg_split_text(b.s, 12, &parts);
	assert_string_equal(parts[0], "word word");
	assert_int_equal(n, 500);
	check_split(b.s, parts, n, 12);
	free_parts(parts, n);
	free(b.s);
}

/* CJK text without spaces is cut between characters. */
static void
test_split_cjk(void **state)
{
	struct dbuf	  b = { 0 };
	char		**parts;
	size_t		  n, i;

	(void)state;
	for (i = 0; i < 10000; i++)
		dbuf_add(&b, i % 2 ? "\xe5\xa5\xbd" : "\xe4\xbd\xa0", 3);
	n = tg_split_text(b.s, TG_TEXT_MAX, &parts);
	assert_int_equal(n, 3);
	assert_int_equal(tg_utf16_length(parts[0], strlen(parts[0])), 4096);
	assert_int_equal(tg_utf16_length(parts[1], strlen(parts[1])), 4096);
	assert_int_equal(tg_utf16_length(parts[2], strlen(parts[2])), 1808);
	check_split(b.s, parts, n, TG_TEXT_MAX);
	free_parts(parts, n);
	free(b.s);
}

/* Emoji at the boundary: a surrogate pair is never cut. */
static void
test_split_emoji(void **state)
{
	struct dbuf	  b = { 0 };
	char		**parts;
	size_t		  n, i;

	(void)state;
	dbuf_add(&b, "a", 1);
	for (i = 0; i < 5000; i++)
		dbuf_add(&b, "\xf0\x9f\x98\x80", 4);
	n = tg_split_text(b.s, TG_TEXT_MAX, &parts);
	assert_int_equal(n, 3);
	/* "a" and 2047 emoji make 4095 units; one more would be 4097. */
	assert_int_equal(tg_utf16_length(parts[0], strlen(parts[0])), 4095);
	assert_int_equal(strlen(parts[0]), 1 + 2047 * 4);
	assert_int_equal(tg_utf16_length(parts[1], strlen(parts[1])), 4096);
	check_split(b.s, parts, n, TG_TEXT_MAX);
	free_parts(parts, n);
	free(b.s);

	/* A limit below one character still moves forward by characters. */
	n = tg_split_text("\xf0\x9f\x98\x80\xf0\x9f\x98\x80x", 1, &parts);
	assert_int_equal(n, 3);
	assert_string_equal(parts[0], "\xf0\x9f\x98\x80");
	assert_string_equal(parts[2], "x");
	free_parts(parts, n);
}

/* Many mixed texts and limits: the invariants always hold. */
static void
test_split_mixed(void **state)
{
	static const char	*pieces[] = {
		"a", "bc", " ", "\n", "\n\n", "\xc3\xa9", "\xe4\xbd\xa0",
		"\xf0\x9f\x98\x80", "  ", "word", "\t",
	};
	struct dbuf		  b;
	char			**parts;
	size_t			  n, i, k, max;
	uint32_t		  x = 12345;

	(void)state;
	for (k = 0; k < 300; k++) {
		memset(&b, 0, sizeof b);
		for (i = 0; i < 20 + k * 3; i++) {
			x = x * 1103515245 + 12345;
			dbuf_add(&b, pieces[(x >> 16) % 11],
			    strlen(pieces[(x >> 16) % 11]));
		}
		max = 2 + k % 37;
		n = tg_split_text(b.s, max, &parts);
		check_split(b.s, parts, n, max);
		free_parts(parts, n);
		free(b.s);
	}
}

/* Escaping for HTML and MarkdownV2. */
static void
test_escape(void **state)
{
	char	*s;

	(void)state;
	s = tg_escape("a < b && \"c\" > d", "HTML");
	assert_string_equal(s, "a &lt; b &amp;&amp; &quot;c&quot; &gt; d");
	free(s);
	s = tg_escape("<b>\xe4\xbd\xa0</b>", "html");
	assert_string_equal(s, "&lt;b&gt;\xe4\xbd\xa0&lt;/b&gt;");
	free(s);
	s = tg_escape("Price: 1.5 (USD) - #1 *deal* [x]!", "MarkdownV2");
	assert_string_equal(s, "Price: 1\\.5 \\(USD\\) \\- \\#1 \\*deal\\* "
	    "\\[x\\]\\!");
	free(s);
	s = tg_escape("_*[]()~`>#+-=|{}.!\\", "MarkdownV2");
	assert_string_equal(s, "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|"
	    "\\{\\}\\.\\!\\\\");
	free(s);
	s = tg_escape("a_b <c>", NULL);
	assert_string_equal(s, "a_b <c>");
	free(s);
	s = tg_escape("a_b <c>", "Markdown");
	assert_string_equal(s, "a_b <c>");
	free(s);
	s = tg_escape(NULL, "HTML");
	assert_string_equal(s, "");
	free(s);
}

/* --- outbound bodies ------------------------------------------------- */

/* Parse a body back; it must be a JSON object. */
static struct json_object *
body_parse(const char *body)
{
	struct json_object	*o;

	o = json_tokener_parse(body);
	if (!json_object_is_type(o, json_type_object))
		fail_msg("not a JSON object: %s", body);
	return (o);
}

/* Member key of o, which must be there. */
static struct json_object *
member(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no %s", key);
	return (v);
}

/* sendMessage: a 64-bit chat id, the text, parse_mode only when set. */
static void
test_send_message(void **state)
{
	struct json_object	*o, *v;
	char			*body;

	(void)state;
	body = tg_send_message_body(SUPERGROUP_ID, "Hi \xf0\x9f\x98\x80 "
	    "\"quoted\" / <b>", NULL, NULL, 0);
	o = body_parse(body);
	v = member(o, "chat_id");
	assert_true(json_object_is_type(v, json_type_int));
	assert_true(json_object_get_int64(v) == SUPERGROUP_ID);
	assert_non_null(strstr(body, "-1001234567890"));
	assert_string_equal(json_object_get_string(member(o, "text")),
	    "Hi \xf0\x9f\x98\x80 \"quoted\" / <b>");
	assert_false(json_object_object_get_ex(o, "parse_mode", NULL));
	assert_false(json_object_object_get_ex(o, "reply_markup", NULL));
	json_object_put(o);
	free(body);

	body = tg_send_message_body(USER_ID, "x", "", NULL, 0);
	o = body_parse(body);
	assert_true(json_object_get_int64(member(o, "chat_id")) == USER_ID);
	assert_false(json_object_object_get_ex(o, "parse_mode", NULL));
	json_object_put(o);
	free(body);

	body = tg_send_message_body(USER_ID, "<b>x</b>", "HTML", NULL, 0);
	o = body_parse(body);
	assert_string_equal(json_object_get_string(member(o, "parse_mode")),
	    "HTML");
	json_object_put(o);
	free(body);
}

/* The rows of a body's inline keyboard. */
static struct json_object *
keyboard(struct json_object *o)
{
	return (member(member(o, "reply_markup"), "inline_keyboard"));
}

/* A keyboard's shape: the number of buttons in each row, as "5" or "3,1". */
static char *
shape(struct json_object *rows)
{
	struct dbuf	b = { 0 };
	char		n[16];
	size_t		i;

	for (i = 0; i < json_object_array_length(rows); i++) {
		snprintf(n, sizeof n, "%s%zu", i > 0 ? "," : "",
		    json_object_array_length(json_object_array_get_idx(rows,
		    i)));
		dbuf_add(&b, n, strlen(n));
	}
	return (b.s);
}

/* Buttons: rows by title length, callback_data within 64 bytes. */
static void
test_keyboard(void **state)
{
	struct button		 csat[5], menu[4], longer[3];
	struct json_object	*o, *rows, *btn;
	char			*body, *s, long_value[71];
	size_t			 i, j;

	(void)state;
	for (i = 0; i < 5; i++) {
		csat[i].title = xasprintf("%zu", i + 1);
		csat[i].value = xasprintf("%zu", i + 1);
	}
	body = tg_send_message_body(USER_ID, "Rate us", NULL, csat, 5);
	o = body_parse(body);
	rows = keyboard(o);
	s = shape(rows);
	assert_string_equal(s, "5");	/* a rating sits in one row */
	free(s);
	btn = json_object_array_get_idx(json_object_array_get_idx(rows, 0), 4);
	assert_string_equal(json_object_get_string(member(btn, "text")), "5");
	assert_string_equal(json_object_get_string(member(btn,
	    "callback_data")), "5");
	json_object_put(o);
	free(body);

	memset(long_value, 'v', 70);
	long_value[70] = '\0';
	menu[0].title = xstrdup("Track order");
	menu[0].value = xstrdup("track");
	menu[1].title = xstrdup("Returns");
	menu[1].value = xstrdup(long_value);
	menu[2].title = xstrdup("\xe4\xba\xba\xe5\xb7\xa5\xe5\xae\xa2\xe6\x9c"
	    "\x8d");
	menu[2].value = xstrdup("#human");
	menu[3].title = xstrdup("FAQ");
	menu[3].value = xstrdup("faq");
	body = tg_send_message_body(USER_ID, "Menu", NULL, menu, 4);
	o = body_parse(body);
	rows = keyboard(o);
	s = shape(rows);
	assert_string_equal(s, "3,1");
	free(s);
	btn = json_object_array_get_idx(json_object_array_get_idx(rows, 0), 1);
	assert_string_equal(json_object_get_string(member(btn,
	    "callback_data")), "#1");
	btn = json_object_array_get_idx(json_object_array_get_idx(rows, 0), 2);
	assert_string_equal(json_object_get_string(member(btn, "text")),
	    menu[2].title);
	assert_string_equal(json_object_get_string(member(btn,
	    "callback_data")), "#2");	/* a value that looks like "#N" */
	btn = json_object_array_get_idx(json_object_array_get_idx(rows, 1), 0);
	assert_string_equal(json_object_get_string(member(btn,
	    "callback_data")), "faq");
	for (i = 0; i < json_object_array_length(rows); i++) {
		for (j = 0; j < json_object_array_length(
		    json_object_array_get_idx(rows, i)); j++) {
			btn = json_object_array_get_idx(
			    json_object_array_get_idx(rows, i), j);
			assert_true(strlen(json_object_get_string(member(btn,
			    "callback_data"))) <= TG_CALLBACK_DATA_MAX);
		}
	}
	json_object_put(o);
	free(body);

	longer[0].title = xstrdup("Yes");
	longer[0].value = xstrdup("yes");
	longer[1].title = xstrdup("I want to talk to a person please");
	longer[1].value = xstrdup("human");
	longer[2].title = xstrdup("No");
	longer[2].value = xstrdup("no");
	body = tg_send_message_body(USER_ID, "?", NULL, longer, 3);
	o = body_parse(body);
	s = shape(keyboard(o));
	assert_string_equal(s, "1,1,1");
	free(s);
	json_object_put(o);
	free(body);

	for (i = 0; i < 5; i++) {
		free(csat[i].title);
		free(csat[i].value);
	}
	for (i = 0; i < 4; i++) {
		free(menu[i].title);
		free(menu[i].value);
	}
	for (i = 0; i < 3; i++) {
		free(longer[i].title);
		free(longer[i].value);
	}
}

/* callback_data: the value up to 64 bytes, else "#index". */
static void
test_callback_data(void **state)
{
	char	value[80], *s;
	size_t	i;

	(void)state;
	memset(value, 'x', sizeof value);
	value[64] = '\0';
	s = tg_callback_data(value, 3);
	assert_string_equal(s, value);
	free(s);
	value[64] = 'x';
	value[65] = '\0';
	s = tg_callback_data(value, 3);
	assert_string_equal(s, "#3");
	free(s);
	value[70] = '\0';
	s = tg_callback_data(value, 12);
	assert_string_equal(s, "#12");
	free(s);

	/* 33 two-byte characters are 66 bytes though 33 characters. */
	for (i = 0; i < 33; i++)
		memcpy(value + 2 * i, "\xc3\xa9", 2);
	value[66] = '\0';
	s = tg_callback_data(value, 0);
	assert_string_equal(s, "#0");
	free(s);

	s = tg_callback_data("", 4);
	assert_string_equal(s, "#4");
	free(s);
	s = tg_callback_data(NULL, 5);
	assert_string_equal(s, "#5");
	free(s);
	s = tg_callback_data("#7", 1);
	assert_string_equal(s, "#1");
	free(s);
}

/* One attachment: the method and the field for each type. */
static void
test_attachment_body(void **state)
{
	static const struct {
		const char	*type;
		const char	*method;
		const char	*field;
	} cases[] = {
		{ "image", "sendPhoto", "photo" },
		{ "audio", "sendVoice", "voice" },
		{ "video", "sendVideo", "video" },
		{ "sticker", "sendSticker", "sticker" },
		{ "file", "sendDocument", "document" },
		{ "other", "sendDocument", "document" },
	};
	struct attachment	 a;
	struct json_object	*o;
	const char		*method;
	char			*body;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&a, 0, sizeof a);
		a.type = (char *)cases[i].type;
		a.url = (char *)"https://shop.example/f?a=1&b=2";
		a.size = -1;
		method = NULL;
		body = tg_send_attachment_body(SUPERGROUP_ID, &a, &method);
		assert_string_equal(method, cases[i].method);
		o = body_parse(body);
		assert_true(json_object_get_int64(member(o, "chat_id")) ==
		    SUPERGROUP_ID);
		assert_string_equal(json_object_get_string(member(o,
		    cases[i].field)), a.url);
		json_object_put(o);
		free(body);
	}

	memset(&a, 0, sizeof a);
	a.type = (char *)"location";
	a.url = (char *)"geo:52.229676,21.012229";
	body = tg_send_attachment_body(USER_ID, &a, &method);
	assert_string_equal(method, "sendLocation");
	o = body_parse(body);
	assert_true(json_object_get_double(member(o, "latitude")) > 52.2296 &&
	    json_object_get_double(member(o, "latitude")) < 52.2297);
	assert_true(json_object_get_double(member(o, "longitude")) > 21.0122 &&
	    json_object_get_double(member(o, "longitude")) < 21.0123);
	json_object_put(o);
	free(body);

	/* Not a geo: URL, or no URL at all: a text instead. */
	a.url = (char *)"geo:north,south";
	body = tg_send_attachment_body(USER_ID, &a, &method);
	assert_string_equal(method, "sendMessage");
	o = body_parse(body);
	assert_string_equal(json_object_get_string(member(o, "text")),
	    "geo:north,south");
	json_object_put(o);
	free(body);
	a.url = (char *)"geo:91,0";
	body = tg_send_attachment_body(USER_ID, &a, &method);
	assert_string_equal(method, "sendMessage");
	free(body);

	a.type = (char *)"file";
	a.url = NULL;
	a.name = (char *)"report.pdf";
	body = tg_send_attachment_body(USER_ID, &a, &method);
	assert_string_equal(method, "sendMessage");
	o = body_parse(body);
	assert_string_equal(json_object_get_string(member(o, "text")),
	    "report.pdf");
	json_object_put(o);
	free(body);
}

/* answerCallbackQuery, getUpdates and setWebhook bodies. */
static void
test_other_bodies(void **state)
{
	static const char *const types[] = { "message", "edited_message",
	    "callback_query", "my_chat_member" };
	struct json_object	*o, *v;
	char			*body;

	(void)state;
	body = tg_answer_callback_body("3727734389287645123");
	o = body_parse(body);
	assert_string_equal(json_object_get_string(member(o,
	    "callback_query_id")), "3727734389287645123");
	json_object_put(o);
	free(body);

	body = tg_get_updates_body(INT64_C(873014583), 50, types, 4);
	o = body_parse(body);
	assert_true(json_object_get_int64(member(o, "offset")) == 873014583);
	assert_int_equal(json_object_get_int(member(o, "timeout")), 50);
	v = member(o, "allowed_updates");
	assert_int_equal(json_object_array_length(v), 4);
	assert_string_equal(json_object_get_string(
	    json_object_array_get_idx(v, 3)), "my_chat_member");
	json_object_put(o);
	free(body);

	body = tg_get_updates_body(INT64_C(5000000000), 0, NULL, 0);
	o = body_parse(body);
	assert_true(json_object_get_int64(member(o, "offset")) ==
	    INT64_C(5000000000));
	assert_false(json_object_object_get_ex(o, "allowed_updates", NULL));
	json_object_put(o);
	free(body);

	body = tg_set_webhook_body("https://kefu.example.com/telegram/vip",
	    "s3cr3t_T0ken-x", types, 2, 100);
	o = body_parse(body);
	assert_non_null(strstr(body, "https://kefu.example.com/telegram"));
	assert_string_equal(json_object_get_string(member(o, "url")),
	    "https://kefu.example.com/telegram/vip");
	assert_string_equal(json_object_get_string(member(o, "secret_token")),
	    "s3cr3t_T0ken-x");
	assert_int_equal(json_object_array_length(member(o,
	    "allowed_updates")), 2);
	assert_int_equal(json_object_get_int(member(o, "max_connections")),
	    100);
	v = member(o, "drop_pending_updates");
	assert_true(json_object_is_type(v, json_type_boolean));
	assert_false(json_object_get_boolean(v));
	json_object_put(o);
	free(body);

	body = tg_set_webhook_body("https://k.example/telegram/a", NULL,
	    NULL, 0, 0);
	o = body_parse(body);
	assert_false(json_object_object_get_ex(o, "secret_token", NULL));
	assert_false(json_object_object_get_ex(o, "max_connections", NULL));
	assert_int_equal(json_object_array_length(member(o,
	    "allowed_updates")), 0);
	json_object_put(o);
	free(body);
}

/* Decimal ids, 64 bits, nothing else. */
static void
test_parse_id(void **state)
{
	static const char	*bad[] = {
		"", "-", "+5", " 5", "5 ", "12a", "0x10", "1e3",
		"9223372036854775808", "-9223372036854775809", "--1",
	};
	int64_t			 id;
	size_t			 i;

	(void)state;
	assert_int_equal(tg_parse_id("-1001234567890", &id), 0);
	assert_true(id == SUPERGROUP_ID);
	assert_int_equal(tg_parse_id("8679559480", &id), 0);
	assert_true(id == USER_ID);
	assert_int_equal(tg_parse_id("0", &id), 0);
	assert_true(id == 0);
	assert_int_equal(tg_parse_id("9223372036854775807", &id), 0);
	assert_true(id == INT64_MAX);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (tg_parse_id(bad[i], &id) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(tg_parse_id(NULL, &id), -1);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_private_text),
		cmocka_unit_test(test_emoji_mention),
		cmocka_unit_test(test_surrogate_pairs),
		cmocka_unit_test(test_lone_surrogate),
		cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_edited),
		cmocka_unit_test(test_callback),
		cmocka_unit_test(test_callback_inline),
		cmocka_unit_test(test_photo),
		cmocka_unit_test(test_photo_tie),
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_voice),
		cmocka_unit_test(test_sticker),
		cmocka_unit_test(test_location),
		cmocka_unit_test(test_other_media),
		cmocka_unit_test(test_member),
		cmocka_unit_test(test_group_mention),
		cmocka_unit_test(test_supergroup_command),
		cmocka_unit_test(test_supergroup_reply),
		cmocka_unit_test(test_supergroup_nobody),
		cmocka_unit_test(test_text_mention_caption),
		cmocka_unit_test(test_bad_entities),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_not_updates),
		cmocka_unit_test(test_from_name),
		cmocka_unit_test(test_resp_updates),
		cmocka_unit_test(test_resp_errors),
		cmocka_unit_test(test_resp_not_json),
		cmocka_unit_test(test_resp_odd),
		cmocka_unit_test(test_utf16_length),
		cmocka_unit_test(test_split_short),
		cmocka_unit_test(test_split_paragraphs),
		cmocka_unit_test(test_split_second_half),
		cmocka_unit_test(test_split_cjk),
		cmocka_unit_test(test_split_emoji),
		cmocka_unit_test(test_split_mixed),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_send_message),
		cmocka_unit_test(test_keyboard),
		cmocka_unit_test(test_callback_data),
		cmocka_unit_test(test_attachment_body),
		cmocka_unit_test(test_other_bodies),
		cmocka_unit_test(test_parse_id),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
