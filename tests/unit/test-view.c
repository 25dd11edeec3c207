/* The band's one view (gateway/view.h): every key always there, unknown values null (never 0 or ""), and the
 * time with its zone. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"
#include "view.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(cJSON, cJSON_Delete)

static const char *const keys[] = { "id", "address", "state", "description", "connected", "steps", "distance",
	                            "calories", "battery", "charging", "heart_rate", "last_sync", "sync",
	                            "sync_error", "firmware", "rssi", "advice", "fault", "since", "tap_deadline" };

static void test_unknown_is_null(void)
{
	struct manager_snapshot s = { .address = "C8:0F:10:11:22:33", .id = "c80f10112233", .state = "absent",
		                      .description = "Looking for the band", .steps = -1, .meters = -1, .calories = -1,
		                      .battery = -1, .heart_rate = -1, .sync = "idle", .firmware = "" };
	g_autoptr(cJSON) o = view_band(&s);

	g_assert_cmpint(cJSON_GetArraySize(o), ==, G_N_ELEMENTS(keys));
	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
		g_assert_nonnull(cJSON_GetObjectItemCaseSensitive(o, keys[i]));
	static const char *const nulls[] = { "steps", "distance", "calories", "battery", "heart_rate", "last_sync",
		                             "sync_error", "firmware", "rssi", "since", "tap_deadline" };
	for (size_t i = 0; i < G_N_ELEMENTS(nulls); i++)
		g_assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, nulls[i])));
	g_assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "connected")));
}

static void test_known_values(void)
{
	struct manager_snapshot s = { .address = "C8:0F:10:11:22:33", .id = "c80f10112233", .state = "ready",
		                      .description = "Connected and authenticated", .connected = true, .steps = 0,
		                      .meters = 12, .calories = 3, .battery = 80, .charging = true, .heart_rate = 71,
		                      .last_sync = 1796245380, .sync = "failed", .sync_error = "why", .firmware = "V1.0.1.81",
		                      .has_rssi = true, .rssi = -60 };
	g_autoptr(cJSON) o = view_band(&s);
	g_autofree char *text = cJSON_PrintUnformatted(o);
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "last_sync"));

	/* Zero steps are a value (the day began), not unknown. */
	g_assert_cmpfloat(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "steps")), ==, 0);
	g_assert_cmpfloat(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "rssi")), ==, -60);
	g_assert_cmpstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sync_error")), ==, "why");
	g_assert_nonnull(t);
	g_assert_true(g_str_has_suffix(t, "+01:00")); /* RFC 3339: the offset with its minutes, never "+01" */
	g_autoptr(GDateTime) back = g_date_time_new_from_iso8601(t, NULL);
	g_assert_nonnull(back);
	g_assert_cmpint(g_date_time_to_unix(back), ==, 1796245380);
	g_assert_nonnull(strstr(text, "\"connected\":true"));
	/* Now, to the microsecond, the same way: RFC 3339 with the offset's minutes, and it parses back. */
	g_autofree char *now = view_time_now_us();
	g_autoptr(GDateTime) parsed = g_date_time_new_from_iso8601(now, NULL);

	g_assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}[+-]\\d\\d:\\d\\d$", now, 0, 0));
	g_assert_nonnull(parsed);
	g_assert_cmpint(llabs(g_date_time_to_unix(parsed) - g_get_real_time() / G_USEC_PER_SEC), <=, 2);
}

static const char *advice_of(struct manager_snapshot *s, char **ret)
{
	g_free(*ret);
	*ret = view_advice(s);
	return *ret;
}

/* The next step and where the fault is, for each case a person meets (issue 16's examples). */
static void test_advice(void)
{
	struct manager_snapshot s = { .state = "awaiting-tap", .sync = "idle", .adapter = "powered",
		                      .since = 1796245380, /* 22:03 in Berlin */ .tap_deadline = 1796245440 };
	g_autofree char *a = NULL;
	g_autoptr(cJSON) o = NULL;

	g_assert_cmpstr(advice_of(&s, &a), ==, "Tap the band now");
	g_assert_null(view_fault(&s));
	o = view_band(&s);
	g_assert_nonnull(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "tap_deadline")));
	s.state = "auth-rejected";
	g_assert_cmpstr(advice_of(&s, &a), ==, "Paired to another phone: press Re-pair");
	g_assert_cmpstr(view_fault(&s), ==, "band");
	s.state = "absent";
	g_assert_true(g_str_has_prefix(advice_of(&s, &a), "Out of range since 22:03"));
	g_assert_cmpstr(view_fault(&s), ==, "band");
	s.state = "disconnected";
	g_assert_cmpstr(view_fault(&s), ==, "link");
	s.adapter = "resetting";
	g_assert_cmpstr(advice_of(&s, &a), ==, "The adapter stopped answering: the gateway is resetting it");
	g_assert_cmpstr(view_fault(&s), ==, "adapter");
	s.adapter = "powered";
	s.state = "ready";
	s.connected = true;
	g_assert_null(advice_of(&s, &a));
	g_assert_null(view_fault(&s));
	s.sync = "failed";
	g_assert_nonnull(strstr(advice_of(&s, &a), "Sync now"));
}

int main(int argc, char **argv)
{
	g_setenv("TZ", "Europe/Berlin", TRUE);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/view/unknown-is-null", test_unknown_is_null);
	g_test_add_func("/view/known", test_known_values);
	g_test_add_func("/view/advice", test_advice);
	return g_test_run();
}
