/*
 * inbox.js: the shared inbox for human agents, served at /inbox/.
 *
 * Design.  Plain modules, no framework, no build step; the API is in
 * docs/api.md.  The page keeps one cache of conversation summaries (by
 * id) and draws every list from it: a view is a filter and an order over
 * the cache (waiting: pending, oldest waiting first; mine; all open;
 * resolved), so a conversation the live feed changes moves between views
 * at once without asking the server.  HTTP fills the cache (the waiting
 * view always, for its count, plus the view on screen) when the page
 * starts, when the view or a filter changes, and after every (re)connect
 * of the live feed: events the server could not replay are then still
 * seen, and everything is merged by id, so nothing shows twice.  A
 * summary replaces a cached one only if it is as new or newer
 * (updated_at, last_message_at); a message replaces one with the same id
 * (its delivery status changes) unless it would go back from sent to
 * queued.  The open conversation's messages are kept by id in id order.
 *
 * Nothing from the server or the customer is ever parsed as HTML: the DOM
 * is built with createElement and textContent (dom.js).  There is no
 * inline script or style (the CSP forbids both).
 *
 * A reply gets a client_id (a UUID) and is retried with the same id while
 * the network fails, so it is stored once.  Until the server answers it
 * shows in the transcript as "sending".
 */

import { ApiError, get, onUnauthorized, post, postRetrying, setCsrf,
    uuid } from './api.js';
import { $, append, clear, el, replace, say, show } from './dom.js';
import { agentName, channelLabel, clock, contactName, day, iso,
    reasonLabel, sentimentWord, signed, since, statusLabel } from
    './format.js';
import { Live } from './live.js';

const TITLE = 'kefu inbox';
const LIST_LIMIT = 50;
const WAITING_LIMIT = 200;
const CANNED_SHOWN = 8;

/* The views: which summaries they show, and in what order. */
const VIEWS = {
	waiting: {
		title: 'Waiting',
		match: (c) => c.status === 'pending',
		order: (a, b) => (a.waiting_since ?? a.updated_at) -
		    (b.waiting_since ?? b.updated_at) || a.id - b.id
	},
	mine: {
		title: 'Mine',
		match: (c) => c.status === 'open' && c.assignee &&
		    S.me && c.assignee.id === S.me.id,
		order: byRecent
	},
	open: {
		title: 'All open',
		match: (c) => c.status === 'pending' || c.status === 'open',
		order: byRecent
	},
	resolved: {
		title: 'Resolved',
		match: (c) => c.status === 'resolved' || rating(c),
		order: (a, b) => (b.resolved_at ?? b.updated_at) -
		    (a.resolved_at ?? a.updated_at) || b.id - a.id
	}
};

/* Resolved by an agent, the bot waiting for the customer's rating. */
function rating(c) {
	return c.status === 'bot' && Number.isFinite(c.resolved_at) &&
	    c.resolved_at > 0;
}

/* The status as the agent reads it. */
function statusText(c) {
	return rating(c) ? 'Awaiting rating' : statusLabel(c.status);
}

function byRecent(a, b) {
	return (b.last_message_at ?? b.updated_at) -
	    (a.last_message_at ?? a.updated_at) || b.id - a.id;
}

/* Delivery statuses, by how far they got (never go back). */
const STATUS_RANK = { received: 0, queued: 0, held: 1, sent: 2, failed: 2 };

/* All the page's state. */
const S = {
	started: false,
	me: null,
	view: 'waiting',
	channel: '',
	q: '',
	convs: new Map(),	/* id -> summary */
	seen: new Map(),	/* id -> performance.now() of the last update */
	search: null,		/* Set of ids found by q, or null */
	next: null,		/* the view's next page (offset), or null */
	listGen: 0,
	openId: null,
	open: null,		/* {contact, messages, nodes, loaded} */
	outgoing: new Map(),	/* client_id -> {convId, text, note, node} */
	canned: [],
	cannedActive: -1,
	cannedShown: [],
	couldReply: null,	/* whether the composer allowed replies */
	stick: true,		/* the transcript follows new messages */
	live: null,
	notified: new Set(),
	renderQueued: false,
	clockTimer: null,
	loginTimer: null
};

/* --- start, login, logout --------------------------------------------- */

async function boot() {
	onUnauthorized(() => sessionOver());
	wireLogin();
	wireApp();
	try {
		const me = await get('/api/me');
		setCsrf(me.csrf);
		S.me = me.agent;
		startApp();
	} catch (e) {
		if (!(e instanceof ApiError && e.status === 401))
			showLogin(e instanceof ApiError && e.network ?
			    'Cannot reach kefu. Is it running?' : '');
	}
}

function showLogin(notice) {
	show($('boot'), false);
	show($('app'), false);
	show($('login-view'), true);
	say($('login-notice'), notice);
	document.title = TITLE;
	const name = $('login-name');
	(name.value ? $('login-password') : name).focus();
}

/* A 401 from anywhere: back to the login view. */
function sessionOver() {
	const was = S.started;
	stopApp();
	if (!$('login-view').hidden)
		return;
	showLogin(was ? 'Your session has ended. Please log in again.' : '');
}

function wireLogin() {
	$('login-form').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const name = $('login-name').value.trim();
		const password = $('login-password').value;
		const err = $('login-error');
		if (name === '' || password === '') {
			say(err, 'Enter your name and password.');
			return;
		}
		say(err, '');
		const btn = $('login-submit');
		btn.disabled = true;
		try {
			const r = await post('/api/login', { name, password });
			$('login-password').value = '';
			setCsrf(r.csrf);
			S.me = r.agent;
			btn.disabled = false;
			say($('login-notice'), '');
			startApp();
		} catch (e) {
			btn.disabled = false;
			loginFailed(e);
		}
	});
}

function loginFailed(e) {
	const err = $('login-error');

	if (!(e instanceof ApiError)) {
		say(err, 'Something went wrong. Please try again.');
		throw e;
	}
	if (e.status === 401) {
		say(err, 'Wrong name or password.');
		$('login-password').select();
	} else if (e.status === 429) {
		let n = Number(e.data.retry_after);
		if (!Number.isFinite(n))
			n = Number(e.headers?.get('Retry-After'));
		if (!Number.isFinite(n) || n < 1)
			n = 60;
		n = Math.ceil(n);
		const btn = $('login-submit');
		btn.disabled = true;
		clearInterval(S.loginTimer);
		const tick = () => {
			if (n <= 0) {
				clearInterval(S.loginTimer);
				btn.disabled = false;
				say(err, 'You can try again now.');
				return;
			}
			say(err, `Too many attempts, try again in ${n} s.`);
			n--;
		};
		tick();
		S.loginTimer = setInterval(tick, 1000);
	} else if (e.network)
		say(err, 'Cannot reach kefu. Check the connection.');
	else if (e.status === 400)
		say(err, 'Enter your name and password.');
	else
		say(err, `Login failed: ${e.message}`);
}

function startApp() {
	S.started = true;
	show($('boot'), false);
	show($('login-view'), false);
	show($('app'), true);
	$('me').textContent = `${agentName(S.me)} (${S.me.role})`;
	updateNotifyButton();
	setView(S.view, false);
	const url = new URL('/api/live', location.href);
	url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
	S.live = new Live(url.href, {
		onReady: () => resync(),
		onReset: () => resync(),
		onEvent: (f) => applyEvent(f),
		onState: (st) => liveState(st),
		checkAuth: () => get('/api/me')
	});
	S.live.start();
	resync();
	loadCanned();
	clearInterval(S.clockTimer);
	S.clockTimer = setInterval(() => render(), 30000);
	routeFromHash();
}

/* Forget everything of the session. */
function stopApp() {
	S.started = false;
	S.live?.stop();
	S.live = null;
	setCsrf(null);
	clearInterval(S.clockTimer);
	S.convs.clear();
	S.seen.clear();
	S.search = null;
	S.openId = null;
	S.open = null;
	S.outgoing.clear();
	S.notified.clear();
	clear($('conv-list'));
	clear($('transcript'));
	show($('conv'), false);
	show($('conv-empty'), true);
}

async function logout() {
	try {
		await post('/api/logout', {});
	} catch {
		/* over either way */
	}
	stopApp();
	showLogin('You have logged out.');
}

/* --- the app's controls ------------------------------------------------ */

function wireApp() {
	for (const b of document.querySelectorAll('.view-btn'))
		b.addEventListener('click', () => setView(b.dataset.view,
		    true));
	$('channel-filter').addEventListener('change', (e) => {
		S.channel = e.target.value;
		reloadList();
	});
	let searchTimer = null;
	$('search-input').addEventListener('input', (e) => {
		clearTimeout(searchTimer);
		searchTimer = setTimeout(() => {
			S.q = e.target.value.trim();
			reloadList();
		}, 300);
	});
	$('search-form').addEventListener('submit', (e) => {
		e.preventDefault();
		clearTimeout(searchTimer);
		S.q = $('search-input').value.trim();
		reloadList();
	});
	$('list-more').addEventListener('click', () => loadView(true));
	$('logout-btn').addEventListener('click', logout);
	$('notify-btn').addEventListener('click', askNotify);
	window.addEventListener('hashchange', routeFromHash);
	for (const b of $('conv-actions').querySelectorAll('button'))
		b.addEventListener('click', () => act(b.dataset.action));
	wireComposer();
	wireDialogs();
	wireTranscript();
}

function setView(view, load) {
	if (!VIEWS[view])
		view = 'waiting';
	S.view = view;
	for (const b of document.querySelectorAll('.view-btn')) {
		if (b.dataset.view === view)
			b.setAttribute('aria-current', 'true');
		else
			b.removeAttribute('aria-current');
	}
	$('list-title').textContent = VIEWS[view].title;
	if (load)
		reloadList();
	else
		render();
}

function reloadList() {
	S.search = null;
	S.next = null;
	render();
	loadView(false);
}

function routeFromHash() {
	if (!S.started)
		return;
	const m = /^#c(\d+)$/.exec(location.hash);
	const id = m ? Number(m[1]) : null;
	if (id === S.openId)
		return;
	if (id === null)
		closeConversation();
	else
		openConversation(id);
}

/* --- loading ---------------------------------------------------------- */

function query(view, { channel = '', q = '', limit = LIST_LIMIT,
    offset = 0 } = {}) {
	const p = new URLSearchParams({ view, limit: String(limit) });
	if (channel)
		p.set('channel', channel);
	if (q)
		p.set('q', q);
	if (offset)
		p.set('offset', String(offset));
	return `/api/conversations?${p}`;
}

/* Everything again: after a (re)connect or a reset. */
function resync() {
	loadWaiting();
	loadView(false);
	if (S.openId !== null)
		loadConversation(S.openId);
}

/*
 * Merge a list answer into the cache.  With complete (the whole view, no
 * search), cached summaries the view matches but the answer lacks have
 * left the view: they are dropped unless something newer than the
 * request (an event) has touched them since.
 */
function mergeList(list, match, complete, asked) {
	const ids = new Set();

	for (const c of list)
		if (c && Number.isSafeInteger(c.id)) {
			ids.add(c.id);
			upsertConv(c, false);
		}
	if (complete) {
		for (const [id, c] of S.convs) {
			if (!ids.has(id) && match(c) &&
			    (S.seen.get(id) ?? 0) < asked) {
				S.convs.delete(id);
				if (id === S.openId)
					loadConversation(id);
			}
		}
	}
	return ids;
}

async function loadWaiting() {
	const asked = performance.now();
	try {
		const r = await get(query('waiting', { limit: WAITING_LIMIT }));
		mergeList(r.conversations ?? [], VIEWS.waiting.match,
		    r.next === null || r.next === undefined, asked);
		render();
	} catch (e) {
		listError(e);
	}
}

async function loadView(more) {
	const gen = more ? S.listGen : ++S.listGen;
	const asked = performance.now();
	const v = VIEWS[S.view];
	try {
		const r = await get(query(S.view, {
			channel: S.channel, q: S.q,
			offset: more && S.next ? S.next : 0
		}));
		if (gen !== S.listGen || !S.started)
			return;
		const list = r.conversations ?? [];
		const complete = !more && !S.q && (r.next === null ||
		    r.next === undefined);
		const match = S.channel ? (c) => v.match(c) &&
		    c.channel === S.channel : v.match;
		const ids = mergeList(list, match, complete, asked);
		if (S.q) {
			if (!more || S.search === null)
				S.search = new Set();
			for (const id of ids)
				S.search.add(id);
		}
		S.next = r.next ?? null;
		say($('list-error'), '');
		render();
	} catch (e) {
		if (gen === S.listGen)
			listError(e);
	}
}

function listError(e) {
	if (e instanceof ApiError && e.status !== 401)
		say($('list-error'), e.network ? 'Cannot reach kefu; ' +
		    'the list may be out of date.' : `The list could not ` +
		    `be loaded: ${e.message}`);
	else if (!(e instanceof ApiError))
		throw e;
}

async function loadCanned() {
	try {
		const r = await get('/api/canned');
		S.canned = Array.isArray(r.canned) ? r.canned : [];
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		S.canned = [];
	}
}

/* --- the cache ---------------------------------------------------------- */

function version(c) {
	return Math.max(c.updated_at ?? 0, c.last_message_at ?? 0);
}

/*
 * Put a summary into the cache unless the cached one is newer.  A
 * conversation that starts waiting is announced (live only).
 */
function upsertConv(c, live) {
	const old = S.convs.get(c.id);

	if (old && version(old) > version(c))
		return old;
	S.convs.set(c.id, c);
	S.seen.set(c.id, performance.now());
	if (live && c.status === 'pending' && (!old || old.status !==
	    'pending'))
		announce(c);
	scheduleRender();
	return c;
}

function applyEvent(f) {
	if (f.conversation && Number.isSafeInteger(f.conversation.id))
		upsertConv(f.conversation, true);
	const m = f.message;
	if (m && Number.isSafeInteger(m.id) && S.open &&
	    m.conversation_id === S.openId)
		upsertMessage(m);
}

/* --- drawing ------------------------------------------------------------ */

function scheduleRender() {
	if (S.renderQueued)
		return;
	S.renderQueued = true;
	setTimeout(() => {
		S.renderQueued = false;
		render();
	}, 0);
}

function render() {
	if (!S.started)
		return;
	renderCounts();
	renderList();
	if (S.open) {
		renderConvHead();
		/* The contact's list shows the open conversation's status. */
		const c = S.convs.get(S.openId);
		const st = c ? statusText(c) : null;
		if (S.open.drawnStatus !== st)
			renderContact();
	}
}

function waitingCount() {
	let n = 0;
	for (const c of S.convs.values())
		if (c.status === 'pending')
			n++;
	return n;
}

function renderCounts() {
	const n = waitingCount();
	const badge = $('waiting-count');
	badge.textContent = String(n);
	badge.classList.toggle('count--zero', n === 0);
	document.title = n > 0 ? `(${n}) ${TITLE}` : TITLE;
}

function visibleConvs() {
	const v = VIEWS[S.view];
	const out = [];
	for (const c of S.convs.values()) {
		if (!v.match(c))
			continue;
		if (S.channel && c.channel !== S.channel)
			continue;
		if (S.q && (S.search === null || !S.search.has(c.id)))
			continue;
		out.push(c);
	}
	return out.sort(v.order);
}

function renderList() {
	const ul = $('conv-list');
	const items = visibleConvs();
	const keep = new Map();

	for (const li of ul.children)
		keep.set(Number(li.dataset.id), li);
	items.forEach((c, i) => {
		const li = keep.get(c.id) ?? el('li', { 'data-id': c.id });
		keep.delete(c.id);
		fillItem(li, c);
		if (ul.children[i] !== li)
			ul.insertBefore(li, ul.children[i] ?? null);
	});
	for (const li of keep.values())
		li.remove();
	show($('list-empty'), items.length === 0);
	$('list-empty').textContent = S.q ? 'No conversation matches.' :
	    S.view === 'waiting' ? 'Nobody is waiting.' : 'Nothing here.';
	show($('list-more'), S.next !== null && S.next !== undefined);
}

function channelChip(ch) {
	return el('span', { class: ['chan', `chan--${safeClass(ch)}`] },
	    el('span', { class: 'chan-icon', 'aria-hidden': 'true' }),
	    channelLabel(ch));
}

function safeClass(s) {
	return String(s ?? 'other').replace(/[^a-z0-9_-]/gi, '') || 'other';
}

function fillItem(li, c) {
	const name = contactName(c.contact, c.id);
	const lm = c.last_message;
	const now = Date.now();
	let when;

	if (c.status === 'pending' && c.waiting_since)
		when = el('span', { class: 'ci-wait', title: 'Waiting since ' +
		    clock(c.waiting_since) }, since(c.waiting_since, now));
	else
		when = el('time', { class: 'ci-time',
		    datetime: iso(c.last_message_at ?? c.updated_at) },
		    clock(c.last_message_at ?? c.updated_at, now));
	const preview = lm && typeof lm.text === 'string' ? el('span',
	    { class: 'ci-preview' }, el('span', { class: 'ci-who' },
	    previewWho(lm.author) + ': '), lm.text) :
	    el('span', { class: 'ci-preview ci-preview--none' }, 'No messages');
	const a = el('a', {
		class: ['conv-item', `conv-item--${safeClass(c.status)}`,
		    c.escalated_at && c.status === 'pending' &&
		    'conv-item--escalated'],
		href: `#c${c.id}`,
		'aria-current': c.id === S.openId ? 'true' : null
	},
	    el('span', { class: 'ci-top' }, channelChip(c.channel),
		el('span', { class: 'ci-name' }, name), when),
	    c.status === 'pending' && c.handoff_reason ? el('span',
		{ class: 'ci-reason' }, reasonLabel(c.handoff_reason),
		c.escalated_at ? ' · escalated' : '') : null,
	    c.status === 'open' && c.assignee ? el('span',
		{ class: 'ci-assignee' }, `with ${agentName(c.assignee)}`) :
		null,
	    preview);
	/* Update the link in place: it may have the keyboard focus. */
	const old = li.firstElementChild;
	if (old && old.tagName === 'A') {
		old.className = a.className;
		old.setAttribute('href', a.getAttribute('href'));
		if (a.hasAttribute('aria-current'))
			old.setAttribute('aria-current', 'true');
		else
			old.removeAttribute('aria-current');
		replace(old, ...Array.from(a.childNodes));
	} else
		replace(li, a);
}

function previewWho(author) {
	return { customer: 'Customer', bot: 'Bot', agent: 'Agent',
	    note: 'Note', system: 'System' }[author] ?? 'Message';
}

/* --- one conversation --------------------------------------------------- */

function openConversation(id) {
	S.openId = id;
	S.open = { contact: null, messages: new Map(), nodes: new Map(),
	    loaded: false };
	clear($('transcript'));
	$('note-toggle').checked = false;
	S.couldReply = null;
	S.stick = true;
	for (const o of S.outgoing.values())
		if (o.convId === id)
			$('transcript').appendChild(o.node);
	show($('conv-empty'), false);
	show($('conv'), true);
	say($('conv-error'), '');
	say($('composer-error'), '');
	$('app').dataset.open = '1';
	renderConvHead();
	renderContact();
	render();
	loadConversation(id);
}

function closeConversation() {
	S.openId = null;
	S.open = null;
	clear($('transcript'));
	show($('conv'), false);
	show($('conv-empty'), true);
	delete $('app').dataset.open;
	render();
}

async function loadConversation(id) {
	const t = $('transcript');
	/* Screen readers: not every message of a whole transcript. */
	t.setAttribute('aria-busy', 'true');
	try {
		const r = await get(`/api/conversations/${id}`);
		if (S.openId !== id || !S.open)
			return;
		if (r.conversation)
			upsertConv(r.conversation, false);
		S.open.contact = r.contact ?? null;
		S.open.loaded = true;
		for (const m of r.messages ?? [])
			upsertMessage(m);
		renderConvHead();
		renderContact();
		if (S.stick)
			scrollToEnd();
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		if (S.openId === id && e.status !== 401)
			say($('conv-error'), e.status === 404 ?
			    'There is no such conversation.' :
			    'The conversation could not be loaded: ' +
			    e.message);
	} finally {
		t.removeAttribute('aria-busy');
	}
}

function canReplyTo(c) {
	return c && c.status === 'open' && c.assignee && S.me &&
	    c.assignee.id === S.me.id;
}

/* Which actions the conversation's state allows the agent. */
function allowed(c) {
	const admin = S.me?.role === 'admin';
	const mine = !!(c.assignee && S.me && c.assignee.id === S.me.id);
	const other = !!(c.assignee && !mine);
	const st = c.status;
	const done = st === 'resolved' || rating(c);
	return {
		claim: !done && (st === 'pending' || st === 'bot' ||
		    st === 'open') && !(st === 'open' && c.assignee),
		takeover: st === 'open' && other,
		assign: !done && (admin || !other),
		handback: (st === 'pending' || st === 'open') &&
		    (admin || mine),
		resolve: !done && (admin || mine),
		reopen: done
	};
}

function renderConvHead() {
	const c = S.convs.get(S.openId);
	if (!c) {
		$('conv-title').textContent = `Conversation #${S.openId}`;
		for (const b of $('conv-actions').querySelectorAll('button'))
			b.hidden = true;
		return;
	}
	$('conv-title').textContent = contactName(c.contact, c.id);
	const chip = $('conv-status');
	chip.textContent = statusText(c);
	chip.className = `status-chip status-chip--${rating(c) ?
	    'rating' : safeClass(c.status)}`;
	const sub = [channelLabel(c.channel)];
	if (c.status === 'pending') {
		if (c.handoff_reason)
			sub.push(reasonLabel(c.handoff_reason));
		if (c.waiting_since)
			sub.push(`waiting ${since(c.waiting_since)}`);
		if (c.escalated_at)
			sub.push('escalated');
	}
	if (c.assignee)
		sub.push(c.assignee.id === S.me?.id ? 'assigned to you' :
		    `assigned to ${agentName(c.assignee)}`);
	$('conv-sub').textContent = sub.join(' · ');
	const ok = allowed(c);
	for (const b of $('conv-actions').querySelectorAll('button'))
		b.hidden = !ok[b.dataset.action];
	renderComposerMode();
}

function renderContact() {
	const c = S.convs.get(S.openId);
	const k = S.open?.contact ?? c?.contact ?? {};
	$('contact-name').textContent = contactName(k, S.openId);
	$('contact-channel').textContent = channelLabel(k.channel ??
	    c?.channel);
	$('contact-identity').textContent = k.external_id ?? '—';
	$('contact-lang').textContent = c?.lang ?? '—';
	say($('contact-unreachable'), k.unreachable ?
	    `Cannot be reached: ${k.unreachable}` : '');
	if (S.open)
		S.open.drawnStatus = c ? statusText(c) : null;
	const hist = $('contact-history');
	clear(hist);
	const convs = Array.isArray(k.conversations) ? k.conversations : [];
	for (const h of convs) {
		/* The open one's status may have changed since loading. */
		const st = h.id === S.openId && c ? statusText(c) :
		    statusLabel(h.status);
		const label = `#${h.id} · ${st} · ${day(h.created_at)}`;
		const csat = Number.isFinite(h.csat) ? el('span',
		    { class: 'csat', title: 'Customer satisfaction' },
		    `CSAT ${h.csat}/5`) : null;
		hist.appendChild(el('li', {}, h.id === S.openId ?
		    el('span', { class: 'hist-current' }, label, ' (this)') :
		    el('a', { href: `#c${h.id}` }, label), csat ? ' ' : null,
		    csat));
	}
	if (convs.length === 0)
		hist.appendChild(el('li', { class: 'muted' },
		    S.open?.loaded ? 'None before.' : '…'));
	const orders = Array.isArray(k.orders) ? k.orders : [];
	show($('contact-orders-box'), orders.length > 0);
	const ol = clear($('contact-orders'));
	for (const o of orders) {
		if (!o || typeof o !== 'object')
			continue;
		const facts = ['status', 'carrier', 'tracking', 'eta', 'items',
		    'total'].filter((f) => o[f] !== null &&
		    o[f] !== undefined && o[f] !== '').map((f) => el('span',
		    { class: 'order-fact' }, `${f}: ${o[f]}`));
		ol.appendChild(el('li', {}, el('strong', {},
		    `#${o.order_id ?? o.id ?? '?'}`), ' ', facts));
	}
}

/* --- the transcript --------------------------------------------------- */

/* Add or update a message of the open conversation. */
function upsertMessage(m) {
	const open = S.open;
	const old = open.messages.get(m.id);

	if (old && (STATUS_RANK[old.status] ?? 0) >
	    (STATUS_RANK[m.status] ?? 0))
		m = { ...m, status: old.status,
		    status_reason: old.status_reason };
	open.messages.set(m.id, m);
	const node = messageNode(m);
	const prev = open.nodes.get(m.id);
	open.nodes.set(m.id, node);
	const t = $('transcript');
	if (prev) {
		prev.replaceWith(node);
		return;
	}
	/* In id order; local "sending" entries stay last. */
	let before = null;
	for (const li of t.children) {
		const id = Number(li.dataset.id);
		if (li.dataset.pending || id > m.id) {
			before = li;
			break;
		}
	}
	t.insertBefore(node, before);
	if (S.stick)
		scrollToEnd();
}

/*
 * The transcript sticks to its end (new messages scroll into view) until
 * the agent scrolls up, and again once they scroll back down.  Layout
 * changes (the header's buttons, the window) keep it where it sticks.
 */
function wireTranscript() {
	const t = $('transcript');
	t.addEventListener('scroll', () => {
		S.stick = t.scrollHeight - t.scrollTop - t.clientHeight < 40;
	}, { passive: true });
	if ('ResizeObserver' in window)
		new ResizeObserver(() => {
			if (S.stick)
				scrollToEnd();
		}).observe(t);
}

function scrollToEnd() {
	const t = $('transcript');
	t.scrollTop = t.scrollHeight;
	S.stick = true;
}

const AUTHOR_LABEL = { bot: 'Bot', system: 'System' };

function messageNode(m) {
	const author = ['customer', 'bot', 'agent', 'note', 'system']
	    .includes(m.author) ? m.author : 'system';
	const c = S.convs.get(m.conversation_id);
	let who;
	if (author === 'customer')
		who = contactName(c?.contact ?? S.open?.contact,
		    m.conversation_id);
	else if (author === 'agent')
		who = m.agent ? agentName(m.agent) : 'Agent';
	else if (author === 'note')
		who = 'Internal note';
	else
		who = AUTHOR_LABEL[author];
	const meta = el('div', { class: 'msg-meta' },
	    el('span', { class: 'msg-who' }, who),
	    author === 'note' && m.agent ? el('span', { class: 'msg-by' },
		`by ${agentName(m.agent)}`) : null,
	    el('time', { class: 'msg-time', datetime: iso(m.created_at),
		title: Number.isFinite(m.created_at) ?
		new Date(m.created_at).toLocaleString() : null },
		clock(m.created_at)));
	const bubble = el('div', { class: 'msg-text' }, m.text ?? '');
	if (m.value && m.value !== m.text)
		bubble.appendChild(el('span', { class: 'msg-value' },
		    ` (button: ${m.value})`));
	const extra = [];
	if (Array.isArray(m.attachments) && m.attachments.length)
		extra.push(attachmentsNode(m.attachments));
	if (Array.isArray(m.buttons) && m.buttons.length)
		extra.push(el('div', { class: 'msg-buttons',
		    'aria-label': 'Buttons offered' }, m.buttons.map((b) =>
		    el('span', { class: 'msg-button' }, b?.title ?? b?.value ??
		    ''))));
	if (author === 'customer')
		extra.push(understoodNode(m));
	if (author === 'agent' || ((author === 'bot' || author ===
	    'system') && (m.status === 'failed' || m.status === 'held')))
		extra.push(statusNode(m.status, m.status_reason));
	return el('li', { class: ['msg', `msg--${author}`],
	    'data-id': m.id },
	    meta, bubble, extra);
}

function attachmentsNode(list) {
	return el('ul', { class: 'msg-attachments' }, list.map((a) => {
		const name = a?.name || a?.type || 'attachment';
		let href = null;
		try {
			const u = new URL(a?.url, location.href);
			if (u.protocol === 'https:' || u.protocol === 'http:')
				href = u.href;
		} catch {
			href = null;
		}
		return el('li', {}, href ? el('a', { href, target: '_blank',
		    rel: 'noopener noreferrer' }, name) : name);
	}));
}

/* The intent and sentiment of a customer message, as tags. */
function understoodNode(m) {
	const tags = el('div', { class: 'msg-tags' });
	if (m.intent) {
		const pct = Number.isFinite(m.confidence) ?
		    ` ${Math.round(m.confidence * 100)}%` : '';
		tags.appendChild(el('span', { class: 'tag tag--intent',
		    title: 'Intent the bot understood' },
		    `intent: ${m.intent}${pct}`));
	}
	const w = sentimentWord(m.sentiment);
	if (w)
		tags.appendChild(el('span', { class: ['tag',
		    `tag--${w}`], title: 'Sentiment, from \u22121 to +1' },
		    Math.abs(m.sentiment) < 0.05 ? w :
		    `${w} ${signed(m.sentiment)}`));
	return tags;
}

const STATUS_TEXT = {
	queued: 'Queued',
	sent: 'Sent',
	held: 'Held',
	failed: 'Failed',
	sending: 'Sending…',
	retrying: 'Network trouble, retrying…'
};

function statusNode(status, reason) {
	let text = STATUS_TEXT[status] ?? (status ? String(status) : '');
	if (status === 'failed' || status === 'held')
		text += reason ? `: ${reason}` : '';
	return el('div', { class: ['msg-status',
	    `msg-status--${safeClass(status)}`] }, text);
}

/* --- actions -------------------------------------------------------------- */

async function act(action) {
	const id = S.openId;
	const c = S.convs.get(id);
	if (!c)
		return;
	say($('conv-error'), '');
	if (action === 'takeover') {
		confirmTakeover(c.assignee);
		return;
	}
	if (action === 'assign') {
		openAssign();
		return;
	}
	await doAction(id, action, action === 'claim' ? { force: false } :
	    {});
}

/* POST an action and apply the conversation it answers with. */
async function doAction(id, action, body) {
	const buttons = $('conv-actions').querySelectorAll('button');
	for (const b of buttons)
		b.disabled = true;
	try {
		const r = await post(`/api/conversations/${id}/${action}`,
		    body);
		if (r && r.conversation)
			upsertConv(r.conversation, false);
		render();
		if (action === 'claim' || action === 'reopen')
			$('composer-text').focus();
		return r;
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		if (e.status === 409 && e.code === 'conflict' &&
		    action === 'claim') {
			if (e.data.assignee && S.convs.has(id))
				upsertConv(c409(id, e.data.assignee), false);
			confirmTakeover(e.data.assignee);
		} else if (e.status !== 401)
			say($('conv-error'), actionError(action, e));
		/* Whatever happened, show the state as it is now. */
		if (S.openId === id)
			loadConversation(id);
		return null;
	} finally {
		for (const b of buttons)
			b.disabled = false;
	}
}

/* The cached summary with a new assignee learnt from a 409. */
function c409(id, assignee) {
	const c = S.convs.get(id);
	return { ...c, status: 'open', assignee };
}

function actionError(action, e) {
	const what = { claim: 'claim it', handback: 'hand it back',
	    resolve: 'resolve it', reopen: 'reopen it', assign: 'assign it',
	    reply: 'send the reply', note: 'add the note' }[action] ?? action;
	if (e.network)
		return `Could not ${what}: kefu cannot be reached.`;
	if (e.status === 403 && e.code === 'forbidden')
		return `You may not ${what}.`;
	return `Could not ${what}: ${e.message}`;
}

function wireDialogs() {
	$('takeover-dialog').addEventListener('close', () => {
		const d = $('takeover-dialog');
		if (d.returnValue === 'ok' && S.openId !== null)
			doAction(S.openId, 'claim', { force: true });
		d.returnValue = '';
	});
	$('assign-dialog').addEventListener('close', () => {
		const d = $('assign-dialog');
		const to = Number($('assign-select').value);
		if (d.returnValue === 'ok' && S.openId !== null &&
		    Number.isSafeInteger(to) && to > 0)
			doAction(S.openId, 'assign', { agent_id: to });
		d.returnValue = '';
	});
}

function confirmTakeover(holder) {
	const name = holder ? agentName(holder) : 'Another agent';
	$('takeover-text').textContent = `${name} has this conversation. ` +
	    'Take it over? It will be yours and no longer theirs.';
	$('takeover-dialog').showModal();
	$('takeover-confirm').focus();
}

async function openAssign() {
	const sel = $('assign-select');
	say($('assign-error'), '');
	replace(sel, el('option', { value: '' }, 'Loading…'));
	$('assign-confirm').disabled = true;
	$('assign-dialog').showModal();
	try {
		const r = await get('/api/agents');
		const c = S.convs.get(S.openId);
		const agents = (r.agents ?? []).filter((a) => !a.disabled);
		replace(sel, agents.map((a) => el('option', { value: a.id,
		    selected: c?.assignee?.id === a.id }, `${agentName(a)} ` +
		    `(${a.online ? 'online' : 'offline'}, ${a.open ?? 0}/` +
		    `${a.max_open ?? '?'} open)`)));
		$('assign-confirm').disabled = agents.length === 0;
		sel.focus();
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		replace(sel);
		say($('assign-error'), `Could not list agents: ${e.message}`);
	}
}

/* --- the composer ------------------------------------------------------ */

function renderComposerMode() {
	const c = S.convs.get(S.openId);
	const canReply = canReplyTo(c);
	const toggle = $('note-toggle');
	if (!canReply)
		toggle.checked = true;
	else if (S.couldReply === false)
		toggle.checked = false;	/* just claimed: reply */
	S.couldReply = canReply;
	toggle.disabled = !canReply;
	const note = toggle.checked;
	$('composer').classList.toggle('composer--note', note);
	const text = $('composer-text');
	text.setAttribute('aria-label', note ? 'Internal note (only ' +
	    'agents see it)' : 'Reply to the customer');
	text.placeholder = note ? 'Internal note — only agents see it' :
	    'Reply… (Enter sends, Shift+Enter new line, / for canned ' +
	    'replies)';
	$('composer-send').textContent = note ? 'Add note' : 'Send';
	$('composer-hint').textContent = canReply ? '' : c &&
	    c.status === 'open' && c.assignee ? `${agentName(c.assignee)} ` +
	    'is replying; you can add notes.' : 'Claim the conversation to ' +
	    'reply; notes are for agents only.';
}

function wireComposer() {
	const text = $('composer-text');
	$('note-toggle').addEventListener('change', () => {
		renderComposerMode();
		text.focus();
	});
	$('composer').addEventListener('submit', (e) => {
		e.preventDefault();
		send();
	});
	text.addEventListener('input', () => updateCanned());
	text.addEventListener('blur', () => setTimeout(() => {
		if (document.activeElement !== text)
			closeCanned();
	}, 150));
	text.addEventListener('keydown', (e) => {
		const open = !$('canned-picker').hidden;
		if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
			e.preventDefault();
			moveCanned(e.key === 'ArrowDown' ? 1 : -1);
			return;
		}
		if (open && e.key === 'Escape') {
			e.preventDefault();
			closeCanned();
			return;
		}
		if (open && (e.key === 'Tab' || e.key === 'Enter') &&
		    !e.shiftKey && S.cannedActive >= 0) {
			e.preventDefault();
			pickCanned(S.cannedActive);
			return;
		}
		/* Enter sends, unless an input method is composing. */
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing &&
		    e.keyCode !== 229) {
			e.preventDefault();
			send();
		}
	});
	$('canned-picker').addEventListener('mousedown', (e) => {
		e.preventDefault();	/* keep the focus in the text */
		const li = e.target.closest('li[data-index]');
		if (li)
			pickCanned(Number(li.dataset.index));
	});
}

function updateCanned() {
	const v = $('composer-text').value;
	const m = /^\/([A-Za-z0-9_-]*)$/.exec(v);
	if (!m || S.canned.length === 0) {
		closeCanned();
		return;
	}
	const pre = m[1].toLowerCase();
	S.cannedShown = S.canned.filter((k) => typeof k.shortcut ===
	    'string' && k.shortcut.toLowerCase().startsWith(pre))
	    .slice(0, CANNED_SHOWN);
	if (S.cannedShown.length === 0) {
		closeCanned();
		return;
	}
	S.cannedActive = 0;
	drawCanned();
}

function drawCanned() {
	const ul = $('canned-picker');
	replace(ul, S.cannedShown.map((k, i) => el('li', {
		id: `canned-${i}`, role: 'option', 'data-index': i,
		'aria-selected': i === S.cannedActive ? 'true' : 'false',
		class: ['canned-item', i === S.cannedActive && 'is-active']
	}, el('span', { class: 'canned-key' }, `/${k.shortcut}`),
	    el('span', { class: 'canned-text' }, k.text ?? ''))));
	ul.hidden = false;
	const t = $('composer-text');
	t.setAttribute('aria-expanded', 'true');
	t.setAttribute('aria-activedescendant', `canned-${S.cannedActive}`);
}

function moveCanned(d) {
	const n = S.cannedShown.length;
	S.cannedActive = (S.cannedActive + d + n) % n;
	drawCanned();
}

function closeCanned() {
	$('canned-picker').hidden = true;
	S.cannedActive = -1;
	const t = $('composer-text');
	t.setAttribute('aria-expanded', 'false');
	t.removeAttribute('aria-activedescendant');
}

function pickCanned(i) {
	const k = S.cannedShown[i];
	closeCanned();
	if (!k)
		return;
	const t = $('composer-text');
	t.value = k.text ?? `/${k.shortcut}`;
	t.focus();
	t.setSelectionRange(t.value.length, t.value.length);
}

/* Send the composer's text as a reply or a note. */
async function send() {
	const t = $('composer-text');
	const text = t.value.replace(/^\s+|\s+$/g, '');
	const id = S.openId;
	const c = S.convs.get(id);
	if (text === '' || id === null || !c)
		return;
	closeCanned();
	const note = $('note-toggle').checked || !canReplyTo(c);
	const clientId = uuid();
	const node = el('li', { class: ['msg', note ? 'msg--note' :
	    'msg--agent', 'msg--pending'], 'data-pending': clientId },
	    el('div', { class: 'msg-meta' }, el('span', { class: 'msg-who' },
	    note ? 'Internal note' : agentName(S.me))),
	    el('div', { class: 'msg-text' }, text), statusNode('sending'));
	const out = { convId: id, text, note, node };
	S.outgoing.set(clientId, out);
	$('transcript').appendChild(node);
	scrollToEnd();
	t.value = '';
	say($('composer-error'), '');
	const action = note ? 'note' : 'reply';
	try {
		const r = await postRetrying(`/api/conversations/${id}/` +
		    action, { text, client_id: clientId }, {
			onRetry: () => node.querySelector('.msg-status')
			    .replaceWith(statusNode('retrying'))
		});
		S.outgoing.delete(clientId);
		node.remove();
		if (r?.conversation)
			upsertConv(r.conversation, false);
		if (r?.message && S.open && S.openId === r.message
		    .conversation_id)
			upsertMessage(r.message);
	} catch (e) {
		S.outgoing.delete(clientId);
		node.remove();
		if (!(e instanceof ApiError))
			throw e;
		if (e.status === 401)
			return;
		if (S.openId === id) {
			if (t.value === '')
				t.value = text;
			say($('composer-error'), actionError(action, e));
			loadConversation(id);
		}
	}
}

/* --- live state and notifications -------------------------------------- */

function liveState(st) {
	const s = $('live-status');
	s.dataset.state = st;
	s.textContent = st === 'live' ? 'Live' : st === 'connecting' ?
	    'Connecting…' : 'Offline — reconnecting…';
}

function updateNotifyButton() {
	show($('notify-btn'), 'Notification' in window &&
	    Notification.permission === 'default');
}

async function askNotify() {
	try {
		await Notification.requestPermission();
	} catch {
		/* refused or unsupported */
	}
	updateNotifyButton();
}

/* A conversation started waiting: tell the agent if they look away. */
function announce(c) {
	const key = `${c.id}:${c.waiting_since ?? ''}`;
	if (S.notified.has(key))
		return;
	S.notified.add(key);
	if (!document.hidden || !('Notification' in window) ||
	    Notification.permission !== 'granted')
		return;
	const body = [contactName(c.contact, c.id), channelLabel(c.channel),
	    reasonLabel(c.handoff_reason)].filter(Boolean).join(' · ');
	try {
		const n = new Notification('A customer is waiting', {
			body, tag: `kefu-waiting-${c.id}`
		});
		n.onclick = () => {
			window.focus();
			location.hash = `#c${c.id}`;
			n.close();
		};
	} catch {
		/* some browsers allow notifications only from a worker */
	}
}

/* --- for tests and the console ------------------------------------------- */

window.KefuInbox = {
	state() {
		return {
			started: S.started,
			me: S.me ? S.me.name : null,
			view: S.view,
			live: S.live ? S.live.connected : false,
			lastEvent: S.live ? S.live.lastEvent : 0,
			resets: S.live ? S.live.resets : 0,
			waiting: waitingCount(),
			openId: S.openId,
			messages: S.open ? [...S.open.messages.keys()] : [],
			outgoing: S.outgoing.size
		};
	},
	dropLive() {
		S.live?.drop();
	}
};

boot();
