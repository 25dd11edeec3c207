/* The configuration file: a table of keys (STYLE.md "Config"), GKeyFile for the values, and a line scan of
 * our own because GKeyFile reports neither the line of a bad value nor unknown keys. */
#define G_LOG_DOMAIN "bandgate-config" /* G_MESSAGES_DEBUG=bandgate-config turns on its debug lines alone */
#include "config.h"
#include "address.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum key_type {
	KEY_STRING,
	KEY_PATH,      /* absolute */
	KEY_PATH_OPT,  /* absolute, or empty for "not set" */
	KEY_BOOL,
	KEY_PORT,
	KEY_ID,        /* a gateway id: it names MQTT topics */
	KEY_ADAPTER,
	KEY_ADDRESSES,
	KEY_TOPIC,
	KEY_DISCOVERY,
	KEY_LISTEN,
	KEY_UINT,      /* a whole number in [min, max] */
};

struct key_def {
	const char *group, *key;
	enum key_type type;
	size_t offset;
	const char *def;   /* as it would be written in the file; NULL: computed (the host name) */
	bool reloadable;
	const char *hint;
	unsigned min, max; /* KEY_UINT */
};

#define F(field) offsetof(struct config, field)
static const struct key_def keys[] = {
	{ "gateway", "id", KEY_ID, F(gateway_id), NULL, false, "letters, digits, '-' and '_'", 0, 0 },
	{ "gateway", "adapter", KEY_ADAPTER, F(adapter), "hci0", false, "hciN or the adapter's address AA:BB:CC:DD:EE:FF", 0, 0 },
	{ "gateway", "database", KEY_PATH, F(database), "/var/lib/bandgate/bandgate.db", false, "an absolute path", 0, 0 },
	{ "gateway", "bands", KEY_ADDRESSES, F(bands), "", true, "addresses separated by ';', e.g. C8:0F:10:11:22:33", 0, 0 },
	{ "gateway", "adapter_watchdog", KEY_UINT, F(adapter_watchdog), "90", false,
	  "seconds without any advertisement while looking for a band before the adapter is power-cycled, "
	  "1..3600, or 0 for never", 0, 3600 },
	{ "gateway", "sync_interval", KEY_UINT, F(sync_interval), "3600", false,
	  "seconds between activity history syncs while a band is connected, 60..86400", 60, 86400 },
	{ "gateway", "retention_days", KEY_UINT, F(retention_days), "0", false,
	  "days of history, readings and events to keep, 1..36500, or 0 to keep everything", 0, 36500 },
	{ "gateway", "heart_rate_interval", KEY_UINT, F(heart_rate_interval), "10", false,
	  "minutes between the band's own heart rate measurements, 1..120, or 0 for off", 0, 120 },
	{ "mqtt", "enabled", KEY_BOOL, F(mqtt_enabled), "true", false, "true or false", 0, 0 },
	{ "mqtt", "host", KEY_STRING, F(mqtt_host), "localhost", false, "a host name or address", 0, 0 },
	{ "mqtt", "port", KEY_PORT, F(mqtt_port), "1883", false, "a port number 1..65535", 0, 0 },
	{ "mqtt", "username", KEY_STRING, F(mqtt_username), "", false, "a user name, or empty for none", 0, 0 },
	{ "mqtt", "password_file", KEY_PATH_OPT, F(mqtt_password_file), "", false,
	  "an absolute path to a file holding the password, or empty", 0, 0 },
	{ "mqtt", "tls", KEY_BOOL, F(mqtt_tls), "false", false, "true or false", 0, 0 },
	{ "mqtt", "cafile", KEY_PATH_OPT, F(mqtt_cafile), "", false, "an absolute path to a CA file, or empty", 0, 0 },
	{ "mqtt", "base_topic", KEY_TOPIC, F(mqtt_base_topic), "bandgate", false,
	  "topic levels without '+', '#', spaces or a leading or trailing '/'", 0, 0 },
	{ "mqtt", "discovery_prefix", KEY_TOPIC, F(mqtt_discovery_prefix), "homeassistant", false,
	  "topic levels without '+', '#', spaces or a leading or trailing '/'", 0, 0 },
	{ "mqtt", "discovery", KEY_DISCOVERY, F(mqtt_discovery), "device", false, "device or per-component", 0, 0 },
	{ "web", "enabled", KEY_BOOL, F(web_enabled), "true", false,
	  "true or false; false turns the LAN dashboard off (the CLI's socket stays)", 0, 0 },
	{ "web", "listen", KEY_LISTEN, F(web_listen), "0.0.0.0:8080", false,
	  "HOST:PORT, e.g. 0.0.0.0:8080 or [::]:8080, or empty for no dashboard on the LAN", 0, 0 },
	{ "web", "socket", KEY_PATH, F(web_socket), "/run/bandgate/api.sock", false, "an absolute path", 0, 0 },
	{ "web", "password_hash", KEY_STRING, F(web_password_hash), "", true,
	  "a yescrypt hash ($y$...), or empty: 'bandgate passwd' keeps it in web-password beside the database", 0, 0 },
	{ "web", "tls_cert", KEY_PATH_OPT, F(web_tls_cert), "", false, "an absolute path, or empty", 0, 0 },
	{ "web", "tls_key", KEY_PATH_OPT, F(web_tls_key), "", false, "an absolute path, or empty", 0, 0 },
	{ "web", "session_timeout", KEY_UINT, F(web_session_timeout), "43200", false,
	  "seconds a dashboard login lasts unused, 5..2592000", 5, 2592000 },
	{ "web", "metrics_public", KEY_BOOL, F(web_metrics_public), "false", false,
	  "true or false: /metrics on the LAN without a login", 0, 0 },
};
#undef F

#define FIELD(cfg, k, type) ((type *)((char *)(cfg) + (k)->offset))

static const struct key_def *key_find(const char *group, const char *key)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].group, group) == 0 && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static bool group_known(const char *group)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].group, group) == 0)
			return true;
	return false;
}

bool config_key_reloadable(const char *group, const char *key)
{
	const struct key_def *k = key_find(group, key);

	return k && k->reloadable;
}

static bool valid_id(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!g_ascii_isalnum(*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static bool valid_topic(const char *s)
{
	if (!*s || *s == '/' || g_str_has_suffix(s, "/") || strstr(s, "//"))
		return false;
	for (; *s; s++)
		if (*s == '+' || *s == '#' || g_ascii_isspace(*s) || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static bool parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!g_ascii_isdigit(*s))
		return false;
	v = strtoul(s, &end, 10);
	if (*end || v < min || v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

static bool parse_port(const char *s, unsigned *ret)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 1 || v > 65535)
		return false;
	*ret = (unsigned)v;
	return true;
}

/* HOST:PORT with an IPv6 host in brackets. */
static bool valid_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned port;

	if (!*s)
		return true; /* no LAN listener */
	if (!colon || colon == s || !parse_port(colon + 1, &port))
		return false;
	if (*s == '[')
		return colon[-1] == ']' && colon - s > 2;
	return memchr(s, ':', (size_t)(colon - s)) == NULL;
}

static char **parse_addresses(const char *s)
{
	g_auto(GStrv) parts = g_strsplit(s, ";", -1);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free); /* a bad address frees the good ones before it */
	char upper[ADDRESS_SIZE];

	for (char **p = parts; *p; p++) {
		char *a = g_strstrip(*p);

		if (!*a)
			continue;
		if (!address_normalise(a, upper)) {
			g_ptr_array_free(out, TRUE);
			return NULL;
		}
		g_ptr_array_add(out, g_strdup(upper));
	}
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

/* Stores text as the value of k in cfg, or returns false when it is not a valid value. */
static bool key_set(struct config *cfg, const struct key_def *k, const char *text)
{
	switch (k->type) {
	case KEY_BOOL:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return false;
		*FIELD(cfg, k, bool) = strcmp(text, "true") == 0;
		return true;
	case KEY_PORT:
		return parse_port(text, FIELD(cfg, k, unsigned));
	case KEY_UINT:
		return parse_uint(text, k->min, k->max, FIELD(cfg, k, unsigned));
	case KEY_DISCOVERY:
		if (strcmp(text, "device") != 0 && strcmp(text, "per-component") != 0)
			return false;
		*FIELD(cfg, k, enum config_discovery) = strcmp(text, "device") == 0 ? CONFIG_DISCOVERY_DEVICE :
		                                                                       CONFIG_DISCOVERY_PER_COMPONENT;
		return true;
	case KEY_ADDRESSES: {
		char **list = parse_addresses(text);

		if (!list)
			return false;
		g_strfreev(*FIELD(cfg, k, char **));
		*FIELD(cfg, k, char **) = list;
		return true;
	}
	case KEY_ID:
	case KEY_ADAPTER:
	case KEY_PATH:
	case KEY_PATH_OPT:
	case KEY_TOPIC:
	case KEY_LISTEN:
	case KEY_STRING:
		break;
	}
	if ((k->type == KEY_ID && !valid_id(text)) ||
	    (k->type == KEY_ADAPTER && !address_valid(text) && !(g_str_has_prefix(text, "hci") && text[3] &&
	                                                          strspn(text + 3, "0123456789") == strlen(text + 3))) ||
	    (k->type == KEY_PATH && *text != '/') || (k->type == KEY_PATH_OPT && *text && *text != '/') ||
	    (k->type == KEY_TOPIC && !valid_topic(text)) || (k->type == KEY_LISTEN && !valid_listen(text)))
		return false;
	g_free(*FIELD(cfg, k, char *));
	*FIELD(cfg, k, char *) = g_strdup(text);
	return true;
}

static char *default_id(void)
{
	g_autofree char *host = g_ascii_strdown(g_get_host_name(), -1);

	for (char *p = host; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
			*p = '-';
	return valid_id(host) ? g_strdup(host) : g_strdup("bandgate");
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (!keys[i].def)
			continue;
		if (!key_set(cfg, &keys[i], keys[i].def))
			g_error("bad built-in default for [%s] %s", keys[i].group, keys[i].key);
	}
	cfg->gateway_id = default_id();
}

void config_clear(struct config *cfg)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const struct key_def *k = &keys[i];

		if (k->type == KEY_ADDRESSES)
			g_strfreev(*FIELD(cfg, k, char **));
		else if (k->type != KEY_BOOL && k->type != KEY_PORT && k->type != KEY_UINT && k->type != KEY_DISCOVERY)
			g_free(*FIELD(cfg, k, char *));
	}
	memset(cfg, 0, sizeof(*cfg));
}

/* One line of the file: a group header, a key, or nothing (blank, comment). */
struct line_scan {
	char *group;  /* current group, owned */
	GHashTable *seen; /* "group\nkey" -> line, to refuse duplicates */
};

static bool scan_line(struct line_scan *scan, const char *path, int lineno, char *line, struct config *cfg,
                      GKeyFile *kf, GError **error)
{
	char *eq, *name;
	const struct key_def *k;
	g_autofree char *value = NULL, *seen_key = NULL;

	line = g_strstrip(line);
	if (!*line || *line == '#' || *line == ';')
		return true;
	if (*line == '[') {
		if (!g_str_has_suffix(line, "]")) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
			            "%s:%d: a group header is [name]", path, lineno);
			return false;
		}
		g_free(scan->group);
		scan->group = g_strndup(line + 1, strlen(line) - 2);
		if (!group_known(scan->group)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
			            "%s:%d: unknown group [%s] (known: gateway, mqtt, web)", path, lineno, scan->group);
			return false;
		}
		return true;
	}
	eq = strchr(line, '=');
	if (!eq || !scan->group) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
		            eq ? "%s:%d: a key before any [group]" : "%s:%d: not 'key = value', a [group] or a # comment",
		            path, lineno);
		return false;
	}
	*eq = '\0';
	name = g_strstrip(line);
	k = key_find(scan->group, name);
	if (!k) {
		GString *known = g_string_new(NULL);

		for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
			if (strcmp(keys[i].group, scan->group) == 0)
				g_string_append_printf(known, "%s%s", known->len ? ", " : "", keys[i].key);
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
		            "%s:%d: unknown key '%s' in [%s] (known: %s)", path, lineno, name, scan->group, known->str);
		g_string_free(known, TRUE);
		return false;
	}
	seen_key = g_strdup_printf("%s\n%s", k->group, k->key);
	if (!kf && g_hash_table_contains(scan->seen, seen_key)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s:%d: [%s] %s is set twice (first on line %d)",
		            path, lineno, k->group, k->key, GPOINTER_TO_INT(g_hash_table_lookup(scan->seen, seen_key)));
		return false;
	}
	g_hash_table_insert(scan->seen, g_steal_pointer(&seen_key), GINT_TO_POINTER(lineno));
	if (!kf)
		return true;
	/* GKeyFile undoes the escapes (\s, \n, \\) the way every other GKeyFile reader does. */
	value = g_key_file_get_string(kf, k->group, k->key, NULL);
	if (!value || !key_set(cfg, k, g_strstrip(value))) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s:%d: [%s] %s: '%s' is not valid: %s",
		            path, lineno, k->group, k->key, value ? value : eq + 1, k->hint);
		return false;
	}
	return true;
}

/* One pass over the lines: kf NULL checks the syntax, groups, keys and duplicates; with kf, the values. */
static bool scan_all(struct config *cfg, const char *path, const char *text, GKeyFile *kf, GError **error)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	struct line_scan scan = { .seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
	bool ok = true;

	for (int i = 0; ok && lines[i]; i++)
		ok = scan_line(&scan, path, i + 1, lines[i], cfg, kf, error);
	g_free(scan.group);
	g_hash_table_destroy(scan.seen);
	return ok;
}

static bool load_text(struct config *cfg, const char *path, const char *text, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) kf_error = NULL;

	if (!g_utf8_validate(text, -1, NULL)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING, "%s: not UTF-8 text", path);
		return false;
	}
	if (!scan_all(cfg, path, text, NULL, error))
		return false;
	if (!g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_NONE, &kf_error)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s: %s", path, kf_error->message);
		return false;
	}
	return scan_all(cfg, path, text, kf, error);
}

bool config_load_data(struct config *cfg, const char *name, const char *text, size_t len, GError **error)
{
	struct config tmp;

	if (memchr(text, '\0', len)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING, "%s: holds a NUL byte: not text", name);
		return false;
	}
	config_init(&tmp);
	if (!load_text(&tmp, name, text, error)) {
		config_clear(&tmp);
		return false;
	}
	config_clear(cfg);
	*cfg = tmp;
	return true;
}

bool config_load(struct config *cfg, const char *path, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;

	return g_file_get_contents(path, &text, &len, error) && config_load_data(cfg, path, text, len, error);
}

static char *key_text(const struct config *cfg, const struct key_def *k)
{
	switch (k->type) {
	case KEY_BOOL:
		return g_strdup(*FIELD(cfg, k, bool) ? "true" : "false");
	case KEY_PORT:
	case KEY_UINT:
		return g_strdup_printf("%u", *FIELD(cfg, k, unsigned));
	case KEY_DISCOVERY:
		return g_strdup(*FIELD(cfg, k, enum config_discovery) == CONFIG_DISCOVERY_DEVICE ? "device" :
		                                                                                  "per-component");
	case KEY_ADDRESSES:
		return g_strjoinv(";", *FIELD(cfg, k, char **));
	case KEY_ID:
	case KEY_ADAPTER:
	case KEY_PATH:
	case KEY_PATH_OPT:
	case KEY_TOPIC:
	case KEY_LISTEN:
	case KEY_STRING:
		break;
	}
	return g_strdup(*FIELD(cfg, k, char *));
}

void config_changes(const struct config *old, const struct config *fresh, config_change_func fn, void *user_data)
{
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autofree char *a = key_text(old, &keys[i]), *b = key_text(fresh, &keys[i]);

		if (strcmp(a, b) != 0)
			fn(keys[i].group, keys[i].key, keys[i].reloadable, user_data);
	}
}

char *config_reference(void)
{
	GString *out = g_string_new("| key | default | values | on SIGHUP |\n|---|---|---|---|\n");

	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const struct key_def *k = &keys[i];

		g_string_append_printf(out, "| `[%s] %s` | %s%s%s | %s | %s |\n", k->group, k->key,
		                       k->def && *k->def ? "`" : "", k->def ? (*k->def ? k->def : "(empty)") : "the host name",
		                       k->def && *k->def ? "`" : "", k->hint, k->reloadable ? "applied" : "restart");
	}
	return g_string_free(out, FALSE);
}

char *config_dump(const struct config *cfg)
{
	GString *out = g_string_new(NULL);
	const char *group = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		const struct key_def *k = &keys[i];
		g_autofree char *value = key_text(cfg, k);

		if (!group || strcmp(group, k->group) != 0)
			g_string_append_printf(out, "%s[%s]\n", group ? "\n" : "", k->group);
		group = k->group;
		/* The password hash is a secret of sorts: say whether it is set, never what it is. */
		if (strcmp(k->key, "password_hash") == 0 && *value)
			g_string_append_printf(out, "%s = (set)\n", k->key);
		else
			g_string_append_printf(out, "%s = %s\n", k->key, value);
	}
	return g_string_free(out, FALSE);
}
