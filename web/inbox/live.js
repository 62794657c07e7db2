/*
 * live.js: the inbox's live feed, a WebSocket to /api/live (subprotocol
 * "kefu-inbox", docs/api.md).
 *
 * After every (re)connect the page says {"type":"hello","last_event":N}
 * with the highest event id it has applied; the server answers "ready"
 * (or "reset" when N is too old) and replays what came after N.  Events
 * are applied once: one whose id is not above the last is dropped.  A
 * dropped connection is retried with exponential back-off and jitter
 * (0.5 s doubling to 30 s, each delay between half and all of that), and
 * at once when the browser says it is online again.  A ping every 25 s
 * that gets no frame back within 10 s closes the socket, so a connection
 * that died silently is noticed.  An upgrade that fails before opening
 * may mean the session is over: checkAuth() asks the API, which takes the
 * page to the login view on a 401.
 */

const BACKOFF_MIN = 500;
const BACKOFF_MAX = 30000;
const PING_EVERY = 25000;
const PONG_WITHIN = 10000;
const STABLE_AFTER = 5000;	/* ms up before the back-off starts over */

export class Live {
	/*
	 * handlers: onReady(reconnected), onReset(), onEvent(frame),
	 * onState("connecting" | "live" | "offline"), checkAuth().
	 */
	constructor(url, handlers) {
		this.url = url;
		this.h = handlers;
		this.lastEvent = 0;
		this.ws = null;
		this.attempt = 0;
		this.timer = null;
		this.pingTimer = null;
		this.pongTimer = null;
		this.stopped = true;
		this.readyCount = 0;
		this.resets = 0;	/* "reset" answers, for tests */
		this.openedAt = 0;
		this.onOnline = () => {
			if (!this.stopped && this.ws === null) {
				clearTimeout(this.timer);
				this.connect();
			}
		};
	}

	start() {
		if (!this.stopped)
			return;
		this.stopped = false;
		window.addEventListener('online', this.onOnline);
		this.connect();
	}

	/* Close for good (logout, session over). */
	stop() {
		this.stopped = true;
		window.removeEventListener('online', this.onOnline);
		clearTimeout(this.timer);
		this.clearPing();
		if (this.ws !== null) {
			const ws = this.ws;
			this.ws = null;
			ws.onclose = ws.onmessage = ws.onerror = null;
			ws.onopen = null;
			ws.close(1000);
		}
		this.h.onState('offline');
	}

	/* Drop the connection as a network failure would (tests use it). */
	drop() {
		if (this.ws !== null)
			this.abandon(this.ws, 4000, 'dropped');
	}

	/*
	 * Give a socket up now: a close on a dead connection can take long
	 * to complete, so do not wait for its close event.
	 */
	abandon(ws, code, reason) {
		if (this.ws !== ws)
			return;
		const opened = this.isReady || ws.readyState === WebSocket.OPEN;
		ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
		try {
			ws.close(code, reason);
		} catch {
			/* closed already */
		}
		this.ws = null;
		this.isReady = false;
		this.clearPing();
		this.scheduleReconnect(opened);
	}

	get connected() {
		return this.ws !== null && this.isReady &&
		    this.ws.readyState === WebSocket.OPEN;
	}

	connect() {
		if (this.stopped)
			return;
		this.h.onState('connecting');
		this.isReady = false;
		let ws;
		try {
			ws = new WebSocket(this.url, 'kefu-inbox');
		} catch (e) {
			this.scheduleReconnect(false);
			return;
		}
		this.ws = ws;
		let opened = false;
		ws.onopen = () => {
			opened = true;
			this.openedAt = Date.now();
			ws.send(JSON.stringify({ type: 'hello',
			    last_event: this.lastEvent }));
			this.startPing();
		};
		ws.onmessage = (e) => {
			this.gotFrame();
			let f;
			try {
				f = JSON.parse(e.data);
			} catch {
				return;
			}
			if (f !== null && typeof f === 'object')
				this.frame(f);
		};
		ws.onerror = () => {
			/* a close event follows */
		};
		ws.onclose = () => {
			if (this.ws !== ws)
				return;
			this.ws = null;
			this.isReady = false;
			this.clearPing();
			this.scheduleReconnect(opened);
		};
	}

	frame(f) {
		switch (f.type) {
		case 'ready':
			if (this.lastEvent === 0 &&
			    Number.isSafeInteger(f.last_event))
				this.lastEvent = f.last_event;
			this.isReady = true;
			this.h.onState('live');
			this.h.onReady(this.readyCount++ > 0);
			break;
		case 'reset':
			this.resets++;
			this.lastEvent = Number.isSafeInteger(f.last_event) ?
			    f.last_event : 0;
			this.isReady = true;
			this.h.onState('live');
			this.readyCount++;
			this.h.onReset();
			break;
		case 'event':
			if (!Number.isSafeInteger(f.id) ||
			    f.id <= this.lastEvent)
				break;		/* seen already */
			this.lastEvent = f.id;
			this.h.onEvent(f);
			break;
		default:
			break;		/* pong, error, and anything newer */
		}
	}

	scheduleReconnect(opened) {
		if (this.stopped)
			return;
		this.h.onState('offline');
		if (opened && Date.now() - this.openedAt > STABLE_AFTER)
			this.attempt = 0;
		const base = Math.min(BACKOFF_MAX,
		    BACKOFF_MIN * 2 ** this.attempt);
		const delay = base / 2 + Math.random() * base / 2;
		this.attempt = Math.min(this.attempt + 1, 16);
		if (!opened)
			Promise.resolve(this.h.checkAuth()).catch(() => {});
		clearTimeout(this.timer);
		this.timer = setTimeout(() => this.connect(), delay);
	}

	startPing() {
		this.clearPing();
		this.pingTimer = setInterval(() => {
			if (this.ws === null ||
			    this.ws.readyState !== WebSocket.OPEN)
				return;
			this.ws.send('{"type":"ping"}');
			if (this.pongTimer === null) {
				const ws = this.ws;
				this.pongTimer = setTimeout(() => {
					this.pongTimer = null;
					this.abandon(ws, 4001, 'no pong');
				}, PONG_WITHIN);
			}
		}, PING_EVERY);
	}

	gotFrame() {
		clearTimeout(this.pongTimer);
		this.pongTimer = null;
	}

	clearPing() {
		clearInterval(this.pingTimer);
		clearTimeout(this.pongTimer);
		this.pingTimer = this.pongTimer = null;
	}
}
