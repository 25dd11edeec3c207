/* The table of actions (gateway/action.h): every row found by both its names, names unique and fit for the
 * places they go (a URL segment, an MQTT topic level), and the lists the fronts print. */
#include <glib.h>
#include <string.h>

#include "action.h"

static void test_every_row_by_both_names(void)
{
	for (int id = 0; id < ACTION_COUNT; id++) {
		const struct action *a = action_get(id);

		g_assert_nonnull(a);
		g_assert_cmpint(a->id, ==, id);
		g_assert_true(action_find(a->name, false) == a);
		g_assert_true(action_find(a->mqtt_name, true) == a);
		/* A topic level and a Home Assistant object id: no '-', '/', '+', '#' or space. */
		g_assert_cmpuint(strcspn(a->mqtt_name, "-/+# "), ==, strlen(a->mqtt_name));
		g_assert_cmpuint(strcspn(a->name, "_/+# "), ==, strlen(a->name));
		g_assert_true(a->summary && *a->summary);
		for (int other = 0; other < id; other++)
			g_assert_cmpstr(action_get(other)->name, !=, a->name);
	}
	g_assert_null(action_get(ACTION_COUNT));
	g_assert_null(action_find("set_time", false));
	g_assert_null(action_find("set-time", true));
	g_assert_null(action_find("dance", false));
	g_assert_null(action_find(NULL, false));
}

static void test_what_each_needs(void)
{
	g_assert_true(action_get(ACTION_FACTORY_RESET)->flags & ACTION_FLAG_CONFIRM);
	/* What cannot be undone or forgets the band is never one MQTT message away. */
	g_assert_false(action_get(ACTION_FACTORY_RESET)->flags & ACTION_FLAG_MQTT);
	g_assert_false(action_get(ACTION_FORGET)->flags & ACTION_FLAG_MQTT);
	g_assert_true(action_get(ACTION_NOTIFY)->flags & ACTION_FLAG_TEXT);
	for (int id = 0; id < ACTION_COUNT; id++)
		if (action_get(id)->flags & ACTION_FLAG_TEXT)
			g_assert_true(action_get(id)->flags & ACTION_FLAG_ALERT);
}

static void test_names_lists_and_truncation(void)
{
	char buf[512], small[10];
	size_t need;

	action_names(buf, sizeof(buf), ACTION_FLAG_ALERT, true);
	g_assert_cmpstr(buf, ==, "notify, vibrate, find");
	need = action_names(buf, sizeof(buf), ACTION_FLAG_MQTT, true);
	g_assert_cmpuint(need, ==, strlen(buf));
	g_assert_nonnull(strstr(buf, "set_time, notify"));
	g_assert_null(strstr(buf, "forget"));
	need = action_names(small, sizeof(small), 0, false);
	g_assert_cmpuint(need, >, sizeof(small));
	g_assert_cmpuint(strlen(small), ==, sizeof(small) - 1);
	g_assert_true(strncmp(small, "reconnect", 9) == 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/action/names", test_every_row_by_both_names);
	g_test_add_func("/action/needs", test_what_each_needs);
	g_test_add_func("/action/lists", test_names_lists_and_truncation);
	return g_test_run();
}
