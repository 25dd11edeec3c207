/* route.h. Bodies: NUL bytes, invalid UTF-8 and text after the object are refused, since their strings end up in
 * logs, the database and other answers; cJSON stops at 1000 levels of nesting. */
#include <glib.h>
#include <string.h>

#include "route.h"

#define BANDS "/api/v1/bands"
#define ACTIONS "/actions/"

static void refuse(struct route *ret, unsigned status, const char *error)
{
	ret->kind = ROUTE_ERROR;
	ret->status = status;
	ret->error = error;
}

/* /api/v1/bands/{id}[/actions/{verb}] */
static void band_route(const char *rest, struct route *ret)
{
	const char *slash = strchr(rest, '/');
	size_t id_len = slash ? (size_t)(slash - rest) : strlen(rest);

	if (!address_parse(rest, id_len, ret->address))
		refuse(ret, 400, "a band is named by its address, e.g. c80f10112233");
	else if (slash && strncmp(slash, ACTIONS, strlen(ACTIONS)) == 0 && ret->post) {
		ret->kind = ROUTE_BAND_ACTION;
		ret->verb = slash + strlen(ACTIONS);
	} else if (slash && strncmp(slash, ACTIONS, strlen(ACTIONS)) == 0)
		refuse(ret, 405, "an action is a POST");
	else if (slash)
		refuse(ret, 404, "no such resource");
	else if (ret->post)
		refuse(ret, 405, "a band is read with GET; a new one is managed with POST /api/v1/bands");
	else
		ret->kind = ROUTE_BAND;
}

void route_parse(const char *path, bool post, struct route *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->post = post;
	if (strcmp(path, "/healthz") == 0 && post)
		refuse(ret, 405, "health is read with GET");
	else if (strcmp(path, "/healthz") == 0)
		ret->kind = ROUTE_HEALTHZ;
	else if (strcmp(path, BANDS) == 0)
		ret->kind = ROUTE_BANDS;
	else if (strncmp(path, BANDS "/", strlen(BANDS "/")) == 0)
		band_route(path + strlen(BANDS "/"), ret);
	else if (strcmp(path, "/api/v1/scan") == 0)
		ret->kind = ROUTE_SCAN;
	else if (strcmp(path, "/metrics") == 0 && post)
		refuse(ret, 405, "metrics are read with GET");
	else if (strcmp(path, "/metrics") == 0)
		ret->kind = ROUTE_METRICS;
	else
		refuse(ret, 404, "no such resource");
}

bool route_parse_body(const char *body, size_t len, cJSON **ret, const char **ret_error)
{
	cJSON *o = NULL;
	const char *end = NULL;

	*ret = NULL;
	if (len == 0)
		return true;
	if (len > G_MAXSSIZE || !g_utf8_validate(body, (gssize)len, NULL)) { /* a NUL byte fails it too */
		*ret_error = "the body is not UTF-8 text";
		return false;
	}
	/* Not cJSON's require_null_terminated: with a length it refuses an object that fills the buffer exactly. */
	o = cJSON_ParseWithLengthOpts(body, len, &end, false);
	while (o && end < body + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (!cJSON_IsObject(o) || end != body + len) {
		cJSON_Delete(o);
		*ret_error = "the body is not a JSON object";
		return false;
	}
	*ret = o;
	return true;
}
