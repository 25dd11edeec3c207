/* The band manager: owns the BlueZ view, the bands and the database rows that pairing needs, and offers the
 * one command API that the CLI, MQTT and the web reuse (DESIGN.md). */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "band.h"
#include "config.h"

struct db;
struct manager;

/* Starts following BlueZ at once; bands come from the config's [gateway] bands and from the database. */
struct manager *manager_new(const struct config *cfg, struct db *db, GError **error);
void manager_free(struct manager *mgr);

/* The bands, in address order (struct band *, owned by the manager). */
GPtrArray *manager_bands(struct manager *mgr);
struct band *manager_band(struct manager *mgr, const char *address);

/* Start managing a band (pairing it on first connection). Idempotent. */
bool manager_add(struct manager *mgr, const char *address, GError **error);
/* verb: the name of an action of action.h that is not an alert (those are manager_notify()'s); one that needs a
 * confirmation is refused without confirm. The result shows as state changes; an error says why the action
 * could not start. */
bool manager_command(struct manager *mgr, const char *verb, const char *address, bool confirm, GError **error);

/* Queue an alert for a band (kind "text", "vibrate" or "find"; category by name, NULL: "sms"; text for "text":
 * valid UTF-8, at most 1024 bytes). It is stored first, then played when the band is ready and its screen free,
 * in order; *ret_id is its row. source says who asked ("cli", "web", "mqtt"). */
bool manager_notify(struct manager *mgr, const char *address, const char *source, const char *kind,
                    const char *category, const char *text, int64_t *ret_id, GError **error);
/* Steps today, never less than what was stored today (after a restart, before the band reports). */
long manager_steps_today(struct manager *mgr, struct band *band);

/* Look for bands for this long (discovery runs meanwhile), and what has been seen: "MI Band 2" devices. */
void manager_scan(struct manager *mgr, unsigned seconds);
struct manager_seen {
	char address[18];
	bool has_rssi;
	int rssi;
	bool managed;
};
GArray *manager_seen(struct manager *mgr); /* of struct manager_seen */


/* The event flow: subscribe to hear of every change after it was stored (hub.h). */
struct hub *manager_hub(struct manager *mgr);
/* Adapter power-cycles since start. */
unsigned manager_adapter_resets(struct manager *mgr);
/* The adapter as a person would say it: "powered", "off", "absent" (no bluetoothd or no adapter) or
 * "resetting" (the gateway power-cycles it). */
const char *manager_adapter_state(struct manager *mgr);

/* The gateway's health, computed once here for every front. */
struct manager_health {
	int64_t uptime_s;
	long rss_kb;             /* resident memory, -1 while unknown */
	int64_t db_bytes;        /* the database with its write-ahead log, -1 while unknown */
	int64_t outbox;          /* messages waiting for the broker, -1 while unknown */
	unsigned adapter_resets; /* since start */
	unsigned bands;          /* managed */
	uint64_t samples_stored; /* history minutes stored since start */
	int mqtt_connected;      /* 1 or 0 as MQTT reported it, -1 without MQTT */
	const char *adapter;     /* manager_adapter_state() */
};
void manager_health(struct manager *mgr, struct manager_health *ret);
/* MQTT's session came up or went: the health every front shows says so. */
void manager_report_mqtt(struct manager *mgr, bool connected);

/* What a front shows of a band, in one read. Strings live as long as the band does, until the next change. */
struct manager_snapshot {
	char address[18];
	char id[13];             /* the address in lower case without colons, for topics and URLs */
	const char *state;       /* band_state_name() */
	const char *description; /* one sentence for a person */
	bool connected;          /* ready: connected and authenticated */
	long steps;              /* today, never below what was stored today */
	long meters, calories;   /* today; -1 while unknown */
	int battery;             /* %, -1 while unknown */
	bool charging;
	int heart_rate;          /* the newest reading (live or all-day), -1 while none */
	int64_t last_sync;       /* UTC s of the last complete history sync, 0: never */
	const char *sync;        /* band_sync_state(): idle, running, retrying, failed */
	const char *sync_error;  /* why the last sync gave up, NULL when it did not */
	const char *firmware;    /* "" while unknown */
	bool has_rssi;
	int rssi;
	unsigned connections;    /* times it became ready since the gateway started */
	int64_t since;           /* UTC s when its state began; 0: unknown */
	int64_t tap_deadline;    /* UTC s when the wait for the wearer's tap ends; 0: not waiting */
	const char *adapter;     /* manager_adapter_state(): the view tells an adapter's fault from the band's */
};
void manager_snapshot(struct manager *mgr, struct band *band, struct manager_snapshot *ret);
