/* What every query of storage goes through: statements prepared, bound, stepped and read, and the checks of
 * the arguments that come from outside, before they reach one. SQLite's result codes become GError here and
 * nowhere else. */
#include "db-private.h"
#include "address.h"

#include <inttypes.h>
#include <stdarg.h>

/* ---- errors: the one place SQLite's codes are read ---- */

static GIOErrorEnum io_error_code(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return G_IO_ERROR_NOT_FOUND;
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		return G_IO_ERROR_EXISTS;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return G_IO_ERROR_BUSY;
	case SQLITE_READONLY:
		return G_IO_ERROR_READ_ONLY;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return G_IO_ERROR_PERMISSION_DENIED;
	case SQLITE_FULL:
		return G_IO_ERROR_NO_SPACE;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return G_IO_ERROR_INVALID_DATA;
	default:
		return G_IO_ERROR_FAILED;
	}
}

bool db_set_error(struct db *db, int rc, GError **error)
{
	const char *message = db->sqlite ? sqlite3_errmsg(db->sqlite) : sqlite3_errstr(rc);

	g_set_error_literal(error, G_IO_ERROR, io_error_code(rc), message);
	return false;
}

bool db_not_managed(const char *address, GError **error)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "band %s is not managed", address);
	return false;
}

/* ---- statements ---- */

static int bind(sqlite3_stmt *stmt, int index, const struct arg *arg)
{
	switch (arg->type) {
	case ARG_TYPE_TEXT:
		return sqlite3_bind_text(stmt, index, arg->p, -1, SQLITE_TRANSIENT);
	case ARG_TYPE_INT:
		return sqlite3_bind_int64(stmt, index, arg->i);
	case ARG_TYPE_BLOB:
		return arg->p ? sqlite3_bind_blob(stmt, index, arg->p, (int)arg->i, SQLITE_TRANSIENT) :
		                sqlite3_bind_null(stmt, index);
	}
	return SQLITE_MISUSE;
}

sqlite3_stmt *db_query(struct db *db, const char *sql, const struct arg *args, size_t n, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db->sqlite, sql, -1, &stmt, NULL);

	for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
		rc = bind(stmt, (int)i + 1, &args[i]);
	if (rc != SQLITE_OK) {
		db_set_error(db, rc, error);
		sqlite3_finalize(stmt);
		return NULL;
	}
	return stmt;
}

int db_step(struct db *db, sqlite3_stmt *stmt, GError **error)
{
	int rc = stmt ? sqlite3_step(stmt) : SQLITE_ERROR;

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	if (stmt)
		db_set_error(db, rc, error);
	return SQLITE_ERROR;
}

/* Runs a statement to its end. SQLite's text for a constraint names columns; where the caller knows what
 * the conflict means to a person (explain), that is the message instead, with the code kept. */
bool db_run(struct db *db, sqlite3_stmt *stmt, const char *explain, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!stmt)
		return false;
	if (db_step(db, stmt, &local) != SQLITE_ERROR)
		return true;
	if (explain && (local->code == G_IO_ERROR_EXISTS || local->code == G_IO_ERROR_NOT_FOUND))
		g_set_error_literal(error, G_IO_ERROR, local->code, explain);
	else
		g_propagate_error(error, g_steal_pointer(&local));
	return false;
}

bool db_query_int(struct db *db, const char *sql, int64_t *ret, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = db_query(db, sql, NO_ARGS, error);
	int rc = db_step(db, stmt, error);

	if (rc == SQLITE_DONE)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "no result from \"%s\"", sql);
	if (rc != SQLITE_ROW)
		return false;
	*ret = sqlite3_column_int64(stmt, 0);
	return true;
}

bool db_exec(struct db *db, const char *sql, GError **error)
{
	int rc = sqlite3_exec(db->sqlite, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK || db_set_error(db, rc, error);
}

GPtrArray *db_collect(struct db *db, sqlite3_stmt *stmt, row_reader read, GDestroyNotify free_func,
                      GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(free_func);
	int rc;

	while ((rc = db_step(db, stmt, error)) == SQLITE_ROW)
		g_ptr_array_add(rows, read(stmt));
	return rc == SQLITE_DONE ? g_steal_pointer(&rows) : NULL;
}

char *db_column_strdup(sqlite3_stmt *stmt, int column)
{
	return g_strdup((const char *)sqlite3_column_text(stmt, column));
}

void db_column_copy(sqlite3_stmt *stmt, int column, char *ret, size_t size)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);

	g_strlcpy(ret, text ? text : "", size);
}

/* ---- checks of arguments ---- */

bool db_invalid(GError **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_propagate_error(error, g_error_new_valist(G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, format, ap));
	va_end(ap);
	return false;
}

bool db_check_range(int64_t value, int64_t min, int64_t max, const char *what, GError **error)
{
	if (value >= min && value <= max)
		return true;
	if (max == INT64_MAX)
		return db_invalid(error, "%s %" PRId64 " is negative", what, value);
	return db_invalid(error, "%s %" PRId64 " is not in %" PRId64 "..%" PRId64, what, value, min, max);
}

bool db_check_time(int64_t when, GError **error)
{
	return db_check_range(when, 0, INT64_MAX, "the time", error);
}

bool db_check_text(const char *text, const char *what, GError **error)
{
	return (text && *text) || db_invalid(error, "%s must not be empty", what);
}

/* Addresses come from MQTT, HTTP and the config: checked here so that a bad one is an error, never a row. */
bool db_normalise(const char *address, char ret[static ADDRESS_SIZE], GError **error)
{
	g_autofree char *head = NULL;
	g_autofree char *shown = NULL;

	if (address_normalise(address, ret))
		return true;
	head = address ? g_strndup(address, 40) : NULL;
	shown = head ? g_strescape(head, NULL) : NULL;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
	            "'%s' is not a Bluetooth address like C8:0F:10:11:22:33", shown ? shown : "");
	return false;
}
