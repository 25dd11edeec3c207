/* A command that came in over MQTT, read from its topic and payload: <base>/<id>/cmd/<verb>, <id> a band's id
 * or the gateway's, with what Home Assistant sends ("PRESS", a notification's plain text) or a JSON object
 * ({"id":"r1","text":"Hi","category":"call"}). Pure (STYLE.md): no libmosquitto, no main loop, no manager;
 * cJSON, and GLib's UTF-8 check only, so the unit test and the fuzzer link this alone. mqtt.c runs what it
 * returns and answers every refusal on <topic>/result. */
#pragma once

#include <cjson/cJSON.h>
#include <stddef.h>

enum {
	MQTT_COMMAND_PAYLOAD_MAX = 4096, /* bytes; a larger payload is refused unread */
	MQTT_COMMAND_ID_SIZE = 65,       /* the longest <id> taken, with its NUL: a gateway id has up to 64 (config) */
	MQTT_COMMAND_VERB_SIZE = 32,     /* the longest <verb> taken, with its NUL */
};

struct mqtt_command {
	char id[MQTT_COMMAND_ID_SIZE];     /* the band's id or the gateway's */
	char verb[MQTT_COMMAND_VERB_SIZE];
	char *text;                        /* the whole payload as a C string (it holds no NUL byte) */
	cJSON *json;                       /* the payload as a JSON object when it starts with '{', else NULL */
	const cJSON *request_id;           /* json's "id" when it is a string or a number, echoed in the answer */
	const char *why;                   /* a refusal's reason, a constant sentence for the answer and the log */
};

/* Reads topic (a C string) and len bytes of payload into ret, which the caller clears afterwards in every case.
 * Returns
 *   0             a command: id, verb and text set; json and request_id when the payload is JSON
 *   -ENOENT       the topic is not <base>/<id>/cmd/<verb> (one level each, none empty): not ours, ignored
 *   -ENAMETOOLONG <id> or <verb> is longer than any there is: answered on <topic>/result all the same
 *   -EINVAL       the payload is no command (empty, too large, not UTF-8 text, broken JSON): id and verb set
 * and on every refusal ret->why says why. */
int mqtt_command_parse(const char *base, const char *topic, const void *payload, size_t len,
                       struct mqtt_command *ret);
/* Frees what mqtt_command_parse() allocated; the command is empty again. */
void mqtt_command_clear(struct mqtt_command *c);
/* The JSON payload's member name when it is a string, else NULL (also for a plain-text payload). */
const char *mqtt_command_string(const struct mqtt_command *c, const char *name);
