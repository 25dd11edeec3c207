#define G_LOG_DOMAIN "bandgate-mqtt" /* G_MESSAGES_DEBUG=bandgate-mqtt turns on its debug lines alone */
/* The MQTT front's set-up and shutdown, and what comes in: Home Assistant's status, and commands, read by
 * mqtt-command.c, run through the manager's command API and answered on <topic>/result. mqtt-private.h says
 * which file holds the rest. */
#include "mqtt-private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "action.h"
#include "address.h"
#include "band.h"
#include "config.h"
#include "hub.h"
#include "manager.h"
#include "mqtt-command.h"

#define HEALTH_INTERVAL_S 60
#define SCAN_SECONDS 10
#define REFUSAL_LOGS_PER_MIN 10   /* malformed commands logged, the rest counted */

/* ---- answers ---- */

/* Malformed commands are logged, at most REFUSAL_LOGS_PER_MIN a minute; a flood cannot flood the journal. */
static void log_refusal(struct mqtt *m, const char *t, const char *why)
{
	/* A hostile topic's control bytes stay out of the log, and so do those of a payload quoted in why. */
	g_autofree char *safe = NULL, *safe_why = NULL;
	unsigned held = 0;

	if (!ratelimit_below(&m->refusals, g_get_monotonic_time(), &held))
		return;
	if (held)
		g_message("mqtt: %u more commands were refused meanwhile, not logged", held);
	safe = g_strescape(t, NULL);
	safe_why = g_strescape(why, NULL);
	g_message("mqtt: command on %s refused: %s", safe, safe_why);
}

/* c may be NULL: an answer without the request's id. */
static void reply(struct mqtt *m, const char *t, const struct mqtt_command *c, const char *error, cJSON *extra)
{
	g_autoptr(cJSON) o = extra ? extra : cJSON_CreateObject();
	g_autofree char *result_topic = NULL, *payload = NULL;

	cJSON_AddBoolToObject(o, "ok", error == NULL);
	if (error)
		cJSON_AddStringToObject(o, "error", error);
	else
		cJSON_AddNullToObject(o, "error");
	if (c && c->request_id)
		cJSON_AddItemToObject(o, "id", cJSON_Duplicate(c->request_id, true));
	result_topic = g_strconcat(t, "/result", NULL);
	payload = cJSON_PrintUnformatted(o);
	mqtt_session_publish(m, result_topic, payload, false);
}

static void refuse(struct mqtt *m, const char *t, const struct mqtt_command *c, const char *why)
{
	log_refusal(m, t, why);
	reply(m, t, c, why, NULL);
}

/* ---- the gateway's commands ---- */

static gboolean on_restart(gpointer user_data)
{
	struct mqtt *m = user_data;

	m->restart_timer = 0;
	if (m->ops && m->ops->restart)
		m->ops->restart(m->user_data);
	return G_SOURCE_REMOVE;
}

static gboolean on_scan_over(gpointer user_data)
{
	struct mqtt *m = user_data;
	g_autoptr(GArray) seen = manager_seen(m->mgr);
	g_autoptr(cJSON) list = cJSON_CreateArray();
	g_autofree char *payload = NULL, *t = mqtt_topic(m, m->gateway_id, "scan");

	m->scan_timer = 0;
	for (guint i = 0; i < seen->len; i++) {
		const struct manager_seen *s = &g_array_index(seen, struct manager_seen, i);
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "address", s->address);
		if (s->has_rssi)
			cJSON_AddNumberToObject(o, "rssi", s->rssi);
		cJSON_AddBoolToObject(o, "managed", s->managed);
		cJSON_AddItemToArray(list, o);
	}
	payload = cJSON_PrintUnformatted(list);
	mqtt_session_publish(m, t, payload, false);
	return G_SOURCE_REMOVE;
}

static void gateway_command(struct mqtt *m, const char *t, const struct mqtt_command *c)
{
	if (strcmp(c->verb, "health") == 0) {
		g_autofree char *health = mqtt_topics_health_json(m);

		mqtt_topics_publish_health(m);
		reply(m, t, c, NULL, cJSON_Parse(health));
	} else if (strcmp(c->verb, "scan") == 0) {
		manager_scan(m->mgr, SCAN_SECONDS);
		if (!m->scan_timer)
			m->scan_timer = g_timeout_add_seconds(SCAN_SECONDS, on_scan_over, m);
		reply(m, t, c, NULL, NULL);
	} else if (strcmp(c->verb, "restart") == 0) {
		reply(m, t, c, NULL, NULL);
		if (!m->restart_timer)
			m->restart_timer = g_timeout_add(200, on_restart, m); /* the result goes out first */
	} else {
		log_refusal(m, t, "unknown gateway command");
		reply(m, t, c, "unknown command; the gateway takes restart, scan and health", NULL);
	}
}

/* ---- a band's commands ---- */

static struct band *band_by_id(struct mqtt *m, const char *id)
{
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	char bid[ADDRESS_ID_SIZE];

	for (guint i = 0; i < bands->len; i++) {
		address_to_id(band_address(bands->pdata[i]), bid);
		if (strcmp(bid, id) == 0)
			return bands->pdata[i];
	}
	return NULL;
}

/* notify, vibrate, find: stored as notifications and played in order. */
static bool alert_command(struct mqtt *m, struct band *band, const struct action *a, const struct mqtt_command *c,
                          int64_t *ret_id, GError **error)
{
	bool with_text = a->flags & ACTION_FLAG_TEXT;
	const char *text = c->json ? mqtt_command_string(c, "text") : c->text;
	const char *category = mqtt_command_string(c, "category");

	if (with_text && c->json && !text) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s needs \"text\"", a->mqtt_name);
		return false;
	}
	return manager_notify(m->mgr, band_address(band), "mqtt", with_text ? "text" : a->name, category,
	                      with_text ? text : NULL, ret_id, error);
}

static void band_command(struct mqtt *m, const char *t, struct band *band, const struct mqtt_command *c)
{
	const struct action *a = action_find(c->verb, true);
	g_autoptr(GError) error = NULL;
	int64_t id = 0;
	cJSON *extra;

	if (!a || !(a->flags & ACTION_FLAG_MQTT)) {
		char names[256], why[320];

		action_names(names, sizeof(names), ACTION_FLAG_MQTT, true);
		snprintf(why, sizeof(why), "unknown command; a band takes %s", names);
		log_refusal(m, t, "unknown band command");
		reply(m, t, c, why, NULL);
	} else if (!(a->flags & ACTION_FLAG_ALERT)) {
		if (!manager_command(m->mgr, a->name, band_address(band), false, &error))
			reply(m, t, c, error->message, NULL);
		else
			reply(m, t, c, NULL, NULL);
	} else if (!alert_command(m, band, a, c, &id, &error)) {
		refuse(m, t, c, error->message);
	} else {
		extra = cJSON_CreateObject();
		cJSON_AddNumberToObject(extra, "notification", (double)id);
		reply(m, t, c, NULL, extra);
	}
}

/* ---- what comes in ---- */

static void on_command(struct mqtt *m, const struct mosquitto_message *msg)
{
	struct mqtt_command c;
	struct band *band;
	int r = mqtt_command_parse(m->base, msg->topic, msg->payload, (size_t)MAX(msg->payloadlen, 0), &c);

	if (r == -ENOENT) {
		/* not a command topic: the subscription lets none in */
	} else if (r == -ENAMETOOLONG) {
		log_refusal(m, msg->topic, "no such band or command");
		reply(m, msg->topic, NULL, c.why, NULL);
	} else if (msg->retain) {
		/* A retained command would run again at every connect: a restart loop from one mistaken -r. Refused
		 * before its payload is looked at, so the answer carries no request id. */
		refuse(m, msg->topic, NULL, "retained commands are not run; publish it without the retain flag");
	} else if (r < 0) {
		refuse(m, msg->topic, &c, c.why);
	} else if (strcmp(c.id, m->gateway_id) == 0) {
		gateway_command(m, msg->topic, &c);
	} else if ((band = band_by_id(m, c.id))) {
		band_command(m, msg->topic, band, &c);
	} else {
		log_refusal(m, msg->topic, "no such band");
		reply(m, msg->topic, &c, "no managed band has this id", NULL);
	}
	mqtt_command_clear(&c);
}

void mqtt_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct mqtt *m = obj;
	g_autofree char *status_topic = g_strconcat(m->prefix, "/status", NULL);

	(void)mosq;
	if (m->stopping)
		return;
	if (strcmp(msg->topic, status_topic) == 0) {
		/* Home Assistant restarted: discovery again, then every state. A retained birth is the broker's replay
		 * at our subscription: this connect sent them already. */
		if (!msg->retain && msg->payloadlen == 6 && memcmp(msg->payload, "online", 6) == 0)
			mqtt_topics_birth(m);
		return;
	}
	on_command(m, msg);
}

/* ---- set-up and shutdown ---- */

struct mqtt *mqtt_new(const struct config *cfg, struct manager *mgr, struct db *db, const char *configuration_url,
                      const struct mqtt_ops *ops, void *user_data, GError **error)
{
	struct mqtt *m = g_new0(struct mqtt, 1);

	mosquitto_lib_init();
	m->mgr = mgr;
	manager_report_mqtt(mgr, false); /* enabled: not connected until the broker answers */
	m->db = db;
	m->ops = ops;
	m->user_data = user_data;
	m->base = g_strdup(cfg->mqtt_base_topic);
	m->prefix = g_strdup(cfg->mqtt_discovery_prefix);
	m->gateway_id = g_strdup(cfg->gateway_id);
	m->url = g_strdup(configuration_url);
	m->mode = cfg->mqtt_discovery == CONFIG_DISCOVERY_PER_COMPONENT ? HA_MODE_PER_COMPONENT : HA_MODE_DEVICE;
	m->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m->refusals = (struct ratelimit)RATELIMIT_INIT(60 * G_USEC_PER_SEC, REFUSAL_LOGS_PER_MIN);
	mqtt_outbox_init(m);
	if (!mqtt_topics_check(m, error) || !mqtt_session_init(m, cfg, error)) {
		mqtt_free(m);
		return NULL;
	}
	m->hub_id = hub_subscribe(manager_hub(mgr), mqtt_topics_on_hub, m, NULL);
	m->health_timer = g_timeout_add_seconds(HEALTH_INTERVAL_S, mqtt_topics_on_health_timer, m);
	mqtt_session_start(m);
	return m;
}

void mqtt_free(struct mqtt *m)
{
	if (!m)
		return;
	if (m->hub_id)
		mqtt_topics_flush_states(m); /* into the outbox: they go out on the next start if not now */
	m->stopping = true;
	if (m->hub_id)
		hub_unsubscribe(manager_hub(m->mgr), m->hub_id);
	g_clear_handle_id(&m->state_timer, g_source_remove);
	g_clear_handle_id(&m->birth_timer, g_source_remove);
	g_clear_handle_id(&m->health_timer, g_source_remove);
	g_clear_handle_id(&m->scan_timer, g_source_remove);
	g_clear_handle_id(&m->restart_timer, g_source_remove);
	mqtt_session_stop(m);
	mqtt_outbox_free(m);
	mqtt_session_free(m);
	mosquitto_lib_cleanup();
	g_hash_table_unref(m->dirty);
	g_free(m->base);
	g_free(m->prefix);
	g_free(m->gateway_id);
	g_free(m->url);
	g_free(m);
}
