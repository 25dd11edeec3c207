/* view.h */
#include <glib.h>
#include <string.h>

#include "manager.h"
#include "view.h"

/* The local zone, looked up again once a minute: GLib re-reads /etc/localtime on every local time otherwise,
 * and the web formats a dozen times per request. */
static GTimeZone *local_zone(void)
{
	static GTimeZone *zone;
	static int64_t loaded_us;
	int64_t now = g_get_monotonic_time();

	if (!zone || now - loaded_us > 60 * G_USEC_PER_SEC) {
		if (zone)
			g_time_zone_unref(zone);
		zone = g_time_zone_new_local();
		loaded_us = now;
	}
	return zone;
}

static GDateTime *local_time(int64_t utc)
{
	g_autoptr(GDateTime) u = g_date_time_new_from_unix_utc(utc);

	return u ? g_date_time_to_timezone(u, local_zone()) : NULL;
}

/* Not g_date_time_format_iso8601(): it writes "+02" for a whole-hour offset, which RFC 3339 (and so a browser's
 * Date and Home Assistant's parser) refuses. */
char *view_time(int64_t utc)
{
	g_autoptr(GDateTime) t = local_time(utc);

	return t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%S%:z") : NULL;
}

char *view_time_now_us(void)
{
	int64_t now = g_get_real_time();
	g_autoptr(GDateTime) t = local_time(now / G_USEC_PER_SEC);
	g_autoptr(GDateTime) exact = t ? g_date_time_add(t, now % G_USEC_PER_SEC) : NULL;

	return exact ? g_date_time_format(exact, "%Y-%m-%dT%H:%M:%S.%f%:z") : NULL;
}

static void add_number(cJSON *o, const char *name, long value, bool known)
{
	if (known)
		cJSON_AddNumberToObject(o, name, (double)value);
	else
		cJSON_AddNullToObject(o, name);
}

static void add_string(cJSON *o, const char *name, const char *value)
{
	if (value && *value)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

/* "14:02" in local time, for the advice's "since". */
static char *clock_of(int64_t utc)
{
	g_autoptr(GDateTime) t = utc ? local_time(utc) : NULL;

	return t ? g_date_time_format(t, "%H:%M") : g_strdup("start");
}

static bool adapter_down(const struct manager_snapshot *s)
{
	return s->adapter && strcmp(s->adapter, "powered") != 0;
}

/* Where the fault is, when the band is not ready: the adapter, the band (not advertising, refusing the key) or
 * the link between them (it drops, or does not come up). NULL while ready or while an operator's action runs. */
const char *view_fault(const struct manager_snapshot *s)
{
	if (s->connected || strcmp(s->state, "resetting") == 0 || strcmp(s->state, "awaiting-tap") == 0)
		return NULL;
	if (adapter_down(s))
		return "adapter";
	if (strcmp(s->state, "absent") == 0 || strcmp(s->state, "auth-rejected") == 0)
		return "band";
	return "link";
}

char *view_advice(const struct manager_snapshot *s)
{
	g_autofree char *since = NULL;

	if (strcmp(s->state, "awaiting-tap") == 0)
		return g_strdup("Tap the band now");
	if (strcmp(s->state, "auth-rejected") == 0)
		return g_strdup("Paired to another phone: press Re-pair");
	if (strcmp(s->state, "resetting") == 0)
		return g_strdup("Resetting: wait a moment");
	if (s->connected && strcmp(s->sync, "failed") == 0)
		return g_strdup("The last sync failed: press Sync now, or Reconnect");
	if (s->connected)
		return NULL;
	if (adapter_down(s) && strcmp(s->adapter, "resetting") == 0)
		return g_strdup("The adapter stopped answering: the gateway is resetting it");
	if (adapter_down(s))
		return g_strdup("The Bluetooth adapter is off or missing: check the gateway's Bluetooth");
	if (strcmp(s->state, "absent") == 0 || strcmp(s->state, "disconnected") == 0)
		since = clock_of(s->since);
	if (strcmp(s->state, "absent") == 0)
		return g_strdup_printf("Out of range since %s: bring the band near the gateway", since);
	if (strcmp(s->state, "disconnected") == 0)
		return g_strdup_printf("The link dropped at %s: reconnecting", since);
	return g_strdup("Connecting…");
}

cJSON *view_band(const struct manager_snapshot *s)
{
	g_autofree char *last_sync = s->last_sync ? view_time(s->last_sync) : NULL;
	g_autofree char *since = s->since ? view_time(s->since) : NULL;
	g_autofree char *tap_deadline = s->tap_deadline ? view_time(s->tap_deadline) : NULL;
	g_autofree char *advice = view_advice(s);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", s->id);
	cJSON_AddStringToObject(o, "address", s->address);
	cJSON_AddStringToObject(o, "state", s->state);
	add_string(o, "description", s->description);
	cJSON_AddBoolToObject(o, "connected", s->connected);
	add_number(o, "steps", s->steps, s->steps >= 0);
	add_number(o, "distance", s->meters, s->meters >= 0);
	add_number(o, "calories", s->calories, s->calories >= 0);
	add_number(o, "battery", s->battery, s->battery >= 0);
	cJSON_AddBoolToObject(o, "charging", s->charging);
	add_number(o, "heart_rate", s->heart_rate, s->heart_rate > 0);
	add_string(o, "last_sync", last_sync);
	cJSON_AddStringToObject(o, "sync", s->sync);
	add_string(o, "sync_error", s->sync_error);
	add_string(o, "firmware", s->firmware);
	add_number(o, "rssi", s->rssi, s->has_rssi);
	add_string(o, "advice", advice);
	add_string(o, "fault", view_fault(s));
	add_string(o, "since", since);
	add_string(o, "tap_deadline", tap_deadline);
	return o;
}
