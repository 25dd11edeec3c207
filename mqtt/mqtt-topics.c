#define G_LOG_DOMAIN "bandgate-mqtt" /* G_MESSAGES_DEBUG=bandgate-mqtt turns on its debug lines alone */
/* What goes out, on the topics of DESIGN.md: each band's state (its live values coalesced for a moment) and
 * availability, its events (button presses, history notes, notification statuses), the band list, the
 * gateway's health, and Home Assistant discovery (ha.h), all from the hub's events. */
#include "mqtt-private.h"

#include <string.h>

#include "address.h"
#include "bandgate-version.h"
#include "hub.h"
#include "manager.h"
#include "view.h"

#define STATE_DELAY_MS 1000       /* live values coalesce for this long before a state message */

char *mqtt_topic(const struct mqtt *m, const char *id, const char *leaf)
{
	return g_strdup_printf("%s/%s/%s", m->base, id, leaf);
}

/* ---- payloads ---- */

/* The band's view (view.h), the same object the API serves. */
static char *state_json(const struct manager_snapshot *s)
{
	g_autoptr(cJSON) o = view_band(s);

	return cJSON_PrintUnformatted(o);
}

/* ---- states ---- */

static void publish_state(struct mqtt *m, struct band *band)
{
	struct manager_snapshot s;
	g_autofree char *state = NULL, *t_state = NULL, *t_avail = NULL;

	manager_snapshot(m->mgr, band, &s);
	state = state_json(&s);
	t_state = mqtt_topic(m, s.id, "state");
	t_avail = mqtt_topic(m, s.id, "availability");
	mqtt_outbox_enqueue(m, t_avail, s.connected ? "online" : "offline", true, true);
	mqtt_outbox_enqueue(m, t_state, state, true, true);
}

static void publish_band_list(struct mqtt *m)
{
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	g_autoptr(cJSON) list = cJSON_CreateArray();
	g_autofree char *payload = NULL, *t = mqtt_topic(m, m->gateway_id, "bands");

	for (guint i = 0; i < bands->len; i++) {
		struct manager_snapshot s;
		cJSON *o = cJSON_CreateObject();

		manager_snapshot(m->mgr, bands->pdata[i], &s);
		cJSON_AddStringToObject(o, "id", s.id);
		cJSON_AddStringToObject(o, "address", s.address);
		cJSON_AddStringToObject(o, "state", s.state);
		cJSON_AddBoolToObject(o, "connected", s.connected);
		cJSON_AddItemToArray(list, o);
	}
	payload = cJSON_PrintUnformatted(list);
	mqtt_outbox_enqueue(m, t, payload, true, true);
}

static gboolean on_state_timer(gpointer user_data)
{
	struct mqtt *m = user_data;
	GHashTableIter it;
	gpointer address;

	m->state_timer = 0;
	mqtt_outbox_batch_begin(m);
	g_hash_table_iter_init(&it, m->dirty);
	while (g_hash_table_iter_next(&it, &address, NULL)) {
		struct band *band = manager_band(m->mgr, address);

		if (band)
			publish_state(m, band);
	}
	g_hash_table_remove_all(m->dirty);
	publish_band_list(m);
	mqtt_outbox_batch_end(m);
	return G_SOURCE_REMOVE;
}

void mqtt_topics_flush_states(struct mqtt *m)
{
	if (m->state_timer) {
		g_clear_handle_id(&m->state_timer, g_source_remove);
		on_state_timer(m);
	}
}

/* ---- discovery ---- */

static void ha_context(const struct mqtt *m, struct ha_context *ret)
{
	*ret = (struct ha_context){ .discovery_prefix = m->prefix, .base_topic = m->base, .gateway_id = m->gateway_id,
	                            .version = BANDGATE_VERSION, .configuration_url = m->url, .mode = m->mode };
}

/* Discovery would stay silent on a context it cannot use: say so at start. A dashboard URL that is not
 * usable (an odd host name) only loses Home Assistant's link to it. */
bool mqtt_topics_check(struct mqtt *m, GError **error)
{
	struct ha_context ctx;

	ha_context(m, &ctx);
	if (ha_context_check(&ctx) == 0)
		return true;
	if (m->url) {
		g_warning("mqtt: the dashboard URL %s is not usable in discovery; left out", m->url);
		g_clear_pointer(&m->url, g_free);
		ha_context(m, &ctx);
		if (ha_context_check(&ctx) == 0)
			return true;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[mqtt] base_topic '%s', discovery_prefix '%s' or "
	            "[gateway] id '%s' cannot be used in Home Assistant discovery", m->base, m->prefix, m->gateway_id);
	return false;
}

static void emit_stored(const char *t, const char *payload, void *user_data)
{
	mqtt_outbox_enqueue(user_data, t, payload, true, true);
}

static void band_discovery(struct mqtt *m, struct band *band)
{
	struct ha_context ctx;
	struct manager_snapshot s;

	ha_context(m, &ctx);
	manager_snapshot(m->mgr, band, &s);
	ha_band_config(&ctx, &(struct ha_band){ .address = s.address, .id = s.id, .firmware = s.firmware }, emit_stored,
	               m);
}

/* A forgotten band leaves Home Assistant: empty retained configs, state and availability. Configs, like
 * everything retained, go through the outbox coalesced by topic, so a band forgotten and added again while the
 * broker is away ends with its newest config, never with a stale empty one. */
static void band_removal(struct mqtt *m, const char *address)
{
	struct ha_context ctx;
	char id[ADDRESS_ID_SIZE];
	g_autofree char *t_state = NULL, *t_avail = NULL;

	address_to_id(address, id);
	ha_context(m, &ctx);
	ha_band_remove(&ctx, &(struct ha_band){ .address = address, .id = id, .firmware = NULL }, emit_stored, m);
	t_state = mqtt_topic(m, id, "state");
	t_avail = mqtt_topic(m, id, "availability");
	mqtt_outbox_enqueue(m, t_state, "", true, true);
	mqtt_outbox_enqueue(m, t_avail, "", true, true);
}

void mqtt_topics_publish_all(struct mqtt *m)
{
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	struct ha_context ctx;

	ha_context(m, &ctx);
	mqtt_outbox_batch_begin(m);
	ha_gateway_config(&ctx, emit_stored, m);
	for (guint i = 0; i < bands->len; i++) {
		band_discovery(m, bands->pdata[i]);
		publish_state(m, bands->pdata[i]);
	}
	publish_band_list(m);
	mqtt_outbox_batch_end(m);
}

static gboolean on_birth_timer(gpointer user_data)
{
	struct mqtt *m = user_data;

	m->birth_timer = 0;
	g_message("mqtt: Home Assistant is online; sending discovery and states");
	mqtt_topics_publish_all(m);
	return G_SOURCE_REMOVE;
}

/* After a random 1-5 s: Home Assistant's guidance, so that a fleet does not answer at once. */
void mqtt_topics_birth(struct mqtt *m)
{
	if (!m->birth_timer)
		m->birth_timer = g_timeout_add((guint)g_random_int_range(1000, 5001), on_birth_timer, m);
}

/* ---- health ---- */

/* The core's health, and the broker session's own count. */
char *mqtt_topics_health_json(struct mqtt *m)
{
	g_autoptr(cJSON) o = cJSON_CreateObject();
	struct manager_health h;

	manager_health(m->mgr, &h);
	cJSON_AddNumberToObject(o, "uptime", (double)h.uptime_s);
	cJSON_AddNumberToObject(o, "rss_kb", (double)h.rss_kb);
	cJSON_AddNumberToObject(o, "outbox", (double)h.outbox);
	cJSON_AddNumberToObject(o, "reconnects", m->reconnects);
	cJSON_AddNumberToObject(o, "adapter_resets", h.adapter_resets);
	cJSON_AddNumberToObject(o, "db_bytes", (double)h.db_bytes);
	cJSON_AddNumberToObject(o, "bands", h.bands);
	return cJSON_PrintUnformatted(o);
}

void mqtt_topics_publish_health(struct mqtt *m)
{
	g_autofree char *payload = mqtt_topics_health_json(m), *t = mqtt_topic(m, m->gateway_id, "health");

	mqtt_session_publish(m, t, payload, true);
}

gboolean mqtt_topics_on_health_timer(gpointer user_data)
{
	mqtt_topics_publish_health(user_data);
	mqtt_outbox_full(user_data, 0);
	return G_SOURCE_CONTINUE;
}

/* ---- the hub's events ---- */

/* A message of the band's that is not a state: button presses, history notes, notification statuses. */
static void publish_event(struct mqtt *m, const char *address, const char *leaf, cJSON *o)
{
	char id[ADDRESS_ID_SIZE];
	g_autofree char *payload = cJSON_PrintUnformatted(o), *t = NULL;

	address_to_id(address, id);
	t = mqtt_topic(m, id, leaf);
	mqtt_outbox_enqueue(m, t, payload, false, false);
	cJSON_Delete(o);
}

static void on_button(struct mqtt *m, const struct hub_event *ev)
{
	g_autofree char *when = view_time_now_us(); /* two presses in one second stay two */
	cJSON *o = cJSON_CreateObject();

	mqtt_topics_flush_states(m); /* what came before the press is published before it */
	cJSON_AddStringToObject(o, "event_type", "press");
	cJSON_AddStringToObject(o, "time", when ? when : "");
	publish_event(m, ev->address, "event", o);
}

static void on_history(struct mqtt *m, const struct hub_event *ev)
{
	g_autofree char *first = view_time(ev->first);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "first", first ? first : "");
	cJSON_AddNumberToObject(o, "minutes", (double)ev->n);
	cJSON_AddNumberToObject(o, "steps", (double)ev->steps);
	publish_event(m, ev->address, "history", o);
}

static void on_notification(struct mqtt *m, const struct hub_event *ev)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)ev->id);
	cJSON_AddStringToObject(o, "status", ev->status ? ev->status : "");
	if (ev->source)
		cJSON_AddStringToObject(o, "source", ev->source);
	if (ev->error)
		cJSON_AddStringToObject(o, "error", ev->error);
	publish_event(m, ev->address, "notification", o);
}

static void on_band_added(struct mqtt *m, const char *address)
{
	struct band *band = manager_band(m->mgr, address);

	mqtt_outbox_batch_begin(m);
	if (band)
		band_discovery(m, band);
	g_hash_table_add(m->dirty, g_strdup(address));
	g_clear_handle_id(&m->state_timer, g_source_remove); /* the new band's state now, with any pending */
	on_state_timer(m);
	mqtt_outbox_batch_end(m);
}

void mqtt_topics_on_hub(const struct hub_event *ev, void *user_data)
{
	struct mqtt *m = user_data;

	switch (ev->kind) {
	case HUB_BAND_ADDED:
		on_band_added(m, ev->address);
		return;
	case HUB_BAND_REMOVED:
		g_hash_table_remove(m->dirty, ev->address);
		mqtt_outbox_batch_begin(m);
		band_removal(m, ev->address);
		publish_band_list(m);
		mqtt_outbox_batch_end(m);
		return;
	case HUB_BAND_MOVED:
		g_hash_table_remove(m->dirty, ev->old_address);
		mqtt_outbox_batch_begin(m);
		band_removal(m, ev->old_address);
		if (manager_band(m->mgr, ev->address))
			band_discovery(m, manager_band(m->mgr, ev->address));
		mqtt_outbox_batch_end(m);
		break;
	case HUB_BAND_CHANGED:
		break;
	case HUB_BAND_BUTTON:
		on_button(m, ev);
		return;
	case HUB_BAND_HISTORY:
		on_history(m, ev);
		return;
	case HUB_NOTIFICATION:
		on_notification(m, ev);
		return;
	}
	g_hash_table_add(m->dirty, g_strdup(ev->address));
	if (!m->state_timer)
		m->state_timer = g_timeout_add(STATE_DELAY_MS, on_state_timer, m);
}
