/* Managed bands: their rows (address, key, name, firmware), the helpers the tables that belong to a band
 * share, the band's events and its live values (daily totals, battery, heart rate) as they change. */
#include "db-private.h"

#include <stdlib.h>
#include <string.h>

/* ---- the bands table ---- */

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

	db_column_copy(stmt, 0, ret->address, sizeof(ret->address));
	ret->has_key = key && sqlite3_column_bytes(stmt, 1) == DB_KEY_SIZE;
	if (ret->has_key)
		memcpy(ret->key, key, DB_KEY_SIZE);
	ret->name = db_column_strdup(stmt, 2);
	ret->firmware = db_column_strdup(stmt, 3);
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
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error))
		return false;
	stmt = db_query(db, "INSERT INTO bands (address, added) VALUES (?1, ?2) ON CONFLICT (address) DO NOTHING",
	                ARGS(ARG_TEXT(addr), ARG_INT(g_get_real_time() / G_USEC_PER_SEC)), error);
	return db_run(db, stmt, NULL, error);
}

bool db_band_get(struct db *db, const char *address, struct db_band *ret, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	*ret = (struct db_band){ 0 };
	if (!db_normalise(address, addr, error))
		return false;
	stmt = db_query(db, "SELECT " BAND_COLUMNS " FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)), error);
	rc = db_step(db, stmt, error);
	if (rc == SQLITE_DONE)
		return db_not_managed(addr, error);
	if (rc == SQLITE_ROW)
		read_band(stmt, ret);
	return rc == SQLITE_ROW;
}

GPtrArray *db_band_list(struct db *db, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = db_query(db, "SELECT " BAND_COLUMNS " FROM bands ORDER BY address", NO_ARGS,
	                                        error);

	return stmt ? db_collect(db, stmt, read_band_row, band_free, error) : NULL;
}

bool db_set_column(struct db *db, const char *address, const char *sql, struct arg value, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error))
		return false;
	stmt = db_query(db, sql, ARGS(value, ARG_TEXT(addr)), error);
	if (!db_run(db, stmt, NULL, error))
		return false;
	return sqlite3_changes(db->sqlite) > 0 || db_not_managed(addr, error);
}

bool db_band_set_key(struct db *db, const char *address, const uint8_t key[DB_KEY_SIZE], GError **error)
{
	g_return_val_if_fail(key != NULL, false);
	return db_set_column(db, address, "UPDATE bands SET key = ?1 WHERE address = ?2", ARG_BLOB(key, DB_KEY_SIZE),
	                     error);
}

bool db_band_clear_key(struct db *db, const char *address, GError **error)
{
	return db_set_column(db, address, "UPDATE bands SET key = ?1 WHERE address = ?2", ARG_BLOB(NULL, 0), error);
}

bool db_band_set_name(struct db *db, const char *address, const char *name, GError **error)
{
	return db_set_column(db, address, "UPDATE bands SET name = ?1 WHERE address = ?2", ARG_TEXT(name), error);
}

bool db_band_set_firmware(struct db *db, const char *address, const char *firmware, GError **error)
{
	return db_set_column(db, address, "UPDATE bands SET firmware = ?1 WHERE address = ?2", ARG_TEXT(firmware),
	                     error);
}

bool db_band_set_connected(struct db *db, const char *address, int64_t when, GError **error)
{
	return db_set_column(db, address, "UPDATE bands SET last_connected = ?1 WHERE address = ?2", ARG_INT(when),
	                     error);
}

static bool band_exists(struct db *db, const char *addr, bool *ret, GError **error)
{
	g_autoptr(sqlite3_stmt) stmt = db_query(db, "SELECT 1 FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)),
	                                        error);
	int rc = db_step(db, stmt, error);

	*ret = rc == SQLITE_ROW;
	return rc != SQLITE_ERROR;
}

/* One UPDATE of the primary key: the cascade carries every row that references the band in the same
 * statement. When the band is already at new_address (the move was done before), there is nothing to do. */
bool db_band_move(struct db *db, const char *old_address, const char *new_address, GError **error)
{
	char from[ADDRESS_SIZE], to[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autofree char *explain = NULL;
	bool done;

	if (!db_normalise(old_address, from, error) || !db_normalise(new_address, to, error))
		return false;
	explain = g_strdup_printf("cannot move band %s to %s: that address is already managed", from, to);
	stmt = db_query(db, "UPDATE bands SET address = ?2 WHERE address = ?1", ARGS(ARG_TEXT(from), ARG_TEXT(to)),
	                error);
	if (!db_run(db, stmt, explain, error))
		return false;
	if (sqlite3_changes(db->sqlite) > 0)
		return true;
	if (!band_exists(db, to, &done, error))
		return false;
	return done || db_not_managed(from, error);
}

bool db_band_forget(struct db *db, const char *address, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error))
		return false;
	stmt = db_query(db, "DELETE FROM bands WHERE address = ?1", ARGS(ARG_TEXT(addr)), error);
	return db_run(db, stmt, NULL, error);
}

/* ---- helpers for the tables that belong to a band ---- */

bool db_check_managed(struct db *db, const char *addr, GError **error)
{
	bool managed;

	if (!band_exists(db, addr, &managed, error))
		return false;
	return managed || db_not_managed(addr, error);
}

/* Nothing is allocated unless it fails: this runs once per sample of a history batch. */
bool db_run_for_band(struct db *db, const char *addr, sqlite3_stmt *stmt, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (db_run(db, stmt, NULL, &local))
		return true;
	if (local->code == G_IO_ERROR_NOT_FOUND)
		return db_not_managed(addr, error);
	g_propagate_error(error, g_steal_pointer(&local));
	return false;
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
	db_column_copy(stmt, 2, event->address, sizeof(event->address));
	event->type = db_column_strdup(stmt, 3);
	event->detail = db_column_strdup(stmt, 4);
	return event;
}

bool db_event_add(struct db *db, const char *address, int64_t when, const char *type, const char *detail,
                  GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	g_autofree char *explain = NULL;

	if (address && !db_normalise(address, addr, error))
		return false;
	if (!type || !*type) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "an event needs a type");
		return false;
	}
	explain = address ? g_strdup_printf("band %s is not managed", addr) : NULL;
	stmt = db_query(db, "INSERT INTO events (address, time, type, detail) VALUES (?1, ?2, ?3, ?4)",
	                ARGS(ARG_TEXT(address ? addr : NULL), ARG_INT(when), ARG_TEXT(type), ARG_TEXT(detail)), error);
	return db_run(db, stmt, explain, error);
}

GPtrArray *db_event_list(struct db *db, const char *address, int64_t since, unsigned limit, GError **error)
{
	/* SQLite reads a negative LIMIT as none. The id breaks ties between events of the same second. */
	int64_t max = limit ? (int64_t)limit : -1;
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (address && !db_normalise(address, addr, error))
		return NULL;
	if (address)
		stmt = db_query(db, "SELECT " EVENT_COLUMNS " FROM events WHERE address = ?3 AND time >= ?1"
		                " ORDER BY time DESC, id DESC LIMIT ?2", ARGS(ARG_INT(since), ARG_INT(max), ARG_TEXT(addr)),
		                error);
	else
		stmt = db_query(db, "SELECT " EVENT_COLUMNS " FROM events WHERE time >= ?1 ORDER BY time DESC, id DESC LIMIT ?2",
		                ARGS(ARG_INT(since), ARG_INT(max)), error);
	return stmt ? db_collect(db, stmt, read_event_row, event_free, error) : NULL;
}

GPtrArray *db_event_timeline(struct db *db, const char *address, unsigned limit, GError **error)
{
	int64_t max = limit ? (int64_t)limit : -1;
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error))
		return NULL;
	stmt = db_query(db, "SELECT " EVENT_COLUMNS " FROM events WHERE address = ?1 OR address IS NULL"
	                " ORDER BY time DESC, id DESC LIMIT ?2", ARGS(ARG_TEXT(addr), ARG_INT(max)), error);
	return stmt ? db_collect(db, stmt, read_event_row, event_free, error) : NULL;
}

/* ---- live values ---- */

/* "YYYY-MM-DD" and a real date: the band's own clock is the source and may be garbage. */
static bool check_day(const char *day, GError **error)
{
	bool ok = day && strnlen(day, 11) == 10 && day[4] == '-' && day[7] == '-';

	for (int i = 0; ok && i < 10; i++)
		ok = i == 4 || i == 7 || g_ascii_isdigit(day[i]);
	ok = ok && g_date_valid_dmy((GDateDay)atoi(day + 8), (GDateMonth)atoi(day + 5), (GDateYear)atoi(day));
	return ok || db_invalid(error, "'%.10s' is not a date like 2024-03-31", day ? day : "");
}

static bool check_totals(const struct db_totals *totals, GError **error)
{
	if (!totals)
		return db_invalid(error, "no totals given");
	return check_day(totals->day, error) && db_check_range(totals->steps, 0, INT64_MAX, "the steps", error) &&
	       db_check_range(totals->meters, 0, INT64_MAX, "the meters", error) &&
	       db_check_range(totals->calories, 0, INT64_MAX, "the calories", error) &&
	       db_check_time(totals->updated, error);
}

bool db_totals_store(struct db *db, const char *address, const struct db_totals *totals, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error) || !check_totals(totals, error))
		return false;
	stmt = db_query(db, "INSERT INTO daily_totals (address, day, steps, meters, calories, updated)"
	                " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (address, day) DO UPDATE SET"
	                " steps = max(steps, excluded.steps), meters = max(meters, excluded.meters),"
	                " calories = max(calories, excluded.calories), updated = max(updated, excluded.updated)",
	                ARGS(ARG_TEXT(addr), ARG_TEXT(totals->day), ARG_INT(totals->steps), ARG_INT(totals->meters),
	                     ARG_INT(totals->calories), ARG_INT(totals->updated)), error);
	return db_run_for_band(db, addr, stmt, error);
}

bool db_totals_get(struct db *db, const char *address, const char *day, struct db_totals *ret, GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	*ret = (struct db_totals){ 0 };
	if (!db_normalise(address, addr, error) || !check_day(day, error))
		return false;
	stmt = db_query(db, "SELECT steps, meters, calories, updated FROM daily_totals WHERE address = ?1 AND day = ?2",
	                ARGS(ARG_TEXT(addr), ARG_TEXT(day)), error);
	rc = db_step(db, stmt, error);
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
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error) || !db_check_time(when, error) ||
	    !db_check_range(level, 0, 100, "the battery level", error))
		return false;
	stmt = db_query(db, "INSERT INTO battery (address, time, level, charging) VALUES (?1, ?2, ?3, ?4)",
	                ARGS(ARG_TEXT(addr), ARG_INT(when), ARG_INT(level), ARG_INT(charging)), error);
	return db_run_for_band(db, addr, stmt, error);
}

bool db_battery_last(struct db *db, const char *address, int64_t *ret_when, int *ret_level, bool *ret_charging,
                     GError **error)
{
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;
	int rc;

	if (!db_normalise(address, addr, error))
		return false;
	stmt = db_query(db, "SELECT time, level, charging FROM battery WHERE address = ?1"
	                " ORDER BY time DESC, rowid DESC LIMIT 1", ARGS(ARG_TEXT(addr)), error);
	rc = db_step(db, stmt, error);
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
	char addr[ADDRESS_SIZE];
	g_autoptr(sqlite3_stmt) stmt = NULL;

	if (!db_normalise(address, addr, error) || !db_check_time(when, error) ||
	    !db_check_range(bpm, 1, 254, "the heart rate", error))
		return false;
	stmt = db_query(db, "INSERT INTO heart_rate (address, time, bpm) VALUES (?1, ?2, ?3)",
	                ARGS(ARG_TEXT(addr), ARG_INT(when), ARG_INT(bpm)), error);
	return db_run_for_band(db, addr, stmt, error);
}
