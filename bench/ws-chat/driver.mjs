/*
 * driver.mjs: run the widget-chat scenarios against a private kefud and
 * print a table.  Called by ./run, which builds kefud (no sanitizers, -O2)
 * and wsload; see docs/performance.md.
 *
 * Every run gets a fresh data directory and port.  kefud is pinned to CPU
 * 0 and wsload to CPU 1 when the machine has two or more.  Idle scenarios
 * read kefud's VmRSS from /proc before any connection and once N widget
 * connections have said hello and the RSS has settled; load scenarios
 * take wsload's own numbers plus kefud's CPU use from /proc/PID/stat.
 * Each scenario runs RUNS times; the table shows the median and the runs.
 *
 * usage: node driver.mjs --kefud PATH --wsload PATH [--runs 3]
 *        [--only name,name] [--json FILE] [--duration S]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '..', '..');

function parseArgs(argv) {
	const a = { runs: 3, only: null, json: null, duration: 20 };
	for (let i = 0; i < argv.length; i++) {
		const k = argv[i];
		const v = argv[i + 1];
		if (k === '--kefud') a.kefud = v;
		else if (k === '--wsload') a.wsload = v;
		else if (k === '--runs') a.runs = Number(v);
		else if (k === '--only') a.only = v.split(',');
		else if (k === '--json') a.json = v;
		else if (k === '--duration') a.duration = Number(v);
		else {
			console.error(`driver: unknown argument ${k}`);
			process.exit(2);
		}
		i++;
	}
	if (!a.kefud || !a.wsload) {
		console.error('usage: driver.mjs --kefud PATH --wsload PATH ' +
		    '[--runs N] [--only a,b] [--json FILE] [--duration S]');
		process.exit(2);
	}
	return a;
}

const args = parseArgs(process.argv.slice(2));
const pin = os.cpus().length >= 2;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const scenarios = [
	{ name: 'idle-1k', kind: 'idle', conns: 1000 },
	{ name: 'idle-10k', kind: 'idle', conns: 10000 },
	{ name: 'load-1k-2000', kind: 'load', conns: 1000, rate: 2000 },
	{ name: 'load-10k-2000', kind: 'load', conns: 10000, rate: 2000 },
	{ name: 'max-1k', kind: 'load', conns: 1000, rate: 50000 }
].filter((s) => args.only === null || args.only.includes(s.name));

function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

function config(port, dir) {
	return `http = { listen = "127.0.0.1:${port}"; ` +
	    `web_root = "${top}/web"; };\n` +
	    `store = { path = "${dir}/kefu.db"; };\n` +
	    `engine = { templates = "${top}/templates"; ` +
	    `examples = "${top}/etc/demo/intents.csv"; ` +
	    `kb = [ "${top}/etc/demo/kb" ]; max_failures = 100; };\n` +
	    'channels = { websocket = { rate = 1000; burst = 1000; ' +
	    'max_connections = 20000; }; };\n' +
	    'log = { level = "warn"; };\n';
}

function readStatus(pid) {
	const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
	const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')
	    .exec(s)?.[1]);
	return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/* CPU seconds (user + system) a process has used. */
function cpuSeconds(pid) {
	const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
	const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
	/* fields 14 and 15 (utime, stime) are 11 and 12 after the name */
	return (Number(rest[11]) + Number(rest[12])) / 100;
}

async function startKefud() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-bench-'));
	const port = await freePort();
	fs.writeFileSync(path.join(dir, 'kefu.conf'), config(port, dir));
	const cmd = pin ? ['taskset', ['-c', '0', args.kefud]] :
	    [args.kefud, []];
	const p = spawn(cmd[0], [...cmd[1], '-c', path.join(dir, 'kefu.conf')],
	    { stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	p.stderr.on('data', (d) => {
		log += d;
	});
	const exited = new Promise((r) => p.on('exit', (code, sig) =>
	    r({ code, sig })));
	const deadline = Date.now() + 20000;
	for (;;) {
		try {
			const r = await fetch(`http://127.0.0.1:${port}/healthz`);
			if (r.status === 200)
				break;
		} catch {
			/* not yet */
		}
		if (Date.now() > deadline || p.exitCode !== null)
			throw new Error(`kefud did not start: ${log}`);
		await sleep(20);
	}
	return {
		p, port, dir, exited,
		log: () => log,
		async stop() {
			p.kill('SIGTERM');
			const ex = await exited;
			fs.rmSync(dir, { recursive: true, force: true });
			if (ex.code !== 0)
				console.error(`kefud exit ${ex.code} ${ex.sig}: ` +
				    log.slice(-2000));
		}
	};
}

/* Start wsload; lines() yields its stdout lines as they come. */
function startWsload(wargs) {
	const cmd = pin ? ['taskset', ['-c', '1', args.wsload]] :
	    [args.wsload, []];
	const p = spawn(cmd[0], [...cmd[1], ...wargs],
	    { stdio: ['ignore', 'pipe', 'inherit'] });
	const lines = [];
	const waiters = [];
	let buf = '';
	p.stdout.on('data', (d) => {
		buf += d;
		let i;
		while ((i = buf.indexOf('\n')) >= 0) {
			lines.push(buf.slice(0, i));
			buf = buf.slice(i + 1);
			for (const w of waiters.splice(0))
				w();
		}
	});
	const exited = new Promise((r) => p.on('exit', (code) => {
		for (const w of waiters.splice(0))
			w();
		r(code);
	}));
	return {
		p, exited, lines,
		async waitLine(prefix, timeout = 120000) {
			const deadline = Date.now() + timeout;
			for (;;) {
				const l = lines.find((x) => x.startsWith(prefix));
				if (l)
					return l;
				if (p.exitCode !== null || Date.now() > deadline)
					throw new Error(`wsload: no "${prefix}" line`);
				await new Promise((r) => {
					waiters.push(r);
					setTimeout(r, 500);
				});
			}
		}
	};
}

function logfmt(line) {
	const o = {};
	for (const kv of line.split(' ').slice(1)) {
		const [k, v] = kv.split('=');
		o[k] = Number.isNaN(Number(v)) ? v : Number(v);
	}
	return o;
}

/* Wait until kefud's RSS stops growing (3 equal samples 200 ms apart). */
async function settledRss(pid) {
	let last = -1;
	let same = 0;
	for (let i = 0; i < 50 && same < 3; i++) {
		const { rss } = readStatus(pid);
		same = rss === last ? same + 1 : 0;
		last = rss;
		await sleep(200);
	}
	return last;
}

async function metric(port, name) {
	const r = await fetch(`http://127.0.0.1:${port}/metrics`);
	const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await r.text());
	return m ? Number(m[1]) : NaN;
}

async function runIdle(s) {
	const k = await startKefud();
	try {
		const rss0 = await settledRss(k.p.pid);
		const w = startWsload(['-m', 'idle', '-n', String(s.conns),
		    '-P', String(k.port)]);
		const ready = logfmt(await w.waitLine('ready '));
		const rssN = await settledRss(k.p.pid);
		const open = await metric(k.port, 'kefu_ws_connections');
		w.p.kill('SIGTERM');
		await w.exited;
		return {
			conns: s.conns, ready: ready.ready, open,
			connect_s: ready.connect_s, rss0_kib: rss0,
			rssN_kib: rssN, per_conn_kib: (rssN - rss0) / s.conns
		};
	} finally {
		await k.stop();
	}
}

async function runLoad(s) {
	const k = await startKefud();
	try {
		const duration = s.name.startsWith('max') ?
		    Math.min(args.duration, 10) : args.duration;
		const cpu0 = cpuSeconds(k.p.pid);
		const t0 = Date.now();
		const w = startWsload(['-m', 'load', '-n', String(s.conns),
		    '-r', String(s.rate), '-W', '5', '-d', String(duration),
		    '-P', String(k.port)]);
		const res = logfmt(await w.waitLine('result ', 300000));
		const wall = (Date.now() - t0) / 1000;
		const kcpu = cpuSeconds(k.p.pid) - cpu0;
		const { rss, hwm } = readStatus(k.p.pid);
		await w.exited;
		return {
			...res, kefud_cpu_pct: 100 * kcpu / wall,
			kefud_rss_kib: rss, kefud_hwm_kib: hwm
		};
	} finally {
		await k.stop();
	}
}

function median(xs) {
	const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
	if (v.length === 0)
		return NaN;
	return v.length % 2 ? v[(v.length - 1) / 2] :
	    (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function fmt(x, d = 1) {
	return Number.isFinite(x) ? x.toFixed(d) : '-';
}

const results = {};
const invalid = [];
for (const s of scenarios) {
	results[s.name] = [];
	for (let r = 0; r < args.runs; r++) {
		const res = s.kind === 'idle' ? await runIdle(s) :
		    await runLoad(s);
		/* Other work on the machine shows up here. */
		res.loadavg1 = os.loadavg()[0];
		results[s.name].push(res);
		console.error(`${s.name} run ${r + 1}: ${JSON.stringify(res)}`);
		const up = s.kind === 'idle' ? res.open : res.ready;
		if (up !== s.conns || (res.closed ?? 0) > 0) {
			console.error(`${s.name} run ${r + 1}: INVALID: only ` +
			    `${up} of ${s.conns} connections were up`);
			invalid.push(`${s.name} run ${r + 1}`);
		}
	}
}

const col = (name, key) => results[name]?.map((x) => x[key]) ?? [];
const row = (label, name, key, d = 1) => {
	const xs = col(name, key);
	return `| ${name} | ${label} | ${fmt(median(xs), d)} | ` +
	    `${xs.map((x) => fmt(x, d)).join(', ')} |`;
};
const out = ['| scenario | measure | median | runs |', '|---|---|---|---|'];
for (const s of scenarios) {
	if (s.kind === 'idle') {
		out.push(row('connections ready / open in kefud', s.name, 'open', 0));
		out.push(row('connect + hello time (s)', s.name, 'connect_s', 2));
		out.push(row('kefud RSS, 0 connections (KiB)', s.name,
		    'rss0_kib', 0));
		out.push(row(`kefud RSS, ${s.conns} idle (KiB)`, s.name,
		    'rssN_kib', 0));
		out.push(row('RSS per idle connection (KiB)', s.name,
		    'per_conn_kib', 2));
	} else {
		out.push(row('offered rate (msg/s)', s.name, 'rate', 0));
		out.push(row('answered (msg/s)', s.name, 'throughput', 0));
		out.push(row('p50 send->first reply (ms)', s.name, 'p50_ms', 2));
		out.push(row('p90 (ms)', s.name, 'p90_ms', 2));
		out.push(row('p99 (ms)', s.name, 'p99_ms', 2));
		out.push(row('p99.9 (ms)', s.name, 'p999_ms', 2));
		out.push(row('max (ms)', s.name, 'max_ms', 2));
		out.push(row('error frames', s.name, 'errors', 0));
		out.push(row('stalls (all conns waiting)', s.name, 'stalls', 0));
		out.push(row('kefud CPU (% of one core)', s.name,
		    'kefud_cpu_pct', 0));
		out.push(row('wsload CPU (% of one core)', s.name, 'cpu_pct',
		    0));
		out.push(row('kefud RSS after (KiB)', s.name, 'kefud_rss_kib',
		    0));
		out.push(row('load average (1 min) after', s.name, 'loadavg1',
		    2));
	}
}
if (results['idle-1k'] && results['idle-10k']) {
	const marg = results['idle-10k'].map((x, i) => (x.rssN_kib -
	    results['idle-1k'][i].rssN_kib) / 9000);
	out.push(`| idle 1k->10k | marginal RSS per connection (KiB) | ` +
	    `${fmt(median(marg), 2)} | ${marg.map((x) => fmt(x, 2))
	    .join(', ')} |`);
}
console.log(out.join('\n'));
if (invalid.length > 0) {
	console.log(`INVALID runs (connections lost): ${invalid.join(', ')}`);
	process.exitCode = 1;
}
if (args.json)
	fs.writeFileSync(args.json, JSON.stringify(results, null, 2));
