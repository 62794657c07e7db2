/*
 * telegram-crash.test.mjs: kill -9 between receiving a getUpdates batch
 * and committing it loses nothing and answers once.
 *
 * Round 1: twenty users say "hi" at once; the fake answers kefud's long
 * poll with all twenty updates, and the moment the answer has left, kefud
 * gets SIGKILL.  Round 2: twenty more; the batch is committed, but the
 * getUpdates that would confirm it is dropped and every reply is held
 * unanswered, and SIGKILL comes with the first of those requests: after
 * the restart the batch comes again and must be de-duplicated, and the
 * replies, which Telegram never accepted, are sent once.  After each restart on the same
 * store and the same fake, every update is stored exactly once, every user
 * has exactly one welcome accepted by Telegram, and every update is
 * confirmed by a later offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startKefud, storeQuery, storeQueryAsync, waitUntil } from
    '../lib/harness.mjs';
import { startFakeTelegram } from '../lib/fake-telegram.mjs';

const USERS = 20;

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

/* The same without blocking the event loop (the fake runs in it). */
async function count(k, query) {
	return (await storeQueryAsync(k.settings.store.path, query))[0].n;
}

/* Kill kefud now, from inside an event handler of the fake. */
function killNow(k) {
	k.expectExit = true;
	k.proc.kill('SIGKILL');
}

/* Restart kefud on the same store, port and config. */
async function restart(k) {
	const ex = await k.exited;
	assert.equal(ex.signal, 'SIGKILL');
	await k.restart();
}

/*
 * Check a round: each of the users' updates is stored once, each user got
 * exactly one welcome, and the last update is confirmed.
 */
async function checkRound(k, tg, updates) {
	const ids = updates.map((u) => `${u.message.chat.id}:` +
	    `${u.message.message_id}`);
	const list = ids.map((x) => `'${x}'`).join(', ');
	await waitUntil(async () => await count(k, 'SELECT count(*) AS n ' +
	    'FROM messages WHERE channel = \'telegram\' AND external_id IN ' +
	    `(${list})`) >= USERS, { timeout: 20000,
	    what: 'every update to be stored' });
	const chats = updates.map((u) => u.message.chat.id);
	await waitUntil(async () => chats.every((c) => tg.sentTo(c).length >=
	    1) && await count(k, 'SELECT count(*) AS n FROM outbox') === 0,
	{ timeout: 20000, what: 'every user to be answered' });
	const last = Math.max(...updates.map((u) => u.update_id));
	await tg.waitForRequest((r) => r.method === 'getUpdates' &&
	    Number(r.params.offset) > last, { timeout: 10000,
	    what: 'the batch to be confirmed' });

	const rows = sql(k, 'SELECT external_id, count(*) AS n FROM messages ' +
	    `WHERE channel = 'telegram' AND direction = 'in' AND external_id ` +
	    `IN (${list}) GROUP BY external_id`);
	assert.deepEqual(rows.map((r) => r.external_id).sort(),
	    [...ids].sort(), 'every update is stored');
	assert.deepEqual(rows.filter((r) => r.n !== 1), [],
	    'no update is stored twice');
	for (const c of chats) {
		const sent = tg.sentTo(c);
		assert.equal(sent.length, 1, `user ${c} got one welcome, ` +
		    `not ${sent.length}`);
		assert.match(sent[0].text, /Kefu Demo Shop/);
		const out = sql(k, 'SELECT status, remote_id FROM messages ' +
		    'WHERE direction = \'out\' AND conversation_id IN (SELECT ' +
		    'conversation_id FROM messages WHERE channel = ' +
		    `'telegram' AND conv_external = '${c}')`);
		assert.deepEqual(out, [{ status: 'sent',
		    remote_id: String(sent[0].message_id) }],
		    `user ${c}: one reply, sent, with Telegram's id`);
	}
}

test('kill -9 between receive and commit: nothing lost, one reply each',
    { timeout: 60000 }, async (t) => {
	const tg = await startFakeTelegram();
	t.after(() => tg.close());
	const k = await startKefud({
		delivery: { retry_base: 50, retry_max: 500 },
		channels: { telegram: [tg.botConfig({ poll_timeout: 2,
		    chat_interval: 50 })] }
	}, { t });
	const users = (base) => Array.from({ length: USERS }, (_, i) =>
	    tg.user(base + i * 7919, { first_name: `U${i}` }));

	/* Round 1: SIGKILL as the batch leaves the fake. */
	await tg.waitForRequest((r) => r.method === 'getUpdates' &&
	    r.status === null, { what: 'a pending long poll' });
	let batchSent = null;
	const onBatch = (rec) => {
		if (rec.method === 'getUpdates' && Array.isArray(rec.result) &&
		    rec.result.length === USERS) {
			tg.off('delivered', onBatch);
			batchSent = rec;
			killNow(k);
		}
	};
	tg.on('delivered', onBatch);
	const round1 = tg.queue(users(8679559480).map((u) =>
	    tg.textUpdate({ from: u, text: 'hi' })));
	await waitUntil(() => batchSent !== null, { what: 'the batch' });
	await restart(k);
	await checkRound(k, tg, round1);
	const firstAfter = tg.calls('getUpdates').find((r) => r.i >
	    batchSent.i && r.params.offset !== undefined);
	t.diagnostic(`round 1: batch answered at request ${batchSent.i}; ` +
	    `first offset after the restart: ${firstAfter?.params.offset}`);

	/*
	 * Round 2: the batch is committed, but Telegram never learns it: the
	 * getUpdates that confirms it is dropped, every reply is held
	 * unanswered, and SIGKILL comes with the first of them.
	 */
	tg.failNext('sendMessage', USERS, { delayMs: 30000 });
	let held = null;
	let last2 = Infinity;
	let conns = [];
	const onRequest = (rec) => {
		if (rec.method === 'sendMessage' || (rec.method ===
		    'getUpdates' && Number(rec.params.offset) > last2)) {
			tg.off('request', onRequest);
			held = rec;
			killNow(k);
			conns = [...tg.sockets];
		}
	};
	tg.on('request', onRequest);
	const round2 = tg.queue(users(6100000000).map((u) =>
	    tg.textUpdate({ from: u, text: 'hi' })));
	last2 = Math.max(...round2.map((u) => u.update_id));
	tg.failNext('getUpdates', 1, { network: true }, (p) =>
	    Number(p.offset) > last2);
	await waitUntil(() => held !== null, { what: 'a reply or the confirmation' });
	await k.exited;
	/*
	 * Requests the dead kefud had written may still be read from its
	 * connections: they stay held until every one of those is closed.
	 * Then the new kefud's replies go through.
	 */
	await waitUntil(() => conns.every((s) => s.destroyed), {
		what: 'the dead kefud\'s connections to close'
	});
	tg.clearFailures();
	await restart(k);
	await checkRound(k, tg, round2);
	const r2ids = new Set(round2.map((u) => u.update_id));
	const handedOut = tg.calls('getUpdates', (r) =>
	    Array.isArray(r.result) && r.result.some((u) =>
	    r2ids.has(u.update_id))).length;
	t.diagnostic(`round 2: killed at ${held.method}; the batch was ` +
	    `handed out ${handedOut} times`);
	assert.ok(handedOut >= 2, 'the unconfirmed batch came again and was ' +
	    'de-duplicated');
	assert.ok(tg.calls('sendMessage').filter((r) => r.scripted).every(
	    (r) => r.status === null), 'no held reply was answered');

	const log = k.log();
	assert.ok(!log.includes(tg.token.split(':')[1]),
	    'the token is not in the log');
	assert.equal((log.match(/--- kefud start/g) ?? []).length, 3);
});
