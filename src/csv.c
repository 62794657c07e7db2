/*
 * An RFC 4180 CSV reader over a buffer already in memory.  A field is
 * either unquoted (no double quote anywhere in it) or wholly quoted, with
 * "" standing for one quote and commas and line breaks allowed inside.
 * Anything else (a quote in the middle of an unquoted field, text after a
 * closing quote, a quoted field that never ends, a NUL byte, a field that
 * is not UTF-8) is an error naming the file and line, so a broken file
 * never half-imports.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <utf8proc.h>

#include "csv.h"
#include "xmalloc.h"

struct csv_field {
	char	*s;
	size_t	 len;
	size_t	 size;
};

/* Start reading buf (len bytes; a UTF-8 BOM is skipped). */
void
csv_init(struct csv *r, const char *path, const char *buf, size_t len)
{
	memset(r, 0, sizeof *r);
	r->path = path;
	r->buf = buf;
	r->len = len;
	r->line = 1;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		r->off = 3;
}

/* Append one byte to a field under construction; -1 if it is too long. */
static int
csv_field_add(struct csv_field *f, char c)
{
	if (f->len >= CSV_FIELD_MAX)
		return (-1);
	if (f->len + 1 >= f->size) {
		f->size = f->size == 0 ? 64 : f->size * 2;
		f->s = xrealloc(f->s, f->size);
	}
	f->s[f->len++] = c;
	f->s[f->len] = '\0';
	return (0);
}

/* Whether the reader is at a line end (LF or CRLF); sets *n to its size. */
static int
csv_at_eol(struct csv *r, size_t *n)
{
	if (r->off < r->len && r->buf[r->off] == '\n') {
		*n = 1;
		return (1);
	}
	if (r->off + 1 < r->len && r->buf[r->off] == '\r' &&
	    r->buf[r->off + 1] == '\n') {
		*n = 2;
		return (1);
	}
	return (0);
}

/* Skip lines that are empty or hold only blanks; 1 if any input is left. */
static int
csv_skip_blank(struct csv *r)
{
	size_t	i;

	while (r->off < r->len) {
		i = r->off;
		while (i < r->len && (r->buf[i] == ' ' || r->buf[i] == '\t'))
			i++;
		if (i < r->len && r->buf[i] == '\n')
			r->off = i + 1;
		else if (i + 1 < r->len && r->buf[i] == '\r' &&
		    r->buf[i + 1] == '\n')
			r->off = i + 2;
		else if (i == r->len)
			r->off = i;
		else
			break;
		r->line++;
	}
	return (r->off < r->len);
}

/* Check that a field is UTF-8. */
static int
csv_utf8(const char *s, size_t len)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	size_t			 off = 0;

	while (off < len) {
		n = utf8proc_iterate(p + off, (utf8proc_ssize_t)(len - off),
		    &cp);
		if (n <= 0)
			return (-1);
		off += (size_t)n;
	}
	return (0);
}

/* Read one quoted field (r->off is just past the opening quote). */
static int
csv_quoted(struct csv *r, struct csv_field *f, unsigned start, char **cause)
{
	char	c;

	for (;;) {
		if (r->off >= r->len) {
			*cause = xasprintf("%s:%u: quoted field never ends",
			    r->path, start);
			return (-1);
		}
		c = r->buf[r->off];
		if (c == '"') {
			if (r->off + 1 < r->len && r->buf[r->off + 1] == '"') {
				r->off += 2;
				if (csv_field_add(f, '"') != 0)
					goto toolong;
				continue;
			}
			r->off++;
			return (0);
		}
		if (c == '\0') {
			*cause = xasprintf("%s:%u: NUL byte", r->path, r->line);
			return (-1);
		}
		if (c == '\n')
			r->line++;
		r->off++;
		if (csv_field_add(f, c) != 0)
			goto toolong;
	}
toolong:
	*cause = xasprintf("%s:%u: field longer than %d bytes", r->path, start,
	    CSV_FIELD_MAX);
	return (-1);
}

/* Read one unquoted field, up to a comma, a line end or the end. */
static int
csv_unquoted(struct csv *r, struct csv_field *f, char **cause)
{
	size_t	n;
	char	c;

	while (r->off < r->len && r->buf[r->off] != ',' && !csv_at_eol(r, &n)) {
		c = r->buf[r->off];
		if (c == '"') {
			*cause = xasprintf("%s:%u: quote inside an unquoted "
			    "field (quote the whole field and double the "
			    "quote)", r->path, r->line);
			return (-1);
		}
		if (c == '\0') {
			*cause = xasprintf("%s:%u: NUL byte", r->path, r->line);
			return (-1);
		}
		if (csv_field_add(f, c) != 0) {
			*cause = xasprintf("%s:%u: field longer than %d bytes",
			    r->path, r->line, CSV_FIELD_MAX);
			return (-1);
		}
		r->off++;
	}
	return (0);
}

/*
 * Read the next record, skipping blank lines: 1 and *rec (the caller
 * clears it with csv_record_clear), 0 at the end, -1 with *cause.
 */
int
csv_next(struct csv *r, struct csv_record *rec, char **cause)
{
	struct csv_field	 f;
	size_t			 n;
	int			 quoted;

	memset(rec, 0, sizeof *rec);
	if (!csv_skip_blank(r))
		return (0);
	rec->line = r->line;
	for (;;) {
		f.size = 64;
		f.len = 0;
		f.s = xmalloc(f.size);
		f.s[0] = '\0';
		quoted = (r->off < r->len && r->buf[r->off] == '"');
		if (quoted) {
			r->off++;
			if (csv_quoted(r, &f, r->line, cause) != 0)
				goto fail;
		} else if (csv_unquoted(r, &f, cause) != 0)
			goto fail;
		if (rec->nfields == CSV_FIELDS_MAX) {
			*cause = xasprintf("%s:%u: more than %d fields",
			    r->path, rec->line, CSV_FIELDS_MAX);
			goto fail;
		}
		if (csv_utf8(f.s, f.len) != 0) {
			*cause = xasprintf("%s:%u: not valid UTF-8", r->path,
			    r->line);
			goto fail;
		}
		rec->fields = xreallocarray(rec->fields, rec->nfields + 1,
		    sizeof *rec->fields);
		rec->fields[rec->nfields++] = f.s;
		f.s = NULL;
		if (r->off >= r->len)
			return (1);
		if (r->buf[r->off] == ',') {
			r->off++;
			continue;
		}
		if (csv_at_eol(r, &n)) {
			r->off += n;
			r->line++;
			return (1);
		}
		*cause = xasprintf("%s:%u: text after a closing quote (a "
		    "quote inside a field must be doubled)", r->path, r->line);
		goto fail;
	}
fail:
	free(f.s);
	csv_record_clear(rec);
	return (-1);
}

/* Free a record's fields. */
void
csv_record_clear(struct csv_record *rec)
{
	size_t	i;

	for (i = 0; i < rec->nfields; i++)
		free(rec->fields[i]);
	free(rec->fields);
	memset(rec, 0, sizeof *rec);
}

/* The index of a header field (trimmed, ASCII case-insensitive) or -1. */
int
csv_column(const struct csv_record *rec, const char *name)
{
	const char	*s;
	size_t		 i, len, nlen = strlen(name);

	for (i = 0; i < rec->nfields; i++) {
		s = rec->fields[i];
		while (isspace((unsigned char)*s))
			s++;
		len = strlen(s);
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
		if (len == nlen && strncasecmp(s, name, nlen) == 0)
			return ((int)i);
	}
	return (-1);
}
