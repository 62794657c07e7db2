/*
 * Mustache templates over json-c values.
 *
 * A template is parsed once into a tree of nodes (text, escaped and raw
 * variables, sections, inverted sections, partials); comments and
 * set-delimiter tags leave no node behind.  The spec's standalone-line rule
 * is applied while parsing: a section, inverted, closing, comment, partial
 * or set-delimiter tag alone on its line (apart from spaces and tabs) takes
 * the whole line, newline included, with it.  A standalone partial keeps
 * that leading whitespace as its indentation.
 *
 * Rendering walks the tree with a stack of context values.  A name is looked
 * up from the top of the stack down; a dotted name resolves its first part
 * that way and the rest only inside what was found.  Falsy values are a
 * missing name, null, false, an empty list and an empty string; numbers,
 * 0 included, and objects, even empty, are truthy.  Partials
 * come from the caller's callback, are parsed once per render and are
 * indented at render time: inside a standalone partial every line that
 * starts in the partial's own text begins with its indentation.  Output
 * goes to a growing buffer capped at TEMPLATE_MAX_OUTPUT bytes and partials
 * nest at most TEMPLATE_MAX_DEPTH deep.  Lambdas are not supported.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "template.h"
#include "xmalloc.h"

#define TEMPLATE_MAX_OUTPUT	(1024 * 1024)
#define TEMPLATE_MAX_DEPTH	16
#define TEMPLATE_MAX_DELIM	15

enum tnode_type {
	TNODE_TEXT,
	TNODE_VAR,		/* {{x}}: HTML-escaped */
	TNODE_RAW,		/* {{{x}}} and {{& x}} */
	TNODE_SECTION,
	TNODE_INVERTED,
	TNODE_PARTIAL
};

struct tnode;

struct tlist {
	struct tnode	**v;
	size_t		  n;
	size_t		  alloc;
};

struct tnode {
	enum tnode_type	  type;
	char		 *text;		/* text, or the tag's name */
	size_t		  len;
	u_int		  line;
	char		 *indent;	/* standalone partial only */
	struct tlist	  children;	/* sections only */
};

struct tparser {
	const char	 *src;
	const char	 *end;

	char		  otag[TEMPLATE_MAX_DELIM + 1];
	size_t		  olen;
	char		  ctag[TEMPLATE_MAX_DELIM + 1];
	size_t		  clen;

	const char	 *linepos;	/* position whose line is known */
	u_int		  line;

	struct tnode	**stack;	/* open sections */
	size_t		  nstack;
	size_t		  astack;
};

struct tpartial {
	char		 *name;
	struct tlist	 *root;		/* NULL if the callback has none */
};

struct trender {
	struct json_object **ctx;
	size_t		  nctx;
	size_t		  actx;

	template_partial_fn partial;
	void		 *arg;
	struct tpartial	 *partials;
	size_t		  npartials;
	u_int		  depth;

	char		 *buf;
	size_t		  len;
	size_t		  alloc;
	int		  bol;		/* at the start of a line (indenting) */

	char		 *cause;
};

static int	template_render_list(struct trender *, struct tlist *,
		    const char *);

/* Free a list of nodes and everything below them. */
static void
template_free_list(struct tlist *l)
{
	struct tnode	*tn;
	size_t		 i;

	for (i = 0; i < l->n; i++) {
		tn = l->v[i];
		template_free_list(&tn->children);
		free(tn->text);
		free(tn->indent);
		free(tn);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

/* Append a new node to a list; the list owns it. */
static struct tnode *
template_add_node(struct tlist *l, enum tnode_type type, const char *text,
    size_t len, u_int line)
{
	struct tnode	*tn;

	if (l->n == l->alloc) {
		l->alloc = l->alloc == 0 ? 8 : l->alloc * 2;
		l->v = xreallocarray(l->v, l->alloc, sizeof *l->v);
	}
	tn = xcalloc(1, sizeof *tn);
	tn->type = type;
	tn->text = xstrndup(text, len);
	tn->len = len;
	tn->line = line;
	l->v[l->n++] = tn;
	return (tn);
}

/* Find needle (of length nlen) in [p, end), or NULL. */
static const char *
template_find(const char *p, const char *end, const char *needle,
    size_t nlen)
{
	if (nlen == 0 || (size_t)(end - p) < nlen)
		return (NULL);
	return (memmem(p, end - p, needle, nlen));
}

/* Return the line number of pos; positions must be asked for in order. */
static u_int
template_line(struct tparser *tp, const char *pos)
{
	const char	*p;

	for (p = tp->linepos; p < pos; p++) {
		if (*p == '\n')
			tp->line++;
	}
	tp->linepos = pos;
	return (tp->line);
}

/* Is c a space or tab? */
static int
template_blank(char c)
{
	return (c == ' ' || c == '\t');
}

/* Trim spaces, tabs and newlines from both ends of [*s, *e). */
static void
template_trim(const char **s, const char **e)
{
	while (*s < *e && strchr(" \t\r\n", **s) != NULL)
		(*s)++;
	while (*e > *s && strchr(" \t\r\n", (*e)[-1]) != NULL)
		(*e)--;
}

/* Apply a set-delimiter tag's contents, such as "<% %>". */
static int
template_set_delims(struct tparser *tp, const char *s, const char *e,
    u_int line, char **cause)
{
	const char	*o, *oe, *c, *ce, *p;

	template_trim(&s, &e);
	for (p = s; p < e && strchr(" \t\r\n", *p) == NULL; p++)
		/* nothing */;
	o = s;
	oe = p;
	while (p < e && strchr(" \t\r\n", *p) != NULL)
		p++;
	c = p;
	ce = e;
	for (; p < e; p++) {
		if (strchr(" \t\r\n", *p) != NULL)
			break;
	}
	if (oe == o || ce == c || p != e ||
	    memchr(o, '=', oe - o) != NULL || memchr(c, '=', ce - c) != NULL) {
		*cause = xasprintf("line %u: bad set-delimiter tag", line);
		return (-1);
	}
	if ((size_t)(oe - o) > TEMPLATE_MAX_DELIM ||
	    (size_t)(ce - c) > TEMPLATE_MAX_DELIM) {
		*cause = xasprintf("line %u: delimiter too long", line);
		return (-1);
	}
	tp->olen = oe - o;
	memcpy(tp->otag, o, tp->olen);
	tp->otag[tp->olen] = '\0';
	tp->clen = ce - c;
	memcpy(tp->ctag, c, tp->clen);
	tp->ctag[tp->clen] = '\0';
	return (0);
}

/* Return the list new nodes go into: the innermost open section's. */
static struct tlist *
template_current(struct tparser *tp, struct tlist *root)
{
	if (tp->nstack == 0)
		return (root);
	return (&tp->stack[tp->nstack - 1]->children);
}

/*
 * Handle one tag of the given sigil (0 for a plain variable) and name.
 * Returns 0 or -1 with *cause.
 */
static int
template_tag(struct tparser *tp, struct tlist *root, char sigil,
    const char *name, size_t nlen, const char *indent, size_t ilen,
    u_int line, char **cause)
{
	struct tlist	*l = template_current(tp, root);
	struct tnode	*tn, *open;

	if (nlen == 0) {
		*cause = xasprintf("line %u: empty tag", line);
		return (-1);
	}
	switch (sigil) {
	case '#':
	case '^':
		tn = template_add_node(l, sigil == '#' ? TNODE_SECTION :
		    TNODE_INVERTED, name, nlen, line);
		if (tp->nstack == tp->astack) {
			tp->astack = tp->astack == 0 ? 8 : tp->astack * 2;
			tp->stack = xreallocarray(tp->stack, tp->astack,
			    sizeof *tp->stack);
		}
		tp->stack[tp->nstack++] = tn;
		break;
	case '/':
		if (tp->nstack == 0) {
			*cause = xasprintf("line %u: closing tag \"%.*s\" "
			    "without an open section", line, (int)nlen, name);
			return (-1);
		}
		open = tp->stack[tp->nstack - 1];
		if (open->len != nlen || memcmp(open->text, name, nlen) != 0) {
			*cause = xasprintf("line %u: mismatched closing tag "
			    "\"%.*s\", expected \"%s\" (opened on line %u)",
			    line, (int)nlen, name, open->text, open->line);
			return (-1);
		}
		tp->nstack--;
		break;
	case '>':
		tn = template_add_node(l, TNODE_PARTIAL, name, nlen, line);
		if (indent != NULL)
			tn->indent = xstrndup(indent, ilen);
		break;
	case '&':
	case '{':
		template_add_node(l, TNODE_RAW, name, nlen, line);
		break;
	default:
		template_add_node(l, TNODE_VAR, name, nlen, line);
		break;
	}
	return (0);
}

/* Parse a template into root.  Returns 0, or -1 with *cause. */
static int
template_parse(const char *src, struct tlist *root, char **cause)
{
	struct tparser	 tp;
	const char	*p, *tag, *q, *close, *tagend, *textend, *ls, *te;
	const char	*s, *e;
	char		 sigil, closer[TEMPLATE_MAX_DELIM + 2];
	size_t		 closelen;
	u_int		 line;
	int		 standalone, error = -1;

	memset(&tp, 0, sizeof tp);
	memset(root, 0, sizeof *root);
	tp.src = tp.linepos = src;
	tp.end = src + strlen(src);
	tp.line = 1;
	memcpy(tp.otag, "{{", 3);
	tp.olen = 2;
	memcpy(tp.ctag, "}}", 3);
	tp.clen = 2;

	p = src;
	for (;;) {
		tag = template_find(p, tp.end, tp.otag, tp.olen);
		if (tag == NULL) {
			if (p < tp.end) {
				template_add_node(template_current(&tp, root),
				    TNODE_TEXT, p, tp.end - p, 0);
			}
			break;
		}
		line = template_line(&tp, tag);

		q = tag + tp.olen;
		sigil = 0;
		if (q < tp.end && strchr("#^/>!=&{", *q) != NULL)
			sigil = *q++;
		closelen = 0;
		if (sigil == '=' || sigil == '{')
			closer[closelen++] = sigil == '=' ? '=' : '}';
		memcpy(closer + closelen, tp.ctag, tp.clen);
		closelen += tp.clen;
		close = template_find(q, tp.end, closer, closelen);
		if (close == NULL) {
			*cause = xasprintf("line %u: unclosed tag", line);
			goto out;
		}
		tagend = close + closelen;

		/* A standalone tag takes its whole line with it. */
		textend = tag;
		standalone = 0;
		if (sigil != 0 && sigil != '&' && sigil != '{') {
			for (ls = tag; ls > src && template_blank(ls[-1]); ls--)
				/* nothing */;
			te = tagend;
			while (te < tp.end && template_blank(*te))
				te++;
			if (ls == src || ls[-1] == '\n') {
				if (te == tp.end)
					standalone = 1;
				else if (*te == '\n') {
					standalone = 1;
					te++;
				} else if (te[0] == '\r' && te[1] == '\n') {
					standalone = 1;
					te += 2;
				}
			}
			if (standalone) {
				textend = ls;
				tagend = te;
			}
		}
		if (textend > p) {
			template_add_node(template_current(&tp, root),
			    TNODE_TEXT, p, textend - p, 0);
		}

		s = q;
		e = close;
		if (sigil == '=') {
			if (template_set_delims(&tp, s, e, line, cause) != 0)
				goto out;
		} else if (sigil != '!') {
			template_trim(&s, &e);
			if (template_tag(&tp, root, sigil, s, e - s,
			    standalone ? textend : NULL, tag - textend, line,
			    cause) != 0)
				goto out;
		}
		p = tagend;
	}
	if (tp.nstack != 0) {
		*cause = xasprintf("line %u: unclosed section \"%s\"",
		    tp.stack[tp.nstack - 1]->line,
		    tp.stack[tp.nstack - 1]->text);
		goto out;
	}
	error = 0;

out:
	free(tp.stack);
	if (error != 0)
		template_free_list(root);
	return (error);
}

/* Append len bytes to the output, failing once it would pass the cap. */
static int
template_out(struct trender *tr, const char *s, size_t len)
{
	if (len > TEMPLATE_MAX_OUTPUT - tr->len) {
		if (tr->cause == NULL)
			tr->cause = xstrdup("output too large");
		return (-1);
	}
	if (tr->len + len + 1 > tr->alloc) {
		while (tr->len + len + 1 > tr->alloc)
			tr->alloc = tr->alloc == 0 ? 256 : tr->alloc * 2;
		tr->buf = xrealloc(tr->buf, tr->alloc);
	}
	memcpy(tr->buf + tr->len, s, len);
	tr->len += len;
	tr->buf[tr->len] = '\0';
	return (0);
}

/* Write the indentation if a partial's line is starting here. */
static int
template_out_indent(struct trender *tr, const char *indent)
{
	if (indent == NULL || *indent == '\0' || !tr->bol)
		return (0);
	tr->bol = 0;
	return (template_out(tr, indent, strlen(indent)));
}

/* Write template text, indenting each line inside a standalone partial. */
static int
template_out_text(struct trender *tr, const char *s, size_t len,
    const char *indent)
{
	const char	*nl;
	size_t		 n;

	if (indent == NULL || *indent == '\0')
		return (template_out(tr, s, len));
	while (len > 0) {
		nl = memchr(s, '\n', len);
		n = nl == NULL ? len : (size_t)(nl - s) + 1;
		if (template_out_indent(tr, indent) != 0)
			return (-1);
		if (template_out(tr, s, n) != 0)
			return (-1);
		tr->bol = (nl != NULL);
		s += n;
		len -= n;
	}
	return (0);
}

/* Write a value, escaping & < > and " for HTML unless raw. */
static int
template_out_value(struct trender *tr, const char *s, size_t len, int raw)
{
	const char	*ent;
	size_t		 i, start;

	if (raw)
		return (template_out(tr, s, len));
	start = 0;
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		default:
			continue;
		}
		if (template_out(tr, s + start, i - start) != 0)
			return (-1);
		if (template_out(tr, ent, strlen(ent)) != 0)
			return (-1);
		start = i + 1;
	}
	return (template_out(tr, s + start, len - start));
}

/* Format a double in the fewest digits that read back as the same value. */
static void
template_format_double(double d, char *buf, size_t size)
{
	int	prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/*
 * Look up a name in the context stack.  Returns 1 and *value (NULL for a
 * JSON null) if found, or 0 if not.
 */
static int
template_lookup(struct trender *tr, const char *name,
    struct json_object **value)
{
	struct json_object	*cur, *next;
	const char		*dot;
	char			*part;
	size_t			 i;
	int			 found;

	if (tr->nctx == 0)
		return (0);
	if (strcmp(name, ".") == 0) {
		*value = tr->ctx[tr->nctx - 1];
		return (1);
	}

	/* The first part resolves against the whole stack. */
	dot = strchr(name, '.');
	part = xstrndup(name,
	    dot == NULL ? strlen(name) : (size_t)(dot - name));
	found = 0;
	for (i = tr->nctx; i > 0; i--) {
		cur = tr->ctx[i - 1];
		if (json_object_is_type(cur, json_type_object) &&
		    json_object_object_get_ex(cur, part, &next)) {
			found = 1;
			break;
		}
	}
	free(part);
	if (!found)
		return (0);

	/* The rest only inside what the previous part found. */
	while (dot != NULL) {
		cur = next;
		name = dot + 1;
		dot = strchr(name, '.');
		part = xstrndup(name,
		    dot == NULL ? strlen(name) : (size_t)(dot - name));
		found = json_object_is_type(cur, json_type_object) &&
		    json_object_object_get_ex(cur, part, &next);
		free(part);
		if (!found)
			return (0);
	}
	*value = next;
	return (1);
}

/* Is a value truthy for a section? */
static int
template_truthy(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return (0);
	case json_type_boolean:
		return (json_object_get_boolean(v));
	case json_type_array:
		return (json_object_array_length(v) != 0);
	case json_type_string:
		return (json_object_get_string_len(v) != 0);
	default:
		return (1);
	}
}

/* Push a value onto the context stack. */
static void
template_push(struct trender *tr, struct json_object *v)
{
	if (tr->nctx == tr->actx) {
		tr->actx = tr->actx == 0 ? 16 : tr->actx * 2;
		tr->ctx = xreallocarray(tr->ctx, tr->actx, sizeof *tr->ctx);
	}
	tr->ctx[tr->nctx++] = v;
}

/* Render a variable tag. */
static int
template_render_var(struct trender *tr, struct tnode *tn, const char *indent)
{
	struct json_object	*v;
	const char		*s;
	char			 num[64];
	size_t			 len;
	int			 raw = (tn->type == TNODE_RAW);

	if (template_out_indent(tr, indent) != 0)
		return (-1);
	if (!template_lookup(tr, tn->text, &v))
		return (0);
	switch (json_object_get_type(v)) {
	case json_type_null:
		return (0);
	case json_type_string:
		s = json_object_get_string(v);
		len = json_object_get_string_len(v);
		break;
	case json_type_double:
		template_format_double(json_object_get_double(v), num,
		    sizeof num);
		s = num;
		len = strlen(num);
		break;
	case json_type_boolean:
		s = json_object_get_boolean(v) ? "true" : "false";
		len = strlen(s);
		break;
	default:
		/* Integers, and objects and lists as compact JSON. */
		s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		len = strlen(s);
		break;
	}
	return (template_out_value(tr, s, len, raw));
}

/* Render a section or inverted section. */
static int
template_render_section(struct trender *tr, struct tnode *tn,
    const char *indent)
{
	struct json_object	*v = NULL;
	size_t			 i, n;
	int			 truthy, error;

	truthy = template_lookup(tr, tn->text, &v) && template_truthy(v);
	if (tn->type == TNODE_INVERTED) {
		if (truthy)
			return (0);
		return (template_render_list(tr, &tn->children, indent));
	}
	if (!truthy)
		return (0);
	if (!json_object_is_type(v, json_type_array)) {
		template_push(tr, v);
		error = template_render_list(tr, &tn->children, indent);
		tr->nctx--;
		return (error);
	}
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		template_push(tr, json_object_array_get_idx(v, i));
		error = template_render_list(tr, &tn->children, indent);
		tr->nctx--;
		if (error != 0)
			return (-1);
	}
	return (0);
}

/* Find a partial's parsed tree, asking the callback the first time. */
static int
template_get_partial(struct trender *tr, const char *name,
    struct tlist **root)
{
	struct tpartial	*tpp;
	const char	*src = NULL;
	char		*cause;
	size_t		 i;

	for (i = 0; i < tr->npartials; i++) {
		if (strcmp(tr->partials[i].name, name) == 0) {
			*root = tr->partials[i].root;
			return (0);
		}
	}
	tr->partials = xreallocarray(tr->partials, tr->npartials + 1,
	    sizeof *tr->partials);
	tpp = &tr->partials[tr->npartials++];
	tpp->name = xstrdup(name);
	tpp->root = NULL;

	if (tr->partial != NULL)
		src = tr->partial(tr->arg, name);
	if (src != NULL) {
		tpp->root = xcalloc(1, sizeof *tpp->root);
		if (template_parse(src, tpp->root, &cause) != 0) {
			free(tpp->root);
			tpp->root = NULL;
			tr->cause = xasprintf("partial \"%s\": %s", name,
			    cause);
			free(cause);
			return (-1);
		}
	}
	*root = tpp->root;
	return (0);
}

/* Render a partial tag. */
static int
template_render_partial(struct trender *tr, struct tnode *tn,
    const char *indent)
{
	struct tlist	*root;
	char		*sub = NULL;
	int		 error;

	if (template_get_partial(tr, tn->text, &root) != 0)
		return (-1);
	if (root == NULL)
		return (0);
	if (tr->depth >= TEMPLATE_MAX_DEPTH) {
		tr->cause = xasprintf("line %u: partial \"%s\" nested more "
		    "than %d deep", tn->line, tn->text, TEMPLATE_MAX_DEPTH);
		return (-1);
	}

	if (tn->indent != NULL) {
		sub = xasprintf("%s%s", indent == NULL ? "" : indent,
		    tn->indent);
		indent = sub;
		tr->bol = 1;
	}
	tr->depth++;
	error = template_render_list(tr, root, indent);
	tr->depth--;
	if (tn->indent != NULL)
		tr->bol = 1;	/* the tag took its newline */
	free(sub);
	return (error);
}

/* Render a list of nodes; indent is the current partial indentation. */
static int
template_render_list(struct trender *tr, struct tlist *l, const char *indent)
{
	struct tnode	*tn;
	size_t		 i;
	int		 error = 0;

	for (i = 0; i < l->n && error == 0; i++) {
		tn = l->v[i];
		switch (tn->type) {
		case TNODE_TEXT:
			error = template_out_text(tr, tn->text, tn->len,
			    indent);
			break;
		case TNODE_VAR:
		case TNODE_RAW:
			error = template_render_var(tr, tn, indent);
			break;
		case TNODE_SECTION:
		case TNODE_INVERTED:
			error = template_render_section(tr, tn, indent);
			break;
		case TNODE_PARTIAL:
			error = template_render_partial(tr, tn, indent);
			break;
		}
	}
	return (error);
}

/*
 * Render tmpl over ctx, asking partial (which may be NULL) for partials by
 * name.  Returns 0 and *out, or -1 and *cause; the caller frees either.
 */
int
template_render(const char *tmpl, struct json_object *ctx,
    template_partial_fn partial, void *arg, char **out, char **cause)
{
	struct trender	 tr;
	struct tlist	 root;
	size_t		 i;
	int		 error;

	*out = NULL;
	if (template_parse(tmpl, &root, cause) != 0)
		return (-1);

	memset(&tr, 0, sizeof tr);
	tr.partial = partial;
	tr.arg = arg;
	template_push(&tr, ctx);
	error = template_render_list(&tr, &root, NULL);

	for (i = 0; i < tr.npartials; i++) {
		if (tr.partials[i].root != NULL) {
			template_free_list(tr.partials[i].root);
			free(tr.partials[i].root);
		}
		free(tr.partials[i].name);
	}
	free(tr.partials);
	free(tr.ctx);
	template_free_list(&root);

	if (error != 0) {
		free(tr.buf);
		*cause = tr.cause;
		return (-1);
	}
	*out = tr.buf != NULL ? tr.buf : xstrdup("");
	return (0);
}

/* Check that tmpl parses.  Returns 0, or -1 and *cause (caller frees). */
int
template_check(const char *tmpl, char **cause)
{
	struct tlist	root;

	if (template_parse(tmpl, &root, cause) != 0)
		return (-1);
	template_free_list(&root);
	return (0);
}
