/* The one jittered backoff (gateway/backoff.h): the free tries, the doubling, the ceiling, and that every wait
 * stays inside its step's jitter for the lowest, highest and any random number. */
#include <glib.h>

#include "backoff.h"

static const struct backoff reconnect = { .first_ms = 1000, .max_ms = 60000, .jitter_pct = 20, .free_tries = 1 };

/* The policies the gateway runs with: a dropped link is retried at once, then 1 s doubling to the minute. */
static void test_band_reconnect_policy(void)
{
	g_assert_cmpuint(backoff_ms(&backoff_band_reconnect, 1, 0xffffffffu), ==, 0);
	g_assert_cmpuint(backoff_ms(&backoff_band_reconnect, 2, 400), ==, 1200);
	for (unsigned f = 8; f < 40; f++) {
		g_assert_cmpuint(backoff_ms(&backoff_band_reconnect, f, 0), ==, 48000);
		g_assert_cmpuint(backoff_ms(&backoff_band_reconnect, f, 24000), ==, 72000);
	}
	g_assert_cmpuint(backoff_ms(&backoff_sync_quiet, 1, 200), ==, 1000);
	g_assert_cmpuint(backoff_ms(&backoff_sync_quiet, 9, 0), ==, 6400);
	/* The broker: never given up, a minute at most; the adapter: half a minute at most. */
	g_assert_cmpuint(backoff_ms(&backoff_mqtt_connect, 1, 0), ==, 750);
	g_assert_cmpuint(backoff_ms(&backoff_mqtt_connect, 1000, 0), ==, 45000);
	g_assert_cmpuint(backoff_ms(&backoff_adapter, 1, 0), ==, 900);
	g_assert_cmpuint(backoff_ms(&backoff_adapter, 50, 6000), ==, 33000);
}

static void test_free_tries_are_immediate(void)
{
	g_assert_cmpuint(backoff_ms(&reconnect, 0, 12345), ==, 0);
	g_assert_cmpuint(backoff_ms(&reconnect, 1, 0xffffffffu), ==, 0);
	/* The second failure waits the first step. */
	g_assert_cmpuint(backoff_ms(&reconnect, 2, 0), ==, 800);
}

static void test_steps_double_to_the_ceiling(void)
{
	const struct backoff exact = { .first_ms = 1000, .max_ms = 60000, .jitter_pct = 0, .free_tries = 0 };
	const unsigned want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };

	for (unsigned i = 0; i < G_N_ELEMENTS(want); i++)
		g_assert_cmpuint(backoff_ms(&exact, i + 1, 999), ==, want[i]);
	/* Thousands of failures in a row: no shift overflows, still the ceiling. */
	g_assert_cmpuint(backoff_ms(&exact, 100000, 7), ==, 60000);
}

static void test_jitter_stays_inside_its_step(void)
{
	GRand *r = g_rand_new_with_seed(14);
	unsigned lo = 60000, hi = 0;

	for (unsigned i = 0; i < 20000; i++) {
		unsigned w = backoff_ms(&reconnect, 50, g_rand_int(r));

		lo = MIN(lo, w);
		hi = MAX(hi, w);
	}
	g_assert_cmpuint(lo, >=, 48000);
	g_assert_cmpuint(hi, <=, 72000);
	/* Spread over the range, not stuck at one end. */
	g_assert_cmpuint(lo, <, 49000);
	g_assert_cmpuint(hi, >, 71000);
	g_assert_cmpuint(backoff_ms(&reconnect, 3, 0), ==, 1600);
	g_assert_cmpuint(backoff_ms(&reconnect, 3, 800), ==, 2400);
	g_rand_free(r);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/backoff/free-tries", test_free_tries_are_immediate);
	g_test_add_func("/backoff/doubling", test_steps_double_to_the_ceiling);
	g_test_add_func("/backoff/jitter", test_jitter_stays_inside_its_step);
	g_test_add_func("/backoff/policies", test_band_reconnect_policy);
	return g_test_run();
}
