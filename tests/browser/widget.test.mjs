/*
 * widget.test.mjs: the chat widget (web/kefu-widget.js) in a real browser.
 *
 * Two servers.  A scripted one, written here (node http + ws serving web/),
 * checks the widget's side of docs/widget-protocol.md exactly: what it
 * sends, and what it does with acks, duplicates, errors and dropped
 * connections.  Then the real kefud (tests/lib/harness.mjs): the demo
 * page, a conversation with the bot, a quick reply, a reload, a restart.
 *
 * Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), driven by
 * playwright-core.  Screenshots go to test-artifacts/ (or $KEFU_ARTIFACTS).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { artifactsDir, startKefud, topSrcdir, waitUntil, WsClient } from
    '../lib/harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const XSS = '<img src=x onerror=alert(1)>';

let browser;

before(async () => {
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
});

/*
 * A fresh browser context (its own localStorage) and page; dialogs and
 * page errors are recorded so tests can assert there were none.
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
		/* The browser's own note on a refused connection is not a
		 * widget error: tests stop the server on purpose. */
		if (m.type() === 'error' &&
		    !/^WebSocket connection to .* failed/.test(m.text()))
			page.errors.push('console: ' + m.text());
	});
	t.after(() => ctx.close());
	return page;
}

function widgetState(page) {
	return page.evaluate(() => window.KefuWidget.state());
}

/* Wait until pred(state, arg) holds for the widget's state (polled). */
async function waitWidget(page, pred, arg, timeout = 10000) {
	let last;
	try {
		return await waitUntil(async () => {
			last = await page.evaluate(() => window.KefuWidget &&
			    window.KefuWidget.state());
			return last && pred(last, arg);
		}, { timeout, interval: 50, what: pred.toString() });
	} catch (e) {
		e.message += `; widget state: ${JSON.stringify(last)}`;
		throw e;
	}
}

/* The class of the focused element, looking into shadow roots. */
function activeClass() {
	let a = document.activeElement;
	while (a && a.shadowRoot && a.shadowRoot.activeElement)
		a = a.shadowRoot.activeElement;
	return a ? a.className : null;
}

/* KefuWidget.sync(): everything the server sent so far has arrived. */
function syncWidget(page, timeout = 10000) {
	return Promise.race([page.evaluate(() => window.KefuWidget.sync()),
	    new Promise((resolve, reject) => setTimeout(() => reject(
	    new Error('KefuWidget.sync() timed out')), timeout).unref())]);
}

async function openWidget(page) {
	await page.waitForFunction(() => window.KefuWidget);
	const launcher = page.locator('.kefu-launcher');
	await launcher.waitFor({ state: 'visible' });
	await launcher.click();
	await page.locator('.kefu-panel').waitFor({ state: 'visible' });
}

async function typeAndSend(page, text) {
	const input = page.locator('#kefu-input');
	await input.fill(text);
	await input.press('Enter');
}

/* --- a scripted server -------------------------------------------------- */

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8'
};

class FakeServer {
	constructor() {
		this.conns = [];	/* WsClient per accepted socket */
		this.pages = {};	/* extra paths -> html */
		this.onConnect = null;	/* (WsClient) => void */
	}

	async start() {
		const web = path.join(topSrcdir, 'web');
		this.http = http.createServer((req, res) => {
			const p = new URL(req.url, 'http://x').pathname;
			if (this.pages[p]) {
				res.writeHead(200, { 'content-type':
				    TYPES['.html'] });
				res.end(this.pages[p]);
				return;
			}
			const file = path.join(web, p === '/' ? 'index.html' :
			    path.normalize(p));
			if (!file.startsWith(web) || !fs.existsSync(file)) {
				res.writeHead(404);
				res.end();
				return;
			}
			res.writeHead(200, { 'content-type':
			    TYPES[path.extname(file)] ?? 'text/plain' });
			res.end(fs.readFileSync(file));
		});
		this.wss = new WebSocketServer({ server: this.http, path: '/ws' });
		this.wss.on('connection', (ws) => {
			const c = new WsClient(ws);
			c.openedAt = Date.now();
			ws.on('message', (d) => {
				if (/^\{"type":"ping"\}$/.test(d.toString()))
					ws.send('{"type":"pong"}');
			});
			ws.on('close', () => {
				c.closedAt = Date.now();
			});
			this.conns.push(c);
			this.onConnect?.(c);
		});
		await new Promise((r) => this.http.listen(0, '127.0.0.1', r));
		this.url = `http://127.0.0.1:${this.http.address().port}`;
		return this;
	}

	/* The n-th connection (0-based), once it has arrived. */
	async conn(n, timeout = 10000) {
		await waitUntil(() => this.conns.length > n, {
			timeout, what: `WebSocket connection #${n}`
		});
		return this.conns[n];
	}

	/* Wait for a connection's hello and answer it with ready. */
	async accept(n, seq = 0) {
		const c = await this.conn(n);
		const hello = await c.waitFor({ type: 'hello' });
		c.send({ type: 'ready', visitor: hello.visitor, seq });
		return { c, hello };
	}

	async stop() {
		for (const c of this.conns)
			c.terminate();
		this.wss.close();
		await new Promise((r) => this.http.close(r));
	}
}

describe('widget against a scripted server', { timeout: 300000 }, () => {
	let fake;

	before(async () => {
		fake = await new FakeServer().start();
	});

	after(async () => {
		await fake.stop();
	});

	/* Each test gets a server with no connections of its own yet. */
	async function fresh() {
		for (const c of fake.conns)
			c.terminate();
		fake.conns = [];
		fake.onConnect = null;
	}

	test('hello, a pending message, then sent once acked', async (t) => {
		await fresh();
		const page = await newPage(t);
		await page.goto(fake.url + '/');
		assert.equal(await page.title(),
		    'Kefu Demo Shop / 客服演示商城');
		assert.equal(fake.conns.length, 0,
		    'a new visitor connects only when the chat is opened');
		await openWidget(page);
		assert.equal(await page.locator('.kefu-launcher')
		    .getAttribute('aria-expanded'), 'true');

		const c = await fake.conn(0);
		const hello = await c.waitFor({ type: 'hello' });
		assert.match(hello.visitor, ID_RE);
		assert.equal(hello.last_seq, 0);
		assert.equal(hello.lang, 'en');
		assert.equal(c.frames[0].type, 'hello', 'hello comes first');
		c.send({ type: 'ready', visitor: hello.visitor, seq: 0 });
		await waitWidget(page, (s) => s.conn === 'online');

		await typeAndSend(page, 'hello there');
		const m = await c.waitFor({ type: 'message' });
		assert.equal(m.text, 'hello there');
		assert.match(m.id, ID_RE);
		assert.equal(await page.locator('#kefu-input').inputValue(), '',
		    'the input is cleared after sending');

		const row = page.locator(`.kefu-msg--customer[data-id="${m.id}"]`);
		await row.waitFor();
		assert.equal(await row.getAttribute('data-status'), 'pending');
		assert.equal(await row.locator('.kefu-status').textContent(),
		    'Sending…');
		let s = await widgetState(page);
		assert.deepEqual(s.pending, [m.id]);

		c.send({ type: 'ack', id: m.id });
		await page.locator(`.kefu-msg--customer[data-id="${m.id}"]` +
		    '[data-status="sent"]').waitFor();
		assert.equal(await row.locator('.kefu-status').textContent(),
		    'Sent');
		s = await widgetState(page);
		assert.deepEqual(s.pending, []);
		assert.equal(s.visitor, hello.visitor);

		/* Shift+Enter is a new line, not a send. */
		const input = page.locator('#kefu-input');
		await input.fill('line one');
		await input.press('Shift+Enter');
		await input.pressSequentially('line two');
		assert.equal(await input.inputValue(), 'line one\nline two');
		assert.equal(c.ofType('message').length, 1);
		await page.locator('.kefu-send').click();
		const m2 = await c.waitFor((f) => f.type === 'message' &&
		    f.id !== m.id);
		assert.equal(m2.text, 'line one\nline two');
		assert.deepEqual(page.errors, []);
	});

	test('server messages: by author, as text, each seq once',
	    async (t) => {
		await fresh();
		const page = await newPage(t);
		await page.goto(fake.url + '/');
		await openWidget(page);
		const { c } = await fake.accept(0);
		await waitWidget(page, (s) => s.conn === 'online');

		const ts = Date.now();
		c.send({ type: 'message', seq: 1, author: 'bot',
		    text: 'Welcome!', ts });
		c.send({ type: 'message', seq: 2, author: 'agent',
		    text: 'Hi, I am Li.', ts });
		c.send({ type: 'message', seq: 3, author: 'system', text: XSS,
		    ts });
		c.send({ type: 'message', seq: 2, author: 'agent',
		    text: 'Hi, I am Li.', ts });
		c.send({ type: 'message', seq: 1, author: 'bot',
		    text: 'Welcome!', ts });
		c.send({ type: 'message', seq: 4, author: 'bot',
		    text: 'see https://shop.example/returns?x=1.', ts });
		await waitWidget(page, (s) => s.last_seq === 4);

		const rows = page.locator('.kefu-msg');
		assert.equal(await rows.count(), 4, 'no duplicates');
		assert.equal(await page.locator('.kefu-msg--bot .kefu-bubble')
		    .first().textContent(), 'Welcome!');
		assert.equal(await page.locator('.kefu-msg--agent .kefu-bubble')
		    .textContent(), 'Hi, I am Li.');
		assert.equal(await page.locator('.kefu-msg--system ' +
		    '.kefu-bubble').textContent(), XSS);
		assert.equal(await page.locator('.kefu-root img').count(), 0);
		assert.equal(await page.locator('.kefu-msg--agent .kefu-sr')
		    .textContent(), 'Agent: ');

		/* A URL becomes a link, without the full stop after it. */
		const a = page.locator('.kefu-msg[data-seq="4"] a');
		assert.equal(await a.getAttribute('href'),
		    'https://shop.example/returns?x=1');
		assert.equal(await a.getAttribute('rel'),
		    'noopener noreferrer');

		/* Unknown frame types and fields are ignored. */
		c.send({ type: 'typing', who: 'agent' });
		c.send({ type: 'message', seq: 5, author: 'bot', text: 'ok',
		    ts, future_field: { x: 1 } });
		await waitWidget(page, (s) => s.last_seq === 5);
		assert.equal(await rows.count(), 5);
		assert.deepEqual(page.dialogs, []);
		assert.deepEqual(page.errors, []);
	});

	test('a quick reply sends its value and title', async (t) => {
		await fresh();
		const page = await newPage(t);
		await page.goto(fake.url + '/');
		await openWidget(page);
		const { c } = await fake.accept(0);
		c.send({ type: 'message', seq: 1, author: 'bot',
		    text: 'Did that help?', ts: Date.now(), buttons: [
			{ title: 'Yes', value: 'yes' },
			{ title: 'No, a person please', value: 'no' }] });
		const group = page.locator('.kefu-quick');
		await group.waitFor();
		assert.equal(await group.getAttribute('role'), 'group');
		await page.getByRole('button', { name: 'Yes', exact: true })
		    .click();
		const m = await c.waitFor({ type: 'message' });
		assert.equal(m.value, 'yes');
		assert.equal(m.text, 'Yes');
		/* Answered: the buttons go away. */
		await group.waitFor({ state: 'hidden' });
		c.send({ type: 'ack', id: m.id });
		await page.locator(`[data-id="${m.id}"][data-status="sent"]`)
		    .waitFor();
	});

	test('reconnects with growing back-off and re-sends unacked ' +
	    'messages with the same id', async (t) => {
		await fresh();
		const page = await newPage(t);
		await page.goto(fake.url + '/');
		await openWidget(page);
		const { c: c0 } = await fake.accept(0);
		c0.send({ type: 'message', seq: 1, author: 'bot', text: 'Hi',
		    ts: Date.now() });
		await typeAndSend(page, 'is anyone there?');
		const m = await c0.waitFor({ type: 'message' });
		await waitWidget(page, (s) => s.last_seq === 1);

		/*
		 * The next three connections are closed before ready: the
		 * delays between them should roughly double (0.5 s, 1 s,
		 * 2 s caps, with jitter between half and all of the cap).
		 */
		fake.onConnect = (c) => {
			if (fake.conns.length <= 4)
				c.waitFor({ type: 'hello' }).then(() =>
				    c.close(1011), () => {});
		};
		c0.terminate();
		await waitWidget(page, (s) => s.conn !== 'online');
		const { c: c4, hello } = await fake.accept(4);
		assert.equal(hello.last_seq, 1, 'hello carries the last seq');
		assert.equal(hello.visitor, (await widgetState(page)).visitor);

		const gaps = [];
		for (let i = 1; i <= 4; i++)
			gaps.push(fake.conns[i].openedAt -
			    fake.conns[i - 1].closedAt);
		const caps = [500, 1000, 2000, 4000];
		gaps.forEach((g, i) => {
			assert.ok(g >= caps[i] / 2 - 100 && g <= caps[i] + 400,
			    `reconnect ${i + 1} after ${g} ms, cap ${caps[i]} ` +
			    `(gaps ${gaps})`);
		});

		const again = await c4.waitFor({ type: 'message' });
		assert.equal(again.id, m.id, 're-sent with the same id');
		assert.equal(again.text, 'is anyone there?');
		c4.send({ type: 'ack', id: m.id });
		await page.locator(`[data-id="${m.id}"][data-status="sent"]`)
		    .waitFor();
		await waitWidget(page, (s) => s.conn === 'online' &&
		    s.attempt === 0);
	});

	test('errors: rate_limited is retried, bad_request fails',
	    async (t) => {
		await fresh();
		const page = await newPage(t);
		await page.goto(fake.url + '/');
		await openWidget(page);
		const { c } = await fake.accept(0);

		await typeAndSend(page, 'one');
		const m1 = await c.waitFor({ type: 'message' });
		c.send({ type: 'error', code: 'rate_limited', id: m1.id,
		    message: 'slow down' });
		const notice = page.locator('.kefu-notice');
		await notice.waitFor({ state: 'visible' });
		assert.match(await notice.textContent(), /quickly/);
		assert.equal(await notice.getAttribute('role'), 'status');
		let from = c.frames.length;
		const retry = await c.waitFor({ type: 'message' },
		    { from, timeout: 6000 });
		assert.equal(retry.id, m1.id);
		/* kefud's rate limit cannot name the frame: no id. */
		from = c.frames.length;
		c.send({ type: 'error', code: 'rate_limited',
		    message: 'too many frames' });
		const retry2 = await c.waitFor({ type: 'message' },
		    { from, timeout: 10000 });
		assert.equal(retry2.id, m1.id);
		c.send({ type: 'ack', id: m1.id });
		await page.locator(`[data-id="${m1.id}"][data-status="sent"]`)
		    .waitFor();
		/* A duplicate ack changes nothing. */
		c.send({ type: 'ack', id: m1.id, duplicate: true });

		await typeAndSend(page, 'two');
		const m2 = await c.waitFor((f) => f.type === 'message' &&
		    f.id !== m1.id);
		c.send({ type: 'error', code: 'bad_request', id: m2.id,
		    message: 'text: too long' });
		await page.locator(`[data-id="${m2.id}"]` +
		    '[data-status="failed"]').waitFor();
		assert.equal(await page.locator(`[data-id="${m2.id}"] ` +
		    '.kefu-status').textContent(), 'Not sent');
		assert.deepEqual((await widgetState(page)).pending, []);

		/* Too long for the protocol: refused before sending. */
		const sent = c.ofType('message').length;
		const long = 'x'.repeat(4097);
		await page.evaluate((x) => window.KefuWidget.send(x), long);
		assert.match(await notice.textContent(), /too long/);
		assert.equal(c.ofType('message').length, sent);
		assert.deepEqual(page.errors, []);
	});

	test('bad_identity: told politely, then a guest', async (t) => {
		await fresh();
		fake.pages['/id.html'] = '<!doctype html><html lang="en">' +
		    '<head><meta charset="utf-8"><title>id</title></head>' +
		    '<body><script src="/kefu-widget.js" ' +
		    'data-kefu-user="u-42" data-kefu-sig="00ff" ' +
		    'data-kefu-name="Ann" async></script></body></html>';
		const page = await newPage(t);
		await page.goto(fake.url + '/id.html');
		await openWidget(page);
		const c0 = await fake.conn(0);
		const h0 = await c0.waitFor({ type: 'hello' });
		assert.deepEqual(h0.identity, { user: 'u-42', sig: '00ff' });
		assert.equal(h0.name, 'Ann');
		/* Written before the answer: it must survive the refusal. */
		await typeAndSend(page, 'need help');
		const id = (await widgetState(page)).pending[0];
		c0.send({ type: 'error', code: 'bad_identity',
		    message: 'signature mismatch' });
		const notice = page.locator('.kefu-notice');
		await notice.waitFor({ state: 'visible' });
		assert.match(await notice.textContent(), /verify/);
		const { c: c1, hello: h1 } = await fake.accept(1);
		assert.equal(h1.identity, undefined);
		assert.match(h1.visitor, ID_RE);
		const m = await c1.waitFor({ type: 'message' });
		assert.equal(m.id, id);
		assert.equal(m.text, 'need help');
		assert.equal(c0.ofType('message').length, 0,
		    'nothing is sent before ready');
		await waitWidget(page, (s) => s.conn === 'online');
		/* The guest's conversation is stored apart from the user's. */
		const keys = await page.evaluate(() => Object.keys(localStorage)
		    .filter((k) => k.startsWith('kefu.v1:')).sort());
		assert.equal(keys.length, 2);
		assert.ok(keys[1].endsWith('#u:u-42'), keys.join(' '));
	});

	test('history survives a reload without duplicates', async (t) => {
		await fresh();
		const page = await newPage(t);
		await page.goto(fake.url + '/');
		await openWidget(page);
		const { c } = await fake.accept(0);
		const ts = Date.now();
		c.send({ type: 'message', seq: 1, author: 'bot', text: 'one',
		    ts });
		await typeAndSend(page, 'mine');
		const m = await c.waitFor({ type: 'message' });
		c.send({ type: 'ack', id: m.id });
		c.send({ type: 'message', seq: 2, author: 'bot', text: 'two',
		    ts });
		await waitWidget(page, (s) => s.last_seq === 2 &&
		    s.pending.length === 0);
		const before = await page.locator('.kefu-msg').allTextContents();

		await page.reload();
		/* The panel was open: it opens again and reconnects. */
		const c1 = await fake.conn(1);
		const hello = await c1.waitFor({ type: 'hello' });
		assert.equal(hello.last_seq, 2);
		c1.send({ type: 'ready', visitor: hello.visitor, seq: 2 });
		/* An overlapping replay must not duplicate anything. */
		c1.send({ type: 'message', seq: 2, author: 'bot', text: 'two',
		    ts });
		c1.send({ type: 'message', seq: 3, author: 'bot',
		    text: 'three', ts });
		await waitWidget(page, (s) => s.last_seq === 3);
		const afterReload = await page.locator('.kefu-msg')
		    .allTextContents();
		assert.deepEqual(afterReload.slice(0, before.length), before);
		assert.equal(afterReload.length, before.length + 1);
		assert.equal(c1.ofType('message').length, 0,
		    'an acked message is not sent again');

		/*
		 * A server whose store was replaced has fewer messages than
		 * the widget saw: it replays from seq 1, and those are new.
		 */
		await page.reload();
		const c2 = await fake.conn(2);
		const h2 = await c2.waitFor({ type: 'hello' });
		assert.equal(h2.last_seq, 3);
		c2.send({ type: 'ready', visitor: h2.visitor, seq: 1 });
		c2.send({ type: 'message', seq: 1, author: 'system',
		    text: 'new start', ts });
		await waitWidget(page, (s) => s.epoch === 1 && s.last_seq === 1);
		assert.equal(await page.locator('.kefu-msg').count(),
		    afterReload.length + 1);
	});

	test('two tabs share one conversation', async (t) => {
		await fresh();
		const a = await newPage(t);
		await a.goto(fake.url + '/');
		await openWidget(a);
		const { c: ca, hello: ha } = await fake.accept(0);
		await typeAndSend(a, 'from tab a');
		const m = await ca.waitFor({ type: 'message' });
		ca.send({ type: 'ack', id: m.id });
		await waitWidget(a, (s) => s.pending.length === 0);

		/* Same browser profile: the second tab finds the visitor. */
		const b = await a.context().newPage();
		await b.goto(fake.url + '/');
		const { c: cb, hello: hb } = await fake.accept(1);
		assert.equal(hb.visitor, ha.visitor);
		await b.locator('.kefu-msg').first().waitFor();
		assert.equal(await b.locator('.kefu-msg--customer .kefu-bubble')
		    .textContent(), 'from tab a');

		/* A message seen by one tab shows in the other, once. */
		cb.send({ type: 'message', seq: 1, author: 'agent',
		    text: 'both of you', ts: Date.now() });
		await waitWidget(a, (s) => s.last_seq === 1);
		ca.send({ type: 'message', seq: 1, author: 'agent',
		    text: 'both of you', ts: Date.now() });
		await syncWidget(a);
		assert.equal(await a.locator('.kefu-msg--agent').count(), 1);
		assert.equal(await b.locator('.kefu-msg--agent').count(), 1);
	});

	test('zh-CN strings and the keyboard', async (t) => {
		await fresh();
		fake.pages['/zh.html'] = '<!doctype html><html lang="en">' +
		    '<head><meta charset="utf-8"><title>zh</title></head>' +
		    '<body><h1>店</h1><button id="before">x</button>' +
		    '<script src="/kefu-widget.js" data-lang="zh-CN" ' +
		    'data-kefu-url="/ws" async></script></body></html>';
		const page = await newPage(t);
		await page.goto(fake.url + '/zh.html');
		await page.waitForFunction(() => window.KefuWidget);
		const launcher = page.getByRole('button',
		    { name: '打开客服聊天' });
		await launcher.waitFor();
		assert.equal((await widgetState(page)).url,
		    fake.url.replace('http:', 'ws:') + '/ws');

		/* Tab to the launcher, open with Enter, close with Escape. */
		await page.focus('#before');
		await page.keyboard.press('Tab');
		assert.equal(await page.evaluate(activeClass), 'kefu-launcher');
		await page.keyboard.press('Enter');
		const dialog = page.getByRole('dialog', { name: '在线客服' });
		await dialog.waitFor();
		assert.equal(await page.evaluate(activeClass), 'kefu-input');
		assert.equal(await page.locator('#kefu-input')
		    .getAttribute('placeholder'), '输入消息…');
		const { c, hello } = await fake.accept(0);
		assert.equal(hello.lang, 'zh-CN');
		await typeAndSend(page, '退款多久到账');
		const m = await c.waitFor({ type: 'message' });
		assert.equal(m.text, '退款多久到账');
		assert.equal(await page.locator(`[data-id="${m.id}"] ` +
		    '.kefu-status').textContent(), '发送中…');
		await page.keyboard.press('Escape');
		await dialog.waitFor({ state: 'hidden' });
		assert.equal(await page.evaluate(activeClass), 'kefu-launcher');

		/* Closed: a new message shows as unread on the launcher. */
		c.send({ type: 'message', seq: 1, author: 'agent',
		    text: '三到五个工作日。', ts: Date.now() });
		await page.locator('.kefu-badge').waitFor();
		assert.equal(await page.locator('.kefu-badge').textContent(),
		    '1');
		assert.match(await page.locator('.kefu-launcher')
		    .getAttribute('aria-label'), /1 条新消息/);
	});
});

/* --- the real kefud ------------------------------------------------------ */

/* Every server message in the widget's history, in order. */
function serverEntries(s) {
	return s.history.filter((h) => h.k === 's');
}

/* Assert the transcript shows each entry once, and matches the state. */
async function assertNoDuplicates(page) {
	const s = await widgetState(page);
	const keys = await page.locator('.kefu-msg').evaluateAll((els) =>
	    els.map((e) => e.getAttribute('data-key')));
	assert.equal(new Set(keys).size, keys.length,
	    `duplicate rows: ${keys}`);
	assert.equal(keys.length, s.history.length);
	const seqs = serverEntries(s).map((h) => h.seq);
	for (let i = 1; i < seqs.length; i++)
		assert.equal(seqs[i], seqs[i - 1] + 1, `seqs ${seqs}`);
	if (seqs.length)
		assert.equal(seqs[seqs.length - 1], s.last_seq);
	return s;
}

/* Send text and wait for its ack and for a server reply after it. */
async function converse(page, text, timeout = 15000) {
	const before = await widgetState(page);
	await typeAndSend(page, text);
	await waitWidget(page, (s, a) => s.pending.length === 0 &&
	    s.last_seq > a, before.last_seq, timeout);
	const s = await widgetState(page);
	const mine = s.history.filter((h) => h.k === 'c' && h.text === text);
	assert.ok(mine.length >= 1, `"${text}" is in the transcript`);
	assert.equal(mine[mine.length - 1].status, 'sent');
	return serverEntries(s).filter((h) => h.seq > before.last_seq);
}

describe('widget on a real kefud', { timeout: 300000 }, () => {
	let k;

	before(async () => {
		k = await startKefud({});
	});

	after(async () => {
		await k?.stop({ keepDir: !!process.env.KEFU_KEEP });
	});

	/* Print the daemon's log if the test fails. */
	function logOnFailure(t) {
		t.after(() => {
			if (t.passed !== true) {
				process.stderr.write(`--- kefud log ` +
				    `(${t.name}):\n${k?.log()}\n`);
			}
		});
	}

	test('the demo page: welcome, FAQ, quick reply, reload',
	    async (t) => {
		logOnFailure(t);
		const page = await newPage(t);
		const res = await page.goto(k.url + '/');
		assert.equal(res.status(), 200);
		assert.equal(await page.title(),
		    'Kefu Demo Shop / 客服演示商城');
		await openWidget(page);
		await waitWidget(page, (s) => s.conn === 'online');

		const welcome = await converse(page, 'hello');
		assert.ok(welcome.length >= 1, 'the bot answers hello');
		assert.ok(welcome.every((h) => h.text.length > 0));
		assert.ok(welcome.some((h) => h.author === 'bot'),
		    JSON.stringify(welcome));

		const answer = await converse(page, 'how do I return an item');
		assert.ok(answer.some((h) => h.author === 'bot' &&
		    /return|refund|退/i.test(h.text)),
		    `an answer about returns: ${JSON.stringify(answer)}`);

		/* Press the first live quick reply, whatever it is. */
		const quick = page.locator('.kefu-quick:not([hidden]) ' +
		    '.kefu-quick-btn');
		await quick.first().waitFor({ timeout: 10000 });
		const title = await quick.first().textContent();
		const before = await widgetState(page);
		await quick.first().click();
		await waitWidget(page, (s, a) => s.pending.length === 0 &&
		    s.last_seq > a, before.last_seq, 15000);
		let s = await widgetState(page);
		const pressed = s.history.filter((h) => h.k === 'c')
		    .slice(-1)[0];
		assert.equal(pressed.text, title);
		assert.ok(typeof pressed.value === 'string' &&
		    pressed.value.length > 0);
		assert.equal(pressed.status, 'sent');

		/* Markup in a message is text, and nothing runs. */
		const xssBefore = s.last_seq;
		await typeAndSend(page, XSS);
		await waitWidget(page, (st) => st.pending.length === 0);
		const bubble = page.locator('.kefu-msg--customer .kefu-bubble')
		    .last();
		assert.equal(await bubble.textContent(), XSS);
		await waitWidget(page, (st, a) => st.last_seq > a, xssBefore,
		    15000).catch(() => {});	/* a reply is not required */
		assert.equal(await page.locator('.kefu-root img').count(), 0);
		assert.deepEqual(page.dialogs, []);

		s = await assertNoDuplicates(page);
		await page.screenshot({ path: path.join(artifactsDir(),
		    'widget-desktop.png') });

		/* Reload: the same transcript, nothing twice. */
		const rows = await page.locator('.kefu-msg').allTextContents();
		await page.reload();
		await waitWidget(page, (st) => st.conn === 'online' && st.open);
		await syncWidget(page);
		const s2 = await assertNoDuplicates(page);
		assert.equal(s2.visitor, s.visitor);
		assert.equal(s2.last_seq, s.last_seq);
		assert.deepEqual(await page.locator('.kefu-msg')
		    .allTextContents(), rows);

		/* Forget last_seq: the server replays it all, shown once. */
		await page.evaluate(() => {
			const key = Object.keys(localStorage).find((x) =>
			    x.startsWith('kefu.v1:'));
			const st = JSON.parse(localStorage.getItem(key));
			st.last_seq = 0;
			localStorage.setItem(key, JSON.stringify(st));
		});
		await page.reload();
		await waitWidget(page, (st, a) => st.conn === 'online' &&
		    st.last_seq === a, s.last_seq);
		await syncWidget(page);
		await assertNoDuplicates(page);
		assert.equal(await page.locator('.kefu-msg').count(),
		    rows.length);
		assert.deepEqual(page.errors, []);
	});

	test('a message sent while kefud is down is delivered after ' +
	    'it restarts', async (t) => {
		logOnFailure(t);
		const page = await newPage(t);
		await page.goto(k.url + '/');
		await openWidget(page);
		await converse(page, 'hi');

		const ex = await k.kill('SIGTERM');
		assert.equal(ex.code, 0, 'kefud exits cleanly on SIGTERM');
		await waitWidget(page, (s) => s.conn !== 'online');
		const s0 = await widgetState(page);
		await typeAndSend(page, '我的订单12345到哪了');
		const s1 = await widgetState(page);
		assert.equal(s1.pending.length, 1);
		const id = s1.pending[0];
		assert.equal(await page.locator(`[data-id="${id}"]`)
		    .getAttribute('data-status'), 'pending');

		await k.start();
		await waitWidget(page, (s, a) => s.pending.length === 0 &&
		    s.last_seq > a, s0.last_seq, 45000);
		const s2 = await assertNoDuplicates(page);
		const entry = s2.history.find((h) => h.k === 'c' && h.id === id);
		assert.equal(entry.status, 'sent');
		const reply = serverEntries(s2).filter((h) => h.seq >
		    s0.last_seq);
		assert.ok(reply.length > 0 && reply.every((h) =>
		    h.text.length > 0), JSON.stringify(reply));
		assert.deepEqual(page.errors, []);
	});

	test('small screens: the panel fills the viewport', async (t) => {
		logOnFailure(t);
		const page = await newPage(t,
		    { viewport: { width: 390, height: 844 } });
		await page.goto(k.url + '/');
		await openWidget(page);
		await converse(page, '退款多久到账');
		const box = await page.locator('.kefu-panel').boundingBox();
		assert.equal(Math.round(box.width), 390);
		assert.equal(Math.round(box.height), 844);
		await page.screenshot({ path: path.join(artifactsDir(),
		    'widget-mobile.png') });
		await page.getByRole('button', { name: 'Close chat' }).click();
		await page.locator('.kefu-launcher').waitFor();
	});
});
