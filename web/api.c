/* The JSON API (api.h) on libwebsockets, a guest of the GLib main loop (LWS_SERVER_OPTION_GLIB). Requests are
 * small: a body over BODY_MAX is refused before it is read. Every answer is built whole, then written once. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libwebsockets.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "band.h"
#include "manager.h"

#define BODY_MAX 4096
#define PATH_MAX_LEN 160
#define SCAN_SECONDS 10

struct web {
	struct lws_context *context;
	struct manager *mgr;
	char *socket_path;
};

/* Per HTTP transaction. */
struct pss {
	bool post;
	char path[PATH_MAX_LEN];
	GString *body;
	char *response;
	size_t response_len;
	unsigned status;
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

static cJSON *band_json(struct band *band)
{
	cJSON *o = cJSON_CreateObject();
	g_autofree char *id = g_ascii_strdown(band_address(band), -1);

	g_strdelimit(id, ":", '\0');
	cJSON_AddStringToObject(o, "address", band_address(band));
	cJSON_AddStringToObject(o, "state", band_state_name(band_state(band)));
	cJSON_AddStringToObject(o, "description", band_state_description(band));
	if (band_battery(band) >= 0)
		cJSON_AddNumberToObject(o, "battery", band_battery(band));
	if (band_steps(band) >= 0)
		cJSON_AddNumberToObject(o, "steps", (double)band_steps(band));
	if (band_firmware(band)[0])
		cJSON_AddStringToObject(o, "firmware", band_firmware(band));
	return o;
}

/* "c80f10112233" or "C8:0F:10:11:22:33" to the colon form; false for anything else. */
static bool parse_id(const char *id, size_t len, char ret[18])
{
	size_t j = 0;

	if (len == 17) {
		memcpy(ret, id, 17);
		ret[17] = '\0';
		for (size_t i = 0; i < 17; i++)
			if (i % 3 == 2 ? ret[i] != ':' : !g_ascii_isxdigit(ret[i]))
				return false;
		return true;
	}
	if (len != 12)
		return false;
	for (size_t i = 0; i < 12; i++) {
		if (!g_ascii_isxdigit(id[i]))
			return false;
		ret[j++] = g_ascii_toupper(id[i]);
		if (i % 2 == 1 && i < 11)
			ret[j++] = ':';
	}
	ret[17] = '\0';
	return true;
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
		cJSON_AddItemToArray(list, band_json(bands->pdata[i]));
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

/* The body of a POST: a JSON object, or nothing at all. */
static cJSON *body_object(struct pss *pss, bool *ret_ok)
{
	cJSON *o;

	*ret_ok = true;
	if (!pss->body || pss->body->len == 0)
		return NULL;
	o = cJSON_ParseWithLength(pss->body->str, pss->body->len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		*ret_ok = false;
		reply_error(pss, 400, "the body is not a JSON object");
		return NULL;
	}
	return o;
}

static void post_band(struct web *web, struct pss *pss)
{
	bool ok;
	cJSON *o = body_object(pss, &ok);
	const cJSON *address = cJSON_GetObjectItemCaseSensitive(o, "address");
	g_autoptr(GError) error = NULL;

	if (!ok)
		return;
	if (!cJSON_IsString(address))
		reply_error(pss, 400, "give the band as {\"address\": \"C8:0F:10:11:22:33\"}");
	else if (!manager_add(web->mgr, address->valuestring, &error))
		reply_gerror(pss, error);
	else
		reply(pss, 201, band_json(manager_band(web->mgr, address->valuestring)));
	cJSON_Delete(o);
}

static void post_action(struct web *web, struct pss *pss, const char *address, const char *verb)
{
	bool ok;
	cJSON *o = body_object(pss, &ok);
	g_autoptr(GError) error = NULL;
	struct band *band;

	if (!ok)
		return;
	if (!manager_command(web->mgr, verb, address, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "confirm")),
	                     &error)) {
		reply_gerror(pss, error);
	} else {
		band = manager_band(web->mgr, address);
		reply(pss, 202, band ? band_json(band) : cJSON_CreateObject());
	}
	cJSON_Delete(o);
}

/* /api/v1/bands/{id}[/actions/{verb}] */
static void band_route(struct web *web, struct pss *pss, const char *rest)
{
	const char *slash = strchr(rest, '/');
	size_t id_len = slash ? (size_t)(slash - rest) : strlen(rest);
	char address[18];
	struct band *band;

	if (!parse_id(rest, id_len, address)) {
		reply_error(pss, 400, "a band is named by its address, e.g. c80f10112233");
		return;
	}
	if (slash && g_str_has_prefix(slash, "/actions/") && pss->post) {
		post_action(web, pss, address, slash + strlen("/actions/"));
		return;
	}
	band = manager_band(web->mgr, address);
	if (slash || pss->post)
		reply_error(pss, slash ? 404 : 405, slash ? "no such resource" : "method not allowed");
	else if (!band)
		reply_error(pss, 404, "no managed band has that address");
	else
		reply(pss, 200, band_json(band));
}

static void route(struct web *web, struct pss *pss)
{
	const char *p = pss->path;

	if (strcmp(p, "/healthz") == 0)
		reply(pss, 200, cJSON_CreateObject());
	else if (strcmp(p, "/api/v1/bands") == 0)
		pss->post ? post_band(web, pss) : get_bands(web, pss);
	else if (g_str_has_prefix(p, "/api/v1/bands/"))
		band_route(web, pss, p + strlen("/api/v1/bands/"));
	else if (strcmp(p, "/api/v1/scan") == 0) {
		if (pss->post)
			manager_scan(web->mgr, SCAN_SECONDS);
		get_scan(web, pss);
	} else
		reply_error(pss, 404, "no such resource");
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
static int send_headers(struct lws *wsi, struct pss *pss)
{
	(void)pss;
	lws_callback_on_writable(wsi);
	return 0;
}

static int send_body(struct lws *wsi, struct pss *pss)
{
	size_t len = pss->response_len;
	g_autofree uint8_t *buf = g_malloc(LWS_PRE + 512 + len);
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + LWS_PRE + 512 - 1;

	if (lws_add_http_common_headers(wsi, pss->status, "application/json", len, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	memcpy(p, pss->response, len);
	p += len;
	pss_clear(pss); /* the transaction is over whatever happens next; lws may reuse or drop the pss */
	if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < (int)(p - start))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http(struct lws *wsi, struct pss *pss, const char *uri)
{
	struct web *web = lws_context_user(lws_get_context(wsi));
	char length[16] = "";

	pss_clear(pss);
	pss->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (!pss->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		reply_error(pss, 405, "only GET and POST");
		return send_headers(wsi, pss);
	}
	if (strlen(uri) >= sizeof(pss->path)) {
		reply_error(pss, 404, "no such resource");
		return send_headers(wsi, pss);
	}
	g_strlcpy(pss->path, uri, sizeof(pss->path));
	lws_hdr_copy(wsi, length, sizeof(length), WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (pss->post && g_ascii_strtoull(length, NULL, 10) > BODY_MAX) {
		reply_error(pss, 413, "the body is too large");
		return send_headers(wsi, pss);
	}
	if (pss->post && length[0]) {
		pss->body = g_string_new(NULL);
		return 0; /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION, also for "Content-Length: 0" */
	}
	route(web, pss);
	return send_headers(wsi, pss);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct web *web = lws_context_user(lws_get_context(wsi));

	switch ((int)reason) { /* lws's enum: the reasons not listed go to its default handler */
	case LWS_CALLBACK_HTTP:
		return on_http(wsi, pss, in);
	case LWS_CALLBACK_HTTP_BODY:
		if (!pss->body || pss->body->len + len > BODY_MAX)
			return -1;
		g_string_append_len(pss->body, in, (gssize)len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!pss->body)
			return 0; /* "Content-Length: 0": answered at LWS_CALLBACK_HTTP already */
		route(web, pss);
		return send_headers(wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return pss->response ? send_body(wsi, pss) : 0;
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

void web_free(struct web *web)
{
	if (!web)
		return;
	if (web->context)
		lws_context_destroy(web->context);
	unlink(web->socket_path);
	g_free(web->socket_path);
	g_free(web);
}
