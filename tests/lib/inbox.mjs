/*
 * inbox.mjs: helpers for tests of the inbox's JSON API and live feed
 * (docs/api.md) against a kefud started with harness.mjs.
 *
 * addAgent() and addToken() run the kefuctl next to kefud on the test's
 * kefu.conf (the password goes on standard input, never on the command
 * line).  api() is one request with node's fetch; a Session keeps the
 * session cookie itself (fetch has no cookie jar) and sends the CSRF
 * token on every POST.  connectLive() opens /api/live with the inbox's
 * subprotocol, the cookie and an Origin, and wraps it in harness.mjs's
 * WsClient so frames can be awaited the same way as the widget's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';

import { connectWs, findKefud, visitorId, WsClient } from './harness.mjs';

/* The kefuctl binary of the build under test. */
export function findKefuctl() {
	if (process.env.KEFUCTL)
		return path.resolve(process.env.KEFUCTL);
	return path.join(path.dirname(findKefud()), 'kefuctl');
}

/* Run kefuctl on a daemon's kefu.conf: its standard output. */
export function kefuctl(k, args, input = '') {
	return execFileSync(findKefuctl(), ['-c', k.confPath, ...args], {
		input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe']
	});
}

/* Add an agent (role admin or agent) with a password. */
export function addAgent(k, name, role, password, extra = []) {
	kefuctl(k, ['agent', 'add', name, '--role', role, ...extra],
	    `${password}\n`);
}

/* Make an API token for an agent: the token. */
export function addToken(k, name, agent) {
	const out = kefuctl(k, ['token', 'add', name, '--agent', agent]).trim();
	if (!/^kefu_[A-Za-z0-9_-]{43}$/.test(out))
		throw new Error('kefuctl token add printed ' +
		    JSON.stringify(out));
	return out;
}

export function revokeToken(k, name) {
	return kefuctl(k, ['token', 'revoke', name]);
}

/*
 * One request: {status, headers, text, json (or undefined), setCookies}.
 * body: an object (sent as JSON) or a string / Buffer (sent as is).
 */
export async function api(k, method, p, { body, headers = {},
    timeout = 10000 } = {}) {
	const ac = new AbortController();
	const timer = setTimeout(() => ac.abort(), timeout);
	const h = { ...headers };
	let data;

	if (body !== undefined) {
		data = typeof body === 'string' || Buffer.isBuffer(body) ?
		    body : JSON.stringify(body);
		if (!Object.keys(h).some((x) => x.toLowerCase() ===
		    'content-type'))
			h['Content-Type'] = 'application/json';
	}
	try {
		const res = await fetch(k.url + p, { method, headers: h,
		    body: data, signal: ac.signal, redirect: 'manual' });
		const text = await res.text();
		let json;
		try {
			json = text === '' ? undefined : JSON.parse(text);
		} catch {
			json = undefined;
		}
		return { status: res.status, headers: res.headers, text, json,
		    setCookies: res.headers.getSetCookie() };
	} finally {
		clearTimeout(timer);
	}
}

/* The kefu_session value in a list of Set-Cookie headers, or null. */
export function sessionCookie(setCookies) {
	for (const c of setCookies) {
		const m = /^kefu_session=([^;]*)/.exec(c);
		if (m)
			return m[1];
	}
	return null;
}

/* A logged-in agent: the cookie and the CSRF token, kept by hand. */
export class Session {
	constructor(k, token, csrf, agent) {
		this.k = k;
		this.token = token;
		this.csrf = csrf;
		this.agent = agent;
	}

	get cookie() {
		return `kefu_session=${this.token}`;
	}

	get(p, headers = {}) {
		return api(this.k, 'GET', p, { headers: { Cookie: this.cookie,
		    ...headers } });
	}

	/* POST with the cookie and (unless csrf: null) the CSRF token. */
	post(p, body = {}, { csrf = this.csrf, headers = {} } = {}) {
		const h = { Cookie: this.cookie, ...headers };
		if (csrf !== null)
			h['X-CSRF-Token'] = csrf;
		return api(this.k, 'POST', p, { body, headers: h });
	}

	/* POST /api/conversations/ID/ACTION. */
	act(id, action, body = {}) {
		return this.post(`/api/conversations/${id}/${action}`, body);
	}
}

/* POST /api/login; the raw answer. */
export function loginRaw(k, name, password, headers = {}) {
	return api(k, 'POST', '/api/login', { body: { name, password },
	    headers });
}

/* Log in or throw: a Session. */
export async function login(k, name, password) {
	const r = await loginRaw(k, name, password);
	if (r.status !== 200)
		throw new Error(`login ${name}: HTTP ${r.status} ${r.text}`);
	const token = sessionCookie(r.setCookies);
	if (token === null)
		throw new Error(`login ${name}: no kefu_session cookie`);
	return new Session(k, token, r.json.csrf, r.json.agent);
}

/* Same Origin as the daemon's own pages. */
export function ownOrigin(k) {
	return `http://127.0.0.1:${k.port}`;
}

/*
 * Open /api/live.  Options: session (or cookie: a Cookie header, null for
 * none), origin (default the daemon's own; null for none), protocol,
 * query ("?a=b" after the path).
 * Resolves with a WsClient; rejects with the HTTP status when refused.
 */
export function connectLive(k, { session, cookie, origin = ownOrigin(k),
    protocol = 'kefu-inbox', query = '', timeout = 5000 } = {}) {
	const headers = {};
	const c = cookie !== undefined ? cookie : session ? session.cookie :
	    null;

	if (c !== null)
		headers.Cookie = c;
	if (origin !== null)
		headers.Origin = origin;
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(`ws://127.0.0.1:${k.port}/api/live` +
		    query,
		    protocol, { headers, handshakeTimeout: timeout });
		const client = new WsClient(ws);
		ws.once('open', () => resolve(client));
		ws.once('error', (e) => reject(e));
		ws.once('unexpected-response', (req, res) => {
			const e = new Error('live upgrade refused: HTTP ' +
			    `${res.statusCode}`);
			e.status = res.statusCode;
			reject(e);
			req.destroy();
		});
	});
}

/* Say hello on the live feed; resolves with "ready", "reset" or "error". */
export async function liveHello(c, lastEvent, opts = {}) {
	const from = c.frames.length;
	c.send({ type: 'hello', last_event: lastEvent });
	return c.waitFor((f) => f.type === 'ready' || f.type === 'reset' ||
	    f.type === 'error', { ...opts, from });
}

/* A widget customer who said hello: {c, visitor}. */
export async function widgetCustomer(t, k, prefix = 'inbox') {
	const c = await connectWs(k);
	t.after(() => c.terminate());
	const visitor = visitorId(prefix);
	await c.hello(visitor, 0);
	return { c, visitor };
}

/*
 * Stop the daemon: it must exit 0 with no sanitizer report (a leak shows
 * only at exit).  The log is complete after this.
 */
export async function assertCleanExit(k) {
	const ex = await k.stop({ keepDir: true });
	assertClean(k, ex);
}

/* No sanitizer report in the log of a stopped daemon, and exit 0. */
export function assertClean(k, ex) {
	const reports = k.log().split('\n').filter((l) =>
	    /(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:/.test(l));
	assert.deepEqual(reports, [], 'no sanitizer reports:\n' +
	    k.log().split('\n').filter((l) => /^\s*#\d+ |Sanitizer|leak/
	    .test(l)).slice(0, 30).join('\n'));
	assert.deepEqual(ex, { code: 0, signal: null }, 'kefud exits 0');
}
