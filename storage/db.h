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
#define DB_SCHEMA_VERSION 1
#define DB_KEY_SIZE 16

struct db;

/* Opens or creates the database at path. A new file is created 0600 (it holds band keys), a missing parent
 * directory 0700. WAL journal, foreign keys on, a short busy timeout, then any pending migrations, each in
 * its own transaction. A file newer than this code, or a SQLite file that is not bandgate's, is refused with
 * a message saying so and is left untouched. */
struct db *db_open(const char *path, GError **error);
void db_free(struct db *db);
/* The schema version of the open file: DB_SCHEMA_VERSION once db_open has succeeded. */
int db_schema_version(const struct db *db);

/* ---- managed bands ---- */

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

/* ---- events: connection changes, auth failures, resets, button presses; append-only ---- */

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
