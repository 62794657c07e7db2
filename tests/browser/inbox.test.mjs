/*
 * inbox.test.mjs: the agents' inbox (web/inbox/) in a real browser against
 * a real kefud (tests/lib/harness.mjs).
 *
 * An admin, alice, is made with kefuctl (the binary next to kefud; the
 * password on standard input).  A customer talks through the chat widget
 * on the demo page in a second browser context.  The agent logs in, sees
 * the customer who asked for a person arrive in Waiting without a reload,
 * claims, replies (the widget shows it), writes a note (the widget never
 * sees it), uses a canned reply, hands back to the bot; markup from the
 * customer stays text; and after the page's live socket is cut, messages
 * sent meanwhile and after show exactly once.  Then a takeover from
 * another agent on a narrow screen, a notification for a new waiting
 * customer while the tab is hidden, login throttling and an ended
 * session.
 *
 * Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), driven by
 * playwright-core.  Screenshots go to test-artifacts/ (or
 * $KEFU_ARTIFACTS): inbox-login.png, inbox-waiting.png,
 * inbox-conversation.png, inbox-customer.png, inbox-takeover.png,
 * inbox-narrow.png.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { artifactsDir, connectWs, startKefud, waitUntil } from
    '../lib/harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';
const PASSWORD = 'correct horse battery staple';
const CANNED = 'We are open every day from 9:00 to 18:00 (Beijing time).';
/*
 * Console notes that are the page working: a 401 before login, a 409, a
 * 429; no connection while a test has stopped kefud or gone offline.
 */
const NOT_ERRORS = new RegExp('^Failed to load resource: the server ' +
    'responded with a status of (401|409|429)|^WebSocket connection to ' +
    '.* failed|^Failed to load resource: net::ERR_(CONNECTION_REFUSED|' +
    'INTERNET_DISCONNECTED)');

let browser;
let k;

/* Run kefuctl (next to kefud) on the test's config. */
function kefuctl(args, input) {
	const bin = path.join(path.dirname(k.bin), 'kefuctl');
	return execFileSync(bin, ['-c', k.confPath, ...args], {
		input, encoding: 'utf8'
	});
}

/* Log in over HTTP: {cookie, csrf, agent}. */
async function apiLogin(name) {
	const r = await fetch(`${k.url}/api/login`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ name, password: PASSWORD })
	});
	assert.equal(r.status, 200, `login ${name}`);
	const body = await r.json();
	return { cookie: r.headers.get('set-cookie').split(';')[0],
	    csrf: body.csrf, agent: body.agent };
}

/* POST to the API as a logged-in agent: {status, body}. */
async function apiPost(s, p, body) {
	const r = await fetch(k.url + p, {
		method: 'POST',
		headers: { 'content-type': 'application/json',
		    cookie: s.cookie, 'x-csrf-token': s.csrf },
		body: JSON.stringify(body ?? {})
	});
	return { status: r.status, body: await r.json().catch(() => null) };
}

before(async () => {
	k = await startKefud({});
	kefuctl(['agent', 'add', 'alice', '--role', 'admin',
	    '--display-name', 'Alice'], PASSWORD + '\n');
	kefuctl(['agent', 'add', 'bob', '--role', 'agent',
	    '--display-name', 'Bob 王'], PASSWORD + '\n');
	const s = await apiLogin('alice');
	const r = await apiPost(s, '/api/canned', { shortcut: 'hours',
	    text: CANNED });
	assert.equal(r.status, 200);
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu',
		    '--disable-background-networking',
		    '--disable-component-update', '--disable-sync',
		    '--no-first-run']
	});
});

after(async () => {
	await browser?.close();
	await k?.stop({ keepDir: !!process.env.KEFU_KEEP });
});

/* Print the daemon's log if the test fails. */
function logOnFailure(t) {
	t.after(() => {
		if (t.passed !== true)
			process.stderr.write(`--- kefud log (${t.name}):\n` +
			    `${k?.log()}\n`);
	});
}

/*
 * A fresh context and page; dialogs (alert, confirm...) and page errors
 * are recorded so tests can assert there were none.  The browser's own
 * notes on refused requests (a 401 is the page working) are not errors.
 */
async function newPage(t, { viewport } = {}) {
	const ctx = await browser.newContext({
		viewport: viewport ?? { width: 1280, height: 800 },
		locale: 'en-US'
	});
	const page = await ctx.newPage();
	page.dialogs = [];
	page.errors = [];
	page.on('dialog', (d) => {
		page.dialogs.push(d.message());
		d.dismiss().catch(() => {});
	});
	page.on('pageerror', (e) => page.errors.push(String(e)));
	page.on('console', (m) => {
		if (m.type() === 'error' && !NOT_ERRORS.test(m.text()))
			page.errors.push('console: ' + m.text());
	});
	t.after(() => ctx.close());
	return page;
}

function inboxState(page) {
	return page.evaluate(() => window.KefuInbox.state());
}

async function login(page, name = 'alice') {
	await page.goto(`${k.url}/inbox/`);
	await page.locator('#login-view').waitFor();
	await page.getByLabel('Name').fill(name);
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('#app').waitFor();
	await page.waitForFunction(() => window.KefuInbox.state().live);
}

function shot(page, name) {
	return page.screenshot({ path: path.join(artifactsDir(), name) });
}

/* --- the customer's widget --------------------------------------------- */

function widgetState(page) {
	return page.evaluate(() => window.KefuWidget.state());
}

async function openWidget(page) {
	await page.goto(`${k.url}/`);
	await page.waitForFunction(() => window.KefuWidget);
	await page.locator('.kefu-launcher').click();
	await page.locator('.kefu-panel').waitFor({ state: 'visible' });
	await page.waitForFunction(() =>
	    window.KefuWidget.state().conn === 'online');
}

/* Send from the widget and wait for the server's ack. */
async function customerSays(page, text) {
	const input = page.locator('#kefu-input');
	await input.fill(text);
	await input.press('Enter');
	await page.waitForFunction(() =>
	    window.KefuWidget.state().pending.length === 0);
}

/* Wait until the widget shows a server message matching pred. */
async function customerSees(page, pred, what) {
	return waitUntil(async () => (await widgetState(page)).history.find(
	    (h) => h.k === 's' && pred(h)), { timeout: 10000, what });
}

/* --- the transcript ---------------------------------------------------- */

/* How many transcript rows have exactly this text. */
function rowsWithText(page, text) {
	return page.locator('#transcript .msg-text').evaluateAll((els, x) =>
	    els.filter((e) => e.textContent === x).length, text);
}

/* Every row's id is different and matches the page's state. */
async function assertNoDuplicates(page) {
	const ids = await page.locator('#transcript .msg[data-id]')
	    .evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
	assert.equal(new Set(ids).size, ids.length, `rows: ${ids}`);
	const st = await inboxState(page);
	assert.deepEqual([...ids].sort((a, b) => a - b),
	    [...st.messages].sort((a, b) => a - b));
	assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in id order');
}

describe('inbox on a real kefud', { timeout: 120000 }, () => {
	test('from waiting to the bot, live, without a reload', async (t) => {
		logOnFailure(t);
		const page = await newPage(t);

		/* A wrong password, then the right one. */
		await page.goto(`${k.url}/inbox/`);
		await page.locator('#login-view').waitFor();
		await page.getByLabel('Name').fill('alice');
		await page.getByLabel('Password').fill('not the password');
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.getByRole('alert').filter({ hasText: 'Wrong name ' +
		    'or password.' }).waitFor();
		await shot(page, 'inbox-login.png');
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.locator('#app').waitFor();
		await page.waitForFunction(() => window.KefuInbox.state().live);
		assert.equal(await page.title(), 'kefu inbox');
		assert.equal(await page.locator('#waiting-count').textContent(),
		    '0');

		/* A customer asks for a person: it arrives by itself. */
		const cust = await newPage(t);
		await openWidget(cust);
		await customerSays(cust, '转人工');
		const item = page.locator('#conv-list .conv-item');
		await item.first().waitFor({ timeout: 10000 });
		assert.equal(await item.count(), 1);
		assert.match(await item.textContent(), /Asked for a person/);
		assert.match(await item.locator('.ci-wait').textContent(),
		    /^(just now|\d+ min)$/);
		assert.match(await item.textContent(), /Web chat/);
		await page.waitForFunction(() => document.title ===
		    '(1) kefu inbox');
		assert.equal(await page.locator('#waiting-count').textContent(),
		    '1');
		await shot(page, 'inbox-waiting.png');

		/* Open it: the customer's words and what the bot understood. */
		await item.click();
		const first = page.locator('#transcript .msg--customer')
		    .first();
		await first.waitFor();
		assert.equal(await first.locator('.msg-text').textContent(),
		    '转人工');
		assert.match(await first.locator('.tag--intent').textContent(),
		    /^intent: human/);
		assert.ok(await page.locator('#transcript .msg--bot')
		    .count() >= 1);
		assert.equal(await page.locator('#contact-channel')
		    .textContent(), 'Web chat');
		/* Not claimed yet: only notes. */
		assert.ok(await page.locator('#note-toggle').isChecked());
		assert.ok(await page.locator('#note-toggle').isDisabled());
		assert.equal(await page.getByRole('button', { name: 'Reopen' })
		    .count(), 0);

		/* Claim, then reply with Enter; the customer sees it. */
		await page.getByRole('button', { name: 'Claim' }).click();
		await page.locator('#conv-status', { hasText: 'Open' })
		    .waitFor();
		await page.waitForFunction(() =>
		    document.title === 'kefu inbox');
		assert.equal(await item.count(), 0, 'no longer waiting');
		assert.equal(await page.locator('#note-toggle').isChecked(),
		    false);
		const box = page.locator('#composer-text');
		await box.fill('Hello, this is Alice. 我来帮您。');
		await box.press('Enter');
		const reply = page.locator('#transcript .msg--agent[data-id]');
		await reply.first().waitFor();
		assert.equal(await reply.first().locator('.msg-text')
		    .textContent(), 'Hello, this is Alice. 我来帮您。');
		/* Queued first; the delivery's outcome arrives live. */
		await reply.first().locator('.msg-status',
		    { hasText: /^Sent$/ }).waitFor({ timeout: 10000 });
		assert.equal(await box.inputValue(), '');
		await customerSees(cust, (h) => h.author === 'agent' &&
		    h.text === 'Hello, this is Alice. 我来帮您。',
		    'the reply');

		/* Shift+Enter is a new line, not a send. */
		await box.fill('line one');
		await box.press('Shift+Enter');
		await box.type('line two');
		assert.equal(await box.inputValue(), 'line one\nline two');
		await box.press('Enter');
		await customerSees(cust, (h) => h.text === 'line one\nline two',
		    'the two-line reply');

		/* A canned reply from the picker. */
		await box.fill('/ho');
		const picker = page.getByRole('listbox',
		    { name: 'Canned replies' });
		await picker.waitFor();
		assert.match(await picker.textContent(), /\/hours/);
		await box.press('Enter');
		assert.equal(await picker.isVisible(), false);
		assert.equal(await box.inputValue(), CANNED);
		await box.press('Enter');
		await customerSees(cust, (h) => h.text === CANNED,
		    'the canned reply');
		await cust.locator('.kefu-panel').screenshot({
		    path: path.join(artifactsDir(), 'inbox-customer.png') });

		/* An internal note: yellow, labelled, never sent. */
		await page.getByLabel('Internal note').check();
		await box.fill('VIP customer, be nice');
		await box.press('Enter');
		const note = page.locator('#transcript .msg--note[data-id]');
		await note.waitFor();
		assert.equal(await note.locator('.msg-who').textContent(),
		    'Internal note');
		assert.equal(await note.locator('.msg-text').textContent(),
		    'VIP customer, be nice');
		await shot(page, 'inbox-conversation.png');

		/* Hand back to the bot: the bot says so to the customer. */
		const seen = (await widgetState(cust)).last_seq;
		await page.getByRole('button', { name: 'Hand back to bot' })
		    .click();
		await page.locator('#conv-status', { hasText: 'With the bot' })
		    .waitFor();
		assert.equal(await page.getByRole('button', { name: 'Claim' })
		    .isVisible(), true);
		await customerSees(cust, (h) => h.seq > seen &&
		    h.author === 'bot', 'the bot after the handback');

		/* Markup from the customer is text, and nothing runs. */
		await customerSays(cust, XSS);
		await waitUntil(() => rowsWithText(page, XSS).then((n) =>
		    n === 1), { timeout: 10000, what: 'the markup as text' });
		assert.equal(await page.locator('#transcript img').count(), 0);
		assert.equal(await page.evaluate(() =>
		    document.querySelectorAll('img').length), 0);
		assert.deepEqual(page.dialogs, []);

		/* Cut the live socket; what is said meanwhile shows once. */
		const before = await inboxState(page);
		await page.context().setOffline(true);
		await page.evaluate(() => window.KefuInbox.dropLive());
		await page.locator('#live-status[data-state="offline"]')
		    .waitFor();
		await customerSays(cust, 'said while the inbox was offline');
		await page.context().setOffline(false);
		await page.waitForFunction(() => window.KefuInbox.state().live);
		await waitUntil(() => rowsWithText(page,
		    'said while the inbox was offline').then((n) => n >= 1),
		    { timeout: 10000, what: 'the message sent while offline' });
		await customerSays(cust, 'said after the reconnect');
		await waitUntil(() => rowsWithText(page,
		    'said after the reconnect').then((n) => n >= 1),
		    { timeout: 10000,
		    what: 'the message after the reconnect' });
		/* Let any late duplicate arrive before counting. */
		const after = await inboxState(page);
		assert.ok(after.lastEvent > before.lastEvent,
		    `${after.lastEvent} > ${before.lastEvent}`);
		await page.waitForTimeout(300);
		assert.equal(await rowsWithText(page,
		    'said while the inbox was offline'), 1);
		assert.equal(await rowsWithText(page,
		    'said after the reconnect'), 1);
		assert.equal(await rowsWithText(page, XSS), 1);
		await assertNoDuplicates(page);
		/* The reply's rows are there once each, and no note leaked. */
		assert.equal(await rowsWithText(page,
		    'Hello, this is Alice. 我来帮您。'), 1);
		const told = (await widgetState(cust)).history.map((h) =>
		    h.text);
		assert.ok(!told.includes('VIP customer, be nice'),
		    'the customer never sees a note');
		assert.deepEqual(page.dialogs, []);
		assert.deepEqual(page.errors, []);
		assert.deepEqual(cust.errors, []);
	});

	test('take over from another agent, on a narrow screen', async (t) => {
		logOnFailure(t);
		const cust = await newPage(t);
		await openWidget(cust);
		await customerSays(cust, 'I want to talk to a human');
		const bob = await apiLogin('bob');
		/* Bob claims the newest waiting conversation over HTTP. */
		const list = await fetch(`${k.url}/api/conversations?` +
		    'view=waiting', { headers: { cookie: bob.cookie } })
		    .then((r) => r.json());
		const conv = list.conversations.at(-1);
		assert.equal((await apiPost(bob, '/api/conversations/' +
		    `${conv.id}/claim`, { force: false })).status, 200);

		const page = await newPage(t,
		    { viewport: { width: 390, height: 844 } });
		await login(page);
		await page.getByRole('button', { name: 'All open' }).click();
		const item = page.locator(`#conv-list a[href="#c${conv.id}"]`);
		await item.waitFor();
		assert.match(await item.textContent(), /with Bob 王/);
		/* The keyboard opens it. */
		await item.focus();
		await page.keyboard.press('Enter');
		/* One column: the conversation replaces the list. */
		await page.locator('#conv').waitFor();
		assert.equal(await page.locator('.list-pane').isVisible(),
		    false);
		await page.getByRole('button', { name: 'Take over' }).click();
		const dialog = page.getByRole('dialog', { name: 'Take over?' });
		await dialog.waitFor();
		assert.match(await dialog.textContent(), /Bob 王 has this/);
		await shot(page, 'inbox-takeover.png');
		await dialog.getByRole('button', { name: 'Take over' }).click();
		await page.locator('#conv-sub', { hasText: 'assigned to you' })
		    .waitFor();
		await page.locator('#composer-text').fill('Alice here now.');
		await page.locator('#composer-text').press('Enter');
		await customerSees(cust, (h) => h.text === 'Alice here now.',
		    'the reply after the takeover');
		/*
		 * Resolve: the bot asks for a rating (status bot with
		 * resolved_at until then; Reopen is offered); rated, it is
		 * resolved.
		 */
		await page.getByRole('button', { name: 'Resolve', exact: true })
		    .click();
		await page.locator('#conv-status',
		    { hasText: 'Awaiting rating' }).waitFor();
		await page.getByRole('button', { name: 'Reopen' }).waitFor();
		assert.equal(await page.getByRole('button', { name: 'Resolve',
		    exact: true }).count(), 0);
		await customerSays(cust, '5');
		await page.locator('#conv-status', { hasText: 'Resolved' })
		    .waitFor();
		await page.getByRole('button', { name: 'Reopen' }).waitFor();
		/* The rating and the thanks came live, scrolled into view. */
		await waitUntil(() => rowsWithText(page, '5').then((n) =>
		    n === 1), { what: 'the rating in the transcript' });
		assert.ok(await page.evaluate(() => {
			const e = document.getElementById('transcript');
			return e.scrollHeight - e.scrollTop -
			    e.clientHeight < 2;
		}), 'the transcript shows its end');
		await shot(page, 'inbox-narrow.png');

		/* Reopen, then give it to Bob. */
		await page.getByRole('button', { name: 'Reopen' }).click();
		await page.locator('#conv-sub', { hasText: 'assigned to you' })
		    .waitFor();
		await page.getByRole('button', { name: 'Assign to…' })
		    .click();
		const assign = page.getByRole('dialog',
		    { name: 'Assign to…' });
		await assign.waitFor();
		const bobOption = await assign.locator('option', { hasText:
		    'Bob 王' }).getAttribute('value');
		await assign.getByLabel('Agent').selectOption(bobOption);
		await assign.getByRole('button', { name: 'Assign' }).click();
		await page.locator('#conv-sub',
		    { hasText: 'assigned to Bob 王' }).waitFor();
		await page.getByRole('link', { name: '← Conversations' })
		    .click();
		await page.locator('.list-pane').waitFor();
		assert.deepEqual(page.dialogs, []);
		assert.deepEqual(page.errors, []);
	});

	test('a notification for a new waiting customer, only when hidden',
	    async (t) => {
		logOnFailure(t);
		const page = await newPage(t);
		/* A stand-in for Notification, and a tab that can hide. */
		await page.addInitScript(() => {
			window.__notes = [];
			window.__asked = 0;
			window.__hidden = false;
			class FakeNotification {
				constructor(title, opts) {
					window.__notes.push({ title,
					    body: opts?.body ?? '' });
				}

				close() {}
			}
			FakeNotification.permission = 'default';
			FakeNotification.requestPermission = async () => {
				window.__asked++;
				FakeNotification.permission = 'granted';
				return 'granted';
			};
			window.Notification = FakeNotification;
			Object.defineProperty(Document.prototype, 'hidden', {
				configurable: true,
				get: () => window.__hidden
			});
		});
		await login(page);
		const notes = () => page.evaluate(() => window.__notes);
		/* Permission is asked on a click, never on load. */
		assert.equal(await page.evaluate(() => window.__asked), 0);
		await page.getByRole('button', { name: 'Enable notifications' })
		    .click();
		await page.getByRole('button', { name: 'Enable notifications' })
		    .waitFor({ state: 'hidden' });
		assert.equal(await page.evaluate(() => window.__asked), 1);
		const waiting = Number(await page.locator('#waiting-count')
		    .textContent());

		/* Visible tab: the list and the title, no notification. */
		const a = await newPage(t);
		await openWidget(a);
		await customerSays(a, 'I want to talk to a human');
		await page.waitForFunction((n) => document.title ===
		    `(${n}) kefu inbox`, waiting + 1);
		assert.deepEqual(await notes(), []);

		/* Hidden tab: one notification per new waiting customer. */
		await page.evaluate(() => {
			window.__hidden = true;
		});
		const b = await newPage(t);
		await openWidget(b);
		await customerSays(b, '转人工');
		await page.waitForFunction((n) => document.title ===
		    `(${n}) kefu inbox`, waiting + 2);
		const got = await notes();
		assert.equal(got.length, 1, JSON.stringify(got));
		/* Waiting is oldest first: the newest customer is last. */
		const ids = await page.locator('#conv-list a').evaluateAll(
		    (as) => as.map((x) => Number(x.hash.slice(2))));
		assert.equal(ids.length, waiting + 2);
		assert.equal(ids.at(-1), Math.max(...ids));
		assert.equal(got[0].title, 'A customer is waiting');
		assert.match(got[0].body, /Web chat/);
		assert.deepEqual(page.errors, []);
	});

	test('kefud restarts: the page catches up without a reload',
	    async (t) => {
		logOnFailure(t);
		const page = await newPage(t);
		await login(page);
		const before = (await inboxState(page)).waiting;
		const c = await connectWs(k);
		const hello = await c.hello('inbox-restart-visitor-0001', 0);
		await c.sendAndAck('I want to talk to a human');
		await page.waitForFunction((n) =>
		    window.KefuInbox.state().waiting > n, before);
		const item = page.locator('#conv-list .conv-item').last();
		await item.click();
		await page.locator('#transcript .msg--customer').first()
		    .waitFor();
		const st = await inboxState(page);
		await page.evaluate(() => {
			window.__sameDocument = true;
		});

		/*
		 * Event ids start again from the clock: the page is told to
		 * reset and reloads what it shows over HTTP.
		 */
		await c.close();
		await k.restart();
		const c2 = await connectWs(k);
		await c2.hello(hello.visitor, 0);
		await c2.sendAndAck('after the restart');
		await waitUntil(() => rowsWithText(page, 'after the restart')
		    .then((n) => n === 1), { timeout: 15000,
		    what: 'the message after the restart' });
		await c2.sendAndAck('and one more');
		await waitUntil(() => rowsWithText(page, 'and one more')
		    .then((n) => n === 1), { what: 'a live message' });
		await assertNoDuplicates(page);
		const st2 = await inboxState(page);
		assert.ok(st2.live);
		assert.equal(st2.resets, st.resets + 1, 'told to reset');
		assert.ok(st2.lastEvent > st.lastEvent);
		assert.equal(await page.evaluate(() => window.__sameDocument),
		    true, 'no reload');
		await c2.close();
		assert.deepEqual(page.errors, []);
	});

	test('throttled logins and an ended session', async (t) => {
		logOnFailure(t);
		const page = await newPage(t);
		await page.goto(`${k.url}/inbox/`);
		await page.locator('#login-view').waitFor();
		const err = page.locator('#login-error');
		await page.getByLabel('Name').fill('mallory');
		/* Five failures lock the name; the sixth try is refused. */
		for (let i = 0; i < 8; i++) {
			await page.evaluate(() => {
				document.getElementById('login-error')
				    .textContent = '';
			});
			await page.getByLabel('Password')
			    .fill(`guess number ${i}`);
			await page.getByRole('button', { name: 'Log in' })
			    .click();
			await waitUntil(async () =>
			    await err.textContent() !== '',
			    { what: 'an answer to the login' });
			if (/Too many/.test(await err.textContent()))
				break;
			assert.equal(await err.textContent(),
			    'Wrong name or password.');
		}
		assert.match(await err.textContent(),
		    /^Too many attempts, try again in \d+ s\.$/);

		/* A session that ends sends the page back to the login. */
		await login(page);
		await page.context().clearCookies();
		await page.getByRole('button', { name: 'Resolved' }).click();
		await page.locator('#login-view').waitFor();
		assert.match(await page.locator('#login-notice').textContent(),
		    /session has ended/);
		assert.deepEqual(page.errors, []);
	});
});
