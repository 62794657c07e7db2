/*
 * format.js: words and numbers the inbox shows (labels, durations,
 * times).  Pure functions of their arguments, no DOM.
 */

export const CHANNELS = {
	websocket: 'Web chat',
	telegram: 'Telegram'
};

export const REASONS = {
	requested: 'Asked for a person',
	sentiment: 'Upset customer',
	unanswered: 'Bot could not answer',
	human_only: 'Needs a person',
	after_hours: 'After hours'
};

export const STATUSES = {
	bot: 'With the bot',
	pending: 'Waiting',
	open: 'Open',
	resolved: 'Resolved'
};

export function channelLabel(ch) {
	return CHANNELS[ch] ?? (ch ? String(ch) : 'Unknown channel');
}

export function reasonLabel(r) {
	return REASONS[r] ?? (r ? String(r).replace(/_/g, ' ') : '');
}

export function statusLabel(s) {
	return STATUSES[s] ?? String(s ?? '');
}

/* "just now", "4 min", "1 h 5 min", "3 d": how long since t (ms). */
export function since(t, now = Date.now()) {
	if (!Number.isFinite(t))
		return '';
	const min = Math.floor(Math.max(0, now - t) / 60000);
	if (min < 1)
		return 'just now';
	if (min < 60)
		return `${min} min`;
	const hrs = Math.floor(min / 60);
	if (hrs < 24)
		return min % 60 ? `${hrs} h ${min % 60} min` : `${hrs} h`;
	return `${Math.floor(hrs / 24)} d`;
}

const pad = (n) => String(n).padStart(2, '0');

/* "14:05" today, "3 Mar 14:05" otherwise. */
export function clock(t, now = Date.now()) {
	if (!Number.isFinite(t))
		return '';
	const d = new Date(t);
	const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
	if (new Date(now).toDateString() === d.toDateString())
		return hm;
	return `${d.getDate()} ${d.toLocaleString('en', { month: 'short' })}` +
	    ` ${hm}`;
}

/* "2026-03-03": a date. */
export function day(t) {
	if (!Number.isFinite(t))
		return '';
	const d = new Date(t);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-` +
	    pad(d.getDate());
}

/* An ISO time for <time datetime>. */
export function iso(t) {
	return Number.isFinite(t) ? new Date(t).toISOString() : null;
}

/* "negative", "neutral" or "positive" for a sentiment in [-1, 1]. */
export function sentimentWord(s) {
	if (!Number.isFinite(s))
		return null;
	return s <= -0.3 ? 'negative' : s >= 0.3 ? 'positive' : 'neutral';
}

/* A signed number with a real minus sign: "−0.4", "+0.2", "0". */
export function signed(x) {
	const r = Math.round(x * 10) / 10;

	if (r === 0)
		return '0';
	return r < 0 ? `\u2212${Math.abs(r)}` : r > 0 ? `+${r}` : '0';
}

/* A person's name for a contact (never empty). */
export function contactName(contact, convId) {
	const n = contact && typeof contact.name === 'string' ?
	    contact.name.trim() : '';
	return n !== '' ? n : `Visitor #${contact?.id ?? convId ?? '?'}`;
}

/* An agent's name. */
export function agentName(a) {
	if (!a)
		return '';
	return a.display_name || a.name || `agent ${a.id}`;
}
