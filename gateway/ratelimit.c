/* ratelimit.h */
#include "ratelimit.h"

bool ratelimit_below(struct ratelimit *r, int64_t now_us, unsigned *ret_suppressed)
{
	if (!r->begin_us || now_us - r->begin_us >= r->interval_us) {
		r->begin_us = now_us ? now_us : 1; /* 0 means "no window" */
		r->num = 0;
	}
	if (r->num >= r->burst) {
		r->suppressed++;
		return false;
	}
	r->num++;
	if (ret_suppressed)
		*ret_suppressed = r->suppressed;
	r->suppressed = 0;
	return true;
}

void ratelimit_reset(struct ratelimit *r)
{
	r->begin_us = 0;
	r->num = 0;
}
