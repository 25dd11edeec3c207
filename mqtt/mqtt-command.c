#define G_LOG_DOMAIN "bandgate-mqtt" /* G_MESSAGES_DEBUG=bandgate-mqtt turns on its debug lines alone */
#include "mqtt-command.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

/* <base>/<id>/cmd/<verb>, each level as expected. The subscription (<base>/+/cmd/+) lets nothing else in, so
 * -ENOENT is only a defence; an id or verb longer than any we have is answered, not dropped. */
static int parse_topic(const char *base, const char *topic, struct mqtt_command *ret)
{
	size_t base_len = strlen(base);
	const char *rest, *cmd, *verb;

	if (strncmp(topic, base, base_len) != 0 || topic[base_len] != '/')
		return -ENOENT;
	rest = topic + base_len + 1;
	cmd = strstr(rest, "/cmd/");
	if (!cmd || cmd == rest || memchr(rest, '/', (size_t)(cmd - rest)))
		return -ENOENT;
	verb = cmd + strlen("/cmd/");
	if (!*verb || strchr(verb, '/'))
		return -ENOENT;
	if ((size_t)(cmd - rest) >= sizeof(ret->id) || strlen(verb) >= sizeof(ret->verb))
		return -ENAMETOOLONG;
	memcpy(ret->id, rest, (size_t)(cmd - rest));
	ret->id[cmd - rest] = 0;
	memcpy(ret->verb, verb, strlen(verb) + 1);
	return 0;
}

/* The payload: a size limit, UTF-8 text, then JSON when it looks like an object. NULL, or why not. */
static const char *parse_payload(const char *payload, size_t len, struct mqtt_command *c)
{
	if (len == 0)
		return "an empty payload is not a command (it is how a retained message is cleared)";
	if (len > MQTT_COMMAND_PAYLOAD_MAX)
		return "the payload is larger than 4096 bytes";
	/* Given a length, g_utf8_validate refuses a NUL byte too: text is a C string that holds the whole payload. */
	if (!g_utf8_validate(payload, (gssize)len, NULL))
		return "the payload is not UTF-8 text";
	c->text = g_strndup(payload, len);
	if (c->text[0] != '{')
		return NULL;
	c->json = cJSON_Parse(c->text);
	if (!c->json)
		return "the payload starts like JSON but is not valid JSON";
	c->request_id = cJSON_GetObjectItemCaseSensitive(c->json, "id");
	if (c->request_id && !cJSON_IsString(c->request_id) && !cJSON_IsNumber(c->request_id))
		c->request_id = NULL;
	return NULL;
}

int mqtt_command_parse(const char *base, const char *topic, const void *payload, size_t len,
                       struct mqtt_command *ret)
{
	int r;

	*ret = (struct mqtt_command){ 0 };
	r = parse_topic(base, topic, ret);
	if (r == -ENOENT)
		ret->why = "the topic is not <base>/<id>/cmd/<verb>";
	else if (r == -ENAMETOOLONG)
		ret->why = "unknown command: no band or command has a name this long";
	else if ((ret->why = parse_payload(payload, len, ret)))
		r = -EINVAL;
	return r;
}

void mqtt_command_clear(struct mqtt_command *c)
{
	cJSON_Delete(c->json);
	g_free(c->text);
	*c = (struct mqtt_command){ 0 };
}

const char *mqtt_command_string(const struct mqtt_command *c, const char *name)
{
	const cJSON *v = c->json ? cJSON_GetObjectItemCaseSensitive(c->json, name) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}
