/*
 * mailbox.h -- hand messages to the thread that runs an event base.
 *
 * Any thread posts; the thread running the mailbox's base runs each message
 * there, in the order posted. A message is the caller's memory (usually
 * embedded in the object it is about): posting does not allocate and cannot
 * fail. The queue is a list under a mutex that is held only to link or to
 * take the whole list, so no lock is held while a message runs; the
 * consumer is woken through an eventfd, written only when the queue goes
 * from idle to busy (or, for lazy posts, when the poster flushes), so a
 * burst of posts costs one wake-up.
 */
#ifndef POOLGATE_MAILBOX_H
#define POOLGATE_MAILBOX_H

#include <stddef.h>

#include <event2/event.h>

struct mb_msg;
typedef void (*mb_fn)(struct mb_msg *m);

/* Embed in the object a message is about; set fn before posting. */
struct mb_msg {
	struct mb_msg *next;
	mb_fn          fn;     /* runs on the consumer's thread; may free m */
};

struct mailbox;

/*
 * A mailbox whose messages run on the thread that dispatches base. Returns
 * NULL when the eventfd, the event or memory cannot be had (errno set).
 */
struct mailbox *mb_new(struct event_base *base);

/*
 * Queue m (from any thread). m must not be queued already; it belongs to
 * the mailbox until its fn runs.
 */
void mb_post(struct mailbox *mb, struct mb_msg *m);

/*
 * Queue m (from any thread) without waking the consumer yet: the poster
 * calls mb_flush() once it has posted a batch (say, at the end of its own
 * loop iteration), so a batch costs one wake-up however long it is.
 */
void mb_post_lazy(struct mailbox *mb, struct mb_msg *m);

/* Wake the consumer if messages wait that no wake-up announced. */
void mb_flush(struct mailbox *mb);

/*
 * Run every message queued now, on the calling thread: for a consumer
 * whose loop has stopped (shutdown). Returns how many ran.
 */
size_t mb_drain(struct mailbox *mb);

/* Free the mailbox; messages still queued are dropped unrun. NULL ok. */
void mb_free(struct mailbox *mb);

#endif
