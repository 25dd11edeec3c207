/* One table of what an operator can ask of a band (DESIGN.md, operator actions): its name, what it needs, what
 * it does. The CLI, the API, MQTT and Home Assistant discovery take their verbs from here, and the manager's
 * command API switches over enum action_id, so a new action is one row and one case. Pure: no GLib. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum action_id {
	ACTION_RECONNECT,
	ACTION_RESET,
	ACTION_REPAIR,
	ACTION_REBOOT,
	ACTION_FACTORY_RESET,
	ACTION_FORGET,
	ACTION_SYNC,
	ACTION_HEART_RATE,
	ACTION_SET_TIME,
	ACTION_NOTIFY,
	ACTION_VIBRATE,
	ACTION_FIND,
	ACTION_COUNT
};

enum action_flag {
	ACTION_FLAG_CONFIRM = 1 << 0, /* refused unless confirmed explicitly: it cannot be undone */
	ACTION_FLAG_ALERT = 1 << 1,   /* stored as a notification and played in order when the band is ready */
	ACTION_FLAG_TEXT = 1 << 2,    /* takes a text (and a category) */
	ACTION_FLAG_MQTT = 1 << 3,    /* offered on <base>/<band>/cmd/<mqtt name> */
};

struct action {
	enum action_id id;
	const char *name;      /* in the CLI and URLs: "set-time" */
	const char *mqtt_name; /* in MQTT topics and Home Assistant ids: "set_time" */
	unsigned flags;        /* enum action_flag */
	const char *summary;   /* what it does, for a person */
};

const struct action *action_get(enum action_id id);
/* By name, or by MQTT name with mqtt; NULL for anything else. */
const struct action *action_find(const char *name, bool mqtt);
/* The names of the actions that have every flag of flags, separated by ", ", into buf (always terminated).
 * Returns the length the whole list needs. */
size_t action_names(char *buf, size_t size, unsigned flags, bool mqtt);
