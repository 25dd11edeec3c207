/* What the files of the band module share (STYLE.md, "A file holds one concern"): the band itself, and the few
 * helpers its feature files call. band.c holds the state machine (connecting, authentication, ready, operator
 * actions); band-live.c what a ready band reports; band-sync.c the history sync (§10); band-alert.c the
 * alerts (§12). band.h stays the table of contents for everyone else. */
#pragma once

#include <gio/gio.h>

#include "band.h"
#include "miband2.h"
#include "ratelimit.h"

#define REJECT_LOG_US (10 * G_USEC_PER_SEC) /* malformed notifications: one log line and event per this */

/* Where the history sync stands (§10.1). */
enum sync_phase {
	SYNC_PHASE_IDLE,      /* no round of ours: whatever the band sends on 0004/0005 is stray */
	SYNC_PHASE_STARTING,  /* 01 01 sent, waiting for its 10 01 01 */
	SYNC_PHASE_RECEIVING, /* 02 sent: our packets, counters from 0, then 10 02 01 */
	SYNC_PHASE_QUIET,     /* a round broke: waiting for the band to go quiet before retrying */
};

struct band {
	struct bluez *bz;
	const struct band_ops *ops;
	void *user_data;
	char address[18];
	bool has_key;
	uint8_t key[16];
	bool pairing;              /* send a new key on the next authentication (first pairing, re-pair) */
	uint8_t new_key[16];
	bool new_key_ready;
	enum band_state state, previous;
	char *description;
	int64_t state_since;       /* UTC s when the state began */
	int64_t tap_deadline;      /* UTC s when the wait for a tap ends; 0 outside awaiting-tap */
	GCancellable *attempt;
	guint timer;
	unsigned failures;         /* in a row, for the backoff */
	unsigned backoff_ms;       /* the current wait, started once the link is let go */
	unsigned suspect;          /* failures in a row that implicate the adapter, for the ladder */
	bool away;                 /* the last Connect found nobody: discovery watches for its advertisements */
	int battery, heart_rate;
	int hr_interval;           /* all-day heart rate every N minutes (0: off), written on every ready; -1: left */
	bool charging;
	long steps;
	char firmware[40];
	int64_t reboot_pending_until; /* monotonic; 0: none */
	bool following_reset;
	guint follow_timer;
	char **known_before;       /* the "MI Band 2"s bluetoothd knew when the factory reset began: not ours */
	struct ratelimit rejected; /* malformed notifications: one line and event per REJECT_LOG_US and kind */
	const char *rejected_what; /* the kind the limiter's window is for */
	struct {                   /* the history sync (§10) */
		enum sync_phase phase;
		int64_t from;          /* UTC of the first wanted minute of this round: the cursor */
		struct miband2_datetime first; /* the round's first sample, as the band said */
		uint32_t expected;
		int counter;           /* the last packet's counter, -1 before the first */
		unsigned rounds;
		unsigned retries;      /* broken rounds in a row that stored nothing */
		unsigned stray;        /* notifications of rounds this gateway did not start, not yet logged */
		int64_t quiet_deadline_us; /* monotonic: the retry goes ahead then, quiet or not */
		GArray *samples;       /* struct miband2_sample of this round */
		guint timer;           /* the stall of a round, or the quiet before a retry */
		char *error;           /* why the last sync gave up; NULL once one completes */
	} sync;
	struct {                   /* the alert being played (§12) */
		int64_t id;            /* 0: none */
		bool delivered;        /* the band answered the write that shows it: reported sent */
		enum band_alert_kind kind;
		int category;
		char *text;
		size_t offset;         /* text bytes sent so far */
		unsigned chunks;
		guint timer;           /* the spacing before the next screen or the next alert */
	} alert;
};

/* ---- band.c, for the feature files ---- */

/* A write through the codec's bytes; a failure ends the link (the band retries). len > 0. */
void band_send(struct band *band, const char *uuid, const uint8_t *value, int len, bool with_response);
/* The zone byte (§6.1) of a local time: its offset from UTC, DST included, in quarter hours. */
int band_zone_quarters(GDateTime *t);
/* A call failed: let go of the link and retry after the backoff; the error says whether the adapter is suspect. */
void band_fail_error(struct band *band, const char *what, const GError *error);

/* ---- band-live.c ---- */

/* Read replies of the ready sequence: the clock before it is set, the firmware, and values that also come as
 * PropertiesChanged. */
void band_live_clock_read(const GError *error, const uint8_t *value, size_t len, void *user_data);
void band_live_firmware_read(const GError *error, const uint8_t *value, size_t len, void *user_data);
void band_live_value_read(const GError *error, const uint8_t *value, size_t len, void *user_data);
/* A notification that does not parse: one log line and event row per REJECT_LOG_US and kind. what: a literal. */
void band_rejected_value(struct band *band, const char *what, size_t len);
/* Notifications while ready. */
void band_live_battery(struct band *band, const uint8_t *value, size_t len);
void band_live_steps(struct band *band, const uint8_t *value, size_t len);
void band_live_event(struct band *band, const uint8_t *value, size_t len);
void band_live_heart_rate(struct band *band, const uint8_t *value, size_t len);

/* ---- band-sync.c ---- */

/* The sync ends (the link went, or it completed or gave up): what came in is stored first. */
void band_sync_stop(struct band *band, bool ok, const char *why);
/* Notifications on 0004 and 0005 while ready. */
void band_sync_fetch_value(struct band *band, const uint8_t *value, size_t len);
void band_sync_activity_value(struct band *band, const uint8_t *value, size_t len);

/* ---- band-alert.c ---- */

/* The alert being played ends; reported as not delivered (error) unless the band had it on its screen. */
void band_alert_stop(struct band *band, const char *error);
