/*
 * timers.test.mjs: the follow-up reminder and the auto-resolve, with
 * delays of a few seconds, surviving kefud restarts.
 *
 * A widget customer gets an answer and says nothing more.  The engine's
 * timers are rows in the store: the test restarts kefud while the
 * reminder is pending and again while the auto-resolve is pending, and
 * each still arrives, once, no earlier than its delay, and the
 * conversation ends resolved with nothing left in the timers table.  A
 * customer who answers has the timers cancelled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { connectWs, startKefud, visitorId, waitUntil } from
    '../lib/harness.mjs';

const FOLLOWUP = 3;	/* seconds */
const RESOLVE = 3;

/* Rows of a query on the store (sqlite3 CLI, JSON mode). */
function sql(k, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 5000',
	    k.settings.store.path, query], { encoding: 'utf8' });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* The visitor's conversation. */
function conversation(k, visitor) {
	return sql(k, 'SELECT v.id, v.status FROM conversations v JOIN ' +
	    'contacts c ON c.id = v.contact_id WHERE c.external_id = ' +
	    `'v:${visitor}' ORDER BY v.id DESC LIMIT 1`)[0];
}

/* The conversation's stored timers: [{kind, due_at}]. */
function timers(k, conv) {
	return sql(k, 'SELECT kind, due_at FROM timers WHERE ' +
	    `conversation_id = ${conv} ORDER BY kind`);
}

/* Connect and say hello, replaying from last_seq. */
async function reconnect(t, k, visitor, lastSeq) {
	const c = await connectWs(k);
	t.after(() => c.terminate());
	await c.hello(visitor, lastSeq);
	return c;
}

/* Wait for a bot message matching re, from frame index from. */
function botSays(c, re, from = 0, timeout = 20000) {
	return c.waitFor((f) => f.type === 'message' && f.author === 'bot' &&
	    re.test(f.text), { from, timeout });
}

test('reminder, then auto-resolve, across two restarts', async (t) => {
	const k = await startKefud({
		'engine.followup_delay': FOLLOWUP,
		'engine.resolve_delay': RESOLVE
	}, { t });
	const visitor = visitorId('timer');
	let c = await reconnect(t, k, visitor, 0);

	await c.sendAndAck('How do I get an invoice?');
	const follow = await botSays(c, /answer your question|helpful/);
	const conv = conversation(k, visitor);
	let rows = timers(k, conv.id);
	assert.equal(rows.length, 1);
	assert.equal(rows[0].kind, 'followup');
	assert.ok(Math.abs(rows[0].due_at - (follow.ts + FOLLOWUP * 1000)) <
	    1000, `due ${rows[0].due_at}, answered ${follow.ts}`);

	/* Restart while the reminder is pending. */
	assert.equal(c.messages().filter((m) => /did that solve/.test(m.text))
	    .length, 0);
	let seq = Math.max(...c.messages().map((m) => m.seq));
	await c.terminate();
	await k.restart();
	c = await reconnect(t, k, visitor, seq);
	const reminder = await botSays(c, /did that solve your problem/);
	assert.ok(reminder.ts >= follow.ts + FOLLOWUP * 1000,
	    'not before its time');
	assert.deepEqual(reminder.buttons.map((b) => b.value), ['yes', 'no']);
	await waitUntil(() => timers(k, conv.id).some((r) =>
	    r.kind === 'resolve'), { what: 'the resolve timer' });
	rows = timers(k, conv.id);
	assert.deepEqual(rows.map((r) => r.kind), ['resolve']);
	assert.ok(Math.abs(rows[0].due_at - (reminder.ts + RESOLVE * 1000)) <
	    1000);

	/* Restart while the auto-resolve is pending. */
	seq = reminder.seq;
	await c.terminate();
	await k.restart();
	c = await reconnect(t, k, visitor, seq);
	const closed = await botSays(c, /closing this chat/);
	assert.ok(closed.ts >= reminder.ts + RESOLVE * 1000);
	assert.equal(closed.seq, reminder.seq + 1, 'nothing else was said');
	await waitUntil(() => conversation(k, visitor).status === 'resolved',
	    { what: 'the conversation to resolve' });
	assert.deepEqual(timers(k, conv.id), []);
	const events = sql(k, 'SELECT type FROM events WHERE ' +
	    `conversation_id = ${conv.id} ORDER BY id`).map((e) => e.type);
	assert.ok(events.includes('auto_resolved'), JSON.stringify(events));
	/* Each message went out once. */
	const texts = sql(k, 'SELECT text FROM messages WHERE ' +
	    `conversation_id = ${conv.id} AND direction = 'out'`)
	    .map((m) => m.text);
	assert.equal(texts.filter((x) => /did that solve/.test(x)).length, 1);
	assert.equal(texts.filter((x) => /closing this chat/.test(x)).length,
	    1);

	/* The customer comes back: a new conversation, welcomed. */
	const from = c.frames.length;
	await c.sendAndAck('hello');
	await botSays(c, /Kefu Demo Shop/, from);
	assert.notEqual(conversation(k, visitor).id, conv.id);
});

test('an answer cancels the timers', async (t) => {
	const k = await startKefud({
		'engine.followup_delay': FOLLOWUP,
		'engine.resolve_delay': RESOLVE
	}, { t });
	const visitor = visitorId('timer');
	const c = await reconnect(t, k, visitor, 0);

	await c.sendAndAck('How do I get an invoice?');
	await botSays(c, /answer your question|helpful/);
	const conv = conversation(k, visitor);
	assert.deepEqual(timers(k, conv.id).map((r) => r.kind), ['followup']);

	/* "Yes": the rating is asked for, and waits with a resolve timer. */
	let from = c.frames.length;
	await c.sendAndAck('Yes, thanks', { value: 'yes' });
	await botSays(c, /rate/, from);
	assert.deepEqual(timers(k, conv.id).map((r) => r.kind), ['resolve']);

	/* The rating resolves it; no timer is left to fire. */
	from = c.frames.length;
	await c.sendAndAck('5', { value: '5' });
	await botSays(c, /Thank you for your feedback/, from);
	assert.deepEqual(timers(k, conv.id), []);
	assert.equal(conversation(k, visitor).status, 'resolved');
	const csat = sql(k, 'SELECT data FROM events WHERE type = \'csat\' ' +
	    `AND conversation_id = ${conv.id}`);
	assert.deepEqual(csat.map((e) => JSON.parse(e.data)), [{ rating: 5 }]);
});
