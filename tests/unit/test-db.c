/* Storage against a temporary file: creation and modes, every migration from a hand-written file of each older
 * version, files we must refuse and leave alone, and every query. SQL appears here only to build the old
 * files and to look at the result from outside. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"

#define A "C8:0F:10:11:22:33"
#define B "C8:0F:10:AA:BB:CC"
#define C "F0:00:00:00:00:01"

/* The schema as version 1 shipped, written out by hand: a later version's migration is tested by opening
 * this (and the files of the versions after it) with data in, never by trusting the new code's own path. */
#define SCHEMA_V1 \
	"CREATE TABLE bands (" \
	" address TEXT NOT NULL PRIMARY KEY CHECK (length(address) = 17 AND address = upper(address))," \
	" key BLOB CHECK (key IS NULL OR length(key) = 16)," \
	" name TEXT," \
	" firmware TEXT," \
	" added INTEGER NOT NULL," \
	" last_connected INTEGER NOT NULL DEFAULT 0" \
	") STRICT;" \
	"CREATE TABLE events (" \
	" id INTEGER PRIMARY KEY," \
	" address TEXT REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE," \
	" time INTEGER NOT NULL," \
	" type TEXT NOT NULL CHECK (type <> '')," \
	" detail TEXT" \
	") STRICT;" \
	"CREATE INDEX events_by_band ON events (address, time);" \
	"CREATE INDEX events_by_time ON events (time);" \
	"PRAGMA application_id = 1111974260;" \
	"PRAGMA user_version = 1;"

#define DATA_V1 \
	"INSERT INTO bands VALUES ('" A "', x'000102030405060708090a0b0c0d0e0f', 'left', '1.0.1.81', 100, 200);" \
	"INSERT INTO bands (address, added) VALUES ('" B "', 150);" \
	"INSERT INTO events (address, time, type, detail) VALUES ('" A "', 210, 'connected', NULL);" \
	"INSERT INTO events (address, time, type, detail) VALUES (NULL, 220, 'adapter-reset', 'watchdog');"

/* Version 2's step as it shipped, for a file of version 1. */
#define STEP_V2 \
	"ALTER TABLE bands ADD COLUMN sync_cursor INTEGER NOT NULL DEFAULT 0;" \
	"ALTER TABLE bands ADD COLUMN last_sync INTEGER NOT NULL DEFAULT 0;" \
	"CREATE TABLE activity (" \
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE," \
	" minute INTEGER NOT NULL CHECK (minute % 60 = 0)," \
	" tz INTEGER NOT NULL CHECK (tz BETWEEN -48 AND 56)," \
	" kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 255)," \
	" intensity INTEGER NOT NULL CHECK (intensity BETWEEN 0 AND 255)," \
	" steps INTEGER NOT NULL CHECK (steps BETWEEN 0 AND 255)," \
	" heart_rate INTEGER CHECK (heart_rate BETWEEN 0 AND 254)," \
	" PRIMARY KEY (address, minute)" \
	") STRICT, WITHOUT ROWID;" \
	"CREATE TABLE daily_totals (" \
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE," \
	" day TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]')," \
	" steps INTEGER NOT NULL CHECK (steps >= 0)," \
	" meters INTEGER NOT NULL CHECK (meters >= 0)," \
	" calories INTEGER NOT NULL CHECK (calories >= 0)," \
	" updated INTEGER NOT NULL," \
	" PRIMARY KEY (address, day)" \
	") STRICT, WITHOUT ROWID;" \
	"CREATE TABLE battery (" \
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE," \
	" time INTEGER NOT NULL," \
	" level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 100)," \
	" charging INTEGER NOT NULL CHECK (charging IN (0, 1))" \
	") STRICT;" \
	"CREATE INDEX battery_by_band ON battery (address, time);" \
	"CREATE TABLE heart_rate (" \
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE," \
	" time INTEGER NOT NULL," \
	" bpm INTEGER NOT NULL CHECK (bpm BETWEEN 1 AND 254)" \
	") STRICT;" \
	"CREATE INDEX heart_rate_by_band ON heart_rate (address, time);" \
	"CREATE TABLE notifications (" \
	" id INTEGER PRIMARY KEY AUTOINCREMENT," \
	" address TEXT NOT NULL REFERENCES bands (address) ON UPDATE CASCADE ON DELETE CASCADE," \
	" source TEXT NOT NULL CHECK (source <> '')," \
	" kind TEXT NOT NULL CHECK (kind IN ('text', 'vibrate', 'find'))," \
	" category INTEGER NOT NULL CHECK (category BETWEEN 0 AND 255)," \
	" title TEXT," \
	" text TEXT," \
	" status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed'))," \
	" attempts INTEGER NOT NULL CHECK (attempts >= 0)," \
	" created INTEGER NOT NULL," \
	" updated INTEGER NOT NULL," \
	" error TEXT" \
	") STRICT;" \
	"CREATE INDEX notifications_by_band ON notifications (address, status, id);" \
	"PRAGMA user_version = 2;"

#define DATA_V2 \
	"INSERT INTO activity VALUES ('" A "', 1710050400, 4, 80, 30, 12, 71);" \
	"UPDATE bands SET sync_cursor = 1710050460, last_sync = 1710050500 WHERE address = '" A "';" \
	"INSERT INTO notifications (address, source, kind, category, text, status, attempts, created, updated) " \
	"VALUES ('" A "', 'cli', 'text', 5, 'hello', 'queued', 0, 300, 300);"

static const uint8_t key_a[DB_KEY_SIZE] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

struct fixture {
	char *dir;
	char *path;  /* dir/nested/bandgate.db, its parent not yet created */
};

static void fixture_set_up(struct fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	(void)data;
	f->dir = g_dir_make_tmp("bandgate-db-XXXXXX", &error);
	g_assert_no_error(error);
	f->path = g_build_filename(f->dir, "nested", "bandgate.db", NULL);
}

static void remove_tree(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			remove_tree(child);
		else
			g_assert_cmpint(g_unlink(child), ==, 0);
	}
	if (dir)
		g_dir_close(dir);
	g_assert_cmpint(g_rmdir(path), ==, 0);
}

static void fixture_tear_down(struct fixture *f, gconstpointer data)
{
	(void)data;
	remove_tree(f->dir);
	g_free(f->path);
	g_free(f->dir);
}

/* ---- helpers: the file seen from outside ---- */

static void write_file(const char *path, const char *contents, gssize length)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	g_file_set_contents(path, contents, length, &error);
	g_assert_no_error(error);
}

static GBytes *read_bytes(const char *path)
{
	g_autoptr(GError) error = NULL;
	char *contents = NULL;
	gsize length = 0;

	g_file_get_contents(path, &contents, &length, &error);
	g_assert_no_error(error);
	return g_bytes_new_take(contents, length);
}

static void assert_same_bytes(GBytes *before, const char *path)
{
	g_autoptr(GBytes) after = read_bytes(path);

	g_assert_true(g_bytes_equal(before, after));
}

/* Runs sql on path with SQLite directly, as an older bandgate or another program would have. */
static void sql_script(const char *path, const char *sql)
{
	g_autofree char *dir = g_path_get_dirname(path);
	sqlite3 *sqlite = NULL;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	g_assert_cmpint(sqlite3_open(path, &sqlite), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(sqlite, sql, NULL, NULL, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_close(sqlite), ==, SQLITE_OK);
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *sqlite = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t value;

	g_assert_cmpint(sqlite3_open_v2(path, &sqlite, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_prepare_v2(sqlite, sql, -1, &stmt, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(sqlite);
	return value;
}

/* The schema as text, to compare a migrated file with a fresh one. */
static char *sql_schema(const char *path)
{
	GString *schema = g_string_new(NULL);
	sqlite3 *sqlite = NULL;
	sqlite3_stmt *stmt = NULL;

	g_assert_cmpint(sqlite3_open_v2(path, &sqlite, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_prepare_v2(sqlite, "SELECT type, name, sql FROM sqlite_schema ORDER BY name", -1,
	                                   &stmt, NULL), ==, SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW)
		g_string_append_printf(schema, "%s %s %s\n", sqlite3_column_text(stmt, 0), sqlite3_column_text(stmt, 1),
		                       sqlite3_column_text(stmt, 2));
	sqlite3_finalize(stmt);
	sqlite3_close(sqlite);
	return g_string_free(schema, FALSE);
}

static unsigned file_mode(const char *path)
{
	struct stat st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

static struct db *open_ok(const char *path)
{
	g_autoptr(GError) error = NULL;
	struct db *db = db_open(path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(db);
	return db;
}

/* db_open must fail with code, naming the file, and leave it byte for byte as it was. */
static void assert_refused(const char *path, int code, const char *words)
{
	g_autoptr(GBytes) before = read_bytes(path);
	g_autoptr(GError) error = NULL;
	struct db *db = db_open(path, &error);

	g_assert_null(db);
	g_assert_error(error, G_IO_ERROR, code);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_assert_nonnull(strstr(error->message, words));
	assert_same_bytes(before, path);
}

static GPtrArray *events(struct db *db, const char *address, int64_t since, unsigned limit)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *list = db_event_list(db, address, since, limit, &error);

	g_assert_no_error(error);
	g_assert_nonnull(list);
	return list;
}

static void add_event(struct db *db, const char *address, int64_t when, const char *type)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(db_event_add(db, address, when, type, NULL, &error));
	g_assert_no_error(error);
}

static void add_band(struct db *db, const char *address)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(db_band_add(db, address, &error));
	g_assert_no_error(error);
}

static void get_band(struct db *db, const char *address, struct db_band *ret)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(db_band_get(db, address, ret, &error));
	g_assert_no_error(error);
}

static void assert_absent(struct db *db, const char *address)
{
	g_autoptr(GError) error = NULL;
	struct db_band band;

	g_assert_false(db_band_get(db, address, &band, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	db_band_clear(&band);
}

/* ---- opening and migrations ---- */

static void migrated_usable(struct db *db, const char *path);

static void test_fresh(struct fixture *f, gconstpointer data)
{
	g_autofree char *parent = g_path_get_dirname(f->path);
	g_autofree char *wal = g_strconcat(f->path, "-wal", NULL);
	struct db *db;

	(void)data;
	db = open_ok(f->path);
	g_assert_cmpint(db_schema_version(db), ==, DB_SCHEMA_VERSION);
	g_assert_cmpuint(file_mode(parent), ==, 0700);
	g_assert_cmpuint(file_mode(f->path), ==, 0600);
	/* The key is written to the WAL first: it must be as private as the database. */
	add_band(db, A);
	g_assert_true(db_band_set_key(db, A, key_a, NULL));
	g_assert_cmpuint(file_mode(wal), ==, 0600);
	g_assert_cmpint(sql_int(f->path, "PRAGMA user_version"), ==, DB_SCHEMA_VERSION);
	g_assert_cmpint(sql_int(f->path, "PRAGMA application_id"), ==, 1111974260);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), ==, 1);
	db_free(db);
	db_free(NULL);
}

static void test_reopen(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	struct db_band band;
	g_autoptr(GPtrArray) list = NULL;

	(void)data;
	add_band(db, A);
	g_assert_true(db_band_set_key(db, A, key_a, NULL));
	g_assert_true(db_band_set_firmware(db, A, "1.0.1.81", NULL));
	g_assert_true(db_band_set_connected(db, A, 1700000000, NULL));
	g_assert_true(db_event_add(db, A, 1700000000, "connected", "rssi -60", NULL));
	db_free(db);

	db = open_ok(f->path);
	get_band(db, A, &band);
	g_assert_true(band.has_key);
	g_assert_cmpmem(band.key, DB_KEY_SIZE, key_a, DB_KEY_SIZE);
	g_assert_cmpstr(band.firmware, ==, "1.0.1.81");
	g_assert_null(band.name);
	g_assert_cmpint(band.last_connected, ==, 1700000000);
	list = events(db, A, 0, 0);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->detail, ==, "rssi -60");
	db_band_clear(&band);
	db_free(db);
}

static void test_future_refused(struct fixture *f, gconstpointer data)
{
	(void)data;
	sql_script(f->path, SCHEMA_V1 DATA_V1 "PRAGMA user_version = 99;");
	assert_refused(f->path, G_IO_ERROR_NOT_SUPPORTED, "newer than this bandgate knows");
	g_assert_cmpint(sql_int(f->path, "PRAGMA user_version"), ==, 99);
}

/* A newer bandgate that stopped without a checkpoint leaves its last commits in the WAL: closing our
 * connection must not fold them into the file it refused. */
static void test_future_wal_refused(struct fixture *f, gconstpointer data)
{
	g_autofree char *wal = g_strconcat(f->path, "-wal", NULL);
	g_autoptr(GBytes) wal_before = NULL;
	sqlite3 *sqlite = NULL;

	(void)data;
	sql_script(f->path, "PRAGMA journal_mode = WAL;" SCHEMA_V1);
	g_assert_cmpint(sqlite3_open(f->path, &sqlite), ==, SQLITE_OK);
	sqlite3_db_config(sqlite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	g_assert_cmpint(sqlite3_exec(sqlite, DATA_V1 "PRAGMA user_version = 7;", NULL, NULL, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_close(sqlite), ==, SQLITE_OK);
	g_assert_true(g_file_test(wal, G_FILE_TEST_EXISTS));
	wal_before = read_bytes(wal);
	g_assert_cmpuint(g_bytes_get_size(wal_before), >, 0);

	assert_refused(f->path, G_IO_ERROR_NOT_SUPPORTED, "schema version 7");
	assert_same_bytes(wal_before, wal);
}

static void test_foreign_refused(struct fixture *f, gconstpointer data)
{
	(void)data;
	sql_script(f->path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT);");
	assert_refused(f->path, G_IO_ERROR_INVALID_DATA, "not bandgate's");
	sql_script(f->path, "PRAGMA application_id = 42;");
	assert_refused(f->path, G_IO_ERROR_INVALID_DATA, "not bandgate's");
}

static void test_migrate_from_empty_file(struct fixture *f, gconstpointer data)
{
	struct db *db;

	(void)data;
	write_file(f->path, "", 0);
	db = open_ok(f->path);
	g_assert_cmpint(db_schema_version(db), ==, DB_SCHEMA_VERSION);
	add_band(db, A);
	migrated_usable(db, f->path);
	db_free(db);
	g_assert_cmpint(sql_int(f->path, "PRAGMA user_version"), ==, DB_SCHEMA_VERSION);
}

/* From the file version 1 left, with data in it: nothing lost, and the schema is what a fresh file gets. */
static void test_migrate_from_v1(struct fixture *f, gconstpointer data)
{
	g_autofree char *fresh = g_build_filename(f->dir, "fresh.db", NULL);
	g_autofree char *schema_fresh = NULL;
	g_autofree char *schema_migrated = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct db_band band;
	struct db *db;

	(void)data;
	sql_script(f->path, SCHEMA_V1 DATA_V1);
	db = open_ok(f->path);
	g_assert_cmpint(db_schema_version(db), ==, DB_SCHEMA_VERSION);
	get_band(db, A, &band);
	g_assert_true(band.has_key);
	g_assert_cmpmem(band.key, DB_KEY_SIZE, key_a, DB_KEY_SIZE);
	g_assert_cmpstr(band.name, ==, "left");
	g_assert_cmpint(band.added, ==, 100);
	g_assert_cmpint(band.last_connected, ==, 200);
	db_band_clear(&band);
	get_band(db, B, &band);
	g_assert_false(band.has_key);
	g_assert_cmpint(band.added, ==, 150);
	db_band_clear(&band);
	list = events(db, NULL, 0, 0);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->type, ==, "adapter-reset");
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->detail, ==, "watchdog");
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->address, ==, "");
	g_assert_cmpstr(((struct db_event *)list->pdata[1])->address, ==, A);
	g_assert_cmpint(((struct db_event *)list->pdata[1])->when, ==, 210);
	migrated_usable(db, f->path);
	db_free(db);

	db_free(open_ok(fresh));
	schema_fresh = sql_schema(fresh);
	schema_migrated = sql_schema(f->path);
	g_assert_cmpstr(schema_migrated, ==, schema_fresh);
}

static void test_corrupt_file(struct fixture *f, gconstpointer data)
{
	char garbage[4096];

	(void)data;
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7 + 3);
	write_file(f->path, garbage, sizeof(garbage));
	assert_refused(f->path, G_IO_ERROR_INVALID_DATA, "not a database");
	write_file(f->path, "garbage", -1);
	assert_refused(f->path, G_IO_ERROR_INVALID_DATA, "not a database");
}

static void test_bad_path(struct fixture *f, gconstpointer data)
{
	g_autofree char *under_file = g_build_filename(f->dir, "plain", "bandgate.db", NULL);
	g_autofree char *plain = g_build_filename(f->dir, "plain", NULL);
	g_autoptr(GError) error = NULL;

	(void)data;
	write_file(plain, "not a directory", -1);
	g_assert_null(db_open(under_file, &error));
	g_assert_nonnull(error);
	g_assert_true(g_str_has_prefix(error->message, under_file));
	g_clear_error(&error);
	g_assert_null(db_open(f->dir, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_null(db_open("", &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

/* The child of test_read_only: as an ordinary user, since root writes through any file mode. */
static void read_only_child(void)
{
	g_autoptr(GError) error = NULL;
	const char *path = g_getenv("BANDGATE_TEST_DB");

	if (geteuid() == 0) {
		g_assert_cmpint(setgid(65534), ==, 0);
		g_assert_cmpint(setuid(65534), ==, 0);
	}
	g_assert_null(db_open(path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_assert_nonnull(strstr(error->message, "owner and mode"));
}

static void test_read_only(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GBytes) before = NULL;

	if (g_test_subprocess()) {
		read_only_child();
		return;
	}
	dir = g_dir_make_tmp("bandgate-db-XXXXXX", &error);
	g_assert_no_error(error);
	path = g_build_filename(dir, "bandgate.db", NULL);
	db_free(open_ok(path));
	g_assert_cmpint(g_chmod(path, 0444), ==, 0);
	g_assert_cmpint(g_chmod(dir, 0755), ==, 0);
	before = read_bytes(path);
	g_setenv("BANDGATE_TEST_DB", path, TRUE);
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
	assert_same_bytes(before, path);
	remove_tree(dir);
}

/* ---- bands ---- */

static void test_add_idempotent(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GPtrArray) list = NULL;
	struct db_band band;
	int64_t added;

	(void)data;
	add_band(db, A);
	g_assert_true(db_band_set_name(db, A, "left wrist", NULL));
	get_band(db, A, &band);
	added = band.added;
	g_assert_cmpint(added, >, 1600000000);
	g_assert_cmpint(band.last_connected, ==, 0);
	g_assert_false(band.has_key);
	db_band_clear(&band);
	add_band(db, "c8:0f:10:11:22:33");
	get_band(db, A, &band);
	g_assert_cmpstr(band.name, ==, "left wrist");
	g_assert_cmpint(band.added, ==, added);
	db_band_clear(&band);
	list = db_band_list(db, NULL);
	g_assert_cmpuint(list->len, ==, 1);
	db_free(db);
}

static void test_key_round_trip(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	struct db_band band;

	(void)data;
	add_band(db, A);
	g_assert_true(db_band_set_key(db, "c8:0f:10:11:22:33", key_a, &error));
	g_assert_no_error(error);
	get_band(db, A, &band);
	g_assert_cmpstr(band.address, ==, A);
	g_assert_true(band.has_key);
	g_assert_cmpmem(band.key, DB_KEY_SIZE, key_a, DB_KEY_SIZE);
	db_band_clear(&band);
	g_assert_false(band.has_key);
	g_assert_true(db_band_clear_key(db, A, &error));
	get_band(db, A, &band);
	g_assert_false(band.has_key);
	db_band_clear(&band);
	g_assert_true(db_band_clear_key(db, A, &error));
	g_assert_no_error(error);
	db_free(db);
}

/* Every call that takes an address refuses a malformed one with INVALID_ARGUMENT, and one not managed with
 * NOT_FOUND where that matters. */
static void assert_invalid(struct db *db, const char *bad)
{
	GError *e[12] = { NULL };
	struct db_band band;

	g_assert_false(db_band_add(db, bad, &e[0]));
	g_assert_false(db_band_get(db, bad, &band, &e[1]));
	g_assert_false(db_band_set_key(db, bad, key_a, &e[2]));
	g_assert_false(db_band_clear_key(db, bad, &e[3]));
	g_assert_false(db_band_set_firmware(db, bad, "1", &e[4]));
	g_assert_false(db_band_set_connected(db, bad, 1, &e[5]));
	g_assert_false(db_band_move(db, bad, A, &e[6]));
	g_assert_false(db_band_move(db, A, bad, &e[7]));
	g_assert_false(db_band_forget(db, bad, &e[8]));
	g_assert_false(db_band_set_name(db, bad, "n", &e[9]));
	/* For events, no address means the gateway's own. */
	g_assert_true(!bad || !db_event_add(db, bad, 1, "x", NULL, &e[10]));
	g_assert_true(!bad || !db_event_list(db, bad, 0, 0, &e[11]));
	for (size_t i = 0; i < (bad ? G_N_ELEMENTS(e) : 10); i++) {
		g_assert_error(e[i], G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_error_free(e[i]);
	}
	db_band_clear(&band);
}

static const char *const bad_addresses[] = {
	NULL, "", "C8:0F:10:11:22", "C8:0F:10:11:22:3", "C8:0F:10:11:22:3G", "C8-0F-10-11-22-33",
	"C8:0F:10:11:22:33:", "C8:0F:10:11:22:33:44", "C80F10112233xxxxx", " C8:0F:10:11:22:3",
	"C8:0F:10:11:22:33\n", "C8::0F:10:11:22:3", "\xff\xfe:0F:10:11:22:33",
};

static void test_bad_addresses(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct db_band band;

	(void)data;
	add_band(db, A);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_addresses); i++)
		assert_invalid(db, bad_addresses[i]);
	list = db_band_list(db, NULL);
	g_assert_cmpuint(list->len, ==, 1);

	g_assert_false(db_band_set_key(db, B, key_a, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, B));
	g_clear_error(&error);
	g_assert_false(db_band_set_connected(db, B, 5, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(db_event_add(db, B, 5, "connected", NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, B));
	g_clear_error(&error);
	g_assert_false(db_event_add(db, A, 5, "", NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	assert_absent(db, B);
	get_band(db, A, &band);
	db_band_clear(&band);
	db_free(db);
}

static void test_list_order(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GError) error = NULL;

	(void)data;
	list = db_band_list(db, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 0);
	g_clear_pointer(&list, g_ptr_array_unref);
	add_band(db, C);
	add_band(db, "c8:0f:10:aa:bb:cc");
	add_band(db, A);
	list = db_band_list(db, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 3);
	g_assert_cmpstr(((struct db_band *)list->pdata[0])->address, ==, A);
	g_assert_cmpstr(((struct db_band *)list->pdata[1])->address, ==, B);
	g_assert_cmpstr(((struct db_band *)list->pdata[2])->address, ==, C);
	db_free(db);
}

static void test_move(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct db_band band;

	(void)data;
	add_band(db, A);
	add_band(db, C);
	g_assert_true(db_band_set_key(db, A, key_a, NULL));
	add_event(db, A, 10, "connected");
	add_event(db, A, 20, "factory-reset");
	add_event(db, C, 15, "connected");
	g_assert_true(db_band_move(db, A, "c8:0f:10:aa:bb:cc", &error));
	g_assert_no_error(error);
	assert_absent(db, A);
	get_band(db, B, &band);
	g_assert_true(band.has_key);
	db_band_clear(&band);
	list = events(db, B, 0, 0);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->address, ==, B);
	g_clear_pointer(&list, g_ptr_array_unref);
	list = events(db, A, 0, 0);
	g_assert_cmpuint(list->len, ==, 0);
	g_clear_pointer(&list, g_ptr_array_unref);

	/* Done already: nothing to do. Onto another band: refused, both untouched. Unknown: not found. */
	g_assert_true(db_band_move(db, A, B, &error));
	g_assert_no_error(error);
	g_assert_false(db_band_move(db, B, C, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_assert_nonnull(strstr(error->message, "already managed"));
	g_clear_error(&error);
	list = events(db, B, 0, 0);
	g_assert_cmpuint(list->len, ==, 2);
	g_clear_pointer(&list, g_ptr_array_unref);
	g_assert_false(db_band_move(db, "00:00:00:00:00:01", "00:00:00:00:00:02", &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	db_free(db);
}

static void test_forget(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;

	(void)data;
	add_band(db, A);
	add_band(db, B);
	add_event(db, A, 10, "connected");
	add_event(db, B, 11, "connected");
	add_event(db, NULL, 12, "adapter-reset");
	g_assert_true(db_band_forget(db, A, &error));
	g_assert_no_error(error);
	assert_absent(db, A);
	list = events(db, NULL, 0, 0);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->address, ==, "");
	g_assert_cmpstr(((struct db_event *)list->pdata[1])->address, ==, B);
	g_assert_true(db_band_forget(db, A, &error));
	g_assert_no_error(error);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM events WHERE address = '" A "'"), ==, 0);
	db_free(db);
}

static void test_events(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GPtrArray) list = NULL;
	struct db_event *e;

	(void)data;
	add_band(db, A);
	add_band(db, B);
	add_event(db, A, 100, "connected");
	add_event(db, A, 300, "button");
	add_event(db, A, 200, "auth-failed");
	add_event(db, A, 300, "disconnected");  /* the same second as "button", but later */
	add_event(db, B, 400, "connected");
	g_assert_true(db_event_add(db, NULL, 250, "adapter-reset", "no advertisement for 90 s", NULL));

	list = events(db, A, 0, 0);
	g_assert_cmpuint(list->len, ==, 4);
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->type, ==, "disconnected");
	g_assert_cmpstr(((struct db_event *)list->pdata[1])->type, ==, "button");
	g_assert_cmpstr(((struct db_event *)list->pdata[2])->type, ==, "auth-failed");
	g_assert_cmpstr(((struct db_event *)list->pdata[3])->type, ==, "connected");
	g_clear_pointer(&list, g_ptr_array_unref);

	list = events(db, "c8:0f:10:11:22:33", 0, 2);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpstr(((struct db_event *)list->pdata[1])->type, ==, "button");
	g_clear_pointer(&list, g_ptr_array_unref);

	list = events(db, A, 200, 0);
	g_assert_cmpuint(list->len, ==, 3);
	g_clear_pointer(&list, g_ptr_array_unref);

	list = events(db, NULL, 250, 3);
	g_assert_cmpuint(list->len, ==, 3);
	e = list->pdata[0];
	g_assert_cmpstr(e->address, ==, B);
	g_assert_cmpint(e->when, ==, 400);
	e = list->pdata[2];
	g_assert_cmpstr(e->address, ==, A);
	g_assert_cmpstr(e->type, ==, "button");
	g_clear_pointer(&list, g_ptr_array_unref);

	list = events(db, NULL, 250, 0);
	e = list->pdata[3];
	g_assert_cmpstr(e->address, ==, "");
	g_assert_cmpstr(e->detail, ==, "no advertisement for 90 s");
	g_assert_cmpint(e->id, >, 0);
	g_clear_pointer(&list, g_ptr_array_unref);

	/* A band's timeline: its own events and the gateway's, never another band's, however busy that one is. */
	for (int i = 0; i < 10; i++)
		add_event(db, B, 500 + i, "button");
	list = db_event_timeline(db, A, 2, NULL);
	g_assert_nonnull(list);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpstr(((struct db_event *)list->pdata[0])->type, ==, "disconnected");
	g_clear_pointer(&list, g_ptr_array_unref);
	list = db_event_timeline(db, A, 0, NULL);
	g_assert_cmpuint(list->len, ==, 5);
	e = list->pdata[2];
	g_assert_cmpstr(e->type, ==, "adapter-reset");
	g_assert_cmpstr(e->address, ==, "");
	g_assert_null(db_event_timeline(db, "nonsense", 0, NULL));
	db_free(db);
}

/* ---- activity history ---- */

#define MIDNIGHT 1710028800  /* 2024-03-10 00:00:00 UTC */
#define T0 (MIDNIGHT + 16 * 3600)

static struct db_sample sample(int64_t minute, int tz, int steps, int heart_rate)
{
	return (struct db_sample){ .minute = minute, .tz = (int8_t)tz, .kind = 0x11, .intensity = (uint8_t)(steps + 1),
	                           .steps = (uint8_t)steps, .heart_rate = (uint8_t)heart_rate };
}

static void store(struct db *db, const char *address, const struct db_sample *samples, size_t n, int64_t cursor)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(db_activity_store(db, address, samples, n, cursor, &error));
	g_assert_no_error(error);
}

static GArray *range(struct db *db, const char *address, int64_t from, int64_t to)
{
	g_autoptr(GError) error = NULL;
	GArray *samples = db_activity_range(db, address, from, to, &error);

	g_assert_no_error(error);
	g_assert_nonnull(samples);
	return samples;
}

static void assert_cursor(struct db *db, const char *address, int64_t cursor, int64_t last_sync)
{
	g_autoptr(GError) error = NULL;
	int64_t c = -1, l = -1;

	g_assert_true(db_sync_get(db, address, &c, &l, &error));
	g_assert_no_error(error);
	g_assert_cmpint(c, ==, cursor);
	g_assert_cmpint(l, ==, last_sync);
}

static void assert_sample(const struct db_sample *s, int64_t minute, int tz, int steps, int heart_rate)
{
	g_assert_cmpint(s->minute, ==, minute);
	g_assert_cmpint(s->tz, ==, tz);
	g_assert_cmpuint(s->kind, ==, 0x11);
	g_assert_cmpuint(s->intensity, ==, (uint8_t)(steps + 1));
	g_assert_cmpuint(s->steps, ==, steps);
	g_assert_cmpuint(s->heart_rate, ==, heart_rate);
}

static void test_activity_round_trip(struct fixture *f, gconstpointer data)
{
	const struct db_sample in[] = {
		sample(T0, 4, 0, 0xff), sample(T0 + 60, 4, 12, 71), sample(T0 + 120, 4, 255, 254),
		sample(T0 + 180, 4, 7, 0),
	};
	struct db *db = open_ok(f->path);
	g_autoptr(GArray) out = NULL;

	(void)data;
	add_band(db, A);
	assert_cursor(db, A, 0, 0);
	store(db, "c8:0f:10:11:22:33", in, G_N_ELEMENTS(in), T0 + 240);
	assert_cursor(db, A, T0 + 240, 0);
	out = range(db, A, 0, INT64_MAX);
	g_assert_cmpuint(out->len, ==, 4);
	assert_sample(&g_array_index(out, struct db_sample, 0), T0, 4, 0, 0xff);
	assert_sample(&g_array_index(out, struct db_sample, 1), T0 + 60, 4, 12, 71);
	assert_sample(&g_array_index(out, struct db_sample, 2), T0 + 120, 4, 255, 254);
	assert_sample(&g_array_index(out, struct db_sample, 3), T0 + 180, 4, 7, 0);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity WHERE heart_rate IS NULL"), ==, 1);
	g_clear_pointer(&out, g_array_unref);
	/* from <= minute < to */
	out = range(db, A, T0 + 60, T0 + 180);
	g_assert_cmpuint(out->len, ==, 2);
	g_assert_cmpint(g_array_index(out, struct db_sample, 0).minute, ==, T0 + 60);
	g_assert_cmpint(g_array_index(out, struct db_sample, 1).minute, ==, T0 + 120);
	g_clear_pointer(&out, g_array_unref);
	out = range(db, A, T0 + 1, T0 + 60);
	g_assert_cmpuint(out->len, ==, 0);
	db_free(db);
}

/* Samples arrive out of order and some again: one row per minute, the last one stored wins. */
static void test_activity_replace(struct fixture *f, gconstpointer data)
{
	const struct db_sample first[] = { sample(T0 + 60, 0, 5, 60), sample(T0, 0, 3, 0xff) };
	const struct db_sample again[] = { sample(T0 + 60, 4, 9, 0xff), sample(T0 + 120, 4, 1, 61) };
	struct db *db = open_ok(f->path);
	g_autoptr(GArray) out = NULL;

	(void)data;
	add_band(db, A);
	add_band(db, B);
	store(db, A, first, 2, T0 + 120);
	store(db, B, first, 2, 0);
	store(db, A, again, 2, T0 + 180);
	store(db, A, again, 2, T0 + 180);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity WHERE address = '" A "'"), ==, 3);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity WHERE address = '" B "'"), ==, 2);
	out = range(db, A, 0, INT64_MAX);
	g_assert_cmpuint(out->len, ==, 3);
	assert_sample(&g_array_index(out, struct db_sample, 0), T0, 0, 3, 0xff);
	assert_sample(&g_array_index(out, struct db_sample, 1), T0 + 60, 4, 9, 0xff);
	assert_sample(&g_array_index(out, struct db_sample, 2), T0 + 120, 4, 1, 61);
	g_clear_pointer(&out, g_array_unref);
	out = range(db, B, 0, INT64_MAX);
	assert_sample(&g_array_index(out, struct db_sample, 1), T0 + 60, 0, 5, 60);
	db_free(db);
}

static void assert_store_fails(struct db *db, const char *address, const struct db_sample *samples, size_t n,
                               int64_t cursor, int code)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(db_activity_store(db, address, samples, n, cursor, &error));
	g_assert_error(error, G_IO_ERROR, code);
}

/* A bad sample anywhere in the batch, or a failure after the samples went in: no sample and no cursor. */
static void test_activity_atomic(struct fixture *f, gconstpointer data)
{
	struct db_sample batch[] = { sample(T0, 0, 1, 60), sample(T0 + 60, 0, 2, 61), sample(T0 + 120, 0, 3, 62) };
	struct db *db = open_ok(f->path);
	g_autoptr(GArray) out = NULL;

	(void)data;
	add_band(db, A);
	store(db, A, batch, 1, T0 + 60);
	batch[2].minute = T0 + 150;
	assert_store_fails(db, A, batch, 3, T0 + 180, G_IO_ERROR_INVALID_ARGUMENT);
	batch[2].minute = T0 + 120;
	batch[1].tz = 57;
	assert_store_fails(db, A, batch, 3, T0 + 180, G_IO_ERROR_INVALID_ARGUMENT);
	batch[1].tz = -49;
	assert_store_fails(db, A, batch, 3, T0 + 180, G_IO_ERROR_INVALID_ARGUMENT);
	batch[1].tz = 0;
	assert_store_fails(db, A, batch, 3, -60, G_IO_ERROR_INVALID_ARGUMENT);
	assert_store_fails(db, A, NULL, 3, T0 + 180, G_IO_ERROR_INVALID_ARGUMENT);
	assert_store_fails(db, B, batch, 3, T0 + 180, G_IO_ERROR_NOT_FOUND);
	assert_store_fails(db, B, NULL, 0, T0 + 180, G_IO_ERROR_NOT_FOUND);
	/* The cursor's UPDATE fails after every sample of the batch was inserted: they must go again. */
	sql_script(f->path, "CREATE TRIGGER refuse AFTER UPDATE OF sync_cursor ON bands WHEN new.sync_cursor = 666"
	                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
	assert_store_fails(db, A, batch, 3, 666, G_IO_ERROR_FAILED);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity"), ==, 1);
	assert_cursor(db, A, T0 + 60, 0);
	/* The same batch, with a cursor the trigger lets pass, lands whole. */
	store(db, A, batch, 3, T0 + 180);
	out = range(db, A, 0, INT64_MAX);
	g_assert_cmpuint(out->len, ==, 3);
	assert_cursor(db, A, T0 + 180, 0);
	db_free(db);
}

static void test_sync_cursor(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	int64_t cursor = 1;

	(void)data;
	add_band(db, A);
	add_band(db, B);
	store(db, A, NULL, 0, T0);
	assert_cursor(db, A, T0, 0);
	assert_cursor(db, B, 0, 0);
	g_assert_true(db_sync_done(db, "c8:0f:10:11:22:33", T0 + 5, &error));
	g_assert_no_error(error);
	assert_cursor(db, A, T0, T0 + 5);
	g_assert_true(db_sync_get(db, A, NULL, NULL, &error));
	g_assert_true(db_sync_get(db, A, &cursor, NULL, &error));
	g_assert_cmpint(cursor, ==, T0);
	g_assert_false(db_sync_done(db, A, -1, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_sync_done(db, C, T0, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(db_sync_get(db, C, &cursor, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_null(db_activity_range(db, C, 0, 1, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_null(db_activity_daily(db, C, 0, 1, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	assert_cursor(db, A, T0, T0 + 5);
	db_free(db);
}

static GArray *daily(struct db *db, const char *address, int64_t from, int64_t to)
{
	g_autoptr(GError) error = NULL;
	GArray *days = db_activity_daily(db, address, from, to, &error);

	g_assert_no_error(error);
	g_assert_nonnull(days);
	return days;
}

static void assert_day(const struct db_day *d, const char *day, int64_t steps, int minutes, int hr_min, int hr_max,
                       int hr_avg)
{
	g_assert_cmpstr(d->day, ==, day);
	g_assert_cmpint(d->steps, ==, steps);
	g_assert_cmpint(d->minutes, ==, minutes);
	g_assert_cmpint(d->hr_min, ==, hr_min);
	g_assert_cmpint(d->hr_max, ==, hr_max);
	g_assert_cmpint(d->hr_avg, ==, hr_avg);
}

/* UTC+8 (32 quarter hours): 16:00 UTC is local midnight. UTC-5 (-20): 05:00 UTC is. */
static void test_activity_daily(struct fixture *f, gconstpointer data)
{
	const struct db_sample east[] = {
		sample(T0 - 120, 32, 10, 60), sample(T0 - 60, 32, 20, 0xff), sample(T0, 32, 30, 70),
		sample(T0 + 60, 32, 40, 81), sample(T0 + 120, 32, 1, 0),
	};
	const struct db_sample west[] = {
		sample(MIDNIGHT + 5 * 3600 - 60, -20, 5, 0xff), sample(MIDNIGHT + 5 * 3600, -20, 6, 0xff),
	};
	struct db *db = open_ok(f->path);
	g_autoptr(GArray) days = NULL;

	(void)data;
	add_band(db, A);
	add_band(db, B);
	store(db, A, east, G_N_ELEMENTS(east), T0 + 180);
	store(db, B, west, G_N_ELEMENTS(west), 0);
	days = daily(db, A, 0, INT64_MAX);
	g_assert_cmpuint(days->len, ==, 2);
	assert_day(&g_array_index(days, struct db_day, 0), "2024-03-10", 30, 2, 60, 60, 60);
	/* 70 and 81 average 75.5, rounded up; the 0 is no measurement. */
	assert_day(&g_array_index(days, struct db_day, 1), "2024-03-11", 71, 3, 70, 81, 76);
	g_clear_pointer(&days, g_array_unref);
	days = daily(db, A, T0 - 60, T0 + 60);
	g_assert_cmpuint(days->len, ==, 2);
	assert_day(&g_array_index(days, struct db_day, 0), "2024-03-10", 20, 1, 0, 0, 0);
	assert_day(&g_array_index(days, struct db_day, 1), "2024-03-11", 30, 1, 70, 70, 70);
	g_clear_pointer(&days, g_array_unref);
	days = daily(db, B, 0, INT64_MAX);
	g_assert_cmpuint(days->len, ==, 2);
	assert_day(&g_array_index(days, struct db_day, 0), "2024-03-09", 5, 1, 0, 0, 0);
	assert_day(&g_array_index(days, struct db_day, 1), "2024-03-10", 6, 1, 0, 0, 0);
	g_clear_pointer(&days, g_array_unref);
	days = daily(db, B, T0, INT64_MAX);
	g_assert_cmpuint(days->len, ==, 0);
	db_free(db);
}

/* ---- live values ---- */

static void totals_store(struct db *db, const char *day, int64_t steps, int64_t meters, int64_t calories,
                         int64_t updated)
{
	struct db_totals t = { .steps = steps, .meters = meters, .calories = calories, .updated = updated };
	g_autoptr(GError) error = NULL;

	g_strlcpy(t.day, day, sizeof(t.day));
	g_assert_true(db_totals_store(db, A, &t, &error));
	g_assert_no_error(error);
}

static void assert_totals(struct db *db, const char *day, int64_t steps, int64_t meters, int64_t calories,
                          int64_t updated)
{
	g_autoptr(GError) error = NULL;
	struct db_totals t;

	g_assert_true(db_totals_get(db, A, day, &t, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(t.day, ==, day);
	g_assert_cmpint(t.steps, ==, steps);
	g_assert_cmpint(t.meters, ==, meters);
	g_assert_cmpint(t.calories, ==, calories);
	g_assert_cmpint(t.updated, ==, updated);
}

static void test_totals(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	struct db_totals t = { .day = "2024-03-10", .steps = 1 };

	(void)data;
	add_band(db, A);
	totals_store(db, "2024-03-10", 1000, 700, 40, 100);
	totals_store(db, "2024-03-10", 1500, 650, 45, 200);   /* meters went down: a stale value */
	assert_totals(db, "2024-03-10", 1500, 700, 45, 200);
	totals_store(db, "2024-03-10", 0, 0, 0, 150);          /* a corrupt reading lowers nothing */
	assert_totals(db, "2024-03-10", 1500, 700, 45, 200);
	totals_store(db, "2024-03-11", 12, 9, 1, 300);         /* the band's new day starts from zero */
	assert_totals(db, "2024-03-11", 12, 9, 1, 300);
	assert_totals(db, "2024-03-10", 1500, 700, 45, 200);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM daily_totals"), ==, 2);

	g_assert_false(db_totals_get(db, A, "2024-03-12", &t, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(db_totals_store(db, B, &(struct db_totals){ .day = "2024-03-10" }, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(db_totals_store(db, A, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_totals_store(db, A, &(struct db_totals){ .day = "2024-03-10", .meters = -1 }, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	assert_totals(db, "2024-03-10", 1500, 700, 45, 200);
	db_free(db);
}

static void test_bad_days(struct fixture *f, gconstpointer data)
{
	static const char *const bad[] = {
		"", "2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10", "2024-3-10", "2024/03/10", "24-03-10xx",
		"2024-03-1a", "+024-03-10", "2024-03-100",
	};
	struct db *db = open_ok(f->path);
	struct db_totals t;

	(void)data;
	add_band(db, A);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e1 = NULL;
		g_autoptr(GError) e2 = NULL;

		/* The struct's field holds 10 characters: the longer one is tried through get only. */
		t = (struct db_totals){ 0 };
		g_strlcpy(t.day, strlen(bad[i]) < sizeof(t.day) ? bad[i] : "2024-99-99", sizeof(t.day));
		g_assert_false(db_totals_store(db, A, &t, &e1));
		g_assert_error(e1, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_assert_false(db_totals_get(db, A, bad[i], &t, &e2));
		g_assert_error(e2, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	}
	g_assert_false(db_totals_get(db, A, NULL, &t, NULL));
	/* Not NUL-terminated within the field. */
	memset(t.day, '1', sizeof(t.day));
	g_assert_false(db_totals_store(db, A, &t, NULL));
	totals_store(db, "2024-02-29", 1, 1, 1, 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM daily_totals"), ==, 1);
	db_free(db);
}

static void test_battery(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	int64_t when = 0;
	int level = -1;
	bool charging = false;

	(void)data;
	add_band(db, A);
	g_assert_false(db_battery_last(db, A, &when, &level, &charging, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_true(db_battery_add(db, A, 300, 80, false, &error));
	g_assert_true(db_battery_add(db, A, 100, 10, false, &error));
	g_assert_true(db_battery_add(db, A, 300, 81, true, &error));  /* the same second, added later */
	g_assert_true(db_battery_add(db, A, 200, 100, true, &error));
	g_assert_no_error(error);
	g_assert_true(db_battery_last(db, "c8:0f:10:11:22:33", &when, &level, &charging, &error));
	g_assert_no_error(error);
	g_assert_cmpint(when, ==, 300);
	g_assert_cmpint(level, ==, 81);
	g_assert_true(charging);
	g_assert_true(db_battery_last(db, A, NULL, NULL, NULL, &error));
	g_assert_true(db_battery_add(db, A, 400, 0, false, &error));
	g_assert_true(db_battery_last(db, A, &when, &level, &charging, &error));
	g_assert_cmpint(level, ==, 0);
	g_assert_false(charging);
	g_assert_false(db_battery_add(db, A, 500, 101, false, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_battery_add(db, A, 500, -1, false, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_battery_add(db, B, 500, 50, false, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, B));
	g_clear_error(&error);
	g_assert_false(db_battery_last(db, B, &when, &level, &charging, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM battery"), ==, 5);
	db_free(db);
}

static void test_heart_rate(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;

	(void)data;
	add_band(db, A);
	g_assert_true(db_heart_rate_add(db, A, 100, 1, &error));
	g_assert_true(db_heart_rate_add(db, "c8:0f:10:11:22:33", 160, 254, &error));
	g_assert_no_error(error);
	g_assert_false(db_heart_rate_add(db, A, 200, 0, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_heart_rate_add(db, A, 200, 255, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_heart_rate_add(db, A, -5, 60, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_heart_rate_add(db, B, 200, 60, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM heart_rate"), ==, 2);
	g_assert_cmpint(sql_int(f->path, "SELECT sum(bpm) FROM heart_rate WHERE address = '" A "'"), ==, 255);
	db_free(db);
}

/* ---- notifications ---- */

static int64_t notify(struct db *db, const char *address, const char *kind, const char *title, int64_t when)
{
	g_autoptr(GError) error = NULL;
	int64_t id = 0;

	g_assert_true(db_notify_add(db, address, "mqtt", kind, 5, title, title ? "body" : NULL, when, &id, &error));
	g_assert_no_error(error);
	g_assert_cmpint(id, >, 0);
	return id;
}

static void attempt(struct db *db, int64_t id, enum db_notify_status status, int64_t when, const char *text)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(db_notify_attempt(db, id, status, when, text, &error));
	g_assert_no_error(error);
}

static GPtrArray *queued(struct db *db, const char *address)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *list = db_notify_queued(db, address, &error);

	g_assert_no_error(error);
	g_assert_nonnull(list);
	return list;
}

static GPtrArray *notifications(struct db *db, const char *address, unsigned limit)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *list = db_notify_list(db, address, limit, &error);

	g_assert_no_error(error);
	g_assert_nonnull(list);
	return list;
}

#define NOTE(list, i) ((struct db_notification *)(list)->pdata[i])

static void test_notify_lifecycle(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct db_notification n;
	int64_t a1, a2, a3, b1;

	(void)data;
	add_band(db, A);
	add_band(db, B);
	a1 = notify(db, A, "text", "Anna", 100);
	b1 = notify(db, B, "vibrate", NULL, 101);
	a2 = notify(db, "c8:0f:10:11:22:33", "find", NULL, 90);   /* an earlier clock, but queued later */
	a3 = notify(db, A, "text", "Ben", 102);
	g_assert_cmpint(a1, <, b1);
	g_assert_cmpint(b1, <, a2);
	g_assert_cmpint(a2, <, a3);

	g_assert_true(db_notify_get(db, a1, &n, &error));
	g_assert_no_error(error);
	g_assert_cmpint(n.id, ==, a1);
	g_assert_cmpstr(n.address, ==, A);
	g_assert_cmpstr(n.source, ==, "mqtt");
	g_assert_cmpstr(n.kind, ==, "text");
	g_assert_cmpint(n.category, ==, 5);
	g_assert_cmpstr(n.title, ==, "Anna");
	g_assert_cmpstr(n.text, ==, "body");
	g_assert_null(n.error);
	g_assert_cmpint(n.status, ==, DB_NOTIFY_QUEUED);
	g_assert_cmpint(n.attempts, ==, 0);
	g_assert_cmpint(n.created, ==, 100);
	g_assert_cmpint(n.updated, ==, 100);
	db_notification_clear(&n);
	g_assert_null(n.source);

	list = queued(db, A);
	g_assert_cmpuint(list->len, ==, 3);
	g_assert_cmpint(NOTE(list, 0)->id, ==, a1);
	g_assert_cmpint(NOTE(list, 1)->id, ==, a2);
	g_assert_cmpint(NOTE(list, 2)->id, ==, a3);
	g_assert_null(NOTE(list, 1)->title);
	g_clear_pointer(&list, g_ptr_array_unref);

	/* a1 sent at once; a2 fails once, stays queued, then fails for good; a3 is still waiting. */
	attempt(db, a1, DB_NOTIFY_SENT, 110, NULL);
	attempt(db, a2, DB_NOTIFY_QUEUED, 111, "band not connected");
	list = queued(db, A);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpint(NOTE(list, 0)->id, ==, a2);
	g_assert_cmpint(NOTE(list, 0)->attempts, ==, 1);
	g_assert_cmpstr(NOTE(list, 0)->error, ==, "band not connected");
	g_clear_pointer(&list, g_ptr_array_unref);
	attempt(db, a2, DB_NOTIFY_FAILED, 120, "write timed out");
	attempt(db, a3, DB_NOTIFY_QUEUED, 121, "busy");
	attempt(db, a3, DB_NOTIFY_SENT, 122, NULL);

	g_assert_true(db_notify_get(db, a2, &n, &error));
	g_assert_cmpint(n.status, ==, DB_NOTIFY_FAILED);
	g_assert_cmpint(n.attempts, ==, 2);
	g_assert_cmpint(n.created, ==, 90);
	g_assert_cmpint(n.updated, ==, 120);
	g_assert_cmpstr(n.error, ==, "write timed out");
	db_notification_clear(&n);
	g_assert_true(db_notify_get(db, a3, &n, &error));
	g_assert_cmpint(n.status, ==, DB_NOTIFY_SENT);
	g_assert_cmpint(n.attempts, ==, 2);
	g_assert_null(n.error);  /* cleared by the successful attempt */
	db_notification_clear(&n);

	list = queued(db, A);
	g_assert_cmpuint(list->len, ==, 0);
	g_clear_pointer(&list, g_ptr_array_unref);
	list = queued(db, B);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_cmpstr(NOTE(list, 0)->kind, ==, "vibrate");
	g_clear_pointer(&list, g_ptr_array_unref);
	db_free(db);
}

static void test_notify_list(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GPtrArray) list = NULL;
	int64_t id[5];

	(void)data;
	add_band(db, A);
	add_band(db, B);
	for (int i = 0; i < 5; i++)
		id[i] = notify(db, i % 2 ? B : A, "text", "t", 100 + i);
	attempt(db, id[0], DB_NOTIFY_SENT, 200, NULL);
	list = notifications(db, NULL, 0);
	g_assert_cmpuint(list->len, ==, 5);
	for (int i = 0; i < 5; i++)
		g_assert_cmpint(NOTE(list, i)->id, ==, id[4 - i]);
	g_assert_cmpint(NOTE(list, 4)->status, ==, DB_NOTIFY_SENT);
	g_clear_pointer(&list, g_ptr_array_unref);
	list = notifications(db, NULL, 2);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpint(NOTE(list, 1)->id, ==, id[3]);
	g_clear_pointer(&list, g_ptr_array_unref);
	list = notifications(db, "c8:0f:10:11:22:33", 0);
	g_assert_cmpuint(list->len, ==, 3);
	g_assert_cmpint(NOTE(list, 0)->id, ==, id[4]);
	g_assert_cmpint(NOTE(list, 2)->id, ==, id[0]);
	g_clear_pointer(&list, g_ptr_array_unref);
	list = notifications(db, B, 1);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_cmpint(NOTE(list, 0)->id, ==, id[3]);
	g_assert_cmpstr(NOTE(list, 0)->address, ==, B);
	db_free(db);
}

static void test_notify_errors(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	struct db_notification n;
	int64_t id = 0, ret_id = -7;

	(void)data;
	g_assert_cmpstr(db_notify_status_name(DB_NOTIFY_QUEUED), ==, "queued");
	g_assert_cmpstr(db_notify_status_name(DB_NOTIFY_SENT), ==, "sent");
	g_assert_cmpstr(db_notify_status_name(DB_NOTIFY_FAILED), ==, "failed");
	g_assert_null(db_notify_status_name((enum db_notify_status)7));
	add_band(db, A);
	id = notify(db, A, "text", NULL, 1);
	g_assert_true(db_notify_add(db, A, "cli", "vibrate", 0, NULL, NULL, 2, NULL, &error));
	g_assert_no_error(error);
	g_assert_false(db_notify_add(db, A, "web", "beep", 5, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_add(db, A, "web", NULL, 5, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_add(db, A, "", "text", 5, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_add(db, A, NULL, "text", 5, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_add(db, A, "api", "text", 256, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_add(db, A, "api", "text", -1, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_add(db, B, "api", "text", 5, NULL, NULL, 1, &ret_id, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, B));
	g_clear_error(&error);
	g_assert_cmpint(ret_id, ==, -7);
	g_assert_false(db_notify_attempt(db, id + 100, DB_NOTIFY_SENT, 5, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(db_notify_attempt(db, id, (enum db_notify_status)3, 5, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_attempt(db, id, DB_NOTIFY_SENT, -5, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_notify_get(db, id + 100, &n, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	db_notification_clear(&n);
	g_clear_error(&error);
	g_assert_null(db_notify_queued(db, B, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_null(db_notify_list(db, B, 0, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
	/* The failed calls left the first notification as it was. */
	g_assert_true(db_notify_get(db, id, &n, &error));
	g_assert_cmpint(n.attempts, ==, 0);
	g_assert_cmpint(n.status, ==, DB_NOTIFY_QUEUED);
	db_notification_clear(&n);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM notifications"), ==, 2);
	db_free(db);
}

/* ---- the new tables follow their band ---- */

/* One row of each per-band table for address, at time when. */
static void fill_band(struct db *db, const char *address, int64_t when)
{
	const struct db_sample s = sample(when - when % 60, 0, 3, 70);
	struct db_totals t = { .day = "2024-03-10", .steps = 5, .updated = when };

	add_band(db, address);
	store(db, address, &s, 1, when);
	g_assert_true(db_totals_store(db, address, &t, NULL));
	g_assert_true(db_battery_add(db, address, when, 50, false, NULL));
	g_assert_true(db_heart_rate_add(db, address, when, 70, NULL));
	add_event(db, address, when, "connected");
	notify(db, address, "text", "t", when);
}

static int64_t rows_of(const char *path, const char *address)
{
	g_autofree char *sql = g_strdup_printf(
		"SELECT (SELECT count(*) FROM activity WHERE address = '%1$s') +"
		" (SELECT count(*) FROM daily_totals WHERE address = '%1$s') +"
		" (SELECT count(*) FROM battery WHERE address = '%1$s') +"
		" (SELECT count(*) FROM heart_rate WHERE address = '%1$s') +"
		" (SELECT count(*) FROM events WHERE address = '%1$s') +"
		" (SELECT count(*) FROM notifications WHERE address = '%1$s')", address);

	return sql_int(path, sql);
}

static void test_move_carries_data(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GArray) samples = NULL;

	(void)data;
	fill_band(db, A, T0);
	fill_band(db, C, T0);
	g_assert_true(db_sync_done(db, A, T0 + 9, NULL));
	g_assert_cmpint(rows_of(f->path, A), ==, 6);
	g_assert_true(db_band_move(db, A, B, NULL));
	g_assert_cmpint(rows_of(f->path, A), ==, 0);
	g_assert_cmpint(rows_of(f->path, B), ==, 6);
	g_assert_cmpint(rows_of(f->path, C), ==, 6);
	assert_cursor(db, B, T0, T0 + 9);
	samples = range(db, B, 0, INT64_MAX);
	g_assert_cmpuint(samples->len, ==, 1);
	list = queued(db, B);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_cmpstr(NOTE(list, 0)->address, ==, B);
	g_clear_pointer(&list, g_ptr_array_unref);

	g_assert_true(db_band_forget(db, B, NULL));
	g_assert_cmpint(rows_of(f->path, B), ==, 0);
	g_assert_cmpint(rows_of(f->path, C), ==, 6);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity"), ==, 1);
	db_free(db);
}

/* ---- retention ---- */

static void test_prune(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	int64_t deleted = -1, old_sent, old_failed;
	struct db_totals t = { .day = "2024-03-11", .steps = 9, .updated = 2000 };

	(void)data;
	fill_band(db, A, 1000);    /* everything old, its notification still queued */
	fill_band(db, B, 1000);
	old_sent = notify(db, B, "text", "sent", 1000);
	old_failed = notify(db, B, "text", "failed", 1000);
	attempt(db, old_sent, DB_NOTIFY_SENT, 1010, NULL);
	attempt(db, old_failed, DB_NOTIFY_FAILED, 1010, "gone");
	attempt(db, notify(db, B, "text", "sent late", 1000), DB_NOTIFY_SENT, 3000, NULL);
	add_event(db, NULL, 1000, "adapter-reset");
	add_event(db, NULL, 3000, "adapter-reset");
	store(db, A, (struct db_sample[]){ sample(3000, 0, 1, 0xff) }, 1, 3060);
	g_assert_true(db_battery_add(db, A, 3000, 40, false, NULL));
	g_assert_true(db_heart_rate_add(db, A, 2999, 80, NULL));
	g_assert_true(db_totals_store(db, A, &t, NULL));

	/* Per band: 1 sample, 1 total, 1 battery, 1 heart rate, 1 event; B's two finished; the gateway's event. */
	g_assert_true(db_prune(db, 2000, &deleted, &error));
	g_assert_no_error(error);
	g_assert_cmpint(deleted, ==, 2 * 5 + 2 + 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity"), ==, 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM battery"), ==, 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM heart_rate"), ==, 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM daily_totals"), ==, 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM events"), ==, 1);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM notifications"), ==, 3);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM bands"), ==, 2);
	list = queued(db, A);
	g_assert_cmpuint(list->len, ==, 1);
	g_clear_pointer(&list, g_ptr_array_unref);
	assert_cursor(db, A, 3060, 0);
	g_assert_true(db_prune(db, 2000, &deleted, &error));
	g_assert_cmpint(deleted, ==, 0);
	g_assert_true(db_prune(db, INT64_MAX, NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM notifications"), ==, 2);  /* the queued ones */
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity"), ==, 0);
	db_free(db);
}

/* ---- the read-only handle ---- */

static struct db *open_readonly_ok(const char *path)
{
	g_autoptr(GError) error = NULL;
	struct db *db = db_open_readonly(path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(db);
	return db;
}

static void assert_writes_refused(struct db *reader)
{
	const struct db_sample s = sample(T0 + 600, 0, 1, 60);
	GError *e[5] = { NULL };

	g_assert_false(db_band_add(reader, C, &e[0]));
	g_assert_false(db_activity_store(reader, A, &s, 1, T0 + 660, &e[1]));
	g_assert_false(db_notify_add(reader, A, "cli", "find", 0, NULL, NULL, 1, NULL, &e[2]));
	g_assert_false(db_sync_done(reader, A, 5, &e[3]));
	g_assert_false(db_prune(reader, INT64_MAX, NULL, &e[4]));
	for (size_t i = 0; i < G_N_ELEMENTS(e); i++) {
		g_assert_error(e[i], G_IO_ERROR, G_IO_ERROR_READ_ONLY);
		g_error_free(e[i]);
	}
}

static void test_readonly_beside_writer(struct fixture *f, gconstpointer data)
{
	const struct db_sample s[] = { sample(T0, 0, 1, 60), sample(T0 + 60, 0, 2, 0xff) };
	struct db *writer = open_ok(f->path);
	struct db *reader;
	g_autoptr(GArray) samples = NULL;
	g_autoptr(GPtrArray) list = NULL;

	(void)data;
	add_band(writer, A);
	store(writer, A, s, 1, T0 + 60);
	reader = open_readonly_ok(f->path);
	g_assert_cmpint(db_schema_version(reader), ==, DB_SCHEMA_VERSION);
	samples = range(reader, A, 0, INT64_MAX);
	g_assert_cmpuint(samples->len, ==, 1);
	g_clear_pointer(&samples, g_array_unref);
	assert_writes_refused(reader);

	/* The writer goes on, and the reader sees each commit. */
	store(writer, A, s, 2, T0 + 120);
	notify(writer, A, "text", "x", 5);
	samples = range(reader, A, 0, INT64_MAX);
	g_assert_cmpuint(samples->len, ==, 2);
	assert_cursor(reader, A, T0 + 120, 0);
	list = notifications(reader, NULL, 0);
	g_assert_cmpuint(list->len, ==, 1);
	db_free(reader);
	notify(writer, A, "text", "y", 6);
	db_free(writer);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity"), ==, 2);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM notifications"), ==, 2);

	/* And without a writer. */
	reader = open_readonly_ok(f->path);
	assert_cursor(reader, A, T0 + 120, 0);
	assert_writes_refused(reader);
	db_free(reader);
}

static void assert_readonly_refused(const char *path, int code, const char *words)
{
	g_autoptr(GBytes) before = read_bytes(path);
	g_autoptr(GError) error = NULL;

	g_assert_null(db_open_readonly(path, &error));
	g_assert_error(error, G_IO_ERROR, code);
	g_assert_true(g_str_has_prefix(error->message, path));
	g_assert_nonnull(strstr(error->message, words));
	assert_same_bytes(before, path);
}

static void test_readonly_refused(struct fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *newer = NULL;

	(void)data;
	g_assert_null(db_open_readonly(f->path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_true(g_str_has_prefix(error->message, f->path));
	g_clear_error(&error);
	g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
	g_assert_null(db_open_readonly(NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	write_file(f->path, "", 0);
	assert_readonly_refused(f->path, G_IO_ERROR_NOT_SUPPORTED, "schema version 0");
	sql_script(f->path, SCHEMA_V1 DATA_V1);
	assert_readonly_refused(f->path, G_IO_ERROR_NOT_SUPPORTED, "start the bandgate daemon once to migrate it");
	g_assert_cmpint(sql_int(f->path, "PRAGMA user_version"), ==, 1);
	newer = g_strdup_printf("PRAGMA user_version = %d;", DB_SCHEMA_VERSION + 1);
	sql_script(f->path, newer);
	assert_readonly_refused(f->path, G_IO_ERROR_NOT_SUPPORTED, "newer than this bandgate knows");
	g_assert_cmpint(g_unlink(f->path), ==, 0);
	sql_script(f->path, "CREATE TABLE photos (id INTEGER PRIMARY KEY);");
	assert_readonly_refused(f->path, G_IO_ERROR_INVALID_DATA, "not bandgate's");
	write_file(f->path, "garbage", -1);
	assert_readonly_refused(f->path, G_IO_ERROR_INVALID_DATA, "not a database");
}

/* Every new call that takes an address refuses a malformed one with INVALID_ARGUMENT. */
static void assert_invalid_v2(struct db *db, const char *bad)
{
	const struct db_sample s = sample(T0, 0, 1, 60);
	struct db_totals t = { .day = "2024-03-10" };
	GError *e[13] = { NULL };

	g_assert_false(db_activity_store(db, bad, &s, 1, 0, &e[0]));
	g_assert_false(db_sync_get(db, bad, NULL, NULL, &e[1]));
	g_assert_false(db_sync_done(db, bad, 1, &e[2]));
	g_assert_null(db_activity_range(db, bad, 0, 1, &e[3]));
	g_assert_null(db_activity_daily(db, bad, 0, 1, &e[4]));
	g_assert_false(db_totals_store(db, bad, &t, &e[5]));
	g_assert_false(db_totals_get(db, bad, "2024-03-10", &t, &e[6]));
	g_assert_false(db_battery_add(db, bad, 1, 50, false, &e[7]));
	g_assert_false(db_battery_last(db, bad, NULL, NULL, NULL, &e[8]));
	g_assert_false(db_heart_rate_add(db, bad, 1, 60, &e[9]));
	g_assert_false(db_notify_add(db, bad, "cli", "text", 5, NULL, NULL, 1, NULL, &e[10]));
	g_assert_null(db_notify_queued(db, bad, &e[11]));
	/* For the list, no address means every band. */
	g_assert_true(!bad || !db_notify_list(db, bad, 0, &e[12]));
	for (size_t i = 0; i < (bad ? G_N_ELEMENTS(e) : 12); i++) {
		g_assert_error(e[i], G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
		g_error_free(e[i]);
	}
}

/* Band A of a migrated file starts never synced and takes every kind of version 2's rows. */
/* From the file version 2 left: history, cursor and queued notifications kept; the outbox is new and empty. */
static void test_migrate_from_v2(struct fixture *f, gconstpointer data)
{
	g_autofree char *fresh = g_build_filename(f->dir, "fresh.db", NULL);
	g_autofree char *schema_fresh = NULL, *schema_migrated = NULL;
	g_autoptr(GPtrArray) queued = NULL;
	g_autoptr(GArray) samples = NULL;
	int64_t n = -1;
	struct db *db;

	(void)data;
	sql_script(f->path, SCHEMA_V1 DATA_V1 STEP_V2 DATA_V2);
	db = open_ok(f->path);
	g_assert_cmpint(db_schema_version(db), ==, DB_SCHEMA_VERSION);
	assert_cursor(db, A, 1710050460, 1710050500);
	samples = range(db, A, 0, INT64_MAX);
	g_assert_cmpuint(samples->len, ==, 1);
	g_assert_cmpint(g_array_index(samples, struct db_sample, 0).heart_rate, ==, 71);
	queued = db_notify_queued(db, A, NULL);
	g_assert_cmpuint(queued->len, ==, 1);
	g_assert_true(db_outbox_count(db, &n, NULL));
	g_assert_cmpint(n, ==, 0);
	db_free(db);
	db_free(open_ok(fresh));
	schema_fresh = sql_schema(fresh);
	schema_migrated = sql_schema(f->path);
	g_assert_cmpstr(schema_migrated, ==, schema_fresh);
}

static int64_t outbox_add(struct db *db, const char *topic, const char *payload, bool coalesce, unsigned limit,
                          int64_t *ret_dropped)
{
	const struct db_outbox_msg m = { .topic = (char *)topic, .payload = (char *)payload, .len = strlen(payload),
	                                 .qos = 1, .retain = coalesce, .coalesce = coalesce, .created = T0 };
	g_autoptr(GError) error = NULL;
	int64_t id = 0;

	g_assert_true(db_outbox_add(db, &m, limit, &id, ret_dropped, &error));
	g_assert_no_error(error);
	return id;
}

static char *outbox_topics(struct db *db)
{
	g_autoptr(GPtrArray) rows = db_outbox_next(db, 0, 0, NULL);
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < rows->len; i++) {
		const struct db_outbox_msg *m = rows->pdata[i];
		g_string_append_printf(s, "%s%s=%s", i ? " " : "", m->topic, m->payload);
	}
	return g_string_free(s, FALSE);
}

/* In order; a state replaces the older state of its topic (and moves to the end); events never coalesce. */
static void test_outbox_order_and_coalescing(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	g_autofree char *got = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	int64_t first, n = 0;

	(void)data;
	first = outbox_add(db, "b/x/state", "1", true, 0, NULL);
	outbox_add(db, "b/x/event", "press", false, 0, NULL);
	outbox_add(db, "b/y/state", "a", true, 0, NULL);
	outbox_add(db, "b/x/event", "press", false, 0, NULL);
	outbox_add(db, "b/x/state", "2", true, 0, NULL);
	got = outbox_topics(db);
	g_assert_cmpstr(got, ==, "b/x/event=press b/y/state=a b/x/event=press b/x/state=2");
	rows = db_outbox_next(db, first + 1, 2, NULL);
	g_assert_cmpuint(rows->len, ==, 2);
	g_assert_cmpstr(((struct db_outbox_msg *)rows->pdata[0])->topic, ==, "b/y/state");
	g_assert_true(((struct db_outbox_msg *)rows->pdata[0])->retain);
	g_assert_cmpint(((struct db_outbox_msg *)rows->pdata[0])->qos, ==, 1);
	/* Deleting on acknowledgement; an id already gone is fine. */
	g_assert_true(db_outbox_delete(db, ((struct db_outbox_msg *)rows->pdata[0])->id, NULL));
	g_assert_true(db_outbox_delete(db, first, NULL));
	g_assert_true(db_outbox_count(db, &n, NULL));
	g_assert_cmpint(n, ==, 3);
	db_free(db);
	db = open_ok(f->path);
	g_clear_pointer(&got, g_free);
	got = outbox_topics(db);
	g_assert_cmpstr(got, ==, "b/x/event=press b/x/event=press b/x/state=2");
	db_free(db);
}

/* Bounded: past the limit the oldest rows go and are counted; bad messages are refused and change nothing. */
static void test_outbox_bound_and_bad_input(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	const struct db_outbox_msg no_topic = { .topic = "", .payload = "x", .len = 1, .qos = 1, .created = T0 };
	const struct db_outbox_msg bad_qos = { .topic = "t", .payload = "x", .len = 1, .qos = 3, .created = T0 };
	const char binary[3] = { 0, (char)0xff, 'x' };
	const struct db_outbox_msg bin = { .topic = "bin", .payload = (char *)binary, .len = 3, .qos = 0, .created = T0 };
	g_autoptr(GPtrArray) rows = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *got = NULL;
	int64_t dropped = -1, n = 0;

	(void)data;
	for (int i = 0; i < 5; i++) {
		char payload[8];
		g_snprintf(payload, sizeof payload, "%d", i);
		outbox_add(db, "e", payload, false, 3, &dropped);
	}
	g_assert_cmpint(dropped, ==, 1);
	got = outbox_topics(db);
	g_assert_cmpstr(got, ==, "e=2 e=3 e=4");
	g_assert_false(db_outbox_add(db, &no_topic, 0, NULL, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_false(db_outbox_add(db, &bad_qos, 0, NULL, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_assert_true(db_outbox_count(db, &n, NULL));
	g_assert_cmpint(n, ==, 3);
	/* Payloads are bytes, not text. */
	g_assert_true(db_outbox_add(db, &bin, 0, NULL, NULL, NULL));
	rows = db_outbox_next(db, 0, 0, NULL);
	g_assert_cmpuint(rows->len, ==, 4);
	g_assert_cmpmem(((struct db_outbox_msg *)rows->pdata[3])->payload, 3, binary, 3);
	db_free(db);
}

/* The bound trims events only: a state (one row per topic, such as a forgotten band's empty config) stays. A
 * batch lands whole or not at all. */
static void test_outbox_trim_keeps_states_and_batches_are_atomic(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);
	const struct db_outbox_msg batch[] = {
		{ .topic = "b/x/event", .payload = "p1", .len = 2, .qos = 1, .created = T0 },
		{ .topic = "b/x/state", .payload = "s2", .len = 2, .qos = 1, .retain = true, .coalesce = true, .created = T0 },
		{ .topic = "b/x/event", .payload = "p3", .len = 2, .qos = 1, .created = T0 },
	};
	struct db_outbox_msg bad[2] = { batch[0], batch[2] };
	g_autoptr(GError) error = NULL;
	g_autofree char *got = NULL;
	int64_t dropped = -1, last = 0, n = 0;

	(void)data;
	outbox_add(db, "ha/old/config", "", true, 0, NULL);
	outbox_add(db, "b/x/event", "p0", false, 0, NULL);
	g_assert_true(db_outbox_add_many(db, batch, G_N_ELEMENTS(batch), 3, &last, &dropped, &error));
	g_assert_no_error(error);
	g_assert_cmpint(dropped, ==, 2);
	got = outbox_topics(db);
	g_assert_cmpstr(got, ==, "ha/old/config= b/x/state=s2 b/x/event=p3");
	g_assert_cmpint(last, >, 0);
	/* A bad message anywhere in a batch: nothing of it is stored. */
	bad[1].qos = 7;
	g_assert_false(db_outbox_add_many(db, bad, G_N_ELEMENTS(bad), 0, NULL, NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	/* SQLite refusing a row in the middle (here a trigger another connection put there): rolled back whole. */
	db_free(db);
	sql_script(f->path, "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.topic = 'b/x/refused' "
	                  "BEGIN SELECT RAISE(ABORT, 'refused'); END;");
	db = open_ok(f->path);
	bad[1] = batch[2];
	bad[1].topic = "b/x/refused";
	g_assert_false(db_outbox_add_many(db, bad, G_N_ELEMENTS(bad), 0, NULL, NULL, &error));
	g_assert_nonnull(error);
	g_assert_true(db_outbox_count(db, &n, NULL));
	g_assert_cmpint(n, ==, 3);
	g_clear_pointer(&got, g_free);
	got = outbox_topics(db);
	g_assert_cmpstr(got, ==, "ha/old/config= b/x/state=s2 b/x/event=p3");
	db_free(db);
}

static void migrated_usable(struct db *db, const char *path)
{
	const struct db_sample s = sample(T0, 4, 9, 0xff);
	g_autoptr(GArray) samples = NULL;

	assert_cursor(db, A, 0, 0);
	g_assert_cmpint(sql_int(path, "SELECT count(*) FROM activity"), ==, 0);
	fill_band(db, A, T0);
	g_assert_cmpint(rows_of(path, A), >=, 6);
	store(db, A, &s, 1, T0 + 60);
	samples = range(db, A, 0, INT64_MAX);
	g_assert_cmpuint(samples->len, ==, 1);
	assert_sample(&g_array_index(samples, struct db_sample, 0), T0, 4, 9, 0xff);
	assert_cursor(db, A, T0 + 60, 0);
}

static void test_bad_addresses_v2(struct fixture *f, gconstpointer data)
{
	struct db *db = open_ok(f->path);

	(void)data;
	add_band(db, A);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_addresses); i++)
		assert_invalid_v2(db, bad_addresses[i]);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM activity"), ==, 0);
	g_assert_cmpint(sql_int(f->path, "SELECT count(*) FROM notifications"), ==, 0);
	db_free(db);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, func) g_test_add(name, struct fixture, NULL, fixture_set_up, func, fixture_tear_down)
	ADD("/db/open/fresh", test_fresh);
	ADD("/db/open/reopen", test_reopen);
	ADD("/db/open/future-refused", test_future_refused);
	ADD("/db/open/future-wal-refused", test_future_wal_refused);
	ADD("/db/open/foreign-refused", test_foreign_refused);
	ADD("/db/open/corrupt", test_corrupt_file);
	ADD("/db/open/bad-path", test_bad_path);
	g_test_add_func("/db/open/read-only", test_read_only);
	ADD("/db/migrate/from-empty-file", test_migrate_from_empty_file);
	ADD("/db/migrate/from-v1", test_migrate_from_v1);
	ADD("/db/migrate/from-v2", test_migrate_from_v2);
	ADD("/db/outbox/order-and-coalescing", test_outbox_order_and_coalescing);
	ADD("/db/outbox/bound-and-bad-input", test_outbox_bound_and_bad_input);
	ADD("/db/outbox/trim-keeps-states-and-batches-are-atomic", test_outbox_trim_keeps_states_and_batches_are_atomic);
	ADD("/db/band/add-idempotent", test_add_idempotent);
	ADD("/db/band/key", test_key_round_trip);
	ADD("/db/band/bad-addresses", test_bad_addresses);
	ADD("/db/band/list-order", test_list_order);
	ADD("/db/band/move", test_move);
	ADD("/db/band/forget", test_forget);
	ADD("/db/event/list", test_events);
	ADD("/db/activity/round-trip", test_activity_round_trip);
	ADD("/db/activity/replace", test_activity_replace);
	ADD("/db/activity/atomic", test_activity_atomic);
	ADD("/db/activity/sync-cursor", test_sync_cursor);
	ADD("/db/activity/daily", test_activity_daily);
	ADD("/db/live/totals", test_totals);
	ADD("/db/live/bad-days", test_bad_days);
	ADD("/db/live/battery", test_battery);
	ADD("/db/live/heart-rate", test_heart_rate);
	ADD("/db/notify/lifecycle", test_notify_lifecycle);
	ADD("/db/notify/list", test_notify_list);
	ADD("/db/notify/errors", test_notify_errors);
	ADD("/db/band/move-carries-data", test_move_carries_data);
	ADD("/db/prune", test_prune);
	ADD("/db/open/readonly-beside-writer", test_readonly_beside_writer);
	ADD("/db/open/readonly-refused", test_readonly_refused);
	ADD("/db/band/bad-addresses-v2", test_bad_addresses_v2);
#undef ADD
	return g_test_run();
}
