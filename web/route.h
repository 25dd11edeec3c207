/* The API's request parsing as pure code (STYLE.md: every parser of outside input is unit-tested and fuzzed):
 * a path and method to a route, with the band and the action it names, and a body to a JSON object. No
 * libwebsockets, no manager: api.c dispatches what comes out. */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "address.h"

enum route_kind {
	ROUTE_HEALTHZ,     /* GET /healthz */
	ROUTE_BANDS,       /* GET or POST /api/v1/bands */
	ROUTE_BAND,        /* GET /api/v1/bands/{id} */
	ROUTE_BAND_ACTION, /* POST /api/v1/bands/{id}/actions/{verb} */
	ROUTE_SCAN,        /* GET or POST /api/v1/scan */
	ROUTE_METRICS,     /* GET /metrics */
	ROUTE_ERROR,       /* refused: status and error say why */
};

struct route {
	enum route_kind kind;
	bool post;
	char address[ADDRESS_SIZE]; /* ROUTE_BAND, ROUTE_BAND_ACTION: the band, upper-case colon form */
	const char *verb;           /* ROUTE_BAND_ACTION: points into the path given (not checked against action.h) */
	unsigned status;            /* ROUTE_ERROR: 400, 404 or 405 */
	const char *error;          /* ROUTE_ERROR: a sentence for the JSON error body */
};

/* path: NUL-terminated, without the query string. Never fails: a refusal is ROUTE_ERROR. */
void route_parse(const char *path, bool post, struct route *ret);

/* A POST's body: nothing at all (*ret NULL), or one JSON object of UTF-8 text with nothing after it. false with a
 * sentence in *ret_error otherwise; *ret is then NULL. The caller frees *ret with cJSON_Delete. */
bool route_parse_body(const char *body, size_t len, cJSON **ret, const char **ret_error);
