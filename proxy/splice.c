/*
 * splice.c -- see splice.h.
 *
 * Direction 0 carries client -> VM, direction 1 VM -> client. Both sockets
 * are watched edge-triggered for reading and writing from start to end, so
 * the relay never changes its epoll interest: it remembers, per socket,
 * whether it may be readable (rd) or writable (wr) and clears that only
 * when the socket said EAGAIN (or a read came back short, which on a
 * stream socket means drained, unless the peer's FIN is pending: hup).
 *
 * A read that cannot be passed on at once waits in the direction's pipe;
 * while the pipe is full nothing more is read from the source
 * (backpressure). Pipes are made PIPE_WANT bytes large when the kernel
 * allows (fewer splice calls per megabyte: 256 KiB moved ~15% more than
 * the default 64 KiB in iperf3 over loopback; 1 MiB was slower again);
 * past the user's pipe-user-pages-soft they stay smaller, which is fine. A splice from a socket into a pipe says EAGAIN
 * both when the socket is empty and when the pipe is full, so rd stays set
 * while the pipe holds bytes, and the read is retried once they are out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "proxy/splice.h"

/* Bytes a direction may hold in flight: the capacity asked of each pipe. */
#define PIPE_WANT    (256 * 1024)
/* The stack buffer of a copied read. */
#define COPY_BUF     (16 * 1024)
/*
 * A read of this much or more switches the direction to splice, a splice
 * burst smaller than this back to copying: keystrokes and short exchanges
 * are copied (one recv, one send), bulk such as scp's 32 KiB SSH packets
 * is spliced (copying them cost as much CPU as splicing, with twice the
 * syscalls; measured with perf stat during scp).
 */
#define BULK_LOW     4096
/* Bytes one callback moves before it lets other connections run. */
#define RUN_BUDGET   (1024 * 1024)
/* Rounds of one callback, whatever moved: a bug cannot spin the loop. */
#define RUN_ROUNDS   64
#define LINGER_MS    30000

/* splice_start(): the splicer with its own events. */
struct splice_owned {
	struct splicer sp;          /* first: a splicer pointer is the whole */
	struct event   ev[2];
};

/* ---- the pipe pool -------------------------------------------------------- */

struct pipe_pool {
	struct splice_pipe *spare;
	size_t            nspare, max;
	size_t            lent;
};

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
pipe_take(struct pipe_pool *pp, struct splice_dir *d)
{
	int fds[2], cap;

	if (pp->nspare > 0) {
		d->p = pp->spare[--pp->nspare];
		pp->lent++;
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	d->p.r = fds[0];
	d->p.w = fds[1];
	if ((cap = fcntl(fds[1], F_SETPIPE_SZ, PIPE_WANT)) <= 0 &&
	    (cap = fcntl(fds[1], F_GETPIPE_SZ)) <= 0)
		cap = 4096;   /* the least a pipe holds */
	d->p.cap = (size_t)cap;
	pp->lent++;
	return 0;
}

/* Only an empty pipe comes back; a spare beyond the pool's size closes. */
static void
pipe_give(struct pipe_pool *pp, struct splice_dir *d)
{
	if (d->p.r < 0)
		return;
	pp->lent--;
	if (pp->nspare < pp->max)
		pp->spare[pp->nspare++] = d->p;
	else {
		close(d->p.r);
		close(d->p.w);
	}
	d->p.r = d->p.w = -1;
}

/* Bytes moved in direction d: its own count and the live counters. */
static void
dir_count(struct splice_dir *d, uint64_t n)
{
	d->bytes += n;
	for (int i = 0; i < 2; i++)
		if (d->live[i] != NULL)
			__atomic_fetch_add(d->live[i], n, __ATOMIC_RELAXED);
}

/* A pipe that may still hold bytes (a failed connection) is never reused. */
static void
pipe_drop(struct pipe_pool *pp, struct splice_dir *d)
{
	if (d->p.r < 0)
		return;
	pp->lent--;
	close(d->p.r);
	close(d->p.w);
	d->p.r = d->p.w = -1;
}

/* ---- relaying --------------------------------------------------------------- */

static void
splice_end(struct splicer *sp, enum relay_end why)
{
	if (sp->ended)
		return;
	sp->ended = true;
	sp->why = why;
	evtimer_del(&sp->timer);
	if (sp->owned) {
		struct splice_owned *o = (struct splice_owned *)sp;
		event_del(&o->ev[0]);
		event_del(&o->ev[1]);
	}
	/* May free sp: nothing after this line touches it. */
	sp->done(sp, why, sp->arg);
}

/* The socket of `side` failed: never touch it again, and end. */
static void
splice_fail(struct splicer *sp, int side)
{
	sp->rd[side] = sp->wr[side] = false;
	if (sp->failed)
		return;
	sp->failed = true;
	sp->why = side == 0 ? RELAY_END_CLIENT_ERROR : RELAY_END_BACKEND_ERROR;
}

/*
 * No pipe to be had (out of descriptors): move bytes without one and
 * without buffering them. Peek at what the source has, send what the
 * destination takes, then consume exactly that much from the source.
 * Returns the bytes moved, or -1 on a socket error.
 */
static ssize_t
copy_direct(struct splicer *sp, struct splice_dir *d, int side)
{
	char buf[4096];
	ssize_t n, w, moved = 0;

	for (;;) {
		n = recv(d->src, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (n == 0) {
			d->eof = true;
			sp->rd[side] = false;
			return moved;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				sp->rd[side] = false;
				return moved;
			}
			splice_fail(sp, side);
			return -1;
		}
		w = send(d->dst, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				sp->wr[1 - side] = false;   /* wait until dst is writable */
				return moved;
			}
			splice_fail(sp, 1 - side);
			return -1;
		}
		if (recv(d->src, buf, (size_t)w, MSG_DONTWAIT) != w)
			pg_fatalx("splice: peeked bytes vanished");
		dir_count(d, (uint64_t)w);
		moved += w;
	}
}

/*
 * The pipe is empty: read once into the stack and send what the
 * destination takes; the rest waits in the pipe. Never more than the pipe
 * holds is read, so the rest always fits. Returns the bytes read, or -1 on
 * a socket error.
 */
static ssize_t
copy_in(struct splicer *sp, struct splice_dir *d, int side)
{
	char buf[COPY_BUF];
	size_t want = d->p.cap < sizeof(buf) ? d->p.cap : sizeof(buf), off = 0;
	ssize_t n, w;

	do
		n = recv(d->src, buf, want, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN) {
			sp->rd[side] = false;
			return 0;
		}
		splice_fail(sp, side);
		return -1;
	}
	if (n == 0) {
		d->eof = true;
		sp->rd[side] = false;
		return 0;
	}
	dir_count(d, (uint64_t)n);
	if (n >= BULK_LOW)
		d->bulk = true;       /* bulk: splice what comes next */
	if ((size_t)n < want && !sp->hup[side])
		sp->rd[side] = false; /* a short read drained the socket */
	while (sp->wr[1 - side] && off < (size_t)n) {
		w = send(d->dst, buf + off, (size_t)n - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && errno == EAGAIN)
			sp->wr[1 - side] = false;
		else {
			splice_fail(sp, 1 - side);
			return -1;
		}
	}
	if (off < (size_t)n) {
		/* The pipe is empty and holds at least `want`: all fits. */
		w = write(d->p.w, buf + off, (size_t)n - off);
		if (w != (ssize_t)((size_t)n - off))
			pg_fatalx("splice: an empty pipe took %zd of %zu bytes",
			    w, (size_t)n - off);
		d->inpipe = (size_t)w;
	}
	return n;
}

/*
 * Splice what src has into the pipe, until it is full. Returns
 * the bytes moved, or -1 on a socket error.
 */
static ssize_t
splice_in(struct splicer *sp, struct splice_dir *d, int side)
{
	ssize_t n, moved = 0;

	while (d->inpipe < d->p.cap) {
		n = splice(d->src, NULL, d->p.w, NULL, d->p.cap - d->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe += (size_t)n;
			dir_count(d, (uint64_t)n);
			moved += n;
			continue;
		}
		if (n == 0) {
			d->eof = true;
			sp->rd[side] = false;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/*
			 * The socket is empty, or the pipe is full (a pipe
			 * counts slots, not bytes, so it can fill before
			 * pcap). An empty pipe cannot be full.
			 */
			if (d->inpipe == 0)
				sp->rd[side] = false;
			break;
		}
		if (errno == EINVAL)
			log_err("splice: a socket of this connection cannot be "
			    "spliced");
		splice_fail(sp, side);
		return -1;
	}
	return moved;
}

/* Move what the pipe holds to dst. Returns the bytes moved, -1 on error. */
static ssize_t
pump_out(struct splicer *sp, struct splice_dir *d, int dst_side)
{
	ssize_t n, moved = 0;

	while (d->inpipe > 0) {
		n = splice(d->p.r, NULL, d->dst, NULL, d->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe -= (size_t)n;
			moved += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			sp->wr[dst_side] = false;
			break;
		}
		splice_fail(sp, dst_side);
		return -1;
	}
	return moved;
}

/*
 * One step of direction i: flush its pipe, pass its EOF on, read more.
 * Adds the bytes read to *nread. Returns whether anything changed.
 */
static bool
dir_step(struct splicer *sp, int i, size_t *nread)
{
	struct splice_dir *d = &sp->d[i];
	int dst = 1 - i;
	bool changed = false, eof = d->eof;
	ssize_t r;

	if (d->inpipe > 0 && sp->wr[dst]) {
		if ((r = pump_out(sp, d, dst)) != 0)
			changed = true;
		if (r < 0)
			return true;
	}
	if (d->inpipe == 0)
		pipe_give(sp->pp, d);
	if (d->eof && d->inpipe == 0 && !d->shut) {
		/*
		 * Everything before the EOF is written: pass the EOF on. The
		 * last one, when the owner closes at once, goes with the close.
		 */
		if (sp->close_follows && sp->d[dst].shut && !sp->failed)
			d->by_close = true;
		else
			shutdown(d->dst, SHUT_WR);
		d->shut = true;
		changed = true;
	}
	if (sp->failed || d->eof || !sp->rd[i] || (d->p.r >= 0 && d->inpipe >= d->p.cap))
		return changed;
	if (d->p.r < 0 && pipe_take(sp->pp, d) == -1) {
		static uint64_t last;
		uint64_t now = pg_now_ms();
		if (now - last >= 1000) {
			last = now;
			log_warn("splice: no pipe (%s): copying without one",
			    strerror(errno));
		}
		if (!sp->wr[dst])
			return changed;   /* nowhere to put what we would read */
		r = copy_direct(sp, d, i);
	} else if (d->inpipe == 0 && !d->bulk)
		r = copy_in(sp, d, i);
	else
		r = splice_in(sp, d, i);
	if (r > 0) {
		*nread += (size_t)r;
		d->burst += (size_t)r;
	}
	if (d->inpipe == 0)
		pipe_give(sp->pp, d);
	return changed || r != 0 || d->eof != eof;
}

/*
 * One event does two jobs: the timer (idle limit, linger after a failure)
 * and the kick, made active by hand, which runs the relay again in the
 * next loop iteration. While a kick is due the timer is left unarmed (its
 * activation takes the event out of the timer heap anyway): the kick's run
 * arms it afterwards. One struct event less per connection.
 */
static void
splice_kick(struct splicer *sp)
{
	sp->kicked = true;
	event_active(&sp->timer, EV_TIMEOUT, 0);
}

static void
arm_timer(struct splicer *sp, uint64_t now)
{
	uint64_t due = 0, wait;
	struct timeval tv;

	if (sp->kicked)
		return;   /* splice_timercb() arms it after the kick's run */
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

/*
 * After any progress: finished, failed, or wait for more. Returns false
 * when the relay ended (sp may be freed).
 */
static bool
splice_settle(struct splicer *sp)
{
	if (sp->d[0].shut && sp->d[1].shut) {
		splice_end(sp, RELAY_END_CLOSED);
		return false;
	}
	if (sp->failed) {
		/* One side is gone; flush what the other is owed, then end. */
		struct splice_dir *owed = sp->why == RELAY_END_CLIENT_ERROR ?
		    &sp->d[0] : &sp->d[1];
		if (owed->inpipe == 0) {
			splice_end(sp, sp->why);
			return false;
		}
		if (sp->linger_until == 0) {
			sp->linger_until = pg_now_ms() + LINGER_MS;
			arm_timer(sp, pg_now_ms());
		}
	}
	return true;
}

/*
 * Move everything that can move now. Past RUN_BUDGET bytes, the rest is
 * left for a kick in the next loop iteration: no edge would come for it.
 * Returns false when sp ended (it may be freed) or moved to another
 * thread: then the caller touches it no more.
 */
static bool
splice_run(struct splicer *sp)
{
	size_t nread = 0;
	bool progress;
	int rounds = 0;

	if (sp->ended)
		return false;
	sp->d[0].burst = sp->d[1].burst = 0;
	do {
		progress = dir_step(sp, 0, &nread);
		progress = dir_step(sp, 1, &nread) || progress;
	} while (progress && nread < RUN_BUDGET && ++rounds < RUN_ROUNDS);
	if (nread > 0)
		sp->last_ms = pg_now_ms();
	/* A small burst that drained its socket: back to copying. */
	for (int i = 0; i < 2; i++)
		if (sp->d[i].bulk && !sp->rd[i] && sp->d[i].burst < BULK_LOW)
			sp->d[i].bulk = false;
	/* Bulk is worth a thread of its own: offer the relay once. */
	if (sp->move != NULL && (sp->d[0].bulk || sp->d[1].bulk) &&
	    !sp->failed && !(sp->d[0].shut && sp->d[1].shut)) {
		splice_move_fn move = sp->move;
		sp->move = NULL;
		if (move(sp, sp->arg))
			return false;   /* sp is another thread's now */
	}
	if (progress)
		splice_kick(sp);
	return splice_settle(sp);
}

void
splice_note(struct splicer *sp, int side, short what)
{
	if (what & (EV_READ | EV_CLOSED))
		sp->rd[side] = true;
	if (what & EV_CLOSED)
		sp->hup[side] = true;
	if (what & EV_WRITE)
		sp->wr[side] = true;
}

void
splice_io(struct splicer *sp, int side, short what)
{
	splice_note(sp, side, what);
	(void)splice_run(sp);
}

/* The timer, or a kick (see splice_kick()), or both. */
static void
splice_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct splicer *sp = arg;
	uint64_t now;

	if (sp->kicked) {
		sp->kicked = false;
		if (!splice_run(sp))
			return;
		if (sp->kicked)
			return;   /* kicked again: that run arms the timer */
	}
	now = pg_now_ms();
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

void
splice_init(struct splicer *sp, struct event_base *base, struct pipe_pool *pp,
    int cfd, int bfd, uint64_t idle_ms, splice_done_fn done, void *arg)
{
	memset(sp, 0, sizeof(*sp));
	sp->pp = pp;
	sp->idle_ms = idle_ms;
	sp->last_ms = pg_now_ms();
	sp->done = done;
	sp->arg = arg;
	sp->d[0] = (struct splice_dir){ .src = cfd, .dst = bfd, .p = { -1, -1, 0 } };
	sp->d[1] = (struct splice_dir){ .src = bfd, .dst = cfd, .p = { -1, -1, 0 } };
	/* Edges may have passed already: try everything once. */
	sp->rd[0] = sp->rd[1] = sp->wr[0] = sp->wr[1] = true;
	evtimer_assign(&sp->timer, base, splice_timercb, sp);
	/*
	 * Not from here: done() must not run before the caller has sp. The
	 * kick's run arms the timer.
	 */
	splice_kick(sp);
}

void
splice_release(struct splicer *sp)
{
	evtimer_del(&sp->timer);
	sp->kicked = false;
	for (int i = 0; i < 2; i++) {
		if (sp->d[i].inpipe == 0)
			pipe_give(sp->pp, &sp->d[i]);
		else
			pipe_drop(sp->pp, &sp->d[i]);
		sp->d[i].inpipe = 0;
	}
}

void
splice_set_mover(struct splicer *sp, splice_move_fn move)
{
	sp->move = move;
}

void
splice_set_close_follows(struct splicer *sp)
{
	sp->close_follows = true;
}

bool
splice_eof_by_close(const struct splicer *sp, int side)
{
	return sp->d[1 - side].by_close;
}

void
splice_detach(struct splicer *sp)
{
	evtimer_del(&sp->timer);
	sp->kicked = false;
	for (int i = 0; i < 2; i++)
		if (sp->d[i].p.r >= 0)
			sp->pp->lent--;
	sp->pp = NULL;
}

void
splice_attach(struct splicer *sp, struct event_base *base,
    struct pipe_pool *pp)
{
	sp->pp = pp;
	for (int i = 0; i < 2; i++)
		if (sp->d[i].p.r >= 0)
			pp->lent++;
	/* Edges may have passed while detached: try everything once. */
	sp->rd[0] = sp->rd[1] = sp->wr[0] = sp->wr[1] = true;
	evtimer_assign(&sp->timer, base, splice_timercb, sp);
	splice_kick(sp);   /* its run arms the timer */
}

static void
splice_ownedcb(evutil_socket_t fd, short what, void *arg)
{
	struct splicer *sp = arg;

	splice_io(sp, fd == sp->d[0].src ? 0 : 1, what);
}

struct splicer *
splice_start(struct event_base *base, struct pipe_pool *pp, int cfd, int bfd,
    uint64_t idle_ms, splice_done_fn done, void *arg)
{
	struct splice_owned *o;
	const short ev = EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	splice_init(&o->sp, base, pp, cfd, bfd, idle_ms, done, arg);
	o->sp.owned = true;
	event_assign(&o->ev[0], base, cfd, ev, splice_ownedcb, &o->sp);
	event_assign(&o->ev[1], base, bfd, ev, splice_ownedcb, &o->sp);
	if (event_add(&o->ev[0], NULL) == -1 || event_add(&o->ev[1], NULL) == -1) {
		event_del(&o->ev[0]);
		splice_release(&o->sp);
		free(o);
		return NULL;
	}
	return &o->sp;
}

void
splice_stop(struct splicer *sp)
{
	splice_end(sp, RELAY_END_STOPPED);
}

void
splice_free(struct splicer *sp)
{
	struct splice_owned *o = (struct splice_owned *)sp;

	if (sp == NULL)
		return;
	event_del(&o->ev[0]);
	event_del(&o->ev[1]);
	splice_release(sp);
	close(sp->d[0].src);
	close(sp->d[1].src);
	free(o);
}

void
splice_count_into(struct splicer *sp, int side, uint64_t *a, uint64_t *b)
{
	sp->d[side].live[0] = a;
	sp->d[side].live[1] = b;
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
