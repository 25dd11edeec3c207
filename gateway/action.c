/* action.h */
#include <stdio.h>
#include <string.h>

#include "action.h"

static const struct action actions[ACTION_COUNT] = {
	{ ACTION_RECONNECT, "reconnect", "reconnect", ACTION_FLAG_MQTT, "disconnect and connect again now" },
	{ ACTION_RESET, "reset", "reset", ACTION_FLAG_MQTT,
	  "forget the device in bluetoothd, power-cycle the adapter, find the band and authenticate with its key" },
	{ ACTION_REPAIR, "repair", "repair", ACTION_FLAG_MQTT,
	  "reset, then give the band a new key: its wearer taps it to confirm" },
	{ ACTION_REBOOT, "reboot", "reboot", ACTION_FLAG_MQTT, "restart the band's firmware (key and history stay)" },
	{ ACTION_FACTORY_RESET, "factory-reset", "factory_reset", ACTION_FLAG_CONFIRM,
	  "wipe the band; it comes back under a new address and is paired again" },
	{ ACTION_FORGET, "forget", "forget", 0, "stop managing the band and delete its rows" },
	{ ACTION_SYNC, "sync", "sync", ACTION_FLAG_MQTT, "fetch the activity history now" },
	{ ACTION_HEART_RATE, "heart-rate", "heart_rate", ACTION_FLAG_MQTT, "measure the heart rate once" },
	{ ACTION_SET_TIME, "set-time", "set_time", ACTION_FLAG_MQTT, "set the band's clock to the gateway's" },
	{ ACTION_NOTIFY, "notify", "notify", ACTION_FLAG_ALERT | ACTION_FLAG_TEXT | ACTION_FLAG_MQTT,
	  "show a text on the band" },
	{ ACTION_VIBRATE, "vibrate", "vibrate", ACTION_FLAG_ALERT | ACTION_FLAG_MQTT, "vibrate the band" },
	{ ACTION_FIND, "find", "find", ACTION_FLAG_ALERT | ACTION_FLAG_MQTT, "make the band vibrate to find it" },
};

const struct action *action_get(enum action_id id)
{
	return id < ACTION_COUNT ? &actions[id] : NULL;
}

const struct action *action_find(const char *name, bool mqtt)
{
	for (size_t i = 0; name && i < ACTION_COUNT; i++)
		if (strcmp(name, mqtt ? actions[i].mqtt_name : actions[i].name) == 0)
			return &actions[i];
	return NULL;
}

size_t action_names(char *buf, size_t size, unsigned flags, bool mqtt)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < ACTION_COUNT; i++) {
		if ((actions[i].flags & flags) != flags)
			continue;
		int n = snprintf(buf + (len < size ? len : size), len < size ? size - len : 0, "%s%s", len ? ", " : "",
		                 mqtt ? actions[i].mqtt_name : actions[i].name);
		len += (size_t)n;
	}
	return len;
}
