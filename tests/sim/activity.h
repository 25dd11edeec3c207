/* The band's generated history: what the wearer did, minute by minute (§10.2, §10.3). Internal to simband.
 *
 * A minute's sample is a pure function of the seed, the band's home zone and the UTC minute, so the same
 * seed always tells the same story, whatever was asked before, and nothing has to be stored. */
#pragma once

#include <stdint.h>

#include "band.h"

/* One minute of a plausible day in the home zone (quarter hours, §6.1): nights asleep, days sitting,
 * walking, now and then running, taking the band off or charging it. minute_utc is the UTC second the
 * minute starts on. */
void activity_minute(uint32_t seed, int tz_quarters, int64_t minute_utc, struct sim_sample *ret);
