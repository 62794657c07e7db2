/*
 * inbox-assign.test.mjs: round-robin assignment and escalation.
 *
 * With inbox.assignment = "round_robin", a conversation handed to people
 * goes to an agent who has the inbox open (a live connection), the one
 * with the fewest open conversations and below their limit; nobody gets
 * it while no agent is online.  With inbox.escalate_after, a conversation
 * that waits longer is marked escalated (an event, and escalated_at).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startKefud, storeQuery, waitUntil } from '../lib/harness.mjs';
import { addAgent, connectLive, liveHello, login, widgetCustomer } from
    '../lib/inbox.mjs';

/* A conversation's row. */
function conv(k, id) {
	return storeQuery(k.settings.store.path,
	    `SELECT * FROM conversations WHERE id = ${id}`)[0];
}

/* A widget customer who asks for a person; resolves with the conversation id. */
async function handoff(t, k, prefix) {
	const { c } = await widgetCustomer(t, k, prefix);
	await c.sendAndAck('I want to talk to a human');
	let id;
	await waitUntil(() => {
		const rows = storeQuery(k.settings.store.path,
		    'SELECT id FROM conversations WHERE status IN (\'pending\', ' +
		    '\'open\') ORDER BY id DESC LIMIT 1');
		id = rows.length > 0 ? rows[0].id : undefined;
		return id !== undefined && (conv(k, id).status === 'pending' ||
		    conv(k, id).status === 'open');
	}, { what: 'the hand-off' });
	return id;
}

test('round-robin goes to online agents with room, fewest open first',
    async (t) => {
	const k = await startKefud({ inbox: { assignment: 'round_robin' } },
	    { t });
	addAgent(k, 'alice', 'agent', 'alice-password-1', ['--max-open', '1']);
	addAgent(k, 'bob', 'agent', 'bob-password-22');
	addAgent(k, 'carol', 'agent', 'carol-password-333');
	const alice = await login(k, 'alice', 'alice-password-1');
	const bob = await login(k, 'bob', 'bob-password-22');

	/* Nobody online: the conversation waits, unassigned. */
	const first = await handoff(t, k, 'rr0');
	await new Promise((r) => setTimeout(r, 1500));	/* > one tick */
	assert.equal(conv(k, first).status, 'pending');
	assert.equal(conv(k, first).assignee, null);

	/* alice and bob open the inbox; carol does not. */
	for (const s of [alice, bob]) {
		const live = await connectLive(k, { session: s });
		t.after(() => live.terminate());
		await liveHello(live, 0);
	}
	await waitUntil(() => conv(k, first).status === 'open',
	    { timeout: 5000, what: 'the waiting conversation assigned' });
	const ids = [first, await handoff(t, k, 'rr1'),
	    await handoff(t, k, 'rr2')];
	await waitUntil(() => ids.every((id) => conv(k, id).status === 'open'),
	    { timeout: 5000, what: 'all three assigned' });
	const owners = ids.map((id) => conv(k, id).assignee);
	const count = (a) => owners.filter((o) => o === a.agent.id).length;
	assert.equal(count(alice), 1, 'alice has room for one');
	assert.equal(count(bob), 2, 'bob gets the rest');
	assert.ok(!owners.includes(null));
	const events = storeQuery(k.settings.store.path, 'SELECT type FROM ' +
	    `events WHERE conversation_id = ${first}`).map((e) => e.type);
	assert.ok(events.includes('assigned'), events.join());
});

test('a conversation waiting too long is escalated, once', async (t) => {
	const k = await startKefud({ inbox: { escalate_after: 1 } }, { t });
	const id = await handoff(t, k, 'esc');
	await waitUntil(() => conv(k, id).escalated_at !== null,
	    { timeout: 6000, what: 'the escalation' });
	assert.equal(conv(k, id).status, 'pending', 'still waiting');
	await new Promise((r) => setTimeout(r, 1500));
	const esc = storeQuery(k.settings.store.path, 'SELECT count(*) AS n ' +
	    `FROM events WHERE conversation_id = ${id} AND type = 'escalated'`);
	assert.equal(esc[0].n, 1, 'escalated once');
});
