/*
 * Tests for the store (src/store.c) and the message helpers
 * (src/message.c).  Each test gets a fresh temporary directory with its own
 * database file, removed afterwards.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "message.h"
#include "store.h"
#include "xmalloc.h"

struct fixture {
	char		 dir[64];
	char		*path;
	struct store	*s;
};

/* Make a temporary directory and open a store in it. */
static int
setup(void **state)
{
	struct fixture	*f;
	char		*cause = NULL;

	f = xcalloc(1, sizeof *f);
	xsnprintf(f->dir, sizeof f->dir, "/tmp/kefu-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return (-1);
	}
	f->path = xasprintf("%s/kefu.db", f->dir);
	if (store_open(f->path, 1, 1000, &f->s, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return (-1);
	}
	*state = f;
	return (0);
}

/* Close the store and remove the directory with everything in it. */
static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*de;
	DIR		*d;
	char		*p;

	store_close(f->s);
	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", f->dir, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f->path);
	free(f);
	return (0);
}

/* Close and reopen the fixture's store. */
static void
reopen(struct fixture *f)
{
	char	*cause = NULL;

	store_close(f->s);
	f->s = NULL;
	if (store_open(f->path, 0, 1000, &f->s, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		fail();
	}
}

/* Commit, failing the test on error. */
static void
commit(struct store *s)
{
	char	*cause = NULL;

	if (store_commit(s, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		fail();
	}
}

/* A contact on telegram with this external id. */
static int64_t
make_contact(struct store *s, const char *external_id)
{
	int64_t	id = 0;

	assert_int_equal(store_contact_ensure(s, "telegram", "", external_id,
	    NULL, 1000, &id), 0);
	assert_true(id > 0);
	return (id);
}

/* Fill an inbound message (the caller clears it). */
static void
make_in(struct message *m, const char *channel, const char *account,
    const char *external_id, const char *text)
{
	memset(m, 0, sizeof *m);
	m->channel = xstrdup(channel);
	m->account = xstrdup(account);
	m->external_id = external_id == NULL ? NULL : xstrdup(external_id);
	m->direction = MSG_IN;
	m->author = AUTHOR_CUSTOMER;
	m->text = xstrdup(text);
}

/* Insert an outbound message with this seq for a contact; its id. */
static int64_t
insert_out(struct store *s, int64_t contact_id, int64_t seq, const char *text)
{
	struct message	m;
	int64_t		id;

	memset(&m, 0, sizeof m);
	m.channel = xstrdup("telegram");
	m.contact_id = contact_id;
	m.direction = MSG_OUT;
	m.author = AUTHOR_BOT;
	m.text = xstrdup(text);
	m.seq = seq;
	message_add_button(&m, "Yes", "yes");
	assert_int_equal(store_message_insert(s, &m), 1);
	assert_string_equal(m.status, "queued");
	assert_true(m.created_at > 0);
	id = m.id;
	message_clear(&m);
	return (id);
}

/* Read one integer with a private connection (schema checks). */
static int64_t
peek_int(const char *path, const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	int64_t		 v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return (v);
}

static void
test_open_creates_schema(void **state)
{
	struct fixture	*f = *state;
	const char	*tables[] = { "contacts", "conversations", "messages",
	    "outbox", "events" };
	char		 sql[128];
	size_t		 i;

	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	assert_int_equal(peek_int(f->path, "PRAGMA user_version"),
	    STORE_SCHEMA_VERSION);
	for (i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		xsnprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema"
		    " WHERE type = 'table' AND name = '%s'", tables[i]);
		assert_int_equal(peek_int(f->path, sql), 1);
	}
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM "
	    "sqlite_schema WHERE name = 'messages_dedup'"), 1);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM "
	    "pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	assert_false(store_in_transaction(f->s));
}

static void
test_reopen_keeps_data(void **state)
{
	struct fixture	*f = *state;
	struct message	 m, got;
	int64_t		 contact, id;

	contact = make_contact(f->s, "u1");
	make_in(&m, "telegram", "", "x1", "hello");
	m.contact_id = contact;
	assert_int_equal(store_message_insert(f->s, &m), 1);
	id = m.id;
	message_clear(&m);
	commit(f->s);

	reopen(f);
	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	assert_int_equal(store_message_get(f->s, id, &got), 1);
	assert_string_equal(got.text, "hello");
	assert_int_equal(got.contact_id, contact);
	message_clear(&got);
}

static void
test_future_version_refused(void **state)
{
	struct fixture	*f = *state;
	struct store	*s2 = NULL;
	sqlite3		*db;
	char		*cause = NULL, sql[64], want[32];

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	xsnprintf(sql, sizeof sql, "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION + 7);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->path, 1, 1000, &s2, &cause), -1);
	assert_null(s2);
	assert_non_null(cause);
	xsnprintf(want, sizeof want, "version %d", STORE_SCHEMA_VERSION + 7);
	assert_non_null(strstr(cause, want));
	xsnprintf(want, sizeof want, "kefu's %d", STORE_SCHEMA_VERSION);
	assert_non_null(strstr(cause, want));
	free(cause);

	/* Put it back so teardown has a store to close. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	xsnprintf(sql, sizeof sql, "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	reopen(f);
}

static void
test_dedup_inbound(void **state)
{
	struct fixture	*f = *state;
	struct conversation c;
	struct message	 m;
	int64_t		 contact, first, conv, n;

	contact = make_contact(f->s, "u1");
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat1", 1000, &c), 1);
	conv = c.id;
	conversation_clear(&c);

	make_in(&m, "telegram", "", "42", "hi");
	m.contact_id = contact;
	m.conversation_id = conv;
	assert_int_equal(store_message_insert(f->s, &m), 1);
	assert_string_equal(m.status, "received");
	first = m.id;
	message_clear(&m);

	/* The same message again, in the same open transaction. */
	assert_true(store_in_transaction(f->s));
	make_in(&m, "telegram", "", "42", "hi again");
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(m.id, first);
	assert_int_equal(m.conversation_id, conv);
	message_clear(&m);

	/* And after the commit. */
	commit(f->s);
	make_in(&m, "telegram", "", "42", "hi");
	assert_int_equal(store_message_insert(f->s, &m), 0);
	assert_int_equal(m.id, first);
	assert_int_equal(m.conversation_id, conv);
	message_clear(&m);

	/* Another channel or another account: a different message. */
	make_in(&m, "websocket", "", "42", "hi");
	assert_int_equal(store_message_insert(f->s, &m), 1);
	assert_true(m.id != first);
	message_clear(&m);
	make_in(&m, "telegram", "bot2", "42", "hi");
	assert_int_equal(store_message_insert(f->s, &m), 1);
	assert_true(m.id != first);
	message_clear(&m);

	assert_int_equal(store_message_count(f->s, "42", &n), 0);
	assert_int_equal(n, 3);
	commit(f->s);
}

static void
test_no_external_id_never_collides(void **state)
{
	struct fixture	*f = *state;
	struct message	 m;
	int64_t		 contact, a, b, n;

	contact = make_contact(f->s, "u1");
	a = insert_out(f->s, contact, 0, "one");
	b = insert_out(f->s, contact, 0, "two");
	assert_true(a != b);

	/* Inbound without an id is not de-duplicated either. */
	make_in(&m, "telegram", "", NULL, "x");
	assert_int_equal(store_message_insert(f->s, &m), 1);
	a = m.id;
	message_clear(&m);
	make_in(&m, "telegram", "", NULL, "x");
	assert_int_equal(store_message_insert(f->s, &m), 1);
	assert_true(m.id != a);
	message_clear(&m);

	/* An outbound message may carry the same id as an inbound one. */
	make_in(&m, "telegram", "", "7", "in");
	assert_int_equal(store_message_insert(f->s, &m), 1);
	a = m.id;
	message_clear(&m);
	make_in(&m, "telegram", "", "7", "out");
	m.direction = MSG_OUT;
	m.author = AUTHOR_AGENT;
	assert_int_equal(store_message_insert(f->s, &m), 1);
	assert_true(m.id != a);
	message_clear(&m);

	assert_int_equal(store_message_count(f->s, NULL, &n), 0);
	assert_int_equal(n, 6);
	commit(f->s);
}

static void
test_seq_per_contact(void **state)
{
	struct fixture	*f = *state;
	struct contact	 c;
	struct message	 m;
	int64_t		 a, b, seq, i;

	a = make_contact(f->s, "a");
	b = make_contact(f->s, "b");
	for (i = 1; i <= 3; i++) {
		assert_int_equal(store_contact_next_seq(f->s, a, &seq), 0);
		assert_int_equal(seq, i);
	}
	assert_int_equal(store_contact_next_seq(f->s, b, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(store_contact_next_seq(f->s, 999999, &seq), -1);
	commit(f->s);

	reopen(f);
	assert_int_equal(store_contact_next_seq(f->s, a, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(store_contact_get(f->s, a, &c), 1);
	assert_int_equal(c.out_seq, 4);
	contact_clear(&c);
	assert_int_equal(store_contact_get(f->s, b, &c), 1);
	assert_int_equal(c.out_seq, 1);
	contact_clear(&c);

	/* Two outbound messages of one contact may not share a seq. */
	insert_out(f->s, a, 1, "x");
	insert_out(f->s, b, 1, "x");
	memset(&m, 0, sizeof m);
	m.channel = xstrdup("telegram");
	m.contact_id = a;
	m.direction = MSG_OUT;
	m.author = AUTHOR_BOT;
	m.seq = 1;
	assert_int_equal(store_message_insert(f->s, &m), -1);
	message_clear(&m);
	commit(f->s);
}

struct seq_list {
	int64_t	seqs[16];
	size_t	n;
	size_t	stop_after;	/* 0: never */
};

/* Collect the seq of each message, checking what the store filled in. */
static int
collect_seq(void *arg, const struct message *m)
{
	struct seq_list	*l = arg;

	assert_int_equal(m->direction, MSG_OUT);
	assert_int_equal(m->nbuttons, 1);
	assert_string_equal(m->buttons[0].title, "Yes");
	assert_string_equal(m->buttons[0].value, "yes");
	assert_true(l->n < 16);
	l->seqs[l->n++] = m->seq;
	if (l->stop_after != 0 && l->n == l->stop_after)
		return (-1);
	return (0);
}

static void
test_message_by_seq(void **state)
{
	struct fixture	*f = *state;
	struct seq_list	 l;
	struct message	 m;
	int64_t		 a, b, i;

	a = make_contact(f->s, "a");
	b = make_contact(f->s, "b");
	/* Inserted out of order, for the ORDER BY to matter. */
	insert_out(f->s, a, 3, "three");
	insert_out(f->s, a, 1, "one");
	insert_out(f->s, a, 5, "five");
	insert_out(f->s, a, 2, "two");
	insert_out(f->s, a, 4, "four");
	insert_out(f->s, b, 1, "other contact");
	insert_out(f->s, a, 0, "no seq");
	make_in(&m, "telegram", "", "in1", "inbound");
	m.contact_id = a;
	assert_int_equal(store_message_insert(f->s, &m), 1);
	message_clear(&m);
	commit(f->s);

	memset(&l, 0, sizeof l);
	assert_int_equal(store_message_by_seq(f->s, a, 0, 0, collect_seq, &l),
	    0);
	assert_int_equal(l.n, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(l.seqs[i], i + 1);

	memset(&l, 0, sizeof l);
	assert_int_equal(store_message_by_seq(f->s, a, 2, 4, collect_seq, &l),
	    0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.seqs[0], 3);
	assert_int_equal(l.seqs[1], 4);

	memset(&l, 0, sizeof l);
	assert_int_equal(store_message_by_seq(f->s, a, 5, 0, collect_seq, &l),
	    0);
	assert_int_equal(l.n, 0);

	memset(&l, 0, sizeof l);
	l.stop_after = 2;
	assert_int_equal(store_message_by_seq(f->s, a, 0, 0, collect_seq, &l),
	    0);
	assert_int_equal(l.n, 2);

	memset(&l, 0, sizeof l);
	assert_int_equal(store_message_by_seq(f->s, b, 0, 0, collect_seq, &l),
	    0);
	assert_int_equal(l.n, 1);
}

struct due_list {
	int64_t		 ids[8];
	int64_t		 message_ids[8];
	int		 attempts[8];
	size_t		 n;
	struct store	*remove_from;	/* remove each item in the callback */
};

/* Collect due items, checking the joined message matches. */
static int
collect_due(void *arg, const struct outbox_item *it,
    const struct message *m)
{
	struct due_list	*l = arg;

	assert_int_equal(it->message_id, m->id);
	assert_non_null(m->text);
	assert_true(l->n < 8);
	l->ids[l->n] = it->id;
	l->message_ids[l->n] = it->message_id;
	l->attempts[l->n] = it->attempts;
	l->n++;
	if (l->remove_from != NULL) {
		assert_int_equal(store_outbox_remove(l->remove_from, it->id),
		    0);
		assert_int_equal(store_message_set_status(l->remove_from,
		    m->id, "sent", NULL, "r1"), 0);
	}
	return (0);
}

static void
test_outbox(void **state)
{
	struct fixture	*f = *state;
	struct due_list	 l;
	struct message	 m;
	int64_t		 contact, m1, m2, m3, due, n;

	contact = make_contact(f->s, "a");
	m1 = insert_out(f->s, contact, 1, "one");
	m2 = insert_out(f->s, contact, 2, "two");
	m3 = insert_out(f->s, contact, 3, "three");

	assert_int_equal(store_outbox_next_due(f->s, &due), 0);
	assert_int_equal(store_outbox_depth(f->s, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(store_outbox_add(f->s, m1, 300), 0);
	assert_int_equal(store_outbox_add(f->s, m2, 100), 0);
	assert_int_equal(store_outbox_add(f->s, m3, 200), 0);
	/* Queuing the same message twice does nothing. */
	assert_int_equal(store_outbox_add(f->s, m3, 50), 0);
	commit(f->s);

	assert_int_equal(store_outbox_depth(f->s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_outbox_next_due(f->s, &due), 1);
	assert_int_equal(due, 100);

	memset(&l, 0, sizeof l);
	assert_int_equal(store_outbox_due(f->s, 250, 10, collect_due, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.message_ids[0], m2);
	assert_int_equal(l.message_ids[1], m3);
	assert_int_equal(l.attempts[0], 0);

	memset(&l, 0, sizeof l);
	assert_int_equal(store_outbox_due(f->s, 1000, 1, collect_due, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.message_ids[0], m2);

	/* A retry counts the attempt and moves the item back. */
	assert_int_equal(store_outbox_retry(f->s, l.ids[0], 5000, "429"), 0);
	commit(f->s);
	assert_int_equal(store_outbox_next_due(f->s, &due), 1);
	assert_int_equal(due, 200);
	memset(&l, 0, sizeof l);
	assert_int_equal(store_outbox_due(f->s, 10000, 10, collect_due, &l),
	    0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.message_ids[0], m3);
	assert_int_equal(l.message_ids[1], m1);
	assert_int_equal(l.message_ids[2], m2);
	assert_int_equal(l.attempts[2], 1);

	/* Remove one directly, and the rest from inside the callback. */
	assert_int_equal(store_outbox_remove(f->s, l.ids[0]), 0);
	assert_int_equal(store_outbox_remove(f->s, l.ids[0]), -1);
	assert_int_equal(store_outbox_depth(f->s, &n), 0);
	assert_int_equal(n, 2);
	memset(&l, 0, sizeof l);
	l.remove_from = f->s;
	assert_int_equal(store_outbox_due(f->s, 10000, 10, collect_due, &l),
	    0);
	assert_int_equal(l.n, 2);
	commit(f->s);
	assert_int_equal(store_outbox_depth(f->s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_outbox_next_due(f->s, &due), 0);

	assert_int_equal(store_message_get(f->s, m1, &m), 1);
	assert_string_equal(m.status, "sent");
	assert_string_equal(m.remote_id, "r1");
	message_clear(&m);

	/* The outbox refers to stored messages only. */
	assert_int_equal(store_outbox_add(f->s, 987654, 1), -1);
	store_rollback(f->s);
}

/* The inbound queue: de-duplicated by key, read in order, set aside. */
static void
test_inbound_queue(void **state)
{
	struct fixture		*f = *state;
	struct queue_item	*items;
	size_t			 n;
	int64_t			 len, first;
	const char		 body[] = "{\"update_id\":7}\0tail";

	assert_int_equal(store_queue_count(f->s, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(store_queue_add(f->s, "telegram", "shop", "7", body,
	    sizeof body, 1000), 1);
	/* The same key again (Telegram re-sent it): not queued twice. */
	assert_int_equal(store_queue_add(f->s, "telegram", "shop", "7", "x",
	    1, 1001), 0);
	/* Another bot, or another channel, may use the same key. */
	assert_int_equal(store_queue_add(f->s, "telegram", "help", "7", "b",
	    1, 1002), 1);
	assert_int_equal(store_queue_add(f->s, "wechat", "shop", "7", "c", 1,
	    1003), 1);
	commit(f->s);
	assert_int_equal(store_queue_count(f->s, &len), 0);
	assert_int_equal(len, 3);

	/* Oldest first; the body comes back whole, NUL bytes and all. */
	assert_int_equal(store_queue_next(f->s, 0, 2, &items, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].channel, "telegram");
	assert_string_equal(items[0].account, "shop");
	assert_int_equal(items[0].len, sizeof body);
	assert_memory_equal(items[0].body, body, sizeof body);
	assert_int_equal(items[0].body[items[0].len], '\0');
	assert_int_equal(items[0].received_at, 1000);
	assert_string_equal(items[1].account, "help");
	first = items[0].id;
	assert_true(items[1].id > first);
	queue_items_free(items, n);

	/* Read on after an id, then remove and set aside. */
	assert_int_equal(store_queue_next(f->s, first, 10, &items, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(items[1].channel, "wechat");
	assert_int_equal(store_queue_fail(f->s, items[1].id, "kept failing"),
	    0);
	commit(f->s);
	queue_items_free(items, n);
	assert_int_equal(store_queue_remove(f->s, first), 0);
	assert_int_equal(store_queue_remove(f->s, first), -1);
	store_rollback(f->s);
	assert_int_equal(store_queue_remove(f->s, first), 0);
	commit(f->s);
	/* Set aside is not counted, nor read. */
	assert_int_equal(store_queue_count(f->s, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(store_queue_next(f->s, 0, 10, &items, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].account, "help");
	queue_items_free(items, n);
	assert_int_equal(store_queue_fail(f->s, 987654321, "no such item"),
	    -1);
	store_rollback(f->s);

	/* Set aside, an item no longer holds its key. */
	assert_int_equal(store_queue_add(f->s, "wechat", "shop", "7", "d", 1,
	    1004), 1);
	commit(f->s);

	/* Once it is taken, the same key may come again. */
	assert_int_equal(store_queue_add(f->s, "telegram", "shop", "7", "y", 1,
	    2000), 1);
	commit(f->s);

	/* What is queued survives a restart; set aside stays aside. */
	reopen(f);
	assert_int_equal(store_queue_count(f->s, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(store_queue_next(f->s, 0, 10, &items, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(items[1].body, "d");
	assert_string_equal(items[2].body, "y");
	queue_items_free(items, n);
}

/* Deferred syncs: commits wait for one sync of the WAL, then none wait. */
static void
test_deferred_sync(void **state)
{
	struct fixture	*f = *state;
	struct contact	 c;
	char		*cause = NULL;
	int		 fd;

	assert_int_equal(store_sync_pending(f->s), 0);
	assert_int_equal(store_sync_fd(f->s), -1);
	if (store_defer_sync(f->s, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		fail();
	}
	assert_int_equal(store_sync_pending(f->s), 0);
	make_contact(f->s, "a");
	assert_int_equal(store_sync_pending(f->s), 0);
	commit(f->s);
	assert_int_equal(store_sync_pending(f->s), 1);
	make_contact(f->s, "b");
	commit(f->s);
	fd = store_sync_fd(f->s);
	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(store_sync_pending(f->s), 0);
	assert_int_equal(store_sync_fd(f->s), -1);
	make_contact(f->s, "c");
	commit(f->s);
	assert_int_equal(store_sync(f->s), 0);
	assert_int_equal(store_sync_pending(f->s), 0);
	/* Closing syncs what waits; the data is there on reopening. */
	make_contact(f->s, "d");
	commit(f->s);
	reopen(f);
	memset(&c, 0, sizeof c);
	assert_int_equal(store_contact_find(f->s, "telegram", "", "d", &c), 1);
	contact_clear(&c);
}

static void
test_conversation_ensure(void **state)
{
	struct fixture		*f = *state;
	struct conversation	 c, c2;
	int64_t			 contact, first;

	contact = make_contact(f->s, "a");
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat", 1234, &c), 1);
	first = c.id;
	assert_string_equal(c.status, "bot");
	assert_string_equal(c.state, "{}");
	assert_int_equal(c.created_at, 1234);
	assert_int_equal(c.contact_id, contact);
	assert_int_equal(c.resolved_at, 0);
	assert_null(c.lang);

	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat", 2000, &c2), 0);
	assert_int_equal(c2.id, first);
	conversation_clear(&c2);

	/* Another chat of the same contact is another conversation. */
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "group", 2000, &c2), 1);
	assert_true(c2.id != first);
	conversation_clear(&c2);

	/* Once resolved, the next message opens a new one. */
	free(c.status);
	c.status = xstrdup("resolved");
	c.resolved_at = 3000;
	assert_int_equal(store_conversation_save(f->s, &c), 0);
	commit(f->s);
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat", 4000, &c2), 1);
	assert_true(c2.id != first);
	assert_string_equal(c2.status, "bot");
	conversation_clear(&c2);
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat", 5000, &c2), 0);
	assert_true(c2.id != first);
	conversation_clear(&c2);

	/* An unknown status is refused by the schema. */
	free(c.status);
	c.status = xstrdup("bogus");
	assert_int_equal(store_conversation_save(f->s, &c), -1);
	conversation_clear(&c);
	commit(f->s);
}

static void
test_conversation_save_roundtrip(void **state)
{
	struct fixture		*f = *state;
	struct conversation	 c, got;
	int64_t			 contact;

	contact = make_contact(f->s, "a");
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "acct", "chat", 1000, &c), 1);
	free(c.status);
	c.status = xstrdup("pending");
	free(c.state);
	c.state = xstrdup("{\"stage\":\"confirm\",\"fails\":2}");
	c.lang = xstrdup("zh");
	c.handoff_reason = xstrdup("asked for a human");
	c.assignee = 17;
	c.updated_at = 1100;
	c.last_message_at = 1200;
	c.resolved_at = 1300;
	assert_int_equal(store_conversation_save(f->s, &c), 0);
	commit(f->s);
	reopen(f);

	assert_int_equal(store_conversation_get(f->s, c.id, &got), 1);
	assert_int_equal(got.contact_id, contact);
	assert_string_equal(got.channel, "telegram");
	assert_string_equal(got.account, "acct");
	assert_string_equal(got.external_id, "chat");
	assert_string_equal(got.status, c.status);
	assert_string_equal(got.state, c.state);
	assert_string_equal(got.lang, c.lang);
	assert_string_equal(got.handoff_reason, c.handoff_reason);
	assert_int_equal(got.assignee, 17);
	assert_int_equal(got.created_at, 1000);
	assert_int_equal(got.updated_at, 1100);
	assert_int_equal(got.last_message_at, 1200);
	assert_int_equal(got.resolved_at, 1300);
	conversation_clear(&got);

	/* Clearing the optional fields stores them as none. */
	free(c.lang);
	c.lang = NULL;
	free(c.handoff_reason);
	c.handoff_reason = NULL;
	c.assignee = 0;
	c.resolved_at = 0;
	assert_int_equal(store_conversation_save(f->s, &c), 0);
	assert_int_equal(store_conversation_get(f->s, c.id, &got), 1);
	assert_null(got.lang);
	assert_null(got.handoff_reason);
	assert_int_equal(got.assignee, 0);
	assert_int_equal(got.resolved_at, 0);
	conversation_clear(&got);
	conversation_clear(&c);
	commit(f->s);

	assert_int_equal(store_conversation_get(f->s, 999999, &got), 0);
}

/* Count conversations and remember the first id. */
static int
collect_conv(void *arg, const struct conversation *c)
{
	int64_t	*v = arg;

	if (v[0] == 0)
		v[1] = c->id;
	v[0]++;
	return (0);
}

static void
test_conversation_list(void **state)
{
	struct fixture		*f = *state;
	struct conversation	 c;
	int64_t			 contact, newest = 0, v[2];

	contact = make_contact(f->s, "a");
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "one", 1000, &c), 1);
	conversation_clear(&c);
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "two", 3000, &c), 1);
	newest = c.id;
	conversation_clear(&c);
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "three", 2000, &c), 1);
	conversation_clear(&c);
	commit(f->s);

	memset(v, 0, sizeof v);
	assert_int_equal(store_conversation_list(f->s, 10, collect_conv, v),
	    0);
	assert_int_equal(v[0], 3);
	assert_int_equal(v[1], newest);
	memset(v, 0, sizeof v);
	assert_int_equal(store_conversation_list(f->s, 2, collect_conv, v), 0);
	assert_int_equal(v[0], 2);
}

static void
test_transactions(void **state)
{
	struct fixture	*f = *state;
	struct contact	 c;
	char		*cause = NULL;
	int64_t		 id;

	assert_false(store_in_transaction(f->s));
	/* Commit with nothing open is a no-op. */
	assert_int_equal(store_commit(f->s, &cause), 0);

	assert_int_equal(store_begin(f->s), 0);
	assert_true(store_in_transaction(f->s));
	assert_int_equal(store_begin(f->s), 0);	/* already open */
	make_contact(f->s, "gone");
	store_rollback(f->s);
	assert_false(store_in_transaction(f->s));
	assert_int_equal(store_contact_find(f->s, "telegram", "", "gone", &c),
	    0);

	/* A write opens the transaction itself. */
	id = make_contact(f->s, "kept");
	assert_true(store_in_transaction(f->s));
	commit(f->s);
	assert_false(store_in_transaction(f->s));
	assert_true(store_last_commit_ms(f->s) >= 0.0);

	/* Written but never committed: lost on close. */
	make_contact(f->s, "uncommitted");
	reopen(f);
	assert_int_equal(store_contact_find(f->s, "telegram", "", "kept", &c),
	    1);
	assert_int_equal(c.id, id);
	contact_clear(&c);
	assert_int_equal(store_contact_find(f->s, "telegram", "",
	    "uncommitted", &c), 0);
}

static void
test_busy_is_an_error(void **state)
{
	struct fixture	*f = *state;
	struct contact	 c;
	sqlite3		*db;
	char		*cause = NULL;
	int64_t		 id;

	/* Another writer holds the lock for longer than the busy timeout. */
	store_close(f->s);
	assert_int_equal(store_open(f->path, 1, 50, &f->s, &cause), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(store_contact_ensure(f->s, "telegram", "", "u1",
	    NULL, 0, &id), -1);
	assert_false(store_in_transaction(f->s));
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	/* Once it lets go, writes work again. */
	id = make_contact(f->s, "u1");
	commit(f->s);
	assert_int_equal(store_contact_get(f->s, id, &c), 1);
	contact_clear(&c);
}

static void
test_contacts(void **state)
{
	struct fixture	*f = *state;
	struct contact	 c;
	int64_t		 id, id2;

	assert_int_equal(store_contact_ensure(f->s, "telegram", NULL, "u9",
	    "Ann", 500, &id), 0);
	assert_int_equal(store_contact_ensure(f->s, "telegram", "", "u9",
	    NULL, 600, &id2), 0);
	assert_int_equal(id, id2);
	assert_int_equal(store_contact_ensure(f->s, "telegram", "", "u9",
	    "Ann B", 700, &id2), 0);
	assert_int_equal(id, id2);
	assert_int_equal(store_contact_ensure(f->s, "telegram", "x", "u9",
	    NULL, 700, &id2), 0);
	assert_true(id != id2);

	assert_int_equal(store_contact_set_unreachable(f->s, id, "blocked"),
	    0);
	assert_int_equal(store_contact_find(f->s, "telegram", "", "u9", &c),
	    1);
	assert_int_equal(c.id, id);
	assert_string_equal(c.display_name, "Ann B");
	assert_string_equal(c.unreachable, "blocked");
	assert_string_equal(c.account, "");
	assert_int_equal(c.created_at, 500);
	contact_clear(&c);
	assert_int_equal(store_contact_set_unreachable(f->s, id, NULL), 0);
	assert_int_equal(store_contact_get(f->s, id, &c), 1);
	assert_null(c.unreachable);
	contact_clear(&c);
	assert_int_equal(store_contact_get(f->s, 424242, &c), 0);
	assert_int_equal(store_contact_set_unreachable(f->s, 424242, "x"), -1);
	commit(f->s);
}

static void
test_message_roundtrip(void **state)
{
	struct fixture		*f = *state;
	struct conversation	 c;
	struct message		 m, got;
	int64_t			 contact;

	contact = make_contact(f->s, "u1");
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat", 0, &c), 1);

	memset(&m, 0, sizeof m);
	m.conversation_id = c.id;
	m.contact_id = contact;
	m.channel = xstrdup("telegram");
	m.account = xstrdup("");
	m.conv_external = xstrdup("chat");
	m.sender_external = xstrdup("u1");
	m.sender_name = xstrdup("Ann");
	m.external_id = xstrdup("99");
	m.direction = MSG_IN;
	m.author = AUTHOR_CUSTOMER;
	m.text = xstrdup("我的订单 \"12345\" 在哪里？");
	m.value = xstrdup("order");
	m.attachments = xcalloc(2, sizeof *m.attachments);
	m.nattachments = 2;
	m.attachments[0].type = xstrdup("image");
	m.attachments[0].url = xstrdup("AgAD-file-id");
	m.attachments[0].mime = xstrdup("image/jpeg");
	m.attachments[0].size = 12345;
	m.attachments[1].type = xstrdup("location");
	m.attachments[1].size = -1;
	message_add_button(&m, "是", "yes");
	message_add_button(&m, "No / 否", NULL);
	m.channel_ts = 1700000000000LL;
	m.created_at = 1700000000500LL;
	m.raw = xstrdup("{\"update_id\":1}");
	m.status_reason = xstrdup("none");
	assert_int_equal(store_message_insert(f->s, &m), 1);
	commit(f->s);

	assert_int_equal(store_message_get(f->s, m.id, &got), 1);
	assert_int_equal(got.id, m.id);
	assert_int_equal(got.conversation_id, c.id);
	assert_int_equal(got.contact_id, contact);
	assert_string_equal(got.channel, "telegram");
	assert_string_equal(got.account, "");
	assert_string_equal(got.conv_external, "chat");
	assert_string_equal(got.sender_external, "u1");
	assert_string_equal(got.sender_name, "Ann");
	assert_string_equal(got.external_id, "99");
	assert_int_equal(got.direction, MSG_IN);
	assert_int_equal(got.author, AUTHOR_CUSTOMER);
	assert_string_equal(got.text, m.text);
	assert_string_equal(got.value, "order");
	assert_int_equal(got.nattachments, 2);
	assert_string_equal(got.attachments[0].type, "image");
	assert_string_equal(got.attachments[0].url, "AgAD-file-id");
	assert_null(got.attachments[0].name);
	assert_string_equal(got.attachments[0].mime, "image/jpeg");
	assert_int_equal(got.attachments[0].size, 12345);
	assert_string_equal(got.attachments[1].type, "location");
	assert_int_equal(got.attachments[1].size, -1);
	assert_int_equal(got.nbuttons, 2);
	assert_string_equal(got.buttons[0].title, "是");
	assert_string_equal(got.buttons[1].title, "No / 否");
	assert_null(got.buttons[1].value);
	assert_int_equal(got.seq, 0);
	assert_string_equal(got.status, "received");
	assert_string_equal(got.status_reason, "none");
	assert_null(got.remote_id);
	assert_int_equal(got.channel_ts, 1700000000000LL);
	assert_int_equal(got.created_at, 1700000000500LL);
	assert_string_equal(got.raw, m.raw);
	message_clear(&got);
	assert_int_equal(store_message_get(f->s, m.id + 1000, &got), 0);

	/* Status: the remote id stays when not given again. */
	assert_int_equal(store_message_set_status(f->s, m.id, "sent", NULL,
	    "r-1"), 0);
	assert_int_equal(store_message_set_status(f->s, m.id, "failed",
	    "403 blocked", NULL), 0);
	assert_int_equal(store_message_get(f->s, m.id, &got), 1);
	assert_string_equal(got.status, "failed");
	assert_string_equal(got.status_reason, "403 blocked");
	assert_string_equal(got.remote_id, "r-1");
	message_clear(&got);
	assert_int_equal(store_message_set_status(f->s, 777777, "sent", NULL,
	    NULL), -1);

	message_clear(&m);
	conversation_clear(&c);
	commit(f->s);
}

/* Collect message ids in call order. */
static int
collect_ids(void *arg, const struct message *m)
{
	int64_t	*v = arg;

	assert_true(v[0] < 8);
	v[1 + v[0]++] = m->id;
	return (0);
}

static void
test_message_by_conversation(void **state)
{
	struct fixture		*f = *state;
	struct conversation	 c;
	struct message		 m;
	int64_t			 contact, ids[3], v[9];
	int			 i;

	contact = make_contact(f->s, "u1");
	assert_int_equal(store_conversation_ensure(f->s, contact, "telegram",
	    "", "chat", 0, &c), 1);
	for (i = 0; i < 3; i++) {
		make_in(&m, "telegram", "", NULL, "hi");
		m.conversation_id = c.id;
		m.author = (i == 1) ? AUTHOR_SYSTEM : AUTHOR_CUSTOMER;
		assert_int_equal(store_message_insert(f->s, &m), 1);
		ids[i] = m.id;
		message_clear(&m);
	}
	memset(v, 0, sizeof v);
	assert_int_equal(store_message_by_conversation(f->s, c.id,
	    collect_ids, v), 0);
	assert_int_equal(v[0], 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(v[1 + i], ids[i]);
	memset(v, 0, sizeof v);
	assert_int_equal(store_message_by_conversation(f->s, c.id + 1,
	    collect_ids, v), 0);
	assert_int_equal(v[0], 0);

	assert_int_equal(store_event_add(f->s, c.id, "handoff",
	    "{\"reason\":\"human\"}", 0), 0);
	assert_int_equal(store_event_add(f->s, 0, "startup", NULL, 1), 0);
	assert_int_equal(store_event_add(f->s, c.id, "bad", "{not json", 0),
	    -1);
	commit(f->s);
	assert_int_equal(peek_int(f->path, "SELECT count(*) FROM events"), 2);
	conversation_clear(&c);
}

static void
test_json_roundtrip(void **state)
{
	struct button		 b[2], *bp = NULL;
	struct attachment	 a[2], *ap = NULL;
	size_t			 n = 99;
	char			*s;

	(void)state;
	b[0].title = (char *)"Track \"order\" \\ 查询";
	b[0].value = (char *)"track";
	b[1].title = (char *)"Human";
	b[1].value = NULL;
	s = buttons_to_json(b, 2);
	assert_int_equal(buttons_from_json(s, &bp, &n), 0);
	free(s);
	assert_int_equal(n, 2);
	assert_string_equal(bp[0].title, b[0].title);
	assert_string_equal(bp[0].value, "track");
	assert_string_equal(bp[1].title, "Human");
	assert_null(bp[1].value);
	free(bp[0].title);
	free(bp[0].value);
	free(bp[1].title);
	free(bp);

	s = buttons_to_json(NULL, 0);
	assert_string_equal(s, "[]");
	assert_int_equal(buttons_from_json(s, &bp, &n), 0);
	assert_int_equal(n, 0);
	assert_null(bp);
	free(s);
	assert_int_equal(buttons_from_json(NULL, &bp, &n), 0);
	assert_int_equal(n, 0);

	n = 5;
	assert_int_equal(buttons_from_json("{\"title\":\"x\"}", &bp, &n), -1);
	assert_int_equal(buttons_from_json("[{\"title\":3}]", &bp, &n), -1);
	assert_int_equal(buttons_from_json("[\"x\"]", &bp, &n), -1);
	assert_int_equal(buttons_from_json("[{", &bp, &n), -1);
	assert_int_equal(n, 5);	/* untouched on error */

	memset(a, 0, sizeof a);
	a[0].type = (char *)"file";
	a[0].url = (char *)"https://example.com/a b.pdf";
	a[0].name = (char *)"报告.pdf";
	a[0].mime = (char *)"application/pdf";
	a[0].size = 5000000000LL;
	a[1].type = (char *)"sticker";
	a[1].size = -1;
	s = attachments_to_json(a, 2);
	assert_int_equal(attachments_from_json(s, &ap, &n), 0);
	free(s);
	assert_int_equal(n, 2);
	assert_string_equal(ap[0].type, "file");
	assert_string_equal(ap[0].url, a[0].url);
	assert_string_equal(ap[0].name, a[0].name);
	assert_string_equal(ap[0].mime, a[0].mime);
	assert_int_equal(ap[0].size, 5000000000LL);
	assert_string_equal(ap[1].type, "sticker");
	assert_null(ap[1].url);
	assert_int_equal(ap[1].size, -1);
	free(ap[0].type);
	free(ap[0].url);
	free(ap[0].name);
	free(ap[0].mime);
	free(ap[1].type);
	free(ap);

	assert_int_equal(attachments_from_json("[{\"size\":\"big\"}]", &ap,
	    &n), -1);
	assert_int_equal(attachments_from_json("", &ap, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_message_copy(void **state)
{
	struct message	m, c;

	(void)state;
	make_in(&m, "websocket", "site", "e1", "hello");
	m.id = 5;
	m.conv_external = xstrdup("visitor");
	m.sender_name = xstrdup("Bob");
	m.status = xstrdup("received");
	m.raw = xstrdup("{}");
	m.seq = 3;
	message_add_button(&m, "A", "a");
	message_add_button(&m, "B", "b");
	m.attachments = xcalloc(1, sizeof *m.attachments);
	m.nattachments = 1;
	m.attachments[0].type = xstrdup("image");
	m.attachments[0].url = xstrdup("u");
	m.attachments[0].size = 10;

	message_copy(&c, &m);
	assert_ptr_not_equal(c.text, m.text);
	assert_ptr_not_equal(c.buttons, m.buttons);
	assert_ptr_not_equal(c.buttons[0].title, m.buttons[0].title);
	assert_ptr_not_equal(c.attachments, m.attachments);
	message_clear(&m);
	assert_null(m.text);
	assert_int_equal(m.nbuttons, 0);

	/* The copy survives the original (ASan would see a use after free). */
	assert_int_equal(c.id, 5);
	assert_int_equal(c.seq, 3);
	assert_string_equal(c.channel, "websocket");
	assert_string_equal(c.account, "site");
	assert_string_equal(c.external_id, "e1");
	assert_string_equal(c.text, "hello");
	assert_string_equal(c.conv_external, "visitor");
	assert_string_equal(c.sender_name, "Bob");
	assert_null(c.sender_external);
	assert_string_equal(c.status, "received");
	assert_string_equal(c.raw, "{}");
	assert_int_equal(c.nbuttons, 2);
	assert_string_equal(c.buttons[1].title, "B");
	assert_string_equal(c.buttons[1].value, "b");
	assert_int_equal(c.nattachments, 1);
	assert_string_equal(c.attachments[0].url, "u");
	assert_int_equal(c.attachments[0].size, 10);
	message_clear(&c);

	/* Copying an empty message gives an empty message. */
	memset(&m, 0, sizeof m);
	message_copy(&c, &m);
	assert_null(c.buttons);
	assert_null(c.attachments);
	message_clear(&c);
}

static void
test_names(void **state)
{
	int	i;

	(void)state;
	for (i = MSG_IN; i <= MSG_OUT; i++) {
		assert_int_equal(msg_direction_parse(msg_direction_name(
		    (enum msg_direction)i)), i);
	}
	for (i = AUTHOR_CUSTOMER; i <= AUTHOR_SYSTEM; i++) {
		assert_int_equal(msg_author_parse(msg_author_name(
		    (enum msg_author)i)), i);
	}
	assert_string_equal(msg_direction_name(MSG_OUT), "out");
	assert_string_equal(msg_author_name(AUTHOR_AGENT), "agent");
	assert_int_equal(msg_author_parse("robot"), -1);
	assert_int_equal(msg_direction_parse(NULL), -1);
	assert_true(now_ms() > 1600000000000LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_future_version_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_inbound,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_external_id_never_collides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_per_contact,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_by_seq,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbound_queue,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_sync,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation_ensure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_conversation_save_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation_list,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_is_an_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_contacts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_roundtrip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_by_conversation,
		    setup, teardown),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_message_copy),
		cmocka_unit_test(test_names),
	};

	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
