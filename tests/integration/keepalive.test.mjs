/*
 * keepalive.test.mjs: kefud pings idle widget connections and hangs up on
 * a client that stops answering.  With ping_interval = 1 s and
 * idle_timeout = 3 s: a client that answers pings (ws does by default) is
 * pinged and stays connected past the idle timeout; a client that never
 * answers is disconnected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { startKefud, visitorId } from '../lib/harness.mjs';

const settings = {
	channels: { websocket: { ping_interval: 1, idle_timeout: 3 } }
};

/* Open a widget connection and say hello; resolves once ready arrives. */
function open(k, opts) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(k.wsUrl, opts);
		const st = { ws, pings: 0, closed: null };
		ws.on('ping', () => { st.pings++; });
		ws.on('close', (code) => { st.closed = code; });
		ws.on('error', reject);
		ws.on('message', (d) => {
			if (JSON.parse(d.toString()).type === 'ready')
				resolve(st);
		});
		ws.on('open', () => ws.send(JSON.stringify({ type: 'hello',
		    visitor: visitorId('ka'), last_seq: 0 })));
	});
}

/* Resolve when cond() holds, or fail after ms. */
async function until(cond, ms, what) {
	const end = Date.now() + ms;
	while (!cond()) {
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

test('a client that answers pings stays; one that does not is closed',
    async (t) => {
	const k = await startKefud(settings, { t });
	const good = await open(k, {});
	const mute = await open(k, { autoPong: false });

	await until(() => good.pings >= 2 && mute.pings >= 1, 5000,
	    'server pings');
	await until(() => mute.closed !== null, 8000,
	    'the silent client to be closed');
	/* Well past idle_timeout, the answering client is still there. */
	await until(() => good.pings >= 5, 8000, 'more pings');
	assert.equal(good.closed, null, 'answering client was closed');
	assert.equal(good.ws.readyState, WebSocket.OPEN);
	good.ws.close();
	const r = await fetch(`${k.url}/healthz`);
	assert.equal(r.status, 200);
});
