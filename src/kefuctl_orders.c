/* Placeholder until the orders helper lands; replaced by the real command. */
#include <stdio.h>

#include "kefuctl.h"

int
kefuctl_orders(struct kefu_config *cfg, int argc, char **argv)
{
	fprintf(stderr, "kefuctl: orders: not built yet\n");
	return (1);
}
