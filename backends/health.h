/*
 * health.h -- the rise/fall state machine of one health check (pure).
 *
 * A VM starts down. `rise` consecutive successes bring it up; `fall`
 * consecutive failures take it down. A success resets the failure run and
 * a failure resets the success run. Passive failures seen by the relay are
 * recorded the same way as failed active checks.
 */
#ifndef POOLGATE_HEALTH_H
#define POOLGATE_HEALTH_H

#include <stdbool.h>

struct hc_state {
	bool up;
	int  ok_run;    /* consecutive successes */
	int  fail_run;  /* consecutive failures */
};

enum hc_change { HC_SAME = 0, HC_WENT_UP, HC_WENT_DOWN };

/* Initialise to down with empty runs. */
void hc_init(struct hc_state *s);

/*
 * Record one check result. rise and fall are >= 1. Returns the transition
 * this result caused, if any.
 */
enum hc_change hc_record(struct hc_state *s, bool ok, int rise, int fall);

#endif
