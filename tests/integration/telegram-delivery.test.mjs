/*
 * telegram-delivery.test.mjs: sending to Telegram when Telegram says no.
 *
 * Against the fake Bot API's scripted failures: a burst of 429s delays the
 * next send by retry_after and loses nothing; 500, an nginx 502 page, a
 * dropped connection and a time-out are retried with growing back-off
 * until the message is accepted once; 403 (blocked) and 400 fail the
 * message at once with Telegram's description, and 403 makes the contact
 * unreachable; a group that became a supergroup gets the message at its
 * new id, and so do later replies; with the default chat_interval the
 * fake's flood check (one message a second per private chat) is never
 * tripped, while two chats are served side by side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { deepMerge, metricValue, startKefud, storeQuery, storeQueryAsync,
    waitUntil } from '../lib/harness.mjs';
import { startFakeTelegram } from '../lib/fake-telegram.mjs';

const CHAT = 8679559480;
const CHAT2 = 7012345678;
const OLD_GROUP = -4001;
const SUPERGROUP = -1001234567890;
const QUESTION = 'Hello, how long does shipping take?';
const RETRY_BASE = 50;

async function setup(t, bot = {}, fakeOpts = {}) {
	const tg = await startFakeTelegram(fakeOpts);
	t.after(() => tg.close());
	const k = await startKefud(deepMerge({
		delivery: { retry_base: RETRY_BASE, retry_max: 500 },
		channels: { telegram: [tg.botConfig({ chat_interval: 50,
		    ...bot })] }
	}, {}), { t });
	await tg.waitForRequest((r) => r.method === 'getUpdates',
	    { what: 'kefud to poll' });
	return { tg, k };
}

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

/*
 * The same without blocking the event loop: the fake stamps request times
 * and a blocked loop would stamp them late.
 */
function sqlA(k, query) {
	return storeQueryAsync(k.settings.store.path, query);
}

/* Every message of the conversation of a stored message, oldest first. */
function convRows(k, externalId) {
	return sqlA(k, 'SELECT id, contact_id, direction, external_id, text, ' +
	    'status, status_reason, remote_id FROM messages WHERE ' +
	    'conversation_id IN (SELECT conversation_id FROM messages WHERE ' +
	    `channel = 'telegram' AND external_id = '${externalId}') ` +
	    'ORDER BY id');
}

function outs(rows) {
	return rows.filter((r) => r.direction === 'out');
}

/*
 * Wait until the message is stored and every reply in its conversation
 * is sent or failed; returns the conversation's rows.
 */
async function settle(k, externalId, timeout = 15000) {
	await waitUntil(async () => (await sqlA(k, 'SELECT id FROM messages ' +
	    `WHERE channel = 'telegram' AND external_id = '${externalId}'`))
	    .length === 1, { timeout, what: `${externalId} to be stored` });
	return waitUntil(async () => {
		const rows = await convRows(k, externalId);
		return rows.length > 0 && outs(rows).every((r) =>
		    r.status === 'sent' || r.status === 'failed') && rows;
	}, { timeout, what: `the replies to ${externalId} to be sent` });
}

/* A customer's message, queued; returns its external_id. */
function say(tg, from, text, chat) {
	const u = tg.queue(tg.textUpdate({ from, text, chat }));
	return `${u.message.chat.id}:${u.message.message_id}`;
}

async function metric(k, name, labels) {
	const m = await k.get('/metrics');
	return metricValue(m.body, name, labels) ?? 0;
}

function assertTokenHidden(k, tg) {
	assert.ok(!k.log().includes(tg.token.split(':')[1]),
	    'the token is not in the log');
}

test('a burst of 429s: each send waits retry_after, nothing is lost',
    async (t) => {
	const { tg, k } = await setup(t);
	tg.failNext('sendMessage', 2, { code: 429, retryAfter: 1 });
	const id = say(tg, CHAT, QUESTION);
	const rows = await settle(k, id);

	const sends = tg.calls('sendMessage');
	assert.deepEqual(sends.slice(0, 2).map((r) => r.status), [429, 429]);
	for (const r of sends.filter((x) => x.status === 429)) {
		const next = sends.find((x) => x.i > r.i);
		assert.ok(next, 'the refused message is sent again');
		const gap = next.time - r.doneTime;
		assert.ok(gap >= 995, `the next sendMessage came ${gap} ms ` +
		    'after a 429 with retry_after 1');
	}
	assert.deepEqual(tg.violations, [], 'no send before retry_after');
	const out = outs(rows);
	assert.ok(out.length >= 2);
	assert.deepEqual(out.map((r) => r.status), out.map(() => 'sent'));
	assert.deepEqual(tg.sentTo(CHAT).map((m) => m.text), out.map((r) =>
	    r.text), 'every reply once, in order');
	assert.equal(await metric(k, 'kefu_telegram_api_errors_total',
	    { bot: 'shop', method: 'sendMessage', code: '429' }), 2);
	assertTokenHidden(k, tg);
});

test('500, 502, a dropped connection and a time-out are retried with ' +
    'back-off', async (t) => {
	const { tg, k } = await setup(t, { timeout: 1000 });
	const scripts = [
		tg.failNext('sendMessage', 1, { code: 500 }),
		tg.failNext('sendMessage', 1, { code: 502 }),
		/*
		 * Twice: curl silently retries a request whose reused
		 * connection died before any answer, on a new one.
		 */
		tg.failNext('sendMessage', 2, { network: true }),
		tg.failNext('sendMessage', 1, { delayMs: 3000 })
	];
	const id = say(tg, CHAT, 'hi');
	const rows = await settle(k, id);

	const sends = tg.calls('sendMessage');
	assert.deepEqual(scripts.map((f) => f.remaining), [0, 0, 0, 0],
	    `every failure was met: ${tg.describe()}`);
	assert.deepEqual(sends.slice(0, 2).map((r) => r.status), [500, 502]);
	assert.equal(sends.at(-1).status, 200);
	assert.equal(sends.filter((r) => r.status === 200).length, 1);
	/*
	 * Back-off, from the failed answer to the next try: retry_base,
	 * then twice that.
	 */
	const gaps = [sends[1].time - sends[0].doneTime,
	    sends[2].time - sends[1].doneTime];
	assert.ok(gaps[0] >= RETRY_BASE - 2, `retried after ${gaps[0]} ms, ` +
	    'less than retry_base');
	assert.ok(gaps[1] >= 2 * RETRY_BASE - 2, `the back-off grows ` +
	    `(${gaps} ms)`);
	const slow = sends.find((r) => r.i === scripts[3].hits[0]);
	assert.equal(slow.aborted, true, 'kefud gave up on the slow answer');
	const after = sends.find((r) => r.i > slow.i);
	assert.ok(after.time - slow.time >= 1000, 'after its time-out');

	assert.equal(tg.sentTo(CHAT).length, 1, 'accepted once');
	const out = outs(rows);
	assert.equal(out.length, 1);
	assert.equal(out[0].status, 'sent');
	assert.equal(out[0].remote_id, String(tg.sentTo(CHAT)[0].message_id));
	assert.ok(await metric(k, 'kefu_delivery_failures_total',
	    { channel: 'telegram', kind: 'temporary' }) >= 4);
	assert.ok(await metric(k, 'kefu_telegram_api_errors_total',
	    { bot: 'shop', method: 'sendMessage', code: '500' }) >= 1);
	assert.ok(await metric(k, 'kefu_telegram_api_errors_total',
	    { bot: 'shop', method: 'sendMessage', code: '502' }) >= 1);
	assertTokenHidden(k, tg);
});

test('403 and 400 fail the message at once, with Telegram\'s reason',
    async (t) => {
	const { tg, k } = await setup(t);
	tg.failNext('sendMessage', 1, { code: 403 }, { chat_id: CHAT });
	tg.failNext('sendMessage', 1, { code: 400,
	    description: 'Bad Request: chat not found' }, { chat_id: CHAT2 });
	const blocked = settle(k, say(tg, CHAT, 'hi'));
	const lost = settle(k, say(tg, CHAT2, 'hi'));
	const [rows1, rows2] = await Promise.all([blocked, lost]);

	const check = (rows, chat, reason) => {
		const out = outs(rows);
		assert.equal(out.length, 1);
		assert.equal(out[0].status, 'failed');
		assert.ok((out[0].status_reason ?? '').includes(reason),
		    `status_reason ${JSON.stringify(out[0].status_reason)} ` +
		    `has Telegram's description`);
		assert.deepEqual(sql(k, 'SELECT id FROM outbox WHERE ' +
		    `message_id = ${out[0].id}`), [], 'nothing left to retry');
		assert.equal(tg.calls('sendMessage', (r) => r.params.chat_id ===
		    chat).length, 1, 'tried once');
		assert.equal(tg.sentTo(chat).length, 0);
		return sql(k, 'SELECT unreachable FROM contacts WHERE id = ' +
		    `${out[0].contact_id}`)[0].unreachable;
	};
	assert.notEqual(check(rows1, CHAT, 'bot was blocked by the user'),
	    null, 'a 403 makes the contact unreachable');
	assert.equal(check(rows2, CHAT2, 'Bad Request: chat not found'), null,
	    'a 400 does not');

	/* Other chats are served as before. */
	const ok = say(tg, 5550003, 'hi');
	await settle(k, ok);
	assert.equal(tg.sentTo(5550003).length, 1);
	assert.ok(await metric(k, 'kefu_delivery_failures_total',
	    { channel: 'telegram', kind: 'permanent' }) >= 2);
	assert.ok(await metric(k, 'kefu_telegram_api_errors_total',
	    { bot: 'shop', method: 'sendMessage', code: '403' }) >= 1);
	assertTokenHidden(k, tg);
});

test('a group that became a supergroup gets its replies at the new id',
    async (t) => {
	const { tg, k } = await setup(t, { groups: true,
	    group_per_minute: 1000 });
	tg.migrateChat(OLD_GROUP, SUPERGROUP);
	const dave = tg.user(5550002, { first_name: 'Dave' });
	const u = tg.queue(tg.mentionUpdate({ from: dave, chat: OLD_GROUP,
	    text: 'how long does shipping take?' }));
	const rows = await settle(k, `${OLD_GROUP}:${u.message.message_id}`);
	const out = outs(rows);
	assert.ok(out.length >= 1);
	assert.deepEqual(out.map((r) => r.status), out.map(() => 'sent'));
	const old = tg.calls('sendMessage', (r) => r.params.chat_id ===
	    OLD_GROUP);
	assert.equal(old.length, 1, 'one try at the old id, then the new one');
	assert.equal(old[0].error.parameters.migrate_to_chat_id, SUPERGROUP);
	assert.deepEqual(tg.sentTo(SUPERGROUP).map((m) => m.text),
	    out.map((r) => r.text), 'every reply, once, at the new id');

	/* Later, in the supergroup: answered there, the old id is left. */
	const later = tg.queue(tg.mentionUpdate({ from: dave,
	    chat: SUPERGROUP, text: 'How do I return an item?' }));
	const n = tg.sentTo(SUPERGROUP).length;
	await settle(k, `${SUPERGROUP}:` +
	    `${later.message.message_id}`);
	await waitUntil(() => tg.sentTo(SUPERGROUP).length > n, {
		what: 'the answer in the supergroup'
	});
	assert.equal(tg.calls('sendMessage', (r) => r.params.chat_id ===
	    OLD_GROUP).length, 1);
	assertTokenHidden(k, tg);
});

test('the default chat_interval keeps a second between messages to a ' +
    'chat, chats side by side', async (t) => {
	const { tg, k } = await setup(t, { chat_interval: undefined },
	    { floodCheck: true });
	const a = say(tg, CHAT, QUESTION);
	const b = say(tg, CHAT2, QUESTION);
	const [ra, rb] = await Promise.all([settle(k, a),
	    settle(k, b)]);
	const times = (chat) => tg.calls('sendMessage', (r) =>
	    r.params.chat_id === chat).map((r) => `${r.time}:${r.status}`);
	assert.deepEqual(tg.floodHits, [], 'the flood check never tripped; ' +
	    `sends (arrival ms:status): ${times(CHAT)} / ${times(CHAT2)}`);
	assert.deepEqual(tg.violations, []);
	for (const [chat, rows] of [[CHAT, ra], [CHAT2, rb]]) {
		const sent = tg.sentTo(chat);
		assert.ok(sent.length >= 2);
		assert.deepEqual(sent.map((m) => m.text), outs(rows).map((r) =>
		    r.text));
		/* Arrival times jitter by some tens of ms on a busy host. */
		for (let i = 1; i < sent.length; i++) {
			const gap = sent[i].time - sent[i - 1].time;
			assert.ok(gap >= 900, `messages to ${chat} ${gap} ms ` +
			    'apart');
		}
	}
	assert.ok(tg.sentTo(CHAT2)[0].time < tg.sentTo(CHAT).at(-1).time &&
	    tg.sentTo(CHAT)[0].time < tg.sentTo(CHAT2).at(-1).time,
	    'one chat does not wait for the other');
	assertTokenHidden(k, tg);
});
