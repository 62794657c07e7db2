/*
 * dom.js: building the inbox's DOM without ever parsing HTML.
 *
 * el() makes an element with createElement, sets attributes one by one
 * (no event handler attributes, no style attribute: the CSP forbids
 * inline style and script, and data never becomes markup) and appends
 * children: strings become text nodes.  Customer text, names and
 * everything else from the server go through here or textContent.
 */

/*
 * An element.  attrs: class (a string or an array, falsy entries
 * skipped), hidden, text (textContent), dataset entries as data-*,
 * anything else as an attribute; null, undefined and false skip it.
 */
export function el(tag, attrs = {}, ...children) {
	const e = document.createElement(tag);

	for (const [k, v] of Object.entries(attrs)) {
		if (v === null || v === undefined || v === false)
			continue;
		if (/^on/i.test(k) || k === 'style')
			throw new Error(`el: refusing attribute ${k}`);
		if (k === 'class')
			e.className = Array.isArray(v) ? v.filter(Boolean)
			    .join(' ') : v;
		else if (k === 'text')
			e.textContent = String(v);
		else if (k === 'hidden')
			e.hidden = true;
		else
			e.setAttribute(k, v === true ? '' : String(v));
	}
	append(e, children);
	return e;
}

/* Append children: nodes, strings (as text), arrays of them; skip null. */
export function append(parent, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false)
			continue;
		if (Array.isArray(c))
			append(parent, c);
		else if (c instanceof Node)
			parent.appendChild(c);
		else
			parent.appendChild(document.createTextNode(String(c)));
	}
	return parent;
}

/* Remove every child. */
export function clear(node) {
	while (node.firstChild)
		node.removeChild(node.firstChild);
	return node;
}

/* Replace every child. */
export function replace(node, ...children) {
	clear(node);
	return append(node, children);
}

export function $(id) {
	return document.getElementById(id);
}

/* Show or hide an element (the hidden attribute). */
export function show(node, on = true) {
	node.hidden = !on;
	return node;
}

/* Set a message paragraph's text and show it, or hide it for ''. */
export function say(node, text) {
	node.textContent = text || '';
	node.hidden = !text;
}
