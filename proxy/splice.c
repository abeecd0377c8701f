/*
 * splice.c -- see splice.h.
 *
 * Direction 0 carries client -> VM, direction 1 VM -> client. Each socket
 * has one event whose interest follows the state: EV_READ while its
 * outgoing direction has room and no EOF, EV_WRITE while bytes wait in the
 * pipe towards it. Interest is never left on when there is nothing to do,
 * so level-triggered events cannot spin.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "proxy/log.h"
#include "proxy/splice.h"

/* Bytes a direction may hold in flight: the default pipe capacity. */
#define SPLICE_CAP   (64 * 1024)
#define LINGER_MS    30000

struct pipe_pair {
	int r, w;
};

struct pipe_pool {
	struct pipe_pair *spare;
	size_t            nspare, max;
	size_t            lent;
};

struct dir {
	int              src, dst;
	struct pipe_pair p;        /* {-1,-1} while nothing is in flight */
	size_t           inpipe;
	uint64_t         bytes;
	bool             eof;      /* src sent EOF */
	bool             shut;     /* dst's writing half shut */
	bool             full;     /* the pipe took no more (its slots are used) */
	bool             blocked;  /* copying without a pipe: dst took no more */
};

struct splicer {
	struct pipe_pool *pp;
	struct dir        d[2];
	struct event      ev[2];    /* ev[0] on the client socket, ev[1] the VM's */
	short             want[2];  /* interest currently registered */
	struct event      timer;
	uint64_t          idle_ms, last_ms, linger_until;
	bool              failed, ended;
	enum relay_end    why;
	splice_done_fn    done;
	void             *arg;
};

/* ---- the pipe pool -------------------------------------------------------- */

struct pipe_pool *
pipe_pool_new(size_t max_idle)
{
	struct pipe_pool *pp = calloc(1, sizeof(*pp));

	if (pp == NULL)
		return NULL;
	if ((pp->spare = calloc(max_idle > 0 ? max_idle : 1,
	    sizeof(*pp->spare))) == NULL) {
		free(pp);
		return NULL;
	}
	pp->max = max_idle;
	return pp;
}

void
pipe_pool_free(struct pipe_pool *pp)
{
	if (pp == NULL)
		return;
	for (size_t i = 0; i < pp->nspare; i++) {
		close(pp->spare[i].r);
		close(pp->spare[i].w);
	}
	free(pp->spare);
	free(pp);
}

size_t
pipe_pool_spare(const struct pipe_pool *pp)
{
	return pp->nspare;
}

size_t
pipe_pool_lent(const struct pipe_pool *pp)
{
	return pp->lent;
}

static int
pipe_take(struct pipe_pool *pp, struct pipe_pair *out)
{
	int fds[2];

	if (pp->nspare > 0) {
		*out = pp->spare[--pp->nspare];
		pp->lent++;
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	out->r = fds[0];
	out->w = fds[1];
	pp->lent++;
	return 0;
}

/* Only an empty pipe comes back; a spare beyond the pool's size closes. */
static void
pipe_give(struct pipe_pool *pp, struct pipe_pair *p)
{
	if (p->r < 0)
		return;
	pp->lent--;
	if (pp->nspare < pp->max)
		pp->spare[pp->nspare++] = *p;
	else {
		close(p->r);
		close(p->w);
	}
	p->r = p->w = -1;
}

/* A pipe that may still hold bytes (a failed connection) is never reused. */
static void
pipe_drop(struct pipe_pool *pp, struct pipe_pair *p)
{
	if (p->r < 0)
		return;
	pp->lent--;
	close(p->r);
	close(p->w);
	p->r = p->w = -1;
}

/* ---- relaying --------------------------------------------------------------- */

static void splice_update(struct splicer *sp);

static void
splice_end(struct splicer *sp, enum relay_end why)
{
	if (sp->ended)
		return;
	sp->ended = true;
	sp->why = why;
	event_del(&sp->ev[0]);
	event_del(&sp->ev[1]);
	evtimer_del(&sp->timer);
	/* May free sp: nothing after this line touches it. */
	sp->done(sp, why, sp->arg);
}

static void
splice_fail(struct splicer *sp, int side)
{
	sp->failed = true;
	sp->why = side == 0 ? RELAY_END_CLIENT_ERROR : RELAY_END_BACKEND_ERROR;
}

/*
 * Move what src has into the pipe, up to its room. Returns false on a
 * socket error (the side is marked failed).
 */
/*
 * No pipe to be had (out of descriptors): move bytes without one and
 * without buffering them. Peek at what the source has, send what the
 * destination takes, then consume exactly that much from the source.
 * Returns false on a socket error.
 */
static bool
copy_direct(struct splicer *sp, struct dir *d, int side)
{
	char buf[4096];
	ssize_t n, w;

	d->blocked = false;
	for (;;) {
		n = recv(d->src, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0) {
			d->eof = true;
			if (!d->shut) {
				shutdown(d->dst, SHUT_WR);
				d->shut = true;
			}
			return true;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			splice_fail(sp, side);
			return false;
		}
		w = send(d->dst, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				d->blocked = true;   /* wait until dst is writable */
				return true;
			}
			splice_fail(sp, 1 - side);
			return false;
		}
		if (recv(d->src, buf, (size_t)w, MSG_DONTWAIT) != w)
			pg_fatalx("splice: peeked bytes vanished");
		d->bytes += (uint64_t)w;
	}
}

static bool
pump_in(struct splicer *sp, struct dir *d, int side)
{
	ssize_t n;

	while (!d->eof && !d->full && d->inpipe < SPLICE_CAP) {
		if (d->p.r < 0 && pipe_take(sp->pp, &d->p) == -1) {
			static uint64_t last;
			uint64_t now = pg_now_ms();
			if (now - last >= 1000) {
				last = now;
				log_warn("splice: no pipe (%s): copying without one",
				    strerror(errno));
			}
			return copy_direct(sp, d, side);
		}
		n = splice(d->src, NULL, d->p.w, NULL, SPLICE_CAP - d->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe += (size_t)n;
			d->bytes += (uint64_t)n;
			continue;
		}
		if (n == 0) {
			d->eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/*
			 * Either the socket is empty or the pipe is: a pipe
			 * counts slots, not bytes, so it can fill before
			 * SPLICE_CAP. An empty pipe cannot be full.
			 */
			if (d->inpipe > 0)
				d->full = true;
			break;
		}
		if (errno == EINVAL)
			log_err("splice: a socket of this connection cannot be "
			    "spliced");
		splice_fail(sp, side);
		return false;
	}
	return true;
}

/* Move what the pipe holds to dst. Returns false on a socket error. */
static bool
pump_out(struct splicer *sp, struct dir *d, int dst_side)
{
	ssize_t n;

	while (d->inpipe > 0) {
		n = splice(d->p.r, NULL, d->dst, NULL, d->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe -= (size_t)n;
			d->full = false;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		splice_fail(sp, dst_side);
		return false;
	}
	if (d->inpipe == 0)
		pipe_give(sp->pp, &d->p);
	/* Everything before the EOF is written: pass the EOF on. */
	if (d->eof && d->inpipe == 0 && !d->shut) {
		shutdown(d->dst, SHUT_WR);
		d->shut = true;
	}
	return true;
}

/* Register exactly the interest each socket needs now. */
static void
splice_update(struct splicer *sp)
{
	for (int side = 0; side < 2; side++) {
		struct dir *out = &sp->d[side];      /* reads from this socket */
		struct dir *in = &sp->d[1 - side];   /* writes to this socket */
		short want = 0;

		if (!sp->failed && !out->eof && !out->full && !out->blocked &&
		    out->inpipe < SPLICE_CAP)
			want |= EV_READ;
		if (in->inpipe > 0 || in->blocked)
			want |= EV_WRITE;
		if (want == sp->want[side])
			continue;
		event_del(&sp->ev[side]);
		event_assign(&sp->ev[side], event_get_base(&sp->ev[side]),
		    event_get_fd(&sp->ev[side]), want | EV_PERSIST,
		    event_get_callback(&sp->ev[side]), sp);
		if (want != 0)
			event_add(&sp->ev[side], NULL);
		sp->want[side] = want;
	}
}

static void
arm_timer(struct splicer *sp, uint64_t now)
{
	uint64_t due = 0, wait;
	struct timeval tv;

	if (sp->failed)
		due = sp->linger_until;
	if (sp->idle_ms > 0 && (due == 0 || sp->last_ms + sp->idle_ms < due))
		due = sp->last_ms + sp->idle_ms;
	if (due == 0)
		return;
	wait = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(&sp->timer, &tv);
}

/* After any progress: finished, failed, or wait for more. */
static void
splice_settle(struct splicer *sp)
{
	if (sp->d[0].shut && sp->d[1].shut) {
		splice_end(sp, RELAY_END_CLOSED);
		return;
	}
	if (sp->failed) {
		/* One side is gone; flush what the other is owed, then end. */
		struct dir *owed = sp->why == RELAY_END_CLIENT_ERROR ?
		    &sp->d[0] : &sp->d[1];
		if (owed->inpipe == 0) {
			splice_end(sp, sp->why);
			return;
		}
		if (sp->linger_until == 0) {
			sp->linger_until = pg_now_ms() + LINGER_MS;
			arm_timer(sp, pg_now_ms());
		}
	}
	splice_update(sp);
}

static void
splice_eventcb(evutil_socket_t fd, short what, void *arg)
{
	struct splicer *sp = arg;
	int side = fd == sp->d[0].src ? 0 : 1;
	struct dir *out = &sp->d[side], *in = &sp->d[1 - side];

	if (what & EV_READ) {
		/* Read, then try to write at once: usually the VM can take it. */
		if (pump_in(sp, out, side) && !sp->failed)
			pump_out(sp, out, 1 - side);
		sp->last_ms = pg_now_ms();
	}
	if ((what & EV_WRITE) && !sp->ended) {
		pump_out(sp, in, side);
		/* Room again in that pipe: its source may read on. */
		if (!sp->failed && pump_in(sp, in, 1 - side))
			pump_out(sp, in, side);
	}
	splice_settle(sp);
}

static void
splice_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct splicer *sp = arg;
	uint64_t now = pg_now_ms();

	if (sp->failed && now >= sp->linger_until) {
		splice_end(sp, sp->why);
		return;
	}
	if (sp->idle_ms > 0 && now - sp->last_ms >= sp->idle_ms) {
		splice_end(sp, RELAY_END_IDLE);
		return;
	}
	arm_timer(sp, now);
}

struct splicer *
splice_start(struct event_base *base, struct pipe_pool *pp, int cfd, int bfd,
    uint64_t idle_ms, splice_done_fn done, void *arg)
{
	struct splicer *sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	sp->pp = pp;
	sp->idle_ms = idle_ms;
	sp->last_ms = pg_now_ms();
	sp->done = done;
	sp->arg = arg;
	sp->d[0] = (struct dir){ .src = cfd, .dst = bfd, .p = { -1, -1 } };
	sp->d[1] = (struct dir){ .src = bfd, .dst = cfd, .p = { -1, -1 } };
	event_assign(&sp->ev[0], base, cfd, EV_PERSIST, splice_eventcb, sp);
	event_assign(&sp->ev[1], base, bfd, EV_PERSIST, splice_eventcb, sp);
	evtimer_assign(&sp->timer, base, splice_timercb, sp);
	splice_update(sp);
	arm_timer(sp, sp->last_ms);
	return sp;
}

void
splice_stop(struct splicer *sp)
{
	splice_end(sp, RELAY_END_STOPPED);
}

void
splice_free(struct splicer *sp)
{
	if (sp == NULL)
		return;
	event_del(&sp->ev[0]);
	event_del(&sp->ev[1]);
	evtimer_del(&sp->timer);
	for (int i = 0; i < 2; i++) {
		if (sp->d[i].inpipe == 0)
			pipe_give(sp->pp, &sp->d[i].p);
		else
			pipe_drop(sp->pp, &sp->d[i].p);
	}
	close(sp->d[0].src);
	close(sp->d[1].src);
	free(sp);
}

uint64_t
splice_bytes_up(const struct splicer *sp)
{
	return sp->d[0].bytes;
}

uint64_t
splice_bytes_down(const struct splicer *sp)
{
	return sp->d[1].bytes;
}

size_t
splice_pending(const struct splicer *sp, int side)
{
	return sp->d[1 - side].inpipe;
}
