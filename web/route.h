/* The API's request parsing as pure code (STYLE.md: every parser of outside input is unit-tested and fuzzed):
 * a path and method to a route, with the band and the action it names, and a body to a JSON object. No
 * libwebsockets, no manager: api.c dispatches what comes out. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"

enum route_kind {
	ROUTE_HEALTHZ,       /* GET /healthz */
	ROUTE_BANDS,         /* GET or POST /api/v1/bands */
	ROUTE_BAND,          /* GET /api/v1/bands/{id} */
	ROUTE_BAND_ACTION,   /* POST /api/v1/bands/{id}/actions/{verb} */
	ROUTE_BAND_ACTIVITY, /* GET /api/v1/bands/{id}/activity?from=&to=&resolution= */
	ROUTE_BAND_EVENTS,   /* GET /api/v1/bands/{id}/events?limit= */
	ROUTE_BAND_NOTIFICATIONS, /* GET /api/v1/bands/{id}/notifications?limit= */
	ROUTE_SCAN,          /* GET or POST /api/v1/scan */
	ROUTE_HEALTH,        /* GET /api/v1/health */
	ROUTE_LOGIN,         /* POST /api/v1/login */
	ROUTE_LOGOUT,        /* POST /api/v1/logout */
	ROUTE_SESSION,       /* GET /api/v1/session */
	ROUTE_METRICS,       /* GET /metrics */
	ROUTE_WS,            /* GET /ws without the upgrade (with it, libwebsockets takes the request) */
	ROUTE_ASSET,         /* GET of anything else outside /api/: one of the page's files, or 404 */
	ROUTE_ERROR,         /* refused: status and error say why */
};

struct route {
	enum route_kind kind;
	bool post;
	bool open;                  /* served without a session: /healthz, login, session, the page's files */
	char address[ADDRESS_SIZE]; /* ROUTE_BAND*: the band, upper-case colon form */
	const char *verb;           /* ROUTE_BAND_ACTION: points into the path given (not checked against action.h) */
	unsigned status;            /* ROUTE_ERROR: 400, 404 or 405 */
	const char *error;          /* ROUTE_ERROR: a sentence for the JSON error body */
};

/* path: NUL-terminated, without the query string. Never fails: a refusal is ROUTE_ERROR. */
void route_parse(const char *path, bool post, struct route *ret);

/* A POST's body: nothing at all (*ret NULL), or one JSON object of UTF-8 text with nothing after it. false with a
 * sentence in *ret_error otherwise; *ret is then NULL. The caller frees *ret with cJSON_Delete. */
bool route_parse_body(const char *body, size_t len, cJSON **ret, const char **ret_error);

/* A decimal number as HTTP writes one (digits only: no sign, space or "0x") in min..max, into *ret. Not GLib's
 * g_ascii_string_to_unsigned(): in GLib 2.74 (bookworm) its first call in a process, if it meets another thread's
 * g_once_init_enter(), returns false for a valid number (a contended futex leaves EAGAIN in errno, which it reads as
 * a failure). The daemon answered "Content-Length: 0" with 400 so, in a test that posts as soon as it starts. */
bool route_number(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* A query string's arguments, one "name=value" at a time (libwebsockets hands them so, decoded). */
enum route_resolution { ROUTE_MINUTE, ROUTE_HOUR, ROUTE_DAY };

struct route_query {
	bool has_from, has_to;
	int64_t from, to;                 /* UTC seconds, 0..ROUTE_TIME_MAX */
	enum route_resolution resolution; /* ROUTE_HOUR unless given */
	unsigned limit;                   /* 1..ROUTE_LIMIT_MAX; 0: not given */
};

enum {
	ROUTE_LIMIT_MAX = 1000,
};
#define ROUTE_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

void route_query_init(struct route_query *q);
/* false with a sentence in *ret_error for an unknown name, a value out of range or a repeated name. */
bool route_query_arg(struct route_query *q, const char *arg, const char **ret_error);
/* The activity range: from < to, and a span that the resolution can answer in one page (minute: 2 days,
 * hour: 62 days, day: 3660 days). Defaults: to = now, from = to minus one day (hour and minute) or 30 days. */
bool route_query_range(struct route_query *q, int64_t now, const char **ret_error);
