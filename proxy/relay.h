/*
 * relay.h -- relaying bytes both ways between two bufferevents.
 *
 * A relay joins side 0 (the client) and side 1 (the VM). Each direction is
 * bounded: once `cap` bytes wait in the output towards one side, reading
 * from the other side stops, and resumes when that output has drained to
 * cap/2 (the le-proxy / relayd pattern). So a relay never holds much more
 * than cap bytes per direction (plus one socket read), however slow a peer.
 *
 * Half-close is kept: when one side sends EOF, the other side's writing half
 * is shut down once everything read before the EOF was written; the reverse
 * direction runs on until its own EOF.
 *
 * The relay calls `done` exactly once, when both directions have finished,
 * when a side fails, or when nothing moved for idle_ms (0 = no idle limit).
 * The owner then calls relay_free(), possibly from inside `done`.
 */
#ifndef POOLGATE_RELAY_H
#define POOLGATE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#define RELAY_BUF_CAP (256 * 1024)

struct relay;

/* Why a relay ended. */
enum relay_end {
	RELAY_END_CLOSED = 0,    /* both sides closed cleanly */
	RELAY_END_CLIENT_ERROR,  /* reset or error on side 0 */
	RELAY_END_BACKEND_ERROR, /* reset or error on side 1 */
	RELAY_END_IDLE,          /* idle_ms passed with no byte either way */
	RELAY_END_STOPPED,       /* relay_stop(): shutdown or operator */
};
const char *relay_end_name(enum relay_end why);

typedef void (*relay_done_fn)(struct relay *r, enum relay_end why, void *arg);

/*
 * Start relaying between client and backend; both must be connected socket
 * bufferevents made with BEV_OPT_CLOSE_ON_FREE. Ownership of both passes to
 * the relay (they are freed by relay_free). Bytes already in either input
 * buffer are relayed at once; client_eof says the client already sent EOF
 * (before the VM was connected). cap must be >= 2. Returns NULL on
 * allocation failure, in which case the caller still owns both bufferevents.
 */
struct relay *relay_start(struct bufferevent *client, struct bufferevent *backend,
    bool client_eof, size_t cap, uint64_t idle_ms, relay_done_fn done, void *arg);

/*
 * Write what waits in a plain socket bufferevent's output here and now,
 * unless it is empty or EV_WRITE is on (libevent's writer has bytes queued:
 * they go first). Waiting for epoll to report the socket writable costs two
 * epoll_ctl calls and a loop turn per message, and a socket with room in
 * its send buffer is the common case. Only what the kernel does not take is
 * left to libevent, with EV_WRITE enabled; the owner disables it again once
 * the output has drained (in its write callback). A write error is left to
 * libevent too: its own write then fails and reports it to the event
 * callback. Not for TLS bufferevents.
 */
void relay_write_now(struct bufferevent *bev);

/* End the relay now with RELAY_END_STOPPED (done is called). */
void relay_stop(struct relay *r);

/* Free the relay and close both sockets. NULL is ignored. */
void relay_free(struct relay *r);

/*
 * Add the bytes read from side 0 to *up and from side 1 to *down as well,
 * as they move (atomic adds; either may be NULL; both must outlive r), so
 * a long websocket shows in the metrics while it lasts. Bytes relayed
 * before the call are not added.
 */
void relay_count_into(struct relay *r, uint64_t *up, uint64_t *down);

/* Bytes read from side 0 (client -> VM) and side 1 (VM -> client). */
uint64_t relay_bytes_up(const struct relay *r);
uint64_t relay_bytes_down(const struct relay *r);

/* Bytes waiting in the relay's output buffers towards side (0 or 1). */
size_t relay_pending(const struct relay *r, int side);

#endif
