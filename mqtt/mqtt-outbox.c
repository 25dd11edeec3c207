#define G_LOG_DOMAIN "bandgate-mqtt" /* G_MESSAGES_DEBUG=bandgate-mqtt turns on its debug lines alone */
/* Store and forward: every message that matters is a row in the SQLite outbox before it is published, and is
 * deleted on the broker's PUBACK, so neither a broker outage nor our own crash loses it. */
#include "mqtt-private.h"

#include <string.h>

#include "db.h"

#define WINDOW 100                /* outbox messages published and not yet acknowledged */
#define OUTBOX_LIMIT 50000        /* rows; past it the oldest go (states are coalesced long before) */

static void batch_msg_clear(gpointer p)
{
	struct db_outbox_msg *msg = p;

	g_free(msg->topic);
	g_free(msg->payload);
}

void mqtt_outbox_init(struct mqtt *m)
{
	m->inflight = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	m->acked = g_array_new(FALSE, FALSE, sizeof(int64_t));
	m->batch = g_array_new(FALSE, FALSE, sizeof(struct db_outbox_msg));
	g_array_set_clear_func(m->batch, batch_msg_clear);
	m->full_log = (struct ratelimit)RATELIMIT_INIT(60 * G_USEC_PER_SEC, 1);
}

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
		mqtt_session_lost(m, mosquitto_strerror(rc));
		return;
	}
	m->last_sent = row->id;
	if (row->qos == 0) {
		db_outbox_delete(m->db, row->id, NULL);
		return;
	}
	g_hash_table_insert(m->inflight, GINT_TO_POINTER(mid), g_memdup2(&row->id, sizeof(row->id)));
}

void mqtt_outbox_pump(struct mqtt *m)
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
	mqtt_session_update_watch(m);
}

void mqtt_outbox_rewind(struct mqtt *m)
{
	g_hash_table_remove_all(m->inflight);
	m->last_sent = 0;
}

void mqtt_outbox_full(struct mqtt *m, int64_t dropped)
{
	m->full_dropped += dropped;
	if (!m->full_dropped || !ratelimit_below(&m->full_log, g_get_monotonic_time(), NULL))
		return;
	g_warning("mqtt: the outbox is full (%d messages); dropped the %" G_GINT64_FORMAT " oldest events", OUTBOX_LIMIT,
	          m->full_dropped);
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
		mqtt_outbox_full(m, dropped);
	mqtt_outbox_pump(m);
}

void mqtt_outbox_batch_begin(struct mqtt *m)
{
	m->batch_depth++;
}

void mqtt_outbox_batch_end(struct mqtt *m)
{
	if (--m->batch_depth)
		return;
	store(m, (const struct db_outbox_msg *)(void *)m->batch->data, m->batch->len);
	g_array_set_size(m->batch, 0);
}

void mqtt_outbox_enqueue(struct mqtt *m, const char *topic, const char *payload, bool retain, bool coalesce)
{
	struct db_outbox_msg msg = { .topic = (char *)topic, .payload = (char *)payload, .len = strlen(payload),
	                             .qos = 1, .retain = retain, .coalesce = coalesce,
	                             .created = g_get_real_time() / G_USEC_PER_SEC };

	if (!m->batch_depth) {
		store(m, &msg, 1);
		return;
	}
	msg.topic = g_strdup(topic);
	msg.payload = g_strdup(payload);
	g_array_append_val(m->batch, msg);
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

void mqtt_outbox_on_publish(struct mosquitto *mosq, void *obj, int mid)
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
		mqtt_outbox_pump(m);
}

void mqtt_outbox_free(struct mqtt *m)
{
	if (!m->inflight)
		return; /* never made */
	delete_acked(m);
	g_hash_table_unref(m->inflight);
	g_array_unref(m->acked);
	g_array_unref(m->batch);
}
