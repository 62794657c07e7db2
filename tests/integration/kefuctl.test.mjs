/*
 * kefuctl.test.mjs: the administration tool against a real store.
 *
 * init creates the schema (and is idempotent); after a widget chat with a
 * running kefud, "conversations" lists the conversation and "show ID"
 * prints its transcript; every subcommand answers --help; bad input fails
 * with a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { baseSettings, connectWs, findKefud, freePort, startKefud,
    toLibconfig, visitorId } from '../lib/harness.mjs';

const COMMANDS = ['init', 'conversations', 'show', 'help'];

/* The kefuctl binary: $KEFUCTL, $KEFU_BUILD/src/kefuctl, or next to kefud. */
function findKefuctl() {
	let bin;

	if (process.env.KEFUCTL)
		bin = path.resolve(process.env.KEFUCTL);
	else if (process.env.KEFU_BUILD)
		bin = path.resolve(process.env.KEFU_BUILD, 'src', 'kefuctl');
	else
		bin = path.join(path.dirname(findKefud()), 'kefuctl');
	fs.accessSync(bin, fs.constants.X_OK);
	return bin;
}

/* Run kefuctl: {status, stdout, stderr}. */
function kefuctl(args) {
	const r = spawnSync(findKefuctl(), args, { encoding: 'utf8',
	    timeout: 20000 });
	if (r.error)
		throw r.error;
	return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/* Rows of a query on a database file (sqlite3 CLI, JSON mode). */
function sql(db, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 5000',
	    db, query], { encoding: 'utf8' });
	return out.trim() === '' ? [] : JSON.parse(out);
}

test('init creates the store, and again leaves it be', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-ctl-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const settings = baseSettings(await freePort(), dir);
	const conf = path.join(dir, 'kefu.conf');
	fs.writeFileSync(conf, toLibconfig(settings));
	const db = settings.store.path;

	const r = kefuctl(['-c', conf, 'init']);
	assert.equal(r.status, 0, r.stderr);
	assert.match(r.stdout, /schema version [1-9]\d*/);
	assert.ok(r.stdout.includes(db), 'init names the database');
	const tables = sql(db, 'SELECT name FROM sqlite_master WHERE ' +
	    'type = \'table\'').map((x) => x.name);
	for (const name of ['contacts', 'conversations', 'messages',
	    'outbox'])
		assert.ok(tables.includes(name), `table ${name} exists`);
	const version = sql(db, 'PRAGMA user_version')[0].user_version;
	assert.match(r.stdout, new RegExp(`schema version ${version}\\b`));

	const again = kefuctl(['-c', conf, 'init']);
	assert.equal(again.status, 0, again.stderr);
	assert.equal(again.stdout, r.stdout);

	/* KEFU_CONFIG is the default config file. */
	const env = spawnSync(findKefuctl(), ['init'], { encoding: 'utf8',
	    env: { ...process.env, KEFU_CONFIG: conf } });
	assert.equal(env.status, 0, env.stderr);

	/* A store in a directory that does not exist: a clear failure. */
	const bad = path.join(dir, 'bad.conf');
	fs.writeFileSync(bad, toLibconfig({ ...settings, store: {
	    path: path.join(dir, 'no', 'such', 'dir', 'kefu.db') } }));
	const f = kefuctl(['-c', bad, 'init']);
	assert.notEqual(f.status, 0);
	assert.match(f.stderr, /no\/such\/dir/);
});

test('conversations and show after a chat', async (t) => {
	const k = await startKefud({}, { t });
	const visitor = visitorId('ctl');
	const c = await connectWs(k);
	t.after(() => c.terminate());
	await c.hello(visitor, 0);
	const texts = ['Hello kefuctl', 'how do I return an item?'];
	for (const text of texts)
		await c.sendAndAck(text);
	const db = k.settings.store.path;
	const conv = sql(db, 'SELECT v.id, v.status FROM conversations v ' +
	    'JOIN contacts c ON c.id = v.contact_id WHERE c.external_id = ' +
	    `'v:${visitor}'`);
	assert.equal(conv.length, 1, 'one conversation');
	const id = conv[0].id;
	const out = sql(db, 'SELECT seq, text FROM messages WHERE ' +
	    `conversation_id = ${id} AND direction = 'out' ORDER BY seq`);
	assert.ok(out.length >= 2);

	/* kefuctl reads the store while kefud runs. */
	const list = kefuctl(['-c', k.confPath, 'conversations']);
	assert.equal(list.status, 0, list.stderr);
	const lines = list.stdout.trim().split('\n');
	assert.match(lines[0], /^ID\s+CHANNEL\s+STATUS/);
	const row = lines.find((l) => l.split(/\s+/)[0] === String(id));
	assert.ok(row, `conversation ${id} is listed:\n${list.stdout}`);
	assert.match(row, /\bwebsocket\b/);
	assert.ok(row.includes(conv[0].status));

	const one = kefuctl(['-c', k.confPath, 'conversations', '--limit',
	    '1']);
	assert.equal(one.status, 0);
	assert.equal(one.stdout.trim().split('\n').length, 2,
	    'a header and one conversation');
	for (const bad of [['--limit', '0'], ['--limit', 'x'], ['--bogus']]) {
		const r = kefuctl(['-c', k.confPath, 'conversations', ...bad]);
		assert.notEqual(r.status, 0, `conversations ${bad.join(' ')}`);
		assert.ok(r.stderr.length > 0);
	}

	const show = kefuctl(['-c', k.confPath, 'show', String(id)]);
	assert.equal(show.status, 0, show.stderr);
	assert.match(show.stdout, new RegExp(`^conversation ${id}\\b`));
	assert.match(show.stdout, /channel websocket/);
	let at = 0;
	for (const text of texts) {
		const i = show.stdout.indexOf(text, at);
		assert.ok(i >= at, `the transcript has "${text}" in order`);
		at = i;
	}
	for (const m of out) {
		const first = m.text.split('\n')[0];
		assert.ok(show.stdout.includes(`#${m.seq}: ${first}`),
		    `reply #${m.seq} is in the transcript:\n${show.stdout}`);
	}
	assert.match(show.stdout, /\bcustomer\b/);
	assert.match(show.stdout, /\bbot\b/);

	const none = kefuctl(['-c', k.confPath, 'show', '999999']);
	assert.equal(none.status, 1);
	assert.match(none.stderr, /not found/);
	for (const args of [['show'], ['show', 'abc'], ['show', '-3'],
	    ['show', '1', '2']]) {
		const r = kefuctl(['-c', k.confPath, ...args]);
		assert.notEqual(r.status, 0, args.join(' '));
		assert.ok(r.stderr.length > 0);
	}
});

test('--help for kefuctl and each command', () => {
	const top = kefuctl(['--help']);
	assert.equal(top.status, 0);
	assert.match(top.stdout, /^usage: kefuctl/);
	for (const cmd of COMMANDS)
		assert.match(top.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'),
		    `the usage lists ${cmd}`);

	for (const cmd of COMMANDS) {
		for (const args of [[cmd, '--help'], [cmd, '-h'],
		    ['help', cmd]]) {
			/* No config is needed for help. */
			const r = kefuctl(['-c', '/nonexistent/kefu.conf',
			    ...args]);
			assert.equal(r.status, 0, `${args.join(' ')}: ` +
			    r.stderr);
			assert.match(r.stdout, new RegExp(
			    `^usage: kefuctl ${cmd}\\b`), args.join(' '));
			assert.ok(r.stdout.split('\n').length >= 2,
			    `${args.join(' ')} explains the command`);
		}
	}

	const unknown = kefuctl(['frobnicate']);
	assert.notEqual(unknown.status, 0);
	assert.match(unknown.stderr, /unknown command: frobnicate/);
	const none = kefuctl([]);
	assert.notEqual(none.status, 0);
	assert.match(none.stderr, /^usage: kefuctl/);
	const noconf = kefuctl(['-c', '/nonexistent/kefu.conf',
	    'conversations']);
	assert.notEqual(noconf.status, 0);
	assert.match(noconf.stderr, /\/nonexistent\/kefu\.conf/);
});
