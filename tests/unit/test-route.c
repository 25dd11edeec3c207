/* The API's request parsing (web/route.h): every route, the band in both forms, every refusal with its status,
 * and bodies: nothing, an object, and what is refused (not UTF-8, a NUL byte, not an object, text after it). */
#include <glib.h>
#include <string.h>

#include "route.h"

static void check(const char *path, bool post, enum route_kind kind, unsigned status)
{
	struct route r;

	route_parse(path, post, &r);
	g_assert_cmpint(r.kind, ==, kind);
	g_assert_cmpuint(r.status, ==, status);
	g_assert_true(r.post == post);
	if (kind == ROUTE_ERROR)
		g_assert_true(r.error && *r.error);
}

static void test_routes(void)
{
	struct route r;

	check("/healthz", false, ROUTE_HEALTHZ, 0);
	check("/healthz", true, ROUTE_ERROR, 405);
	check("/api/v1/bands", false, ROUTE_BANDS, 0);
	check("/api/v1/bands", true, ROUTE_BANDS, 0);
	check("/api/v1/scan", true, ROUTE_SCAN, 0);
	check("/metrics", false, ROUTE_METRICS, 0);
	check("/metrics", true, ROUTE_ERROR, 405);
	check("/api/v1/bands/c80f10aabbcc", false, ROUTE_BAND, 0);
	check("/api/v1/bands/c80f10aabbcc", true, ROUTE_ERROR, 405);
	check("/api/v1/bands/c80f10aabbcc/actions/sync", false, ROUTE_ERROR, 405);
	check("/api/v1/bands/c80f10aabbcc/other", false, ROUTE_ERROR, 404);
	check("/api/v1/bands/zz", false, ROUTE_ERROR, 400);
	check("/api/v1/bands/", false, ROUTE_ERROR, 400);
	check("/api/v1/bands/c80f10aabbcc0/actions/sync", true, ROUTE_ERROR, 400);
	check("/", false, ROUTE_ASSET, 0);
	check("/", true, ROUTE_ERROR, 405);
	check("/api/v1/bandsx", false, ROUTE_ERROR, 404);
	check("/api/v1/nothing", false, ROUTE_ERROR, 404);
	check("/../etc/passwd", false, ROUTE_ASSET, 0); /* looked up by exact name among the embedded files: 404 */
	check("", false, ROUTE_ERROR, 404);
	check("/api/v1/login", true, ROUTE_LOGIN, 0);
	check("/api/v1/login", false, ROUTE_ERROR, 405);
	check("/api/v1/logout", true, ROUTE_LOGOUT, 0);
	check("/api/v1/session", false, ROUTE_SESSION, 0);
	check("/api/v1/health", false, ROUTE_HEALTH, 0);
	check("/api/v1/health", true, ROUTE_ERROR, 405);
	check("/ws", false, ROUTE_WS, 0);
	check("/api/v1/bands/c80f10aabbcc/activity", false, ROUTE_BAND_ACTIVITY, 0);
	check("/api/v1/bands/c80f10aabbcc/activity", true, ROUTE_ERROR, 405);
	check("/api/v1/bands/c80f10aabbcc/events", false, ROUTE_BAND_EVENTS, 0);
	check("/api/v1/bands/c80f10aabbcc/notifications", false, ROUTE_BAND_NOTIFICATIONS, 0);
	check("/api/v1/bands/zz/events", false, ROUTE_ERROR, 400);
	route_parse("/api/v1/bands/C8:0F:10:aa:bb:cc/actions/factory-reset", true, &r);
	g_assert_cmpint(r.kind, ==, ROUTE_BAND_ACTION);
	g_assert_cmpstr(r.address, ==, "C8:0F:10:AA:BB:CC");
	g_assert_cmpstr(r.verb, ==, "factory-reset");
	route_parse("/api/v1/bands/c80f10aabbcc", false, &r);
	g_assert_cmpstr(r.address, ==, "C8:0F:10:AA:BB:CC");
	g_assert_false(r.open);
	/* What needs no session: health, the login and its question, the page's files. Nothing else. */
	route_parse("/healthz", false, &r);
	g_assert_true(r.open);
	route_parse("/api/v1/login", true, &r);
	g_assert_true(r.open);
	route_parse("/app.js", false, &r);
	g_assert_true(r.open);
	route_parse("/metrics", false, &r);
	g_assert_false(r.open);
	route_parse("/api/v1/scan", true, &r);
	g_assert_false(r.open);
}

static void check_query(const char *args, bool ok)
{
	g_auto(GStrv) parts = g_strsplit(args, "&", -1);
	struct route_query q;
	const char *why = NULL;
	bool all = true;

	route_query_init(&q);
	for (char **p = parts; *p && all; p++)
		all = route_query_arg(&q, *p, &why);
	g_assert_true(all == ok);
	if (!ok)
		g_assert_true(why && *why);
}

static void test_query(void)
{
	struct route_query q;
	const char *why = NULL;

	check_query("from=0&to=86400&resolution=minute", true);
	check_query("limit=1000", true);
	check_query("limit=1001", false);
	check_query("limit=0", false);
	check_query("from=-1", false);
	check_query("from=1e3", false);
	check_query("from=1&from=2", false);
	check_query("resolution=week", false);
	check_query("colour=red", false);
	check_query("from=99999999999999999999", false);
	/* Defaults: the last day by hour; a span each resolution can answer. */
	route_query_init(&q);
	g_assert_true(route_query_range(&q, 1000000, &why));
	g_assert_cmpint(q.to, ==, 1000000);
	g_assert_cmpint(q.from, ==, 1000000 - 86400);
	route_query_init(&q);
	g_assert_true(route_query_arg(&q, "resolution=day", &why));
	g_assert_true(route_query_range(&q, 10000000, &why));
	g_assert_cmpint(q.from, ==, 10000000 - 30 * 86400);
	route_query_init(&q);
	g_assert_true(route_query_arg(&q, "from=100", &why) && route_query_arg(&q, "to=100", &why));
	g_assert_false(route_query_range(&q, 1000, &why));
	route_query_init(&q);
	g_assert_true(route_query_arg(&q, "from=0", &why) && route_query_arg(&q, "resolution=minute", &why));
	g_assert_true(route_query_arg(&q, "to=172801", &why));
	g_assert_false(route_query_range(&q, 1000, &why)); /* a minute's span is two days at most */
}

static void check_body(const char *body, size_t len, bool ok, bool object)
{
	const char *why = NULL;
	cJSON *o = (cJSON *)1;

	if (route_parse_body(body, len, &o, &why) != ok)
		g_error("%.*s: %s", (int)len, body, why ? why : "ok");
	g_assert_true((o != NULL) == object);
	g_assert_true(ok || (why && *why));
	cJSON_Delete(o);
}

static void test_bodies(void)
{
	check_body("", 0, true, false);
	check_body("{}", 2, true, true);
	check_body("{\"text\":\"Grüße\"}", strlen("{\"text\":\"Grüße\"}"), true, true);
	check_body("[]", 2, false, false);
	check_body("\"x\"", 3, false, false);
	check_body("{} {}", 5, false, false);
	check_body("{\"a\":1}\0{}", 10, false, false);
	check_body("{\"a\":\"\xff\"}", 8, false, false);
	check_body("{\"a\":\"\xed\xa0\x80\"}", 10, false, false); /* a UTF-16 surrogate, encoded */
	check_body("{\"a\":", 5, false, false);
	/* Only len bytes count: the object ends where len says, not at a NUL. */
	check_body("{}garbage", 2, true, true);
}

static void check_number(const char *s, uint64_t min, uint64_t max, bool ok, uint64_t want)
{
	uint64_t v = 12345;

	if (route_number(s, min, max, &v) != ok)
		g_error("\"%s\" in %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ": not %s", s, min, max, ok ? "taken" : "refused");
	g_assert_cmpuint(v, ==, ok ? want : 12345); /* a refusal leaves *ret alone */
}

static void test_numbers(void)
{
	check_number("0", 0, 10, true, 0);
	check_number("007", 0, 10, true, 7);
	check_number("10", 0, 10, true, 10);
	check_number("11", 0, 10, false, 0);
	check_number("0", 1, 10, false, 0);
	check_number("18446744073709551615", 0, UINT64_MAX, true, UINT64_MAX);
	check_number("18446744073709551616", 0, UINT64_MAX, false, 0);
	check_number("18446744073709551619", 0, UINT64_MAX, false, 0); /* wraps to 3 if the check is done after */
	check_number("99999999999999999999", 0, UINT64_MAX, false, 0);
	check_number("253402300799", 0, (uint64_t)ROUTE_TIME_MAX, true, (uint64_t)ROUTE_TIME_MAX);
	check_number("253402300800", 0, (uint64_t)ROUTE_TIME_MAX, false, 0);
	check_number("5", 0, 0, false, 0);
	for (const char *const *bad = (const char *const[]){"", "-1", "+1", " 1", "1 ", "0x1", "1e3", "1.0", "١", NULL};
	     *bad; bad++)
		check_number(*bad, 0, UINT64_MAX, false, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/route/paths", test_routes);
	g_test_add_func("/route/bodies", test_bodies);
	g_test_add_func("/route/query", test_query);
	g_test_add_func("/route/numbers", test_numbers);
	return g_test_run();
}
