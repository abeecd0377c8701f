/*
 * fake_sink.h -- an event sink for unit tests that records every call
 * (backends/sink.h). One per test: fs_init() it, pass &fs->sink, read the
 * counts and the last arguments.
 */
#ifndef POOLGATE_FAKE_SINK_H
#define POOLGATE_FAKE_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/sink.h"

struct fake_sink {
	struct pg_sink sink;
	/* how often each callback ran */
	size_t health, member, capacity, session_gone, no_capacity, note;
	size_t members[MBR_GONE + 1];       /* member calls by change */
	/* the last arguments */
	const struct backend *last_b;
	char   last_svc[64];
	bool   last_up;
	char   last_why[128];
	size_t last_no_capacity_svc;
	char   last_note[256];
};

/* Zero fs and point every callback of fs->sink at the recorder. */
void fs_init(struct fake_sink *fs);

#endif
