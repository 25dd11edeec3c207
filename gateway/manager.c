/* The band manager (manager.h): routes BlueZ events to bands by address, keeps discovery running while a
 * band is missing, watches for a silent adapter, and writes what pairing needs to the database. */
#include <string.h>

#include "bluez.h"
#include "db.h"
#include "manager.h"
#include "hub.h"
#include "miband2.h"

#define LIVE_STORE_US (60 * G_USEC_PER_SEC) /* live totals are written at most this often (and on leaving) */
#define ALERT_ATTEMPTS 5                       /* an alert that failed this often is given up as failed */
#define ALERT_TEXT_MAX 1024                     /* bytes; what the band shows is far less (§12.2) */
#define PRUNE_PERIOD_S (6 * 3600)
#define POWER_CYCLE_SPACING_US (60 * G_USEC_PER_SEC)
#define SILENCE_LIMIT_MAX_US (INT64_C(3600) * G_USEC_PER_SEC)

struct manager {
	struct bluez *bz;
	struct db *db;
	GHashTable *bands;          /* address -> struct band * */
	int64_t last_advert_us;     /* monotonic: the last time bluetoothd told us of any device */
	int64_t last_power_cycle_us;
	int64_t silence_limit_us;   /* config's adapter_watchdog, doubled after each cycle that brought nothing */
	int64_t silence_base_us;
	guint watchdog;
	guint scan_timer;           /* an operator's scan window */
	guint sync_timer, prune_timer;
	unsigned retention_days;
	unsigned hr_interval;       /* [gateway] heart_rate_interval, minutes */
	GHashTable *live;           /* address -> struct live: what was last stored of the live values */
	struct hub *hub;            /* what happened, after it was stored, to mqtt/ and web/ */
	unsigned adapter_resets;
};

struct live {
	struct db_totals totals;    /* today's, as last seen */
	int64_t stored_us;          /* monotonic, 0: not stored since it changed */
	bool dirty;
	int battery;
	bool charging;
	int heart_rate;             /* the newest reading, live or from the history; -1: none known */
	int64_t heart_rate_time;    /* UTC s of it */
};

static int64_t now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* Tell the consumers; the database already has it. */
static void emit(struct manager *mgr, enum hub_kind kind, const char *address)
{
	hub_emit(mgr->hub, &(struct hub_event){ .kind = kind, .address = address, .time = now_s() });
}

static bool valid_address(const char *address)
{
	if (!address || strlen(address) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? address[i] != ':' : !g_ascii_isxdigit(address[i]))
			return false;
	return true;
}

/* spaced: at most one per POWER_CYCLE_SPACING_US (the ladder, an operator's reset); the watchdog spaces its
 * own by its doubling wait. Every cycle restarts the watchdog's count of silence. */
static void power_cycle(struct manager *mgr, const char *why, bool spaced)
{
	int64_t now = g_get_monotonic_time();

	if (spaced && mgr->last_power_cycle_us && now - mgr->last_power_cycle_us < POWER_CYCLE_SPACING_US) {
		g_message("not power-cycling the adapter (%s): it was power-cycled less than a minute ago", why);
		return;
	}
	mgr->last_power_cycle_us = now;
	mgr->last_advert_us = now;
	mgr->adapter_resets++;
	g_message("power-cycling the adapter: %s", why);
	bluez_adapter_power_cycle(mgr->bz);
}

static void sync_band(struct manager *mgr, struct band *band);
static void pump_alerts(struct manager *mgr, struct band *band);
static void live_flush(struct manager *mgr, struct band *band);

static void update_discovery(struct manager *mgr)
{
	GHashTableIter it;
	gpointer band;
	bool wanted = false;

	g_hash_table_iter_init(&it, mgr->bands);
	while (g_hash_table_iter_next(&it, NULL, &band))
		wanted |= band_wants_discovery(band);
	wanted |= mgr->scan_timer != 0;
	if (wanted && !bluez_discovering(mgr->bz))
		mgr->last_advert_us = g_get_monotonic_time(); /* the silence is counted from the start of looking */
	bluez_set_discovery(mgr->bz, wanted);
}

/* ---- what the bands measure ---- */

static struct live *live_of(struct manager *mgr, struct band *band)
{
	struct live *l = g_hash_table_lookup(mgr->live, band_address(band));

	if (!l) {
		l = g_new0(struct live, 1);
		l->battery = -1;
		l->heart_rate = -1;
		g_hash_table_insert(mgr->live, g_strdup(band_address(band)), l);
	}
	return l;
}

static void today(char ret[11])
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local(); /* the band's clock is set to this zone */
	g_autofree char *day = g_date_time_format(now, "%Y-%m-%d");

	g_strlcpy(ret, day, 11);
}

static void live_flush(struct manager *mgr, struct band *band)
{
	struct live *l = live_of(mgr, band);
	g_autoptr(GError) error = NULL;

	if (!l->dirty)
		return;
	if (!db_totals_store(mgr->db, band_address(band), &l->totals, &error))
		g_warning("band %s: today's totals not stored: %s", band_address(band), error->message);
	l->dirty = false;
	l->stored_us = g_get_monotonic_time();
}

static void on_steps(struct band *band, long steps, long meters, long calories, void *user_data)
{
	struct manager *mgr = user_data;
	struct live *l = live_of(mgr, band);
	char day[11];

	today(day);
	if (strcmp(day, l->totals.day) != 0) {
		live_flush(mgr, band); /* yesterday's last word */
		memset(&l->totals, 0, sizeof(l->totals));
		g_strlcpy(l->totals.day, day, sizeof(l->totals.day));
		l->stored_us = 0;
	}
	l->totals.steps = MAX(l->totals.steps, steps);
	l->totals.meters = MAX(l->totals.meters, meters);
	l->totals.calories = MAX(l->totals.calories, calories);
	l->totals.updated = now_s();
	l->dirty = true;
	if (!l->stored_us || g_get_monotonic_time() - l->stored_us >= LIVE_STORE_US)
		live_flush(mgr, band);
	emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

static void on_battery(struct band *band, int level, bool charging, void *user_data)
{
	struct manager *mgr = user_data;
	struct live *l = live_of(mgr, band);
	g_autoptr(GError) error = NULL;

	if (level == l->battery && charging == l->charging)
		return;
	l->battery = level;
	l->charging = charging;
	if (!db_battery_add(mgr->db, band_address(band), now_s(), level, charging, &error))
		g_warning("band %s: battery not stored: %s", band_address(band), error->message);
	emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

static void on_heart_rate(struct band *band, int bpm, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	struct live *l = live_of(mgr, band);

	if (!db_heart_rate_add(mgr->db, band_address(band), now_s(), bpm, &error))
		g_warning("band %s: heart rate not stored: %s", band_address(band), error->message);
	l->heart_rate = bpm;
	l->heart_rate_time = now_s();
	emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

static void on_event(struct band *band, const char *type, const char *detail, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	if (!db_event_add(mgr->db, band_address(band), now_s(), type, detail, &error))
		g_warning("band %s: event not stored: %s", band_address(band), error->message);
	if (strcmp(type, "button") == 0)
		emit(mgr, HUB_BAND_BUTTON, band_address(band));
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
	struct live *l = live_of(mgr, band);

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
		g_warning("band %s: %zu minutes of history not stored: %s", band_address(band), n, error->message);
		return false;
	}
	g_debug("band %s: stored %zu minutes of history", band_address(band), n);
	history_heart_rate(mgr, band, rows, n);
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_BAND_HISTORY, .address = band_address(band), .time = now_s(),
	                                        .first = rows[0].minute, .n = n, .steps = steps_of(rows, n) });
	return true;
}

static void on_sync_done(struct band *band, bool ok, const char *why, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	if (ok && !db_sync_done(mgr->db, band_address(band), now_s(), &error))
		g_warning("band %s: %s", band_address(band), error->message);
	if (!ok)
		on_event(band, "sync-failed", why, mgr);
	emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

/* A sync from the stored cursor: the one way in, for ready, the timer and the operator's action. */
static bool start_sync(struct manager *mgr, struct band *band, GError **error)
{
	int64_t cursor = 0;

	return db_sync_get(mgr->db, band_address(band), &cursor, NULL, error) && band_sync(band, cursor, error);
}

static void sync_band(struct manager *mgr, struct band *band)
{
	g_autoptr(GError) error = NULL;

	if (!start_sync(mgr, band, &error))
		g_message("band %s: no sync now: %s", band_address(band), error->message);
}

static gboolean on_sync_timer(gpointer user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	for (guint i = 0; i < bands->len; i++)
		if (band_state(bands->pdata[i]) == BAND_STATE_READY)
			sync_band(mgr, bands->pdata[i]);
	return G_SOURCE_CONTINUE;
}

static gboolean on_prune_timer(gpointer user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	int64_t deleted = 0;

	if (!db_prune(mgr->db, now_s() - (int64_t)mgr->retention_days * 86400, &deleted, &error))
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

static void pump_alerts(struct manager *mgr, struct band *band)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) queued = NULL;
	struct db_notification *n;

	if (!band_alert_idle(band))
		return;
	queued = db_notify_queued(mgr->db, band_address(band), &error);
	if (!queued) {
		g_warning("band %s: the alert queue cannot be read: %s", band_address(band), error->message);
		return;
	}
	if (!queued->len)
		return;
	n = queued->pdata[0];
	if (!band_alert(band, n->id, alert_kind(n->kind), n->category, n->text, &error))
		g_debug("band %s: alert %" G_GINT64_FORMAT " waits: %s", band_address(band), n->id, error->message);
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
	if (!db_notify_attempt(mgr->db, id, status, now_s(), why, &error)) {
		g_warning("band %s: alert %" G_GINT64_FORMAT ": %s", band_address(band), id, error->message);
		return;
	}
	if (why)
		g_message("band %s: alert %" G_GINT64_FORMAT " not delivered (%s)%s", band_address(band), id, why,
		          status == DB_NOTIFY_FAILED ? "; given up" : "; it stays queued");
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_NOTIFICATION, .address = band_address(band), .time = now_s(),
	                                        .id = id, .status = db_notify_status_name(status), .error = why });
}

static void on_alert_idle(struct band *band, void *user_data)
{
	pump_alerts(user_data, band);
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
		g_warning("band %s: event not stored: %s", band_address(band), error->message);
	g_clear_error(&error);
	if (band_state(band) == BAND_STATE_READY && !db_band_set_connected(mgr->db, band_address(band), now, &error))
		g_warning("band %s: %s", band_address(band), error->message);
	if (band_state(band) == BAND_STATE_READY && band_previous_state(band) != BAND_STATE_READY) {
		sync_band(mgr, band);
		if (*band_firmware(band)) /* else once it is read: whether text shows depends on it (§12.2) */
			pump_alerts(mgr, band);
	} else if (band_previous_state(band) == BAND_STATE_READY) {
		live_flush(mgr, band);
	}
	update_discovery(mgr);
	emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

static void on_key_changed(struct band *band, const uint8_t *key, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;
	bool ok = key ? db_band_set_key(mgr->db, band_address(band), key, &error) :
	                db_band_clear_key(mgr->db, band_address(band), &error);

	if (!ok)
		g_warning("band %s: the key could not be stored: %s", band_address(band), error->message);
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
		g_warning("band %s: could not follow it to %s: %s", old, band_address(band), error->message);
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_BAND_MOVED, .address = band_address(band), .time = now_s(),
	                                        .old_address = old });
}

static void on_firmware(struct band *band, const char *version, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	if (!db_band_set_firmware(mgr->db, band_address(band), version, &error))
		g_warning("band %s: %s", band_address(band), error->message);
	emit(mgr, HUB_BAND_CHANGED, band_address(band));
	pump_alerts(mgr, band);
}

/* A ready band, other than except: then the adapter evidently works, and a power-cycle would only drop it. */
static struct band *ready_band(struct manager *mgr, struct band *except)
{
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	for (guint i = 0; i < bands->len; i++)
		if (bands->pdata[i] != except && band_state(bands->pdata[i]) == BAND_STATE_READY)
			return bands->pdata[i];
	return NULL;
}

/* The ladder's last rung, or an operator's reset: power-cycle, unless another band is ready right now. */
static void on_adapter_trouble(struct band *band, const char *why, void *user_data)
{
	struct manager *mgr = user_data;
	struct band *healthy = ready_band(mgr, band);
	g_autofree char *reason = g_strdup_printf("band %s: %s", band_address(band), why);

	if (healthy) {
		g_message("not power-cycling the adapter (%s): band %s is ready on it", reason, band_address(healthy));
		return;
	}
	power_cycle(mgr, reason, true);
}

static const struct band_ops band_ops = {
	.state_changed = on_state_changed,
	.key_changed = on_key_changed,
	.address_changed = on_address_changed,
	.firmware = on_firmware,
	.adapter_trouble = on_adapter_trouble,
	.steps = on_steps,
	.battery = on_battery,
	.heart_rate = on_heart_rate,
	.event = on_event,
	.history = on_history,
	.sync_done = on_sync_done,
	.alert_done = on_alert_done,
	.alert_idle = on_alert_idle,
};

/* ---- from BlueZ ---- */

static void each_band(struct manager *mgr, void (*func)(struct band *band))
{
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	for (guint i = 0; i < bands->len; i++)
		func(bands->pdata[i]);
}

static void on_adapter_changed(struct bluez *bz, void *user_data)
{
	(void)bz;
	each_band(user_data, band_adapter_changed);
	update_discovery(user_data);
}

/* A new "MI Band 2" while a band is coming back from its factory reset is that band (§15). */
static void maybe_adopt(struct manager *mgr, const char *address)
{
	struct bluez_device_info info;
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	if (!bluez_device_info(mgr->bz, address, &info) || strcmp(info.name, "MI Band 2") != 0)
		return;
	for (guint i = 0; i < bands->len; i++)
		if (band_following_reset(bands->pdata[i]) && band_adopt(bands->pdata[i], address))
			return;
}

static void on_device_changed(struct bluez *bz, const char *address, void *user_data)
{
	struct manager *mgr = user_data;
	struct band *band = manager_band(mgr, address);

	(void)bz;
	mgr->last_advert_us = g_get_monotonic_time();
	mgr->silence_limit_us = mgr->silence_base_us;
	if (band)
		band_device_changed(band);
	else
		maybe_adopt(mgr, address);
}

static void on_device_removed(struct bluez *bz, const char *address, void *user_data)
{
	struct manager *mgr = user_data;
	struct band *band = manager_band(mgr, address);

	(void)bz;
	if (band)
		band_device_removed(band);
	update_discovery(mgr);
}

static void on_value(struct bluez *bz, const char *address, const char *uuid, const uint8_t *value, size_t len,
                     void *user_data)
{
	struct band *band = manager_band(user_data, address);

	(void)bz;
	if (band)
		band_value(band, uuid, value, len);
}

static const struct bluez_ops bluez_ops = {
	.adapter_changed = on_adapter_changed,
	.device_changed = on_device_changed,
	.device_removed = on_device_removed,
	.value = on_value,
};

/* A band is missing, we are looking, and bluetoothd has been silent too long: the adapter may be stuck. Not
 * under a ready band (the adapter works). A cycle that brings nothing doubles the next wait, up to an hour:
 * a band that is simply away, with nothing else around, must not keep the adapter cycling. */
static gboolean watchdog(gpointer user_data)
{
	struct manager *mgr = user_data;
	int64_t now = g_get_monotonic_time();
	g_autofree char *why = NULL;

	if (!bluez_discovering(mgr->bz) || now - mgr->last_advert_us <= mgr->silence_limit_us || ready_band(mgr, NULL))
		return G_SOURCE_CONTINUE;
	why = g_strdup_printf("no advertisement for %" G_GINT64_FORMAT " s while looking for a band",
	                      (now - mgr->last_advert_us) / G_USEC_PER_SEC);
	mgr->silence_limit_us = MIN(mgr->silence_limit_us * 2, SILENCE_LIMIT_MAX_US);
	power_cycle(mgr, why, false);
	return G_SOURCE_CONTINUE;
}

/* ---- the command API ---- */

static struct band *band_add(struct manager *mgr, const char *address, const uint8_t *key)
{
	struct band *band = band_new(mgr->bz, address, key, &band_ops, mgr);

	band_set_heart_rate_interval(band, (int)mgr->hr_interval);
	g_hash_table_insert(mgr->bands, g_strdup(band_address(band)), band);
	return band;
}

bool manager_add(struct manager *mgr, const char *address, GError **error)
{
	g_autofree char *upper = NULL;

	if (!valid_address(address)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not a Bluetooth address",
		            address ? address : "");
		return false;
	}
	upper = g_ascii_strup(address, -1);
	if (manager_band(mgr, upper))
		return true;
	if (!db_band_add(mgr->db, upper, error))
		return false;
	band_add(mgr, upper, NULL);
	emit(mgr, HUB_BAND_ADDED, upper);
	update_discovery(mgr);
	return true;
}

struct band *manager_band(struct manager *mgr, const char *address)
{
	g_autofree char *upper = address ? g_ascii_strup(address, -1) : NULL;

	return upper ? g_hash_table_lookup(mgr->bands, upper) : NULL;
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

bool manager_command(struct manager *mgr, const char *verb, const char *address, bool confirm, GError **error)
{
	struct band *band = manager_band(mgr, address);

	if (!band) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no managed band has the address '%s'",
		            address ? address : "");
		return false;
	}
	if (strcmp(verb, "reconnect") == 0)
		return band_reconnect(band, error);
	if (strcmp(verb, "reset") == 0)
		return band_reset(band, error);
	if (strcmp(verb, "repair") == 0)
		return band_repair(band, error);
	if (strcmp(verb, "reboot") == 0)
		return band_reboot(band, error);
	if (strcmp(verb, "sync") == 0)
		return start_sync(mgr, band, error);
	if (strcmp(verb, "heart-rate") == 0)
		return band_measure_heart_rate(band, error);
	if (strcmp(verb, "set-time") == 0)
		return band_set_time(band, error);
	if (strcmp(verb, "factory-reset") == 0) {
		if (!confirm) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			            "factory reset wipes the band and changes its address: confirm it explicitly");
			return false;
		}
		return band_factory_reset(band, error);
	}
	if (strcmp(verb, "forget") == 0) {
		/* The rows first: if they cannot go, the band stays managed and untouched rather than half-forgotten. */
		if (!db_band_forget(mgr->db, band_address(band), error))
			return false;
		g_autofree char *gone = g_strdup(band_address(band));

		band_forget(band);
		g_hash_table_remove(mgr->bands, gone);
		g_hash_table_remove(mgr->live, gone);
		update_discovery(mgr);
		emit(mgr, HUB_BAND_REMOVED, gone);
		return true;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown action '%s'", verb);
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
	                   now_s(), &id, error))
		return false;
	if (ret_id)
		*ret_id = id;
	hub_emit(mgr->hub, &(struct hub_event){ .kind = HUB_NOTIFICATION, .address = band_address(band), .time = now_s(),
	                                        .id = id, .status = "queued", .source = source });
	pump_alerts(mgr, band);
	return true;
}

long manager_steps_today(struct manager *mgr, struct band *band)
{
	struct live *l = live_of(mgr, band);
	struct db_totals t;
	char day[11];

	today(day);
	if (strcmp(day, l->totals.day) == 0)
		return (long)l->totals.steps;
	if (db_totals_get(mgr->db, band_address(band), day, &t, NULL)) {
		l->totals = t; /* after a restart: the stored value, never 0 */
		return (long)t.steps;
	}
	return band_steps(band);
}

static gboolean scan_over(gpointer user_data)
{
	struct manager *mgr = user_data;

	mgr->scan_timer = 0;
	update_discovery(mgr);
	return G_SOURCE_REMOVE;
}

void manager_scan(struct manager *mgr, unsigned seconds)
{
	g_clear_handle_id(&mgr->scan_timer, g_source_remove);
	mgr->scan_timer = g_timeout_add_seconds(CLAMP(seconds, 1u, 120u), scan_over, mgr);
	update_discovery(mgr);
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

		band_add(mgr, row->address, row->has_key ? row->key : NULL);
	}
	return true;
}

struct manager *manager_new(const struct config *cfg, struct db *db, GError **error)
{
	struct manager *mgr = g_new0(struct manager, 1);

	mgr->db = db;
	mgr->bands = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)band_free);
	mgr->live = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	mgr->hub = hub_new();
	mgr->bz = bluez_new(cfg->adapter, &bluez_ops, mgr);
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
		mgr->watchdog = g_timeout_add_seconds(MAX(cfg->adapter_watchdog / 3, 1u), watchdog, mgr);
	}
	return mgr;
}

/* Today's totals as they stand: what a restart must find. */
/* Shutdown: today's totals stored, and every link let go. */
static void flush_all(struct manager *mgr)
{
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	for (guint i = 0; i < bands->len; i++) {
		live_flush(mgr, bands->pdata[i]);
		band_release(bands->pdata[i]);
	}
}

void manager_free(struct manager *mgr)
{
	if (!mgr)
		return;
	g_clear_handle_id(&mgr->watchdog, g_source_remove);
	g_clear_handle_id(&mgr->scan_timer, g_source_remove);
	g_clear_handle_id(&mgr->sync_timer, g_source_remove);
	g_clear_handle_id(&mgr->prune_timer, g_source_remove);
	flush_all(mgr);
	g_hash_table_unref(mgr->bands);
	g_hash_table_unref(mgr->live);
	bluez_free(mgr->bz);
	hub_free(mgr->hub);
	g_free(mgr);
}

void manager_band_id(const char *address, char ret[13])
{
	size_t j = 0;

	for (const char *p = address; *p && j < 12; p++)
		if (*p != ':')
			ret[j++] = g_ascii_tolower(*p);
	ret[j] = '\0';
}

struct hub *manager_hub(struct manager *mgr)
{
	return mgr->hub;
}

unsigned manager_adapter_resets(struct manager *mgr)
{
	return mgr->adapter_resets;
}

void manager_snapshot(struct manager *mgr, struct band *band, struct manager_snapshot *ret)
{
	struct live *l = live_of(mgr, band);
	struct bluez_device_info info;
	int64_t cursor = 0;

	memset(ret, 0, sizeof(*ret));
	g_strlcpy(ret->address, band_address(band), sizeof(ret->address));
	manager_band_id(ret->address, ret->id);
	ret->state = band_state_name(band_state(band));
	ret->description = band_state_description(band);
	ret->connected = band_state(band) == BAND_STATE_READY;
	ret->steps = manager_steps_today(mgr, band); /* also loads today's stored totals after a restart */
	ret->meters = l->totals.day[0] ? (long)l->totals.meters : -1;
	ret->calories = l->totals.day[0] ? (long)l->totals.calories : -1;
	ret->battery = band_battery(band) >= 0 ? band_battery(band) : l->battery;
	ret->charging = band_battery(band) >= 0 ? band_charging(band) : l->charging;
	ret->heart_rate = l->heart_rate;
	if (!db_sync_get(mgr->db, band_address(band), &cursor, &ret->last_sync, NULL))
		ret->last_sync = 0;
	ret->firmware = band_firmware(band);
	if (bluez_device_info(mgr->bz, band_address(band), &info) && info.has_rssi) {
		ret->has_rssi = true;
		ret->rssi = info.rssi;
	}
}
