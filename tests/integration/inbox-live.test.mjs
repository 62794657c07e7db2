/*
 * inbox-live.test.mjs: the inbox's live feed, WebSocket /api/live with
 * the subprotocol kefu-inbox (docs/api.md), against a real kefud.
 *
 * A page says hello with last_event 0 and gets "ready"; a widget
 * customer's message then arrives as an event of kind "message" with the
 * conversation, a claim as kind "conversation", a note too (agents see
 * notes), a delivery as "message_status"; event ids only grow.  A page
 * that closes and comes back with the last id it saw gets exactly the
 * events it missed, in order, once: checked against a second page that
 * stayed connected, and for a page that was the only one.  An id from
 * long ago, or from before a restart, gets "reset".  The upgrade is
 * refused without a session cookie (an API token in the URL does not
 * count), with an ended session and with a foreign Origin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startKefud, storeQuery, waitUntil } from '../lib/harness.mjs';
import { addAgent, addToken, assertCleanExit, connectLive, liveHello,
    login, widgetCustomer } from '../lib/inbox.mjs';

const PW = {
	alice: 'alice-correct-horse-1',
	bob: 'bob-battery-staple-22'
};

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

async function setup(t, agents = { alice: 'admin' }) {
	const k = await startKefud({}, { t });
	for (const [name, role] of Object.entries(agents))
		addAgent(k, name, role, PW[name]);
	return k;
}

/* A live page for a session that said hello: {page, ready}. */
async function livePage(t, k, session, lastEvent = 0) {
	const page = await connectLive(k, { session });
	t.after(() => page.terminate());
	const ready = await liveHello(page, lastEvent);
	return { page, ready };
}

/* The event frames a page has received (from index from on). */
function events(page, from = 0) {
	return page.frames.slice(from).filter((f) => f.type === 'event');
}

function lastId(page) {
	const ev = events(page);
	return ev.length > 0 ? ev[ev.length - 1].id : null;
}

/* Wait for an event matching pred on a page. */
function waitEvent(page, pred, opts = {}) {
	return page.waitFor((f) => f.type === 'event' && pred(f),
	    { timeout: 10000, ...opts });
}

/* Whether an event is a new message with this text. */
function isMessage(text) {
	return (e) => e.kind === 'message' && e.message?.text === text;
}

/* A widget customer who asked for a person: {c, id}. */
async function handoff(t, k) {
	const { c, visitor } = await widgetCustomer(t, k, 'live');
	const from = c.frames.length;
	await c.sendAndAck('I want to talk to a human');
	await c.waitFor((f) => f.type === 'message' &&
	    /member of our team|customer service team/.test(f.text),
	    { from, timeout: 10000 });
	const id = sql(k, 'SELECT c.id FROM conversations c JOIN contacts k ' +
	    `ON k.id = c.contact_id WHERE k.external_id = 'v:${visitor}'`)[0]
	    .id;
	return { c, id };
}

/* Ids strictly growing, none twice. */
function assertGrowing(ids, what) {
	for (let i = 1; i < ids.length; i++)
		assert.ok(ids[i] > ids[i - 1], `${what}: ids grow: ${ids}`);
}

/* Whether alice shows as online in GET /api/agents. */
async function online(session, name) {
	const r = await session.get('/api/agents');
	assert.equal(r.status, 200, r.text);
	return r.json.agents.find((a) => a.name === name).online;
}

test('live: ready, then events for a customer message, a claim and a ' +
    'note, with growing ids', async (t) => {
	const k = await setup(t);
	const alice = await login(k, 'alice', PW.alice);
	const { page, ready } = await livePage(t, k, alice);
	assert.equal(ready.type, 'ready');
	assert.ok(Number.isInteger(ready.last_event), JSON.stringify(ready));
	assert.equal(await online(alice, 'alice'), true,
	    'an agent with a page open is online');

	const { c, id } = await handoff(t, k);
	const m = await waitEvent(page, isMessage('I want to talk to a human'));
	assert.equal(m.conversation_id, id);
	assert.equal(m.conversation.id, id);
	assert.equal(m.message.author, 'customer');
	assert.equal(m.message.conversation_id, id);
	await waitEvent(page, (e) => e.conversation_id === id &&
	    e.conversation.status === 'pending' &&
	    e.conversation.handoff_reason === 'requested');

	const claim = await alice.act(id, 'claim');
	assert.equal(claim.status, 200);
	const ce = await waitEvent(page, (e) => e.kind === 'conversation' &&
	    e.conversation.status === 'open');
	assert.equal(ce.conversation.assignee.name, 'alice');
	assert.equal(ce.message ?? null, null, 'a conversation change has ' +
	    'no message');

	assert.ok([200, 201].includes((await alice.act(id, 'note',
	    { text: 'note for colleagues' })).status));
	const ne = await waitEvent(page, isMessage('note for colleagues'));
	assert.equal(ne.message.author, 'note');

	/* pong */
	const from = page.frames.length;
	page.send({ type: 'ping' });
	await page.waitFor({ type: 'pong' }, { from });
	page.send('not json');
	await page.waitFor({ type: 'error' }, { from });

	const ids = events(page).map((e) => e.id);
	assert.ok(ids.every((i) => i > ready.last_event),
	    `events after ready (${ready.last_event}): ${ids}`);
	assertGrowing(ids, 'one page');

	/*
	 * docs/api.md: a delivery status change is kind "message_status".
	 * The reply is new (kind "message", queued), then sent to the widget.
	 */
	const r = await alice.act(id, 'reply', { text: 'Hello from Alice' });
	assert.equal(r.status, 201, r.text);
	await c.waitFor((f) => f.type === 'message' &&
	    f.text === 'Hello from Alice', { timeout: 10000 });
	await waitUntil(() => sql(k, 'SELECT status FROM messages WHERE ' +
	    `id = ${r.json.message.id}`)[0].status === 'sent');
	const mine = (e) => e.message?.id === r.json.message.id;
	await waitEvent(page, (e) => mine(e) && e.message.status === 'sent',
	    { timeout: 5000 });
	const kinds = events(page).filter(mine).map((e) => [e.kind,
	    e.message.status]);
	assert.deepEqual(kinds, [['message', 'queued'],
	    ['message_status', 'sent']], 'a new message, then its delivery');
});

test('live: a page that comes back gets exactly what it missed, while ' +
    'another page stayed', async (t) => {
	const k = await setup(t, { alice: 'admin', bob: 'agent' });
	const alice = await login(k, 'alice', PW.alice);
	const bob = await login(k, 'bob', PW.bob);
	const a = await livePage(t, k, alice);
	const b = await livePage(t, k, bob);
	const { c, id } = await handoff(t, k);

	assert.equal((await alice.act(id, 'claim')).status, 200);
	const isClaim = (e) => e.kind === 'conversation' &&
	    e.conversation.status === 'open';
	await waitEvent(a.page, isClaim);
	await waitEvent(b.page, isClaim);
	const seen = lastId(a.page);
	assert.equal(lastId(b.page), seen, 'both pages are level');
	await a.page.close();

	await c.sendAndAck('first while away');
	await c.sendAndAck('second while away');
	await waitEvent(b.page, isMessage('second while away'));

	const again = await livePage(t, k, alice, seen);
	assert.equal(again.ready.type, 'ready', JSON.stringify(again.ready));
	/* Both pages level again: the same last event. */
	await waitUntil(() => lastId(again.page) !== null &&
	    lastId(again.page) === lastId(b.page), { what: 'the pages to ' +
	    'be level', timeout: 5000 });
	const got = events(again.page);
	const want = events(b.page).filter((e) => e.id > seen);
	assert.deepEqual(got.map((e) => e.id), want.map((e) => e.id),
	    'exactly the missed events');
	assert.deepEqual(got, want, 'the same frames');
	assertGrowing(got.map((e) => e.id), 'the catch-up');
	const texts = got.filter((e) => e.kind === 'message').map((e) =>
	    e.message.text);
	assert.deepEqual(texts.filter((x) => /while away/.test(x)),
	    ['first while away', 'second while away']);
	assert.ok(!got.some((e) => e.id <= seen), 'nothing seen twice');
	await assertCleanExit(k);
});

test('live: the only page reloads and misses nothing', async (t) => {
	const k = await setup(t);
	const alice = await login(k, 'alice', PW.alice);
	const a = await livePage(t, k, alice);
	const { c, id } = await handoff(t, k);
	assert.equal((await alice.act(id, 'claim')).status, 200);
	await waitEvent(a.page, (e) => e.kind === 'conversation' &&
	    e.conversation.status === 'open');
	const seen = lastId(a.page);
	await a.page.close();
	await waitUntil(async () => !(await online(alice, 'alice')),
	    { what: 'alice to be offline' });

	await c.sendAndAck('first while reloading');
	await c.sendAndAck('second while reloading');
	assert.ok([200, 201].includes((await alice.act(id, 'note',
	    { text: 'a note while reloading' })).status));

	const again = await livePage(t, k, alice, seen);
	assert.ok(['ready', 'reset'].includes(again.ready.type));
	if (again.ready.type === 'ready') {
		/* It claims to have caught up: then the events must come. */
		for (const text of ['first while reloading',
		    'second while reloading', 'a note while reloading'])
			await waitEvent(again.page, isMessage(text),
			    { timeout: 3000 });
		const ids = events(again.page).map((e) => e.id);
		assertGrowing(ids, 'the catch-up');
		assert.ok(ids.every((i) => i > seen));
	}
});

test('live: an old id gets reset; upgrades without a session or from ' +
    'another origin are refused', async (t) => {
	const k = await setup(t);
	const alice = await login(k, 'alice', PW.alice);

	const old = await livePage(t, k, alice, 1);
	assert.equal(old.ready.type, 'reset', JSON.stringify(old.ready));

	/* An id from before a restart. */
	const a = await livePage(t, k, alice);
	await handoff(t, k);
	await waitEvent(a.page, (e) => e.kind === 'message');
	const before = lastId(a.page);
	await a.page.close();
	await k.restart();
	const after = await livePage(t, k, alice, before);
	assert.equal(after.ready.type, 'reset', JSON.stringify(after.ready));
	after.page.terminate();

	const token = addToken(k, 'ci', 'alice');
	const refused = [
		['no cookie', { cookie: null }],
		['a made-up session', { cookie:
		    `kefu_session=${'A'.repeat(43)}` }],
		['a foreign origin', { session: alice,
		    origin: 'http://evil.example' }],
		['a look-alike origin', { session: alice,
		    origin: `http://127.0.0.1:${k.port}.evil.example` }],
		['an API token as the cookie', { cookie:
		    `kefu_session=${token}` }],
		['an API token in the URL', { cookie: null,
		    query: `?token=${token}` }]
	];
	for (const [what, opts] of refused) {
		await assert.rejects(connectLive(k, opts),
		    `${what} is refused`);
	}
	/* The same, with the right origin and cookie, works. */
	const ok = await connectLive(k, { session: alice });
	ok.terminate();

	/* Logged out: the cookie no longer opens the feed. */
	assert.equal((await alice.post('/api/logout')).status < 300, true);
	await assert.rejects(connectLive(k, { session: alice }),
	    'an ended session is refused');
	await assertCleanExit(k);
});
