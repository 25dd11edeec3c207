/* The JSON API (api.h) on libwebsockets, a guest of the GLib main loop (LWS_SERVER_OPTION_GLIB). Requests are
 * small: a body over BODY_MAX is refused before it is read. Every answer is built whole, then written once.
 *
 * Every request gets an HTTP answer with a JSON body, also one refused before its body is read: a body that
 * lws will deliver anyway (Content-Length up to BODY_MAX) is read and dropped, and the answer goes out at
 * LWS_CALLBACK_HTTP_BODY_COMPLETION; for a body we will not read (too large, an unreadable length) the answer
 * goes out at once. Only what lws refuses itself (an unknown method, headers over its limit) is a bare close.
 *
 * One request per connection: every answer says "Connection: close" and the connection closes after it. lws
 * 4.1.6 spins forever in lws_http_action() on a request with a body that it parses from pipelined data (its
 * buflist loop re-reads the segment that still holds the headers and never consumes it), and nothing in its
 * API tells a pipelined request from a fresh one. Closing also settles a POST without Content-Length, for which
 * lws would wait for 100 MB of body. The CLI makes one request per connection anyway. */
#define G_LOG_DOMAIN "bandgate-web" /* G_MESSAGES_DEBUG=bandgate-web turns on its debug lines alone */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libwebsockets.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action.h"
#include "address.h"
#include "api.h"
#include "metrics.h"
#include "route.h"
#include "view.h"
#include "band.h"
#include "manager.h"

#define BODY_MAX 4096
#define PATH_MAX_LEN 160
#define SCAN_SECONDS 10
/* lws drops a body that pauses for 5 s, but not one that trickles: this bounds the whole body. */
#define BODY_SECONDS 10

struct web {
	struct lws_context *context;
	struct manager *mgr;
	char *socket_path;
	uint64_t responses[METRICS_STATUS_MAX]; /* answers by status code, for /metrics */
	char *password_hash;                    /* auth.h; the LAN listener's login reads it */
};

/* Per HTTP transaction. */
struct pss {
	bool post;
	int64_t started; /* monotonic, when the headers were complete */
	char path[PATH_MAX_LEN];
	GString *body;
	char *response;
	size_t response_len;
	unsigned status;
	const char *content_type; /* NULL: JSON */
};

static char *error_json(const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(o, "error", message);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* The band's view (view.h), the same object MQTT publishes. */
static cJSON *band_json(struct manager *mgr, struct band *band)
{
	struct manager_snapshot s;

	manager_snapshot(mgr, band, &s);
	return view_band(&s);
}

static void reply(struct pss *pss, unsigned status, cJSON *json)
{
	pss->status = status;
	pss->response = cJSON_PrintUnformatted(json);
	pss->response_len = strlen(pss->response);
	cJSON_Delete(json);
}

static void reply_error(struct pss *pss, unsigned status, const char *message)
{
	pss->status = status;
	pss->response = error_json(message);
	pss->response_len = strlen(pss->response);
}

static void reply_gerror(struct pss *pss, const GError *error)
{
	unsigned status = 409;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		status = 404;
	else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
		status = 400;
	else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING))
		status = 202;
	reply_error(pss, status, error->message);
}

static void get_bands(struct web *web, struct pss *pss)
{
	g_autoptr(GPtrArray) bands = manager_bands(web->mgr);
	cJSON *list = cJSON_CreateArray();

	for (guint i = 0; i < bands->len; i++)
		cJSON_AddItemToArray(list, band_json(web->mgr, bands->pdata[i]));
	reply(pss, 200, list);
}

static void get_scan(struct web *web, struct pss *pss)
{
	g_autoptr(GArray) seen = manager_seen(web->mgr);
	cJSON *list = cJSON_CreateArray();

	for (guint i = 0; i < seen->len; i++) {
		struct manager_seen *s = &g_array_index(seen, struct manager_seen, i);
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "address", s->address);
		if (s->has_rssi)
			cJSON_AddNumberToObject(o, "rssi", s->rssi);
		cJSON_AddBoolToObject(o, "managed", s->managed);
		cJSON_AddItemToArray(list, o);
	}
	reply(pss, 200, list);
}

/* The body of a POST (route.h): a JSON object or nothing; false with the answer given. */
static cJSON *body_object(struct pss *pss, bool *ret_ok)
{
	const char *why = NULL;
	cJSON *o = NULL;

	*ret_ok = route_parse_body(pss->body ? pss->body->str : "", pss->body ? pss->body->len : 0, &o, &why);
	if (!*ret_ok)
		reply_error(pss, 400, why);
	return o;
}

static void post_band(struct web *web, struct pss *pss)
{
	bool ok;
	cJSON *o = body_object(pss, &ok);
	const cJSON *address = cJSON_GetObjectItemCaseSensitive(o, "address");
	const char *a = cJSON_IsString(address) ? address->valuestring : NULL;
	g_autoptr(GError) error = NULL;
	char parsed[ADDRESS_SIZE];

	if (!ok)
		return;
	if (a && address_parse(a, strlen(a), parsed))
		a = parsed; /* the id form too, as in URLs */
	if (!a)
		reply_error(pss, 400, "give the band as {\"address\": \"C8:0F:10:11:22:33\"}");
	else if (!manager_add(web->mgr, a, &error))
		reply_gerror(pss, error);
	else
		reply(pss, 201, band_json(web->mgr, manager_band(web->mgr, a)));
	cJSON_Delete(o);
}

/* A string member, or NULL when absent; false (with the answer given) when present but not a string. */
static bool string_member(struct pss *pss, const cJSON *o, const char *name, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*ret = NULL;
	if (!v)
		return true;
	if (!cJSON_IsString(v)) {
		g_autofree char *msg = g_strdup_printf("'%s' must be a string", name);

		reply_error(pss, 400, msg);
		return false;
	}
	*ret = v->valuestring;
	return true;
}

/* notify {"text", "category"?, "kind"?}, vibrate, find: queued as a row, answered with its id. */
static void post_alert(struct web *web, struct pss *pss, const char *address, const struct action *a,
                       const cJSON *o)
{
	const char *text = NULL, *category = NULL, *kind = NULL;
	g_autoptr(GError) error = NULL;
	int64_t id = 0;
	cJSON *r;

	if (!string_member(pss, o, "text", &text) || !string_member(pss, o, "category", &category) ||
	    !string_member(pss, o, "kind", &kind))
		return;
	if (!(a->flags & ACTION_FLAG_TEXT))
		kind = a->name;
	else if (!kind)
		kind = "text";
	if (!manager_notify(web->mgr, address, "api", kind, category, text, &id, &error)) {
		reply_gerror(pss, error);
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "id", (double)id);
	cJSON_AddStringToObject(r, "status", "queued");
	reply(pss, 202, r);
}

static void post_action(struct web *web, struct pss *pss, const char *address, const char *verb)
{
	const struct action *a = action_find(verb, false);
	bool ok;
	cJSON *o = body_object(pss, &ok);
	g_autoptr(GError) error = NULL;
	struct band *band;

	if (!ok)
		return;
	if (a && (a->flags & ACTION_FLAG_ALERT))
		post_alert(web, pss, address, a, o);
	else if (!manager_command(web->mgr, verb, address, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "confirm")),
	                     &error)) {
		reply_gerror(pss, error);
	} else {
		band = manager_band(web->mgr, address);
		reply(pss, 202, band ? band_json(web->mgr, band) : cJSON_CreateObject());
	}
	cJSON_Delete(o);
}

/* The answer is freed as cJSON's output is (pss_clear), so it is copied out of GLib's allocation. */
static void reply_metrics(struct web *web, struct pss *pss)
{
	g_autofree char *text = metrics_text(web->mgr, web->responses);

	pss->status = 200;
	pss->response_len = strlen(text);
	pss->response = cJSON_malloc(pss->response_len + 1);
	memcpy(pss->response, text, pss->response_len + 1);
	pss->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void route(struct web *web, struct pss *pss)
{
	struct route r;
	struct band *band;

	route_parse(pss->path, pss->post, &r);
	switch (r.kind) {
	case ROUTE_HEALTHZ:
		reply(pss, 200, cJSON_CreateObject());
		break;
	case ROUTE_BANDS:
		pss->post ? post_band(web, pss) : get_bands(web, pss);
		break;
	case ROUTE_BAND:
		band = manager_band(web->mgr, r.address);
		if (band)
			reply(pss, 200, band_json(web->mgr, band));
		else
			reply_error(pss, 404, "no managed band has that address");
		break;
	case ROUTE_BAND_ACTION:
		post_action(web, pss, r.address, r.verb);
		break;
	case ROUTE_SCAN:
		if (pss->post)
			manager_scan(web->mgr, SCAN_SECONDS);
		get_scan(web, pss);
		break;
	case ROUTE_METRICS:
		reply_metrics(web, pss);
		break;
	case ROUTE_ERROR:
		reply_error(pss, r.status, r.error);
		break;
	}
}

/* ---- libwebsockets ---- */

static void pss_clear(struct pss *pss)
{
	if (pss->body)
		g_string_free(pss->body, TRUE);
	pss->body = NULL;
	cJSON_free(pss->response);
	pss->response = NULL;
}

/* The answer goes out when the socket can take it: headers and body in the same writeable callback. */
static int send_answer(struct lws *wsi)
{
	lws_callback_on_writable(wsi);
	return 0;
}

static int send_body(struct web *web, struct lws *wsi, struct pss *pss)
{
	size_t len = pss->response_len;
	g_autofree uint8_t *buf = g_malloc(LWS_PRE + 512 + len);
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + LWS_PRE + 512 - 1;
	const char *type = pss->content_type ? pss->content_type : "application/json";

	if (pss->status < METRICS_STATUS_MAX)
		web->responses[pss->status]++;
	if (lws_add_http_common_headers(wsi, pss->status, type, len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	memcpy(p, pss->response, len);
	p += len;
	pss_clear(pss);
	lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL);
	return -1; /* lws sends what the socket has not taken yet, then closes */
}

/* lws reads the body Content-Length says (as atoll reads it), and for a POST without one up to 100 MB (we take
 * that as no body: the answer goes out at once, and the close ends the rest). A body we will not read gets its
 * answer at once; false then. *ret_body: whether LWS_CALLBACK_HTTP_BODY_COMPLETION is coming (lws sends it for a
 * POST with "Content-Length: 0" too). */
static bool check_length(struct lws *wsi, struct pss *pss, bool *ret_body)
{
	char value[24];
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	guint64 length = 0;

	*ret_body = false;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		reply_error(pss, 411, "send the body with a Content-Length");
	} else if (n <= 0) {
		return true;
	} else if (n >= (int)sizeof(value) ||
	           lws_hdr_copy(wsi, value, sizeof(value), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
	           !g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &length, NULL)) {
		reply_error(pss, 400, "Content-Length is not a number");
	} else if (length > BODY_MAX) {
		reply_error(pss, 413, "the body is too large");
	} else {
		*ret_body = length > 0 || pss->post;
		return true;
	}
	return false;
}

/* The method and the path, before routing. lws has decoded %XX escapes in the path. */
static void check_request(struct lws *wsi, struct pss *pss, const char *uri, size_t uri_len)
{
	if (!pss->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		reply_error(pss, 405, "only GET and POST");
	} else if (uri_len >= sizeof(pss->path) || strlen(uri) != uri_len) {
		reply_error(pss, 404, "no such resource");
	} else if (!g_utf8_validate(uri, (gssize)uri_len, NULL)) {
		reply_error(pss, 400, "the path is not UTF-8");
	} else {
		g_strlcpy(pss->path, uri, sizeof(pss->path));
	}
}

static int on_http(struct lws *wsi, struct pss *pss, const char *uri, size_t uri_len)
{
	struct web *web = lws_context_user(lws_get_context(wsi));
	bool has_body;

	pss_clear(pss);
	pss->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	pss->started = g_get_monotonic_time();
	pss->path[0] = '\0';
	if (!check_length(wsi, pss, &has_body))
		return send_answer(wsi);
	check_request(wsi, pss, uri, uri_len);
	if (has_body) {
		if (!pss->response)
			pss->body = g_string_new(NULL);
		return 0; /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION; an unwanted body is read and dropped */
	}
	if (!pss->response)
		route(web, pss);
	return send_answer(wsi);
}

static int on_body(struct lws *wsi, struct pss *pss, const char *in, size_t len)
{
	bool late = g_get_monotonic_time() - pss->started > BODY_SECONDS * G_USEC_PER_SEC;

	if (!pss->body)
		return 0; /* the answer is decided already: the body is dropped */
	if (!late && pss->body->len + len <= BODY_MAX) {
		g_string_append_len(pss->body, in, (gssize)len);
		return 0;
	}
	pss_clear(pss);
	if (late)
		reply_error(pss, 408, "the body did not arrive in time");
	else
		reply_error(pss, 413, "the body is too large"); /* more than Content-Length said: lws does not let it */
	return send_answer(wsi);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct web *web = lws_context_user(lws_get_context(wsi));

	switch ((int)reason) { /* lws's enum: the reasons not listed go to its default handler */
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!pss->response)
			route(web, pss);
		return send_answer(wsi);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return pss->response ? send_body(web, wsi, pss) : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* A connection that died before its request was parsed has no session data: user is NULL. */
		if (pss)
			pss_clear(pss);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", callback, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void lws_log(int level, const char *line)
{
	if (level & LLL_ERR)
		g_warning("web: %.*s", (int)strcspn(line, "\n"), line);
	else
		g_debug("web: %.*s", (int)strcspn(line, "\n"), line);
}

struct web *web_new(const char *socket_path, struct manager *mgr, GMainLoop *loop, GError **error)
{
	struct web *web = g_new0(struct web, 1);
	struct lws_context_creation_info info = { 0 };
	void *foreign_loops[1] = { loop };
	g_autofree char *dir = g_path_get_dirname(socket_path);

	web->mgr = mgr;
	web->socket_path = g_strdup(socket_path);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	if (g_mkdir_with_parents(dir, 0755) < 0 || (unlink(socket_path) < 0 && errno != ENOENT)) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", socket_path, g_strerror(errno));
		web_free(web);
		return NULL;
	}
	info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_UNIX_SOCK;
	info.foreign_loops = foreign_loops;
	info.iface = web->socket_path;
	info.port = 0;
	info.protocols = protocols;
	info.user = web;
	web->context = lws_create_context(&info);
	if (!web->context || chmod(socket_path, 0660) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot serve the API on %s", socket_path);
		web_free(web);
		return NULL;
	}
	return web;
}

void web_set_password_hash(struct web *web, const char *hash)
{
	g_free(web->password_hash);
	web->password_hash = g_strdup(hash);
}

void web_free(struct web *web)
{
	if (!web)
		return;
	if (web->context)
		lws_context_destroy(web->context);
	unlink(web->socket_path);
	g_free(web->socket_path);
	g_free(web->password_hash);
	g_free(web);
}
