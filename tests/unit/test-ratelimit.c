/* The one rate limiter (gateway/ratelimit.h): the burst per window, the count of what was held back handed to
 * the next line let through, windows that start afresh, and a reset. */
#include <glib.h>

#include "ratelimit.h"

#define S G_USEC_PER_SEC

static void test_burst_then_held_back_then_counted(void)
{
	struct ratelimit r = RATELIMIT_INIT(60 * S, 3);
	unsigned held = 99;

	for (int i = 0; i < 3; i++) {
		g_assert_true(ratelimit_below(&r, 1000 * S + i, &held));
		g_assert_cmpuint(held, ==, 0);
	}
	for (int i = 0; i < 7; i++)
		g_assert_false(ratelimit_below(&r, 1010 * S, &held));
	/* Still inside the window a minute long. */
	g_assert_false(ratelimit_below(&r, 1059 * S, &held));
	/* The next window: let through, and it says how many it stands for. */
	g_assert_true(ratelimit_below(&r, 1060 * S, &held));
	g_assert_cmpuint(held, ==, 8);
	g_assert_true(ratelimit_below(&r, 1061 * S, &held));
	g_assert_cmpuint(held, ==, 0);
}

static void test_reset_starts_a_window_at_once(void)
{
	struct ratelimit r = RATELIMIT_INIT(10 * S, 1);
	unsigned held = 0;

	g_assert_true(ratelimit_below(&r, 5 * S, NULL));
	g_assert_false(ratelimit_below(&r, 6 * S, NULL));
	ratelimit_reset(&r);
	g_assert_true(ratelimit_below(&r, 6 * S, &held));
	g_assert_cmpuint(held, ==, 1);
	g_assert_false(ratelimit_below(&r, 7 * S, NULL));
}

static void test_clock_at_zero(void)
{
	struct ratelimit r = RATELIMIT_INIT(10 * S, 1);

	g_assert_true(ratelimit_below(&r, 0, NULL));
	g_assert_false(ratelimit_below(&r, 1, NULL)); /* the window that began at 0 holds */
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ratelimit/burst", test_burst_then_held_back_then_counted);
	g_test_add_func("/ratelimit/reset", test_reset_starts_a_window_at_once);
	g_test_add_func("/ratelimit/zero", test_clock_at_zero);
	return g_test_run();
}
