/* api.h: libwebsockets, a guest of the GLib main loop (LWS_SERVER_OPTION_GLIB), with one vhost per listener over
 * the same callback. Requests are small: a body over BODY_MAX is refused before it is read. Every answer is
 * built whole, then written once.
 *
 * Every request gets an HTTP answer with a JSON body, also one refused before its body is read: a body that
 * lws will deliver anyway (Content-Length up to BODY_MAX) is read and dropped, and the answer goes out at
 * LWS_CALLBACK_HTTP_BODY_COMPLETION; for a body we will not read (too large, an unreadable length) the answer
 * goes out at once. Only what lws refuses itself (an unknown method, headers over its limit) is a bare close.
 *
 * One request per connection: every answer says "Connection: close" and the connection closes after it. lws
 * 4.1.6 spins forever in lws_http_action() on a request with a body that it parses from pipelined data (its
 * buflist loop re-reads the segment that still holds the headers and never consumes it), and nothing in its
 * API tells a pipelined request from a fresh one: on the LAN that would be a one-packet way to stop the
 * gateway. Closing also settles a POST without Content-Length, for which lws would wait for 100 MB of body. */
#define G_LOG_DOMAIN "bandgate-web" /* G_MESSAGES_DEBUG=bandgate-web turns on its debug lines alone */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assets.h"
#include "ratelimit.h"
#include "session.h"
#include "web-private.h"

/* What every answer carries: the page runs only its own files, in no frame, with types as sent. */
static const struct {
	const char *name, *value;
} security_headers[] = {
	{ "content-security-policy:", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
	{ "x-content-type-options:", "nosniff" },
	{ "x-frame-options:", "DENY" },
	{ "referrer-policy:", "no-referrer" },
};

static void answer_clear(struct pss *pss)
{
	if (pss->body)
		g_string_free(pss->body, TRUE);
	pss->body = NULL;
	g_clear_pointer(&pss->response, g_free);
	g_clear_pointer(&pss->set_cookie, g_free);
	pss->static_body = NULL;
	pss->response_len = 0;
	pss->content_type = NULL;
	pss->retry_after = 0;
	pss->etag = NULL;
	pss->gzip = pss->cacheable = false;
}

void web_reply(struct pss *pss, unsigned status, cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);

	pss->status = status;
	g_free(pss->response);
	pss->response = g_strdup(text ? text : "null");
	pss->response_len = strlen(pss->response);
	cJSON_free(text);
	cJSON_Delete(json);
}

void web_reply_error(struct pss *pss, unsigned status, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", message);
	web_reply(pss, status, o);
}

void web_reply_text(struct pss *pss, unsigned status, const char *type, const char *text)
{
	pss->status = status;
	g_free(pss->response);
	pss->response = g_strdup(text);
	pss->response_len = strlen(text);
	pss->content_type = type;
}

static bool answered(const struct pss *pss)
{
	return pss->response || pss->static_body || pss->status == 304;
}

/* ---- the page's files ---- */

const struct asset *asset_find(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (const struct asset *a = assets; a->path; a++)
		if (strcmp(a->path, path) == 0)
			return a;
	return NULL;
}

static bool header_has(struct lws *wsi, enum lws_token_indexes token, const char *what)
{
	char value[256];

	return lws_hdr_copy(wsi, value, sizeof(value), token) > 0 && strstr(value, what);
}

static void reply_asset(struct lws *wsi, struct pss *pss)
{
	const struct asset *a = asset_find(pss->path);
	char tag[64];

	if (!a) {
		web_reply_error(pss, 404, "no such resource");
		return;
	}
	pss->etag = a->etag;
	pss->cacheable = true;
	pss->content_type = a->content_type;
	if (lws_hdr_copy(wsi, tag, sizeof(tag), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 && strcmp(tag, a->etag) == 0) {
		pss->status = 304;
		return;
	}
	pss->status = 200;
	pss->gzip = a->gzip && header_has(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING, "gzip");
	pss->static_body = pss->gzip ? a->gzip : a->data;
	pss->response_len = pss->gzip ? a->gzip_size : a->size;
}

/* ---- a request ---- */

static void route_request(struct web *web, struct lws *wsi, struct pss *pss)
{
	bool ok;
	cJSON *body = NULL;
	const char *why = NULL;

	if (answered(pss))
		return;
	if (pss->route.kind == ROUTE_ASSET) {
		reply_asset(wsi, pss);
		return;
	}
	if (pss->route.kind == ROUTE_WS) {
		web_reply_error(pss, 400, "/ws is a WebSocket: ask for the upgrade");
		return;
	}
	if (pss->route.kind == ROUTE_ERROR) {
		web_reply_error(pss, pss->route.status, pss->route.error);
		return;
	}
	ok = route_parse_body(pss->body ? pss->body->str : "", pss->body ? pss->body->len : 0, &body, &why);
	if (!ok)
		web_reply_error(pss, 400, why);
	else if (pss->route.kind == ROUTE_LOGIN)
		web_auth_login(web, pss, body);
	else if (pss->route.kind == ROUTE_SESSION)
		web_auth_session(web, wsi, pss);
	else if (pss->route.kind == ROUTE_LOGOUT)
		web_auth_logout(web, wsi, pss);
	else
		api_dispatch(web, pss, body);
	cJSON_Delete(body);
}

/* The answer goes out when the socket can take it: headers and body in the same writeable callback. */
static int send_answer(struct lws *wsi, struct pss *pss)
{
	if (answered(pss))
		lws_callback_on_writable(wsi);
	return 0;
}

void web_answer_ready(struct pss *pss)
{
	send_answer(pss->wsi, pss);
}

static int add_header(struct lws *wsi, const char *name, const char *value, uint8_t **p, uint8_t *end)
{
	return lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)value, (int)strlen(value), p,
	                                   end);
}

static int send_body(struct web *web, struct lws *wsi, struct pss *pss)
{
	size_t len = pss->response_len;
	g_autofree uint8_t *buf = g_malloc(LWS_PRE + 1024 + len);
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + LWS_PRE + 1024 - 1;
	const char *type = pss->content_type ? pss->content_type : "application/json";
	char number[16];
	int bad = 0;

	if (pss->status < METRICS_STATUS_MAX)
		web->responses[pss->status]++;
	bad |= lws_add_http_common_headers(wsi, pss->status, type, pss->status == 304 ? LWS_ILLEGAL_HTTP_CONTENT_LEN :
	                                   len, &p, end);
	bad |= lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, &p, end);
	for (size_t i = 0; i < G_N_ELEMENTS(security_headers); i++)
		bad |= add_header(wsi, security_headers[i].name, security_headers[i].value, &p, end);
	/* The page's files are revalidated by their ETag; nothing else is kept by a cache. */
	bad |= add_header(wsi, "cache-control:", pss->cacheable ? "no-cache" : "no-store", &p, end);
	if (pss->etag)
		bad |= add_header(wsi, "etag:", pss->etag, &p, end);
	if (pss->cacheable)
		bad |= add_header(wsi, "vary:", "Accept-Encoding", &p, end);
	if (pss->gzip)
		bad |= add_header(wsi, "content-encoding:", "gzip", &p, end);
	if (pss->set_cookie)
		bad |= add_header(wsi, "set-cookie:", pss->set_cookie, &p, end);
	if (pss->retry_after) {
		g_snprintf(number, sizeof(number), "%u", pss->retry_after);
		bad |= add_header(wsi, "retry-after:", number, &p, end);
	}
	bad |= lws_finalize_http_header(wsi, &p, end);
	if (bad)
		return -1;
	if (pss->status != 304 && len) {
		memcpy(p, pss->static_body ? (const void *)pss->static_body : pss->response, len);
		p += len;
	}
	answer_clear(pss);
	pss->status = 0;
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
	uint64_t length = 0;

	*ret_body = false;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		web_reply_error(pss, 411, "send the body with a Content-Length");
	} else if (n <= 0) {
		return true;
	} else if (n >= (int)sizeof(value)) {
		web_reply_error(pss, 400, "Content-Length is not a number (too long)");
	} else if (lws_hdr_copy(wsi, value, sizeof(value), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
	           !route_number(value, 0, UINT64_MAX, &length)) {
		g_autofree char *shown = g_strescape(value, NULL);
		g_autofree char *message = g_strdup_printf("Content-Length \"%s\" (%d bytes) is not a number", shown, n);

		web_reply_error(pss, 400, message);
	} else if (length > BODY_MAX) {
		web_reply_error(pss, 413, "the body is too large");
	} else {
		*ret_body = length > 0 || pss->post;
		return true;
	}
	return false;
}

/* The query string's arguments, each "name=value" as lws decoded it. An empty one ("a=1&&b=2", "?&a=1", a trailing
 * "&") is skipped, not taken for the end: lws_hdr_fragment_length() says 0 for an empty fragment and for none, so
 * only lws_hdr_copy_fragment() (-1 for none) tells them apart. lws also puts "/" in an empty last fragment (it
 * makes every URI start with one), so a lone "/" is an empty argument too. */
static void parse_query(struct lws *wsi, struct pss *pss)
{
	char arg[128];
	const char *why = NULL;

	route_query_init(&pss->query);
	for (int i = 0; i < 16; i++) {
		int n;

		if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) >= (int)sizeof(arg)) {
			web_reply_error(pss, 400, "a query argument is too long");
			return;
		}
		n = lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			return;
		if (n == 0 || strcmp(arg, "/") == 0)
			continue;
		if (!route_query_arg(&pss->query, arg, &why)) {
			web_reply_error(pss, 400, why);
			return;
		}
	}
	web_reply_error(pss, 400, "too many query arguments");
}

/* The method and the path, before routing. lws has decoded %XX escapes in the path. */
static void check_request(struct lws *wsi, struct pss *pss, const char *uri, size_t uri_len)
{
	if (!pss->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		web_reply_error(pss, 405, "only GET and POST");
	} else if (uri_len >= sizeof(pss->path) || strlen(uri) != uri_len) {
		web_reply_error(pss, 404, "no such resource");
	} else if (!g_utf8_validate(uri, (gssize)uri_len, NULL)) {
		web_reply_error(pss, 400, "the path is not UTF-8");
	} else {
		g_strlcpy(pss->path, uri, sizeof(pss->path));
		route_parse(pss->path, pss->post, &pss->route);
		parse_query(wsi, pss);
	}
}

static int on_http(struct web *web, struct lws *wsi, struct pss *pss, const char *uri, size_t uri_len)
{
	bool has_body;

	answer_clear(pss);
	pss->wsi = wsi;
	pss->status = 0;
	pss->lan = lws_get_vhost(wsi) == web->lan_vhost;
	pss->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	pss->started = g_get_monotonic_time();
	pss->path[0] = '\0';
	lws_get_peer_simple(wsi, pss->peer, sizeof(pss->peer));
	if (!check_length(wsi, pss, &has_body))
		return send_answer(wsi, pss);
	check_request(wsi, pss, uri, uri_len);
	if (!answered(pss))
		web_auth_check(web, wsi, pss);
	if (has_body) {
		if (!answered(pss))
			pss->body = g_string_new(NULL);
		return 0; /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION; an unwanted body is read and dropped */
	}
	route_request(web, wsi, pss);
	return send_answer(wsi, pss);
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
	answer_clear(pss);
	if (late)
		web_reply_error(pss, 408, "the body did not arrive in time");
	else
		web_reply_error(pss, 413, "the body is too large"); /* more than Content-Length said: lws does not let it */
	return send_answer(wsi, pss);
}

static void pss_close(struct web *web, struct pss *pss)
{
	web_auth_forget(pss);
	web_live_close(web, pss);
	answer_clear(pss);
}

/* A client opens connections as fast as it likes: the refusals are logged a few times a minute, the rest counted
 * (STYLE.md: repeating warnings are rate-limited; the limiter is this line's own, as systemd's log_ratelimit_*()
 * keep one per call site). */
static void log_refused_connection(const struct web *web)
{
	static struct ratelimit limit = RATELIMIT_INIT(60 * G_USEC_PER_SEC, 10);
	unsigned held = 0;

	if (!ratelimit_below(&limit, g_get_monotonic_time(), &held))
		return;
	if (held)
		g_warning("web: %u more connections were refused meanwhile, not logged", held);
	g_warning("web: %d connections open: refusing another", web->connections);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct web *web = lws_context_user(lws_get_context(wsi));

	switch ((int)reason) { /* lws's enum: the reasons not listed go to its default handler */
	case LWS_CALLBACK_WSI_CREATE:
		web->connections++;
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		web->connections--;
		return 0;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		if (web->connections < CONNECTIONS_MAX)
			return 0;
		log_refused_connection(web);
		return 1;
	case LWS_CALLBACK_HTTP:
		return on_http(web, wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		route_request(web, wsi, pss);
		return send_answer(wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return answered(pss) ? send_body(web, wsi, pss) : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* A connection that died before its request was parsed has no session data: user is NULL. */
		if (pss)
			pss_close(web, pss);
		return 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return lws_get_vhost(wsi) == web->lan_vhost && !web_auth_websocket(web, wsi, pss);
	case LWS_CALLBACK_ESTABLISHED:
		pss->wsi = wsi;
		web_live_open(web, pss);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return web_live_writeable(web, pss);
	case LWS_CALLBACK_RECEIVE:
		return web_live_receive(web, pss);
	case LWS_CALLBACK_CLOSED:
		web_live_close(web, pss);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* One protocol for HTTP and the WebSocket: a browser's `new WebSocket(url)` names none, and lws then takes the
 * vhost's first. */
static const struct lws_protocols protocols[] = {
	{ "bandgate", callback, sizeof(struct pss), 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* A WebSocket peer that stays silent is pinged after 30 s and dropped 10 s after that. */
static const lws_retry_bo_t idle_policy = { .secs_since_valid_ping = 30, .secs_since_valid_hangup = 40 };

static void lws_log(int level, const char *line)
{
	if (level & LLL_ERR)
		g_warning("web: %.*s", (int)strcspn(line, "\n"), line);
	else
		g_debug("web: %.*s", (int)strcspn(line, "\n"), line);
}

static bool serve_unix(struct web *web, GError **error)
{
	struct lws_context_creation_info info = { 0 };
	const char *path = web->options.socket_path;
	g_autofree char *dir = g_path_get_dirname(path);

	if (g_mkdir_with_parents(dir, 0755) < 0 || (unlink(path) < 0 && errno != ENOENT)) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", path, g_strerror(errno));
		return false;
	}
	info.options = LWS_SERVER_OPTION_UNIX_SOCK;
	info.vhost_name = "unix";
	info.iface = path;
	info.protocols = protocols;
	info.retry_and_idle_policy = &idle_policy;
	info.timeout_secs = BODY_SECONDS;
	web->unix_vhost = lws_create_vhost(web->context, &info);
	if (!web->unix_vhost || chmod(path, 0660) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot serve the API on %s", path);
		return false;
	}
	return true;
}

/* [web] listen: "HOST:PORT" or "[V6]:PORT"; 0.0.0.0 and [::] are every address. */
static bool serve_lan(struct web *web, GError **error)
{
	struct lws_context_creation_info info = { 0 };
	const char *listen = web->options.listen;
	const char *colon = strrchr(listen, ':');
	g_autofree char *host = g_strndup(listen, (gsize)(colon - listen));

	if (host[0] == '[') { /* lws takes a v6 address bare */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	info.vhost_name = "lan";
	info.port = atoi(colon + 1);
	info.iface = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ? NULL : host;
	if (strcmp(host, "0.0.0.0") == 0)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = protocols;
	info.retry_and_idle_policy = &idle_policy;
	info.timeout_secs = BODY_SECONDS;
	if (web->tls) {
		/* lws reads this option from each vhost's info too: without it, the vhost ignores its certificate and
		 * speaks plain HTTP. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = web->options.tls_cert;
		info.ssl_private_key_filepath = web->options.tls_key;
		info.alpn = "http/1.1"; /* one request per connection (above): no HTTP/2 */
	}
	web->lan_vhost = lws_create_vhost(web->context, &info);
	if (!web->lan_vhost) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot serve the dashboard on %s%s", listen,
		            web->tls ? " (check [web] tls_cert and tls_key)" : " (is the port in use?)");
		return false;
	}
	return true;
}

struct web *web_new(const struct web_options *options, struct manager *mgr, struct db *db, GMainLoop *loop,
                    GError **error)
{
	struct web *web = g_new0(struct web, 1);
	struct lws_context_creation_info info = { 0 };
	void *foreign_loops[1] = { loop };

	web->mgr = mgr;
	web->db = db;
	web->options = *options;
	web->options.socket_path = g_strdup(options->socket_path);
	web->options.listen = options->listen && *options->listen ? g_strdup(options->listen) : NULL;
	web->options.tls_cert = g_strdup(options->tls_cert);
	web->options.tls_key = g_strdup(options->tls_key);
	web->tls = options->tls_cert && *options->tls_cert;
	web->sessions = sessions_new((int64_t)options->session_timeout * G_USEC_PER_SEC);
	web->login_limit = login_limit_new();
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	info.options = LWS_SERVER_OPTION_GLIB | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (web->tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = foreign_loops;
	info.user = web;
	info.pt_serv_buf_size = 32 * 1024; /* the page's largest file goes out in one write, not in 4 KiB rounds */
	web->context = lws_create_context(&info);
	if (!web->context) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "libwebsockets did not start");
		web_free(web);
		return NULL;
	}
	if (!serve_unix(web, error) || (web->options.listen && !serve_lan(web, error))) {
		web_free(web);
		return NULL;
	}
	web_live_start(web);
	return web;
}

void web_set_password_hash(struct web *web, const char *hash)
{
	if (web->password_hash && g_strcmp0(web->password_hash, hash) != 0) {
		unsigned sessions = sessions_count(web->sessions);
		unsigned feeds = web_live_end(web, NULL); /* the LAN's feeds were let in by the sessions that end */

		if (sessions || feeds)
			g_message("web: the password changed: every session ends (%u sessions, %u live feeds)", sessions,
			          feeds);
		sessions_clear(web->sessions);
	}
	g_free(web->password_hash);
	web->password_hash = g_strdup(hash);
}

void web_free(struct web *web)
{
	if (!web)
		return;
	web_live_stop(web);
	if (web->context)
		lws_context_destroy(web->context);
	if (web->unix_vhost)
		unlink(web->options.socket_path);
	web_auth_free(web);
	sessions_free(web->sessions);
	login_limit_free(web->login_limit);
	g_free((char *)web->options.socket_path);
	g_free((char *)web->options.listen);
	g_free((char *)web->options.tls_cert);
	g_free((char *)web->options.tls_key);
	g_free(web->password_hash);
	g_free(web);
}
