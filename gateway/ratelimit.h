/* One rate limiter for every repeating log line (systemd's ratelimit.c): at most burst events in each interval;
 * what is held back is counted, so the next line let through can say how many it stands for. Pure: the caller
 * brings the monotonic clock, so the unit test can drive it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	int64_t interval_us;
	unsigned burst;
	int64_t begin_us;    /* the current window's start; 0: none yet */
	unsigned num;        /* let through in this window */
	unsigned suppressed; /* held back since the last one let through */
};

#define RATELIMIT_INIT(interval_us_, burst_) { .interval_us = (interval_us_), .burst = (burst_) }

/* Whether this event may be logged now. When it may, *ret_suppressed (if given) is how many were held back
 * since the last one let through, and that count starts again. */
bool ratelimit_below(struct ratelimit *r, int64_t now_us, unsigned *ret_suppressed);
/* Forget the window (a new kind of event starts its own at once); the count held back stays. */
void ratelimit_reset(struct ratelimit *r);
