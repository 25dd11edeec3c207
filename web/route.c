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

/* /api/v1/bands/{id}/{what}: what the band has to read */
static const struct {
	const char *name;
	enum route_kind kind;
} band_reads[] = {
	{ "/activity", ROUTE_BAND_ACTIVITY },
	{ "/events", ROUTE_BAND_EVENTS },
	{ "/notifications", ROUTE_BAND_NOTIFICATIONS },
};

/* /api/v1/bands/{id}[/actions/{verb}|/activity|/events|/notifications] */
static void band_route(const char *rest, struct route *ret)
{
	const char *slash = strchr(rest, '/');
	size_t id_len = slash ? (size_t)(slash - rest) : strlen(rest);

	for (size_t i = 0; slash && i < G_N_ELEMENTS(band_reads); i++) {
		if (strcmp(slash, band_reads[i].name) != 0)
			continue;
		if (!address_parse(rest, id_len, ret->address))
			refuse(ret, 400, "a band is named by its address, e.g. c80f10112233");
		else if (ret->post)
			refuse(ret, 405, "this is read with GET");
		else
			ret->kind = band_reads[i].kind;
		return;
	}
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

/* Routes of one path and method, outside /api/v1/bands. */
static const struct {
	const char *path;
	enum route_kind kind;
	int method; /* 0: GET, 1: POST, 2: either */
	bool open;
} fixed[] = {
	{ "/healthz", ROUTE_HEALTHZ, 0, true },
	{ "/api/v1/scan", ROUTE_SCAN, 2, false },
	{ "/api/v1/health", ROUTE_HEALTH, 0, false },
	{ "/api/v1/login", ROUTE_LOGIN, 1, true },
	{ "/api/v1/logout", ROUTE_LOGOUT, 1, false },
	{ "/api/v1/session", ROUTE_SESSION, 0, true },
	{ "/metrics", ROUTE_METRICS, 0, false },
	{ "/ws", ROUTE_WS, 0, false },
};

void route_parse(const char *path, bool post, struct route *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->post = post;
	for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++) {
		if (strcmp(path, fixed[i].path) != 0)
			continue;
		if (fixed[i].method != 2 && fixed[i].method != (int)post) {
			refuse(ret, 405, fixed[i].method ? "this takes a POST" : "this is read with GET");
		} else {
			ret->kind = fixed[i].kind;
			ret->open = fixed[i].open;
		}
		return;
	}
	if (strcmp(path, BANDS) == 0)
		ret->kind = ROUTE_BANDS;
	else if (strncmp(path, BANDS "/", strlen(BANDS "/")) == 0)
		band_route(path + strlen(BANDS "/"), ret);
	else if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 || path[0] != '/')
		refuse(ret, 404, "no such resource");
	else if (post)
		refuse(ret, 405, "the page's files are read with GET");
	else {
		ret->kind = ROUTE_ASSET; /* looked up by its exact name among the embedded files: no file system */
		ret->open = true;
	}
}

void route_query_init(struct route_query *q)
{
	memset(q, 0, sizeof(*q));
	q->resolution = ROUTE_HOUR;
}

bool route_number(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d = (unsigned char)*s - '0';

		if (d > 9 || v > max / 10 || d > max - v * 10)
			return false;
		v = v * 10 + d;
	}
	if (v < min)
		return false;
	*ret = v;
	return true;
}

static bool parse_time(const char *value, int64_t *ret)
{
	uint64_t v;

	if (!route_number(value, 0, (uint64_t)ROUTE_TIME_MAX, &v))
		return false;
	*ret = (int64_t)v;
	return true;
}

bool route_query_arg(struct route_query *q, const char *arg, const char **ret_error)
{
	const char *eq = strchr(arg, '=');
	const char *value = eq ? eq + 1 : "";
	size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
	uint64_t limit;

#define IS(name) (name_len == strlen(name) && strncmp(arg, name, name_len) == 0)
	if (IS("from") && !q->has_from) {
		q->has_from = parse_time(value, &q->from);
		*ret_error = "from is a time in UTC seconds since 1970";
		return q->has_from;
	}
	if (IS("to") && !q->has_to) {
		q->has_to = parse_time(value, &q->to);
		*ret_error = "to is a time in UTC seconds since 1970";
		return q->has_to;
	}
	if (IS("resolution")) {
		*ret_error = "resolution is minute, hour or day";
		if (strcmp(value, "minute") == 0)
			q->resolution = ROUTE_MINUTE;
		else if (strcmp(value, "hour") == 0)
			q->resolution = ROUTE_HOUR;
		else if (strcmp(value, "day") == 0)
			q->resolution = ROUTE_DAY;
		else
			return false;
		return true;
	}
	if (IS("limit") && !q->limit) {
		*ret_error = "limit is a number 1..1000";
		if (!route_number(value, 1, ROUTE_LIMIT_MAX, &limit))
			return false;
		q->limit = (unsigned)limit;
		return true;
	}
#undef IS
	*ret_error = "unknown or repeated query argument (known: from, to, resolution, limit)";
	return false;
}

bool route_query_range(struct route_query *q, int64_t now, const char **ret_error)
{
	static const int64_t span_max[] = { [ROUTE_MINUTE] = 2 * 86400, [ROUTE_HOUR] = 62 * 86400,
		                            [ROUTE_DAY] = 3660 * 86400 };

	if (!q->has_to)
		q->to = now;
	if (!q->has_from)
		q->from = q->to - (q->resolution == ROUTE_DAY ? 30 * 86400 : 86400);
	if (q->from < 0)
		q->from = 0;
	if (q->from >= q->to) {
		*ret_error = "from must come before to";
		return false;
	}
	if (q->to - q->from > span_max[q->resolution]) {
		*ret_error = "the range is too long for this resolution (minute: 2 days, hour: 62 days, day: 3660 days)";
		return false;
	}
	return true;
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
