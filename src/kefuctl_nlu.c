/* Placeholder until the nlu helper lands; replaced by the real command. */
#include <stdio.h>

#include "kefuctl.h"

int
kefuctl_nlu(struct kefu_config *cfg, int argc, char **argv)
{
	fprintf(stderr, "kefuctl: nlu: not built yet\n");
	return (1);
}
