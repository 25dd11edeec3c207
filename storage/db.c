/* The database file: opening it (read-write, creating and migrating it, or read-only), its pragmas, the schema
 * and its migrations (PRAGMA user_version), the transactions the other files write in, and closing. The
 * queries live in the files of their tables; db-private.h lists them. */
#include "db-private.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

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
		return db_set_error(db, rc, error);
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

	if (!db_query_int(db, "PRAGMA application_id", &app, error) ||
	    !db_query_int(db, "PRAGMA user_version", &version, error) ||
	    !db_query_int(db, "SELECT count(*) FROM sqlite_schema", &objects, error))
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
	g_autoptr(sqlite3_stmt) stmt = db_query(db, "PRAGMA journal_mode = WAL", NO_ARGS, error);
	const char *mode;

	if (db_step(db, stmt, error) != SQLITE_ROW)
		return false;
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || g_ascii_strcasecmp(mode, "wal") != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "cannot use a write-ahead log (journal mode %s)",
		            mode ? mode : "unknown");
		return false;
	}
	return db_exec(db, "PRAGMA synchronous = FULL", error);
}

/* The step to version from + 1 and its checks, inside the caller's transaction. */
static bool apply_step(struct db *db, int from, GError **error)
{
	int64_t version, violations;

	if (!db_exec(db, migrations[from], error) || !db_query_int(db, "PRAGMA user_version", &version, error) ||
	    !db_query_int(db, "SELECT count(*) FROM pragma_foreign_key_check", &violations, error))
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
	bool ok = db_exec(db, "BEGIN IMMEDIATE", error) && db_query_int(db, "PRAGMA user_version", &version, error);

	if (ok && version != db->version) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BUSY,
		                    "the database changed while opening it (is another bandgate running?)");
		ok = false;
	}
	ok = ok && apply_step(db, db->version, error) && db_exec(db, "COMMIT", error);
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
	if (!db_exec(db, "PRAGMA foreign_keys = ON", error) || !db_query_int(db, "PRAGMA foreign_keys", &on, error))
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
		return db_set_error(db, rc, error);
	sqlite3_busy_timeout(db->sqlite, DB_BUSY_TIMEOUT_MS);
	sqlite3_db_config(db->sqlite, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	return db_exec(db, "PRAGMA query_only = ON", error);
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

/* ---- closing ---- */

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

/* ---- transactions, which the other files write in ---- */

/* BEGIN IMMEDIATE takes the write lock at once: a transaction that reads first and writes later could
 * otherwise fail half-way with SQLITE_BUSY when another writer holds it. */
bool db_begin(struct db *db, GError **error)
{
	return db_exec(db, "BEGIN IMMEDIATE", error);
}

bool db_finish(struct db *db, bool ok, GError **error)
{
	ok = ok && db_exec(db, "COMMIT", error);
	if (!ok)
		sqlite3_exec(db->sqlite, "ROLLBACK", NULL, NULL, NULL);
	return ok;
}
