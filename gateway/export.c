/* bandgate export (export.h). Minute rows carry the UTC time in ISO 8601 and the band's own zone, so a
 * spreadsheet and a script both read them without guessing. */
#define G_LOG_DOMAIN "bandgate-export" /* G_MESSAGES_DEBUG=bandgate-export turns on its debug lines alone */
#include "exitcode.h"
#include "address.h"
#include "export.h"

#include <cjson/cJSON.h>
#include <glib.h>
#include <string.h>

#include "db.h"


/* "YYYY-MM-DD" at local midnight, as UTC seconds; false if it is not such a date. */
static bool parse_day(const char *text, int64_t *ret)
{
	int y, m, d;
	char tail;
	g_autoptr(GDateTime) t = NULL;

	if (sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(text) != 10 || !g_date_valid_dmy(
	        (GDateDay)d, (GDateMonth)m, (GDateYear)y))
		return false;
	t = g_date_time_new_local(y, m, d, 0, 0, 0);
	if (!t)
		return false;
	*ret = g_date_time_to_unix(t);
	return true;
}

static char *iso_utc(int64_t t)
{
	g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);

	return g_date_time_format(d, "%Y-%m-%dT%H:%M:%SZ");
}

static void minutes_csv(GArray *rows, FILE *out)
{
	fputs("time_utc,tz_minutes,kind,intensity,steps,heart_rate\n", out);
	for (guint i = 0; i < rows->len; i++) {
		struct db_sample *s = &g_array_index(rows, struct db_sample, i);
		g_autofree char *t = iso_utc(s->minute);

		fprintf(out, "%s,%d,%u,%u,%u,", t, s->tz * 15, s->kind, s->intensity, s->steps);
		if (s->heart_rate != DB_HR_NONE)
			fprintf(out, "%u", s->heart_rate);
		fputc('\n', out);
	}
}

static cJSON *minutes_json(GArray *rows)
{
	cJSON *list = cJSON_CreateArray();

	for (guint i = 0; i < rows->len; i++) {
		struct db_sample *s = &g_array_index(rows, struct db_sample, i);
		g_autofree char *t = iso_utc(s->minute);
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "time", t);
		cJSON_AddNumberToObject(o, "tz_minutes", s->tz * 15);
		cJSON_AddNumberToObject(o, "kind", s->kind);
		cJSON_AddNumberToObject(o, "intensity", s->intensity);
		cJSON_AddNumberToObject(o, "steps", s->steps);
		if (s->heart_rate != DB_HR_NONE)
			cJSON_AddNumberToObject(o, "heart_rate", s->heart_rate);
		else
			cJSON_AddNullToObject(o, "heart_rate");
		cJSON_AddItemToArray(list, o);
	}
	return list;
}

static void days_csv(GArray *rows, FILE *out)
{
	fputs("day,steps,minutes,hr_min,hr_avg,hr_max\n", out);
	for (guint i = 0; i < rows->len; i++) {
		struct db_day *d = &g_array_index(rows, struct db_day, i);

		fprintf(out, "%s,%" G_GINT64_FORMAT ",%d,", d->day, d->steps, d->minutes);
		if (d->hr_max)
			fprintf(out, "%d,%d,%d", d->hr_min, d->hr_avg, d->hr_max);
		else
			fputs(",,", out);
		fputc('\n', out);
	}
}

static cJSON *days_json(GArray *rows)
{
	cJSON *list = cJSON_CreateArray();

	for (guint i = 0; i < rows->len; i++) {
		struct db_day *d = &g_array_index(rows, struct db_day, i);
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "day", d->day);
		cJSON_AddNumberToObject(o, "steps", (double)d->steps);
		cJSON_AddNumberToObject(o, "minutes", d->minutes);
		if (d->hr_max) {
			cJSON_AddNumberToObject(o, "hr_min", d->hr_min);
			cJSON_AddNumberToObject(o, "hr_avg", d->hr_avg);
			cJSON_AddNumberToObject(o, "hr_max", d->hr_max);
		}
		cJSON_AddItemToArray(list, o);
	}
	return list;
}

static bool check_options(const struct export_options *opt, int64_t *from, int64_t *to)
{
	bool json = opt->format && strcmp(opt->format, "json") == 0;

	if (opt->format && !json && strcmp(opt->format, "csv") != 0) {
		fprintf(stderr, "bandgate export: --format is csv or json\n");
		return false;
	}
	if ((opt->from && !parse_day(opt->from, from)) || (opt->to && !parse_day(opt->to, to))) {
		fprintf(stderr, "bandgate export: dates are YYYY-MM-DD\n");
		return false;
	}
	return true;
}

static void write_rows(GArray *rows, const struct export_options *opt, FILE *out)
{
	if (opt->format && strcmp(opt->format, "json") == 0) {
		cJSON *list = opt->daily ? days_json(rows) : minutes_json(rows);
		char *text = cJSON_Print(list);

		fprintf(out, "%s\n", text);
		cJSON_free(text);
		cJSON_Delete(list);
	} else if (opt->daily) {
		days_csv(rows, out);
	} else {
		minutes_csv(rows, out);
	}
}

int export_run(const char *database, const struct export_options *opt, FILE *out)
{
	g_autoptr(GError) error = NULL;
	int64_t from = 0, to = G_MAXINT64;
	struct db *db;
	GArray *rows;
	char address[ADDRESS_SIZE];

	if (!opt->address) {
		fprintf(stderr, "bandgate export: which band? bandgate export ADDRESS [--from DAY] [--to DAY]\n");
		return EXITCODE_USAGE;
	}
	if (!check_options(opt, &from, &to))
		return EXITCODE_USAGE;
	if (!address_parse(opt->address, strlen(opt->address), address)) {
		fprintf(stderr, "bandgate export: '%s' is not a band address, e.g. C8:0F:10:11:22:33\n", opt->address);
		return EXITCODE_USAGE;
	}
	db = db_open_readonly(database, &error);
	if (!db) {
		fprintf(stderr, "bandgate export: %s\n", error->message);
		return EXITCODE_RUNTIME;
	}
	rows = opt->daily ? db_activity_daily(db, address, from, to, &error) :
	                    db_activity_range(db, address, from, to, &error);
	db_free(db);
	if (!rows) {
		fprintf(stderr, "bandgate export: %s\n", error->message);
		return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT) ? EXITCODE_USAGE : EXITCODE_RUNTIME;
	}
	write_rows(rows, opt, out);
	g_array_unref(rows);
	return EXITCODE_OK;
}
