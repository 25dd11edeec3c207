/* Home Assistant discovery: the exact payloads for a fixed gateway and band, in both modes, against golden files
 * (tests/unit/golden/ha-*.json), and the properties the golden files cannot show by themselves.
 *
 * A golden file is a JSON object mapping each emitted topic to its payload, parsed ("" for a removal), printed by
 * cJSON_Print. Every payload must also be exactly cJSON_PrintUnformatted of itself, so the golden file fixes the
 * bytes on the wire. After an intended change, regenerate them and review the diff:
 *     BANDGATE_UPDATE_GOLDEN=1 build/<dir>/tests/unit/test-ha */
#include <cjson/cJSON.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "action.h"
#include "ha.h"

struct message {
	char *topic;
	char *payload;
};

static void message_free(gpointer p)
{
	struct message *m = p;

	g_free(m->topic);
	g_free(m->payload);
	g_free(m);
}

static void collect(const char *topic, const char *payload, void *user_data)
{
	struct message *m = g_new0(struct message, 1);

	m->topic = g_strdup(topic);
	m->payload = g_strdup(payload);
	g_ptr_array_add(user_data, m);
}

static struct ha_context context(enum ha_mode mode)
{
	return (struct ha_context){ .discovery_prefix = "homeassistant", .base_topic = "bandgate",
		                    .gateway_id = "pi-kitchen", .version = "0.1.0",
		                    .configuration_url = "http://192.168.1.5:8080/", .mode = mode };
}

static const struct ha_band band = { .address = "C8:0F:10:11:22:33", .id = "c80f10112233",
	                             .firmware = "V1.0.1.81" };

enum scenario { GATEWAY, BAND, REMOVE };

static GPtrArray *run(const struct ha_context *ctx, const struct ha_band *b, enum scenario what)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(message_free);

	if (what == GATEWAY)
		ha_gateway_config(ctx, collect, out);
	else if (what == BAND)
		ha_band_config(ctx, b, collect, out);
	else
		ha_band_remove(ctx, b, collect, out);
	return out;
}

/* The golden document; also asserts that every payload is compact and every topic new. */
static char *golden_text(GPtrArray *messages)
{
	cJSON *doc = cJSON_CreateObject();

	for (guint i = 0; i < messages->len; i++) {
		struct message *m = messages->pdata[i];
		g_assert_null(cJSON_GetObjectItemCaseSensitive(doc, m->topic));
		if (!*m->payload) {
			cJSON_AddStringToObject(doc, m->topic, "");
			continue;
		}
		cJSON *payload = cJSON_Parse(m->payload);
		g_assert_nonnull(payload);
		char *again = cJSON_PrintUnformatted(payload);
		g_assert_cmpstr(again, ==, m->payload);
		cJSON_free(again);
		cJSON_AddItemToObject(doc, m->topic, payload);
	}
	char *printed = cJSON_Print(doc);
	char *text = g_strconcat(printed, "\n", NULL);
	cJSON_free(printed);
	cJSON_Delete(doc);
	return text;
}

static void check_golden(const char *name, GPtrArray *messages)
{
	g_autofree char *path = g_build_filename(GOLDEN_DIR, name, NULL);
	g_autofree char *text = golden_text(messages);
	g_autofree char *expected = NULL;
	g_autoptr(GError) error = NULL;

	if (g_strcmp0(g_getenv("BANDGATE_UPDATE_GOLDEN"), "1") == 0) {
		g_assert_true(g_file_set_contents(path, text, -1, &error));
		g_test_message("wrote %s", path);
		return;
	}
	g_assert_true(g_file_get_contents(path, &expected, NULL, &error));
	g_assert_cmpstr(text, ==, expected);
}

static void test_golden(gconstpointer data)
{
	const char *name = data;
	enum ha_mode mode = g_str_has_prefix(name, "ha-device-") ? HA_MODE_DEVICE : HA_MODE_PER_COMPONENT;
	enum scenario what = strstr(name, "-remove") ? REMOVE : strstr(name, "-band") ? BAND : GATEWAY;
	struct ha_context ctx = context(mode);
	g_autoptr(GPtrArray) messages = run(&ctx, &band, what);

	g_assert_cmpuint(messages->len, >, 0);
	check_golden(name, messages);
}

/* The removal clears exactly the topics the config wrote, in both modes. */
static void test_remove_matches_config(void)
{
	for (int mode = HA_MODE_DEVICE; mode <= HA_MODE_PER_COMPONENT; mode++) {
		struct ha_context ctx = context(mode);
		g_autoptr(GPtrArray) config = run(&ctx, &band, BAND);
		g_autoptr(GPtrArray) removal = run(&ctx, &band, REMOVE);

		g_assert_cmpuint(config->len, ==, removal->len);
		for (guint i = 0; i < config->len; i++) {
			struct message *c = config->pdata[i], *r = removal->pdata[i];
			g_assert_cmpstr(c->topic, ==, r->topic);
			g_assert_cmpstr(r->payload, ==, "");
		}
	}
}

/* Home Assistant keys an entity by (platform, "<node_id> <object_id>"); in device mode the device topic's id is
 * the node id and the cmps key the object id. Both modes must give the same keys, so a switch updates in place. */
static void add_device_ids(GHashTable *ids, struct message *m)
{
	g_auto(GStrv) levels = g_strsplit(m->topic, "/", -1);
	cJSON *root = cJSON_Parse(m->payload);
	cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cmps")) {
		const char *platform = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "p"));
		g_hash_table_add(ids, g_strdup_printf("%s %s %s", platform, levels[2], c->string));
	}
	cJSON_Delete(root);
}

static void test_modes_share_discovery_ids(void)
{
	struct ha_context device = context(HA_MODE_DEVICE), component = context(HA_MODE_PER_COMPONENT);
	g_autoptr(GPtrArray) a = run(&device, &band, BAND);
	g_autoptr(GPtrArray) b = run(&component, &band, BAND);
	g_autoptr(GHashTable) ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_assert_cmpuint(a->len, ==, 1);
	add_device_ids(ids, a->pdata[0]);
	g_assert_cmpuint(g_hash_table_size(ids), ==, b->len);
	for (guint i = 0; i < b->len; i++) {
		g_auto(GStrv) levels = g_strsplit(((struct message *)b->pdata[i])->topic, "/", -1);
		g_autofree char *id = g_strdup_printf("%s %s %s", levels[1], levels[2], levels[3]);
		g_assert_true(g_hash_table_contains(ids, id));
	}
}

static cJSON *band_device(const struct ha_context *ctx, const struct ha_band *b)
{
	g_autoptr(GPtrArray) messages = run(ctx, b, BAND);
	g_assert_cmpuint(messages->len, ==, 1);
	cJSON *root = cJSON_Parse(((struct message *)messages->pdata[0])->payload);
	cJSON *dev = cJSON_DetachItemFromObjectCaseSensitive(root, "dev");
	cJSON_Delete(root);
	return dev;
}

/* The band's command topics in discovery are the MQTT actions of action.h, both ways: every button or notify
 * entity commands an action the gateway takes over MQTT, and every such action has an entity. */
static void test_commands_are_the_action_table(void)
{
	struct ha_context ctx = context(HA_MODE_DEVICE);
	g_autoptr(GPtrArray) messages = run(&ctx, &band, BAND);
	g_autoptr(GHashTable) offered = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	cJSON *root = cJSON_Parse(((struct message *)messages->pdata[0])->payload);
	const cJSON *cmp, *cmps = cJSON_GetObjectItemCaseSensitive(root, "cmps");
	const char *prefix = "bandgate/c80f10112233/cmd/";

	cJSON_ArrayForEach(cmp, cmps) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(cmp, "cmd_t");
		const struct action *a;

		if (!cJSON_IsString(t))
			continue;
		g_assert_true(g_str_has_prefix(t->valuestring, prefix));
		a = action_find(t->valuestring + strlen(prefix), true);
		g_assert_nonnull(a);
		g_assert_true(a->flags & ACTION_FLAG_MQTT);
		g_hash_table_add(offered, g_strdup(a->mqtt_name));
	}
	for (int id = 0; id < ACTION_COUNT; id++) {
		const struct action *a = action_get(id);

		/* vibrate is find's pattern under another name: Home Assistant offers find (identify) only. */
		if ((a->flags & ACTION_FLAG_MQTT) && id != ACTION_VIBRATE)
			g_assert_true(g_hash_table_contains(offered, a->mqtt_name));
	}
	cJSON_Delete(root);
}

/* Firmware unknown and no dashboard: the keys are left out, never sent empty. */
static void test_optional_fields(void)
{
	struct ha_context ctx = context(HA_MODE_DEVICE);
	struct ha_band b = band;

	b.firmware = NULL;
	ctx.configuration_url = NULL;
	cJSON *dev = band_device(&ctx, &b);
	g_assert_null(cJSON_GetObjectItemCaseSensitive(dev, "sw"));
	g_assert_null(cJSON_GetObjectItemCaseSensitive(dev, "cu"));
	cJSON_Delete(dev);

	b.firmware = "";
	ctx.configuration_url = "";
	dev = band_device(&ctx, &b);
	g_assert_null(cJSON_GetObjectItemCaseSensitive(dev, "sw"));
	g_assert_null(cJSON_GetObjectItemCaseSensitive(dev, "cu"));
	cJSON_Delete(dev);
}

/* A gateway id with capitals and hyphens still gives a valid entity id. */
static void test_entity_id_slug(void)
{
	struct ha_context ctx = context(HA_MODE_DEVICE);
	ctx.gateway_id = "Pi--Kitchen_";
	g_autoptr(GPtrArray) messages = run(&ctx, &band, GATEWAY);
	cJSON *root = cJSON_Parse(((struct message *)messages->pdata[0])->payload);
	cJSON *uptime = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "cmps"), "uptime");

	g_assert_cmpstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(uptime, "def_ent_id")), ==,
	                "sensor.bandgate_pi_kitchen_uptime");
	g_assert_cmpstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(uptime, "uniq_id")), ==,
	                "bandgate_Pi--Kitchen__uptime");
	cJSON_Delete(root);
}

static void assert_silent(const struct ha_context *ctx, const struct ha_band *b)
{
	for (enum scenario what = GATEWAY; what <= REMOVE; what++) {
		g_autoptr(GPtrArray) messages = run(ctx, b, what);
		g_assert_cmpuint(messages->len, ==, 0);
	}
}

static void test_bad_context(void)
{
	static const char *const ids[] = { "", "a/b", "a+b", "a#b", "a b", "pi.kitchen",
		                           "0123456789012345678901234567890123456789012345678901234567890123456789" };
	static const char *const topics[] = { "", "/bandgate", "bandgate/", "band//gate", "band+gate", "band#",
		                              "band gate", "bänd" };
	static const char *const urls[] = { "ftp://x/", "http://", "javascript:alert(1)", "http://a b/" };

	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		struct ha_context ctx = context(HA_MODE_DEVICE);
		ctx.gateway_id = ids[i];
		g_assert_cmpint(ha_context_check(&ctx), ==, -EINVAL);
		assert_silent(&ctx, &band);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(topics); i++) {
		struct ha_context a = context(HA_MODE_DEVICE), b = context(HA_MODE_PER_COMPONENT);
		a.base_topic = topics[i];
		b.discovery_prefix = topics[i];
		g_assert_cmpint(ha_context_check(&a), ==, -EINVAL);
		g_assert_cmpint(ha_context_check(&b), ==, -EINVAL);
		assert_silent(&a, &band);
		assert_silent(&b, &band);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(urls); i++) {
		struct ha_context ctx = context(HA_MODE_DEVICE);
		ctx.configuration_url = urls[i];
		g_assert_cmpint(ha_context_check(&ctx), ==, -EINVAL);
	}
}

static void test_bad_band(void)
{
	static const struct ha_band bands[] = {
		{ .address = "C8:0F:10:11:22:33", .id = "c8:0f" },
		{ .address = "C8:0F:10:11:22:33", .id = "" },
		{ .address = "C8:0F:10:11:22", .id = "c80f10112233" },
		{ .address = "C8-0F-10-11-22-33", .id = "c80f10112233" },
		{ .address = "G8:0F:10:11:22:33", .id = "c80f10112233" },
	};
	struct ha_context ctx = context(HA_MODE_PER_COMPONENT);

	g_assert_cmpint(ha_band_check(&band), ==, 0);
	for (size_t i = 0; i < G_N_ELEMENTS(bands); i++) {
		g_assert_cmpint(ha_band_check(&bands[i]), ==, -EINVAL);
		g_autoptr(GPtrArray) config = run(&ctx, &bands[i], BAND);
		g_autoptr(GPtrArray) removal = run(&ctx, &bands[i], REMOVE);
		g_assert_cmpuint(config->len + removal->len, ==, 0);
	}
}

int main(int argc, char **argv)
{
	static const char *const golden[] = { "ha-device-gateway.json", "ha-device-band.json",
		                              "ha-device-band-remove.json", "ha-component-gateway.json",
		                              "ha-component-band.json", "ha-component-band-remove.json" };

	g_test_init(&argc, &argv, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(golden); i++) {
		g_autofree char *path = g_strdup_printf("/ha/golden/%s", golden[i]);
		g_test_add_data_func(path, golden[i], test_golden);
	}
	g_test_add_func("/ha/remove-matches-config", test_remove_matches_config);
	g_test_add_func("/ha/modes-share-discovery-ids", test_modes_share_discovery_ids);
	g_test_add_func("/ha/optional-fields", test_optional_fields);
	g_test_add_func("/ha/commands-are-the-action-table", test_commands_are_the_action_table);
	g_test_add_func("/ha/entity-id-slug", test_entity_id_slug);
	g_test_add_func("/ha/bad-context", test_bad_context);
	g_test_add_func("/ha/bad-band", test_bad_band);
	return g_test_run();
}
