/* The web side of the gateway (DESIGN.md, Web): one libwebsockets context on the GLib main loop with two
 * listeners over the same handlers: the local Unix socket the CLI uses (file permissions instead of a password)
 * and, when [web] listen is set, the LAN one, where everything but /healthz, the page's files and the login
 * needs a session, and every POST the session's CSRF token and the page's own Origin.
 *
 *   GET    /  /app.js  /app.css  /icon.svg                 the dashboard (embedded; ETag, gzip)
 *   POST   /api/v1/login    {"password"}                   200 {"csrf"} + the session cookie; 401; 429 Retry-After
 *   GET    /api/v1/session                                 200 {"csrf"} while logged in, else 401
 *   POST   /api/v1/logout
 *   GET    /api/v1/bands                                   every managed band: its view (view.h)
 *   GET    /api/v1/bands/{id}                              one band ({id}: "c80f10112233" or with colons)
 *   POST   /api/v1/bands            {"address"}            manage a band (it pairs on its first connection)
 *   POST   /api/v1/bands/{id}/actions/{verb}               action.h's verbs; {"confirm": true} for factory-reset;
 *                                   {"text", "category"?}  for notify
 *   GET    /api/v1/bands/{id}/activity?from=&to=&resolution=minute|hour|day   steps and heart rate by bucket
 *   GET    /api/v1/bands/{id}/events?limit=                the band's timeline (and the gateway's), newest first
 *   GET    /api/v1/bands/{id}/notifications?limit=         notifications sent to it, newest first, with status
 *   GET    /api/v1/health                                  the gateway's health
 *   POST   /api/v1/scan  GET /api/v1/scan                  look for bands for 10 s; what was seen
 *   GET    /ws                                             WebSocket: a snapshot, then every change (web-live.c)
 *   GET    /healthz  GET /metrics                          (metrics: behind the login unless metrics_public)
 *
 * Errors are {"error": "..."} with the right 4xx, also for a request refused before its body is read. Bodies are
 * UTF-8 JSON of at most 4 KiB with a Content-Length. One request per connection (web.c says why). */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

struct manager;
struct db;
struct web;

struct web_options {
	const char *socket_path;  /* created 0660 (its directory 0755 if missing); an old socket file is replaced */
	const char *listen;       /* "HOST:PORT", "[::]:PORT"; NULL or "": no LAN listener */
	const char *tls_cert, *tls_key; /* both or neither ("" = neither): HTTPS on the LAN listener */
	unsigned session_timeout; /* seconds a session lives unused */
	bool metrics_public;      /* /metrics without a login on the LAN */
};

struct web *web_new(const struct web_options *options, struct manager *mgr, struct db *db, GMainLoop *loop,
                    GError **error);
void web_free(struct web *web);
/* The dashboard password's hash (auth.h). A different one than before logs everyone out. */
void web_set_password_hash(struct web *web, const char *hash);
