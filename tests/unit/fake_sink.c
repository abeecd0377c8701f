/*
 * fake_sink.c -- see fake_sink.h.
 */
#include <stdio.h>
#include <string.h>

#include "fake_sink.h"

static void
fs_health(void *arg, struct backend *b, const char *svc, bool up,
    const char *why)
{
	struct fake_sink *fs = arg;

	fs->health++;
	fs->last_b = b;
	fs->last_up = up;
	snprintf(fs->last_svc, sizeof(fs->last_svc), "%s", svc);
	snprintf(fs->last_why, sizeof(fs->last_why), "%s", why ? why : "");
}

static void
fs_member(void *arg, struct backend *b, enum mbr_change what)
{
	struct fake_sink *fs = arg;

	fs->member++;
	if ((size_t)what <= MBR_GONE)
		fs->members[what]++;
	fs->last_b = b;
}

static void
fs_capacity(void *arg)
{
	((struct fake_sink *)arg)->capacity++;
}

static void
fs_session_gone(void *arg)
{
	((struct fake_sink *)arg)->session_gone++;
}

static void
fs_no_capacity(void *arg, size_t svc)
{
	struct fake_sink *fs = arg;

	fs->no_capacity++;
	fs->last_no_capacity_svc = svc;
}

static void
fs_note(void *arg, const char *text)
{
	struct fake_sink *fs = arg;

	fs->note++;
	snprintf(fs->last_note, sizeof(fs->last_note), "%s", text);
}

void
fs_init(struct fake_sink *fs)
{
	memset(fs, 0, sizeof(*fs));
	fs->sink = (struct pg_sink){
		.arg = fs,
		.health = fs_health,
		.member = fs_member,
		.capacity = fs_capacity,
		.session_gone = fs_session_gone,
		.no_capacity = fs_no_capacity,
		.note = fs_note,
	};
}
