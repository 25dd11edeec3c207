/* The parser of MQTT commands (mqtt/mqtt-command.h): what a topic and a payload become, and every refusal with
 * the very sentence that is logged and answered on <topic>/result. */
#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "mqtt-command.h"

#define BASE "bandgate"
#define BAND "c80f10112233"
#define GW "pi-kitchen"

static int parse(const char *topic, const char *payload, struct mqtt_command *c)
{
	return mqtt_command_parse(BASE, topic, payload, payload ? strlen(payload) : 0, c);
}

static void test_band_press(void)
{
	struct mqtt_command c;

	g_assert_cmpint(parse(BASE "/" BAND "/cmd/sync", "PRESS", &c), ==, 0);
	g_assert_cmpstr(c.id, ==, BAND);
	g_assert_cmpstr(c.verb, ==, "sync");
	g_assert_cmpstr(c.text, ==, "PRESS");
	g_assert_null(c.json);
	g_assert_null(c.request_id);
	g_assert_null(c.why);
	g_assert_null(mqtt_command_string(&c, "text"));
	mqtt_command_clear(&c);
	g_assert_null(c.text);
	g_assert_cmpstr(c.id, ==, "");
}

static void test_gateway_press(void)
{
	struct mqtt_command c;

	g_assert_cmpint(parse(BASE "/" GW "/cmd/restart", "PRESS", &c), ==, 0);
	g_assert_cmpstr(c.id, ==, GW);
	g_assert_cmpstr(c.verb, ==, "restart");
	mqtt_command_clear(&c);
	/* A base of several levels. */
	g_assert_cmpint(mqtt_command_parse("home/" BASE, "home/" BASE "/" GW "/cmd/health", "PRESS", 5, &c), ==, 0);
	g_assert_cmpstr(c.id, ==, GW);
	g_assert_cmpstr(c.verb, ==, "health");
	mqtt_command_clear(&c);
}

/* Plain text is the notification's text, whole, also when it holds a '{' further on. */
static void test_plain_text(void)
{
	static const char *const texts[] = { "Tea is ready", "Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x8d\xb5", "a {b}",
	                                     " {\"text\":\"x\"}", "\xef\xbf\xbf" };
	struct mqtt_command c;

	for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_assert_cmpint(parse(BASE "/" BAND "/cmd/notify", texts[i], &c), ==, 0);
		g_assert_cmpstr(c.verb, ==, "notify");
		g_assert_cmpstr(c.text, ==, texts[i]);
		g_assert_null(c.json);
		g_assert_null(c.request_id);
		mqtt_command_clear(&c);
	}
}

static void test_json(void)
{
	struct mqtt_command c;

	g_assert_cmpint(parse(BASE "/" BAND "/cmd/notify", "{\"id\":\"r1\",\"text\":\"Hi\",\"category\":\"call\"}", &c),
	                ==, 0);
	g_assert_nonnull(c.json);
	g_assert_true(cJSON_IsObject(c.json));
	g_assert_cmpstr(c.text, ==, "{\"id\":\"r1\",\"text\":\"Hi\",\"category\":\"call\"}");
	g_assert_cmpstr(mqtt_command_string(&c, "text"), ==, "Hi");
	g_assert_cmpstr(mqtt_command_string(&c, "category"), ==, "call");
	g_assert_null(mqtt_command_string(&c, "missing"));
	g_assert_true(cJSON_IsString(c.request_id));
	g_assert_cmpstr(c.request_id->valuestring, ==, "r1");
	mqtt_command_clear(&c);
	/* A member that is not a string reads as absent: "notify needs \"text\"" is mqtt.c's to say. */
	g_assert_cmpint(parse(BASE "/" BAND "/cmd/notify", "{\"text\":5}", &c), ==, 0);
	g_assert_nonnull(c.json);
	g_assert_null(mqtt_command_string(&c, "text"));
	g_assert_null(c.request_id);
	mqtt_command_clear(&c);
}

/* The request id is echoed when it is a string or a number, and only then. */
static void test_request_id(void)
{
	static const struct {
		const char *payload;
		bool echoed;
	} cases[] = {
		{ "{\"id\":\"req-7\"}", true }, { "{\"id\":7}", true },      { "{\"id\":-1.5}", true },
		{ "{\"id\":\"\"}", true },      { "{\"id\":[1]}", false },   { "{\"id\":{\"a\":1}}", false },
		{ "{\"id\":true}", false },     { "{\"id\":null}", false },  { "{\"ID\":\"r1\"}", false },
		{ "{}", false },
	};
	struct mqtt_command c;

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_assert_cmpint(parse(BASE "/" BAND "/cmd/vibrate", cases[i].payload, &c), ==, 0);
		g_assert_nonnull(c.json);
		if (cases[i].echoed)
			g_assert_true(c.request_id == cJSON_GetObjectItemCaseSensitive(c.json, "id"));
		else
			g_assert_null(c.request_id);
		mqtt_command_clear(&c);
	}
	g_assert_cmpint(parse(BASE "/" BAND "/cmd/vibrate", "{\"id\":7}", &c), ==, 0);
	g_assert_true(cJSON_IsNumber(c.request_id));
	g_assert_cmpint(c.request_id->valueint, ==, 7);
	mqtt_command_clear(&c);
}

static void check_payload_refused(const void *payload, size_t len, const char *why)
{
	struct mqtt_command c;

	g_assert_cmpint(mqtt_command_parse(BASE, BASE "/" BAND "/cmd/notify", payload, len, &c), ==, -EINVAL);
	g_assert_cmpstr(c.why, ==, why);
	g_assert_cmpstr(c.id, ==, BAND); /* an answer goes to the topic; mqtt.c needs no more */
	g_assert_cmpstr(c.verb, ==, "notify");
	g_assert_null(c.json);
	g_assert_null(c.request_id);
	mqtt_command_clear(&c);
}

static void test_payload_size(void)
{
	char *big = g_malloc(MQTT_COMMAND_PAYLOAD_MAX + 1);
	struct mqtt_command c;

	memset(big, 'x', MQTT_COMMAND_PAYLOAD_MAX + 1);
	check_payload_refused(NULL, 0, "an empty payload is not a command (it is how a retained message is cleared)");
	check_payload_refused("", 0, "an empty payload is not a command (it is how a retained message is cleared)");
	check_payload_refused(big, MQTT_COMMAND_PAYLOAD_MAX + 1, "the payload is larger than 4096 bytes");
	check_payload_refused(big, 5000, "the payload is larger than 4096 bytes");
	/* 4096 bytes is still a command. */
	g_assert_cmpint(mqtt_command_parse(BASE, BASE "/" BAND "/cmd/notify", big, MQTT_COMMAND_PAYLOAD_MAX, &c), ==, 0);
	g_assert_cmpuint(strlen(c.text), ==, MQTT_COMMAND_PAYLOAD_MAX);
	mqtt_command_clear(&c);
	g_free(big);
}

static void test_payload_not_text(void)
{
	static const char *const not_utf8[] = {
		"\xff\xfe\x00\x01", /* the integration test's binary */
		"\xc3\x28",         /* a lead byte without its continuation */
		"\xc0\xaf",         /* an overlong '/' */
		"\xed\xa0\x80",     /* a surrogate */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"caf\xc3",          /* cut short */
		"\x80",             /* a lone continuation byte */
	};

	for (size_t i = 0; i < G_N_ELEMENTS(not_utf8); i++)
		check_payload_refused(not_utf8[i], i == 0 ? 4 : strlen(not_utf8[i]), "the payload is not UTF-8 text");
	/* A NUL byte, alone or in the middle of text: g_utf8_validate() refuses it within the given length, so it
	 * is "not UTF-8 text" too (text is a C string that must hold the whole payload). */
	check_payload_refused("\0", 1, "the payload is not UTF-8 text");
	check_payload_refused("Tea\0ready", 9, "the payload is not UTF-8 text");
	check_payload_refused("{\"text\":\"a\"}\0", 13, "the payload is not UTF-8 text");
}

static void test_payload_bad_json(void)
{
	static const char *const bad[] = { "{\"text\": ", "{", "{text: \"hi\"}", "{\"text\":\"hi\",}", "{'a':1}",
	                                   "{\"a\":1" };

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		check_payload_refused(bad[i], strlen(bad[i]), "the payload starts like JSON but is not valid JSON");
}

/* Not <base>/<id>/cmd/<verb>: ignored, never answered (the subscription lets none of these in). */
static void test_topic_not_a_command(void)
{
	static const char *const topics[] = {
		"",
		BASE,
		BASE "/",
		"other/" BAND "/cmd/notify",          /* not under the base */
		"bandgates/" BAND "/cmd/notify",      /* the base as a prefix of another level */
		BASE "x" BAND "/cmd/notify",          /* no '/' after the base */
		"band/" BAND "/cmd/notify",           /* a prefix of the base */
		"x" BASE "/" BAND "/cmd/notify",
		BASE "/" BAND "/state",               /* no cmd level */
		BASE "/" BAND "/cmd",                 /* no verb */
		BASE "/" BAND "/cmd/",                /* an empty verb */
		BASE "//cmd/notify",                  /* an empty id */
		BASE "/cmd/notify",                   /* no id at all */
		BASE "/a/" BAND "/cmd/notify",        /* an id of two levels */
		BASE "/" BAND "/cmd/notify/result",   /* our own answer */
		BASE "/" BAND "/cmd/notify/",         /* a trailing empty level */
		BASE "/" BAND "/command/notify",
	};
	struct mqtt_command c;

	for (size_t i = 0; i < G_N_ELEMENTS(topics); i++) {
		g_assert_cmpint(parse(topics[i], "PRESS", &c), ==, -ENOENT);
		g_assert_cmpstr(c.why, ==, "the topic is not <base>/<id>/cmd/<verb>");
		g_assert_null(c.text);
		mqtt_command_clear(&c);
	}
}

/* Longer than any band's id or verb: answered (not dropped), before the payload is looked at. */
static void test_topic_too_long(void)
{
	g_autofree char *id63 = g_strnfill(MQTT_COMMAND_ID_SIZE - 1, 'b');
	g_autofree char *id64 = g_strnfill(MQTT_COMMAND_ID_SIZE, 'b');
	g_autofree char *verb31 = g_strnfill(MQTT_COMMAND_VERB_SIZE - 1, 'v');
	g_autofree char *verb32 = g_strnfill(MQTT_COMMAND_VERB_SIZE, 'v');
	g_autofree char *long_id = g_strdup_printf(BASE "/%s/cmd/notify", id64);
	g_autofree char *long_verb = g_strdup_printf(BASE "/" BAND "/cmd/%s", verb32);
	g_autofree char *just_id = g_strdup_printf(BASE "/%s/cmd/notify", id63);
	g_autofree char *just_verb = g_strdup_printf(BASE "/" BAND "/cmd/%s", verb31);
	struct mqtt_command c;

	g_assert_cmpint(parse(long_id, "hi", &c), ==, -ENAMETOOLONG);
	g_assert_cmpstr(c.why, ==, "unknown command: no band or command has a name this long");
	mqtt_command_clear(&c);
	g_assert_cmpint(parse(long_verb, "", &c), ==, -ENAMETOOLONG);
	g_assert_cmpstr(c.why, ==, "unknown command: no band or command has a name this long");
	mqtt_command_clear(&c);
	g_assert_cmpint(parse(just_id, "hi", &c), ==, 0);
	g_assert_cmpstr(c.id, ==, id63);
	mqtt_command_clear(&c);
	g_assert_cmpint(parse(just_verb, "hi", &c), ==, 0);
	g_assert_cmpstr(c.verb, ==, verb31);
	mqtt_command_clear(&c);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mqtt-command/band-press", test_band_press);
	g_test_add_func("/mqtt-command/gateway-press", test_gateway_press);
	g_test_add_func("/mqtt-command/plain-text", test_plain_text);
	g_test_add_func("/mqtt-command/json", test_json);
	g_test_add_func("/mqtt-command/request-id", test_request_id);
	g_test_add_func("/mqtt-command/refused/size", test_payload_size);
	g_test_add_func("/mqtt-command/refused/not-text", test_payload_not_text);
	g_test_add_func("/mqtt-command/refused/bad-json", test_payload_bad_json);
	g_test_add_func("/mqtt-command/refused/not-a-command", test_topic_not_a_command);
	g_test_add_func("/mqtt-command/refused/too-long", test_topic_too_long);
	return g_test_run();
}
