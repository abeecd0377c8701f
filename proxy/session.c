/*
 * session.c -- see session.h.
 *
 * Two threads may take part in a session (proxy/worker.h). The main thread
 * accepts, picks the VM, does all the counting, connects and relays; a
 * session whose bytes turn bulk moves once to a relay thread (`workers` >
 * 0), which relays it to its end. Each field below is marked with who may
 * touch it. Two messages cross threads, through the session's one message
 * slot (s->msg) and the mailboxes, which order the fields written before
 * them: MOVE (main -> relay thread: relay here from now on) and END (relay
 * thread -> main: the sockets are closed, account and free). On the main
 * thread an END is a plain call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "backends/members.h"
#include "backends/route.h"
#include "http/rdp.h"
#include "lib/log.h"
#include "proxy/mailbox.h"
#include "proxy/session.h"
#include "proxy/splice.h"
#include "proxy/srcaddr.h"
#include "proxy/tlsconn.h"
#include "proxy/worker.h"

/* Where the session is, as its worker sees it. */
enum wk_state {
	W_MAIN = 0,     /* not handed over yet, or waiting in the queue */
	W_CONNECTING,
	W_RELAYING,
};

/*
 * Mode rdp only: the client's Connection Request, read before a VM is
 * chosen and sent to it first, unchanged (by the home worker, before any
 * relaying), and what it told us. It lives right after its session, in the
 * same allocation; an SSH session has none (s->rdp is NULL), which keeps
 * an idle SSH connection about 500 bytes smaller.
 */
struct session_rdp {
	struct event        hello_tmo;      /* first_packet_timeout */
	bool                hello_set;      /* hello_tmo (and cev) watch the read */
	char                user[HU_NAME_MAX + 1]; /* announced user, "" none */
	char                token_vm[CFG_NAME_MAX + 1]; /* a token's VM, "" none */
	uint8_t             hello[RDP_CR_MAX]; /* the Connection Request */
	size_t              hello_len;      /* bytes in hello */
};

struct session {
	/* ---- main thread ---- */
	struct session     *prev, *next;   /* px->sessions */
	struct px_ctx      *px;             /* constant */
	struct service     *svc;            /* referenced */
	union {                             /* the client: AF_INET or AF_INET6 */
		struct sockaddr     sa;
		struct sockaddr_in  in;
		struct sockaddr_in6 in6;
	}                   peer;
	char                peer_text[INET6_ADDRSTRLEN + 8]; /* addr:port; constant */
	char                addr[INET6_ADDRSTRLEN];          /* client address */
	char                key[AFF_KEY_MAX + 1];            /* "" = no affinity */
	struct backend     *backend;        /* picked VM, counted while set */
	struct backend     *tried[SESSION_MAX_TRIES];
	int                 ntried;
	struct wq_node      wq;             /* waiting in svc->wq for a VM; first
	                                       member access via container_of */
	uint64_t            start_ms;
	uint64_t            start_wall_ms;
	int                 port;           /* client port */
	int                 vm_port;        /* our source port toward the VM, 0 unknown */
	uint64_t            connect_ms;     /* start of the current connect */
	struct worker      *worker;         /* home at the first connect; a
	                                       relay thread after MOVE */
	struct session_rdp *rdp;            /* mode rdp: just after s; else NULL */

	/* ---- hand-over: written before a post, read by its receiver ---- */
	struct mb_msg       msg;
	uint64_t            idle_ms, keepalive_ms; /* copied: threads read no svc */
	bool                established;    /* END: the relay ran (also: tmo or spl) */
	const char         *end_why;        /* END: reason, or NULL (not logged) */
	uint64_t            up, down;       /* END: bytes relayed */

	/* ---- the thread that owns the sockets: its worker, or main in W_MAIN ---- */
	struct session     *wprev, *wnext;  /* worker->sessions */
	enum wk_state       wstate;
	int                 cfd;            /* client socket */
	int                 bfd;            /* VM socket (connecting or relaying), or -1 */
	/*
	 * Both sockets are watched edge-triggered for reading, writing and the
	 * peer's FIN from the start (SESSION_EV): while connecting, cev only
	 * notices a client that leaves and ev the connect's end; once
	 * relaying, both feed the splicer, with no epoll change in between.
	 */
	struct event        ev;             /* bfd */
	struct event        cev;            /* cfd */
	bool                ev_set, cev_set;
	bool                client_fin;     /* the client sent FIN before the relay */
	bool                ka_done;        /* keepalive set on bfd */
	struct splicer     *sp;             /* &spl once relaying, else NULL */
	/*
	 * The connect timeout is needed only until the relay starts, the
	 * splicer only from then on, so they share memory (an idle session
	 * is 128 bytes smaller): tmo is valid while !established, spl after.
	 */
	union {
		struct event    tmo;        /* the connect timeout */
		struct splicer  spl;
	};
};

static void session_connect_next(struct session *s);
static void session_free(struct session *s, const char *why);
static bool session_move(struct splicer *sp, void *arg);
static void session_client_cb(evutil_socket_t fd, short what, void *arg);
static void session_connect_cb(evutil_socket_t fd, short what, void *arg);

#define SESSION_EV (EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST)

/* The user an RDP client announced, or "". */
static const char *
session_user(const struct session *s)
{
	return s->rdp != NULL ? s->rdp->user : "";
}

#define session_of(node) \
	((struct session *)((char *)(node) - offsetof(struct session, wq)))
#define session_of_msg(m) \
	((struct session *)((char *)(m) - offsetof(struct session, msg)))


/* ---- the sockets' side: the worker (or main while W_MAIN) ---------------- */

static void
set_nodelay(int fd)
{
	int one = 1;

	/* SSH is interactive: never hold a keystroke back for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Stop watching the VM socket (and its connect timeout) and close it. */
static void
session_drop_connect(struct session *s)
{
	if (s->ev_set) {
		event_del(&s->ev);
		if (!s->established)   /* else tmo's memory is the splicer's */
			evtimer_del(&s->tmo);
		s->ev_set = false;
	}
	if (s->bfd >= 0) {
		close(s->bfd);
		s->bfd = -1;
	}
}

/*
 * Close the VM socket with a reset instead of a FIN: no TIME_WAIT is left
 * on our side. Used when the client reset, or left before the VM said
 * anything (an SSH sweep does this thousands of times a minute): a
 * graceful close would keep one TIME_WAIT socket, and so one local port
 * towards that VM, per connection for a minute, until the ephemeral ports
 * towards a VM run out. HAProxy passes such aborts on the same way.
 */
static void
session_abort_vm(struct session *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (s->bfd >= 0)
		setsockopt(s->bfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/*
 * Release the relay and close both sockets, keeping the byte counts. A
 * client that reset, or left before the VM spoke (abort_vm), has its VM
 * socket reset rather than closed (session_abort_vm).
 */
static void
session_close_io(struct session *s, bool abort_vm)
{
	bool vm_eof_by_close = false;

	if (s->sp != NULL) {
		s->up = splice_bytes_up(s->sp) +
		    (s->rdp != NULL ? s->rdp->hello_len : 0);
		s->down = splice_bytes_down(s->sp);
		vm_eof_by_close = splice_eof_by_close(s->sp, 1);
		splice_release(s->sp);
		s->sp = NULL;
	}
	if (abort_vm || s->down == 0) {
		/* The client's EOF still reaches the VM before the reset. */
		if (vm_eof_by_close)
			shutdown(s->bfd, SHUT_WR);
		session_abort_vm(s);
	}
	session_drop_connect(s);
	if (s->cev_set) {
		event_del(&s->cev);
		s->cev_set = false;
	}
	if (s->cfd >= 0) {
		close(s->cfd);
		s->cfd = -1;
	}
}

static void main_end_cb(struct mb_msg *m);
static void session_connect_failed(struct session *s, int err, bool at_once);

/* Into, or out of, the list of its worker's sessions (its thread's). */
static void
wk_link(struct session *s)
{
	struct worker *w = s->worker;

	s->wprev = NULL;
	s->wnext = w->sessions;
	if (s->wnext != NULL)
		s->wnext->wprev = s;
	w->sessions = s;
}

static void
wk_unlink(struct session *s)
{
	if (s->wprev != NULL)
		s->wprev->wnext = s->wnext;
	else
		s->worker->sessions = s->wnext;
	if (s->wnext != NULL)
		s->wnext->wprev = s->wprev;
	s->wprev = s->wnext = NULL;
}

/*
 * The worker holding the sockets: the session is over here; hand it back
 * for good (on the main thread, freed now). A tail call.
 */
static void
wk_end(struct session *s, const char *why, bool abort_vm)
{
	session_close_io(s, abort_vm);
	wk_unlink(s);
	s->end_why = why;
	s->msg.fn = main_end_cb;
	wk_post_main(s->worker, &s->msg);
}

static void
session_splice_done(struct splicer *sp, enum relay_end why, void *arg)
{
	wk_end(arg, relay_end_name(why), why == RELAY_END_CLIENT_ERROR);
}

/* MOVE, on the relay thread: the session's relay continues here. */
static void
wk_move_cb(struct mb_msg *m)
{
	struct session *s = session_of_msg(m);
	struct worker *w = s->worker;
	bool ok;

	/* Relaying, so no connect timeout: tmo's memory is the splicer's. */
	wk_link(s);
	event_assign(&s->ev, w->base, s->bfd, SESSION_EV, session_connect_cb, s);
	event_assign(&s->cev, w->base, s->cfd, SESSION_EV, session_client_cb, s);
	ok = event_add(&s->ev, NULL) == 0 && event_add(&s->cev, NULL) == 0;
	if (!s->ka_done) {
		px_keepalive_fd(s->bfd, s->keepalive_ms, false);
		s->ka_done = true;
	}
	splice_attach(s->sp, w->base, w->pipes);
	if (!ok) {
		log_warn("session client=%s: cannot watch its sockets on a relay "
		    "thread: %s", s->peer_text, strerror(errno));
		splice_stop(s->sp);   /* ends s through the done callback */
	}
}

/*
 * The relay turned bulk on the home worker (main thread): hand it to the
 * relay thread with the fewest sessions, if there is one. Its pipes, with
 * any bytes in them, go along.
 */
static bool
session_move(struct splicer *sp, void *arg)
{
	struct session *s = arg;
	struct px_ctx *px = s->px;
	struct worker *to;

	if (px->killing || (to = wk_pool_pick(&px->wk)) == NULL)
		return false;
	event_del(&s->ev);
	event_del(&s->cev);
	splice_detach(sp);
	wk_unlink(s);
	s->worker->load--;
	to->load++;
	s->worker = to;
	px->wk.moves++;
	s->msg.fn = wk_move_cb;
	wk_post(to, &s->msg);   /* queued: runs on the thread */
	return true;
}

/* what: the event on the VM socket that ended the connect. */
static void
session_established(struct session *s, short what)
{
	struct worker *w = s->worker;

	evtimer_del(&s->tmo);
	histo_observe(&s->svc->connect_hist, &px_connect_bounds,
	    (double)(pg_now_ms() - s->connect_ms) / 1000.0);
	/*
	 * Nothing was read from the client while we connected: what it sent
	 * (an SSH client's banner) waits in the kernel and goes out now. The
	 * client socket has keepalive and TCP_NODELAY from the listener.
	 */
	splice_init(&s->spl, w->base, w->pipes, s->cfd, s->bfd, s->idle_ms,
	    session_splice_done, s);
	s->sp = &s->spl;
	/* wk_end() closes both sockets at the relay's end */
	splice_set_close_follows(s->sp);
	/* counted as they move: a long scp is no spike at its end */
	splice_count_into(s->sp, 0, &s->svc->bytes_up, &s->backend->bytes_up);
	splice_count_into(s->sp, 1, &s->svc->bytes_down, &s->backend->bytes_down);
	s->wstate = W_RELAYING;
	s->established = true;
	if (s->px->wk.n > 0)
		splice_set_mover(s->sp, session_move);
	/* Edges seen already: the VM may have sent its FIN with its banner. */
	splice_note(s->sp, 1, what);
	if (s->client_fin)
		splice_note(s->sp, 0, EV_CLOSED);
	/* The VM stays allocated while the session is counted on it. */
	__atomic_fetch_add(&s->backend->connections, 1, __ATOMIC_RELAXED);
}

/*
 * Mode rdp: the client's Connection Request goes to the VM before any
 * relayed byte. At most RDP_CR_MAX bytes into a socket that just
 * connected: its empty send buffer takes them whole, so a short send is
 * an error like any other. Returns 0, or -1 with *err set.
 */
static int
session_send_hello(struct session *s, int *err)
{
	struct session_rdp *r = s->rdp;
	ssize_t n;

	if (r == NULL || r->hello_len == 0)
		return 0;
	n = send(s->bfd, r->hello, r->hello_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)r->hello_len)
		return 0;
	*err = n < 0 ? errno : EAGAIN;
	return -1;
}

/*
 * An event on the VM socket: relayed, or the connect's end (writable, or
 * an error), or the connect timeout (fd -1, EV_TIMEOUT).
 */
static void
session_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	socklen_t len = sizeof(int);
	int soerr = 0;
	bool timeout = (what & EV_TIMEOUT) != 0;

	if (s->sp != NULL) {
		splice_io(s->sp, 1, what);
		return;
	}
	if (!timeout && !(what & (EV_WRITE | EV_CLOSED)))
		return;   /* not done yet */
	/*
	 * libevent reports EPOLLERR and EPOLLHUP as EV_READ|EV_WRITE, so a
	 * bare EV_WRITE is a connect that succeeded: no need to ask SO_ERROR
	 * (one syscall less per connection). With EV_READ or EV_CLOSED the
	 * VM may have spoken already, or the connect failed: ask.
	 */
	if ((what & ~EV_ET) == EV_WRITE || (!timeout && getsockopt(s->bfd,
	    SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)) {
		if (session_send_hello(s, &soerr) == 0) {
			session_established(s, what);
			return;
		}
	}
	session_connect_failed(s, timeout ? ETIMEDOUT : soerr, false);
}

/*
 * Main: the connect is under way, so the kernel has chosen our source
 * port toward the VM. Logged with the client: the VM's sshd logs (and its
 * agent reports) that port as its peer's, which ties the VM's view of a
 * login to the client poolgate relayed.
 */
static void
session_log_start(struct session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN];
	int port = 0;

	if (getsockname(s->bfd, (struct sockaddr *)&ss, &len) == 0)
		px_format_peer((struct sockaddr *)&ss, addr, sizeof(addr), &port);
	s->vm_port = port;
	struct pg_kv kv[] = {
		KV_S("service", s->svc->cfg.name),
		KV_S("client", s->addr),
		KV_N("client_port", s->port),
		KV_S("mode", cfg_mode_name(s->svc->cfg.mode)),
		KV_S("user", session_user(s)[0] != '\0' ? session_user(s) : "-"),
		KV_S("vm", s->backend->name),
		KV_N("source_port", s->vm_port),
		KV_N("try", s->ntried),
	};
	pg_log_event(PG_LOG_INFO, "session_start", kv, sizeof(kv) / sizeof(kv[0]));
}

/*
 * Main: services[].source = "client": connect from the client's address.
 * Start made sure of the capability; what can still fail here (a client of
 * another address family than the VM, a loopback client) falls back to
 * poolgate's own address, with a line saying why.
 */
static void
session_from_client(struct session *s, int family)
{
	struct sockaddr_storage peer;
	char why[64];
	int e;

	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, &s->peer, sizeof(s->peer));
	if (peer.ss_family == family &&
	    sa_bind_client(s->bfd, &peer, why, sizeof(why)) == 0)
		return;
	e = peer.ss_family == family ? errno : EAFNOSUPPORT;
	if (peer.ss_family != family)
		snprintf(why, sizeof(why), "another address family than the VM's");
	log_warn("session client=%s vm=%s: cannot connect from the client's "
	    "address (%s: %s); connecting from poolgate's", s->peer_text,
	    s->backend->name, why, strerror(e));
	close(s->bfd);
	if ((s->bfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) != -1)
		set_nodelay(s->bfd);
}

/* Main: connect to target, in the VM the session is counted on. */
static void
session_connect(struct session *s, const struct sockaddr *target,
    socklen_t target_len, uint64_t timeout_ms)
{
	struct worker *w = s->worker;
	struct timeval tv;

	if (s->wstate == W_MAIN) {
		/* First try: the client socket joins the home worker's list. */
		wk_link(s);
		evtimer_assign(&s->tmo, w->base, session_connect_cb, s);
		event_assign(&s->cev, w->base, s->cfd, SESSION_EV,
		    session_client_cb, s);
		if (event_add(&s->cev, NULL) == 0)
			s->cev_set = true;
	}
	s->wstate = W_CONNECTING;
	/* Keepalive comes later, to sessions that last (session_tick()). */
	if ((s->bfd = socket(target->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) != -1)
		set_nodelay(s->bfd);
	if (s->bfd != -1 && s->svc->cfg.source == SVC_SRC_CLIENT)
		session_from_client(s, target->sa_family);
	if (s->bfd != -1 &&
	    (connect(s->bfd, target, target_len) == 0 || errno == EINPROGRESS)) {
		session_log_start(s);
		tv.tv_sec = (time_t)(timeout_ms / 1000);
		tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
		event_assign(&s->ev, w->base, s->bfd, SESSION_EV,
		    session_connect_cb, s);
		if (event_add(&s->ev, NULL) == 0) {
			s->ev_set = true;
			evtimer_add(&s->tmo, &tv);
			return;   /* session_connect_cb takes it from here */
		}
		errno = ENOMEM;
	}
	session_connect_failed(s, errno, true);
}

/*
 * The client closed while we connect or while it waits in the queue. A
 * client that
 * half-closed after sending bytes is kept: its bytes and its EOF go to the
 * VM once connected.
 */
static void
session_client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	char c;

	if (s->sp != NULL) {
		splice_io(s->sp, 0, what);
		return;
	}
	/* Bytes and writability wait for the relay; only a FIN matters. */
	if (!(what & EV_CLOSED))
		return;
	if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
		s->client_fin = true;   /* its bytes and its EOF go to the VM */
		return;
	}
	switch (s->wstate) {
	case W_MAIN:   /* in the queue, on the main thread */
		session_free(s, s->wq.queued ? "left_queue" : "client_closed");
		break;
	case W_CONNECTING:
		wk_end(s, "client_closed", true);
		break;
	case W_RELAYING:
		break;   /* not reached: the splicer has the events */
	}
}

/* Worker: end every session it holds (shutdown). */
static void
wk_end_all(struct worker *w)
{
	struct session *s, *next;

	for (s = w->sessions; s != NULL; s = next) {
		next = s->wnext;
		if (s->wstate == W_RELAYING)
			splice_stop(s->sp);       /* ends s through the done callback */
		else if (s->wstate == W_CONNECTING)
			wk_end(s, "stopped", false);
	}
}

/* ---- the main thread ------------------------------------------------------ */

/* Undo the counting done when s->backend was picked. */
static void
session_uncount(struct session *s)
{
	struct backend *b = s->backend;

	if (b == NULL)
		return;
	mbr_session_end(s->px->mbr, b, s->key[0] != '\0' ? s->key : NULL,
	    pg_now_ms());
	s->backend = NULL;
}

static void
session_free(struct session *s, const char *why)
{
	struct px_ctx *px = s->px;
	uint64_t now = pg_now_ms();

	if (s->established || why != NULL) {
		char start[32];
		pg_format_time(s->start_wall_ms, start, sizeof(start));
		struct pg_kv kv[] = {
			KV_S("service", s->svc->cfg.name),
			KV_S("client", s->addr),
			KV_N("client_port", s->port),
			KV_S("mode", cfg_mode_name(s->svc->cfg.mode)),
			/* SSH is end-to-end encrypted: only RDP announces one */
			KV_S("user", session_user(s)[0] != '\0' ? session_user(s) : "-"),
			KV_S("vm", s->backend != NULL ? s->backend->name : "-"),
			KV_N("source_port", s->vm_port),
			KV_S("start", start),
			KV_N("duration_ms", now - s->start_ms),
			KV_N("bytes_up", s->up),
			KV_N("bytes_down", s->down),
			KV_S("reason", why != NULL ? why : "closed"),
		};
		pg_log_event(PG_LOG_INFO, "session_end", kv, sizeof(kv) / sizeof(kv[0]));
	}
	if (s->rdp != NULL && s->rdp->hello_set) {
		evtimer_del(&s->rdp->hello_tmo);
		s->rdp->hello_set = false;
	}
	wq_remove(&s->svc->wq, &s->wq);
	if (s->established)
		histo_observe(&s->svc->duration_hist, &px_duration_bounds,
		    (double)(now - s->start_ms) / 1000.0);
	if (s->worker != NULL)
		s->worker->load--;
	else
		session_close_io(s, false);   /* never handed over: ours */
	session_uncount(s);
	lim_release(px->lim, &s->peer.sa);
	px->nconns--;
	s->svc->active--;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		px->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	svc_unref(s->svc);
	free(s);
	px_gone(px);
}

/* END: the worker closed the sockets. */
static void
main_end_cb(struct mb_msg *m)
{
	struct session *s = session_of_msg(m);

	session_free(s, s->end_why);
}

/* Main: end a session that holds no VM. */
static void
session_give_up(struct session *s, const char *why)
{
	if (s->worker != NULL)
		wk_end(s, why, false);   /* in the home worker's list */
	else
		session_free(s, why);
}

/*
 * The connect to s->backend failed before any byte was relayed (at_once:
 * connect() itself): count it and try the next VM.
 */
static void
session_connect_failed(struct session *s, int e, bool at_once)
{
	struct backend *b = s->backend;
	struct service *svc = s->svc;
	uint64_t now = pg_now_ms();
	char err[128];

	session_drop_connect(s);
	session_uncount(s);
	if (at_once && (e == EMFILE || e == ENFILE || e == ENOBUFS ||
	    e == ENOMEM)) {
		/* Our shortage, not the VM's: no other VM would do better. */
		svc->errors[ERR_RESOURCES]++;
		log_warn("session client=%s: cannot connect: %s", s->peer_text,
		    strerror(e));
		session_give_up(s, "resources");
		return;
	}
	if (at_once) {
		log_warn("session client=%s: connect to %s failed at once: %s",
		    s->peer_text, b->name, strerror(e));
		svc->errors[ERR_CONNECT_FAILED]++;
	} else {
		/* Nothing was relayed yet: count it against the VM, move on. */
		snprintf(err, sizeof(err), "%s", e == ETIMEDOUT ?
		    "connect timeout" : strerror(e));
		log_warn("session client=%s: connect to %s (%s) failed: %s",
		    s->peer_text, b->name, b->addr.text, err);
		svc->errors[e == ETIMEDOUT ? ERR_CONNECT_TIMEOUT :
		    ERR_CONNECT_FAILED]++;
		if (svc->idx >= 0) {
			const struct cfg_check *cc = &svc->cfg.check;
			mbr_check_result(s->px->mbr, b, (size_t)svc->idx,
			    svc->cfg.name, cc->rise, cc->fall, false, err,
			    now - s->connect_ms, now);
		}
	}
	session_connect_next(s);
}

/* Main: watch the client socket of a session that waits in the queue. */
static void
session_watch_here(struct session *s, bool on)
{
	if (on && !s->cev_set) {
		event_assign(&s->cev, s->px->base, s->cfd, SESSION_EV,
		    session_client_cb, s);
		if (event_add(&s->cev, NULL) == 0)
			s->cev_set = true;
	} else if (!on && s->cev_set) {
		event_del(&s->cev);
		s->cev_set = false;
	}
}

/*
 * What routing knows about s. An RDP client that named its user goes by
 * that user (never by its address: a team behind one office address must
 * not follow one another); else by its address, like SSH.
 */
static void
session_route_in(struct session *s, struct route_in *in, uint64_t now)
{
	struct us_table *us = s->px->mbr->us;

	memset(in, 0, sizeof(*in));
	if (s->rdp != NULL && s->rdp->token_vm[0] != '\0')
		in->token_backend = s->rdp->token_vm;
	if (session_user(s)[0] != '\0') {
		in->user = session_user(s);
		in->live_backend = us_user_backend(us, in->user, now);
		return;
	}
	/* An SSH login follows the one Jupyter user active from its address. */
	in->sole_user_backend = us_sole_user_backend(us, s->addr, now);
	in->ip_key = s->key[0] != '\0' ? s->key : NULL;
}

static void
session_connect_next(struct session *s)
{
	struct px_ctx *px = s->px;
	struct service *svc = s->svc;
	struct backend *b;
	struct route_in in = { 0 };
	enum route_why why;
	struct sockaddr_storage target;
	uint64_t now = pg_now_ms();

	session_route_in(s, &in, now);
	if (svc->idx < 0 || s->ntried >= SESSION_MAX_TRIES ||
	    (b = mbr_pick(px->mbr, (size_t)svc->idx, &in, s->tried,
	    (size_t)s->ntried, &why, now)) == NULL) {
		enum conn_err e = s->ntried == 0 ? ERR_NO_BACKEND :
		    ERR_CONNECT_FAILED;
		if (e == ERR_NO_BACKEND && svc->idx >= 0) {
			px_no_capacity(px, svc);
			/*
			 * Hold it (sending nothing, so the SSH client just
			 * waits) until a VM can take it. Never handed over
			 * yet (no VM was picked), so it is ours to watch.
			 */
			if (svc->cfg.queue.enabled &&
			    wq_push(&svc->wq, &s->wq, now) == 0) {
				session_watch_here(s, true);
				log_info("session client=%s service=%s: no VM can "
				    "take it; waiting (%zu in queue)",
				    s->peer_text, svc->cfg.name, svc->wq.n);
				return;
			}
		}
		if (e == ERR_NO_BACKEND)
			svc->errors[e]++;
		log_warn("session client=%s service=%s: %s", s->peer_text,
		    svc->cfg.name, s->ntried == 0 ?
		    "no VM can take a new session" :
		    "every VM tried failed to connect");
		session_give_up(s, NULL);
		return;
	}
	s->tried[s->ntried++] = b;
	s->backend = b;
	if (mbr_session_start(px->mbr, b, s->key[0] != '\0' ? s->key : NULL,
	    now) == -1)
		log_warn("affinity table full: %s not remembered", s->key);
	log_debug("session client=%s user=%s -> %s (%s)", s->peer_text,
	    session_user(s)[0] != '\0' ? session_user(s) : "-", b->name, route_why_name(why));

	memcpy(&target, &b->addr.ss, sizeof(target));
	if (target.ss_family == AF_INET)
		((struct sockaddr_in *)&target)->sin_port =
		    htons((uint16_t)svc->cfg.port);
	else
		((struct sockaddr_in6 *)&target)->sin6_port =
		    htons((uint16_t)svc->cfg.port);
	/* Copied: a relay thread this session may move to reads no svc. */
	s->idle_ms = svc->cfg.idle_timeout_ms;
	s->keepalive_ms = px->cfg->tcp_keepalive_ms;
	s->connect_ms = now;
	if (s->worker == NULL) {
		session_watch_here(s, false);   /* the home worker's from now */
		s->worker = &px->wk.home;
		s->worker->load++;
	}
	/* A tail call: a failure tries the next VM, and s may be gone. */
	session_connect(s, (struct sockaddr *)&target, b->addr.len,
	    svc->cfg.connect_timeout_ms);
}

/* Mode rdp: the first packet was not a Connection Request, or was late. */
static void
session_hello_fail(struct session *s, enum conn_err e, const char *why)
{
	s->svc->errors[e]++;
	log_warn("session client=%s service=%s: %s; closed, nothing sent to "
	    "a VM", s->peer_text, s->svc->cfg.name, why);
	session_free(s, conn_err_name(e));
}

static void
session_hello_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	session_hello_fail(arg, ERR_FIRST_PACKET_TIMEOUT,
	    "no Connection Request within first_packet_timeout");
}

/* The Connection Request is in: what it says decides the route. */
static void
session_hello_done(struct session *s, const struct rdp_cr *cr)
{
	struct px_ctx *px = s->px;
	char addr[INET_ADDRSTRLEN];
	struct backend *b;
	char user[HU_NAME_MAX + 1];
	int r;

	event_del(&s->cev);
	s->cev_set = false;
	evtimer_del(&s->rdp->hello_tmo);
	s->rdp->hello_set = false;
	s->rdp->hello_len = cr->len;
	if (cr->token && inet_ntop(AF_INET, cr->token_ip, addr,
	    sizeof(addr)) != NULL) {
		/* Only to a member of this pool, on this service's port. */
		b = route_member_at(&px->mbr->pool, addr);
		if (b != NULL && cr->token_port == s->svc->cfg.port)
			snprintf(s->rdp->token_vm, sizeof(s->rdp->token_vm), "%s",
			    b->name);
		else
			log_info("session client=%s: routing token for %s:%u is "
			    "not a pool member; ignored", s->peer_text, addr,
			    cr->token_port);
	}
	r = route_user_hint(px->mbr->aff, cr->user, cr->user_cut, pg_now_ms(),
	    user, sizeof(user));
	if (r == 1 && snprintf(s->key, sizeof(s->key), "user:%s", user) <
	    (int)sizeof(s->key))
		memcpy(s->rdp->user, user, sizeof(user));
	else if (r == -1)
		log_info("session client=%s: mstshash \"%s\" starts several "
		    "user names; routed by address", s->peer_text, cr->user);
	session_connect_next(s);
}

/* Mode rdp: read the Connection Request, exactly its bytes, no more. */
static void
session_hello_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct session_rdp *h = s->rdp;
	struct rdp_cr cr;
	ssize_t n;
	int r;

	for (;;) {
		r = rdp_parse_cr(h->hello, h->hello_len, &cr);
		if (r == RDP_BAD) {
			session_hello_fail(s, ERR_BAD_FIRST_PACKET, cr.why);
			return;
		}
		if (r == RDP_OK) {
			session_hello_done(s, &cr);
			return;
		}
		n = recv(fd, h->hello + h->hello_len, cr.need - h->hello_len,
		    MSG_DONTWAIT);
		if (n > 0) {
			h->hello_len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return;
		session_free(s, n == 0 ? "client_closed" : "client_error");
		return;
	}
}

static void
session_hello_start(struct session *s)
{
	struct px_ctx *px = s->px;
	uint64_t ms = s->svc->cfg.first_packet_timeout_ms;
	struct timeval tv = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_usec = (suseconds_t)(ms % 1000) * 1000,
	};

	event_assign(&s->cev, px->base, s->cfd, EV_READ | EV_PERSIST,
	    session_hello_cb, s);
	evtimer_assign(&s->rdp->hello_tmo, px->base, session_hello_timeout_cb,
	    s);
	if (event_add(&s->cev, NULL) != 0 ||
	    evtimer_add(&s->rdp->hello_tmo, &tv) != 0) {
		event_del(&s->cev);
		s->svc->errors[ERR_RESOURCES]++;
		session_free(s, "resources");
		return;
	}
	s->cev_set = true;
	s->rdp->hello_set = true;
}

void
session_accept(struct px_ctx *px, struct service *svc, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	bool rdp = svc->cfg.mode == SVC_MODE_RDP;
	struct session *s;
	char *addr = NULL;
	int port;

	/* One allocation; an RDP session's struct session_rdp follows. */
	if ((s = calloc(1, sizeof(*s) + (rdp ? sizeof(*s->rdp) : 0))) == NULL) {
		log_warn("service %s: out of memory accepting a connection",
		    svc->cfg.name);
		svc->errors[ERR_RESOURCES]++;
		lim_release(px->lim, sa);
		px->nconns--;
		close(fd);
		return;
	}
	if (rdp)
		s->rdp = (struct session_rdp *)(s + 1);
	s->cfd = fd;
	s->bfd = -1;
	s->px = px;
	s->svc = svc;
	svc->refcnt++;
	svc->active++;
	svc->connections_total++;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	s->start_ms = pg_now_ms();
	s->start_wall_ms = pg_wall_ms();
	addr = s->addr;
	px_format_peer(sa, addr, sizeof(s->addr), &port);
	s->port = port;
	snprintf(s->peer_text, sizeof(s->peer_text),
	    strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
	if (svc->cfg.by_client_ip)
		snprintf(s->key, sizeof(s->key), "ip:%s", addr);
	s->next = px->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	px->sessions = s;
	if (rdp) {
		session_hello_start(s);
		return;
	}
	/*
	 * Read nothing until the VM is connected (the kernel keeps what the
	 * client sent); the worker only notices a client that leaves
	 * meanwhile.
	 */
	session_connect_next(s);
}

bool
session_dequeue(struct px_ctx *px, struct service *svc)
{
	struct session *s;
	struct route_in in = { 0 };
	enum route_why why;

	if (svc->wq.head == NULL || svc->idx < 0 || px->killing)
		return false;
	s = session_of(svc->wq.head);
	session_route_in(s, &in, pg_now_ms());
	/* Only leave the queue when a VM can take it, or it would lose its turn. */
	if (route_pick(&px->mbr->pool, (size_t)svc->idx, px->mbr->aff, &in, pg_now_ms(),
	    NULL, 0, &why) == NULL)
		return false;
	wq_remove(&svc->wq, &s->wq);
	log_info("session client=%s service=%s: a VM can take it after %llums "
	    "in the queue", s->peer_text, svc->cfg.name,
	    (unsigned long long)(pg_now_ms() - s->start_ms));
	session_connect_next(s);
	return true;
}

void
session_queue_expire(struct px_ctx *px, struct service *svc, uint64_t now)
{
	struct wq_node *n;

	while ((n = wq_pop_expired(&svc->wq, now)) != NULL) {
		struct session *s = session_of(n);
		svc->errors[ERR_NO_BACKEND]++;
		log_warn("session client=%s service=%s: no VM came up within the "
		    "queue timeout", s->peer_text, svc->cfg.name);
		session_free(s, "queue_timeout");
	}
}

/*
 * Keepalive on the VM socket of each session relayed here for a second or
 * more. Short connections (most of them, by count) end before and never
 * pay its four setsockopt calls; a VM that vanishes under an idle session
 * is still found, a second later at most. Sessions that moved to a relay
 * thread got theirs on the way.
 */
void
session_tick(struct px_ctx *px, uint64_t now)
{
	for (struct session *s = px->wk.home.sessions; s != NULL; s = s->wnext)
		if (s->wstate == W_RELAYING && !s->ka_done &&
		    now - s->connect_ms >= SESSION_KEEPALIVE_AFTER_MS) {
			px_keepalive_fd(s->bfd, s->keepalive_ms, false);
			s->ka_done = true;
		}
}

int
session_workers_start(struct px_ctx *px, size_t nthreads)
{
	return wk_pool_start(&px->wk, nthreads, px->base, px->pipes,
	    wk_end_all);
}

void
session_stop_all(struct px_ctx *px)
{
	struct session *s, *next;

	px->killing = true;   /* nothing dequeues or moves from now */
	for (s = px->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->worker == NULL)
			session_free(s, "stopped");   /* queued: ours */
	}
	/* Each worker ends its own; their ENDs come back as messages. */
	wk_pool_end_all(&px->wk);
}

void
session_workers_stop(struct px_ctx *px)
{
	session_stop_all(px);
	/* Joins the threads and runs the ENDs (and FAILEDs) they posted. */
	wk_pool_stop(&px->wk);
	if (px->sessions != NULL)
		pg_fatalx("%zu session(s) outlived their workers",
		    session_count(px));
	wk_pool_free(&px->wk);
}

size_t
session_count(const struct px_ctx *px)
{
	size_t n = 0;

	for (const struct session *s = px->sessions; s != NULL; s = s->next)
		n++;
	return n;
}

const char *
px_client_of(const struct px_ctx *px, const struct backend *b, int vm_port)
{
	for (const struct session *s = px->sessions; s != NULL && vm_port > 0;
	    s = s->next)
		if (s->backend == b && s->vm_port == vm_port)
			return s->addr;
	return NULL;
}

/* The mode as the operator reads it: an SSH relay, RDP, SSH inside TLS. */
static const char *
live_mode(const struct service *svc)
{
	return svc->cfg.mode == SVC_MODE_RDP ? "rdp" : "ssh";
}

void
px_foreach_live(const struct px_ctx *px,
    void (*fn)(const struct px_live *l, void *arg), void *arg)
{
	for (const struct session *s = px->sessions; s != NULL; s = s->next) {
		struct px_live l = { live_mode(s->svc), session_user(s), s->addr,
		    s->backend };

		fn(&l, arg);
	}
	tconn_foreach_live(px, fn, arg);
}
