/* backoff.h. The step doubles per failure past the free tries and is capped before the jitter is applied, so
 * a long run of failures waits the ceiling ± jitter, never more than max_ms plus its jitter. */
#include "backoff.h"

/* The first failure after a working link is retried at once: a band that blinks out for a moment is back in
 * the link's own set-up time. Repeated failures wait 1 s doubling to a minute (DESIGN.md, band lifecycle). */
const struct backoff backoff_band_reconnect = {
	.first_ms = 1000, .max_ms = 60000, .jitter_pct = 20, .free_tries = 1,
};
/* How long the band must stay silent on 0004/0005 before a broken round is retried: long enough for the rest
 * of a round given up on (or one a killed daemon started) to drain, growing with each retry. */
const struct backoff backoff_sync_quiet = {
	.first_ms = 1000, .max_ms = 8000, .jitter_pct = 20, .free_tries = 0,
};

/* Never exit because the broker is away: retry forever, 1 s doubling to a minute (DESIGN.md, MQTT). */
const struct backoff backoff_mqtt_connect = {
	.first_ms = 1000, .max_ms = 60000, .jitter_pct = 25, .free_tries = 0,
};
/* The adapter refused StartDiscovery or would not power on: 1 s doubling to 30 s, until it takes. */
const struct backoff backoff_adapter = {
	.first_ms = 1000, .max_ms = 30000, .jitter_pct = 10, .free_tries = 0,
};

#define DOUBLINGS_MAX 20 /* 2^20 × any sane first step is past any ceiling: no shift overflows */

unsigned backoff_ms(const struct backoff *b, unsigned failures, uint32_t rnd)
{
	uint64_t step, spread;
	unsigned n;

	if (failures <= b->free_tries)
		return 0;
	n = failures - b->free_tries - 1;
	step = (uint64_t)b->first_ms << (n < DOUBLINGS_MAX ? n : DOUBLINGS_MAX);
	if (step > b->max_ms)
		step = b->max_ms;
	spread = step * (b->jitter_pct > 100 ? 100 : b->jitter_pct) / 100;
	/* Uniform over [step - spread, step + spread]. */
	return (unsigned)(step - spread + (spread ? rnd % (2 * spread + 1) : 0));
}
