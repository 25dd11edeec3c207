/* One simulated Mi Band 2: the protocol of miband2-protocol.md (§N), behind the front-agnostic API of band.h.
 *
 * Everything the band says goes through one outbox, drained by a timer on the main loop: that keeps the order
 * of notifications, applies the "slow" and "corrupt" faults in one place, paces a history transfer the way
 * connection events pace a real one, and makes sure no notification is ever sent from inside a front call.
 * Link drops, advertising changes and reboots are deferred the same way, for the same reason.
 *
 * Behaviour the protocol document leaves open is decided here and marked INVENTED, so a reader can tell the
 * band's known behaviour from the simulator's guesses. */
#include <openssl/evp.h>
#include <string.h>

#include "activity.h"
#include "band-hooks.h"
#include "band.h"

#define MINUTE 60
#define DAY (24 * 60 * 60)
#define NOTIFY_MAX 20         /* ATT payload at the default MTU (§3) */
#define PUMP_INTERVAL_MS 2    /* one "connection event" of the outbox; see sim_band_timing.pump_batch */
#define ALERT_PAIR_US 1500000 /* a 2A06 write this soon after a 2A46 write belongs to the same alert (INVENTED) */
#define FACTORY_RESET_DELAY_MS 100 /* the answer to 06 0b 00 01 goes out before the band wipes itself */

static const uint8_t legacy_key[16] = { 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
                                        0x38, 0x39, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45 }; /* §4.2 */

/* §10.3 kind codes the model writes into a minute the wearer walks in. */
enum { KIND_WALK = 0x01, KIND_RUN = 0x02 };

static int64_t default_now_us(void)
{
	return g_get_monotonic_time();
}

int64_t (*sim_band_hook_now_us)(void) = default_now_us;
void (*sim_band_hook_challenge)(uint8_t ret_challenge[16]);
struct sim_band_timing sim_band_timing = {
	.hr_manual_ms = 5000,     /* a one-shot reading takes some seconds; clients time out at 15 s (§11.1) */
	.hr_period_ms = 1000,
	.hr_keepalive_ms = 15000, /* §11.1 */
	.alert_spacing_ms = 4500, /* §12.2, GB issue #734 */
	.pump_batch = 4,
};

struct note {
	enum sim_chr chr;
	uint8_t len;
	uint8_t data[NOTIFY_MAX];
	int64_t due_us; /* monotonic */
};

/* One history round (§10.1): what the 01 01 answer promised and how far the 02 has got. */
struct transfer {
	bool prepared;     /* a start was answered; 02 may follow */
	bool running;      /* 02 received: packets are flowing until the last one */
	int64_t start;     /* UTC second of the first sample */
	unsigned count;
	unsigned sent;     /* samples already packed */
	uint8_t counter;   /* the next packet's counter, from 0 each round (§10.2) */
};

struct sim_band {
	struct sim_band_config cfg;
	const struct sim_band_ops *ops;
	void *user_data;
	GRand *rand;
	char address[18];
	unsigned address_generation;

	/* the world */
	bool in_range, rebooting, visible_while_connected;
	int16_t rssi;
	unsigned battery, heart_rate;
	bool charging;
	int64_t battery_off_utc, battery_charge_utc; /* T1 and T2 of §8 */
	unsigned battery_charge_level;
	int64_t clock_base_us;   /* UTC µs at clock_mono_us */
	int64_t clock_mono_us;
	int8_t tz;
	int8_t home_tz;          /* the zone the generated days are lived in */
	int64_t oldest;          /* UTC second of the oldest stored minute */
	unsigned story_days;     /* days of generated history before the clock: history_days, 0 once wiped */
	GHashTable *minutes;     /* int64 minute start -> struct sim_sample: recorded over the generated story */
	GArray *gaps;            /* struct gap: minutes never recorded because the clock jumped forward over them */

	/* authentication (§4.6) */
	bool has_key, has_pending_key, has_challenge, authenticated, refuse_auth;
	uint8_t key[16], pending_key[16], challenge[16];

	/* the link */
	bool connected;
	uint64_t cccd;           /* bit per enum sim_chr */
	struct transfer fetch;   /* the newest round: prepared by its start, running after its 02 */
	struct transfer older;   /* SIM_FETCH_MID_ROUND_BOTH: the round that was running when fetch's start came */
	bool older_turn;         /* while both run: the older round sends the next data packet */
	bool start_held;         /* SIM_FETCH_MID_ROUND_FINISH: a start waits for the running rounds to end */
	int64_t held_from;       /* its first wanted minute, UTC */
	enum sim_fetch_mid_round mid_round;
	unsigned packet_ms;      /* history-packet-ms */
	int64_t last_packet_us;  /* monotonic: when the previous data packet went (or was lost), 0 before the first */
	uint32_t history_packets, history_lost;
	int drop_at_packet;
	GQueue outbox;           /* struct note * */
	unsigned notify_delay_ms;
	int64_t last_due_us;
	enum sim_chr corrupt_chr;
	unsigned corrupt_count;
	bool corrupt_truncate;
	bool hr_manual, hr_continuous;
	int64_t hr_keepalive_until_us;
	unsigned hr_interval_min;

	/* timers */
	guint pump_id, auth_timer, tap_timer, key_timer, hr_manual_timer, hr_cont_timer;
	guint reboot_timer, reset_timer, drop_idle, advert_idle;
	unsigned tap_delay_ms;

	/* what a test reads back */
	GPtrArray *writes;       /* struct sim_write * */
	GPtrArray *alerts;       /* struct sim_alert * */
	int64_t last_shown_us;
	bool any_shown;
	int64_t last_alert_write_us;
};

static void band_drop(struct sim_band *band);
static void outbox_kick(struct sim_band *band);

static void clear_source(guint *id)
{
	if (*id)
		g_source_remove(*id);
	*id = 0;
}

static void emit(struct sim_band *band, const char *what, const char *detail)
{
	if (band->ops->event)
		band->ops->event(band, what, detail, band->user_data);
}

/* ---- the clock (§6) ---- */

static int64_t floor_minute(int64_t t)
{
	return t - ((t % MINUTE) + MINUTE) % MINUTE;
}

int64_t sim_band_clock(const struct sim_band *band, int8_t *ret_tz_quarters)
{
	if (ret_tz_quarters)
		*ret_tz_quarters = band->tz;
	return (band->clock_base_us + (sim_band_hook_now_us() - band->clock_mono_us)) / G_USEC_PER_SEC;
}

/* [from, to): UTC minute starts the band never recorded. */
struct gap {
	int64_t from, to;
};

/* INVENTED (the protocol document is silent on clock jumps): the band records each minute under the time its
 * clock shows, so a clock set forward (a clock-less band getting the time) leaves the minutes it skipped
 * unrecorded, and a clock set back records over what it finds. */
static void clock_jumped(struct sim_band *band, int64_t old_utc, int64_t new_utc)
{
	int64_t from = floor_minute(old_utc), to = floor_minute(new_utc);

	if (!band->gaps)
		return; /* the first setting, at birth */
	if (to > from + MINUTE) {
		g_array_append_val(band->gaps, ((struct gap){ from, to }));
		return;
	}
	for (guint i = band->gaps->len; i-- > 0;) {
		struct gap *g = &g_array_index(band->gaps, struct gap, i);

		if (g->from >= to)
			g_array_remove_index(band->gaps, i);
		else
			g->to = MIN(g->to, to);
	}
}

/* Minutes [from, to) were recorded after all: carve them out of the gaps. */
static void fill_gaps(struct sim_band *band, int64_t from, int64_t to)
{
	for (guint i = band->gaps ? band->gaps->len : 0; i-- > 0;) {
		struct gap g = g_array_index(band->gaps, struct gap, i);

		if (g.to <= from || g.from >= to)
			continue;
		g_array_remove_index(band->gaps, i);
		if (g.from < from)
			g_array_append_val(band->gaps, ((struct gap){ g.from, from }));
		if (g.to > to)
			g_array_append_val(band->gaps, ((struct gap){ to, g.to }));
	}
}

/* The gap minute lies in (its end in *ret_to), or false. */
static bool in_gap(const struct sim_band *band, int64_t minute, int64_t *ret_to)
{
	for (guint i = 0; band->gaps && i < band->gaps->len; i++) {
		const struct gap *g = &g_array_index(band->gaps, struct gap, i);

		if (minute >= g->from && minute < g->to) {
			*ret_to = g->to;
			return true;
		}
	}
	return false;
}

/* The last minute of the recorded run that holds minute: before the next gap, or INT64_MAX. */
static int64_t run_end(const struct sim_band *band, int64_t minute)
{
	int64_t end = INT64_MAX;

	for (guint i = 0; band->gaps && i < band->gaps->len; i++) {
		const struct gap *g = &g_array_index(band->gaps, struct gap, i);

		if (g->from > minute)
			end = MIN(end, g->from - MINUTE);
	}
	return end;
}

/* A clock set back before the oldest minute brings the story's days before it along: the band has recorded
 * history_days up to whatever its clock says (after a factory reset, none). */
void sim_band_set_clock(struct sim_band *band, int64_t utc, int8_t tz_quarters)
{
	clock_jumped(band, sim_band_clock(band, NULL), utc);
	band->clock_base_us = utc * G_USEC_PER_SEC;
	band->clock_mono_us = sim_band_hook_now_us();
	band->tz = tz_quarters;
	band->oldest = MIN(band->oldest, floor_minute(utc) - (int64_t)band->story_days * DAY);
}

/* The local wall time of utc in zone tz, broken down (proleptic Gregorian, any year GLib can hold). */
static GDateTime *local_time(int64_t utc, int tz)
{
	g_autoptr(GDateTime) u = g_date_time_new_from_unix_utc(utc);

	return u ? g_date_time_add_seconds(u, tz * 15 * 60) : g_date_time_new_from_unix_utc(0);
}

/* The 8-byte Huami timestamp of §6.2. */
static void put_timestamp(uint8_t *p, int64_t utc, int tz)
{
	g_autoptr(GDateTime) t = local_time(utc, tz);
	int year = g_date_time_get_year(t);

	p[0] = (uint8_t)year;
	p[1] = (uint8_t)(year >> 8);
	p[2] = (uint8_t)g_date_time_get_month(t);
	p[3] = (uint8_t)g_date_time_get_day_of_month(t);
	p[4] = (uint8_t)g_date_time_get_hour(t);
	p[5] = (uint8_t)g_date_time_get_minute(t);
	p[6] = (uint8_t)g_date_time_get_second(t);
	p[7] = (uint8_t)tz;
}

/* Local wall time fields (year LE16, month, day, hour, minute, second) and a zone to UTC; false when out of
 * range. Used for 2A2B writes (§6.1) and fetch starts (§6.2). */
static bool parse_local(const uint8_t *p, int8_t tz, int64_t *ret_utc)
{
	int year = p[0] | p[1] << 8;
	g_autoptr(GDateTime) t = NULL;

	if (year < 1 || year > 9999 || p[2] < 1 || p[2] > 12 || p[3] < 1 || p[3] > 31 || p[4] > 23 || p[5] > 59 ||
	    p[6] > 59)
		return false;
	t = g_date_time_new_utc(year, p[2], p[3], p[4], p[5], p[6]);
	if (!t)
		return false;
	*ret_utc = g_date_time_to_unix(t) - (int64_t)tz * 15 * 60;
	return true;
}

/* ---- history (§10.2): a generated story with recorded minutes on top ---- */

static void minute_sample(const struct sim_band *band, int64_t minute, struct sim_sample *ret)
{
	struct sim_sample *s = g_hash_table_lookup(band->minutes, &minute);

	if (s)
		*ret = *s;
	else
		activity_minute(band->cfg.seed, band->home_tz, minute, ret);
}

static void record_minute(struct sim_band *band, int64_t minute, const struct sim_sample *s)
{
	int64_t *key = g_new(int64_t, 1);

	*key = minute;
	g_hash_table_replace(band->minutes, key, g_memdup2(s, sizeof(*s)));
}

/* The newest completed minute; history never includes the one still running. */
static int64_t last_complete_minute(const struct sim_band *band)
{
	return floor_minute(sim_band_clock(band, NULL)) - MINUTE;
}

int sim_band_add_history(struct sim_band *band, int64_t start_utc, const struct sim_sample *samples, size_t n)
{
	int64_t start = floor_minute(start_utc);

	if (n == 0)
		return 0;
	if (start + (int64_t)(n - 1) * MINUTE > floor_minute(sim_band_clock(band, NULL)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		record_minute(band, start + (int64_t)i * MINUTE, &samples[i]);
	fill_gaps(band, start, start + (int64_t)n * MINUTE);
	band->oldest = MIN(band->oldest, start);
	return 0;
}

size_t sim_band_history(struct sim_band *band, int64_t from_utc, int64_t to_utc, int64_t *ret_start,
                        struct sim_sample **ret)
{
	int64_t from = MAX(floor_minute(from_utc), band->oldest), gap_to;
	int64_t to;
	size_t n;

	if (in_gap(band, from, &gap_to))
		from = gap_to;
	to = MIN(MIN(floor_minute(to_utc), last_complete_minute(band)), run_end(band, from));
	n = from <= to ? (size_t)((to - from) / MINUTE + 1) : 0;
	*ret_start = from;
	*ret = n ? g_new(struct sim_sample, n) : NULL;
	for (size_t i = 0; i < n; i++)
		minute_sample(band, from + (int64_t)i * MINUTE, &(*ret)[i]);
	return n;
}

/* Steps since local midnight: the completed minutes plus what the wearer walked in the running one. */
static uint32_t steps_today(const struct sim_band *band)
{
	int8_t tz;
	int64_t now = floor_minute(sim_band_clock(band, &tz));
	int64_t offset = (int64_t)tz * 15 * 60;
	int64_t midnight = now - (((now + offset) % DAY) + DAY) % DAY;
	uint32_t steps = 0;
	struct sim_sample s;
	int64_t gap_to;

	for (int64_t m = MAX(midnight, band->oldest); m < now; m += MINUTE) {
		if (in_gap(band, m, &gap_to)) {
			m = gap_to - MINUTE;
			continue;
		}
		minute_sample(band, m, &s);
		steps += s.steps;
	}
	if (g_hash_table_contains(band->minutes, &now)) {
		minute_sample(band, now, &s);
		steps += s.steps;
	}
	return steps;
}

/* ---- the outbox ---- */

static bool notify_allowed(const struct sim_band *band, enum sim_chr chr)
{
	if (!band->connected || !(band->cccd & (UINT64_C(1) << chr)))
		return false;
	/* Before authentication the band answers auth only (§3, §4.1). */
	return chr == SIM_CHR_AUTH || band->authenticated;
}

/* A notification due no earlier than not_before_us (monotonic; 0: as soon as the delay fault allows). */
static void queue_note_after(struct sim_band *band, enum sim_chr chr, const uint8_t *data, size_t len,
                             int64_t not_before_us)
{
	struct note *n = g_new0(struct note, 1);
	int64_t now = g_get_monotonic_time();

	g_assert(len <= NOTIFY_MAX);
	n->chr = chr;
	n->len = (uint8_t)len;
	memcpy(n->data, data, len);
	/* Delayed notifications keep their order even when the delay shrinks. */
	n->due_us = MAX(MAX(now + (int64_t)band->notify_delay_ms * 1000, band->last_due_us), not_before_us);
	band->last_due_us = n->due_us;
	g_queue_push_tail(&band->outbox, n);
	outbox_kick(band);
}

static void queue_note(struct sim_band *band, enum sim_chr chr, const uint8_t *data, size_t len)
{
	queue_note_after(band, chr, data, len, 0);
}

static void corrupt(struct sim_band *band, struct note *n)
{
	if (band->corrupt_count == 0 || (band->corrupt_chr != SIM_CHR_COUNT && band->corrupt_chr != n->chr))
		return;
	band->corrupt_count--;
	if (band->corrupt_truncate) {
		n->len = n->len ? n->len - 1 : 0;
		return;
	}
	/* Header and tail: what a parser checks first, and what it reads last. */
	n->data[0] ^= 0xff;
	if (n->len > 1)
		n->data[n->len - 1] ^= 0xff;
}

/* A notification whose CCCD is off when it is due is lost: the band does not keep it for later. */
static void send_note(struct sim_band *band, struct note *n)
{
	if (n->chr == SIM_CHR_ACTIVITY)
		band->last_packet_us = g_get_monotonic_time();
	if (!notify_allowed(band, n->chr)) {
		band->history_lost += n->chr == SIM_CHR_ACTIVITY;
		return;
	}
	corrupt(band, n);
	band->ops->notify(band, n->chr, n->data, n->len, band->user_data);
}

static void transfer_produce(struct sim_band *band);

static bool fetch_running(const struct sim_band *band)
{
	return band->fetch.running || band->older.running;
}

/* One connection event: up to pump_batch notifications that are due. A history transfer refills the outbox as
 * it drains, so the queue never holds more than a batch of it. */
static gboolean pump(gpointer user_data)
{
	struct sim_band *band = user_data;
	unsigned batch = MAX(sim_band_timing.pump_batch, 1u);

	band->pump_id = 0;
	for (unsigned i = 0; i < batch; i++) {
		struct note *n;

		if (g_queue_is_empty(&band->outbox) && fetch_running(band))
			transfer_produce(band);
		n = g_queue_peek_head(&band->outbox);
		if (!n || n->due_us > g_get_monotonic_time() || !band->connected)
			break;
		g_queue_pop_head(&band->outbox);
		send_note(band, n);
		g_free(n);
	}
	outbox_kick(band);
	return G_SOURCE_REMOVE;
}

static void outbox_kick(struct sim_band *band)
{
	struct note *n = g_queue_peek_head(&band->outbox);
	int64_t wait_us = PUMP_INTERVAL_MS * 1000;

	if (band->pump_id || !band->connected || (!n && !fetch_running(band)))
		return;
	if (n)
		wait_us = MAX(wait_us, n->due_us - g_get_monotonic_time());
	band->pump_id = g_timeout_add((guint)((wait_us + 999) / 1000), pump, band);
}

static void outbox_clear(struct sim_band *band)
{
	g_queue_clear_full(&band->outbox, g_free);
	band->last_due_us = 0;
	clear_source(&band->pump_id);
}

/* ---- the link ---- */

static gboolean advert_idle(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->advert_idle = 0;
	if (band->ops->advert_changed)
		band->ops->advert_changed(band, band->user_data);
	return G_SOURCE_REMOVE;
}

/* Deferred: the front may be inside a call into the model. */
static void advert_changed(struct sim_band *band)
{
	if (!band->advert_idle)
		band->advert_idle = g_idle_add(advert_idle, band);
}

static void hr_stop(struct sim_band *band)
{
	band->hr_manual = band->hr_continuous = false;
	clear_source(&band->hr_manual_timer);
	clear_source(&band->hr_cont_timer);
}

static void forget_link(struct sim_band *band)
{
	band->connected = band->authenticated = band->has_challenge = band->has_pending_key = false;
	band->cccd = 0;
	band->fetch = band->older = (struct transfer){ 0 };
	band->older_turn = band->start_held = false;
	band->last_packet_us = 0;
	outbox_clear(band);
	hr_stop(band);
	clear_source(&band->auth_timer);
	clear_source(&band->tap_timer);
	clear_source(&band->key_timer);
}

void sim_band_link_down(struct sim_band *band)
{
	clear_source(&band->drop_idle); /* the front knows already */
	if (!band->connected)
		return;
	forget_link(band);
	advert_changed(band);
}

/* The band ends the link itself; always called from the main loop. */
static void band_drop(struct sim_band *band)
{
	if (!band->connected)
		return;
	forget_link(band);
	advert_changed(band);
	band->ops->drop_link(band, band->user_data);
}

static gboolean drop_idle_cb(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->drop_idle = 0;
	band->ops->drop_link(band, band->user_data);
	return G_SOURCE_REMOVE;
}

/* The band ends the link from inside a call: its own state goes now, the front hears of it from the loop. */
static void drop_soon(struct sim_band *band)
{
	if (!band->connected)
		return;
	forget_link(band);
	advert_changed(band);
	if (!band->drop_idle)
		band->drop_idle = g_idle_add(drop_idle_cb, band);
}

static gboolean auth_timeout(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->auth_timer = 0;
	band_drop(band);
	return G_SOURCE_REMOVE;
}

void sim_band_link_up(struct sim_band *band)
{
	if (band->connected || band->rebooting || !band->in_range)
		return;
	clear_source(&band->drop_idle);
	forget_link(band);
	band->connected = true;
	/* §3: an unauthenticated link is dropped after 20-30 s. */
	band->auth_timer = g_timeout_add(band->cfg.auth_timeout_ms, auth_timeout, band);
	advert_changed(band);
}

bool sim_band_connected(const struct sim_band *band)
{
	return band->connected;
}

void sim_band_set_cccd(struct sim_band *band, enum sim_chr chr, bool enabled)
{
	if (!band->connected || chr >= SIM_CHR_COUNT)
		return;
	if (enabled)
		band->cccd |= UINT64_C(1) << chr;
	else
		band->cccd &= ~(UINT64_C(1) << chr);
}

bool sim_band_cccd(const struct sim_band *band, enum sim_chr chr)
{
	return chr < SIM_CHR_COUNT && (band->cccd & (UINT64_C(1) << chr));
}

/* ---- authentication (§4) ---- */

static void auth_reply(struct sim_band *band, uint8_t command, uint8_t status)
{
	uint8_t reply[3] = { 0x10, command, status }; /* §4.3: the flags byte is not echoed */

	queue_note(band, SIM_CHR_AUTH, reply, sizeof(reply));
}

static void aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0;

	g_assert(ctx);
	EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, out, &len, in, 16);
	EVP_CIPHER_CTX_free(ctx);
}

static gboolean key_timeout(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->key_timer = 0;
	clear_source(&band->tap_timer);
	band->has_pending_key = false;
	/* §4.3/§4.6: 10 01 02 is one reading of an abandoned key; silence is the other. */
	if (band->cfg.key_timeout_reply)
		auth_reply(band, 0x01, 0x02);
	return G_SOURCE_REMOVE;
}

static gboolean auto_tap(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->tap_timer = 0;
	sim_band_tap(band);
	return G_SOURCE_REMOVE;
}

static void auth_new_key(struct sim_band *band, const uint8_t *key)
{
	memcpy(band->pending_key, key, 16);
	band->has_pending_key = true;
	clear_source(&band->tap_timer);
	clear_source(&band->key_timer);
	band->key_timer = g_timeout_add(band->cfg.key_confirm_timeout_ms, key_timeout, band);
	if (band->tap_delay_ms != (unsigned)-1)
		band->tap_timer = g_timeout_add(band->tap_delay_ms, auto_tap, band);
	emit(band, "tap-needed", NULL);
}

static void auth_challenge(struct sim_band *band)
{
	uint8_t reply[19] = { 0x10, 0x02, 0x01 };

	if (!band->has_key) {
		auth_reply(band, 0x02, 0x04); /* INVENTED: a wiped band has nothing to challenge with */
		return;
	}
	if (sim_band_hook_challenge) {
		sim_band_hook_challenge(band->challenge);
	} else {
		for (int i = 0; i < 16; i++)
			band->challenge[i] = (uint8_t)g_rand_int_range(band->rand, 0, 256);
	}
	band->has_challenge = true;
	memcpy(reply + 3, band->challenge, 16);
	queue_note(band, SIM_CHR_AUTH, reply, sizeof(reply));
}

static void auth_answer(struct sim_band *band, const uint8_t *encrypted)
{
	uint8_t expected[16];
	bool ok;

	aes_ecb(band->key, band->challenge, expected);
	ok = band->has_challenge && band->has_key && !band->refuse_auth && memcmp(expected, encrypted, 16) == 0;
	band->has_challenge = false; /* one answer per challenge */
	if (!ok) {
		auth_reply(band, 0x03, 0x04);
		emit(band, "auth-failed", NULL);
		return;
	}
	band->authenticated = true;
	clear_source(&band->auth_timer);
	auth_reply(band, 0x03, 0x01);
	emit(band, "authenticated", NULL);
}

/* §4.3: 01 xx K (18), 02 xx (2), 03 xx E (18); xx is 00 (Mi Fit) or 08 (GB), both accepted. A malformed
 * command is answered with its failure status. */
static void write_auth(struct sim_band *band, const uint8_t *v, size_t len)
{
	bool flags_ok = len >= 2 && (v[1] == 0x00 || v[1] == 0x08);

	if (len == 0)
		return;
	switch (v[0]) {
	case 0x01:
		if (flags_ok && len == 18)
			auth_new_key(band, v + 2);
		else
			auth_reply(band, 0x01, 0x04);
		break;
	case 0x02:
		if (flags_ok && len == 2)
			auth_challenge(band);
		else
			auth_reply(band, 0x02, 0x04);
		break;
	case 0x03:
		if (flags_ok && len == 18)
			auth_answer(band, v + 2);
		else
			auth_reply(band, 0x03, 0x04);
		break;
	default:
		break; /* INVENTED: unknown auth commands are ignored */
	}
}

void sim_band_tap(struct sim_band *band)
{
	if (!band->has_pending_key)
		return;
	memcpy(band->key, band->pending_key, 16);
	band->has_key = true;
	band->has_pending_key = false;
	clear_source(&band->tap_timer);
	clear_source(&band->key_timer);
	auth_reply(band, 0x01, 0x01);
	emit(band, "key-stored", NULL);
}

void sim_band_rekey(struct sim_band *band, const uint8_t *key)
{
	if (key) {
		memcpy(band->key, key, 16);
	} else {
		for (int i = 0; i < 16; i++)
			band->key[i] = (uint8_t)g_rand_int_range(band->rand, 0, 256);
	}
	band->has_key = true;
}

void sim_band_set_refuse_auth(struct sim_band *band, bool refuse)
{
	band->refuse_auth = refuse;
}

void sim_band_set_auth_timeout(struct sim_band *band, unsigned ms)
{
	band->cfg.auth_timeout_ms = ms;
	if (band->auth_timer) {
		clear_source(&band->auth_timer);
		band->auth_timer = g_timeout_add(ms, auth_timeout, band);
	}
}

/* ---- values the band serves ---- */

static void append(GByteArray *a, const void *data, size_t len)
{
	g_byte_array_append(a, data, (guint)len);
}

static void append_str(GByteArray *a, const char *s)
{
	append(a, s, strlen(s));
}

/* §6.1, 11 bytes. */
static void time_value(const struct sim_band *band, GByteArray *ret)
{
	int8_t tz;
	int64_t now = sim_band_clock(band, &tz);
	g_autoptr(GDateTime) t = local_time(now, tz);
	uint8_t v[11];

	put_timestamp(v, now, tz);
	v[7] = (uint8_t)g_date_time_get_day_of_week(t); /* 1 = Monday … 7 = Sunday */
	v[8] = 0;
	v[9] = 0;
	v[10] = (uint8_t)tz;
	append(ret, v, sizeof(v));
}

/* §8, 20 bytes: 0f, level, charging, T1 + tz, T2 + tz, level at T2. */
static void battery_value(const struct sim_band *band, GByteArray *ret)
{
	uint8_t v[20] = { 0x0f, (uint8_t)band->battery, band->charging };

	put_timestamp(v + 3, band->battery_off_utc, band->tz);
	put_timestamp(v + 11, band->battery_charge_utc, band->tz);
	v[19] = (uint8_t)band->battery_charge_level;
	append(ret, v, sizeof(v));
}

static void put_le32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)x;
	p[1] = (uint8_t)(x >> 8);
	p[2] = (uint8_t)(x >> 16);
	p[3] = (uint8_t)(x >> 24);
}

/* Metres and kcal for a step count. INVENTED: a 0.7 m stride and 25 steps a kcal; no source says how. */
static void step_totals(uint32_t steps, uint32_t *ret_m, uint32_t *ret_kcal)
{
	*ret_m = steps * 7 / 10;
	*ret_kcal = steps / 25;
}

/* §9: the 13-byte form, or the 5-byte one of other firmware. */
static size_t steps_value(const struct sim_band *band, uint8_t v[13])
{
	uint32_t steps = steps_today(band), m, kcal;

	step_totals(steps, &m, &kcal);
	if (band->cfg.steps_format == 5) {
		v[0] = 0x00;
		put_le32(v + 1, steps);
		return 5;
	}
	v[0] = 0x0c;
	put_le32(v + 1, steps);
	put_le32(v + 5, m);
	put_le32(v + 9, kcal);
	return 13;
}

/* A 12-character serial (§7) and the undocumented 2A23/2A50 (INVENTED: SystemID from the address, PnP ID
 * with Huami's SIG company id 0x0157, product 7, version 1, matching the fake bluetoothd's Modalias). */
static void info_value(const struct sim_band *band, enum sim_chr chr, GByteArray *ret)
{
	static const uint8_t pnp[7] = { 0x01, 0x57, 0x01, 0x07, 0x00, 0x01, 0x00 };
	static const uint8_t ppcp[8] = { 0x18, 0x00, 0x28, 0x00, 0x00, 0x00, 0xf4, 0x01 }; /* INVENTED */
	g_autofree char *serial = g_strdup_printf("%012u", band->cfg.seed * 2654435761u % 1000000000u);
	uint8_t sysid[8] = { 0 };

	if (chr == SIM_CHR_DEVICE_NAME) {
		append_str(ret, "MI Band 2");
	} else if (chr == SIM_CHR_APPEARANCE) {
		append(ret, "\0\0", 2); /* INVENTED: unknown appearance */
	} else if (chr == SIM_CHR_PPCP || chr == SIM_CHR_PPCP2) {
		append(ret, ppcp, sizeof(ppcp));
	} else if (chr == SIM_CHR_SERIAL) {
		append_str(ret, serial);
	} else if (chr == SIM_CHR_HW_REV) {
		append_str(ret, "V0.1.3.2");
	} else if (chr == SIM_CHR_SW_REV) {
		append_str(ret, "V1.0.1.81");
	} else if (chr == SIM_CHR_SYSTEM_ID) {
		for (int i = 0; i < 6; i++)
			sysid[i < 3 ? i : i + 2] = (uint8_t)g_ascii_strtoull(band->address + 3 * (5 - i), NULL, 16);
		append(ret, sysid, sizeof(sysid));
	} else if (chr == SIM_CHR_PNP_ID) {
		append(ret, pnp, sizeof(pnp));
	}
	/* FEDx, FEC1: nothing known, an empty value. */
}

int sim_band_read(struct sim_band *band, enum sim_chr chr, GByteArray *ret_value)
{
	const struct sim_gatt_chr *def = sim_gatt_chr(chr);
	uint8_t v[13];

	if (!def || !(def->props & SIM_PROP_READ))
		return SIM_ATT_READ_NOT_PERMITTED;
	if (chr == SIM_CHR_TIME)
		time_value(band, ret_value);
	else if (chr == SIM_CHR_BATTERY)
		battery_value(band, ret_value);
	else if (chr == SIM_CHR_STEPS)
		append(ret_value, v, steps_value(band, v));
	else
		info_value(band, chr, ret_value);
	return SIM_ATT_OK;
}

/* ---- writes ---- */

/* §6.1: 11 bytes of local time and the zone; day of week and fractions are not checked (Mi Fit writes 0). */
static int write_time(struct sim_band *band, const uint8_t *v, size_t len)
{
	int64_t utc;

	if (len != 11)
		return SIM_ATT_INVALID_VALUE_LEN;
	if (parse_local(v, (int8_t)v[10], &utc))
		sim_band_set_clock(band, utc, (int8_t)v[10]);
	return SIM_ATT_OK; /* INVENTED: an impossible date is ignored rather than refused */
}

static void fetch_reply(struct sim_band *band, uint8_t command, uint8_t status)
{
	uint8_t reply[3] = { 0x10, command, status };

	queue_note(band, SIM_CHR_FETCH, reply, sizeof(reply));
}

/* §10.1 step 2: `01 01` and the 8-byte timestamp of the first wanted minute; false for anything else. */
static bool parse_fetch_start(const uint8_t *v, size_t len, int64_t *ret_from)
{
	return len == 10 && v[1] == 0x01 && parse_local(v + 2, (int8_t)v[9], ret_from);
}

/* §10.5: start = max(requested minute, oldest stored); count = stored minutes from there to the last completed
 * one, capped per round (§10.4). The answer carries the band's own zone. The new round replaces fetch. */
static void fetch_answer(struct sim_band *band, int64_t from)
{
	uint8_t reply[15] = { 0x10, 0x01, 0x01 };
	int64_t start, gap_to, last = last_complete_minute(band);
	uint64_t count = 0;

	/* A round is one contiguous run: it starts after a gap and stops before the next (§10.2). */
	start = MAX(floor_minute(from), band->oldest);
	if (in_gap(band, start, &gap_to))
		start = gap_to;
	last = MIN(last, run_end(band, start));
	if (start <= last)
		count = MIN((uint64_t)((last - start) / MINUTE + 1), (uint64_t)band->cfg.fetch_cap);
	band->fetch = (struct transfer){ .prepared = true, .start = start, .count = (unsigned)count };
	put_le32(reply + 3, (uint32_t)count);
	put_timestamp(reply + 7, start, band->tz);
	reply[13] = 0; /* the start is a whole minute */
	queue_note(band, SIM_CHR_FETCH, reply, sizeof(reply));
}

/* A start while a round is running, as mid_round says (band.h: all INVENTED). */
static void fetch_start_mid_round(struct sim_band *band, int64_t from)
{
	switch (band->mid_round) {
	case SIM_FETCH_MID_ROUND_ABORT:
		band->older = (struct transfer){ 0 };
		fetch_answer(band, from);
		return;
	case SIM_FETCH_MID_ROUND_FINISH:
		band->start_held = true;
		band->held_from = from;
		return;
	case SIM_FETCH_MID_ROUND_BOTH:
		/* The running round becomes the older one (an older one still running is dropped); after the new
		 * round's 02 the new one sends first. Only a prepared, not yet running, fetch is simply replaced. */
		if (band->fetch.running) {
			band->older = band->fetch;
			band->older_turn = false;
		}
		fetch_answer(band, from);
		return;
	}
}

static void fetch_start(struct sim_band *band, const uint8_t *v, size_t len)
{
	int64_t from;

	if (!parse_fetch_start(v, len, &from)) {
		fetch_reply(band, 0x01, 0x04); /* INVENTED: only type 01 (activity) is known on the MB2 */
		return;
	}
	if (fetch_running(band))
		fetch_start_mid_round(band, from);
	else
		fetch_answer(band, from);
}

/* The round whose data packet is next: the one running, or while two run, each in turn. */
static struct transfer *transfer_next(struct sim_band *band)
{
	struct transfer *f;

	if (band->older.running && band->fetch.running) {
		f = band->older_turn ? &band->older : &band->fetch;
		band->older_turn = !band->older_turn;
		return f;
	}
	if (band->older.running)
		return &band->older;
	return band->fetch.running ? &band->fetch : NULL;
}

/* §10.2: the counter, then up to four samples, due history-packet-ms after the previous data packet went: a
 * pause between two packets on the air, which a late main loop stretches and never shortens. */
static void transfer_packet(struct sim_band *band, struct transfer *f)
{
	uint8_t packet[1 + 4 * 4];
	unsigned n = MIN(f->count - f->sent, 4u);
	int64_t not_before = band->last_packet_us ? band->last_packet_us + (int64_t)band->packet_ms * 1000 : 0;

	packet[0] = f->counter++;
	for (unsigned i = 0; i < n; i++) {
		struct sim_sample s;

		minute_sample(band, f->start + (int64_t)(f->sent + i) * MINUTE, &s);
		memcpy(packet + 1 + 4 * i, (uint8_t[]){ s.kind, s.intensity, s.steps, s.heart_rate }, 4);
	}
	f->sent += n;
	band->history_packets++;
	queue_note_after(band, SIM_CHR_ACTIVITY, packet, 1 + 4 * n, not_before);
}

/* §10.1 step 6: `10 02 01` right behind the last packet, so a round runs exactly until its last packet. A
 * start held for the end of the running rounds is answered after it. */
static void transfer_end(struct sim_band *band, struct transfer *f)
{
	*f = (struct transfer){ 0 };
	fetch_reply(band, 0x02, 0x01);
	if (fetch_running(band) || !band->start_held)
		return;
	band->start_held = false;
	fetch_answer(band, band->held_from);
}

/* The next data packet of a running round, and the closing 10 02 01 after its last (§10.1 steps 5-6). */
static void transfer_produce(struct sim_band *band)
{
	struct transfer *f = transfer_next(band);

	if (!f)
		return;
	if (f->sent < f->count && band->drop_at_packet >= 0 && (int)(f->sent / 4) == band->drop_at_packet) {
		band->drop_at_packet = -1;
		band_drop(band);
		return;
	}
	if (f->sent < f->count)
		transfer_packet(band, f);
	if (f->sent == f->count)
		transfer_end(band, f);
}

static void write_fetch(struct sim_band *band, const uint8_t *v, size_t len)
{
	if (len == 0)
		return;
	if (v[0] == 0x01) {
		fetch_start(band, v, len);
	} else if (v[0] == 0x02 && len == 1) {
		if (!band->fetch.prepared) {
			fetch_reply(band, 0x02, 0x04); /* INVENTED: nothing was asked for */
			return;
		}
		band->fetch.running = true; /* INVENTED: a 02 to a round already running changes nothing */
		outbox_kick(band);
	} else if (v[0] == 0x03 && len == 1) {
		fetch_reply(band, 0x03, 0x01); /* §10.1 step 7: answered, nothing deleted */
	}
}

static void notify_heart_rate(struct sim_band *band)
{
	uint8_t v[2] = { 0x00, (uint8_t)MIN(band->heart_rate, 255u) }; /* §11.2 */

	queue_note(band, SIM_CHR_HR_MEAS, v, sizeof(v));
}

static gboolean hr_manual_done(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->hr_manual_timer = 0;
	band->hr_manual = false;
	notify_heart_rate(band);
	return G_SOURCE_REMOVE;
}

static gboolean hr_continuous_tick(gpointer user_data)
{
	struct sim_band *band = user_data;

	if (g_get_monotonic_time() > band->hr_keepalive_until_us) {
		band->hr_cont_timer = 0;
		band->hr_continuous = false; /* §11.1: no keep-alive, no more readings */
		return G_SOURCE_REMOVE;
	}
	notify_heart_rate(band);
	return G_SOURCE_CONTINUE;
}

static void hr_keepalive(struct sim_band *band)
{
	band->hr_keepalive_until_us = g_get_monotonic_time() + (int64_t)sim_band_timing.hr_keepalive_ms * 1000;
}

/* §11.1: 15 mode on/off, 14 interval, 16 keep-alive. */
static void write_hr(struct sim_band *band, const uint8_t *v, size_t len)
{
	if (len == 3 && v[0] == 0x15 && v[1] == 0x02) {
		clear_source(&band->hr_manual_timer);
		band->hr_manual = v[2] == 0x01;
		if (band->hr_manual)
			band->hr_manual_timer = g_timeout_add(sim_band_timing.hr_manual_ms, hr_manual_done, band);
	} else if (len == 3 && v[0] == 0x15 && v[1] == 0x01) {
		clear_source(&band->hr_cont_timer);
		band->hr_continuous = v[2] == 0x01;
		hr_keepalive(band);
		if (band->hr_continuous)
			band->hr_cont_timer = g_timeout_add(sim_band_timing.hr_period_ms, hr_continuous_tick, band);
	} else if (len == 2 && v[0] == 0x14) {
		band->hr_interval_min = v[1];
	} else if (len == 1 && v[0] == 0x16 && band->hr_continuous) {
		hr_keepalive(band);
	}
}

static struct sim_alert *alert_record(struct sim_band *band, uint8_t category, uint8_t level, const char *text,
                                      size_t text_len)
{
	struct sim_alert *a = g_new0(struct sim_alert, 1);
	int64_t now = sim_band_hook_now_us();

	a->time_us = g_get_real_time();
	a->category = category;
	a->level = level;
	a->text = g_utf8_make_valid(text, (gssize)text_len);
	/* §12.2: an alert closer than ~4.5 s to the one on screen is not shown. */
	a->shown = !band->any_shown || now - band->last_shown_us >= (int64_t)sim_band_timing.alert_spacing_ms * 1000;
	if (a->shown) {
		band->any_shown = true;
		band->last_shown_us = now;
	}
	g_ptr_array_add(band->alerts, a);
	return a;
}

/* §12.1: 00 stops; 01-03 and fe alert; ff + on/off/repeat is a custom vibration. A level that follows a New
 * Alert within ALERT_PAIR_US is that alert's vibration (GB's header + pattern, §12.2). */
static void write_alert_level(struct sim_band *band, const uint8_t *v, size_t len)
{
	struct sim_alert *last = band->alerts->len ? band->alerts->pdata[band->alerts->len - 1] : NULL;

	if (len == 0 || v[0] == 0x00 || (v[0] == 0xff && len != 6) || (v[0] != 0xff && len != 1))
		return;
	if (last && last->category != 0xff && last->level == 0 &&
	    sim_band_hook_now_us() - band->last_alert_write_us < ALERT_PAIR_US) {
		last->level = v[0];
		return;
	}
	alert_record(band, 0xff, v[0], "", 0);
}

/* §12.2: category, count, [icon if FA], text. Only SMS (5) and incoming call (3) show text on the MB2. A write
 * longer than one ATT payload overflows the firmware: it reboots (GB issue #734). */
static void write_new_alert(struct sim_band *band, const uint8_t *v, size_t len)
{
	size_t header = len >= 3 && v[0] == 0xfa ? 3 : 2;
	bool text = v[0] == 0x03 || v[0] == 0x05;

	if (len > NOTIFY_MAX) {
		sim_band_reboot(band);
		return;
	}
	if (len < 2 || v[1] == 0)
		return; /* count 0: a call ended (§12.3), nothing to show */
	alert_record(band, v[0], 0, text ? (const char *)v + header : "", text ? len - header : 0);
	band->last_alert_write_us = sim_band_hook_now_us();
}

static gboolean factory_reset_cb(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->reset_timer = 0;
	sim_band_factory_reset(band);
	return G_SOURCE_REMOVE;
}

/* §14: answered `10 <command up to the value> 01`: the 06 family echoes three bytes, the others one (INVENTED
 * generalisation, as the document allows). Commands it does not know get no answer. */
static void write_config(struct sim_band *band, const uint8_t *v, size_t len)
{
	uint8_t reply[5] = { 0x10, len ? v[0] : 0 };

	if (len >= 4 && v[0] == 0x06 && v[2] == 0x00) {
		memcpy(reply + 1, v, 3);
		reply[4] = 0x01;
		queue_note(band, SIM_CHR_CONFIG, reply, 5);
		if (v[1] == 0x01 && len == 4) {
			band->visible_while_connected = v[3] == 0x01;
			advert_changed(band);
		} else if (v[1] == 0x0b && len == 4 && v[3] == 0x01 && !band->reset_timer) {
			band->reset_timer = g_timeout_add(FACTORY_RESET_DELAY_MS, factory_reset_cb, band);
		}
	} else if (len >= 1 && (v[0] == 0x02 || v[0] == 0x08 || v[0] == 0x09 || v[0] == 0x0a)) {
		reply[2] = 0x01;
		queue_note(band, SIM_CHR_CONFIG, reply, 3);
	}
}

static void log_write(struct sim_band *band, enum sim_chr chr, const uint8_t *v, size_t len)
{
	struct sim_write *w = g_new0(struct sim_write, 1);

	w->time_us = g_get_real_time();
	w->chr = chr;
	w->value = g_bytes_new(v, len);
	g_ptr_array_add(band->writes, w);
	emit(band, "write", sim_gatt_chr(chr)->uuid);
}

int sim_band_write(struct sim_band *band, enum sim_chr chr, const uint8_t *value, size_t len, bool with_response)
{
	const struct sim_gatt_chr *def = sim_gatt_chr(chr);

	/* Each procedure needs its property: a Write Request to a write-without-response-only characteristic (2A06)
	 * is refused, as a strict ATT server refuses it (Core spec, ATT "Write Not Permitted"), and changes
	 * nothing. INVENTED in its detail: the documents do not say what a Mi Band 2 answers there. */
	if (!def || !(def->props & (with_response ? SIM_PROP_WRITE : SIM_PROP_WRITE_WITHOUT_RESP)))
		return SIM_ATT_WRITE_NOT_PERMITTED;
	if (!band->connected)
		return SIM_ATT_OK;
	log_write(band, chr, value, len);
	if (chr == SIM_CHR_AUTH) {
		write_auth(band, value, len);
		return SIM_ATT_OK;
	}
	if (!band->authenticated)
		return SIM_ATT_OK; /* §3: ignored until authenticated */
	if (chr == SIM_CHR_TIME)
		return write_time(band, value, len);
	if (chr == SIM_CHR_FETCH)
		write_fetch(band, value, len);
	else if (chr == SIM_CHR_HR_CTRL)
		write_hr(band, value, len);
	else if (chr == SIM_CHR_ALERT_LEVEL)
		write_alert_level(band, value, len);
	else if (chr == SIM_CHR_NEW_ALERT)
		write_new_alert(band, value, len);
	else if (chr == SIM_CHR_CONFIG)
		write_config(band, value, len);
	else if (chr == SIM_CHR_FW_CTRL && len == 1 && value[0] == 0x05)
		sim_band_reboot(band); /* §15 */
	/* 0008 user settings, 1532, 0001, 0020, 2A44: taken, no answer documented. */
	return SIM_ATT_OK;
}

/* ---- the world ---- */

static gboolean reboot_done(gpointer user_data)
{
	struct sim_band *band = user_data;

	band->reboot_timer = 0;
	band->rebooting = false;
	advert_changed(band);
	return G_SOURCE_REMOVE;
}

/* §15: the link goes, the band is silent for a while, then advertises again. Key, clock and history stay. */
void sim_band_reboot(struct sim_band *band)
{
	emit(band, "rebooting", NULL);
	band->rebooting = true;
	drop_soon(band);
	clear_source(&band->reboot_timer);
	band->reboot_timer = g_timeout_add(band->cfg.reboot_ms, reboot_done, band);
	advert_changed(band);
}

static void new_address(struct sim_band *band)
{
	char old[18];

	g_strlcpy(old, band->address, sizeof(old));
	do {
		/* C8 has the two top bits set: a random static address (§1). */
		g_snprintf(band->address, sizeof(band->address), "C8:0F:10:%02X:%02X:%02X",
		           g_rand_int_range(band->rand, 0, 256), g_rand_int_range(band->rand, 0, 256),
		           g_rand_int_range(band->rand, 0, 256));
	} while (strcmp(old, band->address) == 0);
	band->address_generation++;
}

/* §15: "will delete all data" and the band comes back under a new address. INVENTED: the key goes too (the
 * next client pairs with a new key and a tap), and the clock keeps running. */
void sim_band_factory_reset(struct sim_band *band)
{
	emit(band, "factory-reset", NULL);
	clear_source(&band->reset_timer);
	sim_band_reboot(band);
	band->has_key = band->has_pending_key = false;
	memset(band->key, 0, sizeof(band->key));
	g_hash_table_remove_all(band->minutes);
	g_array_set_size(band->gaps, 0);
	band->story_days = 0;
	band->oldest = floor_minute(sim_band_clock(band, NULL));
	band->visible_while_connected = false;
	new_address(band);
}

void sim_band_press_button(struct sim_band *band)
{
	static const uint8_t pressed[1] = { 0x04 }; /* §13 */

	queue_note(band, SIM_CHR_EVENT, pressed, sizeof(pressed));
}

static void notify_steps(struct sim_band *band)
{
	uint8_t v[13];

	queue_note(band, SIM_CHR_STEPS, v, steps_value(band, v));
}

/* The steps land in the running minute, which becomes history when it completes. A minute holds at most 255
 * (one byte, §10.2); what does not fit is lost to history as it would be on the band. */
void sim_band_walk(struct sim_band *band, unsigned steps)
{
	int64_t now = floor_minute(sim_band_clock(band, NULL));
	struct sim_sample s;

	/* The running minute's generated steps have not happened yet: a first walk in it starts from none, or the
	 * live counter would jump by them. */
	if (g_hash_table_contains(band->minutes, &now))
		minute_sample(band, now, &s);
	else
		s = (struct sim_sample){ .kind = KIND_WALK, .heart_rate = 0xff };
	s.steps = (uint8_t)MIN(s.steps + steps, 255u);
	if ((s.kind & 0x0f) != KIND_WALK && (s.kind & 0x0f) != KIND_RUN)
		s.kind = KIND_WALK;
	s.intensity = MAX(s.intensity, (uint8_t)MIN(40u + s.steps / 2, 255u));
	record_minute(band, now, &s);
	notify_steps(band);
	advert_changed(band); /* the advertised steps (sim_band_service_data) moved */
}

static void battery_notify(struct sim_band *band)
{
	GByteArray *v = g_byte_array_new();

	battery_value(band, v);
	queue_note(band, SIM_CHR_BATTERY, v->data, v->len);
	g_byte_array_unref(v);
}

void sim_band_set_battery(struct sim_band *band, unsigned level, bool charging)
{
	int64_t now = sim_band_clock(band, NULL);

	if (band->charging && !charging) {
		band->battery_off_utc = now;
		band->battery_charge_utc = now;
		band->battery_charge_level = MIN(level, 100u);
	}
	band->battery = MIN(level, 100u);
	band->charging = charging;
	battery_notify(band); /* INVENTED trigger: §8 does not say what makes the band notify */
}

void sim_band_set_heart_rate(struct sim_band *band, unsigned bpm)
{
	band->heart_rate = MIN(bpm, 255u);
}

void sim_band_set_rssi(struct sim_band *band, int16_t rssi)
{
	band->rssi = rssi;
	advert_changed(band);
}

void sim_band_set_in_range(struct sim_band *band, bool in_range)
{
	band->in_range = in_range;
	if (!in_range)
		drop_soon(band);
	advert_changed(band);
}

void sim_band_drop_link(struct sim_band *band)
{
	drop_soon(band);
}

void sim_band_set_drop_at_packet(struct sim_band *band, int packet)
{
	band->drop_at_packet = packet < 0 ? -1 : packet;
}

void sim_band_set_history_packet_ms(struct sim_band *band, unsigned ms)
{
	band->packet_ms = ms;
}

void sim_band_set_fetch_mid_round(struct sim_band *band, enum sim_fetch_mid_round mode)
{
	band->mid_round = mode;
}

void sim_band_set_notify_delay(struct sim_band *band, unsigned ms)
{
	band->notify_delay_ms = ms;
}

void sim_band_corrupt_next(struct sim_band *band, enum sim_chr chr, unsigned count, bool truncate)
{
	band->corrupt_chr = chr;
	band->corrupt_count = count;
	band->corrupt_truncate = truncate;
}

void sim_band_set_fetch_cap(struct sim_band *band, unsigned cap)
{
	band->cfg.fetch_cap = MAX(cap, 1u);
}

/* ---- what the front and the tests read ---- */

const char *sim_band_address(const struct sim_band *band)
{
	return band->address;
}

bool sim_band_in_range(const struct sim_band *band)
{
	return band->in_range;
}

bool sim_band_advertising(const struct sim_band *band)
{
	return band->in_range && !band->rebooting && (!band->connected || band->visible_while_connected);
}

int16_t sim_band_rssi(const struct sim_band *band)
{
	return band->rssi;
}

/* INVENTED (band.h): the steps counter as uint32 LE. */
void sim_band_service_data(const struct sim_band *band, uint8_t ret_value[4])
{
	put_le32(ret_value, steps_today(band));
}

void sim_band_status(const struct sim_band *band, struct sim_band_status *ret)
{
	*ret = (struct sim_band_status){
		.connected = band->connected,
		.authenticated = band->authenticated,
		.awaiting_tap = band->has_pending_key,
		.has_key = band->has_key,
		.rebooting = band->rebooting,
		.visible_while_connected = band->visible_while_connected,
		.battery = band->battery,
		.charging = band->charging,
		.heart_rate = band->heart_rate,
	};
	memcpy(ret->key, band->key, sizeof(ret->key));
	ret->steps = steps_today(band);
	step_totals(ret->steps, &ret->distance_m, &ret->calories);
	ret->clock_utc = sim_band_clock(band, &ret->tz_quarters);
	ret->history_rounds = (unsigned)band->fetch.running + (unsigned)band->older.running;
	ret->history_packets = band->history_packets;
	ret->history_lost = band->history_lost;
	for (guint i = 0; i < band->alerts->len; i++)
		ret->alerts_shown += ((struct sim_alert *)band->alerts->pdata[i])->shown;
}

const GPtrArray *sim_band_writes(const struct sim_band *band)
{
	return band->writes;
}

const GPtrArray *sim_band_alerts(const struct sim_band *band)
{
	return band->alerts;
}

void sim_band_clear_received(struct sim_band *band)
{
	g_ptr_array_set_size(band->writes, 0);
	g_ptr_array_set_size(band->alerts, 0);
	band->any_shown = false;
}

/* ---- life ---- */

void sim_band_config_init(struct sim_band_config *cfg)
{
	*cfg = (struct sim_band_config){
		.has_key = true,
		.auto_tap_ms = -1,
		.fetch_cap = 1440,
		.auth_timeout_ms = 25000,
		.key_confirm_timeout_ms = 30000,
		.history_days = 7,
		.seed = 1,
		.steps_format = 13,
		.reboot_ms = 4000,
	};
	memcpy(cfg->key, legacy_key, sizeof(legacy_key));
}

static void write_free(gpointer p)
{
	struct sim_write *w = p;

	g_bytes_unref(w->value);
	g_free(w);
}

static void alert_free(gpointer p)
{
	struct sim_alert *a = p;

	g_free(a->text);
	g_free(a);
}

static void init_world(struct sim_band *band)
{
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;

	band->in_range = true;
	band->rssi = (int16_t)(-50 - (int)(band->cfg.seed % 25));
	band->battery = 87;
	band->battery_charge_level = 100;
	band->battery_charge_utc = band->battery_off_utc = now - 2 * DAY;
	band->heart_rate = 72;
	band->drop_at_packet = -1;
	band->corrupt_chr = SIM_CHR_COUNT;
	band->story_days = band->cfg.history_days;
	band->oldest = floor_minute(now) - (int64_t)band->story_days * DAY;
	sim_band_set_clock(band, now, 0);
}

struct sim_band *sim_band_new(const struct sim_band_config *cfg, const struct sim_band_ops *ops, void *user_data)
{
	struct sim_band *band = g_new0(struct sim_band, 1);

	band->cfg = *cfg;
	band->cfg.fetch_cap = MAX(cfg->fetch_cap, 1u);
	band->cfg.steps_format = cfg->steps_format == 5 ? 5 : 13;
	band->ops = ops;
	band->user_data = user_data;
	band->rand = g_rand_new_with_seed(cfg->seed);
	band->tap_delay_ms = cfg->auto_tap_ms < 0 ? (unsigned)-1 : (unsigned)cfg->auto_tap_ms;
	band->has_key = cfg->has_key;
	memcpy(band->key, cfg->key, sizeof(band->key));
	band->minutes = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
	band->writes = g_ptr_array_new_with_free_func(write_free);
	band->alerts = g_ptr_array_new_with_free_func(alert_free);
	g_queue_init(&band->outbox);
	if (cfg->address[0])
		g_strlcpy(band->address, cfg->address, sizeof(band->address));
	else
		new_address(band);
	init_world(band);
	band->gaps = g_array_new(FALSE, FALSE, sizeof(struct gap));
	return band;
}

void sim_band_free(struct sim_band *band)
{
	if (!band)
		return;
	forget_link(band);
	clear_source(&band->drop_idle);
	clear_source(&band->advert_idle);
	clear_source(&band->reboot_timer);
	clear_source(&band->reset_timer);
	g_hash_table_unref(band->minutes);
	g_array_unref(band->gaps);
	g_ptr_array_unref(band->writes);
	g_ptr_array_unref(band->alerts);
	g_rand_free(band->rand);
	g_free(band);
}
