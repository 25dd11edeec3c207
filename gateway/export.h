/* `bandgate export`: the stored activity of a band, read straight from the database (read-only, beside the
 * running daemon: WAL), as CSV or JSON, per minute or per band-local day. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

struct export_options {
	const char *address;  /* "C8:0F:10:11:22:33" or "c80f10112233" */
	const char *from, *to; /* "YYYY-MM-DD" (local midnight) or NULL: everything; to is exclusive */
	const char *format;   /* "csv" (default) or "json" */
	bool daily;
};

/* Writes to out; errors to stderr. Returns an enum exitcode (runtime: no database, no such band). */
int export_run(const char *database, const struct export_options *opt, FILE *out);
