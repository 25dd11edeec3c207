/* The MQTT outbox: a message is a row before it is published and is deleted on the broker's
 * acknowledgement. */
#include "db-private.h"

#include <string.h>

static bool outbox_valid(const struct db_outbox_msg *msg, GError **error)
{
	if (!msg->topic || !*msg->topic)
		return db_invalid(error, "an outbox message needs a topic");
	return db_check_range(msg->qos, 0, 2, "the QoS", error) && db_check_time(msg->created, error);
}

static bool outbox_insert(struct db *db, const struct db_outbox_msg *msg, GError **error)
{
	g_autoptr(sqlite3_stmt) drop = NULL, insert = NULL;

	if (msg->coalesce) {
		drop = db_query(db, "DELETE FROM outbox WHERE coalesce = 1 AND topic = ?1", ARGS(ARG_TEXT(msg->topic)),
		                error);
		if (!db_run(db, drop, NULL, error))
			return false;
	}
	insert = db_query(db, "INSERT INTO outbox (topic, payload, qos, retain, coalesce, created) "
	                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                  ARGS(ARG_TEXT(msg->topic), ARG_BLOB(msg->payload ? msg->payload : "", msg->len),
	                       ARG_INT(msg->qos), ARG_INT(msg->retain), ARG_INT(msg->coalesce), ARG_INT(msg->created)),
	                  error);
	return db_run(db, insert, NULL, error);
}

/* Over the bound the oldest events go. States are not trimmed: there is one row per topic at most, and the
 * last one of a topic may be a forgotten band's empty config, which nothing would send again. The span of ids
 * bounds the count from above (AUTOINCREMENT), so the count itself is only taken near the bound. */
static bool outbox_trim(struct db *db, unsigned limit, int64_t *ret_dropped, GError **error)
{
	g_autoptr(sqlite3_stmt) trim = NULL;
	int64_t span = 0;

	*ret_dropped = 0;
	if (!limit)
		return true;
	if (!db_query_int(db, "SELECT coalesce(max(id) - min(id) + 1, 0) FROM outbox", &span, error))
		return false;
	if (span <= limit)
		return true;
	trim = db_query(db, "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE coalesce = 0 ORDER BY id "
	                "LIMIT max(0, (SELECT count(*) FROM outbox) - ?1))", ARGS(ARG_INT(limit)), error);
	if (!db_run(db, trim, NULL, error))
		return false;
	*ret_dropped = sqlite3_changes64(db->sqlite);
	return true;
}

bool db_outbox_add_many(struct db *db, const struct db_outbox_msg *msgs, size_t n, unsigned limit,
                        int64_t *ret_last_id, int64_t *ret_dropped, GError **error)
{
	int64_t dropped = 0, id;
	bool ok = true;

	for (size_t i = 0; i < n; i++)
		if (!outbox_valid(&msgs[i], error))
			return false;
	if (!db_begin(db, error))
		return false;
	for (size_t i = 0; i < n && ok; i++)
		ok = outbox_insert(db, &msgs[i], error);
	id = sqlite3_last_insert_rowid(db->sqlite);
	if (!db_finish(db, ok && outbox_trim(db, limit, &dropped, error), error))
		return false;
	if (ret_last_id)
		*ret_last_id = id;
	if (ret_dropped)
		*ret_dropped = dropped;
	return true;
}

bool db_outbox_add(struct db *db, const struct db_outbox_msg *msg, unsigned limit, int64_t *ret_id,
                   int64_t *ret_dropped, GError **error)
{
	return db_outbox_add_many(db, msg, 1, limit, ret_id, ret_dropped, error);
}

static void outbox_msg_free(gpointer p)
{
	struct db_outbox_msg *m = p;

	g_free(m->topic);
	g_free(m->payload);
	g_free(m);
}

static void *read_outbox_row(sqlite3_stmt *stmt)
{
	struct db_outbox_msg *m = g_new0(struct db_outbox_msg, 1);
	const void *blob = sqlite3_column_blob(stmt, 2);

	m->id = sqlite3_column_int64(stmt, 0);
	m->topic = db_column_strdup(stmt, 1);
	m->len = (size_t)sqlite3_column_bytes(stmt, 2);
	m->payload = g_malloc(m->len + 1);
	if (m->len)
		memcpy(m->payload, blob, m->len);
	m->payload[m->len] = 0;
	m->qos = sqlite3_column_int(stmt, 3);
	m->retain = sqlite3_column_int(stmt, 4) != 0;
	m->coalesce = sqlite3_column_int(stmt, 5) != 0;
	m->created = sqlite3_column_int64(stmt, 6);
	return m;
}

GPtrArray *db_outbox_next(struct db *db, int64_t after, unsigned max, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = db_query(db, "SELECT id, topic, payload, qos, retain, coalesce, created FROM outbox "
	                                        "WHERE id > ?1 ORDER BY id LIMIT ?2",
	                                        ARGS(ARG_INT(after), ARG_INT(max ? (int64_t)max : -1)), error);

	return stmt ? db_collect(db, stmt, read_outbox_row, outbox_msg_free, error) : NULL;
}

bool db_outbox_delete(struct db *db, int64_t id, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = db_query(db, "DELETE FROM outbox WHERE id = ?1", ARGS(ARG_INT(id)), error);

	return db_run(db, stmt, NULL, error);
}

bool db_outbox_delete_many(struct db *db, const int64_t *ids, size_t n, GError **error)
{
	bool ok = true;

	if (!n)
		return true;
	if (!db_begin(db, error))
		return false;
	for (size_t i = 0; i < n && ok; i++)
		ok = db_outbox_delete(db, ids[i], error);
	return db_finish(db, ok, error);
}

bool db_outbox_count(struct db *db, int64_t *ret, GError **error)
{
	return db_query_int(db, "SELECT count(*) FROM outbox", ret, error);
}
