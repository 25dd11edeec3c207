/* Fuzzes the API's request parsing (web/route.h). Input: a first line "GET path" or "POST path", then the body.
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
		CHECK(address_valid(r.address));
		break;
	case ROUTE_HEALTHZ:
	case ROUTE_BANDS:
	case ROUTE_SCAN:
	case ROUTE_METRICS:
		break;
	}
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

	check_route(path ? path + 1 : first, g_str_has_prefix(first, "POST"));
	ok = route_parse_body(body, body_len, &o, &why);
	CHECK(ok ? (body_len == 0 ? o == NULL : cJSON_IsObject(o)) : o == NULL && why && *why);
	cJSON_Delete(o);
	return 0;
}
