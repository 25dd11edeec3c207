/* The BlueZ side of the manager (manager-private.h): bluetoothd's events routed to the bands by address,
 * discovery while a band is missing, and the adapter's watchdog and power-cycles. */
#define G_LOG_DOMAIN "bandgate-manager" /* G_MESSAGES_DEBUG=bandgate-manager turns on its debug lines alone */
#include <string.h>

#include "manager-private.h"

/* spaced: at most one per POWER_CYCLE_SPACING_US (the ladder, an operator's reset); the watchdog spaces its
 * own by its doubling wait. Every cycle restarts the watchdog's count of silence. */
void manager_power_cycle(struct manager *mgr, const char *why, bool spaced)
{
	int64_t now = g_get_monotonic_time();
	g_autoptr(GError) error = NULL;

	if (spaced && mgr->last_power_cycle_us && now - mgr->last_power_cycle_us < POWER_CYCLE_SPACING_US) {
		g_message("not power-cycling the adapter (%s): it was power-cycled less than a minute ago", why);
		return;
	}
	mgr->last_power_cycle_us = now;
	mgr->last_advert_us = now;
	mgr->adapter_resets++;
	g_message("power-cycling the adapter: %s", why);
	/* An event of the gateway itself: every band's timeline shows it. */
	if (!db_event_add(mgr->db, NULL, manager_now_s(), "adapter-reset", why, &error))
		g_warning("the adapter reset was not recorded: %s", error->message);
	bluez_adapter_power_cycle(mgr->bz);
}

void manager_update_discovery(struct manager *mgr)
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
void manager_adapter_trouble(struct band *band, const char *why, void *user_data)
{
	struct manager *mgr = user_data;
	struct band *healthy = ready_band(mgr, band);
	g_autofree char *reason = g_strdup_printf("band %s: %s", band_address(band), why);

	if (healthy) {
		g_message("not power-cycling the adapter (%s): band %s is ready on it", reason, band_address(healthy));
		return;
	}
	manager_power_cycle(mgr, reason, true);
}

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
	manager_update_discovery(user_data);
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
	manager_update_discovery(mgr);
}

static void on_value(struct bluez *bz, const char *address, const char *uuid, const uint8_t *value, size_t len,
                     void *user_data)
{
	struct band *band = manager_band(user_data, address);

	(void)bz;
	if (band)
		band_value(band, uuid, value, len);
}

const struct bluez_ops manager_bluez_ops = {
	.adapter_changed = on_adapter_changed,
	.device_changed = on_device_changed,
	.device_removed = on_device_removed,
	.value = on_value,
};

/* A band is missing, we are looking, and bluetoothd has been silent too long: the adapter may be stuck. Not
 * under a ready band (the adapter works). A cycle that brings nothing doubles the next wait, up to an hour:
 * a band that is simply away, with nothing else around, must not keep the adapter cycling. */
gboolean manager_watchdog(gpointer user_data)
{
	struct manager *mgr = user_data;
	int64_t now = g_get_monotonic_time();
	g_autofree char *why = NULL;

	if (!bluez_discovering(mgr->bz) || now - mgr->last_advert_us <= mgr->silence_limit_us || ready_band(mgr, NULL))
		return G_SOURCE_CONTINUE;
	why = g_strdup_printf("no advertisement for %" G_GINT64_FORMAT " s while looking for a band",
	                      (now - mgr->last_advert_us) / G_USEC_PER_SEC);
	mgr->silence_limit_us = MIN(mgr->silence_limit_us * 2, SILENCE_LIMIT_MAX_US);
	manager_power_cycle(mgr, why, false);
	return G_SOURCE_CONTINUE;
}

/* A power-cycle takes the adapter down for a moment; one that has not come back within a minute is not the
 * gateway's doing any more ("off" or "absent"). */
const char *manager_adapter_state(struct manager *mgr)
{
	bool cycling = mgr->last_power_cycle_us && g_get_monotonic_time() - mgr->last_power_cycle_us < 60 * G_USEC_PER_SEC;

	if (bluez_adapter_ready(mgr->bz))
		return "powered";
	if (cycling)
		return "resetting";
	return bluez_adapter_present(mgr->bz) ? "off" : "absent";
}
