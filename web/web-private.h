/* Inside web/: what web.c (libwebsockets and HTTP), web-auth.c (login, sessions, CSRF, Origin), web-live.c (the
 * WebSocket) and api.c (the JSON answers) share. Nothing here is for the rest of the gateway (api.h is). */
#pragma once

#include <cjson/cJSON.h>
#include <libwebsockets.h>

#include "api.h"
#include "metrics.h"
#include "db.h"
#include "route.h"
#include "session.h"

struct manager;
struct db;
struct login_job;

enum {
	BODY_MAX = 4096,           /* bytes of a request's body */
	PATH_MAX_LEN = 160,        /* bytes of a request's path */
	BODY_SECONDS = 10,         /* the whole body must arrive within this (lws drops one that pauses 5 s) */
	CONNECTIONS_MAX = 128,     /* open connections, both listeners together */
	WS_QUEUE_MAX = 256 * 1024, /* bytes waiting for a WebSocket client that does not read: then it is dropped */
	WS_SNDBUF = 64 * 1024,     /* a WebSocket's kernel send buffer, fixed (Linux counts it double) */
	LOGINS_RUNNING_MAX = 2,    /* password hashes being checked at once (each takes ~60 ms of a core) */
};

#define SESSION_COOKIE "bandgate_session"

struct web {
	struct lws_context *context;
	struct lws_vhost *unix_vhost, *lan_vhost;
	struct manager *mgr;
	struct db *db;
	struct web_options options;
	bool tls;                               /* the LAN listener speaks HTTPS (tls_cert and tls_key set) */
	char *password_hash;                    /* auth.h; NULL: nobody can log in */
	struct sessions *sessions;
	struct login_limit *login_limit;
	GList *login_jobs;                      /* struct login_job *, hashing in a thread */
	unsigned logins_running;
	uint64_t responses[METRICS_STATUS_MAX]; /* answers by status code, for /metrics */
	int connections;                        /* wsi alive, listeners included */
	/* web-live.c */
	GList *clients;                         /* struct pss * of open WebSockets */
	unsigned hub_id;
	guint health_timer;
	char *last_health;                      /* the health last pushed, to push only changes */
};

/* Per connection: an HTTP transaction, then (after an upgrade) a WebSocket client. */
struct pss {
	struct lws *wsi;
	bool lan;                 /* came in on the LAN listener: login, CSRF and Origin apply */
	bool post;
	int64_t started;          /* monotonic, when the headers were complete */
	char path[PATH_MAX_LEN];
	char peer[64];            /* the client's address, for the login limit and the log */
	struct route route;
	struct route_query query;
	GString *body;            /* being read; NULL when the answer is decided before it */
	struct login_job *job;    /* a login whose password is being checked */
	/* the answer */
	unsigned status;
	char *response;           /* owned (g_malloc) unless static_body */
	const unsigned char *static_body;
	size_t response_len;
	const char *content_type; /* NULL: JSON */
	char *set_cookie;
	unsigned retry_after;     /* seconds; 0: none */
	const char *etag;
	bool gzip, cacheable;
	/* the WebSocket */
	GQueue out;               /* GBytes * frames waiting for the socket */
	size_t out_bytes;
	bool dropped;
	char session[SESSION_TOKEN_LEN + 1]; /* the LAN session that let it in: its logout ends the feed */
};

/* ---- web.c ---- */
/* The answer: a JSON value (taken), an error {"error": message}, or text (copied). */
void web_reply(struct pss *pss, unsigned status, cJSON *json);
void web_reply_error(struct pss *pss, unsigned status, const char *message);
void web_reply_text(struct pss *pss, unsigned status, const char *type, const char *text);
/* The answer is decided (a login's hash came back): send it. */
void web_answer_ready(struct pss *pss);

/* ---- api.c: the JSON routes, for a request that passed the checks of web-auth.c ---- */
void api_dispatch(struct web *web, struct pss *pss, const cJSON *body);
cJSON *api_band_view(struct web *web, const char *address); /* NULL: no such band */
cJSON *api_band_views(struct web *web);
cJSON *api_health(struct web *web);
cJSON *api_notification(const struct db_notification *n);

/* ---- web-auth.c ---- */
/* Before the body is read: whether the request may go on (else the answer is set: 401 or 403). */
bool web_auth_check(struct web *web, struct lws *wsi, struct pss *pss);
/* POST /api/v1/login, GET /api/v1/session, POST /api/v1/logout. */
void web_auth_login(struct web *web, struct pss *pss, const cJSON *body);
void web_auth_session(struct web *web, struct lws *wsi, struct pss *pss);
void web_auth_logout(struct web *web, struct lws *wsi, struct pss *pss);
/* A WebSocket's upgrade on the LAN listener: a session and the page's own Origin; the session's token is kept in
 * pss (when lws gives one yet) so that its logout ends the feed. */
bool web_auth_websocket(struct web *web, struct lws *wsi, struct pss *pss);
/* The connection closes: a login in flight answers nobody. */
void web_auth_forget(struct pss *pss);
void web_auth_free(struct web *web);

/* ---- web-live.c ---- */
void web_live_start(struct web *web);
void web_live_stop(struct web *web);
void web_live_open(struct web *web, struct pss *pss);
int web_live_writeable(struct web *web, struct pss *pss);
int web_live_receive(struct web *web, struct pss *pss);
void web_live_close(struct web *web, struct pss *pss);
/* The feeds that a session let in end with it (its logout); token NULL: every LAN feed (the password changed).
 * Returns how many end. The Unix socket's feeds stay. */
unsigned web_live_end(struct web *web, const char *token);
