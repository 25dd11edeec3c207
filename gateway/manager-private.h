/* What the files of the manager share (STYLE.md, "A file holds one concern"): manager.c holds the registry of
 * bands, their events and the command API; manager-live.c the live values and today's totals; manager-adapter.c
 * the BlueZ side: routing its events to the bands, discovery, and the adapter's watchdog and power-cycles.
 * manager.h stays the table of contents for everyone else. */
#pragma once

#include "bluez.h"
#include "db.h"
#include "hub.h"
#include "manager.h"

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
	uint64_t samples_stored;    /* history minutes stored since start */
	int mqtt_connected;         /* as MQTT last reported it; -1: no MQTT */
	int64_t started_us;         /* monotonic */
	char *db_path;
};

struct live {
	struct db_totals totals;    /* today's, as last seen */
	int64_t stored_us;          /* monotonic, 0: not stored since it changed */
	bool dirty;
	int battery;
	bool charging;
	int heart_rate;             /* the newest reading, live or from the history; -1: none known */
	int64_t heart_rate_time;    /* UTC s of it */
	unsigned connections;       /* times it became ready since start */
	int64_t last_sync;          /* UTC s of the last complete sync, as stored; valid once last_sync_known */
	bool last_sync_known;       /* read from the database once, then kept here as syncs complete */
};

static inline int64_t manager_now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* ---- manager.c ---- */

/* Tell the consumers; the database already has it. */
void manager_emit(struct manager *mgr, enum hub_kind kind, const char *address);
struct band *manager_band_add(struct manager *mgr, const char *address, const uint8_t *key);
/* A sync from the stored cursor, when the band is ready; a reason is logged when it cannot start. */
void manager_sync_band(struct manager *mgr, struct band *band);
/* The next queued alert, when the band's screen is free. */
void manager_pump_alerts(struct manager *mgr, struct band *band);

/* ---- manager-live.c ---- */

struct live *manager_live_of(struct manager *mgr, struct band *band);
/* Today's totals as they stand, written now (a band leaving, the daemon stopping). */
void manager_live_flush(struct manager *mgr, struct band *band);
void manager_live_flush_all(struct manager *mgr);
void manager_live_on_steps(struct band *band, long steps, long meters, long calories, void *user_data);
void manager_live_on_battery(struct band *band, int level, bool charging, void *user_data);
void manager_live_on_heart_rate(struct band *band, int bpm, void *user_data);

/* ---- manager-adapter.c ---- */

extern const struct bluez_ops manager_bluez_ops;
/* Discovery runs while a band wants it or an operator scans. */
void manager_update_discovery(struct manager *mgr);
/* spaced: at most one cycle a minute (the ladder, an operator's reset). */
void manager_power_cycle(struct manager *mgr, const char *why, bool spaced);
/* A band's ladder suspects the adapter: power-cycle it unless another band is ready on it. */
void manager_adapter_trouble(struct band *band, const char *why, void *user_data);
/* Every adapter_watchdog / 3 s: a silent adapter while looking is power-cycled. */
gboolean manager_watchdog(gpointer user_data);
