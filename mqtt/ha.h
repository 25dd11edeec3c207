/* Home Assistant MQTT discovery for bandgate: pure builders (cJSON in, no I/O, no GLib, no libmosquitto).
 * Given the gateway and a band, they emit (topic, payload) pairs; mqtt.c publishes them retained, QoS 1.
 *
 * The contract with mqtt.c, i.e. the topics and payloads the entities read and write:
 *   <base>/<gateway_id>/status         "online" | "offline" (retained, the last will)
 *   <base>/<gateway_id>/health         JSON {"uptime": s, "rss_kb": n, "outbox": n, "reconnects": n,
 *                                            "adapter_resets": n, "db_bytes": n, "bands": n}
 *   <base>/<gateway_id>/cmd/<verb>     gateway commands: restart, scan, health (payload "PRESS" or JSON)
 *   <base>/<band_id>/availability      "online" while the band is connected and authenticated, else "offline"
 *   <base>/<band_id>/state             retained JSON: {"state": "ready"|"connecting"|... (band_state_name),
 *                                      "connected": bool, "steps": n, "distance": m, "calories": kcal,
 *                                      "battery": % | null, "charging": bool, "heart_rate": bpm | null,
 *                                      "last_sync": "2026-11-25T10:00:00+01:00" | null, "firmware": s | null,
 *                                      "rssi": dBm | null}
 *   <base>/<band_id>/event             {"event_type": "press"} (not retained)
 *   <base>/<band_id>/cmd/<verb>        band commands: notify (plain text or JSON), vibrate, find, sync,
 *                                      reconnect, reset, repair, reboot, set_time, heart_rate ("PRESS" or JSON)
 * band_id is the address in lower case without colons ("c80f10112233").
 *
 * What Home Assistant gets (golden files: tests/unit/golden/ha-*.json):
 *   <prefix>/device/bandgate_<id>/config               device mode: "dev", "o", "cmps" with "p" per entity
 *   <prefix>/<platform>/bandgate_<id>/<object>/config  per-component mode: one entity each, with "dev" and "o"
 * for <id> the gateway_id and every band_id; unique_id "bandgate_<id>_<object>", default_entity_id
 * "<platform>.bandgate_<gateway slug>_<object>" or "<platform>.mi_band_2_<band_id>_<object>". Band entities follow
 * [gateway status, band availability] (mode all), except those that matter while the band is away (connected,
 * link state, last sync, reconnect, reset, re-pair), which follow the gateway status only, like the gateway's. */
#pragma once

#include <stddef.h>

enum ha_mode {
	HA_MODE_DEVICE,        /* one <prefix>/device/bandgate_<id>/config per device (Home Assistant >= 2024.11) */
	HA_MODE_PER_COMPONENT, /* one <prefix>/<platform>/bandgate_<id>/<object>/config per entity */
};

struct ha_context {
	const char *discovery_prefix;  /* "homeassistant" */
	const char *base_topic;        /* "bandgate" */
	const char *gateway_id;        /* "pi-kitchen": letters, digits, '-', '_' */
	const char *version;           /* bandgate's, for "o" (origin) and the gateway's sw_version */
	const char *configuration_url; /* the dashboard, "http://192.168.1.5:8080/"; NULL or "" for none */
	enum ha_mode mode;
};

struct ha_band {
	const char *address;  /* "C8:0F:10:11:22:33" */
	const char *id;       /* "c80f10112233" */
	const char *firmware; /* "V1.0.1.81"; NULL or "" while unknown */
};

/* 0 when every string a topic, an id or a URL is made of is usable (ids [A-Za-z0-9_-]{1,64}, topics without
 * wildcards or empty levels, configuration_url http(s)://), else -EINVAL. The builders below emit nothing for a
 * context or band that fails it, so mqtt.c can check once at start and say which value is wrong. */
int ha_context_check(const struct ha_context *ctx);
int ha_band_check(const struct ha_band *band);

/* One retained message. payload "" removes what an earlier config created. Strings live until the call returns. */
typedef void (*ha_emit_func)(const char *topic, const char *payload, void *user_data);

/* The gateway's own device and its entities (connectivity from status, health sensors, restart and scan). */
void ha_gateway_config(const struct ha_context *ctx, ha_emit_func emit, void *user_data);
/* One band: a device via the gateway's, with every entity of DESIGN.md. */
void ha_band_config(const struct ha_context *ctx, const struct ha_band *band, ha_emit_func emit, void *user_data);
/* Empty retained configs for every topic ha_band_config emits in this mode, so Home Assistant drops the band.
 * Both modes give each entity the same unique_id. Home Assistant refuses a config in the new mode while the old
 * mode's is still retained ("conflicting MQTT discovery message"), and nothing here clears the old mode's
 * topics: a switch of [mqtt] discovery needs the old retained configs cleared on the broker (README). */
void ha_band_remove(const struct ha_context *ctx, const struct ha_band *band, ha_emit_func emit, void *user_data);
