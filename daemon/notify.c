/*
 * notify.c -- see notify.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backends/backend.h"
#include "daemon/notify.h"
#include "daemon/server.h"
#include "lib/sdnotify.h"
#include "proxy/httpconn.h"
#include "proxy/session.h"

#define STATUS_EVERY_S 5    /* STATUS= refreshed at most this often */

static struct {
	struct pg_server *srv;
	struct event     *ev_watchdog;
	struct event     *ev_status;
	char              last[256];     /* the STATUS= last sent (cut) */
	bool              off;           /* handed over: the unit is another's */
} nt;

/* "2/3 VMs up, 5 sessions, 2 HTTP connections" */
static void
status_text(struct pg_server *srv, char *buf, size_t len)
{
	const struct pool *pool = &srv->mbr.pool;
	size_t up = 0;

	for (size_t i = 0; i < pool->n; i++)
		for (size_t s = 0; s < srv->px.nsvc; s++)
			if (be_takes_new(pool->be[i], s)) {
				up++;
				break;
			}
	snprintf(buf, len, "%zu/%zu VMs up, %zu sessions, %zu HTTP connections",
	    up, pool->n, session_count(&srv->px), hconn_count(&srv->px));
}

static void
send_state(const char *head, const char *status)
{
	char msg[sizeof(nt.last) + 32];

	if (nt.off)
		return;
	snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", head, head[0] ? "\n" : "",
	    status);
	(void)sd_notify_text(msg);
	if (status != nt.last) {
		strncpy(nt.last, status, sizeof(nt.last) - 1);
		nt.last[sizeof(nt.last) - 1] = '\0';
	}
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!nt.off)
		(void)sd_notify_text("WATCHDOG=1");
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	char st[256];

	if (nt.srv == NULL || nt.srv->px.stopping)
		return;
	status_text(nt.srv, st, sizeof(st));
	if (strcmp(st, nt.last) != 0)
		send_state("", st);
}

int
notify_start(struct pg_server *srv)
{
	unsigned long long wd = sd_watchdog_usec();
	struct timeval tv = { STATUS_EVERY_S, 0 };
	char st[256];

	nt.srv = srv;
	if (wd > 0) {
		struct timeval wtv;

		wd /= 3;
		wtv.tv_sec = (time_t)(wd / 1000000);
		wtv.tv_usec = (suseconds_t)(wd % 1000000);
		if ((nt.ev_watchdog = event_new(srv->base, -1, EV_PERSIST,
		    watchdog_cb, NULL)) == NULL)
			return -1;
		evtimer_add(nt.ev_watchdog, &wtv);
	}
	if ((nt.ev_status = event_new(srv->base, -1, EV_PERSIST, status_cb,
	    NULL)) == NULL)
		return -1;
	evtimer_add(nt.ev_status, &tv);
	status_text(srv, st, sizeof(st));
	send_state("READY=1", st);
	if (wd > 0)
		(void)sd_notify_text("WATCHDOG=1");
	return 0;
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	/* systemd matches MONOTONIC_USEC against its own clock (v253+) */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ull +
	    (unsigned long long)ts.tv_nsec / 1000ull);
	(void)sd_notify_text(msg);
}

void
notify_reloaded(struct pg_server *srv, bool ok)
{
	char st[160], line[256];

	status_text(srv, st, sizeof(st));
	if (ok)
		send_state("READY=1", st);
	else {
		snprintf(line, sizeof(line), "reload refused, the running "
		    "configuration stays (see the log); %s", st);
		send_state("READY=1", line);
	}
}

void
notify_stopping(struct pg_server *srv)
{
	char st[128];

	snprintf(st, sizeof(st), "stopping: %zu sessions, %zu HTTP connections "
	    "left", session_count(&srv->px), hconn_count(&srv->px));
	send_state("STOPPING=1", st);
}

void
notify_handover(int pid)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "MAINPID=%d\nSTATUS=upgraded: pid %d serves",
	    pid, pid);
	(void)sd_notify_text(msg);
	nt.off = true;
}

void
notify_free(void)
{
	if (nt.ev_watchdog != NULL)
		event_free(nt.ev_watchdog);
	if (nt.ev_status != NULL)
		event_free(nt.ev_status);
	memset(&nt, 0, sizeof(nt));
}
