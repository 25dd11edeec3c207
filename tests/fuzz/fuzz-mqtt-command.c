/* Fuzzes the parser of MQTT commands (mqtt/mqtt-command.h), as a broker's message would reach it. An input is
 * framed as its first line, the topic (up to the first '\n', or all of it), and the rest, the payload:
 *     bandgate/c80f10112233/cmd/notify\n{"id":"r1","text":"Hi"}
 * Each is parsed under two bases, "bandgate" and "home/bandgate". Whatever the bytes, the parser answers one of
 * its four codes, reads nothing outside them (ASan), leaks nothing, and returns a command consistent with the
 * topic and the payload; a check that fails aborts. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mqtt-command.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

/* An accepted topic is <base>/<id>/cmd/<verb> again, built from what the parser took out of it. */
static void check_topic(const char *base, const char *topic, const struct mqtt_command *c)
{
	size_t base_len = strlen(base), id_len = strlen(c->id), verb_len = strlen(c->verb);
	const char *p = topic;

	CHECK(id_len > 0 && id_len < MQTT_COMMAND_ID_SIZE && !strchr(c->id, '/'));
	CHECK(verb_len > 0 && verb_len < MQTT_COMMAND_VERB_SIZE && !strchr(c->verb, '/'));
	CHECK(strlen(topic) == base_len + 1 + id_len + strlen("/cmd/") + verb_len);
	CHECK(memcmp(p, base, base_len) == 0 && p[base_len] == '/');
	p += base_len + 1;
	CHECK(memcmp(p, c->id, id_len) == 0 && memcmp(p + id_len, "/cmd/", 5) == 0);
	CHECK(strcmp(p + id_len + 5, c->verb) == 0);
}

/* An accepted payload is the text, whole; JSON exactly when it starts like an object; the id echoed is its own. */
static void check_payload(const char *payload, size_t len, const struct mqtt_command *c)
{
	const cJSON *id;

	CHECK(len > 0 && len <= MQTT_COMMAND_PAYLOAD_MAX);
	CHECK(c->text && strlen(c->text) == len && memcmp(c->text, payload, len) == 0);
	CHECK((c->json != NULL) == (c->text[0] == '{'));
	CHECK(!c->json || cJSON_IsObject(c->json));
	id = c->json ? cJSON_GetObjectItemCaseSensitive(c->json, "id") : NULL;
	CHECK(c->request_id == ((cJSON_IsString(id) || cJSON_IsNumber(id)) ? id : NULL));
	(void)mqtt_command_string(c, "text");
	(void)mqtt_command_string(c, "category");
}

/* What mqtt.c does with the request id: a copy in the answer, printed. */
static void answer(const struct mqtt_command *c)
{
	cJSON *o = cJSON_CreateObject();
	char *printed;

	cJSON_AddBoolToObject(o, "ok", true);
	if (c->request_id)
		cJSON_AddItemToObject(o, "id", cJSON_Duplicate(c->request_id, true));
	printed = cJSON_PrintUnformatted(o);
	CHECK(printed);
	cJSON_free(printed);
	cJSON_Delete(o);
}

static void fuzz_one(const char *base, const char *topic, const char *payload, size_t len)
{
	struct mqtt_command c;
	int r = mqtt_command_parse(base, topic, payload, len, &c);

	CHECK(r == 0 || r == -ENOENT || r == -ENAMETOOLONG || r == -EINVAL);
	CHECK((r == 0) == (c.why == NULL));
	switch (r) {
	case 0:
		check_topic(base, topic, &c);
		check_payload(payload, len, &c);
		answer(&c);
		break;
	case -EINVAL:
		check_topic(base, topic, &c);
		CHECK(!c.json && !c.request_id);
		break;
	default:
		CHECK(!c.text && !c.json && !c.request_id && !c.id[0] && !c.verb[0]);
		break;
	}
	mqtt_command_clear(&c);
	CHECK(!c.text && !c.json && !c.request_id && !c.why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *newline = memchr(data, '\n', size);
	size_t topic_len = newline ? (size_t)(newline - data) : size;
	char *topic = malloc(topic_len + 1);
	const char *payload = newline ? (const char *)newline + 1 : NULL;
	size_t len = newline ? size - topic_len - 1 : 0;

	if (!topic)
		abort();
	/* A topic is a C string by then (libmosquitto refuses one with a NUL): one inside ends it early here. */
	if (topic_len)
		memcpy(topic, data, topic_len);
	topic[topic_len] = 0;
	fuzz_one("bandgate", topic, payload, len);
	fuzz_one("home/bandgate", topic, payload, len);
	free(topic);
	return 0;
}
