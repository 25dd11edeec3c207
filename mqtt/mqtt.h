/* The MQTT front: one broker session on the GLib loop (libmosquitto's socket is a watch), the topics of
 * DESIGN.md, commands in through the manager's command API, Home Assistant discovery (ha.h), and the
 * store-and-forward outbox in SQLite: every message that matters is a row before it is published and is
 * deleted on the broker's PUBACK, so neither a broker outage nor our own crash loses it. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

struct config;
struct db;
struct manager;
struct mqtt;

struct mqtt_ops {
	/* The gateway's "restart" command: the owner restarts the daemon (after this returns). */
	void (*restart)(void *user_data);
};

/* Reads the password file (a failure is a config error), then connects from a timer and keeps trying, with
 * capped backoff and jitter, for as long as the daemon runs. configuration_url: the dashboard, or NULL. */
struct mqtt *mqtt_new(const struct config *cfg, struct manager *mgr, struct db *db, const char *configuration_url,
                      const struct mqtt_ops *ops, void *user_data, GError **error);
/* Clean shutdown: pending states to the outbox, "offline" published (waiting up to a second for the broker to
 * take it), then disconnect. Accepts NULL. */
void mqtt_free(struct mqtt *m);
