/* Tests of the simulated Mi Band 2, written from band.h's contract and ../shared/miband2-protocol.md (cited
 * as §N), never from band.c: the byte strings come from the document and the AES answers are computed here
 * with OpenSSL, so the model's own crypto is not what checks it. Every test builds its own band in a fixture
 * and frees it, so AddressSanitizer sees every leak. */
#include <errno.h>
#include <glib.h>
#include <openssl/evp.h>
#include <string.h>

#include "band-hooks.h"
#include "band.h"

/* How long to wait for something the band should send. Generous: a passing test never waits this long. */
#define WAIT_MS 3000

static const uint8_t LEGACY_KEY[16] = { 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
                                        0x38, 0x39, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45 }; /* §4.2 */
static const uint8_t MIFIT_KEY[16] = { 0xd8, 0x8c, 0xa0, 0xfe, 0xf5, 0x04, 0xcc, 0x82,
                                       0x73, 0x5f, 0x15, 0xfe, 0xb6, 0xbf, 0x9b, 0x1f }; /* §4.5 */
static const uint8_t TRACE_CHALLENGE[16] = { 0x68, 0x9c, 0x1d, 0xd5, 0x8a, 0x66, 0x6f, 0x0f,
                                             0x8c, 0x90, 0xa1, 0xa9, 0x6e, 0x1a, 0xb3, 0xa3 }; /* §4.5 */
static const uint8_t COUNTING_CHALLENGE[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const uint8_t OTHER_KEY[16] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                       0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };

/* ---- Hooks: a clock the test moves, a challenge the test picks ---- */

static int64_t fake_now_us;

static int64_t fake_now(void)
{
	return fake_now_us;
}

static uint8_t forced_challenge[16];

static void force_challenge(uint8_t ret_challenge[16])
{
	memcpy(ret_challenge, forced_challenge, sizeof forced_challenge);
}

/* ---- The fixture: one band and everything it told the "front" ---- */

struct note {
	enum sim_chr chr;
	GByteArray *value;
	int64_t at_us; /* monotonic, when the front received it */
};

struct ctx {
	struct sim_band_config cfg; /* a test edits it before start() */
	struct sim_band *band;
	GPtrArray *notes;  /* struct note *, in arrival order */
	guint seen;        /* notes before this index have been checked */
	GPtrArray *events; /* "what" or "what detail" */
	unsigned drops, adverts;
	bool connected_at_drop;
	bool in_front; /* inside a front-to-model call, where the band must not call the front back */
	int64_t (*saved_now)(void);
	void (*saved_challenge)(uint8_t ret_challenge[16]);
	struct sim_band_timing saved_timing;
};

static void note_free(gpointer p)
{
	struct note *n = p;

	g_byte_array_unref(n->value);
	g_free(n);
}

static void on_notify(struct sim_band *band, enum sim_chr chr, const uint8_t *value, size_t len, void *user_data)
{
	struct ctx *c = user_data;
	struct note *n = g_new0(struct note, 1);

	/* band.h: only from the loop, only while the band's own CCCD for chr is on; §3: one ATT payload. */
	g_assert_false(c->in_front);
	g_assert_cmpint(g_main_depth(), >, 0);
	g_assert_true(sim_band_cccd(band, chr));
	g_assert_cmpuint(len, <=, 20);
	n->chr = chr;
	n->value = g_byte_array_sized_new((guint)len);
	g_byte_array_append(n->value, value, (guint)len);
	n->at_us = g_get_monotonic_time();
	g_ptr_array_add(c->notes, n);
}

static void on_drop(struct sim_band *band, void *user_data)
{
	struct ctx *c = user_data;

	g_assert_false(c->in_front);
	c->drops++;
	/* band.h: the model has already forgotten the link when it says it dropped it. */
	c->connected_at_drop = sim_band_connected(band);
}

static void on_advert(struct sim_band *band, void *user_data)
{
	struct ctx *c = user_data;

	(void)band;
	g_assert_false(c->in_front);
	c->adverts++;
}

static void on_event(struct sim_band *band, const char *what, const char *detail, void *user_data)
{
	struct ctx *c = user_data;

	(void)band;
	g_ptr_array_add(c->events, detail ? g_strdup_printf("%s %s", what, detail) : g_strdup(what));
}

static const struct sim_band_ops test_ops = {
	.notify = on_notify,
	.drop_link = on_drop,
	.advert_changed = on_advert,
	.event = on_event,
};

static void setup(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	sim_band_config_init(&c->cfg);
	c->notes = g_ptr_array_new_with_free_func(note_free);
	c->events = g_ptr_array_new_with_free_func(g_free);
	c->saved_now = sim_band_hook_now_us;
	c->saved_challenge = sim_band_hook_challenge;
	c->saved_timing = sim_band_timing;
}

static void teardown(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	if (c->band)
		sim_band_free(c->band);
	/* A source the model left behind would run on a freed band here, where ASan sees it. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	sim_band_hook_now_us = c->saved_now;
	sim_band_hook_challenge = c->saved_challenge;
	sim_band_timing = c->saved_timing;
	g_ptr_array_unref(c->notes);
	g_ptr_array_unref(c->events);
}

static void start(struct ctx *c)
{
	c->band = sim_band_new(&c->cfg, &test_ops, c);
	g_assert_nonnull(c->band);
}

/* The band's sense of time stops and moves only when the test says; call before start(). */
static void freeze_time(void)
{
	fake_now_us = g_get_monotonic_time();
	sim_band_hook_now_us = fake_now;
}

static void advance_ms(int64_t ms)
{
	fake_now_us += ms * 1000;
}

static void set_challenge(const uint8_t challenge[16])
{
	memcpy(forced_challenge, challenge, sizeof forced_challenge);
	sim_band_hook_challenge = force_challenge;
}

/* ---- The front's calls: the band answers them later, from the loop, never from inside ---- */

static void link_up(struct ctx *c)
{
	c->in_front = true;
	sim_band_link_up(c->band);
	c->in_front = false;
}

static void link_down(struct ctx *c)
{
	c->in_front = true;
	sim_band_link_down(c->band);
	c->in_front = false;
}

static void set_cccd(struct ctx *c, enum sim_chr chr, bool enabled)
{
	c->in_front = true;
	sim_band_set_cccd(c->band, chr, enabled);
	c->in_front = false;
}

static int front_write(struct ctx *c, enum sim_chr chr, const uint8_t *p, size_t n, bool with_response)
{
	c->in_front = true;
	int ret = sim_band_write(c->band, chr, p, n, with_response);
	c->in_front = false;
	return ret;
}

static int front_read(struct ctx *c, enum sim_chr chr, GByteArray *ret_value)
{
	c->in_front = true;
	int ret = sim_band_read(c->band, chr, ret_value);
	c->in_front = false;
	return ret;
}

/* ---- Bytes ---- */

static GByteArray *hex(const char *s)
{
	GByteArray *b = g_byte_array_new();

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		int hi = g_ascii_xdigit_value(s[0]), lo = hi >= 0 ? g_ascii_xdigit_value(s[1]) : -1;
		g_assert_true(hi >= 0 && lo >= 0);
		uint8_t byte = (uint8_t)(hi << 4 | lo);
		g_byte_array_append(b, &byte, 1);
		s += 2;
	}
	return b;
}

static char *to_hex(const uint8_t *p, size_t n)
{
	GString *s = g_string_new(NULL);

	for (size_t i = 0; i < n; i++)
		g_string_append_printf(s, "%s%02x", i ? " " : "", p[i]);
	return g_string_free(s, FALSE);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* "00000009: 10 03 01": the characteristic's short UUID and the value, so a failed comparison says both. */
static char *describe(enum sim_chr chr, const uint8_t *p, size_t n)
{
	g_autofree char *h = to_hex(p, n);

	return g_strdup_printf("%.8s: %s", sim_gatt_chr(chr)->uuid, h);
}

static char *describe_note(const struct note *n)
{
	return describe(n->chr, n->value->data, n->value->len);
}

static char *describe_hex(enum sim_chr chr, const char *h)
{
	g_autoptr(GByteArray) b = hex(h);

	return describe(chr, b->data, b->len);
}

static void aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;

	g_assert_nonnull(x);
	g_assert_cmpint(EVP_EncryptInit_ex(x, EVP_aes_128_ecb(), NULL, key, NULL), ==, 1);
	EVP_CIPHER_CTX_set_padding(x, 0);
	g_assert_cmpint(EVP_EncryptUpdate(x, out, &n, in, 16), ==, 1);
	g_assert_cmpint(EVP_EncryptFinal_ex(x, out + n, &m), ==, 1);
	g_assert_cmpint(n + m, ==, 16);
	EVP_CIPHER_CTX_free(x);
}

/* ---- Time values ---- */

static int64_t utc_of(int y, int mo, int d, int h, int mi, int s)
{
	g_autoptr(GDateTime) t = g_date_time_new_utc(y, mo, d, h, mi, s);

	return g_date_time_to_unix(t);
}

/* The 8-byte Huami timestamp of §6.2, in local time (utc + tz quarter hours). */
static void huami_ts(int64_t utc, int8_t tz, uint8_t out[8])
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(utc + (int64_t)tz * 900);
	int year = g_date_time_get_year(t);

	out[0] = (uint8_t)(year & 0xff);
	out[1] = (uint8_t)(year >> 8);
	out[2] = (uint8_t)g_date_time_get_month(t);
	out[3] = (uint8_t)g_date_time_get_day_of_month(t);
	out[4] = (uint8_t)g_date_time_get_hour(t);
	out[5] = (uint8_t)g_date_time_get_minute(t);
	out[6] = (uint8_t)g_date_time_get_second(t);
	out[7] = (uint8_t)tz;
}

/* The UTC second a Huami timestamp stands for. */
static int64_t from_huami_ts(const uint8_t b[8])
{
	int64_t local = utc_of(b[0] | b[1] << 8, b[2], b[3], b[4], b[5], b[6]);

	return local - (int64_t)(int8_t)b[7] * 900;
}

/* ---- The main loop ---- */

typedef bool (*pred_fn)(struct ctx *c);

static gboolean on_deadline(gpointer user_data)
{
	*(bool *)user_data = true;
	return G_SOURCE_REMOVE;
}

/* Runs the thread-default loop until done(c) or ms pass; done NULL waits the whole time. */
static bool wait_until(struct ctx *c, pred_fn done, unsigned ms)
{
	bool expired = false;
	guint id = g_timeout_add(ms, on_deadline, &expired);

	while (!(done && done(c)) && !expired)
		g_main_context_iteration(NULL, TRUE);
	if (!expired)
		g_source_remove(id);
	return done && done(c);
}

static void settle(struct ctx *c, unsigned ms)
{
	wait_until(c, NULL, ms);
}

static bool has_unseen(struct ctx *c)
{
	return c->notes->len > c->seen;
}

static bool has_dropped(struct ctx *c)
{
	return c->drops > 0;
}

static bool is_advertising(struct ctx *c)
{
	return sim_band_advertising(c->band);
}

static bool is_silent(struct ctx *c)
{
	return !sim_band_advertising(c->band);
}

static const struct note *next_note(struct ctx *c)
{
	wait_until(c, has_unseen, WAIT_MS);
	g_assert_cmpuint(c->notes->len, >, c->seen); /* else: no notification arrived in WAIT_MS */
	return g_ptr_array_index(c->notes, c->seen++);
}

/* The next notification is exactly h on chr. */
static void expect(struct ctx *c, enum sim_chr chr, const char *h)
{
	g_autofree char *want = describe_hex(chr, h);
	g_autofree char *got = describe_note(next_note(c));

	g_assert_cmpstr(got, ==, want);
}

/* Nothing more arrives within ms. */
static void expect_none(struct ctx *c, unsigned ms)
{
	settle(c, ms);
	if (c->notes->len > c->seen) {
		g_autofree char *got = describe_note(g_ptr_array_index(c->notes, c->seen));
		g_assert_cmpstr(got, ==, "(nothing)");
	}
}

/* The next notification is on chr, len bytes long and starts with prefix; returned for the rest. */
static const struct note *expect_prefix(struct ctx *c, enum sim_chr chr, const char *prefix, guint len)
{
	const struct note *n = next_note(c);
	g_autoptr(GByteArray) p = hex(prefix);

	if (n->chr != chr || n->value->len != len || memcmp(n->value->data, p->data, p->len) != 0) {
		g_autofree char *got = describe_note(n);
		g_autofree char *head = describe_hex(chr, prefix);
		g_autofree char *want = g_strdup_printf("%s ... (%u bytes)", head, len);
		g_assert_cmpstr(got, ==, want);
	}
	return n;
}

static bool has_event(struct ctx *c, const char *what)
{
	size_t len = strlen(what);

	for (guint i = 0; i < c->events->len; i++) {
		const char *e = g_ptr_array_index(c->events, i);
		if (strncmp(e, what, len) == 0 && (e[len] == '\0' || e[len] == ' '))
			return true;
	}
	return false;
}

static struct sim_band_status status_of(struct ctx *c)
{
	struct sim_band_status st;

	sim_band_status(c->band, &st);
	return st;
}

/* ---- Reads and writes, as a front does them ---- */

/* A Write Request where the characteristic takes one, else a Write Command: what a client that reads Flags sends. */
static int wr(struct ctx *c, enum sim_chr chr, const char *h)
{
	g_autoptr(GByteArray) b = hex(h);

	return front_write(c, chr, b->data, b->len, sim_gatt_takes_request(chr));
}

static void wr_ok(struct ctx *c, enum sim_chr chr, const char *h)
{
	g_assert_cmpint(wr(c, chr, h), ==, SIM_ATT_OK);
}

static void wr_bytes(struct ctx *c, enum sim_chr chr, const uint8_t *p, size_t n)
{
	g_assert_cmpint(front_write(c, chr, p, n, sim_gatt_takes_request(chr)), ==, SIM_ATT_OK);
}

static GByteArray *rd(struct ctx *c, enum sim_chr chr)
{
	GByteArray *b = g_byte_array_new();

	g_assert_cmpint(front_read(c, chr, b), ==, SIM_ATT_OK);
	return b;
}

static void expect_read(struct ctx *c, enum sim_chr chr, const char *h)
{
	g_autoptr(GByteArray) b = rd(c, chr);
	g_autofree char *got = describe(chr, b->data, b->len);
	g_autofree char *want = describe_hex(chr, h);

	g_assert_cmpstr(got, ==, want);
}

static void expect_read_str(struct ctx *c, enum sim_chr chr, const char *want)
{
	g_autoptr(GByteArray) b = rd(c, chr);
	g_autofree char *got = g_strndup((const char *)b->data, b->len);

	g_assert_cmpstr(got, ==, want);
}

/* ---- Authentication helpers (§4.3) ---- */

/* W `02 <flags>`, returns R from `10 02 01 R`. */
static void request_challenge(struct ctx *c, uint8_t flags, uint8_t ret_r[16])
{
	const uint8_t cmd[2] = { 0x02, flags };

	g_assert_cmpint(front_write(c, SIM_CHR_AUTH, cmd, sizeof cmd, false), ==, SIM_ATT_OK);
	const struct note *n = expect_prefix(c, SIM_CHR_AUTH, "10 02 01", 19);
	memcpy(ret_r, n->value->data + 3, 16);
}

/* W `03 <flags> AES(key, r)`; the band's answer is left for the caller. */
static void send_answer(struct ctx *c, uint8_t flags, const uint8_t key[16], const uint8_t r[16])
{
	uint8_t cmd[18] = { 0x03, flags };

	aes_ecb(key, r, cmd + 2);
	g_assert_cmpint(front_write(c, SIM_CHR_AUTH, cmd, sizeof cmd, false), ==, SIM_ATT_OK);
}

/* W `01 08 key` (the band then waits for a tap). */
static void send_key(struct ctx *c, const uint8_t key[16])
{
	uint8_t cmd[18] = { 0x01, 0x08 };

	memcpy(cmd + 2, key, 16);
	g_assert_cmpint(front_write(c, SIM_CHR_AUTH, cmd, sizeof cmd, false), ==, SIM_ATT_OK);
}

/* Link up if needed, CCCD of 0009 on, then the reconnection flow of §4.4 with key. */
static void authenticate_with(struct ctx *c, const uint8_t key[16])
{
	uint8_t r[16];

	if (!sim_band_connected(c->band))
		link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r);
	send_answer(c, 0x08, key, r);
	expect(c, SIM_CHR_AUTH, "10 03 01");
	g_assert_true(status_of(c).authenticated);
}

static void authenticate(struct ctx *c)
{
	authenticate_with(c, LEGACY_KEY);
}

/* An authenticated band with the CCCD of chr on. */
static void start_authenticated(struct ctx *c, enum sim_chr chr)
{
	start(c);
	authenticate(c);
	set_cccd(c, chr, true);
}

/* ======================================= GATT table (§2.2) ======================================= */

static void test_gatt_table(G_GNUC_UNUSED struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	size_t n = 0;
	const struct sim_gatt_service *svc = sim_gatt_services(&n);

	g_assert_cmpuint(n, >=, 7);
	g_assert_cmpstr(svc[0].uuid, ==, "00001800-0000-1000-8000-00805f9b34fb"); /* band.h: 1800 first */
	for (int id = 0; id < SIM_CHR_COUNT; id++) {
		const struct sim_gatt_chr *chr = sim_gatt_chr((enum sim_chr)id);
		const struct sim_gatt_service *in = sim_gatt_chr_service((enum sim_chr)id);
		g_assert_cmpint(chr->id, ==, id);
		g_assert_cmpuint(chr->handle, >, in->handle);
		g_assert_cmpuint(chr->value_handle, <=, in->end_handle);
		int found = sim_gatt_chr_by_uuid(chr->uuid);
		g_assert_cmpint(found, >=, 0); /* the first match: two 2A04s exist */
		g_assert_cmpstr(sim_gatt_chr((enum sim_chr)found)->uuid, ==, chr->uuid);
	}
	/* 2A2B sits in FEE0 and auth in FEE1 (§2.2); lookups ignore case. */
	g_assert_cmpstr(sim_gatt_chr_service(SIM_CHR_TIME)->uuid, ==, "0000fee0-0000-1000-8000-00805f9b34fb");
	g_assert_cmpstr(sim_gatt_chr_service(SIM_CHR_AUTH)->uuid, ==, "0000fee1-0000-1000-8000-00805f9b34fb");
	g_assert_cmpint(sim_gatt_chr_by_uuid("00000009-0000-3512-2118-0009AF100700"), ==, SIM_CHR_AUTH);
	g_assert_cmpint(sim_gatt_chr_by_uuid("00002a04-0000-1000-8000-00805f9b34fb"), ==, SIM_CHR_PPCP);
	g_assert_cmpint(sim_gatt_chr_by_uuid("0000ffff-0000-1000-8000-00805f9b34fb"), ==, -1);
}

/* §16.1: these must be able to notify. */
static void test_gatt_notify_flags(G_GNUC_UNUSED struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const enum sim_chr notifying[] = { SIM_CHR_FETCH, SIM_CHR_ACTIVITY, SIM_CHR_BATTERY, SIM_CHR_STEPS,
	                                          SIM_CHR_EVENT, SIM_CHR_CONFIG,   SIM_CHR_AUTH,    SIM_CHR_HR_MEAS,
	                                          SIM_CHR_TIME };

	for (size_t i = 0; i < G_N_ELEMENTS(notifying); i++) {
		const struct sim_gatt_chr *chr = sim_gatt_chr(notifying[i]);
		bool has_cccd = false;
		for (size_t d = 0; d < chr->n_descs; d++)
			has_cccd |= strcmp(chr->descs[d].uuid, "00002902-0000-1000-8000-00805f9b34fb") == 0;
		g_test_message("%s", chr->uuid);
		g_assert_true(chr->props & SIM_PROP_NOTIFY);
		g_assert_true(has_cccd);
	}
}

/* ======================================= Authentication (§4) ======================================= */

/* Our OpenSSL helper reproduces every row of the §4.5 table, so it can judge the band. */
static void test_aes_vectors(G_GNUC_UNUSED struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t out[16];
	g_autofree char *a = NULL, *b = NULL, *d = NULL;

	aes_ecb(MIFIT_KEY, TRACE_CHALLENGE, out);
	a = to_hex(out, 16);
	g_assert_cmpstr(a, ==, "ce 1c 01 35 db 39 e6 1f 1a 27 01 2f b9 07 df 3b");
	aes_ecb(LEGACY_KEY, TRACE_CHALLENGE, out);
	b = to_hex(out, 16);
	g_assert_cmpstr(b, ==, "c9 56 e6 6c 12 75 35 94 58 66 6a 8d cb f7 48 45");
	aes_ecb(LEGACY_KEY, COUNTING_CHALLENGE, out);
	d = to_hex(out, 16);
	g_assert_cmpstr(d, ==, "f5 00 34 94 34 6b ff ac 69 99 0b f7 f3 17 e5 db");
}

/* §4.5 row 2, typed in rather than computed: legacy key, flags 08. */
static void test_auth_legacy_vector(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	set_challenge(TRACE_CHALLENGE);
	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	wr_ok(c, SIM_CHR_AUTH, "02 08");
	expect(c, SIM_CHR_AUTH, "10 02 01 68 9c 1d d5 8a 66 6f 0f 8c 90 a1 a9 6e 1a b3 a3");
	wr_ok(c, SIM_CHR_AUTH, "03 08 c9 56 e6 6c 12 75 35 94 58 66 6a 8d cb f7 48 45");
	expect(c, SIM_CHR_AUTH, "10 03 01");
	g_assert_true(status_of(c).authenticated);
	g_assert_true(has_event(c, "authenticated"));
}

/* The Mi Fit trace of §4.5 byte for byte, as Write Commands with flags 00: its new key (tapped), then the
 * challenge and answer under that key. */
static void test_auth_mifit_trace(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const char *const trace[][2] = {
		{ "01 00 d8 8c a0 fe f5 04 cc 82 73 5f 15 fe b6 bf 9b 1f", "10 01 01" },
		{ "02 00", "10 02 01 68 9c 1d d5 8a 66 6f 0f 8c 90 a1 a9 6e 1a b3 a3" },
		{ "03 00 ce 1c 01 35 db 39 e6 1f 1a 27 01 2f b9 07 df 3b", "10 03 01" },
	};

	set_challenge(TRACE_CHALLENGE);
	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	for (size_t i = 0; i < G_N_ELEMENTS(trace); i++) {
		g_autoptr(GByteArray) w = hex(trace[i][0]);
		g_assert_cmpint(front_write(c, SIM_CHR_AUTH, w->data, w->len, false), ==, SIM_ATT_OK);
		if (i == 0)
			sim_band_tap(c->band); /* "(after tap)" */
		expect(c, SIM_CHR_AUTH, trace[i][1]);
	}
	g_assert_true(status_of(c).authenticated);
	g_assert_true(memcmp(status_of(c).key, MIFIT_KEY, 16) == 0);
}

/* §4.3/§4.6: flags 00 and 08 alike, on the band's own random challenges; row 3 of §4.5 with flags 00. */
static void test_auth_flags(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t r[16];

	set_challenge(COUNTING_CHALLENGE);
	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	wr_ok(c, SIM_CHR_AUTH, "02 00");
	expect(c, SIM_CHR_AUTH, "10 02 01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f");
	wr_ok(c, SIM_CHR_AUTH, "03 00 f5 00 34 94 34 6b ff ac 69 99 0b f7 f3 17 e5 db");
	expect(c, SIM_CHR_AUTH, "10 03 01");

	link_down(c);
	sim_band_hook_challenge = c->saved_challenge; /* the band's own random numbers now */
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r);
	send_answer(c, 0x00, LEGACY_KEY, r); /* mixing the flags does not matter either */
	expect(c, SIM_CHR_AUTH, "10 03 01");
}

/* §4.6: every 02 brings a new R, and only the answer to the latest one counts. */
static void test_auth_fresh_challenge(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t r1[16], r2[16];

	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r1);
	request_challenge(c, 0x08, r2);
	g_assert_true(memcmp(r1, r2, 16) != 0);
	send_answer(c, 0x08, LEGACY_KEY, r2);
	expect(c, SIM_CHR_AUTH, "10 03 01");
}

/* §4.3: a wrong answer is 10 03 04; the link stays unauthenticated but may try again. */
static void test_auth_wrong_answer(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t r[16];

	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r);
	send_answer(c, 0x08, OTHER_KEY, r);
	expect(c, SIM_CHR_AUTH, "10 03 04");
	g_assert_false(status_of(c).authenticated);
	g_assert_true(has_event(c, "auth-failed"));
	g_assert_false(has_event(c, "authenticated"));
	authenticate(c);
}

/* sim_band_set_refuse_auth: even the right answer gets 10 03 04, until turned off. */
static void test_auth_refused(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t r[16];

	start(c);
	sim_band_set_refuse_auth(c->band, true);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r);
	send_answer(c, 0x08, LEGACY_KEY, r);
	expect(c, SIM_CHR_AUTH, "10 03 04");
	g_assert_false(status_of(c).authenticated);
	sim_band_set_refuse_auth(c->band, false);
	authenticate(c);
}

/* §4.4 recovery: re-keyed by another phone → 10 03 04; a new key waits for the tap (no reply before it),
 * the tap stores it (10 01 01), and the new key authenticates. */
static void test_auth_rekey_and_new_key(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t r[16];

	start(c);
	sim_band_rekey(c->band, NULL);
	g_assert_true(memcmp(status_of(c).key, LEGACY_KEY, 16) != 0);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r);
	send_answer(c, 0x08, LEGACY_KEY, r);
	expect(c, SIM_CHR_AUTH, "10 03 04");

	send_key(c, OTHER_KEY);
	expect_none(c, 300);
	g_assert_true(has_event(c, "tap-needed"));
	g_assert_true(status_of(c).awaiting_tap);
	sim_band_tap(c->band);
	expect(c, SIM_CHR_AUTH, "10 01 01");
	g_assert_true(has_event(c, "key-stored"));
	g_assert_false(status_of(c).awaiting_tap);
	g_assert_true(memcmp(status_of(c).key, OTHER_KEY, 16) == 0);
	authenticate_with(c, OTHER_KEY);
}

/* sim_band_rekey with a given key: the band holds exactly it, no tap involved. */
static void test_auth_rekey_given_key(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t r[16];

	start(c);
	sim_band_rekey(c->band, MIFIT_KEY);
	g_assert_true(memcmp(status_of(c).key, MIFIT_KEY, 16) == 0);
	g_assert_true(status_of(c).has_key);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	request_challenge(c, 0x08, r);
	send_answer(c, 0x08, LEGACY_KEY, r);
	expect(c, SIM_CHR_AUTH, "10 03 04");
	authenticate_with(c, MIFIT_KEY);
}

/* cfg.auto_tap_ms: the wearer taps by himself after that long, not at once. */
static void test_auth_auto_tap(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.auto_tap_ms = 300;
	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	send_key(c, OTHER_KEY);
	expect_none(c, 80);
	expect(c, SIM_CHR_AUTH, "10 01 01");
	g_assert_true(memcmp(status_of(c).key, OTHER_KEY, 16) == 0);
	authenticate_with(c, OTHER_KEY);
}

/* key_confirm_timeout_ms without key_timeout_reply: the key is abandoned in silence; a late tap does nothing
 * and the old key still works. */
static void test_auth_key_timeout_silent(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.key_confirm_timeout_ms = 150;
	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	send_key(c, OTHER_KEY);
	expect_none(c, 500);
	g_assert_false(status_of(c).awaiting_tap);
	sim_band_tap(c->band);
	expect_none(c, 200);
	g_assert_true(memcmp(status_of(c).key, LEGACY_KEY, 16) == 0);
	authenticate(c);
}

/* key_timeout_reply: the abandoned key is answered 10 01 02 (§4.3, §4.6), not before the timeout. */
static void test_auth_key_timeout_reply(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.key_confirm_timeout_ms = 300;
	c->cfg.key_timeout_reply = true;
	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	send_key(c, OTHER_KEY);
	expect_none(c, 80);
	expect(c, SIM_CHR_AUTH, "10 01 02");
	g_assert_false(status_of(c).awaiting_tap);
	g_assert_true(memcmp(status_of(c).key, LEGACY_KEY, 16) == 0);
}

/* §4.1/§17.2: without the CCCD of 0009 the reply never arrives. */
static void test_auth_needs_cccd(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	link_up(c);
	wr_ok(c, SIM_CHR_AUTH, "02 08");
	expect_none(c, 300);
	authenticate(c);
}

/* §3: an unauthenticated link is dropped after auth_timeout_ms, by the band, from the loop. */
static void test_unauth_link_dropped(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.auth_timeout_ms = 200;
	start(c);
	int64_t t0 = g_get_monotonic_time();
	link_up(c);
	g_assert_true(sim_band_connected(c->band));
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_cmpint(g_get_monotonic_time() - t0, >=, 180 * 1000);
	g_assert_cmpuint(c->drops, ==, 1);
	g_assert_false(c->connected_at_drop);
	g_assert_false(sim_band_connected(c->band));
}

/* sim_band_set_auth_timeout does the same for a band made with the default. */
static void test_set_auth_timeout(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	sim_band_set_auth_timeout(c->band, 150);
	link_up(c);
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_false(sim_band_connected(c->band));
}

/* Authenticating in time keeps the link. */
static void test_auth_keeps_link(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.auth_timeout_ms = 300;
	start(c);
	authenticate(c);
	settle(c, 600);
	g_assert_cmpuint(c->drops, ==, 0);
	g_assert_true(sim_band_connected(c->band));
}

/* An answer without a challenge of this link does not authenticate, nor does replaying the last link's. */
static void test_auth_no_replay(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const uint8_t zero[16];
	uint8_t r[16];

	start(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	send_answer(c, 0x08, LEGACY_KEY, zero);
	expect(c, SIM_CHR_AUTH, "10 03 04");
	request_challenge(c, 0x08, r);
	send_answer(c, 0x08, LEGACY_KEY, r);
	expect(c, SIM_CHR_AUTH, "10 03 01");
	link_down(c);
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	send_answer(c, 0x08, LEGACY_KEY, r);
	expect(c, SIM_CHR_AUTH, "10 03 04");
	g_assert_false(status_of(c).authenticated);
}

/* §3: the auth timer belongs to one link: gone with link_down, started afresh by the next link_up. */
static void test_auth_timer_per_link(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.auth_timeout_ms = 400;
	start(c);
	link_up(c);
	settle(c, 250);
	link_down(c);
	link_up(c);
	int64_t t0 = g_get_monotonic_time();
	settle(c, 250); /* the first link's timer would have fired in here */
	g_assert_cmpuint(c->drops, ==, 0);
	g_assert_true(sim_band_connected(c->band));
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_cmpint(g_get_monotonic_time() - t0, >=, 350 * 1000);
	link_down(c);
	settle(c, 500);
	g_assert_cmpuint(c->drops, ==, 1);
}

/* §3/§4.6: before auth the band ignores every other write and notifies nothing (button, steps, battery,
 * config echo, time, alert), though the writes are accepted at the ATT level. */
static void test_unauth_ignored(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const enum sim_chr chrs[] = { SIM_CHR_EVENT, SIM_CHR_STEPS, SIM_CHR_BATTERY, SIM_CHR_CONFIG };
	int64_t clock_utc = utc_of(2020, 1, 2, 3, 4, 5);

	freeze_time();
	start(c);
	sim_band_set_clock(c->band, clock_utc, 4);
	link_up(c);
	for (size_t i = 0; i < G_N_ELEMENTS(chrs); i++)
		set_cccd(c, chrs[i], true);
	sim_band_press_button(c->band);
	sim_band_walk(c->band, 10);
	sim_band_set_battery(c->band, 40, false);
	wr_ok(c, SIM_CHR_CONFIG, "06 0a 00 03");
	wr_ok(c, SIM_CHR_TIME, "e2 07 04 0f 10 14 2f 00 00 00 0c");
	wr_ok(c, SIM_CHR_ALERT_LEVEL, "03");
	expect_none(c, 300);
	g_assert_cmpint(sim_band_clock(c->band, NULL), ==, clock_utc);
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 0);

	authenticate(c);
	set_cccd(c, SIM_CHR_EVENT, true);
	sim_band_press_button(c->band);
	expect(c, SIM_CHR_EVENT, "04");
}

/* ======================================= Time (§6) ======================================= */

/* The Mi Fit exchange of §6.1: written with day of week 0, read back with 7 (a Sunday); the band keeps UTC
 * and the zone byte (+3 h). */
static void test_time_write_read(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int8_t tz = 0;

	freeze_time();
	start(c);
	authenticate(c);
	wr_ok(c, SIM_CHR_TIME, "e2 07 04 0f 10 14 2f 00 00 00 0c");
	expect_read(c, SIM_CHR_TIME, "e2 07 04 0f 10 14 2f 07 00 00 0c");
	g_assert_cmpint(sim_band_clock(c->band, &tz), ==, utc_of(2018, 4, 15, 13, 20, 47));
	g_assert_cmpint(tz, ==, 12);
	g_assert_cmpint(status_of(c).clock_utc, ==, utc_of(2018, 4, 15, 13, 20, 47));
	g_assert_cmpint(status_of(c).tz_quarters, ==, 12);
}

/* A negative zone (§6.2's NEU example, UTC−4): 2019-07-08 07:45 local is 11:45 UTC, a Monday. */
static void test_time_negative_tz(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int8_t tz = 0;

	freeze_time();
	start(c);
	authenticate(c);
	wr_ok(c, SIM_CHR_TIME, "e3 07 07 08 07 2d 00 01 00 00 f0");
	expect_read(c, SIM_CHR_TIME, "e3 07 07 08 07 2d 00 01 00 00 f0");
	g_assert_cmpint(sim_band_clock(c->band, &tz), ==, utc_of(2019, 7, 8, 11, 45, 0));
	g_assert_cmpint(tz, ==, -16);
}

/* sim_band_set_clock takes UTC; 2A2B shows local time and the zone; the clock runs on the band's time hook. */
static void test_time_set_clock_runs(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t utc = utc_of(2019, 3, 10, 7, 6, 20);
	int8_t tz = 0;

	freeze_time();
	start(c);
	sim_band_set_clock(c->band, utc, 4);
	link_up(c); /* reads need no auth */
	expect_read(c, SIM_CHR_TIME, "e3 07 03 0a 08 06 14 07 00 00 04");
	g_assert_cmpint(sim_band_clock(c->band, &tz), ==, utc);
	g_assert_cmpint(tz, ==, 4);
	advance_ms(90 * 1000);
	expect_read(c, SIM_CHR_TIME, "e3 07 03 0a 08 07 32 07 00 00 04");
	g_assert_cmpint(sim_band_clock(c->band, NULL), ==, utc + 90);
}

/* ======================================= Reads (§7, §2.2) ======================================= */

/* §7: the device information the band serves, readable before auth. */
static void test_device_info(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	link_up(c);
	expect_read_str(c, SIM_CHR_SW_REV, "V1.0.1.81");
	expect_read_str(c, SIM_CHR_HW_REV, "V0.1.3.2");
	expect_read_str(c, SIM_CHR_DEVICE_NAME, "MI Band 2");
	g_autoptr(GByteArray) serial = rd(c, SIM_CHR_SERIAL);
	g_assert_cmpuint(serial->len, ==, 12);
	for (guint i = 0; i < serial->len; i++)
		g_assert_true(g_ascii_isgraph(serial->data[i]));
}

/* ATT permissions: write-only characteristics refuse reads, read-only ones refuse writes. */
static void test_att_permissions(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	g_autoptr(GByteArray) b = g_byte_array_new();

	start(c);
	authenticate(c);
	g_assert_cmpint(front_read(c, SIM_CHR_CONFIG, b), ==, SIM_ATT_READ_NOT_PERMITTED);
	g_assert_cmpint(front_read(c, SIM_CHR_AUTH, b), ==, SIM_ATT_READ_NOT_PERMITTED);
	g_assert_cmpint(wr(c, SIM_CHR_SW_REV, "56 32"), ==, SIM_ATT_WRITE_NOT_PERMITTED);
	expect_read_str(c, SIM_CHR_SW_REV, "V1.0.1.81");
	/* Each write procedure needs its property: 2A06 takes Write Commands only, 2A39 Write Requests only. */
	g_assert_cmpint(front_write(c, SIM_CHR_ALERT_LEVEL, (const uint8_t *)"\x01", 1, true), ==,
	                SIM_ATT_WRITE_NOT_PERMITTED);
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 0);
	g_assert_cmpint(front_write(c, SIM_CHR_HR_CTRL, (const uint8_t *)"\x15\x02\x01", 3, false), ==,
	                SIM_ATT_WRITE_NOT_PERMITTED);
	g_assert_cmpint(front_write(c, SIM_CHR_ALERT_LEVEL, (const uint8_t *)"\x01", 1, false), ==, SIM_ATT_OK);
}

/* ======================================= Battery (§8) ======================================= */

static void check_battery(const uint8_t *v, guint len, unsigned level, bool charging)
{
	g_assert_cmpuint(len, ==, 20);
	g_assert_cmphex(v[0], ==, 0x0f);
	g_assert_cmpuint(v[1], ==, level);
	g_assert_cmpuint(v[2], ==, charging ? 1 : 0);
	/* T1 at 3 and T2 at 11: year LE16, month, day, hour, minute, second; T2's charge level at 19. */
	for (int at = 3; at <= 11; at += 8) {
		g_assert_cmpuint(v[at] | v[at + 1] << 8, >=, 2000);
		g_assert_cmpuint(v[at + 2], >=, 1);
		g_assert_cmpuint(v[at + 2], <=, 12);
		g_assert_cmpuint(v[at + 3], >=, 1);
		g_assert_cmpuint(v[at + 3], <=, 31);
		g_assert_cmpuint(v[at + 4], <, 24);
		g_assert_cmpuint(v[at + 5], <, 60);
		g_assert_cmpuint(v[at + 6], <, 60);
	}
	g_assert_cmpuint(v[19], <=, 100);
}

static void test_battery_read(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	link_up(c);
	struct sim_band_status st = status_of(c);
	g_autoptr(GByteArray) b = rd(c, SIM_CHR_BATTERY);
	check_battery(b->data, b->len, st.battery, st.charging);

	sim_band_set_battery(c->band, 37, true);
	g_autoptr(GByteArray) b2 = rd(c, SIM_CHR_BATTERY);
	check_battery(b2->data, b2->len, 37, true);
	g_assert_cmpuint(status_of(c).battery, ==, 37);
	g_assert_true(status_of(c).charging);
}

static void test_battery_notify(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_BATTERY);
	sim_band_set_battery(c->band, 12, false);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_BATTERY);
	check_battery(n->value->data, n->value->len, 12, false);
	sim_band_set_battery(c->band, 13, true);
	n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_BATTERY);
	check_battery(n->value->data, n->value->len, 13, true);
}

/* ======================================= Steps (§9) ======================================= */

/* The 13-byte form: 0c, steps, metres, kcal, as the status says. */
static void check_steps13(struct ctx *c, const uint8_t *v, guint len)
{
	struct sim_band_status st = status_of(c);

	g_assert_cmpuint(len, ==, 13);
	g_assert_cmphex(v[0], ==, 0x0c);
	g_assert_cmpuint(le32(v + 1), ==, st.steps);
	g_assert_cmpuint(le32(v + 5), ==, st.distance_m);
	g_assert_cmpuint(le32(v + 9), ==, st.calories);
}

static void check_steps5(struct ctx *c, const uint8_t *v, guint len)
{
	g_assert_cmpuint(len, ==, 5);
	g_assert_cmphex(v[0], ==, 0x00);
	g_assert_cmpuint(le32(v + 1), ==, status_of(c).steps);
}

static void test_steps_13(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_STEPS);
	g_autoptr(GByteArray) b = rd(c, SIM_CHR_STEPS);
	check_steps13(c, b->data, b->len);
	uint32_t before = status_of(c).steps;

	sim_band_walk(c->band, 100);
	g_assert_cmpuint(status_of(c).steps, ==, before + 100);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_STEPS);
	check_steps13(c, n->value->data, n->value->len);
	g_autoptr(GByteArray) b2 = rd(c, SIM_CHR_STEPS);
	check_steps13(c, b2->data, b2->len);
}

static void test_steps_5(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.steps_format = 5;
	start_authenticated(c, SIM_CHR_STEPS);
	g_autoptr(GByteArray) b = rd(c, SIM_CHR_STEPS);
	check_steps5(c, b->data, b->len);
	uint32_t before = status_of(c).steps;

	sim_band_walk(c->band, 7);
	g_assert_cmpuint(status_of(c).steps, ==, before + 7);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_STEPS);
	check_steps5(c, n->value->data, n->value->len);
}

/* band.h (invented, not §): the FEE0 service data is the steps-today counter, uint32 LE. */
static void test_service_data_steps(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	uint8_t sd[4];

	start(c);
	sim_band_walk(c->band, 123);
	sim_band_service_data(c->band, sd);
	g_assert_cmpuint(le32(sd), ==, status_of(c).steps);
}

/* band.h: advert_changed when "the advertised data changed"; walking changes the service data. */
static void test_service_data_advert(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	settle(c, 20);
	unsigned adverts = c->adverts;
	sim_band_walk(c->band, 123);
	settle(c, 50);
	g_assert_cmpuint(c->adverts, >, adverts);
}

/* The steps of the minute that starts at minute_utc, once it has completed. */
static unsigned history_steps(struct ctx *c, int64_t minute_utc)
{
	g_autofree struct sim_sample *s = NULL;
	int64_t first = 0;

	g_assert_cmpuint(sim_band_history(c->band, minute_utc, minute_utc, &first, &s), ==, 1);
	g_assert_cmpint(first, ==, minute_utc);
	return s[0].steps;
}

/* sim_band_walk also counts in the running minute, which is history once it completes (§9, §10.2 byte 2). */
static void test_walk_in_history(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	freeze_time();
	start(c);
	int64_t minute = sim_band_clock(c->band, NULL) / 60 * 60;
	sim_band_walk(c->band, 30);
	advance_ms(60 * 1000);
	g_assert_cmpuint(history_steps(c, minute), >=, 30);
}

/* The same on a band whose clock a test set to a fixed day (as the fetch tests do), with no generated history:
 * what the wearer walks is history all the same. */
static void test_walk_after_set_clock(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t minute = utc_of(2019, 3, 10, 7, 0, 0);

	c->cfg.history_days = 0;
	freeze_time();
	start(c);
	sim_band_set_clock(c->band, minute + 10, 4);
	sim_band_walk(c->band, 30);
	advance_ms(60 * 1000);
	g_assert_cmpuint(history_steps(c, minute), >=, 30);
}

/* ======================================= History fetch (§10) ======================================= */

/* Appendix B's six samples. */
static const struct sim_sample APPENDIX_B[6] = {
	{ 0x51, 0x12, 0x05, 0xff }, { 0x51, 0x20, 0x0c, 0xff }, { 0x50, 0x00, 0x00, 0xff },
	{ 0x01, 0x30, 0x18, 0x48 }, { 0x01, 0x2a, 0x15, 0xff }, { 0x70, 0x00, 0x00, 0xff },
};

/* Appendix B's first minute: 2019-03-10 08:00 at +1 h. */
static int64_t appendix_b_utc(void)
{
	return utc_of(2019, 3, 10, 7, 0, 0);
}

/* Distinct, plausible samples (§10.3 kinds, ff = no HR) so a shifted or reordered one shows. */
static struct sim_sample *make_samples(size_t n)
{
	static const uint8_t kinds[] = { 0x50, 0x01, 0x70, 0x5b, 0x0a, 0x60 };
	struct sim_sample *s = g_new(struct sim_sample, n);

	for (size_t i = 0; i < n; i++) {
		s[i].kind = kinds[i % G_N_ELEMENTS(kinds)];
		s[i].intensity = (uint8_t)(i * 37 + 1);
		s[i].steps = (uint8_t)(i % 120);
		s[i].heart_rate = i % 5 == 0 ? 0xff : (uint8_t)(60 + i % 50);
	}
	return s;
}

/* A band holding n samples from first_utc on, its clock 20 s into the minute after the last, authenticated,
 * CCCD of 0004 on (and not 0005, as GB does in §10.1 step 1). No generated history to get in the way. */
static void start_with_history(struct ctx *c, int64_t first_utc, const struct sim_sample *s, size_t n, int8_t tz)
{
	c->cfg.history_days = 0;
	freeze_time();
	start(c);
	sim_band_set_clock(c->band, first_utc + (int64_t)n * 60 + 20, tz);
	g_assert_cmpint(sim_band_add_history(c->band, first_utc, s, n), >=, 0);
	authenticate(c);
	set_cccd(c, SIM_CHR_FETCH, true);
}

/* W 0004 `01 01 <ts>` (from_utc written in zone tz), §10.1 step 2. */
static void send_fetch_start(struct ctx *c, int64_t from_utc, int8_t tz)
{
	uint8_t req[10] = { 0x01, 0x01 };

	huami_ts(from_utc, tz, req + 2);
	req[8] = 0; /* clients send second 0 */
	wr_bytes(c, SIM_CHR_FETCH, req, sizeof req);
}

/* n is the 15-byte answer to a start (§10.1 step 3), stamped in the band's own zone: its count, and its first
 * minute in *ret_first. */
static uint32_t start_answer(struct ctx *c, const struct note *n, int64_t *ret_first)
{
	int8_t band_tz = 0;

	g_assert_true(n->chr == SIM_CHR_FETCH && n->value->len == 15 && memcmp(n->value->data, "\x10\x01\x01", 3) == 0);
	sim_band_clock(c->band, &band_tz);
	g_assert_cmpint((int8_t)n->value->data[14], ==, band_tz);
	if (ret_first)
		*ret_first = from_huami_ts(n->value->data + 7);
	return le32(n->value->data + 3);
}

/* A start and its answer: the answer's count and first minute. */
static uint32_t fetch_start(struct ctx *c, int64_t from_utc, int8_t tz, int64_t *ret_first)
{
	send_fetch_start(c, from_utc, tz);
	return start_answer(c, expect_prefix(c, SIM_CHR_FETCH, "10 01 01", 15), ret_first);
}

/* CCCD of 0005 on, W 0004 `02`: the packets up to `10 02 01` on 0004 (§10.1 steps 4–6). */
static GPtrArray *fetch_packets(struct ctx *c)
{
	GPtrArray *packets = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);

	set_cccd(c, SIM_CHR_ACTIVITY, true);
	wr_ok(c, SIM_CHR_FETCH, "02");
	for (;;) {
		const struct note *n = next_note(c);
		if (n->chr != SIM_CHR_ACTIVITY) {
			g_autofree char *got = describe_note(n);
			g_assert_cmpstr(got, ==, "00000004: 10 02 01");
			break;
		}
		g_ptr_array_add(packets, g_byte_array_ref(n->value));
	}
	return packets;
}

/* §10.2: counter from 0 (wrapping as a byte), four samples a packet, the last one shorter. */
static void check_packets(const GPtrArray *packets, const struct sim_sample *s, size_t n)
{
	g_assert_cmpuint(packets->len, ==, (n + 3) / 4);
	for (guint i = 0; i < packets->len; i++) {
		const GByteArray *p = g_ptr_array_index(packets, i);
		size_t k = MIN(4, n - 4 * (size_t)i);
		g_assert_cmpuint(p->len, ==, 1 + 4 * k);
		g_assert_cmpuint(p->data[0], ==, i & 0xff);
		g_assert_cmpmem(p->data + 1, 4 * k, &s[4 * (size_t)i], 4 * k);
	}
}

/* Appendix B, every byte as written there. */
static void test_fetch_appendix_b(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_with_history(c, appendix_b_utc(), APPENDIX_B, 6, 4);
	wr_ok(c, SIM_CHR_FETCH, "01 01 e3 07 03 0a 08 00 00 04");
	expect(c, SIM_CHR_FETCH, "10 01 01 06 00 00 00 e3 07 03 0a 08 00 00 04");
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	wr_ok(c, SIM_CHR_FETCH, "02");
	expect(c, SIM_CHR_ACTIVITY, "00 51 12 05 ff 51 20 0c ff 50 00 00 ff 01 30 18 48");
	expect(c, SIM_CHR_ACTIVITY, "01 01 2a 15 ff 70 00 00 ff");
	expect(c, SIM_CHR_FETCH, "10 02 01");
	expect_none(c, 100);
}

/* sim_band_history gives back what sim_band_add_history stored; minutes in the future are refused. */
static void test_history_add_read(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got_first = 0;
	g_autofree struct sim_sample *s = NULL;

	start_with_history(c, first, APPENDIX_B, 6, 4);
	g_assert_cmpuint(sim_band_history(c->band, first, first + 5 * 60 + 59, &got_first, &s), ==, 6);
	g_assert_cmpint(got_first, ==, first);
	g_assert_cmpmem(s, 6 * sizeof *s, APPENDIX_B, sizeof APPENDIX_B);
	g_assert_cmpint(sim_band_add_history(c->band, first + 60 * 60, APPENDIX_B, 1), ==, -EINVAL);
}

/* A clock-less band (1999) recording, then given the time: the minutes its clock jumped over were never
 * recorded, so a round ends before the jump and a fetch from 2000 starts at the new clock's minutes. */
static void test_fetch_clock_jump(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t unset = utc_of(1999, 12, 31, 12, 0, 0), now = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = make_samples(10), *back = NULL;
	g_autofree struct sim_sample *later = make_samples(3);

	start_with_history(c, unset - 10 * 60, s, 10, 0);
	sim_band_set_clock(c->band, now, 0);
	g_assert_cmpint(sim_band_add_history(c->band, now - 3 * 60, later, 3), ==, 0);
	/* before the jump: one round of the 1999 run only */
	g_assert_cmpuint(fetch_start(c, unset - 3600, 0, &got), ==, 10);
	g_assert_cmpint(got, ==, unset - 10 * 60);
	g_assert_cmpuint(sim_band_history(c->band, unset - 3600, now, &got, &back), ==, 10);
	g_assert_cmpmem(back, 10 * sizeof *back, s, 10 * sizeof *s);
	/* from 2000 on: the minutes recorded since the clock was set, none of the gap */
	g_assert_cmpuint(fetch_start(c, utc_of(2000, 1, 2, 0, 0, 0), 0, &got), ==, 3);
	g_assert_cmpint(got, ==, now - 3 * 60);
	g_clear_pointer(&back, g_free);
	g_assert_cmpuint(sim_band_history(c->band, utc_of(2000, 1, 2, 0, 0, 0), now, &got, &back), ==, 3);
	g_assert_cmpmem(back, 3 * sizeof *back, later, 3 * sizeof *later);
}

/* §10.1 step 3 / §10.5: a request before the oldest stored minute starts at that minute; one in the middle
 * starts where asked. */
static void test_fetch_start_clamped(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = make_samples(10);

	start_with_history(c, first, s, 10, 4);
	g_assert_cmpuint(fetch_start(c, first - 3600, 4, &got), ==, 10);
	g_assert_cmpint(got, ==, first);
	g_assert_cmpuint(fetch_start(c, first + 120, 4, &got), ==, 8);
	g_assert_cmpint(got, ==, first + 120);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, s + 2, 8);
}

/* §10.4: rounds of at most cfg.fetch_cap samples; the client asks again from the next minute; count 0 once
 * nothing new is there. */
static void test_fetch_rounds(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = make_samples(10);
	static const uint32_t counts[] = { 4, 4, 2 };

	c->cfg.fetch_cap = 4;
	start_with_history(c, first, s, 10, 4);
	for (size_t r = 0; r < G_N_ELEMENTS(counts); r++) {
		int64_t from = first + (int64_t)r * 4 * 60;
		g_assert_cmpuint(fetch_start(c, from, 4, &got), ==, counts[r]);
		g_assert_cmpint(got, ==, from);
		g_autoptr(GPtrArray) packets = fetch_packets(c);
		check_packets(packets, s + r * 4, counts[r]);
	}
	g_assert_cmpuint(fetch_start(c, first + 10 * 60, 4, NULL), ==, 0);
	expect_none(c, 100);
}

/* sim_band_set_fetch_cap changes the cap of a running band; 9 samples with cap 8: two full packets, then a
 * round of one sample, a 5-byte packet. */
static void test_fetch_set_cap(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(9);

	start_with_history(c, first, s, 9, -16);
	sim_band_set_fetch_cap(c->band, 8);
	g_assert_cmpuint(fetch_start(c, first, -16, NULL), ==, 8);
	g_autoptr(GPtrArray) round1 = fetch_packets(c);
	check_packets(round1, s, 8);
	g_assert_cmpuint(fetch_start(c, first + 8 * 60, -16, NULL), ==, 1);
	g_autoptr(GPtrArray) round2 = fetch_packets(c);
	check_packets(round2, s + 8, 1);
}

/* §10.2: more than 256 packets in a round; the counter wraps as a byte. */
static void test_fetch_counter_wraps(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	const size_t n = 1101; /* 276 packets, the last with one sample */
	g_autofree struct sim_sample *s = make_samples(n);

	sim_band_timing.pump_batch = 32;
	start_with_history(c, first, s, n, 4);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, n);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, s, n);
}

/* §10.4/band.h: the default cap is 1440 samples a round. */
static void test_fetch_default_cap(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(1500);

	start_with_history(c, first, s, 1500, 4);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 1440);
	g_assert_cmpuint(fetch_start(c, first + 1440 * 60, 4, NULL), ==, 60);
}

/* §10.1 step 7: the optional acknowledge 03 is answered 10 03 01. */
static void test_fetch_ack(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();

	start_with_history(c, first, APPENDIX_B, 6, 4);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 6);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, APPENDIX_B, 6);
	wr_ok(c, SIM_CHR_FETCH, "03");
	expect(c, SIM_CHR_FETCH, "10 03 01");
}

/* §6.2: the request's timestamp carries its own zone. 07:00 UTC asked in UTC from a band at +1 h starts at
 * 07:00 UTC, which the band answers in its own zone as 08:00 +1 h. */
static void test_fetch_request_zone(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc() - 3600, got = 0;
	g_autofree struct sim_sample *s = make_samples(70);

	start_with_history(c, first, s, 70, 4);
	wr_ok(c, SIM_CHR_FETCH, "01 01 e3 07 03 0a 07 00 00 00");
	expect(c, SIM_CHR_FETCH, "10 01 01 0a 00 00 00 e3 07 03 0a 08 00 00 04");
	g_assert_cmpuint(fetch_start(c, appendix_b_utc(), -16, &got), ==, 10);
	g_assert_cmpint(got, ==, appendix_b_utc());
}

/* The band keeps recording as its clock runs (band.h): nothing new, then two minutes later two samples. */
static void test_fetch_new_minutes(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;

	start_with_history(c, first, APPENDIX_B, 6, 4);
	g_assert_cmpuint(fetch_start(c, first + 6 * 60, 4, NULL), ==, 0);
	advance_ms(120 * 1000);
	g_assert_cmpuint(fetch_start(c, first + 6 * 60, 4, &got), ==, 2);
	g_assert_cmpint(got, ==, first + 6 * 60);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	g_assert_cmpuint(packets->len, ==, 1);
	g_assert_cmpuint(((GByteArray *)g_ptr_array_index(packets, 0))->len, ==, 9);
}

/* set_drop_at_packet(-1) takes the fault back. */
static void test_fetch_drop_off(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(12);

	start_with_history(c, first, s, 12, 4);
	sim_band_set_drop_at_packet(c->band, 1);
	sim_band_set_drop_at_packet(c->band, -1);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 12);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, s, 12);
	g_assert_cmpuint(c->drops, ==, 0);
}

/* sim_band_set_drop_at_packet(1): packet 0 arrives, then the band drops the link instead of packet 1; the
 * data stays on the band and the next round (fault spent) serves it all. */
static void test_fetch_drop_at_packet(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(12);

	start_with_history(c, first, s, 12, 4);
	sim_band_set_drop_at_packet(c->band, 1);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 12);
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	wr_ok(c, SIM_CHR_FETCH, "02");
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	settle(c, 200);
	g_assert_false(sim_band_connected(c->band));
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_ACTIVITY);
	g_assert_cmpuint(n->value->data[0], ==, 0);
	g_assert_cmpmem(n->value->data + 1, n->value->len - 1, s, 16);
	expect_none(c, 0);

	authenticate(c);
	set_cccd(c, SIM_CHR_FETCH, true);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 12);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, s, 12);
}

/* band.h: link_down ends a transfer; nothing of it turns up on the next link. */
static void test_fetch_reset_by_link_down(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(400);

	sim_band_timing.pump_batch = 1;
	start_with_history(c, first, s, 400, 4);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 400);
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	wr_ok(c, SIM_CHR_FETCH, "02");
	expect_prefix(c, SIM_CHR_ACTIVITY, "00", 17);
	link_down(c);
	c->seen = c->notes->len;
	authenticate(c);
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	set_cccd(c, SIM_CHR_FETCH, true);
	expect_none(c, 300);
}

/* ---- A running round meets a pace, a CCCD going off and a new start (band.h) ---- */

/* The bytes of data packet i of a round of n samples s (§10.2): counter i as a byte, up to four samples. */
static GByteArray *packet_bytes(const struct sim_sample *s, size_t n, unsigned i)
{
	GByteArray *p = g_byte_array_new();
	uint8_t counter = (uint8_t)i;
	size_t k = MIN(4, n - 4 * (size_t)i);

	g_byte_array_append(p, &counter, 1);
	for (size_t j = 0; j < k; j++)
		g_byte_array_append(p, (const uint8_t[]){ s[4 * i + j].kind, s[4 * i + j].intensity, s[4 * i + j].steps,
		                                          s[4 * i + j].heart_rate }, 4);
	return p;
}

/* The next notification is data packet i of the round of n samples s. */
static const struct note *expect_packet(struct ctx *c, const struct sim_sample *s, size_t n, unsigned i)
{
	const struct note *got = next_note(c);
	g_autoptr(GByteArray) want = packet_bytes(s, n, i);
	g_autofree char *a = describe_note(got);
	g_autofree char *b = describe(SIM_CHR_ACTIVITY, want->data, want->len);

	g_assert_cmpstr(a, ==, b);
	return got;
}

/* A round as the test expects it: its samples and the index of its next packet. */
struct round {
	const struct sim_sample *s;
	size_t n;
	unsigned next;
};

/* Which of the rounds (A, B, C...) note is the next packet of, moving that round on; 'E' for a 10 02 01 and 'S'
 * for the answer to a start. Anything else fails. */
static char classify(const struct note *note, struct round *rounds, size_t n_rounds)
{
	if (note->chr == SIM_CHR_FETCH && note->value->len == 3 && memcmp(note->value->data, "\x10\x02\x01", 3) == 0)
		return 'E';
	if (note->chr == SIM_CHR_FETCH && note->value->len == 15 && memcmp(note->value->data, "\x10\x01\x01", 3) == 0)
		return 'S';
	for (size_t r = 0; r < n_rounds && note->chr == SIM_CHR_ACTIVITY; r++) {
		g_autoptr(GByteArray) want = NULL;

		if (4 * (size_t)rounds[r].next >= rounds[r].n)
			continue;
		want = packet_bytes(rounds[r].s, rounds[r].n, rounds[r].next);
		if (want->len == note->value->len && memcmp(want->data, note->value->data, want->len) == 0) {
			rounds[r].next++;
			return (char)('A' + r);
		}
	}
	g_autofree char *got = describe_note(note);
	g_assert_cmpstr(got, ==, "the next packet of one of the rounds");
	return '?';
}

/* Notifications classified until the string ends in `until` (at least one note is taken). */
static char *collect(struct ctx *c, struct round *rounds, size_t n_rounds, const char *until)
{
	GString *seq = g_string_new(NULL);

	do
		g_string_append_c(seq, classify(next_note(c), rounds, n_rounds));
	while (!g_str_has_suffix(seq->str, until));
	return g_string_free(seq, FALSE);
}

/* The notifications that have come and were not looked at yet, classified, and asserted to be made of letters
 * only: the band may have sent more than the test waited for (a late main loop). A test drains before it acts,
 * so that what follows is the band's answer to its act. */
static void drain(struct ctx *c, struct round *rounds, size_t n_rounds, const char *letters)
{
	GString *seq = g_string_new(NULL);

	while (c->seen < c->notes->len)
		g_string_append_c(seq, classify(g_ptr_array_index(c->notes, c->seen++), rounds, n_rounds));
	g_assert_cmpuint(strspn(seq->str, letters), ==, seq->len);
	g_string_free(seq, TRUE);
}

/* "A" repeated n times, then tail. */
static char *repeat_a(unsigned n, const char *tail)
{
	g_autofree char *a = g_strnfill(n, 'A');

	return g_strconcat(a, tail, NULL);
}

/* A band with the n samples of round a, its one round running at pace ms a packet, at least packets 0 and 1
 * come and drained (a->next says how many). */
static void start_paced_round(struct ctx *c, struct round *a, unsigned ms)
{
	int64_t first = appendix_b_utc();

	start_with_history(c, first, a->s, a->n, 4);
	sim_band_set_history_packet_ms(c->band, ms);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, a->n);
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	wr_ok(c, SIM_CHR_FETCH, "02");
	g_free(collect(c, a, 1, "AA"));
	drain(c, a, 1, "A");
	g_assert_cmpuint(a->next, <, (a->n + 3) / 4);
	g_assert_cmpuint(status_of(c).history_rounds, ==, 1);
}

/* history-packet-ms: a pause between two data packets, so packet k comes no sooner than k pauses after the 02;
 * the 10 02 01 follows the last. */
static void test_fetch_packet_pace(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(20);

	start_with_history(c, first, s, 20, 4);
	sim_band_set_history_packet_ms(c->band, 40);
	g_assert_cmpuint(fetch_start(c, first, 4, NULL), ==, 20);
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	int64_t t0 = g_get_monotonic_time();
	wr_ok(c, SIM_CHR_FETCH, "02");
	for (unsigned i = 0; i < 5; i++)
		g_assert_cmpint(expect_packet(c, s, 20, i)->at_us - t0, >=, (int64_t)i * 40 * 1000);
	expect(c, SIM_CHR_FETCH, "10 02 01");
	expect_none(c, 100);
}

static bool lost_two(struct ctx *c)
{
	return status_of(c).history_lost >= 2;
}

/* band.h: a data packet due while 0005's CCCD is off is lost and counted, and the round runs on; with the CCCD
 * on again the client gets the rest of the same round, its counter going on, and its 10 02 01. */
static void test_fetch_cccd_off_mid_round(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	g_autofree struct sim_sample *s = make_samples(40);
	struct round a = { s, 40, 0 };

	start_paced_round(c, &a, 10);
	set_cccd(c, SIM_CHR_ACTIVITY, false);
	g_assert_true(wait_until(c, lost_two, WAIT_MS));
	set_cccd(c, SIM_CHR_ACTIVITY, true);
	uint32_t lost = status_of(c).history_lost;
	g_assert_cmpuint(a.next + lost, <, 10);
	for (unsigned i = a.next + lost; i < 10; i++)
		expect_packet(c, s, 40, i);
	expect(c, SIM_CHR_FETCH, "10 02 01");
	struct sim_band_status st = status_of(c);
	g_assert_cmpuint(st.history_packets, ==, 10);
	g_assert_cmpuint(st.history_lost, ==, lost);
	g_assert_cmpuint(st.history_rounds, ==, 0);
}

/* "abort", the default: a start mid-round ends the round at once. The packet it had queued still comes, before
 * the answer; never its 10 02 01. The new round then runs from counter 0. */
static void test_fetch_mid_round_abort(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = make_samples(40);
	struct round rounds[] = { { s, 40, 0 }, { s + 20, 20, 0 } };

	start_paced_round(c, &rounds[0], 10);
	send_fetch_start(c, first + 20 * 60, 4);
	g_autofree char *seq = collect(c, rounds, 2, "S");
	g_assert_cmpstr(seq, ==, "AS");
	g_assert_cmpuint(start_answer(c, g_ptr_array_index(c->notes, c->seen - 1), &got), ==, 20);
	g_assert_cmpint(got, ==, first + 20 * 60);
	g_assert_cmpuint(status_of(c).history_rounds, ==, 0);
	expect_none(c, 100);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, s + 20, 20);
}

/* "finish": the running round sends all its packets and its 10 02 01 first, then the newest held start is
 * answered (an earlier one is replaced); a 02 meanwhile changes nothing. */
static void test_fetch_mid_round_finish(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = make_samples(40);
	struct round a = { s, 40, 0 };

	start_paced_round(c, &a, 10);
	g_autofree char *want = repeat_a(10 - a.next, "ES");
	sim_band_set_fetch_mid_round(c->band, SIM_FETCH_MID_ROUND_FINISH);
	send_fetch_start(c, first + 10 * 60, 4);
	wr_ok(c, SIM_CHR_FETCH, "02");
	send_fetch_start(c, first + 30 * 60, 4);
	g_autofree char *seq = collect(c, &a, 1, "S");
	g_assert_cmpstr(seq, ==, want);
	g_assert_cmpuint(start_answer(c, g_ptr_array_index(c->notes, c->seen - 1), &got), ==, 10);
	g_assert_cmpint(got, ==, first + 30 * 60);
	expect_none(c, 100);
	g_autoptr(GPtrArray) packets = fetch_packets(c);
	check_packets(packets, s + 30, 10);
}

/* "both": the start is answered at once and the old round goes on alone; after the new round's 02 the two
 * alternate, the new one first (behind the old packet already queued), each closed by its 10 02 01 right
 * after its last packet. */
static void test_fetch_mid_round_both(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = make_samples(60);
	struct round rounds[] = { { s, 60, 0 }, { s + 40, 20, 0 } };

	start_paced_round(c, &rounds[0], 10);
	sim_band_set_fetch_mid_round(c->band, SIM_FETCH_MID_ROUND_BOTH);
	send_fetch_start(c, first + 40 * 60, 4);
	g_autofree char *before = collect(c, rounds, 2, "S");
	g_assert_cmpstr(before, ==, "AS");
	g_assert_cmpuint(start_answer(c, g_ptr_array_index(c->notes, c->seen - 1), &got), ==, 20);
	g_assert_cmpint(got, ==, first + 40 * 60);
	g_free(collect(c, rounds, 2, "A"));
	drain(c, rounds, 2, "A");
	g_assert_cmpuint(status_of(c).history_rounds, ==, 1);
	wr_ok(c, SIM_CHR_FETCH, "02");
	g_assert_cmpuint(status_of(c).history_rounds, ==, 2);
	g_autofree char *both = collect(c, rounds, 2, "E");
	g_autofree char *want_rest = repeat_a(15 - rounds[0].next, "E");
	g_autofree char *rest = collect(c, rounds, 2, "E");
	g_assert_cmpstr(both, ==, "ABABABABABE");
	g_assert_cmpstr(rest, ==, want_rest);
	g_assert_cmpuint(rounds[0].next, ==, 15);
	g_assert_cmpuint(rounds[1].next, ==, 5);
	g_assert_cmpuint(status_of(c).history_rounds, ==, 0);
	expect_none(c, 100);
}

/* "both" holds two rounds at most: a 02 while two run changes nothing; a start while two run drops the older
 * one (no 10 02 01 for it) and the other goes on beside the newest. */
static void test_fetch_mid_round_both_limit(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc();
	g_autofree struct sim_sample *s = make_samples(80);
	struct round rounds[] = { { s, 80, 0 }, { s + 40, 40, 0 }, { s + 70, 10, 0 } };

	start_paced_round(c, &rounds[0], 10);
	sim_band_set_fetch_mid_round(c->band, SIM_FETCH_MID_ROUND_BOTH);
	send_fetch_start(c, first + 40 * 60, 4);
	g_autofree char *answered = collect(c, rounds, 3, "S");
	drain(c, rounds, 3, "A");
	wr_ok(c, SIM_CHR_FETCH, "02");
	g_autofree char *two = collect(c, rounds, 3, "B");
	g_assert_cmpstr(answered, ==, "AS");
	g_assert_cmpstr(two, ==, "AB");
	drain(c, rounds, 3, "AB");
	wr_ok(c, SIM_CHR_FETCH, "02");
	send_fetch_start(c, first + 70 * 60, 4);
	g_autofree char *cut = collect(c, rounds, 3, "S");
	g_assert_cmpuint(strlen(cut), ==, 2); /* the packet already queued, then the answer; A is gone */
	drain(c, rounds, 3, "B");
	wr_ok(c, SIM_CHR_FETCH, "02");
	g_autofree char *seq = collect(c, rounds, 3, "E");
	g_autofree char *rest = collect(c, rounds, 3, "E");
	g_assert_null(strchr(seq, 'A'));
	g_assert_cmpstr(seq + strlen(seq) - 6, ==, "CBCBCE");
	g_assert_cmpuint(strspn(rest, "B"), ==, strlen(rest) - 1);
	g_assert_cmpuint(rounds[1].next, ==, 10);
	g_assert_cmpuint(rounds[2].next, ==, 3);
	expect_none(c, 100);
}

/* ======================================= Heart rate (§11) ======================================= */

/* The one-shot sequence clients send (§11.1) gives one `00 bpm` on 2A37 (§11.2). */
static void test_hr_one_shot(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	sim_band_timing.hr_manual_ms = 50;
	start_authenticated(c, SIM_CHR_HR_MEAS);
	sim_band_set_heart_rate(c->band, 72);
	g_assert_cmpuint(status_of(c).heart_rate, ==, 72);
	wr_ok(c, SIM_CHR_HR_CTRL, "15 01 00");
	wr_ok(c, SIM_CHR_HR_CTRL, "15 02 00");
	wr_ok(c, SIM_CHR_HR_CTRL, "15 02 01");
	expect(c, SIM_CHR_HR_MEAS, "00 48");
	expect_none(c, 300);
}

/* Continuous mode reads every period and stops by itself without the 16 keep-alive (§11.1). */
static void test_hr_continuous(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	sim_band_timing.hr_period_ms = 40;
	sim_band_timing.hr_keepalive_ms = 300;
	start_authenticated(c, SIM_CHR_HR_MEAS);
	sim_band_set_heart_rate(c->band, 90);
	wr_ok(c, SIM_CHR_HR_CTRL, "15 01 01");
	expect(c, SIM_CHR_HR_MEAS, "00 5a");
	expect(c, SIM_CHR_HR_MEAS, "00 5a");
	settle(c, 500); /* the keep-alive window ends in here */
	while (c->seen < c->notes->len)
		expect(c, SIM_CHR_HR_MEAS, "00 5a");
	expect_none(c, 300);
}

/* ======================================= Alerts (§12) ======================================= */

static const struct sim_alert *alert_at(struct ctx *c, guint i)
{
	const GPtrArray *alerts = sim_band_alerts(c->band);

	g_assert_cmpuint(alerts->len, >, i);
	return g_ptr_array_index(alerts, i);
}

static void check_alert(struct ctx *c, guint i, uint8_t category, uint8_t level, const char *text, bool shown)
{
	const struct sim_alert *a = alert_at(c, i);

	g_test_message("alert %u", i);
	g_assert_cmphex(a->category, ==, category);
	g_assert_cmpuint(a->level, ==, level);
	g_assert_cmpstr(a->text, ==, text);
	g_assert_cmpint(a->shown, ==, shown);
}

/* §12.1: 2A06 alone is an alert of category ff with that level and no text. */
static void test_alert_level(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	freeze_time();
	start(c);
	authenticate(c);
	wr_ok(c, SIM_CHR_ALERT_LEVEL, "01");
	advance_ms(10000);
	wr_ok(c, SIM_CHR_ALERT_LEVEL, "03");
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 2);
	check_alert(c, 0, 0xff, 1, "", true);
	check_alert(c, 1, 0xff, 3, "", true);
	g_assert_cmpuint(status_of(c).alerts_shown, ==, 2);
}

/* §12.2/§12.3: category, count, icon only for fa, then UTF-8 text; 18 bytes of text (20 in all) fit. Only
 * SMS (5) and incoming call (3) show text on the MB2, so an app (fa) or e-mail (1) alert shows none. */
static void test_alert_text(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const char greek[] = "Γειά σου";
	static const char *const writes[] = { "05 01 48 69", "fa 01 07 57 41", "01 01 57 41", NULL,
	                                      "05 01 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41" };
	g_autoptr(GString) call = g_string_new(NULL);

	g_string_append_len(call, "\x03\x01", 2);
	g_string_append(call, greek);
	freeze_time();
	start(c);
	authenticate(c);
	for (size_t i = 0; i < G_N_ELEMENTS(writes); i++) {
		if (writes[i])
			wr_ok(c, SIM_CHR_NEW_ALERT, writes[i]);
		else
			wr_bytes(c, SIM_CHR_NEW_ALERT, (const uint8_t *)call->str, call->len);
		advance_ms(10000);
	}
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 5);
	check_alert(c, 0, 0x05, 0, "Hi", true);
	check_alert(c, 1, 0xfa, 0, "", true);
	check_alert(c, 2, 0x01, 0, "", true);
	check_alert(c, 3, 0x03, 0, greek, true);
	check_alert(c, 4, 0x05, 0, "AAAAAAAAAAAAAAAAAA", true);
	settle(c, 100);
	g_assert_cmpuint(c->drops, ==, 0);
}

/* GB's text notification (§12.2 steps 1–4): a header alert whose 2A06 pattern came with it (level ff), then,
 * past the spacing, the text as SMS. */
static void test_alert_gb_flow(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	freeze_time();
	start(c);
	authenticate(c);
	wr_ok(c, SIM_CHR_NEW_ALERT, "05 01");
	wr_ok(c, SIM_CHR_ALERT_LEVEL, "ff 2c 01 58 02 01");
	advance_ms(5000);
	wr_ok(c, SIM_CHR_NEW_ALERT, "05 01 48 69");
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 2);
	check_alert(c, 0, 0x05, 0xff, "", true);
	check_alert(c, 1, 0x05, 0, "Hi", true);
}

/* §12.2: an alert less than 4.5 s after the previous one is recorded but not shown; 4.5 s exactly is fine. */
static void test_alert_spacing(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const int64_t gap_ms[] = { 0, 1000, 5000, 4500, 4499 };
	static const bool shown[] = { true, false, true, true, false };
	static const char *const texts[] = { "05 01 41", "05 01 42", "05 01 43", "05 01 44", "05 01 45" };

	freeze_time();
	start(c);
	authenticate(c);
	for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
		advance_ms(gap_ms[i]);
		wr_ok(c, SIM_CHR_NEW_ALERT, texts[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
		char text[2] = { (char)('A' + i), 0 };
		check_alert(c, i, 0x05, 0, text, shown[i]);
	}
	g_assert_cmpuint(status_of(c).alerts_shown, ==, 3);
}

/* §12.2: a 2A46 write longer than 20 bytes makes the band reboot and drop the link. */
static void test_alert_overflow_reboots(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.reboot_ms = 300;
	start(c);
	authenticate(c);
	wr(c, SIM_CHR_NEW_ALERT, "05 01 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41");
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_false(sim_band_connected(c->band));
	g_assert_true(has_event(c, "rebooting"));
	g_assert_true(status_of(c).rebooting);
	g_assert_false(sim_band_advertising(c->band));
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_false(status_of(c).rebooting);
}

/* ======================================= Device events (§13) ======================================= */

/* 04 per press while the CCCD of 0010 is on; nothing while it is off, even if it went off after the press. */
static void test_button_event(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_EVENT);
	sim_band_press_button(c->band);
	expect(c, SIM_CHR_EVENT, "04");
	sim_band_press_button(c->band);
	expect(c, SIM_CHR_EVENT, "04");
	set_cccd(c, SIM_CHR_EVENT, false);
	sim_band_press_button(c->band);
	expect_none(c, 200);
	set_cccd(c, SIM_CHR_EVENT, true);
	sim_band_press_button(c->band);
	set_cccd(c, SIM_CHR_EVENT, false); /* before the loop sends it: it must not go out */
	expect_none(c, 200);
}

/* ======================================= Configuration (§14) ======================================= */

/* `10 <command bytes up to the value> 01` on 0003, for the examples §14 gives. */
static void test_config_responses(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	static const char *const pairs[][2] = {
		{ "06 0a 00 03", "10 06 0a 00 01" },
		{ "06 02 00 01", "10 06 02 00 01" },
		{ "06 05 00 01", "10 06 05 00 01" },
		{ "0a 3f 00 00 01 02 03 04 05", "10 0a 01" },
		{ "02 81 07 1e 1f", "10 02 01" },
	};

	start_authenticated(c, SIM_CHR_CONFIG);
	for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
		wr_ok(c, SIM_CHR_CONFIG, pairs[i][0]);
		expect(c, SIM_CHR_CONFIG, pairs[i][1]);
	}
}

/* §1: advertising in range while unconnected, not while connected; band.h: gone out of range drops the link. */
static void test_advertising_and_range(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	g_assert_true(sim_band_in_range(c->band));
	g_assert_true(sim_band_advertising(c->band));
	link_up(c);
	g_assert_true(wait_until(c, is_silent, WAIT_MS));
	authenticate(c);
	sim_band_set_in_range(c->band, false);
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_false(sim_band_connected(c->band));
	g_assert_false(sim_band_in_range(c->band));
	g_assert_false(sim_band_advertising(c->band));
	sim_band_set_in_range(c->band, true);
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_cmpuint(c->adverts, >, 0);
}

/* §14 `06 01 00 01`: visible while connected; `06 01 00 00` hides it again. */
static void test_visible_while_connected(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_CONFIG);
	g_assert_false(sim_band_advertising(c->band));
	unsigned adverts = c->adverts;
	wr_ok(c, SIM_CHR_CONFIG, "06 01 00 01");
	expect(c, SIM_CHR_CONFIG, "10 06 01 00 01");
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_true(status_of(c).visible_while_connected);
	g_assert_cmpuint(c->adverts, >, adverts);
	wr_ok(c, SIM_CHR_CONFIG, "06 01 00 00");
	expect(c, SIM_CHR_CONFIG, "10 06 01 00 01");
	g_assert_true(wait_until(c, is_silent, WAIT_MS));
	g_assert_false(status_of(c).visible_while_connected);
}

static void test_rssi(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	unsigned adverts = c->adverts;
	sim_band_set_rssi(c->band, -71);
	g_assert_cmpint(sim_band_rssi(c->band), ==, -71);
	wait_until(c, NULL, 50);
	g_assert_cmpuint(c->adverts, >, adverts);
}

/* ======================================= Reboot, factory reset (§15) ======================================= */

/* After a drop by reboot: silent and not advertising, then back after reboot_ms, key kept. */
static void check_reboot_cycle(struct ctx *c, int64_t t0, unsigned reboot_ms)
{
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_false(sim_band_connected(c->band));
	g_assert_true(status_of(c).rebooting);
	g_assert_false(sim_band_advertising(c->band));
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_cmpint(g_get_monotonic_time() - t0, >=, (int64_t)(reboot_ms - 50) * 1000);
	g_assert_false(status_of(c).rebooting);
	g_assert_true(has_event(c, "rebooting"));
}

static void test_reboot_fw_ctrl(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.reboot_ms = 300;
	start(c);
	authenticate(c);
	int64_t t0 = g_get_monotonic_time();
	wr_ok(c, SIM_CHR_FW_CTRL, "05");
	check_reboot_cycle(c, t0, 300);
	g_assert_cmpuint(c->drops, ==, 1);
	g_assert_true(status_of(c).has_key);
	authenticate(c);
}

/* sim_band_reboot (the control side) on an unconnected band: at once silent, back after reboot_ms. */
static void test_reboot_control(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.reboot_ms = 300;
	start(c);
	g_assert_true(sim_band_advertising(c->band));
	int64_t t0 = g_get_monotonic_time();
	sim_band_reboot(c->band);
	g_assert_true(wait_until(c, is_silent, WAIT_MS));
	g_assert_true(status_of(c).rebooting);
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_cmpint(g_get_monotonic_time() - t0, >=, 250 * 1000);
	g_assert_false(status_of(c).rebooting);
	g_assert_true(has_event(c, "rebooting"));
	g_assert_cmpuint(c->drops, ==, 0); /* there was no link to drop */
	authenticate(c);
}

/* "C8:0F:10:AA:BB:CC": upper case hex pairs; §1: a random static address, top two bits set. */
static void check_address(const char *a)
{
	g_assert_cmpuint(strlen(a), ==, 17);
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2)
			g_assert_cmpint(a[i], ==, ':');
		else
			g_assert_true(g_ascii_isxdigit(a[i]) && !g_ascii_islower(a[i]));
	}
	g_assert_cmphex(g_ascii_xdigit_value(a[0]) & 0xc, ==, 0xc);
}

/* §15 `06 0b 00 01`: new address, no key, no history; a new key + tap takes the band again. */
static void test_factory_reset(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	int64_t first = appendix_b_utc(), got = 0;
	g_autofree struct sim_sample *s = NULL;

	c->cfg.reboot_ms = 200;
	start_with_history(c, first, APPENDIX_B, 6, 4);
	g_autofree char *old = g_strdup(sim_band_address(c->band));
	wr_ok(c, SIM_CHR_CONFIG, "06 0b 00 01");
	g_assert_true(wait_until(c, has_dropped, WAIT_MS));
	g_assert_true(has_event(c, "factory-reset"));
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_cmpstr(sim_band_address(c->band), !=, old);
	check_address(sim_band_address(c->band));
	g_assert_cmpuint(c->drops, ==, 1);
	g_assert_cmpuint(c->adverts, >, 0);
	g_assert_false(status_of(c).has_key);
	g_assert_cmpuint(sim_band_history(c->band, first, first + 6 * 60, &got, &s), ==, 0);

	c->seen = c->notes->len;
	link_up(c);
	set_cccd(c, SIM_CHR_AUTH, true);
	send_key(c, OTHER_KEY);
	sim_band_tap(c->band);
	expect(c, SIM_CHR_AUTH, "10 01 01");
	authenticate_with(c, OTHER_KEY);
}

/* sim_band_factory_reset does the same from the control side, on an unconnected band. */
static void test_factory_reset_control(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	c->cfg.reboot_ms = 200;
	start(c);
	g_autofree char *old = g_strdup(sim_band_address(c->band));
	sim_band_factory_reset(c->band);
	g_assert_true(wait_until(c, is_silent, WAIT_MS));
	g_assert_true(wait_until(c, is_advertising, WAIT_MS));
	g_assert_true(has_event(c, "factory-reset"));
	g_assert_cmpstr(sim_band_address(c->band), !=, old);
	g_assert_false(status_of(c).has_key);
}

/* cfg.address is used as given; an empty one derives from the seed: same seed, same address. */
static void test_address(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	struct sim_band_config cfg;

	g_strlcpy(c->cfg.address, "C8:0F:10:AA:BB:CC", sizeof c->cfg.address);
	start(c);
	g_assert_cmpstr(sim_band_address(c->band), ==, "C8:0F:10:AA:BB:CC");

	sim_band_config_init(&cfg);
	cfg.seed = 42;
	struct sim_band *a = sim_band_new(&cfg, &test_ops, c), *b = sim_band_new(&cfg, &test_ops, c);
	cfg.seed = 43;
	struct sim_band *d = sim_band_new(&cfg, &test_ops, c);
	check_address(sim_band_address(a));
	g_assert_cmpstr(sim_band_address(a), ==, sim_band_address(b));
	g_assert_cmpstr(sim_band_address(a), !=, sim_band_address(d));
	sim_band_free(a);
	sim_band_free(b);
	sim_band_free(d);
}

/* ======================================= Faults ======================================= */

/* corrupt_next(chr, 1, false): the next notification on chr has its bytes flipped (same length); then
 * notifications are whole again. */
static void test_corrupt_flip(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_EVENT);
	sim_band_corrupt_next(c->band, SIM_CHR_EVENT, 1, false);
	sim_band_press_button(c->band);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_EVENT);
	g_assert_cmpuint(n->value->len, ==, 1);
	g_assert_cmphex(n->value->data[0], !=, 0x04);
	sim_band_press_button(c->band);
	expect(c, SIM_CHR_EVENT, "04");
}

/* corrupt_next(chr, 1, true): cut short. Other characteristics are not touched. */
static void test_corrupt_truncate(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_STEPS);
	set_cccd(c, SIM_CHR_EVENT, true);
	sim_band_corrupt_next(c->band, SIM_CHR_STEPS, 1, true);
	sim_band_press_button(c->band);
	expect(c, SIM_CHR_EVENT, "04");
	sim_band_walk(c->band, 3);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_STEPS);
	g_assert_cmpuint(n->value->len, <, 13);
	sim_band_walk(c->band, 3);
	n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_STEPS);
	check_steps13(c, n->value->data, n->value->len);
}

/* corrupt_next(SIM_CHR_COUNT, 2, …): the next two notifications, whatever their characteristic. */
static void test_corrupt_any(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_EVENT);
	set_cccd(c, SIM_CHR_BATTERY, true);
	sim_band_corrupt_next(c->band, SIM_CHR_COUNT, 2, false);
	sim_band_press_button(c->band);
	sim_band_set_battery(c->band, 50, false);
	sim_band_press_button(c->band);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_EVENT);
	g_assert_cmphex(n->value->data[0], !=, 0x04);
	n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_BATTERY);
	g_assert_cmpuint(n->value->len, ==, 20);
	g_assert_false(n->value->data[0] == 0x0f && n->value->data[1] == 50 && n->value->data[2] == 0);
	expect(c, SIM_CHR_EVENT, "04");
}

/* set_notify_delay: nothing before the delay, then everything in the order it was produced. */
static void test_notify_delay_order(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_EVENT);
	set_cccd(c, SIM_CHR_STEPS, true);
	sim_band_set_notify_delay(c->band, 250);
	int64_t t0 = g_get_monotonic_time();
	sim_band_press_button(c->band);
	sim_band_walk(c->band, 5);
	sim_band_press_button(c->band);
	expect_none(c, 100);
	const struct note *n = next_note(c);
	g_assert_cmpint(n->at_us - t0, >=, 230 * 1000);
	g_assert_cmpint(n->chr, ==, SIM_CHR_EVENT);
	n = next_note(c);
	g_assert_cmpint(n->chr, ==, SIM_CHR_STEPS);
	check_steps13(c, n->value->data, n->value->len);
	expect(c, SIM_CHR_EVENT, "04");
}

/* ======================================= The link ======================================= */

/* link_down any number of times, even never connected; it forgets auth and CCCDs and is not a band drop. */
static void test_link_down_idempotent(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	link_down(c);
	g_assert_false(sim_band_connected(c->band));
	authenticate(c);
	set_cccd(c, SIM_CHR_EVENT, true);
	link_down(c);
	link_down(c);
	g_assert_false(sim_band_connected(c->band));
	g_assert_false(sim_band_cccd(c->band, SIM_CHR_EVENT));
	g_assert_false(sim_band_cccd(c->band, SIM_CHR_AUTH));
	g_assert_false(status_of(c).authenticated);
	settle(c, 50);
	g_assert_cmpuint(c->drops, ==, 0);

	link_up(c);
	set_cccd(c, SIM_CHR_EVENT, true);
	sim_band_press_button(c->band); /* a new link starts unauthenticated */
	expect_none(c, 200);
	authenticate(c);
}

/* Notifications queued (here held back by a delay) when the link goes down die with it; the next link does
 * not get them. */
static void test_link_down_discards_queue(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start_authenticated(c, SIM_CHR_EVENT);
	sim_band_set_notify_delay(c->band, 150);
	sim_band_press_button(c->band);
	link_down(c);
	sim_band_set_notify_delay(c->band, 0);
	authenticate(c);
	set_cccd(c, SIM_CHR_EVENT, true);
	expect_none(c, 400);
}

/* ======================================= What a test reads back ======================================= */

static void check_write(const struct sim_write *w, enum sim_chr chr, const char *h)
{
	g_autoptr(GByteArray) want = hex(h);
	gsize len = 0;
	const uint8_t *got = g_bytes_get_data(w->value, &len);

	g_assert_cmpint(w->chr, ==, chr);
	g_assert_cmpmem(got, len, want->data, want->len);
}

/* sim_band_writes: every write, in order, byte for byte, stamped with real time; a "write" event names the
 * characteristic's UUID. */
static void test_writes_log(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	set_challenge(TRACE_CHALLENGE);
	start(c);
	int64_t t0 = g_get_real_time();
	authenticate(c);
	wr_ok(c, SIM_CHR_ALERT_LEVEL, "03");
	wr_ok(c, SIM_CHR_NEW_ALERT, "05 01 41");
	wr_ok(c, SIM_CHR_CONFIG, "06 0a 00 03");
	wr_ok(c, SIM_CHR_TIME, "e2 07 04 0f 10 14 2f 00 00 00 0c");
	const GPtrArray *w = sim_band_writes(c->band);
	g_assert_cmpuint(w->len, ==, 6);
	check_write(g_ptr_array_index(w, 0), SIM_CHR_AUTH, "02 08");
	check_write(g_ptr_array_index(w, 1), SIM_CHR_AUTH, "03 08 c9 56 e6 6c 12 75 35 94 58 66 6a 8d cb f7 48 45");
	check_write(g_ptr_array_index(w, 2), SIM_CHR_ALERT_LEVEL, "03");
	check_write(g_ptr_array_index(w, 3), SIM_CHR_NEW_ALERT, "05 01 41");
	check_write(g_ptr_array_index(w, 4), SIM_CHR_CONFIG, "06 0a 00 03");
	check_write(g_ptr_array_index(w, 5), SIM_CHR_TIME, "e2 07 04 0f 10 14 2f 00 00 00 0c");
	for (guint i = 0; i < w->len; i++) {
		const struct sim_write *x = g_ptr_array_index(w, i);
		g_assert_cmpint(x->time_us, >=, t0);
		g_assert_cmpint(x->time_us, <=, g_get_real_time());
	}
	g_autofree char *ev = g_strdup_printf("write %s", sim_gatt_chr(SIM_CHR_CONFIG)->uuid);
	g_assert_true(g_ptr_array_find_with_equal_func(c->events, ev, g_str_equal, NULL));
}

/* sim_band_clear_received empties the write log and the alert record. */
static void test_clear_received(struct ctx *c, G_GNUC_UNUSED gconstpointer data)
{
	start(c);
	authenticate(c);
	wr_ok(c, SIM_CHR_ALERT_LEVEL, "01");
	g_assert_cmpuint(sim_band_writes(c->band)->len, >, 0);
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 1);
	sim_band_clear_received(c->band);
	g_assert_cmpuint(sim_band_writes(c->band)->len, ==, 0);
	g_assert_cmpuint(sim_band_alerts(c->band)->len, ==, 0);
}

#define ADD(path, fn) g_test_add("/band/" path, struct ctx, NULL, setup, fn, teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("gatt/table", test_gatt_table);
	ADD("gatt/notify-flags", test_gatt_notify_flags);
	ADD("auth/aes-vectors", test_aes_vectors);
	ADD("auth/legacy-vector", test_auth_legacy_vector);
	ADD("auth/mifit-trace", test_auth_mifit_trace);
	ADD("auth/flags-00-and-08", test_auth_flags);
	ADD("auth/fresh-challenge", test_auth_fresh_challenge);
	ADD("auth/wrong-answer", test_auth_wrong_answer);
	ADD("auth/refused", test_auth_refused);
	ADD("auth/rekey-then-new-key", test_auth_rekey_and_new_key);
	ADD("auth/rekey-given-key", test_auth_rekey_given_key);
	ADD("auth/auto-tap", test_auth_auto_tap);
	ADD("auth/key-timeout-silent", test_auth_key_timeout_silent);
	ADD("auth/key-timeout-reply", test_auth_key_timeout_reply);
	ADD("auth/needs-cccd", test_auth_needs_cccd);
	ADD("auth/unauth-dropped", test_unauth_link_dropped);
	ADD("auth/set-auth-timeout", test_set_auth_timeout);
	ADD("auth/keeps-link", test_auth_keeps_link);
	ADD("auth/unauth-ignored", test_unauth_ignored);
	ADD("auth/no-replay", test_auth_no_replay);
	ADD("auth/timer-per-link", test_auth_timer_per_link);
	ADD("time/write-read", test_time_write_read);
	ADD("time/negative-tz", test_time_negative_tz);
	ADD("time/set-clock-runs", test_time_set_clock_runs);
	ADD("read/device-info", test_device_info);
	ADD("read/att-permissions", test_att_permissions);
	ADD("battery/read", test_battery_read);
	ADD("battery/notify", test_battery_notify);
	ADD("steps/13-bytes", test_steps_13);
	ADD("steps/5-bytes", test_steps_5);
	ADD("steps/service-data", test_service_data_steps);
	ADD("steps/service-data-advert", test_service_data_advert);
	ADD("steps/walk-in-history", test_walk_in_history);
	ADD("steps/walk-after-set-clock", test_walk_after_set_clock);
	ADD("fetch/appendix-b", test_fetch_appendix_b);
	ADD("fetch/history-add-read", test_history_add_read);
	ADD("fetch/start-clamped", test_fetch_start_clamped);
	ADD("fetch/clock-jump", test_fetch_clock_jump);
	ADD("fetch/rounds", test_fetch_rounds);
	ADD("fetch/set-cap", test_fetch_set_cap);
	ADD("fetch/counter-wraps", test_fetch_counter_wraps);
	ADD("fetch/default-cap", test_fetch_default_cap);
	ADD("fetch/ack", test_fetch_ack);
	ADD("fetch/request-zone", test_fetch_request_zone);
	ADD("fetch/new-minutes", test_fetch_new_minutes);
	ADD("fetch/drop-at-packet", test_fetch_drop_at_packet);
	ADD("fetch/drop-off", test_fetch_drop_off);
	ADD("fetch/reset-by-link-down", test_fetch_reset_by_link_down);
	ADD("fetch/packet-pace", test_fetch_packet_pace);
	ADD("fetch/cccd-off-mid-round", test_fetch_cccd_off_mid_round);
	ADD("fetch/mid-round-abort", test_fetch_mid_round_abort);
	ADD("fetch/mid-round-finish", test_fetch_mid_round_finish);
	ADD("fetch/mid-round-both", test_fetch_mid_round_both);
	ADD("fetch/mid-round-both-limit", test_fetch_mid_round_both_limit);
	ADD("hr/one-shot", test_hr_one_shot);
	ADD("hr/continuous", test_hr_continuous);
	ADD("alert/level", test_alert_level);
	ADD("alert/text", test_alert_text);
	ADD("alert/gb-flow", test_alert_gb_flow);
	ADD("alert/spacing", test_alert_spacing);
	ADD("alert/overflow-reboots", test_alert_overflow_reboots);
	ADD("event/button", test_button_event);
	ADD("config/responses", test_config_responses);
	ADD("config/visible-while-connected", test_visible_while_connected);
	ADD("advert/range", test_advertising_and_range);
	ADD("advert/rssi", test_rssi);
	ADD("reboot/fw-ctrl", test_reboot_fw_ctrl);
	ADD("reboot/control", test_reboot_control);
	ADD("reset/factory", test_factory_reset);
	ADD("reset/factory-control", test_factory_reset_control);
	ADD("reset/address", test_address);
	ADD("fault/corrupt-flip", test_corrupt_flip);
	ADD("fault/corrupt-truncate", test_corrupt_truncate);
	ADD("fault/corrupt-any", test_corrupt_any);
	ADD("fault/notify-delay-order", test_notify_delay_order);
	ADD("link/down-idempotent", test_link_down_idempotent);
	ADD("link/down-discards-queue", test_link_down_discards_queue);
	ADD("log/writes", test_writes_log);
	ADD("log/clear-received", test_clear_received);
	return g_test_run();
}
