/* The JSON API of DESIGN.md, served by libwebsockets on the GLib main loop. This listener is the local
 * Unix socket the CLI uses (file permissions instead of a password); the dashboard issue adds the LAN
 * listener with login over the same handlers.
 *
 *   GET    /api/v1/bands                          every managed band and its state
 *   GET    /api/v1/bands/{id}                     one band ({id}: "c80f10112233", or the address with colons)
 *   POST   /api/v1/bands            {"address"}   manage a band (it pairs on its first connection; either form)
 *   POST   /api/v1/bands/{id}/actions/{verb}      reconnect, reset, repair, reboot, factory-reset, forget
 *                                   {"confirm": true} for factory-reset
 *   POST   /api/v1/scan                           look for bands for a while (discovery is the daemon's)
 *   GET    /api/v1/scan                           bands nearby with RSSI and whether they are managed
 *   GET    /healthz
 * A band is its view (view.h), the object MQTT publishes as its state: "id" is the address in lower case
 * without colons, as in URLs and MQTT topics; every key is there, null while unknown. Errors are {"error": "..."} with 400, 404, 405, 408,
 * 409, 411 or 413, also for a request refused before its body is read. Bodies are UTF-8 JSON of at most 4 KiB
 * with a Content-Length. One request per connection: every answer closes it (see api.c for why). */
#pragma once

#include <gio/gio.h>

struct manager;
struct web;

/* socket_path: created 0660 (its directory 0755 if missing); an old socket file there is replaced. */
struct web *web_new(const char *socket_path, struct manager *mgr, GMainLoop *loop, GError **error);
void web_free(struct web *web);
/* The dashboard password's hash (auth.h), for the LAN listener's login. */
void web_set_password_hash(struct web *web, const char *hash);
