/*
 * telegram-hooks.test.mjs: the webhook listener (http.webhook_listen,
 * libmicrohttpd) with a real kefud and the fake Bot API.
 *
 * It serves channel webhooks and /healthz and nothing else of kefu (not
 * the inbox, its API, /metrics, the widget or its WebSocket); refuses
 * other methods (405), long paths (414) and bodies over http.max_body,
 * by Content-Length or chunked (413), storing nothing; keeps connections
 * alive across updates; answers 503 with Retry-After when the queue is
 * full; stores an update whose client left before the commit, once; on
 * SIGTERM in the middle of a burst exits 0 with every acknowledged
 * update durable; and a webhook port in use or a bad webhook_listen is a
 * clear error at start.  Both listeners bind only the address they
 * are given (libwebsockets bound 127.0.0.1 to every interface when IPv6
 * was on).  (The end-to-end conversation through it is in
 * telegram.test.mjs, a kill -9 in the middle of a burst in
 * telegram-queue.test.mjs.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { baseSettings, deepMerge, findKefud, freePort, startKefud,
    storeQuery, storeQueryAsync, toLibconfig, waitUntil } from
    '../lib/harness.mjs';
import { startFakeTelegram, unstoredUpdates } from
    '../lib/fake-telegram.mjs';

const SECRET = 'hooks-secret';
const FIRST_USER = 8679559480;		/* beyond 32 bits */

/* A fake Bot API and a kefud whose webhook bot "shop" has its listener. */
async function setup(t, overrides = {}) {
	const tg = await startFakeTelegram();
	t.after(() => tg.close());
	const hooksPort = await freePort();
	const k = await startKefud(deepMerge({
		http: { webhook_listen: `127.0.0.1:${hooksPort}` },
		delivery: { retry_base: 50, retry_max: 500 },
		channels: { telegram: [tg.webhookBotConfig(SECRET)] }
	}, overrides), { t });
	const base = `http://127.0.0.1:${hooksPort}`;
	/* The bot answers 503 until getMe has. */
	await waitUntil(() => tg.calls('getMe').length > 0, {
		what: 'getMe'
	});
	return { tg, k, base, hook: `${base}/telegram/shop` };
}

function sql(k, query) {
	return storeQuery(k.settings.store.path, query);
}

function sqlA(k, query) {
	return storeQueryAsync(k.settings.store.path, query);
}

/* One raw HTTP/1.1 exchange on a new connection: the answer's text. */
function raw(base, request) {
	const u = new URL(base);
	return new Promise((resolve, reject) => {
		const s = net.connect(Number(u.port), u.hostname);
		let out = '';
		s.setTimeout(10000, () => s.destroy(new Error('timeout')));
		s.on('data', (d) => {
			out += d;
		});
		s.on('end', () => resolve(out));
		s.on('close', () => resolve(out));
		s.on('error', reject);
		s.write(request);
	});
}

test('the webhook listener serves webhooks and /healthz, nothing else',
    async (t) => {
	const { tg, k, base, hook } = await setup(t);

	let r = await fetch(`${base}/healthz`);
	assert.equal(r.status, 200);
	assert.equal((await r.json()).status, 'ok');
	assert.equal(r.headers.get('cache-control'), 'no-store');
	assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
	for (const p of ['/', '/index.html', '/metrics', '/api/me',
	    '/api/conversations', '/ws', '/widget.js', '/telegramx']) {
		r = await fetch(`${base}${p}`);
		assert.equal(r.status, 404, `${p}: 404`);
		assert.equal((await r.json()).error, 'not_found');
	}
	/* The same paths are still served by the main listener. */
	assert.equal((await fetch(`${k.url}/metrics`)).status, 200);
	assert.equal((await fetch(`${k.url}/`)).status, 200);

	r = await fetch(hook, { method: 'PUT', body: '{}' });
	assert.equal(r.status, 405);
	r = await fetch(`${base}/telegram/${'x'.repeat(300)}`);
	assert.equal(r.status, 414);

	/* Secrets are checked here as on the main listener. */
	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	r = await tg.pushWebhook(hook, tg.textUpdate({ from: bob,
	    text: 'hi' }), { secret: null });
	assert.equal(r.status, 401);
	r = await tg.pushWebhook(hook, tg.textUpdate({ from: bob,
	    text: 'hi' }), { secret: 'wrong' });
	assert.equal(r.status, 403);
	r = await tg.pushWebhook(`${base}/telegram/nobody`,
	    tg.textUpdate({ from: bob, text: 'hi' }), { secret: SECRET });
	assert.equal(r.status, 404);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages')[0].n, 0);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM inbound_queue')[0].n,
	    0, 'nothing refused was stored');

	/* Both listeners take updates for the same bot. */
	const a = tg.textUpdate({ from: bob, text: 'hi' });
	const b = tg.textUpdate({ from: bob, text: 'where is my order' });
	assert.equal((await tg.pushWebhook(hook, a, { secret: SECRET }))
	    .status, 200);
	assert.equal((await tg.pushWebhook(`${k.url}/telegram/shop`, b,
	    { secret: SECRET })).status, 200);
	await waitUntil(async () => (await sqlA(k, 'SELECT count(*) AS n ' +
	    'FROM messages WHERE direction = \'in\''))[0].n === 2, {
		what: 'both updates taken'
	});
	assert.match(k.log(), /sub=hooks msg="listening" addr="127\.0\.0\.1:\d+"/);
});

test('bodies over http.max_body get 413 and nothing is stored',
    async (t) => {
	const { k, base, hook } = await setup(t, {
		http: { max_body: 2048 }
	});
	const big = JSON.stringify({ update_id: 9, message: {
		message_id: 1, date: 1, chat: { id: 1, type: 'private' },
		text: 'x'.repeat(4000) } });
	let r = await fetch(hook, { method: 'POST', body: big, headers: {
		'Content-Type': 'application/json',
		'X-Telegram-Bot-Api-Secret-Token': SECRET } });
	assert.equal(r.status, 413, 'by Content-Length');
	assert.equal((await r.json()).error, 'too_large');

	/* Chunked: no Content-Length, the size shows only while reading. */
	const chunks = [big.slice(0, 1500), big.slice(1500, 3000),
	    big.slice(3000)].map((c) =>
	    `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('');
	const text = await raw(base, 'POST /telegram/shop HTTP/1.1\r\n' +
	    'Host: x\r\nContent-Type: application/json\r\n' +
	    `X-Telegram-Bot-Api-Secret-Token: ${SECRET}\r\n` +
	    'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
	    `${chunks}0\r\n\r\n`);
	assert.match(text, /^HTTP\/1\.1 413 /, 'chunked');

	/* Not a number: libmicrohttpd refuses it. */
	const bad = await raw(base, 'POST /telegram/shop HTTP/1.1\r\n' +
	    'Host: x\r\nContent-Length: lots\r\nConnection: close\r\n\r\n');
	assert.match(bad, /^HTTP\/1\.1 400 /, 'a bad Content-Length');

	assert.equal(sql(k, 'SELECT count(*) AS n FROM inbound_queue')[0].n,
	    0);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages')[0].n, 0);
	r = await fetch(`${base}/healthz`);
	assert.equal(r.status, 200, 'still serving');
});

test('keep-alive: many updates over one connection', async (t) => {
	const { tg, k, hook } = await setup(t);
	const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
	t.after(() => agent.destroy());
	const sockets = new Set();
	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	const N = 30;
	for (let i = 0; i < N; i++) {
		const u = tg.number(tg.textUpdate({ from: bob,
		    text: `question ${i}` }));
		const status = await new Promise((resolve, reject) => {
			const req = http.request(hook, { agent,
			    method: 'POST', headers: {
				'Content-Type': 'application/json',
				'X-Telegram-Bot-Api-Secret-Token': SECRET
			} }, (res) => {
				res.resume();
				res.on('end', () => resolve(res.statusCode));
			});
			req.on('socket', (s) => sockets.add(s));
			req.on('error', reject);
			req.end(JSON.stringify(u));
		});
		assert.equal(status, 200);
	}
	assert.equal(sockets.size, 1, 'one connection for every update');
	await waitUntil(async () => (await sqlA(k, 'SELECT count(*) AS n ' +
	    'FROM messages WHERE direction = \'in\''))[0].n === N, {
		what: 'every update taken'
	});
});

test('a client that leaves before the commit: its update is stored once',
    async (t) => {
	const { tg, k, base, hook } = await setup(t);
	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	const u = tg.number(tg.textUpdate({ from: bob, text: 'hi' }));
	const body = JSON.stringify(u);
	/* The whole request, then the connection closed at once. */
	await new Promise((resolve) => {
		const url = new URL(base);
		const s = net.connect(Number(url.port), url.hostname, () => {
			s.end('POST /telegram/shop HTTP/1.1\r\nHost: x\r\n' +
			    'Content-Type: application/json\r\n' +
			    `X-Telegram-Bot-Api-Secret-Token: ${SECRET}\r\n` +
			    `Content-Length: ${Buffer.byteLength(body)}` +
			    `\r\n\r\n${body}`, () => s.destroy());
		});
		s.on('close', resolve);
		s.on('error', resolve);
	});
	await waitUntil(async () => (await sqlA(k, 'SELECT count(*) AS n ' +
	    'FROM messages WHERE direction = \'in\''))[0].n === 1, {
		what: 'the update taken'
	});
	/* Telegram did not see a 200 and sends it again: still once. */
	const r = await tg.pushWebhook(hook, u, { secret: SECRET });
	assert.equal(r.status, 200);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM messages WHERE ' +
	    'direction = \'in\'')[0].n, 1);
	assert.equal(sql(k, 'SELECT count(*) AS n FROM inbound_queue')[0].n,
	    0);
	await tg.waitForSent(bob.id, 1, { timeout: 10000 });
});

test('a full queue: 503 with Retry-After from the webhook listener',
    async (t) => {
	const { tg, k, hook } = await setup(t, { store: { queue_max: 100 } });
	await k.kill('SIGTERM');
	for (let i = 0; i < 100; i++) {
		sql(k, 'INSERT INTO inbound_queue (channel, account, key, ' +
		    `body, received_at) VALUES ('wechat', 'shop', 'w${i}', ` +
		    'CAST(\'<xml/>\' AS BLOB), 0)');
	}
	await k.restart();
	await waitUntil(() => tg.calls('getMe').length > 1, {
		what: 'getMe after the restart'
	});
	const bob = tg.user(FIRST_USER, { first_name: 'Bob' });
	const r = await fetch(hook, { method: 'POST', headers: {
		'Content-Type': 'application/json',
		'X-Telegram-Bot-Api-Secret-Token': SECRET
	}, body: JSON.stringify(tg.number(tg.textUpdate({ from: bob,
	    text: 'hi' }))) });
	assert.equal(r.status, 503);
	assert.equal(r.headers.get('retry-after'), '5');
	assert.equal(r.headers.get('cache-control'), 'no-store');
	assert.equal((await r.json()).error, 'busy');
	assert.equal(sql(k, 'SELECT count(*) AS n FROM inbound_queue WHERE ' +
	    'channel = \'telegram\'')[0].n, 0, 'nothing queued');
});

test('SIGTERM in the middle of a burst: exit 0, every 200 durable',
    async (t) => {
	const { tg, k, hook } = await setup(t);
	const CONNS = 16;
	let stop = false;
	let n = 0;
	const acked = [];
	async function worker(w) {
		const u = tg.user(FIRST_USER + w, { first_name: `U${w}` });
		while (!stop) {
			const up = tg.textUpdate({ from: u, text: `q${n++}` });
			let r;
			try {
				r = await tg.pushWebhook(hook, up,
				    { secret: SECRET });
			} catch {
				return;		/* kefud has closed */
			}
			if (r.status === 200)
				acked.push(up);
		}
	}
	const workers = Array.from({ length: CONNS }, (_, w) => worker(w));
	await waitUntil(() => acked.length >= 300, { timeout: 30000,
	    what: '300 updates acknowledged' });
	const ex = await k.kill('SIGTERM', { timeout: 30000 });
	stop = true;
	await Promise.all(workers);
	assert.equal(ex.code, 0, 'kefud exits 0');
	assert.doesNotMatch(k.log(), /PANIC|AddressSanitizer|runtime error/);
	assert.doesNotMatch(k.log(), /requests unanswered/,
	    'every request taken before the stop was answered');

	const { missing, queued, stored } = unstoredUpdates((q) => sql(k, q),
	    acked);
	assert.deepEqual(missing.map((u) => u.update_id), [],
	    'no acknowledged update is lost');
	t.diagnostic(`${acked.length} acknowledged; ${queued.size} queued, ` +
	    `${stored.size} taken at the stop`);
});

/* The local addresses (hex, as /proc/net/tcp*) listening on port. */
function listeners(port) {
	const hex = port.toString(16).toUpperCase().padStart(4, '0');
	const out = [];
	for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
		for (const line of fs.readFileSync(f, 'utf8').split('\n')
		    .slice(1)) {
			const c = line.trim().split(/\s+/);
			/* local_address rem_address st: 0A is LISTEN */
			if (c.length > 3 && c[3] === '0A' &&
			    c[1].endsWith(`:${hex}`))
				out.push(c[1].slice(0, -5));
		}
	}
	return out;
}

test('both listeners bind only the address they are given', async (t) => {
	const { k, base } = await setup(t);
	/* 127.0.0.1 in /proc/net/tcp's byte order */
	assert.deepEqual(listeners(k.port), ['0100007F'],
	    'http.listen: 127.0.0.1 only, not every interface');
	assert.deepEqual(listeners(Number(new URL(base).port)), ['0100007F'],
	    'http.webhook_listen: 127.0.0.1 only');
});

/* Run kefud with a config; resolve with its exit code and log. */
function runKefud(settings) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-hooks-'));
	const conf = path.join(dir, 'kefu.conf');
	fs.writeFileSync(conf, toLibconfig(settings(dir)));
	const r = spawnSync(findKefud(), ['-c', conf], { encoding: 'utf8',
	    timeout: 20000 });
	fs.rmSync(dir, { recursive: true, force: true });
	return { code: r.status, log: `${r.stdout}${r.stderr}` };
}

test('a webhook port in use, or a bad webhook_listen, stops the start',
    async (t) => {
	const busy = net.createServer();
	await new Promise((r) => busy.listen(0, '127.0.0.1', r));
	t.after(() => busy.close());
	const taken = busy.address().port;
	const port = await freePort();

	let r = runKefud((dir) => deepMerge(baseSettings(port, dir), {
		http: { webhook_listen: `127.0.0.1:${taken}` } }));
	assert.notEqual(r.code, 0);
	assert.match(r.log, new RegExp('cannot listen on 127\\.0\\.0\\.1:' +
	    `${taken} \\(http\\.webhook_listen: port in use`));

	r = runKefud((dir) => deepMerge(baseSettings(port, dir), {
		http: { webhook_listen: '127.0.0.1' } }));
	assert.notEqual(r.code, 0);
	assert.match(r.log, /http\.webhook_listen.*"127\.0\.0\.1" has no port/);
	r = runKefud((dir) => deepMerge(baseSettings(port, dir), {
		http: { webhook_listen: '127.0.0.1:70000' } }));
	assert.notEqual(r.code, 0);
	assert.match(r.log, /"70000" is not a port from 1 to 65535/);
});
