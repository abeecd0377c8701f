/*
 * health.c -- the rise/fall state machine of one health check (pure).
 */
#include <limits.h>

#include "backends/health.h"

void
hc_init(struct hc_state *s)
{
	s->up = false;
	s->ok_run = 0;
	s->fail_run = 0;
}

enum hc_change
hc_record(struct hc_state *s, bool ok, int rise, int fall)
{
	/* The contract says >= 1; a 0 would otherwise flip on no evidence. */
	if (rise < 1)
		rise = 1;
	if (fall < 1)
		fall = 1;

	if (ok) {
		s->fail_run = 0;
		if (s->ok_run < INT_MAX)
			s->ok_run++;
		if (!s->up && s->ok_run >= rise) {
			s->up = true;
			return HC_WENT_UP;
		}
	} else {
		s->ok_run = 0;
		if (s->fail_run < INT_MAX)
			s->fail_run++;
		if (s->up && s->fail_run >= fall) {
			s->up = false;
			return HC_WENT_DOWN;
		}
	}
	return HC_SAME;
}
