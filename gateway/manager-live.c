/* The live values of the bands (manager-private.h): what each last reported, and today's totals written at
 * most once a minute while they change and at once when a band leaves or the daemon stops, so that a day's
 * steps survive a restart and never go down. */
#define G_LOG_DOMAIN "bandgate-manager" /* G_MESSAGES_DEBUG=bandgate-manager turns on its debug lines alone */
#include <string.h>

#include "manager-private.h"

struct live *manager_live_of(struct manager *mgr, struct band *band)
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

void manager_live_flush(struct manager *mgr, struct band *band)
{
	struct live *l = manager_live_of(mgr, band);
	g_autoptr(GError) error = NULL;

	if (!l->dirty)
		return;
	if (!db_totals_store(mgr->db, band_address(band), &l->totals, &error))
		band_log(band, G_LOG_LEVEL_WARNING, "today's totals not stored: %s", error->message);
	l->dirty = false;
	l->stored_us = g_get_monotonic_time();
}

void manager_live_on_steps(struct band *band, long steps, long meters, long calories, void *user_data)
{
	struct manager *mgr = user_data;
	struct live *l = manager_live_of(mgr, band);
	char day[11];

	today(day);
	if (strcmp(day, l->totals.day) != 0) {
		manager_live_flush(mgr, band); /* yesterday's last word */
		memset(&l->totals, 0, sizeof(l->totals));
		g_strlcpy(l->totals.day, day, sizeof(l->totals.day));
		l->stored_us = 0;
	}
	l->totals.steps = MAX(l->totals.steps, steps);
	l->totals.meters = MAX(l->totals.meters, meters);
	l->totals.calories = MAX(l->totals.calories, calories);
	l->totals.updated = manager_now_s();
	l->dirty = true;
	if (!l->stored_us || g_get_monotonic_time() - l->stored_us >= LIVE_STORE_US)
		manager_live_flush(mgr, band);
	manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

void manager_live_on_battery(struct band *band, int level, bool charging, void *user_data)
{
	struct manager *mgr = user_data;
	struct live *l = manager_live_of(mgr, band);
	g_autoptr(GError) error = NULL;

	if (level == l->battery && charging == l->charging)
		return;
	l->battery = level;
	l->charging = charging;
	if (!db_battery_add(mgr->db, band_address(band), manager_now_s(), level, charging, &error))
		band_log(band, G_LOG_LEVEL_WARNING, "battery not stored: %s", error->message);
	manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

void manager_live_on_heart_rate(struct band *band, int bpm, void *user_data)
{
	struct manager *mgr = user_data;
	g_autoptr(GError) error = NULL;

	struct live *l = manager_live_of(mgr, band);

	if (!db_heart_rate_add(mgr->db, band_address(band), manager_now_s(), bpm, &error))
		band_log(band, G_LOG_LEVEL_WARNING, "heart rate not stored: %s", error->message);
	l->heart_rate = bpm;
	l->heart_rate_time = manager_now_s();
	manager_emit(mgr, HUB_BAND_CHANGED, band_address(band));
}

long manager_steps_today(struct manager *mgr, struct band *band)
{
	struct live *l = manager_live_of(mgr, band);
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

/* Today's totals as they stand: what a restart must find. */
/* Shutdown: today's totals stored, and every link let go. */
void manager_live_flush_all(struct manager *mgr)
{
	g_autoptr(GPtrArray) bands = manager_bands(mgr);

	for (guint i = 0; i < bands->len; i++) {
		manager_live_flush(mgr, bands->pdata[i]);
		band_release(bands->pdata[i]);
	}
}
