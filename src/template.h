/*
 * Mustache templates rendered over a json-c context: interpolation
 * ({{x}} escaped, {{{x}}} and {{& x}} raw, dotted names, implicit {{.}}),
 * sections, inverted sections, comments, partials and set-delimiter tags,
 * as the official Mustache specification defines them.
 */
#ifndef KEFU_TEMPLATE_H
#define KEFU_TEMPLATE_H

struct json_object;

/* Returns a partial's template text by name, or NULL if there is none. */
typedef const char *(*template_partial_fn)(void *, const char *);

/*
 * Render tmpl over ctx.  Returns 0 and *out (caller frees), or -1 with
 * *cause (caller frees) naming the line and the problem, for example
 * "line 3: unclosed section \"items\"".  partial may be NULL.
 */
int	template_render(const char *, struct json_object *,
	    template_partial_fn, void *, char **, char **);

/* Check that tmpl parses; 0, or -1 with *cause as above. */
int	template_check(const char *, char **);

#endif
