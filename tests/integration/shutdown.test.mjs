/*
 * shutdown.test.mjs: stopping and starting kefud.
 *
 * SIGTERM with widget clients connected (one of them sending as fast as
 * acks come) makes kefud exit 0 within a few seconds; every message it
 * acknowledged is in the store when it starts again on the same store, and
 * the clients get their history back.  --check-config rejects a bad file
 * naming file:line and the key, accepts a good one, and touches nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { baseSettings, connectWs, findKefud, freePort, startKefud,
    toLibconfig, visitorId, waitUntil } from '../lib/harness.mjs';

/* Rows of a query on the store (sqlite3 CLI, JSON mode). */
function sql(k, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 5000',
	    k.settings.store.path, query], { encoding: 'utf8' });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* The stored inbound external ids of the widget channel. */
function inboundIds(k) {
	return new Set(sql(k, 'SELECT external_id FROM messages WHERE ' +
	    'direction = \'in\' AND channel = \'websocket\'').map((r) =>
	    r.external_id));
}

/* The highest seq committed for a widget visitor (0 if none). */
function outSeq(k, visitor) {
	const r = sql(k, 'SELECT out_seq FROM contacts WHERE channel = ' +
	    `'websocket' AND external_id = 'v:${visitor}'`);
	return r.length > 0 ? r[0].out_seq : 0;
}

/* No sanitizer report in the daemon's log. */
function assertClean(k) {
	assert.doesNotMatch(k.log(), /ERROR: (Address|Leak)Sanitizer|runtime error:/,
	    'no sanitizer report');
}

test('SIGTERM with clients connected exits 0 and loses nothing',
    async (t) => {
	const k = await startKefud({
		channels: { websocket: { rate: 10000, burst: 10000 } }
	}, { t });
	const visitors = [visitorId('term'), visitorId('term'),
	    visitorId('term')];
	const clients = [];
	t.after(() => Promise.all(clients.map((c) => c.terminate())));

	for (const v of visitors) {
		const c = await connectWs(k);
		clients.push(c);
		await c.hello(v, 0);
		await c.sendAndAck('hello');
		await c.waitFor({ type: 'message', seq: outSeq(k, v) });
	}

	/* One client keeps sending, one message per ack, to the end. */
	const busy = clients[0];
	const acked = [];
	let n = 0;
	const sendNext = () => busy.sendMessage(`message ${n}`,
	    { id: `busy-${n++}` });
	busy.ws.on('message', (d) => {
		const f = JSON.parse(d.toString());
		if (f.type === 'ack') {
			acked.push(f.id);
			if (busy.ws.readyState === 1)
				sendNext();
		}
	});
	sendNext();
	await waitUntil(() => acked.length >= 20, { what: '20 busy acks' });

	const t0 = Date.now();
	const ex = await k.kill('SIGTERM', { timeout: 10000 });
	const took = Date.now() - t0;
	assert.deepEqual(ex, { code: 0, signal: null },
	    `kefud exits 0 on SIGTERM; log:\n${k.log().slice(-3000)}`);
	assert.ok(took < 5000, `exited in ${took} ms`);
	assert.match(k.log(), /msg="stopped"/);
	assertClean(k);
	await waitUntil(() => clients.every((c) => c.closed !== null), {
		what: 'every client to see the close'
	});
	t.diagnostic(`exit after ${took} ms; ${acked.length} busy acks; ` +
	    `close codes ${clients.map((c) => c.closed.code).join(',')}`);

	/* Same store, started again. */
	await k.start();
	const stored = inboundIds(k);
	const [busyVisitor] = visitors;
	const lost = acked.filter((id) => !stored.has(`v:${busyVisitor}#${id}`));
	assert.deepEqual(lost, [], 'every acked message survived the restart');
	for (const v of visitors)
		assert.ok([...stored].some((x) => x.startsWith(`v:${v}#`)),
		    `visitor ${v} is stored`);

	for (const v of visitors) {
		const c = await connectWs(k);
		clients.push(c);
		const last = outSeq(k, v);
		const r = await c.hello(v, 0);
		assert.equal(r.seq, last);
		await c.waitFor({ type: 'message', seq: last });
		assert.deepEqual(c.messages().map((m) => m.seq),
		    Array.from({ length: last }, (_, i) => i + 1));
		await c.sendAndAck('thanks');
	}
	const h = await k.get('/healthz');
	assert.equal(h.status, 200);
});

test('SIGTERM and SIGINT on an idle daemon', async (t) => {
	for (const sig of ['SIGTERM', 'SIGINT']) {
		const k = await startKefud({}, { t });
		const t0 = Date.now();
		const ex = await k.kill(sig);
		assert.deepEqual(ex, { code: 0, signal: null }, `${sig}: exit 0`);
		assert.ok(Date.now() - t0 < 5000);
		assertClean(k);
	}
});

/* Run kefud --check-config on a file: {status, stdout, stderr}. */
function checkConfig(file) {
	const r = spawnSync(findKefud(), ['--check-config', '-c', file],
	    { encoding: 'utf8', timeout: 20000 });
	return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/* The 1-based number of the first line of text matching re. */
function lineOf(text, re) {
	const i = text.split('\n').findIndex((l) => re.test(l));
	assert.ok(i >= 0, `a line matches ${re}`);
	return i + 1;
}

test('--check-config names file:line:key and touches nothing', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-check-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const settings = baseSettings(await freePort(), dir);
	const good = path.join(dir, 'good.conf');
	fs.writeFileSync(good, toLibconfig(settings));

	const ok = checkConfig(good);
	assert.equal(ok.status, 0, `good config accepted: ${ok.stderr}`);
	assert.equal(fs.existsSync(settings.store.path), false,
	    '--check-config does not create the store');

	const cases = [
		/* [what, key, settings change or raw text, line pattern] */
		['a string for an integer', 'rate',
		    { rate: 'fast' }, /^\s*rate = "fast";/],
		['a number out of range', 'burst',
		    { burst: 0 }, /^\s*burst = 0;/],
		['an unknown key', 'colour',
		    { colour: 'blue' }, /^\s*colour = "blue";/],
		['a path that is no WebSocket path', 'path',
		    { path: 'ws' }, /^\s*path = "ws";/]
	];
	for (const [what, key, ws, re] of cases) {
		const s = structuredClone(settings);
		Object.assign(s.channels.websocket, ws);
		const file = path.join(dir, `bad-${key}.conf`);
		const text = toLibconfig(s);
		fs.writeFileSync(file, text);
		const r = checkConfig(file);
		assert.notEqual(r.status, 0, `${what}: rejected`);
		const line = lineOf(text, re);
		assert.ok(r.stderr.includes(`${file}:${line}:`),
		    `${what}: stderr names ${file}:${line}: ${r.stderr}`);
		assert.match(r.stderr, new RegExp(`\\b${key}\\b`),
		    `${what}: stderr names the key`);
		assert.equal(r.stderr.trim().split('\n').length, 1,
		    `${what}: one line: ${r.stderr}`);
	}

	/* A syntax error: the parser's line. */
	const syn = path.join(dir, 'syntax.conf');
	const text = toLibconfig(settings).replace(/(level = "info");/,
	    'level = "info"\n\tlevel2 = ;');
	fs.writeFileSync(syn, text);
	const r = checkConfig(syn);
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, new RegExp(`${syn.replace(/[.*+?^${}()|[\]\\]/g,
	    '\\$&')}:\\d+:`), `a syntax error names file:line: ${r.stderr}`);

	const missing = checkConfig(path.join(dir, 'nope.conf'));
	assert.notEqual(missing.status, 0);
	assert.match(missing.stderr, /nope\.conf/);
	assert.equal(fs.existsSync(settings.store.path), false);
});
