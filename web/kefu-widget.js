/*
 * kefu-widget.js: the embeddable customer chat for kefu.
 *
 * Embed with one tag:
 *
 *	<script src="https://kefu.example.com/kefu-widget.js" async></script>
 *
 * Optional attributes: data-kefu-url (WebSocket URL; default: this script's
 * origin + /ws), data-lang ("en" or "zh-CN"; default: the page's or the
 * browser's language), data-kefu-name (the customer's display name),
 * data-kefu-user and data-kefu-sig (a shop user id and its signature,
 * hex(HMAC-SHA256(identity_secret, user)), computed by the shop's server).
 *
 * Design: one closure, no dependencies, no build step.  The protocol is in
 * docs/widget-protocol.md.  Everything the customer must not lose lives in
 * localStorage under one key per server URL: the visitor id, the highest
 * seq seen, and the transcript, including customer messages not yet acked
 * (status "pending"); those are re-sent with the same id after every
 * (re)connect until the server acks them.  A server message is shown once:
 * one whose seq is not above last_seq is dropped, and the transcript is
 * keyed by seq as well.  Message text only ever reaches the page through
 * textContent and text nodes, never through innerHTML.  Several tabs share
 * the stored state and merge it on the "storage" event.  The UI lives in a
 * shadow root under <div id="kefu-widget">, with kefu-widget.css loaded
 * into it, so the shop's styles and ours never meet.
 */
(function () {
	'use strict';

	if (window.KefuWidget && window.KefuWidget.version)
		return;		/* embedded twice */

	var VERSION = '1';
	var MAX_TEXT = 4096;		/* code points, per the protocol */
	var MAX_FRAME = 16384;		/* bytes: the least a server accepts */
	var MAX_HISTORY = 200;		/* stored transcript entries */
	var BACKOFF_MIN = 500;		/* ms */
	var BACKOFF_MAX = 30000;
	var PING_EVERY = 25000;
	var PONG_WITHIN = 10000;
	var RETRY_MIN = 2000;		/* after rate_limited / unavailable */

	var STRINGS = {
		en: {
			title: 'Customer service',
			open: 'Open chat',
			close: 'Close chat',
			panel: 'Chat with customer service',
			placeholder: 'Type a message\u2026',
			input: 'Message',
			send: 'Send',
			log: 'Conversation',
			you: 'You',
			bot: 'Assistant',
			agent: 'Agent',
			system: 'Notice',
			pending: 'Sending\u2026',
			sent: 'Sent',
			failed: 'Not sent',
			connecting: 'Connecting\u2026',
			online: 'Online',
			offline: 'Offline \u2014 reconnecting\u2026',
			quick: 'Quick replies',
			unread: function (n) {
				return n + (n === 1 ? ' new message' :
				    ' new messages');
			},
			empty: 'Hi! Ask us anything \u2014 orders, returns, ' +
			    'refunds. We reply right here.',
			err_rate_limited: 'You are sending messages quickly; ' +
			    'we will send yours in a moment.',
			err_unavailable: 'We could not save your message just ' +
			    'now; we will try again shortly.',
			err_bad_identity: 'We could not verify your account, ' +
			    'so you are chatting as a guest.',
			err_too_long: 'That message is too long (at most 4096 ' +
			    'characters).',
			err_rejected: 'Sorry, that message could not be sent.',
			err_generic: 'Something went wrong. Please try again.'
		},
		'zh-CN': {
			title: '\u5728\u7ebf\u5ba2\u670d',
			open: '\u6253\u5f00\u5ba2\u670d\u804a\u5929',
			close: '\u5173\u95ed\u804a\u5929',
			panel: '\u4e0e\u5ba2\u670d\u804a\u5929',
			placeholder: '\u8f93\u5165\u6d88\u606f\u2026',
			input: '\u6d88\u606f',
			send: '\u53d1\u9001',
			log: '\u5bf9\u8bdd\u8bb0\u5f55',
			you: '\u6211',
			bot: '\u667a\u80fd\u52a9\u624b',
			agent: '\u4eba\u5de5\u5ba2\u670d',
			system: '\u7cfb\u7edf\u901a\u77e5',
			pending: '\u53d1\u9001\u4e2d\u2026',
			sent: '\u5df2\u53d1\u9001',
			failed: '\u672a\u53d1\u9001',
			connecting: '\u8fde\u63a5\u4e2d\u2026',
			online: '\u5728\u7ebf',
			offline: '\u5df2\u65ad\u5f00\uff0c\u6b63\u5728\u91cd' +
			    '\u8fde\u2026',
			quick: '\u5feb\u6377\u56de\u590d',
			unread: function (n) {
				return n + ' \u6761\u65b0\u6d88\u606f';
			},
			empty: '\u60a8\u597d\uff01\u8ba2\u5355\u3001\u9000' +
			    '\u8d27\u3001\u9000\u6b3e\u7b49\u95ee\u9898\u90fd' +
			    '\u53ef\u4ee5\u5728\u8fd9\u91cc\u95ee\u6211\u4eec' +
			    '\u3002',
			err_rate_limited: '\u60a8\u53d1\u9001\u5f97\u6709\u70b9' +
			    '\u5feb\uff0c\u6d88\u606f\u5c06\u7a0d\u540e\u53d1' +
			    '\u51fa\u3002',
			err_unavailable: '\u6682\u65f6\u65e0\u6cd5\u4fdd\u5b58' +
			    '\u60a8\u7684\u6d88\u606f\uff0c\u7a0d\u540e\u5c06' +
			    '\u81ea\u52a8\u91cd\u8bd5\u3002',
			err_bad_identity: '\u65e0\u6cd5\u9a8c\u8bc1\u60a8\u7684' +
			    '\u8d26\u53f7\uff0c\u5c06\u4ee5\u8bbf\u5ba2\u8eab' +
			    '\u4efd\u7ee7\u7eed\u3002',
			err_too_long: '\u6d88\u606f\u592a\u957f\u4e86\uff08' +
			    '\u6700\u591a 4096 \u4e2a\u5b57\u7b26\uff09\u3002',
			err_rejected: '\u62b1\u6b49\uff0c\u8fd9\u6761\u6d88\u606f' +
			    '\u672a\u80fd\u53d1\u9001\u3002',
			err_generic: '\u51fa\u9519\u4e86\uff0c\u8bf7\u7a0d\u540e' +
			    '\u518d\u8bd5\u3002'
		}
	};

	/* --- configuration from the script tag ---------------------------- */

	var script = document.currentScript || (function () {
		var all = document.querySelectorAll('script[src]');
		for (var i = all.length - 1; i >= 0; i--) {
			if (/kefu-widget\.js(\?|#|$)/.test(all[i].src))
				return all[i];
		}
		return null;
	})();
	var base = script && script.src ? script.src : location.href;

	/* The WebSocket URL: data-kefu-url, else this script's origin + /ws. */
	function configUrl() {
		var attr = script && script.getAttribute('data-kefu-url');
		var u;

		try {
			u = new URL(attr || '/ws', base);
		} catch (e) {
			u = new URL('/ws', location.href);
		}
		if (u.protocol === 'http:')
			u.protocol = 'ws:';
		else if (u.protocol === 'https:')
			u.protocol = 'wss:';
		return u.href;
	}

	/* Map a language tag to one the widget speaks. */
	function pickLang(tag) {
		if (typeof tag !== 'string' || tag === '')
			return null;
		if (/^zh\b/i.test(tag))
			return 'zh-CN';
		if (/^en\b/i.test(tag))
			return 'en';
		return null;
	}

	var url = configUrl();
	var lang = pickLang(script && script.getAttribute('data-lang')) ||
	    pickLang(document.documentElement.getAttribute('lang')) ||
	    pickLang(navigator.language) || 'en';
	var customerName = script && script.getAttribute('data-kefu-name');
	var identity = null;
	if (script && script.getAttribute('data-kefu-user') &&
	    script.getAttribute('data-kefu-sig')) {
		identity = {
			user: script.getAttribute('data-kefu-user'),
			sig: script.getAttribute('data-kefu-sig')
		};
	}

	function t(key) {
		var s = STRINGS[lang] || STRINGS.en;
		return key in s ? s[key] : STRINGS.en[key];
	}

	/* --- small helpers ------------------------------------------------ */

	/* A random id of n characters from [A-Za-z0-9_-]. */
	function randomId(n) {
		var abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' +
		    '0123456789_-';
		var bytes = new Uint8Array(n);
		var out = '';

		if (window.crypto && window.crypto.getRandomValues)
			window.crypto.getRandomValues(bytes);
		else {
			for (var i = 0; i < n; i++)
				bytes[i] = Math.floor(Math.random() * 256);
		}
		for (var j = 0; j < n; j++)
			out += abc[bytes[j] & 63];
		return out;
	}

	function codePoints(s) {
		return Array.from(s).length;
	}

	/* The size in UTF-8 of the frame that would carry text and value. */
	function frameBytes(text, value) {
		var f = JSON.stringify({
			type: 'message', id: 'c' + randomId(29), text: text,
			value: value == null ? undefined : String(value)
		});
		return new TextEncoder().encode(f).length;
	}

	function el(tag, cls, text) {
		var e = document.createElement(tag);

		if (cls)
			e.className = cls;
		if (text != null)
			e.textContent = text;
		return e;
	}

	/* Append text to parent, turning http(s) URLs into links. */
	function appendText(parent, text) {
		var re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}\u3002\uff0c]/g;
		var last = 0, m;

		while ((m = re.exec(text)) !== null) {
			if (m.index > last) {
				parent.appendChild(document.createTextNode(
				    text.slice(last, m.index)));
			}
			var a = el('a', null, m[0]);
			a.href = m[0];
			a.target = '_blank';
			a.rel = 'noopener noreferrer';
			parent.appendChild(a);
			last = m.index + m[0].length;
		}
		if (last < text.length) {
			parent.appendChild(document.createTextNode(
			    text.slice(last)));
		}
	}

	/* --- stored state ------------------------------------------------- */

	/*
	 * A signed-in customer's conversation is stored apart from the
	 * guest's: they are different conversations on the server, with
	 * their own seqs, and a shared computer must not show one to the
	 * other.
	 */
	function keyFor(ident) {
		return 'kefu.v1:' + url + (ident ? '#u:' + ident.user : '');
	}

	var storeKey = keyFor(identity);
	var memoryStore = null;		/* when localStorage is unavailable */

	/*
	 * The state: visitor, last_seq, epoch (bumped when the server's seq
	 * went backwards, so old and new seqs do not collide), open, and
	 * history: entries {k:'c', id, text, value, status, t} written by the
	 * customer and {k:'s', seq, epoch, author, text, buttons, ts, t} from
	 * the server.  t is the local time the entry was added.
	 */
	function emptyState() {
		return {
			v: 1, visitor: 'v' + randomId(23), last_seq: 0,
			epoch: 0, open: false, history: []
		};
	}

	function readStored() {
		var raw = null;

		try {
			raw = window.localStorage.getItem(storeKey);
		} catch (e) {
			raw = memoryStore;
		}
		if (!raw)
			return null;
		try {
			var s = JSON.parse(raw);
			if (!s || s.v !== 1 || typeof s.visitor !== 'string' ||
			    !/^[A-Za-z0-9_-]{1,64}$/.test(s.visitor) ||
			    !Array.isArray(s.history))
				return null;
			if (typeof s.last_seq !== 'number' || s.last_seq < 0)
				s.last_seq = 0;
			if (typeof s.epoch !== 'number')
				s.epoch = 0;
			s.history = s.history.filter(function (h) {
				return h && (h.k === 'c' || h.k === 's') &&
				    typeof h.text === 'string';
			});
			return s;
		} catch (e) {
			return null;
		}
	}

	function trimHistory(h) {
		var drop = h.length - MAX_HISTORY;

		if (drop <= 0)
			return h;
		/* Never drop a message still waiting for its ack. */
		return h.filter(function (x) {
			if (drop > 0 && !(x.k === 'c' && x.status === 'pending')) {
				drop--;
				return false;
			}
			return true;
		});
	}

	function persist() {
		state.history = trimHistory(state.history);
		var raw = JSON.stringify(state);
		try {
			window.localStorage.setItem(storeKey, raw);
		} catch (e) {
			memoryStore = raw;
		}
	}

	function entryKey(h) {
		return h.k === 'c' ? 'c:' + h.id : 's:' + (h.epoch || 0) + ':' +
		    h.seq;
	}

	var STATUS_RANK = { pending: 0, failed: 1, sent: 2 };

	/* Merge another tab's stored state into ours. */
	function merge(other) {
		if (other.visitor !== state.visitor) {
			/* The other tab started over (forget()): follow it. */
			state = other;
			return;
		}
		var byKey = {};
		state.history.forEach(function (h) {
			byKey[entryKey(h)] = h;
		});
		other.history.forEach(function (h) {
			var k = entryKey(h), mine = byKey[k];
			if (!mine) {
				state.history.push(h);
				byKey[k] = h;
			} else if (h.k === 'c' && STATUS_RANK[h.status] >
			    STATUS_RANK[mine.status])
				mine.status = h.status;
		});
		state.history.sort(function (a, b) {
			return (a.t || 0) - (b.t || 0);
		});
		if (other.epoch > state.epoch) {
			state.epoch = other.epoch;
			state.last_seq = other.last_seq;
		} else if (other.epoch === state.epoch)
			state.last_seq = Math.max(state.last_seq, other.last_seq);
	}

	var state = readStored() || emptyState();

	/* --- connection --------------------------------------------------- */

	var ws = null;			/* the current socket */
	var ready = false;		/* "ready" received on ws */
	var connId = 0;			/* bumped on every "ready" */
	var conn = 'offline';		/* connecting, online, offline */
	var attempt = 0;		/* reconnect attempts since last ready */
	var reconnectTimer = null;
	var pingTimer = null;
	var pongTimer = null;
	var retryTimer = null;
	var retryDelay = RETRY_MIN;
	var wanted = false;		/* connect and stay connected */
	var sentOn = {};		/* message id -> connId it was sent on */
	var syncWaiters = [];
	var unread = 0;
	var lastError = null;

	function setConn(c) {
		conn = c;
		renderConn();
	}

	function sendFrame(obj) {
		if (!ws || ws.readyState !== 1)
			return false;
		try {
			ws.send(JSON.stringify(obj));
			return true;
		} catch (e) {
			return false;
		}
	}

	function connect() {
		wanted = true;
		if (ws || reconnectTimer)
			return;
		setConn('connecting');

		var sock;
		try {
			sock = new WebSocket(url);
		} catch (e) {
			scheduleReconnect();
			return;
		}
		ws = sock;
		ready = false;
		sock.onopen = function () {
			if (sock !== ws)
				return;
			var hello = {
				type: 'hello', visitor: state.visitor,
				last_seq: state.last_seq, lang: lang
			};
			if (customerName)
				hello.name = customerName;
			if (identity)
				hello.identity = identity;
			sendFrame(hello);
		};
		sock.onmessage = function (ev) {
			if (sock !== ws)
				return;
			if (typeof ev.data !== 'string')
				return;
			var f;
			try {
				f = JSON.parse(ev.data);
			} catch (e) {
				return;
			}
			if (f && typeof f === 'object')
				onFrame(f);
		};
		sock.onclose = function (ev) {
			if (sock !== ws)
				return;
			onClosed(ev.code);
		};
		sock.onerror = function () {
			/* A close event follows. */
		};
	}

	function stopTimers() {
		clearTimeout(pingTimer);
		clearTimeout(pongTimer);
		clearTimeout(retryTimer);
		pingTimer = pongTimer = retryTimer = null;
	}

	function onClosed(code) {
		var mine = connId;

		ws = null;
		ready = false;
		stopTimers();
		if (code === 1009) {
			/*
			 * Too large: the server could not read the frame, so
			 * it cannot name it.  Give up on the largest message
			 * sent on this connection rather than resend it
			 * forever.
			 */
			var worst = null;
			pendingEntries().forEach(function (h) {
				if (sentOn[h.id] === mine && (!worst ||
				    h.text.length > worst.text.length))
					worst = h;
			});
			if (worst) {
				worst.status = 'failed';
				persist();
				renderMessages();
				showNotice(t('err_too_long'));
			}
		}
		setConn('offline');
		if (wanted)
			scheduleReconnect();
	}

	/* Exponential back-off with jitter: 0.5 s doubling up to 30 s. */
	function scheduleReconnect() {
		var cap = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2,
		    attempt));
		var delay = cap / 2 + Math.random() * cap / 2;

		attempt++;
		clearTimeout(reconnectTimer);
		reconnectTimer = setTimeout(function () {
			reconnectTimer = null;
			connect();
		}, delay);
	}

	function reconnectNow() {
		if (!wanted || ws)
			return;
		clearTimeout(reconnectTimer);
		reconnectTimer = null;
		attempt = 0;
		connect();
	}

	function dropConnection() {
		var sock = ws;

		if (!sock)
			return;
		try {
			sock.close(1000);
		} catch (e) {
			/* nothing */
		}
		onClosed(1000);
	}

	function armPing() {
		clearTimeout(pingTimer);
		pingTimer = setTimeout(function () {
			if (!sendFrame({ type: 'ping' }))
				return;
			clearTimeout(pongTimer);
			pongTimer = setTimeout(dropConnection, PONG_WITHIN);
		}, PING_EVERY);
	}

	function onFrame(f) {
		/* Any frame proves the connection alive. */
		clearTimeout(pongTimer);
		pongTimer = null;
		if (ready)
			armPing();

		switch (f.type) {
		case 'ready':
			onReady(f);
			break;
		case 'message':
			onMessage(f);
			break;
		case 'ack':
			onAck(f);
			break;
		case 'error':
			onError(f);
			break;
		case 'pong':
			var w = syncWaiters;
			syncWaiters = [];
			w.forEach(function (fn) {
				fn();
			});
			break;
		default:
			break;	/* unknown frames are ignored */
		}
	}

	function onReady(f) {
		/* With an identity, "visitor" names the signed-in user. */
		if (!identity && typeof f.visitor === 'string' &&
		    /^[A-Za-z0-9_-]{1,64}$/.test(f.visitor))
			state.visitor = f.visitor;
		if (typeof f.seq === 'number' && f.seq < state.last_seq) {
			/*
			 * The server has fewer messages than we saw (its
			 * store was replaced): it replays from seq 1, which
			 * starts a new epoch here.
			 */
			state.epoch++;
			state.last_seq = 0;
		}
		persist();
		ready = true;
		connId++;
		attempt = 0;
		retryDelay = RETRY_MIN;
		setConn('online');
		armPing();
		flush();
		if (syncWaiters.length > 0)
			sendFrame({ type: 'ping' });
	}

	function validButtons(b) {
		if (!Array.isArray(b))
			return [];
		return b.filter(function (x) {
			return x && typeof x.title === 'string' &&
			    x.title !== '';
		}).map(function (x) {
			return {
				title: x.title,
				value: typeof x.value === 'string' ? x.value :
				    x.title
			};
		});
	}

	function onMessage(f) {
		if (typeof f.seq !== 'number' || f.seq <= state.last_seq)
			return;		/* seen already */
		state.last_seq = f.seq;
		var author = f.author === 'agent' || f.author === 'system' ?
		    f.author : 'bot';
		var entry = {
			k: 's', seq: f.seq, epoch: state.epoch, author: author,
			text: typeof f.text === 'string' ? f.text : '',
			buttons: validButtons(f.buttons),
			ts: typeof f.ts === 'number' ? f.ts : Date.now(),
			t: Date.now()
		};
		var dup = state.history.some(function (h) {
			return entryKey(h) === entryKey(entry);
		});
		if (!dup)
			state.history.push(entry);
		persist();
		if (!dup) {
			if (!isOpen())
				unread++;
			renderMessages();
			renderBadge();
		}
	}

	function findPending(id) {
		for (var i = 0; i < state.history.length; i++) {
			var h = state.history[i];
			if (h.k === 'c' && h.id === id)
				return h;
		}
		return null;
	}

	function onAck(f) {
		var h = typeof f.id === 'string' ? findPending(f.id) : null;

		if (!h || h.status === 'sent')
			return;
		h.status = 'sent';
		delete sentOn[h.id];
		persist();
		renderMessages();
	}

	function onError(f) {
		var code = typeof f.code === 'string' ? f.code : '';
		var h = typeof f.id === 'string' ? findPending(f.id) : null;

		lastError = { code: code, id: h ? h.id : null };
		switch (code) {
		case 'rate_limited':
		case 'unavailable':
			showNotice(t('err_' + code));
			if (!ready) {
				/* The hello itself failed: start over. */
				dropConnection();
				break;
			}
			/*
			 * Not processed: send it again later.  Without an
			 * id any unacked message may be the one; resending
			 * one that was stored only earns a duplicate ack.
			 */
			if (h)
				delete sentOn[h.id];
			else
				sentOn = {};
			clearTimeout(retryTimer);
			retryTimer = setTimeout(flush, retryDelay +
			    Math.random() * retryDelay / 2);
			retryDelay = Math.min(BACKOFF_MAX, retryDelay * 2);
			break;
		case 'bad_identity':
			showNotice(t('err_bad_identity'));
			becomeGuest();
			dropConnection();
			break;
		case 'not_ready':
			dropConnection();
			break;
		case 'too_large':
		case 'bad_request':
			if (h && h.status === 'pending') {
				h.status = 'failed';
				persist();
				renderMessages();
			}
			showNotice(t(code === 'too_large' ? 'err_too_long' :
			    'err_rejected'));
			break;
		default:
			/* Unknown: for a message, as unavailable; else log. */
			if (window.console && console.warn) {
				console.warn('kefu: server error', code,
				    f.message);
			}
			if (h) {
				delete sentOn[h.id];
				showNotice(t('err_generic'));
				clearTimeout(retryTimer);
				retryTimer = setTimeout(flush, retryDelay);
				retryDelay = Math.min(BACKOFF_MAX,
				    retryDelay * 2);
			}
			break;
		}
	}

	/*
	 * The signature was refused: carry on as a guest, taking along what
	 * the customer wrote and is not yet stored, so it is not lost.
	 */
	function becomeGuest() {
		var carry = pendingEntries();

		if (!identity)
			return;
		state.history = state.history.filter(function (h) {
			return carry.indexOf(h) === -1;
		});
		persist();
		identity = null;
		storeKey = keyFor(null);
		state = readStored() || emptyState();
		carry.forEach(function (h) {
			if (!findPending(h.id))
				state.history.push(h);
		});
		sentOn = {};
		persist();
		clearLog();
		renderMessages();
	}

	function pendingEntries() {
		return state.history.filter(function (h) {
			return h.k === 'c' && h.status === 'pending';
		});
	}

	/* Send every pending message not yet sent on this connection. */
	function flush() {
		if (!ready)
			return;
		pendingEntries().forEach(function (h) {
			if (sentOn[h.id] === connId)
				return;
			var f = { type: 'message', id: h.id, text: h.text };
			if (h.value != null)
				f.value = h.value;
			if (sendFrame(f))
				sentOn[h.id] = connId;
		});
	}

	/* Queue a customer message and send it if connected. */
	function submit(text, value) {
		text = typeof text === 'string' ? text.trim() : '';
		if (text === '' && value == null)
			return null;
		if (codePoints(text) > MAX_TEXT || frameBytes(text, value) >
		    MAX_FRAME) {
			showNotice(t('err_too_long'));
			return null;
		}
		var h = {
			k: 'c', id: 'c' + Date.now().toString(36) + randomId(10),
			text: text, status: 'pending', t: Date.now()
		};
		if (value != null)
			h.value = String(value);
		state.history.push(h);
		persist();
		renderMessages();
		wanted = true;
		if (ready)
			flush();
		else if (!ws)
			reconnectNow();	/* the customer is waiting */
		return h.id;
	}

	/* --- the user interface ------------------------------------------- */

	var ui = {};
	var nodes = {};			/* entry key -> element */
	var shadow = null;		/* the widget's shadow root */

	function isOpen() {
		return !!(ui.panel && !ui.panel.hidden);
	}

	function svgIcon(d) {
		var ns = 'http://www.w3.org/2000/svg';
		var svg = document.createElementNS(ns, 'svg');
		var path = document.createElementNS(ns, 'path');

		svg.setAttribute('viewBox', '0 0 24 24');
		svg.setAttribute('aria-hidden', 'true');
		svg.setAttribute('focusable', 'false');
		path.setAttribute('d', d);
		svg.appendChild(path);
		return svg;
	}

	var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4' +
	    'a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0' +
	    'a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z';
	var ICON_CLOSE = 'M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6' +
	    ' 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z';
	var ICON_SEND = 'M3 20.5 21 12 3 3.5v6.6L15 12 3 13.9z';

	function build() {
		var root = el('div', 'kefu-root');
		root.style.display = 'none';	/* until the CSS arrives */

		var launcher = el('button', 'kefu-launcher');
		launcher.type = 'button';
		launcher.setAttribute('aria-expanded', 'false');
		launcher.setAttribute('aria-controls', 'kefu-panel');
		launcher.appendChild(svgIcon(ICON_CHAT));
		var badge = el('span', 'kefu-badge');
		badge.hidden = true;
		launcher.appendChild(badge);

		var panel = el('section', 'kefu-panel');
		panel.id = 'kefu-panel';
		panel.setAttribute('role', 'dialog');
		panel.setAttribute('aria-modal', 'false');
		panel.setAttribute('aria-labelledby', 'kefu-title');
		panel.hidden = true;

		var header = el('header', 'kefu-header');
		var heading = el('div', 'kefu-heading');
		var title = el('h2', 'kefu-title');
		title.id = 'kefu-title';
		var connLine = el('p', 'kefu-conn');
		var dot = el('span', 'kefu-dot');
		dot.setAttribute('aria-hidden', 'true');
		var connText = el('span', 'kefu-conn-text');
		connLine.appendChild(dot);
		connLine.appendChild(connText);
		heading.appendChild(title);
		heading.appendChild(connLine);
		var closeBtn = el('button', 'kefu-close');
		closeBtn.type = 'button';
		closeBtn.appendChild(svgIcon(ICON_CLOSE));
		header.appendChild(heading);
		header.appendChild(closeBtn);

		var log = el('div', 'kefu-log');
		log.setAttribute('role', 'log');
		log.setAttribute('aria-live', 'polite');
		log.setAttribute('aria-relevant', 'additions');
		log.tabIndex = 0;
		var empty = el('p', 'kefu-empty');
		log.appendChild(empty);

		var notice = el('div', 'kefu-notice');
		notice.setAttribute('role', 'status');
		notice.hidden = true;

		var form = el('form', 'kefu-form');
		form.noValidate = true;
		var label = el('label', 'kefu-sr');
		label.htmlFor = 'kefu-input';
		var input = el('textarea', 'kefu-input');
		input.id = 'kefu-input';
		input.rows = 1;
		input.setAttribute('autocomplete', 'off');
		input.setAttribute('enterkeyhint', 'send');
		var sendBtn = el('button', 'kefu-send');
		sendBtn.type = 'submit';
		sendBtn.appendChild(svgIcon(ICON_SEND));
		form.appendChild(label);
		form.appendChild(input);
		form.appendChild(sendBtn);

		panel.appendChild(header);
		panel.appendChild(log);
		panel.appendChild(notice);
		panel.appendChild(form);
		root.appendChild(panel);
		root.appendChild(launcher);

		ui = {
			root: root, launcher: launcher, badge: badge,
			panel: panel, title: title, connText: connText,
			connLine: connLine, closeBtn: closeBtn, log: log,
			empty: empty, notice: notice, form: form,
			label: label, input: input, sendBtn: sendBtn
		};

		launcher.addEventListener('click', function () {
			if (isOpen())
				close();
			else
				open();
		});
		closeBtn.addEventListener('click', function () {
			close();
		});
		panel.addEventListener('keydown', function (e) {
			if (e.key === 'Escape') {
				e.preventDefault();
				close();
			}
		});
		form.addEventListener('submit', function (e) {
			e.preventDefault();
			sendInput();
		});
		input.addEventListener('keydown', function (e) {
			/* Enter sends; Shift+Enter breaks the line; an IME
			 * composing Chinese keeps its Enter. */
			if (e.key === 'Enter' && !e.shiftKey && !e.isComposing &&
			    e.keyCode !== 229) {
				e.preventDefault();
				sendInput();
			}
		});
		input.addEventListener('input', autoGrow);

		var css = el('link');
		css.rel = 'stylesheet';
		css.href = new URL('kefu-widget.css', base).href;
		var shown = false;
		var show = function () {
			if (shown)
				return;
			shown = true;
			root.style.display = '';
		};
		css.addEventListener('load', show);
		css.addEventListener('error', show);
		setTimeout(show, 3000);
		/*
		 * A shadow root keeps the shop's styles out of the widget
		 * and ours out of the shop; theming still works through
		 * the inherited --kefu-* custom properties.
		 */
		var host = el('div', 'kefu-host');
		host.id = 'kefu-widget';
		shadow = host.attachShadow ? host.attachShadow({
			mode: 'open'
		}) : null;
		if (shadow) {
			shadow.appendChild(css);
			shadow.appendChild(root);
		} else {
			(document.head || document.documentElement).
			    appendChild(css);
			host.appendChild(root);
		}
		document.body.appendChild(host);

		applyStrings();
		renderMessages();
		renderConn();
		renderBadge();
	}

	function autoGrow() {
		var i = ui.input;

		i.style.height = 'auto';
		i.style.height = Math.min(i.scrollHeight, 120) + 'px';
	}

	function sendInput() {
		var text = ui.input.value;

		if (text.trim() === '')
			return;
		if (submit(text, null) !== null) {
			ui.input.value = '';
			autoGrow();
		}
		ui.input.focus();
	}

	function applyStrings() {
		ui.root.setAttribute('lang', lang);
		ui.launcher.setAttribute('aria-label', t(isOpen() ? 'close' :
		    'open'));
		ui.launcher.title = t('open');
		ui.panel.setAttribute('aria-label', t('panel'));
		ui.title.textContent = t('title');
		ui.closeBtn.setAttribute('aria-label', t('close'));
		ui.closeBtn.title = t('close');
		ui.log.setAttribute('aria-label', t('log'));
		ui.empty.textContent = t('empty');
		ui.label.textContent = t('input');
		ui.input.placeholder = t('placeholder');
		ui.sendBtn.setAttribute('aria-label', t('send'));
		ui.sendBtn.title = t('send');
		/* Entries carry translated labels: rebuild them. */
		clearLog();
		renderMessages();
		renderConn();
		renderBadge();
	}

	function clearLog() {
		Object.keys(nodes).forEach(function (k) {
			nodes[k].remove();
		});
		nodes = {};
	}

	function renderConn() {
		if (!ui.connText)
			return;
		ui.connText.textContent = t(conn);
		ui.connLine.setAttribute('data-state', conn);
	}

	function renderBadge() {
		if (!ui.badge)
			return;
		ui.badge.hidden = unread === 0;
		ui.badge.textContent = unread > 9 ? '9+' : String(unread);
		ui.launcher.setAttribute('aria-label', (isOpen() ?
		    t('close') : t('open')) + (unread ? ' (' +
		    t('unread')(unread) + ')' : ''));
	}

	function formatTime(d) {
		try {
			return d.toLocaleTimeString(lang, {
				hour: '2-digit', minute: '2-digit'
			});
		} catch (e) {
			return d.toTimeString().slice(0, 5);
		}
	}

	function authorLabel(h) {
		return h.k === 'c' ? t('you') : t(h.author);
	}

	/* Build the element for one transcript entry. */
	function entryNode(h) {
		var who = h.k === 'c' ? 'customer' : h.author;
		var row = el('div', 'kefu-msg kefu-msg--' + who);

		row.setAttribute('data-key', entryKey(h));
		if (h.k === 's')
			row.setAttribute('data-seq', String(h.seq));
		else
			row.setAttribute('data-id', h.id);
		row.appendChild(el('span', 'kefu-sr', authorLabel(h) + ': '));
		if (h.k === 's' && h.author === 'agent') {
			row.appendChild(el('span', 'kefu-author', t('agent')));
		}
		var bubble = el('div', 'kefu-bubble');
		appendText(bubble, h.text);
		row.appendChild(bubble);

		var meta = el('div', 'kefu-meta');
		var when = new Date(h.k === 'c' ? h.t : h.ts);
		if (!isNaN(when.getTime())) {
			var time = el('time', null, formatTime(when));
			time.dateTime = when.toISOString();
			meta.appendChild(time);
		}
		if (h.k === 'c') {
			meta.appendChild(el('span', 'kefu-status'));
		}
		row.appendChild(meta);

		if (h.k === 's' && h.buttons && h.buttons.length) {
			var group = el('div', 'kefu-quick');
			group.setAttribute('role', 'group');
			group.setAttribute('aria-label', t('quick'));
			h.buttons.forEach(function (b) {
				var btn = el('button', 'kefu-quick-btn',
				    b.title);
				btn.type = 'button';
				btn.addEventListener('click', function () {
					if (btn.disabled)
						return;
					submit(b.title, b.value);
				});
				group.appendChild(btn);
			});
			row.appendChild(group);
		}
		return row;
	}

	function updateEntry(row, h) {
		if (h.k !== 'c')
			return;
		var st = row.querySelector('.kefu-status');
		if (row.getAttribute('data-status') !== h.status) {
			row.setAttribute('data-status', h.status);
			st.textContent = t(h.status);
		}
	}

	/* Bring the log in line with state.history, adding what is new. */
	function renderMessages() {
		if (!ui.log)
			return;
		var log = ui.log;
		var stick = log.scrollHeight - log.scrollTop -
		    log.clientHeight < 40;
		var seen = {};
		var prev = ui.empty;
		var lastServerWithButtons = null, lastCustomerAfter = false;

		state.history.forEach(function (h) {
			var k = entryKey(h);
			var row = nodes[k];
			seen[k] = true;
			if (!row) {
				row = entryNode(h);
				nodes[k] = row;
			}
			if (prev.nextSibling !== row)
				log.insertBefore(row, prev.nextSibling);
			updateEntry(row, h);
			prev = row;
			if (h.k === 's' && h.buttons && h.buttons.length) {
				lastServerWithButtons = row;
				lastCustomerAfter = false;
			} else if (h.k === 'c')
				lastCustomerAfter = true;
		});
		Object.keys(nodes).forEach(function (k) {
			if (!seen[k]) {
				nodes[k].remove();
				delete nodes[k];
			}
		});
		ui.empty.hidden = state.history.length > 0;

		/* Only the newest unanswered quick replies can be pressed. */
		var groups = log.querySelectorAll('.kefu-quick');
		Array.prototype.forEach.call(groups, function (g) {
			var live = g.parentNode === lastServerWithButtons &&
			    !lastCustomerAfter;
			g.hidden = !live;
			Array.prototype.forEach.call(g.children, function (b) {
				b.disabled = !live;
			});
		});
		if (stick)
			log.scrollTop = log.scrollHeight;
	}

	var noticeTimer = null;

	function showNotice(text) {
		if (!ui.notice)
			return;
		ui.notice.textContent = text;
		ui.notice.hidden = false;
		clearTimeout(noticeTimer);
		noticeTimer = setTimeout(function () {
			ui.notice.hidden = true;
			ui.notice.textContent = '';
		}, 8000);
	}

	function open() {
		if (!ui.panel)
			return;
		ui.panel.hidden = false;
		ui.root.classList.add('kefu-is-open');
		ui.launcher.setAttribute('aria-expanded', 'true');
		unread = 0;
		renderBadge();
		if (!state.open) {
			state.open = true;
			persist();
		}
		ui.log.scrollTop = ui.log.scrollHeight;
		ui.input.focus();
		wanted = true;
		if (!ws)
			reconnectNow();
	}

	function close() {
		if (!ui.panel)
			return;
		var hadFocus = ui.panel.contains((shadow || document).
		    activeElement);
		ui.panel.hidden = true;
		ui.root.classList.remove('kefu-is-open');
		ui.launcher.setAttribute('aria-expanded', 'false');
		renderBadge();
		if (state.open) {
			state.open = false;
			persist();
		}
		if (hadFocus)
			ui.launcher.focus();
	}

	/* --- start -------------------------------------------------------- */

	function start() {
		build();
		window.addEventListener('storage', function (e) {
			if (e.key !== storeKey || !e.newValue)
				return;
			var other = readStored();
			if (!other)
				return;
			var before = state.visitor;
			merge(other);
			if (state.visitor !== before)
				dropConnection();
			renderMessages();
			if (ready)
				flush();
		});
		window.addEventListener('online', reconnectNow);
		document.addEventListener('visibilitychange', function () {
			if (document.visibilityState === 'visible')
				reconnectNow();
		});
		/* A returning visitor with a conversation stays connected,
		 * so agents' replies arrive while the panel is closed. */
		if (state.open)
			open();
		else if (state.history.length > 0)
			connect();
	}

	window.KefuWidget = {
		version: VERSION,
		open: open,
		close: close,
		/* Send text as the customer; returns the message id. */
		send: function (text) {
			return submit(text, null);
		},
		/* Put text in the input box and open the panel. */
		compose: function (text) {
			open();
			ui.input.value = String(text == null ? '' : text);
			autoGrow();
			ui.input.focus();
		},
		setLang: function (l) {
			var p = pickLang(l);
			if (!p || p === lang)
				return;
			lang = p;
			if (ui.root)
				applyStrings();
		},
		/* Forget this visitor on this device: a new conversation. */
		forget: function () {
			wanted = false;
			dropConnection();
			clearTimeout(reconnectTimer);
			reconnectTimer = null;
			state = emptyState();
			sentOn = {};
			persist();
			renderMessages();
			if (isOpen())
				connect();
		},
		/* Resolves once the server has answered a ping, which it
		 * does after everything it sent before. */
		sync: function () {
			return new Promise(function (resolve) {
				syncWaiters.push(resolve);
				if (ready)
					sendFrame({ type: 'ping' });
				else
					connect();	/* onReady pings */
			});
		},
		/* A copy of the internal state, for tests and debugging. */
		state: function () {
			return JSON.parse(JSON.stringify({
				url: url, lang: lang, conn: conn, ready: ready,
				open: isOpen(), visitor: state.visitor,
				last_seq: state.last_seq, epoch: state.epoch,
				unread: unread, attempt: attempt,
				lastError: lastError, history: state.history,
				pending: pendingEntries().map(function (h) {
					return h.id;
				})
			}));
		}
	};

	if (document.body)
		start();
	else
		document.addEventListener('DOMContentLoaded', start);
})();
