/* Notifications sent to a band: queued, then each attempt recorded with its status. */
#include "db-private.h"

#include <inttypes.h>

#define NOTIFY_COLUMNS "id, address, source, kind, category, title, text, status, attempts, created, updated, error"

const char *db_notify_status_name(enum db_notify_status status)
{
	switch (status) {
	case DB_NOTIFY_QUEUED:
		return "queued";
	case DB_NOTIFY_SENT:
		return "sent";
	case DB_NOTIFY_FAILED:
		return "failed";
	}
	return NULL;
}

/* The table's CHECK admits only the three names, so anything else cannot be read. */
static enum db_notify_status notify_status(const char *name)
{
	if (g_strcmp0(name, "queued") == 0)
		return DB_NOTIFY_QUEUED;
	return g_strcmp0(name, "sent") == 0 ? DB_NOTIFY_SENT : DB_NOTIFY_FAILED;
}

void db_notification_clear(struct db_notification *n)
{
	g_free(n->source);
	g_free(n->kind);
	g_free(n->title);
	g_free(n->text);
	g_free(n->error);
	*n = (struct db_notification){ 0 };
}

static void notification_free(gpointer n)
{
	db_notification_clear(n);
	g_free(n);
}

static void read_notification(sqlite3_stmt *stmt, struct db_notification *ret)
{
	ret->id = sqlite3_column_int64(stmt, 0);
	db_column_copy(stmt, 1, ret->address, sizeof(ret->address));
	ret->source = db_column_strdup(stmt, 2);
	ret->kind = db_column_strdup(stmt, 3);
	ret->category = sqlite3_column_int(stmt, 4);
	ret->title = db_column_strdup(stmt, 5);
	ret->text = db_column_strdup(stmt, 6);
	ret->status = notify_status((const char *)sqlite3_column_text(stmt, 7));
	ret->attempts = sqlite3_column_int(stmt, 8);
	ret->created = sqlite3_column_int64(stmt, 9);
	ret->updated = sqlite3_column_int64(stmt, 10);
	ret->error = db_column_strdup(stmt, 11);
}

static void *read_notification_row(sqlite3_stmt *stmt)
{
	struct db_notification *n = g_new0(struct db_notification, 1);

	read_notification(stmt, n);
	return n;
}

static bool check_notification(const char *source, const char *kind, int category, int64_t when, GError **error)
{
	if (!db_check_text(source, "a notification's source", error) || !db_check_time(when, error) ||
	    !db_check_range(category, 0, 255, "the alert category", error))
		return false;
	if (g_strcmp0(kind, "text") != 0 && g_strcmp0(kind, "vibrate") != 0 && g_strcmp0(kind, "find") != 0)
		return db_invalid(error, "a notification's kind is \"text\", \"vibrate\" or \"find\", not \"%s\"",
		                  kind ? kind : "(none)");
	return true;
}

bool db_notify_add(struct db *db, const char *address, const char *source, const char *kind, int category,
                   const char *title, const char *text, int64_t when, int64_t *ret_id, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error) || !check_notification(source, kind, category, when, error))
		return false;
	stmt = db_query(db, "INSERT INTO notifications (address, source, kind, category, title, text, status, attempts,"
	                " created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7)",
	                ARGS(ARG_TEXT(addr), ARG_TEXT(source), ARG_TEXT(kind), ARG_INT(category), ARG_TEXT(title),
	                     ARG_TEXT(text), ARG_INT(when)), error);
	if (!db_run_for_band(db, addr, stmt, error))
		return false;
	if (ret_id)
		*ret_id = sqlite3_last_insert_rowid(db->sqlite);
	return true;
}

bool db_notify_attempt(struct db *db, int64_t id, enum db_notify_status status, int64_t when, const char *error_text,
                       GError **error)
{
	const char *name = db_notify_status_name(status);
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!name)
		return db_invalid(error, "%d is not a notification status", (int)status);
	if (!db_check_time(when, error))
		return false;
	stmt = db_query(db, "UPDATE notifications SET attempts = attempts + 1, status = ?2, updated = ?3, error = ?4"
	                " WHERE id = ?1", ARGS(ARG_INT(id), ARG_TEXT(name), ARG_INT(when), ARG_TEXT(error_text)), error);
	if (!db_run(db, stmt, NULL, error))
		return false;
	if (sqlite3_changes(db->sqlite) > 0)
		return true;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no notification %" PRId64, id);
	return false;
}

GPtrArray *db_notify_queued(struct db *db, const char *address, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error) || !db_check_managed(db, addr, error))
		return NULL;
	stmt = db_query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE address = ?1 AND status = 'queued'"
	                " ORDER BY id", ARGS(ARG_TEXT(addr)), error);
	return stmt ? db_collect(db, stmt, read_notification_row, notification_free, error) : NULL;
}

GPtrArray *db_notify_list(struct db *db, const char *address, unsigned limit, GError **error)
{
	int64_t max = limit ? (int64_t)limit : -1;  /* SQLite reads a negative LIMIT as none */
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (address && (!db_normalise(address, addr, error) || !db_check_managed(db, addr, error)))
		return NULL;
	if (address)
		stmt = db_query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE address = ?2 ORDER BY id DESC LIMIT ?1",
		                ARGS(ARG_INT(max), ARG_TEXT(addr)), error);
	else
		stmt = db_query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications ORDER BY id DESC LIMIT ?1",
		                ARGS(ARG_INT(max)), error);
	return stmt ? db_collect(db, stmt, read_notification_row, notification_free, error) : NULL;
}

bool db_notify_get(struct db *db, int64_t id, struct db_notification *ret, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	*ret = (struct db_notification){ 0 };
	stmt = db_query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE id = ?1", ARGS(ARG_INT(id)), error);
	rc = db_step(db, stmt, error);
	if (rc == SQLITE_DONE)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no notification %" PRId64, id);
	if (rc == SQLITE_ROW)
		read_notification(stmt, ret);
	return rc == SQLITE_ROW;
}
