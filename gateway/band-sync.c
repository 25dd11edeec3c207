/* The history sync of one band (§10), in rounds of "from T" until the band has nothing newer; band-private.h. */
#define G_LOG_DOMAIN "bandgate-band" /* G_MESSAGES_DEBUG=bandgate-band turns on its debug lines alone */
#include <string.h>

#include "backoff.h"
#include "band-private.h"

#define SYNC_STALL_MS 30000     /* a history round that makes no progress this long is broken */
#define SYNC_RETRIES 5           /* broken rounds in a row that store nothing before a sync gives up */
#define SYNC_QUIET_MAX_MS 30000  /* a band that never goes quiet is retried anyway after this */
#define SYNC_ROUNDS_MAX 400      /* per sync: more than a year at the band's 1440 samples a round */
#define SYNC_FROM_NEVER 946771200 /* 2000-01-02 UTC: "everything the band has" for a first sync */

/* ---- history sync (§10): rounds of "from T" until the band has nothing newer ----
 *
 * A round that breaks (a counter gap, a packet that does not parse, a reply out of turn, a start that does not
 * match what was asked, a stall) keeps what it stored before the break and is retried from the cursor once the
 * band has been quiet on 0004/0005 for a while: the rest of the broken round, or of a round that a killed
 * daemon started and the band is still sending, drains first, whatever the band does with a start mid-round.
 * Retries that store nothing are bounded; then the sync gives up until the next one is asked for. */

static void sync_round(struct band *band);
static void sync_break(struct band *band, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean on_sync_stall(gpointer user_data)
{
	struct band *band = user_data;

	band->sync.timer = 0;
	sync_break(band, "the band stopped sending history");
	return G_SOURCE_REMOVE;
}

static void sync_progress(struct band *band)
{
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	band->sync.timer = g_timeout_add(SYNC_STALL_MS, on_sync_stall, band);
}

static void sync_log_stray(struct band *band)
{
	if (!band->sync.stray)
		return;
	band_log(band, G_LOG_LEVEL_MESSAGE, "ignored %u history notifications outside this gateway's rounds (the "
	         "rest of a broken round, or of a round this gateway did not start)", band->sync.stray);
	band->sync.stray = 0;
}

/* A notification on 0004/0005 that belongs to no round of ours: never stored, only counted. While a retry
 * waits for quiet, it also tells that the band is not quiet yet. */
static gboolean on_sync_quiet(gpointer user_data);

static void sync_stray(struct band *band)
{
	if (band->sync.stray++ == 0 && band->sync.phase == SYNC_PHASE_IDLE)
		band_log(band, G_LOG_LEVEL_MESSAGE, "history notifications of a round this gateway did not start are "
		         "coming; ignoring them");
	if (band->sync.phase != SYNC_PHASE_QUIET || g_get_monotonic_time() >= band->sync.quiet_deadline_us)
		return;
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	band->sync.timer = g_timeout_add(backoff_ms(&backoff_sync_quiet, band->sync.retries, g_random_int()),
	                                 on_sync_quiet, band);
}

static gboolean on_sync_quiet(gpointer user_data)
{
	struct band *band = user_data;

	band->sync.timer = 0;
	sync_log_stray(band);
	sync_round(band);
	return G_SOURCE_REMOVE;
}

/* Hands the round's samples so far (contiguous from its first) to the owner with the cursor after them. */
static bool sync_store(struct band *band)
{
	GArray *s = band->sync.samples;
	int64_t next;

	if (!s->len)
		return true;
	next = band->sync.first.utc + 60 * (int64_t)s->len;
	if (band->ops->history && !band->ops->history(band, band->sync.first.utc, band->sync.first.tz,
	                                              (const struct miband2_sample *)(void *)s->data, s->len, next,
	                                              band->user_data))
		return false;
	band->sync.from = MAX(band->sync.from, next);
	band->sync.retries = 0; /* the sync moves: the bound is on retries that bring nothing */
	g_array_set_size(s, 0);
	return true;
}

void band_sync_stop(struct band *band, bool ok, const char *why)
{
	if (!sync_store(band) && ok) {
		ok = false;
		why = "the history could not be stored";
	}
	band->sync.phase = SYNC_PHASE_IDLE;
	band->sync.retries = 0;
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	g_clear_pointer(&band->sync.samples, g_array_unref);
	g_clear_pointer(&band->sync.error, g_free);
	sync_log_stray(band);
	if (!ok) {
		band->sync.error = g_strdup(why);
		band_log(band, G_LOG_LEVEL_MESSAGE, "history sync stopped: %s", why);
	}
	if (band->ops->sync_done)
		band->ops->sync_done(band, ok, why, band->user_data);
}

/* The round broke: store what came before the break, then retry from the cursor once the band is quiet. */
static void sync_break(struct band *band, const char *fmt, ...)
{
	g_autofree char *why = NULL, *detail = NULL;
	unsigned wait_ms;
	va_list ap;

	va_start(ap, fmt);
	why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (!sync_store(band)) {
		band_sync_stop(band, false, "the history could not be stored");
		return;
	}
	if (++band->sync.retries > SYNC_RETRIES) {
		detail = g_strdup_printf("%s; gave up after %u retries that brought nothing, until the next sync", why,
		                         SYNC_RETRIES);
		band_sync_stop(band, false, detail);
		return;
	}
	band->sync.phase = SYNC_PHASE_QUIET;
	band->sync.quiet_deadline_us = g_get_monotonic_time() + SYNC_QUIET_MAX_MS * (int64_t)1000;
	wait_ms = backoff_ms(&backoff_sync_quiet, band->sync.retries, g_random_int());
	g_clear_handle_id(&band->sync.timer, g_source_remove);
	band->sync.timer = g_timeout_add(wait_ms, on_sync_quiet, band);
	detail = g_strdup_printf("%s; retry %u of %u once the band is quiet for %.1f s", why, band->sync.retries,
	                         SYNC_RETRIES, wait_ms / 1000.0);
	band_log(band, G_LOG_LEVEL_MESSAGE, "history round broken: %s", detail);
	if (band->ops->event)
		band->ops->event(band, "sync-retry", detail, band->user_data);
}

static void sync_round(struct band *band)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local(); /* the zone the band's clock was set to */
	uint8_t buf[MIBAND2_WRITE_MAX];
	int len = miband2_build_fetch_start(buf, sizeof(buf), band->sync.from, band_zone_quarters(now));

	if (len < 0 || ++band->sync.rounds > SYNC_ROUNDS_MAX) {
		band_sync_stop(band, len >= 0, len < 0 ? "the start time cannot be sent to the band" : NULL);
		return;
	}
	band->sync.phase = SYNC_PHASE_STARTING;
	band->sync.expected = 0;
	band->sync.counter = -1;
	g_array_set_size(band->sync.samples, 0);
	sync_progress(band);
	band_send(band, MIBAND2_CHR_FETCH, buf, len, true);
}

static void sync_round_done(struct band *band)
{
	bool progress = band->sync.samples->len > 0;
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;

	if (!sync_store(band)) {
		band_sync_stop(band, false, "the history could not be stored");
		return;
	}
	/* §10.4: a round may stop short of now; go on while it brought something and the band has more. */
	if (progress && band->sync.from < now - 60)
		sync_round(band);
	else
		band_sync_stop(band, true, NULL);
}

/* §10.5: the band starts at the minute asked for, or later when it holds nothing older; a start before it,
 * or in the future, answers somebody else's request. */
static bool sync_start_matches(const struct band *band, const struct miband2_fetch_reply *r)
{
	int64_t asked = band->sync.from - band->sync.from % 60;

	return r->count == 0 || (r->first.utc >= asked && r->first.utc <= g_get_real_time() / G_USEC_PER_SEC + 600);
}

static void sync_started(struct band *band, const struct miband2_fetch_reply *r)
{
	uint8_t buf[MIBAND2_WRITE_MAX];

	if (!sync_start_matches(band, r)) {
		sync_break(band, "the band's start reply names %04u-%02u-%02u %02u:%02u, not the minute asked for",
		           r->first.year, r->first.month, r->first.day, r->first.hour, r->first.minute);
		return;
	}
	if (r->count == 0) {
		band_sync_stop(band, true, NULL);
		return;
	}
	band->sync.first = r->first;
	band->sync.expected = r->count;
	band->sync.phase = SYNC_PHASE_RECEIVING;
	band_send(band, MIBAND2_CHR_FETCH, buf, miband2_build_fetch_go(buf, sizeof(buf)), true);
}

void band_sync_fetch_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_fetch_reply r;
	enum sync_phase phase = band->sync.phase;

	if (phase == SYNC_PHASE_IDLE || phase == SYNC_PHASE_QUIET) {
		sync_stray(band);
		return;
	}
	if (miband2_parse_fetch_reply(value, len, &r) < 0) {
		band_rejected_value(band, "history control", len);
		sync_break(band, "the band's answer to the fetch was malformed");
		return;
	}
	sync_progress(band);
	switch (r.result) {
	case MIBAND2_FETCH_RESULT_STARTED:
		if (phase == SYNC_PHASE_STARTING)
			sync_started(band, &r);
		else
			sync_break(band, "a second start reply came in the middle of the round");
		break;
	case MIBAND2_FETCH_RESULT_DONE:
		if (phase == SYNC_PHASE_RECEIVING)
			sync_round_done(band);
		else
			sync_stray(band); /* the end of a round before ours: ours is answered next */
		break;
	case MIBAND2_FETCH_RESULT_ACKED:
		break;
	case MIBAND2_FETCH_RESULT_START_FAILED:
	case MIBAND2_FETCH_RESULT_DONE_FAILED:
	case MIBAND2_FETCH_RESULT_ACK_FAILED:
		sync_break(band, "the band refused the transfer (10 %02x %02x)", len > 1 ? value[1] : 0,
		           len > 2 ? value[2] : 0);
		break;
	}
}

void band_sync_activity_value(struct band *band, const uint8_t *value, size_t len)
{
	struct miband2_activity a;

	if (band->sync.phase != SYNC_PHASE_RECEIVING) {
		sync_stray(band);
		return;
	}
	if (miband2_parse_activity(value, len, &a) < 0) {
		band_rejected_value(band, "history data", len);
		sync_break(band, "a history packet was damaged");
		return;
	}
	if (a.counter != (uint8_t)(band->sync.counter + 1)) {
		sync_break(band, "history packet %u came where %u was due (lost, or of another round)", a.counter,
		           (uint8_t)(band->sync.counter + 1));
		return;
	}
	band->sync.counter = a.counter;
	sync_progress(band);
	/* Past the count the band announced: dropped, as §10.1's count is itself UNCERTAIN. */
	g_array_append_vals(band->sync.samples, a.samples,
	                    MIN(a.n_samples, band->sync.expected - MIN(band->sync.expected, band->sync.samples->len)));
}

bool band_sync(struct band *band, int64_t from, GError **error)
{
	if (band->state != BAND_STATE_READY) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PENDING, "sync: the band is %s; it syncs once it is ready",
		            band_state_name(band->state));
		return false;
	}
	if (band->sync.phase != SYNC_PHASE_IDLE)
		return true;
	band->sync.rounds = 0;
	band->sync.retries = 0;
	g_clear_pointer(&band->sync.error, g_free); /* this sync's outcome replaces the last one's */
	band->sync.from = from > SYNC_FROM_NEVER ? from : SYNC_FROM_NEVER;
	band->sync.samples = g_array_new(FALSE, FALSE, sizeof(struct miband2_sample));
	sync_log_stray(band);
	sync_round(band);
	return true;
}

const char *band_sync_state(const struct band *band)
{
	switch (band->sync.phase) {
	case SYNC_PHASE_IDLE:
		return band->sync.error ? "failed" : "idle";
	case SYNC_PHASE_STARTING:
	case SYNC_PHASE_RECEIVING:
		return "running";
	case SYNC_PHASE_QUIET:
		return "retrying";
	}
	return "?";
}

const char *band_sync_error(const struct band *band)
{
	return band->sync.error;
}
