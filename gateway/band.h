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

/* What a band reports. Strings are valid for the call only. */
struct band_ops {
	void (*state_changed)(struct band *band, void *user_data);
	/* Persist the band's key (NULL: it has none any more). */
	void (*key_changed)(struct band *band, const uint8_t *key, void *user_data);
	/* A factory reset moved the band to a new address (already band_address()). */
	void (*address_changed)(struct band *band, const char *old_address, void *user_data);
	void (*firmware)(struct band *band, const char *version, void *user_data);
	/* The adapter should be power-cycled: the ladder suspects it, or an operator's reset asks for it. The
	 * owner decides (it knows whether another band is healthy on it). */
	void (*adapter_trouble)(struct band *band, const char *why, void *user_data);
};

/* key NULL: the band has never been paired with bandgate; the first connection pairs it (tap needed). */
struct band *band_new(struct bluez *bz, const char *address, const uint8_t *key, const struct band_ops *ops,
                      void *user_data);
void band_free(struct band *band);

const char *band_address(const struct band *band);
enum band_state band_state(const struct band *band);
enum band_state band_previous_state(const struct band *band); /* the state before the last change */
/* One sentence for a person: what is going on and, when stuck, the cure. */
const char *band_state_description(const struct band *band);
bool band_wants_discovery(const struct band *band);
/* Live values, -1 while unknown. */
int band_battery(const struct band *band);
long band_steps(const struct band *band);
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
/* Before forgetting: disconnect and let bluetoothd forget the device too. */
void band_forget(struct band *band);
