/*
 * order.test.mjs: the order-status action against a fake shop.
 *
 * The test runs its own shop API (node http) that serves
 * /api/orders/{id}: 200 with JSON for some orders, 404 for an unknown
 * one, 500, a response slower than the configured time-out, and a body
 * that is not JSON.  kefud is configured with the shop's URL, two headers
 * (one a secret) and a map from the shop's JSON into the template fields.
 * A widget customer asks in English and in Chinese, confirms the order
 * number, and gets the mapped status; the failures give an honest apology
 * and the offer of a person, never a status.  The shop sees exactly the
 * configured URL and headers, and the secret never reaches the log.
 * Without a URL, the demo order table (kefuctl orders import) answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

import { connectWs, startKefud, topSrcdir, visitorId } from
    '../lib/harness.mjs';

const SECRET = 'Bearer kefu-test-SECRET-7f3a9c';
const DEMO_PATTERN = '[A-Za-z]{1,6}-?[0-9]{4,20}|[0-9]{5,20}';

/* The fake shop: answers by order number and records every request. */
function startShop() {
	const requests = [];
	const orders = {
		'12345': { order: { state: 'shipped' }, delivery: {
		    eta: '2026-11-27', carrier: 'SF Express',
		    tracking_no: 'SF1402938475610' } },
		'20261125001': { order: { state: 'in_transit' }, delivery: {
		    eta: '2026-11-28', carrier: 'ZTO Express',
		    tracking_no: '73516284950127' } }
	};
	const timers = new Set();
	const srv = http.createServer((req, res) => {
		requests.push({ method: req.method, url: req.url,
		    headers: req.headers });
		const m = /^\/api\/orders\/([^/?]+)(\?.*)?$/.exec(req.url);
		const id = m ? decodeURIComponent(m[1]) : null;
		const reply = (status, body, type = 'application/json') => {
			res.writeHead(status, { 'Content-Type': type });
			res.end(body);
		};
		if (id in orders)
			reply(200, JSON.stringify(orders[id]));
		else if (id === '55555')
			reply(500, JSON.stringify({ error: 'database down' }));
		else if (id === '66666')
			reply(200, '<html>maintenance</html>', 'text/html');
		else if (id === '77777') {
			/* Slower than the time-out: kefu gives up first. */
			const t = setTimeout(() => reply(200, JSON.stringify(
			    orders['12345'])), 4000);
			timers.add(t);
		} else
			reply(404, JSON.stringify({ error: 'no such order' }));
	});
	return new Promise((resolve) => {
		srv.listen(0, '127.0.0.1', () => resolve({
			port: srv.address().port,
			requests,
			close: () => {
				for (const t of timers)
					clearTimeout(t);
				srv.closeAllConnections();
				return new Promise((r) => srv.close(r));
			}
		}));
	});
}

/* Rows of a query on the store (sqlite3 CLI, JSON mode). */
function sql(k, query) {
	const out = execFileSync('sqlite3', ['-json', '-cmd', '.timeout 5000',
	    k.settings.store.path, query], { encoding: 'utf8' });
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* The settings for kefud with the shop at port. */
function shopSettings(port) {
	return {
		'engine.order_pattern': DEMO_PATTERN,
		actions: {
			order_status: {
				url: `http://127.0.0.1:${port}/api/orders/` +
				    '{order_id}?src=kefu',
				headers: [`Authorization: ${SECRET}`,
				    'X-Shop-Id: kefu-demo'],
				timeout: 1000,
				map: {
					status: 'order.state',
					eta: 'delivery.eta',
					carrier: 'delivery.carrier',
					tracking: 'delivery.tracking_no'
				}
			}
		}
	};
}

/*
 * Send a message (text, or a button: {value, text}) and wait for a bot
 * message matching re that arrives after it; returns that message.
 */
async function ask(c, what, re, timeout = 10000) {
	const from = c.frames.length;
	if (typeof what === 'string')
		await c.sendAndAck(what);
	else
		await c.sendAndAck(what.text, { value: what.value });
	return c.waitFor((f) => f.type === 'message' && f.author === 'bot' &&
	    re.test(f.text), { from, timeout });
}

/* A new widget customer. */
async function customer(t, k) {
	const c = await connectWs(k);
	t.after(() => c.terminate());
	await c.hello(visitorId('order'), 0);
	return c;
}

test('the shop answers: mapped status in English and Chinese',
    async (t) => {
	const shop = await startShop();
	t.after(() => shop.close());
	const k = await startKefud(shopSettings(shop.port), { t });

	const en = await customer(t, k);
	const confirm = await ask(en, 'where is my order 12345',
	    /order 12345/);
	assert.ok(['Would you like me to check the status of order 12345?',
	    'Shall I look up order 12345 for you?'].includes(confirm.text),
	    confirm.text);
	assert.deepEqual(confirm.buttons.map((b) => b.value), ['yes', 'no']);
	assert.equal(shop.requests.length, 0, 'nothing is looked up before ' +
	    'the customer confirms');
	const status = await ask(en, { value: 'yes', text: 'Yes, that\'s it' },
	    /^Order 12345 is /);
	assert.equal(status.text, 'Order 12345 is shipped. Carrier: SF ' +
	    'Express. Tracking number: SF1402938475610. Expected delivery: ' +
	    '2026-11-27.');
	await en.waitFor((f) => f.type === 'message' &&
	    /answer your question|helpful/.test(f.text));

	/* Exactly the configured request. */
	assert.equal(shop.requests.length, 1);
	const r = shop.requests[0];
	assert.equal(r.method, 'GET');
	assert.equal(r.url, '/api/orders/12345?src=kefu');
	assert.equal(r.headers.authorization, SECRET);
	assert.equal(r.headers['x-shop-id'], 'kefu-demo');

	const zh = await customer(t, k);
	const zconfirm = await ask(zh, '我的订单20261125001到哪了',
	    /20261125001/);
	assert.ok(['您是想查询订单 20261125001 的物流吗？',
	    '请问是要帮您查询订单 20261125001 的状态吗？']
	    .includes(zconfirm.text), zconfirm.text);
	const zstatus = await ask(zh, '是的', /^订单 20261125001 当前状态/);
	assert.equal(zstatus.text, '订单 20261125001 当前状态：运输中。' +
	    '承运快递：ZTO Express。运单号：73516284950127。' +
	    '预计送达：2026-11-28。');
	assert.equal(shop.requests.length, 2);
	assert.equal(shop.requests[1].url, '/api/orders/20261125001?src=kefu');

	/* The audit trail, and no secret in the log. */
	const rows = sql(k, 'SELECT data FROM events WHERE type = \'action\' ' +
	    'ORDER BY id');
	assert.deepEqual(rows.map((x) => JSON.parse(x.data)), [
		{ action: 'order_status', outcome: 'ok' },
		{ action: 'order_status', outcome: 'ok' }
	]);
	assert.ok(!k.log().includes('SECRET-7f3a9c'), 'the header is not ' +
	    'logged');
	assert.match(k.log(), /look-up done.*action=order_status outcome=ok/);
});

test('no such order, errors and time-outs: an apology, never a status',
    async (t) => {
	const shop = await startShop();
	t.after(() => shop.close());
	const k = await startKefud(shopSettings(shop.port), { t });

	/* 404: check the number. */
	const a = await customer(t, k);
	await ask(a, 'where is my order 99999', /99999/);
	const nf = await ask(a, { value: 'yes', text: 'Yes' }, /99999/);
	assert.equal(nf.text, 'I couldn\'t find an order with the number ' +
	    '99999. Could you check the number and send it again?');
	/* The corrected number is looked up at once. */
	const ok = await ask(a, '12345', /^Order 12345 is shipped/);
	assert.ok(ok);

	/* 500, a body that is not JSON, and a time-out (1 s). */
	for (const [id, lang] of [['55555', 'en'], ['66666', 'en'],
	    ['77777', 'zh']]) {
		const c = await customer(t, k);
		const started = Date.now();
		if (lang === 'en') {
			await ask(c, `where is my order ${id}`, new RegExp(id));
			const m = await ask(c, { value: 'yes', text: 'Yes' },
			    /order system/);
			assert.equal(m.text, 'Sorry, I can\'t reach our ' +
			    'order system right now, so I can\'t check ' +
			    `order ${id}. Would you like to talk to someone ` +
			    'from our team, or ask something else?');
			assert.deepEqual(m.buttons.map((b) => b.value),
			    ['human', 'other']);
		} else {
			await ask(c, `我的订单${id}到哪了`, new RegExp(id));
			const m = await ask(c, '是的', /订单系统暂时无法访问/);
			assert.match(m.text,
			    new RegExp(`查不到订单 ${id} 的状态`));
			/* The time-out is the configured one, not the shop's
			 * four seconds. */
			assert.ok(Date.now() - started < 3900,
			    `gave up after ${Date.now() - started} ms`);
		}
		const all = c.messages().map((x) => x.text).join('\n');
		assert.doesNotMatch(all, /shipped|运输中|已发货/,
		    'no status is made up');
	}
	const outcomes = sql(k, 'SELECT data FROM events WHERE type = ' +
	    '\'action\' ORDER BY id').map((x) => JSON.parse(x.data).outcome);
	assert.deepEqual(outcomes, ['not_found', 'ok', 'failed', 'failed',
	    'failed']);
	assert.match(k.log(), /look-up failed.*http=500/);
	assert.match(k.log(), /look-up failed.*not JSON/);
	assert.ok(!k.log().includes('SECRET-7f3a9c'));

	/* After the apology the customer can ask for a person. */
	const h = await customer(t, k);
	await ask(h, 'where is my order 55555', /55555/);
	await ask(h, { value: 'yes', text: 'Yes' }, /order system/);
	await ask(h, { value: 'human', text: 'Talk to a person' },
	    /customer service team|member of our team/);
	const conv = sql(k, 'SELECT status, handoff_reason FROM ' +
	    'conversations ORDER BY id DESC LIMIT 1')[0];
	assert.deepEqual(conv, { status: 'pending',
	    handoff_reason: 'requested' });
});

test('without a URL the demo order table answers', async (t) => {
	const k = await startKefud({ 'engine.order_pattern': DEMO_PATTERN },
	    { t });
	const kefuctl = process.env.KEFUCTL ??
	    path.join(process.env.KEFU_BUILD, 'src', 'kefuctl');
	execFileSync(kefuctl, ['-c', k.confPath, 'orders', 'import',
	    path.join(topSrcdir, 'etc', 'demo', 'orders.csv')]);
	const c = await customer(t, k);
	await ask(c, 'where is my order 12345', /12345/);
	const m = await ask(c, { value: 'yes', text: 'Yes' }, /^Order 12345/);
	assert.equal(m.text, 'Order 12345 is shipped. Carrier: SF Express. ' +
	    'Tracking number: SF1402938475610. Expected delivery: ' +
	    '2026-11-27.');
	await ask(c, 'where is my order 99998', /99998/);
	const nf = await ask(c, { value: 'yes', text: 'Yes' }, /couldn't find/);
	assert.match(nf.text, /99998/);
});
