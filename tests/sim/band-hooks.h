/* Test hooks of the band model, for test-band.c: not part of band.h's contract, and never touched by the
 * simulator itself. They are process-wide; a test that changes one puts it back. */
#pragma once

#include <stdint.h>

/* The band's sense of elapsed time in µs: its clock runs on it and alerts are spaced by it (§12.2).
 * g_get_monotonic_time unless a test moves time itself. GLib timers keep real time. */
extern int64_t (*sim_band_hook_now_us)(void);

/* When set, it picks each new auth challenge instead of the band's GRand, so a test can play the vectors
 * of §4.5. */
extern void (*sim_band_hook_challenge)(uint8_t ret_challenge[16]);

/* Durations the protocol document gives in seconds, which a test cannot wait for. */
struct sim_band_timing {
	unsigned hr_manual_ms;     /* a one-shot heart-rate measurement takes this long (§11.1) */
	unsigned hr_period_ms;     /* continuous mode: one reading per period (§11.1) */
	unsigned hr_keepalive_ms;  /* continuous mode stops this long after its start or the last 16 (§11.1) */
	unsigned alert_spacing_ms; /* an alert closer than this to the previous one is not shown (§12.2) */
	unsigned pump_batch;       /* notifications sent per main-loop dispatch: how a transfer is paced */
};
extern struct sim_band_timing sim_band_timing;
