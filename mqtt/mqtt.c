#include "mqtt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <glib-unix.h>
#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "band.h"
#include "bandgate-version.h"
#include "config.h"
#include "db.h"
#include "ha.h"
#include "hub.h"
#include "manager.h"

#define KEEPALIVE_S 30
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define WINDOW 100                /* outbox messages published and not yet acknowledged */
#define OUTBOX_LIMIT 50000        /* rows; past it the oldest go (states are coalesced long before) */
#define STATE_DELAY_MS 1000       /* live values coalesce for this long before a state message */
#define HEALTH_INTERVAL_S 60
#define PAYLOAD_MAX 4096          /* a command larger than this is refused unread */
#define SCAN_SECONDS 10
#define REFUSAL_LOGS_PER_MIN 10   /* malformed commands logged, the rest counted */

struct mqtt {
	struct manager *mgr;
	struct db *db;
	const struct mqtt_ops *ops;
	void *user_data;
	struct mosquitto *mosq;
	char *base, *prefix, *gateway_id, *host, *url, *db_path;
	char *client_id, *username, *password, *cafile; /* for the fresh client of every connection attempt */
	bool tls;
	enum ha_mode mode;
	unsigned port;

	bool session;              /* a client is connecting or connected; its socket may be watched */
	GCancellable *resolving;   /* the broker's name being looked up, off the loop */
	unsigned failed_attempts;  /* attempts that never connected: which of the name's addresses the next takes */
	bool connected, stopping;
	int io_fd;
	int64_t connected_us;      /* monotonic, when the session came up */
	char *last_failure;        /* the last reason the broker could not be reached, logged once per change */
	guint io_watch, misc_timer, connect_timer, state_timer, birth_timer, health_timer, scan_timer, restart_timer;
	GIOCondition io_cond;
	unsigned backoff_ms, connects, reconnects;

	GHashTable *inflight;      /* mid -> outbox row id (both as GINT_TO_POINTER / int64 boxed) */
	GArray *acked;             /* outbox row ids the broker acknowledged, deleted together by acked_idle */
	guint acked_idle;
	int64_t last_sent;         /* the highest outbox id published in this session */
	GArray *batch;             /* struct db_outbox_msg enqueued while batch_depth > 0, stored in one commit */
	unsigned batch_depth;
	int64_t full_since_us;     /* when the outbox last said it was full; the drops are counted, logged a minute */
	int64_t full_dropped;
	int offline_mid;           /* the last word at shutdown, and whether the broker took it */
	bool offline_acked;
	GHashTable *dirty;         /* band addresses whose state waits for state_timer */
	unsigned hub_id;
	int64_t started_us;
	int64_t refusals_window_us;
	unsigned refusals_logged, refusals_quiet;
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(cJSON, cJSON_Delete)

static void connection_lost(struct mqtt *m, const char *why);
static void schedule_connect(struct mqtt *m);
static bool new_client(struct mqtt *m);
static void update_watch(struct mqtt *m);

/* ---- topics and payloads ---- */

static char *topic(const struct mqtt *m, const char *id, const char *leaf)
{
	return g_strdup_printf("%s/%s/%s", m->base, id, leaf);
}

static char *iso_time(int64_t utc)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(utc);

	return t ? g_date_time_format_iso8601(t) : NULL;
}

static char *iso_now(void)
{
	g_autoptr(GDateTime) t = g_date_time_new_now_local();

	return g_date_time_format_iso8601(t);
}

static void add_int_or_null(cJSON *o, const char *name, long value)
{
	if (value >= 0)
		cJSON_AddNumberToObject(o, name, (double)value);
	else
		cJSON_AddNullToObject(o, name);
}

static char *state_json(const struct manager_snapshot *s)
{
	g_autoptr(cJSON) o = NULL;
	g_autofree char *last_sync = s->last_sync ? iso_time(s->last_sync) : NULL;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", s->state);
	cJSON_AddBoolToObject(o, "connected", s->connected);
	add_int_or_null(o, "steps", s->steps); /* unknown is null (HA: unknown), never 0: 0 would be a meter reset */
	add_int_or_null(o, "distance", s->meters);
	add_int_or_null(o, "calories", s->calories);
	add_int_or_null(o, "battery", s->battery);
	cJSON_AddBoolToObject(o, "charging", s->charging);
	add_int_or_null(o, "heart_rate", s->heart_rate > 0 ? s->heart_rate : -1);
	if (last_sync)
		cJSON_AddStringToObject(o, "last_sync", last_sync);
	else
		cJSON_AddNullToObject(o, "last_sync");
	if (s->firmware && *s->firmware)
		cJSON_AddStringToObject(o, "firmware", s->firmware);
	else
		cJSON_AddNullToObject(o, "firmware");
	if (s->has_rssi)
		cJSON_AddNumberToObject(o, "rssi", s->rssi);
	else
		cJSON_AddNullToObject(o, "rssi");
	return cJSON_PrintUnformatted(o);
}

/* ---- the outbox ---- */

static void publish_row(struct mqtt *m, const struct db_outbox_msg *row)
{
	int mid = 0;
	int rc = mosquitto_publish(m->mosq, &mid, row->topic, (int)row->len, row->payload, row->qos, row->retain);

	if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_MALFORMED_UTF8 ||
	    rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_QOS_NOT_SUPPORTED) {
		/* This row can never go: dropped, or it would block every row behind it for ever. */
		g_warning("mqtt: a message for %s cannot be published (%s); dropped", row->topic, mosquitto_strerror(rc));
		m->last_sent = row->id;
		db_outbox_delete(m->db, row->id, NULL);
		return;
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		connection_lost(m, mosquitto_strerror(rc));
		return;
	}
	m->last_sent = row->id;
	if (row->qos == 0) {
		db_outbox_delete(m->db, row->id, NULL);
		return;
	}
	g_hash_table_insert(m->inflight, GINT_TO_POINTER(mid), g_memdup2(&row->id, sizeof(row->id)));
}

/* Publishes outbox rows in id order while the window has room. */
static void pump(struct mqtt *m)
{
	while (m->connected && !m->stopping && g_hash_table_size(m->inflight) < WINDOW) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GPtrArray) rows = db_outbox_next(m->db, m->last_sent, WINDOW - g_hash_table_size(m->inflight),
		                                           &error);

		if (!rows) {
			g_warning("mqtt: the outbox cannot be read: %s", error->message);
			break;
		}
		if (!rows->len)
			break;
		for (guint i = 0; i < rows->len && m->connected; i++)
			publish_row(m, rows->pdata[i]);
	}
	update_watch(m);
}

/* dropped: events the bound just took; 0 from the health timer, to report what a quiet minute kept back. */
static void outbox_full(struct mqtt *m, int64_t dropped)
{
	int64_t now = g_get_monotonic_time();

	m->full_dropped += dropped;
	if (!m->full_dropped || (m->full_since_us && now - m->full_since_us < 60 * G_USEC_PER_SEC))
		return;
	g_warning("mqtt: the outbox is full (%d messages); dropped the %" G_GINT64_FORMAT " oldest events", OUTBOX_LIMIT,
	          m->full_dropped);
	m->full_since_us = now;
	m->full_dropped = 0;
}

/* Stored first (n messages, one commit), then published when the broker is there. */
static void store(struct mqtt *m, const struct db_outbox_msg *msgs, size_t n)
{
	g_autoptr(GError) error = NULL;
	int64_t dropped = 0;

	if (!n)
		return;
	if (!db_outbox_add_many(m->db, msgs, n, OUTBOX_LIMIT, NULL, &dropped, &error)) {
		g_warning("mqtt: %zu messages not stored in the outbox (%s): %s", n, msgs[0].topic, error->message);
		for (size_t i = 0; i < n && m->connected; i++)
			mosquitto_publish(m->mosq, NULL, msgs[i].topic, (int)msgs[i].len, msgs[i].payload, 1, msgs[i].retain);
		return;
	}
	if (dropped)
		outbox_full(m, dropped);
	pump(m);
}

static void batch_msg_clear(gpointer p)
{
	struct db_outbox_msg *msg = p;

	g_free(msg->topic);
	g_free(msg->payload);
}

/* What is enqueued between the two is stored in one transaction: a discovery round, a burst of states. */
static void batch_begin(struct mqtt *m)
{
	m->batch_depth++;
}

static void batch_end(struct mqtt *m)
{
	if (--m->batch_depth)
		return;
	store(m, (const struct db_outbox_msg *)(void *)m->batch->data, m->batch->len);
	g_array_set_size(m->batch, 0);
}

/* coalesce: a state that replaces its older self. */
static void enqueue(struct mqtt *m, const char *t, const char *payload, bool retain, bool coalesce)
{
	struct db_outbox_msg msg = { .topic = (char *)t, .payload = (char *)payload, .len = strlen(payload), .qos = 1,
	                             .retain = retain, .coalesce = coalesce,
	                             .created = g_get_real_time() / G_USEC_PER_SEC };

	if (!m->batch_depth) {
		store(m, &msg, 1);
		return;
	}
	msg.topic = g_strdup(t);
	msg.payload = g_strdup(payload);
	g_array_append_val(m->batch, msg);
}

/* Straight to the broker when connected, else nowhere: what is rebuilt on every connect anyway. */
static void publish_now(struct mqtt *m, const char *t, const char *payload, bool retain)
{
	if (m->connected)
		mosquitto_publish(m->mosq, NULL, t, (int)strlen(payload), payload, 1, retain);
}

/* ---- what is published ---- */

static void publish_state(struct mqtt *m, struct band *band)
{
	struct manager_snapshot s;
	g_autofree char *state = NULL, *t_state = NULL, *t_avail = NULL;

	manager_snapshot(m->mgr, band, &s);
	state = state_json(&s);
	t_state = topic(m, s.id, "state");
	t_avail = topic(m, s.id, "availability");
	enqueue(m, t_avail, s.connected ? "online" : "offline", true, true);
	enqueue(m, t_state, state, true, true);
}

static void publish_band_list(struct mqtt *m)
{
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	g_autoptr(cJSON) list = cJSON_CreateArray();
	g_autofree char *payload = NULL, *t = topic(m, m->gateway_id, "bands");

	for (guint i = 0; i < bands->len; i++) {
		struct manager_snapshot s;
		cJSON *o = cJSON_CreateObject();

		manager_snapshot(m->mgr, bands->pdata[i], &s);
		cJSON_AddStringToObject(o, "id", s.id);
		cJSON_AddStringToObject(o, "address", s.address);
		cJSON_AddStringToObject(o, "state", s.state);
		cJSON_AddBoolToObject(o, "connected", s.connected);
		cJSON_AddItemToArray(list, o);
	}
	payload = cJSON_PrintUnformatted(list);
	enqueue(m, t, payload, true, true);
}

static gboolean on_state_timer(gpointer user_data)
{
	struct mqtt *m = user_data;
	GHashTableIter it;
	gpointer address;

	m->state_timer = 0;
	batch_begin(m);
	g_hash_table_iter_init(&it, m->dirty);
	while (g_hash_table_iter_next(&it, &address, NULL)) {
		struct band *band = manager_band(m->mgr, address);

		if (band)
			publish_state(m, band);
	}
	g_hash_table_remove_all(m->dirty);
	publish_band_list(m);
	batch_end(m);
	return G_SOURCE_REMOVE;
}

static void flush_states(struct mqtt *m)
{
	if (m->state_timer) {
		g_clear_handle_id(&m->state_timer, g_source_remove);
		on_state_timer(m);
	}
}

static void ha_context(const struct mqtt *m, struct ha_context *ret)
{
	*ret = (struct ha_context){ .discovery_prefix = m->prefix, .base_topic = m->base, .gateway_id = m->gateway_id,
	                            .version = BANDGATE_VERSION, .configuration_url = m->url, .mode = m->mode };
}

static void emit_stored(const char *t, const char *payload, void *user_data)
{
	enqueue(user_data, t, payload, true, true);
}

static void band_discovery(struct mqtt *m, struct band *band)
{
	struct ha_context ctx;
	struct manager_snapshot s;

	ha_context(m, &ctx);
	manager_snapshot(m->mgr, band, &s);
	ha_band_config(&ctx, &(struct ha_band){ .address = s.address, .id = s.id, .firmware = s.firmware }, emit_stored,
	               m);
}

/* A forgotten band leaves Home Assistant: empty retained configs, state and availability. Configs, like
 * everything retained, go through the outbox coalesced by topic, so a band forgotten and added again while the
 * broker is away ends with its newest config, never with a stale empty one. */
static void band_removal(struct mqtt *m, const char *address)
{
	struct ha_context ctx;
	char id[13];
	g_autofree char *t_state = NULL, *t_avail = NULL;

	manager_band_id(address, id);
	ha_context(m, &ctx);
	ha_band_remove(&ctx, &(struct ha_band){ .address = address, .id = id, .firmware = NULL }, emit_stored, m);
	t_state = topic(m, id, "state");
	t_avail = topic(m, id, "availability");
	enqueue(m, t_state, "", true, true);
	enqueue(m, t_avail, "", true, true);
}

static void all_discovery_and_states(struct mqtt *m)
{
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	struct ha_context ctx;

	ha_context(m, &ctx);
	batch_begin(m);
	ha_gateway_config(&ctx, emit_stored, m);
	for (guint i = 0; i < bands->len; i++) {
		band_discovery(m, bands->pdata[i]);
		publish_state(m, bands->pdata[i]);
	}
	publish_band_list(m);
	batch_end(m);
}

static long rss_kb(void)
{
	g_autofree char *status = NULL;
	const char *line;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) || !(line = strstr(status, "VmRSS:")))
		return -1;
	return strtol(line + strlen("VmRSS:"), NULL, 10);
}

static char *health_json(struct mqtt *m)
{
	g_autoptr(cJSON) o = cJSON_CreateObject();
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	int64_t depth = -1;
	struct stat st;

	db_outbox_count(m->db, &depth, NULL);
	cJSON_AddNumberToObject(o, "uptime", (double)((g_get_monotonic_time() - m->started_us) / G_USEC_PER_SEC));
	cJSON_AddNumberToObject(o, "rss_kb", (double)rss_kb());
	cJSON_AddNumberToObject(o, "outbox", (double)depth);
	cJSON_AddNumberToObject(o, "reconnects", m->reconnects);
	cJSON_AddNumberToObject(o, "adapter_resets", manager_adapter_resets(m->mgr));
	cJSON_AddNumberToObject(o, "db_bytes", stat(m->db_path, &st) == 0 ? (double)st.st_size : -1);
	cJSON_AddNumberToObject(o, "bands", bands->len);
	return cJSON_PrintUnformatted(o);
}

static void publish_health(struct mqtt *m)
{
	g_autofree char *payload = health_json(m), *t = topic(m, m->gateway_id, "health");

	publish_now(m, t, payload, true);
}

static gboolean on_health_timer(gpointer user_data)
{
	publish_health(user_data);
	outbox_full(user_data, 0);
	return G_SOURCE_CONTINUE;
}

/* ---- the event flow ---- */

/* A message of the band's that is not a state: button presses, history notes, notification statuses. */
static void publish_event(struct mqtt *m, const char *address, const char *leaf, cJSON *o)
{
	char id[13];
	g_autofree char *payload = cJSON_PrintUnformatted(o), *t = NULL;

	manager_band_id(address, id);
	t = topic(m, id, leaf);
	enqueue(m, t, payload, false, false);
	cJSON_Delete(o);
}

static void on_button(struct mqtt *m, const struct hub_event *ev)
{
	g_autofree char *when = iso_now(); /* to the microsecond: two presses in one second stay two */
	cJSON *o = cJSON_CreateObject();

	flush_states(m); /* what came before the press is published before it */
	cJSON_AddStringToObject(o, "event_type", "press");
	cJSON_AddStringToObject(o, "time", when ? when : "");
	publish_event(m, ev->address, "event", o);
}

static void on_history(struct mqtt *m, const struct hub_event *ev)
{
	g_autofree char *first = iso_time(ev->first);
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "first", first ? first : "");
	cJSON_AddNumberToObject(o, "minutes", (double)ev->n);
	cJSON_AddNumberToObject(o, "steps", (double)ev->steps);
	publish_event(m, ev->address, "history", o);
}

static void on_notification(struct mqtt *m, const struct hub_event *ev)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)ev->id);
	cJSON_AddStringToObject(o, "status", ev->status ? ev->status : "");
	if (ev->source)
		cJSON_AddStringToObject(o, "source", ev->source);
	if (ev->error)
		cJSON_AddStringToObject(o, "error", ev->error);
	publish_event(m, ev->address, "notification", o);
}

static void on_band_added(struct mqtt *m, const char *address)
{
	struct band *band = manager_band(m->mgr, address);

	batch_begin(m);
	if (band)
		band_discovery(m, band);
	g_hash_table_add(m->dirty, g_strdup(address));
	g_clear_handle_id(&m->state_timer, g_source_remove); /* the new band's state now, with any pending */
	on_state_timer(m);
	batch_end(m);
}

static void on_hub(const struct hub_event *ev, void *user_data)
{
	struct mqtt *m = user_data;

	switch (ev->kind) {
	case HUB_BAND_ADDED:
		on_band_added(m, ev->address);
		return;
	case HUB_BAND_REMOVED:
		g_hash_table_remove(m->dirty, ev->address);
		batch_begin(m);
		band_removal(m, ev->address);
		publish_band_list(m);
		batch_end(m);
		return;
	case HUB_BAND_MOVED:
		g_hash_table_remove(m->dirty, ev->old_address);
		batch_begin(m);
		band_removal(m, ev->old_address);
		if (manager_band(m->mgr, ev->address))
			band_discovery(m, manager_band(m->mgr, ev->address));
		batch_end(m);
		break;
	case HUB_BAND_CHANGED:
		break;
	case HUB_BAND_BUTTON:
		on_button(m, ev);
		return;
	case HUB_BAND_HISTORY:
		on_history(m, ev);
		return;
	case HUB_NOTIFICATION:
		on_notification(m, ev);
		return;
	}
	g_hash_table_add(m->dirty, g_strdup(ev->address));
	if (!m->state_timer)
		m->state_timer = g_timeout_add(STATE_DELAY_MS, on_state_timer, m);
}

/* ---- commands ---- */

struct command {
	char verb[32];
	char id[64];               /* the band's id or the gateway's */
	cJSON *json;               /* the payload as JSON, or NULL for plain text */
	char *text;                /* the plain payload (NUL-terminated copy) */
	cJSON *request_id;         /* "id" from a JSON payload, echoed */
};

static void command_clear(struct command *c)
{
	cJSON_Delete(c->json);
	g_free(c->text);
}

/* Malformed commands are logged, at most REFUSAL_LOGS_PER_MIN a minute; a flood cannot flood the journal. */
static void log_refusal(struct mqtt *m, const char *t, const char *why)
{
	int64_t now = g_get_monotonic_time();

	if (now - m->refusals_window_us > 60 * G_USEC_PER_SEC) {
		if (m->refusals_quiet)
			g_message("mqtt: %u more commands were refused in the last minute", m->refusals_quiet);
		m->refusals_window_us = now;
		m->refusals_logged = m->refusals_quiet = 0;
	}
	if (m->refusals_logged++ < REFUSAL_LOGS_PER_MIN) {
		/* A hostile topic's control bytes stay out of the log, and so do those of a payload quoted in why. */
		g_autofree char *safe = g_strescape(t, NULL), *safe_why = g_strescape(why, NULL);

		g_message("mqtt: command on %s refused: %s", safe, safe_why);
	}
	else
		m->refusals_quiet++;
}

static void reply(struct mqtt *m, const char *t, const struct command *c, const char *error, cJSON *extra)
{
	g_autoptr(cJSON) o = extra ? extra : cJSON_CreateObject();
	g_autofree char *result_topic = NULL, *payload = NULL;

	cJSON_AddBoolToObject(o, "ok", error == NULL);
	if (error)
		cJSON_AddStringToObject(o, "error", error);
	else
		cJSON_AddNullToObject(o, "error");
	if (c && c->request_id)
		cJSON_AddItemToObject(o, "id", cJSON_Duplicate(c->request_id, true));
	result_topic = g_strconcat(t, "/result", NULL);
	payload = cJSON_PrintUnformatted(o);
	publish_now(m, result_topic, payload, false);
}

static const char *json_string(const struct command *c, const char *name)
{
	const cJSON *v = c->json ? cJSON_GetObjectItemCaseSensitive(c->json, name) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

enum topic_kind { TOPIC_OTHER, TOPIC_COMMAND, TOPIC_TOO_LONG };

/* <base>/<id>/cmd/<verb>, each level as expected. The subscription (<base>/+/cmd/+) lets nothing else in, so
 * TOPIC_OTHER is only a defence; an id or verb longer than any we have is answered, not dropped. */
static enum topic_kind parse_topic(const struct mqtt *m, const char *t, struct command *ret)
{
	size_t base_len = strlen(m->base);
	const char *rest, *cmd, *verb;

	if (strncmp(t, m->base, base_len) != 0 || t[base_len] != '/')
		return TOPIC_OTHER;
	rest = t + base_len + 1;
	cmd = strstr(rest, "/cmd/");
	if (!cmd || cmd == rest || memchr(rest, '/', (size_t)(cmd - rest)))
		return TOPIC_OTHER;
	verb = cmd + strlen("/cmd/");
	if (!*verb || strchr(verb, '/'))
		return TOPIC_OTHER;
	if ((size_t)(cmd - rest) >= sizeof(ret->id) || strlen(verb) >= sizeof(ret->verb))
		return TOPIC_TOO_LONG;
	memcpy(ret->id, rest, (size_t)(cmd - rest));
	ret->id[cmd - rest] = 0;
	g_strlcpy(ret->verb, verb, sizeof(ret->verb));
	return TOPIC_COMMAND;
}

/* The payload: a size limit, UTF-8 text, then JSON when it looks like an object. */
static const char *parse_payload(const struct mosquitto_message *msg, struct command *c)
{
	const char *end = NULL;

	if (msg->payloadlen <= 0)
		return "an empty payload is not a command (it is how a retained message is cleared)";
	if (msg->payloadlen > PAYLOAD_MAX)
		return "the payload is larger than 4096 bytes";
	if (msg->payloadlen && !g_utf8_validate(msg->payload, msg->payloadlen, &end))
		return "the payload is not UTF-8 text";
	if (msg->payloadlen && memchr(msg->payload, 0, (size_t)msg->payloadlen))
		return "the payload holds a NUL byte";
	c->text = msg->payloadlen > 0 ? g_strndup(msg->payload, (gsize)msg->payloadlen) : g_strdup("");
	if (c->text[0] != '{')
		return NULL;
	c->json = cJSON_Parse(c->text);
	if (!c->json)
		return "the payload starts like JSON but is not valid JSON";
	c->request_id = cJSON_GetObjectItemCaseSensitive(c->json, "id");
	if (c->request_id && !cJSON_IsString(c->request_id) && !cJSON_IsNumber(c->request_id))
		c->request_id = NULL;
	return NULL;
}

static struct band *band_by_id(struct mqtt *m, const char *id)
{
	g_autoptr(GPtrArray) bands = manager_bands(m->mgr);
	char bid[13];

	for (guint i = 0; i < bands->len; i++) {
		manager_band_id(band_address(bands->pdata[i]), bid);
		if (strcmp(bid, id) == 0)
			return bands->pdata[i];
	}
	return NULL;
}

static gboolean on_restart(gpointer user_data)
{
	struct mqtt *m = user_data;

	m->restart_timer = 0;
	if (m->ops && m->ops->restart)
		m->ops->restart(m->user_data);
	return G_SOURCE_REMOVE;
}

static gboolean on_scan_over(gpointer user_data)
{
	struct mqtt *m = user_data;
	g_autoptr(GArray) seen = manager_seen(m->mgr);
	g_autoptr(cJSON) list = cJSON_CreateArray();
	g_autofree char *payload = NULL, *t = topic(m, m->gateway_id, "scan");

	m->scan_timer = 0;
	for (guint i = 0; i < seen->len; i++) {
		const struct manager_seen *s = &g_array_index(seen, struct manager_seen, i);
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "address", s->address);
		if (s->has_rssi)
			cJSON_AddNumberToObject(o, "rssi", s->rssi);
		cJSON_AddBoolToObject(o, "managed", s->managed);
		cJSON_AddItemToArray(list, o);
	}
	payload = cJSON_PrintUnformatted(list);
	publish_now(m, t, payload, false);
	return G_SOURCE_REMOVE;
}

static void gateway_command(struct mqtt *m, const char *t, const struct command *c)
{
	if (strcmp(c->verb, "health") == 0) {
		g_autofree char *health = health_json(m);

		publish_health(m);
		reply(m, t, c, NULL, cJSON_Parse(health));
	} else if (strcmp(c->verb, "scan") == 0) {
		manager_scan(m->mgr, SCAN_SECONDS);
		if (!m->scan_timer)
			m->scan_timer = g_timeout_add_seconds(SCAN_SECONDS, on_scan_over, m);
		reply(m, t, c, NULL, NULL);
	} else if (strcmp(c->verb, "restart") == 0) {
		reply(m, t, c, NULL, NULL);
		if (!m->restart_timer)
			m->restart_timer = g_timeout_add(200, on_restart, m); /* the result goes out first */
	} else {
		log_refusal(m, t, "unknown gateway command");
		reply(m, t, c, "unknown command; the gateway takes restart, scan and health", NULL);
	}
}

/* notify, vibrate, find: stored as notifications and played in order. */
static bool alert_command(struct mqtt *m, struct band *band, const struct command *c, int64_t *ret_id,
                          GError **error)
{
	const char *kind = strcmp(c->verb, "notify") == 0 ? "text" : c->verb;
	const char *text = c->json ? json_string(c, "text") : c->text;
	const char *category = json_string(c, "category");

	if (strcmp(kind, "text") == 0 && c->json && !text) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "notify needs \"text\"");
		return false;
	}
	return manager_notify(m->mgr, band_address(band), "mqtt", kind, category, strcmp(kind, "text") == 0 ? text : NULL,
	                      ret_id, error);
}

static void band_command(struct mqtt *m, const char *t, struct band *band, const struct command *c)
{
	static const char *const alerts[] = { "notify", "vibrate", "find" };
	static const struct {
		const char *verb, *action;
	} actions[] = { { "sync", "sync" },       { "reconnect", "reconnect" },   { "reset", "reset" },
	                { "repair", "repair" },   { "reboot", "reboot" },         { "set_time", "set-time" },
	                { "heart_rate", "heart-rate" } };
	g_autoptr(GError) error = NULL;

	for (size_t i = 0; i < G_N_ELEMENTS(alerts); i++) {
		int64_t id = 0;
		cJSON *extra;

		if (strcmp(c->verb, alerts[i]) != 0)
			continue;
		if (!alert_command(m, band, c, &id, &error)) {
			log_refusal(m, t, error->message);
			reply(m, t, c, error->message, NULL);
			return;
		}
		extra = cJSON_CreateObject();
		cJSON_AddNumberToObject(extra, "notification", (double)id);
		reply(m, t, c, NULL, extra);
		return;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(actions); i++) {
		if (strcmp(c->verb, actions[i].verb) != 0)
			continue;
		if (!manager_command(m->mgr, actions[i].action, band_address(band), false, &error))
			reply(m, t, c, error->message, NULL);
		else
			reply(m, t, c, NULL, NULL);
		return;
	}
	log_refusal(m, t, "unknown band command");
	reply(m, t, c, "unknown command; a band takes notify, vibrate, find, sync, reconnect, reset, repair, reboot, "
	               "set_time and heart_rate", NULL);
}

static void on_command(struct mqtt *m, const struct mosquitto_message *msg)
{
	struct command c = { 0 };
	const char *why;
	struct band *band;

	switch (parse_topic(m, msg->topic, &c)) {
	case TOPIC_OTHER:
		return;
	case TOPIC_TOO_LONG:
		log_refusal(m, msg->topic, "no such band or command");
		reply(m, msg->topic, &c, "unknown command: no band or command has a name this long", NULL);
		return;
	case TOPIC_COMMAND:
		break;
	}
	if (msg->retain) {
		/* A retained command would run again at every connect: a restart loop from one mistaken -r. */
		why = "retained commands are not run; publish it without the retain flag";
		log_refusal(m, msg->topic, why);
		reply(m, msg->topic, &c, why, NULL);
	} else if ((why = parse_payload(msg, &c))) {
		log_refusal(m, msg->topic, why);
		reply(m, msg->topic, &c, why, NULL);
	} else if (strcmp(c.id, m->gateway_id) == 0) {
		gateway_command(m, msg->topic, &c);
	} else if ((band = band_by_id(m, c.id))) {
		band_command(m, msg->topic, band, &c);
	} else {
		log_refusal(m, msg->topic, "no such band");
		reply(m, msg->topic, &c, "no managed band has this id", NULL);
	}
	command_clear(&c);
}

/* ---- Home Assistant's birth message ---- */

static gboolean on_birth_timer(gpointer user_data)
{
	struct mqtt *m = user_data;

	m->birth_timer = 0;
	g_message("mqtt: Home Assistant is online; sending discovery and states");
	all_discovery_and_states(m);
	return G_SOURCE_REMOVE;
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct mqtt *m = obj;
	g_autofree char *status_topic = g_strconcat(m->prefix, "/status", NULL);

	(void)mosq;
	if (m->stopping)
		return;
	if (strcmp(msg->topic, status_topic) == 0) {
		/* Home Assistant restarted: after a random 1-5 s (its guidance, so that a fleet does not answer at
		 * once), discovery again, then every state.
		 * A retained birth is the broker's replay at our subscription: this connect sent them already. */
		if (!msg->retain && msg->payloadlen == 6 && memcmp(msg->payload, "online", 6) == 0 && !m->birth_timer)
			m->birth_timer = g_timeout_add((guint)g_random_int_range(1000, 5001), on_birth_timer, m);
		return;
	}
	on_command(m, msg);
}

/* ---- the session ---- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;
	g_autofree char *status = topic(m, m->gateway_id, "status");
	g_autofree char *commands = g_strdup_printf("%s/+/cmd/+", m->base);
	g_autofree char *ha_status = g_strconcat(m->prefix, "/status", NULL);

	(void)mosq;
	if (rc != 0) {
		connection_lost(m, mosquitto_connack_string(rc));
		return;
	}
	g_message("mqtt: connected to %s:%u", m->host, m->port);
	m->connected = true;
	m->connected_us = g_get_monotonic_time();
	g_clear_pointer(&m->last_failure, g_free);
	if (m->connects++)
		m->reconnects++;
	g_hash_table_remove_all(m->inflight);
	m->last_sent = 0; /* whatever was not acknowledged goes again (QoS 1 allows the duplicate) */
	/* In every connect: a broker restart must not leave us "offline" (the will it kept). */
	publish_now(m, status, "online", true);
	mosquitto_subscribe(m->mosq, NULL, commands, 1);
	mosquitto_subscribe(m->mosq, NULL, ha_status, 1);
	all_discovery_and_states(m);
	publish_health(m);
	pump(m);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)mosq;
	connection_lost(obj, rc ? mosquitto_strerror(rc) : "disconnected");
}

/* Acknowledged rows leave the outbox in one transaction per burst rather than one commit each. A crash in
 * between sends them again on the next start, which QoS 1 allows. */
static void delete_acked(struct mqtt *m)
{
	g_autoptr(GError) error = NULL;

	g_clear_handle_id(&m->acked_idle, g_source_remove);
	if (!db_outbox_delete_many(m->db, (const int64_t *)(void *)m->acked->data, m->acked->len, &error))
		g_warning("mqtt: %u acknowledged messages stay in the outbox: %s", m->acked->len, error->message);
	g_array_set_size(m->acked, 0);
}

static gboolean on_acked_idle(gpointer user_data)
{
	struct mqtt *m = user_data;

	m->acked_idle = 0;
	delete_acked(m);
	return G_SOURCE_REMOVE;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct mqtt *m = obj;
	int64_t *row = g_hash_table_lookup(m->inflight, GINT_TO_POINTER(mid));

	(void)mosq;
	if (m->stopping && mid == m->offline_mid)
		m->offline_acked = true;
	if (!row)
		return; /* a direct publish: status, a result, the last word at shutdown */
	g_array_append_val(m->acked, *row); /* also while stopping: mqtt_free deletes them after the last word */
	if (m->stopping)
		return;
	if (!m->acked_idle)
		m->acked_idle = g_idle_add_full(G_PRIORITY_LOW, on_acked_idle, m, NULL);
	g_hash_table_remove(m->inflight, GINT_TO_POINTER(mid));
	if (g_hash_table_size(m->inflight) <= WINDOW / 2) /* refill in batches: one outbox read per half window */
		pump(m);
}

static gboolean on_io(gint fd, GIOCondition cond, gpointer user_data)
{
	struct mqtt *m = user_data;
	int rc = MOSQ_ERR_SUCCESS;

	(void)fd;
	/* Read on every wakeup: a TLS handshake only moves on in loop_read, also when the socket became writable
	 * (libmosquitto 2.0 net_mosq.c); with nothing to read it returns at once. */
	if (cond & G_IO_NVAL)
		rc = MOSQ_ERR_CONN_LOST;
	else
		rc = mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && (cond & G_IO_OUT))
		rc = mosquitto_loop_write(m->mosq, 1);
	/* A peer that hung up during a TLS handshake is taken for "still connecting" and would wake us for ever. */
	if (rc == MOSQ_ERR_SUCCESS && (cond & (G_IO_HUP | G_IO_ERR)) && mosquitto_socket(m->mosq) >= 0)
		rc = MOSQ_ERR_CONN_LOST;
	if (rc != MOSQ_ERR_SUCCESS) {
		m->io_watch = 0; /* removed by returning G_SOURCE_REMOVE */
		connection_lost(m, mosquitto_strerror(rc));
		return G_SOURCE_REMOVE;
	}
	update_watch(m);
	return G_SOURCE_CONTINUE;
}

/* Read always; write while libmosquitto has bytes queued. Only within a session: a lost one's socket stays
 * open until its client is replaced, and must not wake us. */
static void update_watch(struct mqtt *m)
{
	int fd = m->session && m->mosq ? mosquitto_socket(m->mosq) : -1;
	GIOCondition cond = G_IO_IN | G_IO_HUP | G_IO_ERR | (fd >= 0 && mosquitto_want_write(m->mosq) ? G_IO_OUT : 0);

	if (fd < 0) {
		g_clear_handle_id(&m->io_watch, g_source_remove);
		return;
	}
	if (m->io_watch && cond == m->io_cond && fd == m->io_fd)
		return;
	g_clear_handle_id(&m->io_watch, g_source_remove);
	m->io_cond = cond;
	m->io_fd = fd;
	m->io_watch = g_unix_fd_add(fd, cond, on_io, m);
}

static gboolean on_misc(gpointer user_data)
{
	struct mqtt *m = user_data;

	if (m->session && mosquitto_socket(m->mosq) >= 0)
		mosquitto_loop_misc(m->mosq); /* keepalive pings, and their absence noticed */
	update_watch(m);
	return G_SOURCE_CONTINUE;
}

static void connection_lost(struct mqtt *m, const char *why)
{
	bool was = m->connected;

	if (!m->session)
		return; /* said already (a callback and our own check may both notice) */
	m->session = m->connected = false;
	g_clear_handle_id(&m->io_watch, g_source_remove);
	g_hash_table_remove_all(m->inflight);
	if (m->stopping)
		return;
	/* A session that held for a while starts the backoff afresh; one dropped at once keeps doubling it. */
	if (was && g_get_monotonic_time() - m->connected_us > 30 * G_USEC_PER_SEC)
		m->backoff_ms = 0;
	if (was) {
		g_message("mqtt: lost the broker (%s); reconnecting", why);
	} else {
		m->failed_attempts++;
		if (!m->last_failure || strcmp(m->last_failure, why) != 0) {
			g_warning("mqtt: cannot reach the broker at %s:%u: %s; retrying", m->host, m->port, why);
			g_free(m->last_failure);
			m->last_failure = g_strdup(why);
		}
	}
	schedule_connect(m);
}

/* An attempt on host (the broker's name, or one of its addresses). */
static void connect_to(struct mqtt *m, const char *host)
{
	int rc;

	if (!new_client(m)) {
		schedule_connect(m);
		return;
	}
	m->session = true;
	rc = mosquitto_connect_async(m->mosq, host, (int)m->port, KEEPALIVE_S);
	if (rc != MOSQ_ERR_SUCCESS) {
		connection_lost(m, rc == MOSQ_ERR_ERRNO ? g_strerror(errno) : mosquitto_strerror(rc));
		return;
	}
	update_watch(m);
}

/* libmosquitto looks the name up with a blocking getaddrinfo on the loop: a DNS server that does not answer
 * (at boot, in an outage) would stall the bands and the API for its whole timeout at every attempt. So the
 * name is looked up off the loop first. A plain connection then goes to one of its addresses, the same one
 * while it works and the next after an attempt that failed (an address that never answers, such as IPv6
 * without a route, is not tried for ever). TLS checks the broker's certificate against its name, so
 * libmosquitto gets the name and looks it up once more on the loop: quick once the resolver has just
 * answered, but not guaranteed to be. */
static void on_resolved(GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GList *addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
	struct mqtt *m = user_data;
	g_autofree char *host = NULL;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* m is gone */
	g_clear_object(&m->resolving);
	if (!addresses) {
		m->session = true; /* an attempt that failed before it had a socket */
		connection_lost(m, error->message);
		return;
	}
	host = m->tls ? g_strdup(m->host)
	              : g_inet_address_to_string(g_list_nth_data(addresses, m->failed_attempts % g_list_length(addresses)));
	g_resolver_free_addresses(addresses);
	connect_to(m, host);
}

static gboolean on_connect_timer(gpointer user_data)
{
	struct mqtt *m = user_data;
	g_autoptr(GResolver) resolver = NULL;

	m->connect_timer = 0;
	if (g_hostname_is_ip_address(m->host)) {
		connect_to(m, m->host);
		return G_SOURCE_REMOVE;
	}
	resolver = g_resolver_get_default();
	m->resolving = g_cancellable_new();
	g_resolver_lookup_by_name_async(resolver, m->host, m->resolving, on_resolved, m);
	return G_SOURCE_REMOVE;
}

/* Capped exponential backoff with jitter: 1 s doubling to 60 s, each wait 75-125 % of the step. */
static void schedule_connect(struct mqtt *m)
{
	guint wait;

	if (m->connect_timer || m->stopping)
		return;
	m->backoff_ms = m->backoff_ms ? MIN(m->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
	wait = (guint)g_random_int_range((gint32)(m->backoff_ms * 3 / 4), (gint32)(m->backoff_ms * 5 / 4) + 1);
	m->connect_timer = g_timeout_add(wait, on_connect_timer, m);
}

/* ---- set-up ---- */

static bool read_password(const char *path, char **ret, GError **error)
{
	g_autofree char *text = NULL;

	if (!path || !*path) {
		*ret = NULL;
		return true;
	}
	if (!g_file_get_contents(path, &text, NULL, error)) {
		g_prefix_error(error, "[mqtt] password_file: ");
		return false;
	}
	g_strchomp(text);
	*ret = g_steal_pointer(&text);
	return true;
}

/* A fresh client for every connection attempt. libmosquitto keeps unacknowledged messages of an earlier
 * session and re-sends them after the connect callback, behind newer ones (messages_mosq.c); the outbox is
 * the one retry queue, so the old client, its queue and its socket go. */
static bool client_configure(struct mqtt *m, GError **error)
{
	g_autofree char *will = topic(m, m->gateway_id, "status");
	int rc;

	if (m->username && mosquitto_username_pw_set(m->mosq, m->username, m->password) != MOSQ_ERR_SUCCESS) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[mqtt] username is not usable");
		return false;
	}
	if (m->tls && (rc = mosquitto_tls_set(m->mosq, m->cafile, m->cafile ? NULL : "/etc/ssl/certs", NULL, NULL,
	                                      NULL)) != MOSQ_ERR_SUCCESS) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[mqtt] tls: %s", mosquitto_strerror(rc));
		return false;
	}
	mosquitto_will_set(m->mosq, will, (int)strlen("offline"), "offline", 1, true);
	/* No QoS 1 message held back in libmosquitto's own queue (by default 20 fly at once): the outbox's window
	 * bounds what is in flight, and the last word at shutdown must not wait behind a drain. */
	mosquitto_int_option(m->mosq, MOSQ_OPT_SEND_MAXIMUM, 0);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	mosquitto_message_callback_set(m->mosq, on_message);
	return true;
}

static bool client_new(struct mqtt *m, GError **error)
{
	g_clear_handle_id(&m->io_watch, g_source_remove);
	g_clear_pointer(&m->mosq, mosquitto_destroy);
	m->mosq = mosquitto_new(m->client_id, true, m);
	if (!m->mosq) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "mqtt: cannot create a client");
		return false;
	}
	return client_configure(m, error);
}

static bool new_client(struct mqtt *m)
{
	g_autoptr(GError) error = NULL;

	if (client_new(m, &error))
		return true;
	g_warning("%s", error->message);
	return false;
}

/* Discovery would stay silent on a context it cannot use: say so at start. A dashboard URL that is not
 * usable (an odd host name) only loses Home Assistant's link to it. */
static bool discovery_usable(struct mqtt *m, GError **error)
{
	struct ha_context ctx;

	ha_context(m, &ctx);
	if (ha_context_check(&ctx) == 0)
		return true;
	if (m->url) {
		g_warning("mqtt: the dashboard URL %s is not usable in discovery; left out", m->url);
		g_clear_pointer(&m->url, g_free);
		ha_context(m, &ctx);
		if (ha_context_check(&ctx) == 0)
			return true;
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[mqtt] base_topic '%s', discovery_prefix '%s' or "
	            "[gateway] id '%s' cannot be used in Home Assistant discovery", m->base, m->prefix, m->gateway_id);
	return false;
}

struct mqtt *mqtt_new(const struct config *cfg, struct manager *mgr, struct db *db, const char *configuration_url,
                      const struct mqtt_ops *ops, void *user_data, GError **error)
{
	struct mqtt *m = g_new0(struct mqtt, 1);

	mosquitto_lib_init();
	m->mgr = mgr;
	m->db = db;
	m->ops = ops;
	m->user_data = user_data;
	m->base = g_strdup(cfg->mqtt_base_topic);
	m->prefix = g_strdup(cfg->mqtt_discovery_prefix);
	m->gateway_id = g_strdup(cfg->gateway_id);
	m->host = g_strdup(cfg->mqtt_host);
	m->port = cfg->mqtt_port;
	m->url = g_strdup(configuration_url);
	m->db_path = g_strdup(cfg->database);
	m->mode = cfg->mqtt_discovery == CONFIG_DISCOVERY_PER_COMPONENT ? HA_MODE_PER_COMPONENT : HA_MODE_DEVICE;
	m->inflight = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	m->acked = g_array_new(FALSE, FALSE, sizeof(int64_t));
	m->batch = g_array_new(FALSE, FALSE, sizeof(struct db_outbox_msg));
	g_array_set_clear_func(m->batch, batch_msg_clear);
	m->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m->started_us = g_get_monotonic_time();
	m->client_id = g_strdup_printf("bandgate-%s", cfg->gateway_id);
	m->username = cfg->mqtt_username[0] ? g_strdup(cfg->mqtt_username) : NULL;
	m->tls = cfg->mqtt_tls;
	m->cafile = cfg->mqtt_cafile[0] ? g_strdup(cfg->mqtt_cafile) : NULL;
	/* The first client is made here so that a bad password file, user name or CA file is a start-up error. */
	if (!discovery_usable(m, error) || !read_password(cfg->mqtt_password_file, &m->password, error) ||
	    !client_new(m, error)) {
		mqtt_free(m);
		return NULL;
	}
	m->hub_id = hub_subscribe(manager_hub(mgr), on_hub, m, NULL);
	m->misc_timer = g_timeout_add_seconds(1, on_misc, m);
	m->health_timer = g_timeout_add_seconds(HEALTH_INTERVAL_S, on_health_timer, m);
	m->connect_timer = g_idle_add(on_connect_timer, m);
	return m;
}

/* The last word: "offline", retained, and a second at most for the broker to acknowledge it. A clean
 * DISCONNECT makes the broker drop our will, so the word must have arrived before it. */
static void say_offline(struct mqtt *m)
{
	g_autofree char *status = topic(m, m->gateway_id, "status");
	int64_t deadline = g_get_monotonic_time() + G_USEC_PER_SEC;

	m->offline_acked = false;
	if (mosquitto_publish(m->mosq, &m->offline_mid, status, (int)strlen("offline"), "offline", 1, true) ==
	    MOSQ_ERR_SUCCESS)
		while (!m->offline_acked && g_get_monotonic_time() < deadline)
			if (mosquitto_loop(m->mosq, 100, 1) != MOSQ_ERR_SUCCESS)
				break;
	mosquitto_disconnect(m->mosq);
	mosquitto_loop(m->mosq, 100, 1);
}

void mqtt_free(struct mqtt *m)
{
	if (!m)
		return;
	if (m->hub_id)
		flush_states(m); /* into the outbox: they go out on the next start if not now */
	m->stopping = true;
	if (m->hub_id)
		hub_unsubscribe(manager_hub(m->mgr), m->hub_id);
	g_clear_handle_id(&m->io_watch, g_source_remove);
	g_clear_handle_id(&m->misc_timer, g_source_remove);
	g_clear_handle_id(&m->connect_timer, g_source_remove);
	g_clear_handle_id(&m->state_timer, g_source_remove);
	g_clear_handle_id(&m->birth_timer, g_source_remove);
	g_clear_handle_id(&m->health_timer, g_source_remove);
	g_clear_handle_id(&m->scan_timer, g_source_remove);
	g_clear_handle_id(&m->restart_timer, g_source_remove);
	if (m->resolving) {
		g_cancellable_cancel(m->resolving);
		g_clear_object(&m->resolving);
	}
	if (m->mosq && m->connected)
		say_offline(m);
	delete_acked(m);
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	mosquitto_lib_cleanup();
	g_hash_table_unref(m->inflight);
	g_array_unref(m->acked);
	g_array_unref(m->batch);
	g_hash_table_unref(m->dirty);
	g_free(m->base);
	g_free(m->prefix);
	g_free(m->gateway_id);
	g_free(m->host);
	g_free(m->url);
	g_free(m->db_path);
	g_free(m->client_id);
	g_free(m->username);
	if (m->password)
		memset(m->password, 0, strlen(m->password));
	g_free(m->password);
	g_free(m->cafile);
	g_free(m->last_failure);
	g_free(m);
}
