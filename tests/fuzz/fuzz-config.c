/* Fuzzes the config parser (gateway/config.h): any bytes as a config file. It is refused with an error that names
 * the file, or taken; what was taken prints (--check-config's dump) as a file that loads again to the same dump,
 * so nothing accepted is lost or changed by a round trip. A check that fails aborts. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autofree char *dump = NULL, *again = NULL;
	struct config cfg, back;
	GError *error = NULL;

	config_init(&cfg);
	if (!config_load_data(&cfg, "fuzz.conf", text, size, &error)) {
		CHECK(error && g_str_has_prefix(error->message, "fuzz.conf"));
		g_error_free(error);
		config_clear(&cfg);
		return 0;
	}
	dump = config_dump(&cfg);
	config_init(&back);
	/* The dump hides a password hash as "(set)"; a hash is only text, so it loads as such. */
	CHECK(config_load_data(&back, "dump", dump, strlen(dump), &error));
	again = config_dump(&back);
	CHECK(strcmp(dump, again) == 0);
	config_clear(&back);
	config_clear(&cfg);
	return 0;
}
