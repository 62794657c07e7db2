/*
 * The dialogue engine: a pure state machine over JSON state.
 *
 * engine_step parses the conversation's state, looks at one event and
 * returns the new state, the status, the replies, the actions to run and
 * the timers to set; it never touches a file, a socket or the clock.
 * Everything it needs is loaded beforehand or comes with the event: the
 * templates (templates/<lang>/[<channel>/]<name>.mustache, each file
 * holding one or more variants separated by "---" lines and its quick-reply
 * buttons as "[[button value|Title]]" lines) are loaded by engine_new;
 * what the customer's text means (intent, confidence, entities, sentiment:
 * nlu.c) and what the knowledge base has on it (kb.c) are worked out by the
 * pipeline and passed in the event; so are the results of actions (an
 * order look-up) and the timers that fell due.  engine_reload builds a
 * complete new template set and swaps it in only if all of it loaded.
 *
 * The state records the stage the bot is resting in, which is what it is
 * waiting for: "welcome" (a first question), "solve" (a rephrased or new
 * question), "confirm" (yes or no to "did you mean" or "shall I look up
 * order 12345"), "ask_order" (an order number), "action" (the result of
 * a look-up), "follow_up" (yes or no to "did that solve it"), "offer" (a
 * person or another question), "csat" (a rating), "handoff" (silence
 * until an agent hands back) and "resolved".  What a confirm or an
 * ask_order is about is kept in the state's "pending" object, so that a
 * "yes" gets exactly the answer or the look-up that was proposed.
 *
 * Business hours need the local time of a named zone without I/O at step
 * time: engine_new asks the C library once for the zone's UTC offsets
 * from 2000 to 2100 and keeps the changes (engine_zone_load).
 *
 * docs/engine.md describes the stages, the state, the rules for handing
 * off and the file formats.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <utf8proc.h>

#include "engine.h"
#include "kb.h"
#include "log.h"
#include "nlu.h"
#include "template.h"
#include "util.h"
#include "xmalloc.h"

#define ENGINE_MAX_TEMPLATE	(64 * 1024)
#define ENGINE_STATE_VERSION	2
#define ENGINE_MAX_PENDING	(32 * 1024)	/* bytes of state "pending" */

#define NITEMS(a) (sizeof (a) / sizeof (a)[0])

/* Templates every language directory must have. */
static const char *engine_required[] = {
	"welcome", "confirm", "solve", "follow_up", "fallback", "handoff",
	"after_hours", "csat", "thanks", "handback", "offer", "anything_else",
	"acknowledge", "goodbye", "ask_order", "order_status",
	"order_not_found", "action_failed", "reminder", "auto_resolved"
};

/* The stages a state may rest in. */
static const char *engine_stages[] = {
	"welcome", "solve", "confirm", "ask_order", "action", "follow_up",
	"offer", "csat", "handoff", "resolved"
};

/* The kinds of timer the engine sets. */
static const char *engine_timer_kinds[] = {
	"followup", "resolve", "action"
};

/* Order states the templates name themselves (order.is.known). */
static const char *engine_order_states[] = {
	"pending", "paid", "processing", "packed", "shipped", "in_transit",
	"out_for_delivery", "delivered", "cancelled", "returned", "refunded",
	"exception"
};

/* Weekday names, Monday first, as business_hours.days writes them. */
static const char *engine_days[] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun"
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
	char			*partial;	/* variants[0] less its \n */
	struct tmpl_button	*buttons;
	size_t			 nbuttons;
};

struct tmpl_set {
	struct tmpl	*v;
	size_t		 n;
};

/* A change of a time zone's offset from UTC. */
struct zone_change {
	int64_t	 at;		/* seconds since the epoch */
	int32_t	 offset;	/* seconds east of UTC from then on */
};

struct engine {
	char			*templates_dir;
	char			*default_lang;
	int			 welcome_idle;
	int			 max_failures;
	double			 nlu_min;
	double			 answer;
	double			 kb_min;
	double			 kb_answer;
	double			 sentiment;
	char			**human_only;
	size_t			 nhuman_only;
	int			 followup_delay;
	int			 resolve_delay;
	int			 action_timeout;

	int			 days;		/* 0: always open */
	int			 open;
	int			 close;
	struct zone_change	*zone;
	size_t			 nzone;

	struct tmpl_set		*tmpls;
};

/* The parsed state of one conversation. */
struct engine_state {
	char			 stage[16];	/* "" for a new conversation */
	char			 lang[16];
	char			 asked[32];	/* template of the buttons */
	int			 failures;
	int64_t			 last;		/* last customer message, ms */
	int64_t			 turn;
	int			 csat;		/* the rating given, 0 none */
	int			 reminded;	/* the reminder went */
	char			*topic;		/* intent last answered */
	struct json_object	*pending;	/* what confirm/ask is about */
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
	int				 timers;  /* rearm timers at the end */
	char				 prev[16]; /* the stage before */
	char				*cause;
	int				 failed;
};

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
	free(t->partial);
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
tmpl_end_variant(struct tmpl *t, struct dbuf *b, size_t *lines,
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
	struct dbuf	 b = { NULL, 0, 0 };
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
			dbuf_add(&b, raw, len);
			dbuf_add(&b, "\n", 1);
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
	/* Used inline as a partial, the file's last newline is not text. */
	len = strlen(t->variants[0]);
	while (len > 0 && t->variants[0][len - 1] == '\n')
		len--;
	t->partial = xstrndup(t->variants[0], len);
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

/* --- time zones and business hours ---------------------------------- */

/* The offset from UTC, in seconds, of local time at t (current TZ). */
static int32_t
zone_offset_now(time_t t)
{
	struct tm	tm;

	if (localtime_r(&t, &tm) == NULL)
		return (0);
	return ((int32_t)tm.tm_gmtoff);
}

/* Record that the offset is off from at on. */
static void
zone_add(struct engine *e, int64_t at, int32_t off)
{
	e->zone = xreallocarray(e->zone, e->nzone + 1, sizeof *e->zone);
	e->zone[e->nzone].at = at;
	e->zone[e->nzone].offset = off;
	e->nzone++;
}

/*
 * Work out a zone's offsets from 2000 to 2100: the offset at each day's
 * start, and where it changes, the exact second by bisection.  The C
 * library reads the tz database; TZ is set for the duration and put back.
 */
static void
engine_zone_load(struct engine *e, const char *tz)
{
	const int64_t	 from = INT64_C(946684800);	/* 2000-01-01 */
	const int64_t	 to = INT64_C(4102444800);	/* 2100-01-01 */
	char		*saved = NULL;
	const char	*old;
	int64_t		 t, lo, hi, mid;
	int32_t		 off, last;

	if (tz != NULL && *tz != '\0') {
		if ((old = getenv("TZ")) != NULL)
			saved = xstrdup(old);
		setenv("TZ", tz, 1);
	}
	tzset();
	last = zone_offset_now((time_t)from);
	zone_add(e, from, last);
	for (t = from + 86400; t < to; t += 86400) {
		if ((off = zone_offset_now((time_t)t)) == last)
			continue;
		lo = t - 86400;
		hi = t;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (zone_offset_now((time_t)mid) == last)
				lo = mid;
			else
				hi = mid;
		}
		zone_add(e, hi, off);
		last = off;
	}
	if (tz != NULL && *tz != '\0') {
		if (saved != NULL)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		free(saved);
		tzset();
	}
}

/* The zone's offset from UTC at t (seconds since the epoch). */
static int32_t
engine_offset(const struct engine *e, int64_t t)
{
	size_t	lo = 0, hi = e->nzone, mid;

	if (e->nzone == 0)
		return (0);
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (e->zone[mid].at <= t)
			lo = mid;
		else
			hi = mid;
	}
	return (e->zone[lo].offset);
}

/* Days since the epoch and weekday (Monday 0) of a local time in s. */
static int64_t
engine_local_day(int64_t local, int *wday, int *minute)
{
	int64_t	day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	int64_t	sec = local - day * 86400;

	/* 1970-01-01 was a Thursday. */
	*wday = (int)(((day % 7) + 7 + 3) % 7);
	*minute = (int)(sec / 60);
	return (day);
}

/* Whether people answer at now (ms); if not, *next is when they do. */
int
engine_hours_open(const struct engine *e, int64_t now, int64_t *next)
{
	int64_t	t = now / 1000, local, day, at;
	int	wday, minute, k, w;

	if (e->days == 0)
		return (1);
	local = t + engine_offset(e, t);
	day = engine_local_day(local, &wday, &minute);
	if ((e->days & (1 << wday)) && minute >= e->open && minute < e->close)
		return (1);
	for (k = 0; k <= 7; k++) {
		w = (wday + k) % 7;
		if (!(e->days & (1 << w)) || (k == 0 && minute >= e->open))
			continue;
		at = (day + k) * 86400 + (int64_t)e->open * 60;
		/* Local to UTC: the offset is the one in force then. */
		at -= engine_offset(e, at - engine_offset(e, at));
		if (next != NULL)
			*next = at * 1000;
		return (0);
	}
	if (next != NULL)
		*next = 0;
	return (0);
}

/* --- the engine ------------------------------------------------------ */

/* Create an engine: copy the config and load the templates. */
struct engine *
engine_new(const struct engine_config *cfg, char **cause)
{
	struct engine	*e;
	size_t		 i;

	if (cfg == NULL || cfg->templates_dir == NULL) {
		*cause = xstrdup("engine: no templates directory");
		return (NULL);
	}
	e = xcalloc(1, sizeof *e);
	e->templates_dir = xstrdup(cfg->templates_dir);
	e->default_lang = xstrdup(cfg->default_lang != NULL &&
	    *cfg->default_lang != '\0' ? cfg->default_lang : "en");
	e->welcome_idle = cfg->welcome_idle > 0 ? cfg->welcome_idle : 0;
	e->max_failures = cfg->max_failures > 0 ? cfg->max_failures : 1;
	e->answer = cfg->answer_threshold;
	if (e->answer <= 0 || e->answer > 1)
		e->answer = 0.6;
	e->nlu_min = cfg->nlu_min_confidence;
	if (e->nlu_min < 0 || e->nlu_min > e->answer)
		e->nlu_min = e->answer;
	e->kb_min = cfg->kb_min_score > 0 ? cfg->kb_min_score : 0.3;
	e->kb_answer = cfg->kb_answer_score;
	if (e->kb_answer < e->kb_min || e->kb_answer > 1)
		e->kb_answer = 1;
	e->sentiment = cfg->handoff_sentiment;
	if (e->sentiment < -1 || e->sentiment > 1)
		e->sentiment = -1;
	for (i = 0; i < cfg->nhuman_only; i++) {
		e->human_only = xreallocarray(e->human_only,
		    e->nhuman_only + 1, sizeof *e->human_only);
		e->human_only[e->nhuman_only++] = xstrdup(cfg->human_only[i]);
	}
	e->followup_delay = cfg->followup_delay > 0 ?
	    cfg->followup_delay : 300;
	e->resolve_delay = cfg->resolve_delay > 0 ? cfg->resolve_delay : 900;
	e->action_timeout = cfg->action_timeout > 0 ?
	    cfg->action_timeout : 10000;

	e->days = cfg->hours.days & 0x7f;
	e->open = cfg->hours.open;
	e->close = cfg->hours.close;
	if (e->days == 0x7f && e->open <= 0 && e->close >= 1440)
		e->days = 0;	/* always */
	if (e->days != 0 && (e->open < 0 || e->close > 1440 ||
	    e->open >= e->close)) {
		*cause = xasprintf("engine: business hours %d to %d are not "
		    "an interval of a day", e->open, e->close);
		engine_free(e);
		return (NULL);
	}
	if (e->days != 0)
		engine_zone_load(e, cfg->hours.timezone);

	if ((e->tmpls = tmpl_load(e->templates_dir, e->default_lang,
	    cause)) == NULL) {
		engine_free(e);
		return (NULL);
	}
	log_info("engine", "msg=\"loaded\" templates=%zu", e->tmpls->n);
	return (e);
}

/* Reload the templates; on error keep the old ones and return -1. */
int
engine_reload(struct engine *e, char **cause)
{
	struct tmpl_set	*tmpls;

	if ((tmpls = tmpl_load(e->templates_dir, e->default_lang,
	    cause)) == NULL) {
		log_warnx("engine", "msg=\"reload failed, keeping the old "
		    "templates\"");
		return (-1);
	}
	tmpl_set_free(e->tmpls);
	e->tmpls = tmpls;
	log_info("engine", "msg=\"reloaded\" templates=%zu", e->tmpls->n);
	return (0);
}

/* Free an engine. */
void
engine_free(struct engine *e)
{
	size_t	i;

	if (e == NULL)
		return;
	tmpl_set_free(e->tmpls);
	for (i = 0; i < e->nhuman_only; i++)
		free(e->human_only[i]);
	free(e->human_only);
	free(e->zone);
	free(e->templates_dir);
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
	for (i = 0; i < res->nactions; i++) {
		free(res->actions[i].name);
		json_object_put(res->actions[i].params);
	}
	free(res->actions);
	for (i = 0; i < res->ncancel; i++)
		free(res->cancel[i]);
	free(res->cancel);
	for (i = 0; i < res->ntimers; i++)
		free(res->timers[i].kind);
	free(res->timers);
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
 * message.  Version 1 states (before the NLU) read as well: their "faq" is
 * forgotten.
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
	state_get_string(o, "asked", st->asked, sizeof st->asked);
	st->failures = (int)state_get_int(o, "failures", 0);
	if (st->failures < 0 || st->failures > 1000)
		st->failures = 0;
	st->last = state_get_int(o, "last", 0);
	st->turn = state_get_int(o, "turn", 0);
	st->csat = (int)state_get_int(o, "csat", 0);
	if (st->csat < 0 || st->csat > 5)
		st->csat = 0;
	st->reminded = state_get_int(o, "reminded", 0) != 0;
	if (json_object_object_get_ex(o, "topic", &v) &&
	    json_object_is_type(v, json_type_string))
		st->topic = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "pending", &v) &&
	    json_object_is_type(v, json_type_object))
		st->pending = json_object_get(v);
	/* A stage that needs a pending object is useless without one. */
	if (st->pending == NULL && (strcmp(st->stage, "confirm") == 0 ||
	    strcmp(st->stage, "ask_order") == 0 ||
	    strcmp(st->stage, "action") == 0))
		memcpy(st->stage, "solve", sizeof "solve");
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
	if (st->asked[0] != '\0')
		json_object_object_add(o, "asked",
		    json_object_new_string(st->asked));
	if (st->topic != NULL)
		json_object_object_add(o, "topic",
		    json_object_new_string(st->topic));
	if (st->pending != NULL)
		json_object_object_add(o, "pending",
		    json_object_get(st->pending));
	if (st->reminded)
		json_object_object_add(o, "reminded", json_object_new_int(1));
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

/* Set the topic (NULL to forget it). */
static void
state_set_topic(struct engine_state *st, const char *intent)
{
	free(st->topic);
	st->topic = intent != NULL ? xstrdup(intent) : NULL;
}

/* Set what a confirm or ask_order is about (taken; NULL to forget). */
static void
state_set_pending(struct engine_state *st, struct json_object *o)
{
	json_object_put(st->pending);
	st->pending = o;
}

/* A string member of the pending object, or NULL. */
static const char *
state_pending_str(const struct engine_state *st, const char *key)
{
	struct json_object	*v;

	if (st->pending == NULL ||
	    !json_object_object_get_ex(st->pending, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* Forget a finished conversation: what a new one would start with. */
static void
state_reset(struct engine_state *st)
{
	st->failures = 0;
	st->csat = 0;
	st->reminded = 0;
	st->asked[0] = '\0';
	state_set_topic(st, NULL);
	state_set_pending(st, NULL);
	state_stage(st, "welcome");
}

/* Free what a parsed state holds. */
static void
state_clear(struct engine_state *st)
{
	free(st->topic);
	json_object_put(st->pending);
	memset(st, 0, sizeof *st);
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

/* Whether a code point is a Han character. */
static int
engine_is_han(int cp)
{
	return ((cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0x20000 && cp <= 0x2fa1f) ||
	    (cp >= 0x30000 && cp <= 0x3134f));
}

/*
 * NFKC and case folding (full-width "ＡＢＣ１２３" is "abc123"); the caller
 * frees.  NULL if s is not valid UTF-8.
 */
static char *
engine_normalize(const char *s)
{
	utf8proc_uint8_t	*out = NULL;
	utf8proc_ssize_t	 n;

	n = utf8proc_map((const utf8proc_uint8_t *)s, 0, &out,
	    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPAT |
	    UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
	if (n < 0) {
		free(out);
		return (NULL);
	}
	return ((char *)out);
}

/* Count the Han characters and the Latin letters of normalized text. */
static void
engine_script(const char *s, size_t *han, size_t *latin)
{
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;

	*han = *latin = 0;
	while (*p != '\0') {
		if ((n = utf8proc_iterate(p, -1, &cp)) <= 0) {
			p++;
			continue;
		}
		if (engine_is_han(cp))
			(*han)++;
		else if (cp < 0x250 && (utf8proc_category(cp) ==
		    UTF8PROC_CATEGORY_LL || utf8proc_category(cp) ==
		    UTF8PROC_CATEGORY_LU))
			(*latin)++;
		p += n;
	}
}

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
	struct dbuf	 b = { NULL, 0, 0 }, c = { NULL, 0, 0 };
	const utf8proc_uint8_t	*p = (const utf8proc_uint8_t *)norm;
	utf8proc_int32_t	 cp;
	utf8proc_ssize_t	 n;
	int			 gap = 0;

	dbuf_add(&b, "", 0);
	dbuf_add(&c, "", 0);
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
				dbuf_add(&b, " ", 1);
			gap = 0;
			dbuf_add(&b, (const char *)p, (size_t)n);
			dbuf_add(&c, (const char *)p, (size_t)n);
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
engine_greet_word(struct dbuf *w)
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
	struct dbuf	 w = { NULL, 0, 0 };
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
	dbuf_add(&w, "", 0);
	for (p = (const utf8proc_uint8_t *)copy; ok && *p != '\0'; p += n) {
		if ((n = utf8proc_iterate(p, -1, &cp)) <= 0) {
			ok = 0;
			break;
		}
		if (engine_is_han(cp)) {
			if ((r = engine_greet_word(&w)) == -1)
				ok = 0;
			hits += r > 0;
			dbuf_add(&w, (const char *)p, (size_t)n);
			if (strstr(engine_greet_fillers, w.s) == NULL)
				ok = 0;
			w.len = 0;
			w.s[0] = '\0';
		} else if (engine_is_word(cp))
			dbuf_add(&w, (const char *)p, (size_t)n);
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
	return (t != NULL ? t->partial : NULL);
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
	/* Typed titles of these buttons count as presses (engine_answer). */
	xsnprintf(r->st.asked, sizeof r->st.asked, "%s", name);
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
		if ((norm = engine_normalize(title)) != NULL) {
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

/* A KB hit this much weaker than the best still wins if its intent fits. */
#define ENGINE_KB_PREFER	0.75

/* Set what this step understood. */
static void
engine_intent(struct engine_run *r, const char *intent, double confidence)
{
	free(r->res->intent);
	r->res->intent = intent != NULL ? xstrdup(intent) : NULL;
	r->res->confidence = confidence;
}

/* The NLU's intent if it is confident enough to count, else NULL. */
static const char *
engine_nlu_intent(struct engine_run *r, double *conf)
{
	const struct nlu_result	*n = r->ev->nlu;

	*conf = 0;
	if (n == NULL || n->intent == NULL)
		return (NULL);
	*conf = n->confidence;
	if (n->confidence < r->e->nlu_min)
		return (NULL);
	return (n->intent);
}

/* Whether the NLU is sure enough to act that the intent is this one. */
static int
engine_nlu_is(struct engine_run *r, const char *intent)
{
	const struct nlu_result	*n = r->ev->nlu;

	return (n != NULL && n->intent != NULL &&
	    strcmp(n->intent, intent) == 0 && n->confidence >= r->e->answer);
}

/* The first entity of a type the NLU found, or NULL. */
static const char *
engine_entity(struct engine_run *r, const char *type)
{
	const struct nlu_result	*n = r->ev->nlu;
	size_t			 i;

	if (n == NULL)
		return (NULL);
	for (i = 0; i < n->nentities; i++) {
		if (strcmp(n->entities[i].type, type) == 0 &&
		    n->entities[i].value != NULL &&
		    *n->entities[i].value != '\0')
			return (n->entities[i].value);
	}
	return (NULL);
}

/* Whether an intent is one only people handle. */
static int
engine_is_human_only(const struct engine *e, const char *intent)
{
	size_t	i;

	for (i = 0; i < e->nhuman_only; i++) {
		if (strcmp(e->human_only[i], intent) == 0)
			return (1);
	}
	return (0);
}

/* The action an intent is served by, or NULL. */
static const char *
engine_action_for(const char *intent)
{
	if (intent != NULL && strcmp(intent, "order_status") == 0)
		return ("order_status");
	return (NULL);
}

/* Ask for a timer of this kind to be cancelled. */
static void
engine_timer_cancel(struct engine_run *r, const char *kind)
{
	struct engine_result	*res = r->res;

	res->cancel = xreallocarray(res->cancel, res->ncancel + 1,
	    sizeof *res->cancel);
	res->cancel[res->ncancel++] = xstrdup(kind);
}

/* Ask for a timer of this kind to be set (replacing one of that kind). */
static void
engine_timer_set(struct engine_run *r, const char *kind, int64_t due)
{
	struct engine_result	*res = r->res;

	res->timers = xreallocarray(res->timers, res->ntimers + 1,
	    sizeof *res->timers);
	res->timers[res->ntimers].kind = xstrdup(kind);
	res->timers[res->ntimers].due = due;
	res->ntimers++;
}

/*
 * After the customer (or an agent, or an action) moved the conversation:
 * cancel the timers (only a waiting stage can have any) and set the one
 * the new stage waits with.
 */
static void
engine_timers_for_stage(struct engine_run *r)
{
	struct engine_state	*st = &r->st;
	int64_t			 now = r->ev->now;
	size_t			 i;

	if (strcmp(r->prev, "follow_up") == 0 ||
	    strcmp(r->prev, "csat") == 0 || strcmp(r->prev, "action") == 0) {
		for (i = 0; i < NITEMS(engine_timer_kinds); i++)
			engine_timer_cancel(r, engine_timer_kinds[i]);
	}
	if (strcmp(st->stage, "follow_up") == 0) {
		st->reminded = 0;
		engine_timer_set(r, "followup",
		    now + (int64_t)r->e->followup_delay * 1000);
	} else if (strcmp(st->stage, "csat") == 0)
		engine_timer_set(r, "resolve",
		    now + (int64_t)r->e->resolve_delay * 1000);
	else if (strcmp(st->stage, "action") == 0)
		engine_timer_set(r, "action", now + r->e->action_timeout);
}

/* Move to a stage; stages that need no pending object forget it. */
static void
engine_stage(struct engine_run *r, const char *stage)
{
	state_stage(&r->st, stage);
	if (strcmp(stage, "confirm") != 0 && strcmp(stage, "ask_order") != 0 &&
	    strcmp(stage, "action") != 0)
		state_set_pending(&r->st, NULL);
}

/* A knowledge-base hit as the object templates and the state keep. */
static struct json_object *
engine_kb_object(const struct kb_hit *h)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(h->id));
	json_object_object_add(o, "question",
	    json_object_new_string(h->question != NULL ? h->question : ""));
	json_object_object_add(o, "answer",
	    json_object_new_string(h->answer != NULL ? h->answer : ""));
	if (h->intent != NULL && *h->intent != '\0')
		json_object_object_add(o, "intent",
		    json_object_new_string(h->intent));
	json_object_object_add(o, "score",
	    json_object_new_double(h->score));
	return (o);
}

/* A string member of an object, or NULL. */
static const char *
engine_obj_str(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* A member of an object, or NULL. */
static struct json_object *
engine_obj(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return (NULL);
	return (v);
}

/* Put the local date and time of business hours into the context. */
static void
engine_ctx_hours(struct engine_run *r, int64_t next)
{
	const struct engine	*e = r->e;
	struct json_object	*hours, *o;
	struct tm		 tm;
	time_t			 t;
	int64_t			 local, now_local, day, today;
	int			 wday, minute, w2, m2;
	char			 buf[32];

	hours = json_object_new_object();
	xsnprintf(buf, sizeof buf, "%02d:%02d", e->open / 60, e->open % 60);
	json_object_object_add(hours, "open", json_object_new_string(buf));
	xsnprintf(buf, sizeof buf, "%02d:%02d", e->close / 60, e->close % 60);
	json_object_object_add(hours, "close", json_object_new_string(buf));
	if (next > 0) {
		local = next / 1000 + engine_offset(e, next / 1000);
		now_local = r->ev->now / 1000 + engine_offset(e,
		    r->ev->now / 1000);
		day = engine_local_day(local, &wday, &minute);
		today = engine_local_day(now_local, &w2, &m2);
		o = json_object_new_object();
		t = (time_t)local;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
		json_object_object_add(o, "date", json_object_new_string(buf));
		xsnprintf(buf, sizeof buf, "%02d:%02d", minute / 60,
		    minute % 60);
		json_object_object_add(o, "time", json_object_new_string(buf));
		json_object_object_add(o, "day",
		    json_object_new_string(engine_days[wday]));
		json_object_object_add(o, engine_days[wday],
		    json_object_new_boolean(1));
		json_object_object_add(o, "today",
		    json_object_new_boolean(day == today));
		json_object_object_add(o, "tomorrow",
		    json_object_new_boolean(day == today + 1));
		json_object_object_add(o, "later",
		    json_object_new_boolean(day > today + 1));
		json_object_object_add(hours, "next", o);
	}
	json_object_object_add(r->ctx, "hours", hours);
}

/*
 * Hand the conversation to a person; the bot falls silent.  Outside
 * business hours the customer is told when people are back.
 */
static void
engine_handoff(struct engine_run *r, const char *reason)
{
	struct json_object	*o;
	int64_t			 next = 0;

	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, reason, json_object_new_boolean(1));
	json_object_object_add(r->ctx, "handoff", o);
	if (!engine_hours_open(r->e, r->ev->now, &next)) {
		engine_ctx_hours(r, next);
		engine_say(r, "after_hours");
		r->res->after_hours = 1;
		r->res->back_at = next;
	} else
		engine_say(r, "handoff");
	engine_stage(r, "handoff");
	r->st.failures = 0;
	r->st.asked[0] = '\0';
	free(r->res->handoff_reason);
	r->res->handoff_reason = xstrdup(reason);
}

/* A turn the bot could not answer: ask again, or hand off at the limit. */
static void
engine_unanswered(struct engine_run *r)
{
	if (r->st.failures >= r->e->max_failures) {
		engine_handoff(r, "unanswered");
		return;
	}
	r->st.failures++;
	engine_stage(r, "solve");
	engine_say(r, "fallback");
}

/* Answer with a knowledge-base entry (taken) and ask whether it helped. */
static void
engine_solve(struct engine_run *r, struct json_object *kb)
{
	const char	*intent = engine_obj_str(kb, "intent");

	json_object_object_add(r->ctx, "kb", kb);
	engine_say(r, "solve");
	engine_say(r, "follow_up");
	engine_stage(r, "follow_up");
	state_set_topic(&r->st, intent != NULL ? intent : r->res->intent);
	r->st.failures = 0;
}

/* Ask "do you mean ...?" about a knowledge-base entry (taken). */
static void
engine_confirm_kb(struct engine_run *r, struct json_object *kb)
{
	struct json_object	*p;

	json_object_object_add(r->ctx, "kb", json_object_get(kb));
	engine_say(r, "confirm");
	engine_stage(r, "confirm");
	p = json_object_new_object();
	json_object_object_add(p, "kind", json_object_new_string("kb"));
	json_object_object_add(p, "kb", kb);
	state_set_pending(&r->st, p);
}

/* The pending object of an action, with its order number or none. */
static struct json_object *
engine_action_pending(const char *action, const char *intent,
    const char *order_id)
{
	struct json_object	*p, *slots;

	p = json_object_new_object();
	json_object_object_add(p, "kind", json_object_new_string("action"));
	json_object_object_add(p, "action", json_object_new_string(action));
	json_object_object_add(p, "intent", json_object_new_string(intent));
	if (order_id != NULL) {
		slots = json_object_new_object();
		json_object_object_add(slots, "order_id",
		    json_object_new_string(order_id));
		json_object_object_add(p, "slots", slots);
	}
	return (p);
}

/* The order number of the pending action, or NULL. */
static const char *
engine_pending_order(struct engine_run *r)
{
	return (engine_obj_str(engine_obj(r->st.pending, "slots"),
	    "order_id"));
}

/* Ask for the order number an action needs. */
static void
engine_ask_order(struct engine_run *r, const char *action,
    const char *intent, int invalid)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "invalid",
	    json_object_new_boolean(invalid));
	json_object_object_add(r->ctx, "slot", o);
	engine_say(r, "ask_order");
	engine_stage(r, "ask_order");
	state_set_pending(&r->st, engine_action_pending(action, intent, NULL));
}

/* Ask "shall I look up order 12345?" before doing it. */
static void
engine_confirm_action(struct engine_run *r, const char *action,
    const char *intent, const char *order_id)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(order_id));
	json_object_object_add(r->ctx, "order", o);
	engine_say(r, "confirm");
	engine_stage(r, "confirm");
	state_set_pending(&r->st, engine_action_pending(action, intent,
	    order_id));
}

/* Ask the pipeline to run an action; its result comes back as an event. */
static void
engine_run_action(struct engine_run *r, const char *action,
    const char *intent, const char *order_id)
{
	struct engine_result	*res = r->res;
	struct json_object	*params;

	params = json_object_new_object();
	json_object_object_add(params, "order_id",
	    json_object_new_string(order_id));
	res->actions = xreallocarray(res->actions, res->nactions + 1,
	    sizeof *res->actions);
	res->actions[res->nactions].name = xstrdup(action);
	res->actions[res->nactions].params = params;
	res->nactions++;
	engine_stage(r, "action");
	state_set_pending(&r->st, engine_action_pending(action, intent,
	    order_id));
}

/*
 * Choose the knowledge-base entry for a question: the best hit of the
 * conversation's language that passes kb_min_score, unless a hit of the
 * classified intent is nearly as good.  NULL if none passes.
 */
static const struct kb_hit *
engine_choose_kb(struct engine_run *r, const char *intent)
{
	const struct kb_hit	*h, *best = NULL, *match = NULL;
	size_t			 i;

	for (i = 0; i < r->ev->nkb; i++) {
		h = &r->ev->kb[i];
		if (h->score < r->e->kb_min || h->answer == NULL)
			continue;
		if (h->lang != NULL && *h->lang != '\0' &&
		    strcmp(h->lang, r->st.lang) != 0)
			continue;
		if (best == NULL || h->score > best->score)
			best = h;
		if (intent != NULL && h->intent != NULL &&
		    strcmp(h->intent, intent) == 0 &&
		    (match == NULL || h->score > match->score))
			match = h;
	}
	if (match != NULL && match->score >= best->score * ENGINE_KB_PREFER)
		return (match);
	return (best);
}

/* Offer a person or another question. */
static void
engine_offer(struct engine_run *r, const char *template)
{
	engine_stage(r, "offer");
	engine_say(r, template);
}

/* Treat the message as a question: act, answer, confirm or fall back. */
static void
engine_question(struct engine_run *r)
{
	const struct kb_hit	*h;
	struct json_object	*kb;
	const char		*intent, *action, *order_id;
	double			 conf;

	intent = engine_nlu_intent(r, &conf);
	engine_intent(r, intent, intent != NULL ? conf : 0);

	if (intent != NULL && engine_is_human_only(r->e, intent)) {
		engine_handoff(r, "human_only");
		return;
	}
	/*
	 * An action's intent: confirm the order number, or ask for it; but
	 * when unsure, with no number and a knowledge-base candidate, the
	 * message is treated as a question (the candidate is confirmed).
	 */
	if ((action = engine_action_for(intent)) != NULL) {
		order_id = engine_entity(r, "order_id");
		if (order_id != NULL)
			engine_confirm_action(r, action, intent, order_id);
		else if (conf >= r->e->answer ||
		    engine_choose_kb(r, intent) == NULL)
			engine_ask_order(r, action, intent, 0);
		else
			action = NULL;
		if (action != NULL)
			return;
	}
	if (intent != NULL && strcmp(intent, "human") == 0) {
		/* Not sure enough to hand off outright: offer. */
		engine_offer(r, "offer");
		return;
	}

	/*
	 * Answer outright when the entry is of the intent understood and
	 * either is sure enough, or when the entry is for something the
	 * intents do not cover (no intent) and matches very well; else ask.
	 */
	if ((h = engine_choose_kb(r, intent)) != NULL) {
		kb = engine_kb_object(h);
		/* What was understood is what is answered or proposed. */
		if (h->intent == NULL || intent == NULL ||
		    strcmp(h->intent, intent) != 0)
			engine_intent(r, h->intent, h->score);
		if ((intent != NULL && h->intent != NULL &&
		    strcmp(h->intent, intent) == 0 && (conf >= r->e->answer ||
		    h->score >= r->e->kb_answer)) ||
		    (h->intent == NULL && h->score >= r->e->kb_answer))
			engine_solve(r, kb);
		else
			engine_confirm_kb(r, kb);
		return;
	}
	engine_unanswered(r);
}

enum engine_answer {
	ANSWER_NONE = 0,
	ANSWER_YES,
	ANSWER_NO,
	ANSWER_OTHER
};

/* Read a yes, no or "something else" from a button value or typed text. */
static enum engine_answer
engine_answer(struct engine_run *r, const char *value)
{
	const char	*s = r->spaced, *ns = r->nospace;

	if (value == NULL && r->st.asked[0] != '\0')
		value = engine_typed_button(r, r->st.asked);
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
	if (engine_nlu_is(r, "affirm"))
		return (ANSWER_YES);
	if (engine_nlu_is(r, "deny"))
		return (ANSWER_NO);
	return (ANSWER_NONE);
}

/* Ask for a rating. */
static void
engine_csat(struct engine_run *r)
{
	engine_stage(r, "csat");
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
	r->res->csat = rating;
	engine_intent(r, "csat", 1);
	engine_stage(r, "resolved");
	engine_say(r, "thanks");
}

/* "Sure, what else?": back to waiting for a question. */
static void
engine_anything_else(struct engine_run *r)
{
	engine_stage(r, "solve");
	r->st.failures = 0;
	engine_say(r, "anything_else");
}

/* A yes or no to "do you mean" or "shall I look it up": 1 if it was. */
static int
engine_on_confirm(struct engine_run *r, const char *value)
{
	struct engine_state	*st = &r->st;
	struct json_object	*kb;
	const char		*kind, *action, *intent, *order_id;

	switch (engine_answer(r, value)) {
	case ANSWER_YES:
		kind = state_pending_str(st, "kind");
		if (kind != NULL && strcmp(kind, "kb") == 0 &&
		    (kb = engine_obj(st->pending, "kb")) != NULL &&
		    json_object_is_type(kb, json_type_object)) {
			intent = engine_obj_str(kb, "intent");
			engine_intent(r, intent, 1);
			if (intent != NULL &&
			    engine_is_human_only(r->e, intent))
				engine_handoff(r, "human_only");
			else
				engine_solve(r, json_object_get(kb));
			return (1);
		}
		action = state_pending_str(st, "action");
		intent = state_pending_str(st, "intent");
		order_id = engine_pending_order(r);
		if (kind != NULL && strcmp(kind, "action") == 0 &&
		    action != NULL && intent != NULL && order_id != NULL) {
			engine_intent(r, intent, 1);
			/* Copies: the pending object is replaced. */
			action = xstrdup(action);
			intent = xstrdup(intent);
			order_id = xstrdup(order_id);
			engine_run_action(r, action, intent, order_id);
			free((char *)action);
			free((char *)intent);
			free((char *)order_id);
			return (1);
		}
		engine_intent(r, NULL, 0);
		engine_unanswered(r);
		return (1);
	case ANSWER_NO:
		engine_intent(r, "deny", 1);
		engine_unanswered(r);
		return (1);
	default:
		return (0);
	}
}

/*
 * An answer to "what is your order number?": the number (the NLU found an
 * order_id entity), no, something the bot cannot use (asked again, a
 * failure) or a new question (0).
 */
static int
engine_on_ask_order(struct engine_run *r, const char *value)
{
	struct engine_state	*st = &r->st;
	const char		*order_id, *other;
	char			*action, *intent;
	double			 conf;

	action = xstrdup(state_pending_str(st, "action") != NULL ?
	    state_pending_str(st, "action") : "order_status");
	intent = xstrdup(state_pending_str(st, "intent") != NULL ?
	    state_pending_str(st, "intent") : action);
	order_id = value == NULL ? engine_entity(r, "order_id") : NULL;
	if (order_id != NULL) {
		engine_intent(r, intent, 1);
		engine_run_action(r, action, intent, order_id);
		goto done;
	}
	if (engine_answer(r, value) == ANSWER_NO) {
		engine_intent(r, "deny", 1);
		engine_anything_else(r);
		goto done;
	}
	other = engine_nlu_intent(r, &conf);
	if (value != NULL || (other != NULL && conf >= r->e->answer &&
	    strcmp(other, intent) != 0)) {
		free(action);
		free(intent);
		return (0);
	}
	engine_intent(r, intent, conf);
	if (st->failures >= r->e->max_failures)
		engine_handoff(r, "unanswered");
	else {
		st->failures++;
		engine_ask_order(r, action, intent, 1);
	}
done:
	free(action);
	free(intent);
	return (1);
}

/*
 * If the bot asked something, take the answer: 1 if the message was one,
 * 0 if it should be understood as a new question instead.
 */
static int
engine_on_answer(struct engine_run *r, const char *value)
{
	struct engine_state	*st = &r->st;
	const char		*typed;
	int			 rating;

	if (strcmp(st->stage, "confirm") == 0)
		return (engine_on_confirm(r, value));
	if (strcmp(st->stage, "ask_order") == 0)
		return (engine_on_ask_order(r, value));
	if (strcmp(st->stage, "follow_up") == 0) {
		switch (engine_answer(r, value)) {
		case ANSWER_YES:
			engine_intent(r, "affirm", 1);
			engine_csat(r);
			return (1);
		case ANSWER_NO:
			engine_intent(r, "deny", 1);
			engine_offer(r, "offer");
			return (1);
		default:
			return (0);
		}
	}
	if (strcmp(st->stage, "offer") == 0) {
		switch (engine_answer(r, value)) {
		case ANSWER_YES:
			engine_intent(r, "human", 1);
			engine_handoff(r, "requested");
			return (1);
		case ANSWER_NO:
		case ANSWER_OTHER:
			engine_intent(r, "other", 1);
			engine_anything_else(r);
			return (1);
		default:
			return (0);
		}
	}
	if (strcmp(st->stage, "csat") == 0) {
		if (value == NULL && st->asked[0] != '\0' &&
		    (typed = engine_typed_button(r, st->asked)) != NULL)
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

	engine_script(r->norm, &han, &latin);
	if (han > 0)
		xsnprintf(r->st.lang, sizeof r->st.lang, "zh-CN");
	else if (latin > 0 && !engine_is_answer_text(r))
		xsnprintf(r->st.lang, sizeof r->st.lang, "en");
}

/* Whether the message's sentiment is bad enough to hand off. */
static int
engine_is_upset(struct engine_run *r, const char *value)
{
	const struct nlu_result	*n = r->ev->nlu;

	return (value == NULL && n != NULL && r->e->sentiment > -1 &&
	    n->sentiment < r->e->sentiment && !engine_is_answer_text(r));
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
	r->timers = 1;
	if (ev->nlu != NULL)
		r->res->sentiment = ev->nlu->sentiment;
	engine_detect_lang(r);

	if (r->e->welcome_idle > 0 && st->last > 0 && ev->now > 0 &&
	    ev->now - st->last >= (int64_t)r->e->welcome_idle * 1000)
		idle = 1;
	fresh = st->stage[0] == '\0' || strcmp(st->stage, "resolved") == 0 ||
	    idle;
	if (ev->now > 0)
		st->last = ev->now;
	greeting = value == NULL && (engine_is_greeting(r->norm) ||
	    (engine_nlu_is(r, "greeting") &&
	    engine_entity(r, "order_id") == NULL));

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
		engine_stage(r, "welcome");
		engine_say(r, "welcome");
		return;
	}

	if (engine_wants_human(r->norm, r->spaced, value) ||
	    (value == NULL && engine_nlu_is(r, "human"))) {
		engine_intent(r, "human", 1);
		engine_handoff(r, "requested");
		return;
	}
	if (engine_is_upset(r, value)) {
		engine_intent(r, ev->nlu->intent, ev->nlu->confidence);
		engine_handoff(r, "sentiment");
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
	if (engine_is_ack(r) || engine_nlu_is(r, "thanks") ||
	    engine_nlu_is(r, "affirm")) {
		/* "Thanks", "ok": polite, and not a failure. */
		engine_intent(r, "thanks", 1);
		engine_say(r, "acknowledge");
		return;
	}
	if (engine_nlu_is(r, "goodbye")) {
		engine_intent(r, "goodbye", ev->nlu->confidence);
		engine_stage(r, "resolved");
		engine_say(r, "goodbye");
		return;
	}
	if (engine_nlu_is(r, "deny")) {
		engine_intent(r, "deny", ev->nlu->confidence);
		engine_anything_else(r);
		return;
	}
	engine_question(r);
}

/* Normalize an order status for order.is: "In Transit" is in_transit. */
static char *
engine_status_key(const char *s)
{
	char	*k = xstrdup(s), *p;

	for (p = k; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (*p == ' ' || *p == '-')
			*p = '_';
	}
	return (k);
}

/* The order object templates see: the action's fields, id and is.*. */
static struct json_object *
engine_order_object(struct json_object *result, const char *order_id)
{
	struct json_object	*o = NULL, *is;
	const char		*status;
	char			*key;
	size_t			 i;
	int			 known = 0;

	if (result != NULL && json_object_is_type(result, json_type_object) &&
	    json_object_deep_copy(result, &o, NULL) != 0)
		o = NULL;
	if (o == NULL)
		o = json_object_new_object();
	if (order_id != NULL)
		json_object_object_add(o, "id",
		    json_object_new_string(order_id));
	is = json_object_new_object();
	if ((status = engine_obj_str(o, "status")) != NULL && *status != '\0') {
		key = engine_status_key(status);
		for (i = 0; i < NITEMS(engine_order_states); i++) {
			if (strcmp(key, engine_order_states[i]) == 0)
				known = 1;
		}
		json_object_object_add(is, key, json_object_new_boolean(1));
		free(key);
	}
	json_object_object_add(is, "known", json_object_new_boolean(known));
	json_object_object_add(o, "is", is);
	return (o);
}

/* The result of an action: say what it found, or apologize. */
static void
engine_on_action(struct engine_run *r, const char *name,
    enum engine_action_status status, struct json_object *result)
{
	struct engine_state	*st = &r->st;
	const char		*want;
	char			*action, *intent, *order_id;

	want = state_pending_str(st, "action");
	if (strcmp(st->stage, "action") != 0 || want == NULL ||
	    name == NULL || strcmp(want, name) != 0) {
		/* Late or unasked for: the customer has moved on. */
		log_debug("engine", "msg=\"action result ignored\" conv=%lld "
		    "action=%s stage=%s", (long long)r->ev->conversation_id,
		    name != NULL ? name : "-", st->stage);
		return;
	}
	r->timers = 1;
	action = xstrdup(want);
	intent = xstrdup(state_pending_str(st, "intent") != NULL ?
	    state_pending_str(st, "intent") : want);
	order_id = engine_pending_order(r) != NULL ?
	    xstrdup(engine_pending_order(r)) : NULL;
	engine_intent(r, intent, 1);
	if (status == ENGINE_ACTION_OK && result == NULL)
		status = ENGINE_ACTION_FAILED;
	json_object_object_add(r->ctx, "order",
	    engine_order_object(status == ENGINE_ACTION_OK ? result : NULL,
	    order_id));
	switch (status) {
	case ENGINE_ACTION_OK:
		engine_say(r, "order_status");
		engine_say(r, "follow_up");
		engine_stage(r, "follow_up");
		state_set_topic(st, intent);
		st->failures = 0;
		break;
	case ENGINE_ACTION_NOT_FOUND:
		engine_say(r, "order_not_found");
		if (st->failures >= r->e->max_failures) {
			engine_handoff(r, "unanswered");
			break;
		}
		st->failures++;
		engine_stage(r, "ask_order");
		state_set_pending(st, engine_action_pending(action, intent,
		    NULL));
		break;
	default:
		engine_offer(r, "action_failed");
		break;
	}
	free(action);
	free(intent);
	free(order_id);
}

/* A timer the engine set is due. */
static void
engine_on_timer(struct engine_run *r)
{
	struct engine_state	*st = &r->st;
	const char		*kind = r->ev->timer;
	size_t			 i;

	if (kind == NULL)
		kind = "";
	if (strcmp(kind, "followup") == 0 &&
	    strcmp(st->stage, "follow_up") == 0 && !st->reminded) {
		st->reminded = 1;
		engine_say(r, "reminder");
		engine_timer_set(r, "resolve", r->ev->now +
		    (int64_t)r->e->resolve_delay * 1000);
		return;
	}
	if (strcmp(kind, "resolve") == 0 &&
	    (strcmp(st->stage, "follow_up") == 0 ||
	    strcmp(st->stage, "csat") == 0)) {
		engine_intent(r, "auto_resolved", 1);
		engine_say(r, "auto_resolved");
		engine_stage(r, "resolved");
		st->asked[0] = '\0';
		for (i = 0; i < NITEMS(engine_timer_kinds); i++)
			engine_timer_cancel(r, engine_timer_kinds[i]);
		return;
	}
	if (strcmp(kind, "action") == 0 && strcmp(st->stage, "action") == 0) {
		/* The look-up never came back (a restart, say). */
		engine_on_action(r, state_pending_str(st, "action"),
		    ENGINE_ACTION_FAILED, NULL);
		return;
	}
	log_debug("engine", "msg=\"timer ignored\" conv=%lld kind=%s "
	    "stage=%s", (long long)r->ev->conversation_id, kind, st->stage);
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

/* Put what the NLU understood into the context: intent, entities. */
static void
engine_ctx_nlu(struct json_object *ctx, const struct nlu_result *n)
{
	struct json_object	*o;
	size_t			 i;

	if (n == NULL)
		return;
	if (n->intent != NULL) {
		o = json_object_new_object();
		json_object_object_add(o, "name",
		    json_object_new_string(n->intent));
		json_object_object_add(o, "confidence",
		    json_object_new_double(n->confidence));
		json_object_object_add(ctx, "intent", o);
	}
	o = json_object_new_object();
	for (i = 0; i < n->nentities; i++) {
		if (n->entities[i].type == NULL ||
		    n->entities[i].value == NULL ||
		    json_object_object_get_ex(o, n->entities[i].type, NULL))
			continue;
		json_object_object_add(o, n->entities[i].type,
		    json_object_new_string(n->entities[i].value));
	}
	json_object_object_add(ctx, "entities", o);
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
	if (ev->type == ENGINE_EV_MESSAGE)
		engine_ctx_nlu(ctx, ev->nlu);
	return (ctx);
}

/* Whether a message could need knowledge-base hits (see engine.h). */
int
engine_wants_kb(const struct engine *e, const char *value,
    const struct nlu_result *n)
{
	static const char	*small_talk[] = {
		"greeting", "thanks", "goodbye", "affirm", "deny", "human"
	};
	size_t			 i;

	if (value != NULL && *value != '\0')
		return (0);
	if (n == NULL || n->intent == NULL || n->confidence < e->answer)
		return (1);
	for (i = 0; i < NITEMS(small_talk); i++) {
		if (strcmp(n->intent, small_talk[i]) == 0)
			return (0);
	}
	return (1);
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
	memcpy(r.prev, r.st.stage, sizeof r.prev);
	if (r.st.lang[0] == '\0')
		xsnprintf(r.st.lang, sizeof r.st.lang, "%s", e->default_lang);
	r.st.turn++;
	if (ev->type != ENGINE_EV_MESSAGE || ev->text == NULL ||
	    (r.norm = engine_normalize(ev->text)) == NULL) {
		if (ev->type == ENGINE_EV_MESSAGE && ev->text != NULL)
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
		r.timers = 1;
		engine_stage(&r, "welcome");
		r.st.failures = 0;
		if (ev->now > 0)
			r.st.last = ev->now;
		engine_say(&r, "handback");
		break;
	case ENGINE_EV_RESOLVED:
		r.timers = 1;
		engine_csat(&r);
		break;
	case ENGINE_EV_ACTION_RESULT:
		engine_on_action(&r, ev->action, ev->action_status,
		    ev->action_result);
		break;
	case ENGINE_EV_TIMER:
		engine_on_timer(&r);
		break;
	default:
		r.failed = 1;
		r.cause = xasprintf("engine: unknown event %d", (int)ev->type);
		break;
	}
	if (!r.failed && r.timers)
		engine_timers_for_stage(&r);

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
	state_clear(&r.st);
	if (r.failed) {
		engine_result_clear(res);
		*cause = r.cause;
		return (-1);
	}
	return (0);
}
