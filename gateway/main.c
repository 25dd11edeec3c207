/* bandgate: the daemon and its command-line client. This file grows with the gateway-core issue; today it
 * validates configuration files (--check-config) and answers --help and --version. */
#include <stdio.h>
#include <string.h>

#include "bandgate-version.h"
#include "config.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
	fputs("Usage: bandgate [run] [--config FILE]\n"
	      "       bandgate --check-config [--config FILE]   (or -n) validate and print the effective config\n"
	      "       bandgate --help | --version\n"
	      "A Bluetooth-LE-to-network gateway for the Xiaomi Mi Band 2.\n"
	      "Default config: " CONFIG_DEFAULT_PATH " (every key optional; without the file, the defaults).\n", out);
}

/* --check-config: the file named (or the default one, if it exists) over the defaults. */
static int check_config(const char *path)
{
	struct config cfg;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;

	config_init(&cfg);
	if ((path || g_file_test(CONFIG_DEFAULT_PATH, G_FILE_TEST_EXISTS)) &&
	    !config_load(&cfg, path ? path : CONFIG_DEFAULT_PATH, &error)) {
		fprintf(stderr, "bandgate: %s\n", error->message);
		config_clear(&cfg);
		return EXIT_USAGE;
	}
	text = config_dump(&cfg);
	fputs(text, stdout);
	config_clear(&cfg);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	bool check = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("bandgate %s\n", BANDGATE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--check-config") == 0 || strcmp(argv[i], "-n") == 0) {
			check = true;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else {
			fprintf(stderr, "bandgate: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (check)
		return check_config(config_path);
	fputs("bandgate: the daemon is not written yet; see README.md\n", stderr);
	return EXIT_RUNTIME;
}
