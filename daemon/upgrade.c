/*
 * upgrade.c -- see upgrade.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/notify.h"
#include "daemon/server.h"
#include "daemon/sockact.h"
#include "daemon/upgmsg.h"
#include "daemon/upgrade.h"
#include "lib/log.h"
#include "backends/backend.h"
#include "proxy/httpconn.h"
#include "proxy/session.h"
#include "proxy/tlsconn.h"

#define UPG_TIMEOUT_MS 60000   /* a new process that is not READY by then is stopped */
#define UPG_GO_WAIT_MS 5000    /* the new one waits this long for GO */
#define UPG_WARM_MAX_MS 20000  /* and this long, at most, for its first checks */

static struct {
	int               argc;
	char            **argv;
	struct pg_server *srv;
	char              path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int               lfd;           /* our upgrade socket, or -1 */
	struct event     *ev_listen;
	int               cfd;           /* the connection to the other process */
	struct event     *ev_conn;
	struct event     *ev_warm;       /* new: waiting for the first checks */
	pid_t             child;         /* the new process we started, 0 */
	uint64_t          started_ms;
	int               peer;          /* the new process's pid (SO_PEERCRED) */
	bool              handed;        /* old: handed over, draining */
	bool              took;          /* new: took over; cfd leads to the old */
	bool              taking;        /* new: between receive and took_over */
} up = { .lfd = -1, .cfd = -1 };

void
upg_set_argv(int argc, char **argv)
{
	up.argc = argc;
	up.argv = argv;
}

static uint32_t
live_sessions(struct pg_server *srv)
{
	return (uint32_t)(session_count(&srv->px) + tconn_count(&srv->px) +
	    hconn_count(&srv->px));
}

static int
fill_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Stop watching *fd and close it. */
static void
close_watched(struct event **ev, int *fd)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

static void
conn_close(void)
{
	close_watched(&up.ev_conn, &up.cfd);
}

/* ---- the old process ----------------------------------------------------- */

/* The upgrade did not happen: serve on, ready for the next try. */
static void
upgrade_failed(const char *why)
{
	log_err("upgrade: the new process (pid %d) did not take over: %s; "
	    "this one (pid %d) goes on serving", up.child ? (int)up.child :
	    up.peer, why, (int)getpid());
	conn_close();
	up.peer = 0;
	if (up.lfd == -1)
		(void)upg_listen(up.srv);
}

/* Send the listeners, each with its address, in one message. */
static int
send_socks(struct pg_server *srv)
{
	int fds[UPG_MAX_SOCKS];
	uint8_t buf[UPG_MSG_LEN + UPG_MAX_SOCKS * UPG_ADDR_LEN];
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t n = 0;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;

	for (size_t i = 0; i < srv->px.nsvc; i++)
		for (size_t j = 0; j < srv->px.svc[i]->nlis && n < UPG_MAX_SOCKS; j++)
			fds[n++] = evconnlistener_get_fd(srv->px.svc[i]->lis[j]->lev);
	if (srv->admin != NULL && n < UPG_MAX_SOCKS)
		fds[n++] = admin_fd(srv->admin);
	for (size_t i = 0; i < n; i++) {
		sl = sizeof(ss);
		if (getsockname(fds[i], (struct sockaddr *)&ss, &sl) == -1 ||
		    upg_put_addr(buf + UPG_MSG_LEN + i * UPG_ADDR_LEN, &ss) == -1)
			return -1;
	}
	upg_put(buf, UPG_SOCKS, (uint32_t)n);
	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = buf;
	iov.iov_len = UPG_MSG_LEN + n * UPG_ADDR_LEN;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	}
	if (sendmsg(up.cfd, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return -1;
	log_info("upgrade: %zu listening socket(s) handed to pid %d", n, up.peer);
	return 0;
}

static void
send_msg(enum upg_type t, uint32_t v)
{
	uint8_t m[UPG_MSG_LEN];

	upg_put(m, t, v);
	/* 8 bytes on a local socket: short only when the peer is gone */
	(void)send(up.cfd, m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * The new process accepts: from here on it serves new clients. Order
 * matters: MAINPID first (systemd follows the new process before it says
 * READY=1 after GO), then stop polling the listeners. They are only closed
 * here: the new process holds the same sockets, so the kernel keeps them
 * and their queue of clients not yet accepted.
 */
static void
hand_over(struct pg_server *srv, pid_t pid)
{
	log_info("upgrade: pid %d accepts; this process (pid %d) stops accepting "
	    "and relays its %lu live session(s) until they end",
	    (int)pid, (int)getpid(), (unsigned long)live_sessions(srv));
	notify_handover((int)pid);
	up.handed = true;
	up.child = 0;          /* reaped by whoever inherits it, not waited for */
	srv_handover(srv);
	send_msg(UPG_GO, 0);
	send_msg(UPG_DRAINING, live_sessions(srv));
}

/* The old process: a message of the new one (r bytes in m, or 0/-1). */
static void
old_msg(struct pg_server *srv, const uint8_t *m, ssize_t r)
{
	enum upg_type t;
	uint32_t v;

	if (up.handed) {
		if (r <= 0) {      /* the new process is gone: nobody to report to */
			event_del(up.ev_conn);
		}
		return;
	}
	if (r == 0 && up.child != 0) {
		/* it is exiting: upg_tick() reaps it and says with what status */
		conn_close();
		(void)upg_listen(up.srv);
		return;
	}
	if (r != UPG_MSG_LEN || upg_get(m, (size_t)r, &t, &v) == -1 ||
	    t != UPG_READY) {
		upgrade_failed(r == 0 ? "it closed the connection (see its log "
		    "lines above)" : "it sent something else than READY");
		return;
	}
	hand_over(srv, (pid_t)v);
}

static void new_msg(struct pg_server *srv, const uint8_t *m, ssize_t r);

/* Both sides: one message on the connection between the two processes. */
static void
conn_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t m[UPG_MSG_LEN];
	ssize_t r = recv(fd, m, sizeof(m), MSG_DONTWAIT);

	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (up.took)
		new_msg(arg, m, r);
	else
		old_msg(arg, m, r);
}

static void
listen_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct pg_server *srv = arg;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd == -1)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == -1 ||
	    (cr.uid != geteuid() && cr.uid != 0)) {
		log_warn("upgrade: a process of another user connected; closed");
		close(fd);
		return;
	}
	if (up.cfd != -1 || srv->px.stopping) {
		log_warn("upgrade: pid %d connected while %s; closed", (int)cr.pid,
		    srv->px.stopping ? "stopping" : "another upgrade runs");
		close(fd);
		return;
	}
	up.cfd = fd;
	up.peer = (int)cr.pid;
	if (up.started_ms == 0 || up.child == 0)
		up.started_ms = pg_now_ms();
	/* The new process loads the state at its start, as after a restart. */
	srv_save_state_now(srv);
	if (send_socks(srv) == -1) {
		upgrade_failed(strerror(errno));
		return;
	}
	/* Our socket's path becomes the new process's once it is ready. */
	close_watched(&up.ev_listen, &up.lfd);
	if ((up.ev_conn = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    conn_cb, srv)) == NULL || event_add(up.ev_conn, NULL) == -1) {
		upgrade_failed("out of memory");
		return;
	}
}

int
upg_listen(struct pg_server *srv)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd = -1;

	up.srv = srv;
	if (up.lfd != -1)
		return 0;
	snprintf(up.path, sizeof(up.path), "%s/%s", srv->cfg->state_dir,
	    UPG_SOCK_NAME);
	if (fill_addr(&sun, up.path) == -1 || strlen(srv->cfg->state_dir) +
	    sizeof(UPG_SOCK_NAME) + 1 > sizeof(up.path))
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		goto fail;
	if (unlink(up.path) == -1 && errno != ENOENT)
		goto fail;
	old = umask(077);          /* the socket file is made 0600 */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (chmod(up.path, 0600) == -1 || listen(fd, 2) == -1)
		goto fail;
	if ((up.ev_listen = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    listen_cb, srv)) == NULL || event_add(up.ev_listen, NULL) == -1) {
		errno = ENOMEM;
		goto fail;
	}
	up.lfd = fd;
	return 0;
fail:
	log_err("upgrade: cannot listen on %s: %s; binary upgrades are refused",
	    up.path, strerror(errno));
	if (up.ev_listen != NULL)
		event_free(up.ev_listen);
	up.ev_listen = NULL;
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * The binary at the path this one was started from, now: after a package
 * replaced the file, /proc/self/exe reads "/usr/sbin/poolgate (deleted)"
 * and the file at /usr/sbin/poolgate is the new binary.
 */
static int
exe_path(char *buf, size_t len)
{
	static const char del[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	size_t l;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	l = (size_t)n;
	if (l > sizeof(del) - 1 && strcmp(buf + l - (sizeof(del) - 1), del) == 0)
		buf[l - (sizeof(del) - 1)] = '\0';
	return access(buf, X_OK);
}

int
upg_start(struct pg_server *srv, char *why, size_t len)
{
	char exe[4096];
	char **argv;
	int n = 0;
	pid_t pid;

	if (srv->px.stopping || up.handed) {
		snprintf(why, len, "stopping");
		return -1;
	}
	if (up.child != 0 || up.cfd != -1) {
		snprintf(why, len, "an upgrade is running (new pid %d)",
		    up.child ? (int)up.child : up.peer);
		return -1;
	}
	if (up.lfd == -1 && upg_listen(srv) == -1) {
		snprintf(why, len, "cannot listen on %s", up.path);
		return -1;
	}
	if (exe_path(exe, sizeof(exe)) == -1) {
		snprintf(why, len, "no binary to run at the path of /proc/self/exe: "
		    "%s", strerror(errno));
		return -1;
	}
	if ((argv = calloc((size_t)up.argc + 3, sizeof(*argv))) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	/* Our own arguments, without the --upgrade-from we may have had. */
	for (int i = 0; i < up.argc; i++) {
		if (i > 0 && strcmp(up.argv[i], "--upgrade-from") == 0) {
			i++;
			continue;
		}
		if (i > 0 && strncmp(up.argv[i], "--upgrade-from=", 15) == 0)
			continue;
		argv[n++] = up.argv[i];
	}
	argv[n++] = "--upgrade-from";
	argv[n++] = up.path;
	argv[n] = NULL;
	/* The watchdog is the new process's once it runs: WATCHDOG_PID absent. */
	unsetenv("WATCHDOG_PID");
	srv_save_state_now(srv);
	if ((pid = fork()) == -1) {
		snprintf(why, len, "fork: %s", strerror(errno));
		free(argv);
		return -1;
	}
	if (pid == 0) {
		execv(exe, argv);
		_exit(127);
	}
	free(argv);
	up.child = pid;
	up.started_ms = pg_now_ms();
	log_info("upgrade: started %s as pid %d", exe, (int)pid);
	return 0;
}

void
upg_tick(struct pg_server *srv)
{
	int st;
	char why[128];

	if (up.handed) {
		if (up.cfd != -1)
			send_msg(UPG_DRAINING, live_sessions(srv));
		return;
	}
	if (up.took && up.cfd != -1)
		return;            /* the connection to the old process */
	if (up.child != 0 && waitpid(up.child, &st, WNOHANG) == up.child) {
		if (WIFEXITED(st))
			snprintf(why, sizeof(why), "it exited with status %d",
			    WEXITSTATUS(st));
		else
			snprintf(why, sizeof(why), "it was killed by signal %d",
			    WTERMSIG(st));
		upgrade_failed(why);
		up.child = 0;
		up.started_ms = 0;
		return;
	}
	if ((up.child != 0 || up.cfd != -1) &&
	    pg_now_ms() - up.started_ms > UPG_TIMEOUT_MS) {
		if (up.child != 0)
			kill(up.child, SIGTERM);   /* reaped at a next tick */
		else
			upgrade_failed("not ready in time");
		up.started_ms = pg_now_ms();
	}
}

void
upg_free(void)
{
	if (up.ev_warm != NULL)
		event_free(up.ev_warm);
	up.ev_warm = NULL;
	conn_close();
	close_watched(&up.ev_listen, &up.lfd);
}

/* ---- the new process ----------------------------------------------------- */

bool
upg_taking_over(void)
{
	return up.taking;
}

int
upg_receive(const char *path)
{
	struct sockaddr_un sun;
	uint8_t buf[UPG_MSG_LEN + UPG_MAX_SOCKS * UPG_ADDR_LEN];
	char cbuf[CMSG_SPACE(UPG_MAX_SOCKS * sizeof(int))];
	struct timeval tv = { 10, 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int fd, fds[UPG_MAX_SOCKS];
	size_t nfds = 0;
	enum upg_type t;
	uint32_t n;
	ssize_t r;

	if (fill_addr(&sun, path) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_err("upgrade: %s: %s", path, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_err("upgrade: cannot connect to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	for (cm = CMSG_FIRSTHDR(&mh); r > 0 && cm != NULL;
	    cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(cm), nfds * sizeof(int));
		}
	if (r < (ssize_t)UPG_MSG_LEN || upg_get(buf, (size_t)r, &t, &n) == -1 ||
	    t != UPG_SOCKS || n != nfds || n > UPG_MAX_SOCKS ||
	    (size_t)r != UPG_MSG_LEN + n * UPG_ADDR_LEN ||
	    (mh.msg_flags & MSG_CTRUNC)) {
		log_err("upgrade: %s: no valid hand-over of listening sockets "
		    "(%s)", path, r == -1 ? strerror(errno) : "bad message");
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage want;

		if (upg_get_addr(buf + UPG_MSG_LEN + i * UPG_ADDR_LEN, &want) == -1) {
			log_warn("upgrade: socket %zu: bad address; closed", i);
			close(fds[i]);
			continue;
		}
		/* sockact matches it by the address it is bound to, as systemd's */
		(void)sa_add(fds[i], "upgrade");
	}
	log_info("upgrade: %u listening socket(s) received from %s", n, path);
	up.taking = true;
	return fd;
}

/* The new process: a message of the old one (r bytes in m, or 0/-1). */
static void
new_msg(struct pg_server *srv, const uint8_t *m, ssize_t r)
{
	enum upg_type t;
	uint32_t v;

	if (r == UPG_MSG_LEN && upg_get(m, UPG_MSG_LEN, &t, &v) == 0) {
		if (t == UPG_DRAINING)
			srv->adm.old_sessions = v;
		return;
	}
	if (srv->adm.old_pid != 0)
		log_info("upgrade: the old process (pid %d) has exited",
		    srv->adm.old_pid);
	srv->adm.old_pid = 0;
	srv->adm.old_sessions = 0;
	conn_close();
	up.took = false;
}

/*
 * Every VM's health is known: up, or failed a check. The old process keeps
 * serving meanwhile, so a user whose VM was not up in our eyes yet is not
 * sent elsewhere.
 */
static bool
pool_warm(const struct pg_server *srv)
{
	const struct pool *pool = &srv->mbr.pool;

	for (size_t i = 0; i < pool->n; i++)
		for (size_t s = 0; s < pool->be[i]->nservices; s++)
			if (!pool->be[i]->health[s].hc.up &&
			    pool->be[i]->health[s].hc.fail_run == 0)
				return false;
	return true;
}

/* READY, then GO back; false when the old process did not answer. */
static bool
say_ready(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	uint8_t m[UPG_MSG_LEN];
	enum upg_type t;
	uint32_t v;

	upg_put(m, UPG_READY, (uint32_t)getpid());
	return send(fd, m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m) &&
	    poll(&pfd, 1, UPG_GO_WAIT_MS) == 1 &&
	    recv(fd, m, sizeof(m), 0) == (ssize_t)sizeof(m) &&
	    upg_get(m, sizeof(m), &t, &v) == 0 && t == UPG_GO;
}

static void
warm_cb(evutil_socket_t unused, short what, void *arg)
{
	struct pg_server *srv = arg;
	int fl;

	if (!pool_warm(srv) && pg_now_ms() - up.started_ms < UPG_WARM_MAX_MS)
		return;
	event_free(up.ev_warm);
	up.ev_warm = NULL;
	if (!say_ready(up.cfd)) {
		/* It died meanwhile: we serve alone, which is what it wanted. */
		log_warn("upgrade: the old process (pid %d) did not confirm; "
		    "serving anyway", srv->adm.old_pid);
		srv->adm.old_pid = 0;
		conn_close();
	} else {
		log_info("upgrade: took over from pid %d", srv->adm.old_pid);
		if ((fl = fcntl(up.cfd, F_GETFL)) != -1)
			(void)fcntl(up.cfd, F_SETFL, fl | O_NONBLOCK);
		if ((up.ev_conn = event_new(srv->base, up.cfd, EV_READ |
		    EV_PERSIST, conn_cb, srv)) == NULL ||
		    event_add(up.ev_conn, NULL) == -1)
			conn_close();      /* only /status's upgraded_from is lost */
	}
	srv->warming = false;
	srv_set_accepting(srv, true);
	(void)upg_listen(srv);
	/* after the old process gave systemd our pid: READY=1 is ours */
	if (notify_start(srv) == -1) {
		log_err("out of memory");
		event_base_loopexit(srv->base, NULL);
	}
}

int
upg_took_over(struct pg_server *srv, int fd)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct timeval tv = { 0, 100000 };

	up.srv = srv;
	up.cfd = fd;
	up.took = true;
	up.taking = false;
	up.started_ms = pg_now_ms();
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
		srv->adm.old_pid = (int)cr.pid;
	/*
	 * Not accepting until our checks know the VMs (pool_warm): the old
	 * process accepts meanwhile, from the same sockets.
	 */
	srv->warming = true;
	srv_set_accepting(srv, false);
	if ((up.ev_warm = event_new(srv->base, -1, EV_PERSIST, warm_cb,
	    srv)) == NULL || event_add(up.ev_warm, &tv) == -1)
		return -1;
	return 0;
}
