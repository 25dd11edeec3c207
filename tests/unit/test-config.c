/* The configuration file: defaults, every kind of value, and every error naming its file and line. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char *write_temp(const char *text)
{
	char *path = NULL;
	int fd = g_file_open_tmp("bandgate-config-XXXXXX.conf", &path, NULL);

	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

/* Loads text; on failure returns the error message, on success NULL and the config in *cfg. */
static char *load(const char *text, struct config *cfg)
{
	g_autofree char *path = write_temp(text);
	g_autoptr(GError) error = NULL;
	char *message = NULL;

	config_init(cfg);
	if (!config_load(cfg, path, &error))
		message = g_strdup(strstr(error->message, ".conf:") ? strstr(error->message, ".conf:") + 5 :
		                                                      error->message);
	g_unlink(path);
	return message;
}

static void test_defaults(void)
{
	struct config cfg;

	config_init(&cfg);
	g_assert_cmpstr(cfg.adapter, ==, "hci0");
	g_assert_cmpstr(cfg.database, ==, "/var/lib/bandgate/bandgate.db");
	g_assert_nonnull(cfg.bands);
	g_assert_null(cfg.bands[0]);
	g_assert_true(cfg.mqtt_enabled);
	g_assert_cmpstr(cfg.mqtt_host, ==, "localhost");
	g_assert_cmpuint(cfg.mqtt_port, ==, 1883);
	g_assert_false(cfg.mqtt_tls);
	g_assert_cmpstr(cfg.mqtt_base_topic, ==, "bandgate");
	g_assert_cmpstr(cfg.mqtt_discovery_prefix, ==, "homeassistant");
	g_assert_cmpint(cfg.mqtt_discovery, ==, CONFIG_DISCOVERY_DEVICE);
	g_assert_cmpstr(cfg.web_listen, ==, "0.0.0.0:8080");
	g_assert_cmpstr(cfg.web_socket, ==, "/run/bandgate/api.sock");
	g_assert_cmpstr(cfg.web_password_hash, ==, "");
	g_assert_cmpuint(cfg.web_session_timeout, ==, 43200);
	g_assert_false(cfg.web_metrics_public);
	g_assert_true(strlen(cfg.gateway_id) > 0);
	config_clear(&cfg);
}

static void test_values(void)
{
	struct config cfg;
	g_autofree char *error = load("# a comment\n"
	                              "[gateway]\n"
	                              "id = attic-pi\n"
	                              "adapter = dc:a6:32:00:00:01\n"
	                              "bands = c8:0f:10:11:22:33; C8:0F:10:44:55:66 ;\n"
	                              "\n"
	                              "[mqtt]\n"
	                              "  port=8883\n"
	                              "tls = true\n"
	                              "discovery = per-component\n"
	                              "base_topic = home/bands\n"
	                              "[web]\n"
	                              "listen = [::]:9090\n"
	                              "session_timeout = 600\n"
	                              "metrics_public = true\n",
	                              &cfg);

	g_assert_null(error);
	g_assert_cmpstr(cfg.gateway_id, ==, "attic-pi");
	g_assert_cmpstr(cfg.adapter, ==, "dc:a6:32:00:00:01");
	g_assert_cmpuint(g_strv_length(cfg.bands), ==, 2);
	g_assert_cmpstr(cfg.bands[0], ==, "C8:0F:10:11:22:33");
	g_assert_cmpstr(cfg.bands[1], ==, "C8:0F:10:44:55:66");
	g_assert_cmpuint(cfg.mqtt_port, ==, 8883);
	g_assert_true(cfg.mqtt_tls);
	g_assert_cmpint(cfg.mqtt_discovery, ==, CONFIG_DISCOVERY_PER_COMPONENT);
	g_assert_cmpstr(cfg.mqtt_base_topic, ==, "home/bands");
	g_assert_cmpstr(cfg.web_listen, ==, "[::]:9090");
	g_assert_cmpuint(cfg.web_session_timeout, ==, 600);
	g_assert_true(cfg.web_metrics_public);
	g_assert_cmpstr(cfg.mqtt_host, ==, "localhost"); /* untouched keys keep their defaults */
	config_clear(&cfg);
}

/* An empty [web] listen turns the LAN listener off: accepted, and kept empty. */
static void test_no_listener(void)
{
	struct config cfg;
	g_autofree char *error = load("[web]\nlisten =\n", &cfg);

	g_assert_null(error);
	g_assert_cmpstr(cfg.web_listen, ==, "");
	config_clear(&cfg);
}

/* Each bad file: the message must name the line and say what is wrong. */
static void test_errors(void)
{
	static const struct {
		const char *text, *expect;
	} cases[] = {
		{ "[mqtt]\nport = 0\n", ":2: [mqtt] port: '0' is not valid: a port number 1..65535" },
		{ "[mqtt]\nport = 65536\n", ":2: [mqtt] port" },
		{ "[mqtt]\nport = 18x\n", ":2: [mqtt] port" },
		{ "[mqtt]\nhots = x\n", ":2: unknown key 'hots' in [mqtt] (known: enabled, host, port" },
		{ "\n\n[mqqt]\n", ":3: unknown group [mqqt]" },
		{ "port = 1\n", ":1: a key before any [group]" },
		{ "[web]\nthis is not a key\n", ":2: not 'key = value'" },
		{ "[web\n", ":1: a group header is [name]" },
		{ "[mqtt]\ntls = yes\n", ":2: [mqtt] tls: 'yes' is not valid: true or false" },
		{ "[mqtt]\ndiscovery = legacy\n", ":2: [mqtt] discovery" },
		{ "[mqtt]\nbase_topic = a/+/b\n", ":2: [mqtt] base_topic" },
		{ "[mqtt]\nbase_topic = /a\n", ":2: [mqtt] base_topic" },
		{ "[mqtt]\nport = 1\nport = 2\n", ":3: [mqtt] port is set twice (first on line 2)" },
		{ "[gateway]\nid = two words\n", ":2: [gateway] id" },
		{ "[gateway]\nadapter = hciX\n", ":2: [gateway] adapter" },
		{ "[gateway]\nbands = C8:0F:10:11:22\n", ":2: [gateway] bands" },
		{ "[gateway]\ndatabase = relative.db\n", ":2: [gateway] database" },
		{ "[gateway]\nsync_interval = 59\n", ":2: [gateway] sync_interval: '59' is not valid: seconds" },
		{ "[gateway]\nadapter_watchdog = -1\n", ":2: [gateway] adapter_watchdog" },
		{ "[gateway]\nretention_days = 1e3\n", ":2: [gateway] retention_days" },
		{ "[gateway]\nretention_days = 99999999999999999999\n", ":2: [gateway] retention_days" },
		{ "[web]\nlisten = 8080\n", ":2: [web] listen" },
		{ "[web]\nlisten = ::1:8080\n", ":2: [web] listen" },
		{ "[web]\ntls_cert = cert.pem\n", ":2: [web] tls_cert" },
		{ "[web]\nsession_timeout = 4\n", ":2: [web] session_timeout: '4' is not valid: seconds" },
		{ "[web]\nmetrics_public = 1\n", ":2: [web] metrics_public" },
		{ "[gateway]\nid = \xff\xfe\n", "not UTF-8" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct config cfg;
		g_autofree char *error = load(cases[i].text, &cfg);

		g_assert_nonnull(error);
		if (!strstr(error, cases[i].expect))
			g_error("case %zu: '%s' does not contain '%s'", i, error, cases[i].expect);
		/* A failed load leaves the defaults, not half a file. */
		g_assert_cmpuint(cfg.mqtt_port, ==, 1883);
		config_clear(&cfg);
	}
}

static void test_missing_file(void)
{
	struct config cfg;
	g_autoptr(GError) error = NULL;

	config_init(&cfg);
	g_assert_false(config_load(&cfg, "/nonexistent/bandgate.conf", &error));
	g_assert_nonnull(error);
	config_clear(&cfg);
}

/* What --check-config prints loads back to the same configuration. */
static void test_dump_round_trip(void)
{
	struct config cfg, again;
	g_autofree char *error = load("[gateway]\nbands = C8:0F:10:11:22:33\n[mqtt]\nport = 1884\n", &cfg);
	g_autofree char *text = config_dump(&cfg);
	g_autofree char *error2 = load(text, &again);
	g_autofree char *text2 = config_dump(&again);

	g_assert_null(error);
	g_assert_null(error2);
	g_assert_cmpstr(text, ==, text2);
	g_assert_nonnull(strstr(text, "port = 1884\n"));
	g_assert_nonnull(strstr(text, "bands = C8:0F:10:11:22:33\n"));
	config_clear(&cfg);
	config_clear(&again);
}

static void test_secret_not_dumped(void)
{
	struct config cfg;
	g_autofree char *error = load("[web]\npassword_hash = $argon2id$v=19$secret\n", &cfg);
	g_autofree char *text = config_dump(&cfg);

	g_assert_null(error);
	g_assert_null(strstr(text, "secret"));
	g_assert_nonnull(strstr(text, "password_hash = (set)"));
	config_clear(&cfg);
}

static void test_reloadable(void)
{
	g_assert_true(config_key_reloadable("gateway", "bands"));
	g_assert_true(config_key_reloadable("web", "password_hash"));
	g_assert_false(config_key_reloadable("mqtt", "port"));
	g_assert_false(config_key_reloadable("mqtt", "nonexistent"));
}

/* The example shipped in deploy/ must pass (STYLE.md). */
static void test_shipped_example(void)
{
	struct config cfg;
	g_autoptr(GError) error = NULL;

	config_init(&cfg);
	if (!config_load(&cfg, EXAMPLE_CONFIG, &error))
		g_error("%s", error->message);
	config_clear(&cfg);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/values", test_values);
	g_test_add_func("/config/no-listener", test_no_listener);
	g_test_add_func("/config/errors", test_errors);
	g_test_add_func("/config/missing-file", test_missing_file);
	g_test_add_func("/config/dump-round-trip", test_dump_round_trip);
	g_test_add_func("/config/secret-not-dumped", test_secret_not_dumped);
	g_test_add_func("/config/reloadable", test_reloadable);
	g_test_add_func("/config/shipped-example", test_shipped_example);
	return g_test_run();
}
