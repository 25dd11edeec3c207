/* SQLite behind the db_ API. Every query is a constant string with bound parameters, prepared per call and
 * finalized on return: a statement left open would hold a WAL read snapshot and stall checkpoints, and a
 * per-call prepare costs microseconds at our rate of a few writes a minute. SQLite's result codes become
 * GError here and nowhere else. */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/* 0x42476174, "BGat" in the file header: lets us tell an empty file from someone else's SQLite database,
 * which we refuse rather than add our tables to. */
#define DB_APPLICATION_ID 1111974260
/* Only another writer (an operator's sqlite3 shell, a second bandgate) makes us wait. The loop must not stall
 * for long, so after this we give up and report "database is locked". */
#define DB_BUSY_TIMEOUT_MS 1000

/* The schema, one step per version: migrations[i] takes a file from version i to i + 1 and ends by setting
 * that version, in the same transaction, so a crash leaves the file at a version we know. A step that has
 * shipped is never edited; a change is a new step at the end, with
 * DB_SCHEMA_VERSION raised and a hand-written file of the previous version added to tests/unit/test-db.c to
 * migrate from.
 *
 * Whatever belongs to a band references bands (address) ON UPDATE CASCADE ON DELETE CASCADE. A move after a
 * factory reset and a forget are then one statement each, atomic by themselves, and a new table joins them
 * by declaring the same clause instead of by someone remembering to edit db_band_move(). */
static const char *const migrations[] = {
	/* 1: managed bands and their events. An event without a band is the gateway's own. */
	"CREATE TABLE bands ("
	" address TEXT NOT NULL PRIMARY KEY CHECK (length(address) = 17 AND address = upper(address)),"
	" key BLOB CHECK (key IS NULL OR length(key) = 16),"
	" name TEXT,"
	" firmware TEXT,"
	" added INTEGER NOT NULL,"
	" last_connected INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" address TEXT REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE,"
	" time INTEGER NOT NULL,"
	" type TEXT NOT NULL CHECK (type <> ''),"
	" detail TEXT"
	") STRICT;"
	"CREATE INDEX events_by_band ON events (address, time);"
	"CREATE INDEX events_by_time ON events (time);"
	"PRAGMA application_id = " G_STRINGIFY(DB_APPLICATION_ID) ";"
	"PRAGMA user_version = 1;",
	/* 2: what the gateway's sync keeps. Activity is one row per band and minute, so a minute fetched again
	 * replaces itself; the cursor lives on the band's row, where the transaction that stores the samples
	 * covering it also moves it. Live values are rows as they change. Every notification for a band is a row
	 * with its status; AUTOINCREMENT because its id is shown to clients, and a forgotten band's or a pruned
	 * id must not come back as another notification. The (address, ...) indexes also serve the cascades and
	 * the per-band deletes of db_prune. */
	"ALTER TABLE bands ADD COLUMN sync_cursor INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE bands ADD COLUMN last_sync INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE activity ("
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE,"
	" minute INTEGER NOT NULL CHECK (minute % 60 = 0),"
	" tz INTEGER NOT NULL CHECK (tz BETWEEN -48 AND 56),"
	" kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 255),"
	" intensity INTEGER NOT NULL CHECK (intensity BETWEEN 0 AND 255),"
	" steps INTEGER NOT NULL CHECK (steps BETWEEN 0 AND 255),"
	" heart_rate INTEGER CHECK (heart_rate BETWEEN 0 AND 254),"
	" PRIMARY KEY (address, minute)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE daily_totals ("
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE,"
	" day TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),"
	" steps INTEGER NOT NULL CHECK (steps >= 0),"
	" meters INTEGER NOT NULL CHECK (meters >= 0),"
	" calories INTEGER NOT NULL CHECK (calories >= 0),"
	" updated INTEGER NOT NULL,"
	" PRIMARY KEY (address, day)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE battery ("
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE,"
	" time INTEGER NOT NULL,"
	" level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 100),"
	" charging INTEGER NOT NULL CHECK (charging IN (0, 1))"
	") STRICT;"
	"CREATE INDEX battery_by_band ON battery (address, time);"
	"CREATE TABLE heart_rate ("
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE,"
	" time INTEGER NOT NULL,"
	" bpm INTEGER NOT NULL CHECK (bpm BETWEEN 1 AND 254)"
	") STRICT;"
	"CREATE INDEX heart_rate_by_band ON heart_rate (address, time);"
	"CREATE TABLE notifications ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE,"
	" source TEXT NOT NULL CHECK (source <> ''),"
	" kind TEXT NOT NULL CHECK (kind IN ('text', 'vibrate', 'find')),"
	" category INTEGER NOT NULL CHECK (category BETWEEN 0 AND 255),"
	" title TEXT,"
	" text TEXT,"
	" status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),"
	" attempts INTEGER NOT NULL CHECK (attempts >= 0),"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" error TEXT"
	") STRICT;"
	"CREATE INDEX notifications_by_band ON notifications (address, status, id);"
	"PRAGMA user_version = 2;",
	/* 3: the MQTT outbox. A message is a row before it is published and is deleted when the broker
	 * acknowledges it, so neither a broker outage nor our own crash loses it; id order is publish order.
	 * Rows do not reference bands: a forgotten band's last messages (its removal from Home Assistant) must
	 * still go out. coalesce marks a retained state whose newer row replaces the older. */
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" topic TEXT NOT NULL CHECK (topic <> ''),"
	" payload BLOB NOT NULL,"
	" qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),"
	" retain INTEGER NOT NULL CHECK (retain IN (0, 1)),"
	" coalesce INTEGER NOT NULL CHECK (coalesce IN (0, 1)),"
	" created INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX outbox_coalesced ON outbox (topic) WHERE coalesce = 1;"
	"PRAGMA user_version = 3;",
};
G_STATIC_ASSERT(G_N_ELEMENTS(migrations) == DB_SCHEMA_VERSION);

struct db {
	sqlite3 *sqlite;
	int version;
};

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

/* Always false, so that callers can return it. */
static bool set_error(struct db *db, int rc, GError **error)
{
	const char *message = db->sqlite ? sqlite3_errmsg(db->sqlite) : sqlite3_errstr(rc);

	g_set_error_literal(error, G_IO_ERROR, io_error_code(rc), message);
	return false;
}

static bool not_managed(const char *address, GError **error)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "band %s is not managed", address);
	return false;
}

/* Addresses come from MQTT, HTTP and the config: checked here so that a bad one is an error, never a row. */
static bool normalise(const char *address, char ret[static 18], GError **error)
{
	bool ok = address && strnlen(address, 18) == 17;
	g_autofree char *head = NULL;
	g_autofree char *shown = NULL;

	for (int i = 0; ok && i < 17; i++)
		ok = i % 3 == 2 ? address[i] == ':' : g_ascii_isxdigit(address[i]);
	if (ok) {
		for (int i = 0; i < 18; i++)
			ret[i] = g_ascii_toupper(address[i]);
		return true;
	}
	head = address ? g_strndup(address, 40) : NULL;
	shown = head ? g_strescape(head, NULL) : NULL;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
	            "'%s' is not a Bluetooth address like C8:0F:10:11:22:33", shown ? shown : "");
	return false;
}

/* ---- statements ---- */

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
/* Expands to the two parameters args, n of query(). */
#define ARGS(...) (const struct arg[]){ __VA_ARGS__ }, G_N_ELEMENTS(((const struct arg[]){ __VA_ARGS__ }))
#define NO_ARGS NULL, 0

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

/* Prepares sql and binds args to ?1, ?2, ... in order. */
static sqlite3_stmt *query(struct db *db, const char *sql, const struct arg *args, size_t n, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db->sqlite, sql, -1, &stmt, NULL);

	for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
		rc = bind(stmt, (int)i + 1, &args[i]);
	if (rc != SQLITE_OK) {
		set_error(db, rc, error);
		sqlite3_finalize(stmt);
		return NULL;
	}
	return stmt;
}

/* SQLITE_ROW or SQLITE_DONE; any failure is set in error and returned as SQLITE_ERROR. */
static int step(struct db *db, sqlite3_stmt *stmt, GError **error)
{
	int rc = stmt ? sqlite3_step(stmt) : SQLITE_ERROR;

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	if (stmt)
		set_error(db, rc, error);
	return SQLITE_ERROR;
}

/* Runs a statement to its end. SQLite's text for a constraint names columns; where the caller knows what
 * the conflict means to a person (explain), that is the message instead, with the code kept. */
static bool run(struct db *db, sqlite3_stmt *stmt, const char *explain, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!stmt)
		return false;
	if (step(db, stmt, &local) != SQLITE_ERROR)
		return true;
	if (explain && (local->code == G_IO_ERROR_EXISTS || local->code == G_IO_ERROR_NOT_FOUND))
		g_set_error_literal(error, G_IO_ERROR, local->code, explain);
	else
		g_propagate_error(error, g_steal_pointer(&local));
	return false;
}

/* For the single value of a PRAGMA or count(*). */
static bool query_int(struct db *db, const char *sql, int64_t *ret, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = query(db, sql, NO_ARGS, error);
	int rc = step(db, stmt, error);

	if (rc == SQLITE_DONE)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "no result from \"%s\"", sql);
	if (rc != SQLITE_ROW)
		return false;
	*ret = sqlite3_column_int64(stmt, 0);
	return true;
}

/* A script of constant statements without parameters: transactions, pragmas, migration steps. */
static bool exec(struct db *db, const char *sql, GError **error)
{
	int rc = sqlite3_exec(db->sqlite, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK || set_error(db, rc, error);
}

typedef void *(*row_reader)(sqlite3_stmt *stmt);

/* Every row of stmt through read, into an array that frees them with free_func. */
static GPtrArray *collect(struct db *db, sqlite3_stmt *stmt, row_reader read, GDestroyNotify free_func,
                          GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(free_func);
	int rc;

	while ((rc = step(db, stmt, error)) == SQLITE_ROW)
		g_ptr_array_add(rows, read(stmt));
	return rc == SQLITE_DONE ? g_steal_pointer(&rows) : NULL;
}

static char *column_strdup(sqlite3_stmt *stmt, int column)
{
	return g_strdup((const char *)sqlite3_column_text(stmt, column));
}

static void column_copy(sqlite3_stmt *stmt, int column, char *ret, size_t size)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);

	g_strlcpy(ret, text ? text : "", size);
}

/* ---- checks of arguments and transactions ---- */

/* Always false, so that callers can return it. */
static bool invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);
static bool invalid(GError **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_propagate_error(error, g_error_new_valist(G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, format, ap));
	va_end(ap);
	return false;
}

static bool check_range(int64_t value, int64_t min, int64_t max, const char *what, GError **error)
{
	if (value >= min && value <= max)
		return true;
	if (max == INT64_MAX)
		return invalid(error, "%s %" PRId64 " is negative", what, value);
	return invalid(error, "%s %" PRId64 " is not in %" PRId64 "..%" PRId64, what, value, min, max);
}

static bool check_time(int64_t when, GError **error)
{
	return check_range(when, 0, INT64_MAX, "the time", error);
}

static bool check_text(const char *text, const char *what, GError **error)
{
	return (text && *text) || invalid(error, "%s must not be empty", what);
}

/* BEGIN IMMEDIATE takes the write lock at once: a transaction that reads first and writes later could
 * otherwise fail half-way with SQLITE_BUSY when another writer holds it. */
static bool begin(struct db *db, GError **error)
{
	return exec(db, "BEGIN IMMEDIATE", error);
}

/* Commits when ok, rolls back otherwise; returns whether the transaction landed. */
static bool finish(struct db *db, bool ok, GError **error)
{
	ok = ok && exec(db, "COMMIT", error);
	if (!ok)
		sqlite3_exec(db->sqlite, "ROLLBACK", NULL, NULL, NULL);
	return ok;
}

/* ---- opening ---- */

static bool set_errno_error(int errsv, const char *what, GError **error)
{
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv), "%s: %s", what, g_strerror(errsv));
	return false;
}

/* Creates the file before SQLite does, which would make it 0644: the band keys in it are secrets. SQLite then
 * gives the -wal and -shm files, where the keys also pass, the mode of the database file. */
static bool create_file(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd;

	if (g_mkdir_with_parents(dir, 0700) < 0)
		return set_errno_error(errno, "cannot create its directory", error);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return set_errno_error(errno, "cannot create it", error);
	if (fd >= 0)
		close(fd);
	return true;
}

static bool connect_file(struct db *db, const char *path, GError **error)
{
	int rc = sqlite3_open_v2(path, &db->sqlite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);

	if (rc != SQLITE_OK)
		return set_error(db, rc, error);
	/* SQLite quietly falls back to read-only when it may not write; we would fail later, on a band's key. */
	if (sqlite3_db_readonly(db->sqlite, "main") == 1) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY,
		                    "the database is read-only: bandgate must write it (check its owner and mode)");
		return false;
	}
	sqlite3_busy_timeout(db->sqlite, DB_BUSY_TIMEOUT_MS);
	sqlite3_db_config(db->sqlite, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	/* Until the file is known to be ours and not too new, closing must not checkpoint a WAL that another
	 * program left into it: a refused file is left as it was. */
	sqlite3_db_config(db->sqlite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	return true;
}

/* Reads, never writes: the file is either empty, or bandgate's at a version this code knows. */
static bool check_file(struct db *db, GError **error)
{
	int64_t app, version, objects;

	if (!query_int(db, "PRAGMA application_id", &app, error) ||
	    !query_int(db, "PRAGMA user_version", &version, error) ||
	    !query_int(db, "SELECT count(*) FROM sqlite_schema", &objects, error))
		return false;
	if (app != DB_APPLICATION_ID && (app != 0 || objects != 0)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		                    "this SQLite database is not bandgate's: refusing to touch it");
		return false;
	}
	if (version < 0 || version > DB_SCHEMA_VERSION) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
		            "the database has schema version %" G_GINT64_FORMAT ", newer than this bandgate knows (%d): "
		            "refusing to touch it; run a newer bandgate or restore a backup", version, DB_SCHEMA_VERSION);
		return false;
	}
	db->version = (int)version;
	return true;
}

/* synchronous = FULL although WAL makes NORMAL safe from corruption: NORMAL may lose the last commits to a
 * power cut, and a lost key means the wearer must tap the band through a new pairing. */
static bool configure(struct db *db, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = query(db, "PRAGMA journal_mode = WAL", NO_ARGS, error);
	const char *mode;

	if (step(db, stmt, error) != SQLITE_ROW)
		return false;
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || g_ascii_strcasecmp(mode, "wal") != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "cannot use a write-ahead log (journal mode %s)",
		            mode ? mode : "unknown");
		return false;
	}
	return exec(db, "PRAGMA synchronous = FULL", error);
}

/* The step to version from + 1 and its checks, inside the caller's transaction. */
static bool apply_step(struct db *db, int from, GError **error)
{
	int64_t version, violations;

	if (!exec(db, migrations[from], error) || !query_int(db, "PRAGMA user_version", &version, error) ||
	    !query_int(db, "SELECT count(*) FROM pragma_foreign_key_check", &violations, error))
		return false;
	if (version != from + 1 || violations != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the step left version %" G_GINT64_FORMAT
		            " and %" G_GINT64_FORMAT " broken references", version, violations);
		return false;
	}
	return true;
}

/* One version in one transaction. The version is read again under the write lock: if another process
 * migrated meanwhile, we stop rather than apply a step twice. */
static bool migrate_step(struct db *db, GError **error)
{
	int64_t version = -1;
	bool ok = exec(db, "BEGIN IMMEDIATE", error) && query_int(db, "PRAGMA user_version", &version, error);

	if (ok && version != db->version) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BUSY,
		                    "the database changed while opening it (is another bandgate running?)");
		ok = false;
	}
	ok = ok && apply_step(db, db->version, error) && exec(db, "COMMIT", error);
	if (!ok) {
		g_prefix_error(error, "migrating to schema version %d: ", db->version + 1);
		sqlite3_exec(db->sqlite, "ROLLBACK", NULL, NULL, NULL);
		return false;
	}
	db->version++;
	return true;
}

/* Foreign keys stay off while migrating, because SQLite's way to change a table (create the new one, copy,
 * drop the old, rename) would otherwise cascade the DROP of bands into every table that references it. Each
 * step checks the references itself before it commits. */
static bool migrate(struct db *db, GError **error)
{
	int64_t on = 0;

	while (db->version < DB_SCHEMA_VERSION)
		if (!migrate_step(db, error))
			return false;
	if (!exec(db, "PRAGMA foreign_keys = ON", error) || !query_int(db, "PRAGMA foreign_keys", &on, error))
		return false;
	if (on != 1) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
		                    "this SQLite has no foreign keys, which moving and forgetting bands rely on");
		return false;
	}
	sqlite3_db_config(db->sqlite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	return true;
}

struct db *db_open(const char *path, GError **error)
{
	struct db *db = g_new0(struct db, 1);

	if (!path || !*path) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no database path");
		db_free(db);
		return NULL;
	}
	if (!create_file(path, error) || !connect_file(db, path, error) || !check_file(db, error) ||
	    !configure(db, error) || !migrate(db, error)) {
		g_prefix_error(error, "%s: ", path);
		db_free(db);
		return NULL;
	}
	return db;
}

static bool connect_readonly(struct db *db, const char *path, GError **error)
{
	int rc;

	/* SQLite's "unable to open database file" does not say why; the file must exist, we never create it. */
	if (access(path, R_OK) < 0)
		return set_errno_error(errno, "cannot read it", error);
	rc = sqlite3_open_v2(path, &db->sqlite, SQLITE_OPEN_READONLY | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK)
		return set_error(db, rc, error);
	sqlite3_busy_timeout(db->sqlite, DB_BUSY_TIMEOUT_MS);
	sqlite3_db_config(db->sqlite, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	return exec(db, "PRAGMA query_only = ON", error);
}

/* A reader cannot migrate, and reading an older schema with this code's queries would fail query by query. */
static bool check_current(const struct db *db, GError **error)
{
	if (db->version == DB_SCHEMA_VERSION)
		return true;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
	            "the database has schema version %d and this bandgate reads only version %d: start the bandgate "
	            "daemon once to migrate it, then read it again", db->version, DB_SCHEMA_VERSION);
	return false;
}

struct db *db_open_readonly(const char *path, GError **error)
{
	struct db *db = g_new0(struct db, 1);

	if (!path || !*path) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no database path");
		db_free(db);
		return NULL;
	}
	if (!connect_readonly(db, path, error) || !check_file(db, error) || !check_current(db, error)) {
		g_prefix_error(error, "%s: ", path);
		db_free(db);
		return NULL;
	}
	return db;
}

void db_free(struct db *db)
{
	if (!db)
		return;
	/* Only a statement we forgot to finalize makes this fail: a bug worth a line in the log. */
	if (sqlite3_close(db->sqlite) != SQLITE_OK)
		g_warning("database: %s", sqlite3_errmsg(db->sqlite));
	g_free(db);
}

int db_schema_version(const struct db *db)
{
	return db->version;
}

/* ---- bands ---- */

#define BAND_COLUMNS "address, key, name, firmware, added, last_connected"

void db_band_clear(struct db_band *band)
{
	g_free(band->name);
	g_free(band->firmware);
	/* The key is a secret: do not leave it in freed memory. */
	explicit_bzero(band, sizeof(*band));
}

static void band_free(gpointer band)
{
	db_band_clear(band);
	g_free(band);
}

static void read_band(sqlite3_stmt *stmt, struct db_band *ret)
{
	const void *key = sqlite3_column_blob(stmt, 1);

	column_copy(stmt, 0, ret->address, sizeof(ret->address));
	ret->has_key = key && sqlite3_column_bytes(stmt, 1) == DB_KEY_SIZE;
	if (ret->has_key)
		memcpy(ret->key, key, DB_KEY_SIZE);
	ret->name = column_strdup(stmt, 2);
	ret->firmware = column_strdup(stmt, 3);
	ret->added = sqlite3_column_int64(stmt, 4);
	ret->last_connected = sqlite3_column_int64(stmt, 5);
}

static void *read_band_row(sqlite3_stmt *stmt)
{
	struct db_band *band = g_new0(struct db_band, 1);

	read_band(stmt, band);
	return band;
}

bool db_band_add(struct db *db, const char *address, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error))
		return false;
	stmt = query(db, "INSERT INTO bands (address, added) VALUES (?1, ?2) ON CONFLICT (address) DO NOTHING",
	             ARGS(ARG_TEXT(addr), ARG_INT(g_get_real_time() / G_USEC_PER_SEC)), error);
	return run(db, stmt, NULL, error);
}

bool db_band_get(struct db *db, const char *address, struct db_band *ret, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	*ret = (struct db_band){ 0 };
	if (!normalise(address, addr, error))
		return false;
	stmt = query(db, "SELECT " BAND_COLUMNS " FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)), error);
	rc = step(db, stmt, error);
	if (rc == SQLITE_DONE)
		return not_managed(addr, error);
	if (rc == SQLITE_ROW)
		read_band(stmt, ret);
	return rc == SQLITE_ROW;
}

GPtrArray *db_band_list(struct db *db, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = query(db, "SELECT " BAND_COLUMNS " FROM bands ORDER BY address", NO_ARGS,
	                                     error);

	return stmt ? collect(db, stmt, read_band_row, band_free, error) : NULL;
}

/* sql is an UPDATE of one band's row with value as ?1 and the address as ?2. */
static bool set_column(struct db *db, const char *address, const char *sql, struct arg value, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error))
		return false;
	stmt = query(db, sql, ARGS(value, ARG_TEXT(addr)), error);
	if (!run(db, stmt, NULL, error))
		return false;
	return sqlite3_changes(db->sqlite) > 0 || not_managed(addr, error);
}

bool db_band_set_key(struct db *db, const char *address, const uint8_t key[DB_KEY_SIZE], GError **error)
{
	g_return_val_if_fail(key != NULL, false);
	return set_column(db, address, "UPDATE bands SET key = ?1 WHERE address = ?2", ARG_BLOB(key, DB_KEY_SIZE),
	                  error);
}

bool db_band_clear_key(struct db *db, const char *address, GError **error)
{
	return set_column(db, address, "UPDATE bands SET key = ?1 WHERE address = ?2", ARG_BLOB(NULL, 0), error);
}

bool db_band_set_name(struct db *db, const char *address, const char *name, GError **error)
{
	return set_column(db, address, "UPDATE bands SET name = ?1 WHERE address = ?2", ARG_TEXT(name), error);
}

bool db_band_set_firmware(struct db *db, const char *address, const char *firmware, GError **error)
{
	return set_column(db, address, "UPDATE bands SET firmware = ?1 WHERE address = ?2", ARG_TEXT(firmware),
	                  error);
}

bool db_band_set_connected(struct db *db, const char *address, int64_t when, GError **error)
{
	return set_column(db, address, "UPDATE bands SET last_connected = ?1 WHERE address = ?2", ARG_INT(when),
	                  error);
}

static bool band_exists(struct db *db, const char *addr, bool *ret, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = query(db, "SELECT 1 FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)),
	                                     error);
	int rc = step(db, stmt, error);

	*ret = rc == SQLITE_ROW;
	return rc != SQLITE_ERROR;
}

/* One UPDATE of the primary key: the cascade carries every row that references the band in the same
 * statement. When the band is already at new_address (the move was done before), there is nothing to do. */
bool db_band_move(struct db *db, const char *old_address, const char *new_address, GError **error)
{
	char from[18], to[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autofree char *explain = NULL;
	bool done;

	if (!normalise(old_address, from, error) || !normalise(new_address, to, error))
		return false;
	explain = g_strdup_printf("cannot move band %s to %s: that address is already managed", from, to);
	stmt = query(db, "UPDATE bands SET address = ?2 WHERE address = ?1", ARGS(ARG_TEXT(from), ARG_TEXT(to)),
	             error);
	if (!run(db, stmt, explain, error))
		return false;
	if (sqlite3_changes(db->sqlite) > 0)
		return true;
	if (!band_exists(db, to, &done, error))
		return false;
	return done || not_managed(from, error);
}

bool db_band_forget(struct db *db, const char *address, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error))
		return false;
	stmt = query(db, "DELETE FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)), error);
	return run(db, stmt, NULL, error);
}

/* ---- events ---- */

#define EVENT_COLUMNS "id, time, address, type, detail"

static void event_free(gpointer p)
{
	struct db_event *event = p;

	g_free(event->type);
	g_free(event->detail);
	g_free(event);
}

static void *read_event_row(sqlite3_stmt *stmt)
{
	struct db_event *event = g_new0(struct db_event, 1);

	event->id = sqlite3_column_int64(stmt, 0);
	event->when = sqlite3_column_int64(stmt, 1);
	column_copy(stmt, 2, event->address, sizeof(event->address));
	event->type = column_strdup(stmt, 3);
	event->detail = column_strdup(stmt, 4);
	return event;
}

bool db_event_add(struct db *db, const char *address, int64_t when, const char *type, const char *detail,
                  GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autofree char *explain = NULL;

	if (address && !normalise(address, addr, error))
		return false;
	if (!type || !*type) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "an event needs a type");
		return false;
	}
	explain = address ? g_strdup_printf("band %s is not managed", addr) : NULL;
	stmt = query(db, "INSERT INTO events (address, time, type, detail) VALUES (?1, ?2, ?3, ?4)",
	             ARGS(ARG_TEXT(address ? addr : NULL), ARG_INT(when), ARG_TEXT(type), ARG_TEXT(detail)), error);
	return run(db, stmt, explain, error);
}

GPtrArray *db_event_list(struct db *db, const char *address, int64_t since, unsigned limit, GError **error)
{
	/* SQLite reads a negative LIMIT as none. The id breaks ties between events of the same second. */
	int64_t max = limit ? (int64_t)limit : -1;
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (address && !normalise(address, addr, error))
		return NULL;
	if (address)
		stmt = query(db, "SELECT " EVENT_COLUMNS " FROM events WHERE address = ?3 AND time >= ?1"
		             " ORDER BY time DESC, id DESC LIMIT ?2", ARGS(ARG_INT(since), ARG_INT(max), ARG_TEXT(addr)),
		             error);
	else
		stmt = query(db, "SELECT " EVENT_COLUMNS " FROM events WHERE time >= ?1 ORDER BY time DESC, id DESC LIMIT ?2",
		             ARGS(ARG_INT(since), ARG_INT(max)), error);
	return stmt ? collect(db, stmt, read_event_row, event_free, error) : NULL;
}

/* ---- helpers for the tables that belong to a band ---- */

static bool check_managed(struct db *db, const char *addr, GError **error)
{
	bool managed;

	if (!band_exists(db, addr, &managed, error))
		return false;
	return managed || not_managed(addr, error);
}

/* Runs an INSERT into a table that references bands: a missing band is "not managed", not a constraint.
 * Nothing is allocated unless it fails: this runs once per sample of a history batch. */
static bool run_for_band(struct db *db, const char *addr, sqlite3_stmt *stmt, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (run(db, stmt, NULL, &local))
		return true;
	if (local->code == G_IO_ERROR_NOT_FOUND)
		return not_managed(addr, error);
	g_propagate_error(error, g_steal_pointer(&local));
	return false;
}

typedef void (*struct_reader)(sqlite3_stmt *stmt, void *ret);

/* Every row of stmt through read, into an array of structs of size bytes, zeroed before each read. */
static GArray *collect_structs(struct db *db, sqlite3_stmt *stmt, size_t size, struct_reader read, GError **error)
{
	g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, (guint)size);
	int rc;

	while ((rc = step(db, stmt, error)) == SQLITE_ROW) {
		g_array_set_size(rows, rows->len + 1);
		read(stmt, rows->data + (size_t)(rows->len - 1) * size);
	}
	return rc == SQLITE_DONE ? g_steal_pointer(&rows) : NULL;
}

/* ---- activity history ---- */

static bool check_samples(const struct db_sample *samples, size_t n, int64_t cursor, GError **error)
{
	if (n > 0 && !samples)
		return invalid(error, "no samples given for a count of %zu", n);
	for (size_t i = 0; i < n; i++) {
		if (samples[i].minute < 0 || samples[i].minute % 60 != 0)
			return invalid(error, "sample %zu: %" PRId64 " is not the start of a minute", i, samples[i].minute);
		if (!check_range(samples[i].tz, DB_TZ_MIN, DB_TZ_MAX, "the time zone (quarter hours)", error)) {
			g_prefix_error(error, "sample %zu: ", i);
			return false;
		}
	}
	return check_range(cursor, 0, INT64_MAX, "the sync cursor", error);
}

static void bind_sample(sqlite3_stmt *stmt, const struct db_sample *sample)
{
	/* Binding an integer to a parameter the statement has cannot fail. */
	sqlite3_bind_int64(stmt, 2, sample->minute);
	sqlite3_bind_int(stmt, 3, sample->tz);
	sqlite3_bind_int(stmt, 4, sample->kind);
	sqlite3_bind_int(stmt, 5, sample->intensity);
	sqlite3_bind_int(stmt, 6, sample->steps);
	if (sample->heart_rate == DB_HR_NONE)
		sqlite3_bind_null(stmt, 7);
	else
		sqlite3_bind_int(stmt, 7, sample->heart_rate);
}

/* One statement for the whole batch, reset between rows: a history round brings up to a day of minutes. A
 * minute stored again replaces its row. The upsert does what INSERT OR REPLACE would, a quarter faster on
 * large batches (tests/bench/bench-db.c): with foreign keys on, REPLACE deletes and re-inserts the row. */
static bool insert_samples(struct db *db, const char *addr, const struct db_sample *samples, size_t n,
                           GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (n == 0)
		return true;
	stmt = query(db, "INSERT INTO activity (address, minute, tz, kind, intensity, steps, heart_rate)"
	             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (address, minute) DO UPDATE SET tz = excluded.tz,"
	             " kind = excluded.kind, intensity = excluded.intensity, steps = excluded.steps,"
	             " heart_rate = excluded.heart_rate", ARGS(ARG_TEXT(addr)), error);
	for (size_t i = 0; stmt && i < n; i++) {
		bind_sample(stmt, &samples[i]);
		if (!run_for_band(db, addr, stmt, error))
			return false;
		sqlite3_reset(stmt);
	}
	return stmt != NULL;
}

bool db_activity_store(struct db *db, const char *address, const struct db_sample *samples, size_t n,
                       int64_t cursor, GError **error)
{
	char addr[18];
	bool ok;

	if (!normalise(address, addr, error) || !check_samples(samples, n, cursor, error) || !begin(db, error))
		return false;
	ok = insert_samples(db, addr, samples, n, error) &&
	     set_column(db, addr, "UPDATE bands SET sync_cursor = ?1 WHERE address = ?2", ARG_INT(cursor), error);
	return finish(db, ok, error);
}

bool db_sync_get(struct db *db, const char *address, int64_t *ret_cursor, int64_t *ret_last_sync, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	if (!normalise(address, addr, error))
		return false;
	stmt = query(db, "SELECT sync_cursor, last_sync FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)), error);
	rc = step(db, stmt, error);
	if (rc == SQLITE_DONE)
		return not_managed(addr, error);
	if (rc != SQLITE_ROW)
		return false;
	if (ret_cursor)
		*ret_cursor = sqlite3_column_int64(stmt, 0);
	if (ret_last_sync)
		*ret_last_sync = sqlite3_column_int64(stmt, 1);
	return true;
}

bool db_sync_done(struct db *db, const char *address, int64_t when, GError **error)
{
	return check_time(when, error) &&
	       set_column(db, address, "UPDATE bands SET last_sync = ?1 WHERE address = ?2", ARG_INT(when), error);
}

static void read_sample(sqlite3_stmt *stmt, void *p)
{
	struct db_sample *sample = p;

	sample->minute = sqlite3_column_int64(stmt, 0);
	sample->tz = (int8_t)sqlite3_column_int(stmt, 1);
	sample->kind = (uint8_t)sqlite3_column_int(stmt, 2);
	sample->intensity = (uint8_t)sqlite3_column_int(stmt, 3);
	sample->steps = (uint8_t)sqlite3_column_int(stmt, 4);
	sample->heart_rate = sqlite3_column_type(stmt, 5) == SQLITE_NULL ? DB_HR_NONE :
	                     (uint8_t)sqlite3_column_int(stmt, 5);
}

/* sql selects the rows of band ?1 between ?2 and ?3; an unmanaged band is NOT_FOUND, not an empty answer. */
static GArray *band_range(struct db *db, const char *address, int64_t from, int64_t to, const char *sql,
                          size_t size, struct_reader read, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error) || !check_managed(db, addr, error))
		return NULL;
	stmt = query(db, sql, ARGS(ARG_TEXT(addr), ARG_INT(from), ARG_INT(to)), error);
	return stmt ? collect_structs(db, stmt, size, read, error) : NULL;
}

GArray *db_activity_range(struct db *db, const char *address, int64_t from, int64_t to, GError **error)
{
	return band_range(db, address, from, to,
	                  "SELECT minute, tz, kind, intensity, steps, heart_rate FROM activity"
	                  " WHERE address = ?1 AND minute >= ?2 AND minute < ?3 ORDER BY minute",
	                  sizeof(struct db_sample), read_sample, error);
}

static void read_day(sqlite3_stmt *stmt, void *p)
{
	struct db_day *day = p;

	column_copy(stmt, 0, day->day, sizeof(day->day));
	day->steps = sqlite3_column_int64(stmt, 1);
	day->minutes = sqlite3_column_int(stmt, 2);
	day->hr_min = sqlite3_column_int(stmt, 3);  /* NULL, when no minute was measured, reads as 0 */
	day->hr_max = sqlite3_column_int(stmt, 4);
	day->hr_avg = sqlite3_column_int(stmt, 5);
}

/* The band's local day of a minute is the UTC date of minute + tz quarter hours. A heart rate of 0 is not a
 * measurement either (the band says "none" with 0xff, stored as NULL, but 0 is no pulse anyone has). */
GArray *db_activity_daily(struct db *db, const char *address, int64_t from, int64_t to, GError **error)
{
	return band_range(db, address, from, to,
	                  "SELECT date(minute + tz * 900, 'unixepoch') AS day, sum(steps), count(*), min(hr), max(hr),"
	                  " CAST(round(avg(hr)) AS INTEGER)"
	                  " FROM (SELECT minute, tz, steps, nullif(heart_rate, 0) AS hr FROM activity"
	                  "       WHERE address = ?1 AND minute >= ?2 AND minute < ?3)"
	                  " GROUP BY day ORDER BY day",
	                  sizeof(struct db_day), read_day, error);
}

/* ---- live values ---- */

/* "YYYY-MM-DD" and a real date: the band's own clock is the source and may be garbage. */
static bool check_day(const char *day, GError **error)
{
	bool ok = day && strnlen(day, 11) == 10 && day[4] == '-' && day[7] == '-';

	for (int i = 0; ok && i < 10; i++)
		ok = i == 4 || i == 7 || g_ascii_isdigit(day[i]);
	ok = ok && g_date_valid_dmy((GDateDay)atoi(day + 8), (GDateMonth)atoi(day + 5), (GDateYear)atoi(day));
	return ok || invalid(error, "'%.10s' is not a date like 2024-03-31", day ? day : "");
}

static bool check_totals(const struct db_totals *totals, GError **error)
{
	if (!totals)
		return invalid(error, "no totals given");
	return check_day(totals->day, error) && check_range(totals->steps, 0, INT64_MAX, "the steps", error) &&
	       check_range(totals->meters, 0, INT64_MAX, "the meters", error) &&
	       check_range(totals->calories, 0, INT64_MAX, "the calories", error) && check_time(totals->updated, error);
}

bool db_totals_store(struct db *db, const char *address, const struct db_totals *totals, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error) || !check_totals(totals, error))
		return false;
	stmt = query(db, "INSERT INTO daily_totals (address, day, steps, meters, calories, updated)"
	             " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (address, day) DO UPDATE SET"
	             " steps = max(steps, excluded.steps), meters = max(meters, excluded.meters),"
	             " calories = max(calories, excluded.calories), updated = max(updated, excluded.updated)",
	             ARGS(ARG_TEXT(addr), ARG_TEXT(totals->day), ARG_INT(totals->steps), ARG_INT(totals->meters),
	                  ARG_INT(totals->calories), ARG_INT(totals->updated)), error);
	return run_for_band(db, addr, stmt, error);
}

bool db_totals_get(struct db *db, const char *address, const char *day, struct db_totals *ret, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	*ret = (struct db_totals){ 0 };
	if (!normalise(address, addr, error) || !check_day(day, error))
		return false;
	stmt = query(db, "SELECT steps, meters, calories, updated FROM daily_totals WHERE address = ?1 AND day = ?2",
	             ARGS(ARG_TEXT(addr), ARG_TEXT(day)), error);
	rc = step(db, stmt, error);
	if (rc == SQLITE_DONE)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no totals of band %s for %s", addr, day);
	if (rc != SQLITE_ROW)
		return false;
	g_strlcpy(ret->day, day, sizeof(ret->day));
	ret->steps = sqlite3_column_int64(stmt, 0);
	ret->meters = sqlite3_column_int64(stmt, 1);
	ret->calories = sqlite3_column_int64(stmt, 2);
	ret->updated = sqlite3_column_int64(stmt, 3);
	return true;
}

bool db_battery_add(struct db *db, const char *address, int64_t when, int level, bool charging, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error) || !check_time(when, error) ||
	    !check_range(level, 0, 100, "the battery level", error))
		return false;
	stmt = query(db, "INSERT INTO battery (address, time, level, charging) VALUES (?1, ?2, ?3, ?4)",
	             ARGS(ARG_TEXT(addr), ARG_INT(when), ARG_INT(level), ARG_INT(charging)), error);
	return run_for_band(db, addr, stmt, error);
}

bool db_battery_last(struct db *db, const char *address, int64_t *ret_when, int *ret_level, bool *ret_charging,
                     GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	if (!normalise(address, addr, error))
		return false;
	stmt = query(db, "SELECT time, level, charging FROM battery WHERE address = ?1"
	             " ORDER BY time DESC, rowid DESC LIMIT 1", ARGS(ARG_TEXT(addr)), error);
	rc = step(db, stmt, error);
	if (rc == SQLITE_DONE)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no battery reading of band %s", addr);
	if (rc != SQLITE_ROW)
		return false;
	if (ret_when)
		*ret_when = sqlite3_column_int64(stmt, 0);
	if (ret_level)
		*ret_level = sqlite3_column_int(stmt, 1);
	if (ret_charging)
		*ret_charging = sqlite3_column_int(stmt, 2) != 0;
	return true;
}

bool db_heart_rate_add(struct db *db, const char *address, int64_t when, int bpm, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error) || !check_time(when, error) ||
	    !check_range(bpm, 1, 254, "the heart rate", error))
		return false;
	stmt = query(db, "INSERT INTO heart_rate (address, time, bpm) VALUES (?1, ?2, ?3)",
	             ARGS(ARG_TEXT(addr), ARG_INT(when), ARG_INT(bpm)), error);
	return run_for_band(db, addr, stmt, error);
}

/* ---- notifications ---- */

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
	column_copy(stmt, 1, ret->address, sizeof(ret->address));
	ret->source = column_strdup(stmt, 2);
	ret->kind = column_strdup(stmt, 3);
	ret->category = sqlite3_column_int(stmt, 4);
	ret->title = column_strdup(stmt, 5);
	ret->text = column_strdup(stmt, 6);
	ret->status = notify_status((const char *)sqlite3_column_text(stmt, 7));
	ret->attempts = sqlite3_column_int(stmt, 8);
	ret->created = sqlite3_column_int64(stmt, 9);
	ret->updated = sqlite3_column_int64(stmt, 10);
	ret->error = column_strdup(stmt, 11);
}

static void *read_notification_row(sqlite3_stmt *stmt)
{
	struct db_notification *n = g_new0(struct db_notification, 1);

	read_notification(stmt, n);
	return n;
}

static bool check_notification(const char *source, const char *kind, int category, int64_t when, GError **error)
{
	if (!check_text(source, "a notification's source", error) || !check_time(when, error) ||
	    !check_range(category, 0, 255, "the alert category", error))
		return false;
	if (g_strcmp0(kind, "text") != 0 && g_strcmp0(kind, "vibrate") != 0 && g_strcmp0(kind, "find") != 0)
		return invalid(error, "a notification's kind is \"text\", \"vibrate\" or \"find\", not \"%s\"",
		               kind ? kind : "(none)");
	return true;
}

bool db_notify_add(struct db *db, const char *address, const char *source, const char *kind, int category,
                   const char *title, const char *text, int64_t when, int64_t *ret_id, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error) || !check_notification(source, kind, category, when, error))
		return false;
	stmt = query(db, "INSERT INTO notifications (address, source, kind, category, title, text, status, attempts,"
	             " created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7)",
	             ARGS(ARG_TEXT(addr), ARG_TEXT(source), ARG_TEXT(kind), ARG_INT(category), ARG_TEXT(title),
	                  ARG_TEXT(text), ARG_INT(when)), error);
	if (!run_for_band(db, addr, stmt, error))
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
		return invalid(error, "%d is not a notification status", (int)status);
	if (!check_time(when, error))
		return false;
	stmt = query(db, "UPDATE notifications SET attempts = attempts + 1, status = ?2, updated = ?3, error = ?4"
	             " WHERE id = ?1", ARGS(ARG_INT(id), ARG_TEXT(name), ARG_INT(when), ARG_TEXT(error_text)), error);
	if (!run(db, stmt, NULL, error))
		return false;
	if (sqlite3_changes(db->sqlite) > 0)
		return true;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no notification %" PRId64, id);
	return false;
}

GPtrArray *db_notify_queued(struct db *db, const char *address, GError **error)
{
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!normalise(address, addr, error) || !check_managed(db, addr, error))
		return NULL;
	stmt = query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE address = ?1 AND status = 'queued'"
	             " ORDER BY id", ARGS(ARG_TEXT(addr)), error);
	return stmt ? collect(db, stmt, read_notification_row, notification_free, error) : NULL;
}

GPtrArray *db_notify_list(struct db *db, const char *address, unsigned limit, GError **error)
{
	int64_t max = limit ? (int64_t)limit : -1;  /* SQLite reads a negative LIMIT as none */
	char addr[18];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (address && (!normalise(address, addr, error) || !check_managed(db, addr, error)))
		return NULL;
	if (address)
		stmt = query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE address = ?2 ORDER BY id DESC LIMIT ?1",
		             ARGS(ARG_INT(max), ARG_TEXT(addr)), error);
	else
		stmt = query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications ORDER BY id DESC LIMIT ?1",
		             ARGS(ARG_INT(max)), error);
	return stmt ? collect(db, stmt, read_notification_row, notification_free, error) : NULL;
}

bool db_notify_get(struct db *db, int64_t id, struct db_notification *ret, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	*ret = (struct db_notification){ 0 };
	stmt = query(db, "SELECT " NOTIFY_COLUMNS " FROM notifications WHERE id = ?1", ARGS(ARG_INT(id)), error);
	rc = step(db, stmt, error);
	if (rc == SQLITE_DONE)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no notification %" PRId64, id);
	if (rc == SQLITE_ROW)
		read_notification(stmt, ret);
	return rc == SQLITE_ROW;
}

/* ---- retention ---- */

/* Each deletes the rows older than ?1. "address IN bands" lets SQLite walk each band's (address, time) key
 * instead of scanning every row of the largest tables. */
static const char *const prune_statements[] = {
	"DELETE FROM activity WHERE address IN (SELECT address FROM bands) AND minute < ?1",
	"DELETE FROM heart_rate WHERE address IN (SELECT address FROM bands) AND time < ?1",
	"DELETE FROM battery WHERE address IN (SELECT address FROM bands) AND time < ?1",
	"DELETE FROM daily_totals WHERE updated < ?1",
	"DELETE FROM events WHERE time < ?1",
	"DELETE FROM notifications WHERE status <> 'queued' AND updated < ?1",
};

static bool prune(struct db *db, int64_t before, int64_t *ret_deleted, GError **error)
{
	for (size_t i = 0; i < G_N_ELEMENTS(prune_statements); i++) {
		g_autoptr(sqlite3_stmt) stmt = query(db, prune_statements[i], ARGS(ARG_INT(before)), error);

		if (!run(db, stmt, NULL, error))
			return false;
		*ret_deleted += sqlite3_changes64(db->sqlite);
	}
	return true;
}

bool db_prune(struct db *db, int64_t before, int64_t *ret_deleted, GError **error)
{
	int64_t deleted = 0;

	if (!begin(db, error) || !finish(db, prune(db, before, &deleted, error), error))
		return false;
	if (ret_deleted)
		*ret_deleted = deleted;
	return true;
}

/* ---- the MQTT outbox ---- */

static bool outbox_valid(const struct db_outbox_msg *msg, GError **error)
{
	if (!msg->topic || !*msg->topic)
		return invalid(error, "an outbox message needs a topic");
	return check_range(msg->qos, 0, 2, "the QoS", error) && check_time(msg->created, error);
}

static bool outbox_insert(struct db *db, const struct db_outbox_msg *msg, GError **error)
{
	g_autoptr(sqlite3_stmt) drop = NULL, insert = NULL;

	if (msg->coalesce) {
		drop = query(db, "DELETE FROM outbox WHERE coalesce = 1 AND topic = ?1", ARGS(ARG_TEXT(msg->topic)), error);
		if (!run(db, drop, NULL, error))
			return false;
	}
	insert = query(db, "INSERT INTO outbox (topic, payload, qos, retain, coalesce, created) "
	               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	               ARGS(ARG_TEXT(msg->topic), ARG_BLOB(msg->payload ? msg->payload : "", msg->len),
	                    ARG_INT(msg->qos), ARG_INT(msg->retain), ARG_INT(msg->coalesce), ARG_INT(msg->created)),
	               error);
	return run(db, insert, NULL, error);
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
	if (!query_int(db, "SELECT coalesce(max(id) - min(id) + 1, 0) FROM outbox", &span, error))
		return false;
	if (span <= limit)
		return true;
	trim = query(db, "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE coalesce = 0 ORDER BY id "
	             "LIMIT max(0, (SELECT count(*) FROM outbox) - ?1))", ARGS(ARG_INT(limit)), error);
	if (!run(db, trim, NULL, error))
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
	if (!begin(db, error))
		return false;
	for (size_t i = 0; i < n && ok; i++)
		ok = outbox_insert(db, &msgs[i], error);
	id = sqlite3_last_insert_rowid(db->sqlite);
	if (!finish(db, ok && outbox_trim(db, limit, &dropped, error), error))
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
	m->topic = column_strdup(stmt, 1);
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
	g_autoptr(sqlite3_stmt) stmt = query(db, "SELECT id, topic, payload, qos, retain, coalesce, created FROM outbox "
	                                     "WHERE id > ?1 ORDER BY id LIMIT ?2",
	                                     ARGS(ARG_INT(after), ARG_INT(max ? (int64_t)max : -1)), error);

	return stmt ? collect(db, stmt, read_outbox_row, outbox_msg_free, error) : NULL;
}

bool db_outbox_delete(struct db *db, int64_t id, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = query(db, "DELETE FROM outbox WHERE id = ?1", ARGS(ARG_INT(id)), error);

	return run(db, stmt, NULL, error);
}

bool db_outbox_delete_many(struct db *db, const int64_t *ids, size_t n, GError **error)
{
	bool ok = true;

	if (!n)
		return true;
	if (!begin(db, error))
		return false;
	for (size_t i = 0; i < n && ok; i++)
		ok = db_outbox_delete(db, ids[i], error);
	return finish(db, ok, error);
}

bool db_outbox_count(struct db *db, int64_t *ret, GError **error)
{
	return query_int(db, "SELECT count(*) FROM outbox", ret, error);
}
