/* The Mi Band 2 codec against the bytes of miband2-protocol.md (§N below), then against truncated, corrupt and
 * random frames: every parser must answer 0 or -EBADMSG and read nothing outside its buffer (this suite runs
 * under ASan and UBSan), every builder must refuse a buffer that is too small. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "miband2.h"

/* A byte string and its length, for the calls below: BYTES(0x10, 0x01, 0x01). */
#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

/* The auth exchange of the Mi Fit trace (§4.5). */
static const uint8_t trace_key[16] = { 0xd8, 0x8c, 0xa0, 0xfe, 0xf5, 0x04, 0xcc, 0x82,
	                               0x73, 0x5f, 0x15, 0xfe, 0xb6, 0xbf, 0x9b, 0x1f };
static const uint8_t trace_random[16] = { 0x68, 0x9c, 0x1d, 0xd5, 0x8a, 0x66, 0x6f, 0x0f,
	                                  0x8c, 0x90, 0xa1, 0xa9, 0x6e, 0x1a, 0xb3, 0xa3 };
static const uint8_t trace_encrypted[16] = { 0xce, 0x1c, 0x01, 0x35, 0xdb, 0x39, 0xe6, 0x1f,
	                                     0x1a, 0x27, 0x01, 0x2f, 0xb9, 0x07, 0xdf, 0x3b };

/* Instants of the examples, computed independently (Python's calendar.timegm). */
enum {
	UTC_MIFIT_TRACE = 1523798443,  /* 2018-04-15 16:20:43 +03:00, a Sunday (§6.1) */
	UTC_NEU_REQUEST = 1562586300,  /* 2019-07-08 07:45 -04:00 (§6.2) */
	UTC_APPENDIX_B = 1552201200,   /* 2019-03-10 08:00 +01:00 (Appendix B) */
	UTC_NEU_REPLY = 1533321060,    /* 2018-08-03 14:31 -04:00 (§10.1) */
};

static void hex_decode(const char *hex, uint8_t *out, size_t n)
{
	g_assert_cmpuint(strlen(hex), ==, 2 * n);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(g_ascii_xdigit_value(hex[2 * i]) << 4 | g_ascii_xdigit_value(hex[2 * i + 1]));
}

/* A builder's result is exactly these bytes. */
static void assert_built(int n, const uint8_t *buf, const uint8_t *want, size_t want_len)
{
	g_assert_cmpint(n, ==, (int)want_len);
	g_assert_cmpmem(buf, want_len, want, want_len);
}

static void assert_datetime(const struct miband2_datetime *t, unsigned year, unsigned month, unsigned day,
                            unsigned hour, unsigned minute, unsigned second, int tz, int64_t utc)
{
	g_assert_cmpuint(t->year, ==, year);
	g_assert_cmpuint(t->month, ==, month);
	g_assert_cmpuint(t->day, ==, day);
	g_assert_cmpuint(t->hour, ==, hour);
	g_assert_cmpuint(t->minute, ==, minute);
	g_assert_cmpuint(t->second, ==, second);
	g_assert_cmpint(t->tz, ==, tz);
	g_assert_cmpint(t->utc, ==, utc);
}

/* ---- Authentication (§4) ---- */

/* All three rows of the table in §4.5. */
static void test_auth_aes_vectors(void)
{
	static const struct {
		const char *key, *in, *out;
	} rows[] = {
		{ "d88ca0fef504cc82735f15feb6bf9b1f", "689c1dd58a666f0f8c90a1a96e1ab3a3", "ce1c0135db39e61f1a27012fb907df3b" },
		{ "30313233343536373839404142434445", "689c1dd58a666f0f8c90a1a96e1ab3a3", "c956e66c1275359458666a8dcbf74845" },
		{ "30313233343536373839404142434445", "000102030405060708090a0b0c0d0e0f", "f5003494346bffac69990bf7f317e5db" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		uint8_t key[16], in[16], want[16], out[16];

		hex_decode(rows[i].key, key, 16);
		hex_decode(rows[i].in, in, 16);
		hex_decode(rows[i].out, want, 16);
		g_assert_cmpint(miband2_auth_encrypt(key, in, out), ==, 0);
		g_assert_cmpmem(out, 16, want, 16);
	}
	/* The default key of §4.2 is the key of rows 2 and 3. */
	g_assert_cmpuint(strlen(MIBAND2_DEFAULT_KEY), ==, MIBAND2_KEY_SIZE);
	g_assert_cmpmem(MIBAND2_DEFAULT_KEY, 16, "\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x40\x41\x42\x43\x44\x45", 16);
}

static void test_auth_build_key(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_auth_key(buf, sizeof(buf), trace_key), buf,
	             BYTES(0x01, 0x08, 0xd8, 0x8c, 0xa0, 0xfe, 0xf5, 0x04, 0xcc, 0x82, 0x73, 0x5f, 0x15, 0xfe, 0xb6, 0xbf,
	                   0x9b, 0x1f));
	g_assert_cmpint(miband2_build_auth_key(buf, sizeof(buf), NULL), ==, -EINVAL);
}

static void test_auth_build_request(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_auth_request(buf, sizeof(buf)), buf, BYTES(0x02, 0x08));
}

/* The trace's answer to its challenge, with GB's flags byte 08 instead of Mi Fit's 00 (§4.3). */
static void test_auth_build_encrypted(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_auth_encrypted(buf, sizeof(buf), trace_key, trace_random), buf,
	             BYTES(0x03, 0x08, 0xce, 0x1c, 0x01, 0x35, 0xdb, 0x39, 0xe6, 0x1f, 0x1a, 0x27, 0x01, 0x2f, 0xb9, 0x07,
	                   0xdf, 0x3b));
	g_assert_cmpmem(buf + 2, 16, trace_encrypted, 16);
	g_assert_cmpint(miband2_build_auth_encrypted(buf, sizeof(buf), NULL, trace_random), ==, -EINVAL);
	g_assert_cmpint(miband2_build_auth_encrypted(buf, sizeof(buf), trace_key, NULL), ==, -EINVAL);
}

/* Every status row of §4.3, and the challenge of the trace (§4.5). */
static void test_auth_parse_replies(void)
{
	static const struct {
		uint8_t bytes[3];
		enum miband2_auth_result result;
	} rows[] = {
		{ { 0x10, 0x01, 0x01 }, MIBAND2_AUTH_RESULT_KEY_STORED },
		{ { 0x10, 0x01, 0x02 }, MIBAND2_AUTH_RESULT_KEY_TIMEOUT },
		{ { 0x10, 0x01, 0x04 }, MIBAND2_AUTH_RESULT_KEY_FAILED },
		{ { 0x10, 0x02, 0x04 }, MIBAND2_AUTH_RESULT_RANDOM_FAILED },
		{ { 0x10, 0x03, 0x01 }, MIBAND2_AUTH_RESULT_AUTHENTICATED },
		{ { 0x10, 0x03, 0x04 }, MIBAND2_AUTH_RESULT_WRONG_KEY },
	};
	static const uint8_t challenge[] = { 0x10, 0x02, 0x01, 0x68, 0x9c, 0x1d, 0xd5, 0x8a, 0x66, 0x6f, 0x0f,
		                             0x8c, 0x90, 0xa1, 0xa9, 0x6e, 0x1a, 0xb3, 0xa3 };
	struct miband2_auth_reply reply;

	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_assert_cmpint(miband2_parse_auth_reply(rows[i].bytes, 3, &reply), ==, 0);
		g_assert_cmpint(reply.result, ==, rows[i].result);
		g_assert_cmpuint(reply.command, ==, rows[i].bytes[1]);
		g_assert_cmpuint(reply.status, ==, rows[i].bytes[2]);
	}
	g_assert_cmpint(miband2_parse_auth_reply(challenge, sizeof(challenge), &reply), ==, 0);
	g_assert_cmpint(reply.result, ==, MIBAND2_AUTH_RESULT_RANDOM);
	g_assert_cmpuint(reply.command, ==, 0x02);
	g_assert_cmpuint(reply.status, ==, 0x01);
	g_assert_cmpmem(reply.random, 16, trace_random, 16);
}

/* Statuses no source explains are reported raw, not refused: amazfish's 10 01 06, and others (§4.3). */
static void test_auth_parse_unknown_status(void)
{
	static const uint8_t replies[][3] = {
		{ 0x10, 0x01, 0x06 }, { 0x10, 0x01, 0x00 }, { 0x10, 0x02, 0x02 }, { 0x10, 0x03, 0x02 }, { 0x10, 0x03, 0xff },
	};
	struct miband2_auth_reply reply;

	for (size_t i = 0; i < G_N_ELEMENTS(replies); i++) {
		g_assert_cmpint(miband2_parse_auth_reply(replies[i], 3, &reply), ==, 0);
		g_assert_cmpint(reply.result, ==, MIBAND2_AUTH_RESULT_OTHER);
		g_assert_cmpuint(reply.command, ==, replies[i][1]);
		g_assert_cmpuint(reply.status, ==, replies[i][2]);
	}
}

static void test_auth_parse_rejects(void)
{
	uint8_t challenge[20] = { 0x10, 0x02, 0x01 };
	uint8_t status[4] = { 0x10, 0x03, 0x01, 0x00 };
	struct miband2_auth_reply reply;

	/* The challenge is 19 bytes exactly, a status reply 3. */
	for (size_t len = 0; len <= sizeof(challenge); len++)
		g_assert_cmpint(miband2_parse_auth_reply(challenge, len, &reply), ==, len == 19 ? 0 : -EBADMSG);
	for (size_t len = 0; len <= sizeof(status); len++)
		g_assert_cmpint(miband2_parse_auth_reply(status, len, &reply), ==, len == 3 ? 0 : -EBADMSG);
	/* 10 02 04 carries no challenge. */
	challenge[2] = 0x04;
	g_assert_cmpint(miband2_parse_auth_reply(challenge, 19, &reply), ==, -EBADMSG);
	/* Not a response, a command the auth characteristic does not have, a Mi Band 4 reply echoing the flags. */
	g_assert_cmpint(miband2_parse_auth_reply(BYTES(0x11, 0x03, 0x01), &reply), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_auth_reply(BYTES(0x10, 0x00, 0x01), &reply), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_auth_reply(BYTES(0x10, 0x04, 0x01), &reply), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_auth_reply(BYTES(0x10, 0x83, 0x01), &reply), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_auth_reply(BYTES(0x03, 0x08, 0x01), &reply), ==, -EBADMSG);
}

/* ---- Time (§6) ---- */

/* The band's own answer in the Mi Fit trace, built from its instant and zone: dow 7 for that Sunday. */
static void test_time_build_mifit_trace(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_time(buf, sizeof(buf), UTC_MIFIT_TRACE, 12), buf,
	             BYTES(0xe2, 0x07, 0x04, 0x0f, 0x10, 0x14, 0x2b, 0x07, 0x00, 0x00, 0x0c));
}

static void test_time_parse_mifit_trace(void)
{
	struct miband2_time t;

	g_assert_cmpint(miband2_parse_time(BYTES(0xe2, 0x07, 0x04, 0x0f, 0x10, 0x14, 0x2b, 0x07, 0x00, 0x00, 0x0c), &t),
	                ==, 0);
	assert_datetime(&t.when, 2018, 4, 15, 16, 20, 43, 12, UTC_MIFIT_TRACE);
	g_assert_cmpuint(t.day_of_week, ==, 7);
	g_assert_cmpuint(t.fraction, ==, 0);
	g_assert_cmpuint(t.adjust, ==, 0);
	/* What Mi Fit wrote back four seconds later, day of week 0 = unknown (§6.1). */
	g_assert_cmpint(miband2_parse_time(BYTES(0xe2, 0x07, 0x04, 0x0f, 0x10, 0x14, 0x2f, 0x00, 0x00, 0x00, 0x0c), &t),
	                ==, 0);
	g_assert_cmpuint(t.day_of_week, ==, 0);
	g_assert_cmpint(t.when.utc, ==, UTC_MIFIT_TRACE + 4);
}

/* 1 = Monday .. 7 = Sunday, across the week of the trace (2018-04-09 was a Monday). */
static void test_time_day_of_week(void)
{
	for (int i = 0; i < 7; i++) {
		uint8_t buf[MIBAND2_WRITE_MAX];

		g_assert_cmpint(miband2_build_time(buf, sizeof(buf), UTC_MIFIT_TRACE - (6 - i) * 86400, 12), ==, 11);
		g_assert_cmpuint(buf[3], ==, 9 + i);
		g_assert_cmpuint(buf[7], ==, 1 + i);
	}
}

/* West of UTC: 2019-01-01 02:00Z at -05:00 is Monday 2018-12-31 21:00, the zone byte is -20 = 0xec. */
static void test_time_negative_tz(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];
	struct miband2_time t;

	assert_built(miband2_build_time(buf, sizeof(buf), 1546308000, -20), buf,
	             BYTES(0xe2, 0x07, 0x0c, 0x1f, 0x15, 0x00, 0x00, 0x01, 0x00, 0x00, 0xec));
	g_assert_cmpint(miband2_parse_time(buf, 11, &t), ==, 0);
	assert_datetime(&t.when, 2018, 12, 31, 21, 0, 0, -20, 1546308000);
}

/* The zone must be a real one (UTC-12..UTC+14) and the local year 2000..2099. */
static void test_time_build_range(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), UTC_MIFIT_TRACE, -48), ==, 11);
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), UTC_MIFIT_TRACE, 56), ==, 11);
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), UTC_MIFIT_TRACE, -49), ==, -EINVAL);
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), UTC_MIFIT_TRACE, 57), ==, -EINVAL);
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), 946684800, 0), ==, 11);          /* 2000-01-01 00:00 */
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), 946684800 - 1, 0), ==, -EINVAL); /* 1999 */
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), 946684800 - 1, 4), ==, 11);      /* 2000 locally */
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), 4102444800 - 1, 0), ==, 11);     /* 2099-12-31 23:59:59 */
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), 4102444800, 0), ==, -EINVAL);    /* 2100 */
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), INT64_MIN, 0), ==, -EINVAL);
	g_assert_cmpint(miband2_build_time(buf, sizeof(buf), INT64_MAX, 56), ==, -EINVAL);
}

static void test_time_parse_rejects(void)
{
	static const uint8_t good[11] = { 0xe2, 0x07, 0x04, 0x0f, 0x10, 0x14, 0x2b, 0x07, 0x00, 0x00, 0x0c };
	static const struct {
		size_t offset;
		uint8_t value;
	} bad[] = {
		{ 1, 0x08 }, { 2, 0 }, { 2, 13 }, { 3, 0 }, { 3, 31 }, { 4, 24 }, { 5, 60 }, { 6, 60 }, { 7, 8 },
		{ 10, 57 }, { 10, (uint8_t)-49 }, { 0, 0xcf }, /* 0x07cf = 1999 */
	};
	struct miband2_time t;
	uint8_t frame[12];

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		memcpy(frame, good, 11);
		frame[bad[i].offset] = bad[i].value;
		g_assert_cmpint(miband2_parse_time(frame, 11, &t), ==, -EBADMSG);
	}
	memcpy(frame, good, 11);
	frame[11] = 0;
	g_assert_cmpint(miband2_parse_time(frame, 12, &t), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_time(frame, 10, &t), ==, -EBADMSG);
	/* February 29th exists in 2020, not in 2019. */
	g_assert_cmpint(miband2_parse_time(BYTES(0xe4, 0x07, 0x02, 0x1d, 0x0c, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00), &t),
	                ==, 0);
	g_assert_cmpint(t.when.utc, ==, 1582977600);
	g_assert_cmpint(miband2_parse_time(BYTES(0xe3, 0x07, 0x02, 0x1d, 0x0c, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00), &t),
	                ==, -EBADMSG);
}

/* The NEU request parameters, 2019-07-08 07:45 at UTC-4 (§6.2). */
static void test_timestamp_neu(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];
	struct miband2_datetime t;

	assert_built(miband2_build_timestamp(buf, sizeof(buf), UTC_NEU_REQUEST, -16), buf,
	             BYTES(0xe3, 0x07, 0x07, 0x08, 0x07, 0x2d, 0x00, 0xf0));
	g_assert_cmpint(miband2_parse_timestamp(BYTES(0xe3, 0x07, 0x07, 0x08, 0x07, 0x2d, 0x00, 0xf0), &t), ==, 0);
	assert_datetime(&t, 2019, 7, 8, 7, 45, 0, -16, UTC_NEU_REQUEST);
	g_assert_cmpint(miband2_parse_timestamp(BYTES(0xe3, 0x07, 0x07, 0x08, 0x07, 0x2d, 0x00), &t), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_timestamp(BYTES(0xe3, 0x07, 0x07, 0x08, 0x07, 0x2d, 0x00, 0xf0, 0x00), &t), ==,
	                -EBADMSG);
}

/* miband2_datetime_from_utc against GLib's calendar, over pseudo-random instants and zones. */
static void test_timestamp_round_trip(void)
{
	GRand *rand = g_rand_new_with_seed(0x2b2b);

	for (int i = 0; i < 5000; i++) {
		int64_t utc = 946684800 + (int64_t)g_rand_int_range(rand, 86400, INT32_MAX);
		int tz = g_rand_int_range(rand, MIBAND2_TZ_MIN, MIBAND2_TZ_MAX + 1);
		g_autoptr(GDateTime) instant = g_date_time_new_from_unix_utc(utc);
		g_autoptr(GDateTime) local = g_date_time_add_seconds(instant, tz * 900.0);
		struct miband2_datetime t, back;
		uint8_t buf[8];

		g_assert_cmpint(miband2_datetime_from_utc(utc, tz, &t), ==, 0);
		assert_datetime(&t, (unsigned)g_date_time_get_year(local), (unsigned)g_date_time_get_month(local),
		                (unsigned)g_date_time_get_day_of_month(local), (unsigned)g_date_time_get_hour(local),
		                (unsigned)g_date_time_get_minute(local), (unsigned)g_date_time_get_second(local), tz, utc);
		g_assert_cmpint(miband2_build_timestamp(buf, sizeof(buf), utc, tz), ==, 8);
		g_assert_cmpint(miband2_parse_timestamp(buf, sizeof(buf), &back), ==, 0);
		g_assert_cmpmem(&t, sizeof(t), &back, sizeof(back));
	}
	g_rand_free(rand);
}

/* ---- Device information (§7) ---- */

static void test_info_parse(void)
{
	struct miband2_info info;

	g_assert_cmpint(miband2_parse_info(BYTES('M', 'I', ' ', 'B', 'a', 'n', 'd', ' ', '2'), &info), ==, 0);
	g_assert_cmpstr(info.text, ==, "MI Band 2");
	/* NUL padding is dropped; control bytes and empty values are not text. */
	g_assert_cmpint(miband2_parse_info(BYTES('V', '0', '.', '1', '.', '3', '.', '2', 0, 0), &info), ==, 0);
	g_assert_cmpstr(info.text, ==, "V0.1.3.2");
	g_assert_cmpint(miband2_parse_info(BYTES('a', 0, 'b'), &info), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_info(BYTES('a', '\n'), &info), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_info(BYTES(0xc3, 0xa9), &info), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_info(BYTES(0, 0), &info), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_info(NULL, 0, &info), ==, -EBADMSG);
}

static int parse_version_string(const char *s, struct miband2_version *ret)
{
	return miband2_parse_version((const uint8_t *)s, strlen(s), ret);
}

/* 2A28 reads V1.0.1.81: 56 31 2e 30 2e 31 2e 38 31 (§1, §7). */
static void test_version_parse(void)
{
	struct miband2_version v;

	g_assert_cmpint(miband2_parse_version(BYTES(0x56, 0x31, 0x2e, 0x30, 0x2e, 0x31, 0x2e, 0x38, 0x31), &v), ==, 0);
	g_assert_cmpstr(v.text, ==, "1.0.1.81");
	g_assert_cmpuint(v.part[0], ==, 1);
	g_assert_cmpuint(v.part[1], ==, 0);
	g_assert_cmpuint(v.part[2], ==, 1);
	g_assert_cmpuint(v.part[3], ==, 81);
	g_assert_cmpint(parse_version_string("1.0.0.53", &v), ==, 0); /* the V is optional */
	g_assert_cmpstr(v.text, ==, "1.0.0.53");
	g_assert_cmpint(parse_version_string("V65535.0.0.0", &v), ==, 0);
	g_assert_cmpuint(v.part[0], ==, 65535);
}

static void test_version_parse_rejects(void)
{
	static const char *const bad[] = {
		"", "V", "V1.0.1", "V1.0.1.81.2", "V1.0.1.", "V.1.0.1", "V1..0.1", "V1.0.1.x", "v1.0.1.81", "VV1.0.1.81",
		" V1.0.1.81", "V1.0.1.81 ", "V1.0.1.65536", "V1.0.1.123456", "V1.0.1.-1", "V1.0.1.+1",
	};
	struct miband2_version v;

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		if (parse_version_string(bad[i], &v) != -EBADMSG)
			g_error("'%s' was accepted", bad[i]);
}

/* Numeric, part by part; text notifications from 1.0.1.28 on (§7). */
static void test_version_compare(void)
{
	static const struct {
		const char *a, *b;
		int order;
		bool has_text;   /* of a */
	} rows[] = {
		{ "V1.0.1.81", "V1.0.1.28", 1, true },  { "V1.0.1.28", "V1.0.1.28", 0, true },
		{ "V1.0.1.27", "V1.0.1.28", -1, false }, { "V1.0.0.53", "V1.0.1.28", -1, false },
		{ "V1.0.1.100", "V1.0.1.28", 1, true },  { "V1.0.2.0", "V1.0.1.99", 1, true },
		{ "V2.0.0.0", "V1.9.9.9", 1, true },     { "V0.9.9.99", "V1.0.0.0", -1, false },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		struct miband2_version a, b;
		int order;

		g_assert_cmpint(parse_version_string(rows[i].a, &a), ==, 0);
		g_assert_cmpint(parse_version_string(rows[i].b, &b), ==, 0);
		order = miband2_version_compare(&a, &b);
		g_assert_cmpint(order < 0 ? -1 : order > 0, ==, rows[i].order);
		order = miband2_version_compare(&b, &a);
		g_assert_cmpint(order < 0 ? -1 : order > 0, ==, -rows[i].order);
		g_assert_cmpint(miband2_version_has_text(&a), ==, rows[i].has_text);
	}
}

/* ---- Battery (§8) ---- */

/* GB commit 90d730bdc: 98 %, not charging, T1 2016-08-04 07:43:44 +8 h, T2 06:37:55 +8 h at 100 %. */
static void test_battery_sample_commit(void)
{
	struct miband2_battery b;

	g_assert_cmpint(miband2_parse_battery(BYTES(0x0f, 0x62, 0x00, 0xe0, 0x07, 0x08, 0x04, 0x07, 0x2b, 0x2c, 0x20,
	                                            0xe0, 0x07, 0x08, 0x04, 0x06, 0x25, 0x37, 0x20, 0x64),
	                                      &b),
	                ==, 0);
	g_assert_cmpuint(b.level, ==, 98);
	g_assert_cmpint(b.state, ==, MIBAND2_BATTERY_STATE_NORMAL);
	g_assert_true(b.last_off_valid);
	assert_datetime(&b.last_off, 2016, 8, 4, 7, 43, 44, 32, 1470267824);
	g_assert_true(b.last_charge_valid);
	assert_datetime(&b.last_charge, 2016, 8, 4, 6, 37, 55, 32, 1470263875);
	g_assert_cmpuint(b.last_charge_level, ==, 100);
}

/* GB HuamiBatteryInfo: 48 %, T1 2016-11-26 18:35:44 +1 h, T2 23:43:59 +1 h at 100 %. */
static void test_battery_sample_huami(void)
{
	struct miband2_battery b;

	g_assert_cmpint(miband2_parse_battery(BYTES(0x0f, 0x30, 0x00, 0xe0, 0x07, 0x0b, 0x1a, 0x12, 0x23, 0x2c, 0x04,
	                                            0xe0, 0x07, 0x0b, 0x1a, 0x17, 0x2b, 0x3b, 0x04, 0x64),
	                                      &b),
	                ==, 0);
	g_assert_cmpuint(b.level, ==, 48);
	g_assert_cmpint(b.state, ==, MIBAND2_BATTERY_STATE_NORMAL);
	g_assert_true(b.last_off_valid);
	assert_datetime(&b.last_off, 2016, 11, 26, 18, 35, 44, 4, 1480181744);
	g_assert_true(b.last_charge_valid);
	assert_datetime(&b.last_charge, 2016, 11, 26, 23, 43, 59, 4, 1480200239);
	g_assert_cmpuint(b.last_charge_level, ==, 100);
}

/* A bad level is a bad frame; bad history only clears its flag (miband2.h). */
static void test_battery_bad_fields(void)
{
	static const uint8_t good[20] = { 0x0f, 0x30, 0x00, 0xe0, 0x07, 0x0b, 0x1a, 0x12, 0x23, 0x2c, 0x04,
		                          0xe0, 0x07, 0x0b, 0x1a, 0x17, 0x2b, 0x3b, 0x04, 0x64 };
	struct miband2_battery b;
	uint8_t frame[21];

	memcpy(frame, good, 20);
	frame[2] = 0x01;
	g_assert_cmpint(miband2_parse_battery(frame, 20, &b), ==, 0);
	g_assert_cmpint(b.state, ==, MIBAND2_BATTERY_STATE_CHARGING);
	frame[2] = 0x02;
	g_assert_cmpint(miband2_parse_battery(frame, 20, &b), ==, 0);
	g_assert_cmpint(b.state, ==, MIBAND2_BATTERY_STATE_UNKNOWN);
	frame[1] = 101;
	g_assert_cmpint(miband2_parse_battery(frame, 20, &b), ==, -EBADMSG);

	memcpy(frame, good, 20);
	frame[5] = 13; /* T1 month */
	g_assert_cmpint(miband2_parse_battery(frame, 20, &b), ==, 0);
	g_assert_false(b.last_off_valid);
	g_assert_true(b.last_charge_valid);
	frame[18] = 0x7f; /* T2 zone */
	g_assert_cmpint(miband2_parse_battery(frame, 20, &b), ==, 0);
	g_assert_false(b.last_charge_valid);
	memcpy(frame, good, 20);
	frame[19] = 101;
	g_assert_cmpint(miband2_parse_battery(frame, 20, &b), ==, 0);
	g_assert_true(b.last_off_valid);
	g_assert_false(b.last_charge_valid);
	g_assert_cmpuint(b.level, ==, 48);

	memcpy(frame, good, 20);
	frame[20] = 0;
	g_assert_cmpint(miband2_parse_battery(frame, 21, &b), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_battery(frame, 19, &b), ==, -EBADMSG);
}

/* ---- Realtime steps (§9) ---- */

/* GB issue #428: 76 steps, 31 m, 1 kcal. */
static void test_steps_long(void)
{
	struct miband2_steps s;

	g_assert_cmpint(miband2_parse_steps(BYTES(0x0c, 0x4c, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	                                          0x00),
	                                    &s),
	                ==, 0);
	g_assert_cmpuint(s.flags, ==, 0x0c);
	g_assert_cmpuint(s.steps, ==, 76);
	g_assert_true(s.has_totals);
	g_assert_cmpuint(s.meters, ==, 31);
	g_assert_cmpuint(s.calories, ==, 1);
	/* All four bytes of each field count (uint32, §18). */
	g_assert_cmpint(miband2_parse_steps(BYTES(0x0c, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	                                          0x0c),
	                                    &s),
	                ==, 0);
	g_assert_cmpuint(s.steps, ==, 0x04030201);
	g_assert_cmpuint(s.meters, ==, 0x08070605);
	g_assert_cmpuint(s.calories, ==, 0x0c0b0a09);
}

/* GB commit 90d730bdc, issues #1121 and #1363: 25, 439 and 368 steps, no totals. */
static void test_steps_short(void)
{
	static const struct {
		uint8_t bytes[5];
		uint32_t steps;
	} rows[] = {
		{ { 0x00, 0x19, 0x00, 0x00, 0x00 }, 25 },
		{ { 0x00, 0xb7, 0x01, 0x00, 0x00 }, 439 },
		{ { 0x00, 0x70, 0x01, 0x00, 0x00 }, 368 },
	};
	struct miband2_steps s;

	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_assert_cmpint(miband2_parse_steps(rows[i].bytes, 5, &s), ==, 0);
		g_assert_cmpuint(s.flags, ==, 0);
		g_assert_cmpuint(s.steps, ==, rows[i].steps);
		g_assert_false(s.has_totals);
		g_assert_cmpuint(s.meters, ==, 0);
		g_assert_cmpuint(s.calories, ==, 0);
	}
}

static void test_steps_lengths(void)
{
	uint8_t frame[20] = { 0x0c, 0x4c };
	struct miband2_steps s;

	for (size_t len = 0; len <= sizeof(frame); len++)
		g_assert_cmpint(miband2_parse_steps(frame, len, &s), ==, len == 5 || len == 13 ? 0 : -EBADMSG);
}

/* ---- Activity history (§10) ---- */

static void test_fetch_build_start(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	/* Appendix B; the seconds of the instant are dropped: clients ask for a whole minute (§6.2). */
	assert_built(miband2_build_fetch_start(buf, sizeof(buf), UTC_APPENDIX_B, 4), buf,
	             BYTES(0x01, 0x01, 0xe3, 0x07, 0x03, 0x0a, 0x08, 0x00, 0x00, 0x04));
	assert_built(miband2_build_fetch_start(buf, sizeof(buf), UTC_APPENDIX_B + 59, 4), buf,
	             BYTES(0x01, 0x01, 0xe3, 0x07, 0x03, 0x0a, 0x08, 0x00, 0x00, 0x04));
	/* [NEU], GB before commit 90d730bdc, GB issue #1469 (§10.1). */
	assert_built(miband2_build_fetch_start(buf, sizeof(buf), UTC_NEU_REQUEST, -16), buf,
	             BYTES(0x01, 0x01, 0xe3, 0x07, 0x07, 0x08, 0x07, 0x2d, 0x00, 0xf0));
	assert_built(miband2_build_fetch_start(buf, sizeof(buf), 1469304240, 4), buf,
	             BYTES(0x01, 0x01, 0xe0, 0x07, 0x07, 0x17, 0x15, 0x04, 0x00, 0x04));
	assert_built(miband2_build_fetch_start(buf, sizeof(buf), 1527736620, 32), buf,
	             BYTES(0x01, 0x01, 0xe2, 0x07, 0x05, 0x1f, 0x0b, 0x11, 0x00, 0x20));
	g_assert_cmpint(miband2_build_fetch_start(buf, sizeof(buf), -60, 0), ==, -EINVAL);
	g_assert_cmpint(miband2_build_fetch_start(buf, sizeof(buf), UTC_APPENDIX_B, 57), ==, -EINVAL);
}

static void test_fetch_build_go_ack(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_fetch_go(buf, sizeof(buf)), buf, BYTES(0x02));
	assert_built(miband2_build_fetch_ack(buf, sizeof(buf)), buf, BYTES(0x03));
}

/* [NEU]: 5 samples from 2018-08-03 14:31:00 at UTC-4; Appendix B: 6 from 2019-03-10 08:00 at UTC+1. */
static void test_fetch_parse_started(void)
{
	struct miband2_fetch_reply r;

	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00, 0xe2, 0x07, 0x08,
	                                                0x03, 0x0e, 0x1f, 0x00, 0xf0),
	                                          &r),
	                ==, 0);
	g_assert_cmpint(r.result, ==, MIBAND2_FETCH_RESULT_STARTED);
	g_assert_cmpuint(r.status, ==, 0x01);
	g_assert_cmpuint(r.count, ==, 5);
	assert_datetime(&r.first, 2018, 8, 3, 14, 31, 0, -16, UTC_NEU_REPLY);

	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x01, 0x01, 0x06, 0x00, 0x00, 0x00, 0xe3, 0x07, 0x03,
	                                                0x0a, 0x08, 0x00, 0x00, 0x04),
	                                          &r),
	                ==, 0);
	g_assert_cmpuint(r.count, ==, 6);
	assert_datetime(&r.first, 2019, 3, 10, 8, 0, 0, 4, UTC_APPENDIX_B);

	/* All four count bytes; the 16-byte form of the Mi Band 7 (§10.5). */
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x01, 0x01, 0x01, 0x02, 0x03, 0x04, 0xe3, 0x07, 0x03,
	                                                0x0a, 0x08, 0x00, 0x00, 0x04, 0x00),
	                                          &r),
	                ==, 0);
	g_assert_cmpuint(r.count, ==, 0x04030201);

	/* Nothing to fetch: the timestamp does not matter then. */
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	                                                0x00, 0x00, 0x00, 0x00, 0x00),
	                                          &r),
	                ==, 0);
	g_assert_cmpint(r.result, ==, MIBAND2_FETCH_RESULT_STARTED);
	g_assert_cmpuint(r.count, ==, 0);
	/* Samples without a sound time are not. */
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	                                                0x00, 0x00, 0x00, 0x00, 0x00),
	                                          &r),
	                ==, -EBADMSG);
}

static void test_fetch_parse_status(void)
{
	static const struct {
		uint8_t bytes[3];
		enum miband2_fetch_result result;
	} rows[] = {
		{ { 0x10, 0x01, 0x04 }, MIBAND2_FETCH_RESULT_START_FAILED },
		{ { 0x10, 0x02, 0x01 }, MIBAND2_FETCH_RESULT_DONE },
		{ { 0x10, 0x02, 0x04 }, MIBAND2_FETCH_RESULT_DONE_FAILED },
		{ { 0x10, 0x03, 0x01 }, MIBAND2_FETCH_RESULT_ACKED },
		{ { 0x10, 0x03, 0x02 }, MIBAND2_FETCH_RESULT_ACK_FAILED },
	};
	struct miband2_fetch_reply r;

	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_assert_cmpint(miband2_parse_fetch_reply(rows[i].bytes, 3, &r), ==, 0);
		g_assert_cmpint(r.result, ==, rows[i].result);
		g_assert_cmpuint(r.status, ==, rows[i].bytes[2]);
	}
}

static void test_fetch_parse_rejects(void)
{
	uint8_t started[17] = { 0x10, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00, 0xe2, 0x07, 0x08, 0x03, 0x0e, 0x1f, 0x00, 0xf0 };
	uint8_t done[4] = { 0x10, 0x02, 0x01, 0x00 };
	struct miband2_fetch_reply r;

	for (size_t len = 0; len <= sizeof(started); len++)
		g_assert_cmpint(miband2_parse_fetch_reply(started, len, &r), ==, len == 15 || len == 16 ? 0 : -EBADMSG);
	for (size_t len = 0; len <= sizeof(done); len++)
		g_assert_cmpint(miband2_parse_fetch_reply(done, len, &r), ==, len == 3 ? 0 : -EBADMSG);
	started[9] = 13; /* month of the first sample */
	g_assert_cmpint(miband2_parse_fetch_reply(started, 15, &r), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x04, 0x01), &r), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x00, 0x01), &r), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x11, 0x02, 0x01), &r), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_fetch_reply(BYTES(0x10, 0x01, 0x04, 0x00), &r), ==, -EBADMSG);
}

/* GB issue #691: counter 0x24, four samples, kinds 00/0a, no steps, no heart rate (§10.2). */
static void test_activity_gb_691(void)
{
	struct miband2_activity a;

	g_assert_cmpint(miband2_parse_activity(BYTES(0x24, 0x00, 0x0c, 0x00, 0xff, 0x0a, 0x14, 0x00, 0xff, 0x0a, 0x14,
	                                             0x00, 0xff, 0x0a, 0x14, 0x00, 0xff),
	                                       &a),
	                ==, 0);
	g_assert_cmpuint(a.counter, ==, 0x24);
	g_assert_cmpuint(a.n_samples, ==, 4);
	g_assert_cmpuint(a.samples[0].kind, ==, 0x00);
	g_assert_cmpuint(a.samples[0].intensity, ==, 0x0c);
	for (size_t i = 1; i < 4; i++) {
		g_assert_cmpuint(a.samples[i].kind, ==, MIBAND2_ACTIVITY_KIND_IGNORE);
		g_assert_cmpuint(a.samples[i].intensity, ==, 0x14);
	}
	for (size_t i = 0; i < 4; i++) {
		g_assert_cmpuint(a.samples[i].steps, ==, 0);
		g_assert_cmpuint(a.samples[i].heart_rate, ==, MIBAND2_HR_NONE);
	}
}

/* The two packets of Appendix B: a full one and a last one of two samples. */
static void test_activity_appendix_b(void)
{
	struct miband2_activity a;

	g_assert_cmpint(miband2_parse_activity(BYTES(0x00, 0x51, 0x12, 0x05, 0xff, 0x51, 0x20, 0x0c, 0xff, 0x50, 0x00,
	                                             0x00, 0xff, 0x01, 0x30, 0x18, 0x48),
	                                       &a),
	                ==, 0);
	g_assert_cmpuint(a.counter, ==, 0);
	g_assert_cmpuint(a.n_samples, ==, 4);
	g_assert_cmpuint(a.samples[0].kind, ==, 0x51);
	g_assert_cmpuint(a.samples[0].kind & MIBAND2_ACTIVITY_KIND_MASK, ==, MIBAND2_ACTIVITY_KIND_ACTIVITY);
	g_assert_cmpuint(a.samples[1].steps, ==, 0x0c);
	g_assert_cmpuint(a.samples[3].kind, ==, 0x01);
	g_assert_cmpuint(a.samples[3].intensity, ==, 0x30);
	g_assert_cmpuint(a.samples[3].steps, ==, 0x18);
	g_assert_cmpuint(a.samples[3].heart_rate, ==, 72);

	g_assert_cmpint(miband2_parse_activity(BYTES(0x01, 0x01, 0x2a, 0x15, 0xff, 0x70, 0x00, 0x00, 0xff), &a), ==, 0);
	g_assert_cmpuint(a.counter, ==, 1);
	g_assert_cmpuint(a.n_samples, ==, 2);
	g_assert_cmpuint(a.samples[0].steps, ==, 0x15);
	g_assert_cmpuint(a.samples[1].kind, ==, 0x70);
}

/* Only a counter plus 1..4 whole samples: lengths 5, 9, 13, 17 (§10.2). */
static void test_activity_lengths(void)
{
	uint8_t frame[40] = { 0 };
	struct miband2_activity a;

	for (size_t len = 0; len <= sizeof(frame); len++) {
		bool ok = len % 4 == 1 && len >= 5 && len <= 17;

		g_assert_cmpint(miband2_parse_activity(frame, len, &a), ==, ok ? 0 : -EBADMSG);
		if (ok)
			g_assert_cmpuint(a.n_samples, ==, (len - 1) / 4);
	}
}

/* ---- Heart rate (§11) ---- */

static void test_hr_build(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_hr_control(buf, sizeof(buf), MIBAND2_HR_MODE_MANUAL, true), buf, BYTES(0x15, 0x02, 0x01));
	assert_built(miband2_build_hr_control(buf, sizeof(buf), MIBAND2_HR_MODE_MANUAL, false), buf,
	             BYTES(0x15, 0x02, 0x00));
	assert_built(miband2_build_hr_control(buf, sizeof(buf), MIBAND2_HR_MODE_CONTINUOUS, true), buf,
	             BYTES(0x15, 0x01, 0x01));
	assert_built(miband2_build_hr_control(buf, sizeof(buf), MIBAND2_HR_MODE_CONTINUOUS, false), buf,
	             BYTES(0x15, 0x01, 0x00));
	assert_built(miband2_build_hr_control(buf, sizeof(buf), MIBAND2_HR_MODE_SLEEP, true), buf, BYTES(0x15, 0x00, 0x01));
	assert_built(miband2_build_hr_control(buf, sizeof(buf), MIBAND2_HR_MODE_SLEEP, false), buf, BYTES(0x15, 0x00, 0x00));
	g_assert_cmpint(miband2_build_hr_control(buf, sizeof(buf), (enum miband2_hr_mode)3, true), ==, -EINVAL);
	assert_built(miband2_build_hr_interval(buf, sizeof(buf), 0), buf, BYTES(0x14, 0x00));
	assert_built(miband2_build_hr_interval(buf, sizeof(buf), 10), buf, BYTES(0x14, 0x0a));
	assert_built(miband2_build_hr_interval(buf, sizeof(buf), 120), buf, BYTES(0x14, 0x78));
	g_assert_cmpint(miband2_build_hr_interval(buf, sizeof(buf), 121), ==, -EINVAL);
	g_assert_cmpint(miband2_build_hr_interval(buf, sizeof(buf), 256 + 10), ==, -EINVAL);
	assert_built(miband2_build_hr_keepalive(buf, sizeof(buf)), buf, BYTES(0x16));
}

/* 00 bb and nothing else (§11.2). */
static void test_hr_parse(void)
{
	struct miband2_heart_rate hr;

	g_assert_cmpint(miband2_parse_heart_rate(BYTES(0x00, 0x48), &hr), ==, 0);
	g_assert_cmpuint(hr.bpm, ==, 72);
	g_assert_cmpint(miband2_parse_heart_rate(BYTES(0x00, 0xff), &hr), ==, 0);
	g_assert_cmpuint(hr.bpm, ==, 255);
	g_assert_cmpint(miband2_parse_heart_rate(BYTES(0x01, 0x48), &hr), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_heart_rate(BYTES(0x10, 0x48), &hr), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_heart_rate(BYTES(0x00), &hr), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_heart_rate(BYTES(0x00, 0x48, 0x00), &hr), ==, -EBADMSG);
	g_assert_cmpint(miband2_parse_heart_rate(NULL, 0, &hr), ==, -EBADMSG);
}

/* ---- Alerts (§12) ---- */

static void test_alert_level(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_OFF), buf, BYTES(0x00));
	assert_built(miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_MESSAGE), buf, BYTES(0x01));
	assert_built(miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_PHONE_CALL), buf, BYTES(0x02));
	assert_built(miband2_build_alert_level(buf, sizeof(buf), MIBAND2_ALERT_LEVEL_VIBRATE), buf, BYTES(0x03));
	g_assert_cmpint(miband2_build_alert_level(buf, sizeof(buf), (enum miband2_alert_level)0x04), ==, -EINVAL);
	g_assert_cmpint(miband2_build_alert_level(buf, sizeof(buf), (enum miband2_alert_level)0xff), ==, -EINVAL);
}

/* ff on off repeat, LE16 milliseconds: GB's medium profile 300/600 and the ring profile's 2000 (§12.1). */
static void test_alert_vibration(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_vibration(buf, sizeof(buf), 300, 600, 3), buf, BYTES(0xff, 0x2c, 0x01, 0x58, 0x02, 0x03));
	assert_built(miband2_build_vibration(buf, sizeof(buf), 100, 2000, 1), buf, BYTES(0xff, 0x64, 0x00, 0xd0, 0x07, 0x01));
	assert_built(miband2_build_vibration(buf, sizeof(buf), 0xffff, 0, 0xff), buf,
	             BYTES(0xff, 0xff, 0xff, 0x00, 0x00, 0xff));
}

/* GB's headers: 05 01 SMS, fa 01 icon, 01 01 e-mail; a call 03 01 caller, its stop 03 00 (§12.2, §12.3). */
static void test_alert_new_alert_header(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, NULL, 0), buf,
	             BYTES(0x05, 0x01));
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_CUSTOM, 1, MIBAND2_ICON_APP, NULL,
	                                     0),
	             buf, BYTES(0xfa, 0x01, 0x0b));
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_CUSTOM, 1, MIBAND2_ICON_WECHAT,
	                                     NULL, 0),
	             buf, BYTES(0xfa, 0x01, 0x00));
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_CUSTOM, 1, MIBAND2_ICON_HR_WARNING,
	                                     "Hi", 2),
	             buf, BYTES(0xfa, 0x01, 0x24, 'H', 'i'));
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_EMAIL, 1, 0, NULL, 0), buf,
	             BYTES(0x01, 0x01));
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_INCOMING_CALL, 1, 0, "Anna", 4),
	             buf, BYTES(0x03, 0x01, 'A', 'n', 'n', 'a'));
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_INCOMING_CALL, 0, 0, NULL, 0), buf,
	             BYTES(0x03, 0x00));
	/* The icon byte is only for 0xFA; the icon table ends at 36; categories end at 9 before 0xFA. */
	assert_built(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 99, NULL, 0), buf,
	             BYTES(0x05, 0x01));
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_CUSTOM, 1, 37, NULL, 0), ==,
	                -EINVAL);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), (enum miband2_alert_category)10, 1, 0, NULL, 0), ==,
	                -EINVAL);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, NULL, 1), ==, -EINVAL);
}

/* 18 bytes of text after a 2-byte header, 17 after 3: the band reboots on more (§12.2, GB #734). */
static void test_alert_new_alert_text_limit(void)
{
	static const char text[] = "abcdefghijklmnopqrstuvwxyz";
	uint8_t buf[32];

	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, text, 18), ==, 20);
	g_assert_cmpmem(buf + 2, 18, text, 18);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, text, 19), ==,
	                -EINVAL);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_CUSTOM, 1, 0, text, 17), ==, 20);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_CUSTOM, 1, 0, text, 18), ==,
	                -EINVAL);
	/* Nine Greek letters are 18 bytes: they fit, ten do not. */
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, "αβγδεζηθι", 18), ==,
	                20);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, "αβγδεζηθικ", 20), ==,
	                -EINVAL);
	/* Half a character is not text. */
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, "αβ", 3), ==, -EINVAL);
}

/* Splits text into chunks and checks the split: at most max bytes each, each valid UTF-8, nothing lost. */
static size_t split(const char *text, size_t len, size_t max, size_t *chunks, size_t n_chunks)
{
	size_t n = 0;

	for (size_t off = 0; off < len; n++) {
		int c = miband2_text_chunk(text + off, len - off, max);

		g_assert_cmpint(c, >, 0);
		g_assert_cmpint(c, <=, (int)max);
		g_assert_cmpint(miband2_utf8_check(text + off, (size_t)c), ==, 0);
		g_assert_cmpuint(n, <, n_chunks);
		chunks[n] = (size_t)c;
		off += (size_t)c;
	}
	return n;
}

/* By bytes, never through a character: "Καλημέρα κόσμε" is 27 bytes, and byte 18 is half a κ (§12.2). */
static void test_alert_text_chunk_greek(void)
{
	static const char greek[] = "Καλημέρα κόσμε";
	static const char greek40[] = "αβγδεζηθικλμνξοπρστυ";
	static const char mixed[] = "aΚαλημέρα";
	size_t chunks[8], n;
	uint8_t buf[MIBAND2_WRITE_MAX];

	g_assert_cmpuint(strlen(greek), ==, 27);
	n = split(greek, strlen(greek), MIBAND2_TEXT_CHUNK, chunks, G_N_ELEMENTS(chunks));
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmpuint(chunks[0], ==, 17);
	g_assert_cmpuint(chunks[1], ==, 10);
	g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, greek, chunks[0]), ==,
	                19);
	g_assert_cmpmem(buf, 19, "\x05\x01" "Καλημέρα ", 19);

	n = split(greek40, strlen(greek40), MIBAND2_TEXT_CHUNK, chunks, G_N_ELEMENTS(chunks));
	g_assert_cmpuint(n, ==, 3);
	g_assert_cmpuint(chunks[0], ==, 18);
	g_assert_cmpuint(chunks[1], ==, 18);
	g_assert_cmpuint(chunks[2], ==, 4);

	n = split(mixed, strlen(mixed), 4, chunks, G_N_ELEMENTS(chunks));
	g_assert_cmpuint(n, ==, 5);
	g_assert_cmpuint(chunks[0], ==, 3);
	g_assert_cmpuint(chunks[1], ==, 4);

	/* Three- and four-byte characters: the euro sign, an emoji. */
	n = split("a\xe2\x82\xac\xf0\x9f\x98\x80", 8, 4, chunks, G_N_ELEMENTS(chunks));
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmpuint(chunks[0], ==, 4);
	g_assert_cmpuint(chunks[1], ==, 4);

	g_assert_cmpint(miband2_text_chunk("", 0, MIBAND2_TEXT_CHUNK), ==, 0);
	g_assert_cmpint(miband2_text_chunk(NULL, 0, MIBAND2_TEXT_CHUNK), ==, 0);
	g_assert_cmpint(miband2_text_chunk("short", 5, MIBAND2_TEXT_CHUNK), ==, 5);
	g_assert_cmpint(miband2_text_chunk("abc", 3, 3), ==, -EINVAL);
	g_assert_cmpint(miband2_text_chunk("abc", 3, 256), ==, -EINVAL);
	g_assert_cmpint(miband2_text_chunk(NULL, 1, MIBAND2_TEXT_CHUNK), ==, -EINVAL);
}

/* Overlong forms, surrogates, beyond U+10FFFF, stray and missing continuation bytes (RFC 3629). */
static void test_alert_utf8_invalid(void)
{
	static const char *const bad[] = {
		"\x80", "\xbf", "a\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80",
		"\xf0\x8f\xbf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
		"\xce", "\xe2\x82", "\xf0\x9f\x98", "\xce\x41", "\xe2\x28\xac", "\xf0\x9f\x28\x80", "Καλημέρα\xce",
	};
	static const char *const good[] = {
		"", "plain", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
		"\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "Καλημέρα", "€", "😀",
	};
	uint8_t buf[MIBAND2_WRITE_MAX];

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		size_t len = strlen(bad[i]);

		if (miband2_utf8_check(bad[i], len) != -EINVAL)
			g_error("bad[%zu] was accepted", i);
		g_assert_cmpint(miband2_text_chunk(bad[i], len, MIBAND2_TEXT_CHUNK), ==, -EINVAL);
		g_assert_cmpint(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, bad[i], len),
		                ==, -EINVAL);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
		if (miband2_utf8_check(good[i], strlen(good[i])) != 0)
			g_error("good[%zu] was refused", i);
	/* NUL is a character like any other ASCII one. */
	g_assert_cmpint(miband2_utf8_check("a\0b", 3), ==, 0);
	g_assert_cmpint(miband2_utf8_check(NULL, 0), ==, 0);
	g_assert_cmpint(miband2_utf8_check(NULL, 1), ==, -EINVAL);
}

/* GLib's validator as the oracle, on strings drawn from the bytes that matter at UTF-8's edges. */
static void test_alert_utf8_oracle(void)
{
	static const uint8_t alphabet[] = { 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
		                            0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff };
	GRand *rand = g_rand_new_with_seed(3629);

	for (int i = 0; i < 100000; i++) {
		char s[8];
		size_t len = (size_t)g_rand_int_range(rand, 1, sizeof(s) + 1);
		gboolean valid;
		int c;

		for (size_t j = 0; j < len; j++)
			s[j] = (char)alphabet[g_rand_int_range(rand, 0, sizeof(alphabet))];
		valid = g_utf8_validate_len(s, len, NULL);
		g_assert_cmpint(miband2_utf8_check(s, len), ==, valid ? 0 : -EINVAL);
		c = miband2_text_chunk(s, len, 4);
		if (valid)
			g_assert_true(c > 0 && c <= 4 && g_utf8_validate_len(s, (gsize)c, NULL));
		else
			g_assert_cmpint(c, ==, -EINVAL);
	}
	g_rand_free(rand);
}

/* ---- Device events (§13) ---- */

static void test_event_parse(void)
{
	static const struct {
		uint8_t code;
		enum miband2_event event;
		const char *name;
	} rows[] = {
		{ 0x01, MIBAND2_EVENT_FELL_ASLEEP, "fell-asleep" },
		{ 0x02, MIBAND2_EVENT_WOKE_UP, "woke-up" },
		{ 0x03, MIBAND2_EVENT_GOAL_REACHED, "goal-reached" },
		{ 0x04, MIBAND2_EVENT_BUTTON, "button" },
		{ 0x06, MIBAND2_EVENT_NOT_WORN, "not-worn" },
		{ 0x07, MIBAND2_EVENT_CALL_REJECTED, "call-rejected" },
		{ 0x08, MIBAND2_EVENT_FIND_PHONE_START, "find-phone-start" },
		{ 0x09, MIBAND2_EVENT_CALL_IGNORED, "call-ignored" },
		{ 0x0a, MIBAND2_EVENT_ALARM_TOGGLED, "alarm-toggled" },
		{ 0x0b, MIBAND2_EVENT_BUTTON_LONG, "button-long" },
		{ 0x0e, MIBAND2_EVENT_TICK_30MIN, "tick-30min" },
		{ 0x0f, MIBAND2_EVENT_FIND_PHONE_STOP, "find-phone-stop" },
		{ 0x00, MIBAND2_EVENT_UNKNOWN, "unknown" },
		{ 0x05, MIBAND2_EVENT_UNKNOWN, "unknown" },
		{ 0x16, MIBAND2_EVENT_UNKNOWN, "unknown" },
		{ 0xfe, MIBAND2_EVENT_UNKNOWN, "unknown" },
	};
	struct miband2_device_event e;

	/* The one event verified on the MB2: 04, the button (GB #741, #991). */
	g_assert_cmpint(miband2_parse_device_event(BYTES(0x04), &e), ==, 0);
	g_assert_cmpint(e.event, ==, MIBAND2_EVENT_BUTTON);
	g_assert_cmpuint(e.code, ==, 0x04);
	for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_assert_cmpint(miband2_parse_device_event(&rows[i].code, 1, &e), ==, 0);
		g_assert_cmpint(e.event, ==, rows[i].event);
		g_assert_cmpuint(e.code, ==, rows[i].code);
		g_assert_cmpstr(miband2_event_name(e.event), ==, rows[i].name);
	}
	/* Longer events belong to newer bands: known code, unknown event. The empty one is no event. */
	g_assert_cmpint(miband2_parse_device_event(BYTES(0x04, 0x00), &e), ==, 0);
	g_assert_cmpint(e.event, ==, MIBAND2_EVENT_UNKNOWN);
	g_assert_cmpuint(e.code, ==, 0x04);
	g_assert_cmpint(miband2_parse_device_event(BYTES(0x16, 0xf7, 0x00), &e), ==, 0);
	g_assert_cmpint(e.event, ==, MIBAND2_EVENT_UNKNOWN);
	g_assert_cmpint(miband2_parse_device_event(NULL, 0, &e), ==, -EBADMSG);
}

/* ---- Configuration (§14) and reboot (§15) ---- */

static void test_config_builders(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_config_visible(buf, sizeof(buf), true), buf, BYTES(0x06, 0x01, 0x00, 0x01));
	assert_built(miband2_build_config_visible(buf, sizeof(buf), false), buf, BYTES(0x06, 0x01, 0x00, 0x00));
	assert_built(miband2_build_config_date_display(buf, sizeof(buf), false), buf, BYTES(0x06, 0x0a, 0x00, 0x00));
	assert_built(miband2_build_config_date_display(buf, sizeof(buf), true), buf, BYTES(0x06, 0x0a, 0x00, 0x03));
	assert_built(miband2_build_config_time_format(buf, sizeof(buf), false), buf, BYTES(0x06, 0x02, 0x00, 0x00));
	assert_built(miband2_build_config_time_format(buf, sizeof(buf), true), buf, BYTES(0x06, 0x02, 0x00, 0x01));
}

/* 0a mask 00 00 01 02 03 04 05; the clock is always on (§14). */
static void test_config_display_items(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_config_display_items(buf, sizeof(buf), 0), buf,
	             BYTES(0x0a, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05));
	assert_built(miband2_build_config_display_items(buf, sizeof(buf),
	                                                MIBAND2_DISPLAY_ITEM_STEPS | MIBAND2_DISPLAY_ITEM_BATTERY),
	             buf, BYTES(0x0a, 0x23, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05));
	assert_built(miband2_build_config_display_items(buf, sizeof(buf), 0x3f), buf,
	             BYTES(0x0a, 0x3f, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05));
	g_assert_cmpint(miband2_build_config_display_items(buf, sizeof(buf), 0x40), ==, -EINVAL);
	g_assert_cmpint(miband2_build_config_display_items(buf, sizeof(buf), 0x100 | MIBAND2_DISPLAY_ITEM_STEPS), ==,
	                -EINVAL);
}

static void test_reboot_and_reset(void)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	assert_built(miband2_build_reboot(buf, sizeof(buf)), buf, BYTES(0x05));
	assert_built(miband2_build_config_factory_reset(buf, sizeof(buf)), buf, BYTES(0x06, 0x0b, 0x00, 0x01));
}

/* ---- Robustness: every parser, any bytes ---- */

/* Each runs one parser on buf[0..len) and, when it accepts, checks what it returned is consistent with the
 * bytes; null_ret passes NULL for the result instead. */
struct parser {
	const char *name;
	int (*parse)(const uint8_t *buf, size_t len, bool null_ret);
};

static int p_auth(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_auth_reply r;
	int n = miband2_parse_auth_reply(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpuint(r.command, ==, buf[1]);
		g_assert_cmpuint(len, ==, r.result == MIBAND2_AUTH_RESULT_RANDOM ? 19 : 3);
	}
	return n;
}

/* An accepted time is one the builder writes back byte for byte (except the unchecked day of week). */
static int p_time(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_time r;
	uint8_t back[11];
	int n = miband2_parse_time(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpint(miband2_build_time(back, sizeof(back), r.when.utc, r.when.tz), ==, 11);
		g_assert_cmpmem(back, 7, buf, 7);
		g_assert_cmpuint(back[10], ==, buf[10]);
	}
	return n;
}

static int p_timestamp(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_datetime r;
	uint8_t back[8];
	int n = miband2_parse_timestamp(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpint(miband2_build_timestamp(back, sizeof(back), r.utc, r.tz), ==, 8);
		g_assert_cmpmem(back, 8, buf, 8);
	}
	return n;
}

static int p_info(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_info r;
	int n = miband2_parse_info(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpuint(strlen(r.text), >, 0);
		g_assert_cmpuint(strlen(r.text), <=, MIBAND2_INFO_MAX);
		g_assert_cmpmem(r.text, strlen(r.text), buf, strlen(r.text));
	}
	return n;
}

static int p_version(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_version r;
	int n = miband2_parse_version(buf, len, null_ret ? NULL : &r);

	if (n == 0)
		g_assert_cmpint(miband2_version_compare(&r, &r), ==, 0);
	return n;
}

static int p_battery(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_battery r;
	int n = miband2_parse_battery(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpuint(r.level, <=, 100);
		g_assert_true(!r.last_charge_valid || r.last_charge_level <= 100);
	}
	return n;
}

static int p_steps(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_steps r;
	int n = miband2_parse_steps(buf, len, null_ret ? NULL : &r);

	if (n == 0)
		g_assert_cmpint(r.has_totals, ==, len == 13);
	return n;
}

static int p_fetch(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_fetch_reply r;
	uint8_t back[8];
	int n = miband2_parse_fetch_reply(buf, len, null_ret ? NULL : &r);

	if (n == 0 && r.result == MIBAND2_FETCH_RESULT_STARTED && r.count > 0) {
		g_assert_cmpint(miband2_build_timestamp(back, sizeof(back), r.first.utc, r.first.tz), ==, 8);
		g_assert_cmpmem(back, 8, buf + 7, 8);
	}
	return n;
}

static int p_activity(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_activity r;
	int n = miband2_parse_activity(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpuint(r.n_samples, >=, 1);
		g_assert_cmpuint(r.n_samples, <=, MIBAND2_SAMPLES_MAX);
		g_assert_cmpuint(1 + 4 * (size_t)r.n_samples, ==, len);
	}
	return n;
}

static int p_heart_rate(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_heart_rate r;
	int n = miband2_parse_heart_rate(buf, len, null_ret ? NULL : &r);

	if (n == 0)
		g_assert_cmpuint(r.bpm, ==, buf[1]);
	return n;
}

static int p_event(const uint8_t *buf, size_t len, bool null_ret)
{
	struct miband2_device_event r;
	int n = miband2_parse_device_event(buf, len, null_ret ? NULL : &r);

	if (n == 0) {
		g_assert_cmpuint(r.code, ==, buf[0]);
		g_assert_nonnull(miband2_event_name(r.event));
	}
	return n;
}

static const struct parser parsers[] = {
	{ "auth", p_auth },       { "time", p_time },         { "timestamp", p_timestamp },
	{ "info", p_info },       { "version", p_version },   { "battery", p_battery },
	{ "steps", p_steps },     { "fetch", p_fetch },       { "activity", p_activity },
	{ "heart-rate", p_heart_rate }, { "event", p_event },
};

/* Valid frames from the document, to be cut short and corrupted. */
static const struct {
	uint8_t bytes[24];
	size_t len;
} frames[] = {
	{ { 0x10, 0x01, 0x01 }, 3 },
	{ { 0x10, 0x03, 0x04 }, 3 },
	{ { 0x10, 0x02, 0x01, 0x68, 0x9c, 0x1d, 0xd5, 0x8a, 0x66, 0x6f, 0x0f, 0x8c, 0x90, 0xa1, 0xa9, 0x6e, 0x1a, 0xb3,
	    0xa3 },
	  19 },
	{ { 0xe2, 0x07, 0x04, 0x0f, 0x10, 0x14, 0x2b, 0x07, 0x00, 0x00, 0x0c }, 11 },
	{ { 0xe3, 0x07, 0x07, 0x08, 0x07, 0x2d, 0x00, 0xf0 }, 8 },
	{ { 'V', '1', '.', '0', '.', '1', '.', '8', '1' }, 9 },
	{ { 0x0f, 0x62, 0x00, 0xe0, 0x07, 0x08, 0x04, 0x07, 0x2b, 0x2c, 0x20, 0xe0, 0x07, 0x08, 0x04, 0x06, 0x25, 0x37,
	    0x20, 0x64 },
	  20 },
	{ { 0x0f, 0x30, 0x00, 0xe0, 0x07, 0x0b, 0x1a, 0x12, 0x23, 0x2c, 0x04, 0xe0, 0x07, 0x0b, 0x1a, 0x17, 0x2b, 0x3b,
	    0x04, 0x64 },
	  20 },
	{ { 0x0c, 0x4c, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 }, 13 },
	{ { 0x00, 0xb7, 0x01, 0x00, 0x00 }, 5 },
	{ { 0x10, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00, 0xe2, 0x07, 0x08, 0x03, 0x0e, 0x1f, 0x00, 0xf0 }, 15 },
	{ { 0x10, 0x02, 0x01 }, 3 },
	{ { 0x24, 0x00, 0x0c, 0x00, 0xff, 0x0a, 0x14, 0x00, 0xff, 0x0a, 0x14, 0x00, 0xff, 0x0a, 0x14, 0x00, 0xff }, 17 },
	{ { 0x01, 0x01, 0x2a, 0x15, 0xff, 0x70, 0x00, 0x00, 0xff }, 9 },
	{ { 0x00, 0x48 }, 2 },
	{ { 0x04 }, 1 },
};

/* Runs every parser on a copy of data in a heap block of exactly len bytes, so ASan sees any read past it. */
static void parse_all(const uint8_t *data, size_t len)
{
	g_autofree uint8_t *copy = g_memdup2(data, len);

	for (size_t i = 0; i < G_N_ELEMENTS(parsers); i++) {
		int n = parsers[i].parse(copy, len, false);

		if (n != 0 && n != -EBADMSG)
			g_error("%s: %d for %zu bytes", parsers[i].name, n, len);
	}
	g_assert_cmpint(miband2_utf8_check((const char *)copy, len), <=, 0);
	g_assert_cmpint(miband2_text_chunk((const char *)copy, len, MIBAND2_TEXT_CHUNK), <=, (int)len);
}

static void test_robust_random(void)
{
	GRand *rand = g_rand_new_with_seed(0x6d62);
	uint8_t data[40];

	for (size_t len = 0; len <= sizeof(data); len++)
		for (int round = 0; round < 300; round++) {
			for (size_t i = 0; i < len; i++)
				data[i] = (uint8_t)g_rand_int(rand);
			/* Half the rounds look like a reply, to get past the first checks. */
			if (len >= 3 && round % 2) {
				data[0] = 0x10;
				data[1] = (uint8_t)g_rand_int_range(rand, 0, 5);
				data[2] = round % 4 == 1 ? 0x01 : data[2];
			}
			parse_all(data, len);
		}
	g_rand_free(rand);
}

/* Every prefix of every valid frame, and every frame with one byte extra. */
static void test_robust_truncated(void)
{
	for (size_t f = 0; f < G_N_ELEMENTS(frames); f++) {
		uint8_t data[sizeof(frames[f].bytes) + 1] = { 0 };

		memcpy(data, frames[f].bytes, frames[f].len);
		for (size_t len = 0; len <= frames[f].len + 1; len++)
			parse_all(data, len);
	}
}

/* Each valid frame with each byte set to the values that sit at range edges, then random bits flipped, then a
 * valid head followed by random tails of every length up to 40. */
static void test_robust_corrupt(void)
{
	static const uint8_t edges[] = { 0x00, 0x01, 0x02, 0x04, 0x07, 0x08, 0x0c, 0x0d, 0x10, 0x17, 0x18, 0x1c, 0x1d,
		                         0x1f, 0x20, 0x3b, 0x3c, 0x64, 0x65, 0x7f, 0x80, 0xcf, 0xd0, 0xff };
	GRand *rand = g_rand_new_with_seed(0xc0de);

	for (size_t f = 0; f < G_N_ELEMENTS(frames); f++) {
		uint8_t data[40];

		for (size_t pos = 0; pos < frames[f].len; pos++)
			for (size_t e = 0; e < G_N_ELEMENTS(edges); e++) {
				memcpy(data, frames[f].bytes, frames[f].len);
				data[pos] = edges[e];
				parse_all(data, frames[f].len);
			}
		for (int round = 0; round < 500; round++) {
			memcpy(data, frames[f].bytes, frames[f].len);
			data[g_rand_int_range(rand, 0, (int)frames[f].len)] ^= (uint8_t)(1u << g_rand_int_range(rand, 0, 8));
			parse_all(data, frames[f].len);
		}
		for (size_t len = 0; len <= sizeof(data); len++) {
			memcpy(data, frames[f].bytes, MIN(frames[f].len, len));
			for (size_t i = MIN(frames[f].len / 2, len); i < len; i++)
				data[i] = (uint8_t)g_rand_int(rand);
			parse_all(data, len);
		}
	}
	g_rand_free(rand);
}

/* No result pointer, or no bytes behind a length: -EINVAL, not a crash. */
static void test_robust_bad_args(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(parsers); i++)
		for (size_t f = 0; f < G_N_ELEMENTS(frames); f++) {
			g_assert_cmpint(parsers[i].parse(frames[f].bytes, frames[f].len, true), ==, -EINVAL);
			g_assert_cmpint(parsers[i].parse(NULL, frames[f].len, false), ==, -EINVAL);
			g_assert_cmpint(parsers[i].parse(NULL, 0, true), ==, -EINVAL);
		}
	g_assert_cmpint(miband2_datetime_from_utc(UTC_MIFIT_TRACE, 0, NULL), ==, -EINVAL);
	g_assert_cmpint(miband2_auth_encrypt(NULL, trace_random, (uint8_t[16]){ 0 }), ==, -EINVAL);
	g_assert_cmpint(miband2_auth_encrypt(trace_key, NULL, (uint8_t[16]){ 0 }), ==, -EINVAL);
	g_assert_cmpint(miband2_auth_encrypt(trace_key, trace_random, NULL), ==, -EINVAL);
}

/* ---- Robustness: every builder, every buffer too small ---- */

struct builder {
	const char *name;
	int (*build)(uint8_t *buf, size_t size);
};

static int b_auth_key(uint8_t *buf, size_t size)
{
	return miband2_build_auth_key(buf, size, trace_key);
}

static int b_auth_request(uint8_t *buf, size_t size)
{
	return miband2_build_auth_request(buf, size);
}

static int b_auth_encrypted(uint8_t *buf, size_t size)
{
	return miband2_build_auth_encrypted(buf, size, trace_key, trace_random);
}

static int b_time(uint8_t *buf, size_t size)
{
	return miband2_build_time(buf, size, UTC_MIFIT_TRACE, 12);
}

static int b_timestamp(uint8_t *buf, size_t size)
{
	return miband2_build_timestamp(buf, size, UTC_NEU_REQUEST, -16);
}

static int b_fetch_start(uint8_t *buf, size_t size)
{
	return miband2_build_fetch_start(buf, size, UTC_APPENDIX_B, 4);
}

static int b_fetch_go(uint8_t *buf, size_t size)
{
	return miband2_build_fetch_go(buf, size);
}

static int b_fetch_ack(uint8_t *buf, size_t size)
{
	return miband2_build_fetch_ack(buf, size);
}

static int b_hr_control(uint8_t *buf, size_t size)
{
	return miband2_build_hr_control(buf, size, MIBAND2_HR_MODE_MANUAL, true);
}

static int b_hr_interval(uint8_t *buf, size_t size)
{
	return miband2_build_hr_interval(buf, size, 30);
}

static int b_hr_keepalive(uint8_t *buf, size_t size)
{
	return miband2_build_hr_keepalive(buf, size);
}

static int b_alert_level(uint8_t *buf, size_t size)
{
	return miband2_build_alert_level(buf, size, MIBAND2_ALERT_LEVEL_VIBRATE);
}

static int b_vibration(uint8_t *buf, size_t size)
{
	return miband2_build_vibration(buf, size, 300, 600, 3);
}

static int b_new_alert_sms(uint8_t *buf, size_t size)
{
	return miband2_build_new_alert(buf, size, MIBAND2_ALERT_CATEGORY_SMS, 1, 0, "αβγδεζηθι", 18);
}

static int b_new_alert_icon(uint8_t *buf, size_t size)
{
	return miband2_build_new_alert(buf, size, MIBAND2_ALERT_CATEGORY_CUSTOM, 1, MIBAND2_ICON_APP, "app", 3);
}

static int b_config_visible(uint8_t *buf, size_t size)
{
	return miband2_build_config_visible(buf, size, true);
}

static int b_config_date_display(uint8_t *buf, size_t size)
{
	return miband2_build_config_date_display(buf, size, true);
}

static int b_config_time_format(uint8_t *buf, size_t size)
{
	return miband2_build_config_time_format(buf, size, true);
}

static int b_config_display_items(uint8_t *buf, size_t size)
{
	return miband2_build_config_display_items(buf, size, MIBAND2_DISPLAY_ITEM_STEPS);
}

static int b_config_factory_reset(uint8_t *buf, size_t size)
{
	return miband2_build_config_factory_reset(buf, size);
}

static int b_reboot(uint8_t *buf, size_t size)
{
	return miband2_build_reboot(buf, size);
}

static const struct builder builders[] = {
	{ "auth-key", b_auth_key },
	{ "auth-request", b_auth_request },
	{ "auth-encrypted", b_auth_encrypted },
	{ "time", b_time },
	{ "timestamp", b_timestamp },
	{ "fetch-start", b_fetch_start },
	{ "fetch-go", b_fetch_go },
	{ "fetch-ack", b_fetch_ack },
	{ "hr-control", b_hr_control },
	{ "hr-interval", b_hr_interval },
	{ "hr-keepalive", b_hr_keepalive },
	{ "alert-level", b_alert_level },
	{ "vibration", b_vibration },
	{ "new-alert-sms", b_new_alert_sms },
	{ "new-alert-icon", b_new_alert_icon },
	{ "config-visible", b_config_visible },
	{ "config-date-display", b_config_date_display },
	{ "config-time-format", b_config_time_format },
	{ "config-display-items", b_config_display_items },
	{ "config-factory-reset", b_config_factory_reset },
	{ "reboot", b_reboot },
};

/* Each builder: its full length fits one write and an exact heap block; every smaller size and a NULL buffer
 * are -EINVAL, and nothing is written past size. */
static void test_robust_builders(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(builders); i++) {
		uint8_t buf[MIBAND2_WRITE_MAX + 8];
		int n = builders[i].build(buf, sizeof(buf));
		g_autofree uint8_t *exact = NULL;

		if (n <= 0 || n > MIBAND2_WRITE_MAX)
			g_error("%s: %d", builders[i].name, n);
		exact = g_malloc((size_t)n);
		g_assert_cmpint(builders[i].build(exact, (size_t)n), ==, n);
		g_assert_cmpmem(exact, (size_t)n, buf, (size_t)n);
		g_assert_cmpint(builders[i].build(NULL, sizeof(buf)), ==, -EINVAL);
		for (size_t size = 0; size < (size_t)n; size++) {
			memset(buf, 0xa5, sizeof(buf));
			if (builders[i].build(buf, size) != -EINVAL)
				g_error("%s: size %zu accepted", builders[i].name, size);
			for (size_t j = size; j < sizeof(buf); j++)
				g_assert_cmpuint(buf[j], ==, 0xa5);
		}
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/miband2/auth/aes-vectors", test_auth_aes_vectors);
	g_test_add_func("/miband2/auth/build-key", test_auth_build_key);
	g_test_add_func("/miband2/auth/build-request", test_auth_build_request);
	g_test_add_func("/miband2/auth/build-encrypted", test_auth_build_encrypted);
	g_test_add_func("/miband2/auth/parse-replies", test_auth_parse_replies);
	g_test_add_func("/miband2/auth/parse-unknown-status", test_auth_parse_unknown_status);
	g_test_add_func("/miband2/auth/parse-rejects", test_auth_parse_rejects);
	g_test_add_func("/miband2/time/build-mifit-trace", test_time_build_mifit_trace);
	g_test_add_func("/miband2/time/parse-mifit-trace", test_time_parse_mifit_trace);
	g_test_add_func("/miband2/time/day-of-week", test_time_day_of_week);
	g_test_add_func("/miband2/time/negative-tz", test_time_negative_tz);
	g_test_add_func("/miband2/time/build-range", test_time_build_range);
	g_test_add_func("/miband2/time/parse-rejects", test_time_parse_rejects);
	g_test_add_func("/miband2/timestamp/neu", test_timestamp_neu);
	g_test_add_func("/miband2/timestamp/round-trip", test_timestamp_round_trip);
	g_test_add_func("/miband2/info/parse", test_info_parse);
	g_test_add_func("/miband2/version/parse", test_version_parse);
	g_test_add_func("/miband2/version/parse-rejects", test_version_parse_rejects);
	g_test_add_func("/miband2/version/compare", test_version_compare);
	g_test_add_func("/miband2/battery/sample-commit", test_battery_sample_commit);
	g_test_add_func("/miband2/battery/sample-huami", test_battery_sample_huami);
	g_test_add_func("/miband2/battery/bad-fields", test_battery_bad_fields);
	g_test_add_func("/miband2/steps/long", test_steps_long);
	g_test_add_func("/miband2/steps/short", test_steps_short);
	g_test_add_func("/miband2/steps/lengths", test_steps_lengths);
	g_test_add_func("/miband2/fetch/build-start", test_fetch_build_start);
	g_test_add_func("/miband2/fetch/build-go-ack", test_fetch_build_go_ack);
	g_test_add_func("/miband2/fetch/parse-started", test_fetch_parse_started);
	g_test_add_func("/miband2/fetch/parse-status", test_fetch_parse_status);
	g_test_add_func("/miband2/fetch/parse-rejects", test_fetch_parse_rejects);
	g_test_add_func("/miband2/activity/gb-691", test_activity_gb_691);
	g_test_add_func("/miband2/activity/appendix-b", test_activity_appendix_b);
	g_test_add_func("/miband2/activity/lengths", test_activity_lengths);
	g_test_add_func("/miband2/hr/build", test_hr_build);
	g_test_add_func("/miband2/hr/parse", test_hr_parse);
	g_test_add_func("/miband2/alert/level", test_alert_level);
	g_test_add_func("/miband2/alert/vibration", test_alert_vibration);
	g_test_add_func("/miband2/alert/new-alert-header", test_alert_new_alert_header);
	g_test_add_func("/miband2/alert/new-alert-text-limit", test_alert_new_alert_text_limit);
	g_test_add_func("/miband2/alert/text-chunk-greek", test_alert_text_chunk_greek);
	g_test_add_func("/miband2/alert/utf8-invalid", test_alert_utf8_invalid);
	g_test_add_func("/miband2/alert/utf8-oracle", test_alert_utf8_oracle);
	g_test_add_func("/miband2/event/parse", test_event_parse);
	g_test_add_func("/miband2/config/builders", test_config_builders);
	g_test_add_func("/miband2/config/display-items", test_config_display_items);
	g_test_add_func("/miband2/reboot-and-reset", test_reboot_and_reset);
	g_test_add_func("/miband2/robust/random", test_robust_random);
	g_test_add_func("/miband2/robust/truncated", test_robust_truncated);
	g_test_add_func("/miband2/robust/corrupt", test_robust_corrupt);
	g_test_add_func("/miband2/robust/bad-args", test_robust_bad_args);
	g_test_add_func("/miband2/robust/builders", test_robust_builders);
	return g_test_run();
}
