/* What the files of storage share, and nothing that leaves storage/: db.h stays the table of contents of the
 * API. The files, one concern each:
 *   db.c            opening (read-write and read-only), pragmas, the schema and its migrations, transactions,
 *                   closing
 *   db-statement.c  SQLite's codes as GError, statements, checks of arguments and addresses
 *   db-band.c       managed bands, their events and their live values
 *   db-notify.c     notifications sent to a band
 *   db-history.c    activity history, the sync cursor, the export queries, retention
 *   db-outbox.c     the MQTT outbox */
#pragma once

#include "address.h"
#include "db.h"

#include <sqlite3.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

struct db {
	sqlite3 *sqlite;
	int version;
};

/* ---- errors (db-statement.c): the one place SQLite's codes are read ---- */

/* SQLite's message for rc, under the G_IO_ERROR code rc maps to. Always false, so that callers can return it. */
bool db_set_error(struct db *db, int rc, GError **error);
/* G_IO_ERROR_NOT_FOUND, "band ... is not managed". Always false, so that callers can return it. */
bool db_not_managed(const char *address, GError **error);

/* ---- statements (db-statement.c) ---- */

/* Every query is a constant string with bound parameters, prepared per call and finalized on return: a
 * statement left open would hold a WAL read snapshot and stall checkpoints, and a per-call prepare costs
 * microseconds at our rate of a few writes a minute. */

enum arg_type {
	ARG_TYPE_TEXT,
	ARG_TYPE_INT,
	ARG_TYPE_BLOB,
};

struct arg {
	enum arg_type type;
	const void *p;  /* text or blob; NULL binds NULL */
	int64_t i;      /* the integer, or the blob's size */
};

#define ARG_TEXT(s) ((struct arg){ .type = ARG_TYPE_TEXT, .p = (s) })
#define ARG_INT(v) ((struct arg){ .type = ARG_TYPE_INT, .i = (int64_t)(v) })
#define ARG_BLOB(b, size) ((struct arg){ .type = ARG_TYPE_BLOB, .p = (b), .i = (size) })
/* Expands to the two parameters args, n of db_query(). */
#define ARGS(...) (const struct arg[]){ __VA_ARGS__ }, G_N_ELEMENTS(((const struct arg[]){ __VA_ARGS__ }))
#define NO_ARGS NULL, 0

/* Prepares sql and binds args to ?1, ?2, ... in order. */
sqlite3_stmt *db_query(struct db *db, const char *sql, const struct arg *args, size_t n, GError **error);
/* SQLITE_ROW or SQLITE_DONE; any failure is set in error and returned as SQLITE_ERROR. */
int db_step(struct db *db, sqlite3_stmt *stmt, GError **error);
/* Runs a statement to its end; explain (may be NULL) replaces SQLite's text for a conflict. */
bool db_run(struct db *db, sqlite3_stmt *stmt, const char *explain, GError **error);
/* For the single value of a PRAGMA or count(*). */
bool db_query_int(struct db *db, const char *sql, int64_t *ret, GError **error);
/* A script of constant statements without parameters: transactions, pragmas, migration steps. */
bool db_exec(struct db *db, const char *sql, GError **error);

typedef void *(*row_reader)(sqlite3_stmt *stmt);

/* Every row of stmt through read, into an array that frees them with free_func. */
GPtrArray *db_collect(struct db *db, sqlite3_stmt *stmt, row_reader read, GDestroyNotify free_func,
                      GError **error);
char *db_column_strdup(sqlite3_stmt *stmt, int column);
/* The column's text into ret, "" for NULL. */
void db_column_copy(sqlite3_stmt *stmt, int column, char *ret, size_t size);

/* ---- checks of arguments (db-statement.c): each is true, or false with the error set ---- */

/* G_IO_ERROR_INVALID_ARGUMENT with the message. Always false, so that callers can return it. */
bool db_invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);
/* min <= value <= max; max INT64_MAX reads as "not negative". what names the value in the message. */
bool db_check_range(int64_t value, int64_t min, int64_t max, const char *what, GError **error);
/* UTC seconds, not negative. */
bool db_check_time(int64_t when, GError **error);
/* Not NULL and not empty. */
bool db_check_text(const char *text, const char *what, GError **error);
/* A Bluetooth address in either case to ret, upper case; anything else is an error, never a row. */
bool db_normalise(const char *address, char ret[static ADDRESS_SIZE], GError **error);

/* ---- transactions (db.c) ---- */

/* BEGIN IMMEDIATE: the write lock at once. */
bool db_begin(struct db *db, GError **error);
/* Commits when ok, rolls back otherwise; returns whether the transaction landed. */
bool db_finish(struct db *db, bool ok, GError **error);

/* ---- a band's row, for the files whose tables belong to a band (db-band.c) ---- */

/* G_IO_ERROR_NOT_FOUND unless addr (normalised) is a managed band. */
bool db_check_managed(struct db *db, const char *addr, GError **error);
/* sql is an UPDATE of one band's row with value as ?1 and the address (normalised here) as ?2; a band that is
 * not managed is G_IO_ERROR_NOT_FOUND. */
bool db_set_column(struct db *db, const char *address, const char *sql, struct arg value, GError **error);
/* Runs an INSERT into a table that references bands, for addr (normalised): a missing band is "not managed",
 * not a constraint. */
bool db_run_for_band(struct db *db, const char *addr, sqlite3_stmt *stmt, GError **error);
