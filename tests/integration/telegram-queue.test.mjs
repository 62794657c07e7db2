/*
 * telegram-queue.test.mjs: the inbound queue between a Telegram webhook's
 * 200 and the bot's answer (pipeline_enqueue, docs/telegram.md).
 *
 * - Items left in the queue by a stopped kefud are taken after the start,
 *   once the bot is ready (getMe fails twice first), in order, each
 *   stored once and answered; an unreadable one is skipped with a log
 *   line; one for a bot that is not configured stays, with a warning.
 * - With store.queue_max items waiting, a webhook answers 503 with
 *   Retry-After and stores nothing; once the queue has room, the update
 *   Telegram sends again is taken, and on a quiet loop taken and answered
 *   before its 200 goes out.
 * - A burst over many connections: every 200 is durable at once (the
 *   update is in the queue or already taken, even after kill -9), and
 *   after a restart every update is stored exactly once; the same through
 *   the webhook listener (http.webhook_listen, libmicrohttpd).
 * - kefuctl queue lists what waits and what was set aside (never the
 *   text), puts an item back in line (taken after SIGHUP) or drops one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { deepMerge, freePort, metricValue, startKefud, storeQuery,
    storeQueryAsync, waitUntil } from '../lib/harness.mjs';
import { startFakeTelegram, unstoredUpdates } from
    '../lib/fake-telegram.mjs';
import { findKefuctl, kefuctl } from '../lib/inbox.mjs';
import { spawnSync } from 'node:child_process';

const SECRET = 'queue-secret';
const FIRST_USER = 8679559480;		/* beyond 32 bits */

/*
 * A fake Bot API and a kefud with a webhook bot ("shop") on it; its
 * updates go to the main listener, or with viaHooks to the webhook
 * listener (http.webhook_listen).
 */
async function setup(t, overrides = {}, viaHooks = false) {
	const tg = await startFakeTelegram();
	t.after(() => tg.close());
	const hooksPort = viaHooks ? await freePort() : 0;
	if (viaHooks) {
		overrides = deepMerge({ http: { webhook_listen:
		    `127.0.0.1:${hooksPort}` } }, overrides);
	}
	const k = await startKefud(deepMerge({
		delivery: { retry_base: 50, retry_max: 500 },
		channels: { telegram: [tg.webhookBotConfig(SECRET)] }
	}, overrides), { t });
	const base = viaHooks ? `http://127.0.0.1:${hooksPort}` : k.url;
	return { tg, k, hook: `${base}/telegram/shop` };
}

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

function sqlA(k, query) {
	return storeQueryAsync(k.settings.store.path, query);
}

/* A single-quoted SQL literal. */
function lit(s) {
	return `'${String(s).replaceAll('\'', '\'\'')}'`;
}

/* Queue raw items in a stopped kefud's store, as a webhook would have. */
function enqueue(k, items) {
	const rows = items.map((it, i) => `(${lit(it.channel ?? 'telegram')}, ` +
	    `${lit(it.account ?? 'shop')}, ${lit(it.key)}, ` +
	    `CAST(${lit(it.body)} AS BLOB), ${1000 + i})`);
	sql(k, 'INSERT INTO inbound_queue (channel, account, key, body, ' +
	    `received_at) VALUES ${rows.join(', ')};`);
}

async function metric(k, name, labels = '') {
	const text = await (await fetch(`${k.url}/metrics`)).text();
	return metricValue(text, name, labels) ?? 0;
}

test('a queue left by a stopped kefud is taken in order once the bot is ' +
    'ready', async (t) => {
	const { tg, k } = await setup(t);
	await k.kill('SIGTERM');

	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	const texts = ['hi', 'where is my order 20261125002', 'thanks',
	    'and one more thing', 'bye'];
	const updates = texts.map((text) => tg.textUpdate({ from: bob,
	    text }));
	for (const u of updates)
		tg.number(u);
	const items = updates.map((u) => ({ key: String(u.update_id),
	    body: JSON.stringify(u) }));
	items.splice(2, 0, { key: '999', body: '{"update_id": 999, ' +
	    '"message": ' });
	items.push({ account: 'ghost', key: '1',
	    body: JSON.stringify(updates[0]) });
	enqueue(k, items);

	/* The bot becomes ready only on the third getMe. */
	const before = tg.calls('getMe').length;
	tg.failNext('getMe', 2, { code: 500 });
	await k.restart();
	assert.match(k.log(), /msg="inbound items wait in the queue" items=7/);

	const ids = updates.map((u) => `${u.message.chat.id}:` +
	    `${u.message.message_id}`);
	await waitUntil(async () => (await sqlA(k, 'SELECT count(*) AS n ' +
	    'FROM messages WHERE direction = \'in\''))[0].n >= texts.length,
	{ timeout: 20000, what: 'the queued updates to be taken' });
	assert.equal(tg.calls('getMe').length - before, 3,
	    'taken only once the bot is ready');

	const rows = sql(k, 'SELECT external_id, text FROM messages WHERE ' +
	    'direction = \'in\' ORDER BY id');
	assert.deepEqual(rows.map((r) => r.external_id), ids,
	    'each stored once, in the order they came');
	assert.deepEqual(rows.map((r) => r.text), texts);
	await waitUntil(() => tg.sentTo(bob.id).length >= 1, {
		timeout: 10000, what: 'the bot to answer'
	});
	assert.match(tg.sentTo(bob.id)[0].text, /Kefu Demo Shop/);

	/* The unreadable one is gone with a log line; the ghost's stays. */
	const left = sql(k, 'SELECT account, key FROM inbound_queue');
	assert.deepEqual(left, [{ account: 'ghost', key: '1' }]);
	assert.match(k.log(), /msg="bad update skipped" bot=shop update=0 /);
	assert.match(k.log(), /msg="updates wait in the queue for a bot that is not configured" bot=ghost/);
	assert.equal(await metric(k, 'kefu_inbound_queue'), 1);
	assert.doesNotMatch(k.log(), /where is my order/,
	    'no message text in the log');
});

test('a full queue answers 503 with Retry-After and stores nothing',
    async (t) => {
	const { tg, k, hook } = await setup(t, { store: { queue_max: 100 } });
	await k.kill('SIGTERM');
	/* 100 items for a channel kefud does not run: they stay queued. */
	enqueue(k, Array.from({ length: 100 }, (_, i) => ({
		channel: 'wechat', account: 'shop', key: `w${i}`,
		body: '<xml/>'
	})));
	await k.restart();
	assert.match(k.log(), /msg="inbound items wait in the queue" items=100/);

	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	const hi = tg.textUpdate({ from: bob, text: 'hi' });
	const res = await fetch(hook, { method: 'POST', headers: {
		'Content-Type': 'application/json',
		'X-Telegram-Bot-Api-Secret-Token': SECRET
	}, body: JSON.stringify(tg.number(hi)) });
	assert.equal(res.status, 503);
	assert.equal(res.headers.get('retry-after'), '5');
	assert.equal((await res.json()).error, 'busy');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM inbound_queue WHERE ' +
	    'channel = \'telegram\'')[0].n, 0, 'nothing queued');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages')[0].n, 0);
	assert.equal(await metric(k, 'kefu_inbound_busy_total',
	    'channel="telegram"'), 1);
	assert.match(k.log(), /msg="queued items for a channel kefud does not run" channel=wechat/);

	/* Room again: Telegram's next try is taken and answered. */
	await k.kill('SIGTERM');
	sql(k, 'DELETE FROM inbound_queue WHERE channel = \'wechat\'');
	await k.restart();
	const r = await tg.pushWebhook(hook, hi, { secret: SECRET });
	assert.equal(r.status, 200);
	/* A quiet loop takes the update in the turn that queued it. */
	assert.equal(sql(k, 'SELECT count(*) AS n FROM inbound_queue')[0].n, 0,
	    'taken before its 200');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    'direction = \'out\'')[0].n > 0, true, 'and answered');
	await tg.waitForSent(bob.id, 1, { timeout: 10000 });
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    'direction = \'in\'')[0].n, 1);
});

/* A burst then kill -9, through the main listener or the webhook one. */
async function burstKill(t, viaHooks) {
	const { tg, k, hook } = await setup(t, {}, viaHooks);
	const USERS = 120;
	const CONNS = 24;
	/* Each user's two updates in turn, as Telegram sends a chat's. */
	const users = [];
	for (let i = 0; i < USERS; i++) {
		const u = tg.user(FIRST_USER + i, { first_name: `U${i}` });
		users.push(['hi', 'where is my order 20261125002'].map((text) =>
		    tg.textUpdate({ from: u, text })));
	}
	const updates = users.flat();
	let next = 0;
	const acked = [];
	async function worker() {
		while (next < users.length) {
			for (const u of users[next++]) {
				const r = await tg.pushWebhook(hook, u,
				    { secret: SECRET });
				assert.equal(r.status, 200, r.body);
				acked.push(u);
			}
		}
	}
	await Promise.all(Array.from({ length: CONNS }, worker));
	/* The moment the last 200 is in: no time to take the rest. */
	k.expectExit = true;
	k.proc.kill('SIGKILL');
	const ex = await k.exited;
	assert.equal(ex.signal, 'SIGKILL');

	/* Every acknowledged update is in the queue or already stored. */
	const { missing, queued, stored } = unstoredUpdates((q) => sql(k, q),
	    acked);
	assert.deepEqual(missing.map((u) => u.update_id), [],
	    'no acknowledged update is lost');
	t.diagnostic(`at the kill: ${queued.size} queued, ${stored.size} ` +
	    'taken');

	await k.restart();
	await waitUntil(async () => (await sqlA(k, 'SELECT count(*) AS n ' +
	    'FROM inbound_queue'))[0].n === 0, { timeout: 60000,
	    what: 'the queue to be taken' });
	const rows = sql(k, 'SELECT external_id, count(*) AS n FROM messages ' +
	    'WHERE direction = \'in\' GROUP BY external_id');
	assert.equal(rows.length, updates.length, 'every update stored');
	assert.deepEqual(rows.filter((r) => r.n !== 1), [],
	    'none stored twice');
	/* Per chat, the greeting came before the question. */
	const order = sql(k, 'SELECT conv_external, text FROM messages WHERE ' +
	    'direction = \'in\' ORDER BY id');
	const seen = new Map();
	for (const r of order) {
		const list = seen.get(r.conv_external) ?? [];
		list.push(r.text);
		seen.set(r.conv_external, list);
	}
	for (const [chat, list] of seen)
		assert.deepEqual(list, ['hi', 'where is my order 20261125002'],
		    `chat ${chat} in order`);
	await waitUntil(() => updates.every((u) =>
	    tg.sentTo(u.message.chat.id).length >= 1), { timeout: 30000,
	    what: 'every user to be answered' });
}

test('a burst: every 200 is durable at once, even through kill -9',
    (t) => burstKill(t, false));

test('the same through the webhook listener (http.webhook_listen)',
    (t) => burstKill(t, true));

test('kefuctl queue: list, retry after SIGHUP, drop', async (t) => {
	const { tg, k } = await setup(t);
	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	const secretText = 'my card number is 4111 1111 1111 1111';
	const u1 = tg.number(tg.textUpdate({ from: bob, text: secretText }));
	const u2 = tg.number(tg.textUpdate({ from: bob, text: 'hi' }));
	/* Two items kefud set aside, and one waiting for a ghost bot. */
	sql(k, 'INSERT INTO inbound_queue (channel, account, key, body, ' +
	    'received_at, failed_at, error) VALUES ' +
	    `('telegram', 'shop', '${u1.update_id}', ` +
	    `CAST(${lit(JSON.stringify(u1))} AS BLOB), 1000, 2000, ` +
	    '\'its turn failed again and again\'), ' +
	    `('telegram', 'shop', '${u2.update_id}', ` +
	    `CAST(${lit(JSON.stringify(u2))} AS BLOB), 1001, 2001, ` +
	    '\'its turn failed again and again\'), ' +
	    '(\'telegram\', \'ghost\', \'9\', CAST(\'{}\' AS BLOB), 1002, ' +
	    'NULL, NULL);');
	const [a, b] = sql(k, 'SELECT id FROM inbound_queue WHERE ' +
	    'failed_at IS NOT NULL ORDER BY id').map((r) => r.id);

	let out = kefuctl(k, ['queue']);
	assert.match(out, /^telegram\s+ghost\s+1\s/m, 'what waits, by bot');
	assert.match(out, new RegExp(`^${a}\\s+telegram\\s+shop\\s+` +
	    `${u1.update_id}\\s.*its turn failed again and again$`, 'm'));
	assert.match(out, new RegExp(`^${b}\\s+telegram\\s+shop\\s`, 'm'));
	assert.doesNotMatch(out, /4111|card number/, 'never the text');

	/* Bad uses: a clear message and exit status. */
	let r = spawnSync(findKefuctl(), ['-c', k.confPath, 'queue', 'retry',
	    'x'], { encoding: 'utf8' });
	assert.equal(r.status, 2);
	assert.match(r.stderr, /bad id: x/);
	r = spawnSync(findKefuctl(), ['-c', k.confPath, 'queue', 'drop',
	    '987654'], { encoding: 'utf8' });
	assert.equal(r.status, 1);
	assert.match(r.stderr, /no item set aside with that id/);

	/* Drop one; put the other back in line; SIGHUP: it is taken. */
	out = kefuctl(k, ['queue', 'drop', String(a)]);
	assert.match(out, /1 item dropped/);
	out = kefuctl(k, ['queue', 'retry', 'all']);
	assert.match(out, /1 item put back in line/);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages')[0].n, 0,
	    'nothing taken before the reload');
	await k.kill('SIGHUP');
	await tg.waitForSent(bob.id, 1, { timeout: 10000 });
	assert.deepEqual(sql(k, 'SELECT text FROM messages WHERE ' +
	    'direction = \'in\'').map((x) => x.text), ['hi']);
	assert.deepEqual(sql(k, 'SELECT account FROM inbound_queue'),
	    [{ account: 'ghost' }]);
	r = spawnSync(findKefuctl(), ['-c', k.confPath, 'queue', 'retry',
	    'all'], { encoding: 'utf8' });
	assert.equal(r.status, 1);
	assert.match(r.stderr, /no item set aside/);
});
