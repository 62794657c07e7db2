/*
 * replay.test.mjs: what a widget gets back after it was away.
 *
 * A reconnect with last_seq K gets exactly the messages K+1..latest, in
 * order, once each; replies committed while the visitor was offline wait
 * in the store and come with the next hello; a message re-sent with an id
 * that is already stored is acknowledged as a duplicate and not answered
 * again.  The store is read with the sqlite3 CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

import { connectWs, startKefud, visitorId, waitUntil } from
    '../lib/harness.mjs';

/* Rows of a query on the store (sqlite3 CLI, JSON mode). */
function sql(k, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 5000',
	    k.settings.store.path, query], { encoding: 'utf8' });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* The highest seq committed for a widget visitor (0 if none). */
function outSeq(k, visitor) {
	const r = sql(k, 'SELECT out_seq FROM contacts WHERE channel = ' +
	    `'websocket' AND external_id = 'v:${visitor}'`);
	return r.length > 0 ? r[0].out_seq : 0;
}

/* A visitor's stored messages of one direction, oldest first. */
function rows(k, visitor, direction) {
	return sql(k, 'SELECT m.seq, m.text, m.external_id FROM messages m ' +
	    'JOIN contacts c ON c.id = m.contact_id WHERE c.external_id = ' +
	    `'v:${visitor}' AND m.direction = '${direction}' ORDER BY m.id`);
}

/* Every server message a client got, checked for order and gaps. */
function seqs(c) {
	return c.messages().map((m) => m.seq);
}

/* 1..n as an array (from a). */
function range(a, b) {
	const r = [];
	for (let i = a; i <= b; i++)
		r.push(i);
	return r;
}

/* Send, wait for the ack and for every reply committed with it. */
async function exchange(k, c, visitor, text, fields = {}) {
	const from = c.frames.length;
	const ack = await c.sendAndAck(text, fields);
	const last = outSeq(k, visitor);
	await c.waitFor((f) => f.type === 'message' && f.seq === last,
	    { from, timeout: 10000 });
	return ack;
}

test('reconnect with last_seq gets exactly the missed messages',
    async (t) => {
	const k = await startKefud({}, { t });
	const visitor = visitorId('replay');
	const c1 = await connectWs(k);

	await c1.hello(visitor, 0);
	for (const text of ['hello', 'where is my order?',
	    'how do I return an item?'])
		await exchange(k, c1, visitor, text);
	const latest = outSeq(k, visitor);
	assert.ok(latest >= 3, `three messages got >= 3 replies (${latest})`);
	assert.deepEqual(seqs(c1), range(1, latest));
	const seen = new Map(c1.messages().map((m) => [m.seq, m]));
	await c1.close();

	/* The client "saw" only part of it: it asks from K on. */
	const K = Math.floor(latest / 2);
	const c2 = await connectWs(k);
	t.after(() => c2.terminate());
	const ready = await c2.hello(visitor, K);
	assert.equal(ready.seq, latest, 'ready carries the latest seq');
	await c2.waitFor({ type: 'message', seq: latest });
	assert.deepEqual(seqs(c2), range(K + 1, latest),
	    'exactly K+1..latest, in order');
	for (const m of c2.messages()) {
		assert.equal(m.text, seen.get(m.seq).text,
		    `seq ${m.seq} replays the same text`);
		assert.equal(m.ts, seen.get(m.seq).ts,
		    `seq ${m.seq} replays the same ts`);
	}

	/*
	 * Nothing more of the old ones comes later: a new exchange goes on
	 * from latest+1 and the whole list stays gapless and unrepeated.
	 */
	await exchange(k, c2, visitor, 'thanks');
	const latest2 = outSeq(k, visitor);
	assert.ok(latest2 > latest);
	assert.deepEqual(seqs(c2), range(K + 1, latest2));

	/* A client already up to date gets nothing but ready. */
	const c3 = await connectWs(k);
	t.after(() => c3.terminate());
	const r3 = await c3.hello(visitor, latest2);
	assert.equal(r3.seq, latest2);
	await exchange(k, c3, visitor, 'one more');
	assert.deepEqual(seqs(c3), range(latest2 + 1, outSeq(k, visitor)),
	    'an up-to-date client gets only the new replies');
});

test('replies wait in the store while the visitor is offline',
    async (t) => {
	const k = await startKefud({}, { t });
	const visitor = visitorId('offline');
	const c1 = await connectWs(k);

	await c1.hello(visitor, 0);
	/* Two messages, and gone right after their acks. */
	c1.sendMessage('hello', { id: 'off-1' });
	c1.sendMessage('how do I return an item?', { id: 'off-2' });
	await c1.waitFor({ type: 'ack', id: 'off-1' });
	await c1.waitFor({ type: 'ack', id: 'off-2' });
	await c1.terminate();
	const got1 = seqs(c1);

	const out = rows(k, visitor, 'out');
	assert.ok(out.length >= 2, 'both messages were answered in the store');
	assert.deepEqual(out.map((r) => r.seq), range(1, out.length),
	    'stored replies are numbered 1..n');
	assert.deepEqual(got1, range(1, got1.length),
	    'what arrived before the disconnect is a gapless prefix');

	/* Later, a fresh page (last_seq 0) gets the whole history. */
	const c2 = await connectWs(k);
	t.after(() => c2.terminate());
	const ready = await c2.hello(visitor, 0);
	assert.equal(ready.seq, out.length);
	await c2.waitFor({ type: 'message', seq: out.length });
	assert.deepEqual(c2.messages().map((m) => [m.seq, m.text]),
	    out.map((r) => [r.seq, r.text]), 'the history, in order');

	/* The inbound side: both stored once, keyed by visitor and id. */
	assert.deepEqual(rows(k, visitor, 'in').map((r) => r.external_id),
	    [`v:${visitor}#off-1`, `v:${visitor}#off-2`]);
});

test('a re-sent id is acknowledged as a duplicate and not answered again',
    async (t) => {
	const k = await startKefud({}, { t });
	const visitor = visitorId('dup');
	const c = await connectWs(k);
	t.after(() => c.terminate());

	await c.hello(visitor, 0);
	const first = await exchange(k, c, visitor, 'hello', { id: 'm-1' });
	assert.equal(first.duplicate, undefined);
	await exchange(k, c, visitor, 'how do I return an item?',
	    { id: 'm-2' });
	const outBefore = rows(k, visitor, 'out').length;
	const seqBefore = outSeq(k, visitor);
	const framesBefore = c.messages().length;

	/* The same id again, even with other text: a duplicate. */
	const from = c.frames.length;
	const dup = await c.sendAndAck('something else', { id: 'm-1' });
	assert.equal(dup.id, 'm-1');
	assert.equal(dup.duplicate, true);
	/* The ack follows the commit; a reply would have been in it. */
	assert.equal(rows(k, visitor, 'out').length, outBefore,
	    'no new outbound row for a duplicate');
	assert.equal(outSeq(k, visitor), seqBefore);
	const inRows = rows(k, visitor, 'in');
	assert.equal(inRows.filter((r) => r.external_id ===
	    `v:${visitor}#m-1`).length, 1, 'stored once');
	assert.equal(inRows.find((r) => r.external_id ===
	    `v:${visitor}#m-1`).text, 'hello', 'the first copy is kept');

	/* On another connection too, and several times in a row. */
	const c2 = await connectWs(k);
	t.after(() => c2.terminate());
	await c2.hello(visitor, seqBefore);
	for (let i = 0; i < 3; i++) {
		const d = await c2.sendAndAck('hello', { id: 'm-2' });
		assert.equal(d.duplicate, true);
	}
	assert.equal(rows(k, visitor, 'out').length, outBefore);
	assert.equal(rows(k, visitor, 'in').length, 2);

	/* A new id is answered again, numbered right after the old ones. */
	await exchange(k, c, visitor, 'thanks', { id: 'm-3' });
	assert.equal(c.messages(from)[0].seq, seqBefore + 1);
	assert.deepEqual(seqs(c), range(1, outSeq(k, visitor)),
	    'no reply was sent for the duplicates');
	assert.equal(c.messages().length, framesBefore +
	    (outSeq(k, visitor) - seqBefore));
	await waitUntil(() => c2.messages().length ===
	    outSeq(k, visitor) - seqBefore, { what: 'c2 to get the replies' });
	assert.deepEqual(seqs(c2), range(seqBefore + 1, outSeq(k, visitor)));
});
