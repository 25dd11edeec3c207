/* view.h */
#include <glib.h>

#include "manager.h"
#include "view.h"

char *view_time(int64_t utc)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(utc);

	return t ? g_date_time_format_iso8601(t) : NULL;
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

cJSON *view_band(const struct manager_snapshot *s)
{
	g_autofree char *last_sync = s->last_sync ? view_time(s->last_sync) : NULL;
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
	return o;
}
