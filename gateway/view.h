/* One view of a band for every front (STYLE.md, "One view of a thing for every front"; systemd-networkd's
 * networkd-json.c): MQTT's retained state, the API's band and what the dashboard's WebSocket pushes are this
 * one object, built here from manager_snapshot(). The fronts never reach into band.h for it. */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>

struct manager_snapshot;

/* {id, address, state, description, connected, steps, distance, calories, battery, charging, heart_rate,
 * last_sync, sync, sync_error, firmware, rssi, advice, fault, since, tap_deadline}: every key always there, null while unknown. Steps are today's
 * and never null once anything was stored today (Home Assistant's total_increasing reads 0 as a reset). */
cJSON *view_band(const struct manager_snapshot *s);
/* The one next step for a person, in plain words ("Tap the band now", "Paired to another phone: press
 * Re-pair", "Out of range since 14:02: ..."); NULL when there is none (ready and syncing). */
char *view_advice(const struct manager_snapshot *s);
/* Where the fault lies while the band is not ready: "band", "link" or "adapter"; NULL when none. */
const char *view_fault(const struct manager_snapshot *s);
/* A UTC second as RFC 3339 in local time with its offset ("2026-12-06T21:03:00+01:00", always with the minutes);
 * NULL if out of range. */
char *view_time(int64_t utc);
/* Now, the same way, to the microsecond ("2026-12-06T21:03:00.123456+01:00"): two events in one second differ. */
char *view_time_now_us(void);
