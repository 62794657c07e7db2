/*
 * Tests for the Mustache renderer.  The bulk is the official Mustache
 * specification (the JSON files in tests/data/mustache-spec, lambdas and
 * the other optional "~" modules left out): every case is rendered and
 * must give exactly the expected text, and a count of cases passed is
 * printed per file.  The rest covers what the spec leaves open: error
 * messages, the output cap, the partial nesting cap, number and boolean
 * formatting.
 */
#include <sys/types.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "template.h"
#include "xmalloc.h"

/* The spec files that must be present and pass in full. */
static const char *spec_required[] = {
	"comments.json",
	"delimiters.json",
	"interpolation.json",
	"inverted.json",
	"partials.json",
	"sections.json",
};
#define NREQUIRED (sizeof spec_required / sizeof spec_required[0])

/* Return the spec data directory under $top_srcdir; caller frees. */
static char *
spec_dir(void)
{
	const char	*top = getenv("top_srcdir");

	if (top == NULL || *top == '\0')
		top = ".";
	return (xasprintf("%s/tests/data/mustache-spec", top));
}

/* Partial callback over a JSON object of name to template text. */
static const char *
partial_from_json(void *arg, const char *name)
{
	struct json_object	*partials = arg, *v;

	if (partials == NULL ||
	    !json_object_object_get_ex(partials, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* Partial callback over a NULL-terminated array of name, text pairs. */
static const char *
partial_from_pairs(void *arg, const char *name)
{
	const char	**p;

	for (p = arg; p[0] != NULL; p += 2) {
		if (strcmp(p[0], name) == 0)
			return (p[1]);
	}
	return (NULL);
}

/*
 * Run every case of one spec file, print how many passed and details of
 * each failure.  Sets *total; returns the number that passed.
 */
static int
spec_run_file(const char *path, int *total)
{
	struct json_object	*doc, *tests, *tc, *data, *tmpl, *expected;
	struct json_object	*partials, *name;
	const char		*base;
	char			*out, *cause;
	size_t			 i, n;
	int			 passed = 0;

	*total = 0;
	doc = json_object_from_file(path);
	if (doc == NULL) {
		print_error("cannot load %s: %s\n", path,
		    json_util_get_last_err());
		return (0);
	}
	if (!json_object_object_get_ex(doc, "tests", &tests) ||
	    !json_object_is_type(tests, json_type_array)) {
		print_error("%s: no \"tests\" array\n", path);
		json_object_put(doc);
		return (0);
	}
	n = json_object_array_length(tests);
	for (i = 0; i < n; i++) {
		tc = json_object_array_get_idx(tests, i);
		(*total)++;
		if (!json_object_object_get_ex(tc, "template", &tmpl) ||
		    !json_object_object_get_ex(tc, "expected", &expected)) {
			print_error("%s: case %zu malformed\n", path, i);
			continue;
		}
		json_object_object_get_ex(tc, "name", &name);
		if (!json_object_object_get_ex(tc, "data", &data))
			data = NULL;
		if (!json_object_object_get_ex(tc, "partials", &partials))
			partials = NULL;

		out = cause = NULL;
		if (template_render(json_object_get_string(tmpl), data,
		    partial_from_json, partials, &out, &cause) != 0) {
			print_error("FAIL %s: %s: error: %s\n", path,
			    json_object_get_string(name), cause);
		} else if (strcmp(out, json_object_get_string(expected)) != 0) {
			print_error("FAIL %s: %s\n  template: %s\n"
			    "  expected: %s\n  got:      %s\n", path,
			    json_object_get_string(name),
			    json_object_to_json_string(tmpl),
			    json_object_to_json_string(expected), out);
		} else
			passed++;
		free(out);
		free(cause);
	}
	json_object_put(doc);

	base = strrchr(path, '/');
	print_message("mustache spec %s: %d/%d cases passed\n",
	    base == NULL ? path : base + 1, passed, *total);
	return (passed);
}

/* One required spec file: every case must pass. */
static void
test_spec_file(void **state)
{
	const char	*file = *state;
	char		*dir, *path;
	int		 passed, total;

	dir = spec_dir();
	path = xasprintf("%s/%s", dir, file);
	passed = spec_run_file(path, &total);
	assert_true(total > 0);
	assert_int_equal(passed, total);
	free(path);
	free(dir);
}

/* Any other non-optional spec file in the directory must pass too. */
static void
test_spec_others(void **state)
{
	DIR		*d;
	struct dirent	*de;
	char		*dir, *path;
	size_t		 len, i;
	int		 passed, total, required, seen = 0;

	(void)state;
	dir = spec_dir();
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (de->d_name[0] == '~') {
			print_message("mustache spec %s: skipped (optional "
			    "module)\n", de->d_name);
			continue;
		}
		required = 0;
		for (i = 0; i < NREQUIRED; i++) {
			if (strcmp(de->d_name, spec_required[i]) == 0)
				required = 1;
		}
		seen += required;
		if (required)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		passed = spec_run_file(path, &total);
		assert_int_equal(passed, total);
		free(path);
	}
	closedir(d);
	free(dir);
	assert_int_equal(seen, NREQUIRED);
}

/* Render tmpl over the JSON text data; expect success and return output. */
static char *
render_ok(const char *tmpl, const char *data, const char **partials)
{
	struct json_object	*ctx = NULL;
	char			*out = NULL, *cause = NULL;
	int			 r;

	if (data != NULL) {
		ctx = json_tokener_parse(data);
		assert_non_null(ctx);
	}
	r = template_render(tmpl, ctx, partials == NULL ? NULL :
	    partial_from_pairs, partials, &out, &cause);
	if (r != 0)
		print_error("unexpected error: %s\n", cause);
	assert_int_equal(r, 0);
	assert_null(cause);
	assert_non_null(out);
	json_object_put(ctx);
	return (out);
}

/* Render tmpl and expect failure; return the cause. */
static char *
render_fail(const char *tmpl, struct json_object *ctx, const char **partials)
{
	char	*out = NULL, *cause = NULL;
	int	 r;

	r = template_render(tmpl, ctx, partials == NULL ? NULL :
	    partial_from_pairs, partials, &out, &cause);
	assert_int_equal(r, -1);
	assert_null(out);
	assert_non_null(cause);
	return (cause);
}

/* Assert that tmpl fails to parse, in both entry points, with cause. */
static void
check_parse_error(const char *tmpl, const char *want)
{
	char	*cause = NULL;

	assert_int_equal(template_check(tmpl, &cause), -1);
	assert_non_null(cause);
	assert_string_equal(cause, want);
	free(cause);

	cause = render_fail(tmpl, NULL, NULL);
	assert_string_equal(cause, want);
	free(cause);
}

/* Parse errors name the line and the problem. */
static void
test_errors(void **state)
{
	char	*cause = NULL;

	(void)state;
	check_parse_error("a\nb\n{{#items}}\nx\n",
	    "line 3: unclosed section \"items\"");
	check_parse_error("{{#a}}\n{{#b}}\n{{/a}}\n",
	    "line 3: mismatched closing tag \"a\", expected \"b\" "
	    "(opened on line 2)");
	check_parse_error("x\n{{/a}}",
	    "line 2: closing tag \"a\" without an open section");
	check_parse_error("one\ntwo {{name\n", "line 2: unclosed tag");
	check_parse_error("{{{name}}", "line 1: unclosed tag");
	check_parse_error("{{ }}", "line 1: empty tag");
	check_parse_error("\n\n{{=<% %>}}", "line 3: unclosed tag");
	check_parse_error("{{=<%=}}", "line 1: bad set-delimiter tag");
	check_parse_error("{{=<% %> x=}}", "line 1: bad set-delimiter tag");
	check_parse_error("{{=<% %>=}}\n<%#a%>\n<%/b%>",
	    "line 3: mismatched closing tag \"b\", expected \"a\" "
	    "(opened on line 2)");

	assert_int_equal(template_check("{{#a}}{{b}}{{/a}}{{! x }}", &cause),
	    0);
	assert_null(cause);
}

/* A partial that does not parse fails the render, naming the partial. */
static void
test_partial_errors(void **state)
{
	const char	*bad[] = { "p", "x\n{{#open}}", NULL };
	const char	*loop[] = { "self", "x{{>self}}", NULL };
	char		*cause;

	(void)state;
	cause = render_fail("a{{>p}}b", NULL, bad);
	assert_string_equal(cause,
	    "partial \"p\": line 2: unclosed section \"open\"");
	free(cause);

	cause = render_fail("{{>self}}", NULL, loop);
	assert_non_null(strstr(cause, "partial \"self\" nested more than 16"));
	free(cause);
}

/* Output beyond the cap fails with "output too large"; below it works. */
static void
test_output_cap(void **state)
{
	struct json_object	*ctx, *list;
	char			*big, *out = NULL, *cause = NULL;
	size_t			 chunk = 64 * 1024;
	int			 i;

	(void)state;
	big = xmalloc(chunk + 1);
	memset(big, 'x', chunk);
	big[chunk] = '\0';
	ctx = json_object_new_object();
	json_object_object_add(ctx, "big", json_object_new_string(big));
	list = json_object_new_array();
	for (i = 0; i < 15; i++)
		json_object_array_add(list, json_object_new_int(i));
	json_object_object_add(ctx, "list", list);

	/* 15 x 64 KiB fits in 1 MiB. */
	assert_int_equal(template_render("{{#list}}{{big}}{{/list}}", ctx,
	    NULL, NULL, &out, &cause), 0);
	assert_int_equal(strlen(out), 15 * chunk);
	free(out);

	/* 17 x 64 KiB does not, and nor does escaping that grows it. */
	json_object_array_add(list, json_object_new_int(15));
	json_object_array_add(list, json_object_new_int(16));
	cause = render_fail("{{#list}}{{big}}{{/list}}", ctx, NULL);
	assert_string_equal(cause, "output too large");
	free(cause);

	memset(big, '<', chunk);
	json_object_object_add(ctx, "big", json_object_new_string(big));
	cause = render_fail("{{#list}}{{big}}{{/list}}", ctx, NULL);
	assert_string_equal(cause, "output too large");
	free(cause);

	json_object_put(ctx);
	free(big);
}

/* Numbers, booleans, objects and lists as values. */
static void
test_values(void **state)
{
	struct json_object	*ctx;
	char			*out, *cause = NULL;

	(void)state;
	out = render_ok("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}}",
	    "{\"a\": 0.1, \"b\": -3, \"c\": 1e21, \"d\": 9223372036854775807,"
	    " \"e\": true, \"f\": false, \"g\": 2.50}", NULL);
	assert_string_equal(out,
	    "0.1 -3 1e+21 9223372036854775807 true false 2.5");
	free(out);

	/* A double made in code, not parsed from text. */
	ctx = json_object_new_object();
	json_object_object_add(ctx, "power", json_object_new_double(1.21));
	assert_int_equal(template_render("{{power}}", ctx, NULL, NULL, &out,
	    &cause), 0);
	assert_string_equal(out, "1.21");
	free(out);
	json_object_put(ctx);

	out = render_ok("{{o}}|{{{l}}}", "{\"o\": {\"k\": \"<v>\"},"
	    " \"l\": [1, \"x\"]}", NULL);
	assert_string_equal(out, "{&quot;k&quot;:&quot;&lt;v&gt;&quot;}|"
	    "[1,\"x\"]");
	free(out);

	/* A NULL context renders every name as missing. */
	out = render_ok("[{{x}}{{.}}{{#x}}no{{/x}}{{^x}}yes{{/x}}]", NULL,
	    NULL);
	assert_string_equal(out, "[yes]");
	free(out);
}

/* Which values open a section. */
static void
test_truthiness(void **state)
{
	char	*out;

	(void)state;
	out = render_ok("{{#s}}S{{/s}}{{#z}}Z{{/z}}{{#o}}O{{/o}}"
	    "{{^s}}s{{/s}}{{^z}}z{{/z}}{{^o}}o{{/o}}{{#n}}N{{/n}}{{^n}}n{{/n}}",
	    "{\"s\": \"\", \"z\": 0, \"o\": {}, \"n\": null}", NULL);
	assert_string_equal(out, "ZOsn");
	free(out);

	/* A null found in an inner context hides an outer value. */
	out = render_ok("{{#a}}[{{b}}]{{/a}}",
	    "{\"a\": {\"b\": null}, \"b\": \"outer\"}", NULL);
	assert_string_equal(out, "[]");
	free(out);
}

/* Indentation of nested standalone partials, and no callback at all. */
static void
test_partials(void **state)
{
	const char	*parts[] = {
		"outer", "<\n  {{>inner}}\n>\n",
		"inner", "a\n{{#l}}\n{{.}}\n{{/l}}\n",
		NULL
	};
	char		*out;

	(void)state;
	out = render_ok("  {{>outer}}\nend\n", "{\"l\": [1, 2]}", parts);
	assert_string_equal(out, "  <\n    a\n    1\n    2\n  >\nend\n");
	free(out);

	out = render_ok("a{{>outer}}b", "{}", NULL);
	assert_string_equal(out, "ab");
	free(out);
}

/* A cmocka test that runs one spec file, named after it. */
#define SPEC_TEST(file) \
	{ "spec " file, test_spec_file, NULL, NULL, (void *)file }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		SPEC_TEST("interpolation.json"),
		SPEC_TEST("sections.json"),
		SPEC_TEST("inverted.json"),
		SPEC_TEST("comments.json"),
		SPEC_TEST("partials.json"),
		SPEC_TEST("delimiters.json"),
		cmocka_unit_test(test_spec_others),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_partial_errors),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_truthiness),
		cmocka_unit_test(test_partials),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
