/* One jittered exponential backoff for every retry loop of the gateway (ntpd's scale_interval()): the wait
 * after a run of failures, doubling from a first step up to a ceiling, each wait drawn from ±jitter % of its
 * step so that bands and gateways that failed together do not retry together. Pure: the caller brings the
 * random number, so the unit test can pin it. */
#pragma once

#include <stdint.h>

struct backoff {
	unsigned first_ms;   /* the step after the first counted failure */
	unsigned max_ms;     /* the ceiling of a step */
	unsigned jitter_pct; /* 0..100: each wait is its step ± this share of it */
	unsigned free_tries; /* failures in a row retried at once, before the first step */
};

/* The wait after failures failures in a row (1: the first). rnd is uniform over 32 bits. */
unsigned backoff_ms(const struct backoff *b, unsigned failures, uint32_t rnd);

/* The policies, each said once. */
extern const struct backoff backoff_band_reconnect; /* a band's next connection attempt */
extern const struct backoff backoff_sync_quiet;     /* the quiet a broken history round waits for */
extern const struct backoff backoff_mqtt_connect;   /* the next attempt to reach the broker */
extern const struct backoff backoff_adapter;        /* StartDiscovery or power-on, refused, tried again */
