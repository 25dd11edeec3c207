/* bandgate's configuration: one INI file (GKeyFile syntax), every key optional, driven by one table of keys
 * (group, key, type, range, default, reloadable). Unknown groups and keys, bad values and syntax errors are
 * reported as "FILE:LINE: message" with a hint, and loading fails as a whole: a daemon never runs on a
 * half-read config. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#define CONFIG_DEFAULT_PATH "/etc/bandgate/bandgate.conf"

enum config_discovery {
	CONFIG_DISCOVERY_DEVICE,        /* homeassistant/device/<id>/config, Home Assistant >= 2024.11 */
	CONFIG_DISCOVERY_PER_COMPONENT, /* one config topic per entity, for older Home Assistant */
};

struct config {
	/* [gateway] */
	char *gateway_id;   /* default: the host name */
	char *adapter;      /* "hci0" or the adapter's address */
	char *database;
	char **bands;       /* addresses "C8:0F:10:11:22:33", upper case, NULL-terminated */
	unsigned adapter_watchdog; /* seconds of silence while looking before a power-cycle, 0 = never */
	unsigned sync_interval;    /* seconds between history syncs of a connected band */
	unsigned retention_days;   /* 0 = keep everything */
	unsigned heart_rate_interval; /* minutes between all-day heart rate measurements, 0 = off */
	/* [mqtt] */
	bool mqtt_enabled;
	char *mqtt_host;
	unsigned mqtt_port;
	char *mqtt_username;
	char *mqtt_password_file;
	bool mqtt_tls;
	char *mqtt_cafile;
	char *mqtt_base_topic;
	char *mqtt_discovery_prefix;
	enum config_discovery mqtt_discovery;
	/* [web] */
	bool web_enabled;
	char *web_listen;   /* "HOST:PORT" */
	char *web_socket;
	char *web_password_hash;
	char *web_tls_cert;
	char *web_tls_key;
	unsigned web_session_timeout; /* seconds */
	bool web_metrics_public;
};

/* Every key at its default. */
void config_init(struct config *cfg);
void config_clear(struct config *cfg);
/* Reads path over the defaults. On error cfg is left at the defaults and error says FILE:LINE: what, hint. */
bool config_load(struct config *cfg, const char *path, GError **error);
/* The same from text of len bytes (NUL-terminated at len), named name in the errors: the fuzzer's way in. */
bool config_load_data(struct config *cfg, const char *name, const char *text, size_t len, GError **error);
/* Every key with its default, its values and whether SIGHUP applies it, as a Markdown table (--config-reference;
 * the README carries it, and a test keeps the two the same). */
char *config_reference(void);
/* The effective configuration as INI text, every key, for --check-config. */
char *config_dump(const struct config *cfg);
/* Whether a change of group/key can be applied by SIGHUP without a restart. */
bool config_key_reloadable(const char *group, const char *key);
/* Calls fn for every key whose value differs between old and fresh, in the table's order. */
typedef void (*config_change_func)(const char *group, const char *key, bool reloadable, void *user_data);
void config_changes(const struct config *old, const struct config *fresh, config_change_func fn, void *user_data);
