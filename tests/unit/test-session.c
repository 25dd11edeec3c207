/* The LAN listener's sessions and login limit (web/session.h), on a clock the test drives: sessions found by their
 * token until they sit idle too long, the least recently used one giving way at SESSION_MAX, logout and a password
 * change; the CSRF comparison; per address a burst of wrong passwords, then one per LOGIN_REFILL_S with the wait
 * said in whole seconds, a right one forgetting the address, and a table of addresses that never grows. */
#include <glib.h>
#include <string.h>

#include "session.h"

#define S ((int64_t)G_USEC_PER_SEC)
#define T0 (1000 * S) /* a monotonic clock is any number: start away from 0 */

static bool is_hex(const char *s)
{
	for (; *s; s++)
		if (!g_ascii_isxdigit(*s) || g_ascii_isupper(*s))
			return false;
	return true;
}

/* sessions_create's answer is valid until the next call on the table: keep copies. */
static struct session copy_of(const struct session *s)
{
	g_assert_nonnull(s);
	return *s;
}

static void test_create_and_find(void)
{
	struct sessions *s = sessions_new(60 * S);
	struct session a = copy_of(sessions_create(s, T0)), b = copy_of(sessions_create(s, T0));
	const struct session *found;

	g_assert_cmpuint(strlen(a.token), ==, SESSION_TOKEN_LEN);
	g_assert_cmpuint(strlen(a.csrf), ==, SESSION_TOKEN_LEN);
	g_assert_true(is_hex(a.token) && is_hex(a.csrf));
	g_assert_cmpstr(a.token, !=, a.csrf);
	g_assert_cmpstr(a.token, !=, b.token);
	g_assert_cmpstr(a.csrf, !=, b.csrf);
	g_assert_cmpuint(sessions_count(s), ==, 2);
	found = sessions_find(s, a.token, T0 + S);
	g_assert_nonnull(found);
	g_assert_cmpstr(found->csrf, ==, a.csrf);
	g_assert_cmpstr(sessions_find(s, b.token, T0 + S)->csrf, ==, b.csrf);
	/* Only the token names a session: not its CSRF token, not a prefix, not nothing. */
	g_assert_null(sessions_find(s, a.csrf, T0 + S));
	g_assert_null(sessions_find(s, "", T0 + S));
	g_assert_null(sessions_find(s, NULL, T0 + S));
	a.token[SESSION_TOKEN_LEN - 1] = '\0';
	g_assert_null(sessions_find(s, a.token, T0 + S));
	g_assert_cmpuint(sessions_count(s), ==, 2);
	sessions_free(s);
	sessions_free(NULL);
}

static void test_idle_expiry(void)
{
	struct sessions *s = sessions_new(10 * S);
	struct session a = copy_of(sessions_create(s, T0));
	struct session b = copy_of(sessions_create(s, T0));

	/* Each use restarts the idle time: a session used every 9 s lives on well past 10 s. */
	for (int64_t t = T0 + 9 * S; t <= T0 + 90 * S; t += 9 * S)
		g_assert_nonnull(sessions_find(s, a.token, t));
	/* b was never used after T0: it ended 10 s later, and a lookup takes it away. */
	g_assert_cmpuint(sessions_count(s), ==, 2);
	g_assert_null(sessions_find(s, b.token, T0 + 90 * S));
	g_assert_cmpuint(sessions_count(s), ==, 1);
	/* The edge: 10 s idle to the microsecond is too long, one microsecond less is not. */
	g_assert_nonnull(sessions_find(s, a.token, T0 + 100 * S - 1));
	g_assert_null(sessions_find(s, a.token, T0 + 110 * S - 1));
	g_assert_null(sessions_find(s, a.token, T0 + 110 * S - 2)); /* gone for good, not only late */
	g_assert_cmpuint(sessions_count(s), ==, 0);
	sessions_free(s);
}

/* A new session sweeps out the expired ones, so a table of dead sessions does not push out a live one. */
static void test_create_sweeps_expired(void)
{
	struct sessions *s = sessions_new(10 * S);
	struct session live;

	for (int i = 0; i < SESSION_MAX - 1; i++)
		sessions_create(s, T0);
	live = copy_of(sessions_create(s, T0 + 5 * S));
	g_assert_cmpuint(sessions_count(s), ==, SESSION_MAX);
	sessions_create(s, T0 + 11 * S);
	g_assert_cmpuint(sessions_count(s), ==, 2);
	g_assert_nonnull(sessions_find(s, live.token, T0 + 12 * S));
	sessions_free(s);
}

static void test_least_recently_used_gives_way(void)
{
	struct sessions *s = sessions_new(3600 * S);
	struct session all[SESSION_MAX];
	struct session newest;

	for (int i = 0; i < SESSION_MAX; i++)
		all[i] = copy_of(sessions_create(s, T0 + i * S));
	g_assert_cmpuint(sessions_count(s), ==, SESSION_MAX);
	/* The first one is used again: the second is now the least recently used. */
	g_assert_nonnull(sessions_find(s, all[0].token, T0 + 100 * S));
	newest = copy_of(sessions_create(s, T0 + 101 * S));
	g_assert_cmpuint(sessions_count(s), ==, SESSION_MAX);
	g_assert_null(sessions_find(s, all[1].token, T0 + 102 * S));
	g_assert_nonnull(sessions_find(s, all[0].token, T0 + 102 * S));
	g_assert_nonnull(sessions_find(s, newest.token, T0 + 102 * S));
	for (int i = 2; i < SESSION_MAX; i++)
		g_assert_nonnull(sessions_find(s, all[i].token, T0 + 103 * S));
	/* Many more logins: the table stays bounded, and the newest always gets in. */
	for (int i = 0; i < 3 * SESSION_MAX; i++) {
		newest = copy_of(sessions_create(s, T0 + (200 + i) * S));
		g_assert_cmpuint(sessions_count(s), <=, SESSION_MAX);
		g_assert_nonnull(sessions_find(s, newest.token, T0 + (200 + i) * S));
	}
	g_assert_cmpuint(sessions_count(s), ==, SESSION_MAX);
	sessions_free(s);
}

static void test_remove_and_clear(void)
{
	struct sessions *s = sessions_new(60 * S);
	struct session a = copy_of(sessions_create(s, T0)), b = copy_of(sessions_create(s, T0));

	sessions_remove(s, a.token);
	sessions_remove(s, a.token); /* twice: nothing more happens */
	sessions_remove(s, "not a token");
	sessions_remove(s, NULL);
	g_assert_null(sessions_find(s, a.token, T0));
	g_assert_nonnull(sessions_find(s, b.token, T0));
	g_assert_cmpuint(sessions_count(s), ==, 1);
	a = copy_of(sessions_create(s, T0));
	sessions_clear(s);
	g_assert_cmpuint(sessions_count(s), ==, 0);
	g_assert_null(sessions_find(s, a.token, T0));
	g_assert_null(sessions_find(s, b.token, T0));
	/* The table works on after a clear. */
	a = copy_of(sessions_create(s, T0));
	g_assert_nonnull(sessions_find(s, a.token, T0));
	sessions_free(s);
}

static void test_csrf(void)
{
	struct sessions *s = sessions_new(60 * S);
	struct session a = copy_of(sessions_create(s, T0)), b = copy_of(sessions_create(s, T0));
	char wrong[SESSION_TOKEN_LEN + 2];

	g_assert_true(session_csrf_ok(&a, a.csrf));
	g_assert_false(session_csrf_ok(&a, b.csrf));
	g_assert_false(session_csrf_ok(&a, a.token));
	g_assert_false(session_csrf_ok(&a, NULL));
	g_assert_false(session_csrf_ok(&a, ""));
	/* One character off at either end, one short, one long. */
	for (size_t at = 0; at < SESSION_TOKEN_LEN; at += SESSION_TOKEN_LEN - 1) {
		memcpy(wrong, a.csrf, sizeof(a.csrf));
		wrong[at] = wrong[at] == '0' ? '1' : '0';
		g_assert_false(session_csrf_ok(&a, wrong));
	}
	memcpy(wrong, a.csrf, sizeof(a.csrf));
	wrong[SESSION_TOKEN_LEN - 1] = '\0';
	g_assert_false(session_csrf_ok(&a, wrong));
	memcpy(wrong, a.csrf, SESSION_TOKEN_LEN);
	wrong[SESSION_TOKEN_LEN] = 'a';
	wrong[SESSION_TOKEN_LEN + 1] = '\0';
	g_assert_false(session_csrf_ok(&a, wrong));
	sessions_free(s);
}

/* ---- the login limit ---- */

static void test_burst_then_refill(void)
{
	struct login_limit *l = login_limit_new();
	unsigned retry = 0;

	for (int i = 0; i < LOGIN_BURST; i++)
		g_assert_true(login_limit_allow(l, "192.0.2.1", T0, &retry));
	g_assert_false(login_limit_allow(l, "192.0.2.1", T0, &retry));
	g_assert_cmpuint(retry, ==, LOGIN_REFILL_S);
	/* Refused tries cost nothing: the wait only shrinks as time passes. */
	g_assert_false(login_limit_allow(l, "192.0.2.1", T0 + 10 * S, &retry));
	g_assert_cmpuint(retry, ==, LOGIN_REFILL_S - 10);
	/* Partial seconds round up, and the wait is never 0. */
	g_assert_false(login_limit_allow(l, "192.0.2.1", T0 + 10 * S + S / 2, &retry));
	g_assert_cmpuint(retry, ==, LOGIN_REFILL_S - 10);
	g_assert_false(login_limit_allow(l, "192.0.2.1", T0 + LOGIN_REFILL_S * S - 1000, &retry));
	g_assert_cmpuint(retry, ==, 1);
	/* One try per LOGIN_REFILL_S, then the whole wait again. */
	g_assert_true(login_limit_allow(l, "192.0.2.1", T0 + LOGIN_REFILL_S * S + S / 100, &retry));
	g_assert_false(login_limit_allow(l, "192.0.2.1", T0 + LOGIN_REFILL_S * S + S / 100, &retry));
	g_assert_cmpuint(retry, ==, LOGIN_REFILL_S);
	/* Another address has its own tries. */
	g_assert_true(login_limit_allow(l, "192.0.2.2", T0 + LOGIN_REFILL_S * S + S / 100, &retry));
	/* A long rest gives back the burst, no more. */
	for (int i = 0; i < LOGIN_BURST; i++)
		g_assert_true(login_limit_allow(l, "192.0.2.1", T0 + 100000 * S, &retry));
	g_assert_false(login_limit_allow(l, "192.0.2.1", T0 + 100000 * S, &retry));
	login_limit_free(l);
	login_limit_free(NULL);
}

static void test_success_forgets(void)
{
	struct login_limit *l = login_limit_new();
	unsigned retry = 0;

	for (int i = 0; i < LOGIN_BURST - 1; i++)
		g_assert_true(login_limit_allow(l, "2001:db8::1", T0, &retry));
	login_limit_success(l, "2001:db8::1");
	login_limit_success(l, "2001:db8::9"); /* an address never seen: nothing happens */
	for (int i = 0; i < LOGIN_BURST; i++)
		g_assert_true(login_limit_allow(l, "2001:db8::1", T0 + S, &retry));
	g_assert_false(login_limit_allow(l, "2001:db8::1", T0 + S, &retry));
	login_limit_free(l);
}

/* LOGIN_ADDRESSES_MAX addresses are remembered, never more: an unknown one waits while all of them are still
 * counting (if the table grew, it would be let in), and gets in once one of them is whole again. */
static void test_table_never_grows(void)
{
	struct login_limit *l = login_limit_new();
	char address[32];
	unsigned retry = 0;

	for (int i = 0; i < LOGIN_ADDRESSES_MAX; i++) {
		g_snprintf(address, sizeof(address), "10.0.%d.%d", i / 256, i % 256);
		for (int j = 0; j < LOGIN_BURST; j++)
			g_assert_true(login_limit_allow(l, address, T0, &retry));
	}
	/* Twice as many strangers over 20 s (the clock is monotonic: it only goes on). */
	for (int i = 0; i < 2 * LOGIN_ADDRESSES_MAX; i++) {
		g_snprintf(address, sizeof(address), "172.16.%d.%d", i / 256, i % 256);
		retry = 0;
		g_assert_false(login_limit_allow(l, address, T0 + i * (S / 100), &retry));
		g_assert_cmpuint(retry, >=, 1);
	}
	/* A known address is still served by its own bucket. */
	g_assert_false(login_limit_allow(l, "10.0.0.0", T0 + 25 * S, &retry));
	g_assert_cmpuint(retry, ==, LOGIN_REFILL_S - 25);
	g_assert_true(login_limit_allow(l, "10.0.0.0", T0 + LOGIN_REFILL_S * S + S / 100, &retry));
	/* Every bucket refilling, none whole yet: still no room. */
	g_assert_false(login_limit_allow(l, "172.16.0.1", T0 + 2 * LOGIN_REFILL_S * S, &retry));
	/* Whole again: the addresses are forgotten, and the new one is let in. */
	g_assert_true(login_limit_allow(l, "172.16.0.1", T0 + (LOGIN_BURST + 1) * LOGIN_REFILL_S * S, &retry));
	login_limit_free(l);
}

/* A success makes room in a full table too. */
static void test_success_makes_room(void)
{
	struct login_limit *l = login_limit_new();
	char address[32];
	unsigned retry = 0;

	for (int i = 0; i < LOGIN_ADDRESSES_MAX; i++) {
		g_snprintf(address, sizeof(address), "10.1.%d.%d", i / 256, i % 256);
		g_assert_true(login_limit_allow(l, address, T0, &retry));
	}
	g_assert_false(login_limit_allow(l, "198.51.100.1", T0, &retry));
	login_limit_success(l, "10.1.0.7");
	g_assert_true(login_limit_allow(l, "198.51.100.1", T0, &retry));
	g_assert_false(login_limit_allow(l, "198.51.100.2", T0, &retry));
	login_limit_free(l);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/session/create-find", test_create_and_find);
	g_test_add_func("/session/idle-expiry", test_idle_expiry);
	g_test_add_func("/session/create-sweeps-expired", test_create_sweeps_expired);
	g_test_add_func("/session/lru", test_least_recently_used_gives_way);
	g_test_add_func("/session/remove-clear", test_remove_and_clear);
	g_test_add_func("/session/csrf", test_csrf);
	g_test_add_func("/login-limit/burst-refill", test_burst_then_refill);
	g_test_add_func("/login-limit/success-forgets", test_success_forgets);
	g_test_add_func("/login-limit/bounded", test_table_never_grows);
	g_test_add_func("/login-limit/success-makes-room", test_success_makes_room);
	return g_test_run();
}
