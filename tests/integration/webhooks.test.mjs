/*
 * webhooks.test.mjs: outgoing webhooks against a receiver run by the test.
 *
 * kefud is configured with two webhooks: one wants every event, one only
 * hand-offs.  A widget customer starts a conversation and asks for a
 * person.  The receiver checks every body's X-Kefu-Signature with the
 * secret, and answers the very first delivery with 500: kefu must retry
 * it, with the same X-Kefu-Delivery id, until it is accepted.  The events
 * arrive for what happened (created, messages, handed_off), each once per
 * delivery id, and the secret never reaches the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { connectWs, startKefud, storeQuery, visitorId, waitUntil } from
    '../lib/harness.mjs';

const SECRET_ALL = 'whsec-all-4f1e9a';
const SECRET_HANDOFF = 'whsec-handoff-77c2d0';

/* A receiver: records each request; fails the first one with 500. */
function startReceiver() {
	const got = [];
	let first = true;
	const srv = http.createServer((req, res) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (d) => { body += d; });
		req.on('end', () => {
			const entry = { path: req.url, headers: req.headers,
			    body, status: first ? 500 : 204 };
			first = false;
			got.push(entry);
			res.statusCode = entry.status;
			res.end();
		});
	});
	return new Promise((resolve) => srv.listen(0, '127.0.0.1', () =>
	    resolve({ srv, got, port: srv.address().port })));
}

/* Whether a delivery's signature is right for the secret. */
function signed(entry, secret) {
	const want = 'sha256=' + crypto.createHmac('sha256', secret)
	    .update(entry.body).digest('hex');
	return entry.headers['x-kefu-signature'] === want;
}

test('events are signed, retried until accepted, and only those wanted',
    async (t) => {
	const rx = await startReceiver();
	t.after(() => rx.srv.close());
	const k = await startKefud({
		inbox: {
			webhooks: [
				{ url: `http://127.0.0.1:${rx.port}/all`,
				  secret: SECRET_ALL },
				{ url: `http://127.0.0.1:${rx.port}/handoff`,
				  secret: SECRET_HANDOFF,
				  events: ['conversation.handed_off'] }
			]
		}
	}, { t });
	const visitor = visitorId('wh');
	const c = await connectWs(k.wsUrl);
	t.after(() => c.close());
	await c.hello(visitor);
	await c.sendAndAck('I want to talk to a human');

	/* created + 1 customer message + bot replies + handed_off (x2). */
	await waitUntil(() => rx.got.some((e) => e.path === '/handoff' &&
	    e.status === 204) && rx.got.filter((e) => e.path === '/all' &&
	    e.status === 204 && e.headers['x-kefu-event'] ===
	    'conversation.handed_off').length === 1,
	    { timeout: 15000, what: 'the hand-off at both webhooks' });

	for (const e of rx.got) {
		const secret = e.path === '/all' ? SECRET_ALL : SECRET_HANDOFF;
		assert.ok(signed(e, secret), `signature of ${e.path} ` +
		    `${e.headers['x-kefu-event']}`);
		assert.equal(e.headers['content-type'], 'application/json');
		const body = JSON.parse(e.body);
		assert.equal(body.event, e.headers['x-kefu-event']);
		assert.equal(body.conversation.channel, 'websocket');
	}

	/* The first delivery failed with 500 and came again, same id. */
	const failed = rx.got[0];
	await waitUntil(() => rx.got.some((e) => e.status === 204 &&
	    e.headers['x-kefu-delivery'] === failed.headers['x-kefu-delivery']),
	    { timeout: 10000, what: 'the retry of the failed delivery' });
	assert.equal(failed.status, 500);
	const again = rx.got.filter((e) => e.headers['x-kefu-delivery'] ===
	    failed.headers['x-kefu-delivery']);
	assert.equal(again.length, 2, 'the failed delivery is retried once');
	assert.equal(again[1].status, 204);
	assert.equal(again[1].body, failed.body, 'the same body');

	/* Each delivery id is accepted exactly once. */
	const accepted = rx.got.filter((e) => e.status === 204);
	const ids = accepted.map((e) => `${e.path}#` +
	    e.headers['x-kefu-delivery']);
	assert.equal(new Set(ids).size, ids.length, 'no repeats once accepted');

	/* What /all got: the whole story, in order. */
	const all = accepted.filter((e) => e.path === '/all')
	    .map((e) => JSON.parse(e.body));
	const kinds = all.map((b) => b.event);
	assert.ok(kinds.includes('conversation.created'));
	const cust = all.find((b) => b.event === 'message.created' &&
	    b.message.author === 'customer');
	assert.equal(cust.message.text, 'I want to talk to a human');
	assert.ok(all.some((b) => b.event === 'message.created' &&
	    b.message.author === 'bot'), 'the bot\'s replies');
	const handoff = all.find((b) => b.event === 'conversation.handed_off');
	assert.equal(handoff.conversation.status, 'pending');
	assert.equal(handoff.conversation.handoff_reason, 'requested');

	/* /handoff got only what it asked for. */
	assert.deepEqual([...new Set(rx.got.filter((e) => e.path ===
	    '/handoff').map((e) => e.headers['x-kefu-event']))],
	    ['conversation.handed_off']);

	/* No delivery is left in the outbox, and no secret in the log. */
	await waitUntil(() => storeQuery(k.settings.store.path,
	    'SELECT count(*) AS n FROM webhook_outbox')[0].n === 0,
	    { what: 'an empty webhook outbox' });
	assert.ok(!k.log().includes(SECRET_ALL));
	assert.ok(!k.log().includes(SECRET_HANDOFF));
});
