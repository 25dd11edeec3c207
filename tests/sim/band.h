/* One simulated Mi Band 2, written from ../shared/miband2-protocol.md (cited as §N) and never from the
 * gateway's codec, so that the one cannot hide the other's mistake.
 *
 * The model knows nothing of D-Bus. A front (the fake bluetoothd in bluez.c, later a GATT application on
 * real BlueZ for the VM test) feeds it link events, reads and writes, and receives the band's notifications
 * and link drops through struct sim_band_ops. The model runs its timers on the thread-default GLib main
 * context and never calls back into the front from inside a front-to-model call: notifications are queued
 * and sent from the loop, the way a real band answers a write in a later connection event. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- The GATT database of §2.2, with the handles of the one real dump it quotes ([CREOTIV]) ---- */

enum sim_chr {
	SIM_CHR_DEVICE_NAME,     /* 1800/2A00 */
	SIM_CHR_APPEARANCE,      /* 1800/2A01 */
	SIM_CHR_PPCP,            /* 1800/2A04 */
	SIM_CHR_SERVICE_CHANGED, /* 1801/2A05 */
	SIM_CHR_SERIAL,          /* 180A/2A25 */
	SIM_CHR_HW_REV,          /* 180A/2A27 */
	SIM_CHR_SW_REV,          /* 180A/2A28 */
	SIM_CHR_SYSTEM_ID,       /* 180A/2A23 */
	SIM_CHR_PNP_ID,          /* 180A/2A50 */
	SIM_CHR_FW_CTRL,         /* 1530/1531 */
	SIM_CHR_FW_DATA,         /* 1530/1532 */
	SIM_CHR_NEW_ALERT,       /* 1811/2A46 */
	SIM_CHR_ANS_CP,          /* 1811/2A44 */
	SIM_CHR_ALERT_LEVEL,     /* 1802/2A06 */
	SIM_CHR_HR_MEAS,         /* 180D/2A37 */
	SIM_CHR_HR_CTRL,         /* 180D/2A39 */
	SIM_CHR_TIME,            /* FEE0/2A2B */
	SIM_CHR_CHUNKED,         /* FEE0/0020 */
	SIM_CHR_RAW_CTRL,        /* FEE0/0001 */
	SIM_CHR_RAW_DATA,        /* FEE0/0002 */
	SIM_CHR_CONFIG,          /* FEE0/0003 */
	SIM_CHR_PPCP2,           /* FEE0/2A04 */
	SIM_CHR_FETCH,           /* FEE0/0004 */
	SIM_CHR_ACTIVITY,        /* FEE0/0005 */
	SIM_CHR_BATTERY,         /* FEE0/0006 */
	SIM_CHR_STEPS,           /* FEE0/0007 */
	SIM_CHR_USER,            /* FEE0/0008 */
	SIM_CHR_EVENT,           /* FEE0/0010 */
	SIM_CHR_AUTH,            /* FEE1/0009 */
	SIM_CHR_FEDD,            /* FEE1/FEDD */
	SIM_CHR_FEDE,            /* FEE1/FEDE */
	SIM_CHR_FEDF,            /* FEE1/FEDF */
	SIM_CHR_FED0,            /* FEE1/FED0 */
	SIM_CHR_FED1,            /* FEE1/FED1 */
	SIM_CHR_FED2,            /* FEE1/FED2 */
	SIM_CHR_FED3,            /* FEE1/FED3 */
	SIM_CHR_FEC1,            /* FEE1/FEC1 */
	SIM_CHR_COUNT
};

/* Characteristic property bits, as in the ATT characteristic declaration (Core spec Vol 3 Part G 3.3.1.1). */
enum {
	SIM_PROP_READ = 0x02,
	SIM_PROP_WRITE_WITHOUT_RESP = 0x04,
	SIM_PROP_WRITE = 0x08,
	SIM_PROP_NOTIFY = 0x10,
};

/* ATT error codes the band's GATT server answers with (Core spec Vol 3 Part F 3.4.1.1). */
enum {
	SIM_ATT_OK = 0,
	SIM_ATT_READ_NOT_PERMITTED = 0x02,
	SIM_ATT_WRITE_NOT_PERMITTED = 0x03,
	SIM_ATT_INVALID_OFFSET = 0x07,
	SIM_ATT_INVALID_VALUE_LEN = 0x0d,
};

struct sim_gatt_desc {
	const char *uuid;  /* full 128-bit, lower case */
	uint16_t handle;
};

struct sim_gatt_chr {
	enum sim_chr id;
	const char *uuid;      /* full 128-bit, lower case */
	uint16_t handle;       /* the declaration handle: BlueZ names the object charXXXX after it */
	uint16_t value_handle;
	uint8_t props;         /* SIM_PROP_* */
	const struct sim_gatt_desc *descs; /* CCCD (2902) where the dump shows one, 2901 after 2A46 */
	size_t n_descs;
};

struct sim_gatt_service {
	const char *uuid;      /* full 128-bit, lower case */
	uint16_t handle;       /* the service declaration handle: BlueZ names the object serviceXXXX after it */
	uint16_t end_handle;
	const struct sim_gatt_chr *chrs;
	size_t n_chrs;
};

/* The whole table, services in handle order (1800 first: bluetoothd does not export it, the front skips it). */
const struct sim_gatt_service *sim_gatt_services(size_t *ret_n);
const struct sim_gatt_chr *sim_gatt_chr(enum sim_chr id);
/* The service that holds chr. */
const struct sim_gatt_service *sim_gatt_chr_service(enum sim_chr id);
/* Lookup by full 128-bit UUID (case-insensitive); the first match in handle order, or -1. */
int sim_gatt_chr_by_uuid(const char *uuid);
/* props as GattCharacteristic1's Flags ("as"), for either front. */
GVariant *sim_gatt_flags(uint8_t props);
/* Whether a client that reads Flags writes chr with a Write Request (it has "write"), else a Write Command:
 * what a front that cannot see the procedure assumes. */
bool sim_gatt_takes_request(enum sim_chr id);

/* ---- One minute of activity history, §10.2 ---- */

struct sim_sample {
	uint8_t kind;      /* raw activity kind byte, high nibble included (§10.3) */
	uint8_t intensity;
	uint8_t steps;
	uint8_t heart_rate; /* 0xff = not measured */
};

/* ---- The band ---- */

struct sim_band;

struct sim_band_ops {
	/* The band sends a notification on chr. Called from the main loop only, and only while the band's own
	 * CCCD for chr is on (sim_band_set_cccd). The front turns it into D-Bus signals or socket datagrams. */
	void (*notify)(struct sim_band *band, enum sim_chr chr, const uint8_t *value, size_t len, void *user_data);
	/* The band ends the link itself: unauthenticated timeout (§3), reboot, factory reset, a text alert that
	 * overflows (§12.2), a scripted drop, going out of range. The model has already forgotten the link's
	 * state (as after sim_band_link_down) when this is called. */
	void (*drop_link)(struct sim_band *band, void *user_data);
	/* Advertising started or stopped, the address changed (factory reset) or the advertised data changed.
	 * The front re-reads sim_band_advertising(), sim_band_address(), sim_band_rssi(). */
	void (*advert_changed)(struct sim_band *band, void *user_data);
	/* Something a test harness wants to hear of: "tap-needed" (a new key awaits the wearer's tap),
	 * "authenticated", "auth-failed", "key-stored", "rebooting", "factory-reset", "write" (any write received;
	 * detail = characteristic UUID). detail may be NULL. */
	void (*event)(struct sim_band *band, const char *what, const char *detail, void *user_data);
};

struct sim_band_config {
	char address[18];            /* "C8:0F:10:AA:BB:CC", upper case; empty: derived from seed */
	bool has_key;
	uint8_t key[16];             /* the key the band holds (§4.2); default the legacy key */
	int auto_tap_ms;             /* the wearer taps this long after a new key arrives; -1 = never (default) */
	unsigned fetch_cap;          /* samples per history round (§10.4); default 1440 */
	unsigned auth_timeout_ms;    /* an unauthenticated link is dropped after this (§3); default 25000 */
	unsigned key_confirm_timeout_ms; /* a new key not tapped in this time is abandoned; default 30000 */
	bool key_timeout_reply;      /* answer an abandoned key with 10 01 02 (true) or stay silent (default) */
	unsigned history_days;       /* days of generated history before now; default 7 */
	uint32_t seed;               /* everything random (address, history, challenges) derives from it */
	unsigned steps_format;       /* 13 (default) or 5: the two forms of §9 */
	unsigned reboot_ms;          /* how long a reboot or factory reset keeps the band silent; default 4000 */
};

/* Fills cfg with the defaults above: legacy key, no auto-tap, seed 1. */
void sim_band_config_init(struct sim_band_config *cfg);

struct sim_band *sim_band_new(const struct sim_band_config *cfg, const struct sim_band_ops *ops, void *user_data);
void sim_band_free(struct sim_band *band);

/* -- what the front asks -- */
const char *sim_band_address(const struct sim_band *band);   /* changes on factory reset */
/* True while the band sends advertisements: in range, not rebooting, and not connected unless
 * "visible while connected" is on (§1, §14 `06 01 00 01`). */
bool sim_band_advertising(const struct sim_band *band);
bool sim_band_in_range(const struct sim_band *band);
int16_t sim_band_rssi(const struct sim_band *band);
/* The FEE0 service data of the advertisement. NOT in the protocol document: the model advertises the
 * steps-today counter as uint32 LE, which DESIGN.md assumes. Marked as invented wherever it is used. */
void sim_band_service_data(const struct sim_band *band, uint8_t ret_value[4]);

/* -- the link, from the front -- */
void sim_band_link_up(struct sim_band *band);   /* a central connected: the auth timer starts (§3) */
void sim_band_link_down(struct sim_band *band); /* the link is gone, whoever ended it: auth, CCCDs, transfers reset */
bool sim_band_connected(const struct sim_band *band);
/* The client wrote the CCCD of chr (BlueZ does it on StartNotify/AcquireNotify and on reconnect). */
void sim_band_set_cccd(struct sim_band *band, enum sim_chr chr, bool enabled);
bool sim_band_cccd(const struct sim_band *band, enum sim_chr chr);
/* ATT read / write of chr's value. Return SIM_ATT_OK or an SIM_ATT_* error, as the band's ATT server would.
 * with_response: a Write Request (true) or a Write Command (false). */
int sim_band_read(struct sim_band *band, enum sim_chr chr, GByteArray *ret_value);
int sim_band_write(struct sim_band *band, enum sim_chr chr, const uint8_t *value, size_t len, bool with_response);

/* -- the world, from the control interface -- */
void sim_band_tap(struct sim_band *band);                 /* the wearer taps (confirms a pending key) */
void sim_band_press_button(struct sim_band *band);        /* device event 04 (§13) */
void sim_band_walk(struct sim_band *band, unsigned steps); /* live counter and the current minute (§9) */
void sim_band_set_battery(struct sim_band *band, unsigned level, bool charging);
void sim_band_set_heart_rate(struct sim_band *band, unsigned bpm);
void sim_band_set_rssi(struct sim_band *band, int16_t rssi);
void sim_band_set_in_range(struct sim_band *band, bool in_range); /* out of range drops a link */
void sim_band_drop_link(struct sim_band *band);
/* Another phone re-keys the band: key NULL = a random one. Our next auth gets 10 03 04 (§4.3). */
void sim_band_rekey(struct sim_band *band, const uint8_t *key);
void sim_band_set_refuse_auth(struct sim_band *band, bool refuse); /* answer every 03 with 10 03 04 */
void sim_band_reboot(struct sim_band *band);              /* as the firmware command 05 (§15) */
void sim_band_factory_reset(struct sim_band *band);       /* as 06 0b 00 01 (§15): wiped, new address */
/* The band's clock: UTC seconds and the zone byte (quarter hours, §6.1). Set by the client through 2A2B
 * or by a test (a clock-less band: a year before 2000). The clock runs on from there. INVENTED: a clock set
 * forward leaves the minutes it jumped over unrecorded (a gap); a history round never spans a gap. */
void sim_band_set_clock(struct sim_band *band, int64_t utc, int8_t tz_quarters);
int64_t sim_band_clock(const struct sim_band *band, int8_t *ret_tz_quarters);
/* History: minutes keyed by UTC minute start. Adding overwrites the minutes it covers; the band keeps
 * recording (generated samples) every completed minute up to its clock. Minutes in the future are refused
 * (-EINVAL). */
int sim_band_add_history(struct sim_band *band, int64_t start_utc, const struct sim_sample *samples, size_t n);
/* The stored samples from..to (UTC, inclusive, minute-aligned down), as the band would send them: the first
 * contiguous run from there, up to the next gap the clock left. Returns
 * the number written to *ret (a newly allocated array the caller g_free()s) and the first minute. */
size_t sim_band_history(struct sim_band *band, int64_t from_utc, int64_t to_utc, int64_t *ret_start,
                        struct sim_sample **ret);

/* Faults. */
void sim_band_set_drop_at_packet(struct sim_band *band, int packet); /* in the next history round; -1 off */
/* The pause between two data packets of history on 0005, whichever round they belong to; 0 (the default)
 * leaves the pace to the outbox (sim_band_timing.pump_batch a loop dispatch). Effective from the next packet. */
void sim_band_set_history_packet_ms(struct sim_band *band, unsigned ms);
/* What the band does with a history start (01 01, §10.1 step 2) that comes while a round is running (after its
 * 02, before its last data packet). The protocol document is silent; each choice is INVENTED. Effective from
 * the next start. */
enum sim_fetch_mid_round {
	/* The default: the running round stops at once, without its 10 02 01 (a data packet already queued still
	 * goes out, before the answer), and the start is answered. */
	SIM_FETCH_MID_ROUND_ABORT,
	/* The running round first sends its remaining packets and its 10 02 01; then the start is answered. A
	 * second start while one is held replaces it: only the newest is answered. A 02 meanwhile is ignored. */
	SIM_FETCH_MID_ROUND_FINISH,
	/* The start is answered at once and the running round goes on. After the new round's 02 both send, one
	 * data packet each in turn, the new round first (behind a packet of the old one already queued), each
	 * with its own counter and its own closing 10 02 01.
	 * The band holds two rounds at most: a start while two run drops the older one (no 10 02 01 for it). A
	 * 02 while two run is ignored, as a 02 during one running round is. */
	SIM_FETCH_MID_ROUND_BOTH,
};
void sim_band_set_fetch_mid_round(struct sim_band *band, enum sim_fetch_mid_round mode);
void sim_band_set_notify_delay(struct sim_band *band, unsigned ms);  /* every notification, order kept */
/* The next count notifications on chr (SIM_CHR_COUNT = any) are corrupted: bytes flipped (truncate false)
 * or cut short (truncate true). */
void sim_band_corrupt_next(struct sim_band *band, enum sim_chr chr, unsigned count, bool truncate);
void sim_band_set_fetch_cap(struct sim_band *band, unsigned cap);
void sim_band_set_auth_timeout(struct sim_band *band, unsigned ms);

/* -- what a test reads back -- */
struct sim_band_status {
	bool connected, authenticated, awaiting_tap, has_key, rebooting, visible_while_connected;
	uint8_t key[16];
	uint32_t steps, distance_m, calories;
	unsigned battery, heart_rate;
	bool charging;
	int64_t clock_utc;
	int8_t tz_quarters;
	unsigned alerts_shown;
	unsigned history_rounds;   /* rounds running now: 02 received, last data packet not yet produced (0-2) */
	uint32_t history_packets;  /* data packets produced since the band was made, whoever got them */
	uint32_t history_lost;     /* of those, the ones lost because 0005's CCCD was off when they were due */
};
void sim_band_status(const struct sim_band *band, struct sim_band_status *ret);

/* Every write the band received, in order, byte for byte. */
struct sim_write {
	int64_t time_us;  /* g_get_real_time() when it arrived */
	enum sim_chr chr;
	GBytes *value;
};
const GPtrArray *sim_band_writes(const struct sim_band *band); /* of struct sim_write * */
/* What the screen showed for alerts (§12): category, text (may be empty), in order. An alert that came
 * less than 4.5 s after the previous one is recorded with shown = false. */
struct sim_alert {
	int64_t time_us;
	uint8_t category;   /* 2A46 category, or 0xff for a 2A06-only alert */
	uint8_t level;      /* the 2A06 level that came with it, or 0 */
	char *text;         /* UTF-8, "" when none */
	bool shown;
};
const GPtrArray *sim_band_alerts(const struct sim_band *band); /* of struct sim_alert * */
void sim_band_clear_received(struct sim_band *band);
