/* The band manager (manager.h, manager-private.h): the registry of bands and what they report (stored first,
 * then emitted on the hub), their history syncs and alert queues, the command API, and the gateway's health.
 * The BlueZ side is manager-adapter.c's, the live values manager-live.c's. */
#define G_LOG_DOMAIN "bandgate-manager" /* G_MESSAGES_DEBUG=bandgate-manager turns on its debug lines alone */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "action.h"
#include "address.h"
#include "manager-private.h"
#include "miband2.h"

/* Tell the consumers; the database already has it. */
void manager_emit(struct manager *mgr, enum hub_kind kind, const char *address)
{
	hub_emit(mgr->hub, &(struct hub_event){ .kind = kind, .address = address, .time = manager_now_s() });
}

/* ---- events: the band's own, and the gateway's about it ---- */

static void on_event(struct band *band, const char *type, const char *detail, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	if (!db_event_add(mgr->db, band_address(band), manager_now_s(), type, detail, &error))
		band_log(band, G_LOG_LEVEL_WARNING, "event not stored: %s", error->message);
	if (strcmp(type, "button") == 0)
		manager_emit(mgr, HUB_BAND_BUTTON, band_address(band));
	else if (strcmp(type, "sync-retry") == 0) /* the band's view says "retrying" */
		manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

/* ---- history ---- */

static long steps_of(const struct db_sample *rows, size_t n)
{
	long steps = 0;

	for (size_t i = 0; i < n; i++)
		steps += rows[i].steps;
	return steps;
}

/* The all-day measurements come in the history's heart rate byte: the newest is the band's current value. */
static void history_heart_rate(struct manager *mgr, struct band *band, const struct db_sample *rows, size_t n)
{
	struct live *l = manager_live_of(mgr, band);

	for (size_t i = n; i-- > 0;) {
		if (rows[i].heart_rate == MIBAND2_HR_NONE || rows[i].heart_rate == 0)
			continue;
		if (rows[i].minute > l->heart_rate_time) {
			l->heart_rate = rows[i].heart_rate;
			l->heart_rate_time = rows[i].minute;
		}
		return;
	}
}

static bool on_history(struct band *band, int64_t first, int tz, const struct miband2_sample *samples, size_t n,
                       int64_t next, void *user_data)
{
	struct manager *mgr = user_data;
	g_autofree struct db_sample *rows = g_new(struct db_sample, n);
	g_autoptr(GError) error = NULL;

	for (size_t i = 0; i < n; i++)
		rows[i] = (struct db_sample){ .minute = first - first % 60 + 60 * (int64_t)i, .tz = (int8_t)tz,
		                              .kind = samples[i].kind, .intensity = samples[i].intensity,
		                              .steps = samples[i].steps, .heart_rate = samples[i].heart_rate };
	if (!db_activity_store(mgr->db, band_address(band), rows, n, next - next % 60, &error)) {
		band_log(band, G_LOG_LEVEL_WARNING, "%zu minutes of history not stored: %s", n, error->message);
		return false;
	}
	band_log(band, G_LOG_LEVEL_DEBUG, "stored %zu minutes of history", n);
	history_heart_rate(mgr, band, rows, n);
	mgr->samples_stored += n;
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_BAND_HISTORY, .address = band_address(band), .time = manager_now_s(),
	                                        .first = rows[0].minute, .n = n, .steps = steps_of(rows, n) });
	return true;
}

static void on_sync_done(struct band *band, bool ok, const char *why, void *user_data)
{
	struct manager *mgr = user_data;
	struct live *l = manager_live_of(mgr, band);
	g_autoptr(GError) error = NULL;
	int64_t now = manager_now_s();

	if (ok && !db_sync_done(mgr->db, band_address(band), now, &error)) {
		band_log(band, G_LOG_LEVEL_WARNING, "%s", error->message);
	} else if (ok) {
		l->last_sync = now;
		l->last_sync_known = true;
	}
	if (!ok)
		on_event(band, "sync-failed", why, mgr);
	manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

/* A sync from the stored cursor: the one way in, for ready, the timer and the operator's action. */
static bool start_sync(struct manager *mgr, struct band *band, GError **error)
{
	int64_t cursor = 0;

	return db_sync_get(mgr->db, band_address(band), &cursor, NULL, error) && band_sync(band, cursor, error);
}

void manager_sync_band(struct manager *mgr, struct band *band)
{
	g_autoptr(GError) error = NULL;

	if (!start_sync(mgr, band, &error))
		band_log(band, G_LOG_LEVEL_MESSAGE, "no sync now: %s", error->message);
}

static gboolean on_sync_timer(gpointer user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	for (guint i = 0; i < bands->len; i++)
		if (band_state(bands->pdata[i]) == BAND_STATE_READY)
			manager_sync_band(mgr, bands->pdata[i]);
	return G_SOURCE_CONTINUE;
}

static gboolean on_prune_timer(gpointer user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	int64_t deleted = 0;

	if (!db_prune(mgr->db, manager_now_s() - (int64_t)mgr->retention_days * 86400, &deleted, &error))
		g_warning("pruning old data failed: %s", error->message);
	else if (deleted)
		g_message("pruned %" G_GINT64_FORMAT " rows older than %u days", deleted, mgr->retention_days);
	return G_SOURCE_CONTINUE;
}

/* ---- alerts: the queue is the notifications table; one plays at a time per band ---- */

static enum band_alert_kind alert_kind(const char *kind)
{
	return strcmp(kind, "vibrate") == 0 ? BAND_ALERT_VIBRATE :
	       strcmp(kind, "find") == 0    ? BAND_ALERT_FIND :
	                                      BAND_ALERT_TEXT;
}

void manager_pump_alerts(struct manager *mgr, struct band *band)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) queued = NULL;
	struct db_notification *n;

	if (!band_alert_idle(band))
		return;
	queued = db_notify_queued(mgr->db, band_address(band), &error);
	if (!queued) {
		band_log(band, G_LOG_LEVEL_WARNING, "the alert queue cannot be read: %s", error->message);
		return;
	}
	if (!queued->len)
		return;
	n = queued->pdata[0];
	if (!band_alert(band, n->id, alert_kind(n->kind), n->category, n->text, &error))
		band_log(band, G_LOG_LEVEL_DEBUG, "alert %" G_GINT64_FORMAT " waits: %s", n->id, error->message);
}

static void on_alert_done(struct band *band, int64_t id, const char *why, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	struct db_notification n = { 0 };
	enum db_notify_status status = DB_NOTIFY_SENT;

	if (why && db_notify_get(mgr->db, id, &n, NULL))
		status = n.attempts + 1 >= ALERT_ATTEMPTS ? DB_NOTIFY_FAILED : DB_NOTIFY_QUEUED;
	db_notification_clear(&n);
	if (!db_notify_attempt(mgr->db, id, status, manager_now_s(), why, &error)) {
		band_log(band, G_LOG_LEVEL_WARNING, "alert %" G_GINT64_FORMAT ": %s", id, error->message);
		return;
	}
	if (why)
		band_log(band, G_LOG_LEVEL_MESSAGE, "alert %" G_GINT64_FORMAT " not delivered (%s)%s", id, why,
		          status == DB_NOTIFY_FAILED ? "; given up" : "; it stays queued");
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_NOTIFICATION, .address = band_address(band), .time = manager_now_s(),
	                                        .id = id, .status = db_notify_status_name(status), .error = why });
}

static void on_alert_idle(struct band *band, void *user_data)
{
	manager_pump_alerts(user_data, band);
}

/* ---- from the bands ---- */

/* The transitions an operator looks back on, as rows of the events table. A retry loop writes nothing. */
static const char *event_of(enum band_state state, enum band_state previous)
{
	if (state == previous)
		return NULL;
	if (state == BAND_STATE_READY)
		return "connected";
	if (previous == BAND_STATE_READY)
		return "disconnected";
	if (state == BAND_STATE_AUTH_REJECTED)
		return "auth-rejected";
	if (state == BAND_STATE_AWAITING_TAP)
		return "pairing";
	if (state == BAND_STATE_RESETTING)
		return "reset";
	return NULL;
}

static void on_state_changed(struct band *band, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;
	const char *event = event_of(band_state(band), band_previous_state(band));

	if (event && !db_event_add(mgr->db, band_address(band), now, event, band_state_description(band), &error))
		band_log(band, G_LOG_LEVEL_WARNING, "event not stored: %s", error->message);
	g_clear_error(&error);
	if (band_state(band) == BAND_STATE_READY && !db_band_set_connected(mgr->db, band_address(band), now, &error))
		band_log(band, G_LOG_LEVEL_WARNING, "%s", error->message);
	if (band_state(band) == BAND_STATE_READY && band_previous_state(band) != BAND_STATE_READY) {
		manager_live_of(mgr, band)->connections++;
		manager_sync_band(mgr, band);
		if (*band_firmware(band)) /* else once it is read: whether text shows depends on it (§12.2) */
			manager_pump_alerts(mgr, band);
	} else if (band_previous_state(band) == BAND_STATE_READY) {
		manager_live_flush(mgr, band);
	}
	manager_update_discovery(mgr);
	manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

static void on_key_changed(struct band *band, const uint8_t *key, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	bool ok = key ? db_band_set_key(mgr->db, band_address(band), key, &error) :
	                db_band_clear_key(mgr->db, band_address(band), &error);

	if (!ok)
		band_log(band, G_LOG_LEVEL_WARNING, "the key could not be stored: %s", error->message);
}

static void on_address_changed(struct band *band, const char *old, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	gpointer old_key = NULL;

	g_hash_table_steal_extended(mgr->bands, old, &old_key, NULL);
	g_free(old_key);
	g_hash_table_insert(mgr->bands, g_strdup(band_address(band)), band);
	if (!db_band_move(mgr->db, old, band_address(band), &error))
		band_log_at(G_LOG_DOMAIN, old, G_LOG_LEVEL_WARNING, "could not follow it to %s: %s", band_address(band),
		            error->message);
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_BAND_MOVED, .address = band_address(band), .time = manager_now_s(),
	                                        .old_address = old });
}

static void on_firmware(struct band *band, const char *version, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	if (!db_band_set_firmware(mgr->db, band_address(band), version, &error))
		band_log(band, G_LOG_LEVEL_WARNING, "%s", error->message);
	manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
	manager_pump_alerts(mgr, band);
}

static const struct band_ops band_ops = {
	.state_changed = on_state_changed,
	.key_changed = on_key_changed,
	.address_changed = on_address_changed,
	.firmware = on_firmware,
	.adapter_trouble = manager_adapter_trouble,
	.steps = manager_live_on_steps,
	.battery = manager_live_on_battery,
	.heart_rate = manager_live_on_heart_rate,
	.event = on_event,
	.history = on_history,
	.sync_done = on_sync_done,
	.alert_done = on_alert_done,
	.alert_idle = on_alert_idle,
};

/* ---- the command API ---- */

struct band *manager_band_add(struct manager *mgr, const char *address, const uint8_t *key)
{
	struct band *band = band_new(mgr->bz, address, key, &band_ops, mgr);

	band_set_heart_rate_interval(band, (int)mgr->hr_interval);
	g_hash_table_insert(mgr->bands, g_strdup(band_address(band)), band);
	return band;
}

bool manager_add(struct manager *mgr, const char *address, GError **error)
{
	char upper[ADDRESS_SIZE];

	if (!address_normalise(address, upper)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not a Bluetooth address",
		            address ? address : "");
		return false;
	}
	if (manager_band(mgr, upper))
		return true;
	if (!db_band_add(mgr->db, upper, error))
		return false;
	manager_band_add(mgr, upper, NULL);
	manager_emit(mgr, HUB_BAND_ADDED, upper);
	manager_update_discovery(mgr);
	return true;
}

struct band *manager_band(struct manager *mgr, const char *address)
{
	char upper[ADDRESS_SIZE];

	return address_normalise(address, upper) ? g_hash_table_lookup(mgr->bands, upper) : NULL;
}

static gint by_address(gconstpointer a, gconstpointer b)
{
	return strcmp(band_address(*(struct band *const *)a), band_address(*(struct band *const *)b));
}

GPtrArray *manager_bands(struct manager *mgr)
{
	GPtrArray *bands = g_ptr_array_new();
	GHashTableIter it;
	gpointer band;

	g_hash_table_iter_init(&it, mgr->bands);
	while (g_hash_table_iter_next(&it, NULL, &band))
		g_ptr_array_add(bands, band);

	g_ptr_array_sort(bands, by_address);
	return bands;
}

/* The rows first: if they cannot go, the band stays managed and untouched rather than half-forgotten. */
static bool forget(struct manager *mgr, struct band *band, GError **error)
{
	g_autofree char *gone = NULL;

	if (!db_band_forget(mgr->db, band_address(band), error))
		return false;
	gone = g_strdup(band_address(band));
	band_forget(band);
	g_hash_table_remove(mgr->bands, gone);
	g_hash_table_remove(mgr->live, gone);
	manager_update_discovery(mgr);
	manager_emit(mgr, HUB_BAND_REMOVED, gone);
	return true;
}

bool manager_command(struct manager *mgr, const char *verb, const char *address, bool confirm, GError **error)
{
	struct band *band = manager_band(mgr, address);
	const struct action *a = action_find(verb, false);

	if (!band) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no managed band has the address '%s'",
		            address ? address : "");
		return false;
	}
	if (!a || (a->flags & ACTION_FLAG_ALERT)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown action '%.40s'", verb ? verb : "");
		return false;
	}
	if ((a->flags & ACTION_FLAG_CONFIRM) && !confirm) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "%s: it cannot be undone (it will %s): "
		            "confirm it explicitly", a->name, a->summary);
		return false;
	}
	switch (a->id) {
	case ACTION_RECONNECT:
		return band_reconnect(band, error);
	case ACTION_RESET:
		return band_reset(band, error);
	case ACTION_REPAIR:
		return band_repair(band, error);
	case ACTION_REBOOT:
		return band_reboot(band, error);
	case ACTION_FACTORY_RESET:
		return band_factory_reset(band, error);
	case ACTION_FORGET:
		return forget(mgr, band, error);
	case ACTION_SYNC:
		return start_sync(mgr, band, error);
	case ACTION_HEART_RATE:
		return band_measure_heart_rate(band, error);
	case ACTION_SET_TIME:
		return band_set_time(band, error);
	case ACTION_NOTIFY: /* alerts go through manager_notify(): refused above */
	case ACTION_VIBRATE:
	case ACTION_FIND:
	case ACTION_COUNT:
		break;
	}
	return false;
}

/* The alert categories by name (§12.2). */
static const struct {
	const char *name;
	int category;
} categories[] = {
	{ "simple", MIBAND2_ALERT_CATEGORY_SIMPLE },         { "email", MIBAND2_ALERT_CATEGORY_EMAIL },
	{ "news", MIBAND2_ALERT_CATEGORY_NEWS },             { "call", MIBAND2_ALERT_CATEGORY_INCOMING_CALL },
	{ "missed-call", MIBAND2_ALERT_CATEGORY_MISSED_CALL }, { "sms", MIBAND2_ALERT_CATEGORY_SMS },
	{ "voicemail", MIBAND2_ALERT_CATEGORY_VOICE_MAIL },  { "schedule", MIBAND2_ALERT_CATEGORY_SCHEDULE },
	{ "high-priority", MIBAND2_ALERT_CATEGORY_HIGH_PRIORITY }, { "im", MIBAND2_ALERT_CATEGORY_INSTANT_MESSAGE },
	{ "app", MIBAND2_ALERT_CATEGORY_CUSTOM },
};

static int alert_category(const char *name)
{
	for (size_t i = 0; name && i < G_N_ELEMENTS(categories); i++)
		if (strcmp(categories[i].name, name) == 0)
			return categories[i].category;
	return -1;
}

static bool alert_valid(const char *kind, const char *text, GError **error)
{
	if (!kind || (strcmp(kind, "text") != 0 && strcmp(kind, "vibrate") != 0 && strcmp(kind, "find") != 0)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "an alert is text, vibrate or find");
		return false;
	}
	if (strcmp(kind, "text") == 0 && (!text || !*text)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "a text alert needs a text");
		return false;
	}
	if (text && (strlen(text) > ALERT_TEXT_MAX || miband2_utf8_check(text, strlen(text)) < 0)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "the text must be valid UTF-8 of at most %d bytes", ALERT_TEXT_MAX);
		return false;
	}
	return true;
}

bool manager_notify(struct manager *mgr, const char *address, const char *source, const char *kind,
                    const char *category, const char *text, int64_t *ret_id, GError **error)
{
	struct band *band = manager_band(mgr, address);
	int cat = category ? alert_category(category) : MIBAND2_ALERT_CATEGORY_SMS;
	int64_t id = 0;

	if (!band) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no managed band has the address '%s'",
		            address ? address : "");
		return false;
	}
	if (cat < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		            "unknown category '%s' (sms, call, email, im, app, news, simple, ...)", category);
		return false;
	}
	if (!alert_valid(kind, text, error) ||
	    !db_notify_add(mgr->db, band_address(band), source, kind, cat, NULL, strcmp(kind, "text") == 0 ? text : NULL,
	                   manager_now_s(), &id, error))
		return false;
	if (ret_id)
		*ret_id = id;
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_NOTIFICATION, .address = band_address(band), .time = manager_now_s(),
	                                        .id = id, .status = "queued", .source = source });
	manager_pump_alerts(mgr, band);
	return true;
}

static gboolean scan_over(gpointer user_data)
{
	struct manager *mgr = user_data;

	mgr->scan_timer = 0;
	manager_update_discovery(mgr);
	return G_SOURCE_REMOVE;
}

void manager_scan(struct manager *mgr, unsigned seconds)
{
	g_clear_handle_id(&mgr->scan_timer, g_source_remove);
	mgr->scan_timer = g_timeout_add_seconds(CLAMP(seconds, 1u, 120u), scan_over, mgr);
	manager_update_discovery(mgr);
}

GArray *manager_seen(struct manager *mgr)
{
	g_auto(GStrv) addresses = bluez_devices_named(mgr->bz, "MI Band 2");
	GArray *seen = g_array_new(FALSE, TRUE, sizeof(struct manager_seen));

	for (char **a = addresses; *a; a++) {
		struct manager_seen s = { .managed = manager_band(mgr, *a) != NULL };
		struct bluez_device_info info;

		g_strlcpy(s.address, *a, sizeof(s.address));
		if (bluez_device_info(mgr->bz, *a, &info) && info.has_rssi) {
			s.has_rssi = true;
			s.rssi = info.rssi;
		}
		g_array_append_val(seen, s);
	}
	return seen;
}

/* ---- life ---- */

static bool load_bands(struct manager *mgr, const struct config *cfg, GError **error)
{
	g_autoptr(GPtrArray) rows = NULL;

	for (char **a = cfg->bands; a && *a; a++)
		if (!db_band_add(mgr->db, *a, error))
			return false;
	rows = db_band_list(mgr->db, error);
	if (!rows)
		return false;
	for (guint i = 0; i < rows->len; i++) {
		struct db_band *row = rows->pdata[i];

		manager_band_add(mgr, row->address, row->has_key ? row->key : NULL);
	}
	return true;
}

struct manager *manager_new(const struct config *cfg, struct db *db, GError **error)
{
	struct manager *mgr = g_new0(struct manager, 1);

	mgr->db = db;
	mgr->started_us = g_get_monotonic_time();
	mgr->mqtt_connected = -1;
	mgr->db_path = g_strdup(cfg->database);
	mgr->bands = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)band_free);
	mgr->live = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	mgr->hub = hub_new();
	mgr->bz = bluez_new(cfg->adapter, &manager_bluez_ops, mgr);
	mgr->hr_interval = cfg->heart_rate_interval;
	if (!load_bands(mgr, cfg, error)) {
		manager_free(mgr);
		return NULL;
	}
	mgr->sync_timer = g_timeout_add_seconds(cfg->sync_interval, on_sync_timer, mgr);
	mgr->retention_days = cfg->retention_days;
	if (cfg->retention_days) {
		on_prune_timer(mgr);
		mgr->prune_timer = g_timeout_add_seconds(PRUNE_PERIOD_S, on_prune_timer, mgr);
	}
	if (cfg->adapter_watchdog) {
		mgr->silence_base_us = mgr->silence_limit_us = (int64_t)cfg->adapter_watchdog * G_USEC_PER_SEC;
		/* Checked a few times per limit, so the power-cycle comes at most a third late. */
		mgr->watchdog = g_timeout_add_seconds(MAX(cfg->adapter_watchdog / 3, 1u), manager_watchdog, mgr);
	}
	return mgr;
}

void manager_free(struct manager *mgr)
{
	if (!mgr)
		return;
	g_clear_handle_id(&mgr->watchdog, g_source_remove);
	g_clear_handle_id(&mgr->scan_timer, g_source_remove);
	g_clear_handle_id(&mgr->sync_timer, g_source_remove);
	g_clear_handle_id(&mgr->prune_timer, g_source_remove);
	manager_live_flush_all(mgr);
	g_hash_table_unref(mgr->bands);
	g_hash_table_unref(mgr->live);
	bluez_free(mgr->bz);
	hub_free(mgr->hub);
	g_free(mgr->db_path);
	g_free(mgr);
}

struct hub *manager_hub(struct manager *mgr)
{
	return mgr->hub;
}

unsigned manager_adapter_resets(struct manager *mgr)
{
	return mgr->adapter_resets;
}

static long rss_kb(void)
{
	g_autofree char *status = NULL;
	const char *line;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) || !(line = strstr(status, "VmRSS:")))
		return -1;
	return strtol(line + strlen("VmRSS:"), NULL, 10);
}

/* The file and its write-ahead log: between checkpoints the log holds most of what was written lately. */
static int64_t db_bytes(const char *path)
{
	g_autofree char *wal = g_strconcat(path, "-wal", NULL);
	struct stat st;
	int64_t bytes;

	if (stat(path, &st) != 0)
		return -1;
	bytes = st.st_size;
	if (stat(wal, &st) == 0)
		bytes += st.st_size;
	return bytes;
}

void manager_health(struct manager *mgr, struct manager_health *ret)
{
	ret->uptime_s = (g_get_monotonic_time() - mgr->started_us) / G_USEC_PER_SEC;
	ret->rss_kb = rss_kb();
	ret->db_bytes = db_bytes(mgr->db_path);
	ret->adapter = manager_adapter_state(mgr);
	if (!db_outbox_count(mgr->db, &ret->outbox, NULL))
		ret->outbox = -1;
	ret->adapter_resets = mgr->adapter_resets;
	ret->bands = g_hash_table_size(mgr->bands);
	ret->samples_stored = mgr->samples_stored;
	ret->mqtt_connected = mgr->mqtt_connected;
}

void manager_report_mqtt(struct manager *mgr, bool connected)
{
	mgr->mqtt_connected = connected;
}

void manager_snapshot(struct manager *mgr, struct band *band, struct manager_snapshot *ret)
{
	struct live *l = manager_live_of(mgr, band);
	struct bluez_device_info info;
	int64_t cursor = 0;

	memset(ret, 0, sizeof(*ret));
	g_strlcpy(ret->address, band_address(band), sizeof(ret->address));
	address_to_id(ret->address, ret->id);
	ret->state = band_state_name(band_state(band));
	ret->description = band_state_description(band);
	ret->connected = band_state(band) == BAND_STATE_READY;
	ret->steps = manager_steps_today(mgr, band); /* also loads today's stored totals after a restart */
	ret->meters = l->totals.day[0] ? (long)l->totals.meters : -1;
	ret->calories = l->totals.day[0] ? (long)l->totals.calories : -1;
	ret->battery = band_battery(band) >= 0 ? band_battery(band) : l->battery;
	ret->charging = band_battery(band) >= 0 ? band_charging(band) : l->charging;
	ret->heart_rate = l->heart_rate;
	/* Read once: a front asks for the view on every request and every change (the web's hot path). */
	if (!l->last_sync_known && db_sync_get(mgr->db, band_address(band), &cursor, &l->last_sync, NULL))
		l->last_sync_known = true;
	ret->last_sync = l->last_sync_known ? l->last_sync : 0;
	ret->sync = band_sync_state(band);
	ret->sync_error = band_sync_error(band);
	ret->firmware = band_firmware(band);
	ret->connections = l->connections;
	ret->since = band_state_since(band);
	ret->tap_deadline = band_tap_deadline(band);
	ret->adapter = manager_adapter_state(mgr);
	if (bluez_device_info(mgr->bz, band_address(band), &info) && info.has_rssi) {
		ret->has_rssi = true;
		ret->rssi = info.rssi;
	}
}
