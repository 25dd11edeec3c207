/* One state machine per band (DESIGN.md, band lifecycle): connect, wait for services, authenticate (with the
 * wearer's tap when the key is new), subscribe, and come back after every fault with exponential backoff and
 * jitter. Operator actions are transitions, safe in any state and idempotent. The band talks to BlueZ through
 * bluez.h and to the Mi Band 2 through the pure codec miband2.h; what it learns goes out through band_ops. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bluez.h"

enum band_state {
	BAND_STATE_ABSENT,         /* bluetoothd has no such device (yet): discovery looks for it */
	BAND_STATE_DISCONNECTED,   /* waiting out the backoff before the next attempt */
	BAND_STATE_CONNECTING,     /* Device1.Connect in flight */
	BAND_STATE_RESOLVING,      /* connected, waiting for ServicesResolved */
	BAND_STATE_AUTHENTICATING, /* the challenge and answer of miband2-protocol.md §4 */
	BAND_STATE_AWAITING_TAP,   /* a new key was sent: the wearer must tap the band */
	BAND_STATE_READY,          /* authenticated, notifications on */
	BAND_STATE_AUTH_REJECTED,  /* the band holds another key: only a re-pair cures it */
	BAND_STATE_RESETTING,      /* an operator's reset, re-pair or factory reset is under way */
};
const char *band_state_name(enum band_state state);

struct band;
struct miband2_sample;

enum band_alert_kind {
	BAND_ALERT_TEXT,    /* a New Alert of a category (§12.2); text shown for SMS and incoming call only */
	BAND_ALERT_VIBRATE, /* a custom vibration (§12.1) */
	BAND_ALERT_FIND,    /* "find band": vibrate only */
};

/* What a band reports. Strings are valid for the call only. */
struct band_ops {
	void (*state_changed)(struct band *band, void *user_data);
	/* Persist the band's key (NULL: it has none any more). */
	void (*key_changed)(struct band *band, const uint8_t *key, void *user_data);
	/* A factory reset moved the band to a new address (already band_address()). */
	void (*address_changed)(struct band *band, const char *old_address, void *user_data);
	void (*firmware)(struct band *band, const char *version, void *user_data);
	/* Live values as the band reports them (checked): meters/calories -1 on 5-byte firmware. */
	void (*steps)(struct band *band, long steps, long meters, long calories, void *user_data);
	void (*battery)(struct band *band, int level, bool charging, void *user_data);
	void (*heart_rate)(struct band *band, int bpm, void *user_data);
	/* Something for the events table: "button" and the band's other events, "rejected" (a malformed
	 * notification, rate-limited). detail may be NULL. */
	void (*event)(struct band *band, const char *type, const char *detail, void *user_data);
	/* History: n contiguous minutes from first (UTC), in zone tz (quarter hours); store them and the cursor
	 * next together, or return false (the sync stops, and resumes from the old cursor next time). */
	bool (*history)(struct band *band, int64_t first, int tz, const struct miband2_sample *samples, size_t n,
	                int64_t next, void *user_data);
	/* A sync ended: ok, or why not (it gave up; broken rounds retried on the way are events "sync-retry"). */
	void (*sync_done)(struct band *band, bool ok, const char *why, void *user_data);
	/* An alert was played (error NULL) or could not be (error says why; the link may have ended). */
	void (*alert_done)(struct band *band, int64_t id, const char *error, void *user_data);
	/* The screen is free for the next alert (the spacing after the last one has passed). */
	void (*alert_idle)(struct band *band, void *user_data);
	/* The adapter should be power-cycled: the ladder suspects it, or an operator's reset asks for it. The
	 * owner decides (it knows whether another band is healthy on it). */
	void (*adapter_trouble)(struct band *band, const char *why, void *user_data);
};

/* key NULL: the band has never been paired with bandgate; the first connection pairs it (tap needed). */
struct band *band_new(struct bluez *bz, const char *address, const uint8_t *key, const struct band_ops *ops,
                      void *user_data);
void band_free(struct band *band);

const char *band_address(const struct band *band);
/* The one logger of lines about a band: "band ADDRESS: ...", with the address also as the journal field
 * BANDGATE_BAND (`journalctl BANDGATE_BAND=C8:0F:10:11:22:33` shows one band), in the caller's log domain. */
#define band_log(band, level, ...) band_log_at(G_LOG_DOMAIN, band_address(band), level, __VA_ARGS__)
void band_log_at(const char *domain, const char *address, GLogLevelFlags level, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);
enum band_state band_state(const struct band *band);
enum band_state band_previous_state(const struct band *band); /* the state before the last change */
/* One sentence for a person: what is going on and, when stuck, the cure. */
const char *band_state_description(const struct band *band);
bool band_wants_discovery(const struct band *band);
/* UTC seconds: when the current state began; when the wait for the wearer's tap ends (0 outside awaiting-tap). */
int64_t band_state_since(const struct band *band);
int64_t band_tap_deadline(const struct band *band);
/* Live values, -1 while unknown. */
int band_battery(const struct band *band);
long band_steps(const struct band *band);
bool band_charging(const struct band *band);
int band_heart_rate(const struct band *band);
const char *band_firmware(const struct band *band);

/* Events from the BlueZ view, routed by address. */
void band_device_changed(struct band *band);
void band_device_removed(struct band *band);
void band_adapter_changed(struct band *band);
void band_value(struct band *band, const char *uuid, const uint8_t *value, size_t len);
/* A factory-reset band is looking for its new self: an unmanaged "MI Band 2" appeared at address. */
bool band_adopt(struct band *band, const char *address);
bool band_following_reset(const struct band *band);

/* Operator actions (DESIGN.md). Each returns false with a person-readable reason when it cannot start. */
bool band_reconnect(struct band *band, GError **error);
bool band_reset(struct band *band, GError **error);
bool band_repair(struct band *band, GError **error);
/* Reboot: at once when ready, else G_IO_ERROR_PENDING and sent when the band is ready again (within 10 min). */
bool band_reboot(struct band *band, GError **error);
/* Factory reset: only on a ready band (never queued); followed to the new address for 5 min. */
bool band_factory_reset(struct band *band, GError **error);
/* Fetch the activity history from the minute from (UTC; 0: everything the band has) up to now, in rounds.
 * Only on a ready band (else G_IO_ERROR_PENDING); a sync under way absorbs the request. */
bool band_sync(struct band *band, int64_t from, GError **error);
/* Where the history sync stands: "idle", "running", "retrying" (a round broke; retried from the cursor once the
 * band is quiet) or "failed" (it gave up until the next sync; band_sync_error() says why, else NULL). */
const char *band_sync_state(const struct band *band);
const char *band_sync_error(const struct band *band);
/* Set the band's clock to the gateway's now (it is also set on every ready). Only on a ready band. */
bool band_set_time(struct band *band, GError **error);
/* Measure the heart rate once (§11.1); the reading arrives as the heart_rate op. Only on a ready band. */
bool band_measure_heart_rate(struct band *band, GError **error);
/* All-day heart rate every minutes (1..120, 0 = off), written on every ready; -1 (the default) leaves the
 * band's own setting. */
void band_set_heart_rate_interval(struct band *band, int minutes);
/* Play an alert; id comes back in alert_done. G_IO_ERROR_PENDING when not ready, G_IO_ERROR_BUSY while
 * another alert plays or its spacing runs. text: valid UTF-8 or NULL. */
bool band_alert(struct band *band, int64_t id, enum band_alert_kind kind, int category, const char *text,
                GError **error);
bool band_alert_idle(const struct band *band);
/* At shutdown: end the link, so that the band advertises again (a phone can find it) instead of staying
 * connected to a bluetoothd that nobody speaks through. */
void band_release(struct band *band);
/* Before forgetting: disconnect and let bluetoothd forget the device too. */
void band_forget(struct band *band);
