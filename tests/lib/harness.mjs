/*
 * harness.mjs: start a real, private kefud for a test, and talk to it.
 *
 * startKefud(overrides, {t}) picks a free port, writes a kefu.conf into a
 * fresh temporary directory (store, logs and anything else the daemon
 * writes live there), spawns `kefud -c kefu.conf` and waits until GET
 * /healthz answers 200.  The daemon's stderr is kept in memory and printed
 * only when the test failed or the daemon died on its own.  Given the
 * node:test context t, it also stops the daemon when the test ends.
 *
 * The binary is $KEFUD, or $KEFU_BUILD/src/kefud (KEFU_BUILD: the build
 * directory).  Data (web/, templates/, etc/demo/) comes from the
 * source tree: $top_srcdir, else the repository this file is in.
 *
 * $KEFU_TEST_CONFIG, a JSON object of settings ({"log.level": "debug"}), is
 * merged over every test's own, for debugging; $KEFU_KEEP keeps the
 * temporary directory.
 *
 * connectWs(url) opens a WebSocket (ws package) that collects every frame
 * and can wait for one matching a predicate.  Nothing here sleeps for a
 * fixed time: it polls for a condition until a deadline.
 */

import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));

/* The source tree's root. */
export const topSrcdir = path.resolve(process.env.top_srcdir ?
    process.env.top_srcdir : path.join(here, '..', '..'));

/* Where tests put screenshots and other things worth keeping. */
export function artifactsDir() {
	const dir = process.env.KEFU_ARTIFACTS ?
	    path.resolve(process.env.KEFU_ARTIFACTS) :
	    path.join(topSrcdir, 'test-artifacts');
	fs.mkdirSync(dir, { recursive: true });
	return dir;
}

/* The kefud binary to test; throws with advice when there is none. */
export function findKefud() {
	let bin;

	if (process.env.KEFUD)
		bin = path.resolve(process.env.KEFUD);
	else if (process.env.KEFU_BUILD)
		bin = path.resolve(process.env.KEFU_BUILD, 'src', 'kefud');
	else {
		throw new Error('set KEFUD to the kefud binary or KEFU_BUILD ' +
		    'to the build directory (e.g. KEFU_BUILD=/tmp/build)');
	}
	try {
		fs.accessSync(bin, fs.constants.X_OK);
	} catch {
		throw new Error(`kefud not found or not executable: ${bin} ` +
		    '(run make in the build directory)');
	}
	return bin;
}

/* A port nobody listens on right now. */
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

/* Wait until cond() returns something truthy; throws after timeout ms. */
export async function waitUntil(cond, { timeout = 5000, interval = 20,
    what = 'condition' } = {}) {
	const deadline = Date.now() + timeout;

	for (;;) {
		const v = await cond();
		if (v)
			return v;
		if (Date.now() > deadline)
			throw new Error(`timed out after ${timeout} ms waiting ` +
			    `for ${what}`);
		await new Promise((r) => setTimeout(r, interval));
	}
}

/*
 * Rows of a query on a store (the sqlite3 CLI in JSON mode, waiting up to
 * 10 s for a lock): an array of objects, [] when there are none.
 */
export function storeQuery(dbPath, sql) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 10000',
	    dbPath, sql], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/*
 * The same without blocking the event loop: resolves with the rows.  Use
 * it while a fake server in this process is timing requests (a blocked
 * loop would stamp them late).
 */
export function storeQueryAsync(dbPath, sql) {
	return new Promise((resolve, reject) => {
		execFile('sqlite3', ['-json', '-cmd', '.timeout 10000', dbPath,
		    sql], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
		    (err, out) => {
			if (err)
				reject(err);
			else
				resolve(out.trim() === '' ? [] :
				    JSON.parse(out));
		});
	});
}

/*
 * One sample of a metric in Prometheus text (GET /metrics), or undefined.
 * labels: as printed ('channel="telegram"'), or an object ({channel:
 * 'telegram', kind: 'permanent'}) that must equal the sample's label set
 * in any order.
 */
export function metricValue(text, name, labels = '') {
	const byObject = typeof labels === 'object' && labels !== null;
	const want = byObject ? null : labels === '' ? name :
	    `${name}{${labels}}`;
	for (const line of text.split('\n')) {
		if (line.startsWith('#'))
			continue;
		const i = line.lastIndexOf(' ');
		if (i <= 0)
			continue;
		const key = line.slice(0, i);
		if (!byObject) {
			if (key === want)
				return Number(line.slice(i + 1));
			continue;
		}
		const m = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
		if (m === null || m[1] !== name)
			continue;
		const got = {};
		for (const [, k, v] of (m[2] ?? '').matchAll(
		    /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
			got[k] = v;
		const a = Object.keys(got).sort();
		const b = Object.keys(labels).sort();
		if (a.length === b.length && a.every((k, j) => k === b[j] &&
		    got[k] === String(labels[k])))
			return Number(line.slice(i + 1));
	}
	return undefined;
}

/* --- configuration ---------------------------------------------------- */

/* A number that must be written as a libconfig float (1 -> 1.0). */
export class Float {
	constructor(v) {
		this.v = Number(v);
	}
}

export function float(v) {
	return new Float(v);
}

function isPlainObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v) &&
	    !(v instanceof Float);
}

/* Expand {"a.b.c": 1} into {a: {b: {c: 1}}}. */
function expandDotted(obj) {
	const out = {};

	for (const [k, v] of Object.entries(obj)) {
		const parts = k.split('.');
		let o = out;
		for (const p of parts.slice(0, -1)) {
			if (!isPlainObject(o[p]))
				o[p] = {};
			o = o[p];
		}
		const last = parts[parts.length - 1];
		const val = isPlainObject(v) ? expandDotted(v) : v;
		o[last] = isPlainObject(val) && isPlainObject(o[last]) ?
		    deepMerge(o[last], val) : val;
	}
	return out;
}

/* Merge b into a copy of a; undefined in b deletes the key. */
export function deepMerge(a, b) {
	const out = { ...a };

	for (const [k, v] of Object.entries(b)) {
		if (v === undefined)
			delete out[k];
		else if (isPlainObject(v) && isPlainObject(out[k]))
			out[k] = deepMerge(out[k], v);
		else
			out[k] = v;
	}
	return out;
}

function libconfigValue(v, indent) {
	if (v instanceof Float) {
		const s = String(v.v);
		return /[.eE]/.test(s) ? s : s + '.0';
	}
	if (typeof v === 'string')
		return JSON.stringify(v);	/* same escapes as libconfig */
	if (typeof v === 'boolean')
		return v ? 'true' : 'false';
	if (typeof v === 'number') {
		if (!Number.isFinite(v))
			throw new Error(`not a finite number: ${v}`);
		return String(v);
	}
	if (Array.isArray(v)) {
		const items = v.map((x) => libconfigValue(x, indent + '\t'));
		/* Arrays hold scalars; lists anything. */
		const scalars = v.every((x) => !isPlainObject(x) &&
		    !Array.isArray(x));
		return scalars ? `[ ${items.join(', ')} ]` :
		    `(\n${indent}\t${items.join(`,\n${indent}\t`)}\n${indent})`;
	}
	if (isPlainObject(v))
		return `{\n${libconfigGroup(v, indent + '\t')}${indent}}`;
	throw new Error(`cannot write ${typeof v} to kefu.conf`);
}

function libconfigGroup(obj, indent) {
	let s = '';

	for (const [k, v] of Object.entries(obj)) {
		if (v === null || v === undefined)
			continue;
		s += `${indent}${k} = ${libconfigValue(v, indent)};\n`;
	}
	return s;
}

/* The text of a kefu.conf for settings (a nested object). */
export function toLibconfig(settings) {
	return libconfigGroup(settings, '');
}

/* The settings every test starts from; overrides are merged on top. */
export function baseSettings(port, dir) {
	return {
		http: {
			listen: `127.0.0.1:${port}`,
			web_root: path.join(topSrcdir, 'web')
		},
		store: {
			path: path.join(dir, 'kefu.db')
		},
		log: {
			level: 'info'
		},
		engine: {
			templates: path.join(topSrcdir, 'templates'),
			examples: path.join(topSrcdir, 'etc', 'demo',
			    'intents.csv'),
			kb: [path.join(topSrcdir, 'etc', 'demo', 'kb')]
		},
		channels: {
			websocket: {
				path: '/ws'
			}
		}
	};
}

/* --- the daemon ------------------------------------------------------- */

const live = new Set();

process.on('exit', () => {
	for (const p of live) {
		try {
			p.kill('SIGKILL');
		} catch {
			/* gone already */
		}
	}
});

/* GET a path from the daemon: {status, headers, body}. */
async function httpGet(url, timeout = 2000) {
	const ac = new AbortController();
	const timer = setTimeout(() => ac.abort(), timeout);

	try {
		const res = await fetch(url, { signal: ac.signal });
		const body = await res.text();
		return { status: res.status, headers: res.headers, body };
	} finally {
		clearTimeout(timer);
	}
}

export class Kefud {
	constructor({ bin, dir, settings, port, startTimeout, env, args }) {
		this.bin = bin;
		this.dir = dir;
		this.settings = settings;
		this.port = port;
		this.startTimeout = startTimeout;
		this.env = env;
		this.args = args;
		this.confPath = path.join(dir, 'kefu.conf');
		this.proc = null;
		this.exit = null;		/* {code, signal} when it ended */
		this.logText = '';
		this.expectExit = false;
		this.generation = 0;
	}

	get url() {
		return `http://127.0.0.1:${this.port}`;
	}

	get wsUrl() {
		const p = this.settings.channels?.websocket?.path ?? '/ws';
		return `ws://127.0.0.1:${this.port}${p}`;
	}

	/* Everything the daemon wrote to stderr (and stdout) so far. */
	log() {
		return this.logText;
	}

	writeConfig() {
		fs.writeFileSync(this.confPath, toLibconfig(this.settings));
	}

	/* Spawn the daemon and wait until /healthz says 200. */
	async start() {
		this.writeConfig();
		this.exit = null;
		this.expectExit = false;
		const gen = ++this.generation;
		this.logText += `--- kefud start #${gen}: ${this.bin} -c ` +
		    `${this.confPath}\n`;
		const proc = spawn(this.bin, ['-c', this.confPath,
		    ...this.args], {
			cwd: this.dir,
			env: { ...process.env, ...this.env },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		this.proc = proc;
		live.add(proc);
		const collect = (d) => {
			this.logText += d.toString();
		};
		proc.stdout.on('data', collect);
		proc.stderr.on('data', collect);
		this.exited = new Promise((resolve) => {
			proc.on('exit', (code, signal) => {
				live.delete(proc);
				this.exit = { code, signal };
				if (!this.expectExit) {
					process.stderr.write('kefud exited ' +
					    `unexpectedly (code=${code} ` +
					    `signal=${signal}); its log:\n` +
					    this.logText);
				}
				resolve(this.exit);
			});
			proc.on('error', (err) => {
				live.delete(proc);
				this.exit = { code: null, signal: null, err };
				resolve(this.exit);
			});
		});

		await waitUntil(async () => {
			if (this.exit)
				return true;
			try {
				const r = await httpGet(`${this.url}/healthz`,
				    1000);
				return r.status === 200;
			} catch {
				return false;
			}
		}, {
			timeout: this.startTimeout, interval: 25,
			what: 'kefud /healthz'
		}).catch((e) => {
			this.logText += `--- ${e.message}\n`;
			throw e;
		});
		if (this.exit) {
			throw new Error('kefud exited during start-up ' +
			    `(code=${this.exit.code} signal=` +
			    `${this.exit.signal}): ` +
			    this.logText.split('\n').slice(-15).join('\n'));
		}
		return this;
	}

	/* GET a path: {status, headers, body}. */
	get(p) {
		return httpGet(this.url + p);
	}

	/*
	 * Send a signal and, unless it is one the daemon survives (SIGHUP),
	 * wait for the exit: {code, signal}.  A daemon still running after
	 * timeout ms is killed with SIGKILL.
	 */
	async kill(signal = 'SIGTERM', { timeout = 10000 } = {}) {
		if (!this.proc || this.exit)
			return this.exit;
		if (signal === 'SIGHUP' || signal === 'SIGUSR1' ||
		    signal === 'SIGUSR2') {
			this.proc.kill(signal);
			return null;
		}
		this.expectExit = true;
		this.proc.kill(signal);
		const timer = setTimeout(() => {
			this.logText += `--- still running ${timeout} ms ` +
			    `after ${signal}: SIGKILL\n`;
			this.proc.kill('SIGKILL');
		}, timeout);
		const ex = await this.exited;
		clearTimeout(timer);
		return ex;
	}

	/*
	 * Stop and start again on the same port, config and data directory
	 * (overrides, if given, are merged into the settings first).
	 */
	async restart(overrides = null, signal = 'SIGTERM') {
		await this.kill(signal);
		if (overrides)
			this.settings = deepMerge(this.settings,
			    expandDotted(overrides));
		await waitUntil(() => portFree(this.port), {
			timeout: 5000, what: `port ${this.port} to be free`
		});
		return this.start();
	}

	/* Stop the daemon and remove its directory: {code, signal}. */
	async stop({ keepDir = false } = {}) {
		const ex = await this.kill('SIGTERM');
		if (!keepDir)
			fs.rmSync(this.dir, { recursive: true, force: true });
		return ex;
	}
}

function portFree(port) {
	return new Promise((resolve) => {
		const srv = net.createServer();
		srv.once('error', () => resolve(false));
		srv.listen(port, '127.0.0.1', () => srv.close(() =>
		    resolve(true)));
	});
}

/*
 * Start a private kefud.  overrides are config settings merged over
 * baseSettings(), nested ({channels: {websocket: {rate_burst: 2}}}) or
 * dotted ({'channels.websocket.rate_burst': 2}); a value of undefined
 * removes a key.  Options: t (node:test context: stop when the test ends,
 * print the log if it failed), startTimeout ms, env, args (extra argv).
 */
export async function startKefud(overrides = {}, opts = {}) {
	const bin = findKefud();
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-test-'));
	const startTimeout = opts.startTimeout ?? 20000;
	let lastErr;

	/* The free port can be taken between looking and binding: retry. */
	for (let tries = 0; tries < 3; tries++) {
		const port = await freePort();
		let settings = deepMerge(baseSettings(port, dir),
		    expandDotted(overrides));
		if (process.env.KEFU_TEST_CONFIG) {
			settings = deepMerge(settings, expandDotted(JSON.parse(
			    process.env.KEFU_TEST_CONFIG)));
		}
		const k = new Kefud({
			bin, dir, settings, port, startTimeout,
			env: opts.env ?? {}, args: opts.args ?? []
		});
		try {
			await k.start();
		} catch (e) {
			lastErr = e;
			const printed = k.exit !== null;  /* by the exit handler */
			k.expectExit = true;
			await k.kill('SIGKILL');
			const log = k.log();
			if (/address already in use|EADDRINUSE|bind/i.test(log))
				continue;
			if (!printed)
				process.stderr.write(log);
			fs.rmSync(dir, { recursive: true, force: true });
			throw e;
		}
		if (opts.t) {
			opts.t.after(async () => {
				await k.stop({ keepDir: !!process.env.KEFU_KEEP });
				if (opts.t.passed !== true) {
					process.stderr.write(`--- kefud log ` +
					    `(${opts.t.name}):\n${k.log()}\n`);
				}
			});
		}
		return k;
	}
	fs.rmSync(dir, { recursive: true, force: true });
	throw lastErr;
}

/* --- WebSocket client ------------------------------------------------- */

export class WsClient {
	constructor(ws) {
		this.ws = ws;
		this.frames = [];	/* parsed frames, in arrival order */
		this.raw = [];		/* {data, isBinary} as received */
		this.closed = null;	/* {code, reason} once closed */
		this.waiters = new Set();
		this.msgCounter = 0;
		ws.on('message', (data, isBinary) => {
			this.raw.push({ data, isBinary });
			let f;
			try {
				f = JSON.parse(data.toString());
			} catch {
				f = { type: '<unparsable>', data: data.toString() };
			}
			this.frames.push(f);
			this.wake();
		});
		ws.on('close', (code, reason) => {
			this.closed = { code, reason: reason.toString() };
			this.wake();
		});
		ws.on('error', () => {
			/* a close event follows */
		});
		this.closedP = new Promise((resolve) => ws.once('close',
		    (code, reason) => resolve({ code,
		    reason: reason.toString() })));
	}

	wake() {
		for (const w of [...this.waiters])
			w();
	}

	/* Send a frame: an object becomes JSON; a string or Buffer is sent as is. */
	send(frame, opts = {}) {
		const data = typeof frame === 'string' ||
		    Buffer.isBuffer(frame) ? frame : JSON.stringify(frame);
		this.ws.send(data, opts);
	}

	/*
	 * Wait for the first frame, at index >= from, for which pred returns
	 * true; resolves with the frame.  pred may also be an object, matched
	 * field by field ({type: 'ack', id: 'c1'}).  Rejects on timeout or
	 * when the socket closes first.
	 */
	waitFor(pred, { timeout = 5000, from = 0 } = {}) {
		const test = typeof pred === 'function' ? pred :
		    (f) => Object.entries(pred).every(([k, v]) => f[k] === v);
		return new Promise((resolve, reject) => {
			const check = () => {
				for (let i = from; i < this.frames.length; i++) {
					if (test(this.frames[i])) {
						done();
						resolve(this.frames[i]);
						return true;
					}
				}
				if (this.closed) {
					done();
					reject(new Error('socket closed (' +
					    `${this.closed.code}) while ` +
					    `waiting for ${describe(pred)}; ` +
					    `frames: ${this.dump()}`));
					return true;
				}
				return false;
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(`timed out after ${timeout} ` +
				    `ms waiting for ${describe(pred)}; frames: ` +
				    this.dump()));
			}, timeout);
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(check);
			};
			this.waiters.add(check);
			check();
		});
	}

	/* Frames of one type (all of them, or from index from on). */
	ofType(type, from = 0) {
		return this.frames.slice(from).filter((f) => f.type === type);
	}

	/* The server's messages, by seq. */
	messages(from = 0) {
		return this.ofType('message', from);
	}

	dump() {
		return JSON.stringify(this.frames).slice(-2000);
	}

	/*
	 * Say hello and wait for "ready"; resolves with the ready frame.
	 * Extra fields (identity, name, lang) go into the hello.
	 */
	async hello(visitor, lastSeq = 0, extra = {}, opts = {}) {
		const from = this.frames.length;
		this.send({ type: 'hello', visitor, last_seq: lastSeq, ...extra });
		return this.waitFor((f) => f.type === 'ready' ||
		    f.type === 'error', { ...opts, from }).then((f) => {
			if (f.type === 'error') {
				throw new Error(`hello refused: ${f.code}: ` +
				    `${f.message}`);
			}
			return f;
		});
	}

	/*
	 * Send a customer message; returns its id.  fields: {id, value} or
	 * any other field to put in the frame.
	 */
	sendMessage(text, fields = {}) {
		const id = fields.id ?? `t${process.pid}-${Date.now()}-` +
		    `${++this.msgCounter}`;
		const f = { type: 'message', id, ...fields };
		if (text !== undefined && text !== null)
			f.text = text;
		this.send(f);
		return id;
	}

	/* Send and wait for the ack: resolves with the ack frame. */
	async sendAndAck(text, fields = {}, opts = {}) {
		const from = this.frames.length;
		const id = this.sendMessage(text, fields);
		return this.waitFor((f) => (f.type === 'ack' ||
		    f.type === 'error') && f.id === id, { ...opts, from }).then(
		    (f) => {
			if (f.type === 'error') {
				throw new Error(`message ${id} refused: ` +
				    `${f.code}: ${f.message}`);
			}
			return f;
		});
	}

	/* Resolves with {code, reason} when the socket has closed. */
	waitClose({ timeout = 5000 } = {}) {
		return Promise.race([this.closedP, new Promise((_, reject) =>
		    setTimeout(() => reject(new Error('timed out waiting ' +
		    'for close')), timeout).unref())]);
	}

	close(code = 1000) {
		if (this.ws.readyState === WebSocket.OPEN ||
		    this.ws.readyState === WebSocket.CONNECTING)
			this.ws.close(code);
		return this.closedP;
	}

	terminate() {
		this.ws.terminate();
		return this.closedP;
	}
}

function describe(pred) {
	return typeof pred === 'function' ? (pred.name || 'a frame matching ' +
	    pred.toString().slice(0, 120)) : JSON.stringify(pred);
}

/* Open a WebSocket to url (a Kefud or a ws:// URL); resolves when open. */
export function connectWs(target, { timeout = 5000, headers = {},
    maxPayload } = {}) {
	const url = typeof target === 'string' ? target : target.wsUrl;
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, { headers, handshakeTimeout:
		    timeout, ...(maxPayload ? { maxPayload } : {}) });
		const c = new WsClient(ws);
		ws.once('open', () => resolve(c));
		ws.once('error', (e) => reject(e));
		ws.once('unexpected-response', (req, res) => reject(new Error(
		    `WebSocket upgrade refused: HTTP ${res.statusCode}`)));
	});
}

/* A random visitor id the protocol accepts. */
export function visitorId(prefix = 'tv') {
	return `${prefix}${Math.random().toString(36).slice(2, 12)}` +
	    `${Date.now().toString(36)}`;
}
