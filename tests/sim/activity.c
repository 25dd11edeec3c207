/* The band's generated history (§10.2, §10.3). Each local day gets a plan drawn from (seed, day): when the
 * wearer wakes and goes to bed, walks, runs, showers without the band, charges it. A minute is then that
 * plan plus a little per-minute noise. Nothing is stored, so any minute can be asked for in any order.
 *
 * Raw kind bytes: §10.3 lists the low-nibble codes (1 walking, 2 running, 3 not worn, 6 charging, 9 light
 * sleep, 0x0b deep sleep, 0x0c waking, 0x0a "ignore", 0 "same as before") and says real MB2 data also carries
 * the 0x50/0x60/0x70 high-nibble families: ten 0x51 minutes with zero intensity and a 0x5b mark falling
 * asleep, runs of 0x70 with zero intensity are deep sleep, 0x1c is waking. The night below is built from
 * exactly those; what the high nibble means is UNCERTAIN, so this is a costume, not a model of the firmware. */
#include <glib.h>

#include "activity.h"

#define DAY_MINUTES 1440
#define MAX_WALKS 5
#define HR_PERIOD 30 /* minutes between the all-day heart-rate readings that land in byte 3 (§10.2, §11.1) */

/* §10.3 raw kind bytes, as the night and the day below use them. */
enum {
	KIND_SAME = 0x00,
	KIND_WALK = 0x01,
	KIND_RUN = 0x02,
	KIND_OFF = 0x03,
	KIND_CHARGE = 0x06,
	KIND_IDLE = 0x0a,
	KIND_DOZE = 0x51,        /* the ten quiet minutes before falling asleep */
	KIND_ASLEEP_MARK = 0x5b, /* falling asleep */
	KIND_LIGHT = 0x60,
	KIND_LIGHT_MARK = 0x79,  /* a light-sleep stretch begins */
	KIND_DEEP = 0x70,
	KIND_DEEP_MARK = 0x7b,   /* a deep-sleep stretch begins */
	KIND_WAKING = 0x1c,
};

enum activity_state {
	ACTIVITY_SLEEP,
	ACTIVITY_SIT,
	ACTIVITY_WALK,
	ACTIVITY_RUN,
	ACTIVITY_OFF,
	ACTIVITY_CHARGE,
};

struct span {
	int start, len; /* minutes of the local day; len 0 = none */
};

struct day_plan {
	int wake, bed;           /* the night before ends at wake; tonight's starts at bed */
	struct span off;         /* the band off the wrist (a shower) */
	struct span charge;
	struct span run;
	struct span walks[MAX_WALKS];
	int n_walks;
	int hr_phase;            /* which minute of each half hour the periodic reading falls on */
	int rest_bpm, sleep_bpm;
	int deep[3];             /* deep-sleep minutes in the first three cycles of tonight */
};

struct rng {
	uint64_t state;
};

/* splitmix64's finaliser: a good 64-bit mix for hashing (seed, day) and (seed, minute). */
static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static struct rng rng_for(uint32_t seed, uint64_t salt, int64_t n)
{
	struct rng r = { mix(mix(((uint64_t)seed << 8) ^ salt) ^ (uint64_t)n) };

	return r;
}

static uint32_t rng_next(struct rng *r)
{
	r->state += 0x9e3779b97f4a7c15u;
	return (uint32_t)(mix(r->state) >> 32);
}

/* Uniform in lo..hi, both included. */
static int rng_range(struct rng *r, int lo, int hi)
{
	return lo + (int)(rng_next(r) % (uint32_t)(hi - lo + 1));
}

static bool rng_chance(struct rng *r, int percent)
{
	return rng_range(r, 0, 99) < percent;
}

static bool in_span(const struct span *s, int m)
{
	return s->len > 0 && m >= s->start && m < s->start + s->len;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday = 0. */
static bool is_weekend(int64_t day)
{
	int64_t weekday = day + 3 - floor_div(day + 3, 7) * 7;

	return weekday >= 5;
}

static void plan_walks(struct day_plan *p, struct rng *r, bool weekend)
{
	p->n_walks = 0;
	if (!weekend) {
		p->walks[p->n_walks++] = (struct span){ p->wake + rng_range(r, 40, 70), rng_range(r, 10, 25) };
		p->walks[p->n_walks++] = (struct span){ rng_range(r, 720, 780), rng_range(r, 10, 30) };
		p->walks[p->n_walks++] = (struct span){ rng_range(r, 1050, 1110), rng_range(r, 10, 25) };
	}
	for (int extra = rng_range(r, weekend ? 1 : 0, 2); extra > 0; extra--)
		p->walks[p->n_walks++] = (struct span){ rng_range(r, 600, 1200), rng_range(r, 5, weekend ? 60 : 20) };
}

static void plan_day(uint32_t seed, int64_t day, struct day_plan *p)
{
	struct rng r = rng_for(seed, 0xda7, day);
	bool weekend = is_weekend(day);

	p->wake = rng_range(&r, 390, 465) + (weekend ? rng_range(&r, 60, 120) : 0);
	p->bed = rng_range(&r, 1350, 1435);
	p->off = rng_chance(&r, 50) ? (struct span){ p->wake + rng_range(&r, 5, 25), rng_range(&r, 10, 20) }
	                            : (struct span){ 0, 0 };
	p->charge = rng_chance(&r, 25) ? (struct span){ rng_range(&r, 1140, 1230), rng_range(&r, 60, 110) }
	                               : (struct span){ 0, 0 };
	if (p->charge.len && p->charge.start + p->charge.len > p->bed)
		p->charge.len = p->bed - p->charge.start;
	p->run = rng_chance(&r, 30) ? (struct span){ rng_chance(&r, 50) ? p->wake + rng_range(&r, 30, 60)
	                                                                : rng_range(&r, 1080, 1140),
	                                             rng_range(&r, 20, 45) }
	                            : (struct span){ 0, 0 };
	plan_walks(p, &r, weekend);
	p->hr_phase = rng_range(&r, 0, HR_PERIOD - 1);
	p->rest_bpm = rng_range(&r, 60, 74);
	p->sleep_bpm = rng_range(&r, 50, 58);
	p->deep[0] = rng_range(&r, 30, 45);
	p->deep[1] = rng_range(&r, 20, 35);
	p->deep[2] = rng_range(&r, 5, 20);
}

static enum activity_state minute_state(const struct day_plan *p, int m)
{
	if (in_span(&p->charge, m))
		return ACTIVITY_CHARGE;
	if (m < p->wake || m >= p->bed)
		return ACTIVITY_SLEEP;
	if (in_span(&p->off, m))
		return ACTIVITY_OFF;
	if (in_span(&p->run, m))
		return ACTIVITY_RUN;
	for (int i = 0; i < p->n_walks; i++)
		if (in_span(&p->walks[i], m))
			return ACTIVITY_WALK;
	return ACTIVITY_SIT;
}

/* Minute t of a night of len minutes whose first three cycles hold deep[] minutes of deep sleep: ~90-minute
 * cycles of light sleep with the deep stretch 20 minutes into each. */
static void sleep_minute(int t, int len, const int deep[3], struct rng *r, struct sim_sample *s)
{
	int cycle = (t - 11) / 90, pos = (t - 11) % 90;
	int deep_len = cycle < 3 ? deep[cycle] : 0;

	s->steps = 0;
	s->intensity = 0;
	if (t < 10)
		s->kind = KIND_DOZE;
	else if (t == 10)
		s->kind = KIND_ASLEEP_MARK;
	else if (t == len - 1) {
		s->kind = KIND_WAKING;
		s->intensity = rng_range(r, 30, 60);
	} else if (pos >= 20 && pos < 20 + deep_len)
		s->kind = pos == 20 ? KIND_DEEP_MARK : KIND_DEEP;
	else {
		s->kind = pos == 0 || pos == 20 + deep_len ? KIND_LIGHT_MARK : KIND_LIGHT;
		/* Now and then the sleeper turns over. */
		s->intensity = rng_chance(r, 6) ? rng_range(r, 20, 40) : rng_range(r, 0, 7);
	}
}

static void night_minute(uint32_t seed, int64_t day, const struct day_plan *p, int m, struct rng *r,
                         struct sim_sample *s)
{
	struct day_plan other;

	if (m < p->wake) {
		plan_day(seed, day - 1, &other);
		sleep_minute(m + DAY_MINUTES - other.bed, p->wake + DAY_MINUTES - other.bed, other.deep, r, s);
	} else {
		plan_day(seed, day + 1, &other);
		sleep_minute(m - p->bed, other.wake + DAY_MINUTES - p->bed, p->deep, r, s);
	}
}

/* Sitting: mostly still (0x0a, or 0 "same as before" when the minute before was sitting too), sometimes
 * pottering about with a few steps. */
static void sit_minute(const struct day_plan *p, int m, struct rng *r, struct sim_sample *s)
{
	if (rng_chance(r, 20)) {
		s->kind = KIND_WALK;
		s->steps = rng_range(r, 1, 25);
		s->intensity = rng_range(r, 15, 45);
		return;
	}
	s->kind = minute_state(p, m - 1) == ACTIVITY_SIT && rng_chance(r, 40) ? KIND_SAME : KIND_IDLE;
	s->steps = 0;
	s->intensity = rng_range(r, 0, 30);
}

static void moving_minute(uint8_t kind, int lo, int hi, int boost, struct rng *r, struct sim_sample *s)
{
	s->kind = kind;
	s->steps = rng_range(r, lo, hi);
	s->intensity = MIN(255, s->steps - 20 + boost + rng_range(r, 0, 20));
}

static int heart_rate(const struct day_plan *p, enum activity_state state, struct rng *r)
{
	switch (state) {
	case ACTIVITY_SLEEP:
		return p->sleep_bpm + rng_range(r, -2, 2);
	case ACTIVITY_SIT:
		return p->rest_bpm + rng_range(r, -3, 6);
	case ACTIVITY_WALK:
		return p->rest_bpm + rng_range(r, 25, 40);
	case ACTIVITY_RUN:
		return rng_range(r, 140, 170);
	case ACTIVITY_OFF:
	case ACTIVITY_CHARGE:
		break;
	}
	return 0xff;
}

void activity_minute(uint32_t seed, int tz_quarters, int64_t minute_utc, struct sim_sample *ret)
{
	int64_t local = minute_utc + (int64_t)tz_quarters * 900;
	int64_t day = floor_div(local, 86400);
	int m = (int)((local - day * 86400) / 60);
	struct rng r = rng_for(seed, 0x313, floor_div(minute_utc, 60));
	struct day_plan p;
	enum activity_state state;

	plan_day(seed, day, &p);
	state = minute_state(&p, m);
	*ret = (struct sim_sample){ .kind = KIND_OFF, .heart_rate = 0xff };
	switch (state) {
	case ACTIVITY_SLEEP:
		night_minute(seed, day, &p, m, &r, ret);
		break;
	case ACTIVITY_SIT:
		sit_minute(&p, m, &r, ret);
		break;
	case ACTIVITY_WALK:
		moving_minute(KIND_WALK, 60, 120, 0, &r, ret);
		break;
	case ACTIVITY_RUN:
		moving_minute(KIND_RUN, 140, 180, 10, &r, ret);
		break;
	case ACTIVITY_CHARGE:
		ret->kind = KIND_CHARGE;
		break;
	case ACTIVITY_OFF:
		break;
	}
	if (m % HR_PERIOD == p.hr_phase)
		ret->heart_rate = heart_rate(&p, state, &r);
}
