/*
 * errors.test.mjs: bad input on the widget channel.
 *
 * One kefud takes every kind of bad frame a client can send: malformed
 * and non-object JSON, binary frames, invalid UTF-8, frames over max_frame
 * (whole and fragmented), messages before hello, bad ids and visitors,
 * unknown types, a burst over the rate limit and identities with a wrong
 * signature.  Each gets the documented error frame; only an oversized
 * frame closes the connection.  At the end the daemon still answers and
 * what was stored before is intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import WebSocket from 'ws';

import { connectWs, startKefud, visitorId, waitUntil } from
    '../lib/harness.mjs';

const SECRET = 'integration-test-secret';
const MAX_FRAME = 16384;
const RATE = 5;
const BURST = 20;

/* Rows of a query on the store (sqlite3 CLI, JSON mode). */
function sql(k, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 5000',
	    k.settings.store.path, query], { encoding: 'utf8' });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* The highest seq committed for a widget contact key (0 if none). */
function outSeq(k, key) {
	const r = sql(k, 'SELECT out_seq FROM contacts WHERE channel = ' +
	    `'websocket' AND external_id = '${key}'`);
	return r.length > 0 ? r[0].out_seq : 0;
}

/* Every stored message of a widget contact key, oldest first. */
function contactRows(k, key) {
	return sql(k, 'SELECT m.id, m.direction, m.seq, m.text, ' +
	    'm.external_id FROM messages m JOIN contacts c ON ' +
	    `c.id = m.contact_id WHERE c.external_id = '${key}' ORDER BY m.id`);
}

/* Send a frame and wait for the error it must cause. */
async function expectError(c, frame, code, opts = {}) {
	const from = c.frames.length;
	if (opts.raw)
		c.ws.send(frame, opts.raw);
	else
		c.send(frame);
	const e = await c.waitFor((f) => f.type === 'error' ||
	    f.type === 'ack' || f.type === 'ready', { from });
	assert.equal(e.type, 'error', `expected an error for ` +
	    `${String(frame).slice(0, 60)}, got ${JSON.stringify(e)}`);
	assert.equal(e.code, code, `error code for ` +
	    `${String(frame).slice(0, 60)}: ${JSON.stringify(e)}`);
	assert.equal(typeof e.message, 'string');
	assert.ok(e.message.length > 0, 'an error says why');
	return e;
}

/* The connection still works: a ping gets a pong. */
async function alive(c) {
	const from = c.frames.length;
	c.send({ type: 'ping' });
	await c.waitFor({ type: 'pong' }, { from });
	assert.equal(c.closed, null);
}

/* hex(HMAC-SHA256(secret, user)), as the shop's server computes it. */
function sign(user, secret = SECRET) {
	return crypto.createHmac('sha256', secret).update(user).digest('hex');
}

test('bad input gets error frames and leaves the daemon well',
    async (t) => {
	const k = await startKefud({
		channels: { websocket: { rate: RATE, burst: BURST,
		    max_frame: MAX_FRAME, identity_secret: SECRET } }
	}, { t });
	const open = [];
	const conn = async () => {
		const c = await connectWs(k);
		open.push(c);
		return c;
	};
	t.after(() => Promise.all(open.map((c) => c.terminate())));

	/* Something stored before the trouble, to check at the end. */
	const base = visitorId('base');
	const b = await conn();
	await b.hello(base, 0);
	await b.sendAndAck('hello', { id: 'b1' });
	await b.sendAndAck('how do I return an item?', { id: 'b2' });
	const baseSeq = outSeq(k, `v:${base}`);
	await b.waitFor({ type: 'message', seq: baseSeq });
	const baseRows = contactRows(k, `v:${base}`);
	assert.equal(baseRows.filter((r) => r.direction === 'in').length, 2);
	await b.close();

	await t.test('malformed and non-object JSON', async () => {
		const c = await conn();
		await expectError(c, '{"type":"hello",', 'bad_json');
		await expectError(c, 'not json at all', 'bad_json');
		await expectError(c, '{"type":"ping"} trailing', 'bad_json');
		await expectError(c, '', 'bad_json');
		/* An object without a string "type": a field is missing. */
		for (const f of ['{}', '{"type":7}', '{"type":null}',
		    '{"text":"hi"}'])
			await expectError(c, f, 'bad_request');
		/*
		 * Valid JSON that is not an object is "not one JSON object"
		 * (docs/widget-protocol.md, Errors): bad_json.
		 */
		for (const f of ['[1,2,3]', '"hello"', 'true', 'null', '42',
		    '-1.5e3'])
			await expectError(c, f, 'bad_json');
		await alive(c);
		/* After all that, hello still works on this connection. */
		const r = await c.hello(visitorId('after'), 0);
		assert.equal(r.type, 'ready');
	});

	await t.test('binary frames and invalid UTF-8', async () => {
		const c = await conn();
		await expectError(c, Buffer.from('{"type":"ping"}'),
		    'bad_frame', { raw: { binary: true } });
		await expectError(c, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
		    'bad_frame', { raw: { binary: false } });
		/* An overlong encoding of "/" and a lone surrogate. */
		await expectError(c, Buffer.from([0x22, 0xc0, 0xaf, 0x22]),
		    'bad_frame', { raw: { binary: false } });
		await expectError(c, Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]),
		    'bad_frame', { raw: { binary: false } });
		await alive(c);
	});

	await t.test('a frame over max_frame closes the connection',
	    async () => {
		const c = await conn();
		await c.hello(visitorId('big'), 0);
		const big = JSON.stringify({ type: 'message', id: 'big',
		    text: 'x'.repeat(MAX_FRAME) });
		await expectError(c, big, 'too_large');
		const codes = [(await c.waitClose()).code];

		/* Fragmented: the whole message counts, not one fragment. */
		const f = await conn();
		await f.hello(visitorId('frag'), 0);
		const from = f.frames.length;
		const part = 'y'.repeat(MAX_FRAME / 2);
		f.ws.send('{"type":"message","id":"f","text":"' + part,
		    { fin: false });
		f.ws.send(part, { fin: false });
		f.ws.send(part + '"}', { fin: true });
		const e = await f.waitFor({ type: 'error' }, { from });
		assert.equal(e.code, 'too_large');
		codes.push((await f.waitClose()).code);

		/* Just under the limit is fine (but the text is too long). */
		const u = await conn();
		await u.hello(visitorId('under'), 0);
		const under = JSON.stringify({ type: 'message', id: 'u',
		    text: 'z'.repeat(MAX_FRAME - 100) });
		assert.ok(Buffer.byteLength(under) <= MAX_FRAME);
		const ue = await expectError(u, under, 'bad_request');
		assert.equal(ue.id, 'u', 'the error names the message');
		await alive(u);

		/* RFC 6455 1009: "message too big", in a close frame. */
		assert.deepEqual(codes, [1009, 1009],
		    'closed with 1009, not dropped (1006)');
	});

	await t.test('messages before hello and malformed messages',
	    async () => {
		const c = await conn();
		await expectError(c, JSON.stringify({ type: 'message',
		    id: 'early', text: 'hi' }), 'not_ready');
		for (const v of ['', 'has space', 'x'.repeat(65), 'a/b',
		    'ü', 'a"b'])
			await expectError(c, JSON.stringify({ type: 'hello',
			    visitor: v, last_seq: 0 }), 'bad_request');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: 42 }), 'bad_request');
		await expectError(c, JSON.stringify({ type: 'hello' }),
		    'bad_request');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: 'okvisitor', last_seq: -1 }), 'bad_request');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: 'okvisitor', last_seq: '3' }), 'bad_request');
		await expectError(c, JSON.stringify({ type: 'subscribe' }),
		    'bad_request');

		await alive(c);

		/* A fresh connection: the bucket holds only burst frames. */
		const c2 = await conn();
		const visitor = visitorId('bad');
		await c2.hello(visitor, 0);
		await expectError(c2, JSON.stringify({ type: 'hello',
		    visitor, last_seq: 0 }), 'bad_request');
		await expectError(c2, JSON.stringify({ type: 'message',
		    text: 'no id' }), 'bad_request');
		await expectError(c2, JSON.stringify({ type: 'message',
		    id: 'bad id!', text: 'hi' }), 'bad_request');
		await expectError(c2, JSON.stringify({ type: 'message',
		    id: 'x'.repeat(65), text: 'hi' }), 'bad_request');
		const e1 = await expectError(c2, JSON.stringify({
		    type: 'message', id: 'empty' }), 'bad_request');
		assert.equal(e1.id, 'empty');
		await expectError(c2, JSON.stringify({ type: 'message',
		    id: 'numtext', text: 5 }), 'bad_request');
		await expectError(c2, JSON.stringify({ type: 'unknown' }),
		    'bad_request');
		await alive(c2);
		/* None of it was stored. */
		assert.deepEqual(contactRows(k, `v:${visitor}`), []);
	});

	await t.test('a burst over the rate limit', async () => {
		const c = await conn();
		const visitor = visitorId('rate');
		await c.hello(visitor, 0);
		const n = BURST + 10;
		const from = c.frames.length;
		const ids = [];
		for (let i = 0; i < n; i++)
			ids.push(c.sendMessage(`burst ${i}`, { id: `r${i}` }));
		const answered = () => {
			const fs = c.frames.slice(from);
			return fs.filter((f) => f.type === 'ack').length +
			    fs.filter((f) => f.type === 'error' &&
			    f.code === 'rate_limited').length;
		};
		await waitUntil(() => answered() === n, {
			what: `${n} acks or rate_limited errors`
		});
		const acked = c.ofType('ack', from).map((f) => f.id);
		const limited = c.frames.slice(from).filter((f) =>
		    f.type === 'error' && f.code === 'rate_limited');
		assert.ok(limited.length >= 1, 'some were rate-limited');
		assert.ok(acked.length >= BURST - 1 && acked.length < n,
		    `${acked.length} of ${n} acked with burst ${BURST}`);
		assert.ok(acked.every((id) => ids.includes(id)));
		assert.equal(new Set(acked).size, acked.length, 'acked once');
		const stored = contactRows(k, `v:${visitor}`).filter((r) =>
		    r.direction === 'in').map((r) => r.external_id).sort();
		assert.deepEqual(stored, acked.map((id) =>
		    `v:${visitor}#${id}`).sort(),
		    'exactly the acked messages are stored');

		/* Once the bucket refills, a resend goes through. */
		const missing = ids.filter((id) => !acked.includes(id));
		const ack = await waitUntil(async () => {
			const f0 = c.frames.length;
			c.sendMessage('burst again', { id: missing[0] });
			const f = await c.waitFor((x) => x.type === 'ack' ||
			    x.type === 'error', { from: f0 });
			return f.type === 'ack' ? f : null;
		}, { timeout: 5000, interval: 1000 / RATE,
		    what: 'a resend to be accepted' });
		assert.equal(ack.id, missing[0]);
		assert.equal(ack.duplicate, undefined);
	});

	await t.test('identity signatures', async () => {
		const c = await conn();
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: visitorId('id'), identity: { user: 'alice',
		    sig: sign('alice', 'another secret') } }), 'bad_identity');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: visitorId('id'), identity: { user: 'alice',
		    sig: sign('bob') } }), 'bad_identity');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: visitorId('id'), identity: { user: 'alice',
		    sig: 'zz' } }), 'bad_identity');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: visitorId('id'), identity: { user: 'alice' } }),
		    'bad_identity');
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: visitorId('id'), identity: 'alice' }),
		    'bad_identity');
		/* A truncated signature is no signature. */
		await expectError(c, JSON.stringify({ type: 'hello',
		    visitor: visitorId('id'), identity: { user: 'alice',
		    sig: sign('alice').slice(0, 32) } }), 'bad_identity');
		assert.deepEqual(sql(k, 'SELECT id FROM contacts WHERE ' +
		    'external_id = \'u:alice\''), [],
		    'a refused identity creates no contact');

		/* The right signature: the user's own history. */
		const r = await c.hello(visitorId('id'), 0,
		    { identity: { user: 'alice', sig: sign('alice') } });
		assert.equal(r.visitor, 'alice');
		await c.sendAndAck('hello', { id: 'a1' });
		assert.equal(contactRows(k, 'u:alice').filter((x) =>
		    x.direction === 'in')[0].external_id, 'u:alice#a1');

		/* Another device of the same user sees it. */
		const d = await conn();
		const rd = await d.hello(visitorId('id2'), 0,
		    { identity: { user: 'alice', sig: sign('alice') } });
		assert.ok(rd.seq >= 1, 'the user already has replies');
		await d.waitFor({ type: 'message', seq: rd.seq });
	});

	/* The daemon is alive and the first visitor's data is intact. */
	const h = await k.get('/healthz');
	assert.equal(h.status, 200);
	assert.equal(k.exit, null, 'kefud is still running');
	assert.deepEqual(contactRows(k, `v:${base}`), baseRows);
	const again = await conn();
	const r = await again.hello(base, 0);
	assert.equal(r.seq, baseSeq);
	await again.waitFor({ type: 'message', seq: baseSeq });
	assert.deepEqual(again.messages().map((m) => [m.seq, m.text]),
	    baseRows.filter((x) => x.direction === 'out').map((x) =>
	    [x.seq, x.text]));
	const m = await k.get('/metrics');
	assert.match(m.body, /^kefu_ws_errors_total\{code="bad_json"\} [1-9]/m);
	assert.match(m.body,
	    /^kefu_ws_errors_total\{code="rate_limited"\} [1-9]/m);
});

test('identity is refused when no secret is configured', async (t) => {
	const k = await startKefud({}, { t });
	const c = await connectWs(k);
	t.after(() => c.terminate());
	await expectError(c, JSON.stringify({ type: 'hello',
	    visitor: visitorId('nosecret'), identity: { user: 'alice',
	    sig: sign('alice') } }), 'bad_identity');
	const r = await c.hello(visitorId('nosecret'), 0);
	assert.equal(r.type, 'ready', 'an anonymous hello still works');
});

/* Open a raw ws connection: resolves 'open', or the refusal. */
function tryConnect(url, protocols) {
	return new Promise((resolve) => {
		const ws = protocols ? new WebSocket(url, protocols) :
		    new WebSocket(url);
		ws.once('open', () => resolve({ ws, open: true,
		    protocol: ws.protocol }));
		ws.once('unexpected-response', (req, res) => {
			resolve({ open: false, status: res.statusCode });
			ws.terminate();
		});
		ws.once('error', (e) => resolve({ open: false, error: e }));
	});
}

test('subprotocols and the connection limit refuse the upgrade',
    async (t) => {
	const k = await startKefud({ channels: { websocket: {
	    max_connections: 2 } } }, { t });
	const opened = [];
	t.after(() => {
		for (const ws of opened)
			ws.terminate();
	});

	/* kefu-widget may be offered; any other is refused. */
	const a = await tryConnect(k.wsUrl, ['kefu-widget']);
	assert.equal(a.open, true, 'kefu-widget is accepted');
	assert.equal(a.protocol, 'kefu-widget');
	opened.push(a.ws);
	const bad = await tryConnect(k.wsUrl, ['chat.v2']);
	assert.equal(bad.open, false, 'another subprotocol is refused');
	if (bad.ws)
		opened.push(bad.ws);

	/* The second connection fits, the third does not. */
	const b = await tryConnect(k.wsUrl);
	assert.equal(b.open, true);
	opened.push(b.ws);
	const c = await tryConnect(k.wsUrl);
	assert.equal(c.open, false, 'max_connections refuses the third');
	if (c.ws)
		opened.push(c.ws);

	/* A slot frees when a connection closes. */
	a.ws.close();
	await new Promise((r) => a.ws.once('close', r));
	const d = await waitUntil(async () => {
		const x = await tryConnect(k.wsUrl);
		if (x.open)
			return x;
		return null;
	}, { what: 'a free slot after a close' });
	opened.push(d.ws);
	const h = await k.get('/healthz');
	assert.equal(h.status, 200);
});
