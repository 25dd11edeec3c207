/* Home Assistant MQTT discovery: one table of entities per device, turned into either one device-based config
 * (<prefix>/device/bandgate_<id>/config with "dev", "o" and "cmps") or one config per entity
 * (<prefix>/<platform>/bandgate_<id>/<object>/config). Keys are Home Assistant's abbreviations throughout
 * (components/mqtt/abbreviations.py); the rules the payloads obey are checked by tests/integration/ha_rules.py. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "address.h"
#include "ha.h"

/* Every string a topic is built from is at most this long (ha_context_check), so no topic outgrows HA_BUF. */
#define HA_PART_MAX 64
#define HA_URL_MAX 256
#define HA_BUF 512

enum ha_platform {
	HA_PLATFORM_SENSOR,
	HA_PLATFORM_BINARY_SENSOR,
	HA_PLATFORM_BUTTON,
	HA_PLATFORM_NOTIFY,
	HA_PLATFORM_EVENT,
};

/* Which availability topics an entity follows (availability_mode all). */
enum ha_avail {
	HA_AVAIL_BAND,    /* the gateway's status and the band's availability */
	HA_AVAIL_GATEWAY, /* the gateway's status only: the entity means something while the band is away */
	HA_AVAIL_NONE,    /* none: the entity shows the gateway's status itself */
};

struct ha_entity {
	enum ha_platform platform;
	const char *object;       /* key in "cmps", and the tail of unique_id, default_entity_id and the topic */
	const char *name;
	const char *topic;        /* under <base>/<owner id>/: "state", "health", "event", "cmd/find", ... */
	const char *field;        /* the JSON key the value template reads; NULL: the payload as it is */
	const char *device_class;
	const char *unit;
	const char *state_class;
	const char *category;     /* "diagnostic", "config" or NULL */
	const char *icon;
	bool disabled;            /* enabled_by_default false */
	enum ha_avail avail;
};

/* A band's entities, reading the state JSON of ha.h. Calories carry no device class: "energy" accepts kcal only
 * since Home Assistant 2024.12 and rejects the whole entity before that; steps and heart rate have none. */
static const struct ha_entity band_entities[] = {
	{ HA_PLATFORM_SENSOR, "steps", "Steps", "state", "steps", NULL, "steps", "total_increasing", NULL,
	  "mdi:walk", false, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "distance", "Distance", "state", "distance", "distance", "m", "total_increasing",
	  NULL, NULL, false, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "calories", "Calories", "state", "calories", NULL, "kcal", "total_increasing", NULL,
	  "mdi:fire", false, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "battery", "Battery", "state", "battery", "battery", "%", "measurement", NULL, NULL,
	  false, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "heart_rate", "Heart rate", "state", "heart_rate", NULL, "bpm", "measurement", NULL,
	  "mdi:heart-pulse", false, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "last_sync", "Last sync", "state", "last_sync", "timestamp", NULL, NULL,
	  "diagnostic", NULL, false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "rssi", "Signal strength", "state", "rssi", "signal_strength", "dBm", "measurement",
	  "diagnostic", NULL, true, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "firmware", "Firmware", "state", "firmware", NULL, NULL, NULL, "diagnostic",
	  "mdi:chip", false, HA_AVAIL_BAND },
	{ HA_PLATFORM_SENSOR, "link", "Link", "state", "state", NULL, NULL, NULL, "diagnostic",
	  "mdi:bluetooth-connect", false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BINARY_SENSOR, "connected", "Connected", "state", "connected", "connectivity", NULL, NULL,
	  "diagnostic", NULL, false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BINARY_SENSOR, "charging", "Charging", "state", "charging", "battery_charging", NULL, NULL,
	  NULL, NULL, false, HA_AVAIL_BAND },
	{ HA_PLATFORM_BUTTON, "find", "Find", "cmd/find", NULL, "identify", NULL, NULL, NULL, NULL, false,
	  HA_AVAIL_BAND },
	{ HA_PLATFORM_BUTTON, "sync", "Sync", "cmd/sync", NULL, NULL, NULL, NULL, NULL, "mdi:sync", false,
	  HA_AVAIL_BAND },
	{ HA_PLATFORM_BUTTON, "measure_heart_rate", "Measure heart rate", "cmd/heart_rate", NULL, NULL, NULL, NULL,
	  NULL, "mdi:heart-flash", false, HA_AVAIL_BAND },
	{ HA_PLATFORM_BUTTON, "set_time", "Set time", "cmd/set_time", NULL, NULL, NULL, NULL, "config",
	  "mdi:clock-check-outline", false, HA_AVAIL_BAND },
	/* Reconnect, reset and re-pair are what one reaches for while the band is away. */
	{ HA_PLATFORM_BUTTON, "reconnect", "Reconnect", "cmd/reconnect", NULL, NULL, NULL, NULL, "config",
	  "mdi:bluetooth-connect", false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BUTTON, "reset", "Reset", "cmd/reset", NULL, NULL, NULL, NULL, "config", "mdi:restore",
	  false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BUTTON, "repair", "Re-pair", "cmd/repair", NULL, NULL, NULL, NULL, "config",
	  "mdi:link-variant", false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BUTTON, "reboot", "Reboot", "cmd/reboot", NULL, "restart", NULL, NULL, "config", NULL, false,
	  HA_AVAIL_BAND },
	{ HA_PLATFORM_NOTIFY, "notify", "Notification", "cmd/notify", NULL, NULL, NULL, NULL, NULL, NULL, false,
	  HA_AVAIL_BAND },
	{ HA_PLATFORM_EVENT, "button", "Button", "event", NULL, "button", NULL, NULL, NULL, NULL, false,
	  HA_AVAIL_BAND },
};

/* The gateway's entities, reading its status and health JSON. */
static const struct ha_entity gateway_entities[] = {
	{ HA_PLATFORM_BINARY_SENSOR, "status", "Status", "status", NULL, "connectivity", NULL, NULL, "diagnostic",
	  NULL, false, HA_AVAIL_NONE },
	{ HA_PLATFORM_SENSOR, "uptime", "Uptime", "health", "uptime", "duration", "s", "measurement",
	  "diagnostic", NULL, false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "memory", "Memory", "health", "rss_kb", "data_size", "KiB", "measurement",
	  "diagnostic", NULL, false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "outbox", "Outbox", "health", "outbox", NULL, "messages", "measurement",
	  "diagnostic", "mdi:tray-full", false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "reconnects", "Broker reconnects", "health", "reconnects", NULL, NULL,
	  "total_increasing", "diagnostic", "mdi:lan-disconnect", false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "adapter_resets", "Adapter resets", "health", "adapter_resets", NULL, NULL,
	  "total_increasing", "diagnostic", "mdi:bluetooth-off", false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "database", "Database size", "health", "db_bytes", "data_size", "B", "measurement",
	  "diagnostic", NULL, false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_SENSOR, "bands", "Bands", "health", "bands", NULL, NULL, "measurement", NULL, "mdi:watch",
	  false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BUTTON, "restart", "Restart", "cmd/restart", NULL, "restart", NULL, NULL, "config", NULL,
	  false, HA_AVAIL_GATEWAY },
	{ HA_PLATFORM_BUTTON, "scan", "Scan", "cmd/scan", NULL, NULL, NULL, NULL, "config", "mdi:bluetooth-search",
	  false, HA_AVAIL_GATEWAY },
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* The device an entity table belongs to. */
struct ha_owner {
	const char *id;             /* gateway_id or band id: the second level of its topics */
	char slug[HA_BUF];          /* entity id prefix: "bandgate_pi_kitchen", "mi_band_2_c80f10112233" */
	const struct ha_band *band; /* NULL for the gateway */
	const struct ha_entity *entities;
	size_t n_entities;
};

static const char *platform_name(enum ha_platform platform)
{
	switch (platform) {
	case HA_PLATFORM_SENSOR:
		return "sensor";
	case HA_PLATFORM_BINARY_SENSOR:
		return "binary_sensor";
	case HA_PLATFORM_BUTTON:
		return "button";
	case HA_PLATFORM_NOTIFY:
		return "notify";
	case HA_PLATFORM_EVENT:
		return "event";
	}
	abort();
}

__attribute__((format(printf, 2, 3))) static const char *fmt(char buf[static HA_BUF], const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	int n = vsnprintf(buf, HA_BUF, format, ap);
	va_end(ap);
	if (n < 0 || n >= HA_BUF) /* ha_context_check bounds every part: this is a bug, not input */
		abort();
	return buf;
}

static bool id_valid(const char *id)
{
	size_t len = id ? strlen(id) : 0;

	if (len == 0 || len > HA_PART_MAX)
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

/* A topic prefix: printable ASCII without wildcards, no empty level, no leading or trailing '/'. */
static bool topic_part_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > HA_PART_MAX || s[0] == '/' || s[len - 1] == '/' || strstr(s, "//"))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '+' || s[i] == '#')
			return false;
	return true;
}

static bool text_valid(const char *s, size_t max)
{
	return s && strlen(s) <= max;
}

static bool url_valid(const char *url)
{
	if (!url || !*url)
		return true;
	if (strlen(url) > HA_URL_MAX || strpbrk(url, " \"\\"))
		return false;
	return (strncmp(url, "http://", 7) == 0 && url[7]) || (strncmp(url, "https://", 8) == 0 && url[8]);
}

int ha_context_check(const struct ha_context *ctx)
{
	if (!topic_part_valid(ctx->discovery_prefix) || !topic_part_valid(ctx->base_topic))
		return -EINVAL;
	if (!id_valid(ctx->gateway_id) || !text_valid(ctx->version, HA_PART_MAX) || !url_valid(ctx->configuration_url))
		return -EINVAL;
	return 0;
}

int ha_band_check(const struct ha_band *band)
{
	if (!id_valid(band->id) || !address_valid(band->address))
		return -EINVAL;
	if (band->firmware && !text_valid(band->firmware, HA_PART_MAX))
		return -EINVAL;
	return 0;
}

/* Home Assistant's entity ids allow [a-z0-9_] without a leading, trailing or doubled '_'. */
static void slugify(char *s)
{
	size_t out = 0;

	for (size_t in = 0; s[in]; in++) {
		char c = s[in];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '_';
		if (c == '_' && (out == 0 || s[out - 1] == '_'))
			continue;
		s[out++] = c;
	}
	if (out > 0 && s[out - 1] == '_')
		out--;
	s[out] = '\0';
}

static void owner_gateway(struct ha_owner *o, const struct ha_context *ctx)
{
	o->id = ctx->gateway_id;
	fmt(o->slug, "bandgate_%s", ctx->gateway_id);
	slugify(o->slug);
	o->band = NULL;
	o->entities = gateway_entities;
	o->n_entities = N_ELEMENTS(gateway_entities);
}

static void owner_band(struct ha_owner *o, const struct ha_band *band)
{
	o->id = band->id;
	fmt(o->slug, "mi_band_2_%s", band->id);
	slugify(o->slug);
	o->band = band;
	o->entities = band_entities;
	o->n_entities = N_ELEMENTS(band_entities);
}

static bool has_text(const char *s)
{
	return s && *s;
}

static void add_optional(cJSON *obj, const char *key, const char *value)
{
	if (has_text(value))
		cJSON_AddStringToObject(obj, key, value);
}

static cJSON *string_array(const char *a, const char *b)
{
	cJSON *array = cJSON_CreateArray();

	cJSON_AddItemToArray(array, cJSON_CreateString(a));
	if (b)
		cJSON_AddItemToArray(array, cJSON_CreateString(b));
	return array;
}

static cJSON *device_json(const struct ha_context *ctx, const struct ha_owner *o)
{
	cJSON *dev = cJSON_CreateObject();
	char buf[HA_BUF];

	cJSON_AddItemToObject(dev, "ids", string_array(fmt(buf, "bandgate_%s", o->id), NULL));
	if (!o->band) {
		cJSON_AddStringToObject(dev, "name", fmt(buf, "bandgate %s", ctx->gateway_id));
		cJSON_AddStringToObject(dev, "mf", "bandgate");
		cJSON_AddStringToObject(dev, "mdl", "Mi Band 2 gateway");
		cJSON_AddStringToObject(dev, "sw", ctx->version);
	} else {
		cJSON *cns = cJSON_AddArrayToObject(dev, "cns");
		cJSON_AddItemToArray(cns, string_array("bluetooth", o->band->address));
		cJSON_AddStringToObject(dev, "name", fmt(buf, "Mi Band 2 %s", o->band->address));
		cJSON_AddStringToObject(dev, "mf", "Xiaomi");
		cJSON_AddStringToObject(dev, "mdl", "Mi Band 2");
		add_optional(dev, "sw", o->band->firmware);
		cJSON_AddStringToObject(dev, "via_device", fmt(buf, "bandgate_%s", ctx->gateway_id));
	}
	add_optional(dev, "cu", ctx->configuration_url);
	return dev;
}

static cJSON *origin_json(const struct ha_context *ctx)
{
	cJSON *origin = cJSON_CreateObject();

	cJSON_AddStringToObject(origin, "name", "bandgate");
	cJSON_AddStringToObject(origin, "sw", ctx->version);
	return origin;
}

static void add_topic(cJSON *list, const char *topic)
{
	cJSON *entry = cJSON_CreateObject();

	cJSON_AddStringToObject(entry, "t", topic);
	cJSON_AddItemToArray(list, entry);
}

static void add_availability(cJSON *obj, const struct ha_context *ctx, const struct ha_owner *o,
                             enum ha_avail avail)
{
	char buf[HA_BUF];
	cJSON *list;

	switch (avail) {
	case HA_AVAIL_NONE:
		return;
	case HA_AVAIL_GATEWAY:
	case HA_AVAIL_BAND:
		list = cJSON_AddArrayToObject(obj, "avty");
		add_topic(list, fmt(buf, "%s/%s/status", ctx->base_topic, ctx->gateway_id));
		if (avail == HA_AVAIL_BAND && o->band)
			add_topic(list, fmt(buf, "%s/%s/availability", ctx->base_topic, o->id));
		cJSON_AddStringToObject(obj, "avty_mode", "all");
		return;
	}
}

/* What the entity reads or writes: a state topic with its template, or a command topic. */
static void add_io(cJSON *obj, const struct ha_context *ctx, const struct ha_owner *o, const struct ha_entity *e)
{
	char buf[HA_BUF];
	const char *topic = fmt(buf, "%s/%s/%s", ctx->base_topic, o->id, e->topic);

	switch (e->platform) {
	case HA_PLATFORM_BUTTON:
	case HA_PLATFORM_NOTIFY:
		cJSON_AddStringToObject(obj, "cmd_t", topic);
		return;
	case HA_PLATFORM_SENSOR:
	case HA_PLATFORM_BINARY_SENSOR:
	case HA_PLATFORM_EVENT:
		cJSON_AddStringToObject(obj, "stat_t", topic);
		break;
	}
	if (e->platform == HA_PLATFORM_SENSOR && e->field)
		cJSON_AddStringToObject(obj, "val_tpl", fmt(buf, "{{ value_json.%s }}", e->field));
	if (e->platform == HA_PLATFORM_BINARY_SENSOR && e->field)
		cJSON_AddStringToObject(obj, "val_tpl", fmt(buf, "{{ 'ON' if value_json.%s else 'OFF' }}", e->field));
	if (e->platform == HA_PLATFORM_BINARY_SENSOR && !e->field) {
		cJSON_AddStringToObject(obj, "pl_on", "online");
		cJSON_AddStringToObject(obj, "pl_off", "offline");
	}
	if (e->platform == HA_PLATFORM_EVENT)
		cJSON_AddItemToObject(obj, "evt_typ", string_array("press", NULL));
}

static cJSON *entity_json(const struct ha_context *ctx, const struct ha_owner *o, const struct ha_entity *e,
                          bool with_platform)
{
	cJSON *obj = cJSON_CreateObject();
	char buf[HA_BUF];

	if (with_platform)
		cJSON_AddStringToObject(obj, "p", platform_name(e->platform));
	cJSON_AddStringToObject(obj, "name", e->name);
	cJSON_AddStringToObject(obj, "uniq_id", fmt(buf, "bandgate_%s_%s", o->id, e->object));
	cJSON_AddStringToObject(obj, "def_ent_id", fmt(buf, "%s.%s_%s", platform_name(e->platform), o->slug, e->object));
	add_io(obj, ctx, o, e);
	add_optional(obj, "dev_cla", e->device_class);
	add_optional(obj, "unit_of_meas", e->unit);
	add_optional(obj, "stat_cla", e->state_class);
	add_optional(obj, "ent_cat", e->category);
	if (e->disabled)
		cJSON_AddFalseToObject(obj, "en");
	add_optional(obj, "ic", e->icon);
	cJSON_AddNumberToObject(obj, "qos", 1);
	add_availability(obj, ctx, o, e->avail);
	return obj;
}

static void emit_json(const char *topic, cJSON *payload, ha_emit_func emit, void *user_data)
{
	char *text = cJSON_PrintUnformatted(payload);

	if (!text)
		abort(); /* out of memory */
	emit(topic, text, user_data);
	cJSON_free(text);
	cJSON_Delete(payload);
}

static const char *device_topic(char buf[static HA_BUF], const struct ha_context *ctx, const struct ha_owner *o)
{
	return fmt(buf, "%s/device/bandgate_%s/config", ctx->discovery_prefix, o->id);
}

static const char *component_topic(char buf[static HA_BUF], const struct ha_context *ctx,
                                   const struct ha_owner *o, const struct ha_entity *e)
{
	return fmt(buf, "%s/%s/bandgate_%s/%s/config", ctx->discovery_prefix, platform_name(e->platform), o->id,
	           e->object);
}

static void emit_device(const struct ha_context *ctx, const struct ha_owner *o, ha_emit_func emit, void *user_data)
{
	cJSON *root = cJSON_CreateObject();
	char buf[HA_BUF];

	cJSON_AddItemToObject(root, "dev", device_json(ctx, o));
	cJSON_AddItemToObject(root, "o", origin_json(ctx));
	cJSON *cmps = cJSON_AddObjectToObject(root, "cmps");
	for (size_t i = 0; i < o->n_entities; i++)
		cJSON_AddItemToObject(cmps, o->entities[i].object, entity_json(ctx, o, &o->entities[i], true));
	emit_json(device_topic(buf, ctx, o), root, emit, user_data);
}

static void emit_components(const struct ha_context *ctx, const struct ha_owner *o, ha_emit_func emit,
                            void *user_data)
{
	char buf[HA_BUF];

	for (size_t i = 0; i < o->n_entities; i++) {
		cJSON *obj = entity_json(ctx, o, &o->entities[i], false);
		cJSON_AddItemToObject(obj, "dev", device_json(ctx, o));
		cJSON_AddItemToObject(obj, "o", origin_json(ctx));
		emit_json(component_topic(buf, ctx, o, &o->entities[i]), obj, emit, user_data);
	}
}

static void emit_config(const struct ha_context *ctx, const struct ha_owner *o, ha_emit_func emit, void *user_data)
{
	switch (ctx->mode) {
	case HA_MODE_DEVICE:
		emit_device(ctx, o, emit, user_data);
		return;
	case HA_MODE_PER_COMPONENT:
		emit_components(ctx, o, emit, user_data);
		return;
	}
}

void ha_gateway_config(const struct ha_context *ctx, ha_emit_func emit, void *user_data)
{
	struct ha_owner o;

	if (ha_context_check(ctx) < 0)
		return;
	owner_gateway(&o, ctx);
	emit_config(ctx, &o, emit, user_data);
}

void ha_band_config(const struct ha_context *ctx, const struct ha_band *band, ha_emit_func emit, void *user_data)
{
	struct ha_owner o;

	if (ha_context_check(ctx) < 0 || ha_band_check(band) < 0)
		return;
	owner_band(&o, band);
	emit_config(ctx, &o, emit, user_data);
}

void ha_band_remove(const struct ha_context *ctx, const struct ha_band *band, ha_emit_func emit, void *user_data)
{
	struct ha_owner o;
	char buf[HA_BUF];

	if (ha_context_check(ctx) < 0 || ha_band_check(band) < 0)
		return;
	owner_band(&o, band);
	switch (ctx->mode) {
	case HA_MODE_DEVICE:
		emit(device_topic(buf, ctx, &o), "", user_data);
		return;
	case HA_MODE_PER_COMPONENT:
		for (size_t i = 0; i < o.n_entities; i++)
			emit(component_topic(buf, ctx, &o, &o.entities[i]), "", user_data);
		return;
	}
}
