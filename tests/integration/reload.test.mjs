/*
 * reload.test.mjs: SIGHUP reloads the templates, re-imports the knowledge
 * base and retrains the intent model without dropping connections.  The
 * test runs kefud on copies of the English FAQ and the templates, edits an
 * answer and a template, sends SIGHUP, and asks again on the same
 * WebSocket: the new answer and the new template text come back, the
 * connection was never closed, and the sequence numbers run on without a
 * gap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { connectWs, startKefud, topSrcdir, visitorId, waitUntil } from
    '../lib/harness.mjs';

test('SIGHUP reloads the knowledge base and templates, connections stay',
    async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-reload-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const kb = path.join(dir, 'kb');
	const templates = path.join(dir, 'templates');
	fs.mkdirSync(kb);
	fs.copyFileSync(path.join(topSrcdir, 'etc/demo/kb/faq-en.md'),
	    path.join(kb, 'faq-en.md'));
	fs.cpSync(path.join(topSrcdir, 'templates'), templates,
	    { recursive: true });

	const k = await startKefud({ engine: { kb: [kb], templates } }, { t });
	const c = await connectWs(k);
	await c.hello(visitorId('rl'));

	const question = 'how long does a refund take?';
	let from = c.frames.length;
	c.sendMessage(question);
	const before = await c.waitFor((f) => f.type === 'message' &&
	    /2 working days/.test(f.text), { from });
	await c.waitFor((f) => f.type === 'message' && f.buttons &&
	    f.buttons.some((b) => b.value === 'yes'), { from });

	/* Edit the answer and the follow-up question, then SIGHUP. */
	const faq = path.join(kb, 'faq-en.md');
	const text = fs.readFileSync(faq, 'utf8');
	assert.match(text, /within 2 working days/);
	fs.writeFileSync(faq, text.replaceAll('within 2 working days',
	    'within 4 working days'));
	fs.writeFileSync(path.join(templates, 'en', 'follow_up.mustache'),
	    'Reloaded: did that answer it?\n' +
	    '[[button yes|Yes, thanks]]\n[[button no|No]]\n');
	const logLen = k.log().length;
	await k.kill('SIGHUP');
	await waitUntil(() => /intent model trained/.test(
	    k.log().slice(logLen)), { timeout: 15000 });

	from = c.frames.length;
	c.sendMessage(question);
	const after = await c.waitFor((f) => f.type === 'message' &&
	    /4 working days/.test(f.text), { from });
	await c.waitFor((f) => f.type === 'message' &&
	    /^Reloaded: did that answer it\?/.test(f.text), { from });
	assert.ok(after.seq > before.seq, 'sequence runs on');
	const seqs = c.messages().map((m) => m.seq);
	seqs.forEach((s, i) => assert.equal(s, i + 1, 'no gap in seqs'));
	assert.equal(c.ofType('error').length, 0);
	assert.equal(c.ws.readyState, 1, 'connection still open');
	c.close();
});
