/*
 * api.js: the inbox's side of the JSON API (docs/api.md).
 *
 * One function, request(), does every call: JSON in and out, the session
 * cookie (same origin), and the CSRF token on every POST.  The token lives
 * in this module's memory only; it comes from POST /api/login and GET
 * /api/me.  A 401 anywhere but the login itself means the session is over:
 * the handler set with onUnauthorized() takes the page back to the login
 * view.  A 403 "csrf" usually means another tab logged in again (a new
 * session, a new token): the token is fetched again and the call retried
 * once.  Every POST sends a body, "{}" at least.
 */

let csrf = null;
let unauthorized = () => {};

/* An answer that was not 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
	constructor(status, data, headers) {
		super(data && typeof data.message === 'string' ? data.message :
		    status === 0 ? 'cannot reach kefu' : `HTTP ${status}`);
		this.status = status;
		this.code = data && typeof data.error === 'string' ?
		    data.error : status === 0 ? 'network' : 'http';
		this.data = data || {};
		this.headers = headers || null;
	}

	/* Whether the request may not have reached the server. */
	get network() {
		return this.status === 0;
	}
}

export function setCsrf(token) {
	csrf = typeof token === 'string' ? token : null;
}

export function onUnauthorized(fn) {
	unauthorized = fn;
}

/* One HTTP call; resolves with the parsed body (null for none). */
async function once(method, path, body) {
	const opts = {
		method,
		credentials: 'same-origin',
		cache: 'no-store',
		headers: { Accept: 'application/json' }
	};
	if (method !== 'GET') {
		opts.headers['Content-Type'] = 'application/json';
		if (csrf !== null)
			opts.headers['X-CSRF-Token'] = csrf;
		opts.body = JSON.stringify(body ?? {});
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch (e) {
		throw new ApiError(0, null, null);
	}
	let data = null;
	const text = await res.text().catch(() => '');
	if (text !== '') {
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
	}
	if (!res.ok)
		throw new ApiError(res.status, data, res.headers);
	return data;
}

/*
 * A call to the API.  A 401 (except for the login) calls the
 * unauthorized handler and rejects; a 403 csrf is retried once with a
 * fresh token.
 */
export async function request(method, path, body) {
	try {
		return await once(method, path, body);
	} catch (e) {
		if (!(e instanceof ApiError))
			throw e;
		if (e.status === 401 && path !== '/api/login') {
			unauthorized(e);
			throw e;
		}
		if (e.status === 403 && e.code === 'csrf' && method !== 'GET') {
			const me = await once('GET', '/api/me').catch((e2) => {
				if (e2.status === 401)
					unauthorized(e2);
				throw e2;
			});
			setCsrf(me && me.csrf);
			return once(method, path, body);
		}
		throw e;
	}
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);

/* A random UUID, even where crypto.randomUUID is missing (plain http). */
export function uuid() {
	if (window.crypto && typeof crypto.randomUUID === 'function' &&
	    window.isSecureContext)
		return crypto.randomUUID();
	const b = new Uint8Array(16);
	crypto.getRandomValues(b);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = Array.from(b, (x) => x.toString(16).padStart(2, '0'));
	return `${h.slice(0, 4).join('')}-${h.slice(4, 6).join('')}-` +
	    `${h.slice(6, 8).join('')}-${h.slice(8, 10).join('')}-` +
	    h.slice(10).join('');
}

/* Wait ms milliseconds. */
export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/*
 * POST, retried with back-off while the network (or a proxy in front of
 * kefu: 502-504) fails.  The body must make a retry harmless (a reply's
 * client_id).
 */
export async function postRetrying(path, body, { tries = 6,
    onRetry = () => {} } = {}) {
	for (let i = 0; ; i++) {
		try {
			return await post(path, body);
		} catch (e) {
			if (!(e instanceof ApiError) || !(e.network ||
			    e.status === 502 || e.status === 503 ||
			    e.status === 504) || i + 1 >= tries)
				throw e;
			onRetry(i + 1, e);
			await sleep(Math.min(8000, 500 * 2 ** i) *
			    (0.75 + Math.random() / 2));
		}
	}
}
