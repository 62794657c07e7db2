/*
 * kefuctl's subcommands that live in their own files.  Each takes the
 * loaded configuration and its arguments (argv[0] is the subcommand's own
 * name) and returns the exit status.
 */
#ifndef KEFU_KEFUCTL_H
#define KEFU_KEFUCTL_H

#include <stddef.h>
#include <stdint.h>

struct kefu_config;
struct store;

/* Open the configured store, printing the error; 0 or -1. */
int	kefuctl_open(struct kefu_config *, struct store **);
/*
 * Import each file with fn (which returns how many items it took, or -1
 * with a cause), print "FILE: N noun" per file, and commit; a file that
 * fails is reported and the rest go on.  Returns the exit status.
 */
int	kefuctl_import(struct kefu_config *, struct store *, int, char **,
	    int (*)(struct store *, const char *, char **), const char *);

/* Format a time (ms) for a listing, to the second; "-" for none. */
void	kefuctl_time(int64_t, char *, size_t);

int	kefuctl_nlu(struct kefu_config *, int, char **);
int	kefuctl_kb(struct kefu_config *, int, char **);
int	kefuctl_orders(struct kefu_config *, int, char **);
int	kefuctl_telegram(struct kefu_config *, int, char **);
int	kefuctl_queue(struct kefu_config *, int, char **);
int	kefuctl_agent(struct kefu_config *, int, char **);
int	kefuctl_token(struct kefu_config *, int, char **);

#endif
