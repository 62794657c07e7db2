/*
 * inbox-api.test.mjs: the shared inbox's JSON API (docs/api.md,
 * docs/auth.md) against a real kefud.
 *
 * Agents and API tokens are made with kefuctl on the test's kefu.conf.
 * Login: a wrong password and an unknown name get the same 401; the right
 * one a session cookie (HttpOnly, SameSite=Strict, Secure only over TLS as
 * a proxy reports it) and a CSRF token; /api/me needs the cookie; logout
 * ends the session; five failures lock the name (429 with Retry-After,
 * even for the right password).  A POST without the CSRF token, with the
 * wrong one or from a foreign Origin is refused and changes nothing in the
 * store.  API tokens work without CSRF and stop when revoked.  Then the
 * whole handoff through the API, as a widget customer sees it: waiting
 * list, claim, reply (idempotent by client_id), a note the customer never
 * gets, assign, hand back, resolve (the rating question), reopen.  Two
 * simultaneous claims: one wins, the other gets 409 naming the winner and
 * may not reply until it takes over.  Canned replies: admins only, and
 * "/shortcut" is expanded in a reply.  Lists: search (LIKE wildcards are
 * literal), the channel filter, paging with "next" (as "offset").  Errors: 404, 400,
 * 413.  Passwords and session tokens never reach the log (at debug level),
 * and every daemon exits 0 with no sanitizer report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { startKefud, storeQuery, topSrcdir, waitUntil } from
    '../lib/harness.mjs';
import { addAgent, addToken, api, assertClean, assertCleanExit, login,
    loginRaw, ownOrigin, revokeToken, Session, sessionCookie,
    widgetCustomer } from '../lib/inbox.mjs';

const PW = {
	alice: 'alice-correct-horse-1',
	bob: 'bob-battery-staple-22',
	carol: 'carol-tr0ub4dor-333'
};

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

/* A kefud with agents (name -> role) added. */
async function setup(t, agents = { alice: 'admin' }, overrides = {}) {
	const k = await startKefud(overrides, { t });
	for (const [name, role] of Object.entries(agents))
		addAgent(k, name, role, PW[name]);
	return k;
}

/* The text of a template's first variant (comments dropped). */
function templateText(name) {
	const file = path.join(topSrcdir, 'templates', 'en',
	    `${name}.mustache`);
	const body = fs.readFileSync(file, 'utf8').replace(/\{\{![^]*?\}\}/g,
	    '');
	return body.split('\n---\n')[0].trim();
}

/*
 * A widget customer asks for a person: {c, visitor, id} with id the
 * conversation, once the handoff is committed.
 */
async function handoff(t, k, prefix = 'inbox') {
	const { c, visitor } = await widgetCustomer(t, k, prefix);
	const from = c.frames.length;
	await c.sendAndAck('I want to talk to a human');
	await c.waitFor((f) => f.type === 'message' &&
	    /member of our team|customer service team/.test(f.text),
	    { from, timeout: 10000 });
	const rows = sql(k, 'SELECT c.id, c.status FROM conversations c ' +
	    'JOIN contacts k ON k.id = c.contact_id WHERE k.external_id = ' +
	    `'v:${visitor}' ORDER BY c.id DESC LIMIT 1`);
	assert.equal(rows.length, 1, 'the customer has a conversation');
	assert.equal(rows[0].status, 'pending', 'handed off: pending');
	return { c, visitor, id: rows[0].id };
}

/* Wait for a widget frame from an agent with this text. */
function agentFrame(c, text, opts = {}) {
	return c.waitFor((f) => f.type === 'message' && f.text === text,
	    { timeout: 10000, ...opts });
}

function convRow(k, id) {
	return sql(k, 'SELECT status, assignee, handoff_reason, ' +
	    `waiting_since FROM conversations WHERE id = ${id}`)[0];
}

function messageCount(k, id) {
	return sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    `conversation_id = ${id}`)[0].n;
}

function eventTypes(k, id) {
	return sql(k, 'SELECT type FROM events WHERE conversation_id = ' +
	    `${id} ORDER BY id`).map((r) => r.type);
}

function agentId(k, name) {
	return sql(k, `SELECT id FROM agents WHERE name = '${name}'`)[0].id;
}

/* None of the secrets appears in the daemon's log. */
function assertNotLogged(k, secrets) {
	const log = k.log();
	for (const [what, s] of Object.entries(secrets)) {
		assert.ok(typeof s === 'string' && s.length >= 8,
		    `${what} is a real secret`);
		assert.ok(!log.includes(s), `the log does not contain ${what}`);
	}
}

test('login: same 401 for a wrong password and an unknown name, the ' +
    'cookie, /api/me and logout', async (t) => {
	const k = await setup(t, { alice: 'admin' }, { 'log.level': 'debug' });

	const wrong = await loginRaw(k, 'alice', 'not-the-password');
	const unknown = await loginRaw(k, 'mallory', 'not-the-password');
	assert.equal(wrong.status, 401);
	assert.equal(unknown.status, 401);
	assert.equal(wrong.json.error, 'bad_login');
	assert.equal(unknown.text, wrong.text, 'the same body for both');
	assert.deepEqual(wrong.setCookies, []);
	assert.deepEqual(unknown.setCookies, []);

	const bad = await api(k, 'POST', '/api/login', { body: { name:
	    'alice' } });
	assert.equal(bad.status, 400, 'a login without a password');
	assert.equal(bad.json.error, 'bad_request');

	const ok = await loginRaw(k, 'alice', PW.alice);
	assert.equal(ok.status, 200, ok.text);
	assert.equal(ok.json.agent.name, 'alice');
	assert.equal(ok.json.agent.role, 'admin');
	assert.equal(ok.json.agent.id, agentId(k, 'alice'));
	assert.match(ok.json.csrf, /^[A-Za-z0-9_-]{43}$/);
	assert.equal(ok.setCookies.length, 1, ok.setCookies.join(' | '));
	const cookie = ok.setCookies[0];
	const attrs = cookie.split(';').slice(1).map((a) => a.trim());
	assert.ok(attrs.includes('HttpOnly'), cookie);
	assert.ok(attrs.includes('SameSite=Strict'), cookie);
	assert.ok(attrs.includes('Path=/'), cookie);
	assert.ok(!attrs.some((a) => /^secure$/i.test(a)),
	    `no Secure over plain http: ${cookie}`);
	const token = sessionCookie(ok.setCookies);
	assert.match(token, /^[A-Za-z0-9_-]{43}$/);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM sessions')[0].n, 1);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM sessions WHERE ' +
	    `token_hash = '${token}'`)[0].n, 0, 'the token is not stored');

	/* A login by a proxy that terminated TLS: Secure. */
	const tls = await loginRaw(k, 'ALICE', PW.alice,
	    { 'X-Forwarded-Proto': 'https' });
	assert.equal(tls.status, 200, 'names ignore case');
	const tlsAttrs = tls.setCookies[0].split(';').map((a) => a.trim());
	assert.ok(tlsAttrs.includes('Secure'), tls.setCookies[0]);
	assert.ok(tlsAttrs.includes('HttpOnly'));
	assert.notEqual(sessionCookie(tls.setCookies), token,
	    'every login gets its own session');

	const s = new Session(k, token, ok.json.csrf, ok.json.agent);
	const me = await s.get('/api/me');
	assert.equal(me.status, 200, me.text);
	assert.equal(me.json.agent.name, 'alice');
	assert.equal(me.json.csrf, ok.json.csrf);

	const anon = await api(k, 'GET', '/api/me');
	assert.equal(anon.status, 401);
	assert.equal(anon.json.error, 'unauthorized');
	const forged = await api(k, 'GET', '/api/me', { headers: { Cookie:
	    `kefu_session=${token.slice(0, -2)}xx` } });
	assert.equal(forged.status, 401, 'a made-up token');
	const list = await api(k, 'GET', '/api/conversations');
	assert.equal(list.status, 401, 'conversations need a login too');

	const ex = await k.stop({ keepDir: true });
	assertNotLogged(k, { 'the password': PW.alice, 'the session token':
	    token, 'the other token': sessionCookie(tls.setCookies),
	    'the csrf token': ok.json.csrf });
	assertClean(k, ex);
});

test('logout: 204, the cookie cleared, the session over', async (t) => {
	const k = await setup(t);
	const s = await login(k, 'alice', PW.alice);
	const other = await login(k, 'alice', PW.alice);

	const out = await s.post('/api/logout');
	assert.match(out.setCookies[0] ?? '', /^kefu_session=;.*Max-Age=0/,
	    'the cookie is cleared');
	assert.equal((await s.get('/api/me')).status, 401,
	    'the session ended');
	assert.equal((await other.get('/api/me')).status, 200,
	    'the agent\'s other session goes on');
	assert.equal(out.status, 204, `logout: ${out.status} ${out.text}`);
	await assertCleanExit(k);
});

test('login throttling: five failures lock the name, even the right ' +
    'password gets 429', async (t) => {
	const k = await setup(t, { alice: 'admin', bob: 'agent' });

	const statuses = [];
	for (let i = 0; i < 6; i++)
		statuses.push((await loginRaw(k, 'alice', `wrong-${i}-pass`))
		    .status);
	assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);

	const locked = await loginRaw(k, 'alice', PW.alice);
	assert.equal(locked.status, 429, 'the right password is refused');
	assert.equal(locked.json.error, 'throttled');
	const retry = Number(locked.headers.get('retry-after'));
	assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60,
	    `Retry-After ${locked.headers.get('retry-after')}`);
	assert.deepEqual(locked.setCookies, []);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM sessions')[0].n, 0);

	/* The lock is the name's: bob, from the same address, gets in. */
	const bob = await loginRaw(k, 'bob', PW.bob);
	assert.equal(bob.status, 200, bob.text);

	/* A name that does not exist locks the same way. */
	const ghost = [];
	for (let i = 0; i < 6; i++)
		ghost.push((await loginRaw(k, 'ghost', `wrong-${i}-pass`))
		    .status);
	assert.deepEqual(ghost, [401, 401, 401, 401, 401, 429]);
	await assertCleanExit(k);
});

test('CSRF: a POST without the right token, or from another origin, ' +
    'changes nothing', async (t) => {
	const k = await setup(t, { alice: 'admin', bob: 'agent' });
	const alice = await login(k, 'alice', PW.alice);
	const bob = await login(k, 'bob', PW.bob);
	const { id } = await handoff(t, k);
	const before = { conv: convRow(k, id), n: messageCount(k, id),
	    events: eventTypes(k, id) };

	const tries = [
		['no token', alice.post(`/api/conversations/${id}/claim`, {},
		    { csrf: null })],
		['a wrong token', alice.post(`/api/conversations/${id}/claim`,
		    {}, { csrf: 'x'.repeat(43) })],
		['another session\'s token', alice.post(
		    `/api/conversations/${id}/claim`, {}, { csrf: bob.csrf })],
		['an empty token', alice.post(`/api/conversations/${id}/note`,
		    { text: 'sneaky note' }, { csrf: '' })],
		['a note without a token', alice.post(
		    `/api/conversations/${id}/note`, { text: 'sneaky note' },
		    { csrf: null })]
	];
	for (const [what, p] of tries) {
		const r = await p;
		assert.equal(r.status, 403, `${what}: ${r.text}`);
		assert.equal(r.json?.error, 'csrf', what);
	}

	/* The right token, but the browser says another site sent it. */
	const foreign = await alice.post(`/api/conversations/${id}/claim`, {},
	    { headers: { Origin: 'http://evil.example' } });
	assert.equal(foreign.status, 403, `foreign origin: ${foreign.text}`);
	const lookalike = await alice.post(`/api/conversations/${id}/claim`,
	    {}, { headers: { Origin: `http://127.0.0.1:${k.port}.evil.example`
	    } });
	assert.equal(lookalike.status, 403, 'a look-alike origin');

	assert.deepEqual({ conv: convRow(k, id), n: messageCount(k, id),
	    events: eventTypes(k, id) }, before, 'nothing changed');

	/* The same request, from our own origin, works. */
	const good = await alice.post(`/api/conversations/${id}/claim`, {},
	    { headers: { Origin: ownOrigin(k) } });
	assert.equal(good.status, 200, good.text);
	assert.equal(convRow(k, id).status, 'open');
	assert.equal(convRow(k, id).assignee, alice.agent.id);
	await assertCleanExit(k);
});

test('API tokens: Bearer without CSRF, no UI login, revocation',
    async (t) => {
	const k = await setup(t);
	const { id, c } = await handoff(t, k);
	const token = addToken(k, 'ci', 'alice');
	const bearer = { Authorization: `Bearer ${token}` };

	const me = await api(k, 'GET', '/api/me', { headers: bearer });
	assert.equal(me.status, 200, me.text);
	assert.equal(me.json.agent.name, 'alice');
	assert.equal(me.json.csrf, undefined, 'a token has no CSRF token');

	const claim = await api(k, 'POST', `/api/conversations/${id}/claim`,
	    { headers: bearer, body: {} });
	assert.equal(claim.status, 200, claim.text);
	assert.equal(claim.json.conversation.assignee.name, 'alice');
	const reply = await api(k, 'POST', `/api/conversations/${id}/reply`,
	    { headers: bearer, body: { text: 'Hello from the integration',
	    client_id: 'tok-1' } });
	assert.equal(reply.status, 201, reply.text);
	await agentFrame(c, 'Hello from the integration');

	/* A token is not a session. */
	const asCookie = await api(k, 'GET', '/api/me', { headers: { Cookie:
	    `kefu_session=${token}` } });
	assert.equal(asCookie.status, 401, 'a token as a cookie');
	const basic = await api(k, 'GET', '/api/me', { headers: {
	    Authorization: `Basic ${Buffer.from('alice:x').toString(
	    'base64')}` } });
	assert.equal(basic.status, 401);
	const other = await api(k, 'GET', '/api/me', { headers: {
	    Authorization: `Bearer kefu_${'A'.repeat(43)}` } });
	assert.equal(other.status, 401, 'a made-up token');

	revokeToken(k, 'ci');
	const gone = await api(k, 'GET', '/api/me', { headers: bearer });
	assert.equal(gone.status, 401, 'revoked');
	const n = messageCount(k, id);
	const late = await api(k, 'POST', `/api/conversations/${id}/note`,
	    { headers: bearer, body: { text: 'after revoking' } });
	assert.equal(late.status, 401);
	assert.equal(messageCount(k, id), n);

	const ex = await k.stop({ keepDir: true });
	assertNotLogged(k, { 'the API token': token,
	    'the token\'s secret part': token.slice(5) });
	assertClean(k, ex);
});

test('the handoff through the API: claim, reply, note, assign, hand ' +
    'back, resolve, reopen', async (t) => {
	const k = await setup(t, { alice: 'admin', bob: 'agent' },
	    { 'log.level': 'debug' });
	const alice = await login(k, 'alice', PW.alice);
	const bob = await login(k, 'bob', PW.bob);
	const started = Date.now();
	const { c, visitor, id } = await handoff(t, k);

	/* Waiting. */
	const waiting = await alice.get('/api/conversations?view=waiting');
	assert.equal(waiting.status, 200, waiting.text);
	const w = waiting.json.conversations.find((x) => x.id === id);
	assert.ok(w, `the conversation is waiting: ${waiting.text}`);
	assert.equal(w.status, 'pending');
	assert.equal(w.handoff_reason, 'requested');
	assert.equal(w.assignee, null);
	assert.equal(w.channel, 'websocket');
	assert.equal(w.contact.external_id, `v:${visitor}`);
	assert.ok(Number.isInteger(w.waiting_since) &&
	    w.waiting_since >= started - 1000 &&
	    w.waiting_since <= Date.now() + 1000,
	    `waiting_since ${w.waiting_since}`);
	assert.equal(waiting.json.next, null);
	const mine0 = await alice.get('/api/conversations?view=mine');
	assert.deepEqual(mine0.json.conversations, []);

	/* Claim. */
	const claim = await alice.act(id, 'claim');
	assert.equal(claim.status, 200, claim.text);
	assert.equal(claim.json.conversation.status, 'open');
	assert.equal(claim.json.conversation.assignee.name, 'alice');
	assert.equal(claim.json.conversation.waiting_since, null);
	assert.deepEqual((await alice.get('/api/conversations?view=waiting'))
	    .json.conversations, [], 'no longer waiting');
	assert.deepEqual((await alice.get('/api/conversations?view=mine'))
	    .json.conversations.map((x) => x.id), [id]);
	assert.deepEqual(convRow(k, id), { status: 'open', assignee:
	    alice.agent.id, handoff_reason: 'requested',
	    waiting_since: convRow(k, id).waiting_since });

	/* Reply: to the customer, as the agent. */
	const r1 = await alice.act(id, 'reply', { text: 'Hi, I am Alice. ' +
	    'How can I help?', client_id: 'c0ffee-1' });
	assert.equal(r1.status, 201, r1.text);
	assert.equal(r1.json.message.author, 'agent');
	assert.equal(r1.json.message.direction, 'out');
	assert.equal(r1.json.message.agent.name, 'alice');
	const f1 = await agentFrame(c, 'Hi, I am Alice. How can I help?');
	assert.equal(f1.author, 'agent');

	/* The same client_id again, once delivered: still one message. */
	await waitUntil(() => sql(k, 'SELECT status FROM messages WHERE ' +
	    `id = ${r1.json.message.id}`)[0].status === 'sent',
	    { what: 'the reply to be sent' });
	const r2 = await alice.act(id, 'reply', { text: 'Hi, I am Alice. ' +
	    'How can I help?', client_id: 'c0ffee-1' });
	assert.ok(r2.status === 200 || r2.status === 201, r2.text);
	assert.equal(r2.json.message.id, r1.json.message.id,
	    'the retry answers with the first message');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    `conversation_id = ${id} AND text = 'Hi, I am Alice. How can ` +
	    'I help?\'')[0].n, 1, 'one stored message');

	/* Two retries at the same moment: still one message. */
	const [d1, d2] = await Promise.all([1, 2].map(() => alice.act(id,
	    'reply', { text: 'Checking your order.', client_id: 'c0ffee-2' })));
	assert.ok(d1.status === 201 && [200, 201].includes(d2.status),
	    `${d1.status} ${d2.status}`);
	assert.equal(d1.json.message.id, d2.json.message.id);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    `text = 'Checking your order.'`)[0].n, 1);
	await agentFrame(c, 'Checking your order.');

	/* A note: stored, shown to agents, never sent. */
	const note = await alice.act(id, 'note', { text: 'VIP customer, ' +
	    'be nice (internal)' });
	assert.ok(note.status === 200 || note.status === 201, note.text);
	const after = await alice.act(id, 'reply', { text: 'One moment ' +
	    'please.' });
	assert.equal(after.status, 201, after.text);
	await agentFrame(c, 'One moment please.');
	assert.ok(!c.frames.some((f) => JSON.stringify(f).includes(
	    'VIP customer')), 'the customer never sees the note');
	const full = await bob.get(`/api/conversations/${id}`);
	assert.equal(full.status, 200, full.text);
	const notes = full.json.messages.filter((m) => m.author === 'note');
	assert.equal(notes.length, 1);
	assert.equal(notes[0].text, 'VIP customer, be nice (internal)');
	assert.equal(notes[0].agent.name, 'alice');
	assert.deepEqual(full.json.messages.filter((m) => m.author ===
	    'customer').map((m) => m.text), ['I want to talk to a human']);
	assert.deepEqual(full.json.messages.filter((m) => m.author ===
	    'agent').map((m) => m.text), ['Hi, I am Alice. How can I help?',
	    'Checking your order.', 'One moment please.']);
	assert.equal(full.json.conversation.id, id);
	assert.equal(full.json.contact.external_id, `v:${visitor}`);
	assert.ok(full.json.events.some((e) => e.type === 'claimed'),
	    JSON.stringify(full.json.events));

	/* Assign to bob. */
	const assign = await alice.act(id, 'assign', { agent_id:
	    bob.agent.id });
	assert.equal(assign.status, 200, assign.text);
	assert.equal(assign.json.conversation.assignee.name, 'bob');
	assert.deepEqual((await bob.get('/api/conversations?view=mine'))
	    .json.conversations.map((x) => x.id), [id]);
	assert.deepEqual((await alice.get('/api/conversations?view=mine'))
	    .json.conversations, []);
	const nobody = await alice.act(id, 'assign', { agent_id: 9999 });
	assert.equal(nobody.status, 409, 'no such agent');
	assert.equal(convRow(k, id).assignee, bob.agent.id);

	/* Reopening what is not resolved is refused. */
	const early = await bob.act(id, 'reopen');
	assert.equal(early.status, 409, early.text);
	assert.equal(early.json.error, 'bad_state');

	/* Bob hands it back: the bot says so. */
	const from = c.frames.length;
	const back = await bob.act(id, 'handback');
	assert.equal(back.status, 200, back.text);
	assert.equal(back.json.conversation.status, 'bot');
	assert.equal(back.json.conversation.assignee, null);
	await c.waitFor((f) => f.type === 'message' && f.author === 'bot' &&
	    f.text === templateText('handback'), { from, timeout: 10000 });
	const again = await alice.act(id, 'handback');
	assert.equal(again.status, 409, again.text);
	assert.equal(again.json.error, 'bad_state');

	/*
	 * Claim again (from the bot) and resolve: the rating question.  The
	 * status docs/api.md promises is checked at the end; the customer's
	 * rating closes the conversation either way.
	 */
	assert.equal((await alice.act(id, 'claim')).status, 200);
	const from2 = c.frames.length;
	const res = await alice.act(id, 'resolve');
	assert.equal(res.status, 200, res.text);
	/*
	 * docs/api.md: the bot asks for the rating (status "bot" with
	 * resolved_at set), and the conversation is listed as resolved.
	 */
	assert.equal(res.json.conversation.status, 'bot');
	assert.notEqual(res.json.conversation.resolved_at, null);
	assert.equal(convRow(k, id).status, 'bot');
	assert.deepEqual((await alice.get('/api/conversations?view=resolved'))
	    .json.conversations.map((x) => x.id), [id],
	    'listed as resolved while the rating is asked for');
	assert.deepEqual((await alice.get('/api/conversations?view=open'))
	    .json.conversations.map((x) => x.id), [],
	    'no longer open');
	await c.waitFor((f) => f.type === 'message' &&
	    /from 1 \(poor\) to 5 \(excellent\)/.test(f.text),
	    { from: from2, timeout: 10000 });
	await c.sendAndAck('5');
	await waitUntil(() => convRow(k, id).status === 'resolved',
	    { what: 'the rated conversation to be resolved' });
	const twice = await alice.act(id, 'resolve');
	assert.equal(twice.status, 409, twice.text);
	assert.equal(twice.json.error, 'bad_state');
	assert.deepEqual((await alice.get('/api/conversations?view=resolved'))
	    .json.conversations.map((x) => x.id), [id]);

	/* Reopen (any agent may): open, assignee the reopener. */
	const reopen = await bob.act(id, 'reopen');
	assert.equal(reopen.status, 200, reopen.text);
	assert.equal(reopen.json.conversation.status, 'open');
	assert.equal(reopen.json.conversation.assignee.name, 'bob');
	const reopen2 = await bob.act(id, 'reopen');
	assert.equal(reopen2.status, 409);
	assert.equal(reopen2.json.error, 'bad_state');

	const types = eventTypes(k, id);
	for (const e of ['claimed', 'assigned', 'handed_back',
	    'resolved_by_agent', 'reopened'])
		assert.ok(types.includes(e), `event ${e} in ${types}`);

	const ex = await k.stop({ keepDir: true });
	assertNotLogged(k, { 'alice\'s password': PW.alice,
	    'bob\'s password': PW.bob, 'alice\'s session': alice.token,
	    'bob\'s session': bob.token });

	assertClean(k, ex);
});

test('ownership: one of two simultaneous claims wins; the loser may not ' +
    'reply until it takes over', async (t) => {
	const k = await setup(t, { alice: 'admin', bob: 'agent',
	    carol: 'agent' });
	const bob = await login(k, 'bob', PW.bob);
	const carol = await login(k, 'carol', PW.carol);
	const alice = await login(k, 'alice', PW.alice);
	const { c, id } = await handoff(t, k);

	const [rb, rc] = await Promise.all([bob.act(id, 'claim'),
	    carol.act(id, 'claim')]);
	const statuses = [rb.status, rc.status].sort();
	assert.deepEqual(statuses, [200, 409], `${rb.text} / ${rc.text}`);
	const [winner, loser, lost] = rb.status === 200 ?
	    [bob, carol, rc] : [carol, bob, rb];
	assert.equal(lost.json.error, 'conflict');
	assert.equal(lost.json.assignee?.name, winner.agent.name,
	    'the conflict names the winner');
	assert.equal(convRow(k, id).assignee, winner.agent.id);
	assert.equal(eventTypes(k, id).filter((e) => e === 'claimed').length,
	    1);

	/* The loser may not reply, resolve, hand back or assign. */
	const n = messageCount(k, id);
	const reply = await loser.act(id, 'reply', { text: 'Let me help!' });
	assert.equal(reply.status, 403, reply.text);
	assert.equal(reply.json.error, 'forbidden');
	for (const [action, body] of [['resolve', {}], ['handback', {}],
	    ['assign', { agent_id: loser.agent.id }]]) {
		const r = await loser.act(id, action, body);
		assert.equal(r.status, 403, `${action}: ${r.text}`);
	}
	assert.equal(messageCount(k, id), n, 'nothing was written');
	assert.equal(convRow(k, id).status, 'open');
	assert.equal(convRow(k, id).assignee, winner.agent.id);

	/* ...but any agent may leave a note. */
	const note = await loser.act(id, 'note', { text: 'I know them' });
	assert.ok(note.status === 200 || note.status === 201, note.text);

	/*
	 * Takeover: src/auth.c allows AUTH_TAKEOVER to the agent role, so
	 * the loser may take it with force, and the takeover is recorded.
	 */
	const take = await loser.act(id, 'claim', { force: true });
	assert.equal(take.status, 200, take.text);
	assert.equal(take.json.conversation.assignee.name, loser.agent.name);
	assert.ok(eventTypes(k, id).includes('taken_over'));
	const ok = await loser.act(id, 'reply', { text: 'I have it now.' });
	assert.equal(ok.status, 201, ok.text);
	await agentFrame(c, 'I have it now.');
	const nope = await winner.act(id, 'reply', { text: 'Me too!' });
	assert.equal(nope.status, 403, 'the former owner may not reply');

	/* An admin may reply to anyone's conversation. */
	const admin = await alice.act(id, 'reply', { text: 'Admin here.' });
	assert.equal(admin.status, 201, admin.text);
	assert.equal(convRow(k, id).assignee, loser.agent.id,
	    'an admin reply does not take the conversation');
	await assertCleanExit(k);
});

test('canned replies: admins manage them, "/shortcut" expands in a reply',
    async (t) => {
	const k = await setup(t, { alice: 'admin', bob: 'agent' });
	const alice = await login(k, 'alice', PW.alice);
	const bob = await login(k, 'bob', PW.bob);
	const { c, id } = await handoff(t, k);
	const hours = 'We are open from 9:00 to 18:00, Monday to Friday.';

	const denied = await bob.post('/api/canned', { shortcut: 'hours',
	    text: 'bob was here' });
	assert.equal(denied.status, 403, denied.text);
	assert.equal(denied.json.error, 'forbidden');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM canned_replies')[0].n,
	    0);

	const set = await alice.post('/api/canned', { shortcut: 'Hours',
	    text: hours });
	assert.equal(set.status, 200, set.text);
	const bad = await alice.post('/api/canned', { shortcut: 'no spaces',
	    text: 'x' });
	assert.equal(bad.status, 400, bad.text);
	const list = await bob.get('/api/canned');
	assert.equal(list.status, 200);
	assert.deepEqual(list.json.canned, [{ shortcut: 'hours',
	    text: hours }]);

	assert.equal((await bob.act(id, 'claim')).status, 200);
	const r = await bob.act(id, 'reply', { text: '/HOURS Anything else?' });
	assert.equal(r.status, 201, r.text);
	assert.equal(r.json.message.text, `${hours} Anything else?`);
	await agentFrame(c, `${hours} Anything else?`);
	const plain = await bob.act(id, 'reply',
	    { text: '/hoursx is not one' });
	if (plain.status === 201)
		assert.equal(plain.json.message.text, '/hoursx is not one');
	else
		assert.equal(plain.status, 400, plain.text);

	const del = await bob.post('/api/canned/hours/delete');
	assert.equal(del.status, 403);
	assert.equal((await alice.post('/api/canned/hours/delete')).status,
	    200);
	assert.deepEqual((await bob.get('/api/canned')).json.canned, []);
	const missing = await alice.post('/api/canned/hours/delete');
	assert.equal(missing.status, 404);
	await assertCleanExit(k);
});

test('lists: search, channel filter, pages through "next"', async (t) => {
	const k = await setup(t);
	const alice = await login(k, 'alice', PW.alice);
	const ids = [];
	for (let i = 0; i < 3; i++)
		ids.push((await handoff(t, k, `page${i}`)).id);

	const q = async (query) => {
		const r = await alice.get(`/api/conversations?${query}`);
		assert.equal(r.status, 200, `${query}: ${r.text}`);
		return r.json;
	};
	assert.deepEqual((await q('view=waiting')).conversations.map((c) =>
	    c.id), ids, 'oldest waiting first');
	assert.deepEqual((await q('view=all&q=' + encodeURIComponent(
	    'talk to a human'))).conversations.length, 3);
	assert.deepEqual((await q('view=all&q=%25')).conversations, [],
	    'a % in the search is literal');
	assert.deepEqual((await q('view=all&q=nobody%20said%20this'))
	    .conversations, []);
	assert.deepEqual((await q('view=all&channel=telegram')).conversations,
	    []);
	assert.equal((await q('view=all&channel=websocket')).conversations
	    .length, 3);

	/* docs/api.md: "next" is passed back as "offset" for the next page. */
	const p1 = await q('view=waiting&limit=2');
	assert.deepEqual(p1.conversations.map((c) => c.id), ids.slice(0, 2));
	assert.notEqual(p1.next, null, 'there is a next page');
	const p2 = await q(`view=waiting&limit=2&offset=${p1.next}`);
	assert.deepEqual(p2.conversations.map((c) => c.id), ids.slice(2),
	    'the next page: the rest, nothing twice');
	assert.equal(p2.next, null);
	await assertCleanExit(k);
});

test('errors: 404, 400 and 413 as JSON', async (t) => {
	const k = await setup(t, { alice: 'admin' }, { 'http.max_body': 2048 });
	const alice = await login(k, 'alice', PW.alice);
	const { id } = await handoff(t, k);

	for (const p of ['/api/nope', '/api/conversations/999999',
	    '/api/conversations/abc', '/api/me/too']) {
		const r = await alice.get(p);
		assert.equal(r.status, 404, `${p}: ${r.status} ${r.text}`);
		assert.match(r.headers.get('content-type') ?? '',
		    /^application\/json/, p);
		assert.equal(r.json?.error, 'not_found', p);
	}
	const action = await alice.act(id, 'explode');
	assert.equal(action.status, 404);
	assert.equal((await alice.act(999999, 'claim')).status, 404);

	const before = { conv: convRow(k, id), n: messageCount(k, id) };
	for (const body of ['{"text": "unterminated', '[1, 2]', 'not json',
	    '"a string"']) {
		const r = await alice.post(`/api/conversations/${id}/note`,
		    body);
		assert.equal(r.status, 400, `${body}: ${r.text}`);
		assert.equal(r.json?.error, 'bad_request', body);
	}
	const noText = await alice.act(id, 'note', { text: 42 });
	assert.equal(noText.status, 400);

	const view = await alice.get('/api/conversations?view=everything');
	assert.equal(view.status, 400, view.text);
	assert.equal(view.json.error, 'bad_request');

	const big = await alice.post(`/api/conversations/${id}/note`,
	    { text: 'x'.repeat(4096) });
	assert.equal(big.status, 413, big.text);
	assert.equal(big.json?.error, 'too_large');
	assert.deepEqual({ conv: convRow(k, id), n: messageCount(k, id) },
	    before, 'nothing was stored');

	/* The daemon is still well. */
	const me = await alice.get('/api/me');
	assert.equal(me.status, 200);
	assert.equal((await k.get('/healthz')).status, 200);

	/* A JSON object followed by anything else is not a JSON body. */
	const trailing = await alice.post(`/api/conversations/${id}/note`,
	    '{"text": "a"} trailing');
	assert.equal(trailing.status, 400, trailing.text);
	assert.equal(messageCount(k, id), before.n, 'nothing was stored');
	await assertCleanExit(k);
});
