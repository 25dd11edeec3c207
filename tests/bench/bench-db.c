/* Figures for storing activity history: 30 days of minutes (43,200 samples) through db_activity_store in the
 * batch sizes the sync produces, and the same rows through a plain bulk INSERT (one transaction, one prepared
 * statement, raw SQLite) into the same schema: the floor db_activity_store is measured against. Each run
 * starts from a fresh file. Never asserted, not part of ctest (tests/bench/README.md).
 *
 * Usage: bench-db [DIR [REPS]]   DIR for the temporary files (default: $TMPDIR or /tmp), best of REPS (3). */
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"

#define BENCH_BAND "C8:0F:10:11:22:33"
#define BENCH_SAMPLES (30 * 24 * 60)
#define BENCH_START INT64_C(1709251200)  /* 2024-03-01 00:00 UTC */

/* 4: one notification of a history round; 1440: a day, what a round fetches after a day away; 43200: all. */
static const size_t batch_sizes[] = { 4, 1440, BENCH_SAMPLES };

static struct db_sample *make_samples(void)
{
	struct db_sample *samples = g_new0(struct db_sample, BENCH_SAMPLES);

	for (size_t i = 0; i < BENCH_SAMPLES; i++)
		samples[i] = (struct db_sample){
			.minute = BENCH_START + 60 * (int64_t)i, .tz = 4, .kind = (uint8_t)(i % 16),
			.intensity = (uint8_t)(i % 200), .steps = (uint8_t)(i % 120),
			.heart_rate = i % 5 ? 0xff : (uint8_t)(60 + i % 50),
		};
	return samples;
}

static void die(const char *what, const GError *error)
{
	fprintf(stderr, "bench-db: %s: %s\n", what, error ? error->message : "failed");
	exit(1);
}

/* A fresh database in dir with the band added: the same schema and pragmas the daemon gets. */
static struct db *fresh_db(const char *dir, const char *name, char **ret_path)
{
	g_autoptr(GError) error = NULL;
	struct db *db;

	*ret_path = g_build_filename(dir, name, NULL);
	db = db_open(*ret_path, &error);
	if (!db || !db_band_add(db, BENCH_BAND, &error))
		die(*ret_path, error);
	return db;
}

static void remove_db(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };

	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *file = g_strconcat(path, suffixes[i], NULL);

		g_unlink(file);
	}
}

/* Seconds to store every sample through db_activity_store, batch at a time, the cursor after each batch. */
static double run_store(const char *dir, const struct db_sample *samples, size_t batch)
{
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	struct db *db = fresh_db(dir, "bench-store.db", &path);
	int64_t start = g_get_monotonic_time();

	for (size_t i = 0; i < BENCH_SAMPLES; i += batch) {
		size_t n = MIN(batch, BENCH_SAMPLES - i);

		if (!db_activity_store(db, BENCH_BAND, samples + i, n, samples[i + n - 1].minute + 60, &error))
			die("db_activity_store", error);
	}
	start = g_get_monotonic_time() - start;
	db_free(db);
	remove_db(path);
	return (double)start / G_USEC_PER_SEC;
}

static void check(sqlite3 *sqlite, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		fprintf(stderr, "bench-db: %s: %s\n", what, sqlite3_errmsg(sqlite));
		exit(1);
	}
}

static void insert_raw(sqlite3 *sqlite, sqlite3_stmt *stmt, const struct db_sample *samples)
{
	for (size_t i = 0; i < BENCH_SAMPLES; i++) {
		sqlite3_bind_int64(stmt, 2, samples[i].minute);
		sqlite3_bind_int(stmt, 3, samples[i].tz);
		sqlite3_bind_int(stmt, 4, samples[i].kind);
		sqlite3_bind_int(stmt, 5, samples[i].intensity);
		sqlite3_bind_int(stmt, 6, samples[i].steps);
		if (samples[i].heart_rate == 0xff)
			sqlite3_bind_null(stmt, 7);
		else
			sqlite3_bind_int(stmt, 7, samples[i].heart_rate);
		check(sqlite, sqlite3_step(stmt), "insert");
		sqlite3_reset(stmt);
	}
}

/* The same rows in one transaction with one statement, straight through SQLite, with the daemon's pragmas
 * (WAL is in the file already; synchronous and foreign keys are per connection). */
static double run_raw(const char *dir, const struct db_sample *samples)
{
	g_autofree char *path = NULL;
	sqlite3 *sqlite = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t start;

	db_free(fresh_db(dir, "bench-raw.db", &path));
	check(sqlite, sqlite3_open(path, &sqlite), "open");
	check(sqlite, sqlite3_exec(sqlite, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL, NULL),
	      "pragmas");
	start = g_get_monotonic_time();
	check(sqlite, sqlite3_exec(sqlite, "BEGIN", NULL, NULL, NULL), "begin");
	check(sqlite, sqlite3_prepare_v2(sqlite, "INSERT INTO activity (address, minute, tz, kind, intensity, steps,"
	                                 " heart_rate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &stmt, NULL), "prepare");
	sqlite3_bind_text(stmt, 1, BENCH_BAND, -1, SQLITE_STATIC);
	insert_raw(sqlite, stmt, samples);
	sqlite3_finalize(stmt);
	check(sqlite, sqlite3_exec(sqlite, "COMMIT", NULL, NULL, NULL), "commit");
	start = g_get_monotonic_time() - start;
	sqlite3_close(sqlite);
	remove_db(path);
	return (double)start / G_USEC_PER_SEC;
}

static double best(double a, double b)
{
	return a < b ? a : b;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : g_get_tmp_dir();
	int reps = argc > 2 ? atoi(argv[2]) : 3;
	g_autofree struct db_sample *samples = make_samples();
	double raw = 1e9, store[G_N_ELEMENTS(batch_sizes)];

	if (reps < 1) {
		fprintf(stderr, "usage: bench-db [DIR [REPS]]\n");
		return 2;
	}
	for (size_t b = 0; b < G_N_ELEMENTS(batch_sizes); b++)
		store[b] = 1e9;
	for (int r = 0; r < reps; r++) {
		raw = best(raw, run_raw(dir, samples));
		for (size_t b = 0; b < G_N_ELEMENTS(batch_sizes); b++)
			store[b] = best(store[b], run_store(dir, samples, batch_sizes[b]));
	}
	printf("%d samples into a fresh file in %s, best of %d, SQLite %s\n", BENCH_SAMPLES, dir, reps,
	       sqlite3_libversion());
	printf("%-34s %12s %14s %10s\n", "", "seconds", "samples/s", "time/raw");
	printf("%-34s %12.4f %14.0f %10s\n", "raw bulk INSERT, one transaction", raw, BENCH_SAMPLES / raw, "1.00");
	for (size_t b = 0; b < G_N_ELEMENTS(batch_sizes); b++)
		printf("db_activity_store, batches of %-5zu %12.4f %14.0f %10.2f\n", batch_sizes[b], store[b],
		       BENCH_SAMPLES / store[b], store[b] / raw);
	return 0;
}
