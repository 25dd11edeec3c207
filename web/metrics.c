/* metrics.h */
#define G_LOG_DOMAIN "bandgate-web" /* G_MESSAGES_DEBUG=bandgate-web turns on its debug lines alone */
#include <glib.h>

#include "band.h"
#include "manager.h"
#include "metrics.h"

static void family(GString *out, const char *name, const char *type, const char *help)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void bands_by_state(GString *out, GPtrArray *bands)
{
	family(out, "bandgate_bands", "gauge", "Managed bands by the state of their link.");
	for (int s = BAND_STATE_ABSENT; s <= BAND_STATE_RESETTING; s++) {
		unsigned n = 0;

		for (guint i = 0; i < bands->len; i++)
			n += band_state(bands->pdata[i]) == (enum band_state)s;
		g_string_append_printf(out, "bandgate_bands{state=\"%s\"} %u\n", band_state_name(s), n);
	}
}

/* One family of one value per band, over the bands' snapshots; a value a band does not have is left out. */
static void per_band(GString *out, GArray *snaps, const char *name, const char *type, const char *help,
                     double (*value)(const struct manager_snapshot *s, bool *ret_known))
{
	family(out, name, type, help);
	for (guint i = 0; i < snaps->len; i++) {
		const struct manager_snapshot *s = &g_array_index(snaps, struct manager_snapshot, i);
		bool known = true;
		double v = value(s, &known);

		if (known)
			g_string_append_printf(out, "%s{band=\"%s\"} %.17g\n", name, s->id, v);
	}
}

static double connected(const struct manager_snapshot *s, bool *ret_known)
{
	(void)ret_known;
	return s->connected;
}

static double battery(const struct manager_snapshot *s, bool *ret_known)
{
	*ret_known = s->battery >= 0;
	return s->battery / 100.0;
}

static double steps(const struct manager_snapshot *s, bool *ret_known)
{
	*ret_known = s->steps >= 0;
	return (double)s->steps;
}

static double reconnects(const struct manager_snapshot *s, bool *ret_known)
{
	(void)ret_known;
	return s->connections ? s->connections - 1 : 0;
}

static void gateway(GString *out, struct manager *mgr)
{
	struct manager_health h;

	manager_health(mgr, &h);
	family(out, "bandgate_adapter_resets_total", "counter", "Power-cycles of the Bluetooth adapter since start.");
	g_string_append_printf(out, "bandgate_adapter_resets_total %u\n", h.adapter_resets);
	family(out, "bandgate_history_samples_stored_total", "counter", "Minutes of activity history stored since start.");
	g_string_append_printf(out, "bandgate_history_samples_stored_total %" G_GUINT64_FORMAT "\n", h.samples_stored);
	if (h.outbox >= 0) {
		family(out, "bandgate_mqtt_outbox_messages", "gauge", "Messages stored for the broker, not yet acknowledged.");
		g_string_append_printf(out, "bandgate_mqtt_outbox_messages %" G_GINT64_FORMAT "\n", h.outbox);
	}
	if (h.mqtt_connected >= 0) {
		family(out, "bandgate_mqtt_connected", "gauge", "1 while the MQTT broker session is up.");
		g_string_append_printf(out, "bandgate_mqtt_connected %d\n", h.mqtt_connected);
	}
	if (h.db_bytes >= 0) {
		family(out, "bandgate_database_bytes", "gauge", "The database file with its write-ahead log.");
		g_string_append_printf(out, "bandgate_database_bytes %" G_GINT64_FORMAT "\n", h.db_bytes);
	}
	if (h.rss_kb >= 0) {
		family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
		g_string_append_printf(out, "process_resident_memory_bytes %ld\n", h.rss_kb * 1024);
	}
	family(out, "bandgate_uptime_seconds", "gauge", "Seconds since the daemon started.");
	g_string_append_printf(out, "bandgate_uptime_seconds %" G_GINT64_FORMAT "\n", h.uptime_s);
}

static void http(GString *out, const uint64_t responses[METRICS_STATUS_MAX])
{
	family(out, "bandgate_http_requests_total", "counter", "HTTP requests answered, by status code.");
	for (unsigned code = 100; code < METRICS_STATUS_MAX; code++)
		if (responses[code])
			g_string_append_printf(out, "bandgate_http_requests_total{code=\"%u\"} %" G_GUINT64_FORMAT "\n", code,
			                       responses[code]);
}

char *metrics_text(struct manager *mgr, const uint64_t responses[METRICS_STATUS_MAX])
{
	g_autoptr(GPtrArray) bands = manager_bands(mgr);
	/* A snapshot reads the database (the sync cursor, today's totals): one per band, for every family. */
	g_autoptr(GArray) snaps = g_array_sized_new(FALSE, FALSE, sizeof(struct manager_snapshot), bands->len);
	GString *out = g_string_new(NULL);

	g_array_set_size(snaps, bands->len);
	for (guint i = 0; i < bands->len; i++)
		manager_snapshot(mgr, bands->pdata[i], &g_array_index(snaps, struct manager_snapshot, i));
	bands_by_state(out, bands);
	per_band(out, snaps, "bandgate_band_connected", "gauge", "1 while the band is connected and authenticated.",
	         connected);
	per_band(out, snaps, "bandgate_band_battery_ratio", "gauge", "The band's battery charge, 0 to 1.", battery);
	per_band(out, snaps, "bandgate_band_steps", "gauge", "The band's steps today.", steps);
	per_band(out, snaps, "bandgate_band_reconnects_total", "counter",
	         "Times the band became ready again since the gateway started.", reconnects);
	gateway(out, mgr);
	http(out, responses);
	return g_string_free(out, FALSE);
}
