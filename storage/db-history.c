/* Activity history: the per-minute samples fetched from the band and the sync cursor that moves with them,
 * the queries `bandgate export` reads them with (minutes and days), and retention. */
#include "db-private.h"

#include <inttypes.h>

/* ---- storing history: the samples and the sync cursor ---- */

static bool check_samples(const struct db_sample *samples, size_t n, int64_t cursor, GError **error)
{
	if (n > 0 && !samples)
		return db_invalid(error, "no samples given for a count of %zu", n);
	for (size_t i = 0; i < n; i++) {
		if (samples[i].minute < 0 || samples[i].minute % 60 != 0)
			return db_invalid(error, "sample %zu: %" PRId64 " is not the start of a minute", i,
			                  samples[i].minute);
		if (!db_check_range(samples[i].tz, DB_TZ_MIN, DB_TZ_MAX, "the time zone (quarter hours)", error)) {
			g_prefix_error(error, "sample %zu: ", i);
			return false;
		}
	}
	return db_check_range(cursor, 0, INT64_MAX, "the sync cursor", error);
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
	stmt = db_query(db, "INSERT INTO activity (address, minute, tz, kind, intensity, steps, heart_rate)"
	                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (address, minute) DO UPDATE SET tz = excluded.tz,"
	                " kind = excluded.kind, intensity = excluded.intensity, steps = excluded.steps,"
	                " heart_rate = excluded.heart_rate", ARGS(ARG_TEXT(addr)), error);
	for (size_t i = 0; stmt && i < n; i++) {
		bind_sample(stmt, &samples[i]);
		if (!db_run_for_band(db, addr, stmt, error))
			return false;
		sqlite3_reset(stmt);
	}
	return stmt != NULL;
}

bool db_activity_store(struct db *db, const char *address, const struct db_sample *samples, size_t n,
                       int64_t cursor, GError **error)
{
	char addr[ADDRESS_SIZE];
	bool ok;

	if (!db_normalise(address, addr, error) || !check_samples(samples, n, cursor, error) || !db_begin(db, error))
		return false;
	ok = insert_samples(db, addr, samples, n, error) &&
	     db_set_column(db, addr, "UPDATE bands SET sync_cursor = ?1 WHERE address = ?2", ARG_INT(cursor), error);
	return db_finish(db, ok, error);
}

bool db_sync_get(struct db *db, const char *address, int64_t *ret_cursor, int64_t *ret_last_sync, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	if (!db_normalise(address, addr, error))
		return false;
	stmt = db_query(db, "SELECT sync_cursor, last_sync FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)), error);
	rc = db_step(db, stmt, error);
	if (rc == SQLITE_DONE)
		return db_not_managed(addr, error);
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
	return db_check_time(when, error) &&
	       db_set_column(db, address, "UPDATE bands SET last_sync = ?1 WHERE address = ?2", ARG_INT(when), error);
}

/* ---- reading history: the minutes and days of an export ---- */

typedef void (*struct_reader)(sqlite3_stmt *stmt, void *ret);

/* Every row of stmt through read, into an array of structs of size bytes, zeroed before each read. */
static GArray *collect_structs(struct db *db, sqlite3_stmt *stmt, size_t size, struct_reader read, GError **error)
{
	g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, (guint)size);
	int rc;

	while ((rc = db_step(db, stmt, error)) == SQLITE_ROW) {
		g_array_set_size(rows, rows->len + 1);
		read(stmt, rows->data + (size_t)(rows->len - 1) * size);
	}
	return rc == SQLITE_DONE ? g_steal_pointer(&rows) : NULL;
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
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error) || !db_check_managed(db, addr, error))
		return NULL;
	stmt = db_query(db, sql, ARGS(ARG_TEXT(addr), ARG_INT(from), ARG_INT(to)), error);
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

	db_column_copy(stmt, 0, day->day, sizeof(day->day));
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

/* ---- retention: of every table that grows, here because history is most of what it removes ---- */

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
		g_autoptr(sqlite3_stmt) stmt = db_query(db, prune_statements[i], ARGS(ARG_INT(before)), error);

		if (!db_run(db, stmt, NULL, error))
			return false;
		*ret_deleted += sqlite3_changes64(db->sqlite);
	}
	return true;
}

bool db_prune(struct db *db, int64_t before, int64_t *ret_deleted, GError **error)
{
	int64_t deleted = 0;

	if (!db_begin(db, error) || !db_finish(db, prune(db, before, &deleted, error), error))
		return false;
	if (ret_deleted)
		*ret_deleted = deleted;
	return true;
}
