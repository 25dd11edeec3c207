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
	list = events(db, NULL, 0, 0);
	g_assert_cmpuint(list->len, ==, 2);
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

static void test_bad_addresses(struct fixture *f, gconstpointer data)
{
	static const char *const bad[] = {
		NULL, "", "C8:0F:10:11:22", "C8:0F:10:11:22:3", "C8:0F:10:11:22:3G", "C8-0F-10-11-22-33",
		"C8:0F:10:11:22:33:", "C8:0F:10:11:22:33:44", "C80F10112233xxxxx", " C8:0F:10:11:22:3",
		"C8:0F:10:11:22:33\n", "C8::0F:10:11:22:3", "\xff\xfe:0F:10:11:22:33",
	};
	struct db *db = open_ok(f->path);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct db_band band;

	(void)data;
	add_band(db, A);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_invalid(db, bad[i]);
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
	ADD("/db/band/add-idempotent", test_add_idempotent);
	ADD("/db/band/key", test_key_round_trip);
	ADD("/db/band/bad-addresses", test_bad_addresses);
	ADD("/db/band/list-order", test_list_order);
	ADD("/db/band/move", test_move);
	ADD("/db/band/forget", test_forget);
	ADD("/db/event/list", test_events);
#undef ADD
	return g_test_run();
}
