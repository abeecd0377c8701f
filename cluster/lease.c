/*
 * lease.c -- see lease.h.
 */
#include <string.h>

#include "cluster/lease.h"

void
cl_lease_init(struct cl_lease *l, uint64_t lease_ms)
{
	memset(l, 0, sizeof(*l));
	l->lease_ms = lease_ms < 300 ? 300 : lease_ms;
	/* a tenth of the lease for clock rates and a slow reply, at least 100 ms */
	l->margin_ms = l->lease_ms / 10 < 100 ? 100 : l->lease_ms / 10;
}

static void
lose(struct cl_lease *l)
{
	if (l->runner)
		l->changes++;
	l->runner = false;
	l->valid_until = 0;
}

enum cl_lease_act
cl_lease_tick(struct cl_lease *l, bool link_up, uint64_t now)
{
	if (l->runner && now >= l->valid_until)
		lose(l);
	if (!link_up || l->inflight || now < l->next_at)
		return CL_LEASE_NONE;
	l->inflight = true;
	l->sent_at = now;
	l->next_at = now + l->lease_ms / 3;
	return l->runner ? CL_LEASE_RENEW : CL_LEASE_TRY;
}

void
cl_lease_answer(struct cl_lease *l, enum cl_lease_answer a, uint64_t now)
{
	if (!l->inflight)
		return;   /* an answer to nothing: a link reset already counted it */
	l->inflight = false;
	switch (a) {
	case CL_LEASE_WON:
		/* Redis started the expiry after we sent: count from then. */
		if (l->sent_at + l->lease_ms > now + l->margin_ms) {
			if (!l->runner)
				l->changes++;
			l->runner = true;
			l->valid_until = l->sent_at + l->lease_ms - l->margin_ms;
		} else
			lose(l);   /* the answer came too late to trust */
		break;
	case CL_LEASE_HELD:
		lose(l);
		break;
	case CL_LEASE_FAILED:
		/* keep what we hold until valid_until; try again soon */
		if (l->next_at > now + l->lease_ms / 10)
			l->next_at = now + l->lease_ms / 10;
		break;
	}
}

bool
cl_lease_runner(struct cl_lease *l, uint64_t now)
{
	if (l->runner && now >= l->valid_until)
		lose(l);
	return l->runner;
}
