/*
 * fake-telegram.mjs: a fake Telegram Bot API server for kefu's tests.
 *
 * It speaks the Bot API as https://core.telegram.org/bots/api documents
 * it: every request is {base}/bot{token}/{method} (GET or POST; the
 * parameters in the query string, a JSON body, a urlencoded form or a
 * multipart form, the last three overriding the first), method names are
 * case-insensitive, and every answer is {"ok":true,"result":...} or
 * {"ok":false,"error_code":N,"description":"..."} with "parameters"
 * ({retry_after}, {migrate_to_chat_id}) where Telegram sends them.  A
 * wrong token gets 401 Unauthorized, an unknown method 404 Not Found.
 *
 * State is what a bot can observe: a queue of updates (getUpdates with
 * offset confirmation and long polling, 409 while a webhook is set or when
 * a newer poll arrives), the webhook settings, and per chat the messages
 * the bot sent (message ids are per chat, shared with the incoming
 * messages the builders create, as Telegram does for private chats and
 * groups).  Chats can be blocked (403 on every send) or migrated to a
 * supergroup (400 with migrate_to_chat_id on every send).
 *
 * The test side: builders for realistic Update objects (text with mention
 * and command entities in UTF-16 offsets, edits, button presses on a
 * message the bot sent, my_chat_member, group migration), queue() for
 * getUpdates (an update of a type allowed_updates leaves out is not
 * created, as on Telegram; one queued earlier is still handed out),
 * pushWebhook() to POST an update to a webhook URL the way
 * Telegram does, a record of every request (method, parsed params,
 * arrival time, status, answer), failNext() to script failures of the
 * next N calls of a method (429, 500, 502 with an HTML body, 403, 400,
 * migration, a slow answer, a dropped connection), and an optional flood
 * check (Telegram's limits: one message a second per private chat, 20 a
 * minute per group, 30 a second per bot).  Every 429 the fake sends is
 * also enforced: a send to that chat before retry_after has passed is
 * recorded in violations (and answered 429 again), so a test can check
 * that the client honoured it.
 *
 * Nothing here sleeps for a fixed time: waiters are woken by requests.
 */

import { EventEmitter } from 'node:events';
import http from 'node:http';

export const TEST_TOKEN = '123456:TEST-token-abc';

const BODY_MAX = 60 * 1024 * 1024;
const TEXT_MAX = 4096;		/* UTF-16 code units after entity parsing */
const CAPTION_MAX = 1024;
const CALLBACK_DATA_MAX = 64;	/* bytes */

/* Update types delivered when allowed_updates is empty or was never set. */
const NOT_BY_DEFAULT = ['chat_member', 'message_reaction',
    'message_reaction_count'];

/* Parameters that travel JSON-serialized in query strings and forms. */
const JSON_PARAMS = ['reply_markup', 'allowed_updates', 'entities',
    'caption_entities', 'reply_parameters', 'link_preview_options',
    'media', 'results', 'commands', 'scope'];
/* Parameters that are integers. */
const INT_PARAMS = ['offset', 'limit', 'timeout', 'message_id',
    'max_connections', 'cache_time', 'reply_to_message_id',
    'message_thread_id', 'width', 'height', 'duration'];
const BOOL_PARAMS = ['drop_pending_updates', 'show_alert',
    'disable_notification', 'protect_content', 'disable_web_page_preview',
    'allow_sending_without_reply'];

export const DESCRIPTIONS = {
	401: 'Unauthorized',
	404: 'Not Found',
	500: 'Internal Server Error',
	blocked: 'Forbidden: bot was blocked by the user',
	migrated: 'Bad Request: group chat was upgraded to a supergroup chat',
	webhookActive: 'Conflict: can\'t use getUpdates method while ' +
	    'webhook is active; use deleteWebhook to delete the webhook first',
	terminated: 'Conflict: terminated by other getUpdates request; ' +
	    'make sure that only one bot instance is running',
	tooLong: 'Bad Request: message is too long',
	empty: 'Bad Request: message text is empty',
	buttonData: 'Bad Request: BUTTON_DATA_INVALID',
	chatIdEmpty: 'Bad Request: chat_id is empty',
	queryInvalid: 'Bad Request: query is too old and response timeout ' +
	    'expired or query ID is invalid'
};

const BAD_GATEWAY_HTML = '<html>\r\n<head><title>502 Bad Gateway</title>' +
    '</head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
    '<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n';

/* An error thrown by a method handler: becomes {"ok":false,...}. */
class ApiError extends Error {
	constructor(code, description, parameters) {
		super(description);
		this.code = code;
		this.parameters = parameters;
	}
}

function badRequest(what) {
	return new ApiError(400, `Bad Request: ${what}`);
}

/* The type of an Update: the name of its one field besides update_id. */
/*
 * Of the acknowledged text-message updates, those neither in the inbound
 * queue nor stored as a message (lost), with the queue's keys and the
 * stored ids; sql(query) returns rows of kefud's database.
 */
export function unstoredUpdates(sql, acked) {
	const queued = new Set(sql('SELECT key FROM inbound_queue')
	    .map((r) => r.key));
	const stored = new Set(sql('SELECT external_id FROM messages ' +
	    'WHERE direction = \'in\'').map((r) => r.external_id));
	const missing = acked.filter((u) => !queued.has(String(u.update_id)) &&
	    !stored.has(`${u.message.chat.id}:${u.message.message_id}`));
	return { missing, queued, stored };
}

export function updateType(u) {
	return Object.keys(u).find((k) => k !== 'update_id') ?? null;
}

/* A chat's type from its id, as Telegram numbers them. */
export function chatTypeOf(id) {
	if (typeof id === 'string')
		return 'channel';
	if (id > 0)
		return 'private';
	return id <= -1000000000000 ? 'supergroup' : 'group';
}

/* Length of a string in UTF-16 code units (what Telegram counts). */
export function utf16Length(s) {
	return s.length;
}

/* Read a request body up to BODY_MAX bytes. */
function readBody(req) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		let n = 0;
		req.on('data', (c) => {
			n += c.length;
			if (n > BODY_MAX) {
				reject(new ApiError(413, 'Request Entity ' +
				    'Too Large'));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(chunks)));
		req.on('error', reject);
	});
}

/* The text Telegram sees after parsing entities in a parse_mode. */
function parsedText(text, mode) {
	if (mode === undefined || mode === null || mode === '')
		return text;
	if (mode === 'HTML') {
		const tags = new RegExp('^(b|strong|i|em|u|ins|s|strike|del|' +
		    'span|tg-spoiler|a|code|pre|blockquote|tg-emoji)$');
		const re = /<\/?([a-zA-Z-]*)[^>]*>/g;
		let m;
		while ((m = re.exec(text)) !== null) {
			if (!tags.test(m[1].toLowerCase())) {
				throw badRequest('can\'t parse entities: ' +
				    `Unsupported start tag "${m[1]}" at byte ` +
				    `offset ${Buffer.byteLength(text.slice(0,
				    m.index))}`);
			}
		}
		const stripped = text.replace(re, '');
		if (/<|>/.test(stripped)) {
			throw badRequest('can\'t parse entities: ' +
			    'Unexpected end of name token');
		}
		return stripped.replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/gi,
		    'x');
	}
	if (mode === 'MarkdownV2') {
		/* Characters that can never start an entity must be escaped. */
		const reserved = '.!-=+#{}|';
		let inCode = false;
		let out = '';
		for (let i = 0; i < text.length; i++) {
			const c = text[i];
			if (c === '\\' && i + 1 < text.length) {
				out += text[++i];
				continue;
			}
			if (c === '`') {
				inCode = !inCode;
				continue;
			}
			if (!inCode && reserved.includes(c)) {
				throw badRequest('can\'t parse entities: ' +
				    `Character '${c}' is reserved and must be ` +
				    'escaped with the preceding \'\\\'');
			}
			if (!inCode && '*_~|'.includes(c))
				continue;
			out += c;
		}
		return out;
	}
	if (mode === 'Markdown')
		return text.replace(/[*_`[\]]/g, '');
	throw badRequest('unsupported parse_mode');
}

/* Check an inline keyboard, as Telegram does before sending. */
function checkReplyMarkup(rm) {
	if (rm === undefined || rm === null)
		return;
	if (typeof rm !== 'object' || Array.isArray(rm))
		throw badRequest('can\'t parse reply keyboard markup JSON object');
	if (rm.inline_keyboard === undefined)
		return;		/* a reply keyboard, remove or force_reply */
	const kb = rm.inline_keyboard;
	if (!Array.isArray(kb) || !kb.every((row) => Array.isArray(row))) {
		throw badRequest('can\'t parse inline keyboard button: ' +
		    'field "inline_keyboard" must be an Array of Arrays');
	}
	for (const row of kb) {
		for (const b of row) {
			if (b === null || typeof b !== 'object' ||
			    typeof b.text !== 'string') {
				throw badRequest('can\'t parse inline ' +
				    'keyboard button: Field "text" must be of ' +
				    'type String');
			}
			if (b.text.trim() === '')
				throw badRequest('BUTTON_TEXT_INVALID');
			const actions = ['url', 'callback_data', 'web_app',
			    'login_url', 'switch_inline_query',
			    'switch_inline_query_current_chat',
			    'switch_inline_query_chosen_chat', 'copy_text',
			    'callback_game', 'pay'].filter((k) => k in b);
			if (actions.length === 0) {
				throw badRequest('can\'t parse inline ' +
				    'keyboard button: Text buttons are ' +
				    'unallowed in the inline keyboard');
			}
			if ('callback_data' in b) {
				const d = b.callback_data;
				const n = typeof d === 'string' ?
				    Buffer.byteLength(d) : -1;
				if (n < 1 || n > CALLBACK_DATA_MAX)
					throw new ApiError(400,
					    DESCRIPTIONS.buttonData);
			}
		}
	}
}

/* Entities Telegram would find in a text: commands and @mentions. */
function findEntities(text) {
	const ents = [];
	const re = new RegExp('(^|\\s)(/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?|' +
	    '@[A-Za-z0-9_]{5,32})', 'g');
	let m;
	while ((m = re.exec(text)) !== null) {
		const start = m.index + m[1].length;
		ents.push({
			type: m[2][0] === '/' ? 'bot_command' : 'mention',
			offset: start,		/* JS indexes are UTF-16 */
			length: m[2].length
		});
	}
	return ents;
}

/* Convert query/form strings into the types the API takes. */
function normalizeParams(p, fromStrings) {
	const out = { ...p };
	for (const k of JSON_PARAMS) {
		if (typeof out[k] === 'string') {
			try {
				out[k] = JSON.parse(out[k]);
			} catch {
				/* left as is: the method reports it */
			}
		}
	}
	for (const k of INT_PARAMS) {
		if (typeof out[k] === 'string' && /^-?\d+$/.test(out[k]))
			out[k] = Number(out[k]);
	}
	if (typeof out.chat_id === 'string' && /^-?\d+$/.test(out.chat_id))
		out.chat_id = Number(out.chat_id);
	if (fromStrings) {
		for (const k of BOOL_PARAMS) {
			if (typeof out[k] === 'string')
				out[k] = out[k] === 'true' || out[k] === '1';
		}
	}
	return out;
}

/* An incoming request's parameters: query string, then the body's. */
async function parseParams(req, url, body) {
	const params = {};
	let fromStrings = false;
	for (const [k, v] of url.searchParams) {
		params[k] = v;
		fromStrings = true;
	}
	const ct = (req.headers['content-type'] ?? '').toLowerCase();
	if (body.length === 0)
		return normalizeParams(params, fromStrings);
	if (ct.startsWith('application/json')) {
		let o;
		try {
			o = JSON.parse(body.toString('utf8'));
		} catch {
			throw badRequest('can\'t parse JSON encoded request ' +
			    'body');
		}
		if (o === null || typeof o !== 'object' || Array.isArray(o))
			throw badRequest('JSON request body must be an object');
		Object.assign(params, o);
	} else if (ct.startsWith('application/x-www-form-urlencoded')) {
		for (const [k, v] of new URLSearchParams(body.toString('utf8')))
			params[k] = v;
		fromStrings = true;
	} else if (ct.startsWith('multipart/form-data')) {
		let fd;
		try {
			fd = await new Response(body, { headers: {
			    'content-type': req.headers['content-type'] } })
			    .formData();
		} catch {
			throw badRequest('can\'t parse multipart/form-data');
		}
		for (const [k, v] of fd) {
			params[k] = typeof v === 'string' ? v : {
				upload: true, filename: v.name, type: v.type,
				size: v.size
			};
		}
		fromStrings = true;
	}
	return normalizeParams(params, fromStrings);
}

export class FakeTelegram extends EventEmitter {
	/*
	 * opts: token; bot {id, first_name, username}; floodCheck (true or
	 * {chatIntervalMs: 1000, groupPerMinute: 20, perSecond: 30,
	 * slackMs: 100}); firstUpdateId.
	 */
	constructor(opts = {}) {
		super();
		this.token = opts.token ?? TEST_TOKEN;
		const botId = Number(this.token.split(':')[0]);
		this.bot = {
			id: Number.isFinite(botId) ? botId : 123456,
			is_bot: true,
			first_name: 'Kefu Test Shop',
			username: 'kefu_test_shop_bot',
			...(opts.bot ?? {})
		};
		this.flood = null;
		if (opts.floodCheck) {
			/*
			 * slackMs: arrival times jitter (a new connection, a
			 * busy loop on either side), and Telegram tolerates
			 * short bursts; 100 ms still catches a client that
			 * ignores the limit.
			 */
			this.flood = { chatIntervalMs: 1000, groupPerMinute: 20,
			    perSecond: 30, slackMs: 100,
			    ...(opts.floodCheck === true ? {} :
			    opts.floodCheck) };
		}
		this.requests = [];	/* every request, in arrival order */
		this.updates = [];	/* queued, not yet confirmed */
		this.nextUpdateId = opts.firstUpdateId ?? 700000001;
		this.allowedUpdates = null;	/* null: the default set */
		this.webhook = { url: '', secret_token: null,
		    allowed_updates: null, max_connections: 40 };
		this.chats = new Map();
		this.failures = [];
		this.callbacks = new Map();	/* id -> {answered} */
		this.violations = [];	/* sends before a retry_after ran out */
		this.floodHits = [];	/* 429s sent by the flood check */
		this.webhookPushes = [];
		this.dropped = [];	/* queued updates of a type not allowed */
		this.poll = null;	/* the pending long poll */
		this.wakeScheduled = false;
		this.recentSends = [];	/* times, for the per-bot limit */
		this.callbackSeq = 0;
		this.server = null;
		this.sockets = new Set();
		this.closed = false;
	}

	/* --- life -------------------------------------------------------- */

	/* Listen on a free port of 127.0.0.1; resolves with this. */
	start() {
		this.server = http.createServer((req, res) => {
			this.handle(req, res).catch((e) => {
				if (!res.headersSent && !res.destroyed) {
					res.writeHead(500);
					res.end(String(e));
				}
			});
		});
		this.server.keepAliveTimeout = 60000;
		this.server.on('connection', (s) => {
			this.sockets.add(s);
			s.on('close', () => this.sockets.delete(s));
		});
		return new Promise((resolve, reject) => {
			this.server.once('error', reject);
			this.server.listen(0, '127.0.0.1', () => resolve(this));
		});
	}

	get port() {
		return this.server.address().port;
	}

	/* The api_base to configure: http://127.0.0.1:PORT */
	get url() {
		return `http://127.0.0.1:${this.port}`;
	}

	/*
	 * A kefud channels.telegram entry for this fake: name "shop", its
	 * token and URL, poll mode with a 1 s poll; fields override.
	 */
	botConfig(fields = {}) {
		return { name: 'shop', token: this.token, api_base: this.url,
		    mode: 'poll', poll_timeout: 1, ...fields };
	}

	/* A webhook bot "shop" with this secret, quick to answer. */
	webhookBotConfig(secret, fields = {}) {
		return this.botConfig({ mode: 'webhook', webhook_secret: secret,
		    chat_interval: 10, rate_per_sec: 1000,
		    webhook_url: 'https://example.test/telegram/shop',
		    ...fields });
	}

	/* The URL of a method, for tests that call the fake themselves. */
	methodUrl(method, token = this.token) {
		return `${this.url}/bot${token}/${method}`;
	}

	async close() {
		if (this.closed)
			return;
		this.closed = true;
		if (this.poll !== null) {
			clearTimeout(this.poll.timer);
			this.poll = null;
		}
		for (const s of this.sockets)
			s.destroy();
		await new Promise((r) => this.server.close(r));
	}

	/* --- the test's side ----------------------------------------------- */

	/* The state kept for a chat id. */
	chat(id) {
		const key = String(id);
		let c = this.chats.get(key);
		if (c === undefined) {
			c = {
				id,
				info: { id, type: chatTypeOf(id) },
				nextMessageId: 1,
				sent: [],	/* messages the bot sent, accepted */
				lastSendAt: 0,
				sendTimes: [],
				blocked: false,
				migratedTo: null,
				retryUntil: 0
			};
			this.chats.set(key, c);
		}
		return c;
	}

	/* Messages the bot sent to a chat (accepted ones), oldest first. */
	sentTo(chatId) {
		return this.chats.get(String(chatId))?.sent ?? [];
	}

	/* Every accepted message the bot sent, to any chat. */
	allSent() {
		return [...this.chats.values()].flatMap((c) => c.sent)
		    .sort((a, b) => a.time - b.time);
	}

	/* Requests for a method (case-insensitive), optionally filtered. */
	calls(method, pred = () => true) {
		const m = method.toLowerCase();
		return this.requests.filter((r) => r.method !== null &&
		    r.method.toLowerCase() === m && pred(r));
	}

	/*
	 * Wait for a request (or, with {done: true}, its answer) matching
	 * pred; from: only requests with index >= from.  Resolves with it.
	 */
	waitForRequest(pred, { timeout = 5000, from = 0, done = false,
	    what } = {}) {
		const test = (r) => (!done || r.status !== null) && pred(r);
		return new Promise((resolve, reject) => {
			const check = () => {
				for (let i = from; i < this.requests.length;
				    i++) {
					if (test(this.requests[i])) {
						finish();
						resolve(this.requests[i]);
						return;
					}
				}
			};
			const timer = setTimeout(() => {
				finish();
				reject(new Error(`fake Telegram: timed out ` +
				    `after ${timeout} ms waiting for ` +
				    `${what ?? 'a request'}; requests: ` +
				    this.describe()));
			}, timeout);
			const finish = () => {
				clearTimeout(timer);
				this.off('request', check);
				this.off('response', check);
			};
			this.on('request', check);
			this.on('response', check);
			check();
		});
	}

	/* Wait until a chat has received n accepted messages. */
	waitForSent(chatId, n = 1, opts = {}) {
		if (this.sentTo(chatId).length >= n)
			return Promise.resolve(this.sentTo(chatId));
		return this.waitForRequest(() => this.sentTo(chatId).length >= n,
		    { done: true, what: `${n} message(s) to chat ${chatId}`,
		    ...opts }).then(() => this.sentTo(chatId));
	}

	/* A short summary of the requests so far, for failure messages. */
	describe(last = 30) {
		return this.requests.slice(-last).map((r) => `${r.method}` +
		    `${r.params?.chat_id !== undefined ?
		    `(${r.params.chat_id})` : ''}=${r.status}`).join(' ');
	}

	/*
	 * Script a failure for the next n calls of a method whose params
	 * match (a function or an object compared field by field).  spec:
	 * {code: 429, retryAfter: 2} | {code: 500} | {code: 502} (an nginx
	 * HTML page) | {code: 403, description?} | {code: 400, description}
	 * | {code: 400, migrateTo: id} | {delayMs: D} (then answer normally,
	 * or with the error given too) | {network: true} (drop the
	 * connection) | {status, body, contentType} (anything).  Returns the
	 * script, whose .remaining counts down.
	 */
	failNext(method, n, spec, match = null) {
		const f = { method: method.toLowerCase(), remaining: n, spec,
		    match, hits: [] };
		this.failures.push(f);
		return f;
	}

	/* Drop every scripted failure not yet used. */
	clearFailures() {
		this.failures = [];
	}

	/* Every send to the chat fails with 403 (the user blocked the bot). */
	blockChat(id, blocked = true) {
		this.chat(id).blocked = blocked;
	}

	/* The group became a supergroup: sends to it fail with 400. */
	migrateChat(oldId, newId) {
		this.chat(oldId).migratedTo = newId;
		this.chat(newId).info = { id: newId, type: 'supergroup',
		    title: this.chat(oldId).info.title ?? 'Group' };
	}

	/* --- building updates ---------------------------------------------- */

	/* A User object. */
	user(id, fields = {}) {
		return { id, is_bot: false, first_name: `User${id}`,
		    language_code: 'en', ...fields };
	}

	/*
	 * A Message from a user in a chat (a private chat with that user
	 * unless chat is given): {from, chat, text, entities, date, ...}.
	 * from may be a user id.  Allocates the chat's next message_id.
	 */
	message({ from, chat, text, ...rest } = {}) {
		const user = typeof from === 'object' ? from : this.user(from);
		let chatObj;
		if (chat === undefined || chat === null) {
			chatObj = { id: user.id, type: 'private',
			    first_name: user.first_name };
			if (user.last_name)
				chatObj.last_name = user.last_name;
			if (user.username)
				chatObj.username = user.username;
		} else if (typeof chat === 'object')
			chatObj = chat;
		else {
			chatObj = { id: chat, type: chatTypeOf(chat) };
			if (chatObj.type !== 'private')
				chatObj.title = 'Test group';
		}
		const c = this.chat(chatObj.id);
		c.info = { ...c.info, ...chatObj };
		const msg = {
			message_id: c.nextMessageId++,
			from: user,
			chat: chatObj,
			date: Math.floor(Date.now() / 1000)
		};
		if (text !== undefined) {
			msg.text = text;
			const ents = findEntities(text);
			if (ents.length > 0)
				msg.entities = ents;
		}
		return { ...msg, ...rest };
	}

	/* An Update with a text message (see message()). */
	textUpdate(opts) {
		return { message: this.message(opts) };
	}

	/* A group message mentioning the bot by @username. */
	mentionUpdate({ from, chat, text = 'hi' }) {
		return this.textUpdate({ from, chat,
		    text: `@${this.bot.username} ${text}` });
	}

	/* A group message replying to a message the bot sent. */
	replyUpdate({ from, chat, text, to }) {
		return this.textUpdate({ from, chat, text,
		    reply_to_message: plainMessage(to) });
	}

	/* An edited_message update: the message with new text. */
	editUpdate(original, text, editDate = Math.floor(Date.now() / 1000)) {
		const m = { ...original, text, edit_date: editDate };
		delete m.entities;
		const ents = findEntities(text);
		if (ents.length > 0)
			m.entities = ents;
		return { edited_message: m };
	}

	/*
	 * A callback_query update: the user pressed the button with this
	 * callback_data on a message the bot sent (message: the accepted
	 * Message, as sentTo() returns it).  The id is registered so that
	 * answerCallbackQuery accepts it.
	 */
	callbackUpdate({ from, message, data }) {
		const user = typeof from === 'object' ? from : this.user(from);
		const id = `${BigInt(user.id) * 1000n + BigInt(++this.callbackSeq)}` +
		    `${String(Date.now()).slice(-6)}`;
		this.callbacks.set(id, { answered: 0 });
		const m = plainMessage(message);
		return {
			callback_query: {
				id,
				from: user,
				message: m,
				chat_instance: `-${String(message.chat.id)
				    .replace('-', '')}42`,
				data
			}
		};
	}

	/*
	 * A my_chat_member update: the bot's status in a chat changed
	 * ("kicked" when a user blocks it in a private chat, "member" when
	 * unblocked).
	 */
	memberUpdate({ from, chat, oldStatus = 'member', newStatus }) {
		const user = typeof from === 'object' ? from : this.user(from);
		const chatObj = chat === undefined ? { id: user.id,
		    type: 'private', first_name: user.first_name } :
		    typeof chat === 'object' ? chat :
		    { id: chat, type: chatTypeOf(chat), title: 'Test group' };
		const member = (status) => {
			const m = { user: { id: this.bot.id, is_bot: true,
			    first_name: this.bot.first_name,
			    username: this.bot.username }, status };
			if (status === 'kicked')
				m.until_date = 0;
			return m;
		};
		return {
			my_chat_member: {
				chat: chatObj,
				from: user,
				date: Math.floor(Date.now() / 1000),
				old_chat_member: member(oldStatus),
				new_chat_member: member(newStatus)
			}
		};
	}

	/* The service message a group gets when it becomes a supergroup. */
	migrateUpdate({ from, chat, to }) {
		return { message: { ...this.message({ from, chat }),
		    migrate_to_chat_id: to } };
	}

	/* --- delivering updates -------------------------------------------- */

	/* Give an update an id unless it has one. */
	number(u) {
		if (u.update_id === undefined) {
			/* update_id first, as Telegram writes it. */
			const rest = { ...u };
			for (const k of Object.keys(rest))
				delete u[k];
			u.update_id = this.nextUpdateId++;
			Object.assign(u, rest);
		} else if (u.update_id >= this.nextUpdateId)
			this.nextUpdateId = u.update_id + 1;
		return u;
	}

	/*
	 * Queue updates for getUpdates (one update or an array); each gets
	 * the next update_id unless it has one.  A pending long poll is
	 * answered once the current tick is over, so updates queued together
	 * arrive in one batch.  Returns the update(s).
	 */
	queue(u) {
		const list = Array.isArray(u) ? u : [u];
		for (const x of list) {
			/*
			 * Telegram does not create updates of a type the bot
			 * did not ask for; one created before allowed_updates
			 * changed is still delivered.
			 */
			if (!this.allowed(updateType(x))) {
				this.dropped.push(x);
				continue;
			}
			this.number(x);
			if (x.callback_query && !this.callbacks.has(
			    x.callback_query.id))
				this.callbacks.set(x.callback_query.id,
				    { answered: 0 });
			this.updates.push(x);
		}
		this.scheduleWake();
		return u;
	}

	scheduleWake() {
		if (this.wakeScheduled)
			return;
		this.wakeScheduled = true;
		setImmediate(() => {
			this.wakeScheduled = false;
			if (this.poll === null)
				return;
			const batch = this.deliverable(this.poll.limit);
			if (batch.length > 0)
				this.answerPoll(batch);
		});
	}

	/* Whether an update type is delivered under allowed_updates. */
	allowed(type) {
		const list = this.allowedUpdates;
		if (list === null || list.length === 0)
			return !NOT_BY_DEFAULT.includes(type);
		return list.includes(type);
	}

	/* Up to limit updates to hand out. */
	deliverable(limit) {
		return this.updates.slice(0, limit);
	}

	answerPoll(batch) {
		const p = this.poll;
		this.poll = null;
		clearTimeout(p.timer);
		p.done(batch);
	}

	/*
	 * POST an update to a webhook URL as Telegram does: JSON body, and
	 * X-Telegram-Bot-Api-Secret-Token set to opts.secret (default: the
	 * secret_token of the last setWebhook; null: no header).  opts.body
	 * sends raw text instead.  Resolves with {status, body, update}.
	 */
	async pushWebhook(url, update, opts = {}) {
		if (update !== null && update !== undefined)
			this.number(update);
		if (update?.callback_query && !this.callbacks.has(
		    update.callback_query.id))
			this.callbacks.set(update.callback_query.id,
			    { answered: 0 });
		const secret = 'secret' in opts ? opts.secret :
		    this.webhook.secret_token;
		const headers = { 'Content-Type': 'application/json' };
		if (secret !== null && secret !== undefined)
			headers['X-Telegram-Bot-Api-Secret-Token'] = secret;
		const body = opts.body ?? JSON.stringify(update);
		const ac = new AbortController();
		const timer = setTimeout(() => ac.abort(), opts.timeout ?? 10000);
		try {
			const res = await fetch(url, { method: 'POST', headers,
			    body, signal: ac.signal });
			const text = await res.text();
			const r = { status: res.status, body: text, update,
			    time: Date.now() };
			this.webhookPushes.push(r);
			return r;
		} finally {
			clearTimeout(timer);
		}
	}

	/* --- serving ------------------------------------------------------- */

	async handle(req, res) {
		const rec = {
			i: this.requests.length,
			time: Date.now(),
			httpMethod: req.method,
			path: null,
			token: null,
			method: null,
			params: null,
			contentType: req.headers['content-type'] ?? null,
			status: null,
			ok: null,
			result: undefined,
			error: null,
			doneTime: null,
			aborted: false
		};
		const url = new URL(req.url, 'http://fake');
		rec.path = url.pathname;
		const m = /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
		if (m !== null) {
			rec.token = decodeURIComponent(m[1]);
			rec.method = decodeURIComponent(m[2]);
		}
		this.requests.push(rec);
		let aborted = false;
		res.on('close', () => {
			if (!res.writableFinished) {
				aborted = true;
				rec.aborted = true;
				if (rec.onAbort)
					rec.onAbort();
				this.emit('response', rec);
			}
		});
		const reply = (status, obj, type = 'application/json') => {
			if (aborted || res.destroyed)
				return false;
			const body = typeof obj === 'string' ? obj :
			    JSON.stringify(obj);
			rec.status = status;
			if (typeof obj === 'object') {
				rec.ok = obj.ok;
				rec.result = obj.result;
				if (!obj.ok)
					rec.error = obj;
			}
			rec.doneTime = Date.now();
			res.once('finish', () => this.emit('delivered', rec));
			res.writeHead(status, { 'Content-Type': type,
			    'Content-Length': Buffer.byteLength(body) });
			res.end(body);
			this.emit('response', rec);
			return true;
		};
		const fail = (e) => {
			const o = { ok: false, error_code: e.code,
			    description: e.message };
			if (e.parameters)
				o.parameters = e.parameters;
			return reply(e.code, o);
		};

		let body;
		try {
			body = await readBody(req);
		} catch (e) {
			fail(e instanceof ApiError ? e : new ApiError(400,
			    String(e)));
			return;
		}
		rec.raw = body.length > 4096 ? body.subarray(0, 4096)
		    .toString('utf8') : body.toString('utf8');
		try {
			rec.params = await parseParams(req, url, body);
		} catch (e) {
			rec.params = {};
			this.emit('request', rec);
			fail(e);
			return;
		}
		this.emit('request', rec);

		if (m === null || !['GET', 'POST'].includes(req.method)) {
			fail(new ApiError(404, DESCRIPTIONS[404]));
			return;
		}
		if (rec.token !== this.token) {
			fail(new ApiError(401, DESCRIPTIONS[401]));
			return;
		}
		const handler = METHODS[rec.method.toLowerCase()];
		if (handler === undefined) {
			fail(new ApiError(404, DESCRIPTIONS[404]));
			return;
		}

		/* A scripted failure for this call? */
		const f = this.failures.find((x) => x.remaining > 0 &&
		    x.method === rec.method.toLowerCase() &&
		    this.matches(x.match, rec.params));
		if (f !== undefined) {
			f.remaining--;
			f.hits.push(rec.i);
			rec.scripted = f.spec;
			const s = f.spec;
			if (s.delayMs) {
				await new Promise((r) => {
					const t = setTimeout(r, s.delayMs);
					res.once('close', () => {
						clearTimeout(t);
						r();
					});
				});
				if (aborted || this.closed)
					return;	/* the client gave up */
			}
			if (s.network) {
				rec.status = 0;
				req.socket.destroy();
				return;
			}
			if (s.status !== undefined) {
				reply(s.status, s.body ?? '',
				    s.contentType ?? 'text/plain');
				return;
			}
			if (s.code !== undefined) {
				this.scriptedError(rec, s, fail, reply);
				return;
			}
		}

		/*
		 * A client that is gone (killed while its request was read)
		 * gets nothing done: as if Telegram never saw the call.
		 */
		if (aborted || req.socket.destroyed) {
			rec.aborted = true;
			return;
		}
		try {
			const result = await handler.call(this, rec.params,
			    rec, reply, () => aborted);
			if (result !== NO_REPLY) {
				const o = { ok: true, result };
				if (rec.description)
					o.description = rec.description;
				reply(200, o);
			}
		} catch (e) {
			if (!(e instanceof ApiError))
				throw e;
			fail(e);
		}
	}

	/* Answer a call with a scripted error. */
	scriptedError(rec, s, fail, reply) {
		switch (s.code) {
		case 429: {
			const n = s.retryAfter ?? 1;
			this.noteRetryAfter(rec.params, n);
			fail(new ApiError(429, `Too Many Requests: retry ` +
			    `after ${n}`, { retry_after: n }));
			return;
		}
		case 502:
			reply(502, s.body ?? BAD_GATEWAY_HTML, 'text/html');
			return;
		case 400:
			if (s.migrateTo !== undefined) {
				fail(new ApiError(400, DESCRIPTIONS.migrated,
				    { migrate_to_chat_id: s.migrateTo }));
				return;
			}
			fail(new ApiError(400, s.description ??
			    'Bad Request: chat not found'));
			return;
		case 403:
			fail(new ApiError(403, s.description ??
			    DESCRIPTIONS.blocked));
			return;
		default:
			fail(new ApiError(s.code, s.description ??
			    DESCRIPTIONS[s.code] ?? 'Internal Server Error'));
		}
	}

	matches(match, params) {
		if (match === null || match === undefined)
			return true;
		if (typeof match === 'function')
			return match(params);
		return Object.entries(match).every(([k, v]) =>
		    String(params[k]) === String(v));
	}

	/* After a 429 for a chat: sends to it before then are violations. */
	noteRetryAfter(params, seconds) {
		if (params.chat_id === undefined)
			return;
		this.chat(params.chat_id).retryUntil = Date.now() +
		    seconds * 1000;
	}

	/*
	 * The checks every send goes through: chat_id, a retry_after still
	 * running, a blocked or migrated chat, the flood limits.  Returns the
	 * chat.
	 */
	checkSend(p, rec) {
		if (p.chat_id === undefined || p.chat_id === null ||
		    p.chat_id === '')
			throw new ApiError(400, DESCRIPTIONS.chatIdEmpty);
		const c = this.chat(p.chat_id);
		const now = rec.time;
		if (now < c.retryUntil) {
			const left = Math.ceil((c.retryUntil - now) / 1000);
			this.violations.push({ i: rec.i, chat_id: p.chat_id,
			    time: now, early_ms: c.retryUntil - now });
			throw new ApiError(429, `Too Many Requests: retry ` +
			    `after ${left}`, { retry_after: left });
		}
		if (c.blocked)
			throw new ApiError(403, DESCRIPTIONS.blocked);
		if (c.migratedTo !== null) {
			throw new ApiError(400, DESCRIPTIONS.migrated,
			    { migrate_to_chat_id: c.migratedTo });
		}
		if (this.flood !== null)
			this.checkFlood(c, rec);
		return c;
	}

	checkFlood(c, rec) {
		const fl = this.flood;
		const now = rec.time;
		const hit = (why, n) => {
			this.floodHits.push({ i: rec.i, chat_id: c.id, why,
			    time: now });
			c.retryUntil = now + n * 1000;
			throw new ApiError(429, `Too Many Requests: retry ` +
			    `after ${n}`, { retry_after: n });
		};
		this.recentSends = this.recentSends.filter((t) => now - t <
		    1000);
		if (this.recentSends.length >= fl.perSecond)
			hit('per bot', 1);
		if (c.info.type === 'private') {
			if (c.lastSendAt > 0 && now - c.lastSendAt <
			    fl.chatIntervalMs - fl.slackMs)
				hit('per private chat', 1);
		} else {
			c.sendTimes = c.sendTimes.filter((t) => now - t < 60000);
			if (c.sendTimes.length >= fl.groupPerMinute) {
				hit('per group', Math.max(1, Math.ceil(
				    (60000 - (now - c.sendTimes[0])) / 1000)));
			}
		}
	}

	/* Record an accepted message and return it (the Message object). */
	accept(c, rec, method, fields) {
		const msg = {
			message_id: c.nextMessageId++,
			from: { id: this.bot.id, is_bot: true,
			    first_name: this.bot.first_name,
			    username: this.bot.username },
			chat: { ...c.info },
			date: Math.floor(rec.time / 1000),
			...fields
		};
		c.lastSendAt = rec.time;
		c.sendTimes.push(rec.time);
		this.recentSends.push(rec.time);
		c.sent.push({ ...msg, method, time: rec.time });
		return msg;
	}
}

/* A Message as Telegram shows it: a sentTo() entry without our fields. */
export function plainMessage(m) {
	const out = { ...m };
	delete out.method;
	delete out.time;
	return out;
}

/* A handler's way of saying it answered (or will answer) by itself. */
const NO_REPLY = Symbol('no reply');

/* A send* method for a media type: its field and how it shows up. */
function mediaMethod(field, build) {
	return function (p, rec) {
		const c = this.checkSend(p, rec);
		const v = p[field];
		if (v === undefined || v === null || v === '')
			throw badRequest(`there is no ${field} in the request`);
		const fields = {};
		if (p.caption !== undefined) {
			const cap = parsedText(String(p.caption), p.parse_mode);
			if (utf16Length(cap) > CAPTION_MAX)
				throw badRequest('message caption is too long');
			if (cap !== '')
				fields.caption = cap;
		}
		checkReplyMarkup(p.reply_markup);
		if (p.reply_markup?.inline_keyboard)
			fields.reply_markup = p.reply_markup;
		const id = `FAKE${field.toUpperCase()}${rec.i}`;
		fields[field] = build(v, id);
		return this.accept(c, rec, rec.method, fields);
	};
}

const METHODS = {
	getme() {
		return { ...this.bot, can_join_groups: true,
		    can_read_all_group_messages: false,
		    supports_inline_queries: false,
		    can_connect_to_business: false, has_main_web_app: false };
	},

	getupdates(p, rec, reply, isAborted) {
		if (this.webhook.url !== '')
			throw new ApiError(409, DESCRIPTIONS.webhookActive);
		const offset = Number(p.offset ?? 0);
		const limit = Math.min(100, Math.max(1, Number(p.limit ?? 100)));
		const timeout = Math.min(50, Math.max(0, Number(p.timeout ??
		    0)));
		if (Array.isArray(p.allowed_updates))
			this.allowedUpdates = p.allowed_updates.length > 0 ?
			    [...p.allowed_updates] : null;
		if (offset > 0) {
			this.updates = this.updates.filter((u) => u.update_id >=
			    offset);
		} else if (offset < 0)
			this.updates = this.updates.slice(offset);
		/* A newer poll ends the pending one. */
		if (this.poll !== null) {
			const old = this.poll;
			this.poll = null;
			clearTimeout(old.timer);
			old.conflict();
		}
		const batch = this.deliverable(limit);
		if (batch.length > 0 || timeout === 0)
			return batch;
		if (isAborted())
			return NO_REPLY;
		const poll = {
			limit,
			rec,
			done: (b) => reply(200, { ok: true, result: b }),
			conflict: () => reply(409, { ok: false,
			    error_code: 409,
			    description: DESCRIPTIONS.terminated })
		};
		poll.timer = setTimeout(() => {
			if (this.poll === poll)
				this.answerPoll(this.deliverable(limit));
		}, timeout * 1000);
		this.poll = poll;
		/* A client that goes away (killed) is no longer waiting. */
		rec.onAbort = () => {
			if (this.poll === poll) {
				clearTimeout(poll.timer);
				this.poll = null;
			}
		};
		return NO_REPLY;
	},

	setwebhook(p, rec) {
		const url = p.url === undefined || p.url === null ? '' :
		    String(p.url);
		if (url !== '') {
			let u;
			try {
				u = new URL(url);
			} catch {
				throw badRequest('bad webhook: Failed to ' +
				    'resolve host: Name or service not known');
			}
			if (u.protocol !== 'https:') {
				throw badRequest('bad webhook: An HTTPS URL ' +
				    'must be provided for webhook');
			}
			if (u.port !== '' && !['80', '88', '443', '8443']
			    .includes(u.port)) {
				throw badRequest('bad webhook: Webhook can be ' +
				    'set up only on ports 80, 88, 443 or 8443');
			}
		}
		if (p.secret_token !== undefined && p.secret_token !== null &&
		    !/^[A-Za-z0-9_-]{1,256}$/.test(String(p.secret_token)))
			throw badRequest('secret token contains unallowed ' +
			    'characters');
		if (Array.isArray(p.allowed_updates))
			this.allowedUpdates = p.allowed_updates.length > 0 ?
			    [...p.allowed_updates] : null;
		if (p.drop_pending_updates === true)
			this.updates = [];
		const was = this.webhook.url;
		this.webhook = {
			url,
			secret_token: url === '' ? null :
			    p.secret_token ?? null,
			allowed_updates: this.allowedUpdates,
			max_connections: p.max_connections ?? 40,
			set_at: Date.now()
		};
		if (url !== '' && this.poll !== null) {
			const old = this.poll;
			this.poll = null;
			clearTimeout(old.timer);
			old.conflict();
		}
		if (url === '') {
			rec.description = was === '' ?
			    'Webhook is already deleted' : 'Webhook was deleted';
		} else {
			rec.description = was === url ?
			    'Webhook is already set' : 'Webhook was set';
		}
		return true;
	},

	deletewebhook(p, rec) {
		const was = this.webhook.url;
		if (p.drop_pending_updates === true)
			this.updates = [];
		this.webhook = { url: '', secret_token: null,
		    allowed_updates: this.allowedUpdates, max_connections: 40 };
		rec.description = was === '' ? 'Webhook is already deleted' :
		    'Webhook was deleted';
		return true;
	},

	getwebhookinfo() {
		const info = { url: this.webhook.url,
		    has_custom_certificate: false,
		    pending_update_count: this.updates.length };
		if (this.webhook.url !== '') {
			info.max_connections = this.webhook.max_connections;
			info.ip_address = '127.0.0.1';
			if (this.webhook.allowed_updates !== null)
				info.allowed_updates =
				    this.webhook.allowed_updates;
		}
		return info;
	},

	sendmessage(p, rec) {
		const c = this.checkSend(p, rec);
		if (p.text === undefined || p.text === null)
			throw new ApiError(400, DESCRIPTIONS.empty);
		const text = parsedText(String(p.text), p.parse_mode);
		if (text.trim() === '')
			throw new ApiError(400, DESCRIPTIONS.empty);
		if (utf16Length(text) > TEXT_MAX)
			throw new ApiError(400, DESCRIPTIONS.tooLong);
		checkReplyMarkup(p.reply_markup);
		const fields = { text };
		if (p.reply_markup?.inline_keyboard)
			fields.reply_markup = p.reply_markup;
		return this.accept(c, rec, 'sendMessage', fields);
	},

	sendphoto: mediaMethod('photo', (v, id) => [
		{ file_id: `${id}s`, file_unique_id: `${id}us`, width: 90,
		    height: 90, file_size: 1200 },
		{ file_id: id, file_unique_id: `${id}u`, width: 800,
		    height: 800, file_size: 64000 }
	]),
	senddocument: mediaMethod('document', (v, id) => ({
		file_id: id, file_unique_id: `${id}u`,
		file_name: typeof v === 'object' ? v.filename :
		    String(v).split('/').pop() || 'file',
		mime_type: typeof v === 'object' ? v.type :
		    'application/octet-stream',
		file_size: typeof v === 'object' ? v.size : 1000
	})),
	sendvoice: mediaMethod('voice', (v, id) => ({ file_id: id,
	    file_unique_id: `${id}u`, duration: 3, mime_type: 'audio/ogg' })),
	sendvideo: mediaMethod('video', (v, id) => ({ file_id: id,
	    file_unique_id: `${id}u`, width: 640, height: 360, duration: 5 })),
	sendaudio: mediaMethod('audio', (v, id) => ({ file_id: id,
	    file_unique_id: `${id}u`, duration: 30 })),
	sendsticker: mediaMethod('sticker', (v, id) => ({ file_id: id,
	    file_unique_id: `${id}u`, type: 'regular', width: 512,
	    height: 512, is_animated: false, is_video: false })),

	sendlocation(p, rec) {
		const c = this.checkSend(p, rec);
		const lat = Number(p.latitude);
		const lon = Number(p.longitude);
		if (!Number.isFinite(lat) || !Number.isFinite(lon) ||
		    Math.abs(lat) > 90 || Math.abs(lon) > 180)
			throw badRequest('wrong latitude or longitude');
		return this.accept(c, rec, 'sendLocation',
		    { location: { latitude: lat, longitude: lon } });
	},

	sendchataction(p) {
		if (p.chat_id === undefined)
			throw new ApiError(400, DESCRIPTIONS.chatIdEmpty);
		return true;
	},

	answercallbackquery(p) {
		const id = p.callback_query_id;
		if (id === undefined || id === null || id === '')
			throw badRequest('query_id is empty');
		const cb = this.callbacks.get(String(id));
		if (cb === undefined || cb.answered > 0)
			throw new ApiError(400, DESCRIPTIONS.queryInvalid);
		cb.answered++;
		return true;
	},

	editmessagereplymarkup(p, rec) {
		return editMessage.call(this, p, rec, false);
	},

	editmessagetext(p, rec) {
		return editMessage.call(this, p, rec, true);
	},

	deletemessage(p) {
		const c = this.chats.get(String(p.chat_id));
		if (c === undefined || !c.sent.some((m) => m.message_id ===
		    p.message_id))
			throw badRequest('message to delete not found');
		return true;
	}
};

/* editMessageText / editMessageReplyMarkup on a message the bot sent. */
function editMessage(p, rec, text) {
	if (p.chat_id === undefined)
		throw new ApiError(400, DESCRIPTIONS.chatIdEmpty);
	const c = this.chats.get(String(p.chat_id));
	const m = c?.sent.find((x) => x.message_id === p.message_id);
	if (m === undefined)
		throw badRequest('message to edit not found');
	checkReplyMarkup(p.reply_markup);
	const before = JSON.stringify([m.text, m.reply_markup ?? null]);
	if (text) {
		const t = parsedText(String(p.text ?? ''), p.parse_mode);
		if (t.trim() === '')
			throw new ApiError(400, DESCRIPTIONS.empty);
		if (utf16Length(t) > TEXT_MAX)
			throw new ApiError(400, DESCRIPTIONS.tooLong);
		m.text = t;
	}
	if (p.reply_markup?.inline_keyboard)
		m.reply_markup = p.reply_markup;
	else
		delete m.reply_markup;
	if (JSON.stringify([m.text, m.reply_markup ?? null]) === before) {
		throw badRequest('message is not modified: specified new ' +
		    'message content and reply markup are exactly the same ' +
		    'as a current content and reply markup of the message');
	}
	const out = { ...m, edit_date: Math.floor(rec.time / 1000) };
	delete out.method;
	delete out.time;
	return out;
}

/* Start a fake Telegram on a free port (see FakeTelegram's options). */
export async function startFakeTelegram(opts = {}) {
	const tg = new FakeTelegram(opts);
	await tg.start();
	return tg;
}
