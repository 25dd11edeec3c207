/* Fuzzes the API's request parsing (web/route.h). Input: a first line "GET path" or "POST path", then the body.
 * The path may carry a query string ("?from=1&resolution=day"): its arguments go through the query parser.
 * Whatever the bytes, a route comes out; a refusal carries 400, 404 or 405 and a sentence; a band route names a
 * valid address and an action route a verb inside the path; a body is an object, nothing, or refused with a
 * sentence. A check that fails aborts. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"
#include "route.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

static void check_route(const char *path, bool post)
{
	struct route r;

	route_parse(path, post, &r);
	switch (r.kind) {
	case ROUTE_ERROR:
		CHECK(r.status == 400 || r.status == 404 || r.status == 405);
		CHECK(r.error && *r.error);
		break;
	case ROUTE_BAND_ACTION:
		CHECK(post && r.verb >= path && r.verb <= path + strlen(path));
		/* fall through */
	case ROUTE_BAND:
	case ROUTE_BAND_ACTIVITY:
	case ROUTE_BAND_EVENTS:
	case ROUTE_BAND_NOTIFICATIONS:
		CHECK(address_valid(r.address));
		CHECK(!r.open);
		break;
	case ROUTE_ASSET: /* looked up by exact name: whatever the path, it is never opened as a file */
		CHECK(!post && r.open && path[0] == '/' && !g_str_has_prefix(path, "/api/"));
		break;
	case ROUTE_LOGIN:
	case ROUTE_HEALTHZ:
	case ROUTE_SESSION:
		CHECK(r.open);
		break;
	case ROUTE_BANDS:
	case ROUTE_SCAN:
	case ROUTE_METRICS:
	case ROUTE_HEALTH:
	case ROUTE_LOGOUT:
	case ROUTE_WS:
		CHECK(!r.open);
		break;
	}
}

/* The query string: arguments split at '&' as lws gives them; a range that passes is one the API can answer. */
static void check_query(const char *query)
{
	g_auto(GStrv) args = g_strsplit(query, "&", 32);
	struct route_query q;
	const char *why = NULL;
	bool ok = true;

	route_query_init(&q);
	for (char **a = args; *a && ok; a++) {
		ok = route_query_arg(&q, *a, &why);
		CHECK(ok || (why && *why));
	}
	if (!ok)
		return;
	CHECK(q.limit <= ROUTE_LIMIT_MAX);
	if (route_query_range(&q, 1765000000, &why))
		CHECK(q.from >= 0 && q.from < q.to && q.to - q.from <= 3660 * 86400);
	else
		CHECK(why && *why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t line = nl ? (size_t)(nl - (const char *)data) : size;
	g_autofree char *first = g_strndup((const char *)data, line);
	const char *body = nl ? nl + 1 : "";
	size_t body_len = nl ? size - line - 1 : 0;
	const char *path = strchr(first, ' ');
	const char *why = NULL;
	cJSON *o = NULL;
	bool ok;

	char *query = path ? strchr(path, '?') : NULL;

	if (query)
		*query++ = '\0';
	check_route(path ? path + 1 : first, g_str_has_prefix(first, "POST"));
	if (query)
		check_query(query);
	ok = route_parse_body(body, body_len, &o, &why);
	CHECK(ok ? (body_len == 0 ? o == NULL : cJSON_IsObject(o)) : o == NULL && why && *why);
	cJSON_Delete(o);
	return 0;
}
