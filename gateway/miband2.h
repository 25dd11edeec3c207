/* The Mi Band 2 codec: commands to bytes, notifications to structs, nothing else. Pure: no I/O, no GLib, no
 * allocation (AES goes through OpenSSL's EVP, which the design allows). Sections (§N) refer to
 * miband2-protocol.md, which is the specification this file follows.
 *
 * Conventions, for every function below:
 * - Builders write one characteristic value into buf (size bytes available) and return its length, or -EINVAL
 *   for a bad argument, including a buffer that is too small. No write is longer than MIBAND2_WRITE_MAX.
 * - Parsers take (buf, len, ret), read nothing outside buf[0..len), and return 0 with *ret filled, -EBADMSG
 *   when the bytes are not a frame they know (wrong length, wrong header, a field out of range), or -EINVAL
 *   for a bad argument (ret NULL, or buf NULL with len > 0). On error *ret is unspecified.
 * - Times are seconds since the epoch, UTC (int64_t). The band keeps local time plus a zone byte, "tz", the
 *   offset from UTC including DST in quarter hours (§6.1), e.g. +1 h = 4. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- GATT UUIDs (Appendix A, §2.2). Resolve characteristics by these, never by handle. ---- */

#define MIBAND2_SVC_MIBAND1   "0000fee0-0000-1000-8000-00805f9b34fb"
#define MIBAND2_SVC_MIBAND2   "0000fee1-0000-1000-8000-00805f9b34fb"
#define MIBAND2_SVC_HR        "0000180d-0000-1000-8000-00805f9b34fb"
#define MIBAND2_SVC_IMM_ALERT "00001802-0000-1000-8000-00805f9b34fb"
#define MIBAND2_SVC_ANS       "00001811-0000-1000-8000-00805f9b34fb"
#define MIBAND2_SVC_DIS       "0000180a-0000-1000-8000-00805f9b34fb"
#define MIBAND2_SVC_FW        "00001530-0000-3512-2118-0009af100700"

#define MIBAND2_CHR_AUTH      "00000009-0000-3512-2118-0009af100700" /* in FEE1 */
#define MIBAND2_CHR_CONFIG    "00000003-0000-3512-2118-0009af100700" /* in FEE0, like all 000000xx below */
#define MIBAND2_CHR_FETCH     "00000004-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_ACTIVITY  "00000005-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_BATTERY   "00000006-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_STEPS     "00000007-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_USER      "00000008-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_EVENT     "00000010-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_RAW_CTRL  "00000001-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_RAW_DATA  "00000002-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_TIME      "00002a2b-0000-1000-8000-00805f9b34fb" /* in FEE0: there is no 1805 service */
#define MIBAND2_CHR_HR_MEAS   "00002a37-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_HR_CTRL   "00002a39-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_ALERT_LVL "00002a06-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_NEW_ALERT "00002a46-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_ANS_CP    "00002a44-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_FW_CTRL   "00001531-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_FW_DATA   "00001532-0000-3512-2118-0009af100700"
#define MIBAND2_CHR_DEV_NAME  "00002a00-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_SERIAL    "00002a25-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_HW_REV    "00002a27-0000-1000-8000-00805f9b34fb"
#define MIBAND2_CHR_SW_REV    "00002a28-0000-1000-8000-00805f9b34fb" /* the firmware version lives here (§7) */

/* ---- Sizes and limits ---- */

enum {
	MIBAND2_WRITE_MAX = 20,     /* one ATT payload at the default MTU of 23 (§3) */
	MIBAND2_KEY_SIZE = 16,      /* AES-128 key (§4.2) */
	MIBAND2_RANDOM_SIZE = 16,   /* the auth challenge R (§4.3) */
	MIBAND2_TEXT_CHUNK = 18,    /* bytes of text per New Alert write: 20 minus the 2-byte header (§12.2) */
	MIBAND2_YEAR_MIN = 2000,    /* dates outside these years are corrupt, not history (§6) */
	MIBAND2_YEAR_MAX = 2099,
	MIBAND2_TZ_MIN = -48,       /* UTC-12:00 in quarter hours: the westernmost zone */
	MIBAND2_TZ_MAX = 56,        /* UTC+14:00: the easternmost zone */
};

/* The legacy key of nearly every open client: its 16 ASCII bytes, without the NUL (§4.2). */
#define MIBAND2_DEFAULT_KEY "0123456789@ABCDE"

/* ---- Date and time: the band's local broken-down time, its zone, and the same instant in UTC ---- */

struct miband2_datetime {
	uint16_t year;        /* MIBAND2_YEAR_MIN..MIBAND2_YEAR_MAX */
	uint8_t month;        /* 1..12 */
	uint8_t day;          /* 1..28/29/30/31 */
	uint8_t hour;         /* 0..23 */
	uint8_t minute;       /* 0..59 */
	uint8_t second;       /* 0..59 */
	int8_t tz;            /* quarter hours from UTC incl. DST, MIBAND2_TZ_MIN..MIBAND2_TZ_MAX */
	int64_t utc;          /* the same instant as seconds since the epoch */
};

/* The band's local time for utc in zone tz; -EINVAL when tz or the local year is out of range. */
int miband2_datetime_from_utc(int64_t utc, int tz, struct miband2_datetime *ret);

/* ---- Authentication, characteristic CHR_AUTH (§4). Enable its notifications before the first write. ---- */

/* 01 08 K: store key K; the band asks its wearer to tap (§4.4). 18 bytes. */
int miband2_build_auth_key(uint8_t *buf, size_t size, const uint8_t key[MIBAND2_KEY_SIZE]);
/* 02 08: ask for a challenge. 2 bytes. */
int miband2_build_auth_request(uint8_t *buf, size_t size);
/* 03 08 AES-128-ECB(key, R). 18 bytes, or -EIO if OpenSSL fails. */
int miband2_build_auth_encrypted(uint8_t *buf, size_t size, const uint8_t key[MIBAND2_KEY_SIZE],
                                const uint8_t random[MIBAND2_RANDOM_SIZE]);
/* One raw AES-128-ECB block: no padding, no IV (§4.5). 0, or -EIO if OpenSSL fails. */
int miband2_auth_encrypt(const uint8_t key[MIBAND2_KEY_SIZE], const uint8_t in[16], uint8_t out[16]);

enum miband2_auth_result {
	MIBAND2_AUTH_RESULT_KEY_STORED,      /* 10 01 01: the wearer tapped, the band holds our key */
	MIBAND2_AUTH_RESULT_KEY_TIMEOUT,     /* 10 01 02: no tap, or "wrong state" — UNCERTAIN (§4.3) */
	MIBAND2_AUTH_RESULT_KEY_FAILED,      /* 10 01 04 */
	MIBAND2_AUTH_RESULT_RANDOM,          /* 10 02 01 R: the challenge, in .random */
	MIBAND2_AUTH_RESULT_RANDOM_FAILED,   /* 10 02 04 */
	MIBAND2_AUTH_RESULT_AUTHENTICATED,   /* 10 03 01 */
	MIBAND2_AUTH_RESULT_WRONG_KEY,       /* 10 03 04: the band holds another key (re-keyed by another phone) */
	MIBAND2_AUTH_RESULT_OTHER,           /* 10 0{1,2,3} with a status not listed above: see .status */
};

struct miband2_auth_reply {
	enum miband2_auth_result result;
	uint8_t command;                     /* the command answered: 0x01, 0x02 or 0x03 */
	uint8_t status;                      /* raw: 0x01 success, 0x02, 0x04 failure, others unknown */
	uint8_t random[MIBAND2_RANDOM_SIZE]; /* only with MIBAND2_AUTH_RESULT_RANDOM */
};

/* A notification on CHR_AUTH: exactly 3 bytes, or 19 for 10 02 01 R. */
int miband2_parse_auth_reply(const uint8_t *buf, size_t len, struct miband2_auth_reply *ret);

/* ---- Current Time, characteristic CHR_TIME (§6.1): 11 bytes ---- */

struct miband2_time {
	struct miband2_datetime when;
	uint8_t day_of_week;   /* as sent: 1 = Monday .. 7 = Sunday, 0 = unknown; not checked against the date */
	uint8_t fraction;      /* 1/256 s */
	uint8_t adjust;        /* byte 9, meaning unknown */
};

/* The band's clock set to utc in zone tz (including DST), day of week 1..7. 11 bytes. */
int miband2_build_time(uint8_t *buf, size_t size, int64_t utc, int tz);
int miband2_parse_time(const uint8_t *buf, size_t len, struct miband2_time *ret);

/* ---- The 8-byte Huami timestamp of fetch commands and battery info (§6.2) ---- */

int miband2_build_timestamp(uint8_t *buf, size_t size, int64_t utc, int tz);
int miband2_parse_timestamp(const uint8_t *buf, size_t len, struct miband2_datetime *ret);

/* ---- Device information (§7): CHR_SW_REV (firmware), CHR_HW_REV, CHR_SERIAL, CHR_DEV_NAME ---- */

enum { MIBAND2_INFO_MAX = 32 };

/* Printable ASCII; trailing NUL padding is dropped. */
struct miband2_info {
	char text[MIBAND2_INFO_MAX + 1];
};

/* "V1.0.1.81": text "1.0.1.81" (the V stripped, §2.2), part {1, 0, 1, 81}. The V is optional. */
struct miband2_version {
	uint16_t part[4];
	char text[MIBAND2_INFO_MAX + 1];
};

int miband2_parse_info(const uint8_t *buf, size_t len, struct miband2_info *ret);
/* Exactly four dot-separated decimal numbers of 1..5 digits, each at most 65535. */
int miband2_parse_version(const uint8_t *buf, size_t len, struct miband2_version *ret);
/* <0, 0, >0 as a is older than, the same as, newer than b. */
int miband2_version_compare(const struct miband2_version *a, const struct miband2_version *b);
/* Firmware 1.0.1.28 or later shows text notifications (§7, §12.2). */
bool miband2_version_has_text(const struct miband2_version *firmware);

/* ---- Battery, characteristic CHR_BATTERY (§8): 20 bytes ---- */

enum miband2_battery_state {
	MIBAND2_BATTERY_STATE_NORMAL,    /* byte 2 = 0 */
	MIBAND2_BATTERY_STATE_CHARGING,  /* byte 2 = 1 */
	MIBAND2_BATTERY_STATE_UNKNOWN,   /* any other value */
};

struct miband2_battery {
	uint8_t level;                        /* percent, 0..100 */
	enum miband2_battery_state state;
	bool last_off_valid;                  /* false when bytes 3..10 are not a valid timestamp */
	struct miband2_datetime last_off;     /* T1, bytes 3..10; its meaning is UNCERTAIN (§8) */
	bool last_charge_valid;               /* false when bytes 11..18 or byte 19 are out of range */
	struct miband2_datetime last_charge;  /* T2, bytes 11..18 */
	uint8_t last_charge_level;            /* percent reached at T2 */
};

/* A level above 100 is -EBADMSG; a bad T1 or T2 only clears its _valid flag. */
int miband2_parse_battery(const uint8_t *buf, size_t len, struct miband2_battery *ret);

/* ---- Realtime steps, characteristic CHR_STEPS (§9): 13 bytes, or 5 on some firmware ---- */

struct miband2_steps {
	uint8_t flags;           /* byte 0, raw: 0x0c in 13-byte samples, 0x00 in 5-byte ones (meaning UNCERTAIN) */
	uint32_t steps;          /* today */
	bool has_totals;         /* the 13-byte form: meters and calories below are set, else 0 */
	uint32_t meters;
	uint32_t calories;       /* kcal */
};

int miband2_parse_steps(const uint8_t *buf, size_t len, struct miband2_steps *ret);

/* ---- Activity history: CHR_FETCH commands and replies, CHR_ACTIVITY data (§10) ---- */

/* 01 01 <timestamp>: history from the minute holding utc on (seconds sent as 0). 10 bytes. */
int miband2_build_fetch_start(uint8_t *buf, size_t size, int64_t utc, int tz);
/* 02: send the announced samples on CHR_ACTIVITY. 1 byte. */
int miband2_build_fetch_go(uint8_t *buf, size_t size);
/* 03: the optional acknowledgement (§10.1 step 7, UNCERTAIN on MB2; the gateway need not send it). 1 byte. */
int miband2_build_fetch_ack(uint8_t *buf, size_t size);

enum miband2_fetch_result {
	MIBAND2_FETCH_RESULT_STARTED,       /* 10 01 01 count first: .count samples from .first */
	MIBAND2_FETCH_RESULT_START_FAILED,  /* 10 01 xx, xx != 01 */
	MIBAND2_FETCH_RESULT_DONE,          /* 10 02 01: the round is complete */
	MIBAND2_FETCH_RESULT_DONE_FAILED,   /* 10 02 xx, xx != 01 */
	MIBAND2_FETCH_RESULT_ACKED,         /* 10 03 01 */
	MIBAND2_FETCH_RESULT_ACK_FAILED,    /* 10 03 xx, xx != 01 */
};

struct miband2_fetch_reply {
	enum miband2_fetch_result result;
	uint8_t status;                     /* raw byte 2 */
	uint32_t count;                     /* STARTED: samples to expect, untrusted: do not preallocate by it */
	struct miband2_datetime first;      /* STARTED with count > 0: the time of the first sample */
};

/* A notification on CHR_FETCH: 3 bytes, or 15 (16 tolerated) for 10 01 01. */
int miband2_parse_fetch_reply(const uint8_t *buf, size_t len, struct miband2_fetch_reply *ret);

enum { MIBAND2_SAMPLES_MAX = 4, MIBAND2_HR_NONE = 0xff };

/* One minute; sample i of a round is at first.utc + 60 * i (§10.2). */
struct miband2_sample {
	uint8_t kind;         /* raw activity kind; see enum miband2_activity_kind for the low nibble */
	uint8_t intensity;    /* 0..255 */
	uint8_t steps;
	uint8_t heart_rate;   /* bpm, MIBAND2_HR_NONE when not measured */
};

struct miband2_activity {
	uint8_t counter;      /* 0, 1, 2 … per round, wrapping at 256: a gap means a lost packet */
	uint8_t n_samples;    /* 1..MIBAND2_SAMPLES_MAX */
	struct miband2_sample samples[MIBAND2_SAMPLES_MAX];
};

/* A notification on CHR_ACTIVITY: counter + 1..4 samples, length 5, 9, 13 or 17. */
int miband2_parse_activity(const uint8_t *buf, size_t len, struct miband2_activity *ret);

/* Gadgetbridge's reading of kind & MIBAND2_ACTIVITY_KIND_MASK (§10.3); the high nibble is UNCERTAIN. */
enum { MIBAND2_ACTIVITY_KIND_MASK = 0x0f };
enum miband2_activity_kind {
	MIBAND2_ACTIVITY_KIND_NO_CHANGE = 0,
	MIBAND2_ACTIVITY_KIND_ACTIVITY = 1,
	MIBAND2_ACTIVITY_KIND_RUNNING = 2,
	MIBAND2_ACTIVITY_KIND_NOT_WORN = 3,
	MIBAND2_ACTIVITY_KIND_CYCLING = 4,
	MIBAND2_ACTIVITY_KIND_CHARGING = 6,
	MIBAND2_ACTIVITY_KIND_LIGHT_SLEEP = 9,
	MIBAND2_ACTIVITY_KIND_IGNORE = 10,
	MIBAND2_ACTIVITY_KIND_DEEP_SLEEP = 11,
	MIBAND2_ACTIVITY_KIND_WAKE_UP = 12,
};

/* ---- Heart rate: CHR_HR_CTRL commands, CHR_HR_MEAS notifications (§11) ---- */

enum miband2_hr_mode {
	MIBAND2_HR_MODE_SLEEP = 0x00,       /* measure during sleep */
	MIBAND2_HR_MODE_CONTINUOUS = 0x01,  /* stops after ~15 s without a keep-alive every 12 s */
	MIBAND2_HR_MODE_MANUAL = 0x02,      /* one measurement */
};

/* 15 mode on/off. 3 bytes. */
int miband2_build_hr_control(uint8_t *buf, size_t size, enum miband2_hr_mode mode, bool on);
/* 14 minutes: all-day measurement every 1..120 minutes, 0 = off. 2 bytes. */
int miband2_build_hr_interval(uint8_t *buf, size_t size, unsigned minutes);
/* 16. 1 byte. */
int miband2_build_hr_keepalive(uint8_t *buf, size_t size);

struct miband2_heart_rate {
	uint8_t bpm;
};

/* 00 bpm, exactly 2 bytes. */
int miband2_parse_heart_rate(const uint8_t *buf, size_t len, struct miband2_heart_rate *ret);

/* ---- Alerts: CHR_ALERT_LVL (§12.1) and CHR_NEW_ALERT (§12.2, §12.3) ---- */

enum miband2_alert_level {
	MIBAND2_ALERT_LEVEL_OFF = 0x00,
	MIBAND2_ALERT_LEVEL_MESSAGE = 0x01,
	MIBAND2_ALERT_LEVEL_PHONE_CALL = 0x02,   /* vibrates until MIBAND2_ALERT_LEVEL_OFF */
	MIBAND2_ALERT_LEVEL_VIBRATE = 0x03,      /* also "find band" */
};

/* 1 byte. */
int miband2_build_alert_level(uint8_t *buf, size_t size, enum miband2_alert_level level);
/* ff on off repeat: a custom vibration, times in ms. 6 bytes. */
int miband2_build_vibration(uint8_t *buf, size_t size, uint16_t on_ms, uint16_t off_ms, uint8_t repeat);

enum miband2_alert_category {
	MIBAND2_ALERT_CATEGORY_SIMPLE = 0,
	MIBAND2_ALERT_CATEGORY_EMAIL = 1,
	MIBAND2_ALERT_CATEGORY_NEWS = 2,
	MIBAND2_ALERT_CATEGORY_INCOMING_CALL = 3,   /* shows text; count 0 stops the call alert */
	MIBAND2_ALERT_CATEGORY_MISSED_CALL = 4,
	MIBAND2_ALERT_CATEGORY_SMS = 5,             /* shows text */
	MIBAND2_ALERT_CATEGORY_VOICE_MAIL = 6,
	MIBAND2_ALERT_CATEGORY_SCHEDULE = 7,
	MIBAND2_ALERT_CATEGORY_HIGH_PRIORITY = 8,
	MIBAND2_ALERT_CATEGORY_INSTANT_MESSAGE = 9,
	MIBAND2_ALERT_CATEGORY_CUSTOM = 0xfa,       /* Huami: an icon byte follows */
};

/* Huami icons for MIBAND2_ALERT_CATEGORY_CUSTOM, 0..36 (§12.2); a few the gateway may pick. Icon 34 (e-mail)
 * breaks the notification on the MB2: use MIBAND2_ALERT_CATEGORY_EMAIL instead. */
enum {
	MIBAND2_ICON_WECHAT = 0,
	MIBAND2_ICON_ALARM_CLOCK = 10,
	MIBAND2_ICON_APP = 11,
	MIBAND2_ICON_CALENDAR = 21,
	MIBAND2_ICON_EMAIL = 34,
	MIBAND2_ICON_WEATHER = 35,
	MIBAND2_ICON_HR_WARNING = 36,
	MIBAND2_ICON_MAX = 36,
};

/* category count [icon, only for MIBAND2_ALERT_CATEGORY_CUSTOM] text: text must be valid UTF-8 and fit the
 * 20-byte write (18 bytes after a 2-byte header, 17 after a 3-byte one); text may be NULL when text_len is 0.
 * Examples: an SMS chunk (SMS, 1, 0, chunk), a call (INCOMING_CALL, 1, 0, caller), stop a call
 * (INCOMING_CALL, 0, 0, NULL, 0). */
int miband2_build_new_alert(uint8_t *buf, size_t size, enum miband2_alert_category category, uint8_t count,
                      uint8_t icon, const char *text, size_t text_len);

/* 0 when s[0..len) is valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), else -EINVAL. */
int miband2_utf8_check(const char *s, size_t len);
/* Splits text for New Alert writes: the length of its first chunk, at most max bytes (4..255, usually
 * MIBAND2_TEXT_CHUNK) and ending on a character boundary; 0 when len is 0. The whole of text is checked
 * first, so invalid UTF-8 is -EINVAL before any chunk is produced, and no chunk is ever invalid. Loop:
 *     for (size_t off = 0, n; off < len; off += n) n = miband2_text_chunk(text + off, len - off, 18); */
int miband2_text_chunk(const char *text, size_t len, size_t max);

/* ---- Device events, characteristic CHR_EVENT (§13). Only BUTTON is verified on the MB2. ---- */

enum miband2_event {
	MIBAND2_EVENT_FELL_ASLEEP,       /* 01 */
	MIBAND2_EVENT_WOKE_UP,           /* 02 */
	MIBAND2_EVENT_GOAL_REACHED,      /* 03 */
	MIBAND2_EVENT_BUTTON,            /* 04 */
	MIBAND2_EVENT_NOT_WORN,          /* 06 */
	MIBAND2_EVENT_CALL_REJECTED,     /* 07 */
	MIBAND2_EVENT_FIND_PHONE_START,  /* 08 */
	MIBAND2_EVENT_CALL_IGNORED,      /* 09 */
	MIBAND2_EVENT_ALARM_TOGGLED,     /* 0a */
	MIBAND2_EVENT_BUTTON_LONG,       /* 0b */
	MIBAND2_EVENT_TICK_30MIN,        /* 0e */
	MIBAND2_EVENT_FIND_PHONE_STOP,   /* 0f */
	MIBAND2_EVENT_UNKNOWN,           /* anything else, or a known code with extra bytes: see .code */
};

struct miband2_device_event {
	enum miband2_event event;
	uint8_t code;                    /* raw byte 0 */
};

/* At least 1 byte; codes this file does not know are MIBAND2_EVENT_UNKNOWN, not errors. */
int miband2_parse_device_event(const uint8_t *buf, size_t len, struct miband2_device_event *ret);
const char *miband2_event_name(enum miband2_event event);

/* ---- Configuration, characteristic CHR_CONFIG (§14) ---- */

/* The band stays discoverable while connected. 4 bytes. */
int miband2_build_config_visible(uint8_t *buf, size_t size, bool on);
/* Date and time on the clock face, or time only. 4 bytes. */
int miband2_build_config_date_display(uint8_t *buf, size_t size, bool show_date);
/* 24-hour or 12-hour clock. 4 bytes. */
int miband2_build_config_time_format(uint8_t *buf, size_t size, bool h24);

enum miband2_display_item {
	MIBAND2_DISPLAY_ITEM_CLOCK = 0x01,      /* always on */
	MIBAND2_DISPLAY_ITEM_STEPS = 0x02,
	MIBAND2_DISPLAY_ITEM_DISTANCE = 0x04,
	MIBAND2_DISPLAY_ITEM_CALORIES = 0x08,
	MIBAND2_DISPLAY_ITEM_HEART_RATE = 0x10,
	MIBAND2_DISPLAY_ITEM_BATTERY = 0x20,
};

/* The screens shown by a button press: an OR of enum miband2_display_item. 9 bytes. */
int miband2_build_config_display_items(uint8_t *buf, size_t size, unsigned items);
/* Wipes the band, which then changes its Bluetooth address (§15). 4 bytes. */
int miband2_build_config_factory_reset(uint8_t *buf, size_t size);

/* ---- Reboot, characteristic CHR_FW_CTRL (§15). 1 byte. ---- */

int miband2_build_reboot(uint8_t *buf, size_t size);
