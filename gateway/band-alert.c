/* The alerts of one band (§12), one at a time; band-private.h. */
#define G_LOG_DOMAIN "bandgate-band" /* G_MESSAGES_DEBUG=bandgate-band turns on its debug lines alone */
#include <string.h>

#include "band-private.h"

#define ALERT_SPACING_MS 4500    /* §12.2: closer alerts are not shown */
#define ALERT_TEXT_CHUNKS 3      /* at most this many 18-byte screens of one alert's text */

/* ---- alerts (§12): one at a time, ALERT_SPACING_MS apart, text in screens of 18 bytes ---- */

/* The alert ends: reported as not delivered (error says why; it is queued again) unless the band had already
 * answered the write that put it on its screen. */
void band_alert_stop(struct band *band, const char *error)
{
	int64_t id = band->alert.id;
	bool delivered = band->alert.delivered;

	band->alert.id = 0;
	band->alert.delivered = false;
	g_clear_pointer(&band->alert.text, g_free);
	if (!delivered && band->ops->alert_done)
		band->ops->alert_done(band, id, error, band->user_data);
}

static gboolean on_alert_spacing(gpointer user_data);

/* The band answered the write that shows a screen of the alert. From the first screen on the alert is sent,
 * whatever becomes of the link: sending it again would show it twice. The spacing before the next screen or
 * alert runs from here, when the band has it. */
static void alert_shown(struct band *band)
{
	if (!band->alert.delivered) {
		band->alert.delivered = true;
		if (band->ops->alert_done)
			band->ops->alert_done(band, band->alert.id, NULL, band->user_data);
	}
	band->alert.timer = g_timeout_add(ALERT_SPACING_MS, on_alert_spacing, band);
}

static void alert_failed(struct band *band, const GError *error)
{
	g_autofree char *why = g_strdup_printf("the band did not take the alert: %s", error->message);

	if (band->alert.id)
		band_alert_stop(band, why);
	band_fail_error(band, "an alert", error);
}

static void alert_written(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error)
		alert_failed(band, error);
	else if (band->alert.id)
		alert_shown(band);
}

/* The first screen's vibration: the alert was sent with its text already. */
static void alert_level_written(const GError *error, void *user_data)
{
	if (error)
		alert_failed(user_data, error);
}

static void alert_write(struct band *band, const char *uuid, const uint8_t *buf, int len, bluez_done_func done)
{
	g_assert(len > 0);
	bluez_write(band->bz, band->address, uuid, buf, (size_t)len, true, band->attempt, done, band);
}

/* The first screen's level (2A06 01) follows its text only once the text's write has been answered: 2A46 is a
 * Write Request and 2A06 a Write Command, and bluetoothd sends a queued command before a queued request
 * (5.66 shared/att.c pick_next_send_op), so written back to back the level reached the band first (the VM
 * test, under ASan). */
static void alert_text_written(const GError *error, void *user_data)
{
	struct band *band = user_data;
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (error) {
		alert_failed(band, error);
		return;
	}
	if (!band->alert.id)
		return;
	alert_shown(band);
	alert_write(band, MIBAND2_CHR_ALERT_LVL, buf, miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_MESSAGE),
	            alert_level_written);
}

static bool alert_shows_text(const struct band *band)
{
	struct miband2_version v;

	return (band->alert.category == MIBAND2_ALERT_CATEGORY_SMS ||
	        band->alert.category == MIBAND2_ALERT_CATEGORY_INCOMING_CALL) &&
	       miband2_parse_version((const uint8_t *)band->firmware, strlen(band->firmware), &v) == 0 &&
	       miband2_version_has_text(&v);
}

/* One screen: the next chunk of text (or none) with the header, and the vibration with the first. */
static void alert_screen(struct band *band)
{
	uint8_t buf[MIBAND2_WRITE_MAX];
	const char *text = band->alert.text ? band->alert.text : "";
	size_t left = strlen(text) - band->alert.offset;
	size_t n = alert_shows_text(band) && left ? (size_t)miband2_text_chunk(text + band->alert.offset, left,
	                                                                        MIBAND2_TEXT_CHUNK) : 0;
	int len;

	if (band->alert.kind == BAND_ALERT_VIBRATE)
		len = miband2_build_vibration(buf, sizeof(buf), 300, 600, 3);
	else if (band->alert.kind == BAND_ALERT_FIND)
		len = miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_VIBRATE);
	else
		len = miband2_build_new_alert(buf, sizeof(buf), (enum miband2_alert_category)band->alert.category, 1,
		                              MIBAND2_ICON_APP, text + band->alert.offset, n);
	alert_write(band, band->alert.kind == BAND_ALERT_TEXT ? MIBAND2_CHR_NEW_ALERT : MIBAND2_CHR_ALERT_LVL, buf, len,
	            band->alert.kind == BAND_ALERT_TEXT && band->alert.chunks == 0 ? alert_text_written : alert_written);
	band->alert.offset += n;
	band->alert.chunks++;
}

static gboolean on_alert_spacing(gpointer user_data)
{
	struct band *band = user_data;
	bool more = band->alert.text && band->alert.offset < strlen(band->alert.text) &&
	            band->alert.chunks < ALERT_TEXT_CHUNKS && alert_shows_text(band);

	band->alert.timer = 0;
	if (band->alert.id && more && band->state == BAND_STATE_READY) {
		alert_screen(band);
		return G_SOURCE_REMOVE;
	}
	if (band->alert.id)
		band_alert_stop(band, NULL);
	if (band->ops->alert_idle)
		band->ops->alert_idle(band, band->user_data);
	return G_SOURCE_REMOVE;
}

bool band_alert(struct band *band, int64_t id, enum band_alert_kind kind, int category, const char *text,
                GError **error)
{
	if (band->state != BAND_STATE_READY) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PENDING, "the band is %s; the alert waits for it",
		            band_state_name(band->state));
		return false;
	}
	if (band->alert.id || band->alert.timer) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "another alert is on the band's screen");
		return false;
	}
	band->alert.id = id;
	band->alert.kind = kind;
	band->alert.category = category;
	band->alert.text = g_strdup(text);
	band->alert.offset = 0;
	band->alert.chunks = 0;
	alert_screen(band);
	return true;
}

bool band_alert_idle(const struct band *band)
{
	return band->state == BAND_STATE_READY && !band->alert.id && !band->alert.timer;
}
