/* The Mi Band 2 codec (see miband2.h). Every protocol constant cites the section of miband2-protocol.md it
 * comes from. Everything a band sends is checked for length and range before a field is read: the bytes come
 * over the air and may be truncated, corrupted or forged. */
#include "miband2.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

/* A band's answer on auth, fetch control and config starts with 10, then the command it answers, then a
 * status; 01 is success (§4.3, §10.1, §14). */
enum {
	RESPONSE = 0x10,
	STATUS_SUCCESS = 0x01,
	REPLY_HEADER_SIZE = 3,
};

/* §4.3 */
enum {
	AUTH_SEND_KEY = 0x01,
	AUTH_REQUEST_RANDOM = 0x02,
	AUTH_SEND_ENCRYPTED = 0x03,
	AUTH_FLAGS = 0x08,            /* Gadgetbridge's; Mi Fit's 00 works too (§4.3, §18) */
	AUTH_STATUS_TIMEOUT = 0x02,   /* UNCERTAIN (§4.3) */
	AUTH_STATUS_FAIL = 0x04,
	AUTH_KEY_SIZE = 2 + MIBAND2_KEY_SIZE,
	AUTH_RANDOM_REPLY_SIZE = REPLY_HEADER_SIZE + MIBAND2_RANDOM_SIZE,
};

/* §6.1, §6.2 */
enum {
	TIME_SIZE = 11,
	TIME_DAY_OF_WEEK = 7,
	TIME_TZ = 10,
	TIMESTAMP_SIZE = 8,
	TIMESTAMP_TZ = 7,
	SECONDS_PER_QUARTER = 15 * 60,
	SECONDS_PER_DAY = 24 * 60 * 60,
};

/* §8 */
enum {
	BATTERY_SIZE = 20,
	BATTERY_LEVEL = 1,
	BATTERY_STATE = 2,
	BATTERY_LAST_OFF = 3,      /* T1 and its tz, bytes 3..10 */
	BATTERY_LAST_CHARGE = 11,  /* T2 and its tz, bytes 11..18: the document's reading, not GB's 10..17 (§18) */
	BATTERY_LAST_LEVEL = 19,
	PERCENT_MAX = 100,
};

/* §9 */
enum {
	STEPS_SIZE = 13,
	STEPS_SIZE_SHORT = 5,
};

/* §10.1, §10.2 */
enum {
	FETCH_START = 0x01,
	FETCH_GO = 0x02,
	FETCH_ACK = 0x03,
	FETCH_TYPE_ACTIVITY = 0x01,
	FETCH_START_SIZE = 2 + TIMESTAMP_SIZE,
	FETCH_STARTED_SIZE = 15,
	FETCH_STARTED_SIZE_LONG = 16,   /* Mi Band 7 appends 00 (§10.5); tolerated */
	FETCH_COUNT = 3,
	FETCH_FIRST = 7,
	SAMPLE_SIZE = 4,
};

/* §11 */
enum {
	HR_CONTROL = 0x15,
	HR_INTERVAL = 0x14,
	HR_KEEPALIVE = 0x16,
	HR_INTERVAL_MAX = 120,   /* Gadgetbridge's cap */
	HR_MEASUREMENT_SIZE = 2,
};

/* §12.1, §12.2 */
enum {
	ALERT_CUSTOM_VIBRATION = 0xff,
	NEW_ALERT_HEADER = 2,
	NEW_ALERT_HEADER_ICON = 3,
};

/* §14, §15 */
enum {
	CONFIG_SET = 0x06,
	CONFIG_VISIBLE = 0x01,
	CONFIG_TIME_FORMAT = 0x02,
	CONFIG_DATE_DISPLAY = 0x0a,
	CONFIG_DATE_DISPLAY_DATE = 0x03,
	CONFIG_FACTORY_RESET = 0x0b,
	CONFIG_DISPLAY_ITEMS = 0x0a,
	DISPLAY_ITEMS_ALL = 0x3f,
	FW_REBOOT = 0x05,
};

/* Firmware 1.0.1.28 introduced text notifications (§7). */
static const struct miband2_version firmware_text = { .part = { 1, 0, 1, 28 }, .text = "1.0.1.28" };

/* ---- Helpers ---- */

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)(v >> 8);
}

static bool bad_args(const void *buf, size_t len, const void *ret)
{
	return !ret || (!buf && len > 0);
}

static int put_bytes(uint8_t *buf, size_t size, const uint8_t *bytes, size_t n)
{
	if (!buf || size < n)
		return -EINVAL;
	memcpy(buf, bytes, n);
	return (int)n;
}

/* Writes a fixed command: PUT(buf, size, 0x06, 0x0b, 0x00, 0x01). */
#define PUT(buf, size, ...) \
	put_bytes(buf, size, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* ---- The calendar, proleptic Gregorian, for the years the band can hold ---- */

static bool is_leap(unsigned year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
	static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return days[month - 1] + (month == 2 && is_leap(year));
}

/* Days from 1970-01-01 to the 1st of January of year (>= 1970): 365 a year plus the leap days in between. */
static int64_t days_before_year(unsigned year)
{
	unsigned n = year - 1;

	return 365 * (int64_t)(year - 1970) + (n / 4 - n / 100 + n / 400) - (1969 / 4 - 1969 / 100 + 1969 / 400);
}

static int64_t days_from_civil(unsigned year, unsigned month, unsigned day)
{
	static const uint16_t before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };

	return days_before_year(year) + before[month - 1] + (month > 2 && is_leap(year)) + day - 1;
}

static bool datetime_valid(const struct miband2_datetime *t)
{
	return t->year >= MIBAND2_YEAR_MIN && t->year <= MIBAND2_YEAR_MAX && t->month >= 1 && t->month <= 12 &&
	       t->day >= 1 && t->day <= days_in_month(t->year, t->month) && t->hour < 24 && t->minute < 60 &&
	       t->second < 60 && t->tz >= MIBAND2_TZ_MIN && t->tz <= MIBAND2_TZ_MAX;
}

/* 1 = Monday .. 7 = Sunday (§6.1); 1970-01-01 was a Thursday. */
static uint8_t day_of_week(const struct miband2_datetime *t)
{
	return (uint8_t)((days_from_civil(t->year, t->month, t->day) + 3) % 7 + 1);
}

int miband2_datetime_from_utc(int64_t utc, int tz, struct miband2_datetime *ret)
{
	const int64_t lo = days_before_year(MIBAND2_YEAR_MIN) * SECONDS_PER_DAY;
	const int64_t hi = days_before_year(MIBAND2_YEAR_MAX + 1) * SECONDS_PER_DAY;
	int64_t local, days;
	unsigned year, month = 1;

	/* Range first, so that adding the zone cannot overflow. */
	if (!ret || tz < MIBAND2_TZ_MIN || tz > MIBAND2_TZ_MAX || utc < lo - SECONDS_PER_DAY || utc > hi)
		return -EINVAL;
	local = utc + (int64_t)tz * SECONDS_PER_QUARTER;
	if (local < lo || local >= hi)
		return -EINVAL;
	days = local / SECONDS_PER_DAY;
	for (year = 1970 + (unsigned)(days / 366); days_before_year(year + 1) <= days; year++)
		;
	for (days -= days_before_year(year); days >= days_in_month(year, month); month++)
		days -= days_in_month(year, month);
	*ret = (struct miband2_datetime){
		.year = (uint16_t)year, .month = (uint8_t)month, .day = (uint8_t)(days + 1),
		.hour = (uint8_t)(local % SECONDS_PER_DAY / 3600), .minute = (uint8_t)(local % 3600 / 60),
		.second = (uint8_t)(local % 60), .tz = (int8_t)tz, .utc = utc,
	};
	return 0;
}

/* Year LE16, month, day, hour, minute, second: the 7 bytes that start both time formats (§6.1, §6.2). */
static void put_datetime(uint8_t *p, const struct miband2_datetime *t)
{
	put_le16(p, t->year);
	p[2] = t->month;
	p[3] = t->day;
	p[4] = t->hour;
	p[5] = t->minute;
	p[6] = t->second;
}

static int get_datetime(const uint8_t *p, uint8_t tz, struct miband2_datetime *ret)
{
	*ret = (struct miband2_datetime){
		.year = get_le16(p), .month = p[2], .day = p[3], .hour = p[4], .minute = p[5], .second = p[6],
		.tz = (int8_t)tz,
	};
	if (!datetime_valid(ret))
		return -EBADMSG;
	ret->utc = days_from_civil(ret->year, ret->month, ret->day) * SECONDS_PER_DAY + ret->hour * 3600 +
	           ret->minute * 60 + ret->second - (int64_t)ret->tz * SECONDS_PER_QUARTER;
	return 0;
}

/* ---- Authentication (§4) ---- */

int miband2_auth_encrypt(const uint8_t key[MIBAND2_KEY_SIZE], const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER_CTX *ctx;
	int n = 0, final = 0;
	bool ok;

	if (!key || !in || !out)
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	/* One block of raw AES-128-ECB: no IV, no padding (§4.3, §4.5). */
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_EncryptUpdate(ctx, out, &n, in, 16) == 1 &&
	     EVP_EncryptFinal_ex(ctx, out + n, &final) == 1 && n + final == 16;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int miband2_build_auth_key(uint8_t *buf, size_t size, const uint8_t key[MIBAND2_KEY_SIZE])
{
	if (!buf || !key || size < AUTH_KEY_SIZE)
		return -EINVAL;
	buf[0] = AUTH_SEND_KEY;
	buf[1] = AUTH_FLAGS;
	memcpy(buf + 2, key, MIBAND2_KEY_SIZE);
	return AUTH_KEY_SIZE;
}

int miband2_build_auth_request(uint8_t *buf, size_t size)
{
	return PUT(buf, size, AUTH_REQUEST_RANDOM, AUTH_FLAGS);
}

int miband2_build_auth_encrypted(uint8_t *buf, size_t size, const uint8_t key[MIBAND2_KEY_SIZE],
                                 const uint8_t random[MIBAND2_RANDOM_SIZE])
{
	int r;

	if (!buf || !key || !random || size < AUTH_KEY_SIZE)
		return -EINVAL;
	r = miband2_auth_encrypt(key, random, buf + 2);
	if (r < 0)
		return r;
	buf[0] = AUTH_SEND_ENCRYPTED;
	buf[1] = AUTH_FLAGS;
	return AUTH_KEY_SIZE;
}

static enum miband2_auth_result auth_result(uint8_t command, uint8_t status)
{
	static const struct {
		uint8_t command, status;
		enum miband2_auth_result result;
	} table[] = {
		{ AUTH_SEND_KEY, STATUS_SUCCESS, MIBAND2_AUTH_RESULT_KEY_STORED },
		{ AUTH_SEND_KEY, AUTH_STATUS_TIMEOUT, MIBAND2_AUTH_RESULT_KEY_TIMEOUT },
		{ AUTH_SEND_KEY, AUTH_STATUS_FAIL, MIBAND2_AUTH_RESULT_KEY_FAILED },
		{ AUTH_REQUEST_RANDOM, STATUS_SUCCESS, MIBAND2_AUTH_RESULT_RANDOM },
		{ AUTH_REQUEST_RANDOM, AUTH_STATUS_FAIL, MIBAND2_AUTH_RESULT_RANDOM_FAILED },
		{ AUTH_SEND_ENCRYPTED, STATUS_SUCCESS, MIBAND2_AUTH_RESULT_AUTHENTICATED },
		{ AUTH_SEND_ENCRYPTED, AUTH_STATUS_FAIL, MIBAND2_AUTH_RESULT_WRONG_KEY },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].command == command && table[i].status == status)
			return table[i].result;
	return MIBAND2_AUTH_RESULT_OTHER;
}

int miband2_parse_auth_reply(const uint8_t *buf, size_t len, struct miband2_auth_reply *ret)
{
	bool challenge;

	if (bad_args(buf, len, ret))
		return -EINVAL;
	/* The MB2 answers with the bare command number; it does not echo the flags byte (§4.3). */
	if (len < REPLY_HEADER_SIZE || buf[0] != RESPONSE || buf[1] < AUTH_SEND_KEY || buf[1] > AUTH_SEND_ENCRYPTED)
		return -EBADMSG;
	challenge = buf[1] == AUTH_REQUEST_RANDOM && buf[2] == STATUS_SUCCESS;
	if (len != (challenge ? AUTH_RANDOM_REPLY_SIZE : REPLY_HEADER_SIZE))
		return -EBADMSG;
	*ret = (struct miband2_auth_reply){
		.result = auth_result(buf[1], buf[2]), .command = buf[1], .status = buf[2],
	};
	if (challenge)
		memcpy(ret->random, buf + REPLY_HEADER_SIZE, MIBAND2_RANDOM_SIZE);
	return 0;
}

/* ---- Time (§6) ---- */

int miband2_build_time(uint8_t *buf, size_t size, int64_t utc, int tz)
{
	struct miband2_datetime t;
	int r;

	if (!buf || size < TIME_SIZE)
		return -EINVAL;
	r = miband2_datetime_from_utc(utc, tz, &t);
	if (r < 0)
		return r;
	put_datetime(buf, &t);
	buf[TIME_DAY_OF_WEEK] = day_of_week(&t);
	buf[8] = 0; /* fractions of a second: Gadgetbridge writes 0 */
	buf[9] = 0; /* "adjust reason": everybody writes 0 */
	buf[TIME_TZ] = (uint8_t)t.tz;
	return TIME_SIZE;
}

int miband2_parse_time(const uint8_t *buf, size_t len, struct miband2_time *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	/* Day of week 0 ("unknown", as Mi Fit writes it) and 1..7 are accepted, never used: the date decides. */
	if (len != TIME_SIZE || buf[TIME_DAY_OF_WEEK] > 7)
		return -EBADMSG;
	*ret = (struct miband2_time){ .day_of_week = buf[TIME_DAY_OF_WEEK], .fraction = buf[8], .adjust = buf[9] };
	return get_datetime(buf, buf[TIME_TZ], &ret->when);
}

int miband2_build_timestamp(uint8_t *buf, size_t size, int64_t utc, int tz)
{
	struct miband2_datetime t;
	int r;

	if (!buf || size < TIMESTAMP_SIZE)
		return -EINVAL;
	r = miband2_datetime_from_utc(utc, tz, &t);
	if (r < 0)
		return r;
	put_datetime(buf, &t);
	buf[TIMESTAMP_TZ] = (uint8_t)t.tz;
	return TIMESTAMP_SIZE;
}

int miband2_parse_timestamp(const uint8_t *buf, size_t len, struct miband2_datetime *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	if (len != TIMESTAMP_SIZE)
		return -EBADMSG;
	return get_datetime(buf, buf[TIMESTAMP_TZ], ret);
}

/* ---- Device information (§7) ---- */

int miband2_parse_info(const uint8_t *buf, size_t len, struct miband2_info *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	if (len == 0 || len > MIBAND2_INFO_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return -EBADMSG;
	memcpy(ret->text, buf, len);
	ret->text[len] = '\0';
	return 0;
}

static int parse_number(const char **s, uint16_t *ret)
{
	const char *p = *s;
	uint32_t v = 0;

	while (*p >= '0' && *p <= '9' && p - *s < 5)
		v = v * 10 + (uint32_t)(*p++ - '0');
	if (p == *s || (*p >= '0' && *p <= '9') || v > UINT16_MAX)
		return -EBADMSG;
	*ret = (uint16_t)v;
	*s = p;
	return 0;
}

int miband2_parse_version(const uint8_t *buf, size_t len, struct miband2_version *ret)
{
	struct miband2_info info;
	const char *s;
	int r;

	if (bad_args(buf, len, ret))
		return -EINVAL;
	r = miband2_parse_info(buf, len, &info);
	if (r < 0)
		return r;
	/* The band says "V1.0.1.81"; the version is what follows the V (§2.2, §7). */
	s = info.text[0] == 'V' ? info.text + 1 : info.text;
	memcpy(ret->text, s, strlen(s) + 1);
	for (size_t i = 0; i < 4; i++) {
		if (i > 0 && *s++ != '.')
			return -EBADMSG;
		r = parse_number(&s, &ret->part[i]);
		if (r < 0)
			return r;
	}
	return *s == '\0' ? 0 : -EBADMSG;
}

int miband2_version_compare(const struct miband2_version *a, const struct miband2_version *b)
{
	for (size_t i = 0; i < 4; i++)
		if (a->part[i] != b->part[i])
			return a->part[i] < b->part[i] ? -1 : 1;
	return 0;
}

bool miband2_version_has_text(const struct miband2_version *firmware)
{
	return miband2_version_compare(firmware, &firmware_text) >= 0;
}

/* ---- Battery (§8) ---- */

static enum miband2_battery_state battery_state(uint8_t raw)
{
	return raw == 0 ? MIBAND2_BATTERY_STATE_NORMAL :
	       raw == 1 ? MIBAND2_BATTERY_STATE_CHARGING : MIBAND2_BATTERY_STATE_UNKNOWN;
}

int miband2_parse_battery(const uint8_t *buf, size_t len, struct miband2_battery *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	if (len != BATTERY_SIZE || buf[BATTERY_LEVEL] > PERCENT_MAX)
		return -EBADMSG;
	*ret = (struct miband2_battery){ .level = buf[BATTERY_LEVEL], .state = battery_state(buf[BATTERY_STATE]) };
	/* The timestamps are history, not state: a bad one is flagged, the level still counts. */
	if (get_datetime(buf + BATTERY_LAST_OFF, buf[BATTERY_LAST_OFF + TIMESTAMP_TZ], &ret->last_off) == 0)
		ret->last_off_valid = true;
	else
		ret->last_off = (struct miband2_datetime){ 0 };
	if (get_datetime(buf + BATTERY_LAST_CHARGE, buf[BATTERY_LAST_CHARGE + TIMESTAMP_TZ], &ret->last_charge) == 0 &&
	    buf[BATTERY_LAST_LEVEL] <= PERCENT_MAX) {
		ret->last_charge_valid = true;
		ret->last_charge_level = buf[BATTERY_LAST_LEVEL];
	} else {
		ret->last_charge = (struct miband2_datetime){ 0 };
	}
	return 0;
}

/* ---- Realtime steps (§9) ---- */

int miband2_parse_steps(const uint8_t *buf, size_t len, struct miband2_steps *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	/* Steps are a uint32 at 1 in both forms (§9, §18); only the 13-byte form carries meters and calories. */
	if (len != STEPS_SIZE && len != STEPS_SIZE_SHORT)
		return -EBADMSG;
	*ret = (struct miband2_steps){ .flags = buf[0], .steps = get_le32(buf + 1) };
	if (len == STEPS_SIZE) {
		ret->has_totals = true;
		ret->meters = get_le32(buf + 5);
		ret->calories = get_le32(buf + 9);
	}
	return 0;
}

/* ---- Activity history (§10) ---- */

int miband2_build_fetch_start(uint8_t *buf, size_t size, int64_t utc, int tz)
{
	int r;

	if (!buf || size < FETCH_START_SIZE || utc < 0)
		return -EINVAL;
	/* Clients ask for a whole minute, seconds 0 (§6.2). */
	r = miband2_build_timestamp(buf + 2, size - 2, utc - utc % 60, tz);
	if (r < 0)
		return r;
	buf[0] = FETCH_START;
	buf[1] = FETCH_TYPE_ACTIVITY;
	return FETCH_START_SIZE;
}

int miband2_build_fetch_go(uint8_t *buf, size_t size)
{
	return PUT(buf, size, FETCH_GO);
}

int miband2_build_fetch_ack(uint8_t *buf, size_t size)
{
	return PUT(buf, size, FETCH_ACK);
}

/* 10 01 01 count first: a count of 0 means "nothing to fetch", and then the timestamp is not needed, so a
 * bad one is forgiven; with samples to come, their time must be sound. */
static int parse_fetch_started(const uint8_t *buf, size_t len, struct miband2_fetch_reply *ret)
{
	if (len != FETCH_STARTED_SIZE && len != FETCH_STARTED_SIZE_LONG)
		return -EBADMSG;
	ret->count = get_le32(buf + FETCH_COUNT);
	if (get_datetime(buf + FETCH_FIRST, buf[FETCH_FIRST + TIMESTAMP_TZ], &ret->first) == 0)
		return 0;
	if (ret->count > 0)
		return -EBADMSG;
	ret->first = (struct miband2_datetime){ 0 };
	return 0;
}

int miband2_parse_fetch_reply(const uint8_t *buf, size_t len, struct miband2_fetch_reply *ret)
{
	static const enum miband2_fetch_result results[3][2] = {
		{ MIBAND2_FETCH_RESULT_START_FAILED, MIBAND2_FETCH_RESULT_STARTED },
		{ MIBAND2_FETCH_RESULT_DONE_FAILED, MIBAND2_FETCH_RESULT_DONE },
		{ MIBAND2_FETCH_RESULT_ACK_FAILED, MIBAND2_FETCH_RESULT_ACKED },
	};

	if (bad_args(buf, len, ret))
		return -EINVAL;
	if (len < REPLY_HEADER_SIZE || buf[0] != RESPONSE || buf[1] < FETCH_START || buf[1] > FETCH_ACK)
		return -EBADMSG;
	*ret = (struct miband2_fetch_reply){
		.result = results[buf[1] - FETCH_START][buf[2] == STATUS_SUCCESS], .status = buf[2],
	};
	if (ret->result == MIBAND2_FETCH_RESULT_STARTED)
		return parse_fetch_started(buf, len, ret);
	return len == REPLY_HEADER_SIZE ? 0 : -EBADMSG;
}

int miband2_parse_activity(const uint8_t *buf, size_t len, struct miband2_activity *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	/* A counter, then 1..4 samples of 4 bytes: len % 4 == 1 (§10.2). */
	if (len < 1 + SAMPLE_SIZE || len > 1 + MIBAND2_SAMPLES_MAX * SAMPLE_SIZE || (len - 1) % SAMPLE_SIZE != 0)
		return -EBADMSG;
	*ret = (struct miband2_activity){ .counter = buf[0], .n_samples = (uint8_t)((len - 1) / SAMPLE_SIZE) };
	for (size_t i = 0; i < ret->n_samples; i++) {
		const uint8_t *p = buf + 1 + i * SAMPLE_SIZE;

		ret->samples[i] = (struct miband2_sample){
			.kind = p[0], .intensity = p[1], .steps = p[2], .heart_rate = p[3],
		};
	}
	return 0;
}

/* ---- Heart rate (§11) ---- */

static bool hr_mode_valid(enum miband2_hr_mode mode)
{
	switch (mode) {
	case MIBAND2_HR_MODE_SLEEP:
	case MIBAND2_HR_MODE_CONTINUOUS:
	case MIBAND2_HR_MODE_MANUAL:
		return true;
	}
	return false;
}

int miband2_build_hr_control(uint8_t *buf, size_t size, enum miband2_hr_mode mode, bool on)
{
	if (!hr_mode_valid(mode))
		return -EINVAL;
	return PUT(buf, size, HR_CONTROL, (uint8_t)mode, on ? 0x01 : 0x00);
}

int miband2_build_hr_interval(uint8_t *buf, size_t size, unsigned minutes)
{
	if (minutes > HR_INTERVAL_MAX)
		return -EINVAL;
	return PUT(buf, size, HR_INTERVAL, (uint8_t)minutes);
}

int miband2_build_hr_keepalive(uint8_t *buf, size_t size)
{
	return PUT(buf, size, HR_KEEPALIVE);
}

int miband2_parse_heart_rate(const uint8_t *buf, size_t len, struct miband2_heart_rate *ret)
{
	if (bad_args(buf, len, ret))
		return -EINVAL;
	/* Flags 00: a uint8 value and nothing else (§11.2). */
	if (len != HR_MEASUREMENT_SIZE || buf[0] != 0x00)
		return -EBADMSG;
	ret->bpm = buf[1];
	return 0;
}

/* ---- Alerts (§12) ---- */

static bool alert_level_valid(enum miband2_alert_level level)
{
	switch (level) {
	case MIBAND2_ALERT_LEVEL_OFF:
	case MIBAND2_ALERT_LEVEL_MESSAGE:
	case MIBAND2_ALERT_LEVEL_PHONE_CALL:
	case MIBAND2_ALERT_LEVEL_VIBRATE:
		return true;
	}
	return false;
}

int miband2_build_alert_level(uint8_t *buf, size_t size, enum miband2_alert_level level)
{
	if (!alert_level_valid(level))
		return -EINVAL;
	return PUT(buf, size, (uint8_t)level);
}

int miband2_build_vibration(uint8_t *buf, size_t size, uint16_t on_ms, uint16_t off_ms, uint8_t repeat)
{
	return PUT(buf, size, ALERT_CUSTOM_VIBRATION, (uint8_t)(on_ms & 0xff), (uint8_t)(on_ms >> 8),
	           (uint8_t)(off_ms & 0xff), (uint8_t)(off_ms >> 8), repeat);
}

static bool alert_category_valid(enum miband2_alert_category category)
{
	switch (category) {
	case MIBAND2_ALERT_CATEGORY_SIMPLE:
	case MIBAND2_ALERT_CATEGORY_EMAIL:
	case MIBAND2_ALERT_CATEGORY_NEWS:
	case MIBAND2_ALERT_CATEGORY_INCOMING_CALL:
	case MIBAND2_ALERT_CATEGORY_MISSED_CALL:
	case MIBAND2_ALERT_CATEGORY_SMS:
	case MIBAND2_ALERT_CATEGORY_VOICE_MAIL:
	case MIBAND2_ALERT_CATEGORY_SCHEDULE:
	case MIBAND2_ALERT_CATEGORY_HIGH_PRIORITY:
	case MIBAND2_ALERT_CATEGORY_INSTANT_MESSAGE:
	case MIBAND2_ALERT_CATEGORY_CUSTOM:
		return true;
	}
	return false;
}

int miband2_build_new_alert(uint8_t *buf, size_t size, enum miband2_alert_category category, uint8_t count,
                            uint8_t icon, const char *text, size_t text_len)
{
	bool custom = category == MIBAND2_ALERT_CATEGORY_CUSTOM;
	size_t header = custom ? NEW_ALERT_HEADER_ICON : NEW_ALERT_HEADER;

	/* Text beyond the 20-byte write overflows the band and reboots it (§12.2). */
	if (!buf || !alert_category_valid(category) || (custom && icon > MIBAND2_ICON_MAX) ||
	    (!text && text_len > 0) || text_len > MIBAND2_WRITE_MAX - header || size < header + text_len ||
	    miband2_utf8_check(text, text_len) < 0)
		return -EINVAL;
	buf[0] = (uint8_t)category;
	buf[1] = count;
	if (custom)
		buf[2] = icon;
	if (text_len > 0)
		memcpy(buf + header, text, text_len);
	return (int)(header + text_len);
}

/* The length of the UTF-8 character at s, or 0 when it is not one: RFC 3629's table, which leaves out
 * overlong forms, the surrogates D800..DFFF and everything above 10FFFF. */
static size_t utf8_char(const uint8_t *s, size_t len)
{
	uint8_t lo = 0x80, hi = 0xbf; /* the range of the second byte */
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : lo;
	hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : hi;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

int miband2_utf8_check(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;

	if (!s && len > 0)
		return -EINVAL;
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_char(p + i, len - i);
		if (n == 0)
			return -EINVAL;
	}
	return 0;
}

int miband2_text_chunk(const char *text, size_t len, size_t max)
{
	const uint8_t *p = (const uint8_t *)text;
	size_t n = 0, c;

	/* Below 4 bytes a character might not fit; above 255 no write could carry the chunk anyway. */
	if (max < 4 || max > 255 || miband2_utf8_check(text, len) < 0)
		return -EINVAL;
	while (n < len && (c = utf8_char(p + n, len - n)) <= max - n)
		n += c;
	return (int)n;
}

/* ---- Device events (§13) ---- */

int miband2_parse_device_event(const uint8_t *buf, size_t len, struct miband2_device_event *ret)
{
	static const struct {
		uint8_t code;
		enum miband2_event event;
	} table[] = {
		{ 0x01, MIBAND2_EVENT_FELL_ASLEEP }, { 0x02, MIBAND2_EVENT_WOKE_UP },
		{ 0x03, MIBAND2_EVENT_GOAL_REACHED }, { 0x04, MIBAND2_EVENT_BUTTON },
		{ 0x06, MIBAND2_EVENT_NOT_WORN }, { 0x07, MIBAND2_EVENT_CALL_REJECTED },
		{ 0x08, MIBAND2_EVENT_FIND_PHONE_START }, { 0x09, MIBAND2_EVENT_CALL_IGNORED },
		{ 0x0a, MIBAND2_EVENT_ALARM_TOGGLED }, { 0x0b, MIBAND2_EVENT_BUTTON_LONG },
		{ 0x0e, MIBAND2_EVENT_TICK_30MIN }, { 0x0f, MIBAND2_EVENT_FIND_PHONE_STOP },
	};

	if (bad_args(buf, len, ret))
		return -EINVAL;
	if (len < 1)
		return -EBADMSG;
	*ret = (struct miband2_device_event){ .event = MIBAND2_EVENT_UNKNOWN, .code = buf[0] };
	/* The events above are one byte; longer ones belong to newer bands (§13). */
	for (size_t i = 0; len == 1 && i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == buf[0])
			ret->event = table[i].event;
	return 0;
}

const char *miband2_event_name(enum miband2_event event)
{
	switch (event) {
	case MIBAND2_EVENT_FELL_ASLEEP: return "fell-asleep";
	case MIBAND2_EVENT_WOKE_UP: return "woke-up";
	case MIBAND2_EVENT_GOAL_REACHED: return "goal-reached";
	case MIBAND2_EVENT_BUTTON: return "button";
	case MIBAND2_EVENT_NOT_WORN: return "not-worn";
	case MIBAND2_EVENT_CALL_REJECTED: return "call-rejected";
	case MIBAND2_EVENT_FIND_PHONE_START: return "find-phone-start";
	case MIBAND2_EVENT_CALL_IGNORED: return "call-ignored";
	case MIBAND2_EVENT_ALARM_TOGGLED: return "alarm-toggled";
	case MIBAND2_EVENT_BUTTON_LONG: return "button-long";
	case MIBAND2_EVENT_TICK_30MIN: return "tick-30min";
	case MIBAND2_EVENT_FIND_PHONE_STOP: return "find-phone-stop";
	case MIBAND2_EVENT_UNKNOWN: return "unknown";
	}
	return "unknown";
}

/* ---- Configuration (§14) and reboot (§15) ---- */

int miband2_build_config_visible(uint8_t *buf, size_t size, bool on)
{
	/* Gadgetbridge's shipped values; an unmerged 2017 branch had them inverted (§18). */
	return PUT(buf, size, CONFIG_SET, CONFIG_VISIBLE, 0x00, on ? 0x01 : 0x00);
}

int miband2_build_config_date_display(uint8_t *buf, size_t size, bool show_date)
{
	return PUT(buf, size, CONFIG_SET, CONFIG_DATE_DISPLAY, 0x00, show_date ? CONFIG_DATE_DISPLAY_DATE : 0x00);
}

int miband2_build_config_time_format(uint8_t *buf, size_t size, bool h24)
{
	return PUT(buf, size, CONFIG_SET, CONFIG_TIME_FORMAT, 0x00, h24 ? 0x01 : 0x00);
}

int miband2_build_config_display_items(uint8_t *buf, size_t size, unsigned items)
{
	if (items & ~(unsigned)DISPLAY_ITEMS_ALL)
		return -EINVAL;
	/* The clock is always shown (§14). */
	return PUT(buf, size, CONFIG_DISPLAY_ITEMS, (uint8_t)(items | MIBAND2_DISPLAY_ITEM_CLOCK), 0x00, 0x00, 0x01,
	           0x02, 0x03, 0x04, 0x05);
}

int miband2_build_config_factory_reset(uint8_t *buf, size_t size)
{
	return PUT(buf, size, CONFIG_SET, CONFIG_FACTORY_RESET, 0x00, 0x01);
}

int miband2_build_reboot(uint8_t *buf, size_t size)
{
	return PUT(buf, size, FW_REBOOT);
}
