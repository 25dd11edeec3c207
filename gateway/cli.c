/* The command-line client: the daemon owns discovery and the bands, so the CLI asks it over the API's Unix
 * socket (web/api.h), with HTTP/1.1 and JSON like the dashboard. */
#define G_LOG_DOMAIN "bandgate-cli" /* G_MESSAGES_DEBUG=bandgate-cli turns on its debug lines alone */
#include <cjson/cJSON.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "action.h"
#include "address.h"
#include "cli.h"

#define PAIR_TIMEOUT_S 180
/* Each request, from connect to the last byte of the answer: the daemon answers from memory in microseconds. */
#define REQUEST_TIMEOUT_S 10
#define RESPONSE_MAX (1 << 20)
#define POLL_MS 500
#define SCAN_WAIT_MS 6000

struct response {
	unsigned status;
	cJSON *json; /* NULL when the body is not JSON */
};

static void response_clear(struct response *r)
{
	cJSON_Delete(r->json);
	r->json = NULL;
}

/* Headers end at the blank line; the body is Content-Length bytes (lws always sends it here). */
static bool parse_response(const char *text, size_t len, struct response *ret)
{
	const char *body = g_strstr_len(text, (gssize)len, "\r\n\r\n");

	if (!body || sscanf(text, "HTTP/1.%*d %u", &ret->status) != 1)
		return false;
	body += 4;
	ret->json = cJSON_ParseWithLength(body, len - (size_t)(body - text));
	return true;
}

/* Reads the answer to its end (the request says "Connection: close") before the deadline, also from a daemon
 * that accepts and never answers, or trickles its answer. */
static bool read_all(GSocket *socket, GByteArray *ret, int64_t deadline, GError **error)
{
	uint8_t buf[4096];
	gssize n;
	int64_t left;

	while ((left = deadline - g_get_monotonic_time()) > 0) {
		if (!g_socket_condition_timed_wait(socket, G_IO_IN, left, NULL, error))
			return false;
		n = g_socket_receive(socket, (char *)buf, sizeof(buf), NULL, error);
		if (n <= 0)
			return n == 0;
		if (ret->len + (size_t)n > RESPONSE_MAX) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "the daemon's answer is too large");
			return false;
		}
		g_byte_array_append(ret, buf, (guint)n);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");
	return false;
}

static bool request(const char *socket_path, const char *method, const char *path, const char *body,
                    struct response *ret, GError **error)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);
	g_autoptr(GSocketConnection) c = NULL;
	g_autofree char *req = NULL;
	g_autoptr(GByteArray) in = g_byte_array_new();
	int64_t deadline = g_get_monotonic_time() + REQUEST_TIMEOUT_S * G_USEC_PER_SEC;

	/* Connecting and writing give up after this (a daemon stuck with a full backlog); reading, at the deadline. */
	g_socket_client_set_timeout(client, REQUEST_TIMEOUT_S);
	c = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, error);
	if (!c)
		return false;
	req = g_strdup_printf("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
	                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                      method, path, body ? strlen(body) : 0, body ? body : "");
	if (!g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(c)), req, strlen(req), NULL, NULL,
	                               error) ||
	    !read_all(g_socket_connection_get_socket(c), in, deadline, error))
		return false;
	g_byte_array_append(in, (const uint8_t *)"", 1);
	if (!parse_response((const char *)in->data, in->len - 1, ret)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the daemon's answer was not HTTP");
		return false;
	}
	return true;
}

/* A request whose failure the user reads: no daemon, or the daemon's own error message. */
static bool call(const char *socket_path, const char *method, const char *path, const char *body,
                 struct response *ret)
{
	g_autoptr(GError) error = NULL;
	const cJSON *message;

	memset(ret, 0, sizeof(*ret));
	if (!request(socket_path, method, path, body, ret, &error)) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
		    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
			fprintf(stderr, "bandgate: the daemon is not running (no API socket at %s)\n", socket_path);
		else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
			fprintf(stderr, "bandgate: the daemon did not answer within %d s (API socket %s)\n",
			        REQUEST_TIMEOUT_S, socket_path);
		else
			fprintf(stderr, "bandgate: %s: %s\n", socket_path, error->message);
		return false;
	}
	if (ret->status >= 300 && ret->status != 202) {
		message = cJSON_GetObjectItemCaseSensitive(ret->json, "error");
		fprintf(stderr, "bandgate: %s\n", cJSON_IsString(message) ? message->valuestring : "request failed");
		response_clear(ret);
		return false;
	}
	if (!ret->json) {
		fprintf(stderr, "bandgate: %s: the daemon's answer was not JSON\n", socket_path);
		return false;
	}
	return true;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_band(const cJSON *b)
{
	const cJSON *battery = cJSON_GetObjectItemCaseSensitive(b, "battery");
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(b, "steps");

	printf("%s  %-14s", str(b, "address"), str(b, "state"));
	if (cJSON_IsNumber(battery))
		printf("  battery %d%%", battery->valueint);
	if (cJSON_IsNumber(steps))
		printf("  steps %.0f", steps->valuedouble);
	printf("\n    %s\n", str(b, "description"));
	if (strcmp(str(b, "sync"), "retrying") == 0)
		puts("    History: a round broke; retrying from where it stopped");
	else if (*str(b, "sync_error"))
		printf("    History sync failed: %s\n", str(b, "sync_error"));
}

static int status(const char *socket_path, bool json)
{
	struct response r;
	const cJSON *b;
	g_autofree char *text = NULL;

	if (!call(socket_path, "GET", "/api/v1/bands", NULL, &r))
		return EXITCODE_RUNTIME;
	if (json) {
		text = cJSON_Print(r.json);
		puts(text);
	} else if (cJSON_GetArraySize(r.json) == 0) {
		puts("No band is managed yet: `bandgate scan`, then `bandgate pair ADDRESS`.");
	} else {
		cJSON_ArrayForEach(b, r.json)
			print_band(b);
	}
	response_clear(&r);
	return EXITCODE_OK;
}

static int scan(const char *socket_path)
{
	struct response r;
	const cJSON *b;

	if (!call(socket_path, "POST", "/api/v1/scan", NULL, &r))
		return EXITCODE_RUNTIME;
	response_clear(&r);
	fprintf(stderr, "Scanning for %d s...\n", SCAN_WAIT_MS / 1000);
	g_usleep(SCAN_WAIT_MS * 1000);
	if (!call(socket_path, "GET", "/api/v1/scan", NULL, &r))
		return EXITCODE_RUNTIME;
	if (cJSON_GetArraySize(r.json) == 0)
		puts("No Mi Band 2 nearby. Is it charged and close to the adapter?");
	cJSON_ArrayForEach(b, r.json) {
		const cJSON *rssi = cJSON_GetObjectItemCaseSensitive(b, "rssi");
		char level[8] = "-";

		if (cJSON_IsNumber(rssi))
			g_snprintf(level, sizeof(level), "%d", rssi->valueint);
		printf("%s  rssi %4s  %s\n", str(b, "address"), level,
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "managed")) ? "managed" : "not managed");
	}
	response_clear(&r);
	return EXITCODE_OK;
}

static char *band_path(const char *address, const char *suffix)
{
	g_autofree char *id = g_ascii_strdown(address, -1);
	GString *s = g_string_new("/api/v1/bands/");

	for (const char *p = id; *p; p++)
		if (*p != ':')
			g_string_append_c(s, *p);
	g_string_append(s, suffix);
	return g_string_free(s, FALSE);
}

/* Adds the band and follows it until it is ready, telling the wearer when to tap. */
static int pair(const char *socket_path, const char *address)
{
	g_autofree char *body = g_strdup_printf("{\"address\":\"%s\"}", address);
	g_autofree char *path = band_path(address, "");
	g_autofree char *last = NULL;
	struct response r;
	int64_t deadline = g_get_monotonic_time() + PAIR_TIMEOUT_S * G_USEC_PER_SEC;

	if (!call(socket_path, "POST", "/api/v1/bands", body, &r))
		return EXITCODE_RUNTIME;
	response_clear(&r);
	while (g_get_monotonic_time() < deadline) {
		if (!call(socket_path, "GET", path, NULL, &r))
			return EXITCODE_RUNTIME;
		if (g_strcmp0(last, str(r.json, "state")) != 0) {
			g_free(last);
			last = g_strdup(str(r.json, "state"));
			printf("%s: %s\n", last, str(r.json, "description"));
			fflush(stdout);
		}
		response_clear(&r);
		if (strcmp(last, "ready") == 0)
			return EXITCODE_OK;
		if (strcmp(last, "auth-rejected") == 0) {
			fprintf(stderr, "bandgate: run `bandgate repair %s` and tap the band when it asks\n", address);
			return EXITCODE_RUNTIME;
		}
		g_usleep(POLL_MS * 1000);
	}
	fprintf(stderr, "bandgate: the band was not ready within %d s\n", PAIR_TIMEOUT_S);
	return EXITCODE_RUNTIME;
}

static int action(const char *socket_path, const char *verb, const char *address, bool confirm)
{
	g_autofree char *suffix = g_strdup_printf("/actions/%s", verb);
	g_autofree char *path = band_path(address, suffix);
	struct response r;

	if (!call(socket_path, "POST", path, confirm ? "{\"confirm\":true}" : NULL, &r))
		return EXITCODE_RUNTIME;
	if (cJSON_IsObject(r.json) && cJSON_GetObjectItemCaseSensitive(r.json, "state"))
		print_band(r.json);
	else if (cJSON_IsObject(r.json))
		printf("%s\n", str(r.json, "error"));
	response_clear(&r);
	return EXITCODE_OK;
}

/* Queues an alert (notify with its text, vibrate, find); the daemon answers with its row. */
static int notify(const char *socket_path, const char *address, const struct action *a, const char *text,
                  const char *category)
{
	g_autofree char *suffix = g_strdup_printf("/actions/%s", a->name);
	g_autofree char *path = band_path(address, suffix);
	cJSON *body = cJSON_CreateObject();
	g_autofree char *json = NULL;
	struct response r;
	bool ok;

	if (text)
		cJSON_AddStringToObject(body, "text", text);
	if (category)
		cJSON_AddStringToObject(body, "category", category);
	json = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	ok = call(socket_path, "POST", path, json, &r);
	if (ok)
		printf("queued as notification %.0f; it is sent when the band is ready\n",
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r.json, "id")));
	response_clear(&r);
	return ok ? EXITCODE_OK : EXITCODE_RUNTIME;
}

/* The client's own words, and every action of action.h by its name. */
bool cli_is_command(const char *word)
{
	static const char *const words[] = { "status", "scan", "pair", "export", "passwd" };

	for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
		if (strcmp(word, words[i]) == 0)
			return true;
	return action_find(word, false) != NULL;
}

int cli_run(const char *socket_path, const char *command, const char *arg, bool json, bool confirm,
            const char *text, const char *category)
{
	char parsed[ADDRESS_SIZE];
	const struct action *a;

	if (strcmp(command, "status") == 0)
		return status(socket_path, json);
	if (strcmp(command, "scan") == 0)
		return scan(socket_path);
	if (!arg) {
		fprintf(stderr, "bandgate %s: which band? Give its address, e.g. C8:0F:10:11:22:33\n", command);
		return EXITCODE_USAGE;
	}
	/* Anything else would reach the request line or the JSON unescaped. */
	if (!address_parse(arg, strlen(arg), parsed)) {
		fprintf(stderr, "bandgate %s: '%s' is not a band address, e.g. C8:0F:10:11:22:33\n", command, arg);
		return EXITCODE_USAGE;
	}
	if (strcmp(command, "pair") == 0)
		return pair(socket_path, arg);
	a = action_find(command, false);
	if (a && (a->flags & ACTION_FLAG_TEXT) && !text) {
		fprintf(stderr, "bandgate %s: what should the band show? bandgate %s ADDRESS TEXT\n", a->name, a->name);
		return EXITCODE_USAGE;
	}
	if (a && (a->flags & ACTION_FLAG_ALERT))
		return notify(socket_path, arg, a, text, category);
	if (a && (a->flags & ACTION_FLAG_CONFIRM) && !confirm) {
		fprintf(stderr, "bandgate %s: it cannot be undone (it will %s); add --yes to do it\n", a->name, a->summary);
		return EXITCODE_USAGE;
	}
	return action(socket_path, command, arg, confirm);
}
