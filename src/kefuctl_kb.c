/* Placeholder until the kb helper lands; replaced by the real command. */
#include <stdio.h>

#include "kefuctl.h"

int
kefuctl_kb(struct kefu_config *cfg, int argc, char **argv)
{
	fprintf(stderr, "kefuctl: kb: not built yet\n");
	return (1);
}
