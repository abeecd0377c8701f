/*
 * mailbox.c -- see mailbox.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/mailbox.h"

struct mailbox {
	pthread_mutex_t  mu;
	struct mb_msg   *head, *tail;  /* under mu */
	bool             woken;        /* under mu: a wake-up is on its way */
	int              efd;
	struct event    *ev;
};

/* Take the whole queue and run it, oldest first. */
static size_t
run_queue(struct mailbox *mb)
{
	struct mb_msg *m, *next;
	size_t n = 0;

	pthread_mutex_lock(&mb->mu);
	m = mb->head;
	mb->head = mb->tail = NULL;
	mb->woken = false;
	pthread_mutex_unlock(&mb->mu);
	for (; m != NULL; m = next, n++) {
		next = m->next;   /* fn may free m */
		m->next = NULL;
		m->fn(m);
	}
	return n;
}

static void
mb_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mailbox *mb = arg;
	uint64_t v;

	/*
	 * Read the counter before taking the queue: a post that lands after
	 * the take finds woken false and writes again, so nothing waits
	 * unseen.
	 */
	if (read(fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		return;
	run_queue(mb);
}

struct mailbox *
mb_new(struct event_base *base)
{
	struct mailbox *mb;

	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return NULL;
	mb->efd = -1;
	if (pthread_mutex_init(&mb->mu, NULL) != 0) {
		free(mb);
		errno = ENOMEM;
		return NULL;
	}
	if ((mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (mb->ev = event_new(base, mb->efd, EV_READ | EV_PERSIST, mb_cb,
	    mb)) == NULL || event_add(mb->ev, NULL) == -1) {
		int err = errno != 0 ? errno : ENOMEM;
		mb_free(mb);
		errno = err;
		return NULL;
	}
	return mb;
}

static void
wake(struct mailbox *mb)
{
	uint64_t one = 1;

	/* EAGAIN only when the counter is at its maximum: awake anyway. */
	if (write(mb->efd, &one, sizeof(one)) == -1)
		(void)0;
}

/* Under mb->mu. */
static void
link_msg(struct mailbox *mb, struct mb_msg *m)
{
	m->next = NULL;
	if (mb->tail != NULL)
		mb->tail->next = m;
	else
		mb->head = m;
	mb->tail = m;
}

void
mb_post(struct mailbox *mb, struct mb_msg *m)
{
	bool w;

	pthread_mutex_lock(&mb->mu);
	link_msg(mb, m);
	w = !mb->woken;
	mb->woken = true;
	pthread_mutex_unlock(&mb->mu);
	if (w)
		wake(mb);
}

void
mb_post_lazy(struct mailbox *mb, struct mb_msg *m)
{
	pthread_mutex_lock(&mb->mu);
	link_msg(mb, m);
	pthread_mutex_unlock(&mb->mu);
}

void
mb_flush(struct mailbox *mb)
{
	bool w;

	pthread_mutex_lock(&mb->mu);
	w = mb->head != NULL && !mb->woken;
	if (w)
		mb->woken = true;
	pthread_mutex_unlock(&mb->mu);
	if (w)
		wake(mb);
}

size_t
mb_drain(struct mailbox *mb)
{
	size_t n = 0, k;

	while ((k = run_queue(mb)) > 0)
		n += k;
	return n;
}

void
mb_free(struct mailbox *mb)
{
	if (mb == NULL)
		return;
	if (mb->ev != NULL)
		event_free(mb->ev);
	if (mb->efd >= 0)
		close(mb->efd);
	pthread_mutex_destroy(&mb->mu);
	free(mb);
}
