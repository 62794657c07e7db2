/*
 * crash.test.mjs: kill -9 in the middle of a burst loses and repeats
 * nothing.
 *
 * VISITORS widget clients each send PER messages as fast as acks allow
 * (WINDOW in flight per client).  When about 40% are acknowledged, kefud
 * gets SIGKILL.  Right after the restart, before any client may
 * reconnect, every message acknowledged before the crash must be in the
 * store.  Then each client reconnects with its last_seq and re-sends, with
 * the same ids, every message it has not seen acknowledged, until all are.
 *
 * At the end: every message is stored exactly once; each visitor received
 * every bot reply in the store exactly once, seq 1..max without a gap and
 * with the stored text; no client saw an error frame.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';

import { startKefud, visitorId, waitUntil } from '../lib/harness.mjs';

const VISITORS = 10;
const PER = 100;
const WINDOW = 10;
const CRASH_AT = Math.floor(VISITORS * PER * 0.4);
const TEXTS = ['hello', 'how do I return an item?', 'where is my order?',
    'how long does shipping take?', 'thanks', 'can I change my address?',
    '我想退货', 'ok'];

/* Rows of a query on the store (sqlite3 CLI, JSON mode). */
function sql(k, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 10000',
	    k.settings.store.path, query], { encoding: 'utf8',
	    maxBuffer: 64 * 1024 * 1024 });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* One widget visitor that keeps WINDOW messages in flight. */
class Visitor {
	constructor(n, url, gate) {
		this.n = n;
		this.name = visitorId(`crash${n}x`);
		this.url = url;
		this.gate = gate;		/* () => promise: may connect */
		this.ids = [];
		for (let i = 0; i < PER; i++)
			this.ids.push(`c${n}-${i}`);
		this.queue = [...this.ids];	/* not acked, not in flight */
		this.inflight = new Set();	/* sent on this connection */
		this.acked = new Set();
		this.ackedGen = new Map();	/* id -> connection number */
		this.dupAcks = 0;
		this.resent = 0;
		this.lastSeq = 0;
		this.received = [];		/* every seq, in arrival order */
		this.texts = new Map();		/* seq -> text */
		this.errors = [];
		this.gen = 0;			/* connections opened */
		this.sent = new Set();		/* ever sent */
		this.ws = null;
		this.stopped = false;
	}

	get done() {
		return this.acked.size === PER;
	}

	fail(what) {
		if (this.errors.length < 20)
			this.errors.push(`visitor ${this.n} conn ${this.gen}: ` +
			    what);
	}

	/* Send until the window is full. */
	pump() {
		while (this.inflight.size < WINDOW && this.queue.length > 0) {
			const id = this.queue.shift();
			const i = Number(id.split('-')[1]);
			if (this.sent.has(id))
				this.resent++;
			this.sent.add(id);
			this.inflight.add(id);
			this.ws.send(JSON.stringify({ type: 'message', id,
			    text: `${TEXTS[i % TEXTS.length]}` }));
		}
	}

	onFrame(data) {
		let f;
		try {
			f = JSON.parse(data.toString());
		} catch {
			this.fail(`unparsable frame ${data}`);
			return;
		}
		switch (f.type) {
		case 'ready':
			if (f.seq < this.lastSeq)
				this.fail(`ready.seq ${f.seq} < last_seq ` +
				    `${this.lastSeq}`);
			this.pump();
			break;
		case 'ack':
			if (!this.inflight.has(f.id)) {
				this.fail(`ack for ${f.id}, not in flight`);
				break;
			}
			this.inflight.delete(f.id);
			if (this.acked.has(f.id))
				this.fail(`second ack for ${f.id}`);
			this.acked.add(f.id);
			this.ackedGen.set(f.id, this.gen);
			if (f.duplicate === true)
				this.dupAcks++;
			this.pump();
			break;
		case 'message':
			if (f.seq !== this.lastSeq + 1)
				this.fail(`seq ${f.seq} after ${this.lastSeq}`);
			this.received.push(f.seq);
			this.texts.set(f.seq, f.text);
			if (f.seq > this.lastSeq)
				this.lastSeq = f.seq;
			break;
		default:
			this.fail(`unexpected frame ${JSON.stringify(f)}`);
		}
	}

	/* One connection: resolves when it has closed. */
	async connectOnce() {
		const ws = new WebSocket(this.url);
		await new Promise((resolve, reject) => {
			ws.once('open', resolve);
			ws.once('error', reject);
		});
		this.gen++;
		this.ws = ws;
		/* Whatever was in flight is unacknowledged: send it again. */
		const back = [...this.inflight];
		this.inflight.clear();
		this.queue = [...back, ...this.queue].sort((a, b) =>
		    Number(a.split('-')[1]) - Number(b.split('-')[1]));
		const closed = new Promise((resolve) => ws.once('close',
		    resolve));
		ws.on('error', () => {});
		ws.on('message', (d) => this.onFrame(d));
		ws.send(JSON.stringify({ type: 'hello', visitor: this.name,
		    last_seq: this.lastSeq }));
		await closed;
		this.ws = null;
	}

	/* Stay connected, reconnecting after a crash, until stopped. */
	async run() {
		while (!this.stopped) {
			await this.gate();
			if (this.stopped)
				break;
			try {
				await this.connectOnce();
			} catch {
				/* refused: the daemon is not back yet */
				await new Promise((r) => setTimeout(r, 20));
			}
		}
	}

	close() {
		this.stopped = true;
		if (this.ws !== null)
			this.ws.close();
	}
}

test('kill -9 in the middle of a burst loses and repeats nothing',
    { timeout: 300000 }, async (t) => {
	const k = await startKefud({
		channels: { websocket: { rate: 10000, burst: 100000,
		    queue_max: 1024 } },
		engine: { max_failures: 100 }
	}, { t });

	let open = Promise.resolve();
	let release = null;
	const gate = () => open;
	const vs = [];
	for (let i = 0; i < VISITORS; i++)
		vs.push(new Visitor(i, k.wsUrl, gate));
	const total = () => vs.reduce((n, v) => n + v.acked.size, 0);
	const runs = vs.map((v) => v.run());
	t.after(() => {
		for (const v of vs)
			v.close();
	});

	/* In the middle of the burst: SIGKILL, and hold the clients. */
	await waitUntil(() => total() >= CRASH_AT, { timeout: 60000,
	    interval: 2, what: `${CRASH_AT} acks` });
	open = new Promise((r) => {
		release = r;
	});
	const ex = await k.kill('SIGKILL');
	assert.equal(ex.signal, 'SIGKILL');
	await waitUntil(() => vs.every((v) => v.ws === null), {
		what: 'every client to see the close'
	});
	const ackedBefore = vs.flatMap((v) => [...v.acked].map((id) =>
	    `v:${v.name}#${id}`));
	const inflightAtCrash = vs.reduce((n, v) => n + v.inflight.size, 0);
	assert.ok(ackedBefore.length >= CRASH_AT &&
	    ackedBefore.length < VISITORS * PER,
	    `crashed mid-burst (${ackedBefore.length} acked)`);

	/* Restart; before anyone resends, the acked ones must be there. */
	await waitUntil(async () => {
		try {
			await k.start();
			return true;
		} catch (e) {
			if (k.exit === null)
				await k.kill('SIGKILL');
			return false;
		}
	}, { timeout: 30000, interval: 100, what: 'kefud to restart' });
	const storedAfterCrash = new Set(sql(k, 'SELECT external_id FROM ' +
	    'messages WHERE direction = \'in\' AND channel = \'websocket\'')
	    .map((r) => r.external_id));
	const lost = ackedBefore.filter((id) => !storedAfterCrash.has(id));
	assert.deepEqual(lost, [], 'no acknowledged message was lost');

	release();
	await waitUntil(() => total() === VISITORS * PER, { timeout: 120000,
	    what: 'every message to be acked' });
	for (const v of vs)
		assert.deepEqual(v.errors, [], `visitor ${v.n} saw no errors`);
	const resent = vs.reduce((n, v) => n + v.resent, 0);
	assert.ok(resent >= 1 && resent === inflightAtCrash,
	    `the ${inflightAtCrash} messages in flight were re-sent ` +
	    `(${resent})`);

	/* Every message is stored exactly once. */
	const inRows = sql(k, 'SELECT external_id, count(*) AS n FROM ' +
	    'messages WHERE direction = \'in\' GROUP BY external_id');
	assert.deepEqual(inRows.filter((r) => r.n !== 1), [],
	    'no message is stored twice');
	const want = vs.flatMap((v) => v.ids.map((id) => `v:${v.name}#${id}`))
	    .sort();
	assert.deepEqual(inRows.map((r) => r.external_id).sort(), want,
	    'exactly the sent messages are stored');

	/* Every reply reaches its client exactly once, in order. */
	const out = sql(k, 'SELECT c.external_id AS who, m.seq, m.text FROM ' +
	    'messages m JOIN contacts c ON c.id = m.contact_id WHERE ' +
	    'm.direction = \'out\' ORDER BY c.external_id, m.seq');
	const byWho = new Map();
	for (const r of out) {
		if (!byWho.has(r.who))
			byWho.set(r.who, []);
		byWho.get(r.who).push(r);
	}
	for (const v of vs) {
		const rows = byWho.get(`v:${v.name}`) ?? [];
		assert.ok(rows.length >= 1, `visitor ${v.n} got replies`);
		assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) =>
		    i + 1), `visitor ${v.n}: stored seqs are 1..n`);
		const max = rows.length;
		await waitUntil(() => v.lastSeq >= max, { timeout: 20000,
		    what: `visitor ${v.n} to receive seq ${max}` });
	}
	for (const v of vs)
		v.close();
	await Promise.all(runs);
	for (const v of vs) {
		const rows = byWho.get(`v:${v.name}`);
		assert.deepEqual(v.received, rows.map((r) => r.seq),
		    `visitor ${v.n}: every reply once, in order`);
		for (const r of rows)
			assert.equal(v.texts.get(r.seq), r.text);
		assert.deepEqual(v.errors, []);
	}
	const dups = vs.reduce((n, v) => n + v.dupAcks, 0);
	t.diagnostic(`acked before the crash: ${ackedBefore.length}; in ` +
	    `flight: ${inflightAtCrash}; stored but unacked (duplicate on ` +
	    `resend): ${dups}; replies: ${out.length}`);
	assert.ok(dups <= inflightAtCrash);
	const h = await k.get('/healthz');
	assert.equal(h.status, 200);
});
