/* What a ready band reports (§7-§9, §11, §13): the reads of the ready sequence and the live notifications,
 * checked by the codec before anything is believed; band-private.h. */
#define G_LOG_DOMAIN "bandgate-band" /* G_MESSAGES_DEBUG=bandgate-band turns on its debug lines alone */
#include <string.h>

#include "band-private.h"

/* What the band's clock said before we set it. A clock-less band (a year before 2000: it lost power, or was
 * never set) has stamped the minutes it recorded with that clock; they cannot be placed in time, and a fetch
 * from 2000 on passes over them, so say so once rather than store them under a wrong date. */
void band_live_clock_read(const GError *error, const uint8_t *value, size_t len, void *user_data)
{
	struct band *band = user_data;
	struct miband2_time t;
	g_autofree char *detail = NULL;
	int64_t off;

	if (error)
		return; /* the link went; the next ready reads it again */
	if (miband2_parse_time(value, len, &t) < 0) {
		unsigned year = len >= 2 ? (unsigned)(value[0] | value[1] << 8) : 0;

		detail = g_strdup_printf("the band's clock was not set (it read year %u); set it now. What it recorded "
		                         "before now has no usable time and is not fetched", year);
	} else if ((off = t.when.utc - g_get_real_time() / G_USEC_PER_SEC) > 600 || off < -600) {
		detail = g_strdup_printf("the band's clock was %+" G_GINT64_FORMAT " s off; set it now", off);
	}
	if (!detail)
		return;
	band_log(band, G_LOG_LEVEL_MESSAGE, "%s", detail);
	if (band->ops->event)
		band->ops->event(band, "clock", detail, band->user_data);
}

void band_live_firmware_read(const GError *error, const uint8_t *value, size_t len, void *user_data)
{
	struct band *band = user_data;
	struct miband2_version v;

	if (error || miband2_parse_version(value, len, &v) < 0) {
		band_log(band, G_LOG_LEVEL_WARNING, "firmware revision unreadable%s%s", error ? ": " : "",
		          error ? error->message : "");
		return;
	}
	g_strlcpy(band->firmware, v.text, sizeof(band->firmware));
	if (band->ops->firmware)
		band->ops->firmware(band, band->firmware, band->user_data);
}

void band_live_value_read(const GError *error, const uint8_t *value, size_t len, void *user_data)
{
	(void)error, (void)value, (void)len, (void)user_data;
	/* The value arrives through PropertiesChanged as well (bluetoothd updates its cache before replying), so
	 * band_value() handles it once. */
}

/* A notification that does not parse: a log line and an event row, at most one per REJECT_LOG_US and kind
 * (what is a literal, compared by address). */
void band_rejected_value(struct band *band, const char *what, size_t len)
{
	g_autofree char *detail = NULL;
	unsigned held = 0;

	if (band->rejected_what != what)
		ratelimit_reset(&band->rejected);
	band->rejected_what = what;
	if (!ratelimit_below(&band->rejected, g_get_monotonic_time(), &held))
		return;
	if (held)
		detail = g_strdup_printf("malformed %s notification (%zu bytes) ignored; %u more were ignored before it",
		                         what, len, held);
	else
		detail = g_strdup_printf("malformed %s notification (%zu bytes) ignored", what, len);
	band_log(band, G_LOG_LEVEL_WARNING, "%s", detail);
	if (band->ops->event)
		band->ops->event(band, "rejected", detail, band->user_data);
}

void band_live_battery(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_battery b;

	if (miband2_parse_battery(value, len, &b) < 0) {
		band_rejected_value(band, "battery", len);
		return;
	}
	band->battery = b.level;
	band->charging = b.state == MIBAND2_BATTERY_STATE_CHARGING;
	if (band->ops->battery)
		band->ops->battery(band, b.level, band->charging, band->user_data);
}

void band_live_steps(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_steps st;

	if (miband2_parse_steps(value, len, &st) < 0) {
		band_rejected_value(band, "steps", len);
		return;
	}
	band->steps = st.steps;
	if (band->ops->steps)
		band->ops->steps(band, st.steps, st.has_totals ? (long)st.meters : -1,
		                 st.has_totals ? (long)st.calories : -1, band->user_data);
}

void band_live_event(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_device_event ev;

	if (miband2_parse_device_event(value, len, &ev) < 0) {
		band_rejected_value(band, "device event", len);
		return;
	}
	band_log(band, G_LOG_LEVEL_MESSAGE, "event %s", miband2_event_name(ev.event));
	if (band->ops->event)
		band->ops->event(band, ev.event == MIBAND2_EVENT_BUTTON ? "button" : miband2_event_name(ev.event), NULL,
		                 band->user_data);
}

void band_live_heart_rate(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_heart_rate hr;

	if (miband2_parse_heart_rate(value, len, &hr) < 0 || hr.bpm == 0 || hr.bpm == MIBAND2_HR_NONE) {
		band_rejected_value(band, "heart rate", len);
		return;
	}
	band->heart_rate = hr.bpm;
	if (band->ops->heart_rate)
		band->ops->heart_rate(band, hr.bpm, band->user_data);
}
