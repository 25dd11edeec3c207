/* One band's state machine (band.h). Every attempt owns a GCancellable: a transition cancels the attempt it
 * leaves, so a late reply from BlueZ can never push an old attempt forward. One timer at a time measures
 * whatever the current state waits for (a backoff, services, an answer, a tap). */
#include <openssl/rand.h>
#include <string.h>

#include "band.h"
#include "miband2.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define RESOLVE_TIMEOUT_MS 30000
#define ANSWER_TIMEOUT_MS 15000  /* the band answers auth at once; this is generous */
#define TAP_TIMEOUT_MS 60000     /* the band itself drops the link sooner (§3): that ends the wait first */
#define TROUBLE_EVERY 5          /* failures that implicate the adapter, in a row, before it is suspected */
#define FOLLOW_RESET_MS (5 * 60 * 1000) /* how long a factory-reset band may take to come back */
#define SYNC_STALL_MS 30000     /* a history round that makes no progress this long is abandoned */
#define SYNC_ROUNDS_MAX 400      /* per sync: more than a year at the band's 1440 samples a round */
#define SYNC_FROM_NEVER 946771200 /* 2000-01-02 UTC: "everything the band has" for a first sync */
#define ALERT_SPACING_MS 4500    /* §12.2: closer alerts are not shown */
#define ALERT_TEXT_CHUNKS 3      /* at most this many 18-byte screens of one alert's text */
#define REJECT_LOG_US (10 * G_USEC_PER_SEC) /* malformed notifications: one log line and event per this */
#define REBOOT_PENDING_US (INT64_C(600) * G_USEC_PER_SEC) /* a reboot asked while away is forgotten after this */

struct band {
	struct bluez *bz;
	const struct band_ops *ops;
	void *user_data;
	char address[18];
	bool has_key;
	uint8_t key[16];
	bool pairing;              /* send a new key on the next authentication (first pairing, re-pair) */
	uint8_t new_key[16];
	bool new_key_ready;
	enum band_state state, previous;
	char *description;
	GCancellable *attempt;
	guint timer;
	unsigned failures;         /* in a row, for the backoff */
	unsigned backoff_ms;       /* the current wait, started once the link is let go */
	unsigned suspect;          /* failures in a row that implicate the adapter, for the ladder */
	bool away;                 /* the last Connect found nobody: discovery watches for its advertisements */
	int battery, heart_rate;
	int hr_interval;           /* all-day heart rate every N minutes (0: off), written on every ready; -1: left */
	bool charging;
	long steps;
	char firmware[40];
	int64_t reboot_pending_until; /* monotonic; 0: none */
	bool following_reset;
	guint follow_timer;
	char **known_before;       /* the "MI Band 2"s bluetoothd knew when the factory reset began: not ours */
	int64_t rejected_at_us;    /* the last malformed notification logged (rate limit, per kind) */
	const char *rejected_what;
	unsigned rejected_quiet;   /* malformed notifications since, not logged */
	struct {                   /* the history sync (§10) */
		bool running, going;   /* a round started; 02 sent and packets expected */
		int64_t from;          /* UTC of the first wanted minute of this round */
		struct miband2_datetime first; /* the round's first sample, as the band said */
		uint32_t expected;
		int counter;           /* the last packet's counter, -1 before the first */
		unsigned rounds;
		GArray *samples;       /* struct miband2_sample of this round */
		guint timer;
	} sync;
	struct {                   /* the alert being played (§12) */
		int64_t id;            /* 0: none */
		enum band_alert_kind kind;
		int category;
		char *text;
		size_t offset;         /* text bytes sent so far */
		unsigned chunks;
		guint timer;           /* the spacing before the next screen or the next alert */
	} alert;
};

static void attempt(struct band *band);
static void fail(struct band *band, const char *why);
static void fail_with(struct band *band, const char *why, bool suspect_adapter);
static void stop_following(struct band *band);

/* A log line about this band: the text says "band ADDRESS: ...", and under systemd the journal also gets the
 * address as the field BANDGATE_BAND, so `journalctl BANDGATE_BAND=C8:0F:10:11:22:33` shows one band. */
G_GNUC_PRINTF(3, 4)
static void band_log(const struct band *band, GLogLevelFlags level, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *text = NULL, *message = NULL;
	const char *priority = level & G_LOG_LEVEL_WARNING ? "4" : "5";

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	message = g_strdup_printf("band %s: %s", band->address, text);
	const GLogField fields[] = {
		{ "MESSAGE", message, -1 },
		{ "PRIORITY", priority, -1 },
		{ "BANDGATE_BAND", band->address, -1 },
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
	if (state != band->state)
		band_log(band, G_LOG_LEVEL_MESSAGE, "%s -> %s: %s", band_state_name(band->state), band_state_name(state),
		          text);
	if (state != band->state)
		band->previous = band->state;
	band->state = state;
	if (changed && band->ops->state_changed)
		band->ops->state_changed(band, band->user_data);
}

static void clear_timer(struct band *band)
{
	g_clear_handle_id(&band->timer, g_source_remove);
}

/* A new attempt: whatever the previous one still waits for is cancelled. */
static void sync_stop(struct band *band, bool ok, const char *why);
static void alert_stop(struct band *band, const char *error);

static void attempt_new(struct band *band)
{
	if (band->sync.running)
		sync_stop(band, false, "the link ended during the transfer");
	if (band->alert.id)
		alert_stop(band, "the link ended during the alert");
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

static unsigned backoff_ms(unsigned failures)
{
	unsigned base = BACKOFF_MIN_MS << MIN(failures > 0 ? failures - 1 : 0, 6u);

	base = MIN(base, (unsigned)BACKOFF_MAX_MS);
	/* ±20 % jitter so that bands (and gateways) that failed together do not retry together. */
	return (unsigned)g_random_int_range((gint32)(base * 4 / 5), (gint32)(base * 6 / 5) + 1);
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
	band->backoff_ms = backoff_ms(band->failures);
	set_state(band, BAND_STATE_DISCONNECTED, "%s; retrying in %.1f s", why, band->backoff_ms / 1000.0);
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

static void fail_error(struct band *band, const char *what, const GError *error)
{
	g_autofree char *why = g_strdup_printf("%s failed: %s", what, error->message);

	fail_with(band, why, implicates_adapter(band, error));
}

/* ---- writes and reads through the codec ---- */

static void write_done(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error)
		fail_error(band, "a write", error);
}

static void send(struct band *band, const char *uuid, const uint8_t *value, int len, bool with_response)
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

/* The band's clock in local time with the zone byte including DST (§6.1). */
/* The zone byte (§6.1) of a local time: its offset from UTC, DST included, in quarter hours. */
static int zone_quarters(GDateTime *t)
{
	return (int)(g_date_time_get_utc_offset(t) / (15 * 60 * G_TIME_SPAN_SECOND));
}

static void set_time(struct band *band)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	uint8_t buf[MIBAND2_WRITE_MAX];
	int len = miband2_build_time(buf, sizeof(buf), g_date_time_to_unix(now), zone_quarters(now));

	if (len < 0) {
		band_log(band, G_LOG_LEVEL_WARNING, "the gateway's clock is outside what the band can hold; time not set");
		return;
	}
	send(band, MIBAND2_CHR_TIME, buf, len, true);
}

/* What the band's clock said before we set it. A clock-less band (a year before 2000: it lost power, or was
 * never set) has stamped the minutes it recorded with that clock; they cannot be placed in time, and a fetch
 * from 2000 on passes over them, so say so once rather than store them under a wrong date. */
static void clock_read(const GError *error, const uint8_t *value, size_t len, void *user_data)
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

static void firmware_read(const GError *error, const uint8_t *value, size_t len, void *user_data)
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

static void value_read(const GError *error, const uint8_t *value, size_t len, void *user_data)
{
	(void)error, (void)value, (void)len, (void)user_data;
	/* The value arrives through PropertiesChanged as well (bluetoothd updates its cache before replying), so
	 * band_value() handles it once. */
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
	send(band, MIBAND2_CHR_AUTH, buf, miband2_build_auth_request(buf, sizeof(buf)), false);
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
	set_state(band, BAND_STATE_AWAITING_TAP, "Tap the band's button to confirm pairing with this gateway");
	wait_for(band, TAP_TIMEOUT_MS);
	send(band, MIBAND2_CHR_AUTH, buf, miband2_build_auth_key(buf, sizeof(buf), band->new_key), false);
}

static void auth_notify_started(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error) {
		fail_error(band, "StartNotify on the auth characteristic", error);
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
		send(band, MIBAND2_CHR_AUTH, buf, miband2_build_auth_encrypted(buf, sizeof(buf), band->key, r.random),
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
	GError *error = NULL;

	clear_timer(band);
	band->failures = band->suspect = 0;
	/* In this order on the bus, before anyone hears "ready" and asks for a sync or an alert: the clock first
	 * (history is stamped by it), every subscription (§10.1: 0004 and 0005 before a fetch), then the reads. */
	bluez_read(band->bz, band->address, MIBAND2_CHR_TIME, band->attempt, clock_read, band);
	set_time(band);
	for (size_t i = 0; i < G_N_ELEMENTS(notify); i++)
		bluez_start_notify(band->bz, band->address, notify[i], band->attempt, notify_started, band);
	if (band->hr_interval >= 0) { /* §11.1: measured every N minutes into the history's heart rate byte */
		uint8_t buf[MIBAND2_WRITE_MAX];

		send(band, MIBAND2_CHR_HR_CTRL, buf, miband2_build_hr_interval(buf, sizeof(buf), (unsigned)band->hr_interval),
		     true);
	}
	bluez_read(band->bz, band->address, MIBAND2_CHR_SW_REV, band->attempt, firmware_read, band);
	bluez_read(band->bz, band->address, MIBAND2_CHR_BATTERY, band->attempt, value_read, band);
	bluez_read(band->bz, band->address, MIBAND2_CHR_STEPS, band->attempt, value_read, band);
	set_state(band, BAND_STATE_READY, "Connected and authenticated");
	if (band->reboot_pending_until && g_get_monotonic_time() < band->reboot_pending_until)
		band_reboot(band, &error);
	band->reboot_pending_until = 0;
	g_clear_error(&error);
}

/* A notification that does not parse: a log line and an event row, at most one per REJECT_LOG_US and kind
 * (what is a literal, compared by address). */
static void rejected_value(struct band *band, const char *what, size_t len)
{
	int64_t now = g_get_monotonic_time();
	g_autofree char *detail = NULL;

	if (band->rejected_what == what && now - band->rejected_at_us < REJECT_LOG_US) {
		band->rejected_quiet++;
		return;
	}
	detail = g_strdup_printf("malformed %s notification (%zu bytes) ignored%s", what, len,
	                         band->rejected_quiet ? "; more were ignored before it" : "");
	band_log(band, G_LOG_LEVEL_WARNING, "%s", detail);
	band->rejected_at_us = now;
	band->rejected_what = what;
	band->rejected_quiet = 0;
	if (band->ops->event)
		band->ops->event(band, "rejected", detail, band->user_data);
}

static void battery_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_battery b;

	if (miband2_parse_battery(value, len, &b) < 0) {
		rejected_value(band, "battery", len);
		return;
	}
	band->battery = b.level;
	band->charging = b.state == MIBAND2_BATTERY_STATE_CHARGING;
	if (band->ops->battery)
		band->ops->battery(band, b.level, band->charging, band->user_data);
}

static void steps_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_steps st;

	if (miband2_parse_steps(value, len, &st) < 0) {
		rejected_value(band, "steps", len);
		return;
	}
	band->steps = st.steps;
	if (band->ops->steps)
		band->ops->steps(band, st.steps, st.has_totals ? (long)st.meters : -1,
		                 st.has_totals ? (long)st.calories : -1, band->user_data);
}

static void event_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_device_event ev;

	if (miband2_parse_device_event(value, len, &ev) < 0) {
		rejected_value(band, "device event", len);
		return;
	}
	band_log(band, G_LOG_LEVEL_MESSAGE, "event %s", miband2_event_name(ev.event));
	if (band->ops->event)
		band->ops->event(band, ev.event == MIBAND2_EVENT_BUTTON ? "button" : miband2_event_name(ev.event), NULL,
		                 band->user_data);
}

static void heart_rate_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_heart_rate hr;

	if (miband2_parse_heart_rate(value, len, &hr) < 0 || hr.bpm == 0 || hr.bpm == MIBAND2_HR_NONE) {
		rejected_value(band, "heart rate", len);
		return;
	}
	band->heart_rate = hr.bpm;
	if (band->ops->heart_rate)
		band->ops->heart_rate(band, hr.bpm, band->user_data);
}

static void fetch_value(struct band *band, const uint8_t *value, size_t len);
static void activity_value(struct band *band, const uint8_t *value, size_t len);

void band_value(struct band *band, const char *uuid, const uint8_t *value, size_t len)
{
	static const struct {
		const char *uuid;
		void (*handle)(struct band *band, const uint8_t *value, size_t len);
	} handlers[] = {
		{ MIBAND2_CHR_BATTERY, battery_value }, { MIBAND2_CHR_STEPS, steps_value },
		{ MIBAND2_CHR_EVENT, event_value },     { MIBAND2_CHR_HR_MEAS, heart_rate_value },
		{ MIBAND2_CHR_FETCH, fetch_value },     { MIBAND2_CHR_ACTIVITY, activity_value },
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

/* ---- history sync (§10): rounds of "from T" until the band has nothing newer ---- */

static gboolean on_sync_stall(gpointer user_data)
{
	struct band *band = user_data;

	band->sync.timer = 0;
	sync_stop(band, false, "the band stopped sending history");
	return G_SOURCE_REMOVE;
}

static void sync_progress(struct band *band)
{
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	band->sync.timer = g_timeout_add(SYNC_STALL_MS, on_sync_stall, band);
}

/* Hands the round's samples so far (contiguous from its first) to the owner with the cursor after them. */
static bool sync_store(struct band *band)
{
	GArray *s = band->sync.samples;
	int64_t next;

	if (!s->len)
		return true;
	next = band->sync.first.utc + 60 * (int64_t)s->len;
	if (band->ops->history && !band->ops->history(band, band->sync.first.utc, band->sync.first.tz,
	                                              (const struct miband2_sample *)(void *)s->data, s->len, next,
	                                              band->user_data))
		return false;
	band->sync.from = MAX(band->sync.from, next);
	g_array_set_size(s, 0);
	return true;
}

static void sync_stop(struct band *band, bool ok, const char *why)
{
	if (!sync_store(band) && ok) {
		ok = false;
		why = "the history could not be stored";
	}
	band->sync.running = band->sync.going = false;
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	g_clear_pointer(&band->sync.samples, g_array_unref);
	if (!ok)
		band_log(band, G_LOG_LEVEL_MESSAGE, "history sync stopped: %s", why);
	if (band->ops->sync_done)
		band->ops->sync_done(band, ok, why, band->user_data);
}

static void sync_round(struct band *band)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local(); /* the zone the band's clock was set to */
	uint8_t buf[MIBAND2_WRITE_MAX];
	int len = miband2_build_fetch_start(buf, sizeof(buf), band->sync.from, zone_quarters(now));

	if (len < 0 || ++band->sync.rounds > SYNC_ROUNDS_MAX) {
		sync_stop(band, len >= 0, len < 0 ? "the start time cannot be sent to the band" : NULL);
		return;
	}
	band->sync.going = false;
	band->sync.expected = 0;
	band->sync.counter = -1;
	sync_progress(band);
	send(band, MIBAND2_CHR_FETCH, buf, len, true);
}

static void sync_round_done(struct band *band)
{
	bool progress = band->sync.samples->len > 0;
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;

	if (!sync_store(band)) {
		sync_stop(band, false, "the history could not be stored");
		return;
	}
	/* §10.4: a round may stop short of now; go on while it brought something and the band has more. */
	if (progress && band->sync.from < now - 60)
		sync_round(band);
	else
		sync_stop(band, true, NULL);
}

static void fetch_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_fetch_reply r;
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (!band->sync.running)
		return;
	if (miband2_parse_fetch_reply(value, len, &r) < 0) {
		rejected_value(band, "history control", len);
		sync_stop(band, false, "the band's answer to the fetch was malformed (a clock-less band?)");
		return;
	}
	sync_progress(band);
	if (r.result == MIBAND2_FETCH_RESULT_STARTED && !band->sync.going) {
		if (r.count == 0) {
			sync_stop(band, true, NULL);
			return;
		}
		band->sync.first = r.first;
		band->sync.expected = r.count;
		band->sync.going = true;
		send(band, MIBAND2_CHR_FETCH, buf, miband2_build_fetch_go(buf, sizeof(buf)), true);
	} else if (r.result == MIBAND2_FETCH_RESULT_DONE && band->sync.going) {
		sync_round_done(band);
	} else if (r.result != MIBAND2_FETCH_RESULT_ACKED) {
		sync_stop(band, false, "the band refused the transfer");
	}
}

static void activity_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_activity a;

	if (!band->sync.running || !band->sync.going)
		return;
	if (miband2_parse_activity(value, len, &a) < 0 || a.counter != (uint8_t)(band->sync.counter + 1)) {
		/* A lost or damaged packet: keep what came before it, and the next sync resumes right there. */
		rejected_value(band, "history data", len);
		sync_stop(band, false, "a history packet was lost or damaged");
		return;
	}
	band->sync.counter = a.counter;
	sync_progress(band);
	for (unsigned i = 0; i < a.n_samples && band->sync.samples->len < band->sync.expected; i++)
		g_array_append_val(band->sync.samples, a.samples[i]);
}

bool band_sync(struct band *band, int64_t from, GError **error)
{
	if (band->state != BAND_STATE_READY) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PENDING, "sync: the band is %s; it syncs once it is ready",
		            band_state_name(band->state));
		return false;
	}
	if (band->sync.running)
		return true;
	band->sync.running = true;
	band->sync.rounds = 0;
	band->sync.from = from > SYNC_FROM_NEVER ? from : SYNC_FROM_NEVER;
	band->sync.samples = g_array_new(FALSE, FALSE, sizeof(struct miband2_sample));
	sync_round(band);
	return true;
}

/* ---- alerts (§12): one at a time, ALERT_SPACING_MS apart, text in screens of 18 bytes ---- */

static void alert_stop(struct band *band, const char *error)
{
	int64_t id = band->alert.id;

	band->alert.id = 0;
	g_clear_pointer(&band->alert.text, g_free);
	if (band->ops->alert_done)
		band->ops->alert_done(band, id, error, band->user_data);
}

static gboolean on_alert_spacing(gpointer user_data);

static void alert_written(const GError *error, void *user_data)
{
	struct band *band = user_data;

	if (error) {
		g_autofree char *why = g_strdup_printf("the band did not take the alert: %s", error->message);

		alert_stop(band, why);
		fail_error(band, "an alert", error);
	}
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
		alert_written(error, band);
		return;
	}
	if (band->alert.id)
		alert_write(band, MIBAND2_CHR_ALERT_LVL, buf,
		            miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_MESSAGE), alert_written);
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
	band->alert.timer = g_timeout_add(ALERT_SPACING_MS, on_alert_spacing, band);
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
		alert_stop(band, NULL);
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
		fail_error(band, "Connect", error);
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
		send(band, MIBAND2_CHR_HR_CTRL, buf, miband2_build_hr_control(buf, sizeof(buf), steps[i].mode, steps[i].on),
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
