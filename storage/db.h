/* bandgate's storage: one SQLite file in WAL mode, the only place in the tree that holds SQL (STYLE.md).
 * Every call runs on the main loop and is short; errors come back as GError in G_IO_ERROR with SQLite's own
 * message. Addresses are taken in either case and stored upper case "C8:0F:10:11:22:33"; a malformed one is
 * G_IO_ERROR_INVALID_ARGUMENT. A band that is not managed is G_IO_ERROR_NOT_FOUND. */
#pragma once

#include <gio/gio.h>  /* G_IO_ERROR, whose codes the errors carry */
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The newest schema this code knows; a file with a higher PRAGMA user_version is refused. */
#define DB_SCHEMA_VERSION 3
#define DB_KEY_SIZE 16

struct db;

/* ---- opening and closing (db.c) ---- */

/* Opens or creates the database at path. A new file is created 0600 (it holds band keys), a missing parent
 * directory 0700. WAL journal, foreign keys on, a short busy timeout, then any pending migrations, each in
 * its own transaction. A file newer than this code, or a SQLite file that is not bandgate's, is refused with
 * a message saying so and is left untouched. */
struct db *db_open(const char *path, GError **error);
/* A read-only handle for `bandgate export` beside the running daemon (WAL): opens an existing file without
 * creating or migrating it; refuses a file whose version differs from DB_SCHEMA_VERSION with a clear message.
 * Every write through it fails with G_IO_ERROR_READ_ONLY. */
struct db *db_open_readonly(const char *path, GError **error);
void db_free(struct db *db);
/* The schema version of the open file: DB_SCHEMA_VERSION once db_open has succeeded. */
int db_schema_version(const struct db *db);

/* ---- managed bands (db-band.c) ---- */

struct db_band {
	char address[18];        /* upper case "C8:0F:10:11:22:33" */
	bool has_key;
	uint8_t key[DB_KEY_SIZE];
	char *name;              /* may be NULL */
	char *firmware;          /* may be NULL, e.g. "1.0.1.81" */
	int64_t added;           /* UTC seconds */
	int64_t last_connected;  /* UTC seconds, 0 = never */
};

/* Frees the strings; the struct itself is the caller's. Safe on a zeroed struct. */
void db_band_clear(struct db_band *band);
/* Adds a managed band; an existing row is kept as it is. */
bool db_band_add(struct db *db, const char *address, GError **error);
/* Fills *ret (zeroed first, so db_band_clear is always safe); G_IO_ERROR_NOT_FOUND if the band is absent. */
bool db_band_get(struct db *db, const char *address, struct db_band *ret, GError **error);
/* Every managed band as struct db_band *, ordered by address; the array frees its elements. */
GPtrArray *db_band_list(struct db *db, GError **error);
bool db_band_set_key(struct db *db, const char *address, const uint8_t key[DB_KEY_SIZE], GError **error);
bool db_band_clear_key(struct db *db, const char *address, GError **error);
/* name and firmware may be NULL, which clears them. */
bool db_band_set_name(struct db *db, const char *address, const char *name, GError **error);
bool db_band_set_firmware(struct db *db, const char *address, const char *firmware, GError **error);
bool db_band_set_connected(struct db *db, const char *address, int64_t when, GError **error);
/* A factory reset gives the band a new address (miband2-protocol.md §15): the row and everything keyed to it
 * move to the new address at once. Repeating a move that is done succeeds; G_IO_ERROR_EXISTS if new_address
 * is already a different managed band. */
bool db_band_move(struct db *db, const char *old_address, const char *new_address, GError **error);
/* Removes the band and all its data. Forgetting a band that is not there succeeds. */
bool db_band_forget(struct db *db, const char *address, GError **error);

/* ---- events (db-band.c): connection changes, auth failures, resets, button presses; append-only ---- */

struct db_event {
	int64_t id;
	int64_t when;            /* UTC seconds */
	char address[18];        /* "" for an event of the gateway itself */
	char *type;
	char *detail;            /* may be NULL */
};

/* address NULL records an event of the gateway (an adapter reset); otherwise the band must be managed.
 * type must be non-empty; detail may be NULL. */
bool db_event_add(struct db *db, const char *address, int64_t when, const char *type, const char *detail,
                  GError **error);
/* Events at or after since, newest first, at most limit of them (0: no limit), as struct db_event *; the
 * array frees its elements. address NULL lists the events of every band and of the gateway. */
GPtrArray *db_event_list(struct db *db, const char *address, int64_t since, unsigned limit, GError **error);
/* A band's timeline: its events and the gateway's own (an adapter reset concerns every band), newest first, at
 * most limit (0: all), as struct db_event *. */
GPtrArray *db_event_timeline(struct db *db, const char *address, unsigned limit, GError **error);

/* ---- activity history (db-history.c): one row per band and minute, from the band (miband2-protocol.md §10) ---- */

#define DB_TZ_MIN (-48)  /* UTC-12:00 in quarter hours */
#define DB_TZ_MAX 56     /* UTC+14:00 */
#define DB_HR_NONE 0xff  /* a minute without a heart-rate measurement */

struct db_sample {
	int64_t minute;          /* UTC seconds, multiple of 60 */
	int8_t tz;               /* band's zone, quarter hours, DB_TZ_MIN..DB_TZ_MAX */
	uint8_t kind, intensity, steps;
	uint8_t heart_rate;      /* DB_HR_NONE = not measured (stored as NULL, read back as DB_HR_NONE) */
};

/* Stores n samples (INSERT OR REPLACE: a minute fetched again replaces itself, never duplicates) and sets the
 * band's sync cursor to cursor, all in ONE transaction: either both land or neither. n may be 0 (cursor only).
 * A sample whose minute is not a multiple of 60 or whose tz is out of range, or a negative cursor, is
 * G_IO_ERROR_INVALID_ARGUMENT and nothing is written. One prepared statement is reused for the batch. */
bool db_activity_store(struct db *db, const char *address, const struct db_sample *samples, size_t n,
                       int64_t cursor, GError **error);
/* The band's sync cursor (0 = never synced) and the time of its last completed sync (0 = never). Either
 * pointer may be NULL. */
bool db_sync_get(struct db *db, const char *address, int64_t *ret_cursor, int64_t *ret_last_sync, GError **error);
/* Sets last_sync to when (UTC seconds, not negative). */
bool db_sync_done(struct db *db, const char *address, int64_t when, GError **error);
/* Samples with from <= minute < to, ordered by minute, as a GArray of struct db_sample. */
GArray *db_activity_range(struct db *db, const char *address, int64_t from, int64_t to, GError **error);

struct db_day {
	char day[11];            /* band-local "YYYY-MM-DD" (minute + tz * 900 s) */
	int64_t steps;           /* sum of the samples' steps */
	int minutes;             /* samples stored that day */
	int hr_min, hr_max, hr_avg; /* over measured minutes (heart rate 1..254), 0 when none; avg rounded */
};

/* Per band-local day over the samples with from <= minute < to, ordered by day, GArray of struct db_day. */
GArray *db_activity_daily(struct db *db, const char *address, int64_t from, int64_t to, GError **error);

/* ---- live values (db-band.c): the band's counters, battery and heart rate as they change ---- */

struct db_totals {
	char day[11];            /* band-local "YYYY-MM-DD", a valid date */
	int64_t steps, meters, calories; /* not negative */
	int64_t updated;         /* UTC seconds of the reading */
};

/* Upserts the day's totals keeping the maximum of each counter (the band's counter only grows within its day;
 * a smaller value is a stale or corrupt one and must not lower what is stored); updated keeps the newest. */
bool db_totals_store(struct db *db, const char *address, const struct db_totals *totals, GError **error);
/* The stored totals for day; G_IO_ERROR_NOT_FOUND when none. */
bool db_totals_get(struct db *db, const char *address, const char *day, struct db_totals *ret, GError **error);
/* level 0..100. */
bool db_battery_add(struct db *db, const char *address, int64_t when, int level, bool charging, GError **error);
/* The newest battery reading (the last added among equal times); G_IO_ERROR_NOT_FOUND when none. Any ret_
 * pointer may be NULL. */
bool db_battery_last(struct db *db, const char *address, int64_t *ret_when, int *ret_level, bool *ret_charging,
                     GError **error);
/* bpm 1..254. */
bool db_heart_rate_add(struct db *db, const char *address, int64_t when, int bpm, GError **error);

/* ---- notifications sent to the band (db-notify.c): one row each, with its status ---- */

enum db_notify_status {
	DB_NOTIFY_QUEUED,
	DB_NOTIFY_SENT,
	DB_NOTIFY_FAILED,
};

struct db_notification {
	int64_t id;
	char address[18];
	char *source, *kind, *title, *text, *error; /* title/text/error may be NULL */
	int category;            /* alert category byte, 0..255 (5 = SMS) */
	enum db_notify_status status;
	int attempts;
	int64_t created, updated; /* UTC seconds */
};

/* Queues a notification (status queued, attempts 0); *ret_id its id (ret_id may be NULL). source is any
 * non-empty text ("mqtt", "web", "cli", "api"), kind one of "text", "vibrate", "find", category 0..255. */
bool db_notify_add(struct db *db, const char *address, const char *source, const char *kind, int category,
                   const char *title, const char *text, int64_t when, int64_t *ret_id, GError **error);
/* Records an attempt: attempts+1, status, updated=when, error (NULL clears). G_IO_ERROR_NOT_FOUND if no such id. */
bool db_notify_attempt(struct db *db, int64_t id, enum db_notify_status status, int64_t when, const char *error_text,
                       GError **error);
/* Queued notifications of a band, oldest first (by id), as struct db_notification * (array frees them). */
GPtrArray *db_notify_queued(struct db *db, const char *address, GError **error);
/* The newest notifications (any status), newest first, at most limit (0 = all); address NULL = every band. */
GPtrArray *db_notify_list(struct db *db, const char *address, unsigned limit, GError **error);
/* Fills *ret (zeroed first, so db_notification_clear is always safe); G_IO_ERROR_NOT_FOUND if no such id. */
bool db_notify_get(struct db *db, int64_t id, struct db_notification *ret, GError **error);
/* Frees the strings; the struct itself is the caller's. Safe on a zeroed struct. */
void db_notification_clear(struct db_notification *n);
/* "queued", "sent", "failed"; NULL for a value outside the enum. */
const char *db_notify_status_name(enum db_notify_status status);

/* ---- retention (db-history.c) ---- */

/* Deletes activity, heart-rate, battery, daily totals (by their updated time), events and finished (sent/failed,
 * by their updated time) notifications older than before (UTC seconds), in one transaction; queued
 * notifications and bands are never pruned. *ret_deleted (may be NULL): rows removed. */
bool db_prune(struct db *db, int64_t before, int64_t *ret_deleted, GError **error);

/* ---- the MQTT outbox (db-outbox.c): written before publishing, deleted on the broker's acknowledgement ---- */

struct db_outbox_msg {
	int64_t id;
	char *topic;
	char *payload;   /* len bytes, NUL-terminated when read back */
	size_t len;
	int qos;         /* 0..2 */
	bool retain;
	bool coalesce;   /* a state: a newer row with the same topic replaces this one */
	int64_t created; /* UTC seconds */
};

/* Appends msg (id ignored) in one transaction: a coalescing message first deletes the older coalescing rows of
 * its topic; then, when limit > 0 and the outbox holds more rows than limit, the oldest non-coalescing rows go
 * (*ret_dropped counts them). *ret_id (may be NULL) is the new row. */
bool db_outbox_add(struct db *db, const struct db_outbox_msg *msg, unsigned limit, int64_t *ret_id,
                   int64_t *ret_dropped, GError **error);
/* The same for n messages in one transaction (one commit: a discovery round is dozens of rows); all or none.
 * *ret_last_id is the last new row. */
bool db_outbox_add_many(struct db *db, const struct db_outbox_msg *msgs, size_t n, unsigned limit,
                        int64_t *ret_last_id, int64_t *ret_dropped, GError **error);
/* Up to max rows (0 = all) with id > after, in id order, as struct db_outbox_msg * (the array frees them). */
GPtrArray *db_outbox_next(struct db *db, int64_t after, unsigned max, GError **error);
/* Deleting an id that is gone (coalesced or trimmed meanwhile) is not an error. */
bool db_outbox_delete(struct db *db, int64_t id, GError **error);
/* The same for n ids in one transaction (one commit, not n: the drain after an outage is bound by commits). */
bool db_outbox_delete_many(struct db *db, const int64_t *ids, size_t n, GError **error);
bool db_outbox_count(struct db *db, int64_t *ret, GError **error);
