/* bandgate: the daemon and its command-line client. This file grows with the gateway-core issue; for now it
 * answers --version and --help so that packaging and the README can rely on them. */
#include <stdio.h>
#include <string.h>

#include "bandgate-version.h"

static void usage(FILE *out)
{
	fputs("Usage: bandgate [run] [--config FILE]\n"
	      "       bandgate --help | --version\n"
	      "A Bluetooth-LE-to-network gateway for the Xiaomi Mi Band 2.\n", out);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("bandgate %s\n", BANDGATE_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
