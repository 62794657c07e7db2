/*
 * A small RFC 4180 CSV reader for the files kefuctl imports (knowledge
 * base, orders, training examples): comma-separated fields, records ended
 * by CRLF or LF, double-quoted fields that may hold commas, newlines and
 * doubled quotes.  It reads from a buffer the caller loaded (with a size
 * cap); every field has a hard cap too and must be UTF-8.  Errors name
 * file:line.
 */
#ifndef KEFU_CSV_H
#define KEFU_CSV_H

#include <stddef.h>

#define CSV_FIELD_MAX	(64 * 1024)	/* bytes in one field */
#define CSV_FIELDS_MAX	64		/* fields in one record */

struct csv {
	const char	*path;		/* for error messages */
	const char	*buf;
	size_t		 len;
	size_t		 off;
	unsigned	 line;		/* line of the next byte */
};

/* A record: its fields (NUL-terminated) and the line it started on. */
struct csv_record {
	char		**fields;
	size_t		  nfields;
	unsigned	  line;
};

/* Start reading buf (len bytes; a UTF-8 BOM is skipped). */
void	csv_init(struct csv *, const char *, const char *, size_t);
/*
 * Read the next record, skipping blank lines: 1 and *rec (the caller
 * clears it with csv_record_clear), 0 at the end, -1 with *cause.
 */
int	csv_next(struct csv *, struct csv_record *, char **);
void	csv_record_clear(struct csv_record *);
/* The index of a header field (trimmed, ASCII case-insensitive) or -1. */
int	csv_column(const struct csv_record *, const char *);

#endif
