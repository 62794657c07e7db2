/*
 * chat.test.mjs: one visitor's first conversation with a real kefud.
 *
 * hello -> ready; a greeting is acknowledged and welcomed by the bot; a
 * question from the demo FAQ is answered with that entry's answer; the
 * replies carry seq 1, 2, 3... with no gap; /healthz says 200 and /metrics
 * counts the inbound messages.  The store is read with the sqlite3 CLI to
 * know how many replies were committed, so nothing waits for a fixed time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { connectWs, startKefud, topSrcdir, visitorId } from
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

/* One sample of a metric from /metrics text, or undefined. */
function metric(text, name, labels = '') {
	const want = labels === '' ? name : `${name}{${labels}}`;
	for (const line of text.split('\n')) {
		if (line.startsWith('#'))
			continue;
		const i = line.lastIndexOf(' ');
		if (i > 0 && line.slice(0, i) === want)
			return Number(line.slice(i + 1));
	}
	return undefined;
}

/*
 * Send text, wait for its ack, then for every reply committed with it (the
 * replies are written in the same transaction as the message, so after
 * the ack the store knows how many there are).  Returns the replies.
 */
async function exchange(k, c, visitor, text) {
	const from = c.frames.length;
	const ack = await c.sendAndAck(text);
	assert.equal(ack.duplicate, undefined, 'a new message is no duplicate');
	const last = outSeq(k, visitor);
	await c.waitFor((f) => f.type === 'message' && f.seq === last,
	    { from, timeout: 10000 });
	return c.messages(from);
}

/*
 * The English demo knowledge-base entry about returning an item: its
 * question, and the first line of its answer (etc/demo/kb/faq-en.md,
 * "## question", then "intent:" and "tags:" lines, then the answer).
 */
function returnsEntry() {
	const file = path.join(topSrcdir, 'etc', 'demo', 'kb', 'faq-en.md');
	const lines = fs.readFileSync(file, 'utf8').split('\n');
	const i = lines.findIndex((l) => /^## How do I return an item/.test(l));
	assert.ok(i >= 0, `${file} has an entry about returning an item`);
	const answer = lines.slice(i + 1).find((l) => l.trim() !== '' &&
	    !/^(intent|tags|lang):/.test(l));
	return { question: lines[i].slice(3).trim(), answer };
}

test('welcome, then an answer from the FAQ', async (t) => {
	const k = await startKefud({}, { t });
	const c = await connectWs(k);
	t.after(() => c.terminate());
	const visitor = visitorId('chat');
	const started = Date.now();

	const ready = await c.hello(visitor, 0);
	assert.equal(ready.visitor, visitor);
	assert.equal(ready.seq, 0, 'a new visitor has no messages yet');

	/* The greeting: acked, then welcomed by the bot. */
	const welcome = await exchange(k, c, visitor, 'Hello!');
	assert.ok(welcome.length >= 1, 'the greeting gets at least one reply');
	assert.deepEqual(welcome.map((m) => m.seq),
	    welcome.map((_, i) => i + 1), 'replies are numbered from 1');
	for (const m of welcome) {
		assert.equal(m.author, 'bot');
		assert.equal(typeof m.text, 'string');
		assert.ok(m.text.trim().length > 0, 'a reply has text');
		assert.ok(Number.isInteger(m.ts) && m.ts >= started - 1000 &&
		    m.ts <= Date.now() + 1000, `ts ${m.ts} is now, in ms`);
		if (m.buttons !== undefined) {
			assert.ok(Array.isArray(m.buttons));
			for (const b of m.buttons) {
				assert.equal(typeof b.title, 'string');
				assert.equal(typeof b.value, 'string');
			}
		}
	}

	/* A FAQ question is answered with the entry's answer. */
	const entry = returnsEntry();
	const answer = await exchange(k, c, visitor, entry.question);
	assert.ok(answer.length >= 1, 'the question gets a reply');
	assert.equal(answer[0].seq, welcome.length + 1,
	    'seq goes on from the welcome without a gap');
	assert.deepEqual(answer.map((m) => m.seq), answer.map((_, i) =>
	    welcome.length + 1 + i), 'replies are numbered without gaps');
	const head = entry.answer.slice(0, 40);
	assert.ok(answer.some((m) => m.author === 'bot' &&
	    m.text.includes(head)), `a reply quotes the FAQ answer ` +
	    `(${JSON.stringify(head)}); got ${JSON.stringify(answer)}`);

	/* What the client saw is what the store holds. */
	const rows = sql(k, 'SELECT m.seq, m.author, m.text, m.direction ' +
	    'FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE ' +
	    `c.external_id = 'v:${visitor}' ORDER BY m.id`);
	assert.equal(rows.filter((r) => r.direction === 'in').length, 2);
	const out = rows.filter((r) => r.direction === 'out');
	assert.deepEqual(out.map((r) => [r.seq, r.author, r.text]),
	    c.messages().map((m) => [m.seq, m.author, m.text]));

	/* What was understood of each customer message is stored. */
	const understood = sql(k, 'SELECT m.lang, m.intent, m.confidence, ' +
	    'm.sentiment FROM messages m JOIN contacts c ON ' +
	    'c.id = m.contact_id WHERE m.direction = \'in\' AND ' +
	    `c.external_id = 'v:${visitor}' ORDER BY m.id`);
	assert.equal(understood.length, 2);
	assert.deepEqual(understood.map((r) => r.lang), ['en', 'en']);
	assert.equal(understood[0].intent, 'greeting');
	assert.equal(understood[1].intent, 'return_item');
	for (const r of understood) {
		assert.ok(r.confidence > 0 && r.confidence <= 1);
		assert.ok(r.sentiment >= -1 && r.sentiment <= 1);
	}

	const h = await k.get('/healthz');
	assert.equal(h.status, 200);
	assert.equal(JSON.parse(h.body).status, 'ok');

	const m = await k.get('/metrics');
	assert.equal(m.status, 200);
	assert.match(m.headers.get('content-type'), /^text\/plain/);
	const n = metric(m.body, 'kefu_messages_in_total',
	    'channel="websocket"');
	assert.ok(n >= 2, `kefu_messages_in_total{channel="websocket"} is ` +
	    `${n}, expected >= 2`);
	assert.equal(metric(m.body, 'kefu_ws_connections'), 1,
	    'one widget connection is open');
	assert.match(m.body, /^# TYPE kefu_messages_in_total counter$/m);
});

test('a second connection of the same visitor sees the same replies',
    async (t) => {
	const k = await startKefud({}, { t });
	const visitor = visitorId('chat');
	const a = await connectWs(k);
	const b = await connectWs(k);
	t.after(() => Promise.all([a.terminate(), b.terminate()]));

	await a.hello(visitor, 0);
	await b.hello(visitor, 0);
	const replies = await exchange(k, a, visitor, 'hi there');
	const last = replies[replies.length - 1].seq;
	await b.waitFor({ type: 'message', seq: last });
	assert.deepEqual(b.messages().map((m) => [m.seq, m.text]),
	    replies.map((m) => [m.seq, m.text]),
	    'both tabs of one visitor get every reply');
	assert.equal(b.ofType('ack').length, 0,
	    'only the sending connection gets the ack');
});
