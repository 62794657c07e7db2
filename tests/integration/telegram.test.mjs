/*
 * telegram.test.mjs: the Telegram channel end to end, against the fake
 * Bot API (tests/lib/fake-telegram.mjs) and a real kefud.
 *
 * Poll mode: getMe, then getUpdates with the configured timeout and
 * allowed_updates; a customer's question is welcomed and answered from the
 * demo knowledge base, the follow-up's buttons arrive as an inline
 * keyboard, pressing them is answered (answerCallbackQuery) and drives the
 * dialogue to the rating and the end; the offset confirms each batch only
 * after it is stored.  Webhook mode: no polling; a missing or wrong secret
 * gets 401/403, bad JSON 400, an unknown bot 404, and nothing is stored; a
 * good update gets 200 only once it is committed (queued, or already
 * taken), a duplicate 200 and no second reply.  Then the update kinds: edits (stored, not answered),
 * my_chat_member (the contact becomes unreachable and reachable again),
 * update types kefu does not know (skipped and logged, later ones still
 * processed) and group messages (ignored, or answered only when
 * addressed).  kefuctl telegram registers, shows and removes the webhook
 * with the configured URL, secret and update types.  In every test the
 * token stays out of the log and of every path kefud serves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { deepMerge, findKefud, freePort, metricValue, startKefud, storeQuery,
    storeQueryAsync, topSrcdir, waitUntil } from '../lib/harness.mjs';
import { startFakeTelegram, updateType } from '../lib/fake-telegram.mjs';

const CHAT = 8679559480;		/* beyond 32 bits */
const GROUP = -1001234567890;
const SECRET = 'secret-abc';
const DEFAULT_UPDATES = ['message', 'edited_message', 'callback_query',
    'my_chat_member'];

/* A fake Bot API and a kefud with one bot ("shop") on it. */
async function setup(t, bot = {}, overrides = {}, fakeOpts = {}) {
	const tg = await startFakeTelegram(fakeOpts);
	t.after(() => tg.close());
	if (fakeOpts.before)
		fakeOpts.before(tg);
	const k = await startKefud(deepMerge({
		delivery: { retry_base: 50, retry_max: 500 },
		channels: { telegram: [tg.botConfig({ chat_interval: 50,
		    ...bot })] }
	}, overrides), { t });
	return { tg, k };
}

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

/* The same, leaving the event loop (and the fake's clock) running. */
function sqlA(k, query) {
	return storeQueryAsync(k.settings.store.path, query);
}

/* Every message of the conversations of a chat, oldest first. */
function chatRows(k, chat) {
	return sqlA(k, 'SELECT id, conversation_id, contact_id, channel, ' +
	    'account, direction, author, external_id, conv_external, ' +
	    'sender_external, text, value, status, status_reason, ' +
	    'remote_id, buttons FROM messages WHERE conversation_id IN ' +
	    '(SELECT conversation_id FROM messages WHERE channel = ' +
	    `'telegram' AND conv_external = '${chat}') ORDER BY id`);
}

/* The stored inbound message with this external_id, or undefined. */
async function inRow(k, externalId) {
	return (await sqlA(k, 'SELECT * FROM messages WHERE channel = ' +
	    '\'telegram\' AND direction = \'in\' AND external_id = ' +
	    `'${externalId}'`))[0];
}

/* Every message of the conversation of a stored message, oldest first. */
function convRows(k, externalId) {
	return sqlA(k, 'SELECT id, conversation_id, contact_id, channel, ' +
	    'account, direction, author, external_id, conv_external, ' +
	    'sender_external, text, value, status, status_reason, ' +
	    'remote_id, buttons FROM messages WHERE conversation_id IN ' +
	    '(SELECT conversation_id FROM messages WHERE channel = ' +
	    `'telegram' AND external_id = '${externalId}') ORDER BY id`);
}

/*
 * Wait until the inbound message externalId is stored and every reply
 * in its conversation has been sent (or has failed); the replies are
 * committed with the message, so then the rows are final.  Returns them.
 */
async function settle(k, externalId, timeout = 10000) {
	await waitUntil(async () => await inRow(k, externalId) !== undefined, {
		timeout, what: `message ${externalId} to be stored`
	});
	return waitUntil(async () => {
		const rows = await convRows(k, externalId);
		return rows.length > 0 && outs(rows).every((r) =>
		    r.status === 'sent' || r.status === 'failed') && rows;
	}, { timeout, what: `the replies to ${externalId} to be sent` });
}

/* Wait for a getUpdates whose offset confirms update id. */
function confirmed(tg, id) {
	return tg.waitForRequest((r) => r.method === 'getUpdates' &&
	    Number(r.params.offset) > id, {
		timeout: 10000, what: `a getUpdates confirming update ${id}`
	});
}

/* The outbound rows of a set of rows. */
function outs(rows) {
	return rows.filter((r) => r.direction === 'out');
}

/* The callback_data of an inline keyboard, row by row flattened. */
function buttonData(m) {
	return (m.reply_markup?.inline_keyboard ?? []).flat().map((b) =>
	    [b.text, b.callback_data]);
}

/*
 * The token (and other secrets) are nowhere in the log, nowhere in what
 * kefud serves, and not a path it answers.
 */
async function assertSecretsHidden(k, tg, extra = []) {
	const secrets = [tg.token, tg.token.split(':')[1], ...extra];
	const log = k.log();
	for (const s of secrets)
		assert.ok(!log.includes(s), `the log contains a secret (${s})`);
	for (const p of ['/', '/healthz', '/metrics', '/telegram/shop']) {
		const r = await k.get(p);
		for (const s of secrets) {
			assert.ok(!r.body.includes(s), `GET ${p} shows a ` +
			    `secret (${s})`);
		}
	}
	for (const p of [`/telegram/${tg.token}`, `/bot${tg.token}/getMe`,
	    `/telegram/${encodeURIComponent(tg.token)}`]) {
		const r = await fetch(k.url + p, { method: 'POST',
		    headers: { 'Content-Type': 'application/json',
		    'X-Telegram-Bot-Api-Secret-Token': SECRET },
		    body: '{"update_id":1}' });
		assert.ok(r.status >= 400 && r.status < 500, `POST ` +
		    `${p.replace(tg.token, 'TOKEN')} is not served ` +
		    `(${r.status})`);
	}
}

async function metrics(k) {
	const m = await k.get('/metrics');
	assert.equal(m.status, 200);
	return m.body;
}

/* The demo knowledge base's entry about returns: question, answer. */
function returnsEntry() {
	const file = path.join(topSrcdir, 'etc', 'demo', 'kb', 'faq-en.md');
	const lines = fs.readFileSync(file, 'utf8').split('\n');
	const i = lines.findIndex((l) => /^## How do I return an item/.test(l));
	assert.ok(i >= 0, `${file} has an entry about returning an item`);
	const answer = lines.slice(i + 1).find((l) => l.trim() !== '' &&
	    !/^(intent|tags|lang):/.test(l));
	return { question: lines[i].slice(3).trim(), answer };
}

test('poll mode: a conversation from the first message to the rating',
    async (t) => {
	const { tg, k } = await setup(t);
	const first = await tg.waitForRequest((r) => r.method === 'getUpdates',
	    { what: 'the first getUpdates' });
	const me = tg.calls('getMe');
	assert.ok(me.length >= 1 && me[0].i < first.i,
	    'getMe comes before getUpdates');
	assert.equal(me[0].status, 200);
	assert.equal(first.httpMethod, 'POST');
	assert.match(first.contentType ?? '', /^application\/json/,
	    'getUpdates sends JSON');
	assert.equal(first.params.timeout, 1, 'timeout is poll_timeout');
	assert.deepEqual(first.params.allowed_updates, DEFAULT_UPDATES);

	/* A question: welcome, the answer, and "did that help?" buttons. */
	const alice = tg.user(CHAT, { first_name: 'Alice',
	    language_code: 'en' });
	const q = tg.queue(tg.textUpdate({ from: alice,
	    text: 'Hello, how long does shipping take?' }));
	const qid = `${CHAT}:${q.message.message_id}`;
	let rows = await settle(k, qid);

	const inMsg = rows.find((r) => r.external_id === qid);
	assert.equal(inMsg.channel, 'telegram');
	assert.equal(inMsg.account, 'shop');
	assert.equal(inMsg.direction, 'in');
	assert.equal(inMsg.conv_external, String(CHAT));
	assert.equal(inMsg.sender_external, String(CHAT));
	assert.equal(inMsg.text, 'Hello, how long does shipping take?');

	let out = outs(rows);
	assert.ok(out.length >= 2, 'the question gets replies');
	let sent = tg.sentTo(CHAT);
	assert.deepEqual(out.map((r) => r.status), out.map(() => 'sent'));
	assert.deepEqual(sent.map((m) => m.text), out.map((r) => r.text),
	    'Telegram got the stored replies, in order, once each');
	assert.deepEqual(out.map((r) => r.remote_id), sent.map((m) =>
	    String(m.message_id)), 'remote_id is Telegram\'s message_id');
	assert.ok(tg.calls('sendMessage').every((r) => r.params.chat_id ===
	    CHAT), 'every reply goes to the chat, id intact');
	assert.match(sent[0].text, /Alice/, 'the welcome uses the name');
	assert.ok(sent.some((m) => /Standard delivery then takes 2-4 days/
	    .test(m.text)), 'the answer from the knowledge base');
	const followUp = sent.at(-1);
	assert.deepEqual(buttonData(followUp), [['Yes, thanks', 'yes'],
	    ['No', 'no']], 'quick replies as an inline keyboard');

	/* "Yes, thanks": the press is answered; the rating is asked. */
	const before = sent.length;
	const yes = tg.queue(tg.callbackUpdate({ from: alice,
	    message: followUp, data: 'yes' }));
	const cbId = yes.callback_query.id;
	const ans = await tg.waitForRequest((r) => r.method ===
	    'answerCallbackQuery' && r.params.callback_query_id === cbId,
	    { done: true, what: 'answerCallbackQuery for the press' });
	assert.equal(ans.status, 200);
	rows = await settle(k, `cb:${cbId}`);
	const press = rows.find((r) => r.external_id === `cb:${cbId}`);
	assert.equal(press.direction, 'in');
	assert.equal(press.sender_external, String(CHAT));
	sent = tg.sentTo(CHAT);
	assert.equal(sent.length, outs(rows).length);
	const csat = sent.slice(before).find((m) => m.reply_markup);
	assert.ok(csat, 'the rating question has buttons');
	assert.match(csat.text, /from 1 \(poor\) to 5 \(excellent\)/);
	assert.deepEqual(buttonData(csat), ['1', '2', '3', '4', '5'].map(
	    (v) => [v, v]));

	/* 5 stars: thanks, and the conversation is resolved. */
	const five = tg.queue(tg.callbackUpdate({ from: alice, message: csat,
	    data: '5' }));
	rows = await settle(k, `cb:${five.callback_query.id}`);
	await tg.waitForRequest((r) => r.method === 'answerCallbackQuery' &&
	    r.params.callback_query_id === five.callback_query.id,
	    { done: true });
	sent = tg.sentTo(CHAT);
	assert.match(sent.at(-1).text, /Thank you for your feedback/);
	const conv = sql(k, 'SELECT status FROM conversations WHERE id = ' +
	    `${rows[0].conversation_id}`)[0];
	assert.equal(conv.status, 'resolved');

	/* Telegram was told, after the commit, that all of it arrived. */
	await confirmed(tg, five.update_id);
	assert.equal(tg.updates.length, 0, 'nothing left unconfirmed');
	for (const r of tg.calls('getUpdates')) {
		assert.deepEqual(r.params.allowed_updates, DEFAULT_UPDATES);
		assert.equal(r.params.timeout, 1);
	}
	assert.deepEqual(tg.calls('sendMessage').filter((r) => r.status !==
	    200), [], 'no send was refused');

	const m = await metrics(k);
	const num = (name, labels) => metricValue(m, name, labels) ?? 0;
	assert.ok(num('kefu_messages_in_total', { channel: 'telegram' }) >= 3,
	    'kefu_messages_in_total{channel="telegram"} counts the ' +
	    'message and both presses');
	assert.equal(num('kefu_messages_out_total', { channel: 'telegram' }),
	    sent.length);
	assert.ok(num('kefu_telegram_updates_total', { bot: 'shop',
	    type: 'message' }) >= 1);
	assert.ok(num('kefu_telegram_updates_total', { bot: 'shop',
	    type: 'callback_query' }) >= 2);
	assert.ok(!k.log().includes('how long does shipping take'),
	    'the customer\'s text is not logged');
	await assertSecretsHidden(k, tg);
});

/*
 * Webhook mode, on the main listener or on the webhook listener
 * (http.webhook_listen, libmicrohttpd): the same answers either way.
 */
async function webhookMode(t, viaHooks) {
	const hooksPort = viaHooks ? await freePort() : 0;
	const { tg, k } = await setup(t, {
		mode: 'webhook',
		webhook_secret: SECRET,
		webhook_url: 'https://example.test/telegram/shop'
	}, viaHooks ? {
		http: { webhook_listen: `127.0.0.1:${hooksPort}` }
	} : {});
	const base = viaHooks ? `http://127.0.0.1:${hooksPort}` : k.url;
	const hook = `${base}/telegram/shop`;
	const bob = tg.user(CHAT, { first_name: 'Bob' });
	const stored = () => sql(k, 'SELECT count(*) AS n FROM messages ' +
	    'WHERE channel = \'telegram\'')[0].n;

	let r = await tg.pushWebhook(hook, tg.textUpdate({ from: bob,
	    text: 'hi' }), { secret: null });
	assert.equal(r.status, 401, 'no secret: 401');
	r = await tg.pushWebhook(hook, tg.textUpdate({ from: bob,
	    text: 'hi' }), { secret: 'not-the-secret' });
	assert.equal(r.status, 403, 'a wrong secret: 403');
	r = await tg.pushWebhook(hook, tg.textUpdate({ from: bob,
	    text: 'hi' }), { secret: `${SECRET}x` });
	assert.equal(r.status, 403, 'a longer secret: 403');
	r = await tg.pushWebhook(hook, null, { secret: SECRET,
	    body: '{"update_id": 5, "message": {' });
	assert.equal(r.status, 400, 'malformed JSON: 400');
	r = await tg.pushWebhook(`${base}/telegram/nobody`,
	    tg.textUpdate({ from: bob, text: 'hi' }), { secret: SECRET });
	assert.equal(r.status, 404, 'an unknown bot: 404');
	assert.equal(stored(), 0, 'nothing refused was stored');

	/* A greeting: durable by the 200, then taken and welcomed. */
	const hi = tg.textUpdate({ from: bob, text: 'hi' });
	r = await tg.pushWebhook(hook, hi, { secret: SECRET });
	assert.equal(r.status, 200);
	const hid = `${CHAT}:${hi.message.message_id}`;
	const queued = (await sqlA(k, 'SELECT count(*) AS n FROM ' +
	    `inbound_queue WHERE key = '${hi.update_id}'`))[0].n;
	assert.ok(queued === 1 || await inRow(k, hid),
	    'stored (queued or taken) by the time of the 200');
	await waitUntil(async () => await inRow(k, hid) &&
	    outs(await chatRows(k, CHAT)).length >= 1, {
		what: 'the greeting to be taken and welcomed'
	});
	const outNow = outs(await chatRows(k, CHAT)).length;
	let rows = await settle(k, hid);
	assert.equal(outs(rows).length, outNow);
	await waitUntil(() => tg.sentTo(CHAT).length >= outNow, {
		what: 'the welcome to reach Telegram'
	});
	assert.match(tg.sentTo(CHAT)[0].text, /Kefu Demo Shop/);

	/* Telegram re-sends it (it did not see our 200): nothing new. */
	r = await tg.pushWebhook(hook, hi, { secret: SECRET });
	assert.equal(r.status, 200, 'a duplicate is acknowledged');
	rows = await chatRows(k, CHAT);
	assert.equal(rows.filter((x) => x.external_id === hid).length, 1);
	assert.equal(outs(rows).length, outNow, 'and not answered again');

	/* A question from the knowledge base. */
	const entry = returnsEntry();
	const ask = tg.textUpdate({ from: bob, text: entry.question });
	r = await tg.pushWebhook(hook, ask, { secret: SECRET });
	assert.equal(r.status, 200);
	rows = await settle(k, `${CHAT}:${ask.message.message_id}`);
	await waitUntil(() => tg.sentTo(CHAT).length === outs(rows).length, {
		what: 'every reply to reach Telegram'
	});
	const head = entry.answer.slice(0, 40);
	assert.ok(tg.sentTo(CHAT).some((m) => m.text.includes(head)),
	    `an answer quotes the FAQ (${JSON.stringify(head)})`);
	assert.deepEqual(tg.sentTo(CHAT).map((m) => m.text), outs(rows).map(
	    (x) => x.text), 'each reply once, in order');

	/* "No" to "did that help?", then the offered person. */
	const press = async (message, data) => {
		const u = tg.callbackUpdate({ from: bob, message, data });
		const n = tg.sentTo(CHAT).length;
		const res = await tg.pushWebhook(hook, u, { secret: SECRET });
		assert.equal(res.status, 200);
		await tg.waitForRequest((x) => x.method ===
		    'answerCallbackQuery' && x.params.callback_query_id ===
		    u.callback_query.id, { done: true,
		    what: `the press on ${data} to be answered` });
		const conv = await settle(k, `cb:${u.callback_query.id}`);
		await waitUntil(async () => tg.sentTo(CHAT).length === outs(
		    await chatRows(k, CHAT)).length, { what: 'the replies' });
		return { conv, replies: tg.sentTo(CHAT).slice(n) };
	};
	const followUp = tg.sentTo(CHAT).at(-1);
	assert.deepEqual(buttonData(followUp).map((b) => b[1]), ['yes', 'no']);
	const offer = await press(followUp, 'no');
	const offered = offer.replies.find((x) => x.reply_markup);
	assert.ok(offered, 'the offer has buttons');
	assert.ok(buttonData(offered).some((b) => b[1] === 'human'),
	    `a "human" button: ${JSON.stringify(buttonData(offered))}`);
	const human = await press(offered, 'human');
	assert.ok(human.replies.length >= 1, 'the handoff is announced');
	const conv = sql(k, 'SELECT status FROM conversations WHERE id = ' +
	    `${human.conv[0].conversation_id}`)[0];
	assert.equal(conv.status, 'pending', 'the conversation waits for a ' +
	    'person');

	assert.equal(tg.calls('getUpdates').length, 0, 'no polling');
	assert.ok(tg.calls('getMe').length >= 1, 'getMe at start');
	const m = await metrics(k);
	assert.ok((metricValue(m, 'kefu_messages_in_total',
	    { channel: 'telegram' }) ?? 0) >= 2);
	await assertSecretsHidden(k, tg, [SECRET]);
}

test('webhook mode: the secret is checked, 200 only once it is durable',
    (t) => webhookMode(t, false));

test('webhook mode on the webhook listener (http.webhook_listen): the ' +
    'same', (t) => webhookMode(t, true));

test('unknown update types are skipped; edits are stored, not answered; ' +
    'blocking and unblocking', async (t) => {
	const alice = { id: CHAT, is_bot: false, first_name: 'Alice',
	    language_code: 'en' };
	let hi;
	/* Queued before kefud polls: Telegram sends them whatever it asks. */
	const { tg, k } = await setup(t, {}, {}, {
		before: (fake) => {
			hi = fake.textUpdate({ from: alice, text: 'hi' });
			fake.queue([
			    { some_future_update: { id: 'x1', from: alice } },
			    { poll: { id: '5', question: 'Lunch?', options: [
			    { text: 'yes', voter_count: 1 }], is_closed: false,
			    total_voter_count: 1 } },
			    hi]);
			assert.deepEqual(fake.updates.map(updateType),
			    ['some_future_update', 'poll', 'message']);
		}
	});
	const hid = `${CHAT}:${hi.message.message_id}`;
	let rows = await settle(k, hid);
	await confirmed(tg, hi.update_id);
	assert.match(k.log(), /some_future_update/,
	    'the unknown update is logged');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    'channel = \'telegram\' AND direction = \'in\'')[0].n, 1,
	    'only the message is stored');
	const replies = outs(rows).length;
	assert.ok(replies >= 1, 'the message after them is answered');
	await waitUntil(() => tg.sentTo(CHAT).length === replies);

	/* An edit: stored with its own key, and no reply. */
	const edit = tg.queue(tg.editUpdate(hi.message, 'hello again',
	    1790000000));
	const eid = `${CHAT}:${hi.message.message_id}:edit:1790000000`;
	rows = await settle(k, eid);
	await confirmed(tg, edit.update_id);
	const e = rows.find((r) => r.external_id === eid);
	assert.equal(e.direction, 'in');
	assert.equal(e.text, 'hello again');
	assert.equal(outs(rows).length, replies, 'an edit gets no reply');
	assert.equal(tg.sentTo(CHAT).length, replies);

	/* The user blocks the bot, then unblocks it. */
	const unreachable = async () => (await sqlA(k, 'SELECT unreachable ' +
	    `FROM contacts WHERE id = ${rows[0].contact_id}`))[0].unreachable;
	assert.equal(await unreachable(), null);
	tg.queue(tg.memberUpdate({ from: alice, oldStatus: 'member',
	    newStatus: 'kicked' }));
	await waitUntil(async () => await unreachable() !== null, {
		what: 'the contact to be marked unreachable'
	});
	const back = tg.queue(tg.memberUpdate({ from: alice,
	    oldStatus: 'kicked', newStatus: 'member' }));
	await waitUntil(async () => await unreachable() === null, {
		what: 'the contact to be reachable again'
	});
	await confirmed(tg, back.update_id);
	assert.equal(tg.sentTo(CHAT).length, replies,
	    'membership changes get no reply');

	const m = await metrics(k);
	const num = (type) => metricValue(m, 'kefu_telegram_updates_total',
	    { bot: 'shop', type }) ?? 0;
	assert.ok(num('message') >= 1);
	assert.ok(num('edited_message') >= 1);
	assert.ok(num('my_chat_member') >= 2);
	await assertSecretsHidden(k, tg);
});

test('groups = false: group messages are ignored', async (t) => {
	const { tg, k } = await setup(t);
	await tg.waitForRequest((r) => r.method === 'getUpdates');
	const carol = tg.user(5550001, { first_name: 'Carol' });
	const g1 = tg.mentionUpdate({ from: carol, chat: GROUP,
	    text: 'how long does shipping take?' });
	const g2 = tg.textUpdate({ from: carol, chat: GROUP,
	    text: 'hello everyone' });
	const dm = tg.textUpdate({ from: CHAT, text: 'hi' });
	tg.queue([g1, g2, dm]);
	await settle(k, `${CHAT}:${dm.message.message_id}`);
	await confirmed(tg, dm.update_id);
	assert.deepEqual(sql(k, 'SELECT id FROM messages WHERE ' +
	    `conv_external = '${GROUP}'`), [], 'no group message is stored');
	assert.equal(tg.calls('sendMessage', (r) => r.params.chat_id ===
	    GROUP).length, 0, 'nothing is sent to the group');
	await waitUntil(() => tg.sentTo(CHAT).length >= 1, {
		what: 'the private chat to be answered'
	});
	await assertSecretsHidden(k, tg);
});

test('groups = true: answered only when mentioned or replied to',
    async (t) => {
	const { tg, k } = await setup(t, { groups: true,
	    group_per_minute: 1000 });
	await tg.waitForRequest((r) => r.method === 'getUpdates');
	const carol = tg.user(5550001, { first_name: 'Carol' });
	const dave = tg.user(5550002, { first_name: 'Dave' });

	/* Not addressed to the bot: no answer. */
	const chatter = tg.queue(tg.textUpdate({ from: carol, chat: GROUP,
	    text: 'how long does shipping take?' }));
	await confirmed(tg, chatter.update_id);
	const sync = tg.queue(tg.textUpdate({ from: CHAT, text: 'hi' }));
	await settle(k, `${CHAT}:${sync.message.message_id}`);
	await confirmed(tg, sync.update_id);
	assert.equal(tg.calls('sendMessage', (r) => r.params.chat_id ===
	    GROUP).length, 0, 'chatter in the group gets no answer');

	/* A mention: answered in the group. */
	const mention = tg.queue(tg.mentionUpdate({ from: dave, chat: GROUP,
	    text: 'how long does shipping take?' }));
	const mid = `${GROUP}:${mention.message.message_id}`;
	const rows = await settle(k, mid);
	const row = rows.find((r) => r.external_id === mid);
	assert.equal(row.conv_external, String(GROUP));
	assert.equal(row.sender_external, String(dave.id));
	const n = outs(rows.filter((r) => r.conversation_id ===
	    row.conversation_id)).length;
	assert.ok(n >= 1, 'the mention is answered');
	await waitUntil(() => tg.sentTo(GROUP).length >= n, {
		what: 'the answer in the group'
	});
	assert.ok(tg.sentTo(GROUP).some((m) =>
	    /Standard delivery then takes 2-4 days/.test(m.text)),
	    `the answer from the knowledge base; got ` +
	    JSON.stringify(tg.sentTo(GROUP).map((m) => m.text)));
	assert.ok(tg.calls('sendMessage', (r) => r.params.chat_id === GROUP)
	    .every((r) => r.status === 200));

	/* A reply to the bot's message, without a mention: answered. */
	const before = tg.sentTo(GROUP).length;
	const reply = tg.queue(tg.replyUpdate({ from: dave, chat: GROUP,
	    text: 'How do I return an item?', to: tg.sentTo(GROUP).at(-1) }));
	await settle(k, `${GROUP}:${reply.message.message_id}`);
	await waitUntil(() => tg.sentTo(GROUP).length > before, {
		what: 'the answer to the reply'
	});
	await assertSecretsHidden(k, tg);
});

/*
 * Run kefuctl without blocking the event loop (the fake Telegram runs in
 * this process): {status, stdout, stderr}.
 */
function kefuctl(args) {
	const bin = process.env.KEFUCTL ? path.resolve(process.env.KEFUCTL) :
	    process.env.KEFU_BUILD ? path.resolve(process.env.KEFU_BUILD, 'src',
	    'kefuctl') : path.join(path.dirname(findKefud()), 'kefuctl');
	return new Promise((resolve) => {
		execFile(bin, args, { timeout: 20000 }, (err, stdout, stderr) =>
		    resolve({ status: err ? err.code : 0, stdout, stderr }));
	});
}

test('kefuctl telegram: set-webhook, info, delete-webhook', async (t) => {
	const { tg, k } = await setup(t, {
		mode: 'webhook',
		webhook_secret: SECRET,
		webhook_url: 'https://example.test/telegram/shop',
		allowed_updates: ['message', 'callback_query'],
		max_connections: 100
	});
	const conf = k.confPath;

	let r = await kefuctl(['-c', conf, 'telegram', 'set-webhook', 'shop']);
	assert.equal(r.status, 0, r.stderr);
	const set = tg.calls('setWebhook');
	assert.equal(set.length, 1);
	assert.equal(set[0].status, 200);
	assert.deepEqual(tg.webhook.url, 'https://example.test/telegram/shop');
	assert.equal(tg.webhook.secret_token, SECRET);
	assert.deepEqual(tg.webhook.allowed_updates, ['message',
	    'callback_query']);
	assert.equal(tg.webhook.max_connections, 100);
	assert.notEqual(set[0].params.drop_pending_updates, true,
	    'pending updates are kept');

	r = await kefuctl(['-c', conf, 'telegram', 'info', 'shop']);
	assert.equal(r.status, 0, r.stderr);
	assert.match(r.stdout, /example\.test\/telegram\/shop/);
	assert.ok(tg.calls('getWebhookInfo').length >= 1);
	for (const out of [r.stdout, r.stderr]) {
		assert.ok(!out.includes(tg.token.split(':')[1]),
		    'kefuctl does not print the token');
		assert.ok(!out.includes(SECRET), 'nor the secret');
	}

	/* Telegram's refusal is shown, and kefuctl fails. */
	tg.failNext('setWebhook', 1, { code: 400, description:
	    'Bad Request: bad webhook: Failed to resolve host' });
	r = await kefuctl(['-c', conf, 'telegram', 'set-webhook', 'shop']);
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /Failed to resolve host/);

	r = await kefuctl(['-c', conf, 'telegram', 'delete-webhook', 'shop']);
	assert.equal(r.status, 0, r.stderr);
	assert.equal(tg.webhook.url, '');
	r = await kefuctl(['-c', conf, 'telegram', 'info', 'nobody']);
	assert.notEqual(r.status, 0, 'an unknown bot is an error');
	await assertSecretsHidden(k, tg, [SECRET]);
});
