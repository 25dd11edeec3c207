/* Fuzzes the Mi Band 2 codec: the input goes to every parser, as a band's notification would, and then, read
 * as parameters, through the time builders and back. Whatever the bytes, a parser answers 0 or -EBADMSG, reads
 * nothing outside them (ASan) and returns a result consistent with them; a check that fails aborts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "miband2.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

static void check_parsed(int r)
{
	CHECK(r == 0 || r == -EBADMSG);
}

/* An accepted timestamp is one the builder writes back byte for byte. */
static void check_timestamp(const uint8_t *bytes, const struct miband2_datetime *t)
{
	uint8_t back[8];

	CHECK(miband2_build_timestamp(back, sizeof(back), t->utc, t->tz) == 8);
	CHECK(memcmp(back, bytes, 8) == 0);
}

static void fuzz_auth_and_time(const uint8_t *data, size_t size)
{
	struct miband2_auth_reply auth;
	struct miband2_time time;
	struct miband2_datetime stamp;
	int r;

	r = miband2_parse_auth_reply(data, size, &auth);
	check_parsed(r);
	CHECK(r < 0 || size == (auth.result == MIBAND2_AUTH_RESULT_RANDOM ? 19u : 3u));
	r = miband2_parse_time(data, size, &time);
	check_parsed(r);
	CHECK(r < 0 || time.day_of_week <= 7);
	r = miband2_parse_timestamp(data, size, &stamp);
	check_parsed(r);
	if (r == 0)
		check_timestamp(data, &stamp);
}

static void fuzz_info(const uint8_t *data, size_t size)
{
	struct miband2_info info;
	struct miband2_version version;
	int r;

	r = miband2_parse_info(data, size, &info);
	check_parsed(r);
	CHECK(r < 0 || (strlen(info.text) > 0 && strlen(info.text) <= MIBAND2_INFO_MAX));
	r = miband2_parse_version(data, size, &version);
	check_parsed(r);
	if (r == 0) {
		CHECK(miband2_version_compare(&version, &version) == 0);
		(void)miband2_version_has_text(&version);
	}
}

static void fuzz_sensors(const uint8_t *data, size_t size)
{
	struct miband2_battery battery;
	struct miband2_steps steps;
	struct miband2_heart_rate hr;
	struct miband2_device_event event;
	int r;

	r = miband2_parse_battery(data, size, &battery);
	check_parsed(r);
	CHECK(r < 0 || battery.level <= 100);
	r = miband2_parse_steps(data, size, &steps);
	check_parsed(r);
	CHECK(r < 0 || steps.has_totals == (size == 13));
	check_parsed(miband2_parse_heart_rate(data, size, &hr));
	r = miband2_parse_device_event(data, size, &event);
	check_parsed(r);
	CHECK(r < 0 || (event.code == data[0] && miband2_event_name(event.event)));
}

static void fuzz_history(const uint8_t *data, size_t size)
{
	struct miband2_fetch_reply fetch;
	struct miband2_activity activity;
	int r;

	r = miband2_parse_fetch_reply(data, size, &fetch);
	check_parsed(r);
	if (r == 0 && fetch.result == MIBAND2_FETCH_RESULT_STARTED && fetch.count > 0)
		check_timestamp(data + 7, &fetch.first);
	r = miband2_parse_activity(data, size, &activity);
	check_parsed(r);
	CHECK(r < 0 || (activity.n_samples >= 1 && activity.n_samples <= MIBAND2_SAMPLES_MAX &&
	                1 + 4 * (size_t)activity.n_samples == size));
}

/* The input as text: valid UTF-8 splits into valid chunks that cover it, each one a New Alert write. */
static void fuzz_text(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	int valid = miband2_utf8_check(text, size);
	uint8_t buf[MIBAND2_WRITE_MAX];

	CHECK(valid == 0 || valid == -EINVAL);
	for (size_t off = 0; off < size;) {
		int n = miband2_text_chunk(text + off, size - off, MIBAND2_TEXT_CHUNK);

		if (valid < 0) {
			CHECK(n == -EINVAL);
			break;
		}
		CHECK(n > 0 && n <= MIBAND2_TEXT_CHUNK && miband2_utf8_check(text + off, (size_t)n) == 0);
		CHECK(miband2_build_new_alert(buf, sizeof(buf), MIBAND2_ALERT_CATEGORY_SMS, 1, 0, text + off,
		                              (size_t)n) == 2 + n);
		off += (size_t)n;
	}
}

/* Eight bytes as an instant, one as a zone: what the builders accept, the parsers read back. */
static void fuzz_builders(const uint8_t *data, size_t size)
{
	uint8_t buf[MIBAND2_WRITE_MAX];
	struct miband2_time time;
	struct miband2_datetime stamp;
	int64_t utc;
	int tz;

	if (size < 9)
		return;
	memcpy(&utc, data, sizeof(utc));
	tz = (int8_t)data[8];
	if (miband2_build_time(buf, sizeof(buf), utc, tz) == 11) {
		CHECK(miband2_parse_time(buf, 11, &time) == 0);
		CHECK(time.when.utc == utc && time.when.tz == tz && time.day_of_week >= 1);
	}
	if (miband2_build_fetch_start(buf, sizeof(buf), utc, tz) == 10) {
		CHECK(miband2_parse_timestamp(buf + 2, 8, &stamp) == 0);
		CHECK(stamp.utc == utc - utc % 60 && stamp.tz == tz);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_auth_and_time(data, size);
	fuzz_info(data, size);
	fuzz_sensors(data, size);
	fuzz_history(data, size);
	fuzz_text(data, size);
	fuzz_builders(data, size);
	return 0;
}
