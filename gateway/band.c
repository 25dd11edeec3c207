/* One band's state machine (band.h). Every attempt owns a GCancellable: a transition cancels the attempt it
 * leaves, so a late reply from BlueZ can never push an old attempt forward. One timer at a time measures
 * whatever the current state waits for (a backoff, services, an answer, a tap). */
#define G_LOG_DOMAIN "bandgate-band" /* G_MESSAGES_DEBUG=bandgate-band turns on its debug lines alone */
#include <openssl/rand.h>
#include <string.h>

#include "backoff.h"
#include "band-private.h"

#define RESOLVE_TIMEOUT_MS 30000
#define ANSWER_TIMEOUT_MS 15000  /* the band answers auth at once; this is generous */
#define TAP_TIMEOUT_MS 60000     /* the band itself drops the link sooner (§3): that ends the wait first */
#define TROUBLE_EVERY 5          /* failures that implicate the adapter, in a row, before it is suspected */
#define FOLLOW_RESET_MS (5 * 60 * 1000) /* how long a factory-reset band may take to come back */
#define REBOOT_PENDING_US (INT64_C(600) * G_USEC_PER_SEC) /* a reboot asked while away is forgotten after this */

static void attempt(struct band *band);
static void fail(struct band *band, const char *why);
static void fail_with(struct band *band, const char *why, bool suspect_adapter);
static void stop_following(struct band *band);

/* syslog's priorities for GLib's levels (journald reads PRIORITY). */
static const char *priority_of(GLogLevelFlags level)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		return "3";
	if (level & G_LOG_LEVEL_WARNING)
		return "4";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "5";
	return level & G_LOG_LEVEL_INFO ? "6" : "7";
}

void band_log_at(const char *domain, const char *address, GLogLevelFlags level, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *text = NULL, *message = NULL;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	message = g_strdup_printf("band %s: %s", address, text);
	const GLogField fields[] = {
		{ "MESSAGE", message, -1 },
		{ "PRIORITY", priority_of(level), -1 },
		{ "BANDGATE_BAND", address, -1 },
		{ "GLIB_DOMAIN", domain ? domain : "bandgate", -1 },
	};
	g_log_structured_array(level, fields, G_N_ELEMENTS(fields));
}

const char *band_state_name(enum band_state state)
{
	switch (state) {
	case BAND_STATE_ABSENT:
		return "absent";
	case BAND_STATE_DISCONNECTED:
		return "disconnected";
	case BAND_STATE_CONNECTING:
		return "connecting";
	case BAND_STATE_RESOLVING:
		return "resolving";
	case BAND_STATE_AUTHENTICATING:
		return "authenticating";
	case BAND_STATE_AWAITING_TAP:
		return "awaiting-tap";
	case BAND_STATE_READY:
		return "ready";
	case BAND_STATE_AUTH_REJECTED:
		return "auth-rejected";
	case BAND_STATE_RESETTING:
		return "resetting";
	}
	return "?";
}

G_GNUC_PRINTF(3, 4)
static void set_state(struct band *band, enum band_state state, const char *fmt, ...)
{
	va_list ap;
	char *text;
	bool changed;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	changed = state != band->state || g_strcmp0(text, band->description) != 0;
	g_free(band->description);
	band->description = text;
	if (state != band->state) {
		band_log(band, G_LOG_LEVEL_MESSAGE, "%s -> %s: %s", band_state_name(band->state), band_state_name(state),
		          text);
		band->previous = band->state;
		band->state_since = g_get_real_time() / G_USEC_PER_SEC;
	}
	band->state = state;
	if (changed && band->ops->state_changed)
		band->ops->state_changed(band, band->user_data);
}

static void clear_timer(struct band *band)
{
	g_clear_handle_id(&band->timer, g_source_remove);
}

/* A new attempt: whatever the previous one still waits for is cancelled. */

static void attempt_new(struct band *band)
{
	if (band->sync.phase != SYNC_PHASE_IDLE)
		band_sync_stop(band, false, "the link ended during the transfer");
	if (band->alert.id)
		band_alert_stop(band, "the link ended during the alert");
	g_cancellable_cancel(band->attempt);
	g_clear_object(&band->attempt);
	band->attempt = g_cancellable_new();
	clear_timer(band);
}

static gboolean on_timer_attempt(gpointer user_data)
{
	struct band *band = user_data;

	band->timer = 0;
	attempt(band);
	return G_SOURCE_REMOVE;
}

static gboolean on_timer_fail(gpointer user_data)
{
	struct band *band = user_data;

	band->timer = 0;
	/* A link that never resolves its services is bluetoothd's or the controller's trouble, not the band's. */
	fail_with(band, band->state == BAND_STATE_AWAITING_TAP ? "nobody tapped the band" :
	                band->state == BAND_STATE_RESOLVING ? "services were not resolved in time" :
	                                                      "the band did not answer",
	          band->state == BAND_STATE_RESOLVING);
	return G_SOURCE_REMOVE;
}

static void wait_for(struct band *band, unsigned ms)
{
	clear_timer(band);
	band->timer = g_timeout_add(ms, on_timer_fail, band);
}

static bool linked(const struct band *band)
{
	return band->state == BAND_STATE_CONNECTING || band->state == BAND_STATE_RESOLVING ||
	       band->state == BAND_STATE_AUTHENTICATING || band->state == BAND_STATE_AWAITING_TAP ||
	       band->state == BAND_STATE_READY;
}

static void backoff_start(const GError *error, void *user_data)
{
	struct band *band = user_data;

	(void)error; /* not connected is as good as disconnected */
	band->timer = g_timeout_add(band->backoff_ms, on_timer_attempt, band);
}

/* What a failure says of the adapter: a band that is away or a call that collided with our own says nothing;
 * a band that advertises yet cannot be reached, a daemon that does not answer, a link that never resolves do. */
static bool implicates_adapter(struct band *band, const GError *error)
{
	struct bluez_device_info info;

	switch (bluez_error_kind(error)) {
	case BLUEZ_ERROR_UNREACHABLE:
		return bluez_device_info(band->bz, band->address, &info) && info.has_rssi;
	case BLUEZ_ERROR_TRANSIENT:
		return true;
	case BLUEZ_ERROR_LINK_LOST: /* the band went, as bands do: not the adapter's fault */
	case BLUEZ_ERROR_BUSY:
	case BLUEZ_ERROR_GONE:
	case BLUEZ_ERROR_OTHER:
		return false;
	}
	return false;
}

/* Any failure: let go of the link and try again after the backoff, counted from when the link is gone so
 * that the retry never meets our own Disconnect still running. error: the call that failed, if one did. */
static void fail_with(struct band *band, const char *why, bool suspect_adapter)
{
	bool was_linked = linked(band);

	attempt_new(band);
	band->failures++;
	band->backoff_ms = backoff_ms(&backoff_band_reconnect, band->failures, g_random_int());
	if (band->backoff_ms)
		set_state(band, BAND_STATE_DISCONNECTED, "%s; retrying in %.1f s", why, band->backoff_ms / 1000.0);
	else
		set_state(band, BAND_STATE_DISCONNECTED, "%s; retrying now", why);
	if (was_linked)
		bluez_disconnect(band->bz, band->address, band->attempt, backoff_start, band);
	else
		backoff_start(NULL, band);
	if (!suspect_adapter)
		return;
	if (++band->suspect % TROUBLE_EVERY == 0 && band->ops->adapter_trouble)
		band->ops->adapter_trouble(band, "the band keeps failing", band->user_data);
}

static void fail(struct band *band, const char *why)
{
	fail_with(band, why, false);
}

void band_fail_error(struct band *band, const char *what, const GError *error)
{
	g_autofree char *why = g_strdup_printf("%s failed: %s", what, error->message);

	fail_with(band, why, implicates_adapter(band, error));
}

/* ---- writes and reads through the codec ---- */

static void write_done(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error)
		band_fail_error(band, "a write", error);
}

void band_send(struct band *band, const char *uuid, const uint8_t *value, int len, bool with_response)
{
	g_assert(len > 0); /* the codec's builders cannot fail on the buffers given here */
	bluez_write(band->bz, band->address, uuid, value, (size_t)len, with_response, band->attempt, write_done, band);
}

/* For a command after which the band drops the link (reboot, factory reset): the reply may be lost with it,
 * and the link's end is what tells us the command was taken. */
static void send_last(struct band *band, const char *uuid, const uint8_t *value, int len)
{
	g_assert(len > 0);
	bluez_write(band->bz, band->address, uuid, value, (size_t)len, false, NULL, NULL, NULL);
}

/* The zone byte (§6.1) of a local time: its offset from UTC, DST included, in quarter hours. */
int band_zone_quarters(GDateTime *t)
{
	return (int)(g_date_time_get_utc_offset(t) / (15 * 60 * G_TIME_SPAN_SECOND));
}

static void set_time(struct band *band)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	uint8_t buf[MIBAND2_WRITE_MAX];
	int len = miband2_build_time(buf, sizeof(buf), g_date_time_to_unix(now), band_zone_quarters(now));

	if (len < 0) {
		band_log(band, G_LOG_LEVEL_WARNING, "the gateway's clock is outside what the band can hold; time not set");
		return;
	}
	band_send(band, MIBAND2_CHR_TIME, buf, len, true);
}

static void notify_started(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error)
		band_log(band, G_LOG_LEVEL_WARNING, "StartNotify: %s", error->message);
}

/* ---- authentication (§4.4) ---- */

static void request_challenge(struct band *band)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	set_state(band, BAND_STATE_AUTHENTICATING, "Authenticating with the band's key");
	wait_for(band, ANSWER_TIMEOUT_MS);
	band_send(band, MIBAND2_CHR_AUTH, buf, miband2_build_auth_request(buf, sizeof(buf)), false);
}

static void send_new_key(struct band *band)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (!band->new_key_ready) {
		if (RAND_bytes(band->new_key, sizeof(band->new_key)) != 1) {
			fail(band, "no random key could be made");
			return;
		}
		band->new_key_ready = true;
	}
	band->tap_deadline = g_get_real_time() / G_USEC_PER_SEC + TAP_TIMEOUT_MS / 1000;
	set_state(band, BAND_STATE_AWAITING_TAP, "Tap the band's button to confirm pairing with this gateway");
	wait_for(band, TAP_TIMEOUT_MS);
	band_send(band, MIBAND2_CHR_AUTH, buf, miband2_build_auth_key(buf, sizeof(buf), band->new_key), false);
}

static void auth_notify_started(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error) {
		band_fail_error(band, "StartNotify on the auth characteristic", error);
		return;
	}
	if (band->pairing || !band->has_key)
		send_new_key(band);
	else
		request_challenge(band);
}

static void authenticate(struct band *band)
{
	set_state(band, BAND_STATE_AUTHENTICATING, "Services resolved; authenticating");
	wait_for(band, ANSWER_TIMEOUT_MS);
	/* §4.1: notifications on the auth characteristic before the first write, or no answer ever comes. */
	bluez_start_notify(band->bz, band->address, MIBAND2_CHR_AUTH, band->attempt, auth_notify_started, band);
}

static void ready(struct band *band);

static void key_stored(struct band *band)
{
	memcpy(band->key, band->new_key, sizeof(band->key));
	band->has_key = true;
	band->pairing = band->new_key_ready = false;
	if (band->ops->key_changed)
		band->ops->key_changed(band, band->key, band->user_data);
	request_challenge(band);
}

static void rejected(struct band *band)
{
	bluez_disconnect(band->bz, band->address, NULL, NULL, NULL);
	attempt_new(band);
	set_state(band, BAND_STATE_AUTH_REJECTED,
	          "The band holds another phone's key (paired to another phone); re-pair it from here, then tap the "
	          "band when it asks");
}

static void auth_reply(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_auth_reply r;
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (miband2_parse_auth_reply(value, len, &r) < 0) {
		band_log(band, G_LOG_LEVEL_WARNING, "malformed auth notification (%zu bytes) ignored", len);
		return;
	}
	switch (r.result) {
	case MIBAND2_AUTH_RESULT_KEY_STORED:
		if (band->state == BAND_STATE_AWAITING_TAP && band->new_key_ready)
			key_stored(band);
		break;
	case MIBAND2_AUTH_RESULT_RANDOM:
		band_send(band, MIBAND2_CHR_AUTH, buf, miband2_build_auth_encrypted(buf, sizeof(buf), band->key, r.random),
		     false);
		break;
	case MIBAND2_AUTH_RESULT_AUTHENTICATED:
		ready(band);
		break;
	case MIBAND2_AUTH_RESULT_WRONG_KEY:
		rejected(band);
		break;
	case MIBAND2_AUTH_RESULT_KEY_TIMEOUT:
	case MIBAND2_AUTH_RESULT_KEY_FAILED:
		fail(band, "the band did not take the new key (nobody tapped it?)");
		break;
	case MIBAND2_AUTH_RESULT_RANDOM_FAILED:
		/* A band without a key (wiped) cannot make a challenge: pair it. */
		band->pairing = true;
		fail(band, "the band has no key; pairing again");
		break;
	case MIBAND2_AUTH_RESULT_OTHER:
		fail(band, "unexpected authentication answer");
		break;
	}
}

/* ---- ready ---- */

static void ready(struct band *band)
{
	static const char *const notify[] = { MIBAND2_CHR_EVENT,  MIBAND2_CHR_BATTERY,  MIBAND2_CHR_STEPS,
	                                      MIBAND2_CHR_HR_MEAS, MIBAND2_CHR_FETCH, MIBAND2_CHR_ACTIVITY };
	enum band_state before = band->state;
	GError *error = NULL;

	clear_timer(band);
	band->failures = band->suspect = 0;
	/* In this order on the bus, before anyone hears "ready" and asks for a sync or an alert: the clock first
	 * (history is stamped by it), every subscription (§10.1: 0004 and 0005 before a fetch), then the reads. */
	bluez_read(band->bz, band->address, MIBAND2_CHR_TIME, band->attempt, band_live_clock_read, band);
	set_time(band);
	for (size_t i = 0; i < G_N_ELEMENTS(notify); i++)
		bluez_start_notify(band->bz, band->address, notify[i], band->attempt, notify_started, band);
	if (band->hr_interval >= 0) { /* §11.1: measured every N minutes into the history's heart rate byte */
		uint8_t buf[MIBAND2_WRITE_MAX];

		band_send(band, MIBAND2_CHR_HR_CTRL, buf, miband2_build_hr_interval(buf, sizeof(buf), (unsigned)band->hr_interval),
		     true);
	}
	bluez_read(band->bz, band->address, MIBAND2_CHR_SW_REV, band->attempt, band_live_firmware_read, band);
	bluez_read(band->bz, band->address, MIBAND2_CHR_BATTERY, band->attempt, band_live_value_read, band);
	bluez_read(band->bz, band->address, MIBAND2_CHR_STEPS, band->attempt, band_live_value_read, band);
	/* A write above can fail at once (the link went meanwhile) and move the band on: it is not ready then. */
	if (band->state != before)
		return;
	set_state(band, BAND_STATE_READY, "Connected and authenticated");
	if (band->reboot_pending_until && g_get_monotonic_time() < band->reboot_pending_until)
		band_reboot(band, &error);
	band->reboot_pending_until = 0;
	g_clear_error(&error);
}

void band_value(struct band *band, const char *uuid, const uint8_t *value, size_t len)
{
	static const struct {
		const char *uuid;
		void (*handle)(struct band *band, const uint8_t *value, size_t len);
	} handlers[] = {
		{ MIBAND2_CHR_BATTERY, band_live_battery }, { MIBAND2_CHR_STEPS, band_live_steps },
		{ MIBAND2_CHR_EVENT, band_live_event },     { MIBAND2_CHR_HR_MEAS, band_live_heart_rate },
		{ MIBAND2_CHR_FETCH, band_sync_fetch_value },     { MIBAND2_CHR_ACTIVITY, band_sync_activity_value },
	};

	if (g_ascii_strcasecmp(uuid, MIBAND2_CHR_AUTH) == 0) {
		if (band->state == BAND_STATE_AUTHENTICATING || band->state == BAND_STATE_AWAITING_TAP)
			auth_reply(band, value, len);
		return;
	}
	if (band->state != BAND_STATE_READY)
		return; /* a stale cached value from an earlier link */
	for (size_t i = 0; i < G_N_ELEMENTS(handlers); i++)
		if (g_ascii_strcasecmp(uuid, handlers[i].uuid) == 0)
			handlers[i].handle(band, value, len);
}

/* ---- connecting ---- */

static void connected(const GError *error, void *user_data)
{
	struct band *band = user_data;
	struct bluez_device_info info;
	g_autofree char *name = error && g_dbus_error_is_remote_error(error) ?
	                        g_dbus_error_get_remote_error(error) : NULL;

	if (error && g_strcmp0(name, "org.bluez.Error.AlreadyConnected") != 0) {
		if (bluez_error_kind(error) == BLUEZ_ERROR_GONE) {
			attempt_new(band);
			set_state(band, BAND_STATE_ABSENT, "The band went out of sight; looking for it");
			return;
		}
		/* Nobody answered and nothing was heard of the band: it is away. Discovery then watches for it, so
		 * that it is reconnected when it advertises again rather than at the end of a long backoff. */
		band->away = bluez_error_kind(error) == BLUEZ_ERROR_UNREACHABLE &&
		             !(bluez_device_info(band->bz, band->address, &info) && info.has_rssi);
		band_fail_error(band, "Connect", error);
		return;
	}
	band->away = false;
	/* Connect replies before services resolve (bluez-5.66.md): wait for ServicesResolved. */
	set_state(band, BAND_STATE_RESOLVING, "Connected; resolving services");
	wait_for(band, RESOLVE_TIMEOUT_MS);
	if (bluez_device_info(band->bz, band->address, &info) && info.services_resolved &&
	    bluez_has_char(band->bz, band->address, MIBAND2_CHR_AUTH))
		authenticate(band);
}

static void attempt(struct band *band)
{
	struct bluez_device_info info;

	attempt_new(band);
	if (!bluez_adapter_ready(band->bz)) {
		set_state(band, BAND_STATE_ABSENT, "The Bluetooth adapter is not ready");
		return;
	}
	if (!bluez_device_info(band->bz, band->address, &info)) {
		set_state(band, BAND_STATE_ABSENT, "Looking for the band: is it nearby and charged?");
		return;
	}
	set_state(band, BAND_STATE_CONNECTING, "Connecting");
	bluez_connect(band->bz, band->address, band->attempt, connected, band);
}

void band_device_changed(struct band *band)
{
	struct bluez_device_info info;
	bool present = bluez_device_info(band->bz, band->address, &info);

	switch (band->state) {
	case BAND_STATE_ABSENT:
		if (present && bluez_adapter_ready(band->bz) && !band->following_reset)
			attempt(band);
		break;
	case BAND_STATE_RESOLVING:
		/* info.connected holds from the Connect reply on, whether or not Connected=true was signalled. */
		if (info.services_resolved && bluez_has_char(band->bz, band->address, MIBAND2_CHR_AUTH))
			authenticate(band);
		else if (!info.connected)
			fail(band, "the link dropped while resolving");
		break;
	case BAND_STATE_AUTHENTICATING:
	case BAND_STATE_AWAITING_TAP:
	case BAND_STATE_READY:
		if (!info.services_resolved || !info.connected)
			fail(band, "the link dropped");
		break;
	case BAND_STATE_DISCONNECTED:
		if (band->away && info.has_rssi) {
			band_log(band, G_LOG_LEVEL_MESSAGE, "advertising again");
			attempt(band);
		}
		break;
	case BAND_STATE_CONNECTING:
	case BAND_STATE_AUTH_REJECTED:
	case BAND_STATE_RESETTING:
		break;
	}
}

void band_device_removed(struct band *band)
{
	/* A reset's own RemoveDevice: its sequence goes on (the signal comes before the reply). */
	if (band->state == BAND_STATE_AUTH_REJECTED || (band->state == BAND_STATE_RESETTING && !band->following_reset))
		return;
	attempt_new(band);
	set_state(band, BAND_STATE_ABSENT, band->following_reset ?
	          "Factory reset: waiting for the band to come back under its new address" :
	          "bluetoothd forgot the band; looking for it");
}

void band_adapter_changed(struct band *band)
{
	if (!bluez_adapter_ready(band->bz)) {
		if (band->state != BAND_STATE_AUTH_REJECTED && band->state != BAND_STATE_ABSENT) {
			attempt_new(band);
			set_state(band, BAND_STATE_ABSENT, "The Bluetooth adapter is not ready");
		}
		return;
	}
	if (band->state == BAND_STATE_ABSENT)
		band_device_changed(band);
}

bool band_wants_discovery(const struct band *band)
{
	return band->state == BAND_STATE_ABSENT || band->following_reset ||
	       (band->away && (band->state == BAND_STATE_DISCONNECTED || band->state == BAND_STATE_CONNECTING));
}

/* ---- operator actions ---- */

static bool need_ready(struct band *band, const char *what, GError **error)
{
	if (band->state == BAND_STATE_READY)
		return true;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_PENDING, "%s: the band is %s; it will be done once the band is ready",
	            what, band_state_name(band->state));
	return false;
}

static void reconnect_disconnected(const GError *error, void *user_data)
{
	(void)error; /* not connected is as good as disconnected */
	attempt(user_data);
}

bool band_reconnect(struct band *band, GError **error)
{
	struct bluez_device_info info;

	(void)error;
	stop_following(band);
	attempt_new(band);
	band->failures = 0;
	if (bluez_device_info(band->bz, band->address, &info) && (info.connected || linked(band))) {
		set_state(band, BAND_STATE_DISCONNECTED, "Reconnecting on request");
		bluez_disconnect(band->bz, band->address, band->attempt, reconnect_disconnected, band);
		return true;
	}
	attempt(band);
	return true;
}

static void reset_removed(const GError *error, void *user_data)
{
	struct band *band = user_data;

	(void)error;
	if (band->ops->adapter_trouble)
		band->ops->adapter_trouble(band, "an operator's reset", band->user_data);
	set_state(band, BAND_STATE_ABSENT, "Reset: rediscovering the band");
}

static void reset_disconnected(const GError *error, void *user_data)
{
	struct band *band = user_data;

	(void)error;
	bluez_remove_device(band->bz, band->address, band->attempt, reset_removed, band);
}

/* The seed's "forget the device": Disconnect, RemoveDevice, power-cycle, rediscover, reconnect. */
bool band_reset(struct band *band, GError **error)
{
	(void)error;
	stop_following(band);
	attempt_new(band);
	band->failures = band->suspect = 0;
	band->away = false;
	set_state(band, BAND_STATE_RESETTING, "Reset: disconnecting and removing the device from BlueZ");
	bluez_disconnect(band->bz, band->address, band->attempt, reset_disconnected, band);
	return true;
}

/* A reset, then a new key and the wearer's tap. The old key stays until the band takes the new one. */
bool band_repair(struct band *band, GError **error)
{
	band->pairing = true;
	band->new_key_ready = false;
	return band_reset(band, error);
}

/* A command that needs an authenticated link goes now, or waits for ready (*ret_pending), or, for a band that
 * holds another key, is refused: no link of ours can carry it until a re-pair. */
static bool command_now(struct band *band, const char *what, bool *ret_pending, GError **error)
{
	*ret_pending = false;
	if (band->state == BAND_STATE_AUTH_REJECTED) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: the band must be re-paired first", what);
		return false;
	}
	*ret_pending = !need_ready(band, what, error);
	return !*ret_pending;
}

bool band_set_time(struct band *band, GError **error)
{
	if (!need_ready(band, "set time", error))
		return false;
	set_time(band);
	return true;
}

/* §11.1 one-shot: continuous and manual off, then manual on; the reading arrives on 2A37 some seconds later. */
bool band_measure_heart_rate(struct band *band, GError **error)
{
	static const struct {
		enum miband2_hr_mode mode;
		bool on;
	} steps[] = { { MIBAND2_HR_MODE_CONTINUOUS, false }, { MIBAND2_HR_MODE_MANUAL, false },
	              { MIBAND2_HR_MODE_MANUAL, true } };
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (!need_ready(band, "heart rate", error))
		return false;
	for (size_t i = 0; i < G_N_ELEMENTS(steps); i++)
		band_send(band, MIBAND2_CHR_HR_CTRL, buf, miband2_build_hr_control(buf, sizeof(buf), steps[i].mode, steps[i].on),
		     true);
	return true;
}

void band_set_heart_rate_interval(struct band *band, int minutes)
{
	band->hr_interval = minutes;
}

/* A reboot asked while the band is away goes out when it is ready again, within REBOOT_PENDING_US. */
bool band_reboot(struct band *band, GError **error)
{
	uint8_t buf[MIBAND2_WRITE_MAX];
	bool pending;

	if (!command_now(band, "reboot", &pending, error)) {
		if (pending)
			band->reboot_pending_until = g_get_monotonic_time() + REBOOT_PENDING_US;
		return false;
	}
	band->reboot_pending_until = 0;
	band_log(band, G_LOG_LEVEL_MESSAGE, "rebooting it (§15)");
	send_last(band, MIBAND2_CHR_FW_CTRL, buf, miband2_build_reboot(buf, sizeof(buf)));
	return true;
}

static void stop_following(struct band *band)
{
	band->following_reset = false;
	g_clear_pointer(&band->known_before, g_strfreev);
	g_clear_handle_id(&band->follow_timer, g_source_remove);
}

/* The band did not come back under a new address: the command may not have taken. It still holds our key
 * then; if it was wiped after all, authentication says so (no key) and pairing starts. */
static gboolean on_follow_timeout(gpointer user_data)
{
	struct band *band = user_data;

	band->follow_timer = 0;
	stop_following(band);
	band_log(band, G_LOG_LEVEL_MESSAGE, "no band came back from the factory reset; trying its old address");
	attempt(band);
	return G_SOURCE_REMOVE;
}

/* §15: the band wipes itself and comes back under a new address; band_adopt() follows it there. Never queued:
 * a wipe must not fire by surprise when a band returns hours later. */
bool band_factory_reset(struct band *band, GError **error)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (band->state != BAND_STATE_READY) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
		            "factory reset: the band is %s; it needs a connected, authenticated band and is never queued",
		            band_state_name(band->state));
		return false;
	}
	stop_following(band);
	band->known_before = bluez_devices_named(band->bz, "MI Band 2");
	attempt_new(band);
	send_last(band, MIBAND2_CHR_CONFIG, buf, miband2_build_config_factory_reset(buf, sizeof(buf)));
	band->following_reset = true;
	band->follow_timer = g_timeout_add(FOLLOW_RESET_MS, on_follow_timeout, band);
	set_state(band, BAND_STATE_RESETTING, "Factory reset: waiting for the band to come back under its new address");
	return true;
}

bool band_following_reset(const struct band *band)
{
	return band->following_reset;
}

bool band_adopt(struct band *band, const char *address)
{
	char old[18];

	if (!band->following_reset || g_ascii_strcasecmp(address, band->address) == 0)
		return false;
	for (char **k = band->known_before; k && *k; k++)
		if (g_ascii_strcasecmp(*k, address) == 0)
			return false; /* it was there before the reset: another band */
	g_strlcpy(old, band->address, sizeof(old));
	g_strlcpy(band->address, address, sizeof(band->address));
	for (char *p = band->address; *p; p++)
		*p = g_ascii_toupper(*p);
	stop_following(band);
	band_log(band, G_LOG_LEVEL_MESSAGE, "came back from its factory reset; it was %s", old);
	/* bluetoothd's object for the old address is a stranger now. */
	bluez_remove_device(band->bz, old, NULL, NULL, NULL);
	if (band->ops->address_changed)
		band->ops->address_changed(band, old, band->user_data);
	/* Wiped: our key is gone from it. Only now, with the band seen again, is the stored key dropped. */
	band->pairing = true;
	band->new_key_ready = false;
	band->has_key = false;
	if (band->ops->key_changed)
		band->ops->key_changed(band, NULL, band->user_data);
	attempt(band);
	return true;
}

void band_release(struct band *band)
{
	switch ((int)band->state) {
	case BAND_STATE_CONNECTING:
	case BAND_STATE_RESOLVING:
	case BAND_STATE_AUTHENTICATING:
	case BAND_STATE_AWAITING_TAP:
	case BAND_STATE_READY:
		attempt_new(band);
		band_log(band, G_LOG_LEVEL_MESSAGE, "letting the band go");
		bluez_disconnect_detached(band->bz, band->address);
		break;
	}
}

void band_forget(struct band *band)
{
	stop_following(band);
	attempt_new(band);
	bluez_disconnect(band->bz, band->address, NULL, NULL, NULL);
	bluez_remove_device(band->bz, band->address, NULL, NULL, NULL);
}

/* ---- life ---- */

struct band *band_new(struct bluez *bz, const char *address, const uint8_t *key, const struct band_ops *ops,
                      void *user_data)
{
	struct band *band = g_new0(struct band, 1);

	band->bz = bz;
	band->ops = ops;
	band->user_data = user_data;
	for (size_t i = 0; i < sizeof(band->address) - 1 && address[i]; i++)
		band->address[i] = g_ascii_toupper(address[i]);
	band->has_key = key != NULL;
	if (key)
		memcpy(band->key, key, sizeof(band->key));
	band->battery = -1;
	band->steps = -1;
	band->heart_rate = -1;
	band->hr_interval = -1;
	band->rejected = (struct ratelimit)RATELIMIT_INIT(REJECT_LOG_US, 1);
	band->state = BAND_STATE_ABSENT;
	band->description = g_strdup("Starting");
	attempt(band);
	return band;
}

void band_free(struct band *band)
{
	if (!band)
		return;
	g_cancellable_cancel(band->attempt);
	g_clear_object(&band->attempt);
	clear_timer(band);
	stop_following(band);
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	g_clear_pointer(&band->sync.samples, g_array_unref);
	g_free(band->sync.error);
	g_clear_handle_id(&band->alert.timer, g_source_remove);
	g_free(band->alert.text);
	g_free(band->description);
	g_free(band);
}

const char *band_address(const struct band *band)
{
	return band->address;
}

enum band_state band_state(const struct band *band)
{
	return band->state;
}

enum band_state band_previous_state(const struct band *band)
{
	return band->previous;
}

int64_t band_state_since(const struct band *band)
{
	return band->state_since;
}

int64_t band_tap_deadline(const struct band *band)
{
	return band->state == BAND_STATE_AWAITING_TAP ? band->tap_deadline : 0;
}

const char *band_state_description(const struct band *band)
{
	return band->description;
}

int band_battery(const struct band *band)
{
	return band->battery;
}

long band_steps(const struct band *band)
{
	return band->steps;
}

bool band_charging(const struct band *band)
{
	return band->charging;
}

int band_heart_rate(const struct band *band)
{
	return band->heart_rate;
}

const char *band_firmware(const struct band *band)
{
	return band->firmware;
}
