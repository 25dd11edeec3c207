/* web-private.h: the JSON answers of api.h, for a request that web.c parsed and web-auth.c let through. A band
 * is its view (view.h), the object MQTT publishes: built from manager_snapshot(), never from band.h. */
#define G_LOG_DOMAIN "bandgate-web"
#include <string.h>
#include <time.h>

#include "action.h"
#include "bandgate-version.h"
#include "address.h"
#include "manager.h"
#include "view.h"
#include "web-private.h"

#define SCAN_SECONDS 10
#define LIST_DEFAULT 50

static cJSON *view_of(struct web *web, struct band *band)
{
	struct manager_snapshot s;

	manager_snapshot(web->mgr, band, &s);
	return view_band(&s);
}

cJSON *api_band_view(struct web *web, const char *address)
{
	struct band *band = manager_band(web->mgr, address);

	return band ? view_of(web, band) : NULL;
}

cJSON *api_band_views(struct web *web)
{
	g_autoptr(GPtrArray) bands = manager_bands(web->mgr);
	cJSON *list = cJSON_CreateArray();

	for (guint i = 0; i < bands->len; i++)
		cJSON_AddItemToArray(list, view_of(web, bands->pdata[i]));
	return list;
}

static void add_time(cJSON *o, const char *name, int64_t utc)
{
	g_autofree char *text = utc ? view_time(utc) : NULL;

	if (text)
		cJSON_AddStringToObject(o, name, text);
	else
		cJSON_AddNullToObject(o, name);
}

static void add_text(cJSON *o, const char *name, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

static void add_count(cJSON *o, const char *name, int64_t value)
{
	if (value >= 0)
		cJSON_AddNumberToObject(o, name, (double)value);
	else
		cJSON_AddNullToObject(o, name);
}

cJSON *api_health(struct web *web)
{
	struct manager_health h;
	cJSON *o = cJSON_CreateObject();

	manager_health(web->mgr, &h);
	cJSON_AddStringToObject(o, "version", BANDGATE_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s", (double)h.uptime_s);
	add_count(o, "rss_bytes", h.rss_kb >= 0 ? (int64_t)h.rss_kb * 1024 : -1);
	add_count(o, "db_bytes", h.db_bytes);
	add_count(o, "outbox", h.outbox);
	cJSON_AddNumberToObject(o, "adapter_resets", h.adapter_resets);
	cJSON_AddNumberToObject(o, "bands", h.bands);
	cJSON_AddNumberToObject(o, "samples_stored", (double)h.samples_stored);
	if (h.mqtt_connected < 0)
		cJSON_AddNullToObject(o, "mqtt_connected");
	else
		cJSON_AddBoolToObject(o, "mqtt_connected", h.mqtt_connected);
	cJSON_AddStringToObject(o, "adapter", h.adapter);
	return o;
}

cJSON *api_notification(const struct db_notification *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)n->id);
	cJSON_AddStringToObject(o, "source", n->source);
	cJSON_AddStringToObject(o, "kind", n->kind);
	add_text(o, "text", n->text);
	add_text(o, "status", db_notify_status_name(n->status));
	cJSON_AddNumberToObject(o, "attempts", n->attempts);
	add_time(o, "created", n->created);
	add_time(o, "updated", n->updated);
	add_text(o, "error", n->error);
	return o;
}

static void reply_gerror(struct pss *pss, const GError *error)
{
	unsigned status = 409;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		status = 404;
	else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
		status = 400;
	else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING))
		status = 202;
	web_reply_error(pss, status, error->message);
}

static void reply_storage_error(struct pss *pss, const GError *error)
{
	g_warning("web: reading the database: %s", error ? error->message : "?");
	web_reply_error(pss, 500, "the database could not be read; the log says why");
}

static void get_scan(struct web *web, struct pss *pss)
{
	g_autoptr(GArray) seen = manager_seen(web->mgr);
	cJSON *list = cJSON_CreateArray();

	for (guint i = 0; i < seen->len; i++) {
		struct manager_seen *s = &g_array_index(seen, struct manager_seen, i);
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "address", s->address);
		if (s->has_rssi)
			cJSON_AddNumberToObject(o, "rssi", s->rssi);
		cJSON_AddBoolToObject(o, "managed", s->managed);
		cJSON_AddStringToObject(o, "name", "MI Band 2");
		cJSON_AddItemToArray(list, o);
	}
	web_reply(pss, 200, list);
}

static void post_band(struct web *web, struct pss *pss, const cJSON *body)
{
	const cJSON *address = cJSON_GetObjectItemCaseSensitive(body, "address");
	const char *a = cJSON_IsString(address) ? address->valuestring : NULL;
	g_autoptr(GError) error = NULL;
	char parsed[ADDRESS_SIZE];

	if (a && address_parse(a, strlen(a), parsed))
		a = parsed; /* the id form too, as in URLs; anything else gets manager_add()'s error, naming it */
	if (!a)
		web_reply_error(pss, 400, "give the band as {\"address\": \"C8:0F:10:11:22:33\"}");
	else if (!manager_add(web->mgr, a, &error))
		reply_gerror(pss, error);
	else
		web_reply(pss, 201, api_band_view(web, a));
}

/* A string member, or NULL when absent; false (with the answer given) when present but not a string. */
static bool string_member(struct pss *pss, const cJSON *o, const char *name, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*ret = NULL;
	if (!v)
		return true;
	if (!cJSON_IsString(v)) {
		g_autofree char *msg = g_strdup_printf("'%s' must be a string", name);

		web_reply_error(pss, 400, msg);
		return false;
	}
	*ret = v->valuestring;
	return true;
}

/* notify {"text", "category"?, "kind"?}, vibrate, find: queued as a row, answered with its id. */
static void post_alert(struct web *web, struct pss *pss, const char *address, const struct action *a,
                       const cJSON *o)
{
	const char *text = NULL, *category = NULL, *kind = NULL;
	g_autoptr(GError) error = NULL;
	int64_t id = 0;
	cJSON *r;

	if (!string_member(pss, o, "text", &text) || !string_member(pss, o, "category", &category) ||
	    !string_member(pss, o, "kind", &kind))
		return;
	if (!(a->flags & ACTION_FLAG_TEXT))
		kind = a->name;
	else if (!kind)
		kind = "text";
	if (!manager_notify(web->mgr, address, pss->lan ? "web" : "api", kind, category, text, &id, &error)) {
		reply_gerror(pss, error);
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "id", (double)id);
	cJSON_AddStringToObject(r, "status", "queued");
	web_reply(pss, 202, r);
}

static void post_action(struct web *web, struct pss *pss, const char *address, const char *verb, const cJSON *o)
{
	const struct action *a = action_find(verb, false);
	g_autoptr(GError) error = NULL;
	cJSON *view;

	if (a && (a->flags & ACTION_FLAG_ALERT)) {
		post_alert(web, pss, address, a, o);
		return;
	}
	if (!manager_command(web->mgr, verb, address, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "confirm")),
	                     &error)) {
		reply_gerror(pss, error);
		return;
	}
	if (pss->lan)
		g_message("web: %s from %s for band %s", verb, pss->peer, address);
	view = api_band_view(web, address);
	web_reply(pss, 202, view ? view : cJSON_CreateObject());
}

/* ---- activity by bucket ---- */

struct bucket {
	int64_t start;
	long steps;
	int minutes;
	int hr_n, hr_sum, hr_min, hr_max;
};

/* The start of the gateway-local hour or day that holds t. */
static int64_t bucket_start(int64_t t, enum route_resolution resolution)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (resolution == ROUTE_MINUTE || !localtime_r(&tt, &tm))
		return t - t % 60;
	if (resolution == ROUTE_HOUR)
		return t - tm.tm_min * 60 - tm.tm_sec;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

static cJSON *bucket_json(const struct bucket *b)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "t", (double)b->start);
	add_time(o, "time", b->start);
	cJSON_AddNumberToObject(o, "steps", (double)b->steps);
	cJSON_AddNumberToObject(o, "minutes", b->minutes);
	add_count(o, "heart_rate", b->hr_n ? (b->hr_sum + b->hr_n / 2) / b->hr_n : -1);
	add_count(o, "hr_min", b->hr_n ? b->hr_min : -1);
	add_count(o, "hr_max", b->hr_n ? b->hr_max : -1);
	return o;
}

static void get_activity(struct web *web, struct pss *pss, const char *address)
{
	static const char *const names[] = { [ROUTE_MINUTE] = "minute", [ROUTE_HOUR] = "hour", [ROUTE_DAY] = "day" };
	struct route_query *q = &pss->query;
	const char *why = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) rows = NULL;
	struct bucket b = { .start = -1 };
	cJSON *o, *points;

	if (!route_query_range(q, g_get_real_time() / G_USEC_PER_SEC, &why)) {
		web_reply_error(pss, 400, why);
		return;
	}
	rows = db_activity_range(web->db, address, q->from, q->to, &error);
	if (!rows) {
		reply_storage_error(pss, error);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "resolution", names[q->resolution]);
	cJSON_AddNumberToObject(o, "from", (double)q->from);
	cJSON_AddNumberToObject(o, "to", (double)q->to);
	points = cJSON_AddArrayToObject(o, "points");
	for (guint i = 0; i < rows->len; i++) {
		const struct db_sample *s = &g_array_index(rows, struct db_sample, i);
		int64_t start = bucket_start(s->minute, q->resolution);

		if (start != b.start) {
			if (b.start >= 0)
				cJSON_AddItemToArray(points, bucket_json(&b));
			b = (struct bucket){ .start = start, .hr_min = 255 };
		}
		b.steps += s->steps;
		b.minutes++;
		if (s->heart_rate >= 1 && s->heart_rate <= 254) {
			b.hr_n++;
			b.hr_sum += s->heart_rate;
			b.hr_min = MIN(b.hr_min, s->heart_rate);
			b.hr_max = MAX(b.hr_max, s->heart_rate);
		}
	}
	if (b.start >= 0)
		cJSON_AddItemToArray(points, bucket_json(&b));
	web_reply(pss, 200, o);
}

/* ---- the timeline and the notifications ---- */

static cJSON *event_json(const struct db_event *e)
{
	cJSON *o = cJSON_CreateObject();
	char id[ADDRESS_ID_SIZE];

	cJSON_AddNumberToObject(o, "id", (double)e->id);
	add_time(o, "time", e->when);
	cJSON_AddStringToObject(o, "type", e->type);
	add_text(o, "detail", e->detail);
	if (e->address[0]) {
		address_to_id(e->address, id);
		cJSON_AddStringToObject(o, "band", id);
	} else {
		cJSON_AddNullToObject(o, "band");
	}
	return o;
}

/* A list read from the database, each row as to_json makes it; a failed read is a 500 (the log says why). */
static void reply_rows(struct pss *pss, GPtrArray *rows, const GError *error, cJSON *(*to_json)(const void *row))
{
	cJSON *list;

	if (!rows) {
		reply_storage_error(pss, error);
		return;
	}
	list = cJSON_CreateArray();
	for (guint i = 0; i < rows->len; i++)
		cJSON_AddItemToArray(list, to_json(rows->pdata[i]));
	web_reply(pss, 200, list);
}

static cJSON *event_row(const void *row)
{
	return event_json(row);
}

static cJSON *notification_row(const void *row)
{
	return api_notification(row);
}

/* The band's events and the gateway's own (adapter resets: they concern every band), newest first. */
static void get_events(struct web *web, struct pss *pss, const char *address)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rows = db_event_timeline(web->db, address, pss->query.limit ? pss->query.limit : LIST_DEFAULT,
	                                              &error);

	reply_rows(pss, rows, error, event_row);
}

static void get_notifications(struct web *web, struct pss *pss, const char *address)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rows = db_notify_list(web->db, address, pss->query.limit ? pss->query.limit : LIST_DEFAULT,
	                                           &error);

	reply_rows(pss, rows, error, notification_row);
}

static void reply_metrics(struct web *web, struct pss *pss)
{
	g_autofree char *text = metrics_text(web->mgr, web->responses);

	web_reply_text(pss, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

void api_dispatch(struct web *web, struct pss *pss, const cJSON *body)
{
	const struct route *r = &pss->route;
	bool band_route = r->kind == ROUTE_BAND || r->kind == ROUTE_BAND_ACTIVITY || r->kind == ROUTE_BAND_EVENTS ||
	                  r->kind == ROUTE_BAND_NOTIFICATIONS;

	if (band_route && !manager_band(web->mgr, r->address)) {
		web_reply_error(pss, 404, "no managed band has that address");
		return;
	}
	switch (r->kind) {
	case ROUTE_HEALTHZ:
		web_reply(pss, 200, cJSON_CreateObject());
		break;
	case ROUTE_BANDS:
		if (pss->post)
			post_band(web, pss, body);
		else
			web_reply(pss, 200, api_band_views(web));
		break;
	case ROUTE_BAND:
		web_reply(pss, 200, api_band_view(web, r->address));
		break;
	case ROUTE_BAND_ACTION:
		post_action(web, pss, r->address, r->verb, body);
		break;
	case ROUTE_BAND_ACTIVITY:
		get_activity(web, pss, r->address);
		break;
	case ROUTE_BAND_EVENTS:
		get_events(web, pss, r->address);
		break;
	case ROUTE_BAND_NOTIFICATIONS:
		get_notifications(web, pss, r->address);
		break;
	case ROUTE_SCAN:
		if (pss->post)
			manager_scan(web->mgr, SCAN_SECONDS);
		get_scan(web, pss);
		break;
	case ROUTE_HEALTH:
		web_reply(pss, 200, api_health(web));
		break;
	case ROUTE_METRICS:
		reply_metrics(web, pss);
		break;
	case ROUTE_LOGIN: /* web.c answers these */
	case ROUTE_LOGOUT:
	case ROUTE_SESSION:
	case ROUTE_WS:
	case ROUTE_ASSET:
	case ROUTE_ERROR:
		web_reply_error(pss, 500, "no handler for this route");
		break;
	}
}
