/*
 * kefuctl agent and kefuctl token: the inbox's accounts and API tokens.
 *
 * Passwords never come from the command line (it shows in ps and shell
 * history): they are read from standard input, one line, or, when that is
 * a terminal, typed twice with echo off.  A new API token is printed once,
 * alone on standard output so a script can capture it; only its hash is
 * stored.  Nothing here prints a password or a stored hash.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "kefuctl.h"
#include "store.h"
#include "xmalloc.h"

/* The terminal's settings while echo is off, to restore on a signal. */
static struct termios		kefuctl_tio;
static volatile sig_atomic_t	kefuctl_tio_off;

/* The time now in milliseconds since the epoch. */
static int64_t
kefuctl_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Restore the terminal and die of the signal as if nothing caught it. */
static void
kefuctl_agent_signal(int sig)
{
	if (kefuctl_tio_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &kefuctl_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Read one line of at most size - 1 bytes into buf without its line end.
 * 0, or -1 with a message printed (nothing read, or the line too long).
 */
static int
kefuctl_read_line(char *buf, size_t size)
{
	size_t	len;
	int	c;

	if (fgets(buf, (int)size, stdin) == NULL) {
		fprintf(stderr, "kefuctl: no password on standard input\n");
		return (-1);
	}
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (!feof(stdin)) {
		while ((c = getchar()) != EOF && c != '\n')
			/* drain */;
		sodium_memzero(buf, size);
		fprintf(stderr, "kefuctl: password too long (at most %d "
		    "bytes)\n", AUTH_PASSWORD_MAX);
		return (-1);
	}
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return (0);
}

/* Prompt on the terminal and read a line with echo off; 0 or -1. */
static int
kefuctl_read_hidden(const char *prompt, char *buf, size_t size)
{
	struct termios	off;
	int		rc;

	if (tcgetattr(STDIN_FILENO, &kefuctl_tio) != 0) {
		fprintf(stderr, "kefuctl: terminal: %s\n", strerror(errno));
		return (-1);
	}
	off = kefuctl_tio;
	off.c_lflag &= ~(ECHO | ECHONL);
	off.c_lflag |= ICANON;
	kefuctl_tio_off = 1;
	signal(SIGINT, kefuctl_agent_signal);
	signal(SIGTERM, kefuctl_agent_signal);
	signal(SIGHUP, kefuctl_agent_signal);
	signal(SIGQUIT, kefuctl_agent_signal);
	signal(SIGTSTP, SIG_IGN);
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &off) != 0) {
		kefuctl_tio_off = 0;
		fprintf(stderr, "\nkefuctl: terminal: %s\n", strerror(errno));
		return (-1);
	}
	rc = kefuctl_read_line(buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &kefuctl_tio);
	kefuctl_tio_off = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGTSTP, SIG_DFL);
	fprintf(stderr, "\n");
	return (rc);
}

/*
 * Read a new password for name into buf (AUTH_PASSWORD_MAX + 2 bytes):
 * typed twice on a terminal, else one line of standard input.  0 or -1.
 */
static int
kefuctl_password(const char *name, char *buf, size_t size)
{
	char	 again[AUTH_PASSWORD_MAX + 2], *prompt;
	int	 rc;

	if (!isatty(STDIN_FILENO))
		return (kefuctl_read_line(buf, size));
	prompt = xasprintf("New password for %s: ", name);
	rc = kefuctl_read_hidden(prompt, buf, size);
	free(prompt);
	if (rc != 0)
		return (-1);
	if (kefuctl_read_hidden("Again: ", again, sizeof again) != 0) {
		sodium_memzero(buf, size);
		return (-1);
	}
	rc = strcmp(buf, again) == 0 ? 0 : -1;
	sodium_memzero(again, sizeof again);
	if (rc != 0) {
		sodium_memzero(buf, size);
		fprintf(stderr, "kefuctl: the passwords differ\n");
	}
	return (rc);
}

/* Parse --max-open's value: 0 and *n, or -1 with a message. */
static int
kefuctl_max_open(const char *s, int *n)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000) {
		fprintf(stderr, "kefuctl: bad --max-open: %s (0 to 1000)\n", s);
		return (-1);
	}
	*n = (int)v;
	return (0);
}

/* Commit and close; the exit status (rc if the commit worked). */
static int
kefuctl_agent_done(struct kefu_config *cfg, struct store *s, int rc)
{
	char	*cause = NULL;

	if (rc == 0 && store_commit(s, &cause) != 0) {
		fprintf(stderr, "kefuctl: %s: %s\n", cfg->store_path, cause);
		free(cause);
		rc = 1;
	}
	store_close(s);
	return (rc);
}

/* Print agent's usage. */
static void
kefuctl_agent_usage(void)
{
	fprintf(stderr,
	    "usage: kefuctl agent add NAME --role admin|agent "
	    "[--display-name TEXT] [--max-open N]\n"
	    "       kefuctl agent set NAME [--role admin|agent] "
	    "[--display-name TEXT] [--max-open N]\n"
	    "       kefuctl agent list\n"
	    "       kefuctl agent passwd|disable|enable|unlock NAME\n"
	    "The password is read from standard input (one line), or typed "
	    "twice on a terminal.\n");
}

/* One line of agent list. */
static int
kefuctl_agent_print(void *arg, const struct agent *a)
{
	char	seen[32];

	kefuctl_time(a->last_seen_at, seen, sizeof seen);
	printf("%-5lld %-20s %-6s %-8s %8d  %-19s  %s\n", (long long)a->id,
	    a->name, agent_role_name(a->role),
	    a->disabled ? "disabled" : "enabled", a->max_open, seen,
	    a->display_name);
	return (0);
}

/* kefuctl agent add and set: the options after NAME; 0 or -1. */
static int
kefuctl_agent_options(int argc, char **argv, int *has_role,
    enum agent_role *role, const char **display, int *max_open)
{
	int	i;

	for (i = 0; i < argc; i++) {
		if (i + 1 >= argc) {
			kefuctl_agent_usage();
			return (-1);
		}
		if (strcmp(argv[i], "--role") == 0) {
			if (agent_role_parse(argv[++i], role) != 0) {
				fprintf(stderr, "kefuctl: bad --role: %s "
				    "(admin or agent)\n", argv[i]);
				return (-1);
			}
			*has_role = 1;
		} else if (strcmp(argv[i], "--display-name") == 0)
			*display = argv[++i];
		else if (strcmp(argv[i], "--max-open") == 0) {
			if (kefuctl_max_open(argv[++i], max_open) != 0)
				return (-1);
		} else {
			kefuctl_agent_usage();
			return (-1);
		}
	}
	return (0);
}

/* kefuctl agent add NAME --role R [--display-name X] [--max-open N]. */
static int
kefuctl_agent_add(struct kefu_config *cfg, const char *name, int argc,
    char **argv)
{
	struct store	*s;
	enum agent_role	 role = AGENT_ROLE_AGENT;
	const char	*display = NULL;
	char		 pw[AUTH_PASSWORD_MAX + 2], *cause = NULL;
	int64_t		 id;
	int		 has_role = 0, max_open = -1, rc;

	if (kefuctl_agent_options(argc, argv, &has_role, &role, &display,
	    &max_open) != 0)
		return (1);
	if (!has_role) {
		fprintf(stderr, "kefuctl: agent add needs --role admin or "
		    "--role agent\n");
		return (1);
	}
	if (!auth_name_ok(name)) {
		fprintf(stderr, "kefuctl: bad agent name: %s (1 to %d of a-z "
		    "0-9 . _ -)\n", name, AUTH_NAME_MAX);
		return (1);
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	if (kefuctl_password(name, pw, sizeof pw) != 0) {
		store_close(s);
		return (1);
	}
	rc = auth_agent_add(s, name, display, role, pw, kefuctl_now(), &id,
	    &cause);
	sodium_memzero(pw, sizeof pw);
	if (rc == 0 && max_open >= 0 && auth_agent_update(s, name, NULL, NULL,
	    max_open, kefuctl_now(), &cause) != 1)
		rc = -1;
	if (rc != 0) {
		fprintf(stderr, "kefuctl: agent add %s: %s\n", name,
		    cause != NULL ? cause : "failed");
		free(cause);
		store_close(s);
		return (1);
	}
	rc = kefuctl_agent_done(cfg, s, 0);
	if (rc == 0)
		printf("agent %s added (id %lld, %s)\n", name, (long long)id,
		    agent_role_name(role));
	return (rc);
}

/* kefuctl agent set NAME [--role R] [--display-name X] [--max-open N]. */
static int
kefuctl_agent_set(struct kefu_config *cfg, const char *name, int argc,
    char **argv)
{
	struct store	*s;
	enum agent_role	 role;
	const char	*display = NULL;
	char		*cause = NULL;
	int		 has_role = 0, max_open = -1, rc;

	if (argc == 0) {
		kefuctl_agent_usage();
		return (1);
	}
	if (kefuctl_agent_options(argc, argv, &has_role, &role, &display,
	    &max_open) != 0)
		return (1);
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	rc = auth_agent_update(s, name, has_role ? &role : NULL, display,
	    max_open, kefuctl_now(), &cause);
	if (rc != 1) {
		fprintf(stderr, "kefuctl: agent set %s: %s\n", name,
		    rc == 0 ? "no such agent" : cause);
		free(cause);
		store_close(s);
		return (1);
	}
	if ((rc = kefuctl_agent_done(cfg, s, 0)) == 0)
		printf("agent %s changed\n", name);
	return (rc);
}

/* kefuctl agent passwd|disable|enable|unlock NAME. */
static int
kefuctl_agent_one(struct kefu_config *cfg, const char *verb,
    const char *name)
{
	struct store	*s;
	char		 pw[AUTH_PASSWORD_MAX + 2], *cause = NULL;
	int		 rc;

	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	if (strcmp(verb, "passwd") == 0) {
		if (kefuctl_password(name, pw, sizeof pw) != 0) {
			store_close(s);
			return (1);
		}
		rc = auth_agent_passwd(s, name, pw, kefuctl_now(), &cause);
		sodium_memzero(pw, sizeof pw);
	} else if (strcmp(verb, "unlock") == 0) {
		if ((rc = auth_unlock(s, name)) == 0) {
			printf("%s had no failed logins\n", name);
			store_close(s);
			return (0);
		}
	} else
		rc = auth_agent_set_disabled(s, name,
		    strcmp(verb, "disable") == 0, kefuctl_now(), &cause);
	if (rc != 1) {
		fprintf(stderr, "kefuctl: agent %s %s: %s\n", verb, name,
		    rc == 0 ? "no such agent" : cause != NULL ? cause :
		    "failed");
		free(cause);
		store_close(s);
		return (1);
	}
	if ((rc = kefuctl_agent_done(cfg, s, 0)) == 0)
		printf("agent %s: %s\n", name, strcmp(verb, "passwd") == 0 ?
		    "password set, sessions ended" : strcmp(verb, "unlock") ==
		    0 ? "failed logins forgotten" : strcmp(verb, "disable") ==
		    0 ? "disabled, sessions ended" : "enabled");
	return (rc);
}

/* kefuctl agent: add, set, list, passwd, disable, enable, unlock. */
int
kefuctl_agent(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	const char	*verb = argc >= 2 ? argv[1] : "";
	int		 rc;

	if (strcmp(verb, "list") == 0 && argc == 2) {
		if (kefuctl_open(cfg, &s) != 0)
			return (1);
		printf("%-5s %-20s %-6s %-8s %8s  %-19s  %s\n", "ID", "NAME",
		    "ROLE", "STATE", "MAX_OPEN", "LAST_SEEN", "DISPLAY_NAME");
		rc = auth_agent_list(s, kefuctl_agent_print, NULL);
		store_close(s);
		return (rc == 0 ? 0 : 1);
	}
	if (argc < 3) {
		kefuctl_agent_usage();
		return (1);
	}
	if (strcmp(verb, "add") == 0)
		return (kefuctl_agent_add(cfg, argv[2], argc - 3, argv + 3));
	if (strcmp(verb, "set") == 0)
		return (kefuctl_agent_set(cfg, argv[2], argc - 3, argv + 3));
	if (argc == 3 && (strcmp(verb, "passwd") == 0 ||
	    strcmp(verb, "disable") == 0 || strcmp(verb, "enable") == 0 ||
	    strcmp(verb, "unlock") == 0))
		return (kefuctl_agent_one(cfg, verb, argv[2]));
	kefuctl_agent_usage();
	return (1);
}

/* Print token's usage. */
static void
kefuctl_token_usage(void)
{
	fprintf(stderr, "usage: kefuctl token add NAME --agent AGENT\n"
	    "       kefuctl token list\n"
	    "       kefuctl token revoke NAME\n");
}

/* One line of token list. */
static int
kefuctl_token_print(void *arg, const struct api_token *t)
{
	char	created[32], used[32], revoked[32];

	kefuctl_time(t->created_at, created, sizeof created);
	kefuctl_time(t->last_used_at, used, sizeof used);
	kefuctl_time(t->revoked_at, revoked, sizeof revoked);
	printf("%-5lld %-20s %-20s %-19s  %-19s  %s\n", (long long)t->id,
	    t->name, t->agent_name, created, used,
	    t->revoked_at != 0 ? revoked : "live");
	return (0);
}

/* kefuctl token add NAME --agent AGENT: print the new token once. */
static int
kefuctl_token_add(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	struct agent	 a;
	char		*token = NULL, *cause = NULL;
	int		 rc;

	if (argc != 5 || strcmp(argv[3], "--agent") != 0) {
		kefuctl_token_usage();
		return (1);
	}
	if (kefuctl_open(cfg, &s) != 0)
		return (1);
	if ((rc = auth_agent_find(s, argv[4], &a)) != 1) {
		fprintf(stderr, "kefuctl: token add %s: %s %s\n", argv[2],
		    rc == 0 ? "no such agent:" : "could not read agent",
		    argv[4]);
		store_close(s);
		return (1);
	}
	rc = auth_token_add(s, argv[2], a.id, kefuctl_now(), &token, &cause);
	if (rc != 0) {
		fprintf(stderr, "kefuctl: token add %s: %s\n", argv[2], cause);
		free(cause);
		agent_clear(&a);
		store_close(s);
		return (1);
	}
	if ((rc = kefuctl_agent_done(cfg, s, 0)) == 0) {
		fprintf(stderr, "token %s acts as agent %s; it is shown only "
		    "this once:\n", argv[2], a.name);
		printf("%s\n", token);
	}
	sodium_memzero(token, strlen(token));
	free(token);
	agent_clear(&a);
	return (rc);
}

/* kefuctl token: add, list, revoke. */
int
kefuctl_token(struct kefu_config *cfg, int argc, char **argv)
{
	struct store	*s;
	const char	*verb = argc >= 2 ? argv[1] : "";
	int		 rc;

	if (strcmp(verb, "add") == 0)
		return (kefuctl_token_add(cfg, argc, argv));
	if (strcmp(verb, "list") == 0 && argc == 2) {
		if (kefuctl_open(cfg, &s) != 0)
			return (1);
		printf("%-5s %-20s %-20s %-19s  %-19s  %s\n", "ID", "NAME",
		    "AGENT", "CREATED", "LAST_USED", "REVOKED");
		rc = auth_token_list(s, kefuctl_token_print, NULL);
		store_close(s);
		return (rc == 0 ? 0 : 1);
	}
	if (strcmp(verb, "revoke") == 0 && argc == 3) {
		if (kefuctl_open(cfg, &s) != 0)
			return (1);
		if ((rc = auth_token_revoke(s, argv[2], kefuctl_now())) != 1) {
			fprintf(stderr, "kefuctl: token revoke %s: %s\n",
			    argv[2], rc == 0 ? "no live token of that name" :
			    "failed");
			store_close(s);
			return (1);
		}
		if ((rc = kefuctl_agent_done(cfg, s, 0)) == 0)
			printf("token %s revoked\n", argv[2]);
		return (rc);
	}
	kefuctl_token_usage();
	return (1);
}
