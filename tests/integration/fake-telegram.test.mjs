/*
 * fake-telegram.test.mjs: the fake Telegram Bot API speaks the protocol.
 *
 * Plain fetch against tests/lib/fake-telegram.mjs, no kefud: the URL
 * scheme and its 401/404 answers, parameters in a query string, JSON, a
 * form and a multipart form; getUpdates with offset confirmation, long
 * polling and both 409 conflicts; the webhook settings; sendMessage's
 * checks (chat_id, empty text, 4,096 UTF-16 code units, 64 bytes of
 * callback_data) and per-chat message ids; media; answerCallbackQuery;
 * every scripted failure with Telegram's error shapes; the flood check
 * and the retry_after enforcement; pushing an update to a webhook.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { DESCRIPTIONS, TEST_TOKEN, startFakeTelegram, updateType } from
    '../lib/fake-telegram.mjs';

/* Call a method with a JSON body: {status, type, body (parsed or text)}. */
async function call(tg, method, params, { token, httpMethod = 'POST',
    headers, rawBody } = {}) {
	const init = { method: httpMethod, headers: headers ?? {} };
	if (rawBody !== undefined)
		init.body = rawBody;
	else if (params !== undefined) {
		init.body = JSON.stringify(params);
		init.headers['Content-Type'] = 'application/json';
	}
	const res = await fetch(tg.methodUrl(method, token), init);
	const text = await res.text();
	let body = text;
	try {
		body = JSON.parse(text);
	} catch {
		/* not JSON: left as text */
	}
	return { status: res.status, type: res.headers.get('content-type'),
	    body };
}

async function fake(t, opts) {
	const tg = await startFakeTelegram(opts);
	t.after(() => tg.close());
	return tg;
}

test('the URL scheme: token, method, error shapes', async (t) => {
	const tg = await fake(t);

	const me = await call(tg, 'getMe');
	assert.equal(me.status, 200);
	assert.match(me.type, /^application\/json/);
	assert.equal(me.body.ok, true);
	assert.equal(me.body.result.id, 123456, 'the id is the token\'s head');
	assert.equal(me.body.result.is_bot, true);
	assert.equal(typeof me.body.result.first_name, 'string');
	assert.equal(typeof me.body.result.username, 'string');

	/* Method names are case-insensitive; GET works too. */
	const get = await call(tg, 'GETME', undefined, { httpMethod: 'GET' });
	assert.equal(get.status, 200);
	assert.equal(get.body.result.username, me.body.result.username);

	const bad = await call(tg, 'getMe', {}, { token: '123456:wrong' });
	assert.equal(bad.status, 401);
	assert.deepEqual(bad.body, { ok: false, error_code: 401,
	    description: 'Unauthorized' });

	const none = await call(tg, 'sendTelepathy', {});
	assert.equal(none.status, 404);
	assert.deepEqual(none.body, { ok: false, error_code: 404,
	    description: 'Not Found' });

	const res = await fetch(`${tg.url}/getMe`);
	assert.equal(res.status, 404);
	assert.equal((await res.json()).description, 'Not Found');

	const broken = await call(tg, 'sendMessage', undefined, {
		rawBody: '{"chat_id": 1, "text": ',
		headers: { 'Content-Type': 'application/json' }
	});
	assert.equal(broken.status, 400);
	assert.equal(broken.body.ok, false);
	assert.equal(broken.body.error_code, 400);
	assert.match(broken.body.description, /^Bad Request: /);

	assert.deepEqual(tg.calls('getme').map((r) => r.status), [200, 200,
	    401]);
	assert.ok(tg.requests.every((r) => typeof r.time === 'number'));
});

test('parameters from a query string, a form and a multipart form',
    async (t) => {
	const tg = await fake(t);

	const q = new URLSearchParams({ chat_id: '8679559480', text: 'q',
	    reply_markup: JSON.stringify({ inline_keyboard: [[{ text: 'A',
	    callback_data: 'a' }]] }) });
	let r = await fetch(`${tg.methodUrl('sendMessage')}?${q}`);
	let b = await r.json();
	assert.equal(b.ok, true, JSON.stringify(b));
	assert.equal(b.result.chat.id, 8679559480);
	assert.deepEqual(b.result.reply_markup.inline_keyboard[0][0],
	    { text: 'A', callback_data: 'a' });

	r = await fetch(tg.methodUrl('sendMessage'), { method: 'POST',
	    body: new URLSearchParams({ chat_id: '-1001234567890',
	    text: 'form' }) });
	b = await r.json();
	assert.equal(b.ok, true);
	assert.equal(b.result.chat.id, -1001234567890);
	assert.equal(b.result.chat.type, 'supergroup');

	const fd = new FormData();
	fd.append('chat_id', '8679559480');
	fd.append('caption', 'the invoice');
	fd.append('document', new Blob(['%PDF-1.4 fake'],
	    { type: 'application/pdf' }), 'invoice.pdf');
	r = await fetch(tg.methodUrl('sendDocument'), { method: 'POST',
	    body: fd });
	b = await r.json();
	assert.equal(b.ok, true, JSON.stringify(b));
	assert.equal(b.result.document.file_name, 'invoice.pdf');
	assert.equal(b.result.document.mime_type, 'application/pdf');
	assert.equal(b.result.caption, 'the invoice');

	const recs = tg.calls('sendMessage');
	assert.equal(recs[0].params.chat_id, 8679559480, 'ids become numbers');
	assert.equal(recs[1].params.text, 'form');
	assert.equal(tg.calls('sendDocument')[0].params.document.filename,
	    'invoice.pdf');
});

test('getUpdates: offset confirms, long polling waits', async (t) => {
	const tg = await fake(t);
	const u = tg.queue([tg.textUpdate({ from: 8679559480, text: 'one' }),
	    tg.textUpdate({ from: 8679559480, text: 'two' }),
	    tg.textUpdate({ from: 5000000001, text: 'three' })]);
	const ids = u.map((x) => x.update_id);
	assert.deepEqual(ids, [ids[0], ids[0] + 1, ids[0] + 2],
	    'update ids are sequential');

	let r = await call(tg, 'getUpdates', { timeout: 0 });
	assert.deepEqual(r.body.result.map((x) => x.update_id), ids);
	assert.equal(r.body.result[0].message.text, 'one');
	assert.equal(r.body.result[0].message.chat.type, 'private');
	assert.equal(r.body.result[0].message.message_id, 1);
	assert.equal(r.body.result[1].message.message_id, 2,
	    'message ids are per chat');
	assert.equal(r.body.result[2].message.message_id, 1);

	/* Not confirmed: offered again; limit caps the batch. */
	r = await call(tg, 'getUpdates', { limit: 2 });
	assert.deepEqual(r.body.result.map((x) => x.update_id),
	    ids.slice(0, 2));
	r = await call(tg, 'getUpdates', { offset: ids[1] });
	assert.deepEqual(r.body.result.map((x) => x.update_id),
	    ids.slice(1), 'offset confirms what is below it');
	r = await call(tg, 'getUpdates', { offset: ids[2] + 1 });
	assert.deepEqual(r.body.result, []);
	r = await call(tg, 'getUpdates', {});
	assert.deepEqual(r.body.result, [], 'confirmed updates are forgotten');

	/* Long polling: answered as soon as something is queued. */
	const t0 = Date.now();
	const pending = call(tg, 'getUpdates', { offset: ids[2] + 1,
	    timeout: 10 });
	await tg.waitForRequest((x) => x.method === 'getUpdates' &&
	    x.params.timeout === 10);
	const late = tg.queue(tg.textUpdate({ from: 8679559480, text: 'x' }));
	r = await pending;
	assert.deepEqual(r.body.result.map((x) => x.update_id),
	    [late.update_id]);
	assert.ok(Date.now() - t0 < 5000, 'the poll did not wait for its ' +
	    'timeout');

	/* ... or after timeout seconds with nothing. */
	const t1 = Date.now();
	r = await call(tg, 'getUpdates', { offset: late.update_id + 1,
	    timeout: 1 });
	const waited = Date.now() - t1;
	assert.deepEqual(r.body, { ok: true, result: [] });
	assert.ok(waited >= 950 && waited < 3000, `held ${waited} ms`);

	/* A form-encoded offset works the same. */
	tg.queue(tg.textUpdate({ from: 1, text: 'y' }));
	const res = await fetch(tg.methodUrl('getUpdates'), { method: 'POST',
	    body: new URLSearchParams({ offset: String(late.update_id + 1),
	    allowed_updates: '["message"]' }) });
	assert.equal((await res.json()).result.length, 1);
	assert.deepEqual(tg.allowedUpdates, ['message']);
});

test('getUpdates: a newer poll ends the pending one with 409',
    async (t) => {
	const tg = await fake(t);
	const first = call(tg, 'getUpdates', { timeout: 20 });
	await tg.waitForRequest((r) => r.method === 'getUpdates');
	const second = call(tg, 'getUpdates', { timeout: 1 });
	const r1 = await first;
	assert.equal(r1.status, 409);
	assert.deepEqual(r1.body, { ok: false, error_code: 409,
	    description: DESCRIPTIONS.terminated });
	assert.equal(r1.body.description, 'Conflict: terminated by other ' +
	    'getUpdates request; make sure that only one bot instance is ' +
	    'running');
	const r2 = await second;
	assert.equal(r2.status, 200);
	assert.deepEqual(r2.body.result, []);

	/* A poller that goes away is forgotten, no 409 for the next. */
	const ac = new AbortController();
	const gone = fetch(tg.methodUrl('getUpdates'), { method: 'POST',
	    headers: { 'Content-Type': 'application/json' },
	    body: JSON.stringify({ timeout: 20 }), signal: ac.signal })
	    .catch(() => 'aborted');
	const n = tg.requests.length;
	await tg.waitForRequest((r) => r.method === 'getUpdates', { from: n });
	ac.abort();
	assert.equal(await gone, 'aborted');
	await tg.waitForRequest((r) => r.i === n && r.aborted,
	    { what: 'the abort to be seen' });
	assert.equal(tg.poll, null);
	tg.queue(tg.textUpdate({ from: 7, text: 'after' }));
	const r3 = await call(tg, 'getUpdates', { timeout: 5 });
	assert.equal(r3.status, 200);
	assert.equal(r3.body.result[0].message.text, 'after');
});

test('allowed_updates decides which updates are created', async (t) => {
	const tg = await fake(t);
	const msg = tg.textUpdate({ from: 42, text: 'hello' });
	tg.queue([msg, { poll: { id: '1', question: 'q?', options: [] } },
	    { message_reaction: { chat: { id: 42, type: 'private' } } },
	    tg.memberUpdate({ from: 42, newStatus: 'kicked' })]);
	assert.equal(tg.dropped.length, 1, 'message_reaction only when asked ' +
	    'for');
	let r = await call(tg, 'getUpdates', { limit: 100,
	    allowed_updates: ['message'] });
	assert.deepEqual(r.body.result.map((u) => Object.keys(u)),
	    [['update_id', 'message'], ['update_id', 'poll'],
	    ['update_id', 'my_chat_member']], 'update_id comes first; ' +
	    'updates created before allowed_updates changed still come');
	tg.queue([{ poll: { id: '2', question: 'q?', options: [] } },
	    tg.textUpdate({ from: 42, text: 'again' })]);
	r = await call(tg, 'getUpdates', {});
	assert.deepEqual(r.body.result.map(updateType), ['message', 'poll',
	    'my_chat_member', 'message'], 'the second poll is not created');
	assert.deepEqual(tg.allowedUpdates, ['message'], 'the setting stays');
	await call(tg, 'getUpdates', { allowed_updates: [] });
	assert.equal(tg.allowedUpdates, null, 'an empty list: the default');
});

test('webhook: set, info, getUpdates conflict, delete', async (t) => {
	const tg = await fake(t);

	let r = await call(tg, 'setWebhook', { url: 'http://example.test/x' });
	assert.equal(r.status, 400);
	assert.match(r.body.description, /HTTPS URL must be provided/);
	r = await call(tg, 'setWebhook', { url: 'https://example.test/x',
	    secret_token: 'bad secret!' });
	assert.equal(r.status, 400);

	const poll = call(tg, 'getUpdates', { timeout: 20 });
	await tg.waitForRequest((x) => x.method === 'getUpdates');
	r = await call(tg, 'setWebhook', {
		url: 'https://example.test/telegram/shop',
		secret_token: 'secret-abc',
		allowed_updates: ['message', 'callback_query']
	});
	assert.deepEqual(r.body, { ok: true, result: true,
	    description: 'Webhook was set' });
	assert.equal((await poll).status, 409, 'the pending poll ends');
	assert.equal(tg.webhook.url, 'https://example.test/telegram/shop');
	assert.equal(tg.webhook.secret_token, 'secret-abc');
	assert.deepEqual(tg.webhook.allowed_updates, ['message',
	    'callback_query']);

	r = await call(tg, 'getUpdates', {});
	assert.equal(r.status, 409);
	assert.deepEqual(r.body, { ok: false, error_code: 409,
	    description: 'Conflict: can\'t use getUpdates method while ' +
	    'webhook is active; use deleteWebhook to delete the webhook ' +
	    'first' });

	tg.queue(tg.textUpdate({ from: 9, text: 'pending' }));
	r = await call(tg, 'getWebhookInfo');
	assert.equal(r.body.result.url, 'https://example.test/telegram/shop');
	assert.equal(r.body.result.has_custom_certificate, false);
	assert.equal(r.body.result.pending_update_count, 1);
	assert.deepEqual(r.body.result.allowed_updates, ['message',
	    'callback_query']);

	r = await call(tg, 'deleteWebhook', {});
	assert.deepEqual(r.body, { ok: true, result: true,
	    description: 'Webhook was deleted' });
	r = await call(tg, 'deleteWebhook', {});
	assert.equal(r.body.description, 'Webhook is already deleted');
	r = await call(tg, 'getWebhookInfo');
	assert.equal(r.body.result.url, '');
	r = await call(tg, 'getUpdates', {});
	assert.equal(r.status, 200);
	assert.equal(r.body.result.length, 1);
});

test('sendMessage: checks, lengths in UTF-16, message ids', async (t) => {
	const tg = await fake(t);
	const chat = 8679559480;

	let r = await call(tg, 'sendMessage', { text: 'no chat' });
	assert.equal(r.status, 400);
	assert.deepEqual(r.body, { ok: false, error_code: 400,
	    description: 'Bad Request: chat_id is empty' });
	r = await call(tg, 'sendMessage', { chat_id: chat });
	assert.deepEqual(r.body, { ok: false, error_code: 400,
	    description: 'Bad Request: message text is empty' });
	r = await call(tg, 'sendMessage', { chat_id: chat, text: ' \n ' });
	assert.equal(r.body.description, 'Bad Request: message text is empty');

	/* 2,048 emoji are 4,096 UTF-16 code units (and 8,192 bytes): fine. */
	const emoji = '\u{1F600}';
	r = await call(tg, 'sendMessage', { chat_id: chat,
	    text: emoji.repeat(2048) });
	assert.equal(r.body.ok, true, JSON.stringify(r.body).slice(0, 200));
	r = await call(tg, 'sendMessage', { chat_id: chat,
	    text: emoji.repeat(2048) + 'a' });
	assert.deepEqual(r.body, { ok: false, error_code: 400,
	    description: 'Bad Request: message is too long' });
	r = await call(tg, 'sendMessage', { chat_id: chat,
	    text: 'x'.repeat(4097) });
	assert.equal(r.body.description, 'Bad Request: message is too long');
	r = await call(tg, 'sendMessage', { chat_id: chat,
	    text: '你'.repeat(4096) });
	assert.equal(r.body.ok, true, 'CJK counts one unit a character');

	/* callback_data: 1..64 bytes. */
	const kb = (data) => ({ inline_keyboard: [[{ text: 'B',
	    callback_data: data }]] });
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'k',
	    reply_markup: kb('x'.repeat(64)) });
	assert.equal(r.body.ok, true);
	for (const data of ['x'.repeat(65), '你'.repeat(22), '']) {
		r = await call(tg, 'sendMessage', { chat_id: chat, text: 'k',
		    reply_markup: kb(data) });
		assert.deepEqual(r.body, { ok: false, error_code: 400,
		    description: 'Bad Request: BUTTON_DATA_INVALID' },
		    `callback_data of ${Buffer.byteLength(data)} bytes`);
	}
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'k',
	    reply_markup: kb('你'.repeat(21)) });
	assert.equal(r.body.ok, true, '63 bytes of UTF-8 fit');
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'k',
	    reply_markup: JSON.stringify(kb('s')) });
	assert.equal(r.body.ok, true, 'reply_markup may be JSON text');
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'k',
	    reply_markup: { inline_keyboard: [[{ text: 'plain' }]] } });
	assert.equal(r.status, 400);

	/* parse_mode: MarkdownV2 wants reserved characters escaped. */
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'Hi.',
	    parse_mode: 'MarkdownV2' });
	assert.equal(r.status, 400);
	assert.match(r.body.description, /can't parse entities/);
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'Hi\\.',
	    parse_mode: 'MarkdownV2' });
	assert.equal(r.body.result.text, 'Hi.');
	r = await call(tg, 'sendMessage', { chat_id: chat,
	    text: '<b>Hi</b> &amp; <x>', parse_mode: 'HTML' });
	assert.equal(r.status, 400);

	/* Message ids: one sequence per chat, shared with incoming ones. */
	const sent = tg.sentTo(chat);
	assert.deepEqual(sent.map((m) => m.message_id), sent.map((_, i) =>
	    i + 1));
	const n = sent.length;
	const incoming = tg.message({ from: chat, text: 'me' });
	assert.equal(incoming.message_id, n + 1);
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'next' });
	assert.equal(r.body.result.message_id, n + 2);
	assert.equal(r.body.result.from.is_bot, true);
	assert.equal(r.body.result.chat.type, 'private');
	assert.equal(typeof r.body.result.date, 'number');
	r = await call(tg, 'sendMessage', { chat_id: 5, text: 'other' });
	assert.equal(r.body.result.message_id, 1);
	assert.equal(tg.sentTo(5)[0].text, 'other');
});

test('media, chat actions and button presses', async (t) => {
	const tg = await fake(t);
	const chat = 8679559480;

	let r = await call(tg, 'sendPhoto', { chat_id: chat,
	    photo: 'https://example.test/p.jpg', caption: 'look' });
	assert.equal(r.body.ok, true);
	assert.ok(Array.isArray(r.body.result.photo));
	assert.equal(r.body.result.caption, 'look');
	r = await call(tg, 'sendPhoto', { chat_id: chat });
	assert.deepEqual(r.body, { ok: false, error_code: 400,
	    description: 'Bad Request: there is no photo in the request' });
	r = await call(tg, 'sendPhoto', { chat_id: chat, photo: 'AgAC',
	    caption: 'c'.repeat(1025) });
	assert.equal(r.body.description,
	    'Bad Request: message caption is too long');
	r = await call(tg, 'sendDocument', { chat_id: chat,
	    document: 'https://example.test/manual.pdf' });
	assert.equal(r.body.result.document.file_name, 'manual.pdf');
	r = await call(tg, 'sendChatAction', { chat_id: chat,
	    action: 'typing' });
	assert.equal(r.body.result, true);

	/* A press on a button of a message the bot sent. */
	r = await call(tg, 'sendMessage', { chat_id: chat, text: 'Rate us',
	    reply_markup: { inline_keyboard: [['1', '2', '3', '4', '5']
	    .map((v) => ({ text: v, callback_data: v }))] } });
	const msg = tg.sentTo(chat).at(-1);
	assert.equal(msg.message_id, r.body.result.message_id);
	const press = tg.callbackUpdate({ from: chat, message: msg,
	    data: '5' });
	assert.equal(typeof press.callback_query.id, 'string');
	assert.equal(press.callback_query.message.chat.id, chat);
	assert.equal(press.callback_query.data, '5');
	r = await call(tg, 'answerCallbackQuery',
	    { callback_query_id: press.callback_query.id });
	assert.deepEqual(r.body, { ok: true, result: true });
	r = await call(tg, 'answerCallbackQuery',
	    { callback_query_id: press.callback_query.id });
	assert.equal(r.status, 400, 'a query is answered once');
	assert.equal(r.body.description, DESCRIPTIONS.queryInvalid);
	r = await call(tg, 'answerCallbackQuery',
	    { callback_query_id: '999' });
	assert.equal(r.status, 400);

	/* Edits of the bot's messages. */
	r = await call(tg, 'editMessageReplyMarkup', { chat_id: chat,
	    message_id: msg.message_id });
	assert.equal(r.body.ok, true);
	assert.equal(tg.sentTo(chat).at(-1).reply_markup, undefined);
	r = await call(tg, 'editMessageReplyMarkup', { chat_id: chat,
	    message_id: msg.message_id });
	assert.match(r.body.description, /message is not modified/);
	r = await call(tg, 'editMessageText', { chat_id: chat,
	    message_id: 999, text: 'x' });
	assert.equal(r.body.description,
	    'Bad Request: message to edit not found');
});

test('update builders: entities in UTF-16, edits, members, groups',
    async (t) => {
	const tg = await fake(t);
	const u = tg.textUpdate({ from: 8679559480,
	    text: '\u{1F600} /start@kefu_test_shop_bot hi' });
	assert.deepEqual(u.message.entities, [{ type: 'bot_command',
	    offset: 3, length: 25 }], 'an emoji is two UTF-16 units');
	const g = tg.mentionUpdate({ from: 5, chat: -1001234567890 });
	assert.equal(g.message.chat.type, 'supergroup');
	assert.equal(g.message.entities[0].type, 'mention');
	assert.equal(g.message.text.slice(0, 19), '@kefu_test_shop_bot');
	const e = tg.editUpdate(u.message, 'changed', 1700000000);
	assert.equal(e.edited_message.message_id, u.message.message_id);
	assert.equal(e.edited_message.edit_date, 1700000000);
	assert.equal(e.edited_message.entities, undefined);
	const k = tg.memberUpdate({ from: 42, newStatus: 'kicked' });
	assert.equal(k.my_chat_member.new_chat_member.status, 'kicked');
	assert.equal(k.my_chat_member.new_chat_member.user.id, tg.bot.id);
	assert.equal(k.my_chat_member.chat.id, 42);
	const m = tg.migrateUpdate({ from: 5, chat: -4001, to: -1004001 });
	assert.equal(m.message.migrate_to_chat_id, -1004001);
	assert.equal(m.message.chat.type, 'group');
});

test('scripted failures have Telegram\'s shapes', async (t) => {
	const tg = await fake(t);
	const chat = 8679559480;
	const send = (text, c = chat) => call(tg, 'sendMessage',
	    { chat_id: c, text });

	tg.failNext('sendMessage', 1, { code: 429, retryAfter: 2 });
	let r = await send('a');
	assert.equal(r.status, 429);
	assert.deepEqual(r.body, { ok: false, error_code: 429,
	    description: 'Too Many Requests: retry after 2',
	    parameters: { retry_after: 2 } });
	/* Too early: answered 429 again and recorded. */
	r = await send('b');
	assert.equal(r.status, 429);
	assert.ok(r.body.parameters.retry_after >= 1);
	assert.equal(tg.violations.length, 1);
	assert.equal(tg.violations[0].chat_id, chat);
	r = await send('other chat', 5);
	assert.equal(r.status, 200, 'the wait is for that chat only');
	tg.chat(chat).retryUntil = 0;	/* skip the wait */

	tg.failNext('sendMessage', 2, { code: 500 });
	r = await send('c');
	assert.deepEqual(r.body, { ok: false, error_code: 500,
	    description: 'Internal Server Error' });
	r = await send('c');
	assert.equal(r.status, 500);
	r = await send('c');
	assert.equal(r.status, 200, 'only the next 2 calls fail');

	tg.failNext('sendMessage', 1, { code: 502 });
	r = await send('d');
	assert.equal(r.status, 502);
	assert.match(r.type, /^text\/html/);
	assert.equal(typeof r.body, 'string', 'a 502 body is not JSON');
	assert.match(r.body, /502 Bad Gateway/);

	tg.failNext('sendMessage', 1, { code: 403 });
	r = await send('e');
	assert.deepEqual(r.body, { ok: false, error_code: 403,
	    description: 'Forbidden: bot was blocked by the user' });

	tg.failNext('sendMessage', 1, { code: 400,
	    description: 'Bad Request: chat not found' });
	r = await send('f');
	assert.deepEqual(r.body, { ok: false, error_code: 400,
	    description: 'Bad Request: chat not found' });

	tg.failNext('sendMessage', 1, { code: 400,
	    migrateTo: -1001234567890 }, { chat_id: -4001 });
	r = await send('g');
	assert.equal(r.status, 200, 'the script matches chat -4001 only');
	r = await send('g', -4001);
	assert.deepEqual(r.body, { ok: false, error_code: 400,
	    description: 'Bad Request: group chat was upgraded to a ' +
	    'supergroup chat', parameters: {
	    migrate_to_chat_id: -1001234567890 } });

	tg.failNext('sendMessage', 1, { delayMs: 300 });
	const t0 = Date.now();
	r = await send('slow');
	assert.equal(r.status, 200);
	assert.ok(Date.now() - t0 >= 290, 'the answer was held');

	tg.failNext('getMe', 1, { network: true });
	await assert.rejects(call(tg, 'getMe'), 'the connection is dropped');
	r = await call(tg, 'getMe');
	assert.equal(r.status, 200);

	/* Standing states: blocked and migrated chats. */
	tg.blockChat(77);
	r = await send('h', 77);
	assert.equal(r.status, 403);
	tg.blockChat(77, false);
	assert.equal((await send('h', 77)).status, 200);
	tg.migrateChat(-4002, -1004002);
	r = await send('i', -4002);
	assert.equal(r.body.parameters.migrate_to_chat_id, -1004002);
	assert.equal((await send('i', -1004002)).status, 200);
	assert.equal(tg.sentTo(-4002).length, 0);

	/* What was accepted, and what was not. */
	const texts = tg.sentTo(chat).map((m) => m.text);
	assert.deepEqual(texts, ['c', 'g', 'slow']);
	assert.deepEqual(tg.calls('sendMessage').filter((x) => x.scripted)
	    .map((x) => x.status), [429, 500, 500, 502, 403, 400, 400, 200]);
});

test('the flood check: 1 a second per private chat, 20 a minute per ' +
    'group', async (t) => {
	const tg = await fake(t, { floodCheck: true });
	const send = (c) => call(tg, 'sendMessage', { chat_id: c, text: 'x' });

	assert.equal((await send(11)).status, 200);
	const r = await send(11);
	assert.equal(r.status, 429);
	assert.deepEqual(r.body.parameters, { retry_after: 1 });
	assert.equal(tg.floodHits.length, 1);
	assert.equal((await send(12)).status, 200, 'another chat is fine');
	tg.chat(11).retryUntil = 0;
	tg.chat(11).lastSendAt -= 1000;
	assert.equal((await send(11)).status, 200, 'a second later it is ok');

	for (let i = 0; i < 20; i++)
		assert.equal((await send(-1001234567890)).status, 200);
	const g = await send(-1001234567890);
	assert.equal(g.status, 429);
	assert.ok(g.body.parameters.retry_after >= 1);
	assert.equal(tg.floodHits.length, 2);
});

test('pushWebhook posts an update like Telegram does', async (t) => {
	const tg = await fake(t);
	const seen = [];
	const srv = http.createServer((req, res) => {
		let body = '';
		req.on('data', (d) => {
			body += d;
		});
		req.on('end', () => {
			seen.push({ url: req.url, method: req.method,
			    headers: req.headers, body });
			const ok = req.headers['x-telegram-bot-api-secret-token'] ===
			    'secret-abc';
			res.writeHead(ok ? 200 : 403);
			res.end();
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	t.after(() => new Promise((r) => srv.close(r)));
	const hook = `http://127.0.0.1:${srv.address().port}/telegram/shop`;

	await call(tg, 'setWebhook', { url: 'https://example.test/telegram/' +
	    'shop', secret_token: 'secret-abc' });
	const u = tg.textUpdate({ from: 8679559480, text: 'hi' });
	let r = await tg.pushWebhook(hook, u);
	assert.equal(r.status, 200);
	assert.equal(typeof u.update_id, 'number', 'an update_id is given');
	assert.equal(seen[0].method, 'POST');
	assert.equal(seen[0].url, '/telegram/shop');
	assert.match(seen[0].headers['content-type'], /^application\/json/);
	assert.deepEqual(JSON.parse(seen[0].body), u);

	r = await tg.pushWebhook(hook, tg.textUpdate({ from: 1, text: 'x' }),
	    { secret: null });
	assert.equal(r.status, 403);
	assert.equal(seen[1].headers['x-telegram-bot-api-secret-token'],
	    undefined, 'secret null: no header');
	r = await tg.pushWebhook(hook, null, { body: '{not json',
	    secret: 'secret-abc' });
	assert.equal(seen[2].body, '{not json');
	assert.equal(tg.webhookPushes.length, 3);
	assert.equal(TEST_TOKEN, tg.token);
});
