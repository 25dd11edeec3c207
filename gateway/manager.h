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
/* verb: reconnect, reset, repair, reboot, factory-reset (confirm must be true), forget. The result shows as
 * state changes; an error says why the action could not start. */
bool manager_command(struct manager *mgr, const char *verb, const char *address, bool confirm, GError **error);

/* Look for bands for this long (discovery runs meanwhile), and what has been seen: "MI Band 2" devices. */
void manager_scan(struct manager *mgr, unsigned seconds);
struct manager_seen {
	char address[18];
	bool has_rssi;
	int rssi;
	bool managed;
};
GArray *manager_seen(struct manager *mgr); /* of struct manager_seen */
