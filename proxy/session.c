/*
 * session.c -- see session.h.
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

#include "backends/check.h"
#include "backends/route.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/splice.h"

struct session {
	struct session     *prev, *next;   /* srv->sessions */
	struct pg_server   *srv;
	struct service     *svc;            /* referenced */
	struct sockaddr_storage peer;
	char                peer_text[INET6_ADDRSTRLEN + 8]; /* addr:port */
	char                addr[INET6_ADDRSTRLEN];          /* client address */
	char                key[AFF_KEY_MAX + 1];            /* "" = no affinity */
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
	struct event        tmo;            /* the connect timeout */
	bool                ev_set, cev_set;
	bool                client_fin;     /* the client sent FIN before the relay */
	struct splicer     *sp;             /* &spl once relaying, else NULL */
	struct splicer      spl;
	struct backend     *backend;        /* picked VM, counted while set */
	struct backend     *tried[SESSION_MAX_TRIES];
	int                 ntried;
	struct wq_node      wq;             /* waiting in svc->wq for a VM; first
	                                       member access via container_of */
	uint64_t            start_ms;
	uint64_t            start_wall_ms;
	int                 port;           /* client port */
	uint64_t            connect_ms;     /* start of the current connect */
};

static void session_connect_next(struct session *s);

#define SESSION_EV (EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST)

#define session_of(node) \
	((struct session *)((char *)(node) - offsetof(struct session, wq)))

static void
set_nodelay(int fd)
{
	int one = 1;

	/* SSH is interactive: never hold a keystroke back for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Stop watching the VM socket (and its connect timeout). */
static void
session_drop_connect_event(struct session *s)
{
	if (s->ev_set) {
		event_del(&s->ev);
		evtimer_del(&s->tmo);
		s->ev_set = false;
	}
}

static void
session_drop_connect(struct session *s)
{
	session_drop_connect_event(s);
	if (s->bfd >= 0) {
		close(s->bfd);
		s->bfd = -1;
	}
}

/* Undo the counting done when s->backend was picked. */
static void
session_uncount(struct session *s)
{
	struct backend *b = s->backend;

	if (b == NULL)
		return;
	if (b->sessions <= 0)
		pg_fatalx("session count of %s went negative", b->name);
	b->sessions--;
	pool_touch(&s->srv->pool, b);
	if (s->key[0] != '\0') {
		aff_session_end(s->srv->aff, s->key, b->name, pg_now_ms());
		s->srv->aff_dirty = true;
	}
	s->backend = NULL;
}

static void
session_free(struct session *s, const char *why)
{
	struct pg_server *srv = s->srv;
	uint64_t now = pg_now_ms();

	if (s->sp != NULL || why != NULL) {
		char start[32];
		pg_format_time(s->start_wall_ms, start, sizeof(start));
		struct pg_kv kv[] = {
			KV_S("service", s->svc->cfg.name),
			KV_S("client", s->addr),
			KV_N("client_port", s->port),
			KV_S("user", "-"),   /* SSH is end-to-end encrypted */
			KV_S("vm", s->backend != NULL ? s->backend->name : "-"),
			KV_S("start", start),
			KV_N("duration_ms", now - s->start_ms),
			KV_N("bytes_up", s->sp ? splice_bytes_up(s->sp) : 0),
			KV_N("bytes_down", s->sp ? splice_bytes_down(s->sp) : 0),
			KV_S("reason", why != NULL ? why : "closed"),
		};
		pg_log_event(PG_LOG_INFO, "session_end", kv, sizeof(kv) / sizeof(kv[0]));
	}
	wq_remove(&s->svc->wq, &s->wq);
	if (s->sp != NULL) {
		uint64_t up = splice_bytes_up(s->sp), down = splice_bytes_down(s->sp);
		s->svc->bytes_up += up;
		s->svc->bytes_down += down;
		if (s->backend != NULL) {
			s->backend->bytes_up += up;
			s->backend->bytes_down += down;
		}
		splice_release(s->sp);
	}
	session_drop_connect(s);
	if (s->cev_set)
		event_del(&s->cev);
	if (s->cfd >= 0)
		close(s->cfd);
	session_uncount(s);
	lim_release(srv->lim, (struct sockaddr *)&s->peer);
	srv->nconns--;
	s->svc->active--;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	svc_unref(s->svc);
	free(s);
	srv_session_gone(srv);
}

static void
session_splice_done(struct splicer *sp, enum relay_end why, void *arg)
{
	struct session *s = arg;

	session_free(s, relay_end_name(why));
}

/* what: the event on the VM socket that ended the connect. */
static void
session_established(struct session *s, short what)
{
	evtimer_del(&s->tmo);
	/*
	 * Nothing was read from the client while we connected: what it sent
	 * (an SSH client's banner) waits in the kernel and goes out now. The
	 * client socket has keepalive and TCP_NODELAY from the listener.
	 */
	splice_init(&s->spl, s->srv->base, s->srv->pipes, s->cfd, s->bfd,
	    s->svc->cfg.idle_timeout_ms, session_splice_done, s);
	s->sp = &s->spl;
	/* Edges seen already: the VM may have sent its FIN with its banner. */
	splice_note(s->sp, 1, what);
	if (s->client_fin)
		splice_note(s->sp, 0, EV_CLOSED);
	s->backend->connections++;
	log_debug("session start service=%s client=%s vm=%s tries=%d",
	    s->svc->cfg.name, s->peer_text, s->backend->name, s->ntried);
}

/*
 * An event on the VM socket: relayed, or the connect's end (writable, or
 * an error), or the connect timeout (fd -1, EV_TIMEOUT).
 */
static void
session_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct backend *b = s->backend;
	uint64_t now = pg_now_ms();
	socklen_t len = sizeof(int);
	char err[128];
	int soerr = 0;
	bool timeout = (what & EV_TIMEOUT) != 0;

	if (s->sp != NULL) {
		splice_io(s->sp, 1, what);
		return;
	}
	if (!timeout && !(what & (EV_WRITE | EV_CLOSED)))
		return;   /* not done yet */
	if (!timeout && getsockopt(s->bfd, SOL_SOCKET, SO_ERROR, &soerr,
	    &len) == 0 && soerr == 0) {
		session_established(s, what);
		return;
	}
	/* Nothing was relayed yet: count it against the VM and move on. */
	snprintf(err, sizeof(err), "%s", timeout ? "connect timeout" :
	    strerror(soerr));
	log_warn("session client=%s: connect to %s (%s) failed: %s",
	    s->peer_text, b->name, b->addr.text, err);
	s->svc->errors[timeout ? ERR_CONNECT_TIMEOUT : ERR_CONNECT_FAILED]++;
	if (s->svc->idx >= 0) {
		const struct cfg_check *cc = &s->svc->cfg.check;
		chk_record(b, (size_t)s->svc->idx, s->svc->cfg.name, cc->rise,
		    cc->fall, false, err, now - s->connect_ms, now);
	}
	session_drop_connect(s);
	session_uncount(s);
	session_connect_next(s);
}

/*
 * The client closed while we connect or while it waits in the queue. A
 * client that half-closed after sending bytes is kept: its bytes and its
 * EOF go to the VM once connected.
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
	session_free(s, s->wq.queued ? "left_queue" : "client_closed");
}

static void
session_connect_next(struct session *s)
{
	struct pg_server *srv = s->srv;
	struct service *svc = s->svc;
	struct sockaddr_storage ss;
	struct backend *b;
	struct route_in in = { 0 };
	enum route_why why;
	uint64_t now = pg_now_ms();
	struct timeval tv;

	/* An SSH login follows the one Jupyter user active from its address. */
	in.sole_user_backend = us_sole_user_backend(srv->us, s->addr, now);
	in.ip_key = s->key[0] != '\0' ? s->key : NULL;
	for (;;) {
		if (svc->idx < 0 || s->ntried >= SESSION_MAX_TRIES ||
		    (b = srv_pick(srv, (size_t)svc->idx, &in, s->tried,
		    (size_t)s->ntried, &why)) == NULL) {
			enum conn_err e = s->ntried == 0 ? ERR_NO_BACKEND :
			    ERR_CONNECT_FAILED;
			if (e == ERR_NO_BACKEND && svc->idx >= 0) {
				srv_no_capacity(srv, svc);
				/*
				 * Hold it (sending nothing, so the SSH client
				 * just waits) until a VM can take it.
				 */
				if (svc->cfg.queue.enabled &&
				    wq_push(&svc->wq, &s->wq, now) == 0) {
					log_info("session client=%s service=%s: no VM "
					    "can take it; waiting (%zu in queue)",
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
			session_free(s, NULL);
			return;
		}
		s->tried[s->ntried++] = b;
		s->backend = b;
		b->sessions++;
		pool_touch(&srv->pool, b);
		if (s->key[0] != '\0') {
			if (aff_session_start(srv->aff, s->key, b->name, now) == -1)
				log_warn("affinity table full: %s not remembered",
				    s->key);
			srv->aff_dirty = true;
		}
		log_debug("session client=%s -> %s (%s)", s->peer_text, b->name,
		    route_why_name(why));

		memcpy(&ss, &b->addr.ss, sizeof(ss));
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)svc->cfg.port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)svc->cfg.port);

		s->connect_ms = now;
		if ((s->bfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) != -1) {
			srv_set_keepalive(srv, s->bfd);
			set_nodelay(s->bfd);
		}
		if (s->bfd != -1 &&
		    (connect(s->bfd, (struct sockaddr *)&ss, b->addr.len) == 0 ||
		    errno == EINPROGRESS)) {
			tv.tv_sec = (time_t)(svc->cfg.connect_timeout_ms / 1000);
			tv.tv_usec = (suseconds_t)
			    (svc->cfg.connect_timeout_ms % 1000) * 1000;
			event_assign(&s->ev, srv->base, s->bfd, SESSION_EV,
			    session_connect_cb, s);
			if (event_add(&s->ev, NULL) == 0) {
				s->ev_set = true;
				evtimer_add(&s->tmo, &tv);
				return;   /* session_connect_cb takes it from here */
			}
			errno = ENOMEM;
		}
		int err = errno;
		session_drop_connect(s);
		session_uncount(s);
		if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
		    err == ENOMEM) {
			/* Our shortage, not the VM's: no other VM would do better. */
			svc->errors[ERR_RESOURCES]++;
			log_warn("session client=%s: cannot connect: %s",
			    s->peer_text, strerror(err));
			session_free(s, "resources");
			return;
		}
		log_warn("session client=%s: connect to %s failed at once: %s",
		    s->peer_text, b->name, strerror(err));
		svc->errors[ERR_CONNECT_FAILED]++;
	}
}

void
session_accept(struct pg_server *srv, struct service *svc, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct session *s;
	char *addr = NULL;
	int port;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("service %s: out of memory accepting a connection",
		    svc->cfg.name);
		svc->errors[ERR_RESOURCES]++;
		lim_release(srv->lim, sa);
		srv->nconns--;
		close(fd);
		return;
	}
	s->cfd = s->bfd = -1;
	s->srv = srv;
	s->svc = svc;
	svc->refcnt++;
	svc->active++;
	svc->connections_total++;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	s->start_ms = pg_now_ms();
	s->start_wall_ms = pg_wall_ms();
	addr = s->addr;
	srv_format_peer(sa, addr, sizeof(s->addr), &port);
	s->port = port;
	snprintf(s->peer_text, sizeof(s->peer_text),
	    strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
	if (svc->cfg.by_client_ip)
		snprintf(s->key, sizeof(s->key), "ip:%s", addr);
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;

	s->cfd = fd;
	s->bfd = -1;
	/*
	 * Read nothing until the VM is connected (the kernel keeps what the
	 * client sent); only notice a client that leaves meanwhile.
	 */
	evtimer_assign(&s->tmo, srv->base, session_connect_cb, s);
	event_assign(&s->cev, srv->base, fd, SESSION_EV, session_client_cb, s);
	if (event_add(&s->cev, NULL) == 0)
		s->cev_set = true;
	session_connect_next(s);
}

bool
session_dequeue(struct pg_server *srv, struct service *svc)
{
	struct session *s;
	struct route_in in = { 0 };
	enum route_why why;

	if (svc->wq.head == NULL || svc->idx < 0)
		return false;
	s = session_of(svc->wq.head);
	in.ip_key = s->key[0] != '\0' ? s->key : NULL;
	/* Only leave the queue when a VM can take it, or it would lose its turn. */
	if (route_pick(&srv->pool, (size_t)svc->idx, srv->aff, &in, pg_now_ms(),
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
session_queue_expire(struct pg_server *srv, struct service *svc, uint64_t now)
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

void
session_stop_all(struct pg_server *srv)
{
	struct session *s, *next;

	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->sp != NULL)
			splice_stop(s->sp);       /* frees s through the done callback */
		else
			session_free(s, "stopped");
	}
}

size_t
session_count(const struct pg_server *srv)
{
	size_t n = 0;

	for (const struct session *s = srv->sessions; s != NULL; s = s->next)
		n++;
	return n;
}
