/*
 * The dialogue engine: a pure state machine over JSON state.
 *
 * engine_step parses the conversation's state, looks at one event and
 * returns the new state, the status and the replies; it never touches a
 * file, a socket or the clock.  Everything it needs is loaded beforehand:
 * the templates (templates/<lang>/[<channel>/]<name>.mustache, each file
 * holding one or more variants separated by "---" lines and its quick-reply
 * buttons as "[[button value|Title]]" lines) and the demo FAQ (faq.c).
 * engine_reload builds a complete new set and swaps it in only if all of it
 * loaded, so a broken template never leaves the engine half-updated.
 *
 * The state records the stage the bot is resting in, which is what it is
 * waiting for: "welcome" (a first question), "solve" (a rephrased or new
 * question), "confirm" (yes or no to "did you mean"), "follow_up" (yes or
 * no to "did that answer it"), "offer" (a person or another question),
 * "csat" (a rating), "handoff" (silence until an agent hands back) and
 * "resolved".  Understanding is deliberately simple for now: normalized
 * text (NFKC, case folding), word lists for greetings, yes and no, ratings
 * and requests for a person, and the FAQ's keyword search for questions.
 * docs/engine.md describes the stages, the state and the file formats.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <utf8proc.h>

#include "engine.h"
#include "faq.h"
#include "log.h"
#include "template.h"
#include "util.h"
#include "xmalloc.h"

#define ENGINE_MAX_TEMPLATE	(64 * 1024)
#define ENGINE_STATE_VERSION	1

#define NITEMS(a) (sizeof (a) / sizeof (a)[0])

/* Templates every language directory must have. */
static const char *engine_required[] = {
	"welcome", "confirm", "solve", "follow_up", "fallback", "handoff",
	"after_hours", "csat", "thanks", "handback", "offer", "anything_else",
	"acknowledge"
};

/* The stages a state may rest in. */
static const char *engine_stages[] = {
	"welcome", "solve", "confirm", "follow_up", "offer", "csat",
	"handoff", "resolved"
};

struct tmpl_button {
	char	*value;
	char	*title;		/* Mustache */
};

struct tmpl {
	char			*lang;
	char			*channel;	/* "" unless an override */
	char			*name;
	char			*path;
	char			**variants;
	size_t			 nvariants;
	struct tmpl_button	*buttons;
	size_t			 nbuttons;
};

struct tmpl_set {
	struct tmpl	*v;
	size_t		 n;
};

struct engine {
	char			*templates_dir;
	char			*faq_path;
	char			*default_lang;
	int			 welcome_idle;
	int			 max_failures;
	double			 answer_threshold;
	double			 confirm_threshold;

	struct tmpl_set		*tmpls;
	struct faq		*faq;
};

/* The parsed state of one conversation. */
struct engine_state {
	char		 stage[16];	/* "" for a new conversation */
	char		 lang[16];
	int		 failures;
	int64_t		 last;		/* last customer message, ms */
	int64_t		 turn;
	char		*faq;		/* FAQ id to confirm or just answered */
	int		 csat;		/* the rating given, 0 none */
};

/* One engine_step in progress. */
struct engine_run {
	struct engine			*e;
	const struct engine_event	*ev;
	struct engine_state		 st;
	struct engine_result		*res;
	struct json_object		*ctx;
	char				*norm;	  /* normalized, never NULL */
	char				*spaced;  /* words, single spaces */
	char				*nospace; /* the same, no spaces */
	char				*cause;
	int				 failed;
};

/* A growing string. */
struct engine_buf {
	char	*s;
	size_t	 len;
	size_t	 size;
};

/* Append len bytes to a buffer, keeping it NUL-terminated. */
static void
engine_buf_add(struct engine_buf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->size) {
		b->size = (b->len + len + 1) * 2;
		b->s = xrealloc(b->s, b->size);
	}
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

/* Whether a byte is ASCII white space. */
static int
engine_isspace(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\v' || c == '\f');
}

/* Return a copy of s without leading and trailing white space. */
static char *
engine_trim(const char *s)
{
	size_t	len;

	while (engine_isspace(*s))
		s++;
	len = strlen(s);
	while (len > 0 && engine_isspace(s[len - 1]))
		len--;
	return (xstrndup(s, len));
}

/* Free one template's members. */
static void
tmpl_clear(struct tmpl *t)
{
	size_t	i;

	free(t->lang);
	free(t->channel);
	free(t->name);
	free(t->path);
	for (i = 0; i < t->nvariants; i++)
		free(t->variants[i]);
	free(t->variants);
	for (i = 0; i < t->nbuttons; i++) {
		free(t->buttons[i].value);
		free(t->buttons[i].title);
	}
	free(t->buttons);
}

/* Free a template set. */
static void
tmpl_set_free(struct tmpl_set *set)
{
	size_t	i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		tmpl_clear(&set->v[i]);
	free(set->v);
	free(set);
}

/*
 * Check a Mustache fragment, rewriting the renderer's "line N: why" into
 * "path:L: why" with the line L of the file.  lines maps the fragment's
 * lines to the file's.
 */
static int
tmpl_check(const char *path, const char *text, const size_t *lines,
    size_t nlines, char **cause)
{
	char		*why, *end;
	long		 n;
	size_t		 line = nlines > 0 ? lines[0] : 0;

	if (template_check(text, &why) == 0)
		return (0);
	if (strncmp(why, "line ", 5) == 0) {
		n = strtol(why + 5, &end, 10);
		if (end != why + 5 && end[0] == ':' && n >= 1) {
			if ((size_t)n <= nlines)
				line = lines[n - 1];
			*cause = xasprintf("%s:%zu:%s", path, line, end + 1);
			free(why);
			return (-1);
		}
	}
	*cause = xasprintf("%s:%zu: %s", path, line, why);
	free(why);
	return (-1);
}

/* Parse a "[[button value|Title]]" line: 1 if it is one, 0 if not, -1 bad. */
static int
tmpl_parse_button(const char *line, struct tmpl_button *b)
{
	const char	*p, *end, *bar;
	char		*tmp, *value, *title;

	if (strncmp(line, "[[button", 8) != 0)
		return (0);
	end = line + strlen(line);
	if (end - line < 12 || strcmp(end - 2, "]]") != 0 ||
	    !engine_isspace(line[8]))
		return (-1);
	p = line + 9;
	end -= 2;
	if ((bar = memchr(p, '|', (size_t)(end - p))) == NULL)
		return (-1);
	tmp = xstrndup(p, (size_t)(bar - p));
	value = engine_trim(tmp);
	free(tmp);
	tmp = xstrndup(bar + 1, (size_t)(end - bar - 1));
	title = engine_trim(tmp);
	free(tmp);
	if (*value == '\0' || *title == '\0' ||
	    strpbrk(value, " \t|") != NULL) {
		free(value);
		free(title);
		return (-1);
	}
	b->value = value;
	b->title = title;
	return (1);
}

/* Close the variant being read: check it and add it to the template. */
static int
tmpl_end_variant(struct tmpl *t, struct engine_buf *b, size_t *lines,
    size_t nlines, size_t lineno, char **cause)
{
	char	*trimmed;

	trimmed = engine_trim(b->s == NULL ? "" : b->s);
	if (*trimmed == '\0') {
		free(trimmed);
		*cause = xasprintf("%s:%zu: empty variant", t->path, lineno);
		return (-1);
	}
	free(trimmed);
	if (tmpl_check(t->path, b->s, lines, nlines, cause) != 0)
		return (-1);
	t->variants = xreallocarray(t->variants, t->nvariants + 1,
	    sizeof *t->variants);
	t->variants[t->nvariants++] = b->s;
	b->s = NULL;
	b->len = b->size = 0;
	return (0);
}

/* Split a template file into variants and buttons; -1 with *cause. */
static int
tmpl_parse(struct tmpl *t, const char *text, char **cause)
{
	struct engine_buf	 b = { NULL, 0, 0 };
	struct tmpl_button	 btn;
	const char		*line = text, *eol;
	char			*raw, *trimmed;
	size_t			 lineno = 0, len, *lines = NULL, nlines = 0;
	int			 r, error = 0;

	while (*line != '\0' && error == 0) {
		eol = strchr(line, '\n');
		len = eol != NULL ? (size_t)(eol - line) : strlen(line);
		lineno++;
		raw = xstrndup(line, len);
		if (len > 0 && raw[len - 1] == '\r')
			raw[--len] = '\0';
		trimmed = engine_trim(raw);
		if ((r = tmpl_parse_button(trimmed, &btn)) == 1) {
			if (tmpl_check(t->path, btn.title, &lineno, 1,
			    cause) != 0) {
				free(btn.value);
				free(btn.title);
				error = 1;
			} else {
				t->buttons = xreallocarray(t->buttons,
				    t->nbuttons + 1, sizeof *t->buttons);
				t->buttons[t->nbuttons++] = btn;
			}
		} else if (r == -1) {
			*cause = xasprintf("%s:%zu: bad button line, want "
			    "[[button value|Title]]", t->path, lineno);
			error = 1;
		} else if (strcmp(raw, "---") == 0) {
			if (tmpl_end_variant(t, &b, lines, nlines, lineno,
			    cause) != 0)
				error = 1;
			nlines = 0;
		} else {
			engine_buf_add(&b, raw, len);
			engine_buf_add(&b, "\n", 1);
			lines = xreallocarray(lines, nlines + 1,
			    sizeof *lines);
			lines[nlines++] = lineno;
		}
		free(trimmed);
		free(raw);
		if (eol == NULL)
			break;
		line = eol + 1;
	}
	if (error == 0 &&
	    tmpl_end_variant(t, &b, lines, nlines, lineno, cause) != 0)
		error = 1;
	free(b.s);
	free(lines);
	return (error ? -1 : 0);
}

/* Load one template file into the set; -1 with *cause. */
static int
tmpl_load_file(struct tmpl_set *set, const char *path, const char *lang,
    const char *channel, const char *file, char **cause)
{
	struct tmpl	*t;
	char		*text;
	size_t		 len = strlen(file) - strlen(".mustache");

	if ((text = file_read(path, ENGINE_MAX_TEMPLATE,
	    cause)) == NULL)
		return (-1);
	set->v = xreallocarray(set->v, set->n + 1, sizeof *set->v);
	t = &set->v[set->n];
	memset(t, 0, sizeof *t);
	t->lang = xstrdup(lang);
	t->channel = xstrdup(channel);
	t->name = xstrndup(file, len);
	t->path = xstrdup(path);
	if (tmpl_parse(t, text, cause) != 0) {
		free(text);
		tmpl_clear(t);
		return (-1);
	}
	free(text);
	set->n++;
	return (0);
}

/* Whether a directory entry names a template file. */
static int
tmpl_is_file_name(const char *name)
{
	size_t	len = strlen(name), ext = strlen(".mustache");

	return (name[0] != '.' && len > ext &&
	    strcmp(name + len - ext, ".mustache") == 0);
}

/* Compare directory entry names, for a stable load order. */
static int
engine_namecmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* List the entries of a directory, sorted, without dot files. */
static char **
engine_list_dir(const char *path, size_t *n, char **cause)
{
	DIR		*d;
	struct dirent	*de;
	char		**v = NULL;

	*n = 0;
	if ((d = opendir(path)) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (NULL);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		v = xreallocarray(v, *n + 1, sizeof *v);
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof *v, engine_namecmp);
	return (v);
}

/* Free a list from engine_list_dir. */
static void
engine_list_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Whether path is a directory. */
static int
engine_is_dir(const char *path)
{
	struct stat	sb;

	return (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
}

/* Find a template by exact language, channel and name. */
static const struct tmpl *
tmpl_find(const struct tmpl_set *set, const char *lang, const char *channel,
    const char *name)
{
	size_t	i;

	for (i = 0; i < set->n; i++) {
		if (strcmp(set->v[i].name, name) == 0 &&
		    strcmp(set->v[i].lang, lang) == 0 &&
		    strcmp(set->v[i].channel, channel) == 0)
			return (&set->v[i]);
	}
	return (NULL);
}

/* Load one language directory and its channel subdirectories. */
static int
tmpl_load_lang(struct tmpl_set *set, const char *dir, const char *lang,
    char **cause)
{
	char	**files, **sub, *path, *subpath;
	size_t	  nfiles, nsub, i, j;
	int	  error = 0;

	if ((files = engine_list_dir(dir, &nfiles, cause)) == NULL &&
	    nfiles == 0 && *cause != NULL)
		return (-1);
	for (i = 0; i < nfiles && error == 0; i++) {
		path = xasprintf("%s/%s", dir, files[i]);
		if (tmpl_is_file_name(files[i])) {
			if (tmpl_load_file(set, path, lang, "", files[i],
			    cause) != 0)
				error = 1;
		} else if (engine_is_dir(path)) {
			sub = engine_list_dir(path, &nsub, cause);
			if (sub == NULL && *cause != NULL)
				error = 1;
			for (j = 0; j < nsub && error == 0; j++) {
				if (!tmpl_is_file_name(sub[j]))
					continue;
				subpath = xasprintf("%s/%s", path, sub[j]);
				if (tmpl_load_file(set, subpath, lang,
				    files[i], sub[j], cause) != 0)
					error = 1;
				free(subpath);
			}
			engine_list_free(sub, nsub);
		}
		free(path);
	}
	engine_list_free(files, nfiles);
	if (error)
		return (-1);
	for (i = 0; i < NITEMS(engine_required); i++) {
		if (tmpl_find(set, lang, "", engine_required[i]) == NULL) {
			*cause = xasprintf("%s/%s.mustache: missing", dir,
			    engine_required[i]);
			return (-1);
		}
	}
	return (0);
}

/* Load every language under the templates directory; NULL with *cause. */
static struct tmpl_set *
tmpl_load(const char *dir, const char *default_lang, char **cause)
{
	struct tmpl_set	*set;
	char		**langs, *path;
	size_t		  nlangs, i;
	int		  error = 0, found = 0;

	*cause = NULL;
	if ((langs = engine_list_dir(dir, &nlangs, cause)) == NULL &&
	    *cause != NULL)
		return (NULL);
	set = xcalloc(1, sizeof *set);
	for (i = 0; i < nlangs && error == 0; i++) {
		path = xasprintf("%s/%s", dir, langs[i]);
		if (engine_is_dir(path)) {
			if (tmpl_load_lang(set, path, langs[i], cause) != 0)
				error = 1;
			if (strcmp(langs[i], default_lang) == 0)
				found = 1;
		}
		free(path);
	}
	engine_list_free(langs, nlangs);
	if (error == 0 && !found) {
		*cause = xasprintf("%s/%s: no templates for the default "
		    "language", dir, default_lang);
		error = 1;
	}
	if (error) {
		tmpl_set_free(set);
		return (NULL);
	}
	return (set);
}

/* Load templates and FAQ into *tmpls and *faq; -1 with *cause. */
static int
engine_load(struct engine *e, struct tmpl_set **tmpls, struct faq **faq,
    char **cause)
{
	if ((*tmpls = tmpl_load(e->templates_dir, e->default_lang,
	    cause)) == NULL)
		return (-1);
	*faq = NULL;
	if (e->faq_path != NULL && *e->faq_path != '\0' &&
	    (*faq = faq_load(e->faq_path, cause)) == NULL) {
		tmpl_set_free(*tmpls);
		*tmpls = NULL;
		return (-1);
	}
	return (0);
}

/* Create an engine: copy the config and load templates and FAQ. */
struct engine *
engine_new(const struct engine_config *cfg, char **cause)
{
	struct engine	*e;

	if (cfg == NULL || cfg->templates_dir == NULL) {
		*cause = xstrdup("engine: no templates directory");
		return (NULL);
	}
	e = xcalloc(1, sizeof *e);
	e->templates_dir = xstrdup(cfg->templates_dir);
	e->faq_path = cfg->faq_path != NULL ? xstrdup(cfg->faq_path) : NULL;
	e->default_lang = xstrdup(cfg->default_lang != NULL &&
	    *cfg->default_lang != '\0' ? cfg->default_lang : "en");
	e->welcome_idle = cfg->welcome_idle > 0 ? cfg->welcome_idle : 0;
	e->max_failures = cfg->max_failures > 0 ? cfg->max_failures : 1;
	e->answer_threshold = cfg->answer_threshold;
	e->confirm_threshold = cfg->confirm_threshold;
	if (e->answer_threshold <= 0 || e->answer_threshold > 1)
		e->answer_threshold = 0.5;
	if (e->confirm_threshold < 0 ||
	    e->confirm_threshold > e->answer_threshold)
		e->confirm_threshold = e->answer_threshold;
	if (engine_load(e, &e->tmpls, &e->faq, cause) != 0) {
		engine_free(e);
		return (NULL);
	}
	log_info("engine", "msg=\"loaded\" templates=%zu faq=%zu",
	    e->tmpls->n, faq_count(e->faq));
	return (e);
}

/* Reload templates and FAQ; on error keep the old ones and return -1. */
int
engine_reload(struct engine *e, char **cause)
{
	struct tmpl_set	*tmpls;
	struct faq	*faq;

	if (engine_load(e, &tmpls, &faq, cause) != 0) {
		log_warnx("engine", "msg=\"reload failed, keeping the old "
		    "templates and FAQ\"");
		return (-1);
	}
	tmpl_set_free(e->tmpls);
	faq_free(e->faq);
	e->tmpls = tmpls;
	e->faq = faq;
	log_info("engine", "msg=\"reloaded\" templates=%zu faq=%zu",
	    e->tmpls->n, faq_count(e->faq));
	return (0);
}

/* Free an engine. */
void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	tmpl_set_free(e->tmpls);
	faq_free(e->faq);
	free(e->templates_dir);
	free(e->faq_path);
	free(e->default_lang);
	free(e);
}

/* Free everything a result holds and zero it. */
void
engine_result_clear(struct engine_result *res)
{
	size_t	i, j;

	if (res == NULL)
		return;
	free(res->state);
	free(res->status);
	free(res->lang);
	free(res->handoff_reason);
	free(res->intent);
	for (i = 0; i < res->nreplies; i++) {
		free(res->replies[i].text);
		for (j = 0; j < res->replies[i].nbuttons; j++) {
			free(res->replies[i].buttons[j].title);
			free(res->replies[i].buttons[j].value);
		}
		free(res->replies[i].buttons);
	}
	free(res->replies);
	memset(res, 0, sizeof *res);
}

/* --- state ------------------------------------------------------------ */

/* Whether a string is a stage a state may rest in. */
static int
engine_is_stage(const char *s)
{
	size_t	i;

	for (i = 0; i < NITEMS(engine_stages); i++) {
		if (strcmp(s, engine_stages[i]) == 0)
			return (1);
	}
	return (0);
}

/* Copy a string member of o into a fixed buffer, if it fits. */
static void
state_get_string(struct json_object *o, const char *key, char *buf,
    size_t size)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	if (strlen(s) < size)
		memcpy(buf, s, strlen(s) + 1);
}

/* An integer member of o, or def. */
static int64_t
state_get_int(struct json_object *o, const char *key, int64_t def)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return (def);
	return (json_object_get_int64(v));
}

/*
 * Parse state JSON.  A missing, empty or damaged state is a new
 * conversation: the engine would rather start afresh than fail a customer's
 * message.
 */
static void
state_parse(const char *text, struct engine_state *st)
{
	struct json_object	*o, *v;

	memset(st, 0, sizeof *st);
	if (text == NULL || *text == '\0')
		return;
	o = json_tokener_parse(text);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		log_warnx("engine", "msg=\"unreadable state, starting "
		    "afresh\"");
		json_object_put(o);
		return;
	}
	state_get_string(o, "stage", st->stage, sizeof st->stage);
	if (!engine_is_stage(st->stage))
		st->stage[0] = '\0';
	state_get_string(o, "lang", st->lang, sizeof st->lang);
	st->failures = (int)state_get_int(o, "failures", 0);
	if (st->failures < 0 || st->failures > 1000)
		st->failures = 0;
	st->last = state_get_int(o, "last", 0);
	st->turn = state_get_int(o, "turn", 0);
	st->csat = (int)state_get_int(o, "csat", 0);
	if (st->csat < 0 || st->csat > 5)
		st->csat = 0;
	if (json_object_object_get_ex(o, "faq", &v) &&
	    json_object_is_type(v, json_type_string))
		st->faq = xstrdup(json_object_get_string(v));
	json_object_put(o);
}

/* Serialize a state (caller frees). */
static char *
state_format(const struct engine_state *st)
{
	struct json_object	*o;
	char			*s;

	o = json_object_new_object();
	json_object_object_add(o, "v",
	    json_object_new_int(ENGINE_STATE_VERSION));
	json_object_object_add(o, "stage", json_object_new_string(st->stage));
	json_object_object_add(o, "lang", json_object_new_string(st->lang));
	json_object_object_add(o, "turn", json_object_new_int64(st->turn));
	json_object_object_add(o, "failures",
	    json_object_new_int(st->failures));
	json_object_object_add(o, "last", json_object_new_int64(st->last));
	if (st->faq != NULL)
		json_object_object_add(o, "faq",
		    json_object_new_string(st->faq));
	if (st->csat != 0)
		json_object_object_add(o, "csat",
		    json_object_new_int(st->csat));
	s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return (s);
}

/* Move to a stage (one of engine_stages). */
static void
state_stage(struct engine_state *st, const char *stage)
{
	xsnprintf(st->stage, sizeof st->stage, "%s", stage);
}

/* Set the pending or last FAQ id (NULL to forget it). */
static void
state_set_faq(struct engine_state *st, const char *id)
{
	free(st->faq);
	st->faq = id != NULL ? xstrdup(id) : NULL;
}

/* Forget a finished conversation: what a new one would start with. */
static void
state_reset(struct engine_state *st)
{
	st->failures = 0;
	st->csat = 0;
	state_set_faq(st, NULL);
	state_stage(st, "welcome");
}

/* --- understanding ---------------------------------------------------- */

/* Typed answers, compared with the message's compact forms. */
static const char *engine_yes[] = {
	"yes", "y", "yeah", "yea", "yep", "yup", "yes please", "sure",
	"correct", "right", "thats right", "thats it", "yes thats it",
	"exactly", "ok", "okay", "indeed", "yes it is",
	"是", "是的", "对", "对的", "对呀", "对啊", "是啊", "是呀", "嗯",
	"嗯嗯", "好", "好的", "没错", "可以", "要", "需要", "是滴", "对滴"
};
static const char *engine_no[] = {
	"no", "n", "nope", "nah", "not really", "no thanks", "no thank you",
	"wrong", "not that", "no its not", "no it isnt",
	"不是", "否", "不", "不对", "没有", "不用", "不用了", "没", "不是的",
	"错", "不要", "不需要", "都不是"
};
/* Extra answers to "did that answer your question?". */
static const char *engine_helped[] = {
	"thanks", "thank you", "thx", "ty", "great", "perfect", "got it",
	"helpful", "that helps", "that helped", "it did", "yes thanks",
	"yes thank you",
	"谢谢", "谢谢你", "好的谢谢", "解决了", "已解决", "明白了", "懂了",
	"知道了", "清楚了", "多谢", "感谢"
};
static const char *engine_not_helped[] = {
	"not helpful", "didnt help", "did not help", "it didnt",
	"no it didnt", "not at all",
	"没解决", "没有解决", "未解决", "没用", "没帮助", "还是不行", "不行"
};
/* "Ask something else" after a failed answer. */
static const char *engine_other[] = {
	"other", "something else", "ask something else", "another question",
	"other question", "a different question",
	"其他", "其他问题", "别的", "别的问题", "问别的", "咨询其他问题",
	"问其他问题", "还有别的问题"
};

/* Greetings: phrases that count, and words and characters allowed. */
static const char *engine_greet_zh[] = {
	"你们好", "大家好", "你好", "您好", "嗨", "哈喽", "哈啰", "哈罗",
	"在不在", "有人在吗", "有人吗", "在吗", "早上好", "上午好",
	"中午好", "下午好", "晚上好", "早安", "喂"
};
static const char *engine_greet_words[] = {
	"hi", "hello", "hey", "hiya", "howdy", "yo", "greetings", "hallo",
	"helo", "heya", "morning", "afternoon", "evening"
};
static const char *engine_greet_extra[] = {
	"good", "there", "all", "everyone", "guys", "team", "folks",
	"anyone", "anybody", "is", "are", "you", "u", "how", "dear", "sir",
	"madam", "kefu", "shop", "support", "theres", "whats", "up", "again"
};
/* Words that may go with a Chinese greeting: 客服你好, 您好请问. */
static const char *engine_greet_zh_extra[] = {
	"客服", "请问", "小助手", "你们"
};
/* Chinese particles that may trail a greeting: 你好呀, 在吗亲. */
static const char engine_greet_fillers[] = "亲啊呀呢吗哦嗯啦哈呐";

/* Asking for a person. */
static const char *engine_human_zh[] = {
	"人工", "真人", "活人", "转接客服"
};
static const char *engine_human_words[] = {
	"human", "humans", "agent", "agents", "operator", "operators",
	"representative", "representatives", "rep"
};

/* Whether s equals one of the n strings in list. */
static int
engine_in(const char *s, const char **list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(s, list[i]) == 0)
			return (1);
	}
	return (0);
}

/* Whether a code point is part of a word (letter, digit, mark or Han). */
static int
engine_is_word(int cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC:
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		return (1);
	default:
		return (0);
	}
}

/*
 * Reduce normalized text to words separated by single spaces, without
 * punctuation; apostrophes vanish ("that's" is "thats").  *nospace gets the
 * same without spaces, which suits Chinese.  Both are caller-freed.
 */
static char *
engine_compact(const char *norm, char **nospace)
{
	struct engine_buf	 b = { NULL, 0, 0 }, c = { NULL, 0, 0 };
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)norm;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	int			 gap = 0;

	engine_buf_add(&b, "", 0);
	engine_buf_add(&c, "", 0);
	while (*p != '\0') {
		n = utf8proc_iterate(p, -1, &cp);
		if (n <= 0) {
			p++;
			continue;
		}
		if (cp == '\'' || cp == 0x2019 || cp == 0x2018) {
			p += n;
			continue;
		}
		if (engine_is_word(cp)) {
			if (gap && b.len > 0)
				engine_buf_add(&b, " ", 1);
			gap = 0;
			engine_buf_add(&b, (const char *)p, (size_t)n);
			engine_buf_add(&c, (const char *)p, (size_t)n);
		} else
			gap = 1;
		p += n;
	}
	*nospace = c.s;
	return (b.s);
}

/* Whether compact text is one of a list, in either compact form. */
static int
engine_says(const char *spaced, const char *nospace, const char **list,
    size_t n)
{
	return (*spaced != '\0' && (engine_in(spaced, list, n) ||
	    engine_in(nospace, list, n)));
}

/* Parse a rating 1 to 5 ("4", "４分", "5 stars", "五星"); 0 if none. */
static int
engine_rating(const char *nospace)
{
	static const char	*numerals[] = { "一", "二", "三", "四", "五" };
	static const char	*tails[] = {
		"", "分", "星", "颗星", "stars", "star", "5", "outof5", "of5"
	};
	const char		*rest = NULL;
	size_t			 i;
	int			 d = 0;

	if (nospace[0] >= '1' && nospace[0] <= '5') {
		d = nospace[0] - '0';
		rest = nospace + 1;
	} else {
		for (i = 0; i < NITEMS(numerals); i++) {
			if (strncmp(nospace, numerals[i],
			    strlen(numerals[i])) == 0) {
				d = (int)i + 1;
				rest = nospace + strlen(numerals[i]);
			}
		}
		if (rest != NULL && *rest == '\0')
			return (0);	/* a bare 一 is not a rating */
	}
	if (rest == NULL || !engine_in(rest, tails, NITEMS(tails)))
		return (0);
	return (d);
}

/* Check one word of a would-be greeting: 1 greeting, 0 allowed, -1 not. */
static int
engine_greet_word(struct engine_buf *w)
{
	int	r = 0;

	if (w->len == 0)
		return (0);
	if (engine_in(w->s, engine_greet_words, NITEMS(engine_greet_words)))
		r = 1;
	else if (!engine_in(w->s, engine_greet_extra,
	    NITEMS(engine_greet_extra)))
		r = -1;
	w->len = 0;
	w->s[0] = '\0';
	return (r);
}

/* Whether normalized text is nothing but a greeting ("hi", "您好！"). */
static int
engine_is_greeting(const char *norm)
{
	struct engine_buf	 w = { NULL, 0, 0 };
	const utf8proc_uint8_t	*p;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	char			*copy, *at;
	size_t			 i;
	int			 hits = 0, ok = 1, r;

	copy = xstrdup(norm);
	for (i = 0; i < NITEMS(engine_greet_zh); i++) {
		while ((at = strstr(copy, engine_greet_zh[i])) != NULL) {
			memset(at, ' ', strlen(engine_greet_zh[i]));
			hits++;
		}
	}
	for (i = 0; i < NITEMS(engine_greet_zh_extra); i++) {
		while ((at = strstr(copy, engine_greet_zh_extra[i])) != NULL)
			memset(at, ' ', strlen(engine_greet_zh_extra[i]));
	}
	engine_buf_add(&w, "", 0);
	for (p = (const utf8proc_uint8_t *)copy; ok && *p != '\0'; p += n) {
		if ((n = utf8proc_iterate(p, -1, &cp)) <= 0) {
			ok = 0;
			break;
		}
		if (faq_is_han(cp)) {
			if ((r = engine_greet_word(&w)) == -1)
				ok = 0;
			hits += r > 0;
			engine_buf_add(&w, (const char *)p, (size_t)n);
			if (strstr(engine_greet_fillers, w.s) == NULL)
				ok = 0;
			w.len = 0;
			w.s[0] = '\0';
		} else if (engine_is_word(cp))
			engine_buf_add(&w, (const char *)p, (size_t)n);
		else if (cp != '\'' && cp != 0x2019) {
			if ((r = engine_greet_word(&w)) == -1)
				ok = 0;
			hits += r > 0;
		}
	}
	if (ok && (r = engine_greet_word(&w)) == -1)
		ok = 0;
	else if (ok)
		hits += r > 0;
	free(w.s);
	free(copy);
	return (ok && hits > 0);
}

/* Whether the customer asks for a person: "人工", "human", "real person". */
static int
engine_wants_human(const char *norm, const char *spaced, const char *value)
{
	static const char	*verbs[] = { "talk", "speak", "chat" };
	static const char	*preps[] = { "to", "with" };
	static const char	*whom[] = {
		"someone", "somebody", "person", "people"
	};
	static const char	*real[] = { "real", "live", "actual" };
	char			*copy, *w[64];
	size_t			 n = 0, i, j;
	int			 found = 0;

	if (value != NULL)
		return (strcmp(value, "human") == 0);
	for (i = 0; i < NITEMS(engine_human_zh); i++) {
		if (strstr(norm, engine_human_zh[i]) != NULL)
			return (1);
	}
	copy = xstrdup(spaced);
	for (w[n] = copy; n < NITEMS(w) - 1 && w[n] != NULL && *w[n] != '\0';
	    n++) {
		if ((w[n + 1] = strchr(w[n], ' ')) != NULL)
			*w[n + 1]++ = '\0';
	}
	for (i = 0; i < n && !found; i++) {
		if (engine_in(w[i], engine_human_words,
		    NITEMS(engine_human_words)))
			found = 1;
		if (i + 1 < n && engine_in(w[i], real, NITEMS(real)) &&
		    (engine_in(w[i + 1], whom, NITEMS(whom)) ||
		    strcmp(w[i + 1], "human") == 0))
			found = 1;
		if (i + 2 < n && engine_in(w[i], verbs, NITEMS(verbs)) &&
		    engine_in(w[i + 1], preps, NITEMS(preps))) {
			j = i + 2;
			if (strcmp(w[j], "a") == 0 && j + 1 < n)
				j++;
			if (engine_in(w[j], whom, NITEMS(whom)))
				found = 1;
		}
	}
	free(copy);
	return (found);
}

/* --- replies ---------------------------------------------------------- */

struct engine_partial_arg {
	const struct engine	*e;
	const char		*lang;
	const char		*channel;
};

/* Find a template: this language and channel, then defaults. */
static const struct tmpl *
engine_tmpl(const struct engine *e, const char *lang, const char *channel,
    const char *name)
{
	const struct tmpl	*t = NULL;

	if (channel == NULL)
		channel = "";
	if (*channel != '\0')
		t = tmpl_find(e->tmpls, lang, channel, name);
	if (t == NULL)
		t = tmpl_find(e->tmpls, lang, "", name);
	if (t == NULL && *channel != '\0')
		t = tmpl_find(e->tmpls, e->default_lang, channel, name);
	if (t == NULL)
		t = tmpl_find(e->tmpls, e->default_lang, "", name);
	return (t);
}

/* Partials ({{> name}}) are other templates' first variants. */
static const char *
engine_partial(void *arg, const char *name)
{
	struct engine_partial_arg	*pa = arg;
	const struct tmpl		*t;

	t = engine_tmpl(pa->e, pa->lang, pa->channel, name);
	return (t != NULL ? t->variants[0] : NULL);
}

/* Choose a variant from the conversation and turn: reproducible. */
static size_t
engine_variant(const struct engine_run *r, const char *name, size_t n)
{
	uint64_t	h = 14695981039346656037ULL, x;
	size_t		i;

	x = (uint64_t)r->ev->conversation_id;
	for (i = 0; i < 8; i++, x >>= 8)
		h = (h ^ (x & 0xff)) * 1099511628211ULL;
	x = (uint64_t)r->st.turn;
	for (i = 0; i < 8; i++, x >>= 8)
		h = (h ^ (x & 0xff)) * 1099511628211ULL;
	for (i = 0; name[i] != '\0'; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
	return ((size_t)(h % n));
}

/* Render a fragment over the context and trim it; NULL on error. */
static char *
engine_render(struct engine_run *r, const struct tmpl *t, const char *text)
{
	struct engine_partial_arg	 pa;
	char				*out, *why, *trimmed;

	pa.e = r->e;
	pa.lang = r->st.lang;
	pa.channel = r->ev->channel;
	if (template_render(text, r->ctx, engine_partial, &pa, &out,
	    &why) != 0) {
		r->cause = xasprintf("%s: %s", t->path, why);
		r->failed = 1;
		free(why);
		return (NULL);
	}
	trimmed = engine_trim(out);
	free(out);
	return (trimmed);
}

/* Render a template into the next reply. */
static void
engine_say(struct engine_run *r, const char *name)
{
	const struct tmpl	*t;
	struct engine_result	*res = r->res;
	struct engine_reply	*reply;
	struct button		*b;
	char			*text, *title;
	size_t			 i;

	if (r->failed)
		return;
	if ((t = engine_tmpl(r->e, r->st.lang, r->ev->channel,
	    name)) == NULL) {
		r->cause = xasprintf("no template \"%s\" for %s", name,
		    r->st.lang);
		r->failed = 1;
		return;
	}
	json_object_object_add(r->ctx, "lang",
	    json_object_new_string(r->st.lang));
	text = engine_render(r, t, t->variants[engine_variant(r, name,
	    t->nvariants)]);
	if (text == NULL)
		return;
	if (*text == '\0') {
		log_debug("engine", "msg=\"empty reply skipped\" template=%s",
		    logq(t->path));
		free(text);
		return;
	}
	res->replies = xreallocarray(res->replies, res->nreplies + 1,
	    sizeof *res->replies);
	reply = &res->replies[res->nreplies++];
	memset(reply, 0, sizeof *reply);
	reply->author = AUTHOR_BOT;
	reply->text = text;
	if (t->nbuttons == 0)
		return;
	reply->buttons = xcalloc(t->nbuttons, sizeof *reply->buttons);
	for (i = 0; i < t->nbuttons; i++) {
		if ((title = engine_render(r, t, t->buttons[i].title)) == NULL)
			return;
		b = &reply->buttons[reply->nbuttons++];
		b->title = title;
		b->value = xstrdup(t->buttons[i].value);
	}
}

/*
 * The value of the button whose title the customer typed, for the
 * template the current stage asked with ("已解决" for the follow_up
 * buttons); NULL if none.
 */
static const char *
engine_typed_button(struct engine_run *r, const char *name)
{
	const struct tmpl	*t;
	char			*title, *norm, *spaced, *nospace;
	const char		*found = NULL;
	size_t			 i;

	if (*r->spaced == '\0' || r->failed)
		return (NULL);
	if ((t = engine_tmpl(r->e, r->st.lang, r->ev->channel, name)) == NULL)
		return (NULL);
	for (i = 0; i < t->nbuttons && found == NULL; i++) {
		if ((title = engine_render(r, t, t->buttons[i].title)) == NULL)
			return (NULL);
		if ((norm = faq_normalize(title)) != NULL) {
			spaced = engine_compact(norm, &nospace);
			if (strcmp(spaced, r->spaced) == 0 ||
			    strcmp(nospace, r->nospace) == 0)
				found = t->buttons[i].value;
			free(spaced);
			free(nospace);
			free(norm);
		}
		free(title);
	}
	return (found);
}

/* --- the dialogue ----------------------------------------------------- */

/* Set what this step understood. */
static void
engine_intent(struct engine_run *r, const char *intent, double confidence)
{
	free(r->res->intent);
	r->res->intent = intent != NULL ? xstrdup(intent) : NULL;
	r->res->confidence = confidence;
}

/* Put a FAQ entry into the context as faq.id, faq.question, faq.answer. */
static void
engine_ctx_faq(struct engine_run *r, const struct faq_entry *fe)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(fe->id));
	json_object_object_add(o, "question",
	    json_object_new_string(fe->question));
	json_object_object_add(o, "answer",
	    json_object_new_string(fe->answer));
	json_object_object_add(r->ctx, "faq", o);
}

/* Hand the conversation to a person; the bot falls silent. */
static void
engine_handoff(struct engine_run *r, const char *reason)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "requested",
	    json_object_new_boolean(strcmp(reason, "requested") == 0));
	json_object_object_add(o, "unanswered",
	    json_object_new_boolean(strcmp(reason, "unanswered") == 0));
	json_object_object_add(r->ctx, "handoff", o);
	engine_say(r, "handoff");
	state_stage(&r->st, "handoff");
	r->st.failures = 0;
	state_set_faq(&r->st, NULL);
	free(r->res->handoff_reason);
	r->res->handoff_reason = xstrdup(reason);
}

/* A turn the bot could not answer: ask again, or hand off at the limit. */
static void
engine_unanswered(struct engine_run *r)
{
	state_set_faq(&r->st, NULL);
	if (r->st.failures >= r->e->max_failures) {
		engine_handoff(r, "unanswered");
		return;
	}
	r->st.failures++;
	state_stage(&r->st, "solve");
	engine_say(r, "fallback");
}

/* Answer with a FAQ entry and ask whether that helped. */
static void
engine_solve(struct engine_run *r, const struct faq_entry *fe, double score)
{
	engine_ctx_faq(r, fe);
	engine_intent(r, fe->id, score);
	engine_say(r, "solve");
	engine_say(r, "follow_up");
	state_stage(&r->st, "follow_up");
	state_set_faq(&r->st, fe->id);
	r->st.failures = 0;
}

/* Find a FAQ entry by id, in the conversation's language if it has one. */
static const struct faq_entry *
engine_faq_entry(struct engine_run *r, const char *id)
{
	const struct faq_entry	*fe;
	size_t			 i;

	if (id == NULL)
		return (NULL);
	if (faq_find(r->e->faq, id, r->st.lang, &fe) == 1)
		return (fe);
	for (i = 0; (fe = faq_entry_at(r->e->faq, i)) != NULL; i++) {
		if (strcmp(fe->id, id) == 0)
			return (fe);
	}
	return (NULL);
}

/* Treat the message as a question: answer, confirm or fall back. */
static void
engine_question(struct engine_run *r)
{
	struct faq_match	m;
	const char		*text = r->ev->text;

	if (text == NULL ||
	    faq_search(r->e->faq, r->st.lang, text, &m, 1) == 0 ||
	    m.score < r->e->confirm_threshold) {
		engine_intent(r, NULL, 0);
		engine_unanswered(r);
		return;
	}
	if (m.score >= r->e->answer_threshold) {
		engine_solve(r, m.entry, m.score);
		return;
	}
	engine_ctx_faq(r, m.entry);
	engine_intent(r, m.entry->id, m.score);
	engine_say(r, "confirm");
	state_stage(&r->st, "confirm");
	state_set_faq(&r->st, m.entry->id);
}

enum engine_answer {
	ANSWER_NONE = 0,
	ANSWER_YES,
	ANSWER_NO,
	ANSWER_OTHER
};

/* Read a yes, no or "something else" from a button value or typed text. */
static enum engine_answer
engine_answer(struct engine_run *r, const char *value, const char *name)
{
	const char	*s = r->spaced, *ns = r->nospace;

	if (value == NULL)
		value = engine_typed_button(r, name);
	if (value != NULL) {
		if (strcmp(value, "yes") == 0)
			return (ANSWER_YES);
		if (strcmp(value, "no") == 0)
			return (ANSWER_NO);
		if (strcmp(value, "other") == 0)
			return (ANSWER_OTHER);
		return (ANSWER_NONE);
	}
	if (engine_says(s, ns, engine_yes, NITEMS(engine_yes)))
		return (ANSWER_YES);
	if (engine_says(s, ns, engine_no, NITEMS(engine_no)))
		return (ANSWER_NO);
	if (strcmp(r->st.stage, "follow_up") == 0) {
		if (engine_says(s, ns, engine_helped, NITEMS(engine_helped)))
			return (ANSWER_YES);
		if (engine_says(s, ns, engine_not_helped,
		    NITEMS(engine_not_helped)))
			return (ANSWER_NO);
	}
	if (strcmp(r->st.stage, "offer") == 0 &&
	    engine_says(s, ns, engine_other, NITEMS(engine_other)))
		return (ANSWER_OTHER);
	return (ANSWER_NONE);
}

/* Ask for a rating. */
static void
engine_csat(struct engine_run *r)
{
	state_stage(&r->st, "csat");
	r->st.failures = 0;
	r->st.csat = 0;
	engine_say(r, "csat");
}

/* Take a rating and thank the customer. */
static void
engine_thanks(struct engine_run *r, int rating)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "rating", json_object_new_int(rating));
	json_object_object_add(o, "low", json_object_new_boolean(rating <= 2));
	json_object_object_add(o, "high",
	    json_object_new_boolean(rating >= 4));
	json_object_object_add(r->ctx, "csat", o);
	r->st.csat = rating;
	engine_intent(r, "csat", 1);
	state_stage(&r->st, "resolved");
	engine_say(r, "thanks");
}

/*
 * If the bot asked something, take the answer: 1 if the message was one,
 * 0 if it should be understood as a new question instead.
 */
static int
engine_on_answer(struct engine_run *r, const char *value)
{
	struct engine_state	*st = &r->st;
	const struct faq_entry	*fe;
	const char		*typed;
	int			 rating;

	if (strcmp(st->stage, "confirm") == 0) {
		switch (engine_answer(r, value, "confirm")) {
		case ANSWER_YES:
			if ((fe = engine_faq_entry(r, st->faq)) == NULL)
				engine_unanswered(r);
			else
				engine_solve(r, fe, 1);
			return (1);
		case ANSWER_NO:
			engine_intent(r, "deny", 1);
			engine_unanswered(r);
			return (1);
		default:
			return (0);
		}
	}
	if (strcmp(st->stage, "follow_up") == 0) {
		switch (engine_answer(r, value, "follow_up")) {
		case ANSWER_YES:
			engine_intent(r, "affirm", 1);
			engine_csat(r);
			return (1);
		case ANSWER_NO:
			engine_intent(r, "deny", 1);
			state_stage(st, "offer");
			engine_say(r, "offer");
			return (1);
		default:
			return (0);
		}
	}
	if (strcmp(st->stage, "offer") == 0) {
		switch (engine_answer(r, value, "offer")) {
		case ANSWER_YES:
			engine_intent(r, "human", 1);
			engine_handoff(r, "requested");
			return (1);
		case ANSWER_NO:
		case ANSWER_OTHER:
			engine_intent(r, "other", 1);
			state_stage(st, "solve");
			st->failures = 0;
			engine_say(r, "anything_else");
			return (1);
		default:
			return (0);
		}
	}
	if (strcmp(st->stage, "csat") == 0) {
		if (value == NULL && (typed = engine_typed_button(r,
		    "csat")) != NULL)
			value = typed;
		rating = engine_rating(value != NULL ? value : r->nospace);
		if (rating == 0)
			return (0);
		engine_thanks(r, rating);
		return (1);
	}
	return (0);
}

/* Whether typed text is a short answer, which must not switch language. */
static int
engine_is_answer_text(struct engine_run *r)
{
	const char	*s = r->spaced, *ns = r->nospace;

	return (engine_says(s, ns, engine_yes, NITEMS(engine_yes)) ||
	    engine_says(s, ns, engine_no, NITEMS(engine_no)) ||
	    engine_says(s, ns, engine_helped, NITEMS(engine_helped)) ||
	    engine_says(s, ns, engine_not_helped, NITEMS(engine_not_helped)) ||
	    engine_rating(ns) != 0);
}

/* Whether typed text is only "thanks" or "ok", which needs no answer. */
static int
engine_is_ack(struct engine_run *r)
{
	const char	*s = r->spaced, *ns = r->nospace;

	return (engine_says(s, ns, engine_yes, NITEMS(engine_yes)) ||
	    engine_says(s, ns, engine_helped, NITEMS(engine_helped)));
}

/* Han characters mean Chinese, Latin letters English; else keep. */
static void
engine_detect_lang(struct engine_run *r)
{
	size_t	han, latin;

	faq_script(r->norm, &han, &latin);
	if (han > 0)
		xsnprintf(r->st.lang, sizeof r->st.lang, "zh-CN");
	else if (latin > 0 && !engine_is_answer_text(r))
		xsnprintf(r->st.lang, sizeof r->st.lang, "en");
}

/* A customer's message or button press. */
static void
engine_on_message(struct engine_run *r)
{
	struct engine_state		*st = &r->st;
	const struct engine_event	*ev = r->ev;
	const char			*value = ev->value;
	int				 fresh, greeting, idle = 0;

	if (value != NULL && *value == '\0')
		value = NULL;
	if (strcmp(st->stage, "handoff") == 0) {
		/* An agent has it: the bot says nothing at all. */
		if (ev->now > 0)
			st->last = ev->now;
		return;
	}
	engine_detect_lang(r);

	if (r->e->welcome_idle > 0 && st->last > 0 && ev->now > 0 &&
	    ev->now - st->last >= (int64_t)r->e->welcome_idle * 1000)
		idle = 1;
	fresh = st->stage[0] == '\0' || strcmp(st->stage, "resolved") == 0 ||
	    idle;
	if (ev->now > 0)
		st->last = ev->now;
	greeting = value == NULL && engine_is_greeting(r->norm);

	if (fresh) {
		state_reset(st);
		engine_say(r, "welcome");
		if (greeting || (value == NULL && engine_is_ack(r))) {
			engine_intent(r, "greeting", 1);
			return;
		}
		if (value == NULL && *r->spaced == '\0')
			return;
		/* A button from an old conversation means nothing now. */
		if (value != NULL && strcmp(value, "human") != 0)
			return;
	} else if (greeting) {
		engine_intent(r, "greeting", 1);
		state_stage(st, "welcome");
		engine_say(r, "welcome");
		return;
	}

	if (engine_wants_human(r->norm, r->spaced, value)) {
		engine_intent(r, "human", 1);
		engine_handoff(r, "requested");
		return;
	}
	if (engine_on_answer(r, value))
		return;
	if (value != NULL) {
		/* A button this stage did not ask for. */
		engine_intent(r, NULL, 0);
		engine_unanswered(r);
		return;
	}
	if (engine_is_ack(r)) {
		/* "Thanks", "ok": polite, and not a failure. */
		engine_intent(r, "thanks", 1);
		engine_say(r, "acknowledge");
		return;
	}
	engine_question(r);
}

/* The status a stage means for the conversation. */
static const char *
engine_status(const char *stage)
{
	if (strcmp(stage, "handoff") == 0)
		return ("pending");
	/*
	 * While the rating is asked for, the conversation stays open so that
	 * the answer reaches it; it resolves with the rating.
	 */
	if (strcmp(stage, "resolved") == 0)
		return ("resolved");
	return ("bot");
}

/* The context every template sees. */
static struct json_object *
engine_context(const struct engine_event *ev)
{
	struct json_object	*ctx, *o;

	ctx = json_object_new_object();
	o = json_object_new_object();
	if (ev->customer_name != NULL && *ev->customer_name != '\0')
		json_object_object_add(o, "name",
		    json_object_new_string(ev->customer_name));
	json_object_object_add(ctx, "customer", o);
	o = json_object_new_object();
	json_object_object_add(o, "id",
	    json_object_new_int64(ev->conversation_id));
	json_object_object_add(o, "channel", json_object_new_string(
	    ev->channel != NULL ? ev->channel : ""));
	json_object_object_add(ctx, "conversation", o);
	return (ctx);
}

/* Run one step of the state machine. */
int
engine_step(struct engine *e, const char *state,
    const struct engine_event *ev, struct engine_result *res, char **cause)
{
	struct engine_run	r;

	memset(res, 0, sizeof *res);
	if (e == NULL || ev == NULL) {
		*cause = xstrdup("engine: no engine or event");
		return (-1);
	}
	memset(&r, 0, sizeof r);
	r.e = e;
	r.ev = ev;
	r.res = res;
	state_parse(state, &r.st);
	if (r.st.lang[0] == '\0')
		xsnprintf(r.st.lang, sizeof r.st.lang, "%s", e->default_lang);
	r.st.turn++;
	if (ev->text == NULL || (r.norm = faq_normalize(ev->text)) == NULL) {
		if (ev->text != NULL)
			log_warnx("engine", "msg=\"text is not UTF-8\" "
			    "conv=%lld", (long long)ev->conversation_id);
		r.norm = xstrdup("");
	}
	r.spaced = engine_compact(r.norm, &r.nospace);
	r.ctx = engine_context(ev);

	switch (ev->type) {
	case ENGINE_EV_MESSAGE:
		engine_on_message(&r);
		break;
	case ENGINE_EV_HANDBACK:
		state_stage(&r.st, "welcome");
		r.st.failures = 0;
		state_set_faq(&r.st, NULL);
		if (ev->now > 0)
			r.st.last = ev->now;
		engine_say(&r, "handback");
		break;
	case ENGINE_EV_RESOLVED:
		state_set_faq(&r.st, NULL);
		engine_csat(&r);
		break;
	default:
		r.failed = 1;
		r.cause = xasprintf("engine: unknown event %d", (int)ev->type);
		break;
	}

	if (!r.failed) {
		res->state = state_format(&r.st);
		res->status = xstrdup(engine_status(r.st.stage));
		res->lang = xstrdup(r.st.lang);
		log_debug("engine", "msg=\"step\" conv=%lld stage=%s "
		    "status=%s intent=%s confidence=%.2f replies=%zu",
		    (long long)ev->conversation_id, r.st.stage, res->status,
		    res->intent != NULL ? res->intent : "-", res->confidence,
		    res->nreplies);
	}
	json_object_put(r.ctx);
	free(r.norm);
	free(r.spaced);
	free(r.nospace);
	free(r.st.faq);
	if (r.failed) {
		engine_result_clear(res);
		*cause = r.cause;
		return (-1);
	}
	return (0);
}
